//! Load benchmark of the HTTP server: the release `asl-http` binary runs as a child process on
//! loopback, and this process generates the load (closed loop: each client sends its next
//! request when the previous one is answered), then prints requests/s and latency percentiles.
//!
//! ```text
//! cargo bench -p asl-http --bench http_load
//! ASL_BENCH_SECS=10 cargo bench -p asl-http --bench http_load          # longer runs
//! ASL_BENCH_MODEL=$ASL_HOME/models/NAME cargo bench -p asl-http --bench http_load
//! ASL_BENCH_URL=http://127.0.0.1:9696 cargo bench -p asl-http --bench http_load  # a running server
//! ```
//! Without ASL_BENCH_MODEL a model of the default architecture is trained for one
//! epoch on a little synthetic data (speed does not depend on accuracy) and kept in the target
//! folder. Photos are 200×200 JPEGs, like the Kaggle dataset's.
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl_core::augment::AugmentConfig;
use asl_core::dataset::{DatasetRef, DatasetStore, layout};
use asl_core::infer::{Classifier, Lineage};
use asl_core::model::ModelConfig;
use asl_core::prep::{self, PrepConfig, PrepSource};
use asl_core::progress::{Cancel, NoProgress};
use asl_core::train::{self, NoCallback, TrainConfig};
use asl_core::{AslHome, synth};

const BOUNDARY: &str = "asl-bench-boundary-7d1f";

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported (all cases run).
    let secs: f64 = std::env::var("ASL_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let (base, mut child) = match std::env::var("ASL_BENCH_URL") {
        Ok(url) => (url.trim_end_matches('/').to_string(), None),
        Err(_) => {
            let model = std::env::var("ASL_BENCH_MODEL")
                .map(PathBuf::from)
                .unwrap_or_else(|_| bench_model());
            let (base, child) = start_server(&model);
            (base, Some(child))
        }
    };
    let single = multipart(&[("image", "photo.jpg", &photo(7, 1))]);
    let word: Vec<Vec<u8>> = "HELLOWORLD"
        .chars()
        .enumerate()
        .map(|(i, c)| photo(c as usize - 'A' as usize, 100 + i as u64))
        .collect();
    let zip = zip10(&word);
    let zipped = multipart(&[("zipfile", "hello.zip", &zip)]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let model = runtime.block_on(async {
        client
            .get(format!("{base}/v1/model"))
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()
    });
    let model_desc = model
        .map(|m| {
            format!(
                "{} ({} px, {} params, {:.1} MFLOP/image)",
                m["name"],
                m["input_size"],
                m["params"],
                m["flops_per_image"].as_f64().unwrap_or(0.0) / 1e6
            )
        })
        .unwrap_or_else(|| "?".into());
    println!("asl-http load benchmark against {base}: model {model_desc}; {secs} s per case after 1 s warm-up");
    println!(
        "machine: {} CPUs (shared by the server and this load generator)\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "| case                    | clients |  req/s | p50 ms | p95 ms | p99 ms | errors | server mean ms | images/pass |"
    );
    println!(
        "|-------------------------|--------:|-------:|-------:|-------:|-------:|-------:|---------------:|------------:|"
    );
    let cases: [(&str, &Arc<Vec<u8>>, usize); 5] = [
        ("one image", &single, 1),
        ("one image", &single, 8),
        ("one image", &single, 32),
        ("10-photo zip", &zipped, 1),
        ("10-photo zip", &zipped, 8),
    ];
    for (name, body, clients) in cases {
        let before = runtime.block_on(server_stats(&client, &base));
        let r = runtime.block_on(run_case(
            &client,
            &base,
            body.clone(),
            clients,
            Duration::from_secs_f64(secs),
        ));
        let after = runtime.block_on(server_stats(&client, &base));
        // Time spent inside the server per request, and images per forward pass (warm-up included).
        let server_ms = (after[1] - before[1]) / (after[0] - before[0]).max(1.0) * 1e3;
        let per_pass = (after[3] - before[3]) / (after[2] - before[2]).max(1.0);
        println!(
            "| {name:<23} | {clients:>7} | {:>6.0} | {:>6.2} | {:>6.2} | {:>6.2} | {:>6} | {server_ms:>14.2} | {per_pass:>11.1} |",
            r.rps,
            r.p(0.50),
            r.p(0.95),
            r.p(0.99),
            r.errors
        );
        let _ = std::io::stdout().flush();
    }
    println!("\ntargets (2 cores): 10-photo zip p50 ≤ 10 ms at 1 client; ≥ 600 single-image req/s at 8 clients");
    if let Some(c) = child.as_mut() {
        stop(c);
    }
}

