//! Winograd F(2×2, 3×3) convolution for f32: 3×3 kernels, stride 1, dilation 1, padding 1,
//! groups 1 (the "same" layers of a CNN), for the forward pass and the input gradient.
//!
//! Why: the direct kernels (`conv2d_direct`, `conv2d_narrow`) already run near the cores' FMA
//! peak, so what is left is doing less arithmetic. Winograd's minimal filtering computes each
//! 2 × 2 output tile from the 4 × 4 input window around it with 16 products per channel pair
//! instead of 36:
//!
//! ```text
//!   Y = Aᵀ [ Σ_ci U[co][ci] ⊙ V[ci] ] A,    U = G g Gᵀ (4 × 4 per 3 × 3 kernel),  V = Bᵀ d B
//! ```
//!
//! Over all tiles `t` this is 16 independent matrix products, one per Winograd point `ξ`:
//! `M[ξ] (co × t) = U[ξ] (co × ci) · V[ξ] (ci × t)`. They run on the direct convolution's
//! AVX2/FMA register tile (4 output channels × 16 tiles, one "tap" per input channel), which
//! reaches the cores' FMA peak; through the `gemm` crate the many thin products ran at a
//! half to a third of that. The tiles are taken in chunks of whole tile rows, small enough
//! that a chunk's transformed data (4× the input's size) stays in cache.
//! - input gradient: the same algorithm on the output gradient with the kernel flipped and
//!   its channel axes swapped (a padding-1 3×3 convolution's "full" convolution is padding 1).
//! - weight gradient: stays with the direct kernels. Its Winograd form (`Σ_t (A dY_t Aᵀ) ⊙
//!   (Bᵀ d_t B)`, then `Gᵀ · G`) sums over tiles, so each product is short and ends in
//!   horizontal sums; through the `gemm` crate it measured 1.5–4.6× slower than direct.
//!
//! The algorithm is exact in real arithmetic; in f32 its rounding differs from the direct sum
//! by a few ulps of the operands' magnitude (the transforms only add and halve).

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;

use super::conv2d_direct::{self, CO_BLOCK, Q_BLOCK};
use super::conv2d_gemm::f32_tensor;
use crate::FlexTensor;

/// Winograd points per tile (4 × 4).
const POINTS: usize = 16;

/// Floats of transformed data (input and output of the 16 products) per chunk of tiles: half
/// of a Zen 4 core's 1 MiB L2.
const CHUNK_FLOATS: usize = 1 << 17;

/// Fewer channels than this on either side stay with the direct kernels: the transforms'
/// cost grows with the channels, the products' with their product, and at 16 → 32 (32 × 32,
/// batch 32) the transforms took as long as the products (forward 1.54 ms direct against
/// 1.88 ms here, input gradient 1.58 against 2.20); from 24 channels on this path is faster.
const MIN_CHANNELS: usize = 24;

/// Fewer tiles (batch × tile rows × tile columns) than this stay with the other paths
/// (batch-1 inference of small layers, where the weight transform is most of the work).
const MIN_TILES: usize = 256;

/// Whether this convolution (its forward pass, or its input gradient) takes the Winograd path.
pub(crate) fn supported(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || xs.num_dims() != 4 || ws.num_dims() != 4 {
        return false;
    }
    let shape_ok = options.groups == 1
        && options.stride == [1, 1]
        && options.dilation == [1, 1]
        && (0..2).all(|i| options.padding[i] == (1, 1))
        && ws[2] == 3
        && ws[3] == 3
        && xs[0] > 0
        && ws[0] > 0
        && xs[1] == ws[1]
        && xs[2] > 0
        && xs[3] > 0;
    shape_ok && worth_it(&Tiles::new(xs[0], xs[1], ws[0], xs[2], xs[3])) && conv2d_direct::cpu_has_kernels()
}

/// The routing rule, from `conv2d_winograd_speed` below.
fn worth_it(t: &Tiles) -> bool {
    // The input transform gathers with 32-bit indices into the padded input (either side's
    // channels: the input gradient pads the output gradient).
    let padded = t.n * t.c_in.max(t.c_out) * (2 * t.th + 2) * (2 * t.tw + 2);
    t.c_in >= MIN_CHANNELS && t.c_out >= MIN_CHANNELS && t.n * t.th * t.tw >= MIN_TILES && padded < i32::MAX as usize
}

