//! Progress bars and Ctrl-C for long operations.
//!
//! [`TqdmProgress`] is an `asl_core::progress::Progress` that forwards to a tqdm-compatible
//! object (anything with `update(n)` and `close()`, made by calling a class or factory with
//! `total=` and `desc=`), throttled so the core's hot loops never wait on the GIL more than
//! about ten times a second.
//!
//! [`run_interruptible`] runs a long core call on a worker thread with an
//! `asl_core::progress::Cancel`; the calling thread releases the GIL and polls
//! `PyErr_CheckSignals` every 100 ms. On KeyboardInterrupt it cancels the core call, waits for
//! it to stop at its next check (the core saves what it has: checkpoints, the study), and
//! re-raises the KeyboardInterrupt.
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use asl_core::progress::{Cancel, Progress};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{Error, Result, Stage};

/// How often the calling thread checks for Ctrl-C, and the least time between two updates of a
/// progress bar.
pub const POLL: Duration = Duration::from_millis(100);

/// What a `progress=` argument may be: False/None (no bar), True (`tqdm.auto.tqdm`), or a
/// tqdm-like class or factory.
pub fn resolve(py: Python<'_>, progress: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    let Some(p) = progress else { return Ok(None) };
    if p.is_none() {
        return Ok(None);
    }
    if let Ok(flag) = p.cast::<pyo3::types::PyBool>() {
        if !flag.is_true() {
            return Ok(None);
        }
        return match py.import("tqdm.auto") {
            Ok(m) => Ok(Some(m.getattr("tqdm")?.unbind())),
            Err(_) => {
                let warnings = py.import("warnings")?;
                warnings.call_method1(
                    "warn",
                    ("progress=True needs tqdm (pip install tqdm); continuing without a progress bar",),
                )?;
                Ok(None)
            }
        };
    }
    if !p.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "progress must be True, False, None or a tqdm-like class or factory, got {}",
            p.get_type().name()?
        )));
    }
    Ok(Some(p.clone().unbind()))
}

struct Bar {
    obj: Py<PyAny>,
    /// Position already shown.
    shown: u64,
    /// Position reached (shown at the next flush).
    pos: u64,
    last_flush: Instant,
}

/// Forwards the core's progress to a tqdm-like object under the GIL, at most every [`POLL`].
pub struct TqdmProgress {
    factory: Py<PyAny>,
    bar: Mutex<Option<Bar>>,
}

impl TqdmProgress {
    pub fn new(factory: Py<PyAny>) -> Self {
        Self {
            factory,
            bar: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Bar>> {
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Show `bar.pos` (a failing Python call is reported once as unraisable, never fatal).
    fn flush(py: Python<'_>, bar: &mut Bar) {
        if bar.pos > bar.shown {
            if let Err(e) = bar.obj.call_method1(py, "update", (bar.pos - bar.shown,)) {
                e.write_unraisable(py, Some(bar.obj.bind(py)));
            }
            bar.shown = bar.pos;
        }
        bar.last_flush = Instant::now();
    }

    fn close(py: Python<'_>, mut bar: Bar) {
        Self::flush(py, &mut bar);
        if let Err(e) = bar.obj.call_method0(py, "close") {
            e.write_unraisable(py, Some(bar.obj.bind(py)));
        }
    }

    fn moved(&self, to: impl FnOnce(&mut Bar)) {
        let mut slot = self.lock();
        let Some(bar) = slot.as_mut() else { return };
        to(bar);
        if bar.last_flush.elapsed() >= POLL {
            Python::attach(|py| Self::flush(py, bar));
        }
    }
}

impl Progress for TqdmProgress {
    fn begin(&self, stage: &str, total: Option<u64>) {
        let mut slot = self.lock();
        Python::attach(|py| {
            if let Some(old) = slot.take() {
                Self::close(py, old);
            }
            let kwargs = PyDict::new(py);
            let made = (|| -> PyResult<Py<PyAny>> {
                kwargs.set_item("total", total)?;
                kwargs.set_item("desc", stage)?;
                if stage.contains("download") {
                    kwargs.set_item("unit", "B")?;
                    kwargs.set_item("unit_scale", true)?;
                }
                self.factory.call(py, (), Some(&kwargs))
            })();
            match made {
                Ok(obj) => {
                    *slot = Some(Bar {
                        obj,
                        shown: 0,
                        pos: 0,
                        last_flush: Instant::now(),
                    })
                }
                Err(e) => e.write_unraisable(py, Some(self.factory.bind(py))),
            }
        });
    }

    fn advance(&self, n: u64) {
        self.moved(|b| b.pos += n);
    }

    fn set_position(&self, pos: u64) {
        self.moved(|b| b.pos = b.pos.max(pos));
    }

    fn finish(&self) {
        let mut slot = self.lock();
        if let Some(bar) = slot.take() {
            Python::attach(|py| Self::close(py, bar));
        }
    }

    fn message(&self, msg: &str) {
        Python::attach(|py| {
            let shown = match self.factory.getattr(py, "write") {
                Ok(write) => write.call1(py, (msg,)).is_ok(),
                Err(_) => false,
            };
            if !shown {
                let _ = py
                    .import("builtins")
                    .and_then(|b| b.getattr("print"))
                    .and_then(|p| p.call1((msg,)));
            }
        });
    }
}

impl Drop for TqdmProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The progress sink for a resolved `progress=` argument.
pub fn sink(factory: Option<Py<PyAny>>) -> Box<dyn Progress> {
    match factory {
        Some(f) => Box::new(TqdmProgress::new(f)),
        None => Box::new(asl_core::progress::NoProgress),
    }
}

/// Run `work` on a worker thread while this thread releases the GIL and watches for Ctrl-C.
///
/// `work` gets the `Cancel` to hand to the core. On KeyboardInterrupt (or any exception a
/// signal handler raises) the cancel flag is set, the worker is joined — the core stops at its
/// next check, within a batch of training — and that exception is returned. A call the core
/// cannot cancel (an archive import) finishes first.
pub fn run_interruptible<T, F>(py: Python<'_>, work: F) -> Result<T>
where
    T: Send,
    F: FnOnce(&Cancel) -> Result<T> + Send,
{
    py.check_signals()?;
    let cancel = Cancel::new();
    let done = (Mutex::new(false), Condvar::new());
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            // Tell the waiting thread even when `work` panics.
            struct Done<'a>(&'a (Mutex<bool>, Condvar));
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    *self.0.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    self.0.1.notify_all();
                }
            }
            let _done = Done(&done);
            work(&cancel)
        });
        let mut interrupted: Option<PyErr> = None;
        loop {
            let finished = py.detach(|| {
                let guard = done.0.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = done
                    .1
                    .wait_timeout_while(guard, POLL, |d| !*d)
                    .unwrap_or_else(|p| p.into_inner());
                *guard
            });
            if finished {
                break;
            }
            if let Err(e) = py.check_signals() {
                cancel.cancel();
                interrupted = Some(e);
                // Wait for the core to stop at its next check; it never holds the GIL while
                // it works, and its Python callbacks can run because we release it here.
                py.detach(|| {
                    let guard = done.0.lock().unwrap_or_else(|p| p.into_inner());
                    let _unused = done.1.wait_while(guard, |d| !*d);
                });
                break;
            }
        }
        let result = py.detach(|| handle.join());
        match (interrupted, result) {
            (Some(e), _) => Err(Error::Py(e)),
            (None, Ok(r)) => r,
            (None, Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(Error::stage(
                    Stage::Other,
                    format!("internal error in asl (a worker thread panicked): {what}"),
                ))
            }
        }
    })
}
