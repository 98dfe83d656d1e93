//! Batch normalization for f32 `[N, C, ...]` tensors: inference, training forward (batch
//! statistics) and its backward pass, each as one or two direct passes over the data.
//!
//! Why: burn-backend's defaults compute the statistics by swapping the batch and channel axes
//! (a full transposing copy of the activations, twice in the backward pass) and then apply
//! five to ten separate elementwise operations, each allocating and sweeping the whole
//! tensor; on a CNN with batch norm after every convolution that cost as much as the
//! convolutions. Here a channel's values are its `N` contiguous planes, so the statistics are
//! read in place (one parallel task per channel) and the outputs written plane by plane.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_std::{Bytes, Shape};

use super::reduce::sum_f32_contiguous;
use crate::{FlexTensor, Layout};

/// Whether the tensors take this path: all f32, `x` at least `[N, C]`, per-channel vectors of
/// length `C`.
pub(crate) fn supported(x: &FlexTensor, per_channel: &[&FlexTensor]) -> bool {
    let shape = x.layout().shape();
    x.dtype() == DType::F32
        && shape.num_dims() >= 2
        && per_channel.iter().all(|t| t.dtype() == DType::F32 && t.layout().shape().num_elements() == shape[1])
}

/// `[N, C, rest…]` → (N, C, elements per plane).
fn dims(x: &FlexTensor) -> (usize, usize, usize) {
    let shape = x.layout().shape();
    let (n, c) = (shape[0], shape[1]);
    let plane = if n * c == 0 { 0 } else { shape.num_elements() / (n * c) };
    (n, c, plane)
}

fn values(t: &FlexTensor) -> Vec<f32> {
    t.to_contiguous().storage::<f32>().to_vec()
}

fn f32_tensor(data: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(shape), DType::F32)
}

/// Σ f(a[i], b[i]) over a plane (`a` and `b` of one length) in 16 independent lanes (more
/// accurate than one running sum over tens of thousands of values), accumulated in f64 across
/// planes by the callers; plain sums use `reduce::sum_f32_contiguous`. Whole arrays of 16, so
/// no bounds check stops it vectorising: with an index closure it compiled to scalar adds
/// through the stack, 6.5 % of a training step of the default model.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let ((a16, a_rest), (b16, b_rest)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let mut lanes = [0.0f32; 16];
    for (x, y) in a16.iter().zip(b16) {
        for k in 0..16 {
            lanes[k] += f(x[k], y[k]);
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(&x, &y)| f(x, y)).sum();
    lanes.iter().sum::<f32>() + rest
}

/// `f(c)` for every channel, in parallel when rayon is on.
fn per_channel<T: Send>(c: usize, f: impl Fn(usize) -> T + Send + Sync) -> Vec<T> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..c).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..c).map(f).collect()
    }
}

/// A new `len`-long buffer whose planes `g(plane index, offset, plane)` fills completely, in
/// parallel when rayon is on (no zero-filling pass first: `g` writes every element).
fn per_plane(len: usize, plane: usize, g: impl Fn(usize, usize, &mut [MaybeUninit<f32>]) + Send + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    if plane > 0 {
        let dst = &mut out.spare_capacity_mut()[..len];
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            dst.par_chunks_mut(plane).enumerate().with_min_len(4).for_each(|(i, o)| g(i, i * plane, o));
        }
        #[cfg(not(feature = "rayon"))]
        for (i, o) in dst.chunks_mut(plane).enumerate() {
            g(i, i * plane, o);
        }
        // SAFETY: `len` is a whole number of planes and `g` wrote each one in full.
        unsafe { out.set_len(len) };
    }
    out
}

/// Mean and biased variance of every channel (two passes: the variance around the mean, as
/// the default path computes it).
fn statistics(xd: &[f32], n: usize, c: usize, plane: usize) -> (Vec<f32>, Vec<f32>) {
    let count = (n * plane).max(1) as f64;
    let stats = per_channel(c, |ch| {
        let planes = || (0..n).map(move |s| &xd[(s * c + ch) * plane..][..plane]);
        let mean = (planes().map(|p| sum_f32_contiguous(p) as f64).sum::<f64>() / count) as f32;
        let var = planes()
            .map(|p| {
                lane_sum(p, p, |x, _| {
                    let d = x - mean;
                    d * d
                }) as f64
            })
            .sum::<f64>()
            / count;
        (mean, var as f32)
    });
    stats.into_iter().unzip()
}