/// A padding-1 3×3 convolution cut into 2 × 2 output tiles.
#[derive(Debug, Clone, Copy)]
struct Tiles {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    /// Tile rows and columns per image (an odd size leaves a half tile, computed and dropped).
    th: usize,
    tw: usize,
}

impl Tiles {
    fn new(n: usize, c_in: usize, c_out: usize, h: usize, w: usize) -> Self {
        Tiles { n, c_in, c_out, h, w, th: h.div_ceil(2), tw: w.div_ceil(2) }
    }

    /// Tile rows over the whole batch (sample-major).
    fn tile_rows(&self) -> usize {
        self.n * self.th
    }

    /// Tile rows per chunk: as many as keep `16 · (c_in + c_out)` floats per tile within
    /// [`CHUNK_FLOATS`], at least one.
    fn rows_per_chunk(&self) -> usize {
        let tiles = CHUNK_FLOATS / (POINTS * (self.c_in + self.c_out));
        (tiles / self.tw).clamp(1, self.tile_rows())
    }

    /// Row length of a chunk's transformed data: its tiles, padded to whole register tiles.
    fn stride(&self) -> usize {
        (self.rows_per_chunk() * self.tw).next_multiple_of(Q_BLOCK)
    }

    fn chunks(&self) -> usize {
        self.tile_rows().div_ceil(self.rows_per_chunk())
    }

    /// The tile rows of chunk `c`.
    fn chunk(&self, c: usize) -> core::ops::Range<usize> {
        let r = self.rows_per_chunk();
        c * r..((c + 1) * r).min(self.tile_rows())
    }

    /// Output channel blocks of the register tile.
    fn co_blocks(&self) -> usize {
        self.c_out.div_ceil(CO_BLOCK)
    }
}

/// `U = G g Gᵀ` for every kernel `g = get(o, i)` (3 × 3, row-major), with
/// `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`, packed for the register tile:
/// `[ξ][o / 4][i][o % 4]`, zero for the channels past `outs`.
fn transform_weights(outs: usize, ins: usize, get: impl Fn(usize, usize) -> [f32; 9] + Sync) -> Vec<f32> {
    let blocks = outs.div_ceil(CO_BLOCK);
    // The points of row r of U (ξ = 4r..4r + 4) are one contiguous quarter of `u`: a task each.
    let quarter = 4 * blocks * ins * CO_BLOCK;
    let mut u = vec![0.0f32; 4 * quarter];
    let fill = |r: usize, dst: &mut [f32]| {
        for cb in 0..blocks {
            for i in 0..ins {
                for o in cb * CO_BLOCK..((cb + 1) * CO_BLOCK).min(outs) {
                    let g = get(o, i);
                    // Row r of Gg, then its 4 columns (Gg)Gᵀ.
                    let gr: [f32; 3] = core::array::from_fn(|c| {
                        let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
                        match r {
                            0 => a,
                            1 => 0.5 * (a + b + d),
                            2 => 0.5 * (a - b + d),
                            _ => d,
                        }
                    });
                    let [a, b, d] = gr;
                    for (c, v) in [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d].into_iter().enumerate() {
                        dst[((c * blocks + cb) * ins + i) * CO_BLOCK + o - cb * CO_BLOCK] = v;
                    }
                }
            }
        }
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        u.par_chunks_exact_mut(quarter).enumerate().for_each(|(r, dst)| fill(r, dst));
    }
    #[cfg(not(feature = "rayon"))]
    u.chunks_exact_mut(quarter).enumerate().for_each(|(r, dst)| fill(r, dst));
    u
}

/// Scratch for one thread: the chunk's transformed input and output. Kept
/// per thread between calls (`conv2d_direct::scratch`; every float is written before it is
/// read, so this only saves the allocation and its zero-filling).
struct Scratch {
    keys: [[usize; 10]; 2],
    v: Vec<f32>,
    m: Vec<f32>,
}

