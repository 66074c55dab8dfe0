//! # validate-in-same-transaction
//!
//! Finds `ALTER TABLE t VALIDATE CONSTRAINT c` in a transaction that earlier
//! took a lock on `t` that blocks the application: typically the
//! `ADD CONSTRAINT c ... NOT VALID` of the same constraint (ACCESS EXCLUSIVE
//! for a CHECK, SHARE ROW EXCLUSIVE on both tables for a foreign key), but
//! also any other ALTER TABLE of `t`, a plain CREATE INDEX on it, CREATE
//! TRIGGER, LOCK TABLE or TRUNCATE. The transaction is an explicit
//! BEGIN ... COMMIT, or the whole file when the migration tool wraps it.
//!
//! **Why it hurts:** locks are held until the transaction ends, so the
//! validation scan, which alone needs only SHARE UPDATE EXCLUSIVE, runs under
//! the earlier lock: with a CHECK added NOT VALID, reads and writes wait for
//! the whole scan; with a foreign key, writes to both tables do (measured on
//! PostgreSQL 15: 0.5 s per million rows under SHARE ROW EXCLUSIVE on both).
//! NOT VALID then buys nothing.
//!
//! **Instead:** commit between them: the ADD ... NOT VALID in one
//! transaction (one migration), the VALIDATE in the next. With Rails, Django,
//! Flyway or Alembic that means two migrations; with dbmate or
//! golang-migrate two files.

use super::tokens::{alter_head, fold, may_contain, name_at, tokens};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::context::{last_part, Fact};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, TableConstraint};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "validate-in-same-transaction",
    severity: Severity::Error,
    summary: "VALIDATE CONSTRAINT in the transaction that locked the table holds that lock through the whole scan",
    source: include_str!("validate_in_same_transaction.rs"),
    engines: PG,
    check,
};

/// A lock an earlier statement of the transaction holds on the table.
#[derive(Clone)]
struct Held {
    lock: Lock,
    line: usize,
    /// The other table a foreign key added NOT VALID also locked.
    referenced: Option<String>,
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    let names: Vec<String> = at
        .operations
        .iter()
        .filter_map(|op| match op {
            AlterTableOperation::ValidateConstraint { name } => Some(name.to_string()),
            _ => None,
        })
        .collect();
    if names.is_empty() || stmt.alters_new_table(at) {
        return;
    }
    let base = last_part(&at.name);
    let mut held: Option<Held> = None;
    let mut keep = |h: Held| {
        if h.lock.conflicts_with_app() && held.as_ref().is_none_or(|x| h.lock > x.lock) {
            held = Some(h);
        }
    };
    // Other changes in the same ALTER TABLE hold their lock for the scan too.
    let others: Vec<&AlterTableOperation> = at
        .operations
        .iter()
        .filter(|op| !matches!(op, AlterTableOperation::ValidateConstraint { .. }))
        .collect();
    if let Some((lock, referenced)) = ops_lock(others.into_iter()) {
        keep(Held {
            lock,
            line: stmt.line,
            referenced,
        });
    }
    if stmt.in_transaction {
        let lockers = ctx.fact::<Lockers>();
        let key = (stmt.txn, base.clone());
        let all = lockers.0.get(&key).map_or(&[][..], Vec::as_slice);
        for (_, h) in &all[..all.partition_point(|(i, _)| *i < stmt.index)] {
            keep(h.clone());
        }
    }
    let Some(h) = held else {
        return;
    };
    let table = at.name.to_string();
    let constraint = names.join(", ");
    let where_from = if h.line == stmt.line {
        "the same ALTER TABLE".to_string()
    } else {
        format!("line {}", h.line)
    };
    let (tables, blocked) = match (&h.referenced, h.lock) {
        (_, Lock::AccessExclusive) => (table.clone(), "reads and writes"),
        (Some(r), _) => (format!("{table} and {r}"), "writes"),
        (None, _) => (table.clone(), "writes"),
    };
    let message = format!(
        "VALIDATE CONSTRAINT {constraint} runs in the transaction that took {} on {tables} ({where_from}): the lock is held through the whole validation scan, so {blocked} wait for it, and NOT VALID buys nothing",
        h.lock.as_str()
    );
    let head = alter_head(at);
    let validates: String = names
        .iter()
        .map(|n| format!("{head} VALIDATE CONSTRAINT {n};\n"))
        .collect();
    let fix = format!(
        "-- commit first: end the migration (or COMMIT) after the ADD ... NOT VALID, then in a migration of its own\n-- (SHARE UPDATE EXCLUSIVE on {table}: reads and writes continue):\n{validates}"
    );
    out.push(
        RULE.finding(stmt, message)
            .on_table(table, h.lock)
            .with_fix(fix.trim_end()),
    );
}

