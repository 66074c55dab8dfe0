//! Migration files that are not SQL: Rails and Sequel (Ruby), Django and
//! Alembic (Python), Knex, TypeORM and Sequelize (JavaScript/TypeScript),
//! and Markdown rollout plans. The reviewer reads SQL, so a code migration
//! cannot be checked: it gets an `unchecked-file` note naming the command
//! that prints the SQL the file runs (filled in with the file's own app,
//! revision or version where the file says it), and the verdict `unchecked`.
//! A Markdown file is reviewed as a rollout plan instead.

/// What a file named with one of these extensions is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSql {
    /// A rollout plan written in Markdown: reviewed by [`super::plan`].
    Markdown,
    /// A migration in a programming language: why it was not checked, and
    /// how to get its SQL.
    Code(String),
}

/// Markdown extensions, reviewed as plans.
const MARKDOWN: &[&str] = &["md", "markdown"];

/// Whether a file, by its name and text, is not SQL; `None` for SQL (and
/// for anything unnamed, such as standard input).
pub fn classify(source: &str, file: Option<&str>) -> Option<NotSql> {
    let path = file?;
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    if MARKDOWN.contains(&ext.as_str()) {
        return Some(NotSql::Markdown);
    }
    let stem = name.split('.').next().unwrap_or(name);
    let message = match ext.as_str() {
        "rb" => ruby(source, stem),
        "py" => python(source, path, stem),
        "js" | "ts" | "mjs" | "cjs" | "mts" | "cts" => javascript(source, name),
        "go" => code(
            "a Go migration",
            "print the SQL it runs (log it from your migration runner) and review that with `schemashift review -`",
        ),
        _ => return None,
    };
    Some(NotSql::Code(message))
}

/// Whether code (of extension `ext`, lower-case) defines a migration, by
/// what each tool's migration files hold.
pub fn defines_migration(text: &str, ext: &str) -> bool {
    let markers: &[&str] = match ext {
        "rb" => &[
            "ActiveRecord::Migration",
            "Sequel.migration",
            "def up",
            "def change",
        ],
        "py" => &["migrations.Migration", "down_revision", "def upgrade("],
        "go" => &["goose.AddMigration", "func Up", "func up"],
        _ => &[
            "exports.up",
            "function up(",
            "async up(",
            "up: async",
            "up: function",
            "up(queryInterface",
        ],
    };
    markers.iter().any(|m| text.contains(m))
}

fn code(what: &str, how: &str) -> String {
    format!("{what}: the reviewer reads SQL, so this file was not checked and may hold any hazard; {how}")
}

fn ruby(source: &str, stem: &str) -> String {
    if source.contains("Sequel.migration") {
        return code(
            "a Sequel migration (Ruby)",
            "print its SQL with `sequel -E -m <migrations dir> <database url>` on a development database (-E echoes every statement) and review that",
        );
    }
    let version: String = stem.chars().take_while(char::is_ascii_digit).collect();
    let version = if version.is_empty() {
        "<version>".to_string()
    } else {
        version
    };
    let what = if source.contains("ActiveRecord::") {
        "a Rails migration (Ruby)"
    } else {
        "a Ruby migration"
    };
    code(
        what,
        &format!("run `bin/rails db:migrate:up VERSION={version}` on a development database, which writes every statement it runs to log/development.log, and review those statements (or keep the SQL in a .sql file the migration runs with `execute`)"),
    )
}

fn python(source: &str, path: &str, stem: &str) -> String {
    if source.contains("django.db") || source.contains("migrations.Migration") {
        // <app>/migrations/<name>.py: the app label is the folder above.
        let mut parts = path.rsplit(['/', '\\']).skip(1);
        let app = match (parts.next(), parts.next()) {
            (Some("migrations"), Some(app)) if !app.is_empty() => app.to_string(),
            _ => "<app>".to_string(),
        };
        return code(
            "a Django migration (Python)",
            &format!("print its SQL with `python manage.py sqlmigrate {app} {stem} | schemashift review -`"),
        );
    }
    if source.contains("down_revision") {
        let rev = assigned(source, "revision").unwrap_or_else(|| "<revision>".into());
        let range = match assigned(source, "down_revision") {
            Some(down) => format!("{down}:{rev}"),
            None => rev,
        };
        return code(
            "an Alembic migration (Python)",
            &format!("print its SQL in offline mode with `alembic upgrade {range} --sql | schemashift review -`"),
        );
    }
    code(
        "a Python migration",
        "print the SQL it runs (most tools have a dry-run or SQL mode) and review that with `schemashift review -`",
    )
}

