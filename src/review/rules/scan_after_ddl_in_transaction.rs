//! # scan-after-ddl-in-transaction
//!
//! Finds a `SELECT` that reads a whole table (no narrowing `WHERE`, no
//! `LIMIT`: `SELECT count(*) FROM t`, a check query) in the same transaction
//! as an earlier DDL that locked that table against reads or writes. Tables
//! created in the same file are left alone; data-changing statements are
//! `backfill-in-same-transaction-as-ddl`'s.
//!
//! **Why it hurts:** a lock is held until the transaction ends, so the DDL's
//! lock lasts for the whole scan: after an `ALTER TABLE` (ACCESS EXCLUSIVE)
//! every read and write of the table stays queued while the `SELECT` reads
//! every row, seconds on a large table, for a statement that changes
//! nothing.
//!
//! **Instead:** commit the DDL first and run the check afterwards, in its
//! own transaction (or outside the migration), where it blocks no one; or
//! narrow it to the rows it needs.

use super::backfill_in_same_transaction_as_ddl::{first_lock_before, table_names};
use super::missing_lock_timeout::created_in_file;
use super::unbatched_backfill::narrow;
use super::{Rule, PG};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{SetExpr, Statement};

pub static RULE: Rule = Rule {
    id: "scan-after-ddl-in-transaction",
    severity: Severity::Warning,
    summary: "a whole-table SELECT after DDL in the same transaction keeps the DDL's lock for the whole scan",
    source: include_str!("scan_after_ddl_in_transaction.rs"),
    engines: PG,
    check,
};

/// The tables a query reads in full.
fn scanned_tables(stmt: &Stmt) -> Vec<String> {
    let Some(Statement::Query(q)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return Vec::new();
    };
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return Vec::new();
    }
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Vec::new();
    };
    if select.selection.as_ref().is_some_and(narrow) {
        return Vec::new();
    }
    let mut out = Vec::new();
    table_names(&select.from, &mut out);
    out
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.in_transaction {
        return;
    }
    for table in scanned_tables(stmt) {
        if created_in_file(ctx, stmt, &table) {
            continue;
        }
        let Some((ddl, l)) = first_lock_before(ctx, stmt, &table) else {
            continue;
        };
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "this SELECT reads all of {table} in the same transaction as the {} on line {}, whose {} lock on {table} is held until COMMIT: {} on {table} wait for the whole scan",
                    l.what,
                    ddl.line,
                    l.lock.as_str(),
                    l.lock.blocks()
                ),
            )
            .on_table(table.clone(), l.lock)
            .with_fix(format!(
                "-- commit the DDL first; then, in a transaction of its own (or outside the migration):\n{};",
                stmt.text.trim()
            )),
        );
        return;
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "scan-after-ddl-in-transaction";

    #[test]
    fn flags_a_count_after_alter_table() {
        let sql = "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nSELECT count(*) FROM orders;\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        assert!(f[0].message.contains("line 2"), "{}", f[0].message);
        assert!(
            f[0].message.contains("reads and writes on orders wait"),
            "{}",
            f[0].message
        );
        let sql = "CREATE INDEX orders_note ON orders (note);\nSELECT o.id FROM orders o JOIN users u ON u.id = o.user_id WHERE o.note IS NULL;";
        let f = run_in_txn(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("writes (INSERT, UPDATE, DELETE) on orders wait"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn silent_when_committed_narrow_limited_or_new() {
        for sql in [
            "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;\nSELECT count(*) FROM orders;",
            "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nSELECT * FROM orders WHERE id = 5;\nCOMMIT;",
            "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nSELECT * FROM orders LIMIT 1;\nCOMMIT;",
            "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nSELECT count(*) FROM users;\nCOMMIT;",
            "BEGIN;\nCREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nSELECT count(*) FROM t;\nCOMMIT;",
            "ALTER TABLE orders ADD COLUMN note text;\nSELECT count(*) FROM orders;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
