//! The embedded store: plain files under the state root, written atomically.
//!
//! ```text
//! $ASL_HOME/tracking/runs/<run_id>/run.json        info, params, tags, latest metrics
//!                                  metrics.jsonl   every metric point, appended + fsynced
//!                                  artifacts/…
//! $ASL_HOME/registry/<model>/versions/<N>/version.json + files/…
//!                            aliases.json
//! ```
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::fsutil;

/// The embedded store: runs under one folder, registered models under another (see the
/// module docs for the layout).
pub struct LocalStore {
    tracking: PathBuf,
    registry: PathBuf,
    /// Serialises read-modify-write of run.json within this process (trials run in threads).
    write_lock: Mutex<()>,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = nanos
        ^ (std::process::id() as u64).rotate_left(32)
        ^ RUN_COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = crate::rng::SplitMix64::new(seed);
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

fn valid_id(id: &str) -> Result<(), TrackingError> {
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(TrackingError::NotFound(format!("run {id:?}")))
    }
}

fn valid_model_name(name: &str) -> Result<(), TrackingError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(TrackingError::Invalid(format!(
            "model name {name:?}: use letters, digits, _ - ."
        )))
    }
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct Aliases(BTreeMap<String, u32>);

impl LocalStore {
    /// A store keeping runs under `tracking` and registered models under `registry`; nothing is
    /// created until the first write.
    pub fn new(tracking: impl Into<PathBuf>, registry: impl Into<PathBuf>) -> Self {
        Self {
            tracking: tracking.into(),
            registry: registry.into(),
            write_lock: Mutex::new(()),
        }
    }

    fn run_dir(&self, run_id: &str) -> Result<PathBuf, TrackingError> {
        valid_id(run_id)?;
        let d = self.tracking.join("runs").join(run_id);
        if d.join("run.json").is_file() {
            Ok(d)
        } else {
            Err(TrackingError::NotFound(format!("run {run_id}")))
        }
    }

    fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrackingError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        serde_json::from_slice(&bytes).map_err(|e| TrackingError::Corrupt {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
    }

    fn update_run(&self, run_id: &str, f: impl FnOnce(&mut RunInfo)) -> Result<(), TrackingError> {
        let _g = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let p = self.run_dir(run_id)?.join("run.json");
        let mut info: RunInfo = Self::read_json(&p)?;
        f(&mut info);
        fsutil::write_json_atomic(&p, &info).map_err(io_err(&p))
    }

    fn model_dir(&self, model: &str) -> Result<PathBuf, TrackingError> {
        valid_model_name(model)?;
        Ok(self.registry.join(model))
    }

    /// Cross-process lock on one registered model (version numbering, aliases).
    fn lock_model(&self, model: &str) -> Result<fs::File, TrackingError> {
        let d = self.model_dir(model)?;
        fs::create_dir_all(&d).map_err(io_err(&d))?;
        let p = d.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        f.lock().map_err(io_err(&p))?;
        Ok(f)
    }

    fn aliases(&self, model: &str) -> Result<Aliases, TrackingError> {
        let p = self.model_dir(model)?.join("aliases.json");
        if !p.exists() {
            return Ok(Aliases::default());
        }
        Self::read_json(&p)
    }

    fn version_dir(&self, model: &str, version: u32) -> Result<PathBuf, TrackingError> {
        Ok(self.model_dir(model)?.join("versions").join(version.to_string()))
    }

    fn read_version(&self, model: &str, version: u32) -> Result<ModelVersion, TrackingError> {
        let p = self.version_dir(model, version)?.join("version.json");
        if !p.is_file() {
            return Err(TrackingError::NotFound(format!("version {version} of model {model}")));
        }
        let mut v: ModelVersion = Self::read_json(&p)?;
        v.aliases = self
            .aliases(model)?
            .0
            .iter()
            .filter(|(_, n)| **n == version)
            .map(|(a, _)| a.clone())
            .collect();
        Ok(v)
    }
}

fn copy_tree(src: &Path, dst: &Path) -> Result<(), TrackingError> {
    for rel in files_under(src)? {
        let to = dst.join(&rel);
        let parent = fsutil::parent_dir(&to);
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let from = src.join(&rel);
        fs::copy(&from, &to).map_err(io_err(&from))?;
        fs::File::open(&to).and_then(|f| f.sync_all()).map_err(io_err(&to))?;
    }
    Ok(())
}

impl TrackingStore for LocalStore {
    fn describe(&self) -> String {
        format!("local store at {}", self.tracking.display())
    }

