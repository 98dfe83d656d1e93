//! The Prep flow: decode every image of a dataset once, resize it, and keep the pixels in one
//! memory-mapped cache file, so that every training run and search trial loads them fast.
//!
//! File format (little-endian), version [`CACHE_FORMAT`]:
//! ```text
//! "ASLCACHE" | u32 format | u32 header_len | header JSON | zero padding to 64 bytes
//! labels: u8 × N (train images first, then validation)
//! pixels: N × S × S × 3 u8, row-major RGB (HWC)
//! ```
//! The cache is written to a temporary file, fsynced and renamed into place, so a crash
//! mid-write never leaves a cache that looks valid.
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, RgbImage, imageops::FilterType};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::classes::{CLASSES, NUM_CLASSES};
use crate::dataset::layout::Layout;
use crate::fsutil;
use crate::photo::{self, DecodeBudget, PhotoError};
use crate::progress::{Cancel, Progress};
use crate::rng::SplitMix64;

/// Cache file format; bump when the layout or the header changes meaning.
pub const CACHE_FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"ASLCACHE";

/// Why building or opening a cache failed. An image that does not decode is not an error: it
/// is left out, counted and named in the header ([`CacheHeader::skipped`]).
#[derive(Debug, thiserror::Error)]
pub enum PrepError {
    /// The file is not a cache this asl reads: wrong magic or format, truncated, a bad header
    /// or a label out of range.
    #[error("{path}: not an asl cache ({reason}); delete it or run `asl prep --force`")]
    BadCache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No image of the dataset decoded (the training root named).
    #[error("no readable images in {0}")]
    Empty(PathBuf),
    /// The build was cancelled through its [`Cancel`] token.
    #[error("the operation was cancelled")]
    Cancelled,
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PrepError + '_ {
    move |source| PrepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resize an image to the model's square input. This one function serves training (through
/// the cache) and inference, so both see bit-for-bit the same pixels.
pub fn preprocess(img: &DynamicImage, size: u32) -> RgbImage {
    resize_rgb(img.to_rgb8(), size)
}

/// Decode image bytes under the default [`DecodeBudget`], then [`preprocess`] them. Large
/// JPEGs are decoded at a reduced DCT scale that still leaves [`photo::needed_side`] pixels.
pub fn decode_and_preprocess(bytes: &[u8], size: u32) -> Result<RgbImage, PhotoError> {
    decode_and_preprocess_within(bytes, size, &DecodeBudget::default())
}

/// [`decode_and_preprocess`] under a given budget.
pub fn decode_and_preprocess_within(bytes: &[u8], size: u32, budget: &DecodeBudget) -> Result<RgbImage, PhotoError> {
    let rgb = photo::decode(bytes, budget, photo::needed_side(size))?;
    Ok(resize_rgb(rgb, size))
}

/// Like [`decode_and_preprocess`], plus the monitoring features of the photo as it arrived
/// (before resizing: its size and sharpness are part of what drifts).
pub fn decode_with_features(bytes: &[u8], size: u32) -> Result<(RgbImage, crate::monitor::ImageFeatures), PhotoError> {
    let plan = photo::plan(bytes, &DecodeBudget::default(), photo::needed_side(size))?;
    decode_planned_with_features(&plan, bytes, size)
}

/// Decodes a planned photo, measures its monitoring features and resizes it to the model's
/// input. The features see the photo as decoded (a reduced-scale JPEG at that scale).
pub fn decode_planned_with_features(
    plan: &photo::Plan,
    bytes: &[u8],
    size: u32,
) -> Result<(RgbImage, crate::monitor::ImageFeatures), PhotoError> {
    let rgb = plan.decode(bytes)?;
    let mut features = crate::monitor::ImageFeatures::from_rgb8(rgb.as_raw(), rgb.width(), rgb.height())
        .map_err(|e| PhotoError::Unreadable(e.to_string()))?;
    // The size that drifts is the photo's, not the reduced scale it was decoded at.
    (features.width, features.height) = (plan.width, plan.height);
    Ok((resize_rgb(rgb, size), features))
}

/// A decoded photo ready for a model: its CNN input and, for a model with a hand path, the
/// [`crate::hand::view`] the hand detector reads.
#[derive(Debug, Clone)]
pub struct PreparedPhoto {
    /// The photo resized to the model's square input.
    pub input: RgbImage,
    /// The full-size [`crate::hand::view`] for the hand detector; `None` when not asked for.
    pub view: Option<RgbImage>,
}

impl PreparedPhoto {
    /// Resizes `rgb` to `size` × `size` for the CNN and, when `with_view`, keeps its hand view.
    pub fn new(rgb: RgbImage, size: u32, with_view: bool) -> PreparedPhoto {
        let view = with_view.then(|| crate::hand::view(&rgb));
        PreparedPhoto {
            input: resize_rgb(rgb, size),
            view,
        }
    }
}

/// Like [`decode_planned_with_features`], keeping the hand view when `with_view`.
pub fn decode_planned_prepared(
    plan: &photo::Plan,
    bytes: &[u8],
    size: u32,
    with_view: bool,
) -> Result<(PreparedPhoto, crate::monitor::ImageFeatures), PhotoError> {
    let rgb = plan.decode(bytes)?;
    let mut features = crate::monitor::ImageFeatures::from_rgb8(rgb.as_raw(), rgb.width(), rgb.height())
        .map_err(|e| PhotoError::Unreadable(e.to_string()))?;
    (features.width, features.height) = (plan.width, plan.height);
    Ok((PreparedPhoto::new(rgb, size, with_view), features))
}

fn resize_rgb(rgb: RgbImage, size: u32) -> RgbImage {
    if rgb.width() == size && rgb.height() == size {
        return rgb;
    }
    // Triangle (bilinear with a support scaled to the reduction) averages the pixels a
    // downscale drops, which is what keeps small inputs free of aliasing.
    image::imageops::resize(&rgb, size, size, FilterType::Triangle)
}

/// How to build a cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrepConfig {
    /// Side of the square images in the cache, in pixels (default 48).
    pub image_size: u32,
    /// Share of each class held out for validation, 0 to 1 (default 0.2).
    pub val_fraction: f32,
    /// Seed of the per-class shuffle that picks the validation images (default 42).
    pub seed: u64,
}

