//! # backfill-in-same-transaction-as-ddl
//!
//! Finds an `UPDATE`, `DELETE` or `INSERT ... SELECT` over existing rows in
//! the same transaction as an earlier DDL that locked the same table against
//! reads or writes (ACCESS EXCLUSIVE for most `ALTER TABLE` forms, SHARE for
//! `CREATE INDEX`, SHARE ROW EXCLUSIVE for a foreign key or a trigger): the
//! classic `ADD COLUMN` then `UPDATE` in one migration. Tables created in the
//! same file and statements touching only a few rows (`WHERE id = 5`) are
//! left alone.
//!
//! **Why it hurts:** a lock is held until the transaction ends, so the DDL's
//! lock lasts for the whole backfill: with ACCESS EXCLUSIVE every read and
//! write of the table waits for it (3 s per million rows measured on 2
//! cores, longer with indexes and triggers), with SHARE every write does.
//!
//! **Instead:** commit the DDL on its own first (it then holds its lock for
//! milliseconds), then backfill in keyset batches, each batch its own
//! transaction, outside the migration's transaction (Rails
//! `disable_ddl_transaction!`, Django `atomic = False`, a separate dbmate
//! `transaction:false` migration).

use super::missing_lock_timeout::{created_in_file, norm_table, table_locks, TableLock};
use super::unbatched_backfill::{batched_fix, is_bookkeeping, Dml};
use super::{Rule, PG};
use crate::review::context::Fact;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{SetExpr, TableFactor, TableWithJoins};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "backfill-in-same-transaction-as-ddl",
    severity: Severity::Error,
    summary: "a backfill in the same transaction as DDL on its table holds the DDL's lock for the whole backfill",
    source: include_str!("backfill_in_same_transaction_as_ddl.rs"),
    engines: PG,
    check,
};

pub(super) fn table_names(from: &[TableWithJoins], out: &mut Vec<String>) {
    for t in from {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, .. } = f {
                out.push(name.to_string());
            }
        }
    }
}

/// The tables a long data-changing statement keeps locked while it runs,
/// each with how the statement uses it: the one it changes and, for
/// `INSERT ... SELECT`, the ones it reads.
fn backfilled_tables(ast: &Ast) -> Vec<(String, String)> {
    if let Some(dml) = Dml::of(ast) {
        if dml.is_narrow() {
            return Vec::new();
        }
        return dml
            .table()
            .map(|(n, _)| {
                let how = match dml.verb() {
                    "DELETE" => format!("DELETE from {n}"),
                    verb => format!("{verb} of {n}"),
                };
                vec![(n.to_string(), how)]
            })
            .unwrap_or_default();
    }
    let Ast::Insert(i) = ast else {
        return Vec::new();
    };
    let Some(SetExpr::Select(select)) = i.source.as_ref().map(|q| q.body.as_ref()) else {
        // INSERT ... VALUES: seed rows, not a backfill.
        return Vec::new();
    };
    if select.from.is_empty()
        || select
            .selection
            .as_ref()
            .is_some_and(super::unbatched_backfill::narrow)
    {
        return Vec::new();
    }
    let target = i.table.to_string();
    let mut read = Vec::new();
    table_names(&select.from, &mut read);
    let mut out = vec![(target.clone(), format!("INSERT ... SELECT into {target}"))];
    out.extend(read.into_iter().map(|t| {
        (
            t.clone(),
            format!("INSERT INTO {target} ... SELECT reading {t}"),
        )
    }));
    out
}

/// For each transaction and table (as [`norm_table`] gives it), the first
/// statement in it taking a lock on the table that blocks the app, and that
/// statement's strongest such lock.
#[derive(Default)]
pub(crate) struct FirstLocks(HashMap<(usize, String), (usize, TableLock)>);

impl Fact for FirstLocks {
    fn add(&mut self, ctx: &Ctx, s: &Stmt) {
        // Outside them only BEGIN and COMMIT share a transaction's number,
        // and they lock nothing.
        if !s.in_transaction {
            return;
        }
        let locks: Vec<TableLock> = table_locks(ctx, s)
            .into_iter()
            .filter(|l| l.lock.conflicts_with_app())
            .collect();
        for l in &locks {
            let want = norm_table(&l.table);
            if self.0.contains_key(&(s.txn, want.clone())) {
                continue;
            }
            let strongest = locks
                .iter()
                .filter(|l| norm_table(&l.table) == want)
                .max_by_key(|l| l.lock)
                .cloned();
            if let Some(l) = strongest {
                self.0.insert((s.txn, want), (s.index, l));
            }
        }
    }
}

