//! Training: AdamW with warm-up and a cosine schedule, label smoothing, on-the-fly
//! augmentation, early stopping on validation loss, a checkpoint every epoch (resume after a
//! crash), a per-epoch callback (experiment tracking plugs in there), and a model folder at
//! the end. Deterministic given a seed on one backend.
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::{AugmentConfig, augment_into};
use crate::classes::CLASSES;
use crate::eval::{EvalReport, evaluate_cache};
use crate::fsutil;
use crate::infer::{self, Classifier, Lineage, ModelCard, WEIGHTS_FILE};
use crate::model::{self, Cnn, ModelConfig};
use crate::prep::{Cache, Split};
use crate::progress::{Cancel, Progress};
use crate::rng::SplitMix64;

/// Why a training run (or a throughput measurement) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model configuration is invalid, or the backend named cannot be used.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// Building, saving or loading the model folder's classifier failed.
    #[error(transparent)]
    Infer(#[from] infer::InferError),
    /// Measuring the finished model on the validation split failed.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// The training configuration is out of range (the message says which setting).
    #[error("invalid training configuration: {0}")]
    BadConfig(String),
    /// A training configuration given as JSON (a `--config` file, a Python dict) could not
    /// be read: not JSON, or a setting of the wrong type.
    #[error("invalid training configuration: {0}")]
    UnreadableConfig(serde_json::Error),
    /// A training configuration given as JSON has a key the configuration does not have
    /// (a typo would otherwise be ignored silently and the default used).
    #[error("unknown key {key:?}; the keys here are: {known}")]
    UnknownConfigKey {
        /// The key's path, dotted (`model.widht`).
        key: String,
        /// The keys beside it, as the defaults write them, comma-separated.
        known: String,
    },
    /// Finding the hands or training the handshape classifier (the hand path) failed.
    #[error("the hand stage: {0}")]
    HandStage(#[from] crate::handshape::stage::HandStageError),
    /// Saving the handshape model into the model folder failed.
    #[error("saving the handshape model: {0}")]
    Handshape(#[from] crate::handshape::HandshapeError),
    /// The cache's image size (first) differs from the model's input size (second), in pixels.
    #[error("the cache has {0}px images but the model wants {1}px; run `asl prep --size {1}`")]
    SizeMismatch(usize, usize),
    /// The run folder's checkpoint cannot be resumed: unreadable, or saved with another
    /// configuration (the time budget aside).
    #[error("{path}: cannot resume: {problem}. Delete the run folder to start over")]
    Resume {
        /// The checkpoint folder.
        path: PathBuf,
        /// Why it cannot be resumed.
        problem: String,
    },
    /// Saving a checkpoint or the model's weights, or loading the best weights back, failed.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The folder or weights file.
        path: PathBuf,
        /// The recorder's error.
        problem: String,
    },
    /// Cancelled mid-epoch; the number is the epochs finished, whose checkpoint a rerun resumes.
    #[error("training was cancelled after epoch {0}; run again with the same run folder to resume")]
    Cancelled(usize),
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Everything that decides a training run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TrainConfig {
    /// The CNN's shape and input size.
    pub model: ModelConfig,
    /// Epochs planned (default 18); early stopping or a time budget may end sooner.
    pub epochs: usize,
    /// Training images per optimisation step, 1 to 4096 (default 32).
    pub batch_size: usize,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Learning rate at the end of the cosine.
    pub min_lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Linear warm-up length, in epochs (may be fractional).
    pub warmup_epochs: f64,
    /// Label smoothing of the cross-entropy loss, in [0, 1) (default 0.1).
    pub label_smoothing: f32,
    /// On-the-fly augmentation of the training images.
    pub augment: AugmentConfig,
    /// Seed of the initialisation, the shuffles and the augmentation.
    pub seed: u64,
    /// Stop when validation loss has not improved for this many epochs (0 = never).
    pub patience: usize,
    /// Stop (and shorten the schedule) so that training ends within this many seconds.
    pub time_budget_secs: Option<f64>,
    /// Backend: `flex`, `wgpu`, `cuda` (among those built in).
    pub device: String,
    /// Whether the model gets the hand path (landmarks → handshape MLP).
    pub hands: crate::handshape::HandsMode,
    /// How the handshape classifier of the hand path is trained.
    pub handshape: crate::handshape::HandTrainConfig,
    /// Take the photo CNN from this model folder instead of training one, and train only the
    /// hand path here: e.g. a CNN trained with `--hands off` on a larger archive of the
    /// training signer, the hands from sharper photos (docs/hands/classifier.md, 11.11).
    /// Its architecture replaces `model`; its input size must be the cache's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_model: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            // The search's best trial (see ModelConfig), trained for 18 epochs: 99.5 % within
            // 10 minutes on a 2-core machine (README, "Model").
            model: ModelConfig::new(),
            epochs: 18,
            batch_size: 32,
            lr: 4.75e-3,
            min_lr: 3e-5,
            weight_decay: 1.08e-3,
            warmup_epochs: 0.5,
            label_smoothing: 0.1,
            augment: AugmentConfig {
                strength: 0.143,
                ..AugmentConfig::default()
            },
            seed: 42,
            patience: 4,
            time_budget_secs: None,
            device: model::default_device_name().to_string(),
            hands: Default::default(),
            handshape: Default::default(),
            photo_model: None,
        }
    }
}

