//! # refresh-matview-non-concurrent
//!
//! Finds `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` on a view that
//! existed before this migration.
//!
//! **Why it hurts:** a plain refresh holds ACCESS EXCLUSIVE on the view
//! while its query runs again: every read of the view waits for the whole
//! refresh.
//!
//! **Instead:** `REFRESH MATERIALIZED VIEW CONCURRENTLY v;`. It takes only
//! EXCLUSIVE on the view, so reads go on (it may run inside a transaction).
//! It needs a unique index on the view that covers every row (plain column
//! list, no WHERE clause), created once with `CREATE UNIQUE INDEX
//! CONCURRENTLY`, and it cannot be used on a view that was never populated
//! ("CONCURRENTLY cannot be used when the materialized view is not
//! populated"). So the first refresh of a view created `WITH NO DATA` must be
//! plain: nobody can read that view yet, so it blocks nothing. Such views
//! created earlier in the same file are silent; for one created by an
//! earlier migration, silence the finding with
//! `-- schemashift-ignore refresh-matview-non-concurrent`.
//! `REFRESH ... WITH NO DATA` (empty the view) is silent too: it is brief.

use super::tokens::{name_at, relation_created_earlier, tokens};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "refresh-matview-non-concurrent",
    severity: Severity::Error,
    summary: "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view for the whole refresh",
    source: include_str!("refresh_matview_non_concurrent.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.starts_with(&["REFRESH", "MATERIALIZED", "VIEW"]) {
        return;
    }
    let toks = tokens(&stmt.text);
    if toks.get(3).is_some_and(|t| t.is("CONCURRENTLY")) {
        return;
    }
    let Some((view, next)) = name_at(&toks, 3) else {
        return;
    };
    let no_data = toks.get(next).is_some_and(|t| t.is("WITH"))
        && toks.get(next + 1).is_some_and(|t| t.is("NO"));
    if no_data || relation_created_earlier(ctx, stmt, &view) {
        return;
    }
    out.push(
        RULE.finding(
            stmt,
            format!("REFRESH MATERIALIZED VIEW {view} holds ACCESS EXCLUSIVE on {view} while its query runs again: every read of {view} waits for the whole refresh"),
        )
        .on_table(view.clone(), Lock::AccessExclusive)
        .with_fix(format!(
            "-- needs a unique index on {view} covering every row (plain columns, no WHERE), created once with\n-- CREATE UNIQUE INDEX CONCURRENTLY; reads of {view} continue during the refresh:\nREFRESH MATERIALIZED VIEW CONCURRENTLY {view};"
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "refresh-matview-non-concurrent";

    #[test]
    fn flags_plain_refresh_and_rewrites_it() {
        let f = run(
            ID,
            "SELECT 1;\nREFRESH MATERIALIZED VIEW reporting.daily_sales;",
            15,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert_eq!(f[0].table.as_deref(), Some("reporting.daily_sales"));
        assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("REFRESH MATERIALIZED VIEW CONCURRENTLY reporting.daily_sales;"));
        // WITH DATA is the default spelling of the same refresh.
        assert_eq!(
            run(ID, "REFRESH MATERIALIZED VIEW v WITH DATA;", 15).len(),
            1
        );
        assert_eq!(run_in_txn(ID, "REFRESH MATERIALIZED VIEW v;", 15).len(), 1);
    }

    #[test]
    fn silent_on_concurrent_refresh_and_with_no_data() {
        assert!(run(ID, "REFRESH MATERIALIZED VIEW CONCURRENTLY v;", 15).is_empty());
        assert!(run(ID, "REFRESH MATERIALIZED VIEW v WITH NO DATA;", 15).is_empty());
    }

    #[test]
    fn silent_on_views_created_earlier_in_the_file() {
        let sql = "CREATE MATERIALIZED VIEW daily AS SELECT 1 AS a WITH NO DATA;\nREFRESH MATERIALIZED VIEW daily;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "CREATE MATERIALIZED VIEW IF NOT EXISTS app.daily AS SELECT 1 AS a;\nREFRESH MATERIALIZED VIEW Daily;";
        assert!(run(ID, sql, 15).is_empty());
        let sql =
            "CREATE MATERIALIZED VIEW daily AS SELECT 1 AS a;\nREFRESH MATERIALIZED VIEW weekly;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }
}
