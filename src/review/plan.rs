//! The plan review: a rollout plan (build_plan's JSON, or Markdown a person
//! wrote) checked phase by phase the way a senior engineer reads one before
//! approving it, and every SQL statement in it run through the SQL rules.
//!
//! Both forms become the same model: phases in order, each with its forward
//! SQL (one unit per step or per fenced block), its rollback, its validation
//! queries, its abort criteria, its rollback point and data-loss statement,
//! and the app versions live during it (JSON `app`, or a Markdown table with
//! `Version | Reads | Writes` columns; without one, the phase's words).
//!
//! Markdown: phases are the headings that read like phases (`## Phase 2:
//! Backfill`, `### Step 3 — cutover`, `## 1. Expand`; the shallowest level
//! wins, deeper `Step` headings belong to the phase above them). Without
//! such headings, the headings that hold SQL are the phases; without any,
//! the whole text is one phase. Inside a phase, sub-headings and labels
//! (`Rollback:`, `**Validation**`, `- Abort if: ...`, `Advance when:`,
//! `Rollback point:`, `Data loss:`) say what the SQL blocks and lines that
//! follow are; SQL is read from ```sql fences (and unlabelled fences that
//! start like SQL) and from inline code that is a whole statement.
//!
//! **Where findings point:** for Markdown, a plan finding's line is the line
//! of the phase heading and an SQL finding's line is the statement's line in
//! the document. For JSON, the line is the phase's index (1 for the first
//! phase) and the column is 1; the message names the phase id and the step.
//!
//! # plan-phase-without-rollback (error)
//! A phase with forward SQL but no rollback, no data-loss statement and no
//! rollback point saying why none is needed.
//! **Why it hurts:** when the phase goes wrong, people improvise an undo
//! under pressure. **Instead:** write the rollback SQL beside the forward
//! SQL, or say why there is none (`data_loss`, or "none needed: ...").
//!
//! # plan-destructive-outside-contract (error)
//! DROP COLUMN / DROP TABLE / DROP VIEW / TRUNCATE / DELETE without WHERE /
//! a rename, in a phase that is not the contract phase (a rename that puts
//! something back under the old name in the same step, as a column swap or
//! a view does, is fine), and a contract phase that runs before the reads
//! and writes are cut over or while an app version that uses what it removes
//! is still live.
//! **Why it hurts:** the app versions still running use the old shape and
//! fail at once; the data is gone, so rolling back the app does not help.
//! **Instead:** stop every use first (release, wait for the rollout), prove
//! it, then contract.
//!
//! # plan-constraint-before-backfill (error)
//! SET NOT NULL, VALIDATE CONSTRAINT or ADD CONSTRAINT without NOT VALID on
//! a column that a later phase (or a later step) backfills.
//! **Why it hurts:** existing rows do not satisfy it yet: it fails in
//! production after passing on a small staging table, holding its lock
//! while it scans. **Instead:** enforce after the backfill (NOT VALID first
//! if new rows must comply at once, VALIDATE after the backfill).
//!
//! # plan-schema-change-with-backfill (error)
//! A phase or a step that has both DDL taking a lock the app waits on and a
//! backfill.
//! **Why it hurts:** run as one migration, the DDL lock is held (or queued,
//! blocking everyone behind it) for the whole backfill. **Instead:** DDL in
//! its own short phase under lock_timeout, then the batched backfill.
//!
//! # plan-no-validation (warning; info for app releases without SQL)
//! A phase without any validation query.
//! **Why it hurts:** nothing proves the phase did what it claims before the
//! next one builds on it. **Instead:** a query returning one value, and the
//! value it must return.
//!
//! # plan-no-abort-criteria (warning)
//! A phase without abort criteria.
//! **Why it hurts:** with no threshold decided in advance, a degrading
//! rollout continues until it is an outage. **Instead:** name the signal
//! (statement gives up after its retries, error rate, p99, replication lag)
//! and what to do.
//!
//! # plan-coupled-cutover (warning)
//! Reads and writes switched to the new shape in the same phase, or a write
//! cutover without a rollback point.
//! **Why it hurts:** there is no state in which reads of the new shape are
//! checked while the old one is still the source of truth, and undoing a
//! write cutover without a planned way back loses the writes made since.
//! **Instead:** switch reads, verify, then switch writes, with the sync
//! kept running both ways so redeploying the previous version is the rollback.
//!
//! # plan-non-idempotent-backfill (error)
//! A backfill (UPDATE, or INSERT ... SELECT) without a "still to do"
//! predicate (`IS NULL`, `IS DISTINCT FROM`, `<>`; ON CONFLICT / NOT EXISTS
//! for inserts), run as one unbatched statement, written as `UPDATE ...
//! LIMIT`, or with all its batches in one transaction.
//! **Why it hurts:** one statement holds row locks on the whole table, bloats
//! it and lags replicas; a rerun after a failure redoes (or duplicates)
//! everything. **Instead:** keyset batches by primary key, each its own
//! transaction, touching only rows still to do.
//!
//! Every SQL statement of the plan, forward and rollback, also goes through
//! the SQL rules, one step at a time in its own transaction (a step marked
//! `transactional: false` outside any), after the earlier steps of the same
//! phase so that tables and constraints they created are known. Statements
//! inside `DO` blocks are reviewed as what they are: one transaction, with
//! the `SET LOCAL lock_timeout` the block sets. What the plan knows and one
//! file cannot say is given to them first: a column's current type (the
//! change's `from_type`, or what the phase's rollback restores) and the
//! plan's own helper tables that no app version uses. Where a plan check
//! answers a rule's question in context (drop-column, drop-table,
//! drop-view, truncate-cascade, rename-column, rename-table on drops and
//! renames; unbatched-backfill and
//! backfill-in-same-transaction-as-ddl on backfills), the plan check reports
//! and the rule does not. Findings on rollback SQL are one level less severe:
//! it runs only when the phase is undone.

use super::{review_sql, Finding, Review, ReviewOptions, Severity};
use crate::change::ddl::split_statements;
use crate::context::Engine;
use crate::pattern::PhaseKind;
use crate::plan::Plan;
use regex::Regex;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// A plan rule: its id, default severity and what it finds.
pub struct PlanRule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

const NO_ROLLBACK: &str = "plan-phase-without-rollback";
const DESTRUCTIVE: &str = "plan-destructive-outside-contract";
const CONSTRAINT_FIRST: &str = "plan-constraint-before-backfill";
const DDL_WITH_BACKFILL: &str = "plan-schema-change-with-backfill";
const NO_VALIDATION: &str = "plan-no-validation";
const NO_ABORT: &str = "plan-no-abort-criteria";
const COUPLED: &str = "plan-coupled-cutover";
const BACKFILL: &str = "plan-non-idempotent-backfill";

/// The plan rules, in the order they are checked.
pub static RULES: &[PlanRule] = &[
    PlanRule {
        id: NO_ROLLBACK,
        severity: Severity::Error,
        summary: "a phase with forward SQL has no rollback and does not say why",
    },
    PlanRule {
        id: DESTRUCTIVE,
        severity: Severity::Error,
        summary: "a drop, truncate, delete-all or rename outside the contract phase, or a contract phase while the old shape is still in use",
    },
    PlanRule {
        id: CONSTRAINT_FIRST,
        severity: Severity::Error,
        summary: "a constraint is enforced on a column before the backfill that fills it",
    },
    PlanRule {
        id: DDL_WITH_BACKFILL,
        severity: Severity::Error,
        summary: "one phase holds DDL locks and a backfill",
    },
    PlanRule {
        id: NO_VALIDATION,
        severity: Severity::Warning,
        summary: "a phase has no validation query",
    },
    PlanRule {
        id: NO_ABORT,
        severity: Severity::Warning,
        summary: "a phase has no abort criteria",
    },
    PlanRule {
        id: COUPLED,
        severity: Severity::Warning,
        summary: "reads and writes switch together, or a write cutover has no rollback point",
    },
    PlanRule {
        id: BACKFILL,
        severity: Severity::Error,
        summary: "a backfill that is not batched, not resumable or not idempotent",
    },
];

/// Reviews a plan given as text: build_plan's JSON (anything starting with
/// `{`) or Markdown. JSON that is not a plan is an error naming what is missing.
pub fn review_plan_text(text: &str, opts: &ReviewOptions) -> Result<Review, String> {
    let doc = if text.trim_start().starts_with('{') || text.trim_start().starts_with('[') {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("the plan looks like JSON but does not parse: {e}"))?;
        from_json(&value, opts.engine)?
    } else {
        from_markdown(text, opts.engine)?
    };
    Ok(review_doc(&doc, opts))
}

/// Reviews a plan built by `build_plan`.
pub fn review_plan(plan: &Plan, opts: &ReviewOptions) -> Review {
    let phases = plan
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| Ph {
            id: p.id.clone(),
            title: p.title.clone(),
            kind: Some(p.kind),
            generic_cutover: false,
            line: i + 1,
            forward: p
                .forward
                .iter()
                .map(|s| Unit::new(&s.sql, Some(s.transactional), 0, opts.engine))
                .collect(),
            rollback: p
                .rollback
                .iter()
                .map(|s| Unit::new(&s.sql, Some(s.transactional), 0, opts.engine))
                .collect(),
            validations: p
                .validation
                .iter()
                .filter(|c| !c.sql.trim().is_empty())
                .count(),
            abort: p.abort_when.iter().any(|a| !trivial(a)),
            rollback_text: false,
            rollback_point: p.rollback_point.clone(),
            data_loss: p.data_loss.as_deref().is_some_and(|d| !trivial(d)),
            app: Some(
                p.app
                    .iter()
                    .map(|a| App {
                        version: a.version.clone(),
                        reads: a.reads.clone(),
                        writes: a.writes.clone(),
                    })
                    .collect(),
            ),
            words: Words::default(),
        })
        .collect();
    review_doc(
        &Doc {
            markdown: false,
            phases,
            known_types: known_types(&plan.change),
        },
        opts,
    )
}

/// The current column type a plan's change states.
fn known_types(change: &crate::change::Change) -> Vec<(String, String, String)> {
    match change {
        crate::change::Change::ChangeColumnType {
            table,
            column,
            from_type: Some(from),
            ..
        } => vec![(table.clone(), column.clone(), from.clone())],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// The model both forms are read into.

struct Doc {
    markdown: bool,
    phases: Vec<Ph>,
    /// Column types the plan states (`change.from_type`): table, column, type.
    known_types: Vec<(String, String, String)>,
}

/// One phase.
struct Ph {
    id: String,
    title: String,
    kind: Option<PhaseKind>,
    /// A Markdown "cutover" that does not say of what: treated as a write cutover.
    generic_cutover: bool,
    /// Markdown: the heading's line; JSON: the phase's index from 1.
    line: usize,
    forward: Vec<Unit>,
    rollback: Vec<Unit>,
    validations: usize,
    abort: bool,
    /// Markdown: a rollback given in words.
    rollback_text: bool,
    rollback_point: String,
    data_loss: bool,
    app: Option<Vec<App>>,
    words: Words,
}

/// What a Markdown phase says in prose (JSON phases say it in fields).
#[derive(Default)]
struct Words {
    old_live: bool,
    reads_switch: bool,
    writes_switch: bool,
    coupled: bool,
}

#[derive(Clone)]
struct App {
    version: String,
    reads: Vec<String>,
    writes: Vec<String>,
}

/// One step (JSON) or one SQL block (Markdown).
struct Unit {
    /// `Some(false)`: must run outside a transaction; `None`: not said.
    transactional: Option<bool>,
    /// Markdown: the document line of the unit's first line.
    line: usize,
    stmts: Vec<St>,
}

impl Unit {
    fn new(sql: &str, transactional: Option<bool>, line: usize, engine: Engine) -> Unit {
        Unit {
            transactional,
            line,
            stmts: analyse_unit(sql, engine),
        }
    }

    fn changes(&self) -> bool {
        self.stmts.iter().any(|s| s.facts.changes)
    }

    fn has_explicit_txn(&self) -> bool {
        self.stmts.iter().any(|s| s.facts.begin || s.facts.end)
    }
}

/// One statement, with the statements of its body when it has one.
struct St {
    text: String,
    /// 1-based position in the unit.
    line: usize,
    column: usize,
    facts: Facts,
    body: Option<Body>,
}

/// The statements inside a DO block or a routine.
struct Body {
    routine: Option<String>,
    trigger: bool,
    loops: bool,
    commits: bool,
    stmts: Vec<St>,
}

// ---------------------------------------------------------------------------
// What a statement does.

#[derive(Debug, Clone, Default)]
struct Facts {
    /// Changes the database (not a query, SET, or transaction control).
    changes: bool,
    /// A query someone reads the answer of.
    query: bool,
    begin: bool,
    end: bool,
    /// PL/pgSQL only (RAISE, PERFORM, SELECT INTO, dynamic EXECUTE): not plain SQL.
    pl_only: bool,
    is_do: bool,
    /// DDL that takes a lock the app waits on, and on which table.
    blocking_ddl: Option<String>,
    creates_table: Option<String>,
    creates_view: Option<String>,
    added_columns: Vec<(String, String)>,
    destroys: Vec<Destroy>,
    enforces: Vec<Enforce>,
    /// Constraints added NOT VALID: table, name, the words of its definition.
    not_valid: Vec<(String, String, Vec<String>)>,
    /// Indexes created: name, table, columns.
    index: Option<(String, String, Vec<String>)>,
    write: Option<Write>,
    call: Option<String>,
    routine: Option<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Destroy {
    DropColumn {
        table: String,
        column: String,
    },
    DropTable(String),
    DropView(String),
    Truncate(String),
    DeleteAll(String),
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    RenameTable {
        from: String,
        to: String,
    },
}

impl Destroy {
    fn describe(&self) -> String {
        match self {
            Destroy::DropColumn { table, column } => format!("drops {table}.{column}"),
            Destroy::DropTable(t) => format!("drops table {t}"),
            Destroy::DropView(v) => format!("drops view {v}"),
            Destroy::Truncate(t) => format!("truncates {t}"),
            Destroy::DeleteAll(t) => format!("deletes every row of {t}"),
            Destroy::RenameColumn { table, from, to } => {
                format!("renames {table}.{from} to {to}")
            }
            Destroy::RenameTable { from, to } => format!("renames table {from} to {to}"),
        }
    }

    fn table(&self) -> &str {
        match self {
            Destroy::DropColumn { table, .. } | Destroy::RenameColumn { table, .. } => table,
            Destroy::DropTable(t)
            | Destroy::DropView(t)
            | Destroy::Truncate(t)
            | Destroy::DeleteAll(t) => t,
            Destroy::RenameTable { from, .. } => from,
        }
    }

    /// The column it removes, for a column-level change.
    fn column(&self) -> Option<&str> {
        match self {
            Destroy::DropColumn { column, .. } => Some(column),
            Destroy::RenameColumn { from, .. } => Some(from),
            _ => None,
        }
    }

    /// Whether an app's `reads`/`writes` entry uses what this removes.
    fn hits(&self, entry: &str) -> bool {
        let e = entry.trim().to_lowercase();
        let parts: Vec<&str> = e.split('.').collect();
        let table = self.table();
        match self.column() {
            Some(c) => {
                let n = parts.len();
                (n == 1 && parts[0] == c) || (n >= 2 && parts[n - 1] == c && parts[n - 2] == table)
            }
            None => parts.contains(&table),
        }
    }
}

#[derive(Debug, Clone)]
struct Enforce {
    table: String,
    /// e.g. `SET NOT NULL on users.email`.
    what: String,
    columns: Vec<String>,
    /// Words of a CHECK expression (the columns are among them).
    expr_words: Vec<String>,
    /// `USING INDEX name`: the index's columns.
    index: Option<String>,
    /// VALIDATE CONSTRAINT: the constraint's name.
    constraint: Option<String>,
}

#[derive(Debug, Clone)]
struct Write {
    table: String,
    alias: Option<String>,
    columns: Vec<String>,
    insert: bool,
    no_where: bool,
    todo: bool,
    batched: bool,
    limit: bool,
    ordered: bool,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern}: {e}"))
}

const NAME: &str = r"[a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)*";

static RE_ALTER_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^alter table (?:if exists )?(?:only )?({NAME}) ?\*? (.*)$"
    ))
});
static RE_DROP_TABLE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^drop table (?:if exists )?(.+?)(?: cascade| restrict)?$"));
static RE_DROP_VIEW: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^drop (?:materialized )?view (?:concurrently )?(?:if exists )?(.+?)(?: cascade| restrict)?$",
    )
});
static RE_TRUNCATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^truncate (?:table )?(?:only )?(.+?)(?: restart identity| continue identity)?(?: cascade| restrict)?$",
    )
});
static RE_DELETE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^delete from (?:only )?({NAME})(.*)$")));
static RE_CREATE_VIEW: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^create (?:or replace )?(?:temp |temporary )?(?:recursive )?(?:materialized )?view (?:if not exists )?({NAME})"
    ))
});
static RE_CREATE_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^create (?:global |local )?(?:temp |temporary |unlogged )?table (?:if not exists )?({NAME})"
    ))
});
static RE_CREATE_INDEX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^create (?:unique )?index (concurrently )?(?:if not exists )?(?:({NAME}) )?on (?:only )?({NAME})(?: using [a-z_]+)? ?\(([^)]*)\)"
    ))
});
static RE_DROP_INDEX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^drop index (concurrently )?(?:if exists )?(.+?)(?: cascade| restrict)?$")
});
static RE_TRIGGER: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:create (?:or replace )?(?:constraint )?trigger|drop trigger) .*? on ({NAME})"
    ))
});
static RE_INSERT: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^insert into ({NAME})(?: as [a-z_][a-z0-9_]*)? ?(?:\(([^)]*)\))? ?(.*)$"
    ))
});
static RE_CALL: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^call ({NAME})")));
static RE_ROUTINE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^create (?:or replace )?(procedure|function) ({NAME})"
    ))
});
static RE_EXECUTE: LazyLock<Regex> = LazyLock::new(|| re(r"(?is)^execute\s+(format\s*\()?\s*'"));

