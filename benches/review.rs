//! Review throughput: a generated 2 MB, 20,000-statement migration (ALTER
//! TABLE in its many forms, CREATE INDEX, UPDATEs, comments, DO blocks,
//! transactions) reviewed and written as JSON, as the command line writes it.
//! Prints MB/s (target: at least
//! 10) and the process's peak resident memory (target: under 50 MB).
//! Run with `cargo bench --bench review`; `cargo bench --bench review --
//! --write FILE` writes the migration to FILE instead, to review it with the
//! command line (`schemashift review --format json FILE`). The allocator is
//! the library's, as in the binary: jemalloc by default, the system's with
//! `--no-default-features`.

use schemashift::review::files::{review_inputs, Input};
use schemashift::review::{format, rules, sources, Ctx, ReviewOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};

const STATEMENTS: usize = 20_000;
const TARGET_BYTES: usize = 2 * 1024 * 1024;

/// Deterministic pseudo-random numbers (no dependency, same file every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TABLES: &[&str] = &[
    "users",
    "orders",
    "invoices",
    "accounts",
    "line_items",
    "payments",
    "public.events",
    "audit_log",
];
const COLUMNS: &[&str] = &[
    "status",
    "amount",
    "email",
    "created_at",
    "org_id",
    "notes",
    "external_ref",
    "score",
];
const TYPES: &[&str] = &[
    "bigint",
    "text",
    "varchar(255)",
    "numeric(12,2)",
    "timestamptz",
    "boolean",
    "jsonb",
    "integer",
];

/// One statement of a realistic migration, in one of many forms.
fn statement(rng: &mut Rng, i: usize) -> String {
    let t = TABLES[rng.below(TABLES.len())];
    let c = COLUMNS[rng.below(COLUMNS.len())];
    let ty = TYPES[rng.below(TYPES.len())];
    match rng.below(22) {
        0 => format!("ALTER TABLE {t} ADD COLUMN {c}_{i} {ty};"),
        1 => format!("ALTER TABLE {t} ADD COLUMN {c}_{i} {ty} NOT NULL DEFAULT 0;"),
        2 => format!("ALTER TABLE {t} ADD COLUMN {c}_{i} timestamptz DEFAULT now();"),
        3 => format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty} USING {c}::{ty};"),
        4 => format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;"),
        5 => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT 'pending';"),
        6 => format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {c}_{i};"),
        7 => format!("ALTER TABLE {t} RENAME COLUMN {c} TO {c}_{i};"),
        8 => format!(
            "ALTER TABLE {t} ADD CONSTRAINT {c}_{i}_fk FOREIGN KEY ({c}) REFERENCES accounts (id) NOT VALID;"
        ),
        9 => format!("ALTER TABLE {t} VALIDATE CONSTRAINT {c}_{i}_fk;"),
        10 => format!(
            "ALTER TABLE {t} ADD CONSTRAINT {c}_{i}_check CHECK ({c} IS NOT NULL) NOT VALID;"
        ),
        11 => format!("CREATE INDEX idx_{i} ON {t} ({c});"),
        12 => format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_{i} ON {t} ({c}, created_at);"),
        13 => format!("CREATE UNIQUE INDEX CONCURRENTLY uq_{i} ON {t} (lower({c})) WHERE deleted_at IS NULL;"),
        14 => format!("DROP INDEX CONCURRENTLY IF EXISTS idx_{};", i / 2),
        15 => format!(
            "UPDATE {t} SET {c} = 'migrated' WHERE id BETWEEN {} AND {} AND {c} IS NULL;",
            i * 1000,
            i * 1000 + 999
        ),
        16 => format!(
            "CREATE TABLE new_table_{i} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    {c} {ty},\n    created_at timestamptz NOT NULL DEFAULT now()\n);"
        ),
        17 => format!("CREATE INDEX ON new_table_{} ({c});", i.saturating_sub(1)),
        18 => format!(
            "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'status_{i}') THEN\n        CREATE TYPE status_{i} AS ENUM ('a', 'b; c');\n    END IF;\nEND\n$$;"
        ),
        19 => "SET lock_timeout = '2s';".to_string(),
        20 => format!("COMMENT ON COLUMN {t}.{c} IS 'the {c}; kept for reports';"),
        _ => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT, ALTER COLUMN {c} DROP NOT NULL;"),
    }
}

/// The migration: 20,000 statements padded with comments to 2 MB, with
/// some statements grouped in explicit transactions.
fn migration() -> String {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let stmts: Vec<String> = (0..STATEMENTS).map(|i| statement(&mut rng, i)).collect();
    let bare: usize = stmts.iter().map(|s| s.len() + 1).sum();
    // Comment padding per statement, grown until the text reaches the target.
    let mut pad = TARGET_BYTES.saturating_sub(bare) / STATEMENTS;
    loop {
        let sql = padded(&stmts, pad);
        if sql.len() >= TARGET_BYTES {
            return sql;
        }
        pad += 1;
    }
}

