//! # add-column-volatile-default
//!
//! Finds `ALTER TABLE ... ADD COLUMN ... DEFAULT <volatile expression>` on a
//! table that existed before this migration: `random()`,
//! `gen_random_uuid()`, `uuid_generate_v4()`, `clock_timestamp()`,
//! `timeofday()`, `nextval(...)` and the other functions PostgreSQL marks
//! VOLATILE. `now()`, `current_timestamp`, `statement_timestamp()` and
//! `txid_current()` are STABLE: evaluated once, stored in the catalog, no
//! rewrite on PostgreSQL 11+ (and before 11 every default rewrites, see
//! `add-column-default-pre-pg11`).
//!
//! **Why it hurts:** a volatile default has to be computed separately for
//! every existing row, so PostgreSQL rewrites the whole table and rebuilds
//! every index under ACCESS EXCLUSIVE, on every version: reads and writes wait
//! for all of it (about 1 s per million rows on a small server).
//!
//! **Instead:** add the column without a default (catalog only), then `SET
//! DEFAULT` the expression (applies to new rows only, no rewrite), then fill
//! existing rows in batches, one transaction each; enforce NOT NULL afterwards
//! with a validated CHECK if the column needs it. Tables created earlier in
//! the same migration are fine.

use super::set_not_null_without_check::not_null_steps;
use super::{planned_fix, Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use crate::sqltext::VOLATILE_FUNCTIONS;
use sqlparser::ast::{AlterTableOperation, ColumnOption};

pub static RULE: Rule = Rule {
    id: "add-column-volatile-default",
    severity: Severity::Error,
    summary: "ADD COLUMN with a volatile DEFAULT rewrites the whole table under ACCESS EXCLUSIVE",
    source: include_str!("add_column_volatile_default.rs"),
    engines: PG,
    check,
};

/// In the shared volatile list but STABLE in pg_proc (checked on PostgreSQL
/// 15): a default calling them is evaluated once, like `now()`.
const STABLE: &[&str] = &["statement_timestamp", "txid_current", "pg_current_xact_id"];

/// Whether a default expression calls a VOLATILE function, so PostgreSQL
/// must compute it row by row.
pub(super) fn is_volatile(expr: &str) -> bool {
    let lower = expr.to_ascii_lowercase();
    VOLATILE_FUNCTIONS
        .iter()
        .filter(|f| !STABLE.contains(f))
        .any(|f| {
            lower.match_indices(f).any(|(i, _)| {
                let before = lower[..i].chars().next_back();
                let standalone = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                standalone && lower[i + f.len()..].trim_start().starts_with('(')
            })
        })
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
        let Some(default) = column_def.options.iter().find_map(|o| match &o.option {
            ColumnOption::Default(e) => Some(e.to_string()),
            _ => None,
        }) else {
            continue;
        };
        if !is_volatile(&default) {
            continue;
        }
        let col = &column_def.name;
        let ty = column_def.data_type.to_string().to_lowercase();
        let not_null = column_def
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::NotNull));
        let f = RULE
            .finding(
                stmt,
                format!(
                    "ALTER TABLE {table} ADD COLUMN {col} ... DEFAULT {default} computes the volatile default for every existing row: {table} is rewritten under ACCESS EXCLUSIVE, and reads and writes wait for the whole rewrite"
                ),
            )
            .on_table(table.clone(), Lock::AccessExclusive);
        let change = if not_null {
            Change::AddNotNullColumn {
                table: table.clone(),
                column: col.to_string(),
                data_type: ty.clone(),
                default: Some(default.clone()),
                fill: None,
            }
        } else {
            Change::AddColumn {
                table: table.clone(),
                column: col.to_string(),
                data_type: ty.clone(),
                default: Some(default.clone()),
            }
        };
        let fix = planned_fix(ctx, change).unwrap_or_else(|| {
            let mut s = format!(
                "ALTER TABLE {table} ADD COLUMN {col} {ty};\n\
                 ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {default}; -- new rows only: no rewrite\n\
                 -- fill existing rows in batches, one transaction each, moving the page range on by 100 until it passes\n\
                 -- pg_relation_size('{table}') / 8192 (PostgreSQL 14+ reads only that range; before 14, batch by primary key):\n\
                 UPDATE {table} SET {col} = {default} WHERE ctid >= '(0,0)'::tid AND ctid < '(100,0)'::tid AND {col} IS NULL;"
            );
            if not_null {
                s.push('\n');
                s.push_str(&not_null_steps(&table, &short, col, ctx.pg_version));
            }
            s
        });
        out.push(f.with_fix(fix));
    }
}

#[cfg(test)]
mod tests {
    use super::is_volatile;
    use crate::review::rules::testing::run;

    const ID: &str = "add-column-volatile-default";

    #[test]
    fn volatility_follows_pg_proc() {
        assert!(is_volatile("gen_random_uuid()"));
        assert!(is_volatile("uuid_generate_v4()"));
        assert!(is_volatile("(random() * 100)::int"));
        assert!(is_volatile("clock_timestamp()"));
        assert!(is_volatile("nextval('orders_id_seq'::regclass)"));
        assert!(!is_volatile("now()"));
        assert!(!is_volatile("CURRENT_TIMESTAMP"));
        assert!(!is_volatile("statement_timestamp()"));
        assert!(!is_volatile("txid_current()"));
        assert!(!is_volatile("'random'"));
        assert!(!is_volatile("my_random(1)"));
    }

    #[test]
    fn flags_volatile_defaults_on_every_version() {
        for sql in [
            "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
            "ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT clock_timestamp();",
        ] {
            for v in [10, 11, 15, 18] {
                let f = run(ID, sql, v);
                assert_eq!(f.len(), 1, "{sql} on {v}");
                assert!(
                    f[0].message
                        .contains("users is rewritten under ACCESS EXCLUSIVE"),
                    "{}",
                    f[0].message
                );
                assert_eq!(f[0].line, 1);
            }
        }
        let f = run(
            ID,
            "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            15,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE users ADD COLUMN token uuid;"),
            "{fix}"
        );
        assert!(fix.contains("SET DEFAULT gen_random_uuid()"), "{fix}");
    }

    #[test]
    fn silent_on_stable_or_constant_defaults_and_new_tables() {
        for sql in [
            "ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();",
            "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT CURRENT_TIMESTAMP;",
            "ALTER TABLE users ADD COLUMN n int DEFAULT 0;",
            "ALTER TABLE users ADD COLUMN kind text DEFAULT 'random';",
            "ALTER TABLE users ADD COLUMN token uuid;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN token uuid DEFAULT gen_random_uuid();";
        assert!(run(ID, sql, 15).is_empty());
    }
}
