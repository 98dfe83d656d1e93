//! `asl.collect`, `asl.status`, `asl.synth`: asl_core::dataset and asl_core::synth.
use std::path::PathBuf;

use asl_core::dataset::{self, CollectOptions, CollectOutcome, DatasetRef, DatasetStore, Env, KaggleClient};
use asl_core::synth;
use pyo3::prelude::*;

use crate::error::Result;
use crate::progress;

/// `owner/slug[/versions/N]` and an explicit version (the explicit one wins).
pub(crate) fn parse_ref(s: &str, version: Option<u32>) -> Result<(DatasetRef, Option<u32>)> {
    let (r, v) = DatasetRef::parse(s)?;
    Ok((r, version.or(v)))
}

/// A Kaggle client from the environment (as the CLI); credential warnings become Python
/// warnings.
fn kaggle_client(py: Python<'_>, kaggle_url: Option<&str>) -> Result<KaggleClient> {
    let (client, creds) = KaggleClient::from_env(kaggle_url, &Env::from_process())?;
    if !creds.warnings.is_empty() {
        let warnings = py.import("warnings")?;
        for w in &creds.warnings {
            warnings.call_method1("warn", (w.as_str(),))?;
        }
    }
    Ok(client)
}

/// Bring a dataset version onto disk and return its manifest.
///
/// With ``from_zip`` (an archive in Kaggle's layout) or ``from_dir`` (a folder of class folders)
/// nothing is downloaded: the copy is registered as ``version`` (default 1). Otherwise the
/// version (default: Kaggle's current one) is downloaded from Kaggle — resumable, verified,
/// safely extracted — unless a complete copy is already there. Credentials and the endpoint
/// come from the environment as for ``asl collect`` (``KAGGLE_API_TOKEN``, ``KAGGLE_USERNAME``
/// + ``KAGGLE_KEY``, ``~/.kaggle/kaggle.json``, ``KAGGLE_API_ENVIRONMENT``, ``ASL_KAGGLE_URL``).
///
/// Args:
///     dataset: Kaggle dataset ``owner/slug`` (optionally ``/versions/N``).
///     version: pin a dataset version.
///     force: download and extract again even if a complete copy exists.
///     from_zip: register this archive instead of downloading.
///     from_dir: register this folder (in place) instead of downloading.
///     keep_archive: keep the downloaded archive after extraction.
///     kaggle_url: Kaggle API base URL (default from the environment).
///     home: state root (default ``$ASL_HOME``, else ``~/.local/share/asl``).
///     progress: ``True`` for a ``tqdm.auto`` bar, or a tqdm-like class/factory.
///
/// Returns:
///     dict with ``action`` (``imported``, ``registered``, ``up to date`` or ``downloaded``),
///     ``manifest``, ``path`` (the data folder) and ``download`` (details of a download).
///
/// Raises:
///     DatasetError: the download, the archive or the folder layout failed.
///     KeyboardInterrupt: Ctrl-C; a download resumes where it stopped on the next call.
#[pyfunction]
#[pyo3(signature = (dataset = "grassknoted/asl-alphabet", *, version = None, force = false, from_zip = None, from_dir = None, keep_archive = false, kaggle_url = None, home = None, progress = None))]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "collect")]
fn py_collect<'py>(
    py: Python<'py>,
    dataset: &str,
    version: Option<u32>,
    force: bool,
    from_zip: Option<PathBuf>,
    from_dir: Option<PathBuf>,
    keep_archive: bool,
    kaggle_url: Option<&str>,
    home: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    if from_zip.is_some() && from_dir.is_some() {
        return Err(crate::error::Error::value_error("give from_zip or from_dir, not both"));
    }
    let home = crate::home(home);
    let (dataset, version) = parse_ref(dataset, version)?;
    let store = DatasetStore::new(&home, &dataset);
    let client = match (&from_zip, &from_dir) {
        (None, None) => Some(kaggle_client(py, kaggle_url)?),
        _ => None,
    };
    let sink = progress::sink(progress::resolve(py, progress)?);
    let mut opts = CollectOptions::new(dataset.clone());
    opts.version = version;
    opts.force = force;
    opts.keep_archive = keep_archive;
    let (action, manifest, download) = progress::run_interruptible(py, |cancel| {
        Ok(if let Some(zip) = &from_zip {
            (
                "imported",
                store.import_zip(zip, version.unwrap_or(1), force, &opts.limits, &*sink)?,
                serde_json::Value::Null,
            )
        } else if let Some(dir) = &from_dir {
            (
                "registered",
                store.import_dir(dir, version.unwrap_or(1))?,
                serde_json::Value::Null,
            )
        } else {
            let client = client
                .as_ref()
                .ok_or_else(|| crate::error::Error::value_error("no Kaggle client"))?;
            match dataset::collect(&home, client, &opts, &*sink, cancel)? {
                CollectOutcome::UpToDate(m) => ("up to date", m, serde_json::Value::Null),
                CollectOutcome::Downloaded { manifest, download } => {
                    let extra = serde_json::json!({"archive_bytes": download.bytes, "md5": download.md5_hex, "md5_verified": download.md5_verified, "resumed_from": download.resumed_from, "attempts": download.attempts});
                    ("downloaded", manifest, extra)
                }
            }
        })
    })?;
    drop(sink);
    let out = serde_json::json!({"action": action, "manifest": manifest, "path": store.data_dir(&manifest), "download": download});
    crate::to_py(py, &out)
}

