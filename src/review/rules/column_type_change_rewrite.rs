//! # column-type-change-rewrite
//!
//! Finds `ALTER TABLE ... ALTER COLUMN ... [SET DATA] TYPE` that rewrites a
//! table that existed before this migration. Only binary-coercible changes
//! avoid the rewrite, and the statement does not say the old type, so the
//! rule decides as follows:
//!
//! 1. A `USING` expression other than the column itself (or the column cast
//!    to the new type) is computed for every row: **error**.
//! 2. When an earlier statement in the file gives the column's current type
//!    (`ADD COLUMN`, an earlier `TYPE` change), the change is judged exactly:
//!    silent when it is a no-op or binary-coercible (a longer or unlimited
//!    `varchar`, `varchar` <-> `text`, `text`/`varchar` <-> `citext`, more
//!    `numeric` precision at the same scale, dropping a limit, more
//!    precision of `timestamp`, `time`, `timetz` or `interval`,
//!    `cidr -> inet`, `xml -> text`), an **error** otherwise.
//! 3. Otherwise the target type decides:
//!    - `text`, `varchar` without length, `citext`, `numeric` without
//!      precision: silent (the usual sources, varchar and numeric, convert
//!      without a rewrite); `inet` without `USING` too (only `cidr`
//!      converts to it without one, binary-coercible);
//!    - `time`, `timetz`, `interval`: **info**, safe only if it keeps or
//!      raises the precision of the same type;
//!    - `varchar(n)`: **info** (a note, not a hazard), safe only if it widens an existing varchar;
//!    - `numeric(p,s)`: **info**, safe only if it raises the precision of
//!      an existing numeric with the same scale;
//!    - every other target (`bigint`, `integer`, `uuid`, `jsonb`, an enum ...):
//!      **error**, since no common source converts to it without a rewrite.
//! 4. `timestamp` <-> `timestamptz` (either way, known or assumed): an
//!    **error** before PostgreSQL 12, which always rewrites; on 12+ a
//!    **warning**, since it skips the rewrite only when the session TimeZone
//!    is UTC, and silent when an earlier `SET TimeZone = 'UTC'` in the file
//!    makes it so.
//!
//! **Why it hurts:** a rewrite copies every row and rebuilds every index
//! under ACCESS EXCLUSIVE: reads and writes wait for all of it (about 1 s per
//! million rows on a small server, minutes on large tables), and
//! `text -> varchar(n)` rewrites too.
//!
//! **Instead:** expand and contract: add a new column of the new type, keep
//! it in sync with a trigger, backfill it in batches, switch the app over,
//! then swap the names and drop the old column. `schemashift plan "change
//! t.c to bigint"` writes every step.

use super::set_not_null_without_check::folded;
use super::{planned_fix, Rule, PG};
use crate::change::Change;
use crate::engine::postgres::{normalise_type, type_change, TypeChange};
use crate::engine::Lock;
use crate::review::context::{last_part, Fact, Settings};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, DataType, Expr, Ident, ObjectName, TimezoneInfo,
};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    id: "column-type-change-rewrite",
    severity: Severity::Error,
    summary: "changing a column's type rewrites the table under ACCESS EXCLUSIVE unless the change is binary-coercible",
    source: include_str!("column_type_change_rewrite.rs"),
    engines: PG,
    check,
};

/// A type as far as rewrites are concerned.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `timestamp` / `timestamptz` with their precision (default 6).
    Timestamp { tz: bool, precision: u64 },
    /// Anything else, spelled as PostgreSQL prints it (`varchar(20)`, `integer`).
    Other(String),
}

fn kind(dt: &DataType) -> Kind {
    match dt {
        DataType::Timestamp(p, tz) => Kind::Timestamp {
            tz: matches!(tz, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz),
            precision: p.unwrap_or(6),
        },
        other => Kind::Other(normalise_type(&other.to_string())),
    }
}

/// What the statement costs.
enum Cost {
    Free,
    /// Catalog-only under a condition the file does not show: the condition,
    /// the usual cases where it rewrites instead, and the safe alternative.
    Depends {
        cond: String,
        otherwise: String,
        alt: Alt,
    },
    /// A rewrite, with why when that is not obvious.
    Rewrite(Option<String>),
}

