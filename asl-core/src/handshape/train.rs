//! Training the handshape MLP (`docs/hands/classifier.md`, section 3): every training hand and
//! every embedded other signer's hand ([`super::signers`], `other_signers_repeat` times),
//! `augmented_copies` landmark-space variants of each, and prior hands for each letter whose
//! total weight equals `prior_weight` × that letter's real (+ augmented) count; Adam on a
//! weighted cross-entropy, inputs standardised with the training set's weighted statistics.
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use super::HandshapeError;
use super::augment::{AugmentConfig, augment};
use super::features::{NUM_FEATURES, Points, base, base_features, is_right_hand, photo_features};
use super::model::{HandshapeModel, HandshapeModelCard, LandmarkMlp, card_format, standardised};
use super::prior::Prior;
use super::signers::OtherSigners;
use crate::classes::{CLASSES, NUM_CLASSES, NUM_LETTERS};
use crate::hand::LandmarkModel;
use crate::progress::{Cancel, Progress};
use crate::rng::SplitMix64;

/// One hand of a labelled photo: its landmarks as the detector reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledHand {
    /// Class index in [`CLASSES`] order.
    pub class: usize,
    /// Image pixels; z in the same pixel scale.
    pub landmarks: [[f32; 3]; 21],
    /// MediaPipe's "Right" score (see [`crate::hand::Hand::handedness_right`]).
    pub handedness_right: f32,
}

impl LabelledHand {
    fn points(&self) -> Points {
        self.landmarks.map(|p| p.map(f64::from))
    }
    /// The 115 features of this hand as a photo shows it.
    pub fn features(&self) -> [f32; NUM_FEATURES] {
        photo_features(&self.points(), self.handedness_right)
    }
}

/// The landmark model of a default training run: the full one. The lite model reads a
/// 10-photo word ~20 % faster and other people's hands ~4.6 points worse (dev mean over the
/// four never-trained sources, 73.1 → 68.5 % over three seeds; docs/hands/runtime.md, last
/// section), and the letters come first.
pub const DEFAULT_LANDMARK_MODEL: LandmarkModel = LandmarkModel::Full;

/// How to train; the defaults are the prototype's best design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HandTrainConfig {
    /// Hidden layer widths of the MLP.
    pub hidden: Vec<usize>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Training samples per Adam step.
    pub batch_size: usize,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// Augmented variants per training hand.
    pub augmented_copies: usize,
    /// How the augmented variants (and the prior's hands) are varied.
    pub augment: AugmentConfig,
    /// Prior hands drawn per letter.
    pub prior_samples: usize,
    /// Copies of each embedded other signer's hand ([`super::signers`]) in the training set,
    /// each with its own augmented variants; 0 = none.
    pub other_signers_repeat: usize,
    /// Sources of the other signers' hands left out (a leave-one-source-out measurement).
    pub excluded_signer_sources: Vec<String>,
    /// Total weight of a letter's prior hands relative to its real (+ augmented) ones; 0 = none.
    pub prior_weight: f64,
    /// Seed of augmentation, prior sampling, initial weights and shuffling.
    pub seed: u64,
    /// Fewer training hands than this and no handshape model is trained.
    pub min_hands: usize,
    /// Recorded in the card: see [`HandshapeModelCard::fusion_photo_weight`].
    pub fusion_photo_weight: f32,
    /// Recorded in the card: see [`HandshapeModelCard::fusion_gate`]. Off by default: with
    /// the CNN trained on the same photos as the hand path it costs other people more than it
    /// gives the training signer; with a CNN trained on more of that signer's photos
    /// (`TrainConfig::photo_model`) it costs them nothing (docs/hands/classifier.md, 11.11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion_gate: Option<super::FusionGate>,
    /// Recorded in the card: see [`HandshapeModelCard::temperature`].
    pub temperature: f32,
    /// MediaPipe's landmark model that finds the hands trained on (and read when served):
    /// recorded in the card. Its hands are cached per model, and the other signers' table is
    /// that model's. Not written when full, so configurations (and the keys of models
    /// trained before the choice, see [`HandTrainConfig::fitting_part`]) read as before.
    #[serde(skip_serializing_if = "LandmarkModel::is_full")]
    pub landmark_model: LandmarkModel,
}

