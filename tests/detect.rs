//! Detection of the engine and migration tool on the fixture projects in
//! tests/fixtures/projects/<tool>/: one minimal, realistic project per tool
//! with two existing migrations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use schemashift::detect::{detect, DbEngine, Detection, Naming, TimestampFormat, Tool};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

fn detected(name: &str) -> Detection {
    detect(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Asserts the single tool found, its folder, engine, naming and latest version.
fn expect(name: &str, tool: Tool, dir: &str, naming: Naming, latest: &str) -> Detection {
    let d = detected(name);
    assert_eq!(d.tools.len(), 1, "{name}: {:#?}", d.tools);
    let t = &d.tools[0];
    assert_eq!(t.tool, tool, "{name}");
    assert_eq!(t.migrations_dir, dir, "{name}");
    // golang-migrate has no configuration file: the engine comes from .env.
    if tool != Tool::GolangMigrate {
        assert_eq!(t.engine, DbEngine::Postgres, "{name}: {:?}", t.evidence);
    }
    assert_eq!(d.engine, DbEngine::Postgres, "{name}");
    assert!(!d.engine_evidence.is_empty(), "{name}");
    assert_eq!(t.naming, naming, "{name}");
    assert_eq!(t.migrations, 2, "{name}");
    assert_eq!(
        t.latest.as_ref().map(|l| l.version.as_str()),
        Some(latest),
        "{name}"
    );
    assert!(t.warnings.is_empty(), "{name}: {:?}", t.warnings);
    d
}

const COMPACT: Naming = Naming::Timestamp {
    format: TimestampFormat::Compact,
};

#[test]
fn rails() {
    let d = expect(
        "rails",
        Tool::Rails,
        "db/migrate",
        COMPACT,
        "20240212154500",
    );
    let t = &d.tools[0];
    assert_eq!(t.style.framework_version.as_deref(), Some("7.1"));
    assert!(t.evidence.iter().any(|e| e.contains("db/schema.rb")));
    assert!(t
        .evidence
        .iter()
        .any(|e| e.contains("config/database.yml: adapter postgresql")));
}

#[test]
fn django() {
    let d = expect(
        "django",
        Tool::Django,
        "users/migrations",
        Naming::Sequence { width: 4 },
        "0002_user_email",
    );
    assert_eq!(d.tools[0].style.app.as_deref(), Some("users"));
    assert!(d.engine_evidence[0].contains("django.db.backends.postgresql"));
}

#[test]
fn alembic() {
    let d = expect(
        "alembic",
        Tool::Alembic,
        "alembic/versions",
        Naming::Revision {
            file_template: "%%(rev)s_%%(slug)s".into(),
        },
        "8b1e4d2c6a90",
    );
    assert!(d.engine_evidence[0].contains("alembic.ini"));
}

#[test]
fn prisma() {
    let d = expect(
        "prisma",
        Tool::Prisma,
        "prisma/migrations",
        COMPACT,
        "20240212154500",
    );
    assert_eq!(
        d.tools[0].latest.as_ref().unwrap().name,
        "20240212154500_add_email"
    );
}

#[test]
fn drizzle() {
    expect(
        "drizzle",
        Tool::Drizzle,
        "drizzle",
        Naming::Sequence { width: 4 },
        "0001",
    );
}

#[test]
fn knex() {
    let d = expect(
        "knex",
        Tool::Knex,
        "db/migrations",
        COMPACT,
        "20240212154500",
    );
    let s = &d.tools[0].style;
    assert_eq!(s.language.as_deref(), Some("js"));
    assert_eq!(s.module.as_deref(), Some("commonjs"));
}

#[test]
fn typeorm() {
    let d = expect(
        "typeorm",
        Tool::Typeorm,
        "src/migrations",
        Naming::Timestamp {
            format: TimestampFormat::UnixMillis,
        },
        "1707752700000",
    );
    let s = &d.tools[0].style;
    assert_eq!(s.language.as_deref(), Some("ts"));
    assert_eq!(s.transaction_mode.as_deref(), Some("each"));
}

#[test]
fn sequelize() {
    expect(
        "sequelize",
        Tool::Sequelize,
        "db/migrations",
        COMPACT,
        "20240212154500",
    );
}

#[test]
fn flyway() {
    expect(
        "flyway",
        Tool::Flyway,
        "sql",
        Naming::Sequence { width: 0 },
        "2",
    );
}

#[test]
fn golang_migrate() {
    let d = expect(
        "golang-migrate",
        Tool::GolangMigrate,
        "migrations",
        Naming::Sequence { width: 6 },
        "000002",
    );
    assert_eq!(
        d.tools[0].latest.as_ref().unwrap().name,
        "000002_add_email_to_users.up.sql"
    );
}

#[test]
fn dbmate() {
    expect(
        "dbmate",
        Tool::Dbmate,
        "db/migrations",
        COMPACT,
        "20240212154500",
    );
}

#[test]
fn sqlx() {
    let d = expect("sqlx", Tool::Sqlx, "migrations", COMPACT, "20240212154500");
    assert_eq!(d.tools[0].style.reversible, Some(true));
}

#[test]
fn diesel() {
    let d = expect(
        "diesel",
        Tool::Diesel,
        "migrations",
        Naming::Timestamp {
            format: TimestampFormat::Dashed,
        },
        "20240105093000",
    );
    assert_eq!(
        d.tools[0].latest.as_ref().unwrap().name,
        "2024-01-05-093000_create_users"
    );
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (m.len(), m.modified().unwrap()));
        }
    }
    out
}

