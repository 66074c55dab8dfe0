//! What is rehearsed: a plan's phases, or SQL as written (one phase), as
//! statements to apply with the lock the plan says each takes.

use super::RehearseError;
use crate::change::Change;
use crate::engine::Lock;
use crate::plan::{Check, Plan};

/// One statement to apply.
#[derive(Debug, Clone)]
pub struct ScriptStep {
    pub sql: String,
    pub lock: Option<Lock>,
}

/// One phase to rehearse.
#[derive(Debug, Clone)]
pub struct ScriptPhase {
    pub id: String,
    pub title: String,
    pub app: Vec<String>,
    pub forward: Vec<ScriptStep>,
    pub rollback: Vec<ScriptStep>,
    pub validation: Vec<Check>,
    pub data_loss: bool,
    /// The phase tells the operator to re-prepare statements whose result
    /// type it changes (see [`Runner::segment`]).
    pub announces_reprepare: bool,
    /// When to stop the rollout: errors these foresee are the plan stopping
    /// as it says, not the plan failing.
    pub abort_when: Vec<String>,
}

/// What is rehearsed: a plan's phases, or SQL as written (one phase).
#[derive(Debug, Clone)]
pub struct Script {
    pub kind: &'static str,
    pub subject: String,
    pub plan: Option<Plan>,
    pub phases: Vec<ScriptPhase>,
}

impl Script {
    pub fn from_plan(plan: Plan) -> Script {
        let steps = |s: &[crate::plan::Step]| {
            s.iter()
                .map(|s| ScriptStep {
                    sql: s.sql.clone(),
                    lock: Some(s.lock),
                })
                .collect()
        };
        let phases = plan
            .phases
            .iter()
            .map(|p| ScriptPhase {
                id: p.id.clone(),
                title: p.title.clone(),
                app: p.app.iter().map(|a| a.version.clone()).collect(),
                forward: steps(&p.forward),
                rollback: steps(&p.rollback),
                validation: p.validation.clone(),
                data_loss: p.data_loss.is_some(),
                announces_reprepare: p
                    .advance_when
                    .iter()
                    .any(|a| a.to_ascii_lowercase().contains("re-prepare")),
                abort_when: p.abort_when.clone(),
            })
            .collect();
        Script {
            kind: "plan",
            subject: plan.change.describe(),
            plan: Some(plan),
            phases,
        }
    }

    pub fn as_is(sql: &str) -> Result<Script, RehearseError> {
        let forward: Vec<ScriptStep> =
            crate::change::ddl::split_statements(sql, crate::context::Engine::Postgres)
                .into_iter()
                .map(|s| ScriptStep {
                    sql: s.text,
                    lock: None,
                })
                .collect();
        if forward.is_empty() {
            return Err(RehearseError::Invalid(
                "as_is holds no SQL statement to rehearse".into(),
            ));
        }
        Ok(Script {
            kind: "as_is",
            subject: format!(
                "{} statement(s) as written, applied while the current app runs",
                forward.len()
            ),
            plan: None,
            phases: vec![ScriptPhase {
                id: "as-is".into(),
                title: "The migration as written".into(),
                app: vec!["v1".into()],
                forward,
                rollback: Vec::new(),
                validation: Vec::new(),
                data_loss: false,
                announces_reprepare: false,
                abort_when: Vec::new(),
            }],
        })
    }

    pub fn change(&self) -> Option<&Change> {
        self.plan.as_ref().map(|p| &p.change)
    }
}

/// The abort criterion of a phase that foresees a statement's error: a
/// guarded statement giving up after its attempts (a lock it could not get
/// within the app's budget), or a unique build meeting duplicates.
pub fn foreseen<'a>(abort_when: &'a [String], error: &str) -> Option<&'a str> {
    let e = error.to_lowercase();
    let keys: &[&str] = if e.contains("gave up after") && e.contains("attempts") {
        &["gives up after", "retries", "attempts"]
    } else if e.contains("[23505]") || e.contains("could not create unique index") {
        &["duplicate"]
    } else {
        return None;
    };
    abort_when
        .iter()
        .find(|a| {
            let a = a.to_lowercase();
            keys.iter().any(|k| a.contains(k))
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::foreseen;

    #[test]
    fn errors_the_abort_criteria_foresee() {
        let abort = vec![
            "the build fails on duplicate keys: remove the duplicates".to_string(),
            "the statement gives up after its retries: find the blocker".to_string(),
        ];
        assert_eq!(
            foreseen(
                &abort,
                "gave up after 3 attempts: another transaction kept the table locked [P0001]"
            ),
            Some(abort[1].as_str())
        );
        assert_eq!(
            foreseen(&abort, "could not create unique index \"k\" [23505]"),
            Some(abort[0].as_str())
        );
        assert_eq!(
            foreseen(&abort, "column \"x\" does not exist [42703]"),
            None
        );
        assert_eq!(foreseen(&[], "could not create unique index [23505]"), None);
    }
}
