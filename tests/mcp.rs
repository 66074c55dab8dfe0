//! The MCP server driven through a real MCP client (rmcp's) over stdio, and
//! through raw JSON-RPC lines for the malformed input no client would send.

use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

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

#[tokio::test]
async fn lists_tools_with_input_and_output_schemas() {
    let c = client().await;
    let info = c.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("schemashift")
    );
    assert!(info
        .instructions
        .as_deref()
        .unwrap_or("")
        .contains("classify_change"));
    let tools = c.list_all_tools().await.unwrap();
    let classify = tools
        .iter()
        .find(|t| t.name == "classify_change")
        .expect("classify_change listed");
    let input = serde_json::to_value(&classify.input_schema).unwrap();
    for field in ["change", "request", "sql", "context"] {
        assert!(
            input["properties"][field].is_object(),
            "input schema lacks {field}: {input}"
        );
    }
    let output =
        serde_json::to_value(classify.output_schema.as_ref().expect("output schema")).unwrap();
    for field in [
        "change_type",
        "risk",
        "complexity",
        "lock",
        "phases",
        "questions",
        "in_scope",
    ] {
        assert!(
            output["properties"][field].is_object(),
            "output schema lacks {field}"
        );
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn classifies_all_three_input_forms_alike() {
    let c = client().await;
    let forms = [
        json!({"request": "rename users.username to handle"}),
        json!({"sql": "ALTER TABLE users RENAME COLUMN username TO handle;"}),
        json!({"change": {"change_type": "rename_column", "table": "users", "column": "username", "new_name": "handle"}}),
    ];
    let mut changes = Vec::new();
    for f in forms {
        let res = c
            .call_tool(
                CallToolRequestParams::new("classify_change").with_arguments(args(f.clone())),
            )
            .await
            .unwrap();
        assert_ne!(res.is_error, Some(true), "{f}: {res:?}");
        let s = res.structured_content.expect("structured content");
        assert_eq!(s["change_type"], "rename_column", "{f}");
        assert_eq!(s["backward_compatible"], false);
        assert_eq!(s["pattern"], "expand_contract");
        assert_eq!(s["lock"][0]["lock"], "ACCESS EXCLUSIVE");
        changes.push(s["change"].clone());
    }
    assert!(changes.windows(2).all(|w| w[0] == w[1]), "{changes:?}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn context_changes_the_facts() {
    let c = client().await;
    let call = |v: u32| {
        CallToolRequestParams::new("classify_change").with_arguments(args(json!({
            "change": {"change_type": "add_column", "table": "t", "column": "c", "data_type": "int", "default": "0"},
            "context": {"version": v, "rows": 5_000_000}
        })))
    };
    let pg10 = c
        .call_tool(call(10))
        .await
        .unwrap()
        .structured_content
        .unwrap();
    let pg15 = c
        .call_tool(call(15))
        .await
        .unwrap()
        .structured_content
        .unwrap();
    assert_eq!(pg10["lock"][0]["rewrites_table"], true);
    assert_eq!(pg15["lock"][0]["rewrites_table"], false);
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn serves_every_reference() {
    let c = client().await;
    let resources = c.list_all_resources().await.unwrap();
    let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    for expected in [
        "change-type-decision-matrix",
        "migration-failure-modes",
        "sample-rollout-sequences",
        "output-templates",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for r in &resources {
        let doc = c
            .read_resource(ReadResourceRequestParams::new(r.uri.clone()))
            .await
            .unwrap();
        let text = match &doc.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{} is not text: {other:?}", r.uri),
        };
        // The reference documents are long; the output templates are listed too.
        if r.uri.starts_with("schemashift://references/") {
            assert!(text.len() > 1000, "{} is only {} bytes", r.uri, text.len());
        }
    }
    let templates = c.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "schemashift://references/{name}");
    let err = c
        .read_resource(ReadResourceRequestParams::new(
            "schemashift://references/nope",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no reference named"), "{err}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn offers_one_prompt_per_mode() {
    let c = client().await;
    let prompts = c.list_all_prompts().await.unwrap();
    let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["backfill", "cutover", "deprecate", "plan", "review"]
    );
    let p = c
        .get_prompt(
            GetPromptRequestParams::new("plan")
                .with_arguments(args(json!({"request": "rename users.username to handle"}))),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&p.messages).unwrap();
    assert!(
        text.contains("rename users.username to handle") && text.contains("classify_change"),
        "{text}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_server_keeps_answering() {
    let c = client().await;
    // Wrong parameter type.
    let err = c
        .call_tool(
            CallToolRequestParams::new("classify_change")
                .with_arguments(args(json!({"request": 42}))),
        )
        .await;
    match err {
        Err(e) => assert!(
            e.to_string().contains("request") || e.to_string().contains("invalid"),
            "{e}"
        ),
        Ok(r) => assert_eq!(r.is_error, Some(true), "{r:?}"),
    }
    // Unknown tool.
    let err = c
        .call_tool(CallToolRequestParams::new("drop_database"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("drop_database")
            || err.to_string().to_lowercase().contains("not found"),
        "{err}"
    );
    // Nothing given.
    let r = c
        .call_tool(CallToolRequestParams::new("classify_change").with_arguments(args(json!({}))))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content)
        .unwrap()
        .contains("no change given"));
    // A request nobody can read names the accepted forms.
    let r = c
        .call_tool(
            CallToolRequestParams::new("classify_change")
                .with_arguments(args(json!({"request": "make it faster please"}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content)
        .unwrap()
        .contains("accepted forms"));
    // A 10 MB argument is refused, not parsed.
    let huge = "rename users.a to b ".repeat(10 * 1024 * 1024 / 20);
    let r = c
        .call_tool(
            CallToolRequestParams::new("classify_change")
                .with_arguments(args(json!({"request": huge}))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content).unwrap().contains("limit"));
    // Still alive.
    let ok = c
        .call_tool(
            CallToolRequestParams::new("classify_change")
                .with_arguments(args(json!({"request": "drop users.legacy"}))),
        )
        .await
        .unwrap();
    assert_eq!(ok.structured_content.unwrap()["change_type"], "drop_column");
    c.cancel().await.unwrap();
}

/// Sends raw lines and reads one response per request id.
struct RawSession {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl RawSession {
    fn start() -> Self {
        let mut child = Command::new(EXE)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut s = RawSession { child, out };
        s.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#);
        assert_eq!(s.read()["id"], 1);
        s.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        s
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads until the response with this id (skipping notifications).
    fn response(&mut self, id: i64) -> Value {
        loop {
            let v = self.read();
            if v["id"] == id {
                return v;
            }
            assert!(
                v.get("id").is_none() || v["id"].is_null() || v.get("error").is_some(),
                "unexpected: {v}"
            );
        }
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn malformed_json_rpc_does_not_kill_the_server() {
    let mut s = RawSession::start();
    s.send("this is not json");
    s.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"classify_change","arguments":"not an object"}}"#);
    let r = s.response(2);
    assert!(
        r.get("error").is_some() || r["result"]["isError"] == true,
        "{r}"
    );
    s.send(r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#);
    let r = s.response(3);
    assert!(r["error"]["code"].is_number(), "{r}");
    s.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#);
    let r = s.response(4);
    assert!(
        r["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{r}"
    );
    assert!(s.child.try_wait().unwrap().is_none(), "server exited");
}

#[tokio::test]
async fn builds_plans_through_the_tool() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    let plan_tool = tools
        .iter()
        .find(|t| t.name == "build_plan")
        .expect("build_plan listed");
    let input = serde_json::to_value(&plan_tool.input_schema).unwrap();
    for field in ["request", "sql", "change", "context", "schema", "options"] {
        assert!(
            input["properties"][field].is_object(),
            "build_plan input lacks {field}"
        );
    }
    let res = c
        .call_tool(
            CallToolRequestParams::new("build_plan").with_arguments(args(json!({
                "request": "rename users.username to handle",
                "schema": "CREATE TABLE users (id bigint PRIMARY KEY, username text NOT NULL);",
                "options": {"batch_size": 1000}
            }))),
        )
        .await
        .unwrap();
    let plan = res.structured_content.expect("structured plan");
    assert_eq!(plan["schema_version"], 1);
    assert_eq!(plan["change_type"], "rename_column");
    let kinds: Vec<&str> = plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "expand",
            "backfill",
            "validate",
            "cutover_reads",
            "cutover_writes",
            "contract"
        ]
    );
    assert_eq!(plan["backfill"]["batch_size"], 1000);
    // A plan the engine cannot write is refused with the reason, not faked.
    let res = c
        .call_tool(
            CallToolRequestParams::new("build_plan").with_arguments(args(json!({
                "request": "rename users.username to handle",
                "context": {"engine": "mysql"}
            }))),
        )
        .await
        .unwrap();
    assert_eq!(res.is_error, Some(true));
    assert!(serde_json::to_string(&res.content)
        .unwrap()
        .contains("MySQL"));
    // PostgreSQL 19 is a version the context accepts; 20 is refused.
    for (version, accepted) in [(19, true), (20, false)] {
        let res = c
            .call_tool(
                CallToolRequestParams::new("build_plan").with_arguments(args(json!({
                    "request": "rename users.username to handle",
                    "context": {"engine": "postgres", "version": version}
                }))),
            )
            .await
            .unwrap();
        assert_eq!(res.is_error == Some(true), !accepted, "{version}: {res:?}");
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn reviews_migrations_through_the_tool() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "review_plan")
        .expect("review_plan listed");
    let input = serde_json::to_value(&tool.input_schema).unwrap();
    for field in ["sql", "file", "plan", "options"] {
        assert!(
            input["properties"][field].is_object(),
            "review_plan input lacks {field}: {input}"
        );
    }
    let output = serde_json::to_value(tool.output_schema.as_ref().expect("output schema")).unwrap();
    for field in ["verdict", "findings", "summary"] {
        assert!(
            output["properties"][field].is_object(),
            "review_plan output lacks {field}"
        );
    }
    let call = |v: Value| CallToolRequestParams::new("review_plan").with_arguments(args(v));
    let r = c
        .call_tool(call(json!({
            "sql": "ALTER TABLE users RENAME COLUMN a TO b;",
            "file": "db/migrate/001_rename.sql"
        })))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let s = r.structured_content.expect("structured review");
    assert_eq!(s["verdict"], "stop", "{s}");
    let f = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "rename-column")
        .unwrap_or_else(|| panic!("no rename-column finding: {s}"));
    assert_eq!(f["line"], 1);
    assert_eq!(f["file"], "db/migrate/001_rename.sql");
    assert!(
        f["fix"].as_str().unwrap_or("").contains("ADD COLUMN"),
        "{f}"
    );
    // A safe migration, and the same hazard in a down migration (never run on the way up).
    for (sql, file) in [
        (
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nickname text;",
            "001_add.sql",
        ),
        (
            "ALTER TABLE users RENAME COLUMN a TO b;",
            "001_rename.down.sql",
        ),
    ] {
        let r = c
            .call_tool(call(json!({"sql": sql, "file": file})))
            .await
            .unwrap();
        let s = r.structured_content.expect("structured review");
        assert_eq!(s["verdict"], "proceed", "{file}: {s}");
        assert_eq!(s["findings"].as_array().unwrap().len(), 0, "{s}");
    }
    // Options: an excluded rule is not reported.
    let r = c
        .call_tool(call(json!({
            "sql": "ALTER TABLE users RENAME COLUMN a TO b;",
            "options": {"exclude": ["rename-column"], "pg_version": 12}
        })))
        .await
        .unwrap();
    let s = r.structured_content.unwrap();
    assert!(
        s["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "rename-column"),
        "{s}"
    );
    // PostgreSQL 19 is known (its REPACK (CONCURRENTLY) is online); 20 is not.
    let r = c
        .call_tool(call(json!({
            "sql": "REPACK (CONCURRENTLY) orders;",
            "options": {"pg_version": 19}
        })))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert_eq!(r.structured_content.unwrap()["verdict"], "proceed");
    let r = c
        .call_tool(call(json!({
            "sql": "SELECT 1;",
            "options": {"pg_version": 20}
        })))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(serde_json::to_string(&r.content)
        .unwrap()
        .contains("from 10 to 19"));
    // A rollout plan: its phases are reviewed too.
    let r = c
        .call_tool(call(json!({
            "plan": "## Phase 1: Expand\n\n```sql\nALTER TABLE users RENAME COLUMN a TO b;\n```\n"
        })))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let s = r.structured_content.expect("structured plan review");
    let rules: Vec<&str> = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(s["verdict"], "stop", "{s}");
    assert!(rules.contains(&"plan-phase-without-rollback"), "{s}");
    let r = c
        .call_tool(call(json!({"sql": "SELECT 1;", "plan": "## Phase 1"})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content)
        .unwrap()
        .contains("not both"));
    // Nothing to review, and an unknown rule id, are clear errors.
    let r = c.call_tool(call(json!({}))).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content).unwrap().contains("sql"));
    let r = c
        .call_tool(call(
            json!({"sql": "SELECT 1;", "options": {"exclude": ["no-such-rule"]}}),
        ))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(serde_json::to_string(&r.content)
        .unwrap()
        .contains("unknown rule id"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn renders_results_with_templates_through_the_tool() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "render_template")
        .expect("render_template listed");
    let input = serde_json::to_value(&tool.input_schema).unwrap();
    for field in ["template", "data", "format"] {
        assert!(
            input["properties"][field].is_object(),
            "render_template input lacks {field}: {input}"
        );
    }
    let plan = c
        .call_tool(
            CallToolRequestParams::new("build_plan")
                .with_arguments(args(json!({"request": "rename users.username to handle"}))),
        )
        .await
        .unwrap()
        .structured_content
        .expect("plan");
    let text_of = |r: &rmcp::model::CallToolResult| -> String {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    };
    let call = |v: Value| CallToolRequestParams::new("render_template").with_arguments(args(v));
    let r = c
        .call_tool(call(json!({"template": "plan", "data": plan})))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let md = text_of(&r);
    assert!(
        md.starts_with("# Plan: rename users.username to handle"),
        "{md}"
    );
    assert!(md.contains("## Rollback points"), "{md}");
    let mut with_path = plan.clone();
    with_path["report_path"] =
        json!("docs/database-report/rename-users-username-to-handle-plan.md");
    let r = c
        .call_tool(call(
            json!({"template": "plan", "format": "summary", "data": with_path}),
        ))
        .await
        .unwrap();
    let summary = text_of(&r);
    assert!(summary.starts_with('┌'), "{summary}");
    assert!(summary.lines().count() <= 40, "{summary}");
    assert!(
        summary
            .contains("Full report: docs/database-report/rename-users-username-to-handle-plan.md"),
        "{summary}"
    );
    // An unknown template lists the templates; data that does not fit names the field.
    let r = c
        .call_tool(call(json!({"template": "nope", "data": plan})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    let err = text_of(&r);
    assert!(
        err.contains("the templates are plan, plan-summary"),
        "{err}"
    );
    let r = c
        .call_tool(call(json!({"template": "review", "data": plan})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    let err = text_of(&r);
    assert!(err.contains("missing field `verdict`"), "{err}");
    assert!(err.contains("a review_plan result"), "{err}");
    // The templates are resources, with a resource template.
    let resources = c.list_all_resources().await.unwrap();
    assert!(resources
        .iter()
        .any(|r| r.uri == "schemashift://templates/plan-summary"));
    let doc = c
        .read_resource(ReadResourceRequestParams::new(
            "schemashift://templates/plan",
        ))
        .await
        .unwrap();
    match &doc.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => {
            assert!(text.contains("## Rollback points"), "{text}")
        }
        other => panic!("not text: {other:?}"),
    }
    let err = c
        .read_resource(ReadResourceRequestParams::new(
            "schemashift://templates/nope",
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no template named `nope`"),
        "{err}"
    );
    let templates = c.list_all_resource_templates().await.unwrap();
    assert!(templates
        .iter()
        .any(|t| t.uri_template == "schemashift://templates/{name}"));
    c.cancel().await.unwrap();
}
