//! The subcommands. Each is: flags → one asl-core call → output.
use std::path::PathBuf;

use asl_core::dataset::{self, CollectOptions, CollectOutcome, DatasetRef, DatasetStore};
use asl_core::prep;
use asl_core::progress::{Cancel, TerminalProgress};
use asl_core::workspace::{DemoRequest, ModelRef, TrainRequest};
use asl_core::{Workspace, synth};
use clap::Args;

use crate::args::{CliResult, HandArgs, KaggleArgs, PrepArgs, cancel_on_ctrl_c};

#[derive(Args)]
pub struct CollectArgs {
    /// Kaggle dataset, owner/slug.
    #[arg(long, default_value = dataset::DEFAULT_DATASET)]
    pub dataset: String,
    /// Pin a dataset version (never goes stale). Default: Kaggle's current version.
    #[arg(long)]
    pub version: Option<u32>,
    /// Download and extract again even if a complete copy exists.
    #[arg(long)]
    pub force: bool,
    /// Register an archive downloaded by hand (as --version, default 1).
    #[arg(long, value_name = "FILE", conflicts_with = "from_dir")]
    pub from_zip: Option<PathBuf>,
    /// Register a folder extracted by hand, in place (as --version, default 1).
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    /// Keep the downloaded archive after extraction.
    #[arg(long)]
    pub keep_archive: bool,
    #[command(flatten)]
    pub kaggle: KaggleArgs,
}

fn parse_ref(s: &str, version: Option<u32>) -> Result<(DatasetRef, Option<u32>), Box<dyn std::error::Error>> {
    let (r, v) = DatasetRef::parse(s)?;
    Ok((r, version.or(v)))
}

fn print_manifest(action: &str, m: &dataset::Manifest, store: &DatasetStore) {
    println!(
        "{action}: {} version {} ({} images, {} files, {:.1} MB) at {}",
        m.dataset,
        m.version,
        m.total_images(),
        m.files,
        m.bytes as f64 / 1e6,
        store.data_dir(m).display()
    );
    let counts: Vec<String> = m
        .images_per_class
        .iter()
        .map(|c| format!("{}={}", c.class, c.images))
        .collect();
    println!("images per class: {}", counts.join(" "));
    if !m.unknown_folders.is_empty() {
        println!("unknown folders (ignored): {}", m.unknown_folders.join(", "));
    }
}

pub fn collect(ws: &Workspace, a: CollectArgs, json: bool) -> CliResult {
    let home = ws.home();
    let (dataset, version) = parse_ref(&a.dataset, a.version)?;
    let store = DatasetStore::new(home, &dataset);
    let progress = TerminalProgress::default();
    let mut opts = CollectOptions::new(dataset.clone());
    opts.version = version;
    opts.force = a.force;
    opts.keep_archive = a.keep_archive;
    let (action, manifest, extra) = if let Some(zip) = &a.from_zip {
        let m = store.import_zip(zip, version.unwrap_or(1), a.force, &opts.limits, &progress)?;
        ("imported", m, serde_json::Value::Null)
    } else if let Some(dir) = &a.from_dir {
        let m = store.import_dir(dir, version.unwrap_or(1))?;
        ("registered", m, serde_json::Value::Null)
    } else {
        let client = a.kaggle.client()?;
        match dataset::collect(home, &client, &opts, &progress, &cancel_on_ctrl_c())? {
            CollectOutcome::UpToDate(m) => ("up to date", m, serde_json::Value::Null),
            CollectOutcome::Downloaded { manifest, download } => {
                let extra = serde_json::json!({"archive_bytes": download.bytes, "md5": download.md5_hex, "md5_verified": download.md5_verified, "resumed_from": download.resumed_from, "attempts": download.attempts});
                ("downloaded", manifest, extra)
            }
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"action": action, "manifest": manifest, "path": store.data_dir(&manifest), "download": extra})
        );
    } else {
        print_manifest(action, &manifest, &store);
    }
    Ok(())
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(long, default_value = dataset::DEFAULT_DATASET)]
    pub dataset: String,
    /// The version you pin (a pinned, complete version is never outdated).
    #[arg(long)]
    pub version: Option<u32>,
    /// Do not ask Kaggle; report the local state only.
    #[arg(long)]
    pub offline: bool,
    /// Exit with status 3 when the local copy is outdated or missing (for scripts and cron).
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub kaggle: KaggleArgs,
}

