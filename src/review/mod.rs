//! The migration reviewer: SQL a person or another tool wrote, checked the
//! way a senior database engineer would. One rule per file in [`rules`];
//! every statement is split, parsed on its own and given its context
//! (transaction, lock_timeout, tables created earlier in the file) in
//! [`context`]; findings are formatted for people and CI in [`format`].

pub mod config;
pub mod context;
pub mod files;
pub mod foreign;
pub mod format;
pub mod plan;
pub mod plpgsql;
pub mod rules;
pub mod sources;
pub(crate) mod subscripts;

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
    /// (Rails, Django, Flyway, Alembic do by default), as the file's tool
    /// does (see `sources::ToolWrap`): Flyway (`V1__x.sql`) not a file of
    /// only statements that cannot run in one, Prisma (`migration.sql`) not a
    /// file of one statement, sqlx not a file starting `-- no-transaction`.
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

/// `proceed`, `revise`, `unchecked` or `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing hazardous found, and every statement was read.
    Proceed,
    /// Warnings: fix or accept them knowingly.
    Revise,
    /// No error found, but some input could not be checked (a statement
    /// that does not parse, a `DO` block whose body cannot be read, a
    /// migration written in Ruby, Python or JavaScript): it may hold any
    /// hazard. Review that input by hand, or give the reviewer its SQL.
    Unchecked,
    /// Errors: do not run this as written.
    Stop,
}

/// Rules whose findings say that input was not checked: any of them makes
/// the verdict [`Verdict::Unchecked`] unless an error makes it `stop`.
pub const UNCHECKED_RULES: &[&str] = &["unparsed-statement", "unchecked-file"];

impl Finding {
    /// Whether this finding says that input was not checked.
    pub fn is_unchecked(&self) -> bool {
        UNCHECKED_RULES.contains(&self.rule.as_str())
    }
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
    /// The configuration file the review read, if any (the CLI's
    /// `schemashift.toml` or `--config`), and the rules it turns off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<config::ConfigUsed>,
    /// Findings found but not listed: a review lists at most
    /// [`MAX_LISTED`] of each severity, and counts the rest in `summary`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub findings_omitted: usize,
    /// Files found in a directory, or named, that were not reviewed, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<files::Skipped>,
}

/// Most findings of one severity a review lists: past that, more of them
/// say nothing new, and keeping them all made a large review hold gigabytes.
pub const MAX_LISTED: usize = 10_000;

fn is_zero(n: &usize) -> bool {
    *n == 0
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
        } else if findings.iter().any(Finding::is_unchecked) {
            Verdict::Unchecked
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
            config: None,
            findings_omitted: 0,
            skipped: Vec::new(),
        }
    }

    /// [`Review::from_findings`] of findings of which `omitted` (errors,
    /// warnings, notes) were found but not kept: the counts include them.
    pub fn with_omitted(findings: Vec<Finding>, statements: usize, omitted: [usize; 3]) -> Review {
        let mut review = Review::from_findings(findings, statements);
        let total: usize = omitted.iter().sum();
        if total == 0 {
            return review;
        }
        let count = |s: Severity| review.findings.iter().filter(|f| f.severity == s).count();
        let (e, w, i) = (
            count(Severity::Error) + omitted[0],
            count(Severity::Warning) + omitted[1],
            count(Severity::Info) + omitted[2],
        );
        if omitted[0] > 0 {
            review.verdict = Verdict::Stop;
        } else if omitted[1] > 0 && review.verdict == Verdict::Proceed {
            review.verdict = Verdict::Revise;
        }
        review.summary = format!(
            "{statements} statement(s): {e} error(s), {w} warning(s), {i} note(s); {total} finding(s) not listed (at most {MAX_LISTED} of each severity are)"
        );
        review.findings_omitted = total;
        review
    }

    /// [`Review::with_omitted`] of what a tally counted: a note saying that
    /// input was not checked makes the verdict `unchecked` (unless it is
    /// `stop`) even when it is one of those not listed.
    pub fn of_tally(findings: Vec<Finding>, statements: usize, tally: &Tally) -> Review {
        let mut review = Review::with_omitted(findings, statements, tally.omitted());
        if tally.unchecked() > 0 && review.verdict != Verdict::Stop {
            review.verdict = Verdict::Unchecked;
        }
        review
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
    review_kept(source, file, opts, None)
}

