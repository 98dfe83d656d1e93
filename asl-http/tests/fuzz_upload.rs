//! A bounded fuzz run over the whole upload path (multipart → zip → decode → resize → model),
//! through the real server with its budgets set low. Inputs are built by `arbitrary` from
//! seeded random bytes: valid photos, mutated photos (bit flips, cuts, lying headers), zips of
//! them (stored, deflated, corrupted), and raw garbage, in well-formed and broken multipart.
//!
//! Every answer must be a 200 with each photo either read or listed as skipped, or one of the
//! documented JSON errors; never a 500, a hang, or a dead server. `ASL_FUZZ_SECS` (default 15)
//! bounds the run; `ASL_FUZZ_SEED` replays one seed.
mod support;

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use asl_core::rng::SplitMix64;
use asl_http::{ModelSource, ServerConfig};
use serde_json::Value;
use support::*;

#[derive(Arbitrary, Debug)]
enum Photo {
    Jpeg {
        side: u8,
        class: u8,
    },
    Png {
        side: u8,
        class: u8,
    },
    /// A valid photo with bytes flipped.
    Flipped {
        png: bool,
        side: u8,
        flips: Vec<(u16, u8)>,
    },
    /// A valid photo cut short.
    Cut {
        png: bool,
        side: u8,
        keep: u16,
    },
    /// A PNG header claiming any size.
    Header {
        width: u32,
        height: u32,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Field {
    Image {
        name: String,
        photo: Photo,
    },
    Zip {
        names: Vec<String>,
        photos: Vec<Photo>,
        deflate: bool,
        corrupt: Vec<(u16, u8)>,
    },
    Text {
        name: String,
        value: String,
    },
}

#[derive(Arbitrary, Debug)]
struct Case {
    fields: Vec<Field>,
    /// One case in eight breaks the multipart body itself (flips, a cut); the others keep it
    /// well-formed so that the zip and photo paths behind it are reached.
    break_body: u8,
    /// Bytes of the multipart body to flip after it is built.
    body_flips: Vec<(u16, u8)>,
    truncate_body: Option<u16>,
}

fn photo_bytes(p: &Photo) -> Vec<u8> {
    let side = |s: u8| u32::from(s % 120) + 1;
    match p {
        Photo::Jpeg { side: s, class } => jpeg(*class as usize % 26, u64::from(*s), side(*s)),
        Photo::Png { side: s, class } => png(*class as usize % 26, u64::from(*s), side(*s)),
        Photo::Flipped {
            png: is_png,
            side: s,
            flips,
        } => {
            let mut b = if *is_png {
                png(1, 2, side(*s))
            } else {
                jpeg(1, 2, side(*s))
            };
            for (at, x) in flips {
                let i = *at as usize % b.len();
                b[i] ^= x | 1;
            }
            b
        }
        Photo::Cut {
            png: is_png,
            side: s,
            keep,
        } => {
            let mut b = if *is_png {
                png(2, 3, side(*s))
            } else {
                jpeg(2, 3, side(*s))
            };
            b.truncate(*keep as usize % (b.len() + 1));
            b
        }
        Photo::Header { width, height } => png_header(*width, *height),
        Photo::Raw(b) => b.clone(),
    }
}

fn multipart(case: &Case, boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for field in &case.fields {
        let (name, filename, bytes) = match field {
            Field::Image { name, photo } => ("image", name.clone(), photo_bytes(photo)),
            Field::Zip {
                names,
                photos,
                deflate,
                corrupt,
            } => {
                let photos: Vec<Vec<u8>> = photos.iter().take(12).map(photo_bytes).collect();
                let names: Vec<String> = (0..photos.len())
                    .map(|i| {
                        names
                            .get(i)
                            .cloned()
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| format!("{i:02}.jpg"))
                    })
                    .collect();
                let mut seen = std::collections::HashSet::new();
                let entries: Vec<(&str, &[u8])> = names
                    .iter()
                    .zip(&photos)
                    .filter(|(n, _)| seen.insert(n.as_str()))
                    .map(|(n, b)| (n.as_str(), b.as_slice()))
                    .collect();
                let mut zip = zip_of(&entries, *deflate);
                for (at, x) in corrupt {
                    let i = *at as usize % zip.len();
                    zip[i] ^= x | 1;
                }
                ("zipfile", "word.zip".to_string(), zip)
            }
            Field::Text { name, value } => {
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                        name.replace('"', "")
                    )
                    .as_bytes(),
                );
                continue;
            }
        };
        let filename = filename.replace(['"', '\r', '\n'], "");
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    if !case.break_body.is_multiple_of(8) {
        return body;
    }
    for (at, x) in &case.body_flips {
        let i = *at as usize % body.len();
        body[i] ^= x | 1;
    }
    if let Some(keep) = case.truncate_body {
        body.truncate(keep as usize % (body.len() + 1));
    }
    body
}

/// Low budgets, so the limits themselves are exercised.
fn tight_config() -> ServerConfig {
    ServerConfig {
        max_body_bytes: 1 << 20,
        max_pixels: 96 * 96,
        max_request_pixels: 4 * 96 * 96,
        max_decode_bytes: 1 << 20,
        max_images: 6,
        upload: asl_core::word::UploadLimits {
            max_files: 8,
            max_file_bytes: 256 << 10,
            max_total_bytes: 1 << 20,
            max_ratio: 50,
        },
        request_timeout_ms: 10_000,
        ..config()
    }
}

fn check_answer(seed: u64, status: u16, body: &Value, photos_sent: usize) {
    const DOCUMENTED: [u16; 7] = [200, 400, 408, 413, 415, 422, 503];
    assert!(DOCUMENTED.contains(&status), "seed {seed}: status {status}: {body}");
    if status != 200 {
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "seed {seed}: {body}"
        );
        assert_ne!(body["error"], "internal", "seed {seed}: {body}");
        return;
    }
    if let Some(letters) = body["letters"].as_array() {
        let skipped = body["skipped"].as_array().map_or(0, Vec::len);
        assert!(!letters.is_empty(), "seed {seed}: a 200 with no letter: {body}");
        assert!(letters.len() + skipped >= photos_sent.min(1), "seed {seed}: {body}");
    } else {
        assert!(body["class"].is_string(), "seed {seed}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_path_survives_arbitrary_input() {
    let server = TestServer::start(tight_config(), ModelSource::Path(tiny_model())).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let secs: u64 = std::env::var("ASL_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let seeds: Vec<u64> = match std::env::var("ASL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => vec![seed],
        None => (0..100_000).collect(),
    };
    let started = Instant::now();
    let mut cases = 0;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for seed in seeds {
        if started.elapsed() > Duration::from_secs(secs) {
            break;
        }
        let mut rng = SplitMix64::new(seed);
        let raw: Vec<u8> = (0..2048).map(|_| rng.next_u64() as u8).collect();
        let Ok(case) = Case::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let boundary = format!("fuzz{seed}");
        let body = multipart(&case, &boundary);
        let photos_sent = case.fields.iter().filter(|f| !matches!(f, Field::Text { .. })).count();
        let res = client
            .post(server.url("/predict"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: no answer: {e}"));
        let status = res.status().as_u16();
        let json: Value = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: status {status}, not JSON: {e}"));
        check_answer(seed, status, &json, photos_sent);
        *statuses.entry(status).or_default() += 1;
        cases += 1;
    }
    eprintln!("{cases} cases in {:?}: {statuses:?}", started.elapsed());
    assert!(cases >= 50, "only {cases} cases ran");
    assert!(statuses.len() >= 3, "the inputs reached too few outcomes: {statuses:?}");
    let health = client
        .get(server.url("/health"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
