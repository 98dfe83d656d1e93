//! Hostile clients and uploads against the real server (its own accept loop, a real model): a
//! small upload or a few slow connections must never take the server, and every error is
//! the documented JSON. Memory limits are checked as refusals (the core's decode_memory test
//! measures allocations); time limits are set small so the tests are quick.
mod support;

use std::time::{Duration, Instant};

use asl_http::{ModelSource, ServerConfig};
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn source() -> ModelSource {
    ModelSource::Path(tiny_model())
}

fn addr(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes (or `limit` passes); what arrived and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

fn multipart_head(body_len: usize) -> String {
    format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {body_len}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_shapes_are_refused_from_the_header() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    // Each claims what once cost gigabytes to decode: 64 Mpx in one row, 2 Mpx × 32, 64 Mpx.
    for (w, h) in [(67_108_864, 1), (2_097_152, 32), (8_192, 8_192)] {
        let started = Instant::now();
        let (status, body) = predict(&c, &server, image_form("wide.png", png_header(w, h))).await;
        assert_error(status, &body, 413, "too_many_pixels");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{w}×{h} took {:?}",
            started.elapsed()
        );
    }
    let health = c
        .get(server.url("/health"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_pixel_budget_skips_the_rest() {
    // Room for three 64×64 photos.
    let server = TestServer::start(
        ServerConfig {
            max_request_pixels: 3 * 64 * 64,
            ..config()
        },
        source(),
    )
    .await;
    let c = reqwest::Client::new();
    let photos: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("{i}.jpg"), jpeg(i, i as u64, 64))).collect();
    let entries: Vec<(&str, &[u8])> = photos.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let (status, body) = predict(&c, &server, zip_form(zip_of(&entries, false))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["letters"].as_array().unwrap().len(), 3, "{body}");
    let skipped = body["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{body}");
    assert!(
        skipped.iter().all(|s| s["reason"].as_str().unwrap().contains("budget")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_with_encrypted_and_unsupported_entries_answers_the_rest() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    let photo = jpeg(0, 1, 64);
    let mut zip = zip_of(&[("1.jpg", &photo), ("2.jpg", &photo), ("3.jpg", &photo)], false);
    // Entry 2 marked encrypted, entry 3 compressed with bzip2 (method 12), in both headers.
    patch_zip_entry(&mut zip, 1, |flags, _| *flags |= 1);
    patch_zip_entry(&mut zip, 2, |_, method| *method = 12);
    let (status, body) = predict(&c, &server, zip_form(zip)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["letters"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["complete"], false);
    let reasons: Vec<(String, String)> = body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        reasons.iter().any(|(f, r)| f == "2.jpg" && r.contains("encrypted")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(f, r)| f == "3.jpg" && r.contains("unsupported")),
        "{reasons:?}"
    );
}

/// Rewrites the general-purpose flags and compression method of the `index`-th entry of a
/// zip in its local header and its central directory record.
fn patch_zip_entry(zip: &mut [u8], index: usize, edit: impl Fn(&mut u16, &mut u16)) {
    let find = |sig: &[u8; 4]| -> Vec<usize> {
        zip.windows(4)
            .enumerate()
            .filter(|(_, w)| w == sig)
            .map(|(i, _)| i)
            .collect()
    };
    let local = find(b"PK\x03\x04")[index];
    let central = find(b"PK\x01\x02")[index];
    for (flags_at, method_at) in [(local + 6, local + 8), (central + 8, central + 10)] {
        let mut flags = u16::from_le_bytes([zip[flags_at], zip[flags_at + 1]]);
        let mut method = u16::from_le_bytes([zip[method_at], zip[method_at + 1]]);
        edit(&mut flags, &mut method);
        zip[flags_at..flags_at + 2].copy_from_slice(&flags.to_le_bytes());
        zip[method_at..method_at + 2].copy_from_slice(&method.to_le_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_and_idle_connections_are_cut() {
    let server = TestServer::start(
        ServerConfig {
            header_timeout_ms: 500,
            ..config()
        },
        source(),
    )
    .await;
    // Headers one byte every 100 ms: cut when the header timeout runs out.
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    let started = Instant::now();
    let head =
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for b in head {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(2)).await;
    assert!(closed, "a connection trickling its headers was not cut");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut after {:?}",
        started.elapsed()
    );

    // A keep-alive connection answered once and then left idle is closed too.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed before the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_request_permit_and_time_out() {
    // Two request permits; five clients send headers and a little body, then stall.
    let cfg = ServerConfig {
        max_concurrency: 2,
        body_timeout_ms: 1_500,
        ..config()
    };
    let server = TestServer::start(cfg, source()).await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr(&server)).await.unwrap();
        s.write_all(multipart_head(100_000).as_bytes()).await.unwrap();
        s.write_all(b"--XYZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n")
            .await
            .unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // An honest client is answered meanwhile.
    let c = reqwest::Client::new();
    let (status, body) = predict(&c, &server, image_form("ok.jpg", jpeg(0, 1, 64))).await;
    assert_eq!(status, 200, "{body}");
    // The stalled ones get 408 `body_timeout`.
    for mut s in stalled {
        let (answer, _) = read_until_closed(&mut s, Duration::from_secs(4)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"body_timeout\""), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let cfg = ServerConfig {
        max_connections: 2,
        header_timeout_ms: 30_000,
        ..config()
    };
    let server = TestServer::start(cfg, source()).await;
    let mut held = vec![
        TcpStream::connect(addr(&server)).await.unwrap(),
        TcpStream::connect(addr(&server)).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = reqwest::Client::new();
    let url = server.url("/health");
    let waiting = tokio::spawn(async move { c.get(url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served past the cap of two"
    );
    // One held connection goes away: its slot serves the waiting client.
    drop(held.pop());
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("never served")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_and_methods_cannot_grow_the_metrics() {
    let server = TestServer::start(config(), source()).await;
    let c = reqwest::Client::new();
    // A wrong method on a known route: 405 with the JSON body and the Allow header.
    let res = c.get(server.url("/predict")).send().await.unwrap();
    assert_eq!(
        res.headers().get("allow").map(|v| v.to_str().unwrap().to_string()),
        Some("POST".into())
    );
    let status = res.status().as_u16();
    assert_error(status, &res.json::<Value>().await.unwrap(), 405, "method_not_allowed");
    let res = c.delete(server.url("/health")).send().await.unwrap();
    let status = res.status().as_u16();
    assert_error(status, &res.json::<Value>().await.unwrap(), 405, "method_not_allowed");
    // Invented methods, on known and unknown routes.
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let res = c
            .request(method, server.url(if i % 2 == 0 { "/predict" } else { "/nowhere" }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(status == 404 || status == 405, "{status}");
        assert!(res.json::<Value>().await.unwrap()["error"].is_string());
    }
    let text = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("INVENTED"),
        "a client-chosen method became a label value"
    );
    assert!(text.contains("method=\"other\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_work_keeps_its_permit_until_it_ends() {
    // One request permit, a 200 ms timeout, and a zip whose photos each take longer than
    // that to decode (36 Mpx: limits raised for the test).
    let cfg = ServerConfig {
        max_concurrency: 1,
        request_timeout_ms: 200,
        max_pixels: 40_000_000,
        max_decode_bytes: 256 << 20,
        max_request_pixels: 100_000_000,
        ..config()
    };
    let server = TestServer::start(cfg, source()).await;
    let c = reqwest::Client::new();
    let png = flat_png(6_000);
    let entries: Vec<(String, Vec<u8>)> = (0..2).map(|i| (format!("{i}.png"), png.clone())).collect();
    let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let (status, body) = predict(&c, &server, zip_form(zip_of(&entries, false))).await;
    assert_error(status, &body, 503, "timeout");
    // The decoding goes on (it cannot be interrupted mid-photo) and holds the only permit:
    // new work is refused rather than piled on top of it.
    let (status, body) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
    assert_error(status, &body, 503, "overloaded");
    // Once it ends, the permit is back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = predict(&c, &server, image_form("a.jpg", jpeg(0, 1, 64))).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the permit never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
