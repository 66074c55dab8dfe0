//! Fuzzes plan building from hostile structured input: any bytes that are a
//! `build_plan` request in JSON (structured change, request or SQL, with a
//! schema, context and options) are planned, summarised and rendered. A bad
//! request must be a clear error, never a panic or an abort.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none plan fuzz/corpus/plan fuzz/seeds-plan`

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::plan(data));
