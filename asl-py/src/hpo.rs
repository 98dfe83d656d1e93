//! `asl.hpo`, `asl.register`, `asl.models`, `asl.pipeline`: asl_core::hpo, asl_core::registry
//! and asl_core::pipeline, as `asl hpo`, `asl models` and `asl pipeline` call them.
use std::path::PathBuf;

use asl_core::hpo::{HpoError, SamplerKind, SearchOptions, SearchSpace, StudyConfig};
use asl_core::pipeline::{self, DataSource, PipelineConfig};
use asl_core::prep::PrepConfig;
use asl_core::registry::Registry;
use asl_core::train::TrainConfig;
use asl_core::workspace::StudyRequest;
use pyo3::prelude::*;

use crate::dataset::parse_ref;
use crate::error::{Error, Result};
use crate::prep::DataArgs;
use crate::progress;

/// The search arguments shared by `hpo` and `pipeline` (`asl hpo`'s flags) → the core's
/// [`SearchOptions`], which make the study's configuration.
#[allow(clippy::too_many_arguments)]
fn search_config(
    trials: usize,
    time_budget: Option<f64>,
    parallel: usize,
    sampler: &str,
    space: Option<&Bound<'_, PyAny>>,
    epochs: usize,
    startup_trials: usize,
    prune: bool,
    eta: usize,
    seed: u64,
    base: Option<&Bound<'_, PyAny>>,
) -> Result<StudyConfig> {
    let space = parse_space(space)?;
    let base = parse_base(base)?;
    let sampler: SamplerKind = sampler
        .parse()
        .map_err(|e: HpoError| Error::value_error(e.to_string()))?;
    Ok(SearchOptions {
        trials,
        time_budget_secs: time_budget,
        parallel,
        sampler,
        space,
        epochs,
        startup_trials,
        prune,
        eta,
        seed,
        base,
    }
    .study_config())
}

/// A search space given as a dict or the path of a JSON file (`asl hpo --space`); None: the default.
fn parse_space(space: Option<&Bound<'_, PyAny>>) -> Result<Option<SearchSpace>> {
    Ok(match space {
        None => None,
        Some(s) if s.is_none() => None,
        Some(s) if s.is_instance_of::<pyo3::types::PyDict>() => Some(crate::from_py::<SearchSpace>(s, "search space")?),
        Some(s) => match s.extract::<PathBuf>() {
            Ok(p) => Some(SearchSpace::load(&p)?),
            Err(_) => {
                return Err(Error::type_error(format!(
                    "space must be a dict, a path to a JSON file, or None; got {}",
                    s.get_type().name()?
                )));
            }
        },
    })
}

/// The training configuration trials start from (a partial dict as for `train`).
fn parse_base(base: Option<&Bound<'_, PyAny>>) -> Result<TrainConfig> {
    match base {
        Some(b) if !b.is_none() => crate::train_config_from_py(b, "base training configuration"),
        _ => Ok(TrainConfig::default()),
    }
}

/// The search space as plain data, checked: ``space`` (a dict or the path of a JSON file, as
/// ``asl hpo --space`` reads it), or the default space.
///
/// An external search (the Optuna worker, ``asl.optuna_worker``) samples from it: each entry
/// is ``{"type": "log_uniform" | "uniform", "low", "high"}``, ``{"type": "int", "low", "high",
/// "log"}`` or ``{"type": "categorical", "choices": [...]}``.
///
/// Raises:
///     HpoError: an unknown parameter or an invalid prior.
#[pyfunction]
#[pyo3(signature = (space = None))]
fn search_space<'py>(py: Python<'py>, space: Option<&Bound<'py, PyAny>>) -> Result<Bound<'py, PyAny>> {
    let space = parse_space(space)?.unwrap_or_default();
    space.validate()?;
    crate::to_py(py, &space)
}

/// The training configuration of one trial, as ``asl hpo`` trains its trials: ``base`` with
/// the sampled ``params`` set (names as in the search space), ``epochs`` epochs and no early
/// stopping of its own (the search's pruner decides). Pass it to ``train``.
///
/// Raises:
///     HpoError: an unknown parameter, or values the configuration refuses.
#[pyfunction]
#[pyo3(signature = (params, *, base = None, epochs = 9))]
fn trial_config<'py>(
    py: Python<'py>,
    params: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    epochs: usize,
) -> Result<Bound<'py, PyAny>> {
    let params: asl_core::hpo::TrialParams = crate::from_py(params, "trial parameters")?;
    let config = asl_core::hpo::trial_config(&parse_base(base)?, &params, epochs)?;
    crate::to_py(py, &config)
}

