//! Server configuration: where to listen, how to batch, and the caps that keep one request
//! from taking the server down. Every field has a safe default (`ServerConfig::default()`).
use std::time::Duration;

use asl_core::word::UploadLimits;
use serde::{Deserialize, Serialize};

/// Default port of `asl serve`.
pub const DEFAULT_PORT: u16 = 9696;
/// Environment variable holding the bearer token of `POST /admin/reload`.
pub const ADMIN_TOKEN_ENV: &str = "ASL_ADMIN_TOKEN";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Backend the model runs on (`flex`, `wgpu`, `cuda`, among those built in).
    pub device: String,

    // Dynamic batching.
    /// Most images in one forward pass; larger requests are split into chunks of this size.
    pub max_batch: usize,
    /// How long the batcher waits for more single-image requests to join a forward pass. It
    /// only waits while other requests are being decoded, so a lone client never pays it.
    pub max_wait_ms: u64,

    // Caps.
    /// Largest request body (the whole multipart upload).
    pub max_body_bytes: usize,
    /// Zip caps: photos per zip, bytes per photo, total uncompressed bytes, compression ratio.
    pub upload: UploadLimits,
    /// Most `image` fields in one request.
    pub max_images: usize,
    /// Largest image (width × height) decoded; checked from the header before any allocation.
    pub max_pixels: u64,
    /// Most pixels decoded for one request, all photos together (after reduced-scale JPEG
    /// decoding): photos past it are skipped with the reason.
    pub max_request_pixels: u64,
    /// Longest side, and longest over shortest side, of a photo.
    pub max_side: u32,
    pub max_aspect: u32,
    /// Bytes the decoder may allocate for one photo.
    pub max_decode_bytes: u64,
    /// A request that takes longer is answered 503 `timeout`.
    pub request_timeout_ms: u64,
    /// Most prediction requests in flight; more are answered 503 `overloaded` at once.
    pub max_concurrency: usize,
    /// Requests decoding photos at the same time (0 = the number of CPUs).
    pub decode_concurrency: usize,

    // Connections.
    /// Open connections; past it, new ones wait in the listen queue.
    pub max_connections: usize,
    /// Time for a request's headers to arrive, counted from when the connection waits for
    /// them: it also closes a keep-alive connection left idle that long.
    pub header_timeout_ms: u64,
    /// Time for a prediction request's whole body to arrive. A slow body never holds a
    /// request permit: the permit is taken once the body is in.
    pub body_timeout_ms: u64,
    /// Request bodies held in memory at once, all connections together (past it, 503).
    pub max_buffered_body_bytes: usize,

    // Model lifecycle.
    /// How often the model folder's `model.json` is checked for a change (0 = never).
    pub reload_poll_ms: u64,
    /// Start even when the model cannot be loaded yet (not ready, predictions answer 503) and
    /// load it as soon as it appears. Otherwise `serve` fails at once.
    pub wait_for_model: bool,
    /// Bearer token of `POST /admin/reload`; `None` refuses every reload request (403).
    /// Never serialised; [`ServerConfig::with_env`] reads it from `ASL_ADMIN_TOKEN`.
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// Live drift window and prediction log.
    pub monitor: crate::monitor::MonitorConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            device: asl_core::model::default_device_name().into(),
            max_batch: 32,
            max_wait_ms: 2,
            max_body_bytes: 32 << 20,
            upload: UploadLimits {
                max_files: 256,
                max_file_bytes: 16 << 20,
                max_total_bytes: 128 << 20,
                max_ratio: 100,
            },
            max_images: 256,
            max_pixels: asl_core::photo::DecodeBudget::default().max_pixels,
            max_request_pixels: 64_000_000,
            max_side: asl_core::photo::DecodeBudget::default().max_side,
            max_aspect: asl_core::photo::DecodeBudget::default().max_aspect,
            max_decode_bytes: asl_core::photo::DecodeBudget::default().max_alloc,
            request_timeout_ms: 30_000,
            max_concurrency: 64,
            decode_concurrency: 0,
            max_connections: 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 20_000,
            max_buffered_body_bytes: 512 << 20,
            reload_poll_ms: 2_000,
            wait_for_model: false,
            admin_token: None,
            monitor: Default::default(),
        }
    }
}

impl ServerConfig {
    /// Takes the admin token from `ASL_ADMIN_TOKEN` (an empty value counts as none).
    pub fn with_env(mut self) -> Self {
        self.admin_token = std::env::var(ADMIN_TOKEN_ENV).ok().filter(|t| !t.is_empty());
        self
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    pub fn reload_poll(&self) -> Option<Duration> {
        (self.reload_poll_ms > 0).then(|| Duration::from_millis(self.reload_poll_ms))
    }

    pub fn decode_permits(&self) -> usize {
        match self.decode_concurrency {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }

    /// What one photo may cost to decode.
    pub fn decode_budget(&self) -> asl_core::photo::DecodeBudget {
        asl_core::photo::DecodeBudget {
            max_side: self.max_side,
            max_aspect: self.max_aspect,
            max_pixels: self.max_pixels,
            max_alloc: self.max_decode_bytes,
        }
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }

    /// Clamps knobs that would make no sense (a batch of 0, no concurrency).
    pub fn sanitized(mut self) -> Self {
        self.max_batch = self.max_batch.clamp(1, 1024);
        self.max_concurrency = self.max_concurrency.max(1);
        self.max_images = self.max_images.max(1);
        self.max_connections = self.max_connections.max(1);
        // A body the buffer could never hold would always be refused as overload.
        self.max_buffered_body_bytes = self.max_buffered_body_bytes.max(self.max_body_bytes);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe_and_a_partial_file_fills_in_the_rest() {
        let d = ServerConfig::default();
        assert_eq!(d.port, DEFAULT_PORT);
        assert_eq!(d.host, "127.0.0.1", "listen on loopback unless told otherwise");
        assert!(
            d.max_body_bytes <= 64 << 20
                && d.upload.max_ratio <= 200
                && d.max_pixels <= 24_000_000
                && d.header_timeout_ms <= 30_000
        );
        assert!(d.admin_token.is_none());
        let c: ServerConfig = serde_json::from_str(r#"{"port": 8080, "max_batch": 0}"#).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.max_wait_ms, d.max_wait_ms);
        assert_eq!(c.sanitized().max_batch, 1);
        // The token never leaks into a serialised config.
        let with_token = ServerConfig {
            admin_token: Some("secret".into()),
            ..d
        };
        assert!(!serde_json::to_string(&with_token).unwrap().contains("secret"));
    }
}
