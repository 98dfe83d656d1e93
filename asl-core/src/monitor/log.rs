//! Every prediction, appended to a database for reports: SQLite for one server
//! (`$ASL_HOME/monitor/predictions.sqlite`), or PostgreSQL shared by replicas
//! (`--prediction-log postgresql://…`, [`LogLocation`]); the same table and retention in both.
//!
//! Requests never wait on the database: [`PredictionLog::record`] puts the row on a bounded queue
//! and returns; a writer thread inserts queued rows in batches, one transaction each, and
//! enforces the retention limits now and then. When the queue is full the row is dropped
//! and counted ([`LogCounts::dropped`]): losing a few log rows under overload beats slowing
//! every answer. A SQLite log is in WAL mode, so reports read while the server writes; a
//! PostgreSQL writer whose database went away reconnects for its next batch.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};

use super::MonitorError;
use super::features::{FEATURE_NAMES, ImageFeatures, NUM_FEATURES};

/// One logged prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedPrediction {
    /// Unix seconds.
    pub ts: u64,
    /// Name of the model that answered.
    pub model: String,
    /// The HTTP request's `x-request-id` (shared by the photos of one request).
    pub request_id: String,
    /// Index of the predicted class, in the model's class order.
    pub class_index: usize,
    /// Class name, so the table reads without the model card.
    pub class: String,
    /// The predicted class's probability, 0 to 1.
    pub confidence: f32,
    /// The photo's monitoring features.
    pub features: ImageFeatures,
}

/// How the prediction log's writer batches rows and how long rows are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Rows waiting for the writer; beyond it rows are dropped.
    pub queue_capacity: usize,
    /// Most rows per transaction.
    pub batch_size: usize,
    /// How long the writer gathers rows after the first one before committing them.
    pub batch_delay: Duration,
    /// Keep at most this many rows (the newest).
    pub max_rows: Option<u64>,
    /// Keep rows at most this old.
    pub max_age_secs: Option<u64>,
    /// How often the writer enforces the limits above.
    pub retention_interval: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            queue_capacity: 10_000,
            batch_size: 512,
            batch_delay: Duration::from_millis(200),
            // ~200 bytes a row: a few hundred MB at most.
            max_rows: Some(2_000_000),
            max_age_secs: Some(90 * 86_400),
            retention_interval: Duration::from_secs(600),
        }
    }
}

/// Counters since the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LogCounts {
    /// Rows committed.
    pub written: u64,
    /// Rows refused because the queue was full (or the writer had stopped).
    pub dropped: u64,
    /// Rows lost because their transaction failed.
    pub failed: u64,
    /// Rows deleted by the retention limits.
    pub expired: u64,
}

#[derive(Default)]
struct Shared {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    expired: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, rows: usize, message: String) -> String {
        self.failed.fetch_add(rows as u64, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message.clone());
        }
        message
    }
}

enum Message {
    Row(Box<LoggedPrediction>),
    /// Commit what is queued before this, then answer (with the error, if the commit failed).
    Flush(SyncSender<Result<(), String>>),
    /// Enforce the retention limits now; answers the rows deleted.
    Retention(SyncSender<Result<u64, String>>),
}

/// Where the prediction log lives (as text: a file path or a `postgresql://` URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum LogLocation {
    /// A SQLite file: one server's log (the default).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgresql://user:pw@host/db`): replicas share one log.
    Postgres(String),
}

impl LogLocation {
    /// A `postgres://` or `postgresql://` URL is a database, anything else a file path.
    pub fn parse(s: &str) -> LogLocation {
        if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            LogLocation::Postgres(s.to_string())
        } else {
            LogLocation::Sqlite(PathBuf::from(s))
        }
    }
}

impl std::str::FromStr for LogLocation {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(LogLocation::parse(s))
    }
}

impl From<String> for LogLocation {
    fn from(s: String) -> Self {
        LogLocation::parse(&s)
    }
}

impl From<LogLocation> for String {
    fn from(l: LogLocation) -> String {
        match l {
            LogLocation::Sqlite(p) => p.to_string_lossy().into_owned(),
            LogLocation::Postgres(url) => url,
        }
    }
}

impl From<&Path> for LogLocation {
    fn from(p: &Path) -> Self {
        LogLocation::Sqlite(p.to_path_buf())
    }
}

impl From<PathBuf> for LogLocation {
    fn from(p: PathBuf) -> Self {
        LogLocation::Sqlite(p)
    }
}

