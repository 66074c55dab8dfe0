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
//! Drizzle's output runs the way its runbook says, stage by stage in a copy
//! of the fixture project: `drizzle-kit migrate` as drizzle's migrator does
//! it (every journal entry newer than the newest applied, statement by
//! statement as the breakpoints cut the files, all in one transaction) and
//! the psql scripts with the psql command their header gives, for a rename,
//! an index, a required column and a type change; then the rollback blocks,
//! newest first, restore the schema and the rows.
//!
//! Without PostgreSQL the test fails with the install instructions.

mod emit_support;

use emit_support::*;
use postgres::{Client, NoTls, SimpleQueryMessage};
use schemashift::cluster::Cluster;
use schemashift::detect::Tool;
use std::path::Path;
use std::process::Command;

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

/// The lines of a state that appeared (+) and went (-).
fn diff(before: &[String], after: &[String]) -> String {
    after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| format!("+ {l}"))
        .chain(
            before
                .iter()
                .filter(|l| !after.contains(l))
                .map(|l| format!("- {l}")),
        )
        .collect::<Vec<_>>()
        .join("\n")
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
            return Err(format!(
                "up 1..={k} then down did not restore the schema and rows:\n{}",
                diff(&before, &after)
            ));
        }
    }
    Ok(())
}

