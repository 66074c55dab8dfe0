//! Rails (Active Record) migrations: `db/migrate/<version>_<name>.rb`, one
//! class with `def up` / `def down` running the plan's SQL through
//! `execute <<~'SQL'` heredocs (single-quoted: no interpolation, no escapes).
//! A migration with any step that must run outside a transaction says
//! `disable_ddl_transaction!` and wraps each run of transactional steps in
//! `transaction do ... end` itself.

use super::naming::camel;
use super::{header_lines, nontx_reason, Chunk, Ctx, Down, EmitError, EmittedFile, Unit};

pub(crate) fn render(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let version = ctx
        .tool
        .style
        .framework_version
        .clone()
        .unwrap_or_else(|| "7.1".into());
    let mut files = Vec::new();
    for u in units.iter_mut() {
        let name = format!("{}_{}.rb", u.version, u.slug);
        let class = camel(&u.slug);
        let manual = u.has_nontx();
        let mut s = String::from("# frozen_string_literal: true\n\n");
        for l in header_lines(ctx.plan, u, ctx.stages) {
            s.push_str(&format!("# {}\n", super::comment_text(&l)));
        }
        s.push_str(&format!("# Checks after it runs: {}\n", ctx.runbook));
        s.push_str(&format!(
            "class {class} < ActiveRecord::Migration[{version}]\n"
        ));
        if manual {
            if u.has_tx() {
                s.push_str("  # Some steps must run outside a transaction; the others are\n");
                s.push_str("  # wrapped in `transaction do` below.\n");
            } else {
                s.push_str("  # Its steps must run outside a transaction.\n");
            }
            s.push_str("  disable_ddl_transaction!\n\n");
        }
        s.push_str("  def up\n");
        s.push_str(&chunks_ruby(&u.up, manual));
        s.push_str("  end\n\n  def down\n");
        match &u.down {
            Down::Steps(c) => s.push_str(&chunks_ruby(c, manual)),
            Down::Nothing(reason) => {
                s.push_str(&format!(
                    "    # Nothing to undo here: {}.\n",
                    super::one_line(reason)
                ));
            }
            Down::Irreversible(loss) => s.push_str(&format!(
                "    raise ActiveRecord::IrreversibleMigration, {}\n",
                ruby_str(&format!(
                    "irreversible: {loss}; restore from a backup instead"
                ))
            )),
        }
        s.push_str("  end\nend\n");
        u.name = ctx.path(&name);
        files.push(EmittedFile {
            path: ctx.path(&name),
            contents: s,
        });
    }
    Ok(files)
}

fn chunks_ruby(chunks: &[Chunk], manual: bool) -> String {
    let mut s = String::new();
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        if manual && c.transactional {
            s.push_str("    transaction do\n");
            for (j, sql) in c.sql.iter().enumerate() {
                if j > 0 {
                    s.push('\n');
                }
                s.push_str(&execute(sql, 6));
            }
            s.push_str("    end\n");
        } else {
            for (j, sql) in c.sql.iter().enumerate() {
                if j > 0 {
                    s.push('\n');
                }
                if !c.transactional {
                    s.push_str(&format!(
                        "    # Outside a transaction: {}\n",
                        nontx_reason(sql).replace('\n', " ")
                    ));
                }
                s.push_str(&execute(sql, 4));
            }
        }
    }
    if chunks.is_empty() {
        s.push_str("    # Nothing to run: this migration holds part of the phase's rollback.\n");
    }
    s
}

/// `execute <<~'SQL'` with the statement exactly: a squiggly heredoc when
/// some line starts at column 0 (so exactly the added indentation is
/// removed), else a dash heredoc with the text flush left.
pub(crate) fn execute(sql: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let inner = " ".repeat(indent + 2);
    let sql = sql.trim_end_matches(['\n', '\r']);
    if sql.contains('\r') {
        // A heredoc reads lines, so a CR (a CRLF in a string literal) would
        // not survive: an escaped string keeps every byte.
        return format!("{pad}execute {}\n", ruby_escaped(sql));
    }
    let mut tag = "SQL".to_string();
    let mut k = 1;
    while sql.lines().any(|l| l.trim() == tag) {
        tag = format!("SQL{k}");
        k += 1;
    }
    let flush = sql
        .lines()
        .any(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']));
    let mut s = String::new();
    if flush {
        s.push_str(&format!("{pad}execute <<~'{tag}'\n"));
        for l in sql.lines() {
            if l.is_empty() {
                s.push('\n');
            } else {
                s.push_str(&format!("{inner}{l}\n"));
            }
        }
        s.push_str(&format!("{inner}{tag}\n"));
    } else {
        s.push_str(&format!("{pad}execute <<-'{tag}'\n"));
        for l in sql.lines() {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!("{inner}{tag}\n"));
    }
    s
}

/// A double-quoted Ruby string holding `s` exactly: `\`, `"` and `#`
/// (interpolation) escaped, line breaks and other controls as escapes.
fn ruby_escaped(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '#' => out.push_str("\\#"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A single-quoted Ruby string.
pub(crate) fn ruby_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}
