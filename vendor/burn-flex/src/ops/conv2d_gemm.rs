//! 2D convolution for f32, groups = 1, as one GEMM per sample over an NCHW column matrix,
//! for the forward pass and both backward passes.
//!
//! Why: the generic backward passes lower the weight gradient to a convolution whose kernel is
//! the whole output gradient (batch and channels swapped) and the input gradient to a
//! transposed convolution; on small CNNs both spend most of their time in layout copies and
//! skinny GEMMs. Here each sample's column matrix `col[(ci, ky, kx), (oy, ox)]` is built from
//! contiguous rows of the NCHW input (Caffe's formulation), so every product is one
//! well-shaped GEMM and nothing changes layout:
//!
//! ```text
//!   forward:  Y_n   = W · col_n            [Co, P] = [Co, K] · [K, P]
//!   weight:   dWᵀ  += col_n · dY_nᵀ        [K, Co] = [K, P] · [P, Co]
//!   input:    dcol  = Wᵀ · dY_n; col2im    [K, P]  = [K, Co] · [Co, P]
//! ```
//! (K = Ci·KH·KW, P = OH·OW). Samples are spread over the rayon pool; a GEMM uses the pool
//! itself only when there are fewer samples than threads (batch-1 inference).

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape};

use super::conv2d_direct::scratch;
use super::conv2d_fused::Finish;
use super::reduce::sum_f32_contiguous;
use crate::{FlexTensor, Layout};

/// Sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], options: &ConvOptions<2>, out: Option<[usize; 2]>) -> Self {
        let pad = options.padding_begin();
        let (stride, dilation) = (options.stride, options.dilation);
        let [oh, ow] = out.unwrap_or_else(|| {
            // Works for asymmetric padding too: total padding per side pair.
            let size = |i: usize, k: usize| {
                let (b, e) = options.padding[i];
                (x[2 + i] + b + e - dilation[i] * (k - 1) - 1) / stride[i] + 1
            };
            [size(0, w[2]), size(1, w[3])]
        });
        Geometry { batch: x[0], c_in: x[1], h: x[2], w: x[3], c_out: w[0], kh: w[2], kw: w[3], oh, ow, stride, pad, dilation }
    }

    /// Rows of the column matrix.
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output pixels per channel (columns of the column matrix).
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    fn plane_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    /// A 1×1, stride-1, unpadded convolution: the input plane is its own column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0] && self.oh == self.h && self.ow == self.w
    }

    /// For kernel column `kx`, the output columns whose input column lies inside the image,
    /// and the input column of the first one (the next ones follow every `stride[1]` columns).
    fn valid_columns(&self, kx: usize) -> (usize, usize, isize) {
        let shift = (kx * self.dilation[1]) as isize - self.pad[1] as isize;
        let s = self.stride[1] as isize;
        // ox·s + shift ∈ [0, w): from ⌈−shift / s⌉ to ⌈(w − shift) / s⌉ (exclusive).
        let first = ((-shift).max(0) + s - 1) / s;
        let last = (((self.w as isize - shift).max(0) + s - 1) / s).min(self.ow as isize);
        let (first, last) = (first as usize, last.max(0) as usize);
        // An empty run (the kernel column reaches past the image: padding only) starts at 0, so
        // that `src[ix0..ix0]` stays inside the row.
        if first < last { (first, last, first as isize * s + shift) } else { (last, last, 0) }
    }

    /// The input row of output row `oy` for kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize - self.pad[0] as isize;
        (0..self.h as isize).contains(&iy).then_some(iy as usize)
    }

    fn input_col(&self, ox: usize, kx: usize) -> Option<usize> {
        let ix = (ox * self.stride[1] + kx * self.dilation[1]) as isize - self.pad[1] as isize;
        (0..self.w as isize).contains(&ix).then_some(ix as usize)
    }
}

/// Whether this convolution takes the GEMM path.
pub(crate) fn supported(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    x.dtype() == DType::F32 && weight.dtype() == DType::F32 && options.groups == 1
}