pub fn status(ws: &Workspace, a: StatusArgs, json: bool) -> CliResult {
    let home = ws.home();
    let (dataset, version) = parse_ref(&a.dataset, a.version)?;
    let client = if a.offline { None } else { Some(a.kaggle.client()?) };
    let st = dataset::status(home, client.as_ref(), &dataset, version)?;
    let needs_collect = st.outdated == Some(true) || st.local_versions.is_empty();
    let done = || match a.exit_code && needs_collect {
        true => Err(crate::exit::Outdated.into()),
        false => Ok(()),
    };
    if json {
        println!("{}", serde_json::to_string(&st)?);
        return done();
    }
    println!("dataset: {}", st.dataset);
    if st.local_versions.is_empty() {
        println!("local: none");
    }
    for v in &st.local_versions {
        println!(
            "local: version {} ({} images, {:.1} MB, from {}) at {}",
            v.version,
            v.images,
            v.bytes as f64 / 1e6,
            v.source,
            v.path.display()
        );
    }
    if let Some(b) = st.partial_download_bytes {
        println!(
            "partial download: {:.1} MB (the next collect resumes it)",
            b as f64 / 1e6
        );
    }
    match (&st.remote, &st.remote_error) {
        (Some(r), _) => println!(
            "remote: version {} \"{}\", updated {}, {} bytes, licence {}",
            r.current_version.map(|v| v.to_string()).unwrap_or("?".into()),
            r.title.as_deref().unwrap_or("?"),
            r.last_updated.as_deref().unwrap_or("?"),
            r.total_bytes.map(|v| v.to_string()).unwrap_or("?".into()),
            r.license.as_deref().unwrap_or("?")
        ),
        (None, Some(e)) => println!("remote: unknown ({e})"),
        (None, None) => {}
    }
    println!(
        "{}",
        match st.outdated {
            Some(true) => "status: OUTDATED (run `asl collect`)",
            Some(false) => "status: up to date",
            None => "status: unknown",
        }
    );
    done()
}

