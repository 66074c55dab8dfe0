//! Keys on a real PostgreSQL: keyset backfills over every kind of primary
//! key fill each row exactly once, tables without a usable key are refused
//! with the fix, and changing a primary key's type keeps the key.
//!
//! The exactly-once proof: the backfill sets `filled = coalesce(filled, 0) + 1`,
//! which is never "done", so every batch writes every row in its range. A
//! row no batch covers stays NULL; a row two batches cover ends at 2. After
//! the run every row must hold 1 (count and an md5 over the rows in key
//! order), both through the plan's procedure and through its prepared batch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use postgres::{Client, NoTls, SimpleQueryMessage};
use schemashift::change::ChangeInput;
use schemashift::cluster::Cluster;
use schemashift::context::Context;
use schemashift::plan::{build_plan, Plan, PlanOptions, PlanRequest};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Keyset backfills over every key type
// ---------------------------------------------------------------------------

/// A table keyed by `key` (column definitions and the PRIMARY KEY clause),
/// with `rows` rows made by `insert` (an INSERT ... SELECT over g).
struct Keyed {
    name: &'static str,
    key_columns: &'static str,
    key: &'static str,
    insert: &'static str,
}

const KEYED: &[Keyed] = &[
    Keyed {
        name: "k_smallint",
        key_columns: "id smallint NOT NULL",
        key: "id",
        insert: "SELECT g::smallint - 3000 FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_integer",
        key_columns: "id integer NOT NULL",
        key: "id",
        // Gaps and negatives: batches follow keys, not counts.
        insert: "SELECT g * 7 - 5000 FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_bigint",
        key_columns: "id bigint NOT NULL",
        key: "id",
        insert: "SELECT g * 4000000000 FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_uuid",
        key_columns: "id uuid NOT NULL",
        key: "id",
        insert: "SELECT md5(g::text)::uuid FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_text",
        key_columns: "code text COLLATE \"und-x-icu\" NOT NULL",
        key: "code",
        // Mixed case, digits that sort differently as text, non-ASCII.
        insert: "SELECT (ARRAY['a', 'B', 'é', 'Z', '日本', 'ß'])[1 + g % 6] || g FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_text_c",
        key_columns: "code text COLLATE \"C\" NOT NULL",
        key: "code",
        insert: "SELECT (ARRAY['a', 'B', 'é', 'Z', '日本', 'ß'])[1 + g % 6] || g FROM generate_series(1, 2345) AS g",
    },
    Keyed {
        name: "k_composite",
        key_columns: "tenant integer NOT NULL, code text NOT NULL",
        key: "tenant, code",
        // Many rows per tenant, so batch boundaries fall inside a tenant.
        insert: "SELECT g % 7, 'item' || g FROM generate_series(1, 2345) AS g",
    },
];

const ROWS: u64 = 2345;
const BATCH: u64 = 100;

fn keyed_ddl(k: &Keyed) -> String {
    format!(
        "CREATE TABLE {} ({}, payload text, filled integer, PRIMARY KEY ({}));",
        k.name, k.key_columns, k.key
    )
}

fn keyed_rows(k: &Keyed) -> String {
    format!("INSERT INTO {} ({}) {};", k.name, k.key, k.insert)
}

/// The once-only backfill of `filled` on `table`.
fn once_only(table: &str) -> Value {
    json!({"change_type": "backfill_only", "table": table, "column": "filled",
           "fill": {"kind": "expression", "expression": "coalesce(filled, 0) + 1"}})
}

/// Count of rows holding 1, count of rows not holding 1, and an md5 over
/// key and value in key order.
fn filled_print(client: &mut Client, k: &Keyed) -> (String, String, String) {
    let row = query_row(
        client,
        &format!(
            "SELECT count(*) FILTER (WHERE filled = 1), count(*) FILTER (WHERE filled IS DISTINCT FROM 1), md5(string_agg(({key})::text || '=' || coalesce(filled::text, 'NULL'), ',' ORDER BY {key})) FROM {t}",
            key = k.key,
            t = k.name
        ),
    )
    .unwrap();
    (
        row[0].clone().unwrap(),
        row[1].clone().unwrap(),
        row[2].clone().unwrap_or_default(),
    )
}

