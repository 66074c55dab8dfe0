//! Python migrations: Django (`migrations.RunSQL`) and Alembic revisions
//! (`op.execute`). SQL goes into raw triple-quoted strings when that keeps it
//! exact, else into an escaped string literal.
//!
//! Django runs each element of a `RunSQL` list as it is (no splitting, no
//! `%` interpolation without params). A Django migration is atomic or not
//! as a whole (`atomic = False`), so Django gets the split layout.
//!
//! Alembic's `op.execute` wraps a string in SQLAlchemy's `text()`, which
//! reads `:name` as a bind parameter: such colons are escaped as `\:`
//! (SQLAlchemy removes the backslash again). Steps that must run outside a
//! transaction go inside `with op.get_context().autocommit_block():`.

use super::naming::iso;
use super::{header_lines, nontx_reason, one_line, Chunk, Ctx, Down, EmitError, EmittedFile, Unit};
use crate::detect::Naming;

/// A Python string literal holding `s` exactly.
pub(crate) fn py_str(s: &str) -> String {
    let raw_ok = !s.contains("\"\"\"") && !s.contains('\r') && !s.ends_with('\\');
    if raw_ok {
        // r"""\n<sql>\n""": the leading and trailing newlines are harmless to SQL.
        return format!("r\"\"\"\n{s}\n\"\"\"");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn comment_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("# {}\n", super::comment_text(l)))
        .collect()
}

// --- Django ----------------------------------------------------------------

pub(crate) fn django(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let app = ctx.tool.style.app.clone().unwrap_or_default();
    let mut previous: Option<String> = ctx.tool.latest.as_ref().map(|l| l.version.clone());
    let mut files = Vec::new();
    for u in units.iter_mut() {
        let stem = format!("{}_{}", u.version, u.slug);
        let mut s = comment_lines(&header_lines(ctx.plan, u, ctx.stages));
        s.push_str(&format!("# Checks after it runs: {}\n", ctx.runbook));
        s.push_str("# RunSQL changes the database only: update the models (and Django's\n");
        s.push_str("# migration state) in the app release the runbook names.\n");
        s.push_str(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n",
        );
        if u.has_nontx() {
            for c in u.up.iter().chain(match &u.down {
                Down::Steps(c) => c.iter(),
                _ => [].iter(),
            }) {
                if !c.transactional {
                    for sql in &c.sql {
                        s.push_str(&format!(
                            "    # Outside a transaction: {}\n",
                            nontx_reason(sql)
                        ));
                    }
                }
            }
            s.push_str("    atomic = False\n\n");
        }
        s.push_str("    dependencies = [\n");
        if let Some(p) = &previous {
            s.push_str(&format!("        ({}, {}),\n", py_quote(&app), py_quote(p)));
        }
        s.push_str("    ]\n\n    operations = [\n        migrations.RunSQL(\n");
        s.push_str(&format!("            sql={},\n", sql_list(&u.up)));
        match &u.down {
            Down::Steps(c) => s.push_str(&format!("            reverse_sql={},\n", sql_list(c))),
            Down::Nothing(reason) => {
                s.push_str(&format!(
                    "            # Nothing to undo here: {}.\n",
                    one_line(reason)
                ));
                s.push_str("            reverse_sql=migrations.RunSQL.noop,\n");
            }
            Down::Irreversible(loss) => {
                s.push_str(&format!(
                    "            # No reverse_sql: irreversible ({}); Django refuses to unapply it.\n",
                    one_line(loss)
                ));
            }
        }
        s.push_str("        ),\n    ]\n");
        previous = Some(stem.clone());
        u.name = ctx.path(&format!("{stem}.py"));
        files.push(EmittedFile {
            path: ctx.path(&format!("{stem}.py")),
            contents: s,
        });
    }
    Ok(files)
}

fn py_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn sql_list(chunks: &[Chunk]) -> String {
    let stmts: Vec<&String> = chunks.iter().flat_map(|c| c.sql.iter()).collect();
    if stmts.is_empty() {
        return "migrations.RunSQL.noop".into();
    }
    let mut s = String::from("[\n");
    for st in stmts {
        s.push_str(&format!("                {},\n", py_str(st)));
    }
    s.push_str("            ]");
    s
}

// --- Alembic ---------------------------------------------------------------

