//! The migration reviewer: SQL a person or another tool wrote, checked the
//! way a senior database engineer would. One rule per file in [`rules`];
//! every statement is split, parsed on its own and given its context
//! (transaction, lock_timeout, tables created earlier in the file) in
//! [`context`]; findings are formatted for people and CI in [`format`].

pub mod config;
pub mod context;
pub mod files;
pub mod format;
pub mod plan;
pub mod rules;
pub mod sources;

use crate::context::Engine;
use crate::engine::Lock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use context::{Ast, Ctx, Stmt};

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not a hazard: something the reviewer could not understand, or advice.
    Info,
    /// A hazard on a large or busy table, or one that depends on the app.
    Warning,
    /// Blocks traffic, breaks running app versions, or fails outright.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found in one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable kebab-case rule id, e.g. `rename-column`.
    pub rule: String,
    pub severity: Severity,
    /// What is wrong: the table, the lock it takes and what that blocks.
    pub message: String,
    /// The file the statement is in, when reviewing files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line and column of the statement.
    pub line: usize,
    pub column: usize,
    /// The statement (shortened).
    pub statement: String,
    /// The safe alternative, as SQL rewritten for this statement where possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The table concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The lock the statement takes on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
}

/// What to review against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewOptions {
    /// `postgres` (default) or `mysql`.
    #[serde(default)]
    pub engine: Engine,
    /// PostgreSQL major version the migration runs on (default 15).
    #[serde(default = "default_pg_version")]
    pub pg_version: u32,
    /// Treat each file as if the migration tool wraps it in one transaction
    /// (Rails, Django, Flyway, Alembic do by default).
    #[serde(default)]
    pub assume_in_transaction: bool,
    /// Rule ids not to report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

fn default_pg_version() -> u32 {
    15
}

impl Default for ReviewOptions {
    fn default() -> Self {
        ReviewOptions {
            engine: Engine::Postgres,
            pg_version: 15,
            assume_in_transaction: false,
            exclude: Vec::new(),
        }
    }
}

/// `proceed`, `revise` or `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing hazardous found.
    Proceed,
    /// Warnings: fix or accept them knowingly.
    Revise,
    /// Errors: do not run this as written.
    Stop,
}

/// The result of a review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    pub verdict: Verdict,
    /// Findings, most severe first, then in file order.
    pub findings: Vec<Finding>,
    /// Counts in a sentence.
    pub summary: String,
    /// How many statements were reviewed.
    pub statements: usize,
}

impl Review {
    pub fn from_findings(mut findings: Vec<Finding>, statements: usize) -> Review {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.file.cmp(&b.file))
                .then_with(|| a.line.cmp(&b.line))
                .then_with(|| a.column.cmp(&b.column))
        });
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let (e, w, i) = (
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
        );
        let verdict = if e > 0 {
            Verdict::Stop
        } else if w > 0 {
            Verdict::Revise
        } else {
            Verdict::Proceed
        };
        Review {
            verdict,
            summary: format!(
                "{statements} statement(s): {e} error(s), {w} warning(s), {i} note(s)"
            ),
            findings,
            statements,
        }
    }
}

/// Reviews one SQL source (a file's text). `file` names it in findings and
/// selects the migration tool's conventions (`.down.sql` files, dbmate sections).
pub fn review_sql(source: &str, file: Option<&str>, opts: &ReviewOptions) -> Vec<Finding> {
    review_counted(source, file, opts).0
}

/// [`review_sql`] and the number of statements reviewed, from one parse.
pub fn review_counted(
    source: &str,
    file: Option<&str>,
    opts: &ReviewOptions,
) -> (Vec<Finding>, usize) {
    let up = sources::up_section(source, file);
    if up.skip_file {
        return (Vec::new(), 0);
    }
    let ctx = Ctx::new(&up.text, up.line_offset, opts, up.in_transaction);
    let mut findings = Vec::new();
    for stmt in &ctx.stmts {
        if stmt.ignored_all {
            continue;
        }
        for rule in rules::ALL {
            if opts.exclude.iter().any(|x| x == rule.id) || stmt.ignores(rule.id) {
                continue;
            }
            if rule.engines.contains(&opts.engine) {
                (rule.check)(&ctx, stmt, &mut findings);
            }
        }
    }
    for f in &mut findings {
        f.file = file.map(str::to_string);
    }
    (findings, ctx.stmts.len())
}

/// Reviews one source and wraps the findings with a verdict.
pub fn review(source: &str, file: Option<&str>, opts: &ReviewOptions) -> Review {
    let (findings, statements) = review_counted(source, file, opts);
    Review::from_findings(findings, statements)
}
