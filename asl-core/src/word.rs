//! From a batch of photos to a word: read the photos (a zip, or files in order), decode and
//! resize them in parallel, classify them in one batched pass, and estimate the word.
//! Shared by the CLI, the HTTP server and the Python bindings.
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classes::NUM_CLASSES;
use crate::decode::{self, DecodeConfig, LetterProbs, Lexicon, Skipped, WordEstimate};
use crate::infer::{Classifier, InferError, Prediction};
use crate::prep;

/// Why reading an upload of photos, or estimating its word, failed.
#[derive(Debug, thiserror::Error)]
pub enum WordError {
    /// The upload is not a zip archive asl can open.
    #[error("not a readable zip archive: {0}")]
    NotZip(String),
    /// A word zip was asked for a character no class spells (letters A–Z and spaces are).
    #[error("cannot spell {0:?}: only letters A–Z and spaces have a class")]
    Unspellable(char),
    /// Writing a word zip in memory failed (encoding a photo or the archive).
    #[error("cannot write the word zip: {0}")]
    WriteZip(String),
    /// The upload exceeds the [`UploadLimits`] (the message says which).
    #[error("upload too large: {0}")]
    TooLarge(String),
    /// No photo could be decoded; the ones skipped, with their reasons (for a word zip: the
    /// character with no image of its class in the split).
    #[error("no readable photos in the upload{}", if .0.is_empty() { String::new() } else { format!(" ({} skipped)", .0.len()) })]
    NoPhotos(Vec<Skipped>),
    /// Classifying the photos failed.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// The probabilities could not be decoded into a word.
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
    /// Reading a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Caps on what one upload may contain (zip bombs, huge batches).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadLimits {
    /// Most photos in one upload (default 256); a zip may have at most four times as many
    /// entries, plus 64.
    pub max_files: usize,
    /// Largest uncompressed photo, in bytes (default 32 MiB).
    pub max_file_bytes: u64,
    /// Largest total of uncompressed photos, in bytes (default 256 MiB).
    pub max_total_bytes: u64,
    /// Largest uncompressed/compressed ratio of one zip entry.
    pub max_ratio: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_files: 256,
            max_file_bytes: 32 << 20,
            max_total_bytes: 256 << 20,
            max_ratio: 100,
        }
    }
}

/// One photo of a batch, still encoded.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The zip entry's path, or the file's name.
    pub name: String,
    /// The encoded image (JPEG, PNG, ...).
    pub bytes: Vec<u8>,
}

/// Photos in spelling order, and what was left out (never silently).
#[derive(Debug, Clone, Default)]
pub struct PhotoBatch {
    /// The photos to classify, in spelling order.
    pub photos: Vec<Photo>,
    /// Entries left out (directories, metadata, non-images, unreadable entries), with reasons.
    pub skipped: Vec<Skipped>,
}

/// Read a zip of photos: natural order of names; directories, `__MACOSX/`, dot files and
/// non-images are reported as skipped. Nothing is written to disk.
pub fn read_zip(bytes: &[u8], limits: &UploadLimits) -> Result<PhotoBatch, WordError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| WordError::NotZip(e.to_string()))?;
    if zip.len() > limits.max_files * 4 + 64 {
        return Err(WordError::TooLarge(format!("{} entries in the zip", zip.len())));
    }
    let names: Vec<String> = (0..zip.len())
        .filter_map(|i| zip.by_index_raw(i).ok().map(|e| e.name().to_string()))
        .collect();
    let (ordered, mut skipped) = decode::order_entries(names);
    if ordered.len() > limits.max_files {
        return Err(WordError::TooLarge(format!(
            "{} photos, the limit is {}",
            ordered.len(),
            limits.max_files
        )));
    }
    let mut total = 0u64;
    let mut photos = Vec::with_capacity(ordered.len());
    for name in ordered {
        // An encrypted, oddly compressed or corrupt entry is skipped with its reason; the
        // other photos are still answered.
        let mut entry = match zip.by_name(&name) {
            Ok(entry) => entry,
            Err(e) => {
                skipped.push(Skipped {
                    file: name,
                    reason: unreadable_entry(&e),
                });
                continue;
            }
        };
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        if size > limits.max_file_bytes || size / packed > limits.max_ratio {
            return Err(WordError::TooLarge(format!(
                "{name}: {size} bytes ({}× compression) exceeds the limits",
                size / packed
            )));
        }
        // Never trust the declared size: read at most one byte past it.
        let mut buf = Vec::with_capacity(size as usize);
        let read = match (&mut entry).take(size + 1).read_to_end(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                skipped.push(Skipped {
                    file: name,
                    reason: format!("corrupt zip entry: {e}"),
                });
                continue;
            }
        };
        if read as u64 > size {
            return Err(WordError::TooLarge(format!("{name} inflates past its declared size")));
        }
        total += read as u64;
        if total > limits.max_total_bytes {
            return Err(WordError::TooLarge(format!(
                "more than {} bytes uncompressed",
                limits.max_total_bytes
            )));
        }
        photos.push(Photo { name, bytes: buf });
    }
    Ok(PhotoBatch { photos, skipped })
}

/// Why a zip entry cannot be opened, said for a person.
fn unreadable_entry(e: &zip::result::ZipError) -> String {
    use zip::result::ZipError;
    match e {
        ZipError::UnsupportedArchive(m) if *m == ZipError::PASSWORD_REQUIRED => {
            "encrypted zip entry (no password is taken)".into()
        }
        ZipError::UnsupportedArchive(m) => format!("unsupported zip entry ({m}); store or deflate photos"),
        other => format!("unreadable zip entry: {other}"),
    }
}

