//! Live app traffic: each app version runs as a few concurrent clients at a
//! steady rate (reads by key, single-row updates, inserts), and one client
//! per version prepares its statements once and reuses them, as drivers that
//! cache plans do. Every statement's start, duration and error is recorded,
//! and every value written, so other versions can be asked to read it back.

use super::app::{AppVersion, TableOps};
use super::conn::Endpoint;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

/// One app statement as it ran.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index of the version in the rehearsal's version list.
    pub version: usize,
    /// Microseconds since the rehearsal's epoch.
    pub start_us: u64,
    pub dur_us: u64,
    /// The failing statement and the server's message.
    pub error: Option<(String, String)>,
    /// The error was "cached plan must not change result type" on a
    /// prepared statement, which the client then prepared again.
    pub reprepared: bool,
}

/// A value an app version wrote (and committed).
#[derive(Debug, Clone)]
pub struct Written {
    pub version: usize,
    pub table: String,
    pub key: String,
    pub column: String,
    pub value: String,
    /// Order of commits across all clients.
    pub seq: u64,
}

/// How hard the app pushes.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Clients per version issuing plain (unprepared) statements.
    pub plain_clients: usize,
    /// Statements per second per client.
    pub rate: u32,
}

/// Shared state of all clients of one segment.
#[derive(Default)]
struct Shared {
    samples: Mutex<Vec<Sample>>,
    writes: Mutex<Vec<Written>>,
    inserted: Mutex<Vec<(String, String)>>,
}

/// Running traffic; [`Traffic::stop`] ends it and hands back what it saw.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What a segment's traffic recorded.
#[derive(Debug, Default)]
pub struct Recording {
    pub samples: Vec<Sample>,
    pub writes: Vec<Written>,
    /// (table, key) of every row the app inserted.
    pub inserted: Vec<(String, String)>,
}

/// Connects one client; the connection task runs until the client is dropped.
pub async fn connect(cfg: &Endpoint) -> Result<Client, tokio_postgres::Error> {
    cfg.connect().await
}

/// The server's message for an error (its SQLSTATE in brackets), or the
/// client's description when the server sent none.
pub fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} [{}]", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Counters shared by every client of a rehearsal.
pub struct Counters {
    /// Makes every generated value distinct.
    pub value: AtomicU64,
    /// Orders committed writes.
    pub seq: AtomicU64,
    pub epoch: Instant,
}

impl Counters {
    pub fn new() -> Counters {
        Counters::starting_at(1)
    }

    /// Counters whose generated values start at `first`.
    pub fn starting_at(first: u64) -> Counters {
        Counters {
            value: AtomicU64::new(first),
            seq: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts the clients of the given versions (`(index, version)`), with the
/// keys they pick rows from, per table.
pub async fn start(
    cfg: &Endpoint,
    versions: &[(usize, AppVersion)],
    keys: &HashMap<String, Vec<String>>,
    load: Load,
    counters: &Arc<Counters>,
) -> Result<Traffic, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared::default());
    let mut handles = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for (index, version) in versions {
        for client_no in 0..=load.plain_clients {
            let client = connect(cfg)
                .await
                .map_err(|e| format!("connecting app client {}: {}", version.name, message(&e)))?;
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let c = ClientLoop {
                client,
                version: *index,
                tables: version.tables.clone(),
                keys: keys.clone(),
                rng: seed | 1,
                stop: Arc::clone(&stop),
                shared: Arc::clone(&shared),
                counters: Arc::clone(counters),
                period: Duration::from_micros(1_000_000 / u64::from(load.rate.max(1))),
            };
            // The last client of each version prepares once and reuses.
            let prepared = client_no == load.plain_clients;
            handles.push(tokio::spawn(async move {
                if prepared {
                    c.run_prepared().await
                } else {
                    c.run_plain().await
                }
            }));
        }
    }
    Ok(Traffic {
        stop,
        handles,
        shared,
    })
}

impl Traffic {
    /// Stops every client (each finishes the statement it is in) and
    /// returns the recording.
    pub async fn stop(self) -> Recording {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            let _ = h.await;
        }
        Recording {
            samples: take(&self.shared.samples),
            writes: take(&self.shared.writes),
            inserted: take(&self.shared.inserted),
        }
    }
}

