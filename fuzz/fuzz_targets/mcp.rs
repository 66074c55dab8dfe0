//! Fuzzes the MCP server end to end: one long-lived server (the same
//! server and framing `schemashift serve` runs) over an in-memory pipe, sent hostile
//! lines — raw bytes, or `tools/call` requests whose arguments are the fuzz
//! input — each followed by a `ping`. The ping must be answered: a message
//! may be refused, but the server never dies, hangs or stops serving.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none mcp fuzz/corpus/mcp fuzz/seeds-mcp`

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mcp(data));
