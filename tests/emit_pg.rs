//! The SQL migrations schemashift writes for Flyway, golang-migrate, dbmate,
//! sqlx, Diesel and Prisma, run on a real PostgreSQL the way each tool runs
//! them: each file (or dbmate section) sent as one simple-protocol query,
//! inside `BEGIN`/`COMMIT` when the tool opens a transaction for it and not
//! when the file is marked otherwise.
//!
//! For a rename plan (all stages) and an add-index plan, on each fixture
//! project (tests/fixtures/projects/<tool>) with its existing migrations
//! applied and 3000 rows loaded:
//!
//! 1. every up in order: the change is made and the data is right;
//! 2. for every k up to the first irreversible migration: ups 1..=k, then
//!    the downs k..=1 (or, for Prisma and Flyway Community, the rollback
//!    blocks written as comments), restore the schema and the rows exactly;
//! 3. the down of an irreversible migration refuses to run.
//!
//! Without PostgreSQL the test fails with the install instructions.

mod emit_support;

use emit_support::*;
use postgres::{Client, NoTls, SimpleQueryMessage};
use schemashift::cluster::Cluster;
use schemashift::detect::Tool;
use std::path::Path;

fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn exec(c: &mut Client, sql: &str) -> Result<(), String> {
    c.batch_execute(sql).map_err(|e| pg_error(&e))
}

/// Sends a file as the tool does: one query, in a transaction when `tx`.
fn run_file(c: &mut Client, sql: &str, tx: bool) -> Result<(), String> {
    if !tx {
        return exec(c, sql);
    }
    exec(c, "BEGIN")?;
    match exec(c, sql) {
        Ok(()) => exec(c, "COMMIT"),
        Err(e) => {
            let _ = exec(c, "ROLLBACK");
            Err(e)
        }
    }
}

fn values(c: &mut Client, sql: &str) -> Result<Vec<String>, String> {
    let msgs = c.simple_query(sql).map_err(|e| pg_error(&e))?;
    Ok(msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
            _ => None,
        })
        .collect())
}

/// The schema objects of `public` and a digest of the rows.
fn state(c: &mut Client) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for q in [
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
        "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
        "SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM users u",
    ] {
        out.extend(values(c, q)?);
    }
    Ok(out)
}

