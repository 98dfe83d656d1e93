//! The server's one state type: configuration, the current model (swapped atomically on
//! reload), the batching worker, the limits and the metrics.
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use asl_core::decode::Lexicon;
use asl_core::infer::Classifier;
use tokio::sync::Semaphore;

use crate::batcher::Batcher;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::model::{self, ModelError, ModelSource, Stamp};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: ServerConfig,
    pub source: ModelSource,
    model: ArcSwapOption<Classifier>,
    /// Stamp of the folder the current model was loaded from, and of the last failed attempt
    /// (so a broken model is not reloaded every poll, but a fixed one is).
    stamps: Mutex<(Option<Stamp>, Option<Stamp>)>,
    /// One load at a time (the poller and `POST /admin/reload` may race).
    reloading: tokio::sync::Mutex<()>,
    pub batcher: Batcher,
    pub metrics: Metrics,
    pub monitor: crate::monitor::Monitor,
    /// Prediction requests in flight (beyond it: 503 at once).
    pub requests: Arc<Semaphore>,
    /// Requests decoding photos at the same time (bounds CPU and memory).
    pub decoders: Arc<Semaphore>,
    /// Bytes of request bodies held in memory, one permit a byte (`max_buffered_body_bytes`).
    pub body_buffer: Arc<Semaphore>,
    pub lexicon: &'static Lexicon,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Loads the model, starts the batching worker and the model watcher. Fails when the model cannot be loaded,
    /// unless `config.wait_for_model` (then the server starts not ready).
    pub async fn start(config: ServerConfig, source: ModelSource) -> Result<AppState, ModelError> {
        let config = config.sanitized();
        let metrics = Metrics::new();
        let batch_hist = metrics.batch_size.clone();
        let batcher = Batcher::start(config.max_batch, config.max_wait(), move |n| {
            batch_hist.observe(n as f64)
        });
        let monitor = crate::monitor::Monitor::new(&config.monitor);
        let state = AppState(Arc::new(Inner {
            requests: Arc::new(Semaphore::new(config.max_concurrency)),
            decoders: Arc::new(Semaphore::new(config.decode_permits())),
            body_buffer: Arc::new(Semaphore::new(
                config.max_buffered_body_bytes.min(Semaphore::MAX_PERMITS),
            )),
            config,
            source,
            model: ArcSwapOption::empty(),
            stamps: Mutex::new((None, None)),
            reloading: tokio::sync::Mutex::new(()),
            batcher,
            monitor,
            metrics,
            // Built once here (it parses the word list), not in the first request.
            lexicon: tokio::task::spawn_blocking(Lexicon::bundled)
                .await
                .unwrap_or_else(|_| Lexicon::bundled()),
        }));
        match state.reload().await {
            Ok(_) => {}
            Err(e) if state.config.wait_for_model => {
                tracing::warn!("no model yet ({e}); waiting for {}", state.source)
            }
            Err(e) => return Err(e),
        }
        if let Some(poll) = state.config.reload_poll() {
            state.spawn_watcher(poll);
        }
        Ok(state)
    }

    /// The model to use for one request; hold on to it until the request is answered.
    pub fn model(&self) -> Result<Arc<Classifier>, ApiError> {
        self.model.load_full().ok_or_else(ApiError::no_model)
    }

    pub fn current_model(&self) -> Option<Arc<Classifier>> {
        self.model.load_full()
    }

    /// Loads the source's model again and swaps it in. Requests already running keep the
    /// model they started with; on failure the current model stays.
    pub async fn reload(&self) -> Result<Arc<Classifier>, ModelError> {
        let _one_at_a_time = self.reloading.lock().await;
        let result = self.load_now().await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        self.metrics.reloads.with_label_values(&[outcome]).inc();
        result
    }

    async fn load_now(&self) -> Result<Arc<Classifier>, ModelError> {
        let device = self.config.device.clone();
        let source = self.source.clone();
        // Resolving may ask the registry (blocking I/O): both steps run off the runtime.
        let loaded = tokio::task::spawn_blocking(move || {
            let dir = source.resolve()?;
            model::load(&dir, &device)
        })
        .await
        .map_err(|e| ModelError::Panicked(e.to_string()))?;
        let failed_stamp = if loaded.is_err() {
            let source = self.source.clone();
            tokio::task::spawn_blocking(move || source.resolve().ok().and_then(|d| model::stamp(&d)))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok((clf, stamp)) => {
                let clf = Arc::new(clf);
                self.metrics.set_model(Some(&clf.card));
                self.monitor.set_model(&clf.card);
                self.model.store(Some(clf.clone()));
                *stamps = (stamp, None);
                Ok(clf)
            }
            Err(e) => {
                stamps.1 = failed_stamp;
                Err(e)
            }
        }
    }

    /// True when the model folder changed since the last load (or the last failed attempt).
    fn source_changed(&self) -> bool {
        let Ok(dir) = self.source.resolve() else { return false };
        let Some(now) = model::stamp(&dir) else { return false };
        let stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        stamps.0 != Some(now) && stamps.1 != Some(now)
    }

    /// Polls the model folder every `poll` and reloads when it changes. Ends when the server
    /// state is dropped.
    pub fn spawn_watcher(&self, poll: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(poll).await;
                let Some(inner) = weak.upgrade() else { return };
                let state = AppState(inner);
                // Checking is a few stat calls; keep it off the runtime's threads all the same.
                let probe = state.clone();
                let changed = tokio::task::spawn_blocking(move || probe.source_changed())
                    .await
                    .unwrap_or(false);
                if changed {
                    match state.reload().await {
                        Ok(m) => tracing::info!("reloaded model {} from {}", m.card.name, m.dir.display()),
                        Err(e) => {
                            tracing::error!("model changed but cannot be loaded, keeping the current one: {e}")
                        }
                    }
                }
            }
        })
    }
}
