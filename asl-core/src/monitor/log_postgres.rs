//! The prediction log in PostgreSQL: the same table as the SQLite log, shared by every
//! replica of the server, so one report covers all of them.
//!
//! Blocking (the `postgres` crate runs its own small runtime): the log's writer thread and
//! report readers call it, never an async request path.
use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::MonitorError;
use super::features::{FEATURE_NAMES, ImageFeatures, NUM_FEATURES};
use super::log::{LogConfig, LoggedPrediction, Store};

/// Replicas starting together must not race on `CREATE TABLE IF NOT EXISTS` (PostgreSQL can
/// fail one of them on its catalogue's unique index): the schema is made under this lock.
const SCHEMA_LOCK: i64 = 0x0061_736c_5f6c_6f67; // "asl_log"

fn error(url: &str, source: postgres::Error) -> MonitorError {
    MonitorError::Postgres {
        url: super::log::redact(url),
        source,
    }
}

/// Connects with a 10 s timeout unless the URL sets one: a server must not hang at start on
/// an unreachable database.
fn connect(url: &str) -> Result<Client, MonitorError> {
    let mut config = Config::from_str(url).map_err(|e| error(url, e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.connect(NoTls).map_err(|e| error(url, e))
}

fn to_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The writer's end: one connection, made again after the database went away.
pub(super) struct PostgresStore {
    url: String,
    client: Option<Client>,
    insert_sql: String,
}

impl PostgresStore {
    /// Connects and makes the table (once per database, whichever replica comes first).
    pub(super) fn open(url: &str) -> Result<PostgresStore, MonitorError> {
        let mut client = connect(url)?;
        let mut tx = client.transaction().map_err(|e| error(url, e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(|e| error(url, e))?;
        tx.batch_execute(&super::log::create_table_sql(
            "BIGSERIAL PRIMARY KEY",
            "BIGINT",
            "DOUBLE PRECISION",
        ))
        .map_err(|e| error(url, e))?;
        tx.commit().map_err(|e| error(url, e))?;
        Ok(PostgresStore {
            url: url.to_string(),
            client: Some(client),
            insert_sql: insert_sql(),
        })
    }

    fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.client = Some(connect(&self.url).map_err(|e| e.to_string())?);
        }
        self.client.as_mut().ok_or_else(|| "no connection".to_string())
    }

    fn insert(client: &mut Client, sql: &str, batch: &[LoggedPrediction]) -> Result<(), postgres::Error> {
        let mut tx = client.transaction()?;
        let stmt = tx.prepare(sql)?;
        for row in batch {
            let v = row.features.values();
            let (ts, class_index) = (to_int(row.ts), to_int(row.class_index as u64));
            let confidence = row.confidence as f64;
            let (width, height) = (i64::from(row.features.width), i64::from(row.features.height));
            tx.execute(
                &stmt,
                &[
                    &ts,
                    &row.model,
                    &row.request_id,
                    &class_index,
                    &row.class,
                    &confidence,
                    &v[0],
                    &v[1],
                    &v[2],
                    &v[3],
                    &v[4],
                    &v[5],
                    &v[6],
                    &width,
                    &height,
                ],
            )?;
        }
        tx.commit()
    }
}

fn insert_sql() -> String {
    let placeholders: Vec<String> = (1..=6 + NUM_FEATURES).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO predictions ({}) VALUES ({})",
        super::log::columns(),
        placeholders.join(", ")
    )
}

impl Store for PostgresStore {
    fn insert_all(&mut self, batch: &[LoggedPrediction]) -> Result<(), String> {
        self.client()?;
        let client = self.client.as_mut().ok_or("no connection")?;
        let result = Self::insert(client, &self.insert_sql, batch);
        if result.is_err() && self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None; // reconnect on the next batch
        }
        result.map_err(|e| e.to_string())
    }

    fn delete_expired(&mut self, config: &LogConfig) -> Result<u64, String> {
        let client = self.client()?;
        let mut deleted = 0;
        if let Some(max_age) = config.max_age_secs {
            let oldest_kept = to_int(crate::clock::now_unix().saturating_sub(max_age));
            deleted += client
                .execute("DELETE FROM predictions WHERE ts < $1", &[&oldest_kept])
                .map_err(|e| e.to_string())?;
        }
        if let Some(max_rows) = config.max_rows {
            // Ids come from one sequence, shared by the replicas: they grow with insertion.
            deleted += client
                .execute(
                    "DELETE FROM predictions WHERE id <= (SELECT id FROM predictions ORDER BY id DESC LIMIT 1 OFFSET $1)",
                    &[&to_int(max_rows)],
                )
                .map_err(|e| e.to_string())?;
        }
        Ok(deleted)
    }
}

/// Rows with `since <= ts < until`, oldest first, from every replica. A database without the
/// table yet (no server has started on it) has no rows.
pub(super) fn read_range(url: &str, since: u64, until: u64) -> Result<Vec<LoggedPrediction>, MonitorError> {
    let mut client = connect(url)?;
    let exists: bool = client
        .query_one("SELECT to_regclass('predictions') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(|e| error(url, e))?;
    if !exists {
        return Ok(Vec::new());
    }
    // Every feature as float8 (sizes are integers in the table), in FEATURE_NAMES order.
    let features: Vec<String> = FEATURE_NAMES.iter().map(|n| format!("{n}::float8")).collect();
    let sql = format!(
        "SELECT ts, model, request_id, class_index, class, confidence, {} FROM predictions \
         WHERE ts >= $1 AND ts < $2 ORDER BY ts, id",
        features.join(", ")
    );
    let rows = client
        .query(&sql, &[&to_int(since), &to_int(until)])
        .map_err(|e| error(url, e))?;
    rows.iter()
        .map(|row| {
            let mut values = [0.0; NUM_FEATURES];
            for (i, v) in values.iter_mut().enumerate() {
                *v = row.try_get(6 + i)?;
            }
            Ok(LoggedPrediction {
                ts: row.try_get::<_, i64>(0)?.max(0) as u64,
                model: row.try_get(1)?,
                request_id: row.try_get(2)?,
                class_index: row.try_get::<_, i64>(3)?.max(0) as usize,
                class: row.try_get(4)?,
                confidence: row.try_get::<_, f64>(5)? as f32,
                features: ImageFeatures::from_values(values),
            })
        })
        .collect::<Result<Vec<_>, postgres::Error>>()
        .map_err(|e| error(url, e))
}
