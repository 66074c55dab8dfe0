//! # vacuum-full-or-cluster
//!
//! Finds `VACUUM FULL` in any spelling (`VACUUM FULL t`,
//! `VACUUM FULL ANALYZE t`, `VACUUM (FULL, ANALYZE) t`; not `(FULL false)`),
//! `CLUSTER` (with or without a table: without one it re-clusters every
//! table clustered before), and on PostgreSQL 19 `REPACK` without the
//! `CONCURRENTLY` option. Plain `VACUUM`, `VACUUM ANALYZE` and `ANALYZE` are
//! safe (SHARE UPDATE EXCLUSIVE) and silent, and so are tables created
//! earlier in the same file.
//!
//! **Why it hurts:** all of them rewrite the whole table and rebuild its
//! indexes under ACCESS EXCLUSIVE: every read and write waits for the whole
//! rewrite (measured on PostgreSQL 15: 1 s for `VACUUM FULL` and 1.3-1.7 s
//! for `CLUSTER` on a 1M-row table with two indexes). `VACUUM FULL` also
//! needs room for a second copy of the table.
//!
//! **Instead:** rewrite online: `pg_repack` (or `pg_squeeze`) copies the
//! table while it stays readable and writable and takes ACCESS EXCLUSIVE only
//! for the final swap; on PostgreSQL 19 and later,
//! `REPACK (CONCURRENTLY) t` does the same in core (the PostgreSQL 19
//! release notes: REPACK replaces VACUUM FULL and CLUSTER, and with
//! CONCURRENTLY it runs without blocking reads and writes). Often a plain
//! `VACUUM (ANALYZE) t` is enough: it makes dead space reusable without a
//! rewrite or a blocking lock.

use super::tokens::{name_at, options_at, relation_created_earlier, tokens, Tok};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "vacuum-full-or-cluster",
    severity: Severity::Error,
    summary: "VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite",
    source: include_str!("vacuum_full_or_cluster.rs"),
    engines: PG,
    check,
};

/// A table rewrite the statement asks for.
struct Rewrite {
    command: &'static str,
    /// Tables named; empty means every table the command applies to.
    tables: Vec<String>,
    /// The index rows are ordered by, when named.
    index: Option<String>,
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    // Tokenizing every statement of a file would cost more than the rest of
    // the rule: most cannot start with these words.
    if !stmt.may_start_with(&["VACUUM", "CLUSTER", "REPACK"]) {
        return;
    }
    let toks = tokens(&stmt.text);
    let rewrite = match toks.first().map(|t| t.upper.as_str()) {
        Some("VACUUM") => vacuum_full(&toks),
        Some("CLUSTER") => cluster(&toks),
        Some("REPACK") => repack(&toks),
        _ => None,
    };
    let Some(mut r) = rewrite else {
        return;
    };
    // Tables created earlier in the file are new and small: only the others count.
    let named = !r.tables.is_empty();
    r.tables.retain(|t| !relation_created_earlier(ctx, stmt, t));
    if named && r.tables.is_empty() {
        return;
    }
    let command = r.command;
    let message = match r.tables.as_slice() {
        [] if command == "CLUSTER" => "CLUSTER without a table rewrites every table clustered before, each under ACCESS EXCLUSIVE: reads and writes of each wait for its whole rewrite".to_string(),
        [] => format!("{command} without a table rewrites every table of the database, each under ACCESS EXCLUSIVE: reads and writes of each wait for its whole rewrite"),
        tables => {
            let list = tables.join(", ");
            format!("{command} {list} rewrites {list} and rebuilds its indexes under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite")
        }
    };
    let mut f = RULE
        .finding(stmt, message)
        .with_fix(fix(ctx.pg_version, &r));
    f = match r.tables.first() {
        Some(t) => f.on_table(t.clone(), Lock::AccessExclusive),
        None => {
            f.lock = Some(Lock::AccessExclusive);
            f
        }
    };
    out.push(f);
}

