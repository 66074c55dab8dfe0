//! # set-not-null-without-check
//!
//! Finds `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL` on a table that
//! existed before this migration, unless the column is already proven NOT
//! NULL by a constraint validated earlier in the same file:
//! - PostgreSQL 12+: a `CHECK (col IS NOT NULL)` (alone or ANDed with other
//!   conditions) added with `NOT VALID` and then `VALIDATE CONSTRAINT`ed, or
//!   added validated at once (that statement is another rule's business);
//! - PostgreSQL 18+: also `ADD CONSTRAINT ... NOT NULL col NOT VALID` then
//!   `VALIDATE CONSTRAINT`.
//!
//! PostgreSQL 10 and 11 always scan, so there the rule fires regardless.
//!
//! **Why it hurts:** SET NOT NULL reads every row to prove there is no NULL,
//! under ACCESS EXCLUSIVE: reads and writes on the table wait for the whole
//! scan (and behind it, everything else queued for the table).
//!
//! **Instead:** add `CHECK (col IS NOT NULL) NOT VALID` (instant), then
//! `VALIDATE CONSTRAINT` in its own transaction (SHARE UPDATE EXCLUSIVE:
//! reads and writes continue), then `SET NOT NULL`, which PostgreSQL 12+
//! proves from the validated CHECK without scanning, then drop the CHECK. On
//! PostgreSQL 10 and 11 keep the validated CHECK as the guarantee and set NOT
//! NULL after upgrading.

use super::{planned_fix, Rule, PG};
use crate::change::Change;
use crate::engine::Lock;
use crate::review::context::{last_part, Fact};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, Expr, Ident, ObjectName, TableConstraint,
    UnaryOperator,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub static RULE: Rule = Rule {
    id: "set-not-null-without-check",
    severity: Severity::Error,
    summary: "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE unless a validated CHECK proves it",
    source: include_str!("set_not_null_without_check.rs"),
    engines: PG,
    check,
};

/// A name as PostgreSQL stores it: folded to lower case unless quoted.
pub(super) fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        crate::ident::fold_pg(&i.value)
    }
}

/// The statements that enforce NOT NULL on an existing column without a
/// long lock on this PostgreSQL version. `short` is the table's name without
/// schema, for the constraint name.
pub(super) fn not_null_steps(table: &str, short: &str, col: &Ident, version: u32) -> String {
    // A name made from names: quoted, and kept within 63 bytes.
    let check = crate::ident::quote_pg(&crate::plan::sql::object_name(&[
        short,
        &folded(col),
        "not_null",
    ]));
    let mut s = format!(
        "ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) NOT VALID;\n\
         -- in its own transaction; reads and writes continue while it scans:\n\
         ALTER TABLE {table} VALIDATE CONSTRAINT {check};\n"
    );
    if version >= 12 {
        s.push_str(&format!(
            "ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL; -- no scan: the validated CHECK proves it\n\
             ALTER TABLE {table} DROP CONSTRAINT {check};"
        ));
    } else {
        s.push_str(&format!(
            "-- PostgreSQL {version} scans on SET NOT NULL even then: keep {check} as the guarantee and SET NOT NULL after upgrading to 12+"
        ));
    }
    s
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    for op in &at.operations {
        let AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetNotNull,
        } = op
        else {
            continue;
        };
        if ctx.pg_version >= 12 && proven_earlier(ctx, stmt, &at.name, column_name) {
            continue;
        }
        let table = at.name.to_string();
        let why = if ctx.pg_version >= 12 {
            format!("no CHECK ({column_name} IS NOT NULL) was validated earlier in this file")
        } else {
            format!(
                "PostgreSQL {} scans even when a validated CHECK proves it",
                ctx.pg_version
            )
        };
        let f = RULE
            .finding(
                stmt,
                format!(
                    "ALTER TABLE {table} ALTER COLUMN {column_name} SET NOT NULL scans all of {table} under ACCESS EXCLUSIVE: reads and writes wait for the whole scan ({why})"
                ),
            )
            .on_table(table.clone(), Lock::AccessExclusive);
        let steps = not_null_steps(&table, &last_part(&at.name), column_name, ctx.pg_version);
        let change = Change::SetNotNull {
            table,
            column: column_name.to_string(),
        };
        let fix = match planned_fix(ctx, change) {
            Some(plan) => format!("{steps}\n{plan}"),
            None => steps,
        };
        out.push(f.with_fix(fix));
    }
}

