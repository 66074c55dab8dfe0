//! Plain SQL migration files: Flyway, golang-migrate, dbmate, sqlx, Diesel
//! and Prisma. Every one of these sends a file (or a dbmate section) to
//! PostgreSQL as one query string, which PostgreSQL runs as one implicit
//! transaction when it holds several statements; so a step that must run
//! outside a transaction is always alone in its file (the layout in
//! `units` guarantees it), and the file is marked the tool's way:
//!
//! | tool | mark |
//! |---|---|
//! | Flyway | `V<n>__name.sql.conf` with `executeInTransaction=false` |
//! | golang-migrate | none needed: it never wraps files in a transaction (transactional files get an explicit `BEGIN;` ... `COMMIT;`) |
//! | dbmate | `-- migrate:up transaction:false` / `-- migrate:down transaction:false` |
//! | sqlx | `-- no-transaction` as the file's first line |
//! | Diesel | `metadata.toml` with `run_in_transaction = false` (for up and down) |
//! | Prisma | none: a migration holding one statement runs it alone |

use super::{header_lines, nontx_reason, Chunk, Ctx, Down, EmitError, EmittedFile, Unit};
use crate::detect::Tool;
use crate::ident::literal_pg;
use crate::plan::sql::dollar_tag;

pub(crate) fn render(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let mut files = Vec::new();
    for u in units.iter() {
        refuse_markers(ctx.tool.tool, u)?;
    }
    for u in units.iter_mut() {
        match ctx.tool.tool {
            Tool::Flyway => flyway(ctx, u, &mut files),
            Tool::GolangMigrate => golang_migrate(ctx, u, &mut files),
            Tool::Dbmate => dbmate(ctx, u, &mut files),
            Tool::Sqlx => sqlx(ctx, u, &mut files),
            Tool::Diesel => diesel(ctx, u, &mut files),
            Tool::Prisma => prisma(ctx, u, &mut files),
            t => unreachable!("{t} is not a SQL-file tool"),
        }
    }
    match ctx.tool.tool {
        Tool::Prisma => ctx.notes.push(
            "Prisma Migrate has no down migrations: each migration.sql carries its rollback as a comment block, to run by hand (then `prisma migrate resolve --rolled-back <name>`)".into(),
        ),
        Tool::Flyway if ctx.tool.style.undo != Some(true) => ctx.notes.push(
            "Flyway Community has no undo migrations: each V file carries its rollback as a comment block, to run by hand".into(),
        ),
        Tool::Sqlx if ctx.tool.style.reversible == Some(false) => ctx.notes.push(
            "this project's sqlx migrations are not reversible (no .down.sql): each file carries its rollback as a comment block, to run by hand".into(),
        ),
        Tool::GolangMigrate => ctx.notes.push(
            "golang-migrate sends each file as one query and never opens a transaction itself: each statement that must run outside a transaction is alone in its own migration, and the others are wrapped in BEGIN/COMMIT".into(),
        ),
        _ => {}
    }
    Ok(files)
}

/// `-- ` before each line (`--` alone for empty ones).
pub(crate) fn comment(lines: &[String]) -> String {
    let mut s = String::new();
    for l in lines {
        // Every line break PostgreSQL (or another reader) knows starts a new
        // commented line: a CR inside a string literal of a commented
        // statement must not end the comment and run the rest.
        for part in l.replace("\r\n", "\n").split(super::ends_line) {
            if part.is_empty() {
                s.push_str("--\n");
            } else {
                s.push_str("-- ");
                s.push_str(part);
                s.push('\n');
            }
        }
    }
    s
}

pub(crate) fn statement(sql: &str) -> String {
    let t = sql.trim_end();
    if t.ends_with(';') {
        t.to_string()
    } else {
        format!("{t};")
    }
}

/// The statements of a chunk, blank-line separated; `wrap` adds an explicit
/// transaction around a transactional chunk.
pub(crate) fn body(c: &Chunk, wrap: bool) -> String {
    let stmts: Vec<String> = c.sql.iter().map(|s| statement(s)).collect();
    let joined = stmts.join("\n\n");
    if wrap && c.transactional {
        format!("BEGIN;\n\n{joined}\n\nCOMMIT;\n")
    } else {
        format!("{joined}\n")
    }
}

