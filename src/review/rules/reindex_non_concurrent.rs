//! # reindex-non-concurrent
//!
//! Finds `REINDEX INDEX | TABLE | SCHEMA | DATABASE` without `CONCURRENTLY`
//! (keyword or `(CONCURRENTLY)` option) on indexes and tables that existed
//! before this migration. `REINDEX SYSTEM` is left alone: system catalogs
//! cannot be reindexed concurrently.
//!
//! **Why it hurts:** the rebuild holds SHARE on the table, so INSERT, UPDATE
//! and DELETE wait for all of it, and ACCESS EXCLUSIVE on the index being
//! rebuilt. Reads wait too: the planner locks every index of a table when it
//! plans a query, so nearly every SELECT on the table queues behind the
//! rebuild (measured on PostgreSQL 15: a SELECT by primary key blocked by
//! `REINDEX INDEX` of another index). `SCHEMA` and `DATABASE` do this table
//! after table.
//!
//! **Instead:** on PostgreSQL 12 and later, `REINDEX ... CONCURRENTLY`
//! outside any transaction block (SHARE UPDATE EXCLUSIVE: reads and writes
//! continue); an interrupted run leaves an INVALID `..._ccnew` index to drop
//! with `DROP INDEX CONCURRENTLY`. Before 12, build a copy with
//! `CREATE INDEX CONCURRENTLY`, drop the old index concurrently and rename
//! the copy. Indexes and tables created earlier in the same file are silent.
//! Before 12, `REINDEX ... CONCURRENTLY` itself is flagged: it is a syntax
//! error there, and the same copy-and-swap is the fix.

use super::tokens::{index_created_earlier, name_at, options_at, relation_created_earlier, tokens};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::ident::literal_pg;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "reindex-non-concurrent",
    severity: Severity::Error,
    summary:
        "REINDEX without CONCURRENTLY blocks writes, and in practice reads, for the whole rebuild",
    source: include_str!("reindex_non_concurrent.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.starts_with(&["REINDEX"]) {
        return;
    }
    let toks = tokens(&stmt.text);
    let (opts, i) = options_at(&toks, 1);
    let Some(kind) = toks.get(i).map(|t| t.upper.clone()) else {
        return;
    };
    if !matches!(kind.as_str(), "INDEX" | "TABLE" | "SCHEMA" | "DATABASE") {
        return;
    }
    let concurrent_option = opts.iter().any(|(o, on)| o == "CONCURRENTLY" && *on);
    let concurrent_keyword = toks.get(i + 1).is_some_and(|t| t.is("CONCURRENTLY"));
    if concurrent_option || concurrent_keyword {
        if ctx.pg_version < 12 {
            // Not a lock hazard but a failed migration: the syntax is new in 12.
            let after = if concurrent_keyword { i + 2 } else { i + 1 };
            let target = name_at(&toks, after).map(|(n, _)| n).unwrap_or_default();
            out.push(
                RULE.finding(
                    stmt,
                    format!(
                        "REINDEX ... CONCURRENTLY needs PostgreSQL 12: PostgreSQL {} rejects it with a syntax error and the migration fails",
                        ctx.pg_version
                    ),
                )
                .with_fix(before_12(&kind, &target)),
            );
        }
        return;
    }
    let name = name_at(&toks, i + 1).map(|(n, _)| n);
    let message = match (kind.as_str(), &name) {
        ("INDEX", Some(n)) => {
            if index_created_earlier(ctx, stmt, n) {
                return;
            }
            format!("REINDEX INDEX {n} holds ACCESS EXCLUSIVE on {n} and SHARE on its table for the whole rebuild: writes to the table wait, and so do reads (the planner locks every index of a table to plan a query)")
        }
        ("TABLE", Some(t)) => {
            if relation_created_earlier(ctx, stmt, t) {
                return;
            }
            format!("REINDEX TABLE {t} holds SHARE on {t} and ACCESS EXCLUSIVE on its indexes until every index is rebuilt: writes to {t} wait, and so do reads (the planner locks every index of a table to plan a query)")
        }
        ("SCHEMA", Some(s)) => format!("REINDEX SCHEMA {s} rebuilds every index in {s}, each table under SHARE with its indexes under ACCESS EXCLUSIVE: reads and writes of each table wait for its rebuild"),
        ("DATABASE", _) => "REINDEX DATABASE rebuilds every index of the database, each table under SHARE with its indexes under ACCESS EXCLUSIVE: reads and writes of each table wait for its rebuild".to_string(),
        _ => return,
    };
    let target = name.clone().unwrap_or_default();
    let fix = if ctx.pg_version >= 12 {
        let spaced = if target.is_empty() {
            String::new()
        } else {
            format!(" {target}")
        };
        format!(
            "-- outside any transaction block; if it is interrupted, drop the INVALID ..._ccnew index it leaves with DROP INDEX CONCURRENTLY:\nREINDEX {kind} CONCURRENTLY{spaced};"
        )
    } else {
        before_12(&kind, &target)
    };
    let mut f = RULE.finding(stmt, message).with_fix(fix);
    f = match (kind.as_str(), name) {
        ("TABLE", Some(t)) => f.on_table(t, Lock::Share),
        _ => {
            f.lock = Some(Lock::Share);
            f
        }
    };
    out.push(f);
}

