//! The review rules, one per file. Each file opens with its documentation
//! (what it finds, why it hurts, what to write instead) as `//!` lines, which
//! `schemashift rules` prints and the README's rule table is generated from.

use super::context::{new_fact, FactKind};
use super::{Ctx, Finding, Severity, Stmt};
use crate::context::Engine;
use crate::engine::Lock;

mod add_check_validating;
mod add_column_default_pre_pg11;
mod add_column_volatile_default;
mod add_exclusion_constraint;
mod add_foreign_key_validating;
mod add_not_null_column_without_default;
mod add_primary_key_builds_index;
mod add_serial_or_identity_column;
mod add_stored_generated_column;
mod add_unique_constraint_builds_index;
mod attach_partition_scans;
mod backfill_in_same_transaction_as_ddl;
mod column_type_change_recheck;
mod column_type_change_rewrite;
mod concurrent_index_in_transaction;
mod create_index_non_concurrent;
mod detach_partition_non_concurrent;
mod drop_column;
mod drop_database;
mod drop_index_non_concurrent;
mod drop_schema_cascade;
mod drop_table;
mod drop_view;
mod enum_add_value_in_transaction;
mod missing_lock_timeout;
mod mysql_add_index_locking;
mod mysql_copy_algorithm_ddl;
mod mysql_missing_lock_wait_timeout;
mod refresh_matview_non_concurrent;
mod reindex_non_concurrent;
mod rename_column;
mod rename_enum_value;
mod rename_schema;
mod rename_table;
mod rename_type;
pub(crate) mod rename_view;
mod scan_after_ddl_in_transaction;
mod set_logged_or_unlogged;
mod set_not_null_without_check;
pub(crate) mod set_tablespace_or_access_method;
mod tokens;
mod truncate_cascade;
mod unbatched_backfill;
pub(crate) mod unchecked_file;
mod unparsed_statement;
mod vacuum_full_or_cluster;
mod vacuum_in_transaction;
mod validate_in_same_transaction;

/// A rule: a stable id, its severity, and the check.
pub struct Rule {
    /// Stable kebab-case id, named in CI configurations and ignore comments.
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what it finds.
    pub summary: &'static str,
    /// The rule's source file; its leading `//!` lines are its documentation.
    pub source: &'static str,
    /// Engines the rule applies to.
    pub engines: &'static [Engine],
    pub check: fn(&Ctx, &Stmt, &mut Vec<Finding>),
}

