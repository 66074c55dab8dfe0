//! # truncate-cascade
//!
//! Finds `TRUNCATE ... CASCADE` on a table that existed before this
//! migration.
//!
//! **Why it hurts:** CASCADE also empties every table with a foreign key to
//! the truncated one, and every table referencing those, recursively, and
//! the statement does not say which: data the migration never names is gone
//! for good. Each of them is locked ACCESS EXCLUSIVE until commit, so reads
//! and writes of all of them wait too. Without CASCADE, PostgreSQL refuses
//! to truncate a table that others reference, which is the check you want.
//!
//! **Instead:** name every table to empty in one `TRUNCATE a, b, c;`
//! without CASCADE (PostgreSQL then refuses if one is missing); the fix is a
//! query that lists them, recursively, and prints that statement.

use super::tokens::relation_created_earlier;
use super::{Rule, PG};
use crate::engine::Lock;
use crate::ident::literal_pg;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{CascadeOption, Statement};

pub static RULE: Rule = Rule {
    id: "truncate-cascade",
    severity: Severity::Error,
    summary:
        "TRUNCATE ... CASCADE also empties every table that references the truncated one, unnamed",
    source: include_str!("truncate_cascade.rs"),
    engines: PG,
    check,
};

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::Truncate(t)) = stmt.ast.as_ref().and_then(Ast::other) else {
        return;
    };
    if t.cascade != Some(CascadeOption::Cascade) {
        return;
    }
    let tables: Vec<String> = t
        .table_names
        .iter()
        .map(|n| n.name.to_string())
        .filter(|n| !relation_created_earlier(ctx, stmt, n))
        .collect();
    let Some(first) = tables.first() else {
        return;
    };
    let list = tables.join(", ");
    let lookups: Vec<String> = tables
        .iter()
        .map(|n| format!("{}::regclass", literal_pg(n)))
        .collect();
    out.push(
        RULE.finding(
            stmt,
            format!(
                "TRUNCATE {list} CASCADE also empties every table with a foreign key to {list}, and the tables referencing those, none of them named here, each under ACCESS EXCLUSIVE until commit"
            ),
        )
        .on_table(first.clone(), Lock::AccessExclusive)
        .with_fix(format!(
            "-- this query prints the TRUNCATE naming every table CASCADE would empty; read the list,\n\
             -- then run what it prints (without CASCADE PostgreSQL refuses if a referencing table is missing):\n\
             WITH RECURSIVE refs(t) AS (\n  \
             SELECT unnest(ARRAY[{}]::oid[])\n  \
             UNION\n  \
             SELECT c.conrelid FROM pg_constraint c JOIN refs ON c.confrelid = refs.t WHERE c.contype = 'f'\n\
             )\n\
             SELECT 'TRUNCATE ' || string_agg(t::regclass::text, ', ') || ';' FROM refs;",
            lookups.join(", ")
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "truncate-cascade";

    #[test]
    fn flags_cascade_on_existing_tables() {
        let f = run(
            ID,
            "TRUNCATE TABLE ONLY carts, sessions RESTART IDENTITY CASCADE;",
            15,
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .starts_with("TRUNCATE carts, sessions CASCADE also empties"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("SELECT unnest(ARRAY['carts'::regclass, 'sessions'::regclass]::oid[])"),
            "{fix}"
        );
    }

    #[test]
    fn silent_without_cascade_or_on_new_tables() {
        for sql in [
            "TRUNCATE carts;",
            "TRUNCATE carts RESTRICT;",
            "CREATE TABLE scratch (id int);\nTRUNCATE scratch CASCADE;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
