//! Inference: load a model folder and classify photos in batches.
//!
//! A model folder holds `weights.bpk` (the burn record) and `model.json` (the [`ModelCard`]:
//! classes, input size, normalisation, architecture, training config, metrics, data lineage).
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::augment::{MEAN, STD, normalize_into};
use crate::classes::{CLASSES, NUM_CLASSES};
use crate::hand;
use crate::handshape::HandshapeModel;
use crate::model::{self, Cnn, ModelConfig};
use crate::prep::{self, PreparedPhoto};
use rayon::prelude::*;

/// Model folder format; bump when the card or weights change meaning.
pub const MODEL_FORMAT: u32 = 1;
/// The model card's file name in a model folder.
pub const CARD_FILE: &str = "model.json";
/// The photo CNN's weights file name in a model folder (a burn binary record).
pub const WEIGHTS_FILE: &str = "weights.bpk";
/// Largest batch sent through the model at once (bounds memory for big uploads).
pub const MAX_BATCH: usize = 64;

/// Why loading a model folder or classifying with it failed.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The folder has no `model.json` (the folder named).
    #[error("{0}: not a model folder (no {CARD_FILE}); train one with `asl train`")]
    NotAModel(PathBuf),
    /// `model.json` is unreadable: not JSON, another model format, or classes, architecture and
    /// input size that disagree.
    #[error("{path}: {problem}")]
    BadCard {
        /// The card file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The weights (photo CNN or handshape MLP) are missing or do not fit the card's architecture.
    #[error("{path}: cannot load the weights: {problem}")]
    BadWeights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong (`missing`, or the loader's error).
        problem: String,
    },
    /// The backend named cannot be used (unknown, or not built in).
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// A photo could not be decoded, or has the wrong size for the model.
    #[error("{file}: {reason}")]
    Image {
        /// The photo's file (empty when the photo came from memory).
        file: String,
        /// Why it was refused.
        reason: String,
    },
    /// The backend, the hand networks or the handshape classifier failed while running.
    #[error("the backend failed: {0}")]
    Backend(String),
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Per-channel (RGB) normalisation of pixels scaled to [0, 1]: the model sees `(x - mean) / std`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Normalization {
    /// Subtracted from each channel.
    pub mean: [f32; 3],
    /// Each channel is divided by this after the mean is subtracted.
    pub std: [f32; 3],
}

/// Where the model's data came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Lineage {
    /// The dataset's name: `owner/slug`, or `dir:<path>` for a folder of images.
    pub dataset: String,
    /// The dataset version trained on (0 for a folder).
    pub dataset_version: u32,
    /// Hash of the dataset manifest (or folder listing) the cache was built from; finds the
    /// training cache again.
    pub source_hash: String,
    /// Short identity of the cache's contents (source, preparation config and split sizes).
    pub cache_hash: String,
}

impl Lineage {
    /// The lineage of a model trained on `cache`.
    pub fn of(cache: &prep::Cache) -> Lineage {
        let h = &cache.header;
        Lineage {
            dataset: h.dataset.clone(),
            dataset_version: h.dataset_version,
            source_hash: h.source_hash.clone(),
            cache_hash: h.hash(),
        }
    }
}

