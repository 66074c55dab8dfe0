//! PostgreSQL 10-19: the lock, rewrite and scan facts of each naive DDL form.

use super::{Duration, Lock, LockFacts, Naive};
use crate::change::{Change, EnumOp, Fill};
use crate::context::Engine;
use crate::sqltext::is_volatile_default;

/// Whether changing a column from one type to another rewrites the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    /// Same type after normalisation: nothing to do.
    Same,
    /// Binary-coercible: catalog change only (varchar widening, varchar -> text...).
    NoRewrite,
    /// Every row is rewritten and every index rebuilt under ACCESS EXCLUSIVE.
    Rewrite,
    /// The current type is not known, so neither is the cost.
    Unknown,
}

/// A type written the way PostgreSQL would print it, so aliases compare equal:
/// `INT4` and `integer`, `character varying(10)` and `varchar(10)`.
pub fn normalise_type(t: &str) -> String {
    let lower = t.trim().to_ascii_lowercase();
    let lower = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = lower.replace(" (", "(").replace(", ", ",");
    // `time(3) with time zone` is `timetz(3)`: the precision sits before the zone.
    for (suffix, tz) in [(" with time zone", "tz"), (" without time zone", "")] {
        if let Some(head) = lower.strip_suffix(suffix) {
            let (base, args) = head.split_at(head.find('(').unwrap_or(head.len()));
            if matches!(base, "time" | "timestamp") {
                return format!("{base}{tz}{args}");
            }
        }
    }
    let (base, args) = match lower.find('(') {
        Some(i) if lower.ends_with(')') => {
            (lower[..i].trim().to_string(), Some(lower[i..].to_string()))
        }
        _ => (lower.clone(), None),
    };
    let base = match base.as_str() {
        "int" | "int4" | "integer" => "integer",
        "int8" | "bigint" => "bigint",
        "int2" | "smallint" => "smallint",
        "serial" | "serial4" => "integer",
        "bigserial" | "serial8" => "bigint",
        "character varying" | "varchar" => "varchar",
        "character" | "char" | "bpchar" => "char",
        "decimal" | "numeric" => "numeric",
        "float8" | "double precision" | "double" => "double precision",
        "float4" | "real" => "real",
        "bool" | "boolean" => "boolean",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timetz" | "time with time zone" => "timetz",
        "time" | "time without time zone" => "time",
        "varbit" | "bit varying" => "varbit",
        other => other,
    }
    .to_string();
    match args {
        Some(a) => format!("{base}{a}"),
        None => base,
    }
}

fn type_args(t: &str) -> (String, Vec<u32>) {
    match t.find('(') {
        Some(i) => {
            let args = t[i + 1..t.len() - 1]
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (t[..i].to_string(), args)
        }
        None => (t.to_string(), Vec::new()),
    }
}

/// The cost of `ALTER COLUMN ... TYPE to` from `from`, per PostgreSQL's
/// binary-coercion rules (no USING clause).
pub fn type_change(from: Option<&str>, to: &str) -> TypeChange {
    let Some(from) = from else {
        return TypeChange::Unknown;
    };
    let (from, to) = (normalise_type(from), normalise_type(to));
    if from == to {
        return TypeChange::Same;
    }
    let (fb, fa) = type_args(&from);
    let (tb, ta) = type_args(&to);
    let coercible = match (fb.as_str(), tb.as_str()) {
        // Raising or removing a length limit only changes the typmod.
        ("varchar", "varchar") | ("varbit", "varbit") => {
            ta.is_empty() || (!fa.is_empty() && ta[0] >= fa[0])
        }
        ("varchar", "text") | ("text", "varchar") => ta.is_empty(),
        // Binary-coercible casts (pg_cast method `b`), checked on PostgreSQL 15.
        ("cidr", "inet") => true,
        ("xml", "text") | ("xml", "varchar") => ta.is_empty(),
        // More fractional-second precision keeps every value: the cast's
        // support function makes it a no-op (6 is the most there is, and
        // what no precision means).
        ("time", "time") | ("timetz", "timetz") | ("interval", "interval") => {
            ta.is_empty() || ta[0] >= 6 || fa.first().is_some_and(|&f| ta[0] >= f)
        }
        // Same scale, more precision (or no limit) keeps every stored value.
        ("numeric", "numeric") => {
            ta.is_empty()
                || (fa.len() == 2 && ta.len() == 2 && ta[1] == fa[1] && ta[0] >= fa[0])
                || (fa.len() == 1 && ta.len() == 1 && ta[0] >= fa[0])
        }
        _ => false,
    };
    if coercible {
        TypeChange::NoRewrite
    } else {
        TypeChange::Rewrite
    }
}