/// Lower-cased text with comments removed, string literals emptied,
/// dollar-quoted bodies replaced by `$$`, identifier quotes dropped and
/// whitespace collapsed: what the patterns read.
fn clean(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            out.push(' ');
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            out.push(' ');
            continue;
        }
        if c == b'\'' {
            i = skip_string(b, i);
            out.push_str("''");
            continue;
        }
        if c == b'"' {
            let start = i + 1;
            let end = text[start..].find('"').map_or(b.len(), |e| start + e);
            out.push_str(&text[start..end]);
            i = (end + 1).min(b.len());
            continue;
        }
        if c == b'$' {
            if let Some(len) = dollar_tag_at(text, i) {
                let tag = &text[i..i + len];
                i = text[i + len..]
                    .find(tag)
                    .map_or(b.len(), |e| i + len + e + len);
                out.push_str(" $$ ");
                continue;
            }
        }
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The index after a single-quoted string starting at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// The length of a dollar-quote tag (`$$`, `$body$`) starting at `i`.
fn dollar_tag_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'$') {
        return None;
    }
    let mut j = i + 1;
    if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j - i + 1)
}

/// The first dollar-quoted body of a statement: its byte offset and text.
fn dollar_body(text: &str) -> Option<(usize, &str)> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_string(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = text[i..].find('\n').map_or(b.len(), |e| i + e)
            }
            b'$' => {
                if let Some(len) = dollar_tag_at(text, i) {
                    let tag = &text[i..i + len];
                    let start = i + len;
                    let end = text[start..].find(tag).map_or(b.len(), |e| start + e);
                    return Some((start, &text[start..end]));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Byte ranges of the statements of a PL/pgSQL body, split on semicolons
/// outside strings, comments and nested dollar quotes.
fn split_semicolons(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_string(b, i),
            b'"' => i = text[i + 1..].find('"').map_or(b.len(), |e| i + 1 + e + 1),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = text[i..].find('\n').map_or(b.len(), |e| i + e)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2)
            }
            b'$' => match dollar_tag_at(text, i) {
                Some(len) => {
                    let tag = &text[i..i + len];
                    i = text[i + len..]
                        .find(tag)
                        .map_or(b.len(), |e| i + len + e + len);
                }
                None => i += 1,
            },
            b';' => {
                out.push((start, i));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        out.push((start, b.len()));
    }
    out
}

/// Upper-cased words outside strings, comments and parentheses, with offsets.
fn top_words(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => i = skip_string(b, i),
            b'"' => i = text[i + 1..].find('"').map_or(b.len(), |e| i + 1 + e + 1),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = text[i..].find('\n').map_or(b.len(), |e| i + e)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2)
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                if depth == 0 {
                    out.push((start, text[start..i].to_uppercase()));
                }
            }
            _ => i += 1,
        }
    }
    out
}

const SQL_START: &[&str] = &[
    "ALTER", "CREATE", "DROP", "UPDATE", "INSERT", "DELETE", "TRUNCATE", "SET", "RESET", "SELECT",
    "WITH", "COMMIT", "ROLLBACK", "CALL", "COMMENT", "GRANT", "REVOKE", "LOCK", "ANALYZE",
    "VACUUM", "REINDEX", "CLUSTER", "REFRESH", "PERFORM", "EXECUTE", "RAISE", "RETURN", "COPY",
    "MERGE", "NULL",
];

/// Where the SQL statement of a PL/pgSQL piece starts, after the control
/// words (BEGIN, LOOP, THEN, ELSE) that open the block around it.
fn statement_start(piece: &str) -> Option<usize> {
    let mut boundary = true;
    for (offset, w) in top_words(piece) {
        if boundary && SQL_START.contains(&w.as_str()) {
            return Some(offset);
        }
        boundary = matches!(w.as_str(), "BEGIN" | "LOOP" | "THEN" | "ELSE");
    }
    None
}

/// The statements of one unit of SQL, with the bodies of DO blocks and routines.
fn analyse_unit(sql: &str, engine: Engine) -> Vec<St> {
    split_statements(sql, engine)
        .into_iter()
        .map(|p| {
            let facts = analyse(&p.text);
            let body = if facts.is_do || facts.routine.is_some() {
                dollar_body(&p.text).map(|(offset, body)| {
                    let stmts = body_statements(body, offset, &p.text, p.line, p.column);
                    Body {
                        routine: facts.routine.as_ref().map(|r| r.0.clone()),
                        trigger: facts.routine.as_ref().is_some_and(|r| r.1),
                        loops: clean(body).split(' ').any(|w| w == "loop"),
                        commits: stmts.iter().any(|s| s.facts.end),
                        stmts,
                    }
                })
            } else {
                None
            };
            St {
                text: p.text,
                line: p.line,
                column: p.column,
                facts,
                body,
            }
        })
        .collect()
}

/// The SQL statements of a body that starts at `offset` in `outer`.
fn body_statements(body: &str, offset: usize, outer: &str, line: usize, column: usize) -> Vec<St> {
    let mut out = Vec::new();
    for (s, e) in split_semicolons(body) {
        let piece = &body[s..e];
        let Some(start) = statement_start(piece) else {
            continue;
        };
        let text = piece[start..].trim_end();
        let at = offset + s + start;
        let before = &outer[..at];
        let newlines = before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(n) => before[n + 1..].chars().count() + 1,
            None => column + before.chars().count(),
        };
        let mut facts = analyse(text);
        if let Some(dynamic) = dynamic_sql(text) {
            facts = analyse(&dynamic);
            facts.pl_only = true;
        }
        out.push(St {
            text: text.to_string(),
            line: line + newlines,
            column: col,
            facts,
            body: None,
        });
    }
    out
}

/// The statement an `EXECUTE format('...', 'a', 'b')` or `EXECUTE '...'`
/// runs, with literal arguments put in (others as `x`).
fn dynamic_sql(text: &str) -> Option<String> {
    let m = RE_EXECUTE.find(text)?;
    let b = text.as_bytes();
    let lit_start = m.end() - 1;
    let lit_end = skip_string(b, lit_start);
    let template = text
        .get(lit_start + 1..lit_end.saturating_sub(1))
        .unwrap_or("")
        .replace("''", "'");
    let mut args = Vec::new();
    let mut rest = &text[lit_end..];
    while let Some(r) = rest.trim_start().strip_prefix(',') {
        let r = r.trim_start();
        if r.starts_with('\'') {
            let e = skip_string(r.as_bytes(), 0);
            args.push(
                r.get(1..e.saturating_sub(1))
                    .unwrap_or("")
                    .replace("''", "'"),
            );
            rest = &r[e..];
        } else {
            args.push("x".to_string());
            let mut depth = 0i32;
            let mut end = r.len();
            for (i, c) in r.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &r[end..];
        }
    }
    let mut out = String::new();
    let mut args = args.into_iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                Some('s' | 'I' | 'L') => out.push_str(&args.next().unwrap_or_else(|| "x".into())),
                Some(o) => {
                    out.push('%');
                    out.push(o);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Splits on a character outside parentheses.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Byte offset of ` word ` outside parentheses in cleaned text.
fn find_top(text: &str, word: &str) -> Option<usize> {
    let pat = format!(" {word} ");
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ' ' if depth == 0 && text[i..].starts_with(&pat) => return Some(i),
            _ => {}
        }
    }
    None
}

/// The last part of a name.
fn last(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).trim().to_string()
}