impl Scratch {
    fn take(t: &Tiles) -> Self {
        use conv2d_direct::scratch::take;
        let tp = t.stride();
        // Roles 100–101: apart from the direct kernels' buffers.
        let keys = [100, 101].map(|role| [role, t.n, t.c_in, t.c_out, t.h, t.w, 0, 0, 0, 0]);
        Scratch { v: take(keys[0], POINTS * t.c_in * tp), m: take(keys[1], POINTS * t.co_blocks() * CO_BLOCK * tp), keys }
    }

    fn give(self) {
        use conv2d_direct::scratch::give;
        give(self.keys[0], self.v);
        give(self.keys[1], self.m);
    }
}

/// The input with a zero border: planes of `hp × wp` = `(2·th + 2) × (2·tw + 2)`, the image
/// at (1, 1), so that every tile's 4 × 4 window lies inside its plane. Only the interior is
/// written: a buffer kept from a call of the same geometry is still zero elsewhere.
fn pad(t: &Tiles, channels: usize, src: &[f32]) -> (Vec<f32>, [usize; 10]) {
    let (hp, wp) = (2 * t.th + 2, 2 * t.tw + 2);
    let key = [103, t.n, channels, t.h, t.w, 0, 0, 0, 0, 0];
    let mut xp = conv2d_direct::scratch::take(key, t.n * channels * hp * wp);
    let fill = |plane: usize, dst: &mut [f32]| {
        let img = &src[plane * t.h * t.w..][..t.h * t.w];
        for (y, line) in img.chunks_exact(t.w).enumerate() {
            dst[(1 + y) * wp + 1..][..t.w].copy_from_slice(line);
        }
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        xp.par_chunks_exact_mut(hp * wp).enumerate().for_each(|(plane, dst)| fill(plane, dst));
    }
    #[cfg(not(feature = "rayon"))]
    xp.chunks_exact_mut(hp * wp).enumerate().for_each(|(plane, dst)| fill(plane, dst));
    (xp, key)
}

/// `v[ξ][c][t − tiles.start] = (Bᵀ d B)[ξ]` (rows of `tp` floats) for the tiles `tiles`
/// (numbered over the batch, sample-major) and each channel `c` of the padded input `xp`
/// ([`pad`]), `d` being the tile's 4 × 4 window;
/// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`.
///
/// Vectorised over 8 tiles at a time, each lane gathering its own window: along a row the
/// windows overlap with a stride of 2, and the rows of the small layers are only 3–12 tiles
/// long, too short for row-wise vector loops (those ran scalar and took half the time).
fn transform_input(t: &Tiles, channels: usize, xp: &[f32], tiles: core::ops::Range<usize>, tp: usize, v: &mut [f32]) {
    let (hp, wp) = (2 * t.th + 2, 2 * t.tw + 2);
    let per_image = t.th * t.tw;
    // Each tile's window corner in channel 0 of its sample; the last group repeats the last tile.
    let count = tiles.len();
    let corner = |i: usize| {
        let g = tiles.start + i.min(count - 1);
        let (s, r) = (g / per_image, g % per_image);
        (s * channels * hp * wp + 2 * (r / t.tw) * wp + 2 * (r % t.tw)) as i32
    };
    let corners: Vec<i32> = (0..count.next_multiple_of(8)).map(corner).collect();
    assert!(count > 0 && count.next_multiple_of(8) <= tp && xp.len() == t.n * channels * hp * wp && xp.len() < i32::MAX as usize && v.len() >= POINTS * channels * tp);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `supported` checked AVX2/FMA; every gathered index is a window position of a
    // tile of `xp` (asserted sizes), every store one of the `tp`-float rows of `v`.
    unsafe {
        gather_transform(xp, hp * wp, wp, channels, &corners, tp, v)
    };
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the Winograd convolution runs on x86-64 only ({t:?}, {}, {}, {tp})", xp.len(), v.len());
}

