//! `asl monitor report`: the batch drift report over the server's prediction log.
use std::path::PathBuf;

use asl_core::AslHome;
use asl_core::classes::CLASSES;
use asl_core::infer::ModelCard;
use asl_core::monitor::{self, Reference};
use clap::{Args, Subcommand};

use crate::commands::CliResult;

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

fn reference_model(home: &AslHome, a: &ReportArgs) -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(m) = &a.model {
        return Ok(m.clone());
    }
    let store = asl_core::tracking::open_store(home)?;
    let registry = asl_core::registry::Registry::new(&*store, home);
    let wanted = a
        .model_alias
        .clone()
        .unwrap_or_else(|| asl_core::registry::CHAMPION.to_string());
    match registry.resolve(&wanted) {
        Ok(v) => Ok(registry.fetch(&v)?),
        Err(e) if a.model_alias.is_some() => Err(e.into()),
        Err(_) => asl_core::infer::newest_model(home).ok_or_else(|| {
            format!(
                "no model to compare with under {}; pass --model DIR",
                home.models_dir().display()
            )
            .into()
        }),
    }
}

pub fn monitor_cmd(home: &AslHome, a: MonitorArgs, json: bool) -> CliResult {
    let MonitorAction::Report(a) = a.action;
    let since = asl_core::pipeline::parse_duration(&a.since)?;
    let log = a
        .log
        .clone()
        .unwrap_or_else(|| asl_http::cli::default_prediction_log(home));
    let now = asl_core::clock::now_unix();
    let from = now.saturating_sub(since.as_secs());
    let rows = monitor::log::read_since(&log, from)?;
    let model_dir = reference_model(home, &a)?;
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