/// The names of a comma-separated list (`DROP TABLE a, b`).
fn names(list: &str) -> Vec<String> {
    list.split(',')
        .map(|n| last(n.split_whitespace().next().unwrap_or("")))
        .filter(|n| !n.is_empty())
        .collect()
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn has_word(text: &str, word: &str) -> bool {
    words_of(text).iter().any(|w| w == word)
}

/// What one statement does.
fn analyse(text: &str) -> Facts {
    let c = clean(text);
    let mut f = Facts::default();
    let first = c.split(' ').next().unwrap_or("");
    let second = c.split(' ').nth(1).unwrap_or("");
    match first {
        "begin" | "start" => {
            f.begin = second != "atomic";
            return f;
        }
        "commit" | "end" | "rollback" | "abort" if second != "to" => {
            f.end = true;
            return f;
        }
        "select" | "with" | "show" | "explain" | "table" | "values" => {
            let writes = ["update ", "insert ", "delete "]
                .iter()
                .any(|w| c.contains(w));
            if first == "select" && find_top(&c, "into").is_some() {
                f.pl_only = true;
            } else if !writes {
                f.query = true;
            } else {
                f.changes = true;
            }
            return f;
        }
        "set" | "reset" | "savepoint" | "release" | "prepare" | "deallocate" | "discard"
        | "checkpoint" | "analyze" | "vacuum" | "lock" | "notify" | "listen" | "load" => return f,
        "perform" | "raise" | "return" | "null" | "get" | "exit" | "continue" | "open"
        | "fetch" | "close" | "execute" => {
            f.pl_only = true;
            return f;
        }
        "do" => {
            f.is_do = true;
            f.changes = true;
            return f;
        }
        _ => {}
    }
    if c.split(' ').nth(1) == Some(":=") || c.split(' ').nth(1) == Some("=") && first != "update" {
        f.pl_only = true;
        return f;
    }
    f.changes = true;
    if let Some(m) = RE_ALTER_TABLE.captures(&c) {
        alter_table(&last(&m[1]), &m[2], &mut f);
    } else if let Some(m) = RE_DROP_TABLE.captures(&c) {
        for t in names(&m[1]) {
            f.blocking_ddl = Some(t.clone());
            f.destroys.push(Destroy::DropTable(t));
        }
    } else if let Some(m) = RE_DROP_VIEW.captures(&c) {
        for v in names(&m[1]) {
            f.destroys.push(Destroy::DropView(v));
        }
    } else if let Some(m) = RE_TRUNCATE.captures(&c) {
        for t in names(&m[1]) {
            f.blocking_ddl = Some(t.clone());
            f.destroys.push(Destroy::Truncate(t));
        }
    } else if let Some(m) = RE_DELETE.captures(&c) {
        if !has_word(&m[2], "where") {
            f.destroys.push(Destroy::DeleteAll(last(&m[1])));
        }
    } else if let Some(m) = RE_CREATE_VIEW.captures(&c) {
        f.creates_view = Some(last(&m[1]));
    } else if let Some(m) = RE_CREATE_TABLE.captures(&c) {
        f.creates_table = Some(last(&m[1]));
    } else if let Some(m) = RE_CREATE_INDEX.captures(&c) {
        let table = last(&m[3]);
        if m.get(1).is_none() {
            f.blocking_ddl = Some(table.clone());
        }
        let cols = split_top(&m[4], ',')
            .iter()
            .map(|x| x.split(' ').next().unwrap_or("").to_string())
            .collect();
        if let Some(name) = m.get(2) {
            f.index = Some((last(name.as_str()), table, cols));
        }
    } else if let Some(m) = RE_DROP_INDEX.captures(&c) {
        if m.get(1).is_none() {
            f.blocking_ddl = Some(String::new());
        }
    } else if let Some(m) = RE_TRIGGER.captures(&c) {
        f.blocking_ddl = Some(last(&m[1]));
    } else if first == "update" {
        f.write = parse_update(&c);
    } else if let Some(m) = RE_INSERT.captures(&c) {
        let rest = m[3].trim_start_matches('(').trim();
        if rest.starts_with("select") || rest.starts_with("with") {
            let rest = &m[3];
            let cols = m
                .get(2)
                .map(|x| x.as_str().split(',').map(|s| last(s.trim())).collect())
                .unwrap_or_default();
            let todo = rest.contains(" on conflict ")
                || rest.contains("not exists")
                || rest.contains(" not in ")
                || rest.contains(" except ")
                || (rest.contains(" left join ") || rest.contains(" left outer join "))
                    && rest.contains(" is null");
            f.write = Some(Write {
                table: last(&m[1]),
                alias: None,
                columns: cols,
                insert: true,
                no_where: !has_word(rest, "where"),
                todo,
                batched: batched(rest),
                limit: false,
                ordered: true,
            });
        }
    } else if let Some(m) = RE_CALL.captures(&c) {
        f.call = Some(last(&m[1]));
    } else if let Some(m) = RE_ROUTINE.captures(&c) {
        let header = c.split(" $$ ").next().unwrap_or(&c);
        f.routine = Some((last(&m[2]), header.contains(" returns trigger")));
    }
    f
}

/// The actions of `ALTER TABLE table actions`.
fn alter_table(table: &str, actions: &str, f: &mut Facts) {
    let mut only_validate = true;
    for a in split_top(actions, ',') {
        let w: Vec<&str> = a.split(' ').collect();
        let w0 = w.first().copied().unwrap_or("");
        let w1 = w.get(1).copied().unwrap_or("");
        if !(w0 == "validate" && w1 == "constraint") {
            only_validate = false;
        }
        match (w0, w1) {
            ("drop", "constraint") => {}
            ("drop", _) => {
                let rest: Vec<&str> = w[1..]
                    .iter()
                    .copied()
                    .filter(|x| !matches!(*x, "column" | "if" | "exists"))
                    .collect();
                if let Some(col) = rest.first() {
                    if !matches!(
                        *col,
                        "primary" | "foreign" | "index" | "partition" | "default"
                    ) {
                        f.destroys.push(Destroy::DropColumn {
                            table: table.to_string(),
                            column: col.to_string(),
                        });
                    }
                }
            }
            ("rename", "to") => f.destroys.push(Destroy::RenameTable {
                from: table.to_string(),
                to: last(w.get(2).copied().unwrap_or("")),
            }),
            ("rename", "constraint") => {}
            ("rename", _) => {
                let rest: Vec<&str> = w[1..].iter().copied().filter(|x| *x != "column").collect();
                if rest.len() >= 3 && rest[1] == "to" {
                    f.destroys.push(Destroy::RenameColumn {
                        table: table.to_string(),
                        from: rest[0].to_string(),
                        to: rest[2].to_string(),
                    });
                }
            }
            ("change", _) => {
                // MySQL: CHANGE [COLUMN] old new type
                let rest: Vec<&str> = w[1..].iter().copied().filter(|x| *x != "column").collect();
                if rest.len() >= 2 && rest[0] != rest[1] {
                    f.destroys.push(Destroy::RenameColumn {
                        table: table.to_string(),
                        from: rest[0].to_string(),
                        to: rest[1].to_string(),
                    });
                }
            }
            ("alter", _) | ("modify", _) => {
                let rest: Vec<&str> = w[1..].iter().copied().filter(|x| *x != "column").collect();
                let sets_not_null = a.ends_with("set not null")
                    || (w0 == "modify" && a.contains(" not null") && !a.contains(" null default"));
                if let (Some(col), true) = (rest.first(), sets_not_null) {
                    f.enforces.push(Enforce {
                        table: table.to_string(),
                        what: format!("SET NOT NULL on {table}.{col}"),
                        columns: vec![col.to_string()],
                        expr_words: Vec::new(),
                        index: None,
                        constraint: None,
                    });
                }
            }
            ("validate", "constraint") => {
                let name = last(w.get(2).copied().unwrap_or(""));
                f.enforces.push(Enforce {
                    table: table.to_string(),
                    what: format!("VALIDATE CONSTRAINT {name} on {table}"),
                    columns: Vec::new(),
                    expr_words: Vec::new(),
                    index: None,
                    constraint: Some(name),
                });
            }
            ("add", _) => add_action(table, &a, &w, f),
            _ => {}
        }
    }
    if !only_validate {
        f.blocking_ddl = Some(table.to_string());
    }
}

/// `ADD COLUMN ...` or `ADD [CONSTRAINT name] CHECK/FOREIGN KEY/UNIQUE/PRIMARY KEY ...`.
fn add_action(table: &str, a: &str, w: &[&str], f: &mut Facts) {
    let (name, at) = if w.get(1) == Some(&"constraint") {
        (w.get(2).map(|n| last(n)), 3)
    } else {
        (None, 1)
    };
    let kind = w.get(at).copied().unwrap_or("");
    if !matches!(kind, "check" | "foreign" | "unique" | "primary" | "exclude") {
        let rest: Vec<&str> = w[1..]
            .iter()
            .copied()
            .filter(|x| !matches!(*x, "column" | "if" | "not" | "exists"))
            .collect();
        if let Some(col) = rest.first() {
            f.added_columns.push((table.to_string(), col.to_string()));
        }
        return;
    }
    let not_valid = a.ends_with(" not valid");
    let tail: String = w[at..].join(" ");
    let paren = tail.find('(').and_then(|s| {
        tail[s + 1..]
            .find(')')
            .map(|e| tail[s + 1..s + 1 + e].to_string())
    });
    let using_index = tail
        .split_once("using index ")
        .map(|(_, r)| last(r.split(' ').next().unwrap_or("")));
    let (columns, expr_words) = match kind {
        "check" => (Vec::new(), words_of(&tail)),
        _ => (
            paren
                .filter(|_| using_index.is_none())
                .map(|p| p.split(',').map(|c| last(c.trim())).collect())
                .unwrap_or_default(),
            Vec::new(),
        ),
    };
    let label = name.clone().unwrap_or_else(|| kind.to_uppercase());
    if not_valid {
        f.not_valid.push((
            table.to_string(),
            label,
            columns.iter().cloned().chain(expr_words).collect(),
        ));
    } else {
        f.enforces.push(Enforce {
            table: table.to_string(),
            what: format!("ADD CONSTRAINT {label} on {table} (validated at once)"),
            columns,
            expr_words,
            index: using_index,
            constraint: None,
        });
    }
}

/// Evidence that a statement handles one slice of the table: a key range,
/// a LIMIT in a subquery, a list of keys.
fn batched(where_text: &str) -> bool {
    let s = where_text.replace("<>", " ").replace("!=", " ");
    has_word(&s, "between")
        || has_word(&s, "limit")
        || has_word(&s, "ctid")
        || s.contains("any (")
        || s.contains("any(")
        || (s.contains('>') && s.contains('<'))
}

/// `UPDATE [ONLY] table [[AS] alias] SET ... [FROM ...] [WHERE ...] [LIMIT n]`.
fn parse_update(c: &str) -> Option<Write> {
    let mut toks = c.split(' ').skip(1).peekable();
    if toks.peek() == Some(&"only") {
        toks.next();
    }
    let table = last(toks.next()?);
    let mut alias = None;
    match toks.next()? {
        "set" => {}
        "as" => {
            alias = toks.next().map(str::to_string);
            (toks.next()? == "set").then_some(())?;
        }
        a => {
            alias = Some(a.to_string());
            (toks.next()? == "set").then_some(())?;
        }
    }
    let rest = format!(" {} ", toks.collect::<Vec<_>>().join(" "));
    let ends = ["from", "where", "returning", "order", "limit"];
    let set_end = ends
        .iter()
        .filter_map(|w| find_top(&rest, w))
        .min()
        .unwrap_or(rest.len());
    let columns = split_top(&rest[..set_end], ',')
        .iter()
        .flat_map(|a| {
            let target = a.split('=').next().unwrap_or("").trim();
            target
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .map(|t| last(t.trim()))
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>();
    let where_at = find_top(&rest, "where");
    let where_text = where_at.map(|w| {
        let after = &rest[w + 6..];
        let end = ["returning", "order", "limit"]
            .iter()
            .filter_map(|x| find_top(after, x))
            .min()
            .unwrap_or(after.len());
        after[..end].to_string()
    });
    let todo = where_text.as_deref().is_some_and(|w| {
        split_conjuncts(w).iter().any(|conj| {
            let marks = conj.contains(" is null")
                || conj.contains(" is distinct from ")
                || conj.contains("<>")
                || conj.contains("!=");
            marks && columns.iter().any(|col| has_word(conj, col))
        })
    });
    Some(Write {
        table,
        alias,
        todo,
        batched: where_text.as_deref().is_some_and(batched),
        no_where: where_text.is_none(),
        limit: find_top(&rest, "limit").is_some(),
        ordered: find_top(&rest, "order").is_some(),
        insert: false,
        columns,
    })
}

/// The AND/OR terms of a predicate, outside parentheses.
fn split_conjuncts(w: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let padded = format!(" {w} ");
    for (i, c) in padded.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ' ' if depth == 0
                && (padded[i..].starts_with(" and ") || padded[i..].starts_with(" or ")) =>
            {
                out.push(padded[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(padded[start..].to_string());
    out
}

// ---------------------------------------------------------------------------
// JSON.

fn from_json(value: &Value, engine: Engine) -> Result<Doc, String> {
    let Some(obj) = value.as_object() else {
        return Err("this JSON is not a plan: expected an object with `phases` (build_plan's output), got an array or a value".into());
    };
    let obj = match obj.get("plan").and_then(Value::as_object) {
        Some(inner) if !obj.contains_key("phases") => inner,
        _ => obj,
    };
    let phases = match obj.get("phases") {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err("this JSON is not a plan: `phases` must be an array of phases".into())
        }
        None => {
            let mut found: Vec<&str> = obj.keys().map(String::as_str).collect();
            found.truncate(12);
            return Err(format!(
                "this JSON is not a plan: it lacks `phases` (a plan has `phases`: [{{`id`, `kind`, `title`, `forward`, `rollback`, `validation`, `advance_when`, `abort_when`, `rollback_point`, `data_loss`, `app`}}], as build_plan writes it); keys found: {}",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            ));
        }
    };
    if phases.is_empty() {
        return Err("this JSON is not a plan: `phases` is empty".into());
    }
    let mut out = Vec::new();
    for (i, p) in phases.iter().enumerate() {
        let n = i + 1;
        let Some(p) = p.as_object() else {
            return Err(format!("phase {n} of the plan is not an object"));
        };
        let missing: Vec<&str> = ["id", "forward"]
            .into_iter()
            .filter(|k| !p.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "phase {n} of the plan lacks {}: every phase needs `id` and `forward` (an empty list for an app release)",
                missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
            ));
        }
        let text = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let list = |k: &str| -> Vec<String> {
            match p.get(k) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                Some(Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        let id = text("id");
        let title = text("title");
        let kind = match p.get("kind").and_then(Value::as_str) {
            Some(k) => Some(parse_kind(k).ok_or_else(|| {
                format!("phase `{id}` has kind `{k}`: use expand, deploy, backfill, validate, cutover_writes, cutover_reads or contract")
            })?),
            None => infer_kind(&format!("{id} {title}")).0,
        };
        let steps = |k: &str| -> Result<Vec<Unit>, String> {
            let Some(v) = p.get(k) else {
                return Ok(Vec::new());
            };
            let Some(a) = v.as_array() else {
                return Err(format!("phase `{id}`: `{k}` must be a list of steps"));
            };
            a.iter()
                .enumerate()
                .map(|(j, s)| match s {
                    Value::String(sql) => Ok(Unit::new(sql, None, 0, engine)),
                    Value::Object(o) => {
                        let sql = o.get("sql").and_then(Value::as_str).ok_or_else(|| {
                            format!("phase `{id}` {k} step {} lacks `sql`", j + 1)
                        })?;
                        let t = o.get("transactional").and_then(Value::as_bool);
                        Ok(Unit::new(sql, t, 0, engine))
                    }
                    _ => Err(format!(
                        "phase `{id}` {k} step {} is neither an object with `sql` nor a string",
                        j + 1
                    )),
                })
                .collect()
        };
        let validations = match p.get("validation") {
            Some(Value::Array(a)) => a
                .iter()
                .filter(|c| {
                    let sql = c
                        .as_str()
                        .or_else(|| c.get("sql").and_then(Value::as_str))
                        .unwrap_or("");
                    !sql.trim().is_empty()
                })
                .count(),
            _ => 0,
        };
        let app = p.get("app").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|o| {
                    let l = |k: &str| -> Vec<String> {
                        o.get(k)
                            .and_then(Value::as_array)
                            .map(|x| {
                                x.iter()
                                    .filter_map(|v| v.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    App {
                        version: o
                            .get("version")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        reads: l("reads"),
                        writes: l("writes"),
                    }
                })
                .collect()
        });
        out.push(Ph {
            kind,
            generic_cutover: false,
            line: n,
            forward: steps("forward")?,
            rollback: steps("rollback")?,
            validations,
            abort: list("abort_when").iter().any(|a| !trivial(a)),
            rollback_text: false,
            rollback_point: text("rollback_point"),
            data_loss: p
                .get("data_loss")
                .and_then(Value::as_str)
                .is_some_and(|d| !trivial(d)),
            app,
            words: Words::default(),
            title,
            id,
        });
    }
    let known = obj
        .get("change")
        .and_then(|c| serde_json::from_value::<crate::change::Change>(c.clone()).ok())
        .map(|c| known_types(&c))
        .unwrap_or_default();
    Ok(Doc {
        markdown: false,
        phases: out,
        known_types: known,
    })
}

fn parse_kind(k: &str) -> Option<PhaseKind> {
    use PhaseKind::*;
    Some(match k.trim().to_lowercase().replace('-', "_").as_str() {
        "expand" => Expand,
        "deploy" => Deploy,
        "backfill" => Backfill,
        "validate" => Validate,
        "cutover_writes" => CutoverWrites,
        "cutover_reads" => CutoverReads,
        "contract" => Contract,
        _ => return None,
    })
}

static RE_KIND_CONTRACT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(contract|clean ?up|cleanup|tear ?down|teardown|remove|removal|drop|decommission|retire|finali[sz]e|deprecate)\b",
    )
});
static RE_KIND_WRITES: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(cutover|cut over|cut-over|switch|flip|move|migrate|redirect)\w*[ _-]+(the )?(app )?writes?\b|\bwrites? (cutover|cut over|switch)",
    )
});
static RE_KIND_READS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(cutover|cut over|cut-over|switch|flip|move|migrate|redirect)\w*[ _-]+(the )?(app )?reads?\b|\breads? (cutover|cut over|switch)",
    )
});
static RE_KIND_CUTOVER: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(cutover|cut over|cut-over|switch ?over|switchover|go[- ]live)\b"));
static RE_KIND_BACKFILL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(backfill|back-fill|populate|fill|copy data|data migration|migrate (the )?data)\w*")
});
static RE_KIND_VALIDATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(validat|verif|enforc|prove)\w*"));
static RE_KIND_DEPLOY: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(deploy|release|ship|roll ?out|rollout)\w*"));
static RE_KIND_EXPAND: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(expand|add|create|prepare|introduce)\w*"));

/// The kind a phase's id or heading names, and whether it is a cutover of
/// unnamed direction.
fn infer_kind(text: &str) -> (Option<PhaseKind>, bool) {
    use PhaseKind::*;
    let t = text.to_lowercase();
    // An id like `p4-cutover-reads` names the kind exactly.
    for w in t.split(|c: char| c.is_whitespace() || c == '`') {
        for (k, kind) in [
            ("contract", Contract),
            ("cutover-writes", CutoverWrites),
            ("cutover_writes", CutoverWrites),
            ("cutover-reads", CutoverReads),
            ("cutover_reads", CutoverReads),
            ("backfill", Backfill),
            ("validate", Validate),
            ("deploy", Deploy),
            ("expand", Expand),
        ] {
            if w.starts_with('p') && w.ends_with(k) && w.contains('-') {
                return (Some(kind), false);
            }
        }
    }
    if RE_KIND_WRITES.is_match(&t) {
        return (Some(CutoverWrites), false);
    }
    if RE_KIND_READS.is_match(&t) {
        return (Some(CutoverReads), false);
    }
    if RE_KIND_CUTOVER.is_match(&t) {
        return (Some(CutoverWrites), true);
    }
    if RE_KIND_CONTRACT.is_match(&t) {
        return (Some(Contract), false);
    }
    for (r, kind) in [
        (&*RE_KIND_BACKFILL, Backfill),
        (&*RE_KIND_VALIDATE, Validate),
        (&*RE_KIND_DEPLOY, Deploy),
        (&*RE_KIND_EXPAND, Expand),
    ] {
        if r.is_match(&t) {
            return (Some(kind), false);
        }
    }
    (None, false)
}

/// Empty, or a placeholder for nothing.
fn trivial(s: &str) -> bool {
    let t = s
        .trim()
        .trim_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '_' | '`' | ':'))
        .to_lowercase();
    matches!(
        t.as_str(),
        "" | "-"
            | "—"
            | "–"
            | "none"
            | "n/a"
            | "na"
            | "tbd"
            | "todo"
            | "nothing"
            | "no"
            | "?"
            | "..."
    )
}

// ---------------------------------------------------------------------------
// Markdown.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Forward,
    Rollback,
    RollbackPoint,
    Validation,
    Advance,
    Abort,
    DataLoss,
}

static RE_HEADING: LazyLock<Regex> = LazyLock::new(|| re(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$"));
static RE_PHASE_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^[^a-z0-9]*(?:(?:phase|step|stage|part)\s*#?\s*(?:[0-9]+|[ivx]+|[a-z]|one|two|three|four|five|six|seven|eight|nine|ten)\b|[0-9]+\s*[.):]\s)",
    )
});
static RE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*(?:[-*+]\s+|[0-9]+[.)]\s+)?(?:\[[ xX]\]\s+)?([A-Za-z][A-Za-z0-9 /'’-]{0,40}?)\s*:\s*(.*)$",
    )
});
static RE_BOLD_LABEL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)([^*_]{1,40})(?:\*\*|__)\s*:?\s*$"));
static RE_INLINE_CODE: LazyLock<Regex> = LazyLock::new(|| re(r"`([^`]+)`"));
static RE_PHASE_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z]*[0-9]+[-_][a-z0-9_-]+$"));
static RE_LABEL_ROLLBACK_POINT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(last )?(safe |rollback |roll back |roll-back )point|^point of no return")
});
static RE_LABEL_ADVANCE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(advance|proceed|continue|go/no-go|go when|done when|exit criteria|success criteria|move on|next when|promote)",
    )
});
static RE_LABEL_ABORT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(abort|stop|halt|bail|no-go|kill|roll ?back (if|when)|rollback (if|when|trigger)|fail(ure)? (criteria|conditions)|give up|pause if)",
    )
});
static RE_LABEL_ROLLBACK: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(rollback|roll back|roll-back|undo|revert|down|back ?out|reverse)"));
static RE_LABEL_VALIDATE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(validat|verif|check|prove|confirm|test|sanity|post-?check|assert|expect|monitor)")
});
static RE_LABEL_DATA_LOSS: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(data loss|data-loss|destructive|irreversible|danger|warning: data)"));
static RE_LABEL_FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(forward|up|apply|run|then\b|migration|migrate|sql|steps?\b|do\b|changes?|ddl|execute|actions?|commands?|phase|stage|deploy|release|backfill|expand|contract|cutover|cut over)",
    )
});

fn classify_label(label: &str) -> Option<Role> {
    let l = label
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if l.is_empty() || l.len() > 40 {
        return None;
    }
    if RE_LABEL_ROLLBACK_POINT.is_match(&l) {
        Some(Role::RollbackPoint)
    } else if RE_LABEL_ADVANCE.is_match(&l) {
        Some(Role::Advance)
    } else if RE_LABEL_ABORT.is_match(&l) {
        Some(Role::Abort)
    } else if RE_LABEL_ROLLBACK.is_match(&l) {
        Some(Role::Rollback)
    } else if RE_LABEL_VALIDATE.is_match(&l) {
        Some(Role::Validation)
    } else if RE_LABEL_DATA_LOSS.is_match(&l) {
        Some(Role::DataLoss)
    } else if RE_LABEL_FORWARD.is_match(&l) {
        Some(Role::Forward)
    } else {
        None
    }
}

static RE_DATA_LOSS_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"data loss|destroys? (the )?data|irreversibl|irrecoverabl|point of no return|cannot be (undone|rolled back|reversed)|can'?t be (undone|rolled back)|not reversible|one-way|restore (it )?from (a |the )?backup|only (a|the) backup",
    )
});
static RE_ABORT_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(abort|halt|stop|pause|roll ?back|revert|bail)\w*\b[^.;]*\b(if|when|once|should)\b|\b(if|when|should)\b[^.;]*\b(abort|halt|stop the|roll ?back|revert)\b",
    )
});
static RE_OLD_REF: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(old|previous|prior|existing|legacy|v1|former|current)\b[^.;]*\b(versions?|apps?|application|code|releases?|deploy\w*|instances?|pods?|servers?|workers?|builds?|clients?)\b|\bv1\b",
    )
});
static RE_LIVE_VERB: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(running|runs|run|live|deployed|serving|serves|in service|up|reading|reads|writing|writes|uses|using|active|around)\b",
    )
});
static RE_NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(no longer|not|never|nothing|none|no|until|once|unless|if|wait|gone|stopped|drained|retired|after)\b|n't",
    )
});
static RE_ROLLING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(during|while|mid)\b[^.;]*\brolling (deploy|deployment|update|restart|release)|\b(both|old and new|mixed) (app )?versions\b[^.;]*\b(run|running|live|deployed)\b",
    )
});
static RE_COUPLED_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(switch|cut ?over|cutover|move|flip|point|redirect|migrate|change)\w*\s+(both\s+)?(the\s+)?(app'?s?\s+)?reads\s+(and|&)\s+writes\b|\breads\s+(and|&)\s+writes\s+(both\s+)?(are\s+)?(switched|moved|cut over|flipped|redirected|go|point)\b|\breads\s+(and|&)\s+writes\s+(to|from|on)\s+(the\s+)?new\b|\b(reads|reading)\s+(and|&)\s+(writes|writing)\s+(only\s+)?(the\s+)?new\b",
    )
});
static RE_READ_SWITCH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(switch|cut ?over|cutover|move|flip|point|redirect|migrate)\w*\s+(the\s+|all\s+)?(app'?s?\s+)?reads\b|\bstart\w*\s+reading\s+(from\s+)?(the\s+)?new\b|\breads?\s+(now\s+)?(come|comes|go|goes)\s+(from|to)\s+(the\s+)?new\b|\bread(s|ing)?\s+from\s+(the\s+)?new\b",
    )
});
static RE_WRITE_SWITCH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(switch|cut ?over|cutover|move|flip|point|redirect|migrate)\w*\s+(the\s+|all\s+)?(app'?s?\s+)?writes\b|\bstart\w*\s+writing\s+(to\s+)?(only\s+)?(the\s+)?new\b|\bwrites?\s+(now\s+)?(go|goes)\s+(only\s+)?to\s+(the\s+)?new\b|\bstop\w*\s+writing\s+(to\s+)?(the\s+)?old\b|\bwrites?\s+only\s+(to\s+)?(the\s+)?new\b",
    )
});
static RE_NO_TXN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"outside (of )?(any|a|the) transaction|no transaction|without a transaction|not in a transaction|autocommit|disable_ddl_transaction|atomic\s*=\s*false|transaction:\s*false",
    )
});
static RE_IN_TXN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\bin (a|its own|one|the same|a single) transaction|inside a transaction|wrapped in a transaction",
    )
});

