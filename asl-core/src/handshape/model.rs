//! The handshape MLP and its files in a model folder: `handshape.json` (the card: layer
//! sizes, the feature standardisation, training settings and metrics) and `handshape.bpk`
//! (the burn weights).
use std::path::{Path, PathBuf};

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use serde::{Deserialize, Serialize};

use super::HandshapeError;
use super::features::NUM_FEATURES;
use crate::classes::NUM_CLASSES;
use crate::hand::LandmarkModel;

/// The handshape card's file name in a model folder.
pub const HANDSHAPE_CARD_FILE: &str = "handshape.json";
/// The handshape MLP's weights file name in a model folder (a burn binary record).
pub const HANDSHAPE_WEIGHTS_FILE: &str = "handshape.bpk";
/// Card format of a model that reads the full landmark model's landmarks; bump when the
/// features or the card change meaning.
pub const HANDSHAPE_FORMAT: u32 = 1;
/// Card format of a model that reads the lite landmark model's landmarks: a version of asl
/// from before the choice refuses it (it reads format 1 only) rather than serving it with the
/// full model's landmarks.
pub const HANDSHAPE_FORMAT_LITE: u32 = 2;

/// The card format written for a model trained on `landmarks`' landmarks.
pub(crate) fn card_format(landmarks: LandmarkModel) -> u32 {
    match landmarks {
        LandmarkModel::Full => HANDSHAPE_FORMAT,
        LandmarkModel::Lite => HANDSHAPE_FORMAT_LITE,
    }
}

/// Features → ReLU hidden layers → one logit per class (all 29; classes without hands, such
/// as `nothing`, are never trained and stay unlikely).
#[derive(Module, Debug)]
pub struct LandmarkMlp {
    hidden: Vec<Linear>,
    head: Linear,
}

impl LandmarkMlp {
    /// A randomly initialised MLP with these hidden layer widths, on `device`.
    pub fn new(hidden: &[usize], device: &Device) -> LandmarkMlp {
        let mut layers = Vec::new();
        let mut width = NUM_FEATURES;
        for &h in hidden {
            layers.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        LandmarkMlp {
            hidden: layers,
            head: LinearConfig::new(width, NUM_CLASSES).init(device),
        }
    }

    /// `[N, 115]` standardised features → `[N, 29]` logits.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        self.head.forward(x)
    }
}

/// `handshape.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandshapeModelCard {
    /// [`card_format`] of `landmark_model` when written; another value is refused on load.
    pub format: u32,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Per-feature mean and standard deviation of the training set (inputs are standardised).
    pub feature_mean: Vec<f32>,
    /// See `feature_mean` (a constant feature gets 1).
    pub feature_std: Vec<f32>,
    /// The training configuration, as given.
    pub training: serde_json::Value,
    /// Validation metrics (hands of the validation split) and training-set counts.
    pub metrics: serde_json::Value,
    /// Weight w of the photo CNN in the fused answer `p ∝ p_hand · p_photo^w` (0 = the hand
    /// path alone); chosen on other people's photos (README, "Other people's hands").
    #[serde(default)]
    pub fusion_photo_weight: f32,
    /// Where the photo CNN is sure, its weight in the fused answer is raised (none: the same
    /// weight everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion_gate: Option<FusionGate>,
    /// Softmax temperature of the handshape logits. The MLP is trained to near-certainty on
    /// one signer's hands; on other people's it is as sure when wrong, and the word decoder
    /// then believes a misread letter over the lexicon. > 1 softens it (README).
    #[serde(default = "one")]
    pub temperature: f32,
    /// The landmark model whose landmarks it was trained on, and must read (a card written
    /// before there was a choice: the full model).
    #[serde(default)]
    pub landmark_model: LandmarkModel,
}

fn one() -> f32 {
    1.0
}

