//! Hyper-parameter search: a search space described in data, random and TPE samplers (TPE
//! from the `tpe` crate), ASHA pruning on per-epoch validation accuracy, trials in parallel
//! threads, and a study persisted after every event so an interrupted `asl hpo` continues
//! where it stopped (an interrupted trial resumes from its training checkpoint).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fsutil;
use crate::prep::{Cache, PrepError};
use crate::progress::Cancel;
use crate::tracking::TrackingStore;
use crate::train::{self, Control, TrainConfig};

/// Why a study could not be run or continued (one trial's failure is a [`TrialError`]).
#[derive(Debug, thiserror::Error)]
pub enum HpoError {
    /// The search space (or a trial configuration drawn from it) is invalid.
    #[error("invalid search space: {0}")]
    BadSpace(String),
    /// The study folder holds a study with another definition.
    #[error("{path}: this study was started with a different {what}; use another --study name or delete the folder")]
    Incompatible {
        /// The study folder.
        path: PathBuf,
        /// What differs, in words.
        what: String,
    },
    /// `study.json` does not parse or is of another format.
    #[error("{path}: unreadable study: {problem}")]
    Corrupt {
        /// The study file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Cancelled; the study is saved and the next run continues it.
    #[error("the search was interrupted; run the same command again to continue")]
    Cancelled,
    /// A sampler name other than `tpe` or `random` (the name given).
    #[error("sampler must be \"tpe\" or \"random\", got {0:?}")]
    UnknownSampler(String),
    /// The study's own run in the tracking store (its trials' parent).
    #[error("tracking the study failed: {0}")]
    Tracking(#[from] crate::tracking::TrackingError),
}

/// Why one trial failed (recorded in the study as the trial's `error`; the study goes on).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The cache for the trial's input size could not be opened or built.
    #[error("no cache for the trial's input size: {0}")]
    Cache(#[from] crate::prep::PrepError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] train::TrainError),
    /// Logging the trial's run failed.
    #[error("tracking failed: {0}")]
    Tracking(#[from] crate::tracking::TrackingError),
    /// Loading the trial's model to time it failed.
    #[error(transparent)]
    Infer(#[from] crate::infer::InferError),
    /// Writing the trial's folder failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A failure of an objective other than asl's own (tests, callers' objectives).
    #[error("{0}")]
    Failed(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HpoError + '_ {
    move |source| HpoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One parameter's prior.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Log-uniform between `low` and `high` (0 < low < high): for rates and decays.
    LogUniform {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
    },
    /// Uniform between `low` and `high`.
    Uniform {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
    },
    /// A whole number from `low` to `high`, both included.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
        /// Sample on a log scale (then `low` ≥ 1).
        #[serde(default)]
        log: bool,
    },
    /// One of a list of values (numbers for asl's parameters).
    Categorical {
        /// The values to choose from (at least one).
        choices: Vec<Value>,
    },
}

impl Distribution {
    /// The sampler's coordinates: log for log scales, the index for categories.
    fn internal_range(&self) -> (f64, f64) {
        match self {
            Distribution::LogUniform { low, high } => (low.ln(), high.ln()),
            Distribution::Uniform { low, high } => (*low, *high),
            Distribution::Int { low, high, log: false } => (*low as f64 - 0.5, *high as f64 + 0.5),
            Distribution::Int { low, high, log: true } => {
                ((*low as f64 - 0.5).max(0.5).ln(), (*high as f64 + 0.5).ln())
            }
            Distribution::Categorical { choices } => (0.0, choices.len() as f64),
        }
    }

    fn value_at(&self, x: f64) -> Value {
        match self {
            Distribution::LogUniform { low, high } => Value::from(x.exp().clamp(*low, *high)),
            Distribution::Uniform { low, high } => Value::from(x.clamp(*low, *high)),
            Distribution::Int { low, high, log } => Value::from(
                (if *log { x.exp() } else { x })
                    .round()
                    .clamp(*low as f64, *high as f64) as i64,
            ),
            Distribution::Categorical { choices } => {
                choices[(x.floor().max(0.0) as usize).min(choices.len() - 1)].clone()
            }
        }
    }

    fn validate(&self, name: &str) -> Result<(), HpoError> {
        let bad = |m: String| Err(HpoError::BadSpace(format!("{name}: {m}")));
        match self {
            Distribution::LogUniform { low, high } if !(*low > 0.0 && low < high && high.is_finite()) => {
                bad("log_uniform needs 0 < low < high".into())
            }
            Distribution::Uniform { low, high } if !(low < high && low.is_finite() && high.is_finite()) => {
                bad("uniform needs low < high".into())
            }
            Distribution::Int { low, high, log } if low > high || (*log && *low < 1) => {
                bad("int needs low ≤ high (and low ≥ 1 on a log scale)".into())
            }
            Distribution::Categorical { choices } if choices.is_empty() => {
                bad("categorical needs at least one choice".into())
            }
            _ => Ok(()),
        }
    }
}

/// Parameter name → prior. Names are those [`apply`] knows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SearchSpace(pub BTreeMap<String, Distribution>);

/// The parameters a space may search, with what they set.
pub const PARAMETERS: &[(&str, &str)] = &[
    ("lr", "peak learning rate"),
    ("min_lr_ratio", "final learning rate as a fraction of lr"),
    ("weight_decay", "AdamW weight decay"),
    ("dropout", "dropout before the head"),
    ("width", "channels of the first conv stage"),
    ("depth", "number of conv stages"),
    ("convs_per_stage", "3×3 convolutions per stage"),
    ("hidden", "hidden dense units (0 = none)"),
    ("batch_size", "images per step"),
    ("augment", "augmentation strength 0..1"),
    ("label_smoothing", "label smoothing"),
    ("input_size", "image side in pixels (one cache per size)"),
];

impl Default for SearchSpace {
    /// What matters here: optimiser, regularisation, capacity, batch, augmentation, input size.
    fn default() -> Self {
        use Distribution::*;
        let ints = |v: &[i64]| Categorical {
            choices: v.iter().map(|&x| Value::from(x)).collect(),
        };
        SearchSpace(BTreeMap::from([
            ("lr".into(), LogUniform { low: 5e-4, high: 1e-2 }),
            ("weight_decay".into(), LogUniform { low: 1e-5, high: 1e-2 }),
            ("dropout".into(), Uniform { low: 0.0, high: 0.5 }),
            ("width".into(), ints(&[8, 12, 16, 24, 32])),
            (
                "depth".into(),
                Int {
                    low: 2,
                    high: 4,
                    log: false,
                },
            ),
            ("batch_size".into(), ints(&[32, 64, 128])),
            ("augment".into(), Uniform { low: 0.0, high: 0.5 }),
            ("input_size".into(), ints(&[24, 32, 48])),
        ]))
    }
}

impl SearchSpace {
    /// Checks the space: not empty, only parameters of [`PARAMETERS`], valid bounds, and
    /// whole-number priors (int, or categorical of whole numbers) for whole-number parameters.
    ///
    /// # Errors
    /// [`HpoError::BadSpace`] naming the parameter and the problem.
    pub fn validate(&self) -> Result<(), HpoError> {
        if self.0.is_empty() {
            return Err(HpoError::BadSpace("the space is empty".into()));
        }
        for (name, d) in &self.0 {
            if !PARAMETERS.iter().any(|(p, _)| p == name) {
                let known: Vec<&str> = PARAMETERS.iter().map(|(p, _)| *p).collect();
                return Err(HpoError::BadSpace(format!(
                    "unknown parameter {name:?}; known: {}",
                    known.join(", ")
                )));
            }
            d.validate(name)?;
            // Whole-number parameters need whole-number priors: a trial must never draw depth 3.27.
            let whole = [
                "width",
                "depth",
                "convs_per_stage",
                "hidden",
                "batch_size",
                "input_size",
            ]
            .contains(&name.as_str());
            let ok = match d {
                Distribution::Int { .. } => true,
                Distribution::Categorical { choices } => choices.iter().all(|c| {
                    if whole {
                        c.as_u64().is_some()
                    } else {
                        c.as_f64().is_some()
                    }
                }),
                Distribution::LogUniform { .. } | Distribution::Uniform { .. } => !whole,
            };
            if !ok {
                return Err(HpoError::BadSpace(format!(
                    "{name}: {} values; use int or categorical with {} choices",
                    if whole { "needs whole-number" } else { "needs numeric" },
                    if whole { "whole-number" } else { "numeric" }
                )));
            }
        }
        Ok(())
    }

    /// Reads a space from a JSON file (`{"lr": {"type": "log_uniform", "low": …, "high": …}}`) and
    /// validates it.
    ///
    /// # Errors
    /// [`HpoError::Io`] when the file cannot be read; [`HpoError::BadSpace`] when it does not
    /// parse or validate.
    pub fn load(path: &Path) -> Result<SearchSpace, HpoError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let space: SearchSpace =
            serde_json::from_slice(&bytes).map_err(|e| HpoError::BadSpace(format!("{}: {e}", path.display())))?;
        space.validate()?;
        Ok(space)
    }
}

fn as_f64(v: &Value, name: &str) -> Result<f64, HpoError> {
    v.as_f64()
        .ok_or_else(|| HpoError::BadSpace(format!("{name}: {v} is not a number")))
}

fn as_usize(v: &Value, name: &str) -> Result<usize, HpoError> {
    let x = as_f64(v, name)?;
    if x >= 0.0 && x.fract() == 0.0 {
        Ok(x as usize)
    } else {
        Err(HpoError::BadSpace(format!("{name}: {v} is not a whole number")))
    }
}

/// A trial's parameter values by name.
pub type TrialParams = BTreeMap<String, Value>;

/// The training configuration of a trial: `base` with the sampled parameters set
/// (`min_lr_ratio` sets `min_lr` as a fraction of `lr`; otherwise `min_lr` is capped at `lr`).
///
/// # Errors
/// [`HpoError::BadSpace`] for an unknown parameter, or a value of the wrong kind.
pub fn apply(base: &TrainConfig, params: &BTreeMap<String, Value>) -> Result<TrainConfig, HpoError> {
    let mut c = base.clone();
    for (name, v) in params {
        match name.as_str() {
            "lr" => c.lr = as_f64(v, name)?,
            "min_lr_ratio" => c.min_lr = as_f64(v, name)?,
            "weight_decay" => c.weight_decay = as_f64(v, name)? as f32,
            "dropout" => c.model.dropout = as_f64(v, name)?,
            "width" => c.model.width = as_usize(v, name)?,
            "depth" => c.model.depth = as_usize(v, name)?,
            "convs_per_stage" => c.model.convs_per_stage = as_usize(v, name)?,
            "hidden" => c.model.hidden = as_usize(v, name)?,
            "batch_size" => c.batch_size = as_usize(v, name)?,
            "augment" => c.augment.strength = as_f64(v, name)? as f32,
            "label_smoothing" => c.label_smoothing = as_f64(v, name)? as f32,
            "input_size" => c.model.input_size = as_usize(v, name)?,
            other => return Err(HpoError::BadSpace(format!("unknown parameter {other:?}"))),
        }
    }
    if let Some(ratio) = params.get("min_lr_ratio") {
        c.min_lr = c.lr * as_f64(ratio, "min_lr_ratio")?;
    } else {
        c.min_lr = c.min_lr.min(c.lr);
    }
    Ok(c)
}

/// The configuration a trial trains: `base` with `params` applied, `max_epochs` epochs and no
/// early stopping of its own (the pruner decides). The same for `asl hpo`'s trials and for an
/// external search's (`asl.trial_config`, the Optuna worker).
pub fn trial_config(base: &TrainConfig, params: &TrialParams, max_epochs: usize) -> Result<TrainConfig, HpoError> {
    let mut config = apply(base, params)?;
    config.epochs = max_epochs;
    config.patience = 0;
    config.validate().map_err(|e| HpoError::BadSpace(e.to_string()))?;
    Ok(config)
}

/// How a study draws trial parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Uniformly at random within each prior.
    Random,
    /// Tree-structured Parzen estimator, per parameter, after `startup_trials` random trials.
    Tpe,
}

impl std::str::FromStr for SamplerKind {
    type Err = HpoError;
    fn from_str(s: &str) -> Result<Self, HpoError> {
        match s {
            "tpe" => Ok(SamplerKind::Tpe),
            "random" => Ok(SamplerKind::Random),
            _ => Err(HpoError::UnknownSampler(s.to_string())),
        }
    }
}

/// ASHA / successive halving: at rung epochs `min_epochs · eta^k`, a trial continues only if
/// its validation accuracy is in the top `1/eta` of all trials that reached that rung.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pruner {
    /// Whether trials are pruned at all (default true).
    pub enabled: bool,
    /// The first rung, in epochs (default 1).
    pub min_epochs: usize,
    /// Each rung is `eta` times the previous; the top `1/eta` go on (default 3, at least 2).
    pub eta: usize,
    /// Never prune at a rung fewer than this many trials have reached.
    pub bootstrap: usize,
}

impl Default for Pruner {
    fn default() -> Self {
        Self {
            enabled: true,
            min_epochs: 1,
            eta: 3,
            bootstrap: 3,
        }
    }
}

impl Pruner {
    /// The rung epochs below `max_epochs`: `min_epochs`, `min_epochs · eta`, …
    pub fn rungs(&self, max_epochs: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut r = self.min_epochs.max(1);
        while r < max_epochs {
            out.push(r);
            r *= self.eta.max(2);
        }
        out
    }

