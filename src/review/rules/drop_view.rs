//! # drop-view
//!
//! Finds `DROP VIEW` and `DROP MATERIALIZED VIEW` of a view that no other
//! statement of the same migration creates (a view dropped to be recreated
//! with a new definition, or created earlier in the file, is silent).
//!
//! **Why it hurts:** every running app version, report or job that reads
//! the view fails from that moment ("relation does not exist"), and a
//! materialized view's stored rows are gone until it is created and
//! refreshed again. `CASCADE` also drops the views built on it, silently.
//!
//! **Instead:** change a view's definition with `CREATE OR REPLACE VIEW`
//! (same columns, new ones added at the end), or drop and recreate it in
//! one transaction. To retire a view, release the app versions that no
//! longer read it first, then drop it in a later migration, without
//! CASCADE so that anything still built on it stops the drop.

use super::tokens::{fold, name_at, tokens};
use super::{Rule, PG};
use crate::review::context::Fact;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{ObjectType, Statement};
use std::collections::HashSet;

pub static RULE: Rule = Rule {
    id: "drop-view",
    severity: Severity::Error,
    summary: "dropping a view the migration does not recreate breaks every app version reading it",
    source: include_str!("drop_view.rs"),
    engines: PG,
    check,
};

/// The view (folded name) a `CREATE [OR REPLACE] [TEMP] [RECURSIVE]
/// [MATERIALIZED] VIEW [IF NOT EXISTS] name` statement creates.
fn created_view(s: &Stmt) -> Option<String> {
    if !s.may_start_with(&["CREATE"]) || !super::tokens::may_contain(&s.text, "view") {
        return None;
    }
    let toks = tokens(&s.text);
    let mut i = 1;
    while toks.get(i).is_some_and(|t| {
        matches!(
            t.upper.as_str(),
            "OR" | "REPLACE" | "TEMP" | "TEMPORARY" | "RECURSIVE" | "MATERIALIZED"
        )
    }) {
        i += 1;
    }
    if !toks.get(i)?.is("VIEW") {
        return None;
    }
    i += 1;
    if toks.get(i).is_some_and(|t| t.is("IF")) {
        i += 3;
    }
    name_at(&toks, i).map(|(n, _)| fold(&n))
}

/// The views some statement of the file creates, before or after the one
/// asked about: worked out once, on the first DROP VIEW, from every
/// statement's text (later statements may not be parsed yet).
#[derive(Default)]
pub(crate) struct ViewCreations(Option<HashSet<String>>);

impl Fact for ViewCreations {
    fn add(&mut self, _: &Ctx, _: &Stmt) {}
}

impl ViewCreations {
    fn creates(&mut self, ctx: &Ctx, view: &str) -> bool {
        self.0
            .get_or_insert_with(|| ctx.stmts.iter().filter_map(created_view).collect())
            .contains(view)
    }
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Statement::Drop {
        object_type: object_type @ (ObjectType::View | ObjectType::MaterializedView),
        names,
        cascade,
        ..
    }) = stmt.ast.as_ref().and_then(Ast::other)
    else {
        return;
    };
    let kind = if *object_type == ObjectType::View {
        "VIEW"
    } else {
        "MATERIALIZED VIEW"
    };
    for name in names {
        let want = fold(&name.to_string());
        if ctx.fact_mut::<ViewCreations>().creates(ctx, &want) {
            continue;
        }
        let mut message = format!(
            "DROP {kind} {name} is not followed by a new {name} in this migration: every app version, report or job reading {name} fails from that moment"
        );
        if *cascade {
            message.push_str("; CASCADE also drops the views built on it, silently");
        }
        let change = if kind == "VIEW" {
            "-- to change its definition: CREATE OR REPLACE VIEW in place of the drop (same columns, new ones at the end)"
        } else {
            "-- to change its definition: drop and create it again in one transaction, so readers wait instead of failing"
        };
        out.push(RULE.finding(stmt, message).with_fix(format!(
            "{change}\n\
             -- to retire it: release the app versions that no longer read {name}, then in a later migration,\n\
             -- without CASCADE (anything still built on it stops the drop):\n\
             DROP {kind} {name};"
        )));
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "drop-view";

    #[test]
    fn flags_views_not_recreated() {
        let f = run(ID, "DROP VIEW active_users;", 15);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .message
            .starts_with("DROP VIEW active_users is not followed"));
        let f = run(
            ID,
            "DROP MATERIALIZED VIEW IF EXISTS daily_revenue, weekly CASCADE;",
            15,
        );
        assert_eq!(f.len(), 2);
        assert!(
            f[1].message.contains("CASCADE also drops"),
            "{}",
            f[1].message
        );
        // Another view's creation does not count.
        let sql = "DROP VIEW active_users;\nCREATE VIEW active_users_v2 AS SELECT 1;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn silent_when_recreated_or_created_in_the_file() {
        for sql in [
            "DROP VIEW active_users;\nCREATE VIEW active_users AS SELECT id FROM users WHERE active;",
            "BEGIN;\nDROP VIEW IF EXISTS public.active_users;\nCREATE OR REPLACE VIEW public.active_users AS SELECT 1;\nCOMMIT;",
            "DROP MATERIALIZED VIEW daily_revenue;\nCREATE MATERIALIZED VIEW IF NOT EXISTS daily_revenue AS SELECT 1 WITH NO DATA;",
            "CREATE VIEW tmp_report AS SELECT 1;\nDROP VIEW tmp_report;",
            "DROP TABLE active_users;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }
}
