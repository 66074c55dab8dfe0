//! Fuzzes the English request parser: any UTF-8 text is parsed; whatever it
//! yields must be a change that validates or a clear error, never a panic.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none english fuzz/corpus/english fuzz/seeds-english`

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::english(data));