    /// Should a trial with `value` at rung `epoch` stop, given every value seen at that rung
    /// (its own included)?
    pub fn should_prune(&self, value: f64, rung_values: &[f64]) -> bool {
        if !self.enabled || rung_values.len() < self.bootstrap.max(1) {
            return false;
        }
        let mut sorted: Vec<f64> = rung_values.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let keep = (sorted.len() / self.eta.max(2)).max(1);
        value < sorted[keep - 1]
    }
}

/// Everything that defines a study.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StudyConfig {
    /// The parameters searched and their priors.
    pub space: SearchSpace,
    /// How parameters are drawn (default TPE).
    pub sampler: SamplerKind,
    /// Seed of the parameter draws (default 0).
    pub seed: u64,
    /// Random trials before TPE takes over.
    pub startup_trials: usize,
    /// Epochs of a trial that is never pruned (the resource ASHA allocates).
    pub max_epochs: usize,
    /// When trials are stopped early.
    pub pruner: Pruner,
    /// The configuration trials start from (sampled parameters override it).
    pub base: TrainConfig,
    /// Budget: stop starting trials after this many (None = no limit)…
    pub max_trials: Option<usize>,
    /// …or after this much wall time over all sessions of the study.
    pub time_budget_secs: Option<f64>,
    /// Trials trained at the same time (threads sharing the caches).
    pub parallel: usize,
}

