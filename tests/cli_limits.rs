//! The command line's bounds on what it reads and prints: size limits that
//! fail fast, messages that never pass input raw to the terminal, the
//! review configuration it names, and a schema file that holds no table.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("schemashift-limits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run schemashift")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn endless_inputs_fail_fast_naming_the_limit() {
    let dir = scratch("endless");
    std::fs::write(dir.join("m.sql"), "SELECT 1;\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["review", "/dev/zero"], "larger than 64 MiB"),
        (
            &["plan", "--schema", "/dev/zero", "rename users.a to b"],
            "larger than 32 MiB",
        ),
        (
            &["render", "plan", "--data", "/dev/zero"],
            "larger than 64 MiB",
        ),
        (
            &["review", "--config", "/dev/zero", "m.sql"],
            "larger than 1 MiB",
        ),
    ];
    for (args, expect) in cases {
        let started = Instant::now();
        let out = run(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{args:?} took long"
        );
    }
    // An endless stdin: the writer is cut off once the limit is passed.
    for args in [&["classify", "-"][..], &["review", "-"]] {
        let mut child = Command::new(EXE)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let line = b"rename users.username to handle;\n".repeat(1024);
            while stdin.write_all(&line).is_ok() {}
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("stdin is larger than"),
            "{}",
            stderr(&out)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn messages_escape_terminal_control_and_cut_long_input() {
    let dir = scratch("echo");
    let out = run(
        &["classify", "rename \u{1b}[31m\u{1b}]0;TITLE\u{7} users"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.contains(&0x1b) && !out.stderr.contains(&0x07));
    assert!(stderr(&out).contains("\\u{1b}[31m"), "{}", stderr(&out));
    let long = "word ".repeat(100_000);
    let mut child = Command::new(EXE)
        .args(["classify", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(long.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.len() < 5_000,
        "{} bytes of error",
        out.stderr.len()
    );
    assert!(
        stderr(&out).contains("… (499999 bytes)"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_config_above_the_repository_is_not_used_and_the_one_used_is_named() {
    let root = scratch("config");
    let deeper = root.join("repo/sub/deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    std::fs::create_dir_all(root.join("repo/.git")).unwrap();
    let exclude_all = "exclude = [\"drop-table\", \"rename-column\"]\n";
    std::fs::write(root.join("schemashift.toml"), exclude_all).unwrap();
    std::fs::write(
        deeper.join("m.sql"),
        "DROP TABLE users;\nALTER TABLE a RENAME COLUMN b TO c;\n",
    )
    .unwrap();
    // Above the repository's root: ignored.
    let out = run(&["review", "m.sql"], &deeper);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("verdict: stop") && !text.contains("config:"),
        "{text}"
    );
    // At the repository's root: used, and named with what it turns off.
    std::fs::write(root.join("repo/schemashift.toml"), exclude_all).unwrap();
    let out = run(&["review", "m.sql"], &deeper);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("schemashift.toml (excludes: drop-table, rename-column)"),
        "{text}"
    );
    let out = run(&["review", "--format", "json", "m.sql"], &deeper);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["config"]["path"]
        .as_str()
        .unwrap()
        .ends_with("repo/schemashift.toml"));
    assert_eq!(
        json["config"]["exclude"],
        serde_json::json!(["drop-table", "rename-column"])
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_schema_file_without_a_table_is_refused() {
    let dir = scratch("schema");
    std::fs::write(dir.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let out = run(
        &[
            "plan",
            "--json",
            "--schema",
            "passwd",
            "rename users.username to handle",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no CREATE TABLE"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_review_lists_at_most_ten_thousand_findings_of_a_severity_and_counts_the_rest() {
    let dir = scratch("findings");
    let sql: String = (0..10_050).map(|i| format!("DROP TABLE t{i};\n")).collect();
    std::fs::write(dir.join("m.sql"), sql).unwrap();
    let out = run(&["review", "--format", "json", "m.sql"], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .count();
    assert_eq!(errors, 10_000);
    assert_eq!(json["verdict"], "stop");
    let summary = json["summary"].as_str().unwrap();
    assert!(summary.contains("10050 error(s)"), "{summary}");
    assert!(summary.contains("not listed"), "{summary}");
    assert!(json["findings_omitted"].as_u64().unwrap() >= 50);
    std::fs::remove_dir_all(dir).unwrap();
}
