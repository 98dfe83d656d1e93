//! The flags of `asl serve` (and of the standalone `asl-http` binary), and running the server
//! from them on a runtime of its own.
use std::path::PathBuf;

use asl_core::workspace::WorkspaceError;
use asl_core::{AslHome, ModelRef, Workspace};
use clap::Args;

use crate::config::{DEFAULT_PORT, ServerConfig};
use crate::model::ModelSource;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, env = "ASL_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, env = "ASL_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Model folder (default: the newest under $ASL_HOME/models). Reloaded when its
    /// model.json changes.
    #[arg(long, value_name = "DIR", conflicts_with = "model_alias")]
    pub model: Option<PathBuf>,
    /// Serve a registered model by alias (`champion`, `challenger`) or version number, from
    /// the local registry or MLflow (MLFLOW_TRACKING_URI); a moved alias is followed.
    #[arg(long, value_name = "ALIAS")]
    pub model_alias: Option<String>,
    /// Backend among those built in (flex, wgpu, cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// Most images in one forward pass.
    #[arg(long, default_value_t = ServerConfig::default().max_batch)]
    pub max_batch: usize,
    /// Longest wait, in ms, for concurrent requests to join a forward pass.
    #[arg(long, default_value_t = ServerConfig::default().max_wait_ms)]
    pub max_wait_ms: u64,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = (ServerConfig::default().max_body_bytes >> 20) as u64)]
    pub max_body_mib: u64,
    /// Most photos in one zip.
    #[arg(long, default_value_t = ServerConfig::default().upload.max_files)]
    pub max_zip_files: usize,
    /// Most uncompressed bytes of one zip, in MiB.
    #[arg(long, default_value_t = ServerConfig::default().upload.max_total_bytes >> 20)]
    pub max_zip_mib: u64,
    /// Highest compression ratio of a zip entry (zip bombs compress far better than photos).
    #[arg(long, default_value_t = ServerConfig::default().upload.max_ratio)]
    pub max_zip_ratio: u64,
    /// Most `image` fields in one request.
    #[arg(long, default_value_t = ServerConfig::default().max_images)]
    pub max_images: usize,
    /// Largest image, width × height in pixels.
    #[arg(long, default_value_t = ServerConfig::default().max_pixels)]
    pub max_pixels: u64,
    /// Most pixels decoded for one request, all its photos together (large JPEGs count at
    /// the reduced scale they are decoded at); photos past it are skipped with the reason.
    #[arg(long, default_value_t = ServerConfig::default().max_request_pixels)]
    pub max_request_pixels: u64,
    /// Longest side of a photo, in pixels.
    #[arg(long, default_value_t = ServerConfig::default().max_side)]
    pub max_side: u32,
    /// Longest over shortest side of a photo.
    #[arg(long, default_value_t = ServerConfig::default().max_aspect)]
    pub max_aspect: u32,
    /// Memory one photo's decoding may take, in MiB.
    #[arg(long, default_value_t = ServerConfig::default().max_decode_bytes >> 20)]
    pub max_decode_mib: u64,
    /// Most open connections; more wait in the listen queue.
    #[arg(long, default_value_t = ServerConfig::default().max_connections)]
    pub max_connections: usize,
    /// Time for a request's headers to arrive, in ms; also closes a keep-alive connection
    /// idle that long.
    #[arg(long, default_value_t = ServerConfig::default().header_timeout_ms)]
    pub header_timeout_ms: u64,
    /// Time for a prediction's whole upload to arrive, in ms (408 after it).
    #[arg(long, default_value_t = ServerConfig::default().body_timeout_ms)]
    pub body_timeout_ms: u64,
    /// Request bodies held in memory at once, all connections together, in MiB (503 past it).
    #[arg(long, default_value_t = (ServerConfig::default().max_buffered_body_bytes >> 20) as u64)]
    pub max_buffered_body_mib: u64,
    /// Answer 503 to a request not done within this many ms (its upload included).
    #[arg(long, default_value_t = ServerConfig::default().request_timeout_ms)]
    pub timeout_ms: u64,
    /// Most prediction requests in flight; more are answered 503 at once.
    #[arg(long, default_value_t = ServerConfig::default().max_concurrency)]
    pub max_concurrency: usize,
    /// How often to check the model folder for a new model, in ms (0 = never).
    #[arg(long, default_value_t = ServerConfig::default().reload_poll_ms)]
    pub reload_poll_ms: u64,
    /// Start even without a loadable model (not ready until one appears).
    #[arg(long)]
    pub wait_for_model: bool,
    /// Live drift window: at most this many photos…
    #[arg(long, default_value_t = crate::monitor::MonitorConfig::default().window_images)]
    pub drift_window_images: usize,
    /// …of at most this many minutes.
    #[arg(long, default_value_t = crate::monitor::MonitorConfig::default().window_secs / 60)]
    pub drift_window_minutes: u64,
    /// Log of every prediction's features (no image bytes), for `asl monitor report`: a
    /// SQLite file, or a PostgreSQL database (postgresql://user:pw@host/db) that replicas share.
    /// Default: $ASL_HOME/monitor/predictions.sqlite.
    #[arg(long, value_name = "FILE|URL", env = "ASL_PREDICTION_LOG")]
    pub prediction_log: Option<asl_core::monitor::LogLocation>,
    /// Do not log predictions.
    #[arg(long, conflicts_with = "prediction_log")]
    pub no_prediction_log: bool,
    /// Server log lines on stderr: text or one JSON object a line. Levels: RUST_LOG (default
    /// info; `info,asl_http::access=off` drops the access lines).
    #[arg(long, env = "ASL_LOG_FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
}

