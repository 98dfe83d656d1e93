//! Cheap per-photo features for drift monitoring.
//!
//! They are computed on a strided subsample of at most [`MAX_SAMPLE_SIDE`]² pixels, so a
//! 12-megapixel photo costs about as much as a 256×256 one (well under a millisecond). The
//! reference and the live features must come from the same kind of image (the decoded photo,
//! before resizing for the model), or sharpness and size are not comparable.
use serde::{Deserialize, Serialize};

use super::MonitorError;

/// Longest side of the pixel grid the features are computed on.
pub const MAX_SAMPLE_SIDE: u32 = 256;

/// Number of features per photo.
pub const NUM_FEATURES: usize = 9;

/// Stable snake_case names: metric labels, SQLite columns and reference keys use them.
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "mean_r",
    "mean_g",
    "mean_b",
    "brightness",
    "contrast",
    "sharpness",
    "aspect_ratio",
    "width",
    "height",
];

/// The monitoring features of one photo.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageFeatures {
    /// Mean of the red channel, 0..=255.
    pub mean_r: f64,
    /// Mean of the green channel, 0..=255.
    pub mean_g: f64,
    /// Mean of the blue channel, 0..=255.
    pub mean_b: f64,
    /// Mean luma (BT.601), 0..=255.
    pub brightness: f64,
    /// Standard deviation of luma.
    pub contrast: f64,
    /// Variance of the 4-neighbour Laplacian of luma (low: blurred or flat).
    pub sharpness: f64,
    /// Width / height.
    pub aspect_ratio: f64,
    /// Width of the photo as it arrived, in pixels.
    pub width: u32,
    /// Height of the photo as it arrived, in pixels.
    pub height: u32,
}

impl ImageFeatures {
    /// Features of a packed RGB8 buffer (`width * height * 3` bytes, row-major; extra bytes
    /// at the end are ignored).
    pub fn from_rgb8(rgb: &[u8], width: u32, height: u32) -> Result<ImageFeatures, MonitorError> {
        let needed = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3))
            .unwrap_or(usize::MAX);
        if width == 0 || height == 0 || rgb.len() < needed {
            return Err(MonitorError::BadImage {
                width,
                height,
                got: rgb.len(),
                needed,
            });
        }
        // One stride for both axes keeps the sampled grid's geometry (and so the Laplacian) isotropic.
        let stride = width.max(height).div_ceil(MAX_SAMPLE_SIDE) as usize;
        let (w, h) = (width as usize, height as usize);
        let (gw, gh) = (w.div_ceil(stride), h.div_ceil(stride));

        let mut luma = Vec::with_capacity(gw * gh);
        let (mut sum_r, mut sum_g, mut sum_b) = (0u64, 0u64, 0u64);
        for gy in 0..gh {
            let row = gy * stride * w;
            for gx in 0..gw {
                let i = (row + gx * stride) * 3;
                let (r, g, b) = (rgb[i], rgb[i + 1], rgb[i + 2]);
                sum_r += r as u64;
                sum_g += g as u64;
                sum_b += b as u64;
                luma.push(0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64);
            }
        }
        let n = luma.len() as f64;
        let (brightness, luma_var) = mean_var(luma.iter().copied());

        // Interior points only: the border has no full neighbourhood.
        let sharpness = if gw >= 3 && gh >= 3 {
            let laplacian = (1..gh - 1)
                .flat_map(|y| (1..gw - 1).map(move |x| (x, y)))
                .map(|(x, y)| {
                    let c = y * gw + x;
                    luma[c - 1] + luma[c + 1] + luma[c - gw] + luma[c + gw] - 4.0 * luma[c]
                });
            mean_var(laplacian).1
        } else {
            0.0
        };

        Ok(ImageFeatures {
            mean_r: sum_r as f64 / n,
            mean_g: sum_g as f64 / n,
            mean_b: sum_b as f64 / n,
            brightness,
            contrast: luma_var.sqrt(),
            sharpness,
            aspect_ratio: width as f64 / height as f64,
            width,
            height,
        })
    }

    /// Values in [`FEATURE_NAMES`] order.
    pub fn values(&self) -> [f64; NUM_FEATURES] {
        [
            self.mean_r,
            self.mean_g,
            self.mean_b,
            self.brightness,
            self.contrast,
            self.sharpness,
            self.aspect_ratio,
            self.width as f64,
            self.height as f64,
        ]
    }

    /// The inverse of [`values`](Self::values) (sizes are rounded and clamped to u32).
    pub fn from_values(v: [f64; NUM_FEATURES]) -> ImageFeatures {
        let size = |x: f64| x.round().clamp(0.0, u32::MAX as f64) as u32;
        ImageFeatures {
            mean_r: v[0],
            mean_g: v[1],
            mean_b: v[2],
            brightness: v[3],
            contrast: v[4],
            sharpness: v[5],
            aspect_ratio: v[6],
            width: size(v[7]),
            height: size(v[8]),
        }
    }

    /// `(name, value)` pairs in [`FEATURE_NAMES`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + use<> {
        FEATURE_NAMES.into_iter().zip(self.values())
    }

    /// The feature named (one of [`FEATURE_NAMES`]); `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<f64> {
        FEATURE_NAMES.iter().position(|n| *n == name).map(|i| self.values()[i])
    }
}

