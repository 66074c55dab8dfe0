//! The phases of each change type, built from the blocks in [`super::sql`].

use super::estimate::{self, DEFAULT_ROWS};
use super::sql::{self, guarded, keyset_backfill, object_name, KeysetBackfill, KeysetKey};
use super::*;
use crate::change::{singular, ColumnSpec, EnumOp, Fill};
use crate::engine::Duration;
use crate::ident::{literal_pg, quote_pg, Ident, QualifiedName};
use crate::pattern::Pattern;
use crate::schema::{Column, Table};
use crate::sqltext::is_volatile_default;

type R<T> = Result<T, PlanError>;

mod columns;
mod constraints;
mod convert;
mod enums;
mod planner;
mod reshape;
mod retype;
mod retype_key;
mod retype_release;
mod tables;

use columns::*;
use constraints::*;
use enums::*;
use planner::*;
use reshape::*;
use retype::*;
use retype_release::*;
use tables::*;

/// Builds every phase of the plan and the tables derived from them.
pub(super) fn build(
    change: &Change,
    ctx: &Context,
    s: &Settings,
    schema: Option<&Schema>,
    classification: Classification,
) -> R<Plan> {
    let (p, phases) = construct(change, ctx, s, schema, false)?;
    finish(p, change, classification, phases)
}

/// The phases of the plan, as [`build`] puts them in the plan, without the
/// estimates, runbook and tables built around them; with `outline`, the
/// phases after the first may hold only their kind and title.
pub(super) fn phases(
    change: &Change,
    ctx: &Context,
    s: &Settings,
    schema: Option<&Schema>,
    outline: bool,
) -> R<Vec<Phase>> {
    let (p, all) = construct(change, ctx, s, schema, outline)?;
    selected(&p, change, all)
}

/// `built` followed by phases holding only a kind and a title: the rest of
/// a plan in outline.
fn outlined(mut built: Vec<Phase>, rest: Vec<(PhaseKind, String)>) -> Vec<Phase> {
    built.extend(rest.into_iter().map(|(kind, title)| phase(kind, title, "")));
    built
}

