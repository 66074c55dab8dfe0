//! # add-foreign-key-validating
//!
//! Finds `ALTER TABLE ... ADD [CONSTRAINT name] FOREIGN KEY ... REFERENCES`
//! without `NOT VALID` on a table that existed before this migration, and
//! `ADD COLUMN ... DEFAULT ... REFERENCES` (an inline foreign key on a new
//! column that has a default).
//!
//! **Why it hurts:** adding a validated foreign key takes SHARE ROW
//! EXCLUSIVE on both the table and the referenced table, then checks every
//! existing row: INSERT, UPDATE and DELETE on both tables wait for the whole
//! scan (0.7 s per million rows measured on PostgreSQL 15). A new column with
//! a default is checked row by row the same way, under the ACCESS EXCLUSIVE
//! that ADD COLUMN takes, so reads wait too.
//!
//! An inline `ADD COLUMN c bigint REFERENCES p (id)` with no default is
//! silent: PostgreSQL knows the new column is all NULL, skips the check and
//! marks the constraint valid at once (measured: 0.4 ms on a million rows;
//! the locks are brief). An explicit `DEFAULT NULL` does not get that
//! shortcut, nor does a separate `ADD CONSTRAINT ... FOREIGN KEY` on a column
//! just added (both measured as a full scan).
//!
//! **Instead:** add it `NOT VALID` (brief locks; new and updated rows are
//! checked from then on), then `VALIDATE CONSTRAINT` in a separate
//! transaction: that scan holds only SHARE UPDATE EXCLUSIVE on the table and
//! ROW SHARE on the referenced one, so reads and writes continue. On a
//! partitioned table before PostgreSQL 18, NOT VALID foreign keys are refused:
//! add them to each partition NOT VALID, validate, then add to the parent.

use super::tokens::{alter_head, default_name, ident, take_ops, without_options, Kept};
use super::{Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, ForeignKeyConstraint, Ident, TableConstraint,
};

pub static RULE: Rule = Rule {
    id: "add-foreign-key-validating",
    severity: Severity::Error,
    summary:
        "ADD FOREIGN KEY without NOT VALID blocks writes to both tables while every row is checked",
    source: include_str!("add_foreign_key_validating.rs"),
    engines: PG,
    check,
};

