//! Plans written as migration files of the fixture projects
//! (tests/fixtures/projects/<tool>): snapshots of the files for a rename
//! and an add-index plan per tool (tests/snapshots/), their names sorting
//! after the existing migrations in the tool's own order, and the files
//! checked by the languages that run them:
//!
//! - Python (Django, Alembic): `python3 -m py_compile`, then run against
//!   stand-ins of `django.db.migrations` / `alembic.op` (tests/py/);
//! - JavaScript (Knex, Sequelize): `node --check`, then run against
//!   stand-ins of the tools' APIs (tests/js/);
//! - TypeScript (TypeORM): transpiled by the TypeScript compiler, which
//!   reports syntax errors, then run the same way;
//! - Ruby (Rails): run against a stand-in of `ActiveRecord::Migration`
//!   (tests/rb/).
//!
//! A run records each SQL string and whether it ran inside a transaction;
//! the test requires the plan's forward steps, in order, exactly, with every
//! non-transactional step outside any transaction, and the downs to replay
//! the rollbacks in reverse. The SQL-file tools get the same check from
//! their files read the way each tool reads them; tests/emit_pg.rs runs
//! those on PostgreSQL. python3, node, tsc and ruby are required: without
//! one the test fails with how to install it.

mod emit_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use emit_support::*;
use schemashift::change::examples::EXAMPLES;
use schemashift::detect::{cmp_flyway, cmp_numeric, detect, Tool};
use schemashift::emit::{
    emit, write_emission, write_new, Emission, EmitError, EmitOptions, EmittedFile, StageKeyword,
    StageSelect,
};
use schemashift::plan::Plan;
use serde_json::Value;

fn render(em: &Emission) -> String {
    let mut s = format!(
        "tool: {}\nmigrations_dir: {}\nstages: {}\n",
        em.tool,
        em.migrations_dir,
        serde_json::to_string(&em.stages).unwrap()
    );
    for n in &em.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    for f in &em.files {
        s.push_str(&format!("\n=== {} ===\n{}", f.path, f.contents));
    }
    for u in &em.updates {
        s.push_str(&format!(
            "\n=== {} (replaces it) ===\n{}",
            u.path, u.contents
        ));
    }
    s
}

macro_rules! snapshots {
    ($($test:ident: $fixture:expr,)*) => {$(
        #[test]
        fn $test() {
            for (name, request) in PLANS {
                let em = emit_all($fixture, &build(request));
                insta::assert_snapshot!(format!("{}__{}", $fixture.replace('-', "_"), name), render(&em));
            }
        }
    )*};
}

snapshots! {
    snapshot_rails: "rails",
    snapshot_django: "django",
    snapshot_alembic: "alembic",
    snapshot_prisma: "prisma",
    snapshot_knex: "knex",
    snapshot_typeorm: "typeorm",
    snapshot_sequelize: "sequelize",
    snapshot_flyway: "flyway",
    snapshot_golang_migrate: "golang-migrate",
    snapshot_dbmate: "dbmate",
    snapshot_sqlx: "sqlx",
    snapshot_diesel: "diesel",
}

/// Drizzle writes one stage per call: the snapshot holds every stage of a
/// rollout in a copy of the fixture, each written after the one before.
#[test]
fn snapshot_drizzle() {
    for (name, request) in PLANS {
        let project = temp_dir(&format!("drizzle-snapshot-{name}"));
        copy_tree(&fixture("drizzle"), &project);
        let stages = drizzle_rollout(&project, &build(request), |_| Ok(())).unwrap();
        let text: Vec<String> = stages.iter().map(|s| render(&s.emission)).collect();
        insta::assert_snapshot!(format!("drizzle__{name}"), text.join("\n\n"));
        std::fs::remove_dir_all(&project).unwrap();
    }
}

/// The migration files of an emission (not the runbook note, not configs).
fn migration_paths(em: &Emission) -> Vec<&str> {
    em.files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| !p.starts_with("schemashift/"))
        .filter(|p| !p.ends_with(".conf") && !p.ends_with("metadata.toml"))
        .filter(|p| !p.ends_with(".down.sql") && !p.ends_with("/down.sql"))
        .collect()
}

/// The ordering key the tool sorts by, from a migration path.
fn version_of(tool: Tool, path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let name = match tool {
        Tool::Prisma | Tool::Diesel => parts[parts.len() - 2],
        _ => parts[parts.len() - 1],
    };
    match tool {
        Tool::Flyway => name[1..].split("__").next().unwrap().to_string(),
        _ => name
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .filter(char::is_ascii_digit)
            .collect(),
    }
}

