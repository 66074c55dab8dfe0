//! Reviewing files: the files that paths name (directories are walked,
//! sorted), read, and reviewed together as one run. In a directory, SQL by
//! any of its usual names (`*.sql`, `*.pgsql`, `*.psql`, `*.sql.postgres`)
//! and migrations written in code (Rails, Django, Alembic, Knex, ...: noted
//! as not checked) are reviewed; every other file is listed as skipped, with
//! why, never dropped silently.

use super::format::Extents;
use super::{foreign, review_listed, sources, Review, ReviewOptions, Tally};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The name findings carry for SQL read from standard input.
pub const STDIN_NAME: &str = "stdin";

/// Something to review, as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdin,
    File(PathBuf),
}

/// One source, read.
#[derive(Debug, Clone)]
pub struct Input {
    /// The name findings carry: the path as given (or found in a directory), or `stdin`.
    pub name: String,
    pub text: String,
    /// The file was not valid UTF-8 and was read with replacement characters.
    pub lossy: bool,
}

/// A file a review did not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What one command-line argument names: the files to review and the
/// files of a directory left out.
#[derive(Debug, Default)]
pub struct Expanded {
    pub targets: Vec<Target>,
    pub skipped: Vec<Skipped>,
}

/// What one command-line argument names: `-` is stdin, a directory is every
/// file under it that [`in_directory`] takes (sorted by path; the rest are
/// `skipped`), anything else is a file.
pub fn expand(arg: &str) -> Result<Expanded, String> {
    if arg == "-" {
        return Ok(Expanded {
            targets: vec![Target::Stdin],
            skipped: Vec::new(),
        });
    }
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {arg}: {e}"))?;
    if !meta.is_dir() {
        return Ok(Expanded {
            targets: vec![Target::File(path.to_path_buf())],
            skipped: Vec::new(),
        });
    }
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    walk(path, &mut found, &mut skipped)?;
    found.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Expanded {
        targets: found.into_iter().map(Target::File).collect(),
        skipped,
    })
}

/// Engines named after `.sql.` in a file name (`V1__init.sql.postgres`).
const SQL_SUFFIXES: &[&str] = &["postgres", "postgresql", "pg", "pgsql", "psql", "mysql"];

/// Whether a file name is SQL: `.sql`, `.pgsql`, `.psql`, or `.sql.` and an engine.
pub fn is_sql_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if [".sql", ".pgsql", ".psql"]
        .iter()
        .any(|x| lower.ends_with(x))
    {
        return true;
    }
    lower
        .rsplit_once(".sql.")
        .is_some_and(|(_, engine)| SQL_SUFFIXES.contains(&engine))
}

/// Whether a file found in a directory is reviewed; if not, why. A code
/// file is read, to tell a migration from other code.
pub fn in_directory(path: &Path) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_sql_name(&name) {
        return Ok(());
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "md" || ext == "markdown" {
        return Err("Markdown: name it on the command line to review it as a rollout plan".into());
    }
    let display = path.to_string_lossy();
    if let Some(foreign::NotSql::Code(_)) = foreign::classify("", Some(&display)) {
        // Helpers beside migrations (`__init__.py`, alembic's `env.py`,
        // `knexfile.js`) are code too, but not migrations.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        return if foreign::defines_migration(&text, &ext) {
            Ok(())
        } else {
            Err("code that defines no migration".into())
        };
    }
    Err(if ext.is_empty() {
        "not SQL (no extension)".to_string()
    } else {
        format!("not SQL (.{ext})")
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<Skipped>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        // file_type does not follow symbolic links, so a link cycle cannot
        // loop; a linked file is still reviewed.
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if kind.is_dir() {
            if hidden {
                skipped.push(Skipped {
                    path: path.to_string_lossy().into_owned(),
                    reason: "hidden directory, not searched".into(),
                });
            } else {
                walk(&path, out, skipped)?;
            }
        } else if kind.is_file() || path.is_file() {
            match in_directory(&path) {
                Ok(()) => out.push(path),
                Err(reason) => skipped.push(Skipped {
                    path: path.to_string_lossy().into_owned(),
                    reason,
                }),
            }
        }
    }
    Ok(())
}

