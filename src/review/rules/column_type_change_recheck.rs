//! # column-type-change-recheck
//!
//! Finds `ALTER TABLE ... ALTER COLUMN ... TYPE` that does not rewrite the
//! table (a longer `varchar`, `varchar -> text`, `cidr -> inet`, the same
//! type again ...) on a column that a validated `CHECK` constraint reads,
//! when an earlier statement of the file shows that constraint
//! (`ADD CONSTRAINT ... CHECK`, an inline `CHECK` of `ADD COLUMN`, a
//! `VALIDATE CONSTRAINT`). Constraints still `NOT VALID` are not re-checked
//! and are silent; so are tables created earlier in the file. A change that
//! rewrites the table is `column-type-change-rewrite`'s.
//!
//! **Why it hurts:** PostgreSQL rebuilds every constraint on a retyped
//! column and checks each validated CHECK against every row again, while
//! the statement holds ACCESS EXCLUSIVE: the table is not rewritten, yet
//! reads and writes wait for a full scan (checked on PostgreSQL 15: the
//! CHECK runs once per row for a `varchar(10) -> varchar(20)` change).
//!
//! **Instead:** in one statement, drop the CHECK, change the type and add
//! the CHECK back `NOT VALID` (no scan; the lock is brief), then
//! `VALIDATE CONSTRAINT` in a transaction of its own, which scans under
//! SHARE UPDATE EXCLUSIVE while reads and writes continue.

use super::column_type_change_rewrite::surely_rewrites;
use super::set_not_null_without_check::folded;
use super::tokens::{alter_head, check_columns, default_name};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::ident::quote_pg;
use crate::review::context::{last_part, Fact};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnOption, TableConstraint};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "column-type-change-recheck",
    severity: Severity::Error,
    summary: "a type change that keeps the table re-checks every CHECK on the column under ACCESS EXCLUSIVE",
    source: include_str!("column_type_change_recheck.rs"),
    engines: PG,
    check,
};

/// One CHECK constraint as the file shows it.
#[derive(Debug, Clone)]
struct Check {
    /// Folded name.
    name: String,
    /// Folded names of the columns it reads.
    columns: Vec<String>,
    /// The expression as written.
    expr: String,
}

/// What a statement does to a table's CHECK constraints.
#[derive(Debug, Clone)]
enum Event {
    Add { check: Check, validated: bool },
    Validate(String),
    Drop(String),
}

/// The CHECK constraint events of each table (last name part), in file order.
#[derive(Default)]
pub(crate) struct Checks(HashMap<String, Vec<(usize, Event)>>);

impl Fact for Checks {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let Some(Ast::AlterTable(at)) = &s.ast else {
            return;
        };
        let table = last_part(&at.name);
        for op in &at.operations {
            let events: Vec<Event> = match op {
                AlterTableOperation::AddConstraint {
                    constraint: TableConstraint::Check(ck),
                    not_valid,
                } => {
                    let expr = ck.expr.to_string();
                    let columns = check_columns(&expr);
                    let name = match &ck.name {
                        Some(n) => folded(n),
                        None if columns.len() == 1 => default_name(&table, &columns, "check"),
                        None => default_name(&table, &[], "check"),
                    };
                    vec![Event::Add {
                        check: Check {
                            name,
                            columns,
                            expr,
                        },
                        validated: !*not_valid,
                    }]
                }
                AlterTableOperation::AddColumn { column_def, .. } => column_def
                    .options
                    .iter()
                    .filter_map(|o| match &o.option {
                        ColumnOption::Check(ck) => {
                            let col = folded(&column_def.name);
                            let name = o
                                .name
                                .as_ref()
                                .or(ck.name.as_ref())
                                .map(folded)
                                .unwrap_or_else(|| {
                                    default_name(&table, std::slice::from_ref(&col), "check")
                                });
                            Some(Event::Add {
                                check: Check {
                                    name,
                                    columns: vec![col],
                                    expr: ck.expr.to_string(),
                                },
                                validated: true,
                            })
                        }
                        _ => None,
                    })
                    .collect(),
                AlterTableOperation::ValidateConstraint { name } => {
                    vec![Event::Validate(folded(name))]
                }
                AlterTableOperation::DropConstraint { name, .. } => vec![Event::Drop(folded(name))],
                _ => continue,
            };
            let list = self.0.entry(table.clone()).or_default();
            list.extend(events.into_iter().map(|e| (s.index, e)));
        }
    }
}