impl From<&PathBuf> for LogLocation {
    fn from(p: &PathBuf) -> Self {
        LogLocation::Sqlite(p.clone())
    }
}

impl std::fmt::Display for LogLocation {
    /// The path, or the URL without its password (for logs and reports).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogLocation::Sqlite(p) => write!(f, "{}", p.display()),
            LogLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `url` with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((auth, host)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// A database the writer appends to.
pub(super) trait Store: Send {
    /// Inserts `batch` in one transaction.
    fn insert_all(&mut self, batch: &[LoggedPrediction]) -> Result<(), String>;
    /// Deletes rows beyond the age and count limits; returns how many.
    fn delete_expired(&mut self, config: &LogConfig) -> Result<u64, String>;
}

struct SqliteStore {
    conn: Connection,
    insert_sql: String,
}

impl SqliteStore {
    fn open(path: &Path) -> Result<SqliteStore, MonitorError> {
        let sqlite = |source| MonitorError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| MonitorError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(sqlite)?;
        // WAL with NORMAL sync survives process crashes; a power cut may lose the last batches.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite)?;
        conn.execute_batch(&create_table_sql("INTEGER PRIMARY KEY", "INTEGER", "REAL"))
            .map_err(sqlite)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sqlite)?;
        Ok(SqliteStore {
            conn,
            insert_sql: insert_sql(),
        })
    }
}

impl Store for SqliteStore {
    fn insert_all(&mut self, batch: &[LoggedPrediction]) -> Result<(), String> {
        insert_all(&mut self.conn, &self.insert_sql, batch).map_err(|e| e.to_string())
    }

