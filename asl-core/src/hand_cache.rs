//! Prep's second cache: the hand found in every photo of a prep cache, so that training (and
//! every search trial) reads landmarks instead of running the detection cascade again.
//!
//! The file sits beside the pixel cache (`<cache>.hands.json`, `<cache>.hands-lite.json` for the
//! lite landmark model: [`hand_cache_path`]) and is aligned with it: entry
//! `i` is the photo of cache index `i` (training photos, then validation photos). It is
//! computed from the original photos under the cache's training root, each seen through
//! [`hand::view`] and the detection cascade ([`hand::find_hand`]).
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hand::{self, HandError, HandNets, LandmarkModel};
use crate::handshape::LabelledHand;
use crate::photo::{self, DecodeBudget};
use crate::prep::{Cache, Split};
use crate::progress::{Cancel, Progress};

/// Bump when detection or the view changes what the landmarks mean.
pub const HAND_CACHE_FORMAT: u32 = 3;
/// Photos probed before deciding whether a dataset shows hands at all.
pub const PROBE_PHOTOS: usize = 100;

/// Why building or loading a hand cache failed.
#[derive(Debug, thiserror::Error)]
pub enum HandCacheError {
    /// The pixel cache's training root, where the original photos are read from, is no longer a
    /// folder.
    #[error(
        "the original photos of {cache} are not at {root} any more (the hand cache is built from them); run `asl prep --force` on the dataset"
    )]
    NoOriginals {
        /// The pixel cache file.
        cache: PathBuf,
        /// The training root recorded in its header (empty when it has none).
        root: PathBuf,
    },
    /// The hand networks failed to load or to run.
    #[error(transparent)]
    Hand(#[from] HandError),
    /// The device named for the hand networks cannot be used.
    #[error(transparent)]
    Device(#[from] crate::model::ModelError),
    /// Detection was cancelled through its [`Cancel`] token.
    #[error("hand detection was cancelled")]
    Cancelled,
    /// Writing the hand cache failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The hand cache file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// One photo's hand, as training needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedHand {
    /// Cascade step that found it (1-based).
    pub step: u8,
    /// The landmark model's hand presence, a probability (above 0.5 for a found hand).
    pub presence: f32,
    /// MediaPipe's score for a right hand, 1 − P(Left) (MediaPipe assumes a mirrored image).
    pub handedness_right: f32,
    /// The 21 landmarks (x, y, z) in view pixels (see [`hand::view`]).
    pub landmarks: [[f32; 3]; 21],
}

/// One photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandEntry {
    /// The hand found, or None when no hand was found or the photo could not be read.
    pub hand: Option<CachedHand>,
    /// Why the photo could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `<cache>.hands.json` (or `.hands-lite.json`, [`hand_cache_path`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandCache {
    /// File format ([`HAND_CACHE_FORMAT`]); a cache of another format is rebuilt.
    pub format: u32,
    /// [`crate::prep::CacheHeader::hash`] of the pixel cache it belongs to.
    pub cache_hash: String,
    /// One entry per photo of the pixel cache, in cache order (training photos, then validation).
    pub entries: Vec<HandEntry>,
}

/// Where the hand cache of a pixel cache lives: one per landmark model (`.hands.json` for the
/// full model, as before there was a choice; `.hands-lite.json`).
pub fn hand_cache_path(cache: &Cache, landmarks: LandmarkModel) -> PathBuf {
    hands_file(&cache.path, landmarks, "")
}

/// Suffix of the detection probe's file ([`hands_file`]): `<cache>.hands-probe.json`
/// (`.hands-lite-probe.json` for the lite landmark model).
pub const PROBE_SUFFIX: &str = "-probe";

/// A file derived from the hands of the pixel cache at `cache_path`, beside it:
/// `<cache file>.<hands tag><suffix>.json`, so that each landmark model keeps its own (the
/// hand cache: no suffix; the detection probe: [`PROBE_SUFFIX`]).
pub fn hands_file(cache_path: &Path, landmarks: LandmarkModel, suffix: &str) -> PathBuf {
    let mut name = cache_path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}{suffix}.json", landmarks.hands_file_tag()));
    cache_path.with_file_name(name)
}

impl HandCache {
    /// The saved hand cache of `cache`, if there is a current one. A missing, unreadable or
    /// stale file reads as none, not as an error: the hand cache is derived from the photos, so
    /// [`open_or_build`] rebuilds it and replaces the file atomically.
    pub fn open(cache: &Cache, landmarks: LandmarkModel) -> Option<HandCache> {
        let bytes = std::fs::read(hand_cache_path(cache, landmarks)).ok()?;
        let hc: HandCache = serde_json::from_slice(&bytes).ok()?;
        let n = cache.header.n_train + cache.header.n_val;
        (hc.format == HAND_CACHE_FORMAT && hc.cache_hash == cache.header.hash() && hc.entries.len() == n).then_some(hc)
    }

    /// The hands of one split, labelled.
    pub fn labelled(&self, cache: &Cache, split: Split) -> Vec<LabelledHand> {
        let offset = if split == Split::Train { 0 } else { cache.header.n_train };
        let labels = cache.labels(split);
        labels
            .iter()
            .enumerate()
            .filter_map(|(i, &label)| {
                self.entries.get(offset + i)?.hand.as_ref().map(|h| LabelledHand {
                    class: label as usize,
                    landmarks: h.landmarks,
                    handedness_right: h.handedness_right,
                })
            })
            .collect()
    }