/// Fill `col` (K × P) with the patches of one sample `x` (Ci × H × W).
fn im2col(x: &[f32], g: &Geometry, col: &mut [f32]) {
    let p = g.p();
    for ci in 0..g.c_in {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &mut col[((ci * g.kh + ky) * g.kw + kx) * p..][..p];
                let (first, last, ix0) = g.valid_columns(kx);
                for oy in 0..g.oh {
                    let dst = &mut row[oy * g.ow..(oy + 1) * g.ow];
                    let Some(iy) = g.input_row(oy, ky) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &plane[iy * g.w + ix0 as usize..(iy + 1) * g.w];
                    dst[..first].fill(0.0);
                    if g.stride[1] == 1 {
                        dst[first..last].copy_from_slice(&src[..last - first]);
                    } else {
                        // The stem convolutions (stride 2): a strided copy.
                        for (d, &v) in dst[first..last].iter_mut().zip(src.iter().step_by(g.stride[1])) {
                            *d = v;
                        }
                    }
                    dst[last..].fill(0.0);
                }
            }
        }
    }
}

/// Add the column matrix `col` (K × P) back onto one sample's input gradient `dx` (Ci × H × W).
fn col2im(col: &[f32], g: &Geometry, dx: &mut [f32]) {
    let p = g.p();
    for ci in 0..g.c_in {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &col[((ci * g.kh + ky) * g.kw + kx) * p..][..p];
                let (first, last, ix0) = g.valid_columns(kx);
                for oy in 0..g.oh {
                    let Some(iy) = g.input_row(oy, ky) else { continue };
                    let src = &row[oy * g.ow..(oy + 1) * g.ow];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride[1] == 1 {
                        let dst = &mut dst[ix0 as usize..ix0 as usize + (last - first)];
                        for (d, s) in dst.iter_mut().zip(&src[first..last]) {
                            *d += s;
                        }
                    } else {
                        for (ox, s) in src.iter().enumerate() {
                            if let Some(ix) = g.input_col(ox, kx) {
                                dst[ix] += s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A row-major matrix operand: pointer plus row and column strides (in elements).
#[derive(Clone, Copy)]
struct Operand {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    fn rows(m: &[f32], cols: usize) -> Self {
        Operand { ptr: m.as_ptr(), row_stride: cols as isize, col_stride: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    fn transposed(m: &[f32], cols: usize) -> Self {
        Operand { ptr: m.as_ptr(), row_stride: 1, col_stride: cols as isize }
    }
}

/// `dst (m × n, row-major) = [dst +] lhs (m × k) · rhs (k × n)`.
///
/// # Safety
/// The operands must point to matrices of the stated sizes and strides; `dst` must hold m·n
/// elements and not overlap them.
unsafe fn sgemm(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: Operand, rhs: Operand, parallelism: gemm::Parallelism) {
    // SAFETY: a `&mut [f32]` viewed as possibly uninitialised floats; only floats are written.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    unsafe { sgemm_strided(m, n, k, dst, (n as isize, 1), accumulate, lhs, rhs, parallelism) }
}

/// [`sgemm`] with `dst` given by (row stride, column stride).
///
/// # Safety
/// As [`sgemm`]; every (row, column) of `dst` must lie in the slice, and `dst` must be
/// initialised when `accumulate` is set (without it every element is written, never read).
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_strided(m: usize, n: usize, k: usize, dst: &mut [MaybeUninit<f32>], dst_strides: (isize, isize), accumulate: bool, lhs: Operand, rhs: Operand, parallelism: gemm::Parallelism) {
    debug_assert!(dst.len() >= m * n);
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            dst_strides.1,
            dst_strides.0,
            accumulate,
            lhs.ptr,
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr,
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Threads for each GEMM: the whole pool when there are too few samples to spread, else one.
fn gemm_parallelism(samples: usize) -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    if samples < rayon::current_num_threads() {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = samples;
    gemm::Parallelism::None
}

/// A column-matrix scratch of `len` floats, kept per thread between calls
/// (`conv2d_direct::scratch`). Every user writes all of it before reading it (im2col, or a
/// GEMM without accumulation), so a kept buffer is not zeroed again: zeroing a fresh one on
/// every call (2.8 MB for the palm detector's 5 × 5 stem) was ~1 % of the hand networks' time.
struct Col(Vec<f32>);

impl Col {
    /// The scratch cache's key for column matrices (`take` also matches the length; the direct
    /// kernels' roles are small numbers).
    const KEY: [usize; 10] = [usize::MAX, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    fn new(len: usize) -> Col {
        // 1×1 layers need none.
        Col(if len == 0 { Vec::new() } else { scratch::take(Col::KEY, len) })
    }
}

impl Drop for Col {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            scratch::give(Col::KEY, core::mem::take(&mut self.0));
        }
    }
}

/// Run `f(sample, output chunk, scratch)` for every `chunk`-sized piece of `out`, in parallel
/// when rayon is on, with a `scratch`-float column matrix whose contents are left from earlier
/// calls. `out` holds floats, or not-yet-written ones (`MaybeUninit<f32>`: the forward output,
/// which the GEMM writes without reading).
fn for_each_sample<T: Send>(out: &mut [T], chunk: usize, scratch: usize, f: impl Fn(usize, &mut [T], &mut [f32]) + Send + Sync) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk).enumerate().for_each_init(|| Col::new(scratch), |col, (s, o)| f(s, o, &mut col.0));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut col = Col::new(scratch);
        for (s, o) in out.chunks_mut(chunk).enumerate() {
            f(s, o, &mut col.0);
        }
    }
}

/// A contiguous f32 tensor of `shape` over `data` (the convolution paths' outputs).
pub(super) fn f32_tensor(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::from(shape)), DType::F32)
}

/// Whether this is a 1×1, stride-1, unpadded convolution, whose forward pass is one GEMM
/// straight on the input (no im2col copy; the GEMM still packs its operands). On the hand
/// networks' 1×1 layers at 48², 56², 96² and 112² the direct kernels ran at ~0.6–0.7× the
/// GEMM's rate (its 16 × 6 microkernel keeps 12 accumulators to their 8), so the forward pass
/// comes here (palm detector 13.7 → 13.3 ms on one thread, `cargo bench --bench hand`).
pub(crate) fn pointwise(weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let ws = weight.layout().shape();
    ws.num_dims() == 4 && ws[2] == 1 && ws[3] == 1 && options.stride == [1, 1] && options.padding == [(0, 0), (0, 0)]
}

/// The forward pass's output shape `[N, Co, OH, OW]`.
pub(crate) fn output_shape(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Vec<usize> {
    let g = Geometry::new(x.layout().shape(), weight.layout().shape(), options, None);
    vec![g.batch, g.c_out, g.oh, g.ow]
}

/// Forward: `[N, Ci, H, W] ⊛ [Co, Ci, KH, KW] (+ bias) → [N, Co, OH, OW]`.
pub(crate) fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: &ConvOptions<2>) -> FlexTensor {
    conv2d_finished(x, weight, bias, options, &Finish::Bias)
}

/// [`conv2d`], with `finish` applied to each output plane after its GEMM (the bias, and the
/// element-wise step after the convolution: `conv2d_fused`).
pub(crate) fn conv2d_finished(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: &ConvOptions<2>, finish: &Finish) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let g = Geometry::new(x.layout().shape(), weight.layout().shape(), options, None);
    let (xd, wd): (&[f32], &[f32]) = (x.storage(), weight.storage());
    let (k, p) = (g.k(), g.p());
    let bias = bias.map(|b| b.to_contiguous());
    let b: Option<&[f32]> = bias.as_ref().map(|b| b.storage());
    let len = g.batch * g.c_out * p;
    // Not zero-filled: the GEMM below writes every output (`accumulate` off) before the bias
    // reads it; zeroing first cost ~1 % of the hand networks' time, as memset.
    let mut out: Vec<f32> = Vec::with_capacity(len);
    if len > 0 {
        let par = gemm_parallelism(g.batch);
        let pointwise = g.is_pointwise();
        let scratch = if pointwise { 0 } else { k * p };
        let sample = |s: usize, y: &mut [MaybeUninit<f32>], col: &mut [f32]| {
            let xs = &xd[s * g.plane_in()..(s + 1) * g.plane_in()];
            let col: &[f32] = if pointwise {
                xs
            } else {
                im2col(xs, &g, col);
                col
            };
            // Computed as Yᵀ (P×Co) = colᵀ · Wᵀ, written through strides straight into Y
            // (Co×P): a long M and a short N suit the GEMM kernel better (5–10 % faster on
            // the layers of `speed` below).
            // SAFETY: colᵀ is P×K, Wᵀ is K×Co, y holds Co×P, disjoint.
            unsafe { sgemm_strided(p, g.c_out, k, y, (1, p as isize), false, Operand::transposed(col, p), Operand::transposed(wd, k), par) };
            // SAFETY: the GEMM wrote all of `y`.
            let y = unsafe { &mut *(y as *mut [MaybeUninit<f32>] as *mut [f32]) };
            // The bias and what follows it, one pass over each output plane.
            for (c, plane) in y.chunks_exact_mut(p).enumerate() {
                finish.plane(plane, b.map(|b| b[c]), c, (s * g.c_out + c) * p);
            }
        };
        for_each_sample(&mut out.spare_capacity_mut()[..len], g.c_out * p, scratch, sample);
        // SAFETY: every sample's outputs were written above.
        unsafe { out.set_len(len) };
    }
    f32_tensor(out, vec![g.batch, g.c_out, g.oh, g.ow])
}

/// Gradient of the weight: `Σ_n col_n · dY_nᵀ` (= dWᵀ; that orientation ran 1.5–2× faster
/// than `dY_n · col_nᵀ` on small layers), one partial sum per chunk of samples.
pub(crate) fn conv2d_weight_backward(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let (x, dy) = (x.to_contiguous(), output_grad.to_contiguous());
    let w_shape = weight.layout().shape().to_vec();
    let dy_shape = dy.layout().shape();
    let g = Geometry::new(x.layout().shape(), &w_shape, options, Some([dy_shape[2], dy_shape[3]]));
    let (xd, dyd): (&[f32], &[f32]) = (x.storage(), dy.storage());
    let (k, p) = (g.k(), g.p());
    let size = g.c_out * k;
    #[cfg(feature = "rayon")]
    let chunks = rayon::current_num_threads().min(g.batch).max(1);
    #[cfg(not(feature = "rayon"))]
    let chunks = 1;
    let per_chunk = g.batch.div_ceil(chunks);
    let par = gemm_parallelism(chunks.min(g.batch));
    let mut partials = vec![0.0f32; chunks * size];
    if p > 0 {
        for_each_sample(&mut partials, size, k * p, |c, dw, col| {
            for s in c * per_chunk..((c + 1) * per_chunk).min(g.batch) {
                im2col(&xd[s * g.plane_in()..(s + 1) * g.plane_in()], &g, col);
                let dys = &dyd[s * g.c_out * p..(s + 1) * g.c_out * p];
                // SAFETY: col is K×P, dY_nᵀ is P×Co, dw holds dWᵀ (K×Co), disjoint.
                unsafe { sgemm(k, g.c_out, p, dw, true, Operand::rows(col, p), Operand::transposed(dys, p), par) };
            }
        });
    }
    let (first, rest) = partials.split_at_mut(size);
    for part in rest.chunks(size) {
        first.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    // dWᵀ (K×Co) → dW (Co×K).
    let dw: Vec<f32> = (0..size).map(|i| partials[(i % k) * g.c_out + i / k]).collect();
    f32_tensor(dw, w_shape)
}

/// Gradient of the input: `col2im(Wᵀ · dY_n)` per sample.
pub(crate) fn conv2d_x_backward(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let (weight, dy) = (weight.to_contiguous(), output_grad.to_contiguous());
    let x_shape = x.layout().shape().to_vec();
    let dy_shape = dy.layout().shape();
    let g = Geometry::new(&x_shape, weight.layout().shape(), options, Some([dy_shape[2], dy_shape[3]]));
    let (wd, dyd): (&[f32], &[f32]) = (weight.storage(), dy.storage());
    let (k, p) = (g.k(), g.p());
    let mut dx = vec![0.0f32; g.batch * g.plane_in()];
    if p > 0 && g.plane_in() > 0 {
        let par = gemm_parallelism(g.batch);
        for_each_sample(&mut dx, g.plane_in(), k * p, |s, dxs, dcol| {
            let dys = &dyd[s * g.c_out * p..(s + 1) * g.c_out * p];
            // SAFETY: Wᵀ is K×Co, dY_n is Co×P, dcol is K×P, disjoint.
            unsafe { sgemm(k, p, g.c_out, dcol, false, Operand::transposed(wd, k), Operand::rows(dys, p), par) };
            col2im(dcol, &g, dxs);
        });
    }
    f32_tensor(dx, x_shape)
}


/// Gradient of the bias: the output gradient summed over samples and pixels, per channel.
/// (The generic lowering swaps batch and channels first, which copies the whole gradient.)
pub(crate) fn conv2d_bias_backward(output_grad: FlexTensor, bias_shape: Vec<usize>) -> FlexTensor {
    let dy = output_grad.to_contiguous();
    let shape = dy.layout().shape();
    let (batch, c_out, p) = (shape[0], shape[1], shape[2] * shape[3]);
    let dyd: &[f32] = dy.storage();
    let channel = |c: usize| -> f32 { (0..batch).map(|n| sum_f32_contiguous(&dyd[(n * c_out + c) * p..][..p])).sum() };
    #[cfg(feature = "rayon")]
    let db: Vec<f32> = {
        use rayon::prelude::*;
        (0..c_out).into_par_iter().map(channel).collect()
    };
    #[cfg(not(feature = "rayon"))]
    let db: Vec<f32> = (0..c_out).map(channel).collect();
    f32_tensor(db, bias_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct definition of the convolution, for reference.
    fn naive(x: &[f32], w: &[f32], g: &Geometry) -> Vec<f32> {
        let mut y = vec![0.0; g.batch * g.c_out * g.p()];
        for n in 0..g.batch {
            for co in 0..g.c_out {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = 0.0;
                        for ci in 0..g.c_in {
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    if let (Some(iy), Some(ix)) = (g.input_row(oy, ky), g.input_col(ox, kx)) {
                                        acc += x[((n * g.c_in + ci) * g.h + iy) * g.w + ix] * w[((co * g.c_in + ci) * g.kh + ky) * g.kw + kx];
                                    }
                                }
                            }
                        }
                        y[((n * g.c_out + co) * g.oh + oy) * g.ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n).map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-3 * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    /// Forward against the definition, and both gradients against the definition's
    /// derivatives (⟨dY, conv(x + e_i)⟩ is linear in x and w, so a dot-product test is exact).
    fn check(x_shape: [usize; 4], w_shape: [usize; 4], options: ConvOptions<2>) {
        let xv = values(x_shape.iter().product(), 1);
        let wv = values(w_shape.iter().product(), 2);
        let x = f32_tensor(xv.clone(), x_shape.to_vec());
        let w = f32_tensor(wv.clone(), w_shape.to_vec());
        let y = conv2d(x.clone(), w.clone(), None, &options);
        let ys = y.layout().shape().to_vec();
        let g = Geometry::new(&x_shape, &w_shape, &options, Some([ys[2], ys[3]]));
        close(y.storage::<f32>(), &naive(&xv, &wv, &g));
        let bv = values(w_shape[0], 4);
        let yb = conv2d(x.clone(), w.clone(), Some(f32_tensor(bv.clone(), vec![w_shape[0]])), &options);
        let yb_ref: Vec<f32> = naive(&xv, &wv, &g).iter().enumerate().map(|(i, v)| v + bv[(i / g.p()) % g.c_out]).collect();
        close(yb.storage::<f32>(), &yb_ref);

        let dyv = values(ys.iter().product(), 3);
        let dy = f32_tensor(dyv.clone(), ys.clone());
        let dw = conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), &options);
        let dx = conv2d_x_backward(x, w, dy, &options);
        // ⟨dY, conv(x, e_j)⟩ = dW_j and ⟨dY, conv(e_i, w)⟩ = dX_i.
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
        let dw_ref: Vec<f32> = (0..wv.len())
            .map(|j| {
                let mut e = vec![0.0; wv.len()];
                e[j] = 1.0;
                dot(&dyv, &naive(&xv, &e, &g))
            })
            .collect();
        close(dw.storage::<f32>(), &dw_ref);
        let dx_ref: Vec<f32> = (0..xv.len())
            .map(|i| {
                let mut e = vec![0.0; xv.len()];
                e[i] = 1.0;
                dot(&dyv, &naive(&e, &wv, &g))
            })
            .collect();
        close(dx.storage::<f32>(), &dx_ref);
        let db = conv2d_bias_backward(f32_tensor(dyv.clone(), ys.clone()), vec![ys[1]]);
        let db_ref: Vec<f32> = (0..ys[1]).map(|c| dyv.chunks(ys[2] * ys[3]).skip(c).step_by(ys[1]).flatten().sum()).collect();
        close(db.storage::<f32>(), &db_ref);
    }

    #[test]
    fn same_padding_3x3() {
        check([2, 3, 6, 5], [4, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    }

    #[test]
    fn valid_stride_dilation_pointwise() {
        check([3, 2, 7, 8], [3, 2, 3, 3], ConvOptions::new([2, 1], [0, 0], [1, 1], 1));
        check([1, 2, 9, 9], [2, 2, 3, 2], ConvOptions::new([2, 3], [1, 2], [2, 1], 1));
        check([2, 4, 5, 5], [3, 4, 1, 1], ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        check([2, 2, 6, 7], [2, 2, 3, 3], ConvOptions::new_with_padding([1, 2], [(0, 2), (1, 0)], [1, 1], 1));
    }

    /// Kernel columns that reach past a one-pixel-wide image into the end padding alone (their
    /// run of valid output columns is empty) used to slice past the row.
    #[test]
    fn kernel_columns_over_padding_only() {
        check([1, 2, 3, 1], [2, 2, 3, 3], ConvOptions::new_with_padding([1, 1], [(1, 1), (0, 2)], [1, 1], 1));
        check([2, 1, 4, 2], [1, 1, 2, 4], ConvOptions::new_with_padding([1, 1], [(0, 0), (0, 3)], [1, 1], 1));
    }

    /// The column matrix by its definition, one output column at a time (`input_col`; what
    /// `im2col` did for strides above 1 before they got a strided copy).
    pub(super) fn im2col_by_definition(x: &[f32], g: &Geometry, col: &mut [f32]) {
        for ci in 0..g.c_in {
            let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let row = &mut col[((ci * g.kh + ky) * g.kw + kx) * g.p()..][..g.p()];
                    for oy in 0..g.oh {
                        let dst = &mut row[oy * g.ow..(oy + 1) * g.ow];
                        let Some(iy) = g.input_row(oy, ky) else {
                            dst.fill(0.0);
                            continue;
                        };
                        let src = &plane[iy * g.w..(iy + 1) * g.w];
                        for (ox, d) in dst.iter_mut().enumerate() {
                            *d = g.input_col(ox, kx).map_or(0.0, |ix| src[ix]);
                        }
                    }
                }
            }
        }
    }

    /// [`im2col`] against its definition over every small geometry: widths, kernel widths,
    /// strides, dilations and paddings on both sides, the runs of valid columns that are empty,
    /// begin at the edge or reach past the image included.
    #[test]
    fn column_matrix_matches_its_definition() {
        for w in 1..=7 {
            for kw in 1..=4 {
                for stride in 1..=3 {
                    for dilation in 1..=2 {
                        for (pb, pe) in [(0, 0), (1, 0), (0, 2), (2, 1), (3, 3)] {
                            if w + pb + pe < dilation * (kw - 1) + 1 {
                                continue;
                            }
                            let options = ConvOptions::new_with_padding([1, stride], [(1, 0), (pb, pe)], [1, dilation], 1);
                            let g = Geometry::new(&[1, 2, 3, w], &[1, 2, 2, kw], &options, None);
                            let x = values(g.plane_in(), 5);
                            let (mut got, mut want) = (vec![f32::NAN; g.k() * g.p()], vec![f32::NAN; g.k() * g.p()]);
                            im2col(&x, &g, &mut got);
                            im2col_by_definition(&x, &g, &mut want);
                            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                            assert_eq!(bits(&got), bits(&want), "w {w} kw {kw} stride {stride} dilation {dilation} pad ({pb}, {pe})");
                        }
                    }
                }
            }
        }
    }

    /// The column matrix is kept per thread and not cleared: NaNs left by one call must not
    /// reach the next call's results (forward, and both backward passes on the same thread).
    #[test]
    fn column_matrix_left_by_an_earlier_call_is_written_over() {
        let (xs, ws, options) = ([2, 3, 6, 5], [4, 3, 3, 3], ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        let run = || {
            let nan = f32_tensor(vec![f32::NAN; xs.iter().product()], xs.to_vec());
            drop(conv2d(nan, f32_tensor(values(ws.iter().product(), 2), ws.to_vec()), None, &options));
            check(xs, ws, options.clone());
        };
        #[cfg(feature = "rayon")]
        rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool").install(run);
        #[cfg(not(feature = "rayon"))]
        run();
    }
}

/// Speed of the three passes on the layers of a small CNN (batch 32), for tuning:
/// `cargo test --release --lib -- --ignored --nocapture conv2d_gemm_speed`.
#[cfg(test)]
pub(super) mod speed {
    use super::*;
    use std::time::Instant;

    /// Median of 15 timed calls of `f` (after one warm-up), in ms: the speed tests' timer.
    pub(in crate::ops) fn median_ms(mut f: impl FnMut()) -> f64 {
        f();
        let mut t: Vec<f64> = (0..15)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }

    /// The column matrix of the hand networks' stride-2 stems (palm detector 5 × 5 on 192²,
    /// landmark model 3 × 3 on 224²), built by `im2col` and by its per-element definition,
    /// alternated median by median: `cargo test --release --lib -- --ignored --nocapture
    /// im2col_stem_speed`.
    #[test]
    #[ignore]
    fn im2col_stem_speed() {
        use super::tests::im2col_by_definition;
        for (name, k, side, pad) in [("palm 5x5/2", 5, 192, (1, 2)), ("landmarks 3x3/2", 3, 224, (0, 1))] {
            let options = ConvOptions::new_with_padding([2, 2], [pad, pad], [1, 1], 1);
            let g = Geometry::new(&[1, 3, side, side], &[16, 3, k, k], &options, None);
            let x = vec![0.5f32; g.plane_in()];
            let mut col = vec![0.0f32; g.k() * g.p()];
            let (mut strided, mut by_element) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                strided.push(median_ms(|| im2col(&x, &g, &mut col)));
                by_element.push(median_ms(|| im2col_by_definition(&x, &g, &mut col)));
            }
            strided.sort_by(f64::total_cmp);
            by_element.sort_by(f64::total_cmp);
            std::println!("{name}: im2col {:.3} ms, per element {:.3} ms (medians of 5 alternated medians)", strided[2], by_element[2]);
        }
    }

    #[test]
    #[ignore]
    fn conv2d_gemm_speed() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for (ci, co, s) in [(3, 16, 64), (16, 32, 32), (32, 64, 16)] {
            let n = 32;
            let x = f32_tensor(vec![0.5; n * ci * s * s], vec![n, ci, s, s]);
            let w = f32_tensor(vec![0.1; co * ci * 9], vec![co, ci, 3, 3]);
            let dy = f32_tensor(vec![0.2; n * co * s * s], vec![n, co, s, s]);
            let gflop = 2.0 * (n * co * ci * 9 * s * s) as f64 / 1e9;
            let fwd = median_ms(|| drop(conv2d(x.clone(), w.clone(), None, &options)));
            let wgrad = median_ms(|| drop(conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), &options)));
            let xgrad = median_ms(|| drop(conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options)));
            let bias = median_ms(|| drop(conv2d_bias_backward(dy.clone(), vec![co])));
            std::println!(
                "{ci:>2}->{co:<2} {s}px: forward {fwd:.2} ms ({:.0} GFLOP/s), weight grad {wgrad:.2} ms ({:.0}), input grad {xgrad:.2} ms ({:.0}), bias grad {bias:.2} ms",
                gflop / fwd * 1e3,
                gflop / wgrad * 1e3,
                gflop / xgrad * 1e3
            );
        }
    }
}
