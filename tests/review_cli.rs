//! `schemashift review` and `schemashift rules` as CI runs them: the real
//! binary, in a scratch directory, every output format, exit codes, stdin,
//! ignore comments, the configuration file and migration-tool conventions.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

const HAZARD: &str = "ALTER TABLE users RENAME COLUMN username TO handle;\n";
/// Only a warning: the lock is brief, but no lock_timeout caps the wait for it.
const WARNING_ONLY: &str = "ALTER TABLE users ADD COLUMN nickname text;\n";
const SAFE: &str = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;\n";

mod scratch_support;
use scratch_support::Scratch;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn schemashift");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn review(s: &Scratch, args: &[&str]) -> Out {
    let mut all = vec!["review"];
    all.extend_from_slice(args);
    run_in(s.path(), &all, None)
}

fn json_of(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

fn rules_of(out: &Out) -> Vec<String> {
    json_of(out)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn text_names_file_line_rule_and_fix() {
    let s = Scratch::new("review-cli", "text");
    s.write("db/001_rename.sql", &format!("-- rename\n{HAZARD}"));
    let out = review(&s, &["db/001_rename.sql"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "db/001_rename.sql:2:1: error[rename-column] renaming users.username to handle"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\n  fix:\n    "), "{}", out.stdout);
    assert!(out.stdout.contains("ADD COLUMN"), "{}", out.stdout);
    let last = out.stdout.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("1 file(s), 1 statement(s): 1 error(s)")
            && last.ends_with("verdict: stop"),
        "{last}"
    );
}

#[test]
fn json_is_the_review() {
    let s = Scratch::new("review-cli", "json");
    s.write("001.sql", HAZARD);
    let out = review(&s, &["--format", "json", "001.sql"]);
    assert_eq!(out.code, 1);
    let v = json_of(&out);
    assert_eq!(v["verdict"], "stop");
    assert_eq!(v["statements"], 1);
    assert!(v["summary"].as_str().unwrap().contains("1 error(s)"));
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "rename-column");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "001.sql");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(f["table"], "users");
    assert_eq!(f["lock"], "ACCESS EXCLUSIVE");
}

#[test]
fn github_annotations_are_workflow_commands() {
    let s = Scratch::new("review-cli", "github");
    s.write("db/a,b.sql", &format!("SELECT 1;\n  {HAZARD}"));
    let out = review(&s, &["--format", "github", "db/a,b.sql"]);
    assert_eq!(out.code, 1);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("title=rename-column"))
        .unwrap_or_else(|| panic!("no annotation: {}", out.stdout));
    assert!(
        line.starts_with(
            "::error file=db/a%2Cb.sql,line=2,col=3,title=rename-column::renaming users.username to handle"
        ),
        "{line}"
    );
    // The fix rides in the message, its newlines escaped: one command per line.
    assert!(line.contains("%0A%0AFix:%0A"), "{line}");
    assert!(!line.contains('\r'));
    assert!(out
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("schemashift: "));
}

#[test]
fn sarif_is_sarif_2_1_0_with_rules_results_and_fixes() {
    let s = Scratch::new("review-cli", "sarif");
    s.write("migrations/001 rename.sql", &format!("\n\n{HAZARD}"));
    let out = review(&s, &["--format", "sarif", "migrations"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = json_of(&out);
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "schemashift");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let rule = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "rename-column")
        .expect("rename-column in tool.driver.rules");
    assert!(rule["shortDescription"]["text"].is_string());
    assert!(rule["fullDescription"]["text"]
        .as_str()
        .unwrap()
        .contains("Why"));
    assert!(rule["help"]["text"].as_str().unwrap().contains("Instead"));
    assert_eq!(rule["defaultConfiguration"]["level"], "error");
    let res = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "rename-column")
        .expect("a rename-column result");
    assert_eq!(res["level"], "error");
    assert!(res["message"]["text"]
        .as_str()
        .unwrap()
        .contains("users.username"));
    let loc = &res["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "migrations/001%20rename.sql"
    );
    assert_eq!(loc["region"]["startLine"], 3);
    assert_eq!(loc["region"]["startColumn"], 1);
    assert_eq!(loc["region"]["endLine"], 3);
    // One past `... TO handle` (the semicolon is not part of the statement).
    assert_eq!(loc["region"]["endColumn"], HAZARD.trim_end().len());
    let fix = &res["fixes"][0];
    assert!(fix["description"]["text"]
        .as_str()
        .unwrap()
        .contains("ADD COLUMN"));
    assert_eq!(
        fix["artifactChanges"][0]["replacements"][0]["deletedRegion"],
        loc["region"]
    );
}

