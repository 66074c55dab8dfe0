//! The migration's locks as the rehearsal sees them: which statements block
//! app writes, the lock_timeout a statement sets, and a sampler of the locks
//! the migration session holds or waits for and of who waits on it.

use super::script::ScriptStep;
use crate::engine::Lock;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

/// How often the migration's locks are sampled.
const LOCK_POLL: Duration = Duration::from_millis(5);

/// Whether a statement takes a lock that conflicts with app writes (and so
/// is the one to meet a long app transaction): when the plan says so, or
/// when the statement's leading words do (an edited plan's SQL may take a
/// stronger lock than its `lock` says), unless the plan says it locks no
/// app table at all.
pub(super) fn blocks_writes(step: &ScriptStep) -> bool {
    if step.lock == Some(Lock::None) {
        return false;
    }
    let planned = step.lock.is_some_and(|l| {
        matches!(
            l,
            Lock::Share | Lock::ShareRowExclusive | Lock::Exclusive | Lock::AccessExclusive
        )
    });
    let upper = step.sql.trim_start().to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().take(4).collect();
    let concurrent = upper.contains("CONCURRENTLY");
    let written = match words.as_slice() {
        // VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: writes go on.
        ["ALTER", "TABLE", ..] => !upper.contains("VALIDATE CONSTRAINT"),
        ["LOCK", ..] | ["TRUNCATE", ..] | ["CLUSTER", ..] => true,
        ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX", ..] => !concurrent,
        ["DROP", "INDEX", ..] | ["REINDEX", ..] | ["REFRESH", ..] => !concurrent,
        ["DROP", "TABLE", ..] | ["CREATE", "TRIGGER", ..] => true,
        ["VACUUM", "FULL", ..] | ["VACUUM", "(FULL", ..] => true,
        _ => false,
    };
    planned || written
}

static LOCK_TIMEOUT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)lock_timeout\s*(?:=|to)\s*'?\s*(\d+)\s*(ms|s|min)?")
        .expect("static regex")
});

/// The lock_timeout a statement sets for itself, in milliseconds.
pub(super) fn lock_timeout_ms(sql: &str) -> Option<u64> {
    let c = LOCK_TIMEOUT.captures(sql)?;
    let n: u64 = c[1].parse().ok()?;
    let ms = match c.get(2).map(|m| m.as_str().to_ascii_lowercase()).as_deref() {
        Some("s") => n * 1000,
        Some("min") => n * 60_000,
        _ => n,
    };
    (ms > 0).then_some(ms)
}

/// What the lock sampler saw while one statement ran.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Strongest mode held on an app table (or awaited, when never seen held).
    pub lock: Option<String>,
    /// Longest continuous wait of the statement for a lock on an app table.
    pub longest_wait_ms: f64,
    /// Longest continuous time some other session waited on the statement
    /// (`pg_blocking_pids`: behind its locks, or queued behind its request).
    pub longest_block_ms: f64,
}

/// A continuous condition's longest run, from samples.
#[derive(Default)]
struct Span {
    since: Option<Instant>,
    longest: f64,
}

impl Span {
    fn sample(&mut self, on: bool) {
        match (on, self.since) {
            (true, None) => self.since = Some(Instant::now()),
            (false, Some(since)) => {
                self.longest = self.longest.max(since.elapsed().as_secs_f64() * 1000.0);
                self.since = None;
            }
            _ => {}
        }
    }

    fn finish(mut self) -> f64 {
        self.sample(false);
        self.longest
    }
}

