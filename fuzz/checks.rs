//! What each fuzz target checks, shared by the fuzz targets (`fuzz_targets/`)
//! and by `tests/fuzz_regressions.rs`, which replays every input the fuzzers
//! ever found (`fuzz/regressions/<target>/`) under `cargo test`.

// Each fuzz target uses one of these.
#![allow(dead_code)]

use schemashift::change::{ddl as ddl_reader, english as english_parser, ChangeInput};
use schemashift::classify::classify;
use schemashift::context::{Context, Engine};
use schemashift::mcp::Server;
use schemashift::plan::{build_phases, build_plan, outline_phases, PlanRequest};
use schemashift::render::{render, Format as ReportFormat};
use schemashift::review::format::{render as render_review, Extents, Format};
use schemashift::review::{review as review_sql, ReviewOptions};
use serde_json::{json, Value};
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, WriteHalf};
use tokio::runtime::Runtime;

/// The English request parser: whatever it accepts resolves the same way
/// through the input layer every front end uses.
pub fn english(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = english_parser::parse(text) {
        let _ = parsed.change.describe();
        let _ = ChangeInput::from_request(text).resolve(Engine::Postgres);
    }
}

/// The DDL reader for both engines, and the classification of what it reads.
pub fn ddl(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    for engine in [Engine::Postgres, Engine::Mysql] {
        if ddl_reader::parse(sql, engine).is_err() {
            continue;
        }
        if let Ok(resolved) = ChangeInput::from_sql(sql).resolve(engine) {
            let context = Context {
                engine,
                ..Context::default()
            };
            let _ = classify(&resolved, &context);
        }
    }
}

/// Plan building from a hostile `build_plan` request in JSON: planned,
/// summarised and rendered, or refused with an error.
pub fn plan(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<PlanRequest>(data) else {
        return;
    };
    let full = build_plan(&req);
    // The cheaper builders fail exactly when the full plan fails.
    assert_eq!(full.is_ok(), build_phases(&req).is_ok(), "{req:?}");
    assert_eq!(full.is_ok(), outline_phases(&req).is_ok(), "{req:?}");
    if let Ok(plan) = full {
        for step in plan.phases.iter().flat_map(|p| &p.forward) {
            assert!(!step.sql.trim().is_empty(), "empty step in {req:?}");
        }
        let _ = render("plan", &plan, Some(ReportFormat::Markdown));
    }
}

const REVIEW_CASES: &[(Engine, u32, bool, Option<&str>)] = &[
    (Engine::Postgres, 10, false, None),
    (
        Engine::Postgres,
        12,
        true,
        Some("db/migrations/20260101000000_x.sql"),
    ),
    (Engine::Postgres, 15, false, Some("V2__change.sql")),
    (Engine::Postgres, 18, true, None),
    (Engine::Mysql, 15, false, Some("000001_x.up.sql")),
];

/// The reviewer for both engines, old and new PostgreSQL versions, in and
/// out of a transaction, under file names that select migration-tool
/// conventions, rendered in each output format. One case and one format per
/// input, picked from its length and first byte, so the fuzzer reaches every
/// combination at a twentieth of the cost of trying them all on each input.
pub fn review(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let (engine, pg_version, assume_in_transaction, file) =
        REVIEW_CASES[data.len() % REVIEW_CASES.len()];
    let opts = ReviewOptions {
        engine,
        pg_version,
        assume_in_transaction,
        exclude: Vec::new(),
    };
    let r = review_sql(sql, file, &opts);
    for f in &r.findings {
        assert!(f.line >= 1 && f.column >= 1, "{f:?}");
    }
    let formats = [Format::Text, Format::Json, Format::Github, Format::Sarif];
    let format = formats[data.first().map_or(0, |&b| b as usize) % formats.len()];
    let _ = render_review(&r, format, &Extents::default());
}

/// Tools that answer from their arguments alone. `rehearse_plan` starts
/// database servers, and `detect_stack`/`emit_migrations` read the project
/// folder they are given; their argument handling is the same code path.
const TOOLS: &[&str] = &[
    "classify_change",
    "build_plan",
    "review_plan",
    "render_template",
];

struct Session {
    rt: Runtime,
    to_server: WriteHalf<DuplexStream>,
    from_server: Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
    pings: u64,
}

fn session() -> &'static Mutex<Session> {
    static SESSION: OnceLock<Mutex<Session>> = OnceLock::new();
    SESSION.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (client, server) = tokio::io::duplex(1 << 20);
        rt.spawn(async move {
            // The framing `schemashift serve` reads stdin through.
            let (r, w) = tokio::io::split(server);
            let _ = schemashift::mcp_stdio::serve(Server::new(), r, w).await;
        });
        let (r, mut w) = tokio::io::split(client);
        let mut lines = BufReader::new(r).lines();
        rt.block_on(async {
            let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "fuzz", "version": "0"}}});
            w.write_all(format!("{init}\n").as_bytes()).await.unwrap();
            lines.next_line().await.unwrap().expect("initialize reply");
            let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            w.write_all(format!("{done}\n").as_bytes()).await.unwrap();
        });
        Mutex::new(Session {
            rt,
            to_server: w,
            from_server: lines,
            pings: 0,
        })
    })
}

fn message(data: &[u8]) -> Vec<u8> {
    match data.split_first() {
        Some((&sel, rest)) if sel & 1 == 1 => {
            let tool = TOOLS[(sel as usize >> 1) % TOOLS.len()];
            let arguments: Value = serde_json::from_slice(rest)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(rest).into_owned()));
            let call = json!({"jsonrpc": "2.0", "id": "fuzz-call", "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}});
            let mut line = call.to_string().into_bytes();
            line.push(b'\n');
            line
        }
        // A raw line as a broken or malicious client would send it.
        Some((_, rest)) => {
            let mut line = rest.to_vec();
            line.push(b'\n');
            line
        }
        None => b"\n".to_vec(),
    }
}

/// One hostile message to the long-lived MCP server, then a ping that must
/// be answered.
pub fn mcp(data: &[u8]) {
    let mut guard = session().lock().unwrap_or_else(|e| e.into_inner());
    let s = &mut *guard;
    s.pings += 1;
    let ping_id = format!("fuzz-ping-{}", s.pings);
    let line = message(data);
    let ping = format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": ping_id, "method": "ping"})
    );
    let Session {
        rt,
        to_server,
        from_server,
        ..
    } = s;
    rt.block_on(async {
        to_server.write_all(&line).await.expect("server gone");
        to_server
            .write_all(ping.as_bytes())
            .await
            .expect("server gone");
        loop {
            let reply = from_server
                .next_line()
                .await
                .expect("server output unreadable")
                .expect("the server stopped serving");
            let v: Value = serde_json::from_str(&reply).expect("server wrote a non-JSON line");
            if v.get("id").and_then(Value::as_str) == Some(ping_id.as_str()) {
                break;
            }
        }
    });
}
