//! Dynamic batching: one worker thread runs every forward pass. It takes the first waiting job,
//! then gathers more until `max_batch` images, or `max_wait` has passed, or nobody else is on
//! the way, and classifies them all at once (as Triton and TF Serving do). Concurrent
//! single-photo requests thus share forward passes, and the async runtime never runs the model.
//!
//! "On the way" is counted with [`Ticket`]s: a handler takes one before it decodes its photos,
//! so the worker knows whether waiting can pay off. A lone client never waits.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use asl_core::infer::{Classifier, Prediction};
use asl_core::prep::PreparedPhoto;
use tokio::sync::oneshot;

use crate::error::ApiError;

pub type BatchResult = Result<Vec<Prediction>, ApiError>;

/// Images of one request, classified with the model the request started with.
struct Job {
    model: Arc<Classifier>,
    images: Vec<PreparedPhoto>,
    reply: oneshot::Sender<BatchResult>,
}

/// Handle to the worker thread; cheap to clone. The thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
    incoming: Arc<AtomicUsize>,
}

/// A request that will submit images soon (it is decoding them). Dropping it withdraws.
pub struct Ticket {
    batcher: Batcher,
}

impl Batcher {
    /// Starts the worker. `on_batch` is told the size of every forward pass (for metrics).
    pub fn start(max_batch: usize, max_wait: Duration, on_batch: impl Fn(usize) + Send + 'static) -> Batcher {
        let (tx, rx) = mpsc::channel::<Job>();
        let incoming = Arc::new(AtomicUsize::new(0));
        let worker_incoming = incoming.clone();
        let max_batch = max_batch.max(1);
        std::thread::Builder::new()
            .name("asl-batcher".into())
            .spawn(move || worker(rx, worker_incoming, max_batch, max_wait, on_batch))
            .expect("cannot start the batcher thread");
        Batcher { tx, incoming }
    }

    pub fn ticket(&self) -> Ticket {
        self.incoming.fetch_add(1, Ordering::SeqCst);
        Ticket { batcher: self.clone() }
    }

    /// Classifies `images` (already resized) with `model`, in input order.
    pub async fn predict(&self, model: Arc<Classifier>, images: Vec<PreparedPhoto>) -> BatchResult {
        self.ticket().predict(model, images).await
    }
}

impl Ticket {
    pub async fn predict(self, model: Arc<Classifier>, images: Vec<PreparedPhoto>) -> BatchResult {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        let sent = self.batcher.tx.send(Job { model, images, reply });
        drop(self); // submitted: no longer "on the way"
        if sent.is_err() {
            return Err(ApiError::internal("the inference worker has stopped"));
        }
        rx.await
            .unwrap_or_else(|_| Err(ApiError::internal("the inference worker dropped the request")))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.batcher.incoming.fetch_sub(1, Ordering::SeqCst);
    }
}

fn worker(
    rx: mpsc::Receiver<Job>,
    incoming: Arc<AtomicUsize>,
    max_batch: usize,
    max_wait: Duration,
    on_batch: impl Fn(usize),
) {
    // Re-check "anyone on the way?" at least this often while waiting.
    const POLL: Duration = Duration::from_micros(200);
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + max_wait;
        let mut size = first.images.len();
        let mut jobs = vec![first];
        while size < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.images.len();
                    jobs.push(job);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if incoming.load(Ordering::SeqCst) == 0 || now >= deadline {
                break;
            }
            if let Ok(job) = rx.recv_timeout((deadline - now).min(POLL)) {
                size += job.images.len();
                jobs.push(job);
            }
        }
        run(jobs, max_batch, &on_batch);
    }
}

/// Runs the gathered jobs, grouped by model (a reload can leave two models in flight).
fn run(jobs: Vec<Job>, max_batch: usize, on_batch: &impl Fn(usize)) {
    let mut groups: Vec<(Arc<Classifier>, Vec<Job>)> = Vec::new();
    // A request that was abandoned (timed out, client gone) needs no forward pass.
    for job in jobs.into_iter().filter(|j| !j.reply.is_closed()) {
        match groups.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &job.model)) {
            Some((_, g)) => g.push(job),
            None => groups.push((job.model.clone(), vec![job])),
        }
    }
    for (model, mut group) in groups {
        let counts: Vec<usize> = group.iter().map(|j| j.images.len()).collect();
        let images: Vec<PreparedPhoto> = group.iter_mut().flat_map(|j| std::mem::take(&mut j.images)).collect();
        let result = classify(&model, &images, max_batch, on_batch);
        match result {
            Ok(preds) => {
                let mut preds = preds.into_iter();
                for (job, n) in group.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(preds.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                for job in group {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn classify(model: &Classifier, images: &[PreparedPhoto], max_batch: usize, on_batch: &impl Fn(usize)) -> BatchResult {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(max_batch) {
        on_batch(chunk.len());
        // A panic in the backend fails these requests, not the worker (nor the server).
        let preds = std::panic::catch_unwind(AssertUnwindSafe(|| model.predict_prepared(chunk)))
            .map_err(|_| ApiError::internal("the model panicked on this batch"))?
            .map_err(ApiError::from)?;
        out.extend(preds);
    }
    Ok(out)
}