/// One foreign key the statement validates on the spot.
struct Fk {
    fk: ForeignKeyConstraint,
    /// Set when it is inline on an added column (that column's name).
    inline_column: Option<String>,
}

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let taken = take_ops(at, |op, found| match op {
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::ForeignKey(fk),
            not_valid: false,
        } => {
            found.push(Fk {
                fk: fk.clone(),
                inline_column: None,
            });
            Kept::Dropped
        }
        AlterTableOperation::AddColumn { column_def, .. }
            if column_def
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::Default(_))) =>
        {
            for o in &column_def.options {
                if let ColumnOption::ForeignKey(fk) = &o.option {
                    let mut fk = fk.clone();
                    fk.columns = vec![column_def.name.clone()];
                    fk.name = fk.name.or_else(|| o.name.clone());
                    found.push(Fk {
                        fk,
                        inline_column: Some(column_def.name.to_string()),
                    });
                }
            }
            without_options(op, |o| matches!(o, ColumnOption::ForeignKey(_)))
        }
        _ => Kept::Whole,
    });
    let Some((found, rest)) = taken else {
        return;
    };
    let table = at.name.to_string();
    let base = last_part(&at.name);
    // Anything else in the statement (ADD COLUMN included) takes ACCESS EXCLUSIVE.
    let lock = if rest.operations.is_empty() {
        Lock::ShareRowExclusive
    } else {
        Lock::AccessExclusive
    };
    let mut referenced: Vec<String> = Vec::new();
    for f in &found {
        let r = f.fk.foreign_table.to_string();
        if !referenced.contains(&r) {
            referenced.push(r);
        }
    }
    let refs = referenced.join(", ");
    let what = found
        .iter()
        .map(|f| match &f.inline_column {
            Some(c) => format!(
                "the new column {table}.{c} (it has a default) REFERENCES {}",
                f.fk.foreign_table
            ),
            None => format!(
                "FOREIGN KEY ({}) REFERENCES {}",
                idents(&f.fk.columns),
                f.fk.foreign_table
            ),
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let blocked = if lock == Lock::AccessExclusive {
        format!("reads and writes of {table} and writes to {refs} wait for the whole scan")
    } else {
        format!("INSERT, UPDATE and DELETE on {table} and {refs} wait for the whole scan")
    };
    let locks = if lock == Lock::AccessExclusive {
        format!("ACCESS EXCLUSIVE on {table} and SHARE ROW EXCLUSIVE on {refs}")
    } else {
        format!("SHARE ROW EXCLUSIVE on {table} and {refs}")
    };
    let message =
        format!("adding {what} takes {locks}, then checks every row of {table}: {blocked}");

    let head = alter_head(at);
    let mut fix = String::new();
    if !rest.operations.is_empty() {
        fix.push_str(&format!("{rest};\n"));
    }
    let mut validates = String::new();
    for f in &found {
        let mut fk = f.fk.clone();
        let name = match &fk.name {
            Some(n) => n.to_string(),
            None => {
                let cols: Vec<String> = fk.columns.iter().map(|c| c.value.clone()).collect();
                let n = ident(&default_name(&base, &cols, "fkey"));
                fk.name = Some(Ident::new(n.clone()));
                n
            }
        };
        fix.push_str(&format!("{head} ADD {fk} NOT VALID;\n"));
        validates.push_str(&format!("{head} VALIDATE CONSTRAINT {name};\n"));
    }
    fix.push_str(&format!(
        "-- then, in a separate transaction (SHARE UPDATE EXCLUSIVE on {table}: reads and writes continue):\n{validates}"
    ));
    if let [one] = found.as_slice() {
        let change = Change::AddForeignKey {
            table: table.clone(),
            columns: one.fk.columns.iter().map(|c| c.value.clone()).collect(),
            references_table: one.fk.foreign_table.to_string(),
            references_columns: one
                .fk
                .referred_columns
                .iter()
                .map(|c| c.value.clone())
                .collect(),
            name: one.fk.name.as_ref().map(|n| n.value.clone()),
            on_delete: one
                .fk
                .on_delete
                .as_ref()
                .map(|a| a.to_string().to_lowercase()),
        };
        let describe = change.describe();
        if !describe.contains('"') {
            fix.push_str(&format!(
                "-- every step with rollback and checks: schemashift plan \"{describe}\"\n"
            ));
        }
    }
    out.push(
        RULE.finding(stmt, message)
            .on_table(table, lock)
            .with_fix(fix.trim_end()),
    );
}

fn idents(v: &[Ident]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "add-foreign-key-validating";

    #[test]
    fn flags_validating_fk_and_splits_it() {
        let sql = "SELECT 1;\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        assert_eq!(f[0].lock, Some(crate::engine::Lock::ShareRowExclusive));
        assert!(
            f[0].message.contains(
                "takes SHARE ROW EXCLUSIVE on orders and users, then checks every row of orders"
            ),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("on orders and users wait"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE NOT VALID;\n"),
            "{fix}"
        );
        assert!(
            fix.contains("\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;\n"),
            "{fix}"
        );
        assert!(
            fix.contains("schemashift plan \"add foreign key orders (user_id) -> users\""),
            "{fix}"
        );
    }

    #[test]
    fn unnamed_fk_gets_the_name_postgres_would_give() {
        let f = run(
            ID,
            "ALTER TABLE ONLY public.orders ADD FOREIGN KEY (user_id) REFERENCES users;",
            15,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users NOT VALID;"), "{fix}");
        assert!(
            fix.contains("ALTER TABLE ONLY public.orders VALIDATE CONSTRAINT orders_user_id_fkey;"),
            "{fix}"
        );
    }

    #[test]
    fn column_with_default_and_references_is_checked_row_by_row() {
        let sql = "ALTER TABLE orders ADD COLUMN buyer_id bigint DEFAULT 1 REFERENCES users (id);";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].lock, Some(crate::engine::Lock::AccessExclusive));
        assert!(
            f[0].message.contains("reads and writes of orders"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE orders ADD COLUMN buyer_id BIGINT DEFAULT 1;\n"),
            "{fix}"
        );
        assert!(fix.contains("ADD CONSTRAINT orders_buyer_id_fkey FOREIGN KEY (buyer_id) REFERENCES users(id) NOT VALID;"), "{fix}");
    }

    #[test]
    fn fk_next_to_another_change_keeps_that_change() {
        let sql = "ALTER TABLE orders ADD COLUMN buyer_id bigint, ADD CONSTRAINT fk_b FOREIGN KEY (buyer_id) REFERENCES users (id);";
        let f = run(ID, sql, 15);
        assert_eq!(f[0].lock, Some(crate::engine::Lock::AccessExclusive));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("ALTER TABLE orders ADD COLUMN buyer_id BIGINT;\n"),
            "{fix}"
        );
    }

    #[test]
    fn silent_on_safe_forms() {
        for sql in [
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
            "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
            // A new column without a default is known NULL: no check, brief locks.
            "ALTER TABLE orders ADD COLUMN buyer_id bigint REFERENCES users (id);",
            "ALTER TABLE orders ADD COLUMN buyer_id bigint CONSTRAINT orders_buyer_fk REFERENCES users (id) ON DELETE SET NULL;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
            assert!(run_in_txn(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_tables_created_earlier_in_the_file() {
        let sql = "CREATE TABLE invoices (id bigint, order_id bigint);\nALTER TABLE invoices ADD FOREIGN KEY (order_id) REFERENCES orders (id);";
        assert!(run(ID, sql, 15).is_empty());
    }
}