/// The fix offered when the cost depends on what the file does not show.
enum Alt {
    /// Run it with the session in UTC.
    Utc,
    /// Keep the type and enforce the length limit with a CHECK.
    LengthCheck(String),
    /// The planner's expand/contract sequence.
    Plan,
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
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
        let from = earlier_type(ctx, stmt, &at.name, col);
        let cost = cost(ctx, stmt, col, from.as_ref(), data_type, using.as_ref());
        let to_text = data_type.to_string().to_lowercase();
        let what = match &from {
            Some(f) => format!(
                "changing {table}.{col} from {} to {to_text}",
                f.to_string().to_lowercase()
            ),
            None => format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE {to_text}"),
        };
        let rewrite = format!(
            "rewrites {table} under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite, and every index on {table} is rebuilt"
        );
        let change = Change::ChangeColumnType {
            table: table.clone(),
            column: col.to_string(),
            from_type: from.as_ref().map(|f| f.to_string().to_lowercase()),
            to_type: to_text.clone(),
            using: using.as_ref().map(|u| u.to_string()),
        };
        let f = match cost {
            Cost::Free => continue,
            Cost::Rewrite(why) => {
                let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                let f = RULE.finding(stmt, format!("{what} {rewrite}{why}"));
                with_plan(ctx, f, change)
            }
            Cost::Depends {
                cond,
                otherwise,
                alt,
            } => {
                // A limit whose old value the file does not show is usually a
                // widening (safe): a note, not a hazard claim. The time-zone
                // case depends on a setting, so it stays a warning.
                let severity = match alt {
                    Alt::Utc => Severity::Warning,
                    _ => Severity::Info,
                };
                let f = RULE
                    .finding(
                        stmt,
                        format!("{what} avoids a rewrite only {cond}; {otherwise} it {rewrite}"),
                    )
                    .severity(severity);
                match alt {
                    Alt::Utc => f.with_fix(format!(
                        "SET TimeZone = 'UTC'; -- SET LOCAL inside the migration's transaction; existing values are read as UTC\n\
                         ALTER TABLE {table} ALTER COLUMN {col} TYPE {to_text};"
                    )),
                    Alt::LengthCheck(n) => {
                        let check = format!("{}_{}_max_length", last_part(&at.name), folded(col));
                        f.with_fix(format!(
                            "-- if {table}.{col} is text or a longer varchar, keep its type and enforce the limit with a CHECK (no rewrite):\n\
                             ALTER TABLE {table} ADD CONSTRAINT {check} CHECK (char_length({col}) <= {n}) NOT VALID;\n\
                             -- in its own transaction; reads and writes continue while it scans:\n\
                             ALTER TABLE {table} VALIDATE CONSTRAINT {check};\n\
                             -- every step of a real type change: schemashift plan \"change {table}.{col} to {to_text}\""
                        ))
                    }
                    Alt::Plan => with_plan(ctx, f, change),
                }
            }
        };
        out.push(f.on_table(table.clone(), Lock::AccessExclusive));
    }
}

use Cost::Rewrite;

/// What changing `col` from `from` (when the file shows it) to `data_type`
/// costs.
fn cost(
    ctx: &Ctx,
    stmt: &Stmt,
    col: &Ident,
    from: Option<&DataType>,
    data_type: &DataType,
    using: Option<&Expr>,
) -> Cost {
    let to = kind(data_type);
    match using {
        Some(u) if !trivial_using(u, col, &to) => Rewrite(Some(
            "the USING expression is computed for every row".into(),
        )),
        _ => match from {
            Some(f) => known_cost(ctx, stmt, col, &kind(f), &to),
            None => unknown_cost(ctx, stmt, col, &to, using.is_some()),
        },
    }
}

/// Whether this rule reports the type change of `col` in `at` as a sure
/// rewrite (an error, not a note that it may be one): the rewrite re-checks
/// every row too, and its finding says all.
pub(super) fn surely_rewrites(
    ctx: &Ctx,
    stmt: &Stmt,
    at: &sqlparser::ast::AlterTable,
    col: &Ident,
    data_type: &DataType,
    using: Option<&Expr>,
) -> bool {
    let from = earlier_type(ctx, stmt, &at.name, col);
    matches!(
        cost(ctx, stmt, col, from.as_ref(), data_type, using),
        Cost::Rewrite(_)
    )
}

fn with_plan(ctx: &Ctx, f: Finding, change: Change) -> Finding {
    match planned_fix(ctx, change) {
        Some(fix) => f.with_fix(fix),
        None => f,
    }
}

/// `USING col` or `USING col::new_type`: the same as no USING at all.
fn trivial_using(e: &Expr, col: &Ident, to: &Kind) -> bool {
    let is_col = |e: &Expr| match e {
        Expr::Identifier(i) => folded(i) == folded(col),
        Expr::Nested(inner) => matches!(&**inner, Expr::Identifier(i) if folded(i) == folded(col)),
        _ => false,
    };
    match e {
        Expr::Nested(inner) => trivial_using(inner, col, to),
        Expr::Cast {
            expr, data_type, ..
        } => is_col(expr) && kind(data_type) == *to,
        other => is_col(other),
    }
}