impl TrainConfig {
    /// The configuration that `given` (a JSON object that may leave settings out) describes:
    /// what it sets, laid over the defaults. Settings the defaults leave unwritten
    /// (`photo_model`, `handshape.landmark_model`, `handshape.fusion_gate`) may be set too.
    /// Both frontends read user-written configurations through this (the CLI's `--config`
    /// file, Python's dicts); files asl wrote itself (model cards, checkpoints) are read
    /// leniently instead, so that an older folder still loads.
    ///
    /// # Errors
    /// [`TrainError::UnknownConfigKey`] for the first key serde did not use, naming the keys
    /// beside it; [`TrainError::UnreadableConfig`] for a value of the wrong type.
    pub fn from_json(given: serde_json::Value) -> Result<TrainConfig, TrainError> {
        let defaults = serde_json::to_value(TrainConfig::default()).map_err(TrainError::UnreadableConfig)?;
        let mut merged = defaults.clone();
        lay_over(&mut merged, given);
        let mut unknown = Vec::new();
        let config = serde_ignored::deserialize(merged, |path| unknown.push(path.to_string()))
            .map_err(TrainError::UnreadableConfig)?;
        match unknown.into_iter().next() {
            None => Ok(config),
            Some(key) => {
                let parent = key.rsplit_once('.').map_or("", |(p, _)| p);
                let known = parent
                    .split('.')
                    .filter(|k| !k.is_empty())
                    .try_fold(&defaults, |v, k| v.get(k))
                    .and_then(|v| v.as_object())
                    .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                Err(TrainError::UnknownConfigKey { key, known })
            }
        }
    }

    /// Checks the ranges: the model, `epochs` ≥ 1, `batch_size` in 1..=4096, `lr` in (0, 1],
    /// 0 ≤ `min_lr` ≤ `lr`, `label_smoothing` in [0, 1) and `weight_decay` ≥ 0.
    ///
    /// # Errors
    /// [`TrainError::BadConfig`] (or [`TrainError::Model`]) naming the setting out of range.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.model.validate()?;
        let bad = |m: &str| Err(TrainError::BadConfig(m.into()));
        if self.epochs == 0 || self.batch_size == 0 || self.batch_size > 4096 {
            return bad("epochs must be ≥ 1 and batch_size in 1..=4096");
        }
        if !(self.lr > 0.0 && self.lr <= 1.0) || self.min_lr < 0.0 || self.min_lr > self.lr {
            return bad("lr must be in (0, 1] and 0 ≤ min_lr ≤ lr");
        }
        if !(0.0..1.0).contains(&self.label_smoothing) || self.weight_decay < 0.0 {
            return bad("label_smoothing must be in [0, 1) and weight_decay ≥ 0");
        }
        Ok(())
    }

    /// Learning rate at `step` of `total` steps: linear warm-up, then cosine down to `min_lr`.
    pub fn lr_at(&self, step: usize, total: usize, steps_per_epoch: usize) -> f64 {
        let warm = (self.warmup_epochs * steps_per_epoch as f64).round() as usize;
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let span = total.saturating_sub(warm).max(1);
        let t = ((step - warm) as f64 / span as f64).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// `given` laid over `base`: objects merge key by key (keys `base` lacks are added), anything
/// else replaces.
fn lay_over(base: &mut serde_json::Value, given: serde_json::Value) {
    match (base, given) {
        (serde_json::Value::Object(b), serde_json::Value::Object(g)) => {
            for (k, v) in g {
                match b.get_mut(&k) {
                    Some(slot) => lay_over(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One epoch's numbers, handed to the callback and kept in the history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's (augmented) images.
    pub train_loss: f64,
    /// Share of the epoch's training images classified right before each update.
    pub train_accuracy: f64,
    /// Validation loss after the epoch; NaN when the cache has no validation images.
    pub val_loss: f64,
    /// Validation accuracy after the epoch; NaN when the cache has no validation images.
    pub val_accuracy: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Training images per second in the epoch (validation not counted).
    pub images_per_sec: f64,
}

/// What the callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    Continue,
    /// Stop now (a tracker's pruner, for example); the best model so far is kept.
    Stop,
}

/// Called after every epoch. Experiment tracking and HPO pruning plug in here.
pub trait EpochCallback {
    /// Receives one finished epoch's metrics; says whether to go on.
    fn on_epoch(&mut self, metrics: &EpochMetrics) -> Control;
}

/// No callback.
pub struct NoCallback;
impl EpochCallback for NoCallback {
    fn on_epoch(&mut self, _: &EpochMetrics) -> Control {
        Control::Continue
    }
}

impl<F: FnMut(&EpochMetrics) -> Control> EpochCallback for F {
    fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
        self(m)
    }
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All planned epochs ran.
    Completed,
    /// Validation loss did not improve for `patience` epochs.
    EarlyStopped,
    /// The time budget left no room for another epoch.
    TimeBudget,
    /// The callback asked to stop ([`Control::Stop`]).
    Callback,
    /// No epoch ran: the photo CNN was taken from another model folder
    /// ([`TrainConfig::photo_model`]).
    PhotoModelTaken,
}

/// Resume state, written with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    config: TrainConfig,
    /// Epochs finished.
    epochs_done: usize,
    /// Planned epochs (a time budget may shorten the plan).
    planned_epochs: usize,
    best_val_loss: f64,
    best_epoch: usize,
    history: Vec<EpochMetrics>,
    stop: Option<StopReason>,
    train_seconds: f64,
}

/// What a finished training run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The run folder (checkpoints and best weights).
    pub run_dir: PathBuf,
    /// The model folder written.
    pub model_dir: PathBuf,
    /// Every epoch's metrics, those before a resume included.
    pub history: Vec<EpochMetrics>,
    /// The epoch whose weights were kept (lowest validation loss, or the last without a
    /// validation split), counted from 1.
    pub best_epoch: usize,
    /// Why training ended.
    pub stop: StopReason,
    /// The model folder's validation report, measured as the model serves.
    pub report: EvalReport,
    /// Seconds spent training over all invocations of the run (resumes included).
    pub train_seconds: f64,
    /// Training images per second: the mean of the epochs' rates (augmentation included).
    pub images_per_sec: f64,
    /// Epochs already done in the checkpoint resumed from; 0 for a fresh run.
    pub resumed_from_epoch: usize,
}

/// Fill a batch: normalised CHW pixels (augmented when `aug` is given) and labels.
pub fn fill_batch(
    cache: &Cache,
    split: Split,
    idx: &[usize],
    aug: Option<(&AugmentConfig, u64)>,
    pixels: &mut Vec<f32>,
    labels: &mut Vec<i64>,
) {
    let s = cache.image_size();
    let plane = 3 * s * s;
    pixels.resize(idx.len() * plane, 0.0);
    labels.clear();
    labels.extend(idx.iter().map(|&i| cache.labels(split)[i] as i64));
    pixels
        .par_chunks_mut(plane)
        .zip(idx.par_iter())
        .for_each(|(dst, &i)| match aug {
            // Each image's randomness depends only on (seed, epoch, index): the same on any
            // number of threads.
            Some((cfg, seed)) => augment_into(
                cache.pixels(split, i),
                s,
                cfg,
                &mut SplitMix64::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                dst,
            ),
            None => crate::augment::normalize_into(cache.pixels(split, i), s, dst),
        });
}

/// The optimiser and loss a configuration trains with (shared by `train` and
/// `measure_throughput`, so the speed measured is the speed of the real thing).
fn optimiser_and_loss(cfg: &TrainConfig, ad: &Device) -> (burn::optim::ModuleOptimizer, CrossEntropyLoss) {
    let optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay)
        .with_epsilon(1e-8)
        .init();
    let loss = CrossEntropyLossConfig::new()
        .with_smoothing((cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing))
        .init(ad);
    (optim, loss)
}

/// What one optimisation step reports.
pub struct StepResult {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Training images the model classified right before the update.
    pub correct: usize,
}

/// One optimisation step on a batch of normalised CHW pixels (`labels.len() × 3 × s × s`).
#[allow(clippy::too_many_arguments)]
fn train_step(
    model: Cnn,
    optim: &mut burn::optim::ModuleOptimizer,
    loss_fn: &CrossEntropyLoss,
    pixels: Vec<f32>,
    labels: &[i64],
    s: usize,
    lr: f64,
    ad: &Device,
) -> (Cnn, StepResult) {
    let n = labels.len();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, s, s]), ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [n]), ad);
    let logits = model.forward(x);
    let loss = loss_fn.forward(logits.clone(), y);
    let preds = logits.argmax(1).try_into_vec_as::<i64>().unwrap_or_default();
    let correct = preds.iter().zip(labels).filter(|(p, y)| p == y).count();
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(lr, model, grads);
    (
        model,
        StepResult {
            loss: loss_value,
            correct,
        },
    )
}