impl Default for HandTrainConfig {
    fn default() -> Self {
        HandTrainConfig {
            hidden: vec![256, 128],
            epochs: 80,
            batch_size: 256,
            lr: 1e-3,
            augmented_copies: 4,
            augment: AugmentConfig::STRONG,
            prior_samples: 300,
            // ~41 hands a letter from four sources against ~240 photos a letter of the Kaggle
            // signer: 8 copies make them about as many as that signer's. Dev mean over sources,
            // each source read by a model trained without it: 65.2 → 72.4 % at seed 0 with the
            // three MIT sources (8 copies; 20 gained less, section 11.7), 71.2 → 74.0 / 73.7 %
            // with Roboflow too (section 11.8; 8 copies, not tuned again).
            other_signers_repeat: 8,
            excluded_signer_sources: Vec::new(),
            // Each letter's prior hands weigh twice its real ones: with the prior posed as MediaPipe
            // shows hands (2026-12-03), 2 read dev 1.3 points better than 1 over two seeds, 3
            // worse (docs/hands/classifier.md, section 11.5).
            prior_weight: 2.0,
            seed: 0,
            min_hands: 100,
            // The product of the two experts at temperature 8: (l_hand + log p_photo) / 8.
            // The product: on other people's photos as good as the hand path alone (dev mean
            // over sources 62.5-63.2 % for any photo weight in 0..2), on the Kaggle signer's it
            // adds the CNN (97.6 → 98.3 % with a 5-minute CNN). The temperature: the MLP is as
            // sure when it misreads a stranger's hand, and the word decoder then trusts the
            // letter over the lexicon; dev words read right 5/55 at T = 1, 14-15/55 at 5-8
            // (README, "Other people's hands").
            fusion_photo_weight: 0.125,
            fusion_gate: None,
            temperature: 8.0,
            landmark_model: DEFAULT_LANDMARK_MODEL,
        }
    }
}

impl HandTrainConfig {
    /// This configuration with the settings that only shape the served answer (the fusion's
    /// photo weight and gate, the temperature) at their defaults: what the MLP's weights
    /// depend on, so a model trained with it can serve any of those settings.
    pub(crate) fn fitting_part(&self) -> HandTrainConfig {
        let serving = HandTrainConfig::default();
        HandTrainConfig {
            fusion_photo_weight: serving.fusion_photo_weight,
            fusion_gate: serving.fusion_gate,
            temperature: serving.temperature,
            ..self.clone()
        }
    }

    fn validate(&self) -> Result<(), HandshapeError> {
        let bad = |m: &str| Err(HandshapeError::BadConfig(m.into()));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch size must be positive");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("the learning rate must be positive");
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad("the temperature must be positive");
        }
        if !(self.fusion_photo_weight >= 0.0 && self.fusion_photo_weight.is_finite()) {
            return bad("the fusion's photo weight must be >= 0");
        }
        if let Some(problem) = self.fusion_gate.as_ref().and_then(super::FusionGate::problem) {
            return bad(&problem);
        }
        if !(self.prior_weight >= 0.0 && self.prior_weight.is_finite()) {
            return bad("the prior weight must be >= 0");
        }
        if self.hidden.contains(&0) {
            return bad("hidden layers must have at least one unit");
        }
        let known = &OtherSigners::embedded(self.landmark_model).sources;
        if let Some(name) = self
            .excluded_signer_sources
            .iter()
            .find(|n| !known.iter().any(|s| &s.source == *n))
        {
            return bad(&format!("no other signers' source is called {name:?}"));
        }
        Ok(())
    }
}

