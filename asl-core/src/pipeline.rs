//! `asl pipeline`: collect → prep → hpo → register, each step skipped when its inputs have
//! not changed (dataset version, cache hash, finished study, registered run), each reported
//! with what it did and how long it took. Every step's output is written atomically by its
//! own module, so a run killed anywhere continues from the last finished step.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::AslHome;
use crate::dataset::{self, CollectOptions, CollectOutcome, DatasetError, DatasetRef, DatasetStore, KaggleClient};
use crate::hpo::{CacheProvider, HpoError, StudyConfig, Trial, TrialState};
use crate::prep::{self, PrepConfig};
use crate::progress::{Cancel, NoProgress};
use crate::registry::{PromotionDecision, Registry};
use crate::tracking::{ModelVersion, TrackingStore};
use crate::workspace::{ImageSource, Workspace, WorkspaceError, heldout_accuracy, study_name};

/// The step that failed, and why; what earlier steps wrote is kept.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Collecting (or importing) the dataset failed.
    #[error("pipeline step `collect` failed: {0} (run again to continue)")]
    Collect(#[source] DatasetError),
    /// Building the image cache failed.
    #[error("pipeline step `prep` failed: {0} (the collected data is kept; run again to continue)")]
    Prep(#[source] WorkspaceError),
    /// The search failed or was cancelled.
    #[error("pipeline step `hpo` failed: {0} (finished trials are kept; run again to continue)")]
    Hpo(#[source] HpoError),
    /// Registering the best trial's run, or the promotion guard, failed.
    #[error("pipeline step `register` failed: {0} (the study is kept; run again to continue)")]
    Register(#[source] WorkspaceError),
    /// There is nothing to register: no complete trial, or the best trial has no tracked run.
    #[error("pipeline step `register` failed: {0}")]
    NothingToRegister(String),
}

impl PipelineError {
    /// The failed step's name: `collect`, `prep`, `hpo` or `register`.
    pub fn step(&self) -> &'static str {
        match self {
            PipelineError::Collect(_) => "collect",
            PipelineError::Prep(_) => "prep",
            PipelineError::Hpo(_) => "hpo",
            PipelineError::Register(_) | PipelineError::NothingToRegister(_) => "register",
        }
    }
}

fn register_err(e: impl Into<WorkspaceError>) -> PipelineError {
    PipelineError::Register(e.into())
}

/// Where the dataset comes from.
pub enum DataSource {
    /// Kaggle's API (the real flow).
    Kaggle(KaggleClient),
    /// A local archive in Kaggle's layout, imported as version 1 (offline and demo use).
    Zip(PathBuf),
}

/// What one pipeline run works on.
pub struct PipelineConfig {
    /// The Kaggle dataset (`owner/slug`); it also names the local store and the study.
    pub dataset: DatasetRef,
    /// Where the images come from.
    pub source: DataSource,
    /// How the default cache is built (the search opens other sizes from the same source).
    pub prep: PrepConfig,
    /// The search run in the `hpo` step.
    pub study: StudyConfig,
    /// Attempts of a network step before the pipeline gives up (the client also retries
    /// each request).
    pub network_attempts: usize,
}

/// One step's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step's name: `collect`, `prep`, `hpo` or `register`.
    pub step: &'static str,
    /// `ran` or `skipped`.
    pub action: &'static str,
    /// What the step did, in one line (version, hash, best trial, promotion decision).
    pub detail: String,
    /// Wall-clock seconds the step took.
    pub seconds: f64,
}

/// What a pipeline run did, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineOutcome {
    /// One report per step, in order.
    pub steps: Vec<StepReport>,
    /// The dataset version the run used.
    pub dataset_version: u32,
    /// Hash of the default-size cache ([`crate::prep::CacheHeader::hash`]).
    pub cache_hash: String,
    /// Name of the study searched.
    pub study: String,
    /// The registry version of the best trial's run (always set on success).
    pub registered_version: Option<u32>,
    /// The promotion guard's decision; `None` when that run was already registered, so
    /// aliases were left alone.
    pub promotion: Option<PromotionDecision>,
}