    fn delete_expired(&mut self, config: &LogConfig) -> Result<u64, String> {
        delete_expired(&self.conn, config).map_err(|e| e.to_string())
    }
}

/// An append-only log of predictions (SQLite or PostgreSQL), written by a background thread so
/// logging never blocks a request.
pub struct PredictionLog {
    location: LogLocation,
    queue: Option<SyncSender<Message>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

const SCHEMA_VERSION: i64 = 1;

pub(super) fn columns() -> String {
    // Feature columns in FEATURE_NAMES order; inserts and reads below rely on that order.
    let mut columns = String::from("ts, model, request_id, class_index, class, confidence");
    for name in FEATURE_NAMES {
        columns.push_str(", ");
        columns.push_str(name);
    }
    columns
}

/// The predictions table, one definition for both databases: `id`, `int` and `real` are each
/// database's words for a row id, an integer and a float.
pub(super) fn create_table_sql(id: &str, int: &str, real: &str) -> String {
    let features: String = FEATURE_NAMES
        .iter()
        .map(|name| {
            let kind = if matches!(*name, "width" | "height") { int } else { real };
            format!(",\n    {name} {kind} NOT NULL")
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS predictions (
    id {id},
    ts {int} NOT NULL,
    model TEXT NOT NULL,
    request_id TEXT NOT NULL,
    class_index {int} NOT NULL,
    class TEXT NOT NULL,
    confidence {real} NOT NULL{features}
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);"
    )
}

impl PredictionLog {
    /// [`PredictionLog::open_with`] the default [`LogConfig`].
    pub fn open(location: impl Into<LogLocation>) -> Result<PredictionLog, MonitorError> {
        Self::open_with(location, LogConfig::default())
    }

    /// Opens (creating it, and a SQLite file's folder, if needed) the log and starts its
    /// writer. The writer thread opens the database itself (a PostgreSQL client must not be
    /// made on an async runtime's thread); this waits until it has.
    pub fn open_with(location: impl Into<LogLocation>, config: LogConfig) -> Result<PredictionLog, MonitorError> {
        let location = location.into();
        let (queue, inbox) = mpsc::sync_channel(config.queue_capacity.max(1));
        let (ready, opened) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let (target, writer_shared) = (location.clone(), shared.clone());
        let writer = std::thread::Builder::new()
            .name("asl-prediction-log".into())
            .spawn(move || {
                let store: Result<Box<dyn Store>, MonitorError> = match &target {
                    LogLocation::Sqlite(path) => SqliteStore::open(path).map(|s| Box::new(s) as Box<dyn Store>),
                    LogLocation::Postgres(url) => {
                        super::log_postgres::PostgresStore::open(url).map(|s| Box::new(s) as Box<dyn Store>)
                    }
                };
                let store = match store {
                    Ok(store) => {
                        let _ = ready.send(Ok(()));
                        store
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                Writer {
                    store,
                    inbox,
                    config,
                    shared: writer_shared,
                }
                .run()
            })
            .map_err(|source| MonitorError::Io {
                path: PathBuf::from(location.to_string()),
                source,
            })?;
        opened.recv().map_err(|_| MonitorError::WriterStopped)??;
        Ok(PredictionLog {
            location,
            queue: Some(queue),
            shared,
            writer: Some(writer),
        })
    }

    /// Where the log is.
    pub fn location(&self) -> &LogLocation {
        &self.location
    }

    /// Queues a row for writing without ever blocking. False when it was dropped (queue full
    /// or writer stopped).
    pub fn record(&self, row: LoggedPrediction) -> bool {
        let sent = match &self.queue {
            Some(queue) => match queue.try_send(Message::Row(Box::new(row))) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// The counters since the log was opened.
    pub fn counts(&self) -> LogCounts {
        LogCounts {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            expired: self.shared.expired.load(Ordering::Relaxed),
        }
    }

    /// The last write or retention error of the writer, if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Waits until every row queued before this call is committed (blocks: for tests and
    /// shutdown, not for request paths).
    pub fn flush(&self) -> Result<(), MonitorError> {
        let (ack, answer) = mpsc::sync_channel(1);
        self.send(Message::Flush(ack))?;
        answer
            .recv()
            .map_err(|_| MonitorError::WriterStopped)?
            .map_err(MonitorError::LogWrite)
    }

    /// Enforces the retention limits now rather than at the writer's next round; returns the
    /// rows deleted.
    pub fn enforce_retention(&self) -> Result<u64, MonitorError> {
        let (ack, answer) = mpsc::sync_channel(1);
        self.send(Message::Retention(ack))?;
        answer
            .recv()
            .map_err(|_| MonitorError::WriterStopped)?
            .map_err(MonitorError::LogWrite)
    }

    fn send(&self, message: Message) -> Result<(), MonitorError> {
        let queue = self.queue.as_ref().ok_or(MonitorError::WriterStopped)?;
        queue.send(message).map_err(|_| MonitorError::WriterStopped)
    }

    /// Rows with `ts >= since`, oldest first (committed ones: [`flush`](Self::flush) first to
    /// see the queued ones too).
    pub fn query_since(&self, since: u64) -> Result<Vec<LoggedPrediction>, MonitorError> {
        read_range(self.location.clone(), since, u64::MAX)
    }

    /// Commits what is queued and stops the writer.
    pub fn shutdown(mut self) -> Result<(), MonitorError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), MonitorError> {
        // Closing the queue ends the writer once it has written what was queued.
        self.queue = None;
        match self.writer.take() {
            Some(writer) => writer.join().map_err(|_| MonitorError::WriterStopped),
            None => Ok(()),
        }
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Rows of the log with `since <= ts < until`, oldest first (of every replica, for a shared
/// PostgreSQL log). A log that does not exist yet (a server that never answered) has no rows.
pub fn read_range(
    location: impl Into<LogLocation>,
    since: u64,
    until: u64,
) -> Result<Vec<LoggedPrediction>, MonitorError> {
    match location.into() {
        LogLocation::Sqlite(path) => read_range_sqlite(&path, since, until),
        LogLocation::Postgres(url) => super::log_postgres::read_range(&url, since, until),
    }
}

fn read_range_sqlite(path: &Path, since: u64, until: u64) -> Result<Vec<LoggedPrediction>, MonitorError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let sqlite = |source| MonitorError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    // Read-write without create: a reader of a WAL database may need to create its -shm file.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
    let sql = format!(
        "SELECT {} FROM predictions WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, id",
        columns()
    );
    let mut stmt = conn.prepare(&sql).map_err(sqlite)?;
    let rows = stmt
        .query_map(params![to_sql_int(since), to_sql_int(until)], |row| {
            let mut values = [0.0; NUM_FEATURES];
            for (i, v) in values.iter_mut().enumerate() {
                *v = row.get(6 + i)?;
            }
            Ok(LoggedPrediction {
                ts: row.get::<_, i64>(0)?.max(0) as u64,
                model: row.get(1)?,
                request_id: row.get(2)?,
                class_index: row.get::<_, i64>(3)?.max(0) as usize,
                class: row.get(4)?,
                confidence: row.get::<_, f64>(5)? as f32,
                features: ImageFeatures::from_values(values),
            })
        })
        .map_err(sqlite)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
}

/// Rows with `ts >= since`, oldest first.
pub fn read_since(location: impl Into<LogLocation>, since: u64) -> Result<Vec<LoggedPrediction>, MonitorError> {
    read_range(location, since, u64::MAX)
}

/// SQLite integers are signed; unix seconds fit, `u64::MAX` (no upper bound) saturates.
fn to_sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn insert_sql() -> String {
    let placeholders = vec!["?"; 6 + NUM_FEATURES].join(", ");
    format!("INSERT INTO predictions ({}) VALUES ({placeholders})", columns())
}

struct Writer {
    store: Box<dyn Store>,
    inbox: Receiver<Message>,
    config: LogConfig,
    shared: Arc<Shared>,
}

impl Writer {
    fn run(mut self) {
        let mut batch: Vec<LoggedPrediction> = Vec::with_capacity(self.config.batch_size.max(1));
        let mut next_retention = Instant::now();
        loop {
            if Instant::now() >= next_retention {
                let _ = self.retention();
                next_retention = Instant::now() + self.config.retention_interval;
            }
            // Sleep until a message comes or retention is due.
            let first = match self
                .inbox
                .recv_timeout(next_retention.saturating_duration_since(Instant::now()))
            {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Gather rows for up to `batch_delay` after the first, so a busy server commits
            // hundreds of rows at once instead of one transaction each.
            let deadline = Instant::now() + self.config.batch_delay;
            let mut pending = Some(first);
            let mut closed = false;
            while let Some(message) = pending.take() {
                match message {
                    Message::Row(row) => batch.push(*row),
                    Message::Flush(ack) => {
                        let _ = ack.send(self.write(&mut batch));
                        break;
                    }
                    Message::Retention(ack) => {
                        let result = self.write(&mut batch).and_then(|()| self.retention());
                        let _ = ack.send(result);
                        break;
                    }
                }
                if batch.len() >= self.config.batch_size.max(1) {
                    break;
                }
                match self
                    .inbox
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(m) => pending = Some(m),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closed = true,
                }
            }
            let _ = self.write(&mut batch);
            if closed {
                return;
            }
        }
    }

    /// Inserts and empties `batch` in one transaction.
    fn write(&mut self, batch: &mut Vec<LoggedPrediction>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.store.insert_all(batch);
        let n = batch.len();
        batch.clear();
        match result {
            Ok(()) => {
                self.shared.written.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(self.shared.fail(n, e)),
        }
    }

    fn retention(&mut self) -> Result<u64, String> {
        let result = self.store.delete_expired(&self.config);
        match result {
            Ok(deleted) => {
                self.shared.expired.fetch_add(deleted, Ordering::Relaxed);
                Ok(deleted)
            }
            Err(e) => Err(self.shared.fail(0, e)),
        }
    }
}

fn insert_all(conn: &mut Connection, sql: &str, batch: &[LoggedPrediction]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(sql)?;
        for row in batch {
            let f = &row.features;
            stmt.execute(params![
                to_sql_int(row.ts),
                row.model,
                row.request_id,
                to_sql_int(row.class_index as u64),
                row.class,
                row.confidence as f64,
                f.mean_r,
                f.mean_g,
                f.mean_b,
                f.brightness,
                f.contrast,
                f.sharpness,
                f.aspect_ratio,
                f.width,
                f.height,
            ])?;
        }
    }
    tx.commit()
}

/// Deletes rows beyond the age and count limits; returns how many.
fn delete_expired(conn: &Connection, config: &LogConfig) -> rusqlite::Result<u64> {
    let mut deleted = 0;
    if let Some(max_age) = config.max_age_secs {
        let oldest_kept = crate::clock::now_unix().saturating_sub(max_age);
        deleted += conn.execute("DELETE FROM predictions WHERE ts < ?1", [to_sql_int(oldest_kept)])? as u64;
    }
    if let Some(max_rows) = config.max_rows {
        // Ids grow with insertion: everything at or below the (max_rows+1)-th newest id goes.
        deleted += conn.execute(
            "DELETE FROM predictions WHERE id <= (SELECT id FROM predictions ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [to_sql_int(max_rows)],
        )? as u64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: u64, i: usize) -> LoggedPrediction {
        LoggedPrediction {
            ts,
            model: "m1".into(),
            request_id: format!("req-{i}"),
            class_index: i % 29,
            class: format!("c{}", i % 29),
            confidence: 0.5 + (i % 50) as f32 / 100.0,
            features: ImageFeatures {
                mean_r: 1.5,
                mean_g: 2.5,
                mean_b: 3.5,
                brightness: 100.0 + i as f64,
                contrast: 20.25,
                sharpness: 300.125,
                aspect_ratio: 0.75,
                width: 300,
                height: 400,
            },
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("asl-monitor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn writes_reads_and_survives_reopening() {
        let dir = temp_dir("log-roundtrip");
        let path = dir.join("monitor").join("predictions.sqlite");
        let log = PredictionLog::open(&path).expect("open");
        let now = crate::clock::now_unix();
        for i in 0..1000 {
            assert!(log.record(row(now - 1000 + i as u64, i)));
        }
        log.flush().expect("flush");
        let rows = log.query_since(0).expect("query");
        assert_eq!(rows.len(), 1000);
        assert_eq!(rows[7], row(now - 1000 + 7, 7));
        assert_eq!(log.query_since(now - 10).expect("query").len(), 10);
        assert_eq!(log.counts().written, 1000);
        log.shutdown().expect("shutdown");

        // Rows queued right before dropping are written too.
        let log = PredictionLog::open(&path).expect("reopen");
        log.record(row(now, 1000));
        drop(log);
        assert_eq!(read_since(&path, 0).expect("read").len(), 1001);
        assert_eq!(read_range(&path, now - 1000, now - 990).expect("read").len(), 10);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_location_is_a_file_or_a_database_url() {
        assert_eq!(
            LogLocation::parse("/var/lib/asl/p.sqlite"),
            LogLocation::Sqlite("/var/lib/asl/p.sqlite".into())
        );
        for url in ["postgresql://asl@db/log", "postgres://asl:pw@db:5432/log"] {
            assert_eq!(LogLocation::parse(url), LogLocation::Postgres(url.into()));
        }
        // Shown without the password; stored (and read back) with it.
        let db = LogLocation::parse("postgresql://asl:s3cret@db:5432/log");
        assert_eq!(db.to_string(), "postgresql://asl:***@db:5432/log");
        let json = serde_json::to_string(&db).expect("serialize");
        assert_eq!(serde_json::from_str::<LogLocation>(&json).expect("parse"), db);
        assert_eq!(redact("postgresql://asl@db/log"), "postgresql://asl@db/log");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn shareable_between_request_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<PredictionLog>();
    }

    #[test]
    fn missing_log_reads_as_empty() {
        assert!(
            read_since(temp_dir("missing").join("none.sqlite"), 0)
                .expect("no error")
                .is_empty()
        );
    }

    #[test]
    fn full_queue_drops_instead_of_blocking() {
        let dir = temp_dir("log-full");
        let path = dir.join("p.sqlite");
        let config = LogConfig {
            queue_capacity: 4,
            batch_size: 8,
            batch_delay: Duration::from_millis(10),
            ..LogConfig::default()
        };
        let log = PredictionLog::open_with(&path, config).expect("open");
        // Another connection holds the write lock, so the writer stalls on its first batch.
        let blocker = Connection::open(&path).expect("open");
        blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let started = Instant::now();
        let accepted = (0..10_000).filter(|i| log.record(row(1, *i))).count();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "record blocked: {:?}",
            started.elapsed()
        );
        let counts = log.counts();
        // At most a batch being written, a full queue and one in the writer's hands.
        assert!(accepted <= 8 + 4 + 1, "accepted {accepted}");
        assert_eq!(counts.dropped as usize + accepted, 10_000);
        blocker.execute_batch("COMMIT").expect("unlock");
        log.flush().expect("flush");
        assert_eq!(log.counts().written as usize, accepted);
        drop(log);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn retention_keeps_the_newest_rows_within_age() {
        let dir = temp_dir("log-retention");
        let config = LogConfig {
            max_rows: Some(100),
            max_age_secs: Some(3600),
            ..LogConfig::default()
        };
        let log = PredictionLog::open_with(dir.join("p.sqlite"), config).expect("open");
        let now = crate::clock::now_unix();
        // 50 rows two hours old, then 200 fresh ones.
        (0..50).for_each(|i| assert!(log.record(row(now - 7200, i))));
        (50..250).for_each(|i| assert!(log.record(row(now, i))));
        assert_eq!(log.enforce_retention().expect("retention"), 150);
        let rows = log.query_since(0).expect("query");
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[0].request_id, "req-150");
        assert_eq!(log.counts().expired, 150);
        drop(log);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn uses_wal() {
        let dir = temp_dir("log-wal");
        let path = dir.join("p.sqlite");
        let log = PredictionLog::open(&path).expect("open");
        let conn = Connection::open(&path).expect("open");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
        drop(log);
        let _ = std::fs::remove_dir_all(dir);
    }
}
