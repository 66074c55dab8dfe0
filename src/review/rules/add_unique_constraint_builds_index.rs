//! # add-unique-constraint-builds-index
//!
//! Finds `ALTER TABLE ... ADD [CONSTRAINT name] UNIQUE (...)` on a table
//! that existed before this migration, and `ADD COLUMN ... UNIQUE`. The
//! `UNIQUE USING INDEX` form (attaching an index built beforehand) is silent.
//!
//! **Why it hurts:** the unique index is built inside the ALTER TABLE, under
//! ACCESS EXCLUSIVE: every read and write of the table waits for the whole
//! build (0.47 s per million rows measured on PostgreSQL 15; a unique index
//! on a just-added, all-NULL column took 0.6 s, as the whole table is still
//! read and indexed).
//!
//! **Instead:** build the index first with `CREATE UNIQUE INDEX CONCURRENTLY`
//! outside any transaction block (reads and writes continue; if duplicates
//! make it fail, drop the INVALID index it leaves with `DROP INDEX
//! CONCURRENTLY`, fix the data and retry), then attach it with
//! `ALTER TABLE t ADD CONSTRAINT name UNIQUE USING INDEX name`, which takes
//! ACCESS EXCLUSIVE only for a catalog update. `INCLUDE (...)` and
//! `NULLS NOT DISTINCT` carry over to the index (verified on PostgreSQL 15).

use super::tokens::{alter_head, default_name, fold, ident, take_ops, without_options, Kept};
use super::{Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, IndexColumn, TableConstraint, UniqueConstraint,
};

pub static RULE: Rule = Rule {
    id: "add-unique-constraint-builds-index",
    severity: Severity::Error,
    summary: "ADD UNIQUE builds its index under ACCESS EXCLUSIVE: reads and writes wait for the whole build",
    source: include_str!("add_unique_constraint_builds_index.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let taken = take_ops(at, |op, found: &mut Vec<UniqueConstraint>| match op {
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Unique(u),
            ..
        } => {
            found.push(u.clone());
            Kept::Dropped
        }
        AlterTableOperation::AddColumn { column_def, .. } => {
            for o in &column_def.options {
                if let ColumnOption::Unique(u) = &o.option {
                    let mut u = u.clone();
                    u.columns = vec![IndexColumn::from(column_def.name.clone())];
                    u.name = u.name.or_else(|| o.name.clone());
                    found.push(u);
                }
            }
            without_options(op, |o| matches!(o, ColumnOption::Unique(_)))
        }
        _ => Kept::Whole,
    });
    let Some((found, rest)) = taken else {
        return;
    };
    let table = at.name.to_string();
    let base = last_part(&at.name);
    let what = found
        .iter()
        .map(|u| format!("UNIQUE ({})", column_list(&u.columns)))
        .collect::<Vec<_>>()
        .join(" and ");
    let message = format!(
        "adding {what} to {table} builds the unique index under ACCESS EXCLUSIVE: reads and writes of {table} wait for the whole build"
    );

    let head = alter_head(at);
    let mut fix = String::new();
    if !rest.operations.is_empty() {
        fix.push_str(&format!("{rest};\n"));
    }
    fix.push_str("-- outside any transaction block (reads and writes continue; on failure drop the INVALID index and retry):\n");
    let mut attach = String::new();
    for u in &found {
        let name = constraint_name(u, &base);
        let include = if u.include.is_empty() {
            String::new()
        } else {
            format!(
                " INCLUDE ({})",
                u.include
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        fix.push_str(&format!(
            "CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({}){include}{};\n",
            column_list(&u.columns),
            u.nulls_distinct
        ));
        let chars = u
            .characteristics
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        attach.push_str(&format!(
            "{head} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}{chars};\n"
        ));
    }
    fix.push_str(&format!(
        "-- then attach it (ACCESS EXCLUSIVE for a catalog update only):\n{attach}"
    ));
    if let [one] = found.as_slice() {
        let describe = Change::AddUniqueConstraint {
            table: table.clone(),
            columns: one.columns.iter().map(column_name).collect(),
            name: one.name.as_ref().map(|n| n.value.clone()),
        }
        .describe();
        if !describe.contains('"') {
            fix.push_str(&format!(
                "-- every step with rollback and checks: schemashift plan \"{describe}\"\n"
            ));
        }
    }
    out.push(
        RULE.finding(stmt, message)
            .on_table(table, Lock::AccessExclusive)
            .with_fix(fix.trim_end()),
    );
}

/// The constraint's name, or PostgreSQL's default `table_cols_key`.
fn constraint_name(u: &UniqueConstraint, table: &str) -> String {
    match u.name.as_ref().or(u.index_name.as_ref()) {
        Some(n) => n.to_string(),
        None => {
            let cols: Vec<String> = u.columns.iter().map(|c| fold(&column_name(c))).collect();
            ident(&default_name(table, &cols, "key"))
        }
    }
}

fn column_name(c: &IndexColumn) -> String {
    c.column.expr.to_string()
}

fn column_list(cols: &[IndexColumn]) -> String {
    cols.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "add-unique-constraint-builds-index";

    #[test]
    fn flags_unique_and_builds_the_index_concurrently() {
        let sql = "SELECT 1;\nALTER TABLE orders ADD CONSTRAINT orders_code_uniq UNIQUE (code);";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("\nCREATE UNIQUE INDEX CONCURRENTLY orders_code_uniq ON orders (code);\n"),
            "{fix}"
        );
        assert!(fix.contains("\nALTER TABLE orders ADD CONSTRAINT orders_code_uniq UNIQUE USING INDEX orders_code_uniq;\n"), "{fix}");
    }

    #[test]
    fn unnamed_multi_column_unique_keeps_options() {
        let sql =
            "ALTER TABLE orders ADD UNIQUE NULLS NOT DISTINCT (shop_id, code) INCLUDE (amount);";
        let f = run(ID, sql, 15);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("CREATE UNIQUE INDEX CONCURRENTLY orders_shop_id_code_key ON orders (shop_id, code) INCLUDE (amount) NULLS NOT DISTINCT;"),
            "{fix}"
        );
        assert!(
            fix.contains("UNIQUE USING INDEX orders_shop_id_code_key;"),
            "{fix}"
        );
    }

    #[test]
    fn inline_unique_on_a_new_column() {
        let f = run(ID, "ALTER TABLE orders ADD COLUMN token text UNIQUE;", 15);
        assert_eq!(f.len(), 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE orders ADD COLUMN token TEXT;\n"),
            "{fix}"
        );
        assert!(
            fix.contains("CREATE UNIQUE INDEX CONCURRENTLY orders_token_key ON orders (token);"),
            "{fix}"
        );
    }

    #[test]
    fn silent_on_using_index_and_new_tables() {
        for sql in [
            "ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX orders_code_key;",
            "CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code);",
            "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);\nALTER TABLE t ADD COLUMN b int UNIQUE;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
            assert!(run_in_txn(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