#[derive(Args)]
pub struct SynthArgs {
    /// Where to write the zip.
    #[arg(long, default_value = "asl-synthetic.zip")]
    pub out: PathBuf,
    /// Training images per class.
    #[arg(long, default_value_t = synth::SynthConfig::default().per_class)]
    pub per_class: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = synth::SynthConfig::default().image_size)]
    pub size: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn synth_cmd(a: SynthArgs, json: bool) -> CliResult {
    let cfg = synth::SynthConfig {
        per_class: a.per_class,
        image_size: a.size,
        seed: a.seed,
        ..Default::default()
    };
    let s = synth::write_zip(&cfg, &a.out)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"path": a.out, "images": s.images, "classes": s.classes, "bytes": s.bytes})
        );
    } else {
        println!(
            "wrote {} ({} images in {} classes, {:.1} MB)",
            a.out.display(),
            s.images,
            s.classes,
            s.bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// Build or reuse the cache the flags describe.
fn prepare(ws: &Workspace, a: &PrepArgs) -> Result<prep::PrepOutcome, Box<dyn std::error::Error>> {
    Ok(ws.prepare(
        &a.data()?,
        &a.config(),
        a.force,
        &TerminalProgress::default(),
        &cancel_on_ctrl_c(),
    )?)
}

/// `asl prep`: the cache's flags and the hand path's.
#[derive(Args)]
pub struct PrepCmdArgs {
    #[command(flatten)]
    pub prep: PrepArgs,
    #[command(flatten)]
    pub hand_path: HandArgs,
}

pub fn prep_cmd(ws: &Workspace, a: PrepCmdArgs, json: bool) -> CliResult {
    if a.hand_path.landmarks.is_some() && !a.hand_path.detect_hands {
        return Err("--landmarks picks the network that --detect-hands runs: give both".into());
    }
    let out = prepare(ws, &a.prep)?;
    let h = &out.cache.header;
    let hands = if a.hand_path.detect_hands {
        let hc = asl_core::hand_cache::prepare_hands(
            &out.cache,
            asl_core::model::default_device_name(),
            a.hand_path.landmark_model(),
            &TerminalProgress::default(),
            &Cancel::new(),
        )?;
        Some((hc.detection_rate(), hc.by_step()))
    } else {
        None
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"cache": out.cache.path, "built": out.built, "seconds": out.seconds, "train": h.n_train, "val": h.n_val, "skipped": h.skipped_count, "skipped_files": h.skipped, "hash": h.hash(),
                "hand_detection_rate": hands.map(|x| x.0), "hands_by_step": hands.map(|x| x.1)})
        );
        return Ok(());
    }
    let action = if out.built { "built" } else { "reused" };
    println!(
        "{action} cache {} ({} train + {} validation images at {}px) in {:.1}s",
        out.cache.path.display(),
        h.n_train,
        h.n_val,
        h.config.image_size,
        out.seconds
    );
    if h.skipped_count > 0 {
        let names: Vec<String> = h
            .skipped
            .iter()
            .take(5)
            .map(|(f, why)| format!("{f} ({why})"))
            .collect();
        println!("skipped {} unreadable images: {}", h.skipped_count, names.join("; "));
    }
    if let Some((rate, steps)) = hands {
        println!(
            "hand found in {:.1}% of the photos (by cascade step 1-{}: {:?}; none: {})",
            rate * 100.0,
            steps.len() - 1,
            &steps[1..],
            steps[0]
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub prep: PrepArgs,
    #[command(flatten)]
    pub hand_path: HandArgs,
    /// A JSON file with a full training configuration (flags below override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop within this many seconds (the schedule is shortened to fit).
    #[arg(long, value_name = "SECONDS")]
    pub time_budget: Option<f64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f32>,
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Channels of the first conv stage (doubled per stage).
    #[arg(long)]
    pub width: Option<usize>,
    /// Number of conv stages.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Augmentation strength, 0 (off) to 1.
    #[arg(long)]
    pub augment: Option<f32>,
    /// Use the course project's network (Conv 16/32/64, Dense 128).
    #[arg(long)]
    pub course_network: bool,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Backend among those built in (flex, wgpu, cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// Name of the model folder under $ASL_HOME/models (default: a time stamp).
    #[arg(long)]
    pub name: Option<String>,
    /// Resume (or start) the run in this folder.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// The hand path (hand detection → landmarks → handshape model, for other people's
    /// hands): `auto` builds it when the training photos show hands, `on` always, `off` never.
    #[arg(long, value_parser = ["auto", "on", "off"])]
    pub hands: Option<String>,
    /// Epochs of the handshape model.
    #[arg(long)]
    pub handshape_epochs: Option<usize>,
    /// Weight of the photo CNN in the hand path's answer, p ∝ p_hand · p_photo^w (0 = the
    /// handshape model alone).
    #[arg(long)]
    pub fusion_weight: Option<f32>,
    /// Where the photo CNN's top probability reaches TAU, its weight becomes 4 (the photos of
    /// the signer it knows: there it has the last word). Pays with --photo-model; off by default.
    #[arg(long, value_name = "TAU")]
    pub fusion_gate: Option<f32>,
    /// Take the photo CNN from this model folder (e.g. one trained with --hands off on a larger
    /// archive) and train only the hand path on this data.
    #[arg(long, value_name = "DIR")]
    pub photo_model: Option<PathBuf>,
    /// Copies of each embedded other signer's hand in the handshape model's training set
    /// (landmarks of MIT-licensed and public-domain photos of other people; 0 = the training photos alone).
    #[arg(long, value_name = "N")]
    pub other_signers: Option<usize>,
}

/// The training configuration in the JSON file `path` (fields left out keep their defaults, a
/// key the configuration does not have is an error naming it); the defaults without one.
pub fn read_train_config(
    path: Option<&std::path::Path>,
) -> Result<asl_core::train::TrainConfig, Box<dyn std::error::Error>> {
    use asl_core::train::{TrainConfig, TrainError};
    let Some(p) = path else {
        return Ok(TrainConfig::default());
    };
    let text = std::fs::read(p).map_err(|e| std::io::Error::new(e.kind(), format!("--config {}: {e}", p.display())))?;
    let given = serde_json::from_slice(&text).map_err(TrainError::UnreadableConfig)?;
    Ok(TrainConfig::from_json(given)?)
}

fn train_config(a: &TrainArgs) -> Result<asl_core::train::TrainConfig, Box<dyn std::error::Error>> {
    let mut cfg = read_train_config(a.config.as_deref())?;
    if a.course_network {
        cfg.model = asl_core::model::ModelConfig::course();
    }
    cfg.model.input_size = a.prep.size as usize;
    if let Some(v) = a.epochs {
        cfg.epochs = v
    }
    if let Some(v) = a.time_budget {
        cfg.time_budget_secs = Some(v)
    }
    if let Some(v) = a.batch_size {
        cfg.batch_size = v
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
        cfg.min_lr = cfg.min_lr.min(v)
    }
    if let Some(v) = a.weight_decay {
        cfg.weight_decay = v
    }
    if let Some(v) = a.dropout {
        cfg.model.dropout = v
    }
    if let Some(v) = a.width {
        cfg.model.width = v
    }
    if let Some(v) = a.depth {
        cfg.model.depth = v
    }
    if let Some(v) = a.augment {
        cfg.augment.strength = v
    }
    if let Some(v) = a.seed {
        cfg.seed = v
    }
    if let Some(v) = &a.device {
        cfg.device = v.clone()
    }
    if let Some(v) = &a.hands {
        cfg.hands = serde_json::from_value(serde_json::Value::String(v.clone()))?;
    } else if a.hand_path.detect_hands {
        cfg.hands = asl_core::handshape::HandsMode::On;
    }
    if let Some(v) = a.handshape_epochs {
        cfg.handshape.epochs = v
    }
    if let Some(v) = a.fusion_weight {
        cfg.handshape.fusion_photo_weight = v
    }
    if let Some(v) = a.other_signers {
        cfg.handshape.other_signers_repeat = v
    }
    if a.hand_path.landmarks.is_some() {
        cfg.handshape.landmark_model = a.hand_path.landmark_model()
    }
    if let Some(tau) = a.fusion_gate {
        cfg.handshape.fusion_gate = Some(asl_core::handshape::FusionGate::at(tau))
    }
    if let Some(dir) = &a.photo_model {
        cfg.photo_model = Some(dir.clone())
    }
    Ok(cfg)
}

pub fn train_cmd(ws: &Workspace, a: TrainArgs, json: bool) -> CliResult {
    let request = TrainRequest {
        data: a.prep.data()?,
        prep: a.prep.config(),
        config: train_config(&a)?,
        name: a.name.clone(),
        run_dir: a.run_dir.clone(),
        experiment: None,
        tags: Default::default(),
    };
    let mut print_epoch = |m: &asl_core::train::EpochMetrics| {
        if !json {
            println!(
                "epoch {:>3}: loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | lr {:.2e} | {:.0} img/s, {:.1}s",
                m.epoch,
                m.train_loss,
                m.train_accuracy * 100.0,
                m.val_loss,
                m.val_accuracy * 100.0,
                m.lr,
                m.images_per_sec,
                m.seconds
            );
        }
        asl_core::train::Control::Continue
    };
    // Every training is a tracked run (local store, or MLflow with MLFLOW_TRACKING_URI).
    let trained = ws.train_run(
        &request,
        &mut print_epoch,
        &TerminalProgress::default(),
        &cancel_on_ctrl_c(),
    )?;
    let done = trained.training;
    let (out, run, latency) = (done.outcome, done.run, done.latency_ms);
    if json {
        println!(
            "{}",
            serde_json::json!({"model": out.model_dir, "run": out.run_dir, "tracking_run_id": run.run_id, "validation": out.report.summary(), "best_epoch": out.best_epoch, "stop": out.stop, "train_seconds": out.train_seconds, "images_per_sec": out.images_per_sec, "latency_ms": latency, "history": out.history})
        );
    } else {
        println!(
            "model {} (best epoch {}, {:?}): validation accuracy {:.2}%, macro-F1 {:.4}, {:.0}s of training",
            out.model_dir.display(),
            out.best_epoch,
            out.stop,
            out.report.accuracy * 100.0,
            out.report.macro_f1,
            out.train_seconds
        );
        println!(
            "tracked as run {} in {} (register it: asl models register {})",
            run.run_id, trained.tracking, run.run_id
        );
    }
    Ok(())
}

/// `--model DIR`, or the newest model under the state root.
fn model_dir(ws: &Workspace, explicit: &Option<PathBuf>) -> Result<PathBuf, Box<dyn std::error::Error>> {
    Ok(ws.resolve_model(&ModelRef::from_flags(explicit.as_deref(), None, ModelRef::Newest))?)
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model folder (default: the newest under $ASL_HOME/models).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// A folder of class folders, or a zip of one, to evaluate on (default: the validation
    /// split of the cache). A zip is extracted once under $ASL_HOME/eval-data.
    #[arg(long, value_name = "DIR|ZIP")]
    pub data: Option<PathBuf>,
    /// Also evaluate on the stress set (validation images with new backgrounds, colours, scale).
    #[arg(long)]
    pub stress: bool,
    /// Accuracy per source of photos (the file-name prefix before `__`, as in asl-ood-dev:
    /// `<LETTER>/<source>__<file>`), and the mean over sources.
    #[arg(long)]
    pub by_source: bool,
    /// Write confusion.csv, confusion.svg and eval.json here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub device: Option<String>,
}

pub fn eval_cmd(ws: &Workspace, a: EvalArgs, json: bool) -> CliResult {
    use asl_core::eval;
    let dir = model_dir(ws, &a.model)?;
    let clf = asl_core::infer::Classifier::load_on(
        &dir,
        a.device.as_deref().unwrap_or(asl_core::model::default_device_name()),
    )?;
    // A folder (or zip) is evaluated through a cache of its own, everything held out.
    let evaluation = ws.evaluate(
        &clf,
        a.data.as_deref(),
        a.by_source,
        &TerminalProgress::default(),
        &Cancel::new(),
    )?;
    let stress = if a.stress {
        let cache = prep::Cache::open(&evaluation.data)?;
        Some(eval::evaluate_stress(&clf, &cache, prep::Split::Val, 7)?)
    } else {
        None
    };
    let (report, sources) = (&evaluation.report, &evaluation.by_source);
    if let Some(out) = &a.out {
        report.write(out)?;
        if let Some(s) = &stress {
            s.write(&out.join("stress"))?;
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"model": dir, "data": evaluation.data, "report": report, "stress": stress.as_ref().map(|s| s.summary()), "by_source": sources})
        );
        return Ok(());
    }
    print_eval_summary(&dir, report);
    if let Some(r) = &sources {
        print_by_source(r);
    }
    if let Some(s) = stress {
        println!(
            "stress set (new backgrounds, colours, scale, position): accuracy {:.2}%, macro-F1 {:.4}",
            s.accuracy * 100.0,
            s.macro_f1
        );
    }
    if let Some(out) = &a.out {
        println!("wrote {}/confusion.csv, confusion.svg, eval.json", out.display());
    }
    Ok(())
}

