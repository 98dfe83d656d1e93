//! `asl.train` and `asl.Run`: asl_core::train, tracked like `asl train`.
use std::path::PathBuf;
use std::sync::Mutex;

use asl_core::train::{Control, EpochMetrics, TrainConfig, TrainOutcome};
use asl_core::workspace::TrainRequest;
use pyo3::prelude::*;

use crate::error::{Error, Result};
use crate::prep::DataArgs;
use crate::progress;

/// A finished training: where the model is, how it did, and how it was tracked.
///
/// ``model_dir`` is a model folder (``weights.bpk``, ``model.json``, ``confusion.csv``,
/// ``confusion.svg``); ``Classifier.load(run.model_dir)`` or ``run.classifier()`` loads it.
#[pyclass(frozen, module = "asl")]
pub struct Run {
    /// The model folder.
    #[pyo3(get)]
    model_dir: PathBuf,
    /// The run folder (checkpoints); pass it as ``run_dir`` to resume.
    #[pyo3(get)]
    run_dir: PathBuf,
    /// Model and run name.
    #[pyo3(get)]
    name: String,
    /// Id of the tracked run (local store, or MLflow with ``MLFLOW_TRACKING_URI``).
    #[pyo3(get)]
    tracking_run_id: String,
    /// Validation metrics of the saved weights (accuracy, macro_f1, top3_accuracy, …).
    #[pyo3(get)]
    validation: Py<PyAny>,
    /// Epoch whose weights were kept (lowest validation loss).
    #[pyo3(get)]
    best_epoch: usize,
    /// Why training stopped: ``completed``, ``early_stopped``, ``time_budget``, ``callback`` or
    /// ``photo_model_taken`` (no epoch: the photo CNN came from another model folder).
    #[pyo3(get)]
    stop: String,
    #[pyo3(get)]
    train_seconds: f64,
    /// Training images per second (augmentation included).
    #[pyo3(get)]
    images_per_sec: f64,
    /// Median single-image latency of the saved model, in milliseconds.
    #[pyo3(get)]
    latency_ms: f64,
    /// One dict per epoch: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, …
    #[pyo3(get)]
    history: Py<PyAny>,
    /// Epochs that were already done when this call started (0 unless resumed).
    #[pyo3(get)]
    resumed_from_epoch: usize,
}

#[pymethods]
impl Run {
    /// Load the trained model (``Classifier.load(self.model_dir)``).
    #[pyo3(signature = (device = None))]
    fn classifier(&self, device: Option<&str>) -> Result<crate::infer::Classifier> {
        crate::infer::Classifier::from_dir(&self.model_dir, device)
    }

    /// The validation accuracy of the saved weights.
    #[getter]
    fn accuracy(&self, py: Python<'_>) -> PyResult<f64> {
        self.validation.bind(py).get_item("accuracy")?.extract()
    }

    /// Everything as plain Python data.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("model_dir", &self.model_dir)?;
        d.set_item("run_dir", &self.run_dir)?;
        d.set_item("name", &self.name)?;
        d.set_item("tracking_run_id", &self.tracking_run_id)?;
        d.set_item("validation", self.validation.bind(py))?;
        d.set_item("best_epoch", self.best_epoch)?;
        d.set_item("stop", &self.stop)?;
        d.set_item("train_seconds", self.train_seconds)?;
        d.set_item("images_per_sec", self.images_per_sec)?;
        d.set_item("latency_ms", self.latency_ms)?;
        d.set_item("history", self.history.bind(py))?;
        d.set_item("resumed_from_epoch", self.resumed_from_epoch)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let acc = self
            .accuracy(py)
            .map(|a| format!("{:.2}%", a * 100.0))
            .unwrap_or_else(|_| "?".into());
        format!(
            "Run(name={:?}, validation accuracy {acc}, best_epoch={}, stop={:?}, model_dir={:?})",
            self.name,
            self.best_epoch,
            self.stop,
            self.model_dir.display().to_string()
        )
    }
}

