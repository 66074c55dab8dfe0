//! The decision matrix in code: which rollout pattern a change needs, the
//! phases that pattern runs through, and how big a job it is. The classifier
//! reports it and the planner builds exactly these phases (a test keeps them
//! in agreement, and another keeps `references/change-type-decision-matrix.md`
//! in step with the change types).

use crate::change::{Change, EnumOp};
use crate::context::{Context, Engine};
use crate::engine::postgres::{type_change, TypeChange};
use crate::sqltext::is_volatile_default;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of phase a plan is made of, in the order they can occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Additive schema change old app versions do not notice.
    Expand,
    /// An application release (dual write, stop using a column...).
    Deploy,
    /// Fill existing rows in batches.
    Backfill,
    /// Prove and enforce: validate constraints, compare old and new.
    Validate,
    /// Switch writes to the new shape.
    CutoverWrites,
    /// Switch reads to the new shape.
    CutoverReads,
    /// Remove what nothing uses any more.
    Contract,
}

impl PhaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Expand => "expand",
            PhaseKind::Deploy => "deploy",
            PhaseKind::Backfill => "backfill",
            PhaseKind::Validate => "validate",
            PhaseKind::CutoverWrites => "cutover_writes",
            PhaseKind::CutoverReads => "cutover_reads",
            PhaseKind::Contract => "contract",
        }
    }
}

/// How old and new shapes are kept in sync while both are live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DualWrite {
    /// A database trigger keeps old and new in sync both ways, so old and new
    /// app versions can run side by side without app code for it (default).
    #[default]
    Trigger,
    /// The application writes both during the window.
    App,
}

/// How much rollout work a change is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Complexity {
    /// One safe deploy.
    Small,
    /// A batched backfill, a multi-step constraint or index sequence, or one
    /// ordering constraint with an app deploy.
    Medium,
    /// Full expand/contract over three or more steps.
    Large,
}

/// A row of the decision matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// One catalog-only statement under a brief lock, with lock_timeout and retry.
    InstantDdl,
    /// Nullable column, then SET DEFAULT, then a batched backfill (volatile default, or any default before PG 11).
    AddThenBackfill,
    /// Nullable column, app writes it, batched backfill, then NOT NULL through a validated CHECK.
    AddRequiredColumn,
    /// App stops writing NULL, then CHECK NOT VALID, VALIDATE, SET NOT NULL, drop the CHECK.
    NotNullViaCheck,
    /// Relax the column first, then release the app that writes NULL.
    RelaxThenRelease,
    /// CREATE INDEX CONCURRENTLY outside a transaction, with invalid-index cleanup.
    ConcurrentIndex,
    /// DROP INDEX CONCURRENTLY outside a transaction.
    ConcurrentIndexDrop,
    /// Unique index built concurrently, then ADD CONSTRAINT ... USING INDEX.
    ConstraintUsingIndex,
    /// ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in its own transaction.
    NotValidThenValidate,
    /// Stop all reads and writes in the app, then drop.
    StopUsingThenDrop,
    /// New column(s), dual write (app or trigger), backfill, switch reads, switch writes, drop the old.
    ExpandContract,
    /// New column of the new type kept in sync, backfill, swap names in one short transaction, drop the old.
    ColumnSwap,
    /// Rename plus an updatable view under the old name until every app uses the new one.
    RenameWithView,
    /// ADD VALUE committed in its own step before any app release uses it.
    EnumAddValue,
    /// Add the new label, move rows and writers to it; the old label stays unused.
    EnumRelabel,
    /// Keyset batches by primary key, one transaction each, idempotent and resumable.
    BatchedBackfill,
    /// A new, empty table: nothing the app uses is locked.
    NewTable,
}

