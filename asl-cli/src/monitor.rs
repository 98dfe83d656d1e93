//! `asl monitor report`: the batch drift report over the server's prediction log.
use std::path::PathBuf;

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
    /// Prediction log: a SQLite file or the PostgreSQL database replicas share
    /// (postgresql://…). Default: $ASL_HOME/monitor/predictions.sqlite, where `asl serve` writes.
    #[arg(long, value_name = "FILE|URL")]
    pub log: Option<asl_core::monitor::LogLocation>,
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
    let model = ModelRef::from_flags(a.model.as_deref(), a.model_alias.as_deref(), ModelRef::ChampionOrNewest);
    let r = ws.monitor_report(since, a.log.as_ref(), &model, &a.out)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"out": r.out, "predictions": r.predictions, "model": r.model, "log": r.log})
        );
    } else {
        println!(
            "wrote {} ({} predictions since {}, compared with model {})",
            r.out.display(),
            r.predictions,
            asl_core::clock::rfc3339(r.from),
            r.model.display()
        );
    }
    Ok(())
}