/// The kernel of [`transform_input`].
///
/// # Safety
/// AVX2 must be available; `xp` holds `channels` planes of `plane` floats after each corner,
/// each corner + 3·wp + 3 inside its plane; `v` holds 16 · channels rows of `tp` ≥
/// `corners.len()` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_transform(xp: &[f32], plane: usize, wp: usize, channels: usize, corners: &[i32], tp: usize, v: &mut [f32]) {
    use core::arch::x86_64::*;
    for c in 0..channels {
        let base = unsafe { xp.as_ptr().add(c * plane) };
        for (group, idx) in corners.chunks_exact(8).enumerate() {
            let idx = unsafe { _mm256_loadu_si256(idx.as_ptr().cast()) };
            // d[r][col], gathered for the 8 tiles.
            let d = |r: usize, col: usize| unsafe { _mm256_i32gather_ps::<4>(base.add(r * wp + col), idx) };
            // Column pass over the rows: e[k][col] = Σ_r Bᵀ[k][r] d[r][col].
            let mut e = [[_mm256_setzero_ps(); 4]; 4];
            for col in 0..4 {
                let (d0, d1, d2, d3) = (d(0, col), d(1, col), d(2, col), d(3, col));
                e[0][col] = _mm256_sub_ps(d0, d2);
                e[1][col] = _mm256_add_ps(d1, d2);
                e[2][col] = _mm256_sub_ps(d2, d1);
                e[3][col] = _mm256_sub_ps(d1, d3);
            }
            // Row pass: v[4k + l] = Σ_col Bᵀ[l][col] e[k][col].
            for (k, [a, b, cc, dd]) in e.into_iter().enumerate() {
                let out = [_mm256_sub_ps(a, cc), _mm256_add_ps(b, cc), _mm256_sub_ps(cc, b), _mm256_sub_ps(b, dd)];
                for (l, o) in out.into_iter().enumerate() {
                    let at = ((4 * k + l) * channels + c) * tp + group * 8;
                    debug_assert!(at + 8 <= v.len());
                    unsafe { _mm256_storeu_ps(v.as_mut_ptr().add(at), o) };
                }
            }
        }
    }
}

