//! # attach-partition-scans
//!
//! Finds `ALTER TABLE ... ATTACH PARTITION` of a table that holds rows with
//! no validated CHECK constraint on it matching the partition bounds: the
//! attach then scans the whole table to prove every row fits. A table
//! created empty earlier in the same file is fine from PostgreSQL 12 (nobody
//! uses it yet, and the parent is only locked against other DDL); before 12
//! the parent is locked for the scan, so a table filled in the file counts.
//!
//! **Why it hurts:** the scan holds ACCESS EXCLUSIVE on the table being
//! attached (reads and writes of it wait), and before PostgreSQL 12 ACCESS
//! EXCLUSIVE on the parent too, so the whole partitioned table stops for as
//! long as the scan takes (about a second per million rows).
//!
//! **Instead:** prove the bounds first with a CHECK constraint added `NOT
//! VALID` and then validated (the validation scan takes SHARE UPDATE
//! EXCLUSIVE, so reads and writes continue); ATTACH then skips its scan; drop
//! the CHECK afterwards.

use super::missing_lock_timeout::{alter_table_target, created_in_file, norm_table, raw_words};
use super::{Rule, PG};
use crate::engine::Lock;
use crate::review::context::{Fact, FirstByKey};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnOption, CreateTable, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Statement, TableConstraint,
};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "attach-partition-scans",
    severity: Severity::Warning,
    summary: "ATTACH PARTITION without a matching validated CHECK scans the partition under a lock",
    source: include_str!("attach_partition_scans.rs"),
    engines: PG,
    check,
};

/// The bounds after `FOR VALUES`: `FROM (a) TO (b)` or `IN (a, b)`.
#[derive(Debug, PartialEq)]
enum Bounds {
    Range(Option<String>, Option<String>),
    List(Vec<String>),
    Other,
}

/// Text of the parenthesised group starting at byte `open` (a `(`).
fn group(text: &str, open: usize) -> Option<(&str, usize)> {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[open + 1..open + i], open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted) = (0, false);
    for c in list.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn bounds(text: &str) -> Bounds {
    let upper = text.to_ascii_uppercase();
    let Some(fv) = upper.find("FOR VALUES") else {
        return Bounds::Other;
    };
    let rest = &upper[fv + 10..];
    let start = fv + 10 + (rest.len() - rest.trim_start().len());
    let one = |s: &str| {
        let v = split_top(s);
        match v.as_slice() {
            [x] if !matches!(x.to_ascii_uppercase().as_str(), "MINVALUE" | "MAXVALUE") => {
                Some(x.clone())
            }
            _ => None,
        }
    };
    if upper[start..].starts_with("FROM") {
        let Some(open) = text[start..].find('(').map(|i| start + i) else {
            return Bounds::Other;
        };
        let Some((lo, after)) = group(text, open) else {
            return Bounds::Other;
        };
        let Some(open2) = text[after..].find('(').map(|i| after + i) else {
            return Bounds::Other;
        };
        let Some((hi, _)) = group(text, open2) else {
            return Bounds::Other;
        };
        return Bounds::Range(one(lo), one(hi));
    }
    if upper[start..].starts_with("IN") {
        if let Some((list, _)) = text[start..].find('(').and_then(|i| group(text, start + i)) {
            return Bounds::List(split_top(list));
        }
    }
    Bounds::Other
}

/// The literal values of the bounds, to match a CHECK against.
fn literals(b: &Bounds) -> Vec<String> {
    match b {
        Bounds::Range(lo, hi) => lo.iter().chain(hi).cloned().collect(),
        Bounds::List(v) => v.clone(),
        Bounds::Other => Vec::new(),
    }
}

/// The condition a CHECK on key column `k` needs to imply the bounds.
fn condition(k: &str, b: &Bounds) -> Option<String> {
    match b {
        Bounds::Range(lo, hi) if lo.is_some() || hi.is_some() => {
            let mut parts = vec![format!("{k} IS NOT NULL")];
            if let Some(lo) = lo {
                parts.push(format!("{k} >= {lo}"));
            }
            if let Some(hi) = hi {
                parts.push(format!("{k} < {hi}"));
            }
            Some(parts.join(" AND "))
        }
        Bounds::List(v) if !v.iter().any(|x| x.eq_ignore_ascii_case("NULL")) => {
            Some(format!("{k} IS NOT NULL AND {k} IN ({})", v.join(", ")))
        }
        _ => None,
    }
}

