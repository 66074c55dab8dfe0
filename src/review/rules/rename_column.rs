//! # rename-column
//!
//! Finds `ALTER TABLE ... RENAME COLUMN` on an existing table.
//!
//! **Why it hurts:** the rename itself is instant (a brief ACCESS EXCLUSIVE
//! lock), but every running app version that names the old column fails from
//! that moment: during a rolling deploy the old version is still live, and
//! ORMs that cache column lists (Rails) fail even in the new one until restarted.
//!
//! **Instead:** expand and contract: add the new column, keep both in sync
//! (a trigger or dual writes), backfill, switch reads, switch writes, then
//! drop the old column. `schemashift plan "rename t.a to b"` writes every step.

use super::{planned_fix, Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::AlterTableOperation;

pub static RULE: Rule = Rule {
    id: "rename-column",
    severity: Severity::Error,
    summary: "renaming a column breaks every running app version that uses the old name",
    source: include_str!("rename_column.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    for op in &at.operations {
        if let AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } = op
        {
            let table = at.name.to_string();
            let f = RULE.finding(
                    stmt,
                    format!(
                        "renaming {table}.{old_column_name} to {new_column_name} takes ACCESS EXCLUSIVE briefly, then every app version still using `{old_column_name}` fails"
                    ),
                )
                .on_table(table.clone(), Lock::AccessExclusive);
            let change = Change::RenameColumn {
                table,
                column: old_column_name.to_string(),
                new_name: new_column_name.to_string(),
            };
            out.push(match planned_fix(ctx, change) {
                Some(fix) => f.with_fix(fix),
                None => f,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    #[test]
    fn flags_rename_of_existing_table() {
        let f = run(
            "rename-column",
            "ALTER TABLE users RENAME COLUMN username TO handle;",
            15,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("users.username"));
        assert_eq!(f[0].line, 1);
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;";
        assert!(run("rename-column", sql, 15).is_empty());
    }

    #[test]
    fn honours_ignore_comments() {
        let sql = "-- schemashift-ignore rename-column\nALTER TABLE users RENAME COLUMN a TO b;";
        assert!(run("rename-column", sql, 15).is_empty());
    }
}