impl Rule {
    /// The documentation: the leading `//!` lines of the rule's file.
    pub fn doc(&self) -> String {
        self.source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| {
                l.trim_start_matches("//!")
                    .strip_prefix(' ')
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A finding of this rule on a statement.
    pub fn finding(&self, stmt: &Stmt, message: String) -> Finding {
        Finding {
            rule: self.id.to_string(),
            severity: self.severity,
            message,
            file: None,
            line: stmt.line,
            column: stmt.column,
            statement: stmt.snippet(),
            fix: None,
            table: None,
            lock: None,
        }
    }
}

/// Builder sugar used by the rules.
impl Finding {
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn on_table(mut self, table: impl Into<String>, lock: Lock) -> Self {
        self.table = Some(table.into());
        self.lock = Some(lock);
        self
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
}

pub(crate) const PG: &[Engine] = &[Engine::Postgres];

/// The safe alternative for a change, from the planner itself (so review and
/// plan never disagree): the phases in one line each, then the SQL of the
/// first phase, then the command that prints the whole plan.
pub(crate) fn planned_fix(ctx: &Ctx, change: crate::change::Change) -> Option<String> {
    use crate::change::ChangeInput;
    use crate::plan::{outline_phases, PlanRequest};
    let describe = change.describe();
    let req = PlanRequest {
        input: ChangeInput {
            change: Some(change),
            ..ChangeInput::default()
        },
        context: crate::context::Context {
            version: Some(ctx.pg_version.clamp(11, *crate::context::PG_VERSIONS.end())),
            ..Default::default()
        },
        ..PlanRequest::default()
    };
    // The phases in outline: the rest of a plan (estimates, runbook, the
    // later phases' SQL) would cost more than what is shown, for every finding.
    let phases = outline_phases(&req).ok()?;
    let mut out = String::from("-- expand/contract instead:\n");
    for (i, p) in phases.iter().enumerate() {
        out.push_str(&format!(
            "--   {}. {} ({})\n",
            i + 1,
            p.title,
            p.kind.as_str()
        ));
    }
    if let Some(first) = phases.first() {
        for s in &first.forward {
            out.push_str(&s.sql);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "-- every phase with rollback and checks: schemashift plan \"{describe}\""
    ));
    Some(out)
}
pub(crate) const MYSQL: &[Engine] = &[Engine::Mysql];

const BOTH: &[Engine] = &[Engine::Postgres, Engine::Mysql];

/// Every fact the rules keep about the statements before the one they check
/// (see [`super::context::Fact`]), with the engines of the rules using it: a rule asking
/// for a fact not kept here for its engine panics.
pub(crate) static FACTS: &[FactKind] = &[
    FactKind {
        engines: BOTH,
        new: new_fact::<missing_lock_timeout::UnparsedCreates>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<missing_lock_timeout::IndexTables>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<missing_lock_timeout::FirstUnguarded>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<tokens::CreatedIndexes>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<tokens::CreatedMatviews>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<set_not_null_without_check::Constraints>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<column_type_change_rewrite::ColumnTypes>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<column_type_change_rewrite::UtcFrom>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<column_type_change_recheck::Checks>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<rename_type::CreatedTypes>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<drop_view::ViewCreations>,
    },
    FactKind {
        engines: BOTH,
        new: new_fact::<drop_column::Added>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<concurrent_index_in_transaction::Begins>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<enum_add_value_in_transaction::CreatedTypes>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<attach_partition_scans::Parts>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<attach_partition_scans::Filled>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<validate_in_same_transaction::Lockers>,
    },
    FactKind {
        engines: BOTH,
        new: new_fact::<unbatched_backfill::Batches>,
    },
    FactKind {
        engines: PG,
        new: new_fact::<backfill_in_same_transaction_as_ddl::FirstLocks>,
    },
    FactKind {
        engines: MYSQL,
        new: new_fact::<mysql_copy_algorithm_ddl::FkChecksOff>,
    },
    FactKind {
        engines: MYSQL,
        new: new_fact::<mysql_missing_lock_wait_timeout::Timeouts>,
    },
    FactKind {
        engines: MYSQL,
        new: new_fact::<mysql_missing_lock_wait_timeout::FirstUnguarded>,
    },
];

/// Every rule, in the order findings of one statement are reported.
pub static ALL: &[&Rule] = &[
    &rename_column::RULE,
    &create_index_non_concurrent::RULE,
    &add_not_null_column_without_default::RULE,
    &add_column_volatile_default::RULE,
    &add_column_default_pre_pg11::RULE,
    &add_serial_or_identity_column::RULE,
    &add_stored_generated_column::RULE,
    &set_not_null_without_check::RULE,
    &column_type_change_rewrite::RULE,
    &column_type_change_recheck::RULE,
    &drop_column::RULE,
    &rename_table::RULE,
    &rename_view::RULE,
    &set_tablespace_or_access_method::RULE,
    &drop_table::RULE,
    &attach_partition_scans::RULE,
    &backfill_in_same_transaction_as_ddl::RULE,
    &detach_partition_non_concurrent::RULE,
    &enum_add_value_in_transaction::RULE,
    &missing_lock_timeout::RULE,
    &mysql_add_index_locking::RULE,
    &mysql_copy_algorithm_ddl::RULE,
    &mysql_missing_lock_wait_timeout::RULE,
    &unbatched_backfill::RULE,
    &unparsed_statement::RULE,
    &unchecked_file::RULE,
    &drop_index_non_concurrent::RULE,
    &concurrent_index_in_transaction::RULE,
    &reindex_non_concurrent::RULE,
    &add_foreign_key_validating::RULE,
    &add_check_validating::RULE,
    &validate_in_same_transaction::RULE,
    &add_unique_constraint_builds_index::RULE,
    &add_primary_key_builds_index::RULE,
    &vacuum_full_or_cluster::RULE,
    &vacuum_in_transaction::RULE,
    &refresh_matview_non_concurrent::RULE,
    &drop_schema_cascade::RULE,
    &drop_database::RULE,
    &truncate_cascade::RULE,
    &drop_view::RULE,
    &rename_type::RULE,
    &rename_enum_value::RULE,
    &rename_schema::RULE,
    &add_exclusion_constraint::RULE,
    &set_logged_or_unlogged::RULE,
    &scan_after_ddl_in_transaction::RULE,
];

/// Looks a rule up by id.
pub fn get(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::review::{review_sql, Finding, ReviewOptions};

    /// Findings of one rule on a script, PostgreSQL `version`.
    pub fn run(rule: &str, sql: &str, version: u32) -> Vec<Finding> {
        let opts = ReviewOptions {
            pg_version: version,
            ..ReviewOptions::default()
        };
        review_sql(sql, None, &opts)
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect()
    }

    /// Findings of one rule with the file wrapped in a transaction.
    pub fn run_in_txn(rule: &str, sql: &str, version: u32) -> Vec<Finding> {
        run_in_txn_as(rule, sql, version, None)
    }

    /// [`run_in_txn`] of a file of this name (which names its tool).
    pub fn run_in_txn_as(rule: &str, sql: &str, version: u32, file: Option<&str>) -> Vec<Finding> {
        let opts = ReviewOptions {
            pg_version: version,
            assume_in_transaction: true,
            ..ReviewOptions::default()
        };
        review_sql(sql, file, &opts)
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for r in ALL {
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(
                r.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                r.id
            );
            let doc = r.doc();
            assert!(doc.len() > 80, "{} has no documentation", r.id);
            for section in ["Why", "Instead"] {
                assert!(
                    doc.contains(section),
                    "{} doc lacks a `{section}` part",
                    r.id
                );
            }
        }
    }
}
