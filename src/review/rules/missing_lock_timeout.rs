//! # missing-lock-timeout
//!
//! Finds a statement that needs a lock conflicting with ordinary reads or
//! writes (ACCESS EXCLUSIVE, EXCLUSIVE, SHARE ROW EXCLUSIVE or SHARE: most
//! `ALTER TABLE` forms, `CREATE INDEX` without `CONCURRENTLY`, `DROP TABLE`,
//! `DROP INDEX`, `CREATE TRIGGER`, `TRUNCATE`, `LOCK TABLE`, `CLUSTER`,
//! `VACUUM FULL` (not `(FULL false)`), PostgreSQL 19's `REPACK` without
//! `CONCURRENTLY`, `REINDEX` (not `CONCURRENTLY`; with
//! `(CONCURRENTLY false)` it is plain REINDEX), `CREATE TABLE ... PARTITION
//! OF`, which locks the parent, and a foreign key from a new table,
//! `CREATE TABLE ... REFERENCES parent` included, which locks `parent`
//! against writes until commit) on a table that existed before the migration,
//! with no non-zero `lock_timeout` in force. Reported once per transaction
//! (once for the statements a file runs outside any transaction).
//! `CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT`, plain `VACUUM` and
//! `ANALYZE`, `CREATE TABLE` without foreign keys, DML and the locks on
//! tables created earlier in the file are left alone.
//!
//! **Why it hurts:** even a DDL that finishes in milliseconds must first be
//! granted its lock. While it waits behind a long transaction (a report, a
//! stuck session), every later query on the table that conflicts with it
//! queues behind the waiting request: behind ACCESS EXCLUSIVE plain SELECTs
//! too (a 2 ms `ADD COLUMN` behind an 8 s transaction stalled all traffic
//! on the table for 7.5 s when measured), behind SHARE or SHARE ROW
//! EXCLUSIVE every INSERT, UPDATE and DELETE.
//!
//! **Instead:** `SET lock_timeout = '2s';` before the statement (`SET LOCAL`
//! inside a transaction), and retry the migration a few seconds later when it
//! fails with SQLSTATE 55P03 (lock_not_available). Each stall is then capped
//! at the timeout and the queue drains between attempts.

use super::tokens::{options_at, tokens};
use super::vacuum_full_or_cluster::{blocking_repack_tables, vacuum_parts};
use super::{Rule, PG};
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::context::{Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, LockTableMode, ObjectType, Statement, TableConstraint,
};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "missing-lock-timeout",
    severity: Severity::Warning,
    summary:
        "a statement that queues reads or writes behind its lock request runs with no lock_timeout",
    source: include_str!("missing_lock_timeout.rs"),
    engines: PG,
    check,
};

/// A table-level lock a statement takes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableLock {
    /// The table as written in the statement (the index's name when the
    /// statement names only an index on a table not known from the file).
    pub table: String,
    /// How messages name it: the table, or "the table of index x".
    pub label: String,
    pub lock: Lock,
    /// The statement form, e.g. `ALTER TABLE` or `CREATE INDEX`.
    pub what: &'static str,
}

fn lock(table: impl Into<String>, lock: Lock, what: &'static str) -> TableLock {
    let table = table.into();
    TableLock {
        label: table.clone(),
        table,
        lock,
        what,
    }
}

/// The lock on the table of an index: the table when the file created the
/// index, otherwise named after the index.
fn index_lock(ctx: &Ctx, stmt: &Stmt, index: &str, l: Lock, what: &'static str) -> TableLock {
    match table_of_index(ctx, stmt, index) {
        Some(t) => lock(t, l, what),
        None => TableLock {
            table: index.to_string(),
            label: format!("the table of index {index}"),
            lock: l,
            what,
        },
    }
}