/// An observer that hands each line to a Python callable (or prints it).
fn observer(on_event: Option<Py<PyAny>>) -> impl Fn(&str) + Sync {
    move |line: &str| {
        Python::attach(|py| {
            let r = match &on_event {
                Some(cb) => cb.call1(py, (line,)).map(|_| ()),
                None => py
                    .import("builtins")
                    .and_then(|b| b.getattr("print")?.call1((line,)).map(|_| ())),
            };
            if let Err(e) = r {
                e.write_unraisable(py, None);
            }
        })
    }
}

fn callable(py: Python<'_>, cb: &Option<Py<PyAny>>, what: &str) -> Result<()> {
    match cb {
        Some(c) if !c.bind(py).is_callable() => Err(Error::type_error(format!("{what} must be callable"))),
        _ => Ok(()),
    }
}

/// Search hyper-parameters (TPE or random sampling, ASHA pruning); continues a stopped study.
///
/// Every trial trains on the shared cache of its input size and is a tracked run in the
/// ``asl-hpo`` experiment. The study is saved after every event in ``$ASL_HOME/hpo/<study>``:
/// call again with the same arguments after Ctrl-C and it continues (an interrupted trial
/// resumes from its checkpoint).
///
/// Args:
///     trials: trials to run in all (the study continues up to this many).
///     time_budget: stop starting trials after this many seconds of study time.
///     parallel: trials trained at once.
///     sampler: ``"tpe"`` or ``"random"``.
///     space: the search space, a dict like ``{"lr": {"type": "log_uniform", "low": 5e-4,
///         "high": 1e-2}, "width": {"type": "categorical", "choices": [8, 16]}}`` or the path
///         of such a JSON file (default: lr, weight_decay, dropout, width, depth, batch_size,
///         augment, input_size).
///     epochs: epochs of a trial that is never pruned.
///     startup_trials: random trials before TPE takes over.
///     prune: ASHA pruning on or off.
///     eta: ASHA reduction factor.
///     seed: sampler seed.
///     base: the training configuration trials start from (a dict as for ``train``).
///     study: study name (default: derived from the data and the search configuration).
///     dataset, data, size, val_fraction, split_seed: the data, as for ``prep``.
///     home: state root.
///     on_event: called with each progress line (default: ``print``).
///
/// Returns:
///     dict as ``asl hpo --json``: ``study``, ``dir``, ``trials`` (params, state, value,
///     run_id, model_dir, …), ``best`` (the best complete trial, or None), ``elapsed_secs``.
///
/// Raises:
///     HpoError: invalid search space, or a study started with another configuration.
///     KeyboardInterrupt: Ctrl-C; the study is saved and continues on the next call.
#[pyfunction]
#[pyo3(signature = (*, trials = 20, time_budget = None, parallel = 1, sampler = "tpe", space = None, epochs = 9, startup_trials = 5, prune = true, eta = 3, seed = 0, base = None, study = None, dataset = "grassknoted/asl-alphabet", data = None, size = 32, val_fraction = 0.2, split_seed = 42, home = None, on_event = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "hpo")]
fn py_hpo<'py>(
    py: Python<'py>,
    trials: usize,
    time_budget: Option<f64>,
    parallel: usize,
    sampler: &str,
    space: Option<&Bound<'py, PyAny>>,
    epochs: usize,
    startup_trials: usize,
    prune: bool,
    eta: usize,
    seed: u64,
    base: Option<&Bound<'py, PyAny>>,
    study: Option<String>,
    dataset: &str,
    data: Option<PathBuf>,
    size: u32,
    val_fraction: f32,
    split_seed: u64,
    home: Option<PathBuf>,
    on_event: Option<Py<PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let config = search_config(
        trials,
        time_budget,
        parallel,
        sampler,
        space,
        epochs,
        startup_trials,
        prune,
        eta,
        seed,
        base,
    )?;
    callable(py, &on_event, "on_event")?;
    let ws = crate::workspace(home);
    let args = DataArgs {
        dataset: dataset.to_string(),
        data,
        size,
        val_fraction,
        split_seed,
    };
    let request = StudyRequest {
        data: args.spec()?,
        prep: args.config()?,
        config,
        name: study,
    };
    let say = observer(on_event);
    let out = progress::run_interruptible(py, |cancel| {
        let s = ws.study(&request, &say, cancel)?;
        Ok(
            serde_json::json!({"study": s.name, "dir": s.dir, "trials": s.study.trials, "best": s.study.best(), "elapsed_secs": s.study.elapsed_secs}),
        )
    })?;
    crate::to_py(py, &out)
}

