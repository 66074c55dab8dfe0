//! The app model: for each app version a plan names, the statements it
//! issues (reads by key, single-row updates, inserts) in the form that
//! version uses them, built from the plan's `app` lists and the catalog.
//!
//! A version knows the columns that exist when it is deployed, minus the
//! columns the change is about, plus the ones its own lists name: the old
//! app keeps `username`, the new one uses `handle`, and neither sees the
//! other's columns. Values are generated per type in their text form, so the
//! same value serves a literal, a prepared parameter and the read-back check.

use crate::change::{Change, Fill};
use crate::ident::{literal_pg, quote_pg, split_dotted, QualifiedName};
use crate::plan::Plan;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// A name from an app list: `table`, `table.column` or `schema.table.column`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub table: String,
    pub column: Option<String>,
}

impl Entry {
    pub fn parse(raw: &str) -> Entry {
        let parts: Vec<String> = split_dotted(raw.trim())
            .into_iter()
            .map(|p| unquote(&p))
            .collect();
        match parts.as_slice() {
            [t] => Entry {
                table: t.clone(),
                column: None,
            },
            [t, c] => Entry {
                table: t.clone(),
                column: Some(c.clone()),
            },
            [.., t, c] => Entry {
                table: t.clone(),
                column: Some(c.clone()),
            },
            [] => Entry {
                table: String::new(),
                column: None,
            },
        }
    }
}

/// A name as PostgreSQL stores it: folded unless quoted.
fn unquote(part: &str) -> String {
    if part.len() >= 2 && part.starts_with('"') && part.ends_with('"') {
        part[1..part.len() - 1].replace("\"\"", "\"")
    } else {
        part.to_lowercase()
    }
}

/// One app version and everything its lists name, over all phases.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    pub name: String,
    pub reads: BTreeSet<Entry>,
    pub writes: BTreeSet<Entry>,
    /// Values the version no longer writes, per column (a retired label).
    pub never_writes: BTreeMap<Entry, BTreeSet<String>>,
}

impl VersionSpec {
    fn columns_on(&self, table: &str, set: &BTreeSet<Entry>) -> Vec<String> {
        set.iter()
            .filter(|e| e.table == table)
            .filter_map(|e| e.column.clone())
            .collect()
    }

    /// The tables this version works on (its own entries).
    fn own_tables(&self) -> BTreeSet<String> {
        self.reads
            .iter()
            .chain(&self.writes)
            .filter(|e| !e.table.is_empty())
            .map(|e| e.table.clone())
            .collect()
    }
}

