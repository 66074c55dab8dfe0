//! Hostile input never reaches a database as SQL: every name the planner is
//! given stays one name, every label one literal.
//!
//! A fixed-seed generator (tests/hostile_support) makes names out of quotes
//! of both kinds, `;`, comment markers, backslashes, the planner's own
//! dollar-quote tags, `format()` placeholders, look-alike letters, spaces,
//! upper case, 60-63 byte names, and payloads that drop or change a canary
//! object named `canary_drop_marker`. For every change type the planner
//! supports, those names fill every slot (table, column, new name, key,
//! index and constraint names, enum type and labels, referenced table), as
//! structured input, as SQL and as English where the form allows.
//!
//! 1. `every_plan_keeps_names_quoted` (no database): every statement of
//!    every plan, its backfill and its naive DDL (PostgreSQL and MySQL) is
//!    lexed; the marker may appear only inside a quoted name or a string
//!    literal (dollar-quoted bodies are lexed again as SQL). The SQL
//!    migration files written from the plans (dbmate, golang-migrate,
//!    Flyway, sqlx) are lexed whole: there the marker may also sit in a
//!    comment, but never become code.
//! 2. `hostile_plans_run_and_leave_canaries_alone`: on a real PostgreSQL,
//!    a fresh database per case holds canaries (tables with rows in
//!    `public` and a second schema, a function, an enum type) and the
//!    starting tables with the hostile names; every forward step, then the
//!    phase's rollback and its forward again, then its checks, run; every
//!    statement must succeed (or the plan be refused with a message) and
//!    the canaries' fingerprint must not change.
//! 3. `names_no_database_keeps_are_refused`: 64+ byte names and names with
//!    control characters are refused with the reason.
//!
//! `SCHEMASHIFT_HOSTILE_CASES=N` sets the seeds per change type: N on
//! PostgreSQL (default 2, about a minute), 10 N for the lexing test.

mod hostile_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hostile_support::*;
use postgres::{Client, NoTls, SimpleQueryMessage};
use schemashift::change::{ChangeInput, ChangeType};
use schemashift::classify::{classify_request, ClassifyRequest};
use schemashift::cluster::Cluster;
use schemashift::context::{Context, Engine};
use schemashift::detect::{detect, Tool};
use schemashift::emit::{emit, EmitOptions, StageKeyword, StageSelect};
use schemashift::plan::{build_plan, Plan, PlanOptions, PlanRequest};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

/// The hostile names of one case.
struct Names {
    /// Main table: key `id`, text `a` (unique), text `b` NOT NULL, integer
    /// `n`, enum `e` of type `ty`; index `ix` on `b`.
    t: String,
    id: String,
    a: String,
    b: String,
    n: String,
    e: String,
    ty: String,
    labels: Vec<String>,
    ix: String,
    /// One row per row of `t`: key `id2`, `fk` = `t.id`, text `c2`.
    t2: String,
    id2: String,
    fk: String,
    c2: String,
    /// No primary key: integer `k` NOT NULL.
    t3: String,
    k: String,
    /// Names for new things.
    new: Vec<String>,
}

fn names_for(seed: u64) -> Names {
    let mut rng = Rng::new(seed);
    let mut taken = Vec::new();
    let mut pick = |n: usize| names(&mut rng, n, &mut taken);
    let v = pick(16);
    let labels = pick(4);
    let new = pick(5);
    Names {
        t: v[0].clone(),
        id: v[1].clone(),
        a: v[2].clone(),
        b: v[3].clone(),
        n: v[4].clone(),
        e: v[5].clone(),
        // Every third case, a type name that ends a naively printed quoted
        // name: the schema's type is copied into new columns.
        ty: if seed.is_multiple_of(3) {
            cut(
                &format!("x\"; DROP TABLE canary_drop_marker; --{}", v[6]),
                MAX_BYTES,
            )
        } else {
            v[6].clone()
        },
        ix: v[7].clone(),
        t2: v[8].clone(),
        id2: v[9].clone(),
        fk: v[10].clone(),
        c2: v[11].clone(),
        t3: v[12].clone(),
        k: v[13].clone(),
        labels,
        new,
    }
}

const ROWS: u32 = 12;