/// What a statement did to a table, as far as attaching it as a partition
/// goes.
enum Part {
    /// `CREATE TABLE`: its single partition key column, and its CHECK
    /// expressions as written.
    Created {
        key: Option<String>,
        checks: Vec<String>,
    },
    /// `ALTER TABLE ... ADD [CONSTRAINT name] CHECK (expr) [NOT VALID]`.
    Check {
        expr: String,
        not_valid: bool,
        name: Option<String>,
    },
    /// `ALTER TABLE ... VALIDATE CONSTRAINT name`.
    Validate(String),
}

/// What the parsed `CREATE TABLE` and `ALTER TABLE` statements of the file
/// did to each table (by name as [`norm_table`] gives it), in file order.
#[derive(Default)]
pub(crate) struct Parts(HashMap<String, Vec<(usize, Part)>>);

impl Fact for Parts {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        match &s.ast {
            Some(Ast::Other(o)) => {
                if let Statement::CreateTable(ct) = &**o {
                    let checks = ct
                        .constraints
                        .iter()
                        .filter_map(|c| match c {
                            TableConstraint::Check(c) => Some(c.expr.to_string()),
                            _ => None,
                        })
                        .chain(ct.columns.iter().flat_map(|col| {
                            col.options.iter().filter_map(|o| match &o.option {
                                ColumnOption::Check(c) => Some(c.expr.to_string()),
                                _ => None,
                            })
                        }))
                        .collect();
                    let part = Part::Created {
                        key: partition_key_of(ct),
                        checks,
                    };
                    self.0
                        .entry(norm_table(&ct.name.to_string()))
                        .or_default()
                        .push((s.index, part));
                }
            }
            Some(Ast::AlterTable(at)) => {
                let parts: Vec<Part> = at
                    .operations
                    .iter()
                    .filter_map(|op| match op {
                        AlterTableOperation::AddConstraint {
                            constraint: TableConstraint::Check(c),
                            not_valid,
                        } => Some(Part::Check {
                            expr: c.expr.to_string(),
                            not_valid: *not_valid,
                            name: c.name.as_ref().map(|n| n.value.clone()),
                        }),
                        AlterTableOperation::ValidateConstraint { name } => {
                            Some(Part::Validate(name.value.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                if !parts.is_empty() {
                    self.0
                        .entry(norm_table(&at.name.to_string()))
                        .or_default()
                        .extend(parts.into_iter().map(|p| (s.index, p)));
                }
            }
            _ => {}
        }
    }
}

impl Parts {
    /// What the statements before `stmt` did to `table` (as [`norm_table`] gives it).
    fn before(&self, table: &str, stmt: &Stmt) -> impl Iterator<Item = &Part> {
        let all = self.0.get(table).map_or(&[][..], Vec::as_slice);
        all[..all.partition_point(|(i, _)| *i < stmt.index)]
            .iter()
            .map(|(_, p)| p)
    }
}

/// The single partition key column of a `CREATE TABLE ... PARTITION BY`.
fn partition_key_of(ct: &CreateTable) -> Option<String> {
    match ct.partition_by.as_deref()? {
        Expr::Function(f) => match &f.args {
            FunctionArguments::List(l) => match l.args.as_slice() {
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i)))] => {
                    Some(i.to_string())
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The single partition key column of a parent created earlier in the file.
fn partition_key(ctx: &Ctx, stmt: &Stmt, parent: &str) -> Option<String> {
    let parts = ctx.fact::<Parts>();
    let key = parts
        .before(&norm_table(parent), stmt)
        .find_map(|p| match p {
            Part::Created { key, .. } => key.clone(),
            _ => None,
        });
    key
}

/// Whether the file gives the partition a validated CHECK before this
/// statement that mentions its bounds (any CHECK when the bounds have no
/// literals to compare).
fn has_matching_check(ctx: &Ctx, stmt: &Stmt, part: &str, lits: &[String]) -> bool {
    let matches = |e: &str| lits.is_empty() || lits.iter().any(|l| e.contains(l.as_str()));
    let parts = ctx.fact::<Parts>();
    let earlier: Vec<&Part> = parts.before(&norm_table(part), stmt).collect();
    let validated = |name: &str| {
        earlier
            .iter()
            .any(|p| matches!(p, Part::Validate(n) if n == name))
    };
    earlier.iter().any(|p| match p {
        Part::Check {
            expr,
            not_valid,
            name,
        } => matches(expr) && (!not_valid || name.as_deref().is_some_and(validated)),
        Part::Created { checks, .. } => checks.iter().any(|c| matches(c)),
        Part::Validate(_) => false,
    })
}

/// The tables the file puts rows into (`INSERT`, `COPY`), by name as
/// [`norm_table`] gives it.
#[derive(Default)]
pub(crate) struct Filled(FirstByKey);

impl Fact for Filled {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let table = match &s.ast {
            Some(Ast::Insert(i)) => Some(norm_table(&i.table.to_string())),
            Some(Ast::Other(o)) if matches!(**o, Statement::Copy { .. }) => {
                raw_words(&s.text, 3).get(1).map(|n| norm_table(n))
            }
            _ => None,
        };
        if let Some(table) = table {
            self.0.insert(table, s);
        }
    }
}

/// Whether rows are put into a table earlier in the file.
fn filled_in_file(ctx: &Ctx, stmt: &Stmt, table: &str) -> bool {
    ctx.fact::<Filled>().0.before(&norm_table(table), stmt)
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    // sqlparser 0.63 does not parse PostgreSQL partition ATTACH: read the words.
    if stmt.ast.is_some() {
        return;
    }
    let raw = raw_words(&stmt.text, 16);
    let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
    let Some((parent, next)) = alter_table_target(&up, &raw) else {
        return;
    };
    if up.get(next).map(String::as_str) != Some("ATTACH")
        || up.get(next + 1).map(String::as_str) != Some("PARTITION")
    {
        return;
    }
    let Some(part) = raw.get(next + 2).cloned() else {
        return;
    };
    let before_12 = ctx.pg_version < 12;
    if created_in_file(ctx, stmt, &part) && (!before_12 || !filled_in_file(ctx, stmt, &part)) {
        return;
    }
    let b = bounds(&stmt.text);
    let lits = literals(&b);
    if has_matching_check(ctx, stmt, &part, &lits) {
        return;
    }
    let parent_lock = if before_12 {
        "ACCESS EXCLUSIVE on the parent too (before PostgreSQL 12), so every partition of"
    } else {
        "SHARE UPDATE EXCLUSIVE on the parent, which blocks other DDL and VACUUM on"
    };
    let message = format!(
        "ATTACH PARTITION {part} scans every row of {part} to prove it fits the partition bounds, holding ACCESS EXCLUSIVE on {part} (reads and writes of it wait) and {parent_lock} {parent} for the whole scan"
    );
    let check_name = format!("{}_partition_bounds", norm_table(&part).trim_matches('"'));
    let key = partition_key(ctx, stmt, &parent);
    let add = match (&key, condition(key.as_deref().unwrap_or("key"), &b)) {
        (Some(_), Some(c)) => {
            format!("ALTER TABLE {part} ADD CONSTRAINT {check_name} CHECK ({c}) NOT VALID;")
        }
        // The key column is known only when the parent is created in the file.
        (None, Some(c)) => format!(
            "-- add CHECK constraint {check_name} to {part} NOT VALID, restating the bounds on the partition key of {parent} (SELECT pg_get_partkeydef('{parent}'::regclass)): {c}"
        ),
        (_, None) => format!(
            "-- add CHECK constraint {check_name} to {part} NOT VALID, restating the bounds of this ATTACH on the partition key of {parent} (SELECT pg_get_partkeydef('{parent}'::regclass))"
        ),
    };
    out.push(
        RULE.finding(stmt, message)
            .on_table(part.clone(), Lock::AccessExclusive)
            .with_fix(format!(
                "-- prove the bounds first; the validation scan takes SHARE UPDATE EXCLUSIVE, reads and writes continue:\n{add}\nALTER TABLE {part} VALIDATE CONSTRAINT {check_name};\n-- ATTACH now skips its scan:\n{};\nALTER TABLE {part} DROP CONSTRAINT {check_name};",
                stmt.text.trim()
            )),
    );
}

#[cfg(test)]
mod tests {
    use super::{bounds, Bounds};
    use crate::review::rules::testing::run;

    const ID: &str = "attach-partition-scans";
    const ATTACH: &str = "ALTER TABLE events ATTACH PARTITION events_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');";

    #[test]
    fn reads_bounds() {
        assert_eq!(
            bounds(ATTACH),
            Bounds::Range(Some("'2023-01-01'".into()), Some("'2024-01-01'".into()))
        );
        assert_eq!(
            bounds("ALTER TABLE m ATTACH PARTITION m_eu FOR VALUES IN ('de', 'fr')"),
            Bounds::List(vec!["'de'".into(), "'fr'".into()])
        );
        assert_eq!(
            bounds("ALTER TABLE m ATTACH PARTITION m0 FOR VALUES FROM (MINVALUE) TO (100)"),
            Bounds::Range(None, Some("100".into()))
        );
        assert_eq!(
            bounds("ALTER TABLE m ATTACH PARTITION d DEFAULT"),
            Bounds::Other
        );
    }

    #[test]
    fn flags_attach_of_an_existing_table_without_a_check() {
        let f = run(ID, ATTACH, 15);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("scans every row of events_2023"),
            "{}",
            f[0].message
        );
        assert!(f[0]
            .message
            .contains("SHARE UPDATE EXCLUSIVE on the parent"));
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("VALIDATE CONSTRAINT events_2023_partition_bounds"),
            "{fix}"
        );
        assert!(!fix.contains("..."), "{fix}");
        assert!(run(ID, ATTACH, 11)[0]
            .message
            .contains("before PostgreSQL 12"));
    }

    #[test]
    fn writes_the_check_when_the_key_is_known() {
        let sql = format!("CREATE TABLE events (id bigint, created_at date) PARTITION BY RANGE (created_at);\n{ATTACH}");
        let f = run(ID, &sql, 15);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("CHECK (created_at IS NOT NULL AND created_at >= '2023-01-01' AND created_at < '2024-01-01') NOT VALID"), "{fix}");
    }

