//! Shared by tests/emit.rs and tests/emit_pg.rs: the fixture projects, the
//! plans, and the emitted SQL-file migrations read back the way each tool
//! reads them (what it sends to PostgreSQL, and whether it opens a
//! transaction around it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use schemashift::change::ChangeInput;
use schemashift::detect::{detect, Tool};
use schemashift::emit::{emit, write_emission, Emission, EmitOptions, StageKeyword, StageSelect};
use schemashift::plan::{build_plan, Plan, PlanRequest};

/// 2026-01-01 00:00:00 UTC: timestamps in snapshots start here.
pub const NOW: u64 = 1_767_225_600;

/// The two plans every tool is shown with.
pub const PLANS: [(&str, &str); 2] = [
    ("rename", "rename users.username to handle"),
    ("add_index", "add index on users(email)"),
];

/// The fixture projects schemashift writes migrations for in one call per
/// plan (Drizzle writes a stage per call: see [`drizzle_rollout`]).
pub const TOOLS: [&str; 12] = [
    "rails",
    "django",
    "alembic",
    "prisma",
    "knex",
    "typeorm",
    "sequelize",
    "flyway",
    "golang-migrate",
    "dbmate",
    "sqlx",
    "diesel",
];

pub const SQL_TOOLS: [&str; 6] = [
    "flyway",
    "golang-migrate",
    "dbmate",
    "sqlx",
    "diesel",
    "prisma",
];

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

