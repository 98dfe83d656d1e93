//! `asl hpo`, `asl runs`, `asl models`, `asl pipeline`: search, tracking, registry and the
//! pipeline that chains them.
use std::path::PathBuf;

use asl_core::Workspace;
use asl_core::dataset::{self, DatasetRef};
use asl_core::hpo::{SamplerKind, SearchOptions, SearchSpace, StudyConfig, TrialState};
use asl_core::pipeline::{self, DataSource, PipelineConfig};
use asl_core::prep::PrepConfig;
use asl_core::progress::Cancel;
use asl_core::registry::{self, Registry};
use asl_core::tracking::TrackingStore;
use asl_core::workspace::{HPO_EXPERIMENT, StudyRequest};
use clap::{Args, Subcommand, ValueEnum};

use crate::args::{CliResult, KaggleArgs, PrepArgs, report, say};

#[derive(Clone, Copy, ValueEnum)]
pub enum Sampler {
    Tpe,
    Random,
}

/// The search flags shared by `asl hpo` and `asl pipeline`.
#[derive(Args)]
pub struct SearchArgs {
    /// Trials to run in all (the study continues up to this many).
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Stop starting trials after this many seconds of study time (over all sessions).
    #[arg(long, value_name = "SECONDS")]
    pub time_budget: Option<f64>,
    /// Trials trained at once (threads sharing the memory-mapped caches).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    #[arg(long, value_enum, default_value = "tpe")]
    pub sampler: Sampler,
    /// A JSON search space (default: lr, weight_decay, dropout, width, depth, batch_size,
    /// augment, input_size; see README).
    #[arg(long, value_name = "FILE")]
    pub space: Option<PathBuf>,
    /// Epochs of a trial that is never pruned.
    #[arg(long, default_value_t = 9)]
    pub epochs: usize,
    /// Random trials before TPE takes over.
    #[arg(long, default_value_t = 5)]
    pub startup_trials: usize,
    /// Turn ASHA pruning off.
    #[arg(long)]
    pub no_prune: bool,
    /// ASHA reduction factor (keep the top 1/eta at each rung).
    #[arg(long, default_value_t = 3)]
    pub eta: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A JSON file with the training configuration trials start from, as `asl train --config`
    /// reads it (sampled parameters override it): e.g. the hand path's settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl SearchArgs {
    fn study_config(&self) -> Result<StudyConfig, Box<dyn std::error::Error>> {
        let space = match &self.space {
            Some(p) => Some(SearchSpace::load(p)?),
            None => None,
        };
        Ok(SearchOptions {
            trials: self.trials,
            time_budget_secs: self.time_budget,
            parallel: self.parallel,
            sampler: match self.sampler {
                Sampler::Tpe => SamplerKind::Tpe,
                Sampler::Random => SamplerKind::Random,
            },
            space,
            epochs: self.epochs,
            startup_trials: self.startup_trials,
            prune: !self.no_prune,
            eta: self.eta,
            seed: self.seed,
            base: crate::commands::read_train_config(self.config.as_deref())?,
        }
        .study_config())
    }
}

#[derive(Args)]
pub struct HpoArgs {
    #[command(flatten)]
    pub prep: PrepArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Study name (a folder under $ASL_HOME/hpo). Default: derived from the data and the
    /// search configuration, so the same command continues the same study.
    #[arg(long)]
    pub study: Option<String>,
}

