//! Depthwise 2D convolution for f32 (groups = input channels = output channels, one filter per
//! channel), forward pass only, as AVX2/FMA kernels (runtime-detected; other CPUs keep the
//! upstream path). The backward passes are not here: depthwise training keeps upstream's
//! lowering.
//!
//! Why: MobileNet-style networks (MediaPipe's palm detector and hand-landmark model) are half
//! depthwise layers, at batch 1 and with small planes (7 × 7 to 96 × 96, 5 × 5 or 3 × 3
//! kernels, stride 1 or 2). Upstream's depthwise path spends one rayon task and one
//! vectorised pass over the output per tap on every channel plane: 3–14 GFLOP/s on these
//! layers, worst on the small planes and on stride 2 (a strided inner loop).
//!
//! Here each channel plane is copied once into a zero-padded scratch plane split by column
//! phase (`stride` planes: column `p + stride · j` of the padded row goes to phase `p`, index
//! `j`), so that every tap of every output row is a contiguous, unit-stride run for any stride.
//! Outputs are then computed in register blocks of up to 8 vectors (several rows × 8 or 16
//! positions), each accumulator held in a register over all `kh · kw` taps (one load and one
//! FMA per tap and 8 outputs, one weight broadcast per tap and block): enough independent FMA
//! chains to hide their latency, also on 7 × 7 and 14 × 14 planes. Channel planes are split
//! over the rayon pool in runs of several planes, not one task per plane.
//!
//! Where the channel count is a multiple of 8 (every depthwise layer of the hand networks), the
//! channel-blocked path (`blocked`) runs instead: the same sums with 8 channels in a vector
//! rather than 8 positions of a row, so small planes leave no partial vectors (7 × 7 to 28 × 28
//! planes did on every row) and strides need no phase split. The two paths give the same bits.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use core::mem::MaybeUninit;

use super::conv2d_direct::cpu_has_kernels;
use super::conv2d_gemm::f32_tensor;
use crate::FlexTensor;

/// Largest stride taken here (one scratch phase per stride step).
const MAX_STRIDE: usize = 4;

/// Work (multiply-adds) below which one thread does the whole layer: splitting a tiny layer
/// over the pool costs more than it saves.
const MIN_PARALLEL_MACS: usize = 64 * 1024;

/// Sizes of one depthwise convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    planes: usize,
    channels: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: [usize; 2],
    /// Padding before the first row and column.
    pad: [usize; 2],
    /// Rows of the padded plane that outputs read.
    rows: usize,
    /// Length of one phase row (the output width rounded up to 8, plus the taps' reach and
    /// one vector of slack, so that every 8-wide load stays inside the row).
    phase_w: usize,
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], options: &ConvOptions<2>) -> Option<Self> {
        let size = |i: usize, k: usize| {
            let (b, e) = options.padding[i];
            (x[2 + i] + b + e).checked_sub(k).map(|span| span / options.stride[i] + 1)
        };
        let (oh, ow) = (size(0, w[2])?, size(1, w[3])?);
        let stride = options.stride;
        let rows = (oh - 1) * stride[0] + w[2];
        let phase_w = ow.div_ceil(8) * 8 + (w[3] - 1) / stride[1] + 8;
        Some(Geometry {
            batch: x[0],
            planes: x[0] * x[1],
            channels: x[1],
            h: x[2],
            w: x[3],
            kh: w[2],
            kw: w[3],
            oh,
            ow,
            stride,
            pad: options.padding_begin(),
            rows,
            phase_w,
        })
    }

    /// Floats of scratch one plane needs: `stride` phases of `rows` rows.
    fn scratch(&self) -> usize {
        self.stride[1] * self.rows * self.phase_w
    }

    /// Offset in the scratch of tap (ky, kx) for output (0, 0).
    fn tap_offsets(&self) -> Vec<usize> {
        let (s, phase) = (self.stride[1], self.rows * self.phase_w);
        let mut offsets = Vec::with_capacity(self.kh * self.kw);
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                offsets.push((kx % s) * phase + ky * self.phase_w + kx / s);
            }
        }
        offsets
    }

    /// Copy one input plane into `scratch`, split by column phase. Every plane lands on the
    /// same scratch positions, so the padding stays as the first call found it: `scratch` must
    /// start zeroed (`Geometry::scratch` floats) and be reused only for this geometry.
    fn fill_scratch(&self, plane: &[f32], scratch: &mut [f32]) {
        let (s, phase) = (self.stride[1], self.rows * self.phase_w);
        for r in 0..self.rows {
            let Some(iy) = r.checked_sub(self.pad[0]).filter(|&iy| iy < self.h) else {
                continue;
            };
            let src = &plane[iy * self.w..(iy + 1) * self.w];
            if s == 1 {
                // Padded column pad + ix, phase 0.
                let n = self.w.min(self.phase_w - self.pad[1]);
                scratch[r * self.phase_w + self.pad[1]..][..n].copy_from_slice(&src[..n]);
                continue;
            }
            if s == 2 {
                // Pairs of input columns go to both phases at once (a shuffle, no gather).
                let (even, odd) = scratch[r * self.phase_w..].split_at_mut(phase);
                let (even, odd) = (&mut even[..self.phase_w], &mut odd[..self.phase_w]);
                let (first, second, j0) = if self.pad[1] % 2 == 0 {
                    (even, odd, self.pad[1] / 2)
                } else {
                    (odd, even, self.pad[1] / 2)
                };
                // Input column 2t lands at padded column 2t + pad: phase (pad mod 2), index
                // t + pad / 2; column 2t + 1 in the other phase, index t + (pad + 1) / 2.
                let j1 = (self.pad[1] + 1) / 2;
                let pairs = src.chunks_exact(2);
                let last = pairs.remainder().first().copied();
                let n = pairs.len().min(self.phase_w - j1);
                for (t, pair) in pairs.take(n).enumerate() {
                    first[j0 + t] = pair[0];
                    second[j1 + t] = pair[1];
                }
                if let Some(v) = last.filter(|_| j0 + n < self.phase_w && n == src.len() / 2) {
                    first[j0 + n] = v;
                }
                continue;
            }
            // Phase p holds padded columns p, p + s, p + 2s, …: input columns p − pad + s·j.
            for p in 0..s {
                let dst = &mut scratch[p * phase + r * self.phase_w..][..self.phase_w];
                // First j whose input column is ≥ 0.
                let j0 = self.pad[1].saturating_sub(p).div_ceil(s);
                let Some(from) = src.get(j0 * s + p - self.pad[1]..) else {
                    continue;
                };
                for (d, &v) in dst.iter_mut().skip(j0).zip(from.iter().step_by(s)) {
                    *d = v;
                }
            }
        }
    }
}