impl Default for PrepConfig {
    fn default() -> Self {
        Self {
            image_size: 48,
            val_fraction: 0.2,
            seed: 42,
        }
    }
}

/// The cache header: what the pixels are and where they came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheHeader {
    /// The cache format the file was written in ([`CACHE_FORMAT`]).
    pub format: u32,
    /// Hash of the dataset manifest (or of the folder listing) the cache was built from.
    pub source_hash: String,
    /// Name of the dataset: `owner/slug`, or `dir:<training root>` for a plain folder.
    pub dataset: String,
    /// Version of the collected dataset; 0 for a plain folder.
    pub dataset_version: u32,
    /// How the cache was built (image size, validation share, seed).
    pub config: PrepConfig,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Training images in the cache (they come first).
    pub n_train: usize,
    /// Validation images in the cache (after the training images).
    pub n_val: usize,
    /// File names relative to the training root, in cache order.
    pub files: Vec<String>,
    /// The training root the cache was built from (the monitoring reference reads original
    /// photos there when they are still present).
    #[serde(default)]
    pub train_root: Option<PathBuf>,
    /// How many files could not be decoded and were left out.
    pub skipped_count: usize,
    /// The first few unreadable files and why.
    pub skipped: Vec<(String, String)>,
}

impl CacheHeader {
    /// Short identity of the cache contents, for run tags and model cards.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(
            serde_json::json!([self.source_hash, self.config, self.n_train, self.n_val])
                .to_string()
                .as_bytes(),
        );
        crate::dataset::download::hex(&h.finalize()[..8])
    }
}

