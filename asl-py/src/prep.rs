//! `asl.prep`: asl_core::prep (the decoded, resized, memory-mapped image cache).
use std::path::PathBuf;

use asl_core::prep::{PrepConfig, PrepOutcome};
use asl_core::progress::{Cancel, Progress};
use asl_core::{DataSpec, Workspace};
use pyo3::prelude::*;

use crate::error::Result;
use crate::progress;

/// Where a cache's images come from and how they are split: the `asl prep` flags.
#[derive(Debug, Clone)]
pub struct DataArgs {
    pub dataset: String,
    pub data: Option<PathBuf>,
    pub size: u32,
    pub val_fraction: f32,
    pub split_seed: u64,
}

impl DataArgs {
    /// The cache's size and split (refused here when out of range, before any work).
    pub fn config(&self) -> Result<PrepConfig> {
        let cfg = PrepConfig {
            image_size: self.size,
            val_fraction: self.val_fraction,
            seed: self.split_seed,
        };
        asl_core::workspace::check_prep_config(&cfg)?;
        Ok(cfg)
    }

    /// Which images: `data` when given, else the collected `dataset`.
    pub fn spec(&self) -> Result<DataSpec> {
        Ok(DataSpec::from_flags(&self.dataset, self.data.as_deref())?)
    }

    /// Build or reuse the cache these arguments describe (as `asl prep`).
    pub fn prepare(
        &self,
        ws: &Workspace,
        force: bool,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<PrepOutcome> {
        Ok(ws.prepare(&self.spec()?, &self.config()?, force, progress, cancel)?)
    }
}

/// What `asl prep --json` prints about a cache.
pub fn summary(out: &PrepOutcome) -> serde_json::Value {
    let h = &out.cache.header;
    serde_json::json!({"cache": out.cache.path, "built": out.built, "seconds": out.seconds, "train": h.n_train, "val": h.n_val, "image_size": h.config.image_size, "skipped": h.skipped_count, "skipped_files": h.skipped, "hash": h.hash()})
}

/// Decode and resize the images once into a memory-mapped cache (reused when it matches).
///
/// Args:
///     dataset: the collected dataset to read (its newest complete version).
///     data: a folder of class folders to read instead.
///     size: image side in pixels (the model's input size).
///     val_fraction: share of each class held out for validation, in [0, 1).
///     split_seed: seed of the train/validation split.
///     force: rebuild even when a matching cache exists.
///     home: state root.
///     progress: ``True`` for a ``tqdm.auto`` bar, or a tqdm-like class/factory.
///
/// Returns:
///     dict as ``asl prep --json``: ``cache`` (path), ``built``, ``seconds``, ``train``, ``val``,
///     ``skipped``, ``hash``, …
///
/// Raises:
///     DatasetError: nothing collected, or no class folders.
///     PrepError: no readable images, or the cache cannot be written.
///     KeyboardInterrupt: Ctrl-C (nothing half-written is left behind).
#[pyfunction]
#[pyo3(signature = (dataset = "grassknoted/asl-alphabet", *, data = None, size = 32, val_fraction = 0.2, split_seed = 42, force = false, home = None, progress = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "prep")]
fn py_prep<'py>(
    py: Python<'py>,
    dataset: &str,
    data: Option<PathBuf>,
    size: u32,
    val_fraction: f32,
    split_seed: u64,
    force: bool,
    home: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let ws = crate::workspace(home);
    let args = DataArgs {
        dataset: dataset.to_string(),
        data,
        size,
        val_fraction,
        split_seed,
    };
    args.config()?;
    let sink = progress::sink(progress::resolve(py, progress)?);
    let out = progress::run_interruptible(py, |cancel| args.prepare(&ws, force, &*sink, cancel))?;
    drop(sink);
    crate::to_py(py, &summary(&out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_prep, m)?)?;
    Ok(())
}