fn fix(pg_version: u32, r: &Rewrite) -> String {
    if pg_version >= 19 {
        let using = r
            .index
            .as_ref()
            .map(|i| format!(" USING INDEX {i}"))
            .unwrap_or_default();
        let mut out = String::from(
            "-- PostgreSQL 19: REPACK (CONCURRENTLY) rewrites the table without blocking its reads and writes:\n",
        );
        if r.tables.is_empty() {
            out.push_str("REPACK (CONCURRENTLY);");
        }
        for t in &r.tables {
            out.push_str(&format!("REPACK (CONCURRENTLY) {t}{using};\n"));
        }
        return out.trim_end().to_string();
    }
    let mut out = String::new();
    let tables: String = r.tables.iter().map(|t| format!(" --table={t}")).collect();
    match &r.index {
        Some(i) => {
            for t in &r.tables {
                out.push_str(&format!(
                    "-- mark the order once (SHARE UPDATE EXCLUSIVE, brief), then pg_repack orders by it:\nALTER TABLE {t} CLUSTER ON {i};\n"
                ));
            }
            out.push_str(&format!(
                "-- rewrite online with the pg_repack extension (CREATE EXTENSION pg_repack), from a shell, not in a migration:\n--   pg_repack{tables}"
            ));
        }
        None => {
            let order = if r.command == "CLUSTER" {
                ""
            } else {
                " --no-order"
            };
            out.push_str(&format!(
                "-- rewrite online with the pg_repack extension (CREATE EXTENSION pg_repack), from a shell, not in a migration:\n--   pg_repack{order}{tables}\n"
            ));
            if r.command != "CLUSTER" {
                out.push_str("-- or, often enough: plain VACUUM makes dead space reusable without a rewrite or a blocking lock:\n");
                if r.tables.is_empty() {
                    out.push_str("VACUUM (ANALYZE);");
                }
                for t in &r.tables {
                    out.push_str(&format!("VACUUM (ANALYZE) {t};\n"));
                }
            }
        }
    }
    out.trim_end().to_string()
}

/// `VACUUM FULL ...` or `VACUUM (FULL ...) ...`.
fn vacuum_full(toks: &[Tok]) -> Option<Rewrite> {
    let (full, tables) = vacuum_parts(toks);
    full.then_some(Rewrite {
        command: "VACUUM FULL",
        tables,
        index: None,
    })
}

/// What a `VACUUM` asks for: whether FULL is on, and the tables it names
/// (none: every table of the database).
pub(super) fn vacuum_parts(toks: &[Tok]) -> (bool, Vec<String>) {
    let (full, i) = if toks.get(1).is_some_and(|t| t.is("(")) {
        let (opts, i) = options_at(toks, 1);
        (opts.iter().any(|(o, on)| o == "FULL" && *on), i)
    } else {
        let mut i = 1;
        let mut full = false;
        while let Some(t) = toks.get(i) {
            match t.upper.as_str() {
                "FULL" => full = true,
                "FREEZE" | "VERBOSE" | "ANALYZE" | "ANALYSE" => {}
                _ => break,
            }
            i += 1;
        }
        (full, i)
    };
    (full, table_list(toks, i))
}

/// Whether a `CLUSTER` names no table (it then re-clusters every table
/// clustered before).
pub(super) fn cluster_without_table(toks: &[Tok]) -> bool {
    cluster(toks).is_some_and(|r| r.tables.is_empty())
}

/// `CLUSTER [VERBOSE] [(options)] [table [USING index]]` and the old
/// `CLUSTER index ON table`.
fn cluster(toks: &[Tok]) -> Option<Rewrite> {
    let mut i = 1;
    if toks.get(i).is_some_and(|t| t.is("VERBOSE")) {
        i += 1;
    }
    let (_, mut i) = options_at(toks, i);
    if toks.get(i).is_some_and(|t| t.is("VERBOSE")) {
        i += 1;
    }
    let Some((first, next)) = name_at(toks, i) else {
        return Some(Rewrite {
            command: "CLUSTER",
            tables: Vec::new(),
            index: None,
        });
    };
    let after = toks.get(next).map(|t| t.upper.as_str());
    let (table, index) = match after {
        Some("ON") => (name_at(toks, next + 1)?.0, Some(first)),
        Some("USING") => (first, name_at(toks, next + 1).map(|(n, _)| n)),
        _ => (first, None),
    };
    Some(Rewrite {
        command: "CLUSTER",
        tables: vec![table],
        index,
    })
}

/// The tables a PostgreSQL 19 `REPACK` without CONCURRENTLY rewrites under
/// ACCESS EXCLUSIVE (none named: every table); `None` for the concurrent form.
pub(super) fn blocking_repack_tables(toks: &[Tok]) -> Option<Vec<String>> {
    repack(toks).map(|r| r.tables)
}

