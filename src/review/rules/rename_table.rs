//! # rename-table
//!
//! Finds `ALTER TABLE ... RENAME TO` (and MySQL's `RENAME TABLE a TO b`) of a
//! table that existed before this migration.
//!
//! **Why it hurts:** the rename itself is instant (a brief ACCESS EXCLUSIVE
//! lock on PostgreSQL, an exclusive metadata lock on MySQL), but every running
//! app version that names the old table fails from that moment: during a
//! rolling deploy the old version is still live, and so are background jobs,
//! reports and other services that query it.
//!
//! **Instead:** rename the table and, in the same transaction, create a view
//! with the old name (`CREATE VIEW old AS SELECT * FROM new`: a simple view is
//! updatable, so old code keeps reading and writing through it); release the
//! app that uses the new name; drop the view later. On MySQL, create the view
//! right after `RENAME TABLE`. `schemashift plan "rename table a to b"` writes
//! every step.

use super::{planned_fix, Rule};
use crate::change::Change;
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, ObjectName, RenameTableNameKind, Statement};

pub static RULE: Rule = Rule {
    id: "rename-table",
    severity: Severity::Error,
    summary: "renaming a table breaks every running app version that uses the old name",
    source: include_str!("rename_table.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let mut renames: Vec<(&ObjectName, &ObjectName)> = Vec::new();
    match &stmt.ast {
        Some(Ast::AlterTable(at)) => {
            for op in &at.operations {
                if let AlterTableOperation::RenameTable {
                    table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
                } = op
                {
                    renames.push((&at.name, to));
                }
            }
        }
        Some(Ast::Other(o)) => match &**o {
            Statement::RenameTable(list) => {
                renames.extend(list.iter().map(|r| (&r.old_name, &r.new_name)));
            }
            _ => return,
        },
        _ => return,
    }
    for (from, to) in renames {
        if stmt.is_new_table(from) {
            continue;
        }
        let (old, new) = (from.to_string(), to.to_string());
        let (lock, held) = match ctx.engine {
            Engine::Postgres => (Lock::AccessExclusive, "takes ACCESS EXCLUSIVE briefly"),
            Engine::Mysql => (Lock::MdlBrief, "takes an exclusive metadata lock briefly"),
        };
        let f = RULE
            .finding(
                stmt,
                format!(
                    "renaming {old} to {new} {held}, then every app version still using `{old}` fails"
                ),
            )
            .on_table(old.clone(), lock);
        let fix = match ctx.engine {
            Engine::Postgres => planned_fix(
                ctx,
                Change::RenameTable {
                    table: old.clone(),
                    new_name: new.clone(),
                },
            ),
            Engine::Mysql => Some(format!(
                "RENAME TABLE {old} TO {new};\n\
                 CREATE VIEW {old} AS SELECT * FROM {new}; -- old code keeps reading and writing through it\n\
                 -- release the app version that uses {new}, then in a later migration:\n\
                 DROP VIEW {old};"
            )),
        };
        out.push(match fix {
            Some(fix) => f.with_fix(fix),
            None => f,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, Finding, ReviewOptions};

    const ID: &str = "rename-table";

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
    fn flags_rename_of_existing_table() {
        let f = run(ID, "ALTER TABLE audit_log RENAME TO audit_events;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("renaming audit_log to audit_events"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("CREATE VIEW audit_log AS SELECT * FROM audit_events"),
            "{fix}"
        );
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t RENAME TO u;";
        assert!(run(ID, sql, 15).is_empty());
        assert!(run(ID, "ALTER TABLE users RENAME COLUMN a TO b;", 15).is_empty());
    }

    #[test]
    fn mysql_rename_table_statement() {
        let f = run_mysql("RENAME TABLE a TO b, c TO d;");
        assert_eq!(f.len(), 2);
        assert!(f[0].message.contains("metadata lock"), "{}", f[0].message);
        assert!(f[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("CREATE VIEW c AS SELECT * FROM d;"));
        assert_eq!(run_mysql("ALTER TABLE a RENAME TO b;").len(), 1);
    }
}
