//! What each engine and version does with each DDL form: the lock it takes,
//! whether it rewrites or scans the table, and what that blocks. One source of
//! truth for the classifier, the planner and the reviewer.

pub mod mysql;
pub mod postgres;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// PostgreSQL table-level lock modes, weakest first, plus the MySQL metadata
/// lock states that matter for online DDL.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Lock {
    /// No lock on any table the application uses.
    #[serde(rename = "none")]
    None,
    #[serde(rename = "ACCESS SHARE")]
    AccessShare,
    #[serde(rename = "ROW SHARE")]
    RowShare,
    #[serde(rename = "ROW EXCLUSIVE")]
    RowExclusive,
    #[serde(rename = "SHARE UPDATE EXCLUSIVE")]
    ShareUpdateExclusive,
    #[serde(rename = "SHARE")]
    Share,
    #[serde(rename = "SHARE ROW EXCLUSIVE")]
    ShareRowExclusive,
    #[serde(rename = "EXCLUSIVE")]
    Exclusive,
    #[serde(rename = "ACCESS EXCLUSIVE")]
    AccessExclusive,
    /// MySQL: a brief exclusive metadata lock at start and end, DML allowed between.
    #[serde(rename = "MDL EXCLUSIVE (brief)")]
    MdlBrief,
    /// MySQL: writes blocked for the whole copy (ALGORITHM=COPY / LOCK=SHARED).
    #[serde(rename = "MDL SHARED NO WRITE")]
    MdlSharedNoWrite,
}

impl Lock {
    pub fn as_str(self) -> &'static str {
        match self {
            Lock::None => "none",
            Lock::AccessShare => "ACCESS SHARE",
            Lock::RowShare => "ROW SHARE",
            Lock::RowExclusive => "ROW EXCLUSIVE",
            Lock::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Lock::Share => "SHARE",
            Lock::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Lock::Exclusive => "EXCLUSIVE",
            Lock::AccessExclusive => "ACCESS EXCLUSIVE",
            Lock::MdlBrief => "MDL EXCLUSIVE (brief)",
            Lock::MdlSharedNoWrite => "MDL SHARED NO WRITE",
        }
    }

    /// What the lock blocks for the application while it is held or queued.
    pub fn blocks(self) -> &'static str {
        match self {
            Lock::None | Lock::AccessShare | Lock::RowShare | Lock::RowExclusive => "nothing",
            Lock::ShareUpdateExclusive => {
                "other DDL, VACUUM and concurrent index builds on the table (not reads or writes)"
            }
            Lock::Share | Lock::ShareRowExclusive => "writes (INSERT, UPDATE, DELETE)",
            Lock::Exclusive => "writes and SELECT ... FOR UPDATE",
            Lock::AccessExclusive => "reads and writes",
            Lock::MdlBrief => {
                "reads and writes for a moment at start and end (queued behind open transactions)"
            }
            Lock::MdlSharedNoWrite => "writes",
        }
    }

    /// Whether ordinary application reads or writes conflict with this lock,
    /// so that a waiting request queues the app behind it: the statements
    /// that need `lock_timeout` and a retry.
    pub fn conflicts_with_app(self) -> bool {
        matches!(
            self,
            Lock::Share
                | Lock::ShareRowExclusive
                | Lock::Exclusive
                | Lock::AccessExclusive
                | Lock::MdlBrief
                | Lock::MdlSharedNoWrite
        )
    }
}

impl std::fmt::Display for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a lock is held relative to the table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// Catalog-only change: milliseconds, once the lock is granted.
    Brief,
    /// Held while every row is read (a scan).
    Scan,
    /// Held while the table and its indexes are rewritten.
    Rewrite,
    /// Held while an index is built.
    IndexBuild,
    /// Held for the length of one data-changing statement (row locks).
    Statement,
}

/// The facts of one DDL form on one engine version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LockFacts {
    /// The statement form these facts describe, e.g. `ALTER TABLE users RENAME COLUMN username TO handle`.
    pub statement: String,
    /// The strongest lock taken on the changed table.
    pub lock: Lock,
    /// Other tables locked, with their lock (foreign keys lock the referenced table too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_locks: Vec<String>,
    /// Whether the table (and its indexes) are rewritten.
    pub rewrites_table: bool,
    /// Whether every row is read while the lock is held.
    pub scans_table: bool,
    /// What the application cannot do while the lock is held or queued.
    pub blocks: String,
    /// How long the lock is held.
    pub duration: Duration,
    /// Version notes and caveats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl LockFacts {
    pub fn new(statement: impl Into<String>, lock: Lock, duration: Duration) -> Self {
        LockFacts {
            statement: statement.into(),
            lock,
            also_locks: Vec::new(),
            rewrites_table: duration == Duration::Rewrite,
            scans_table: matches!(
                duration,
                Duration::Scan | Duration::Rewrite | Duration::IndexBuild
            ),
            blocks: lock.blocks().to_string(),
            duration,
            notes: Vec::new(),
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn also(mut self, what: impl Into<String>) -> Self {
        self.also_locks.push(what.into());
        self
    }

    /// Whether the statement holds a lock that stops the app for longer than a moment.
    pub fn stalls_app(&self) -> bool {
        self.lock.conflicts_with_app() && self.duration != Duration::Brief
    }
}

/// Names and values of the naive statements in [`LockFacts::statement`],
/// quoted for the engine: they are shown to people who copy them, so a name
/// like `users; drop table x; --` or a label with a `'` must stay one name
/// or one literal there, as it does in the plan's own SQL.
pub(crate) struct Naive {
    pub engine: crate::context::Engine,
}

impl Naive {
    /// A table, type or index name, schema first when given.
    pub fn name(&self, raw: &str) -> String {
        crate::ident::display_name(raw, self.engine)
    }

    /// Column names, comma-separated.
    pub fn names(&self, raw: &[String]) -> String {
        raw.iter()
            .map(|c| self.name(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Index key parts: names quoted, expressions (checked SQL) as given.
    pub fn key_parts(&self, raw: &[String]) -> String {
        raw.iter()
            .map(|p| {
                if crate::change::is_plain_identifier(p) {
                    self.name(p)
                } else {
                    format!("({p})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A string literal (an enum label).
    pub fn literal(&self, value: &str) -> String {
        crate::ident::literal(self.engine, value)
    }
}