/// Reads a target, at most `limit` bytes of it (what is left of
/// [`crate::limits::REVIEW_BYTES`] for the whole review). Text that is not
/// UTF-8 is read with replacement characters.
pub fn read(target: &Target, limit: usize) -> Result<Input, String> {
    let hint = format!(
        "one review reads at most {} of SQL in all; review fewer or smaller files at a time",
        crate::limits::describe(crate::limits::REVIEW_BYTES)
    );
    let (name, bytes) = match target {
        Target::Stdin => {
            let bytes =
                crate::limits::read_bounded(std::io::stdin().lock(), limit, "stdin", &hint)?;
            (STDIN_NAME.to_string(), bytes)
        }
        Target::File(path) => {
            let bytes = crate::limits::read_file(path, limit, "the file", &hint)?;
            (path.to_string_lossy().into_owned(), bytes)
        }
    };
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Input {
            name,
            text,
            lossy: false,
        },
        Err(e) => Input {
            name,
            text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            lossy: true,
        },
    })
}

/// Why a file that is read is not reviewed (a down migration, a file marked
/// to be ignored), if it is not.
pub fn skipped_reason(input: &Input) -> Option<String> {
    let up = sources::up_section(&input.text, Some(&input.name));
    if !up.skip_file || foreign::classify(&input.text, Some(&input.name)).is_some() {
        return None;
    }
    let name = input.name.rsplit(['/', '\\']).next().unwrap_or(&input.name);
    Some(if name.ends_with(".down.sql") {
        "a down migration: it runs only to roll back".to_string()
    } else if name.starts_with('U') && name.contains("__") {
        "a Flyway undo migration: it runs only to roll back".to_string()
    } else {
        "marked `-- schemashift-ignore-file`".to_string()
    })
}

/// Reviews every input and gathers the findings in one review.
pub fn review_inputs(inputs: &[Input], opts: &ReviewOptions) -> Review {
    let mut findings = Vec::new();
    let mut statements = 0;
    let tally = Tally::default();
    let mut skipped = Vec::new();
    for i in inputs {
        if let Some(reason) = skipped_reason(i) {
            skipped.push(Skipped {
                path: i.name.clone(),
                reason,
            });
        }
        let (f, n) = review_listed(&i.text, Some(&i.name), opts, &tally);
        findings.extend(f);
        statements += n;
    }
    let mut review = Review::of_tally(findings, statements, &tally);
    review.summary = format!("{} file(s), {}", inputs.len(), review.summary);
    review.skipped = skipped;
    review
}

/// Where each reviewed statement of the inputs ends (for SARIF regions).
pub fn extents(inputs: &[Input], opts: &ReviewOptions) -> Extents {
    let mut ext = Extents::default();
    for i in inputs {
        let up = sources::up_section(&i.text, Some(&i.name));
        if up.skip_file || foreign::classify(&i.text, Some(&i.name)).is_some() {
            continue;
        }
        // The statements as the review sees them: those of DO blocks too.
        let ctx = super::Ctx::split(up.text, up.line_offset, opts, up.in_transaction);
        for s in &ctx.stmts {
            let start = (s.line, s.column);
            ext.insert(&i.name, start, end_of(start, &s.text));
        }
    }
    ext
}