/// The facts of the DDL a developer would naively write for this change.
pub fn naive_facts(change: &Change, version: u32) -> Vec<LockFacts> {
    let ae = Lock::AccessExclusive;
    let n = Naive {
        engine: Engine::Postgres,
    };
    // Every name quoted here; types and expressions are checked SQL.
    let q = |raw: &str| n.name(raw);
    match change {
        Change::AddColumn { table, column, data_type, default } => {
            let (table, column) = (q(table), q(column));
            let stmt = match default {
                Some(d) => format!("ALTER TABLE {table} ADD COLUMN {column} {data_type} DEFAULT {d}"),
                None => format!("ALTER TABLE {table} ADD COLUMN {column} {data_type}"),
            };
            vec![add_column_facts(stmt, default.as_deref(), version)]
        }
        Change::AddNotNullColumn { table, column, data_type, default, fill } => {
            let (table, column) = (q(table), q(column));
            let mut facts = Vec::new();
            match (default, fill) {
                (Some(d), None) => facts.push(add_column_facts(
                    format!("ALTER TABLE {table} ADD COLUMN {column} {data_type} NOT NULL DEFAULT {d}"),
                    Some(d),
                    version,
                )),
                _ => {
                    facts.push(
                        LockFacts::new(format!("ALTER TABLE {table} ADD COLUMN {column} {data_type}"), ae, Duration::Brief),
                    );
                    let source = match fill {
                        Some(Fill::Lookup { table: t, column: c, .. }) => format!(" FROM {} (copying {})", q(t), q(c)),
                        _ => String::new(),
                    };
                    facts.push(
                        LockFacts::new(format!("UPDATE {table} SET {column} = ...{source} (one statement)"), Lock::RowExclusive, Duration::Statement)
                            .note("every updated row stays locked until the single UPDATE commits: app writes to those rows wait for the whole statement")
                            .note("one huge transaction: table bloat doubles the table, replication lag, and a failure rolls back all the work"),
                    );
                    facts.push(set_not_null_facts(&table, &column, version));
                }
            }
            facts
        }
        Change::DropColumn { table, column } => vec![LockFacts::new(
            format!("ALTER TABLE {} DROP COLUMN {}", q(table), q(column)),
            ae,
            Duration::Brief,
        )
        .note("catalog only: the space is reclaimed by later updates and VACUUM FULL")
        .note("every app version still selecting or inserting the column fails immediately")],
        Change::RenameColumn { table, column, new_name } => vec![LockFacts::new(
            format!("ALTER TABLE {} RENAME COLUMN {} TO {}", q(table), q(column), q(new_name)),
            ae,
            Duration::Brief,
        )
        .note("instant, but every running app version that names the old column fails from that moment")],
        Change::ChangeColumnType { table, column, from_type, to_type, using } => {
            let stmt = format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {to_type}{}",
                q(table),
                q(column),
                using.as_ref().map(|u| format!(" USING {u}")).unwrap_or_default()
            );
            let kind = if using.is_some() { TypeChange::Rewrite } else { type_change(from_type.as_deref(), to_type) };
            let f = match kind {
                TypeChange::Same => LockFacts::new(stmt, ae, Duration::Brief).note("the column already has this type"),
                TypeChange::NoRewrite => LockFacts::new(stmt, ae, Duration::Brief)
                    .note("binary-coercible: only the catalog changes; indexes on the column are kept"),
                TypeChange::Rewrite => LockFacts::new(stmt, ae, Duration::Rewrite)
                    .note("rewrites every row and rebuilds every index while reads and writes wait (about 1 s per million rows measured on a 2-core machine)"),
                TypeChange::Unknown => LockFacts::new(stmt, ae, Duration::Rewrite).note(
                    "the current type is unknown: assumed to rewrite; varchar widening, varchar -> text and numeric precision increases would not",
                ),
            };
            vec![f.note("prepared statements that return this column fail with \"cached plan must not change result type\" until re-prepared")]
        }
        Change::SetNotNull { table, column } => vec![set_not_null_facts(&q(table), &q(column), version)],
        Change::DropNotNull { table, column } => vec![LockFacts::new(
            format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL", q(table), q(column)),
            ae,
            Duration::Brief,
        )
        .note("instant; readers that assume a value must cope with NULL before anything writes one")],
        Change::SetDefault { table, column, default } => vec![LockFacts::new(
            match default {
                Some(d) => format!("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {d}", q(table), q(column)),
                None => format!("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", q(table), q(column)),
            },
            ae,
            Duration::Brief,
        )
        .note("catalog only: existing rows keep their values; only later inserts see the new default")],
        Change::AddIndex { table, columns, unique, .. } => vec![LockFacts::new(
            format!(
                "CREATE {}INDEX ON {} ({})",
                if *unique { "UNIQUE " } else { "" },
                q(table),
                n.key_parts(columns)
            ),
            Lock::Share,
            Duration::IndexBuild,
        )
        .note("reads continue; INSERT, UPDATE and DELETE wait for the whole build")],
        Change::DropIndex { name, .. } => vec![LockFacts::new(format!("DROP INDEX {}", q(name)), ae, Duration::Brief)
            .note("takes ACCESS EXCLUSIVE on the index's table; queued behind any open transaction that touched it")],
        Change::AddUniqueConstraint { table, columns, .. } => vec![LockFacts::new(
            format!("ALTER TABLE {} ADD UNIQUE ({})", q(table), n.names(columns)),
            ae,
            Duration::IndexBuild,
        )
        .note("builds the unique index while holding ACCESS EXCLUSIVE: reads and writes wait for the build")],
        Change::AddPrimaryKey { table, columns, .. } => vec![LockFacts::new(
            format!("ALTER TABLE {} ADD PRIMARY KEY ({})", q(table), n.names(columns)),
            ae,
            Duration::IndexBuild,
        )
        .note("builds the index under ACCESS EXCLUSIVE, and sets NOT NULL on the key columns (a full scan each when nullable)")],
        Change::AddForeignKey { table, columns, references_table, .. } => {
            let rt = q(references_table);
            vec![LockFacts::new(
                format!("ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {rt}", q(table), n.names(columns)),
                Lock::ShareRowExclusive,
                Duration::Scan,
            )
            .also(format!("{rt}: SHARE ROW EXCLUSIVE (writes blocked)"))
            .note("scans the whole table to check every row while writes to both tables wait")]
        }
        Change::AddCheckConstraint { table, expression, .. } => vec![LockFacts::new(
            format!("ALTER TABLE {} ADD CHECK ({expression})", q(table)),
            ae,
            Duration::Scan,
        )
        .note("scans every row under ACCESS EXCLUSIVE")],
        Change::SplitColumn { table, column, .. } | Change::MergeColumns { table, into: column, .. } => {
            destructive_reshape(&q(table), &q(column))
        }
        Change::MoveColumn { column, from_table, to_table, .. } => {
            let mut f = destructive_reshape(&q(from_table), &q(column));
            f.insert(0, LockFacts::new(format!("ALTER TABLE {} ADD COLUMN {} ...", q(to_table), q(column)), ae, Duration::Brief));
            f
        }
        Change::SplitTable { table, new_table, .. } => {
            let (table, new_table) = (q(table), q(new_table));
            vec![
                LockFacts::new(format!("CREATE TABLE {new_table} ...; INSERT INTO {new_table} SELECT ... FROM {table}"), Lock::AccessShare, Duration::Statement)
                    .note("a single INSERT ... SELECT copies every row in one transaction; rows written meanwhile are missed"),
                LockFacts::new(format!("ALTER TABLE {table} DROP COLUMN ..."), ae, Duration::Brief)
                    .note("old app versions reading the moved columns fail at once"),
            ]
        }
        Change::MergeTables { table, other, .. } => {
            let (table, other) = (q(table), q(other));
            vec![
                LockFacts::new(format!("UPDATE {table} SET ... FROM {other} (one statement)"), Lock::RowExclusive, Duration::Statement)
                    .note("every updated row stays locked until the single UPDATE commits"),
                LockFacts::new(format!("DROP TABLE {other}"), ae, Duration::Brief).note("irreversible: the data is gone unless backed up"),
            ]
        }
        Change::RenameTable { table, new_name } => vec![LockFacts::new(
            format!("ALTER TABLE {} RENAME TO {}", q(table), q(new_name)),
            ae,
            Duration::Brief,
        )
        .note("instant, but every running app version that names the old table fails from that moment")],
        Change::DropTable { table } => vec![LockFacts::new(format!("DROP TABLE {}", q(table)), ae, Duration::Brief)
            .note("irreversible without a backup; foreign keys from other tables must be dropped first (CASCADE drops them silently)")],
        Change::CreateTable { table, .. } => vec![LockFacts::new(format!("CREATE TABLE {} (...)", q(table)), Lock::None, Duration::Brief)
            .note("a new table: nothing the app uses is locked (foreign keys to existing tables take SHARE ROW EXCLUSIVE on them briefly)")],
        Change::EnumChange { type_name, operation } => vec![enum_facts(&n, type_name, operation, version)],
        Change::BackfillOnly { table, column, .. } => vec![LockFacts::new(
            format!("UPDATE {} SET {} = ... (one statement)", q(table), q(column)),
            Lock::RowExclusive,
            Duration::Statement,
        )
        .note("every updated row stays locked until the single UPDATE commits: app writes to those rows wait (3 s per million rows measured on a 2-core machine)")
        .note("one huge transaction: dead tuples double the table, replicas lag, and a failure rolls back all the work")],
    }
}

