//! Row values across a segment: before it, every row of each starting table
//! is copied (as text, column by column) into the rehearsal's own schema;
//! after it, every column a live app version reads must hold the same value
//! on every row the app did not touch, unless the segment's statements
//! declare they write that column. Tables and columns are followed by oid
//! and attribute number, so renames keep their rows' identity.

use super::declare::{Col, Declared};
use super::fingerprint::CHECK_SCHEMA;
use super::traffic::message;
use crate::ident::quote_pg;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// The copy of one table taken before a segment.
#[derive(Debug, Clone)]
struct Copy {
    oid: u32,
    /// Its name then.
    table: String,
    /// attnum -> column name then (the key included).
    columns: BTreeMap<i16, String>,
    key_attnum: i16,
    /// Columns no app version writes: compared on every row.
    strict: BTreeSet<i16>,
}

/// The copies of all starting tables before a segment.
#[derive(Debug, Clone, Default)]
pub struct Before {
    copies: Vec<Copy>,
}

fn copy_name(oid: u32) -> String {
    format!(
        "{}.{}",
        quote_pg(CHECK_SCHEMA),
        quote_pg(&format!("t{oid}"))
    )
}

/// The oid of a table by name (quoted as given), when it exists.
pub async fn oid_of(db: &Client, table: &str) -> Option<u32> {
    db.query_opt(
        "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
        &[&quote_pg(table)],
    )
    .await
    .ok()
    .flatten()
    .map(|r| r.get(0))
}

/// A starting table: its oid, its key's attribute number, and the columns
/// no app version writes (compared on every row, touched or not).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub oid: u32,
    pub key: i16,
    pub strict: BTreeSet<i16>,
}

/// Copies every starting table that still exists.
pub async fn copy(db: &Client, tables: &[Table]) -> Result<Before, String> {
    db.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_pg(CHECK_SCHEMA)
    ))
    .await
    .map_err(|e| message(&e))?;
    let mut copies = Vec::new();
    for t in tables {
        let (oid, key_attnum) = (t.oid, t.key);
        let rows = db
            .query(
                "SELECT c.oid::regclass::text, c.relname::text, a.attnum, a.attname::text
                   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  WHERE c.oid = $1 ORDER BY a.attnum",
                &[&oid],
            )
            .await
            .map_err(|e| message(&e))?;
        let Some(first) = rows.first() else {
            continue;
        };
        let regclass: String = first.get(0);
        let table: String = first.get(1);
        let columns: BTreeMap<i16, String> = rows.iter().map(|r| (r.get(2), r.get(3))).collect();
        let Some(key) = columns.get(&key_attnum) else {
            continue;
        };
        let list: Vec<String> = std::iter::once(format!("{}::text AS k", quote_pg(key)))
            .chain(
                columns
                    .iter()
                    .map(|(n, c)| format!("{}::text AS a{n}", quote_pg(c))),
            )
            .collect();
        let sql = format!(
            "DROP TABLE IF EXISTS {copy}; CREATE UNLOGGED TABLE {copy} AS SELECT {} FROM {regclass}; ANALYZE {copy}",
            list.join(", "),
            copy = copy_name(oid)
        );
        db.batch_execute(&sql).await.map_err(|e| message(&e))?;
        copies.push(Copy {
            oid,
            table,
            columns,
            key_attnum,
            strict: t.strict.clone(),
        });
    }
    Ok(Before { copies })
}

/// A column that changed on a row nothing declared writing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub table: String,
    pub column: String,
    pub key: String,
    pub before: String,
    pub after: String,
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{} of the row with key {} changed from {} to {}",
            self.table, self.column, self.key, self.before, self.after
        )
    }
}

/// What to compare after a segment.
pub struct Compare<'a> {
    /// (table, column) pairs live versions read, as they name them.
    pub reads: &'a BTreeSet<Col>,
    pub declared: &'a Declared,
    /// Columns written by triggers on other tables (any phase).
    pub propagated: &'a BTreeSet<Col>,
    /// Keys per table oid the app may have written during the segment.
    pub touched: &'a BTreeMap<u32, BTreeSet<String>>,
}

