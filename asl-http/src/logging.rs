//! The server's log: `tracing` events on stderr, one access line per request (target
//! `asl_http::access`) with the request id the response echoes in `x-request-id`.
//!
//! Levels follow `RUST_LOG` (`info` when unset; e.g. `RUST_LOG=asl_http=debug`, or
//! `RUST_LOG=info,asl_http::access=off` to drop access lines; a filter names every level it
//! wants, what it does not name is off). Probes and scrapes (`/health`, `/ready`, `/metrics`)
//! log at debug: an orchestrator calls them every few seconds. `--log-format json` writes one
//! JSON object per line for a log shipper.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tracing_subscriber::EnvFilter;

/// The header a request id travels in (both ways).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent request id kept; a longer or odd one is replaced.
const MAX_ID_LEN: usize = 64;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process-wide subscriber; a second call (tests, an embedding program that has
/// its own) leaves the first in place.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}

/// What the access line of one request needs from its handler; a request extension.
#[derive(Debug)]
pub struct RequestContext {
    pub id: String,
    images: AtomicUsize,
}

impl RequestContext {
    /// The client's `x-request-id` when it is a sane token, else a new id.
    pub fn from_headers(headers: &HeaderMap) -> RequestContext {
        let id = headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_token(v))
            .map_or_else(new_id, str::to_string);
        RequestContext {
            id,
            images: AtomicUsize::new(0),
        }
    }

    pub fn set_images(&self, n: usize) {
        self.images.store(n, Ordering::Relaxed);
    }

    pub fn images(&self) -> usize {
        self.images.load(Ordering::Relaxed)
    }

    pub fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.id).ok()
    }
}

/// Ids are echoed into headers and logs: letters, digits and `-_.:` only, bounded length.
fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A process nonce (start time and pid) and a counter: unique across replicas and restarts
/// without a random-number source on the request path.
fn new_id() -> String {
    static NONCE: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nonce = *NONCE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // FNV-1a over the start time and the pid.
        let mut h: u32 = 0x811c_9dc5;
        for b in nanos
            .to_le_bytes()
            .iter()
            .chain(std::process::id().to_le_bytes().iter())
        {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        h
    });
    format!("{nonce:08x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_anything_else_replaced() {
        let mut h = HeaderMap::new();
        h.insert(&REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(RequestContext::from_headers(&h).id, "abc-123_x.y:z");
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            let mut h = HeaderMap::new();
            h.insert(&REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = RequestContext::from_headers(&h).id;
            assert_ne!(id, bad);
            assert!(is_token(&id), "{id}");
        }
        let a = RequestContext::from_headers(&HeaderMap::new()).id;
        let b = RequestContext::from_headers(&HeaderMap::new()).id;
        assert_ne!(a, b);
        assert!(is_token(&a) && is_token(&b));
    }
}
