//! A deterministic, procedurally drawn stand-in for the Kaggle dataset
//! `grassknoted/asl-alphabet`, in the same archive layout:
//!
//! ```text
//! asl_alphabet_train/asl_alphabet_train/<CLASS>/<CLASS><n>.jpg   (n = 1, 2, …)
//! asl_alphabet_test/asl_alphabet_test/<CLASS>_test.jpg
//! ```
//!
//! It is the embedded default for the demo and for tests on machines without the
//! real data. It is *not* a model of real photographs and must never be used for
//! accuracy claims about them.
//!
//! Every image shows a cartoon hand (a skin-toned palm, wrist and up to five finger
//! capsules) whose finger count, angles, lengths, bends, thumb position and overall
//! rotation come from one row of the table `SIGNS` per class, loosely following the ASL
//! manual alphabet. `nothing` has no hand at all; `del` and `space` (which are not
//! letters) get their own clearly different poses. Around that fixed geometry each
//! sample varies in background (solid, gradient, clutter, stripes, a "room"),
//! lighting (brightness, contrast, colour cast, a light gradient, a soft drop
//! shadow), skin tone (light to dark), sleeve, position, scale, rotation (±6°),
//! small per-finger jitter, pixel noise and blur. The class-defining geometry is
//! kept far larger than the jitter so that a small CNN separates all 29 classes.
//!
//! Backgrounds never use saturated skin hues (warm colours appear only nearly
//! grey), so "skin-coloured pixels" is a usable cue for hand/no hand in tests, and
//! their luminance always differs from the hand's by a margin.
//!
//! Unlike the real archive, whose test folder lacks `del_test.jpg`, every one of
//! the 29 classes gets test images here.
//!
//! Output is a pure function of the configuration: a self-contained PRNG
//! (splitmix64), a fixed zip time stamp and a fixed entry order give identical
//! archive bytes for identical configurations on the same platform.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::RgbImage;

use crate::classes::CLASSES;

/// Folder of the training images inside the archive (one sub-folder per class).
pub const TRAIN_DIR: &str = "asl_alphabet_train/asl_alphabet_train";
/// Folder of the test images inside the archive (flat, `<CLASS>_test.jpg`).
pub const TEST_DIR: &str = "asl_alphabet_test/asl_alphabet_test";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Training images per class (default 60).
    pub per_class: usize,
    /// Width and height of every image in pixels (default 64).
    pub image_size: u32,
    /// Master seed; every image's own seed is derived from it.
    pub seed: u64,
    /// Test images per class (default 1). The first is `<CLASS>_test.jpg`, further
    /// ones `<CLASS>_test<n>.jpg` with n = 2, 3, …
    pub test_per_class: usize,
    /// JPEG quality, 1–100 (default 90).
    pub jpeg_quality: u8,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            per_class: 60,
            image_size: 64,
            seed: 0x00A5_1A1F_AB37,
            test_per_class: 1,
            jpeg_quality: 90,
        }
    }
}

/// What [`write_zip`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    /// Image entries (train and test).
    pub images: usize,
    /// Classes (always 29).
    pub classes: usize,
    /// Size of the archive in bytes.
    pub bytes: u64,
}

/// Why generating the archive failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Reading or writing a file failed, or the configuration is unusable
    /// (`InvalidInput`).
    #[error("synthetic dataset: i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The zip writer failed.
    #[error("synthetic dataset: zip error: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Encoding an image failed.
    #[error("synthetic dataset: image error: {0}")]
    Image(#[from] image::ImageError),
}

// ---------------------------------------------------------------------------------
// Archive
// ---------------------------------------------------------------------------------

/// Name of the `k`-th (0-based) training image of a class inside the archive.
fn train_name(class: &str, k: usize) -> String {
    format!("{TRAIN_DIR}/{class}/{class}{}.jpg", k + 1)
}

/// Name of the `k`-th (0-based) test image of a class inside the archive.
fn test_name(class: &str, k: usize) -> String {
    if k == 0 {
        format!("{TEST_DIR}/{class}_test.jpg")
    } else {
        format!("{TEST_DIR}/{class}_test{}.jpg", k + 1)
    }
}