    fn create_run(
        &self,
        experiment: &str,
        run_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<RunInfo, TrackingError> {
        for k in tags.keys() {
            check_key(k)?;
        }
        let run_id = new_run_id();
        let dir = self.tracking.join("runs").join(&run_id);
        fs::create_dir_all(dir.join("artifacts")).map_err(io_err(&dir))?;
        let info = RunInfo {
            run_id,
            experiment: experiment.to_string(),
            name: run_name.to_string(),
            status: RunStatus::Running,
            start_time_ms: now_ms(),
            end_time_ms: None,
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            tags: tags.clone(),
        };
        let p = dir.join("run.json");
        fsutil::write_json_atomic(&p, &info).map_err(io_err(&p))?;
        Ok(info)
    }

    fn log_params(&self, run_id: &str, params: &BTreeMap<String, String>) -> Result<(), TrackingError> {
        let run = self.get_run(run_id)?;
        for (k, v) in params {
            check_key(k)?;
            // MLflow refuses to change a logged param; so does the local store.
            if run.params.get(k).is_some_and(|old| old != v) {
                return Err(TrackingError::Invalid(format!(
                    "param {k} of run {run_id} is already {:?}; params cannot change",
                    run.params[k]
                )));
            }
        }
        self.update_run(run_id, |r| r.params.extend(params.clone()))
    }

    fn log_metrics(&self, run_id: &str, metrics: &[MetricPoint]) -> Result<(), TrackingError> {
        for m in metrics {
            check_key(&m.key)?;
            if !m.value.is_finite() {
                return Err(TrackingError::Invalid(format!(
                    "metric {} = {}: only finite values are logged",
                    m.key, m.value
                )));
            }
        }
        let dir = self.run_dir(run_id)?;
        let p = dir.join("metrics.jsonl");
        let mut lines = Vec::new();
        for m in metrics {
            serde_json::to_writer(&mut lines, m).map_err(|e| TrackingError::Invalid(e.to_string()))?;
            lines.push(b'\n');
        }
        {
            let _g = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&p)
                .map_err(io_err(&p))?;
            // A crash mid-append leaves a torn last line: close it, so the next point is not
            // glued onto it (and lost with it).
            let len = f.metadata().map_err(io_err(&p))?.len();
            if len > 0 {
                use std::io::{Read, Seek, SeekFrom};
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(len - 1))
                    .and_then(|_| f.read_exact(&mut last))
                    .map_err(io_err(&p))?;
                if last[0] != b'\n' {
                    lines.insert(0, b'\n');
                }
            }
            f.write_all(&lines).and_then(|_| f.sync_data()).map_err(io_err(&p))?;
        }
        // Latest value per key = highest step, then newest timestamp (MLflow's rule).
        let history = self.read_metrics(&dir)?;
        self.update_run(run_id, |r| {
            for m in metrics {
                if let Some(latest) = history
                    .iter()
                    .filter(|h| h.key == m.key)
                    .max_by(|a, b| (a.step, a.timestamp_ms).cmp(&(b.step, b.timestamp_ms)))
                {
                    r.metrics.insert(m.key.clone(), latest.value);
                }
            }
        })
    }