impl Default for StudyConfig {
    fn default() -> Self {
        Self {
            space: SearchSpace::default(),
            sampler: SamplerKind::Tpe,
            seed: 0,
            startup_trials: 5,
            max_epochs: 9,
            pruner: Pruner::default(),
            base: TrainConfig::default(),
            max_trials: Some(20),
            time_budget_secs: None,
            parallel: 1,
        }
    }
}

/// A search as a person asks for it (`asl hpo`'s flags, `asl.hpo`'s arguments); the one
/// place those become a [`StudyConfig`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Trials to run in all (the study continues up to this many).
    pub trials: usize,
    /// Stop starting trials after this much wall time over all sessions, in seconds.
    pub time_budget_secs: Option<f64>,
    /// Trials trained at the same time (at least 1).
    pub parallel: usize,
    /// How parameters are drawn.
    pub sampler: SamplerKind,
    /// None: the default space.
    pub space: Option<SearchSpace>,
    /// Epochs of a trial that is never pruned.
    pub epochs: usize,
    /// Random trials before TPE takes over.
    pub startup_trials: usize,
    /// Whether ASHA prunes weak trials.
    pub prune: bool,
    /// ASHA's reduction factor (see [`Pruner::eta`]).
    pub eta: usize,
    /// Seed of the parameter draws.
    pub seed: u64,
    /// The configuration trials start from.
    pub base: TrainConfig,
}

impl Default for SearchOptions {
    fn default() -> Self {
        let d = StudyConfig::default();
        Self {
            trials: d.max_trials.unwrap_or(20),
            time_budget_secs: None,
            parallel: 1,
            sampler: d.sampler,
            space: None,
            epochs: d.max_epochs,
            startup_trials: d.startup_trials,
            prune: d.pruner.enabled,
            eta: d.pruner.eta,
            seed: d.seed,
            base: d.base,
        }
    }
}

impl SearchOptions {
    /// The [`StudyConfig`] these options ask for (at least one parallel trial, the default pruner's
    /// first rung and bootstrap).
    pub fn study_config(self) -> StudyConfig {
        StudyConfig {
            space: self.space.unwrap_or_default(),
            sampler: self.sampler,
            seed: self.seed,
            startup_trials: self.startup_trials,
            max_epochs: self.epochs,
            pruner: Pruner {
                enabled: self.prune,
                eta: self.eta,
                ..Default::default()
            },
            base: self.base,
            max_trials: Some(self.trials),
            time_budget_secs: self.time_budget_secs,
            parallel: self.parallel.max(1),
        }
    }
}

impl StudyConfig {
    /// The part that must not change when a study is continued (budgets and parallelism may).
    pub fn identity(&self) -> StudyConfig {
        StudyConfig {
            max_trials: None,
            time_budget_secs: None,
            parallel: 1,
            base: TrainConfig {
                device: String::new(),
                time_budget_secs: None,
                ..self.base.clone()
            },
            ..self.clone()
        }
    }
}

/// Where a trial is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    /// Drawn and not finished: training, or interrupted and resumed by the next session.
    Running,
    /// Trained to `max_epochs`.
    Complete,
    /// Stopped by the pruner at a rung.
    Pruned,
    /// Refused (its configuration is invalid) or failed while training; see `error`.
    Failed,
}

/// One trial of a study, as saved in `study.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// The trial's number, from 0, in drawing order.
    pub number: usize,
    /// The parameter values drawn, by name.
    pub params: BTreeMap<String, Value>,
    /// The sampler's coordinates of `params` (TPE is rebuilt from them on resume).
    pub internal: BTreeMap<String, f64>,
    /// Where the trial is.
    pub state: TrialState,
    /// Validation accuracy after each epoch (index 0 = epoch 1).
    pub intermediate: Vec<f64>,
    /// Objective: validation accuracy of the saved weights.
    pub value: Option<f64>,
    /// Median single-image latency of its model, in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Its run in the tracking store, when tracked.
    pub run_id: Option<String>,
    /// The model folder it wrote.
    pub model_dir: Option<PathBuf>,
    /// Seconds spent training it, over all sessions.
    pub seconds: f64,
    /// Why it failed, for a failed trial.
    pub error: Option<String>,
}

