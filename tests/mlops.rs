//! HPO, tracking, the registry and the pipeline, for real: studies that train small models,
//! the local store, and a real `mlflow server` checked through MLflow's own REST API.
#[path = "support/quick_handshape.rs"]
mod quick_handshape;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use asl::AslHome;
use asl::dataset::layout;
use asl::hpo::{self, CacheProvider, Distribution, SearchSpace, StudyConfig, TrainObjective, TrialState};
use asl::infer::{Classifier, Lineage};
use asl::pipeline::{self, DataSource, PipelineConfig};
use asl::prep::{self, Cache, PrepConfig, PrepSource, Split};
use asl::progress::{Cancel, NoProgress};
use asl::registry::{self, Registry};
use asl::tracking::run::TrainingRun;
use asl::tracking::{LocalStore, MlflowStore, RunQuery, RunStatus, TrackingStore};
use asl::train::{self, Control, TrainConfig};

/// One synthetic archive per test binary (small: these tests are about the plumbing).
fn synthetic_zip() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let zip = dir.path().join("synth.zip");
    if !zip.exists() {
        asl::synth::write_zip(
            &asl::synth::SynthConfig {
                per_class: 10,
                image_size: 40,
                seed: 5,
                ..Default::default()
            },
            &zip,
        )
        .unwrap();
    }
    zip
}

fn synthetic_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        asl::dataset::extract::extract_zip(&synthetic_zip(), d.path(), &Default::default(), &NoProgress).unwrap();
        d
    });
    dir.path().to_path_buf()
}

fn cache(cache_dir: &Path, size: u32) -> Cache {
    let l = layout::scan(&synthetic_dir()).unwrap();
    prep::prepare(
        cache_dir,
        &PrepSource::from_folder(&l),
        &PrepConfig {
            image_size: size,
            val_fraction: 0.3,
            seed: 3,
        },
        false,
        &NoProgress,
        &Cancel::new(),
    )
    .unwrap()
    .cache
}

fn tiny(epochs: usize, seed: u64) -> TrainConfig {
    let mut c = TrainConfig {
        epochs,
        batch_size: 32,
        seed,
        ..Default::default()
    };
    c.model.input_size = 24;
    c.model.depth = 3;
    c.model.width = 8;
    c.model.hidden = 32;
    c.handshape = quick_handshape::quick_handshape();
    c
}

/// Train and track one run the way `asl train` does.
fn tracked_training(
    store: &dyn TrackingStore,
    home: &AslHome,
    cache: &Cache,
    cfg: &TrainConfig,
    name: &str,
) -> asl::tracking::RunInfo {
    let lineage = Lineage::of(cache);
    let tags = BTreeMap::from([("asl.kind".to_string(), "train".to_string())]);
    let run = TrainingRun::start(store, "asl-test", name, cfg, &lineage, &tags, None).unwrap();
    let mut on_epoch = |m: &train::EpochMetrics| {
        run.log_epoch(m).unwrap();
        Control::Continue
    };
    let out = train::train(
        cache,
        cfg,
        lineage,
        &home.runs_dir().join(name),
        &home.models_dir().join(name),
        &mut on_epoch,
        &NoProgress,
        &Cancel::new(),
    )
    .unwrap();
    let latency = asl::tracking::run::single_image_latency_ms(&out.model_dir, cache).unwrap();
    run.finish(&out, latency, &BTreeMap::new()).unwrap()
}

