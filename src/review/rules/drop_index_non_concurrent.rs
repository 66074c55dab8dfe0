//! # drop-index-non-concurrent
//!
//! Finds `DROP INDEX` without `CONCURRENTLY` on an index that existed before
//! this migration.
//!
//! **Why it hurts:** a plain `DROP INDEX` takes ACCESS EXCLUSIVE on the
//! index's table. The drop itself is quick, but the lock request queues
//! behind every running query on the table, and every read and write that
//! arrives after it queues behind the drop; inside a transaction the lock is
//! then held until COMMIT.
//!
//! **Instead:** `DROP INDEX CONCURRENTLY IF EXISTS name;`, one index per
//! statement, outside any transaction block (Rails `disable_ddl_transaction!`,
//! Django `atomic = False`, dbmate `transaction:false`). It takes only SHARE
//! UPDATE EXCLUSIVE, so reads and writes continue. It does not support
//! CASCADE: drop dependent objects first. Indexes created earlier in the same
//! file are silent, and so is `DROP INDEX CONCURRENTLY`.

use super::tokens::{index_created_earlier, name_at, tokens};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{ObjectType, Statement};

pub static RULE: Rule = Rule {
    id: "drop-index-non-concurrent",
    severity: Severity::Warning,
    summary: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table: reads and writes queue behind it",
    source: include_str!("drop_index_non_concurrent.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let (names, cascade) = match stmt.ast.as_ref().map(Ast::other) {
        Some(Some(Statement::Drop {
            object_type: ObjectType::Index,
            names,
            cascade,
            ..
        })) => (names.iter().map(|n| n.to_string()).collect(), *cascade),
        // sqlparser cannot parse every spelling; CONCURRENTLY is the safe one.
        None if stmt.starts_with(&["DROP", "INDEX"])
            && !stmt.starts_with(&["DROP", "INDEX", "CONCURRENTLY"]) =>
        {
            unparsed_names(&stmt.text)
        }
        _ => return,
    };
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !index_created_earlier(ctx, stmt, n))
        .collect();
    if names.is_empty() {
        return;
    }
    let list = names.join(", ");
    let held = if stmt.in_transaction {
        "; inside this transaction it then keeps the lock until COMMIT"
    } else {
        ""
    };
    let mut fix = String::from(
        "-- outside any transaction block (Rails disable_ddl_transaction!, Django atomic = False), one index per statement:\n",
    );
    if cascade {
        fix.push_str("-- CONCURRENTLY does not support CASCADE: drop the objects that depend on the index first\n");
    }
    for n in &names {
        fix.push_str(&format!("DROP INDEX CONCURRENTLY IF EXISTS {n};\n"));
    }
    let mut f = RULE
        .finding(
            stmt,
            format!(
                "DROP INDEX {list} takes ACCESS EXCLUSIVE on the index's table: reads and writes of that table queue behind it while it waits for running queries to finish{held}"
            ),
        )
        .with_fix(fix.trim_end());
    f.lock = Some(Lock::AccessExclusive);
    out.push(f);
}

/// Index names and CASCADE from `DROP INDEX [IF EXISTS] a, b [CASCADE]`.
fn unparsed_names(text: &str) -> (Vec<String>, bool) {
    let toks = tokens(text);
    let mut i = 2;
    if toks.get(i).is_some_and(|t| t.is("IF")) {
        i += 2;
    }
    let mut names = Vec::new();
    while let Some((n, next)) = name_at(&toks, i) {
        if matches!(n.to_uppercase().as_str(), "CASCADE" | "RESTRICT") {
            break;
        }
        names.push(n);
        i = next;
        if toks.get(i).is_some_and(|t| t.is(",")) {
            i += 1;
        } else {
            break;
        }
    }
    let cascade = toks.iter().any(|t| t.is("CASCADE"));
    (names, cascade)
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "drop-index-non-concurrent";

    #[test]
    fn flags_plain_drop_and_rewrites_it() {
        let f = run(ID, "SELECT 1;\nDROP INDEX IF EXISTS orders_user_idx;", 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert!(
            f[0].message.contains("ACCESS EXCLUSIVE"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("orders_user_idx"));
        assert_eq!(
            f[0].fix.as_deref().unwrap().lines().last(),
            Some("DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;")
        );
    }

    #[test]
    fn one_statement_per_index_and_cascade_noted() {
        let f = run(ID, "DROP INDEX public.a_idx, b_idx CASCADE;", 15);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("DROP INDEX CONCURRENTLY IF EXISTS public.a_idx;"));
        assert!(fix.contains("DROP INDEX CONCURRENTLY IF EXISTS b_idx;"));
        assert!(fix.contains("CASCADE"));
    }

    #[test]
    fn in_a_transaction_the_lock_is_held_to_commit() {
        let f = run_in_txn(ID, "DROP INDEX orders_user_idx;", 15);
        assert!(f[0].message.contains("keeps the lock until COMMIT"));
    }

    #[test]
    fn silent_on_concurrent_drop() {
        assert!(run(ID, "DROP INDEX CONCURRENTLY orders_user_idx;", 15).is_empty());
        assert!(run(ID, "DROP INDEX CONCURRENTLY IF EXISTS orders_user_idx;", 15).is_empty());
    }

    #[test]
    fn silent_on_indexes_created_earlier_in_the_file() {
        let sql = "CREATE INDEX CONCURRENTLY tmp_idx ON orders (user_id);\nDROP INDEX tmp_idx;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nDROP INDEX public.T_A;";
        assert!(run(ID, sql, 15).is_empty());
        // Another index of the same table is still flagged.
        let sql = "CREATE INDEX tmp_idx ON orders (user_id);\nDROP INDEX old_idx;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn other_drops_are_not_this_rule() {
        assert!(run(ID, "DROP TABLE orders;", 15).is_empty());
        assert!(run(ID, "DROP MATERIALIZED VIEW v;", 15).is_empty());
    }
}
