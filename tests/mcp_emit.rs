//! The MCP tools `detect_stack` and `emit_migrations`, through a real MCP
//! client (rmcp's) over stdio: detection of a fixture project, and the
//! files for a plan returned (not written).

use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::path::Path;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

async fn client() -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    ().serve(transport).await.expect("initialize")
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
        .display()
        .to_string()
}

fn listing(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn detect_stack_and_emit_migrations() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    for name in ["detect_stack", "emit_migrations"] {
        let t = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert!(t.output_schema.is_some(), "{name} output schema");
    }
    let emit_input = serde_json::to_value(
        &tools
            .iter()
            .find(|t| t.name == "emit_migrations")
            .unwrap()
            .input_schema,
    )
    .unwrap();
    for field in ["request", "dir", "tool", "stage", "options"] {
        assert!(
            emit_input["properties"][field].is_object(),
            "emit_migrations input lacks {field}: {emit_input}"
        );
    }

    let r = c
        .call_tool(
            CallToolRequestParams::new("detect_stack")
                .with_arguments(args(json!({ "dir": fixture("alembic") }))),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let d = r.structured_content.expect("structured content");
    assert_eq!(d["engine"], "postgres");
    assert_eq!(d["tools"][0]["tool"], "alembic");
    assert_eq!(d["tools"][0]["latest"]["version"], "8b1e4d2c6a90");

    let dir = fixture("sqlx");
    let before = listing(&format!("{dir}/migrations"));
    let r = c
        .call_tool(
            CallToolRequestParams::new("emit_migrations").with_arguments(args(json!({
                "request": "add index on users(email)",
                "dir": dir,
            }))),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let e = r.structured_content.expect("structured content");
    assert_eq!(e["tool"], "sqlx");
    let files = e["files"].as_array().unwrap();
    let up = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(".up.sql"))
        .expect("an up file");
    assert!(up["contents"]
        .as_str()
        .unwrap()
        .starts_with("-- no-transaction\n"));
    // Returned, not written.
    assert_eq!(listing(&format!("{dir}/migrations")), before);

    // Drizzle: the journal comes back as an update of the file as it is.
    let project = fixture("drizzle");
    let journal_path = format!("{project}/drizzle/meta/_journal.json");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let r = c
        .call_tool(
            CallToolRequestParams::new("emit_migrations").with_arguments(args(json!({
                "request": "rename users.username to handle",
                "dir": project,
            }))),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let e = r.structured_content.expect("structured content");
    assert_eq!(e["tool"], "drizzle");
    assert_eq!(e["updates"][0]["path"], "drizzle/meta/_journal.json");
    assert_eq!(e["updates"][0]["previous"], journal.as_str());
    assert!(e["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"].as_str().unwrap().starts_with("drizzle/manual/")));
    assert_eq!(std::fs::read_to_string(&journal_path).unwrap(), journal);

    // A project without a tool, and no tool named: a tool error saying what to do.
    let r = c
        .call_tool(
            CallToolRequestParams::new("emit_migrations").with_arguments(args(json!({
                "request": "add index on users(email)",
                "dir": format!("{dir}/src"),
            }))),
        )
        .await;
    match r {
        Ok(r) => {
            assert_eq!(r.is_error, Some(true), "{r:?}");
            assert!(format!("{r:?}").contains("--tool"), "{r:?}");
        }
        Err(e) => panic!("a tool error, not a protocol error: {e}"),
    }
    c.cancel().await.unwrap();
}
