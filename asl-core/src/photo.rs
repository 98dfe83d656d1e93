//! Decoding photos under a budget: the one path by which prep, the CLI, the server and the
//! Python bindings turn encoded bytes into pixels.
//!
//! Everything that can cost memory is checked from the header before the pixels are
//! allocated: the format (JPEG or PNG), each side, the aspect ratio, the pixel count and the
//! bytes the decoder will allocate. Metadata (a PNG's colour profile or compressed text) must
//! fit in [`HEADER_ALLOC`] while the header is read, so a tiny file cannot inflate to
//! hundreds of megabytes. A large JPEG is decoded at a reduced DCT scale (1/2, 1/4, 1/8) when
//! the caller needs far fewer pixels than it holds: faster, and a fraction of the memory.
//!
//! Decoding is split in two so that a caller can budget a whole request before decoding any
//! of it: [`plan`] reads the header and says what decoding will cost; [`Plan::decode`] does it.
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};
use serde::{Deserialize, Serialize};

/// What the decoder may allocate while it reads a header (colour profile, text chunks, EXIF):
/// generous for any real photo's metadata, small next to the pixels.
pub const HEADER_ALLOC: u64 = 16 << 20;

/// Extensions of the files taken as photos (any case): JPEG and PNG, which [`plan`] decodes,
/// and WebP, BMP and GIF, which it refuses with [`PhotoError::Unsupported`] naming the format.
/// The refused ones are listed so that an upload or a dataset folder holding them reports why
/// they were left out instead of passing over them in silence. Uploads and dataset scans both
/// read this one list.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "gif"];

/// Whether `ext` (without the dot) is one of [`IMAGE_EXTENSIONS`], in any case.
pub fn is_image_extension(ext: &str) -> bool {
    IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
}

/// Limits on one photo. The defaults fit what a phone camera produces (up to ~24 Mpx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeBudget {
    /// Longest side, in pixels.
    pub max_side: u32,
    /// Longest side over shortest side.
    pub max_aspect: u32,
    /// Width × height as stored in the file (before any reduced-scale decoding).
    pub max_pixels: u64,
    /// Bytes the decoder may allocate for the pixels (and the RGB copy, when one is needed).
    pub max_alloc: u64,
}

impl Default for DecodeBudget {
    fn default() -> Self {
        DecodeBudget {
            max_side: 16_384,
            max_aspect: 20,
            max_pixels: 24_000_000,
            max_alloc: 160 << 20,
        }
    }
}

/// Why a photo was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// The bytes are not in any image format the decoder recognises.
    #[error("not a JPEG or PNG image")]
    NotAnImage,
    /// An image format other than JPEG or PNG (the format named, e.g. `Gif`).
    #[error("{0} images are not supported; send JPEG or PNG")]
    Unsupported(String),
    /// A JPEG or PNG whose header or pixels cannot be decoded, or an empty (0-pixel) image.
    #[error("unreadable image: {0}")]
    Unreadable(String),
    /// A JPEG without its end-of-image marker (e.g. an interrupted upload).
    #[error("truncated JPEG (no end-of-image marker)")]
    Truncated,
    /// Over one of the [`DecodeBudget`] limits (or a request's pixel budget).
    #[error("{0}")]
    TooLarge(String),
}

/// What decoding one photo will produce and cost, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The file's format.
    pub format: ImageFormatKind,
    /// Size as stored in the file.
    pub width: u32,
    /// Height as stored in the file, in pixels.
    pub height: u32,
    /// Size after decoding: the stored size divided by `scale` (rounded up).
    pub decoded_width: u32,
    /// Height after decoding, in pixels (the stored height divided by `scale`, rounded up).
    pub decoded_height: u32,
    /// 1, 2, 4 or 8: the DCT scale denominator of a reduced-scale JPEG decode.
    pub scale: u32,
    /// Bytes the decode will allocate.
    pub alloc_bytes: u64,
    budget: DecodeBudget,
}

/// The image formats asl decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormatKind {
    /// JPEG (decoded at a reduced DCT scale when the caller needs far fewer pixels).
    Jpeg,
    /// PNG (always decoded at full size).
    Png,
}

impl Plan {
    /// Pixels the decode will produce.
    pub fn decoded_pixels(&self) -> u64 {
        self.decoded_width as u64 * self.decoded_height as u64
    }
}