/// The starting schema (also the planner's `schema`).
fn schema_ddl(n: &Names) -> String {
    let labels: Vec<String> = n.labels[..3].iter().map(|l| ql(l)).collect();
    format!(
        "CREATE TYPE {ty} AS ENUM ({labels});\n\
         CREATE TABLE {t} ({id} bigint PRIMARY KEY, {a} text, {b} text NOT NULL, {n} integer, {e} {ty});\n\
         CREATE INDEX {ix} ON {t} ({b});\n\
         CREATE TABLE {t2} ({id2} bigint PRIMARY KEY, {fk} bigint NOT NULL, {c2} text);\n\
         CREATE TABLE {t3} ({k} integer NOT NULL);\n",
        ty = qi(&n.ty),
        labels = labels.join(", "),
        t = qi(&n.t),
        id = qi(&n.id),
        a = qi(&n.a),
        b = qi(&n.b),
        n = qi(&n.n),
        e = qi(&n.e),
        ix = qi(&n.ix),
        t2 = qi(&n.t2),
        id2 = qi(&n.id2),
        fk = qi(&n.fk),
        c2 = qi(&n.c2),
        t3 = qi(&n.t3),
        k = qi(&n.k),
    )
}

fn rows_sql(n: &Names) -> String {
    format!(
        "INSERT INTO {t} SELECT g, 'a' || g, 'b' || g, g, {l0} FROM generate_series(1, {ROWS}) AS g;\n\
         INSERT INTO {t2} SELECT g, g, 'c' || g FROM generate_series(1, {ROWS}) AS g;\n\
         INSERT INTO {t3} SELECT g FROM generate_series(1, {ROWS}) AS g;\n",
        t = qi(&n.t),
        t2 = qi(&n.t2),
        t3 = qi(&n.t3),
        l0 = ql(&n.labels[0]),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    Structured,
    Sql,
    English,
}

/// The change in every form that can state it.
fn inputs(kind: ChangeType, n: &Names) -> Vec<(Form, ChangeInput)> {
    let (t, a, b, nn, t2, t3) = (qi(&n.t), qi(&n.a), qi(&n.b), qi(&n.n), qi(&n.t2), qi(&n.t3));
    let x = &n.new;
    let (x0, x1, x2) = (qi(&x[0]), qi(&x[1]), qi(&x[2]));
    let structured: Value = match kind {
        ChangeType::AddColumn => {
            json!({"change_type": "add_column", "table": t, "column": x0, "data_type": "text", "default": ql(&x[1])})
        }
        ChangeType::AddNotNullColumn => {
            json!({"change_type": "add_not_null_column", "table": t, "column": x0, "data_type": "text", "fill": {"kind": "expression", "expression": format!("coalesce({a}, {})", ql(&x[1]))}})
        }
        ChangeType::DropColumn => json!({"change_type": "drop_column", "table": t, "column": a}),
        ChangeType::RenameColumn => {
            json!({"change_type": "rename_column", "table": t, "column": a, "new_name": x0})
        }
        ChangeType::ChangeColumnType => {
            json!({"change_type": "change_column_type", "table": t, "column": nn, "to_type": "bigint"})
        }
        ChangeType::SetNotNull => json!({"change_type": "set_not_null", "table": t, "column": a}),
        ChangeType::DropNotNull => json!({"change_type": "drop_not_null", "table": t, "column": b}),
        ChangeType::SetDefault => {
            json!({"change_type": "set_default", "table": t, "column": a, "default": ql(&x[1])})
        }
        ChangeType::AddIndex => {
            json!({"change_type": "add_index", "table": t, "columns": [a, format!("lower({b})")], "name": x0, "predicate": format!("{nn} > 0 AND {a} <> {}", ql(&x[1]))})
        }
        ChangeType::DropIndex => {
            json!({"change_type": "drop_index", "name": qi(&n.ix), "table": t})
        }
        ChangeType::AddUniqueConstraint => {
            json!({"change_type": "add_unique_constraint", "table": t, "columns": [a], "name": x0})
        }
        ChangeType::AddPrimaryKey => {
            json!({"change_type": "add_primary_key", "table": t3, "columns": [qi(&n.k)], "name": x0})
        }
        ChangeType::AddForeignKey => {
            json!({"change_type": "add_foreign_key", "table": t2, "columns": [qi(&n.fk)], "references_table": t, "references_columns": [qi(&n.id)], "name": x0, "on_delete": "cascade"})
        }
        ChangeType::AddCheckConstraint => {
            json!({"change_type": "add_check_constraint", "table": t, "expression": format!("{nn} >= 0 AND {a} <> {}", ql(&x[1])), "name": x0})
        }
        // The default split (comma-separated parts) is the one the sync
        // trigger can turn back into the old column.
        ChangeType::SplitColumn => {
            json!({"change_type": "split_column", "table": t, "column": a, "into": [
            {"name": x0, "data_type": "text"},
            {"name": x1}]})
        }
        ChangeType::MergeColumns => {
            json!({"change_type": "merge_columns", "table": t, "columns": [a, b], "into": x0, "data_type": "text"})
        }
        ChangeType::MoveColumn => {
            json!({"change_type": "move_column", "column": a, "from_table": t, "to_table": t2, "key": qi(&n.fk)})
        }
        ChangeType::SplitTable => {
            json!({"change_type": "split_table", "table": t, "new_table": x0, "columns": [a, nn], "key": x1})
        }
        ChangeType::MergeTables => {
            json!({"change_type": "merge_tables", "table": t, "other": t2, "columns": [qi(&n.c2)], "key": qi(&n.fk)})
        }
        ChangeType::RenameTable => {
            json!({"change_type": "rename_table", "table": t, "new_name": x0})
        }
        ChangeType::DropTable => json!({"change_type": "drop_table", "table": t3}),
        ChangeType::CreateTable => json!({"change_type": "create_table", "table": x0, "columns": [
            {"name": x1, "data_type": "bigint", "primary_key": true},
            {"name": x2, "data_type": "text", "not_null": true, "default": ql(&x[3])}]}),
        ChangeType::EnumChange => {
            json!({"change_type": "enum_change", "type_name": qi(&n.ty), "operation": {"op": "rename_value", "from": n.labels[0], "to": n.labels[3]}})
        }
        ChangeType::BackfillOnly => {
            json!({"change_type": "backfill_only", "table": t, "column": a, "fill": {"kind": "expression", "expression": format!("upper({a})")}, "predicate": format!("{nn} > 0")})
        }
    };
    let mut out = vec![(
        Form::Structured,
        ChangeInput {
            change: Some(
                serde_json::from_value(structured).expect("the case's change JSON parses"),
            ),
            ..ChangeInput::default()
        },
    )];
    if kind == ChangeType::RenameColumn {
        // The new column copies the type of the old from the schema: here
        // the enum type with its hostile name.
        let e =
            json!({"change_type": "rename_column", "table": t, "column": qi(&n.e), "new_name": x1});
        out.push((
            Form::Structured,
            ChangeInput {
                change: Some(serde_json::from_value(e).expect("the case's change JSON parses")),
                ..ChangeInput::default()
            },
        ));
    }
    let sql = match kind {
        ChangeType::AddColumn => Some(format!("ALTER TABLE {t} ADD COLUMN {x0} text DEFAULT {};", ql(&x[1]))),
        ChangeType::AddNotNullColumn => Some(format!("ALTER TABLE {t} ADD COLUMN {x0} text NOT NULL DEFAULT {};", ql(&x[1]))),
        ChangeType::DropColumn => Some(format!("ALTER TABLE {t} DROP COLUMN {a};")),
        ChangeType::RenameColumn => Some(format!("ALTER TABLE {t} RENAME COLUMN {a} TO {x0};")),
        ChangeType::ChangeColumnType => Some(format!("ALTER TABLE {t} ALTER COLUMN {nn} TYPE bigint;")),
        ChangeType::SetNotNull => Some(format!("ALTER TABLE {t} ALTER COLUMN {a} SET NOT NULL;")),
        ChangeType::DropNotNull => Some(format!("ALTER TABLE {t} ALTER COLUMN {b} DROP NOT NULL;")),
        ChangeType::SetDefault => Some(format!("ALTER TABLE {t} ALTER COLUMN {a} SET DEFAULT {};", ql(&x[1]))),
        ChangeType::AddIndex => Some(format!("CREATE INDEX {x0} ON {t} ({a});")),
        ChangeType::DropIndex => Some(format!("DROP INDEX {};", qi(&n.ix))),
        ChangeType::AddUniqueConstraint => Some(format!("ALTER TABLE {t} ADD CONSTRAINT {x0} UNIQUE ({a});")),
        ChangeType::AddPrimaryKey => Some(format!("ALTER TABLE {t3} ADD PRIMARY KEY ({});", qi(&n.k))),
        ChangeType::AddForeignKey => Some(format!("ALTER TABLE {t2} ADD CONSTRAINT {x0} FOREIGN KEY ({}) REFERENCES {t} ({});", qi(&n.fk), qi(&n.id))),
        ChangeType::AddCheckConstraint => Some(format!("ALTER TABLE {t} ADD CONSTRAINT {x0} CHECK ({nn} >= 0);")),
        ChangeType::MergeColumns => Some(format!("ALTER TABLE {t} ADD COLUMN {x0} text;\nUPDATE {t} SET {x0} = {a} || ' ' || {b};\nALTER TABLE {t} DROP COLUMN {a}, DROP COLUMN {b};")),
        ChangeType::RenameTable => Some(format!("ALTER TABLE {t} RENAME TO {x0};")),
        ChangeType::DropTable => Some(format!("DROP TABLE {t3};")),
        ChangeType::CreateTable => Some(format!("CREATE TABLE {x0} ({x1} bigint PRIMARY KEY, {x2} text);")),
        ChangeType::EnumChange => Some(format!("ALTER TYPE {} ADD VALUE {} AFTER {};", qi(&n.ty), ql(&n.labels[3]), ql(&n.labels[1]))),
        ChangeType::BackfillOnly => Some(format!("UPDATE {t} SET {a} = upper({a});")),
        _ => None,
    };
    if let Some(s) = sql {
        out.push((Form::Sql, ChangeInput::from_sql(s)));
    }
    let english = match kind {
        ChangeType::AddColumn => Some(format!("add column {t}.{x0} text")),
        ChangeType::DropColumn => Some(format!("drop column {t}.{a}")),
        ChangeType::RenameColumn => Some(format!("rename {t}.{a} to {x0}")),
        ChangeType::ChangeColumnType => Some(format!("change {t}.{nn} from integer to bigint")),
        ChangeType::SetNotNull => Some(format!("make {t}.{a} required")),
        ChangeType::DropNotNull => Some(format!("make {t}.{b} optional")),
        ChangeType::AddIndex => Some(format!("add index on {t}.{a}")),
        ChangeType::DropIndex => Some(format!("drop index {}", qi(&n.ix))),
        ChangeType::RenameTable => Some(format!("rename table {t} to {x0}")),
        ChangeType::DropTable => Some(format!("drop table {t3}")),
        ChangeType::BackfillOnly => Some(format!("backfill {t}.{a} with upper({a})")),
        _ => None,
    };
    if let Some(e) = english {
        out.push((Form::English, ChangeInput::from_request(e)));
    }
    out
}

fn plan_for(input: &ChangeInput, n: &Names, version: u32) -> Result<Plan, String> {
    let request = PlanRequest {
        input: input.clone(),
        context: Context {
            version: Some(version),
            rows: Some(u64::from(ROWS)),
            ..Context::default()
        },
        schema: Some(schema_ddl(n)),
        options: PlanOptions::default(),
    };
    build_plan(&request).map_err(|e| e.to_string())
}

/// Every piece of SQL a plan holds, with where it is.
fn plan_sql(plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ph in &plan.phases {
        for (i, s) in ph.forward.iter().enumerate() {
            out.push((format!("{} forward {}", ph.id, i + 1), s.sql.clone()));
        }
        for (i, s) in ph.rollback.iter().enumerate() {
            out.push((format!("{} rollback {}", ph.id, i + 1), s.sql.clone()));
        }
        for (i, c) in ph.validation.iter().enumerate() {
            out.push((format!("{} check {}", ph.id, i + 1), c.sql.clone()));
        }
    }
    if let Some(b) = &plan.backfill {
        for (what, sql) in [
            ("procedure", &b.procedure_sql),
            ("call", &b.call_sql),
            ("batch", &b.batch_sql),
            ("first key", &b.first_key_query),
            ("progress", &b.progress_query),
            ("completion", &b.completion_query),
        ] {
            out.push((format!("backfill {what}"), sql.clone()));
        }
    }
    for (i, l) in plan.classification.lock.iter().enumerate() {
        out.push((format!("naive statement {}", i + 1), l.statement.clone()));
    }
    out
}

fn seeds(default: u64) -> u64 {
    std::env::var("SCHEMASHIFT_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// 1. Static: every statement lexed
// ---------------------------------------------------------------------------

#[test]
fn every_plan_keeps_names_quoted() {
    let mut failures = Vec::new();
    let (mut plans, mut refused, mut statements) =
        (0, BTreeMap::<String, (usize, String)>::new(), 0);
    for kind in ChangeType::ALL {
        // Lexing is cheap: ten times the seeds of the PostgreSQL run.
        for seed in 0..seeds(2) * 10 {
            let n = names_for(seed * 1000 + kind as u64);
            for (form, input) in inputs(kind, &n) {
                for version in [12, 17] {
                    match plan_for(&input, &n, version) {
                        Ok(plan) => {
                            plans += 1;
                            for (at, sql) in plan_sql(&plan) {
                                statements += 1;
                                for v in violations(&sql, Dialect::Postgres) {
                                    failures.push(format!("{kind} {form:?} seed {seed} PG {version}, {at}: {v}\n  SQL: {sql}"));
                                }
                            }
                        }
                        Err(e) => {
                            assert!(!e.trim().is_empty(), "{kind} {form:?}: empty refusal");
                            refused
                                .entry(format!("{kind} {form:?}"))
                                .or_insert((0, e))
                                .0 += 1;
                        }
                    }
                }
                // MySQL: the naive statements use backticks and MySQL literals.
                let request = ClassifyRequest {
                    input: input.clone(),
                    context: Context {
                        engine: Engine::Mysql,
                        ..Context::default()
                    },
                };
                if let Ok(c) = classify_request(&request) {
                    for l in &c.lock {
                        statements += 1;
                        for v in violations(&l.statement, Dialect::Mysql) {
                            failures.push(format!(
                                "{kind} {form:?} seed {seed} MySQL naive statement: {v}\n  SQL: {}",
                                l.statement
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!("lexed {statements} statements of {plans} plans; refused: {refused:?}");
    // The SQL migration files written from the plans, lexed whole.
    let empty = std::env::temp_dir().join(format!("schemashift-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let detection = detect(&empty).unwrap();
    let (mut files, mut tool_refusals) = (0, 0);
    for kind in ChangeType::ALL {
        for seed in 0..seeds(2) * 2 {
            let n = names_for(seed * 1000 + kind as u64);
            for (form, input) in inputs(kind, &n) {
                let Ok(plan) = plan_for(&input, &n, 17) else {
                    continue;
                };
                for tool in [Tool::Dbmate, Tool::GolangMigrate, Tool::Flyway, Tool::Sqlx] {
                    let options = EmitOptions {
                        tool: Some(tool),
                        stage: Some(StageSelect::Keyword(StageKeyword::All)),
                        now: Some(1_767_225_600),
                        ..EmitOptions::default()
                    };
                    match emit(&plan, &detection, &options) {
                        Ok(em) => {
                            for f in em.files.iter().filter(|f| f.path.ends_with(".sql")) {
                                files += 1;
                                for v in code_violations(&f.contents) {
                                    failures.push(format!(
                                        "{kind} {form:?} seed {seed} {tool} {}: {v}\n{}",
                                        f.path, f.contents
                                    ));
                                }
                            }
                        }
                        Err(e) => {
                            assert!(
                                e.to_string().contains("write it with"),
                                "{kind} {form:?} {tool}: {e}"
                            );
                            tool_refusals += 1;
                        }
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&empty);
    eprintln!("lexed {files} migration files; {tool_refusals} emission(s) refused for the tool's own syntax");
    assert!(
        failures.is_empty(),
        "{} violation(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 3. Names no database keeps
// ---------------------------------------------------------------------------

#[test]
fn names_no_database_keeps_are_refused() {
    let long = format!("{}é", "x".repeat(62)); // 64 bytes
    let cases = [
        (long.clone(), "63-byte"),
        ("x".repeat(64), "63-byte"),
        ("a\0b".to_string(), "control character"),
        (
            "a\nb; DROP TABLE canary_drop_marker".to_string(),
            "control character",
        ),
        ("a\rb".to_string(), "control character"),
        ("a\u{1b}[31mb".to_string(), "control character"),
        ("a\u{85}b".to_string(), "control character"),
    ];
    for (name, why) in &cases {
        for (slot, change) in [
            (
                "table",
                json!({"change_type": "rename_column", "table": qi(name), "column": "a", "new_name": "b"}),
            ),
            (
                "column",
                json!({"change_type": "rename_column", "table": "t", "column": qi(name), "new_name": "b"}),
            ),
            (
                "new name",
                json!({"change_type": "rename_column", "table": "t", "column": "a", "new_name": qi(name)}),
            ),
            (
                "index name",
                json!({"change_type": "add_index", "table": "t", "columns": ["a"], "name": qi(name)}),
            ),
            (
                "enum type",
                json!({"change_type": "enum_change", "type_name": qi(name), "operation": {"op": "add_value", "value": "v"}}),
            ),
        ] {
            let input = ChangeInput {
                change: Some(serde_json::from_value(change).unwrap()),
                ..ChangeInput::default()
            };
            let err = build_plan(&PlanRequest {
                input,
                ..PlanRequest::default()
            })
            .expect_err(&format!("{slot} {name:?} must be refused"));
            assert!(err.to_string().contains(why), "{slot} {name:?}: {err}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. On PostgreSQL
// ---------------------------------------------------------------------------

/// Canaries: what a payload would drop or change.
const CANARIES: &str = "
CREATE SCHEMA other_schema;
CREATE TABLE public.canary_drop_marker (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO public.canary_drop_marker SELECT g, 'public ' || g FROM generate_series(1, 5) AS g;
CREATE TABLE other_schema.canary_drop_marker (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO other_schema.canary_drop_marker SELECT g, 'other ' || g FROM generate_series(1, 5) AS g;
CREATE FUNCTION public.canary_drop_marker() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;
CREATE TYPE public.canary_drop_marker_t AS ENUM ('one', 'two');
";

/// Everything about the canaries and the database's objects outside the
/// case's own tables: each part is its own query, so a dropped canary shows
/// as that part's error.
const FINGERPRINT: &[&str] = &[
    "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace",
    "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles",
    "SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind, ',' ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'other_schema' OR c.relname LIKE 'canary%'",
    "SELECT string_agg(attrelid::regclass || '.' || attname || ':' || format_type(atttypid, atttypmod) || ':' || attnotnull, ',' ORDER BY 1) FROM pg_attribute WHERE attnum > 0 AND attrelid IN ('public.canary_drop_marker'::regclass, 'other_schema.canary_drop_marker'::regclass)",
    "SELECT string_agg(proname || ':' || prosrc, ',' ORDER BY 1) FROM pg_proc WHERE proname LIKE 'canary%' OR pronamespace = 'other_schema'::regnamespace",
    "SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'public.canary_drop_marker_t'::regtype",
    "SELECT string_agg(t::text, ',' ORDER BY id) FROM public.canary_drop_marker AS t",
    "SELECT string_agg(t::text, ',' ORDER BY id) FROM other_schema.canary_drop_marker AS t",
    "SELECT public.canary_drop_marker()",
    "SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid IN ('public.canary_drop_marker'::regclass, 'other_schema.canary_drop_marker'::regclass)",
];

fn fingerprint(client: &mut Client) -> Vec<String> {
    FINGERPRINT
        .iter()
        .map(|q| match query_value(client, q) {
            Ok(v) => format!("{q} => {v:?}"),
            Err(e) => format!("{q} => error {e}"),
        })
        .collect()
}

#[test]
fn hostile_plans_run_and_leave_canaries_alone() {
    let cluster = Cluster::start().unwrap_or_else(|e| {
        panic!("PostgreSQL is needed for this test and could not be started:\n{e}")
    });
    let version = cluster.version_major();
    let url = |db: &str| cluster.url_for(db);
    let mut admin = Client::connect(&url("postgres"), NoTls).expect("connect");
    admin
        .batch_execute("CREATE DATABASE hostile_template")
        .expect("template");
    {
        let mut tpl = Client::connect(&url("hostile_template"), NoTls).expect("connect");
        tpl.batch_execute(CANARIES).expect("canaries");
    }
    let mut failures = Vec::new();
    let mut ran = BTreeMap::<String, usize>::new();
    let mut refused = BTreeMap::<String, Vec<String>>::new();
    let (mut cases, mut statements) = (0usize, 0usize);
    let started = std::time::Instant::now();
    for kind in ChangeType::ALL {
        for seed in 0..seeds(2) {
            let n = names_for(seed * 1000 + kind as u64);
            for (form, input) in inputs(kind, &n) {
                let label = format!("{kind} {form:?} seed {seed}");
                let plan = match plan_for(&input, &n, version) {
                    Ok(p) => p,
                    Err(e) => {
                        assert!(!e.trim().is_empty(), "{label}: empty refusal");
                        refused
                            .entry(format!("{kind} {form:?}"))
                            .or_default()
                            .push(e);
                        continue;
                    }
                };
                cases += 1;
                let db = format!("hostile_{cases}");
                admin
                    .batch_execute(&format!("CREATE DATABASE {db} TEMPLATE hostile_template"))
                    .expect("create database");
                let result = (|| -> Result<usize, String> {
                    let mut client = Client::connect(&url(&db), NoTls).map_err(|e| pg_error(&e))?;
                    exec(&mut client, &schema_ddl(&n)).map_err(|e| format!("setup: {e}"))?;
                    exec(&mut client, &rows_sql(&n)).map_err(|e| format!("setup rows: {e}"))?;
                    let before = fingerprint(&mut client);
                    let count = run_plan(&mut client, &plan);
                    let after = fingerprint(&mut client);
                    if before != after {
                        let diff: Vec<String> = before
                            .iter()
                            .zip(&after)
                            .filter(|(b, a)| b != a)
                            .map(|(b, a)| format!("    before: {b}\n    after:  {a}"))
                            .collect();
                        return Err(format!("the canaries changed:\n{}", diff.join("\n")));
                    }
                    count
                })();
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
                match result {
                    Ok(c) => {
                        statements += c;
                        *ran.entry(format!("{kind}")).or_default() += 1;
                    }
                    Err(e) => failures.push(format!(
                        "[{label}] names {:?}\n  {e}",
                        [&n.t, &n.id, &n.a, &n.b, &n.n, &n.ty, &n.new[0]]
                    )),
                }
            }
        }
    }
    let summary = format!(
        "PostgreSQL {version}: {cases} hostile plan(s) run, {statements} statement(s), {} failure(s), in {:.1} s; refused: {:?}",
        failures.len(),
        started.elapsed().as_secs_f64(),
        refused.iter().map(|(k, v)| (k, v.len())).collect::<BTreeMap<_, _>>()
    );
    eprintln!("{summary}");
    for (k, v) in &refused {
        eprintln!("  refused {k}: {}", v[0]);
    }
    drop(admin);
    drop(cluster);
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n\n"));
    // Every change type ran at least once on PostgreSQL.
    for kind in ChangeType::ALL {
        assert!(
            ran.contains_key(&kind.to_string()),
            "{kind} never ran: {summary}"
        );
    }
}

/// Every phase: forward, then (when it has one and loses no data) its
/// rollback and the forward again, the backfill's prepared batch, then the
/// checks. Returns how many statements ran.
fn run_plan(client: &mut Client, plan: &Plan) -> Result<usize, String> {
    let mut count = 0;
    let mut run = |client: &mut Client, what: String, sql: &str| -> Result<(), String> {
        count += 1;
        exec(client, sql).map_err(|e| format!("{what} failed: {e}\n  SQL:\n{sql}"))
    };
    for ph in &plan.phases {
        for (i, s) in ph.forward.iter().enumerate() {
            run(client, format!("{} forward {}", ph.id, i + 1), &s.sql)?;
        }
        if !ph.rollback.is_empty() && ph.data_loss.is_none() {
            for (i, s) in ph.rollback.iter().enumerate() {
                run(client, format!("{} rollback {}", ph.id, i + 1), &s.sql)?;
            }
            for (i, s) in ph.forward.iter().enumerate() {
                run(
                    client,
                    format!("{} forward {} (after the rollback)", ph.id, i + 1),
                    &s.sql,
                )?;
            }
        }
        if let (Some(b), "backfill") = (&plan.backfill, ph.kind.as_str()) {
            let first = query_value(client, &b.first_key_query).map_err(|e| {
                format!("first key query failed: {e}\n  SQL: {}", b.first_key_query)
            })?;
            let arg = first.map_or("NULL".to_string(), |v| ql(&v));
            let batch = format!(
                "{}\nEXECUTE {}({arg});\nDEALLOCATE {};",
                b.batch_sql, b.batch_name, b.batch_name
            );
            run(client, "the prepared batch".into(), &batch)?;
            let left = query_value(client, &b.completion_query).map_err(|e| {
                format!(
                    "completion query failed: {e}\n  SQL: {}",
                    b.completion_query
                )
            })?;
            if left.as_deref() != Some("0") {
                return Err(format!(
                    "the completion query returns {left:?}, not 0\n  SQL: {}",
                    b.completion_query
                ));
            }
        }
        for c in &ph.validation {
            let got = query_value(client, &c.sql).map_err(|e| {
                format!(
                    "{} check `{}` failed: {e}\n  SQL: {}",
                    ph.id, c.meaning, c.sql
                )
            })?;
            if got.as_deref() != Some(c.expect.as_str()) {
                return Err(format!(
                    "{} check `{}` returned {got:?}, not {:?}\n  SQL: {}",
                    ph.id, c.meaning, c.expect, c.sql
                ));
            }
        }
    }
    Ok(count)
}

// ---------------------------------------------------------------------------
// PostgreSQL plumbing
// ---------------------------------------------------------------------------

/// Sends `sql` as one simple-protocol query (no transaction added).
fn exec(client: &mut Client, sql: &str) -> Result<(), String> {
    client.batch_execute(sql).map_err(|e| pg_error(&e))
}

/// First column of the first row, as text (None for NULL).
fn query_value(client: &mut Client, sql: &str) -> Result<Option<String>, String> {
    let messages = client.simple_query(sql).map_err(|e| pg_error(&e))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        })
        .ok_or_else(|| "the query returned no rows".to_string())
}

fn pg_error(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(w) = db.where_() {
        let _ = write!(s, "\n    WHERE: {w}");
    }
    s
}

/// Every hostile name, written as a literal by the quoting layer, reads back
/// as exactly that name with standard_conforming_strings on and off: a
/// backslash can never end a string early under either setting.
#[test]
fn literals_read_back_exactly_under_either_string_setting() {
    let cluster = Cluster::start().unwrap_or_else(|e| {
        panic!("PostgreSQL is needed for this test and could not be started:\n{e}")
    });
    let mut client = Client::connect(&cluster.url_for("postgres"), NoTls).expect("connect");
    let mut checked = 0;
    let mut with_backslash = 0;
    for seed in 0..40 {
        let n = names_for(seed);
        let mut all = vec![n.t, n.id, n.a, n.b, n.ty, n.ix, n.t2, n.fk, n.k];
        all.extend(n.labels);
        all.extend(n.new);
        all.push("ends in a backslash \\".into());
        for name in all {
            with_backslash += usize::from(name.contains('\\'));
            for setting in ["on", "off"] {
                client
                    .batch_execute(&format!("SET standard_conforming_strings = {setting}"))
                    .unwrap();
                let sql = format!("SELECT {}::text", schemashift::ident::literal_pg(&name));
                let got: String = client
                    .query_one(sql.as_str(), &[])
                    .unwrap_or_else(|e| {
                        panic!("{sql} (standard_conforming_strings {setting}): {e}")
                    })
                    .get(0);
                assert_eq!(got, name, "{sql} (standard_conforming_strings {setting})");
                checked += 1;
            }
        }
    }
    assert!(
        with_backslash > 40,
        "too few names with a backslash: {with_backslash}"
    );
    eprintln!("{checked} literals read back, {with_backslash} names with a backslash");
}