/// `model.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// Model folder format ([`MODEL_FORMAT`]); a card of another format is refused.
    pub format: u32,
    /// The model folder's name when it was trained.
    pub name: String,
    /// When the card was written, in seconds since the Unix epoch.
    pub created_at: u64,
    /// Version of the asl that trained the model.
    pub asl_version: String,
    /// Class names in asl's canonical order (checked on load).
    pub classes: Vec<String>,
    /// Side of the square input image, in pixels.
    pub input_size: usize,
    /// The normalisation the model was trained with.
    pub normalization: Normalization,
    /// The photo CNN's configuration (rebuilds the network the weights load into).
    pub architecture: ModelConfig,
    /// Number of trainable parameters of the photo CNN.
    pub params: usize,
    /// FLOPs of one forward pass of one image (multiply-adds × 2).
    pub flops_per_image: u64,
    /// The training configuration, as given to `train`.
    pub training: serde_json::Value,
    /// Validation metrics of the saved weights (accuracy, macro-F1, …).
    pub metrics: serde_json::Value,
    /// The data the model was trained on.
    pub lineage: Lineage,
    /// Per-epoch history of the run.
    pub history: serde_json::Value,
    /// What answers a photo (the hand path and/or the photo CNN) and the files behind it.
    #[serde(default)]
    pub pipeline: crate::handshape::PipelineInfo,
    /// Extra sections (e.g. the monitoring reference distribution), keyed by name.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelCard {
    /// Reads and checks `model.json` in `dir`: [`InferError::NotAModel`] without one,
    /// [`InferError::BadCard`] for another format or classes and sizes that disagree.
    pub fn load(dir: &Path) -> Result<ModelCard, InferError> {
        let path = dir.join(CARD_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(InferError::NotAModel(dir.to_path_buf())),
            Err(e) => return Err(InferError::Io { path, source: e }),
        };
        let bad = |problem: String| InferError::BadCard {
            path: path.clone(),
            problem,
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let format = v
            .get("format")
            .and_then(|f| f.as_u64())
            .ok_or_else(|| bad("no \"format\" field".into()))?;
        if format != MODEL_FORMAT as u64 {
            return Err(bad(format!(
                "model format {format}, this asl reads format {MODEL_FORMAT}; retrain or use a matching asl"
            )));
        }
        let card: ModelCard = serde_json::from_value(v).map_err(|e| bad(format!("bad model card: {e}")))?;
        if card.classes.len() != card.architecture.num_classes || card.classes.len() != NUM_CLASSES {
            return Err(bad(format!("{} classes, expected {NUM_CLASSES}", card.classes.len())));
        }
        if card.classes.iter().zip(CLASSES).any(|(a, b)| a != b) {
            return Err(bad("classes are not in asl's canonical order".into()));
        }
        if card.input_size != card.architecture.input_size {
            return Err(bad("input_size disagrees with the architecture".into()));
        }
        Ok(card)
    }

    /// Writes the card as `dir/model.json` (atomically).
    pub fn save(&self, dir: &Path) -> Result<(), InferError> {
        let path = dir.join(CARD_FILE);
        crate::fsutil::write_json_atomic(&path, self).map_err(|source| InferError::Io { path, source })
    }
}

/// One image's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    /// The most probable class's name.
    pub class: String,
    /// The most probable class's index in [`CLASSES`].
    pub index: usize,
    /// The most probable class's probability (0–1).
    pub confidence: f32,
    /// Probability of every class, in [`CLASSES`] order (sums to 1).
    pub probabilities: Vec<f32>,
    /// Which part of the model answered, and why.
    #[serde(default)]
    pub path: AnswerPath,
    /// The hand the answer read, when the hand path answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand: Option<HandSummary>,
}

/// Which part of the model answered a photo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerPath {
    /// The handshape classifier read the hand's landmarks (fused with the photo CNN).
    Hand,
    /// The whole-photo CNN: no hand was found.
    NoHandFound,
    /// The whole-photo CNN: this model has no hand stage (or only pixels were given).
    #[default]
    Photo,
}

impl AnswerPath {
    /// The path's name as serialised (`hand`, `no_hand_found`, `photo`).
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerPath::Hand => "hand",
            AnswerPath::NoHandFound => "no_hand_found",
            AnswerPath::Photo => "photo",
        }
    }
}

/// The hand behind a hand-path answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HandSummary {
    /// The landmark model's hand presence (0–1).
    pub presence: f32,
    /// The detection cascade's step that found it (1 = the photo as is).
    pub step: u8,
}

impl Prediction {
    /// The photo CNN's answer from one row of class probabilities (in [`CLASSES`] order): the
    /// most probable class (the first on ties).
    pub fn from_probs(probs: &[f32]) -> Prediction {
        let (index, confidence) = probs
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, p)| if p > a.1 { (i, p) } else { a });
        Prediction {
            class: CLASSES[index].to_string(),
            index,
            confidence,
            probabilities: probs.to_vec(),
            path: AnswerPath::Photo,
            hand: None,
        }
    }
    /// The `k` most likely classes with their probabilities.
    pub fn top_k(&self, k: usize) -> Vec<(String, f32)> {
        let mut idx: Vec<usize> = (0..self.probabilities.len()).collect();
        idx.sort_by(|&a, &b| self.probabilities[b].total_cmp(&self.probabilities[a]).then(a.cmp(&b)));
        idx.into_iter()
            .take(k)
            .map(|i| (CLASSES[i].to_string(), self.probabilities[i]))
            .collect()
    }
}

