//! # mysql-add-index-locking
//!
//! MySQL 8. Finds an index added to a table that existed before the
//! migration (`ALTER TABLE ... ADD INDEX`, `CREATE INDEX`) with an explicit
//! `LOCK=SHARED` or `LOCK=EXCLUSIVE`, and FULLTEXT or SPATIAL indexes, which
//! InnoDB cannot build with concurrent writes.
//!
//! **Why it hurts:** `LOCK=SHARED` blocks every INSERT, UPDATE and DELETE
//! for the whole index build, `LOCK=EXCLUSIVE` blocks reads too; a FULLTEXT
//! or SPATIAL build always blocks writes (and the first FULLTEXT index
//! rebuilds the table to add its FTS_DOC_ID column). Builds take about a
//! second per million rows, much longer for FULLTEXT.
//!
//! **Instead:** B-tree indexes: `ALGORITHM=INPLACE, LOCK=NONE` (reads and
//! writes continue; MySQL refuses instead of locking if it cannot). FULLTEXT
//! and SPATIAL indexes on a large table: pt-online-schema-change builds them
//! on a copy kept in sync by triggers.

use super::missing_lock_timeout::{created_in_file, raw_words};
use super::{Rule, MYSQL};
use crate::engine::Lock;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterTableLock, AlterTableOperation, TableConstraint};

pub static RULE: Rule = Rule {
    id: "mysql-add-index-locking",
    severity: Severity::Error,
    summary: "an index build with LOCK=SHARED/EXCLUSIVE, FULLTEXT or SPATIAL blocks writes for the whole build",
    source: include_str!("mysql_add_index_locking.rs"),
    engines: MYSQL,
    check,
};

fn lock_of(ops: &[AlterTableOperation]) -> Option<AlterTableLock> {
    ops.iter().find_map(|op| match op {
        AlterTableOperation::Lock { lock, .. } => Some(*lock),
        _ => None,
    })
}

fn strong(l: Option<AlterTableLock>) -> Option<&'static str> {
    match l {
        Some(AlterTableLock::Shared) => Some("LOCK=SHARED blocks INSERT, UPDATE and DELETE"),
        Some(AlterTableLock::Exclusive) => Some("LOCK=EXCLUSIVE blocks reads and writes"),
        _ => None,
    }
}

