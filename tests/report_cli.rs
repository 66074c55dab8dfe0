//! `--out`: the report files `schemashift plan`, `classify` and `review` write,
//! and `schemashift render`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run schemashift")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh, empty working directory.
fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "schemashift-report-cli-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const RENAME: &str = "rename users.username to handle";

#[test]
fn plan_out_writes_both_files_and_prints_the_summary() {
    let d = workdir("plan");
    let o = run(&d, &["plan", RENAME, "--out"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let md = d.join("docs/database-report/rename-users-username-to-handle-plan.md");
    let json = d.join("docs/database-report/rename-users-username-to-handle-plan.json");
    let md_text = std::fs::read_to_string(&md).expect("markdown written");
    assert!(md_text.starts_with("# Plan: rename users.username to handle"));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).unwrap();
    assert_eq!(plan["change_type"], "rename_column");
    // The summary, pointing to the report, then the paths written.
    assert!(out.starts_with('┌'), "{out}");
    assert!(
        out.contains("Full report: docs/database-report/rename-users-username-to-handle-plan.md"),
        "{out}"
    );
    assert!(
        out.contains("wrote docs/database-report/rename-users-username-to-handle-plan.json"),
        "{out}"
    );
    // The same report again: identical content is fine and left alone.
    let o = run(&d, &["plan", RENAME, "--out"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("unchanged docs/database-report/rename-users-username-to-handle-plan.md"),
        "{out}"
    );
    // A different plan for the same change would replace it: refused...
    let o = run(&d, &["plan", RENAME, "--batch-size", "1000", "--out"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("rename-users-username-to-handle-plan.md already exists with different content; use --force"),
        "{err}"
    );
    assert!(!std::fs::read_to_string(&md).unwrap().contains("1000 rows"));
    // ...unless forced.
    let o = run(
        &d,
        &["plan", RENAME, "--batch-size", "1000", "--out", "--force"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("overwrote docs/database-report/"), "{out}");
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("1,000 rows per batch"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn out_takes_a_folder_and_the_mode_names_the_kind() {
    let d = workdir("modes");
    let o = run(
        &d,
        &["plan", "--mode", "backfill", "--out", "reports/db", RENAME],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let md = d.join("reports/db/rename-users-username-to-handle-backfill.md");
    assert!(std::fs::read_to_string(md)
        .unwrap()
        .starts_with("# Backfill: "));
    assert!(d
        .join("reports/db/rename-users-username-to-handle-backfill.json")
        .exists());
    // --json with --out: the JSON on stdout, the paths on stderr.
    let o = run(&d, &["classify", "--json", "--out=reports/db", RENAME]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is only JSON");
    assert_eq!(v["change_type"], "rename_column");
    assert!(
        err.contains("wrote reports/db/rename-users-username-to-handle-classification.md"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn review_out_writes_the_review() {
    let d = workdir("review");
    std::fs::write(
        d.join("20260101_rename.sql"),
        "ALTER TABLE users RENAME COLUMN username TO handle;\n",
    )
    .unwrap();
    let o = run(&d, &["review", "20260101_rename.sql", "--out"]);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an error finding fails: {out}{err}"
    );
    let md = std::fs::read_to_string(d.join("docs/database-report/20260101-rename-review.md"))
        .expect("review markdown");
    assert!(md.starts_with("# Review: 20260101_rename.sql"), "{md}");
    assert!(md.contains("rename-column"), "{md}");
    assert!(d
        .join("docs/database-report/20260101-rename-review.json")
        .exists());
    assert!(out.contains("schemashift review · STOP"), "{out}");
    assert!(out.contains("wrote docs/database-report/20260101-rename-review.md"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn plan_summary_and_render_use_the_templates() {
    let d = workdir("render");
    let o = run(&d, &["plan", "--summary", RENAME]);
    let (summary, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(summary.lines().count() <= 40, "{summary}");
    assert!(summary.contains("run with --out DIR"), "{summary}");
    let o = run(&d, &["plan", "--json", RENAME]);
    std::fs::write(d.join("plan.json"), &o.stdout).unwrap();
    let o = run(&d, &["render", "plan-summary", "--data", "plan.json"]);
    assert_eq!(text(&o).0, summary, "one template, one rendering");
    let o = run(&d, &["plan", RENAME]);
    let full = text(&o).0;
    let o = run(
        &d,
        &[
            "render",
            "plan-summary",
            "--format",
            "markdown",
            "--data",
            "plan.json",
        ],
    );
    assert_eq!(text(&o).0, full);
    // The list, an unknown template, data that does not fit.
    let o = run(&d, &["render"]);
    assert!(text(&o).0.contains("classification-summary"));
    let o = run(&d, &["render", "nope", "--data", "plan.json"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("no template named `nope`: the templates are plan, plan-summary"),
        "{err}"
    );
    let o = run(&d, &["render", "review", "--data", "plan.json"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("the data does not fit template `review`: missing field `verdict`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