/// PostgreSQL 10 and 11 have no REINDEX CONCURRENTLY: a concurrent copy, then a swap.
fn before_12(kind: &str, name: &str) -> String {
    let head = "-- REINDEX CONCURRENTLY needs PostgreSQL 12; before that, build a copy concurrently and swap it in\n-- (not for indexes behind a PRIMARY KEY or UNIQUE constraint: attach the copy with ADD CONSTRAINT ... USING INDEX instead).\n";
    match kind {
        "INDEX" => {
            let (schema, base) = match name.rsplit_once('.') {
                Some((s, b)) => (format!("{s}."), b.to_string()),
                None => (String::new(), name.to_string()),
            };
            let copy = match base.strip_prefix('"') {
                Some(q) => format!("\"{}_new\"", q.trim_end_matches('"')),
                None => format!("{base}_new"),
            };
            // Names reach the literals only through literal_pg.
            format!(
                "{head}-- this query prints the CREATE INDEX CONCURRENTLY of the copy; run its output, outside any transaction block:\nSELECT replace(pg_get_indexdef({}::regclass), {}, {});\nDROP INDEX CONCURRENTLY {name};\nALTER INDEX {schema}{copy} RENAME TO {base};",
                literal_pg(name),
                literal_pg(&format!(" INDEX {base} ON ")),
                literal_pg(&format!(" INDEX CONCURRENTLY {copy} ON ")),
            )
        }
        "TABLE" => format!(
            "{head}-- do it for each index of {name}, listed by:\nSELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = {}::regclass;",
            literal_pg(name)
        ),
        "SCHEMA" => format!(
            "{head}-- do it for each index that needs it, listed by:\nSELECT indexname, indexdef FROM pg_indexes WHERE schemaname = {};",
            literal_pg(&super::tokens::fold(name))
        ),
        _ => format!(
            "{head}-- do it for each index that needs it, listed by:\nSELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema');"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn concurrently_before_12_is_a_syntax_error_with_the_copy_as_fix() {
        use crate::review::rules::testing::run;
        for (sql, name) in [
            (
                "REINDEX INDEX CONCURRENTLY users_email_idx;",
                "users_email_idx",
            ),
            (
                "REINDEX (CONCURRENTLY) INDEX users_email_idx;",
                "users_email_idx",
            ),
        ] {
            let f = run("reindex-non-concurrent", sql, 11);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message.contains("needs PostgreSQL 12"),
                "{}",
                f[0].message
            );
            let fix = f[0].fix.as_deref().unwrap();
            assert!(
                fix.contains(&format!("DROP INDEX CONCURRENTLY {name};")),
                "{fix}"
            );
            assert!(run("reindex-non-concurrent", sql, 12).is_empty(), "{sql}");
        }
    }

    use crate::review::rules::testing::run;

    const ID: &str = "reindex-non-concurrent";

    #[test]
    fn flags_each_kind_and_rewrites_it_concurrently() {
        for (sql, want) in [
            (
                "REINDEX INDEX orders_user_idx;",
                "REINDEX INDEX CONCURRENTLY orders_user_idx;",
            ),
            (
                "REINDEX TABLE public.orders;",
                "REINDEX TABLE CONCURRENTLY public.orders;",
            ),
            (
                "REINDEX (VERBOSE) TABLE orders;",
                "REINDEX TABLE CONCURRENTLY orders;",
            ),
            ("REINDEX SCHEMA app;", "REINDEX SCHEMA CONCURRENTLY app;"),
            (
                "reindex database shop;",
                "REINDEX DATABASE CONCURRENTLY shop;",
            ),
            (
                "REINDEX (CONCURRENTLY off) INDEX i;",
                "REINDEX INDEX CONCURRENTLY i;",
            ),
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            let fix = f[0].fix.as_deref().unwrap();
            assert!(fix.ends_with(want), "{sql}: {fix}");
        }
    }

    #[test]
    fn message_names_the_table_and_both_blocks() {
        let f = run(ID, "SELECT 1;\nREINDEX TABLE orders;", 15);
        assert_eq!(f[0].line, 2);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        assert!(f[0]
            .message
            .contains("writes to orders wait, and so do reads"));
    }

    #[test]
    fn before_12_builds_a_copy_and_swaps() {
        let f = run(ID, "REINDEX INDEX app.orders_user_idx;", 11);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(!fix.contains("REINDEX INDEX CONCURRENTLY"), "{fix}");
        assert!(
            fix.contains("' INDEX CONCURRENTLY orders_user_idx_new ON '"),
            "{fix}"
        );
        assert!(fix.contains("DROP INDEX CONCURRENTLY app.orders_user_idx;"));
        assert!(fix.ends_with("ALTER INDEX app.orders_user_idx_new RENAME TO orders_user_idx;"));
        let f = run(ID, "REINDEX TABLE orders;", 10);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("indrelid = 'orders'::regclass"));
    }

    #[test]
    fn silent_on_concurrent_forms() {
        for sql in [
            "REINDEX INDEX CONCURRENTLY i;",
            "REINDEX TABLE CONCURRENTLY orders;",
            "REINDEX (VERBOSE, CONCURRENTLY) TABLE orders;",
            "REINDEX (VERBOSE) DATABASE CONCURRENTLY shop;",
            "REINDEX SYSTEM shop;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_objects_created_earlier_in_the_file() {
        let sql = "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nREINDEX INDEX t_a;\nREINDEX TABLE t;";
        assert!(run(ID, sql, 15).is_empty());
    }
}