impl Trial {
    /// The value TPE learns from: the objective, or the last intermediate of a pruned trial.
    fn score(&self) -> Option<f64> {
        match self.state {
            TrialState::Complete => self.value,
            TrialState::Pruned => self.intermediate.last().copied().or(self.value),
            _ => None,
        }
    }
}

/// A search: its definition and every trial so far, as saved in its folder's `study.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    /// Study file format ([`STUDY_FORMAT`]).
    pub format: u32,
    /// The study's name.
    pub name: String,
    /// What defines the study; a continued study must match its [`StudyConfig::identity`].
    pub config: StudyConfig,
    /// Every trial drawn, by number.
    pub trials: Vec<Trial>,
    /// Wall time spent over all sessions.
    pub elapsed_secs: f64,
    /// True when the last session ended with no trial left to resume.
    pub finished: bool,
}

/// Study file format; bump when `study.json` changes meaning.
pub const STUDY_FORMAT: u32 = 1;
/// The study's file in its folder.
pub const STUDY_FILE: &str = "study.json";

impl Study {
    /// The study saved in `dir`, if there is one.
    ///
    /// # Errors
    /// [`HpoError::Corrupt`] when the file does not parse or is of another format;
    /// [`HpoError::Io`] when it cannot be read.
    pub fn load(dir: &Path) -> Result<Option<Study>, HpoError> {
        let p = dir.join(STUDY_FILE);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(HpoError::Io { path: p, source: e }),
        };
        let s: Study = serde_json::from_slice(&bytes).map_err(|e| HpoError::Corrupt {
            path: p.clone(),
            problem: e.to_string(),
        })?;
        if s.format != STUDY_FORMAT {
            return Err(HpoError::Corrupt {
                path: p,
                problem: format!("study format {}, this asl reads {STUDY_FORMAT}", s.format),
            });
        }
        Ok(Some(s))
    }

    fn save(&self, dir: &Path) -> Result<(), HpoError> {
        let p = dir.join(STUDY_FILE);
        fsutil::write_json_atomic(&p, self).map_err(io_err(&p))
    }

    /// The best complete trial: highest value, ties broken by lower latency.
    pub fn best(&self) -> Option<&Trial> {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.value.is_some_and(f64::is_finite))
            .max_by(|a, b| {
                let (va, vb) = (
                    a.value.unwrap_or(f64::NEG_INFINITY),
                    b.value.unwrap_or(f64::NEG_INFINITY),
                );
                va.total_cmp(&vb).then(
                    b.latency_ms
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&a.latency_ms.unwrap_or(f64::INFINITY)),
                )
            })
    }

    /// Trials in `state`.
    pub fn count(&self, state: TrialState) -> usize {
        self.trials.iter().filter(|t| t.state == state).count()
    }

    fn budget_left(&self) -> bool {
        let trials_ok = self.config.max_trials.is_none_or(|n| self.trials.len() < n);
        let time_ok = self.config.time_budget_secs.is_none_or(|b| self.elapsed_secs < b);
        trials_ok && time_ok
    }

    /// Sample the parameters of trial `number`: random during start-up, then TPE per
    /// parameter, seeded by (study seed, trial number) so a resumed study draws the same.
    fn sample(&self, number: usize) -> Result<(TrialParams, BTreeMap<String, f64>), HpoError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            self.config.seed ^ (number as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let scored: Vec<&Trial> = self
            .trials
            .iter()
            .filter(|t| t.score().is_some_and(f64::is_finite))
            .collect();
        let use_tpe = self.config.sampler == SamplerKind::Tpe && scored.len() >= self.config.startup_trials.max(1);
        let (mut params, mut internal) = (BTreeMap::new(), BTreeMap::new());
        for (name, dist) in &self.config.space.0 {
            let (lo, hi) = dist.internal_range();
            let x = if use_tpe {
                let range = tpe::range(lo, hi).map_err(|e| HpoError::BadSpace(format!("{name}: {e}")))?;
                let estimator = if matches!(dist, Distribution::Categorical { .. }) {
                    tpe::histogram_estimator()
                } else {
                    tpe::parzen_estimator()
                };
                let mut opt = tpe::TpeOptimizer::new(estimator, range);
                for t in &scored {
                    if let (Some(&p), Some(score)) = (t.internal.get(name), t.score()) {
                        // TPE minimises; we maximise accuracy.
                        let _ = opt.tell(p, -score);
                    }
                }
                opt.ask(&mut rng)
                    .map_err(|e| HpoError::BadSpace(format!("{name}: {e}")))?
            } else {
                use rand::RngExt;
                rng.random_range(lo..hi)
            };
            internal.insert(name.clone(), x);
            params.insert(name.clone(), dist.value_at(x));
        }
        Ok((params, internal))
    }
}

/// What a trial is asked to do.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// The trial's number.
    pub number: usize,
    /// The parameter values drawn.
    pub params: BTreeMap<String, Value>,
    /// The full training configuration (`base` with the parameters applied).
    pub config: TrainConfig,
    /// The trial's own folder (checkpoints, model, run id).
    pub dir: PathBuf,
}

/// What a finished (complete or pruned) trial reports.
#[derive(Debug, Clone)]
pub struct TrialResult {
    /// Validation accuracy of the kept weights (at the stopping epoch for a pruned trial).
    pub value: f64,
    /// True when the pruner stopped it.
    pub pruned: bool,
    /// Median single-image latency of its model, in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Its run in the tracking store, when tracked.
    pub run_id: Option<String>,
    /// The model folder it wrote, if any.
    pub model_dir: Option<PathBuf>,
}

/// Runs one trial. `report(epoch, val_accuracy)` returns false when the pruner stops it.
pub trait Objective: Sync {
    /// Runs the trial, calling `report(epoch, val_accuracy)` after each epoch and stopping when it
    /// returns false. Errors fail the trial, not the study.
    fn run(
        &self,
        spec: &TrialSpec,
        report: &mut dyn FnMut(usize, f64) -> bool,
        cancel: &Cancel,
    ) -> Result<TrialResult, TrialError>;
}

/// Progress lines for a terminal or a notebook.
pub trait StudyObserver: Sync {
    /// Receives one progress line.
    fn event(&self, line: &str);
}

impl<F: Fn(&str) + Sync> StudyObserver for F {
    fn event(&self, line: &str) {
        self(line)
    }
}