/// Samples the migration backend's locks on app tables, and who waits on
/// it, until `done`.
pub(super) async fn watch_locks(
    monitor: Arc<Client>,
    pid: i32,
    tables: BTreeSet<String>,
    done: Arc<AtomicBool>,
) -> Seen {
    let sql = format!(
        "SELECT 'lock', c.relname::text, l.mode, l.granted::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
          WHERE l.pid = {pid} AND l.locktype = 'relation' AND c.relkind IN ('r', 'p') \
         UNION ALL SELECT 'blocked', count(*)::text, NULL, NULL FROM pg_stat_activity \
          WHERE pid <> {pid} AND {pid} = ANY (pg_blocking_pids(pid))"
    );
    let mut strongest: Option<(usize, String)> = None;
    // A lock granted between two samples is only seen while it is awaited.
    let mut awaited: Option<(usize, String)> = None;
    let mut wait = Span::default();
    let mut block = Span::default();
    while !done.load(Ordering::SeqCst) {
        if let Ok(msgs) = monitor.simple_query(&sql).await {
            let mut waiting = false;
            let mut blocking = false;
            for m in msgs {
                let SimpleQueryMessage::Row(r) = m else {
                    continue;
                };
                match (r.get(0), r.get(1), r.get(2), r.get(3)) {
                    (Some("blocked"), Some(n), _, _) => blocking = n != "0",
                    (Some("lock"), Some(rel), Some(mode), Some(granted))
                        if tables.contains(rel) =>
                    {
                        let rank = lock_rank(mode);
                        let slot = if granted == "true" {
                            &mut strongest
                        } else {
                            waiting = true;
                            &mut awaited
                        };
                        if slot.as_ref().is_none_or(|(r, _)| rank > *r) {
                            *slot = Some((rank, mode.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            wait.sample(waiting);
            block.sample(blocking);
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
    let lock = match (strongest, awaited) {
        (Some((g, m)), Some((a, _))) if g >= a => Some(m),
        (_, Some((_, m))) => Some(format!("{m} (waited for)")),
        (Some((_, m)), None) => Some(m),
        (None, None) => None,
    };
    Seen {
        lock,
        longest_wait_ms: wait.finish(),
        longest_block_ms: block.finish(),
    }
}

pub(super) fn lock_rank(mode: &str) -> usize {
    [
        "AccessShareLock",
        "RowShareLock",
        "RowExclusiveLock",
        "ShareUpdateExclusiveLock",
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    ]
    .iter()
    .position(|m| *m == mode)
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_are_read_from_the_sql() {
        assert_eq!(
            lock_timeout_ms("SET LOCAL lock_timeout = '2000ms';"),
            Some(2000)
        );
        assert_eq!(lock_timeout_ms("set lock_timeout to '3s'"), Some(3000));
        assert_eq!(lock_timeout_ms("SET lock_timeout = 0"), None);
        assert_eq!(lock_timeout_ms("ALTER TABLE t ADD c int"), None);
    }

    #[test]
    fn statements_that_block_writes() {
        let s = |sql: &str| ScriptStep {
            sql: sql.into(),
            lock: None,
        };
        assert!(blocks_writes(&s("CREATE INDEX i ON t (c)")));
        assert!(!blocks_writes(&s("CREATE INDEX CONCURRENTLY i ON t (c)")));
        assert!(blocks_writes(&s("alter table t rename column a to b")));
        assert!(!blocks_writes(&s("UPDATE t SET a = b")));
        assert!(blocks_writes(&ScriptStep {
            sql: "DO $$ ... $$".into(),
            lock: Some(Lock::AccessExclusive)
        }));
        assert!(!blocks_writes(&ScriptStep {
            sql: "ALTER TABLE t VALIDATE CONSTRAINT c".into(),
            lock: Some(Lock::ShareUpdateExclusive)
        }));
        // The SQL wins over a plan whose lock was not edited with it.
        assert!(blocks_writes(&ScriptStep {
            sql: "CREATE INDEX i ON t (c)".into(),
            lock: Some(Lock::ShareUpdateExclusive)
        }));
    }

    #[test]
    fn lock_modes_rank_by_strength() {
        assert!(lock_rank("AccessExclusiveLock") > lock_rank("ShareLock"));
        assert!(lock_rank("ShareLock") > lock_rank("RowExclusiveLock"));
    }
}