/// A memory-mapped cache.
pub struct Cache {
    /// The header read from the file.
    pub header: CacheHeader,
    /// The cache file.
    pub path: PathBuf,
    map: memmap2::Mmap,
    labels_at: usize,
    pixels_at: usize,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("path", &self.path)
            .field("n_train", &self.header.n_train)
            .field("n_val", &self.header.n_val)
            .finish()
    }
}

/// Which part of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training images (the first `n_train`).
    Train,
    /// The held-out validation images.
    Val,
}

impl Cache {
    /// Maps a cache file and checks it: magic, format, header, file size and labels.
    ///
    /// # Errors
    /// [`PrepError::BadCache`] when the file is not a valid cache of this format; [`PrepError::Io`]
    /// when it cannot be opened or mapped.
    pub fn open(path: &Path) -> Result<Cache, PrepError> {
        let bad = |reason: &str| PrepError::BadCache {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let file = File::open(path).map_err(io_err(path))?;
        // SAFETY: the file is only ever replaced by rename, never modified in place, so the
        // mapping cannot change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        if map.len() < 16 || &map[..8] != MAGIC {
            return Err(bad("wrong magic"));
        }
        let format = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
        if format != CACHE_FORMAT {
            return Err(bad(&format!("format {format}, this asl reads {CACHE_FORMAT}")));
        }
        let hlen = u32::from_le_bytes([map[12], map[13], map[14], map[15]]) as usize;
        let header_end = 16usize
            .checked_add(hlen)
            .filter(|e| *e <= map.len())
            .ok_or_else(|| bad("truncated header"))?;
        let header: CacheHeader =
            serde_json::from_slice(&map[16..header_end]).map_err(|e| bad(&format!("bad header: {e}")))?;
        let labels_at = header_end.div_ceil(64) * 64;
        let n = header.n_train + header.n_val;
        let s = header.config.image_size as usize;
        let pixels_at = labels_at + n;
        let expected = pixels_at + n * s * s * 3;
        if map.len() != expected {
            return Err(bad(&format!("{} bytes, expected {expected} (truncated?)", map.len())));
        }
        if map[labels_at..pixels_at].iter().any(|&l| l as usize >= NUM_CLASSES) {
            return Err(bad("label out of range"));
        }
        Ok(Cache {
            header,
            path: path.to_path_buf(),
            map,
            labels_at,
            pixels_at,
        })
    }

    /// Side of the square images, in pixels.
    pub fn image_size(&self) -> usize {
        self.header.config.image_size as usize
    }
    /// Number of images in a split.
    pub fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.header.n_train,
            Split::Val => self.header.n_val,
        }
    }
    /// True when the split has no images.
    pub fn is_empty(&self, split: Split) -> bool {
        self.len(split) == 0
    }
    fn offset(&self, split: Split) -> usize {
        match split {
            Split::Train => 0,
            Split::Val => self.header.n_train,
        }
    }
    /// Labels of a split.
    pub fn labels(&self, split: Split) -> &[u8] {
        let o = self.labels_at + self.offset(split);
        &self.map[o..o + self.len(split)]
    }
    /// HWC RGB pixels of image `i` of a split.
    pub fn pixels(&self, split: Split, i: usize) -> &[u8] {
        let s = self.image_size();
        let per = s * s * 3;
        let o = self.pixels_at + (self.offset(split) + i) * per;
        &self.map[o..o + per]
    }
    /// File name (relative to the training root) of image `i` of a split.
    pub fn file(&self, split: Split, i: usize) -> &str {
        &self.header.files[self.offset(split) + i]
    }
}

/// (class, photo path) pairs.
pub type Labelled = Vec<(u8, PathBuf)>;