/// `asl eval`'s headline: the model's accuracy, macro-F1 and top-k, then its five weakest
/// classes by F1.
fn print_eval_summary(dir: &std::path::Path, report: &asl_core::eval::EvalReport) {
    println!(
        "model {} on {} images: accuracy {:.2}%, macro-F1 {:.4}, top-3 {:.2}%, top-5 {:.2}%",
        dir.display(),
        report.images,
        report.accuracy * 100.0,
        report.macro_f1,
        report.top3_accuracy * 100.0,
        report.top5_accuracy * 100.0
    );
    let mut worst: Vec<_> = report.per_class.iter().filter(|c| c.support > 0).collect();
    worst.sort_by(|x, y| x.f1.total_cmp(&y.f1));
    let w: Vec<String> = worst
        .iter()
        .take(5)
        .map(|c| format!("{} (P {:.2} R {:.2})", c.class, c.precision, c.recall))
        .collect();
    println!("weakest classes: {}", w.join(", "));
}

/// `asl eval --by-source`: one line per source of photos, then the mean over sources.
fn print_by_source(r: &asl_core::eval::SourceReport) {
    for s in &r.sources {
        println!(
            "  source {:<20} {:>5} photos: accuracy {:6.2}%, top-3 {:6.2}%{}",
            s.source,
            s.images,
            s.accuracy * 100.0,
            s.top3_accuracy * 100.0,
            s.detection_rate
                .map(|d| format!(", hand found {:.1}%", d * 100.0))
                .unwrap_or_default()
        );
    }
    println!(
        "mean over {} sources: accuracy {:.2}%, top-3 {:.2}% (pooled {:.2}%){}",
        r.sources.len(),
        r.mean_accuracy_over_sources * 100.0,
        r.mean_top3_over_sources * 100.0,
        r.pooled_accuracy * 100.0,
        r.detection_rate
            .map(|d| format!("; hand found in {:.1}% of the photos", d * 100.0))
            .unwrap_or_default()
    );
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model folder (default: the newest under $ASL_HOME/models).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// A zip of photos spelling a word (ordered by natural sort of their names).
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
    /// Photos, one letter each, in order.
    pub photos: Vec<PathBuf>,
    /// Decode without the lexicon (argmax letters only).
    #[arg(long)]
    pub raw: bool,
    /// Also print every classified photo's 29 class probabilities (in `letters` order; with
    /// --json as the `probabilities` field).
    #[arg(long)]
    pub probabilities: bool,
    #[arg(long)]
    pub device: Option<String>,
}