fn add_column_facts(stmt: String, default: Option<&str>, version: u32) -> LockFacts {
    match default {
        Some(d) if is_volatile_default(d) => LockFacts::new(stmt, Lock::AccessExclusive, Duration::Rewrite)
            .note("a volatile default is evaluated per row: the table is rewritten under ACCESS EXCLUSIVE"),
        Some(_) if version < 11 => LockFacts::new(stmt, Lock::AccessExclusive, Duration::Rewrite)
            .note("before PostgreSQL 11 any default rewrites the table"),
        Some(_) => LockFacts::new(stmt, Lock::AccessExclusive, Duration::Brief)
            .note("PostgreSQL 11+: a non-volatile default is stored once in the catalog; no rewrite"),
        None => LockFacts::new(stmt, Lock::AccessExclusive, Duration::Brief).note("catalog only"),
    }
    .note("the brief ACCESS EXCLUSIVE still queues every query behind any open transaction on the table: use lock_timeout and retry")
}

fn set_not_null_facts(table: &str, column: &str, version: u32) -> LockFacts {
    let f = LockFacts::new(
        format!("ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL"),
        Lock::AccessExclusive,
        Duration::Scan,
    )
    .note("scans every row under ACCESS EXCLUSIVE to prove there is no NULL");
    if version >= 18 {
        f.note("PostgreSQL 18: ADD CONSTRAINT ... NOT NULL ... NOT VALID, then VALIDATE CONSTRAINT under SHARE UPDATE EXCLUSIVE, avoids the locked scan")
    } else if version >= 12 {
        f.note("PostgreSQL 12+: the scan is skipped when a validated CHECK (column IS NOT NULL) exists")
    } else {
        f.note("before PostgreSQL 12 the scan cannot be avoided")
    }
}

