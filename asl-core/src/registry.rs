//! The model registry on top of a [`TrackingStore`]: versions with `champion` / `challenger`
//! aliases, selection of the best run, a promotion guard, rollback, and local copies of
//! registered versions for serving.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::Digest;

use crate::AslHome;
use crate::fsutil;
use crate::tracking::{ModelVersion, RunInfo, RunQuery, TrackingError, TrackingStore};

/// The registered model asl trains and serves.
pub const MODEL_NAME: &str = "asl-fingerspelling";
/// Alias of the version that is served; only [`Registry::promote`] (directly or through the
/// guard) and [`Registry::rollback`] move it.
pub const CHAMPION: &str = "champion";
/// Alias of the last version the promotion guard judged and did not promote (removed when
/// that version is promoted).
pub const CHALLENGER: &str = "challenger";
/// Version tag: when (ms since the epoch) the version last became champion. Rollback uses it.
pub const CHAMPION_SINCE_TAG: &str = "asl.champion_since";
/// Run metric the selection ranks by: validation accuracy of the saved weights.
pub const SELECTION_METRIC: &str = "final_val_accuracy";
/// Tie-breaker: single-image latency in milliseconds (lower wins).
pub const LATENCY_METRIC: &str = "latency_ms";
/// Run artifact folder that holds the model folder.
pub const MODEL_ARTIFACT: &str = "model";

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tracking store behind the registry failed.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    /// No version matches a number or alias.
    #[error("model {model} has no version {what}")]
    NoSuchVersion {
        /// The registered model's name.
        model: String,
        /// The version asked for: its number, or `with alias "..."`.
        what: String,
    },
    /// Rollback found no champion, or no earlier champion (the registered model named).
    #[error("model {0} has no champion to roll back from, or no earlier champion to roll back to")]
    NothingToRollBack(String),
    /// The caller's held-out evaluation failed inside the promotion guard.
    #[error("evaluating {what} on the held-out split failed: {source}")]
    Evaluation {
        /// The model evaluated (`version N` or `champion version N`).
        what: String,
        /// The caller's error.
        #[source]
        source: BoxError,
    },
    /// Making the local copy of a version failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The error of a caller's held-out evaluation (the guard does not know how it evaluates).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The best run: highest [`SELECTION_METRIC`], ties broken by lower [`LATENCY_METRIC`].
pub fn best_run(
    store: &dyn TrackingStore,
    experiment: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Option<RunInfo>, TrackingError> {
    let runs = store.search_runs(
        experiment,
        &RunQuery {
            finished_only: true,
            tags: tags.clone(),
            order_by_metric_desc: Some(SELECTION_METRIC.into()),
            max_results: None,
        },
    )?;
    Ok(select_best(runs))
}

/// Selection rule on already-fetched runs (runs without the metric never win).
pub fn select_best(runs: Vec<RunInfo>) -> Option<RunInfo> {
    let key = |r: &RunInfo| {
        (
            r.metrics.get(SELECTION_METRIC).copied(),
            r.metrics.get(LATENCY_METRIC).copied().unwrap_or(f64::INFINITY),
        )
    };
    runs.into_iter()
        .filter(|r| key(r).0.is_some_and(f64::is_finite))
        .max_by(|a, b| {
            let (acc_a, lat_a) = key(a);
            let (acc_b, lat_b) = key(b);
            acc_a
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&acc_b.unwrap_or(f64::NEG_INFINITY))
                .then(lat_b.total_cmp(&lat_a))
        })
}

/// What the promotion guard decided, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionDecision {
    /// The version the guard judged.
    pub version: u32,
    /// Whether it is now the champion (otherwise it became the challenger).
    pub promoted: bool,
    /// Its accuracy on the held-out split (0–1).
    pub candidate_accuracy: f64,
    /// The champion it was compared with; `None` when there was none.
    pub champion_version: Option<u32>,
    /// The champion's held-out accuracy (0–1); `None` when there was no champion.
    pub champion_accuracy: Option<f64>,
    /// Why, in one sentence for a person (with both accuracies in per cent).
    pub reason: String,
}

/// The versions and aliases of one registered model (default [`MODEL_NAME`]), kept in a
/// tracking store, with local copies of versions under the state root's cache.
pub struct Registry<'a> {
    store: &'a dyn TrackingStore,
    home: &'a AslHome,
    model: String,
}

