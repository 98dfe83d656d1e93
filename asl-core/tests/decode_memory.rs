//! What decoding hostile or huge photos allocates, measured by a counting allocator (this test
//! binary's global allocator): the budget is enforced before the pixels are allocated, a tiny
//! PNG's colour profile cannot inflate past the header allowance, and a large JPEG decoded for
//! a small model stays small. One test function, so nothing else allocates meanwhile.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use asl_core::photo::{self, DecodeBudget, HEADER_ALLOC, PhotoError};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated on top of what was live when `f` started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

/// A `w`×`h` grey PNG whose pixels are all zero, with optional extra chunks before the data.
fn grey_png(w: u32, h: u32, extra: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        png_chunk(&mut out, kind, data);
    }
    // Each row: filter byte 0, then w zero bytes.
    let raw = vec![0u8; (w as usize + 1) * h as usize];
    png_chunk(&mut out, b"IDAT", &zlib(&raw));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn decoding_allocates_within_the_budget() {
    let budget = DecodeBudget::default();
    const MIB: usize = 1 << 20;

    // 1. Shapes over the limits cost nothing: refused from the header. (The 67,108,864 × 1
    //    PNG once cost 15.8 GB.)
    for (w, h) in [(67_108_864u32, 1u32), (2_097_152, 32), (20_000, 20_000)] {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        png_chunk(&mut bytes, b"IHDR", &ihdr);
        png_chunk(&mut bytes, b"IDAT", &zlib(&[0; 64]));
        png_chunk(&mut bytes, b"IEND", &[]);
        let (result, peak) = peak_during(|| photo::decode(&bytes, &budget, 0));
        assert!(matches!(result, Err(PhotoError::TooLarge(_))), "{w}×{h}: {result:?}");
        assert!(peak < MIB, "{w}×{h}: {peak} bytes allocated to refuse it");
    }

    // 2. A 1×1 PNG whose colour profile inflates to 256 MiB (a ~250 KB file): the profile
    //    is dropped at the header allowance and the pixel is decoded.
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&zlib(&vec![0u8; 256 * MIB]));
    let bytes = grey_png(1, 1, &[(b"iCCP", iccp)]);
    assert!(bytes.len() < MIB, "{} bytes", bytes.len());
    let (result, peak) = peak_during(|| photo::decode(&bytes, &budget, 0));
    assert_eq!(result.map(|img| img.dimensions()), Ok((1, 1)));
    assert!(
        peak <= 2 * HEADER_ALLOC as usize + MIB,
        "the profile inflated: {} MiB allocated",
        peak / MIB
    );

    // 3. A 24 Mpx grey PNG (as a phone might send): the decoded grey plus its RGB copy, and
    //    no more (about 96 MiB).
    let bytes = grey_png(6_000, 4_000, &[]);
    let (result, peak) = peak_during(|| photo::decode(&bytes, &budget, 0));
    assert_eq!(result.map(|img| img.dimensions()), Ok((6_000, 4_000)));
    assert!(
        peak < 24_000_000 * 4 + 20 * MIB,
        "{} MiB for a 24 Mpx grey PNG",
        peak / MIB
    );

    // 4. A 6000×4000 JPEG read for a 48 px model: decoded at 1/8 scale (750×500), a few MiB
    //    instead of the 72 MiB of a full decode.
    let img = image::RgbImage::from_fn(6_000, 4_000, |x, y| {
        image::Rgb([(x / 20) as u8, (y / 20) as u8, ((x + y) / 40) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .unwrap();
    drop(img);
    // The counter sees every thread: on a busy machine, buffers still being freed elsewhere land
    // in the measurement (18-38 MiB seen in some runs on this 2-core VM, 9-15 MiB in most), so
    // the decode's own peak is the lowest of three reads, and the bound is what separates the
    // 1/8-scale decode from a full one (72 MiB of pixels alone); the tight number is a benchmark's.
    let peak = (0..3)
        .map(|_| {
            let (result, peak) = peak_during(|| photo::decode(&jpeg, &budget, photo::needed_side(48)));
            assert_eq!(result.map(|img| img.dimensions()), Ok((750, 500)));
            peak
        })
        .min()
        .unwrap_or(usize::MAX);
    assert!(peak < 48 * MIB, "{} MiB to read a 24 Mpx JPEG at 1/8 scale", peak / MIB);
}