/// The first `n` words of a statement with their case kept, comments
/// skipped, split as `context::leading_words` splits them: how names are read
/// from statements sqlparser cannot parse.
pub(crate) fn raw_words(text: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while words.len() < n {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, b)| b);
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, b)| b);
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';')
            .unwrap_or(rest.len());
        if end == 0 {
            let Some(c) = rest.chars().next() else {
                break;
            };
            words.push(c.to_string());
            rest = &rest[c.len_utf8()..];
            continue;
        }
        words.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    words
}

/// Whether a statement's text, lower-cased and trimmed at the start, starts
/// with "set": how the MySQL rules find SET statements.
pub(crate) fn starts_with_set(text: &str) -> bool {
    text.trim_start()
        .as_bytes()
        .get(..3)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"set"))
}

/// A table name as the context matches it: last part, unquoted, lower-cased
/// unless quoted.
pub(crate) fn norm_table(name: &str) -> String {
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.starts_with('"') || last.starts_with('`') {
        last.trim_matches(|c| c == '"' || c == '`').to_string()
    } else {
        last.to_lowercase()
    }
}

/// Whether `table` was created earlier in the file: parsed `CREATE TABLE`s
/// (the context tracks those) and forms sqlparser cannot parse, such as
/// `CREATE TABLE t (LIKE other INCLUDING ALL)`.
pub(crate) fn created_in_file(ctx: &Ctx, stmt: &Stmt, table: &str) -> bool {
    let want = norm_table(table);
    // Matched as the context records names: quoted ones keep their case.
    if stmt.new_tables.contains(&want) {
        return true;
    }
    ctx.fact::<UnparsedCreates>().0.before(&want, stmt)
}

/// The tables created by statements sqlparser cannot parse, by name as
/// [`norm_table`] gives it.
#[derive(Default)]
pub(crate) struct UnparsedCreates(FirstByKey);

impl Fact for UnparsedCreates {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(table) = unparsed_created_table(s) {
            self.0.insert(table, s);
        }
    }
}

/// The table a `CREATE ... TABLE` that sqlparser cannot parse creates.
fn unparsed_created_table(s: &Stmt) -> Option<String> {
    if s.ast.is_some() || !s.starts_with(&["CREATE"]) {
        return None;
    }
    let raw = raw_words(&s.text, 12);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let pos = up.iter().position(|w| w == "TABLE")?;
    let mut i = pos + 1;
    if up.get(i).is_some_and(|w| w == "IF") {
        i += 3;
    }
    raw.get(i).map(|n| norm_table(n))
}

/// The table after `ALTER TABLE [IF EXISTS] [ONLY]` and the index of the word
/// after it, from the upper-cased and raw words of a statement.
pub(crate) fn alter_table_target(up: &[String], raw: &[String]) -> Option<(String, usize)> {
    if !(up.first()? == "ALTER" && up.get(1)? == "TABLE") {
        return None;
    }
    let mut i = 2;
    if up.get(i).is_some_and(|w| w == "IF") {
        i += 2;
    }
    if up.get(i).is_some_and(|w| w == "ONLY") {
        i += 1;
    }
    Some((raw.get(i)?.clone(), i + 1))
}

/// Where in the words the table of `CREATE [UNIQUE] INDEX ... ON [ONLY] table` is.
fn index_table(up: &[String], raw: &[String]) -> Option<String> {
    let on = up.iter().position(|w| w == "ON")?;
    let i = if up.get(on + 1).is_some_and(|w| w == "ONLY") {
        on + 2
    } else {
        on + 1
    };
    raw.get(i).cloned()
}

/// The table an index created earlier in the file belongs to.
fn table_of_index(ctx: &Ctx, stmt: &Stmt, index: &str) -> Option<String> {
    match ctx.fact::<IndexTables>().0.get(&norm_table(index)) {
        Some((i, table)) if *i < stmt.index => Some(table.clone()),
        _ => None,
    }
}

/// The indexes the file creates, by name as [`norm_table`] gives it: the
/// statement creating it first, and its table.
#[derive(Default)]
pub(crate) struct IndexTables(HashMap<String, (usize, String)>);

