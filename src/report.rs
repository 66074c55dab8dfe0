//! Report files: a result written as `<slug>-<kind>.md` (rendered with its
//! template) and `<slug>-<kind>.json` (the result itself), side by side in a
//! folder, `docs/database-report/` by default. Writing is safe: a file that
//! exists with other content is only replaced when forced, and writing the
//! same content again changes nothing, so reruns are idempotent.

use crate::classify::Classification;
use crate::plan::{Plan, PlanMode};
use crate::rehearse::Rehearsal;
use crate::render::{self, RenderError};
use crate::review::Review;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where reports go when no folder is named.
pub const DEFAULT_DIR: &str = "docs/database-report";

/// Longest slug, in characters (cut at a word boundary).
const MAX_SLUG: usize = 80;

/// What a report holds; the suffix of its file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plan,
    Backfill,
    Cutover,
    Deprecate,
    Review,
    Classification,
    Rehearsal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plan => "plan",
            Kind::Backfill => "backfill",
            Kind::Cutover => "cutover",
            Kind::Deprecate => "deprecate",
            Kind::Review => "review",
            Kind::Classification => "classification",
            Kind::Rehearsal => "rehearsal",
        }
    }

    /// The plan kind for a mode: each mode has its own report.
    pub fn of_mode(mode: PlanMode) -> Kind {
        match mode {
            PlanMode::Plan => Kind::Plan,
            PlanMode::Backfill => Kind::Backfill,
            PlanMode::Cutover => Kind::Cutover,
            PlanMode::Deprecate => Kind::Deprecate,
        }
    }

    /// The template of the Markdown file (the kinds are named after them).
    pub fn template(self) -> &'static str {
        self.as_str()
    }
}

/// Kebab-case: lowercase ASCII letters and digits, every other run of
/// characters one `-`, at most 80 characters cut at a `-`; `change` when
/// nothing is left. `rename users.username to handle` ->
/// `rename-users-username-to-handle`.
pub fn slug(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    while s.ends_with('-') {
        s.pop();
    }
    if s.len() > MAX_SLUG {
        let cut = s[..=MAX_SLUG].rfind('-').unwrap_or(MAX_SLUG);
        s.truncate(cut);
        while s.ends_with('-') {
            s.pop();
        }
    }
    if s.is_empty() {
        s.push_str("change");
    }
    s
}

/// The slug of a plan: its change in words.
pub fn plan_slug(plan: &Plan) -> String {
    slug(&plan.change.describe())
}

/// The slug of a classification: its change in words, or `fallback` (the
/// request as given) when it has no parsed change (out of scope).
pub fn classification_slug(c: &Classification, fallback: &str) -> String {
    match &c.change {
        Some(change) => slug(&change.describe()),
        None => slug(fallback),
    }
}

/// The slug of a review of these inputs (file or folder paths, `-` for
/// stdin): the one input's name without `.sql`, or the first one's followed
/// by `and-N-more`.
pub fn review_slug(inputs: &[String]) -> String {
    let name = |p: &str| -> String {
        if p == "-" {
            return "stdin".into();
        }
        let path = Path::new(p.trim_end_matches(['/', '\\']));
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or(p)
            .to_string();
        let file = file.strip_suffix(".sql").unwrap_or(&file).to_string();
        file.strip_suffix(".up").map(str::to_string).unwrap_or(file)
    };
    match inputs {
        [] => "review".into(),
        [one] => slug(&name(one)),
        [first, rest @ ..] => slug(&format!("{} and {} more", name(first), rest.len())),
    }
}

/// The two paths of a report.
pub fn paths(dir: &Path, slug: &str, kind: Kind) -> (PathBuf, PathBuf) {
    let stem = format!("{slug}-{}", kind.as_str());
    (
        dir.join(format!("{stem}.md")),
        dir.join(format!("{stem}.json")),
    )
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// It existed with the same content; left as it was.
    Unchanged,
    /// It existed with other content and `force` was given.
    Overwritten,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "wrote",
            Outcome::Unchanged => "unchanged",
            Outcome::Overwritten => "overwrote",
        }
    }
}

/// One file of a written report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// Why a report was not written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{} already exists with different content; use --force to overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot encode the result as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A report ready to write: its files' contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub slug: String,
    pub kind: Kind,
    pub markdown: String,
    pub json: String,
}

