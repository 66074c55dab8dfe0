//! # add-not-null-column-without-default
//!
//! Finds `ALTER TABLE ... ADD COLUMN ... NOT NULL` (or `PRIMARY KEY`) with
//! no `DEFAULT`, or with `DEFAULT NULL`, on a table that existed before this
//! migration. Serial, identity, AUTO_INCREMENT and generated columns get their
//! values from the database and are left to their own rules; so are columns
//! with a default (instant on PostgreSQL 11+ unless the default is volatile).
//!
//! **Why it hurts:** on PostgreSQL the statement fails outright as soon as the
//! table has a row (`column "x" of relation "t" contains null values`): it
//! passes on an empty development database and breaks the deploy in
//! production. MySQL accepts it but fills existing rows with the type's
//! implicit default (0, '') rather than a real value. On both, every INSERT
//! from an app version that does not know the column fails, since there is no
//! default to fall back on.
//!
//! **Instead:** add the column nullable, release the app that writes it,
//! backfill existing rows in batches, then enforce NOT NULL: on PostgreSQL
//! with `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT`, then
//! `SET NOT NULL` (no scan on 12+); on MySQL with `MODIFY ... NOT NULL,
//! ALGORITHM=INPLACE, LOCK=NONE`. When one constant fits every existing row,
//! adding the column with that DEFAULT is instant (PostgreSQL 11+, MySQL
//! 8.0.12+). Tables created earlier in the same migration are fine.

use super::add_serial_or_identity_column::generates_values;
use super::set_not_null_without_check::not_null_steps;
use super::Rule;
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableOperation, ColumnDef, ColumnOption, Expr, Value};

pub static RULE: Rule = Rule {
    id: "add-not-null-column-without-default",
    severity: Severity::Error,
    summary: "ADD COLUMN ... NOT NULL without a DEFAULT fails on a non-empty table and breaks old app inserts",
    source: include_str!("add_not_null_column_without_default.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

fn is_null(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_null(inner),
        Expr::Value(v) => matches!(v.value, Value::Null),
        _ => false,
    }
}

/// NOT NULL (or PRIMARY KEY) with no usable default.
fn lacks_default(def: &ColumnDef) -> bool {
    let mut not_null = false;
    let mut default = false;
    for o in &def.options {
        match &o.option {
            ColumnOption::NotNull | ColumnOption::PrimaryKey(_) => not_null = true,
            ColumnOption::Null => not_null = false,
            ColumnOption::Default(e) => default = !is_null(e),
            _ => {}
        }
    }
    not_null && !default && !generates_values(def)
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
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
        if !lacks_default(column_def) {
            continue;
        }
        let col = &column_def.name;
        let ty = column_def.data_type.to_string().to_lowercase();
        let (message, lock, fix) = match ctx.engine {
            Engine::Postgres => (
                format!(
                    "ALTER TABLE {table} ADD COLUMN {col} {ty} NOT NULL has no DEFAULT: it fails as soon as {table} has a row (existing rows would hold NULL), and INSERTs from app versions that do not set {col} fail"
                ),
                Lock::AccessExclusive,
                pg_fix(&table, &short, column_def, ctx.pg_version),
            ),
            Engine::Mysql => (
                format!(
                    "ALTER TABLE {table} ADD COLUMN {col} {ty} NOT NULL has no DEFAULT: existing rows get the type's implicit default (0, '') instead of a real value, and INSERTs from app versions that do not set {col} fail (\"Field '{}' doesn't have a default value\")",
                    col.value
                ),
                Lock::MdlBrief,
                mysql_fix(&table, column_def),
            ),
        };
        out.push(
            RULE.finding(stmt, message)
                .on_table(table.clone(), lock)
                .with_fix(fix),
        );
    }
}

/// The column as written, without NOT NULL and PRIMARY KEY (added later).
fn nullable(def: &ColumnDef) -> ColumnDef {
    let mut d = def.clone();
    d.options.retain(|o| {
        !matches!(
            o.option,
            ColumnOption::NotNull | ColumnOption::PrimaryKey(_) | ColumnOption::Default(_)
        )
    });
    d
}

