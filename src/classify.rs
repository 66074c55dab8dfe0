//! change -> classification: the decision-matrix row, risk, complexity, the
//! lock facts of the naive DDL, and what is still unknown.

use crate::change::{
    Change, ChangeInput, ChangeType, EnumOp, Fill, InputError, InputForm, ResolvedChange,
};
use crate::context::{Context, Engine};
use crate::engine::postgres::{type_change, TypeChange};
use crate::engine::{mysql, postgres, Duration, Lock, LockFacts};
use crate::pattern::{Complexity, DualWrite, Pattern, PhaseKind};
use crate::references;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Input of `classify_change`: the change in one of three forms, plus context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClassifyRequest {
    #[serde(flatten)]
    pub input: ChangeInput,
    /// Engine, version, table size and traffic; all optional.
    #[serde(default)]
    pub context: Context,
}

/// How bad it is to run the naive DDL on a live database.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

/// Which stage of the rollout the user most likely wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Plan,
    Review,
    Backfill,
    Cutover,
    Deprecate,
}

/// What classify_change returns. Field names are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Classification {
    /// The change type id, e.g. `rename_column`; absent when out of scope.
    pub change_type: Option<ChangeType>,
    /// The parsed change.
    pub change: Option<Change>,
    /// The change in one line.
    pub summary: String,
    /// Which form the change was given in.
    pub input_form: Option<InputForm>,
    /// The user's words, when given beside a structured change: the record
    /// of what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub engine: Engine,
    /// Engine major version the facts apply to.
    pub version: u32,
    /// Whether the naive DDL keeps the currently running app version working.
    pub backward_compatible: bool,
    pub risk: Risk,
    pub complexity: Complexity,
    /// The rollout strategy for that complexity, in a sentence.
    pub strategy: String,
    /// The decision-matrix row (pattern id).
    pub pattern: Option<Pattern>,
    /// The phases the plan will need, in order.
    pub phases: Vec<PhaseKind>,
    /// Lock facts of the naive DDL on this engine and version.
    pub lock: Vec<LockFacts>,
    /// What makes the naive change dangerous here.
    pub red_flags: Vec<String>,
    /// What must stay true through the whole rollout.
    pub invariants: Vec<String>,
    /// Missing facts that would change the plan.
    pub questions: Vec<String>,
    /// Defaults the parser filled in.
    pub assumptions: Vec<String>,
    /// The suggested mode.
    pub mode: Mode,
    /// Whether this is a schema change the tool plans.
    pub in_scope: bool,
    /// Why not, and where to go instead.
    pub out_of_scope_reason: Option<String>,
    /// Reference documents that apply (MCP resource URIs).
    pub references: Vec<String>,
}

/// Classifies a request; out-of-scope requests come back with `in_scope: false`.
pub fn classify_request(req: &ClassifyRequest) -> Result<Classification, InputError> {
    req.context.validate().map_err(InputError::Invalid)?;
    // A structured change is a change by construction; the words beside it
    // are only its record.
    let text = match req.input.change {
        Some(_) => req.input.sql.as_deref(),
        None => req.input.request.as_deref().or(req.input.sql.as_deref()),
    };
    if let Some(reason) = text.and_then(out_of_scope) {
        return Ok(out_of_scope_classification(&req.context, reason));
    }
    let resolved = req.input.resolve(req.context.engine)?;
    Ok(classify(&resolved, &req.context))
}