/// Every version of a plan in the order they first appear.
pub fn versions(plan: &Plan) -> Vec<VersionSpec> {
    let mut out: Vec<VersionSpec> = Vec::new();
    for phase in &plan.phases {
        for app in &phase.app {
            let i = match out.iter().position(|v| v.name == app.version) {
                Some(i) => i,
                None => {
                    out.push(VersionSpec {
                        name: app.version.clone(),
                        reads: BTreeSet::new(),
                        writes: BTreeSet::new(),
                        never_writes: BTreeMap::new(),
                    });
                    out.len() - 1
                }
            };
            out[i]
                .reads
                .extend(app.reads.iter().map(|r| Entry::parse(r)));
            out[i]
                .writes
                .extend(app.writes.iter().map(|r| Entry::parse(r)));
            for (column, values) in &app.never_writes {
                out[i]
                    .never_writes
                    .entry(Entry::parse(column))
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
    }
    out
}

/// The columns the change is about, per table: no version sees them unless
/// its own lists name them.
pub fn affected(
    versions: &[VersionSpec],
    change: Option<&Change>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for v in versions {
        for e in v.reads.iter().chain(&v.writes) {
            if let Some(c) = &e.column {
                out.entry(e.table.clone()).or_default().insert(c.clone());
            }
        }
    }
    if let Some(change) = change {
        for (t, c) in change_columns(change) {
            out.entry(t).or_default().insert(c);
        }
    }
    out
}

/// Columns a change names directly (old and new names).
fn change_columns(change: &Change) -> Vec<(String, String)> {
    let e = |t: &str, c: &str| (Entry::parse(t).table, unquote(c));
    match change {
        Change::RenameColumn {
            table,
            column,
            new_name,
        } => vec![e(table, column), e(table, new_name)],
        Change::AddColumn { table, column, .. }
        | Change::AddNotNullColumn { table, column, .. }
        | Change::BackfillOnly { table, column, .. }
        | Change::DropColumn { table, column } => vec![e(table, column)],
        Change::SplitColumn {
            table,
            column,
            into,
        } => {
            let mut v = vec![e(table, column)];
            v.extend(into.iter().map(|s| e(table, &s.name)));
            v
        }
        Change::MergeColumns {
            table,
            columns,
            into,
            ..
        } => {
            let mut v: Vec<_> = columns.iter().map(|c| e(table, c)).collect();
            v.push(e(table, into));
            v
        }
        Change::MoveColumn {
            column,
            from_table,
            to_table,
            ..
        } => vec![e(from_table, column), e(to_table, column)],
        _ => Vec::new(),
    }
}

/// Which (table, column) pairs hold the same data for the change, so a value
/// one version writes can be looked for where another version reads it.
pub fn logical(change: Option<&Change>, table: &str, column: &str) -> (String, String) {
    match change {
        Some(Change::RenameColumn {
            table: t,
            column: c,
            new_name,
        }) if Entry::parse(t).table == table && unquote(new_name) == column => {
            (table.to_string(), unquote(c))
        }
        Some(Change::RenameTable { table: t, new_name })
            if Entry::parse(new_name).table == table =>
        {
            (Entry::parse(t).table, column.to_string())
        }
        _ => (table.to_string(), column.to_string()),
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `format_type` of its type.
    pub data_type: String,
    pub not_null: bool,
    /// Has a default, is an identity or is generated: inserts may leave it out.
    pub defaulted: bool,
    pub generated: bool,
    /// The labels, for enum types (in their sort order): those the version
    /// may write, once [`build_version`] has left out the ones it retired.
    pub enum_labels: Vec<String>,
}

/// The columns of a table or view (empty when it does not exist).
pub async fn catalog_columns(
    db: &Client,
    table: &str,
) -> Result<Vec<Column>, tokio_postgres::Error> {
    // row_to_json reads attgenerated where it exists (PostgreSQL 12+) and
    // yields NULL before, so one query serves every version.
    let rows = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    a.atthasdef OR coalesce(row_to_json(a)->>'attidentity', '') <> ''
                        OR coalesce(row_to_json(a)->>'attgenerated', '') <> '',
                    coalesce(row_to_json(a)->>'attgenerated', '') <> '',
                    ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = a.atttypid
                           ORDER BY e.enumsortorder)
               FROM pg_attribute a
              WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&quote_pg(table)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            data_type: r.get(1),
            not_null: r.get(2),
            defaulted: r.get(3),
            generated: r.get(4),
            enum_labels: r.get(5),
        })
        .collect())
}

/// The primary key column of a table, when it has a single-column one.
pub async fn primary_key(
    db: &Client,
    table: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT a.attname::text FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
              WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
            &[&quote_pg(table)],
        )
        .await?;
    Ok((rows.len() == 1).then(|| rows[0].get(0)))
}

/// A value of a type in its text form, distinct per `n` where the type
/// allows; `None` when no value can be made up for the type.
pub fn value_text(col: &Column, n: u64) -> Option<String> {
    let t = col.data_type.to_lowercase();
    if !col.enum_labels.is_empty() {
        let i = (n % col.enum_labels.len() as u64) as usize;
        return Some(col.enum_labels[i].clone());
    }
    if t.ends_with("[]") {
        return Some("{}".into());
    }
    let len = type_length(&t);
    let v = if t == "smallint" {
        (n % 30_000).to_string()
    } else if matches!(
        t.as_str(),
        "integer" | "bigint" | "real" | "double precision"
    ) {
        (n % 2_000_000_000).to_string()
    } else if let Some(rest) = t.strip_prefix("numeric") {
        // numeric(p,s) holds p-s digits before the point.
        let digits = rest
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .map(|s| s.trim().parse::<u32>().ok())
            .collect::<Vec<_>>();
        let room = match digits.as_slice() {
            [Some(p), Some(s)] => p.saturating_sub(*s),
            [Some(p)] => *p,
            _ => 9,
        }
        .clamp(1, 9);
        (n % 10u64.pow(room)).to_string()
    } else if t.starts_with("text")
        || t.starts_with("character")
        || t.starts_with("varchar")
        || t == "citext"
        || t == "name"
    {
        let s = format!("w{n}");
        match len {
            Some(l) if s.len() > l => s[s.len() - l..].to_string(),
            _ => s,
        }
    } else if t == "boolean" {
        if n.is_multiple_of(2) { "true" } else { "false" }.into()
    } else if t.starts_with("timestamp") {
        format!(
            "2025-01-01 {:02}:{:02}:{:02}+00",
            (n / 3600) % 24,
            (n / 60) % 60,
            n % 60
        )
    } else if t == "date" {
        "2025-01-01".into()
    } else if t.starts_with("time") {
        "12:00:00".into()
    } else if t == "interval" {
        format!("{} seconds", n % 86_400)
    } else if t == "uuid" {
        format!("00000000-0000-4000-8000-{:012x}", n % (1 << 48))
    } else if t == "json" || t == "jsonb" {
        format!("{{\"n\": {n}}}")
    } else if t == "bytea" {
        format!("\\x{:02x}", n % 256)
    } else if t == "inet" || t == "cidr" {
        format!("10.{}.{}.{}/32", (n >> 16) % 256, (n >> 8) % 256, n % 256)
    } else {
        return None;
    };
    Some(v)
}