/// Register a tracked run's model as a new version of ``asl-fingerspelling``, behind the
/// promotion guard: it becomes ``champion`` only if it beats the current champion on the
/// held-out split of the data (both evaluated now), else ``challenger``.
///
/// Args:
///     run_id: a tracked run (``Run.tracking_run_id``, or a trial's ``run_id`` from ``hpo``).
///     dataset, data, size, val_fraction, split_seed: the held-out data, as for ``prep``.
///     home: state root.
///
/// Returns:
///     dict: ``version``, ``promoted``, ``candidate_accuracy``, ``champion_version``,
///     ``champion_accuracy``, ``reason``.
///
/// Raises:
///     TrackingError: unknown run, or the store or registry failed.
#[pyfunction]
#[pyo3(signature = (run_id, *, dataset = "grassknoted/asl-alphabet", data = None, size = 32, val_fraction = 0.2, split_seed = 42, home = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "register")]
fn py_register<'py>(
    py: Python<'py>,
    run_id: String,
    dataset: &str,
    data: Option<PathBuf>,
    size: u32,
    val_fraction: f32,
    split_seed: u64,
    home: Option<PathBuf>,
) -> Result<Bound<'py, PyAny>> {
    let ws = crate::workspace(home);
    let args = DataArgs {
        dataset: dataset.to_string(),
        data,
        size,
        val_fraction,
        split_seed,
    };
    let (data, prep) = (args.spec()?, args.config()?);
    let decision = progress::run_interruptible(py, |cancel| Ok(ws.register(&run_id, &data, &prep, cancel)?.1))?;
    crate::to_py(py, &decision)
}

