//! The rotated square regions the networks see, and how they are sampled.
//!
//! [`palm_to_roi`] is PalmDetectionDetectionToRoi (DetectionsToRectsCalculator +
//! RectTransformationCalculator); [`warp`] is ImageToTensorCalculator's OpenCV converter
//! (image_to_tensor_converter_opencv.cc: `cv::warpPerspective(..., INTER_LINEAR)` on the u8
//! image). Geometry is in f64 because the spec (and OpenCV's warp coordinates) use double:
//! a coordinate that moves by one f32 ulp can land in the next 1/32-pixel bin.
use std::f64::consts::PI;

use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::palm::PalmDetection;

/// Palm keypoints that set the hand's rotation: wrist (0) → middle-finger MCP (2).
const ROT_KEYPOINT_START: usize = 0;
const ROT_KEYPOINT_END: usize = 2;
/// The wrist→MCP vector should point up (90°).
const ROT_TARGET_ANGLE: f64 = PI / 2.0;
/// RectTransformationCalculator: shift_x unset, shift_y −0.5 (of the box height, along the
/// hand's axis), scale 2.6, square_long.
const ROI_SHIFT_X: f64 = 0.0;
const ROI_SHIFT_Y: f64 = -0.5;
const ROI_SCALE: f64 = 2.6;

/// OpenCV's INTER_BITS: source coordinates are quantised to 1/32 pixel.
const INTER_BITS: u32 = 5;
const INTER_TAB_SIZE: i64 = 1 << INTER_BITS;
/// Bilinear weights are products of two 1/32 fractions: units of 1/1024.
const WEIGHT_BITS: u32 = 2 * INTER_BITS;
/// Pixel → [0, 1] factor as the spec's to_tensor applies it: f32(1/255), then multiply.
const PIXEL_SCALE: f32 = (1.0f64 / 255.0) as f32;

/// A square in image pixels, rotated by `rotation` radians about its centre (clockwise on
/// screen, since y points down). `side` is the square's edge in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Roi {
    /// x of the square's centre, in image pixels.
    pub x_center: f64,
    /// y of the square's centre, in image pixels (y points down).
    pub y_center: f64,
    /// Edge length in pixels.
    pub side: f64,
    /// Rotation about the centre in radians (clockwise on screen); [`palm_to_roi`] wraps it
    /// into [−π, π).
    pub rotation: f64,
}

/// What a bilinear tap outside the image reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Black (BORDER_ZERO): the palm detector's letterbox.
    Zero,
    /// The nearest edge pixel (BORDER_REPLICATE): the landmark crop.
    Replicate,
}