/// Every phase of the change, numbered.
fn construct<'a>(
    change: &Change,
    ctx: &'a Context,
    s: &'a Settings,
    schema: Option<&'a Schema>,
    outline: bool,
) -> R<(Planner<'a>, Vec<Phase>)> {
    let rows = ctx.rows.unwrap_or(DEFAULT_ROWS);
    let mut p = Planner {
        ctx,
        s,
        schema,
        rows,
        assumptions: Vec::new(),
        risks: Vec::new(),
        backfill: None,
        outline,
        strategy: None,
    };
    if ctx.rows.is_none() {
        p.assume(format!(
            "about {DEFAULT_ROWS} rows (no row count given): estimates scale linearly"
        ));
    }
    if schema.is_none() {
        p.assume("no schema given: column types, NOT NULLs, defaults and indexes are not known; pass the CREATE TABLE DDL (schema / --schema) to have them carried over exactly");
    }
    let pattern = Pattern::for_change(change, ctx);
    let mut phases = match change {
        Change::AddColumn {
            table,
            column,
            data_type,
            default,
        } => add_column(
            &mut p,
            pattern,
            table,
            column,
            data_type,
            default.as_deref(),
        )?,
        Change::AddNotNullColumn {
            table,
            column,
            data_type,
            default,
            fill,
        } => add_not_null_column(
            &mut p,
            pattern,
            table,
            column,
            data_type,
            default.as_deref(),
            fill.as_ref(),
        )?,
        Change::DropColumn { table, column } => drop_column(&mut p, table, column)?,
        Change::RenameColumn {
            table,
            column,
            new_name,
        } => rename_column(&mut p, table, column, new_name)?,
        Change::ChangeColumnType {
            table,
            column,
            from_type,
            to_type,
            using,
        } => {
            let mut phases = change_type(
                &mut p,
                pattern,
                table,
                column,
                from_type.as_deref(),
                to_type,
                using.as_deref(),
            )?;
            // Without a schema the column might still be (part of) the
            // primary key or referenced by a foreign key, which a column
            // swap (not an in-place change) would drop: the catalog is
            // asked before anything is changed.
            if schema.is_none() {
                let t = p.table(table)?;
                let c = p.ident("column", column)?;
                let phases_len = phases.len();
                // The first phase that changes anything: a narrowing gate
                // before it only reads.
                let first = phases.iter_mut().find(|ph| !ph.forward.is_empty());
                if let (true, Some(first)) = (phases_len > 1, first) {
                    first
                        .forward
                        .insert(0, retype_key::not_a_key_guard(&p, &t, &c));
                }
            }
            phases
        }
        Change::SetNotNull { table, column } => set_not_null(&mut p, table, column)?,
        Change::DropNotNull { table, column } => drop_not_null(&mut p, table, column)?,
        Change::SetDefault {
            table,
            column,
            default,
        } => set_default(&mut p, table, column, default.as_deref())?,
        Change::AddIndex {
            table,
            columns,
            name,
            unique,
            method,
            predicate,
        } => add_index(
            &mut p,
            table,
            columns,
            name.as_deref(),
            *unique,
            method.as_deref(),
            predicate.as_deref(),
        )?,
        Change::DropIndex { name, table } => drop_index(&mut p, name, table.as_deref())?,
        Change::AddUniqueConstraint {
            table,
            columns,
            name,
        } => add_unique(&mut p, table, columns, name.as_deref(), false)?,
        Change::AddPrimaryKey {
            table,
            columns,
            name,
        } => add_unique(&mut p, table, columns, name.as_deref(), true)?,
        Change::AddForeignKey {
            table,
            columns,
            references_table,
            references_columns,
            name,
            on_delete,
        } => add_foreign_key(
            &mut p,
            table,
            columns,
            references_table,
            references_columns,
            name.as_deref(),
            on_delete.as_deref(),
        )?,
        Change::AddCheckConstraint {
            table,
            expression,
            name,
        } => add_check(&mut p, table, expression, name.as_deref())?,
        Change::SplitColumn {
            table,
            column,
            into,
        } => split_column(&mut p, table, column, into)?,
        Change::MergeColumns {
            table,
            columns,
            into,
            data_type,
            expression,
        } => merge_columns(
            &mut p,
            table,
            columns,
            into,
            data_type.as_deref(),
            expression.as_deref(),
        )?,
        Change::MoveColumn {
            column,
            from_table,
            to_table,
            data_type,
            key,
        } => move_column(
            &mut p,
            column,
            from_table,
            to_table,
            data_type.as_deref(),
            key.as_deref(),
        )?,
        Change::SplitTable {
            table,
            new_table,
            columns,
            key,
        } => split_table(&mut p, table, new_table, columns, key.as_deref())?,
        Change::MergeTables {
            table,
            other,
            columns,
            key,
        } => merge_tables(&mut p, table, other, columns, key.as_deref())?,
        Change::RenameTable { table, new_name } => rename_table(&mut p, table, new_name)?,
        Change::DropTable { table } => drop_table(&mut p, table)?,
        Change::CreateTable { table, columns } => create_table(&mut p, table, columns)?,
        Change::EnumChange {
            type_name,
            operation,
        } => enum_change(&mut p, type_name, operation)?,
        Change::BackfillOnly {
            table,
            column,
            fill,
            predicate,
        } => backfill_only(&mut p, table, column, fill, predicate.as_deref())?,
    };
    for (i, ph) in phases.iter_mut().enumerate() {
        ph.id = format!("p{}-{}", i + 1, ph.kind.as_str().replace('_', "-"));
    }
    Ok((p, phases))
}

