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

use libfuzzer_sys::fuzz_target;
use schemashift::context::Engine;
use schemashift::review::format::{render, Extents, Format};
use schemashift::review::{review, ReviewOptions};

const CASES: &[(Engine, u32, bool, Option<&str>)] = &[
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

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    for &(engine, pg_version, assume_in_transaction, file) in CASES {
        let opts = ReviewOptions {
            engine,
            pg_version,
            assume_in_transaction,
            exclude: Vec::new(),
        };
        let r = review(sql, file, &opts);
        for f in &r.findings {
            assert!(f.line >= 1 && f.column >= 1, "{f:?}");
        }
        for format in [Format::Text, Format::Json, Format::Github, Format::Sarif] {
            let _ = render(&r, format, &Extents::default());
        }
    }
});
