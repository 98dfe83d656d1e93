//! Stride-1, dilation-1 2D convolution for f32 (groups = 1, symmetric padding smaller than the
//! kernel: the usual 3×3 "same" layer) as direct AVX2/FMA kernels, for the forward pass and
//! both backward passes.
//!
//! Why: the GEMM path (`conv2d_gemm`) first writes a column matrix K times the size of the
//! input, the GEMM then packs it once more, and the input gradient goes back through col2im; at
//! the small channel counts of a CNN on a CPU those copies cost about as much as the
//! arithmetic. Here each input channel is copied once into a zero-padded plane, flattened row
//! by row with the padded width `wp`. In the same flattened coordinates `q = oy·wp + ox` the
//! output is a sum of shifted views of those planes:
//!
//! ```text
//!   y[co][q] = Σ_ci Σ_(ky,kx) w[co][ci][ky][kx] · xp[ci][q + ky·wp + kx]
//! ```
//!
//! (the columns ox ≥ ow of each row are computed and dropped). Every tap is one contiguous,
//! unaligned vector load: no column matrix, no packing, no branches.
//! - forward: the sum above, in register tiles of 4 output channels × 16 positions;
//! - input gradient: the same kernel on the zero-padded output gradient, with the kernel
//!   flipped and its channel axes swapped (the "full" convolution);
//! - weight gradient: `dw[co][ci][tap] = Σ_q dy[co][q] · xp[ci][q + shift(tap)]` with the
//!   output gradient laid out like `y` (zeros in the dropped columns), in register tiles of
//!   4 output channels × 3 taps, as vector partial sums.
//!
//! Samples are spread over the rayon pool (one scratch per thread); with fewer samples than
//! threads (single-image inference) the output channel blocks are.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;

use super::conv2d_gemm::f32_tensor;
use super::conv2d_narrow;
use crate::FlexTensor;

/// Output channels per register tile.
pub(super) const CO_BLOCK: usize = 4;
/// Vectors of 8 positions per forward register tile: 4 × 2 accumulators + 2 inputs + 1
/// broadcast fit AVX2's 16 registers (with 4 × 3 LLVM spilled an accumulator, and the
/// store-to-load round trip on its dependency chain halved the speed).
const Q_VECTORS: usize = 2;
/// Flattened positions per forward register tile.
pub(super) const Q_BLOCK: usize = Q_VECTORS * LANES;
const LANES: usize = 8;
/// Taps per weight-gradient register tile.
const TAP_BLOCK: usize = 3;
/// Positions per pass of the weight-gradient kernel (4 output-gradient rows of this many
/// floats stay in L2 while the input channels stream past).
const WGRAD_Q_TILE: usize = 4096;

/// Narrower outputs go to the channel-vectorised kernels (`conv2d_narrow`), or to the GEMM
/// path when they have few channels: the dropped columns (`wp − ow` per row) are a quarter of
/// the work at 6 wide, and at 12 wide the GEMM path was already as fast (batch 32,
/// `conv2d_direct_speed` below).
const MIN_OUTPUT_WIDTH: usize = 16;

/// Fewer output positions (batch × height × width) than this go to the GEMM path: the kernels
/// repack the weights on every call, which only pays off when each weight is used this often
/// (batch-1 inference of a 16 × 16 layer was 1.7× slower here than on the GEMM path).
const MIN_POSITIONS: usize = 1024;

/// Whether this CPU runs the kernels (x86-64 with AVX2 and FMA).
pub(super) fn cpu_has_kernels() -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    {
        false
    }
}

/// Whether this convolution takes the direct path: the kernels apply, the output is wide
/// enough for them to be the faster path.
pub(crate) fn supported(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    let (oh, ow) = ((xs[2] + 2 * options.padding[0].0 + 1).saturating_sub(ws[2]), (xs[3] + 2 * options.padding[1].0 + 1).saturating_sub(ws[3]));
    if xs[0] * oh * ow < MIN_POSITIONS {
        return false;
    }
    let wide = ow >= MIN_OUTPUT_WIDTH;
    // Narrow outputs are vectorised over channels (`conv2d_narrow`): worth it from 16 output
    // channels (forward) and 16 input channels (the input gradient's outputs) on.
    let channels = ws[0] >= conv2d_narrow::CO_BLOCK && ws[1] >= conv2d_narrow::CO_BLOCK;
    applicable(x, weight, options) && (wide || channels)
}

/// Whether this plan goes to the channel-vectorised kernels: outputs too narrow for the
/// position-vectorised ones, or rows under 32 wide that are not whole position tiles (which
/// cost a copy out of the flattened layout) with channels that fill whole channel tiles. (The
/// 24 → 48 layer at 24 × 24, batch 32, alternating in one process: forward 2.27 → 2.15 ms,
/// weight gradient 2.44 → 2.28 ms.) Not wider: their weight gradient keeps a thread's whole
/// run of samples in scratch, which grows with the image.
fn narrow(p: &Plan) -> bool {
    let channel_tiles = p.c_out % conv2d_narrow::CO_BLOCK == 0 && p.c_in >= conv2d_narrow::CO_BLOCK;
    p.ow < MIN_OUTPUT_WIDTH || (p.ow < 2 * MIN_OUTPUT_WIDTH && !row_aligned(p) && channel_tiles)
}