fn padded(stmts: &[String], pad: usize) -> String {
    let mut out = String::with_capacity(TARGET_BYTES + 4096);
    let mut in_txn = false;
    for (i, s) in stmts.iter().enumerate() {
        if i % 50 == 0 && !in_txn && !s.starts_with("CREATE INDEX CONCURRENTLY") {
            // BEGIN and COMMIT count among the statements: replace rather than add.
            out.push_str("BEGIN;\n");
            in_txn = true;
            continue;
        }
        if in_txn && i % 50 == 10 {
            out.push_str("COMMIT;\n");
            in_txn = false;
            continue;
        }
        if pad > 4 {
            let note = format!("-- step {i}: ");
            out.push_str(&note);
            let fill = pad.saturating_sub(note.len() + 1);
            out.extend(std::iter::repeat_n('x', fill));
            out.push('\n');
        }
        out.push_str(s);
        out.push('\n');
    }
    if in_txn {
        out.push_str("COMMIT;\n");
    }
    out
}

/// A writer that only counts the bytes written to it.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += black_box(buf).len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Peak resident memory of this process, in kB (Linux).
fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM:")
}

/// A memory figure of /proc/self/status, in kB (Linux).
fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let sql = migration();
    let mut args = std::env::args().skip_while(|a| a != "--write");
    if let Some(path) = args.nth(1) {
        std::fs::write(&path, &sql).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        println!("review: wrote the {} byte migration to {path}", sql.len());
        return;
    }
    let mb = sql.len() as f64 / (1024.0 * 1024.0);
    let opts = ReviewOptions::default();
    let inputs = [Input {
        name: "db/migrate/20260101000000_big.sql".into(),
        text: sql,
        lossy: false,
    }];
    let mut times = Vec::new();
    let mut last = (0usize, 0usize, 0usize);
    for _ in 0..5 {
        let t = Instant::now();
        let review = review_inputs(black_box(&inputs), &opts);
        // Written as `schemashift review --format json` writes it to stdout.
        let mut out = Counted(0);
        format::write(
            &mut out,
            &review,
            format::Format::Json,
            &format::Extents::default(),
        )
        .expect("counting never fails");
        times.push(t.elapsed());
        last = (review.statements, review.findings.len(), out.0);
    }
    times.sort_unstable();
    let median: Duration = times[times.len() / 2];
    let speed = mb / median.as_secs_f64();
    let peak_mb = peak_rss_kb().map(|kb| kb as f64 / 1024.0);
    println!(
        "review: {:.2} MB, {} statements, {} findings, {:.1} MB of JSON",
        mb,
        last.0,
        last.1,
        last.2 as f64 / (1024.0 * 1024.0)
    );
    println!(
        "review: median {:.0} ms over {} runs (best {:.0} ms) = {:.1} MB/s (target >= 10 MB/s: {})",
        median.as_secs_f64() * 1000.0,
        times.len(),
        times[0].as_secs_f64() * 1000.0,
        speed,
        if speed >= 10.0 { "met" } else { "MISSED" }
    );
    match peak_mb {
        Some(p) => println!(
            "review: peak memory (VmHWM) {p:.1} MB (target < 50 MB: {})",
            if p < 50.0 { "met" } else { "MISSED" }
        ),
        None => println!("review: peak memory unknown (no /proc/self/status)"),
    }
    breakdown(&inputs[0].text, &opts);
}

/// Where the time goes: splitting and parsing the whole file at once (with
/// the rules' facts about it), each rule over every statement, and the JSON
/// rendering. A review proper streams the file a chunk at a time instead,
/// parsing ahead of the rules.
fn breakdown(sql: &str, opts: &ReviewOptions) {
    let rss_before = status_kb("VmRSS:");
    let t = Instant::now();
    let up = sources::up_section(sql, None);
    let ctx = Ctx::new(up.text, up.line_offset, opts, up.in_transaction);
    let context = t.elapsed();
    if let (Some(a), Some(b)) = (rss_before, status_kb("VmRSS:")) {
        println!(
            "breakdown: the whole file parsed at once holds about {:.0} MB (a review holds a few chunks)",
            b.saturating_sub(a) as f64 / 1024.0
        );
    }
    let mut per_rule: Vec<(Duration, &str, usize)> = Vec::new();
    let mut findings = Vec::new();
    for rule in rules::ALL
        .iter()
        .filter(|r| r.engines.contains(&opts.engine))
    {
        let before = findings.len();
        let t = Instant::now();
        for stmt in &ctx.stmts {
            (rule.check)(&ctx, stmt, &mut findings);
        }
        per_rule.push((t.elapsed(), rule.id, findings.len() - before));
    }
    let rules_total: Duration = per_rule.iter().map(|r| r.0).sum();
    let review = schemashift::review::Review::from_findings(findings, ctx.stmts.len());
    let t = Instant::now();
    black_box(format::json(&review));
    let json = t.elapsed();
    println!(
        "breakdown: context (split + parse + keywords) {:.0} ms, {} rules {:.0} ms, JSON {:.0} ms",
        context.as_secs_f64() * 1000.0,
        per_rule.len(),
        rules_total.as_secs_f64() * 1000.0,
        json.as_secs_f64() * 1000.0
    );
    per_rule.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (d, id, n) in per_rule.iter().take(8) {
        println!(
            "breakdown:   {:>7.1} ms  {id} ({n} findings)",
            d.as_secs_f64() * 1000.0
        );
    }
}
