//! # set-tablespace-or-access-method
//!
//! Finds `ALTER TABLE ... SET TABLESPACE` and `ALTER TABLE ... SET ACCESS
//! METHOD` (and `ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE`) on a
//! table that existed before this migration. sqlparser cannot parse these
//! forms; they are read by their words.
//!
//! **Why it hurts:** both copy the whole table under ACCESS EXCLUSIVE: SET
//! TABLESPACE copies every data file to the new tablespace, SET ACCESS
//! METHOD rewrites every row into the new format and rebuilds the indexes.
//! Reads and writes of the table wait for all of it, minutes on a large one.
//!
//! **Instead:** move a table online with pg_repack (`pg_repack --table=t
//! --tablespace=fast --moveidx`: it copies while the app runs and takes
//! ACCESS EXCLUSIVE only briefly at the end). For a new access method, copy
//! into a new table created `USING` it (expand/contract: a sync trigger, a
//! batched backfill, a swap of names in one short transaction).

use super::missing_lock_timeout::{alter_table_target, norm_table, raw_words};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "set-tablespace-or-access-method",
    severity: Severity::Error,
    summary: "SET TABLESPACE or SET ACCESS METHOD copies the whole table under ACCESS EXCLUSIVE",
    source: include_str!("set_tablespace_or_access_method.rs"),
    engines: PG,
    check,
};

/// What the statement does, read by its words: the table (or `None` for
/// `ALL IN TABLESPACE`) and `TABLESPACE` or `ACCESS METHOD` and its target.
pub(crate) fn read(stmt: &Stmt) -> Option<(Option<String>, &'static str, String)> {
    if !stmt.starts_with(&["ALTER", "TABLE"]) {
        return None;
    }
    let raw = raw_words(&stmt.text, 14);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let (table, next) = if up.get(2).is_some_and(|w| w == "ALL") && up.get(3)? == "IN" {
        (None, 6)
    } else {
        let (t, next) = alter_table_target(&up, &raw)?;
        (Some(t), next)
    };
    if up.get(next)? != "SET" {
        return None;
    }
    match up.get(next + 1)?.as_str() {
        "TABLESPACE" => Some((table, "TABLESPACE", raw.get(next + 2)?.clone())),
        "ACCESS" if up.get(next + 2)? == "METHOD" => {
            Some((table, "ACCESS METHOD", raw.get(next + 3)?.clone()))
        }
        _ => None,
    }
}

fn check(_ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some((table, what, target)) = read(stmt) else {
        return;
    };
    let fix = match (&table, what) {
        (Some(t), "TABLESPACE") => format!(
            "-- move it online with pg_repack (brief ACCESS EXCLUSIVE at the end only):\n-- pg_repack --table={t} --tablespace={target} --moveidx"
        ),
        (None, _) => format!("-- move each table online with pg_repack instead, one at a time: pg_repack --table=... --tablespace={target} --moveidx"),
        _ => "-- copy into a new table created USING the new access method while the app runs (sync trigger, batched backfill), then swap the names in one short transaction".to_string(),
    };
    let Some(t) = table else {
        out.push(
            RULE.finding(
                stmt,
                "ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE copies every table of the tablespace, each under ACCESS EXCLUSIVE: reads and writes of each wait while it is copied".to_string(),
            )
            .with_fix(fix),
        );
        return;
    };
    if stmt.is_new_table_named(&t) {
        return;
    }
    let verb = if what == "TABLESPACE" {
        "copies every data file of"
    } else {
        "rewrites every row of"
    };
    let name = norm_table(&t);
    out.push(
        RULE.finding(
            stmt,
            format!("ALTER TABLE {t} SET {what} {target} {verb} {name} under ACCESS EXCLUSIVE: reads and writes of {name} wait until the whole table is copied"),
        )
        .on_table(name, Lock::AccessExclusive)
        .with_fix(fix),
    );
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "set-tablespace-or-access-method";

    #[test]
    fn flags_both_forms_on_existing_tables() {
        let f = run(
            ID,
            "ALTER TABLE ONLY public.events SET TABLESPACE fast;",
            15,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.starts_with("ALTER TABLE public.events SET TABLESPACE fast copies every data file of events under ACCESS EXCLUSIVE"), "{}", f[0].message);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("pg_repack --table=public.events --tablespace=fast --moveidx"));
        let f = run(
            ID,
            "ALTER TABLE IF EXISTS events SET ACCESS METHOD heap2;",
            15,
        );
        assert!(
            f[0].message.contains("rewrites every row of events"),
            "{}",
            f[0].message
        );
        assert_eq!(
            run(ID, "ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b;", 15).len(),
            1
        );
    }

    #[test]
    fn silent_on_new_tables_and_other_forms() {
        assert!(run(
            ID,
            "CREATE TABLE e (id int);\nALTER TABLE e SET TABLESPACE fast;",
            15
        )
        .is_empty());
        assert!(run(ID, "ALTER TABLE e SET (fillfactor = 70);", 15).is_empty());
        assert!(run(ID, "ALTER TABLE e SET LOGGED;", 15).is_empty());
    }
}
