//! Experiment tracking and the model registry behind one interface, with two stores: an
//! embedded one under the state root (the default) and MLflow over REST (when
//! `MLFLOW_TRACKING_URI` is set). HPO trials and final trainings log here; `registry` builds
//! selection and promotion on top.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::AslHome;

pub mod local;
pub mod mlflow;
pub mod mlmodel;
pub mod run;

pub use local::LocalStore;
pub use mlflow::MlflowStore;

/// Why a tracking or registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    /// Reading or writing a file of the local store (or an artifact) failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The MLflow server could not be reached (or the HTTP client not built).
    #[error("cannot reach the tracking server at {url}: {source}")]
    Network {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
    /// The MLflow server answered with an error.
    #[error("tracking server answered {status} to {url}: {code} {message}")]
    Api {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// MLflow's error code (`RESOURCE_DOES_NOT_EXIST`, …).
        code: String,
        /// MLflow's error message.
        message: String,
    },
    /// No such run, model or version (the thing named).
    #[error("{0} not found")]
    NotFound(String),
    /// A local store record is not valid JSON of the expected shape.
    #[error("{path}: unreadable tracking record: {problem}")]
    Corrupt {
        /// The record's file.
        path: PathBuf,
        /// The parse error.
        problem: String,
    },
    /// A request asl refuses or a server answer it cannot read: a bad key, alias or artifact
    /// path, an unsupported `MLFLOW_TRACKING_URI`, … (the message says which).
    #[error("invalid tracking request: {0}")]
    Invalid(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrackingError + '_ {
    move |source| TrackingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A run's lifecycle state, spelled as MLflow spells it (`RUNNING`, `FINISHED`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started and not finished (or a crashed process never finished it).
    Running,
    /// Ended normally.
    Finished,
    /// Ended with an error.
    Failed,
    /// Interrupted (asl marks a cancelled search study's run so).
    Killed,
}

impl RunStatus {
    /// MLflow's name of the state (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }
    /// Reads MLflow's name of a state: `RUNNING` and `SCHEDULED` (not finished either) read as
    /// [`RunStatus::Running`]; a name MLflow does not define reads as `None`.
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "RUNNING" | "SCHEDULED" => Some(RunStatus::Running),
            "FINISHED" => Some(RunStatus::Finished),
            "FAILED" => Some(RunStatus::Failed),
            "KILLED" => Some(RunStatus::Killed),
            _ => None,
        }
    }
}

/// One run as the store knows it. `metrics` holds the latest value of each key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// The store's id of the run.
    pub run_id: String,
    /// The experiment the run belongs to, by name.
    pub experiment: String,
    /// The run's display name.
    pub name: String,
    /// Lifecycle state.
    pub status: RunStatus,
    /// When the run started, in milliseconds since the epoch.
    pub start_time_ms: i64,
    /// When it finished, in milliseconds since the epoch; `None` while running.
    pub end_time_ms: Option<i64>,
    /// Parameters logged (hyperparameters and settings), as strings.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The latest value of each metric.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Tags set on the run.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One logged value of a metric.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricPoint {
    /// The metric's name (see [`check_key`]).
    pub key: String,
    /// The value.
    pub value: f64,
    /// The step it belongs to (the epoch, for training metrics).
    pub step: i64,
    /// When it was logged, in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

impl MetricPoint {
    /// A point stamped with the current time.
    pub fn now(key: &str, value: f64, step: i64) -> MetricPoint {
        MetricPoint {
            key: key.to_string(),
            value,
            step,
            timestamp_ms: now_ms(),
        }
    }
}

/// Which runs `search_runs` returns, best first.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs with status [`RunStatus::Finished`].
    pub finished_only: bool,
    /// Only runs that carry all of these tags with these values.
    pub tags: BTreeMap<String, String>,
    /// Order by this metric, descending (runs without it last).
    pub order_by_metric_desc: Option<String>,
    /// At most this many runs; `None` for all.
    pub max_results: Option<usize>,
}

/// One version of a registered model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number, from 1, in registration order.
    pub version: u32,
    /// The run whose artifacts the version was made from.
    pub run_id: String,
    /// Where the store keeps the files (a folder or an `mlflow-artifacts:` URI).
    pub source: String,
    /// When the version was registered, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Tags set on the version.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The aliases (`champion`, …) that point at this version.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The tracking and registry operations asl needs, implemented by [`LocalStore`] and
