//! # enum-add-value-in-transaction
//!
//! Finds `ALTER TYPE ... ADD VALUE` inside a transaction block. Before
//! PostgreSQL 12 that fails outright (unless the type was created in the same
//! transaction). From PostgreSQL 12 it runs, but the new value cannot be used
//! until the transaction commits: the rule reports it only when a later
//! statement of the same transaction uses the new label (an INSERT, UPDATE,
//! comparison, default, CHECK or index predicate naming it).
//!
//! **Why it hurts:** before PostgreSQL 12 the migration stops with
//! `ALTER TYPE ... ADD cannot run inside a transaction block`. On 12 and
//! later, the statement that uses the new label fails with `unsafe use of
//! new value`, and the whole migration rolls back. Tools that wrap every
//! migration in a transaction (Rails, Django, Flyway, Alembic, dbmate) hit
//! this by default.
//!
//! **Instead:** run `ALTER TYPE ... ADD VALUE IF NOT EXISTS` on its own,
//! outside the transaction (Rails `disable_ddl_transaction!`, Django
//! `atomic = False`, Alembic `autocommit_block()`, dbmate
//! `transaction:false`), and use the new value in a later migration.

use super::missing_lock_timeout::norm_table;
use super::{Rule, PG};
use crate::review::context::{Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTypeAddValuePosition, AlterTypeOperation, Statement};

pub static RULE: Rule = Rule {
    id: "enum-add-value-in-transaction",
    severity: Severity::Error,
    summary: "ALTER TYPE ... ADD VALUE in a transaction fails before PostgreSQL 12, and its value is unusable until commit after",
    source: include_str!("enum_add_value_in_transaction.rs"),
    engines: PG,
    check,
};

/// The types each transaction creates, by transaction and name as
/// [`norm_table`] gives it.
#[derive(Default)]
pub(crate) struct CreatedTypes(FirstByKey<(usize, String)>);

impl Fact for CreatedTypes {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(Statement::CreateType { name, .. }) = s.ast.as_ref().and_then(Ast::other) {
            self.0.insert((s.txn, norm_table(&name.to_string())), s);
        }
    }
}

/// Whether the enum type was created earlier in the same transaction.
fn created_in_txn(ctx: &Ctx, stmt: &Stmt, type_name: &str) -> bool {
    stmt.in_transaction
        && ctx
            .fact::<CreatedTypes>()
            .0
            .before(&(stmt.txn, norm_table(type_name)), stmt)
}