/// The position one past the last character of `text` starting at `start`.
fn end_of(start: (usize, usize), text: &str) -> (usize, usize) {
    match text.rfind('\n') {
        None => (start.0, start.1 + text.chars().count()),
        Some(i) => (
            start.0 + text.matches('\n').count(),
            text[i + 1..].chars().count() + 1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_and_ignored_files_are_listed_as_skipped() {
        let input = |name: &str, text: &str| Input {
            name: name.into(),
            text: text.into(),
            lossy: false,
        };
        let inputs = [
            input("m/1_a.up.sql", "ALTER TABLE t ADD x int;"),
            input("m/1_a.down.sql", "ALTER TABLE t DROP x;"),
            input("m/2.sql", "-- schemashift-ignore-file\nDROP TABLE t;"),
        ];
        let r = review_inputs(&inputs, &ReviewOptions::default());
        let got: Vec<(&str, &str)> = r
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "m/1_a.down.sql",
                    "a down migration: it runs only to roll back"
                ),
                ("m/2.sql", "marked `-- schemashift-ignore-file`"),
            ]
        );
        let text = crate::review::format::text(&r);
        assert!(
            text.contains(
                "skipped: m/1_a.down.sql (a down migration: it runs only to roll back)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn ends_are_one_past_the_last_character() {
        assert_eq!(end_of((1, 1), "DROP TABLE t"), (1, 13));
        assert_eq!(end_of((2, 3), "ALTER TABLE t\n  DROP x"), (3, 9));
        assert_eq!(end_of((1, 1), "SELECT 'é'"), (1, 11));
    }

    #[test]
    fn extents_follow_dbmate_up_sections() {
        let text = "-- migrate:up\nALTER TABLE users\n  RENAME COLUMN a TO b;\n-- migrate:down\nALTER TABLE users RENAME COLUMN b TO a;\n";
        let inputs = [Input {
            name: "x.sql".into(),
            text: text.into(),
            lossy: false,
        }];
        let ext = extents(&inputs, &ReviewOptions::default());
        let review = review_inputs(&inputs, &ReviewOptions::default());
        assert!(review.summary.starts_with("1 file(s), 1 statement(s)"));
        let mut e = Extents::default();
        e.insert("x.sql", (2, 1), (3, 23));
        assert_eq!(format!("{ext:?}"), format!("{e:?}"));
    }

    #[test]
    fn directories_give_their_sql_files_sorted() {
        let root = std::env::temp_dir().join(format!("schemashift-files-{}", std::process::id()));
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for f in [
            "b/2.sql",
            "a.SQL",
            "1.sql",
            "notes.txt",
            "3.sql.postgres",
            "4.pgsql",
            "5.psql",
            "6.sql.tmpl",
            "README.md",
            "__init__.py",
            ".git/x.sql",
        ] {
            std::fs::write(root.join(f), "SELECT 1;").unwrap();
        }
        std::fs::write(
            root.join("20240101000000_add_x.rb"),
            "class AddX < ActiveRecord::Migration[7.1]\nend\n",
        )
        .unwrap();
        let got = expand(root.to_str().unwrap()).unwrap();
        let skipped: Vec<(String, String)> = got
            .skipped
            .iter()
            .map(|s| {
                let p = Path::new(&s.path).strip_prefix(&root).unwrap();
                (p.display().to_string(), s.reason.clone())
            })
            .collect();
        assert_eq!(
            skipped,
            [
                (".git".into(), "hidden directory, not searched".into()),
                ("6.sql.tmpl".into(), "not SQL (.tmpl)".into()),
                (
                    "README.md".into(),
                    "Markdown: name it on the command line to review it as a rollout plan".into()
                ),
                (
                    "__init__.py".into(),
                    "code that defines no migration".into()
                ),
                ("notes.txt".into(), "not SQL (.txt)".into()),
            ]
        );
        let names: Vec<String> = got
            .targets
            .iter()
            .map(|t| match t {
                Target::File(p) => p.strip_prefix(&root).unwrap().display().to_string(),
                Target::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "1.sql",
                "20240101000000_add_x.rb",
                "3.sql.postgres",
                "4.pgsql",
                "5.psql",
                "a.SQL",
                "b/2.sql"
            ]
        );
        assert_eq!(expand("-").unwrap().targets, [Target::Stdin]);
        assert!(expand(root.join("nope.sql").to_str().unwrap())
            .unwrap_err()
            .contains("cannot read"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
