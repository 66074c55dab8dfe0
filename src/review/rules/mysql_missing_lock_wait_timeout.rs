//! # mysql-missing-lock-wait-timeout
//!
//! MySQL 8. Finds DDL on a table that existed before the migration (`ALTER
//! TABLE`, `CREATE`/`DROP INDEX`, `DROP TABLE`, `RENAME TABLE`, `TRUNCATE`,
//! `CREATE`/`DROP TRIGGER`, `OPTIMIZE TABLE`) with no `SET SESSION
//! lock_wait_timeout = N` (N up to 600 seconds) earlier in the file. Reported
//! once per file, at the first such statement.
//!
//! **Why it hurts:** every online DDL, even ALGORITHM=INSTANT, takes an
//! exclusive metadata lock at start and end. While that request waits for
//! open transactions on the table, every later query on it queues behind it,
//! plain SELECTs included; the default `lock_wait_timeout` is a year, so the
//! wait ends only when the long transaction does (measured: an 8 s
//! transaction stalled all traffic on the table for 7.5 s).
//!
//! **Instead:** `SET SESSION lock_wait_timeout = 5;` at the top of the
//! migration, and retry it a few seconds later when it fails with error 1205
//! (ER_LOCK_WAIT_TIMEOUT).

use super::missing_lock_timeout::{
    alter_table_target, created_in_file, raw_words, starts_with_set,
};
use super::{Rule, MYSQL};
use crate::engine::Lock;
use crate::review::context::{Fact, Settings};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{ObjectType, Statement};

pub static RULE: Rule = Rule {
    id: "mysql-missing-lock-wait-timeout",
    severity: Severity::Warning,
    summary: "MySQL DDL with the default lock_wait_timeout (a year) queues every query behind its metadata lock",
    source: include_str!("mysql_missing_lock_wait_timeout.rs"),
    engines: MYSQL,
    check,
};

/// Longest lock_wait_timeout, in seconds, that still counts as set.
const MAX_SECONDS: u64 = 600;

/// Whether this SET gives the session a short lock_wait_timeout.
fn sets_timeout(s: &Stmt) -> Option<bool> {
    // Lower-casing changes no other letter into "set": most statements need
    // not be copied to find out.
    if !starts_with_set(&s.text) {
        return None;
    }
    let lower = s.text.to_lowercase();
    if !lower.trim_start().starts_with("set") {
        return None;
    }
    let mut found = None;
    for part in lower.split(',') {
        let part = part.trim();
        let Some(i) = part.find("lock_wait_timeout") else {
            continue;
        };
        if part[..i].ends_with("innodb_") || part.contains("global") {
            continue;
        }
        let value = part[i + "lock_wait_timeout".len()..]
            .trim_start()
            .trim_start_matches([':', '='])
            .trim()
            .trim_matches(|c| c == '\'' || c == ';');
        found = Some(
            value
                .parse::<f64>()
                .is_ok_and(|v| v > 0.0 && v <= MAX_SECONDS as f64),
        );
    }
    found
}

/// The existing table a DDL statement takes a metadata lock on.
fn ddl_table(ctx: &Ctx, stmt: &Stmt) -> Option<String> {
    let table = match &stmt.ast {
        Some(Ast::AlterTable(at)) => at.name.to_string(),
        Some(Ast::CreateIndex(ci)) => ci.table_name.to_string(),
        Some(Ast::Other(o)) => match &**o {
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => names.first()?.to_string(),
            Statement::Drop {
                object_type: ObjectType::Index,
                table: Some(t),
                ..
            } => t.to_string(),
            Statement::RenameTable(r) => r.first()?.old_name.to_string(),
            Statement::Truncate(t) => t.table_names.first()?.name.to_string(),
            Statement::CreateTrigger(t) => t.table_name.to_string(),
            Statement::DropTrigger(t) => t.table_name.as_ref()?.to_string(),
            _ => return None,
        },
        Some(_) => return None,
        None => {
            let raw = raw_words(&stmt.text, 16);
            let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
            if let Some((t, _)) = alter_table_target(&up, &raw) {
                t
            } else if up.first().is_some_and(|w| w == "OPTIMIZE") {
                raw.get(2)?.clone()
            } else if up.first().is_some_and(|w| w == "CREATE" || w == "DROP")
                && up.iter().take(4).any(|w| w == "INDEX")
            {
                let on = up.iter().position(|w| w == "ON")?;
                raw.get(on + 1)?.clone()
            } else {
                return None;
            }
        }
    };
    (!created_in_file(ctx, stmt, &table)).then_some(table)
}