/// `m[ξ][o][0..tiles] = Σ_i U[ξ][o][i] · v[ξ][i][0..tiles]`: the 16 products, on the direct
/// convolution's 4 × 16 register tile with one offset (one "tap") per input channel.
fn multiply(t: &Tiles, upk: &[f32], offsets: &[usize], v: &[f32], tiles: usize, tp: usize, m: &mut [f32]) {
    let (blocks, block_w) = (t.co_blocks(), t.c_in * CO_BLOCK);
    assert!(offsets.len() == t.c_in && tiles <= tp && tp % Q_BLOCK == 0 && upk.len() >= POINTS * blocks * block_w && v.len() >= POINTS * t.c_in * tp && m.len() >= POINTS * blocks * CO_BLOCK * tp);
    #[cfg(target_arch = "x86_64")]
    for x in 0..POINTS {
        let vx = &v[x * t.c_in * tp..][..t.c_in * tp];
        for cb in 0..blocks {
            let w = &upk[(x * blocks + cb) * block_w..][..block_w];
            let mx = &mut m[(x * blocks + cb) * CO_BLOCK * tp..][..CO_BLOCK * tp];
            for q0 in (0..tiles).step_by(Q_BLOCK) {
                // SAFETY: `supported` checked AVX2/FMA; every read `offsets[i] + q0 + 16 ≤
                // (c_in − 1)·tp + tp` lies in `vx`, the 4 × 16 writes in `mx` (rows of tp,
                // q0 + 16 ≤ tp), the weights `c_in · 4` floats in `w` (asserted above).
                unsafe { conv2d_direct::kernels::forward_tile(vx.as_ptr().add(q0), offsets, w.as_ptr(), mx.as_mut_ptr().add(q0), tp, [0.0; CO_BLOCK]) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the Winograd convolution runs on x86-64 only ({t:?}, {}, {}, {}, {tiles}, {tp})", upk.len(), v.len(), m.len());
}

/// Write `Y = Aᵀ M A (+ bias)` for the tiles `tiles` (numbered over the batch) into `dst`
/// (`n × channels × h × w`), `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`; `m` is `[ξ][rows_m][tp]`.
/// Vectorised over 8 tiles at a time like [`transform_input`]; each lane's 2 × 2 outputs are
/// then stored to its place (dropping those past an odd edge).
///
/// # Safety
/// `dst` must point to `n · channels · h · w` floats that no other thread writes in these
/// tiles.
#[allow(clippy::too_many_arguments)]
unsafe fn transform_output(t: &Tiles, channels: usize, m: &[f32], rows_m: usize, tp: usize, tiles: core::ops::Range<usize>, bias: Option<&[f32]>, dst: *mut f32) {
    let per_image = t.th * t.tw;
    let plane = t.h * t.w;
    // Each tile's output corner in channel 0 of its sample, and which of its 2 × 2 outputs
    // lie in the image (bit 0: the right column, bit 1: the lower row).
    let places: Vec<(usize, u8)> = tiles
        .clone()
        .map(|g| {
            let (s, r) = (g / per_image, g % per_image);
            let (y, x) = (2 * (r / t.tw), 2 * (r % t.tw));
            (s * channels * plane + y * t.w + x, u8::from(x + 1 < t.w) | (u8::from(y + 1 < t.h) << 1))
        })
        .collect();
    assert!(tiles.len().next_multiple_of(8) <= tp && m.len() >= POINTS * rows_m * tp && channels <= rows_m && bias.is_none_or(|b| b.len() >= channels));
    // Groups of 8 whole tiles side by side in one row: their outputs are two runs of 16
    // floats, stored as vectors (rows of 16 or 8 tiles, the 32 and 16 wide layers).
    let in_row: Vec<bool> = places.chunks(8).map(|l| l.len() == 8 && l.iter().all(|p| p.1 == 3) && l[7].0 == l[0].0 + 14).collect();
    for c in 0..channels {
        let b = bias.map_or(0.0, |b| b[c]);
        let out = unsafe { dst.add(c * plane) };
        for (group, lanes) in places.chunks(8).enumerate() {
            let mut y = [[0.0f32; 8]; 4];
            let row = in_row[group].then(|| (unsafe { out.add(lanes[0].0) }, t.w));
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `supported` checked AVX2; the 16 reads of 8 floats lie in `m`'s rows
            // (group · 8 + 8 ≤ tp, asserted above); for a group in one row, its two runs of
            // 16 outputs lie in this channel's plane, which the caller gave to this thread.
            unsafe {
                untransform_8(m.as_ptr().add(c * tp + group * 8), rows_m * tp, b, &mut y, row)
            };
            if row.is_some() {
                continue;
            }
            for (lane, &(at, inside)) in lanes.iter().enumerate() {
                // SAFETY: the corner and the outputs `inside` marks lie in this channel's
                // plane, which the caller gave to this thread.
                unsafe {
                    let p = out.add(at);
                    *p = y[0][lane];
                    if inside & 1 != 0 {
                        *p.add(1) = y[1][lane];
                    }
                    if inside & 2 != 0 {
                        *p.add(t.w) = y[2][lane];
                        if inside & 1 != 0 {
                            *p.add(t.w + 1) = y[3][lane];
                        }
                    }
                }
            }
        }
    }
}

/// `y = [Y00, Y01, Y10, Y11] + bias` for 8 tiles whose `M[ξ]` rows start at `m + ξ · stride`;
/// with `row = (p, w)` (8 whole tiles side by side), stored instead as the two output rows
/// of 16 floats at `p` and `p + w`.
///
/// # Safety
/// AVX2 must be available; `m + ξ · stride` readable for 8 floats for every ξ < 16; with
/// `row`, `p` and `p + w` writable for 16 floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn untransform_8(m: *const f32, stride: usize, bias: f32, y: &mut [[f32; 8]; 4], row: Option<(*mut f32, usize)>) {
    use core::arch::x86_64::*;
    let at = |x: usize| unsafe { _mm256_loadu_ps(m.add(x * stride)) };
    // s_a[j] = Σ_i Aᵀ[a][i] M[i][j] (rows first), then Y[a][b] = Σ_j Aᵀ[b][j] s_a[j].
    let mut s = [[_mm256_setzero_ps(); 4]; 2];
    for j in 0..4 {
        let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    let b = _mm256_set1_ps(bias);
    for (a, [s0, s1, s2, s3]) in s.into_iter().enumerate() {
        let left = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), s2), b);
        let right = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1, s2), s3), b);
        match row {
            Some((p, w)) => {
                // Interleave left/right: l0 r0 l1 r1 … l7 r7.
                let (lo, hi) = (_mm256_unpacklo_ps(left, right), _mm256_unpackhi_ps(left, right));
                unsafe {
                    let p = p.add(a * w);
                    _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
                    _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
                }
            }
            None => unsafe {
                _mm256_storeu_ps(y[2 * a].as_mut_ptr(), left);
                _mm256_storeu_ps(y[2 * a + 1].as_mut_ptr(), right);
            },
        }
    }
}