/// Whether a constraint validated earlier in the file proves `col` NOT NULL.
/// A `VALIDATE CONSTRAINT` of a constraint this file did not add counts too:
/// it is the second half of the usual two-migration sequence (the CHECK ...
/// NOT VALID shipped in an earlier file), and nothing else is validated right
/// before a SET NOT NULL.
fn proven_earlier(ctx: &Ctx, stmt: &Stmt, table: &ObjectName, col: &Ident) -> bool {
    ctx.fact_mut::<Constraints>()
        .proven_before(last_part(table), folded(col), ctx.pg_version, stmt)
}

/// One change a statement makes to a table's constraints.
enum Step {
    /// `ADD [CONSTRAINT name] CHECK (...) [NOT VALID]`, with the columns
    /// the check proves NOT NULL ([`proves_not_null`]).
    Check {
        name: Option<Name>,
        proves: Vec<String>,
        not_valid: bool,
    },
    /// Another constraint added, by name when it has one.
    Other(Option<Name>),
    Validate(Name),
    Drop(Name),
    /// PostgreSQL 18's `ADD CONSTRAINT name NOT NULL col [NOT VALID]`.
    NotNull {
        name: Name,
        col: String,
        not_valid: bool,
    },
}

/// A constraint name, shared by the steps naming it and the proofs of every
/// column asked about (each holds the names of the table's constraints).
type Name = Arc<str>;

/// The constraint changes of each table (names folded), in file order, and
/// for each (table, column) asked about, the proof replayed so far: each
/// pair replays its table's changes once, rather than every SET NOT NULL
/// replaying every earlier statement.
#[derive(Default)]
pub(crate) struct Constraints {
    steps: HashMap<String, Vec<(usize, Step)>>,
    proofs: HashMap<(String, String), Proof>,
}

/// The constraints of one table as they bear on one column.
#[derive(Default)]
struct Proof {
    pending: HashSet<Name>,
    validated: HashSet<Name>,
    /// Constraints added in this file that prove something else.
    other: HashSet<Name>,
    /// How many of the table's steps are replayed.
    replayed: usize,
    /// The statements after which the column became proven or stopped being
    /// (statement, proven after it), in file order.
    changes: Vec<(usize, bool)>,
}

