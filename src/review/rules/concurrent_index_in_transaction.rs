//! # concurrent-index-in-transaction
//!
//! Finds `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` and
//! `REINDEX ... CONCURRENTLY` inside a transaction block: after an explicit
//! `BEGIN`, or in a file the migration tool wraps in a transaction (Rails,
//! Django, Flyway and Alembic by default, dbmate unless the up section says
//! `transaction:false`; `--assume-in-transaction`). With that option a file
//! is wrapped as its tool wraps it: Flyway (`V1__x.sql`) runs a file of only
//! statements it knows cannot run in a transaction (`CREATE`/`DROP INDEX
//! CONCURRENTLY`, `VACUUM` ...; not `REINDEX ... CONCURRENTLY`) outside one,
//! Prisma (`migration.sql`) a file of one statement, sqlx a file starting
//! `-- no-transaction`; such files are not flagged.
//!
//! **Why it hurts:** PostgreSQL refuses these statements in a transaction
//! block ("CREATE INDEX CONCURRENTLY cannot run inside a transaction block"),
//! so the migration fails at that point, and a tool that wrapped the file
//! rolls back everything before it.
//!
//! **Instead:** run the statement outside a transaction: Rails
//! `disable_ddl_transaction!`, Django `atomic = False` on the migration,
//! dbmate `-- migrate:up transaction:false`, golang-migrate a file of its own
//! without BEGIN/COMMIT, an explicit script: after the COMMIT. Keep such a
//! migration to the concurrent statement alone, so a failure leaves nothing
//! half applied.

use super::tokens::{options_at, tokens};
use super::{Rule, PG};
use crate::review::context::{Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "concurrent-index-in-transaction",
    severity: Severity::Error,
    summary:
        "CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY fail inside a transaction block",
    source: include_str!("concurrent_index_in_transaction.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if !stmt.in_transaction {
        return;
    }
    let Some((what, table)) = concurrent_kind(stmt) else {
        return;
    };
    let (inside, how) = outside_transaction(ctx, stmt);
    let mut f = RULE
        .finding(
            stmt,
            format!(
                "{what} runs {inside}: PostgreSQL rejects it with \"{what} cannot run inside a transaction block\" and the migration fails"
            ),
        )
        .with_fix(format!("{how}\n{};", stmt.text.trim().trim_end_matches(';')));
    f.table = table;
    out.push(f);
}

/// Where a statement that must run outside a transaction block runs (after
/// BEGIN, or in the transaction the tool wraps the file in), and the comment
/// that says how to take it out.
pub(crate) fn outside_transaction(ctx: &Ctx, stmt: &Stmt) -> (&'static str, &'static str) {
    if ctx.fact::<Begins>().0.before(&stmt.txn, stmt) {
        (
            "after BEGIN",
            "-- move it after the COMMIT (or remove the BEGIN/COMMIT around it):",
        )
    } else {
        (
            "in the transaction the migration tool wraps the file in",
            "-- run it outside a transaction: Rails disable_ddl_transaction!, Django atomic = False,\n-- dbmate `-- migrate:up transaction:false`, golang-migrate a file of its own without BEGIN/COMMIT:",
        )
    }
}

/// The first statement of each transaction (the BEGIN opening it counts)
/// that starts with BEGIN or START, by transaction number.
#[derive(Default)]
pub(crate) struct Begins(FirstByKey<usize>);

impl Fact for Begins {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if s.starts_with(&["BEGIN"]) || s.starts_with(&["START"]) {
            self.0.insert(s.txn, s);
        }
    }
}

