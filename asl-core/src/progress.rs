//! Progress reporting and cancellation, shared by every long operation.
//!
//! The core never draws anything itself: it reports to a [`Progress`] sink. The CLI passes a
//! terminal bar (drawn only on a TTY), the Python bindings a tqdm-compatible sink, tests none.
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A sink for the progress of long operations: stages that begin, advance and finish, and
/// one-line messages. Called from worker threads, so it must be `Send + Sync`.
pub trait Progress: Send + Sync {
    /// A new stage starts; `total` is in the stage's own unit (bytes, images, batches).
    fn begin(&self, stage: &str, total: Option<u64>);
    /// `n` more units of the current stage are done.
    fn advance(&self, n: u64);
    /// Set the absolute position (used when a download resumes part-way).
    fn set_position(&self, pos: u64);
    /// The current stage is over (a terminal bar is cleared).
    fn finish(&self);
    /// A one-line message for the person watching (never a secret).
    fn message(&self, _msg: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn finish(&self) {}
}

/// An indicatif bar on stderr when stderr is a terminal; silent otherwise (CI logs, pipes).
pub struct TerminalProgress {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    tty: bool,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self {
            bar: std::sync::Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for TerminalProgress {
    fn begin(&self, stage: &str, total: Option<u64>) {
        if !self.tty {
            return;
        }
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = if stage.contains("download") {
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(stage.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n);
        }
    }
    fn set_position(&self, pos: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.set_position(pos);
        }
    }
    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(b) = slot.take()
        {
            b.finish_and_clear();
        }
    }
    fn message(&self, msg: &str) {
        eprintln!("{msg}");
    }
}

/// A cheap, cloneable flag a caller sets to ask a long operation to stop at its next check
/// (Ctrl-C in the CLI, KeyboardInterrupt in Python).
#[derive(Clone, Default, Debug)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag not yet set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ask the operations holding this flag (or a clone) to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`Cancel::cancel`] was called on this flag or any clone of it.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// The flag itself, for a signal handler to set.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}
