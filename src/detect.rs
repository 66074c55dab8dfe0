//! Which database engine and which migration tool a project uses, found from
//! its real files and folders (never from guesses about names alone), and
//! how its migrations are named, so new ones can follow them.
//!
//! Detection only reads: it walks the project (bounded in depth and size,
//! skipping `node_modules`, `.git`, `target`, `vendor`, virtualenvs and
//! hidden folders), reads small configuration files and the existing
//! migrations, and reports. It never writes.

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// Deepest folder level the walk enters (the project folder is level 0).
pub const MAX_DEPTH: usize = 8;
/// Most files and folders the walk looks at before it stops.
pub const MAX_ENTRIES: usize = 50_000;
/// Largest file detection reads.
const MAX_READ: u64 = 512 * 1024;

/// A migration tool schemashift recognises.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// Ruby on Rails / Active Record migrations (`db/migrate/*.rb`).
    Rails,
    /// Django migrations (`<app>/migrations/0001_*.py`).
    Django,
    /// Alembic revisions (`alembic.ini`, `<script_location>/versions/*.py`).
    Alembic,
    /// Prisma Migrate (`prisma/migrations/<timestamp>_name/migration.sql`).
    Prisma,
    /// Drizzle Kit (`drizzle/*.sql` with `meta/_journal.json`).
    Drizzle,
    /// Knex (`knexfile.*`, `migrations/<timestamp>_name.js|ts`).
    Knex,
    /// TypeORM (`<milliseconds>-Name.ts` classes implementing MigrationInterface).
    Typeorm,
    /// Sequelize CLI (`migrations/<timestamp>-name.js`).
    Sequelize,
    /// Flyway (`V1__name.sql`).
    Flyway,
    /// golang-migrate (`<n>_name.up.sql` / `.down.sql`).
    GolangMigrate,
    /// dbmate (`db/migrations/*.sql` with `-- migrate:up`).
    Dbmate,
    /// sqlx (`migrations/<timestamp>_name.sql` or `.up.sql`/`.down.sql`).
    Sqlx,
    /// Diesel (`migrations/<YYYY-MM-DD-HHMMSS>_name/up.sql` + `down.sql`).
    Diesel,
}

impl Tool {
    pub const ALL: [Tool; 13] = [
        Tool::Rails,
        Tool::Django,
        Tool::Alembic,
        Tool::Prisma,
        Tool::Drizzle,
        Tool::Knex,
        Tool::Typeorm,
        Tool::Sequelize,
        Tool::Flyway,
        Tool::GolangMigrate,
        Tool::Dbmate,
        Tool::Sqlx,
        Tool::Diesel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Rails => "rails",
            Tool::Django => "django",
            Tool::Alembic => "alembic",
            Tool::Prisma => "prisma",
            Tool::Drizzle => "drizzle",
            Tool::Knex => "knex",
            Tool::Typeorm => "typeorm",
            Tool::Sequelize => "sequelize",
            Tool::Flyway => "flyway",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
        }
    }

    /// Parses a tool name; a few common spellings are accepted.
    pub fn parse(s: &str) -> Option<Tool> {
        let k = s.trim().to_ascii_lowercase().replace('_', "-");
        let t = match k.as_str() {
            "rails" | "activerecord" | "active-record" => Tool::Rails,
            "django" => Tool::Django,
            "alembic" | "sqlalchemy" => Tool::Alembic,
            "prisma" => Tool::Prisma,
            "drizzle" | "drizzle-kit" => Tool::Drizzle,
            "knex" => Tool::Knex,
            "typeorm" => Tool::Typeorm,
            "sequelize" | "sequelize-cli" => Tool::Sequelize,
            "flyway" => Tool::Flyway,
            "golang-migrate" | "migrate" | "go-migrate" => Tool::GolangMigrate,
            "dbmate" => Tool::Dbmate,
            "sqlx" => Tool::Sqlx,
            "diesel" => Tool::Diesel,
            _ => return None,
        };
        Some(t)
    }

    /// The accepted names, for error messages.
    pub fn names() -> String {
        Tool::ALL.map(Tool::as_str).join(", ")
    }

    /// Where the tool keeps migrations when nothing says otherwise.
    pub fn default_dir(self) -> &'static str {
        match self {
            Tool::Rails => "db/migrate",
            Tool::Django => "migrations",
            Tool::Alembic => "alembic/versions",
            Tool::Prisma => "prisma/migrations",
            Tool::Drizzle => "drizzle",
            Tool::Knex => "migrations",
            Tool::Typeorm => "src/migrations",
            Tool::Sequelize => "migrations",
            Tool::Flyway => "db/migration",
            Tool::GolangMigrate => "migrations",
            Tool::Dbmate => "db/migrations",
            Tool::Sqlx => "migrations",
            Tool::Diesel => "migrations",
        }
    }

    /// How the tool names migrations when there are none to copy.
    pub fn default_naming(self) -> Naming {
        match self {
            Tool::Django | Tool::Drizzle => Naming::Sequence { width: 4 },
            Tool::Alembic => Naming::Revision {
                file_template: DEFAULT_ALEMBIC_TEMPLATE.into(),
            },
            Tool::Typeorm => Naming::Timestamp {
                format: TimestampFormat::UnixMillis,
            },
            Tool::Flyway => Naming::Sequence { width: 0 },
            Tool::Diesel => Naming::Timestamp {
                format: TimestampFormat::Dashed,
            },
            _ => Naming::Timestamp {
                format: TimestampFormat::Compact,
            },
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tool {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tool::parse(s).ok_or_else(|| format!("unknown tool `{s}`: use one of {}", Tool::names()))
    }
}

/// The database engine the project's configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    Postgres,
    Mysql,
    Sqlite,
    /// No configuration file names it.
    #[default]
    Unknown,
}

impl DbEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            DbEngine::Postgres => "postgres",
            DbEngine::Mysql => "mysql",
            DbEngine::Sqlite => "sqlite",
            DbEngine::Unknown => "unknown",
        }
    }
}

/// The timestamp layouts migration tools use, named by their strftime form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TimestampFormat {
    /// `20240102153000` (Rails, Prisma, Knex, Sequelize, dbmate, sqlx, golang-migrate).
    #[serde(rename = "%Y%m%d%H%M%S")]
    Compact,
    /// `2024-01-02-153000` (Diesel).
    #[serde(rename = "%Y-%m-%d-%H%M%S")]
    Dashed,
    /// Unix seconds, `1704209400` (golang-migrate `-format unix`).
    #[serde(rename = "%s")]
    UnixSeconds,
    /// Unix milliseconds, `1704209400000` (TypeORM).
    #[serde(rename = "%s%3f")]
    UnixMillis,
}

impl TimestampFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampFormat::Compact => "%Y%m%d%H%M%S",
            TimestampFormat::Dashed => "%Y-%m-%d-%H%M%S",
            TimestampFormat::UnixSeconds => "%s",
            TimestampFormat::UnixMillis => "%s%3f",
        }
    }
}

/// Alembic's default `file_template`.
pub const DEFAULT_ALEMBIC_TEMPLATE: &str = "%%(rev)s_%%(slug)s";

/// How the project's migrations are named (taken from the existing files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum Naming {
    /// A timestamp prefix.
    Timestamp { format: TimestampFormat },
    /// Sequence numbers, zero-padded to `width` digits (0: not padded).
    Sequence { width: usize },
    /// Flyway dotted versions (`V1.2__`, `V1_2__`): the last part is increased.
    Dotted { separator: String },
    /// Alembic revision ids chained by `down_revision`, in files named by `file_template`.
    Revision { file_template: String },
}

impl Naming {
    pub fn describe(&self) -> String {
        match self {
            Naming::Timestamp { format } => format!("timestamp {}", format.as_str()),
            Naming::Sequence { width: 0 } => "sequence numbers".into(),
            Naming::Sequence { width } => format!("sequence numbers, {width} digits"),
            Naming::Dotted { separator } => format!("dotted versions (separator `{separator}`)"),
            Naming::Revision { file_template } => {
                format!("revision ids chained by down_revision, files {file_template}")
            }
        }
    }
}