pub fn predict_cmd(ws: &Workspace, a: PredictArgs, json: bool) -> CliResult {
    let dir = model_dir(ws, &a.model)?;
    let clf = asl_core::infer::Classifier::load_on(
        &dir,
        a.device.as_deref().unwrap_or(asl_core::model::default_device_name()),
    )?;
    let batch = match &a.zip {
        Some(z) => asl_core::word::read_zip_file(z, &asl_core::word::UploadLimits::default())?,
        None if a.photos.is_empty() => return Err("give photos to classify, or --zip FILE".into()),
        None => asl_core::word::read_files(&a.photos)?,
    };
    // word::predict_word, step by step, to keep the probabilities for --probabilities.
    let (ok, skipped) = asl_core::word::preprocess_batch(&clf, &batch);
    if ok.is_empty() {
        return Err(asl_core::word::WordError::NoPhotos(skipped).into());
    }
    let (names, images): (Vec<String>, Vec<_>) = ok.into_iter().unzip();
    let preds = clf.predict_prepared(&images)?;
    let answer = asl_core::word::estimate(
        &names,
        &preds,
        skipped,
        a.raw,
        asl_core::decode::Lexicon::bundled(),
        &Default::default(),
    )?;
    let probabilities: Vec<&Vec<f32>> = preds.iter().map(|p| &p.probabilities).collect();
    if json {
        return print_word_json(&answer, a.probabilities.then_some(&probabilities[..]));
    }
    print_word_letters(&answer);
    print_word(&answer);
    if a.probabilities {
        println!("probabilities ({}):", asl_core::classes::CLASSES.join(" "));
        for (l, p) in answer.estimate.letters.iter().zip(&probabilities) {
            println!("{:<24} {}", l.file, serde_json::to_string(p)?);
        }
    }
    Ok(())
}