#[test]
fn detection_writes_nothing() {
    let root = fixture("");
    let before = snapshot(&root);
    for name in [
        "rails",
        "django",
        "alembic",
        "prisma",
        "drizzle",
        "knex",
        "typeorm",
        "sequelize",
        "flyway",
        "golang-migrate",
        "dbmate",
        "sqlx",
        "diesel",
    ] {
        detected(name);
    }
    assert_eq!(before, snapshot(&root));
}

fn temp_project(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("schemashift-detect-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn skips_dependencies_and_reads_mysql() {
    let root = temp_project("skip");
    // A virtualenv's Django and node_modules' migrations are not the project's.
    write(
        &root,
        ".venv/lib/site-packages/django/contrib/auth/migrations/0001_initial.py",
        "",
    );
    write(
        &root,
        ".venv/lib/site-packages/django/contrib/auth/migrations/__init__.py",
        "",
    );
    write(
        &root,
        "node_modules/pkg/migrations/20200101000000_x.js",
        "exports.up = (knex) => knex",
    );
    write(&root, "target/migrations/1_x.up.sql", "");
    write(&root, "target/migrations/1_x.down.sql", "");
    write(
        &root,
        "db/migrate/20240101000000_create_posts.rb",
        "class CreatePosts < ActiveRecord::Migration[6.1]\nend\n",
    );
    write(
        &root,
        "config/database.yml",
        "default:\n  adapter: mysql2\n",
    );
    let d = detect(&root).unwrap();
    assert_eq!(d.tools.len(), 1, "{:#?}", d.tools);
    assert_eq!(d.tools[0].tool, Tool::Rails);
    assert_eq!(d.tools[0].style.framework_version.as_deref(), Some("6.1"));
    assert_eq!(d.engine, DbEngine::Mysql);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn alembic_with_two_heads_warns() {
    let root = temp_project("heads");
    write(
        &root,
        "alembic.ini",
        "[alembic]\nscript_location = migrations\n",
    );
    write(&root, "migrations/env.py", "");
    let rev = |r: &str, d: &str| {
        format!("revision: str = \"{r}\"\ndown_revision: Union[str, None] = {d}\n")
    };
    write(&root, "migrations/versions/a1_base.py", &rev("a1", "None"));
    write(
        &root,
        "migrations/versions/b2_left.py",
        &rev("b2", "\"a1\""),
    );
    write(
        &root,
        "migrations/versions/c3_right.py",
        &rev("c3", "\"a1\""),
    );
    let d = detect(&root).unwrap();
    let t = d.tool(Tool::Alembic).expect("alembic");
    assert_eq!(t.migrations_dir, "migrations/versions");
    assert_eq!(t.migrations, 3);
    assert!(t.warnings[0].contains("2 heads"), "{:?}", t.warnings);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cli_detect_prints_text_and_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .args(["detect", "--json"])
        .arg(fixture("golang-migrate"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["engine"], "postgres");
    assert_eq!(v["tools"][0]["tool"], "golang-migrate");
    assert_eq!(v["tools"][0]["naming"]["scheme"], "sequence");
    assert_eq!(v["tools"][0]["naming"]["width"], 6);

    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .arg("detect")
        .arg(fixture("diesel"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("tool: diesel"), "{text}");
    assert!(text.contains("naming: timestamp %Y-%m-%d-%H%M%S"), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_schemashift"))
        .args(["detect", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A Drizzle project whose config names another out folder: the journal
/// there is read, the psql scripts beside it are counted, and what would
/// make drizzle's migrator or the numbering go wrong is a warning.
#[test]
fn drizzle_reads_the_configured_out_folder_and_its_journal() {
    let root = temp_project("drizzle-out");
    write(
        &root,
        "drizzle.config.ts",
        "import { defineConfig } from \"drizzle-kit\";\n\nexport default defineConfig({\n  schema: \"./src/db/schema.ts\",\n  out: \"./src/db/migrations\",\n  dialect: \"postgresql\",\n});\n",
    );
    let entry = |idx: u32, tag: &str| {
        format!("{{\"idx\":{idx},\"version\":\"7\",\"when\":{},\"tag\":\"{tag}\",\"breakpoints\":true}}", 1_704_447_000_000u64 + idx as u64)
    };
    let journal = |entries: &[String]| {
        format!(
            "{{\"version\":\"7\",\"dialect\":\"postgresql\",\"entries\":[{}]}}",
            entries.join(",")
        )
    };
    write(
        &root,
        "src/db/migrations/meta/_journal.json",
        &journal(&[entry(0, "0000_init"), entry(1, "0001_tidy_hulk")]),
    );
    write(
        &root,
        "src/db/migrations/0000_init.sql",
        "CREATE TABLE \"t\" (\"id\" integer);\n",
    );
    write(
        &root,
        "src/db/migrations/0001_tidy_hulk.sql",
        "ALTER TABLE \"t\" ADD COLUMN \"x\" text;\n",
    );
    write(
        &root,
        "src/db/migrations/manual/0000_build_index.sql",
        "CREATE INDEX CONCURRENTLY i ON t (x);\n",
    );
    // The default folder holds nothing of drizzle's.
    write(&root, "drizzle/README.md", "");
    let d = detect(&root).unwrap();
    assert_eq!(d.tools.len(), 1, "{:#?}", d.tools);
    let t = &d.tools[0];
    assert_eq!(t.tool, Tool::Drizzle);
    assert_eq!(t.migrations_dir, "src/db/migrations");
    assert_eq!(t.engine, DbEngine::Postgres);
    assert_eq!(t.migrations, 2);
    let latest = t.latest.as_ref().unwrap();
    assert_eq!(
        (latest.name.as_str(), latest.version.as_str()),
        ("0001_tidy_hulk.sql", "0001")
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    let state = t.drizzle.as_ref().unwrap();
    assert_eq!(state.manual, ["0000_build_index"]);
    assert!(state.journal.as_deref().unwrap().contains("0001_tidy_hulk"));

    // An entry without its file, a file without its entry, another prefix.
    write(
        &root,
        "src/db/migrations/meta/_journal.json",
        &journal(&[
            entry(0, "0000_init"),
            entry(1, "0001_tidy_hulk"),
            entry(2, "0002_gone"),
        ]),
    );
    write(&root, "src/db/migrations/0003_stray.sql", "SELECT 1;\n");
    write(
        &root,
        "drizzle.config.ts",
        "export default { out: \"./src/db/migrations\", dialect: \"postgresql\", migrations: { prefix: \"timestamp\" } };\n",
    );
    let d = detect(&root).unwrap();
    let w = d.tools[0].warnings.join("\n");
    assert!(
        w.contains("lists 0002_gone, but src/db/migrations/0002_gone.sql does not exist"),
        "{w}"
    );
    assert!(
        w.contains("src/db/migrations/0003_stray.sql is not listed"),
        "{w}"
    );
    assert!(w.contains("migrations.prefix \"timestamp\""), "{w}");

    // A journal that is not one.
    write(
        &root,
        "src/db/migrations/meta/_journal.json",
        "{\"entries\": 3}",
    );
    let d = detect(&root).unwrap();
    assert!(
        d.tools[0]
            .warnings
            .iter()
            .any(|w| w.contains("is not a Drizzle journal")),
        "{:?}",
        d.tools[0].warnings
    );
    std::fs::remove_dir_all(&root).unwrap();
}
