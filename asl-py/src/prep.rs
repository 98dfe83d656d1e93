//! `asl.prep`: asl_core::prep (the decoded, resized, memory-mapped image cache).
use std::path::PathBuf;

use asl_core::AslHome;
use asl_core::dataset::{self, Layout, Manifest};
use asl_core::prep::{self, PrepConfig, PrepOutcome, PrepSource};
use asl_core::progress::{Cancel, Progress};
use pyo3::prelude::*;

use crate::dataset::parse_ref;
use crate::error::{Error, Result};
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
    pub fn config(&self) -> Result<PrepConfig> {
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(Error::value_error(format!(
                "val_fraction must be in [0, 1), got {}",
                self.val_fraction
            )));
        }
        if self.size == 0 {
            return Err(Error::value_error("size must be at least 1 pixel"));
        }
        Ok(PrepConfig {
            image_size: self.size,
            val_fraction: self.val_fraction,
            seed: self.split_seed,
        })
    }

    /// Build or reuse the cache these arguments describe (as `asl prep`).
    pub fn prepare(
        &self,
        home: &AslHome,
        force: bool,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<PrepOutcome> {
        let cfg = self.config()?;
        Ok(match &self.data {
            Some(dir) => {
                let layout = dataset::layout::scan(dir)?;
                prep::prepare(
                    &home.cache_dir(),
                    &PrepSource::from_folder(&layout),
                    &cfg,
                    force,
                    progress,
                    cancel,
                )?
            }
            None => {
                let (r, _) = parse_ref(&self.dataset, None)?;
                prep::prepare_collected(home, &r, &cfg, force, progress, cancel)?
            }
        })
    }

    /// The image source (a folder, or the newest collected version), for callers that open
    /// caches of several sizes from it (search, promotion guard).
    pub fn source(&self, home: &AslHome) -> Result<Source> {
        Ok(match &self.data {
            Some(dir) => Source {
                layout: dataset::layout::scan(dir)?,
                manifest: None,
            },
            None => {
                let (r, _) = parse_ref(&self.dataset, None)?;
                let (store, m) = dataset::newest_local(home, &r)?;
                Source {
                    layout: dataset::layout::scan(&store.data_dir(&m))?,
                    manifest: Some(m),
                }
            }
        })
    }
}

/// A scanned image source that lends a [`PrepSource`].
pub struct Source {
    layout: Layout,
    manifest: Option<Manifest>,
}

impl Source {
    pub fn prep_source(&self) -> PrepSource<'_> {
        match &self.manifest {
            Some(m) => PrepSource::from_manifest(&self.layout, m),
            None => PrepSource::from_folder(&self.layout),
        }
    }
}

/// A cache provider over `source` (as `asl hpo` / `asl models register` build it).
pub fn open_cache(
    home: &AslHome,
    source: &PrepSource,
    base: &PrepConfig,
    size: usize,
    cancel: &Cancel,
) -> std::result::Result<prep::Cache, String> {
    prep::prepare(
        &home.cache_dir(),
        source,
        &PrepConfig {
            image_size: size as u32,
            ..base.clone()
        },
        false,
        &asl_core::progress::NoProgress,
        cancel,
    )
    .map(|o| o.cache)
    .map_err(|e| e.to_string())
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
    let home = crate::home(home);
    let args = DataArgs {
        dataset: dataset.to_string(),
        data,
        size,
        val_fraction,
        split_seed,
    };
    args.config()?;
    let sink = progress::sink(progress::resolve(py, progress)?);
    let out = progress::run_interruptible(py, |cancel| args.prepare(&home, force, &*sink, cancel))?;
    drop(sink);
    crate::to_py(py, &summary(&out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_prep, m)?)?;
    Ok(())
}