/// A raw output pointer shared by threads that write disjoint tile rows.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: the threads write disjoint elements (see `convolve`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

/// The convolution of `src` (`n × t.c_in × h × w`) with packed Winograd-domain weights `upk`
/// ([`transform_weights`]), padding 1, plus `bias`: `n × t.c_out × h × w`.
fn convolve(t: &Tiles, src: &[f32], upk: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let len = t.n * t.c_out * t.h * t.w;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let dst = SharedOut(out.as_mut_ptr());
    let tp = t.stride();
    let offsets: Vec<usize> = (0..t.c_in).map(|i| i * tp).collect();
    let (xp, xp_key) = pad(t, t.c_in, src);
    let chunk = |c: usize, sc: &mut Scratch| {
        let rows = t.chunk(c);
        let tiles = rows.len() * t.tw;
        transform_input(t, t.c_in, &xp, rows.start * t.tw..rows.end * t.tw, tp, &mut sc.v);
        multiply(t, upk, &offsets, &sc.v, tiles, tp, &mut sc.m);
        let dst = dst;
        // SAFETY: `out` has room for `len` floats and chunks cover disjoint tile rows, so
        // disjoint output rows.
        unsafe { transform_output(t, t.c_out, &sc.m, t.co_blocks() * CO_BLOCK, tp, rows.start * t.tw..rows.end * t.tw, bias, dst.0) };
    };
    // One contiguous run of chunks (and one scratch) per thread.
    let run = |chunks: core::ops::Range<usize>| {
        let mut sc = Scratch::take(t);
        chunks.for_each(|c| chunk(c, &mut sc));
        sc.give();
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let runs = rayon::current_num_threads().min(t.chunks());
        let per = t.chunks().div_ceil(runs);
        (0..runs).into_par_iter().for_each(|r| run(r * per..((r + 1) * per).min(t.chunks())));
    }
    #[cfg(not(feature = "rayon"))]
    run(0..t.chunks());
    conv2d_direct::scratch::give(xp_key, xp);
    // SAFETY: the chunks cover every tile row, and each tile row's output transform wrote
    // every output of its rows (2ty, 2ty + 1 within the image) for every channel.
    unsafe { out.set_len(len) };
    out
}

/// Forward: `[N, Ci, H, W] ⊛ [Co, Ci, 3, 3] (+ bias) → [N, Co, H, W]`.
pub(crate) fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, _options: &ConvOptions<2>) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    let t = Tiles::new(xs[0], xs[1], ws[0], xs[2], xs[3]);
    let wd: &[f32] = weight.storage();
    let upk = transform_weights(t.c_out, t.c_in, |o, i| core::array::from_fn(|k| wd[(o * t.c_in + i) * 9 + k]));
    let bias = bias.map(|b| b.to_contiguous());
    let out = convolve(&t, x.storage(), &upk, bias.as_ref().map(|b| b.storage::<f32>()));
    f32_tensor(out, vec![t.n, t.c_out, t.h, t.w])
}