impl<'a> Registry<'a> {
    /// The registry of [`MODEL_NAME`] in `store`; local copies go under `home`'s cache folder.
    pub fn new(store: &'a dyn TrackingStore, home: &'a AslHome) -> Self {
        Self {
            store,
            home,
            model: MODEL_NAME.to_string(),
        }
    }

    /// The same registry for another registered model name.
    pub fn with_model_name(mut self, name: &str) -> Self {
        self.model = name.to_string();
        self
    }

    /// The registered model's name.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// The tracking store the registry is kept in.
    pub fn store(&self) -> &dyn TrackingStore {
        self.store
    }

    /// Register the model folder a run logged under [`MODEL_ARTIFACT`]. A run registered
    /// before gets its existing version back (the pipeline may re-run after a crash).
    pub fn register_run(&self, run: &RunInfo) -> Result<ModelVersion, RegistryError> {
        if let Some(v) = self.versions()?.into_iter().find(|v| v.run_id == run.run_id) {
            return Ok(v);
        }
        let mut tags = BTreeMap::new();
        for key in [
            "asl.dataset",
            "asl.dataset_version",
            "asl.cache_hash",
            "asl.code_version",
        ] {
            if let Some(v) = run.tags.get(key) {
                tags.insert(key.to_string(), v.clone());
            }
        }
        if let Some(acc) = run.metrics.get(SELECTION_METRIC) {
            tags.insert("asl.val_accuracy".into(), format!("{acc:.6}"));
        }
        Ok(self
            .store
            .create_model_version(&self.model, &run.run_id, MODEL_ARTIFACT, &tags)?)
    }

    /// Every version of the registered model.
    pub fn versions(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        Ok(self.store.list_versions(&self.model)?)
    }

    /// The version `alias` points to, or `None` when it is not set.
    pub fn alias(&self, alias: &str) -> Result<Option<ModelVersion>, RegistryError> {
        Ok(self.store.alias_version(&self.model, alias)?)
    }

    fn version(&self, n: u32) -> Result<ModelVersion, RegistryError> {
        self.versions()?
            .into_iter()
            .find(|v| v.version == n)
            .ok_or_else(|| RegistryError::NoSuchVersion {
                model: self.model.clone(),
                what: n.to_string(),
            })
    }

    /// `champion`, `challenger`, `3` or `v3` → the version.
    pub fn resolve(&self, alias_or_version: &str) -> Result<ModelVersion, RegistryError> {
        let digits = alias_or_version.strip_prefix('v').unwrap_or(alias_or_version);
        if let Ok(n) = digits.parse::<u32>() {
            return self.version(n);
        }
        self.alias(alias_or_version)?
            .ok_or_else(|| RegistryError::NoSuchVersion {
                model: self.model.clone(),
                what: format!("with alias {alias_or_version:?}"),
            })
    }

    /// A local copy of a version's model folder (downloaded once, atomically), ready for
    /// `Classifier::load`.
    pub fn fetch(&self, version: &ModelVersion) -> Result<PathBuf, RegistryError> {
        let store_key = hex8(&self.store.describe());
        let root = self.home.cache_dir().join("registry").join(store_key).join(&self.model);
        let dest = root.join(version.version.to_string());
        if dest.join(crate::infer::CARD_FILE).is_file() {
            return Ok(dest);
        }
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        // One fetch at a time per model (across processes); under that lock a `.download-*`
        // folder is a killed run's.
        let lock_path = root.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        if dest.join(crate::infer::CARD_FILE).is_file() {
            return Ok(dest);
        }
        fsutil::sweep_stale(&root, ".download-").map_err(io_err(&root))?;
        let tmp = tempfile::Builder::new()
            .prefix(".download-")
            .tempdir_in(&root)
            .map_err(io_err(&root))?;
        self.store.download_version(&self.model, version.version, tmp.path())?;
        let tmp_path = tmp.keep();
        if dest.exists() {
            fs::remove_dir_all(&dest).map_err(io_err(&dest))?;
        }
        fs::rename(&tmp_path, &dest).map_err(io_err(&dest))?;
        fsutil::sync_dir(&root).map_err(io_err(&root))?;
        Ok(dest)
    }