    #[test]
    fn silent_with_a_validated_matching_check() {
        let sql = format!("ALTER TABLE events_2023 ADD CONSTRAINT b CHECK (created_at >= '2023-01-01' AND created_at < '2024-01-01') NOT VALID;\nALTER TABLE events_2023 VALIDATE CONSTRAINT b;\n{ATTACH}");
        assert!(run(ID, &sql, 15).is_empty());
        let sql = format!("ALTER TABLE events_2023 ADD CONSTRAINT b CHECK (created_at >= '2023-01-01' AND created_at < '2024-01-01');\n{ATTACH}");
        assert!(run(ID, &sql, 15).is_empty());
        // NOT VALID and never validated: the attach still scans.
        let sql = format!("ALTER TABLE events_2023 ADD CONSTRAINT b CHECK (created_at >= '2023-01-01') NOT VALID;\n{ATTACH}");
        assert_eq!(run(ID, &sql, 15).len(), 1);
        // A CHECK about something else does not help.
        let sql = format!("ALTER TABLE events_2023 ADD CONSTRAINT b CHECK (id > 0);\n{ATTACH}");
        assert_eq!(run(ID, &sql, 15).len(), 1);
    }

    #[test]
    fn new_tables_are_fine_unless_filled_before_12() {
        let sql = format!("CREATE TABLE events_2023 (LIKE events INCLUDING ALL);\n{ATTACH}");
        assert!(run(ID, &sql, 15).is_empty());
        assert!(run(ID, &sql, 11).is_empty());
        let sql = format!("CREATE TABLE events_2023 (id bigint, created_at date);\nINSERT INTO events_2023 SELECT id, created_at FROM old_events;\n{ATTACH}");
        assert!(run(ID, &sql, 15).is_empty());
        assert_eq!(run(ID, &sql, 11).len(), 1);
    }
}
