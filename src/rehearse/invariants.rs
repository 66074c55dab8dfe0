//! The invariants checked after every segment, beyond the app's own view:
//! the schema changes only where the segment's statements declare it (and a
//! rollback returns it exactly to where its phase started, a phase applied
//! again to where it ended the first time), and no value a live version
//! reads changes on a row the app did not touch unless the statements
//! declare they write that column.

use super::app::AppVersion;
use super::declare::{self, Col, Declared, Routines};
use super::fingerprint::{self, Fingerprint};
use super::script::{Script, ScriptStep};
use super::traffic::message;
use super::values::{self, Before};
use super::CheckRun;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// Fingerprints and routines across the whole rehearsal.
#[derive(Default)]
pub struct Invariants {
    routines: Routines,
    propagated: BTreeSet<Col>,
    /// Before the segment now running.
    current: Fingerprint,
    /// Per phase: the schema before and after its first forward run.
    before_phase: BTreeMap<usize, Fingerprint>,
    after_phase: BTreeMap<usize, Fingerprint>,
    tables: Vec<values::Table>,
}

/// The segment being checked.
pub struct Seg<'a> {
    pub phase: usize,
    pub direction: &'a str,
    pub steps: &'a [ScriptStep],
}

impl Invariants {
    /// Reads the script's routines and the starting schema; `keys` are the
    /// starting tables with the column rows are keyed by and the columns no
    /// app version writes.
    pub async fn start(
        db: &Client,
        script: &Script,
        keys: &[(String, String, Vec<String>)],
    ) -> Result<Invariants, String> {
        let all = script
            .phases
            .iter()
            .flat_map(|p| p.forward.iter().chain(&p.rollback))
            .map(|s| s.sql.as_str());
        let routines = Routines::of(all);
        let propagated = routines.cross_table_writes();
        let mut tables = Vec::new();
        for (table, key, strict) in keys {
            let rows = db
                .query(
                    "SELECT c.oid, a.attnum, a.attname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                      WHERE c.oid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&crate::ident::quote_pg(table)],
                )
                .await
                .map_err(|e| message(&e))?;
            let attnum = |name: &str| {
                rows.iter()
                    .find(|r| r.get::<_, String>(2) == name)
                    .map(|r| r.get::<_, i16>(1))
            };
            if let (Some(first), Some(k)) = (rows.first(), attnum(key)) {
                tables.push(values::Table {
                    oid: first.get(0),
                    key: k,
                    strict: strict.iter().filter_map(|c| attnum(c)).collect(),
                });
            }
        }
        let current = fingerprint::take(db).await.map_err(|e| message(&e))?;
        Ok(Invariants {
            routines,
            propagated,
            current,
            tables,
            ..Invariants::default()
        })
    }

    /// Copies the rows before a segment.
    pub async fn before_segment(&self, db: &Client) -> Result<Before, String> {
        values::copy(db, &self.tables).await
    }

    /// The checks after a segment, each with the failure it is (if any).
    pub async fn after_segment(
        &mut self,
        db: &Client,
        seg: &Seg<'_>,
        before: &Before,
        live: &[(usize, AppVersion)],
        touched: &BTreeMap<u32, BTreeSet<String>>,
    ) -> Vec<(CheckRun, Option<String>)> {
        let declared = declare::declared(seg.steps.iter().map(|s| s.sql.as_str()), &self.routines);
        let mut out = Vec::new();
        match fingerprint::take(db).await {
            Ok(now) => {
                out.extend(self.schema_checks(seg, &declared, &now));
                if seg.direction == "forward" {
                    self.before_phase.insert(seg.phase, self.current.clone());
                    self.after_phase.insert(seg.phase, now.clone());
                }
                self.current = now;
            }
            Err(e) => out.push(failed("schema", "the schema can be read", &message(&e))),
        }
        let reads: BTreeSet<Col> = live
            .iter()
            .flat_map(|(_, v)| &v.tables)
            .flat_map(|t| t.reads.iter().map(|c| (t.table.clone(), c.name.clone())))
            .collect();
        let compare = values::Compare {
            reads: &reads,
            declared: &declared,
            propagated: &self.propagated,
            touched,
        };
        let meaning = "values live versions read stay as they were on rows the app did not write, except in columns the statements write".to_string();
        match before.compare(db, &compare).await {
            Ok((changed, compared)) => {
                let reason = changed.first().map(|c| {
                    format!(
                        "{c}, and the segment's statements do not write {}.{} (no UPDATE of it, no trigger of theirs assigns it){}",
                        c.table,
                        c.column,
                        if changed.len() > 1 {
                            format!("; {} more column(s) changed", changed.len() - 1)
                        } else {
                            String::new()
                        }
                    )
                });
                out.push((
                    CheckRun {
                        kind: "values".into(),
                        meaning,
                        expect: "no undeclared change".into(),
                        got: match &reason {
                            None => format!("{compared} column(s) compared, unchanged"),
                            Some(_) => changed
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; "),
                        },
                        passed: reason.is_none(),
                    },
                    reason,
                ));
            }
            Err(e) => out.push(failed("values", &meaning, &e)),
        }
        out
    }

    fn schema_checks(
        &self,
        seg: &Seg<'_>,
        declared: &Declared,
        now: &Fingerprint,
    ) -> Vec<(CheckRun, Option<String>)> {
        let mut out = Vec::new();
        let diffs = now.differences(&self.current);
        let undeclared: Vec<String> = diffs
            .iter()
            .filter(|d| !fingerprint::declared(d, declared))
            .map(ToString::to_string)
            .collect();
        out.push(check(
            "schema changes only where the statements declare it",
            &format!("{} object(s) changed, all declared", diffs.len()),
            &undeclared,
            "the schema changed where the segment's statements do not declare it",
        ));
        let (target, meaning, why) = match seg.direction {
            "rollback" => (
                self.before_phase.get(&seg.phase),
                "the rollback returns the schema exactly to where the phase started",
                "the rollback does not return the schema to where the phase started",
            ),
            "forward again" => (
                self.after_phase.get(&seg.phase),
                "applied again, the phase ends in the schema it ended in the first time",
                "applied again after its rollback, the phase ends in a different schema",
            ),
            _ => (None, "", ""),
        };
        if let Some(target) = target {
            let off: Vec<String> = now
                .differences(target)
                .iter()
                .map(ToString::to_string)
                .collect();
            out.push(check(meaning, "the same schema", &off, why));
        }
        out
    }
}

fn check(meaning: &str, ok: &str, problems: &[String], why: &str) -> (CheckRun, Option<String>) {
    let reason = (!problems.is_empty()).then(|| format!("{why}: {}", problems.join("; ")));
    (
        CheckRun {
            kind: "schema".into(),
            meaning: meaning.into(),
            expect: ok.into(),
            got: if problems.is_empty() {
                ok.into()
            } else {
                problems.join("; ")
            },
            passed: problems.is_empty(),
        },
        reason,
    )
}

fn failed(kind: &str, meaning: &str, error: &str) -> (CheckRun, Option<String>) {
    (
        CheckRun {
            kind: kind.into(),
            meaning: meaning.into(),
            expect: "a reading".into(),
            got: format!("error: {error}"),
            passed: false,
        },
        Some(format!("cannot check that {meaning}: {error}")),
    )
}