/// Seed of one image: train split 0, test split 1, `k` its 0-based index.
fn sample_seed(seed: u64, class_idx: usize, split: u64, k: usize) -> u64 {
    let mut h = mix64(seed ^ 0x5A17_A5D0_0000_0001);
    h = mix64(h ^ (class_idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    h = mix64(h ^ split.wrapping_mul(0xD1B5_4A32_D192_ED03));
    mix64(h ^ (k as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
}

/// Writes the whole synthetic dataset as a zip archive at `out`.
///
/// The archive is written to a temporary file beside `out`, flushed to disk and
/// renamed over `out`, so a reader never sees a half-written archive. The same
/// configuration always produces the same bytes.
pub fn write_zip(cfg: &SynthConfig, out: &Path) -> Result<SynthSummary, SynthError> {
    if cfg.image_size == 0 {
        return Err(invalid("image_size must be at least 1"));
    }
    let file_name = out
        .file_name()
        .ok_or_else(|| invalid("output path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp_path = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut guard = TempGuard(Some(tmp_path.clone()));

    let file = std::fs::File::create(&tmp_path)?;
    let images = write_archive(cfg, BufWriter::new(file))?;
    std::fs::rename(&tmp_path, out)?;
    guard.0 = None;
    sync_dir(&dir);
    let bytes = std::fs::metadata(out)?.len();
    Ok(SynthSummary {
        images,
        classes: CLASSES.len(),
        bytes,
    })
}

/// Writes all entries into `sink`, then flushes and fsyncs the file.
fn write_archive(cfg: &SynthConfig, sink: BufWriter<std::fs::File>) -> Result<usize, SynthError> {
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, DateTime};

    // A fixed time stamp (the month the Kaggle dataset appeared), never the clock.
    let mtime = DateTime::from_date_and_time(2018, 4, 22, 0, 0, 0).unwrap_or_default();
    let file_opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(mtime)
        .unix_permissions(0o644);
    let dir_opts = SimpleFileOptions::default()
        .last_modified_time(mtime)
        .unix_permissions(0o755);
    let quality = cfg.jpeg_quality.clamp(1, 100);
    let entries = archive_entries(cfg);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);

    let mut zip = zip::ZipWriter::new(sink);
    let mut images = 0usize;
    for batch in entries.chunks(256) {
        let mut encoded = encode_batch(batch, cfg, quality, threads).into_iter();
        for entry in batch {
            match entry {
                ArchiveEntry::Dir(name) => zip.add_directory(name.as_str(), dir_opts)?,
                ArchiveEntry::Image { name, .. } => {
                    let jpeg = encoded.next().expect("one encoded image per entry")?;
                    zip.start_file(name.as_str(), file_opts)?;
                    zip.write_all(&jpeg)?;
                    images += 1;
                }
            }
        }
    }
    let sink = zip.finish()?;
    let file = sink.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(images)
}

/// One entry of the archive.
enum ArchiveEntry {
    Dir(String),
    Image { name: String, seed: u64, class_idx: usize },
}

/// The archive's entries in order; images are rendered in parallel batches and
/// written in this order, so the bytes do not depend on the thread count.
fn archive_entries(cfg: &SynthConfig) -> Vec<ArchiveEntry> {
    let mut entries = vec![
        ArchiveEntry::Dir("asl_alphabet_train/".into()),
        ArchiveEntry::Dir(format!("{TRAIN_DIR}/")),
    ];
    for (ci, class) in CLASSES.iter().enumerate() {
        entries.push(ArchiveEntry::Dir(format!("{TRAIN_DIR}/{class}/")));
        for k in 0..cfg.per_class {
            let seed = sample_seed(cfg.seed, ci, 0, k);
            entries.push(ArchiveEntry::Image {
                name: train_name(class, k),
                seed,
                class_idx: ci,
            });
        }
    }
    entries.push(ArchiveEntry::Dir("asl_alphabet_test/".into()));
    entries.push(ArchiveEntry::Dir(format!("{TEST_DIR}/")));
    for k in 0..cfg.test_per_class {
        for (ci, class) in CLASSES.iter().enumerate() {
            let seed = sample_seed(cfg.seed, ci, 1, k);
            entries.push(ArchiveEntry::Image {
                name: test_name(class, k),
                seed,
                class_idx: ci,
            });
        }
    }
    entries
}

/// The JPEGs of the images in `batch`, in its order, rendered on up to `threads` threads.
fn encode_batch(
    batch: &[ArchiveEntry],
    cfg: &SynthConfig,
    quality: u8,
    threads: usize,
) -> Vec<Result<Vec<u8>, SynthError>> {
    let encode = |class_idx: usize, seed: u64| -> Result<Vec<u8>, SynthError> {
        let img = render(class_idx, seed, cfg.image_size);
        let mut jpeg = Vec::new();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality))?;
        Ok(jpeg)
    };
    let jobs: Vec<(usize, u64)> = batch
        .iter()
        .filter_map(|e| match e {
            ArchiveEntry::Image { seed, class_idx, .. } => Some((*class_idx, *seed)),
            ArchiveEntry::Dir(_) => None,
        })
        .collect();
    let per_thread = jobs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(|&(c, s)| encode(c, s)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("synthetic image worker panicked"))
            .collect()
    })
}

fn invalid(msg: &str) -> SynthError {
    SynthError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Makes the rename durable where the platform allows it (best effort).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

// ---------------------------------------------------------------------------------
// Randomness: splitmix64, self-contained so the output never depends on a crate.
// ---------------------------------------------------------------------------------

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix64(seed ^ 0x243F_6A88_85A3_08D3))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in [0, n).
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }
    fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
    /// Roughly standard normal (Irwin–Hall with 4 terms).
    fn normal(&mut self) -> f32 {
        let s = self.unit() + self.unit() + self.unit() + self.unit();
        (s - 2.0) * 1.732_050_8
    }
}

// ---------------------------------------------------------------------------------
// The per-class geometry table
// ---------------------------------------------------------------------------------

/// One finger (or the thumb), in the hand's own frame: "up" is from the wrist towards
/// the fingers, the thumb is on the +x side, angles are in degrees, positive turning
/// towards the thumb side (clockwise on screen for an upright hand).
#[derive(Debug, Clone, Copy)]
struct Finger {
    /// Direction of the first segment.
    angle: f32,
    /// Length of the first segment, as a fraction of the finger's natural length
    /// (0: the finger is not drawn at all).
    l1: f32,
    /// Change of direction at the middle joint.
    bend: f32,
    /// Length of the second segment, as a fraction of the natural length.
    l2: f32,
    /// Drawn in front of the palm (a thumb across the palm, fingers curled over it)
    /// rather than behind it.
    front: bool,
}

/// An extended or otherwise shaped finger drawn behind the palm.
const fn up(angle: f32, l1: f32, bend: f32, l2: f32) -> Finger {
    Finger {
        angle,
        l1,
        bend,
        l2,
        front: false,
    }
}
/// A finger or thumb drawn in front of the palm.
const fn over(angle: f32, l1: f32, bend: f32, l2: f32) -> Finger {
    Finger {
        angle,
        l1,
        bend,
        l2,
        front: true,
    }
}
/// Fully extended, straight.
const fn ext(angle: f32) -> Finger {
    up(angle, 0.55, 0.0, 0.45)
}
/// Folded into the palm: only the knuckle shows above the palm's top edge.
const FOLD: Finger = up(0.0, 0.2, 0.0, 0.0);
/// Curled over the front of the palm: knuckle on top, finger lying down the palm.
const CURL: Finger = over(0.0, 0.22, 172.0, 0.5);
/// Bent like a claw: knuckles raised high, fingertips curled down in front.
const CLAW: Finger = over(0.0, 0.5, 165.0, 0.45);
/// Thumb folded across the front of the palm.
const THUMB_IN: Finger = over(-82.0, 0.5, -8.0, 0.45);

/// One class: overall rotation of the hand (degrees, clockwise; 180 points the
/// fingers down), palm width (1 = seen from the front, less = turned sideways) and
/// the five digits. A `palm` of 0 means "no hand".
#[derive(Debug, Clone, Copy)]
struct Sign {
    name: &'static str,
    rot: f32,
    palm: f32,
    /// Thumb, index, middle, ring, pinky.
    digits: [Finger; 5],
}

const fn sign(name: &'static str, rot: f32, palm: f32, digits: [Finger; 5]) -> Sign {
    Sign {
        name,
        rot,
        palm,
        digits,
    }
}

const NO_DIGITS: [Finger; 5] = [up(0.0, 0.0, 0.0, 0.0); 5];