impl Fact for IndexTables {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(Ast::CreateIndex(ci)) = &s.ast {
            if let Some(n) = &ci.name {
                self.0
                    .entry(norm_table(&n.to_string()))
                    .or_insert_with(|| (s.index, ci.table_name.to_string()));
            }
        }
    }
}

/// The lock one `ALTER TABLE` operation takes on its table (PostgreSQL).
fn alter_op_lock(op: &AlterTableOperation) -> Lock {
    use AlterTableOperation as Op;
    match op {
        Op::ValidateConstraint { .. } | Op::SetOptionsParens { .. } => Lock::ShareUpdateExclusive,
        Op::AddConstraint {
            constraint: TableConstraint::ForeignKey(_),
            ..
        }
        | Op::EnableTrigger { .. }
        | Op::DisableTrigger { .. }
        | Op::EnableAlwaysTrigger { .. }
        | Op::EnableReplicaTrigger { .. } => Lock::ShareRowExclusive,
        _ => Lock::AccessExclusive,
    }
}

/// Every table-level lock a PostgreSQL statement takes, parsed or recognised
/// by its leading words. Locks on new tables are included; callers decide.
pub(crate) fn table_locks(ctx: &Ctx, stmt: &Stmt) -> Vec<TableLock> {
    if ctx.engine != Engine::Postgres {
        return Vec::new();
    }
    match &stmt.ast {
        Some(ast) => parsed_locks(ctx, stmt, ast),
        None => word_locks(ctx, stmt),
    }
}

fn parsed_locks(ctx: &Ctx, stmt: &Stmt, ast: &Ast) -> Vec<TableLock> {
    match ast {
        Ast::AlterTable(at) => {
            let table = at.name.to_string();
            let mut out = Vec::new();
            if let Some(l) = at.operations.iter().map(alter_op_lock).max() {
                out.push(lock(table, l, "ALTER TABLE"));
            }
            for op in &at.operations {
                if let AlterTableOperation::AddConstraint {
                    constraint: TableConstraint::ForeignKey(fk),
                    ..
                } = op
                {
                    // The referenced table is locked too, against writes.
                    out.push(lock(
                        fk.foreign_table.to_string(),
                        Lock::ShareRowExclusive,
                        "ALTER TABLE ... ADD FOREIGN KEY",
                    ));
                }
            }
            out
        }
        Ast::CreateIndex(ci) => {
            let l = if ci.concurrently {
                Lock::ShareUpdateExclusive
            } else {
                Lock::Share
            };
            vec![lock(ci.table_name.to_string(), l, "CREATE INDEX")]
        }
        Ast::Other(o) => other_locks(ctx, stmt, o),
        _ => Vec::new(),
    }
}

