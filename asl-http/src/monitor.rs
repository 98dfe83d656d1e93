//! Live monitoring in the server: every answered photo's features go into a sliding window
//! (drift gauges on `/metrics`, computed when Prometheus scrapes) and, through a background
//! writer that never blocks a request, into the SQLite prediction log for batch reports.
use std::sync::Mutex;

use arc_swap::ArcSwapOption;
use asl_core::infer::{AnswerPath, ModelCard, Prediction};
use asl_core::monitor::{
    ImageFeatures, LiveWindow, LogLocation, LoggedPrediction, Observation, PredictionLog, Reference, WindowConfig,
};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorConfig {
    /// The window holds at most this many photos…
    pub window_images: usize,
    /// …of at most this age, in seconds.
    pub window_secs: u64,
    /// Predictions below this confidence count as low-confidence.
    pub low_confidence: f32,
    /// Prediction log: a SQLite file, or a PostgreSQL database shared by replicas (None = no log).
    pub log: Option<LogLocation>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        let w = WindowConfig::default();
        MonitorConfig {
            window_images: w.max_images,
            window_secs: w.max_age_secs,
            low_confidence: w.low_confidence,
            log: None,
        }
    }
}

/// Largest drift window (a snapshot sorts it once per feature per scrape).
pub const MAX_WINDOW_IMAGES: usize = 100_000;

pub struct Monitor {
    window: Mutex<LiveWindow>,
    log: Option<PredictionLog>,
    /// Reference distribution of the model being served (from its card).
    reference: ArcSwapOption<Reference>,
}

impl Monitor {
    pub fn new(config: &MonitorConfig) -> Monitor {
        let window = LiveWindow::new(WindowConfig {
            max_images: config.window_images.clamp(1, MAX_WINDOW_IMAGES),
            max_age_secs: config.window_secs.max(1),
            low_confidence: config.low_confidence,
            ..WindowConfig::default()
        });
        // Serving matters more than logging: a log that cannot be opened is reported, not fatal.
        let log = config.log.clone().and_then(|l| match PredictionLog::open(l) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("prediction log disabled: {e}");
                None
            }
        });
        Monitor {
            window: Mutex::new(window),
            log,
            reference: ArcSwapOption::empty(),
        }
    }

    /// A new model: its reference replaces the old one, and the window starts over (the class
    /// mix of another model is not comparable).
    pub fn set_model(&self, card: &ModelCard) {
        let reference = match Reference::from_card_extra(&card.extra) {
            Some(Ok(r)) => Some(std::sync::Arc::new(r)),
            Some(Err(e)) => {
                tracing::warn!(
                    "model {} has an unreadable monitoring reference ({e}); drift is not reported",
                    card.name
                );
                None
            }
            None => {
                tracing::warn!(
                    "model {} has no monitoring reference (retrain it with this asl); drift is not reported",
                    card.name
                );
                None
            }
        };
        self.reference.store(reference);
        self.window.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Record the photos of one answered request (`request_id`: its `x-request-id`).
    pub fn observe(&self, request_id: &str, model: &str, items: &[(ImageFeatures, &Prediction)], metrics: &Metrics) {
        let ts = asl_core::clock::now_unix();
        {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            for (f, p) in items {
                w.push(Observation {
                    ts,
                    features: *f,
                    class: p.index,
                    confidence: p.confidence,
                    hand: match p.path {
                        AnswerPath::Hand => Some(p.hand.map_or(1.0, |h| h.presence)),
                        AnswerPath::NoHandFound => Some(0.0),
                        AnswerPath::Photo => None,
                    },
                });
            }
        }
        for (f, p) in items {
            metrics.predictions.with_label_values(&[p.class.as_str()]).inc();
            metrics.answer_paths.with_label_values(&[p.path.as_str()]).inc();
            if let Some(log) = &self.log {
                log.record(LoggedPrediction {
                    ts,
                    model: model.to_string(),
                    request_id: request_id.to_string(),
                    class_index: p.index,
                    class: p.class.clone(),
                    confidence: p.confidence,
                    features: *f,
                });
            }
        }
    }

    /// Drift of the window against the reference, into the gauges (called per scrape).
    pub fn export(&self, metrics: &Metrics) {
        if let Some(log) = &self.log {
            // The writer counts drops itself; the counter catches up with it.
            let dropped = log.counts().dropped;
            metrics
                .log_dropped
                .inc_by(dropped.saturating_sub(metrics.log_dropped.get()));
        }
        let Some(reference) = self.reference.load_full() else {
            metrics.clear_drift();
            return;
        };
        // Copy under the lock, sort outside it: requests recording photos never wait on a sort.
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let snapshot = window.snapshot(&reference);
        metrics.set_drift(&snapshot);
    }

    /// Wait until the log has written what it was given (tests, shutdown).
    pub fn flush(&self) {
        if let Some(log) = &self.log {
            let _ = log.flush();
        }
    }
}