/// Train a model on the prepared cache and save it as a model folder (a tracked run).
///
/// The cache (built if needed) has the side ``config["model"]["input_size"]`` (default 48).
/// Checkpoints are written every epoch to ``run_dir``; calling again with the same
/// ``run_dir`` and configuration resumes (also after Ctrl-C).
///
/// Args:
///     config: training configuration (``asl train --config`` JSON as a dict); missing keys
///         take their defaults, e.g. ``{"epochs": 3, "batch_size": 32, "model": {"width": 8}}``.
///         Keys: model (num_classes, input_size, depth, width, convs_per_stage, batch_norm,
///         global_pool, hidden, dropout), epochs, batch_size, lr, min_lr, weight_decay,
///         warmup_epochs, label_smoothing, augment, seed, patience, time_budget_secs, device.
///     dataset: the collected dataset to train on.
///     data: a folder of class folders to train on instead.
///     val_fraction: share of each class held out for validation.
///     split_seed: seed of the train/validation split.
///     name: name of the model folder under ``$ASL_HOME/models`` (default: a time stamp).
///     run_dir: resume (or start) the run in this folder (default ``$ASL_HOME/runs/<name>``).
///     home: state root.
///     progress: ``True`` for a ``tqdm.auto`` bar per epoch, or a tqdm-like class/factory.
///     on_epoch: called with each epoch's metrics (a dict); return ``False`` to stop early
///         (the best weights so far are kept).
///     experiment: tracking experiment of the run (default ``asl-train``).
///     tags: extra tags of the tracked run (strings), e.g. an external search's study and trial.
///
/// Returns:
///     Run
///
/// Raises:
///     TrainError: invalid configuration, or a run folder started with another one.
///     DatasetError, PrepError: no data.
///     KeyboardInterrupt: Ctrl-C; the run folder keeps the last finished epoch.
#[pyfunction]
#[pyo3(signature = (config = None, *, dataset = "grassknoted/asl-alphabet", data = None, val_fraction = 0.2, split_seed = 42, name = None, run_dir = None, home = None, progress = None, on_epoch = None, experiment = None, tags = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "train")]
fn py_train<'py>(
    py: Python<'py>,
    config: Option<&Bound<'py, PyAny>>,
    dataset: &str,
    data: Option<PathBuf>,
    val_fraction: f32,
    split_seed: u64,
    name: Option<String>,
    run_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
    on_epoch: Option<Py<PyAny>>,
    experiment: Option<String>,
    tags: Option<std::collections::BTreeMap<String, String>>,
) -> Result<Run> {
    let cfg = train_config(config)?;
    if on_epoch.as_ref().is_some_and(|cb| !cb.bind(py).is_callable()) {
        return Err(Error::type_error("on_epoch must be callable"));
    }
    let ws = crate::workspace(home);
    let args = data_args(&cfg, dataset, data, val_fraction, split_seed)?;
    let request = TrainRequest {
        data: args.spec()?,
        prep: args.config()?,
        config: cfg,
        name,
        run_dir,
        experiment,
        tags: tags.unwrap_or_default(),
    };
    let sink = progress::sink(progress::resolve(py, progress)?);
    let callback_error: Mutex<Option<PyErr>> = Mutex::new(None);

    let (out, run_id, latency, name) = progress::run_interruptible(py, |cancel| {
        let mut epoch_done = |m: &EpochMetrics| {
            let Some(cb) = &on_epoch else { return Control::Continue };
            call_on_epoch(cb, m, &callback_error)
        };
        // Tracked like `asl train`: a resumed run folder keeps logging into its run.
        let trained = ws.train_run(&request, &mut epoch_done, &*sink, cancel)?;
        let (name, done) = (trained.name, trained.training);
        let (out, run, latency): (TrainOutcome, _, f64) = (done.outcome, done.run, done.latency_ms);
        Ok((out, run.run_id, latency, name))
    })?;
    drop(sink);
    if let Some(e) = callback_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(Error::Py(e));
    }
    run_from_outcome(py, out, run_id, latency, name)
}

/// The training configuration from Python's `config` dict (`None`: the defaults), validated.
fn train_config(config: Option<&Bound<'_, PyAny>>) -> Result<TrainConfig> {
    let cfg: TrainConfig = match config {
        Some(c) if !c.is_none() => crate::train_config_from_py(c, "training configuration")?,
        _ => TrainConfig::default(),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// The data to train on, prepared at the model's input size.
fn data_args(
    cfg: &TrainConfig,
    dataset: &str,
    data: Option<PathBuf>,
    val_fraction: f32,
    split_seed: u64,
) -> Result<DataArgs> {
    let size = u32::try_from(cfg.model.input_size).map_err(|_| Error::value_error("model.input_size is too large"))?;
    Ok(DataArgs {
        dataset: dataset.to_string(),
        data,
        size,
        val_fraction,
        split_seed,
    })
}

/// Calls the Python `on_epoch` callback with an epoch's metrics (as a dict): `False` stops
/// training; an exception stops it too and is kept in `callback_error`, raised once the
/// training has ended.
fn call_on_epoch(cb: &Py<PyAny>, m: &EpochMetrics, callback_error: &Mutex<Option<PyErr>>) -> Control {
    Python::attach(|py| {
        let answer = crate::to_py(py, m)
            .map_err(PyErr::from)
            .and_then(|metrics| cb.call1(py, (metrics,)));
        match answer {
            Ok(v) if v.bind(py).cast::<pyo3::types::PyBool>().is_ok_and(|b| !b.is_true()) => Control::Stop,
            Ok(_) => Control::Continue,
            Err(e) => {
                *callback_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Control::Stop
            }
        }
    })
}

/// The Python `Run` of a finished training, tracked as `run_id`.
fn run_from_outcome(py: Python<'_>, out: TrainOutcome, run_id: String, latency: f64, name: String) -> Result<Run> {
    Ok(Run {
        validation: crate::to_py(py, &out.report.summary())?.unbind(),
        history: crate::to_py(py, &out.history)?.unbind(),
        stop: serde_json::to_value(out.stop)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        model_dir: out.model_dir,
        run_dir: out.run_dir,
        name,
        tracking_run_id: run_id,
        best_epoch: out.best_epoch,
        train_seconds: out.train_seconds,
        images_per_sec: out.images_per_sec,
        latency_ms: latency,
        resumed_from_epoch: out.resumed_from_epoch,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Run>()?;
    m.add_function(wrap_pyfunction!(py_train, m)?)?;
    Ok(())
}