/// Classifies a resolved change.
pub fn classify(resolved: &ResolvedChange, ctx: &Context) -> Classification {
    let change = &resolved.change;
    let version = ctx.version();
    let pattern = Pattern::for_change(change, ctx);
    let lock = match ctx.engine {
        Engine::Postgres => postgres::naive_facts(change, version),
        Engine::Mysql => mysql::naive_facts(change),
    };
    let backward_compatible = backward_compatible(change);
    let red_flags = red_flags(change, ctx, &lock, backward_compatible);
    let risk = risk(change, ctx, &lock, backward_compatible);
    let complexity = pattern.complexity();
    let mut refs = vec![references::uri("change-type-decision-matrix")];
    if risk >= Risk::Medium {
        refs.push(references::uri("migration-failure-modes"));
    }
    if complexity >= Complexity::Medium {
        refs.push(references::uri("sample-rollout-sequences"));
    }
    refs.push(references::uri("output-templates"));
    Classification {
        change_type: Some(change.change_type()),
        change: Some(change.clone()),
        summary: format!("{}: {}", change.describe(), pattern.strategy()),
        input_form: Some(resolved.form),
        request: resolved.request.clone(),
        engine: ctx.engine,
        version,
        backward_compatible,
        risk,
        complexity,
        strategy: pattern.strategy().to_string(),
        pattern: Some(pattern),
        phases: pattern.phases(DualWrite::default()).to_vec(),
        lock,
        red_flags,
        invariants: invariants(change),
        questions: questions(change, ctx),
        assumptions: resolved.notes.clone(),
        mode: suggested_mode(change),
        in_scope: true,
        out_of_scope_reason: None,
        references: refs,
    }
}

/// Whether the naive DDL keeps the running (old) app version working.
pub fn backward_compatible(change: &Change) -> bool {
    match change {
        Change::AddColumn { .. }
        | Change::SetDefault { .. }
        | Change::AddIndex { .. }
        | Change::DropIndex { .. }
        | Change::DropNotNull { .. }
        | Change::CreateTable { .. }
        | Change::BackfillOnly { .. } => true,
        Change::AddNotNullColumn { default, .. } => default.is_some(),
        Change::ChangeColumnType {
            from_type, to_type, ..
        } => {
            matches!(
                type_change(from_type.as_deref(), to_type),
                TypeChange::NoRewrite | TypeChange::Same
            ) || is_integer_widening(from_type.as_deref(), to_type)
        }
        Change::EnumChange { operation, .. } => matches!(operation, EnumOp::AddValue { .. }),
        Change::DropColumn { .. }
        | Change::RenameColumn { .. }
        | Change::SetNotNull { .. }
        | Change::AddUniqueConstraint { .. }
        | Change::AddPrimaryKey { .. }
        | Change::AddForeignKey { .. }
        | Change::AddCheckConstraint { .. }
        | Change::SplitColumn { .. }
        | Change::MergeColumns { .. }
        | Change::MoveColumn { .. }
        | Change::SplitTable { .. }
        | Change::MergeTables { .. }
        | Change::RenameTable { .. }
        | Change::DropTable { .. } => false,
    }
}

fn is_integer_widening(from: Option<&str>, to: &str) -> bool {
    let rank = |t: &str| match postgres::normalise_type(t).as_str() {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    };
    matches!((from.and_then(rank), rank(to)), (Some(a), Some(b)) if b > a)
}

/// Rows above which a full-table lock is assumed to stall traffic noticeably
/// (a rewrite runs about 1 s per million rows on a 2-core machine).
const LARGE_TABLE_ROWS: u64 = 1_000_000;
const HUGE_TABLE_ROWS: u64 = 10_000_000;

fn is_destructive(change: &Change) -> bool {
    matches!(
        change,
        Change::DropColumn { .. }
            | Change::DropTable { .. }
            | Change::SplitColumn { .. }
            | Change::MergeColumns { .. }
            | Change::MoveColumn { .. }
            | Change::SplitTable { .. }
            | Change::MergeTables { .. }
            | Change::EnumChange {
                operation: EnumOp::RemoveValue { .. },
                ..
            }
    )
}