/// [`MlflowStore`]. Every write is durable when the call returns.
pub trait TrackingStore: Send + Sync {
    /// Where this store keeps things, for messages ("local store at …", "MLflow at …").
    fn describe(&self) -> String;
    /// Starts a run (status running) in `experiment`, creating the experiment on first use.
    fn create_run(
        &self,
        experiment: &str,
        run_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<RunInfo, TrackingError>;
    /// Logs parameters on a run; keys must pass [`check_key`].
    fn log_params(&self, run_id: &str, params: &BTreeMap<String, String>) -> Result<(), TrackingError>;
    /// Logs metric points on a run; each key's latest value becomes [`RunInfo::metrics`].
    fn log_metrics(&self, run_id: &str, metrics: &[MetricPoint]) -> Result<(), TrackingError>;
    /// Sets (or overwrites) tags on a run.
    fn set_tags(&self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<(), TrackingError>;
    /// Record the datasets a run read. MLflow keeps them as the run's inputs (its UI's
    /// Datasets column); the local store keeps them as the tag [`DATASET_INPUTS_TAG`].
    fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<(), TrackingError> {
        log_inputs_as_tag(self, run_id, inputs)
    }
    /// Copy every file under `local_dir` to the run's artifacts at `artifact_path`.
    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<(), TrackingError>;
    /// Ends a run with `status`, recording its end time.
    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<(), TrackingError>;
    /// One run by id; [`TrackingError::NotFound`] when there is none.
    fn get_run(&self, run_id: &str) -> Result<RunInfo, TrackingError>;
    /// Every logged value of one metric, ordered by step.
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>, TrackingError>;
    /// The runs of `experiment` that match `query`, in its order (none when the experiment does
    /// not exist).
    fn search_runs(&self, experiment: &str, query: &RunQuery) -> Result<Vec<RunInfo>, TrackingError>;

    /// Register the run's artifacts at `artifact_path` as a new version of `model` (created
    /// on first use).
    fn create_model_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ModelVersion, TrackingError>;
    /// All versions of `model`, oldest first, with their aliases.
    fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, TrackingError>;
    /// Points `alias` at `version` of `model` (moving it if it pointed elsewhere); the alias must
    /// pass [`check_alias`].
    fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<(), TrackingError>;
    /// Removes `alias` from `model`.
    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), TrackingError>;
    /// The version `alias` points at, or None when the alias (or the model) does not exist.
    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>, TrackingError>;
    /// Sets (or overwrites) one tag on a version of `model`.
    fn set_version_tag(&self, model: &str, version: u32, key: &str, value: &str) -> Result<(), TrackingError>;
    /// Download the files of a version into the (new or empty) folder `dest`.
    fn download_version(&self, model: &str, version: u32, dest: &Path) -> Result<(), TrackingError>;
}

/// Tag under which a store without dataset inputs keeps them (JSON).
pub const DATASET_INPUTS_TAG: &str = "asl.dataset_inputs";
/// MLflow's tag linking a child run to its parent (a search trial to its study).
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";

/// A dataset a run read, as MLflow's `log-inputs` describes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInput {
    /// `owner/slug` of a collected dataset, or the folder's name.
    pub name: String,
    /// Short content hash (MLflow allows 36 characters).
    pub digest: String,
    /// The kind of source, for MLflow (asl logs `asl`).
    pub source_type: String,
    /// JSON describing where the data came from.
    pub source: String,
    /// JSON: what is in it (counts).
    pub profile: String,
    /// `training`, `evaluation`, …
    pub context: String,
}

/// The standard tags MLflow's own clients set on a run: who ran it, with what program, at
/// which commit (when the build knew it).
pub fn standard_tags() -> BTreeMap<String, String> {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let mut tags = BTreeMap::from([
        ("mlflow.user".to_string(), user),
        ("mlflow.source.name".to_string(), "asl".to_string()),
        ("mlflow.source.type".to_string(), "LOCAL".to_string()),
    ]);
    if let Some(commit) = option_env!("ASL_GIT_COMMIT").filter(|c| !c.is_empty()) {
        tags.insert("mlflow.source.git.commit".to_string(), commit.to_string());
    }
    tags
}