impl ServeArgs {
    /// The server configuration these flags describe, with the prediction log under `home`.
    pub fn config_in(&self, home: &AslHome) -> ServerConfig {
        let mut c = self.config();
        if !self.no_prediction_log {
            c.monitor.log = Some(
                self.prediction_log
                    .clone()
                    .unwrap_or_else(|| home.prediction_log().into()),
            );
        }
        c
    }

    /// The server configuration these flags describe (the admin token from ASL_ADMIN_TOKEN;
    /// no prediction log unless --prediction-log).
    pub fn config(&self) -> ServerConfig {
        let d = ServerConfig::default();
        ServerConfig {
            host: self.host.clone(),
            port: self.port,
            device: self.device.clone().unwrap_or_else(|| d.device.clone()),
            max_batch: self.max_batch,
            max_wait_ms: self.max_wait_ms,
            max_body_bytes: usize::try_from(self.max_body_mib << 20).unwrap_or(usize::MAX),
            upload: asl_core::word::UploadLimits {
                max_files: self.max_zip_files,
                max_total_bytes: self.max_zip_mib << 20,
                max_ratio: self.max_zip_ratio,
                ..d.upload.clone()
            },
            max_images: self.max_images,
            max_pixels: self.max_pixels,
            max_request_pixels: self.max_request_pixels,
            max_side: self.max_side,
            max_aspect: self.max_aspect,
            max_decode_bytes: self.max_decode_mib << 20,
            max_connections: self.max_connections,
            header_timeout_ms: self.header_timeout_ms,
            body_timeout_ms: self.body_timeout_ms,
            max_buffered_body_bytes: usize::try_from(self.max_buffered_body_mib << 20).unwrap_or(usize::MAX),
            request_timeout_ms: self.timeout_ms,
            max_concurrency: self.max_concurrency,
            reload_poll_ms: self.reload_poll_ms,
            wait_for_model: self.wait_for_model,
            monitor: crate::monitor::MonitorConfig {
                window_images: self.drift_window_images,
                window_secs: self.drift_window_minutes.max(1) * 60,
                log: self.prediction_log.clone(),
                ..d.monitor.clone()
            },
            ..d
        }
        .with_env()
    }

    /// `--model`, `--model-alias` (followed on every reload), or the newest model under the state root.
    pub fn source(&self, ws: &Workspace) -> Result<ModelSource, WorkspaceError> {
        Ok(
            match ModelRef::from_flags(self.model.as_deref(), self.model_alias.as_deref(), ModelRef::Newest) {
                ModelRef::Registered(alias) => ModelSource::Registry {
                    home: ws.home().clone(),
                    alias,
                },
                other => ModelSource::Path(ws.resolve_model(&other)?),
            },
        )
    }
}

/// Serves until Ctrl-C or SIGTERM, on a tokio runtime of its own.
pub fn run(ws: &Workspace, args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::logging::init(args.log_format);
    let source = args.source(ws)?;
    let config = args.config_in(ws.home());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("asl-http")
        .build()?;
    runtime.block_on(crate::serve(config, source, crate::shutdown_signal()))?;
    Ok(())
}