fn bodies(chunks: &[Chunk], wrap: bool) -> String {
    chunks
        .iter()
        .map(|c| body(c, wrap))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Refuses SQL the tool would read as its own syntax: dbmate cuts a file
/// at a line starting `-- migrate:`, and Flyway replaces `${...}` as a
/// placeholder, even inside a quoted name or a string literal.
fn refuse_markers(tool: Tool, u: &Unit) -> Result<(), EmitError> {
    let down: &[Chunk] = match &u.down {
        Down::Steps(c) => c,
        _ => &[],
    };
    for sql in u.up.iter().chain(down).flat_map(|c| c.sql.iter()) {
        let bad = match tool {
            Tool::Dbmate => sql
                .split(['\n', '\r'])
                .any(|l| l.trim_start().starts_with("--") && l.contains("migrate:")),
            Tool::Flyway => sql.contains("${"),
            _ => false,
        };
        if bad {
            return Err(EmitError::Unsupported(format!(
                "a statement of phase {} contains {}, which {tool} would read as its own syntax and change; write it with --tool golang-migrate instead",
                u.phase_id,
                if tool == Tool::Flyway {
                    "`${` (a Flyway placeholder)"
                } else {
                    "a line starting `-- migrate:` (dbmate's section marker)"
                }
            )));
        }
    }
    Ok(())
}

/// A statement that stops a down migration that cannot be undone.
pub(crate) fn refuse_sql(loss: &str) -> String {
    let body = format!(
        "\nBEGIN\n  RAISE EXCEPTION USING MESSAGE = {};\nEND\n",
        literal_pg(&format!(
            "irreversible: {loss}; restore from a backup instead"
        ))
    );
    // The message holds names: the tag must not occur in it.
    let tag = dollar_tag("schemashift", &body);
    format!("DO {tag}{body}{tag};\n")
}

/// Lines explaining why up (or down) runs outside a transaction.
fn nontx_lines(chunks: &[Chunk], how: &str) -> Vec<String> {
    chunks
        .iter()
        .filter(|c| !c.transactional)
        .flat_map(|c| c.sql.iter())
        .map(|s| format!("Outside a transaction ({how}): {}.", nontx_reason(s)))
        .collect()
}

/// The rollback as a comment block, for tools without down migrations.
/// Between `-- schemashift:rollback <mode>` and `-- schemashift:end`, every
/// line of SQL is commented with `-- ` (or `--` when empty).
pub(crate) fn rollback_block(down: &Down, why: &str) -> String {
    match down {
        Down::Steps(chunks) => {
            let mut s = comment(&[format!(
                "Rollback ({why}): run by hand, in this order, each block as it says."
            )]);
            for c in chunks {
                let mode = if c.transactional {
                    "transaction"
                } else {
                    "no-transaction"
                };
                s.push_str(&format!("-- schemashift:rollback {mode}\n"));
                s.push_str(&comment(&[body(c, false).trim_end().to_string()]));
                s.push_str("-- schemashift:end\n");
            }
            s
        }
        Down::Nothing(reason) => comment(&[format!("Rollback: nothing to run here: {reason}.")]),
        Down::Irreversible(loss) => comment(&[format!(
            "Rollback: none. This migration is irreversible: {loss}. Restore from a backup."
        )]),
    }
}

/// The down file's SQL (for tools with down files).
fn down_sql(down: &Down, wrap: bool) -> String {
    match down {
        Down::Steps(chunks) => bodies(chunks, wrap),
        Down::Nothing(reason) => comment(&[format!("Nothing to undo here: {reason}.")]),
        Down::Irreversible(loss) => {
            let mut s = comment(&[format!("Irreversible: {loss}.")]);
            s.push_str(&refuse_sql(loss));
            s
        }
    }
}

fn up_sql(u: &Unit, wrap: bool) -> String {
    if u.up.is_empty() {
        comment(&["Nothing to run up: this migration holds part of the phase's rollback.".into()])
    } else {
        bodies(&u.up, wrap)
    }
}

fn down_is_nontx(d: &Down) -> bool {
    matches!(d, Down::Steps(c) if c.iter().any(|c| !c.transactional))
}

fn flyway(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let name = format!("V{}__{}.sql", u.version, u.slug);
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(
        &u.up,
        &format!("{name}.conf sets executeInTransaction=false"),
    ));
    let undo = ctx.tool.style.undo == Some(true);
    let mut s = comment(&head);
    s.push('\n');
    s.push_str(&up_sql(u, false));
    s.push('\n');
    if undo {
        s.push_str(&comment(&[format!(
            "Rollback: U{}__{}.sql (Flyway undo).",
            u.version, u.slug
        )]));
    } else {
        s.push_str(&rollback_block(
            &u.down,
            "Flyway Community has no undo migrations",
        ));
    }
    u.name = ctx.path(&name);
    files.push(EmittedFile {
        path: ctx.path(&name),
        contents: s,
    });
    if u.up_has_nontx() {
        files.push(EmittedFile {
            path: ctx.path(&format!("{name}.conf")),
            contents: "executeInTransaction=false\n".into(),
        });
    }
    if undo {
        let uname = format!("U{}__{}.sql", u.version, u.slug);
        let mut d = comment(&[format!("Undo of {name} (schemashift).")]);
        d.push('\n');
        d.push_str(&down_sql(&u.down, false));
        files.push(EmittedFile {
            path: ctx.path(&uname),
            contents: d,
        });
        if down_is_nontx(&u.down) {
            files.push(EmittedFile {
                path: ctx.path(&format!("{uname}.conf")),
                contents: "executeInTransaction=false\n".into(),
            });
        }
    }
}