/// Reads the zip file at `path` as [`read_zip`] does.
pub fn read_zip_file(path: &Path, limits: &UploadLimits) -> Result<PhotoBatch, WordError> {
    let bytes = std::fs::read(path).map_err(|source| WordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_zip(&bytes, limits)
}

/// Photos given one by one keep the order they were given in.
pub fn read_files(paths: &[PathBuf]) -> Result<PhotoBatch, WordError> {
    let mut photos = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = std::fs::read(p).map_err(|source| WordError::Io {
            path: p.clone(),
            source,
        })?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| p.display().to_string());
        photos.push(Photo { name, bytes });
    }
    Ok(PhotoBatch {
        photos,
        skipped: Vec::new(),
    })
}

/// Every letter and the word.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WordAnswer {
    /// The word, its confidence and alternatives, and each photo's most likely class
    /// (serialised inline).
    #[serde(flatten)]
    pub estimate: WordEstimate,
    /// The three most likely classes of each classified photo, in order.
    pub top3: Vec<Vec<(String, f32)>>,
    /// Which path answered each classified photo (hand landmarks, or the whole-photo CNN).
    pub answered_by: Vec<crate::infer::AnswerPath>,
    /// False when some photos were skipped.
    pub complete: bool,
}

/// Decode and prepare photos in parallel; unreadable ones go to `skipped`.
pub fn preprocess_batch(clf: &Classifier, batch: &PhotoBatch) -> (Vec<(String, prep::PreparedPhoto)>, Vec<Skipped>) {
    let budget = crate::photo::DecodeBudget::default();
    let decoded: Vec<Result<prep::PreparedPhoto, String>> = batch
        .photos
        .par_iter()
        .map(|p| clf.decode(&p.bytes, &budget).map_err(|e| e.to_string()))
        .collect();
    let mut ok = Vec::new();
    let mut skipped = batch.skipped.clone();
    for (p, r) in batch.photos.iter().zip(decoded) {
        match r {
            Ok(img) => ok.push((p.name.clone(), img)),
            Err(reason) => skipped.push(Skipped {
                file: p.name.clone(),
                reason,
            }),
        }
    }
    (ok, skipped)
}

/// Estimate the word from per-photo predictions.
pub fn estimate(
    names: &[String],
    preds: &[Prediction],
    skipped: Vec<Skipped>,
    raw: bool,
    lexicon: &Lexicon,
    cfg: &DecodeConfig,
) -> Result<WordAnswer, WordError> {
    let inputs: Vec<LetterProbs> = names
        .iter()
        .zip(preds)
        .map(|(n, p)| LetterProbs {
            file: n,
            probs: &p.probabilities,
        })
        .collect();
    let mut estimate = if raw {
        decode::raw(&inputs, &cfg.into())?
    } else {
        lexicon.decode(&inputs, cfg)?
    };
    let complete = skipped.is_empty();
    estimate.skipped = skipped;
    let top3 = preds.iter().map(|p| p.top_k(3)).collect();
    Ok(WordAnswer {
        estimate,
        top3,
        answered_by: preds.iter().map(|p| p.path).collect(),
        complete,
    })
}

/// The whole path from encoded photos to the word.
pub fn predict_word(
    clf: &Classifier,
    batch: &PhotoBatch,
    raw: bool,
    lexicon: &Lexicon,
    cfg: &DecodeConfig,
) -> Result<WordAnswer, WordError> {
    let (ok, skipped) = preprocess_batch(clf, batch);
    if ok.is_empty() {
        return Err(WordError::NoPhotos(skipped));
    }
    let (names, images): (Vec<String>, Vec<prep::PreparedPhoto>) = ok.into_iter().unzip();
    let preds = clf.predict_prepared(&images)?;
    debug_assert!(preds.iter().all(|p| p.probabilities.len() == NUM_CLASSES));
    estimate(&names, &preds, skipped, raw, lexicon, cfg)
}

/// A zip of held-out photos spelling `text` (letters A–Z and spaces), taken from one split of a
/// cache and named `01_H.jpg`, `02_E.jpg`, … — what a person would upload. For demos and
/// word-level evaluation on real images.
pub fn word_zip_from_cache(
    cache: &prep::Cache,
    split: prep::Split,
    text: &str,
    seed: u64,
) -> Result<Vec<u8>, WordError> {
    use std::io::Write;
    let s = cache.image_size() as u32;
    let labels = cache.labels(split);
    let mut rng = crate::rng::SplitMix64::new(seed);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let zerr = |e: zip::result::ZipError| WordError::WriteZip(e.to_string());
    for (k, ch) in text.chars().enumerate() {
        let class = if ch == ' ' {
            crate::classes::SPACE
        } else {
            crate::classes::class_index(&ch.to_string()).ok_or(WordError::Unspellable(ch))?
        };
        let candidates: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] as usize == class).collect();
        if candidates.is_empty() {
            return Err(WordError::NoPhotos(vec![Skipped {
                file: ch.to_string(),
                reason: "no image of that class in the split".into(),
            }]));
        }
        let i = candidates[rng.below(candidates.len())];
        let img = image::RgbImage::from_raw(s, s, cache.pixels(split, i).to_vec())
            .ok_or_else(|| WordError::WriteZip(format!("cache image {i} is not {s}×{s} RGB")))?;
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .map_err(|e| WordError::WriteZip(e.to_string()))?;
        let label = if ch == ' ' { "space".to_string() } else { ch.to_string() };
        w.start_file(
            format!("{:02}_{label}.jpg", k + 1),
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
        )
        .map_err(zerr)?;
        w.write_all(&jpeg).map_err(|e| WordError::WriteZip(e.to_string()))?;
    }
    Ok(w.finish().map_err(zerr)?.into_inner())
}
