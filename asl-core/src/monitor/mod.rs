//! Monitoring of the served model: is what it sees today like what it was trained on?
//!
//! - [`features`]: a few cheap numbers per photo (colour, brightness, contrast, sharpness, size).
//! - [`sketch`]: the training-time [`Reference`] distribution of those numbers, of the predicted
//!   classes and of the confidences; small enough to live in the model card
//!   (`extra.monitoring_reference`).
//! - [`drift`]: the statistics (PSI, Kolmogorov–Smirnov, chi-square, Jensen–Shannon) and their
//!   thresholds.
//! - [`window`]: the server's sliding window of recent predictions and its [`DriftSnapshot`].
//! - [`log`]: every prediction appended to SQLite (or PostgreSQL, shared by replicas) by a
//!   background thread, for reports.
//! - [`report`]: a self-contained HTML drift report over logged predictions.
use std::path::PathBuf;

pub mod drift;
pub mod features;
pub mod log;
mod log_postgres;
pub mod report;
pub mod sketch;
pub mod window;

pub use drift::{DriftLevel, KS_DRIFT, PSI_DRIFT, PSI_WARN};
pub use features::{FEATURE_NAMES, ImageFeatures, NUM_FEATURES};
pub use log::{LogConfig, LogLocation, LoggedPrediction, PredictionLog};
pub use report::{render_report, write_report};
pub use sketch::{ClassDistribution, ConfidenceHistogram, FeatureSketch, Reference};
pub use window::{DriftSnapshot, FeatureDrift, LiveWindow, Observation, WindowConfig, snapshot_of};

/// Key of the reference inside the model card's `extra` map.
pub const REFERENCE_CARD_KEY: &str = "monitoring_reference";

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("image buffer has {got} bytes, {width}x{height} RGB8 needs {needed}")]
    BadImage {
        width: u32,
        height: u32,
        got: usize,
        needed: usize,
    },
    #[error("cannot build a monitoring reference: {0}")]
    Reference(String),
    #[error("monitoring reference is not valid: {0}")]
    ReferenceFormat(#[from] serde_json::Error),
    #[error("prediction log {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("prediction log {url}: {source}")]
    Postgres {
        /// Without its password.
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the prediction log failed: {0}")]
    LogWrite(String),
    #[error("prediction log writer has stopped")]
    WriterStopped,
}
