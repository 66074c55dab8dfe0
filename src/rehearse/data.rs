//! The starting point of a rehearsal: the schema (the user's DDL, or a
//! minimal table made from the change) and generated rows.

use super::app::{catalog_columns, Column};
use super::traffic::message;
use super::RehearseError;
use crate::change::{Change, Fill};
use crate::context::Engine;
use crate::ident::{quote_pg, Ident, QualifiedName};
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// The schema a rehearsal starts from.
#[derive(Debug, Clone, Default)]
pub struct StartSchema {
    /// Statements to run, in order.
    pub statements: Vec<String>,
    /// Its tables as the app lists name them (last name part, folded).
    pub tables: Vec<String>,
    /// Made from the change because no schema was given.
    pub synthesized: bool,
}

/// The user's DDL, or a minimal table for the change.
pub fn starting_schema(
    ddl: Option<&str>,
    change: Option<&Change>,
) -> Result<StartSchema, RehearseError> {
    match ddl {
        Some(ddl) => from_ddl(ddl),
        None => synthesize(change),
    }
}

fn from_ddl(ddl: &str) -> Result<StartSchema, RehearseError> {
    // psql meta-commands (pg_dump's \restrict) are not SQL.
    let text: String = ddl
        .lines()
        .filter(|l| !l.trim_start().starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed = crate::schema::Schema::parse(&text, Engine::Postgres)
        .map_err(|e| RehearseError::Invalid(format!("schema: {e}")))?;
    if parsed.tables.is_empty() {
        return Err(RehearseError::Invalid(
            "the schema has no CREATE TABLE: give the DDL of the tables the change touches (pg_dump -s -t TABLE)".into(),
        ));
    }
    let statements = crate::change::ddl::split_statements(&text, Engine::Postgres)
        .into_iter()
        .map(|s| s.text)
        .filter(|s| keep_statement(s))
        .collect();
    Ok(StartSchema {
        statements,
        tables: parsed
            .tables
            .iter()
            .map(|t| t.name.name.as_str().to_string())
            .collect(),
        synthesized: false,
    })
}

/// pg_dump's session settings (an empty search_path) would hide the tables
/// from the app's unqualified statements, and owners and grants name roles
/// the rehearsal server does not have.
fn keep_statement(s: &str) -> bool {
    let upper = s.trim_start().to_ascii_uppercase();
    !(upper.starts_with("SET ")
        || upper.starts_with("SELECT PG_CATALOG.SET_CONFIG")
        || upper.starts_with("GRANT ")
        || upper.starts_with("REVOKE ")
        || upper.contains(" OWNER TO ")
        || upper.starts_with("COMMENT ON EXTENSION"))
}

/// Every schema a change names (`other` of `other.t_v_idx`) must exist in
/// the scratch database once the starting schema is loaded: the rehearsal
/// has the starting schema only, not the server's, and a change on an
/// object that is not there would prove nothing.
pub async fn check_named_schemas(db: &Client, change: &Change) -> Result<(), RehearseError> {
    let mut names = change_tables(change);
    match change {
        Change::DropIndex { name, .. } => names.push(name.clone()),
        Change::EnumChange { type_name, .. } => names.push(type_name.clone()),
        _ => {}
    }
    for raw in names {
        let Ok(q) = QualifiedName::parse("name", &raw) else {
            continue;
        };
        let Some(schema) = q.schema else {
            continue;
        };
        let found = db
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&schema.as_str()],
            )
            .await
            .map_err(|e| RehearseError::Database(message(&e)))?;
        if found.is_none() {
            return Err(RehearseError::Invalid(format!(
                "the change names {raw}, but the starting schema has no schema {s}: the rehearsal runs in a scratch database with the starting schema only, so give the DDL of {s} and its objects (CREATE SCHEMA {s}; ...) in the schema file, e.g. from pg_dump -s -n {s}",
                s = schema.as_str()
            )));
        }
    }
    Ok(())
}

/// Why a statement the rehearsal role may not run failed.
fn privilege_hint(e: &tokio_postgres::Error) -> &'static str {
    let Some(db) = e.as_db_error() else {
        return "";
    };
    if db.code() != &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
        return "";
    }
    if db.message().contains("extension") {
        " (the rehearsal runs as a role of its own without superuser, so it can create only trusted extensions such as pgcrypto, citext or hstore; leave an untrusted one out of the schema unless the tables need it)"
    } else {
        " (the rehearsal runs as a role of its own without superuser, owning only its scratch database: statements that need superuser or other roles' objects cannot run there)"
    }
}