const SQL_LANGS: &[&str] = &[
    "sql",
    "pgsql",
    "postgres",
    "postgresql",
    "plpgsql",
    "psql",
    "mysql",
    "plsql",
];
const SQL_FIRST_WORDS: &[&str] = &[
    "alter", "create", "drop", "update", "insert", "delete", "truncate", "select", "with", "set",
    "call", "do", "begin", "commit", "reindex", "vacuum", "comment", "grant", "revoke", "lock",
    "refresh", "cluster", "analyze",
];

fn looks_like_sql(text: &str) -> bool {
    let c = clean(text);
    let first = c.split(' ').next().unwrap_or("");
    SQL_FIRST_WORDS.contains(&first)
}

struct Fence {
    open: usize,
    close: usize,
    lang: String,
}

fn from_markdown(text: &str, engine: Engine) -> Result<Doc, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut fences: Vec<Fence> = Vec::new();
    let mut in_code = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let marker_char = t.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker_char.map_or(0, |m| t.chars().take_while(|c| *c == m).count());
        if let (Some(m), true) = (marker_char, run >= 3) {
            let marker: String = std::iter::repeat_n(m, run).collect();
            let lang = t[run..]
                .trim()
                .trim_start_matches('{')
                .split(|c: char| c.is_whitespace() || c == ',' || c == '}')
                .next()
                .unwrap_or("")
                .to_lowercase();
            let mut j = i + 1;
            while j < lines.len() && !lines[j].trim_start().starts_with(&marker) {
                j += 1;
            }
            for flag in in_code.iter_mut().take(j.min(lines.len() - 1) + 1).skip(i) {
                *flag = true;
            }
            fences.push(Fence {
                open: i,
                close: j.min(lines.len()),
                lang,
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    let fence_sql = |f: &Fence| -> Option<String> {
        let body = lines[f.open + 1..f.close].join("\n");
        let is_sql =
            SQL_LANGS.contains(&f.lang.as_str()) || (f.lang.is_empty() && looks_like_sql(&body));
        is_sql.then_some(body)
    };
    let headings: Vec<(usize, usize, String)> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !in_code[*i])
        .filter_map(|(i, l)| {
            RE_HEADING
                .captures(l)
                .map(|m| (i, m[1].len(), m[2].replace("**", "")))
        })
        .collect();
    // The end of a heading's section: the next heading at the same level or above.
    let section_end = |h: usize| -> usize {
        let (line, level, _) = &headings[h];
        headings[h + 1..]
            .iter()
            .find(|(_, l, _)| l <= level)
            .map_or(lines.len(), |(i, _, _)| *i)
            .max(*line + 1)
    };
    let has_sql = |from: usize, to: usize| {
        fences
            .iter()
            .any(|f| f.open > from && f.open < to && fence_sql(f).is_some())
    };
    let explicit: Vec<usize> = (0..headings.len())
        .filter(|&h| RE_PHASE_HEADING.is_match(&headings[h].2))
        .collect();
    let mut chosen: Vec<usize> = if let Some(level) = explicit.iter().map(|&h| headings[h].1).min()
    {
        explicit
            .into_iter()
            .filter(|&h| headings[h].1 == level)
            .collect()
    } else {
        let with_sql: Vec<usize> = (0..headings.len())
            .filter(|&h| has_sql(headings[h].0, section_end(h)))
            .collect();
        // The shallowest level with two headings holding SQL, else the deepest.
        let mut levels: Vec<usize> = with_sql.iter().map(|&h| headings[h].1).collect();
        levels.sort_unstable();
        levels.dedup();
        let level = levels
            .iter()
            .copied()
            .find(|&lv| with_sql.iter().filter(|&&h| headings[h].1 == lv).count() >= 2)
            .or_else(|| levels.last().copied());
        match level {
            Some(lv) => (0..headings.len())
                .filter(|&h| {
                    headings[h].1 == lv
                        && (has_sql(headings[h].0, section_end(h))
                            || infer_kind(&headings[h].2).0.is_some())
                })
                .collect(),
            None => Vec::new(),
        }
    };
    chosen.sort_unstable();
    let mut ranges: Vec<(usize, usize, String)> = chosen
        .iter()
        .map(|&h| {
            let (line, level, title) = &headings[h];
            let end = headings[h + 1..]
                .iter()
                .find(|(_, l, _)| l <= level)
                .map_or(lines.len(), |(i, _, _)| *i);
            (*line, end, title.clone())
        })
        .collect();
    if ranges.is_empty() {
        if !fences.iter().any(|f| fence_sql(f).is_some()) {
            return Err("not a plan: no JSON, no phase headings (`## Phase 1: Expand`, `### Step 2 — backfill`) and no ```sql blocks".into());
        }
        ranges.push((usize::MAX, lines.len(), "the plan".to_string()));
    }
    let mut phases = Vec::new();
    for (heading, end, title) in ranges {
        let start = if heading == usize::MAX {
            0
        } else {
            heading + 1
        };
        let heading_id = RE_INLINE_CODE.captures(&title).map(|m| m[1].to_string());
        let named = heading_id.is_some();
        let id = heading_id.unwrap_or_else(|| title.chars().take(80).collect());
        let (kind, generic_cutover) = infer_kind(&title);
        let mut ph = Ph {
            id,
            title: title.clone(),
            kind,
            generic_cutover,
            line: if heading == usize::MAX {
                1
            } else {
                heading + 1
            },
            forward: Vec::new(),
            rollback: Vec::new(),
            validations: 0,
            abort: false,
            rollback_text: false,
            rollback_point: String::new(),
            data_loss: false,
            app: None,
            words: Words::default(),
        };
        let mut prose: Vec<(Role, String)> = vec![(Role::Forward, title.to_lowercase())];
        let mut sticky = Role::Forward;
        let mut first_line = true;
        let mut last_prose = String::new();
        let mut app_cols: Option<(usize, usize, usize)> = None;
        let mut i = start;
        while i < end {
            let line = lines[i];
            if let Some(f) = fences.iter().find(|f| f.open == i) {
                first_line = false;
                if let Some(sql) = fence_sql(f) {
                    let hint = if RE_NO_TXN.is_match(&last_prose) {
                        Some(false)
                    } else if RE_IN_TXN.is_match(&last_prose) {
                        Some(true)
                    } else {
                        None
                    };
                    let unit = Unit::new(&sql, hint, f.open + 2, engine);
                    take_unit(&mut ph, unit, sticky);
                }
                i = f.close + 1;
                continue;
            }
            i += 1;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(m) = RE_HEADING.captures(line) {
                first_line = false;
                let text = m[2].replace("**", "");
                sticky = classify_label(&text).unwrap_or(Role::Forward);
                prose.push((sticky, text.to_lowercase()));
                last_prose = text.to_lowercase();
                app_cols = None;
                continue;
            }
            let plain = line.replace("**", "").replace("__", "");
            // A table: the app-version table, or rows of queries.
            if plain.trim_start().starts_with('|') {
                first_line = false;
                let cells: Vec<String> = plain
                    .trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect();
                let lower: Vec<String> = cells.iter().map(|c| c.to_lowercase()).collect();
                let pos = |w: &str| lower.iter().position(|c| c.contains(w));
                if let (Some(v), Some(r), Some(w)) = (pos("version"), pos("reads"), pos("writes")) {
                    app_cols = Some((v, r, w));
                    ph.app.get_or_insert_with(Vec::new);
                    continue;
                }
                if cells
                    .iter()
                    .all(|c| c.chars().all(|x| matches!(x, '-' | ':' | ' ')))
                {
                    continue;
                }
                if let Some((v, r, w)) = app_cols {
                    let list = |k: usize| -> Vec<String> {
                        cells
                            .get(k)
                            .map(|c| {
                                c.replace('`', "")
                                    .split(',')
                                    .map(|x| x.trim().to_string())
                                    .filter(|x| !trivial(x))
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    if let Some(apps) = ph.app.as_mut() {
                        apps.push(App {
                            version: cells.get(v).cloned().unwrap_or_default().replace('`', ""),
                            reads: list(r),
                            writes: list(w),
                        });
                    }
                    continue;
                }
                for m in RE_INLINE_CODE.captures_iter(&plain) {
                    take_inline(&mut ph, &m[1], sticky, &plain, i, engine);
                }
                continue;
            }
            app_cols = None;
            let (role, content) = if let Some(m) = RE_BOLD_LABEL.captures(line) {
                match classify_label(&m[1]) {
                    Some(r) => (Some(r), String::new()),
                    None => (None, plain.clone()),
                }
            } else if let Some(m) = RE_LABEL.captures(&plain) {
                match classify_label(&m[1]) {
                    Some(r) => (Some(r), m[2].to_string()),
                    None => (None, plain.clone()),
                }
            } else {
                (None, plain.clone())
            };
            let role_here = match role {
                Some(r) => {
                    // A label alone (or introducing what follows) governs the
                    // blocks after it; one with its content on the line does not.
                    let c = content.trim_end().to_lowercase();
                    if trivial(&c)
                        || c.ends_with(':')
                        || c.ends_with("following")
                        || c.ends_with("below")
                    {
                        sticky = r;
                    }
                    r
                }
                None => sticky,
            };
            // The first line under the heading may carry the phase's id and
            // kind (`p1-expand` (expand)), as schemashift's own rendering does.
            if std::mem::take(&mut first_line) && !named {
                if let Some(id) = RE_INLINE_CODE
                    .captures_iter(&plain)
                    .map(|m| m[1].to_string())
                    .find(|c| RE_PHASE_ID.is_match(c))
                {
                    let (kind, generic) = infer_kind(&format!("`{id}`"));
                    if kind.is_some() {
                        ph.kind = kind;
                        ph.generic_cutover = generic;
                    }
                    ph.id = id;
                }
            }
            let lower_content = content.trim().to_lowercase();
            let declines = role_here == Role::Rollback
                && ["no ", "none", "nothing", "n/a", "not needed"]
                    .iter()
                    .any(|w| lower_content.starts_with(w));
            if declines {
                // "No rollback SQL: see the rollback point" defers; "none
                // needed: <why>" is the reason itself.
                if explains_no_rollback(&lower_content) && !lower_content.contains("rollback point")
                {
                    ph.rollback_point.push_str(&content);
                    ph.rollback_point.push(' ');
                }
            } else if !trivial(&content) {
                match role_here {
                    Role::Abort => ph.abort = true,
                    Role::Rollback => ph.rollback_text = true,
                    Role::RollbackPoint => {
                        ph.rollback_point.push_str(&content);
                        ph.rollback_point.push(' ');
                    }
                    Role::DataLoss => ph.data_loss = true,
                    _ => {}
                }
            }
            for m in RE_INLINE_CODE.captures_iter(&plain) {
                take_inline(&mut ph, &m[1], role_here, &plain, i, engine);
            }
            prose.push((role_here, content.to_lowercase()));
            last_prose = plain.to_lowercase();
        }
        read_words(&mut ph, &prose);
        phases.push(ph);
    }
    Ok(Doc {
        markdown: true,
        phases,
        known_types: Vec::new(),
    })
}

/// Files a fenced block under the role it appears in.
fn take_unit(ph: &mut Ph, unit: Unit, role: Role) {
    ph.validations += unit.stmts.iter().filter(|s| s.facts.query).count();
    match role {
        // A block of checks that are not plain queries (a DO block that raises).
        Role::Validation if !unit.stmts.is_empty() && !unit.stmts.iter().any(|s| s.facts.query) => {
            ph.validations += 1
        }
        Role::Rollback if unit.changes() => ph.rollback.push(unit),
        Role::Forward if unit.changes() => ph.forward.push(unit),
        _ => {}
    }
}

/// Inline code that is a whole statement.
fn take_inline(ph: &mut Ph, code: &str, role: Role, line: &str, index: usize, engine: Engine) {
    if !looks_like_sql(code) || clean(code).split(' ').count() < 3 {
        return;
    }
    let unit = Unit::new(code, None, index, engine);
    let query = unit.stmts.iter().any(|s| s.facts.query);
    if query {
        let checks = line.to_lowercase();
        let says_expect = ["expect", "should", "return", "must", "= 0", "equals"]
            .iter()
            .any(|w| checks.contains(w));
        if matches!(role, Role::Validation | Role::Advance) || says_expect {
            ph.validations += 1;
        }
        return;
    }
    match role {
        Role::Rollback if unit.changes() => ph.rollback.push(unit),
        Role::Forward if unit.changes() => ph.forward.push(unit),
        _ => {}
    }
}

/// What a Markdown phase says in prose. Criteria for advancing and rollback
/// points describe other situations, so only the rest describes the phase.
fn read_words(ph: &mut Ph, prose: &[(Role, String)]) {
    for (role, text) in prose {
        if RE_DATA_LOSS_WORDS.is_match(text) && *role != Role::Advance {
            ph.data_loss = true;
        }
        for sentence in text.split(['.', ';', '\n']) {
            let s = sentence.trim();
            if s.is_empty() {
                continue;
            }
            if matches!(role, Role::Forward | Role::Abort | Role::Rollback)
                && RE_ABORT_WORDS.is_match(s)
            {
                ph.abort = true;
            }
            if matches!(role, Role::Advance | Role::Abort | Role::RollbackPoint) {
                continue;
            }
            let negated = RE_NEGATION.is_match(s);
            if !negated
                && ((s.contains("still") && RE_OLD_REF.is_match(s) && RE_LIVE_VERB.is_match(s))
                    || RE_ROLLING.is_match(s))
            {
                ph.words.old_live = true;
            }
            if RE_COUPLED_WORDS.is_match(s) {
                ph.words.coupled = true;
            }
            if RE_READ_SWITCH.is_match(s) {
                ph.words.reads_switch = true;
            }
            if RE_WRITE_SWITCH.is_match(s) {
                ph.words.writes_switch = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The plan in execution order.

/// One statement as the plan runs it.
struct Ev<'a> {
    phase: usize,
    unit: usize,
    st: &'a St,
    body: Option<&'a Body>,
    /// Runs inside a transaction (for procedures that COMMIT).
    in_txn: bool,
}

fn timeline<'a>(doc: &'a Doc, opts: &ReviewOptions) -> Vec<Ev<'a>> {
    let mut called: HashSet<String> = HashSet::new();
    for ph in &doc.phases {
        for u in &ph.forward {
            for st in &u.stmts {
                if let Some(c) = &st.facts.call {
                    called.insert(c.clone());
                }
            }
        }
    }
    let mut routines: HashMap<String, &'a Body> = HashMap::new();
    let mut out = Vec::new();
    for (pi, ph) in doc.phases.iter().enumerate() {
        for (ui, u) in ph.forward.iter().enumerate() {
            let wrapped = u.transactional.unwrap_or(opts.assume_in_transaction);
            let mut explicit = false;
            for st in &u.stmts {
                if st.facts.begin {
                    explicit = true;
                }
                if st.facts.end {
                    explicit = false;
                }
                let in_txn = (wrapped && !u.has_explicit_txn()) || explicit;
                out.push(Ev {
                    phase: pi,
                    unit: ui,
                    st,
                    body: None,
                    in_txn,
                });
                if let Some(body) = &st.body {
                    match &body.routine {
                        None => {
                            for inner in &body.stmts {
                                out.push(Ev {
                                    phase: pi,
                                    unit: ui,
                                    st: inner,
                                    body: Some(body),
                                    in_txn: in_txn || !body.commits,
                                });
                            }
                        }
                        Some(name) if !body.trigger => {
                            routines.insert(name.clone(), body);
                            if !called.contains(name) {
                                for inner in &body.stmts {
                                    out.push(Ev {
                                        phase: pi,
                                        unit: ui,
                                        st: inner,
                                        body: Some(body),
                                        in_txn: false,
                                    });
                                }
                            }
                        }
                        Some(_) => {}
                    }
                }
                if let Some(body) = st.facts.call.as_ref().and_then(|c| routines.get(c)) {
                    for inner in &body.stmts {
                        out.push(Ev {
                            phase: pi,
                            unit: ui,
                            st: inner,
                            body: Some(body),
                            in_txn,
                        });
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The checks.

struct Reviewer<'a> {
    doc: &'a Doc,
    opts: &'a ReviewOptions,
    events: Vec<Ev<'a>>,
    /// The statements the plan checks treat as backfills (by address).
    backfills: HashSet<usize>,
    out: Vec<Finding>,
}

impl Reviewer<'_> {
    fn name(&self, p: usize) -> String {
        format!("phase `{}`", self.doc.phases[p].id)
    }

    fn push(
        &mut self,
        rule: &str,
        severity: Severity,
        phase: usize,
        message: String,
        statement: Option<&str>,
        fix: Option<String>,
    ) {
        let ph = &self.doc.phases[phase];
        self.out.push(Finding {
            rule: rule.to_string(),
            severity,
            message,
            file: None,
            line: ph.line,
            column: 1,
            statement: statement.map_or_else(
                || {
                    if ph.id == ph.title {
                        snippet(&ph.title)
                    } else {
                        snippet(&format!("{}: {}", ph.id, ph.title))
                    }
                },
                snippet,
            ),
            fix,
            table: None,
            lock: None,
        });
    }

    fn last_finding_table(&mut self, table: &str, lock: crate::engine::Lock) {
        if let Some(f) = self.out.last_mut() {
            f.table = Some(table.to_string());
            f.lock = Some(lock);
        }
    }

    /// Whether a statement is a backfill: it fills a column the plan added,
    /// runs in a backfill phase, has no WHERE, or runs in a loop of batches.
    fn is_backfill(
        &self,
        ev: &Ev,
        added: &HashSet<(String, String)>,
        created: &HashSet<String>,
    ) -> bool {
        let Some(w) = &ev.st.facts.write else {
            return false;
        };
        self.doc.phases[ev.phase].kind == Some(PhaseKind::Backfill)
            || w.no_where
            || ev.body.is_some_and(|b| b.loops)
            || w.columns
                .iter()
                .any(|c| added.contains(&(w.table.clone(), c.clone())))
            || (w.insert && created.contains(&w.table))
    }
}

fn snippet(text: &str) -> String {
    let one = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        format!("{}...", one.chars().take(157).collect::<String>())
    } else {
        one
    }
}

fn review_doc(doc: &Doc, opts: &ReviewOptions) -> Review {
    let mut cx = Reviewer {
        doc,
        opts,
        events: timeline(doc, opts),
        backfills: HashSet::new(),
        out: Vec::new(),
    };
    let mut added = HashSet::new();
    let mut created = HashSet::new();
    for ev in &cx.events {
        if cx.is_backfill(ev, &added, &created) {
            cx.backfills.insert(ev.st as *const St as usize);
        }
        added.extend(ev.st.facts.added_columns.iter().cloned());
        created.extend(ev.st.facts.creates_table.iter().cloned());
    }
    check_rollback(&mut cx);
    check_destructive(&mut cx);
    check_constraint_before_backfill(&mut cx);
    check_schema_change_with_backfill(&mut cx);
    check_validation_and_abort(&mut cx);
    check_cutover(&mut cx);
    check_backfills(&mut cx);
    let statements = review_statements(&mut cx);
    let mut out = cx.out;
    out.retain(|f| !opts.exclude.contains(&f.rule));
    Review::from_findings(out, statements)
}

static RE_NONE_NEEDED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(none|nothing|no rollback|no undo|not needed|not required|n/a)\b[^:;(—-]*[:;(—-]\s*\S+\s+\S+\s+\S+|\bnothing to undo\b|\bno rollback (is )?needed\b|\bnone needed\b",
    )
});
static RE_SQL_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bselect\s+\w+\s*\(|\b(create|alter|drop)\s+(unique\s+)?(index|table|constraint|view|column|trigger)\b",
    )
});

/// A rollback point that says why the phase needs no rollback SQL, or gives it.
fn explains_no_rollback(rp: &str) -> bool {
    let t = rp.trim().to_lowercase();
    RE_NONE_NEEDED.is_match(&t) || RE_SQL_IN_TEXT.is_match(rp)
}

fn check_rollback(cx: &mut Reviewer) {
    for (i, ph) in cx.doc.phases.iter().enumerate() {
        let forward = ph.forward.iter().any(Unit::changes);
        let has = !ph.rollback.is_empty() || ph.rollback_text;
        if !forward || has || ph.data_loss || explains_no_rollback(&ph.rollback_point) {
            continue;
        }
        let first = ph
            .forward
            .iter()
            .flat_map(|u| u.stmts.iter())
            .find(|s| s.facts.changes)
            .map(|s| s.text.clone());
        let message = format!(
            "{} changes the database but has no rollback: no rollback SQL, no data-loss statement and no rollback point saying why none is needed",
            cx.name(i)
        );
        let fix = if cx.doc.markdown {
            "add a `Rollback:` block with the SQL that undoes this phase, or say why there is none (`Data loss: ...`, or `Rollback point: none needed: ...`)"
        } else {
            "add the undo SQL to `rollback`, or set `data_loss` (or a `rollback_point` starting \"none needed: <why>\")"
        };
        cx.push(
            NO_ROLLBACK,
            Severity::Error,
            i,
            message,
            first.as_deref(),
            Some(fix.to_string()),
        );
    }
}

/// App entries that a destroy hits, as "v1 reads users.username".
fn app_hits(apps: &[App], d: &Destroy) -> Vec<String> {
    let mut out = Vec::new();
    for a in apps {
        for (verb, list) in [("reads", &a.reads), ("writes", &a.writes)] {
            if let Some(e) = list.iter().find(|e| d.hits(e)) {
                out.push(format!("{} {verb} {e}", a.version));
            }
        }
    }
    out
}

/// The read and write switches of a phase from its app versions: whether a
/// new version starts using something new and stops using something old.
fn app_switches(doc: &Doc, p: usize, aliases: &HashMap<String, String>) -> (bool, bool) {
    if p == 0 {
        return (false, false);
    }
    let (Some(now), Some(before)) = (&doc.phases[p].app, &doc.phases[p - 1].app) else {
        return (false, false);
    };
    let Some(base) = before.last() else {
        return (false, false);
    };
    let norm = |l: &[String]| -> HashSet<String> {
        l.iter()
            .map(|e| {
                let e = e.trim().to_lowercase();
                let (t, rest) = e.split_once('.').unwrap_or((&e, ""));
                let t = aliases.get(t).cloned().unwrap_or_else(|| t.to_string());
                if rest.is_empty() {
                    t
                } else {
                    format!("{t}.{rest}")
                }
            })
            .collect()
    };
    let mut reads = false;
    let mut writes = false;
    for v in now
        .iter()
        .filter(|v| !before.iter().any(|b| b.version == v.version))
    {
        let switched = |new: &[String], old: &[String]| {
            let (n, o) = (norm(new), norm(old));
            n.difference(&o).next().is_some() && o.difference(&n).next().is_some()
        };
        reads |= switched(&v.reads, &base.reads);
        writes |= switched(&v.writes, &base.writes);
    }
    (reads, writes)
}

/// Views created over a table (`CREATE VIEW old AS SELECT * FROM new`) up to
/// a phase: the two names are the same rows.
fn aliases_before(doc: &Doc, p: usize) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for ph in &doc.phases[..p] {
        for u in &ph.forward {
            for st in u.stmts.iter().chain(
                u.stmts
                    .iter()
                    .filter_map(|s| s.body.as_ref())
                    .flat_map(|b| b.stmts.iter()),
            ) {
                if let Some(v) = &st.facts.creates_view {
                    let c = clean(&st.text);
                    if let Some((_, from)) = c.split_once(" from ") {
                        let t = last(from.split(' ').next().unwrap_or(""));
                        if !t.is_empty() {
                            out.insert(v.clone(), t);
                        }
                    }
                }
            }
        }
    }
    out
}

/// What the plan itself made, up to and including a phase: tables and views
/// (created, or renamed to), and columns (added, or renamed to). Dropping
/// or renaming those again takes nothing from the app's old shape.
#[derive(Default)]
struct Made {
    tables: HashSet<String>,
    columns: HashSet<(String, String)>,
}

impl Made {
    fn note(&mut self, f: &Facts) {
        if let Some(t) = &f.creates_table {
            self.tables.insert(t.clone());
        }
        if let Some(v) = &f.creates_view {
            self.tables.insert(v.clone());
        }
        for a in &f.added_columns {
            self.columns.insert(a.clone());
        }
        for d in &f.destroys {
            match d {
                Destroy::RenameTable { to, .. } => {
                    self.tables.insert(to.clone());
                }
                Destroy::RenameColumn { table, to, .. } => {
                    self.columns.insert((table.clone(), to.clone()));
                }
                _ => {}
            }
        }
    }

    fn upto(doc: &Doc, phase: usize) -> Made {
        let mut m = Made::default();
        for ph in &doc.phases[..=phase.min(doc.phases.len().saturating_sub(1))] {
            for u in &ph.forward {
                for st in statements(u) {
                    m.note(&st.facts);
                }
            }
        }
        m
    }

    fn made(&self, d: &Destroy) -> bool {
        (match d {
            Destroy::DropColumn { table, column }
            | Destroy::RenameColumn {
                table,
                from: column,
                ..
            } => {
                self.tables.contains(table)
                    || self.columns.contains(&(table.clone(), column.clone()))
            }
            _ => self.tables.contains(d.table()),
        }) || helper(d.table())
    }
}

/// The plan's own helper objects (backup tables, sync functions) are named
/// `schemashift_*`: no app version uses them.
fn helper(name: &str) -> bool {
    name.starts_with("schemashift_")
}

/// A unit's statements, with those of its DO blocks (not routine bodies,
/// which run when called).
fn statements(u: &Unit) -> impl Iterator<Item = &St> {
    u.stmts.iter().flat_map(|s| {
        std::iter::once(s).chain(
            s.body
                .iter()
                .filter(|b| b.routine.is_none())
                .flat_map(|b| b.stmts.iter()),
        )
    })
}

/// A rename or drop whose old name is taken again in the same step (a
/// column swap, or a view left under the old table name): nothing breaks.
fn replaced(d: &Destroy, u: &Unit) -> bool {
    match d {
        Destroy::RenameColumn { table, from, .. } => statements(u).any(|s| {
            s.facts.destroys.iter().any(|o| {
                matches!(o, Destroy::RenameColumn { table: t, to, .. } if t == table && to == from)
            })
        }),
        Destroy::RenameTable { from, .. } | Destroy::DropView(from) => statements(u).any(|s| {
            s.facts.creates_view.as_deref() == Some(from.as_str())
                || s.facts
                    .destroys
                    .iter()
                    .any(|o| matches!(o, Destroy::RenameTable { to, .. } if to == from))
        }),
        _ => false,
    }
}

/// The second half of a swap: a rename into a name another rename in the
/// same step has just vacated (`a -> a_old`, then `a_new -> a`).
fn takes_vacated(d: &Destroy, u: &Unit) -> bool {
    match d {
        Destroy::RenameColumn { table, to, .. } => statements(u).any(|s| {
            s.facts.destroys.iter().any(|o| {
                matches!(o, Destroy::RenameColumn { table: t, from, .. } if t == table && from == to)
            })
        }),
        Destroy::RenameTable { to, .. } => statements(u).any(|s| {
            s.facts
                .destroys
                .iter()
                .any(|o| matches!(o, Destroy::RenameTable { from, .. } if from == to))
        }),
        _ => false,
    }
}

/// Whether a phase switches reads and writes: from its app versions when it
/// and the phase before list them, from its words otherwise. Returns (reads,
/// writes, both at once).
fn phase_switches(doc: &Doc, p: usize) -> (bool, bool, bool) {
    let ph = &doc.phases[p];
    if p > 0 && ph.app.is_some() && doc.phases[p - 1].app.is_some() {
        let (r, w) = app_switches(doc, p, &aliases_before(doc, p));
        (r, w, r && w)
    } else {
        let w = &ph.words;
        (
            w.reads_switch || w.coupled,
            w.writes_switch || w.coupled,
            w.coupled || (w.reads_switch && w.writes_switch),
        )
    }
}

fn check_destructive(cx: &mut Reviewer) {
    let doc = cx.doc;
    let mut made = Made::default();
    let mut findings = Vec::new();
    for (pi, ph) in doc.phases.iter().enumerate() {
        for u in &ph.forward {
            for st in statements(u) {
                if ph.kind != Some(PhaseKind::Contract) {
                    for d in &st.facts.destroys {
                        let used_by_app = ph
                            .app
                            .as_ref()
                            .is_some_and(|apps| !app_hits(apps, d).is_empty());
                        if replaced(d, u) || ((made.made(d) || takes_vacated(d, u)) && !used_by_app)
                        {
                            continue;
                        }
                        findings.push((pi, d.clone(), st.text.clone()));
                    }
                }
                made.note(&st.facts);
            }
        }
    }
    for (p, d, text) in findings {
        let message = format!(
            "{} {} outside the contract phase: app versions live during it still use the old shape and fail at once, and rolling the app back does not bring the data back",
            cx.name(p),
            d.describe()
        );
        cx.push(
            DESTRUCTIVE,
            Severity::Error,
            p,
            message,
            Some(&text),
            Some(format!(
                "move `{}` to a contract phase that runs after every app version has stopped using it (release, wait until no old instance runs, check), with a rollback point",
                snippet(&text)
            )),
        );
        cx.last_finding_table(d.table(), crate::engine::Lock::AccessExclusive);
    }
    // Contract phases: after every cutover, and with no live app using what they remove.
    for (i, ph) in doc.phases.iter().enumerate() {
        if ph.kind != Some(PhaseKind::Contract) || !ph.forward.iter().any(Unit::changes) {
            continue;
        }
        let before = if i == 0 {
            Made::default()
        } else {
            Made::upto(doc, i - 1)
        };
        let destroys: Vec<(&Destroy, &str)> = ph
            .forward
            .iter()
            .flat_map(statements)
            .flat_map(|s| s.facts.destroys.iter().map(move |d| (d, s.text.as_str())))
            .filter(|(d, _)| !before.made(d))
            .collect();
        let later_cutover = (i + 1..doc.phases.len()).find(|&j| {
            let (r, w, _) = phase_switches(doc, j);
            matches!(
                doc.phases[j].kind,
                Some(PhaseKind::CutoverReads | PhaseKind::CutoverWrites)
            ) || r
                || w
        });
        let stmt = destroys.first().map(|d| d.1.to_string()).or_else(|| {
            ph.forward
                .iter()
                .flat_map(|u| u.stmts.iter())
                .find(|s| s.facts.changes)
                .map(|s| s.text.clone())
        });
        if let Some(j) = later_cutover {
            let message = format!(
                "{} removes the old shape before {} cuts reads or writes over to the new one: the app versions running until then still use what it removes",
                cx.name(i),
                cx.name(j)
            );
            cx.push(
                DESTRUCTIVE,
                Severity::Error,
                i,
                message,
                stmt.as_deref(),
                Some("order the phases expand, backfill, cut over reads, cut over writes, then contract".into()),
            );
            continue;
        }
        if destroys.is_empty() {
            continue;
        }
        match &ph.app {
            Some(apps) => {
                for (d, text) in &destroys {
                    let hits = app_hits(apps, d);
                    if hits.is_empty() {
                        continue;
                    }
                    let message = format!(
                        "{} {} while an app version listed as live in it still uses it ({}): that version fails as soon as the statement commits",
                        cx.name(i),
                        d.describe(),
                        hits.join(", ")
                    );
                    cx.push(
                        DESTRUCTIVE,
                        Severity::Error,
                        i,
                        message,
                        Some(text),
                        Some("release a version that no longer uses it first, wait until no older instance runs, then contract".into()),
                    );
                    cx.last_finding_table(d.table(), crate::engine::Lock::AccessExclusive);
                }
            }
            None => {
                let (d, text) = destroys[0];
                let released = (0..i).any(|j| {
                    let (r, w, _) = phase_switches(doc, j);
                    r || w
                        || matches!(
                            doc.phases[j].kind,
                            Some(
                                PhaseKind::Deploy
                                    | PhaseKind::CutoverReads
                                    | PhaseKind::CutoverWrites
                            )
                        )
                });
                let why = if ph.words.old_live {
                    "while, as the plan says, the old app version is still running"
                } else if !released {
                    "with no earlier phase that releases an app version no longer using it"
                } else {
                    continue;
                };
                let message = format!(
                    "{} {} {why}: every instance still using it fails as soon as the statement commits",
                    cx.name(i),
                    d.describe()
                );
                cx.push(
                    DESTRUCTIVE,
                    Severity::Error,
                    i,
                    message,
                    Some(text),
                    Some("contract only after every instance runs a version that no longer uses the old shape (check the deploy has finished, workers and cron jobs included)".into()),
                );
                cx.last_finding_table(d.table(), crate::engine::Lock::AccessExclusive);
            }
        }
    }
}

fn check_constraint_before_backfill(cx: &mut Reviewer) {
    let mut added = HashSet::new();
    let mut created = HashSet::new();
    let mut fills: Vec<(usize, usize, String, Vec<String>)> = Vec::new();
    for (k, ev) in cx.events.iter().enumerate() {
        if cx.is_backfill(ev, &added, &created) {
            if let Some(w) = &ev.st.facts.write {
                fills.push((k, ev.phase, w.table.clone(), w.columns.clone()));
            }
        }
        for a in &ev.st.facts.added_columns {
            added.insert(a.clone());
        }
        if let Some(t) = &ev.st.facts.creates_table {
            created.insert(t.clone());
        }
    }
    let mut not_valid: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut indexes: HashMap<String, Vec<String>> = HashMap::new();
    let mut found = Vec::new();
    for (k, ev) in cx.events.iter().enumerate() {
        let f = &ev.st.facts;
        for (t, n, w) in &f.not_valid {
            not_valid.insert((t.clone(), n.clone()), w.clone());
        }
        if let Some((n, _, cols)) = &f.index {
            indexes.insert(n.clone(), cols.clone());
        }
        for e in &f.enforces {
            for (fk, fp, ft, fcols) in &fills {
                if *fk <= k || *ft != e.table {
                    continue;
                }
                let mut words: Vec<String> = e.columns.clone();
                words.extend(e.expr_words.iter().cloned());
                if let Some(ix) = &e.index {
                    words.extend(indexes.get(ix).cloned().unwrap_or_default());
                }
                if let Some(c) = &e.constraint {
                    match not_valid.get(&(e.table.clone(), c.clone())) {
                        Some(w) => words.extend(w.iter().cloned()),
                        None => words.extend(c.split('_').map(str::to_string)),
                    }
                }
                if let Some(col) = fcols.iter().find(|c| words.contains(c)) {
                    found.push((
                        ev.phase,
                        *fp,
                        e.what.clone(),
                        col.clone(),
                        e.table.clone(),
                        ev.st.text.clone(),
                    ));
                    break;
                }
            }
        }
    }
    for (p, fp, what, col, table, text) in found {
        let when = if fp == p {
            "a later step of the same phase".to_string()
        } else {
            cx.name(fp)
        };
        let message = format!(
            "{} runs {what} before {when} backfills {table}.{col}: existing rows do not satisfy it yet, so it fails in production (after passing on a small or empty staging table), holding its lock while it scans",
            cx.name(p)
        );
        cx.push(
            CONSTRAINT_FIRST,
            Severity::Error,
            p,
            message,
            Some(&text),
            Some(format!(
                "enforce it after the backfill of {table}.{col}: if new rows must comply now, ADD CONSTRAINT ... NOT VALID here and VALIDATE CONSTRAINT after the backfill (for NOT NULL: CHECK ({col} IS NOT NULL) NOT VALID, VALIDATE, then SET NOT NULL)"
            )),
        );
        cx.last_finding_table(&table, crate::engine::Lock::AccessExclusive);
    }
}

fn check_schema_change_with_backfill(cx: &mut Reviewer) {
    let mut added = HashSet::new();
    let mut created_plan = HashSet::new();
    // Per phase: the first blocking DDL and the first backfill.
    let mut ddl: HashMap<usize, (usize, String, String)> = HashMap::new();
    let mut fill: HashMap<usize, (usize, String)> = HashMap::new();
    let mut created_here: HashMap<usize, HashSet<String>> = HashMap::new();
    for ev in &cx.events {
        let f = &ev.st.facts;
        let here = created_here.entry(ev.phase).or_default();
        if let Some(t) = &f.blocking_ddl {
            if !here.contains(t) && ev.body.is_none_or(|b| b.routine.is_none()) {
                ddl.entry(ev.phase)
                    .or_insert((ev.unit, t.clone(), ev.st.text.clone()));
            }
        }
        if let Some(t) = &f.creates_table {
            here.insert(t.clone());
        }
        if cx.is_backfill(ev, &added, &created_plan) {
            fill.entry(ev.phase)
                .or_insert((ev.unit, ev.st.text.clone()));
        }
        for a in &f.added_columns {
            added.insert(a.clone());
        }
        if let Some(t) = &f.creates_table {
            created_plan.insert(t.clone());
        }
    }
    let mut phases: Vec<usize> = ddl
        .keys()
        .filter(|p| fill.contains_key(p))
        .copied()
        .collect();
    phases.sort_unstable();
    for p in phases {
        let (du, table, dtext) = &ddl[&p];
        let (fu, ftext) = &fill[&p];
        let place = if du == fu {
            "in the same step (one transaction)"
        } else {
            "in the same phase"
        };
        let message = format!(
            "{} holds DDL on {table} (`{}`) and a backfill (`{}`) {place}: run as one migration, the DDL lock is held, or queued with every query behind it, for the whole backfill",
            cx.name(p),
            snippet(dtext),
            snippet(ftext)
        );
        let dtext = dtext.clone();
        cx.push(
            DDL_WITH_BACKFILL,
            Severity::Error,
            p,
            message,
            Some(&dtext),
            Some("split it: the DDL in its own short phase under lock_timeout (with retries), then the batched backfill in the next phase".into()),
        );
        let table = table.clone();
        cx.last_finding_table(&table, crate::engine::Lock::AccessExclusive);
    }
}

fn check_validation_and_abort(cx: &mut Reviewer) {
    for (i, ph) in cx.doc.phases.iter().enumerate() {
        let sql = ph.forward.iter().any(Unit::changes);
        if ph.validations == 0 {
            let (severity, why) = if sql {
                (Severity::Warning, "nothing proves its SQL did what the phase claims before the next phase builds on it")
            } else {
                (Severity::Info, "an app release with no SQL: a query showing the release took effect (the old shape no longer written, the new one filled) still helps")
            };
            let message = format!("{} has no validation query: {why}", cx.name(i));
            let fix = validation_example(ph);
            cx.push(NO_VALIDATION, severity, i, message, None, fix);
        }
        if !ph.abort {
            let message = format!(
                "{} has no abort criteria: nothing says in advance which signal (a statement giving up after its retries, error rate, p99 latency, replication lag) stops the rollout and what to do then",
                cx.name(i)
            );
            let fix = if ph.kind == Some(PhaseKind::Backfill) {
                "abort when replication lag or app p99 latency passes your alert threshold: cancel the backfill (committed batches stay), raise the pause, resume"
            } else if sql {
                "abort when a statement gives up after its lock_timeout retries (find the blocking transaction in pg_stat_activity) or app errors rise after the change: run the rollback"
            } else {
                "abort when the new version's error rate or latency rises: redeploy the previous version"
            };
            cx.push(
                NO_ABORT,
                Severity::Warning,
                i,
                message,
                None,
                Some(fix.into()),
            );
        }
    }
}

/// A validation query for what the phase does, when it is plain enough to write.
fn validation_example(ph: &Ph) -> Option<String> {
    use crate::plan::sql::{column_exists, column_not_null};
    for st in ph
        .forward
        .iter()
        .flat_map(|u| u.stmts.iter())
        .flat_map(|s| std::iter::once(s).chain(s.body.iter().flat_map(|b| b.stmts.iter())))
    {
        let f = &st.facts;
        if let Some((t, c)) = f.added_columns.first() {
            return Some(format!("{} -- expect 1", column_exists(t, c)));
        }
        if let Some(Destroy::DropColumn { table, column }) = f.destroys.first() {
            return Some(format!("{} -- expect 0", column_exists(table, column)));
        }
        if let Some(e) = f.enforces.first() {
            if e.what.starts_with("SET NOT NULL") {
                if let Some(c) = e.columns.first() {
                    return Some(format!("{} -- expect 1", column_not_null(&e.table, c)));
                }
            }
        }
        if let Some(w) = &f.write {
            if let Some(c) = w.columns.first() {
                return Some(format!(
                    "SELECT count(*) FROM {} WHERE {c} IS NULL -- expect 0",
                    w.table
                ));
            }
        }
    }
    None
}

fn check_cutover(cx: &mut Reviewer) {
    let doc = cx.doc;
    for (i, ph) in doc.phases.iter().enumerate() {
        let (_, switches_writes, coupled) = phase_switches(doc, i);
        if coupled {
            let message = format!(
                "{} switches reads and writes to the new shape at once: there is no state in which reads of the new shape are checked while the old one is still the source of truth, and undoing it means the writes made since exist only in the new shape",
                cx.name(i)
            );
            cx.push(
                COUPLED,
                Severity::Warning,
                i,
                message,
                None,
                Some("split it: release a version that reads the new shape while still writing the old (kept in sync), check, then a version that writes the new shape".into()),
            );
            continue;
        }
        let writes = ph.kind == Some(PhaseKind::CutoverWrites) || switches_writes;
        let rp = ph.rollback_point.trim().to_lowercase();
        let no_point = trivial(&rp) || rp.starts_with("none") || rp.starts_with("no ");
        if writes && ph.rollback.is_empty() && !ph.rollback_text && no_point {
            let what = if ph.generic_cutover {
                "cuts over"
            } else {
                "switches writes to the new shape"
            };
            let message = format!(
                "{} {what} with no rollback point: nothing says how to return to the previous version once writes go to the new shape, or whether the old shape is kept current meanwhile",
                cx.name(i)
            );
            cx.push(
                COUPLED,
                Severity::Warning,
                i,
                message,
                None,
                Some("state the rollback point: e.g. \"redeploy the previous version: the sync trigger keeps the old shape current\", and keep that sync until the contract phase".into()),
            );
        }
    }
}

fn check_backfills(cx: &mut Reviewer) {
    let mut added = HashSet::new();
    let mut created = HashSet::new();
    let mut found = Vec::new();
    // (phase, unit, table) of top-level backfills inside one explicit transaction.
    let mut txn_writes: HashMap<(usize, usize, String), usize> = HashMap::new();
    for ev in &cx.events {
        let f = &ev.st.facts;
        if cx.is_backfill(ev, &added, &created) {
            if let Some(w) = &f.write {
                let mut why = Vec::new();
                if !w.todo {
                    why.push(if w.insert {
                        "it has no ON CONFLICT or NOT EXISTS, so a rerun after a failure inserts every row again".to_string()
                    } else {
                        format!(
                            "it has no predicate that skips rows already done (`{} IS NULL`, `IS DISTINCT FROM`, `<>`), so a rerun rewrites every row",
                            w.columns.first().cloned().unwrap_or_default()
                        )
                    });
                }
                if !w.batched {
                    why.push(format!("it is one statement over all of {}: one long transaction holding row locks on every row it touches, bloating the table and lagging replicas", w.table));
                }
                if w.limit {
                    if cx.opts.engine == Engine::Postgres {
                        why.push("PostgreSQL has no UPDATE ... LIMIT: the statement fails".into());
                    } else if !w.ordered {
                        why.push("UPDATE ... LIMIT without ORDER BY picks arbitrary rows, unsafe for statement-based replication".into());
                    }
                }
                if let Some(b) = ev.body {
                    if b.loops && !b.commits {
                        why.push("its batches loop inside one DO block or routine without COMMIT, so they all run in one transaction".into());
                    } else if b.commits && ev.in_txn && b.routine.is_some() {
                        why.push("the procedure COMMITs per batch but is called inside a transaction, where COMMIT fails (invalid transaction termination): call it outside any transaction block".into());
                    }
                } else if ev.in_txn {
                    let n = txn_writes
                        .entry((ev.phase, ev.unit, w.table.clone()))
                        .or_insert(0);
                    *n += 1;
                    if *n > 1 {
                        why.push("several batches run in one transaction, which holds every batch's row locks until it commits".into());
                    }
                }
                if !why.is_empty() {
                    found.push((ev.phase, ev.st.text.clone(), w.clone(), why));
                }
            }
        }
        for a in &f.added_columns {
            added.insert(a.clone());
        }
        if let Some(t) = &f.creates_table {
            created.insert(t.clone());
        }
    }
    for (p, text, w, why) in found {
        let message = format!(
            "{} backfills {} so that it is not safe to run or rerun on a live table: {}",
            cx.name(p),
            w.table,
            why.join("; ")
        );
        let fix = batched_fix(&text, &w, cx.opts.engine);
        cx.push(BACKFILL, Severity::Error, p, message, Some(&text), fix);
        cx.last_finding_table(&w.table, crate::engine::Lock::RowExclusive);
    }
}

/// The backfill rewritten as keyset batches, one transaction each, rows still
/// to do only (PostgreSQL, single-table UPDATE that sqlparser reads).
fn batched_fix(text: &str, w: &Write, engine: Engine) -> Option<String> {
    use sqlparser::ast::{Statement, UpdateTableFromKind};
    if engine != Engine::Postgres || w.insert {
        return None;
    }
    crate::sqldepth::check_sql(text, engine).ok()?;
    let dialect = crate::sqltext::dialect(engine);
    let stmt = sqlparser::parser::Parser::parse_sql(dialect.as_ref(), text)
        .ok()?
        .pop()?;
    let Statement::Update(u) = stmt else {
        return None;
    };
    let target = u.table.to_string();
    let qual = w.alias.clone().unwrap_or_else(|| w.table.clone());
    let targets: Vec<String> = u.assignments.iter().map(|a| a.target.to_string()).collect();
    let values: Vec<String> = u.assignments.iter().map(|a| a.value.to_string()).collect();
    let sets = u
        .assignments
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if targets.iter().any(|t| t.starts_with('(')) {
        return None;
    }
    let todo = format!(
        "ROW({}) IS DISTINCT FROM ROW({})",
        targets
            .iter()
            .map(|t| format!("{qual}.{t}"))
            .collect::<Vec<_>>()
            .join(", "),
        values.join(", ")
    );
    let from = match &u.from {
        Some(UpdateTableFromKind::AfterSet(f)) | Some(UpdateTableFromKind::BeforeSet(f)) => {
            format!(
                " FROM {}",
                f.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        None => String::new(),
    };
    let extra = u
        .selection
        .as_ref()
        .map(|s| format!(" AND ({s})"))
        .unwrap_or_default();
    let settings = crate::plan::PlanOptions::default().settings().ok()?;
    let name = crate::plan::sql::object_name(&["schemashift_backfill", &w.table, &targets[0]]);
    let driver = w.table.clone();
    let kb = crate::plan::sql::keyset_backfill(
        &settings,
        &name,
        &driver,
        // The key is assumed: the procedure reads its type from the
        // catalog and stops unless the primary key is (id).
        &crate::plan::sql::KeysetKey {
            cols: vec![("id".to_string(), None)],
            verify: true,
        },
        &|lo, hi| {
            format!(
            "UPDATE {target} SET {sets}{from} WHERE {qual}.id >= {lo} AND {qual}.id <= {hi} AND {todo}{extra}"
        )
        },
    );
    Some(format!(
        "-- keyset batches by primary key (assumed: {table}.id, its type read from the catalog; the procedure stops if the primary key is not (id)), each committed on its own, touching only rows still to do\n{}\n-- outside any transaction block:\n{}\n{}",
        kb.procedure,
        kb.call,
        kb.drop,
        table = w.table
    ))
}

// ---------------------------------------------------------------------------
// The SQL rules over the plan's statements.

/// One statement placed in the source handed to the SQL rules.
struct Placed {
    /// First and last line in the source.
    from: usize,
    to: usize,
    /// Its line and column in the unit.
    line: usize,
    column: usize,
    /// SQL rules whose question the plan checks answer for this statement,
    /// in context, better than one file can: left out.
    answered: &'static [&'static str],
}

/// "Does a running app version still use what this removes?": the plan's
/// phases and app versions say (plan-destructive-outside-contract).
const ANSWERED_FOR_DROPS: &[&str] = &[
    "drop-column",
    "drop-table",
    "drop-view",
    "truncate-cascade",
    "rename-column",
    "rename-table",
];
/// "Is this backfill batched, and apart from DDL?": plan-non-idempotent-backfill
/// and plan-schema-change-with-backfill judge it over the whole phase.
const ANSWERED_FOR_BACKFILLS: &[&str] =
    &["unbatched-backfill", "backfill-in-same-transaction-as-ddl"];

/// Writes a unit as the SQL rules should see it: each step in its own
/// transaction (or none when it must run outside one), DO blocks as the
/// statements they run in one transaction. Returns the placed statements.
fn render_unit(
    u: &Unit,
    wrap: bool,
    judge: &dyn Fn(&St) -> &'static [&'static str],
    src: &mut String,
) -> Vec<Placed> {
    let mut placed = Vec::new();
    let mut line = src.matches('\n').count() + 1;
    let mut emit = |text: &str, at: Option<&St>, src: &mut String, line: &mut usize| {
        let n = text.matches('\n').count();
        if let Some(st) = at {
            placed.push(Placed {
                from: *line,
                to: *line + n,
                line: st.line,
                column: st.column,
                answered: judge(st),
            });
        }
        src.push_str(text);
        src.push_str(";\n");
        *line += n + 1;
    };
    let wrap = wrap && !u.has_explicit_txn();
    if wrap {
        emit("BEGIN", None, src, &mut line);
    }
    let mut explicit = false;
    for st in &u.stmts {
        if st.facts.begin {
            explicit = true;
        }
        match (&st.body, st.facts.is_do) {
            (Some(body), true) => {
                let own = !wrap && !explicit && !body.commits;
                if own {
                    emit("BEGIN", None, src, &mut line);
                }
                for inner in body.stmts.iter().filter(|s| !s.facts.pl_only) {
                    emit(&inner.text, Some(inner), src, &mut line);
                }
                if own {
                    emit("COMMIT", None, src, &mut line);
                }
            }
            _ => emit(&st.text, Some(st), src, &mut line),
        }
        if st.facts.end {
            explicit = false;
        }
    }
    if wrap {
        emit("COMMIT", None, src, &mut line);
    }
    placed
}

/// The SQL rules the plan checks answer for a statement: its drops and
/// renames in the forward SQL (plan-destructive-outside-contract reports the
/// unsafe ones) or in a rollback that only undoes what the plan made; its
/// backfill, when the plan checks treat it as one.
fn answered(
    st: &St,
    u: &Unit,
    rollback: bool,
    made: &Made,
    backfills: &HashSet<usize>,
) -> &'static [&'static str] {
    let d = &st.facts.destroys;
    let undoes = |d: &Destroy| made.made(d) || replaced(d, u) || takes_vacated(d, u);
    if !d.is_empty() && (!rollback || d.iter().all(undoes)) {
        ANSWERED_FOR_DROPS
    } else if !rollback && backfills.contains(&(st as *const St as usize)) {
        ANSWERED_FOR_BACKFILLS
    } else {
        &[]
    }
}

/// What the SQL rules need to know before a phase's statements and cannot
/// read from them: a column's current type the plan states (until a phase
/// changes it), and tables the plan created earlier that no app version
/// uses, which lock nobody out.
fn context_prefix(doc: &Doc, phase: usize) -> String {
    let mut out = String::new();
    let mut known = doc.known_types.clone();
    known.extend(restored_types(&doc.phases[phase]));
    for (t, c, ty) in &known {
        let col = c.to_lowercase();
        let changed = doc.phases[..phase].iter().any(|p| {
            p.forward.iter().flat_map(statements).any(|s| {
                let text = clean(&s.text);
                [
                    format!("alter column {col} type"),
                    format!("alter column {col} set data type"),
                    format!("alter {col} type"),
                ]
                .iter()
                .any(|pat| text.contains(pat.as_str()))
            })
        });
        if !changed {
            out.push_str(&format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty};\n"));
        }
    }
    let entries: Vec<String> = doc
        .phases
        .iter()
        .filter_map(|p| p.app.as_ref())
        .flatten()
        .flat_map(|a| a.reads.iter().chain(a.writes.iter()))
        .map(|e| e.trim().to_lowercase())
        .collect();
    let mut seen = HashSet::new();
    // Helper tables an earlier run of the plan made (a plan cut to one mode).
    for st in doc.phases[phase].forward.iter().flat_map(statements) {
        let f = &st.facts;
        let named = f
            .destroys
            .iter()
            .map(|d| d.table().to_string())
            .chain(f.blocking_ddl.iter().cloned());
        for t in named {
            if helper(&t) && seen.insert(t.clone()) {
                out.push_str(&format!("CREATE TABLE {t} ();\n"));
            }
        }
    }
    if doc.phases.iter().any(|p| p.app.is_some()) {
        for p in &doc.phases[..phase] {
            for st in p.forward.iter().flat_map(statements) {
                if let Some(t) = &st.facts.creates_table {
                    let used = entries
                        .iter()
                        .any(|e| e == t || e.starts_with(&format!("{t}.")));
                    if !used && seen.insert(t.clone()) {
                        out.push_str(&format!("CREATE TABLE {t} ();\n"));
                    }
                }
            }
        }
    }
    out
}

static RE_TYPE_CHANGE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^alter table (?:if exists )?(?:only )?({NAME}) alter (?:column )?([a-z_][a-z0-9_$]*) (?:set data )?type (.+?)(?: using .*)?$"
    ))
});