/// Starts a cluster, runs every case on it, and fails with every failure.
fn on_postgres<T>(
    cases: &[T],
    name: impl Fn(&T) -> String,
    run: impl Fn(&mut Pg, &T) -> Result<(), String>,
) {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut pg = Pg {
        cluster: &cluster,
        counter: 0,
    };
    let mut failures = Vec::new();
    for c in cases {
        match run(&mut pg, c) {
            Ok(()) => eprintln!("ok: {}", name(c)),
            Err(e) => failures.push(format!("{}: {e}", name(c))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn emitted_sql_migrations_run_forward_and_back_on_postgres() {
    let cases: Vec<(&str, &str, &str)> = SQL_TOOLS
        .iter()
        .flat_map(|t| PLANS.iter().map(move |(n, r)| (*t, *n, *r)))
        .collect();
    on_postgres(
        &cases,
        |(tool, plan_name, _)| format!("{tool} {plan_name}"),
        |pg, (tool, plan_name, request)| case(pg, tool, plan_name, request),
    );
}

// ---------------------------------------------------------------------------
// Drizzle
// ---------------------------------------------------------------------------

/// drizzle's migrator (`migrate()` in drizzle-orm's pg-core dialect): the
/// newest applied `created_at`, then every journal entry newer than it,
/// each piece between breakpoints sent alone through the extended protocol
/// (as postgres.js does, so a piece holding two statements fails) and
/// recorded, all in one transaction. Returns the tags it ran.
fn drizzle_migrate(c: &mut Client, project: &Path) -> Result<Vec<String>, String> {
    exec(
        c,
        "CREATE SCHEMA IF NOT EXISTS drizzle; CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
    )?;
    let last = values(
        c,
        "SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1",
    )?
    .first()
    .map(|v| v.parse::<u64>().unwrap());
    let todo = pending(project, DRIZZLE_OUT, last);
    let mut tx = c.transaction().map_err(|e| pg_error(&e))?;
    for m in &todo {
        for chunk in &m.chunks {
            tx.execute(chunk.as_str(), &[])
                .map_err(|e| format!("{}: {}", m.tag, pg_error(&e)))?;
        }
        tx.execute(
            "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (md5($1), $2)",
            &[&m.text, &(m.when as i64)],
        )
        .map_err(|e| pg_error(&e))?;
    }
    tx.commit().map_err(|e| pg_error(&e))?;
    Ok(todo.into_iter().map(|m| m.tag).collect())
}

/// Runs the psql command a script's header gives, from the project folder,
/// with DATABASE_URL pointing at `db`.
fn drizzle_psql(pg: &Pg, db: &str, project: &Path, script: &str) -> Result<(), String> {
    let command = script
        .lines()
        .find_map(|l| l.strip_prefix("--   psql "))
        .ok_or("no psql command in the header")?;
    let path = format!(
        "{}:{}",
        pg.cluster.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("psql {command}"))
        .current_dir(project)
        .env("DATABASE_URL", pg.cluster.url_for(db))
        .env("PATH", path)
        .output()
        .map_err(|e| format!("cannot run psql ({e}): install the PostgreSQL client"))?;
    if !out.status.success() {
        return Err(format!(
            "psql {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The Drizzle plans and what must hold once every stage has run.
const DRIZZLE_PLANS: [(&str, &str, &str); 4] = [
    (
        "rename users.username to handle",
        "SELECT count(*) FILTER (WHERE handle IS DISTINCT FROM 'user' || id) || '/' || count(*) || '/' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'username') FROM users",
        "0/3000/0",
    ),
    (
        "add index on users(email)",
        "SELECT indisvalid::text || '/' || indisready::text FROM pg_index WHERE indexrelid = 'users_email_idx'::regclass",
        "true/true",
    ),
    (
        "add non-null users.email_lower text from lower(username)",
        "SELECT count(*) FILTER (WHERE email_lower IS DISTINCT FROM lower(username)) || '/' || count(*) || '/' || (SELECT attnotnull::text FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email_lower') FROM users",
        "0/3000/true",
    ),
    (
        "change users.email from text to varchar(320)",
        // Narrowing keeps the old column authoritative and switches by
        // release: the converted values live on in `email_new`.
        "SELECT (SELECT data_type || '(' || character_maximum_length || ')' FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email_new') || '/' || count(*) FILTER (WHERE email_new IS DISTINCT FROM CASE WHEN id % 3 = 0 THEN NULL ELSE 'u' || id || '@example.com' END) || '/' || count(*) || '/' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email') FROM users",
        "character varying(320)/0/3000/0",
    ),
];

fn drizzle_case(pg: &mut Pg, request: &str, check: &str, want: &str) -> Result<(), String> {
    let project = temp_dir(&format!("drizzle-pg-{}", pg.counter));
    copy_tree(&fixture("drizzle"), &project);
    // The project as it is: its migrations applied by the migrator, rows loaded.
    let base = pg.database(None)?;
    let (before, applied) = {
        let mut c = pg.connect(&base)?;
        let ran = drizzle_migrate(&mut c, &project)?;
        exec(
            &mut c,
            "INSERT INTO users (username, email) SELECT 'user' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'u' || g || '@example.com' END FROM generate_series(1, 3000) AS g; ANALYZE",
        )?;
        (state(&mut c)?, ran.len())
    };
    // All stages on one copy; on another, the stages up to the first
    // irreversible file, to roll back.
    let (full, partial) = (pg.database(Some(&base))?, pg.database(Some(&base))?);
    let mut c = pg.connect(&full)?;
    let mut p = pg.connect(&partial)?;
    let mut reversible = true;
    let mut undo: Vec<String> = Vec::new();
    let mut new = 0;
    let pg_ref = &*pg;
    drizzle_rollout(&project, &build(request), |stage| {
        for f in &stage.emission.files {
            reversible &= !f
                .contents
                .contains("Rollback: none. This migration is irreversible");
        }
        for step in &stage.steps {
            match step {
                DrizzleStep::Migrate(listed) => {
                    let ran = drizzle_migrate(&mut c, &project)?;
                    let want: Vec<&String> = listed.iter().map(|m| &m.tag).collect();
                    if ran.iter().collect::<Vec<_>>() != want {
                        return Err(format!("migrate ran {ran:?}, the stage lists {want:?}"));
                    }
                    new += ran.len();
                    if reversible {
                        drizzle_migrate(&mut p, &project)?;
                        undo.extend(listed.iter().map(|m| m.text.clone()));
                    }
                }
                DrizzleStep::Psql(path, text) => {
                    drizzle_psql(pg_ref, &full, &project, text)
                        .map_err(|e| format!("{path}: {e}"))?;
                    if reversible {
                        drizzle_psql(pg_ref, &partial, &project, text)
                            .map_err(|e| format!("{path}: {e}"))?;
                        undo.push(text.clone());
                    }
                }
            }
        }
        Ok(())
    })?;
    let got = values(&mut c, check)?;
    if got != [want] {
        return Err(format!(
            "after every stage: {check} gave {got:?}, expected {want}"
        ));
    }
    let recorded = values(&mut c, "SELECT count(*) FROM drizzle.__drizzle_migrations")?;
    if recorded != [(applied + new).to_string()] {
        return Err(format!(
            "drizzle.__drizzle_migrations holds {recorded:?} rows, expected {}",
            applied + new
        ));
    }
    if undo.is_empty() {
        return Err("nothing reversible to roll back".into());
    }
    for text in undo.iter().rev() {
        for b in rollback_blocks(text) {
            run_file(&mut p, &b.sql, b.transaction).map_err(|e| format!("rollback: {e}"))?;
        }
    }
    let after = state(&mut p)?;
    if after != before {
        return Err(format!(
            "the rollback blocks did not restore the schema and rows:\n{}",
            diff(&before, &after)
        ));
    }
    std::fs::remove_dir_all(&project).unwrap();
    Ok(())
}

#[test]
fn drizzle_rollouts_run_stage_by_stage_on_postgres() {
    on_postgres(
        &DRIZZLE_PLANS,
        |(request, _, _)| format!("drizzle {request}"),
        |pg, (request, check, want)| drizzle_case(pg, request, check, want),
    );
}