/// Feed the batches of `order` (in `batch_size` chunks, augmented with `seed_of(batch)`) to
/// `step(batch, pixels, labels)`, filling each batch on a helper thread while the previous one
/// trains, so augmentation overlaps the optimiser instead of stalling it. The batches are the
/// same as a sequential fill (each image's randomness depends only on its seed). `step`
/// returns false to stop early; the result says whether it did.
fn prefetched_batches(
    cache: &Cache,
    augment: &AugmentConfig,
    order: &[usize],
    batch_size: usize,
    seed_of: impl Fn(usize) -> u64 + Sync,
    mut step: impl FnMut(usize, Vec<f32>, Vec<i64>) -> bool,
) -> bool {
    std::thread::scope(|scope| {
        // One batch ahead: enough to hide the fill, little memory.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<f32>, Vec<i64>)>(1);
        let seed_of = &seed_of;
        scope.spawn(move || {
            for (b, idx) in order.chunks(batch_size).enumerate() {
                let (mut pixels, mut labels) = (Vec::new(), Vec::new());
                fill_batch(
                    cache,
                    Split::Train,
                    idx,
                    Some((augment, seed_of(b))),
                    &mut pixels,
                    &mut labels,
                );
                if tx.send((pixels, labels)).is_err() {
                    return; // the consumer stopped
                }
            }
        });
        for (b, (pixels, labels)) in rx.iter().enumerate() {
            if !step(b, pixels, labels) {
                return true; // dropping `rx` stops the producer
            }
        }
        false
    })
}

/// Training speed of a configuration, measured on real steps of the training loop.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// The configuration's batch size.
    pub batch_size: usize,
    /// Training steps timed (the warm-up steps not counted).
    pub steps: usize,
    /// The training loop (forward + backward + update, the next batch filled meanwhile),
    /// images per second.
    pub images_per_sec: f64,
    /// Batch fill alone (augmentation + normalisation on the rayon pool), images per second.
    pub fill_images_per_sec: f64,
    /// Forward + backward + update alone (batches filled beforehand, nothing else running),
    /// images per second.
    pub compute_images_per_sec: f64,
}

/// The checks `train` and `measure_throughput` share: a valid configuration, a cache of the
/// model's input size with training images. Returns the number of training images.
fn checked_inputs(cache: &Cache, cfg: &TrainConfig) -> Result<usize, TrainError> {
    cfg.validate()?;
    if cache.image_size() != cfg.model.input_size {
        return Err(TrainError::SizeMismatch(cache.image_size(), cfg.model.input_size));
    }
    match cache.len(Split::Train) {
        0 => Err(TrainError::BadConfig("the cache has no training images".into())),
        n => Ok(n),
    }
}

