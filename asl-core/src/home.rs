//! The one root under which asl keeps all of its state (`--home` / `ASL_HOME`).
//!
//! Layout (documented in README.md, "State layout"):
//!
//! ```text
//! $ASL_HOME/
//!   datasets/<owner>/<slug>/
//!     versions/<N>/            extracted archive of version N (complete only with its manifest)
//!     <N>.manifest.json        the completion marker and manifest, written last
//!     downloads/<N>.zip.part   an interrupted download, with <N>.zip.part.json (resume state)
//!   cache/                     decoded image caches (prep)
//!   runs/                      training runs and checkpoints
//!   models/                    trained model folders
//!   registry/                  model versions and aliases
//!   tracking/                  the local tracking store (runs, metrics, artifacts)
//!   hpo/<study>/               one search study (study.json, its trials)
//!   monitor/predictions.sqlite the server's prediction log
//!   eval-data/<digest>/        zips given to `asl eval --data`, extracted once
//!   demo/                      the demo's synthetic archive and word zip
//! ```
//!
//! Every path under the root is named here and nowhere else.
use std::path::{Path, PathBuf};

/// Environment variable that selects the state root.
pub const HOME_ENV: &str = "ASL_HOME";

/// The state root (`$ASL_HOME`) and the paths of everything under it. Only names paths:
/// nothing is created or checked here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AslHome {
    root: PathBuf,
}

impl AslHome {
    /// The state root at `root` (used as given, not resolved).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `explicit` (a `--home` flag) wins, then `$ASL_HOME`, then `$XDG_DATA_HOME/asl`,
    /// then `~/.local/share/asl`, and as a last resort `./.asl-home`.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        if let Some(p) = explicit {
            return Self::new(p);
        }
        if let Some(p) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Self::new(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Self::new(PathBuf::from(p).join("asl"));
        }
        if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            return Self::new(PathBuf::from(h).join(".local/share/asl"));
        }
        Self::new(".asl-home")
    }

    /// The state root's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder of one dataset (`owner/slug`).
    pub fn dataset_dir(&self, owner: &str, slug: &str) -> PathBuf {
        self.root.join("datasets").join(owner).join(slug)
    }

    /// `cache/`: the decoded image caches, and local copies of registered model versions.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// `runs/`: training runs and their checkpoints (a run resumes from its folder).
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `models/`: trained model folders.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// `registry/`: the local tracking store's model versions and aliases.
    pub fn registry_dir(&self) -> PathBuf {
        self.root.join("registry")
    }

    /// `tracking/`: the local tracking store's runs, metrics and artifacts.
    pub fn tracking_dir(&self) -> PathBuf {
        self.root.join("tracking")
    }

    /// Folder of one search study.
    pub fn study_dir(&self, study: &str) -> PathBuf {
        self.root.join("hpo").join(study)
    }

    /// Where `asl serve` logs predictions unless told otherwise, and where `asl monitor
    /// report` reads them.
    pub fn prediction_log(&self) -> PathBuf {
        self.root.join("monitor").join("predictions.sqlite")
    }

    /// Where a zip given to `asl eval --data` is extracted, by the digest of its bytes.
    pub fn eval_data_dir(&self, digest: &str) -> PathBuf {
        self.root.join("eval-data").join(digest)
    }

    /// `demo/`: the demo's synthetic archive and word zip.
    pub fn demo_dir(&self) -> PathBuf {
        self.root.join("demo")
    }
}
