//! `asl-http`: the prediction server on its own (the same as `asl serve`).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "asl-http",
    version,
    about = "Serve an asl model over HTTP: photos in, letters and the word out"
)]
struct Cli {
    /// State root (where the newest model is looked for). Default: $ASL_HOME, else ~/.local/share/asl.
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(flatten)]
    serve: asl_http::cli::ServeArgs,
}

/// burn allocates a buffer per tensor op; glibc malloc returns big ones to the kernel and
/// page-faults them back on the next step. mimalloc keeps them (1.6× faster training).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ws = asl_core::Workspace::resolve(cli.home.as_deref());
    match asl_http::cli::run(&ws, cli.serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