/// Whether the kernels compute this convolution (on this CPU).
fn applicable(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || xs.num_dims() != 4 || ws.num_dims() != 4 {
        return false;
    }
    options.groups == 1
        && options.stride == [1, 1]
        && options.dilation == [1, 1]
        && (0..2).all(|i| options.padding[i].0 == options.padding[i].1 && options.padding[i].0 < ws[2 + i])
        && xs[0] > 0
        && xs[1] > 0
        && xs[1] == ws[1]
        && ws[0] > 0
        && ws[2] > 0
        && ws[3] > 0
        && xs[2] + 2 * options.padding[0].0 >= ws[2]
        && xs[3] + 2 * options.padding[1].0 >= ws[3]
        && cpu_has_kernels()
}

/// One convolution in the padded, row-flattened coordinates.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub(super) c_in: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c_out: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) ph: usize,
    pub(super) pw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    /// Padded row length.
    pub(super) wp: usize,
    /// `oh · wp` rounded up to whole register tiles.
    pub(super) q_pad: usize,
    /// Floats per padded input channel, with room for the last tile's reads.
    pub(super) plane: usize,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    fn new(c_in: usize, h: usize, w: usize, c_out: usize, kh: usize, kw: usize, ph: usize, pw: usize) -> Self {
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        let (oh, ow) = (hp + 1 - kh, wp + 1 - kw);
        let q_pad = (oh * wp).next_multiple_of(Q_BLOCK);
        let plane = (q_pad + (kh - 1) * wp + kw - 1).next_multiple_of(LANES);
        Plan { c_in, h, w, c_out, kh, kw, ph, pw, oh, ow, wp, q_pad, plane }
    }

    pub(super) fn taps(&self) -> usize {
        self.kh * self.kw
    }

    /// Flattened offset of each tap, row-major over (ky, kx).
    pub(super) fn shifts(&self) -> Vec<usize> {
        (0..self.kh).flat_map(|ky| (0..self.kw).map(move |kx| ky * self.wp + kx)).collect()
    }

    fn co_blocks(&self) -> usize {
        self.c_out.div_ceil(CO_BLOCK)
    }

    pub(super) fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub(super) fn out_len(&self) -> usize {
        self.c_out * self.oh * self.ow
    }
}

/// Zero-initialised scratch buffers, kept per thread between calls: the padding of the padded
/// planes and the dropped columns are never written, so a buffer used again for the same
/// geometry (`key`) is still zero there and needs no new zero-filling pass (on the first layer
/// of a CNN that pass cost as much as the weight-gradient kernel's own loads).
#[cfg(feature = "std")]
pub(super) mod scratch {
    use std::cell::RefCell;
    use std::vec::Vec;

    /// At most this many floats kept per thread (64 MiB).
    const KEEP_FLOATS: usize = 16 << 20;

    std::thread_local! {
        static CACHE: RefCell<Vec<([usize; 10], Vec<f32>)>> = const { RefCell::new(Vec::new()) };
    }

    /// A buffer of `len` floats, zero wherever no call with the same key wrote.
    pub(in crate::ops) fn take(key: [usize; 10], len: usize) -> Vec<f32> {
        let kept = CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let at = c.iter().position(|(k, v)| *k == key && v.len() == len)?;
            Some(c.swap_remove(at).1)
        });
        kept.unwrap_or_else(|| alloc::vec![0.0; len])
    }

    /// Keep `buf` for the next call with `key` (oldest buffers go first past the limit).
    pub(in crate::ops) fn give(key: [usize; 10], buf: Vec<f32>) {
        if buf.len() > KEEP_FLOATS {
            return;
        }
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            while !c.is_empty() && c.iter().map(|(_, v)| v.len()).sum::<usize>() + buf.len() > KEEP_FLOATS {
                c.remove(0);
            }
            c.push((key, buf));
        });
    }
}

#[cfg(not(feature = "std"))]
pub(super) mod scratch {
    use alloc::vec::Vec;

    pub(in crate::ops) fn take(_key: [usize; 10], len: usize) -> Vec<f32> {
        alloc::vec![0.0; len]
    }

    pub(in crate::ops) fn give(_key: [usize; 10], _buf: Vec<f32>) {}
}

impl Plan {
    /// Scratch key: what a buffer holds (`role`), this geometry, and a count (samples).
    pub(super) fn key(&self, role: usize, count: usize) -> [usize; 10] {
        [role, self.c_in, self.h, self.w, self.c_out, self.kh, self.kw, self.ph, self.pw, count]
    }
}

/// Copy one sample (`c × h × w`) into its zero-padded planes. Only the interior is written, so
/// the padding stays zero from the scratch's allocation on.
pub(super) fn pad_into(x: &[f32], p: &Plan, xp: &mut [f32]) {
    for ci in 0..p.c_in {
        for iy in 0..p.h {
            let dst = &mut xp[ci * p.plane + (p.ph + iy) * p.wp + p.pw..][..p.w];
            dst.copy_from_slice(&x[(ci * p.h + iy) * p.w..][..p.w]);
        }
    }
}

/// The valid columns of the flattened output rows (`c_out × q_pad`) into `y`
/// (`c_out × oh × ow`), plus the bias.
fn unpad_into(yq: &[f32], p: &Plan, bias: Option<&[f32]>, y: &mut [MaybeUninit<f32>]) {
    for co in 0..p.c_out {
        let b = bias.map_or(0.0, |b| b[co]);
        for oy in 0..p.oh {
            let src = &yq[co * p.q_pad + oy * p.wp..][..p.ow];
            let dst = &mut y[(co * p.oh + oy) * p.ow..][..p.ow];
            for (d, s) in dst.iter_mut().zip(src) {
                d.write(s + b);
            }
        }
    }
}