impl Report {
    /// Renders `data` with the kind's template, and its JSON.
    pub fn new<T: Serialize + 'static>(
        slug: String,
        kind: Kind,
        data: &T,
    ) -> Result<Report, ReportError> {
        let markdown = render::render(kind.template(), data, None)?;
        let mut json = serde_json::to_string_pretty(data)?;
        json.push('\n');
        Ok(Report {
            slug,
            kind,
            markdown,
            json,
        })
    }

    pub fn of_plan(plan: &Plan) -> Result<Report, ReportError> {
        Report::new(plan_slug(plan), Kind::of_mode(plan.mode), plan)
    }

    pub fn of_review(review: &Review, inputs: &[String]) -> Result<Report, ReportError> {
        Report::new(review_slug(inputs), Kind::Review, review)
    }

    pub fn of_classification(c: &Classification, request: &str) -> Result<Report, ReportError> {
        Report::new(classification_slug(c, request), Kind::Classification, c)
    }

    pub fn of_rehearsal(r: &Rehearsal) -> Result<Report, ReportError> {
        Report::new(slug(&r.subject), Kind::Rehearsal, r)
    }

    /// Where the Markdown and the JSON go in `dir`.
    pub fn paths(&self, dir: &Path) -> (PathBuf, PathBuf) {
        paths(dir, &self.slug, self.kind)
    }

    /// Writes both files into `dir` (created when missing). Nothing is
    /// written unless both files can be: an existing file with other content
    /// stops the write unless `force`.
    pub fn write(&self, dir: &Path, force: bool) -> Result<Vec<Written>, ReportError> {
        let (md, json) = self.paths(dir);
        write_all(
            &[(md, self.markdown.as_str()), (json, self.json.as_str())],
            force,
        )
    }
}

