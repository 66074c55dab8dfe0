//! change -> plan: the exact SQL of every phase of a zero-downtime rollout,
//! with its rollback, checks and evidence gates. Data first (these structs
//! and their JSON key names are a contract); Markdown is rendered from them.

mod build;
mod colref;
mod estimate;
pub mod sql;

use crate::change::{Change, ChangeInput, ChangeType, InputError, ResolvedChange};
use crate::classify::{classify, Classification, Risk};
use crate::context::{Context, Engine};
use crate::engine::Lock;
pub use crate::pattern::DualWrite;
use crate::pattern::PhaseKind;
use crate::schema::Schema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the plan JSON layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Which slice of the plan to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Every phase.
    #[default]
    Plan,
    /// The backfill and what proves it done.
    Backfill,
    /// The read and write switches.
    Cutover,
    /// Stopping use of the old shape and removing it.
    Deprecate,
}

impl PlanMode {
    /// The plan slice a `/migrate` mode word asks for (`review` and
    /// `rehearse` are not slices).
    pub fn of_word(word: crate::change::mode::ModeWord) -> Option<PlanMode> {
        use crate::change::mode::ModeWord;
        match word {
            ModeWord::Plan => Some(PlanMode::Plan),
            ModeWord::Backfill => Some(PlanMode::Backfill),
            ModeWord::Cutover => Some(PlanMode::Cutover),
            ModeWord::Deprecate => Some(PlanMode::Deprecate),
            ModeWord::Review | ModeWord::Rehearse => None,
        }
    }
}

/// Knobs of a plan; all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanOptions {
    /// lock_timeout for each statement that takes a lock conflicting with
    /// the app, in milliseconds. Default: `max_app_wait_ms`, so the app
    /// never waits behind a queued lock longer than its budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_timeout_ms: Option<u64>,
    /// The app's latency budget: the longest an app statement may wait on
    /// the migration, in milliseconds. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_app_wait_ms: Option<u64>,
    /// How many times a statement that hits lock_timeout is retried. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_retries: Option<u32>,
    /// Rows per backfill batch. Default 5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// Pause between backfill batches in milliseconds. Default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_pause_ms: Option<u64>,
    /// `trigger` (default) or `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_write: Option<DualWrite>,
    /// `plan` (default), `backfill`, `cutover` or `deprecate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PlanMode>,
}

/// Options with their defaults applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub lock_timeout_ms: u64,
    pub max_app_wait_ms: u64,
    pub lock_retries: u32,
    pub batch_size: u64,
    pub batch_pause_ms: u64,
    pub dual_write: DualWrite,
    pub mode: PlanMode,
}

impl PlanOptions {
    pub fn settings(&self) -> Result<Settings, String> {
        let max_app_wait_ms = self.max_app_wait_ms.unwrap_or(200);
        let s = Settings {
            lock_timeout_ms: self.lock_timeout_ms.unwrap_or(max_app_wait_ms),
            max_app_wait_ms,
            lock_retries: self.lock_retries.unwrap_or(10),
            batch_size: self.batch_size.unwrap_or(5000),
            batch_pause_ms: self.batch_pause_ms.unwrap_or(50),
            dual_write: self.dual_write.unwrap_or_default(),
            mode: self.mode.unwrap_or_default(),
        };
        if !(10..=600_000).contains(&s.max_app_wait_ms) {
            return Err(format!(
                "max_app_wait_ms {} is out of range: use 10 to 600000 (200 is typical)",
                s.max_app_wait_ms
            ));
        }
        if !(10..=600_000).contains(&s.lock_timeout_ms) {
            return Err(format!(
                "lock_timeout_ms {} is out of range: use 10 to 600000 (at most max_app_wait_ms, 200 by default)",
                s.lock_timeout_ms
            ));
        }
        if !(1..=1000).contains(&s.lock_retries) {
            return Err(format!(
                "lock_retries {} is out of range: use 1 to 1000",
                s.lock_retries
            ));
        }
        if !(1..=1_000_000).contains(&s.batch_size) {
            return Err(format!(
                "batch_size {} is out of range: use 1 to 1000000 (1000-10000 is typical)",
                s.batch_size
            ));
        }
        if s.batch_pause_ms > 60_000 {
            return Err(format!(
                "batch_pause_ms {} is out of range: use 0 to 60000",
                s.batch_pause_ms
            ));
        }
        Ok(s)
    }
}