/// Run `warmup + steps` training steps of `cfg` on the cache's training split (no validation,
/// no checkpoints) and time them: the speed a training run sees between its epoch ends. The
/// batch fill is also timed alone.
pub fn measure_throughput(
    cache: &Cache,
    cfg: &TrainConfig,
    warmup: usize,
    steps: usize,
) -> Result<Throughput, TrainError> {
    let n_train = checked_inputs(cache, cfg)?;
    if n_train < cfg.batch_size {
        return Err(TrainError::BadConfig(
            "the cache has fewer training images than one batch".into(),
        ));
    }
    let ad = model::device(&cfg.device)?.autodiff();
    ad.seed(cfg.seed);
    let model = cfg.model.init(&ad)?;
    let (mut optim, loss_fn) = optimiser_and_loss(cfg, &ad);
    let s = cache.image_size();
    let batches = warmup + steps;
    let order = cycled_batch_order(n_train, cfg, batches);
    let seed_of = |b: usize| cfg.seed ^ b as u64;

    // The batch fill alone, as the loop's helper thread runs it.
    let t = Instant::now();
    let kept = fill_kept_batches(cache, cfg, &order, &seed_of);
    let fill_images_per_sec = (kept.len() * cfg.batch_size) as f64 / t.elapsed().as_secs_f64().max(1e-9);

    // Compute alone: forward + backward + update on batches filled beforehand, nothing else
    // running (the like-for-like of a framework training on arrays already in memory).
    let mut model = model;
    let mut compute = 0f64;
    for b in 0..batches {
        let (pixels, labels) = kept[b % kept.len()].clone();
        let t = Instant::now();
        model = train_step(model, &mut optim, &loss_fn, pixels, &labels, s, cfg.lr, &ad).0;
        if b >= warmup {
            compute += t.elapsed().as_secs_f64();
        }
    }
    drop(kept);

    // The training loop: fill overlapped with the steps, as `train` runs it. The run above
    // warmed everything up, so all its steps are timed.
    let started = Instant::now();
    let mut slot = Some(model);
    prefetched_batches(
        cache,
        &cfg.augment,
        &order[warmup * cfg.batch_size..],
        cfg.batch_size,
        seed_of,
        |_, pixels, labels| {
            let Some(current) = slot.take() else { return false };
            slot = Some(train_step(current, &mut optim, &loss_fn, pixels, &labels, s, cfg.lr, &ad).0);
            true
        },
    );
    let whole = started.elapsed().as_secs_f64();
    let images = (steps * cfg.batch_size) as f64;
    Ok(Throughput {
        batch_size: cfg.batch_size,
        steps,
        images_per_sec: images / whole.max(1e-9),
        fill_images_per_sec,
        compute_images_per_sec: images / compute.max(1e-9),
    })
}

/// The image order of a throughput measurement: the training images shuffled with the
/// configuration's seed, cut into whole batches, cycled until there are `batches` of them.
fn cycled_batch_order(n_train: usize, cfg: &TrainConfig, batches: usize) -> Vec<usize> {
    let mut shuffled: Vec<usize> = (0..n_train).collect();
    SplitMix64::new(cfg.seed).shuffle(&mut shuffled);
    shuffled
        .chunks_exact(cfg.batch_size)
        .cycle()
        .take(batches)
        .flatten()
        .copied()
        .collect()
}

/// The first batches of `order`, filled (augmented with `seed_of(batch)`) as the training
/// loop's helper thread fills them, and kept for the compute-only run of
/// [`measure_throughput`]: at most 64 of them (100 MB at 64 px), reused in turn.
fn fill_kept_batches(
    cache: &Cache,
    cfg: &TrainConfig,
    order: &[usize],
    seed_of: &dyn Fn(usize) -> u64,
) -> Vec<(Vec<f32>, Vec<i64>)> {
    order
        .chunks(cfg.batch_size)
        .take(64)
        .enumerate()
        .map(|(b, idx)| {
            let (mut pixels, mut labels) = (Vec::new(), Vec::new());
            fill_batch(
                cache,
                Split::Train,
                idx,
                Some((&cfg.augment, seed_of(b))),
                &mut pixels,
                &mut labels,
            );
            (pixels, labels)
        })
        .collect()
}

fn checkpoint_paths(run_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        run_dir.join("checkpoint"),
        run_dir.join("checkpoint.tmp"),
        run_dir.join("checkpoint.old"),
    )
}

/// Save model + optimizer + state as one unit: write a fresh folder, then swap it in by rename.
fn save_checkpoint(
    run_dir: &Path,
    model: &Cnn,
    optim: &burn::optim::ModuleOptimizer,
    state: &RunState,
) -> Result<(), TrainError> {
    let (cur, tmp, old) = checkpoint_paths(run_dir);
    let ck = |problem: String| TrainError::Checkpoint {
        path: tmp.clone(),
        problem,
    };
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    model
        .valid()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| ck(format!("{e:?}")))?;
    optim.save(tmp.join("optim.bpk")).map_err(|e| ck(format!("{e:?}")))?;
    fsutil::write_json_atomic(&tmp.join("state.json"), state).map_err(io_err(&tmp))?;
    fsutil::sync_dir(&tmp).map_err(io_err(&tmp))?;
    if cur.exists() {
        fs::rename(&cur, &old).map_err(io_err(&cur))?;
    }
    fs::rename(&tmp, &cur).map_err(io_err(&cur))?;
    fsutil::sync_dir(run_dir).map_err(io_err(run_dir))?;
    if old.exists() {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

/// The newest complete checkpoint (a crash between the two renames leaves it in `.old`).
fn find_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let (cur, _, old) = checkpoint_paths(run_dir);
    [cur, old]
        .into_iter()
        .find(|d| d.join("state.json").is_file() && d.join("model.bpk").is_file() && d.join("optim.bpk").is_file())
}

/// Validation loss and accuracy of the inference copy of the model.
fn validate(model: &Cnn, device: &Device, cache: &Cache) -> Result<(f64, f64), TrainError> {
    let n = cache.len(Split::Val);
    if n == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let s = cache.image_size();
    let probs = infer::probs_for_pixels(model, device, s, (0..n).map(|i| cache.pixels(Split::Val, i)))?;
    let r = EvalReport::from_probs(&probs, cache.labels(Split::Val));
    Ok((r.loss, r.accuracy))
}