/// Writes files safely: first checks every one (an existing file whose
/// content differs is an error unless `force`), then writes those that are
/// new or different, each through a temporary file and a rename.
pub fn write_all(files: &[(PathBuf, &str)], force: bool) -> Result<Vec<Written>, ReportError> {
    let mut plan = Vec::with_capacity(files.len());
    for (path, content) in files {
        let outcome = match std::fs::read(path) {
            Ok(existing) if existing == content.as_bytes() => Outcome::Unchanged,
            Ok(_) if force => Outcome::Overwritten,
            Ok(_) => return Err(ReportError::Exists(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Created,
            Err(e) => {
                return Err(ReportError::Io {
                    path: path.clone(),
                    source: e,
                })
            }
        };
        plan.push(Written {
            path: path.clone(),
            outcome,
        });
    }
    for (w, (path, content)) in plan.iter().zip(files) {
        if w.outcome == Outcome::Unchanged {
            continue;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ReportError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        let (tmp, mut file) = create_temp(path).map_err(|e| ReportError::Io {
            path: path.clone(),
            source: e,
        })?;
        if let Err(e) = std::io::Write::write_all(&mut file, content.as_bytes()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(ReportError::Io {
                path: tmp.clone(),
                source: e,
            });
        }
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ReportError::Io {
                path: path.clone(),
                source: e,
            }
        })?;
    }
    Ok(plan)
}

/// Most characters of user input an error message repeats.
pub const ECHO_CHARS: usize = 200;

/// User input as messages repeat it: control characters escaped the way
/// Rust writes them (`\u{1b}`), so input cannot restyle or retitle the
/// terminal, and cut after [`ECHO_CHARS`] characters with the whole size
/// named, so a megabyte of input is not printed back.
pub fn echo(text: &str) -> String {
    cut(text, ECHO_CHARS)
}

/// `text` with control and invisible formatting characters escaped, cut
/// after `max` characters.
fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max) {
        match c {
            '\t' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    if chars.next().is_some() {
        out.push_str(&format!("… ({} bytes)", text.len()));
    }
    out
}

/// Longest line of a message printed to the terminal.
const MESSAGE_LINE_CHARS: usize = 1000;

/// A whole message made safe to print: each line as [`echo`] shows input,
/// with a longer limit, so that whatever input a message quotes, it can
/// neither drive the terminal nor flood it.
pub fn safe_message(message: &str) -> String {
    message
        .split('\n')
        .map(|line| cut(line, MESSAGE_LINE_CHARS))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters that reorder or hide text around them (bidirectional
/// overrides, zero-width marks): shown escaped like control characters.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A new temporary file beside `path`, under a name nobody can guess, and
/// created only if nothing is there: a symlink planted at the name is never
/// followed (O_EXCL), so the write cannot land outside the report folder.
fn create_temp(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let name = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("report");
    let mut last = None;
    for attempt in 0..16u32 {
        // RandomState is seeded from the OS's random source.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(attempt);
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", h.finish()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_kebab_case() {
        assert_eq!(
            slug("rename users.username to handle"),
            "rename-users-username-to-handle"
        );
        assert_eq!(
            slug("  Add 'refunded' to ENUM order_status!  "),
            "add-refunded-to-enum-order-status"
        );
        assert_eq!(slug("ünïcode…"), "n-code");
        assert_eq!(slug("???"), "change");
        let long = slug(&"word ".repeat(40));
        assert!(long.len() <= MAX_SLUG && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn review_slugs_name_the_input() {
        let s = |v: &[&str]| review_slug(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["db/migrate/20260101_add_status.sql"]),
            "20260101-add-status"
        );
        assert_eq!(s(&["migrations/"]), "migrations");
        assert_eq!(s(&["-"]), "stdin");
        assert_eq!(s(&["a.up.sql", "b.sql", "c.sql"]), "a-and-2-more");
    }

    #[test]
    fn writes_refuses_accepts_identical_and_forces() {
        let dir = std::env::temp_dir().join(format!("schemashift-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = Report {
            slug: "x".into(),
            kind: Kind::Plan,
            markdown: "# a\n".into(),
            json: "{}\n".into(),
        };
        let sub = dir.join("nested/dir");
        let w = r.write(&sub, false).unwrap();
        assert!(w.iter().all(|w| w.outcome == Outcome::Created));
        assert_eq!(
            std::fs::read_to_string(sub.join("x-plan.md")).unwrap(),
            "# a\n"
        );
        let w = r.write(&sub, false).unwrap();
        assert!(w.iter().all(|w| w.outcome == Outcome::Unchanged));
        let changed = Report {
            json: "{\"b\":1}\n".into(),
            ..r.clone()
        };
        let err = changed.write(&sub, false).unwrap_err().to_string();
        assert!(
            err.contains("x-plan.json") && err.contains("--force"),
            "{err}"
        );
        // Nothing was written: the Markdown (identical) and the JSON (refused).
        assert_eq!(
            std::fs::read_to_string(sub.join("x-plan.json")).unwrap(),
            "{}\n"
        );
        let w = changed.write(&sub, true).unwrap();
        assert_eq!(w[0].outcome, Outcome::Unchanged);
        assert_eq!(w[1].outcome, Outcome::Overwritten);
        assert_eq!(
            std::fs::read_to_string(sub.join("x-plan.json")).unwrap(),
            "{\"b\":1}\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    #[cfg(unix)]
    #[test]
    fn temporary_files_never_follow_a_planted_symlink() {
        let dir =
            std::env::temp_dir().join(format!("schemashift-report-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).unwrap();
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "VICTIM\n").unwrap();
        // The names the writer once used: `.<file>.tmp<pid>`.
        for name in ["x-plan.md", "x-plan.json"] {
            std::os::unix::fs::symlink(
                &victim,
                dir.join("out")
                    .join(format!(".{name}.tmp{}", std::process::id())),
            )
            .unwrap();
        }
        let r = Report {
            slug: "x".into(),
            kind: Kind::Plan,
            markdown: "# a\n".into(),
            json: "{}\n".into(),
        };
        r.write(&dir.join("out"), false).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "VICTIM\n");
        let md = dir.join("out/x-plan.md");
        assert!(!std::fs::symlink_metadata(&md).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&md).unwrap(), "# a\n");
        // No temporary file is left behind, and each gets a fresh name.
        let left = std::fs::read_dir(dir.join("out"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".tmp")
            })
            .count();
        assert_eq!(left, 0);
        let (a, _) = create_temp(&md).unwrap();
        let (b, _) = create_temp(&md).unwrap();
        assert_ne!(a, b);
        let _ = std::fs::remove_dir_all(&dir);
    }
    #[test]
    fn echoes_escape_control_characters_and_stop_after_a_while() {
        assert_eq!(echo("rename users"), "rename users");
        assert_eq!(
            echo("rename \u{1b}[31m\u{1b}]0;TITLE\u{7} users\r\n"),
            "rename \\u{1b}[31m\\u{1b}]0;TITLE\\u{7} users\\u{d}\\u{a}"
        );
        assert_eq!(echo("a\u{202e}b"), "a\\u{202e}b");
        let long = "word ".repeat(100_000);
        let e = echo(&long);
        assert!(e.ends_with("… (500000 bytes)"), "{e}");
        assert_eq!(
            e.chars().count(),
            ECHO_CHARS + "… (500000 bytes)".chars().count()
        );
        // Exactly the limit: nothing cut.
        assert_eq!(echo(&"x".repeat(ECHO_CHARS)), "x".repeat(ECHO_CHARS));
    }
    #[test]
    fn messages_keep_their_lines_and_lose_escapes_and_floods() {
        let msg = format!("bad `\u{1b}]0;T\u{7}`\n\nexample: x\n{}", "y".repeat(5000));
        let safe = safe_message(&msg);
        let lines: Vec<&str> = safe.lines().collect();
        assert_eq!(lines[0], "bad `\\u{1b}]0;T\\u{7}`");
        assert_eq!(lines[2], "example: x");
        assert!(lines[3].ends_with("… (5000 bytes)"), "{}", lines[3]);
        assert!(!safe.chars().any(|c| c.is_control() && c != '\n'));
    }
}