fn tools(table: &str, alter: &str) -> String {
    format!(
        "-- FULLTEXT and SPATIAL indexes cannot be built with concurrent writes; on a large table build it on a copy kept in sync (add your connection and database options):\npt-online-schema-change --alter \"{alter}\" t={table} --execute"
    )
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    match &stmt.ast {
        Some(Ast::AlterTable(at)) => {
            if stmt.alters_new_table(at) {
                return;
            }
            let table = at.name.to_string();
            let index_ops: Vec<&AlterTableOperation> = at
                .operations
                .iter()
                .filter(|op| {
                    matches!(
                        op,
                        AlterTableOperation::AddConstraint {
                            constraint: TableConstraint::Index(_)
                                | TableConstraint::Unique(_)
                                | TableConstraint::FulltextOrSpatial(_),
                            ..
                        }
                    )
                })
                .collect();
            if index_ops.is_empty() {
                return;
            }
            let special = index_ops.iter().any(|op| {
                matches!(
                    op,
                    AlterTableOperation::AddConstraint {
                        constraint: TableConstraint::FulltextOrSpatial(_),
                        ..
                    }
                )
            });
            let lock = lock_of(&at.operations);
            let body: Vec<String> = at
                .operations
                .iter()
                .filter(|op| {
                    !matches!(
                        op,
                        AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. }
                    )
                })
                .map(|op| op.to_string())
                .collect();
            let body = body.join(", ");
            if special {
                out.push(
                    RULE.finding(
                        stmt,
                        format!("a FULLTEXT or SPATIAL index on {table} is built with writes to {table} blocked for the whole build (InnoDB allows no concurrent DML for them)"),
                    )
                    .on_table(table.clone(), Lock::MdlSharedNoWrite)
                    .with_fix(tools(&table, &body)),
                );
            } else if let Some(why) = strong(lock) {
                out.push(
                    RULE.finding(
                        stmt,
                        format!(
                            "adding an index to {table} with {why} on {table} for the whole build"
                        ),
                    )
                    .on_table(table.clone(), Lock::MdlSharedNoWrite)
                    .with_fix(format!(
                        "ALTER TABLE {table} {body}, ALGORITHM=INPLACE, LOCK=NONE;"
                    )),
                );
            }
        }
        Some(Ast::CreateIndex(ci)) => {
            if stmt.is_new_table(&ci.table_name) {
                return;
            }
            let table = ci.table_name.to_string();
            if let Some(why) = strong(lock_of(&ci.alter_options)) {
                let mut fixed = ci.clone();
                fixed.alter_options = vec![
                    AlterTableOperation::Algorithm {
                        equals: true,
                        algorithm: sqlparser::ast::AlterTableAlgorithm::Inplace,
                    },
                    AlterTableOperation::Lock {
                        equals: true,
                        lock: AlterTableLock::None,
                    },
                ];
                out.push(
                    RULE.finding(
                        stmt,
                        format!(
                            "CREATE INDEX on {table} with {why} on {table} for the whole build"
                        ),
                    )
                    .on_table(table, Lock::MdlSharedNoWrite)
                    .with_fix(format!("{fixed};")),
                );
            }
        }
        Some(_) => {}
        None => {
            // CREATE FULLTEXT|SPATIAL INDEX name ON table (...): not parsed by sqlparser 0.63.
            let raw = raw_words(&stmt.text, 12);
            let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
            let kind = match up.as_slice() {
                [c, k, i, ..]
                    if c == "CREATE" && (k == "FULLTEXT" || k == "SPATIAL") && i == "INDEX" =>
                {
                    k.clone()
                }
                _ => return,
            };
            let Some(on) = up.iter().position(|w| w == "ON") else {
                return;
            };
            let Some(table) = raw.get(on + 1).cloned() else {
                return;
            };
            if created_in_file(ctx, stmt, &table) {
                return;
            }
            let index = raw.get(3).cloned().unwrap_or_default();
            let cols = stmt
                .text
                .find('(')
                .and_then(|i| stmt.text[i..].find(')').map(|j| &stmt.text[i..=i + j]))
                .unwrap_or("");
            let alter = format!("ADD {kind} INDEX {index} {cols}");
            out.push(
                RULE.finding(
                    stmt,
                    format!("a {kind} index on {table} is built with writes to {table} blocked for the whole build (InnoDB allows no concurrent DML for it)"),
                )
                .on_table(table.clone(), Lock::MdlSharedNoWrite)
                .with_fix(tools(&table, alter.trim())),
            );
        }
    }
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
            .filter(|f| f.rule == "mysql-add-index-locking")
            .collect()
    }

    #[test]
    fn flags_strong_locks_and_rewrites_them() {
        let f = run("ALTER TABLE users ADD INDEX idx_email (email), LOCK=SHARED;");
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("LOCK=SHARED"));
        assert_eq!(
            f[0].fix.as_deref(),
            Some("ALTER TABLE users ADD INDEX idx_email (email), ALGORITHM=INPLACE, LOCK=NONE;")
        );
        let f = run("CREATE UNIQUE INDEX u ON users (email) LOCK=EXCLUSIVE;");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].fix
                .as_deref()
                .unwrap()
                .contains("ALGORITHM=INPLACE LOCK=NONE")
                || f[0].fix.as_deref().unwrap().contains("ALGORITHM = INPLACE"),
            "{:?}",
            f[0].fix
        );
    }

    #[test]
    fn flags_fulltext_and_spatial() {
        assert_eq!(
            run("ALTER TABLE posts ADD FULLTEXT INDEX ft_body (body);").len(),
            1
        );
        assert_eq!(
            run("ALTER TABLE places ADD SPATIAL INDEX sp (location);").len(),
            1
        );
        let f = run("CREATE FULLTEXT INDEX ft_body ON posts (body);");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].fix
                .as_deref()
                .unwrap()
                .contains("--alter \"ADD FULLTEXT INDEX ft_body (body)\" t=posts"),
            "{:?}",
            f[0].fix
        );
    }

    #[test]
    fn silent_on_online_builds_and_new_tables() {
        for sql in [
            "ALTER TABLE users ADD INDEX idx_email (email);",
            "ALTER TABLE users ADD INDEX idx_email (email), ALGORITHM=INPLACE, LOCK=NONE;",
            "CREATE INDEX i ON users (email);",
            "CREATE TABLE posts (id BIGINT PRIMARY KEY, body TEXT);\nALTER TABLE posts ADD FULLTEXT INDEX ft (body);",
            "CREATE TABLE posts (id BIGINT PRIMARY KEY, body TEXT);\nCREATE FULLTEXT INDEX ft ON posts (body);",
        ] {
            assert!(run(sql).is_empty(), "{sql}");
        }
    }
}