/// [`parsed_locks`] of the kinds kept whole.
fn other_locks(ctx: &Ctx, stmt: &Stmt, ast: &Statement) -> Vec<TableLock> {
    match ast {
        // A new partition locks its parent: ACCESS EXCLUSIVE, on every version.
        // A foreign key locks the table it references against writes
        // (SHARE ROW EXCLUSIVE) until the transaction ends.
        Statement::CreateTable(ct) => {
            let parents = ct.partition_of.iter().map(|parent| {
                lock(
                    parent.to_string(),
                    Lock::AccessExclusive,
                    "CREATE TABLE ... PARTITION OF",
                )
            });
            let inline =
                ct.columns
                    .iter()
                    .flat_map(|c| &c.options)
                    .filter_map(|o| match &o.option {
                        ColumnOption::ForeignKey(fk) => Some(&fk.foreign_table),
                        _ => None,
                    });
            let separate = ct.constraints.iter().filter_map(|c| match c {
                TableConstraint::ForeignKey(fk) => Some(&fk.foreign_table),
                _ => None,
            });
            let referenced = inline.chain(separate).map(|t| {
                lock(
                    t.to_string(),
                    Lock::ShareRowExclusive,
                    "CREATE TABLE ... REFERENCES",
                )
            });
            parents.chain(referenced).collect()
        }
        Statement::Drop {
            object_type, names, ..
        } => match object_type {
            ObjectType::Table => names
                .iter()
                .map(|n| lock(n.to_string(), Lock::AccessExclusive, "DROP TABLE"))
                .collect(),
            ObjectType::Index => names
                .iter()
                .map(|n| {
                    index_lock(
                        ctx,
                        stmt,
                        &n.to_string(),
                        Lock::AccessExclusive,
                        "DROP INDEX",
                    )
                })
                .collect(),
            ObjectType::MaterializedView => names
                .iter()
                .map(|n| {
                    lock(
                        n.to_string(),
                        Lock::AccessExclusive,
                        "DROP MATERIALIZED VIEW",
                    )
                })
                .collect(),
            _ => Vec::new(),
        },
        Statement::Truncate(t) => t
            .table_names
            .iter()
            .map(|n| lock(n.name.to_string(), Lock::AccessExclusive, "TRUNCATE"))
            .collect(),
        Statement::Lock(l) => {
            let mode = match l.lock_mode {
                None | Some(LockTableMode::AccessExclusive) => Lock::AccessExclusive,
                Some(LockTableMode::Exclusive) => Lock::Exclusive,
                Some(LockTableMode::ShareRowExclusive) => Lock::ShareRowExclusive,
                Some(LockTableMode::Share) => Lock::Share,
                Some(LockTableMode::ShareUpdateExclusive) => Lock::ShareUpdateExclusive,
                Some(LockTableMode::RowExclusive) => Lock::RowExclusive,
                Some(LockTableMode::RowShare) => Lock::RowShare,
                Some(LockTableMode::AccessShare) => Lock::AccessShare,
            };
            l.tables
                .iter()
                .map(|t| lock(t.name.to_string(), mode, "LOCK TABLE"))
                .collect()
        }
        Statement::CreateTrigger(ct) => vec![lock(
            ct.table_name.to_string(),
            Lock::ShareRowExclusive,
            "CREATE TRIGGER",
        )],
        Statement::DropTrigger(dt) => dt
            .table_name
            .iter()
            .map(|t| lock(t.to_string(), Lock::AccessExclusive, "DROP TRIGGER"))
            .collect(),
        Statement::Vacuum(v) if v.full => v
            .table_name
            .iter()
            .map(|t| lock(t.to_string(), Lock::AccessExclusive, "VACUUM FULL"))
            .collect(),
        _ => Vec::new(),
    }
}

