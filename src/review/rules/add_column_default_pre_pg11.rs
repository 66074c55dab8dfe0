//! # add-column-default-pre-pg11
//!
//! Finds `ALTER TABLE ... ADD COLUMN ... DEFAULT <value>` (any value but
//! NULL) on a table that existed before this migration, when the migration
//! runs on PostgreSQL 10. Silent on PostgreSQL 11 and later, which store a
//! non-volatile default in the catalog instead of writing it into every row.
//! Volatile defaults rewrite on every version and are reported by
//! `add-column-volatile-default` instead.
//!
//! **Why it hurts:** before PostgreSQL 11, adding a column with a default
//! writes the value into every existing row: the whole table is rewritten and
//! every index rebuilt under ACCESS EXCLUSIVE, so reads and writes wait for
//! all of it.
//!
//! **Instead:** add the column without a default, then `SET DEFAULT` (new
//! rows only, no rewrite), then fill existing rows in batches by primary key,
//! one transaction each; if it must be NOT NULL, add `CHECK (col IS NOT NULL)
//! NOT VALID` and `VALIDATE CONSTRAINT` it (SET NOT NULL itself scans under
//! ACCESS EXCLUSIVE before PostgreSQL 12). Or upgrade: on 11+ the original
//! statement is instant.

use super::add_column_volatile_default::is_volatile;
use super::set_not_null_without_check::not_null_steps;
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, ColumnOption, Expr, Value};

pub static RULE: Rule = Rule {
    id: "add-column-default-pre-pg11",
    severity: Severity::Error,
    summary: "before PostgreSQL 11, ADD COLUMN with a DEFAULT rewrites the whole table under ACCESS EXCLUSIVE",
    source: include_str!("add_column_default_pre_pg11.rs"),
    engines: PG,
    check,
};

fn is_null(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_null(inner),
        Expr::Value(v) => matches!(v.value, Value::Null),
        _ => false,
    }
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if ctx.pg_version >= 11 {
        return;
    }
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    let short = last_part(&at.name);
    for op in &at.operations {
        let AlterTableOperation::AddColumn { column_def, .. } = op else {
            continue;
        };
        let Some(default) = column_def.options.iter().find_map(|o| match &o.option {
            ColumnOption::Default(e) if !is_null(e) => Some(e.to_string()),
            _ => None,
        }) else {
            continue;
        };
        if is_volatile(&default) {
            continue;
        }
        let col = &column_def.name;
        let ty = column_def.data_type.to_string().to_lowercase();
        let not_null = column_def
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::NotNull));
        let v = ctx.pg_version;
        let mut fix = format!(
            "ALTER TABLE {table} ADD COLUMN {col} {ty};\n\
             ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {default}; -- new rows only: no rewrite\n\
             -- fill existing rows in batches of about 1000 by primary key, one transaction each; with key id:\n\
             UPDATE {table} SET {col} = {default} WHERE id >= 1 AND id < 1001 AND {col} IS NULL;"
        );
        if not_null {
            fix.push('\n');
            fix.push_str(&not_null_steps(&table, &short, col, v));
        }
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "on PostgreSQL {v}, ALTER TABLE {table} ADD COLUMN {col} ... DEFAULT {default} writes the default into every existing row: {table} is rewritten under ACCESS EXCLUSIVE, and reads and writes wait for the whole rewrite (PostgreSQL 11+ only records it in the catalog)"
                ),
            )
            .on_table(table.clone(), Lock::AccessExclusive)
            .with_fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "add-column-default-pre-pg11";

    #[test]
    fn flags_any_default_on_pg10() {
        for sql in [
            "ALTER TABLE users ADD COLUMN n int DEFAULT 0;",
            "ALTER TABLE users ADD COLUMN n int NOT NULL DEFAULT 0;",
            "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now();",
            "ALTER TABLE users ADD COLUMN kind text DEFAULT 'a'::text;",
        ] {
            let f = run(ID, sql, 10);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message.contains("on PostgreSQL 10"),
                "{}",
                f[0].message
            );
            assert!(f[0]
                .message
                .contains("users is rewritten under ACCESS EXCLUSIVE"));
        }
        let f = run(
            ID,
            "ALTER TABLE users ADD COLUMN n int NOT NULL DEFAULT 0;",
            10,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("ALTER TABLE users ADD COLUMN n int;"), "{fix}");
        assert!(
            fix.contains("ALTER TABLE users ALTER COLUMN n SET DEFAULT 0;"),
            "{fix}"
        );
        assert!(
            fix.contains("VALIDATE CONSTRAINT users_n_not_null"),
            "{fix}"
        );
        assert!(!fix.contains("SET NOT NULL;"), "{fix}");
    }

    #[test]
    fn silent_on_pg11_and_later() {
        for v in [11, 12, 15, 18] {
            assert!(run(
                ID,
                "ALTER TABLE users ADD COLUMN n int NOT NULL DEFAULT 0;",
                v
            )
            .is_empty());
        }
    }

    #[test]
    fn silent_without_default_null_default_volatile_default_or_new_table() {
        assert!(run(ID, "ALTER TABLE users ADD COLUMN n int;", 10).is_empty());
        assert!(run(ID, "ALTER TABLE users ADD COLUMN n int DEFAULT NULL;", 10).is_empty());
        // Reported by add-column-volatile-default on every version.
        assert!(run(
            ID,
            "ALTER TABLE users ADD COLUMN t uuid DEFAULT gen_random_uuid();",
            10
        )
        .is_empty());
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN n int DEFAULT 0;";
        assert!(run(ID, sql, 10).is_empty());
    }
}
