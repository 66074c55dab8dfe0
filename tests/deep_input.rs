//! Deeply nested SQL through the real binary: every command that parses it
//! answers with a clear error or a review, and never aborts on a stack
//! overflow (which would take a CI job or an MCP server down with it).

use std::io::Write;
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

/// A CHECK of `a+a+...+a`: 24 KB, a chain 12,000 operators long.
fn check_chain() -> String {
    format!(
        "ALTER TABLE t ADD CONSTRAINT c CHECK ({}a > 0);\n",
        "a+".repeat(12_000)
    )
}

/// 400 KB of `SELECT 1+1+...`.
fn select_chain() -> String {
    format!("SELECT {}1;\n", "1+".repeat(200_000))
}

/// A CHECK inside 100,000 parentheses.
fn parentheses() -> String {
    format!(
        "ALTER TABLE t ADD CONSTRAINT c CHECK ({}a > 0{});\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    )
}

fn run(args: &[&str], stdin: &str, dir: &std::path::Path) -> Output {
    let mut child = Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn schemashift");
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    // Written on its own thread: the child may answer before reading it all.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().unwrap();
    out
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("schemashift-deep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Did not abort or panic: exit 0, 1 or 2.
fn assert_answered(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{what}: {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("overflow"), "{what}: {stderr}");
}

#[test]
fn classify_and_plan_refuse_deep_ddl_with_the_limit() {
    let dir = scratch("classify");
    for (name, sql) in [("check", check_chain()), ("parentheses", parentheses())] {
        for cmd in ["classify", "plan"] {
            let out = run(&[cmd, "-"], &sql, &dir);
            assert_answered(&out, &format!("{cmd} {name}"));
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("nests deeper than 256 levels")
                    || stderr.contains("recursion limit"),
                "{cmd} {name}: {stderr}"
            );
        }
    }
    // The 400 KB SELECT is no change at all: refused as such, not crashed on.
    for cmd in ["classify", "plan"] {
        let out = run(&[cmd, "-"], &select_chain(), &dir);
        assert_answered(&out, &format!("{cmd} select"));
        assert_eq!(out.status.code(), Some(2));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn review_notes_deep_statements_it_cannot_check_and_goes_on() {
    let dir = scratch("review");
    let after = "ALTER TABLE users RENAME COLUMN username TO handle;\n";
    for (name, sql) in [
        ("check", check_chain()),
        ("select", select_chain()),
        ("parentheses", parentheses()),
    ] {
        let file = dir.join(format!("{name}.sql"));
        std::fs::write(&file, format!("{sql}{after}")).unwrap();
        let out = run(
            &["review", "--format", "json", file.to_str().unwrap()],
            "",
            &dir,
        );
        assert_answered(&out, &format!("review {name}"));
        let review: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rules: Vec<&str> = review["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        // The statement after the deep one is still reviewed.
        assert!(rules.contains(&"rename-column"), "{name}: {rules:?}");
        if name != "select" {
            assert!(rules.contains(&"unparsed-statement"), "{name}: {rules:?}");
        }
    }
    // Through stdin as well.
    let out = run(&["review", "-"], &check_chain(), &dir);
    assert_answered(&out, "review -");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_deep_schema_file_is_refused_by_plan() {
    let dir = scratch("schema");
    let schema = dir.join("schema.sql");
    std::fs::write(
        &schema,
        format!(
            "CREATE TABLE users (id bigint PRIMARY KEY, username text CHECK ({}a <> ''));\n",
            "a||".repeat(12_000)
        ),
    )
    .unwrap();
    let out = run(
        &[
            "plan",
            "--schema",
            schema.to_str().unwrap(),
            "rename users.username to handle",
        ],
        "",
        &dir,
    );
    assert_answered(&out, "plan --schema");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nests deeper"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