/// Locks of the statements sqlparser 0.63 cannot parse, read from their words.
fn word_locks(ctx: &Ctx, stmt: &Stmt) -> Vec<TableLock> {
    let raw = raw_words(&stmt.text, 48);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let has = |w: &str| up.iter().any(|x| x == w);
    let first = up.first().map(String::as_str).unwrap_or("");
    match first {
        "ALTER" if up.get(1).is_some_and(|w| w == "TABLE") => {
            let Some((table, next)) = alter_table_target(&up, &raw) else {
                return Vec::new();
            };
            let op = up.get(next).map(String::as_str).unwrap_or("");
            let l = match op {
                "DETACH" if has("CONCURRENTLY") || has("FINALIZE") => Lock::ShareUpdateExclusive,
                // Since PostgreSQL 12 ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent.
                "ATTACH" if ctx.pg_version >= 12 => Lock::ShareUpdateExclusive,
                "VALIDATE" => Lock::ShareUpdateExclusive,
                "CLUSTER" => Lock::ShareUpdateExclusive,
                "SET" if up.get(next + 1).is_some_and(|w| w == "WITHOUT") && has("CLUSTER") => {
                    Lock::ShareUpdateExclusive
                }
                // ALTER [COLUMN] c SET STATISTICS n / SET (n_distinct = ...) / RESET (...)
                "ALTER" => {
                    let col = if up.get(next + 1).is_some_and(|w| w == "COLUMN") {
                        next + 3
                    } else {
                        next + 2
                    };
                    let set = up.get(col).map(String::as_str);
                    let arg = up.get(col + 1).map(String::as_str);
                    match (set, arg) {
                        (Some("SET"), Some("STATISTICS" | "(")) | (Some("RESET"), Some("(")) => {
                            Lock::ShareUpdateExclusive
                        }
                        _ => Lock::AccessExclusive,
                    }
                }
                _ => Lock::AccessExclusive,
            };
            vec![lock(table, l, "ALTER TABLE")]
        }
        "CREATE" => {
            let Some(ix) = up.iter().position(|w| w == "INDEX") else {
                return Vec::new();
            };
            if ix > 2 || (ix == 2 && up[1] != "UNIQUE") {
                return Vec::new();
            }
            let l = if has("CONCURRENTLY") {
                Lock::ShareUpdateExclusive
            } else {
                Lock::Share
            };
            index_table(&up, &raw)
                .map(|t| vec![lock(t, l, "CREATE INDEX")])
                .unwrap_or_default()
        }
        "DROP" if up.get(1).is_some_and(|w| w == "INDEX") => {
            if has("CONCURRENTLY") {
                return Vec::new();
            }
            let mut i = 2;
            if up.get(i).is_some_and(|w| w == "IF") {
                i += 2;
            }
            raw.get(i)
                .map(|idx| {
                    vec![index_lock(
                        ctx,
                        stmt,
                        idx,
                        Lock::AccessExclusive,
                        "DROP INDEX",
                    )]
                })
                .unwrap_or_default()
        }
        "REINDEX" => {
            // The keyword, or the option when on: `(CONCURRENTLY false)` is plain REINDEX.
            let toks = tokens(&stmt.text);
            let (opts, k) = options_at(&toks, 1);
            let keyword = toks.get(k + 1).is_some_and(|t| t.is("CONCURRENTLY"));
            if keyword || opts.iter().any(|(o, on)| o == "CONCURRENTLY" && *on) {
                return Vec::new();
            }
            // REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} name
            let Some(k) = up.iter().position(|w| {
                matches!(
                    w.as_str(),
                    "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM"
                )
            }) else {
                return Vec::new();
            };
            let Some(name) = raw.get(k + 1).cloned() else {
                return Vec::new();
            };
            if up[k] == "INDEX" {
                vec![index_lock(ctx, stmt, &name, Lock::Share, "REINDEX")]
            } else {
                vec![lock(name, Lock::Share, "REINDEX")]
            }
        }
        "CLUSTER" => {
            let name = up
                .iter()
                .zip(&raw)
                .skip(1)
                .find(|(u, _)| !matches!(u.as_str(), "VERBOSE" | "(" | ")"))
                .map(|(_, r)| r.clone());
            name.map(|t| vec![lock(t, Lock::AccessExclusive, "CLUSTER")])
                .unwrap_or_default()
        }
        "VACUUM" => {
            // `(FULL false)` is plain VACUUM: SHARE UPDATE EXCLUSIVE.
            let (full, tables) = vacuum_parts(&tokens(&stmt.text));
            if !full {
                return Vec::new();
            }
            tables
                .into_iter()
                .map(|t| lock(t, Lock::AccessExclusive, "VACUUM FULL"))
                .collect()
        }
        "REPACK" if ctx.pg_version >= 19 => blocking_repack_tables(&tokens(&stmt.text))
            .unwrap_or_default()
            .into_iter()
            .map(|t| lock(t, Lock::AccessExclusive, "REPACK"))
            .collect(),
        "REFRESH" if !has("CONCURRENTLY") => {
            let name = raw.get(3).cloned();
            name.map(|t| vec![lock(t, Lock::AccessExclusive, "REFRESH MATERIALIZED VIEW")])
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The lock this statement needs on an existing table that queues the app,
/// when no lock_timeout guards it.
fn needs_timeout(ctx: &Ctx, stmt: &Stmt) -> Option<TableLock> {
    if stmt.lock_timeout_set || stmt.ignored_all || stmt.ignores(RULE.id) {
        return None;
    }
    let locks = table_locks(ctx, stmt);
    // Locks on tables created earlier in the file queue no one; a foreign
    // key from a new table still locks the existing table it references
    // against writes until commit (CREATE TABLE ... REFERENCES too).
    // The strongest lock; the statement's own table first among equals.
    locks
        .into_iter()
        .filter(|l| l.lock.conflicts_with_app() && !created_in_file(ctx, stmt, &l.table))
        .fold(None, |best: Option<TableLock>, l| match best {
            Some(b) if b.lock >= l.lock => Some(b),
            _ => Some(l),
        })
}

/// What a waiting request for the lock queues: reads too only behind
/// ACCESS EXCLUSIVE, which alone conflicts with ACCESS SHARE.
fn queued(lock: Lock, table: &str) -> String {
    if lock == Lock::AccessExclusive {
        format!("query on {table}, reads included,")
    } else {
        format!("write on {table} (INSERT, UPDATE, DELETE)")
    }
}

/// One finding per transaction; statements outside any transaction share
/// the session, where one SET at the top covers them all.
fn group(s: &Stmt) -> Option<usize> {
    s.in_transaction.then_some(s.txn)
}

/// The first statement of each group ([`group`]) that needs a lock_timeout
/// it lacks: the one reported.
#[derive(Default)]
pub(crate) struct FirstUnguarded(HashMap<Option<usize>, usize>);

impl Fact for FirstUnguarded {
    fn add(&mut self, ctx: &Ctx, s: &Stmt) {
        if needs_timeout(ctx, s).is_some() {
            self.0.entry(group(s)).or_insert(s.index);
        }
    }
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let reported = ctx
        .fact::<FirstUnguarded>()
        .0
        .get(&group(stmt))
        .is_some_and(|&i| i < stmt.index);
    if reported {
        return;
    }
    let Some(l) = needs_timeout(ctx, stmt) else {
        return;
    };
    let table = &l.label;
    let set = if stmt.in_transaction {
        "SET LOCAL lock_timeout = '2s';"
    } else {
        "SET lock_timeout = '2s';"
    };
    let retry = if stmt.in_transaction {
        "-- on SQLSTATE 55P03 (lock_not_available): roll back, wait a few seconds, run the transaction again"
    } else {
        "-- on SQLSTATE 55P03 (lock_not_available): wait a few seconds and run it again"
    };
    let mut fix = format!("{set}\n{};\n{retry}", stmt.text.trim());
    if let Some(Statement::CreateTable(ct)) = stmt.ast.as_ref().and_then(Ast::other) {
        if let (Some(parent), Some(bounds)) = (&ct.partition_of, &ct.for_values) {
            if ctx.pg_version >= 12 {
                let part = &ct.name;
                fix.push_str(&format!(
                    "\n-- or lock the parent only against other DDL (SHARE UPDATE EXCLUSIVE): create the table on its own, then attach it\nCREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);\nALTER TABLE {parent} ATTACH PARTITION {part} {bounds};"
                ));
            }
        }
    }
    out.push(
        RULE.finding(
            stmt,
            format!(
                "{} needs {} on {table} with no lock_timeout: a lock request waiting behind a long transaction queues every later {} until it is granted",
                l.what,
                l.lock.as_str(),
                queued(l.lock, table)
            ),
        )
        .on_table(l.table.clone(), l.lock)
        .with_fix(fix),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "missing-lock-timeout";

    #[test]
    fn flags_alter_table_without_timeout() {
        let f = run(ID, "ALTER TABLE users ADD COLUMN bio text;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE on users"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("reads included"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN bio text;"),
            "{fix}"
        );
        assert!(fix.contains("55P03"));
    }

    #[test]
    fn silent_when_a_timeout_is_set() {
        let sql = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN bio text;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE users ADD COLUMN bio text;\nCOMMIT;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn a_zero_or_reset_timeout_does_not_count() {
        let sql = "SET lock_timeout = 0;\nALTER TABLE users ADD COLUMN bio text;";
        assert_eq!(run(ID, sql, 15).len(), 1);
        let sql = "SET lock_timeout = '2s';\nRESET lock_timeout;\nDROP TABLE old_events;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn set_local_ends_with_its_transaction() {
        let sql = "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nBEGIN;\nALTER TABLE b ADD COLUMN y int;\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 6);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .starts_with("SET LOCAL lock_timeout"));
    }

    #[test]
    fn once_per_transaction_and_once_for_autocommit() {
        let sql = "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nCREATE INDEX i ON c (z);";
        assert_eq!(run(ID, sql, 15).len(), 1);
        let sql = "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nCOMMIT;\nBEGIN;\nTRUNCATE c;\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].line, f[1].line), (2, 6));
    }

    #[test]
    fn names_the_table_of_an_index() {
        let f = run(ID, "DROP INDEX users_email_idx;", 15);
        assert!(
            f[0].message
                .contains("on the table of index users_email_idx"),
            "{}",
            f[0].message
        );
        let sql = "SET lock_timeout = '1s';\nCREATE INDEX users_email_idx ON users (email);\nRESET lock_timeout;\nDROP INDEX users_email_idx;";
        let f = run(ID, sql, 15);
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE on users "),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn flags_each_blocking_form() {
        for sql in [
            "CREATE INDEX i ON users (email);",
            "DROP INDEX users_email_idx;",
            "DROP TABLE users;",
            "CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();",
            "TRUNCATE users;",
            "LOCK TABLE users IN SHARE MODE;",
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
            "VACUUM FULL users;",
            "CLUSTER users USING users_pkey;",
            "REINDEX TABLE users;",
            "ALTER TABLE users SET TABLESPACE fast;",
            "ALTER TABLE events DETACH PARTITION events_2020;",
            "CREATE TABLE events_2025_09 PARTITION OF events FOR VALUES FROM ('2025-09-01') TO ('2025-10-01');",
        ] {
            assert_eq!(run(ID, sql, 15).len(), 1, "{sql}");
        }
    }

    #[test]
    fn silent_on_forms_that_do_not_queue_the_app() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON users (email);",
            "DROP INDEX CONCURRENTLY i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "ALTER TABLE users VALIDATE CONSTRAINT c;",
            "VACUUM ANALYZE users;",
            "VACUUM users;",
            "ANALYZE users;",
            "CREATE TABLE t (id bigint PRIMARY KEY);",
            "UPDATE users SET a = 1 WHERE id = 1;",
            "INSERT INTO users (id) VALUES (1);",
            "ALTER TYPE mood RENAME VALUE 'a' TO 'b';",
            "ALTER TYPE mood ADD VALUE 'c';",
            "LOCK TABLE users IN ACCESS SHARE MODE;",
            "ALTER TABLE users ALTER COLUMN email SET STATISTICS 500;",
            "ALTER TABLE users SET (fillfactor = 70);",
            "COMMENT ON TABLE users IS 'people';",
            "ALTER TABLE events ATTACH PARTITION events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
            "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_new_partition_locks_its_parent() {
        let sql = "CREATE TABLE events_2025_09 PARTITION OF events FOR VALUES FROM ('2025-09-01') TO ('2025-10-01');";
        let f = run(ID, sql, 15);
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE on events "),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.as_deref().unwrap().contains("ALTER TABLE events ATTACH PARTITION events_2025_09 FOR VALUES FROM ('2025-09-01') TO ('2025-10-01');"), "{:?}", f[0].fix);
        let sql = "CREATE TABLE events (id int, ts date) PARTITION BY RANGE (ts);\nCREATE TABLE events_2025_09 PARTITION OF events FOR VALUES FROM ('2025-09-01') TO ('2025-10-01');";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn attach_partition_before_12_locks_the_parent() {
        let sql = "ALTER TABLE events ATTACH PARTITION events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');";
        assert_eq!(run(ID, sql, 11).len(), 1);
    }

    #[test]
    fn silent_on_tables_created_in_the_file() {
        let sql = "CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN x int;\nCREATE INDEX i ON t (x);\nDROP INDEX i;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "CREATE TABLE t (LIKE events INCLUDING ALL);\nALTER TABLE t ADD COLUMN x int;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "CREATE TABLE \"User\" (id text PRIMARY KEY);\nCREATE TABLE \"Payout\" (id text);\nALTER TABLE \"Payout\" ADD CONSTRAINT fk FOREIGN KEY (\"userId\") REFERENCES \"User\" (id);";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn foreign_keys_lock_the_existing_table_they_reference() {
        let sql = "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;";
        let f = run(ID, sql, 15);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        // From a new table, the lock on the existing referenced one remains
        // (SHARE ROW EXCLUSIVE until commit: writes to users queue).
        let sql = "CREATE TABLE t (id bigint, user_id bigint);\nALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].line, 2);
        for sql in [
            "CREATE TABLE payouts (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));",
            "CREATE TABLE payouts (id bigint, user_id bigint, CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES public.users);",
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message.starts_with(
                    "CREATE TABLE ... REFERENCES needs SHARE ROW EXCLUSIVE on "
                ),
                "{}",
                f[0].message
            );
            assert!(
                f[0].message.contains("queues every later write on"),
                "{}",
                f[0].message
            );
            assert!(!f[0].message.contains("reads included"));
        }
        let guarded = "SET lock_timeout = '2s';\nCREATE TABLE payouts (id bigint, user_id bigint REFERENCES users);";
        assert!(run(ID, guarded, 15).is_empty());
        let both_new = "CREATE TABLE users (id bigint PRIMARY KEY);\nCREATE TABLE payouts (id bigint, user_id bigint REFERENCES users);";
        assert!(run(ID, both_new, 15).is_empty());
    }

    #[test]
    fn disabled_options_are_the_plain_forms() {
        // `(FULL false)` is plain VACUUM: no lock that queues the app.
        for sql in [
            "VACUUM (FULL false) users;",
            "VACUUM (FULL off, ANALYZE) users;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
        assert_eq!(run(ID, "VACUUM (FULL, ANALYZE) users;", 15).len(), 1);
        assert_eq!(run(ID, "VACUUM (FULL true) users;", 15).len(), 1);
        // `(CONCURRENTLY false)` is plain REINDEX: SHARE on the table.
        for sql in [
            "REINDEX (CONCURRENTLY false) TABLE users;",
            "REINDEX (VERBOSE, CONCURRENTLY off) TABLE users;",
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(f[0].message.contains("SHARE on users"), "{}", f[0].message);
        }
        assert!(run(ID, "REINDEX (CONCURRENTLY) TABLE users;", 15).is_empty());
        // PostgreSQL 19's REPACK: ACCESS EXCLUSIVE unless CONCURRENTLY.
        let f = run(ID, "REPACK users USING INDEX users_pkey;", 19);
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE on users"),
            "{}",
            f[0].message
        );
        assert!(run(ID, "REPACK (CONCURRENTLY) users;", 19).is_empty());
        assert!(run(ID, "REINDEX (CONCURRENTLY true) TABLE users;", 15).is_empty());
    }

    #[test]
    fn wrapped_files_use_set_local() {
        let f = run_in_txn(ID, "ALTER TABLE users DROP COLUMN bio;", 15);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.as_deref().unwrap().starts_with("SET LOCAL"));
    }
}