    /// Make `version` the champion (manual promotion, or rollback to it).
    pub fn promote(&self, version: u32) -> Result<ModelVersion, RegistryError> {
        let v = self.version(version)?;
        self.store.set_version_tag(
            &self.model,
            version,
            CHAMPION_SINCE_TAG,
            &crate::tracking::now_ms().to_string(),
        )?;
        self.store.set_alias(&self.model, CHAMPION, version)?;
        if self.alias(CHALLENGER)?.is_some_and(|c| c.version == version) {
            self.store.delete_alias(&self.model, CHALLENGER)?;
        }
        Ok(v)
    }

    /// Move `champion` back to the version that held it before the current one.
    pub fn rollback(&self) -> Result<ModelVersion, RegistryError> {
        let current = self
            .alias(CHAMPION)?
            .ok_or_else(|| RegistryError::NothingToRollBack(self.model.clone()))?;
        let since = |v: &ModelVersion| v.tags.get(CHAMPION_SINCE_TAG).and_then(|s| s.parse::<i64>().ok());
        let current_since = since(&current).unwrap_or(i64::MAX);
        let previous = self
            .versions()?
            .into_iter()
            .filter(|v| v.version != current.version)
            .filter_map(|v| since(&v).filter(|&t| t < current_since).map(|t| (t, v)))
            .max_by_key(|(t, _)| *t)
            .map(|(_, v)| v)
            .ok_or_else(|| RegistryError::NothingToRollBack(self.model.clone()))?;
        // Roll back without refreshing the timestamp, so a second rollback goes further back.
        self.store.set_alias(&self.model, CHAMPION, previous.version)?;
        self.store
            .set_version_tag(&self.model, current.version, CHAMPION_SINCE_TAG, "rolled-back")?;
        Ok(previous)
    }

    /// The promotion guard: `version` becomes champion only if its accuracy on the held-out
    /// split (computed by `heldout_accuracy` on a local copy of each model) beats the current
    /// champion's; otherwise it becomes `challenger`.
    pub fn promote_if_better<E: Into<BoxError>>(
        &self,
        version: u32,
        heldout_accuracy: &mut dyn FnMut(&Path) -> Result<f64, E>,
    ) -> Result<PromotionDecision, RegistryError> {
        let candidate = self.version(version)?;
        let eval = |what: String, f: &mut dyn FnMut(&Path) -> Result<f64, E>, dir: &Path| {
            f(dir).map_err(|e| RegistryError::Evaluation { what, source: e.into() })
        };
        let cand_dir = self.fetch(&candidate)?;
        let cand_acc = eval(format!("version {version}"), heldout_accuracy, &cand_dir)?;
        let champion = self.alias(CHAMPION)?;
        let (champion_version, champion_accuracy, promoted, reason) = match &champion {
            None => (None, None, true, "there is no champion yet".to_string()),
            Some(c) if c.version == version => (
                Some(c.version),
                Some(cand_acc),
                true,
                "it already is the champion".to_string(),
            ),
            Some(c) => {
                let dir = self.fetch(c)?;
                let acc = eval(format!("champion version {}", c.version), heldout_accuracy, &dir)?;
                if cand_acc > acc {
                    (
                        Some(c.version),
                        Some(acc),
                        true,
                        format!(
                            "it beats champion v{} on the held-out split: {:.2}% vs {:.2}%",
                            c.version,
                            cand_acc * 100.0,
                            acc * 100.0
                        ),
                    )
                } else {
                    (
                        Some(c.version),
                        Some(acc),
                        false,
                        format!(
                            "it does not beat champion v{} on the held-out split: {:.2}% vs {:.2}%",
                            c.version,
                            cand_acc * 100.0,
                            acc * 100.0
                        ),
                    )
                }
            }
        };
        if promoted {
            if champion.as_ref().map(|c| c.version) != Some(version) {
                self.promote(version)?;
            }
        } else {
            self.store.set_alias(&self.model, CHALLENGER, version)?;
        }
        Ok(PromotionDecision {
            version,
            promoted,
            candidate_accuracy: cand_acc,
            champion_version,
            champion_accuracy,
            reason,
        })
    }
}

fn hex8(s: &str) -> String {
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