/// Softmax probabilities of `n` normalised CHW images (`n × 3 × s × s` floats), row-major `n × 29`.
pub fn forward_probs(
    model: &Cnn,
    device: &Device,
    batch: Vec<f32>,
    n: usize,
    s: usize,
) -> Result<Vec<f32>, InferError> {
    let x = Tensor::<4>::from_data(TensorData::new(batch, [n, 3, s, s]), device);
    crate::model::on_pool(|| softmax(model.forward(x), 1).try_into_vec_as::<f32>())
        .map_err(|e| InferError::Backend(format!("{e:?}")))
}

/// Probabilities for many HWC u8 images of side `s`, in chunks of [`MAX_BATCH`].
pub fn probs_for_pixels<'a>(
    model: &Cnn,
    device: &Device,
    s: usize,
    images: impl ExactSizeIterator<Item = &'a [u8]>,
) -> Result<Vec<f32>, InferError> {
    let plane = 3 * s * s;
    let images: Vec<&[u8]> = images.collect();
    let mut out = Vec::with_capacity(images.len() * NUM_CLASSES);
    for chunk in images.chunks(MAX_BATCH) {
        let mut batch = vec![0f32; chunk.len() * plane];
        for (img, dst) in chunk.iter().zip(batch.chunks_exact_mut(plane)) {
            normalize_into(img, s, dst);
        }
        out.extend(forward_probs(model, device, batch, chunk.len(), s)?);
    }
    Ok(out)
}

/// A trained model ready to classify photos. Cheap to share between threads (`Arc`).
#[derive(Debug)]
pub struct Classifier {
    /// The model's card (`model.json`).
    pub card: ModelCard,
    /// The model folder it was loaded from (or will be saved to, right after training).
    pub dir: PathBuf,
    model: Cnn,
    device: Device,
    /// The hand path (detector, landmarks, handshape MLP) when the model folder has one.
    hands: Option<HandStage>,
}

/// The hand path of a model: MediaPipe's networks and the handshape classifier.
pub struct HandStage {
    nets: hand::BurnHandNets,
    /// The handshape classifier (landmark features to class probabilities, fused with the photo CNN).
    pub shape: HandshapeModel,
}

impl std::fmt::Debug for HandStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandStage")
            .field("shape", &self.shape.card.hidden)
            .finish()
    }
}

impl HandStage {
    /// The hand path of `shape`, loading MediaPipe's networks on `device` with the landmark
    /// model `shape` was trained on ([`InferError::Backend`] when they fail to load).
    pub fn new(shape: HandshapeModel, device: &Device) -> Result<HandStage, InferError> {
        let nets = hand::BurnHandNets::load(device, shape.card.landmark_model)
            .map_err(|e| InferError::Backend(e.to_string()))?;
        Ok(HandStage { nets, shape })
    }

    /// MediaPipe's hand detector and landmark networks.
    pub fn nets(&self) -> &hand::BurnHandNets {
        &self.nets
    }

    /// The hand path's answers: for each `(row, landmarks, handedness_right)`, row `row` of
    /// `probs` (the photo CNN's, `n × 29`) becomes the fused answer. Returns the rows it
    /// answered (degenerate landmarks leave the photo CNN's answer).
    pub fn answer_hands(
        &self,
        hands: &[(usize, [[f32; 3]; 21], f32)],
        probs: &mut [f32],
    ) -> Result<Vec<usize>, crate::handshape::HandshapeError> {
        let feats: Vec<_> = hands
            .iter()
            .map(|(_, l, right)| crate::handshape::features::photo_features(&l.map(|p| p.map(f64::from)), *right))
            .collect();
        let shape = self.shape.probabilities(&feats)?;
        let mut answered = Vec::with_capacity(hands.len());
        for ((i, _, _), hp) in hands.iter().zip(shape.chunks_exact(NUM_CLASSES)) {
            if hp.iter().all(|v| v.is_finite()) {
                let row = &mut probs[i * NUM_CLASSES..(i + 1) * NUM_CLASSES];
                let fused = fuse(hp, row, self.shape.photo_weight(row));
                row.copy_from_slice(&fused);
                answered.push(*i);
            }
        }
        Ok(answered)
    }
}

impl Classifier {
    /// Load a model folder on the default backend.
    pub fn load(dir: &Path) -> Result<Classifier, InferError> {
        Self::load_on(dir, model::default_device_name())
    }