/// The strongest lock these ALTER TABLE operations take on their table, and
/// the referenced table of a foreign key among them.
fn ops_lock<'a>(
    ops: impl Iterator<Item = &'a AlterTableOperation>,
) -> Option<(Lock, Option<String>)> {
    let mut best: Option<(Lock, Option<String>)> = None;
    for op in ops {
        let (lock, referenced) = match op {
            AlterTableOperation::ValidateConstraint { .. }
            | AlterTableOperation::AttachPartition { .. }
            | AlterTableOperation::SetOptionsParens { .. } => (Lock::ShareUpdateExclusive, None),
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::ForeignKey(fk),
                ..
            } => (Lock::ShareRowExclusive, Some(fk.foreign_table.to_string())),
            AlterTableOperation::EnableTrigger { .. }
            | AlterTableOperation::DisableTrigger { .. }
            | AlterTableOperation::EnableAlwaysTrigger { .. }
            | AlterTableOperation::EnableReplicaTrigger { .. } => (Lock::ShareRowExclusive, None),
            // Nearly every other ALTER TABLE form takes ACCESS EXCLUSIVE.
            _ => (Lock::AccessExclusive, None),
        };
        if best.as_ref().is_none_or(|(b, _)| lock > *b) {
            best = Some((lock, referenced));
        }
    }
    best
}

/// The lock an earlier statement took on `table` (folded last name part).
fn lock_on(s: &Stmt, table: &str) -> Option<(Lock, Option<String>)> {
    match &s.ast {
        Some(Ast::AlterTable(at)) => {
            if last_part(&at.name) == table {
                return ops_lock(at.operations.iter());
            }
            // A foreign key added elsewhere that references this table locks it too.
            at.operations.iter().find_map(|op| match op {
                AlterTableOperation::AddConstraint {
                    constraint: TableConstraint::ForeignKey(fk),
                    ..
                } if last_part(&fk.foreign_table) == table => {
                    Some((Lock::ShareRowExclusive, Some(at.name.to_string())))
                }
                _ => None,
            })
        }
        Some(Ast::CreateIndex(ci)) if !ci.concurrently && last_part(&ci.table_name) == table => {
            Some((Lock::Share, None))
        }
        _ => unparsed_lock(s, table),
    }
}

/// LOCK TABLE, TRUNCATE and CREATE TRIGGER, read from their tokens.
fn unparsed_lock(s: &Stmt, table: &str) -> Option<(Lock, Option<String>)> {
    let (tables, lock) = unparsed_locks(s);
    if !tables.iter().any(|n| n == table) {
        return None;
    }
    Some((lock?, None))
}

/// The tables (folded) a LOCK TABLE, TRUNCATE or CREATE TRIGGER locks, and
/// the lock (none for a LOCK TABLE mode that lets the app through).
fn unparsed_locks(s: &Stmt) -> (Vec<String>, Option<Lock>) {
    let none = (Vec::new(), None);
    // Most statements are none of these: skip tokenizing them.
    let text = &s.text;
    if !s.may_start_with(&["LOCK", "TRUNCATE", "CREATE"])
        || (s.may_start_with(&["CREATE"]) && !may_contain(text, "trigger"))
    {
        return none;
    }
    let toks = tokens(text);
    let Some(first) = toks.first().map(|t| t.upper.as_str()) else {
        return none;
    };
    match first {
        "LOCK" | "TRUNCATE" => {
            let mut i = 1;
            while toks.get(i).is_some_and(|t| t.is("TABLE") || t.is("ONLY")) {
                i += 1;
            }
            let mut names = Vec::new();
            while let Some((n, next)) = name_at(&toks, i) {
                names.push(fold(&n));
                i = next;
                if toks.get(i).is_some_and(|t| t.is("*")) {
                    i += 1;
                }
                if toks.get(i).is_some_and(|t| t.is(",")) {
                    i += 1;
                } else {
                    break;
                }
            }
            if first == "TRUNCATE" {
                return (names, Some(Lock::AccessExclusive));
            }
            // `IN <mode> MODE`; ACCESS EXCLUSIVE when no mode is given.
            let mode: Vec<&str> = toks
                .iter()
                .skip_while(|t| !t.is("IN"))
                .skip(1)
                .take_while(|t| !t.is("MODE"))
                .map(|t| t.upper.as_str())
                .collect();
            let lock = match mode.join(" ").as_str() {
                "" | "ACCESS EXCLUSIVE" => Some(Lock::AccessExclusive),
                "EXCLUSIVE" => Some(Lock::Exclusive),
                "SHARE ROW EXCLUSIVE" => Some(Lock::ShareRowExclusive),
                "SHARE" => Some(Lock::Share),
                _ => None,
            };
            (names, lock)
        }
        "CREATE" => {
            let trigger = toks.iter().take(5).any(|t| t.is("TRIGGER"));
            let on = toks.iter().position(|t| t.is("ON"));
            match on.and_then(|on| name_at(&toks, on + 1)) {
                Some((n, _)) if trigger => (vec![fold(&n)], Some(Lock::ShareRowExclusive)),
                _ => none,
            }
        }
        _ => none,
    }
}