fn pg_fix(table: &str, short: &str, def: &ColumnDef, version: u32) -> String {
    let col = &def.name;
    let mut s = format!(
        "ALTER TABLE {table} ADD COLUMN {};\n\
         -- release the app version that writes {col} on every INSERT, then fill existing rows\n\
         -- in batches of about 1000 rows, one transaction each, and then:\n{}",
        nullable(def),
        not_null_steps(table, short, col, version)
    );
    if def
        .options
        .iter()
        .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
    {
        s.push_str(&format!(
            "\n-- outside any transaction block:\n\
             CREATE UNIQUE INDEX CONCURRENTLY {short}_pkey ON {table} ({col});\n\
             ALTER TABLE {table} ADD CONSTRAINT {short}_pkey PRIMARY KEY USING INDEX {short}_pkey;"
        ));
    }
    s.push_str("\n-- or, when one constant fits every existing row, add the column with that DEFAULT: instant on PostgreSQL 11+");
    s
}

fn mysql_fix(table: &str, def: &ColumnDef) -> String {
    let plain = nullable(def);
    format!(
        "ALTER TABLE {table} ADD COLUMN {plain} NULL, ALGORITHM=INSTANT;\n\
         -- release the app version that writes {col} on every INSERT, fill existing rows in batches, then:\n\
         ALTER TABLE {table} MODIFY COLUMN {plain} NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;\n\
         -- or, when one constant fits every existing row, add the column NOT NULL with that DEFAULT: instant on MySQL 8.0.12+",
        col = def.name
    )
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, Finding, ReviewOptions};

    const ID: &str = "add-not-null-column-without-default";

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
    fn flags_not_null_without_default() {
        for sql in [
            "ALTER TABLE users ADD COLUMN email text NOT NULL;",
            "ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT NULL;",
            "ALTER TABLE users ADD email text NOT NULL REFERENCES emails(address);",
            "ALTER TABLE users ADD COLUMN email text PRIMARY KEY;",
        ] {
            for v in [10, 11, 15, 18] {
                let f = run(ID, sql, v);
                assert_eq!(f.len(), 1, "{sql} on {v}");
                assert!(
                    f[0].message.contains("fails as soon as users has a row"),
                    "{}",
                    f[0].message
                );
            }
        }
        let f = run(
            ID,
            "-- add it\nALTER TABLE users ADD COLUMN email text NOT NULL;",
            15,
        );
        assert_eq!(f[0].line, 2);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE users ADD COLUMN email TEXT;"),
            "{fix}"
        );
        assert!(fix.contains("CHECK (email IS NOT NULL) NOT VALID"), "{fix}");
        assert!(fix.contains("SET NOT NULL"), "{fix}");
        // The foreign key stays on the nullable column.
        let f = run(
            ID,
            "ALTER TABLE users ADD email text NOT NULL REFERENCES emails(address);",
            15,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("REFERENCES emails (address)"), "{fix}");
    }

    #[test]
    fn silent_with_a_default_or_generated_values() {
        for sql in [
            "ALTER TABLE users ADD COLUMN n int NOT NULL DEFAULT 0;",
            "ALTER TABLE users ADD COLUMN n int DEFAULT 0 NOT NULL;",
            "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
            "ALTER TABLE users ADD COLUMN n int;",
            "ALTER TABLE users ADD COLUMN id bigserial NOT NULL;",
            "ALTER TABLE users ADD COLUMN id bigserial PRIMARY KEY;",
            "ALTER TABLE users ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY NOT NULL;",
            "ALTER TABLE users ADD COLUMN d int NOT NULL GENERATED ALWAYS AS (a * 2) STORED;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int NOT NULL;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn mysql_names_the_implicit_default_and_old_inserts() {
        let f = run_mysql("ALTER TABLE users ADD COLUMN email VARCHAR(255) NOT NULL AFTER name;");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("doesn't have a default value"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ADD COLUMN email VARCHAR(255) NULL, ALGORITHM=INSTANT"),
            "{fix}"
        );
        assert!(
            fix.contains("MODIFY COLUMN email VARCHAR(255) NOT NULL"),
            "{fix}"
        );
        assert!(run_mysql("ALTER TABLE users ADD COLUMN n INT NOT NULL DEFAULT 0;").is_empty());
        assert!(run_mysql(
            "ALTER TABLE users ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY;"
        )
        .is_empty());
    }
}