/// Whether a statement names the label as a string literal. Adding values
/// (even next to the new one, `ADD VALUE 'b' AFTER 'a'`) does not use it.
fn uses_label(ctx: &Ctx, s: &Stmt, literal: &str) -> bool {
    if !s.text.contains(literal) {
        return false;
    }
    // Looked at (parsed again, when not held) only when its text could use
    // the label.
    let parsed = ctx.ast_of(s);
    if let Some(Statement::AlterType(at)) = Option::as_ref(&parsed).and_then(Ast::other) {
        if matches!(at.operation, AlterTypeOperation::AddValue(_)) {
            return false;
        }
    }
    true
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::AlterType(at)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return;
    };
    let AlterTypeOperation::AddValue(av) = &at.operation else {
        return;
    };
    if !stmt.in_transaction {
        return;
    }
    let type_name = at.name.to_string();
    let value = &av.value.value;
    let literal = format!("'{}'", value.replace('\'', "''"));
    let alone = format!(
        "-- on its own, outside any transaction block (Rails disable_ddl_transaction!, Django atomic = False, Alembic autocommit_block(), dbmate transaction:false):\nALTER TYPE {type_name} ADD VALUE IF NOT EXISTS {literal}{};",
        match &av.position {
            Some(AlterTypeAddValuePosition::Before(v)) => format!(" BEFORE {v}"),
            Some(AlterTypeAddValuePosition::After(v)) => format!(" AFTER {v}"),
            None => String::new(),
        }
    );
    if ctx.pg_version < 12 {
        // A type created in the same transaction may gain values there.
        if created_in_txn(ctx, stmt, &type_name) {
            return;
        }
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "ALTER TYPE {type_name} ADD VALUE {literal} cannot run inside a transaction block before PostgreSQL 12: the migration fails with \"ALTER TYPE ... ADD cannot run inside a transaction block\""
                ),
            )
            .with_fix(alone),
        );
        return;
    }
    let Some(user) = ctx
        .later_in_txn(stmt)
        .find(|s| uses_label(ctx, s, &literal))
    else {
        return;
    };
    out.push(
        RULE.finding(
            stmt,
            format!(
                "the new value {literal} of {type_name} is used on line {} in the same transaction: PostgreSQL rejects it with \"unsafe use of new value\" because a value added inside a transaction is unusable until it commits, and the migration rolls back",
                user.line
            ),
        )
        .with_fix(format!(
            "{alone}\n-- then, in a later transaction:\n{};",
            user.text.trim()
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::{run, run_in_txn, run_in_txn_as};

    const ID: &str = "enum-add-value-in-transaction";

    #[test]
    fn alone_in_a_file_flyway_runs_it_outside_a_transaction() {
        let sql = "ALTER TYPE mood ADD VALUE 'meh';";
        assert!(run_in_txn_as(ID, sql, 11, Some("V9__meh.sql")).is_empty());
        assert_eq!(
            run_in_txn_as(ID, sql, 11, Some("20230611_meh.sql")).len(),
            1
        );
        assert_eq!(
            run(ID, "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;", 11).len(),
            1
        );
    }

    #[test]
    fn fails_in_a_transaction_before_12() {
        // With another statement: a wrapping tool wraps the file.
        let f = run_in_txn(ID, "SELECT 1;\nALTER TYPE mood ADD VALUE 'meh';", 11);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .message
            .contains("cannot run inside a transaction block"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';"),
            "{fix}"
        );
        let sql = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';\nCOMMIT;";
        let f = run(ID, sql, 10);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("IF NOT EXISTS 'meh' AFTER 'ok';"));
    }

    #[test]
    fn fine_outside_a_transaction_on_any_version() {
        assert!(run(
            ID,
            "ALTER TYPE mood ADD VALUE 'meh';\nUPDATE t SET m = 'meh' WHERE id = 1;",
            10
        )
        .is_empty());
    }

    #[test]
    fn fine_before_12_when_the_type_is_new_in_the_transaction() {
        let sql = "CREATE TYPE mood AS ENUM ('a');\nALTER TYPE mood ADD VALUE 'b';";
        assert!(run_in_txn(ID, sql, 11).is_empty());
    }

    #[test]
    fn from_12_only_a_use_in_the_same_transaction_fails() {
        assert!(run_in_txn(ID, "ALTER TYPE mood ADD VALUE 'meh';", 12).is_empty());
        let sql = "ALTER TYPE mood ADD VALUE 'meh';\nALTER TYPE mood ADD VALUE 'bleh' AFTER 'meh';";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        let sql = "ALTER TYPE mood ADD VALUE 'meh';\nALTER TYPE feeling ADD VALUE 'meh';";
        assert!(run_in_txn(ID, sql, 15).is_empty());
        for using in [
            "UPDATE posts SET mood = 'meh' WHERE id = 1;",
            "ALTER TABLE posts ALTER COLUMN mood SET DEFAULT 'meh';",
            "SELECT count(*) FROM posts WHERE mood = 'meh';",
            "INSERT INTO posts (mood) VALUES ('meh');",
            "CREATE INDEX CONCURRENTLY posts_meh ON posts (id) WHERE mood = 'meh';",
        ] {
            let sql = format!("ALTER TYPE mood ADD VALUE 'meh';\n{using}");
            let f = run_in_txn(ID, &sql, 15);
            assert_eq!(f.len(), 1, "{using}");
            assert!(f[0].message.contains("unsafe use of new value"));
            assert!(f[0].message.contains("line 2"));
            assert_eq!(f[0].line, 1);
        }
    }

    #[test]
    fn from_12_a_use_after_commit_is_fine() {
        let sql = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;\nBEGIN;\nUPDATE posts SET mood = 'meh' WHERE id = 1;\nCOMMIT;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn from_12_a_new_type_does_not_make_its_new_values_usable() {
        // Measured on PostgreSQL 15: still "unsafe use of new value".
        let sql = "CREATE TYPE m2 AS ENUM ('x');\nALTER TYPE m2 ADD VALUE 'y';\nCREATE TABLE u (v m2 DEFAULT 'y');";
        assert_eq!(run_in_txn(ID, sql, 15).len(), 1);
    }
}
