//! The primary keys the rehearsal starts with must survive every phase.
//! Rows and their key values can all be intact while the key constraint is
//! gone (a column swap that drops it); this check sees the constraint
//! itself: after each phase every starting table still has a primary key on
//! the same columns with the same types, except what the change itself
//! declares (a key column renamed, or retyped to its new type).

use super::app::Entry;
use super::CheckRun;
use crate::change::Change;
use crate::ident::quote_pg;
use tokio_postgres::Client;

/// A table's primary key: its columns in key order with their types.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StartKey {
    table: String,
    columns: Vec<(String, String)>,
}

async fn key_of(db: &Client, table: &str) -> Result<Vec<(String, String)>, String> {
    let rows = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_constraint k
             CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             WHERE k.conrelid = to_regclass($1) AND k.contype = 'p'
             ORDER BY u.ord",
            &[&quote_pg(table)],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The primary key of each of `tables` that has one.
pub(super) async fn start_keys<'a>(
    db: &Client,
    tables: impl Iterator<Item = &'a String>,
) -> Result<Vec<StartKey>, String> {
    let mut out = Vec::new();
    for t in tables {
        let columns = key_of(db, t).await?;
        if !columns.is_empty() {
            out.push(StartKey {
                table: t.clone(),
                columns,
            });
        }
    }
    Ok(out)
}

/// The key a starting key may have become under the change: a renamed or
/// retyped key column. `to_type` is the change's new type as PostgreSQL
/// names it.
fn allowed(
    start: &StartKey,
    change: Option<&Change>,
    to_type: Option<&str>,
) -> Vec<(String, String)> {
    let mut cols = start.columns.clone();
    match change {
        Some(Change::RenameColumn {
            table,
            column,
            new_name,
        }) if Entry::parse(table).table == start.table => {
            let (old, new) = (Entry::parse(column).table, Entry::parse(new_name).table);
            for c in cols.iter_mut().filter(|c| c.0 == old) {
                c.0 = new.clone();
            }
        }
        Some(Change::ChangeColumnType { table, column, .. })
            if Entry::parse(table).table == start.table =>
        {
            let col = Entry::parse(column).table;
            if let Some(ty) = to_type {
                for c in cols.iter_mut().filter(|c| c.0 == col) {
                    c.1 = ty.to_string();
                }
            }
        }
        _ => {}
    }
    cols
}

fn show(cols: &[(String, String)]) -> String {
    if cols.is_empty() {
        return "no primary key".into();
    }
    cols.iter()
        .map(|(c, t)| format!("{c} {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One check per starting key: the same key, or the one the change makes.
pub(super) async fn keys_kept(
    db: &Client,
    keys: &[StartKey],
    change: Option<&Change>,
) -> Vec<(CheckRun, Option<String>)> {
    let to_type = match change {
        Some(Change::ChangeColumnType { to_type, .. }) => db
            .query_one("SELECT format_type(to_regtype($1), NULL)", &[to_type])
            .await
            .ok()
            .and_then(|r| r.get::<_, Option<String>>(0)),
        _ => None,
    };
    let mut out = Vec::new();
    for k in keys {
        let exists = db
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_class WHERE oid = to_regclass($1) AND relkind IN ('r', 'p'))",
                &[&quote_pg(&k.table)],
            )
            .await
            .is_ok_and(|r| r.get(0));
        if !exists {
            // A table renamed or dropped (a view of its old name in its
            // place included) is the rows check's business.
            continue;
        }
        let now = match key_of(db, &k.table).await {
            Ok(now) => now,
            Err(e) => {
                out.push((
                    check(k, format!("error: {e}"), false),
                    Some(format!("cannot read the primary key of {}: {e}", k.table)),
                ));
                continue;
            }
        };
        let changed = allowed(k, change, to_type.as_deref());
        let passed = now == k.columns || now == changed;
        let reason = (!passed).then(|| {
            format!(
                "the primary key of {} is {} but was {}{}: the plan lost or moved the key",
                k.table,
                show(&now),
                show(&k.columns),
                if changed != k.columns {
                    format!(" (the change allows {})", show(&changed))
                } else {
                    String::new()
                }
            )
        });
        out.push((check(k, show(&now), passed), reason));
    }
    out
}

fn check(k: &StartKey, got: String, passed: bool) -> CheckRun {
    CheckRun {
        kind: "key".into(),
        meaning: format!("{} keeps its primary key", k.table),
        expect: show(&k.columns),
        got,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cols: &[(&str, &str)]) -> StartKey {
        StartKey {
            table: "accounts".into(),
            columns: cols
                .iter()
                .map(|(c, t)| (c.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_retyped_or_renamed_key_column_is_the_only_allowed_change() {
        let k = key(&[("id", "integer")]);
        let retype: Change = serde_json::from_value(serde_json::json!({"change_type": "change_column_type", "table": "accounts", "column": "id", "to_type": "bigint"})).unwrap();
        assert_eq!(
            allowed(&k, Some(&retype), Some("bigint")),
            vec![("id".to_string(), "bigint".to_string())]
        );
        let other: Change = serde_json::from_value(serde_json::json!({"change_type": "change_column_type", "table": "orders", "column": "id", "to_type": "bigint"})).unwrap();
        assert_eq!(allowed(&k, Some(&other), Some("bigint")), k.columns);
        let rename: Change = serde_json::from_value(serde_json::json!({"change_type": "rename_column", "table": "accounts", "column": "id", "new_name": "account_id"})).unwrap();
        assert_eq!(
            allowed(&k, Some(&rename), None),
            vec![("account_id".to_string(), "integer".to_string())]
        );
        assert_eq!(show(&[]), "no primary key");
    }
}
