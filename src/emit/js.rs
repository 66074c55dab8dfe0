//! JavaScript and TypeScript migrations: Knex, TypeORM and Sequelize. SQL
//! goes into template literals with `\`, backticks and `${` escaped, and CR
//! written as `\r` (a template literal turns a raw CR or CRLF into LF);
//! for Knex also `?`, which `knex.raw` would read as a binding.
//!
//! Transactions: a migration with any step that must run outside a
//! transaction turns the tool's own transaction off (Knex
//! `config = { transaction: false }`, TypeORM `transaction = false`) and
//! wraps each run of transactional steps in a transaction itself. Sequelize
//! never opens one, so transactional runs are always wrapped.

use super::naming::camel;
use super::{
    comment_text, header_lines, nontx_reason, one_line, Chunk, Ctx, Down, EmitError, EmittedFile,
    Unit,
};

/// A template literal holding `s` exactly (after the tool's own unescaping).
pub(crate) fn template(s: &str, knex: bool) -> String {
    let mut out = String::from("`");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            // A raw CR (alone or before LF) would reach the tool as LF.
            '\r' => out.push_str("\\r"),
            // knex.raw reads `?` as a positional binding; `\?` is a literal `?`.
            '?' if knex => out.push_str("\\\\?"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn comments(lines: &[String], indent: &str) -> String {
    lines
        .iter()
        .map(|l| format!("{indent}// {}\n", comment_text(l)))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    CommonJs,
    Esm,
    Ts,
}

fn lang(ctx: &Ctx, default_ts: bool) -> (Lang, String) {
    let style = &ctx.tool.style;
    let ext =
        style
            .extension
            .clone()
            .unwrap_or_else(|| if default_ts { "ts".into() } else { "js".into() });
    let l = if ext == "ts" {
        Lang::Ts
    } else if ext == "mjs" || style.module.as_deref() == Some("esm") && ext != "cjs" {
        Lang::Esm
    } else {
        Lang::CommonJs
    };
    (l, ext)
}

fn check_knex(u: &Unit) -> Result<(), EmitError> {
    let all = u.up.iter().chain(match &u.down {
        Down::Steps(c) => c.iter(),
        _ => [].iter(),
    });
    for c in all {
        for s in &c.sql {
            if s.contains("\\?") {
                return Err(EmitError::Unsupported(
                    "a statement contains `\\?`, which knex.raw would change; write it with --tool golang-migrate or dbmate instead".into(),
                ));
            }
        }
    }
    Ok(())
}

// --- Knex ------------------------------------------------------------------

pub(crate) fn knex(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let (lang, ext) = lang(ctx, false);
    let mut files = Vec::new();
    for u in units.iter_mut() {
        check_knex(u)?;
        let name = format!("{}_{}.{ext}", u.version, u.slug);
        let manual = u.has_nontx();
        let mut s = String::new();
        if lang == Lang::Ts {
            s.push_str("import type { Knex } from \"knex\";\n\n");
        }
        s.push_str(&comments(&header_lines(ctx.plan, u, ctx.stages), ""));
        s.push_str(&format!("// Checks after it runs: {}\n\n", ctx.runbook));
        for (dir, body) in [
            ("up", knex_body(&u.up, manual)),
            ("down", knex_down(&u.down, manual)),
        ] {
            match lang {
                Lang::Ts => s.push_str(&format!(
                    "export async function {dir}(knex: Knex): Promise<void> {{\n"
                )),
                Lang::Esm => s.push_str(&format!(
                    "/** @param {{import(\"knex\").Knex}} knex */\nexport async function {dir}(knex) {{\n"
                )),
                Lang::CommonJs => s.push_str(&format!(
                    "/** @param {{import(\"knex\").Knex}} knex */\nexports.{dir} = async function {dir}(knex) {{\n"
                )),
            }
            s.push_str(&body);
            s.push_str(if lang == Lang::CommonJs {
                "};\n\n"
            } else {
                "}\n\n"
            });
        }
        if manual {
            s.push_str(
                "// Some steps must run outside a transaction, so Knex runs this migration\n",
            );
            s.push_str(if u.has_tx() {
                "// without one; the other steps open their own (knex.transaction above).\n"
            } else {
                "// without one.\n"
            });
            s.push_str(match lang {
                Lang::CommonJs => "exports.config = { transaction: false };\n",
                _ => "export const config = { transaction: false };\n",
            });
        }
        let s = s.trim_end().to_string() + "\n";
        u.name = ctx.path(&name);
        files.push(EmittedFile {
            path: ctx.path(&name),
            contents: s,
        });
    }
    Ok(files)
}

fn knex_body(chunks: &[Chunk], manual: bool) -> String {
    let mut s = String::new();
    for c in chunks {
        if manual && c.transactional {
            s.push_str("  await knex.transaction(async (trx) => {\n");
            for sql in &c.sql {
                s.push_str(&format!("    await trx.raw({});\n", template(sql, true)));
            }
            s.push_str("  });\n");
        } else {
            for sql in &c.sql {
                if !c.transactional {
                    s.push_str(&format!(
                        "  // Outside a transaction: {}\n",
                        nontx_reason(sql)
                    ));
                }
                s.push_str(&format!("  await knex.raw({});\n", template(sql, true)));
            }
        }
    }
    if chunks.is_empty() {
        s.push_str("  // Nothing to run: this migration holds part of the phase's rollback.\n");
    }
    s
}

fn knex_down(down: &Down, manual: bool) -> String {
    match down {
        Down::Steps(c) => knex_body(c, manual),
        Down::Nothing(r) => format!("  // Nothing to undo here: {}.\n", one_line(r)),
        Down::Irreversible(loss) => format!(
            "  throw new Error({});\n",
            js_string(&format!(
                "irreversible: {loss}; restore from a backup instead"
            ))
        ),
    }
}

// --- TypeORM ---------------------------------------------------------------

pub(crate) fn typeorm(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let (lang, ext) = lang(ctx, true);
    let mode = ctx
        .tool
        .style
        .transaction_mode
        .clone()
        .unwrap_or_else(|| "all".into());
    let mut files = Vec::new();
    let mut needs_each = false;
    for u in units.iter_mut() {
        let class = format!("{}{}", camel(&u.slug), u.version);
        let name = format!("{}-{}.{ext}", u.version, camel(&u.slug));
        let nontx = u.has_nontx();
        let manual = nontx || mode == "none";
        needs_each |= nontx && mode == "all";
        let mut s = String::new();
        if lang == Lang::Ts {
            s.push_str("import { MigrationInterface, QueryRunner } from \"typeorm\";\n\n");
        }
        s.push_str(&comments(&header_lines(ctx.plan, u, ctx.stages), ""));
        s.push_str(&format!("// Checks after it runs: {}\n", ctx.runbook));
        match lang {
            Lang::Ts => s.push_str(&format!(
                "export class {class} implements MigrationInterface {{\n"
            )),
            Lang::Esm => s.push_str(&format!("export class {class} {{\n")),
            Lang::CommonJs => s.push_str(&format!("module.exports = class {class} {{\n")),
        }
        s.push_str(&format!("    name = {};\n", js_string(&class)));
        if nontx {
            s.push_str("    // Some steps must run outside a transaction (this needs the data\n");
            s.push_str("    // source's migrationsTransactionMode \"each\").\n");
            s.push_str("    transaction = false;\n");
        }
        s.push('\n');
        let sig = |dir: &str| match lang {
            Lang::Ts => {
                format!("    public async {dir}(queryRunner: QueryRunner): Promise<void> {{\n")
            }
            _ => format!("    async {dir}(queryRunner) {{\n"),
        };
        s.push_str(&sig("up"));
        s.push_str(&typeorm_body(&u.up, manual));
        s.push_str("    }\n\n");
        s.push_str(&sig("down"));
        match &u.down {
            Down::Steps(c) => s.push_str(&typeorm_body(c, manual)),
            Down::Nothing(r) => s.push_str(&format!(
                "        // Nothing to undo here: {}.\n",
                one_line(r)
            )),
            Down::Irreversible(loss) => s.push_str(&format!(
                "        throw new Error({});\n",
                js_string(&format!(
                    "irreversible: {loss}; restore from a backup instead"
                ))
            )),
        }
        s.push_str("    }\n}");
        s.push_str(if lang == Lang::CommonJs { ";\n" } else { "\n" });
        u.name = ctx.path(&name);
        files.push(EmittedFile {
            path: ctx.path(&name),
            contents: s,
        });
    }
    if needs_each {
        ctx.notes.push(
            "TypeORM runs all migrations in one transaction by default: set migrationsTransactionMode: \"each\" in the data source, or the migrations with `transaction = false` fail with ForbiddenTransactionModeOverrideError".into(),
        );
    }
    Ok(files)
}

fn typeorm_body(chunks: &[Chunk], manual: bool) -> String {
    let mut s = String::new();
    for c in chunks {
        if manual && c.transactional {
            s.push_str("        await queryRunner.startTransaction();\n        try {\n");
            for sql in &c.sql {
                s.push_str(&format!(
                    "            await queryRunner.query({});\n",
                    template(sql, false)
                ));
            }
            s.push_str("            await queryRunner.commitTransaction();\n");
            s.push_str("        } catch (err) {\n            await queryRunner.rollbackTransaction();\n            throw err;\n        }\n");
        } else {
            for sql in &c.sql {
                if !c.transactional {
                    s.push_str(&format!(
                        "        // Outside a transaction: {}\n",
                        nontx_reason(sql)
                    ));
                }
                s.push_str(&format!(
                    "        await queryRunner.query({});\n",
                    template(sql, false)
                ));
            }
        }
    }
    if chunks.is_empty() {
        s.push_str(
            "        // Nothing to run: this migration holds part of the phase's rollback.\n",
        );
    }
    s
}

// --- Sequelize -------------------------------------------------------------

pub(crate) fn sequelize(ctx: &mut Ctx, units: &mut [Unit]) -> Result<Vec<EmittedFile>, EmitError> {
    let ext = match ctx.tool.style.extension.as_deref() {
        Some("cjs") => "cjs",
        _ => "js",
    };
    let mut files = Vec::new();
    for u in units.iter_mut() {
        let name = format!("{}-{}.{ext}", u.version, u.slug.replace('_', "-"));
        let mut s = String::from("\"use strict\";\n\n");
        s.push_str(&comments(&header_lines(ctx.plan, u, ctx.stages), ""));
        s.push_str(&format!("// Checks after it runs: {}\n", ctx.runbook));
        if u.has_tx() {
            s.push_str("// Sequelize runs migrations without a transaction: each run of\n");
            s.push_str("// transactional steps opens its own below.\n");
        }
        s.push('\n');
        s.push_str("/** @type {import('sequelize-cli').Migration} */\nmodule.exports = {\n");
        s.push_str("  async up(queryInterface) {\n");
        s.push_str(&sequelize_body(&u.up));
        s.push_str("  },\n\n  async down(queryInterface) {\n");
        match &u.down {
            Down::Steps(c) => s.push_str(&sequelize_body(c)),
            Down::Nothing(r) => {
                s.push_str(&format!("    // Nothing to undo here: {}.\n", one_line(r)))
            }
            Down::Irreversible(loss) => s.push_str(&format!(
                "    throw new Error({});\n",
                js_string(&format!(
                    "irreversible: {loss}; restore from a backup instead"
                ))
            )),
        }
        s.push_str("  },\n};\n");
        u.name = ctx.path(&name);
        files.push(EmittedFile {
            path: ctx.path(&name),
            contents: s,
        });
    }
    Ok(files)
}

fn sequelize_body(chunks: &[Chunk]) -> String {
    let mut s = String::new();
    for c in chunks {
        if c.transactional {
            s.push_str("    await queryInterface.sequelize.transaction(async (transaction) => {\n");
            for sql in &c.sql {
                s.push_str(&format!(
                    "      await queryInterface.sequelize.query({}, {{ transaction }});\n",
                    template(sql, false)
                ));
            }
            s.push_str("    });\n");
        } else {
            for sql in &c.sql {
                s.push_str(&format!(
                    "    // Outside a transaction: {}\n",
                    nontx_reason(sql)
                ));
                s.push_str(&format!(
                    "    await queryInterface.sequelize.query({});\n",
                    template(sql, false)
                ));
            }
        }
    }
    if chunks.is_empty() {
        s.push_str("    // Nothing to run: this migration holds part of the phase's rollback.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::template;

    #[test]
    fn template_literals_keep_the_text() {
        assert_eq!(template("a`b", false), "`a\\`b`");
        assert_eq!(template("${x} $y", false), "`\\${x} $y`");
        assert_eq!(template("a\\b", false), "`a\\\\b`");
        assert_eq!(template("x ? y", true), "`x \\\\? y`");
        assert_eq!(template("'a\r\nb\rc'", false), "`'a\\r\nb\\rc'`");
    }
}