#[test]
fn names_sort_after_the_existing_migrations() {
    for name in TOOLS {
        let detection = detect(&fixture(name)).unwrap();
        let tool = &detection.tools[0];
        for (_, request) in PLANS {
            let em = emit_all(name, &build(request));
            let paths = migration_paths(&em);
            assert!(!paths.is_empty(), "{name}");
            for p in &paths {
                assert!(
                    p.starts_with(&format!("{}/", tool.migrations_dir)),
                    "{name}: {p} outside {}",
                    tool.migrations_dir
                );
            }
            match tool.tool {
                Tool::Alembic => {
                    // Alembic orders by the down_revision chain: checked
                    // with the Python run below.
                }
                Tool::Flyway => {
                    let mut prev = tool.latest.as_ref().unwrap().version.clone();
                    for p in &paths {
                        let v = version_of(tool.tool, p);
                        assert!(cmp_flyway(&v, &prev).is_gt(), "{name}: {v} after {prev}");
                        prev = v;
                    }
                }
                _ => {
                    let mut prev: String = tool
                        .latest
                        .as_ref()
                        .unwrap()
                        .version
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    for p in &paths {
                        let v = version_of(tool.tool, p);
                        assert!(
                            cmp_numeric(&v, &prev).is_gt(),
                            "{name}: {p} ({v}) after {prev}"
                        );
                        prev = v;
                    }
                    // Tools that sort file names as text sort them the same way.
                    let mut existing: Vec<String> =
                        std::fs::read_dir(fixture(name).join(&tool.migrations_dir))
                            .unwrap()
                            .flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                    existing.sort();
                    let last = existing
                        .iter()
                        .rfind(|n| n.starts_with(|c: char| c.is_ascii_digit()))
                        .unwrap();
                    for p in &paths {
                        let rel = &p[tool.migrations_dir.len() + 1..];
                        assert!(rel > last.as_str(), "{name}: {rel} sorts before {last}");
                    }
                }
            }
        }
    }
}

/// Runs a program, failing with an install hint when it is missing.
fn run(program: &str, args: &[&str], hint: &str) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}): it is needed to check the emitted migrations; {hint}"
            )
        });
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn write_files(dir: &Path, em: &Emission) -> Vec<PathBuf> {
    write_new(dir, &em.files).unwrap()
}

/// SQL with everything a host language could read as its own: backticks,
/// `${`, `#{`, backslashes, triple quotes, `?` (knex), `:name` (SQLAlchemy),
/// `%` (psycopg), a line that is a heredoc tag, and lines indented by tabs.
const TRICKY: &str = "SELECT 'back`tick ${not_js} #{not_ruby} \\n \"\"\"triple\"\"\" it''s ? :named {\"a\":1} %s %(x)s\nSQL\n\tend' AS \"x\"";

/// The plans the language checks run: the two snapshot plans, one per
/// example request, and the add-index plan with [`TRICKY`] SQL.
fn all_plans() -> Vec<(String, Plan)> {
    let mut plans: Vec<(String, Plan)> = PLANS
        .iter()
        .map(|(n, r)| (n.to_string(), build(r)))
        .collect();
    for e in EXAMPLES {
        plans.push((e.request.to_string(), build(e.request)));
    }
    let mut tricky = build("add index on users(email)");
    tricky.phases[0].forward[0].sql = format!("{TRICKY};");
    let mut tx = tricky.phases[0].forward[0].clone();
    tx.transactional = true;
    tx.sql = format!("\t{TRICKY}, 3;");
    tricky.phases[0].forward.push(tx);
    tricky.phases[0].rollback[0].sql = format!("{TRICKY}, 2;");
    plans.push(("tricky".into(), tricky));
    plans
}

/// (sql, transactional) of statements.
type Steps = Vec<(String, bool)>;

/// (sql, transactional) of the plan's forward steps, and of the rollbacks
/// a full roll back runs (down to the first irreversible phase).
fn expected(plan: &Plan) -> (Steps, Steps, bool) {
    let db: Vec<_> = plan
        .phases
        .iter()
        .filter(|p| !p.forward.is_empty())
        .collect();
    let up = db
        .iter()
        .flat_map(|p| p.forward.iter())
        .map(|s| (norm(&s.sql), s.transactional))
        .collect();
    let irreversible = db
        .iter()
        .position(|p| p.rollback.is_empty() && p.data_loss.is_some());
    let down = db[..irreversible.unwrap_or(db.len())]
        .iter()
        .rev()
        .flat_map(|p| p.rollback.iter())
        .map(|s| (norm(&s.sql), s.transactional))
        .collect();
    (up, down, irreversible.is_some())
}