/// The class-defining geometry, one row per class in `CLASSES` order.
#[rustfmt::skip]
const SIGNS: [Sign; 29] = [
    //    name     rot  palm   thumb                            index                         middle                        ring               pinky
    sign("A",       0.0, 1.0, [up(20.0, 0.75, -20.0, 0.6),      FOLD,                         FOLD,                         FOLD,              FOLD]), // fist, thumb up at the side
    sign("B",       0.0, 1.0, [THUMB_IN,                        ext(3.0),                     ext(1.0),                     ext(-1.0),         ext(-3.0)]), // flat hand, thumb across palm
    sign("C",       0.0, 0.75,[up(125.0, 0.55, -65.0, 0.5),     up(45.0, 0.5, 65.0, 0.5),     up(45.0, 0.5, 65.0, 0.5),     up(42.0, 0.5, 65.0, 0.45), up(40.0, 0.5, 65.0, 0.4)]), // side view, curved C
    sign("D",       0.0, 1.0, [over(-55.0, 0.5, -35.0, 0.35),   ext(0.0),                     CURL,                         CURL,              CURL]), // index up, others meet thumb
    sign("E",       0.0, 1.0, [over(-75.0, 0.55, -15.0, 0.5),   CLAW,                         CLAW,                         CLAW,              CLAW]), // fingers clawed over thumb
    sign("F",       0.0, 1.0, [up(18.0, 0.6, 0.0, 0.5),         over(28.0, 0.32, 128.0, 0.3), ext(-3.0),                    ext(-14.0),        ext(-26.0)]), // index-thumb ring, three up
    sign("G",      65.0, 1.0, [up(40.0, 0.45, -40.0, 0.55),     ext(0.0),                     FOLD,                         FOLD,              FOLD]), // sideways index, thumb parallel
    sign("H",      65.0, 1.0, [THUMB_IN,                        ext(1.0),                     ext(-1.0),                    FOLD,              FOLD]), // sideways index + middle
    sign("I",       0.0, 1.0, [THUMB_IN,                        FOLD,                         FOLD,                         FOLD,              ext(-4.0)]), // pinky up
    sign("J",     -28.0, 1.0, [THUMB_IN,                        FOLD,                         FOLD,                         FOLD,              up(-8.0, 0.55, -55.0, 0.45)]), // tilted, pinky hooked
    sign("K",       0.0, 1.0, [over(-10.0, 0.62, 0.0, 0.75),    ext(2.0),                     up(-52.0, 0.5, 0.0, 0.35),    FOLD,              FOLD]), // index up, middle out, thumb between
    sign("L",       0.0, 1.0, [up(88.0, 0.6, 0.0, 0.55),        ext(0.0),                     FOLD,                         FOLD,              FOLD]), // L of index and thumb
    sign("M",      15.0, 1.0, [over(-62.0, 0.7, -25.0, 0.7),    CURL,                         CURL,                         CURL,              FOLD]), // tilted fist, thumb out past pinky
    sign("N",     -18.0, 1.0, [over(-40.0, 0.7, 30.0, 0.9),     CURL,                         CURL,                         FOLD,              FOLD]), // tilted fist, thumb tip up
    sign("O",       0.0, 0.75,[up(105.0, 0.55, -95.0, 0.5),     up(50.0, 0.5, 105.0, 0.5),    up(50.0, 0.5, 105.0, 0.5),    up(47.0, 0.5, 105.0, 0.45), up(45.0, 0.5, 105.0, 0.4)]), // side view, closed O
    sign("P",     160.0, 1.0, [over(-10.0, 0.62, 0.0, 0.75),    ext(2.0),                     up(-52.0, 0.5, 0.0, 0.35),    FOLD,              FOLD]), // K pointing down
    sign("Q",     160.0, 1.0, [up(40.0, 0.45, -40.0, 0.55),     ext(0.0),                     FOLD,                         FOLD,              FOLD]), // G pointing down
    sign("R",       0.0, 1.0, [THUMB_IN,                        ext(-20.0),                   ext(13.0),                    FOLD,              FOLD]), // index and middle crossed
    sign("S",       0.0, 1.0, [over(-60.0, 0.6, -30.0, 0.6),    FOLD,                         FOLD,                         FOLD,              FOLD]), // fist, thumb across knuckles
    sign("T",      35.0, 1.0, [over(-20.0, 0.7, 15.0, 0.75),    CURL,                         FOLD,                         FOLD,              FOLD]), // tilted fist, thumb tip by index
    sign("U",       0.0, 1.0, [THUMB_IN,                        ext(1.0),                     ext(-1.0),                    FOLD,              FOLD]), // index + middle together
    sign("V",       0.0, 1.0, [THUMB_IN,                        ext(16.0),                    ext(-14.0),                   FOLD,              FOLD]), // index + middle spread
    sign("W",       0.0, 1.0, [over(-75.0, 0.55, 0.0, 0.45),    ext(20.0),                    ext(0.0),                     ext(-20.0),        FOLD]), // three spread
    sign("X",       0.0, 1.0, [THUMB_IN,                        up(4.0, 0.45, 105.0, 0.32),   FOLD,                         FOLD,              FOLD]), // index hooked
    sign("Y",       0.0, 1.0, [up(80.0, 0.6, 0.0, 0.55),        FOLD,                         FOLD,                         FOLD,              ext(-40.0)]), // thumb and pinky out
    sign("Z",     -15.0, 1.0, [THUMB_IN,                        ext(-42.0),                   FOLD,                         FOLD,              FOLD]), // index pointing up-left
    sign("del",   180.0, 1.0, [up(55.0, 0.6, 0.0, 0.55),        ext(22.0),                    ext(7.0),                     ext(-8.0),         ext(-24.0)]), // open hand pointing down
    sign("nothing", 0.0, 0.0, NO_DIGITS), // no hand
    sign("space", 100.0, 1.0, [up(-35.0, 0.6, 0.0, 0.55),       ext(1.0),                     ext(0.0),                     ext(-1.0),         ext(-2.0)]), // flat hand sideways
];

/// Natural length, radius and base point (palm frame, palm 1 wide) of each digit.
const DIGIT_LEN: [f32; 5] = [0.72, 0.85, 0.95, 0.88, 0.70];
const DIGIT_RADIUS: [f32; 5] = [0.13, 0.118, 0.118, 0.112, 0.10];
const DIGIT_BASE: [(f32, f32); 5] = [
    (0.38, 0.16),
    (0.30, -0.42),
    (0.10, -0.45),
    (-0.10, -0.43),
    (-0.30, -0.38),
];
/// Palm half height; half width is `palm / 2`.
const PALM_HALF_H: f32 = 0.55;

