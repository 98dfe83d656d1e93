//! The `asl` binary as a person uses it: exit codes, one-line errors, `--json` output, the
//! collect flow against a local Kaggle stand-in, and the prep → train → eval → predict chain,
//! including a training run killed with SIGKILL and resumed.
#[path = "../../tests/support/fake_kaggle.rs"]
mod fake_kaggle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fake_kaggle::{FakeKaggle, Fault};

fn asl(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asl"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("KAGGLE_API_TOKEN")
        .env_remove("KAGGLE_USERNAME")
        .env_remove("KAGGLE_KEY")
        .env_remove("KAGGLE_API_ENVIRONMENT")
        .env_remove("MLFLOW_TRACKING_URI")
        .env("HOME", home)
        .output()
        .expect("run asl")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "asl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn synth_zip(dir: &Path, per_class: &str, size: &str) -> PathBuf {
    let zip = dir.join(format!("synth-{per_class}-{size}.zip"));
    let out = asl(
        dir,
        &[
            "synth",
            "--out",
            zip.to_str().unwrap(),
            "--per-class",
            per_class,
            "--size",
            size,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    zip
}

/// A training configuration for tests of the plumbing: the hand path is still built (detection,
/// hand cache, handshape model, then kept where it reads the validation photos as well as the
/// CNN), but its MLP trains on the test's own hands and a few prior hands for a few epochs
/// instead of the default ~50,000 rows for 80 epochs (about a minute on 2 cores, paid again by
/// every fresh cache).
fn quick_hands_config(dir: &Path) -> PathBuf {
    let path = dir.join("quick-hands.json");
    std::fs::write(
        &path,
        r#"{"handshape": {"hidden": [32], "epochs": 3, "augmented_copies": 1, "prior_samples": 30, "other_signers_repeat": 0}}"#,
    )
    .unwrap();
    path
}

#[test]
fn collect_status_and_errors_through_the_binary() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let zip = synth_zip(h, "2", "16");
    let server = FakeKaggle::start();
    server.publish("grassknoted/asl-alphabet", 1, std::fs::read(&zip).unwrap());
    let url = server.base_url();

    let st = json(&asl(h, &["--json", "status", "--kaggle-url", &url]));
    assert_eq!(st["outdated"], true);
    assert_eq!(st["remote"]["current_version"], 1);
    // --exit-code: status 3 while the local copy is missing or outdated, 0 once collected.
    let out = asl(h, &["status", "--kaggle-url", &url, "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));

    let c = json(&asl(h, &["--json", "collect", "--kaggle-url", &url]));
    assert_eq!(c["action"], "downloaded");
    assert_eq!(c["download"]["md5_verified"], true);
    let again = json(&asl(h, &["--json", "collect", "--kaggle-url", &url]));
    assert_eq!(again["action"], "up to date");
    let st = json(&asl(h, &["--json", "status", "--kaggle-url", &url]));
    assert_eq!(st["outdated"], false);
    assert_eq!(
        asl(h, &["status", "--kaggle-url", &url, "--exit-code"]).status.code(),
        Some(0)
    );

    // Errors: one line on stderr, with a hint, and a non-zero exit.
    server.require_auth(Some("Bearer secret"));
    let out = asl(h, &["collect", "--kaggle-url", &url, "--force"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("401") && err.contains("KAGGLE_API_TOKEN"), "{err}");
    // With --json, the failure is one object on stdout with a stable code.
    let out = asl(h, &["--json", "collect", "--kaggle-url", &url, "--force"]);
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(e["error"], "kaggle_unauthorized", "{e}");
    assert!(e["message"].as_str().unwrap().contains("401"), "{e}");
    server.require_auth(None);
    let out = asl(h, &["collect", "--kaggle-url", &url, "--dataset", "nobody/nothing"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not found"));
    let out = asl(h, &["collect", "--dataset", "not a ref"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("owner/slug"));
    let out = asl(h, &["--json", "collect", "--dataset", "not a ref"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["error"],
        "bad_dataset_reference"
    );
    // A usage error is status 2 (clap's), distinct from a failed operation.
    assert_eq!(asl(h, &["collect", "--no-such-flag"]).status.code(), Some(2));
    // Shell completions and the man page come from the same flag definitions.
    let bash = asl(h, &["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("complete") && bash.contains("--exit-code"), "{bash}");
    let man = asl(h, &["man"]);
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".TH asl") && man.contains("Exit status"), "{man}");
    let out = asl(
        h,
        &["collect", "--kaggle-url", "http://127.0.0.1:9", "--dataset", "a/b"],
    );
    assert!(!out.status.success(), "an unreachable server fails");

    // 429 is waited out through the binary too.
    server.push_fault(Fault::RateLimited { retry_after_secs: 1 });
    let t = Instant::now();
    let st = json(&asl(h, &["--json", "status", "--kaggle-url", &url]));
    assert_eq!(st["outdated"], false);
    assert!(t.elapsed() >= Duration::from_millis(900));

    // Offline registration of a hand-made copy.
    let r = json(&asl(
        h,
        &[
            "--json",
            "collect",
            "--dataset",
            "me/mine",
            "--from-zip",
            zip.to_str().unwrap(),
            "--version",
            "4",
        ],
    ));
    assert_eq!(r["manifest"]["version"], 4);
    assert_eq!(r["action"], "imported");
}

#[test]
fn prep_train_eval_predict_and_resume_after_a_kill() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let zip = synth_zip(h, "12", "48");
    json(&asl(h, &["--json", "collect", "--from-zip", zip.to_str().unwrap()]));
    let quick = quick_hands_config(h);
    let p = json(&asl(h, &["--json", "prep", "--size", "32"]));
    assert_eq!(p["built"], true);
    assert_eq!(json(&asl(h, &["--json", "prep", "--size", "32"]))["built"], false);

    // A misspelt key in a --config file is refused, naming it (serde alone would train with
    // the default in its place).
    let typo = h.join("typo.json");
    std::fs::write(&typo, r#"{"handshape": {"epochz": 3}}"#).unwrap();
    let out = asl(
        h,
        &["--json", "train", "--size", "32", "--config", typo.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(e["error"], "invalid_argument", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(r#"unknown key "handshape.epochz""#) && message.contains("epochs"),
        "{e}"
    );
    assert!(!h.join("models").exists(), "nothing trained");

    // A training run killed mid-way resumes from its last checkpoint.
    let run_dir = h.join("runs/killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_asl"))
        .args([
            "--home",
            h.to_str().unwrap(),
            "train",
            "--size",
            "32",
            "--epochs",
            "40",
            "--width",
            "8",
            "--depth",
            "3",
            "--name",
            "killed",
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--config",
            quick.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = run_dir.join("checkpoint/state.json");
    let t = Instant::now();
    while !state.exists() && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(state.exists(), "no checkpoint after 120 s");
    child.kill().unwrap();
    child.wait().unwrap();
    let done: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let done = done["epochs_done"].as_u64().unwrap();
    assert!((1..40).contains(&done));
    let out = json(&asl(
        h,
        &[
            "--json",
            "train",
            "--size",
            "32",
            "--epochs",
            "40",
            "--width",
            "8",
            "--depth",
            "3",
            "--name",
            "killed",
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--time-budget",
            "1",
            "--config",
            quick.to_str().unwrap(),
        ],
    ));
    let history = out["history"].as_array().unwrap();
    assert!(history.len() as u64 > done, "resumed run must add epochs");
    assert_eq!(history[0]["epoch"], 1, "the history of the killed run is kept");

    // eval and predict default to the newest model.
    let e = json(&asl(h, &["--json", "eval", "--stress"]));
    assert!(e["report"]["accuracy"].as_f64().unwrap() > 0.0);
    assert!(e["stress"]["accuracy"].is_number());
    let data = h.join("datasets/grassknoted/asl-alphabet/versions/1/asl_alphabet_train/asl_alphabet_train");
    let e2 = json(&asl(
        h,
        &[
            "--json",
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--out",
            h.join("ev").to_str().unwrap(),
        ],
    ));
    assert_eq!(e2["report"]["images"], 29 * 12);
    assert!(h.join("ev/confusion.svg").is_file());

    let photos: Vec<String> = ["H", "I"]
        .iter()
        .map(|c| data.join(c).join(format!("{c}1.jpg")).display().to_string())
        .collect();
    let mut args = vec!["--json", "predict"];
    args.extend(photos.iter().map(|s| s.as_str()));
    let pr = json(&asl(h, &args));
    assert_eq!(pr["letters"].as_array().unwrap().len(), 2);
    assert!(pr["text"].is_string() && pr["complete"] == true);
    let out = asl(h, &["predict", "--model", h.join("nope").to_str().unwrap(), &photos[0]]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a model folder"));
}

/// `asl pipeline` against the Kaggle stand-in: every step runs, a second run skips them all, a
/// new dataset version re-runs what it invalidates; then the registry commands.
#[test]
fn pipeline_skips_what_has_not_changed_and_follows_a_new_version() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let server = FakeKaggle::start();
    server.publish(
        "grassknoted/asl-alphabet",
        1,
        std::fs::read(synth_zip(h, "6", "24")).unwrap(),
    );
    let url = server.base_url();
    let quick = quick_hands_config(h);
    let space = h.join("space.json");
    std::fs::write(&space, r#"{"lr": {"type": "log_uniform", "low": 0.001, "high": 0.01}, "width": {"type": "categorical", "choices": [8]}}"#).unwrap();
    let run = || {
        json(&asl(
            h,
            &[
                "--json",
                "pipeline",
                "--kaggle-url",
                &url,
                "--size",
                "24",
                "--trials",
                "2",
                "--epochs",
                "2",
                "--space",
                space.to_str().unwrap(),
                "--config",
                quick.to_str().unwrap(),
            ],
        ))
    };
    let actions = |v: &serde_json::Value| {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["action"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let first = run();
    assert_eq!(actions(&first), ["ran", "ran", "ran", "ran"], "{first}");
    assert_eq!(first["registered_version"], 1);
    assert_eq!(first["promotion"]["promoted"], true);
    let second = run();
    assert_eq!(
        actions(&second),
        ["skipped", "skipped", "skipped", "skipped"],
        "{second}"
    );

    // Kaggle publishes version 2: everything downstream runs again (new cache, new study).
    server.publish(
        "grassknoted/asl-alphabet",
        2,
        std::fs::read(synth_zip(h, "7", "24")).unwrap(),
    );
    let third = run();
    assert_eq!(actions(&third), ["ran", "ran", "ran", "ran"], "{third}");
    assert_eq!(third["dataset_version"], 2);
    assert_eq!(third["registered_version"], 2);
    assert_ne!(third["study"], first["study"]);

    // The registry from the command line.
    let models = json(&asl(h, &["--json", "models"]));
    assert_eq!(models["versions"].as_array().unwrap().len(), 2);
    let champion = |m: &serde_json::Value| {
        m["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["aliases"].as_array().unwrap().iter().any(|a| a == "champion"))
            .map(|v| v["version"].as_u64().unwrap())
    };
    let before = champion(&models).unwrap();
    let other = if before == 1 { "2" } else { "1" };
    json(&asl(h, &["--json", "models", "promote", other]));
    assert_eq!(
        champion(&json(&asl(h, &["--json", "models"]))),
        Some(other.parse().unwrap())
    );
    json(&asl(h, &["--json", "models", "rollback"]));
    assert_eq!(champion(&json(&asl(h, &["--json", "models"]))), Some(before));
    let fetched = json(&asl(h, &["--json", "models", "fetch", "champion"]));
    assert!(Path::new(fetched["dir"].as_str().unwrap()).join("model.json").is_file());
    let runs = json(&asl(h, &["--json", "runs"]));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 4);
    // Every trial started from the --config file.
    for run in runs["runs"].as_array().unwrap() {
        assert_eq!(run["params"]["handshape.epochs"], "3", "{run}");
    }
    // A bad alias: a clear error, non-zero exit.
    let bad = asl(h, &["models", "fetch", "nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
}

/// `asl hpo` killed with SIGKILL in the middle of a trial: the same command continues the
/// study (the interrupted trial resumes from its checkpoint, in the same tracked run).
#[test]
fn hpo_killed_mid_trial_continues_where_it_stopped() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let zip = synth_zip(h, "12", "32");
    json(&asl(h, &["--json", "collect", "--from-zip", zip.to_str().unwrap()]));
    let space = h.join("space.json");
    std::fs::write(&space, r#"{"lr": {"type": "log_uniform", "low": 0.001, "high": 0.01}, "width": {"type": "categorical", "choices": [8, 12]}}"#).unwrap();
    let quick = quick_hands_config(h);
    let args = [
        "--home",
        h.to_str().unwrap(),
        "--json",
        "hpo",
        "--size",
        "32",
        "--trials",
        "3",
        "--epochs",
        "30",
        "--no-prune",
        "--study",
        "killed",
        "--space",
        space.to_str().unwrap(),
        "--config",
        quick.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_asl"))
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first trial has a checkpoint (mid-trial: 30 epochs are far away).
    let study = h.join("hpo/killed/study.json");
    let checkpoint = h.join("hpo/killed/trials/0/run/checkpoint/state.json");
    let t = Instant::now();
    while !checkpoint.exists() && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(checkpoint.exists(), "no checkpoint after 120 s");
    child.kill().unwrap();
    child.wait().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&study).unwrap()).unwrap();
    assert_eq!(saved["trials"][0]["state"], "running");
    let params = saved["trials"][0]["params"].clone();

    // Continue with a shorter plan for the test's sake: the same study, budgets may change.
    let out = asl(
        h,
        &[
            "--json",
            "hpo",
            "--size",
            "32",
            "--trials",
            "3",
            "--epochs",
            "30",
            "--no-prune",
            "--study",
            "killed",
            "--space",
            space.to_str().unwrap(),
            "--time-budget",
            "5",
            "--config",
            quick.to_str().unwrap(),
        ],
    );
    let v = json(&out);
    let trials = v["trials"].as_array().unwrap();
    assert!(!trials.is_empty());
    assert_eq!(trials[0]["params"], params, "the interrupted trial kept its parameters");
    assert_ne!(trials[0]["state"], "running", "{v}");
    let runs = json(&asl(h, &["--json", "runs", "--study", "killed"]));
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        trials.len(),
        "one tracked run per trial, none duplicated by the resume"
    );
    // Every trial started from the --config file (sampled parameters aside).
    for run in runs {
        assert_eq!(run["params"]["handshape.epochs"], "3", "{run}");
        assert_eq!(run["params"]["handshape.other_signers_repeat"], "0", "{run}");
    }
    // Resumed from the checkpoint, not restarted: each epoch was logged once in that run.
    let trial0 = runs.iter().find(|r| r["tags"]["asl.trial"] == "0").unwrap();
    let metrics = std::fs::read_to_string(
        h.join("tracking/runs")
            .join(trial0["run_id"].as_str().unwrap())
            .join("metrics.jsonl"),
    )
    .unwrap();
    let epoch1 = metrics
        .lines()
        .filter(|l| l.contains("\"key\":\"val_accuracy\"") && l.contains("\"step\":1,"))
        .count();
    assert_eq!(epoch1, 1, "epoch 1 trained twice:\n{metrics}");
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains("\"key\":\"val_accuracy\""))
            .count()
            >= 2,
        "the resumed trial trained on"
    );
}

/// `asl pipeline --watch`: a new Kaggle version published while it watches is collected and
/// trained on at the next check.
#[test]
fn pipeline_watch_follows_a_new_version() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let server = FakeKaggle::start();
    server.publish(
        "grassknoted/asl-alphabet",
        1,
        std::fs::read(synth_zip(h, "6", "24")).unwrap(),
    );
    let space = h.join("space.json");
    std::fs::write(&space, r#"{"lr": {"type": "log_uniform", "low": 0.001, "high": 0.01}}"#).unwrap();
    let quick = quick_hands_config(h);
    let log = h.join("watch.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_asl"))
        .args([
            "--home",
            h.to_str().unwrap(),
            "pipeline",
            "--kaggle-url",
            &server.base_url(),
            "--size",
            "24",
            "--trials",
            "1",
            "--epochs",
            "1",
            "--space",
            space.to_str().unwrap(),
            "--config",
            quick.to_str().unwrap(),
            "--watch",
            "1s",
        ])
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("KAGGLE_API_TOKEN")
        .env("HOME", h)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A round trains a model and probes its photos for hands: on 2 busy cores that took over
    // 2 minutes once (CI beside a release build). The deadline only keeps a hang from lasting.
    let wait_for = |needle: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(600) {
            if std::fs::read_to_string(&log).unwrap_or_default().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    };
    assert!(
        wait_for("[watch] round done: dataset v1"),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    server.publish(
        "grassknoted/asl-alphabet",
        2,
        std::fs::read(synth_zip(h, "7", "24")).unwrap(),
    );
    let found = wait_for("[watch] round done: dataset v2");
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(found, "{text}");
    assert!(
        text.contains("[collect] ran — downloaded grassknoted/asl-alphabet version 2"),
        "{text}"
    );
}

/// The hand path end to end through the binary: `prep --detect-hands` caches the landmarks,
/// `train --hands on` adds the handshape model to the model folder (`pipeline` in
/// `model.json`), `predict` reads the committed photos of other signers by their hands, and
/// `eval --data ZIP --by-source` reports the detection rate. Trained on the shared 200 px
/// Kaggle photos (the detector needs resolution), else on generated photos, whose drawn hands
/// MediaPipe finds too (~87 %).
#[test]
fn the_hand_path_reads_other_signers_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/asl-alphabet-200px-subset.zip");
    let archive = if shared.is_file() {
        shared
    } else {
        synth_zip(home, "14", "64")
    };
    json(&asl(
        home,
        &["--json", "collect", "--from-zip", archive.to_str().unwrap()],
    ));
    // A small training folder: the first 14 photos of each class.
    let root = home.join("datasets/grassknoted/asl-alphabet/versions/1/asl_alphabet_train/asl_alphabet_train");
    let data = home.join("subset");
    for class in std::fs::read_dir(&root).unwrap().flatten() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(class.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        let dest = data.join(class.file_name());
        std::fs::create_dir_all(&dest).unwrap();
        for f in files.iter().take(14) {
            std::fs::copy(f, dest.join(f.file_name().unwrap())).unwrap();
        }
    }
    let data_arg = data.to_str().unwrap();
    let prep = json(&asl(home, &["--json", "prep", "--data", data_arg, "--detect-hands"]));
    let rate = prep["hand_detection_rate"].as_f64().unwrap();
    // Kaggle's 26 letters + del + space show hands (~95 % found), `nothing` none; the drawn
    // hands are found in ~87 % of the generated photos.
    assert!((0.75..0.97).contains(&rate), "hand detection rate {rate}");
    json(&asl(
        home,
        &[
            "--json",
            "train",
            "--data",
            data_arg,
            "--epochs",
            "1",
            "--hands",
            "on",
            // What follows checks which path answers, not which letter: a few epochs do.
            "--handshape-epochs",
            "10",
            "--name",
            "hands",
        ],
    ));
    let model = home.join("models/hands");
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("model.json")).unwrap()).unwrap();
    assert_eq!(card["pipeline"]["kind"], "hand+photo");
    assert!(model.join("handshape.json").is_file() && model.join("handshape.bpk").is_file());
    assert!(
        card["extra"]["monitoring_reference"]["hand_found_share"]
            .as_f64()
            .unwrap()
            > 0.7
    );

    // Other signers' photos (MIT-licensed, committed for the landmark test): every one
    // answered, those with a hand found by the hand path.
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../asl-core/tests/data/hands");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&photos)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    let mut args = vec!["--json", "predict", "--model", model.to_str().unwrap(), "--raw"];
    args.extend(names.iter().map(|p| p.to_str().unwrap()));
    let answer = json(&asl(home, &args));
    let paths: Vec<&str> = answer["answered_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), names.len());
    assert!(paths.iter().filter(|p| **p == "hand").count() >= 5, "{paths:?}");
    assert!(paths.iter().all(|p| *p == "hand" || *p == "no_hand_found"), "{paths:?}");

    // The same photos as an evaluation zip in the dev set's layout: <LETTER>/<source>__<file>.
    let zip_path = home.join("others.zip");
    let mut zw = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for p in &names {
        let file = p.file_name().unwrap().to_str().unwrap();
        let mut parts = file.splitn(3, '_');
        let (letter, source, rest) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        zw.start_file(
            format!("others/{letter}/{source}__{rest}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zw, &std::fs::read(p).unwrap()).unwrap();
    }
    zw.finish().unwrap();
    let eval = json(&asl(
        home,
        &[
            "--json",
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            zip_path.to_str().unwrap(),
            "--by-source",
        ],
    ));
    let by_source = &eval["by_source"];
    assert_eq!(by_source["sources"].as_array().unwrap().len(), 3, "{by_source}");
    let found = by_source["detection_rate"].as_f64().unwrap();
    assert!(found >= 0.6, "hand found in {found} of the photos");
    assert_eq!(
        paths.iter().filter(|p| **p == "hand").count() as f64 / names.len() as f64,
        found
    );

    // The lite landmark model: its own hand cache beside the full model's, recorded in the
    // cards, and loaded again to serve. The flag picks the network hands are found with:
    // alone it would do nothing, and the search and the registration do not take it.
    let alone = asl(home, &["prep", "--data", data_arg, "--landmarks", "lite"]);
    assert!(!alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stderr).contains("--detect-hands"));
    assert_eq!(asl(home, &["hpo", "--landmarks", "lite"]).status.code(), Some(2));
    json(&asl(
        home,
        &[
            "--json",
            "train",
            "--data",
            data_arg,
            "--epochs",
            "1",
            "--hands",
            "on",
            "--landmarks",
            "lite",
            "--handshape-epochs",
            "10",
            "--fusion-gate",
            "0.8",
            "--name",
            "hands-lite",
        ],
    ));
    let lite = home.join("models/hands-lite");
    let shape: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lite.join("handshape.json")).unwrap()).unwrap();
    assert_eq!(shape["landmark_model"], "lite");
    // --fusion-gate: where the CNN is 0.8 sure it weighs 4 (recorded, read by every frontend).
    assert_eq!(shape["fusion_gate"]["photo_weight"], 4.0);
    assert!((shape["fusion_gate"]["photo_confidence"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    // Format 2: an asl from before the choice refuses the card instead of misreading it.
    assert_eq!(shape["format"], 2);
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(lite.join("model.json")).unwrap()).unwrap();
    let networks = card["pipeline"]["hand_networks"].as_str().unwrap();
    assert!(networks.contains("hand_landmark_lite"), "{networks}");
    let caches: Vec<String> = std::fs::read_dir(home.join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for suffix in [".hands.json", ".hands-lite.json"] {
        assert!(caches.iter().any(|c| c.ends_with(suffix)), "{suffix}: {caches:?}");
    }
    let mut args = vec!["--json", "predict", "--model", lite.to_str().unwrap(), "--raw"];
    args.extend(names.iter().map(|p| p.to_str().unwrap()));
    let answer = json(&asl(home, &args));
    let lite_paths = answer["answered_by"].as_array().unwrap();
    assert!(
        lite_paths.iter().filter(|p| *p == "hand").count() >= 5,
        "{lite_paths:?}"
    );
}