/// The whole flow on one store: log → search by metric → register → alias (guarded) →
/// download by alias → load and predict the same probabilities; promote and roll back.
fn round_trip(store: &dyn TrackingStore, home: &AslHome) {
    let c = cache(&home.cache_dir(), 24);
    let a = tracked_training(store, home, &c, &tiny(3, 1), "model-a");
    let b = tracked_training(store, home, &c, &tiny(1, 2), "model-b");
    assert_eq!(a.status, RunStatus::Finished);
    assert_eq!(a.tags["asl.cache_hash"], c.header.hash());
    assert!(a.tags.contains_key("asl.code_version"));
    // MLflow's standard tags, as its own clients set them.
    assert_eq!(a.tags["mlflow.source.name"], "asl");
    assert!(!a.tags["mlflow.user"].is_empty());
    assert_eq!(a.params["model.width"], "8");
    assert_eq!(a.params["epochs"], "3");

    // Search by metric, best first; history in step order.
    let runs = store
        .search_runs(
            "asl-test",
            &RunQuery {
                finished_only: true,
                order_by_metric_desc: Some(registry::SELECTION_METRIC.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].metrics[registry::SELECTION_METRIC] >= runs[1].metrics[registry::SELECTION_METRIC]);
    let history = store.metric_history(&a.run_id, "val_accuracy").unwrap();
    assert_eq!(history.iter().map(|m| m.step).collect::<Vec<_>>(), vec![1, 2, 3]);
    // The best run: the highest accuracy, ties going to the lower latency (search order alone
    // does not break ties).
    let best = registry::best_run(store, "asl-test", &BTreeMap::new())
        .unwrap()
        .unwrap();
    let top = runs[0].metrics[registry::SELECTION_METRIC];
    let latency = |r: &asl::tracking::RunInfo| {
        r.metrics
            .get(registry::LATENCY_METRIC)
            .copied()
            .unwrap_or(f64::INFINITY)
    };
    let expected = runs
        .iter()
        .filter(|r| r.metrics[registry::SELECTION_METRIC] == top)
        .min_by(|x, y| latency(x).total_cmp(&latency(y)))
        .unwrap();
    assert_eq!(best.run_id, expected.run_id);

    // Register both; the guard decides on the held-out split.
    let reg = Registry::new(store, home);
    let caches = CacheProvider::new(|size| {
        let l = layout::scan(&synthetic_dir()).unwrap();
        prep::prepare(
            &home.cache_dir(),
            &PrepSource::from_folder(&l),
            &PrepConfig {
                image_size: size as u32,
                val_fraction: 0.3,
                seed: 3,
            },
            false,
            &NoProgress,
            &Cancel::new(),
        )
        .map(|o| o.cache)
    });
    let heldout = |dir: &Path| asl::workspace::heldout_accuracy(&caches, dir);
    let va = reg.register_run(&a).unwrap();
    assert_eq!(va.version, 1);
    assert_eq!(
        reg.register_run(&a).unwrap().version,
        1,
        "registering a run twice gives its version back"
    );
    let d1 = reg.promote_if_better(1, &mut |d| heldout(d)).unwrap();
    assert!(d1.promoted, "{}", d1.reason);
    let vb = reg.register_run(&b).unwrap();
    assert_eq!(vb.version, 2);
    let d2 = reg.promote_if_better(2, &mut |d| heldout(d)).unwrap();
    assert_eq!(
        d2.promoted,
        d2.candidate_accuracy > d2.champion_accuracy.unwrap(),
        "{d2:?}"
    );
    let champion = reg.alias(registry::CHAMPION).unwrap().unwrap();
    if d2.promoted {
        assert_eq!(champion.version, 2);
    } else {
        assert_eq!(champion.version, 1);
        assert_eq!(reg.alias(registry::CHALLENGER).unwrap().unwrap().version, 2);
        assert!(d2.reason.contains("does not beat"), "{}", d2.reason);
    }
    assert!(reg.alias("nope").unwrap().is_none());

    // Manual promotion, then rollback to the previous champion.
    let before = champion.version;
    let other = if before == 1 { 2 } else { 1 };
    reg.promote(other).unwrap();
    assert_eq!(reg.alias(registry::CHAMPION).unwrap().unwrap().version, other);
    assert_eq!(reg.rollback().unwrap().version, before);
    assert_eq!(reg.alias(registry::CHAMPION).unwrap().unwrap().version, before);
    let listed = reg.versions().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .find(|v| v.version == before)
            .unwrap()
            .aliases
            .contains(&"champion".to_string())
    );

    // Download by alias, load, predict: the same probabilities as the trained folder.
    let v = reg.resolve("champion").unwrap();
    let dir = reg.fetch(&v).unwrap();
    let trained = home
        .models_dir()
        .join(if v.run_id == a.run_id { "model-a" } else { "model-b" });
    let (x, y) = (Classifier::load(&dir).unwrap(), Classifier::load(&trained).unwrap());
    let imgs: Vec<&[u8]> = (0..5).map(|i| c.pixels(Split::Val, i)).collect();
    let (px, py) = (x.probabilities(&imgs).unwrap(), y.probabilities(&imgs).unwrap());
    assert!(px.iter().zip(&py).all(|(p, q)| (p - q).abs() < 1e-6));
    assert!(
        dir.join("confusion.csv").is_file(),
        "the confusion matrix travels with the model"
    );
    // ... and MLflow's model format around it (tests/../asl-py: mlflow.pyfunc loads it).
    let mlmodel = std::fs::read_to_string(dir.join("MLmodel")).unwrap();
    assert!(mlmodel.contains("loader_module: asl.mlflow_model"), "{mlmodel}");
    assert!(mlmodel.contains(&format!("run_id: \"{}\"", v.run_id)), "{mlmodel}");

    // A study: one parent run, a child per trial, the best trial summed up on the parent.
    let study_dir = home.root().join("hpo/st");
    let parent = asl::tracking::run::study_run(store, "asl-test-hpo", "st", &study_dir).unwrap();
    assert_eq!(
        asl::tracking::run::study_run(store, "asl-test-hpo", "st", &study_dir).unwrap(),
        parent,
        "a resumed study keeps its parent run"
    );
    let child_tags = BTreeMap::from([(asl::tracking::PARENT_RUN_TAG.to_string(), parent.clone())]);
    let child = TrainingRun::start(
        store,
        "asl-test-hpo",
        "st-trial-0",
        &tiny(1, 3),
        &Lineage::of(&c),
        &child_tags,
        None,
    )
    .unwrap();
    assert_eq!(
        store.get_run(&child.run_id).unwrap().tags[asl::tracking::PARENT_RUN_TAG],
        parent
    );
    let mut params = BTreeMap::new();
    params.insert("lr".to_string(), serde_json::json!(0.01));
    let study = hpo::Study {
        format: hpo::STUDY_FORMAT,
        name: "st".into(),
        config: small_study(1, 1),
        trials: vec![hpo::Trial {
            number: 0,
            params,
            internal: BTreeMap::new(),
            state: hpo::TrialState::Complete,
            intermediate: vec![0.5],
            value: Some(0.5),
            latency_ms: None,
            run_id: Some(child.run_id.clone()),
            model_dir: None,
            seconds: 1.0,
            error: None,
        }],
        elapsed_secs: 1.0,
        finished: true,
    };
    asl::tracking::run::finish_study_run(store, &parent, &study).unwrap();
    let p = store.get_run(&parent).unwrap();
    assert_eq!(p.status, RunStatus::Finished);
    assert_eq!(p.metrics[asl::tracking::run::STUDY_BEST_METRIC], 0.5);
    assert!(
        !p.metrics.contains_key(registry::SELECTION_METRIC),
        "searches for models must not find the study"
    );
    assert_eq!(p.tags["asl.best_run_id"], child.run_id);
    assert_eq!(p.tags["best.lr"], "0.01");
    assert_eq!(p.tags["asl.kind"], "hpo-study");
}

