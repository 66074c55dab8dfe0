//! # vacuum-in-transaction
//!
//! Finds `VACUUM` in any form (`VACUUM t`, `VACUUM ANALYZE t`,
//! `VACUUM (ANALYZE) t`, `VACUUM FULL`) and `CLUSTER` without a table inside
//! a transaction block: after an explicit `BEGIN`, or in a file the migration
//! tool wraps in a transaction (Rails, Django, Flyway and Alembic by default,
//! dbmate unless the up section says `transaction:false`;
//! `--assume-in-transaction`). `ANALYZE` alone and `CLUSTER t` may run in a
//! transaction and are not flagged.
//!
//! **Why it hurts:** PostgreSQL refuses them in a transaction block ("VACUUM
//! cannot run inside a transaction block"), so the migration fails at that
//! point, and a tool that wrapped the file rolls back everything before it.
//!
//! **Instead:** leave routine vacuuming to autovacuum, and `ANALYZE t` (which
//! runs in a transaction) is usually what a migration wants after a backfill.
//! When a vacuum is needed, run it outside a transaction: Rails
//! `disable_ddl_transaction!`, Django `atomic = False` on the migration,
//! dbmate `-- migrate:up transaction:false`, golang-migrate a file of its own
//! without BEGIN/COMMIT, an explicit script: after the COMMIT.

use super::concurrent_index_in_transaction::outside_transaction;
use super::tokens::tokens;
use super::vacuum_full_or_cluster::{cluster_without_table, vacuum_parts};
use super::{Rule, PG};
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "vacuum-in-transaction",
    severity: Severity::Error,
    summary: "VACUUM, and CLUSTER without a table, fail inside a transaction block",
    source: include_str!("vacuum_in_transaction.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.in_transaction {
        return;
    }
    let (what, refused) = if stmt.starts_with(&["VACUUM"]) {
        ("VACUUM", "VACUUM")
    } else if stmt.starts_with(&["CLUSTER"]) && cluster_without_table(&tokens(&stmt.text)) {
        ("CLUSTER without a table", "CLUSTER")
    } else {
        return;
    };
    let (inside, how) = outside_transaction(ctx, stmt);
    let mut fix = format!("{how}\n{};", stmt.text.trim().trim_end_matches(';'));
    if what == "VACUUM" {
        let (_, tables) = vacuum_parts(&tokens(&stmt.text));
        let analyze = match tables.first() {
            Some(t) => format!("ANALYZE {t};"),
            None => "ANALYZE;".to_string(),
        };
        fix.push_str(&format!(
            "\n-- or, when it only refreshes statistics after a backfill, ANALYZE runs in a transaction:\n-- {analyze}"
        ));
    }
    out.push(RULE.finding(
        stmt,
        format!(
            "{what} runs {inside}: PostgreSQL rejects it with \"{refused} cannot run inside a transaction block\" and the migration fails"
        ),
    ).with_fix(fix));
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn, run_in_txn_as};

    const ID: &str = "vacuum-in-transaction";

    #[test]
    fn a_vacuum_alone_in_a_file_runs_outside_the_tools_transaction() {
        // Flyway runs a file of VACUUM alone outside a transaction; CLUSTER
        // is not on its list, so a wrapping tool wraps it and it fails.
        let flyway = Some("V3__vacuum_orders.sql");
        assert!(run_in_txn_as(ID, "VACUUM (ANALYZE) orders;", 15, flyway).is_empty());
        assert_eq!(run_in_txn_as(ID, "CLUSTER;", 15, flyway).len(), 1);
        assert_eq!(run_in_txn(ID, "VACUUM (ANALYZE) orders;", 15).len(), 1);
    }

    #[test]
    fn flags_vacuum_and_table_less_cluster_in_a_transaction() {
        for (sql, refused) in [
            ("VACUUM orders;", "VACUUM"),
            ("VACUUM ANALYZE orders;", "VACUUM"),
            ("vacuum (analyze, verbose) orders;", "VACUUM"),
            ("VACUUM FULL;", "VACUUM"),
            ("CLUSTER;", "CLUSTER"),
            ("CLUSTER VERBOSE;", "CLUSTER"),
            ("CLUSTER (VERBOSE);", "CLUSTER"),
        ] {
            // With another statement: a wrapping tool wraps the file.
            let sql = format!("ANALYZE orders;\n{sql}");
            let f = run_in_txn(ID, &sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message.contains(&format!(
                    "\"{refused} cannot run inside a transaction block\""
                )),
                "{}",
                f[0].message
            );
            assert!(f[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("disable_ddl_transaction!"));
        }
    }

    #[test]
    fn explicit_begin_is_named() {
        let f = run(ID, "BEGIN;\nVACUUM ANALYZE orders;\nCOMMIT;", 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert!(f[0].message.contains("after BEGIN"), "{}", f[0].message);
        assert!(
            f[0].fix.as_deref().unwrap().ends_with("-- ANALYZE orders;"),
            "{:?}",
            f[0].fix
        );
        let all = run(ID, "BEGIN;\nVACUUM (VERBOSE, ANALYZE);\nCOMMIT;", 15);
        assert!(all[0].fix.as_deref().unwrap().ends_with("-- ANALYZE;"));
    }

    #[test]
    fn silent_outside_a_transaction_and_where_postgresql_allows_it() {
        for sql in [
            "VACUUM orders;",
            "BEGIN;\nCOMMIT;\nVACUUM ANALYZE orders;",
            "CLUSTER;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
        for sql in [
            "ANALYZE orders;",
            "CLUSTER orders;",
            "CLUSTER orders USING orders_pkey;",
            "CLUSTER VERBOSE orders;",
            "CLUSTER (VERBOSE) orders USING orders_pkey;",
            "CLUSTER orders_pkey ON orders;",
        ] {
            assert!(run_in_txn(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
