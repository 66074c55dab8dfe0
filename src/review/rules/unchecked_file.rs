//! # unchecked-file
//!
//! Notes (severity info) a migration file the reviewer cannot read because
//! it is not SQL: a Rails or Sequel migration (`.rb`), a Django or Alembic
//! migration (`.py`), a Knex, TypeORM or Sequelize migration (`.js`, `.ts`),
//! a Go migration. The note names the command that prints the SQL the file
//! runs, filled in with the file's own version, app or revision where the
//! file says it. Like `unparsed-statement`, it makes the verdict `unchecked`,
//! which fails the run unless `--allow-unchecked` is given. (A Markdown file
//! is reviewed as a rollout plan instead, and noted only when it holds no SQL.)
//!
//! **Why it hurts:** an `add_column ... default: -> { "gen_random_uuid()" }`
//! or a `knex.schema.alterTable` holds the same hazards as the SQL it
//! becomes; a review that passes it without reading it says "safe" about
//! something nobody checked.
//!
//! **Instead:** review the SQL the migration runs: `python manage.py
//! sqlmigrate app 0042 | schemashift review -`, `alembic upgrade a:b --sql |
//! schemashift review -`, or the statements `bin/rails db:migrate:up
//! VERSION=...` and `npx knex migrate:up name --debug` print on a development
//! database. Leave such files out with `--exclude unchecked-file` only when
//! their SQL is reviewed another way.

use super::Rule;
use crate::context::Engine;
use crate::review::{Ctx, Finding, Severity, Stmt};

pub static RULE: Rule = Rule {
    id: "unchecked-file",
    severity: Severity::Info,
    summary: "a migration that is not SQL (Ruby, Python, JavaScript) was not checked",
    source: include_str!("unchecked_file.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

/// Judged per file, before any statement is split (see
/// [`crate::review::foreign`]): a statement is SQL, so nothing to note here.
fn check(_ctx: &Ctx, _stmt: &Stmt, _out: &mut Vec<Finding>) {}

/// The note on a whole file that is not SQL.
pub(crate) fn note(source: &str, message: String) -> Finding {
    // The file's first line of code stands for the statement.
    let first = source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let statement = if first.chars().count() > 160 {
        format!("{}...", first.chars().take(157).collect::<String>())
    } else {
        first.to_string()
    };
    Finding {
        rule: RULE.id.to_string(),
        severity: RULE.severity,
        message,
        file: None,
        line: 1,
        column: 1,
        statement,
        fix: None,
        table: None,
        lock: None,
    }
}