fn risk(change: &Change, ctx: &Context, facts: &[LockFacts], compatible: bool) -> Risk {
    let rows = ctx.rows;
    let heavy = facts
        .iter()
        .any(|f| f.stalls_app() || f.duration == Duration::Statement);
    let rewrite = facts
        .iter()
        .any(|f| f.rewrites_table && f.lock.conflicts_with_app());
    let mut risk = if heavy { Risk::Medium } else { Risk::Low };
    if heavy && rows.is_none_or(|r| r >= LARGE_TABLE_ROWS) {
        risk = Risk::High;
    }
    if !compatible && ctx.multiple_app_versions() {
        risk = risk.max(Risk::High);
    }
    if rewrite && rows.is_some_and(|r| r >= HUGE_TABLE_ROWS) {
        risk = Risk::Critical;
    }
    if is_destructive(change) {
        risk = risk.max(Risk::High);
        if matches!(
            change,
            Change::DropTable { .. } | Change::MergeTables { .. }
        ) {
            risk = Risk::Critical;
        }
    }
    if heavy && rows.is_some_and(|r| r < 100_000) && compatible {
        risk = risk.min(Risk::Medium);
    }
    risk
}

fn red_flags(change: &Change, ctx: &Context, facts: &[LockFacts], compatible: bool) -> Vec<String> {
    let mut flags = Vec::new();
    let size = match ctx.rows {
        Some(r) => format!("{r} rows"),
        None => "a table of unknown size".to_string(),
    };
    for f in facts {
        if f.rewrites_table && f.lock.conflicts_with_app() {
            flags.push(format!(
                "`{}` rewrites {size} while holding {}: {} are blocked for the whole rewrite",
                f.statement,
                f.lock,
                f.lock.blocks()
            ));
        } else if f.scans_table && f.lock.conflicts_with_app() {
            flags.push(format!(
                "`{}` reads every row of {size} while holding {}: {} are blocked meanwhile",
                f.statement,
                f.lock,
                f.lock.blocks()
            ));
        } else if f.duration == Duration::Statement {
            flags.push(format!("`{}` runs as one transaction: rows stay locked until it commits, and a failure undoes everything", f.statement));
        }
    }
    if facts.iter().any(|f| f.lock == Lock::AccessExclusive) {
        flags.push("an ACCESS EXCLUSIVE request that waits behind a long transaction queues every later query on the table, reads included: set lock_timeout and retry".into());
    }
    if !compatible {
        let who = if ctx.multiple_app_versions() {
            "old and new app versions run side by side during the deploy, so the old one breaks"
        } else {
            "the app version running when the DDL lands breaks until the new one is deployed"
        };
        flags.push(format!("not backward compatible: {who}"));
    }
    if is_destructive(change) {
        flags.push("destroys data: take and verify a backup first, and drop only after no app version reads it".into());
    }
    if let (
        Engine::Postgres,
        14,
        Change::AddIndex { .. } | Change::AddUniqueConstraint { .. } | Change::AddPrimaryKey { .. },
    ) = (ctx.engine, ctx.version(), change)
    {
        flags.push("PostgreSQL 14.0-14.3 can corrupt indexes built with CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY: run 14.4 or later".into());
    }
    if let Change::EnumChange {
        operation: EnumOp::AddValue { .. },
        ..
    } = change
    {
        if ctx.version() < 12 && ctx.engine == Engine::Postgres {
            flags.push("PostgreSQL < 12: ALTER TYPE ... ADD VALUE fails inside a transaction block, and most migration tools wrap each migration in one".into());
        } else {
            flags.push("the new value is unusable until the ALTER TYPE commits: do not use it in the same migration or transaction".into());
        }
    }
    if let Change::ChangeColumnType { .. } = change {
        flags.push("drivers that prepare statements (JDBC, psycopg after 5 runs, sqlx, Rails) fail with \"cached plan must not change result type\" after the column changes until they re-prepare".into());
    }
    if ctx.writes_per_second.is_some_and(|w| w >= 1000.0)
        && facts.iter().any(|f| f.lock.conflicts_with_app())
    {
        flags.push(format!(
            "{} writes/s: even a 2 s lock wait queues thousands of writes; use a short lock_timeout (200-500 ms) with more retries",
            ctx.writes_per_second.unwrap_or_default()
        ));
    }
    flags
}