/// Compares what the stand-ins recorded with the plan.
fn check_runs(what: &str, plan: &Plan, results: &[Value]) {
    let steps = |v: &Value| -> Vec<(String, bool)> {
        v.as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|x| (norm(x["sql"].as_str().unwrap()), x["tx"].as_bool().unwrap()))
            .collect()
    };
    let (want_up, want_down, irreversible) = expected(plan);
    let got_up: Vec<(String, bool)> = results.iter().flat_map(|r| steps(&r["up"])).collect();
    assert_eq!(
        got_up.iter().map(|s| &s.0).collect::<Vec<_>>(),
        want_up.iter().map(|s| &s.0).collect::<Vec<_>>(),
        "{what}: up statements"
    );
    assert_eq!(got_up, want_up, "{what}: up transactions");
    let first_err = results
        .iter()
        .position(|r| r["down"].get("error").is_some());
    assert_eq!(
        first_err.is_some(),
        irreversible,
        "{what}: irreversible down"
    );
    if let Some(i) = first_err {
        let msg = results[i]["down"]["error"].as_str().unwrap();
        assert!(msg.contains("irreversible"), "{what}: {msg}");
    }
    let got_down: Vec<(String, bool)> = results[..first_err.unwrap_or(results.len())]
        .iter()
        .rev()
        .flat_map(|r| steps(&r["down"]))
        .collect();
    assert_eq!(got_down, want_down, "{what}: down");
}

fn json_list(out: &std::process::Output) -> Vec<Value> {
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const PY_HINT: &str = "install Python 3 (apt-get install python3)";
const NODE_HINT: &str = "install Node.js 18+ (apt-get install nodejs, or https://nodejs.org)";
const TSC_HINT: &str =
    "install TypeScript (apt-get install node-typescript, or npm install -g typescript)";
const RUBY_HINT: &str = "install Ruby (apt-get install ruby)";

fn harness(dir: &str, file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
        .join(file)
        .display()
        .to_string()
}

/// Emits every plan for a fixture into a temp folder; returns, per plan,
/// its name, the plan and the migration paths in run order.
fn emitted(fixture_name: &str) -> Vec<(String, Plan, Vec<String>)> {
    let mut out = Vec::new();
    let root = lang_dir(fixture_name);
    let _ = std::fs::remove_dir_all(&root);
    for (i, (name, plan)) in all_plans().into_iter().enumerate() {
        let em = emit_all(fixture_name, &plan);
        let dir = root.join(i.to_string());
        write_files(&dir, &em);
        let paths = migration_paths(&em)
            .iter()
            .map(|p| dir.join(p).display().to_string())
            .collect();
        out.push((name, plan, paths));
    }
    out
}

/// The temp folder a fixture's emitted files go to (removed by the test).
fn lang_dir(fixture_name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "schemashift-lang-{fixture_name}-{}",
        std::process::id()
    ))
}

/// Runs one harness over every plan's files at once (one process: starting
/// the TypeScript compiler per file would be slow) and hands each plan its
/// results.
fn run_all(
    fixture_name: &str,
    program: &str,
    args: &[&str],
    hint: &str,
) -> Vec<(String, Plan, Vec<String>, Vec<Value>)> {
    let plans = emitted(fixture_name);
    let mut all: Vec<&str> = args.to_vec();
    for (_, _, paths) in &plans {
        all.extend(paths.iter().map(String::as_str));
    }
    let mut results = json_list(&run(program, &all, hint)).into_iter();
    plans
        .into_iter()
        .map(|(name, plan, paths)| {
            let mine: Vec<Value> = results.by_ref().take(paths.len()).collect();
            (name, plan, paths, mine)
        })
        .collect()
}

#[test]
fn python_migrations_compile_and_run_the_plan() {
    for tool in ["django", "alembic"] {
        let script = harness("py", "run_migration.py");
        for (name, plan, paths, results) in run_all(tool, "python3", &[&script, tool], PY_HINT) {
            let mut args = vec!["-m", "py_compile"];
            args.extend(paths.iter().map(String::as_str));
            run("python3", &args, PY_HINT);
            check_runs(&format!("{tool}: {name}"), &plan, &results);
            // The chain: each migration follows the one before it.
            let detection = detect(&fixture(tool)).unwrap();
            let mut prev = detection.tools[0].latest.as_ref().unwrap().version.clone();
            for (r, p) in results.iter().zip(&paths) {
                if tool == "alembic" {
                    assert_eq!(r["down_revision"], prev.as_str(), "{p}");
                    prev = r["revision"].as_str().unwrap().to_string();
                } else {
                    assert_eq!(
                        r["dependencies"],
                        serde_json::json!([["users", prev]]),
                        "{p}"
                    );
                    prev = Path::new(p)
                        .file_stem()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                }
            }
        }
        std::fs::remove_dir_all(lang_dir(tool)).unwrap();
    }
}

