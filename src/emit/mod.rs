//! Plans written as migration files in the project's own migration tool.
//!
//! [`emit`] turns a [`Plan`] into the files a tool runs: one migration per
//! database step (a phase with forward SQL), named in the project's
//! convention and in order, each with its up (the phase's forward SQL) and
//! its down (the phase's rollback), in the tool's own form. It computes
//! files and never writes; [`write_new`] writes them without overwriting.
//!
//! Two layouts, chosen by what the tool can do:
//!
//! - tools that can mix statements inside and outside a transaction in one
//!   migration (Rails, Alembic, Knex, TypeORM, Sequelize) get one migration
//!   per phase: the migration runs outside the tool's transaction and wraps
//!   each run of transactional steps in a transaction of its own;
//! - the others (Django, Flyway, golang-migrate, dbmate, sqlx, Diesel,
//!   Prisma) mark a whole migration as outside a transaction, and most of
//!   them send a file as one query string, which PostgreSQL runs as one
//!   implicit transaction; so a phase is split: each step that must run
//!   outside a transaction becomes a migration alone, and each run of
//!   transactional steps one migration;
//! - Drizzle, whose migrator runs all new migrations in one transaction,
//!   gets the split layout too, with the steps that must run outside a
//!   transaction as psql scripts beside the migrations (see `drizzle`).
//!
//! App releases between database steps split the rollout into stages: the
//! migrations of stage 2 must not run before the release they wait for is
//! everywhere, so one call writes one stage (the first by default), and the
//! releases become comments in the next migration and in the runbook note.

mod drizzle;
mod journal;
mod js;
pub mod naming;
mod python;
mod rails;
mod record;
mod sql;
mod write;

pub use write::{check_emission, write_emission, write_new};

use crate::detect::{DbEngine, DetectedTool, Detection, Naming, Tool};
use crate::pattern::PhaseKind;
use crate::plan::{Phase, Plan, Step};
use naming::{slug, Versioner};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which stage of the rollout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StageSelect {
    /// Stage number, from 1.
    Number(u32),
    /// `all`: every stage at once (only when you deploy them one by one yourself).
    Keyword(StageKeyword),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StageKeyword {
    All,
}

impl Default for StageSelect {
    fn default() -> Self {
        StageSelect::Number(1)
    }
}

impl std::str::FromStr for StageSelect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(StageSelect::Keyword(StageKeyword::All));
        }
        match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(StageSelect::Number(n)),
            _ => Err(format!(
                "stage `{s}`: use a stage number (1, 2, ...) or `all`"
            )),
        }
    }
}

/// How to emit; everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EmitOptions {
    /// The migration tool; default: the one detected with most migrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<Tool>,
    /// The migrations folder, relative to the project (picks one when there
    /// are several, e.g. one Django app's `migrations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations_dir: Option<String>,
    /// Which stage to write: 1 (default), 2, ... or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<StageSelect>,
    /// The time new timestamps start from, in Unix seconds (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<u64>,
}

/// One file to create, relative to the project folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EmittedFile {
    /// `/`-separated, relative to the project folder.
    pub path: String,
    pub contents: String,
}

/// A stage of the rollout: migrations that may run in one deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StageInfo {
    pub stage: u32,
    /// Plan phases whose SQL the stage runs.
    pub phases: Vec<String>,
    /// App releases (and gates) that must be complete before it runs.
    pub after: Vec<String>,
    /// Whether this call wrote its files.
    pub emitted: bool,
}

/// An existing file to replace (Drizzle's journal, with entries appended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileUpdate {
    /// `/`-separated, relative to the project folder.
    pub path: String,
    /// What the file must still hold, exactly; replace it only then.
    pub previous: String,
    pub contents: String,
}

/// The files for a plan, and what to know before running them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Emission {
    pub tool: Tool,
    pub migrations_dir: String,
    pub stages: Vec<StageInfo>,
    /// Files to create, in the order the tool runs them (the runbook note last).
    pub files: Vec<EmittedFile>,
    /// Existing files to replace, after the files are created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updates: Vec<FileUpdate>,
    pub notes: Vec<String>,
}

