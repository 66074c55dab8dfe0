//! The MCP server under hostile input: deeply nested SQL through a real MCP
//! client (rmcp's), and malformed JSON-RPC lines through a raw pipe. Each is
//! answered, and the server goes on serving the next request.

use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("object").clone()
}

fn text(r: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(&r.content).unwrap()
}

#[tokio::test]
async fn deep_sql_gets_an_error_and_the_server_keeps_serving() {
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    let c = ().serve(transport).await.expect("initialize");
    let check = format!(
        "ALTER TABLE t ADD CONSTRAINT c CHECK ({}a > 0)",
        "a+".repeat(12_000)
    );
    let select = format!("SELECT {}1;", "1+".repeat(200_000));
    let parens = format!(
        "ALTER TABLE t ADD CONSTRAINT c CHECK ({}a > 0{})",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let schema = format!(
        "CREATE TABLE users (id bigint PRIMARY KEY, username text CHECK ({}a <> ''));",
        "a||".repeat(12_000)
    );
    let calls = [
        ("classify_change", json!({"sql": check})),
        ("classify_change", json!({"sql": parens})),
        ("build_plan", json!({"sql": check})),
        (
            "build_plan",
            json!({"request": "rename users.username to handle", "schema": schema}),
        ),
        (
            "build_plan",
            json!({"change": {"change_type": "add_check_constraint", "table": "t",
                "name": "c", "expression": format!("{}a > 0", "a+".repeat(12_000))}}),
        ),
    ];
    for (tool, arguments) in calls {
        let r = c
            .call_tool(CallToolRequestParams::new(tool).with_arguments(args(arguments)))
            .await
            .unwrap_or_else(|e| panic!("{tool}: the server stopped answering: {e}"));
        assert_eq!(r.is_error, Some(true), "{tool}: {r:?}");
        let t = text(&r);
        assert!(
            t.contains("nests deeper than") || t.contains("recursion limit"),
            "{tool}: {t}"
        );
    }
    // A review reads what it can and notes the deep statement.
    for sql in [check.clone() + ";", select] {
        let r = c
            .call_tool(
                CallToolRequestParams::new("review_plan")
                    .with_arguments(args(json!({"sql": format!("{sql}\nDROP TABLE users;")}))),
            )
            .await
            .expect("review_plan answered");
        let review = r.structured_content.expect("a review");
        let rules: Vec<&str> = review["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&"drop-table"), "{rules:?}");
    }
    // A schema with no table, and an as-is migration over its limit.
    let r = c
        .call_tool(
            CallToolRequestParams::new("build_plan").with_arguments(args(json!({
                "request": "rename users.username to handle",
                "schema": "root:x:0:0:root:/root:/bin/bash"
            }))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("no CREATE TABLE"), "{}", text(&r));
    let r = c
        .call_tool(
            CallToolRequestParams::new("rehearse_plan").with_arguments(args(json!({
                "as_is": "SELECT 1;\n".repeat(1 << 20),
                "schema": "CREATE TABLE t (id bigint PRIMARY KEY);"
            }))),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("over the 8 MiB limit"), "{}", text(&r));
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

/// A server spoken to in raw lines.
struct Raw {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Raw {
    fn start() -> Raw {
        let mut child = Command::new(EXE)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let out = BufReader::new(child.stdout.take().unwrap());
        // A message left unanswered would block the read for ever: after a
        // minute this server is stopped, and the read fails instead.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (pid, flag) = (child.id().to_string(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..600 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
            let _ = Command::new("kill").arg(&pid).status();
        });
        let mut raw = Raw { child, out, done };
        raw.send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#);
        assert_eq!(raw.read()["id"], 0);
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        raw
    }

    fn send(&mut self, line: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("read");
        assert!(!line.is_empty(), "the server closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a line and reads the one reply it gets.
    fn error_for(&mut self, line: &[u8]) -> (i64, Value, String) {
        self.send(line);
        let r = self.read();
        let code = r["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error: {r}"));
        let message = r["error"]["message"].as_str().unwrap().to_string();
        (code, r["id"].clone(), message)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn malformed_lines_get_json_rpc_errors_and_the_server_keeps_serving() {
    let mut s = Raw::start();
    let (code, id, message) = s.error_for(b"this is not json");
    assert_eq!((code, id), (-32700, Value::Null), "{message}");
    assert!(message.starts_with("Parse error"), "{message}");

    let (code, id, message) =
        s.error_for(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}");
    assert_eq!((code, id), (-32700, Value::Null));
    assert!(message.contains("UTF-8"), "{message}");

    for bad in [
        &br#"{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}"#[..],
        br#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\ud800"}}"#,
    ] {
        let (code, id, message) = s.error_for(bad);
        assert_eq!((code, id), (-32700, Value::Null), "{message}");
    }
    let deep = "[".repeat(100_000);
    assert_eq!(s.error_for(deep.as_bytes()).0, -32700);

    let (code, id, _) = s.error_for(b"[1, 2]");
    assert_eq!((code, id), (-32600, Value::Null));

    // Over 16 MiB: read through and refused, with the limit named.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"classify_change","arguments":{{"request":"{}"}}}}}}"#,
        "x".repeat(17 << 20)
    );
    let (code, id, message) = s.error_for(huge.as_bytes());
    assert_eq!((code, id), (-32600, Value::Null));
    assert!(message.contains("16 MiB"), "{message}");

    // Params that do not fit the method: -32602 for that id, not "method not found".
    let (code, id, _) = s.error_for(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#);
    assert_eq!((code, id), (-32602, json!(5)));
    let (code, id, _) = s.error_for(
        br#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"classify_change","arguments":"x"}}"#,
    );
    assert_eq!((code, id), (-32602, json!(6)));

    s.send(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
    let r = s.read();
    assert_eq!(r["id"], 7, "{r}");
    assert!(r["result"]["tools"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    assert!(s.child.try_wait().unwrap().is_none(), "server exited");
}

#[test]
fn closing_stdin_ends_the_server_after_its_last_reply() {
    let mut s = Raw::start();
    s.send(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    s.send(b"not json");
    drop(s.child.stdin.take());
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(s.read()["id"].clone());
    }
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(ids, vec![json!(1), Value::Null]);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
