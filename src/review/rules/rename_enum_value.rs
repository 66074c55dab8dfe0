//! # rename-enum-value
//!
//! Finds `ALTER TYPE ... RENAME VALUE 'old' TO 'new'` on an enum that no
//! earlier statement of the file creates.
//!
//! **Why it hurts:** every row holding the old label reads as the new one
//! at once, and every running app version that writes or compares the old
//! label fails ("invalid input value for enum") or silently matches
//! nothing. No app version can run against both labels.
//!
//! **Instead:** expand and contract: `ALTER TYPE ... ADD VALUE 'new'`,
//! release app versions that accept both labels, move the rows to the new
//! label in batches, release the versions that write only the new one; the
//! old label can stay (enum values cannot be dropped in place).

use super::rename_type::type_created_earlier;
use super::{Rule, PG};
use crate::ident::literal_pg;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTypeOperation, Statement};

pub static RULE: Rule = Rule {
    id: "rename-enum-value",
    severity: Severity::Error,
    summary:
        "renaming an enum value breaks every app version that writes or compares the old label",
    source: include_str!("rename_enum_value.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::AlterType(at)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return;
    };
    let AlterTypeOperation::RenameValue(r) = &at.operation else {
        return;
    };
    if type_created_earlier(ctx, stmt, &at.name) {
        return;
    }
    let ty = &at.name;
    let (old, new) = (literal_pg(&r.from.value), literal_pg(&r.to.value));
    out.push(
        RULE.finding(
            stmt,
            format!(
                "ALTER TYPE {ty} RENAME VALUE {old} TO {new}: every row with {old} reads {new} at once, and every running app version writing or comparing {old} fails or matches nothing"
            ),
        )
        .with_fix(format!(
            "-- expand and contract instead (outside a transaction block before PostgreSQL 12):\n\
             ALTER TYPE {ty} ADD VALUE IF NOT EXISTS {new};\n\
             -- release app versions that accept both labels; then move the rows in batches\n\
             -- (UPDATE ... SET col = {new} WHERE col = {old}, a few thousand rows per transaction);\n\
             -- then release the versions that write only {new}"
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "rename-enum-value";

    #[test]
    fn flags_a_renamed_label() {
        let f = run(
            ID,
            "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'sent';",
            15,
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("every row with 'shipped' reads 'sent'"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'sent';"),
            "{fix}"
        );
        let f = run(
            ID,
            "ALTER TYPE \"Status\" RENAME VALUE 'it''s' TO 'its';",
            15,
        );
        assert!(f[0].message.contains("'it''s'"), "{}", f[0].message);
    }

    #[test]
    fn silent_on_new_types() {
        let sql = "CREATE TYPE mood AS ENUM ('a');\nALTER TYPE mood RENAME VALUE 'a' TO 'b';";
        assert!(run(ID, sql, 15).is_empty());
        assert!(run(ID, "ALTER TYPE mood RENAME TO feeling;", 15).is_empty());
    }
}