/// Reads the header of `bytes` and checks it against `budget`. `needed_side` is the shortest
/// side the caller needs (0: full resolution): a JPEG whose shorter side is at least twice
/// that is planned at the largest DCT scale that keeps it.
pub fn plan(bytes: &[u8], budget: &DecodeBudget, needed_side: u32) -> Result<Plan, PhotoError> {
    let format = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => ImageFormatKind::Jpeg,
        Ok(ImageFormat::Png) => ImageFormatKind::Png,
        Ok(other) => return Err(PhotoError::Unsupported(format!("{other:?}"))),
        Err(_) => return Err(PhotoError::NotAnImage),
    };
    let decoder = reader(bytes, format, header_limits())?
        .into_decoder()
        .map_err(describe)?;
    let (width, height) = decoder.dimensions();
    let bytes_per_pixel = decoder.color_type().bytes_per_pixel() as u64;
    drop(decoder);
    check_shape(width, height, budget)?;
    if format == ImageFormatKind::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PhotoError::Truncated);
    }
    let scale = match format {
        ImageFormatKind::Jpeg => jpeg_scale(width, height, needed_side),
        ImageFormatKind::Png => 1,
    };
    let (decoded_width, decoded_height) = (width.div_ceil(scale), height.div_ceil(scale));
    let pixels = decoded_width as u64 * decoded_height as u64;
    // The decoded buffer, plus an RGB copy when the decoder's output is not RGB8.
    let alloc_bytes = pixels * bytes_per_pixel + if bytes_per_pixel == 3 { 0 } else { pixels * 3 };
    if alloc_bytes > budget.max_alloc {
        return Err(PhotoError::TooLarge(format!(
            "{width}×{height} pixels needs {} MiB to decode, more than the {} MiB allowed",
            alloc_bytes >> 20,
            budget.max_alloc >> 20
        )));
    }
    Ok(Plan {
        format,
        width,
        height,
        decoded_width,
        decoded_height,
        scale,
        alloc_bytes,
        budget: *budget,
    })
}

impl Plan {
    /// Decodes the photo as planned, to RGB.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, PhotoError> {
        if self.scale > 1
            && let Some(img) = self.decode_jpeg_scaled(bytes)?
        {
            return Ok(img);
        }
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.budget.max_side);
        limits.max_image_height = Some(self.budget.max_side);
        limits.max_alloc = Some(self.alloc_bytes + HEADER_ALLOC);
        let img = reader(bytes, self.format, limits)?.decode().map_err(describe)?;
        Ok(match img {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.into_rgb8(),
        })
    }

    /// A reduced-scale decode through jpeg-decoder's scaled IDCT. `None` for the rare JPEGs it
    /// does not output as 8-bit grey or RGB (CMYK, 16-bit lossless): those take the full path.
    fn decode_jpeg_scaled(&self, bytes: &[u8]) -> Result<Option<RgbImage>, PhotoError> {
        use jpeg_decoder::PixelFormat;
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        decoder.set_max_decoding_buffer_size(usize::try_from(self.budget.max_alloc).unwrap_or(usize::MAX));
        decoder.read_info().map_err(|e| PhotoError::Unreadable(e.to_string()))?;
        let format = decoder.info().map(|i| i.pixel_format);
        if !matches!(format, Some(PixelFormat::L8 | PixelFormat::RGB24)) {
            return Ok(None);
        }
        let want = |side: u32| u16::try_from(side.div_ceil(self.scale)).unwrap_or(u16::MAX);
        let (w, h) = decoder
            .scale(want(self.width), want(self.height))
            .map_err(|e| PhotoError::Unreadable(e.to_string()))?;
        let (w, h) = (u32::from(w), u32::from(h));
        if w as u64 * h as u64 > self.decoded_pixels() {
            return Err(PhotoError::Unreadable(format!(
                "reduced-scale decode gave {w}×{h}, not the planned {}×{}",
                self.decoded_width, self.decoded_height
            )));
        }
        let pixels = decoder.decode().map_err(|e| PhotoError::Unreadable(e.to_string()))?;
        let rgb = match format {
            Some(PixelFormat::L8) => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
            _ => pixels,
        };
        RgbImage::from_raw(w, h, rgb)
            .map(Some)
            .ok_or_else(|| PhotoError::Unreadable("the decoder returned fewer pixels than its header announced".into()))
    }
}

/// Plans and decodes in one step.
pub fn decode(bytes: &[u8], budget: &DecodeBudget, needed_side: u32) -> Result<RgbImage, PhotoError> {
    plan(bytes, budget, needed_side)?.decode(bytes)
}

/// The shortest side worth decoding for a model whose input is `model_side` pixels square:
/// four times the input, so the resize still averages away aliasing, and never under 256.
pub fn needed_side(model_side: u32) -> u32 {
    model_side.saturating_mul(4).max(256)
}

/// Reading a header allocates no pixels (sides are checked by [`check_shape`] after it, with
/// a message that names them); only its metadata is bounded here.
fn header_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(HEADER_ALLOC);
    limits
}

fn reader(
    bytes: &[u8],
    format: ImageFormatKind,
    limits: image::Limits,
) -> Result<image::ImageReader<Cursor<&[u8]>>, PhotoError> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes));
    reader.set_format(match format {
        ImageFormatKind::Jpeg => ImageFormat::Jpeg,
        ImageFormatKind::Png => ImageFormat::Png,
    });
    reader.limits(limits);
    Ok(reader)
}