/// The fixture's existing up migrations, in order, with whether the tool
/// wraps each in a transaction.
fn existing_ups(tool: Tool, root: &Path) -> Vec<(String, bool)> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let sorted = |dir: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    match tool {
        Tool::Flyway => sorted(&root.join("sql"))
            .into_iter()
            .map(|p| (read(&p), true))
            .collect(),
        Tool::GolangMigrate => sorted(&root.join("migrations"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
            .map(|p| (read(&p), false))
            .collect(),
        Tool::Sqlx => sorted(&root.join("migrations"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
            .map(|p| (read(&p), true))
            .collect(),
        Tool::Dbmate => sorted(&root.join("db/migrations"))
            .into_iter()
            .map(|p| {
                let t = read(&p);
                let up = t[..t.find("-- migrate:down").unwrap()].to_string();
                (up, true)
            })
            .collect(),
        Tool::Diesel => sorted(&root.join("migrations"))
            .into_iter()
            .map(|d| (read(&d.join("up.sql")), true))
            .collect(),
        Tool::Prisma => sorted(&root.join("prisma/migrations"))
            .into_iter()
            .filter(|p| p.is_dir())
            .map(|d| (read(&d.join("migration.sql")), false))
            .collect(),
        t => panic!("{t} is not a SQL-file tool"),
    }
}

fn run_up(c: &mut Client, m: &SqlMigration) -> Result<(), String> {
    run_file(c, &m.up, m.up_tx).map_err(|e| format!("up {}: {e}", m.name))
}

fn run_down(c: &mut Client, m: &SqlMigration) -> Result<(), String> {
    match &m.down {
        Some(d) => run_file(c, d, m.down_tx).map_err(|e| format!("down {}: {e}", m.name)),
        None => {
            for b in &m.rollback {
                run_file(c, &b.sql, b.transaction)
                    .map_err(|e| format!("rollback block of {}: {e}", m.name))?;
            }
            Ok(())
        }
    }
}

fn irreversible(m: &SqlMigration) -> bool {
    match &m.down {
        Some(d) => d.contains("RAISE EXCEPTION USING MESSAGE = 'irreversible"),
        None => {
            m.up.contains("Rollback: none. This migration is irreversible")
        }
    }
}

struct Pg<'a> {
    cluster: &'a Cluster,
    counter: usize,
}

impl Pg<'_> {
    fn connect(&self, db: &str) -> Result<Client, String> {
        Client::connect(&self.cluster.url_for(db), NoTls).map_err(|e| pg_error(&e))
    }

    /// A new database copied from `template` (or empty).
    fn database(&mut self, template: Option<&str>) -> Result<String, String> {
        self.counter += 1;
        let name = format!("emit_{}", self.counter);
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        exec(&mut self.connect("postgres")?, &sql)?;
        Ok(name)
    }
}

fn case(pg: &mut Pg, tool_name: &str, plan_name: &str, request: &str) -> Result<(), String> {
    let tool = Tool::parse(tool_name).unwrap();
    let plan = build(request);
    let em = emit_all(tool_name, &plan);
    let migrations = sql_migrations(tool, &em);
    if migrations.is_empty() {
        return Err("no migrations".into());
    }

    // The project as it is: its migrations applied, rows loaded.
    let base = pg.database(None)?;
    let before = {
        let mut c = pg.connect(&base)?;
        for (sql, tx) in existing_ups(tool, &fixture(tool_name)) {
            run_file(&mut c, &sql, tx).map_err(|e| format!("existing migration: {e}"))?;
        }
        exec(
            &mut c,
            "INSERT INTO users (username, email) SELECT 'user' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'u' || g || '@example.com' END FROM generate_series(1, 3000) AS g; ANALYZE",
        )?;
        state(&mut c)?
    };

    // 1. Every up, in order.
    let db = pg.database(Some(&base))?;
    let mut c = pg.connect(&db)?;
    for m in &migrations {
        run_up(&mut c, m)?;
    }
    let check = match plan_name {
        "rename" => "SELECT count(*) FILTER (WHERE handle IS DISTINCT FROM 'user' || id) || '/' || count(*) || '/' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'username') FROM users",
        _ => "SELECT indisvalid::text || '/' || indisready::text FROM pg_index WHERE indexrelid = 'users_email_idx'::regclass",
    };
    let got = values(&mut c, check)?;
    let want = if plan_name == "rename" {
        "0/3000/0"
    } else {
        "true/true"
    };
    if got != [want] {
        return Err(format!(
            "after every up: {check} gave {got:?}, expected {want}"
        ));
    }
    // 3. An irreversible down refuses.
    if let Some(m) = migrations.iter().rev().find(|m| irreversible(m)) {
        if let Some(d) = &m.down {
            match run_file(&mut c, d, m.down_tx) {
                Err(e) if e.contains("irreversible") => {}
                other => return Err(format!("down of {} should refuse, got {other:?}", m.name)),
            }
        }
    }
    drop(c);

    // 2. Up to k, then back down.
    let reversible = migrations
        .iter()
        .position(irreversible)
        .unwrap_or(migrations.len());
    if reversible == 0 {
        return Err("no reversible migration".into());
    }
    for k in 1..=reversible {
        let db = pg.database(Some(&base))?;
        let mut c = pg.connect(&db)?;
        for m in &migrations[..k] {
            run_up(&mut c, m)?;
        }
        for m in migrations[..k].iter().rev() {
            run_down(&mut c, m)?;
        }
        let after = state(&mut c)?;
        if after != before {
            let diff: Vec<String> = after
                .iter()
                .filter(|l| !before.contains(l))
                .map(|l| format!("+ {l}"))
                .chain(
                    before
                        .iter()
                        .filter(|l| !after.contains(l))
                        .map(|l| format!("- {l}")),
                )
                .collect();
            return Err(format!(
                "up 1..={k} then down did not restore the schema and rows:\n{}",
                diff.join("\n")
            ));
        }
    }
    Ok(())
}

#[test]
fn emitted_sql_migrations_run_forward_and_back_on_postgres() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut pg = Pg {
        cluster: &cluster,
        counter: 0,
    };
    let mut failures = Vec::new();
    for tool in SQL_TOOLS {
        for (plan_name, request) in PLANS {
            match case(&mut pg, tool, plan_name, request) {
                Ok(()) => eprintln!("ok: {tool} {plan_name}"),
                Err(e) => failures.push(format!("{tool} {plan_name}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
