//! One training as a tracked run: params from the configuration, tags for lineage and code
//! version, a metric point per epoch, final metrics and the model folder as artifacts.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{MetricPoint, RunInfo, RunStatus, TrackingError, TrackingStore};
use crate::infer::{Classifier, Lineage};
use crate::prep::{Cache, Split};
use crate::registry::{LATENCY_METRIC, MODEL_ARTIFACT, SELECTION_METRIC};
use crate::train::{EpochMetrics, TrainConfig, TrainOutcome};

/// asl's version plus the git commit it was built from, when known.
pub fn code_version() -> String {
    match option_env!("ASL_GIT_COMMIT") {
        Some(c) if !c.is_empty() => format!("{}+{c}", env!("CARGO_PKG_VERSION")),
        _ => env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Nested JSON → flat `a.b.c` keys with string values (MLflow params are strings).
pub fn flatten_params(value: &serde_json::Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    walk(
                        &if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        },
                        v,
                        out,
                    );
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// Lineage tags every run carries.
pub fn lineage_tags(lineage: &Lineage) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("asl.dataset".to_string(), lineage.dataset.clone()),
        ("asl.dataset_version".to_string(), lineage.dataset_version.to_string()),
        ("asl.cache_hash".to_string(), lineage.cache_hash.clone()),
        ("asl.source_hash".to_string(), lineage.source_hash.clone()),
        ("asl.code_version".to_string(), code_version()),
    ])
}

/// The training data of a run, as a dataset input: the collected dataset, identified by the
/// hash of its images (the digest) and of the cache built from them.
pub fn dataset_input(lineage: &Lineage) -> super::DatasetInput {
    super::DatasetInput {
        name: lineage.dataset.clone(),
        digest: lineage.source_hash.chars().take(32).collect(),
        source_type: "asl".into(),
        source: serde_json::json!({
            "dataset": lineage.dataset,
            "version": lineage.dataset_version,
            "source_hash": lineage.source_hash,
        })
        .to_string(),
        profile: serde_json::json!({"cache_hash": lineage.cache_hash}).to_string(),
        context: "training".into(),
    }
}