fn invariants(change: &Change) -> Vec<String> {
    let t = change.primary_table();
    let mut inv = vec![
        "every app version live in a phase keeps working: no statement it issues fails".to_string(),
        "no DDL statement waits for a lock longer than lock_timeout; it gives up and retries instead of queueing the app".to_string(),
    ];
    match change {
        Change::RenameColumn {
            column, new_name, ..
        } => {
            inv.push(format!("from the backfill until the contract, every row of {t} has {new_name} IS NOT DISTINCT FROM {column}"));
            inv.push(format!("the row count of {t} is unchanged"));
        }
        Change::ChangeColumnType { column, .. } => {
            inv.push(format!("every value of {t}.{column} converts to the new type without loss, and the shadow column equals it until the swap"));
        }
        Change::AddNotNullColumn { column, .. } => {
            inv.push(format!("after the backfill no row of {t} has {column} IS NULL, and every app version writes a value"));
        }
        Change::SetNotNull { column, .. } => {
            inv.push(format!(
                "no row of {t} has {column} IS NULL before NOT NULL is enforced"
            ));
        }
        Change::SplitColumn { column, .. } | Change::MergeColumns { into: column, .. } => {
            inv.push(format!("the old and new columns of {t} describe the same value for every row until the contract ({column})"));
        }
        Change::MoveColumn {
            column, to_table, ..
        } => {
            inv.push(format!(
                "{to_table}.{column} equals {t}.{column} for every matched row until the contract"
            ));
        }
        Change::SplitTable { new_table, .. } => {
            inv.push(format!("{new_table} has exactly one row per row of {t}, with equal values, until the contract"));
        }
        Change::MergeTables { other, .. } => {
            inv.push(format!(
                "every row of {other} is represented in {t} before {other} is dropped"
            ));
        }
        Change::AddUniqueConstraint { columns, .. } | Change::AddPrimaryKey { columns, .. } => {
            inv.push(format!("no two rows of {t} share ({})", columns.join(", ")));
        }
        Change::AddForeignKey {
            references_table, ..
        } => {
            inv.push(format!(
                "every non-null key of {t} matches a row of {references_table}"
            ));
        }
        Change::BackfillOnly { column, .. } => {
            inv.push(format!("the backfill only touches rows whose {column} is still to do, so a rerun changes nothing"));
        }
        Change::DropColumn { .. } | Change::DropTable { .. } => {
            inv.push("nothing is dropped while any live app version reads or writes it".into());
        }
        _ => {}
    }
    if !matches!(
        change,
        Change::DropTable { .. }
            | Change::CreateTable { .. }
            | Change::EnumChange { .. }
            | Change::DropIndex { .. }
    ) {
        inv.push(format!(
            "no row of {t} is lost: row count and primary keys match before and after"
        ));
    }
    inv
}