/// `asl predict --json`: the answer, with the per-photo probabilities when asked for.
fn print_word_json(answer: &asl_core::word::WordAnswer, probabilities: Option<&[&Vec<f32>]>) -> CliResult {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        answer: &'a asl_core::word::WordAnswer,
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<&'a [&'a Vec<f32>]>,
    }
    println!("{}", serde_json::to_string(&Out { answer, probabilities })?);
    Ok(())
}

/// One line per classified photo: its class and confidence, the runner-up classes and the
/// path that answered; then the photos that were skipped, and why.
fn print_word_letters(answer: &asl_core::word::WordAnswer) {
    for ((l, top), path) in answer
        .estimate
        .letters
        .iter()
        .zip(&answer.top3)
        .zip(&answer.answered_by)
    {
        let alts: Vec<String> = top
            .iter()
            .skip(1)
            .map(|(c, p)| format!("{c} {:.0}%", p * 100.0))
            .collect();
        println!(
            "{:<24} {:<8} {:>5.1}%   ({})  [{}]",
            l.file,
            l.class,
            l.confidence * 100.0,
            alts.join(", "),
            path.as_str()
        );
    }
    for s in &answer.estimate.skipped {
        println!("{:<24} skipped: {}", s.file, s.reason);
    }
}

/// The word read, its confidence, and up to four alternative readings.
fn print_word(answer: &asl_core::word::WordAnswer) {
    println!(
        "word: {} (confidence {:.2})",
        answer.estimate.text, answer.estimate.confidence
    );
    let alts: Vec<String> = answer
        .estimate
        .alternatives
        .iter()
        .skip(1)
        .take(4)
        .map(|a| a.text.clone())
        .collect();
    if !alts.is_empty() {
        println!("alternatives: {}", alts.join(", "));
    }
}