/// `a` wrapped into [−π, π) (MediaPipe's NormalizeRadians).
pub fn normalize_radians(a: f64) -> f64 {
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// The hand ROI of one palm detection (box and keypoints normalised to the image, after
/// letterbox removal), in pixels of a `width` × `height` image.
pub fn palm_to_roi(palm: &PalmDetection, width: u32, height: u32) -> Roi {
    let (w, h) = (f64::from(width), f64::from(height));
    let [xmin, ymin, xmax, ymax] = palm.bbox;
    let mut cx = (xmin + xmax) / 2.0 * w;
    let mut cy = (ymin + ymax) / 2.0 * h;
    let bw = (xmax - xmin) * w;
    let bh = (ymax - ymin) * h;
    // Rotation from pixel coordinates: the image may not be square.
    let [x0, y0] = palm.keypoints[ROT_KEYPOINT_START];
    let [x1, y1] = palm.keypoints[ROT_KEYPOINT_END];
    let (x0, y0, x1, y1) = (x0 * w, y0 * h, x1 * w, y1 * h);
    let rotation = normalize_radians(ROT_TARGET_ANGLE - (-(y1 - y0)).atan2(x1 - x0));
    // The shift is along the rotated axes (pixel form of TransformNormalizedRect).
    let (c, s) = (rotation.cos(), rotation.sin());
    cx += bw * ROI_SHIFT_X * c - bh * ROI_SHIFT_Y * s;
    cy += bw * ROI_SHIFT_X * s + bh * ROI_SHIFT_Y * c;
    let side = bw.max(bh) * ROI_SCALE;
    Roi {
        x_center: cx,
        y_center: cy,
        side,
        rotation,
    }
}

/// Samples `roi` of `img` into an `out_size` × `out_size` image, as MediaPipe does.
///
/// MediaPipe maps the square's corners onto the output's corners (0, 0) … (N, N) and OpenCV
/// evaluates that map at integer output coordinates, so output pixel (u, v) reads the source
/// at `top_left + u·step·e_x + v·step·e_y` with no half-pixel offset (pixel centres are at
/// integer coordinates on both sides). The expressions follow the spec's
/// `sample_rotated_rect` term by term so that the f64 results are identical.
/// An empty `img` gives a black output.
pub fn warp(img: &RgbImage, roi: &Roi, out_size: u32, border: Border) -> RgbImage {
    let mut out = RgbImage::new(out_size, out_size);
    if img.width() == 0 || img.height() == 0 {
        return out;
    }
    let n = f64::from(out_size);
    let (c, s) = (roi.rotation.cos(), roi.rotation.sin());
    let (w, h) = (roi.side, roi.side);
    let (sx_u, sy_u) = (c * w / n, s * w / n); // source step per output column
    let (sx_v, sy_v) = (-s * h / n, c * h / n); // source step per output row
    let x0 = roi.x_center - 0.5 * w * c + 0.5 * h * s; // top-left corner
    let y0 = roi.y_center - 0.5 * w * s - 0.5 * h * c;
    if out_size == 0 {
        return out;
    }
    // Rows in parallel: the two crops of a photo are ~90,000 samples (5 % of a photo's time
    // on one thread before `warp_row`'s fast path, ~3 % after).
    out.par_chunks_mut(3 * out_size as usize)
        .enumerate()
        .for_each(|(v, row)| {
            let vf = v as f64;
            // Output pixel u of this row reads the source here.
            let source = |u: usize| {
                let uf = u as f64;
                (x0 + uf * sx_u + vf * sx_v, y0 + uf * sy_u + vf * sy_v)
            };
            warp_row(img, source, row, border);
        });
    out
}

/// One output row of [`warp`]: `source(u)` is where its pixel u reads `img`. The same values
/// as [`sample_bilinear`] at every pixel, without its general case where it cannot apply: a
/// row whose two ends lie within ±2^25 px (the coordinate in 1/32 px within ±2^30) has every
/// sample between them there too (each coordinate is monotone in u: a product and two sums,
/// each rounded monotonically), so the rounding needs neither the clamp to the i32 range nor
/// a NaN case; inside samples read their four pixels straight from the rows, and a sample
/// wholly outside the image on a black border is black. (1.9× the per-sample path on the palm
/// and landmark crops of a 640 × 480 photo.)
fn warp_row(img: &RgbImage, source: impl Fn(usize) -> (f64, f64), row: &mut [u8], border: Border) {
    let n = row.len() / 3;
    let scale = INTER_TAB_SIZE as f64;
    let near = |(x, y): (f64, f64)| (x * scale).abs() < (1u64 << 30) as f64 && (y * scale).abs() < (1u64 << 30) as f64;
    if n == 0 || !(near(source(0)) && near(source(n - 1))) {
        for (u, px) in row.chunks_exact_mut(3).enumerate() {
            let (sx, sy) = source(u);
            px.copy_from_slice(&sample_bilinear(img, sx, sy, border));
        }
        return;
    }
    let raw = img.as_raw();
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let stride = 3 * img.width() as usize;
    let one = INTER_TAB_SIZE as u32;
    for (u, px) in row.chunks_exact_mut(3).enumerate() {
        let (sx, sy) = source(u);
        let (qx, qy) = (round_to_int(sx * scale), round_to_int(sy * scale));
        let (ix, iy) = (qx >> INTER_BITS, qy >> INTER_BITS);
        if !((0..w - 1).contains(&ix) && (0..h - 1).contains(&iy)) {
            if border == Border::Zero && (ix < -1 || ix >= w || iy < -1 || iy >= h) {
                px.fill(0); // all four taps black
            } else {
                px.copy_from_slice(&sample_bilinear(img, sx, sy, border));
            }
            continue;
        }
        let (fx, fy) = ((qx & (INTER_TAB_SIZE - 1)) as u32, (qy & (INTER_TAB_SIZE - 1)) as u32);
        let top = 3 * (iy * w + ix) as usize;
        let (above, below) = (&raw[top..top + 6], &raw[top + stride..top + stride + 6]);
        let weights = [(one - fx) * (one - fy), fx * (one - fy), (one - fx) * fy, fx * fy];
        // `sample_bilinear`'s blend, written out here in u32 (a shared helper taking the four
        // pixels as an array measured slower in this loop); weights sum to 1024, so the
        // rounded sum fits a u8.
        let mix = |c: usize| {
            let sum = u32::from(above[c]) * weights[0]
                + u32::from(above[c + 3]) * weights[1]
                + u32::from(below[c]) * weights[2]
                + u32::from(below[c + 3]) * weights[3];
            ((sum + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS) as u8
        };
        px[0] = mix(0);
        px[1] = mix(1);
        px[2] = mix(2);
    }
}

/// OpenCV's fixed-point bilinear sample of a u8 image at (sx, sy), following
/// imgproc/src/imgwarp.cpp (warpPerspective → remap, INTER_LINEAR):
/// - the coordinate is multiplied by INTER_TAB_SIZE = 32 and rounded half to even
///   (`saturate_cast<int>`, clamped to the int range first); its integer part (>> 5) is the
///   top-left tap and the low 5 bits the fraction;
/// - the 2-D weights `(1 − fx)(1 − fy)` etc. are exact multiples of 1/1024 here
///   (INTER_REMAP_COEF_BITS = 15 gives 32× these integers), so the sum is exact;
/// - the result is rounded half up to u8 (`(sum + 2^14) >> 15`).
///
/// `img` must not be empty.
pub fn sample_bilinear(img: &RgbImage, sx: f64, sy: f64, border: Border) -> [u8; 3] {
    let (qx, qy) = (quantise(sx), quantise(sy));
    let (ix, fx) = (qx >> INTER_BITS, qx & (INTER_TAB_SIZE - 1));
    let (iy, fy) = (qy >> INTER_BITS, qy & (INTER_TAB_SIZE - 1));
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let pixels = if (0..w - 1).contains(&ix) && (0..h - 1).contains(&iy) {
        // All four inside (most samples): read them straight from the rows.
        let raw = img.as_raw();
        let top = 3 * (iy * w + ix) as usize;
        let bottom = top + 3 * w as usize;
        let at = |i: usize| [raw[i], raw[i + 1], raw[i + 2]];
        [at(top), at(top + 3), at(bottom), at(bottom + 3)]
    } else {
        [
            tap(img, ix, iy, border),
            tap(img, ix + 1, iy, border),
            tap(img, ix, iy + 1, border),
            tap(img, ix + 1, iy + 1, border),
        ]
    };
    let weights = [
        (INTER_TAB_SIZE - fx) * (INTER_TAB_SIZE - fy),
        fx * (INTER_TAB_SIZE - fy),
        (INTER_TAB_SIZE - fx) * fy,
        fx * fy,
    ];
    let mut out = [0u8; 3];
    for (ch, value) in out.iter_mut().enumerate() {
        let sum: i64 = pixels
            .iter()
            .zip(&weights)
            .map(|(px, weight)| i64::from(px[ch]) * weight)
            .sum();
        let rounded = (sum + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS;
        // Weights sum to 1024, so the result is already within 0..=255.
        *value = rounded.clamp(0, 255) as u8;
    }
    out
}

/// 1.5 · 2^52: added to |x| < 2^51 it leaves no fraction bits, so the addition itself rounds
/// half to even (the constant is even, so it keeps the parity).
const ROUNDING_SHIFT: f64 = 6_755_399_441_055_744.0;

/// `x.round_ties_even()` as an integer, for |x| ≤ 2^50: the rounded sum with
/// [`ROUNDING_SHIFT`] holds it in its low 52 bits, offset by 2^51.
fn round_to_int(x: f64) -> i64 {
    const MANTISSA: i64 = (1 << 52) - 1;
    (((x + ROUNDING_SHIFT).to_bits() as i64) & MANTISSA) - (1 << 51)
}

/// `x.round_ties_even()` without the libm call it compiles to on baseline x86-64 (no SSE4.1;
/// it was 1.4 % of a photo's time): below 2^51 in magnitude, adding 1.5 · 2^52 leaves no
/// fraction bits, so the addition itself rounds half to even, and the even constant keeps
/// the parity.
fn round_ties_even(x: f64) -> f64 {
    if x.abs() < 2_251_799_813_685_248.0 {
        // 2^51
        (x + ROUNDING_SHIFT) - ROUNDING_SHIFT
    } else {
        x.round_ties_even()
    }
}

/// A coordinate in 1/32 pixels, as OpenCV's `saturate_cast<int>(x * INTER_TAB_SIZE)`.
fn quantise(x: f64) -> i64 {
    let scaled = round_ties_even(x * INTER_TAB_SIZE as f64);
    // Clamped like OpenCV (to int) so that tap + 1 cannot overflow; NaN becomes 0.
    scaled.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
}

/// One source pixel; outside the image it is black or the nearest edge pixel.
fn tap(img: &RgbImage, x: i64, y: i64, border: Border) -> [u8; 3] {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let inside = (0..w).contains(&x) && (0..h).contains(&y);
    if !inside && border == Border::Zero {
        return [0; 3];
    }
    // Clamped values lie in 0..w and 0..h, which fit u32.
    img.get_pixel(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32).0
}

/// An RGB image → NCHW [1, 3, H, W] f32 in [0, 1] (ImageToTensorCalculator's
/// output_tensor_float_range {min: 0 max: 1}), multiplied by f32(1/255) as the spec does
/// (dividing by 255 would differ in the last bit for some values).
pub fn to_nchw(img: &RgbImage) -> Vec<f32> {
    // One plane after another, appended: no zero-filled buffer written twice.
    let mut out = Vec::with_capacity(img.as_raw().len());
    for ch in 0..3 {
        out.extend(img.as_raw().chunks_exact(3).map(|px| f32::from(px[ch]) * PIXEL_SCALE));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// An image whose pixels all differ, so that a wrong mapping shows.
    fn pattern(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 29 + y * 7) as u8, (x * 3 + y * 31 + 5) as u8, (x * y + 11) as u8])
        })
    }

    #[test]
    fn centred_square_of_the_output_size_reproduces_the_pixels() {
        let img = pattern(8, 8);
        let roi = Roi {
            x_center: 4.0,
            y_center: 4.0,
            side: 8.0,
            rotation: 0.0,
        };
        for border in [Border::Zero, Border::Replicate] {
            assert_eq!(warp(&img, &roi, 8, border), img);
        }
    }

    #[test]
    fn rotation_by_90_degrees_maps_known_pixels() {
        let n = 8u32;
        let img = pattern(n, n);
        let roi = Roi {
            x_center: 4.0,
            y_center: 4.0,
            side: 8.0,
            rotation: PI / 2.0,
        };
        let rep = warp(&img, &roi, n, Border::Replicate);
        let zero = warp(&img, &roi, n, Border::Zero);
        // e_x = (0, 1), e_y = (−1, 0), top-left corner (8, 0): out(u, v) = src(8 − v, u).
        for u in 0..n {
            for v in 1..n {
                assert_eq!(rep.get_pixel(u, v), img.get_pixel(n - v, u), "({u}, {v})");
                assert_eq!(zero.get_pixel(u, v), img.get_pixel(n - v, u), "({u}, {v})");
            }
            // Column x = 8 is just outside: replicated edge, or black.
            assert_eq!(rep.get_pixel(u, 0), img.get_pixel(n - 1, u));
            assert_eq!(zero.get_pixel(u, 0).0, [0, 0, 0]);
        }
    }

    #[test]
    fn sampling_quantises_to_1_32_pixel_and_rounds_half_up() {
        let img = RgbImage::from_fn(2, 1, |x, _| Rgb([if x == 0 { 0 } else { 255 }, 100, 1]));
        // Halfway: 127.5 → 128 (half up); equal neighbours keep their value.
        assert_eq!(sample_bilinear(&img, 0.5, 0.0, Border::Replicate), [128, 100, 1]);
        // 1/64 px is half a step, rounded to even (0);
        // 3/64 rounds to 2/32: 255 · 2/32 = 15.9 → 16.
        assert_eq!(sample_bilinear(&img, 1.0 / 64.0, 0.0, Border::Replicate)[0], 0);
        assert_eq!(sample_bilinear(&img, 3.0 / 64.0, 0.0, Border::Replicate)[0], 16);
        // Halfway into the zero border above: 255 · 1/2 → 128 (half up).
        assert_eq!(sample_bilinear(&img, 1.0, -0.5, Border::Zero)[0], 128);
        assert_eq!(sample_bilinear(&img, 1.0, -0.5, Border::Replicate)[0], 255);
    }

    #[test]
    fn rounding_is_half_to_even_like_the_standard_library() {
        let mut values = vec![0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e15 + 0.5, -1e15 - 0.5];
        values.extend([2f64.powi(51), -(2f64.powi(51)), 2f64.powi(51) - 0.5, 1e300, f64::MAX]);
        values.extend((-4000..4000).map(|i| f64::from(i) / 64.0 + 1e-3 * f64::from(i % 7)));
        for x in values {
            assert_eq!(round_ties_even(x), x.round_ties_even(), "{x}");
        }
        assert!(round_ties_even(f64::NAN).is_nan());
    }

    /// The four taps read straight from the rows (all inside) and through the border rules
    /// give the same sample, at every 1/32 pixel across the image and its edges.
    #[test]
    fn inside_samples_read_directly_match_the_bordered_taps() {
        let img = pattern(5, 4);
        let bordered = |sx: f64, sy: f64, border| {
            let (qx, qy) = (quantise(sx), quantise(sy));
            let (ix, fx) = (qx >> INTER_BITS, qx & (INTER_TAB_SIZE - 1));
            let (iy, fy) = (qy >> INTER_BITS, qy & (INTER_TAB_SIZE - 1));
            let taps = [
                (tap(&img, ix, iy, border), (INTER_TAB_SIZE - fx) * (INTER_TAB_SIZE - fy)),
                (tap(&img, ix + 1, iy, border), fx * (INTER_TAB_SIZE - fy)),
                (tap(&img, ix, iy + 1, border), (INTER_TAB_SIZE - fx) * fy),
                (tap(&img, ix + 1, iy + 1, border), fx * fy),
            ];
            [0, 1, 2].map(|ch| {
                let sum: i64 = taps.iter().map(|(px, w)| i64::from(px[ch]) * w).sum();
                ((sum + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS) as u8
            })
        };
        for border in [Border::Zero, Border::Replicate] {
            for y in -40..=160 {
                for x in -40..=200 {
                    let (sx, sy) = (f64::from(x) / 32.0, f64::from(y) / 32.0);
                    assert_eq!(
                        sample_bilinear(&img, sx, sy, border),
                        bordered(sx, sy, border),
                        "({sx}, {sy})"
                    );
                }
            }
        }
    }

    #[test]
    fn warp_reads_every_pixel_as_the_per_sample_definition() {
        let img = pattern(37, 23);
        let mut rois = Vec::new();
        for i in 0..60 {
            let f = f64::from(i);
            rois.push(Roi {
                x_center: -20.0 + 1.3 * f,
                y_center: 30.0 - 0.9 * f,
                side: 5.0 + 1.7 * f,
                rotation: -3.0 + 0.11 * f,
            });
        }
        // Far outside: wholly outside but within the fast rows' range (1e6), past that range
        // (4e7: 1.28e9 in 1/32 px), past the i32 range (1e12), not a number, infinite.
        for (x_center, side) in [
            (1e6, 50.0),
            (4e7, 10.0),
            (1e12, 1e12),
            (f64::NAN, 10.0),
            (10.0, f64::INFINITY),
        ] {
            rois.push(Roi {
                x_center,
                y_center: 11.0,
                side,
                rotation: 0.4,
            });
        }
        for roi in &rois {
            for border in [Border::Zero, Border::Replicate] {
                for n in [1u32, 7, 16] {
                    let got = warp(&img, roi, n, border);
                    let nf = f64::from(n);
                    let (c, s) = (roi.rotation.cos(), roi.rotation.sin());
                    let (x0, y0) = (
                        roi.x_center - 0.5 * roi.side * c + 0.5 * roi.side * s,
                        roi.y_center - 0.5 * roi.side * s - 0.5 * roi.side * c,
                    );
                    for v in 0..n {
                        for u in 0..n {
                            let (uf, vf) = (f64::from(u), f64::from(v));
                            let sx = x0 + uf * (c * roi.side / nf) + vf * (-s * roi.side / nf);
                            let sy = y0 + uf * (s * roi.side / nf) + vf * (c * roi.side / nf);
                            let want = sample_bilinear(&img, sx, sy, border);
                            assert_eq!(got.get_pixel(u, v).0, want, "{roi:?} {border:?} n {n} ({u}, {v})");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn integer_rounding_is_half_to_even() {
        for i in -70_000..70_000 {
            let x = f64::from(i) / 8.0 + if i % 3 == 0 { 1e-9 } else { 0.0 };
            assert_eq!(round_to_int(x), x.round_ties_even() as i64, "{x}");
        }
        for x in [2f64.powi(40) + 0.5, -(2f64.powi(40)) - 0.5, 2f64.powi(50) - 1.5] {
            assert_eq!(round_to_int(x), x.round_ties_even() as i64, "{x}");
        }
    }

    #[test]
    fn roi_from_a_reference_palm() {
        // Photo A of tests/data/hands/reference.json (640×480): palm box and keypoints
        // 0 and 2 in pixels, and MediaPipe's hand_rects_from_palm.
        let (w, h) = (640.0, 480.0);
        let (xmin, ymin, bw, bh) = (338.3349, 234.6866, 96.8362, 96.7306);
        let mut keypoints = [[0.0; 2]; 7];
        keypoints[0] = [413.3735 / w, 326.6748 / h];
        keypoints[2] = [378.3348 / w, 241.8119 / h];
        let palm = PalmDetection {
            score: 0.97,
            bbox: [xmin / w, ymin / h, (xmin + bw) / w, (ymin + bh) / h],
            keypoints,
        };
        let roi = palm_to_roi(&palm, 640, 480);
        assert!((roi.x_center - 368.2951).abs() < 1e-3, "{roi:?}");
        assert!((roi.y_center - 238.3472).abs() < 1e-3, "{roi:?}");
        assert!((roi.side - 251.7742).abs() < 1e-3, "{roi:?}");
        assert!((roi.rotation - -0.3915645).abs() < 1e-5, "{roi:?}");
    }

    #[test]
    fn upright_hand_has_no_rotation_and_shifts_up() {
        let mut keypoints = [[0.0; 2]; 7];
        keypoints[0] = [0.5, 0.6]; // wrist below
        keypoints[2] = [0.5, 0.4]; // middle-finger MCP above
        let palm = PalmDetection {
            score: 0.9,
            bbox: [0.4, 0.4, 0.6, 0.6],
            keypoints,
        };
        let roi = palm_to_roi(&palm, 100, 200);
        assert!(roi.rotation.abs() < 1e-12);
        assert!((roi.x_center - 50.0).abs() < 1e-9);
        // Box 20 × 40 px: shifted up by half its height (20 px); side = 2.6 × 40 px.
        assert!((roi.y_center - 80.0).abs() < 1e-9);
        assert!((roi.side - 104.0).abs() < 1e-9);
    }

    #[test]
    fn tensor_is_planar_and_scaled() {
        let img = RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8 * 255, 51, 0]));
        let t = to_nchw(&img);
        let (one, fifth) = (255.0 * PIXEL_SCALE, 51.0 * PIXEL_SCALE);
        assert_eq!(t, vec![0.0, one, fifth, fifth, 0.0, 0.0]);
        assert!((t[1] - 1.0).abs() < 1e-6);
    }
}