/// The length limit of `character varying(n)` / `character(n)`.
fn type_length(t: &str) -> Option<usize> {
    let open = t.find('(')?;
    t[open + 1..t.find(')')?].trim().parse().ok()
}

/// A value as a SQL literal of its column's type.
pub fn literal(col: &Column, text: &str) -> String {
    format!("{}::{}", literal_pg(text), col.data_type)
}

/// What one version does to one table.
#[derive(Debug, Clone)]
pub struct TableOps {
    /// The table as the version names it, quoted.
    pub table_sql: String,
    /// The table as the app lists name it.
    pub table: String,
    pub key: Column,
    /// Columns it reads.
    pub reads: Vec<Column>,
    /// Columns it writes on update (empty: a no-op update of `touch`).
    pub writes: Vec<Column>,
    /// A column set to itself when the version writes nothing here: still a
    /// row lock and a trigger firing, as a real write would be.
    pub touch: Column,
    /// Columns an insert must fill, besides `writes`.
    pub insert_required: Vec<Column>,
    /// Whether the key must be given on insert (no default).
    pub insert_key: bool,
    /// Whether the version inserts here: not into a table whose rows are
    /// one-to-one with a parent's (a new row would need a new parent row).
    pub inserts: bool,
    /// Keys of existing parent rows, for columns that reference another
    /// table: a made-up value would break the foreign key.
    pub refs: BTreeMap<String, Vec<String>>,
    /// Columns the change derives from the row (a fill expression or
    /// lookup): the app writes the same value the backfill computes.
    pub derived: BTreeMap<String, String>,
}

/// A prepared single-row update: `$1` the key, then one parameter per
/// column in `values` (derived columns are computed by the SQL).
#[derive(Debug, Clone)]
pub struct PreparedUpdate {
    pub sql: String,
    pub values: Vec<Column>,
}

impl TableOps {
    /// A value for a column: a parent's key for a reference, else made up.
    pub fn value(&self, c: &Column, n: u64) -> Option<String> {
        match self.refs.get(&c.name) {
            Some(keys) if !keys.is_empty() => Some(keys[(n % keys.len() as u64) as usize].clone()),
            _ => value_text(c, n),
        }
    }