fn golang_migrate(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let stem = format!("{}_{}", u.version, u.slug);
    let how = "golang-migrate opens no transaction, and the statement is alone in its file";
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(&u.up, how));
    let mut up = comment(&head);
    up.push('\n');
    up.push_str(&up_sql(u, true));
    let mut down = comment(&[format!("Down of {stem}.up.sql (schemashift).")]);
    if down_is_nontx(&u.down) {
        down.push_str(&comment(&nontx_lines(
            match &u.down {
                Down::Steps(c) => c,
                _ => &[],
            },
            how,
        )));
    }
    down.push('\n');
    down.push_str(&down_sql(&u.down, true));
    u.name = ctx.path(&format!("{stem}.up.sql"));
    files.push(EmittedFile {
        path: ctx.path(&format!("{stem}.up.sql")),
        contents: up,
    });
    files.push(EmittedFile {
        path: ctx.path(&format!("{stem}.down.sql")),
        contents: down,
    });
}

fn dbmate(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let name = format!("{}_{}.sql", u.version, u.slug);
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(&u.up, "transaction:false"));
    let mut s = comment(&head);
    s.push('\n');
    s.push_str(if u.up_has_nontx() {
        "-- migrate:up transaction:false\n"
    } else {
        "-- migrate:up\n"
    });
    s.push_str(&up_sql(u, false));
    s.push('\n');
    s.push_str(if down_is_nontx(&u.down) {
        "-- migrate:down transaction:false\n"
    } else {
        "-- migrate:down\n"
    });
    s.push_str(&down_sql(&u.down, false));
    u.name = ctx.path(&name);
    files.push(EmittedFile {
        path: ctx.path(&name),
        contents: s,
    });
}

fn sqlx(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let stem = format!("{}_{}", u.version, u.slug);
    let how = "-- no-transaction";
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(&u.up, how));
    let mut up = String::new();
    if u.up_has_nontx() {
        // sqlx looks for this at the very start of the file.
        up.push_str("-- no-transaction\n");
    }
    up.push_str(&comment(&head));
    up.push('\n');
    up.push_str(&up_sql(u, false));
    if ctx.tool.style.reversible == Some(false) {
        up.push('\n');
        up.push_str(&rollback_block(
            &u.down,
            "this project's sqlx migrations have no down files",
        ));
        u.name = ctx.path(&format!("{stem}.sql"));
        files.push(EmittedFile {
            path: ctx.path(&format!("{stem}.sql")),
            contents: up,
        });
        return;
    }
    let mut down = String::new();
    if down_is_nontx(&u.down) {
        down.push_str("-- no-transaction\n");
    }
    down.push_str(&comment(&[format!("Down of {stem}.up.sql (schemashift).")]));
    down.push('\n');
    down.push_str(&down_sql(&u.down, false));
    u.name = ctx.path(&format!("{stem}.up.sql"));
    files.push(EmittedFile {
        path: ctx.path(&format!("{stem}.up.sql")),
        contents: up,
    });
    files.push(EmittedFile {
        path: ctx.path(&format!("{stem}.down.sql")),
        contents: down,
    });
}

fn diesel(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let folder = format!("{}_{}", u.version, u.slug);
    // One flag for up and down: when either must run outside a transaction,
    // both do, and a transactional chunk gets an explicit BEGIN/COMMIT.
    let nontx = u.has_nontx();
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(
        &u.up,
        "metadata.toml sets run_in_transaction = false",
    ));
    let mut up = comment(&head);
    up.push('\n');
    up.push_str(&up_sql(u, nontx));
    let mut down = comment(&[format!("Down of {folder}/up.sql (schemashift).")]);
    down.push('\n');
    down.push_str(&down_sql(&u.down, nontx));
    u.name = ctx.path(&folder);
    files.push(EmittedFile {
        path: ctx.path(&format!("{folder}/up.sql")),
        contents: up,
    });
    files.push(EmittedFile {
        path: ctx.path(&format!("{folder}/down.sql")),
        contents: down,
    });
    if nontx {
        files.push(EmittedFile {
            path: ctx.path(&format!("{folder}/metadata.toml")),
            contents: "# CONCURRENTLY and procedures that commit per batch cannot run inside a transaction.\nrun_in_transaction = false\n".into(),
        });
    }
}

fn prisma(ctx: &Ctx, u: &mut Unit, files: &mut Vec<EmittedFile>) {
    let folder = format!("{}_{}", u.version, u.slug);
    let mut head = header_lines(ctx.plan, u, ctx.stages);
    head.extend(nontx_lines(
        &u.up,
        "it is the only statement of this migration, so PostgreSQL runs it alone",
    ));
    let mut s = comment(&head);
    s.push('\n');
    s.push_str(&up_sql(u, false));
    s.push('\n');
    s.push_str(&rollback_block(
        &u.down,
        "Prisma Migrate has no down migrations; afterwards run `prisma migrate resolve --rolled-back` with this folder's name",
    ));
    u.name = ctx.path(&folder);
    files.push(EmittedFile {
        path: ctx.path(&format!("{folder}/migration.sql")),
        contents: s,
    });
}
