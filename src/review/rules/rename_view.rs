//! # rename-view
//!
//! Finds `ALTER VIEW ... RENAME TO`, `ALTER VIEW ... RENAME COLUMN` and the
//! same on a materialized view, for a view this migration did not create.
//! sqlparser cannot parse these forms; they are read by their words.
//!
//! **Why it hurts:** the rename is instant, but every running app version,
//! report or other service that names the old view (or the old column)
//! fails from that moment: during a rolling deploy the old version is live.
//!
//! **Instead:** create the new name beside the old one (`CREATE VIEW new AS
//! SELECT * FROM old`, or a second view with the column renamed), release
//! the app that uses the new name, then drop the old view once nothing uses
//! it.

use super::missing_lock_timeout::raw_words;
use super::{Rule, PG};
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "rename-view",
    severity: Severity::Error,
    summary:
        "renaming a view or its column breaks every running app version that uses the old name",
    source: include_str!("rename_view.rs"),
    engines: PG,
    check,
};

/// The view and what the statement renames, read by its words.
pub(crate) fn read(stmt: &Stmt) -> Option<(String, String)> {
    let materialized = stmt.starts_with(&["ALTER", "MATERIALIZED", "VIEW"]);
    if !materialized && !stmt.starts_with(&["ALTER", "VIEW"]) {
        return None;
    }
    let raw = raw_words(&stmt.text, 12);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let mut i = if materialized { 3 } else { 2 };
    if up.get(i).is_some_and(|w| w == "IF") {
        i += 2;
    }
    let view = raw.get(i)?.clone();
    if up.get(i + 1)? != "RENAME" {
        return None;
    }
    let what = match up.get(i + 2)?.as_str() {
        "TO" => format!("the view to {}", raw.get(i + 3)?),
        "COLUMN" => format!("its column {} to {}", raw.get(i + 3)?, raw.get(i + 5)?),
        _ => format!("its column {} to {}", raw.get(i + 2)?, raw.get(i + 4)?),
    };
    Some((view, what))
}

/// Whether an earlier statement of the file creates the view.
fn created_earlier(ctx: &Ctx, stmt: &Stmt, view: &str) -> bool {
    let view = view.to_lowercase();
    ctx.stmts
        .iter()
        .take_while(|s| s.index < stmt.index)
        .any(|s| {
            let up: Vec<String> = raw_words(&s.text, 8)
                .iter()
                .map(|w| w.to_lowercase())
                .collect();
            up.first().is_some_and(|w| w == "create")
                && up
                    .iter()
                    .position(|w| w == "view")
                    .and_then(|k| up.get(k + 1))
                    .is_some_and(|name| *name == view)
        })
}

/// The new name beside the old: for a view renamed, a view of it.
fn fix(stmt: &Stmt, view: &str) -> String {
    let raw = raw_words(&stmt.text, 12);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let to = up
        .iter()
        .position(|w| w == "RENAME")
        .filter(|&k| up.get(k + 1).is_some_and(|w| w == "TO"));
    match to.and_then(|k| raw.get(k + 2)) {
        Some(new) => format!("-- instead of the rename: the new name beside the old, then release the app that uses it and drop {view} later\nCREATE VIEW {new} AS SELECT * FROM {view};"),
        None => format!("-- instead of the rename: a second view with the column under its new name, then release the app that uses it and drop {view} later"),
    }
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some((view, what)) = read(stmt) else {
        return;
    };
    if created_earlier(ctx, stmt, &view) {
        return;
    }
    out.push(RULE.finding(
        stmt,
        format!("renaming {what} of {view}: every running app version, report or service that uses the old name fails from that moment"),
    ).with_fix(fix(stmt, &view)));
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "rename-view";

    #[test]
    fn flags_renames_of_existing_views() {
        let f = run(
            ID,
            "ALTER VIEW IF EXISTS active_users RENAME TO live_users;",
            15,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("\nCREATE VIEW live_users AS SELECT * FROM active_users;"));
        assert!(
            f[0].message
                .starts_with("renaming the view to live_users of active_users"),
            "{}",
            f[0].message
        );
        let f = run(
            ID,
            "ALTER MATERIALIZED VIEW stats RENAME COLUMN n TO total;",
            15,
        );
        assert!(
            f[0].message
                .starts_with("renaming its column n to total of stats"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn silent_on_views_created_in_the_file_and_other_forms() {
        assert!(run(
            ID,
            "CREATE VIEW v AS SELECT 1;\nALTER VIEW v RENAME TO w;",
            15
        )
        .is_empty());
        assert!(run(ID, "ALTER VIEW v OWNER TO app;", 15).is_empty());
    }
}
