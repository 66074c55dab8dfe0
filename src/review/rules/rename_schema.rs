//! # rename-schema
//!
//! Finds `ALTER SCHEMA ... RENAME TO`.
//!
//! **Why it hurts:** the rename is instant, and from that moment every
//! query, view definition written by hand, function body, `search_path`
//! setting and app connection string naming the old schema stops finding
//! anything in it: every app version using qualified names fails at once.
//!
//! **Instead:** leave the schema's name alone; if it must change, create
//! the new schema, move the objects with `ALTER TABLE ... SET SCHEMA` one
//! release at a time (keeping a view under the old name while app versions
//! still use it), then drop the old schema when nothing names it.

use super::tokens::fold;
use super::{Rule, PG};
use crate::ident::literal_pg;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterSchemaOperation, Statement};

pub static RULE: Rule = Rule {
    id: "rename-schema",
    severity: Severity::Error,
    summary: "renaming a schema breaks every query, setting and app version naming it",
    source: include_str!("rename_schema.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::AlterSchema(a)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return;
    };
    for op in &a.operations {
        let AlterSchemaOperation::Rename { name: new } = op else {
            continue;
        };
        let old = &a.name;
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "ALTER SCHEMA {old} RENAME TO {new}: every query, function body, search_path and app version naming {old} stops finding its tables at once"
                ),
            )
            .with_fix(format!(
                "-- keep {old}; if the name must change, move objects one release at a time:\n\
                 CREATE SCHEMA IF NOT EXISTS {new};\n\
                 -- this query prints one ALTER TABLE ... SET SCHEMA per table; run each in its own migration,\n\
                 -- once no app version names the table under {old}:\n\
                 SELECT format('ALTER TABLE %I.%I SET SCHEMA %I;', schemaname, tablename, {}) FROM pg_tables WHERE schemaname = {};",
                literal_pg(&fold(&new.to_string())),
                literal_pg(&fold(&old.to_string())),
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "rename-schema";

    #[test]
    fn flags_a_schema_rename() {
        let f = run(ID, "ALTER SCHEMA billing RENAME TO invoicing;", 15);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .message
            .starts_with("ALTER SCHEMA billing RENAME TO invoicing:"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("CREATE SCHEMA IF NOT EXISTS invoicing;"));
        assert!(f[0].fix.as_deref().unwrap().ends_with(
            "SELECT format('ALTER TABLE %I.%I SET SCHEMA %I;', schemaname, tablename, 'invoicing') FROM pg_tables WHERE schemaname = 'billing';"
        ));
    }

    #[test]
    fn silent_on_other_schema_changes() {
        assert!(run(ID, "ALTER SCHEMA billing OWNER TO app;", 15).is_empty());
        assert!(run(ID, "CREATE SCHEMA billing;", 15).is_empty());
    }
}
