//! The reviewer against a corpus of realistic migrations, in the forms real
//! tools produce (raw SQL, dbmate, golang-migrate, Flyway, Rails, Django
//! `sqlmigrate`, Alembic offline SQL, MySQL). Every file says on its first
//! lines what must be found:
//!
//! - `-- expect: rule-a, rule-b` lists exactly the rules that must report a
//!   warning or an error (`-- expect: none` for a safe file; notes of
//!   severity info are allowed anywhere);
//! - `-- known-miss: rule-a` marks an expected finding the reviewer cannot
//!   claim because the file does not show what decides it (e.g. a column's
//!   old type); it still counts as missed in the recall figure, and the rule
//!   must at least leave a note (severity info) on the file;
//! - `-- pg: 11` sets the PostgreSQL version (default 15);
//! - `-- engine: mysql` reviews it as MySQL;
//! - `-- txn: wrapped` says the migration tool runs the file in one
//!   transaction (Rails, Flyway, Django, Alembic online).
//!
//! Hazardous files live in `review_corpus/hazard`, safe ones in
//! `review_corpus/safe`. The test prints recall (expected findings found)
//! and the false-positive rate (safe files given a warning or an error).

use schemashift::context::Engine;
use schemashift::review::{review_sql, ReviewOptions, Severity};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Case {
    path: PathBuf,
    name: String,
    text: String,
    expect: BTreeSet<String>,
    known_miss: BTreeSet<String>,
    opts: ReviewOptions,
}

/// The directives in the leading comment lines of a corpus file.
fn case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).expect("corpus file is readable");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("corpus file name")
        .to_string();
    let mut expect = None;
    let mut known_miss = BTreeSet::new();
    let mut opts = ReviewOptions::default();
    for line in text
        .lines()
        .take_while(|l| l.trim_start().starts_with("--"))
    {
        let line = line.trim().trim_start_matches('-').trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "expect" => {
                expect = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|id| !id.is_empty() && *id != "none")
                        .map(str::to_string)
                        .collect::<BTreeSet<_>>(),
                )
            }
            "known-miss" => known_miss.extend(
                value
                    .split(['(', ' '])
                    .next()
                    .into_iter()
                    .flat_map(|ids| ids.split(','))
                    .map(|id| id.trim().to_string()),
            ),
            "pg" => opts.pg_version = value.parse().expect("`-- pg:` takes a major version"),
            "engine" => {
                opts.engine = match value {
                    "mysql" => Engine::Mysql,
                    "postgres" => Engine::Postgres,
                    other => panic!("{name}: unknown engine {other}"),
                }
            }
            "txn" => opts.assume_in_transaction = value == "wrapped",
            _ => {}
        }
    }
    let expect = expect.unwrap_or_else(|| panic!("{name} has no `-- expect:` line"));
    Case {
        path: path.to_path_buf(),
        name,
        text,
        expect,
        known_miss,
        opts,
    }
}

/// The rules that left only a note (severity info) on a file.
fn noted(c: &Case) -> BTreeSet<String> {
    review_sql(&c.text, Some(&c.name), &c.opts)
        .into_iter()
        .filter(|f| f.severity == Severity::Info)
        .map(|f| f.rule)
        .collect()
}

fn cases(dir: &str) -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/review_corpus")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    paths.iter().map(|p| case(p)).collect()
}

/// The rules that reported a warning or an error on a file.
fn found(c: &Case) -> BTreeSet<String> {
    review_sql(&c.text, Some(&c.name), &c.opts)
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| f.rule)
        .collect()
}

fn list(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "none".to_string()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Every file of `review_corpus/unchecked` holds input the reviewer cannot
/// check (a Rails or Knex migration, `UPDATE ... LIMIT`, a `DO` block in
/// another language, dynamic SQL): each gets a note saying so, and the
/// review's verdict is `unchecked`, never `proceed`.
#[test]
fn unreadable_input_is_never_passed() {
    use schemashift::review::files::{self, Target};
    use schemashift::review::Verdict;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/review_corpus/unchecked");
    let found = files::expand(root.to_str().unwrap()).unwrap();
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    assert!(found.targets.len() >= 5, "{} files", found.targets.len());
    let opts = ReviewOptions::default();
    for t in &found.targets {
        let input = files::read(t, schemashift::limits::REVIEW_BYTES).unwrap();
        let review = files::review_inputs(std::slice::from_ref(&input), &opts);
        assert_eq!(
            review.verdict,
            Verdict::Unchecked,
            "{}: {:?}",
            input.name,
            review.findings
        );
        assert!(
            review.findings.iter().any(|f| f.is_unchecked()),
            "{}",
            input.name
        );
        assert!(matches!(t, Target::File(_)));
    }
}

#[test]
fn corpus_findings_match_the_expectations() {
    let hazards = cases("hazard");
    let safe = cases("safe");
    assert!(hazards.len() >= 40, "{} hazardous files", hazards.len());
    assert!(safe.len() >= 40, "{} safe files", safe.len());
    for c in &hazards {
        assert!(
            !c.expect.is_empty(),
            "{} is hazardous but expects nothing",
            c.name
        );
    }
    for c in &safe {
        assert!(
            c.expect.is_empty(),
            "{} is safe but expects findings",
            c.name
        );
    }

    let mut mismatches = Vec::new();
    let (mut expected, mut hit, mut extra) = (0usize, 0usize, 0usize);
    let mut files_caught = 0usize;
    for c in &hazards {
        let got = found(c);
        expected += c.expect.len();
        hit += c.expect.intersection(&got).count();
        extra += got.difference(&c.expect).count();
        if !got.is_disjoint(&c.expect) {
            files_caught += 1;
        }
        let missing: BTreeSet<String> = c.expect.difference(&got).cloned().collect();
        let known = !missing.is_empty()
            && missing.is_subset(&c.known_miss)
            && got.is_subset(&c.expect)
            && missing.is_subset(&noted(c));
        if got != c.expect && !known {
            mismatches.push(format!(
                "{}: expected {}, found {}",
                c.path.display(),
                list(&c.expect),
                list(&got)
            ));
        }
    }
    let mut flagged = 0usize;
    for c in &safe {
        let got = found(c);
        if !got.is_empty() {
            flagged += 1;
            mismatches.push(format!(
                "{}: expected none, found {}",
                c.path.display(),
                list(&got)
            ));
        }
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "review corpus: {} hazardous files ({} expected findings), {} safe files",
        hazards.len(),
        expected,
        safe.len()
    );
    println!(
        "recall: {hit}/{expected} expected findings ({:.1}%); {files_caught}/{} hazardous files caught ({:.1}%); {extra} unexpected findings on hazardous files",
        pct(hit, expected),
        hazards.len(),
        pct(files_caught, hazards.len())
    );
    println!(
        "false positives: {flagged}/{} safe files given a warning or an error ({:.1}%)",
        safe.len(),
        pct(flagged, safe.len())
    );
    assert!(
        mismatches.is_empty(),
        "{} file(s) differ from their expectation:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