/// The tables a change names.
pub fn change_tables(change: &Change) -> Vec<String> {
    match change {
        Change::MoveColumn {
            from_table,
            to_table,
            ..
        } => vec![from_table.clone(), to_table.clone()],
        Change::SplitTable {
            table, new_table, ..
        } => vec![table.clone(), new_table.clone()],
        Change::MergeTables { table, other, .. } => vec![table.clone(), other.clone()],
        Change::AddForeignKey {
            table,
            references_table,
            ..
        } => vec![table.clone(), references_table.clone()],
        Change::EnumChange { .. } => Vec::new(),
        Change::DropIndex { table, .. } => table.iter().cloned().collect(),
        Change::AddColumn { table, .. }
        | Change::AddNotNullColumn { table, .. }
        | Change::DropColumn { table, .. }
        | Change::RenameColumn { table, .. }
        | Change::ChangeColumnType { table, .. }
        | Change::SetNotNull { table, .. }
        | Change::DropNotNull { table, .. }
        | Change::SetDefault { table, .. }
        | Change::AddIndex { table, .. }
        | Change::AddUniqueConstraint { table, .. }
        | Change::AddPrimaryKey { table, .. }
        | Change::AddCheckConstraint { table, .. }
        | Change::SplitColumn { table, .. }
        | Change::MergeColumns { table, .. }
        | Change::RenameTable { table, .. }
        | Change::DropTable { table }
        | Change::CreateTable { table, .. }
        | Change::BackfillOnly { table, .. } => vec![table.clone()],
    }
}

/// A table with an identity key and the columns the change names (as
/// text unless the change says their type): enough to rehearse the changes
/// that touch one table. The others need the real schema.
fn synthesize(change: Option<&Change>) -> Result<StartSchema, RehearseError> {
    let need_schema = |why: &str| {
        RehearseError::Invalid(format!(
            "{why}: give the starting schema (schema / --schema FILE with the CREATE TABLE DDL, e.g. from pg_dump -s -t TABLE)"
        ))
    };
    let Some(change) = change else {
        return Err(need_schema(
            "SQL rehearsed as written needs the tables it runs on",
        ));
    };
    let text = |c: &str| (c.to_string(), "text".to_string());
    let (table, columns): (&String, Vec<(String, String)>) = match change {
        Change::RenameColumn { table, column, .. }
        | Change::DropColumn { table, column }
        | Change::SetNotNull { table, column }
        | Change::DropNotNull { table, column }
        | Change::SetDefault { table, column, .. }
        | Change::SplitColumn { table, column, .. } => (table, vec![text(column)]),
        Change::BackfillOnly {
            table,
            column,
            fill: Fill::Expression { .. },
            ..
        } => (table, vec![text(column)]),
        Change::ChangeColumnType {
            table,
            column,
            from_type: Some(from),
            ..
        } => (table, vec![(column.clone(), from.clone())]),
        Change::ChangeColumnType { .. } => {
            return Err(need_schema(
                "the column's current type is not known (from_type)",
            ))
        }
        Change::AddColumn { table, .. }
        | Change::AddNotNullColumn {
            table,
            fill: None | Some(Fill::Expression { .. }),
            ..
        } => (table, vec![text("name")]),
        Change::MergeColumns { table, columns, .. }
        | Change::AddIndex { table, columns, .. }
        | Change::AddUniqueConstraint { table, columns, .. } => {
            (table, columns.iter().map(|c| text(c)).collect())
        }
        Change::RenameTable { table, .. } | Change::DropTable { table } => {
            (table, vec![text("name")])
        }
        Change::CreateTable { .. } => {
            return Ok(StartSchema {
                synthesized: true,
                ..StartSchema::default()
            })
        }
        other => {
            return Err(need_schema(&format!(
                "{} involves more than the columns it names",
                other.change_type().as_str()
            )))
        }
    };
    let name =
        QualifiedName::parse("table", table).map_err(|e| RehearseError::Invalid(e.to_string()))?;
    let mut cols = vec!["id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY".to_string()];
    for (c, t) in &columns {
        let ident = Ident::parse("column", c).map_err(|e| RehearseError::Invalid(e.to_string()))?;
        if ident.as_str() != "id" {
            crate::sqltext::parse_type("column type", t, Engine::Postgres)
                .map_err(RehearseError::Invalid)?;
            cols.push(format!("{} {t}", ident.pg()));
        }
    }
    Ok(StartSchema {
        statements: vec![format!("CREATE TABLE {} ({})", name.pg(), cols.join(", "))],
        tables: vec![name.name.as_str().to_string()],
        synthesized: true,
    })
}