/// Input of `build_plan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanRequest {
    #[serde(flatten)]
    pub input: ChangeInput,
    /// Engine, version, table size and traffic.
    #[serde(default)]
    pub context: Context,
    /// The current `CREATE TABLE` DDL of the tables involved (e.g. from
    /// `pg_dump -s`), so types, keys and NOT NULLs are known, not assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    pub options: PlanOptions,
}

/// One SQL statement of a phase, with what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// The exact SQL to run (one statement, or one DO block).
    pub sql: String,
    /// false when it must run outside any transaction block (CONCURRENTLY,
    /// procedures that COMMIT per batch).
    pub transactional: bool,
    /// Strongest lock taken on an application table.
    pub lock: Lock,
    pub rewrites_table: bool,
    pub scans_table: bool,
    /// What the app cannot do while the lock is held or queued.
    pub blocks: String,
    /// Estimated run time from the row count (see `estimates`).
    pub estimated_seconds: f64,
}

/// A query that proves a phase did what it claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// A query returning one row with one value.
    pub sql: String,
    /// The value it must return, as text (`0`, `1`).
    pub expect: String,
    /// What a pass means.
    pub meaning: String,
}

/// One app version live during a phase, and what it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppVersion {
    /// `v1` is the version running today.
    pub version: String,
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    /// Values it no longer writes, per column it writes (`table.column`):
    /// the label an enum relabel retires. What the rehearsal's app model
    /// of this version writes follows it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub never_writes: std::collections::BTreeMap<String, Vec<String>>,
}

/// One phase of the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Phase {
    /// Stable id, e.g. `p1-expand`.
    pub id: String,
    pub kind: PhaseKind,
    pub title: String,
    pub goal: String,
    /// App versions that may be live during this phase.
    pub app: Vec<AppVersion>,
    pub forward: Vec<Step>,
    /// Undo of this phase's forward steps, in order. Empty when forward is empty
    /// (an app release: roll back by redeploying), when it destroys data
    /// (`data_loss` says so), or when nothing needs undoing (`rollback_point`
    /// says "none needed" or "nothing to undo" and why).
    pub rollback: Vec<Step>,
    pub validation: Vec<Check>,
    pub advance_when: Vec<String>,
    pub abort_when: Vec<String>,
    /// The last safe point to return to, and how.
    pub rollback_point: String,
    /// Set when the phase destroys data.
    pub data_loss: Option<String>,
}

/// A row of the compatibility table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompatRow {
    pub step: String,
    pub backward_compatible: bool,
    pub risk: Risk,
    pub note: String,
}

/// A row of the lock-impact table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LockImpact {
    pub phase: String,
    /// First line of the statement.
    pub statement: String,
    pub lock: Lock,
    pub blocks: String,
    pub rewrites_table: bool,
    pub scans_table: bool,
    pub estimated_seconds: f64,
}

/// How existing rows are filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Backfill {
    pub strategy: String,
    pub table: String,
    /// The keyset key (the primary key).
    pub key: String,
    pub batch_size: u64,
    /// Pause between batches.
    pub throttle: String,
    /// How to resume after a stop or failure.
    pub restart: String,
    /// A procedure that commits per batch (PostgreSQL 11+): CALL it outside a transaction.
    pub procedure_sql: String,
    pub call_sql: String,
    /// One batch as a prepared statement, for scripts that loop themselves.
    pub batch_sql: String,
    /// The name `batch_sql` prepares: `EXECUTE <batch_name>(key)` runs one batch
    /// and returns the key to pass next (NULL when done).
    pub batch_name: String,
    /// The key the first batch starts from.
    pub first_key_query: String,
    /// How to loop `batch_sql`.
    pub batch_loop: String,
    /// Rows still to do and total.
    pub progress_query: String,
    /// Returns 0 when done.
    pub completion_query: String,
}

/// Time and load, from the row count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Estimates {
    pub rows: Option<u64>,
    pub batches: Option<u64>,
    pub backfill_seconds: Option<f64>,
    /// Sum of estimated statement time.
    pub total_db_seconds: f64,
    /// Longest time the app may wait on one statement's lock.
    pub max_app_wait_seconds: f64,
    /// Where the rates come from.
    pub basis: String,
    pub load: String,
}