/// Weights rearranged for the kernels: `[co block][ci][tap][co_block output channels]`, zero
/// for the channels past `c_out`. `get(co, ci, tap)` reads the logical weight. Filled in the
/// order of the destination, with no index arithmetic per weight: with three divisions per
/// weight, packing the 96 → 192 layer's 166 k weights took 0.95 ms, a third of its batch-32
/// forward pass.
pub(super) fn pack_weights(p: &Plan, co_block: usize, get: impl Fn(usize, usize, usize) -> f32 + Sync) -> Vec<f32> {
    let taps = p.taps();
    let block_len = p.c_in * taps * co_block;
    let mut packed = vec![0.0f32; p.c_out.div_ceil(co_block) * block_len];
    let fill = |cb: usize, block: &mut [f32]| {
        let channels = cb * co_block..((cb + 1) * co_block).min(p.c_out);
        let mut at = 0;
        for ci in 0..p.c_in {
            for t in 0..taps {
                for (j, co) in channels.clone().enumerate() {
                    block[at + j] = get(co, ci, t);
                }
                at += co_block;
            }
        }
    };
    #[cfg(feature = "rayon")]
    if packed.len() >= super::par_elementwise::PAR_MIN {
        use rayon::prelude::*;
        packed.par_chunks_exact_mut(block_len).enumerate().for_each(|(cb, block)| fill(cb, block));
        return packed;
    }
    for (cb, block) in packed.chunks_exact_mut(block_len).enumerate() {
        fill(cb, block);
    }
    packed
}

#[cfg(target_arch = "x86_64")]
pub(in crate::ops) mod kernels {
    use super::{CO_BLOCK, LANES, Q_VECTORS, TAP_BLOCK};
    use core::arch::x86_64::*;

    /// One forward tile: `y[j][0..16] = bias[j] + Σ_k w[k][j] · x[offsets[k] ..]` for the 4
    /// output channels `j` of a block, `k` running over (input channel, tap) pairs (`x` points
    /// at the tile's first position). One flat loop: with the channel and tap loops nested,
    /// LLVM shuffled the accumulators between registers on every iteration (half the speed).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` readable at `offset + 16` for every offset; `w`
    /// holds `offsets.len() · 4` floats; `y` 4 rows, `y_stride` apart, of 16 writable floats.
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::ops) unsafe fn forward_tile(x: *const f32, offsets: &[usize], w: *const f32, y: *mut f32, y_stride: usize, bias: [f32; CO_BLOCK]) {
        let mut acc = [[_mm256_setzero_ps(); Q_VECTORS]; CO_BLOCK];
        for (a, &b) in acc.iter_mut().zip(&bias) {
            *a = [_mm256_set1_ps(b); Q_VECTORS];
        }
        // SAFETY (every pointer below): in bounds by the contract above.
        for (k, &off) in offsets.iter().enumerate() {
            let (v, wk) = unsafe { ([_mm256_loadu_ps(x.add(off)), _mm256_loadu_ps(x.add(off + LANES))], w.add(k * CO_BLOCK)) };
            for (j, a) in acc.iter_mut().enumerate() {
                let b = _mm256_set1_ps(unsafe { *wk.add(j) });
                a[0] = _mm256_fmadd_ps(b, v[0], a[0]);
                a[1] = _mm256_fmadd_ps(b, v[1], a[1]);
            }
        }
        for (j, a) in acc.iter().enumerate() {
            for (k, v) in a.iter().enumerate() {
                unsafe { _mm256_storeu_ps(y.add(j * y_stride + k * LANES), *v) };
            }
        }
    }

    /// One weight-gradient pass: for the 4 output-gradient rows `dy[j]` and 3 shifted views of
    /// one input plane, `acc[j][t] += Σ_{q in q0..q1} dy[j][q] · x[q + shift_t]`, kept as
    /// 8-lane vector partial sums (`acc`: `[4][3][8]`).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `q0` and `q1` multiples of 8; `dy` holds 4 rows of
    /// `dy_stride` floats readable up to `q1`; `x` readable up to `q1 + shift`; `acc` 96 floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn weight_tile(dy: *const f32, dy_stride: usize, x: *const f32, shifts: [usize; TAP_BLOCK], q0: usize, q1: usize, acc: *mut f32) {
        let mut a = [[_mm256_setzero_ps(); TAP_BLOCK]; CO_BLOCK];
        for (j, row) in a.iter_mut().enumerate() {
            for (t, v) in row.iter_mut().enumerate() {
                *v = unsafe { _mm256_loadu_ps(acc.add((j * TAP_BLOCK + t) * LANES)) };
            }
        }
        let mut q = q0;
        while q < q1 {
            // SAFETY: in bounds by the contract above.
            let xs = unsafe { [_mm256_loadu_ps(x.add(q + shifts[0])), _mm256_loadu_ps(x.add(q + shifts[1])), _mm256_loadu_ps(x.add(q + shifts[2]))] };
            for (j, row) in a.iter_mut().enumerate() {
                let d = unsafe { _mm256_loadu_ps(dy.add(j * dy_stride + q)) };
                row[0] = _mm256_fmadd_ps(d, xs[0], row[0]);
                row[1] = _mm256_fmadd_ps(d, xs[1], row[1]);
                row[2] = _mm256_fmadd_ps(d, xs[2], row[2]);
            }
            q += LANES;
        }
        for (j, row) in a.iter().enumerate() {
            for (t, v) in row.iter().enumerate() {
                unsafe { _mm256_storeu_ps(acc.add((j * TAP_BLOCK + t) * LANES), *v) };
            }
        }
    }
}