/// Gradient of the input: the output gradient convolved (padding 1) with the kernel flipped
/// and its channel axes swapped.
pub(crate) fn conv2d_x_backward(x: FlexTensor, weight: FlexTensor, output_grad: FlexTensor, _options: &ConvOptions<2>) -> FlexTensor {
    let (weight, dy) = (weight.to_contiguous(), output_grad.to_contiguous());
    let x_shape = x.layout().shape().to_vec();
    let ws = weight.layout().shape();
    let (c_out, c_in) = (ws[0], ws[1]);
    // The forward convolution this gradient is: dy (c_out channels) → dx (c_in channels).
    let t = Tiles::new(x_shape[0], c_out, c_in, x_shape[2], x_shape[3]);
    let wd: &[f32] = weight.storage();
    let upk = transform_weights(c_in, c_out, |i, o| core::array::from_fn(|k| wd[(o * c_in + i) * 9 + 8 - k]));
    f32_tensor(convolve(&t, dy.storage(), &upk, None), x_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d_gemm;

    fn tensor(len: usize, shape: Vec<usize>, seed: u32) -> FlexTensor {
        // A cheap deterministic spread of values in [−1, 1).
        let data = (0..len as u32).map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed.wrapping_mul(40503)) >> 8) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0).collect();
        f32_tensor(data, shape)
    }

    fn close(a: &FlexTensor, b: &FlexTensor, what: &str) {
        let (a, b): (&[f32], &[f32]) = (a.storage(), b.storage());
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * scale, "{what}: [{i}] {x} vs {y}");
        }
    }

    /// Against the GEMM path: odd and even sizes (half tiles), one tile wide, chunks that
    /// cross samples, channel counts that are not multiples of anything.
    #[test]
    fn matches_the_gemm_path() {
        if !conv2d_direct::cpu_has_kernels() {
            return; // The kernels need AVX2/FMA; `supported` routes other CPUs elsewhere.
        }
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for (n, ci, co, h, w) in [(2, 16, 16, 8, 8), (3, 17, 19, 7, 9), (1, 20, 33, 1, 1), (5, 16, 24, 6, 6), (2, 48, 96, 12, 12), (1, 24, 48, 24, 24), (4, 3, 5, 5, 2)] {
            let x = tensor(n * ci * h * w, vec![n, ci, h, w], 1);
            let wt = tensor(co * ci * 9, vec![co, ci, 3, 3], 2);
            let b = tensor(co, vec![co], 3);
            let dy = tensor(n * co * h * w, vec![n, co, h, w], 4);
            let what = format!("n {n}, {ci} -> {co}, {h} x {w}");
            close(&conv2d(x.clone(), wt.clone(), Some(b.clone()), &options), &conv2d_gemm::conv2d(x.clone(), wt.clone(), Some(b), &options), &format!("forward, {what}"));
            close(&conv2d_x_backward(x.clone(), wt.clone(), dy.clone(), &options), &conv2d_gemm::conv2d_x_backward(x, wt, dy, &options), &format!("input gradient, {what}"));
        }
    }

    #[test]
    fn routing() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let take = |n: usize, ci: usize, co: usize, s: usize, options: &ConvOptions<2>| supported(&tensor(n * ci * s * s, vec![n, ci, s, s], 0), &tensor(co * ci * 9, vec![co, ci, 3, 3], 0), options);
        // Taken wherever the register tile runs (x86-64 with AVX2 and FMA), else nowhere.
        assert_eq!(take(32, 48, 96, 12, &options), conv2d_direct::cpu_has_kernels());
        assert_eq!(take(32, 24, 48, 24, &options), conv2d_direct::cpu_has_kernels());
        assert!(!take(32, 16, 32, 32, &options), "16 channels stay direct");
        assert!(!take(32, 3, 24, 48, &options), "3 input channels stay direct");
        assert!(!take(1, 96, 192, 6, &options), "batch-1 inference of a small layer: too few tiles");
        assert!(!take(32, 48, 96, 12, &ConvOptions::new([2, 2], [1, 1], [1, 1], 1)), "stride 2");
        assert!(!take(32, 48, 96, 12, &ConvOptions::new([1, 1], [0, 0], [1, 1], 1)), "padding 0");
    }
}