/// Where the TypeScript compiler's module is: `SCHEMASHIFT_TYPESCRIPT`, or
/// next to `tsc` on the PATH.
fn typescript_module() -> String {
    if let Ok(dir) = std::env::var("SCHEMASHIFT_TYPESCRIPT") {
        return dir;
    }
    let out = Command::new("sh")
        .args(["-c", "command -v tsc"])
        .output()
        .unwrap();
    let tsc = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!tsc.is_empty(), "no tsc on the PATH: {TSC_HINT}");
    let real = std::fs::canonicalize(&tsc).unwrap();
    // <module>/bin/tsc
    real.parent()
        .unwrap()
        .parent()
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn javascript_and_typescript_migrations_parse_and_run_the_plan() {
    let ts = typescript_module();
    let script = harness("js", "run_migration.js");
    for tool in ["knex", "sequelize", "typeorm"] {
        for (name, plan, paths, results) in run_all(tool, "node", &[&script, tool, &ts], NODE_HINT)
        {
            for p in &paths {
                if p.ends_with(".js") {
                    run("node", &["--check", p], NODE_HINT);
                }
            }
            check_runs(&format!("{tool}: {name}"), &plan, &results);
        }
        std::fs::remove_dir_all(lang_dir(tool)).unwrap();
    }
}

#[test]
fn rails_migrations_run_the_plan() {
    let script = harness("rb", "run_migration.rb");
    for (name, plan, _, results) in run_all("rails", "ruby", &[&script], RUBY_HINT) {
        check_runs(&format!("rails: {name}"), &plan, &results);
    }
    std::fs::remove_dir_all(lang_dir("rails")).unwrap();
}

/// The SQL-file tools, read the way each tool reads its files: the plan's
/// statements in order, each non-transactional one alone in what the tool
/// sends and not inside a transaction the tool opens.
#[test]
fn sql_files_hold_the_plan_and_isolate_nontransactional_steps() {
    for tool_name in SQL_TOOLS {
        let tool = Tool::parse(tool_name).unwrap();
        for (name, plan) in all_plans() {
            let what = format!("{tool_name}: {name}");
            if tool == Tool::Flyway && name == "tricky" {
                // `${not_js}` would be a Flyway placeholder: refused (see
                // refuses_sql_the_tool_would_rewrite).
                continue;
            }
            let em = emit_all(tool_name, &plan);
            let migrations = sql_migrations(tool, &em);
            let (want_up, want_down, irreversible) = expected(&plan);
            let nontx: Vec<&String> = want_up
                .iter()
                .chain(&want_down)
                .filter(|s| !s.1)
                .map(|s| &s.0)
                .collect();
            let check_isolated = |sent: &str, tool_tx: bool, label: &str| {
                let st = statements(sent);
                for s in &st {
                    if nontx.contains(&s) {
                        assert!(
                            !tool_tx,
                            "{what}: {label}: `{s}` inside the tool's transaction"
                        );
                        assert_eq!(st.len(), 1, "{what}: {label}: `{s}` is not alone: {st:?}");
                    }
                }
            };
            let mut got_up = Vec::new();
            for m in &migrations {
                check_isolated(&m.up, m.up_tx, &m.name);
                got_up.extend(
                    statements(&m.up)
                        .into_iter()
                        .filter(|s| s != "BEGIN" && s != "COMMIT"),
                );
            }
            assert_eq!(
                got_up,
                want_up.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
                "{what}: up"
            );
            // Downs (or the commented rollbacks), newest first, down to the
            // first irreversible one.
            let mut got_down = Vec::new();
            let mut stopped = false;
            for m in migrations.iter().rev() {
                match &m.down {
                    Some(d) if d.contains("RAISE EXCEPTION USING MESSAGE = 'irreversible") => {
                        stopped = true;
                        got_down.clear();
                    }
                    Some(d) => {
                        check_isolated(d, m.down_tx, &format!("{} (down)", m.name));
                        got_down.extend(
                            statements(d)
                                .into_iter()
                                .filter(|s| s != "BEGIN" && s != "COMMIT"),
                        );
                    }
                    None => {
                        if m.up
                            .contains("Rollback: none. This migration is irreversible")
                        {
                            stopped = true;
                            got_down.clear();
                        }
                        for b in &m.rollback {
                            check_isolated(
                                &b.sql,
                                b.transaction,
                                &format!("{} (rollback)", m.name),
                            );
                            got_down.extend(statements(&b.sql));
                        }
                    }
                }
            }
            assert_eq!(stopped, irreversible, "{what}: irreversible");
            assert_eq!(
                got_down,
                want_down.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
                "{what}: down"
            );
        }
    }
}