/// Whether this convolution takes the depthwise kernels: f32, one filter per channel, no
/// dilation, a stride of at most 4, an AVX2/FMA CPU.
pub(crate) fn supported(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && xs.len() == 4
        && ws.len() == 4
        && options.groups == xs[1]
        && ws[0] == xs[1]
        && ws[1] == 1
        && options.dilation == [1, 1]
        && options.stride.iter().all(|&s| (1..=MAX_STRIDE).contains(&s))
        && Geometry::new(xs, ws, options).is_some()
        && cpu_has_kernels()
}

/// Forward: `[N, C, H, W] ⊛ [C, 1, KH, KW] (+ bias) → [N, C, OH, OW]`.
pub(crate) fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: &ConvOptions<2>) -> FlexTensor {
    conv2d_clamped(x, weight, bias, options, (f32::NEG_INFINITY, f32::INFINITY))
}

/// [`conv2d`] with each output clamped to `min..=max` as it is stored, as `f32::clamp` does
/// (NaN stays NaN, −0.0 stays −0.0). The infinite bounds of plain [`conv2d`] change no value.
pub(crate) fn conv2d_clamped(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: &ConvOptions<2>, (min, max): (f32, f32)) -> FlexTensor {
    debug_assert!(min <= max, "conv2d_clamped: min > max");
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let g = Geometry::new(x.layout().shape(), weight.layout().shape(), options)
        .expect("conv2d_depthwise::supported checked the geometry");
    let (xd, wd): (&[f32], &[f32]) = (x.storage(), weight.storage());
    let bias = bias.map(|b| b.to_contiguous());
    let b: Option<&[f32]> = bias.as_ref().map(|b| b.storage());
    if let Some(b) = b {
        assert_eq!(b.len(), g.channels, "conv2d: bias length must equal the output channels");
    }
    let shape = vec![g.batch, g.channels, g.oh, g.ow];
    if g.planes * g.oh * g.ow == 0 {
        return f32_tensor(Vec::new(), shape);
    }
    let out = if g.channels.is_multiple_of(blocked::CHANNELS) {
        blocked::conv2d(xd, wd, b, &g, (min, max))
    } else {
        by_planes(xd, wd, b, &g, (min, max))
    };
    f32_tensor(out, shape)
}