/// Train on `cache`, keeping checkpoints in `run_dir` (resumed when it holds one), and write
/// the best model as a model folder at `model_dir`.
///
/// The phases: [`resume`] (or a fresh start), one [`train_epoch`] per epoch followed by
/// [`keep_best`] (best weights, early stopping), the caller's callback, [`replan_for_budget`]
/// (the schedule under a time budget) and a checkpoint; then [`write_model_folder`].
#[allow(clippy::too_many_arguments)]
pub fn train(
    cache: &Cache,
    cfg: &TrainConfig,
    lineage: Lineage,
    run_dir: &Path,
    model_dir: &Path,
    callback: &mut dyn EpochCallback,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<TrainOutcome, TrainError> {
    if let Some(source) = &cfg.photo_model {
        return train_hand_path_only(cache, cfg, source, lineage, run_dir, model_dir, progress, cancel);
    }
    let n_train = checked_inputs(cache, cfg)?;
    fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    let device = model::device(&cfg.device)?;
    let ad = device.clone().autodiff();
    let (optim, loss_fn) = optimiser_and_loss(cfg, &ad);
    let (mut model, mut optim, mut state) = resume(run_dir, cfg, &ad, optim)?;
    let resumed_from_epoch = state.epochs_done;
    let best_path = run_dir.join("best.bpk");
    let run_started = Instant::now();
    let seconds_before = state.train_seconds;
    let epochs = EpochContext {
        cache,
        cfg,
        n_train,
        device: &device,
        ad: &ad,
        loss_fn: &loss_fn,
        progress,
        cancel,
    };

    while state.stop.is_none() && state.epochs_done < state.planned_epochs {
        let started = Instant::now();
        let (next, stats) = train_epoch(&epochs, model, &mut optim, &state)?;
        model = next;
        let train_secs = started.elapsed().as_secs_f64();
        let valid = model.valid();
        let (val_loss, val_accuracy) = validate(&valid, &device, cache)?;
        let metrics = EpochMetrics {
            epoch: state.epochs_done + 1,
            train_loss: stats.loss_sum / stats.seen.max(1) as f64,
            train_accuracy: stats.correct as f64 / stats.seen.max(1) as f64,
            val_loss,
            val_accuracy,
            lr: stats.last_lr,
            seconds: started.elapsed().as_secs_f64(),
            images_per_sec: stats.seen as f64 / train_secs.max(1e-9),
        };
        state.history.push(metrics.clone());
        state.epochs_done += 1;
        state.train_seconds = seconds_before + run_started.elapsed().as_secs_f64();
        keep_best(&mut state, cfg, &valid, val_loss, &best_path)?;
        if callback.on_epoch(&metrics) == Control::Stop {
            state.stop = Some(StopReason::Callback);
        }
        replan_for_budget(&mut state, cfg);
        save_checkpoint(run_dir, &model, &optim, &state)?;
    }
    write_model_folder(
        cache,
        cfg,
        lineage,
        run_dir,
        model_dir,
        &device,
        state,
        resumed_from_epoch,
        progress,
        cancel,
    )
}

/// [`TrainConfig::photo_model`]: the model folder gets the photo CNN of `source` (its weights
/// become the run's best weights) and a hand path trained on `cache`.
#[allow(clippy::too_many_arguments)]
fn train_hand_path_only(
    cache: &Cache,
    cfg: &TrainConfig,
    source: &Path,
    lineage: Lineage,
    run_dir: &Path,
    model_dir: &Path,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<TrainOutcome, TrainError> {
    if cfg.hands == crate::handshape::HandsMode::Off {
        return Err(TrainError::BadConfig(
            "a photo model with the hand path off would be a copy of it: use --hands on or auto".into(),
        ));
    }
    let source_card = ModelCard::load(source)?;
    let cfg = TrainConfig {
        model: source_card.architecture.clone(),
        ..cfg.clone()
    };
    checked_inputs(cache, &cfg)?;
    if source_card.normalization != infer::normalization() {
        return Err(TrainError::BadConfig(format!(
            "{}: its photo CNN was trained with another input normalisation than this asl's",
            source.display()
        )));
    }
    let device = model::device(&cfg.device)?;
    let weights = source.join(WEIGHTS_FILE);
    let cnn: Cnn = cfg
        .model
        .init(&device)?
        .try_load_file(&weights)
        .map_err(|e| TrainError::Checkpoint {
            path: weights.clone(),
            problem: format!("{e:?}"),
        })?;
    fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    let best_path = run_dir.join("best.bpk");
    cnn.save_file(&best_path).map_err(|e| TrainError::Checkpoint {
        path: best_path.clone(),
        problem: format!("{e:?}"),
    })?;
    let state = RunState {
        config: cfg.clone(),
        epochs_done: 0,
        planned_epochs: 0,
        best_val_loss: f64::NAN,
        best_epoch: 0,
        history: Vec::new(),
        stop: Some(StopReason::PhotoModelTaken),
        train_seconds: 0.0,
    };
    write_model_folder(
        cache, &cfg, lineage, run_dir, model_dir, &device, state, 0, progress, cancel,
    )
}

/// `model.json`'s record of where a taken photo CNN came from ([`TrainConfig::photo_model`]).
pub const PHOTO_MODEL_CARD_KEY: &str = "photo_model";

/// What the card says of the model folder `source` whose photo CNN was taken: its path, name,
/// data and validation metrics (the photos it was trained on decide what its figures mean).
fn photo_model_record(source: &Path) -> Result<serde_json::Value, TrainError> {
    let card = ModelCard::load(source)?;
    // A relative path would mean nothing once the card is read from elsewhere.
    let from = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    Ok(serde_json::json!({
        "from": from,
        "name": card.name,
        "created_at": card.created_at,
        "lineage": card.lineage,
        "metrics": card.metrics,
    }))
}

/// A fresh model, optimiser and state, or those of the run folder's last checkpoint (whose
/// configuration must match, the time budget aside).
fn resume(
    run_dir: &Path,
    cfg: &TrainConfig,
    ad: &Device,
    optim: burn::optim::ModuleOptimizer,
) -> Result<(Cnn, burn::optim::ModuleOptimizer, RunState), TrainError> {
    let fresh = RunState {
        config: cfg.clone(),
        epochs_done: 0,
        planned_epochs: cfg.epochs,
        best_val_loss: f64::INFINITY,
        best_epoch: 0,
        history: Vec::new(),
        stop: None,
        train_seconds: 0.0,
    };
    let Some(ck) = find_checkpoint(run_dir) else {
        return Ok((cfg.model.init(ad)?, optim, fresh));
    };
    let bad = |problem: String| TrainError::Resume {
        path: ck.clone(),
        problem,
    };
    let saved: RunState = serde_json::from_slice(&fs::read(ck.join("state.json")).map_err(io_err(&ck))?)
        .map_err(|e| bad(e.to_string()))?;
    // The time budget steers this invocation only; everything else must match.
    let same = TrainConfig {
        time_budget_secs: None,
        ..saved.config.clone()
    } == TrainConfig {
        time_budget_secs: None,
        ..cfg.clone()
    };
    if !same {
        return Err(bad("the run folder was started with a different configuration".into()));
    }
    let model = cfg
        .model
        .init(ad)?
        .try_load_file(ck.join("model.bpk"))
        .map_err(|e| bad(format!("{e:?}")))?;
    let optim = optim.load(ck.join("optim.bpk")).map_err(|e| bad(format!("{e:?}")))?;
    let mut state = saved;
    state.config = cfg.clone();
    // A run stopped by its budget may go on; a new budget re-plans an open run. A run that
    // stopped for good (early stopping, a pruner) stays stopped.
    if state.stop == Some(StopReason::TimeBudget) || (state.stop.is_none() && cfg.time_budget_secs.is_some()) {
        state.stop = None;
        state.planned_epochs = cfg.epochs;
    }
    Ok((model, optim, state))
}

/// What every epoch of one training shares.
struct EpochContext<'a> {
    cache: &'a Cache,
    cfg: &'a TrainConfig,
    n_train: usize,
    device: &'a Device,
    ad: &'a Device,
    loss_fn: &'a CrossEntropyLoss,
    progress: &'a dyn Progress,
    cancel: &'a Cancel,
}

/// One epoch's training sums.
struct EpochStats {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    last_lr: f64,
}

/// One pass over the training split in a seeded order, augmented batches prefetched.
fn train_epoch(
    ctx: &EpochContext,
    model: Cnn,
    optim: &mut burn::optim::ModuleOptimizer,
    state: &RunState,
) -> Result<(Cnn, EpochStats), TrainError> {
    let (cfg, cancel, progress) = (ctx.cfg, ctx.cancel, ctx.progress);
    let epoch = state.epochs_done;
    let steps_per_epoch = ctx.n_train.div_ceil(cfg.batch_size);
    // Re-seed every epoch (dropout, lazy parameter init) so a resumed run draws exactly
    // what an uninterrupted one would.
    ctx.device.seed(cfg.seed.wrapping_add(epoch as u64));
    let mut order: Vec<usize> = (0..ctx.n_train).collect();
    SplitMix64::new(cfg.seed ^ (epoch as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)).shuffle(&mut order);
    let mut stats = EpochStats {
        loss_sum: 0.0,
        correct: 0,
        seen: 0,
        last_lr: cfg.lr,
    };
    progress.begin(&format!("epoch {}", epoch + 1), Some(ctx.n_train as u64));
    let seed_of = |b: usize| cfg.seed ^ ((epoch * steps_per_epoch + b) as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
    // The step closure owns the model between batches (train_step consumes it).
    let mut slot = Some(model);
    let s = ctx.cache.image_size();
    let cancelled = prefetched_batches(
        ctx.cache,
        &cfg.augment,
        &order,
        cfg.batch_size,
        seed_of,
        |b, pixels, labels| {
            let Some(current) = slot.take().filter(|_| !cancel.is_cancelled()) else {
                return false;
            };
            let lr = cfg.lr_at(
                epoch * steps_per_epoch + b,
                state.planned_epochs * steps_per_epoch,
                steps_per_epoch,
            );
            let (next, step) = train_step(current, optim, ctx.loss_fn, pixels, &labels, s, lr, ctx.ad);
            slot = Some(next);
            stats.last_lr = lr;
            stats.correct += step.correct;
            stats.loss_sum += step.loss * labels.len() as f64;
            stats.seen += labels.len();
            progress.advance(labels.len() as u64);
            true
        },
    );
    progress.finish();
    match slot {
        Some(m) if !cancelled => Ok((m, stats)),
        _ => Err(TrainError::Cancelled(epoch)),
    }
}

/// Keep the best weights by validation loss (or the latest when there is no validation), and
/// stop early after `patience` epochs without improvement.
fn keep_best(
    state: &mut RunState,
    cfg: &TrainConfig,
    valid: &Cnn,
    val_loss: f64,
    best_path: &Path,
) -> Result<(), TrainError> {
    let improved = val_loss.is_nan() || val_loss < state.best_val_loss;
    if improved {
        valid.clone().save_file(best_path).map_err(|e| TrainError::Checkpoint {
            path: best_path.to_path_buf(),
            problem: format!("{e:?}"),
        })?;
        if !val_loss.is_nan() {
            state.best_val_loss = val_loss;
        }
        state.best_epoch = state.epochs_done;
    } else if cfg.patience > 0 && state.epochs_done - state.best_epoch >= cfg.patience {
        state.stop = Some(StopReason::EarlyStopped);
    }
    Ok(())
}

/// Under a time budget, shorten the plan so the cosine schedule still ends at `min_lr` in time
/// (or stop when not one more epoch fits).
fn replan_for_budget(state: &mut RunState, cfg: &TrainConfig) {
    let (Some(budget), None) = (cfg.time_budget_secs, state.stop) else {
        return;
    };
    let per_epoch = state.train_seconds / state.epochs_done as f64;
    let fit = (budget / per_epoch).floor() as usize;
    if fit <= state.epochs_done {
        state.stop = Some(StopReason::TimeBudget);
    } else if fit < state.planned_epochs {
        state.planned_epochs = fit;
    }
}

/// The model folder: best weights, the hand path when it earns its place, the card with its
/// monitoring reference, and the validation report. Written to a temp folder, renamed into place.
#[allow(clippy::too_many_arguments)]
fn write_model_folder(
    cache: &Cache,
    cfg: &TrainConfig,
    lineage: Lineage,
    run_dir: &Path,
    model_dir: &Path,
    device: &Device,
    state: RunState,
    resumed_from_epoch: usize,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<TrainOutcome, TrainError> {
    let stop = state.stop.unwrap_or(StopReason::Completed);
    let best = load_best_weights(cfg, run_dir, device)?;
    let parent = fsutil::parent_dir(model_dir);
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".model-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    best.clone()
        .save_file(tmp.path().join(WEIGHTS_FILE))
        .map_err(|e| TrainError::Checkpoint {
            path: model_dir.to_path_buf(),
            problem: format!("{e:?}"),
        })?;
    let mut card = new_model_card(cfg, model_dir, &best, lineage, &state.history);
    if let Some(source) = &cfg.photo_model {
        card.extra
            .insert(PHOTO_MODEL_CARD_KEY.into(), photo_model_record(source)?);
    }
    let (hands, pipeline) = build_hand_path(cache, cfg, device, tmp.path(), progress, cancel)?;
    card.pipeline = pipeline;
    let clf = Classifier::from_parts(card.clone(), model_dir.to_path_buf(), best, device.clone()).with_hands(hands);
    let (clf, report) = validate_as_served(clf, &mut card, cache, cfg, tmp.path())?;
    card.metrics = serde_json::json!({"validation": report.summary(), "best_epoch": state.best_epoch, "stop": stop, "train_seconds": state.train_seconds});
    add_monitoring_reference(&mut card, cache, &clf, model_dir);
    card.save(tmp.path())?;
    report.write(tmp.path())?;
    move_into_place(tmp, model_dir, parent)?;
    let images_per_sec =
        state.history.iter().map(|m| m.images_per_sec).sum::<f64>() / state.history.len().max(1) as f64;
    Ok(TrainOutcome {
        run_dir: run_dir.to_path_buf(),
        model_dir: model_dir.to_path_buf(),
        history: state.history,
        best_epoch: state.best_epoch,
        stop,
        report,
        train_seconds: state.train_seconds,
        images_per_sec,
        resumed_from_epoch,
    })
}

/// The best weights of the run (`best.bpk` in the run folder), loaded on `device`.
fn load_best_weights(cfg: &TrainConfig, run_dir: &Path, device: &Device) -> Result<Cnn, TrainError> {
    let best_path = run_dir.join("best.bpk");
    cfg.model
        .init(device)?
        .try_load_file(&best_path)
        .map_err(|e| TrainError::Checkpoint {
            path: best_path.clone(),
            problem: format!("{e:?}"),
        })
}

/// The model card of a finished run, before the hand path, the metrics and the monitoring
/// reference are known (those are filled in as the model folder is written).
fn new_model_card(
    cfg: &TrainConfig,
    model_dir: &Path,
    best: &Cnn,
    lineage: Lineage,
    history: &[EpochMetrics],
) -> ModelCard {
    ModelCard {
        format: infer::MODEL_FORMAT,
        name: model_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        created_at: crate::clock::now_unix(),
        asl_version: env!("CARGO_PKG_VERSION").to_string(),
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        input_size: cfg.model.input_size,
        normalization: infer::normalization(),
        architecture: cfg.model.clone(),
        params: best.num_params(),
        flops_per_image: cfg.model.flops_per_image(),
        training: serde_json::to_value(cfg).unwrap_or_default(),
        metrics: serde_json::Value::Null,
        lineage,
        history: serde_json::to_value(history).unwrap_or_default(),
        pipeline: Default::default(),
        extra: Default::default(),
    }
}

/// The hand path: trained once per cache and reused; its files join the model folder being
/// written in `folder`. Returns the stage to serve (if any) and the card's pipeline note.
fn build_hand_path(
    cache: &Cache,
    cfg: &TrainConfig,
    device: &Device,
    folder: &Path,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<(Option<infer::HandStage>, crate::handshape::PipelineInfo), TrainError> {
    let stage = crate::handshape::build_hand_stage(cache, cfg.hands, &cfg.handshape, &cfg.device, progress, cancel)?;
    let hands = match stage.model {
        Some(shape) => {
            shape.save(folder)?;
            Some(infer::HandStage::new(shape, device)?)
        }
        None => None,
    };
    Ok((hands, stage.pipeline))
}

/// The monitoring reference travels with the model in its card; a model without one still
/// serves (drift is then not reported), so a failure here is a warning, not an error.
fn add_monitoring_reference(card: &mut ModelCard, cache: &Cache, clf: &Classifier, model_dir: &Path) {
    match monitoring_reference(cache, clf) {
        Ok(mut r) => {
            // A camera that stops showing hands is drift: the share the training data had.
            if clf.hands().is_some() {
                r.hand_found_share = card.pipeline.detection_rate;
            }
            card.extra.insert(
                crate::monitor::REFERENCE_CARD_KEY.into(),
                serde_json::to_value(&r).unwrap_or_default(),
            );
        }
        Err(e) => eprintln!("warning: no monitoring reference for {}: {e}", model_dir.display()),
    }
}

/// Replace `model_dir` (if any) with the finished temp folder, by rename, and sync `parent`.
fn move_into_place(tmp: tempfile::TempDir, model_dir: &Path, parent: &Path) -> Result<(), TrainError> {
    if model_dir.exists() {
        fs::remove_dir_all(model_dir).map_err(io_err(model_dir))?;
    }
    let tmp_path = tmp.keep();
    fs::rename(&tmp_path, model_dir).map_err(io_err(model_dir))?;
    fsutil::sync_dir(parent).map_err(io_err(parent))?;
    Ok(())
}

/// The validation report of the classifier as it will serve (the hand path where a hand is
/// found). `--hands auto` keeps the hand path only where it reads the held-out photos about as
/// well as the photo CNN; otherwise its files leave the model `folder` and the card says why.
fn validate_as_served(
    mut clf: Classifier,
    card: &mut ModelCard,
    cache: &Cache,
    cfg: &TrainConfig,
    folder: &Path,
) -> Result<(Classifier, EvalReport), TrainError> {
    if cache.is_empty(Split::Val) {
        return Ok((clf, EvalReport::from_probs(&[], &[])));
    }
    let report = evaluate_cache(&clf, cache, Split::Val)?;
    if cfg.hands != crate::handshape::HandsMode::Auto || clf.hands().is_none() {
        return Ok((clf, report));
    }
    // Drawn hands (the synthetic data) have landmarks but no handshapes.
    let hands = clf.take_hands();
    let photo_report = evaluate_cache(&clf, cache, Split::Val)?;
    if report.accuracy >= photo_report.accuracy - AUTO_HAND_PATH_TOLERANCE {
        return Ok((clf.with_hands(hands), report));
    }
    card.pipeline = crate::handshape::PipelineInfo {
        detection_rate: card.pipeline.detection_rate,
        note: format!(
            "with the hand path the validation photos read at {:.1} %, with the photo CNN alone at {:.1} %: the photo CNN alone",
            report.accuracy * 100.0,
            photo_report.accuracy * 100.0
        ),
        ..Default::default()
    };
    for f in [
        crate::handshape::model::HANDSHAPE_CARD_FILE,
        crate::handshape::model::HANDSHAPE_WEIGHTS_FILE,
    ] {
        let path = folder.join(f);
        fs::remove_file(&path).map_err(io_err(&path))?;
    }
    Ok((clf, photo_report))
}

/// How much validation accuracy `--hands auto` gives up for the hand path (which is there for
/// other people's hands, which the validation split does not show).
pub const AUTO_HAND_PATH_TOLERANCE: f64 = 0.005;

/// Photos the monitoring reference is computed on (evenly spread over the split).
pub const REFERENCE_SAMPLE: usize = 2000;

/// The distribution the server's live drift is measured against: features of held-out photos
/// (the originals when they are still on disk, as the server sees uploads; else the cached
/// pixels), and the model's predicted classes and confidences on the same photos.
fn monitoring_reference(cache: &Cache, clf: &Classifier) -> Result<crate::monitor::Reference, String> {
    let split = if cache.is_empty(Split::Val) {
        Split::Train
    } else {
        Split::Val
    };
    let n = cache.len(split);
    let take = n.min(REFERENCE_SAMPLE);
    if take == 0 {
        return Err("no images".into());
    }
    let idx: Vec<usize> = (0..take).map(|k| k * n / take).collect();
    let s = cache.image_size() as u32;
    let root = cache.header.train_root.as_deref();
    let features: Vec<(crate::monitor::ImageFeatures, bool)> = idx
        .par_iter()
        .map(|&i| {
            let original = root
                .and_then(|r| fs::read(r.join(cache.file(split, i))).ok())
                .and_then(|b| crate::prep::decode_with_features(&b, s).ok())
                .map(|(_, f)| f);
            match original {
                Some(f) => Ok((f, true)),
                None => crate::monitor::ImageFeatures::from_rgb8(cache.pixels(split, i), s, s)
                    .map(|f| (f, false))
                    .map_err(|e| e.to_string()),
            }
        })
        .collect::<Result<_, String>>()?;
    let all_original = features.iter().all(|(_, o)| *o);
    let features: Vec<crate::monitor::ImageFeatures> = features.into_iter().map(|(f, _)| f).collect();
    let pixels: Vec<&[u8]> = idx.iter().map(|&i| cache.pixels(split, i)).collect();
    let probs = clf.probabilities(&pixels).map_err(|e| e.to_string())?;
    let (mut predicted, mut confidence) = (Vec::with_capacity(take), Vec::with_capacity(take));
    for row in probs.chunks_exact(crate::classes::NUM_CLASSES) {
        let (k, p) = row
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |best, (k, &p)| if p > best.1 { (k, p) } else { best });
        predicted.push(k);
        confidence.push(p);
    }
    let mut reference = crate::monitor::Reference::from_samples(&features, &predicted, &confidence, &CLASSES)
        .map_err(|e| e.to_string())?;
    if !all_original {
        // Cached pixels are resized: their size and sharpness say nothing about uploads, so
        // those features are left out (the server then does not score them) rather than
        // reporting drift forever. Colour and brightness survive resizing.
        for f in ["width", "height", "aspect_ratio", "sharpness"] {
            reference.features.remove(f);
        }
    }
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_configuration_keeps_what_it_leaves_out_and_names_a_misspelt_key() {
        let given = json!({"epochs": 3, "model": {"width": 8}, "photo_model": "/models/cnn64"});
        let defaults = TrainConfig::default();
        let expected = TrainConfig {
            epochs: 3,
            model: ModelConfig {
                width: 8,
                ..defaults.model.clone()
            },
            photo_model: Some("/models/cnn64".into()),
            ..defaults
        };
        assert_eq!(TrainConfig::from_json(given).unwrap(), expected);
        // Settings the defaults leave unwritten may still be set.
        assert!(TrainConfig::from_json(json!({"handshape": {"landmark_model": "lite"}})).is_ok());
        match TrainConfig::from_json(json!({"model": {"widht": 8}})) {
            Err(TrainError::UnknownConfigKey { key, known }) => {
                assert_eq!(key, "model.widht");
                assert!(known.split(", ").any(|k| k == "width"), "{known}");
            }
            other => panic!("expected an unknown key, got {other:?}"),
        }
        assert!(matches!(
            TrainConfig::from_json(json!({"epochs": "many"})),
            Err(TrainError::UnreadableConfig(_))
        ));
    }
}