/// Palm width as a fraction of the image size.
const HAND_SCALE: f32 = 0.34;
/// Relative jitter of the hand's size (±).
const SCALE_JITTER: f32 = 0.08;
/// Jitter of the hand's rotation in degrees (±); classes that differ only by
/// rotation lie at least 2.5× this apart.
const ROT_JITTER: f32 = 6.0;
/// Jitter of the hand's centre as a fraction of the image size (±).
const SHIFT_JITTER: f32 = 0.05;

// ---------------------------------------------------------------------------------
// Geometry primitives (signed distance functions, pixel units)
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
struct V2(f32, f32);

impl V2 {
    fn add(self, o: V2) -> V2 {
        V2(self.0 + o.0, self.1 + o.1)
    }
    fn sub(self, o: V2) -> V2 {
        V2(self.0 - o.0, self.1 - o.1)
    }
    fn scale(self, s: f32) -> V2 {
        V2(self.0 * s, self.1 * s)
    }
    fn dot(self, o: V2) -> f32 {
        self.0 * o.0 + self.1 * o.1
    }
    fn len(self) -> f32 {
        self.dot(self).sqrt()
    }
    /// Unit vector at `deg` degrees, 0 = up (-y), 90 = right (+x).
    fn dir(deg: f32) -> V2 {
        let r = deg.to_radians();
        V2(r.sin(), -r.cos())
    }
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Segment a–b thickened by r.
    Capsule { a: V2, b: V2, r: f32 },
    /// Box centred at c with unit x-axis u, half extents h, corners rounded by r
    /// (h includes r).
    RBox { c: V2, u: V2, h: V2, r: f32 },
}

