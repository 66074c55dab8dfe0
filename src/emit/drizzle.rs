//! Drizzle Kit migrations: `<out>/NNNN_<tag>.sql` files listed in
//! `<out>/meta/_journal.json`, their statements separated by
//! `--> statement-breakpoint`.
//!
//! drizzle's migrator (`drizzle-kit migrate`, or `migrate()` from
//! drizzle-orm) reads the journal and those files only, and runs every entry
//! whose `when` is newer than the newest migration the database has applied,
//! all of them in one transaction. So:
//!
//! - each run of transactional steps is a migration (the split layout of
//!   `units`), appended to the journal (see `journal`) with the next index
//!   and a `when` after every existing entry's;
//! - a step that must run outside a transaction cannot be a migration: it is
//!   a script in `<out>/manual/` (its own 4-digit sequence), run by hand with
//!   psql in autocommit;
//! - one `migrate` runs everything in the journal, so a migration that must
//!   follow a psql script cannot be in the journal when the `migrate` before
//!   that script runs: it starts a new stage, written (and added to the
//!   journal) only once the script has run. Within a stage, `migrate` runs
//!   first and the scripts after it.
//!
//! drizzle-kit has no down migrations: every file carries its rollback as a
//! comment block, as Prisma's do.

use super::journal::{self, NewEntry};
use super::sql::{comment, rollback_block, statement};
use super::{
    first_line, header_lines, nontx_reason, Ctx, EmitError, EmittedFile, FileUpdate, Unit,
};
use crate::detect::{DetectedTool, DrizzleJournal};

/// What drizzle's migrator splits a file on.
const BREAKPOINT: &str = "--> statement-breakpoint";
/// The folder of psql scripts, inside the out folder.
const MANUAL: &str = "manual";

/// A psql script rather than a migration: its step cannot run in drizzle's
/// transaction. (The split layout gives every unit one chunk of up.)
fn is_script(u: &Unit) -> bool {
    u.up_has_nontx()
}

/// The psql command that runs a script, from the project folder.
fn psql(path: &str) -> String {
    format!("psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -f {path}")
}

/// Starts a new stage at each migration that follows a psql script of its
/// stage, and names the scripts it waits for.
pub(crate) fn restage(units: &mut [Unit]) {
    let mut shift = 0;
    let mut stage = 0;
    let mut scripts: Vec<String> = Vec::new();
    for u in units.iter_mut() {
        if u.stage != stage {
            stage = u.stage;
            scripts.clear();
        }
        if is_script(u) {
            let part = u
                .part
                .map(|(p, n)| format!(" part {p} of {n}"))
                .unwrap_or_default();
            let sql = u.up.first().and_then(|c| c.sql.first()).map(String::as_str);
            scripts.push(format!(
                "{}{part} (psql script): `{}` has been run by hand with psql",
                u.phase_id,
                first_line(sql.unwrap_or(""))
            ));
        } else if !u.up.is_empty() && !scripts.is_empty() {
            shift += 1;
            u.before.append(&mut scripts);
        }
        u.stage += shift;
    }
}

/// Several stages at once only when the later ones add nothing to the
/// journal: one `migrate` would run their migrations with the first's.
pub(crate) fn check_stages(units: &[Unit], chosen: &[u32]) -> Result<(), EmitError> {
    match units
        .iter()
        .find(|u| chosen[1..].contains(&u.stage) && !is_script(u))
    {
        Some(u) => Err(EmitError::Invalid(format!(
            "stage {} holds Drizzle migrations, and `drizzle-kit migrate` runs every new entry of meta/_journal.json at once, so they would run together with stage {}'s, before the app releases and psql scripts between them: write one stage at a time (--stage {}, then the next once it has run)",
            u.stage, chosen[0], chosen[0]
        ))),
        None => Ok(()),
    }
}

fn parse_journal(tool: &DetectedTool) -> Result<Option<(String, DrizzleJournal)>, EmitError> {
    match tool.drizzle.as_ref().and_then(|d| d.journal.clone()) {
        Some(text) => DrizzleJournal::parse(&text)
            .map(|j| Some((text, j)))
            .map_err(|e| EmitError::Invalid(format!("meta/_journal.json: {e}"))),
        None => Ok(None),
    }
}

/// Versions: the journal index for migrations (drizzle-kit numbers a new
/// migration by the number of entries), `manual_NNNN` for psql scripts.
pub(crate) fn number(tool: &DetectedTool, units: &mut [Unit]) -> Result<(), EmitError> {
    let mut next = parse_journal(tool)?.map_or(0, |(_, j)| j.entries.len());
    let mut script = tool
        .drizzle
        .iter()
        .flat_map(|d| &d.manual)
        .filter_map(|s| s.split('_').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |n| n + 1);
    for u in units.iter_mut() {
        if is_script(u) {
            u.version = format!("{MANUAL}_{script:04}");
            script += 1;
        } else {
            u.version = format!("{next:04}");
            next += 1;
        }
    }
    Ok(())
}

fn file_name(u: &Unit) -> String {
    match u.version.strip_prefix(&format!("{MANUAL}_")) {
        Some(n) => format!("{MANUAL}/{n}_{}.sql", u.slug),
        None => format!("{}_{}.sql", u.version, u.slug),
    }
}