/// Why no files could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("{0}")]
    NoTool(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

// ---------------------------------------------------------------------------
// Units: the migrations to write, before they have names
// ---------------------------------------------------------------------------

/// Consecutive steps that run together: in one transaction, or (when
/// `transactional` is false) one statement alone outside any transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub transactional: bool,
    pub sql: Vec<String>,
}

/// What a migration's down does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Down {
    Steps(Vec<Chunk>),
    /// Nothing to run; the reason.
    Nothing(String),
    /// Cannot be undone: the data-loss statement.
    Irreversible(String),
}

/// One migration to write.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub phase_id: String,
    pub kind: &'static str,
    pub title: String,
    pub goal: String,
    /// (part, of) when a phase is split into several migrations.
    pub part: Option<(usize, usize)>,
    pub stage: u32,
    pub slug: String,
    pub up: Vec<Chunk>,
    pub down: Down,
    /// Releases and gates that must be done before this migration runs.
    pub before: Vec<String>,
    /// Filled when named.
    pub version: String,
    /// Filled when named: the file stem (or folder name) without extension.
    pub name: String,
}

impl Unit {
    pub fn up_has_nontx(&self) -> bool {
        self.up.iter().any(|c| !c.transactional)
    }

    pub fn down_has_nontx(&self) -> bool {
        matches!(&self.down, Down::Steps(c) if c.iter().any(|c| !c.transactional))
    }

    /// Any transactional chunk, up or down.
    pub fn has_tx(&self) -> bool {
        self.up.iter().any(|c| c.transactional)
            || matches!(&self.down, Down::Steps(c) if c.iter().any(|c| c.transactional))
    }

    pub fn has_nontx(&self) -> bool {
        self.up_has_nontx() || self.down_has_nontx()
    }

    /// Human title with the part.
    pub fn full_title(&self) -> String {
        match self.part {
            Some((p, n)) => format!("{} (part {p} of {n})", self.title),
            None => self.title.clone(),
        }
    }
}

/// Consecutive transactional steps share a transaction, except that a scan
/// never follows a lock that blocks the app in the same one (`lock_split`):
/// that lock is held to the commit, so VALIDATE after ADD CONSTRAINT ...
/// NOT VALID would block the app for the whole scan.
fn chunks(steps: &[Step], lock_split: bool) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    let mut holds_blocking = false;
    for s in steps {
        let sql = s.sql.trim_end().to_string();
        let long = s.scans_table || s.rewrites_table;
        match out.last_mut() {
            Some(c)
                if c.transactional
                    && s.transactional
                    && !(lock_split && long && holds_blocking) =>
            {
                c.sql.push(sql);
                holds_blocking |= blocks_app(s.lock);
            }
            _ => {
                out.push(Chunk {
                    transactional: s.transactional,
                    sql: vec![sql],
                });
                holds_blocking = blocks_app(s.lock);
            }
        }
    }
    out
}

/// Locks that stop the app's reads or writes while held.
fn blocks_app(lock: crate::engine::Lock) -> bool {
    use crate::engine::Lock::*;
    matches!(
        lock,
        Share | ShareRowExclusive | Exclusive | AccessExclusive | MdlSharedNoWrite
    )
}

fn is_release(p: &Phase) -> bool {
    p.forward.is_empty() && p.kind != PhaseKind::Validate
}

fn app_line(p: &Phase) -> String {
    let live: Vec<String> = p
        .app
        .iter()
        .map(|a| {
            let mut s = a.version.clone();
            if !a.reads.is_empty() {
                s.push_str(&format!(" reads {}", a.reads.join(", ")));
            }
            if !a.writes.is_empty() {
                s.push_str(&format!(
                    "{} writes {}",
                    if a.reads.is_empty() { "" } else { "," },
                    a.writes.join(", ")
                ));
            }
            s
        })
        .collect();
    if live.is_empty() {
        String::new()
    } else {
        format!(" Live: {}.", live.join("; "))
    }
}

/// A no-SQL phase as one line for comments.
fn phase_note(p: &Phase) -> String {
    if is_release(p) {
        format!(
            "{} (app release): {}: {}.{}",
            p.id,
            p.title,
            p.goal,
            app_line(p)
        )
    } else {
        format!(
            "{} ({}): {}: {}; run its checks (see the runbook note) and go on only when they pass.",
            p.id,
            p.kind.as_str(),
            p.title,
            p.goal
        )
    }
}