/// `y = (x − mean) · gamma / √(var + ε) + beta`, per channel.
fn normalize(xd: &[f32], c: usize, plane: usize, gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], epsilon: f64) -> Vec<f32> {
    // y = x · scale + shift
    let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] / ((var[ch] as f64 + epsilon).sqrt() as f32)).collect();
    let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    per_plane(xd.len(), plane, |i, at, o| {
        let (a, b) = (scale[i % c], shift[i % c]);
        for (y, x) in o.iter_mut().zip(&xd[at..at + plane]) {
            y.write(x * a + b);
        }
    })
}

/// Inference: normalize with the given statistics.
pub(crate) fn batch_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, mean: FlexTensor, variance: FlexTensor, epsilon: f64) -> FlexTensor {
    let x = x.to_contiguous();
    let (_, c, plane) = dims(&x);
    let out = normalize(x.storage(), c, plane, &values(&gamma), &values(&beta), &values(&mean), &values(&variance), epsilon);
    f32_tensor(out, x.layout().shape().clone())
}

/// Training forward: (output, batch mean, biased batch variance).
pub(crate) fn batch_norm_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
    let x = x.to_contiguous();
    let (n, c, plane) = dims(&x);
    let xd: &[f32] = x.storage();
    let (mean, var) = statistics(xd, n, c, plane);
    let out = normalize(xd, c, plane, &values(&gamma), &values(&beta), &mean, &var, epsilon);
    (f32_tensor(out, x.layout().shape().clone()), f32_tensor(mean, Shape::from(vec![c])), f32_tensor(var, Shape::from(vec![c])))
}

/// Training backward: (input gradient, gamma gradient, beta gradient), with
/// `x̂ = (x − mean) / √(var + ε)`, `M = N · plane`:
///
/// ```text
///   dbeta  = Σ dy            dgamma = Σ dy · x̂
///   dx     = gamma / √(var + ε) · (dy − dbeta / M − x̂ · dgamma / M)
/// ```
pub(crate) fn batch_norm_train_backward(x: FlexTensor, gamma: FlexTensor, mean: FlexTensor, variance: FlexTensor, epsilon: f64, output_grad: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (x, dy) = (x.to_contiguous(), output_grad.to_contiguous());
    let (n, c, plane) = dims(&x);
    let (xd, dyd): (&[f32], &[f32]) = (x.storage(), dy.storage());
    let (gamma, mean, var) = (values(&gamma), values(&mean), values(&variance));
    let inv_std: Vec<f32> = var.iter().map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32).collect();
    let sums = per_channel(c, |ch| {
        let (m, s) = (mean[ch], inv_std[ch]);
        let (mut dbeta, mut dgamma) = (0.0f64, 0.0f64);
        for smp in 0..n {
            let at = (smp * c + ch) * plane;
            let (xp, gp) = (&xd[at..at + plane], &dyd[at..at + plane]);
            dbeta += sum_f32_contiguous(gp) as f64;
            dgamma += lane_sum(gp, xp, |g, x| g * (x - m) * s) as f64;
        }
        (dbeta as f32, dgamma as f32)
    });
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let count = (n * plane).max(1) as f32;
    let dx = per_plane(xd.len(), plane, |i, at, o| {
        let ch = i % c;
        let (m, s, k) = (mean[ch], inv_std[ch], gamma[ch] * inv_std[ch]);
        let (mean_dy, mean_dyx) = (dbeta[ch] / count, dgamma[ch] / count);
        for ((d, &g), &xv) in o.iter_mut().zip(&dyd[at..at + plane]).zip(&xd[at..at + plane]) {
            d.write(k * (g - mean_dy - (xv - m) * s * mean_dyx));
        }
    });
    (f32_tensor(dx, x.layout().shape().clone()), f32_tensor(dgamma, Shape::from(vec![c])), f32_tensor(dbeta, Shape::from(vec![c])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(v: Vec<f32>, shape: &[usize]) -> FlexTensor {
        f32_tensor(v, Shape::from(shape.to_vec()))
    }

    fn close(a: &FlexTensor, b: &FlexTensor) {
        assert_eq!(a.layout().shape(), b.layout().shape());
        let (a, b) = (values(a), values(b));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 2e-4 * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| (((i * 7919 + seed * 613) % 1013) as f32 / 101.3) - 3.0 + (i % 3) as f32).collect()
    }

    /// The definitions, in f64 on plain slices.
    fn reference_forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, eps: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (n, c, plane) = dims(x);
        let (xv, g, b) = (values(x), values(gamma), values(beta));
        let count = (n * plane) as f64;
        let mut mean = vec![0.0f64; c];
        for (i, &v) in xv.iter().enumerate() {
            mean[(i / plane) % c] += v as f64 / count;
        }
        let mut var = vec![0.0f64; c];
        for (i, &v) in xv.iter().enumerate() {
            let ch = (i / plane) % c;
            var[ch] += (v as f64 - mean[ch]).powi(2) / count;
        }
        let out: Vec<f32> = xv
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = (i / plane) % c;
                ((v as f64 - mean[ch]) / (var[ch] + eps).sqrt() * g[ch] as f64 + b[ch] as f64) as f32
            })
            .collect();
        let f = |v: Vec<f64>| tensor(v.iter().map(|&v| v as f32).collect(), &[c]);
        (f32_tensor(out, x.layout().shape().clone()), f(mean), f(var))
    }

    #[test]
    fn matches_the_definitions() {
        for shape in [vec![4, 3, 5, 7], vec![2, 5, 33], vec![3, 4], vec![1, 2, 1, 1]] {
            let c = shape[1];
            let len: usize = shape.iter().product();
            let x = tensor(data(len, 1), &shape);
            let gamma = tensor(data(c, 2), &[c]);
            let beta = tensor(data(c, 3), &[c]);
            let dy = tensor(data(len, 4), &shape);
            let eps = 1e-5;

            let (out, mean, var) = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), eps);
            let reference = reference_forward(&x, &gamma, &beta, eps);
            close(&mean, &reference.1);
            close(&var, &reference.2);
            close(&out, &reference.0);

            let (dx, dgamma, dbeta) = batch_norm_train_backward(x.clone(), gamma.clone(), mean.clone(), var.clone(), eps, dy.clone());
            let reference = default_backward(x.clone(), gamma.clone(), mean.clone(), var.clone(), eps, dy);
            close(&dx, &reference.0);
            close(&dgamma, &reference.1);
            close(&dbeta, &reference.2);

            let inference = batch_norm(x.clone(), gamma.clone(), beta.clone(), mean.clone(), var.clone(), eps);
            close(&inference, &out);
        }
    }

    /// The backward pass by its definition, in f64.
    fn default_backward(x: FlexTensor, gamma: FlexTensor, mean: FlexTensor, var: FlexTensor, eps: f64, dy: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (n, c, plane) = dims(&x);
        let (xv, g, m, v, d) = (values(&x), values(&gamma), values(&mean), values(&var), values(&dy));
        let count = (n * plane) as f64;
        let mut dgamma = vec![0.0f64; c];
        let mut dbeta = vec![0.0f64; c];
        for i in 0..xv.len() {
            let ch = (i / plane) % c;
            let xhat = (xv[i] as f64 - m[ch] as f64) / (v[ch] as f64 + eps).sqrt();
            dbeta[ch] += d[i] as f64;
            dgamma[ch] += d[i] as f64 * xhat;
        }
        let dx: Vec<f32> = (0..xv.len())
            .map(|i| {
                let ch = (i / plane) % c;
                let inv = 1.0 / (v[ch] as f64 + eps).sqrt();
                let xhat = (xv[i] as f64 - m[ch] as f64) * inv;
                (g[ch] as f64 * inv * (d[i] as f64 - dbeta[ch] / count - xhat * dgamma[ch] / count)) as f32
            })
            .collect();
        let shape = x.layout().shape().clone();
        (f32_tensor(dx, shape), tensor(dgamma.iter().map(|&v| v as f32).collect(), &[c]), tensor(dbeta.iter().map(|&v| v as f32).collect(), &[c]))
    }
}