/// One block of 4 output channels over all positions: `yq` holds those 4 rows (`4 × q_pad`);
/// `offsets` = `ci · plane + shift(tap)` for every (input channel, tap), in packing order.
fn convolve_block(p: &Plan, xp: &[f32], offsets: &[usize], wpk_block: &[f32], yq: &mut [f32]) {
    assert!(xp.len() >= p.c_in * p.plane && offsets.len() == p.c_in * p.taps() && wpk_block.len() >= offsets.len() * CO_BLOCK && yq.len() >= CO_BLOCK * p.q_pad);
    #[cfg(target_arch = "x86_64")]
    for q0 in (0..p.q_pad).step_by(Q_BLOCK) {
        // SAFETY: `supported` checked AVX2/FMA; the plan sizes `xp` (c_in planes readable to
        // q_pad + the largest shift), `yq` (q_pad per row) and the packed weights for exactly
        // these reads and writes (asserted above).
        unsafe { kernels::forward_tile(xp.as_ptr().add(q0), offsets, wpk_block.as_ptr(), yq.as_mut_ptr().add(q0), p.q_pad, [0.0; CO_BLOCK]) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the direct convolution runs on x86-64 only ({p:?}, {}, {}, {}, {})", xp.len(), offsets.len(), wpk_block.len(), yq.len());
}

/// Whether the output rows are whole register tiles (and the channels whole blocks): then the
/// kernel writes the output (with its bias) in place, row by row, and neither the dropped
/// columns nor a copy out of the flattened layout cost anything.
fn row_aligned(p: &Plan) -> bool {
    p.ow % Q_BLOCK == 0 && p.c_out % CO_BLOCK == 0
}

/// [`convolve_block`] for a [`row_aligned`] plan, straight into the 4 output channels `y`
/// (`4 × oh·ow`) of one sample, bias included.
fn convolve_block_rows(p: &Plan, xp: &[f32], offsets: &[usize], wpk_block: &[f32], bias: [f32; CO_BLOCK], y: &mut [MaybeUninit<f32>]) {
    let plane_out = p.oh * p.ow;
    assert!(row_aligned(p) && xp.len() >= p.c_in * p.plane && wpk_block.len() >= offsets.len() * CO_BLOCK && y.len() == CO_BLOCK * plane_out);
    #[cfg(target_arch = "x86_64")]
    for oy in 0..p.oh {
        for ox in (0..p.ow).step_by(Q_BLOCK) {
            // SAFETY: `supported` checked AVX2/FMA; position oy·wp + ox + 16 ≤ q_pad, so the
            // reads stay in `xp` as in `convolve_block`; the tile's 4 × 16 outputs lie in `y`
            // (rows of oh·ow, ox + 16 ≤ ow) and are written, never read.
            unsafe {
                kernels::forward_tile(xp.as_ptr().add(oy * p.wp + ox), offsets, wpk_block.as_ptr(), y.as_mut_ptr().add(oy * p.ow + ox).cast::<f32>(), plane_out, bias)
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the direct convolution runs on x86-64 only ({p:?}, {}, {}, {}, {bias:?})", xp.len(), offsets.len(), wpk_block.len());
}

/// For every sample of `input` (`n × c_in·h·w`): pad, convolve with the packed weights, keep
/// the valid outputs (+ bias). Returns `n × c_out·oh·ow`.
fn convolve(p: &Plan, n: usize, input: &[f32], wpk: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let shifts = p.shifts();
    let offsets: Vec<usize> = (0..p.c_in).flat_map(|ci| shifts.iter().map(move |s| ci * p.plane + s)).collect();
    let block_w = p.c_in * p.taps() * CO_BLOCK;
    let (in_len, out_len) = (p.in_len(), p.out_len());
    let mut out: Vec<f32> = Vec::with_capacity(n * out_len);
    let aligned = row_aligned(p);
    let block_out = CO_BLOCK * p.oh * p.ow;
    let block_bias = |cb: usize| -> [f32; CO_BLOCK] { core::array::from_fn(|j| bias.map_or(0.0, |b| b[cb * CO_BLOCK + j])) };
    // A 1×1 layer without padding whose planes are already whole tiles (96 × 96, 48 × 48)
    // reads its input where it is: the padded copy would hold the same floats in the same
    // places (copying them was ~2 % of the hand networks' time).
    let unpadded = p.kh == 1 && p.kw == 1 && p.ph == 0 && p.pw == 0 && p.plane == p.h * p.w;
    let one_sample = |s: usize, y: &mut [MaybeUninit<f32>], xp: &mut [f32], yq: &mut [f32]| {
        let xs = &input[s * in_len..(s + 1) * in_len];
        let xp: &[f32] = if unpadded {
            xs
        } else {
            pad_into(xs, p, xp);
            xp
        };
        if aligned {
            for (cb, yb) in y.chunks_exact_mut(block_out).enumerate() {
                convolve_block_rows(p, xp, &offsets, &wpk[cb * block_w..(cb + 1) * block_w], block_bias(cb), yb);
            }
            return;
        }
        for (cb, rows) in yq.chunks_exact_mut(CO_BLOCK * p.q_pad).enumerate() {
            convolve_block(p, xp, &offsets, &wpk[cb * block_w..(cb + 1) * block_w], rows);
        }
        unpad_into(yq, p, bias, y);
    };
    let (xp_key, yq_key) = (p.key(0, 1), p.key(1, 1));
    let yq_len = if aligned { 0 } else { p.co_blocks() * CO_BLOCK * p.q_pad };
    let xp_len = if unpadded { 0 } else { p.c_in * p.plane };
    let scratch = || (scratch::take(xp_key, xp_len), scratch::take(yq_key, yq_len));
    let keep = |(xp, yq): (Vec<f32>, Vec<f32>)| {
        scratch::give(xp_key, xp);
        scratch::give(yq_key, yq);
    };
    let dst = &mut out.spare_capacity_mut()[..n * out_len];
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads();
        if n >= threads {
            // One contiguous run of samples (and one scratch) per thread.
            let per = n.div_ceil(threads);
            dst.par_chunks_mut(per * out_len).enumerate().for_each(|(c, ys)| {
                let (mut xp, mut yq) = scratch();
                for (k, y) in ys.chunks_exact_mut(out_len).enumerate() {
                    one_sample(c * per + k, y, &mut xp, &mut yq);
                }
                keep((xp, yq));
            });
        } else {
            // Few samples: the output channel blocks of each go to the pool.
            let (mut xp, mut yq) = scratch();
            for (s, y) in dst.chunks_exact_mut(out_len).enumerate() {
                let xs = &input[s * in_len..(s + 1) * in_len];
                let xs: &[f32] = if unpadded {
                    xs
                } else {
                    pad_into(xs, p, &mut xp);
                    &xp
                };
                if aligned {
                    y.par_chunks_exact_mut(block_out).enumerate().for_each(|(cb, yb)| {
                        convolve_block_rows(p, xs, &offsets, &wpk[cb * block_w..(cb + 1) * block_w], block_bias(cb), yb);
                    });
                    continue;
                }
                yq.par_chunks_exact_mut(CO_BLOCK * p.q_pad).enumerate().for_each(|(cb, rows)| {
                    convolve_block(p, xs, &offsets, &wpk[cb * block_w..(cb + 1) * block_w], rows);
                });
                unpad_into(&yq, p, bias, y);
            }
            keep((xp, yq));
        }
    }
    #[cfg(not(feature = "rayon"))]
    {
        let (mut xp, mut yq) = scratch();
        for (s, y) in dst.chunks_exact_mut(out_len).enumerate() {
            one_sample(s, y, &mut xp, &mut yq);
        }
        keep((xp, yq));
    }
    // SAFETY: `convolve_block_rows` (row-aligned) or `unpad_into` wrote every one of the
    // `n · out_len` outputs.
    unsafe { out.set_len(n * out_len) };
    out
}

/// Forward: `[N, Ci, H, W] ⊛ [Co, Ci, KH, KW] (+ bias) → [N, Co, OH, OW]`.
pub(crate) fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: &ConvOptions<2>) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    let p = Plan::new(xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], options.padding[0].0, options.padding[1].0);
    let wd: &[f32] = weight.storage();
    let taps = p.taps();
    let get = |co: usize, ci: usize, t: usize| wd[(co * p.c_in + ci) * taps + t];
    let bias = bias.map(|b| b.to_contiguous());
    let b = bias.as_ref().map(|b| b.storage::<f32>());
    let out = if narrow(&p) { conv2d_narrow::convolve(&p, xs[0], x.storage(), get, b) } else { convolve(&p, xs[0], x.storage(), &pack_weights(&p, CO_BLOCK, get), b) };
    f32_tensor(out, vec![xs[0], p.c_out, p.oh, p.ow])
}

/// Gradient of the input: the output gradient convolved ("full", padding `k − 1 − p`) with the
/// kernel flipped and its channel axes swapped.
pub(crate) fn conv2d_x_backward(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let (weight, dy) = (weight.to_contiguous(), output_grad.to_contiguous());
    let x_shape = x.layout().shape().to_vec();
    let (ws, ds) = (weight.layout().shape(), dy.layout().shape());
    let (c_out, c_in, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let (ph, pw) = (options.padding[0].0, options.padding[1].0);
    // The forward convolution this gradient is: dy (c_out channels) → dx (c_in channels).
    let p = Plan::new(c_out, ds[2], ds[3], c_in, kh, kw, kh - 1 - ph, kw - 1 - pw);
    debug_assert_eq!([p.oh, p.ow], [x_shape[2], x_shape[3]]);
    let wd: &[f32] = weight.storage();
    let taps = p.taps();
    let get = |i: usize, o: usize, t: usize| wd[(o * c_in + i) * taps + (taps - 1 - t)];
    let dx = if narrow(&p) { conv2d_narrow::convolve(&p, ds[0], dy.storage(), get, None) } else { convolve(&p, ds[0], dy.storage(), &pack_weights(&p, CO_BLOCK, get), None) };
    f32_tensor(dx, x_shape)
}

/// `Σ partial(run)` over samples `0..n` cut into one contiguous run per rayon thread: the
/// weight gradients' reduction over the batch (each run accumulates its own partial sums of
/// `len` floats in private scratch; the runs are added at the end).
pub(super) fn sum_over_sample_runs(n: usize, len: usize, partial: impl Fn(core::ops::Range<usize>) -> Vec<f32> + Sync + Send) -> Vec<f32> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let runs = rayon::current_num_threads().min(n).max(1);
        let per = n.div_ceil(runs);
        (0..runs)
            .into_par_iter()
            .map(|c| partial(c * per..((c + 1) * per).min(n)))
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0.0; len])
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = len;
        partial(0..n)
    }
}

