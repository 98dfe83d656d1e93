//! A crate outside asl's workspace, using `asl` as a dependency: it synthesises a small dataset,
//! prepares its cache and times a few training steps of the default network, with the library
//! alone. scripts/test.sh checks that it compiles clean against the public API, resolves
//! burn-flex to the vendored copy (its `[patch.crates-io]` line), and trains at least half as
//! fast as the same program built inside the workspace (upstream burn-flex is about 5× slower).
//!
//! ```text
//! cargo run --manifest-path examples/dependent/Cargo.toml -- [STEPS]   # as a dependent
//! cargo run --example train_steps -- [STEPS]                            # inside the workspace
//! ```
use std::process::ExitCode;

use asl::dataset::{extract, layout};
use asl::prep::{self, PrepConfig, PrepSource};
use asl::progress::{Cancel, NoProgress};
use asl::synth::{self, SynthConfig};
use asl::train::{self, TrainConfig};

fn run(steps: usize) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = ScratchDir::create()?;
    let dir = &scratch.0;
    let zip = dir.join("synthetic.zip");
    let synth_cfg = SynthConfig {
        per_class: 8,
        image_size: 64,
        seed: 3,
        ..Default::default()
    };
    synth::write_zip(&synth_cfg, &zip)?;
    let data = dir.join("data");
    extract::extract_zip(&zip, &data, &Default::default(), &NoProgress)?;
    let found = layout::scan(&data)?;
    let cfg = TrainConfig::default();
    let prep_cfg = PrepConfig {
        image_size: cfg.model.input_size as u32,
        ..Default::default()
    };
    let cache = prep::prepare(
        &dir.join("caches"),
        &PrepSource::from_folder(&found),
        &prep_cfg,
        false,
        &NoProgress,
        &Cancel::new(),
    )?
    .cache;
    let t = train::measure_throughput(&cache, &cfg, 2, steps)?;
    println!(
        "default network, batch {}: {:.0} images/s training ({:.0} images/s forward + backward + update alone, {} steps)",
        t.batch_size, t.images_per_sec, t.compute_images_per_sec, t.steps
    );
    Ok(())
}

/// A fresh scratch folder under the system's temporary folder, removed when dropped (on an
/// error too). Hand-rolled rather than the `tempfile` crate: the example keeps to `asl` alone.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn create() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("asl-dependent-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a scratch folder left behind is not worth failing the run for.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> ExitCode {
    let steps = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    match run(steps) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