fn fmt_params(p: &BTreeMap<String, Value>) -> String {
    p.iter()
        .map(|(k, v)| match v.as_f64() {
            Some(x) if v.is_f64() && x != 0.0 && x.abs() < 0.01 => format!("{k}={x:.2e}"),
            Some(x) if v.is_f64() => format!("{k}={x:.4}"),
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run (or continue) the study kept in `dir` until its budget is spent, every trial is done,
/// or `cancel` fires. Returns the study as saved.
pub fn run_study(
    dir: &Path,
    name: &str,
    config: &StudyConfig,
    objective: &dyn Objective,
    observer: &dyn StudyObserver,
    cancel: &Cancel,
) -> Result<Study, HpoError> {
    let study = open_study(dir, name, config, observer)?;
    let clock = StudyClock {
        dir,
        elapsed_before: study.elapsed_secs,
        started: Instant::now(),
    };
    let session = Session {
        clock,
        objective,
        observer,
        cancel,
        shared: Mutex::new(study),
        claimed: Mutex::new(BTreeSet::new()),
        first_error: Mutex::new(None),
    };
    session.run_workers(config.parallel);
    session.finish()
}

/// The study in `dir` ready for this session: loaded (refused if it was started with another
/// identity) or created, with this session's budgets, and saved.
fn open_study(dir: &Path, name: &str, config: &StudyConfig, observer: &dyn StudyObserver) -> Result<Study, HpoError> {
    config.space.validate()?;
    config.base.validate().map_err(|e| HpoError::BadSpace(e.to_string()))?;
    if config.base.photo_model.is_some() {
        // Every trial would take the same CNN: the search would search nothing.
        return Err(HpoError::BadSpace(
            "the base configuration takes its photo CNN from a model folder (photo_model): a search trains the CNN"
                .into(),
        ));
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut study = match Study::load(dir)? {
        Some(s) => {
            if s.config.identity() != config.identity() {
                return Err(HpoError::Incompatible {
                    path: dir.to_path_buf(),
                    what: "search space, sampler, seed or base configuration".into(),
                });
            }
            s
        }
        None => Study {
            format: STUDY_FORMAT,
            name: name.to_string(),
            config: config.clone(),
            trials: Vec::new(),
            elapsed_secs: 0.0,
            finished: false,
        },
    };
    // Budgets and parallelism are this session's.
    study.config.max_trials = config.max_trials;
    study.config.time_budget_secs = config.time_budget_secs;
    study.config.parallel = config.parallel;
    study.finished = false;
    let resumed = study.count(TrialState::Running);
    if !study.trials.is_empty() {
        observer.event(&format!(
            "continuing study {name}: {} trials so far ({} to resume), {:.0}s spent",
            study.trials.len(),
            resumed,
            study.elapsed_secs
        ));
    }
    study.save(dir)?;
    Ok(study)
}

/// Where a session saves its study, and the wall time the study had spent before it began.
struct StudyClock<'a> {
    dir: &'a Path,
    elapsed_before: f64,
    started: Instant,
}

impl StudyClock<'_> {
    /// Wall time over all sessions, this one up to now.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    fn save(&self, s: &mut Study) -> Result<(), HpoError> {
        s.elapsed_secs = self.elapsed();
        s.save(self.dir)
    }
}

/// What the worker threads of one session share.
struct Session<'a> {
    clock: StudyClock<'a>,
    objective: &'a dyn Objective,
    observer: &'a dyn StudyObserver,
    cancel: &'a Cancel,
    shared: Mutex<Study>,
    /// Trials a worker of this session has taken (so two never run the same one).
    claimed: Mutex<BTreeSet<usize>>,
    /// The first error of any worker; the others stop at their next trial.
    first_error: Mutex<Option<HpoError>>,
}