    /// Loads a model folder on the backend `device_name` (`flex`/`cpu`, `wgpu`/`gpu`, `cuda`, among those
    /// built in), with its hand path when the folder has handshape weights.
    pub fn load_on(dir: &Path, device_name: &str) -> Result<Classifier, InferError> {
        let card = ModelCard::load(dir)?;
        let device = model::device(device_name)?;
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.is_file() {
            return Err(InferError::BadWeights {
                path: weights,
                problem: "missing".into(),
            });
        }
        let model = card
            .architecture
            .init(&device)?
            .try_load_file(&weights)
            .map_err(|e| InferError::BadWeights {
                path: weights.clone(),
                problem: format!("{e:?} (do model.json and the weights belong together?)"),
            })?;
        let hands = if HandshapeModel::present(dir) {
            let shape = HandshapeModel::load(dir, &device).map_err(|e| InferError::BadWeights {
                path: dir.join(crate::handshape::model::HANDSHAPE_WEIGHTS_FILE),
                problem: e.to_string(),
            })?;
            Some(HandStage::new(shape, &device)?)
        } else {
            None
        };
        Ok(Classifier {
            card,
            dir: dir.to_path_buf(),
            model: model.fold_batch_norm(),
            device,
            hands,
        })
    }

    /// From an in-memory model (used right after training).
    pub fn from_parts(card: ModelCard, dir: PathBuf, model: Cnn, device: Device) -> Classifier {
        // Inference only from here on: batch norms folded into their convolutions.
        Classifier {
            card,
            dir,
            model: model.fold_batch_norm(),
            device,
            hands: None,
        }
    }

    /// Adds (or replaces) the hand path.
    pub fn with_hands(mut self, hands: Option<HandStage>) -> Classifier {
        self.hands = hands;
        self
    }

    /// Removes the hand path (and gives it back).
    pub fn take_hands(&mut self) -> Option<HandStage> {
        self.hands.take()
    }

    /// The hand path, when this model has one.
    pub fn hands(&self) -> Option<&HandStage> {
        self.hands.as_ref()
    }

    /// Whether photos should come with a [`hand::view`] (the model has a hand path).
    pub fn wants_view(&self) -> bool {
        self.hands.is_some()
    }

    /// A decoded photo prepared for [`predict_prepared`](Self::predict_prepared).
    pub fn prepare_rgb(&self, rgb: image::RgbImage) -> PreparedPhoto {
        PreparedPhoto::new(rgb, self.input_size() as u32, self.wants_view())
    }

