//! The hand stage of a training run: decide whether the data shows hands, detect them once
//! per pixel cache ([`crate::hand_cache`]), train the handshape model once per cache and
//! configuration (every later run and search trial on the same cache reuses it), and say in
//! the model card which pipeline the model folder holds.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{HandTrainConfig, HandshapeError, HandshapeModel, train_handshape_model};
use crate::hand::{BurnHandNets, HandNets, LandmarkModel};
use crate::hand_cache::{self, HandCache, HandCacheError, PROBE_PHOTOS};
use crate::prep::{Cache, Split};
use crate::progress::{Cancel, Progress};

/// Whether a training run builds the hand path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandsMode {
    /// When the data shows hands: at least [`AUTO_MIN_DETECTION`] of [`PROBE_PHOTOS`]
    /// training photos (MediaPipe finds the drawn hands of the synthetic data too, ~87 %).
    #[default]
    Auto,
    /// Always; an error when there are too few hands.
    On,
    /// Never: the photo CNN alone.
    Off,
}

/// Auto mode's bar: below this share of probed photos with a hand, the photo CNN alone.
pub const AUTO_MIN_DETECTION: f64 = 0.25;

/// `pipeline` in `model.json`: what answers a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineInfo {
    /// `hand+photo` (hand path where a hand is found, else the photo CNN) or `photo`.
    pub kind: String,
    /// The model folder's files, by role.
    pub files: Vec<String>,
    /// The networks the hand path runs (embedded in asl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand_networks: Option<String>,
    /// Share of the training data's photos with a hand found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_rate: Option<f64>,
    /// Why the pipeline is what it is.
    pub note: String,
}

impl Default for PipelineInfo {
    fn default() -> Self {
        PipelineInfo {
            kind: "photo".into(),
            files: vec![crate::infer::WEIGHTS_FILE.into()],
            hand_networks: None,
            detection_rate: None,
            note: "trained before the hand path existed".into(),
        }
    }
}

/// The hand networks a model runs, as recorded in its pipeline description.
pub fn hand_networks(landmarks: LandmarkModel) -> String {
    format!(
        "MediaPipe Hands 0.10.21 (palm_detection_full + hand_landmark_{}, Apache-2.0), converted to burn",
        landmarks.name()
    )
}