    pub fn select_sql(&self, key: &str) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} = {}",
            self.read_list(),
            self.table_sql,
            quote_pg(&self.key.name),
            literal(&self.key, key)
        )
    }

    fn read_list(&self) -> String {
        std::iter::once(&self.key)
            .chain(&self.reads)
            .map(|c| quote_pg(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The update of one row and the values it writes (column, text).
    pub fn update_sql(&self, key: &str, n: u64) -> (String, Vec<(String, String)>) {
        let mut sets = Vec::new();
        let mut written = Vec::new();
        for c in &self.writes {
            if let Some(e) = self.derived.get(&c.name) {
                sets.push(format!("{} = {e}", quote_pg(&c.name)));
            } else if let Some(v) = self.value(c, n) {
                sets.push(format!("{} = {}", quote_pg(&c.name), literal(c, &v)));
                written.push((c.name.clone(), v));
            }
        }
        if sets.is_empty() {
            let t = quote_pg(&self.touch.name);
            sets.push(format!("{t} = {t}"));
        }
        (
            format!(
                "UPDATE {} SET {} WHERE {} = {}",
                self.table_sql,
                sets.join(", "),
                quote_pg(&self.key.name),
                literal(&self.key, key)
            ),
            written,
        )
    }

    /// An insert of a new row (returning its key as text) and the values it writes.
    pub fn insert_sql(&self, n: u64) -> (String, Vec<(String, String)>) {
        let mut cols = Vec::new();
        let mut vals = Vec::new();
        let mut written = Vec::new();
        if self.insert_key {
            cols.push(quote_pg(&self.key.name));
            vals.push(literal(&self.key, &key_text(&self.key, n)));
        }
        let mut derived = Vec::new();
        for c in self.insert_required.iter().chain(&self.writes) {
            if cols.contains(&quote_pg(&c.name)) || c.generated {
                continue;
            }
            if let Some(e) = self.derived.get(&c.name) {
                if !derived.iter().any(|(d, _): &(String, String)| d == &c.name) {
                    derived.push((c.name.clone(), e.clone()));
                }
                continue;
            }
            if let Some(v) = self.value(c, n) {
                cols.push(quote_pg(&c.name));
                vals.push(literal(c, &v));
                if self.writes.iter().any(|w| w.name == c.name) {
                    written.push((c.name.clone(), v));
                }
            }
        }
        let returning = format!("RETURNING {}::text", quote_pg(&self.key.name));
        let sql = if !derived.is_empty() {
            // Derived values are computed from the row being inserted: the
            // values go through a subquery named like the table, so the
            // change's expression reads them by their column names. Columns
            // not inserted are NULL there, as they are in the new row.
            let mut inner: Vec<String> = cols
                .iter()
                .zip(&vals)
                .map(|(c, v)| format!("{v} AS {c}"))
                .collect();
            for c in &self.reads {
                let q = quote_pg(&c.name);
                if !cols.contains(&q) && !self.derived.contains_key(&c.name) {
                    inner.push(format!("NULL::{} AS {q}", c.data_type));
                }
            }
            let mut outer: Vec<String> = cols
                .iter()
                .map(|c| format!("{}.{c}", self.table_sql))
                .collect();
            for (name, e) in &derived {
                cols.push(quote_pg(name));
                outer.push(e.clone());
            }
            format!(
                "INSERT INTO {t} ({}) SELECT {} FROM (SELECT {}) AS {t} {returning}",
                cols.join(", "),
                outer.join(", "),
                inner.join(", "),
                t = self.table_sql
            )
        } else if cols.is_empty() {
            format!("INSERT INTO {} DEFAULT VALUES {returning}", self.table_sql)
        } else {
            format!(
                "INSERT INTO {} ({}) VALUES ({}) {returning}",
                self.table_sql,
                cols.join(", "),
                vals.join(", ")
            )
        };
        (sql, written)
    }

    /// The prepared forms: select and update by key (`$1` the key as text,
    /// `$2` the value as text), the way a driver caching its plans issues them.
    pub fn prepared_sql(&self) -> (String, Option<PreparedUpdate>) {
        let key = format!("$1::text::{}", self.key.data_type);
        let select = format!(
            "SELECT {} FROM {} WHERE {} = {key}",
            self.read_list(),
            self.table_sql,
            quote_pg(&self.key.name)
        );
        // Every column the version writes, as its own updates do: a version
        // that writes two shapes keeps both in step in every statement.
        let update = (!self.writes.is_empty()).then(|| {
            let mut sets = Vec::new();
            let mut values = Vec::new();
            for c in &self.writes {
                match self.derived.get(&c.name) {
                    Some(e) => sets.push(format!("{} = {e}", quote_pg(&c.name))),
                    None => {
                        values.push(c.clone());
                        sets.push(format!(
                            "{} = ${}::text::{}",
                            quote_pg(&c.name),
                            values.len() + 1,
                            c.data_type
                        ));
                    }
                }
            }
            PreparedUpdate {
                sql: format!(
                    "UPDATE {} SET {} WHERE {} = {key}",
                    self.table_sql,
                    sets.join(", "),
                    quote_pg(&self.key.name)
                ),
                values,
            }
        });
        (select, update)
    }
}

/// A key value for a new row, far from the generated ones.
pub fn key_text(key: &Column, n: u64) -> String {
    let t = key.data_type.to_lowercase();
    if matches!(t.as_str(), "integer" | "bigint" | "smallint") || t.starts_with("numeric") {
        // Far above the generated keys, and distinct per n where the type
        // has room (a wrapped key would collide with an earlier insert).
        if t == "smallint" {
            (20_000 + n % 10_000).to_string()
        } else {
            (1_000_000_000 + n).to_string()
        }
    } else {
        value_text(key, n + 1_000_000_000).unwrap_or_else(|| format!("k{n}"))
    }
}

/// One app version, ready to run.
#[derive(Debug, Clone)]
pub struct AppVersion {
    pub name: String,
    pub tables: Vec<TableOps>,
}

/// Why the app model cannot be built.
pub type ModelError = String;

/// What every version is built from, besides its own lists.
pub struct Model<'a> {
    /// The columns the change is about, per table (see [`affected`]).
    pub affected: &'a BTreeMap<String, BTreeSet<String>>,
    /// Each starting table's column names: columns added later by the plan
    /// are unknown to every version that does not name them.
    pub start: &'a BTreeMap<String, Vec<String>>,
    pub change: Option<&'a Change>,
}

/// Builds a version's statements against the catalog as it is now (the
/// moment the version is deployed).
pub async fn build_version(
    db: &Client,
    spec: &VersionSpec,
    m: &Model<'_>,
) -> Result<AppVersion, ModelError> {
    let mut tables: Vec<String> = spec.own_tables().into_iter().collect();
    if tables.is_empty() {
        tables = unnamed_tables(db, m)
            .await
            .map_err(|e| format!("reading the catalog: {e}"))?;
    }
    let mut out = Vec::new();
    for table in tables {
        out.push(build_table(db, spec, &table, m).await?);
    }
    Ok(AppVersion {
        name: spec.name.clone(),
        tables: out,
    })
}

/// The tables a version that names none works on: the tables the change is
/// about (it stopped using a column, or never used one, but still uses the
/// table), except one the change drops; when that leaves none (the version
/// stopped using the dropped table), the rest of the starting schema.
async fn unnamed_tables(db: &Client, m: &Model<'_>) -> Result<Vec<String>, tokio_postgres::Error> {
    let dropped = match m.change {
        Some(Change::DropTable { table }) => Some(Entry::parse(table).table),
        _ => None,
    };
    let mut out: Vec<String> = Vec::new();
    let named = m.change.map(super::data::change_tables).unwrap_or_default();
    for t in named.iter().map(|t| Entry::parse(t).table) {
        if Some(&t) != dropped.as_ref() && !out.contains(&t) && is_relation(db, &t).await? {
            out.push(t);
        }
    }
    if out.is_empty() {
        for t in m.start.keys() {
            if Some(t) != dropped.as_ref() && is_relation(db, t).await? {
                out.push(t.clone());
            }
        }
    }
    Ok(out)
}

/// Whether a table or view of that name exists.
async fn is_relation(db: &Client, name: &str) -> Result<bool, tokio_postgres::Error> {
    let row = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass($1) AND relkind IN ('r', 'p', 'v'))",
            &[&quote_pg(name)],
        )
        .await?;
    Ok(row.get(0))
}

