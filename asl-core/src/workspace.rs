//! The use-case layer: the operations asl offers on one state root, each written once.
//!
//! A frontend (asl-cli, asl-http, asl-py) turns its arguments into a [`DataSpec`], a
//! [`ModelRef`] or a request, makes one call on a [`Workspace`], and renders the answer.
//! Which images a command reads, which caches a search opens, where a study or a run lives,
//! and which model folder "the champion" or "the newest model" is: decided here, nowhere else.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::AslHome;
use crate::dataset::{self, DatasetError, DatasetRef, KaggleError, Layout, LayoutError, Manifest};
use crate::eval::{EvalError, evaluate_cache};
use crate::hpo::{self, CacheProvider, HpoError, Study, StudyConfig, TrainObjective};
use crate::infer::{Classifier, InferError};
use crate::prep::{self, PrepConfig, PrepError, PrepOutcome, PrepSource, Split};
use crate::progress::{Cancel, NoProgress, Progress};
use crate::registry::{PromotionDecision, Registry, RegistryError};
use crate::tracking::run::{TrackedTrainError, TrackedTraining};
use crate::tracking::{ModelVersion, RunInfo, RunQuery, TrackingError, TrackingStore};
use crate::train::{EpochCallback, TrainConfig};

/// Tracking experiment of search trials.
pub const HPO_EXPERIMENT: &str = "asl-hpo";

