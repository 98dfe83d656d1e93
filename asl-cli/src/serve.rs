//! `asl serve`: the HTTP prediction server (crate asl-http) from the command line.
//!
//! The flags live in asl-http (`asl_http::cli::ServeArgs`) so that `asl serve` and the
//! standalone `asl-http` binary cannot drift apart: --port (default 9696, env ASL_PORT),
//! --host (default 127.0.0.1), --model DIR, --device, --max-batch,
//! --max-wait-ms, --max-body-mib, --max-zip-files, --max-zip-mib, --max-zip-ratio,
//! --max-images, --max-pixels, --timeout-ms, --max-concurrency, --reload-poll-ms,
//! --wait-for-model. `POST /admin/reload` needs ASL_ADMIN_TOKEN in the environment.
pub use asl_http::cli::ServeArgs;

/// Serves until Ctrl-C or SIGTERM (the server builds its own tokio runtime).
pub fn run(ws: &asl_core::Workspace, args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    asl_http::cli::run(ws, args)
}