/// Why the hand stage of training failed.
#[derive(Debug, thiserror::Error)]
pub enum HandStageError {
    /// Detecting hands in the cache's photos, or reading the hand cache, failed.
    #[error(transparent)]
    Cache(#[from] HandCacheError),
    /// Training the handshape classifier failed (with `--hands on`: too few hands too).
    #[error(transparent)]
    Train(#[from] HandshapeError),
    /// The embedded hand networks could not be loaded on the device.
    #[error("the hand networks: {0}")]
    Nets(String),
}

/// What the hand stage produced.
pub struct HandStageOutcome {
    /// The handshape classifier; `None` when the model reads photos with the CNN alone.
    pub model: Option<HandshapeModel>,
    /// What the model card records about the hand path (detection rate, why it is off).
    pub pipeline: PipelineInfo,
}

/// Runs the hand stage for a model trained on `cache`.
pub fn build_hand_stage(
    cache: &Cache,
    mode: HandsMode,
    cfg: &HandTrainConfig,
    device_name: &str,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<HandStageOutcome, HandStageError> {
    let photo_only = |note: String, rate: Option<f64>| HandStageOutcome {
        model: None,
        pipeline: PipelineInfo {
            detection_rate: rate,
            note,
            ..PipelineInfo::default()
        },
    };
    if mode == HandsMode::Off {
        return Ok(photo_only("hands off (--hands off)".into(), None));
    }
    let device = crate::model::device(device_name).map_err(|e| HandStageError::Nets(e.to_string()))?;
    let nets = BurnHandNets::load(&device, cfg.landmark_model).map_err(|e| HandStageError::Nets(e.to_string()))?;
    let hands = match HandCache::open(cache, cfg.landmark_model) {
        Some(hc) => hc,
        None => {
            if mode == HandsMode::Auto {
                let (n, rate) = probe(cache, &nets, progress, cancel)?;
                if rate < AUTO_MIN_DETECTION {
                    return Ok(photo_only(
                        format!(
                            "a hand was found in {:.0} % of {n} probed training photos (< {:.0} %): the photo CNN alone",
                            rate * 100.0,
                            AUTO_MIN_DETECTION * 100.0
                        ),
                        Some(rate),
                    ));
                }
            }
            hand_cache::open_or_build(cache, &nets, progress, cancel)?
        }
    };
    let rate = hands.detection_rate();
    let model = match trained_before(cache, cfg, &device) {
        Some(m) => m.serving(cfg),
        None => {
            let train = hands.labelled(cache, Split::Train);
            let val = hands.labelled(cache, Split::Val);
            let result = train_handshape_model(&train, &val, cfg, device_name, progress, cancel);
            let model = match result {
                Err(HandshapeError::TooFewHands { found, needed }) if mode == HandsMode::Auto => {
                    return Ok(photo_only(
                        format!("{found} training hands found, {needed} needed: the photo CNN alone"),
                        Some(rate),
                    ));
                }
                other => other?,
            };
            remember(cache, cfg, &model);
            model
        }
    };
    let pipeline = PipelineInfo {
        kind: "hand+photo".into(),
        files: vec![
            crate::infer::WEIGHTS_FILE.into(),
            super::model::HANDSHAPE_CARD_FILE.into(),
            super::model::HANDSHAPE_WEIGHTS_FILE.into(),
        ],
        hand_networks: Some(hand_networks(cfg.landmark_model)),
        detection_rate: Some(rate),
        note: "the handshape model reads photos with a hand found; the photo CNN the others".into(),
    };
    Ok(HandStageOutcome {
        model: Some(model),
        pipeline,
    })
}

/// The share of the first [`PROBE_PHOTOS`] training photos with a hand found, remembered
/// beside the cache (`<cache>.hands-probe.json`, `.hands-lite-probe.json` for the lite landmark
/// model) so that later runs and search trials on the same cache do not probe again.
fn probe(
    cache: &Cache,
    nets: &BurnHandNets,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<(usize, f64), HandCacheError> {
    let path = hand_cache::hands_file(&cache.path, nets.landmark_model(), hand_cache::PROBE_SUFFIX);
    let hash = cache.header.hash();
    if let Some(p) = remembered_probe(&path, &hash) {
        return Ok((p.photos, p.detection_rate));
    }
    let n = cache.len(Split::Train).min(PROBE_PHOTOS);
    let indices: Vec<usize> = (0..n).collect();
    let found = hand_cache::detect_photos(cache, &indices, nets, progress, cancel)?;
    let record = Probe::new(hash, n, hand_cache::detection_rate(&found));
    // Only a time saver: failing to remember it is not an error.
    let _ = crate::fsutil::write_json_atomic(&path, &record);
    Ok((n, record.detection_rate))
}

/// A detection probe as remembered beside its cache.
#[derive(Debug, Serialize, Deserialize)]
struct Probe {
    cache_hash: String,
    /// Another cascade finds other hands: a probe made with it is not reused. Probes written
    /// before this field existed read as format 0.
    #[serde(default)]
    hand_cache_format: u32,
    photos: usize,
    detection_rate: f64,
}

impl Probe {
    fn new(cache_hash: String, photos: usize, detection_rate: f64) -> Self {
        Probe {
            cache_hash,
            hand_cache_format: hand_cache::HAND_CACHE_FORMAT,
            photos,
            detection_rate,
        }
    }
}

/// The probe at `path` when it was made on the cache with `cache_hash` by this cascade.
fn remembered_probe(path: &Path, cache_hash: &str) -> Option<Probe> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Probe>(&b).ok())
        .filter(|p| p.cache_hash == cache_hash && p.hand_cache_format == hand_cache::HAND_CACHE_FORMAT)
}

/// Where the handshape model trained on `cache` with `cfg` and the embedded prior is kept for
/// reuse. Settings that only shape the served answer are not part of the key: a changed
/// fusion gate or temperature serves the same weights rather than training them again.
fn memo_dir(cache: &Cache, cfg: &HandTrainConfig) -> PathBuf {
    memo_dir_for(
        &cache.path,
        cfg,
        &[
            super::prior::EMBEDDED_TABLE,
            super::signers::embedded_table(cfg.landmark_model),
        ],
    )
}

fn memo_dir_for(cache_path: &Path, cfg: &HandTrainConfig, tables: &[&str]) -> PathBuf {
    let key = serde_json::to_string(&cfg.fitting_part()).unwrap_or_default();
    let mut h = sha2::Sha256::default();
    sha2::Digest::update(&mut h, key.as_bytes());
    // Hands found by another cascade are other training hands.
    sha2::Digest::update(&mut h, crate::hand_cache::HAND_CACHE_FORMAT.to_le_bytes());
    // A model trained with another version's prior or other signers' hands is not this version's.
    for table in tables {
        sha2::Digest::update(&mut h, table.as_bytes());
    }
    let digest = crate::dataset::download::hex(&sha2::Digest::finalize(h)[..6]);
    let mut name = cache_path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".handshape-{digest}"));
    cache_path.with_file_name(name)
}