/// From the server's /metrics: /predict requests and seconds, forward passes and images.
async fn server_stats(client: &reqwest::Client, base: &str) -> [f64; 4] {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |series: &str| {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    [
        value("asl_http_request_duration_seconds_count{route=\"/predict\"}"),
        value("asl_http_request_duration_seconds_sum{route=\"/predict\"}"),
        value("asl_http_batch_size_count"),
        value("asl_http_batch_size_sum"),
    ]
}

struct CaseResult {
    rps: f64,
    latencies_ms: Vec<f64>,
    errors: usize,
}

impl CaseResult {
    fn p(&self, q: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_ms.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_ms[i]
    }
}

async fn run_case(
    client: &reqwest::Client,
    base: &str,
    body: Arc<Vec<u8>>,
    clients: usize,
    measure: Duration,
) -> CaseResult {
    let url = format!("{base}/predict");
    let body = bytes_of(&body);
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let (measure_from, measure_to) = (start + warmup, start + warmup + measure);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let t0 = Instant::now();
                if t0 >= measure_to {
                    break;
                }
                let res = client
                    .post(&url)
                    .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) => r.status().is_success() & r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let t1 = Instant::now();
                if t0 >= measure_from && t1 <= measure_to {
                    if ok {
                        lat.push((t1 - t0).as_secs_f64() * 1e3);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies_ms = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        latencies_ms.extend(l);
        errors += e;
    }
    latencies_ms.sort_by(f64::total_cmp);
    CaseResult {
        rps: latencies_ms.len() as f64 / measure.as_secs_f64(),
        latencies_ms,
        errors,
    }
}

/// `Bytes` are cheap to clone per request (a reference count, no copy).
fn bytes_of(v: &Arc<Vec<u8>>) -> bytes::Bytes {
    bytes::Bytes::from(v.as_ref().clone())
}

/// A multipart/form-data body built once, so the load generator spends no time encoding.
fn multipart(parts: &[(&str, &str, &[u8])]) -> Arc<Vec<u8>> {
    let mut out = Vec::new();
    for (field, file, bytes) in parts {
        let mime = if field == &"zipfile" {
            "application/zip"
        } else {
            "image/jpeg"
        };
        write!(out, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: {mime}\r\n\r\n").unwrap();
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    write!(out, "--{BOUNDARY}--\r\n").unwrap();
    Arc::new(out)
}

/// A 200×200 synthetic photo of `class`, JPEG quality 90 (about what a phone upload is after
/// the dataset's resizing).
fn photo(class: usize, seed: u64) -> Vec<u8> {
    let img = synth::render(class, seed, 200);
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90))
        .expect("jpeg");
    out
}

fn zip10(photos: &[Vec<u8>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (i, p) in photos.iter().enumerate() {
        w.start_file(format!("{:02}.jpg", i + 1), opts).expect("zip");
        w.write_all(p).expect("zip");
    }
    w.finish().expect("zip").into_inner()
}

/// The default architecture, trained just enough to exist (kept between runs).
fn bench_model() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = base.join("asl-http-bench-model");
    let arch = ModelConfig::new();
    if Classifier::load(&dir).is_ok_and(|c| c.card.architecture == arch) {
        return dir;
    }
    eprintln!("training a throwaway model of the default architecture for the benchmark…");
    std::fs::create_dir_all(&base).expect("target tmp dir");
    let work = tempfile::tempdir_in(&base).expect("temp dir");
    let home = AslHome::new(work.path());
    let zip = work.path().join("synth.zip");
    let size = arch.input_size as u32;
    synth::write_zip(
        &synth::SynthConfig {
            per_class: 8,
            image_size: size.max(64),
            ..Default::default()
        },
        &zip,
    )
    .expect("synth");
    let (dataset, _) = DatasetRef::parse("asl/synthetic").expect("ref");
    let store = DatasetStore::new(&home, &dataset);
    let manifest = store
        .import_zip(&zip, 1, false, &Default::default(), &NoProgress)
        .expect("import");
    let layout = layout::scan(&store.data_dir(&manifest)).expect("layout");
    let pcfg = PrepConfig {
        image_size: size,
        val_fraction: 0.2,
        seed: 0,
    };
    let cache = prep::prepare(
        &home.cache_dir(),
        &PrepSource::from_manifest(&layout, &manifest),
        &pcfg,
        false,
        &NoProgress,
        &Cancel::new(),
    )
    .expect("prep")
    .cache;
    let tcfg = TrainConfig {
        model: arch,
        epochs: 1,
        augment: AugmentConfig::none(),
        ..Default::default()
    };
    let model_dir = work.path().join("model");
    train::train(
        &cache,
        &tcfg,
        Lineage::default(),
        &work.path().join("run"),
        &model_dir,
        &mut NoCallback,
        &NoProgress,
        &Cancel::new(),
    )
    .expect("train");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&model_dir, &dir).expect("keep the model");
    dir
}

fn start_server(model: &std::path::Path) -> (String, Child) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asl-http"))
        .args([
            "--port",
            "0",
            "--reload-poll-ms",
            "0",
            "--max-concurrency",
            "256",
            "--model",
        ])
        .arg(model)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start the asl-http binary");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .expect("stderr");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // Keep draining the server's stderr so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (base, child)
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