/// Local versus remote versions of a dataset, and whether the local copy is outdated.
///
/// Args:
///     dataset: Kaggle dataset ``owner/slug``.
///     version: the version you pin (a pinned, complete version is never outdated).
///     offline: do not ask Kaggle; report the local state only.
///     kaggle_url: Kaggle API base URL (default from the environment).
///     home: state root.
///
/// Returns:
///     dict as ``asl status --json``: ``local_versions``, ``newest_complete``, ``remote``,
///     ``remote_error``, ``outdated`` (``None`` when it cannot be told), …
#[pyfunction]
#[pyo3(signature = (dataset = "grassknoted/asl-alphabet", *, version = None, offline = false, kaggle_url = None, home = None))]
#[pyo3(name = "status")]
fn py_status<'py>(
    py: Python<'py>,
    dataset: &str,
    version: Option<u32>,
    offline: bool,
    kaggle_url: Option<&str>,
    home: Option<PathBuf>,
) -> Result<Bound<'py, PyAny>> {
    let home = crate::home(home);
    let (dataset, version) = parse_ref(dataset, version)?;
    let client = if offline {
        None
    } else {
        Some(kaggle_client(py, kaggle_url)?)
    };
    let st = progress::run_interruptible(py, |_| Ok(dataset::status(&home, client.as_ref(), &dataset, version)?))?;
    crate::to_py(py, &st)
}

/// Write the embedded synthetic dataset as a zip in Kaggle's layout.
///
/// The same arguments always give the same bytes. ``asl.collect(from_zip=out)`` registers it.
///
/// Args:
///     out: path of the zip to write (its folder is created).
///     per_class: training images per class.
///     size: image side in pixels.
///     seed: master seed.
///
/// Returns:
///     dict with ``path``, ``images``, ``classes`` and ``bytes``.
#[pyfunction]
#[pyo3(signature = (out, per_class = 60, size = 64, seed = 0))]
#[pyo3(name = "synth")]
fn py_synth(py: Python<'_>, out: PathBuf, per_class: usize, size: u32, seed: u64) -> Result<Bound<'_, PyAny>> {
    let cfg = synth::SynthConfig {
        per_class,
        image_size: size,
        seed,
        ..Default::default()
    };
    let s = progress::run_interruptible(py, |_| Ok(synth::write_zip(&cfg, &out)?))?;
    crate::to_py(
        py,
        &serde_json::json!({"path": out, "images": s.images, "classes": s.classes, "bytes": s.bytes}),
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_collect, m)?)?;
    m.add_function(wrap_pyfunction!(py_status, m)?)?;
    m.add_function(wrap_pyfunction!(py_synth, m)?)?;
    Ok(())
}