/// The output plane by plane: each input plane copied into a padded, phase-split scratch plane
/// and convolved there by [`kernels::plane`] (any channel count).
fn by_planes(xd: &[f32], wd: &[f32], b: Option<&[f32]>, g: &Geometry, (min, max): (f32, f32)) -> Vec<f32> {
    let plane_out = g.oh * g.ow;
    let len = g.planes * plane_out;
    // Not zero-filled: `kernels::plane` writes every output (zeroing it first cost ~2 % of the
    // hand networks' time, mostly as memset).
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let offsets = g.tap_offsets();
    let taps = g.kh * g.kw;
    // One zeroed scratch per thread and call (see `fill_scratch`).
    let run_planes = |first: usize, out: &mut [MaybeUninit<f32>], scratch: &mut Vec<f32>| {
        if scratch.is_empty() {
            scratch.resize(g.scratch(), 0.0);
        }
        for (i, y) in out.chunks_exact_mut(plane_out).enumerate() {
            let plane = first + i;
            let c = plane % g.channels;
            g.fill_scratch(&xd[plane * g.h * g.w..(plane + 1) * g.h * g.w], scratch);
            let w = &wd[c * taps..(c + 1) * taps];
            let bias = b.map_or(0.0, |b| b[c]);
            // SAFETY: AVX2/FMA checked by `supported`; the scratch holds `rows` rows of
            // `phase_w` floats per phase, enough for every tap of every 8-wide load (see
            // `Geometry::phase_w`); `y` holds oh × ow floats.
            unsafe { kernels::plane(scratch, &offsets, w, bias, (min, max), g, y) };
        }
    };
    let macs = g.planes * plane_out * taps;
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads();
        if macs >= MIN_PARALLEL_MACS && threads > 1 {
            // About four runs per thread, so that an uneven split still balances.
            let per_run = g.planes.div_ceil(threads * 4).max(1);
            out.spare_capacity_mut()[..len]
                .par_chunks_mut(per_run * plane_out)
                .enumerate()
                .for_each_init(Vec::new, |scratch, (r, y)| run_planes(r * per_run, y, scratch));
            // SAFETY: every plane of the `len` floats was written by `kernels::plane`.
            unsafe { out.set_len(len) };
            return out;
        }
    }
    let _ = macs;
    run_planes(0, &mut out.spare_capacity_mut()[..len], &mut Vec::new());
    // SAFETY: every plane of the `len` floats was written by `kernels::plane`.
    unsafe { out.set_len(len) };
    out
}

/// The channel-blocked path, for channel counts that are a multiple of 8 (every depthwise layer
/// of the hand networks): 8 channels side by side in one vector, so that every load is a whole
/// vector of useful values whatever the plane's width (the plane path's vectors run along rows,
/// and planes of 7, 12, 14 or 28 leave a partial vector on every row), and a stride is only a
/// longer step between loads. Each block of 8 channels is copied once into a zero-padded scratch
/// (padded row, column, channel) by 8 × 8 transposes; outputs are computed 8 positions at a
/// time (8 independent FMA chains, one weight vector per tap) and transposed back into the
/// NCHW planes as they are stored. Every output is the same sum in the same order as on the
/// plane path — the bias, then every tap in (row, column) order, padding included — so the two
/// paths give the same bits.
mod blocked {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{Geometry, MIN_PARALLEL_MACS, kernels};

    /// Channels per block: one AVX2 vector.
    pub(super) const CHANNELS: usize = 8;

    /// Positions of one scratch row: every column the 8-wide output runs read.
    pub(super) fn scratch_cols(g: &Geometry) -> usize {
        (g.ow.div_ceil(8) * 8 - 1) * g.stride[1] + g.kw
    }

    /// The padded rows' scratch, kept per thread from call to call: a fresh one for every task
    /// (allocated and zeroed, though `fill_block` writes every float the sums read) was ~1 %
    /// of a word's time, as `memset`.
    struct Scratch(Vec<f32>);

    #[cfg(feature = "std")]
    std::thread_local! {
        static KEPT: core::cell::Cell<Vec<f32>> = const { core::cell::Cell::new(Vec::new()) };
    }

    impl Scratch {
        fn take() -> Scratch {
            #[cfg(feature = "std")]
            return Scratch(KEPT.with(core::cell::Cell::take));
            #[cfg(not(feature = "std"))]
            Scratch(Vec::new())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            // At most 4 MB kept per thread: more than any hand-network layer's rows take.
            #[cfg(feature = "std")]
            if self.0.len() <= 1 << 20 {
                KEPT.with(|kept| kept.set(core::mem::take(&mut self.0)));
            }
        }
    }