fn questions(change: &Change, ctx: &Context) -> Vec<String> {
    let mut q = Vec::new();
    let heavy = !matches!(
        change,
        Change::CreateTable { .. }
            | Change::SetDefault { .. }
            | Change::DropNotNull { .. }
            | Change::EnumChange { .. }
    );
    if ctx.rows.is_none() && heavy {
        q.push(format!(
            "About how many rows does {} hold? It sets the batch count and the time estimates.",
            change.primary_table()
        ));
    }
    if ctx.writes_per_second.is_none() && heavy {
        q.push(format!("About how many writes per second does {} take at peak? It sets lock_timeout and the backfill throttle.", change.primary_table()));
    }
    if ctx.multiple_app_versions.is_none() && !backward_compatible(change) {
        q.push("Do old and new app versions run side by side during a deploy (rolling deploys, canaries, workers, several services)? The plan assumes yes.".into());
    }
    match change {
        Change::ChangeColumnType {
            from_type: None,
            table,
            column,
            ..
        } => {
            q.push(format!("What is the current type of {table}.{column}? Widening varchar or numeric needs no rewrite; most other changes do."));
        }
        Change::AddNotNullColumn {
            default: None,
            fill: None,
            table,
            column,
            ..
        } => {
            q.push(format!("What value should existing rows of {table} get in {column}? Give a default or a fill (an expression or another table's column)."));
        }
        Change::AddNotNullColumn {
            fill:
                Some(Fill::Lookup {
                    local_key: None,
                    table: src,
                    ..
                }),
            table,
            ..
        } => {
            q.push(format!(
                "Which column of {table} points at {src}? The plan assumes {table}.{}_id = {src}.id.",
                crate::change::singular(src)
            ));
        }
        Change::SplitColumn { into, column, .. } if into.iter().any(|c| c.expression.is_none()) => {
            q.push(format!("How is {column} split? Give an expression per new column (e.g. split_part({column}, ',', 1)); the plan assumes comma-separated parts."));
        }
        Change::MergeColumns {
            expression: None,
            columns,
            ..
        } => {
            q.push(format!(
                "How are {} combined? The plan assumes concat_ws(' ', ...).",
                columns.join(", ")
            ));
        }
        Change::MoveColumn {
            key: None,
            to_table,
            from_table,
            ..
        }
        | Change::SplitTable {
            key: None,
            new_table: to_table,
            table: from_table,
            ..
        } => {
            q.push(format!(
                "Which column links {to_table} to {from_table}? The plan assumes {to_table}.{}_id.",
                crate::change::singular(from_table)
            ));
        }
        Change::SetNotNull { table, column } => {
            q.push(format!("Are there rows of {table} with {column} IS NULL today, and what should they become? NOT NULL cannot be enforced until none are left."));
        }
        Change::EnumChange {
            operation:
                EnumOp::RemoveValue {
                    replace_with: None,
                    value,
                },
            type_name,
        } => {
            q.push(format!(
                "What should rows holding '{value}' become before it is removed from {type_name}?"
            ));
        }
        _ => {}
    }
    q
}

fn suggested_mode(change: &Change) -> Mode {
    match change {
        Change::BackfillOnly { .. } => Mode::Backfill,
        Change::DropColumn { .. } | Change::DropTable { .. } | Change::DropIndex { .. } => {
            Mode::Deprecate
        }
        _ => Mode::Plan,
    }
}

/// Requests that are not schema changes: greenfield design, query tuning and
/// DBA operations. Returns why, and where to go instead.
pub fn out_of_scope(text: &str) -> Option<String> {
    let t = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&[
        "design a schema",
        "design the schema",
        "design my schema",
        "schema design",
        "data model for",
        "model my data",
        "which tables should",
        "greenfield",
    ]) {
        return Some("greenfield schema design is out of scope: schemashift plans changes to a live schema. Sketch the model with your team or a data-modelling guide, then bring each change here (\"create table ...\", \"add column ...\")".into());
    }
    if has(&[
        "slow query",
        "query is slow",
        "queries are slow",
        "explain analyze",
        "query plan",
        "optimize this query",
        "optimise this query",
        "speed up this query",
        "tune query",
        "query tuning",
    ]) {
        return Some("query tuning is out of scope: use EXPLAIN (ANALYZE, BUFFERS), pg_stat_statements or a query-tuning tool; if the fix is an index, ask here to \"add index on table(column)\" and it will be planned safely".into());
    }
    let first = t.split_whitespace().next().unwrap_or("");
    if matches!(
        first,
        "vacuum" | "analyze" | "cluster" | "reindex" | "checkpoint"
    ) || has(&[
        "autovacuum",
        "vacuum tuning",
        "tune vacuum",
        "bloat",
        "shared_buffers",
        "work_mem",
        "replication slot",
        "failover",
        "backup strategy",
        "point-in-time recovery",
        "upgrade postgres",
        "major version upgrade",
        "connection pool",
    ]) {
        return Some("database operations (vacuum and bloat, server settings, replication, backups, upgrades, pooling) are out of scope: see the PostgreSQL documentation's Server Administration part or your DBA tooling (pg_repack for bloat); schemashift plans schema changes".into());
    }
    None
}