/// Speed of training-mode batch norm on the default model's layers (batch 32):
/// `cargo test --release --lib -- --ignored --nocapture batch_norm_speed`.
#[cfg(test)]
mod speed {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn batch_norm_speed() {
        for (c, s) in [(24, 48), (48, 24), (96, 12), (192, 6)] {
            let n = 32;
            let len = n * c * s * s;
            let x = f32_tensor((0..len).map(|i| ((i * 7919) % 1013) as f32 / 101.3).collect(), Shape::from(vec![n, c, s, s]));
            let dy = f32_tensor((0..len).map(|i| ((i * 613) % 1009) as f32 / 504.5 - 1.0).collect(), Shape::from(vec![n, c, s, s]));
            let per = |v: f32| f32_tensor(vec![v; c], Shape::from(vec![c]));
            let (_, mean, var) = batch_norm_train(x.clone(), per(1.0), per(0.0), 1e-5);
            let runs = 50;
            let t = Instant::now();
            for _ in 0..runs {
                drop(batch_norm_train(x.clone(), per(1.0), per(0.0), 1e-5));
            }
            let fwd = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
            let t = Instant::now();
            for _ in 0..runs {
                drop(batch_norm_train_backward(x.clone(), per(1.0), mean.clone(), var.clone(), 1e-5, dy.clone()));
            }
            let bwd = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
            std::println!("batch norm [{n}, {c}, {s}, {s}]: forward {fwd:.3} ms, backward {bwd:.3} ms");
        }
    }
}