/// Findings kept and not kept so far, by severity (errors, warnings,
/// notes), shared by the review threads and across the files of a review.
#[derive(Debug, Default)]
pub struct Tally {
    kept: [std::sync::atomic::AtomicUsize; 3],
    omitted: [std::sync::atomic::AtomicUsize; 3],
    unchecked: std::sync::atomic::AtomicUsize,
}

impl Tally {
    fn slot(s: Severity) -> usize {
        match s {
            Severity::Error => 0,
            Severity::Warning => 1,
            Severity::Info => 2,
        }
    }

    /// Whether one more finding of this severity is listed; counts it.
    fn keep(&self, s: Severity) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let i = Self::slot(s);
        let keep = self.kept[i].fetch_add(1, Relaxed) < MAX_LISTED;
        if !keep {
            self.omitted[i].fetch_add(1, Relaxed);
        }
        keep
    }

    /// Counts a finding that says input was not checked, listed or not.
    fn saw(&self, f: &Finding) {
        if f.is_unchecked() {
            self.unchecked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Findings saying input was not checked, listed or not.
    pub fn unchecked(&self) -> usize {
        self.unchecked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Findings not kept: errors, warnings, notes.
    pub fn omitted(&self) -> [usize; 3] {
        self.omitted
            .each_ref()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// [`review_counted`] keeping at most [`MAX_LISTED`] findings of each
/// severity over everything `tally` has seen, the first in file order: a
/// review's memory then grows with what it lists, not with what it finds.
pub fn review_listed(
    source: &str,
    file: Option<&str>,
    opts: &ReviewOptions,
    tally: &Tally,
) -> (Vec<Finding>, usize) {
    review_kept(source, file, opts, Some(tally))
}

/// One parse and check of a source; with a tally, only the findings it keeps.
fn review_kept(
    source: &str,
    file: Option<&str>,
    opts: &ReviewOptions,
    tally: Option<&Tally>,
) -> (Vec<Finding>, usize) {
    if let Some(kind) = foreign::classify(source, file) {
        return review_not_sql(kind, source, file, opts, tally);
    }
    let up = sources::up_section(source, file);
    if up.skip_file {
        return (Vec::new(), 0);
    }
    let ctx = Ctx::split_wrapped_by(
        up.text,
        up.line_offset,
        opts,
        up.in_transaction,
        up.tool_wrap,
    );
    let statements = ctx.stmts.len();
    let mut findings = ctx.stream(|ctx, stmt, out| {
        let start = out.len();
        check(ctx, stmt, opts, out);
        if let Some(tally) = tally.filter(|_| out.len() > start) {
            let found: Vec<Finding> = out.drain(start..).collect();
            for f in &found {
                tally.saw(f);
            }
            out.extend(found.into_iter().filter(|f| tally.keep(f.severity)));
        }
    });
    for f in &mut findings {
        f.file = file.map(str::to_string);
    }
    (findings, statements)
}

/// A file that is not SQL: a Markdown plan is reviewed as a plan; code,
/// and a Markdown file holding no SQL, get an `unchecked-file` note.
fn review_not_sql(
    kind: foreign::NotSql,
    source: &str,
    file: Option<&str>,
    opts: &ReviewOptions,
    tally: Option<&Tally>,
) -> (Vec<Finding>, usize) {
    let (mut findings, statements) = match kind {
        foreign::NotSql::Markdown => match plan::review_plan_text(source, opts) {
            Ok(r) if r.statements > 0 => (r.findings, r.statements),
            Ok(_) => (
                vec![rules::unchecked_file::note(
                    source,
                    "a Markdown file with no SQL in it (neither ```sql fences nor statements in inline code): nothing was checked; give the reviewer the SQL the plan runs".to_string(),
                )],
                0,
            ),
            Err(e) => (
                vec![rules::unchecked_file::note(
                    source,
                    format!("this Markdown could not be read as a rollout plan, so nothing in it was checked: {e}"),
                )],
                0,
            ),
        },
        foreign::NotSql::Code(message) => (vec![rules::unchecked_file::note(source, message)], 0),
    };
    findings.retain(|f| !opts.exclude.contains(&f.rule));
    if let Some(tally) = tally {
        for f in &findings {
            tally.saw(f);
        }
        findings.retain(|f| tally.keep(f.severity));
    }
    for f in &mut findings {
        f.file = file.map(str::to_string);
    }
    (findings, statements)
}

/// Every rule that applies, on one statement.
fn check(ctx: &Ctx, stmt: &Stmt, opts: &ReviewOptions, findings: &mut Vec<Finding>) {
    if stmt.ignored_all {
        return;
    }
    for rule in rules::ALL {
        if opts.exclude.iter().any(|x| x == rule.id) || stmt.ignores(rule.id) {
            continue;
        }
        if rule.engines.contains(&opts.engine) {
            (rule.check)(ctx, stmt, findings);
        }
    }
}

/// Reviews one source and wraps the findings with a verdict, listing at
/// most [`MAX_LISTED`] of each severity.
pub fn review(source: &str, file: Option<&str>, opts: &ReviewOptions) -> Review {
    let tally = Tally::default();
    let (findings, statements) = review_listed(source, file, opts, &tally);
    Review::of_tally(findings, statements, &tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_lists_a_bounded_number_of_findings_and_counts_the_rest() {
        let sql: String = (0..MAX_LISTED + 7)
            .map(|i| format!("DROP TABLE t{i};\n"))
            .collect();
        let r = review(&sql, None, &ReviewOptions::default());
        let errors = r
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        assert_eq!(errors, MAX_LISTED);
        assert!(r.findings_omitted >= 7, "{}", r.findings_omitted);
        assert_eq!(r.verdict, Verdict::Stop);
        assert!(
            r.summary.contains(&format!("{} error(s)", MAX_LISTED + 7)),
            "{}",
            r.summary
        );
        // The first in file order are the ones listed.
        assert_eq!(r.findings[0].line, 1);
    }

    /// Statements of many kinds on few tables, columns and names, so that
    /// the rules' looks back at earlier statements find something.
    fn mixed_migration(seed: u64, n: usize) -> String {
        let mut state = seed;
        let mut below = |k: usize| {
            // xorshift64: the same file every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % k as u64) as usize
        };
        const T: &[&str] = &[
            "users",
            "orders",
            "public.users",
            "\"Users\"",
            "parts",
            "p1",
        ];
        const C: &[&str] = &["a", "email", "\"Email\"", "ts", "k"];
        const TY: &[&str] = &["bigint", "text", "varchar(10)", "timestamp", "timestamptz"];
        const N: &[&str] = &["c1", "fk1", "users_email_check", "i1", "mv1"];
        let mut sql = String::new();
        for _ in 0..n {
            let (t, t2) = (T[below(T.len())], T[below(T.len())]);
            let (c, ty, nm) = (C[below(C.len())], TY[below(TY.len())], N[below(N.len())]);
            let forms = [
                format!("ALTER TABLE {t} ADD COLUMN {c} {ty}"),
                format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty}"),
                format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"),
                format!("ALTER TABLE {t} ADD CONSTRAINT {nm} CHECK ({c} IS NOT NULL) NOT VALID"),
                format!("ALTER TABLE {t} ADD CHECK ({c} IS NOT NULL AND {c} <> '')"),
                format!("ALTER TABLE {t} VALIDATE CONSTRAINT {nm}"),
                format!("ALTER TABLE {t} DROP CONSTRAINT {nm}"),
                format!("ALTER TABLE {t} ADD CONSTRAINT {nm} NOT NULL {c} NOT VALID"),
                format!("ALTER TABLE {t} ADD CONSTRAINT {nm} FOREIGN KEY ({c}) REFERENCES {t2} (id) NOT VALID"),
                format!("ALTER TABLE {t} DROP COLUMN {c}"),
                format!("ALTER TABLE {t} RENAME COLUMN {c} TO {}", C[below(C.len())]),
                format!("CREATE TABLE {t} (id bigint, {c} {ty})"),
                format!("CREATE TABLE {t} (LIKE {t2} INCLUDING ALL)"),
                format!("CREATE TABLE {t} (id int, k int) PARTITION BY RANGE (k)"),
                format!("ALTER TABLE {t} ATTACH PARTITION {t2} FOR VALUES FROM (1) TO (10)"),
                format!("ALTER TABLE {t} ADD CONSTRAINT {nm} CHECK (k >= 1 AND k < 10)"),
                format!("INSERT INTO {t} SELECT * FROM {t2}"),
                format!("COPY {t} FROM STDIN"),
                format!("UPDATE {t} SET {c} = 1"),
                format!("UPDATE {t} SET {c} = 1 WHERE id BETWEEN 1 AND 1000"),
                format!("CREATE INDEX {nm} ON {t} ({c})"),
                format!("CREATE INDEX CONCURRENTLY {nm} ON {t} ({c})"),
                format!("DROP INDEX {nm}"),
                format!("REINDEX INDEX {nm}"),
                format!("CREATE MATERIALIZED VIEW {nm} AS SELECT 1"),
                format!("REFRESH MATERIALIZED VIEW {nm}"),
                format!("VACUUM FULL {t}"),
                format!("LOCK TABLE {t} IN SHARE MODE"),
                format!("TRUNCATE {t}"),
                format!("CREATE TRIGGER trg BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION f()"),
                format!("CREATE TYPE {nm} AS ENUM ('x')"),
                format!("ALTER TYPE {nm} ADD VALUE 'y'"),
                "SELECT 'y'".to_string(),
                "SET lock_timeout = '2s'".to_string(),
                "RESET lock_timeout".to_string(),
                "SET TimeZone = 'UTC'".to_string(),
                "SET foreign_key_checks = 0".to_string(),
                "SET SESSION lock_wait_timeout = 5".to_string(),
                format!("ALTER TABLE {t} ADD INDEX {nm} ({c}), ALGORITHM=COPY"),
                format!("ALTER TABLE {t} CONVERT TO CHARACTER SET utf8mb4"),
                format!("DROP TABLE {t}"),
                "BEGIN".to_string(),
                "COMMIT".to_string(),
            ];
            sql.push_str(&forms[below(forms.len())]);
            sql.push_str(";\n");
        }
        sql
    }

    #[test]
    fn a_review_in_chunks_finds_what_a_review_of_the_whole_file_finds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources: Vec<String> = (0..4).map(|seed| mixed_migration(seed + 7, 400)).collect();
        // Large enough to be parsed on threads ahead of the rules.
        sources.push(mixed_migration(3, 3000));
        assert!(sources[4].len() > context::PARALLEL_PARSE_BYTES);
        for dir in [
            "tests/review_corpus/hazard",
            "tests/review_corpus/safe",
            "fuzz/seeds",
        ] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            paths.sort();
            sources.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
        }
        assert!(sources.len() > 100);
        let mut compared = 0;
        for (engine, version, wrapped) in [
            (Engine::Postgres, 15, false),
            (Engine::Postgres, 11, true),
            (Engine::Postgres, 18, false),
            (Engine::Mysql, 15, true),
        ] {
            let opts = ReviewOptions {
                engine,
                pg_version: version,
                assume_in_transaction: wrapped,
                ..ReviewOptions::default()
            };
            for sql in &sources {
                let whole = Ctx::new(sql, 0, &opts, false);
                let mut expected = Vec::new();
                for stmt in &whole.stmts {
                    check(&whole, stmt, &opts, &mut expected);
                }
                // One statement a chunk: every look back is at a statement
                // whose parsed form is gone; larger chunks: facts ahead of
                // the statements checked, on several threads.
                for chunk in [1, 700, 20_000] {
                    let chunked = Ctx::split(sql, 0, &opts, false)
                        .stream_by(chunk, |ctx, stmt, out| check(ctx, stmt, &opts, out));
                    assert_eq!(
                        chunked, expected,
                        "{engine:?} {version} {wrapped} {chunk}:\n{sql}"
                    );
                }
                compared += expected.len();
            }
        }
        assert!(compared > 1000, "{compared} findings compared");
    }
}
