//! Replicas that need nothing local: two servers on one PostgreSQL prediction log and one
//! registry. The champion moves under load; both follow it without a failed request, and one
//! report reads both replicas' predictions. PostgreSQL is a real server (support/postgres.rs).
#[path = "support/postgres.rs"]
mod postgres;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asl_core::AslHome;
use asl_core::monitor::{LogConfig, LogLocation, LoggedPrediction, PredictionLog, log};
use asl_core::registry::{MODEL_ARTIFACT, Registry};
use asl_core::tracking::RunStatus;
use asl_core::workspace::{ModelRef, Workspace};
use asl_http::{ModelSource, ServerConfig};
use support::*;

fn row(ts: u64, request_id: String) -> LoggedPrediction {
    LoggedPrediction {
        ts,
        model: "m".into(),
        request_id,
        class_index: 3,
        class: "D".into(),
        confidence: 0.75,
        features: asl_core::monitor::ImageFeatures {
            mean_r: 1.5,
            brightness: 99.0,
            width: 640,
            height: 480,
            ..Default::default()
        },
    }
}

#[test]
fn two_writers_share_one_postgres_log_with_retention() {
    let Some(pg) = postgres::Postgres::start() else { return };
    let location = LogLocation::parse(&pg.url);
    let config = LogConfig {
        max_rows: Some(150),
        batch_delay: Duration::from_millis(10),
        ..LogConfig::default()
    };
    // Two replicas open the same database at once: one makes the table, neither fails.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PredictionLog::open_with(location.clone(), config.clone()));
        let b = s.spawn(|| PredictionLog::open_with(location.clone(), config.clone()));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let now = asl_core::clock::now_unix();
    for i in 0..100 {
        assert!(a.record(row(now - 100 + i, format!("a-{i}"))));
        assert!(b.record(row(now - 100 + i, format!("b-{i}"))));
    }
    a.flush().unwrap();
    b.flush().unwrap();
    let rows = log::read_range(location.clone(), 0, u64::MAX).unwrap();
    assert_eq!(rows.len(), 200);
    assert_eq!(rows[0].features, row(0, String::new()).features);
    assert_eq!((rows[0].confidence, rows[0].class.as_str()), (0.75, "D"));
    assert_eq!(rows.iter().filter(|r| r.request_id.starts_with("a-")).count(), 100);
    assert_eq!(log::read_range(location.clone(), now - 10, now).unwrap().len(), 20);
    // Retention keeps the newest 150 rows, whichever replica wrote them.
    assert_eq!(a.enforce_retention().unwrap(), 50);
    assert_eq!(log::read_since(location.clone(), 0).unwrap().len(), 150);
    assert_eq!(a.counts().written + b.counts().written, 200);
    // Reports never show the password of a URL.
    let secret = LogLocation::parse("postgresql://u:hunter2@db:5432/x");
    assert_eq!(secret.to_string(), "postgresql://u:***@db:5432/x");
    // A database that cannot be reached is an error at open, naming it.
    let err = PredictionLog::open("postgresql://asl@127.0.0.1:1/none".parse::<LogLocation>().unwrap())
        .err()
        .expect("no server on port 1");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

/// Registers a copy of the tiny model named `name` as a new version in `home`'s registry.
fn register(home: &AslHome, name: &str) -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(&dir.path().join(name));
    rename_model(&model, name);
    let store = asl_core::tracking::open_store(home).unwrap();
    let run = store.create_run("asl-test", name, &BTreeMap::new()).unwrap();
    store.log_artifacts(&run.run_id, &model, MODEL_ARTIFACT).unwrap();
    store.finish_run(&run.run_id, RunStatus::Finished).unwrap();
    let run = store.get_run(&run.run_id).unwrap();
    Registry::new(&*store, home).register_run(&run).unwrap().version
}

async fn served_name(client: &reqwest::Client, server: &TestServer) -> String {
    let card: serde_json::Value = client
        .get(server.url("/v1/model"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    card["name"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_follow_the_champion_under_load_into_one_log() {
    let Some(pg) = postgres::Postgres::start() else { return };
    let home_dir = tempfile::tempdir().unwrap();
    let home = AslHome::new(home_dir.path());
    let first = register(&home, "model-one");
    let second = register(&home, "model-two");
    let ws = Workspace::new(home.clone());
    ws.promote(first).unwrap();

    let config = || ServerConfig {
        reload_poll_ms: 100,
        monitor: asl_http::monitor::MonitorConfig {
            log: Some(LogLocation::parse(&pg.url)),
            ..Default::default()
        },
        ..config()
    };
    let source = || ModelSource::Registry {
        home: home.clone(),
        alias: "champion".into(),
    };
    let replicas = [
        Arc::new(TestServer::start(config(), source()).await),
        Arc::new(TestServer::start(config(), source()).await),
    ];
    let client = reqwest::Client::new();
    for r in &replicas {
        assert_eq!(served_name(&client, r).await, "model-one");
    }

    // Load on both replicas (4 clients each) while the champion moves.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for (r, server) in replicas.iter().enumerate() {
        for k in 0..4 {
            let (server, client, stop) = (server.clone(), client.clone(), stop.clone());
            let (ok, failed) = (ok.clone(), failed.clone());
            clients.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let res = client
                        .post(server.url("/predict"))
                        .header("x-request-id", format!("replica{r}-{k}-{i}"))
                        .multipart(image_form("a.jpg", jpeg(i % 29, i as u64, 64)))
                        .send()
                        .await;
                    match res {
                        Ok(res) if res.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    ws.promote(second).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for r in &replicas {
        while served_name(&client, r).await != "model-two" {
            assert!(Instant::now() < deadline, "a replica never followed the champion");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} failed requests of {}", ok + failed);
    assert!(ok > 20, "only {ok} requests");

    // One log holds both replicas' predictions, before and after the switch.
    let location = LogLocation::parse(&pg.url);
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        // Blocking (the PostgreSQL client runs its own runtime): off the test's runtime.
        let at = location.clone();
        let rows = tokio::task::spawn_blocking(move || log::read_since(at, 0))
            .await
            .unwrap()
            .unwrap();
        if rows.len() >= ok || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), ok);
    for r in 0..2 {
        let prefix = format!("replica{r}-");
        let mine: Vec<_> = rows.iter().filter(|p| p.request_id.starts_with(&prefix)).collect();
        assert!(mine.iter().any(|p| p.model == "model-one"), "replica {r}");
        assert!(mine.iter().any(|p| p.model == "model-two"), "replica {r}");
    }
    // And `asl monitor report` reads it for all replicas.
    let out = home_dir.path().join("report.html");
    let report = tokio::task::spawn_blocking(move || {
        ws.monitor_report(
            Duration::from_secs(3600),
            Some(&location),
            &ModelRef::Registered("champion".into()),
            &out,
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.predictions, ok);
    assert!(report.out.is_file() && !report.log.contains("hunter"));
}