pub fn build(request: &str) -> Plan {
    build_plan(&PlanRequest {
        input: ChangeInput::from_request(request.to_string()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{request}: {e}"))
}

/// Every stage of `plan` for the fixture project `name`, from [`NOW`].
pub fn emit_all(name: &str, plan: &Plan) -> Emission {
    let detection = detect(&fixture(name)).unwrap();
    emit(
        plan,
        &detection,
        &EmitOptions {
            stage: Some(StageSelect::Keyword(StageKeyword::All)),
            now: Some(NOW),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fresh empty folder under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("schemashift-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// One block of a rollback written as comments (Prisma, Flyway without
/// undo, sqlx without down files): its SQL and whether it runs in a
/// transaction.
#[derive(Debug, Clone)]
pub struct Block {
    pub transaction: bool,
    pub sql: String,
}

/// One SQL migration as its tool runs it.
#[derive(Debug, Clone)]
pub struct SqlMigration {
    pub name: String,
    /// What the tool sends for up.
    pub up: String,
    /// The tool opens a transaction around `up`.
    pub up_tx: bool,
    /// What it sends for down (None: the tool has no down).
    pub down: Option<String>,
    pub down_tx: bool,
    /// The rollback written as comments, when there is no down.
    pub rollback: Vec<Block>,
}

fn file<'a>(em: &'a Emission, path: &str) -> Option<&'a str> {
    em.files
        .iter()
        .find(|f| f.path == path)
        .map(|f| f.contents.as_str())
}

/// Reads the commented rollback blocks back.
pub fn rollback_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for line in text.lines() {
        if let Some(mode) = line.strip_prefix("-- schemashift:rollback ") {
            current = Some(Block {
                transaction: mode.trim() == "transaction",
                sql: String::new(),
            });
        } else if line == "-- schemashift:end" {
            out.extend(current.take());
        } else if let Some(b) = current.as_mut() {
            let l = line
                .strip_prefix("-- ")
                .or_else(|| line.strip_prefix("--"))
                .expect("a commented line");
            b.sql.push_str(l);
            b.sql.push('\n');
        }
    }
    out
}

/// The SQL migrations of an emission, in the order the tool runs them.
pub fn sql_migrations(tool: Tool, em: &Emission) -> Vec<SqlMigration> {
    let mut out = Vec::new();
    for f in &em.files {
        let p = f.path.as_str();
        let name = p.rsplit('/').next().unwrap().to_string();
        match tool {
            Tool::Flyway if name.starts_with('V') && name.ends_with(".sql") => {
                let conf = file(em, &format!("{p}.conf")).unwrap_or("");
                let undo_path = p.replacen(&format!("/{name}"), &format!("/U{}", &name[1..]), 1);
                let undo = file(em, &undo_path);
                let undo_conf = file(em, &format!("{undo_path}.conf")).unwrap_or("");
                out.push(SqlMigration {
                    name,
                    up: f.contents.clone(),
                    up_tx: !conf.contains("executeInTransaction=false"),
                    down: undo.map(str::to_string),
                    down_tx: !undo_conf.contains("executeInTransaction=false"),
                    rollback: rollback_blocks(&f.contents),
                });
            }
            Tool::GolangMigrate if name.ends_with(".up.sql") => {
                let down = file(em, &p.replace(".up.sql", ".down.sql")).map(str::to_string);
                out.push(SqlMigration {
                    name,
                    up: f.contents.clone(),
                    up_tx: false,
                    down,
                    down_tx: false,
                    rollback: Vec::new(),
                });
            }
            Tool::Sqlx if name.ends_with(".up.sql") => {
                let down = file(em, &p.replace(".up.sql", ".down.sql")).unwrap();
                out.push(SqlMigration {
                    name,
                    up: f.contents.clone(),
                    up_tx: !f.contents.starts_with("-- no-transaction"),
                    down: Some(down.to_string()),
                    down_tx: !down.starts_with("-- no-transaction"),
                    rollback: Vec::new(),
                });
            }
            Tool::Sqlx
                if name.ends_with(".sql")
                    && !name.ends_with(".down.sql")
                    && !p.starts_with("schemashift/") =>
            {
                out.push(SqlMigration {
                    name,
                    up: f.contents.clone(),
                    up_tx: !f.contents.starts_with("-- no-transaction"),
                    down: None,
                    down_tx: false,
                    rollback: rollback_blocks(&f.contents),
                });
            }
            Tool::Dbmate if name.ends_with(".sql") && !p.starts_with("schemashift/") => {
                let t = &f.contents;
                let up_at = t.find("-- migrate:up").unwrap();
                let down_at = t.find("-- migrate:down").unwrap();
                let up = &t[up_at..down_at];
                let down = &t[down_at..];
                let first = |s: &str| s.lines().next().unwrap_or("").to_string();
                out.push(SqlMigration {
                    name,
                    up: up.to_string(),
                    up_tx: !first(up).contains("transaction:false"),
                    down: Some(down.to_string()),
                    down_tx: !first(down).contains("transaction:false"),
                    rollback: Vec::new(),
                });
            }
            Tool::Diesel if name == "up.sql" => {
                let folder = &p[..p.len() - "/up.sql".len()];
                let meta = file(em, &format!("{folder}/metadata.toml")).unwrap_or("");
                let tx = !meta.contains("run_in_transaction = false");
                out.push(SqlMigration {
                    name: folder.rsplit('/').next().unwrap().to_string(),
                    up: f.contents.clone(),
                    up_tx: tx,
                    down: file(em, &format!("{folder}/down.sql")).map(str::to_string),
                    down_tx: tx,
                    rollback: Vec::new(),
                });
            }
            Tool::Prisma if name == "migration.sql" => {
                let folder = &p[..p.len() - "/migration.sql".len()];
                out.push(SqlMigration {
                    name: folder.rsplit('/').next().unwrap().to_string(),
                    up: f.contents.clone(),
                    up_tx: false,
                    down: None,
                    down_tx: false,
                    rollback: rollback_blocks(&f.contents),
                });
            }
            _ => {}
        }
    }
    out
}

/// The statements of a script, without comments-only parts, trimmed.
pub fn statements(sql: &str) -> Vec<String> {
    schemashift::change::ddl::split_statements(sql, schemashift::context::Engine::Postgres)
        .into_iter()
        .map(|s| s.text.trim().trim_end_matches(';').trim().to_string())
        .collect()
}

/// A plan step's SQL in the same form as [`statements`].
pub fn norm(sql: &str) -> String {
    sql.trim().trim_end_matches(';').trim().to_string()
}

// ---------------------------------------------------------------------------
// Drizzle
// ---------------------------------------------------------------------------

/// The Drizzle fixture's out folder.
pub const DRIZZLE_OUT: &str = "drizzle";

/// A migration as drizzle's migrator reads it (`readMigrationFiles`): the
/// file named by a journal entry, cut at every `--> statement-breakpoint`.
#[derive(Debug, Clone)]
pub struct JournalMigration {
    pub tag: String,
    pub when: u64,
    /// The file's text, whole (the migrator records its hash).
    pub text: String,
    pub chunks: Vec<String>,
}

/// Every migration of `<project>/<out>/meta/_journal.json`, in its order.
pub fn journal_migrations(project: &Path, out: &str) -> Vec<JournalMigration> {
    let dir = project.join(out);
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta/_journal.json")).unwrap())
            .unwrap();
    journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let tag = e["tag"].as_str().unwrap().to_string();
            let text = std::fs::read_to_string(dir.join(format!("{tag}.sql")))
                .unwrap_or_else(|e| panic!("{tag}.sql: {e}"));
            JournalMigration {
                chunks: text
                    .replace("\r\n", "\n")
                    .split("--> statement-breakpoint")
                    .map(str::to_string)
                    .collect(),
                when: e["when"].as_u64().unwrap(),
                tag,
                text,
            }
        })
        .collect()
}

/// What the migrator runs when the newest migration the database has
/// applied has `applied` as its `when` (None: a new database).
pub fn pending(project: &Path, out: &str, applied: Option<u64>) -> Vec<JournalMigration> {
    journal_migrations(project, out)
        .into_iter()
        .filter(|m| applied.is_none_or(|a| a < m.when))
        .collect()
}

/// One step of a Drizzle rollout, as its runbook says to run it.
#[derive(Debug, Clone)]
pub enum DrizzleStep {
    /// `drizzle-kit migrate`: the journal's new migrations, in one transaction.
    Migrate(Vec<JournalMigration>),
    /// `psql -f` of a script: its path in the project, and its text.
    Psql(String, String),
}

/// One stage as written and run.
pub struct DrizzleStage {
    pub emission: Emission,
    pub steps: Vec<DrizzleStep>,
}

/// Writes the stages of `plan` into `project` (a Drizzle project) one at a
/// time, as a user does: detect, write the next stage, then `run` it (its
/// steps are what the notes say to run, in their order; the next stage is
/// written only once `run` returns). Returns every stage.
pub fn drizzle_rollout(
    project: &Path,
    plan: &Plan,
    mut run: impl FnMut(&DrizzleStage) -> Result<(), String>,
) -> Result<Vec<DrizzleStage>, String> {
    let mut out = Vec::new();
    let mut applied = journal_migrations(project, DRIZZLE_OUT)
        .iter()
        .map(|m| m.when)
        .max();
    let mut stage = 1;
    loop {
        let detection = detect(project).unwrap();
        let em = emit(
            plan,
            &detection,
            &EmitOptions {
                stage: Some(StageSelect::Number(stage)),
                now: Some(NOW),
                ..Default::default()
            },
        )
        .map_err(|e| format!("stage {stage}: {e}"))?;
        write_emission(project, &em)?;
        let mut steps = Vec::new();
        let new = pending(project, DRIZZLE_OUT, applied);
        if !new.is_empty() {
            applied = new.iter().map(|m| m.when).max();
            steps.push(DrizzleStep::Migrate(new));
        }
        for f in &em.files {
            if f.path.starts_with(&format!("{DRIZZLE_OUT}/manual/")) {
                steps.push(DrizzleStep::Psql(f.path.clone(), f.contents.clone()));
            }
        }
        let last = em.stages.len() as u32;
        let done = DrizzleStage {
            emission: em,
            steps,
        };
        run(&done).map_err(|e| format!("stage {stage}: {e}"))?;
        out.push(done);
        if stage == last {
            return Ok(out);
        }
        stage += 1;
    }
}
