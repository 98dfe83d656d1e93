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
//! ```
use std::path::{Path, PathBuf};

/// Environment variable that selects the state root.
pub const HOME_ENV: &str = "ASL_HOME";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AslHome {
    root: PathBuf,
}

impl AslHome {
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

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder of one dataset (`owner/slug`).
    pub fn dataset_dir(&self, owner: &str, slug: &str) -> PathBuf {
        self.root.join("datasets").join(owner).join(slug)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    pub fn registry_dir(&self) -> PathBuf {
        self.root.join("registry")
    }
}