/// The md5 `filled_print` must see: every row at 1.
fn expected_print(client: &mut Client, k: &Keyed) -> String {
    query_value(
        client,
        &format!(
            "SELECT md5(string_agg(({key})::text || '=1', ',' ORDER BY {key})) FROM {t}",
            key = k.key,
            t = k.name
        ),
    )
    .unwrap()
    .unwrap()
}

#[test]
fn keyset_backfills_fill_every_row_exactly_once_for_every_key_type() {
    let mut failures = Vec::new();
    for k in KEYED {
        if let Err(e) = keyset_case(k) {
            failures.push(format!("[{}] {e}", k.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn keyset_case(k: &Keyed) -> Result<(), String> {
    let ddl = keyed_ddl(k);
    let plan = plan_for(
        once_only(k.name),
        Some(&ddl),
        json!({"batch_size": BATCH, "batch_pause_ms": 0}),
    )?;
    let bf = plan.backfill.as_ref().ok_or("the plan has no backfill")?;
    let keys: Vec<&str> = k.key.split(", ").collect();
    if bf.key != k.key {
        return Err(format!("backfill.key is {:?}, not {:?}", bf.key, k.key));
    }

    // 1: the procedure (the plan's backfill phase, as the runbook runs it).
    let mut db = Db::new(k.name)?;
    exec(db.client(), &format!("{ddl}\n{}", keyed_rows(k)))?;
    let phase = plan
        .phases
        .iter()
        .find(|p| p.kind.as_str() == "backfill")
        .ok_or("no backfill phase")?;
    let before = plan
        .phases
        .iter()
        .take_while(|p| p.kind.as_str() != "backfill");
    for p in before {
        for s in &p.forward {
            exec(db.client(), &s.sql).map_err(|e| format!("{}: {e}\n{}", p.id, s.sql))?;
        }
    }
    for s in &phase.forward {
        exec(db.client(), &s.sql).map_err(|e| format!("backfill step: {e}\n{}", s.sql))?;
    }
    let want = expected_print(db.client(), k);
    let got = filled_print(db.client(), k);
    if got != (ROWS.to_string(), "0".to_string(), want.clone()) {
        return Err(format!(
            "after CALL: {} rows at 1, {} not (want {ROWS} and 0), md5 {} (want {want})\n{}",
            got.0, got.1, got.2, bf.procedure_sql
        ));
    }
    // The phase's rollback restores what was there (NULL everywhere).
    for s in &phase.rollback {
        exec(db.client(), &s.sql).map_err(|e| format!("rollback step: {e}\n{}", s.sql))?;
    }
    let left = query_value(
        db.client(),
        &format!("SELECT count(*) FROM {} WHERE filled IS NOT NULL", k.name),
    )?;
    if left.as_deref() != Some("0") {
        return Err(format!("after the rollback {left:?} rows keep a value"));
    }

    // 2: the prepared batch, looped as batch_loop says.
    exec(db.client(), &bf.batch_sql).map_err(|e| format!("{e}\n{}", bf.batch_sql))?;
    let mut next = query_rows(db.client(), &bf.first_key_query)?
        .into_iter()
        .next();
    let mut batches = 0;
    while let Some(row) = next {
        if row.len() != keys.len() {
            return Err(format!(
                "a batch returned {} values for a key of {}",
                row.len(),
                keys.len()
            ));
        }
        let args = row
            .iter()
            .map(|v| literal(v.as_deref().expect("key values are not NULL")))
            .collect::<Vec<_>>()
            .join(", ");
        next = query_rows(db.client(), &format!("EXECUTE {}({args})", bf.batch_name))
            .map_err(|e| format!("EXECUTE: {e}\n{}", bf.batch_sql))?
            .into_iter()
            .next();
        batches += 1;
        if batches > ROWS {
            return Err("the batch loop does not end".into());
        }
    }
    if batches != ROWS.div_ceil(BATCH) {
        return Err(format!(
            "{batches} prepared batches for {ROWS} rows of {BATCH}"
        ));
    }
    let got = filled_print(db.client(), k);
    if got != (ROWS.to_string(), "0".to_string(), want.clone()) {
        return Err(format!(
            "after the prepared batches: {} rows at 1, {} not, md5 {} (want {want})\n{}",
            got.0, got.1, got.2, bf.batch_sql
        ));
    }
    Ok(())
}

/// Without a schema the key's type is read from the catalog (the
/// procedure declares it `%TYPE`), never assumed bigint; and a table whose
/// primary key is not the assumed `id` is stopped before any row is written.
#[test]
fn keyset_backfill_without_a_schema_reads_the_key_type_and_checks_the_key() {
    let opts = json!({"batch_size": BATCH, "batch_pause_ms": 0});
    let plan = plan_for(once_only("k_int_noschema"), None, opts.clone()).unwrap();
    let bf = plan.backfill.as_ref().unwrap();
    assert!(!bf.procedure_sql.contains("bigint"), "{}", bf.procedure_sql);
    let mut db = Db::new("noschema").unwrap();
    exec(
        db.client(),
        "CREATE TABLE k_int_noschema (id integer PRIMARY KEY, filled integer);
         INSERT INTO k_int_noschema (id) SELECT g * 3 FROM generate_series(1, 2345) AS g;
         CREATE TABLE k_text_noschema (code text PRIMARY KEY, id integer, filled integer);
         INSERT INTO k_text_noschema (code, id) SELECT 'c' || g, g % 10 FROM generate_series(1, 2345) AS g;",
    )
    .unwrap();
    exec(db.client(), &bf.procedure_sql).unwrap();
    exec(db.client(), &bf.call_sql).unwrap();
    let done = query_value(
        db.client(),
        "SELECT count(*) FROM k_int_noschema WHERE filled = 1",
    )
    .unwrap();
    assert_eq!(done.as_deref(), Some("2345"));
    // The prepared batch infers its parameter's type from the key column.
    exec(db.client(), "UPDATE k_int_noschema SET filled = NULL").unwrap();
    exec(db.client(), &bf.batch_sql).unwrap();
    let mut next = query_value(db.client(), &bf.first_key_query).unwrap();
    while let Some(v) = next {
        next = query_rows(
            db.client(),
            &format!("EXECUTE {}({})", bf.batch_name, literal(&v)),
        )
        .unwrap()
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten());
    }
    let done = query_value(
        db.client(),
        "SELECT count(*) FROM k_int_noschema WHERE filled = 1",
    )
    .unwrap();
    assert_eq!(done.as_deref(), Some("2345"));
    let drop = plan
        .phases
        .iter()
        .flat_map(|p| &p.forward)
        .find(|s| s.sql.starts_with("DROP PROCEDURE"))
        .unwrap();
    exec(db.client(), &drop.sql).unwrap();

    // A table keyed by `code` with a non-unique `id`: the procedure stops.
    let plan = plan_for(once_only("k_text_noschema"), None, opts).unwrap();
    let bf = plan.backfill.as_ref().unwrap();
    exec(db.client(), &bf.procedure_sql).unwrap();
    let err = exec(db.client(), &bf.call_sql).unwrap_err();
    assert!(
        err.contains("primary key of") && err.contains("plan again with the schema"),
        "{err}"
    );
    let touched = query_value(
        db.client(),
        "SELECT count(*) FROM k_text_noschema WHERE filled IS NOT NULL",
    )
    .unwrap();
    assert_eq!(touched.as_deref(), Some("0"));
}

/// A table without a primary key: refused, naming the change that adds one.
#[test]
fn keyset_backfill_without_a_primary_key_is_refused_with_the_fix() {
    let err = plan_for(
        once_only("nokey"),
        Some("CREATE TABLE nokey (code text NOT NULL, filled integer);"),
        json!({}),
    )
    .unwrap_err();
    assert!(
        err.contains("no primary key") && err.contains("add_primary_key"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Primary key integer -> bigint
// ---------------------------------------------------------------------------

fn key_schema(key: &str) -> String {
    format!(
        "CREATE TABLE accounts (id {key} PRIMARY KEY, name text NOT NULL);
CREATE TABLE invoices (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE, amount integer);
CREATE INDEX invoices_account_id_idx ON invoices (account_id);
CREATE TABLE notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, account_id integer, body text);
ALTER TABLE ONLY notes ADD CONSTRAINT notes_account_fk FOREIGN KEY (account_id) REFERENCES accounts(id);"
    )
}

const KEY_ROWS: &str = "
INSERT INTO accounts (name) SELECT 'account ' || g FROM generate_series(1, 1500) AS g;
INSERT INTO invoices (account_id, amount) SELECT 1 + g % 1500, g FROM generate_series(1, 3000) AS g;
INSERT INTO notes (account_id, body) SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 1500 END, 'note ' || g FROM generate_series(1, 1000) AS g;
ANALYZE;";

const WIDEN: &str = r#"{"change_type": "change_column_type", "table": "accounts", "column": "id", "from_type": "integer", "to_type": "bigint"}"#;

fn widen_plan(schema: Option<&str>) -> Result<Plan, String> {
    plan_for(
        serde_json::from_str(WIDEN).unwrap(),
        schema,
        json!({"batch_size": 400, "batch_pause_ms": 0, "lock_timeout_ms": 500, "lock_retries": 3}),
    )
}

fn run_steps(
    client: &mut Client,
    steps: &[schemashift::plan::Step],
    what: &str,
) -> Result<(), String> {
    for (i, s) in steps.iter().enumerate() {
        exec(client, &s.sql).map_err(|e| format!("{what} step {}: {e}\n{}", i + 1, s.sql))?;
    }
    Ok(())
}

fn run_checks(client: &mut Client, phase: &schemashift::plan::Phase) -> Result<(), String> {
    for c in &phase.validation {
        let got = query_value(client, &c.sql)
            .map_err(|e| format!("{} check `{}`: {e}", phase.id, c.sql))?;
        if got.as_deref() != Some(c.expect.as_str()) {
            return Err(format!(
                "{} check ({}) returned {got:?}, expected {}\n{}",
                phase.id, c.meaning, c.expect, c.sql
            ));
        }
    }
    Ok(())
}

/// Schema objects of public, one line each (as the plans' rollback proof
/// compares them), and every table's rows.
fn prints(client: &mut Client) -> Result<(Vec<String>, Vec<String>), String> {
    let queries = [
        "SELECT format('column %s.%s %s%s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
                CASE a.attidentity WHEN 'a' THEN ' ALWAYS IDENTITY' WHEN 'd' THEN ' IDENTITY' ELSE '' END)
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT format('constraint %s on %s: %s %s', conname, conrelid::regclass, pg_get_constraintdef(oid), convalidated)
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "SELECT format('index %s %s: %s', c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid))
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace",
        "SELECT format('trigger %s', tgname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
        "SELECT format('routine %s md5 %s', proname, md5(prosrc)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
        "SELECT format('sequence %s %s owned by %s', c.relname, format_type(s.seqtypid, -1),
                (SELECT a.attname FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.refobjsubid > 0 LIMIT 1))
         FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'public'::regnamespace",
    ];
    let mut schema = Vec::new();
    for q in queries {
        schema.extend(
            query_rows(client, q)?
                .into_iter()
                .map(|r| r[0].clone().unwrap_or_default()),
        );
    }
    schema.sort();
    let data = [
        "SELECT md5(string_agg(format('%s,%s', id, name), ';' ORDER BY id)) FROM accounts",
        "SELECT md5(string_agg(format('%s,%s,%s', id, account_id, amount), ';' ORDER BY id)) FROM invoices",
        "SELECT md5(string_agg(format('%s,%s,%s', id, account_id, body), ';' ORDER BY id)) FROM notes",
    ]
    .iter()
    .map(|q| query_value(client, q).map(Option::unwrap_or_default))
    .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, data))
}

/// App traffic between phases: a new account by its sequence or identity,
/// an invoice and a note pointing at it.
fn app_writes(client: &mut Client) -> Result<(), String> {
    exec(
        client,
        "WITH a AS (INSERT INTO accounts (name) VALUES ('live') RETURNING id)
         INSERT INTO invoices (account_id, amount) SELECT id, 1 FROM a;
         INSERT INTO notes (account_id, body) SELECT max(id), 'live' FROM accounts;",
    )
}

fn widen_case(label: &str, key: &str) -> Result<(), String> {
    let ddl = key_schema(key);
    let plan = widen_plan(Some(&ddl))?;
    let load = |label: &str| -> Result<Db, String> {
        let mut db = Db::new(label)?;
        exec(db.client(), &ddl)?;
        exec(db.client(), KEY_ROWS)?;
        Ok(db)
    };
    // Forward, with app writes after every phase.
    let mut db = load(&format!("{label}_fwd"))?;
    for ph in &plan.phases {
        run_steps(db.client(), &ph.forward, &ph.id)?;
        run_checks(db.client(), ph)?;
        app_writes(db.client()).map_err(|e| format!("app writes after {}: {e}", ph.id))?;
    }
    let c = db.client();
    let pk = query_value(c, "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] WHERE k.conrelid = 'accounts'::regclass AND k.contype = 'p' AND a.attname = 'id'")?;
    if pk.as_deref() != Some("bigint") {
        return Err(format!("after the plan the primary key type is {pk:?}"));
    }
    for (t, col) in [("invoices", "account_id"), ("notes", "account_id")] {
        let ty = query_value(c, &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = '{col}'"))?;
        if ty.as_deref() != Some("bigint") {
            return Err(format!("{t}.{col} is {ty:?} after the plan"));
        }
    }
    let fks = query_value(c, "SELECT count(*) FILTER (WHERE convalidated) || '/' || count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'accounts'::regclass")?;
    if fks.as_deref() != Some("2/2") {
        return Err(format!("validated/all foreign keys to accounts: {fks:?}"));
    }
    let (max, next) = (
        query_value(c, "SELECT max(id) FROM accounts")?.unwrap(),
        query_value(
            c,
            "INSERT INTO accounts (name) VALUES ('after') RETURNING id",
        )?
        .unwrap(),
    );
    if next.parse::<i64>().unwrap() != max.parse::<i64>().unwrap() + 1 {
        return Err(format!(
            "an insert after the plan got id {next}, max was {max}"
        ));
    }
    // The key is wide: a value past integer works, and the foreign keys hold.
    exec(c, "INSERT INTO accounts (id, name) VALUES (3000000000, 'wide'); INSERT INTO invoices (account_id, amount) VALUES (3000000000, 1);")?;
    if exec(
        c,
        "INSERT INTO invoices (account_id, amount) VALUES (2999999999, 1)",
    )
    .is_ok()
    {
        return Err(
            "an invoice for a missing account was accepted: the foreign key is gone".into(),
        );
    }
    drop(db);

    // Every rollback point: forward 0..=k, then the rollbacks k..=0.
    let mut points = 0;
    for k in 0..plan.phases.len() {
        let undoable = plan.phases[..=k]
            .iter()
            .all(|p| p.data_loss.is_none() && (!p.rollback.is_empty() || p.forward.is_empty()));
        if !undoable {
            continue;
        }
        points += 1;
        let mut db = load(&format!("{label}_rb{k}"))?;
        let start = prints(db.client())?;
        for ph in &plan.phases[..=k] {
            run_steps(db.client(), &ph.forward, &ph.id)?;
        }
        for ph in plan.phases[..=k].iter().rev() {
            run_steps(db.client(), &ph.rollback, &format!("{} rollback", ph.id))
                .map_err(|e| format!("rollback after {}: {e}", plan.phases[k].id))?;
        }
        let end = prints(db.client())?;
        if start != end {
            let missing: Vec<_> = start.0.iter().filter(|l| !end.0.contains(l)).collect();
            let extra: Vec<_> = end.0.iter().filter(|l| !start.0.contains(l)).collect();
            return Err(format!(
                "rollback after {}: schema missing {missing:#?}, left {extra:#?}; data equal: {}",
                plan.phases[k].id,
                start.1 == end.1
            ));
        }
        let (max, next) = (
            query_value(db.client(), "SELECT max(id) FROM accounts")?.unwrap(),
            query_value(
                db.client(),
                "INSERT INTO accounts (name) VALUES ('after') RETURNING id",
            )?
            .unwrap(),
        );
        if next.parse::<i64>().unwrap() != max.parse::<i64>().unwrap() + 1 {
            return Err(format!(
                "after the rollback from {} an insert got id {next}, max was {max}",
                plan.phases[k].id
            ));
        }
    }
    // Expand, backfill, validate and the swap can all be undone.
    if points != 4 {
        return Err(format!(
            "{points} rollback points in {:?}",
            plan.phases.iter().map(|p| &p.id).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

#[test]
fn primary_key_integer_to_bigint_with_identity() {
    widen_case("identity", "integer GENERATED BY DEFAULT AS IDENTITY").unwrap();
}

#[test]
fn primary_key_integer_to_bigint_with_serial() {
    widen_case("serial", "serial").unwrap();
}

/// Without a schema the key change is refused with the reason, and a plan
/// for another column of that table stops in the database, before any
/// change, when the column turns out to be the primary key.
#[test]
fn primary_key_type_change_without_a_schema_never_drops_the_key() {
    let err = widen_plan(None).unwrap_err();
    assert!(
        err.contains("primary key") && err.contains("schema"),
        "{err}"
    );
    let plan = plan_for(
        json!({"change_type": "change_column_type", "table": "codes", "column": "code", "from_type": "integer", "to_type": "bigint"}),
        None,
        json!({"batch_size": 400, "batch_pause_ms": 0}),
    )
    .unwrap();
    let mut db = Db::new("noschema_key").unwrap();
    exec(
        db.client(),
        "CREATE TABLE codes (code integer PRIMARY KEY, id integer, label text);
         INSERT INTO codes SELECT g, g, 'x' FROM generate_series(1, 100) AS g;",
    )
    .unwrap();
    let first = &plan.phases[0];
    let err = run_steps(db.client(), &first.forward, &first.id).unwrap_err();
    assert!(err.contains("would drop the key"), "{err}");
    let pk = query_value(
        db.client(),
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'codes'::regclass AND contype = 'p'",
    )
    .unwrap();
    assert_eq!(pk.as_deref(), Some("1"));
    let cols = query_value(
        db.client(),
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'codes'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .unwrap();
    assert_eq!(cols.as_deref(), Some("3"), "nothing was added");
}

// ---------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------

fn plan_for(change: Value, schema: Option<&str>, options: Value) -> Result<Plan, String> {
    let request = PlanRequest {
        input: ChangeInput {
            change: Some(serde_json::from_value(change).map_err(|e| e.to_string())?),
            ..ChangeInput::default()
        },
        context: Context {
            version: Some(shared().version),
            ..Context::default()
        },
        schema: schema.map(str::to_string),
        options: serde_json::from_value::<PlanOptions>(options).map_err(|e| e.to_string())?,
    };
    build_plan(&request).map_err(|e| e.to_string())
}

struct Shared {
    cluster: Mutex<Option<Cluster>>,
    version: u32,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Stops the shared cluster (statics are never dropped).
extern "C" fn stop_shared_cluster() {
    if let Some(Ok(shared)) = SHARED.get() {
        let mut guard = shared
            .cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(guard.take());
    }
}

fn shared() -> &'static Shared {
    let shared = SHARED.get_or_init(|| {
        let cluster = Cluster::start().map_err(|e| e.to_string())?;
        let version = cluster.version_major();
        // SAFETY: registers a plain `extern "C" fn()` with the C runtime; it
        // only takes the cluster out of its mutex and drops it.
        unsafe {
            atexit(stop_shared_cluster);
        }
        Ok(Shared {
            cluster: Mutex::new(Some(cluster)),
            version,
        })
    });
    match shared {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL is needed for these tests and could not be started:\n{e}"),
    }
}

fn connect(database: &str) -> Result<Client, String> {
    let url = {
        let guard = shared()
            .cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref().expect("running").url_for(database)
    };
    Client::connect(&url, NoTls).map_err(|e| format!("connecting to {database}: {e}"))
}

static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own, dropped with the value.
struct Db {
    name: String,
    client: Option<Client>,
}

impl Db {
    fn new(label: &str) -> Result<Db, String> {
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("keys{n}_{label}");
        exec(
            &mut connect("postgres")?,
            &format!("CREATE DATABASE {name}"),
        )?;
        Ok(Db {
            client: Some(connect(&name)?),
            name,
        })
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("open")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        drop(self.client.take());
        if let Ok(mut admin) = connect("postgres") {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn exec(client: &mut Client, sql: &str) -> Result<(), String> {
    client.batch_execute(sql).map_err(|e| pg_error(&e))
}

fn query_rows(client: &mut Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client.simple_query(sql).map_err(|e| pg_error(&e))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

fn query_row(client: &mut Client, sql: &str) -> Result<Vec<Option<String>>, String> {
    query_rows(client, sql)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no rows from {sql}"))
}

fn query_value(client: &mut Client, sql: &str) -> Result<Option<String>, String> {
    Ok(query_row(client, sql)?.into_iter().next().flatten())
}

fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {}){}",
            db.severity(),
            db.message(),
            db.code().code(),
            db.where_()
                .map(|w| format!("\n    WHERE: {w}"))
                .unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