/// Column types a phase's rollback restores for columns its forward SQL
/// retypes: the type each column has before the phase.
fn restored_types(ph: &Ph) -> Vec<(String, String, String)> {
    let changes = |units: &[Unit]| -> Vec<(String, String, String)> {
        units
            .iter()
            .flat_map(statements)
            .filter_map(|s| {
                let c = clean(&s.text);
                RE_TYPE_CHANGE
                    .captures(&c)
                    .map(|m| (last(&m[1]), m[2].to_string(), m[3].trim().to_string()))
            })
            .collect()
    };
    let forward = changes(&ph.forward);
    changes(&ph.rollback)
        .into_iter()
        .filter(|(t, c, _)| forward.iter().any(|(ft, fc, _)| ft == t && fc == c))
        .collect()
}

fn review_statements(cx: &mut Reviewer) -> usize {
    let opts = ReviewOptions {
        assume_in_transaction: false,
        ..cx.opts.clone()
    };
    let mut count = 0;
    let mut found = Vec::new();
    for (pi, ph) in cx.doc.phases.iter().enumerate() {
        let all: Vec<(bool, usize, &Unit)> = ph
            .forward
            .iter()
            .enumerate()
            .map(|(i, u)| (false, i, u))
            .chain(ph.rollback.iter().enumerate().map(|(i, u)| (true, i, u)))
            .collect();
        let made = Made::upto(cx.doc, pi);
        let prefix = context_prefix(cx.doc, pi);
        for k in 0..all.len() {
            let mut src = prefix.clone();
            for (rollback, _, u) in &all[..k] {
                let judge = |st: &St| answered(st, u, *rollback, &made, &cx.backfills);
                render_unit(
                    u,
                    u.transactional.unwrap_or(cx.opts.assume_in_transaction),
                    &judge,
                    &mut src,
                );
            }
            let (rollback, index, unit) = all[k];
            let judge = |st: &St| answered(st, unit, rollback, &made, &cx.backfills);
            let placed = render_unit(
                unit,
                unit.transactional.unwrap_or(cx.opts.assume_in_transaction),
                &judge,
                &mut src,
            );
            count += placed.len();
            for mut f in review_sql(&src, None, &opts) {
                let Some(p) = placed.iter().find(|p| f.line >= p.from && f.line <= p.to) else {
                    continue;
                };
                if p.answered.contains(&f.rule.as_str()) {
                    continue;
                }
                let line_in_unit = p.line + (f.line - p.from);
                let column = if f.line == p.from {
                    p.column + f.column.saturating_sub(1)
                } else {
                    f.column
                };
                let step = if rollback { "rollback step" } else { "step" };
                f.message = format!("phase `{}`, {step} {}: {}", ph.id, index + 1, f.message);
                if rollback {
                    f.severity = match f.severity {
                        Severity::Error => Severity::Warning,
                        _ => Severity::Info,
                    };
                    f.message
                        .push_str(" (in the rollback: it runs only if the phase is undone)");
                }
                if cx.doc.markdown {
                    f.line = unit.line + line_in_unit - 1;
                    f.column = column;
                } else {
                    f.line = pi + 1;
                    f.column = 1;
                }
                found.push(f);
            }
        }
    }
    cx.out.extend(found);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::examples::EXAMPLES;
    use crate::change::ChangeInput;
    use crate::plan::{build_plan, PlanRequest};
    use serde_json::json;

    fn plan_for(request: &str) -> Plan {
        build_plan(&PlanRequest {
            input: ChangeInput::from_request(request),
            ..PlanRequest::default()
        })
        .unwrap_or_else(|e| panic!("{request}: {e}"))
    }

    /// A plan as JSON, to mutate the way a person editing it would.
    fn json_of(request: &str) -> Value {
        serde_json::to_value(plan_for(request)).expect("plans serialise")
    }

    fn phase<'a>(plan: &'a mut Value, id: &str) -> &'a mut Value {
        plan["phases"]
            .as_array_mut()
            .and_then(|a| a.iter_mut().find(|p| p["id"] == id))
            .unwrap_or_else(|| panic!("no phase {id}"))
    }

    fn review_json(plan: &Value) -> Review {
        review_plan_text(&plan.to_string(), &ReviewOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn review_md(text: &str) -> Review {
        review_plan_text(text, &ReviewOptions::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn of<'a>(r: &'a Review, rule: &str) -> Vec<&'a Finding> {
        r.findings.iter().filter(|f| f.rule == rule).collect()
    }

    fn serious(r: &Review) -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| {
                format!(
                    "{} [{}] line {}: {}",
                    f.rule,
                    f.severity.as_str(),
                    f.line,
                    f.message
                )
            })
            .collect()
    }

    /// Where build_plan's own output falls short of what the plan rules ask,
    /// as (request, rule, phase id). Each entry is a defect of the planner,
    /// not of the check; the test fails both on anything else and once an
    /// entry is fixed, so this list only shrinks.
    ///
    /// - The expand phase of every multi-phase plan has an empty `abort_when`,
    ///   while the one-phase plans of the same statements say when to stop
    ///   ("the statement gives up after its retries: find the blocking
    ///   transaction in pg_stat_activity"); an expand that installs a sync
    ///   trigger also needs "write latency rises: drop the trigger".
    /// - Widening varchar(100) to varchar(255) in place has as rollback the
    ///   narrowing back, which rewrites users under ACCESS EXCLUSIVE (checked
    ///   on PostgreSQL 15: relfilenode changes). A widening needs no rollback:
    ///   the rollback point "none needed: every old value still fits" is the
    ///   safe one.
    const KNOWN_PLAN_GAPS: &[(&str, &str, &str)] = &[];

    #[test]
    fn every_example_plan_comes_out_clean() {
        use crate::plan::{DualWrite, PlanMode, PlanOptions};
        let opts = ReviewOptions::default();
        let mut unexpected = Vec::new();
        let mut seen = HashSet::new();
        let variants = [
            (PlanMode::Plan, DualWrite::Trigger),
            (PlanMode::Plan, DualWrite::App),
            (PlanMode::Backfill, DualWrite::Trigger),
            (PlanMode::Cutover, DualWrite::Trigger),
            (PlanMode::Deprecate, DualWrite::Trigger),
        ];
        for e in EXAMPLES {
            for (form, input) in [
                ("request", ChangeInput::from_request(e.request)),
                ("sql", ChangeInput::from_sql(e.sql)),
            ] {
                for (mode, dual_write) in variants {
                    let built = build_plan(&PlanRequest {
                        input: input.clone(),
                        options: PlanOptions {
                            mode: Some(mode),
                            dual_write: Some(dual_write),
                            ..PlanOptions::default()
                        },
                        ..PlanRequest::default()
                    });
                    let plan = match built {
                        Ok(p) => p,
                        // A slice some changes do not have (no backfill to cut out).
                        Err(_) if mode != PlanMode::Plan => continue,
                        Err(err) => panic!("{}: {err}", e.request),
                    };
                    let typed = review_plan(&plan, &opts);
                    let text = serde_json::to_string(&plan).expect("plans serialise");
                    let from_text = review_plan_text(&text, &opts).expect("its own JSON is a plan");
                    assert_eq!(
                        typed, from_text,
                        "{}: JSON text and typed plan differ",
                        e.request
                    );
                    let markdown =
                        crate::render::render("plan", &plan, None).expect("plans render");
                    let from_md =
                        review_plan_text(&markdown, &opts).expect("its own Markdown is a plan");
                    // The Markdown rendering of a plan reads back as the same plan
                    // (hazard claims alike; Markdown may lack facts that only
                    // turn a note off, such as a column's old type).
                    let key = |r: &Review| {
                        let mut k: Vec<(String, Severity, String)> = r
                            .findings
                            .iter()
                            .filter(|f| f.severity > Severity::Info)
                            .map(|f| {
                                let phase = f.message.split('`').nth(1).unwrap_or("").to_string();
                                (f.rule.clone(), f.severity, phase)
                            })
                            .collect();
                        k.sort();
                        k
                    };
                    assert_eq!(
                        key(&typed),
                        key(&from_md),
                        "{} ({form}, {mode:?}, {dual_write:?}): JSON and Markdown reviews differ",
                        e.request
                    );
                    assert_eq!(typed.statements, from_md.statements, "{}", e.request);
                    for (how, r) in [("json", &typed), ("markdown", &from_md)] {
                        for f in r.findings.iter().filter(|f| f.severity > Severity::Info) {
                            let phase = plan
                                .phases
                                .iter()
                                .find(|p| f.message.contains(&format!("`{}`", p.id)))
                                .map_or("?", |p| p.id.as_str());
                            let known = KNOWN_PLAN_GAPS
                                .iter()
                                .find(|k| k.0 == e.request && k.1 == f.rule && k.2 == phase);
                            if let Some(k) = known {
                                seen.insert(*k);
                            } else {
                                unexpected.push(format!(
                                    "{} ({form}, {mode:?}, {dual_write:?}, {how}): {} [{}] {}",
                                    e.request,
                                    f.rule,
                                    f.severity.as_str(),
                                    f.message
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            unexpected.is_empty(),
            "findings on our own plans:\n{}",
            unexpected.join("\n")
        );
        let fixed: Vec<_> = KNOWN_PLAN_GAPS
            .iter()
            .filter(|k| !seen.contains(*k))
            .collect();
        assert!(
            fixed.is_empty(),
            "these planner gaps are fixed: remove them from KNOWN_PLAN_GAPS: {fixed:?}"
        );
    }

    // ---- JSON: each check on a build_plan output with one thing broken ----

    #[test]
    fn json_phase_without_rollback() {
        let good = json_of("rename users.username to handle");
        assert!(of(&review_json(&good), NO_ROLLBACK).is_empty());
        let mut bad = good.clone();
        phase(&mut bad, "p1-expand")["rollback"] = json!([]);
        let r = review_json(&bad);
        let f = of(&r, NO_ROLLBACK);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!((f[0].line, f[0].column), (1, 1));
        assert!(f[0].message.contains("`p1-expand`"), "{}", f[0].message);
        assert_eq!(r.verdict, super::super::Verdict::Stop);
        // A data-loss statement, or a rollback point saying why none is needed, is enough.
        let mut said = bad.clone();
        phase(&mut said, "p1-expand")["rollback_point"] =
            json!("none needed: the new column is unused and stays harmless");
        assert!(of(&review_json(&said), NO_ROLLBACK).is_empty());
        phase(&mut bad, "p1-expand")["data_loss"] = json!("handle is dropped with its values");
        assert!(of(&review_json(&bad), NO_ROLLBACK).is_empty());
    }

    #[test]
    fn json_drop_outside_contract() {
        let good = json_of("rename users.username to handle");
        assert!(of(&review_json(&good), DESTRUCTIVE).is_empty());
        let mut bad = good.clone();
        let drop = phase(&mut bad, "p6-contract")["forward"][0].clone();
        phase(&mut bad, "p2-backfill")["forward"]
            .as_array_mut()
            .unwrap()
            .push(drop);
        let r = review_json(&bad);
        let f = of(&r, DESTRUCTIVE);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 2);
        assert!(
            f[0].message
                .contains("`p2-backfill` drops users.username outside the contract phase"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].table.as_deref(), Some("users"));
        // The SQL rule on the same statement is left to the plan check: one finding.
        assert!(of(&r, "drop-column").is_empty());
    }

    #[test]
    fn json_contract_while_old_version_is_live_or_before_cutover() {
        let mut live = json_of("rename users.username to handle");
        phase(&mut live, "p6-contract")["app"]
            .as_array_mut()
            .unwrap()
            .insert(
                0,
                json!({"version": "v2", "reads": ["users.handle"], "writes": ["users.username"]}),
            );
        let r = review_json(&live);
        let f = of(&r, DESTRUCTIVE);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("v2 writes users.username"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 6);

        let mut early = json_of("rename users.username to handle");
        let phases = early["phases"].as_array_mut().unwrap();
        let contract = phases.remove(5);
        phases.insert(3, contract);
        let r = review_json(&early);
        let f = of(&r, DESTRUCTIVE);
        assert!(
            f.iter()
                .any(|f| f.message.contains("before phase `p4-cutover-reads`")),
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn json_constraint_before_backfill() {
        let good = json_of("add non-null org_id to invoices from accounts.organisation_id");
        assert!(of(&review_json(&good), CONSTRAINT_FIRST).is_empty());
        let mut bad = good.clone();
        phase(&mut bad, "p1-expand")["forward"]
            .as_array_mut()
            .unwrap()
            .push(json!({"sql": "ALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;", "transactional": true}));
        let r = review_json(&bad);
        let f = of(&r, CONSTRAINT_FIRST);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message
                .contains("SET NOT NULL on invoices.org_id before phase `p3-backfill`"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 1);
        // NOT VALID first is the safe form.
        let mut not_valid = good.clone();
        phase(&mut not_valid, "p1-expand")["forward"]
            .as_array_mut()
            .unwrap()
            .push(json!({"sql": "ALTER TABLE invoices ADD CONSTRAINT invoices_org_id_not_null CHECK (org_id IS NOT NULL) NOT VALID;", "transactional": true}));
        assert!(of(&review_json(&not_valid), CONSTRAINT_FIRST).is_empty());
    }

    #[test]
    fn json_schema_change_with_backfill() {
        let good = json_of("rename users.username to handle");
        assert!(of(&review_json(&good), DDL_WITH_BACKFILL).is_empty());
        let mut bad = good.clone();
        phase(&mut bad, "p2-backfill")["forward"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"sql": "ALTER TABLE users ADD COLUMN handle_lower text;", "transactional": true}));
        let r = review_json(&bad);
        let f = of(&r, DDL_WITH_BACKFILL);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("`p2-backfill` holds DDL on users"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn json_validation_and_abort_criteria() {
        let mut plan = json_of("rename users.username to handle");
        let r = review_json(&plan);
        // The write cutover is an app release without SQL: a note, not a warning.
        let notes = of(&r, NO_VALIDATION);
        assert_eq!(notes.len(), 1, "{:#?}", r.findings);
        assert_eq!((notes[0].severity, notes[0].line), (Severity::Info, 5));
        phase(&mut plan, "p2-backfill")["validation"] = json!([]);
        phase(&mut plan, "p2-backfill")["abort_when"] = json!([]);
        let r = review_json(&plan);
        let v: Vec<_> = of(&r, NO_VALIDATION)
            .into_iter()
            .filter(|f| f.line == 2)
            .collect();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
        let a: Vec<_> = of(&r, NO_ABORT)
            .into_iter()
            .filter(|f| f.line == 2)
            .collect();
        assert_eq!(a.len(), 1);
        assert!(a[0].fix.as_deref().unwrap().contains("replication lag"));
    }

    #[test]
    fn json_coupled_cutover() {
        let good = json_of("rename users.username to handle");
        assert!(of(&review_json(&good), COUPLED).is_empty());
        // v2 reads and writes handle at once.
        let mut both = good.clone();
        phase(&mut both, "p4-cutover-reads")["app"][1]["writes"] = json!(["users.handle"]);
        let r = review_json(&both);
        let f = of(&r, COUPLED);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 4);
        assert!(f[0].message.contains("switches reads and writes"));
        // A write cutover with no rollback point.
        let mut nowhere = good.clone();
        phase(&mut nowhere, "p5-cutover-writes")["rollback_point"] = json!("none");
        let r = review_json(&nowhere);
        let f = of(&r, COUPLED);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(f[0].message.contains("no rollback point"));
        // The rename-with-view plan switches both names at once, but the view
        // makes them the same rows: not a coupled cutover.
        assert!(of(
            &review_json(&json_of("rename table audit_log to audit_events")),
            COUPLED
        )
        .is_empty());
    }

    #[test]
    fn json_non_idempotent_backfill() {
        let good = json_of("rename users.username to handle");
        assert!(of(&review_json(&good), BACKFILL).is_empty());
        let one = |sql: &str| {
            let mut p = good.clone();
            phase(&mut p, "p2-backfill")["forward"] = json!([{"sql": sql, "transactional": true}]);
            review_json(&p)
        };
        let r = one("UPDATE users SET handle = username;");
        let f = of(&r, BACKFILL);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("skips rows already done"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("one statement over all of users"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("CREATE PROCEDURE")
                && fix.contains("COMMIT")
                && fix.contains("IS DISTINCT FROM"),
            "{fix}"
        );
        // Batched but not resumable.
        let r = one("UPDATE users SET handle = username WHERE id BETWEEN 1 AND 5000;");
        let f = of(&r, BACKFILL);
        assert_eq!(f.len(), 1);
        assert!(
            !f[0].message.contains("one statement over all"),
            "{}",
            f[0].message
        );
        // LIMIT does not exist on PostgreSQL UPDATE.
        let r = one("UPDATE users SET handle = username WHERE handle IS NULL LIMIT 1000;");
        assert!(of(&r, BACKFILL)[0].message.contains("no UPDATE ... LIMIT"));
        // Every batch in one DO block: one transaction.
        let r = one("DO $$\nDECLARE n bigint;\nBEGIN\n  LOOP\n    UPDATE users SET handle = username WHERE id IN (SELECT id FROM users WHERE handle IS NULL LIMIT 1000);\n    GET DIAGNOSTICS n = ROW_COUNT;\n    EXIT WHEN n = 0;\n  END LOOP;\nEND\n$$;");
        let f = of(&r, BACKFILL);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("all run in one transaction"),
            "{}",
            f[0].message
        );
        // The planner's own procedure, CALLed inside a transaction, cannot COMMIT.
        let mut in_txn = good.clone();
        phase(&mut in_txn, "p2-backfill")["forward"][1]["transactional"] = json!(true);
        let r = review_json(&in_txn);
        assert!(
            of(&r, BACKFILL)[0]
                .message
                .contains("called inside a transaction"),
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn json_sql_rules_run_on_each_step() {
        let mut plan = json_of("add column users.nickname text");
        phase(&mut plan, "p1-expand")["forward"]
            .as_array_mut()
            .unwrap()
            .push(json!({"sql": "CREATE INDEX users_nickname_idx ON users (nickname);", "transactional": true}));
        let r = review_json(&plan);
        let f = of(&r, "create-index-non-concurrent");
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!((f[0].line, f[0].column), (1, 1));
        assert!(
            f[0].message.starts_with("phase `p1-expand`, step 2: "),
            "{}",
            f[0].message
        );
        // CONCURRENTLY is fine in a step marked non-transactional, and flagged in one that is not.
        let concurrent = |transactional: bool| {
            let mut p = json_of("add column users.nickname text");
            phase(&mut p, "p1-expand")["forward"]
                .as_array_mut()
                .unwrap()
                .push(json!({
                    "sql": "CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);",
                    "transactional": transactional
                }));
            of(&review_json(&p), "concurrent-index-in-transaction").len()
        };
        assert_eq!(concurrent(false), 0);
        assert_eq!(concurrent(true), 1);
    }

    #[test]
    fn rollback_findings_count_one_level_less() {
        let mut plan = json_of("add column users.nickname text");
        phase(&mut plan, "p1-expand")["rollback"]
            .as_array_mut()
            .unwrap()
            .push(json!({"sql": "CREATE INDEX users_nickname_idx ON users (nickname);", "transactional": true}));
        let r = review_json(&plan);
        let f = of(&r, "create-index-non-concurrent");
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("rollback step 2"), "{}", f[0].message);
    }

    #[test]
    fn json_that_is_not_a_plan_says_what_is_missing() {
        let err = review_plan_text(
            r#"{"change_type": "rename_column", "risk": "high"}"#,
            &ReviewOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("lacks `phases`") && err.contains("change_type"),
            "{err}"
        );
        let err = review_plan_text(
            r#"{"phases": [{"id": "p1", "title": "x"}]}"#,
            &ReviewOptions::default(),
        )
        .unwrap_err();
        assert!(err.contains("phase 1 of the plan lacks `forward`"), "{err}");
        let err = review_plan_text(
            r#"{"phases": [{"id": "p1", "forward": [{"transactional": true}]}]}"#,
            &ReviewOptions::default(),
        )
        .unwrap_err();
        assert!(err.contains("forward step 1 lacks `sql`"), "{err}");
        let err = review_plan_text("{not json", &ReviewOptions::default()).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
        let err = review_plan_text("just some words\n", &ReviewOptions::default()).unwrap_err();
        assert!(err.contains("not a plan"), "{err}");
    }

    #[test]
    fn excluded_rules_are_not_reported() {
        let mut plan = json_of("rename users.username to handle");
        phase(&mut plan, "p1-expand")["rollback"] = json!([]);
        let opts = ReviewOptions {
            exclude: vec![NO_ROLLBACK.to_string(), NO_ABORT.to_string()],
            ..ReviewOptions::default()
        };
        let r = review_plan_text(&plan.to_string(), &opts).unwrap();
        assert!(of(&r, NO_ROLLBACK).is_empty() && of(&r, NO_ABORT).is_empty());
    }

    // ---- Markdown written by a person ----

    /// A careful plan: every phase has its SQL, rollback, checks and stop signal.
    const GOOD_MD: &str = "# Rename users.username to handle

## Phase 1: Expand

Add the new column and a trigger that keeps both in sync.

```sql
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN handle text;
```

Rollback: `ALTER TABLE users DROP COLUMN handle;`

Validate: `SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'handle'` returns 1.

Abort if the ALTER keeps timing out: find the blocking transaction first.

## Phase 2: Backfill

```sql
UPDATE users SET handle = username
WHERE id IN (SELECT id FROM users WHERE handle IS DISTINCT FROM username ORDER BY id LIMIT 5000);
```

Run it in a loop, one batch per transaction, until it updates 0 rows.

- Rollback: none needed, nothing reads handle yet and the old column is untouched
- Check: `SELECT count(*) FROM users WHERE handle IS DISTINCT FROM username` should return 0
- Abort if replication lag goes above 10 s: stop the loop and resume later.

## Phase 3: Switch reads

Deploy v2, which reads handle and still writes username (the trigger copies it).

- Verify: `SELECT count(*) FROM users WHERE handle IS DISTINCT FROM username` returns 0
- Abort if v2 shows wrong names: redeploy v1.

## Phase 4: Switch writes

Deploy v3, which writes handle only.

- Rollback point: redeploy v2; the trigger keeps username current.
- Check: `SELECT count(*) FROM users WHERE handle IS NULL` must be 0
- Abort if writes fail: redeploy v2.

## Phase 5: Contract

Once no instance runs v1 or v2 any more, drop the old column.

```sql
SET lock_timeout = '2s';
ALTER TABLE users DROP COLUMN username;
```

- Data loss: username is gone; its values live on in handle.
- Check: `SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'username'` returns 0
- Abort if anything still reads username: keep it and find the reader.
";

    #[test]
    fn a_careful_markdown_plan_passes() {
        let r = review_md(GOOD_MD);
        assert!(serious(&r).is_empty(), "{:#?}", serious(&r));
        assert_eq!(r.verdict, super::super::Verdict::Proceed);
    }

    #[test]
    fn markdown_rename_in_one_step() {
        let md = "# Rename username

## Step 1: Rename the column

```sql
ALTER TABLE users RENAME COLUMN username TO handle;
```

## Step 2: Deploy the app that uses handle
";
        let r = review_md(md);
        let f = of(&r, DESTRUCTIVE);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 3);
        assert!(
            f[0].message
                .contains("renames users.username to handle outside the contract phase"),
            "{}",
            f[0].message
        );
        assert_eq!(of(&r, NO_ROLLBACK).len(), 1);
        assert_eq!(r.verdict, super::super::Verdict::Stop);
    }

    #[test]
    fn markdown_set_not_null_before_the_backfill() {
        let md = "## Phase 1: Add the column

```sql
ALTER TABLE invoices ADD COLUMN org_id bigint;
ALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;
```

## Phase 2: Backfill

```sql
UPDATE invoices AS i SET org_id = a.organisation_id FROM accounts a
WHERE a.id = i.account_id AND i.id BETWEEN 1 AND 10000 AND i.org_id IS NULL;
```
";
        let r = review_md(md);
        let f = of(&r, CONSTRAINT_FIRST);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 1);
        assert!(
            f[0].message
                .contains("SET NOT NULL on invoices.org_id before phase `Phase 2: Backfill`"),
            "{}",
            f[0].message
        );
        // ... and the two statements of phase 1 share nothing with a backfill.
        assert!(of(&r, DDL_WITH_BACKFILL).is_empty());
        assert!(of(&r, BACKFILL).is_empty(), "{:#?}", of(&r, BACKFILL));
    }

    #[test]
    fn markdown_contract_while_the_old_version_is_still_running() {
        let md = "## Phase 1: Deploy v2

v2 no longer reads or writes legacy_flag.

## Phase 2: Contract

The old version is still running on a few pods, but the column can go now.

```sql
ALTER TABLE users DROP COLUMN legacy_flag;
```

Data loss: legacy_flag values are gone.
";
        let r = review_md(md);
        let f = of(&r, DESTRUCTIVE);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 5);
        assert!(
            f[0].message.contains("old app version is still running"),
            "{}",
            f[0].message
        );
        // Said the other way round, it is the safe order.
        let safe = md.replace(
            "The old version is still running on a few pods, but the column can go now.",
            "Once no instance runs the old version any more, drop it.",
        );
        assert!(of(&review_md(&safe), DESTRUCTIVE).is_empty());
        // A contract with nothing before it that stops the app using the column.
        let alone = "## Step 1: Drop the legacy column\n\n```sql\nALTER TABLE users DROP COLUMN legacy_flag;\n```\n";
        let r = review_md(alone);
        assert!(
            of(&r, DESTRUCTIVE)[0]
                .message
                .contains("no earlier phase that releases"),
            "{:#?}",
            r.findings
        );
    }

    #[test]
    fn markdown_single_statement_backfill() {
        let md = "## Phase 1: Expand

```sql
ALTER TABLE users ADD COLUMN email_lower text;
```

## Phase 2: Backfill

```sql
UPDATE users SET email_lower = lower(email);
```
";
        let r = review_md(md);
        let f = of(&r, BACKFILL);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!(f[0].line, 7);
        assert!(
            f[0].message.contains("`Phase 2: Backfill` backfills users"),
            "{}",
            f[0].message
        );
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("CALL schemashift_backfill_users_email_lower();"));
    }

    #[test]
    fn markdown_backfill_in_the_same_step_as_ddl() {
        let md = "## Phase 1: Add and fill

```sql
ALTER TABLE users ADD COLUMN email_lower text;
UPDATE users SET email_lower = lower(email) WHERE id BETWEEN 1 AND 1000 AND email_lower IS NULL;
```
";
        let r = review_md(md);
        let f = of(&r, DDL_WITH_BACKFILL);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("in the same step"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn markdown_reads_and_writes_switched_together() {
        let md = "## Phase 3: Cutover

Deploy v2, which switches reads and writes to handle.

- Check: `SELECT count(*) FROM users WHERE handle IS NULL` returns 0
- Abort if errors rise: redeploy v1.
";
        let r = review_md(md);
        let f = of(&r, COUPLED);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!((f[0].severity, f[0].line), (Severity::Warning, 1));
        // Reads first, then writes with a way back: silent.
        let split = "## Phase 3: Switch reads

Deploy v2, which reads from the new column; writes still go to username.

## Phase 4: Switch writes

Deploy v3, which starts writing to the new column.

Rollback point: redeploy v2, the trigger keeps username current.
";
        assert!(of(&review_md(split), COUPLED).is_empty());
        let no_way_back = split.replace(
            "Rollback point: redeploy v2, the trigger keeps username current.",
            "",
        );
        let r = review_md(&no_way_back);
        let f = of(&r, COUPLED);
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert!(
            f[0].message.contains("`Phase 4: Switch writes`")
                && f[0].message.contains("no rollback point")
        );
    }

    #[test]
    fn markdown_sql_findings_point_at_the_statement_line() {
        let md = "## Phase 1: Index

Rollback: drop the index.
Check: `SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_idx'` returns 1.
Abort if writes slow down.

```sql
-- the index for the login query
CREATE INDEX users_email_idx ON users (email);
```
";
        let r = review_md(md);
        let f = of(&r, "create-index-non-concurrent");
        assert_eq!(f.len(), 1, "{:#?}", r.findings);
        assert_eq!((f[0].line, f[0].column), (9, 1));
        assert!(
            f[0].message.starts_with("phase `Phase 1: Index`, step 1: "),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn markdown_without_phase_headings() {
        // Headings that hold SQL are the phases.
        let md = "# Migration\n\n## Add the column\n\n```sql\nALTER TABLE users ADD COLUMN nickname text;\n```\n\n## Fill it\n\n```sql\nUPDATE users SET nickname = username;\n```\n";
        let r = review_md(md);
        assert_eq!(of(&r, BACKFILL).len(), 1, "{:#?}", r.findings);
        assert!(of(&r, BACKFILL)[0].message.contains("`Fill it`"));
        // No headings at all: one phase.
        let r = review_md("```sql\nALTER TABLE users DROP COLUMN legacy;\n```\n");
        assert_eq!(of(&r, DESTRUCTIVE).len(), 1, "{:#?}", r.findings);
    }

    #[test]
    fn never_panics_on_cut_or_mangled_plans() {
        let plan = plan_for("split customers.address into street, city, zip");
        let md = crate::render::render("plan", &plan, None).expect("plans render");
        let json = serde_json::to_string(&plan).expect("plans serialise");
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for text in [md.as_str(), GOOD_MD, json.as_str()] {
            let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            for _ in 0..25 {
                let at = cuts[next() % cuts.len()];
                let noise = [
                    "$",
                    "$$",
                    "'",
                    "```",
                    "\"",
                    "é",
                    ";",
                    "(",
                    "\n## Phase 9: x\n",
                    "--",
                    "/*",
                ][next() % 11];
                let mangled = format!("{}{noise}{}", &text[..at], &text[at..]);
                let _ = review_plan_text(&mangled, &ReviewOptions::default());
                let _ = review_plan_text(&text[..at], &ReviewOptions::default());
            }
        }
    }
}