/// Speed next to the direct kernels, per layer of asl's networks at batch 32:
/// `cargo test --release --lib -- --ignored --nocapture conv2d_winograd_speed`.
#[cfg(test)]
mod speed {
    use super::*;
    use crate::ops::conv2d_direct;
    use crate::ops::conv2d_gemm::speed::median_ms;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn conv2d_winograd_speed() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for (ci, co, s) in [(16, 32, 32), (32, 64, 16), (24, 48, 24), (48, 96, 12), (96, 192, 6)] {
            let n = 32;
            let x = f32_tensor(vec![0.5; n * ci * s * s], vec![n, ci, s, s]);
            let w = f32_tensor(vec![0.1; co * ci * 9], vec![co, ci, 3, 3]);
            let dy = f32_tensor(vec![0.2; n * co * s * s], vec![n, co, s, s]);
            let gflop = 2.0 * (n * co * ci * 9 * s * s) as f64 / 1e9;
            // Alternate the two paths per pass so that both see the same minutes of the VM.
            let mut row = Vec::new();
            for pass in 0..2 {
                let run = |winograd: bool| match (pass, winograd) {
                    (0, true) => median_ms(|| drop(conv2d(x.clone(), w.clone(), None, &options))),
                    (0, false) => median_ms(|| drop(conv2d_direct::conv2d(x.clone(), w.clone(), None, &options))),
                    (_, true) => median_ms(|| drop(conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options))),
                    (_, false) => median_ms(|| drop(conv2d_direct::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options))),
                };
                let (d, wg) = (run(false), run(true));
                row.push(format!("{} direct {d:.2} ms ({:.0} GFLOP/s), winograd {wg:.2} ms ({:.0} eq.)", ["fwd", "x-grad"][pass], gflop / d * 1e3, gflop / wg * 1e3));
            }
            std::println!("{ci:>2}->{co:<3} {s:>2}px  {}", row.join("  |  "));
        }
    }

    /// Where a forward pass's time goes, on one thread (weights and padding use the pool):
    /// `cargo test --release --lib -- --ignored --nocapture conv2d_winograd_phases`.
    #[test]
    #[ignore]
    fn conv2d_winograd_phases() {
        for (n, ci, co, sz) in [(32, 48, 96, 12), (32, 96, 192, 6), (32, 24, 48, 24), (32, 16, 32, 32)] {
            let t = Tiles::new(n, ci, co, sz, sz);
            let src = vec![0.5f32; n * ci * sz * sz];
            let w = vec![0.1f32; co * ci * 9];
            let mut out = vec![0.0f32; n * co * sz * sz];
            let tp = t.stride();
            let offsets: Vec<usize> = (0..t.c_in).map(|i| i * tp).collect();
            let mut sc = Scratch::take(&t);
            let mut tm = [0.0f64; 5];
            for _ in 0..20 {
                let s0 = Instant::now();
                let upk = transform_weights(co, ci, |o, i| core::array::from_fn(|k| w[(o * ci + i) * 9 + k]));
                let s1 = Instant::now();
                let (xp, key) = pad(&t, ci, &src);
                let s2 = Instant::now();
                let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
                for ch in 0..t.chunks() {
                    let rows = t.chunk(ch);
                    let tiles = rows.len() * t.tw;
                    let q0 = Instant::now();
                    transform_input(&t, ci, &xp, rows.start * t.tw..rows.end * t.tw, tp, &mut sc.v);
                    let q1 = Instant::now();
                    multiply(&t, &upk, &offsets, &sc.v, tiles, tp, &mut sc.m);
                    let q2 = Instant::now();
                    // SAFETY: `out` holds the whole output and only this thread writes it.
                    unsafe { transform_output(&t, co, &sc.m, t.co_blocks() * CO_BLOCK, tp, rows.start * t.tw..rows.end * t.tw, None, out.as_mut_ptr()) };
                    let q3 = Instant::now();
                    a += (q1 - q0).as_secs_f64(); b += (q2 - q1).as_secs_f64(); c += (q3 - q2).as_secs_f64();
                }
                conv2d_direct::scratch::give(key, xp);
                tm[0] += (s1 - s0).as_secs_f64(); tm[1] += (s2 - s1).as_secs_f64(); tm[2] += a; tm[3] += b; tm[4] += c;
            }
            let gf = 2.0 * (16 * co * ci * t.n * t.th * t.tw) as f64 / 1e9;
            std::println!("{ci}->{co} {sz}px one thread, ms: weights {:.3} pad {:.3} input {:.3} multiply {:.3} ({:.0} GFLOP/s) output {:.3}; tp {tp}", tm[0] * 50.0, tm[1] * 50.0, tm[2] * 50.0, tm[3] * 50.0, gf / (tm[3] / 20.0), tm[4] * 50.0);
        }
    }
}