/// Drizzle, every plan rolled out stage by stage as the notes say: what
/// `drizzle-kit migrate` runs (each statement between breakpoints alone, in
/// its one transaction) and what psql runs (one statement, in autocommit)
/// are the plan's steps in order with their transactions; the rollback
/// blocks, newest first, are its rollbacks.
#[test]
fn drizzle_rollouts_hold_the_plan_and_keep_nontransactional_steps_out() {
    for (i, (name, plan)) in all_plans().into_iter().enumerate() {
        let what = format!("drizzle: {name}");
        let project = temp_dir(&format!("drizzle-plans-{i}"));
        copy_tree(&fixture("drizzle"), &project);
        let (want_up, want_down, irreversible) = expected(&plan);
        let mut up: Steps = Vec::new();
        // (file text) in run order, for the rollback.
        let mut files: Vec<String> = Vec::new();
        for stage in drizzle_rollout(&project, &plan, |_| Ok(())).unwrap() {
            for step in stage.steps {
                match step {
                    DrizzleStep::Migrate(migrations) => {
                        for m in migrations {
                            for chunk in &m.chunks {
                                let st = statements(chunk);
                                assert_eq!(st.len(), 1, "{what}: {}: a chunk of {st:?}", m.tag);
                                up.push((st[0].clone(), true));
                            }
                            files.push(m.text);
                        }
                    }
                    DrizzleStep::Psql(path, text) => {
                        let st = statements(&text);
                        assert_eq!(st.len(), 1, "{what}: {path}: {st:?}");
                        assert!(
                            text.contains(&format!("-v ON_ERROR_STOP=1 -f {path}\n")),
                            "{what}: {path} names its command"
                        );
                        up.push((st[0].clone(), false));
                        files.push(text);
                    }
                }
            }
        }
        assert_eq!(up, want_up, "{what}: up");
        let mut down = Vec::new();
        let mut stopped = false;
        for text in files.iter().rev() {
            if text.contains("Rollback: none. This migration is irreversible") {
                stopped = true;
                down.clear();
            }
            for b in rollback_blocks(text) {
                for st in statements(&b.sql) {
                    down.push((st, b.transaction));
                }
            }
        }
        assert_eq!(stopped, irreversible, "{what}: irreversible");
        assert_eq!(down, want_down, "{what}: down");
        std::fs::remove_dir_all(&project).unwrap();
    }
}

