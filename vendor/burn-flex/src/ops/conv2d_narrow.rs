//! The direct convolution of `conv2d_direct` for narrow images (outputs under 16 wide: the
//! 12 × 12 and 6 × 6 layers at the end of a CNN, with many channels), vectorised over output
//! channels instead of positions.
//!
//! Why: vectorising over positions computes the dropped columns of every padded row (a quarter
//! of the work at 6 wide); here a register tile is 6 output pixels × 16 output channels, the
//! pixels are gathered by offset (only real outputs are computed), and each input value is
//! one broadcast:
//! - forward / input gradient: `y[p][co..co+16] += x[ci][pix(p) + shift] · w[ci, tap][co..co+16]`,
//!   the tile stored pixel-major and transposed back to NCHW per sample;
//! - weight gradient: `dw[ci, tap][co..co+16] += x[ci][pix(q) + shift] · dyᵀ[q][co..co+16]` over
//!   every pixel `q` of a run of samples (the output gradient transposed pixel-major first).
//!
//! Same geometry (`Plan`), padding and scratch handling as `conv2d_direct`.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

use super::conv2d_direct::{Plan, pack_weights, pad_into, scratch, sum_over_sample_runs};

/// Output channels per register tile (2 vectors of 8).
pub(super) const CO_BLOCK: usize = 16;
/// Output pixels (forward) or (input channel, tap) pairs (weight gradient) per register tile:
/// 6 × 2 accumulators + 2 weight vectors + 1 broadcast fit AVX2's 16 registers.
const ROWS: usize = 6;
/// (Input channel, tap) pairs per pass of the forward kernel: 16 KiB of weights.
const K_CHUNK: usize = 256;

#[cfg(target_arch = "x86_64")]
mod kernels {
    use super::{CO_BLOCK, ROWS};
    use core::arch::x86_64::*;