/// Step 1: the dataset, imported from a zip or collected from Kaggle (retried on network trouble).
fn collect_step(
    home: &AslHome,
    cfg: &PipelineConfig,
    say: &(dyn Fn(&str) + Sync),
    cancel: &Cancel,
) -> Result<(dataset::Manifest, &'static str, String), DatasetError> {
    let store = DatasetStore::new(home, &cfg.dataset);
    match &cfg.source {
        DataSource::Zip(zip) => {
            let before = store.manifest(1).ok().flatten();
            let m = store.import_zip(zip, 1, false, &Default::default(), &NoProgress)?;
            let same = before.is_some_and(|b| b.archive_md5 == m.archive_md5);
            let detail = format!(
                "{} version {} from {} ({} images)",
                cfg.dataset,
                m.version,
                zip.display(),
                m.total_images()
            );
            Ok((m, if same { "skipped" } else { "ran" }, detail))
        }
        DataSource::Kaggle(client) => {
            let opts = CollectOptions::new(cfg.dataset.clone());
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                match dataset::collect(home, client, &opts, &NoProgress, cancel) {
                    Ok(o) => break o,
                    Err(e) if attempt < cfg.network_attempts.max(1) && !cancel.is_cancelled() && e.is_transient() => {
                        say(&format!(
                            "[collect] attempt {attempt} failed: {e}; retrying in {}s",
                            5 * attempt
                        ));
                        std::thread::sleep(Duration::from_secs(5 * attempt as u64));
                    }
                    Err(e) => return Err(e),
                }
            };
            Ok(match outcome {
                CollectOutcome::UpToDate(m) => {
                    let detail = format!("{} version {} is current", cfg.dataset, m.version);
                    (m, "skipped", detail)
                }
                CollectOutcome::Downloaded { manifest, download } => {
                    let detail = format!(
                        "downloaded {} version {} ({} bytes)",
                        cfg.dataset, manifest.version, download.bytes
                    );
                    (manifest, "ran", detail)
                }
            })
        }
    }
}

/// Run the pipeline once.
pub fn run_pipeline(
    home: &AslHome,
    cfg: &PipelineConfig,
    store: &dyn TrackingStore,
    say: &(dyn Fn(&str) + Sync),
    cancel: &Cancel,
) -> Result<PipelineOutcome, PipelineError> {
    let ws = Workspace::new(home.clone());
    let cx = StepContext {
        home,
        cfg,
        store,
        say,
        cancel,
    };
    let mut steps = Vec::new();
    let mut report = |step: &'static str, action: &'static str, detail: String, t: Instant| {
        let r = StepReport {
            step,
            action,
            detail,
            seconds: t.elapsed().as_secs_f64(),
        };
        say(&format!("[{}] {} — {} ({:.1}s)", r.step, r.action, r.detail, r.seconds));
        steps.push(r);
    };

    // 1. collect
    let t = Instant::now();
    let (manifest, action, detail) = collect_step(home, cfg, say, cancel).map_err(PipelineError::Collect)?;
    report("collect", action, detail, t);

    // 2. prep (the default size; the search opens other sizes on demand from the same source)
    let t = Instant::now();
    let (source, cache_hash, action, detail) = cx.prep_step(&manifest)?;
    report("prep", action, detail, t);
    let caches = ws.caches(&source, &cfg.prep, cancel);

    // 3. hpo
    let t = Instant::now();
    let name = study_name(&cfg.dataset.slug, manifest.version, &cache_hash, &cfg.study);
    let (best, action, detail) = cx.hpo_step(&ws, &caches, &name)?;
    report("hpo", action, detail, t);

    // 4. register + promotion guard
    let t = Instant::now();
    let Some(best) = best else {
        return Err(PipelineError::NothingToRegister(
            "the study has no complete trial to register".into(),
        ));
    };
    let (version, decision, detail) = cx.register_step(&caches, &best)?;
    let action = if decision.is_none() { "skipped" } else { "ran" };
    report("register", action, detail, t);
    Ok(PipelineOutcome {
        steps,
        dataset_version: manifest.version,
        cache_hash,
        study: name,
        registered_version: Some(version.version),
        promotion: decision,
    })
}

/// What the steps after collect share.
struct StepContext<'a> {
    home: &'a AslHome,
    cfg: &'a PipelineConfig,
    store: &'a dyn TrackingStore,
    say: &'a (dyn Fn(&str) + Sync),
    cancel: &'a Cancel,
}