/// The column's type as an earlier statement of this file left it.
fn earlier_type(ctx: &Ctx, stmt: &Stmt, table: &ObjectName, col: &Ident) -> Option<DataType> {
    let types = ctx.fact::<ColumnTypes>();
    types
        .0
        .get(&(last_part(table), folded(col)))?
        .before(stmt)?
        .clone()
}

/// For each (table, column), the type each `ALTER TABLE` operation gives it
/// (`ADD COLUMN`, `TYPE`) or the unknown type a rename to its name leaves, in
/// file order: the last one before a statement says the column's type there.
#[derive(Default)]
pub(crate) struct ColumnTypes(HashMap<(String, String), Settings<Option<DataType>>>);

impl Fact for ColumnTypes {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let Some(Ast::AlterTable(at)) = &s.ast else {
            return;
        };
        for op in &at.operations {
            let (col, data_type) = match op {
                AlterTableOperation::AddColumn { column_def, .. } => {
                    (&column_def.name, Some(&column_def.data_type))
                }
                AlterTableOperation::AlterColumn {
                    column_name,
                    op: AlterColumnOperation::SetDataType { data_type, .. },
                } => (column_name, Some(data_type)),
                AlterTableOperation::RenameColumn {
                    new_column_name, ..
                } => (new_column_name, None),
                _ => continue,
            };
            self.0
                .entry((last_part(&at.name), folded(col)))
                .or_default()
                .set(data_type.cloned(), s);
        }
    }
}

/// The first `SET [LOCAL] TimeZone = 'UTC'` (or `SET TIME ZONE 'UTC'`) of the file.
#[derive(Default)]
pub(crate) struct UtcFrom(Option<usize>);

impl Fact for UtcFrom {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if self.0.is_none() && s.starts_with(&["SET"]) && {
            let text = s.text.to_lowercase();
            (text.contains("timezone") || text.contains("time zone"))
                && ["utc", "gmt", "zulu"].iter().any(|z| text.contains(z))
        } {
            self.0 = Some(s.index);
        }
    }
}

/// An earlier `SET [LOCAL] TimeZone = 'UTC'` (or `SET TIME ZONE 'UTC'`).
fn session_in_utc(ctx: &Ctx, stmt: &Stmt) -> bool {
    ctx.fact::<UtcFrom>().0.is_some_and(|i| i < stmt.index)
}

/// timestamp <-> timestamptz: always a rewrite before 12, free on 12+ in UTC.
fn tz_switch(ctx: &Ctx, stmt: &Stmt, col: &Ident, known: bool, to_tz: bool) -> Cost {
    if ctx.pg_version < 12 {
        Rewrite(Some(format!(
            "PostgreSQL {} rewrites every switch between timestamp and timestamptz",
            ctx.pg_version
        )))
    } else if session_in_utc(ctx, stmt) {
        Cost::Free
    } else {
        let source = if to_tz {
            "timestamp without time zone"
        } else {
            "timestamptz"
        };
        let cond = if known {
            "when the session TimeZone is UTC (PostgreSQL 12+)".to_string()
        } else {
            format!("when {col} is a {source} and the session TimeZone is UTC (PostgreSQL 12+)")
        };
        Cost::Depends {
            cond,
            otherwise: "otherwise".into(),
            alt: Alt::Utc,
        }
    }
}

fn known_cost(ctx: &Ctx, stmt: &Stmt, col: &Ident, from: &Kind, to: &Kind) -> Cost {
    match (from, to) {
        (
            Kind::Timestamp {
                tz: a,
                precision: p,
            },
            Kind::Timestamp {
                tz: b,
                precision: q,
            },
        ) => {
            if a != b {
                tz_switch(ctx, stmt, col, true, *b)
            } else if q >= p {
                Cost::Free
            } else {
                Rewrite(None)
            }
        }
        (Kind::Other(f), Kind::Other(t)) => {
            let text_like = |t: &str| matches!(t, "text" | "varchar" | "citext");
            if (f == "citext" || t == "citext")
                && (text_like(f) || f.starts_with("varchar("))
                && text_like(t)
            {
                return Cost::Free;
            }
            match type_change(Some(f), t) {
                TypeChange::Same | TypeChange::NoRewrite => Cost::Free,
                TypeChange::Rewrite | TypeChange::Unknown => Rewrite(None),
            }
        }
        _ => Rewrite(None),
    }
}