#[derive(Args)]
pub struct DemoArgs {
    /// Train on this archive in Kaggle's layout (e.g. ../shared/data/asl-alphabet-64px.zip)
    /// instead of the synthetic dataset.
    #[arg(long, value_name = "FILE")]
    pub from_zip: Option<PathBuf>,
    /// The word (or phrase) to spell with held-out photos.
    #[arg(long, default_value = "HELLO WORLD")]
    pub word: String,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop training within this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub time_budget: Option<f64>,
    /// Stop after reading the word instead of starting the server.
    #[arg(long)]
    pub no_serve: bool,
    /// Port of the server the demo starts.
    #[arg(long, env = "ASL_PORT", default_value_t = 9696)]
    pub port: u16,
}

pub fn demo_cmd(ws: &Workspace, a: DemoArgs, json: bool) -> CliResult {
    let request = DemoRequest {
        from_zip: a.from_zip.clone(),
        word: a.word.clone(),
        epochs: a.epochs,
        time_budget_secs: a.time_budget,
    };
    let say = |line: &str| {
        if !json {
            println!("{line}")
        }
    };
    let demo = ws.demo(&request, &say, &TerminalProgress::default())?;
    if json {
        println!("{}", serde_json::to_string(&demo)?);
        return Ok(());
    }
    println!(
        "[predict] spelled {:?} in {} photos → letters {:?} → word {:?} (confidence {:.2})",
        demo.spelled, demo.photos, demo.letters, demo.answer.estimate.text, demo.answer.estimate.confidence
    );
    println!(
        "done in {:.0}s. Try it yourself:\n  asl --home {} predict --model {} --zip {}",
        demo.seconds,
        ws.home().root().display(),
        demo.model.display(),
        demo.word_zip.display()
    );
    if a.no_serve {
        return Ok(());
    }
    // 5. Serve the model; the page at / and a ready-to-paste curl.
    #[derive(clap::Parser)]
    struct ServeOnly {
        #[command(flatten)]
        serve: crate::serve::ServeArgs,
    }
    let port = a.port.to_string();
    let model = demo.model.display().to_string();
    let args =
        <ServeOnly as clap::Parser>::try_parse_from(["serve", "--port", port.as_str(), "--model", model.as_str()])?;
    println!(
        "[serve]   http://127.0.0.1:{port}/ (Ctrl-C to stop). Read the word over HTTP:\n  curl -s -F zipfile=@{} http://127.0.0.1:{port}/predict",
        demo.word_zip.display()
    );
    crate::serve::run(ws, args.serve)
}