#[test]
fn local_store_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let home = AslHome::new(home.path());
    let store = LocalStore::new(home.root().join("tracking"), home.registry_dir());
    round_trip(&store, &home);
    // Params cannot change; keys follow MLflow's rules; a torn metrics line is ignored.
    let run = store.create_run("asl-test", "x", &BTreeMap::new()).unwrap();
    store
        .log_params(&run.run_id, &BTreeMap::from([("lr".to_string(), "0.1".to_string())]))
        .unwrap();
    assert!(
        store
            .log_params(&run.run_id, &BTreeMap::from([("lr".to_string(), "0.2".to_string())]))
            .is_err()
    );
    assert!(
        store
            .log_params(
                &run.run_id,
                &BTreeMap::from([("bad key!".to_string(), "1".to_string())])
            )
            .is_err()
    );
    store
        .log_metrics(&run.run_id, &[asl::tracking::MetricPoint::now("m", 1.0, 1)])
        .unwrap();
    let metrics = home
        .root()
        .join("tracking/runs")
        .join(&run.run_id)
        .join("metrics.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&metrics).unwrap();
    std::io::Write::write_all(&mut f, b"{\"key\":\"m\",\"val").unwrap();
    assert_eq!(store.metric_history(&run.run_id, "m").unwrap().len(), 1);
    // The next point after a tear is kept.
    store
        .log_metrics(&run.run_id, &[asl::tracking::MetricPoint::now("m", 2.0, 2)])
        .unwrap();
    assert_eq!(
        store
            .metric_history(&run.run_id, "m")
            .unwrap()
            .iter()
            .map(|m| m.value)
            .collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    assert!(
        store
            .log_metrics(&run.run_id, &[asl::tracking::MetricPoint::now("m", f64::NAN, 2)])
            .is_err()
    );
}

/// A real `mlflow server` on loopback (SQLite backend, artifact proxy, one worker), stopped on
/// drop. Found at $ASL_MLFLOW_BIN, ./.venv/bin/mlflow or on PATH; under CI=true a missing
/// MLflow fails the test instead of skipping it.
struct Mlflow {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Mlflow {
    fn start() -> Option<Mlflow> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let candidates = [
            std::env::var("ASL_MLFLOW_BIN").ok().map(PathBuf::from),
            Some(repo.join(".venv/bin/mlflow")),
        ];
        let bin = candidates.into_iter().flatten().find(|p| p.is_file()).or_else(|| {
            Command::new("mlflow")
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("mlflow"))
        });
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no mlflow: run scripts/test.sh (it installs MLflow into .venv) or set ASL_MLFLOW_BIN"
            );
            eprintln!("SKIPPED: no mlflow (scripts/test.sh installs it into .venv)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("mlflow.log")).unwrap();
        let child = Command::new(&bin)
            .args([
                "server",
                "--backend-store-uri",
                &format!("sqlite:///{}/mlflow.db", dir.path().display()),
                "--artifacts-destination",
                &dir.path().join("artifacts").display().to_string(),
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                "1",
            ])
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let server = Mlflow { child, url, _dir: dir };
        let client = reqwest::blocking::Client::new();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(120) {
            if client
                .get(format!("{}/health", server.url))
                .timeout(Duration::from_secs(2))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let log = std::fs::read_to_string(server._dir.path().join("mlflow.log")).unwrap_or_default();
        panic!("mlflow server did not become healthy in 120 s:\n{log}");
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        // SIGTERM ends mlflow's whole process tree (SIGKILL would orphan its workers).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

#[test]
fn mlflow_round_trip() {
    let Some(server) = Mlflow::start() else { return };
    let home = tempfile::tempdir().unwrap();
    let home = AslHome::new(home.path());
    let store = MlflowStore::connect(&server.url).unwrap();
    round_trip(&store, &home);

    // What MLflow's UI shows, read through MLflow's own REST API.
    let http = reqwest::blocking::Client::new();
    let get = |path: &str, q: &[(&str, &str)]| -> serde_json::Value {
        http.get(format!("{}/api/2.0/mlflow/{path}", server.url))
            .query(q)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap()
    };
    let model = get("registered-models/get", &[("name", registry::MODEL_NAME)]);
    let aliases = model["registered_model"]["aliases"].as_array().unwrap();
    assert!(aliases.iter().any(|a| a["alias"] == "champion"), "{model}");
    let exp = get("experiments/get-by-name", &[("experiment_name", "asl-test")]);
    let exp_id = exp["experiment"]["experiment_id"].as_str().unwrap();
    let found: serde_json::Value = http
        .post(format!("{}/api/2.0/mlflow/runs/search", server.url))
        .json(&serde_json::json!({"experiment_ids": [exp_id], "filter": "metrics.final_val_accuracy >= 0", "order_by": ["metrics.final_val_accuracy DESC"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["runs"].as_array().unwrap().len(), 2, "{found}");
    let champion = get(
        "registered-models/alias",
        &[("name", registry::MODEL_NAME), ("alias", "champion")],
    );
    let run_id = champion["model_version"]["run_id"].as_str().unwrap();
    let files = get("artifacts/list", &[("run_id", run_id), ("path", "model")]);
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"model/model.json")
            && names.contains(&"model/confusion.svg")
            && names.contains(&"model/MLmodel"),
        "{names:?}"
    );
    // The training data is the run's logged input, not only tags.
    let run = get("runs/get", &[("run_id", run_id)]);
    let inputs = run["run"]["inputs"]["dataset_inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{run}");
    let dataset = &inputs[0]["dataset"];
    assert_eq!(dataset["source_type"], "asl", "{run}");
    assert!(!dataset["digest"].as_str().unwrap().is_empty());
    assert_eq!(inputs[0]["tags"][0]["value"], "training", "{run}");
    let tags = run["run"]["data"]["tags"].as_array().unwrap();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t["key"] == k)
            .map(|t| t["value"].as_str().unwrap().to_string())
    };
    assert_eq!(tag("mlflow.source.name").as_deref(), Some("asl"), "{run}");
    assert!(tag("mlflow.user").is_some_and(|u| !u.is_empty()), "{run}");
    // The commit the library was built from (absent outside a git checkout).
    if let Some((_, commit)) = asl::tracking::run::code_version().split_once('+') {
        assert_eq!(tag("mlflow.source.git.commit").as_deref(), Some(commit), "{run}");
    }
}

fn small_space() -> SearchSpace {
    SearchSpace(BTreeMap::from([
        ("lr".into(), Distribution::LogUniform { low: 1e-3, high: 1e-2 }),
        (
            "width".into(),
            Distribution::Categorical {
                choices: vec![8.into(), 12.into()],
            },
        ),
        (
            "input_size".into(),
            Distribution::Categorical {
                choices: vec![24.into(), 32.into()],
            },
        ),
    ]))
}

fn small_study(trials: usize, parallel: usize) -> StudyConfig {
    let mut base = tiny(3, 0);
    base.model.hidden = 32;
    StudyConfig {
        space: small_space(),
        max_trials: Some(trials),
        parallel,
        max_epochs: 3,
        startup_trials: 2,
        pruner: hpo::Pruner {
            enabled: true,
            min_epochs: 1,
            eta: 2,
            bootstrap: 2,
        },
        base,
        ..Default::default()
    }
}

#[test]
fn hpo_study_trains_in_parallel_and_resumes_after_interruption() {
    let home = tempfile::tempdir().unwrap();
    let home = AslHome::new(home.path());
    let store = LocalStore::new(home.root().join("tracking"), home.registry_dir());
    let caches = CacheProvider::new(|size| Ok(cache(&home.cache_dir(), size as u32)));
    let objective = TrainObjective {
        caches: &caches,
        store: Some(&store),
        experiment: "asl-hpo".into(),
        study: "s".into(),
        parent_run_id: Some(asl::tracking::run::study_run(&store, "asl-hpo", "s", &home.root().join("hpo/s")).unwrap()),
    };
    let dir = home.root().join("hpo/s");
    // Interrupt as soon as the first trial finishes (the other may be mid-training).
    let cancel = Cancel::new();
    let stopper = |line: &str| {
        if line.contains("complete with") || line.contains("pruned with") {
            cancel.cancel();
        }
    };
    let first = hpo::run_study(&dir, "s", &small_study(5, 2), &objective, &stopper, &cancel);
    assert!(matches!(first, Err(hpo::HpoError::Cancelled)), "{first:?}");
    let saved = hpo::Study::load(&dir).unwrap().unwrap();
    assert!(saved.trials.iter().any(|t| t.state != TrialState::Running));
    let interrupted: Vec<usize> = saved
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Running)
        .map(|t| t.number)
        .collect();
    // (Both trials may finish in the same instant; the SIGKILL test in asl-cli always resumes one.)
    eprintln!("interrupted trials: {interrupted:?}");

    // The same call continues: interrupted trials resume, new ones fill the budget.
    let quiet = |_: &str| {};
    let study = hpo::run_study(&dir, "s", &small_study(5, 2), &objective, &quiet, &Cancel::new()).unwrap();
    assert!(study.finished);
    assert_eq!(study.trials.len(), 5);
    assert!(
        study
            .trials
            .iter()
            .all(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned)),
        "{:?}",
        study.trials
    );
    for n in interrupted {
        assert_eq!(
            study.trials[n].params, saved.trials[n].params,
            "a resumed trial keeps its parameters"
        );
    }
    // One tracked run per trial (a resumed trial logs into the run it started), each a child
    // of the study's run.
    let trials = RunQuery {
        tags: BTreeMap::from([("asl.kind".to_string(), "hpo-trial".to_string())]),
        ..RunQuery::default()
    };
    let runs = store.search_runs("asl-hpo", &trials).unwrap();
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r.status == RunStatus::Finished && r.tags.contains_key("asl.trial_state"))
    );
    let parent = objective.parent_run_id.as_deref().unwrap();
    assert!(runs.iter().all(|r| r.tags[asl::tracking::PARENT_RUN_TAG] == parent));
    assert_eq!(
        store.search_runs("asl-hpo", &RunQuery::default()).unwrap().len(),
        6,
        "5 trials and the study"
    );
    let best = study.best().unwrap();
    assert!(best.value.unwrap() > 0.0 && best.latency_ms.is_some());
}