fn unknown_cost(ctx: &Ctx, stmt: &Stmt, col: &Ident, to: &Kind, has_using: bool) -> Cost {
    let t = match to {
        Kind::Timestamp { tz, .. } => return tz_switch(ctx, stmt, col, false, *tz),
        Kind::Other(t) => t.as_str(),
    };
    let (base, args) = match t.find('(') {
        Some(i) => (&t[..i], Some(&t[i + 1..t.len().saturating_sub(1)])),
        None => (t, None),
    };
    match (base, args) {
        ("text" | "varchar" | "citext" | "numeric", None) => Cost::Free,
        // Without USING only a type with an assignment cast converts, and
        // the only one to inet is cidr's, binary-coercible.
        ("inet", None) if !has_using => Cost::Free,
        ("time" | "timetz" | "interval", _) => {
            let limit = match args {
                Some(p) => format!("a precision of at most {p}"),
                None => "any precision".to_string(),
            };
            Cost::Depends {
                cond: format!("if {col} is already a {base} of {limit}"),
                otherwise: "from another type or a higher precision".to_string(),
                alt: Alt::Plan,
            }
        }
        ("varchar", Some(n)) => Cost::Depends {
            cond: format!("if {col} is already a varchar of at most {n} characters"),
            otherwise: "from text, a longer varchar or any other type".into(),
            alt: Alt::LengthCheck(n.to_string()),
        },
        ("numeric", Some(a)) => {
            let mut parts = a.split(',').map(str::trim);
            let p = parts.next().unwrap_or("");
            let s = parts.next().unwrap_or("0");
            Cost::Depends {
                cond: format!(
                    "if {col} is already a numeric of scale {s} and precision at most {p}"
                ),
                otherwise: "from an integer, a float or another scale".into(),
                alt: Alt::Plan,
            }
        }
        _ => Rewrite(Some(format!(
            "no usual type of {col} converts to {t} without one: only binary-coercible changes such as widening a varchar avoid it"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::review::rules::testing::run;
    use crate::review::Severity;

    const ID: &str = "column-type-change-rewrite";

    #[test]
    fn flags_rewriting_targets_as_errors() {
        for sql in [
            "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
            "ALTER TABLE orders ALTER COLUMN amount SET DATA TYPE integer;",
            "ALTER TABLE orders ALTER amount TYPE smallint;",
            "ALTER TABLE orders ALTER COLUMN payload TYPE jsonb USING payload::jsonb;",
            "ALTER TABLE orders ALTER COLUMN ref TYPE uuid USING ref::uuid;",
            "ALTER TABLE orders ALTER COLUMN note TYPE text USING trim(note);",
        ] {
            let f = run(ID, sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert_eq!(f[0].severity, Severity::Error, "{sql}");
            assert!(
                f[0].message
                    .contains("rewrites orders under ACCESS EXCLUSIVE"),
                "{}",
                f[0].message
            );
            assert!(
                f[0].fix.as_deref().unwrap().contains("schemashift plan"),
                "{sql}"
            );
        }
        let f = run(
            ID,
            "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
            15,
        );
        assert!(
            f[0].message
                .starts_with("ALTER TABLE orders ALTER COLUMN amount TYPE bigint rewrites orders"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].fix.as_deref().unwrap().contains("amount_new bigint"),
            "{:?}",
            f[0].fix
        );
        let f = run(
            ID,
            "ALTER TABLE orders ALTER COLUMN note TYPE text USING trim(note);",
            15,
        );
        assert!(
            f[0].message.contains("USING expression"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn silent_on_targets_that_usually_widen() {
        for sql in [
            "ALTER TABLE users ALTER COLUMN name TYPE text;",
            "ALTER TABLE users ALTER COLUMN name TYPE varchar;",
            "ALTER TABLE users ALTER COLUMN name TYPE character varying;",
            "ALTER TABLE users ALTER COLUMN email TYPE citext;",
            "ALTER TABLE users ALTER COLUMN price TYPE numeric;",
            "ALTER TABLE users ALTER COLUMN name TYPE text USING name::text;",
            "ALTER TABLE users ALTER COLUMN name TYPE text USING name;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn varchar_and_numeric_with_limits_get_a_note_when_the_old_type_is_unknown() {
        let f = run(
            ID,
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);",
            15,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("already a varchar of at most 100"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains(
                "ADD CONSTRAINT users_name_max_length CHECK (char_length(name) <= 100) NOT VALID;"
            ),
            "{fix}"
        );
        let f = run(
            ID,
            "ALTER TABLE users ALTER COLUMN price TYPE numeric(12,2);",
            15,
        );
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("scale 2 and precision at most 12"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn an_earlier_statement_gives_the_old_type() {
        let widen = "ALTER TABLE users ADD COLUMN name varchar(50);\n\
                     ALTER TABLE users ALTER COLUMN name TYPE varchar(100);";
        assert!(run(ID, widen, 15).is_empty());
        let shrink = "ALTER TABLE users ADD COLUMN name varchar(200);\n\
                      ALTER TABLE users ALTER COLUMN name TYPE varchar(100);";
        let f = run(ID, shrink, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].line, 2);
        assert!(
            f[0].message.contains("from varchar(200) to varchar(100)"),
            "{}",
            f[0].message
        );
        let to_varchar = "ALTER TABLE users ADD COLUMN bio text;\n\
                          ALTER TABLE users ALTER COLUMN bio TYPE varchar(255);";
        assert_eq!(run(ID, to_varchar, 15)[0].severity, Severity::Error);
        let int_to_text = "ALTER TABLE users ADD COLUMN code int;\n\
                           ALTER TABLE users ALTER COLUMN code TYPE text;";
        assert_eq!(run(ID, int_to_text, 15).len(), 1);
        let same = "ALTER TABLE users ADD COLUMN code int4;\n\
                    ALTER TABLE users ALTER COLUMN code TYPE integer;";
        assert!(run(ID, same, 15).is_empty());
        let numeric = "ALTER TABLE users ALTER COLUMN price TYPE numeric(10,2);\n\
                       ALTER TABLE users ALTER COLUMN price TYPE numeric(14,2);";
        assert_eq!(run(ID, numeric, 15).len(), 1, "only the first is unknown");
    }

    #[test]
    fn binary_coercible_and_more_precise_types_do_not_rewrite() {
        for (from, to) in [
            ("cidr", "inet"),
            ("xml", "text"),
            ("time(3)", "time(6)"),
            ("time(0)", "time"),
            ("timetz(2)", "time(5) with time zone"),
            ("interval(2)", "interval(4)"),
            ("interval(3)", "interval"),
        ] {
            let sql = format!(
                "ALTER TABLE hosts ADD COLUMN c {from};\nALTER TABLE hosts ALTER COLUMN c TYPE {to};"
            );
            assert!(run(ID, &sql, 15).is_empty(), "{sql}");
        }
        for (from, to) in [
            ("inet", "cidr"),
            ("time", "time(3)"),
            ("interval(4)", "interval(2)"),
            ("xml", "varchar(10)"),
        ] {
            let sql = format!(
                "ALTER TABLE hosts ADD COLUMN c {from};\nALTER TABLE hosts ALTER COLUMN c TYPE {to};"
            );
            let f = run(ID, &sql, 15);
            assert_eq!(f.len(), 1, "{sql}");
            assert_eq!(f[0].severity, Severity::Error, "{sql}");
        }
        // Old type unknown: inet without USING can only come from cidr.
        assert!(run(ID, "ALTER TABLE hosts ALTER COLUMN addr TYPE inet;", 15).is_empty());
        let f = run(
            ID,
            "ALTER TABLE hosts ALTER COLUMN addr TYPE inet USING addr::inet;",
            15,
        );
        assert_eq!(f[0].severity, Severity::Error);
        let f = run(ID, "ALTER TABLE t ALTER COLUMN at TYPE time(6);", 15);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message
                .contains("already a time of a precision of at most 6"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn timestamp_to_timestamptz_depends_on_version_and_time_zone() {
        let sql = "ALTER TABLE events ALTER COLUMN at TYPE timestamptz;";
        let f = run(ID, sql, 11);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message.contains("PostgreSQL 11 rewrites"),
            "{}",
            f[0].message
        );
        let f = run(ID, sql, 15);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("TimeZone is UTC"), "{}", f[0].message);
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("SET TimeZone = 'UTC'"));
        let utc = "SET TIME ZONE 'UTC';\nALTER TABLE events ALTER COLUMN at TYPE timestamp with time zone;";
        assert!(run(ID, utc, 15).is_empty());
        let known = "ALTER TABLE events ADD COLUMN at timestamp;\nSET timezone = 'UTC';\n\
                     ALTER TABLE events ALTER COLUMN at TYPE timestamptz;";
        assert!(run(ID, known, 12).is_empty());
        assert_eq!(run(ID, known, 11).len(), 1);
    }

    #[test]
    fn silent_on_tables_created_in_the_same_file() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;";
        assert!(run(ID, sql, 15).is_empty());
    }
}
