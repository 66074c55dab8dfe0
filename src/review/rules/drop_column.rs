//! # drop-column
//!
//! Finds `ALTER TABLE ... DROP COLUMN` on a table that existed before this
//! migration (a column added earlier in the same file is not reported: no
//! running app version knows it yet).
//!
//! **Why it hurts:** the drop itself is quick (PostgreSQL: a brief ACCESS
//! EXCLUSIVE lock, the column is only hidden; MySQL: instant from 8.0.29,
//! otherwise an in-place rebuild), but every running app version that still
//! reads or writes the column fails from that moment: during a rolling deploy
//! the old version is still live, and ORMs that cache column lists (Rails,
//! prepared `SELECT *`) fail until restarted. The data is gone; rolling back
//! the app does not bring it back. `CASCADE` also drops the views,
//! constraints and indexes that use it.
//!
//! **Instead:** release the app version that no longer reads or writes the
//! column first (Rails: `self.ignored_columns += [...]`), check nothing else
//! uses it, keep a copy if the data may be needed, then drop it in a later
//! migration. `schemashift plan "drop column t.c"` writes the steps.

use super::set_not_null_without_check::folded;
use super::{planned_fix, Rule};
use crate::change::Change;
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::context::{last_part, Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, DropBehavior, Ident, ObjectName};

pub static RULE: Rule = Rule {
    id: "drop-column",
    severity: Severity::Error,
    summary: "dropping a column breaks every running app version that still uses it, and the data is gone",
    source: include_str!("drop_column.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    for op in &at.operations {
        let AlterTableOperation::DropColumn {
            column_names,
            drop_behavior,
            ..
        } = op
        else {
            continue;
        };
        let cascade = matches!(drop_behavior, Some(DropBehavior::Cascade));
        for col in column_names {
            if added_earlier(ctx, stmt, &at.name, col) {
                continue;
            }
            let (lock, how) = match ctx.engine {
                Engine::Postgres => (
                    Lock::AccessExclusive,
                    "takes ACCESS EXCLUSIVE briefly, then".to_string(),
                ),
                Engine::Mysql => (Lock::MdlBrief, "is quick, but".to_string()),
            };
            let mut message = format!(
                "ALTER TABLE {table} DROP COLUMN {col} {how} every app version still reading or writing {table}.{col} fails, and its data is gone"
            );
            if cascade {
                message
                    .push_str("; CASCADE also drops the views and constraints that depend on it");
            }
            let f = RULE.finding(stmt, message).on_table(table.clone(), lock);
            let fix = match ctx.engine {
                Engine::Postgres => planned_fix(
                    ctx,
                    Change::DropColumn {
                        table: table.clone(),
                        column: col.to_string(),
                    },
                ),
                Engine::Mysql => Some(format!(
                    "-- 1. release the app version that no longer reads or writes {table}.{col} (Rails: self.ignored_columns += [\"{}\"])\n\
                     -- 2. then, in a later migration:\n\
                     ALTER TABLE {table} DROP COLUMN {col}, ALGORITHM=INPLACE, LOCK=NONE;",
                    col.value
                )),
            };
            out.push(match fix {
                Some(fix) => f.with_fix(fix),
                None => f,
            });
        }
    }
}

/// The (table, column) pairs each `ALTER TABLE ... ADD COLUMN` of the file adds.
#[derive(Default)]
pub(crate) struct Added(FirstByKey<(String, String)>);

impl Fact for Added {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let Some(Ast::AlterTable(at)) = &s.ast else {
            return;
        };
        for op in &at.operations {
            if let AlterTableOperation::AddColumn { column_def, .. } = op {
                self.0
                    .insert((last_part(&at.name), folded(&column_def.name)), s);
            }
        }
    }
}

/// Whether this file added the column earlier: no deployed app knows it.
fn added_earlier(ctx: &Ctx, stmt: &Stmt, table: &ObjectName, col: &Ident) -> bool {
    ctx.fact::<Added>()
        .0
        .before(&(last_part(table), folded(col)), stmt)
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, Finding, ReviewOptions};

    const ID: &str = "drop-column";

    fn run_mysql(sql: &str) -> Vec<Finding> {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        review_sql(sql, None, &opts)
            .into_iter()
            .filter(|f| f.rule == ID)
            .collect()
    }

    #[test]
    fn flags_drop_on_existing_tables() {
        let f = run(ID, "ALTER TABLE users DROP COLUMN legacy_flag;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("users.legacy_flag"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("data is gone"));
        assert_eq!(f[0].line, 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("never reads or writes users.legacy_flag"),
            "{fix}"
        );
        let f = run(
            ID,
            "ALTER TABLE users DROP COLUMN IF EXISTS a CASCADE, DROP COLUMN b;",
            15,
        );
        assert_eq!(f.len(), 2);
        assert!(f[0].message.contains("CASCADE"), "{}", f[0].message);
        assert!(!f[1].message.contains("CASCADE"), "{}", f[1].message);
    }

    #[test]
    fn silent_on_new_tables_and_columns_added_in_this_file() {
        let sql = "CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "ALTER TABLE users ADD COLUMN tmp int;\nALTER TABLE users DROP COLUMN tmp;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn mysql_too() {
        let f = run_mysql("ALTER TABLE users DROP COLUMN legacy_flag;");
        assert_eq!(f.len(), 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains(
                "ALTER TABLE users DROP COLUMN legacy_flag, ALGORITHM=INPLACE, LOCK=NONE;"
            ),
            "{fix}"
        );
        assert_eq!(run_mysql("ALTER TABLE users DROP x, DROP y;").len(), 2);
    }
}
