//! # set-logged-or-unlogged
//!
//! Finds `ALTER TABLE ... SET LOGGED` and `SET UNLOGGED` on a table that
//! existed before this migration.
//!
//! **Why it hurts:** both rewrite the whole table and rebuild its indexes
//! under ACCESS EXCLUSIVE (checked on PostgreSQL 15: the table gets a new
//! file): every read and write waits for the rewrite. `SET LOGGED` also
//! writes the whole table to the WAL, a burst that replicas must replay;
//! `SET UNLOGGED` leaves a table that is emptied after a crash and is not
//! replicated.
//!
//! **Instead:** decide a table's kind when creating it. To change it on a
//! live table, create a new table of the wanted kind, copy the rows in
//! batches while a trigger keeps it in sync, and swap the names; or run the
//! statement in a maintenance window, with a `lock_timeout`.

use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::AlterTableOperation;

pub static RULE: Rule = Rule {
    id: "set-logged-or-unlogged",
    severity: Severity::Error,
    summary: "SET LOGGED / SET UNLOGGED rewrite the table under ACCESS EXCLUSIVE",
    source: include_str!("set_logged_or_unlogged.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    let Some(what) = at.operations.iter().find_map(|op| match op {
        AlterTableOperation::SetLogged => Some("SET LOGGED"),
        AlterTableOperation::SetUnlogged => Some("SET UNLOGGED"),
        _ => None,
    }) else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    let mut message = format!(
        "{what} rewrites {table} and rebuilds its indexes under ACCESS EXCLUSIVE: reads and writes on {table} wait for the whole rewrite"
    );
    message.push_str(if what == "SET LOGGED" {
        ", and the whole table is written to the WAL"
    } else {
        ", and the table is then emptied after a crash and not replicated"
    });
    out.push(
        RULE.finding(stmt, message)
            .on_table(table.clone(), Lock::AccessExclusive)
            .with_fix(format!(
                "-- decide a table's kind when creating it; on a live table, create a new table of the wanted kind,\n\
                 -- copy the rows in batches while a trigger keeps it in sync, then swap the names; or, in a\n\
                 -- maintenance window, with the wait for the lock capped:\n\
                 SET lock_timeout = '2s';\n{};",
                stmt.text.trim()
            )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "set-logged-or-unlogged";

    #[test]
    fn flags_both_directions() {
        let f = run(ID, "ALTER TABLE events SET LOGGED;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("written to the WAL"),
            "{}",
            f[0].message
        );
        let f = run(ID, "ALTER TABLE IF EXISTS events SET UNLOGGED;", 15);
        assert!(
            f[0].message.starts_with("SET UNLOGGED rewrites events"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn silent_on_new_tables() {
        let sql = "CREATE UNLOGGED TABLE staging (id int);\nALTER TABLE staging SET LOGGED;";
        assert!(run(ID, sql, 15).is_empty());
    }
}