fn enum_facts(n: &Naive, type_name: &str, op: &EnumOp, version: u32) -> LockFacts {
    let ty = n.name(type_name);
    match op {
        EnumOp::AddValue { value, .. } => {
            let f = LockFacts::new(
                format!("ALTER TYPE {ty} ADD VALUE {}", n.literal(value)),
                Lock::None,
                Duration::Brief,
            )
            .note("no table lock: only the type's catalog rows change");
            if version < 12 {
                f.note("before PostgreSQL 12 ADD VALUE cannot run inside a transaction block: migration tools that wrap each file in BEGIN fail")
            } else {
                f.note("PostgreSQL 12+: allowed in a transaction, but the new value cannot be used until that transaction commits")
            }
        }
        EnumOp::RenameValue { from, to } => LockFacts::new(
            format!(
                "ALTER TYPE {ty} RENAME VALUE {} TO {}",
                n.literal(from),
                n.literal(to)
            ),
            Lock::None,
            Duration::Brief,
        )
        .note("instant, but app versions writing or comparing the old label break at once"),
        EnumOp::RemoveValue { value, .. } => LockFacts::new(
            format!(
                "(no DDL removes {} from {ty}: a new type and ALTER COLUMN ... TYPE are needed)",
                n.literal(value)
            ),
            Lock::AccessExclusive,
            Duration::Rewrite,
        )
        .note("changing a column to another enum type rewrites the table under ACCESS EXCLUSIVE"),
    }
}