/// The checklist people follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Runbook {
    pub pre_checks: Vec<String>,
    pub phases: Vec<RunbookPhase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunbookPhase {
    pub phase: String,
    pub checklist: Vec<String>,
}

/// The complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub schema_version: u32,
    pub summary: String,
    pub change_type: ChangeType,
    pub change: Change,
    pub mode: PlanMode,
    pub dual_write: DualWrite,
    pub classification: Classification,
    /// What the plan assumes because it was not told.
    pub assumptions: Vec<String>,
    pub compatibility: Vec<CompatRow>,
    pub phases: Vec<Phase>,
    pub invariants: Vec<String>,
    pub lock_impact: Vec<LockImpact>,
    pub backfill: Option<Backfill>,
    pub estimates: Estimates,
    pub runbook: Runbook,
    pub risks: Vec<String>,
}

/// Why a plan could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Builds the plan for a request.
pub fn build_plan(req: &PlanRequest) -> Result<Plan, PlanError> {
    let (settings, schema, resolved) = prepare(req)?;
    let classification = classify(&resolved, &req.context);
    let mut plan = build::build(
        &resolved.change,
        &req.context,
        &settings,
        schema.as_ref(),
        classification,
    )?;
    plan.assumptions.splice(0..0, resolved.notes);
    if settings.lock_timeout_ms > settings.max_app_wait_ms {
        plan.risks.push(format!(
            "lock_timeout_ms {} exceeds the app's latency budget (max_app_wait_ms {}): while a statement waits for its lock, app statements queue behind it for up to {} ms per attempt; lower lock_timeout_ms to the budget, or raise the budget knowingly",
            settings.lock_timeout_ms, settings.max_app_wait_ms, settings.lock_timeout_ms
        ));
    }
    Ok(plan)
}

/// The phases [`build_plan`] gives for a request, without the
/// classification, estimates, runbook and tables built around them: what a
/// summary of the plan needs (the reviewer's fixes, one per finding), at
/// about two thirds of the cost.
pub fn build_phases(req: &PlanRequest) -> Result<Vec<Phase>, PlanError> {
    phases(req, false)
}

/// [`build_phases`] in outline: the first phase whole, and of the phases
/// after it at least the kind and title (for the changes whose later phases
/// cost the most to build, only those). Fails when [`build_phases`] fails.
/// What a one-paragraph fix needs: a review builds one for every rename or
/// type change it finds, and the later phases were half of that cost.
pub fn outline_phases(req: &PlanRequest) -> Result<Vec<Phase>, PlanError> {
    phases(req, true)
}

fn phases(req: &PlanRequest, outline: bool) -> Result<Vec<Phase>, PlanError> {
    let (settings, schema, resolved) = prepare(req)?;
    let (change, ctx) = (&resolved.change, &req.context);
    build::phases(change, ctx, &settings, schema.as_ref(), outline)
}

/// The request checked: its settings, its schema, and its change resolved
/// (with what the schema knows).
fn prepare(req: &PlanRequest) -> Result<(Settings, Option<Schema>, ResolvedChange), PlanError> {
    req.context.validate().map_err(PlanError::Invalid)?;
    if req.context.engine != Engine::Postgres {
        return Err(PlanError::Unsupported(
            "build_plan writes PostgreSQL plans; for MySQL 8 use classify_change for the online-DDL facts (ALGORITHM, locks) and gh-ost or pt-online-schema-change for table copies".into(),
        ));
    }
    if req.context.version() < 11 {
        return Err(PlanError::Unsupported(format!(
            "PostgreSQL {} is out of support and lacks procedures with COMMIT (11+): plans cover PostgreSQL 11 to 18",
            req.context.version()
        )));
    }
    let mut settings = req.options.settings().map_err(PlanError::Invalid)?;
    let schema = match &req.schema {
        Some(ddl) => Some(Schema::parse(ddl, req.context.engine).map_err(PlanError::Invalid)?),
        None => None,
    };
    let mut resolved = req.input.resolve(req.context.engine)?;
    // `cutover switch reads ...`: the request's mode word, unless the
    // options name one.
    if req.options.mode.is_none() {
        if let Some(mode) = resolved.mode.and_then(PlanMode::of_word) {
            settings.mode = mode;
        }
    }
    if let Some(s) = &schema {
        fill_from_schema(&mut resolved.change, s);
    }
    Ok((settings, schema, resolved))
}