    /// Share of readable photos with a hand found.
    pub fn detection_rate(&self) -> f64 {
        detection_rate(&self.entries)
    }

    /// Photos by the cascade step that found their hand: `[0]` none found, `[k]` step k.
    pub fn by_step(&self) -> [usize; hand::CASCADE.len() + 1] {
        let mut counts = [0; hand::CASCADE.len() + 1];
        for e in self.entries.iter().filter(|e| e.error.is_none()) {
            counts[e.hand.as_ref().map_or(0, |h| usize::from(h.step))] += 1;
        }
        counts
    }
}

/// [`open_or_build`] with the hand networks loaded on `device_name` (`asl prep --detect-hands`).
pub fn prepare_hands(
    cache: &Cache,
    device_name: &str,
    landmarks: LandmarkModel,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<HandCache, HandCacheError> {
    let nets = hand::BurnHandNets::load(&crate::model::device(device_name)?, landmarks)?;
    open_or_build(cache, &nets, progress, cancel)
}

/// Share of readable photos with a hand found (0 for none).
pub fn detection_rate(entries: &[HandEntry]) -> f64 {
    let readable = entries.iter().filter(|e| e.error.is_none()).count();
    let found = entries.iter().filter(|e| e.hand.is_some()).count();
    if readable == 0 {
        0.0
    } else {
        found as f64 / readable as f64
    }
}

/// Runs the cascade on cache photos `indices` (cache order), in parallel.
pub fn detect_photos(
    cache: &Cache,
    indices: &[usize],
    nets: &(dyn HandNets + Sync),
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Vec<HandEntry>, HandCacheError> {
    let root = cache.header.train_root.clone().unwrap_or_default();
    if !root.is_dir() {
        return Err(HandCacheError::NoOriginals {
            cache: cache.path.clone(),
            root,
        });
    }
    let needed_side = photo::needed_side(cache.header.config.image_size);
    progress.begin("hands", Some(indices.len() as u64));
    let entries: Result<Vec<HandEntry>, HandCacheError> = indices
        .par_iter()
        .map(|&i| {
            if cancel.is_cancelled() {
                return Err(HandCacheError::Cancelled);
            }
            let entry = detect_file(&root.join(&cache.header.files[i]), nets, needed_side)?;
            progress.advance(1);
            Ok(entry)
        })
        .collect();
    progress.finish();
    entries
}

/// The hand in one photo file; a photo that cannot be read is an entry with its reason.
/// `needed_side` is what the decoder keeps of a large JPEG (the server decodes for the
/// model's input size the same way: [`photo::needed_side`]).
pub fn detect_file(path: &Path, nets: &dyn HandNets, needed_side: u32) -> Result<HandEntry, HandCacheError> {
    let decoded = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| photo::decode(&bytes, &DecodeBudget::default(), needed_side).map_err(|e| e.to_string()));
    match decoded {
        Ok(rgb) => Ok(HandEntry {
            hand: hand::find_hand(nets, &hand::view(&rgb))?.map(|f| CachedHand {
                step: f.step,
                presence: f.hand.presence,
                handedness_right: f.hand.handedness_right,
                landmarks: f.hand.landmarks,
            }),
            error: None,
        }),
        Err(reason) => Ok(HandEntry {
            hand: None,
            error: Some(reason),
        }),
    }
}

/// The hand cache of `cache`: the saved one when current, else built from the original
/// photos and saved (atomically).
pub fn open_or_build(
    cache: &Cache,
    nets: &(dyn HandNets + Sync),
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<HandCache, HandCacheError> {
    if let Some(hc) = HandCache::open(cache, nets.landmark_model()) {
        return Ok(hc);
    }
    let n = cache.header.n_train + cache.header.n_val;
    let indices: Vec<usize> = (0..n).collect();
    let hc = HandCache {
        format: HAND_CACHE_FORMAT,
        cache_hash: cache.header.hash(),
        entries: detect_photos(cache, &indices, nets, progress, cancel)?,
    };
    let path = hand_cache_path(cache, nets.landmark_model());
    crate::fsutil::write_json_atomic(&path, &hc).map_err(|source| HandCacheError::Io { path, source })?;
    Ok(hc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_landmark_model_names_its_own_files_beside_the_cache() {
        let cache = Path::new("/h/cache/abc-64px.aslcache");
        let names: Vec<PathBuf> = [
            (LandmarkModel::Full, ""),
            (LandmarkModel::Lite, ""),
            (LandmarkModel::Full, PROBE_SUFFIX),
            (LandmarkModel::Lite, PROBE_SUFFIX),
        ]
        .into_iter()
        .map(|(model, suffix)| hands_file(cache, model, suffix))
        .collect();
        let expected = [
            "/h/cache/abc-64px.aslcache.hands.json",
            "/h/cache/abc-64px.aslcache.hands-lite.json",
            "/h/cache/abc-64px.aslcache.hands-probe.json",
            "/h/cache/abc-64px.aslcache.hands-lite-probe.json",
        ];
        assert_eq!(names, expected.map(PathBuf::from));
    }
}