/// The first statement before `stmt` in its transaction locking `table`
/// against the app, with that lock.
pub(super) fn first_lock_before<'a>(
    ctx: &'a Ctx,
    stmt: &Stmt,
    table: &str,
) -> Option<(&'a Stmt, TableLock)> {
    ctx.fact::<FirstLocks>()
        .0
        .get(&(stmt.txn, norm_table(table)))
        .filter(|(i, _)| *i < stmt.index)
        .map(|(i, l)| (&ctx.stmts[*i], l.clone()))
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.in_transaction {
        return;
    }
    let Some(ast) = &stmt.ast else {
        return;
    };
    for (table, how) in backfilled_tables(ast) {
        if is_bookkeeping(&table) || created_in_file(ctx, stmt, &table) {
            continue;
        }
        let Some((ddl_stmt, l)) = first_lock_before(ctx, stmt, &table) else {
            continue;
        };
        let blocked = l.lock.blocks();
        let f = RULE
            .finding(
                stmt,
                format!(
                    "{how} runs in the same transaction as the {} on line {}, whose {} lock on {table} is held until COMMIT: {blocked} on {table} wait for the whole backfill",
                    l.what,
                    ddl_stmt.line,
                    l.lock.as_str()
                ),
            )
            .on_table(table.clone(), l.lock);
        let mut fix = if l.what == "LOCK TABLE" {
            "-- a batched backfill needs no table lock: drop the LOCK TABLE, and outside the migration's transaction backfill in batches, each its own transaction:\n".to_string()
        } else {
            format!(
                "-- the DDL in a migration (transaction) of its own, committed before the backfill:\n{};\n-- then, outside any transaction (Rails disable_ddl_transaction!, Django atomic = False, dbmate transaction:false), backfill in batches, each its own transaction:\n",
                ddl_stmt.text.trim()
            )
        };
        match batched_fix(ctx, stmt) {
            Some(b) => fix.push_str(&b),
            None => {
                fix.push_str(&format!("{};", stmt.text.trim()));
                fix.push_str(
                    "\n-- split by key ranges of a few thousand rows, one transaction each",
                );
            }
        }
        out.push(f.with_fix(fix));
        return;
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "backfill-in-same-transaction-as-ddl";

    #[test]
    fn flags_add_column_then_update_in_one_transaction() {
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN email_lower text;\nUPDATE users SET email_lower = lower(email);\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        assert!(f[0].message.contains("line 2"), "{}", f[0].message);
        assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        assert!(f[0].message.contains("reads and writes"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.starts_with("-- the DDL in a migration (transaction) of its own, committed before the backfill:\nALTER TABLE users ADD COLUMN email_lower text;\n"), "{fix}");
        assert!(fix.contains("COMMIT;"), "{fix}");
    }

    #[test]
    fn flags_wrapped_files_and_weaker_write_locks() {
        let sql = "CREATE INDEX i ON orders (status);\nDELETE FROM orders WHERE status = 'void';";
        let f = run_in_txn(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("SHARE lock"), "{}", f[0].message);
        let sql = "ALTER TABLE users ADD COLUMN plan text;\nINSERT INTO users_archive (id) SELECT id FROM users WHERE deleted;";
        assert_eq!(run_in_txn(ID, sql, 15).len(), 1);
    }

    #[test]
    fn silent_outside_a_transaction_or_in_another_one() {
        let sql = "ALTER TABLE users ADD COLUMN email_lower text;\nUPDATE users SET email_lower = lower(email);";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "BEGIN;\nALTER TABLE users ADD COLUMN x int;\nCOMMIT;\nBEGIN;\nUPDATE users SET x = 0;\nCOMMIT;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn silent_on_new_tables_other_tables_narrow_updates_and_seeds() {
        let sql =
            "CREATE TABLE t (id int, a int);\nALTER TABLE t ADD COLUMN b int;\nUPDATE t SET b = 1;";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        let sql = "ALTER TABLE users ADD COLUMN x int;\nUPDATE accounts SET y = 1;";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        let sql = "ALTER TABLE users ADD COLUMN x int;\nUPDATE users SET x = 1 WHERE id = 7;";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        let sql = "ALTER TABLE plans ADD COLUMN tier int;\nINSERT INTO plans (name, tier) VALUES ('pro', 2);";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        let sql = "ALTER TABLE users VALIDATE CONSTRAINT c;\nUPDATE users SET x = 1;";
        assert!(run_in_txn(ID, sql, 15).is_empty());
    }
}
