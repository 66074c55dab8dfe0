//! Fuzzes the DDL reader: any UTF-8 text is read as the naive DDL of one
//! change for both engines, and classified when it reads. Never a panic,
//! never an abort on deep nesting.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none ddl fuzz/corpus/ddl fuzz/seeds-ddl`

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ddl(data));