pub(crate) fn render(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let journal = parse_journal(ctx.tool)?;
    let newest = journal
        .as_ref()
        .and_then(|(_, j)| j.entries.iter().map(|e| e.when).max());
    // After every existing entry, or the migrator would skip the new ones.
    let mut when = (ctx.now * 1000).max(newest.map_or(0, |w| w + 1));
    for u in units.iter_mut() {
        u.name = ctx.path(&file_name(u));
    }
    let mut files = Vec::new();
    let mut entries = Vec::new();
    // A new journal goes right after the migrations it lists.
    let mut journal_at = 0;
    let mut stages: Vec<u32> = units.iter().map(|u| u.stage).collect();
    stages.dedup();
    let several = stages.len() > 1;
    for stage in stages {
        let mine: Vec<&Unit> = units.iter().filter(|u| u.stage == stage).collect();
        let migrations: Vec<&Unit> = mine.iter().copied().filter(|u| !is_script(u)).collect();
        let prefix = if several {
            format!("stage {stage}: ")
        } else {
            String::new()
        };
        if !migrations.is_empty() {
            ctx.run_order.push(format!(
                "{prefix}`npx drizzle-kit migrate` runs {} in one transaction",
                migrations
                    .iter()
                    .map(|u| format!("`{}`", u.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for u in &migrations {
            let tag = format!("{}_{}", u.version, u.slug);
            files.push(EmittedFile {
                path: u.name.clone(),
                contents: migration(ctx, u, when)?,
            });
            entries.push(NewEntry {
                idx: u.version.parse().unwrap_or(0),
                when,
                tag,
            });
            when += 1;
            journal_at = files.len();
        }
        let mut after = if migrations.is_empty() {
            None
        } else {
            Some("`drizzle-kit migrate` has run this stage's migrations".to_string())
        };
        for u in mine.iter().filter(|u| is_script(u)) {
            ctx.run_order.push(format!(
                "{prefix}`{}` (outside a transaction)",
                psql(&u.name)
            ));
            files.push(EmittedFile {
                path: u.name.clone(),
                contents: script(ctx, u, after.as_deref()),
            });
            after = Some(format!("`{}` has run", u.name));
        }
    }
    if !entries.is_empty() {
        let path = ctx.path("meta/_journal.json");
        match &journal {
            Some((text, _)) => ctx.updates.push(FileUpdate {
                path,
                contents: journal::append(text, &entries).map_err(EmitError::Invalid)?,
                previous: text.clone(),
            }),
            None => {
                let contents = journal::append(journal::EMPTY_JOURNAL, &entries)
                    .map_err(EmitError::Invalid)?;
                files.insert(journal_at, EmittedFile { path, contents });
            }
        }
        ctx.notes.push(format!(
            "meta/_journal.json gets {} new entr{} after the existing ones, which stay as they are; schemashift writes no meta snapshot, so once schema.ts describes the new schema, `drizzle-kit generate` writes a migration repeating these changes: keep its journal entry and snapshot, and replace its SQL with a comment",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ));
    }
    if units.iter().any(is_script) {
        ctx.notes.push(format!(
            "drizzle's migrator runs every new journal entry in one transaction, so each step that cannot run in one is a psql script in {}, run by hand at its place in the order, and the migrations that must follow a script are a later stage",
            ctx.path(MANUAL)
        ));
    }
    ctx.notes.push(format!(
        "run order: {}",
        ctx.run_order
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    ctx.notes.push(
        "drizzle-kit has no down migrations: each file carries its rollback as a comment block, to run by hand".into(),
    );
    Ok(files)
}

/// A migration: the statements between breakpoints, the rollback commented.
fn migration(ctx: &Ctx, u: &Unit, when: u64) -> Result<String, EmitError> {
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.push(format!(
        "Run by `drizzle-kit migrate` (journal entry {}), in one transaction with the other new entries. Checks after it runs: {}",
        u.version, ctx.runbook
    ));
    let mut s = comment(&head);
    s.push('\n');
    let stmts: Vec<String> =
        u.up.iter()
            .flat_map(|c| &c.sql)
            .map(|sql| statement(sql))
            .collect();
    if stmts.is_empty() {
        s.push_str(&comment(&[
            "Nothing to run: this migration holds part of the phase's rollback.".into(),
        ]));
    } else {
        s.push_str(&stmts.join(&format!("\n{BREAKPOINT}\n")));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&rollback_block(
        &u.down,
        &format!("drizzle-kit has no down migrations; afterwards `DELETE FROM drizzle.__drizzle_migrations WHERE created_at = {when}` so that migrate would run it again"),
    ));
    // The migrator cuts the file at every marker, in comments and strings too.
    if s.matches(BREAKPOINT).count() != stmts.len().saturating_sub(1) {
        return Err(EmitError::Unsupported(format!(
            "the plan's text contains `{BREAKPOINT}`, where drizzle's migrator would cut a statement; write it with --tool golang-migrate or dbmate instead"
        )));
    }
    Ok(s)
}

/// A psql script: the one statement that cannot run in a transaction.
fn script(ctx: &Ctx, u: &Unit, after: Option<&str>) -> String {
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    for c in &u.up {
        for sql in &c.sql {
            head.push(format!(
                "Not a Drizzle migration: {}, and drizzle's migrator runs every new migration in one transaction.",
                nontx_reason(sql)
            ));
        }
    }
    head.push(format!(
        "Run it by hand from the project folder{}, in autocommit (never with -1 or --single-transaction), on the database drizzle.config points at:",
        after.map(|a| format!(" once {a}")).unwrap_or_default()
    ));
    head.push(format!("  {}", psql(&u.name)));
    head.push(format!("Checks after it runs: {}", ctx.runbook));
    let mut s = comment(&head);
    s.push('\n');
    for c in &u.up {
        for sql in &c.sql {
            s.push_str(&statement(sql));
            s.push('\n');
        }
    }
    s.push('\n');
    s.push_str(&rollback_block(&u.down, "with psql"));
    s
}