/// The validated CHECK constraints on `table` reading `column` before `stmt`.
fn validated_checks(ctx: &Ctx, stmt: &Stmt, table: &str, column: &str) -> Vec<Check> {
    let facts = ctx.fact::<Checks>();
    let Some(events) = facts.0.get(table) else {
        return Vec::new();
    };
    // Name -> (check, validated), replayed in file order.
    let mut state: Vec<(Check, bool)> = Vec::new();
    for (_, e) in events.iter().take_while(|(i, _)| *i < stmt.index) {
        match e {
            Event::Add { check, validated } => {
                state.retain(|(c, _)| c.name != check.name);
                state.push((check.clone(), *validated));
            }
            Event::Validate(n) => {
                for (c, v) in &mut state {
                    if &c.name == n {
                        *v = true;
                    }
                }
            }
            Event::Drop(n) => state.retain(|(c, _)| &c.name != n),
        }
    }
    state
        .into_iter()
        .filter(|(c, v)| *v && c.columns.iter().any(|x| x == column))
        .map(|(c, _)| c)
        .collect()
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = last_part(&at.name);
    for op in &at.operations {
        let AlterTableOperation::AlterColumn {
            column_name: col,
            op:
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                },
        } = op
        else {
            continue;
        };
        if surely_rewrites(ctx, stmt, at, col, data_type, using.as_ref()) {
            continue;
        }
        let checks = validated_checks(ctx, stmt, &table, &folded(col));
        if checks.is_empty() {
            continue;
        }
        let names: Vec<String> = checks.iter().map(|c| quote_pg(&c.name)).collect();
        let shown = at.name.to_string();
        let message = format!(
            "ALTER COLUMN {col} TYPE {data_type} keeps {shown}'s rows but re-checks {} against every row while it holds ACCESS EXCLUSIVE: reads and writes on {shown} wait for a full scan",
            names.join(", ")
        );
        let using = using
            .as_ref()
            .map(|u| format!(" USING {u}"))
            .unwrap_or_default();
        let mut ops: Vec<String> = names
            .iter()
            .map(|n| format!("DROP CONSTRAINT {n}"))
            .collect();
        ops.push(format!("ALTER COLUMN {col} TYPE {data_type}{using}"));
        ops.extend(
            checks
                .iter()
                .zip(&names)
                .map(|(c, n)| format!("ADD CONSTRAINT {n} CHECK ({}) NOT VALID", c.expr)),
        );
        let head = alter_head(at);
        let mut fix = format!(
            "-- one statement, no scan (ACCESS EXCLUSIVE, brief):\n{head}\n  {};\n-- then in a transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes continue while it scans):",
            ops.join(",\n  ")
        );
        for n in &names {
            fix.push_str(&format!("\nALTER TABLE {shown} VALIDATE CONSTRAINT {n};"));
        }
        out.push(
            RULE.finding(stmt, message)
                .on_table(shown.clone(), Lock::AccessExclusive)
                .with_fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;

    const ID: &str = "column-type-change-recheck";

    #[test]
    fn flags_a_widening_on_a_checked_column() {
        let sql = "ALTER TABLE users ADD CONSTRAINT users_name_len CHECK (length(name) > 0);\n\
                   ALTER TABLE users ALTER COLUMN name TYPE varchar(200);";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 2);
        assert!(
            f[0].message
                .contains("re-checks users_name_len against every row"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE users\n  DROP CONSTRAINT users_name_len,\n  ALTER COLUMN name TYPE VARCHAR(200),\n  ADD CONSTRAINT users_name_len CHECK (length(name) > 0) NOT VALID;"),
            "{fix}"
        );
        assert!(fix.ends_with("ALTER TABLE users VALIDATE CONSTRAINT users_name_len;"));
    }

    #[test]
    fn inline_and_unnamed_checks_get_postgres_names() {
        let sql = "ALTER TABLE hosts ADD COLUMN addr cidr CHECK (masklen(addr) > 8);\n\
                   ALTER TABLE hosts ALTER COLUMN addr TYPE inet;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("hosts_addr_check"),
            "{}",
            f[0].message
        );
        let sql = "ALTER TABLE \"Hosts\" ADD CHECK (\"Label\" <> '');\n\
                   ALTER TABLE \"Hosts\" ALTER COLUMN \"Label\" TYPE text;";
        let f = run(ID, sql, 15);
        assert!(
            f[0].message.contains("\"Hosts_Label_check\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn not_valid_dropped_or_other_columns_are_silent() {
        for sql in [
            "ALTER TABLE users ADD CONSTRAINT c CHECK (length(name) > 0) NOT VALID;\nALTER TABLE users ALTER COLUMN name TYPE text;",
            "ALTER TABLE users ADD CONSTRAINT c CHECK (length(name) > 0);\nALTER TABLE users DROP CONSTRAINT c;\nALTER TABLE users ALTER COLUMN name TYPE text;",
            "ALTER TABLE users ADD CONSTRAINT c CHECK (age > 0);\nALTER TABLE users ALTER COLUMN name TYPE text;",
            "CREATE TABLE users (name varchar(10) CHECK (name <> ''));\nALTER TABLE users ALTER COLUMN name TYPE text;",
            "ALTER TABLE users ALTER COLUMN name TYPE text;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
        // Validated later: checked again.
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (length(name) > 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT c;\nALTER TABLE users ALTER COLUMN name TYPE text;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn a_rewrite_is_left_to_the_rewrite_rule() {
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (age > 0);\nALTER TABLE users ALTER COLUMN age TYPE bigint;";
        assert!(run(ID, sql, 15).is_empty());
        assert_eq!(run("column-type-change-rewrite", sql, 15).len(), 1);
    }
}