#[test]
fn pipeline_runs_every_step_then_skips_what_has_not_changed() {
    let home = tempfile::tempdir().unwrap();
    let home = AslHome::new(home.path());
    let store = LocalStore::new(home.root().join("tracking"), home.registry_dir());
    let cfg = PipelineConfig {
        dataset: asl::dataset::DatasetRef::parse("asl/synthetic").unwrap().0,
        source: DataSource::Zip(synthetic_zip()),
        prep: PrepConfig {
            image_size: 24,
            val_fraction: 0.3,
            seed: 3,
        },
        study: small_study(3, 1),
        network_attempts: 1,
    };
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let say = |l: &str| lines.lock().unwrap().push(l.to_string());
    let first = pipeline::run_pipeline(&home, &cfg, &store, &say, &Cancel::new()).unwrap();
    assert_eq!(
        first.steps.iter().map(|s| s.action).collect::<Vec<_>>(),
        vec!["ran"; 4],
        "{:?}",
        first.steps
    );
    assert_eq!(first.registered_version, Some(1));
    assert!(first.promotion.as_ref().unwrap().promoted);
    let second = pipeline::run_pipeline(&home, &cfg, &store, &say, &Cancel::new()).unwrap();
    assert_eq!(
        second.steps.iter().map(|s| s.action).collect::<Vec<_>>(),
        vec!["skipped"; 4],
        "{:?}",
        second.steps
    );
    assert_eq!(second.registered_version, Some(1));
    assert!(lines.lock().unwrap().iter().any(|l| l.starts_with("[register]")));
    // The registry serves what the pipeline registered.
    let source = asl_http::ModelSource::Registry {
        home: home.clone(),
        alias: "champion".into(),
    };
    assert!(Classifier::load(&source.resolve().unwrap()).is_ok());
}
