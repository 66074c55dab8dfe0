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
            }],
        })
    }

    pub fn change(&self) -> Option<&Change> {
        self.plan.as_ref().map(|p| &p.change)
    }
}