/// Stratified split: for each class, a seeded shuffle, the first `val_fraction` to validation.
/// Returns (train, val) lists of (class, path).
pub fn split(layout: &Layout, cfg: &PrepConfig) -> (Labelled, Labelled) {
    let mut train = Vec::new();
    let mut val = Vec::new();
    for (class, files) in layout.images.iter().enumerate() {
        let mut idx: Vec<usize> = (0..files.len()).collect();
        let mut rng = SplitMix64::new(cfg.seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.shuffle(&mut idx);
        let n_val = ((files.len() as f64) * cfg.val_fraction as f64).round() as usize;
        for (k, &i) in idx.iter().enumerate() {
            let item = (class as u8, files[i].clone());
            if k < n_val { val.push(item) } else { train.push(item) }
        }
    }
    // Interleave classes in a seeded order so a partial read is still representative.
    let mut rng = SplitMix64::new(cfg.seed.wrapping_add(1));
    rng.shuffle(&mut train);
    rng.shuffle(&mut val);
    (train, val)
}

/// Where the cache for a source and config lives.
pub fn cache_path(cache_dir: &Path, source_hash: &str, cfg: &PrepConfig) -> PathBuf {
    cache_dir.join(format!(
        "{source_hash}-{}px-val{:.0}-seed{}.aslcache",
        cfg.image_size,
        cfg.val_fraction * 100.0,
        cfg.seed
    ))
}

/// What `prepare` did.
#[derive(Debug)]
pub struct PrepOutcome {
    /// The cache, open.
    pub cache: Cache,
    /// False when an existing cache was reused.
    pub built: bool,
    /// Wall-clock seconds spent (checking, or building and opening).
    pub seconds: f64,
}

/// Source of the images for a cache.
pub struct PrepSource<'a> {
    /// The dataset's images, by class.
    pub layout: &'a Layout,
    /// Hash of the dataset manifest, or of the folder listing; a cache is reused only when it matches.
    pub source_hash: String,
    /// Name of the dataset (`owner/slug`, or `dir:<root>`), recorded in the header.
    pub dataset: String,
    /// Version of the collected dataset; 0 for a plain folder.
    pub dataset_version: u32,
}