/// Splits the plan into migrations. `split`: one migration per chunk.
pub(crate) fn units(plan: &Plan, split: bool) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut stage = 1u32;
    let mut release_pending = false;
    for p in &plan.phases {
        if p.forward.is_empty() {
            if is_release(p) {
                release_pending = true;
            }
            pending.push(phase_note(p));
            continue;
        }
        if release_pending && !out.is_empty() {
            stage += 1;
        }
        release_pending = false;
        let fwd = chunks(&p.forward, true);
        // A split layout gives each rollback chunk a migration's down of its
        // own, one per forward part: more chunks than parts would leave
        // migrations with nothing to run.
        let back = chunks(&p.rollback, !split);
        let no_down = || {
            if let Some(loss) = &p.data_loss {
                Down::Irreversible(loss.clone())
            } else {
                Down::Nothing(format!(
                    "the plan has no rollback SQL for {}: {}",
                    p.id, p.rollback_point
                ))
            }
        };
        let base = slug(&p.title, 48);
        let mut made: Vec<Unit> = Vec::new();
        let unit = |part, up, down| Unit {
            phase_id: p.id.clone(),
            kind: p.kind.as_str(),
            title: p.title.clone(),
            goal: p.goal.clone(),
            part,
            stage,
            slug: base.clone(),
            up,
            down,
            before: Vec::new(),
            version: String::new(),
            name: String::new(),
        };
        if !split || (fwd.len() <= 1 && back.len() <= 1) {
            let down = if back.is_empty() {
                no_down()
            } else {
                Down::Steps(back)
            };
            made.push(unit(None, fwd, down));
        } else {
            let (a, b) = (fwd.len(), back.len());
            let n = a.max(b);
            for i in 0..n {
                let up = fwd.get(i).cloned().into_iter().collect();
                let down = if b == 0 {
                    no_down()
                } else if i < b {
                    Down::Steps(vec![back[b - 1 - i].clone()])
                } else {
                    Down::Nothing(if b == 1 {
                        format!("the rollback of {} runs in the down of part 1", p.id)
                    } else {
                        format!(
                            "the rollback of {} runs in the downs of parts 1 to {b}",
                            p.id
                        )
                    })
                };
                let mut u = unit(Some((i + 1, n)), up, down);
                u.slug = format!("{base}_part{}", i + 1);
                made.push(u);
            }
        }
        made[0].before = std::mem::take(&mut pending);
        out.extend(made);
    }
    out
}

/// Lines every migration's header comment carries.
pub(crate) fn header_lines(plan: &Plan, u: &Unit, stages: u32) -> Vec<String> {
    let mut l = vec![
        format!(
            "Written by schemashift from the plan: {}.",
            one_line(&plan.summary)
        ),
        format!(
            "Phase {} ({}): {}. {}.",
            u.phase_id,
            u.kind,
            one_line(&u.full_title()),
            one_line(&u.goal)
        ),
    ];
    if stages > 1 {
        l.push(format!(
            "Stage {} of {stages}: deploy the stages one at a time (see the runbook note).",
            u.stage
        ));
    }
    if !u.before.is_empty() {
        l.push("Before this migration runs:".into());
        for b in &u.before {
            l.push(format!("  - {}", one_line(b)));
        }
    }
    l
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a character ends a line for some language a comment is written
/// in: CR and LF end `--` comments in SQL and `#` comments in Python;
/// JavaScript's `//` also ends at U+2028 and U+2029; NEL, VT and FF are
/// line breaks to other readers.
pub(crate) fn ends_line(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// `s` made safe for one comment line: every line break becomes a space,
/// so text after it (a name, a string in a statement) cannot become code.
pub(crate) fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if ends_line(c) { ' ' } else { c })
        .collect()
}

/// The first line of a statement, for comments.
pub(crate) fn first_line(sql: &str) -> String {
    let l = sql
        .split(ends_line)
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if l.len() > 100 {
        let mut cut = 100;
        while !l.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &l[..cut])
    } else {
        l.to_string()
    }
}

