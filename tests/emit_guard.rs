//! What `plan --emit` and the MCP tool `emit_migrations` refuse: paths that
//! leave the project, folders that are symlinks, and a change already
//! emitted into the project.

use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");
const CHANGE: &str = "rename users.username to handle";

/// A dbmate project in a scratch folder, removed afterwards.
struct Project(PathBuf);

impl Project {
    fn new(name: &str) -> Project {
        let dir = std::env::temp_dir().join(format!(
            "schemashift-emit-guard-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("p/db/migrations")).unwrap();
        std::fs::write(
            dir.join("p/.env"),
            "DATABASE_URL=postgres://app@localhost/app\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("p/db/migrations/20250101000000_init.sql"),
            "-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY, username text);\n-- migrate:down\n",
        )
        .unwrap();
        Project(dir)
    }

    fn dir(&self) -> PathBuf {
        self.0.join("p")
    }

    fn emit(&self, extra: &[&str]) -> Output {
        Command::new(EXE)
            .args(["plan", "--emit"])
            .arg(self.dir())
            .args(["--tool", "dbmate"])
            .args(extra)
            .arg(CHANGE)
            .output()
            .expect("run schemashift")
    }

    fn count(&self, rel: &str) -> usize {
        std::fs::read_dir(self.dir().join(rel)).map_or(0, |d| d.count())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn emitting_the_same_change_twice_is_refused_naming_the_earlier_files() {
    let p = Project::new("twice");
    let first = p.emit(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let migrations = p.count("db/migrations");
    assert!(migrations > 1);
    let again = p.emit(&[]);
    assert_eq!(again.status.code(), Some(2));
    let err = stderr(&again);
    assert!(err.contains("already emitted here"), "{err}");
    assert!(
        err.contains("schemashift/") && err.contains("_add_users_handle.sql"),
        "{err}"
    );
    assert!(err.contains("the same plan"), "{err}");
    // Other options, same change: still the same change.
    let other = p.emit(&["--batch-size", "500"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("other options"),
        "{}",
        stderr(&other)
    );
    assert_eq!(p.count("db/migrations"), migrations, "nothing more written");
    assert_eq!(p.count("schemashift"), 1);
    // The next stage is what comes next, and is written once.
    let stage2 = p.emit(&["--stage", "2"]);
    assert!(stage2.status.success(), "{}", stderr(&stage2));
    assert_eq!(p.emit(&["--stage", "2"]).status.code(), Some(2));
    // Another change is not held up.
    let other_change = Command::new(EXE)
        .args(["plan", "--emit"])
        .arg(p.dir())
        .args(["--tool", "dbmate", "add index on users (handle)"])
        .output()
        .unwrap();
    assert!(other_change.status.success(), "{}", stderr(&other_change));
}

#[cfg(unix)]
#[test]
fn symlinked_folders_are_not_written_through() {
    let p = Project::new("links");
    let outside = p.0.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(p.dir().join("db/migrations")).unwrap();
    std::os::unix::fs::symlink(&outside, p.dir().join("db/migrations")).unwrap();
    let out = p.emit(&["--migrations-dir", "db/migrations"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    std::fs::remove_file(p.dir().join("db/migrations")).unwrap();
    std::fs::create_dir_all(p.dir().join("db/migrations")).unwrap();
    std::os::unix::fs::symlink(&outside, p.dir().join("schemashift")).unwrap();
    let out = p.emit(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("schemashift is a symlink"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(p.count("db/migrations"), 0);
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("object").clone()
}

#[tokio::test]
async fn the_mcp_tool_checks_what_the_cli_checks() {
    let p = Project::new("mcp");
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    let c = ().serve(transport).await.expect("initialize");
    let dir = p.dir().display().to_string();
    let call = |extra: Value| {
        let mut a = json!({"request": CHANGE, "dir": dir, "tool": "dbmate"});
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        CallToolRequestParams::new("emit_migrations").with_arguments(args(a))
    };
    for outside in ["../../../../root/.ssh", "../..", "db/../../.."] {
        let r = c
            .call_tool(call(json!({"migrations_dir": outside})))
            .await
            .unwrap();
        let text = serde_json::to_string(&r.content).unwrap();
        assert_eq!(r.is_error, Some(true), "{outside}: {text}");
        assert!(text.contains("outside"), "{outside}: {text}");
    }
    // Returned, then written by the client as told; asked again, refused.
    let r = c.call_tool(call(json!({}))).await.unwrap();
    let emission = r.structured_content.expect("an emission");
    for f in emission["files"].as_array().unwrap() {
        let path = Path::new(&dir).join(f["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, f["contents"].as_str().unwrap()).unwrap();
    }
    let r = c.call_tool(call(json!({}))).await.unwrap();
    let text = serde_json::to_string(&r.content).unwrap();
    assert_eq!(r.is_error, Some(true), "{text}");
    assert!(text.contains("already emitted here"), "{text}");
    c.cancel().await.unwrap();
}