/// The journal after each stage: valid JSON, the text before it kept byte
/// for byte with the new entries inserted after the last old one, the old
/// entries unchanged, the new ones in order (next index, `when` after every
/// earlier entry's, tag = the new file). A journal changed after the files
/// were computed is not overwritten, and nothing is written.
#[test]
fn drizzle_journal_keeps_its_entries_and_appends_in_order() {
    let project = temp_dir("drizzle-journal");
    copy_tree(&fixture("drizzle"), &project);
    let path = project.join("drizzle/meta/_journal.json");
    let plan = build("rename users.username to handle");
    let mut old = std::fs::read_to_string(&path).unwrap();
    let mut stage = 1;
    loop {
        let detection = detect(&project).unwrap();
        let em = emit(
            &plan,
            &detection,
            &EmitOptions {
                stage: Some(StageSelect::Number(stage)),
                now: Some(NOW),
                ..Default::default()
            },
        )
        .unwrap();
        let new_files: Vec<String> = em
            .files
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| p.starts_with("drizzle/0") && p.ends_with(".sql"))
            .collect();
        assert!(!new_files.is_empty(), "stage {stage} adds migrations");
        assert_eq!(em.updates.len(), 1);
        assert_eq!(em.updates[0].previous, old);
        write_emission(&project, &em).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();

        // One insertion, right after the last old entry (`entries` is the
        // last key: the text ends with its `]` and the object's `}`).
        let cut = old
            .trim_end()
            .strip_suffix('}')
            .and_then(|t| t.trim_end().strip_suffix(']'))
            .unwrap()
            .trim_end()
            .len();
        assert!(
            new.starts_with(&old[..cut]),
            "stage {stage}: the old text is kept"
        );
        assert!(
            new.ends_with(&old[cut..]),
            "stage {stage}: the old end is kept"
        );
        assert!(new[cut..new.len() - (old.len() - cut)].starts_with(",\n    {"));

        let (before, after) = (entries_of(&old), entries_of(&new));
        assert_eq!(after[..before.len()], before[..], "stage {stage}");
        let added = &after[before.len()..];
        assert_eq!(added.len(), new_files.len());
        let mut last_when = before
            .iter()
            .map(|e| e["when"].as_u64().unwrap())
            .max()
            .unwrap();
        for (k, (e, file)) in added.iter().zip(&new_files).enumerate() {
            assert_eq!(e["idx"], (before.len() + k) as u64, "{e}");
            assert_eq!(format!("drizzle/{}.sql", e["tag"].as_str().unwrap()), *file);
            let when = e["when"].as_u64().unwrap();
            assert!(when > last_when, "{e} after {last_when}");
            last_when = when;
            assert_eq!(e["version"], "7");
            assert_eq!(e["breakpoints"], true);
            assert!(project.join(file).is_file());
        }
        if stage == em.stages.len() as u32 {
            break;
        }
        old = new;
        stage += 1;
    }

    // The journal changed under it: refused, nothing written.
    let plan = build("change users.email from text to varchar(320)");
    let em = emit(&plan, &detect(&project).unwrap(), &EmitOptions::default()).unwrap();
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"7\"", "\"7\" ");
    std::fs::write(&path, &edited).unwrap();
    let err = write_emission(&project, &em).unwrap_err();
    assert!(err.contains("changed since"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    for f in &em.files {
        assert!(!project.join(&f.path).exists(), "{} written", f.path);
    }
    std::fs::remove_dir_all(&project).unwrap();
}

/// A Drizzle project with its out folder elsewhere and a psql script
/// already there: new files go into that folder, the scripts' numbers go
/// on after it. A project without a journal gets one, as a new file.
#[test]
fn drizzle_follows_the_out_folder_and_starts_a_journal() {
    let project = temp_dir("drizzle-elsewhere");
    copy_tree(&fixture("drizzle"), &project);
    std::fs::rename(project.join("drizzle"), project.join("db")).unwrap();
    let config = project.join("drizzle.config.ts");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"./drizzle\"", "\"./db\"")).unwrap();
    std::fs::create_dir_all(project.join("db/manual")).unwrap();
    std::fs::write(project.join("db/manual/0000_earlier.sql"), "SELECT 1;\n").unwrap();
    let em = emit(
        &build("add index on users(email)"),
        &detect(&project).unwrap(),
        &EmitOptions::default(),
    )
    .unwrap();
    assert_eq!(em.migrations_dir, "db");
    assert_eq!(
        em.files[0].path,
        "db/manual/0001_build_index_users_email_idx_concurrently.sql"
    );
    assert!(em.updates.is_empty(), "no migration, no journal change");
    std::fs::remove_dir_all(&project).unwrap();

    let empty = temp_dir("drizzle-new");
    let em = emit(
        &build("rename users.username to handle"),
        &detect(&empty).unwrap(),
        &EmitOptions {
            tool: Some(Tool::Drizzle),
            now: Some(NOW),
            ..Default::default()
        },
    )
    .unwrap();
    let paths: Vec<&str> = em.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths[..4],
        [
            "drizzle/0000_add_users_handle.sql",
            "drizzle/0001_backfill_users_handle_part1.sql",
            "drizzle/meta/_journal.json",
            "drizzle/manual/0000_backfill_users_handle_part2.sql",
        ]
    );
    assert!(em.updates.is_empty());
    let journal: Value = serde_json::from_str(&em.files[2].contents).unwrap();
    assert_eq!(journal["dialect"], "postgresql");
    let tags: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        ["0000_add_users_handle", "0001_backfill_users_handle_part1"]
    );
    write_emission(&empty, &em).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn stages_wait_for_app_releases() {
    // Default: stage 1 only, with the rest named in the notes.
    let plan = build("rename users.username to handle");
    let detection = detect(&fixture("alembic")).unwrap();
    let options = EmitOptions {
        now: Some(NOW),
        ..Default::default()
    };
    let em = emit(&plan, &detection, &options).unwrap();
    assert_eq!(em.stages.len(), 2);
    assert!(em.stages[0].emitted && !em.stages[1].emitted);
    assert_eq!(em.stages[0].phases, ["p1-expand", "p2-backfill"]);
    assert_eq!(em.stages[1].phases, ["p6-contract"]);
    assert!(em.stages[1]
        .after
        .iter()
        .any(|a| a.contains("p4-cutover-reads")));
    assert!(
        em.notes
            .iter()
            .any(|n| n.contains("Write stage 2 only after")),
        "{:?}",
        em.notes
    );
    assert!(!em
        .files
        .iter()
        .any(|f| f.contents.contains("DROP COLUMN username")));

    // Stage 2 written after stage 1 is in the project chains to it.
    let dir = temp_dir("stages");
    copy_tree(&fixture("alembic"), &dir);
    write_new(&dir, &em.files).unwrap();
    let again = detect(&dir).unwrap();
    let last_rev = again.tools[0].latest.as_ref().unwrap().version.clone();
    let stage2 = emit(
        &plan,
        &again,
        &EmitOptions {
            stage: Some("2".parse().unwrap()),
            now: Some(NOW + 86_400),
            ..Default::default()
        },
    )
    .unwrap();
    let contract = &stage2.files[0];
    assert!(contract
        .contents
        .contains(&format!("down_revision = \"{last_rev}\"")));
    assert!(contract.contents.contains("Before this migration runs:"));
    assert!(contract
        .contents
        .contains("p5-cutover-writes (app release)"));
    // A stage that does not exist.
    let err = emit(
        &plan,
        &again,
        &EmitOptions {
            stage: Some("3".parse().unwrap()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("2 stage(s)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_new_never_overwrites() {
    let dir = temp_dir("overwrite");
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/b.sql"), "keep").unwrap();
    let files = vec![
        EmittedFile {
            path: "m/a.sql".into(),
            contents: "a".into(),
        },
        EmittedFile {
            path: "m/b.sql".into(),
            contents: "b".into(),
        },
    ];
    let err = write_new(&dir, &files).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    assert!(!dir.join("m/a.sql").exists(), "nothing written");
    assert_eq!(
        std::fs::read_to_string(dir.join("m/b.sql")).unwrap(),
        "keep"
    );
    let outside = vec![EmittedFile {
        path: "../x.sql".into(),
        contents: String::new(),
    }];
    assert!(write_new(&dir, &outside).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_what_it_cannot_write_well() {
    let plan = build("add index on users(email)");
    // Drizzle, all stages at once: one `drizzle-kit migrate` would run the
    // later stages' migrations with the first's, before the psql script and
    // the app releases between them.
    let d = detect(&fixture("drizzle")).unwrap();
    let all = EmitOptions {
        stage: Some(StageSelect::Keyword(StageKeyword::All)),
        ..Default::default()
    };
    let err = emit(&build("rename users.username to handle"), &d, &all).unwrap_err();
    assert!(matches!(err, EmitError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("one stage at a time"), "{err}");
    // Only psql scripts after the first stage: fine.
    emit(&plan, &d, &all).unwrap();
    // No tool found and none named.
    let empty = temp_dir("empty");
    let d = detect(&empty).unwrap();
    let err = emit(&plan, &d, &EmitOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--tool"), "{err}");
    // Named: its default layout.
    let em = emit(
        &plan,
        &d,
        &EmitOptions {
            tool: Some(Tool::GolangMigrate),
            now: Some(NOW),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        em.files[0].path,
        "migrations/20260101000000_build_index_users_email_idx_concurrently.up.sql"
    );
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn cli_emit_appends_to_the_drizzle_journal() {
    let dir = temp_dir("cli-drizzle");
    copy_tree(&fixture("drizzle"), &dir);
    let journal = dir.join("drizzle/meta/_journal.json");
    let before = std::fs::read_to_string(&journal).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .args(["plan", "--emit"])
        .arg(&dir)
        .arg("rename users.username to handle")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("updated ") && text.contains("_journal.json"),
        "{text}"
    );
    assert!(
        text.contains("run order: 1. `npx drizzle-kit migrate`"),
        "{text}"
    );
    let after = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(entries_of(&after)[..2], entries_of(&before)[..]);
    assert_eq!(entries_of(&after).len(), 4, "{after}");
    let scripts: Vec<_> = std::fs::read_dir(dir.join("drizzle/manual"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(scripts.len(), 1);
    // No temporary file left beside the journal.
    assert_eq!(
        std::fs::read_dir(dir.join("drizzle/meta")).unwrap().count(),
        3
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn entries_of(journal: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(journal).unwrap()["entries"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn cli_emit_writes_into_the_project() {
    let dir = temp_dir("cli-emit");
    copy_tree(&fixture("dbmate"), &dir);
    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .args(["plan", "--emit"])
        .arg(&dir)
        .arg("add index on users(email)")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("dbmate migrations in db/migrations"),
        "{text}"
    );
    let written: Vec<String> = std::fs::read_dir(dir.join("db/migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_build_index_users_email_idx_concurrently.sql"))
        .collect();
    assert_eq!(written.len(), 1, "{text}");
    let body = std::fs::read_to_string(dir.join("db/migrations").join(&written[0])).unwrap();
    assert!(
        body.contains("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY"),
        "{body}"
    );

    // --tool that does not match the project, and a bad stage.
    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .args(["plan", "--stage", "0", "--emit"])
        .arg(&dir)
        .arg("add index on users(email)")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A plan whose SQL holds CR, CRLF, U+2028, backticks, `${`, backslashes,
/// `?` and quotes, in names and in string literals, including the first
/// line of a step that runs outside a transaction (which a comment quotes).
fn awkward_plans() -> Vec<(String, Plan)> {
    let changes = [
        serde_json::json!({"change_type": "add_column", "table": "users", "column": "\"n`${x}\\ ?\u{2028}'\"",
            "data_type": "text", "default": "'a\r\nb\rc\u{2028}d`${e}\\f?'"}),
        serde_json::json!({"change_type": "add_index", "table": "users", "columns": ["email"],
            "name": "\"i\u{2028}x\rprocess.exit(3)//\"".replace('\r', "_"),
            "predicate": "email <> 'q\rprocess.exit(3)//\u{2028}require(1)'"}),
    ];
    changes
        .into_iter()
        .map(|c| {
            let plan = schemashift::plan::build_plan(&schemashift::plan::PlanRequest {
                input: schemashift::change::ChangeInput {
                    change: Some(serde_json::from_value(c.clone()).unwrap()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{c}: {e}"));
            (c.to_string(), plan)
        })
        .collect()
}

#[test]
fn javascript_migrations_send_the_plans_exact_bytes() {
    let ts = typescript_module();
    let script = harness("js", "run_migration.js");
    for tool in ["knex", "sequelize", "typeorm"] {
        let root = lang_dir(&format!("{tool}-bytes"));
        let _ = std::fs::remove_dir_all(&root);
        for (i, (name, plan)) in awkward_plans().into_iter().enumerate() {
            let em = emit_all(tool, &plan);
            let dir = root.join(i.to_string());
            write_files(&dir, &em);
            let paths: Vec<String> = migration_paths(&em)
                .iter()
                .map(|p| dir.join(p).display().to_string())
                .collect();
            let mut args = vec![script.as_str(), tool, ts.as_str()];
            args.extend(paths.iter().map(String::as_str));
            let results = json_list(&run("node", &args, NODE_HINT));
            let got: Vec<String> = results
                .iter()
                .flat_map(|r| r["up"].as_array().cloned().unwrap_or_default())
                .map(|s| s["sql"].as_str().unwrap().to_string())
                .collect();
            let want: Vec<String> = plan
                .phases
                .iter()
                .flat_map(|p| p.forward.iter())
                .map(|s| s.sql.clone())
                .collect();
            // Byte for byte: no CR, CRLF or U+2028 changed on the way.
            assert_eq!(
                got.iter().map(|s| norm(s)).collect::<Vec<_>>(),
                want.iter().map(|s| norm(s)).collect::<Vec<_>>(),
                "{tool}: {name}"
            );
            assert!(
                want.iter().any(|s| s.contains("\r\n")) || want.iter().any(|s| s.contains('\r')),
                "{name}: the plan must hold a CR for this test to mean anything"
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}

#[test]
fn refuses_sql_the_tool_would_rewrite() {
    let plan_of = |change: serde_json::Value| {
        schemashift::plan::build_plan(&schemashift::plan::PlanRequest {
            input: schemashift::change::ChangeInput {
                change: Some(serde_json::from_value(change).unwrap()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
    };
    let all = EmitOptions {
        stage: Some(StageSelect::Keyword(StageKeyword::All)),
        now: Some(NOW),
        ..Default::default()
    };
    // Flyway replaces `${...}` everywhere in a script, quoted names included.
    let placeholder = plan_of(serde_json::json!({"change_type": "add_column",
        "table": "users", "column": "\"a${flyway:user}\"", "data_type": "text"}));
    let err = emit(&placeholder, &detect(&fixture("flyway")).unwrap(), &all).unwrap_err();
    assert!(err.to_string().contains("Flyway placeholder"), "{err}");
    // dbmate cuts the file at a line starting `-- migrate:`, even in a string.
    let marker = plan_of(serde_json::json!({"change_type": "add_column",
        "table": "users", "column": "note", "data_type": "text",
        "default": "'x\n-- migrate:down\nDROP TABLE users; '"}));
    let err = emit(&marker, &detect(&fixture("dbmate")).unwrap(), &all).unwrap_err();
    assert!(err.to_string().contains("migrate:"), "{err}");
    // A tool with no such syntax takes both.
    for plan in [&placeholder, &marker] {
        emit(
            plan,
            &detect(&temp_dir("plain")).unwrap(),
            &EmitOptions {
                tool: Some(Tool::GolangMigrate),
                ..all.clone()
            },
        )
        .unwrap();
    }
}