#[test]
fn exit_codes_say_clean_findings_or_usage_error() {
    let s = Scratch::new("review-cli", "exit");
    s.write("safe.sql", SAFE).write("hazard.sql", HAZARD);
    let clean = review(&s, &["safe.sql"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(
        clean.stdout.contains("verdict: proceed"),
        "{}",
        clean.stdout
    );
    assert_eq!(review(&s, &["hazard.sql"]).code, 1);
    // Both: the worst decides.
    assert_eq!(review(&s, &["safe.sql", "hazard.sql"]).code, 1);

    let missing = review(&s, &["nope.sql"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read nope.sql"),
        "{}",
        missing.stderr
    );
    assert!(missing.stdout.is_empty());

    let bad = review(&s, &["--exclude", "rename-colum", "hazard.sql"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown rule id `rename-colum`")
            && bad.stderr.contains("did you mean `rename-column`"),
        "{}",
        bad.stderr
    );
    assert_eq!(review(&s, &["--format", "xml", "hazard.sql"]).code, 2);
    assert_eq!(review(&s, &["--pg-version", "9", "hazard.sql"]).code, 2);
    assert_eq!(review(&s, &["--pg-version", "20", "hazard.sql"]).code, 2);
    assert_eq!(review(&s, &[]).code, 2);
}

/// PostgreSQL 19 is accepted on the command line and in the configuration
/// file, and its REPACK is known: without CONCURRENTLY it is reported, with
/// it it is silent.
#[test]
fn pg_version_19_is_accepted_with_its_repack() {
    let s = Scratch::new("review-cli", "pg19");
    s.write("repack.sql", "SET lock_timeout = '2s';\nREPACK orders;\n")
        .write("online.sql", "REPACK (CONCURRENTLY) orders;\n");
    let out = run_in(
        s.path(),
        &[
            "review",
            "--format",
            "json",
            "--pg-version",
            "19",
            "repack.sql",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let fix = json_of(&out)["findings"][0]["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("REPACK (CONCURRENTLY) orders;"), "{fix}");
    let out = run_in(
        s.path(),
        &["review", "--pg-version", "19", "online.sql"],
        None,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    s.write("schemashift.toml", "pg_version = 19\n");
    let out = run_in(s.path(), &["review", "online.sql"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn stdin_is_reviewed_as_stdin() {
    let s = Scratch::new("review-cli", "stdin");
    let out = run_in(s.path(), &["review", "--format", "json", "-"], Some(HAZARD));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(json_of(&out)["findings"][0]["file"], "stdin");
    let out = run_in(s.path(), &["review", "-"], Some(SAFE));
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn fail_on_warning_fails_on_warnings() {
    let s = Scratch::new("review-cli", "failon");
    s.write("warn.sql", WARNING_ONLY);
    let default = review(&s, &["--format", "json", "warn.sql"]);
    let v = json_of(&default);
    assert_eq!(v["verdict"], "revise", "{v}");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] != "error"));
    assert_eq!(default.code, 0, "warnings alone pass by default");
    assert_eq!(review(&s, &["--fail-on", "warning", "warn.sql"]).code, 1);
    assert_eq!(review(&s, &["--fail-on", "error", "warn.sql"]).code, 0);
}

#[test]
fn ignore_comments_silence_a_statement_or_a_file() {
    let s = Scratch::new("review-cli", "ignore");
    s.write(
        "one.sql",
        &format!("-- schemashift-ignore rename-column\n{HAZARD}ALTER TABLE orders RENAME COLUMN a TO b;\n"),
    )
    .write("all.sql", &format!("-- schemashift-ignore-file\n{HAZARD}"));
    let out = review(&s, &["--format", "json", "one.sql"]);
    let v = json_of(&out);
    let renames: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "rename-column")
        .collect();
    assert_eq!(renames.len(), 1, "{v}");
    assert_eq!(renames[0]["line"], 3, "only the second rename is reported");
    let out = review(&s, &["--format", "json", "all.sql"]);
    assert_eq!(out.code, 0);
    assert_eq!(json_of(&out)["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn the_config_file_excludes_rules_and_sets_fail_on() {
    let s = Scratch::new("review-cli", "config");
    s.write("schemashift.toml", "exclude = [\"rename-column\"]\n")
        .write("db/migrate/001.sql", HAZARD)
        .write("db/migrate/002.sql", WARNING_ONLY)
        .write("strict.toml", "fail_on = \"warning\"\n")
        .write("typo.toml", "exclude = [\"rename-colum\"]\n")
        .write("unknown.toml", "fail-on = \"warning\"\n");
    // Found in the current directory (the parent of the files).
    let out = review(&s, &["--format", "json", "db/migrate/001.sql"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(!rules_of(&out).contains(&"rename-column".to_string()));
    // Found from a subdirectory too.
    let sub = run_in(
        &s.path().join("db"),
        &["review", "--format", "json", "migrate/001.sql"],
        None,
    );
    assert!(!rules_of(&sub).contains(&"rename-column".to_string()));
    // --config names another file, which replaces the discovered one.
    let strict = review(&s, &["--config", "strict.toml", "db/migrate/001.sql"]);
    assert_eq!(strict.code, 1);
    assert!(strict.stdout.contains("rename-column"));
    let strict = review(&s, &["--config", "strict.toml", "db/migrate/002.sql"]);
    assert_eq!(strict.code, 1, "fail_on = warning: {}", strict.stdout);
    // The command line overrides the file.
    let lenient = review(
        &s,
        &[
            "--config",
            "strict.toml",
            "--fail-on",
            "error",
            "db/migrate/002.sql",
        ],
    );
    assert_eq!(lenient.code, 0);
    // Mistakes in the file are usage errors that name the file and the mistake.
    let typo = review(&s, &["--config", "typo.toml", "db/migrate/001.sql"]);
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("typo.toml") && typo.stderr.contains("rename-colum"),
        "{}",
        typo.stderr
    );
    let unknown = review(&s, &["--config", "unknown.toml", "db/migrate/001.sql"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("fail-on"), "{}", unknown.stderr);
    let missing = review(&s, &["--config", "nope.toml", "db/migrate/001.sql"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.toml"), "{}", missing.stderr);
}

#[test]
fn down_migrations_are_skipped() {
    let s = Scratch::new("review-cli", "down");
    s.write("migrations/000001_rename.down.sql", HAZARD)
        .write("migrations/000001_rename.up.sql", SAFE)
        .write("flyway/U2__undo_rename.sql", HAZARD);
    let out = review(&s, &["--format", "json", "migrations", "flyway"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v = json_of(&out);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");
    assert!(
        v["summary"].as_str().unwrap().starts_with("3 file(s)"),
        "{v}"
    );
}

#[test]
fn dbmate_down_sections_are_not_reviewed() {
    let s = Scratch::new("review-cli", "dbmate");
    s.write(
        "db/migrations/20260101000000_rename.sql",
        &format!(
            "-- migrate:up\n{SAFE}\n-- migrate:down\n{HAZARD}"
        ),
    )
    .write(
        "db/migrations/20260102000000_rename.sql",
        &format!("-- migrate:up\n\n{HAZARD}\n-- migrate:down\nALTER TABLE users RENAME COLUMN handle TO username;\n"),
    );
    let out = review(&s, &["--format", "json", "db/migrations"]);
    let v = json_of(&out);
    let renames: Vec<(&str, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "rename-column")
        .map(|f| (f["file"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    // Only the up section of the second file, at its real line in the file.
    assert_eq!(
        renames,
        [("db/migrations/20260102000000_rename.sql", 3)],
        "{v}"
    );
}

#[test]
fn directories_are_reviewed_sorted_and_only_their_sql_files() {
    let s = Scratch::new("review-cli", "dirs");
    s.write("m/002_b.sql", HAZARD)
        .write("m/001_a.sql", HAZARD)
        .write("m/nested/003_c.sql", HAZARD)
        .write("m/README.md", HAZARD);
    let out = review(&s, &["--format", "json", "m"]);
    let v = json_of(&out);
    let files: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "rename-column")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["m/001_a.sql", "m/002_b.sql", "m/nested/003_c.sql"]);
    // An empty directory reviews nothing and says so.
    std::fs::create_dir_all(s.path().join("empty")).unwrap();
    let out = review(&s, &["empty"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("no SQL or migration files in empty"),
        "{}",
        out.stderr
    );
}

#[test]
fn mysql_and_version_flags_reach_the_rules() {
    let s = Scratch::new("review-cli", "flags");
    s.write("idx.sql", "CREATE INDEX idx ON orders (x);\n");
    let pg = review(&s, &["--format", "json", "idx.sql"]);
    assert!(rules_of(&pg).contains(&"create-index-non-concurrent".to_string()));
    // The PostgreSQL rule does not apply to MySQL, where InnoDB builds indexes online.
    let my = review(&s, &["--format", "json", "--engine", "mysql", "idx.sql"]);
    assert!(!rules_of(&my).contains(&"create-index-non-concurrent".to_string()));
    assert_eq!(review(&s, &["--engine", "oracle", "idx.sql"]).code, 2);
}

#[test]
fn rules_lists_and_documents_every_rule() {
    let s = Scratch::new("review-cli", "rules");
    let list = run_in(s.path(), &["rules"], None);
    assert_eq!(list.code, 0);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("rename-column "))
        .expect("rename-column listed");
    assert!(line.contains(" error "), "{line}");
    let doc = run_in(s.path(), &["rules", "rename-column"], None);
    assert_eq!(doc.code, 0);
    assert!(doc.stdout.starts_with("# rename-column"), "{}", doc.stdout);
    assert!(doc.stdout.contains("**Why it hurts:**") && doc.stdout.contains("**Instead:**"));
    let unknown = run_in(s.path(), &["rules", "rename-colum"], None);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("did you mean `rename-column`"));
    let md = run_in(s.path(), &["rules", "--markdown"], None);
    assert_eq!(md.code, 0);
    assert!(md.stdout.starts_with("# Review rules"));
    assert!(md.stdout.contains("\n## rename-column\n"));
}
