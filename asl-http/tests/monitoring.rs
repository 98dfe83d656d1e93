//! Monitoring for real: drift gauges on /metrics move when the photos change, every
//! prediction reaches the SQLite log, the batch report renders in headless Chromium, and a
//! real Prometheus scrapes the server while every PromQL expression of the Grafana dashboard
//! returns data through Prometheus's HTTP API.
//!
//! Needs Debian's `chromium` and `prometheus` (scripts/test.sh installs them). Without them
//! the parts that need them are skipped, except under CI=true, where they fail.
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asl_core::classes::CLASSES;
use asl_core::infer::ModelCard;
use asl_core::monitor::{self, Reference};
use asl_http::{ModelSource, ServerConfig};
use support::*;

fn required(what: &str, path: Option<PathBuf>) -> Option<PathBuf> {
    if path.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {what} is missing (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED part of the test: {what} not installed");
    }
    path
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A synthetic photo made brighter (a shifted brightness distribution).
fn bright_jpeg(class: usize, seed: u64, size: u32) -> Vec<u8> {
    let mut img = asl_core::synth::render(class, seed, size);
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = c.saturating_add(70);
        }
    }
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90))
        .unwrap();
    out
}

async fn post_image(client: &reqwest::Client, url: &str, bytes: Vec<u8>) -> reqwest::StatusCode {
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("p.jpg")
            .mime_str("image/jpeg")
            .unwrap(),
    );
    client.post(url).multipart(form).send().await.unwrap().status()
}

fn gauge(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn server_config(log: &Path, window: usize) -> ServerConfig {
    let mut c = config();
    c.monitor.log = Some(log.into());
    c.monitor.window_images = window;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_moves_on_metrics_reaches_the_log_and_the_report() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("monitor/predictions.sqlite");
    let model = tiny_model();
    let card = ModelCard::load(&model).unwrap();
    let reference: Reference = Reference::from_card_extra(&card.extra)
        .expect("trained models carry a monitoring reference")
        .unwrap();
    let server = TestServer::start(server_config(&log, 150), ModelSource::Path(model.clone())).await;
    let client = reqwest::Client::new();
    let predict = server.url("/predict");

    // Photos like the training ones (same generator and size): no brightness drift.
    for i in 0..150u64 {
        assert!(
            post_image(&client, &predict, jpeg((i % 29) as usize, 10_000 + i, 32))
                .await
                .is_success()
        );
    }
    let m = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(gauge(&m, "asl_drift_window_images"), Some(150.0), "{m}");
    assert_eq!(gauge(&m, "asl_drift_enough_data"), Some(1.0));
    let calm = gauge(&m, "asl_drift_psi{feature=\"brightness\"}").unwrap();
    assert!(
        calm < monitor::PSI_DRIFT,
        "brightness PSI {calm} on photos like the training ones"
    );
    assert!(m.contains("asl_predictions_total{class="));

    // Brighter photos fill the window: brightness drifts, above the threshold.
    for i in 0..150u64 {
        assert!(
            post_image(&client, &predict, bright_jpeg((i % 29) as usize, 20_000 + i, 32))
                .await
                .is_success()
        );
    }
    let m = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shifted = gauge(&m, "asl_drift_psi{feature=\"brightness\"}").unwrap();
    assert!(
        shifted > monitor::PSI_DRIFT,
        "brightness PSI {shifted} after +70 brightness (calm: {calm})"
    );
    assert!(gauge(&m, "asl_drift_ks{feature=\"brightness\"}").unwrap() > monitor::KS_DRIFT);

    // Every answered photo is in the log, without image bytes.
    server.state.monitor.flush();
    let rows = monitor::log::read_since(&log, 0).unwrap();
    assert_eq!(rows.len(), 300);
    assert!(
        rows.iter()
            .all(|r| r.model == card.name && CLASSES.contains(&r.class.as_str()))
    );
    server.stop().await;

    // The batch report over that log: self-contained, and it names the drifting feature.
    let html = monitor::render_report(&rows, &reference, &CLASSES, "asl drift report (test)");
    assert!(html.contains("<svg") && html.contains("brightness"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"),
        "the report loads nothing from the network"
    );
    let page = work.path().join("report.html");
    monitor::write_report(&page, &html).unwrap();
    let Some(browser) = required(
        "chromium",
        find(&[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]),
    ) else {
        return;
    };
    let shot = work.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--window-size=1280,2400",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Uncaught") && !stderr.contains("CONSOLE"),
        "the report logged errors in the browser:\n{stderr}"
    );
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    // Not a blank page: the screenshot has many distinct colours (plots, text).
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> = img.pixels().step_by(7).map(|p| p.0).collect();
    assert!(distinct.len() > 50, "only {} colours in the screenshot", distinct.len());
}