/// Mean and population variance, two passes over the values (exact enough and, unlike
/// Welford's update, free of a division per value).
fn mean_var(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (n, sum) = values.clone().fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    (mean, values.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        rgb.repeat((w * h) as usize)
    }

    #[test]
    fn solid_colour() {
        let f = ImageFeatures::from_rgb8(&solid(40, 20, [200, 100, 50]), 40, 20).expect("valid image");
        assert_eq!((f.mean_r, f.mean_g, f.mean_b), (200.0, 100.0, 50.0));
        assert!((f.brightness - (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0)).abs() < 1e-9);
        assert!(f.contrast.abs() < 1e-9 && f.sharpness.abs() < 1e-9);
        assert_eq!((f.aspect_ratio, f.width, f.height), (2.0, 40, 20));
    }

    #[test]
    fn checkerboard_is_sharp_and_contrasty() {
        let (w, h) = (32u32, 32u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| if (i % w + i / w) % 2 == 0 { [255u8; 3] } else { [0u8; 3] })
            .collect();
        let f = ImageFeatures::from_rgb8(&rgb, w, h).expect("valid image");
        assert!((f.brightness - 127.5).abs() < 1e-6);
        assert!((f.contrast - 127.5).abs() < 1e-6);
        // Every interior Laplacian is ±4·255: variance (4·255)².
        assert!((f.sharpness - (4.0 * 255.0f64).powi(2)).abs() < 1e-6);
    }

    #[test]
    fn big_photo_is_subsampled() {
        let (w, h) = (4000u32, 3000u32);
        let rgb = solid(w, h, [10, 20, 30]);
        let started = std::time::Instant::now();
        let f = ImageFeatures::from_rgb8(&rgb, w, h).expect("valid image");
        let took = started.elapsed();
        assert_eq!((f.mean_r, f.width, f.height), (10.0, 4000, 3000));
        // Generous bound: debug builds on a loaded machine.
        assert!(took.as_millis() < 50, "took {took:?}");
    }

    #[test]
    fn rejects_short_buffers_and_empty_images() {
        assert!(matches!(
            ImageFeatures::from_rgb8(&[0; 10], 2, 2),
            Err(MonitorError::BadImage { needed: 12, .. })
        ));
        assert!(ImageFeatures::from_rgb8(&[], 0, 5).is_err());
        assert!(ImageFeatures::from_rgb8(&[], u32::MAX, u32::MAX).is_err());
    }

    #[test]
    fn names_values_round_trip() {
        let f = ImageFeatures::from_rgb8(&solid(3, 5, [1, 2, 3]), 3, 5).expect("valid image");
        let pairs: Vec<_> = f.iter().collect();
        assert_eq!(pairs.len(), NUM_FEATURES);
        assert_eq!(pairs[7], ("width", 3.0));
        assert_eq!(f.get("height"), Some(5.0));
        assert_eq!(f.get("nope"), None);
        assert_eq!(ImageFeatures::from_values(f.values()), f);
    }
}