pub fn hpo_cmd(ws: &Workspace, a: HpoArgs, json: bool) -> CliResult {
    let request = StudyRequest {
        data: a.prep.data()?,
        prep: a.prep.config(),
        config: a.search.study_config()?,
        name: a.study.clone(),
    };
    let out = ws.study(&request, &say(json), &Cancel::new())?;
    let (name, dir, study) = (out.name, out.dir, out.study);
    let best = study.best();
    if json {
        println!(
            "{}",
            serde_json::json!({"study": name, "dir": dir, "trials": study.trials, "best": best, "elapsed_secs": study.elapsed_secs})
        );
        return Ok(());
    }
    println!(
        "\n{:>5}  {:<9} {:>8} {:>7} {:>9}  params",
        "trial", "state", "val acc", "epochs", "seconds"
    );
    for t in &study.trials {
        let state = format!("{:?}", t.state).to_lowercase();
        let params: Vec<String> = t
            .params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_f64()
                        .filter(|_| v.is_f64())
                        .map(|x| format!("{x:.3e}"))
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        println!(
            "{:>5}  {:<9} {:>7.2}% {:>7} {:>9.0}  {}",
            t.number,
            state,
            t.value.unwrap_or(f64::NAN) * 100.0,
            t.intermediate.len(),
            t.seconds,
            params.join(" ")
        );
    }
    println!(
        "{} complete, {} pruned, {} failed in {:.0}s",
        study.count(TrialState::Complete),
        study.count(TrialState::Pruned),
        study.count(TrialState::Failed),
        study.elapsed_secs
    );
    match best {
        Some(b) => println!(
            "best: trial {} with {:.2}% validation accuracy (run {}, model {})",
            b.number,
            b.value.unwrap_or(0.0) * 100.0,
            b.run_id.as_deref().unwrap_or("-"),
            b.model_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        None => println!("no trial completed"),
    }
    Ok(())
}

#[derive(Args)]
pub struct RunsArgs {
    /// Tracking experiment (asl-hpo for search trials, asl-train for `asl train`).
    #[arg(long, default_value = HPO_EXPERIMENT)]
    pub experiment: String,
    /// Only the trials of this study.
    #[arg(long)]
    pub study: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Compare runs: best first by validation accuracy.
pub fn runs_cmd(ws: &Workspace, a: RunsArgs, json: bool) -> CliResult {
    let runs = ws.runs(&a.experiment, a.study.as_deref(), a.limit)?;
    let store = ws.tracking()?;
    if json {
        println!("{}", serde_json::json!({"store": store.describe(), "runs": runs}));
        return Ok(());
    }
    println!(
        "{} runs of experiment {} ({})",
        runs.len(),
        a.experiment,
        store.describe()
    );
    println!(
        "{:<32}  {:<9} {:>8} {:>8} {:>8}  name",
        "run", "status", "val acc", "ms/img", "train s"
    );
    for r in &runs {
        let m = |k: &str| r.metrics.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "{:<32}  {:<9} {:>7.2}% {:>8.2} {:>8.0}  {}",
            r.run_id,
            r.status.as_str().to_lowercase(),
            m(registry::SELECTION_METRIC) * 100.0,
            m(registry::LATENCY_METRIC),
            m("train_seconds"),
            r.name
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: Option<ModelsAction>,
}

#[derive(Subcommand)]
pub enum ModelsAction {
    /// List versions and aliases (the default).
    List,
    /// Make version N the champion (no guard: your decision).
    Promote { version: u32 },
    /// Move the champion back to the version that held it before.
    Rollback,
    /// Register the model of a tracked run as a new version; it becomes champion only if it
    /// beats the current one on the held-out split of --data / the collected dataset.
    Register {
        run_id: String,
        #[command(flatten)]
        prep: PrepArgs,
    },
    /// Download a version (alias or number) and print its local folder.
    Fetch { alias: String },
}

pub fn models_cmd(ws: &Workspace, a: ModelsArgs, json: bool) -> CliResult {
    let store = ws.tracking()?;
    let registry = Registry::new(&*store, ws.home());
    match a.action.unwrap_or(ModelsAction::List) {
        ModelsAction::List => list_models(&registry, &*store, json)?,
        ModelsAction::Promote { version } => {
            let (v, before) = ws.promote(version)?;
            report(
                json,
                serde_json::json!({"champion": v.version, "previous": before.as_ref().map(|b| b.version)}),
                &format!(
                    "champion: v{} (was {})",
                    v.version,
                    before
                        .map(|b| format!("v{}", b.version))
                        .unwrap_or_else(|| "none".into())
                ),
            );
        }
        ModelsAction::Rollback => {
            let v = ws.rollback()?;
            report(
                json,
                serde_json::json!({"champion": v.version}),
                &format!("champion rolled back to v{}", v.version),
            );
        }
        ModelsAction::Register { run_id, prep: p } => {
            let (v, d) = ws.register(&run_id, &p.data()?, &p.config(), &Cancel::new())?;
            let verdict = if d.promoted { "champion" } else { "challenger" };
            report(
                json,
                serde_json::to_value(&d)?,
                &format!("registered v{} → {verdict}: {}", v.version, d.reason),
            );
        }
        ModelsAction::Fetch { alias } => {
            let v = registry.resolve(&alias)?;
            let dir = registry.fetch(&v)?;
            report(
                json,
                serde_json::json!({"version": v.version, "dir": dir}),
                &dir.display().to_string(),
            );
        }
    }
    Ok(())
}

/// `asl models` / `asl models list`: the registered versions of the model, newest first,
/// with their aliases, validation accuracy and run.
fn list_models(registry: &Registry<'_>, store: &dyn TrackingStore, json: bool) -> CliResult {
    let versions = registry.versions()?;
    if json {
        println!(
            "{}",
            serde_json::json!({"model": registry.model_name(), "store": store.describe(), "versions": versions})
        );
        return Ok(());
    }
    if versions.is_empty() {
        println!(
            "no versions of {} yet ({}); `asl pipeline` or `asl models register RUN_ID` adds one",
            registry.model_name(),
            store.describe()
        );
        return Ok(());
    }
    println!("{} ({})", registry.model_name(), store.describe());
    println!(
        "{:>7}  {:<22} {:>8}  {:<32}  created",
        "version", "aliases", "val acc", "run"
    );
    for v in versions.iter().rev() {
        let acc = v
            .tags
            .get("asl.val_accuracy")
            .and_then(|s| s.parse::<f64>().ok())
            .map(|x| format!("{:.2}%", x * 100.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>7}  {:<22} {:>8}  {:<32}  {}",
            v.version,
            v.aliases.join(","),
            acc,
            v.run_id,
            asl_core::clock::rfc3339((v.created_ms / 1000).max(0) as u64)
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct PipelineArgs {
    #[arg(long, default_value = dataset::DEFAULT_DATASET)]
    pub dataset: String,
    /// Use a local archive in Kaggle's layout instead of Kaggle's API.
    #[arg(long, value_name = "FILE")]
    pub from_zip: Option<PathBuf>,
    #[command(flatten)]
    pub kaggle: KaggleArgs,
    /// Image side of the default cache.
    #[arg(long, default_value_t = PrepConfig::default().image_size)]
    pub size: u32,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Keep running: re-check the dataset on this interval (e.g. 6h) and re-run what a new
    /// version invalidates.
    #[arg(long, value_name = "INTERVAL")]
    pub watch: Option<String>,
    /// Attempts of the collect step on network trouble.
    #[arg(long, default_value_t = 3)]
    pub network_attempts: usize,
}

pub fn pipeline_cmd(ws: &Workspace, a: PipelineArgs, json: bool) -> CliResult {
    let home = ws.home();
    let (dataset, _) = DatasetRef::parse(&a.dataset)?;
    let source = match &a.from_zip {
        Some(z) => DataSource::Zip(z.clone()),
        None => DataSource::Kaggle(a.kaggle.client()?),
    };
    let cfg = PipelineConfig {
        dataset,
        source,
        prep: PrepConfig {
            image_size: a.size,
            ..Default::default()
        },
        study: a.search.study_config()?,
        network_attempts: a.network_attempts,
    };
    let store = ws.tracking()?;
    let say = say(json);
    let cancel = Cancel::new();
    if let Some(w) = &a.watch {
        let interval = pipeline::parse_duration(w)?;
        say(&format!(
            "watching: a round now, then every {}",
            pipeline::human_duration(interval)
        ));
        pipeline::watch(home, &cfg, &*store, interval, &say, &cancel);
        return Ok(());
    }
    let t = std::time::Instant::now();
    let out = pipeline::run_pipeline(home, &cfg, &*store, &say, &cancel)?;
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("pipeline done in {:.0}s", t.elapsed().as_secs_f64());
    }
    Ok(())
}