/// The photo CNN's weight where it is sure: `w = photo_weight` when the CNN's top probability
/// reaches `photo_confidence`, else the card's `fusion_photo_weight`. A CNN trained on many
/// photos of one signer is sure of itself on that signer's photos (and right) but seldom on
/// other people's, so the gate gives it that signer's photos and leaves other people to the
/// hand path (docs/hands/classifier.md, sections 11.9 and 11.11).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionGate {
    /// The CNN's top probability from which it weighs `photo_weight`, in (0, 1].
    pub photo_confidence: f32,
    /// The CNN's weight there, ≥ 0.
    pub photo_weight: f32,
}

/// The photo CNN's weight past [`FusionGate::at`]'s gate. A CNN 0.8 sure leads every other
/// letter by a log-odds of at least ln 4 ≈ 1.39; at weight 1 the hand path (its logits divided by the
/// temperature, 8) outvotes it with a logit margin over 11, which it has on some of the Kaggle
/// signer's photos it misreads; at 4 that takes a margin over 44. Measured over three handshape
/// seeds (docs/hands/classifier.md, section 11.14): the Kaggle signer 99.56 → 99.63 % (913
/// photos) and 98.9 → 99.38 % (811 more), other people's letters and words unchanged; 8 and
/// 16 answer every measured photo as 4 does.
pub const GATE_PHOTO_WEIGHT: f32 = 4.0;

impl FusionGate {
    /// The gate at `photo_confidence`, with the photo CNN weighing [`GATE_PHOTO_WEIGHT`] above it.
    pub fn at(photo_confidence: f32) -> FusionGate {
        FusionGate {
            photo_confidence,
            photo_weight: GATE_PHOTO_WEIGHT,
        }
    }

    /// `None` when both values are in range, else what is wrong.
    pub fn problem(&self) -> Option<String> {
        if !(self.photo_confidence > 0.0 && self.photo_confidence <= 1.0) {
            return Some(format!(
                "the gate's confidence {} is not in (0, 1]",
                self.photo_confidence
            ));
        }
        if !(self.photo_weight >= 0.0 && self.photo_weight.is_finite()) {
            return Some(format!("the gate's photo weight {} is not >= 0", self.photo_weight));
        }
        None
    }
}

/// A trained handshape classifier, ready for inference.
#[derive(Debug, Clone)]
pub struct HandshapeModel {
    /// What `handshape.json` says: sizes, standardisation, training settings, metrics.
    pub card: HandshapeModelCard,
    mlp: LandmarkMlp,
    device: Device,
}

impl HandshapeModel {
    /// A model from a card and trained weights (the card must match the MLP's layers).
    pub fn from_parts(card: HandshapeModelCard, mlp: LandmarkMlp, device: Device) -> HandshapeModel {
        HandshapeModel { card, mlp, device }
    }

    /// True when `dir` holds a handshape model.
    pub fn present(dir: &Path) -> bool {
        dir.join(HANDSHAPE_CARD_FILE).is_file()
    }