/// Entries that name a type rather than a table (an enum change lists the
/// enum) stand for the columns of that type.
pub async fn resolve_types(
    db: &Client,
    specs: &mut [VersionSpec],
) -> Result<(), tokio_postgres::Error> {
    for spec in specs.iter_mut() {
        for set in [&mut spec.reads, &mut spec.writes] {
            let mut out = BTreeSet::new();
            for e in std::mem::take(set) {
                if e.column.is_some() || is_relation(db, &e.table).await? {
                    out.insert(e);
                    continue;
                }
                let rows = db
                    .query(
                        "SELECT c.relname::text, a.attname::text FROM pg_attribute a
                           JOIN pg_class c ON c.oid = a.attrelid
                          WHERE a.atttypid = to_regtype($1) AND a.attnum > 0 AND NOT a.attisdropped
                            AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)",
                        &[&quote_pg(&e.table)],
                    )
                    .await?;
                if rows.is_empty() {
                    // Neither a table nor a type: kept, so the version fails
                    // to start and says which name it cannot find.
                    out.insert(e);
                }
                for r in rows {
                    out.insert(Entry {
                        table: r.get(0),
                        column: Some(r.get(1)),
                    });
                }
            }
            *set = out;
        }
    }
    Ok(())
}

/// The column rows are read and updated by: the single-column primary key,
/// else a single-column unique index on a NOT NULL column, else the column
/// the change makes the key, else `id`.
pub async fn row_key(
    db: &Client,
    table: &str,
    change: Option<&Change>,
) -> Result<Option<String>, tokio_postgres::Error> {
    if let Some(k) = primary_key(db, table).await? {
        return Ok(Some(k));
    }
    let unique = db
        .query(
            "SELECT a.attname::text FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid
                AND i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull
              ORDER BY i.indexrelid LIMIT 1",
            &[&quote_pg(table)],
        )
        .await?;
    if let Some(r) = unique.first() {
        return Ok(Some(r.get(0)));
    }
    let columns = catalog_columns(db, table).await?;
    let exists = |c: &str| columns.iter().any(|col| col.name == c);
    if let Some(
        Change::AddPrimaryKey {
            table: t, columns, ..
        }
        | Change::AddUniqueConstraint {
            table: t, columns, ..
        },
    ) = change
    {
        if let [c] = columns.as_slice() {
            let c = unquote(c);
            if Entry::parse(t).table == table && exists(&c) {
                return Ok(Some(c));
            }
        }
    }
    Ok(exists("id").then(|| "id".to_string()))
}