    /// `g.channels` must be a multiple of [`CHANNELS`]; the kernels need AVX2 and FMA.
    pub(super) fn conv2d(xd: &[f32], wd: &[f32], b: Option<&[f32]>, g: &Geometry, bounds: (f32, f32)) -> Vec<f32> {
        assert_eq!(g.channels % CHANNELS, 0);
        let taps = g.kh * g.kw;
        let cols = scratch_cols(g);
        let blocks = g.planes / CHANNELS;
        let per_image = g.channels / CHANNELS;
        // Weights as [channel block][tap][8 channels], so one tap of a block is one vector.
        let mut wt = vec![0.0f32; g.channels * taps];
        for (c, w) in wd.chunks_exact(taps).enumerate() {
            for (t, &v) in w.iter().enumerate() {
                wt[((c / CHANNELS) * taps + t) * CHANNELS + c % CHANNELS] = v;
            }
        }
        let zeros = vec![0.0f32; g.channels];
        let bias = b.unwrap_or(&zeros);
        let len = g.planes * g.oh * g.ow;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        // Output rows `rows` of block `blk` (whose 8 planes start `blk · 8` planes into `out`):
        // the padded input rows they read are copied into `scratch` (kept per thread, so it
        // stays in cache between the copy and the sums), then convolved.
        let run = |blk: usize, rows: core::ops::Range<usize>, out: *mut f32, scratch: &mut Vec<f32>| {
            let first = rows.start * g.stride[0];
            let padded = (rows.end - 1) * g.stride[0] + g.kh - first;
            if scratch.len() < padded * cols * CHANNELS {
                scratch.resize(padded * cols * CHANNELS, 0.0);
            }
            let c = (blk % per_image) * CHANNELS;
            let planes = &xd[blk * CHANNELS * g.h * g.w..][..CHANNELS * g.h * g.w];
            let (w, bias) = (&wt[c * taps..][..CHANNELS * taps], &bias[c..][..CHANNELS]);
            let out = out.wrapping_add(blk * CHANNELS * g.oh * g.ow);
            // SAFETY: AVX2/FMA checked by `supported`; the scratch holds `padded` rows, which
            // `fill_block` writes and `block_rows` reads; `out` is the block's first plane, and
            // no other task writes these rows.
            unsafe {
                kernels::fill_block(planes, g, cols, first..first + padded, scratch);
                kernels::block_rows(scratch, w, bias, bounds, g, cols, rows, out);
            }
        };
        let macs = len * taps;
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            let threads = rayon::current_num_threads();
            if macs >= MIN_PARALLEL_MACS && threads > 1 {
                // About four tasks per thread: few wide blocks (24 channels at 112²) are split
                // by rows (each task copying the rows it reads).
                let runs = (threads * 4).div_ceil(blocks).clamp(1, g.oh);
                let per_run = g.oh.div_ceil(runs);
                let runs = g.oh.div_ceil(per_run);
                let dst = super::super::SendMutPtr::new(out.as_mut_ptr());
                (0..blocks * runs).into_par_iter().for_each_init(Scratch::take, |scratch, t| {
                    let (blk, r) = (t / runs, t % runs);
                    let rows = r * per_run..((r + 1) * per_run).min(g.oh);
                    // SAFETY: offset 0 of the output's allocation.
                    run(blk, rows, unsafe { dst.ptr_add(0) }, &mut scratch.0);
                });
                // SAFETY: every row of every block was written by `block_rows`.
                unsafe { out.set_len(len) };
                return out;
            }
        }
        let _ = macs;
        let mut scratch = Scratch::take();
        for blk in 0..blocks {
            run(blk, 0..g.oh, out.as_mut_ptr(), &mut scratch.0);
        }
        // SAFETY: every row of every block was written by `block_rows`.
        unsafe { out.set_len(len) };
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use core::arch::x86_64::*;
    use core::mem::MaybeUninit;

    use super::Geometry;