/// The dataset inputs as the tag [`DATASET_INPUTS_TAG`] (JSON): the local store's way, and
/// the fallback for an MLflow server without the inputs API.
pub fn log_inputs_as_tag(
    store: &(impl TrackingStore + ?Sized),
    run_id: &str,
    inputs: &[DatasetInput],
) -> Result<(), TrackingError> {
    let json = serde_json::to_string(inputs).map_err(|e| TrackingError::Invalid(e.to_string()))?;
    store.set_tags(run_id, &BTreeMap::from([(DATASET_INPUTS_TAG.to_string(), json)]))
}

/// Whether `key` is one of the `mlflow.` tags asl sets itself ([`standard_tags`], the parent).
pub fn is_standard_tag(key: &str) -> bool {
    key == PARENT_RUN_TAG || key == "mlflow.user" || key.starts_with("mlflow.source.")
}

/// Environment variable that switches tracking to an MLflow server.
pub const MLFLOW_URI_ENV: &str = "MLFLOW_TRACKING_URI";

/// The store asl uses: MLflow when `MLFLOW_TRACKING_URI` is an http(s) URL, else the local
/// store under `home`.
pub fn open_store(home: &AslHome) -> Result<Box<dyn TrackingStore>, TrackingError> {
    match std::env::var(MLFLOW_URI_ENV).ok().filter(|v| !v.trim().is_empty()) {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            Ok(Box::new(MlflowStore::from_env(&uri)?))
        }
        Some(uri) => Err(TrackingError::Invalid(format!(
            "{MLFLOW_URI_ENV}={uri}: only http(s) MLflow servers are supported; unset it to use the local store"
        ))),
        None => Ok(Box::new(LocalStore::new(home.tracking_dir(), home.registry_dir()))),
    }
}

/// The current time in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// MLflow's key rule (letters, digits, `_ - . space : /`, at most 250), applied to both stores
/// so a run logged locally could be logged to MLflow unchanged.
pub fn check_key(key: &str) -> Result<(), TrackingError> {
    let ok =
        !key.is_empty() && key.len() <= 250 && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-. :/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(TrackingError::Invalid(format!(
            "key {key:?}: use at most 250 letters, digits and _ - . space : /"
        )))
    }
}

/// Alias rule shared by both stores (MLflow's: `[A-Za-z0-9_-]`, not `latest` or `v<digits>`).
pub fn check_alias(alias: &str) -> Result<(), TrackingError> {
    let chars_ok = !alias.is_empty()
        && alias.len() <= 255
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let reserved = alias.eq_ignore_ascii_case("latest")
        || (alias.len() > 1 && alias.starts_with('v') && alias[1..].chars().all(|c| c.is_ascii_digit()));
    if chars_ok && !reserved {
        Ok(())
    } else {
        Err(TrackingError::Invalid(format!(
            "alias {alias:?}: use letters, digits, _ and - (not `latest` or v<N>)"
        )))
    }
}

/// Relative files under `dir`, sorted (artifact upload order).
pub(crate) fn files_under(dir: &Path) -> Result<Vec<PathBuf>, TrackingError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let e = e.map_err(io_err(&d))?;
            let p = e.path();
            let ft = e.file_type().map_err(io_err(&p))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file()
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A relative artifact path with only normal components (no `..`, no root).
pub(crate) fn safe_relative(path: &str) -> Result<PathBuf, TrackingError> {
    let p = Path::new(path);
    if path.is_empty() || p.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        Ok(p.to_path_buf())
    } else {
        Err(TrackingError::Invalid(format!(
            "artifact path {path:?} must be relative without `..`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus;

    #[test]
    fn run_status_reads_mlflow_names_and_refuses_others() {
        for s in [
            RunStatus::Running,
            RunStatus::Finished,
            RunStatus::Failed,
            RunStatus::Killed,
        ] {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunStatus::parse("SCHEDULED"), Some(RunStatus::Running));
        assert_eq!(RunStatus::parse("finished"), None);
        assert_eq!(RunStatus::parse("DONE"), None);
    }
}
