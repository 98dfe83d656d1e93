//! Shared by the end-to-end tests: a tiny real model, a real server on an ephemeral port, and
//! photos/zips made on the spot.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use asl_core::augment::AugmentConfig;
use asl_core::dataset::{DatasetRef, DatasetStore, layout};
use asl_core::infer::{Classifier, Lineage};
use asl_core::model::ModelConfig;
use asl_core::prep::{self, PrepConfig, PrepSource};
use asl_core::progress::{Cancel, NoProgress};
use asl_core::train::{self, NoCallback, TrainConfig};
use asl_core::{AslHome, synth};
use asl_http::{AppState, ModelSource, ServerConfig};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A tiny model trained once (and kept in the target folder between runs): synthetic data,
/// 20 photos per class at 32 px, depth 3, width 8, 3 epochs. Accuracy does not matter here.
pub fn tiny_model() -> PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(train_tiny_model).clone()
}

fn train_tiny_model() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // (v2: models carry the monitoring reference; v3: the photo CNN alone, see below.)
    let dir = base.join("asl-http-tiny-model-v3");
    if Classifier::load(&dir).is_ok() {
        return dir;
    }
    std::fs::create_dir_all(&base).unwrap();
    let work = tempfile::tempdir_in(&base).unwrap();
    let home = AslHome::new(work.path());
    let zip = work.path().join("synth.zip");
    synth::write_zip(
        &synth::SynthConfig {
            per_class: 20,
            image_size: 32,
            ..Default::default()
        },
        &zip,
    )
    .unwrap();
    let (dataset, _) = DatasetRef::parse("asl/synthetic").unwrap();
    let store = DatasetStore::new(&home, &dataset);
    let manifest = store
        .import_zip(&zip, 1, false, &Default::default(), &NoProgress)
        .unwrap();
    let layout = layout::scan(&store.data_dir(&manifest)).unwrap();
    let pcfg = PrepConfig {
        image_size: 32,
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
    .unwrap()
    .cache;
    let tcfg = TrainConfig {
        model: ModelConfig::new().with_input_size(32).with_depth(3).with_width(8),
        epochs: 3,
        batch_size: 32,
        augment: AugmentConfig::none(),
        // The photo CNN alone: these tests compare the server's answers with the CNN's, and
        // three epochs leave it weak enough that `auto` would keep the hand path.
        hands: asl_core::handshape::HandsMode::Off,
        ..Default::default()
    };
    let lineage = Lineage::of(&cache);
    let model_dir = work.path().join("model");
    train::train(
        &cache,
        &tcfg,
        lineage,
        &work.path().join("run"),
        &model_dir,
        &mut NoCallback,
        &NoProgress,
        &Cancel::new(),
    )
    .unwrap();
    // Another test process may have won the race; either copy is fine.
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&model_dir, &dir).is_err() {
        assert!(
            Classifier::load(&dir).is_ok(),
            "no usable tiny model at {}",
            dir.display()
        );
    }
    dir
}

/// A copy of the tiny model in a folder of its own (tests that change the model use one).
pub fn model_copy(into: &Path) -> PathBuf {
    let src = tiny_model();
    std::fs::create_dir_all(into).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), into.join(e.file_name())).unwrap();
        }
    }
    into.to_path_buf()
}

/// Rewrites `model.json` under a new name (atomically, as trainers do).
pub fn rename_model(dir: &Path, name: &str) {
    let path = dir.join("model.json");
    let mut card: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    card["name"] = serde_json::Value::String(name.to_string());
    let tmp = dir.join(".model.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&card).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

pub fn config() -> ServerConfig {
    ServerConfig {
        reload_poll_ms: 0,
        ..Default::default()
    }
}

/// The real server (router, middleware, batcher, watcher) on 127.0.0.1 and an ephemeral port.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig, source: ModelSource) -> TestServer {
        Self::start_with(config, source, Router::new()).await
    }

    pub async fn start_with(config: ServerConfig, source: ModelSource, extra: Router<AppState>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let limits = asl_http::conn::ConnLimits::of(&config);
        let state = AppState::start(config, source).await.unwrap();
        let app = asl_http::app(state.clone(), extra);
        let (stop, stopped) = oneshot::channel::<()>();
        // The server's own accept loop (connection cap, header timeout), as `asl serve` runs.
        let task = tokio::spawn(async move {
            asl_http::conn::serve_connections(listener, app, limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            base,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown, waiting for requests in flight.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Photos and zips

/// A synthetic photo of class `class` (index into CLASSES) as JPEG.
pub fn jpeg(class: usize, seed: u64, size: u32) -> Vec<u8> {
    let img = synth::render(class, seed, size);
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90))
        .unwrap();
    out
}

pub fn png(class: usize, seed: u64, size: u32) -> Vec<u8> {
    let img = synth::render(class, seed, size);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A `side`×`side` photo of one flat colour as PNG: tiny to send, slow to decode.
pub fn flat_png(side: u32) -> Vec<u8> {
    let flat = image::RgbImage::from_pixel(side, side, image::Rgb([90, 120, 150]));
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Sub,
    );
    flat.write_with_encoder(encoder).unwrap();
    png
}

/// A zip with these entries, stored or deflated.
pub fn zip_of(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The header of a `w`×`h` RGB PNG (valid signature, IHDR with its CRC, a tiny IDAT, IEND):
/// enough for a decoder to learn the size, and claim a huge one.
pub fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ---------------------------------------------------------------------------------------------
// Requests

pub fn image_part(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Part {
    let mime = if name.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

pub fn image_form(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part("image", image_part(name, bytes))
}

pub fn zip_form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("word.zip")
        .mime_str("application/zip")
        .unwrap();
    reqwest::multipart::Form::new().part("zipfile", part)
}

/// POSTs a form to /predict; the status and the JSON body.
pub async fn predict(
    client: &reqwest::Client,
    server: &TestServer,
    form: reqwest::multipart::Form,
) -> (u16, serde_json::Value) {
    let res = client
        .post(server.url("/predict"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json::<serde_json::Value>().await.unwrap();
    (status, body)
}

/// Asserts an error response's status and code, and that it has the documented shape.
pub fn assert_error(status: u16, body: &serde_json::Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want_code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(
        body.get("file").is_some(),
        "errors always carry `file` (maybe null): {body}"
    );
}
