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

/// Why a monitoring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A zero width or height, or an RGB8 buffer shorter than `width × height × 3`.
    #[error("image buffer has {got} bytes, {width}x{height} RGB8 needs {needed}")]
    BadImage {
        /// Width given, in pixels.
        width: u32,
        /// Height given, in pixels.
        height: u32,
        /// Bytes in the buffer.
        got: usize,
        /// Bytes `width × height × 3` needs.
        needed: usize,
    },
    /// The reference cannot be built from what it was given (no photos, mismatched lengths, a
    /// feature with no finite value, …).
    #[error("cannot build a monitoring reference: {0}")]
    Reference(String),
    /// The reference in a model card does not parse.
    #[error("monitoring reference is not valid: {0}")]
    ReferenceFormat(#[from] serde_json::Error),
    /// The SQLite prediction log failed.
    #[error("prediction log {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL prediction log failed.
    #[error("prediction log {url}: {source}")]
    Postgres {
        /// Without its password.
        url: String,
        /// The PostgreSQL client's error.
        #[source]
        source: postgres::Error,
    },
    /// Creating the log's folder, starting its writer thread or writing a report failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The background writer could not store a batch of predictions (its message).
    #[error("writing the prediction log failed: {0}")]
    LogWrite(String),
    /// The background writer thread is gone, so nothing more can be logged.
    #[error("prediction log writer has stopped")]
    WriterStopped,
}