/// Why a chunk runs outside a transaction, for comments.
pub(crate) fn nontx_reason(sql: &str) -> String {
    let up = sql.to_ascii_uppercase();
    let why = if up.contains("CONCURRENTLY") {
        "CONCURRENTLY cannot run inside a transaction block"
    } else if up.trim_start().starts_with("CALL") {
        "the procedure commits after each batch, so it must not run inside a transaction"
    } else if up.contains("ADD VALUE") {
        "before PostgreSQL 12, ALTER TYPE ... ADD VALUE cannot run inside a transaction block"
    } else {
        "the plan marks it as not transactional"
    };
    format!("`{}`: {why}", first_line(sql))
}

// ---------------------------------------------------------------------------
// The entry point
// ---------------------------------------------------------------------------

/// What a family renderer gets.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub tool: &'a DetectedTool,
    /// The migrations folder, "" for the project root.
    pub dir: String,
    pub now: u64,
    pub stages: u32,
    /// Path of the runbook note.
    pub runbook: String,
    pub notes: Vec<String>,
    pub updates: Vec<FileUpdate>,
    /// How to run the files, step by step, when the tool does not run them
    /// all itself (a section of the runbook note).
    pub run_order: Vec<String>,
}

impl Ctx<'_> {
    pub fn path(&self, name: &str) -> String {
        if self.dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.dir)
        }
    }
}

fn normalize_dir(d: &str) -> String {
    let d = d.trim().replace('\\', "/");
    let d = d.trim_start_matches("./").trim_matches('/');
    if d == "." {
        String::new()
    } else {
        d.to_string()
    }
}

