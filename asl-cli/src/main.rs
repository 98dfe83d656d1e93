//! `asl`: the command line, a thin frontend over asl-core. Each subcommand parses its flags,
//! calls one core function, and prints the result (as text, or one JSON object with `--json`).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// burn allocates a buffer per tensor op; glibc malloc returns big ones to the kernel and
/// page-faults them back on the next step. mimalloc keeps them (1.6× faster training).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod commands;
mod exit;
mod mlops;
mod monitor;
mod serve;

use asl_core::Workspace;

#[derive(Parser)]
#[command(
    name = "asl",
    version,
    about = "Read American Sign Language fingerspelling from photos",
    after_help = exit::EXIT_STATUSES
)]
pub struct Cli {
    /// State root (datasets, caches, runs, models). Default: $ASL_HOME, else ~/.local/share/asl.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text (on failure: {"error": CODE, "message": …}).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Download the dataset from Kaggle (or register a local copy), verify and extract it.
    Collect(commands::CollectArgs),
    /// Show local versus remote versions, and whether the local copy is outdated.
    Status(commands::StatusArgs),
    /// Write the embedded synthetic dataset as a zip in Kaggle's layout.
    Synth(commands::SynthArgs),
    /// Decode and resize the collected images once into a memory-mapped cache.
    Prep(commands::PrepCmdArgs),
    /// Train a model on the prepared cache and save it as a model folder.
    Train(commands::TrainArgs),
    /// Evaluate a model on a folder of class folders (or on the cache's validation split).
    Eval(commands::EvalArgs),
    /// Classify photos: each letter, and the word they spell.
    Predict(commands::PredictArgs),
    /// Serve a model over HTTP: POST photos or a zip to /predict, a page at /, metrics at /metrics.
    Serve(serve::ServeArgs),
    /// Word-level evaluation: words spelled with held-out photos, read raw and with the lexicon.
    WordEval(commands::WordEvalArgs),
    /// Search hyper-parameters (TPE or random, ASHA pruning); continues an interrupted study.
    Hpo(mlops::HpoArgs),
    /// Compare tracked runs, best first.
    Runs(mlops::RunsArgs),
    /// The model registry: list versions and aliases, promote, roll back, register, fetch.
    Models(mlops::ModelsArgs),
    /// collect → prep → hpo → register, skipping what has not changed; --watch to keep going.
    Pipeline(mlops::PipelineArgs),
    /// Monitoring: `asl monitor report` renders the drift report over the prediction log.
    Monitor(monitor::MonitorArgs),
    /// The whole pipeline on the embedded synthetic dataset (or --from-zip real photos):
    /// collect → prep → train → evaluate → read a word.
    Demo(commands::DemoArgs),
    /// Print a shell completion script, e.g. `asl completions bash > ~/.local/share/bash-completion/completions/asl`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `asl man > ~/.local/share/man/man1/asl.1`.
    Man,
}

/// Each subcommand: its flags → one asl-core call → text, or one JSON object with `--json`.
fn run(cli: Cli) -> args::CliResult {
    let ws = Workspace::resolve(cli.home.as_deref());
    let json = cli.json;
    match cli.command {
        Command::Collect(a) => commands::collect(&ws, a, json),
        Command::Status(a) => commands::status(&ws, a, json),
        Command::Synth(a) => commands::synth_cmd(a, json),
        Command::Prep(a) => commands::prep_cmd(&ws, a, json),
        Command::Train(a) => commands::train_cmd(&ws, a, json),
        Command::Eval(a) => commands::eval_cmd(&ws, a, json),
        Command::Predict(a) => commands::predict_cmd(&ws, a, json),
        Command::Demo(a) => commands::demo_cmd(&ws, a, json),
        Command::WordEval(a) => commands::word_eval_cmd(&ws, a, json),
        Command::Serve(a) => serve::run(&ws, a),
        Command::Hpo(a) => mlops::hpo_cmd(&ws, a, json),
        Command::Runs(a) => mlops::runs_cmd(&ws, a, json),
        Command::Models(a) => mlops::models_cmd(&ws, a, json),
        Command::Pipeline(a) => mlops::pipeline_cmd(&ws, a, json),
        Command::Monitor(a) => monitor::monitor_cmd(&ws, a, json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "asl", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => Ok(clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let (code, status) = exit::classify(&*e);
            if status == exit::OUTDATED {
                // The status itself was the answer; the exit status says what to do.
            } else if json {
                println!("{}", serde_json::json!({"error": code, "message": e.to_string()}));
            } else {
                // One line a person can act on; the messages carry their own hints.
                eprintln!("error: {e}");
            }
            ExitCode::from(status)
        }
    }
}
