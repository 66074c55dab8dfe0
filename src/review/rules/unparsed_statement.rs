//! # unparsed-statement
//!
//! Notes (severity info) every statement the reviewer could not check: SQL
//! the parser does not understand whose leading words are not a form some
//! rule reads by its words (`DROP INDEX CONCURRENTLY`, `REINDEX`, `VACUUM`,
//! `CLUSTER`, `REFRESH MATERIALIZED VIEW`, partition `ATTACH`/`DETACH`, MySQL
//! `CREATE FULLTEXT INDEX`, ...) or a form known to lock nothing the
//! application uses (`CREATE SEQUENCE`, `CREATE FUNCTION`, `SET CONSTRAINTS`,
//! ...). The statements inside a `DO` block are read out of its PL/pgSQL
//! body and checked like any other; a `DO` block whose body cannot be read
//! (another LANGUAGE, blocks that do not close) is noted, and so is an
//! `EXECUTE` of SQL built at run time. Any of these makes the verdict
//! `unchecked`, which fails the run unless `--allow-unchecked` is given.
//!
//! **Why it hurts:** a statement the reviewer skips silently could be the
//! one that takes the table down; a clean review must mean every statement
//! was looked at.
//!
//! **Instead:** review the statement by hand against the lock it takes, or
//! rewrite it in a form the reviewer reads; move the body of a `DO` block
//! into plain statements where you can. Silence a note you have checked with
//! `-- schemashift-ignore unparsed-statement` above the statement.

