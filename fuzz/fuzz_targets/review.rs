//! Fuzzes the migration reviewer: any UTF-8 text, reviewed for both engines,
//! old and new PostgreSQL versions, in and out of a transaction, under file
//! names that select migration-tool conventions, then rendered in every
//! output format. Nothing may panic.
//!
//! From the repository root, seeded with realistic migrations:
//! `cargo +nightly fuzz run review fuzz/corpus/review fuzz/seeds`, or on a
//! stable toolchain without sanitizers:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none review fuzz/corpus/review fuzz/seeds`.

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::review(data));