impl Before {
    /// The columns live versions read that changed on untouched rows
    /// without being declared written; how many columns were compared.
    pub async fn compare(
        &self,
        db: &Client,
        c: &Compare<'_>,
    ) -> Result<(Vec<Changed>, usize), String> {
        let mut out = Vec::new();
        let mut compared = 0;
        let mut by_oid: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for (t, col) in c.reads {
            if let Some(oid) = oid_of(db, t).await {
                by_oid.entry(oid).or_default().insert(col.clone());
            }
        }
        let none = BTreeSet::new();
        for copy in &self.copies {
            let cols = by_oid.get(&copy.oid).unwrap_or(&none);
            let now = db
                .query(
                    "SELECT c.oid::regclass::text, c.relname::text, a.attnum, a.attname::text
                       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                      WHERE c.oid = $1",
                    &[&copy.oid],
                )
                .await
                .map_err(|e| message(&e))?;
            let Some(first) = now.first() else {
                continue;
            };
            let regclass: String = first.get(0);
            let table_now: String = first.get(1);
            let names_now: BTreeMap<i16, String> =
                now.iter().map(|r| (r.get(2), r.get(3))).collect();
            let Some(key_now) = names_now.get(&copy.key_attnum) else {
                continue;
            };
            let touched: Vec<String> = c
                .touched
                .get(&copy.oid)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            // One pass over the table: per column, the first key whose
            // value differs (touched rows left out unless the column is strict).
            let mut picked: Vec<(String, String)> = Vec::new();
            let mut aggs: Vec<String> = Vec::new();
            for (attnum, name_now) in &names_now {
                let Some(name_then) = copy.columns.get(attnum) else {
                    continue;
                };
                let strict = copy.strict.contains(attnum);
                if !(strict || cols.contains(name_now)) || *attnum == copy.key_attnum {
                    continue;
                }
                let written = |t: &str, col: &str| {
                    c.declared.writes(t, col)
                        || c.propagated.contains(&(t.to_string(), col.to_string()))
                };
                if written(&copy.table, name_then)
                    || written(&table_now, name_now)
                    || written(&copy.table, name_now)
                    || written(&table_now, name_then)
                {
                    continue;
                }
                let col = format!("s.a{attnum}");
                aggs.push(format!(
                    "min(s.k) FILTER (WHERE {col} IS DISTINCT FROM t.{c}::text{untouched})",
                    c = quote_pg(name_now),
                    untouched = if strict { "" } else { " AND u.k IS NULL" }
                ));
                picked.push((col, name_now.clone()));
            }
            if aggs.is_empty() {
                continue;
            }
            compared += aggs.len();
            let from = format!(
                "{copy} s JOIN {regclass} t ON t.{key}::text = s.k",
                copy = copy_name(copy.oid),
                key = quote_pg(key_now)
            );
            let sql = format!(
                "SELECT {} FROM {from} LEFT JOIN (SELECT DISTINCT k FROM unnest($1::text[]) AS k) AS u ON u.k = s.k",
                aggs.join(", ")
            );
            let row = db
                .query_one(&sql, &[&touched])
                .await
                .map_err(|e| format!("comparing {table_now}: {}", message(&e)))?;
            for (i, (col, name_now)) in picked.iter().enumerate() {
                let Some(key) = row.get::<_, Option<String>>(i) else {
                    continue;
                };
                let sql = format!(
                    "SELECT coalesce(quote_literal({col}), 'NULL'), coalesce(quote_literal(t.{c}::text), 'NULL') FROM {from} WHERE s.k = $1",
                    c = quote_pg(name_now)
                );
                let r = db
                    .query_one(&sql, &[&key])
                    .await
                    .map_err(|e| format!("comparing {table_now}.{name_now}: {}", message(&e)))?;
                out.push(Changed {
                    table: table_now.clone(),
                    column: name_now.clone(),
                    key,
                    before: r.get(0),
                    after: r.get(1),
                });
            }
        }
        Ok((out, compared))
    }

    /// The first change, on any row, in a column no app version writes.
    pub async fn first_strict_change(&self, db: &Client) -> Result<Option<Changed>, String> {
        let nothing = Declared::default();
        let (none, reads) = (BTreeSet::new(), BTreeSet::new());
        let touched = BTreeMap::new();
        let c = Compare {
            reads: &reads,
            declared: &nothing,
            propagated: &none,
            touched: &touched,
        };
        Ok(self.compare(db, &c).await?.0.into_iter().next())
    }

    /// Drops the copies.
    pub async fn drop(self, db: &Client) {
        for c in self.copies {
            let _ = db
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", copy_name(c.oid)))
                .await;
        }
    }
}