    /// One output plane from its phase-split padded input, in register blocks of several
    /// output rows × one or two 8-wide vectors, each accumulator kept in a register over all
    /// taps. A tap's chain of FMAs is latency-bound (each waits for the previous one), so a
    /// block holds 8 independent chains where the plane allows: pairs of vectors four rows
    /// at a time, then the odd last vector eight rows at a time (small planes, 7 × 7 and
    /// 14 × 14, are mostly that).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `scratch` as `Geometry::fill_scratch` leaves it (every
    /// `offset + row · phase_w + x0 + 8` with x0 < ow rounded up to 8 in bounds); `w` holds
    /// one weight per offset; `y` holds oh × ow floats, which are all written.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn plane(scratch: &[f32], offsets: &[usize], w: &[f32], bias: f32, (min, max): (f32, f32), g: &Geometry, y: &mut [MaybeUninit<f32>]) {
        debug_assert_eq!(offsets.len(), w.len());
        debug_assert!(y.len() >= g.oh * g.ow);
        let rows = Rows {
            base: scratch.as_ptr(),
            step: g.stride[0] * g.phase_w,
            offsets,
            w,
            bias: _mm256_set1_ps(bias),
            min: _mm256_set1_ps(min),
            max: _mm256_set1_ps(max),
            ow: g.ow,
        };
        let vectors = g.ow.div_ceil(8);
        let pairs = vectors / 2;
        let mut oy = 0;
        while oy < g.oh {
            let r = (g.oh - oy).min(4);
            for p in 0..pairs {
                // SAFETY: rows oy..oy + r exist; vectors 2p and 2p + 1 start inside ow.
                unsafe {
                    match r {
                        4 => rows.block::<4, 2>(oy, 16 * p, y),
                        3 => rows.block::<3, 2>(oy, 16 * p, y),
                        2 => rows.block::<2, 2>(oy, 16 * p, y),
                        _ => rows.block::<1, 2>(oy, 16 * p, y),
                    }
                }
            }
            oy += r;
        }
        if vectors % 2 == 1 {
            let x0 = 16 * pairs;
            let mut oy = 0;
            while oy < g.oh {
                let r = (g.oh - oy).min(8);
                // SAFETY: rows oy..oy + r exist; the vector at x0 starts inside ow.
                unsafe {
                    match r {
                        8 => rows.block::<8, 1>(oy, x0, y),
                        7 => rows.block::<7, 1>(oy, x0, y),
                        6 => rows.block::<6, 1>(oy, x0, y),
                        5 => rows.block::<5, 1>(oy, x0, y),
                        4 => rows.block::<4, 1>(oy, x0, y),
                        3 => rows.block::<3, 1>(oy, x0, y),
                        2 => rows.block::<2, 1>(oy, x0, y),
                        _ => rows.block::<1, 1>(oy, x0, y),
                    }
                }
                oy += r;
            }
        }
    }

    /// What every register block of one plane shares.
    struct Rows<'a> {
        base: *const f32,
        /// Floats between the first tap of consecutive output rows.
        step: usize,
        offsets: &'a [usize],
        w: &'a [f32],
        bias: __m256,
        /// Bounds each output is clamped to before it is stored (infinite: no clamp).
        min: __m256,
        max: __m256,
        ow: usize,
    }

    impl Rows<'_> {
        /// Output rows `oy..oy + R`, positions `x0..x0 + 8 · V` (clipped to the row).
        ///
        /// # Safety
        /// As [`plane`], with `oy + R <= oh` and `x0 + 8 · (V − 1) < ow`.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn block<const R: usize, const V: usize>(&self, oy: usize, x0: usize, y: &mut [MaybeUninit<f32>]) {
            let mut acc = [[self.bias; V]; R];
            for (&off, &wk) in self.offsets.iter().zip(self.w) {
                let wv = _mm256_set1_ps(wk);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let src = self.base.wrapping_add((oy + r) * self.step + off + x0);
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: in bounds by the contract (phase rows reach ow rounded up
                        // to 8 plus the taps' reach).
                        *a = _mm256_fmadd_ps(wv, unsafe { _mm256_loadu_ps(src.add(8 * v)) }, *a);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let out = y[(oy + r) * self.ow..(oy + r + 1) * self.ow].as_mut_ptr().cast::<f32>();
                for (v, a) in acc.iter().enumerate() {
                    // `f32::clamp`: max/min return their second operand when either is NaN or
                    // both are zeros, so a NaN or −0.0 output is kept.
                    let a = &_mm256_min_ps(self.max, _mm256_max_ps(self.min, *a));
                    let x = x0 + 8 * v;
                    let n = (self.ow - x).min(8);
                    if n == 8 {
                        // SAFETY: x + 8 <= ow.
                        unsafe { _mm256_storeu_ps(out.add(x), *a) };
                    } else {
                        // Lanes 0..n only (a masked store writes nothing past them).
                        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                        // SAFETY: lanes x..x + n are inside `out`; masked lanes are not touched.
                        unsafe { _mm256_maskstore_ps(out.add(x), mask, *a) };
                    }
                }
            }
        }
    }

    /// The 8 × 8 transpose of `v` (row i becomes column i).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn transpose8(v: &mut [__m256; 8]) {
        let t0 = _mm256_unpacklo_ps(v[0], v[1]);
        let t1 = _mm256_unpackhi_ps(v[0], v[1]);
        let t2 = _mm256_unpacklo_ps(v[2], v[3]);
        let t3 = _mm256_unpackhi_ps(v[2], v[3]);
        let t4 = _mm256_unpacklo_ps(v[4], v[5]);
        let t5 = _mm256_unpackhi_ps(v[4], v[5]);
        let t6 = _mm256_unpacklo_ps(v[6], v[7]);
        let t7 = _mm256_unpackhi_ps(v[6], v[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        v[0] = _mm256_permute2f128_ps::<0x20>(u0, u4);
        v[1] = _mm256_permute2f128_ps::<0x20>(u1, u5);
        v[2] = _mm256_permute2f128_ps::<0x20>(u2, u6);
        v[3] = _mm256_permute2f128_ps::<0x20>(u3, u7);
        v[4] = _mm256_permute2f128_ps::<0x31>(u0, u4);
        v[5] = _mm256_permute2f128_ps::<0x31>(u1, u5);
        v[6] = _mm256_permute2f128_ps::<0x31>(u2, u6);
        v[7] = _mm256_permute2f128_ps::<0x31>(u3, u7);
    }

    /// Padded rows `rows` of one channel block for the channel-blocked path, into `s` from its
    /// start: each row `cols` positions of the 8 channels side by side, zero wherever the padded
    /// input is padding (every float of those rows is written).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` holds the block's 8 planes (8 · h · w floats) and `s`
    /// at least `rows.len() · cols · 8` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fill_block(x: &[f32], g: &Geometry, cols: usize, rows: core::ops::Range<usize>, s: &mut [f32]) {
        let plane = g.h * g.w;
        let row_len = cols * 8;
        assert!(x.len() >= 8 * plane && s.len() >= rows.len() * row_len);
        let (src, dst) = (x.as_ptr(), s.as_mut_ptr());
        // Input columns 0..nx land at scratch columns left..left + nx.
        let left = g.pad[1].min(cols);
        let nx = g.w.min(cols - left);
        for (i, r) in rows.enumerate() {
            // SAFETY (all writes below): inside row i of `s`, whose rows hold `row_len` floats;
            // reads inside the 8 planes of `x`.
            unsafe {
                let d = dst.add(i * row_len);
                let Some(iy) = r.checked_sub(g.pad[0]).filter(|&iy| iy < g.h) else {
                    core::ptr::write_bytes(d, 0, row_len);
                    continue;
                };
                core::ptr::write_bytes(d, 0, left * 8);
                let row = src.add(iy * g.w);
                let mut ix = 0;
                // 8 positions of the 8 planes at a time, transposed.
                while ix + 8 <= nx {
                    let mut v = [_mm256_setzero_ps(); 8];
                    for (j, v) in v.iter_mut().enumerate() {
                        *v = _mm256_loadu_ps(row.add(j * plane + ix));
                    }
                    transpose8(&mut v);
                    for (i, v) in v.iter().enumerate() {
                        _mm256_storeu_ps(d.add((left + ix + i) * 8), *v);
                    }
                    ix += 8;
                }
                for ix in ix..nx {
                    for j in 0..8 {
                        *d.add((left + ix) * 8 + j) = *row.add(j * plane + ix);
                    }
                }
                core::ptr::write_bytes(d.add((left + nx) * 8), 0, (cols - left - nx) * 8);
            }
        }
    }

    /// Output rows `rows` of one channel block: for each 8 positions of a row, 8 accumulators
    /// (one per position, the 8 channels in its lanes) start at the bias and take every tap in
    /// (row, column) order, are clamped, transposed to 8 positions per channel, and stored into
    /// the block's 8 output planes (the row's last positions by masked store).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `scratch` as [`fill_block`] left it for the padded rows
    /// from `rows.start · stride` to the last one these outputs read; `w` holds the
    /// block's taps × 8 weights and `bias` 8 floats; `out` points at the block's first output
    /// plane, with 8 planes of oh × ow floats writable behind it.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block_rows(scratch: &[f32], w: &[f32], bias: &[f32], (min, max): (f32, f32), g: &Geometry, cols: usize, rows: core::ops::Range<usize>, out: *mut f32) {
        let taps = g.kh * g.kw;
        assert!(w.len() >= taps * 8 && bias.len() >= 8);
        assert!(rows.start < rows.end && rows.end <= g.oh);
        let first = rows.start * g.stride[0];
        assert!(scratch.len() >= ((rows.end - 1) * g.stride[0] + g.kh - first) * cols * 8);
        assert!(super::blocked::scratch_cols(g) <= cols);
        let (sy, sx) = (g.stride[0], g.stride[1]);
        let plane_out = g.oh * g.ow;
        let row_len = cols * 8;
        // SAFETY: `bias` holds 8 floats.
        let b = unsafe { _mm256_loadu_ps(bias.as_ptr()) };
        let (minv, maxv) = (_mm256_set1_ps(min), _mm256_set1_ps(max));
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for oy in rows {
            let mut x0 = 0;
            while x0 < g.ow {
                let mut acc = [b; 8];
                for ky in 0..g.kh {
                    // SAFETY: padded row oy · sy + ky is in the scratch and every column read
                    // ((x0 + 7) · sx + kx < cols) is inside the scratch (asserted above).
                    let row = unsafe { scratch.as_ptr().add((oy * sy + ky - first) * row_len + x0 * sx * 8) };
                    for kx in 0..g.kw {
                        // SAFETY: tap ky · kw + kx < taps.
                        let wv = unsafe { _mm256_loadu_ps(w.as_ptr().add((ky * g.kw + kx) * 8)) };
                        let p = row.wrapping_add(kx * 8);
                        for (i, a) in acc.iter_mut().enumerate() {
                            // SAFETY: as above.
                            *a = _mm256_fmadd_ps(wv, unsafe { _mm256_loadu_ps(p.add(i * sx * 8)) }, *a);
                        }
                    }
                }
                for a in &mut acc {
                    // `f32::clamp`'s NaN and −0.0 behaviour, as in `plane`.
                    *a = _mm256_min_ps(maxv, _mm256_max_ps(minv, *a));
                }
                transpose8(&mut acc);
                let n = (g.ow - x0).min(8);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes);
                for (j, a) in acc.iter().enumerate() {
                    // SAFETY: plane j of the block, row oy, positions x0..x0 + n (< ow).
                    unsafe {
                        let o = out.add(j * plane_out + oy * g.ow + x0);
                        if n == 8 {
                            _mm256_storeu_ps(o, *a);
                        } else {
                            _mm256_maskstore_ps(o, mask, *a);
                        }
                    }
                }
                x0 += 8;
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernels {
    use super::Geometry;

    /// Never called: `supported` is false off x86-64.
    pub(super) unsafe fn plane(_: &[f32], _: &[usize], _: &[f32], _: f32, _: (f32, f32), _: &Geometry, _: &mut [core::mem::MaybeUninit<f32>]) {
        unreachable!("the depthwise kernels need x86-64 with AVX2 and FMA")
    }

    /// Never called: `supported` is false off x86-64.
    pub(super) unsafe fn fill_block(_: &[f32], _: &Geometry, _: usize, _: core::ops::Range<usize>, _: &mut [f32]) {
        unreachable!("the depthwise kernels need x86-64 with AVX2 and FMA")
    }

    /// Never called: `supported` is false off x86-64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block_rows(_: &[f32], _: &[f32], _: &[f32], _: (f32, f32), _: &Geometry, _: usize, _: core::ops::Range<usize>, _: *mut f32) {
        unreachable!("the depthwise kernels need x86-64 with AVX2 and FMA")
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use burn_backend::ops::ConvOptions;
    use burn_std::{Bytes, Shape};

    use crate::Layout;

    fn tensor(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
        FlexTensor::new(Bytes::from_elems(data), Layout::contiguous(Shape::from(shape.to_vec())), DType::F32)
    }

    fn vals(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0).collect()
    }

    /// The convolution by its definition, in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(x: &[f32], w: &[f32], b: &[f32], n: usize, c: usize, h: usize, wd: usize, k: [usize; 2], o: &ConvOptions<2>) -> (Vec<f32>, usize, usize) {
        let (pt, pb, pl, pr) = (o.padding[0].0, o.padding[0].1, o.padding[1].0, o.padding[1].1);
        let oh = (h + pt + pb - k[0]) / o.stride[0] + 1;
        let ow = (wd + pl + pr - k[1]) / o.stride[1] + 1;
        let mut y = vec![0.0f32; n * c * oh * ow];
        for p in 0..n * c {
            let ch = p % c;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[ch] as f64;
                    for ky in 0..k[0] {
                        for kx in 0..k[1] {
                            let iy = (oy * o.stride[0] + ky) as isize - pt as isize;
                            let ix = (ox * o.stride[1] + kx) as isize - pl as isize;
                            if (0..h as isize).contains(&iy) && (0..wd as isize).contains(&ix) {
                                acc += x[(p * h + iy as usize) * wd + ix as usize] as f64 * w[(ch * k[0] + ky) * k[1] + kx] as f64;
                            }
                        }
                    }
                    y[(p * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
        (y, oh, ow)
    }

    #[test]
    fn depthwise_matches_the_definition() {
        if !cpu_has_kernels() {
            return;
        }
        // (batch, channels, h, w, kernel, stride, padding (top, bottom, left, right)):
        // widths below, at and above one and two vectors, stride 2 with MediaPipe's asymmetric
        // padding, non-square kernels and planes, padding larger than the kernel's reach.
        let cases: [(usize, usize, usize, usize, [usize; 2], [usize; 2], [usize; 4]); 12] = [
            (1, 32, 12, 12, [5, 5], [1, 1], [2, 2, 2, 2]),
            (2, 3, 7, 7, [5, 5], [1, 1], [2, 2, 2, 2]),
            (1, 5, 96, 96, [5, 5], [1, 1], [2, 2, 2, 2]),
            (1, 4, 17, 23, [3, 3], [1, 1], [1, 1, 1, 1]),
            (1, 6, 96, 96, [5, 5], [2, 2], [1, 2, 1, 2]),
            (2, 3, 15, 9, [3, 3], [2, 2], [0, 1, 0, 1]),
            (1, 2, 10, 33, [3, 5], [1, 2], [1, 1, 2, 2]),
            (1, 3, 8, 8, [3, 3], [3, 3], [0, 0, 0, 0]),
            (1, 2, 5, 6, [3, 3], [1, 1], [3, 0, 0, 4]),
            (1, 3, 11, 13, [5, 5], [4, 4], [2, 1, 3, 2]),
            (1, 2, 9, 14, [3, 5], [3, 2], [1, 1, 1, 2]),
            (1, 3, 9, 11, [3, 3], [2, 2], [1, 1, 1, 1]),
        ];
        for (n, c, h, wd, k, stride, p) in cases {
            let options = ConvOptions::new_with_padding(stride, [(p[0], p[1]), (p[2], p[3])], [1, 1], c);
            let (xv, wv, bv) = (vals(n * c * h * wd, 1), vals(c * k[0] * k[1], 2), vals(c, 3));
            let x = tensor(xv.clone(), &[n, c, h, wd]);
            let w = tensor(wv.clone(), &[c, 1, k[0], k[1]]);
            assert!(supported(&x, &w, &options));
            let y = conv2d(x, w, Some(tensor(bv.clone(), &[c])), &options);
            let (expected, oh, ow) = reference(&xv, &wv, &bv, n, c, h, wd, k, &options);
            assert_eq!(y.layout().shape().to_vec(), vec![n, c, oh, ow]);
            let got: &[f32] = y.storage();
            for (i, (a, e)) in got.iter().zip(&expected).enumerate() {
                assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "case {n}×{c}×{h}×{wd} k {k:?} s {stride:?}: [{i}] {a} vs {e}");
            }
        }
    }

    #[test]
    fn channel_blocks_give_the_plane_paths_bits() {
        if !cpu_has_kernels() {
            return;
        }
        // (batch, channels, h, w, kernel, stride, padding (top, bottom, left, right)): the hand
        // networks' kinds of layer, widths below, at and past 8, a plane smaller than the
        // kernel, padding past the kernel's reach, strides 2 to 4, several channel blocks.
        let cases: [(usize, usize, usize, usize, [usize; 2], [usize; 2], [usize; 4]); 13] = [
            (1, 8, 7, 7, [5, 5], [1, 1], [2, 2, 2, 2]),
            (2, 16, 12, 12, [5, 5], [1, 1], [2, 2, 2, 2]),
            (1, 24, 17, 23, [3, 3], [1, 1], [1, 1, 1, 1]),
            (1, 8, 96, 96, [5, 5], [2, 2], [1, 2, 1, 2]),
            (1, 16, 15, 9, [3, 3], [2, 2], [0, 1, 0, 1]),
            (1, 8, 10, 33, [3, 5], [1, 2], [1, 1, 2, 2]),
            (1, 8, 8, 8, [3, 3], [3, 3], [0, 0, 0, 0]),
            (1, 8, 5, 6, [3, 3], [1, 1], [3, 0, 0, 4]),
            (1, 8, 11, 13, [5, 5], [4, 4], [2, 1, 3, 2]),
            (1, 16, 9, 14, [3, 5], [3, 2], [1, 1, 1, 2]),
            (1, 32, 56, 56, [3, 3], [1, 1], [1, 1, 1, 1]),
            (1, 8, 3, 4, [5, 5], [1, 1], [2, 2, 2, 2]),
            (2, 24, 28, 28, [5, 5], [1, 1], [2, 2, 2, 2]),
        ];
        for (n, c, h, wd, k, stride, p) in cases {
            let options = ConvOptions::new_with_padding(stride, [(p[0], p[1]), (p[2], p[3])], [1, 1], c);
            let g = Geometry::new(&[n, c, h, wd], &[c, 1, k[0], k[1]], &options).unwrap();
            // Signed zeros and a NaN among the inputs: the paths must agree on them too.
            let mut xv = vals(n * c * h * wd, 1);
            for (i, x) in xv.iter_mut().enumerate().step_by(37) {
                *x = [0.0, -0.0, f32::NAN][i % 3];
            }
            let (wv, bv) = (vals(c * k[0] * k[1], 2), vals(c, 3));
            for b in [Some(&bv[..]), None] {
                for bounds in [(f32::NEG_INFINITY, f32::INFINITY), (0.0, 6.0)] {
                    let blocks = blocked::conv2d(&xv, &wv, b, &g, bounds);
                    let planes = by_planes(&xv, &wv, b, &g, bounds);
                    assert_eq!(blocks.len(), planes.len());
                    for (i, (a, e)) in blocks.iter().zip(&planes).enumerate() {
                        assert_eq!(a.to_bits(), e.to_bits(), "case {n}×{c}×{h}×{wd} k {k:?} s {stride:?}: [{i}] {a} vs {e}");
                    }
                }
            }
        }
    }

    /// Per layer, batch 1, against upstream's depthwise path, on the hand networks' depthwise
    /// geometries: `cargo test --release --lib -- --ignored --nocapture conv2d_depthwise_speed`.
    #[test]
    #[ignore]
    fn conv2d_depthwise_speed() {
        use crate::ops::conv2d_gemm::speed::median_ms;
        for (c, side, k, stride) in [
            (32, 96, 5, 1),
            (64, 48, 5, 1),
            (128, 24, 5, 1),
            (256, 12, 5, 1),
            (24, 112, 3, 1),
            (144, 56, 3, 1),
            (240, 28, 5, 1),
            (672, 14, 5, 1),
            (1152, 7, 5, 1),
            (32, 96, 5, 2),
            (144, 56, 5, 2),
            (672, 14, 5, 2),
        ] {
            let options = ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], c);
            let x = tensor(vals(c * side * side, 1), &[1, c, side, side]);
            let w = tensor(vals(c * k * k, 2), &[c, 1, k, k]);
            let b = tensor(vals(c, 3), &[c]);
            let here = median_ms(|| drop(conv2d(x.clone(), w.clone(), Some(b.clone()), &options)));
            let g = Geometry::new(&[1, c, side, side], &[c, 1, k, k], &options).unwrap();
            let inf = (f32::NEG_INFINITY, f32::INFINITY);
            let planes = median_ms(|| drop(by_planes(x.storage(), w.storage(), Some(b.storage()), &g, inf)));
            let upstream = median_ms(|| drop(crate::ops::conv::conv2d_f32(x.clone(), w.clone(), Some(b.clone()), &options)));
            let o = (side + 2 * (k / 2) - k) / stride + 1;
            let gflop = 2.0 * (c * o * o * k * k) as f64 / 1e9;
            std::println!(
                "{c:>4} ch {side:>3}px {k}x{k} stride {stride}: {:.3} ms ({:.0} GFLOP/s), by planes {:.3} ms ({:.0} GFLOP/s), upstream {:.3} ms ({:.0} GFLOP/s)",
                here,
                gflop / here * 1e3,
                planes,
                gflop / planes * 1e3,
                upstream,
                gflop / upstream * 1e3
            );
        }
    }

    #[test]
    fn grouped_but_not_depthwise_is_not_taken() {
        let x = tensor(vals(2 * 4 * 8 * 8, 1), &[2, 4, 8, 8]);
        let w = tensor(vals(4 * 2 * 9, 2), &[4, 2, 3, 3]);
        assert!(!supported(&x, &w, &ConvOptions::new([1, 1], [1, 1], [1, 1], 2)));
        let w = tensor(vals(4 * 9, 2), &[4, 1, 3, 3]);
        assert!(!supported(&x, &w, &ConvOptions::new([1, 1], [1, 1], [2, 2], 4)), "dilation");
    }
}