fn check_shape(width: u32, height: u32, budget: &DecodeBudget) -> Result<(), PhotoError> {
    let (long, short) = (width.max(height), width.min(height));
    if short == 0 {
        return Err(PhotoError::Unreadable(format!(
            "{width}×{height} pixels: an empty image"
        )));
    }
    if long > budget.max_side {
        return Err(PhotoError::TooLarge(format!(
            "{width}×{height} pixels: a side over the {} allowed",
            budget.max_side
        )));
    }
    if long as u64 > short as u64 * budget.max_aspect as u64 {
        return Err(PhotoError::TooLarge(format!(
            "{width}×{height} pixels: longer than {}:1",
            budget.max_aspect
        )));
    }
    let pixels = width as u64 * height as u64;
    if pixels > budget.max_pixels {
        return Err(PhotoError::TooLarge(format!(
            "{width}×{height} pixels is more than the {} allowed",
            budget.max_pixels
        )));
    }
    Ok(())
}

/// The largest DCT scale denominator (8, 4, 2) that keeps the shorter side at `needed_side`.
fn jpeg_scale(width: u32, height: u32, needed_side: u32) -> u32 {
    if needed_side == 0 {
        return 1;
    }
    let short = width.min(height);
    [8, 4, 2].into_iter().find(|d| short / d >= needed_side).unwrap_or(1)
}

/// The image crate's errors, said for a person: a limit is a size problem, the rest unreadable.
fn describe(e: image::ImageError) -> PhotoError {
    match e {
        image::ImageError::Limits(l) => {
            PhotoError::TooLarge(format!("the image needs more memory to decode than allowed ({l})"))
        }
        image::ImageError::Unsupported(u) => PhotoError::Unreadable(u.to_string()),
        other => PhotoError::Unreadable(other.to_string()),
    }
}

/// False for a JPEG cut short: its segments are walked up to the first scan, and the data from
/// there on must hold the end-of-image marker (inside entropy-coded data 0xFF is always
/// followed by 0x00 or a restart marker, so FF D9 can only be the end). Not a JPEG: true.
/// A decoder would fill the missing part with grey, and we would learn or classify that.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return true;
    }
    let mut i = 2;
    loop {
        // Skip to the next marker (fill bytes 0xFF may precede it).
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else { return false };
        i += 1;
        match marker {
            0xDA => {
                return b
                    .get(i..)
                    .is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]));
            }
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(len) = b.get(i..i + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return false;
                };
                i += len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::GrayImage::new(width, height);
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), width, height, image::ExtendedColorType::L8)
            .unwrap();
        out
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    use image::ImageEncoder;

    #[test]
    fn large_jpegs_decode_at_a_reduced_scale_and_match_the_full_decode() {
        let bytes = jpeg(1_600, 1_200);
        let budget = DecodeBudget::default();
        let p = plan(&bytes, &budget, 256).unwrap();
        assert_eq!((p.scale, p.decoded_width, p.decoded_height), (4, 400, 300));
        let small = p.decode(&bytes).unwrap();
        assert_eq!(small.dimensions(), (400, 300));
        // Same picture: compare with the full decode box-averaged 4×4.
        let full = plan(&bytes, &budget, 0).unwrap().decode(&bytes).unwrap();
        assert_eq!(full.dimensions(), (1_600, 1_200));
        let mut err = 0f64;
        for (x, y, px) in small.enumerate_pixels() {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..4 {
                    for dx in 0..4 {
                        sum += full.get_pixel(x * 4 + dx, y * 4 + dy)[c] as u32;
                    }
                }
                err += (sum as f64 / 16.0 - px[c] as f64).abs();
            }
        }
        let mean = err / (400.0 * 300.0 * 3.0);
        assert!(mean < 6.0, "mean abs difference {mean}");
        // Small photos are never scaled.
        assert_eq!(plan(&jpeg(200, 200), &budget, 256).unwrap().scale, 1);
    }

    #[test]
    fn png_and_cut_jpegs() {
        let budget = DecodeBudget::default();
        assert_eq!(decode(&png(30, 20), &budget, 0).unwrap().dimensions(), (30, 20));
        let mut cut = jpeg(64, 64);
        cut.truncate(cut.len() - 40);
        assert_eq!(plan(&cut, &budget, 0), Err(PhotoError::Truncated));
        assert_eq!(
            plan(b"GIF89a....", &budget, 0).unwrap_err(),
            PhotoError::Unsupported("Gif".into())
        );
        assert_eq!(plan(b"hello", &budget, 0).unwrap_err(), PhotoError::NotAnImage);
    }

    #[test]
    fn the_allocation_limit_counts_the_rgb_copy() {
        let budget = DecodeBudget {
            max_alloc: 1 << 20,
            ..DecodeBudget::default()
        };
        // 600×600 grey: 360 KB decoded + 1 MB RGB copy > 1 MiB.
        assert!(matches!(plan(&png(600, 600), &budget, 0), Err(PhotoError::TooLarge(_))));
        assert!(plan(&png(300, 300), &budget, 0).is_ok());
    }
}