/// Which concurrent statement this is, and the table when it is named.
fn concurrent_kind(stmt: &Stmt) -> Option<(&'static str, Option<String>)> {
    if let Some(Ast::CreateIndex(ci)) = &stmt.ast {
        return ci
            .concurrently
            .then(|| ("CREATE INDEX CONCURRENTLY", Some(ci.table_name.to_string())));
    }
    if stmt.ast.is_none()
        && (stmt.starts_with(&["CREATE", "INDEX", "CONCURRENTLY"])
            || stmt.starts_with(&["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]))
    {
        return Some(("CREATE INDEX CONCURRENTLY", None));
    }
    if stmt.starts_with(&["DROP", "INDEX", "CONCURRENTLY"]) {
        return Some(("DROP INDEX CONCURRENTLY", None));
    }
    if stmt.starts_with(&["REINDEX"]) {
        let toks = tokens(&stmt.text);
        let (opts, i) = options_at(&toks, 1);
        let in_options = opts.iter().any(|(o, on)| o == "CONCURRENTLY" && *on);
        let keyword = toks.get(i + 1).is_some_and(|t| t.is("CONCURRENTLY"));
        if in_options || keyword {
            return Some(("REINDEX CONCURRENTLY", None));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn, run_in_txn_as};
    use crate::review::{review_sql, ReviewOptions};

    const ID: &str = "concurrent-index-in-transaction";

    #[test]
    fn flags_each_concurrent_statement_in_a_wrapped_file() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON orders (user_id);",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (code);",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "REINDEX (VERBOSE) TABLE CONCURRENTLY orders;",
            "REINDEX (CONCURRENTLY) INDEX i;",
        ] {
            // With another statement: a wrapping tool wraps the file.
            let sql = format!("ALTER TABLE orders ADD COLUMN note text;\n{sql}");
            let f = run_in_txn(ID, &sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message
                    .contains("cannot run inside a transaction block"),
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
    fn each_tool_wraps_a_file_of_one_concurrent_statement_its_own_way() {
        let one = "DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;";
        let flyway = Some("db/migration/V7__drop_orders_user_idx.sql");
        let prisma = Some("prisma/migrations/20240101000000_drop_idx/migration.sql");
        // Flyway runs a file of such statements alone outside a transaction;
        // Prisma sends one query string, a transaction only with several.
        for sql in [
            one,
            "CREATE INDEX CONCURRENTLY i ON orders (user_id);",
            "CREATE INDEX CONCURRENTLY a ON orders (x);\nCREATE INDEX CONCURRENTLY b ON orders (y);",
        ] {
            assert!(run_in_txn_as(ID, sql, 15, flyway).is_empty(), "{sql}");
        }
        assert!(run_in_txn_as(ID, one, 15, prisma).is_empty());
        let two = "CREATE INDEX CONCURRENTLY a ON orders (x);\nCREATE INDEX CONCURRENTLY b ON orders (y);";
        assert_eq!(run_in_txn_as(ID, two, 15, prisma).len(), 2);
        // Rails, Django, Alembic, dbmate, sqlx, Diesel wrap it: it fails.
        assert_eq!(
            run_in_txn_as(ID, one, 15, Some("20240101_drop_idx.sql")).len(),
            1
        );
        assert_eq!(run_in_txn(ID, one, 15).len(), 1);
        // Flyway does not know REINDEX ... CONCURRENTLY: it wraps it, and it fails.
        assert_eq!(
            run_in_txn_as(ID, "REINDEX INDEX CONCURRENTLY i;", 15, flyway).len(),
            1
        );
        // Mixed with another statement: Flyway wraps (or refuses) the file.
        let mixed = format!("SET lock_timeout = '2s';\n{one}");
        assert_eq!(run_in_txn_as(ID, &mixed, 15, flyway).len(), 1);
        // sqlx: `-- no-transaction` on the first line.
        let sqlx = format!("-- no-transaction\n{mixed}");
        assert!(run_in_txn_as(ID, &sqlx, 15, Some("20240101_drop_idx.sql")).is_empty());
        // An explicit BEGIN is a transaction whatever the tool does.
        let begun = "BEGIN;\nDROP INDEX CONCURRENTLY i;\nCOMMIT;";
        assert_eq!(run_in_txn_as(ID, begun, 15, flyway).len(), 1);
    }

    #[test]
    fn explicit_begin_is_named_and_the_table_kept() {
        let sql = "BEGIN;\nCREATE INDEX CONCURRENTLY i ON orders (user_id);\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert!(f[0].message.contains("after BEGIN"));
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("CREATE INDEX CONCURRENTLY i ON orders (user_id);"));
    }

    #[test]
    fn new_tables_do_not_help() {
        let sql = "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);";
        assert_eq!(run_in_txn(ID, sql, 15).len(), 1);
    }

    #[test]
    fn silent_outside_transactions() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON orders (user_id);",
            "DROP INDEX CONCURRENTLY i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON orders (user_id);",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_non_concurrent_forms_in_transactions() {
        for sql in [
            "CREATE INDEX i ON orders (user_id);",
            "DROP INDEX i;",
            "REINDEX INDEX i;",
            "REINDEX (CONCURRENTLY false) INDEX i;",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v;",
        ] {
            assert!(run_in_txn(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn dbmate_transaction_false_is_outside() {
        let wrapped = "-- migrate:up\nCREATE INDEX CONCURRENTLY i ON orders (user_id);\n-- migrate:down\nDROP INDEX i;\n";
        let opts = ReviewOptions::default();
        let f: Vec<_> = review_sql(wrapped, Some("20240101_x.sql"), &opts)
            .into_iter()
            .filter(|f| f.rule == ID)
            .collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        let unwrapped = wrapped.replace("-- migrate:up", "-- migrate:up transaction:false");
        assert!(review_sql(&unwrapped, Some("20240101_x.sql"), &opts)
            .iter()
            .all(|f| f.rule != ID));
    }
}