#[derive(Args)]
pub struct WordEvalArgs {
    /// Model folder (default: the newest under $ASL_HOME/models).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Labelled photos (class folders, or a zip of them) whose probabilities the words are
    /// spelled with, e.g. other people's photos (default: the held-out split the model was
    /// trained on).
    #[arg(long, value_name = "DIR|ZIP")]
    pub data: Option<PathBuf>,
    /// Word sequences per noise level.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Noise levels mixed into the probabilities (a weaker classifier on harder photos).
    #[arg(long, value_delimiter = ',', default_value = "0,0.3,0.6")]
    pub noise: Vec<f32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Grid-search the decoder settings on one seed and report them on another.
    #[arg(long)]
    pub tune: bool,
    /// Decoder settings to evaluate instead of the defaults (the starting point of --tune).
    #[command(flatten)]
    pub decoder: DecoderArgs,
}

/// Overrides of the word decoder's defaults (`asl_core::decode::DecodeConfig`).
#[derive(Args)]
pub struct DecoderArgs {
    /// Weight of the word-frequency prior.
    #[arg(long)]
    pub prior_weight: Option<f32>,
    /// Prefixes kept per letter.
    #[arg(long)]
    pub beam_width: Option<usize>,
    /// An unknown word whose letters all have at least this probability wins.
    #[arg(long)]
    pub oov_min_confidence: Option<f32>,
    /// Log prior of other unknown words.
    #[arg(long)]
    pub oov_log_prior: Option<f32>,
}

impl DecoderArgs {
    fn config(&self) -> asl_core::decode::DecodeConfig {
        let d = asl_core::decode::DecodeConfig::default();
        asl_core::decode::DecodeConfig {
            prior_weight: self.prior_weight.unwrap_or(d.prior_weight),
            beam_width: self.beam_width.unwrap_or(d.beam_width),
            oov_min_confidence: self.oov_min_confidence.unwrap_or(d.oov_min_confidence),
            oov_log_prior: self.oov_log_prior.unwrap_or(d.oov_log_prior),
            ..d
        }
    }
}

pub fn word_eval_cmd(ws: &Workspace, a: WordEvalArgs, json: bool) -> CliResult {
    use asl_core::decode::Lexicon;
    use asl_core::decode_eval;
    let dir = model_dir(ws, &a.model)?;
    let clf = asl_core::infer::Classifier::load(&dir)?;
    let bank = ws.probability_bank(&clf, a.data.as_deref(), &TerminalProgress::default(), &Cancel::new())?;
    let lexicon = Lexicon::bundled();
    let mut rows = Vec::new();
    for &noise in &a.noise {
        let mut dcfg = a.decoder.config();
        let mut tuned = None;
        if a.tune {
            let t = decode_eval::tune(&bank, lexicon, &dcfg, &Default::default(), a.seed, a.n, noise)?;
            dcfg = t.best;
            tuned = Some(t.best);
        }
        // Report on sequences the tuning never saw.
        let r = decode_eval::evaluate(&bank, lexicon, &dcfg, a.seed.wrapping_add(1000), a.n, noise)?;
        if !json {
            println!(
                "noise {noise:.2}: word accuracy raw {:.2}% → lexicon {:.2}% | CER raw {:.4} → lexicon {:.4} | raw-correct turned wrong {} of {} ({:.2}%) | wrong turned right {} | names raw {:.1}% lexicon {:.1}% | {:.1} µs/word{}",
                r.raw_word_acc * 100.0,
                r.lexicon_word_acc * 100.0,
                r.raw_cer,
                r.lexicon_cer,
                r.raw_correct_turned_wrong,
                r.n,
                100.0 * r.raw_correct_turned_wrong as f64 / r.n as f64,
                r.wrong_turned_correct,
                r.raw_oov_acc * 100.0,
                r.lexicon_oov_acc * 100.0,
                r.mean_decode_us,
                tuned.map(|c| format!(" | tuned: {c:?}")).unwrap_or_default()
            );
        }
        rows.push(serde_json::json!({"noise": noise, "report": r, "config": dcfg}));
    }
    if json {
        println!("{}", serde_json::json!({"model": dir, "results": rows}));
    }
    Ok(())
}