    /// `y[i][0..16] (+)= Σ_k x[koffs[k] + pix[i]] · w[k][0..16]` for the 6 pixels `i` of a
    /// tile (added to `y` when `accumulate`).
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` readable at every `koffs[k] + pix[i]`; `w` holds
    /// `koffs.len() · 16` floats; `y` 6 rows of 16 floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward_tile(x: *const f32, koffs: &[usize], pix: [usize; ROWS], w: *const f32, y: *mut f32, accumulate: bool) {
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        if accumulate {
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: `y` holds 6 rows of 16.
                unsafe { *a = [_mm256_loadu_ps(y.add(i * CO_BLOCK)), _mm256_loadu_ps(y.add(i * CO_BLOCK + 8))] };
            }
        }
        // Locals, so the six offsets stay in registers through the loop.
        let [p0, p1, p2, p3, p4, p5] = pix;
        for (k, &ko) in koffs.iter().enumerate() {
            // SAFETY (every pointer below): in bounds by the contract above.
            let (w0, w1, xb) = unsafe { (_mm256_loadu_ps(w.add(k * CO_BLOCK)), _mm256_loadu_ps(w.add(k * CO_BLOCK + 8)), x.add(ko)) };
            for (a, p) in acc.iter_mut().zip([p0, p1, p2, p3, p4, p5]) {
                let b = _mm256_set1_ps(unsafe { *xb.add(p) });
                a[0] = _mm256_fmadd_ps(b, w0, a[0]);
                a[1] = _mm256_fmadd_ps(b, w1, a[1]);
            }
        }
        for (i, a) in acc.iter().enumerate() {
            unsafe {
                _mm256_storeu_ps(y.add(i * CO_BLOCK), a[0]);
                _mm256_storeu_ps(y.add(i * CO_BLOCK + 8), a[1]);
            }
        }
    }

    /// `acc[j][0..16] += Σ_q x[koffs[j] + qoffs[q]] · dyt[q][0..16]` for the 6 (input channel,
    /// tap) pairs `j` of a tile.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `x` readable at every `koffs[j] + qoffs[q]`; `dyt` holds
    /// `qoffs.len()` rows of 16 floats; `acc` 6 rows of 16 floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn weight_tile(x: *const f32, koffs: [usize; ROWS], qoffs: &[usize], dyt: *const f32, acc: *mut f32) {
        let mut a = [[_mm256_setzero_ps(); 2]; ROWS];
        let [k0, k1, k2, k3, k4, k5] = koffs;
        for (q, &qo) in qoffs.iter().enumerate() {
            // SAFETY (every pointer below): in bounds by the contract above.
            let (d0, d1, xb) = unsafe { (_mm256_loadu_ps(dyt.add(q * CO_BLOCK)), _mm256_loadu_ps(dyt.add(q * CO_BLOCK + 8)), x.add(qo)) };
            for (r, k) in a.iter_mut().zip([k0, k1, k2, k3, k4, k5]) {
                let b = _mm256_set1_ps(unsafe { *xb.add(k) });
                r[0] = _mm256_fmadd_ps(b, d0, r[0]);
                r[1] = _mm256_fmadd_ps(b, d1, r[1]);
            }
        }
        for (j, r) in a.iter().enumerate() {
            unsafe {
                let (o0, o1) = (acc.add(j * CO_BLOCK), acc.add(j * CO_BLOCK + 8));
                _mm256_storeu_ps(o0, _mm256_add_ps(_mm256_loadu_ps(o0), r[0]));
                _mm256_storeu_ps(o1, _mm256_add_ps(_mm256_loadu_ps(o1), r[1]));
            }
        }
    }
}

impl Plan {
    fn co_blocks16(&self) -> usize {
        self.c_out.div_ceil(CO_BLOCK)
    }

    /// Offset of every output pixel's window corner in a padded plane, padded to whole tiles
    /// by repeating the last pixel (its results land in rows that are never read).
    fn pixel_offsets(&self) -> Vec<usize> {
        let mut pix: Vec<usize> = (0..self.oh).flat_map(|oy| (0..self.ow).map(move |ox| oy * self.wp + ox)).collect();
        let last = *pix.last().unwrap_or(&0);
        pix.resize(pix.len().next_multiple_of(ROWS), last);
        pix
    }

    /// `ci · channel_stride + shift(tap)` for every (input channel, tap), in weight order.
    fn tap_offsets(&self, channel_stride: usize) -> Vec<usize> {
        let shifts = self.shifts();
        (0..self.c_in).flat_map(|ci| shifts.iter().map(move |s| ci * channel_stride + s)).collect()
    }
}

/// Forward (or input gradient) for every sample of `input` (`n × c_in·h·w`); `get(co, ci,
/// tap)` reads the logical weight. Returns `n × c_out·oh·ow`.
pub(super) fn convolve(p: &Plan, n: usize, input: &[f32], get: impl Fn(usize, usize, usize) -> f32 + Sync, bias: Option<&[f32]>) -> Vec<f32> {
    let blocks = p.co_blocks16();
    let ks = p.c_in * p.taps();
    // Weights as [co block][k][16], zero past c_out.
    let wpk = pack_weights(p, CO_BLOCK, get);
    let koffs = p.tap_offsets(p.plane);
    let pix = p.pixel_offsets();
    let tiles = pix.len() / ROWS;
    let block_len = pix.len() * CO_BLOCK;
    let (in_len, out_len, plane_out) = (p.in_len(), p.out_len(), p.oh * p.ow);
    assert!(koffs.iter().max().copied().unwrap_or(0) + pix.last().copied().unwrap_or(0) < p.c_in * p.plane);

    // One block of 16 output channels of one sample: `yt` = [pixel][16].
    // (The (channel, tap) pairs go in chunks whose weights stay in L1 across the pixel tiles:
    // 96 channels × 9 taps × 16 outputs is 55 KiB.)
    let block = |xp: &[f32], cb: usize, yt: &mut [f32]| {
        let w = &wpk[cb * ks * CO_BLOCK..(cb + 1) * ks * CO_BLOCK];
        for k0 in (0..ks).step_by(K_CHUNK) {
            let k1 = (k0 + K_CHUNK).min(ks);
            for t in 0..tiles {
                let px: [usize; ROWS] = core::array::from_fn(|i| pix[t * ROWS + i]);
                let out = &mut yt[t * ROWS * CO_BLOCK..(t + 1) * ROWS * CO_BLOCK];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `supported` checked AVX2/FMA; every read `koff + pix` lies in `xp`
                // (asserted above), `w` holds ks × 16 weights, `out` 6 × 16 floats.
                unsafe {
                    kernels::forward_tile(xp.as_ptr(), &koffs[k0..k1], px, w[k0 * CO_BLOCK..].as_ptr(), out.as_mut_ptr(), k0 > 0)
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!("the direct convolution runs on x86-64 only ({px:?}, {}, {}, {k1})", w.len(), out.len());
            }
        }
    };
    // `yt` ([co block][pixel][16]) back to NCHW, plus the bias.
    let unpad = |yt: &[f32], y: &mut [MaybeUninit<f32>]| {
        for co in 0..p.c_out {
            let (cb, j) = (co / CO_BLOCK, co % CO_BLOCK);
            let b = bias.map_or(0.0, |b| b[co]);
            let src = &yt[cb * block_len..];
            for (q, d) in y[co * plane_out..(co + 1) * plane_out].iter_mut().enumerate() {
                d.write(src[q * CO_BLOCK + j] + b);
            }
        }
    };
    let xp_key = p.key(4, 1);
    let mut out: Vec<f32> = Vec::with_capacity(n * out_len);
    let dst = &mut out.spare_capacity_mut()[..n * out_len];
    let one_sample = |s: usize, y: &mut [MaybeUninit<f32>], xp: &mut [f32], yt: &mut [f32]| {
        pad_into(&input[s * in_len..(s + 1) * in_len], p, xp);
        for (cb, ytb) in yt.chunks_exact_mut(block_len).enumerate() {
            block(xp, cb, ytb);
        }
        unpad(yt, y);
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let threads = rayon::current_num_threads();
        if n >= threads {
            let per = n.div_ceil(threads);
            dst.par_chunks_mut(per * out_len).enumerate().for_each(|(c, ys)| {
                let (mut xp, mut yt) = (scratch::take(xp_key, p.c_in * p.plane), vec![0.0f32; blocks * block_len]);
                for (k, y) in ys.chunks_exact_mut(out_len).enumerate() {
                    one_sample(c * per + k, y, &mut xp, &mut yt);
                }
                scratch::give(xp_key, xp);
            });
        } else {
            let (mut xp, mut yt) = (scratch::take(xp_key, p.c_in * p.plane), vec![0.0f32; blocks * block_len]);
            for (s, y) in dst.chunks_exact_mut(out_len).enumerate() {
                pad_into(&input[s * in_len..(s + 1) * in_len], p, &mut xp);
                yt.par_chunks_exact_mut(block_len).enumerate().for_each(|(cb, ytb)| block(&xp, cb, ytb));
                unpad(&yt, y);
            }
            scratch::give(xp_key, xp);
        }
    }
    #[cfg(not(feature = "rayon"))]
    {
        let (mut xp, mut yt) = (scratch::take(xp_key, p.c_in * p.plane), vec![0.0f32; blocks * block_len]);
        for (s, y) in dst.chunks_exact_mut(out_len).enumerate() {
            one_sample(s, y, &mut xp, &mut yt);
        }
        scratch::give(xp_key, xp);
    }
    // SAFETY: `unpad` wrote every one of the `n · out_len` outputs.
    unsafe { out.set_len(n * out_len) };
    out
}

/// Weight gradient `dw[co][ci][tap]` from the inputs `xd` (`n × c_in·h·w`) and output
/// gradients `dyd` (`n × c_out·oh·ow`).
pub(super) fn weight_grad(p: &Plan, n: usize, xd: &[f32], dyd: &[f32]) -> Vec<f32> {
    let (taps, blocks) = (p.taps(), p.co_blocks16());
    let ks = p.c_in * taps;
    let groups = ks.div_ceil(ROWS);
    let (in_len, out_len, plane_out) = (p.in_len(), p.out_len(), p.oh * p.ow);
    let acc_len = blocks * groups * ROWS * CO_BLOCK;

    let partial = |samples: core::ops::Range<usize>| -> Vec<f32> {
        let count = samples.len();
        // The run's padded inputs, one row per channel (samples `plane` apart), and its output
        // gradients pixel-major: [co block][sample · pixel][16].
        let x_row = count * p.plane;
        let x_key = p.key(5, count);
        let mut xl = scratch::take(x_key, p.c_in * x_row);
        let rows = count * plane_out;
        let mut dyt = vec![0.0f32; blocks * rows * CO_BLOCK];
        for (k, s) in samples.enumerate() {
            let xs = &xd[s * in_len..(s + 1) * in_len];
            for ci in 0..p.c_in {
                for iy in 0..p.h {
                    let at = ci * x_row + k * p.plane + (p.ph + iy) * p.wp + p.pw;
                    xl[at..at + p.w].copy_from_slice(&xs[(ci * p.h + iy) * p.w..][..p.w]);
                }
            }
            let dys = &dyd[s * out_len..(s + 1) * out_len];
            for co in 0..p.c_out {
                let (cb, j) = (co / CO_BLOCK, co % CO_BLOCK);
                for (q, &g) in dys[co * plane_out..(co + 1) * plane_out].iter().enumerate() {
                    dyt[(cb * rows + k * plane_out + q) * CO_BLOCK + j] = g;
                }
            }
        }
        // Window corner of every pixel of the run.
        let qoffs: Vec<usize> = (0..count).flat_map(|k| (0..p.oh).flat_map(move |oy| (0..p.ow).map(move |ox| k * p.plane + oy * p.wp + ox))).collect();
        // (input channel, tap) offsets, padded to whole tiles with offset 0 (results dropped).
        let mut koffs = p.tap_offsets(x_row);
        koffs.resize(groups * ROWS, 0);
        assert!(koffs.iter().max().copied().unwrap_or(0) + qoffs.last().copied().unwrap_or(0) < xl.len());
        let mut acc = vec![0.0f32; acc_len];
        for cb in 0..blocks {
            let d = &dyt[cb * rows * CO_BLOCK..(cb + 1) * rows * CO_BLOCK];
            for g in 0..groups {
                let ko: [usize; ROWS] = core::array::from_fn(|i| koffs[g * ROWS + i]);
                let at = (cb * groups + g) * ROWS * CO_BLOCK;
                let tile = &mut acc[at..at + ROWS * CO_BLOCK];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `supported` checked AVX2/FMA; every read `koff + qoff` lies in `xl`
                // (asserted above); `d` holds one row of 16 per pixel, `tile` 6 × 16 floats.
                unsafe {
                    kernels::weight_tile(xl.as_ptr(), ko, &qoffs, d.as_ptr(), tile.as_mut_ptr())
                };
                #[cfg(not(target_arch = "x86_64"))]
                unreachable!("the direct convolution runs on x86-64 only ({ko:?}, {}, {})", d.len(), tile.len());
            }
        }
        scratch::give(x_key, xl);
        acc
    };
    let acc = sum_over_sample_runs(n, acc_len, partial);

    // acc[co block][k][16] → dw[co][k] (no division per weight, as in `pack_weights`).
    let mut dw = vec![0.0f32; p.c_out * ks];
    for (co, row) in dw.chunks_exact_mut(ks).enumerate() {
        let src = &acc[(co / CO_BLOCK) * groups * ROWS * CO_BLOCK + co % CO_BLOCK..];
        for (k, v) in row.iter_mut().enumerate() {
            *v = src[k * CO_BLOCK];
        }
    }
    dw
}
