//! Time estimates from the row count, anchored on measurements of PostgreSQL
//! 15 on a 2-core machine (app at 400 queries/s over 8 connections).

use crate::engine::Duration;

/// What the rates below were measured on, stated in every plan.
pub const BASIS: &str = "rates measured on PostgreSQL 15, 2 cores, with a live app at 400 queries/s: batched backfill about 200,000 rows/s (batches of 1,000-10,000, one transaction each); table rewrite about 1.1 s per million rows; CREATE INDEX CONCURRENTLY about 0.75 s per million rows (1.2-1.5x a plain build); VALIDATE of a CHECK about 0.1 s per million rows; catalog-only DDL about 5 ms once its lock is granted. Foreign-key validation is estimated at 1 s per million rows (an index probe per row; not measured). Scale by your hardware.";

/// Rows assumed when the user did not say.
pub const DEFAULT_ROWS: u64 = 1_000_000;

pub const BACKFILL_ROWS_PER_SECOND: f64 = 200_000.0;

/// Seconds one statement of this duration class takes on `rows` rows.
pub fn seconds(duration: Duration, rows: u64, fk_validation: bool) -> f64 {
    let m = rows as f64 / 1_000_000.0;
    let s = match duration {
        Duration::Brief => 0.005,
        Duration::Scan if fk_validation => 1.0 * m,
        Duration::Scan => 0.1 * m,
        Duration::Rewrite => 1.1 * m,
        Duration::IndexBuild => 0.75 * m,
        Duration::Statement => rows as f64 / BACKFILL_ROWS_PER_SECOND,
    };
    (s.max(0.001) * 1000.0).round() / 1000.0
}

/// Batched backfill time including the pause between batches.
pub fn backfill_seconds(rows: u64, batch_size: u64, pause_ms: u64) -> (u64, f64) {
    let batches = rows.div_ceil(batch_size.max(1));
    let secs = rows as f64 / BACKFILL_ROWS_PER_SECOND + batches as f64 * pause_ms as f64 / 1000.0;
    (batches, (secs * 10.0).round() / 10.0)
}