/// Escapes what SQLAlchemy's `text()` would read as a bind parameter:
/// `:name` not preceded by `:`, a word character, `$` or `\`.
pub(crate) fn escape_binds(sql: &str) -> Result<String, EmitError> {
    if sql.contains("\\:") {
        return Err(EmitError::Unsupported(
            "a statement contains `\\:`, which SQLAlchemy's text() (behind Alembic's op.execute) would change; write it with --tool golang-migrate or dbmate instead".into(),
        ));
    }
    let chars: Vec<char> = sql.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ':' {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let prev_ok = prev.is_none_or(|p| !(p == ':' || word(p) || p == '$' || p == '\\'));
            // BIND_PARAMS: the name runs over word characters and `$`, and
            // must not be followed by `:`.
            let mut j = i + 1;
            while j < chars.len() && (word(chars[j]) || chars[j] == '$') {
                j += 1;
            }
            let named = j > i + 1 && chars.get(j) != Some(&':');
            if prev_ok && named {
                out.push('\\');
            }
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn alembic_file(template: &str, rev: &str, slug: &str, now: u64) -> String {
    let t = super::naming::utc(now);
    let template = template.replace("%%", "%");
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(i) = rest.find("%(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(close) = after.find(')') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let key = &after[..close];
        // The conversion: an optional precision/width, then a letter.
        let spec_end = after[close + 1..]
            .find(|c: char| c.is_ascii_alphabetic())
            .map(|k| close + 1 + k)
            .unwrap_or(close);
        let spec = &after[close + 1..spec_end];
        let width: usize = spec.trim_start_matches(['.', '0']).parse().unwrap_or(0);
        let num = |n: i64| format!("{:0w$}", n, w = width);
        let value = match key {
            "rev" => rev.to_string(),
            "slug" => slug.to_string(),
            "year" => num(t.year),
            "month" => num(t.month as i64),
            "day" => num(t.day as i64),
            "hour" => num(t.hour as i64),
            "minute" => num(t.minute as i64),
            "second" => num(t.second as i64),
            "epoch" => now.to_string(),
            _ => String::new(),
        };
        out.push_str(&value);
        rest = &after[(spec_end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn alembic(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let template = match &ctx.tool.naming {
        Naming::Revision { file_template } => file_template.clone(),
        _ => crate::detect::DEFAULT_ALEMBIC_TEMPLATE.to_string(),
    };
    let mut previous: Option<String> = ctx.tool.latest.as_ref().map(|l| l.version.clone());
    let mut files = Vec::new();
    for u in units.iter_mut() {
        let rev = u.version.clone();
        let file = format!("{}.py", alembic_file(&template, &rev, &u.slug, ctx.now));
        let mut s = String::new();
        let doc = |t: &str| t.replace('\\', "/").replace("\"\"\"", "'''");
        s.push_str(&format!("\"\"\"{}\n\n", doc(&u.full_title())));
        s.push_str(&format!("Revision ID: {rev}\n"));
        s.push_str(&format!("Revises: {}\n", previous.as_deref().unwrap_or("")));
        s.push_str(&format!("Create Date: {}\n\n", iso(ctx.now)));
        for l in header_lines(ctx.plan, u, ctx.stages) {
            s.push_str(&doc(&l));
            s.push('\n');
        }
        s.push_str(&format!("Checks after it runs: {}\n", ctx.runbook));
        s.push_str("\"\"\"\nfrom alembic import op\n\n# revision identifiers, used by Alembic.\n");
        s.push_str(&format!("revision = {}\n", py_quote(&rev)));
        s.push_str(&format!(
            "down_revision = {}\n",
            previous.as_deref().map_or("None".into(), py_quote)
        ));
        s.push_str("branch_labels = None\ndepends_on = None\n\n\n");
        s.push_str("def upgrade() -> None:\n");
        s.push_str(&alembic_body(&u.up)?);
        s.push_str("\n\ndef downgrade() -> None:\n");
        match &u.down {
            Down::Steps(c) => s.push_str(&alembic_body(c)?),
            Down::Nothing(reason) => s.push_str(&format!(
                "    # Nothing to undo here: {}.\n    pass\n",
                one_line(reason)
            )),
            Down::Irreversible(loss) => s.push_str(&format!(
                "    raise NotImplementedError(\n        {}\n    )\n",
                py_quote(&format!(
                    "irreversible: {loss}; restore from a backup instead"
                ))
            )),
        }
        previous = Some(rev);
        u.name = ctx.path(&file);
        files.push(EmittedFile {
            path: ctx.path(&file),
            contents: s,
        });
    }
    Ok(files)
}

fn alembic_body(chunks: &[Chunk]) -> Result<String, EmitError> {
    let mut s = String::new();
    for c in chunks {
        for sql in &c.sql {
            let lit = py_str(&escape_binds(sql)?);
            if c.transactional {
                s.push_str(&format!("    op.execute(\n        {lit}\n    )\n"));
            } else {
                s.push_str(&format!(
                    "    # Outside a transaction: {}\n",
                    nontx_reason(sql)
                ));
                s.push_str("    with op.get_context().autocommit_block():\n");
                s.push_str(&format!(
                    "        op.execute(\n            {lit}\n        )\n"
                ));
            }
        }
    }
    if s.is_empty() {
        s.push_str("    pass\n");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_keep_the_text() {
        assert_eq!(py_str("SELECT 1"), "r\"\"\"\nSELECT 1\n\"\"\"");
        assert_eq!(py_str("a\"\"\"b"), "\"a\\\"\\\"\\\"b\"");
        assert_eq!(py_str("x\\"), "\"x\\\\\"");
    }

    #[test]
    fn escapes_sqlalchemy_binds_only() {
        let e = |s: &str| escape_binds(s).unwrap();
        assert_eq!(e("SELECT 'users'::regclass"), "SELECT 'users'::regclass");
        assert_eq!(e("x := 1"), "x := 1");
        assert_eq!(e("'12:30'"), "'12:30'");
        assert_eq!(e("'{\"a\":1}'"), "'{\"a\"\\:1}'");
        assert_eq!(e("SELECT :name"), "SELECT \\:name");
        assert!(escape_binds("a \\:b").is_err());
    }

    #[test]
    fn alembic_file_templates() {
        assert_eq!(
            alembic_file("%%(rev)s_%%(slug)s", "abc", "add_x", 0),
            "abc_add_x"
        );
        assert_eq!(
            alembic_file(
                "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
                "abc",
                "add_x",
                1_767_225_600
            ),
            "2026_01_01_0000-abc_add_x"
        );
    }
}
