//! # drop-table
//!
//! Finds `DROP TABLE` of a table that existed before this migration (tables
//! created earlier in the same file, and MySQL `DROP TEMPORARY TABLE`, are not
//! reported).
//!
//! **Why it hurts:** the data is gone for good, and every running app version,
//! job or service that still reads or writes the table fails from that
//! moment; rolling back the app does not bring the data back. `CASCADE` also
//! drops the views that use the table and the foreign keys of other tables
//! that reference it, silently.
//!
//! **Instead:** release the app version that no longer touches the table
//! first, check nothing else uses it (`pg_stat_user_tables` shows whether it
//! is still read or written), keep a backup or a renamed copy while you are
//! unsure, then drop it in a later migration, without CASCADE so that
//! anything still depending on it stops the drop.

use super::{planned_fix, Rule};
use crate::change::Change;
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{ObjectType, Statement};

pub static RULE: Rule = Rule {
    id: "drop-table",
    severity: Severity::Error,
    summary: "dropping a table loses its data and breaks every running app version that uses it",
    source: include_str!("drop_table.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::Drop {
        object_type: ObjectType::Table,
        names,
        cascade,
        temporary,
        ..
    }) = stmt.ast.as_ref().and_then(Ast::other)
    else {
        return;
    };
    if *temporary {
        return;
    }
    for name in names {
        if stmt.is_new_table(name) {
            continue;
        }
        let table = name.to_string();
        let mut message = format!(
            "DROP TABLE {table} deletes its data for good, and every app version still using {table} fails"
        );
        if *cascade {
            message.push_str(
                "; CASCADE also drops the views on it and the foreign keys of other tables that reference it",
            );
        }
        let lock = match ctx.engine {
            Engine::Postgres => Lock::AccessExclusive,
            Engine::Mysql => Lock::MdlBrief,
        };
        let f = RULE.finding(stmt, message).on_table(table.clone(), lock);
        let fix = match ctx.engine {
            Engine::Postgres => planned_fix(
                ctx,
                Change::DropTable {
                    table: table.clone(),
                },
            ),
            Engine::Mysql => Some(format!(
                "-- 1. release the app version that never touches {table}\n\
                 -- 2. then, in a later migration (no CASCADE, so anything still depending on it stops the drop):\n\
                 DROP TABLE {table};"
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

    const ID: &str = "drop-table";

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
    fn flags_drop_of_existing_tables() {
        let f = run(ID, "DROP TABLE audit_log;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("DROP TABLE audit_log deletes its data"),
            "{}",
            f[0].message
        );
        assert!(!f[0].message.contains("CASCADE"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("never touches audit_log"));
        let f = run(ID, "DROP TABLE IF EXISTS a, public.b CASCADE;", 15);
        assert_eq!(f.len(), 2);
        assert!(f[1].message.contains("public.b"), "{}", f[1].message);
        assert!(
            f[1].message.contains("CASCADE also drops"),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file_and_other_objects() {
        let sql = "CREATE TABLE tmp_import (a int);\nDROP TABLE tmp_import;";
        assert!(run(ID, sql, 15).is_empty());
        assert!(run(ID, "DROP INDEX users_email_idx;", 15).is_empty());
        assert!(run(ID, "DROP VIEW active_users;", 15).is_empty());
    }

    #[test]
    fn mysql_too_but_not_temporary_tables() {
        assert_eq!(run_mysql("DROP TABLE audit_log;").len(), 1);
        assert!(run_mysql("DROP TEMPORARY TABLE scratch;").is_empty());
    }
}
