//! The reviewer never panics, whatever text it is given: generated token
//! soups (SQL keywords, quotes, dollar quotes, semicolons, comments, ignore
//! comments, dbmate markers, unicode) reviewed for both engines and several
//! PostgreSQL versions, and rendered in every output format. The coverage-
//! guided fuzzer (`cargo +nightly fuzz run review`, see fuzz/) searches far
//! deeper; this keeps what it found from coming back. More cases:
//! `SCHEMASHIFT_FUZZ_CASES=20000 cargo test --release --test review_fuzz`.

use schemashift::context::Engine;
use schemashift::review::format::{render, Extents, Format};
use schemashift::review::{review, ReviewOptions};

/// Deterministic pseudo-random numbers: every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TOKENS: &[&str] = &[
    "ALTER",
    "TABLE",
    "ADD",
    "COLUMN",
    "DROP",
    "RENAME",
    "TO",
    "TYPE",
    "SET",
    "NOT",
    "NULL",
    "DEFAULT",
    "CONSTRAINT",
    "CHECK",
    "FOREIGN",
    "KEY",
    "REFERENCES",
    "PRIMARY",
    "UNIQUE",
    "VALID",
    "VALIDATE",
    "USING",
    "INDEX",
    "CONCURRENTLY",
    "IF",
    "EXISTS",
    "ON",
    "CREATE",
    "UPDATE",
    "DELETE",
    "INSERT",
    "INTO",
    "VALUES",
    "WHERE",
    "FROM",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "START",
    "TRANSACTION",
    "ATOMIC",
    "END",
    "DO",
    "LANGUAGE",
    "plpgsql",
    "FUNCTION",
    "RETURNS",
    "TRIGGER",
    "VACUUM",
    "FULL",
    "CLUSTER",
    "REINDEX",
    "ANALYZE",
    "TRUNCATE",
    "LOCK",
    "ATTACH",
    "DETACH",
    "PARTITION",
    "OF",
    "FOR",
    "VALUES",
    "ENUM",
    "VALUE",
    "AFTER",
    "BEFORE",
    "GENERATED",
    "ALWAYS",
    "AS",
    "IDENTITY",
    "STORED",
    "serial",
    "bigserial",
    "int",
    "bigint",
    "text",
    "varchar(255)",
    "numeric(10,2)",
    "timestamptz",
    "jsonb",
    "now()",
    "random()",
    "gen_random_uuid()",
    "lock_timeout",
    "statement_timeout",
    "'2s'",
    "0",
    "LOCAL",
    "SESSION",
    "TimeZone",
    "ALGORITHM=COPY",
    "ALGORITHM=INPLACE",
    "LOCK=NONE",
    "lock_wait_timeout",
    "MODIFY",
    "CHANGE",
    "AUTO_INCREMENT",
    "MATERIALIZED",
    "VIEW",
    "REFRESH",
    "SCHEMA",
    "users",
    "orders",
    "public.users",
    "\"Users\"",
    "`orders`",
    "a",
    "b",
    "id",
    "email",
    "t",
    "x",
    "(",
    ")",
    "(",
    ")",
    ",",
    ",",
    ".",
    ";",
    ";",
    ";",
    "=",
    "::",
    "*",
    "'",
    "''",
    "'it''s; fine'",
    "\"",
    "$$",
    "$$",
    "$body$",
    "$b$",
    "$1",
    "E'\\''",
    "--",
    "-- x\n",
    "/*",
    "*/",
    "/* a; b */",
    "\n",
    "\n",
    "\t",
    " ",
    "-- schemashift-ignore\n",
    "-- schemashift-ignore rename-column, drop-column\n",
    "-- schemashift-ignore-file\n",
    "-- migrate:up\n",
    "-- migrate:down\n",
    "-- migrate:up transaction:false\n",
    "é",
    "ß",
    "日本",
    "🦀",
    "\u{200b}",
    "\u{feff}",
    "\\",
    "\r\n",
    "\u{0}",
    "%",
    "[",
    "]",
    "{",
    "}",
    "1e999",
    "-1",
    "18446744073709551616",
];

fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.below(60);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(TOKENS));
        if rng.below(3) > 0 {
            s.push(' ');
        }
    }
    s
}

/// Inputs that once found a bug, kept as they were found.
const FOUND: &[&str] = &[
    "",
    ";",
    "$$",
    "DO $$",
    "'",
    "/*",
    "-- migrate:up",
    "-- migrate:down\n-- migrate:up\n",
    "ALTER TABLE",
    "ALTER TABLE t RENAME COLUMN",
    "CREATE INDEX CONCURRENTLY",
    "BEGIN; BEGIN; COMMIT; COMMIT; END;",
];

fn check(sql: &str, case: usize) {
    let engine = if case % 4 == 3 {
        Engine::Mysql
    } else {
        Engine::Postgres
    };
    let opts = ReviewOptions {
        engine,
        pg_version: [10, 11, 12, 13, 14, 15, 16, 17, 18][case % 9],
        assume_in_transaction: case.is_multiple_of(2),
        exclude: Vec::new(),
    };
    let file = [
        None,
        Some("db/001_x.sql"),
        Some("002.down.sql"),
        Some("V3__y.sql"),
    ][case % 4];
    let r = std::panic::catch_unwind(|| {
        let r = review(sql, file, &opts);
        for f in [Format::Text, Format::Json, Format::Github, Format::Sarif] {
            render(&r, f, &Extents::default());
        }
        r
    })
    .unwrap_or_else(|_| panic!("the review panicked on case {case} ({opts:?}, {file:?}): {sql:?}"));
    for f in &r.findings {
        assert!(f.line >= 1 && f.column >= 1, "{sql:?}: {f:?}");
    }
}

#[test]
fn generated_inputs_never_panic() {
    let cases: usize = std::env::var("SCHEMASHIFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for (i, sql) in FOUND.iter().enumerate() {
        check(sql, i);
    }
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for case in 0..cases {
        check(&soup(&mut rng), case);
    }
}