/// A weighted training set of feature vectors.
pub struct TrainingSet {
    /// One feature vector a sample.
    pub features: Vec<[f32; NUM_FEATURES]>,
    /// Class index of each sample, in [`CLASSES`] order.
    pub labels: Vec<usize>,
    /// Loss weight of each sample (1 for real and augmented hands).
    pub weights: Vec<f32>,
}

/// Real hands and the other signers' ([`super::signers`]), their augmented variants, and the
/// prior's hands (every letter's at `prior_weight` × all of that letter's hands, the other
/// signers' copies included: the setting measured in docs/hands/classifier.md, section 11.7).
pub fn build_training_set(hands: &[LabelledHand], cfg: &HandTrainConfig) -> TrainingSet {
    let mut rng = SplitMix64::new(cfg.seed ^ 0x5EED_4A4D);
    let mut set = TrainingSet {
        features: Vec::new(),
        labels: Vec::new(),
        weights: Vec::new(),
    };
    let mut counts = [0usize; NUM_CLASSES];
    let others: Vec<LabelledHand> = if cfg.other_signers_repeat > 0 {
        OtherSigners::embedded(cfg.landmark_model).labelled(&cfg.excluded_signer_sources)
    } else {
        Vec::new()
    };
    let others = others
        .iter()
        .flat_map(|h| std::iter::repeat_n(h, cfg.other_signers_repeat));
    for h in hands.iter().chain(others) {
        let p = h.points();
        let q = base(&p, is_right_hand(&p, h.handedness_right));
        set.push(base_features(&q), h.class, 1.0);
        for _ in 0..cfg.augmented_copies {
            set.push(base_features(&augment(&q, &mut rng, &cfg.augment)), h.class, 1.0);
        }
        counts[h.class] += 1 + cfg.augmented_copies;
    }
    if cfg.prior_weight > 0.0 && cfg.prior_samples > 0 {
        let prior = Prior::embedded();
        for (class, name) in CLASSES.iter().enumerate().take(NUM_LETTERS) {
            if counts[class] == 0 {
                continue;
            }
            let w = (cfg.prior_weight * counts[class] as f64 / cfg.prior_samples as f64) as f32;
            for _ in 0..cfg.prior_samples {
                let Some(q) = prior.sample(name, &mut rng) else {
                    break;
                };
                set.push(base_features(&augment(&q, &mut rng, &cfg.augment)), class, w);
            }
        }
    }
    set
}

impl TrainingSet {
    fn push(&mut self, f: [f32; NUM_FEATURES], label: usize, weight: f32) {
        // A degenerate hand (all landmarks in one point) has no usable features.
        if f.iter().all(|v| v.is_finite()) {
            self.features.push(f);
            self.labels.push(label);
            self.weights.push(weight);
        }
    }

