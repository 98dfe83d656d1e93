//! Flags and helpers shared by several subcommands (the subcommand modules import only this).
use std::path::PathBuf;

use asl_core::DataSpec;
use asl_core::dataset::{self, Env, KaggleClient};
use asl_core::prep::PrepConfig;
use asl_core::progress::Cancel;
use clap::Args;

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct KaggleArgs {
    /// Kaggle API base URL (a server root, or an API base ending in /v1). Default: from
    /// KAGGLE_API_ENVIRONMENT, else https://api.kaggle.com.
    #[arg(long, env = "ASL_KAGGLE_URL", value_name = "URL")]
    pub kaggle_url: Option<String>,
}

impl KaggleArgs {
    pub fn client(&self) -> Result<KaggleClient, Box<dyn std::error::Error>> {
        let (client, creds) = KaggleClient::from_env(self.kaggle_url.as_deref(), &Env::from_process())?;
        for w in &creds.warnings {
            eprintln!("{w}");
        }
        Ok(client)
    }
}

/// Which images, at which size and split: `asl prep`'s flags, shared by train, hpo and register.
#[derive(Args)]
pub struct PrepArgs {
    #[arg(long, default_value = dataset::DEFAULT_DATASET)]
    pub dataset: String,
    /// Prepare this folder of class folders instead of a collected dataset.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Image side in pixels.
    #[arg(long, default_value_t = PrepConfig::default().image_size)]
    pub size: u32,
    /// Share of each class held out for validation.
    #[arg(long, default_value_t = PrepConfig::default().val_fraction)]
    pub val_fraction: f32,
    /// Seed of the train/validation split.
    #[arg(long, default_value_t = PrepConfig::default().seed)]
    pub split_seed: u64,
    /// Rebuild even when a matching cache exists.
    #[arg(long)]
    pub force: bool,
}

impl PrepArgs {
    pub fn config(&self) -> PrepConfig {
        PrepConfig {
            image_size: self.size,
            val_fraction: self.val_fraction,
            seed: self.split_seed,
        }
    }

    pub fn data(&self) -> Result<DataSpec, asl_core::workspace::WorkspaceError> {
        DataSpec::from_flags(&self.dataset, self.data.as_deref())
    }
}

/// The hand path's flags, for `asl prep` and `asl train` only (the search and the
/// registration train or score the model a run's configuration names).
#[derive(Args)]
pub struct HandArgs {
    /// Also find the hand and its 21 landmarks in every photo (the detection cascade) and
    /// cache them beside the pixels; `asl train` does this itself when it needs them (given
    /// to `asl train`, the same as `--hands on`).
    #[arg(long)]
    pub detect_hands: bool,
    /// MediaPipe's landmark model for the hands: `lite` (146 M multiply-adds, a word's photos
    /// read ~20 % faster) or `full` (331 M). The default is the training default's.
    #[arg(long, value_parser = ["full", "lite"])]
    pub landmarks: Option<String>,
}

impl HandArgs {
    /// The landmark model asked for, else the training default's.
    pub fn landmark_model(&self) -> asl_core::hand::LandmarkModel {
        match self.landmarks.as_deref() {
            Some("lite") => asl_core::hand::LandmarkModel::Lite,
            Some(_) => asl_core::hand::LandmarkModel::Full,
            None => asl_core::handshape::DEFAULT_LANDMARK_MODEL,
        }
    }
}

/// A cancel flag that the first Ctrl-C sets: the operation stops cleanly and keeps what a
/// rerun can resume (a download's partial file). A second Ctrl-C exits at once (status 130).
pub fn cancel_on_ctrl_c() -> Cancel {
    let cancel = Cancel::new();
    let flag = cancel.flag();
    // Registered first, so it sees the flag as the previous Ctrl-C left it.
    let _ = signal_hook::flag::register_conditional_shutdown(signal_hook::consts::SIGINT, 130, flag.clone());
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, flag);
    cancel
}

/// Progress lines: on stdout, or on stderr when stdout carries the one JSON object.
pub fn say(json: bool) -> impl Fn(&str) + Sync {
    move |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// One JSON value with `--json`, else the text.
pub fn report(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}