impl Recording {
    /// Adds what other clients of the same segment recorded.
    pub fn absorb(&mut self, other: Recording) {
        self.samples.extend(other.samples);
        self.writes.extend(other.writes);
        self.inserted.extend(other.inserted);
    }
}

fn take<T>(m: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()))
}

struct ClientLoop {
    client: Client,
    version: usize,
    tables: Vec<TableOps>,
    keys: HashMap<String, Vec<String>>,
    rng: u64,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    period: Duration,
}

impl ClientLoop {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn pick(&mut self) -> Option<(usize, String)> {
        if self.tables.is_empty() {
            return None;
        }
        let t = (self.next() % self.tables.len() as u64) as usize;
        let r = self.next();
        let keys = self.keys.get(&self.tables[t].table)?;
        if keys.is_empty() {
            return None;
        }
        let k = keys[(r % keys.len() as u64) as usize].clone();
        Some((t, k))
    }

    fn record(&self, start: u64, error: Option<(String, String)>) {
        self.push(start, error, false);
    }

    fn push(&self, start: u64, error: Option<(String, String)>, reprepared: bool) {
        let s = Sample {
            version: self.version,
            start_us: start,
            dur_us: self.counters.now_us().saturating_sub(start),
            error,
            reprepared,
        };
        self.shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s);
    }

    fn wrote(&self, table: &str, key: &str, values: Vec<(String, String)>) {
        let seq = self.counters.seq.fetch_add(1, Ordering::SeqCst);
        let mut w = self.shared.writes.lock().unwrap_or_else(|e| e.into_inner());
        for (column, value) in values {
            w.push(Written {
                version: self.version,
                table: table.to_string(),
                key: key.to_string(),
                column,
                value,
                seq,
            });
        }
    }

    /// Plain statements with literals (no server-side prepares): 60% reads,
    /// 25% updates, 15% inserts.
    async fn run_plain(mut self) {
        let mut tick = tokio::time::interval(self.period);
        // A blocked client skips the slots it missed instead of bursting.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut i = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            tick.tick().await;
            i += 1;
            let Some((t, key)) = self.pick() else {
                continue;
            };
            let n = self.counters.value.fetch_add(1, Ordering::Relaxed);
            let start = self.counters.now_us();
            let ops = &self.tables[t];
            // Where the version makes no new rows, it reads instead.
            let slot = match i % 20 {
                17.. if !ops.inserts => 0,
                s => s,
            };
            match slot {
                0..=11 => {
                    let sql = ops.select_sql(&key);
                    let r = self.client.simple_query(&sql).await;
                    self.record(start, r.err().map(|e| (sql, message(&e))));
                }
                12..=16 => {
                    let (sql, written) = ops.update_sql(&key, n);
                    match self.client.simple_query(&sql).await {
                        Ok(_) => {
                            let table = ops.table.clone();
                            self.record(start, None);
                            self.wrote(&table, &key, written);
                        }
                        Err(e) => self.record(start, Some((sql, message(&e)))),
                    }
                }
                _ => {
                    let (sql, written) = ops.insert_sql(n);
                    match self.client.query_opt(&sql, &[]).await {
                        Ok(row) => {
                            self.record(start, None);
                            let new_key: Option<String> = row.and_then(|r| r.get(0));
                            if let Some(k) = new_key {
                                let table = ops.table.clone();
                                self.shared
                                    .inserted
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((table.clone(), k.clone()));
                                self.wrote(&table, &k, written);
                            }
                        }
                        Err(e) => self.record(start, Some((sql, message(&e)))),
                    }
                }
            }
            if self.client.is_closed() {
                break;
            }
        }
    }

    /// Prepares each table's read and update once, then reuses them, as
    /// drivers that cache plans do. When a statement's result type changes
    /// under it ("cached plan must not change result type"), the client
    /// prepares it again and retries, as those drivers do; the failed
    /// attempt is recorded as such.
    async fn run_prepared(mut self) {
        let mut prepared = Vec::new();
        for ops in &self.tables {
            let (select, update) = ops.prepared_sql();
            let start = self.counters.now_us();
            let s = match self.client.prepare(&select).await {
                Ok(s) => Some(s),
                Err(e) => {
                    self.record(start, Some((select.clone(), message(&e))));
                    None
                }
            };
            let u = match &update {
                Some(pu) => match self.client.prepare(&pu.sql).await {
                    Ok(u) => Some(u),
                    Err(e) => {
                        self.record(start, Some((pu.sql.clone(), message(&e))));
                        None
                    }
                },
                None => None,
            };
            prepared.push((s, u, select, update));
        }
        let mut tick = tokio::time::interval(self.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut i = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            tick.tick().await;
            i += 1;
            let Some((t, key)) = self.pick() else {
                continue;
            };
            let n = self.counters.value.fetch_add(1, Ordering::Relaxed);
            let start = self.counters.now_us();
            if i.is_multiple_of(3) {
                if let (Some(u), Some(pu)) = (prepared[t].1.clone(), prepared[t].3.clone()) {
                    let Some(values) = pu
                        .values
                        .iter()
                        .map(|c| self.tables[t].value(c, n))
                        .collect::<Option<Vec<String>>>()
                    else {
                        continue;
                    };
                    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&key];
                    params.extend(
                        values
                            .iter()
                            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
                    );
                    match self.client.execute(&u, &params).await {
                        Ok(_) => {
                            self.record(start, None);
                            let table = self.tables[t].table.clone();
                            let written = pu
                                .values
                                .iter()
                                .map(|c| c.name.clone())
                                .zip(values)
                                .collect();
                            self.wrote(&table, &key, written);
                        }
                        Err(e) => self.record(start, Some((pu.sql.clone(), message(&e)))),
                    }
                    continue;
                }
            }
            if let Some(s) = prepared[t].0.clone() {
                match self.client.query(&s, &[&key]).await {
                    Ok(_) => self.record(start, None),
                    Err(e) if result_type_changed(&e) => {
                        let sql = prepared[t].2.clone();
                        self.push(start, Some((sql.clone(), message(&e))), true);
                        let again = self.counters.now_us();
                        match self.client.prepare(&sql).await {
                            Ok(s) => {
                                let r = self.client.query(&s, &[&key]).await;
                                self.record(again, r.err().map(|e| (sql.clone(), message(&e))));
                                prepared[t].0 = Some(s);
                            }
                            Err(e) => self.record(again, Some((sql, message(&e)))),
                        }
                    }
                    Err(e) => self.record(start, Some((prepared[t].2.clone(), message(&e)))),
                }
            }
            if self.client.is_closed() {
                break;
            }
        }
    }
}

