//! 2×2 max pooling with stride 2 (the usual CNN down-sampling) for f32, with and without
//! indices, and its backward pass.
//!
//! Why: the general path goes through a 3D pooling kernel that recomputes window bounds for
//! every output element; for the 2×2/stride-2 case the window is always two aligned pairs of
//! two input rows, which this reads directly. Same results as the general path: the first
//! maximum in row-major window order wins, a NaN wins (the last NaN, as PyTorch), indices are
//! flat positions within the input plane (`ih * width + iw`).

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_std::{Bytes, Shape};

use crate::{FlexTensor, Layout};

/// An index type of the pooling indices: burn asks for the backend's int dtype (i32 or i64)
/// and writing it directly saves a cast of the whole index tensor.
pub(crate) trait PoolIndex: burn_std::Element + bytemuck::Pod + Default + Send + Sync + 'static {
    const DTYPE: DType;
    fn from_flat(i: usize) -> Self;
    fn flat(self) -> usize;
}

impl PoolIndex for i64 {
    const DTYPE: DType = DType::I64;
    #[inline(always)]
    fn from_flat(i: usize) -> Self {
        i as i64
    }
    #[inline(always)]
    fn flat(self) -> usize {
        self as usize
    }
}

impl PoolIndex for i32 {
    const DTYPE: DType = DType::I32;
    #[inline(always)]
    fn from_flat(i: usize) -> Self {
        i as i32
    }
    #[inline(always)]
    fn flat(self) -> usize {
        self as usize
    }
}

/// Whether a pooling call takes this path.
pub(crate) fn supported(x: &FlexTensor, kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], ceil_mode: bool) -> bool {
    let shape = x.layout().shape();
    x.dtype() == DType::F32
        && shape.num_dims() == 4
        && kernel == [2, 2]
        && stride == [2, 2]
        && padding == [0, 0]
        && dilation == [1, 1]
        // ceil_mode only matters for odd sizes (a last, partial window).
        && (!ceil_mode || (shape[2] % 2 == 0 && shape[3] % 2 == 0))
}

/// Max and its position (0..4, row-major in the window) of one 2×2 window.
///
/// Branch-free: which of the four wins is data-dependent and unpredictable, and mispredicted
/// branches made this loop cost more than the convolution before it.
#[inline(always)]
fn window_max(v: [f32; 4]) -> (f32, usize) {
    // Second of a pair wins if strictly greater, or NaN (so the last NaN wins).
    #[inline(always)]
    fn pick(a: (f32, usize), b: (f32, usize)) -> (f32, usize) {
        let take = b.0 > a.0 || b.0.is_nan();
        let (bits, index) = ((take as u32).wrapping_neg(), (take as usize).wrapping_neg());
        (f32::from_bits((b.0.to_bits() & bits) | (a.0.to_bits() & !bits)), (b.1 & index) | (a.1 & !index))
    }
    pick(pick((v[0], 0), (v[1], 1)), pick((v[2], 2), (v[3], 3)))
}

/// One output row from two input rows (`rows` = both, `w` wide). Windows are read in
/// row-major order (a b / c d) as the maximum of the top pair, then of the bottom pair, then
/// of the two: the same winner as a sequential scan, in a loop without bounds checks or
/// branches that the compiler vectorises. `ix` = (indices out, flat index of `rows[0]`).
#[inline(always)]
fn pool_row<I: PoolIndex>(rows: &[f32], w: usize, out: &mut [MaybeUninit<f32>], ix: Option<(&mut [MaybeUninit<I>], usize)>) {
    let (top, bottom) = rows.split_at(w);
    let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
    match ix {
        Some((ix, base)) => {
            for (ox, ((o, i), (t, b))) in out.iter_mut().zip(ix.iter_mut()).zip(pairs).enumerate() {
                let (m, at) = window_max([t[0], t[1], b[0], b[1]]);
                o.write(m);
                i.write(I::from_flat(base + (at >> 1) * w + 2 * ox + (at & 1)));
            }
        }
        None => {
            for (o, (t, b)) in out.iter_mut().zip(pairs) {
                o.write(window_max([t[0], t[1], b[0], b[1]]).0);
            }
        }
    }
}