/// The string a Python module-level `name = '...'` (or `name: str = "..."`)
/// assigns; `None` when it is absent or not a string (e.g. `None`).
fn assigned(source: &str, name: &str) -> Option<String> {
    source.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(name)?;
        let rest = rest.trim_start();
        // `revision` must not match `revision_x = ...`.
        let rest = match rest.strip_prefix(':') {
            Some(typed) => typed.split_once('=')?.1,
            None => rest.strip_prefix('=')?,
        }
        .trim();
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let value = rest[1..].split(quote).next()?;
        let ok = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        ok.then(|| value.to_string())
    })
}

fn javascript(source: &str, name: &str) -> String {
    if source.contains("MigrationInterface") || source.contains("QueryRunner") {
        return code(
            "a TypeORM migration",
            "its SQL is in the queryRunner.query(...) calls: copy it into a .sql file and review that, or run `npx typeorm migration:run -d <data source>` with `logging: true` on a development database and review the statements it logs",
        );
    }
    if source.contains("queryInterface") || source.contains("Sequelize") {
        return code(
            "a Sequelize migration",
            &format!("run `npx sequelize-cli db:migrate --to {name}` on a development database (Sequelize logs every statement as `Executing (default): ...`) and review those statements"),
        );
    }
    if source.contains("knex") || source.contains("Knex") {
        return code(
            "a Knex migration",
            &format!("run `npx knex migrate:up {name} --debug` on a development database, which prints every statement it runs, and review those statements"),
        );
    }
    code(
        "a JavaScript/TypeScript migration",
        "print the SQL it runs (log the queries from your migration tool) and review that with `schemashift review -`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(source: &str, file: &str) -> String {
        match classify(source, Some(file)) {
            Some(NotSql::Code(m)) => m,
            other => panic!("{file}: {other:?}"),
        }
    }

    #[test]
    fn sql_and_unnamed_input_are_sql() {
        for f in ["a.sql", "a.pgsql", "V1__x.sql.postgres", "noext", "a.txt"] {
            assert_eq!(classify("SELECT 1;", Some(f)), None, "{f}");
        }
        assert_eq!(
            classify("class X < ActiveRecord::Migration[7.1]", None),
            None
        );
        assert_eq!(
            classify("# Plan", Some("docs/plan.md")),
            Some(NotSql::Markdown)
        );
    }

    #[test]
    fn rails_names_the_version_to_migrate() {
        let m = message(
            "class AddStatus < ActiveRecord::Migration[7.1]\n  def change\n  end\nend\n",
            "db/migrate/20240102093000_add_status.rb",
        );
        assert!(m.starts_with("a Rails migration (Ruby): "), "{m}");
        assert!(
            m.contains("bin/rails db:migrate:up VERSION=20240102093000"),
            "{m}"
        );
        assert!(message("Sequel.migration do\nend", "001_x.rb").contains("sequel -E -m"));
    }

    #[test]
    fn django_and_alembic_name_their_sql_commands() {
        let m = message(
            "from django.db import migrations\nclass Migration(migrations.Migration):\n    pass\n",
            "shop/migrations/0042_order_status.py",
        );
        assert!(
            m.contains("python manage.py sqlmigrate shop 0042_order_status"),
            "{m}"
        );
        let m = message(
            "from alembic import op\nrevision = 'ae1027a6acf'\ndown_revision = '1975ea83b712'\n",
            "versions/ae1027a6acf_add_x.py",
        );
        assert!(
            m.contains("alembic upgrade 1975ea83b712:ae1027a6acf --sql"),
            "{m}"
        );
        let m = message(
            "from alembic import op\nrevision: str = \"base1\"\ndown_revision = None\n",
            "versions/base1.py",
        );
        assert!(m.contains("alembic upgrade base1 --sql"), "{m}");
        assert!(message("x = 1", "m.py").starts_with("a Python migration"));
    }

    #[test]
    fn javascript_tools_are_told_apart() {
        let knex = message(
            "import type { Knex } from 'knex';\nexport async function up(knex: Knex) {}\n",
            "migrations/20240101_add_x.ts",
        );
        assert!(
            knex.contains("npx knex migrate:up 20240101_add_x.ts --debug"),
            "{knex}"
        );
        let typeorm = message(
            "export class X implements MigrationInterface { async up(q: QueryRunner) {} }",
            "1700000000000-X.ts",
        );
        assert!(typeorm.contains("npx typeorm migration:run"), "{typeorm}");
        let seq = message(
            "module.exports = { up: async (queryInterface, Sequelize) => {} }",
            "20240101-x.js",
        );
        assert!(
            seq.contains("sequelize-cli db:migrate --to 20240101-x.js"),
            "{seq}"
        );
    }
}