/// Why a [`Workspace`] operation failed: a stage's own error, passed through, or one of the
/// workspace's own checks.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// Downloading a dataset from Kaggle failed, or a dataset name (`owner/slug`) did not parse.
    #[error(transparent)]
    Kaggle(#[from] KaggleError),
    /// Collecting, importing or finding a dataset version failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A folder of images is not in a layout asl reads (class folders or Kaggle's layout).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Building or opening an image cache failed.
    #[error(transparent)]
    Prep(#[from] PrepError),
    /// A tracked training run failed (including an invalid [`TrainConfig`]).
    #[error(transparent)]
    Train(#[from] TrackedTrainError),
    /// A search (study) failed or was cancelled.
    #[error(transparent)]
    Hpo(#[from] HpoError),
    /// The tracking store (local or MLflow) failed.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    /// A registry operation failed (unknown alias or version, no champion to roll back, ...).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Loading a model folder or classifying with it failed.
    #[error(transparent)]
    Infer(#[from] InferError),
    /// Evaluating a model failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// An argument out of range (the message names it and its range).
    #[error("{0}")]
    Invalid(String),
    /// [`ModelRef::Newest`] found no model folder under the folder named.
    #[error("no model under {0}; train one with `asl train` or pass --model DIR")]
    NoModel(PathBuf),
    /// The held-out (validation) split to measure a model on is empty.
    #[error("the cache has no held-out images (val_fraction 0)")]
    NoHeldOut,
    /// Writing the demo's synthetic dataset failed.
    #[error(transparent)]
    Synth(#[from] crate::synth::SynthError),
    /// Spelling the demo's word with held-out photos, or reading it back, failed.
    #[error(transparent)]
    Word(#[from] crate::word::WordError),
    /// Writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cache a model was trained on could not be opened (evaluation without `--data`).
    #[error("the model's training cache {path}: {source} (pass --data DIR to evaluate on a folder)")]
    NoTrainingCache {
        /// Where the training cache was expected.
        path: PathBuf,
        /// Why it could not be opened.
        source: PrepError,
    },
    /// Finding the hands in a cache's photos (the hand path's cache) failed.
    #[error(transparent)]
    HandCache(#[from] crate::hand_cache::HandCacheError),
    /// Reading the prediction log or writing a drift report failed.
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    /// The model's card has no monitoring reference to compare predictions with (the folder named).
    #[error("model {0} has no monitoring reference (trained by an older asl); retrain it or pass another model")]
    NoReference(PathBuf),
}

/// A model measured on photos (`asl eval`, `asl.evaluate`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    /// The model folder the classifier was loaded from.
    pub model: PathBuf,
    /// The cache the photos were read through (a folder or zip gets one of its own).
    pub data: PathBuf,
    /// Accuracy, macro-F1, top-k, loss and confusion over all the photos.
    pub report: crate::eval::EvalReport,
    /// Per source (the file-name prefix before `__`) and the mean over sources, when asked.
    pub by_source: Option<crate::eval::SourceReport>,
}

/// A drift report written (`asl monitor report`, `asl.monitor_report`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MonitorReport {
    /// The HTML file written.
    pub out: PathBuf,
    /// Predictions in the log within the window.
    pub predictions: usize,
    /// The model folder whose monitoring reference the predictions were compared with.
    pub model: PathBuf,
    /// The log read: its path, or its database URL without the password.
    pub log: String,
    /// Seconds since the epoch: the window reported.
    pub from: u64,
    /// End of the window (the time of the call), in seconds since the epoch.
    pub to: u64,
}

/// A result whose error defaults to [`WorkspaceError`].
pub type Result<T, E = WorkspaceError> = std::result::Result<T, E>;

/// Which images a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    /// The newest complete version of a collected dataset.
    Collected(DatasetRef),
    /// A folder of class folders (`<dir>/<CLASS>/*.jpg`, or Kaggle's extracted layout).
    Folder(PathBuf),
}

impl DataSpec {
    /// The frontends' `--dataset owner/slug` and `--data DIR`: the folder wins when given.
    pub fn from_flags(dataset: &str, folder: Option<&Path>) -> Result<Self> {
        Ok(match folder {
            Some(dir) => DataSpec::Folder(dir.to_path_buf()),
            None => DataSpec::Collected(DatasetRef::parse(dataset)?.0),
        })
    }

    /// The name a study over these images starts with.
    fn slug(&self) -> String {
        match self {
            DataSpec::Collected(r) => r.slug.clone(),
            DataSpec::Folder(dir) => dir
                .file_name()
                .map(|n| n.to_string_lossy().replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
                .unwrap_or_else(|| "folder".into()),
        }
    }
}

/// Images found on disk (a scanned [`DataSpec`]), lending the [`PrepSource`] caches are built from.
pub struct ImageSource {
    layout: Layout,
    manifest: Option<Manifest>,
    slug: String,
}

impl ImageSource {
    /// A collected version already found (the pipeline, right after collecting it).
    pub fn collected(layout: Layout, manifest: Manifest, dataset: &DatasetRef) -> Self {
        Self {
            layout,
            manifest: Some(manifest),
            slug: dataset.slug.clone(),
        }
    }

    /// The images as a [`PrepSource`]: from the manifest of a collected version, else from the
    /// scanned folder.
    pub fn prep_source(&self) -> PrepSource<'_> {
        match &self.manifest {
            Some(m) => PrepSource::from_manifest(&self.layout, m),
            None => PrepSource::from_folder(&self.layout),
        }
    }
}

/// Which model a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model folder (`model.json` + weights).
    Dir(PathBuf),
    /// A registered version of `asl-fingerspelling`: an alias (`champion`) or a number (`3`, `v3`).
    Registered(String),
    /// The newest model folder under `$ASL_HOME/models`.
    Newest,
    /// The registry's champion, else the newest model folder.
    ChampionOrNewest,
}

impl ModelRef {
    /// `--model DIR`, else `--model-alias ALIAS`, else `default`.
    pub fn from_flags(dir: Option<&Path>, alias: Option<&str>, default: ModelRef) -> Self {
        match (dir, alias) {
            (Some(d), _) => ModelRef::Dir(d.to_path_buf()),
            (None, Some(a)) => ModelRef::Registered(a.to_string()),
            (None, None) => default,
        }
    }
}

/// `asl train`: one tracked training run.
pub struct TrainRequest {
    /// The images to train on.
    pub data: DataSpec,
    /// Its `image_size` must be the model's input size.
    pub prep: PrepConfig,
    /// The training hyper-parameters; validated before any image is read.
    pub config: TrainConfig,
    /// The model folder's name under `$ASL_HOME/models` (default: a time stamp and the cache hash).
    pub name: Option<String>,
    /// Resume (or start) the run in this folder (default `$ASL_HOME/runs/<name>`).
    pub run_dir: Option<PathBuf>,
    /// Tracking experiment (default `asl-train`).
    pub experiment: Option<String>,
    /// Extra tags on the tracked run (e.g. an external search's study and trial).
    pub tags: BTreeMap<String, String>,
}

/// A finished tracked training (from [`Workspace::train_run`]).
pub struct TrainedRun {
    /// The model folder's name under `$ASL_HOME/models` (also the default run folder's).
    pub name: String,
    /// Where the run is tracked (the local store, or the MLflow server).
    pub tracking: String,
    /// The training's outcome, its tracked run and the model's measured latency.
    pub training: TrackedTraining,
}

/// `asl hpo`: a search over the caches of one image source.
pub struct StudyRequest {
    /// The images searched over.
    pub data: DataSpec,
    /// The caches' split; trials open the sizes they sample.
    pub prep: PrepConfig,
    /// The search: space, sampler, pruner, budgets and the base training configuration.
    pub config: StudyConfig,
    /// Default: named after the data and the search, so the same request continues the same study.
    pub name: Option<String>,
}

/// A search run or continued (from [`Workspace::study`]).
pub struct StudyOutcome {
    /// The study's name (given, or from [`study_name`]).
    pub name: String,
    /// The study's folder, `$ASL_HOME/hpo/<name>`.
    pub dir: PathBuf,
    /// The study as saved: its configuration and every trial so far.
    pub study: Study,
}

/// The operations on one state root.
#[derive(Debug, Clone)]
pub struct Workspace {
    home: AslHome,
}

impl Workspace {
    /// The operations on the state root `home`.
    pub fn new(home: AslHome) -> Self {
        Self { home }
    }

    /// `--home DIR`, else `$ASL_HOME`, else the user's data folder.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        Self::new(AslHome::resolve(explicit))
    }

    /// The state root the operations work under.
    pub fn home(&self) -> &AslHome {
        &self.home
    }

    /// The tracking store (local, or MLflow when `MLFLOW_TRACKING_URI` is set).
    pub fn tracking(&self) -> Result<Box<dyn TrackingStore>> {
        Ok(crate::tracking::open_store(&self.home)?)
    }

    /// Find the images of `data` (a collected dataset's newest version, or a folder).
    pub fn scan(&self, data: &DataSpec) -> Result<ImageSource> {
        Ok(match data {
            DataSpec::Folder(dir) => ImageSource {
                layout: dataset::layout::scan(dir)?,
                manifest: None,
                slug: data.slug(),
            },
            DataSpec::Collected(r) => {
                let (store, manifest) = dataset::newest_local(&self.home, r)?;
                let layout = dataset::layout::scan(&store.data_dir(&manifest))?;
                ImageSource::collected(layout, manifest, r)
            }
        })
    }

    /// Build (or reuse) the cache of `data` at `cfg`.
    pub fn prepare(
        &self,
        data: &DataSpec,
        cfg: &PrepConfig,
        force: bool,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<PrepOutcome> {
        check_prep_config(cfg)?;
        let source = self.scan(data)?;
        Ok(prep::prepare(
            &self.home.cache_dir(),
            &source.prep_source(),
            cfg,
            force,
            progress,
            cancel,
        )?)
    }

    /// The caches of `source` at every size a search or a promotion guard asks for, split as `base`.
    pub fn caches<'a>(&'a self, source: &'a ImageSource, base: &PrepConfig, cancel: &'a Cancel) -> CacheProvider<'a> {
        let base = base.clone();
        CacheProvider::new(move |size| {
            let cfg = PrepConfig {
                image_size: size as u32,
                ..base.clone()
            };
            prep::prepare(
                &self.home.cache_dir(),
                &source.prep_source(),
                &cfg,
                false,
                &NoProgress,
                cancel,
            )
            .map(|o| o.cache)
        })
    }

    /// Train one tracked run (resumed when its run folder holds one).
    pub fn train_run(
        &self,
        req: &TrainRequest,
        on_epoch: &mut dyn EpochCallback,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<TrainedRun> {
        req.config.validate().map_err(TrackedTrainError::Train)?;
        let prepared = self.prepare(&req.data, &req.prep, false, progress, cancel)?;
        let cache = &prepared.cache;
        let name = req.name.clone().unwrap_or_else(|| {
            let stamp = crate::clock::compact_utc(crate::clock::now_unix());
            format!("{stamp}-{}", cache.header.hash())
        });
        let run_dir = req.run_dir.clone().unwrap_or_else(|| self.home.runs_dir().join(&name));
        let model_dir = self.home.models_dir().join(&name);
        let store = self.tracking()?;
        let label = crate::tracking::run::RunLabel {
            experiment: req
                .experiment
                .as_deref()
                .unwrap_or(crate::tracking::run::TRAIN_EXPERIMENT),
            name: &name,
            tags: &req.tags,
        };
        let training = crate::tracking::run::train_tracked(
            &*store,
            &label,
            cache,
            &req.config,
            &run_dir,
            &model_dir,
            on_epoch,
            progress,
            cancel,
        )?;
        Ok(TrainedRun {
            name,
            tracking: store.describe(),
            training,
        })
    }

    /// Run (or continue) a search; `say` gets a line per event, the first naming the study.
    pub fn study(&self, req: &StudyRequest, say: &(dyn Fn(&str) + Sync), cancel: &Cancel) -> Result<StudyOutcome> {
        check_prep_config(&req.prep)?;
        let source = self.scan(&req.data)?;
        let caches = self.caches(&source, &req.prep, cancel);
        let name = match &req.name {
            Some(n) => n.clone(),
            None => {
                let cache = caches.get(req.prep.image_size as usize)?;
                study_name(
                    &source.slug,
                    cache.header.dataset_version,
                    &cache.header.hash(),
                    &req.config,
                )
            }
        };
        let store = self.tracking()?;
        let dir = self.home.study_dir(&name);
        say(&format!(
            "study {name} in {} (tracking: {})",
            dir.display(),
            store.describe()
        ));
        let study = self.run_named_study(&caches, &name, &req.config, &*store, say, cancel)?;
        Ok(StudyOutcome { name, dir, study })
    }

    /// The study `name` over `caches`, its trials tracked in `store`.
    pub fn run_named_study(
        &self,
        caches: &CacheProvider,
        name: &str,
        config: &StudyConfig,
        store: &dyn TrackingStore,
        say: &(dyn Fn(&str) + Sync),
        cancel: &Cancel,
    ) -> Result<Study, HpoError> {
        let dir = self.home.study_dir(name);
        // A bad space is refused before the study gets a run in the store.
        config.space.validate()?;
        let parent = crate::tracking::run::study_run(store, HPO_EXPERIMENT, name, &dir)?;
        let objective = TrainObjective {
            caches,
            store: Some(store),
            experiment: HPO_EXPERIMENT.into(),
            study: name.to_string(),
            parent_run_id: Some(parent.clone()),
        };
        match hpo::run_study(&dir, name, config, &objective, &|line: &str| say(line), cancel) {
            Ok(study) => {
                crate::tracking::run::finish_study_run(store, &parent, &study)?;
                Ok(study)
            }
            Err(e) => {
                let cancelled = matches!(e, HpoError::Cancelled);
                crate::tracking::run::abandon_study_run(store, &parent, cancelled);
                Err(e)
            }
        }
    }

    /// Register a tracked run's model as a new version, behind the promotion guard: it becomes
    /// champion only if it beats the current one on the held-out split of `data`.
    pub fn register(
        &self,
        run_id: &str,
        data: &DataSpec,
        prep: &PrepConfig,
        cancel: &Cancel,
    ) -> Result<(ModelVersion, PromotionDecision)> {
        check_prep_config(prep)?;
        let store = self.tracking()?;
        let registry = Registry::new(&*store, &self.home);
        let run = store.get_run(run_id)?;
        let version = registry.register_run(&run)?;
        let source = self.scan(data)?;
        let caches = self.caches(&source, prep, cancel);
        let decision = registry.promote_if_better(version.version, &mut |dir| heldout_accuracy(&caches, dir))?;
        Ok((version, decision))
    }

    /// `clf` (loaded from `model`) on a folder or zip of class folders (`data`), else on the
    /// held-out split of the cache it was trained on; per source when `by_source`.
    pub fn evaluate(
        &self,
        clf: &Classifier,
        data: Option<&Path>,
        by_source: bool,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Evaluation> {
        let cache = self.evaluation_cache(clf, data, progress, cancel)?;
        let (report, by_source) = if by_source {
            let (report, sources) = crate::eval::evaluate_by_source(clf, &cache, Split::Val)?;
            (report, Some(sources))
        } else {
            (evaluate_cache(clf, &cache, Split::Val)?, None)
        };
        Ok(Evaluation {
            model: clf.dir.clone(),
            data: cache.path.clone(),
            report,
            by_source,
        })
    }

    /// The drift report of the last `since` of predictions in `log` (default: where the
    /// server writes) against `model`'s reference, written to `out` as one HTML file.
    pub fn monitor_report(
        &self,
        since: std::time::Duration,
        log: Option<&crate::monitor::LogLocation>,
        model: &ModelRef,
        out: &Path,
    ) -> Result<MonitorReport> {
        use crate::monitor;
        let log = log
            .cloned()
            .unwrap_or_else(|| monitor::LogLocation::Sqlite(self.home.prediction_log()));
        let to = crate::clock::now_unix();
        let from = to.saturating_sub(since.as_secs());
        let rows = monitor::log::read_since(log.clone(), from)?;
        let model_dir = self.resolve_model(model)?;
        let card = crate::infer::ModelCard::load(&model_dir)?;
        let reference = monitor::Reference::from_card_extra(&card.extra)
            .ok_or_else(|| WorkspaceError::NoReference(model_dir.clone()))??;
        let title = format!(
            "asl drift report: {} to {} (model {})",
            crate::clock::rfc3339(from),
            crate::clock::rfc3339(to),
            card.name
        );
        let html = monitor::render_report(&rows, &reference, &crate::classes::CLASSES, &title);
        monitor::write_report(out, &html)?;
        Ok(MonitorReport {
            out: out.to_path_buf(),
            predictions: rows.len(),
            model: model_dir,
            log: log.to_string(),
            from,
            to,
        })
    }

    /// The photos a model is evaluated on, as a cache at its input size: a folder of class
    /// folders, or a zip of one (extracted once), all held out; else the held-out split of the
    /// cache the model was trained on. With a hand path, the photos' hands are found (once).
    pub fn evaluation_cache(
        &self,
        clf: &Classifier,
        data: Option<&Path>,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<prep::Cache> {
        let size = clf.input_size() as u32;
        let cache = match data {
            Some(d) => {
                let layout = dataset::layout::scan(&crate::eval::data_folder(&self.home, d)?)?;
                let cfg = PrepConfig {
                    image_size: size,
                    val_fraction: 1.0,
                    seed: 0,
                };
                let source = PrepSource::from_folder(&layout);
                prep::prepare(&self.home.cache_dir(), &source, &cfg, false, progress, cancel)?.cache
            }
            None => self.training_cache(clf)?,
        };
        if let Some(stage) = clf.hands() {
            crate::hand_cache::open_or_build(&cache, stage.nets(), progress, cancel)?;
        }
        Ok(cache)
    }

    /// For each class, the probability vectors `clf` gives the held-out photos of that class:
    /// the bank word-level evaluation draws letters from ([`crate::decode_eval`]). The photos
    /// are those of [`Workspace::evaluation_cache`]: a folder or zip of labelled photos (other
    /// people's, say, to tune the word decoder for them), else the training cache's held-out
    /// split.
    pub fn probability_bank(
        &self,
        clf: &Classifier,
        data: Option<&Path>,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<Vec<f32>>>> {
        let cache = self.evaluation_cache(clf, data, progress, cancel)?;
        Ok(crate::eval::probability_bank(clf, &cache, Split::Val)?)
    }

    /// The cache (default split) a model was trained on, at its input size.
    pub fn training_cache(&self, clf: &Classifier) -> Result<prep::Cache> {
        let cfg = PrepConfig {
            image_size: clf.input_size() as u32,
            ..Default::default()
        };
        let path = prep::cache_path(&self.home.cache_dir(), &clf.card.lineage.source_hash, &cfg);
        prep::Cache::open(&path).map_err(|source| WorkspaceError::NoTrainingCache { path, source })
    }

    /// Tracked runs of `experiment` (only those of `study` when given), best validation
    /// accuracy first.
    pub fn runs(&self, experiment: &str, study: Option<&str>, limit: usize) -> Result<Vec<RunInfo>> {
        // Trials, not the studies' own runs (their parents).
        let mut tags = BTreeMap::new();
        if let Some(s) = study {
            tags.insert("asl.study".to_string(), s.to_string());
        }
        if study.is_some() || experiment == HPO_EXPERIMENT {
            tags.insert("asl.kind".to_string(), "hpo-trial".to_string());
        }
        let query = RunQuery {
            finished_only: false,
            tags,
            order_by_metric_desc: Some(crate::registry::SELECTION_METRIC.into()),
            max_results: Some(limit),
        };
        Ok(self.tracking()?.search_runs(experiment, &query)?)
    }

    /// Make `version` the champion (no guard: the caller's decision); returns it and the
    /// version that was champion before.
    pub fn promote(&self, version: u32) -> Result<(ModelVersion, Option<ModelVersion>)> {
        let store = self.tracking()?;
        let registry = Registry::new(&*store, &self.home);
        let before = registry.alias(crate::registry::CHAMPION)?;
        Ok((registry.promote(version)?, before))
    }

    /// Move the champion back to the version that held it before.
    pub fn rollback(&self) -> Result<ModelVersion> {
        let store = self.tracking()?;
        Ok(Registry::new(&*store, &self.home).rollback()?)
    }

    /// The model folder `model` names (a registered version is fetched to a local folder).
    pub fn resolve_model(&self, model: &ModelRef) -> Result<PathBuf> {
        match model {
            ModelRef::Dir(dir) => Ok(dir.clone()),
            ModelRef::Registered(alias) => {
                let store = self.tracking()?;
                let registry = Registry::new(&*store, &self.home);
                let version = registry.resolve(alias)?;
                Ok(registry.fetch(&version)?)
            }
            ModelRef::Newest => {
                crate::infer::newest_model(&self.home).ok_or_else(|| WorkspaceError::NoModel(self.home.models_dir()))
            }
            ModelRef::ChampionOrNewest => self
                .resolve_model(&ModelRef::Registered(crate::registry::CHAMPION.into()))
                .or_else(|_| self.resolve_model(&ModelRef::Newest)),
        }
    }
}

/// `asl demo`: the whole pipeline on the embedded synthetic dataset (or a real archive).
pub struct DemoRequest {
    /// An archive in Kaggle's layout to train on instead of the synthetic dataset.
    pub from_zip: Option<PathBuf>,
    /// The word (or phrase) spelled with held-out photos and read back.
    pub word: String,
    /// Training epochs (default 20 with an archive, 12 on the synthetic dataset).
    pub epochs: Option<usize>,
    /// Stop training so that it ends within this many seconds (default: no limit).
    pub time_budget_secs: Option<f64>,
}

/// What `asl demo` did (from [`Workspace::demo`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoOutcome {
    /// The trained model folder, `$ASL_HOME/models/demo-<cache hash>`.
    pub model: PathBuf,
    /// The validation summary as JSON: `images`, `accuracy`, `macro_f1`, `top3_accuracy`,
    /// `top5_accuracy` and `loss`.
    pub validation: serde_json::Value,
    /// The word's photos as a zip, `$ASL_HOME/demo/word.zip`.
    pub word_zip: PathBuf,
    /// The word as requested (the photos spell its upper-case form).
    pub spelled: String,
    /// Photos in the word's zip.
    pub photos: usize,
    /// The letters as classified, before the lexicon (a space for `space`).
    pub letters: String,
    /// The word read back: the letters decoded against the bundled lexicon.
    pub answer: crate::word::WordAnswer,
    /// Wall-clock seconds the whole demo took.
    pub seconds: f64,
}

impl Workspace {
    /// collect → prep → train → read a word spelled with held-out photos; `say` gets a line
    /// per step and per epoch.
    pub fn demo(&self, req: &DemoRequest, say: &dyn Fn(&str), progress: &dyn Progress) -> Result<DemoOutcome> {
        let t0 = std::time::Instant::now();
        // 1. Collect: the real archive given, or the synthetic one made here.
        let dataset = self.demo_collect(req, say, progress)?;
        // 2. Prep.
        let data = DataSpec::Collected(dataset);
        let prepared = self.prepare(&data, &PrepConfig::default(), false, progress, &Cancel::new())?;
        let cache = &prepared.cache;
        say(&format!(
            "[prep]    {} train + {} validation images ({})",
            cache.header.n_train,
            cache.header.n_val,
            if prepared.built { "built" } else { "reused" }
        ));
        // 3. Train.
        let (model_dir, out) = self.demo_train(req, cache, say, progress)?;
        // 4. A word spelled with held-out photos, read back.
        let word = self.demo_read_word(req, cache, &model_dir)?;
        Ok(DemoOutcome {
            model: model_dir,
            validation: out.report.summary(),
            word_zip: word.zip,
            spelled: req.word.clone(),
            photos: word.photos,
            letters: word.letters,
            answer: word.answer,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// The demo's dataset, imported as version 1: the archive given, or the synthetic one
    /// (written once to the demo folder).
    fn demo_collect(&self, req: &DemoRequest, say: &dyn Fn(&str), progress: &dyn Progress) -> Result<DatasetRef> {
        let (dataset, zip) = match &req.from_zip {
            Some(z) => (DatasetRef::parse(dataset::DEFAULT_DATASET)?.0, z.clone()),
            None => {
                let z = self.home.demo_dir().join("asl-synthetic.zip");
                if !z.exists() {
                    // 150 photos a class: enough for a small CNN to read the synthetic signs well.
                    let cfg = crate::synth::SynthConfig {
                        per_class: 150,
                        ..Default::default()
                    };
                    let s = crate::synth::write_zip(&cfg, &z)?;
                    say(&format!("[synth]   wrote {} ({} images)", z.display(), s.images));
                }
                (DatasetRef::parse("asl/synthetic")?.0, z)
            }
        };
        let store = dataset::DatasetStore::new(&self.home, &dataset);
        let manifest = store.import_zip(&zip, 1, false, &Default::default(), progress)?;
        say(&format!(
            "[collect] {} version 1: {} images in {} classes",
            manifest.dataset,
            manifest.total_images(),
            manifest.images_per_class.iter().filter(|c| c.images > 0).count()
        ));
        Ok(dataset)
    }

    /// Trains the demo's model on `cache`, a line per epoch; returns its folder and outcome.
    fn demo_train(
        &self,
        req: &DemoRequest,
        cache: &prep::Cache,
        say: &dyn Fn(&str),
        progress: &dyn Progress,
    ) -> Result<(PathBuf, crate::train::TrainOutcome)> {
        let cfg = TrainConfig {
            epochs: req.epochs.unwrap_or(if req.from_zip.is_some() { 20 } else { 12 }),
            batch_size: 32,
            time_budget_secs: req.time_budget_secs,
            // MediaPipe finds the drawn hands of the synthetic set (87 % of them), but their
            // handshapes read worse than the photo CNN reads the drawings (92.5 % vs 99.1 %
            // validation): the synthetic demo trains the photo CNN alone, without detecting
            // hands in its 4,350 photos first.
            hands: if req.from_zip.is_some() {
                crate::handshape::HandsMode::Auto
            } else {
                crate::handshape::HandsMode::Off
            },
            ..Default::default()
        };
        let name = format!("demo-{}", cache.header.hash());
        let model_dir = self.home.models_dir().join(&name);
        let mut on_epoch = |m: &crate::train::EpochMetrics| {
            say(&format!(
                "[train]   epoch {:>2}: val accuracy {:.2}% ({:.0} img/s)",
                m.epoch,
                m.val_accuracy * 100.0,
                m.images_per_sec
            ));
            crate::train::Control::Continue
        };
        let out = crate::train::train(
            cache,
            &cfg,
            crate::infer::Lineage::of(cache),
            &self.home.runs_dir().join(&name),
            &model_dir,
            &mut on_epoch,
            progress,
            &Cancel::new(),
        )
        .map_err(TrackedTrainError::Train)?;
        say(&format!(
            "[eval]    validation accuracy {:.2}%, macro-F1 {:.4} → {}",
            out.report.accuracy * 100.0,
            out.report.macro_f1,
            model_dir.display()
        ));
        Ok((model_dir, out))
    }

    /// Spells the demo's word with held-out photos of `cache`, keeps them as the demo's
    /// word.zip, and reads them back with the model in `model_dir`.
    fn demo_read_word(&self, req: &DemoRequest, cache: &prep::Cache, model_dir: &Path) -> Result<DemoWord> {
        use crate::word;
        let word_zip = self.home.demo_dir().join("word.zip");
        let spelled = req.word.to_ascii_uppercase();
        let bytes = word::word_zip_from_cache(cache, Split::Val, &spelled, 1)?;
        crate::fsutil::write_atomic(&word_zip, &bytes).map_err(|source| WorkspaceError::Io {
            path: word_zip.clone(),
            source,
        })?;
        let clf = Classifier::load(model_dir)?;
        let batch = word::read_zip(&bytes, &Default::default())?;
        let answer = word::predict_word(
            &clf,
            &batch,
            false,
            crate::decode::Lexicon::bundled(),
            &Default::default(),
        )?;
        let letters = answer
            .estimate
            .letters
            .iter()
            .map(|l| if l.class == "space" { " " } else { l.class.as_str() })
            .collect();
        Ok(DemoWord {
            zip: word_zip,
            photos: batch.photos.len(),
            letters,
            answer,
        })
    }
}

/// The demo's word as read back.
struct DemoWord {
    zip: PathBuf,
    photos: usize,
    /// The letters as classified, before the lexicon (a space for `space`).
    letters: String,
    answer: crate::word::WordAnswer,
}

/// The split and size a cache can have.
pub fn check_prep_config(cfg: &PrepConfig) -> Result<()> {
    if !(0.0..1.0).contains(&cfg.val_fraction) {
        return Err(WorkspaceError::Invalid(format!(
            "val_fraction must be in [0, 1), got {}",
            cfg.val_fraction
        )));
    }
    if cfg.image_size == 0 {
        return Err(WorkspaceError::Invalid(
            "the image size must be at least 1 pixel".into(),
        ));
    }
    Ok(())
}

/// The study a search runs for this data and configuration: a new dataset version, cache or
/// search configuration starts a new study; the same ones continue it.
pub fn study_name(slug: &str, version: u32, cache_hash: &str, study: &StudyConfig) -> String {
    use sha2::Digest;
    let cfg = serde_json::to_vec(&study.identity()).unwrap_or_default();
    let h = sha2::Sha256::digest(&cfg);
    let short: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{slug}-v{version}-{}-{short}", &cache_hash[..cache_hash.len().min(8)])
}

/// Accuracy of a model folder on the held-out (validation) split of the caches, at the
/// model's input size. The promotion guard compares models with it.
pub fn heldout_accuracy(caches: &CacheProvider, model_dir: &Path) -> Result<f64> {
    let clf = Classifier::load(model_dir)?;
    let cache = caches.get(clf.input_size())?;
    if cache.is_empty(Split::Val) {
        return Err(WorkspaceError::NoHeldOut);
    }
    Ok(evaluate_cache(&clf, &cache, Split::Val)?.accuracy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_data_and_models() {
        assert_eq!(
            DataSpec::from_flags("a/b", None).unwrap(),
            DataSpec::Collected(DatasetRef::parse("a/b").unwrap().0)
        );
        assert_eq!(
            DataSpec::from_flags("a/b", Some(Path::new("/x/my photos"))).unwrap(),
            DataSpec::Folder("/x/my photos".into())
        );
        assert_eq!(DataSpec::Folder("/x/my photos".into()).slug(), "my-photos");
        assert!(DataSpec::from_flags("not a ref", None).is_err());
        assert_eq!(
            ModelRef::from_flags(Some(Path::new("m")), Some("champion"), ModelRef::Newest),
            ModelRef::Dir("m".into())
        );
        assert_eq!(
            ModelRef::from_flags(None, Some("3"), ModelRef::Newest),
            ModelRef::Registered("3".into())
        );
        assert_eq!(
            ModelRef::from_flags(None, None, ModelRef::ChampionOrNewest),
            ModelRef::ChampionOrNewest
        );
    }

    #[test]
    fn bad_splits_are_refused_before_any_work() {
        let bad = PrepConfig {
            val_fraction: 1.0,
            ..Default::default()
        };
        assert!(
            check_prep_config(&bad)
                .unwrap_err()
                .to_string()
                .contains("val_fraction")
        );
        let zero = PrepConfig {
            image_size: 0,
            ..Default::default()
        };
        assert!(check_prep_config(&zero).is_err());
    }

    #[test]
    fn models_resolve_to_folders_or_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(AslHome::new(dir.path()));
        let err = ws.resolve_model(&ModelRef::Newest).unwrap_err();
        assert!(matches!(err, WorkspaceError::NoModel(_)), "{err}");
        // No registry and no model folder: the champion-or-newest default names what is missing.
        assert!(matches!(
            ws.resolve_model(&ModelRef::ChampionOrNewest).unwrap_err(),
            WorkspaceError::NoModel(_)
        ));
        assert!(matches!(
            ws.resolve_model(&ModelRef::Registered("champion".into())).unwrap_err(),
            WorkspaceError::Registry(_)
        ));
        assert_eq!(
            ws.resolve_model(&ModelRef::Dir("m".into())).unwrap(),
            PathBuf::from("m")
        );
    }
}