/// `[N, C, H, W] → [N, C, H/2, W/2]`, plus flat input indices of the maxima (as `I`) when
/// asked.
pub(crate) fn forward<I: PoolIndex>(x: FlexTensor, with_indices: bool) -> (FlexTensor, Option<FlexTensor>) {
    let x = x.to_contiguous();
    let shape = x.layout().shape().to_vec();
    let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
    let (oh, ow) = (h / 2, w / 2);
    let xd: &[f32] = x.storage();
    // Written in full below, in parallel: no zero-filling pass first.
    let len = planes * oh * ow;
    let mut out_buf: Vec<f32> = Vec::with_capacity(len);
    let mut idx_buf: Vec<I> = Vec::with_capacity(if with_indices { len } else { 0 });
    let out = &mut out_buf.spare_capacity_mut()[..len];
    let idx = &mut idx_buf.spare_capacity_mut()[..if with_indices { len } else { 0 }];
    let plane_out = oh * ow;
    let pool_plane = |p: usize, o: &mut [MaybeUninit<f32>], ix: Option<&mut [MaybeUninit<I>]>| {
        let src = &xd[p * h * w..(p + 1) * h * w];
        match ix {
            Some(ix) => {
                for (oy, (o, ix)) in o.chunks_exact_mut(ow.max(1)).zip(ix.chunks_exact_mut(ow.max(1))).enumerate() {
                    pool_row(&src[2 * oy * w..][..2 * w], w, o, Some((ix, 2 * oy * w)));
                }
            }
            None => {
                for (oy, o) in o.chunks_exact_mut(ow.max(1)).enumerate() {
                    pool_row::<I>(&src[2 * oy * w..][..2 * w], w, o, None);
                }
            }
        }
    };
    if plane_out > 0 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            if with_indices {
                out.par_chunks_mut(plane_out).zip(idx.par_chunks_mut(plane_out)).enumerate().with_min_len(4).for_each(|(p, (o, ix))| pool_plane(p, o, Some(ix)));
            } else {
                out.par_chunks_mut(plane_out).enumerate().with_min_len(4).for_each(|(p, o)| pool_plane(p, o, None));
            }
        }
        #[cfg(not(feature = "rayon"))]
        {
            if with_indices {
                for (p, (o, ix)) in out.chunks_mut(plane_out).zip(idx.chunks_mut(plane_out)).enumerate() {
                    pool_plane(p, o, Some(ix));
                }
            } else {
                for (p, o) in out.chunks_mut(plane_out).enumerate() {
                    pool_plane(p, o, None);
                }
            }
        }
    }
    // SAFETY: every plane's every output (and index) was written by `pool_row`.
    unsafe {
        out_buf.set_len(len);
        if with_indices {
            idx_buf.set_len(len);
        }
    }
    let (out, idx) = (out_buf, idx_buf);
    let out_shape = vec![shape[0], shape[1], oh, ow];
    let indices = with_indices.then(|| FlexTensor::new(Bytes::from_elems(idx), Layout::contiguous(Shape::from(out_shape.clone())), I::DTYPE));
    (FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(Shape::from(out_shape)), DType::F32), indices)
}