/// Runs the schema, fills every table with `rows` generated rows (parents
/// before the tables that reference them) and returns each table's columns.
/// The `unfilled` (table, column) pairs, when nullable, are NULL on every
/// other row.
pub async fn load(
    db: &Client,
    schema: &StartSchema,
    rows: u64,
    unfilled: &[(String, String)],
) -> Result<BTreeMap<String, Vec<String>>, RehearseError> {
    for (i, stmt) in schema.statements.iter().enumerate() {
        db.batch_execute(stmt).await.map_err(|e| {
            RehearseError::Database(format!(
                "loading the schema, statement {} ({}): {}{}",
                i + 1,
                first_line(stmt),
                message(&e),
                privilege_hint(&e)
            ))
        })?;
    }
    let order = parents_first(db, &schema.tables).await?;
    let mut start = BTreeMap::new();
    for table in order {
        let cols = catalog_columns(db, &table)
            .await
            .map_err(|e| RehearseError::Database(message(&e)))?;
        let mut names = Vec::new();
        let mut exprs = Vec::new();
        for c in &cols {
            if c.defaulted {
                continue;
            }
            match generated_sql(c) {
                Some(e) => {
                    names.push(quote_pg(&c.name));
                    let sparse = !c.not_null
                        && unfilled.iter().any(|(t, col)| *t == table && *col == c.name);
                    exprs.push(if sparse {
                        format!("CASE WHEN g % 2 = 0 THEN NULL ELSE {e} END")
                    } else {
                        e
                    });
                }
                None if !c.not_null => {}
                None => {
                    return Err(RehearseError::Invalid(format!(
                        "cannot generate rows for {table}: no value can be made up for {} of type {} (NOT NULL, no default); give it a default in the schema, or rehearse with --database-url against a database holding real rows",
                        c.name, c.data_type
                    )))
                }
            }
        }
        // A table of defaults only: a zero-column SELECT fills every column
        // with its default.
        let insert = if names.is_empty() {
            format!(
                "INSERT INTO {} SELECT FROM generate_series(1, {rows}) g",
                quote_pg(&table)
            )
        } else {
            format!(
                "INSERT INTO {} ({}) SELECT {} FROM generate_series(1, {rows}) g",
                quote_pg(&table),
                names.join(", "),
                exprs.join(", ")
            )
        };
        db.batch_execute(&insert).await.map_err(|e| {
            RehearseError::Invalid(format!(
                "cannot generate rows for {table}: {} (a CHECK or unique constraint the generated values do not meet?); rehearse with --database-url against a database holding real rows",
                message(&e)
            ))
        })?;
        db.batch_execute(&format!("ANALYZE {}", quote_pg(&table)))
            .await
            .map_err(|e| RehearseError::Database(message(&e)))?;
        start.insert(table, cols.into_iter().map(|c| c.name).collect());
    }
    Ok(start)
}

/// Tables ordered so a referenced table is filled before its referrers.
async fn parents_first(db: &Client, tables: &[String]) -> Result<Vec<String>, RehearseError> {
    let rows = db
        .query(
            "SELECT c.relname::text, p.relname::text FROM pg_constraint k
               JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
              WHERE k.contype = 'f' AND k.conrelid <> k.confrelid",
            &[],
        )
        .await
        .map_err(|e| RehearseError::Database(message(&e)))?;
    let edges: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut out: Vec<String> = Vec::new();
    let mut left: Vec<String> = tables.to_vec();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            edges
                .iter()
                .all(|(child, parent)| child != t || !left.contains(parent) || parent == t)
        });
        // A cycle of references: fill in file order.
        let i = ready.unwrap_or(0);
        out.push(left.remove(i));
    }
    Ok(out)
}