/// The newest existing migration: what new ones follow and chain to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LatestMigration {
    /// File (or folder) name, e.g. `20240102153000_add_email_to_users.rb`.
    pub name: String,
    /// Path relative to the project folder.
    pub path: String,
    /// Its version: the timestamp or number, Flyway's version, Alembic's
    /// `revision` (the head), Django's migration name (for `dependencies`).
    pub version: String,
}

/// Facts about how the project writes migrations, where they matter for new ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Style {
    /// `js` or `ts` (Knex, TypeORM, Sequelize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `commonjs` or `esm` (JavaScript migrations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// File extension of JS/TS migrations (`js`, `cjs`, `mjs`, `ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// sqlx: `.up.sql`/`.down.sql` pairs (true) or one `.sql` per migration (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversible: Option<bool>,
    /// Rails: the `ActiveRecord::Migration[x.y]` version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_version: Option<String>,
    /// TypeORM: `migrationsTransactionMode` from the data source (`all` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_mode: Option<String>,
    /// Flyway: the project has undo migrations (`U1__*.sql`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<bool>,
    /// Django: the app label (for `dependencies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// One migration tool found in the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DetectedTool {
    pub tool: Tool,
    /// Where its migrations live, relative to the project folder (`/`-separated).
    pub migrations_dir: String,
    /// Number of existing migrations there.
    pub migrations: usize,
    /// The newest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestMigration>,
    /// The naming convention the existing migrations follow.
    pub naming: Naming,
    /// The engine this tool's own configuration names.
    pub engine: DbEngine,
    #[serde(default)]
    pub style: Style,
    /// The files that show it, with what they say.
    pub evidence: Vec<String>,
    /// Anything that needs attention (several Alembic heads, a Django app with
    /// conflicting leaves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Names (descriptions) already used, so new ones do not clash.
    #[serde(skip)]
    pub existing_names: Vec<String>,
    /// Every existing version (for ordering checks), oldest first.
    #[serde(skip)]
    pub existing_versions: Vec<String>,
    /// Drizzle Kit's bookkeeping, which new migrations are appended to.
    #[serde(skip)]
    pub drizzle: Option<DrizzleState>,
}

/// What a Drizzle project's out folder holds besides its SQL files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrizzleState {
    /// `meta/_journal.json` exactly as read; None when there is none yet.
    pub journal: Option<String>,
    /// The stems of the psql scripts in `<out>/manual/`, oldest first.
    pub manual: Vec<String>,
}

/// Drizzle Kit's `meta/_journal.json`: the list of migrations drizzle's
/// migrator runs, in order (it reads nothing else of the folder but the
/// SQL files the entries name).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrizzleJournal {
    #[serde(default)]
    pub dialect: Option<String>,
    pub entries: Vec<DrizzleEntry>,
}

/// One migration of the journal: `<tag>.sql`, run when the database's
/// newest applied `created_at` is older than `when` (milliseconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrizzleEntry {
    pub when: u64,
    pub tag: String,
}

impl DrizzleJournal {
    pub fn parse(text: &str) -> Result<DrizzleJournal, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// What detection found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Detection {
    /// The folder looked at.
    pub dir: String,
    /// The engine, from the tools' configuration (or `.env`, compose files).
    pub engine: DbEngine,
    /// The files that name the engine.
    pub engine_evidence: Vec<String>,
    /// The migration tools found, the most established (most migrations) first.
    pub tools: Vec<DetectedTool>,
    /// How the walk went (stopped early, folders skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Detection {
    /// The entry for a tool (the one with most migrations when there are several).
    pub fn tool(&self, tool: Tool) -> Option<&DetectedTool> {
        self.tools.iter().find(|t| t.tool == tool)
    }
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "vendor",
    "__pycache__",
    "site-packages",
    "dist",
    "build",
    "venv",
    "bower_components",
];

/// The files and folders of a project, relative and `/`-separated.
struct Tree {
    root: PathBuf,
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    truncated: bool,
}

impl Tree {
    fn walk(root: &Path) -> Tree {
        let mut t = Tree {
            root: root.to_path_buf(),
            files: BTreeSet::new(),
            dirs: BTreeSet::new(),
            truncated: false,
        };
        let mut seen = 0usize;
        let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
        while let Some((abs, rel, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&abs) else {
                continue;
            };
            let mut entries: Vec<_> = rd.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                seen += 1;
                if seen > MAX_ENTRIES {
                    t.truncated = true;
                    return t;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                // file_type does not follow symbolic links: no cycles.
                let Ok(kind) = e.file_type() else { continue };
                if kind.is_dir() {
                    if name.starts_with('.') || SKIP_DIRS.contains(&name.as_str()) {
                        continue;
                    }
                    if e.path().join("pyvenv.cfg").is_file() {
                        continue;
                    }
                    t.dirs.insert(child.clone());
                    if depth < MAX_DEPTH {
                        stack.push((e.path(), child, depth + 1));
                    }
                } else if kind.is_file() {
                    t.files.insert(child);
                }
            }
        }
        t
    }

    fn read(&self, rel: &str) -> Option<String> {
        let p = self.root.join(rel);
        let meta = std::fs::metadata(&p).ok()?;
        if !meta.is_file() || meta.len() > MAX_READ {
            return None;
        }
        let bytes = std::fs::read(p).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn has_file(&self, rel: &str) -> bool {
        self.files.contains(rel)
    }

    /// Files directly inside `dir` ("" for the root).
    fn files_in<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.files.iter().filter_map(move |f| {
            let (parent, name) = split_parent(f);
            (parent == dir).then_some((f.as_str(), name))
        })
    }

    /// Folders directly inside `dir`.
    fn dirs_in<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.dirs.iter().filter_map(move |d| {
            let (parent, name) = split_parent(d);
            (parent == dir).then_some((d.as_str(), name))
        })
    }

    /// Files whose name (last component) matches.
    fn named<'a>(&'a self, re: &'a Regex) -> impl Iterator<Item = &'a str> + 'a {
        self.files
            .iter()
            .filter(move |f| re.is_match(split_parent(f).1))
            .map(String::as_str)
    }
}

fn split_parent(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        dir.to_string()
    }
}

/// Normalises a configured path (`./db/migrations/`, `db\\migrations`)
/// relative to the folder of the file that names it.
fn resolve(base: &str, configured: &str) -> String {
    let c = configured.trim().replace('\\', "/");
    let mut parts: Vec<&str> = if c.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in c.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).unwrap());
    };
}

// ---------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------