impl Session<'_> {
    fn lock(&self) -> MutexGuard<'_, Study> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `parallel` workers to their end, keeping the first error any of them returns.
    fn run_workers(&self, parallel: usize) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parallel.max(1)).map(|_| scope.spawn(move || self.work())).collect();
            for h in handles {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(HpoError::BadSpace("a trial thread panicked".into())));
                if let Err(e) = r {
                    let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(e);
                }
            }
        });
    }

    /// One worker: trials one after another until none is left, the budget is spent, the
    /// search is cancelled or another worker failed.
    fn work(&self) -> Result<(), HpoError> {
        while let Some(spec) = self.next_trial()? {
            let t0 = Instant::now();
            let result = self.run_trial(&spec);
            self.record(&spec, t0, result)?;
        }
        Ok(())
    }

    /// Claims the next trial and saves the study; None when this worker should stop.
    fn next_trial(&self) -> Result<Option<TrialSpec>, HpoError> {
        loop {
            let mut s = self.lock();
            if self.cancel.is_cancelled() || self.first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                return Ok(None);
            }
            s.elapsed_secs = self.clock.elapsed();
            let mut claimed = self.claimed.lock().unwrap_or_else(|p| p.into_inner());
            // Interrupted trials first (they resume from their checkpoints).
            let number = match s
                .trials
                .iter()
                .find(|t| t.state == TrialState::Running && !claimed.contains(&t.number))
            {
                Some(t) => t.number,
                None if s.budget_left() => match self.draw_trial(&mut s)? {
                    Some(number) => number,
                    None => continue,
                },
                None => return Ok(None),
            };
            claimed.insert(number);
            self.clock.save(&mut s)?;
            return self.trial_spec(&s, number).map(Some);
        }
    }

    /// Samples a new trial and adds it to the study. A draw the configuration refuses is a
    /// failed trial (saved; None returned), never a Running one that every later session would
    /// try to resume.
    fn draw_trial(&self, s: &mut Study) -> Result<Option<usize>, HpoError> {
        let number = s.trials.len();
        let (params, internal) = s.sample(number)?;
        let refused = apply(&s.config.base, &params)
            .and_then(|c| c.validate().map_err(|e| HpoError::BadSpace(e.to_string())))
            .err();
        let state = if refused.is_some() {
            TrialState::Failed
        } else {
            TrialState::Running
        };
        s.trials.push(Trial {
            number,
            params,
            internal,
            state,
            intermediate: Vec::new(),
            value: None,
            latency_ms: None,
            run_id: None,
            model_dir: None,
            seconds: 0.0,
            error: refused.as_ref().map(|e| e.to_string()),
        });
        if let Some(e) = refused {
            self.observer.event(&format!("trial {number}: failed: {e}"));
            self.clock.save(s)?;
            return Ok(None);
        }
        Ok(Some(number))
    }

    /// What trial `number` trains, with what is left of the time budget.
    fn trial_spec(&self, s: &Study, number: usize) -> Result<TrialSpec, HpoError> {
        let t = &s.trials[number];
        let mut config = trial_config(&s.config.base, &t.params, s.config.max_epochs)?;
        if let Some(b) = s.config.time_budget_secs {
            config.time_budget_secs = Some((b - s.elapsed_secs).max(1.0));
        }
        self.observer
            .event(&format!("trial {number}: start {}", fmt_params(&t.params)));
        Ok(TrialSpec {
            number,
            params: t.params.clone(),
            config,
            dir: self.clock.dir.join("trials").join(number.to_string()),
        })
    }

    fn run_trial(&self, spec: &TrialSpec) -> Result<TrialResult, TrialError> {
        let mut report = |epoch: usize, value: f64| -> bool { self.report_epoch(spec.number, epoch, value) };
        // A panicking trial is a failed trial; the study goes on.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.objective.run(spec, &mut report, self.cancel)
        }))
        .unwrap_or_else(|p| {
            Err(TrialError::Failed(format!(
                "the trial panicked: {}",
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            )))
        })
    }

    /// Records trial `n`'s validation accuracy after `epoch`; false when the pruner stops it.
    fn report_epoch(&self, n: usize, epoch: usize, value: f64) -> bool {
        let mut s = self.lock();
        let iv = &mut s.trials[n].intermediate;
        iv.truncate(epoch.saturating_sub(1));
        iv.push(value);
        let rungs = s.config.pruner.rungs(s.config.max_epochs);
        let keep = if rungs.contains(&epoch) {
            let at_rung: Vec<f64> = s
                .trials
                .iter()
                .filter_map(|t| t.intermediate.get(epoch - 1).copied())
                .collect();
            !s.config.pruner.should_prune(value, &at_rung)
        } else {
            true
        };
        let _ = self.clock.save(&mut s);
        self.observer.event(&format!(
            "trial {n}: epoch {epoch} val accuracy {:.2}%{}",
            value * 100.0,
            if keep { "" } else { " → pruned" }
        ));
        keep
    }

    /// Records how a trial that started at `t0` ended, and saves the study.
    fn record(&self, spec: &TrialSpec, t0: Instant, result: Result<TrialResult, TrialError>) -> Result<(), HpoError> {
        let mut s = self.lock();
        let t = &mut s.trials[spec.number];
        t.seconds += t0.elapsed().as_secs_f64();
        match result {
            Ok(r) => {
                t.state = if r.pruned {
                    TrialState::Pruned
                } else {
                    TrialState::Complete
                };
                t.value = Some(r.value);
                t.latency_ms = r.latency_ms;
                t.run_id = r.run_id;
                t.model_dir = r.model_dir;
                self.observer.event(&format!(
                    "trial {}: {} with validation accuracy {:.2}% in {:.0}s",
                    spec.number,
                    if r.pruned { "pruned" } else { "complete" },
                    r.value * 100.0,
                    t.seconds
                ));
            }
            // Interrupted: stays Running, to be resumed by the next session.
            Err(_) if self.cancel.is_cancelled() => {}
            Err(e) => {
                self.observer.event(&format!("trial {}: failed: {e}", spec.number));
                t.state = TrialState::Failed;
                t.error = Some(e.to_string());
            }
        }
        self.clock.save(&mut s)
    }

    /// The study as this session leaves it, saved: the first worker error, else Cancelled,
    /// else finished when no trial is left to resume.
    fn finish(self) -> Result<Study, HpoError> {
        let Session {
            clock,
            cancel,
            shared,
            first_error,
            ..
        } = self;
        let mut study = shared.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let _ = clock.save(&mut study);
            return Err(e);
        }
        if cancel.is_cancelled() {
            clock.save(&mut study)?;
            return Err(HpoError::Cancelled);
        }
        study.finished = study.count(TrialState::Running) == 0;
        clock.save(&mut study)?;
        Ok(study)
    }
}

/// One memory-mapped cache per input size, opened (or built) once and shared by every trial.
pub struct CacheProvider<'a> {
    open: Box<dyn Fn(usize) -> Result<Cache, PrepError> + Sync + 'a>,
    caches: Mutex<HashMap<usize, Arc<Cache>>>,
    /// Serialises building, so two trials never build the same cache at once.
    building: Mutex<()>,
}

impl<'a> CacheProvider<'a> {
    /// A provider that opens the cache for an input size with `open` (building it if needed).
    pub fn new(open: impl Fn(usize) -> Result<Cache, PrepError> + Sync + 'a) -> Self {
        Self {
            open: Box::new(open),
            caches: Mutex::new(HashMap::new()),
            building: Mutex::new(()),
        }
    }

    /// The shared cache for input size `size`, opened on first use.
    ///
    /// # Errors
    /// Whatever `open` returns for that size (the error is not remembered; a later call retries).
    pub fn get(&self, size: usize) -> Result<Arc<Cache>, PrepError> {
        if let Some(c) = self.caches.lock().unwrap_or_else(|p| p.into_inner()).get(&size) {
            return Ok(c.clone());
        }
        let _b = self.building.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = self.caches.lock().unwrap_or_else(|p| p.into_inner()).get(&size) {
            return Ok(c.clone());
        }
        let c = Arc::new((self.open)(size)?);
        self.caches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(size, c.clone());
        Ok(c)
    }
}

/// The real objective: train the trial's configuration on the shared cache of its input
/// size, log it as a tracked run (when a store is given), and measure its latency.
pub struct TrainObjective<'a> {
    /// The caches trials train on.
    pub caches: &'a CacheProvider<'a>,
    /// Where trials are logged; `None` for no tracking.
    pub store: Option<&'a dyn TrackingStore>,
    /// The tracking experiment of the trials.
    pub experiment: String,
    /// The study's name (trial model folders are named after it).
    pub study: String,
    /// The study's run in the store: every trial's run is its child.
    pub parent_run_id: Option<String>,
}

const RUN_ID_FILE: &str = "run_id";