/// The locks each statement in a transaction takes, by transaction and
/// table (folded), in file order: what [`lock_on`] finds. (Only the BEGIN
/// and COMMIT around a transaction share its number without being in it,
/// and they lock nothing.)
#[derive(Default)]
pub(crate) struct Lockers(HashMap<(usize, String), Vec<(usize, Held)>>);

impl Fact for Lockers {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if !s.in_transaction {
            return;
        }
        // The tables lock_on may find a lock on: it finds none on others.
        let mut tables = match &s.ast {
            Some(Ast::AlterTable(at)) => {
                let mut t = vec![last_part(&at.name)];
                t.extend(at.operations.iter().filter_map(|op| match op {
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::ForeignKey(fk),
                        ..
                    } => Some(last_part(&fk.foreign_table)),
                    _ => None,
                }));
                t
            }
            Some(Ast::CreateIndex(ci)) if !ci.concurrently => vec![last_part(&ci.table_name)],
            _ => Vec::new(),
        };
        if !matches!(s.ast, Some(Ast::AlterTable(_))) {
            // What lock_on reads from the tokens when the parsed form says nothing.
            tables.extend(unparsed_locks(s).0);
        }
        tables.sort_unstable();
        tables.dedup();
        for table in tables {
            if let Some((lock, referenced)) = lock_on(s, &table) {
                let held = Held {
                    lock,
                    line: s.line,
                    referenced,
                };
                self.0
                    .entry((s.txn, table))
                    .or_default()
                    .push((s.index, held));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Lock;
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "validate-in-same-transaction";

    #[test]
    fn flags_check_validated_in_the_adding_transaction() {
        let sql = "BEGIN;\nALTER TABLE orders ADD CONSTRAINT amount_pos CHECK (amount > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT amount_pos;\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        assert_eq!(f[0].lock, Some(Lock::AccessExclusive));
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE on orders (line 2)"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("reads and writes wait"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("ALTER TABLE orders VALIDATE CONSTRAINT amount_pos;"));
    }

    #[test]
    fn fk_holds_both_tables_in_a_wrapped_file() {
        let sql = "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT fk;";
        let f = run_in_txn(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].lock, Some(Lock::ShareRowExclusive));
        assert!(
            f[0].message.contains("on orders and users"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("writes wait"));
        // Run statement by statement (autocommit), the same file is fine.
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn any_earlier_blocking_lock_on_the_table_counts() {
        for (first, lock) in [
            (
                "ALTER TABLE orders ADD COLUMN note text;",
                Lock::AccessExclusive,
            ),
            ("LOCK TABLE orders;", Lock::AccessExclusive),
            ("LOCK TABLE orders IN SHARE MODE;", Lock::Share),
            ("CREATE INDEX i ON orders (amount);", Lock::Share),
            (
                "CREATE TRIGGER t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f();",
                Lock::ShareRowExclusive,
            ),
            ("TRUNCATE orders_archive, orders;", Lock::AccessExclusive),
        ] {
            let sql =
                format!("BEGIN;\n{first}\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;");
            let f = run(ID, &sql, 15);
            assert_eq!(f.len(), 1, "{first}");
            assert_eq!(f[0].lock, Some(lock), "{first}");
        }
        let f = run(
            ID,
            "ALTER TABLE orders ADD COLUMN x int, VALIDATE CONSTRAINT c;",
            15,
        );
        assert!(f[0].message.contains("the same ALTER TABLE"));
    }

    #[test]
    fn silent_when_committed_in_between_or_harmless() {
        for sql in [
            "BEGIN;\nALTER TABLE orders ADD CONSTRAINT c CHECK (amount > 0) NOT VALID;\nCOMMIT;\nBEGIN;\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;",
            "BEGIN;\nALTER TABLE users ADD COLUMN x int;\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;",
            "BEGIN;\nLOCK TABLE orders IN ROW EXCLUSIVE MODE;\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;",
            "BEGIN;\nUPDATE settings SET v = 1;\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;",
            "BEGIN;\nALTER TABLE orders SET (fillfactor = 90);\nALTER TABLE orders VALIDATE CONSTRAINT c;\nCOMMIT;",
            "ALTER TABLE orders VALIDATE CONSTRAINT c;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_tables_created_earlier_in_the_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;";
        assert!(run_in_txn(ID, sql, 15).is_empty());
    }
}