fn pick_tool(detection: &Detection, options: &EmitOptions) -> Result<DetectedTool, EmitError> {
    let want_dir = options.migrations_dir.as_deref().map(normalize_dir);
    let matches = |t: &DetectedTool| {
        options.tool.is_none_or(|w| w == t.tool)
            && want_dir
                .as_ref()
                .is_none_or(|d| normalize_dir(&t.migrations_dir) == *d)
    };
    let found: Vec<&DetectedTool> = detection.tools.iter().filter(|t| matches(t)).collect();
    if let Some(first) = found.first() {
        let same_tool = found.iter().filter(|t| t.tool == first.tool).count();
        if same_tool > 1 && want_dir.is_none() {
            return Err(EmitError::Invalid(format!(
                "{} {} migration folders were found ({}): name one with --migrations-dir (`migrations_dir` over MCP)",
                same_tool,
                first.tool,
                found
                    .iter()
                    .filter(|t| t.tool == first.tool)
                    .map(|t| t.migrations_dir.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok((*first).clone());
    }
    let Some(tool) = options.tool else {
        return Err(EmitError::NoTool(if detection.tools.is_empty() {
            format!(
                "no migration tool found in {}: name one with --tool (`tool` over MCP): {}",
                detection.dir,
                Tool::names()
            )
        } else {
            format!(
                "no detected migration tool matches; found: {}",
                detection
                    .tools
                    .iter()
                    .map(|t| format!("{} in {}", t.tool, t.migrations_dir))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }));
    };
    // A tool named but not found: its default layout, nothing to follow.
    let dir = want_dir.unwrap_or_else(|| tool.default_dir().to_string());
    let mut t = DetectedTool::fresh(tool, &dir);
    if tool == Tool::Django {
        let app = dir
            .trim_end_matches("/migrations")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if app.is_empty() || !dir.ends_with("migrations") || app == "migrations" {
            return Err(EmitError::Invalid(
                "Django migrations belong to an app: name its folder with --migrations-dir (`migrations_dir` over MCP), e.g. users/migrations".into(),
            ));
        }
        t.style.app = Some(app);
    }
    t.engine = detection.engine;
    Ok(t)
}

/// Computes the migration files for `plan` in the project's tool. Pure: it
/// reads nothing but its arguments and writes nothing.
pub fn emit(
    plan: &Plan,
    detection: &Detection,
    options: &EmitOptions,
) -> Result<Emission, EmitError> {
    let tool = pick_tool(detection, options)?;
    let engine = if tool.engine != DbEngine::Unknown {
        tool.engine
    } else {
        detection.engine
    };
    if matches!(engine, DbEngine::Mysql | DbEngine::Sqlite) {
        return Err(EmitError::Unsupported(format!(
            "the project's configuration names {} ({}), and schemashift plans are PostgreSQL SQL",
            engine.as_str(),
            tool.evidence
                .iter()
                .chain(&detection.engine_evidence)
                .find(|e| e.contains(" names "))
                .cloned()
                .unwrap_or_default()
        )));
    }
    if let Some(w) = tool.warnings.first() {
        return Err(EmitError::Invalid(format!(
            "{} in {}: {w}",
            tool.tool, tool.migrations_dir
        )));
    }
    let split = !matches!(
        tool.tool,
        Tool::Rails | Tool::Alembic | Tool::Knex | Tool::Typeorm | Tool::Sequelize
    );
    let mut all = units(plan, split);
    if tool.tool == Tool::Drizzle {
        drizzle::restage(&mut all);
    }
    if all.is_empty() {
        return Err(EmitError::Invalid(
            "the plan has no SQL to write as migrations (its phases are app releases only); follow its runbook".into(),
        ));
    }
    let stages = all.iter().map(|u| u.stage).max().unwrap_or(1);
    let select = options.stage.unwrap_or_default();
    let chosen: Vec<u32> = match select {
        StageSelect::Keyword(StageKeyword::All) => (1..=stages).collect(),
        StageSelect::Number(n) if n >= 1 && n <= stages => vec![n],
        StageSelect::Number(n) => {
            return Err(EmitError::Invalid(format!(
                "stage {n} does not exist: this plan has {stages} stage(s)"
            )))
        }
    };
    let stage_infos = stage_infos(&all, &chosen);
    all.retain(|u| chosen.contains(&u.stage));
    if tool.tool == Tool::Drizzle {
        drizzle::check_stages(&all, &chosen)?;
    }

    let now = options.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let naming = tool.naming.clone();
    let latest = tool.latest.as_ref().map(|l| match &naming {
        Naming::Revision { .. } => l.version.clone(),
        // Django's latest is a name (`0002_x`); the number leads it.
        _ => l
            .version
            .split('_')
            .next()
            .unwrap_or(&l.version)
            .to_string(),
    });
    let mut versions = Versioner::new(&naming, latest.as_deref(), now, &plan.summary);
    if tool.tool == Tool::Drizzle {
        drizzle::number(&tool, &mut all)?;
    }
    let mut used: Vec<String> = tool.existing_names.clone();
    for u in &mut all {
        if tool.tool != Tool::Drizzle {
            u.version = versions.next_version();
        }
        let mut s = u.slug.clone();
        let mut k = 2;
        while used.contains(&s) {
            s = format!("{}_{k}", u.slug);
            k += 1;
        }
        used.push(s.clone());
        u.slug = s;
    }
    let dir = normalize_dir(&tool.migrations_dir);
    let runbook = format!(
        "schemashift/{}_{}.md",
        all[0].version.replace(['.', '-'], "_"),
        slug(
            plan.summary.split(" in ").next().unwrap_or(&plan.summary),
            48
        )
    );
    let mut ctx = Ctx {
        plan,
        tool: &tool,
        dir,
        now,
        stages,
        runbook,
        notes: Vec::new(),
        updates: Vec::new(),
        run_order: Vec::new(),
    };
    let mut files = match tool.tool {
        Tool::Rails => rails::render(&mut ctx, &mut all)?,
        Tool::Django => python::django(&mut ctx, &mut all)?,
        Tool::Alembic => python::alembic(&mut ctx, &mut all)?,
        Tool::Knex => js::knex(&mut ctx, &mut all)?,
        Tool::Typeorm => js::typeorm(&mut ctx, &mut all)?,
        Tool::Sequelize => js::sequelize(&mut ctx, &mut all)?,
        Tool::Flyway
        | Tool::GolangMigrate
        | Tool::Dbmate
        | Tool::Sqlx
        | Tool::Diesel
        | Tool::Prisma => sql::render(&mut ctx, &mut all)?,
        Tool::Drizzle => drizzle::render(&mut ctx, &mut all)?,
    };
    let mut notes = std::mem::take(&mut ctx.notes);
    let info = |s: u32| &stage_infos[(s - 1) as usize];
    let first = info(chosen[0]);
    if !first.after.is_empty() {
        notes.push(format!(
            "run these migrations only after: {}",
            first.after.join(" ")
        ));
    }
    for &s in &chosen[1..] {
        let start = all.iter().find(|u| u.stage == s).map(|u| u.name.as_str());
        notes.push(format!(
            "stage {s} starts at {}: deploy it separately, only after: {}",
            start.unwrap_or("?"),
            info(s).after.join(" ")
        ));
    }
    if let Some(next) = stage_infos
        .iter()
        .find(|i| i.stage > *chosen.last().unwrap_or(&0))
    {
        notes.push(format!(
            "this plan has {stages} stages; these files are stage {}. Write stage {} only after: {}",
            chosen[0], next.stage,
            next.after.join(" ")
        ));
    }
    let mut note = runbook_note(&ctx, &all, &stage_infos);
    note.push_str(&record::marker(plan, &chosen, &files));
    files.push(EmittedFile {
        path: ctx.runbook.clone(),
        contents: note,
    });
    Ok(Emission {
        tool: tool.tool,
        migrations_dir: tool.migrations_dir.clone(),
        stages: stage_infos,
        files,
        updates: std::mem::take(&mut ctx.updates),
        notes,
    })
}

fn stage_infos(all: &[Unit], chosen: &[u32]) -> Vec<StageInfo> {
    let stages = all.iter().map(|u| u.stage).max().unwrap_or(1);
    (1..=stages)
        .map(|s| {
            let mine: Vec<&Unit> = all.iter().filter(|u| u.stage == s).collect();
            let mut phases: Vec<String> = Vec::new();
            for u in &mine {
                if !phases.contains(&u.phase_id) {
                    phases.push(u.phase_id.clone());
                }
            }
            let after = mine
                .first()
                .map(|u| {
                    u.before
                        .iter()
                        .filter(|b| b.contains("(app release)") || b.contains("(psql script)"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            StageInfo {
                stage: s,
                phases,
                after,
                emitted: chosen.contains(&s),
            }
        })
        .collect()
}

/// The Markdown note written beside the migrations: stages, releases,
/// checks, rollback.
fn runbook_note(ctx: &Ctx, units: &[Unit], stages: &[StageInfo]) -> String {
    let plan = ctx.plan;
    let mut s = String::new();
    s.push_str(&format!("# {}\n\n", one_line(&plan.summary)));
    s.push_str(&format!(
        "Written by schemashift for {} (migrations in `{}`). The migrations run the plan's SQL; \
         the app releases between them are yours to ship, in this order. Run the checks after \
         each phase and go on only when they return the expected value.\n\n",
        ctx.tool.tool,
        if ctx.dir.is_empty() { "." } else { &ctx.dir }
    ));
    if !ctx.run_order.is_empty() {
        s.push_str("## Run order\n\n");
        for (i, step) in ctx.run_order.iter().enumerate() {
            s.push_str(&format!("{}. {step}\n", i + 1));
        }
        s.push('\n');
    }
    let file_of = |phase: &str, stage: u32| -> Vec<String> {
        units
            .iter()
            .filter(|u| u.phase_id == phase && u.stage == stage)
            .map(|u| format!("`{}`", u.name))
            .collect()
    };
    let first_written = stages.iter().find(|st| st.emitted).map_or(0, |st| st.stage);
    let stage_of = |p: &Phase| {
        stages
            .iter()
            .find(|st| st.phases.contains(&p.id))
            .map(|st| (st.stage, st.emitted))
    };
    let mut current_stage = 0;
    let mut releases_before = 0;
    for (i, p) in plan.phases.iter().enumerate() {
        let stage = stage_of(p);
        if stage.is_none() && is_release(p) {
            // App releases that the next stage waits for.
            if let Some((n, _)) = plan.phases[i..].iter().find_map(stage_of) {
                if n != current_stage && releases_before != n {
                    releases_before = n;
                    s.push_str(&format!("## Before stage {n}: app releases\n\n"));
                }
            }
        }
        if let Some((n, emitted)) = stage {
            if n != current_stage {
                current_stage = n;
                s.push_str(&format!(
                    "## Stage {n}{}\n\n",
                    if emitted {
                        ""
                    } else if n < first_written {
                        " (written before these files)"
                    } else {
                        " (not written yet: write it with `--stage` once the releases before it are everywhere)"
                    }
                ));
            }
        }
        s.push_str(&format!(
            "### {} ({}): {}\n\n",
            p.id,
            p.kind.as_str(),
            p.title
        ));
        s.push_str(&format!("{}.\n\n", p.goal));
        if p.forward.is_empty() {
            if is_release(p) {
                s.push_str(&format!("App release, no migration.{}\n\n", app_line(p)));
            } else {
                s.push_str("No migration: a gate. Run the checks below.\n\n");
            }
        } else {
            // A phase can span stages (Drizzle: the steps after a psql script).
            let mut spans = stages.iter().filter(|st| st.phases.contains(&p.id));
            if let Some(first) = spans.next() {
                let files = file_of(&p.id, first.stage);
                if files.is_empty() {
                    s.push_str("Migration: in another stage.");
                } else {
                    s.push_str(&format!("Migration: {}.", files.join(", ")));
                }
                for later in spans {
                    let files = file_of(&p.id, later.stage);
                    s.push_str(&format!(
                        " Then stage {}, once {}: {}.",
                        later.stage,
                        later.after.join("; "),
                        if !files.is_empty() {
                            files.join(", ")
                        } else if later.stage < first_written {
                            "written before these files".to_string()
                        } else {
                            format!("not written yet (`--stage {}`)", later.stage)
                        }
                    ));
                }
                s.push_str("\n\n");
            }
            if let Some(loss) = &p.data_loss {
                s.push_str(&format!("**Irreversible**: {loss}.\n\n"));
            } else {
                s.push_str(&format!("Rollback: {}.\n\n", p.rollback_point));
            }
        }
        if !p.validation.is_empty() {
            s.push_str("Checks:\n\n");
            for c in &p.validation {
                s.push_str(&format!(
                    "- {} (expect `{}`):\n\n  ```sql\n  {}\n  ```\n\n",
                    c.meaning,
                    c.expect,
                    c.sql.trim().replace('\n', "\n  ")
                ));
            }
        }
        if !p.advance_when.is_empty() {
            s.push_str(&format!("Go on when: {}\n\n", p.advance_when.join("; ")));
        }
        if !p.abort_when.is_empty() {
            s.push_str(&format!("Stop when: {}\n\n", p.abort_when.join("; ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Lock;

    fn step(sql: &str, lock: Lock, scans: bool) -> Step {
        Step {
            sql: sql.into(),
            transactional: true,
            lock,
            rewrites_table: false,
            scans_table: scans,
            blocks: String::new(),
            estimated_seconds: 0.0,
        }
    }

    #[test]
    fn a_scan_never_shares_a_transaction_with_a_lock_that_blocks_the_app() {
        let steps = [
            step(
                "ALTER TABLE t ADD CONSTRAINT c CHECK (x IS NOT NULL) NOT VALID",
                Lock::AccessExclusive,
                false,
            ),
            step(
                "ALTER TABLE t VALIDATE CONSTRAINT c",
                Lock::ShareUpdateExclusive,
                true,
            ),
            step(
                "ALTER TABLE t ALTER COLUMN x SET NOT NULL",
                Lock::AccessExclusive,
                false,
            ),
        ];
        let split: Vec<usize> = chunks(&steps, true).iter().map(|c| c.sql.len()).collect();
        assert_eq!(split, [1, 2]);
        assert_eq!(chunks(&steps, false).len(), 1);
        // A scan under locks that let the app work stays with them.
        let calm = [
            step(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                Lock::None,
                false,
            ),
            step(
                "ALTER TABLE t VALIDATE CONSTRAINT c",
                Lock::ShareUpdateExclusive,
                true,
            ),
        ];
        assert_eq!(chunks(&calm, true).len(), 1);
    }
}