/// The run a search study's trials hang under (their `mlflow.parentRunId`), so MLflow shows a
/// study as one run with a child per trial. Its id is kept in the study folder: a resumed
/// study keeps its parent.
pub fn study_run(
    store: &dyn TrackingStore,
    experiment: &str,
    study: &str,
    study_dir: &Path,
) -> Result<String, TrackingError> {
    let id_path = study_dir.join(STUDY_RUN_ID_FILE);
    if let Ok(id) = std::fs::read_to_string(&id_path) {
        let id = id.trim();
        // A parent deleted from the store is made again; any other error (the server down)
        // is an error, not a reason for a second parent.
        match store.get_run(id) {
            Ok(_) => {
                // Resumed or extended: running again until this session ends.
                store.finish_run(id, RunStatus::Running)?;
                return Ok(id.to_string());
            }
            Err(TrackingError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mut tags = super::standard_tags();
    tags.insert("asl.kind".into(), "hpo-study".into());
    tags.insert("asl.study".into(), study.into());
    let id = store.create_run(experiment, study, &tags)?.run_id;
    std::fs::create_dir_all(study_dir).map_err(super::io_err(study_dir))?;
    crate::fsutil::write_atomic(&id_path, id.as_bytes()).map_err(super::io_err(&id_path))?;
    Ok(id)
}

/// The best trial's objective, on the study's run.
pub const STUDY_BEST_METRIC: &str = "best_val_accuracy";

/// A study session that ended in an error: its run is KILLED (interrupted) or FAILED, until
/// the study is resumed. Best effort: the study's own error is what the caller reports.
pub fn abandon_study_run(store: &dyn TrackingStore, run_id: &str, cancelled: bool) {
    let status = if cancelled {
        RunStatus::Killed
    } else {
        RunStatus::Failed
    };
    let _ = store.finish_run(run_id, status);
}

/// File in a study folder holding its parent run's id.
pub const STUDY_RUN_ID_FILE: &str = "tracking_run_id";

/// The study's outcome on its parent run: the best trial's value and parameters, trial
/// counts; FINISHED once the study is (RUNNING while trials remain; see [`abandon_study_run`]
/// for a session that stops early).
pub fn finish_study_run(
    store: &dyn TrackingStore,
    run_id: &str,
    study: &crate::hpo::Study,
) -> Result<(), TrackingError> {
    use crate::hpo::TrialState;
    let step = study.trials.len() as i64;
    let mut points = vec![
        MetricPoint::now("trials_complete", study.count(TrialState::Complete) as f64, step),
        MetricPoint::now("trials_pruned", study.count(TrialState::Pruned) as f64, step),
        MetricPoint::now("trials_failed", study.count(TrialState::Failed) as f64, step),
    ];
    let mut tags = BTreeMap::new();
    if let Some(best) = study.best() {
        // Not the selection metric: searches for the best model must find trials, not this.
        if let Some(v) = best.value.filter(|v| v.is_finite()) {
            points.push(MetricPoint::now(STUDY_BEST_METRIC, v, step));
        }
        tags.insert("asl.best_trial".to_string(), best.number.to_string());
        if let Some(id) = &best.run_id {
            tags.insert("asl.best_run_id".to_string(), id.clone());
        }
        let params: BTreeMap<String, String> = best
            .params
            .iter()
            .map(|(k, v)| (format!("best.{k}"), v.to_string()))
            .collect();
        // Params are write-once in MLflow: a later best is a tag, not a param.
        tags.extend(params);
    }
    store.log_metrics(run_id, &points)?;
    store.set_tags(run_id, &tags)?;
    if study.finished {
        store.finish_run(run_id, RunStatus::Finished)?;
    }
    Ok(())
}

/// Median single-image latency of a model folder, in milliseconds, on validation images.
pub fn single_image_latency_ms(model_dir: &Path, cache: &Cache) -> Result<f64, crate::infer::InferError> {
    let clf = Classifier::load(model_dir)?;
    let split = if cache.is_empty(Split::Val) {
        Split::Train
    } else {
        Split::Val
    };
    let n = cache.len(split).min(25);
    if n == 0 {
        return Ok(f64::NAN);
    }
    clf.probabilities(&[cache.pixels(split, 0)])?; // warm-up
    let mut times: Vec<f64> = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        clf.probabilities(&[cache.pixels(split, i)])?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[n / 2])
}

/// A run being written.
pub struct TrainingRun<'a> {
    store: &'a dyn TrackingStore,
    /// The tracked run's id in the store.
    pub run_id: String,
}

impl<'a> TrainingRun<'a> {
    /// Start a run, or continue `existing` (a resumed training logs into the same run).
    pub fn start(
        store: &'a dyn TrackingStore,
        experiment: &str,
        run_name: &str,
        cfg: &TrainConfig,
        lineage: &Lineage,
        extra_tags: &BTreeMap<String, String>,
        existing: Option<&str>,
    ) -> Result<Self, TrackingError> {
        let mut tags = super::standard_tags();
        tags.extend(lineage_tags(lineage));
        tags.extend(extra_tags.clone());
        let run_id = match existing {
            Some(id) => {
                store.get_run(id)?;
                id.to_string()
            }
            None => {
                let id = store.create_run(experiment, run_name, &tags)?.run_id;
                let inputs = [dataset_input(lineage)];
                // A server without MLflow's inputs API (before 2.4) still gets the record, as a tag.
                if store.log_inputs(&id, &inputs).is_err() {
                    super::log_inputs_as_tag(store, &id, &inputs)?;
                }
                id
            }
        };
        // The time budget steers one invocation only; it is not a hyper-parameter.
        let mut params = flatten_params(&serde_json::to_value(cfg).unwrap_or_default());
        params.remove("time_budget_secs");
        if existing.is_none() {
            store.log_params(&run_id, &params)?;
        }
        Ok(Self { store, run_id })
    }

    /// Logs one epoch's metrics at step `epoch` (non-finite values, such as NaN validation
    /// metrics without a validation split, are left out).
    pub fn log_epoch(&self, m: &EpochMetrics) -> Result<(), TrackingError> {
        let step = m.epoch as i64;
        let points: Vec<MetricPoint> = [
            ("train_loss", m.train_loss),
            ("train_accuracy", m.train_accuracy),
            ("val_loss", m.val_loss),
            ("val_accuracy", m.val_accuracy),
            ("lr", m.lr),
            ("images_per_sec", m.images_per_sec),
            ("epoch_seconds", m.seconds),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| MetricPoint::now(k, v, step))
        .collect();
        self.store.log_metrics(&self.run_id, &points)
    }

    /// Final metrics, the model folder as artifacts, tags, FINISHED.
    pub fn finish(
        &self,
        outcome: &TrainOutcome,
        latency_ms: f64,
        tags: &BTreeMap<String, String>,
    ) -> Result<RunInfo, TrackingError> {
        let step = outcome.history.len() as i64;
        let r = &outcome.report;
        let points: Vec<MetricPoint> = [
            (SELECTION_METRIC, r.accuracy),
            ("final_val_loss", r.loss),
            ("final_macro_f1", r.macro_f1),
            (LATENCY_METRIC, latency_ms),
            ("train_seconds", outcome.train_seconds),
            ("best_epoch", outcome.best_epoch as f64),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| MetricPoint::now(k, v, step))
        .collect();
        self.store.log_metrics(&self.run_id, &points)?;
        let mut tags = tags.clone();
        tags.insert("asl.stop".into(), format!("{:?}", outcome.stop).to_lowercase());
        self.store.set_tags(&self.run_id, &tags)?;
        // The folder as MLflow's model format too (a python_function flavour), so MLflow's
        // own clients load what the registry holds.
        super::mlmodel::write(&outcome.model_dir, &self.run_id, crate::clock::now_unix())
            .map_err(super::io_err(&outcome.model_dir))?;
        self.store
            .log_artifacts(&self.run_id, &outcome.model_dir, MODEL_ARTIFACT)?;
        self.store.finish_run(&self.run_id, RunStatus::Finished)?;
        self.store.get_run(&self.run_id)
    }

    /// Ends the run with `status` (failed or killed), keeping `why` (at most 7000 characters)
    /// in the tag `asl.error`.
    pub fn fail(&self, status: RunStatus, why: &str) -> Result<(), TrackingError> {
        let why: String = why.chars().take(7000).collect();
        self.store
            .set_tags(&self.run_id, &BTreeMap::from([("asl.error".to_string(), why)]))?;
        self.store.finish_run(&self.run_id, status)
    }
}

/// Tracking experiment of stand-alone trainings (`asl train`, `asl.train`).
pub const TRAIN_EXPERIMENT: &str = "asl-train";
/// File in a run folder holding the tracked run's id, so a resumed training logs into it.
pub const RUN_ID_FILE: &str = "tracking_run_id";

/// Why a tracked training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackedTrainError {
    /// The training itself failed (or was cancelled).
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Starting, continuing or finishing the tracked run failed.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    /// Loading the finished model folder to time it failed.
    #[error(transparent)]
    Infer(#[from] crate::infer::InferError),
    /// Creating the run folder or writing its run-id file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// How a training run is filed in the tracking store: experiment, run name and extra tags
/// (an external search labels its trials with them).
pub struct RunLabel<'a> {
    /// The experiment to file the run under.
    pub experiment: &'a str,
    /// The run's display name.
    pub name: &'a str,
    /// Tags added to the run (besides the standard, lineage and `asl.kind` tags).
    pub tags: &'a BTreeMap<String, String>,
}

/// A finished tracked training.
pub struct TrackedTraining {
    /// What the training produced.
    pub outcome: TrainOutcome,
    /// The run as the store holds it once finished.
    pub run: RunInfo,
    /// Median single-image latency of the model folder, in milliseconds (NaN without images).
    pub latency_ms: f64,
}

/// One training as a tracked run, the way every frontend trains: start (or, for a run folder
/// that holds a run id, continue) the run, log each epoch, then latency, final metrics and
/// the model folder. A failed training marks the run FAILED; a cancelled one leaves it open
/// for the resume.
#[allow(clippy::too_many_arguments)]
pub fn train_tracked(
    store: &dyn TrackingStore,
    label: &RunLabel<'_>,
    cache: &Cache,
    cfg: &TrainConfig,
    run_dir: &Path,
    model_dir: &Path,
    on_epoch: &mut dyn crate::train::EpochCallback,
    progress: &dyn crate::progress::Progress,
    cancel: &crate::progress::Cancel,
) -> Result<TrackedTraining, TrackedTrainError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrackedTrainError::Io { path, source }
    };
    std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;
    let id_file = run_dir.join(RUN_ID_FILE);
    let existing = std::fs::read_to_string(&id_file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let lineage = Lineage::of(cache);
    let mut tags = BTreeMap::from([("asl.kind".to_string(), "train".to_string())]);
    tags.extend(label.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    let tracked = TrainingRun::start(
        store,
        label.experiment,
        label.name,
        cfg,
        &lineage,
        &tags,
        existing.as_deref(),
    )?;
    crate::fsutil::write_atomic(&id_file, tracked.run_id.as_bytes()).map_err(io(&id_file))?;
    let mut each_epoch = |m: &EpochMetrics| {
        // Tracking trouble must not cost the training: warn and go on.
        if let Err(e) = tracked.log_epoch(m) {
            eprintln!("warning: could not log epoch {} to {}: {e}", m.epoch, store.describe());
        }
        on_epoch.on_epoch(m)
    };
    let outcome = match crate::train::train(
        cache,
        cfg,
        lineage,
        run_dir,
        model_dir,
        &mut each_epoch,
        progress,
        cancel,
    ) {
        Ok(o) => o,
        Err(e) => {
            if !cancel.is_cancelled() {
                let _ = tracked.fail(RunStatus::Failed, &e.to_string());
            }
            return Err(e.into());
        }
    };
    let latency_ms = single_image_latency_ms(&outcome.model_dir, cache)?;
    let run = tracked.finish(&outcome, latency_ms, &BTreeMap::new())?;
    Ok(TrackedTraining {
        outcome,
        run,
        latency_ms,
    })
}