/// Detects the engine and migration tools of the project in `dir`. Reads only.
pub fn detect(dir: &Path) -> Result<Detection, String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let tree = Tree::walk(dir);
    let mut tools = Vec::new();
    rails(&tree, &mut tools);
    django(&tree, &mut tools);
    alembic(&tree, &mut tools);
    prisma(&tree, &mut tools);
    drizzle(&tree, &mut tools);
    js_tools(&tree, &mut tools);
    flyway(&tree, &mut tools);
    sql_dirs(&tree, &mut tools);
    diesel(&tree, &mut tools);
    tools.sort_by(|a, b| {
        b.migrations
            .cmp(&a.migrations)
            .then(a.tool.cmp(&b.tool))
            .then(a.migrations_dir.cmp(&b.migrations_dir))
    });

    let mut engine = DbEngine::Unknown;
    let mut engine_evidence = Vec::new();
    for t in &tools {
        if t.engine != DbEngine::Unknown {
            if engine == DbEngine::Unknown {
                engine = t.engine;
            }
            for e in &t.evidence {
                if e.contains(" names ") && !engine_evidence.contains(e) {
                    engine_evidence.push(e.clone());
                }
            }
        }
    }
    let (generic, generic_evidence) = generic_engine(&tree);
    if engine == DbEngine::Unknown {
        engine = generic;
    }
    engine_evidence.extend(generic_evidence);

    let mut notes = Vec::new();
    if tree.truncated {
        notes.push(format!(
            "stopped after {MAX_ENTRIES} files and folders; point detection at the folder that holds the migrations"
        ));
    }
    let engines: BTreeSet<&str> = tools
        .iter()
        .map(|t| t.engine)
        .filter(|e| *e != DbEngine::Unknown)
        .map(DbEngine::as_str)
        .collect();
    if engines.len() > 1 {
        notes.push(format!(
            "the configuration names more than one engine ({}); the first tool's is reported",
            engines.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Detection {
        dir: dir.display().to_string(),
        engine,
        engine_evidence,
        tools,
        notes,
    })
}

fn engine_word(word: &str) -> DbEngine {
    let w = word.to_ascii_lowercase();
    if w.contains("postgis") || w.contains("postgres") || w == "pg" || w.contains("cockroach") {
        DbEngine::Postgres
    } else if w.contains("mysql") || w.contains("mariadb") || w.contains("trilogy") {
        DbEngine::Mysql
    } else if w.contains("sqlite") {
        DbEngine::Sqlite
    } else {
        DbEngine::Unknown
    }
}

/// The engine a `scheme://` URL names.
fn url_engine(url: &str) -> DbEngine {
    let u = url.trim().trim_start_matches("jdbc:");
    match u.split_once(':') {
        Some((scheme, _)) => engine_word(scheme.split('+').next().unwrap_or(scheme)),
        None => DbEngine::Unknown,
    }
}

re!(
    ENV_URL,
    r#"(?m)^\s*(?:export\s+)?[A-Z_]*DATABASE_URL\s*[=:]\s*["']?([a-z0-9+]+:[^\s"']*)"#
);
re!(COMPOSE_IMAGE, r#"(?m)^\s*image:\s*["']?([\w./-]+)"#);

/// `.env` files and compose files: the fallback when no tool config names the engine.
fn generic_engine(tree: &Tree) -> (DbEngine, Vec<String>) {
    let mut found = DbEngine::Unknown;
    let mut evidence = Vec::new();
    for f in [
        ".env",
        ".env.example",
        ".env.sample",
        ".env.development",
        ".env.local",
    ] {
        if let Some(text) = tree.read(f) {
            if let Some(c) = ENV_URL.captures(&text) {
                let e = url_engine(&c[1]);
                if e != DbEngine::Unknown {
                    evidence.push(format!("{f}: DATABASE_URL names {}", e.as_str()));
                    if found == DbEngine::Unknown {
                        found = e;
                    }
                }
            }
        }
    }
    for f in [
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.yml",
        "compose.yaml",
    ] {
        if let Some(text) = tree.read(f) {
            for c in COMPOSE_IMAGE.captures_iter(&text) {
                let img = &c[1];
                let base = img.rsplit('/').next().unwrap_or(img);
                let e = engine_word(base.split(':').next().unwrap_or(base));
                if e != DbEngine::Unknown {
                    evidence.push(format!("{f}: image {img} names {}", e.as_str()));
                    if found == DbEngine::Unknown {
                        found = e;
                    }
                    break;
                }
            }
        }
    }
    (found, evidence)
}

impl DetectedTool {
    /// A tool with nothing detected: its default naming, no migrations.
    pub fn fresh(tool: Tool, dir: &str) -> DetectedTool {
        new_tool(tool, dir)
    }
}

fn new_tool(tool: Tool, dir: &str) -> DetectedTool {
    DetectedTool {
        tool,
        migrations_dir: display_dir(dir),
        migrations: 0,
        latest: None,
        naming: tool.default_naming(),
        engine: DbEngine::Unknown,
        style: Style::default(),
        evidence: Vec::new(),
        warnings: Vec::new(),
        existing_names: Vec::new(),
        existing_versions: Vec::new(),
        drizzle: None,
    }
}

fn set_engine(t: &mut DetectedTool, e: DbEngine, file: &str, what: &str) {
    if e == DbEngine::Unknown {
        return;
    }
    t.evidence
        .push(format!("{file}: {what} names {}", e.as_str()));
    if t.engine == DbEngine::Unknown {
        t.engine = e;
    }
}

/// Width of zero-padded sequence numbers: the length when any is padded.
fn sequence_width(versions: &[&str]) -> usize {
    if versions.iter().any(|v| v.len() > 1 && v.starts_with('0')) {
        versions.iter().map(|v| v.len()).max().unwrap_or(0)
    } else {
        0
    }
}

/// The naming of numeric version prefixes: 14 digits are `%Y%m%d%H%M%S`,
/// 13 are Unix milliseconds, 10 starting with 1 are Unix seconds, the rest
/// are sequence numbers.
fn numeric_naming(versions: &[&str]) -> Option<Naming> {
    let latest = versions.iter().max_by(|a, b| cmp_numeric(a, b))?;
    let n = latest.len();
    Some(if n == 14 && looks_like_compact_timestamp(latest) {
        Naming::Timestamp {
            format: TimestampFormat::Compact,
        }
    } else if n == 13 && latest.starts_with('1') {
        Naming::Timestamp {
            format: TimestampFormat::UnixMillis,
        }
    } else if n == 10 && latest.starts_with('1') {
        Naming::Timestamp {
            format: TimestampFormat::UnixSeconds,
        }
    } else {
        Naming::Sequence {
            width: sequence_width(versions),
        }
    })
}

fn looks_like_compact_timestamp(v: &str) -> bool {
    v.len() == 14
        && v.bytes().all(|b| b.is_ascii_digit())
        && v[..4]
            .parse::<u32>()
            .is_ok_and(|y| (1970..=2999).contains(&y))
        && v[4..6].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
}

/// Compares digit strings as numbers (no overflow: longer is larger).
pub fn cmp_numeric(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Fills count, latest, naming and names from `(version, description, name, path)`.
fn fill_numeric(t: &mut DetectedTool, mut found: Vec<(String, String, String, String)>) {
    found.sort_by(|a, b| cmp_numeric(&a.0, &b.0).then(a.2.cmp(&b.2)));
    t.migrations = found.len();
    let versions: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    if let Some(n) = numeric_naming(&versions) {
        t.naming = n;
    }
    t.existing_versions = found.iter().map(|f| f.0.clone()).collect();
    t.existing_names = found.iter().map(|f| f.1.clone()).collect();
    if let Some((v, _, name, path)) = found.last() {
        t.latest = Some(LatestMigration {
            name: name.clone(),
            path: path.clone(),
            version: v.clone(),
        });
    }
}

// --- Rails -----------------------------------------------------------------

re!(RAILS_FILE, r"^(\d+)_([a-z0-9_]+)\.rb$");
re!(RAILS_VERSION, r"ActiveRecord::Migration\[(\d+\.\d+)\]");
re!(
    GEMFILE_RAILS,
    r"(?m)^\s{4}(?:rails|activerecord) \((\d+)\.(\d+)"
);
re!(YML_ADAPTER, r#"(?m)^\s*adapter:\s*["']?([\w-]+)"#);
re!(YML_URL, r#"(?m)^\s*url:\s*["']?([a-z0-9+]+://)"#);

fn rails(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let mut dirs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for f in tree.named(&RAILS_FILE) {
        let (parent, name) = split_parent(f);
        if parent == "db/migrate" || parent.ends_with("/db/migrate") {
            dirs.entry(parent).or_default().push((f, name));
        }
    }
    for (dir, files) in dirs {
        let root = dir.strip_suffix("db/migrate").unwrap_or("");
        let root = root.trim_end_matches('/');
        let mut t = new_tool(Tool::Rails, dir);
        let mut found = Vec::new();
        for (path, name) in &files {
            let c = RAILS_FILE.captures(name).unwrap();
            found.push((
                c[1].to_string(),
                c[2].to_string(),
                name.to_string(),
                path.to_string(),
            ));
        }
        t.evidence
            .push(format!("{dir}: {} Active Record migrations", found.len()));
        fill_numeric(&mut t, found);
        if let Some(text) = t.latest.as_ref().and_then(|l| tree.read(&l.path)) {
            if let Some(c) = RAILS_VERSION.captures(&text) {
                t.style.framework_version = Some(c[1].to_string());
            }
        }
        if t.style.framework_version.is_none() {
            if let Some(c) = tree.read(&join(root, "Gemfile.lock")).and_then(|s| {
                GEMFILE_RAILS
                    .captures(&s)
                    .map(|c| format!("{}.{}", &c[1], &c[2]))
            }) {
                t.style.framework_version = Some(c);
            }
        }
        for f in ["db/schema.rb", "db/structure.sql"] {
            let p = join(root, f);
            if tree.has_file(&p) {
                t.evidence.push(format!("{p} present"));
            }
        }
        let yml = join(root, "config/database.yml");
        if let Some(text) = tree.read(&yml) {
            if let Some(c) = YML_ADAPTER.captures(&text) {
                set_engine(
                    &mut t,
                    engine_word(&c[1]),
                    &yml,
                    &format!("adapter {}", &c[1]),
                );
            } else if let Some(c) = YML_URL.captures(&text) {
                set_engine(&mut t, url_engine(&c[1]), &yml, "url");
            }
        }
        out.push(t);
    }
}

// --- Django ----------------------------------------------------------------

re!(DJANGO_FILE, r"^(\d{4})_(\w+)\.py$");
re!(
    DJANGO_DEP,
    r#"\(\s*['"]([\w.]+)['"]\s*,\s*['"](\w+)['"]\s*\)"#
);
re!(DJANGO_DEPS_BLOCK, r"(?s)dependencies\s*=\s*\[(.*?)\]");
re!(DJANGO_ENGINE, r#"['"]ENGINE['"]\s*:\s*['"]([\w.]+)['"]"#);
re!(
    DJANGO_URL,
    r#"(?:default|DATABASE_URL)\s*=\s*['"]([a-z0-9+]+://)"#
);
re!(APP_LABEL, r#"(?m)^\s*label\s*=\s*['"](\w+)['"]"#);

fn django(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let mut dirs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for f in tree.named(&DJANGO_FILE) {
        let (parent, name) = split_parent(f);
        if (parent == "migrations" || parent.ends_with("/migrations"))
            && tree.has_file(&join(parent, "__init__.py"))
        {
            dirs.entry(parent).or_default().push((f, name));
        }
    }
    let engine = django_engine(tree);
    for (dir, files) in dirs {
        let app_dir = split_parent(dir).0;
        let mut app = split_parent(app_dir).1.to_string();
        if let Some(c) = tree
            .read(&join(app_dir, "apps.py"))
            .and_then(|s| APP_LABEL.captures(&s).map(|c| c[1].to_string()))
        {
            app = c;
        }
        if app.is_empty() {
            continue;
        }
        let mut t = new_tool(Tool::Django, dir);
        t.naming = Naming::Sequence { width: 4 };
        t.style.app = Some(app.clone());
        t.evidence.push(format!(
            "{dir}: {} Django migrations of app `{app}`",
            files.len()
        ));
        if tree.has_file("manage.py") {
            t.evidence.push("manage.py present".into());
        }
        // The leaf: the migration of this app no other one of it depends on.
        let mut names: Vec<(String, String)> = files
            .iter()
            .map(|(p, n)| (n.trim_end_matches(".py").to_string(), p.to_string()))
            .collect();
        names.sort();
        let mut depended = BTreeSet::new();
        for (_, path) in &names {
            if let Some(text) = tree.read(path) {
                if let Some(block) = DJANGO_DEPS_BLOCK.captures(&text) {
                    for c in DJANGO_DEP.captures_iter(&block[1]) {
                        if c[1] == *app {
                            depended.insert(c[2].to_string());
                        }
                    }
                }
            }
        }
        let leaves: Vec<&(String, String)> = names
            .iter()
            .filter(|(n, _)| !depended.contains(n))
            .collect();
        if leaves.len() > 1 {
            t.warnings.push(format!(
                "app `{app}` has {} leaf migrations ({}): run `manage.py makemigrations --merge` first",
                leaves.len(),
                leaves.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        let latest = leaves.last().copied().or(names.last());
        t.migrations = names.len();
        t.existing_versions = names.iter().map(|n| n.0[..4].to_string()).collect();
        t.existing_names = names.iter().map(|n| n.0[5..].to_string()).collect();
        if let Some((n, p)) = latest {
            t.latest = Some(LatestMigration {
                name: format!("{n}.py"),
                path: p.clone(),
                version: n.clone(),
            });
        }
        if let Some((e, file, what)) = &engine {
            set_engine(&mut t, *e, file, what);
        }
        out.push(t);
    }
}

fn django_engine(tree: &Tree) -> Option<(DbEngine, String, String)> {
    let settings = tree.files.iter().filter(|f| {
        let (parent, name) = split_parent(f);
        name.ends_with(".py")
            && (name == "settings.py"
                || parent.ends_with("settings")
                || name.starts_with("settings"))
    });
    for f in settings {
        let Some(text) = tree.read(f) else { continue };
        if let Some(c) = DJANGO_ENGINE.captures(&text) {
            return Some((engine_word(&c[1]), f.clone(), format!("ENGINE {}", &c[1])));
        }
        if let Some(c) = DJANGO_URL.captures(&text) {
            return Some((url_engine(&c[1]), f.clone(), "the database URL".into()));
        }
    }
    None
}

// --- Alembic ---------------------------------------------------------------

re!(
    INI_SCRIPT_LOCATION,
    r"(?m)^\s*script_location\s*=\s*(.+?)\s*$"
);
re!(
    INI_VERSION_LOCATIONS,
    r"(?m)^\s*version_locations\s*=\s*(.+?)\s*$"
);
re!(INI_FILE_TEMPLATE, r"(?m)^\s*file_template\s*=\s*(.+?)\s*$");
re!(INI_URL, r"(?m)^\s*sqlalchemy\.url\s*=\s*([a-z0-9+]+://)");
re!(
    ALEMBIC_REVISION,
    r#"(?m)^revision\s*(?::\s*[\w\[\], ]+)?=\s*['"]([0-9A-Za-z_]+)['"]"#
);
re!(
    ALEMBIC_DOWN,
    r#"(?m)^down_revision\s*(?::\s*[\w\[\], .]+)?=\s*(None|['"][0-9A-Za-z_]+['"]|\((?:[^)]*)\))"#
);
re!(QUOTED, r#"['"]([0-9A-Za-z_]+)['"]"#);
re!(PYPROJECT_ALEMBIC, r"(?ms)^\[tool\.alembic\](.*?)(?:^\[|\z)");
re!(
    TOML_SCRIPT_LOCATION,
    r#"(?m)^\s*script_location\s*=\s*["']([^"']+)["']"#
);

fn alembic(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let mut candidates: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
    for ini in tree
        .files
        .iter()
        .filter(|f| split_parent(f).1 == "alembic.ini")
    {
        let base = split_parent(ini).0;
        let text = tree.read(ini).unwrap_or_default();
        let loc = INI_SCRIPT_LOCATION
            .captures(&text)
            .map(|c| c[1].replace("%(here)s", "."))
            .unwrap_or_else(|| "alembic".into());
        let script = resolve(base, &loc);
        let versions = INI_VERSION_LOCATIONS
            .captures(&text)
            .and_then(|c| {
                c[1].split([' ', ',', ';'])
                    .find(|s| !s.is_empty())
                    .map(|s| resolve(base, &s.replace("%(here)s", ".")))
            })
            .unwrap_or_else(|| join(&script, "versions"));
        let template = INI_FILE_TEMPLATE.captures(&text).map(|c| c[1].to_string());
        let url = INI_URL.captures(&text).map(|c| c[1].to_string());
        candidates.push((ini.clone(), versions, template, url));
    }
    if candidates.is_empty() {
        if let Some(text) = tree.read("pyproject.toml") {
            if let Some(block) = PYPROJECT_ALEMBIC.captures(&text) {
                if let Some(c) = TOML_SCRIPT_LOCATION.captures(&block[1]) {
                    let script = resolve("", &c[1].replace("%(here)s", "."));
                    candidates.push((
                        "pyproject.toml".into(),
                        join(&script, "versions"),
                        None,
                        None,
                    ));
                }
            }
        }
    }
    if candidates.is_empty() {
        // env.py + script.py.mako + versions/ without an ini.
        for env in tree.files.iter().filter(|f| split_parent(f).1 == "env.py") {
            let base = split_parent(env).0;
            if tree.has_file(&join(base, "script.py.mako")) {
                candidates.push((env.clone(), join(base, "versions"), None, None));
            }
        }
    }
    for (config, versions, template, url) in candidates {
        let mut t = new_tool(Tool::Alembic, &versions);
        t.evidence.push(format!("{config} present"));
        t.naming = Naming::Revision {
            file_template: template.unwrap_or_else(|| DEFAULT_ALEMBIC_TEMPLATE.into()),
        };
        if let Some(u) = url {
            set_engine(&mut t, url_engine(&u), &config, "sqlalchemy.url");
        }
        let mut revs: Vec<(String, Vec<String>, String, String)> = Vec::new();
        for (path, name) in tree.files_in(&versions) {
            if !name.ends_with(".py") || name == "__init__.py" {
                continue;
            }
            let Some(text) = tree.read(path) else {
                continue;
            };
            let Some(rev) = ALEMBIC_REVISION.captures(&text).map(|c| c[1].to_string()) else {
                continue;
            };
            let downs = ALEMBIC_DOWN
                .captures(&text)
                .map(|c| {
                    QUOTED
                        .captures_iter(&c[1])
                        .map(|q| q[1].to_string())
                        .collect()
                })
                .unwrap_or_default();
            let slug = name.trim_end_matches(".py").to_string();
            revs.push((rev, downs, name.to_string(), path.to_string()));
            t.existing_names.push(slug);
        }
        t.migrations = revs.len();
        t.evidence
            .push(format!("{versions}: {} Alembic revisions", revs.len()));
        let referenced: BTreeSet<&String> = revs.iter().flat_map(|r| r.1.iter()).collect();
        let heads: Vec<&(String, Vec<String>, String, String)> =
            revs.iter().filter(|r| !referenced.contains(&r.0)).collect();
        if heads.len() > 1 {
            t.warnings.push(format!(
                "{} heads ({}): run `alembic merge heads` first",
                heads.len(),
                heads
                    .iter()
                    .map(|h| h.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // Oldest first along the chain, for ordering checks.
        t.existing_versions = chain_order(&revs);
        if let Some(h) = heads.first() {
            t.latest = Some(LatestMigration {
                name: h.2.clone(),
                path: h.3.clone(),
                version: h.0.clone(),
            });
        }
        out.push(t);
    }
}

fn chain_order(revs: &[(String, Vec<String>, String, String)]) -> Vec<String> {
    let mut order = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let next: Vec<&String> = revs
            .iter()
            .filter(|r| !done.contains(&r.0) && r.1.iter().all(|d| done.contains(d)))
            .map(|r| &r.0)
            .collect();
        if next.is_empty() {
            break;
        }
        for n in next {
            done.insert(n.clone());
            order.push(n.clone());
        }
    }
    order
}

// --- Prisma ----------------------------------------------------------------

re!(
    PRISMA_PROVIDER,
    r#"(?s)datasource\s+\w+\s*\{[^}]*?provider\s*=\s*"(\w+)""#
);
re!(LOCK_PROVIDER, r#"provider\s*=\s*"(\w+)""#);
re!(PRISMA_DIR, r"^(\d{14})_(\w+)$");

fn prisma(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let schemas: Vec<&String> = tree
        .files
        .iter()
        .filter(|f| split_parent(f).1 == "schema.prisma")
        .collect();
    // migrations folder -> the schema beside it.
    let mut dirs: BTreeMap<String, Option<&String>> = BTreeMap::new();
    for s in &schemas {
        let base = split_parent(s).0;
        // prisma/schema.prisma or prisma/schema/schema.prisma (multi-file).
        let base = if split_parent(base).1 == "schema" {
            split_parent(base).0
        } else {
            base
        };
        dirs.insert(join(base, "migrations"), Some(*s));
    }
    for lock in tree
        .files
        .iter()
        .filter(|f| split_parent(f).1 == "migration_lock.toml")
    {
        dirs.entry(split_parent(lock).0.to_string()).or_insert(None);
    }
    for (dir, schema) in dirs {
        let mut t = new_tool(Tool::Prisma, &dir);
        t.naming = Naming::Timestamp {
            format: TimestampFormat::Compact,
        };
        if let Some(s) = schema {
            t.evidence.push(format!("{s} present"));
            if let Some(c) = tree
                .read(s)
                .and_then(|x| PRISMA_PROVIDER.captures(&x).map(|c| c[1].to_string()))
            {
                set_engine(
                    &mut t,
                    engine_word(&c),
                    s,
                    &format!("datasource provider \"{c}\""),
                );
            }
        }
        let lock = join(&dir, "migration_lock.toml");
        if let Some(c) = tree
            .read(&lock)
            .and_then(|x| LOCK_PROVIDER.captures(&x).map(|c| c[1].to_string()))
        {
            set_engine(&mut t, engine_word(&c), &lock, &format!("provider \"{c}\""));
        }
        let mut found = Vec::new();
        for (path, name) in tree.dirs_in(&dir) {
            if let Some(c) = PRISMA_DIR.captures(name) {
                if tree.has_file(&join(path, "migration.sql")) {
                    found.push((
                        c[1].to_string(),
                        c[2].to_string(),
                        name.to_string(),
                        path.to_string(),
                    ));
                }
            }
        }
        if found.is_empty() && schema.is_none() {
            continue;
        }
        t.evidence
            .push(format!("{dir}: {} Prisma migrations", found.len()));
        let naming = t.naming.clone();
        fill_numeric(&mut t, found);
        t.naming = naming;
        out.push(t);
    }
}

// --- Drizzle ---------------------------------------------------------------

re!(DRIZZLE_CONFIG, r"^drizzle\.config\.(ts|js|mjs|cjs|json)$");
re!(DRIZZLE_OUT, r#"\bout\s*["']?\s*:\s*["'`]([^"'`]+)["'`]"#);
re!(
    DRIZZLE_DIALECT,
    r#"\b(?:dialect|driver)\s*["']?\s*:\s*["'`](\w[\w-]*)["'`]"#
);
re!(DRIZZLE_PREFIX, r#"\bprefix\s*["']?\s*:\s*["'`](\w+)["'`]"#);
re!(DRIZZLE_FILE, r"^(\d{4})_([\w-]+)\.sql$");
re!(DRIZZLE_TAG, r"^(\d{4})_([\w-]+)$");

fn drizzle(tree: &Tree, out: &mut Vec<DetectedTool>) {
    for cfg in tree.named(&DRIZZLE_CONFIG) {
        let base = split_parent(cfg).0;
        let text = tree.read(cfg).unwrap_or_default();
        let outdir = DRIZZLE_OUT
            .captures(&text)
            .map(|c| resolve(base, &c[1]))
            .unwrap_or_else(|| join(base, "drizzle"));
        let mut t = new_tool(Tool::Drizzle, &outdir);
        t.evidence.push(format!("{cfg} present"));
        if let Some(c) = DRIZZLE_DIALECT.captures(&text) {
            set_engine(
                &mut t,
                engine_word(&c[1]),
                cfg,
                &format!("dialect {}", &c[1]),
            );
        }
        if let Some(c) = DRIZZLE_PREFIX.captures(&text).filter(|c| &c[1] != "index") {
            t.warnings.push(format!(
                "{cfg} sets migrations.prefix \"{}\"; schemashift writes Drizzle Kit's default index prefix (0003_name.sql) only",
                &c[1]
            ));
        }
        let mut state = DrizzleState::default();
        let mut found = Vec::new();
        let journal = join(&outdir, "meta/_journal.json");
        if tree.has_file(&journal) {
            t.evidence.push(format!("{journal} present"));
            match tree.read(&journal).map(|j| (DrizzleJournal::parse(&j), j)) {
                None => t.warnings.push(format!(
                    "{journal} could not be read (larger than 512 KiB?)"
                )),
                Some((Err(e), _)) => t
                    .warnings
                    .push(format!("{journal} is not a Drizzle journal: {e}")),
                Some((Ok(j), text)) => {
                    if let Some(d) = &j.dialect {
                        set_engine(&mut t, engine_word(d), &journal, &format!("dialect {d}"));
                    }
                    for e in &j.entries {
                        let file = join(&outdir, &format!("{}.sql", e.tag));
                        if !tree.has_file(&file) {
                            // drizzle's migrator stops at an entry without its file.
                            t.warnings.push(format!(
                                "{journal} lists {}, but {file} does not exist",
                                e.tag
                            ));
                        }
                        match DRIZZLE_TAG.captures(&e.tag) {
                            Some(c) => found.push((
                                c[1].to_string(),
                                c[2].to_string(),
                                format!("{}.sql", e.tag),
                                file,
                            )),
                            None => t.warnings.push(format!(
                                "{journal} lists {}, which has no 4-digit index prefix; schemashift writes Drizzle Kit's default index prefix (0003_name.sql) only",
                                e.tag
                            )),
                        }
                    }
                    state.journal = Some(text);
                }
            }
        }
        for (path, name) in tree.files_in(&outdir) {
            let listed = found.iter().any(|f| f.2 == name);
            if DRIZZLE_FILE.is_match(name) && !listed {
                // The migrator never runs it, and its number may be the next one.
                t.warnings.push(format!(
                    "{path} is not listed in {journal}, so drizzle's migrator does not run it; add it to the journal (drizzle-kit generate) or remove it"
                ));
            }
        }
        let manual = join(&outdir, "manual");
        let mut scripts: Vec<String> = tree
            .files_in(&manual)
            .filter(|(_, name)| DRIZZLE_FILE.is_match(name))
            .map(|(_, name)| name.trim_end_matches(".sql").to_string())
            .collect();
        scripts.sort();
        // Journal order is the run order; numbers alone could be out of it.
        t.migrations = found.len();
        t.existing_versions = found.iter().map(|f| f.0.clone()).collect();
        t.existing_names = found.iter().map(|f| f.1.clone()).collect();
        t.existing_names.extend(
            scripts
                .iter()
                .filter_map(|s| s.split_once('_').map(|(_, n)| n.to_string())),
        );
        if let Some((v, _, name, path)) = found.last() {
            t.latest = Some(LatestMigration {
                name: name.clone(),
                path: path.clone(),
                version: v.clone(),
            });
        }
        state.manual = scripts;
        t.drizzle = Some(state);
        out.push(t);
    }
}

// --- Knex, TypeORM, Sequelize ----------------------------------------------

re!(KNEXFILE, r"^knexfile\.(js|ts|cjs|mjs)$");
re!(KNEX_CLIENT, r#"\bclient\s*:\s*["'`]([\w-]+)["'`]"#);
re!(KNEX_DIR, r#"\bdirectory\s*:\s*["'`]([^"'`]+)["'`]"#);
re!(KNEX_FILE, r"^(\d{14})_([\w-]+)\.(js|ts|cjs|mjs)$");
re!(TYPEORM_FILE, r"^(\d{13})-([\w-]+)\.(ts|js)$");
re!(SEQUELIZE_FILE, r"^(\d{14})-([\w-]+)\.(js|cjs|ts)$");
re!(ORMCONFIG, r"^ormconfig\.(json|js|ts|yml|yaml)$");
re!(TYPEORM_TYPE, r#"\btype["']?\s*:\s*["'`](\w+)["'`]"#);
re!(
    TYPEORM_MODE,
    r#"migrationsTransactionMode["']?\s*:\s*["'`](\w+)["'`]"#
);
re!(
    SEQUELIZERC_PATH,
    r#"['"]migrations-path['"]\s*:\s*(?:path\.resolve\(([^)]*)\)|['"]([^'"]+)['"])"#
);
re!(
    SEQUELIZERC_CONFIG,
    r#"['"]config['"]\s*:\s*(?:path\.resolve\(([^)]*)\)|['"]([^'"]+)['"])"#
);
re!(JSON_DIALECT, r#""dialect"\s*:\s*"(\w+)""#);
re!(
    ESM_EXPORT,
    r"(?m)^export\s+(?:async\s+function|const|function|default)\b"
);

fn path_args(args: &str) -> String {
    QUOTED_ANY
        .captures_iter(args)
        .map(|c| c[1].to_string())
        .collect::<Vec<_>>()
        .join("/")
}
re!(QUOTED_ANY, r#"['"]([^'"]*)['"]"#);

fn js_module(text: &str) -> &'static str {
    if ESM_EXPORT.is_match(text) && !text.contains("module.exports") && !text.contains("exports.up")
    {
        "esm"
    } else {
        "commonjs"
    }
}

fn js_tools(tree: &Tree, out: &mut Vec<DetectedTool>) {
    // Migration files of each kind, grouped by folder.
    let mut knex: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    let mut typeorm: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    let mut sequelize: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    for f in &tree.files {
        let (parent, name) = split_parent(f);
        if KNEX_FILE.is_match(name) {
            knex.entry(parent.to_string()).or_default().push((f, name));
        } else if TYPEORM_FILE.is_match(name) {
            if tree
                .read(f)
                .is_some_and(|t| t.contains("MigrationInterface") || t.contains("QueryRunner"))
            {
                typeorm
                    .entry(parent.to_string())
                    .or_default()
                    .push((f, name));
            }
        } else if SEQUELIZE_FILE.is_match(name)
            && tree
                .read(f)
                .is_some_and(|t| t.contains("queryInterface") || t.contains("QueryInterface"))
        {
            sequelize
                .entry(parent.to_string())
                .or_default()
                .push((f, name));
        }
    }

    // Knex: knexfile names the client and the migrations directory.
    for kf in tree.named(&KNEXFILE) {
        let base = split_parent(kf).0;
        let text = tree.read(kf).unwrap_or_default();
        let dir = KNEX_DIR
            .captures(&text)
            .map(|c| resolve(base, &c[1]))
            .unwrap_or_else(|| join(base, "migrations"));
        let mut t = new_tool(Tool::Knex, &dir);
        t.evidence.push(format!("{kf} present"));
        if let Some(c) = KNEX_CLIENT.captures(&text) {
            set_engine(
                &mut t,
                engine_word(&c[1]),
                kf,
                &format!("client '{}'", &c[1]),
            );
        }
        let files = knex.remove(&dir).unwrap_or_default();
        let ext = kf.rsplit('.').next().unwrap_or("js");
        js_fill(
            tree,
            &mut t,
            &files,
            &KNEX_FILE,
            if ext == "ts" { "ts" } else { "js" },
        );
        out.push(t);
    }
    for (dir, files) in knex {
        // Knex-named files with knex code but no knexfile found.
        if files
            .iter()
            .any(|(p, _)| tree.read(p).is_some_and(|t| t.contains("knex")))
        {
            let mut t = new_tool(Tool::Knex, &dir);
            js_fill(tree, &mut t, &files, &KNEX_FILE, "js");
            out.push(t);
        }
    }

    // TypeORM: ormconfig or a DataSource names the engine.
    let mut typeorm_cfg: Option<(String, String)> = None;
    for f in tree.named(&ORMCONFIG) {
        if let Some(text) = tree.read(f) {
            typeorm_cfg = Some((f.to_string(), text));
            break;
        }
    }
    if typeorm_cfg.is_none() && !typeorm.is_empty() {
        for f in tree.files.iter().filter(|f| {
            (f.ends_with(".ts") || f.ends_with(".js"))
                && !f.contains("migrations/")
                && f.matches('/').count() <= 3
        }) {
            if let Some(text) = tree.read(f) {
                if text.contains("new DataSource(") || text.contains("DataSourceOptions") {
                    typeorm_cfg = Some((f.clone(), text));
                    break;
                }
            }
        }
    }
    for (dir, files) in typeorm {
        let mut t = new_tool(Tool::Typeorm, &dir);
        if let Some((f, text)) = &typeorm_cfg {
            t.evidence.push(format!("{f} present"));
            if let Some(c) = TYPEORM_TYPE.captures(text) {
                set_engine(
                    &mut t,
                    engine_word(&c[1]),
                    f,
                    &format!("type \"{}\"", &c[1]),
                );
            }
            t.style.transaction_mode = Some(
                TYPEORM_MODE
                    .captures(text)
                    .map(|c| c[1].to_string())
                    .unwrap_or_else(|| "all".into()),
            );
        }
        js_fill(tree, &mut t, &files, &TYPEORM_FILE, "ts");
        t.naming = Naming::Timestamp {
            format: TimestampFormat::UnixMillis,
        };
        out.push(t);
    }

    // Sequelize: .sequelizerc names the folders; config.json the dialect.
    let mut seq_dir: Option<String> = None;
    let mut seq_config: Option<String> = None;
    let rc = tree.read(".sequelizerc");
    if let Some(text) = &rc {
        if let Some(c) = SEQUELIZERC_PATH.captures(text) {
            seq_dir = Some(resolve(
                "",
                &c.get(1)
                    .map(|m| path_args(m.as_str()))
                    .unwrap_or_else(|| c[2].to_string()),
            ));
        }
        if let Some(c) = SEQUELIZERC_CONFIG.captures(text) {
            seq_config = Some(resolve(
                "",
                &c.get(1)
                    .map(|m| path_args(m.as_str()))
                    .unwrap_or_else(|| c[2].to_string()),
            ));
        }
    }
    if rc.is_some() {
        let dir = seq_dir.clone().unwrap_or_else(|| "migrations".into());
        sequelize.entry(dir).or_default();
    }
    for (dir, files) in sequelize {
        let mut t = new_tool(Tool::Sequelize, &dir);
        if rc.is_some() {
            t.evidence.push(".sequelizerc present".into());
        }
        let cfg = seq_config
            .clone()
            .unwrap_or_else(|| "config/config.json".into());
        if let Some(text) = tree.read(&cfg) {
            if let Some(c) = JSON_DIALECT.captures(&text) {
                set_engine(
                    &mut t,
                    engine_word(&c[1]),
                    &cfg,
                    &format!("dialect \"{}\"", &c[1]),
                );
            }
        }
        js_fill(tree, &mut t, &files, &SEQUELIZE_FILE, "js");
        out.push(t);
    }
}

fn js_fill(
    tree: &Tree,
    t: &mut DetectedTool,
    files: &[(&str, &str)],
    re: &Regex,
    default_lang: &str,
) {
    let mut found = Vec::new();
    for (path, name) in files {
        let c = re.captures(name).unwrap();
        found.push((
            c[1].to_string(),
            c[2].to_string(),
            name.to_string(),
            path.to_string(),
        ));
    }
    t.evidence.push(format!(
        "{}: {} {} migrations",
        t.migrations_dir,
        found.len(),
        t.tool
    ));
    fill_numeric(t, found);
    let ext = t
        .latest
        .as_ref()
        .and_then(|l| l.name.rsplit('.').next().map(str::to_string))
        .unwrap_or_else(|| default_lang.to_string());
    t.style.language = Some(if ext == "ts" {
        "ts".into()
    } else {
        "js".into()
    });
    t.style.module = Some(match (&t.latest, ext.as_str()) {
        (_, "ts") | (_, "mjs") => "esm".into(),
        (_, "cjs") => "commonjs".into(),
        (Some(l), _) => tree
            .read(&l.path)
            .map(|s| js_module(&s).to_string())
            .unwrap_or_else(|| "commonjs".into()),
        (None, _) => "commonjs".into(),
    });
    t.style.extension = Some(ext);
}

// --- Flyway ----------------------------------------------------------------

re!(FLYWAY_FILE, r"^V(\d+(?:[._]\d+)*)__(.+)\.sql$");
re!(FLYWAY_UNDO, r"^U(\d+(?:[._]\d+)*)__(.+)\.sql$");
re!(
    FLYWAY_URL,
    r#"(?m)^\s*(?:flyway\.)?url\s*=\s*["']?(jdbc:[a-z0-9]+:)"#
);

/// Compares Flyway versions part by part (`1.10` after `1.9`).
pub fn cmp_flyway(a: &str, b: &str) -> std::cmp::Ordering {
    let pa: Vec<&str> = a.split(['.', '_']).collect();
    let pb: Vec<&str> = b.split(['.', '_']).collect();
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).copied().unwrap_or("0");
        let y = pb.get(i).copied().unwrap_or("0");
        let o = cmp_numeric(x, y);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn flyway(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let mut dirs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for f in tree.named(&FLYWAY_FILE) {
        let (parent, name) = split_parent(f);
        dirs.entry(parent).or_default().push((f, name));
    }
    let conf = [
        "flyway.conf",
        "flyway.toml",
        "conf/flyway.conf",
        "conf/flyway.toml",
    ]
    .into_iter()
    .find(|f| tree.has_file(f));
    if dirs.is_empty() && conf.is_none() {
        return;
    }
    if dirs.is_empty() {
        dirs.insert(Tool::Flyway.default_dir(), Vec::new());
    }
    for (dir, files) in dirs {
        let mut t = new_tool(Tool::Flyway, dir);
        if let Some(c) = conf {
            t.evidence.push(format!("{c} present"));
            if let Some(m) = tree
                .read(c)
                .and_then(|s| FLYWAY_URL.captures(&s).map(|m| m[1].to_string()))
            {
                set_engine(&mut t, url_engine(&m), c, "url");
            }
        }
        let mut found: Vec<(String, String, String, String)> = files
            .iter()
            .map(|(p, n)| {
                let c = FLYWAY_FILE.captures(n).unwrap();
                (
                    c[1].to_string(),
                    c[2].to_string(),
                    n.to_string(),
                    p.to_string(),
                )
            })
            .collect();
        found.sort_by(|a, b| cmp_flyway(&a.0, &b.0));
        t.evidence.push(format!(
            "{}: {} Flyway versioned migrations",
            display_dir(dir),
            found.len()
        ));
        t.migrations = found.len();
        t.existing_versions = found.iter().map(|f| f.0.clone()).collect();
        t.existing_names = found.iter().map(|f| f.1.clone()).collect();
        if let Some(l) = found.last() {
            t.naming = if l.0.contains(['.', '_']) {
                Naming::Dotted {
                    separator: if l.0.contains('_') {
                        "_".into()
                    } else {
                        ".".into()
                    },
                }
            } else if looks_like_compact_timestamp(&l.0) {
                Naming::Timestamp {
                    format: TimestampFormat::Compact,
                }
            } else {
                let v: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
                Naming::Sequence {
                    width: sequence_width(&v),
                }
            };
            t.latest = Some(LatestMigration {
                name: l.2.clone(),
                path: l.3.clone(),
                version: l.0.clone(),
            });
        }
        if tree.files_in(dir).any(|(_, n)| FLYWAY_UNDO.is_match(n)) {
            t.style.undo = Some(true);
        }
        out.push(t);
    }
}

// --- golang-migrate, dbmate, sqlx -----------------------------------------

re!(NUMBERED_SQL, r"^(\d+)_(.+?)(\.up|\.down)?\.sql$");
re!(CARGO_SQLX, r#"(?m)^\s*sqlx\s*=\s*(?:"[^"]*"|\{([^}]*)\})"#);
re!(
    CARGO_DIESEL,
    r#"(?m)^\s*diesel\s*=\s*(?:"[^"]*"|\{([^}]*)\})"#
);
re!(SQLX_MIGRATE_MACRO, r#"migrate!\(\s*"([^"]+)"\s*\)"#);

fn cargo_features(tree: &Tree, re: &Regex) -> Option<(String, DbEngine)> {
    let text = tree.read("Cargo.toml")?;
    let c = re.captures(&text)?;
    let feats = c.get(1).map(|m| m.as_str()).unwrap_or("");
    let e = ["postgres", "mysql", "sqlite"]
        .into_iter()
        .find(|f| feats.contains(&format!("\"{f}\"")))
        .map(engine_word)
        .unwrap_or(DbEngine::Unknown);
    Some(("Cargo.toml".into(), e))
}

fn sql_dirs(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let sqlx = cargo_features(tree, &CARGO_SQLX);
    let mut sqlx_dirs: BTreeSet<String> = BTreeSet::new();
    if sqlx.is_some() {
        sqlx_dirs.insert("migrations".into());
        for f in tree.files.iter().filter(|f| f.ends_with(".rs")).take(500) {
            if let Some(text) = tree.read(f) {
                for c in SQLX_MIGRATE_MACRO.captures_iter(&text) {
                    sqlx_dirs.insert(resolve("", &c[1]));
                }
            }
        }
    }
    let mut dirs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for f in tree.named(&NUMBERED_SQL) {
        let (parent, name) = split_parent(f);
        // Prisma, Diesel and Drizzle keep their SQL elsewhere.
        if name == "migration.sql" || name == "up.sql" || name == "down.sql" {
            continue;
        }
        dirs.entry(parent).or_default().push((f, name));
    }
    for (dir, files) in dirs {
        if out
            .iter()
            .any(|t| t.migrations_dir == display_dir(dir) && t.tool != Tool::Rails)
        {
            continue;
        }
        let dbmate = files
            .iter()
            .any(|(p, _)| tree.read(p).is_some_and(|t| t.contains("-- migrate:up")));
        let pairs = files
            .iter()
            .any(|(_, n)| n.ends_with(".up.sql") || n.ends_with(".down.sql"));
        let tool = if dbmate {
            Tool::Dbmate
        } else if sqlx.is_some() && (sqlx_dirs.contains(dir) || !pairs) {
            Tool::Sqlx
        } else if pairs {
            Tool::GolangMigrate
        } else {
            continue;
        };
        let mut t = new_tool(tool, dir);
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        // The up file names a pair (`.down.sql` sorts first).
        let mut ordered: Vec<&(&str, &str)> = files.iter().collect();
        ordered.sort_by_key(|(_, n)| n.ends_with(".down.sql"));
        for (path, name) in ordered {
            let c = NUMBERED_SQL.captures(name).unwrap();
            if !seen.insert(c[1].to_string()) {
                continue;
            }
            found.push((
                c[1].to_string(),
                c[2].to_string(),
                name.to_string(),
                path.to_string(),
            ));
        }
        t.evidence.push(format!(
            "{}: {} {} migrations{}",
            display_dir(dir),
            found.len(),
            tool,
            match tool {
                Tool::Dbmate => " (`-- migrate:up` sections)",
                Tool::GolangMigrate => " (.up.sql/.down.sql pairs)",
                _ => "",
            }
        ));
        fill_numeric(&mut t, found);
        match tool {
            Tool::Sqlx => {
                t.style.reversible = Some(pairs);
                if let Some((f, e)) = &sqlx {
                    t.evidence.push(format!("{f}: depends on sqlx"));
                    set_engine(&mut t, *e, f, "the sqlx features");
                }
            }
            Tool::Dbmate => {
                // dbmate reads DATABASE_URL from .env itself.
                if let Some(c) = tree
                    .read(".env")
                    .and_then(|s| ENV_URL.captures(&s).map(|c| c[1].to_string()))
                {
                    set_engine(&mut t, url_engine(&c), ".env", "DATABASE_URL");
                }
            }
            Tool::GolangMigrate => {
                if let Some(text) = tree.read("go.mod") {
                    if text.contains("golang-migrate/migrate") {
                        t.evidence.push("go.mod: requires golang-migrate".into());
                    }
                }
            }
            _ => {}
        }
        out.push(t);
    }
    // sqlx declared with an empty (or missing) migrations folder.
    if let Some((f, e)) = sqlx {
        if !out.iter().any(|t| t.tool == Tool::Sqlx) && tree.dirs.contains("migrations") {
            let mut t = new_tool(Tool::Sqlx, "migrations");
            t.evidence.push(format!("{f}: depends on sqlx"));
            set_engine(&mut t, e, &f, "the sqlx features");
            out.push(t);
        }
    }
}

// --- Diesel ----------------------------------------------------------------

re!(
    DIESEL_DIR,
    r"^(\d{4})-(\d{2})-(\d{2})-(\d{6})_(\w+)$|^(\d{14})_(\w+)$"
);
re!(
    DIESEL_TOML_DIR,
    r#"(?ms)\[migrations_directory\].*?\bdir\s*=\s*"([^"]+)""#
);

fn diesel(tree: &Tree, out: &mut Vec<DetectedTool>) {
    let toml = tree.read("diesel.toml");
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    if let Some(text) = &toml {
        let dir = DIESEL_TOML_DIR
            .captures(text)
            .map(|c| resolve("", &c[1]))
            .unwrap_or_else(|| "migrations".into());
        dirs.insert(dir);
    }
    for d in &tree.dirs {
        let (parent, name) = split_parent(d);
        if DIESEL_DIR.is_match(name)
            && tree.has_file(&join(d, "up.sql"))
            && tree.has_file(&join(d, "down.sql"))
        {
            dirs.insert(parent.to_string());
        }
    }
    for dir in dirs {
        let mut t = new_tool(Tool::Diesel, &dir);
        if toml.is_some() {
            t.evidence.push("diesel.toml present".into());
        }
        if let Some((f, e)) = cargo_features(tree, &CARGO_DIESEL) {
            t.evidence.push(format!("{f}: depends on diesel"));
            set_engine(&mut t, e, &f, "the diesel features");
        }
        let mut found = Vec::new();
        let mut dashed = 0;
        let mut compact = 0;
        for (path, name) in tree.dirs_in(&dir) {
            let Some(c) = DIESEL_DIR.captures(name) else {
                continue;
            };
            if !tree.has_file(&join(path, "up.sql")) {
                continue;
            }
            let (version, desc) = if let Some(y) = c.get(1) {
                dashed += 1;
                (
                    format!("{}{}{}{}", y.as_str(), &c[2], &c[3], &c[4]),
                    c[5].to_string(),
                )
            } else {
                if &c[6] != "00000000000000" {
                    compact += 1;
                }
                (c[6].to_string(), c[7].to_string())
            };
            found.push((version, desc, name.to_string(), path.to_string()));
        }
        t.evidence.push(format!(
            "{}: {} Diesel migrations",
            display_dir(&dir),
            found.len()
        ));
        fill_numeric(&mut t, found);
        t.naming = Naming::Timestamp {
            format: if compact > dashed {
                TimestampFormat::Compact
            } else {
                TimestampFormat::Dashed
            },
        };
        out.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_configured_paths() {
        assert_eq!(resolve("", "./db/migrations/"), "db/migrations");
        assert_eq!(resolve("app", "../migrations"), "migrations");
        assert_eq!(resolve("a/b", "c"), "a/b/c");
    }

    #[test]
    fn names_engines_from_urls_and_words() {
        assert_eq!(
            url_engine("postgresql+psycopg2://u@h/db"),
            DbEngine::Postgres
        );
        assert_eq!(url_engine("jdbc:postgresql://h/db"), DbEngine::Postgres);
        assert_eq!(url_engine("mysql://h/db"), DbEngine::Mysql);
        assert_eq!(engine_word("django.db.backends.sqlite3"), DbEngine::Sqlite);
        assert_eq!(engine_word("pg"), DbEngine::Postgres);
        assert_eq!(engine_word("mysql2"), DbEngine::Mysql);
    }

    #[test]
    fn reads_numeric_naming() {
        assert_eq!(
            numeric_naming(&["20240101120000"]),
            Some(Naming::Timestamp {
                format: TimestampFormat::Compact
            })
        );
        assert_eq!(
            numeric_naming(&["000001", "000002"]),
            Some(Naming::Sequence { width: 6 })
        );
        assert_eq!(
            numeric_naming(&["1", "2"]),
            Some(Naming::Sequence { width: 0 })
        );
        assert_eq!(
            numeric_naming(&["1704209400"]),
            Some(Naming::Timestamp {
                format: TimestampFormat::UnixSeconds
            })
        );
        assert_eq!(cmp_flyway("1.10", "1.9"), std::cmp::Ordering::Greater);
        assert_eq!(cmp_numeric("010", "9"), std::cmp::Ordering::Greater);
    }
}