impl Objective for TrainObjective<'_> {
    fn run(
        &self,
        spec: &TrialSpec,
        report: &mut dyn FnMut(usize, f64) -> bool,
        cancel: &Cancel,
    ) -> Result<TrialResult, TrialError> {
        let cache = self.caches.get(spec.config.model.input_size)?;
        let lineage = crate::infer::Lineage::of(&cache);
        fs::create_dir_all(&spec.dir).map_err(trial_io_err(&spec.dir))?;
        let run = self.start_run(spec, &lineage)?;
        // Named after the trial: the name is what the server and the reports show.
        let model_dir = spec.dir.join(format!("{}-trial-{}", self.study, spec.number));
        let outcome = train_trial(spec, &cache, lineage, &model_dir, run.as_ref(), report, cancel)?;
        // From the outcome, not the callback: a trial pruned before a crash is still pruned
        // when its resume trains no further epoch.
        let pruned = outcome.stop == train::StopReason::Callback;
        let latency = crate::tracking::run::single_image_latency_ms(&model_dir, &cache)?;
        if let Some(r) = &run {
            let state = if pruned { "pruned" } else { "complete" };
            r.finish(
                &outcome,
                latency,
                &BTreeMap::from([("asl.trial_state".to_string(), state.to_string())]),
            )?;
        }
        Ok(TrialResult {
            value: outcome.report.accuracy,
            pruned,
            latency_ms: latency.is_finite().then_some(latency),
            run_id: run.map(|r| r.run_id),
            model_dir: Some(model_dir),
        })
    }
}

impl TrainObjective<'_> {
    /// The trial's tracked run, a child of the study's, when there is a store; its id is kept
    /// in the trial's folder.
    fn start_run(
        &self,
        spec: &TrialSpec,
        lineage: &crate::infer::Lineage,
    ) -> Result<Option<crate::tracking::run::TrainingRun<'_>>, TrialError> {
        // A resumed trial keeps logging into the run it started.
        let id_path = spec.dir.join(RUN_ID_FILE);
        let existing = fs::read_to_string(&id_path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let mut tags = BTreeMap::from([
            ("asl.kind".to_string(), "hpo-trial".to_string()),
            ("asl.study".to_string(), self.study.clone()),
            ("asl.trial".to_string(), spec.number.to_string()),
        ]);
        if let Some(parent) = &self.parent_run_id {
            tags.insert(crate::tracking::PARENT_RUN_TAG.to_string(), parent.clone());
        }
        let run = match self.store {
            Some(store) => {
                let r = crate::tracking::run::TrainingRun::start(
                    store,
                    &self.experiment,
                    &format!("{}-trial-{}", self.study, spec.number),
                    &spec.config,
                    lineage,
                    &tags,
                    existing.as_deref(),
                )?;
                fsutil::write_atomic(&id_path, r.run_id.as_bytes()).map_err(trial_io_err(&id_path))?;
                Some(r)
            }
            None => None,
        };
        Ok(run)
    }
}

fn trial_io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrialError + '_ {
    move |source| TrialError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Trains a trial, logging each epoch to its run (when tracked) and asking the pruner whether
