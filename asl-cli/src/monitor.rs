//! `asl monitor report`: the batch drift report over the server's prediction log.
use std::path::PathBuf;

use asl_core::classes::CLASSES;
use asl_core::infer::ModelCard;
use asl_core::monitor::{self, Reference};
use asl_core::{ModelRef, Workspace};
use clap::{Args, Subcommand};

use crate::args::CliResult;

#[derive(Args)]
pub struct MonitorArgs {
    #[command(subcommand)]
    pub action: MonitorAction,
}

#[derive(Subcommand)]
pub enum MonitorAction {
    /// A self-contained HTML report per day: drift per feature with thresholds, class mix vs
    /// the reference, confidences, volume.
    Report(ReportArgs),
}

#[derive(Args)]
pub struct ReportArgs {
    /// Period to cover, ending now (e.g. 7d, 24h).
    #[arg(long, default_value = "7d")]
    pub since: String,
    #[arg(long, default_value = "report.html", value_name = "FILE")]
    pub out: PathBuf,
    /// Prediction log (default: $ASL_HOME/monitor/predictions.sqlite, where `asl serve` writes).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Model folder whose reference the traffic is compared with (default: the registry's
    /// champion, else the newest model).
    #[arg(long, value_name = "DIR", conflicts_with = "model_alias")]
    pub model: Option<PathBuf>,
    /// Registered model (alias or version) whose reference is used.
    #[arg(long, value_name = "ALIAS")]
    pub model_alias: Option<String>,
}

pub fn monitor_cmd(ws: &Workspace, a: MonitorArgs, json: bool) -> CliResult {
    let MonitorAction::Report(a) = a.action;
    let since = asl_core::pipeline::parse_duration(&a.since)?;
    let log = a.log.clone().unwrap_or_else(|| ws.home().prediction_log());
    let now = asl_core::clock::now_unix();
    let from = now.saturating_sub(since.as_secs());
    let rows = monitor::log::read_since(&log, from)?;
    let model = ModelRef::from_flags(a.model.as_deref(), a.model_alias.as_deref(), ModelRef::ChampionOrNewest);
    let model_dir = ws.resolve_model(&model)?;
    let card = ModelCard::load(&model_dir)?;
    let reference: Reference = match Reference::from_card_extra(&card.extra) {
        Some(r) => r?,
        None => {
            return Err(format!(
                "model {} has no monitoring reference (trained by an older asl); retrain it or pass --model",
                model_dir.display()
            )
            .into());
        }
    };
    let title = format!(
        "asl drift report: {} to {} (model {})",
        asl_core::clock::rfc3339(from),
        asl_core::clock::rfc3339(now),
        card.name
    );
    let html = monitor::render_report(&rows, &reference, &CLASSES, &title);
    monitor::write_report(&a.out, &html)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"out": a.out, "predictions": rows.len(), "model": model_dir, "log": log})
        );
    } else {
        println!(
            "wrote {} ({} predictions since {}, compared with model {})",
            a.out.display(),
            rows.len(),
            asl_core::clock::rfc3339(from),
            card.name
        );
    }
    Ok(())
}
