//! # drop-database
//!
//! Finds `DROP DATABASE` (any form, `IF EXISTS` and `WITH (FORCE)`
//! included).
//!
//! **Why it hurts:** every table and all the data in the database are gone
//! at once, and a migration is the wrong place for it: it runs wherever the
//! migrations run, production included. `WITH (FORCE)` also ends every
//! session connected to it. PostgreSQL refuses it inside a transaction
//! block, so a wrapped migration fails on it instead.
//!
//! **Instead:** keep database lifecycle out of schema migrations: create and
//! drop databases from provisioning or by hand, after a backup, on the one
//! server meant.

use super::{Rule, PG};
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "drop-database",
    severity: Severity::Error,
    summary:
        "DROP DATABASE in a migration deletes every table and all data wherever the migrations run",
    source: include_str!("drop_database.rs"),
    engines: PG,
    check,
};

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    // Read by its words: `WITH (FORCE)` is beyond sqlparser 0.63.
    if !stmt.starts_with(&["DROP", "DATABASE"]) {
        return;
    }
    let toks = super::tokens::tokens(&stmt.text);
    let mut i = 2;
    if toks.get(i).is_some_and(|t| t.is("IF")) {
        i += 2;
    }
    let name = super::tokens::name_at(&toks, i)
        .map(|(n, _)| n)
        .unwrap_or_default();
    out.push(
        RULE.finding(
            stmt,
            format!(
                "DROP DATABASE {name} deletes every table and all data in it, wherever this migration runs, production included"
            ),
        )
        .with_fix(
            "-- not in a migration: drop databases from provisioning or by hand, after a backup, on the one server meant",
        ),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "drop-database";

    #[test]
    fn flags_every_form() {
        for (sql, name) in [
            ("DROP DATABASE shop;", "shop"),
            ("drop database if exists \"Shop\";", "\"Shop\""),
            ("DROP DATABASE shop_test WITH (FORCE);", "shop_test"),
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert!(
                f[0].message
                    .starts_with(&format!("DROP DATABASE {name} deletes")),
                "{}",
                f[0].message
            );
        }
    }

    #[test]
    fn silent_on_other_statements() {
        for sql in [
            "DROP TABLE database;",
            "CREATE DATABASE shop;",
            "SELECT 'DROP DATABASE x';",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