/// PostgreSQL 19 `REPACK [(options)] [table [USING INDEX [index]]]`,
/// which blocks like VACUUM FULL unless the CONCURRENTLY option is on.
fn repack(toks: &[Tok]) -> Option<Rewrite> {
    let (opts, i) = options_at(toks, 1);
    if opts.iter().any(|(o, on)| o == "CONCURRENTLY" && *on) {
        return None;
    }
    let (tables, index) = match name_at(toks, i) {
        Some((t, next)) => {
            let using = toks.get(next).is_some_and(|t| t.is("USING"));
            let index = if using {
                name_at(toks, next + 2).map(|(n, _)| n)
            } else {
                None
            };
            (vec![t], index)
        }
        None => (Vec::new(), None),
    };
    Some(Rewrite {
        command: "REPACK",
        tables,
        index,
    })
}

/// `a, b (col), c` after VACUUM's options.
fn table_list(toks: &[Tok], mut i: usize) -> Vec<String> {
    let mut tables = Vec::new();
    while let Some((name, next)) = name_at(toks, i) {
        tables.push(name);
        i = next;
        if toks.get(i).is_some_and(|t| t.is("(")) {
            while toks.get(i).is_some_and(|t| !t.is(")")) {
                i += 1;
            }
            i += 1;
        }
        if toks.get(i).is_some_and(|t| t.is(",")) {
            i += 1;
        } else {
            break;
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "vacuum-full-or-cluster";

    #[test]
    fn flags_every_spelling_of_vacuum_full() {
        for sql in [
            "VACUUM FULL orders;",
            "VACUUM FULL ANALYZE orders;",
            "VACUUM FULL VERBOSE orders;",
            "VACUUM (FULL, ANALYZE) orders;",
            "vacuum (verbose, full true) orders;",
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert_eq!(f[0].table.as_deref(), Some("orders"), "{sql}");
            assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
            let fix = f[0].fix.as_deref().unwrap();
            assert!(fix.contains("pg_repack --no-order --table=orders"), "{fix}");
            assert!(fix.ends_with("VACUUM (ANALYZE) orders;"), "{fix}");
        }
    }

    #[test]
    fn vacuum_full_without_a_table_is_every_table() {
        let f = run(ID, "VACUUM FULL;", 15);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("every table"));
        assert!(f[0].table.is_none());
    }

    #[test]
    fn flags_cluster_and_keeps_the_index() {
        let f = run(ID, "CLUSTER orders USING orders_user_idx;", 15);
        assert_eq!(f.len(), 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE orders CLUSTER ON orders_user_idx;"),
            "{fix}"
        );
        assert!(fix.contains("pg_repack --table=orders"), "{fix}");
        let f = run(ID, "CLUSTER orders_user_idx ON public.orders;", 15);
        assert_eq!(f[0].table.as_deref(), Some("public.orders"));
        let f = run(ID, "CLUSTER VERBOSE orders;", 15);
        assert_eq!(f[0].table.as_deref(), Some("orders"));
        let f = run(ID, "CLUSTER;", 15);
        assert!(f[0].message.contains("every table clustered before"));
    }

    #[test]
    fn pg19_suggests_repack_concurrently() {
        let f = run(ID, "CLUSTER orders USING orders_user_idx;", 19);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .ends_with("REPACK (CONCURRENTLY) orders USING INDEX orders_user_idx;"));
        let f = run(ID, "REPACK orders;", 19);
        assert_eq!(f.len(), 1);
        assert!(run(ID, "REPACK (CONCURRENTLY) orders;", 19).is_empty());
    }

    #[test]
    fn silent_on_plain_vacuum_and_analyze() {
        for sql in [
            "VACUUM orders;",
            "VACUUM ANALYZE orders;",
            "VACUUM (ANALYZE, VERBOSE) orders;",
            "VACUUM (FULL false) orders;",
            "VACUUM (FULL off, ANALYZE) orders;",
            "VACUUM FREEZE orders;",
            "ANALYZE orders;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn silent_on_tables_created_earlier_in_the_file() {
        let sql = "CREATE TABLE t (a int);\nVACUUM FULL t;\nCLUSTER t USING t_a;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "CREATE TABLE t (a int);\nVACUUM FULL t, orders;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .message
            .starts_with("VACUUM FULL orders rewrites orders"));
    }
}