/// A single-column reference from one of the table's columns.
struct Reference {
    column: String,
    parent: String,
    parent_column: String,
    /// The column is the key or unique: one child row per parent row.
    one_to_one: bool,
}

/// The table's single-column foreign keys, and the one the change adds.
async fn references(
    db: &Client,
    table: &str,
    key: &str,
    change: Option<&Change>,
) -> Result<Vec<Reference>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT a.attname::text, p.relname::text, pa.attname::text,
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid AND i.indisunique
                              AND i.indnatts = 1 AND i.indkey[0] = k.conkey[1])
               FROM pg_constraint k
               JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
               JOIN pg_class p ON p.oid = k.confrelid
               JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
              WHERE k.contype = 'f' AND k.conrelid = to_regclass($1) AND cardinality(k.conkey) = 1",
            &[&quote_pg(table)],
        )
        .await?;
    let mut out: Vec<Reference> = rows
        .iter()
        .map(|r| {
            let column: String = r.get(0);
            Reference {
                one_to_one: r.get::<_, bool>(3) || column == key,
                column,
                parent: r.get(1),
                parent_column: r.get(2),
            }
        })
        .collect();
    if let Some(Change::AddForeignKey {
        table: t,
        columns,
        references_table,
        references_columns,
        ..
    }) = change
    {
        if let [c] = columns.as_slice() {
            let column = unquote(c);
            if Entry::parse(t).table == table && !out.iter().any(|r| r.column == column) {
                out.push(Reference {
                    one_to_one: column == key,
                    column,
                    parent: Entry::parse(references_table).table,
                    parent_column: references_columns
                        .first()
                        .map_or_else(|| "id".to_string(), |c| unquote(c)),
                });
            }
        }
    }
    Ok(out)
}