/// Reuse the cache when it matches the source and config; otherwise build it.
pub fn prepare(
    cache_dir: &Path,
    src: &PrepSource,
    cfg: &PrepConfig,
    force: bool,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<PrepOutcome, PrepError> {
    let started = std::time::Instant::now();
    let path = cache_path(cache_dir, &src.source_hash, cfg);
    if !force
        && let Ok(cache) = Cache::open(&path)
        && cache.header.source_hash == src.source_hash
        && cache.header.config == *cfg
    {
        return Ok(PrepOutcome {
            cache,
            built: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    build(&path, src, cfg, progress, cancel)?;
    let cache = Cache::open(&path)?;
    Ok(PrepOutcome {
        cache,
        built: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn build(
    path: &Path,
    src: &PrepSource,
    cfg: &PrepConfig,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<(), PrepError> {
    let (train, val) = split(src.layout, cfg);
    let all: Vec<&(u8, PathBuf)> = train.iter().chain(val.iter()).collect();
    let decoded = decode_all(&all, cfg.image_size, progress, cancel);
    if cancel.is_cancelled() {
        return Err(PrepError::Cancelled);
    }
    let (header, labels) = cache_header(src, cfg, &all, &decoded, train.len())?;
    write_cache(path, &header, &labels, decoded.iter().flatten())
}

/// Decodes every image in parallel, resized to `s`; each result is either pixels or the
/// reason the file is unreadable.
fn decode_all(
    all: &[&(u8, PathBuf)],
    s: u32,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Vec<Result<RgbImage, String>> {
    progress.begin("prep", Some(all.len() as u64));
    let done = AtomicUsize::new(0);
    let decoded: Vec<Result<RgbImage, String>> = all
        .par_iter()
        .map(|(_, p)| {
            if cancel.is_cancelled() {
                return Err("cancelled".into());
            }
            let r = fs::read(p)
                .map_err(|e| e.to_string())
                .and_then(|b| decode_and_preprocess(&b, s).map_err(|e| e.to_string()));
            let n = done.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(256) {
                progress.set_position(n as u64);
            }
            r
        })
        .collect();
    progress.finish();
    decoded
}

/// The cache's header (the first `train_len` of `all` are training images) and the labels
/// of the images that decoded. Unreadable files are counted and the first 20 named.
fn cache_header(
    src: &PrepSource,
    cfg: &PrepConfig,
    all: &[&(u8, PathBuf)],
    decoded: &[Result<RgbImage, String>],
    train_len: usize,
) -> Result<(CacheHeader, Vec<u8>), PrepError> {
    let rel = |p: &Path| {
        p.strip_prefix(&src.layout.train_root)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string()
    };
    let mut skipped = Vec::new();
    let (mut n_train, mut n_val) = (0, 0);
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (k, ((label, p), r)) in all.iter().map(|x| (&x.0, &x.1)).zip(decoded).enumerate() {
        match r {
            Ok(_) => {
                files.push(rel(p));
                labels.push(*label);
                if k < train_len { n_train += 1 } else { n_val += 1 }
            }
            Err(e) => skipped.push((rel(p), e.clone())),
        }
    }
    if n_train + n_val == 0 {
        return Err(PrepError::Empty(src.layout.train_root.clone()));
    }
    let skipped_count = skipped.len();
    skipped.truncate(20);
    let header = CacheHeader {
        format: CACHE_FORMAT,
        source_hash: src.source_hash.clone(),
        dataset: src.dataset.clone(),
        dataset_version: src.dataset_version,
        config: cfg.clone(),
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        n_train,
        n_val,
        files,
        train_root: Some(src.layout.train_root.clone()),
        skipped_count,
        skipped,
    };
    Ok((header, labels))
}

/// Writes a cache file (`labels` and `images` in cache order, `header` describing them) through
/// a temporary file beside `path`, fsynced and renamed into place. A label count, image count
/// or image size that does not match the header is a [`PrepError::BadCache`], and nothing is
/// written.
pub fn write_cache<'a>(
    path: &Path,
    header: &CacheHeader,
    labels: &[u8],
    images: impl IntoIterator<Item = &'a RgbImage>,
) -> Result<(), PrepError> {
    let bad = |reason: String| PrepError::BadCache {
        path: path.to_path_buf(),
        reason,
    };
    if labels.len() != header.n_train + header.n_val {
        return Err(bad(format!(
            "{} labels, the header says {} + {} images",
            labels.len(),
            header.n_train,
            header.n_val
        )));
    }
    let dir = fsutil::parent_dir(path);
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(".cache-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let hjson = serde_json::to_vec(header).map_err(|e| PrepError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let mut head = Vec::with_capacity(16 + hjson.len() + 64);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
        head.extend_from_slice(&(hjson.len() as u32).to_le_bytes());
        head.extend_from_slice(&hjson);
        head.resize(head.len().div_ceil(64) * 64, 0);
        w.write_all(&head).map_err(io_err(path))?;
        w.write_all(labels).map_err(io_err(path))?;
        let side = header.config.image_size;
        let mut written = 0usize;
        for img in images {
            if img.dimensions() != (side, side) {
                return Err(bad(format!(
                    "an image of {}×{}, the header says {side}",
                    img.width(),
                    img.height()
                )));
            }
            w.write_all(img.as_raw()).map_err(io_err(path))?;
            written += 1;
        }
        if written != labels.len() {
            return Err(bad(format!("{written} images for {} labels", labels.len())));
        }
        w.flush().map_err(io_err(path))?;
    }
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| PrepError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    fsutil::sync_dir(dir).map_err(io_err(dir))?;
    Ok(())
}

/// Hash of a folder's image listing (names and sizes), for folders without a manifest.
pub fn listing_hash(layout: &Layout) -> String {
    let mut h = Sha256::new();
    for (c, files) in layout.images.iter().enumerate() {
        for f in files {
            let len = fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            h.update(format!("{c}\t{}\t{len}\n", f.display()).as_bytes());
        }
    }
    crate::dataset::download::hex(&h.finalize()[..8])
}

impl<'a> PrepSource<'a> {
    /// The images of a collected dataset version.
    pub fn from_manifest(layout: &'a Layout, manifest: &crate::dataset::Manifest) -> Self {
        PrepSource {
            layout,
            source_hash: manifest.content_hash(),
            dataset: manifest.dataset.clone(),
            dataset_version: manifest.version,
        }
    }
    /// Any folder of class folders (hashed by its listing).
    pub fn from_folder(layout: &'a Layout) -> Self {
        PrepSource {
            layout,
            source_hash: listing_hash(layout),
            dataset: format!("dir:{}", layout.train_root.display()),
            dataset_version: 0,
        }
    }
}

/// Build or reuse the cache of the newest complete local copy of `dataset` under `home`.
pub fn prepare_collected(
    home: &crate::AslHome,
    dataset: &crate::dataset::DatasetRef,
    cfg: &PrepConfig,
    force: bool,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<PrepOutcome, PrepFlowError> {
    let (store, manifest) = crate::dataset::newest_local(home, dataset)?;
    let layout = crate::dataset::layout::scan(&store.data_dir(&manifest))?;
    let src = PrepSource::from_manifest(&layout, &manifest);
    Ok(prepare(&home.cache_dir(), &src, cfg, force, progress, cancel)?)
}

/// Errors of the prep flow as a whole (finding the data, then caching it).
#[derive(Debug, thiserror::Error)]
pub enum PrepFlowError {
    /// No complete local copy of the dataset, or its store could not be read.
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    /// The dataset's folder is not in a layout asl reads.
    #[error(transparent)]
    Layout(#[from] crate::dataset::LayoutError),
    /// Building or opening the cache failed.
    #[error(transparent)]
    Prep(#[from] PrepError),
}

#[cfg(test)]
mod tests {
    use crate::photo::jpeg_is_complete;

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 128]));
        let mut out = Vec::new();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    #[test]
    fn truncated_jpegs_are_detected() {
        let full = jpeg();
        assert!(jpeg_is_complete(&full));
        let mut trailing = full.clone();
        trailing.extend_from_slice(b"trailing bytes some cameras add");
        assert!(jpeg_is_complete(&trailing));
        for cut in [full.len() - 2, full.len() / 2, full.len() / 3, 100, 20, 3] {
            assert!(!jpeg_is_complete(&full[..cut]), "cut at {cut}");
        }
        assert!(jpeg_is_complete(b"\x89PNG not a jpeg"));
    }

    #[test]
    fn a_written_cache_reads_back_and_a_mismatched_one_is_refused() {
        use super::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.aslcache");
        let header = CacheHeader {
            format: CACHE_FORMAT,
            source_hash: "test".into(),
            dataset: "dir:/nowhere".into(),
            dataset_version: 0,
            config: PrepConfig {
                image_size: 4,
                ..PrepConfig::default()
            },
            classes: crate::classes::CLASSES.iter().map(|c| c.to_string()).collect(),
            n_train: 2,
            n_val: 1,
            files: vec!["A/1.jpg".into(), "B/2.jpg".into(), "C/3.jpg".into()],
            train_root: None,
            skipped_count: 0,
            skipped: Vec::new(),
        };
        let images: Vec<RgbImage> = (0..3u8)
            .map(|k| RgbImage::from_pixel(4, 4, image::Rgb([k, 0, 0])))
            .collect();
        write_cache(&path, &header, &[0, 1, 2], images.iter()).unwrap();
        let cache = Cache::open(&path).unwrap();
        assert_eq!(cache.labels(Split::Val), &[2]);
        assert_eq!(cache.pixels(Split::Train, 1)[0], 1);
        // Two images for three labels, a wrong size, a label too few: refused, the file kept.
        let refused = [
            write_cache(&path, &header, &[0, 1, 2], images[..2].iter()),
            write_cache(&path, &header, &[0, 1, 2], [RgbImage::new(5, 5)].iter()),
            write_cache(&path, &header, &[0, 1], images.iter()),
        ];
        for r in refused {
            assert!(matches!(r, Err(PrepError::BadCache { .. })), "{r:?}");
        }
        assert_eq!(Cache::open(&path).unwrap().pixels(Split::Val, 0)[0], 2);
    }
}
