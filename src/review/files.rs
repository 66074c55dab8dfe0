//! Reviewing files: the `*.sql` files that paths name (directories are
//! walked, sorted), read, and reviewed together as one run.

use super::format::Extents;
use super::{review_listed, sources, Review, ReviewOptions, Tally};
use crate::change::ddl::split_statements;
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

/// What one command-line argument names: `-` is stdin, a directory is every
/// `*.sql` file under it (sorted by path), anything else is a file.
pub fn expand(arg: &str) -> Result<Vec<Target>, String> {
    if arg == "-" {
        return Ok(vec![Target::Stdin]);
    }
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {arg}: {e}"))?;
    if !meta.is_dir() {
        return Ok(vec![Target::File(path.to_path_buf())]);
    }
    let mut found = Vec::new();
    walk(path, &mut found)?;
    found.sort();
    Ok(found.into_iter().map(Target::File).collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
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
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("sql"))
            && (kind.is_file() || path.is_file())
        {
            out.push(path);
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

/// Reviews every input and gathers the findings in one review.
pub fn review_inputs(inputs: &[Input], opts: &ReviewOptions) -> Review {
    let mut findings = Vec::new();
    let mut statements = 0;
    let tally = Tally::default();
    for i in inputs {
        let (f, n) = review_listed(&i.text, Some(&i.name), opts, &tally);
        findings.extend(f);
        statements += n;
    }
    let mut review = Review::with_omitted(findings, statements, tally.omitted());
    review.summary = format!("{} file(s), {}", inputs.len(), review.summary);
    review
}

/// Where each reviewed statement of the inputs ends (for SARIF regions).
pub fn extents(inputs: &[Input], opts: &ReviewOptions) -> Extents {
    let mut ext = Extents::default();
    for i in inputs {
        let up = sources::up_section(&i.text, Some(&i.name));
        if up.skip_file {
            continue;
        }
        for s in split_statements(up.text, opts.engine) {
            let start = (s.line + up.line_offset, s.column);
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
        for f in ["b/2.sql", "a.SQL", "1.sql", "notes.txt"] {
            std::fs::write(root.join(f), "SELECT 1;").unwrap();
        }
        let got = expand(root.to_str().unwrap()).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|t| match t {
                Target::File(p) => p.strip_prefix(&root).unwrap().display().to_string(),
                Target::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(names, ["1.sql", "a.SQL", "b/2.sql"]);
        assert_eq!(expand("-").unwrap(), [Target::Stdin]);
        assert!(expand(root.join("nope.sql").to_str().unwrap())
            .unwrap_err()
            .contains("cannot read"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