/// A SQL expression of `g` (the row number) giving a value of the column's
/// type; the same forms as the app's values, so keys and references match.
fn generated_sql(c: &Column) -> Option<String> {
    let t = c.data_type.to_lowercase();
    let e = if let Some(label) = c.enum_labels.first() {
        crate::ident::literal_pg(label)
    } else if t.ends_with("[]") {
        "'{}'".into()
    } else if t == "smallint" {
        "g % 30000".into()
    } else if matches!(
        t.as_str(),
        "integer" | "bigint" | "real" | "double precision"
    ) {
        "g".into()
    } else if t.starts_with("numeric") {
        let v = super::app::value_text(c, 999_999_999)?;
        format!("g % {}", 10u64.pow(v.len() as u32))
    } else if t.starts_with("text")
        || t.starts_with("character")
        || t.starts_with("varchar")
        || t == "citext"
    {
        match t
            .find('(')
            .and_then(|o| t[o + 1..t.find(')')?].parse::<usize>().ok())
        {
            Some(len) => format!("right('w' || g, {len})"),
            None => "'w' || g".into(),
        }
    } else if t == "boolean" {
        "g % 2 = 0".into()
    } else if t.starts_with("timestamp") {
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'".into()
    } else if t == "date" {
        "date '2024-01-01' + (g % 3650)::int".into()
    } else if t.starts_with("time") {
        "time '12:00:00'".into()
    } else if t == "interval" {
        "g * interval '1 second'".into()
    } else if t == "uuid" {
        "md5(g::text)::uuid".into()
    } else if t == "json" || t == "jsonb" {
        "json_build_object('n', g)".into()
    } else if t == "bytea" {
        "'\\x00'".into()
    } else if t == "inet" || t == "cidr" {
        "'10.0.0.1'".into()
    } else {
        return None;
    };
    Some(format!("({e})::{}", c.data_type))
}

/// A statement in one line for reports: its first line, or for a DO block
/// that retries on lock timeouts, the statement it retries.
pub fn first_line(sql: &str) -> String {
    let mut lines = sql
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"));
    let first = lines.clone().next().unwrap_or("");
    let guarded = first
        .to_ascii_uppercase()
        .starts_with("DO ")
        .then(|| {
            lines
                .by_ref()
                .find(|l| l.to_ascii_lowercase().contains("lock_timeout"))?;
            lines
                .next()
                .map(|l| format!("DO (retried on lock timeout): {l}"))
        })
        .flatten();
    let line = guarded.as_deref().unwrap_or(first);
    if line.chars().count() > 120 {
        format!("{}...", line.chars().take(117).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_on_one_table_gets_a_minimal_table() {
        let change = Change::RenameColumn {
            table: "users".into(),
            column: "username".into(),
            new_name: "handle".into(),
        };
        let s = starting_schema(None, Some(&change)).unwrap();
        assert_eq!(
            s.statements,
            vec!["CREATE TABLE users (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, username text)"]
        );
        assert!(s.synthesized);
        let change = Change::MoveColumn {
            column: "bio".into(),
            from_table: "users".into(),
            to_table: "profiles".into(),
            data_type: None,
            key: None,
        };
        let err = starting_schema(None, Some(&change))
            .unwrap_err()
            .to_string();
        assert!(err.contains("give the starting schema"), "{err}");
    }

    #[test]
    fn guarded_statements_are_named_by_what_they_retry() {
        let sql = "DO $migrate$\nBEGIN\n  FOR attempt IN 1..10 LOOP\n    BEGIN\n      SET LOCAL lock_timeout = '2000ms';\n      ALTER TABLE users DROP COLUMN username;\n      RETURN;\n";
        assert_eq!(
            first_line(sql),
            "DO (retried on lock timeout): ALTER TABLE users DROP COLUMN username;"
        );
        assert_eq!(first_line("\n-- why\nCALL backfill();"), "CALL backfill();");
    }

    #[test]
    fn pg_dump_noise_is_left_out() {
        let ddl = "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\\restrict abc\nCREATE TABLE public.users (id bigint PRIMARY KEY, name text);\nALTER TABLE public.users OWNER TO app;\n";
        let s = starting_schema(Some(ddl), None).unwrap();
        assert_eq!(s.statements.len(), 1, "{:?}", s.statements);
        assert_eq!(s.tables, vec!["users"]);
    }
}