impl Pattern {
    pub fn id(self) -> &'static str {
        match self {
            Pattern::InstantDdl => "instant_ddl",
            Pattern::AddThenBackfill => "add_then_backfill",
            Pattern::AddRequiredColumn => "add_required_column",
            Pattern::NotNullViaCheck => "not_null_via_check",
            Pattern::RelaxThenRelease => "relax_then_release",
            Pattern::ConcurrentIndex => "concurrent_index",
            Pattern::ConcurrentIndexDrop => "concurrent_index_drop",
            Pattern::ConstraintUsingIndex => "constraint_using_index",
            Pattern::NotValidThenValidate => "not_valid_then_validate",
            Pattern::StopUsingThenDrop => "stop_using_then_drop",
            Pattern::ExpandContract => "expand_contract",
            Pattern::ColumnSwap => "column_swap",
            Pattern::RenameWithView => "rename_with_view",
            Pattern::EnumAddValue => "enum_add_value",
            Pattern::EnumRelabel => "enum_relabel",
            Pattern::BatchedBackfill => "batched_backfill",
            Pattern::NewTable => "new_table",
        }
    }

    /// The phases of the pattern, in order. With a trigger keeping old and
    /// new in sync, expand/contract needs no dual-write release of its own.
    pub fn phases(self, dual_write: DualWrite) -> &'static [PhaseKind] {
        use PhaseKind::*;
        match self {
            Pattern::ExpandContract if dual_write == DualWrite::Trigger => &[
                Expand,
                Backfill,
                Validate,
                CutoverReads,
                CutoverWrites,
                Contract,
            ],
            Pattern::InstantDdl | Pattern::ConcurrentIndex | Pattern::NewTable => &[Expand],
            Pattern::ConcurrentIndexDrop => &[Contract],
            Pattern::AddThenBackfill => &[Expand, Backfill],
            Pattern::AddRequiredColumn => &[Expand, Deploy, Backfill, Validate],
            Pattern::NotNullViaCheck => &[Deploy, Validate],
            Pattern::RelaxThenRelease => &[Expand, Deploy],
            Pattern::ConstraintUsingIndex | Pattern::NotValidThenValidate => &[Expand, Validate],
            Pattern::StopUsingThenDrop => &[Deploy, Contract],
            Pattern::ExpandContract => &[
                Expand,
                Deploy,
                Backfill,
                Validate,
                CutoverReads,
                CutoverWrites,
                Contract,
            ],
            Pattern::ColumnSwap => &[Expand, Backfill, Validate, CutoverWrites, Contract],
            Pattern::RenameWithView => &[Expand, Deploy, Contract],
            Pattern::EnumAddValue => &[Expand, Deploy],
            Pattern::EnumRelabel => &[Expand, Deploy, Backfill],
            Pattern::BatchedBackfill => &[Backfill, Validate, Contract],
        }
    }

    pub fn complexity(self) -> Complexity {
        match self {
            Pattern::InstantDdl
            | Pattern::ConcurrentIndex
            | Pattern::ConcurrentIndexDrop
            | Pattern::NewTable => Complexity::Small,
            Pattern::ExpandContract
            | Pattern::ColumnSwap
            | Pattern::RenameWithView
            | Pattern::EnumRelabel => Complexity::Large,
            _ => Complexity::Medium,
        }
    }

    /// The strategy in a sentence, for people.
    pub fn strategy(self) -> &'static str {
        match self {
            Pattern::InstantDdl => "one catalog-only statement in a single deploy, guarded by lock_timeout with retries",
            Pattern::AddThenBackfill => "add the column without a default, set the default for new rows, then backfill existing rows in keyset batches",
            Pattern::AddRequiredColumn => "add the column nullable, release the app that writes it, backfill in batches, then enforce NOT NULL through a validated CHECK",
            Pattern::NotNullViaCheck => "make every app version write a value, then add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, SET NOT NULL without a scan, drop the CHECK",
            Pattern::RelaxThenRelease => "relax the constraint first (instant), then release the app version that relies on it",
            Pattern::ConcurrentIndex => "CREATE INDEX CONCURRENTLY outside any transaction block; drop and retry an INVALID index left by a failed build",
            Pattern::ConcurrentIndexDrop => "check nothing depends on the index, then DROP INDEX CONCURRENTLY outside any transaction block",
            Pattern::ConstraintUsingIndex => "build the unique index concurrently, then attach it with ADD CONSTRAINT ... USING INDEX under a brief lock",
            Pattern::NotValidThenValidate => "add the constraint NOT VALID (brief lock, new rows checked), then VALIDATE CONSTRAINT in its own transaction without blocking writes",
            Pattern::StopUsingThenDrop => "release an app version that neither reads nor writes it, wait until no old version runs, then drop under lock_timeout",
            Pattern::ExpandContract => "expand with the new shape, keep old and new in sync (dual write), backfill, switch reads, switch writes, then contract",
            Pattern::ColumnSwap => "add a shadow column of the new type kept in sync by a trigger, backfill, swap the names in one short transaction, then drop the old column",
            Pattern::RenameWithView => "rename the table and leave an updatable view under the old name in the same transaction; drop the view after every app uses the new name",
            Pattern::EnumAddValue => "add the value in its own committed step, then release the app that writes it",
            Pattern::EnumRelabel => "add the new label, release the app that writes it and reads both, then move existing rows in batches",
            Pattern::BatchedBackfill => "update in keyset batches by primary key, one transaction each, only rows still to do, throttled and resumable",
            Pattern::NewTable => "create the table (and its indexes while it is empty) in one deploy; release the app that uses it afterwards",
        }
    }

    /// Picks the pattern for a change on an engine version.
    pub fn for_change(change: &Change, ctx: &Context) -> Pattern {
        let v = ctx.version();
        let pg = ctx.engine == Engine::Postgres;
        match change {
            Change::AddColumn {
                default: Some(d), ..
            } if is_volatile_default(d) || (pg && v < 11) => Pattern::AddThenBackfill,
            Change::AddColumn { .. } => Pattern::InstantDdl,
            Change::AddNotNullColumn {
                default: Some(d),
                fill: None,
                ..
            } if !is_volatile_default(d) && (!pg || v >= 11) => Pattern::InstantDdl,
            Change::AddNotNullColumn { .. } => Pattern::AddRequiredColumn,
            Change::DropColumn { .. } | Change::DropTable { .. } => Pattern::StopUsingThenDrop,
            Change::RenameColumn { .. }
            | Change::SplitColumn { .. }
            | Change::MergeColumns { .. }
            | Change::MoveColumn { .. }
            | Change::SplitTable { .. }
            | Change::MergeTables { .. } => Pattern::ExpandContract,
            Change::ChangeColumnType {
                from_type,
                to_type,
                using,
                ..
            } => match (using, type_change(from_type.as_deref(), to_type)) {
                (None, TypeChange::NoRewrite | TypeChange::Same) if pg => Pattern::InstantDdl,
                _ => Pattern::ColumnSwap,
            },
            Change::SetNotNull { .. } => Pattern::NotNullViaCheck,
            Change::DropNotNull { .. } => Pattern::RelaxThenRelease,
            Change::SetDefault { .. } => Pattern::InstantDdl,
            Change::AddIndex { .. } => Pattern::ConcurrentIndex,
            Change::DropIndex { .. } => Pattern::ConcurrentIndexDrop,
            Change::AddUniqueConstraint { .. } | Change::AddPrimaryKey { .. } => {
                Pattern::ConstraintUsingIndex
            }
            Change::AddForeignKey { .. } | Change::AddCheckConstraint { .. } => {
                Pattern::NotValidThenValidate
            }
            Change::RenameTable { .. } => Pattern::RenameWithView,
            Change::CreateTable { .. } => Pattern::NewTable,
            Change::EnumChange {
                operation: EnumOp::AddValue { .. },
                ..
            } => Pattern::EnumAddValue,
            Change::EnumChange { .. } => Pattern::EnumRelabel,
            Change::BackfillOnly { .. } => Pattern::BatchedBackfill,
        }
    }
}