/// Prometheus started for the test on loopback, stopped on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(bin: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: asl\n    static_configs:\n      - targets: ['{target}']\n")).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_every_dashboard_query() {
    let Some(bin) = required(
        "prometheus",
        find(&["/usr/bin/prometheus", "/usr/local/bin/prometheus"]),
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        server_config(&work.path().join("log.sqlite"), 1000),
        ModelSource::Path(tiny_model()),
    )
    .await;
    let target = server.base.trim_start_matches("http://").to_string();
    let prom = Prometheus::start(&bin, &target);
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    while client
        .get(format!("{}/-/ready", prom.url))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus not ready in 60 s:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let dashboard: serde_json::Value = serde_json::from_str(include_str!("../../dashboards/asl.json")).unwrap();
    let queries: Vec<String> = include_str!("../../dashboards/queries.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    // queries.txt is the dashboard's list: every panel target is in it.
    let panel_exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(String::from))
        .collect();
    assert!(!panel_exprs.is_empty());
    for e in &panel_exprs {
        assert!(
            queries.contains(e),
            "dashboard expression missing from queries.txt: {e}"
        );
        assert!(
            e.contains("instance=~\"$instance\""),
            "panel not filtered by $instance: {e}"
        );
    }
    // Any Prometheus and any set of replicas: every panel goes through the two variables.
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "instance"]);
    for p in dashboard["panels"].as_array().unwrap() {
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    // Prometheus runs the queries with the replica variable at its "All" value.
    let queries: Vec<String> = queries.iter().map(|q| q.replace("$instance", ".*")).collect();

    // Traffic while Prometheus scrapes: letters, words, and errors.
    let predict = server.url("/predict");
    let mut pending: Vec<String> = queries.clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut round = 0u64;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no data within 90 s for:\n{}\nprometheus log:\n{}",
            pending.join("\n"),
            prom.log()
        );
        for i in 0..40u64 {
            post_image(
                &client,
                &predict,
                jpeg(((round * 40 + i) % 29) as usize, round * 1000 + i, 32),
            )
            .await;
        }
        let photos: Vec<Vec<u8>> = (0..5).map(|i| jpeg(i, round + 7, 32)).collect();
        let entries: Vec<(String, &[u8])> = photos
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("{i}.jpg"), b.as_slice()))
            .collect();
        let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let form = reqwest::multipart::Form::new().part(
            "zipfile",
            reqwest::multipart::Part::bytes(zip_of(&entries, true)).file_name("w.zip"),
        );
        assert!(
            client
                .post(&predict)
                .multipart(form)
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
        let bad = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(b"not an image".to_vec()).file_name("x.jpg"),
        );
        assert!(
            client
                .post(&predict)
                .multipart(bad)
                .send()
                .await
                .unwrap()
                .status()
                .is_client_error()
        );
        round += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut still = Vec::new();
        for q in pending {
            let v: serde_json::Value = client
                .get(format!("{}/api/v1/query", prom.url))
                .query(&[("query", q.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["status"], "success", "{q}: {v}");
            let has_data = v["data"]["result"]
                .as_array()
                .is_some_and(|r| r.iter().any(|s| s["value"][1].as_str().is_some_and(|x| x != "NaN")));
            if !has_data {
                still.push(q);
            }
        }
        pending = still;
    }
    // The $instance variable's own query lists this replica.
    let v: serde_json::Value = client
        .get(format!("{}/api/v1/series", prom.url))
        .query(&[("match[]", "asl_model_info")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let instances: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["instance"].as_str())
        .collect();
    assert!(!instances.is_empty(), "no instance label on asl_model_info: {v}");
    server.stop().await;
}