use super::missing_lock_timeout::{alter_table_target, raw_words};
use super::Rule;
use crate::context::Engine;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "unparsed-statement",
    severity: Severity::Info,
    summary: "a statement the reviewer could not parse was not checked",
    source: include_str!("unparsed_statement.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

/// Leading words of statements sqlparser 0.63 cannot parse that rules read
/// by their words.
const READ_BY_WORDS: &[&[&str]] = &[
    &["DROP", "INDEX", "CONCURRENTLY"],
    &["REINDEX"],
    &["VACUUM"],
    &["CLUSTER"],
    &["REPACK"],
    &["DROP", "DATABASE"],
    &["REFRESH", "MATERIALIZED", "VIEW"],
    &["CREATE", "FULLTEXT", "INDEX"],
    &["CREATE", "SPATIAL", "INDEX"],
    &["OPTIMIZE", "TABLE"],
];

/// `ALTER TABLE name <op>` forms read by their words.
const ALTER_TABLE_OPS: &[&str] = &["ATTACH", "DETACH", "CONVERT"];

/// Leading words of statements that take no lock on a table the
/// application uses: nothing to review.
const HARMLESS: &[&[&str]] = &[
    &["SET"],
    &["RESET"],
    &["END"],
    &["CREATE", "SEQUENCE"],
    &["CREATE", "TEMPORARY", "SEQUENCE"],
    &["ALTER", "SEQUENCE"],
    &["CREATE", "FUNCTION"],
    &["CREATE", "OR", "REPLACE", "FUNCTION"],
    &["CREATE", "PROCEDURE"],
    &["CREATE", "OR", "REPLACE", "PROCEDURE"],
    &["ALTER", "FUNCTION"],
    &["ALTER", "PROCEDURE"],
    &["DROP", "FUNCTION"],
    &["DROP", "PROCEDURE"],
    &["CREATE", "STATISTICS"],
    &["CREATE", "SCHEMA"],
    &["CREATE", "EXTENSION"],
    // A new type: no table uses it yet (ALTER DOMAIN, which checks every
    // column of the domain, is not here).
    &["CREATE", "DOMAIN"],
    &["COMMENT", "ON"],
    &["GRANT"],
    &["REVOKE"],
    &["ALTER", "DEFAULT", "PRIVILEGES"],
    &["SELECT"],
];

/// Whether a rule reads this unparsed statement, or it needs no review.
pub(crate) fn understood(stmt: &Stmt) -> bool {
    if READ_BY_WORDS
        .iter()
        .chain(HARMLESS)
        .any(|w| stmt.starts_with(w))
    {
        return true;
    }
    let raw = raw_words(&stmt.text, 16);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    // CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] ... variants.
    if (stmt.starts_with(&["CREATE", "INDEX"]) || stmt.starts_with(&["CREATE", "UNIQUE", "INDEX"]))
        && up.iter().any(|w| w == "CONCURRENTLY")
    {
        return true;
    }
    if let Some((_, next)) = alter_table_target(&up, &raw) {
        if up
            .get(next)
            .is_some_and(|w| ALTER_TABLE_OPS.contains(&w.as_str()))
        {
            return true;
        }
    }
    if super::set_tablespace_or_access_method::read(stmt).is_some()
        || super::rename_view::read(stmt).is_some()
    {
        return true;
    }
    // CREATE TABLE forms the parser misses (LIKE, ...) make a new table.
    stmt.starts_with(&["CREATE", "TABLE"]) || stmt.starts_with(&["CREATE", "UNLOGGED", "TABLE"])
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    if stmt.dynamic {
        out.push(RULE.finding(
            stmt,
            "dynamic SQL in a DO block (EXECUTE of an expression, not a constant): the statement it builds at run time was not checked; review it by hand".to_string(),
        ));
        return;
    }
    if stmt.ast.is_some() {
        return;
    }
    if stmt.starts_with(&["DO"]) {
        // A DO block whose body was read is not here: its statements are.
        let why = match ctx.engine {
            Engine::Postgres => super::super::plpgsql::do_block(&stmt.text)
                .err()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            Engine::Mysql => String::new(),
        };
        out.push(RULE.finding(
            stmt,
            format!("DO block not reviewed{why}: the statements inside it are not checked; review them by hand"),
        ));
        return;
    }
    if understood(stmt) {
        return;
    }
    if ctx.engine == Engine::Postgres
        && (stmt.starts_with(&["UPDATE"]) || stmt.starts_with(&["DELETE"]))
        && crate::review::plpgsql::find_keyword(&stmt.text, 0, "LIMIT").is_some()
    {
        out.push(RULE.finding(
            stmt,
            "PostgreSQL has no UPDATE ... LIMIT or DELETE ... LIMIT: this statement fails with a syntax error, so it was not checked; batch with `WHERE id IN (SELECT id FROM ... LIMIT n)` instead".to_string(),
        ));
        return;
    }
    out.push(RULE.finding(
        stmt,
        "could not parse this statement: it was not checked; review it by hand".to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, ReviewOptions, Severity};

    const ID: &str = "unparsed-statement";

    #[test]
    fn notes_statements_nothing_understands() {
        let f = run(ID, "ALTER TABLE users SET WITHOUT CLUSTER;", 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(
            f[0].message,
            "could not parse this statement: it was not checked; review it by hand"
        );
        assert_eq!(run(ID, "FROBNICATE users;", 15).len(), 1);
    }

    #[test]
    fn notes_do_blocks_it_cannot_read_and_dynamic_sql() {
        let sql = "DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE t'); $$;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].message,
            "DO block not reviewed (it is written in LANGUAGE plperl, which the reviewer does not read): the statements inside it are not checked; review them by hand"
        );
        let sql = "DO $$ BEGIN UPDATE users SET a = 1 WHERE id = 1; END $$;";
        assert!(run(ID, sql, 15).is_empty(), "read, so not noted");
        let sql =
            "DO $$\nBEGIN\n  EXECUTE format('ALTER TABLE %I DROP COLUMN x', 'users');\nEND $$;";
        let f = run(ID, sql, 15);
        assert_eq!((f.len(), f[0].line, f[0].column), (1, 3, 3));
        assert!(f[0].message.starts_with("dynamic SQL in a DO block"));
    }

    #[test]
    fn silent_on_parsed_and_word_read_statements() {
        for sql in [
            "ALTER TABLE users ADD COLUMN a int;",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "VACUUM (ANALYZE) users;",
            "CLUSTER users USING users_pkey;",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY t USING btree (a) WITH (fillfactor = 90) TABLESPACE x;",
            "ALTER TABLE events ATTACH PARTITION e1 FOR VALUES FROM (1) TO (2);",
            "ALTER TABLE ONLY events DETACH PARTITION e1 CONCURRENTLY;",
            "CREATE SEQUENCE public.s AS integer START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;",
            "ALTER SEQUENCE public.s OWNED BY public.t.id;",
            "SET CONSTRAINTS ALL IMMEDIATE;",
            "CREATE TABLE t2 (LIKE t INCLUDING ALL);",
            "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%') NOT NULL;",
            "ALTER TABLE users SET TABLESPACE fast;",
            "ALTER TABLE users SET ACCESS METHOD heap2;",
            "ALTER VIEW v RENAME TO w;",
            "UPDATE t SET a[1] = 2;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn update_limit_is_noted_as_a_postgresql_syntax_error() {
        let f = run(ID, "UPDATE t SET a = 1 WHERE b IS NULL LIMIT 1000;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .starts_with("PostgreSQL has no UPDATE ... LIMIT"),
            "{}",
            f[0].message
        );
        assert_eq!(run(ID, "DELETE FROM t ORDER BY id LIMIT 10;", 15).len(), 1);
        assert!(run(
            ID,
            "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t LIMIT 10);",
            15
        )
        .is_empty());
        let r = crate::review::review(
            "UPDATE t SET a = 1 LIMIT 5;",
            None,
            &ReviewOptions::default(),
        );
        assert_eq!(r.verdict, crate::review::Verdict::Unchecked);
    }

    #[test]
    fn mysql_forms_read_by_words() {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        let notes = |sql: &str| {
            review_sql(sql, None, &opts)
                .into_iter()
                .filter(|f| f.rule == ID)
                .count()
        };
        assert_eq!(notes("CREATE FULLTEXT INDEX ft ON posts (body);"), 0);
        assert_eq!(
            notes("ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;"),
            0
        );
        assert_eq!(notes("ALTER TABLE users RENAME INDEX a TO b;"), 1);
    }
}