/// The registered versions of ``asl-fingerspelling`` and their aliases (``asl models list``).
///
/// Returns:
///     dict: ``model``, ``store`` (where it lives) and ``versions`` (oldest first: version,
///     run_id, aliases, tags, created_ms, source).
#[pyfunction]
#[pyo3(signature = (*, home = None))]
#[pyo3(name = "models")]
fn py_models(py: Python<'_>, home: Option<PathBuf>) -> Result<Bound<'_, PyAny>> {
    let ws = crate::workspace(home);
    let out = progress::run_interruptible(py, |_| {
        let store = ws.tracking()?;
        let registry = Registry::new(&*store, ws.home());
        let versions = registry.versions()?;
        Ok(serde_json::json!({"model": registry.model_name(), "store": store.describe(), "versions": versions}))
    })?;
    crate::to_py(py, &out)
}

/// Make a registered version the champion (``asl models promote N``): no guard, your decision.
///
/// Returns:
///     dict: ``champion`` (the version now), ``previous`` (the one before, or None).
///
/// Raises:
///     TrackingError: no such version, or the store failed.
#[pyfunction]
#[pyo3(signature = (version, *, home = None))]
#[pyo3(name = "promote")]
fn py_promote(py: Python<'_>, version: u32, home: Option<PathBuf>) -> Result<Bound<'_, PyAny>> {
    let ws = crate::workspace(home);
    let (now, before) = progress::run_interruptible(py, |_| Ok(ws.promote(version)?))?;
    crate::to_py(
        py,
        &serde_json::json!({"champion": now.version, "previous": before.map(|b| b.version)}),
    )
}

/// Move the champion back to the version that held it before (``asl models rollback``).
///
/// Returns:
///     dict: ``champion`` (the version now).
///
/// Raises:
///     TrackingError: no champion, or no earlier one to go back to.
#[pyfunction]
#[pyo3(signature = (*, home = None))]
#[pyo3(name = "rollback")]
fn py_rollback(py: Python<'_>, home: Option<PathBuf>) -> Result<Bound<'_, PyAny>> {
    let ws = crate::workspace(home);
    let now = progress::run_interruptible(py, |_| Ok(ws.rollback()?))?;
    crate::to_py(py, &serde_json::json!({"champion": now.version}))
}

/// Tracked runs, best validation accuracy first (``asl runs``).
///
/// Args:
///     experiment: ``asl-hpo`` (search trials) or ``asl-train`` (``train`` runs).
///     study: only the trials of this study.
///     limit: at most this many runs.
///     home: state root.
///
/// Returns:
///     dict as ``asl runs --json``: ``store`` (where they live), ``runs`` (run_id, name, status,
///     params, metrics, tags, …).
#[pyfunction]
#[pyo3(signature = (experiment = "asl-hpo", *, study = None, limit = 20, home = None))]
#[pyo3(name = "runs")]
fn py_runs<'py>(
    py: Python<'py>,
    experiment: &str,
    study: Option<String>,
    limit: usize,
    home: Option<PathBuf>,
) -> Result<Bound<'py, PyAny>> {
    let ws = crate::workspace(home);
    let out = progress::run_interruptible(py, |_| {
        let runs = ws.runs(experiment, study.as_deref(), limit)?;
        Ok(serde_json::json!({"store": ws.tracking()?.describe(), "runs": runs}))
    })?;
    crate::to_py(py, &out)
}

/// collect → prep → hpo → register, each step skipped when its inputs are unchanged.
///
/// As ``asl pipeline``: the dataset comes from ``from_zip`` (imported as version 1) or from
/// Kaggle; the study is named after the data and the search configuration, so a second call
/// with nothing new skips every step; the best trial is registered behind the promotion
/// guard.
///
/// Args:
///     from_zip: a local archive in Kaggle's layout (default: download from Kaggle).
///     dataset: Kaggle dataset ``owner/slug``.
///     kaggle_url: Kaggle API base URL (default from the environment).
///     size: image side of the default cache.
///     network_attempts: attempts of the collect step on network trouble.
///     trials, time_budget, parallel, sampler, space, epochs, startup_trials, prune, eta,
///         seed, base: the search, as for ``hpo``.
///     home: state root.
///     on_event: called with each progress line (default: ``print``).
///
/// Returns:
///     dict as ``asl pipeline --json``: ``steps`` (step, action ``ran``/``skipped``, detail,
///     seconds), ``dataset_version``, ``cache_hash``, ``study``, ``registered_version``,
///     ``promotion`` (the guard's decision when a new version was registered, else None).
///
/// Raises:
///     DatasetError, PrepError, HpoError, TrackingError: the step that failed (earlier
///         steps' results are kept).
///     KeyboardInterrupt: Ctrl-C; the next call continues where it stopped.
#[pyfunction]
#[pyo3(signature = (*, from_zip = None, dataset = "grassknoted/asl-alphabet", kaggle_url = None, size = 32, network_attempts = 3, trials = 20, time_budget = None, parallel = 1, sampler = "tpe", space = None, epochs = 9, startup_trials = 5, prune = true, eta = 3, seed = 0, base = None, home = None, on_event = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "pipeline")]
fn py_pipeline<'py>(
    py: Python<'py>,
    from_zip: Option<PathBuf>,
    dataset: &str,
    kaggle_url: Option<&str>,
    size: u32,
    network_attempts: usize,
    trials: usize,
    time_budget: Option<f64>,
    parallel: usize,
    sampler: &str,
    space: Option<&Bound<'py, PyAny>>,
    epochs: usize,
    startup_trials: usize,
    prune: bool,
    eta: usize,
    seed: u64,
    base: Option<&Bound<'py, PyAny>>,
    home: Option<PathBuf>,
    on_event: Option<Py<PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let study = search_config(
        trials,
        time_budget,
        parallel,
        sampler,
        space,
        epochs,
        startup_trials,
        prune,
        eta,
        seed,
        base,
    )?;
    callable(py, &on_event, "on_event")?;
    let ws = crate::workspace(home);
    let (dataset, _) = parse_ref(dataset, None)?;
    let source = match from_zip {
        Some(z) => DataSource::Zip(z),
        None => DataSource::Kaggle(
            asl_core::dataset::KaggleClient::from_env(kaggle_url, &asl_core::dataset::Env::from_process())?.0,
        ),
    };
    if size == 0 {
        return Err(Error::value_error("size must be at least 1 pixel"));
    }
    let cfg = PipelineConfig {
        dataset,
        source,
        prep: PrepConfig {
            image_size: size,
            ..Default::default()
        },
        study,
        network_attempts,
    };
    let say = observer(on_event);
    let out = progress::run_interruptible(py, |cancel| {
        let store = ws.tracking()?;
        Ok(pipeline::run_pipeline(ws.home(), &cfg, &*store, &say, cancel)?)
    })?;
    crate::to_py(py, &out)
}

pub fn register_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_hpo, m)?)?;
    m.add_function(wrap_pyfunction!(search_space, m)?)?;
    m.add_function(wrap_pyfunction!(trial_config, m)?)?;
    m.add_function(wrap_pyfunction!(py_register, m)?)?;
    m.add_function(wrap_pyfunction!(py_models, m)?)?;
    m.add_function(wrap_pyfunction!(py_promote, m)?)?;
    m.add_function(wrap_pyfunction!(py_rollback, m)?)?;
    m.add_function(wrap_pyfunction!(py_runs, m)?)?;
    m.add_function(wrap_pyfunction!(py_pipeline, m)?)?;
    Ok(())
}