    /// Classifies prepared photos: each photo with a hand found is read by the hand path
    /// (landmarks → handshape MLP, fused with the photo CNN); the others by the photo CNN.
    pub fn predict_prepared(&self, photos: &[PreparedPhoto]) -> Result<Vec<Prediction>, InferError> {
        let inputs: Vec<&[u8]> = photos.iter().map(|p| p.input.as_raw().as_slice()).collect();
        let s = self.input_size();
        if let Some(p) = photos
            .iter()
            .find(|p| p.input.width() as usize != s || p.input.height() as usize != s)
        {
            return Err(InferError::Image {
                file: String::new(),
                reason: format!("expected {s}×{s}, got {}×{}", p.input.width(), p.input.height()),
            });
        }
        let mut photo_probs = probs_for_pixels(&self.model, &self.device, s, inputs.into_iter())?;
        let mut preds: Vec<Prediction> = photo_probs
            .chunks_exact(NUM_CLASSES)
            .map(Prediction::from_probs)
            .collect();
        let Some(stage) = &self.hands else {
            return Ok(preds);
        };
        // The cascade is the expensive part: photos in parallel.
        let found: Vec<Option<hand::FoundHand>> = photos
            .par_iter()
            .map(|p| match &p.view {
                Some(v) => hand::find_hand(&stage.nets, v).map_err(|e| InferError::Backend(e.to_string())),
                None => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        let hands: Vec<_> = found
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f.hand.landmarks, f.hand.handedness_right)))
            .collect();
        let answered = stage
            .answer_hands(&hands, &mut photo_probs)
            .map_err(|e| InferError::Backend(e.to_string()))?;
        for i in answered {
            let mut p = Prediction::from_probs(&photo_probs[i * NUM_CLASSES..(i + 1) * NUM_CLASSES]);
            p.path = AnswerPath::Hand;
            p.hand = found[i].as_ref().map(|f| HandSummary {
                presence: f.hand.presence,
                step: f.step,
            });
            preds[i] = p;
        }
        for (i, p) in preds.iter_mut().enumerate() {
            if p.path == AnswerPath::Photo && photos[i].view.is_some() {
                p.path = AnswerPath::NoHandFound;
            }
        }
        Ok(preds)
    }

    /// Side of the square input image, in pixels.
    pub fn input_size(&self) -> usize {
        self.card.input_size
    }

    /// Resize decoded images the way training did.
    pub fn preprocess(&self, img: &image::DynamicImage) -> image::RgbImage {
        prep::preprocess(img, self.input_size() as u32)
    }

    /// Classify decoded images, batched.
    pub fn predict(&self, images: &[image::DynamicImage]) -> Result<Vec<Prediction>, InferError> {
        let photos: Vec<PreparedPhoto> = images.iter().map(|i| self.prepare_rgb(i.to_rgb8())).collect();
        self.predict_prepared(&photos)
    }

    /// Classify images already resized to the input size, with the photo CNN alone (the
    /// pixel caches hold no more than this).
    pub fn predict_preprocessed(&self, images: &[image::RgbImage]) -> Result<Vec<Prediction>, InferError> {
        let s = self.input_size();
        for img in images {
            if img.width() as usize != s || img.height() as usize != s {
                return Err(InferError::Image {
                    file: String::new(),
                    reason: format!("expected {s}×{s}, got {}×{}", img.width(), img.height()),
                });
            }
        }
        let probs = probs_for_pixels(
            &self.model,
            &self.device,
            s,
            images.iter().map(|i| i.as_raw().as_slice()),
        )?;
        Ok(probs.chunks_exact(NUM_CLASSES).map(Prediction::from_probs).collect())
    }

    /// Raw probabilities (`n × 29`) for HWC u8 images of the input size.
    pub fn probabilities(&self, pixels: &[&[u8]]) -> Result<Vec<f32>, InferError> {
        probs_for_pixels(&self.model, &self.device, self.input_size(), pixels.iter().copied())
    }

    /// Decode, prepare and classify encoded image files (JPEG, PNG, …).
    pub fn predict_files(&self, paths: &[PathBuf]) -> Result<Vec<Prediction>, InferError> {
        let mut photos = Vec::with_capacity(paths.len());
        for p in paths {
            let bytes = std::fs::read(p).map_err(|source| InferError::Io {
                path: p.clone(),
                source,
            })?;
            photos.push(
                self.decode(&bytes, &crate::photo::DecodeBudget::default())
                    .map_err(|e| InferError::Image {
                        file: p.display().to_string(),
                        reason: e.to_string(),
                    })?,
            );
        }
        self.predict_prepared(&photos)
    }

    /// Decodes one photo under `budget` and prepares it for this model.
    pub fn decode(
        &self,
        bytes: &[u8],
        budget: &crate::photo::DecodeBudget,
    ) -> Result<PreparedPhoto, crate::photo::PhotoError> {
        let rgb = crate::photo::decode(bytes, budget, crate::photo::needed_side(self.input_size() as u32))?;
        Ok(self.prepare_rgb(rgb))
    }

    /// The photo CNN (batch norms folded).
    pub fn model(&self) -> &Cnn {
        &self.model
    }
    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// The hand path's fusion: `p ∝ p_hand · p_photo^w` (w = 0: the hand path alone).
pub fn fuse(hand: &[f32], photo: &[f32], w: f32) -> Vec<f32> {
    if w == 0.0 {
        return hand.to_vec();
    }
    let mut out: Vec<f32> = hand.iter().zip(photo).map(|(h, p)| h * p.max(1e-12).powf(w)).collect();
    let total: f32 = out.iter().sum();
    if total > 0.0 && total.is_finite() {
        out.iter_mut().for_each(|v| *v /= total);
        out
    } else {
        hand.to_vec()
    }
}

/// The normalisation constants this build uses (stored in every model card).
pub fn normalization() -> Normalization {
    Normalization { mean: MEAN, std: STD }
}

/// The newest model folder under the state root (by creation time in its card).
pub fn newest_model(home: &crate::AslHome) -> Option<PathBuf> {
    let rd = std::fs::read_dir(home.models_dir()).ok()?;
    rd.flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            ModelCard::load(&e.path())
                .ok()
                .map(|c| (c.created_at, e.file_name(), e.path()))
        })
        .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
        .map(|(_, _, p)| p)
}