/// PostgreSQL's refusal to run a prepared statement whose result columns
/// changed type since it was prepared.
fn result_type_changed(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::FEATURE_NOT_SUPPORTED
            && db
                .message()
                .contains("cached plan must not change result type")
    })
}

/// Latency figures in milliseconds.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct Latency {
    pub statements: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// p50 / p99 / max of the samples (nearest rank).
pub fn latency<'a>(samples: impl Iterator<Item = &'a Sample>) -> Latency {
    let mut durs = Vec::new();
    let mut errors = 0;
    for s in samples {
        durs.push(s.dur_us);
        errors += usize::from(s.error.is_some());
    }
    durs.sort_unstable();
    let at = |q: f64| -> f64 {
        if durs.is_empty() {
            return 0.0;
        }
        let i = ((q * durs.len() as f64).ceil() as usize).clamp(1, durs.len()) - 1;
        durs[i] as f64 / 1000.0
    };
    Latency {
        statements: durs.len(),
        errors,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: durs.last().map_or(0.0, |&d| d as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dur_ms: u64, err: bool) -> Sample {
        Sample {
            version: 0,
            start_us: 0,
            dur_us: dur_ms * 1000,
            error: err.then(|| ("x".into(), "y".into())),
            reprepared: false,
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Sample> = (1..=100).map(|d| s(d, d == 7)).collect();
        let l = latency(samples.iter());
        assert_eq!(l.statements, 100);
        assert_eq!(l.errors, 1);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(latency([].iter()), Latency::default());
    }
}
