//! `asl.evaluate` and `asl.monitor_report`: a model measured on photos, and the drift report
//! over the server's prediction log (`asl_core::workspace::Workspace::{evaluate,
//! monitor_report}`, as `asl eval` and `asl monitor report`).
use std::path::{Path, PathBuf};

use asl_core::ModelRef;
use pyo3::prelude::*;

use crate::error::{Error, Result};
use crate::progress;

/// A folder, else a registered alias/version; None: `default`.
fn model_ref(model: Option<&str>, default: ModelRef) -> ModelRef {
    match model {
        Some(m) if Path::new(m).is_dir() => ModelRef::Dir(PathBuf::from(m)),
        Some(m) => ModelRef::Registered(m.to_string()),
        None => default,
    }
}

/// Measure a model on photos.
///
/// Args:
///     model: a model folder, a registered alias or version (``"champion"``, ``"3"``), or
///         None for the newest model under the state root.
///     data: a folder of class folders, or a zip of one (extracted once under
///         ``$ASL_HOME/eval-data``); None: the held-out split of the cache the model was
///         trained on.
///     by_source: also per source of photos (the file-name prefix before ``__``, as in
///         asl-ood-dev) and the mean over sources.
///     device: backend (``flex``, ``wgpu``, ``cuda``; default flex).
///     home: state root.
///     progress: ``True`` for a ``tqdm.auto`` bar while a folder is read, or a tqdm-like
///         class/factory.
///
/// Returns:
///     dict as ``asl eval --json``: ``model``, ``data`` (the cache read), ``report``
///     (accuracy, macro_f1, top3/top5, per_class, confusion, …), ``by_source`` (sources with
///     accuracy, top-3 and detection rate; mean_accuracy_over_sources; pooled) or None.
///
/// Raises:
///     ModelError: no such model, or it cannot be loaded.
///     DatasetError, PrepError: the photos cannot be read.
#[pyfunction]
#[pyo3(signature = (model = None, *, data = None, by_source = false, device = None, home = None, progress = None))]
#[pyo3(name = "evaluate")]
fn py_evaluate<'py>(
    py: Python<'py>,
    model: Option<String>,
    data: Option<PathBuf>,
    by_source: bool,
    device: Option<String>,
    home: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let ws = crate::workspace(home);
    let which = model_ref(model.as_deref(), ModelRef::Newest);
    let sink = progress::sink(progress::resolve(py, progress)?);
    let out = progress::run_interruptible(py, |cancel| {
        let dir = ws.resolve_model(&which)?;
        let device = device.as_deref().unwrap_or(asl_core::model::default_device_name());
        let clf = asl_core::infer::Classifier::load_on(&dir, device)?;
        Ok(ws.evaluate(&clf, data.as_deref(), by_source, &*sink, cancel)?)
    })?;
    drop(sink);
    crate::to_py(py, &out)
}

/// Write the drift report of the server's recent predictions (one self-contained HTML file).
///
/// Args:
///     out: the HTML file to write.
///     since: the period, ending now (``"7d"``, ``"24h"``, ``"90m"``).
///     log: the prediction log: a SQLite file or a ``postgresql://`` URL (the database
///         replicas share); default ``$ASL_HOME/monitor/predictions.sqlite``, where ``asl serve``
///         writes.
///     model: whose monitoring reference the traffic is compared with: a model folder or a
///         registered alias/version; None: the champion, else the newest model.
///     home: state root.
///
/// Returns:
///     dict as ``asl monitor report --json``: ``out``, ``predictions`` (rows read),
///     ``model``, ``log``, ``from`` and ``to`` (seconds since the epoch).
///
/// Raises:
///     ValueError: ``since`` is not a duration.
///     ModelError: no model, or one without a monitoring reference.
#[pyfunction]
#[pyo3(signature = (out = PathBuf::from("report.html"), *, since = "7d", log = None, model = None, home = None))]
#[pyo3(name = "monitor_report")]
fn py_monitor_report<'py>(
    py: Python<'py>,
    out: PathBuf,
    since: &str,
    log: Option<PathBuf>,
    model: Option<String>,
    home: Option<PathBuf>,
) -> Result<Bound<'py, PyAny>> {
    let since = asl_core::pipeline::parse_duration(since).map_err(|e| Error::value_error(e.to_string()))?;
    let ws = crate::workspace(home);
    let which = model_ref(model.as_deref(), ModelRef::ChampionOrNewest);
    let log = log.map(|l| asl_core::monitor::LogLocation::parse(&l.to_string_lossy()));
    let report = progress::run_interruptible(py, |_| Ok(ws.monitor_report(since, log.as_ref(), &which, &out)?))?;
    crate::to_py(py, &report)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(py_monitor_report, m)?)?;
    Ok(())
}