/// The phases of the mode asked for, each with what should make the team
/// abort it.
fn selected(p: &Planner, change: &Change, mut all: Vec<Phase>) -> R<Vec<Phase>> {
    for ph in all.iter_mut().filter(|ph| !ph.forward.is_empty()) {
        if ph.forward.iter().any(|s| s.sql.contains("CREATE TRIGGER")) {
            ph.abort_when.push("app write latency or errors rise once the sync trigger is in place: run this phase's rollback (it drops the trigger)".into());
        }
        if ph.forward.iter().any(|s| s.sql.contains("lock_timeout"))
            && !ph.abort_when.iter().any(|a| a.contains("retries"))
        {
            ph.abort_when.push("a statement gives up after its retries: find the blocking transaction in pg_stat_activity, let it finish, run the step again".into());
        }
    }
    let keep: Vec<PhaseKind> = match p.s.mode {
        PlanMode::Plan => all.iter().map(|ph| ph.kind).collect(),
        PlanMode::Backfill => vec![PhaseKind::Backfill, PhaseKind::Validate],
        PlanMode::Cutover => vec![
            PhaseKind::CutoverReads,
            PhaseKind::CutoverWrites,
            PhaseKind::Deploy,
        ],
        PlanMode::Deprecate => vec![PhaseKind::Contract],
    };
    let chosen: Vec<bool> = all
        .iter()
        .enumerate()
        .map(|(i, ph)| {
            keep.contains(&ph.kind)
                // Deprecating includes the release that stops using the old shape.
                || (p.s.mode == PlanMode::Deprecate
                    && ph.kind == PhaseKind::Deploy
                    && all.get(i + 1).is_some_and(|next| next.kind == PhaseKind::Contract))
        })
        .collect();
    if !chosen.contains(&true) {
        return Err(PlanError::Unsupported(
            format!(
                "{} has no {:?} stage: its phases are {}; ask for the whole plan (mode plan)",
                change.change_type(),
                p.s.mode,
                all.iter()
                    .map(|ph| ph.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .to_lowercase(),
        ));
    }
    Ok(all
        .into_iter()
        .zip(chosen)
        .filter_map(|(ph, chosen)| chosen.then_some(ph))
        .collect())
}

fn finish(
    p: Planner,
    change: &Change,
    mut classification: Classification,
    all: Vec<Phase>,
) -> R<Plan> {
    classification.phases = all.iter().map(|ph| ph.kind).collect();
    if let Some(strategy) = &p.strategy {
        classification.strategy.clone_from(strategy);
    }
    let phases = selected(&p, change, all)?;
    let compatibility = phases
        .iter()
        .map(|ph| {
            let locks = ph
                .forward
                .iter()
                .map(|s| s.lock)
                .max()
                .unwrap_or(Lock::None);
            let heavy = ph
                .forward
                .iter()
                .any(|s| s.lock.conflicts_with_app() && s.scans_table);
            CompatRow {
                step: format!("{}: {}", ph.id, ph.title),
                backward_compatible: ph.data_loss.is_none(),
                risk: if ph.data_loss.is_some() {
                    Risk::High
                } else if heavy {
                    Risk::Medium
                } else {
                    Risk::Low
                },
                note: match (
                    &ph.data_loss,
                    ph.app
                        .iter()
                        .map(|a| a.version.as_str())
                        .collect::<Vec<_>>(),
                ) {
                    (Some(d), _) => format!("destructive: {d}"),
                    (None, live) => format!(
                        "live app versions: {}; strongest lock {} ({})",
                        if live.is_empty() {
                            "all".into()
                        } else {
                            live.join(", ")
                        },
                        locks,
                        locks.blocks()
                    ),
                },
            }
        })
        .collect();
    let lock_impact = phases
        .iter()
        .flat_map(|ph| {
            ph.forward
                .iter()
                .filter(|s| s.lock != Lock::None)
                .map(|s| LockImpact {
                    phase: ph.id.clone(),
                    statement: headline(&s.sql),
                    lock: s.lock,
                    blocks: s.blocks.clone(),
                    rewrites_table: s.rewrites_table,
                    scans_table: s.scans_table,
                    estimated_seconds: s.estimated_seconds,
                })
        })
        .collect();
    let (batches, backfill_seconds) = match &p.backfill {
        Some(_) => {
            let (b, s) = estimate::backfill_seconds(p.rows, p.s.batch_size, p.s.batch_pause_ms);
            (Some(b), Some(s))
        }
        None => (None, None),
    };
    let total: f64 = phases
        .iter()
        .flat_map(|ph| &ph.forward)
        .map(|s| s.estimated_seconds)
        .sum();
    let max_wait = phases
        .iter()
        .flat_map(|ph| &ph.forward)
        .filter(|s| s.lock.conflicts_with_app())
        .map(|s| {
            if s.sql.contains("lock_timeout") {
                s.estimated_seconds + p.s.lock_timeout_ms as f64 / 1000.0
            } else {
                s.estimated_seconds
            }
        })
        .fold(0.0, f64::max);
    let estimates = Estimates {
        rows: p.ctx.rows,
        batches,
        backfill_seconds,
        total_db_seconds: (total * 1000.0).round() / 1000.0,
        max_app_wait_seconds: (max_wait * 1000.0).round() / 1000.0,
        basis: estimate::BASIS.into(),
        load: match (batches, p.ctx.writes_per_second) {
            (Some(b), Some(w)) => format!("{b} batches of {} rows; each batch holds its rows' locks for milliseconds, adding about one extra write per row against {w} app writes/s", p.s.batch_size),
            (Some(b), None) => format!("{b} batches of {} rows, each its own short transaction; WAL and replication traffic grow by about the size of the rows rewritten", p.s.batch_size),
            (None, _) => "no backfill: catalog changes and index builds only".into(),
        },
    };
    let runbook = Runbook {
        pre_checks: vec![
            "a backup (or snapshot) taken today has been restored and checked somewhere else".into(),
            "the plan has been rehearsed on a copy with production-sized data, and the timings compared with the estimates".into(),
            "the window is off-peak, with the team that owns the app on hand".into(),
            "the connection pool has headroom: a stalled statement must not exhaust it (check max_connections and pool size)".into(),
            "no long-running transaction is open on the tables involved: SELECT pid, now() - xact_start AS age, state, query FROM pg_stat_activity WHERE xact_start < now() - interval '5 minutes' ORDER BY xact_start;".into(),
            "replication lag is near zero and disk has room for the WAL the change writes".into(),
        ],
        phases: phases
            .iter()
            .map(|ph| {
                let mut checklist = Vec::new();
                if !ph.app.is_empty() {
                    checklist.push(format!("live app versions: {}", ph.app.iter().map(|a| a.version.as_str()).collect::<Vec<_>>().join(", ")));
                }
                for (i, s) in ph.forward.iter().enumerate() {
                    checklist.push(format!(
                        "run forward step {} ({}{})",
                        i + 1,
                        if s.transactional { "in its own transaction" } else { "outside any transaction block" },
                        if s.lock.conflicts_with_app() { format!(", takes {} briefly, retries on lock timeout", s.lock) } else { String::new() }
                    ));
                }
                for c in &ph.validation {
                    checklist.push(format!("check `{}` returns {}", c.sql, c.expect));
                }
                checklist.extend(ph.advance_when.iter().map(|a| format!("advance when {a}")));
                ChecklistExt::push_data_loss(&mut checklist, &ph.data_loss);
                RunbookPhase { phase: format!("{}: {}", ph.id, ph.title), checklist }
            })
            .collect(),
    };
    let mut risks = p.risks;
    risks.extend(classification.red_flags.iter().cloned());
    Ok(Plan {
        schema_version: SCHEMA_VERSION,
        summary: format!(
            "{} in {} phase(s): {}",
            change.describe(),
            phases.len(),
            classification.strategy
        ),
        change_type: change.change_type(),
        change: change.clone(),
        mode: p.s.mode,
        dual_write: p.s.dual_write,
        invariants: classification.invariants.clone(),
        classification,
        assumptions: p.assumptions,
        compatibility,
        phases,
        lock_impact,
        backfill: p.backfill,
        estimates,
        runbook,
        risks,
    })
}

struct ChecklistExt;
impl ChecklistExt {
    fn push_data_loss(list: &mut Vec<String>, loss: &Option<String>) {
        if let Some(l) = loss {
            list.push(format!("DATA LOSS: {l}; confirm the backup before running"));
        }
    }
}

/// The statement a step is about, for tables: inside a DO block, the DDL line.
fn headline(sql: &str) -> String {
    const VERBS: &[&str] = &[
        "ALTER", "CREATE", "DROP", "CALL", "EXECUTE", "INSERT", "UPDATE",
    ];
    sql.lines()
        .map(str::trim)
        .find(|l| VERBS.iter().any(|v| l.starts_with(v)))
        .or_else(|| sql.lines().next())
        .unwrap_or("")
        .trim()
        .to_string()
}
