//! End to end: the real server on an ephemeral port, a real HTTP client (reqwest), a real
//! (tiny) model. Every route, every error status, the hostile uploads, load, reload under load,
//! and the standalone binary's graceful shutdown.
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asl_core::classes::CLASSES;
use asl_core::decode::Lexicon;
use asl_core::infer::Classifier;
use asl_core::word::{Photo, PhotoBatch};
use asl_http::{ModelSource, ServerConfig};
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use support::*;

fn source() -> ModelSource {
    ModelSource::Path(tiny_model())
}

/// `n` photos of assorted classes, JPEG, sized `size`.
fn photos(n: usize, size: u32, seed: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| jpeg((i * 7 + seed as usize) % 26, seed * 100 + i as u64, size))
        .collect()
}

/// What the model says of these photos when asked directly through asl-core.
fn expected(photos: &[(String, Vec<u8>)], raw: bool) -> asl_core::word::WordAnswer {
    let clf = Classifier::load(&tiny_model()).unwrap();
    let batch = PhotoBatch {
        photos: photos
            .iter()
            .map(|(n, b)| Photo {
                name: n.clone(),
                bytes: b.clone(),
            })
            .collect(),
        skipped: Vec::new(),
    };
    asl_core::word::predict_word(&clf, &batch, raw, Lexicon::bundled(), &Default::default()).unwrap()
}

