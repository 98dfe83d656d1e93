//! Where the served model comes from, and how a model folder is (re)loaded.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use asl_core::infer::{CARD_FILE, Classifier, InferError, WEIGHTS_FILE};
use asl_core::workspace::WorkspaceError;
use asl_core::{ModelRef, Workspace};

/// What to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A model folder (`model.json` + `weights.bpk`).
    Path(PathBuf),
    /// A registry alias (`champion`) or version (`3`), resolved through the tracking store
    /// (local, or MLflow when `MLFLOW_TRACKING_URI` is set) on every reload check, so a moved
    /// alias is followed. Blocking: call it off the async runtime.
    Registry { home: asl_core::AslHome, alias: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Load(#[from] InferError),
    #[error("model registry: {0}")]
    Registry(#[from] WorkspaceError),
    #[error("loading the model panicked: {0}")]
    Panicked(String),
}

impl ModelSource {
    /// The model folder, resolved again on every (re)load so a moved alias is followed.
    pub fn resolve(&self) -> Result<PathBuf, ModelError> {
        match self {
            ModelSource::Path(p) => Ok(p.clone()),
            ModelSource::Registry { home, alias } => {
                Ok(Workspace::new(home.clone()).resolve_model(&ModelRef::Registered(alias.clone()))?)
            }
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Path(p) => write!(f, "{}", p.display()),
            ModelSource::Registry { alias, .. } => write!(f, "registry alias {alias}"),
        }
    }
}

/// What a model folder looked like: modification time and length of the card and the weights.
/// A change in either means a new model (trainers write the card last, but be safe).
pub type Stamp = [(Option<SystemTime>, u64); 2];

pub fn stamp(dir: &Path) -> Option<Stamp> {
    let one = |name: &str| std::fs::metadata(dir.join(name)).map(|m| (m.modified().ok(), m.len()));
    Some([one(CARD_FILE).ok()?, one(WEIGHTS_FILE).unwrap_or((None, 0))])
}

/// Loads a model folder (blocking), with the stamp it had before loading.
pub fn load(dir: &Path, device: &str) -> Result<(Classifier, Option<Stamp>), ModelError> {
    let before = stamp(dir);
    let clf = std::panic::catch_unwind(|| Classifier::load_on(dir, device))
        .map_err(|p| ModelError::Panicked(panic_message(&*p)))??;
    Ok((clf, before))
}

pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
