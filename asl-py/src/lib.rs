//! `asl._asl`: the Python module behind `import asl`, a thin layer over asl-core.
//!
//! One Rust module per core module it wraps: [`dataset`] (collect, status, synth), [`prep`],
//! [`train`], [`hpo`] (search, registry, pipeline), [`infer`] (`Classifier`), [`word`]
//! (`decode_word`, `WordEstimate`); [`progress`] holds the tqdm bridge and the Ctrl-C runner,
//! [`error`] the one translation of core errors into Python exceptions.
use std::path::PathBuf;

use asl_core::AslHome;
use asl_core::train::TrainConfig;
use pyo3::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod dataset;
mod error;
mod eval;
mod hpo;
mod infer;
mod prep;
mod progress;
mod train;
mod word;

use error::{Error, Result};

/// Rust's allocations in this module (tensors, caches, batches) go to mimalloc, as in the CLI:
/// glibc returns burn's large per-step buffers to the kernel and faults them in again.
/// Python's own objects keep Python's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The state root: `home`, else `$ASL_HOME`, else `~/.local/share/asl` (as the CLI's `--home`).
pub(crate) fn home(home: Option<PathBuf>) -> AslHome {
    AslHome::resolve(home.as_deref())
}

/// The operations on that state root.
pub(crate) fn workspace(home: Option<PathBuf>) -> asl_core::Workspace {
    asl_core::Workspace::resolve(home.as_deref())
}

/// A core value as plain Python data (dicts, lists, str, float, …), through its JSON form: the
/// same shape as the CLI's `--json` output.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &impl Serialize) -> Result<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::stage(error::Stage::Other, format!("cannot convert a result to Python: {e}")))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?)
}

/// Plain Python data (a dict, usually) as a core configuration; `what` names it in errors.
pub(crate) fn from_py<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> Result<T> {
    let text: String = obj.py().import("json")?.call_method1("dumps", (obj,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| Error::value_error(format!("invalid {what}: {e}")))
}

/// A training configuration given as a (partial) dict: its keys are laid over the defaults,
/// nested dicts key by key, so `{"epochs": 3, "model": {"width": 8}}` keeps every other
/// default (asl-core's `TrainConfig::from_json`, as the CLI's `--config` file). A key the
/// configuration does not have, or a value of the wrong type, is a `ValueError` naming it.
pub(crate) fn train_config_from_py(obj: &Bound<'_, PyAny>, what: &str) -> Result<TrainConfig> {
    if !obj.is_instance_of::<pyo3::types::PyDict>() {
        return Err(Error::type_error(format!(
            "the {what} must be a dict (or None), got {}",
            obj.get_type().name()?
        )));
    }
    let given: serde_json::Value = from_py(obj, what)?;
    Ok(TrainConfig::from_json(given)?)
}

/// Read American Sign Language fingerspelling from photos (the compiled part of `asl`).
#[pymodule]
fn _asl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CLASSES", asl_core::classes::CLASSES.to_vec())?;
    m.add("NUM_CLASSES", asl_core::classes::NUM_CLASSES)?;
    m.add("DEFAULT_DATASET", asl_core::dataset::DEFAULT_DATASET)?;
    error::register(m)?;
    dataset::register(m)?;
    prep::register(m)?;
    train::register(m)?;
    hpo::register_module(m)?;
    infer::register(m)?;
    word::register(m)?;
    eval::register(m)?;
    Ok(())
}
