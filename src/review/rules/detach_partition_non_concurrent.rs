//! # detach-partition-non-concurrent
//!
//! Finds `ALTER TABLE ... DETACH PARTITION` without `CONCURRENTLY` on a
//! partitioned table that existed before the migration, on PostgreSQL 14 and
//! later (where the concurrent form exists; before 14 there is no other way,
//! and `missing-lock-timeout` covers the wait).
//!
//! **Why it hurts:** the plain form takes ACCESS EXCLUSIVE on the parent:
//! reads and writes of every partition wait while it runs, and while it waits
//! for running queries on any partition to finish, every later query on the
//! table queues behind it.
//!
//! **Instead:** `ALTER TABLE parent DETACH PARTITION part CONCURRENTLY`
//! outside any transaction block (PostgreSQL 14+). It takes only SHARE UPDATE
//! EXCLUSIVE on the parent. It is not allowed while the parent has a DEFAULT
//! partition; if it is interrupted, finish it with `... DETACH PARTITION part
//! FINALIZE`.

use super::missing_lock_timeout::{alter_table_target, created_in_file, raw_words};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "detach-partition-non-concurrent",
    severity: Severity::Warning,
    summary: "DETACH PARTITION without CONCURRENTLY locks the whole partitioned table",
    source: include_str!("detach_partition_non_concurrent.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    // sqlparser 0.63 does not parse PostgreSQL partition DETACH: read the words.
    if stmt.ast.is_some() || ctx.pg_version < 14 || !stmt.may_start_with(&["ALTER"]) {
        return;
    }
    let raw = raw_words(&stmt.text, 48);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let Some((parent, next)) = alter_table_target(&up, &raw) else {
        return;
    };
    if up.get(next).map(String::as_str) != Some("DETACH")
        || up.get(next + 1).map(String::as_str) != Some("PARTITION")
    {
        return;
    }
    let Some(part) = raw.get(next + 2) else {
        return;
    };
    if up[next + 2..]
        .iter()
        .any(|w| w == "CONCURRENTLY" || w == "FINALIZE")
        || created_in_file(ctx, stmt, &parent)
    {
        return;
    }
    let in_txn = if stmt.in_transaction {
        " (this statement is in a transaction block: move it to a migration that runs without one)"
    } else {
        ""
    };
    out.push(
        RULE.finding(
            stmt,
            format!(
                "DETACH PARTITION {part} takes ACCESS EXCLUSIVE on {parent}: reads and writes of every partition of {parent} wait while it runs, and while it waits for running queries every later query on {parent} queues behind it"
            ),
        )
        .on_table(parent.clone(), Lock::AccessExclusive)
        .with_fix(format!(
            "-- outside any transaction block{in_txn}; takes SHARE UPDATE EXCLUSIVE on {parent} (not possible while {parent} has a DEFAULT partition):\nALTER TABLE {parent} DETACH PARTITION {part} CONCURRENTLY;\n-- if it is interrupted, finish it with:\n-- ALTER TABLE {parent} DETACH PARTITION {part} FINALIZE;"
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "detach-partition-non-concurrent";

    #[test]
    fn flags_plain_detach_from_14() {
        let f = run(ID, "ALTER TABLE events DETACH PARTITION events_2019;", 14);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("ACCESS EXCLUSIVE on events"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;"),
            "{fix}"
        );
        let f = run_in_txn(
            ID,
            "ALTER TABLE IF EXISTS ONLY public.events DETACH PARTITION public.events_2019;",
            16,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("transaction block: move it"));
    }

    #[test]
    fn silent_on_concurrent_forms_old_versions_and_new_tables() {
        assert!(run(
            ID,
            "ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;",
            15
        )
        .is_empty());
        assert!(run(
            ID,
            "ALTER TABLE events DETACH PARTITION events_2019 FINALIZE;",
            15
        )
        .is_empty());
        assert!(run(ID, "ALTER TABLE events DETACH PARTITION events_2019;", 13).is_empty());
        let sql = "CREATE TABLE events (id int, ts date) PARTITION BY RANGE (ts);\nALTER TABLE events DETACH PARTITION events_2019;";
        assert!(run(ID, sql, 15).is_empty());
        assert!(run(
            ID,
            "ALTER TABLE events ATTACH PARTITION events_2019 DEFAULT;",
            15
        )
        .is_empty());
    }
}
