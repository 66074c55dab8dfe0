//! # rename-type
//!
//! Finds `ALTER TYPE ... RENAME TO` of a type that no earlier statement of
//! the file creates.
//!
//! **Why it hurts:** the rename is instant, but every running app version,
//! function or query that names the type (casts such as `'x'::status` or
//! Prisma's `::"Status"`, function signatures, `CREATE TABLE` in later
//! code) fails from that moment with "type does not exist".
//!
//! **Instead:** expand and contract: create the type under the new name,
//! move the columns to it, release the app versions that name the new type,
//! then drop the old one in a later migration. A type only the database
//! itself uses (no app code names it) can be renamed: say so with
//! `-- schemashift-ignore rename-type`.

use super::{Rule, PG};
use crate::review::context::{last_part, Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTypeOperation, Statement};

pub static RULE: Rule = Rule {
    id: "rename-type",
    severity: Severity::Warning,
    summary: "renaming a type breaks every app version and query that names it",
    source: include_str!("rename_type.rs"),
    engines: PG,
    check,
};

/// The types the file creates (`CREATE TYPE`), by last name part.
#[derive(Default)]
pub(crate) struct CreatedTypes(FirstByKey);

impl Fact for CreatedTypes {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(Statement::CreateType { name, .. }) = s.ast.as_ref().and_then(Ast::other) {
            self.0.insert(last_part(name), s);
        }
    }
}

/// Whether the type was created earlier in the file.
pub(super) fn type_created_earlier(
    ctx: &Ctx,
    stmt: &Stmt,
    name: &sqlparser::ast::ObjectName,
) -> bool {
    ctx.fact::<CreatedTypes>().0.before(&last_part(name), stmt)
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::AlterType(at)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return;
    };
    let AlterTypeOperation::Rename(r) = &at.operation else {
        return;
    };
    if type_created_earlier(ctx, stmt, &at.name) {
        return;
    }
    let (old, new) = (&at.name, &r.new_name);
    out.push(
        RULE.finding(
            stmt,
            format!(
                "ALTER TYPE {old} RENAME TO {new}: every running app version, function or query naming {old} (casts, signatures) fails from that moment"
            ),
        )
        .with_fix(format!(
            "-- expand and contract instead:\n\
             -- 1. create the type as {new} (the same definition) and move the columns to it;\n\
             -- 2. release the app versions that name {new};\n\
             -- 3. then, in a later migration:\n\
             DROP TYPE {old};"
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;
    use crate::review::Severity;

    const ID: &str = "rename-type";

    #[test]
    fn flags_a_rename_of_an_existing_type() {
        let f = run(ID, "ALTER TYPE order_status RENAME TO order_state;", 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("naming order_status"),
            "{}",
            f[0].message
        );
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("DROP TYPE order_status;"));
    }

    #[test]
    fn silent_on_new_types_and_other_alterations() {
        for sql in [
            "CREATE TYPE mood AS ENUM ('a');\nALTER TYPE mood RENAME TO feeling;",
            "ALTER TYPE mood ADD VALUE 'b';",
            "ALTER TYPE mood RENAME VALUE 'a' TO 'b';",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