impl Shape {
    fn sd(&self, p: V2) -> f32 {
        match *self {
            Shape::Capsule { a, b, r } => {
                let pa = p.sub(a);
                let ba = b.sub(a);
                let bb = ba.dot(ba);
                let t = if bb > 0.0 {
                    (pa.dot(ba) / bb).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                pa.sub(ba.scale(t)).len() - r
            }
            Shape::RBox { c, u, h, r } => {
                let d = p.sub(c);
                let lx = d.dot(u).abs() - (h.0 - r);
                let ly = (d.0 * -u.1 + d.1 * u.0).abs() - (h.1 - r);
                let outside = V2(lx.max(0.0), ly.max(0.0)).len();
                outside + lx.max(ly).min(0.0) - r
            }
        }
    }
    /// Axis-aligned bounds (min, max).
    fn bounds(&self) -> (V2, V2) {
        match *self {
            Shape::Capsule { a, b, r } => (
                V2(a.0.min(b.0) - r, a.1.min(b.1) - r),
                V2(a.0.max(b.0) + r, a.1.max(b.1) + r),
            ),
            Shape::RBox { c, u, h, .. } => {
                let ex = (u.0 * h.0).abs() + (u.1 * h.1).abs();
                let ey = (u.1 * h.0).abs() + (u.0 * h.1).abs();
                (V2(c.0 - ex, c.1 - ey), V2(c.0 + ex, c.1 + ey))
            }
        }
    }
    /// Half thickness used for the rounded shading.
    fn thickness(&self) -> f32 {
        match *self {
            Shape::Capsule { r, .. } => r,
            Shape::RBox { h, .. } => 0.45 * h.0.min(h.1),
        }
    }
}

/// One drawn part of the hand.
#[derive(Debug, Clone, Copy)]
struct Part {
    shape: Shape,
    colour: [f32; 3],
    /// Part of the hand itself (counts for the bounding box used for centring).
    core: bool,
}

// ---------------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------------

/// Skin tones from light to dark (sRGB, 0–1); a sample interpolates between two
/// neighbours.
const SKIN: [[f32; 3]; 7] = [
    [1.00, 0.87, 0.77],
    [0.95, 0.76, 0.62],
    [0.87, 0.66, 0.49],
    [0.76, 0.53, 0.36],
    [0.58, 0.39, 0.25],
    [0.42, 0.27, 0.17],
    [0.29, 0.18, 0.11],
];

fn skin_tone(rng: &mut Rng) -> [f32; 3] {
    let t = rng.range(0.0, (SKIN.len() - 1) as f32 - 1e-3);
    let i = t as usize;
    let f = t - i as f32;
    let mut c = [0.0; 3];
    for k in 0..3 {
        c[k] = SKIN[i][k] * (1.0 - f) + SKIN[i + 1][k] * f;
    }
    // A little redness / yellowness variation.
    let red = rng.range(-0.03, 0.03);
    c[0] = (c[0] + red).clamp(0.0, 1.0);
    c[2] = (c[2] - red).clamp(0.0, 1.0);
    c
}

fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let i = h.floor();
    let f = h - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match i as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A background colour: a near-grey of any tint, or a saturated colour whose hue is
/// far from skin (green, cyan, blue, violet). Mixtures of such colours stay away
/// from saturated skin hues too.
///
/// With `skin_lum` set, the colour's luminance also differs from the skin's by at
/// least [`MIN_CONTRAST`], so the hand never melts into the background.
fn bg_colour(rng: &mut Rng, skin_lum: Option<f32>) -> [f32; 3] {
    let mut c = [0.0; 3];
    for _ in 0..16 {
        let v = rng.range(0.12, 0.97);
        c = if rng.chance(0.45) {
            hsv(rng.range(0.0, 360.0), rng.range(0.0, 0.1), v)
        } else {
            hsv(rng.range(100.0, 280.0), rng.range(0.15, 0.85), v)
        };
        match skin_lum {
            Some(l) if (luminance(c) - l).abs() < MIN_CONTRAST => continue,
            _ => break,
        }
    }
    c
}

/// Least luminance difference between skin and background colours.
const MIN_CONTRAST: f32 = 0.18;

fn luminance(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

// ---------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------

/// Supersampling factor: shapes are drawn at this multiple of the output size and
/// box-filtered down, which anti-aliases their edges.
const SS: u32 = 2;

/// Renders one image of class `class_idx` (an index into `CLASSES`), fully
/// determined by `sample_seed` and `size` (width = height in pixels).
///
/// # Panics
/// If `class_idx >= 29`.
pub fn render(class_idx: usize, sample_seed: u64, size: u32) -> RgbImage {
    let sign = &SIGNS[class_idx];
    debug_assert_eq!(sign.name, CLASSES[class_idx]);
    if size == 0 {
        return RgbImage::new(0, 0);
    }
    let mut rng = Rng::new(sample_seed ^ (class_idx as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    let n = (size * SS) as usize;
    let s = n as f32;
    let mut buf = vec![[0.0f32; 3]; n * n];

    let skin = (sign.palm > 0.0).then(|| skin_tone(&mut rng));
    let skin_lum = skin.map(luminance);
    draw_background(&mut rng, &mut buf, n, skin_lum);
    if let Some(skin) = skin {
        let parts = build_hand(sign, skin, &mut rng, s);
        draw_shadow(&mut rng, &mut buf, n, &parts);
        draw_parts(&mut rng, &mut buf, n, &parts);
    }

    // Box-filter down to the output size.
    let m = size as usize;
    let mut img = vec![[0.0f32; 3]; m * m];
    let inv = 1.0 / (SS * SS) as f32;
    for y in 0..m {
        for x in 0..m {
            let mut acc = [0.0f32; 3];
            for dy in 0..SS as usize {
                let row = (y * SS as usize + dy) * n;
                for dx in 0..SS as usize {
                    let c = buf[row + x * SS as usize + dx];
                    acc[0] += c[0];
                    acc[1] += c[1];
                    acc[2] += c[2];
                }
            }
            img[y * m + x] = [acc[0] * inv, acc[1] * inv, acc[2] * inv];
        }
    }

    post_process(&mut rng, &mut img, m);

    let mut out = RgbImage::new(size, size);
    for (px, c) in out.pixels_mut().zip(img.iter()) {
        for (dst, v) in px.0.iter_mut().zip(c) {
            *dst = (v * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn draw_background(rng: &mut Rng, buf: &mut [[f32; 3]], n: usize, skin_lum: Option<f32>) {
    let c0 = bg_colour(rng, skin_lum);
    let c1 = bg_colour(rng, skin_lum);
    let dir = V2::dir(rng.range(0.0, 360.0));
    let kind = rng.below(5);
    match kind {
        // Solid, with a faint gradient.
        0 => {
            let c1 = lerp3(c0, c1, 0.15);
            fill_gradient(buf, n, c0, c1, dir);
        }
        // Two-colour linear gradient.
        1 => fill_gradient(buf, n, c0, c1, dir),
        2 => draw_stripes(rng, buf, n, c0, c1, dir),
        3 => draw_room(rng, buf, n, c0, c1, skin_lum),
        _ => draw_clutter(rng, buf, n, c0, c1, dir, skin_lum),
    }
}

/// Stripes (soft or hard edged) of `c0` and `c1` across `dir`.
fn draw_stripes(rng: &mut Rng, buf: &mut [[f32; 3]], n: usize, c0: [f32; 3], c1: [f32; 3], dir: V2) {
    let s = n as f32;
    let period = s * rng.range(0.08, 0.3);
    let hard = rng.range(1.0, 8.0);
    let amount = rng.range(0.35, 1.0);
    let phase = rng.range(0.0, 1.0);
    for y in 0..n {
        for x in 0..n {
            let p = V2(x as f32 + 0.5, y as f32 + 0.5);
            let t = p.dot(dir) / period + phase;
            let w = 0.5 + 0.5 * (t * std::f32::consts::TAU).sin();
            let w = ((w - 0.5) * hard + 0.5).clamp(0.0, 1.0);
            buf[y * n + x] = lerp3(c0, c1, w * amount);
        }
    }
}

/// A "room": wall and floor split by a horizon, maybe a door or window frame.
fn draw_room(rng: &mut Rng, buf: &mut [[f32; 3]], n: usize, c0: [f32; 3], c1: [f32; 3], skin_lum: Option<f32>) {
    let s = n as f32;
    let horizon = s * rng.range(0.55, 0.9);
    let wall2 = lerp3(c0, [0.0; 3], rng.range(0.0, 0.2));
    for y in 0..n {
        let yf = y as f32 + 0.5;
        for x in 0..n {
            buf[y * n + x] = if yf < horizon {
                lerp3(c0, wall2, yf / horizon)
            } else {
                c1
            };
        }
    }
    let frames = rng.below(3);
    for _ in 0..frames {
        let c = V2(rng.range(0.0, s), rng.range(0.0, horizon));
        let h = V2(rng.range(0.08, 0.25) * s, rng.range(0.15, 0.4) * s);
        let frame = bg_colour(rng, skin_lum);
        let inner = bg_colour(rng, skin_lum);
        let outer = Shape::RBox {
            c,
            u: V2(1.0, 0.0),
            h,
            r: 0.0,
        };
        let t = rng.range(0.015, 0.04) * s;
        let inner_box = Shape::RBox {
            c,
            u: V2(1.0, 0.0),
            h: V2(h.0 - t, h.1 - t),
            r: 0.0,
        };
        paint_shape(buf, n, &outer, frame, 1.0);
        paint_shape(buf, n, &inner_box, inner, 1.0);
    }
}

/// Clutter: gradient base with rectangles and bars on top.
fn draw_clutter(
    rng: &mut Rng,
    buf: &mut [[f32; 3]],
    n: usize,
    c0: [f32; 3],
    c1: [f32; 3],
    dir: V2,
    skin_lum: Option<f32>,
) {
    let s = n as f32;
    fill_gradient(buf, n, c0, lerp3(c0, c1, 0.5), dir);
    let count = 2 + rng.below(5);
    for _ in 0..count {
        let c = V2(rng.range(0.0, s), rng.range(0.0, s));
        let h = V2(rng.range(0.04, 0.3) * s, rng.range(0.04, 0.3) * s);
        let u = if rng.chance(0.5) {
            V2(1.0, 0.0)
        } else {
            V2::dir(rng.range(0.0, 180.0))
        };
        let r = rng.range(0.0, 0.5) * h.0.min(h.1);
        let colour = bg_colour(rng, skin_lum);
        let alpha = rng.range(0.35, 0.9);
        paint_shape(buf, n, &Shape::RBox { c, u, h, r }, colour, alpha);
    }
}

fn fill_gradient(buf: &mut [[f32; 3]], n: usize, c0: [f32; 3], c1: [f32; 3], dir: V2) {
    let s = n as f32;
    let half = V2(0.5 * s, 0.5 * s);
    for y in 0..n {
        for x in 0..n {
            let p = V2(x as f32 + 0.5, y as f32 + 0.5).sub(half);
            let t = (p.dot(dir) / s + 0.5).clamp(0.0, 1.0);
            buf[y * n + x] = lerp3(c0, c1, t);
        }
    }
}

/// Flat-coloured shape with an anti-aliased edge.
fn paint_shape(buf: &mut [[f32; 3]], n: usize, shape: &Shape, colour: [f32; 3], alpha: f32) {
    let (lo, hi) = shape.bounds();
    let (x0, x1, y0, y1) = clip_bounds(lo, hi, n, 1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let d = shape.sd(V2(x as f32 + 0.5, y as f32 + 0.5));
            let cov = (0.5 - d).clamp(0.0, 1.0) * alpha;
            if cov > 0.0 {
                let px = &mut buf[y * n + x];
                *px = lerp3(*px, colour, cov);
            }
        }
    }
}

fn clip_bounds(lo: V2, hi: V2, n: usize, margin: f32) -> (usize, usize, usize, usize) {
    let c = |v: f32| (v.max(0.0) as usize).min(n);
    (
        c((lo.0 - margin).floor()),
        c((hi.0 + margin).ceil() + 1.0),
        c((lo.1 - margin).floor()),
        c((hi.1 + margin).ceil() + 1.0),
    )
}

/// Lays out the hand of `sign` in pixel coordinates of an `s`×`s` canvas, in drawing
/// order (back to front).
fn build_hand(sign: &Sign, skin: [f32; 3], rng: &mut Rng, s: f32) -> Vec<Part> {
    let unit = s * HAND_SCALE * rng.range(1.0 - SCALE_JITTER, 1.0 + SCALE_JITTER);
    let rot = sign.rot + rng.range(-ROT_JITTER, ROT_JITTER);
    let aspect = rng.range(0.92, 1.08); // a little foreshortening
    let palm_w = sign.palm * rng.range(0.95, 1.05);
    let (sin, cos) = rot.to_radians().sin_cos();
    let frame = HandFrame {
        unit,
        aspect,
        palm_w,
        sin,
        cos,
    };

    let mut back = arm_parts(&frame, skin, rng);
    let mut front: Vec<Part> = Vec::new();
    let palm = Shape::RBox {
        c: frame.to_px(V2(0.0, 0.0)),
        u: V2(cos, sin),
        h: V2(0.5 * palm_w * unit * aspect, PALM_HALF_H * unit),
        r: 0.22 * unit,
    };
    push_digits(sign, &frame, skin, rng, &mut back, &mut front);
    back.push(Part {
        shape: palm,
        colour: skin,
        core: true,
    });
    back.extend(front);
    centre_hand(&mut back, rng, s);
    back
}

/// Where the hand's own frame lands on the canvas: its size, foreshortening, palm width
/// and rotation.
struct HandFrame {
    unit: f32,
    aspect: f32,
    palm_w: f32,
    sin: f32,
    cos: f32,
}

impl HandFrame {
    /// Hand frame -> canvas, before centring.
    fn to_px(&self, q: V2) -> V2 {
        let q = V2(q.0 * self.unit * self.aspect, q.1 * self.unit);
        V2(q.0 * self.cos - q.1 * self.sin, q.0 * self.sin + q.1 * self.cos)
    }
}

/// The forearm and, half the time, a sleeve over it.
fn arm_parts(frame: &HandFrame, skin: [f32; 3], rng: &mut Rng) -> Vec<Part> {
    let unit = frame.unit;
    let wrist = Shape::Capsule {
        a: frame.to_px(V2(0.0, 0.2)),
        b: frame.to_px(V2(0.0, 4.0)),
        r: 0.34 * frame.palm_w.max(0.8) * unit,
    };
    let mut parts = vec![Part {
        shape: wrist,
        colour: skin,
        core: false,
    }];
    if rng.chance(0.5) {
        let start = rng.range(1.1, 1.8);
        let sleeve = Shape::Capsule {
            a: frame.to_px(V2(0.0, start)),
            b: frame.to_px(V2(0.0, 5.0)),
            r: 0.5 * unit,
        };
        parts.push(Part {
            shape: sleeve,
            colour: bg_colour(rng, Some(luminance(skin))),
            core: false,
        });
    }
    parts
}

/// The digits of `sign`, a capsule per segment, each onto `back` or `front` of the palm.
fn push_digits(
    sign: &Sign,
    frame: &HandFrame,
    skin: [f32; 3],
    rng: &mut Rng,
    back: &mut Vec<Part>,
    front: &mut Vec<Part>,
) {
    let part = |shape| Part {
        shape,
        colour: skin,
        core: true,
    };
    for (i, f) in sign.digits.iter().enumerate() {
        if f.l1 <= 0.0 {
            continue;
        }
        let len = DIGIT_LEN[i] * rng.range(0.94, 1.06);
        let a1 = f.angle + rng.range(-4.0, 4.0);
        let a2 = a1 + f.bend + rng.range(-6.0, 6.0);
        let (bx, by) = DIGIT_BASE[i];
        let base = V2(bx * frame.palm_w, by);
        let p1 = base.add(V2::dir(a1).scale(f.l1 * len));
        let r = DIGIT_RADIUS[i] * frame.unit * rng.range(0.93, 1.07);
        let list = if f.front { &mut *front } else { &mut *back };
        list.push(part(Shape::Capsule {
            a: frame.to_px(base),
            b: frame.to_px(p1),
            r,
        }));
        if f.l2 > 0.0 {
            let p2 = p1.add(V2::dir(a2).scale(f.l2 * len));
            list.push(part(Shape::Capsule {
                a: frame.to_px(p1),
                b: frame.to_px(p2),
                r: r * 0.94,
            }));
        }
    }
}

/// Centres the hand (not the forearm) on the `s`×`s` canvas, with jitter.
fn centre_hand(parts: &mut [Part], rng: &mut Rng, s: f32) {
    let mut lo = V2(f32::MAX, f32::MAX);
    let mut hi = V2(f32::MIN, f32::MIN);
    for p in parts.iter().filter(|p| p.core) {
        let (a, b) = p.shape.bounds();
        lo = V2(lo.0.min(a.0), lo.1.min(a.1));
        hi = V2(hi.0.max(b.0), hi.1.max(b.1));
    }
    let centre = lo.add(hi).scale(0.5);
    let target = V2(
        s * (0.5 + rng.range(-SHIFT_JITTER, SHIFT_JITTER)),
        s * (0.5 + rng.range(-SHIFT_JITTER, SHIFT_JITTER)),
    );
    let shift = target.sub(centre);
    for p in parts.iter_mut() {
        p.shape = match p.shape {
            Shape::Capsule { a, b, r } => Shape::Capsule {
                a: a.add(shift),
                b: b.add(shift),
                r,
            },
            Shape::RBox { c, u, h, r } => Shape::RBox {
                c: c.add(shift),
                u,
                h,
                r,
            },
        };
    }
}

/// A soft drop shadow of the whole hand, offset from it.
fn draw_shadow(rng: &mut Rng, buf: &mut [[f32; 3]], n: usize, parts: &[Part]) {
    let s = n as f32;
    let off = V2(rng.range(-0.08, 0.08) * s, rng.range(0.02, 0.09) * s);
    let soft = rng.range(0.03, 0.08) * s;
    let strength = rng.range(0.2, 0.5);
    let mut lo = V2(f32::MAX, f32::MAX);
    let mut hi = V2(f32::MIN, f32::MIN);
    for p in parts {
        let (a, b) = p.shape.bounds();
        lo = V2(lo.0.min(a.0), lo.1.min(a.1));
        hi = V2(hi.0.max(b.0), hi.1.max(b.1));
    }
    let (x0, x1, y0, y1) = clip_bounds(lo.add(off), hi.add(off), n, soft + 2.0);
    // The shadow is soft, so one evaluation per 2×2 block of pixels is plenty.
    for by in (y0 & !1..y1).step_by(2) {
        for bx in (x0 & !1..x1).step_by(2) {
            let p = V2(bx as f32 + 1.0, by as f32 + 1.0).sub(off);
            let mut d = f32::MAX;
            for part in parts {
                d = d.min(part.shape.sd(p));
                if d < -soft {
                    break;
                }
            }
            let a = strength * (1.0 - smoothstep(-soft, soft, d));
            if a <= 0.0 {
                continue;
            }
            for y in by..(by + 2).min(n) {
                for x in bx..(bx + 2).min(n) {
                    for c in buf[y * n + x].iter_mut() {
                        *c *= 1.0 - a;
                    }
                }
            }
        }
    }
}

/// Paints the hand parts back to front with a rounded (cylinder-like) shading and a
/// directional light across the hand.
fn draw_parts(rng: &mut Rng, buf: &mut [[f32; 3]], n: usize, parts: &[Part]) {
    let s = n as f32;
    let light = V2::dir(rng.range(0.0, 360.0));
    let light_amt = rng.range(0.0, 0.25);
    let rim = rng.range(0.45, 0.6); // brightness at a part's edge
    for part in parts {
        let (lo, hi) = part.shape.bounds();
        let (x0, x1, y0, y1) = clip_bounds(lo, hi, n, 1.0);
        let thick = part.shape.thickness().max(1.0);
        for y in y0..y1 {
            for x in x0..x1 {
                let p = V2(x as f32 + 0.5, y as f32 + 0.5);
                let d = part.shape.sd(p);
                let cov = (0.5 - d).clamp(0.0, 1.0);
                if cov <= 0.0 {
                    continue;
                }
                // Rounded shading: darkest at the rim, so overlapping parts (a thumb
                // across the palm, curled fingers) show their outlines.
                let t = (-d / thick).clamp(0.0, 1.0);
                let mut shade = rim + (1.0 - rim) * (t * (2.0 - t)).sqrt();
                let lp = p.sub(V2(0.5 * s, 0.5 * s)).dot(light) / s;
                shade *= 1.0 + light_amt * 2.0 * lp;
                let c = part.colour;
                let col = [c[0] * shade, c[1] * shade, c[2] * shade];
                let px = &mut buf[y * n + x];
                *px = lerp3(*px, col, cov);
            }
        }
    }
}

/// Global lighting, blur and noise on the output-size image.
fn post_process(rng: &mut Rng, img: &mut [[f32; 3]], m: usize) {
    let s = m as f32;
    let brightness = rng.range(0.7, 1.2);
    let contrast = rng.range(0.75, 1.2);
    let cast = [rng.range(0.96, 1.04), rng.range(0.96, 1.04), rng.range(0.96, 1.04)];
    let grad_dir = V2::dir(rng.range(0.0, 360.0));
    let grad = rng.range(0.0, 0.25);
    for y in 0..m {
        for x in 0..m {
            let p = V2((x as f32 + 0.5) / s - 0.5, (y as f32 + 0.5) / s - 0.5);
            let g = 1.0 + grad * 2.0 * p.dot(grad_dir);
            let px = &mut img[y * m + x];
            for k in 0..3 {
                let v = px[k] * cast[k] * brightness * g;
                px[k] = (v - 0.5) * contrast + 0.5;
            }
        }
    }

    // Slight blur: a [1 2 1] kernel, mixed in by a random amount.
    let blur = rng.range(0.0, 0.5);
    if blur > 0.05 && m >= 3 {
        let src = img.to_vec();
        let at = |x: isize, y: isize| {
            let x = x.clamp(0, m as isize - 1) as usize;
            let y = y.clamp(0, m as isize - 1) as usize;
            src[y * m + x]
        };
        for y in 0..m as isize {
            for x in 0..m as isize {
                let mut acc = [0.0f32; 3];
                for (dy, wy) in [(-1isize, 1.0f32), (0, 2.0), (1, 1.0)] {
                    for (dx, wx) in [(-1isize, 1.0f32), (0, 2.0), (1, 1.0)] {
                        let c = at(x + dx, y + dy);
                        let w = wx * wy / 16.0;
                        acc[0] += c[0] * w;
                        acc[1] += c[1] * w;
                        acc[2] += c[2] * w;
                    }
                }
                let px = &mut img[y as usize * m + x as usize];
                *px = lerp3(*px, acc, blur);
            }
        }
    }

    // Sensor noise: per channel plus a shared luminance part.
    let sigma = rng.range(0.004, 0.02);
    for px in img.iter_mut() {
        let l = rng.normal() * sigma * 0.5;
        for c in px.iter_mut() {
            *c += l + rng.normal() * sigma;
        }
    }
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn small() -> SynthConfig {
        SynthConfig {
            per_class: 2,
            image_size: 32,
            seed: 7,
            test_per_class: 1,
            jpeg_quality: 85,
        }
    }

    fn class_index(name: &str) -> usize {
        CLASSES.iter().position(|c| *c == name).unwrap()
    }

    #[test]
    fn table_matches_classes() {
        for (sign, class) in SIGNS.iter().zip(CLASSES.iter()) {
            assert_eq!(sign.name, *class);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let dir = std::env::temp_dir().join(format!("asl-synth-det-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.zip");
        let b = dir.join("b.zip");
        let c = dir.join("c.zip");
        let sa = write_zip(&small(), &a).unwrap();
        write_zip(&small(), &b).unwrap();
        write_zip(&SynthConfig { seed: 8, ..small() }, &c).unwrap();
        let (ba, bb, bc) = (
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            std::fs::read(&c).unwrap(),
        );
        assert_eq!(sa.bytes, ba.len() as u64);
        assert_eq!(fnv1a(&ba), fnv1a(&bb));
        assert_eq!(ba, bb);
        assert_ne!(ba, bc);
        // Overwriting in place is atomic and leaves no temporary files behind.
        write_zip(&small(), &a).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), ba);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.zip", "b.zip", "c.zip"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn archive_layout() {
        let dir = std::env::temp_dir().join(format!("asl-synth-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("asl-alphabet.zip");
        let cfg = SynthConfig {
            per_class: 3,
            test_per_class: 2,
            ..small()
        };
        let summary = write_zip(&cfg, &path).unwrap();
        assert_eq!(summary.images, 29 * 5);
        assert_eq!(summary.classes, 29);

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
        names.sort();
        let mut want = vec![
            "asl_alphabet_train/".to_owned(),
            format!("{TRAIN_DIR}/"),
            "asl_alphabet_test/".to_owned(),
            format!("{TEST_DIR}/"),
        ];
        for class in CLASSES {
            want.push(format!("{TRAIN_DIR}/{class}/"));
            for n in 1..=3 {
                want.push(format!("asl_alphabet_train/asl_alphabet_train/{class}/{class}{n}.jpg"));
            }
            want.push(format!("asl_alphabet_test/asl_alphabet_test/{class}_test.jpg"));
            want.push(format!("asl_alphabet_test/asl_alphabet_test/{class}_test2.jpg"));
        }
        want.sort();
        assert_eq!(names, want);

        // Entries are real JPEGs of the configured size.
        let mut bytes = Vec::new();
        zip.by_name("asl_alphabet_train/asl_alphabet_train/B/B2.jpg")
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (32, 32));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn render_is_deterministic_and_sized() {
        let a = render(3, 42, 48);
        assert_eq!(a.dimensions(), (48, 48));
        assert_eq!(a, render(3, 42, 48));
        assert_ne!(a, render(3, 43, 48));
        assert_eq!(render(0, 1, 0).dimensions(), (0, 0));
    }

    /// Image as a feature vector: 2×2 box-downscaled, standardised to mean 0 and
    /// variance 1 over all its values (so global brightness/contrast drop out).
    fn features(img: &RgbImage) -> Vec<f32> {
        let (w, h) = img.dimensions();
        let mut v = Vec::with_capacity((w * h * 3 / 4) as usize);
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                for k in 0..3 {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|&(dx, dy)| img.get_pixel(x + dx, y + dy).0[k] as u32)
                        .sum();
                    v.push(s as f32 / 4.0);
                }
            }
        }
        let n = v.len() as f32;
        let mean = v.iter().sum::<f32>() / n;
        let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n)
            .sqrt()
            .max(1e-3);
        v.iter_mut().for_each(|x| *x = (*x - mean) / sd);
        v
    }

    fn mean_of(imgs: &[Vec<f32>]) -> Vec<f32> {
        let mut m = vec![0.0; imgs[0].len()];
        for v in imgs {
            for (a, b) in m.iter_mut().zip(v) {
                *a += b / imgs.len() as f32;
            }
        }
        m
    }

    fn dist(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
    }

    /// A cheap separability check on raw pixels, where backgrounds, skin tones and
    /// lighting dominate the variance: class means of different classes still lie
    /// clearly further apart than two means of one class computed from disjoint
    /// halves of its samples, and a nearest-class-mean classifier does several
    /// times better than chance (10 %) on held-out samples.
    #[test]
    fn classes_are_distinct() {
        let names = ["A", "B", "C", "G", "L", "V", "Y", "del", "nothing", "space"];
        let (per, held_out) = (40, 10);
        let mut halves = Vec::new();
        let mut means = Vec::new();
        let mut tests = Vec::new();
        for name in names {
            let ci = class_index(name);
            let f: Vec<Vec<f32>> = (0..per + held_out)
                .map(|k| features(&render(ci, 1000 + k as u64, 32)))
                .collect();
            halves.push((mean_of(&f[..per / 2]), mean_of(&f[per / 2..per])));
            means.push(mean_of(&f[..per]));
            tests.push(f[per..].to_vec());
        }
        let within = halves.iter().map(|(a, b)| dist(a, b)).sum::<f32>() / names.len() as f32;
        let (mut between, mut pairs) = (0.0, 0);
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                between += dist(&halves[i].0, &halves[j].1);
                pairs += 1;
            }
        }
        let between = between / pairs as f32;
        let mut correct = 0;
        for (ci, samples) in tests.iter().enumerate() {
            for x in samples {
                let best = (0..names.len())
                    .min_by(|&a, &b| dist(&means[a], x).total_cmp(&dist(&means[b], x)))
                    .unwrap();
                correct += (best == ci) as usize;
            }
        }
        let acc = correct as f32 / (names.len() * held_out) as f32;
        assert!(between > 1.25 * within, "between {between} within {within}");
        assert!(acc > 0.3, "nearest-class-mean accuracy {acc}");
    }

    /// Fraction of 4×4 cells whose mean colour is skin-like (orange hue, clearly
    /// saturated, not black).
    fn skin_cells(img: &RgbImage) -> f32 {
        let (w, h) = img.dimensions();
        let mut hits = 0;
        let mut cells = 0;
        for cy in (0..h - 3).step_by(4) {
            for cx in (0..w - 3).step_by(4) {
                let mut c = [0.0f32; 3];
                for y in cy..cy + 4 {
                    for x in cx..cx + 4 {
                        let p = img.get_pixel(x, y);
                        for (ck, v) in c.iter_mut().zip(p.0) {
                            *ck += v as f32 / (255.0 * 16.0);
                        }
                    }
                }
                cells += 1;
                let max = c[0].max(c[1]).max(c[2]);
                let min = c[0].min(c[1]).min(c[2]);
                if max < 0.15 || max - min < (0.18 * max).max(0.05) || c[0] != max {
                    continue;
                }
                let hue = 60.0 * (c[1] - c[2]) / (max - min);
                if (5.0..50.0).contains(&hue) {
                    hits += 1;
                }
            }
        }
        hits as f32 / cells as f32
    }

    #[test]
    fn nothing_has_no_skin_blob() {
        let nothing = class_index("nothing");
        for k in 0..40 {
            let frac = skin_cells(&render(nothing, k, 64));
            assert!(frac < 0.02, "nothing sample {k}: skin cells {frac}");
        }
        // The detector does see hands.
        let b = class_index("B");
        let mean: f32 = (0..40).map(|k| skin_cells(&render(b, k, 64))).sum::<f32>() / 40.0;
        assert!(mean > 0.1, "B: mean skin cells {mean}");
    }
}