/// to go on. A training that fails, unless cancelled, fails the run.
fn train_trial(
    spec: &TrialSpec,
    cache: &Cache,
    lineage: crate::infer::Lineage,
    model_dir: &Path,
    run: Option<&crate::tracking::run::TrainingRun<'_>>,
    report: &mut dyn FnMut(usize, f64) -> bool,
    cancel: &Cancel,
) -> Result<train::TrainOutcome, TrialError> {
    let mut log_error = None;
    let mut on_epoch = |m: &train::EpochMetrics| {
        if let Some(r) = run
            && let Err(e) = r.log_epoch(m)
        {
            log_error.get_or_insert(e);
        }
        if report(m.epoch, m.val_accuracy) {
            Control::Continue
        } else {
            Control::Stop
        }
    };
    let outcome = train::train(
        cache,
        &spec.config,
        lineage,
        &spec.dir.join("run"),
        model_dir,
        &mut on_epoch,
        &crate::progress::NoProgress,
        cancel,
    );
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            if let (Some(r), false) = (run, cancel.is_cancelled()) {
                let _ = r.fail(crate::tracking::RunStatus::Failed, &e.to_string());
            }
            return Err(e.into());
        }
    };
    if let Some(e) = log_error {
        return Err(e.into());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_round_trips_and_rejects_unknown_names() {
        let s = SearchSpace::default();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SearchSpace>(&json).unwrap(), s);
        s.validate().unwrap();
        let bad: SearchSpace =
            serde_json::from_str(r#"{"learning_rate":{"type":"uniform","low":0,"high":1}}"#).unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("unknown parameter"));
        let inverted: SearchSpace =
            serde_json::from_str(r#"{"lr":{"type":"log_uniform","low":0.1,"high":0.01}}"#).unwrap();
        assert!(inverted.validate().is_err());
        assert!(serde_json::from_str::<SearchSpace>(r#"{"lr":{"type":"gaussian","mean":1}}"#).is_err());
    }

    #[test]
    fn samples_stay_in_bounds_and_apply() {
        let study = Study {
            format: STUDY_FORMAT,
            name: "t".into(),
            config: StudyConfig {
                sampler: SamplerKind::Random,
                ..Default::default()
            },
            trials: vec![],
            elapsed_secs: 0.0,
            finished: false,
        };
        for n in 0..200 {
            let (p, _) = study.sample(n).unwrap();
            let lr = p["lr"].as_f64().unwrap();
            assert!((5e-4..=1e-2).contains(&lr));
            assert!([24, 32, 48].contains(&p["input_size"].as_i64().unwrap()));
            let d = p["depth"].as_i64().unwrap();
            assert!((2..=4).contains(&d));
            let cfg = apply(&TrainConfig::default(), &p).unwrap();
            cfg.validate().unwrap();
            assert_eq!(cfg.model.depth as i64, d);
        }
        // Same seed and number → same draw (resume safety).
        assert_eq!(study.sample(7).unwrap().0, study.sample(7).unwrap().0);
    }

    #[test]
    fn whole_number_parameters_need_whole_number_priors() {
        let bad: SearchSpace = serde_json::from_str(r#"{"depth":{"type":"uniform","low":2,"high":4}}"#).unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("whole-number"));
        let bad: SearchSpace = serde_json::from_str(r#"{"width":{"type":"categorical","choices":[8, 12.5]}}"#).unwrap();
        assert!(bad.validate().is_err());
        let ok: SearchSpace = serde_json::from_str(
            r#"{"width":{"type":"categorical","choices":[8, 16]},"depth":{"type":"int","low":2,"high":4}}"#,
        )
        .unwrap();
        ok.validate().unwrap();
    }

    #[test]
    fn asha_keeps_the_top_third() {
        let p = Pruner::default();
        assert_eq!(p.rungs(9), vec![1, 3]);
        assert!(!p.should_prune(0.1, &[0.1, 0.5])); // below bootstrap
        assert!(p.should_prune(0.1, &[0.1, 0.5, 0.6]));
        assert!(!p.should_prune(0.6, &[0.1, 0.5, 0.6]));
        assert!(p.should_prune(0.5, &[0.1, 0.5, 0.6, 0.7, 0.8, 0.9]));
        assert!(!p.should_prune(0.8, &[0.1, 0.5, 0.6, 0.7, 0.8, 0.9]));
    }

    /// A cheap objective with a known optimum (lr = 3e-3, dropout = 0.1), so sampler and
    /// study mechanics are tested without training.
    struct Bowl;
    impl Objective for Bowl {
        fn run(
            &self,
            spec: &TrialSpec,
            report: &mut dyn FnMut(usize, f64) -> bool,
            _: &Cancel,
        ) -> Result<TrialResult, TrialError> {
            let lr = spec.params["lr"].as_f64().unwrap_or(0.0);
            let d = spec.params["dropout"].as_f64().unwrap_or(0.0);
            let v = 1.0 - (lr.ln() - 3e-3f64.ln()).powi(2) / 10.0 - (d - 0.1).powi(2);
            for e in 1..=spec.config.epochs {
                if !report(e, v * e as f64 / spec.config.epochs as f64) {
                    return Ok(TrialResult {
                        value: v * e as f64 / spec.config.epochs as f64,
                        pruned: true,
                        latency_ms: None,
                        run_id: None,
                        model_dir: None,
                    });
                }
            }
            Ok(TrialResult {
                value: v,
                pruned: false,
                latency_ms: Some(1.0),
                run_id: None,
                model_dir: None,
            })
        }
    }

    fn bowl_config(sampler: SamplerKind, seed: u64, trials: usize) -> StudyConfig {
        let space = SearchSpace(BTreeMap::from([
            ("lr".into(), Distribution::LogUniform { low: 1e-4, high: 1e-1 }),
            ("dropout".into(), Distribution::Uniform { low: 0.0, high: 0.5 }),
        ]));
        StudyConfig {
            space,
            sampler,
            seed,
            max_trials: Some(trials),
            max_epochs: 3,
            pruner: Pruner {
                enabled: false,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn tpe_beats_random_on_a_known_bowl() {
        let quiet = |_: &str| {};
        let (mut tpe_sum, mut rnd_sum) = (0.0, 0.0);
        for seed in 0..8 {
            for (sampler, sum) in [(SamplerKind::Tpe, &mut tpe_sum), (SamplerKind::Random, &mut rnd_sum)] {
                let dir = tempfile::tempdir().unwrap();
                let s = run_study(
                    dir.path(),
                    "bowl",
                    &bowl_config(sampler, seed, 30),
                    &Bowl,
                    &quiet,
                    &Cancel::new(),
                )
                .unwrap();
                *sum += s.best().unwrap().value.unwrap();
            }
        }
        assert!(
            tpe_sum > rnd_sum,
            "TPE mean best {:.4} vs random {:.4}",
            tpe_sum / 8.0,
            rnd_sum / 8.0
        );
    }

    #[test]
    fn a_search_refuses_a_base_that_takes_its_photo_cnn_from_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = bowl_config(SamplerKind::Tpe, 1, 2);
        config.base.photo_model = Some(dir.path().join("some-model"));
        let quiet = |_: &str| {};
        let err = run_study(dir.path(), "bowl", &config, &Bowl, &quiet, &Cancel::new()).unwrap_err();
        assert!(
            matches!(&err, HpoError::BadSpace(m) if m.contains("photo_model")),
            "{err}"
        );
        assert!(Study::load(dir.path()).unwrap().is_none(), "nothing written");
    }

    #[test]
    fn a_study_continues_where_it_stopped() {
        let quiet = |_: &str| {};
        let dir = tempfile::tempdir().unwrap();
        let s = run_study(
            dir.path(),
            "bowl",
            &bowl_config(SamplerKind::Tpe, 1, 6),
            &Bowl,
            &quiet,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(s.trials.len(), 6);
        assert!(s.finished);
        // A bigger budget continues with the same first six trials.
        let more = run_study(
            dir.path(),
            "bowl",
            &bowl_config(SamplerKind::Tpe, 1, 10),
            &Bowl,
            &quiet,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(more.trials.len(), 10);
        // (JSON keeps floats to within an ulp.)
        let close = |a: &[Trial], b: &[Trial]| {
            a.iter().zip(b).all(|(x, y)| {
                x.params.iter().all(|(k, v)| {
                    (v.as_f64().unwrap() - y.params[k].as_f64().unwrap()).abs()
                        <= 1e-12 * v.as_f64().unwrap().abs().max(1.0)
                })
            })
        };
        assert!(close(&more.trials[..6], &s.trials));
        // A different space is refused.
        let mut other = bowl_config(SamplerKind::Tpe, 1, 10);
        other.seed = 2;
        assert!(matches!(
            run_study(dir.path(), "bowl", &other, &Bowl, &quiet, &Cancel::new()),
            Err(HpoError::Incompatible { .. })
        ));
        // A fresh run with the same seed from scratch draws the same trials (determinism).
        let dir2 = tempfile::tempdir().unwrap();
        let again = run_study(
            dir2.path(),
            "bowl",
            &bowl_config(SamplerKind::Tpe, 1, 10),
            &Bowl,
            &quiet,
            &Cancel::new(),
        )
        .unwrap();
        assert!(close(&again.trials, &more.trials));
    }

    #[test]
    fn asha_prunes_bad_trials_in_a_study() {
        let quiet = |_: &str| {};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = bowl_config(SamplerKind::Random, 3, 12);
        cfg.pruner = Pruner::default();
        cfg.max_epochs = 9;
        let s = run_study(dir.path(), "bowl", &cfg, &Bowl, &quiet, &Cancel::new()).unwrap();
        assert!(s.count(TrialState::Pruned) > 0, "no trial was pruned");
        assert!(s.count(TrialState::Complete) > 0);
        let best = s.best().unwrap().value.unwrap();
        assert!(
            s.trials
                .iter()
                .filter(|t| t.state == TrialState::Pruned)
                .all(|t| t.intermediate.len() < 9)
        );
        assert!(best > 0.5);
    }
}
