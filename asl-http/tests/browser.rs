//! The page at `/` in headless Chromium: it fetches a zip this server serves (as `?zip=`
//! asks), uploads it to /predict as a person's drop would, and renders the word. The test reads
//! the rendered DOM (`--dump-dom`, after the page's network activity settles).
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`). Without it the test is skipped
//! with a message, except under CI=true, where it fails.
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use asl_http::ModelSource;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use support::*;

fn chromium() -> Option<PathBuf> {
    let candidates = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The DOM after the page has run, or the reason there is none.
fn dump_dom(browser: &Path, url: &str, budget_ms: u64) -> Result<String, String> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
            // Lets the page's fetches finish before the DOM is dumped.
            &format!("--virtual-time-budget={budget_ms}"),
            "--dump-dom",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", browser.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("chromium did not finish within 90 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().map_err(|_| "reader thread failed".to_string())
}

/// Text of the element with this id (no nested tags expected).
fn element_text<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let open_end = start + dom[start..].find('>')? + 1;
    let close = open_end + dom[open_end..].find('<')?;
    Some(&dom[open_end..close])
}

fn count(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_uploads_a_zip_and_shows_the_word() {
    let Some(browser) = chromium() else {
        let msg = "chromium not found (apt-get install -y chromium)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}: the browser test must run in CI");
        }
        eprintln!("SKIPPED the_page_uploads_a_zip_and_shows_the_word: {msg}");
        return;
    };

    let named: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("{}.jpg", i + 1), jpeg([7, 4, 11, 11, 14][i], 40 + i as u64, 96)))
        .collect();
    let entries: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let zip = zip_of(&entries, true);
    let served = zip.clone();
    let extra = Router::new().route(
        "/test/word.zip",
        get(move || {
            let body = served.clone();
            async move { ([(header::CONTENT_TYPE, "application/zip")], body) }
        }),
    );
    let server = TestServer::start_with(config(), ModelSource::Path(tiny_model()), extra).await;

    // What the API answers for this zip; the page must show the same word.
    let (status, answer) = predict(&reqwest::Client::new(), &server, zip_form(zip)).await;
    assert_eq!(status, 200, "{answer}");
    let word = answer["text"].as_str().unwrap().to_string();
    let shown = if word.is_empty() {
        "(nothing read)".to_string()
    } else {
        word.clone()
    };

    let url = server.url("/?zip=/test/word.zip");
    let before = server.state.metrics.render();
    let mut last = String::new();
    for budget in [10_000, 30_000] {
        let dom = tokio::task::spawn_blocking({
            let (browser, url) = (browser.clone(), url.clone());
            move || dump_dom(&browser, &url, budget)
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
        let state = dom
            .split("id=\"status\" data-state=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("?")
            .to_string();
        if state == "done" {
            assert_eq!(element_text(&dom, "word"), Some(shown.as_str()), "{dom}");
            assert_eq!(element_text(&dom, "error"), Some(""), "{dom}");
            // Every photo is listed, in order, with its letter.
            for ((name, _), letter) in named.iter().zip(answer["letters"].as_array().unwrap()) {
                assert!(
                    dom.contains(&format!("<div class=\"file\">{name}</div>")),
                    "{name} not shown"
                );
                assert!(dom.contains(&format!(
                    "<div class=\"cls\">{}</div>",
                    letter["class"].as_str().unwrap()
                )));
            }
            // The page really posted the zip to /predict.
            let posts = |text: &str| {
                count(
                    text,
                    "asl_http_requests_total{method=\"POST\",route=\"/predict\",status=\"200\"}",
                )
            };
            let after = server.state.metrics.render();
            assert!(
                posts(&after) > posts(&before),
                "the page did not post to /predict:\n{after}"
            );
            assert!(
                count(
                    &after,
                    "asl_http_requests_total{method=\"GET\",route=\"/test/word.zip\",status=\"200\"}"
                ) >= 1.0,
                "{after}"
            );
            eprintln!("the page showed {shown:?}");
            if let Ok(png) = std::env::var("ASL_HTTP_SCREENSHOT") {
                // For a person to look at: ASL_HTTP_SCREENSHOT=/tmp/page.png cargo test …
                let profile = tempfile::tempdir().unwrap();
                let status = Command::new(&browser)
                    .args([
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--hide-scrollbars",
                        "--window-size=1000,900",
                        "--virtual-time-budget=10000",
                    ])
                    .arg(format!("--user-data-dir={}", profile.path().display()))
                    .arg(format!("--screenshot={png}"))
                    .arg(&url)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                eprintln!("screenshot {png}: {status:?}");
            }
            return;
        }
        last = dom;
    }
    panic!(
        "the page never finished (status {:?}):\n{last}",
        last.split("id=\"status\"").nth(1).map(|s| &s[..s.len().min(200)])
    );
}
