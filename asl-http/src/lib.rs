//! asl-http: the HTTP prediction server of asl.
//!
//! `POST /predict` takes one photo (`image`) and answers its letter, or a zip of photos
//! (`zipfile`, or several `image` fields) and answers every letter and the word. Around it:
//! `/` (a page to try it), `/health`, `/ready`, `/metrics`, `/v1/model`, `/openapi.json` and
//! `POST /admin/reload`. Photos of one request go through the model together, and concurrent
//! requests share forward passes ([`batcher`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), asl_http::ServeError> {
//! let config = asl_http::ServerConfig::default().with_env();
//! let source = asl_http::ModelSource::Path("models/demo".into());
//! asl_http::serve(config, source, asl_http::shutdown_signal()).await
//! # }
//! ```
pub mod api;
pub mod batcher;
pub mod cli;
pub mod config;
pub mod conn;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod openapi;
pub mod page;
pub mod routes;
pub mod state;
pub mod upload;

use std::future::Future;

pub use config::ServerConfig;
pub use error::{ApiError, ErrorBody};
pub use model::{ModelError, ModelSource};
pub use routes::{app, router};
pub use state::AppState;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load the model: {0}")]
    Model(#[from] ModelError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `config.host:config.port`, loads the model and serves until `shutdown` completes;
/// requests in flight are answered before it returns.
pub async fn serve(
    config: ServerConfig,
    source: ModelSource,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let state = AppState::start(config, source).await?;
    serve_with_listener(listener, state, shutdown).await
}

/// Serves `state` on a bound listener (port 0 picks a free one).
pub async fn serve_with_listener(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if let Ok(addr) = listener.local_addr() {
        let model = state
            .current_model()
            .map(|m| format!("model {} from {}", m.card.name, m.dir.display()))
            .unwrap_or_else(|| "no model yet".into());
        tracing::info!("listening on http://{addr} ({model})");
    }
    let limits = conn::ConnLimits::of(&state.config);
    let result = conn::serve_connections(listener, router(state), limits, shutdown).await;
    tracing::info!("stopped");
    Ok(result?)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down (finishing requests in flight)");
}