fn destructive_reshape(table: &str, column: &str) -> Vec<LockFacts> {
    vec![
        LockFacts::new(
            format!("ALTER TABLE {table} ADD COLUMN ..."),
            Lock::AccessExclusive,
            Duration::Brief,
        ),
        LockFacts::new(
            format!("UPDATE {table} SET ... (one statement)"),
            Lock::RowExclusive,
            Duration::Statement,
        )
        .note("every updated row stays locked until the single UPDATE commits"),
        LockFacts::new(
            format!("ALTER TABLE {table} DROP COLUMN {column}"),
            Lock::AccessExclusive,
            Duration::Brief,
        )
        .note(
            "old app versions that read or write the dropped column fail at once; the data is gone",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_coercible_changes_do_not_rewrite() {
        assert_eq!(
            type_change(Some("varchar(100)"), "varchar(255)"),
            TypeChange::NoRewrite
        );
        assert_eq!(
            type_change(Some("character varying(100)"), "text"),
            TypeChange::NoRewrite
        );
        assert_eq!(
            type_change(Some("VARCHAR(100)"), "varchar"),
            TypeChange::NoRewrite
        );
        assert_eq!(
            type_change(Some("numeric(10,2)"), "numeric(12, 2)"),
            TypeChange::NoRewrite
        );
        assert_eq!(type_change(Some("int4"), "integer"), TypeChange::Same);
        // Each as PostgreSQL 15 behaves (relfilenode kept or not; the
        // review's lock-fact test checks them on a real server).
        for (from, to, cost) in [
            ("cidr", "inet", TypeChange::NoRewrite),
            ("inet", "cidr", TypeChange::Rewrite),
            ("xml", "text", TypeChange::NoRewrite),
            ("xml", "varchar", TypeChange::NoRewrite),
            ("xml", "varchar(10)", TypeChange::Rewrite),
            ("time(3)", "time(6)", TypeChange::NoRewrite),
            ("time(3)", "time", TypeChange::NoRewrite),
            ("time", "time(3)", TypeChange::Rewrite),
            ("time", "time(6)", TypeChange::NoRewrite),
            ("timetz(2)", "time(5) with time zone", TypeChange::NoRewrite),
            ("time with time zone", "timetz(2)", TypeChange::Rewrite),
            ("time(3) without time zone", "time(3)", TypeChange::Same),
            ("interval(2)", "interval(4)", TypeChange::NoRewrite),
            ("interval(4)", "interval(2)", TypeChange::Rewrite),
            ("interval", "interval(5)", TypeChange::Rewrite),
            ("time(3)", "timetz(3)", TypeChange::Rewrite),
            (
                "timestamp(3) with time zone",
                "timestamptz(3)",
                TypeChange::Same,
            ),
        ] {
            assert_eq!(type_change(Some(from), to), cost, "{from} -> {to}");
        }
    }

    #[test]
    fn other_changes_rewrite() {
        assert_eq!(type_change(Some("integer"), "bigint"), TypeChange::Rewrite);
        assert_eq!(
            type_change(Some("text"), "varchar(255)"),
            TypeChange::Rewrite
        );
        assert_eq!(
            type_change(Some("varchar(255)"), "varchar(100)"),
            TypeChange::Rewrite
        );
        assert_eq!(
            type_change(Some("numeric(10,2)"), "numeric(12,3)"),
            TypeChange::Rewrite
        );
        assert_eq!(type_change(None, "bigint"), TypeChange::Unknown);
    }
}