    /// Reads `handshape.json` and `handshape.bpk` from the model folder `dir` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<HandshapeModel, HandshapeError> {
        let path = dir.join(HANDSHAPE_CARD_FILE);
        let bad = |problem: String| HandshapeError::BadCard {
            path: path.clone(),
            problem,
        };
        let bytes = std::fs::read(&path).map_err(|source| HandshapeError::Io {
            path: path.clone(),
            source,
        })?;
        let card: HandshapeModelCard = serde_json::from_slice(&bytes).map_err(|e| bad(format!("bad card: {e}")))?;
        if card.format != card_format(card.landmark_model) {
            return Err(bad(format!(
                "handshape format {} with the {} landmark model, this asl reads format \
                 {HANDSHAPE_FORMAT} (full) and {HANDSHAPE_FORMAT_LITE} (lite); retrain",
                card.format,
                card.landmark_model.name()
            )));
        }
        if card.feature_mean.len() != NUM_FEATURES || card.feature_std.len() != NUM_FEATURES {
            return Err(bad(format!("the standardisation must have {NUM_FEATURES} values")));
        }
        if !(card.temperature > 0.0 && card.temperature.is_finite()) {
            return Err(bad(format!("temperature {} is not positive", card.temperature)));
        }
        if let Some(problem) = card.fusion_gate.as_ref().and_then(FusionGate::problem) {
            return Err(bad(problem));
        }
        if card.feature_std.iter().any(|s| s.is_nan() || *s <= 0.0) {
            return Err(bad("a feature standard deviation is not positive".into()));
        }
        let weights = dir.join(HANDSHAPE_WEIGHTS_FILE);
        let mlp = LandmarkMlp::new(&card.hidden, device)
            .try_load_file(&weights)
            .map_err(|e| HandshapeError::BadWeights {
                path: weights.clone(),
                problem: format!("{e:?}"),
            })?;
        Ok(HandshapeModel {
            card,
            mlp,
            device: device.clone(),
        })
    }

    /// Writes the card and the weights into `dir` (each atomically).
    pub fn save(&self, dir: &Path) -> Result<(), HandshapeError> {
        let io = |path: PathBuf| move |source| HandshapeError::Io { path, source };
        let card = dir.join(HANDSHAPE_CARD_FILE);
        crate::fsutil::write_json_atomic(&card, &self.card).map_err(io(card.clone()))?;
        let weights = dir.join(HANDSHAPE_WEIGHTS_FILE);
        let tmp = dir.join(format!(".tmp-{HANDSHAPE_WEIGHTS_FILE}"));
        self.mlp
            .clone()
            .save_file(&tmp)
            .map_err(|e| HandshapeError::Backend(format!("saving {}: {e:?}", tmp.display())))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(tmp.clone()))?;
        std::fs::rename(&tmp, &weights).map_err(io(weights))
    }

    /// The same weights serving `cfg`'s fusion and temperature, the card recording `cfg`
    /// (a model trained with the same [`HandTrainConfig::fitting_part`] and other serving
    /// settings).
    pub(crate) fn serving(mut self, cfg: &super::HandTrainConfig) -> HandshapeModel {
        self.card.fusion_photo_weight = cfg.fusion_photo_weight;
        self.card.fusion_gate = cfg.fusion_gate;
        self.card.temperature = cfg.temperature;
        self.card.training = serde_json::to_value(cfg).unwrap_or_default();
        self
    }

    /// The photo CNN's weight in the fused answer of a photo whose CNN answer is `photo`.
    pub fn photo_weight(&self, photo: &[f32]) -> f32 {
        let top = photo.iter().copied().fold(0.0f32, f32::max);
        match self.card.fusion_gate {
            Some(g) if top >= g.photo_confidence => g.photo_weight,
            _ => self.card.fusion_photo_weight,
        }
    }

    /// Softmax probabilities, row-major `n × 29`, for raw (unstandardised) feature vectors.
    pub fn probabilities(&self, features: &[[f32; NUM_FEATURES]]) -> Result<Vec<f32>, HandshapeError> {
        if features.is_empty() {
            return Ok(Vec::new());
        }
        let x = standardised(features, &self.card.feature_mean, &self.card.feature_std);
        let x = Tensor::<2>::from_data(TensorData::new(x, [features.len(), NUM_FEATURES]), &self.device);
        crate::model::on_pool(|| {
            softmax(self.mlp.forward(x).div_scalar(self.card.temperature), 1).try_into_vec_as::<f32>()
        })
        .map_err(|e| HandshapeError::Backend(format!("{e:?}")))
    }
}

/// `(x − mean) / std`, flattened row-major.
pub fn standardised(features: &[[f32; NUM_FEATURES]], mean: &[f32], std: &[f32]) -> Vec<f32> {
    features
        .iter()
        .flat_map(|f| f.iter().zip(mean).zip(std).map(|((x, m), s)| (x - m) / s))
        .collect()
}