impl StepContext<'_> {
    /// Step 2: the cache at the default size. Returns the image source the search's caches
    /// open from, the cache's hash, and the step's action and detail.
    fn prep_step(
        &self,
        manifest: &dataset::Manifest,
    ) -> Result<(ImageSource, String, &'static str, String), PipelineError> {
        let data_dir = DatasetStore::new(self.home, &self.cfg.dataset).data_dir(manifest);
        let layout = dataset::layout::scan(&data_dir).map_err(|e| PipelineError::Prep(e.into()))?;
        let source = ImageSource::collected(layout, manifest.clone(), &self.cfg.dataset);
        let prepared = prep::prepare(
            &self.home.cache_dir(),
            &source.prep_source(),
            &self.cfg.prep,
            false,
            &NoProgress,
            self.cancel,
        )
        .map_err(|e| PipelineError::Prep(e.into()))?;
        let cache_hash = prepared.cache.header.hash();
        let action = if prepared.built { "ran" } else { "skipped" };
        let detail = format!(
            "cache {cache_hash}: {} train + {} held-out images",
            prepared.cache.header.n_train, prepared.cache.header.n_val
        );
        Ok((source, cache_hash, action, detail))
    }

    /// Step 3: the study `name`, run until its budget is spent. Returns its best trial, and
    /// the step's action (skipped when no trial finished) and detail.
    fn hpo_step(
        &self,
        ws: &Workspace,
        caches: &CacheProvider,
        name: &str,
    ) -> Result<(Option<Trial>, &'static str, String), PipelineError> {
        let finished = |s: &crate::hpo::Study| s.trials.iter().filter(|t| t.state != TrialState::Running).count();
        let trials_before = crate::hpo::Study::load(&self.home.study_dir(name))
            .map_err(PipelineError::Hpo)?
            .as_ref()
            .map(finished)
            .unwrap_or(0);
        let say = self.say;
        let trial_say = |line: &str| say(&format!("[hpo] {line}"));
        let study = ws
            .run_named_study(caches, name, &self.cfg.study, self.store, &trial_say, self.cancel)
            .map_err(PipelineError::Hpo)?;
        let ran = finished(&study) - trials_before;
        let best = study.best().cloned();
        let best_line = best
            .as_ref()
            .map(|b| format!("best trial {} at {:.2}%", b.number, b.value.unwrap_or(0.0) * 100.0))
            .unwrap_or_else(|| "no complete trial".into());
        let action = if ran > 0 { "ran" } else { "skipped" };
        let detail = format!(
            "study {name}: {ran} new trials, {} in all; {best_line}",
            study.trials.len()
        );
        Ok((best, action, detail))
    }

    /// Step 4: registers the run of the best trial and, when that makes a new version, runs
    /// the promotion guard on it. Returns the version, the guard's decision and the detail.
    fn register_step(
        &self,
        caches: &CacheProvider,
        best: &Trial,
    ) -> Result<(ModelVersion, Option<PromotionDecision>, String), PipelineError> {
        let store = self.store;
        let run_id = best
            .run_id
            .clone()
            .ok_or_else(|| PipelineError::NothingToRegister(format!("trial {} has no tracked run", best.number)))?;
        let registry = Registry::new(store, self.home);
        let run = store.get_run(&run_id).map_err(register_err)?;
        let already = registry
            .versions()
            .map_err(register_err)?
            .into_iter()
            .find(|v| v.run_id == run_id);
        let version = match &already {
            Some(v) => v.clone(),
            None => registry.register_run(&run).map_err(register_err)?,
        };
        // The guard runs once, when the version is new: aliases moved by hand since (a rollback)
        // are the user's decision and stay.
        let decision = match already {
            Some(_) => None,
            None => Some(
                registry
                    .promote_if_better(version.version, &mut |dir| heldout_accuracy(caches, dir))
                    .map_err(register_err)?,
            ),
        };
        let detail = match &decision {
            Some(d) => format!(
                "{} v{} ({}): {}, because {}",
                registry.model_name(),
                version.version,
                store.describe(),
                if d.promoted { "champion" } else { "challenger" },
                d.reason
            ),
            None => format!(
                "{} v{} already registered from run {run_id} ({}); aliases unchanged",
                registry.model_name(),
                version.version,
                store.describe()
            ),
        };
        Ok((version, decision, detail))
    }
}

/// `--watch`: run, sleep `interval`, run again (a new Kaggle version invalidates the later
/// steps by changing their inputs), until cancelled. A failed round is reported and retried
/// at the next interval.
pub fn watch(
    home: &AslHome,
    cfg: &PipelineConfig,
    store: &dyn TrackingStore,
    interval: Duration,
    say: &(dyn Fn(&str) + Sync),
    cancel: &Cancel,
) {
    while !cancel.is_cancelled() {
        match run_pipeline(home, cfg, store, say, cancel) {
            Ok(o) => say(&format!(
                "[watch] round done: dataset v{}, registered v{:?}; next check in {}",
                o.dataset_version,
                o.registered_version,
                crate::pipeline::human_duration(interval)
            )),
            Err(e) => say(&format!(
                "[watch] round failed: {e}; next check in {}",
                human_duration(interval)
            )),
        }
        let until = Instant::now() + interval;
        while Instant::now() < until && !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(200).min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// A duration that is not `<number><unit>`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// `90s`, `15m`, `6h`, `1d` → a duration.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    parse_duration_text(s).map_err(DurationError)
}

fn parse_duration_text(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, like 90s, 15m, 6h or 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{s:?}: must be positive"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?}: too long"))
}

/// A duration in the largest whole unit that fits, as [`parse_duration`] reads it back:
/// `1d`, `6h`, `15m`, else seconds (`90s`); sub-second parts are dropped.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 && s > 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Tags that identify pipeline trials (used by tests and `asl runs`).
pub fn study_tags(study: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("asl.study".to_string(), study.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(6 * 3600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("120").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("6 hours").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(human_duration(Duration::from_secs(6 * 3600)), "6h");
    }
}