/// Gradient of the input: each output gradient goes to its window's maximum, zeros elsewhere.
/// Every input position is written once, window by window (the windows tile the plane, plus a
/// last row or column of zeros for odd sizes): no zero-filling pass and no scatter.
/// `grad` must be f32 and `indices` `I`, as [`forward`] makes them.
pub(crate) fn backward<I: PoolIndex>(x: &FlexTensor, grad: FlexTensor, indices: FlexTensor) -> FlexTensor {
    let (grad, indices) = (grad.to_contiguous(), indices.to_contiguous());
    let shape = x.layout().shape().to_vec();
    let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
    let (oh, ow) = (h / 2, w / 2);
    let plane_out = oh * ow;
    let (gd, id): (&[f32], &[I]) = (grad.storage(), indices.storage());
    let len = planes * h * w;
    let mut dx_buf: Vec<f32> = Vec::with_capacity(len);
    let dx = &mut dx_buf.spare_capacity_mut()[..len];
    let plane = |p: usize, dst: &mut [MaybeUninit<f32>]| {
        let (g, ix) = (&gd[p * plane_out..(p + 1) * plane_out], &id[p * plane_out..(p + 1) * plane_out]);
        for oy in 0..oh {
            let (top, bottom) = dst[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
            let base = 2 * oy * w;
            let (gs, is) = (&g[oy * ow..(oy + 1) * ow], &ix[oy * ow..(oy + 1) * ow]);
            let (top_pairs, bottom_pairs) = (&mut top[..2 * ow], &mut bottom[..2 * ow]);
            // Slices of exactly `ow` / `2 ow` values (no bounds checks left), and masks instead
            // of `if`s: where the maximum sits is random, and some binaries compiled the `if`s
            // as jumps (2.4× the time of this mask form in a training profile).
            for ox in 0..ow {
                // Position of the maximum within the window: 0, 1 (top), w, w + 1 (bottom).
                let d = (is[ox].flat() as u32).wrapping_sub((base + 2 * ox) as u32);
                let g = gs[ox].to_bits();
                let at = |pos: usize| f32::from_bits(g & ((d == pos as u32) as u32).wrapping_neg());
                top_pairs[2 * ox].write(at(0));
                top_pairs[2 * ox + 1].write(at(1));
                bottom_pairs[2 * ox].write(at(w));
                bottom_pairs[2 * ox + 1].write(at(w + 1));
            }
            if w % 2 == 1 {
                top[w - 1].write(0.0);
                bottom[w - 1].write(0.0);
            }
        }
        for v in &mut dst[2 * oh * w..] {
            v.write(0.0);
        }
    };
    if h * w > 0 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            dx.par_chunks_mut(h * w).enumerate().with_min_len(4).for_each(|(p, d)| plane(p, d));
        }
        #[cfg(not(feature = "rayon"))]
        for (p, d) in dx.chunks_mut(h * w).enumerate() {
            plane(p, d);
        }
    }
    // SAFETY: every plane's every position was written above (windows, odd column, odd row).
    unsafe { dx_buf.set_len(len) };
    FlexTensor::new(Bytes::from_elems(dx_buf), Layout::contiguous(Shape::from(shape)), DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_general_pooling() {
        matches_the_general_pooling_with::<i64>();
        matches_the_general_pooling_with::<i32>();
    }

    fn matches_the_general_pooling_with<I: PoolIndex>() {
        // Ties, NaN and odd sizes (height, width, both) included.
        for (n, c, h, w) in [(2, 3, 7, 6), (1, 2, 6, 5), (2, 1, 5, 7)] {
            matches_the_general_pooling_on::<I>(n, c, h, w);
        }
    }

    fn matches_the_general_pooling_on<I: PoolIndex>(n: usize, c: usize, h: usize, w: usize) {
        let mut v: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 37) % 11) as f32).collect();
        v[5] = f32::NAN;
        let x = FlexTensor::new(Bytes::from_elems(v), Layout::contiguous(Shape::from(vec![n, c, h, w])), DType::F32);
        let (fast, fast_idx) = forward::<I>(x.clone(), true);
        let (slow, slow_idx) = crate::ops::pool::max_pool2d_with_indices_f32(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
        assert_eq!(fast.layout().shape(), slow.layout().shape());
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
        assert!(same(fast.storage::<f32>(), slow.to_contiguous().storage::<f32>()));
        let fast_idx = fast_idx.unwrap();
        assert_eq!(fast_idx.dtype(), I::DTYPE);
        let flat = |t: &FlexTensor| -> Vec<usize> {
            match t.dtype() {
                DType::I32 => t.to_contiguous().storage::<i32>().iter().map(|&i| i as usize).collect(),
                _ => t.to_contiguous().storage::<i64>().iter().map(|&i| i as usize).collect(),
            }
        };
        assert_eq!(flat(&fast_idx), flat(&slow_idx));
        let g: Vec<f32> = (0..fast.layout().shape().num_elements()).map(|i| i as f32).collect();
        let grad = FlexTensor::new(Bytes::from_elems(g), Layout::contiguous(fast.layout().shape().clone()), DType::F32);
        let fast_dx = backward::<I>(&x, grad.clone(), fast_idx.clone());
        let slow_dx = crate::ops::pool::max_pool2d_backward_f32(x, grad, slow_idx);
        assert_eq!(fast_dx.storage::<f32>(), slow_dx.to_contiguous().storage::<f32>());
    }
}

/// `cargo test --release --lib -- --ignored --nocapture max_pool2x2_speed`
#[cfg(test)]
mod speed {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn max_pool2x2_speed() {
        let (n, c, s) = (32, 16, 64);
        // Pseudo-random values: where each window's maximum sits must be unpredictable, as in
        // real activations (a regular pattern lets branchy code look fast).
        let v: Vec<f32> = (0..n * c * s * s).map(|i: usize| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32).collect();
        let x = FlexTensor::new(Bytes::from_elems(v), Layout::contiguous(Shape::from(vec![n, c, s, s])), DType::F32);
        for with_indices in [false, true] {
            let t = Instant::now();
            for _ in 0..20 {
                drop(forward::<i32>(x.clone(), with_indices));
            }
            std::println!("2x2 max pool of [32, 16, 64, 64], indices {with_indices}: {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / 20.0);
        }
        let (out, idx) = forward::<i32>(x.clone(), true);
        let (idx, grad) = (idx.unwrap(), out);
        let t = Instant::now();
        for _ in 0..200 {
            drop(backward::<i32>(&x, grad.clone(), idx.clone()));
        }
        std::println!("its backward: {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / 200.0);
    }
}