fn trained_before(cache: &Cache, cfg: &HandTrainConfig, device: &burn::prelude::Device) -> Option<HandshapeModel> {
    let dir = memo_dir(cache, cfg);
    HandshapeModel::load(&dir, device).ok()
}

/// Keeps a copy for later runs; failing to is not an error (the next run trains again).
fn remember(cache: &Cache, cfg: &HandTrainConfig, model: &HandshapeModel) {
    let dir = memo_dir(cache, cfg);
    let saved = tempfile::Builder::new()
        .prefix(".handshape-")
        .tempdir_in(crate::fsutil::parent_dir(&dir))
        .ok()
        .and_then(|tmp| model.save(tmp.path()).ok().map(|_| tmp))
        .and_then(|tmp| {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(tmp.keep(), &dir).ok()
        });
    if saved.is_none() {
        eprintln!("warning: could not keep the handshape model at {}", dir.display());
    }
}

/// True when `dir` (a model folder) has a hand path.
pub fn has_hand_path(dir: &Path) -> bool {
    HandshapeModel::present(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_is_keyed_by_config_and_prior() {
        let cache = Path::new("/h/cache/abc-48px.aslcache");
        let cfg = HandTrainConfig::default();
        let a = memo_dir_for(cache, &cfg, &["{prior 1}"]);
        assert_eq!(a, memo_dir_for(cache, &cfg, &["{prior 1}"]));
        assert_eq!(a.parent(), cache.parent());
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("abc-48px.aslcache.handshape-")
        );
        assert_ne!(a, memo_dir_for(cache, &cfg, &["{prior 2}"]));
        assert_ne!(a, memo_dir_for(cache, &cfg, &["{prior 1}", "{other signers}"]));
        let other = HandTrainConfig {
            seed: cfg.seed + 1,
            ..cfg.clone()
        };
        assert_ne!(a, memo_dir_for(cache, &other, &["{prior 1}"]));
        let lite = HandTrainConfig {
            landmark_model: crate::hand::LandmarkModel::Lite,
            ..cfg.clone()
        };
        assert_ne!(a, memo_dir_for(cache, &lite, &["{prior 1}"]));
        // The full model is not written, so models trained before the choice keep their key.
        let key = serde_json::to_string(&cfg.fitting_part()).unwrap();
        assert!(!key.contains("landmark_model"), "{key}");
        let served_otherwise = HandTrainConfig {
            fusion_photo_weight: 1.0,
            fusion_gate: Some(crate::handshape::FusionGate::at(0.8)),
            temperature: 2.0,
            ..cfg.clone()
        };
        assert_eq!(a, memo_dir_for(cache, &served_otherwise, &["{prior 1}"]));
    }

    #[test]
    fn a_probe_is_reused_only_for_its_cache_and_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.aslcache.hands-probe.json");
        crate::fsutil::write_json_atomic(&path, &Probe::new("abc".into(), 200, 0.9)).unwrap();
        let reused = remembered_probe(&path, "abc").expect("same cache, same cascade");
        assert_eq!((reused.photos, reused.detection_rate), (200, 0.9));
        assert!(remembered_probe(&path, "other").is_none());
        // A probe from before the hand cache format was recorded, or from another cascade.
        let older = Probe {
            hand_cache_format: hand_cache::HAND_CACHE_FORMAT - 1,
            ..Probe::new("abc".into(), 200, 0.9)
        };
        crate::fsutil::write_json_atomic(&path, &older).unwrap();
        assert!(remembered_probe(&path, "abc").is_none());
        std::fs::write(&path, r#"{"cache_hash":"abc","photos":200,"detection_rate":0.9}"#).unwrap();
        assert!(remembered_probe(&path, "abc").is_none());
    }
}