/// Tables with a unique single-column reference to this one.
async fn one_to_one_children(
    db: &Client,
    table: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT c.relname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              WHERE k.contype = 'f' AND k.confrelid = to_regclass($1) AND k.conrelid <> k.confrelid
                AND cardinality(k.conkey) = 1
                AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid AND i.indisunique
                              AND i.indnatts = 1 AND i.indkey[0] = k.conkey[1])",
            &[&quote_pg(table)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Columns the change derives from the rest of the row, with the SQL that
/// computes each (the backfill's own expression or lookup).
fn derived_columns(change: Option<&Change>, table: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (t, column, fill) = match change {
        Some(Change::AddNotNullColumn {
            table,
            column,
            fill: Some(fill),
            ..
        })
        | Some(Change::BackfillOnly {
            table,
            column,
            fill,
            ..
        }) => (table, column, fill),
        _ => return out,
    };
    if Entry::parse(t).table != table {
        return out;
    }
    let expr = match fill {
        Fill::Expression { expression } => format!("({expression})"),
        Fill::Lookup {
            table: source,
            column: source_column,
            local_key,
            remote_key,
        } => {
            // The planner's defaults: `<singular source>_id` = source.id.
            let local = local_key
                .clone()
                .unwrap_or_else(|| format!("{}_id", crate::change::singular(source)));
            let remote = remote_key.clone().unwrap_or_else(|| "id".into());
            let source_sql = QualifiedName::parse("table", source)
                .map(|q| q.pg())
                .unwrap_or_else(|_| source.clone());
            format!(
                "(SELECT s.{} FROM {source_sql} AS s WHERE s.{} = {}.{})",
                quote_pg(&unquote(source_column)),
                quote_pg(&unquote(&remote)),
                quote_pg(table),
                quote_pg(&unquote(&local))
            )
        }
    };
    out.insert(unquote(column), expr);
    out
}

async fn build_table(
    db: &Client,
    spec: &VersionSpec,
    table: &str,
    m: &Model<'_>,
) -> Result<TableOps, ModelError> {
    let db_err = |e: tokio_postgres::Error| format!("reading the catalog for {table}: {e}");
    let mut catalog = catalog_columns(db, table).await.map_err(db_err)?;
    // The labels the version retired are not among those it writes.
    for c in &mut catalog {
        let entry = Entry {
            table: table.to_string(),
            column: Some(c.name.clone()),
        };
        if let Some(retired) = spec.never_writes.get(&entry) {
            c.enum_labels.retain(|l| !retired.contains(l));
            if c.enum_labels.is_empty() && !retired.is_empty() {
                return Err(format!(
                    "app {} retires every label of {table}.{}: nothing is left for it to write",
                    spec.name, c.name
                ));
            }
        }
    }
    if catalog.is_empty() {
        return Err(format!(
            "app {} uses table {table}, which does not exist when it is deployed",
            spec.name
        ));
    }
    let none = BTreeSet::new();
    let changed = m.affected.get(table).unwrap_or(&none);
    let own_reads = spec.columns_on(table, &spec.reads);
    let own_writes = spec.columns_on(table, &spec.writes);
    let starting = m.start.get(table);
    let known = |c: &Column| {
        let own = own_reads.contains(&c.name) || own_writes.contains(&c.name);
        let existed = starting.is_none_or(|s| s.contains(&c.name));
        own || (existed && !changed.contains(&c.name))
    };
    let Some(key_name) = row_key(db, table, m.change).await.map_err(db_err)? else {
        return Err(format!(
            "table {table} has no single-column primary key or unique NOT NULL column (nor an `id` column): the rehearsal reads and updates rows by key"
        ));
    };
    let key = catalog
        .iter()
        .find(|c| c.name == key_name)
        .cloned()
        .ok_or_else(|| format!("key {key_name} of {table} is not in the catalog"))?;
    // Named columns missing from the catalog stay in: the version uses them,
    // and the statement failing is what the rehearsal must show.
    let named = |name: &String| {
        catalog
            .iter()
            .find(|c| &c.name == name)
            .cloned()
            .unwrap_or(Column {
                name: name.clone(),
                data_type: "text".into(),
                not_null: false,
                defaulted: false,
                generated: false,
                enum_labels: Vec::new(),
            })
    };
    let read =
        |c: &Column| known(c) && (own_reads.contains(&c.name) || !own_writes.contains(&c.name));
    let mut reads: Vec<Column> = catalog
        .iter()
        .filter(|c| c.name != key.name && read(c))
        .cloned()
        .collect();
    // What it reads: a column it only writes is not read back (the old
    // reader of a column it writes is checked for that).
    for r in &own_reads {
        if r != &key.name && !reads.iter().any(|c| &c.name == r) {
            reads.push(named(r));
        }
    }
    let writes: Vec<Column> = own_writes
        .iter()
        .filter(|w| *w != &key.name)
        .map(named)
        .filter(|c| !c.generated)
        .collect();
    let insert_required: Vec<Column> = catalog
        .iter()
        .filter(|c| c.name != key.name && known(c) && c.not_null && !c.defaulted)
        .cloned()
        .collect();
    for c in &insert_required {
        if value_text(c, 1).is_none() {
            return Err(format!(
                "cannot make up values of type {} for {table}.{} (NOT NULL, no default): give it a default in the schema (the rehearsal generates every row itself)",
                c.data_type, c.name
            ));
        }
    }
    let touch = catalog
        .iter()
        .find(|c| c.name != key.name && known(c) && !c.generated && !changed.contains(&c.name))
        .cloned()
        .unwrap_or_else(|| key.clone());
    let mut refs = BTreeMap::new();
    // A table whose rows pair one-to-one with another starting table's (a
    // profile per user) gets its rows in pairs made by the app in one
    // transaction, which the model does not make: it inserts into neither.
    let mut inserts = one_to_one_children(db, table)
        .await
        .map_err(db_err)?
        .iter()
        .all(|child| !m.start.contains_key(child));
    for r in references(db, table, &key.name, m.change)
        .await
        .map_err(db_err)?
    {
        inserts &= !r.one_to_one;
        let sql = format!(
            "SELECT {c}::text FROM {p} WHERE {c} IS NOT NULL LIMIT 200",
            c = quote_pg(&r.parent_column),
            p = quote_pg(&r.parent)
        );
        let keys: Vec<String> = db
            .query(&sql, &[])
            .await
            .map_err(db_err)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        refs.insert(r.column, keys);
    }
    Ok(TableOps {
        table_sql: quote_pg(table),
        table: table.to_string(),
        insert_key: !key.defaulted,
        key,
        reads,
        writes,
        touch,
        insert_required,
        inserts,
        refs,
        derived: derived_columns(m.change, table),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            data_type: t.into(),
            not_null: true,
            defaulted: false,
            generated: false,
            enum_labels: Vec::new(),
        }
    }

    #[test]
    fn entries_name_tables_and_columns() {
        assert_eq!(
            Entry::parse("users.username"),
            Entry {
                table: "users".into(),
                column: Some("username".into())
            }
        );
        assert_eq!(Entry::parse("Orders").table, "orders");
        assert_eq!(Entry::parse("\"Orders\"").table, "Orders");
        assert_eq!(
            Entry::parse("billing.invoices.total").column.as_deref(),
            Some("total")
        );
    }

    #[test]
    fn values_fit_their_types() {
        assert_eq!(
            value_text(&col("c", "character varying(3)"), 12345).unwrap(),
            "345"
        );
        assert_eq!(
            value_text(&col("c", "numeric(5,2)"), 123456).unwrap(),
            "456"
        );
        assert_eq!(value_text(&col("c", "smallint"), 40_001).unwrap(), "10001");
        assert!(value_text(&col("c", "uuid"), 7)
            .unwrap()
            .ends_with("000000000007"));
        assert_eq!(value_text(&col("c", "point"), 1), None);
        let mut e = col("c", "mood");
        e.enum_labels = vec!["happy".into(), "sad".into()];
        assert_eq!(value_text(&e, 1).unwrap(), "sad");
        assert_eq!(value_text(&e, 4).unwrap(), "happy");
    }

    #[test]
    fn statements_quote_names_and_cast_values() {
        let ops = TableOps {
            table_sql: quote_pg("User"),
            table: "User".into(),
            key: col("id", "bigint"),
            reads: vec![col("name", "text")],
            writes: vec![col("name", "text")],
            touch: col("name", "text"),
            insert_required: vec![],
            insert_key: true,
            inserts: true,
            refs: BTreeMap::new(),
            derived: BTreeMap::new(),
        };
        assert_eq!(
            ops.select_sql("5"),
            "SELECT id, name FROM \"User\" WHERE id = '5'::bigint"
        );
        let (sql, written) = ops.update_sql("5", 9);
        assert_eq!(
            sql,
            "UPDATE \"User\" SET name = 'w9'::text WHERE id = '5'::bigint"
        );
        assert_eq!(written, vec![("name".to_string(), "w9".to_string())]);
        let (sql, _) = ops.insert_sql(3);
        assert!(
            sql.starts_with(
                "INSERT INTO \"User\" (id, name) VALUES ('1000000003'::bigint, 'w3'::text)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn renamed_columns_map_to_one_logical_column() {
        let change = Change::RenameColumn {
            table: "users".into(),
            column: "username".into(),
            new_name: "handle".into(),
        };
        assert_eq!(
            logical(Some(&change), "users", "handle"),
            ("users".to_string(), "username".to_string())
        );
        assert_eq!(
            logical(Some(&change), "users", "email"),
            ("users".to_string(), "email".to_string())
        );
    }
}