    /// Weighted per-feature mean and standard deviation (a constant feature gets 1).
    pub fn standardisation(&self) -> (Vec<f32>, Vec<f32>) {
        let total: f64 = self.weights.iter().map(|&w| f64::from(w)).sum();
        let mut mean = [0f64; NUM_FEATURES];
        for (f, &w) in self.features.iter().zip(&self.weights) {
            for (m, x) in mean.iter_mut().zip(f) {
                *m += f64::from(w) * f64::from(*x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= total.max(1e-12));
        let mut var = [0f64; NUM_FEATURES];
        for (f, &w) in self.features.iter().zip(&self.weights) {
            for ((v, x), m) in var.iter_mut().zip(f).zip(&mean) {
                *v += f64::from(w) * (f64::from(*x) - m).powi(2);
            }
        }
        let std = var.map(|v| {
            let s = (v / total.max(1e-12)).sqrt();
            if s > 1e-8 { s as f32 } else { 1.0 }
        });
        (mean.map(|m| m as f32).to_vec(), std.to_vec())
    }
}

/// Trains on `train`, reports accuracy on `val` (hands of held-out photos), on `device_name`.
pub fn train_handshape_model(
    train: &[LabelledHand],
    val: &[LabelledHand],
    cfg: &HandTrainConfig,
    device_name: &str,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<HandshapeModel, HandshapeError> {
    cfg.validate()?;
    if train.len() < cfg.min_hands {
        return Err(HandshapeError::TooFewHands {
            found: train.len(),
            needed: cfg.min_hands,
        });
    }
    let device = crate::model::device(device_name).map_err(|e| HandshapeError::BadConfig(e.to_string()))?;
    let set = build_training_set(train, cfg);
    let fitted = fit(&set, cfg, &device, "handshape", progress, cancel)?;
    let mut model = fitted.model;
    let val_accuracy = accuracy(&model, val)?;
    model.card.metrics = serde_json::json!({
        "train_hands": train.len(),
        "training_samples": set.labels.len(),
        "val_hands": val.len(),
        "val_accuracy": val_accuracy,
        "final_loss": fitted.history.last(),
        "loss_history": fitted.history,
    });
    Ok(model)
}

/// A trained MLP and its per-epoch mean loss.
struct Fitted {
    model: HandshapeModel,
    history: Vec<f64>,
}

/// Adam on the weighted cross-entropy of `set`, inputs standardised with its statistics.
fn fit(
    set: &TrainingSet,
    cfg: &HandTrainConfig,
    device: &Device,
    stage: &str,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Fitted, HandshapeError> {
    let ad = device.clone().autodiff();
    let (mean, std) = set.standardisation();
    let x = standardised(&set.features, &mean, &std);
    let mut mlp = LandmarkMlp::new(&cfg.hidden, &ad);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = SplitMix64::new(cfg.seed ^ 0x0DE0_0DE0);
    let mut order: Vec<usize> = (0..set.labels.len()).collect();
    let mut history = Vec::new();
    progress.begin(stage, Some(cfg.epochs as u64));
    for _epoch in 0..cfg.epochs {
        if cancel.is_cancelled() {
            progress.finish();
            return Err(HandshapeError::Cancelled);
        }
        rng.shuffle(&mut order);
        let (mut loss_sum, mut batches) = (0.0, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let loss = batch_loss(&mlp, set, &x, chunk, &ad);
            loss_sum += f64::from(loss.clone().into_scalar::<f32>());
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &mlp);
            mlp = optim.step(cfg.lr, mlp, grads);
        }
        history.push(loss_sum / batches.max(1) as f64);
        progress.advance(1);
    }
    progress.finish();
    let card = HandshapeModelCard {
        format: card_format(cfg.landmark_model),
        hidden: cfg.hidden.clone(),
        feature_mean: mean,
        feature_std: std,
        training: serde_json::to_value(cfg).unwrap_or_default(),
        metrics: serde_json::Value::Null,
        fusion_photo_weight: cfg.fusion_photo_weight,
        fusion_gate: cfg.fusion_gate,
        temperature: cfg.temperature,
        landmark_model: cfg.landmark_model,
    };
    Ok(Fitted {
        model: HandshapeModel::from_parts(card, mlp.valid(), device.clone()),
        history,
    })
}

/// The weighted cross-entropy of the rows `chunk` of the standardised features `x`.
fn batch_loss(mlp: &LandmarkMlp, set: &TrainingSet, x: &[f32], chunk: &[usize], ad: &Device) -> Tensor<1> {
    let b = chunk.len();
    let xs: Vec<f32> = chunk
        .iter()
        .flat_map(|&i| x[i * NUM_FEATURES..(i + 1) * NUM_FEATURES].iter().copied())
        .collect();
    let ys: Vec<i64> = chunk.iter().map(|&i| set.labels[i] as i64).collect();
    let ws: Vec<f32> = chunk.iter().map(|&i| set.weights[i]).collect();
    let xt = Tensor::<2>::from_data(TensorData::new(xs, [b, NUM_FEATURES]), ad);
    let yt = Tensor::<2, Int>::from_data(TensorData::new(ys, [b, 1]), ad);
    let wt = Tensor::<1>::from_data(TensorData::new(ws, [b]), ad);
    let picked: Tensor<1> = log_softmax(mlp.forward(xt), 1).gather(1, yt).reshape([b]);
    (picked * wt.clone()).sum().neg() / wt.sum()
}

/// Share of `hands` whose most likely class is their label (None for no hands).
pub fn accuracy(model: &HandshapeModel, hands: &[LabelledHand]) -> Result<Option<f64>, HandshapeError> {
    if hands.is_empty() {
        return Ok(None);
    }
    let feats: Vec<[f32; NUM_FEATURES]> = hands.iter().map(LabelledHand::features).collect();
    let probs = model.probabilities(&feats)?;
    let right = probs
        .chunks_exact(NUM_CLASSES)
        .zip(hands)
        .filter(|(p, h)| argmax(p) == h.class)
        .count();
    Ok(Some(right as f64 / hands.len() as f64))
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    /// Prior hands of a few letters, drawn as a photo would show them: palm 60 px, the wrist
    /// at (200, 300), half of them left hands (mirrored, with MediaPipe's label to match).
    fn photo_hands(letters: &[&str], per_letter: usize, seed: u64) -> Vec<LabelledHand> {
        let prior = Prior::embedded();
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::new();
        for name in letters {
            let class = crate::classes::class_index(name).expect("a class");
            for k in 0..per_letter {
                let q = prior.sample(name, &mut rng).expect("a prior letter");
                let left = k % 2 == 1;
                let landmarks = q.map(|[x, y, z]| {
                    let x = if left { -x } else { x };
                    [(200.0 + 60.0 * x) as f32, (300.0 + 60.0 * y) as f32, (60.0 * z) as f32]
                });
                // MediaPipe assumes a mirrored image: a right hand is labelled "Left".
                let handedness_right = if left { 0.9 } else { 0.1 };
                out.push(LabelledHand {
                    class,
                    landmarks,
                    handedness_right,
                });
            }
        }
        out
    }

    #[test]
    fn learns_handshapes_and_survives_a_save() {
        let letters = ["A", "B", "L", "V", "Y"];
        let train = photo_hands(&letters, 40, 1);
        let val = photo_hands(&letters, 20, 2);
        let cfg = HandTrainConfig {
            epochs: 30,
            augmented_copies: 1,
            prior_samples: 20,
            min_hands: 10,
            other_signers_repeat: 0,
            // The model's own probabilities (serving softens them).
            temperature: 1.0,
            fusion_gate: Some(super::super::FusionGate::at(0.8)),
            landmark_model: LandmarkModel::Lite,
            ..HandTrainConfig::default()
        };
        let model = train_handshape_model(&train, &val, &cfg, "flex", &NoProgress, &Cancel::new()).expect("trains");
        let acc = model.card.metrics["val_accuracy"]
            .as_f64()
            .expect("a validation accuracy");
        assert!(acc > 0.9, "validation accuracy {acc}");
        let dir = tempfile::tempdir().expect("temp dir");
        model.save(dir.path()).expect("saves");
        let device = crate::model::device("flex").expect("flex");
        let loaded = HandshapeModel::load(dir.path(), &device).expect("loads");
        let feats: Vec<_> = val.iter().take(5).map(LabelledHand::features).collect();
        let (a, b) = (
            model.probabilities(&feats).expect("runs"),
            loaded.probabilities(&feats).expect("runs"),
        );
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
        // The landmark model travels in the card (the server loads that one); a card written
        // before there was a choice reads as the full model's.
        assert_eq!(loaded.card.landmark_model, LandmarkModel::Lite);
        let card_path = dir.path().join(super::super::model::HANDSHAPE_CARD_FILE);
        let written = std::fs::read_to_string(&card_path).expect("card");
        let mut card: serde_json::Value = serde_json::from_str(&written).expect("JSON");
        assert_eq!(card["landmark_model"], "lite");
        // Format 2, so an asl from before the choice (format 1 only) refuses it rather than
        // serving it with the full model's landmarks; a format-1 card naming lite is refused.
        assert_eq!(card["format"], 2);
        card["format"] = 1.into();
        std::fs::write(&card_path, serde_json::to_vec(&card).expect("JSON")).expect("writes");
        let mixed = HandshapeModel::load(dir.path(), &device).expect_err("format 1 naming lite");
        assert!(mixed.to_string().contains("lite landmark model"), "{mixed}");
        card.as_object_mut().expect("object").remove("landmark_model");
        std::fs::write(&card_path, serde_json::to_vec(&card).expect("JSON")).expect("writes");
        let old = HandshapeModel::load(dir.path(), &device).expect("loads");
        assert_eq!(old.card.landmark_model, LandmarkModel::Full);
        // Serving loads the networks the card names.
        use crate::hand::HandNets;
        for (shape, model) in [(&loaded, LandmarkModel::Lite), (&old, LandmarkModel::Full)] {
            let stage = crate::infer::HandStage::new(shape.clone(), &device).expect("networks load");
            assert_eq!(stage.nets().landmark_model(), model);
        }
        std::fs::write(&card_path, written).expect("writes");
        // Classes never trained (here `nothing`) stay unlikely.
        assert!(a.chunks_exact(NUM_CLASSES).all(|p| p[crate::classes::NOTHING] < 0.05));

        // The gate travels in the card: the photo CNN weighs 4 where it is at least 0.8 sure.
        let mut sure = vec![0.2 / 28.0; NUM_CLASSES];
        sure[3] = 0.8;
        let unsure = vec![1.0 / NUM_CLASSES as f32; NUM_CLASSES];
        assert_eq!(loaded.card.fusion_gate, cfg.fusion_gate);
        assert_eq!(loaded.photo_weight(&sure), super::super::GATE_PHOTO_WEIGHT);
        assert_eq!(loaded.photo_weight(&unsure), cfg.fusion_photo_weight);
        let ungated = HandshapeModel::from_parts(
            HandshapeModelCard {
                fusion_gate: None,
                ..loaded.card.clone()
            },
            LandmarkMlp::new(&cfg.hidden, &device),
            device.clone(),
        );
        assert_eq!(ungated.photo_weight(&sure), cfg.fusion_photo_weight);
        // The same weights serve another gate and temperature (a memoised model reused).
        let softer = HandTrainConfig {
            temperature: 4.0,
            fusion_gate: None,
            ..cfg.clone()
        };
        assert_eq!(softer.fitting_part(), cfg.fitting_part());
        let reserved = loaded.clone().serving(&softer);
        assert_eq!(reserved.photo_weight(&sure), cfg.fusion_photo_weight);
        assert_eq!(reserved.card.training["temperature"], 4.0);
        let c = reserved.probabilities(&feats).expect("runs");
        let sharpest = |p: &[f32]| p.iter().copied().fold(0.0f32, f32::max);
        assert!(sharpest(&c[..NUM_CLASSES]) < sharpest(&b[..NUM_CLASSES]));
        // A hand-edited card with a gate out of range is refused on load, saying why.
        let card_path = dir.path().join(super::super::model::HANDSHAPE_CARD_FILE);
        // A card saved before the gate's weight became 4 keeps the weight it records.
        let saved = std::fs::read_to_string(&card_path).expect("card");
        assert!(saved.contains("\"photo_weight\": 4.0"), "{saved}");
        std::fs::write(
            &card_path,
            saved.replace("\"photo_weight\": 4.0", "\"photo_weight\": 1.0"),
        )
        .expect("writes");
        let gated_at_one = HandshapeModel::load(dir.path(), &device).expect("an older card loads");
        assert_eq!(gated_at_one.photo_weight(&sure), 1.0);
        let edited = std::fs::read_to_string(&card_path)
            .expect("card")
            .replace("\"photo_confidence\": 0.8", "\"photo_confidence\": 1.5");
        std::fs::write(&card_path, edited).expect("writes");
        let err = HandshapeModel::load(dir.path(), &device).expect_err("refused");
        assert!(err.to_string().contains("confidence 1.5"), "{err}");
    }

    #[test]
    fn too_few_hands_and_bad_settings_are_refused() {
        let hands = photo_hands(&["A"], 3, 3);
        let cfg = HandTrainConfig::default();
        let err = train_handshape_model(&hands, &[], &cfg, "flex", &NoProgress, &Cancel::new());
        assert!(matches!(
            err,
            Err(HandshapeError::TooFewHands { found: 3, needed: 100 })
        ));
        let bad = HandTrainConfig {
            lr: 0.0,
            ..HandTrainConfig::default()
        };
        let err = train_handshape_model(&hands, &[], &bad, "flex", &NoProgress, &Cancel::new());
        assert!(matches!(err, Err(HandshapeError::BadConfig(_))));
        for bad in [
            HandTrainConfig {
                fusion_photo_weight: -1.0,
                ..HandTrainConfig::default()
            },
            HandTrainConfig {
                fusion_gate: Some(super::super::FusionGate::at(0.0)),
                ..HandTrainConfig::default()
            },
            HandTrainConfig {
                fusion_gate: Some(super::super::FusionGate {
                    photo_confidence: 0.8,
                    photo_weight: f32::NAN,
                }),
                ..HandTrainConfig::default()
            },
        ] {
            let err = train_handshape_model(&hands, &[], &bad, "flex", &NoProgress, &Cancel::new());
            assert!(matches!(err, Err(HandshapeError::BadConfig(_))), "{bad:?}");
        }
    }

    /// 2 augmented copies a hand, 7 prior hands a letter weighing half the real ones.
    fn two_letter_prior_config() -> HandTrainConfig {
        HandTrainConfig {
            augmented_copies: 2,
            prior_samples: 7,
            prior_weight: 0.5,
            other_signers_repeat: 0,
            ..HandTrainConfig::default()
        }
    }

    #[test]
    fn the_training_set_weighs_the_prior_like_the_letters_real_hands() {
        let hands = photo_hands(&["A", "B"], 10, 4);
        let cfg = two_letter_prior_config();
        let set = build_training_set(&hands, &cfg);
        // 20 hands × (1 + 2) real and augmented, + 7 prior hands for each of A and B.
        assert_eq!(set.labels.len(), 20 * 3 + 2 * 7);
        let prior_weight: f32 = set.weights[60..67].iter().sum();
        assert!((prior_weight - 0.5 * 30.0).abs() < 1e-3, "{prior_weight}");
        let (mean, std) = set.standardisation();
        assert!(mean.iter().chain(&std).all(|v| v.is_finite()));
        assert!(std.iter().all(|&s| s > 0.0));
    }

    #[test]
    fn the_other_signers_hands_join_the_training_set_as_often_as_asked() {
        let hands = photo_hands(&["A", "B"], 10, 4);
        let cfg = HandTrainConfig {
            prior_weight: 0.0,
            other_signers_repeat: 3,
            ..two_letter_prior_config()
        };
        let others = OtherSigners::embedded(cfg.landmark_model).labelled(&[]);
        let set = build_training_set(&hands, &cfg);
        // Every hand and each of its 2 augmented copies; each other signer's hand 3 times.
        assert_eq!(set.labels.len(), (20 + 3 * others.len()) * 3);
        let t = crate::classes::class_index("T").expect("T");
        let ts = others.iter().filter(|h| h.class == t).count();
        assert!(ts > 0);
        assert_eq!(set.labels.iter().filter(|&&l| l == t).count(), 3 * ts * 3);
        let left_out = HandTrainConfig {
            excluded_signer_sources: ["hackmit", "longhongvo23", "seeeeeeel", "roboflow"]
                .map(String::from)
                .to_vec(),
            ..cfg.clone()
        };
        assert_eq!(build_training_set(&hands, &left_out).labels.len(), 20 * 3);
        // A misspelt source would leave nothing out: refused.
        let misspelt = HandTrainConfig {
            excluded_signer_sources: vec!["hackmlt".into()],
            ..cfg
        };
        assert!(matches!(misspelt.validate(), Err(HandshapeError::BadConfig(_))));
    }
}
