//! Speed figures: spawn -> initialize (and -> the first tools/list, which
//! builds the tool schemas) of the MCP server, a classify call
//! (in process and over stdio), plan generation per change type, and plan
//! rendering. Run with `cargo bench`; the figures are medians over many runs.

use schemashift::change::examples::EXAMPLES;
use schemashift::change::ChangeInput;
use schemashift::classify::{classify_request, ClassifyRequest};
use schemashift::plan::{build_plan, PlanRequest};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

fn quantiles<const N: usize>(mut samples: Vec<Duration>, qs: [f64; N]) -> [Duration; N] {
    samples.sort_unstable();
    qs.map(|q| samples[((samples.len() as f64 - 1.0) * q).round() as usize])
}

fn stats(samples: Vec<Duration>) -> (Duration, Duration) {
    let [p50, p99] = quantiles(samples, [0.5, 0.99]);
    (p50, p99)
}

fn time<F: FnMut()>(runs: usize, mut f: F) -> (Duration, Duration) {
    for _ in 0..runs.min(50) {
        f();
    }
    stats(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;

/// Spawns the server and times the answer to `initialize`, then the answer to
/// the first `tools/list` (what a client asks next), both from the spawn.
fn spawn_initialize() -> (Duration, Duration) {
    let t = Instant::now();
    let mut child = Command::new(EXE)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{INIT}").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let initialized = t.elapsed();
    assert!(line.contains("\"result\""), "{line}");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}
{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#
    )
    .unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let listed = t.elapsed();
    assert!(line.contains("\"tools\""), "{line}");
    drop(stdin);
    let _ = child.wait();
    (initialized, listed)
}

fn stdio_classify_round_trips(n: usize) -> (Duration, Duration) {
    let mut child = Command::new(EXE)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    writeln!(stdin, "{INIT}").unwrap();
    out.read_line(&mut line).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let mut samples = Vec::with_capacity(n);
    for id in 0..n + 50 {
        line.clear();
        let t = Instant::now();
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"classify_change","arguments":{{"request":"rename users.username to handle"}}}}}}"#,
            id + 2
        )
        .unwrap();
        out.read_line(&mut line).unwrap();
        if id >= 50 {
            samples.push(t.elapsed());
        }
    }
    drop(stdin);
    let _ = child.wait();
    stats(samples)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    // Other processes skew wall times: say how busy the machine was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    const SPAWNS: usize = 300;
    // Warm-up: the first spawns also pay for loading the binary from disk.
    for _ in 0..10 {
        spawn_initialize();
    }
    let (initialized, listed): (Vec<_>, Vec<_>) = (0..SPAWNS).map(|_| spawn_initialize()).unzip();
    for (what, samples) in [
        ("spawn -> initialize response", initialized),
        ("spawn -> first tools/list resp.", listed),
    ] {
        let [p50, p90, p99] = quantiles(samples, [0.5, 0.9, 0.99]);
        println!(
            "{what:<35}p50 {:8.0} us   p90 {:8.0} us   p99 {:8.0} us   ({SPAWNS} runs)",
            us(p50),
            us(p90),
            us(p99)
        );
    }
    let (p50, p99) = stdio_classify_round_trips(2000);
    println!(
        "classify_change over stdio (round)  p50 {:8.1} us   p99 {:8.1} us   (2000 calls)",
        us(p50),
        us(p99)
    );
    let req = ClassifyRequest {
        input: ChangeInput::from_request("rename users.username to handle"),
        ..Default::default()
    };
    let (p50, p99) = time(20_000, || {
        black_box(classify_request(black_box(&req)).unwrap());
    });
    println!(
        "classify in process (English)       p50 {:8.1} us   p99 {:8.1} us",
        us(p50),
        us(p99)
    );
    let req = ClassifyRequest {
        input: ChangeInput::from_sql("ALTER TABLE users RENAME COLUMN username TO handle;"),
        ..Default::default()
    };
    let (p50, p99) = time(20_000, || {
        black_box(classify_request(black_box(&req)).unwrap());
    });
    println!(
        "classify in process (SQL)           p50 {:8.1} us   p99 {:8.1} us",
        us(p50),
        us(p99)
    );
    println!();
    println!("plan generation per change type (in process, English input, no schema):");
    let mut worst = Duration::ZERO;
    for e in EXAMPLES {
        let req = PlanRequest {
            input: ChangeInput::from_request(e.request),
            ..Default::default()
        };
        let (p50, p99) = time(2_000, || {
            black_box(build_plan(black_box(&req)).unwrap());
        });
        worst = worst.max(p50);
        println!(
            "  {:<22} p50 {:8.1} us   p99 {:8.1} us   {}",
            e.change_type.as_str(),
            us(p50),
            us(p99),
            e.request
        );
    }
    println!("  slowest median: {:.1} us", us(worst));
    let req = PlanRequest {
        input: ChangeInput::from_request("rename users.username to handle"),
        ..Default::default()
    };
    let plan = build_plan(&req).unwrap();
    let (p50, p99) = time(2_000, || {
        black_box(schemashift::render::render("plan", black_box(&plan), None).unwrap());
    });
    println!();
    println!(
        "render full rename plan (markdown)   p50 {:8.1} us   p99 {:8.1} us",
        us(p50),
        us(p99)
    );
    let (p50, p99) = time(2_000, || {
        black_box(
            schemashift::render::render(
                "plan",
                black_box(&plan),
                Some(schemashift::render::Format::Summary),
            )
            .unwrap(),
        );
    });
    println!(
        "render rename plan summary           p50 {:8.1} us   p99 {:8.1} us",
        us(p50),
        us(p99)
    );
}