/// Whether the statement needs a lock_wait_timeout it does not have.
fn unguarded(ctx: &Ctx, stmt: &Stmt) -> Option<String> {
    if stmt.ignored_all || stmt.ignores(RULE.id) {
        return None;
    }
    let table = ddl_table(ctx, stmt)?;
    let set = ctx
        .fact::<Timeouts>()
        .0
        .before(stmt)
        .copied()
        .unwrap_or(false);
    (!set).then_some(table)
}

/// Where the file sets lock_wait_timeout (to a value that guards or not).
#[derive(Default)]
pub(crate) struct Timeouts(Settings<bool>);

impl Fact for Timeouts {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(guards) = sets_timeout(s) {
            self.0.set(guards, s);
        }
    }
}

/// The first statement that needs a lock_wait_timeout it does not have: the
/// one reported.
#[derive(Default)]
pub(crate) struct FirstUnguarded(Option<usize>);

impl Fact for FirstUnguarded {
    fn add(&mut self, ctx: &Ctx, s: &Stmt) {
        if self.0.is_none() && unguarded(ctx, s).is_some() {
            self.0 = Some(s.index);
        }
    }
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if ctx
        .fact::<FirstUnguarded>()
        .0
        .is_some_and(|i| i < stmt.index)
    {
        return;
    }
    let Some(table) = unguarded(ctx, stmt) else {
        return;
    };
    out.push(
        RULE.finding(
            stmt,
            format!(
                "DDL on {table} runs with the default lock_wait_timeout (a year): while its metadata lock request waits for open transactions on {table}, every later query on {table} queues behind it, reads included"
            ),
        )
        .on_table(table, Lock::MdlBrief)
        .with_fix(format!(
            "SET SESSION lock_wait_timeout = 5;\n{};\n-- on error 1205 (lock wait timeout exceeded): wait a few seconds and run it again",
            stmt.text.trim()
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::{review_sql, Finding, ReviewOptions};

    fn run(sql: &str) -> Vec<Finding> {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        review_sql(sql, None, &opts)
            .into_iter()
            .filter(|f| f.rule == "mysql-missing-lock-wait-timeout")
            .collect()
    }

    #[test]
    fn flags_the_first_ddl_once() {
        let sql = "ALTER TABLE users ADD COLUMN c INT, ALGORITHM=INSTANT;\nCREATE INDEX i ON orders (user_id);\nDROP TABLE old_users;";
        let f = run(sql);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 1);
        assert!(f[0].message.contains("reads included"));
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .starts_with("SET SESSION lock_wait_timeout = 5;"));
    }

    #[test]
    fn silent_with_a_short_session_timeout() {
        for set in [
            "SET SESSION lock_wait_timeout = 5;",
            "SET lock_wait_timeout = 10;",
            "SET @@session.lock_wait_timeout = 3;",
            "SET SESSION lock_wait_timeout = 5, innodb_lock_wait_timeout = 5;",
        ] {
            let sql = format!("{set}\nALTER TABLE users ADD COLUMN c INT;");
            assert!(run(&sql).is_empty(), "{set}");
        }
    }

    #[test]
    fn long_global_or_innodb_timeouts_do_not_count() {
        for set in [
            "SET SESSION lock_wait_timeout = 31536000;",
            "SET GLOBAL lock_wait_timeout = 5;",
            "SET SESSION innodb_lock_wait_timeout = 5;",
        ] {
            let sql = format!("{set}\nALTER TABLE users ADD COLUMN c INT;");
            assert_eq!(run(&sql).len(), 1, "{set}");
        }
    }

    #[test]
    fn silent_on_new_tables_and_dml() {
        let sql = "CREATE TABLE t (id BIGINT PRIMARY KEY);\nALTER TABLE t ADD COLUMN c INT;\nCREATE INDEX i ON t (c);\nINSERT INTO t (id) VALUES (1);\nUPDATE users SET a = 1 WHERE id = 2;";
        assert!(run(sql).is_empty());
    }

    #[test]
    fn unparsed_ddl_counts() {
        assert_eq!(run("ALTER TABLE users ENGINE=InnoDB;").len(), 1);
        assert_eq!(run("CREATE FULLTEXT INDEX ft ON posts (body);").len(), 1);
        assert_eq!(run("OPTIMIZE TABLE users;").len(), 1);
    }
}
