//! # drop-schema-cascade
//!
//! Finds `DROP SCHEMA ... CASCADE`.
//!
//! **Why it hurts:** CASCADE drops every table, view, function, type and
//! sequence in the schema, and every object elsewhere that depends on them
//! (views, foreign keys of other schemas' tables), without listing them: the
//! data is gone for good and every app version using any of it fails.
//! Without CASCADE, PostgreSQL refuses to drop a schema that still holds
//! anything, which is the check you want.
//!
//! **Instead:** drop the objects you mean to drop one by one (each with its
//! own review), then `DROP SCHEMA name;` without CASCADE, so that anything
//! left or still depended on stops the migration instead of vanishing.

use super::{Rule, PG};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{ObjectType, Statement};

pub static RULE: Rule = Rule {
    id: "drop-schema-cascade",
    severity: Severity::Error,
    summary:
        "DROP SCHEMA ... CASCADE drops every object in the schema and everything depending on them",
    source: include_str!("drop_schema_cascade.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::Drop {
        object_type: ObjectType::Schema,
        names,
        cascade: true,
        ..
    }) = stmt.ast.as_ref().and_then(Ast::other)
    else {
        return;
    };
    for name in names {
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "DROP SCHEMA {name} CASCADE drops every table, view, function and type in {name} and every object elsewhere that depends on them, with their data, and every app version using any of them fails"
                ),
            )
            .with_fix(format!(
                "-- list what it would take with it:\n\
                 SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend WHERE refobjid = {}::regnamespace;\n\
                 -- drop those you mean to drop, each in its own reviewed migration, then, without CASCADE\n\
                 -- (anything left or depended on stops it):\n\
                 DROP SCHEMA {name};",
                crate::ident::literal_pg(&name.to_string())
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "drop-schema-cascade";

    #[test]
    fn flags_cascade_for_each_schema() {
        let f = run(ID, "DROP SCHEMA IF EXISTS legacy, reports CASCADE;", 15);
        assert_eq!(f.len(), 2);
        assert!(f[0]
            .message
            .starts_with("DROP SCHEMA legacy CASCADE drops every table"));
        let fix = f[1].fix.as_deref().unwrap();
        assert!(fix.contains("refobjid = 'reports'::regnamespace"), "{fix}");
        assert!(fix.ends_with("DROP SCHEMA reports;"), "{fix}");
    }

    #[test]
    fn silent_without_cascade_and_on_other_drops() {
        for sql in [
            "DROP SCHEMA legacy;",
            "DROP SCHEMA legacy RESTRICT;",
            "DROP TABLE legacy.t CASCADE;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