    fn set_tags(&self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<(), TrackingError> {
        for k in tags.keys() {
            check_key(k)?;
        }
        self.update_run(run_id, |r| r.tags.extend(tags.clone()))
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<(), TrackingError> {
        let rel = safe_relative(artifact_path)?;
        let dst = self.run_dir(run_id)?.join("artifacts").join(rel);
        copy_tree(local_dir, &dst)
    }

    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<(), TrackingError> {
        self.update_run(run_id, |r| {
            r.status = status;
            r.end_time_ms = Some(now_ms());
        })
    }

    fn get_run(&self, run_id: &str) -> Result<RunInfo, TrackingError> {
        Self::read_json(&self.run_dir(run_id)?.join("run.json"))
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>, TrackingError> {
        let mut h: Vec<MetricPoint> = self
            .read_metrics(&self.run_dir(run_id)?)?
            .into_iter()
            .filter(|m| m.key == key)
            .collect();
        h.sort_by_key(|m| (m.step, m.timestamp_ms));
        Ok(h)
    }

    fn search_runs(&self, experiment: &str, query: &RunQuery) -> Result<Vec<RunInfo>, TrackingError> {
        let root = self.tracking.join("runs");
        let mut runs = Vec::new();
        let entries = match fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(runs),
            Err(e) => return Err(TrackingError::Io { path: root, source: e }),
        };
        for e in entries {
            let p = e.map_err(io_err(&root))?.path().join("run.json");
            // A run folder whose run.json was never written (crash at creation) is not a run.
            let Ok(info) = Self::read_json::<RunInfo>(&p) else {
                continue;
            };
            let wanted = info.experiment == experiment
                && (!query.finished_only || info.status == RunStatus::Finished)
                && query.tags.iter().all(|(k, v)| info.tags.get(k) == Some(v));
            if wanted {
                runs.push(info);
            }
        }
        match &query.order_by_metric_desc {
            Some(key) => runs.sort_by(|a, b| match (a.metrics.get(key), b.metrics.get(key)) {
                (Some(x), Some(y)) => y.total_cmp(x).then(b.start_time_ms.cmp(&a.start_time_ms)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => b.start_time_ms.cmp(&a.start_time_ms),
            }),
            None => runs.sort_by_key(|r| std::cmp::Reverse(r.start_time_ms)),
        }
        if let Some(n) = query.max_results {
            runs.truncate(n);
        }
        Ok(runs)
    }

    fn create_model_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ModelVersion, TrackingError> {
        let src = self
            .run_dir(run_id)?
            .join("artifacts")
            .join(safe_relative(artifact_path)?);
        if !src.is_dir() {
            return Err(TrackingError::NotFound(format!(
                "artifacts {artifact_path:?} of run {run_id}"
            )));
        }
        let _lock = self.lock_model(model)?;
        let next = self.list_versions(model)?.last().map(|v| v.version + 1).unwrap_or(1);
        let versions = self.model_dir(model)?.join("versions");
        fs::create_dir_all(&versions).map_err(io_err(&versions))?;
        // Under the model's lock: a `.version-*` folder here is a killed run's.
        fsutil::sweep_stale(&versions, ".version-").map_err(io_err(&versions))?;
        // Build the version in a temp folder, then rename: a crash leaves no half version.
        let tmp = tempfile::Builder::new()
            .prefix(".version-")
            .tempdir_in(&versions)
            .map_err(io_err(&versions))?;
        copy_tree(&src, &tmp.path().join("files"))?;
        let final_dir = versions.join(next.to_string());
        let v = ModelVersion {
            name: model.to_string(),
            version: next,
            run_id: run_id.to_string(),
            source: final_dir.join("files").display().to_string(),
            created_ms: now_ms(),
            tags: tags.clone(),
            aliases: Vec::new(),
        };
        let p = tmp.path().join("version.json");
        fsutil::write_json_atomic(&p, &v).map_err(io_err(&p))?;
        let tmp_path = tmp.keep();
        fs::rename(&tmp_path, &final_dir).map_err(io_err(&final_dir))?;
        fsutil::sync_dir(&versions).map_err(io_err(&versions))?;
        Ok(v)
    }

    fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, TrackingError> {
        let dir = self.model_dir(model)?.join("versions");
        let mut numbers: Vec<u32> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TrackingError::Io { path: dir, source: e }),
        };
        numbers.sort_unstable();
        numbers.into_iter().map(|n| self.read_version(model, n)).collect()
    }

    fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<(), TrackingError> {
        check_alias(alias)?;
        let _lock = self.lock_model(model)?;
        self.read_version(model, version)?;
        let mut a = self.aliases(model)?;
        a.0.insert(alias.to_string(), version);
        let p = self.model_dir(model)?.join("aliases.json");
        fsutil::write_json_atomic(&p, &a).map_err(io_err(&p))
    }

    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), TrackingError> {
        let _lock = self.lock_model(model)?;
        let mut a = self.aliases(model)?;
        a.0.remove(alias);
        let p = self.model_dir(model)?.join("aliases.json");
        fsutil::write_json_atomic(&p, &a).map_err(io_err(&p))
    }

    fn alias_version(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>, TrackingError> {
        match self.aliases(model)?.0.get(alias) {
            Some(&v) => self.read_version(model, v).map(Some),
            None => Ok(None),
        }
    }

    fn set_version_tag(&self, model: &str, version: u32, key: &str, value: &str) -> Result<(), TrackingError> {
        check_key(key)?;
        let _lock = self.lock_model(model)?;
        let mut v = self.read_version(model, version)?;
        v.tags.insert(key.to_string(), value.to_string());
        v.aliases.clear();
        let p = self.version_dir(model, version)?.join("version.json");
        fsutil::write_json_atomic(&p, &v).map_err(io_err(&p))
    }

    fn download_version(&self, model: &str, version: u32, dest: &Path) -> Result<(), TrackingError> {
        self.read_version(model, version)?;
        copy_tree(&self.version_dir(model, version)?.join("files"), dest)
    }
}

impl LocalStore {
    /// Metric points of a run; a torn last line (crash mid-append) is ignored.
    fn read_metrics(&self, dir: &Path) -> Result<Vec<MetricPoint>, TrackingError> {
        let p = dir.join("metrics.jsonl");
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TrackingError::Io { path: p, source: e }),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}