/// Gradient of the weight: `dw[co][ci][tap] = Σ_n Σ_q dy_n[co][q] · xp_n[ci][q + shift(tap)]`.
///
/// Each thread takes a run of samples and lays them end to end, `plane` floats apart, in one
/// long row per channel: the padded inputs, and the output gradients in the flattened layout
/// with zeros in the dropped columns and up to the next sample. Then the sum over samples and
/// positions is one sum over that long row (a product that reads into the next sample meets a
/// zero gradient), so small images (6 × 6 at the end of a CNN) still give long kernel loops.
pub(crate) fn conv2d_weight_backward(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let (x, dy) = (x.to_contiguous(), output_grad.to_contiguous());
    let w_shape = weight.layout().shape().to_vec();
    let xs = x.layout().shape();
    let n = xs[0];
    let p = Plan::new(xs[1], xs[2], xs[3], w_shape[0], w_shape[2], w_shape[3], options.padding[0].0, options.padding[1].0);
    let (xd, dyd): (&[f32], &[f32]) = (x.storage(), dy.storage());
    if narrow(&p) {
        return f32_tensor(conv2d_narrow::weight_grad(&p, n, xd, dyd), w_shape);
    }
    let (taps, (in_len, out_len)) = (p.taps(), (p.in_len(), p.out_len()));
    // Taps in groups of 3; a last, short group reads shift 0 for its missing taps and drops them.
    let mut shifts = p.shifts();
    let groups = taps.div_ceil(TAP_BLOCK);
    shifts.resize(groups * TAP_BLOCK, 0);
    let tile_len = CO_BLOCK * TAP_BLOCK * LANES;
    let acc_len = p.co_blocks() * p.c_in * groups * tile_len;

    let partial = |samples: core::ops::Range<usize>| -> Vec<f32> {
        let mut acc = vec![0.0f32; acc_len];
        // Long rows: `len` positions of gradient; the inputs have one plane of slack after
        // them for the shifted reads.
        let len = samples.len() * p.plane;
        let x_row = len + p.plane;
        let (xl_key, dyl_key) = (p.key(2, samples.len()), p.key(3, samples.len()));
        let mut xl = scratch::take(xl_key, p.c_in * x_row);
        let mut dyl = scratch::take(dyl_key, p.co_blocks() * CO_BLOCK * len);
        for (k, s) in samples.enumerate() {
            let (xs, dys) = (&xd[s * in_len..(s + 1) * in_len], &dyd[s * out_len..(s + 1) * out_len]);
            for ci in 0..p.c_in {
                for iy in 0..p.h {
                    let at = ci * x_row + k * p.plane + (p.ph + iy) * p.wp + p.pw;
                    xl[at..at + p.w].copy_from_slice(&xs[(ci * p.h + iy) * p.w..][..p.w]);
                }
            }
            for co in 0..p.c_out {
                for oy in 0..p.oh {
                    let at = co * len + k * p.plane + oy * p.wp;
                    dyl[at..at + p.ow].copy_from_slice(&dys[(co * p.oh + oy) * p.ow..][..p.ow]);
                }
            }
        }
        for q0 in (0..len).step_by(WGRAD_Q_TILE) {
            let q1 = (q0 + WGRAD_Q_TILE).min(len);
            for cb in 0..p.co_blocks() {
                let rows = &dyl[cb * CO_BLOCK * len..(cb + 1) * CO_BLOCK * len];
                for ci in 0..p.c_in {
                    let row = &xl[ci * x_row..(ci + 1) * x_row];
                    for g in 0..groups {
                        let at = ((cb * p.c_in + ci) * groups + g) * tile_len;
                        let tile = &mut acc[at..at + tile_len];
                        let sh = [shifts[g * TAP_BLOCK], shifts[g * TAP_BLOCK + 1], shifts[g * TAP_BLOCK + 2]];
                        assert!(q1 % LANES == 0 && q1 + LANES + sh[0].max(sh[1]).max(sh[2]) <= row.len() + LANES && rows.len() == CO_BLOCK * len);
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `supported` checked AVX2/FMA; q0, q1 are multiples of 8 (the
                        // plane and the tile are); `rows` holds 4 rows of `len`; `row` is
                        // readable to `len` + the largest shift (its slack is a whole plane);
                        // `tile` holds 4 × 3 × 8 partial sums (asserted above).
                        unsafe {
                            kernels::weight_tile(rows.as_ptr(), len, row.as_ptr(), sh, q0, q1, tile.as_mut_ptr())
                        };
                        #[cfg(not(target_arch = "x86_64"))]
                        unreachable!("the direct convolution runs on x86-64 only ({}, {})", tile.len(), sh[0]);
                    }
                }
            }
        }
        scratch::give(xl_key, xl);
        scratch::give(dyl_key, dyl);
        acc
    };
    let acc = sum_over_sample_runs(n, acc_len, partial);

    // Sum the lanes: dw[co][ci][tap].
    let mut dw = vec![0.0f32; p.c_out * p.c_in * taps];
    for co in 0..p.c_out {
        let (cb, j) = (co / CO_BLOCK, co % CO_BLOCK);
        for ci in 0..p.c_in {
            for t in 0..taps {
                let (g, k) = (t / TAP_BLOCK, t % TAP_BLOCK);
                let at = ((cb * p.c_in + ci) * groups + g) * tile_len + (j * TAP_BLOCK + k) * LANES;
                dw[(co * p.c_in + ci) * taps + t] = acc[at..at + LANES].iter().sum();
            }
        }
    }
    f32_tensor(dw, w_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d_gemm;

    fn tensor(v: Vec<f32>, shape: &[usize]) -> FlexTensor {
        f32_tensor(v, shape.to_vec())
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104_729) % 1009) as f32 / 1009.0) - 0.5).collect()
    }

    fn close(a: &FlexTensor, b: &FlexTensor) {
        assert_eq!(a.layout().shape(), b.layout().shape());
        let (a, b) = (a.to_contiguous(), b.to_contiguous());
        for (i, (x, y)) in a.storage::<f32>().iter().zip(b.storage::<f32>()).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    /// All three passes against the GEMM path (itself tested against the definition).
    fn check(xs: [usize; 4], ws: [usize; 4], pad: [usize; 2]) {
        check_with(xs, ws, pad, 1);
    }

    fn check_with(xs: [usize; 4], ws: [usize; 4], pad: [usize; 2], seed: usize) {
        if !cpu_has_kernels() {
            return;
        }
        let options = ConvOptions::new([1, 1], pad, [1, 1], 1);
        let x = tensor(values(xs.iter().product(), seed), &xs);
        let w = tensor(values(ws.iter().product(), 2), &ws);
        let b = tensor(values(ws[0], 3), &[ws[0]]);
        assert!(applicable(&x, &w, &options));
        let y = conv2d(x.clone(), w.clone(), Some(b.clone()), &options);
        close(&y, &conv2d_gemm::conv2d(x.clone(), w.clone(), Some(b), &options));
        let ys = y.layout().shape().to_vec();
        let dy = tensor(values(ys.iter().product(), 4), &ys);
        close(&conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options), &conv2d_gemm::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options));
        close(&conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), &options), &conv2d_gemm::conv2d_weight_backward(x, w, dy, &options));
    }

    #[test]
    fn same_3x3_layers() {
        // Output channels not a multiple of 4, widths not a multiple of 8, one sample (the
        // channel-parallel path), odd sizes.
        check([3, 3, 12, 20], [16, 3, 3, 3], [1, 1]);
        // Rows of whole tiles (16, 32 wide, channels a multiple of 4): written in place.
        check([3, 3, 5, 32], [8, 3, 3, 3], [1, 1]);
        check([2, 6, 16, 16], [12, 6, 3, 3], [1, 1]);
        check([1, 4, 9, 16], [4, 4, 3, 3], [1, 1]);
        check([3, 3, 12, 12], [16, 3, 3, 3], [1, 1]);
        check([2, 5, 7, 9], [6, 5, 3, 3], [1, 1]);
        check([1, 4, 6, 6], [8, 4, 3, 3], [1, 1]);
        check([5, 2, 1, 1], [3, 2, 3, 3], [1, 1]);
    }

    #[test]
    fn narrow_layers() {
        // Under 16 wide: vectorised over channels. Channel counts not a multiple of 16, pixel
        // counts not a multiple of 6, one sample, other kernels and padding.
        check([3, 16, 6, 6], [32, 16, 3, 3], [1, 1]);
        check([4, 20, 12, 12], [24, 20, 3, 3], [1, 1]);
        check([1, 17, 5, 7], [18, 17, 3, 3], [1, 1]);
        check([2, 16, 9, 8], [16, 16, 3, 3], [0, 0]);
        check([2, 16, 7, 9], [16, 16, 5, 3], [2, 1]);
        check([3, 3, 4, 4], [5, 3, 1, 1], [0, 0]);
        // Wide rows that are not whole position tiles, channels in whole channel tiles (and
        // the input gradient's 20 outputs not: the position-vectorised kernel).
        check([3, 20, 5, 20], [32, 20, 3, 3], [1, 1]);
        // 40 wide (not whole tiles either): the position-vectorised kernels.
        check([2, 16, 3, 40], [16, 16, 3, 3], [1, 1]);
    }

    #[test]
    fn scratch_kept_between_calls_gives_the_same_results() {
        // The same geometries again with other values: the kept buffers' untouched parts
        // (padding, dropped columns) must still be zero.
        for seed in [5, 9] {
            check_with([4, 3, 10, 18], [8, 3, 3, 3], [1, 1], seed);
            check_with([1, 5, 7, 16], [4, 5, 3, 3], [1, 1], seed);
            check_with([3, 16, 6, 6], [16, 16, 3, 3], [1, 1], seed);
        }
    }

    #[test]
    fn other_kernels_and_padding() {
        check([2, 3, 8, 7], [5, 3, 3, 3], [0, 0]);
        check([2, 4, 9, 6], [4, 4, 5, 5], [2, 2]);
        check([3, 2, 6, 8], [7, 2, 1, 1], [0, 0]);
        check([2, 3, 7, 8], [4, 3, 3, 2], [1, 0]);
        check([1, 2, 5, 5], [3, 2, 5, 3], [0, 1]);
        // 1×1 layers whose planes are whole tiles read the input in place (no padded copy):
        // rows not whole tiles, whole tiles, one sample and several.
        check([2, 3, 4, 8], [6, 3, 1, 1], [0, 0]);
        check([1, 5, 2, 16], [8, 5, 1, 1], [0, 0]);
        check([3, 4, 4, 16], [4, 4, 1, 1], [0, 0]);
    }

    #[test]
    fn refuses_what_it_does_not_do() {
        let x = tensor(vec![0.0; 2 * 3 * 8 * 8], &[2, 3, 8, 8]);
        let w = tensor(vec![0.0; 4 * 3 * 9], &[4, 3, 3, 3]);
        assert!(!supported(&x, &w, &ConvOptions::new([2, 2], [1, 1], [1, 1], 1)));
        assert!(!supported(&x, &w, &ConvOptions::new([1, 1], [1, 1], [2, 2], 1)));
        assert!(!supported(&x, &w, &ConvOptions::new([1, 1], [3, 3], [1, 1], 1)));
        assert!(!supported(&x, &w, &ConvOptions::new_with_padding([1, 1], [(1, 0), (1, 1)], [1, 1], 1)));
        // Narrow outputs with few channels: the GEMM path; with 16 or more: the narrow kernels.
        assert!(!supported(&x, &w, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
        if cpu_has_kernels() {
            let (xc, wc) = (tensor(vec![0.0; 32 * 16 * 8 * 8], &[32, 16, 8, 8]), tensor(vec![0.0; 16 * 16 * 9], &[16, 16, 3, 3]));
            assert!(supported(&xc, &wc, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
            // The same layer for one image: too few positions to repack the weights for.
            let x1 = tensor(vec![0.0; 16 * 8 * 8], &[1, 16, 8, 8]);
            assert!(!supported(&x1, &wc, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
        }
        // Which kernels a plan takes: channel-vectorised under 16 wide, and under 32 wide for
        // rows that are not whole tiles when the channels fill whole channel tiles.
        assert!(narrow(&Plan::new(16, 6, 6, 16, 3, 3, 1, 1)));
        assert!(narrow(&Plan::new(24, 24, 24, 48, 3, 3, 1, 1)));
        assert!(!narrow(&Plan::new(48, 24, 24, 24, 3, 3, 1, 1)));
        assert!(!narrow(&Plan::new(16, 3, 40, 16, 3, 3, 1, 1)));
        assert!(!narrow(&Plan::new(16, 32, 32, 32, 3, 3, 1, 1)));
        if cpu_has_kernels() {
            let wide = tensor(vec![0.0; 8 * 3 * 8 * 16], &[8, 3, 8, 16]);
            assert!(supported(&wide, &w, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
        }
    }
}

/// Speed of the three passes on the layers of the course CNN and the default model (batch 32),
/// next to the GEMM path: `cargo test --release --lib -- --ignored --nocapture conv2d_direct_speed`.
#[cfg(test)]
mod speed {
    use super::*;
    use crate::ops::conv2d_gemm;
    use crate::ops::conv2d_gemm::speed::median_ms;

    #[test]
    #[ignore]
    fn conv2d_direct_speed() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for (ci, co, s) in [(3, 16, 64), (16, 32, 32), (32, 64, 16), (3, 24, 48), (24, 48, 24), (48, 96, 12), (96, 192, 6)] {
            let n = 32;
            let x = f32_tensor(vec![0.5; n * ci * s * s], vec![n, ci, s, s]);
            let w = f32_tensor(vec![0.1; co * ci * 9], vec![co, ci, 3, 3]);
            let dy = f32_tensor(vec![0.2; n * co * s * s], vec![n, co, s, s]);
            let gflop = 2.0 * (n * co * ci * 9 * s * s) as f64 / 1e9;
            let d = [
                median_ms(|| drop(conv2d(x.clone(), w.clone(), None, &options))),
                median_ms(|| drop(conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), &options))),
                median_ms(|| drop(conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options))),
            ];
            let g = [
                median_ms(|| drop(conv2d_gemm::conv2d(x.clone(), w.clone(), None, &options))),
                median_ms(|| drop(conv2d_gemm::conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), &options))),
                median_ms(|| drop(conv2d_gemm::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options))),
            ];
            // Batch 1 (the server's single photo): forward only.
            let x1 = f32_tensor(vec![0.5; ci * s * s], vec![1, ci, s, s]);
            let b1 = [
                median_ms(|| drop(conv2d(x1.clone(), w.clone(), None, &options))),
                median_ms(|| drop(conv2d_gemm::conv2d(x1.clone(), w.clone(), None, &options))),
            ];
            std::println!("{ci:>2}->{co:<3} {s:>2}px  batch 1 forward: direct {:.3} ms, gemm {:.3} ms", b1[0], b1[1]);
            std::println!(
                "{ci:>2}->{co:<3} {s:>2}px  direct: fwd {:.2} ms ({:.0} GFLOP/s), w-grad {:.2} ({:.0}), x-grad {:.2} ({:.0})  |  gemm: {:.2} / {:.2} / {:.2} ms",
                d[0],
                gflop / d[0] * 1e3,
                d[1],
                gflop / d[1] * 1e3,
                d[2],
                gflop / d[2] * 1e3,
                g[0],
                g[1],
                g[2]
            );
        }
    }
}