fn letters(body: &Value) -> Vec<(String, String)> {
    body["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap().to_string(),
                l["class"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The small routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_model_metrics_openapi_and_page() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();

    let health: Value = c.get(server.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let res = c.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["ready"], true);

    let card: Value = c
        .get(server.url("/v1/model"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(card["classes"].as_array().unwrap().len(), 29);
    assert_eq!(card["input_size"], 32);
    assert_eq!(ready["model"], card["name"]);

    let doc: Value = c
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/predict",
        "/health",
        "/ready",
        "/metrics",
        "/v1/model",
        "/openapi.json",
        "/admin/reload",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(
        doc["paths"]["/predict"]["post"]["requestBody"]["content"]
            .get("multipart/form-data")
            .is_some()
    );
    assert!(doc["components"]["schemas"].get("WordResponse").is_some());

    let page = c.get(server.url("/")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"word\"") && html.contains("/predict"));

    // One prediction so that the prediction metrics have samples.
    let (status, _) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
    assert_eq!(status, 200);
    let (status, _) = predict(&c, &server, image_form("x.txt", b"hello".to_vec())).await;
    assert_eq!(status, 415);

    let res = c.get(server.url("/metrics")).send().await.unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for needle in [
        "asl_http_requests_total{method=\"POST\",route=\"/predict\",status=\"200\"} 1",
        "asl_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "asl_http_request_duration_seconds_bucket{route=\"/predict\"",
        "asl_http_images_per_request_count 2",
        "asl_http_batch_size_count 1",
        "asl_http_errors_total{kind=\"unsupported_type\"} 1",
        &format!(
            "asl_model_info{{asl_version=\"{}\"",
            card["asl_version"].as_str().unwrap()
        ),
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
    assert!(text.contains(&format!("name=\"{}\"", card["name"].as_str().unwrap())));
    // The standard process metrics, with values of this process.
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("metrics lack {name}:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(sample("process_resident_memory_bytes") > 1e6);
    assert!(sample("process_open_fds") >= 3.0);
    assert!(sample("process_cpu_seconds_total") >= 0.0);

    let res = c.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_error(404, &body, 404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Predictions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_image_field_answers_its_letter() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    let clf = Classifier::load(&tiny_model()).unwrap();
    // JPEG and PNG, small and large (resized as in training), the type sniffed from the bytes.
    for (name, bytes) in [
        ("h.jpg", jpeg(7, 3, 64)),
        ("l.png", png(11, 4, 48)),
        ("big.jpg", jpeg(2, 5, 900)),
        ("noext", jpeg(4, 6, 200)),
    ] {
        let pixels = asl_core::prep::decode_and_preprocess(&bytes, clf.input_size() as u32).unwrap();
        let want = clf.predict_preprocessed(&[pixels]);
        let (status, body) = predict(&c, &server, image_form(name, bytes)).await;
        assert_eq!(status, 200, "{body}");
        let want = &want.unwrap()[0];
        assert_eq!(body["file"], name);
        assert_eq!(body["class"], want.class.as_str(), "{body}");
        assert!((body["confidence"].as_f64().unwrap() - want.confidence as f64).abs() < 1e-4);
        let top3 = body["top3"].as_array().unwrap();
        assert_eq!(top3.len(), 3);
        assert_eq!(top3[0]["class"], body["class"]);
        assert!(top3[0]["probability"].as_f64() >= top3[1]["probability"].as_f64());
        assert!(CLASSES.contains(&top3[2]["class"].as_str().unwrap()));
        assert_eq!(body["model"], clf.card.name.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_answers_every_letter_in_natural_order_and_the_word() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    // Named 1..10: natural order puts 10 last (a plain sort would put it second).
    let named: Vec<(String, Vec<u8>)> = photos(10, 120, 1)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("{}.jpg", i + 1), b))
        .collect();
    let entries: Vec<(&str, &[u8])> = named.iter().rev().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let zip = zip_of(&entries, true);

    for raw in [false, true] {
        let want = expected(&named, raw);
        let url = if raw {
            server.url("/predict?raw=true")
        } else {
            server.url("/predict")
        };
        let res = c.post(url).multipart(zip_form(zip.clone())).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let got = letters(&body);
        let want_letters: Vec<(String, String)> = want
            .estimate
            .letters
            .iter()
            .map(|l| (l.file.clone(), l.class.clone()))
            .collect();
        assert_eq!(got, want_letters, "{body}");
        assert_eq!(
            got.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
            [
                "1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg", "7.jpg", "8.jpg", "9.jpg", "10.jpg"
            ]
        );
        assert_eq!(body["text"], want.estimate.text.as_str(), "{body}");
        assert!((body["confidence"].as_f64().unwrap() - want.estimate.confidence as f64).abs() < 1e-3);
        assert_eq!(body["complete"], true);
        assert_eq!(body["skipped"].as_array().unwrap().len(), 0);
        assert!(!body["alternatives"].as_array().unwrap().is_empty());
        assert_eq!(body["alternatives"][0]["text"], body["text"]);
        assert_eq!(body["letters"][0]["top3"].as_array().unwrap().len(), 3);
    }

    // A photo's answer does not depend on the photos it shared a forward pass with.
    let clf = Classifier::load(&tiny_model()).unwrap();
    let res = c
        .post(server.url("/predict"))
        .multipart(zip_form(zip))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    for ((_, bytes), letter) in named.iter().zip(body["letters"].as_array().unwrap()) {
        let alone = clf
            .predict_preprocessed(&[asl_core::prep::decode_and_preprocess(bytes, 32).unwrap()])
            .unwrap();
        assert_eq!(letter["class"], alone[0].class.as_str());
        assert!(
            (letter["confidence"].as_f64().unwrap() - alone[0].confidence as f64).abs() < 1e-4,
            "{letter} vs {:?}",
            alone[0].confidence
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_image_fields_are_a_batch_in_the_order_sent() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    // Names deliberately out of order: the order sent wins.
    let named: Vec<(String, Vec<u8>)> = ["c.jpg", "a.png", "b.jpg"]
        .iter()
        .zip(0..)
        .map(|(n, i)| {
            (
                n.to_string(),
                if n.ends_with("png") {
                    png(i + 3, i as u64, 64)
                } else {
                    jpeg(i + 3, i as u64, 64)
                },
            )
        })
        .collect();
    let mut form = reqwest::multipart::Form::new();
    for (n, b) in &named {
        form = form.part("image", image_part(n, b.clone()));
    }
    let (status, body) = predict(&c, &server, form).await;
    assert_eq!(status, 200, "{body}");
    let want = expected(&named, false);
    assert_eq!(
        letters(&body),
        want.estimate
            .letters
            .iter()
            .map(|l| (l.file.clone(), l.class.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        letters(&body).iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
        ["c.jpg", "a.png", "b.jpg"]
    );
    assert_eq!(body["text"], want.estimate.text.as_str());
    assert_eq!(body["complete"], true);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_the_right_status_and_shape() {
    let cfg = ServerConfig {
        max_body_bytes: 256 << 10,
        ..config()
    };
    let server = TestServer::start(cfg, source()).await;
    let c = reqwest::Client::new();

    // 415: not multipart at all.
    let res = c
        .post(server.url("/predict"))
        .json(&serde_json::json!({"image": "x"}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 415, "unsupported_type");

    // 400: multipart without an image or zipfile field.
    let form = reqwest::multipart::Form::new().text("photo", "nope");
    let (status, body) = predict(&c, &server, form).await;
    assert_error(status, &body, 400, "missing_field");

    // 400: a multipart body that is not one (no closing boundary, garbage).
    let res = c
        .post(server.url("/predict"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 400, "bad_multipart");

    // 400: both kinds of field.
    let form = image_form("a.jpg", jpeg(0, 1, 32)).part(
        "zipfile",
        reqwest::multipart::Part::bytes(zip_of(&[("a.jpg", &jpeg(0, 1, 32))], false)),
    );
    let (status, body) = predict(&c, &server, form).await;
    assert_error(status, &body, 400, "bad_multipart");

    // 413: a body over the limit.
    let (status, body) = predict(&c, &server, image_form("big.jpg", vec![0xFF; 600 << 10])).await;
    assert_error(status, &body, 413, "too_large");

    // 415: an image field that is not a JPEG or PNG; and a zipfile that is not a zip.
    let (status, body) = predict(
        &c,
        &server,
        image_form("notes.jpg", b"just some text, not a photo".to_vec()),
    )
    .await;
    assert_error(status, &body, 415, "unsupported_type");
    assert_eq!(body["file"], "notes.jpg");
    let (status, body) = predict(&c, &server, zip_form(b"not a zip".to_vec())).await;
    assert_error(status, &body, 415, "unsupported_type");

    // 422: a truncated JPEG.
    let photo = jpeg(1, 1, 200);
    let (status, body) = predict(&c, &server, image_form("cut.jpg", photo[..photo.len() / 3].to_vec())).await;
    assert_error(status, &body, 422, "unreadable_image");
    assert_eq!(body["file"], "cut.jpg");

    // 422: a zip whose only photo is unreadable.
    let (status, body) = predict(
        &c,
        &server,
        zip_form(zip_of(&[("1.jpg", &photo[..photo.len() / 3])], false)),
    )
    .await;
    assert_error(status, &body, 422, "unreadable_image");

    // 422: a zip that is broken past its first header.
    let z = zip_of(&[("1.jpg", &photo)], false);
    let (status, body) = predict(&c, &server, zip_form(z[..z.len() / 2].to_vec())).await;
    assert_error(status, &body, 422, "bad_zip");

    // Still healthy after all that.
    let (status, _) = predict(&c, &server, image_form("ok.jpg", jpeg(0, 1, 64))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_png_header_is_refused_before_decoding() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    let header = png_header(20_000, 20_000);
    assert!(header.len() < 100);
    let started = Instant::now();
    let (status, body) = predict(&c, &server, image_form("bomb.png", header.clone())).await;
    assert_error(status, &body, 413, "too_many_pixels");
    assert!(body["message"].as_str().unwrap().contains("20000×20000"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}: it decoded",
        started.elapsed()
    );

    // Inside a zip it is skipped, and the rest is answered.
    let zip = zip_of(&[("1.jpg", &jpeg(0, 1, 64)), ("2.png", &header)], false);
    let (status, body) = predict(&c, &server, zip_form(zip)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], false);
    assert_eq!(body["skipped"][0]["file"], "2.png");
    assert!(
        body["skipped"][0]["reason"].as_str().unwrap().contains("pixels"),
        "{body}"
    );

    // A configured cap below the core's is honoured too.
    let small = TestServer::start(
        ServerConfig {
            max_pixels: 100 * 100,
            ..config()
        },
        source(),
    )
    .await;
    let (status, body) = predict(&c, &small, image_form("a.jpg", jpeg(0, 1, 101))).await;
    assert_error(status, &body, 413, "too_many_pixels");
    let (status, _) = predict(&c, &small, image_form("a.jpg", jpeg(0, 1, 100))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_with_a_truncated_jpeg_answers_the_rest() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    let good: Vec<(String, Vec<u8>)> = photos(3, 64, 2)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("{:02}.jpg", i * 2 + 1), b))
        .collect();
    let cut = jpeg(5, 9, 200);
    let cut = &cut[..cut.len() / 3];
    let mut entries: Vec<(&str, &[u8])> = good.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    entries.push(("02.jpg", cut));
    entries.push(("notes.txt", b"not a photo"));
    let (status, body) = predict(&c, &server, zip_form(zip_of(&entries, true))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], false);
    let files: Vec<&str> = body["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["01.jpg", "03.jpg", "05.jpg"]);
    let skipped: Vec<&str> = body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"02.jpg") && skipped.contains(&"notes.txt"), "{body}");
    assert_eq!(body["text"], expected(&good, false).estimate.text.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_is_refused() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    // 8 MiB of zeros deflate to a few KiB: a ratio far above any photo's.
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_of(&[("1.jpg", &zeros)], true);
    assert!(bomb.len() < 64 << 10);
    let (status, body) = predict(&c, &server, zip_form(bomb)).await;
    assert_error(status, &body, 413, "too_large");

    // Too many photos in one zip.
    let tight = TestServer::start(
        ServerConfig {
            upload: asl_core::word::UploadLimits {
                max_files: 3,
                ..config().upload
            },
            ..config()
        },
        source(),
    )
    .await;
    let photo = jpeg(0, 1, 32);
    let names = ["1.jpg", "2.jpg", "3.jpg", "4.jpg"];
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, photo.as_slice())).collect();
    let (status, body) = predict(&c, &tight, zip_form(zip_of(&entries, false))).await;
    assert_error(status, &body, 413, "too_large");

    // Too many image fields.
    let few = TestServer::start(
        ServerConfig {
            max_images: 2,
            ..config()
        },
        source(),
    )
    .await;
    let form = (0..3).fold(reqwest::multipart::Form::new(), |f, i| {
        f.part("image", image_part(&format!("{i}.jpg"), photo.clone()))
    });
    let (status, body) = predict(&c, &few, form).await;
    assert_error(status, &body, 413, "too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_slip_name_is_just_a_name() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    let marker = format!("asl-http-zip-slip-{}", std::process::id());
    let evil = [
        format!("../../../../../../tmp/{marker}.jpg"),
        format!("/tmp/{marker}-abs.jpg"),
        format!("..\\..\\{marker}-win.jpg"),
    ];
    let photo = jpeg(0, 1, 64);
    let entries: Vec<(&str, &[u8])> = evil.iter().map(|n| (n.as_str(), photo.as_slice())).collect();
    let (status, body) = predict(&c, &server, zip_form(zip_of(&entries, false))).await;
    assert_eq!(status, 200, "{body}");
    // Each name comes back as a plain name: classified, or skipped with a reason (asl-core
    // treats `..` like a hidden name). Never as a path.
    let mut names: Vec<String> = body["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["file"].as_str().unwrap().to_string())
        .collect();
    names.extend(
        body["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["file"].as_str().unwrap().to_string()),
    );
    for name in &evil {
        assert!(names.contains(name), "{name} missing from the answer: {body}");
    }
    assert!(!body["letters"].as_array().unwrap().is_empty(), "{body}");
    // Nothing was written anywhere.
    for path in [
        PathBuf::from(format!("/tmp/{marker}.jpg")),
        PathBuf::from(format!("/tmp/{marker}-abs.jpg")),
        std::env::current_dir()
            .unwrap()
            .join(format!("..\\..\\{marker}-win.jpg")),
    ] {
        assert!(!path.exists(), "{} was written", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_model_answers_503_until_one_appears() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig {
        wait_for_model: true,
        reload_poll_ms: 100,
        ..config()
    };
    let server = TestServer::start(cfg, ModelSource::Path(dir.path().to_path_buf())).await;
    let c = reqwest::Client::new();

    let (status, body) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
    assert_error(status, &body, 503, "no_model");
    for path in ["/ready", "/v1/model"] {
        let res = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
        let status = res.status().as_u16();
        assert_error(status, &res.json().await.unwrap(), 503, "no_model");
    }
    assert_eq!(c.get(server.url("/health")).send().await.unwrap().status(), 200);

    // The watcher picks the model up once it is there.
    model_copy(dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.get(server.url("/ready")).send().await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "the model was never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
    assert_eq!(status, 200);

    // Without wait_for_model, a missing model is an error at start.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        asl_http::AppState::start(config(), ModelSource::Path(empty.path().to_path_buf()))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_times_out_with_503() {
    // A small upload (read well within the limit, so the answer never races the client's
    // writing) that is slow to decode: big flat PNGs compress to almost nothing.
    let server = TestServer::start(
        ServerConfig {
            request_timeout_ms: 200,
            ..config()
        },
        source(),
    )
    .await;
    let c = reqwest::Client::new();
    let png = flat_png(4000);
    assert!(png.len() < 200 << 10, "{} bytes", png.len());
    let names: Vec<String> = (0..8).map(|i| format!("{i}.png")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), png.as_slice())).collect();
    let started = Instant::now();
    let (status, body) = predict(&c, &server, zip_form(zip_of(&entries, false))).await;
    assert_error(status, &body, 503, "timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The abandoned work stops soon and the server answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after the timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_contained() {
    async fn boom() -> &'static str {
        panic!("deliberate test panic")
    }
    let extra = Router::new().route("/test/panic", get(boom));
    let server = TestServer::start_with(config(), source(), extra).await;
    let c = reqwest::Client::new();
    let res = c.get(server.url("/test/panic")).send().await.unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 500, "internal");
    let (status, _) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
    assert_eq!(status, 200);
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("asl_http_requests_total{method=\"GET\",route=\"/test/panic\",status=\"500\"} 1"),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------------
// Admin and reload

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_needs_the_token() {
    let c = reqwest::Client::new();
    let off = TestServer::start(config(), source()).await;
    let res = c
        .post(off.url("/admin/reload"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 403, "forbidden");

    let on = TestServer::start(
        ServerConfig {
            admin_token: Some("s3cret".into()),
            ..config()
        },
        source(),
    )
    .await;
    let res = c.post(on.url("/admin/reload")).send().await.unwrap();
    assert_eq!(
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 401, "unauthorized");
    let res = c
        .post(on.url("/admin/reload"))
        .bearer_auth("s3cre")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = c
        .post(on.url("/admin/reload"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["reloaded"], true);
}

/// Sends requests from `clients` tasks until `stop`; every answer must be a 200. Returns the
/// number of requests and the model names seen.
async fn hammer(base: String, clients: usize, stop: Arc<std::sync::atomic::AtomicBool>) -> (usize, Vec<String>) {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let single = jpeg(3, 3, 96);
    let named: Vec<(String, Vec<u8>)> = photos(5, 96, 4)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("{i}.jpg"), b))
        .collect();
    let entries: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let zip = zip_of(&entries, false);
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (c, base, single, zip, stop, count) = (
            c.clone(),
            base.clone(),
            single.clone(),
            zip.clone(),
            stop.clone(),
            count.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut models = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // Mostly single photos, every fifth request a zip.
                let form = if (i + k).is_multiple_of(5) {
                    zip_form(zip.clone())
                } else {
                    image_form("one.jpg", single.clone())
                };
                let res = c
                    .post(format!("{base}/predict"))
                    .multipart(form)
                    .send()
                    .await
                    .expect("request failed");
                let status = res.status();
                let body: Value = res.json().await.expect("not JSON");
                assert_eq!(status, 200, "client {k} request {i}: {body}");
                let m = body["model"].as_str().unwrap().to_string();
                if models.last() != Some(&m) {
                    models.push(m);
                }
                count.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            models
        }));
    }
    let mut models = Vec::new();
    for t in tasks {
        for m in t.await.expect("a client failed") {
            if !models.contains(&m) {
                models.push(m);
            }
        }
    }
    (count.load(Ordering::Relaxed), models)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients_without_a_failure() {
    let server = TestServer::start(config(), source()).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(hammer(server.base.clone(), 50, stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let (n, _) = load.await.unwrap();
    assert!(n >= 50, "only {n} requests in 3 s");
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ok = metric(
        &text,
        "asl_http_requests_total{method=\"POST\",route=\"/predict\",status=\"200\"}",
    );
    assert_eq!(ok as usize, n);
    assert!(!text.contains("asl_http_errors_total{"), "errors under load:\n{text}");
    // Concurrent requests shared forward passes.
    let passes = metric(&text, "asl_http_batch_size_count");
    let images = metric(&text, "asl_http_batch_size_sum");
    eprintln!("{n} requests, {images} images in {passes} forward passes");
    assert!(
        passes < n as f64,
        "no dynamic batching: {passes} passes for {n} requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_reloads_under_load_without_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(&dir.path().join("m"));
    let cfg = ServerConfig {
        reload_poll_ms: 100,
        admin_token: Some("tok".into()),
        ..config()
    };
    let server = TestServer::start(cfg, ModelSource::Path(model.clone())).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(hammer(server.base.clone(), 50, stop.clone()));
    let c = reqwest::Client::new();
    // ASL_SOAK_SECS stretches the load on each side of the reloads (a soak run).
    let soak = Duration::from_secs_f64(
        std::env::var("ASL_SOAK_SECS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(1.0)
            / 2.0,
    );

    tokio::time::sleep(soak.max(Duration::from_millis(500))).await;
    rename_model(&model, "second");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready: Value = c.get(server.url("/ready")).send().await.unwrap().json().await.unwrap();
        if ready["model"] == "second" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "model.json changed but the model was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rename_model(&model, "third");
    let res = c
        .post(server.url("/admin/reload"))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["model"], "third");
    // A broken model.json is refused and the current model stays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(model.join("model.json"), b"{ broken").unwrap();
    let res = c
        .post(server.url("/admin/reload"))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json().await.unwrap(), 500, "reload_failed");
    tokio::time::sleep(soak.max(Duration::from_millis(500))).await;
    stop.store(true, Ordering::SeqCst);

    let (n, models) = load.await.unwrap();
    assert!(n > 20, "only {n} requests");
    assert!(
        models.contains(&"second".to_string()) && models.contains(&"third".to_string()),
        "{models:?}"
    );
    let ready: Value = c.get(server.url("/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["model"], "third");
    let text = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("asl_model_info{") && text.contains("name=\"third\""),
        "{text}"
    );
    assert!(text.contains("asl_http_model_reloads_total{result=\"failed\"}"));
}

// ---------------------------------------------------------------------------------------------
// The standalone binary

/// The server binary on a free port with the tiny model and `args`, its log level pinned to
/// info, its stderr lines to read.
fn start_binary(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_asl-http"))
        .args(["--port", "0", "--model"])
        .arg(tiny_model())
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("ASL_LOG_FORMAT")
        .env_remove("ASL_ADMIN_TOKEN")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, lines)
}

#[test]
fn the_binary_serves_and_stops_gracefully_on_sigterm() {
    use std::process::Command;
    let (mut child, mut lines) = start_binary(&[]);
    let base = loop {
        let line = lines.next().expect("the server exited before listening").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let c = reqwest::blocking::Client::new();
    assert_eq!(c.get(format!("{base}/health")).send().unwrap().status(), 200);

    // A zip in flight when SIGTERM arrives is still answered.
    let named: Vec<(String, Vec<u8>)> = photos(30, 400, 5)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("{i}.jpg"), b))
        .collect();
    let entries: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let zip = zip_of(&entries, false);
    let url = format!("{base}/predict");
    let inflight = std::thread::spawn(move || {
        let part = reqwest::blocking::multipart::Part::bytes(zip).file_name("w.zip");
        let res = reqwest::blocking::Client::new()
            .post(url)
            .multipart(reqwest::blocking::multipart::Form::new().part("zipfile", part))
            .send()
            .unwrap();
        res.status().as_u16()
    });
    std::thread::sleep(Duration::from_millis(30));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(inflight.join().unwrap(), 200);

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn the_binary_logs_one_json_access_line_per_request_with_its_request_id() {
    use std::process::Command;
    let (mut child, mut lines) = start_binary(&["--log-format", "json", "--no-prediction-log"]);
    let mut startup = Vec::new();
    let base = loop {
        let line = lines.next().expect("the server exited before listening").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        startup.push(event.clone());
        if let Some(rest) = event["message"].as_str().and_then(|m| m.split("listening on ").nth(1)) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(
        startup
            .iter()
            .all(|e| e["level"].is_string() && e["timestamp"].is_string()),
        "{startup:?}"
    );

    let c = reqwest::blocking::Client::new();
    let photo = photos(1, 120, 11).remove(0);
    let form = reqwest::blocking::multipart::Form::new().part(
        "image",
        reqwest::blocking::multipart::Part::bytes(photo).file_name("a.jpg"),
    );
    let res = c
        .post(format!("{base}/predict"))
        .header("x-request-id", "client-req-42")
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "client-req-42");
    // Without one (or with one unfit for a log line), the server makes one up.
    let generated = c.get(format!("{base}/v1/model")).send().unwrap();
    let card_id = generated.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!card_id.is_empty() && card_id != "client-req-42");
    // Probes are answered with an id too, and logged at debug only.
    let health = c.get(format!("{base}/health")).send().unwrap();
    let health_id = health.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(health_id != card_id);
    let odd = c
        .get(format!("{base}/nowhere"))
        .header("x-request-id", "two words")
        .send()
        .unwrap();
    assert_eq!(odd.status(), 404);
    let odd_id = odd.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(odd_id != card_id && !odd_id.contains(' '), "{odd_id}");

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    let events: Vec<Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&Value> = events.iter().filter(|e| e["target"] == "asl_http::access").collect();
    assert_eq!(access.len(), 3, "{events:?}");
    let predict = access
        .iter()
        .find(|e| e["request_id"] == "client-req-42")
        .expect("the predict line");
    assert_eq!(predict["status"], 200);
    assert_eq!(predict["route"], "/predict");
    assert_eq!(predict["method"], "POST");
    assert_eq!(predict["images"], 1);
    assert!(predict["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{predict}");
    assert_eq!(predict["level"], "INFO");
    let missing = access
        .iter()
        .find(|e| e["request_id"] == odd_id.as_str())
        .expect("the 404 line");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["error"], "not_found");
    assert!(
        access
            .iter()
            .any(|e| e["request_id"] == card_id.as_str() && e["route"] == "/v1/model")
    );
    assert!(
        !access.iter().any(|e| e["request_id"] == health_id.as_str()),
        "a probe at info: {access:?}"
    );
    assert!(events.iter().any(|e| e["message"] == "stopped"), "{events:?}");
}