fn out_of_scope_classification(ctx: &Context, reason: String) -> Classification {
    Classification {
        change_type: None,
        change: None,
        summary: "not a schema change this tool plans".into(),
        input_form: None,
        request: None,
        engine: ctx.engine,
        version: ctx.version(),
        backward_compatible: true,
        risk: Risk::Low,
        complexity: Complexity::Small,
        strategy: String::new(),
        pattern: None,
        phases: Vec::new(),
        lock: Vec::new(),
        red_flags: Vec::new(),
        invariants: Vec::new(),
        questions: Vec::new(),
        assumptions: Vec::new(),
        mode: Mode::Plan,
        in_scope: false,
        out_of_scope_reason: Some(reason),
        references: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured(json: serde_json::Value, ctx: Context) -> Classification {
        let req = ClassifyRequest {
            input: ChangeInput {
                change: Some(serde_json::from_value(json).unwrap()),
                ..Default::default()
            },
            context: ctx,
        };
        classify_request(&req).unwrap()
    }

    #[test]
    fn rename_is_large_and_incompatible() {
        let c = structured(
            serde_json::json!({"change_type": "rename_column", "table": "users", "column": "username", "new_name": "handle"}),
            Context::default(),
        );
        assert_eq!(c.change_type, Some(ChangeType::RenameColumn));
        assert!(!c.backward_compatible);
        assert_eq!(c.complexity, Complexity::Large);
        assert_eq!(c.pattern, Some(Pattern::ExpandContract));
        assert_eq!(c.lock[0].lock, Lock::AccessExclusive);
        assert!(!c.lock[0].rewrites_table);
        assert!(c.risk >= Risk::High);
    }

    #[test]
    fn constant_default_is_instant_from_pg11_only() {
        let json = serde_json::json!({"change_type": "add_column", "table": "t", "column": "c", "data_type": "int", "default": "0"});
        let pg15 = structured(json.clone(), Context::default());
        assert_eq!(pg15.pattern, Some(Pattern::InstantDdl));
        assert!(!pg15.lock[0].rewrites_table);
        let pg10 = structured(
            json,
            Context {
                version: Some(10),
                ..Context::default()
            },
        );
        assert_eq!(pg10.pattern, Some(Pattern::AddThenBackfill));
        assert!(pg10.lock[0].rewrites_table);
    }

    #[test]
    fn varchar_widening_is_small() {
        let c = structured(
            serde_json::json!({"change_type": "change_column_type", "table": "users", "column": "display_name", "from_type": "varchar(100)", "to_type": "varchar(255)"}),
            Context::default(),
        );
        assert_eq!(c.complexity, Complexity::Small);
        assert!(c.backward_compatible);
        assert!(!c.lock[0].rewrites_table);
    }

    #[test]
    fn int_to_bigint_swaps_columns() {
        let c = structured(
            serde_json::json!({"change_type": "change_column_type", "table": "orders", "column": "amount", "from_type": "integer", "to_type": "bigint"}),
            Context {
                rows: Some(50_000_000),
                ..Context::default()
            },
        );
        assert_eq!(c.pattern, Some(Pattern::ColumnSwap));
        assert_eq!(c.risk, Risk::Critical);
        assert!(c.lock[0].rewrites_table);
    }

    #[test]
    fn out_of_scope_requests_say_where_to_go() {
        let req = ClassifyRequest {
            input: ChangeInput::from_request(
                "why is my query slow? explain analyze shows a seq scan",
            ),
            context: Context::default(),
        };
        let c = classify_request(&req).unwrap();
        assert!(!c.in_scope);
        assert!(c.out_of_scope_reason.unwrap().contains("EXPLAIN"));
        let req = ClassifyRequest {
            input: ChangeInput::from_request("tune autovacuum for the events table"),
            context: Context::default(),
        };
        assert!(!classify_request(&req).unwrap().in_scope);
    }

    #[test]
    fn bad_version_is_rejected() {
        let req = ClassifyRequest {
            input: ChangeInput::from_request("rename users.a to b"),
            context: Context {
                version: Some(9),
                ..Context::default()
            },
        };
        let err = classify_request(&req).unwrap_err().to_string();
        assert!(err.contains("PostgreSQL 9 is not supported"), "{err}");
    }
}