/// Facts the schema knows and the change did not say (the current type of a
/// column whose type changes), so the pattern is picked on facts.
fn fill_from_schema(change: &mut Change, schema: &Schema) {
    if let Change::ChangeColumnType {
        table,
        column,
        from_type: from_type @ None,
        ..
    } = change
    {
        let (Ok(t), Ok(c)) = (
            crate::ident::QualifiedName::parse("table", table),
            crate::ident::Ident::parse("column", column),
        ) else {
            return;
        };
        if let Some(col) = schema.table(&t).and_then(|t| t.column(&c)) {
            *from_type = Some(col.data_type.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_alone_are_the_plan_s_phases() {
        let mut compared = 0;
        for text in [
            "rename users.username to handle",
            "change orders.amount to bigint",
            "change orders.note from text to varchar(20)",
            "drop column users.legacy",
            "make users.email not null",
            "add column users.status text not null default 'new'",
            "add index on orders (user_id, created_at)",
            "split users.name into first_name, last_name",
            "rename table users to accounts",
            "add foreign key orders.user_id references users.id",
            "drop table old_things",
        ] {
            for mode in [
                PlanMode::Plan,
                PlanMode::Backfill,
                PlanMode::Cutover,
                PlanMode::Deprecate,
            ] {
                for version in [11, 12, 17] {
                    let req = PlanRequest {
                        input: ChangeInput::from_request(text),
                        context: Context {
                            version: Some(version),
                            ..Context::default()
                        },
                        options: PlanOptions {
                            mode: Some(mode),
                            ..PlanOptions::default()
                        },
                        ..PlanRequest::default()
                    };
                    let whole = build_plan(&req).map(|p| p.phases);
                    assert_eq!(build_phases(&req), whole, "{text} {mode:?} {version}");
                    compared += whole.map_or(0, |p| p.len());
                }
            }
        }
        assert!(compared > 100, "{compared} phases compared");
    }

    /// An outline has the whole plan's first phase, the kind and title of
    /// every phase, and fails where the whole plan fails.
    #[test]
    fn an_outline_is_the_plan_s_phases_in_brief() {
        let schema = "CREATE TABLE orders (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0, note text);
             CREATE TABLE events (at timestamptz, payload jsonb);";
        let mut outlined = 0;
        for text in [
            "rename users.username to handle",
            "rename column \"Users\".\"User Name\" to \"handle\"",
            "rename billing.invoices.total to amount_due",
            "change orders.amount to bigint",
            "change orders.id to bigint",
            "change orders.note from text to varchar(20)",
            "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2) USING amount::numeric / 100",
            "ALTER TABLE events ALTER COLUMN payload TYPE text",
            "rename events.payload to body",
            "split users.name into first_name, last_name",
            "merge users.first_name, users.last_name into full_name",
            "drop column users.legacy",
            "make users.email not null",
            "rename table users to accounts",
            "drop table old_things",
        ] {
            for version in [11, 12, 15, 18] {
                for dual_write in [DualWrite::Trigger, DualWrite::App] {
                    for with_schema in [false, true] {
                        let req = PlanRequest {
                            input: ChangeInput::from_request(text),
                            context: Context {
                                version: Some(version),
                                ..Context::default()
                            },
                            schema: with_schema.then(|| schema.to_string()),
                            options: PlanOptions {
                                dual_write: Some(dual_write),
                                ..PlanOptions::default()
                            },
                        };
                        let case =
                            format!("{text} / {version} / {dual_write:?} / schema {with_schema}");
                        let (whole, outline) = match (build_phases(&req), outline_phases(&req)) {
                            (Ok(w), Ok(o)) => (w, o),
                            (Err(w), Err(o)) => {
                                assert_eq!(w.to_string(), o.to_string(), "{case}");
                                continue;
                            }
                            (w, o) => panic!("{case}: whole {w:?}\noutline {o:?}"),
                        };
                        let brief = |ps: &[Phase]| {
                            ps.iter()
                                .map(|p| (p.kind, p.title.clone()))
                                .collect::<Vec<_>>()
                        };
                        assert_eq!(brief(&outline), brief(&whole), "{case}");
                        assert_eq!(outline.first(), whole.first(), "{case}");
                        if outline != whole {
                            outlined += 1;
                        }
                    }
                }
            }
        }
        // The renames and type changes were outlined, not built whole.
        assert!(outlined >= 100, "{outlined} plans outlined");
    }
}