impl Fact for Constraints {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        match &s.ast {
            Some(Ast::AlterTable(at)) => {
                for op in &at.operations {
                    let step = match op {
                        AlterTableOperation::AddConstraint {
                            constraint: TableConstraint::Check(ck),
                            not_valid,
                        } => {
                            let mut proves = Vec::new();
                            proves_not_null(&ck.expr, &mut proves);
                            Step::Check {
                                name: ck.name.as_ref().map(|n| folded(n).into()),
                                proves,
                                not_valid: *not_valid,
                            }
                        }
                        AlterTableOperation::AddConstraint { constraint, .. } => {
                            Step::Other(constraint_name(constraint).map(Name::from))
                        }
                        AlterTableOperation::ValidateConstraint { name } => {
                            Step::Validate(folded(name).into())
                        }
                        AlterTableOperation::DropConstraint { name, .. } => {
                            Step::Drop(folded(name).into())
                        }
                        _ => continue,
                    };
                    self.steps
                        .entry(last_part(&at.name))
                        .or_default()
                        .push((s.index, step));
                }
            }
            None => {
                if let Some((table, name, col, not_valid)) = pg18_not_null_constraint(&s.text) {
                    self.steps.entry(table).or_default().push((
                        s.index,
                        Step::NotNull {
                            name: name.into(),
                            col,
                            not_valid,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
}

impl Constraints {
    /// Whether, before `stmt`, a validated constraint proves `col` of
    /// `table` NOT NULL.
    fn proven_before(&mut self, table: String, col: String, version: u32, stmt: &Stmt) -> bool {
        let steps = self.steps.get(&table).map_or(&[][..], Vec::as_slice);
        let proof = self.proofs.entry((table.clone(), col.clone())).or_default();
        proof.replay(&table, &col, steps, version);
        let before = proof.changes.partition_point(|&(i, _)| i < stmt.index);
        before > 0 && proof.changes[before - 1].1
    }
}

impl Proof {
    /// Replays the steps not replayed yet.
    fn replay(&mut self, table: &str, col: &str, steps: &[(usize, Step)], version: u32) {
        for (index, step) in &steps[self.replayed.min(steps.len())..] {
            match step {
                Step::Check {
                    name,
                    proves,
                    not_valid,
                } if proves.iter().any(|c| c == col) => {
                    let name = name
                        .clone()
                        .unwrap_or_else(|| format!("{table}_{col}_check").into());
                    if *not_valid {
                        self.pending.insert(name);
                    } else {
                        self.validated.insert(name);
                    }
                }
                Step::Check { name, .. } | Step::Other(name) => {
                    if let Some(name) = name {
                        self.other.insert(name.clone());
                    }
                }
                Step::Validate(name) => {
                    if self.pending.remove(name) || !self.other.contains(name) {
                        self.validated.insert(name.clone());
                    }
                }
                Step::Drop(name) => {
                    self.pending.remove(name);
                    self.validated.remove(name);
                }
                Step::NotNull {
                    name,
                    col: c,
                    not_valid,
                } => {
                    if c != col || version < 18 {
                        self.other.insert(name.clone());
                    } else if *not_valid {
                        self.pending.insert(name.clone());
                    } else {
                        self.validated.insert(name.clone());
                    }
                }
            }
            let proven = !self.validated.is_empty();
            if self.changes.last().is_some_and(|&(_, was)| was) != proven {
                self.changes.push((*index, proven));
            }
        }
        self.replayed = steps.len();
    }
}

fn constraint_name(c: &TableConstraint) -> Option<String> {
    let name = match c {
        TableConstraint::Check(x) => x.name.as_ref(),
        TableConstraint::Unique(x) => x.name.as_ref(),
        TableConstraint::PrimaryKey(x) => x.name.as_ref(),
        TableConstraint::ForeignKey(x) => x.name.as_ref(),
        _ => None,
    };
    name.map(folded)
}

/// The columns a CHECK expression proves never NULL (folded): `col IS NOT
/// NULL` and `NOT (col IS NULL)`, alone or ANDed with other conditions.
fn proves_not_null(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Nested(inner) => proves_not_null(inner, out),
        Expr::IsNotNull(inner) => out.extend(column(inner)),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => {
            if let Expr::IsNull(inner) = unnest(expr) {
                out.extend(column(inner));
            }
        }
        Expr::BinaryOp {
            left,
            op: sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            proves_not_null(left, out);
            proves_not_null(right, out);
        }
        _ => {}
    }
}

fn unnest(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unnest(inner),
        other => other,
    }
}

/// The column an expression is, folded.
fn column(e: &Expr) -> Option<String> {
    match unnest(e) {
        Expr::Identifier(i) => Some(folded(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(folded),
        _ => None,
    }
}

/// PostgreSQL 18's `ALTER TABLE [IF EXISTS] [ONLY] t ADD [CONSTRAINT name]
/// NOT NULL col [NO INHERIT] [NOT VALID]`, which sqlparser cannot parse:
/// (table, constraint name, column, not valid).
fn pg18_not_null_constraint(text: &str) -> Option<(String, String, String, bool)> {
    if !super::tokens::may_contain(text, "null") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()?;
    let words: Vec<(String, bool)> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(match w.quote_style {
                Some(_) => (w.value.clone(), true),
                None => (w.value.to_lowercase(), false),
            }),
            Token::Period => Some((".".into(), false)),
            Token::Whitespace(_) => None,
            other => Some((other.to_string(), false)),
        })
        .collect();
    let is = |i: usize, kw: &str| words.get(i).is_some_and(|(w, q)| !q && w == kw);
    if !(is(0, "alter") && is(1, "table")) {
        return None;
    }
    let mut i = 2;
    if is(i, "if") && is(i + 1, "exists") {
        i += 2;
    }
    if is(i, "only") {
        i += 1;
    }
    let mut table = words.get(i)?.0.clone();
    i += 1;
    while is(i, ".") {
        table = words.get(i + 1)?.0.clone();
        i += 2;
    }
    if !is(i, "add") {
        return None;
    }
    i += 1;
    let mut name = None;
    if is(i, "constraint") {
        name = Some(words.get(i + 1)?.0.clone());
        i += 2;
    }
    if !(is(i, "not") && is(i + 1, "null")) {
        return None;
    }
    let col = words.get(i + 2)?.0.clone();
    let rest: Vec<&str> = words[i + 3..].iter().map(|(w, _)| w.as_str()).collect();
    let not_valid = rest.windows(2).any(|w| w == ["not", "valid"]);
    let name = name.unwrap_or_else(|| format!("{table}_{col}_not_null"));
    Some((table, name, col, not_valid))
}

#[cfg(test)]
mod tests {
    use super::pg18_not_null_constraint;
    use crate::review::rules::testing::{run, run_in_txn};

    const ID: &str = "set-not-null-without-check";

    #[test]
    fn flags_plain_set_not_null() {
        let f = run(ID, "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("scans all of users under ACCESS EXCLUSIVE"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;"),
            "{fix}"
        );
        assert!(
            fix.contains("VALIDATE CONSTRAINT users_email_not_null"),
            "{fix}"
        );
        assert!(fix.contains("schemashift plan"), "{fix}");
    }

    #[test]
    fn silent_after_a_validated_check_on_pg12_and_later() {
        let sql = "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
                   ALTER TABLE users DROP CONSTRAINT users_email_nn;";
        for v in [12, 15, 18] {
            assert!(run(ID, sql, v).is_empty(), "{v}");
            assert!(run_in_txn(ID, sql, v).is_empty(), "{v}");
        }
        // PostgreSQL 11 scans anyway.
        let f = run(ID, sql, 11);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("PostgreSQL 11 scans"),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.as_deref().unwrap().contains("after upgrading"));
        // A check ANDed with other conditions proves it too, and so does one
        // added validated at once.
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL AND email <> '');\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn a_check_not_validated_or_on_another_column_does_not_count() {
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (name IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
        let sql = "ALTER TABLE accounts ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE accounts VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE users DROP CONSTRAINT c;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn validating_a_constraint_added_by_an_earlier_migration_counts() {
        // The CHECK ... NOT VALID shipped in the previous file.
        let sql = "ALTER TABLE users VALIDATE CONSTRAINT users_email_null;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert!(run(ID, sql, 15).is_empty());
        // But not one this file added for something else.
        let sql = "ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT users_org_fk;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
        // Nor one on another table.
        let sql = "ALTER TABLE accounts VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(run(ID, sql, 15).len(), 1);
    }

    #[test]
    fn pg18_not_null_not_valid_then_validate() {
        let sql = "ALTER TABLE users ADD CONSTRAINT users_email_nn NOT NULL email NOT VALID;\n\
                   ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert!(run(ID, sql, 18).is_empty());
        assert_eq!(run(ID, sql, 17).len(), 1);
        assert_eq!(
            pg18_not_null_constraint(
                "ALTER TABLE ONLY public.users ADD CONSTRAINT x NOT NULL \"Email\" NOT VALID"
            ),
            Some(("users".into(), "x".into(), "Email".into(), true))
        );
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;";
        assert!(run(ID, sql, 15).is_empty());
    }
}
