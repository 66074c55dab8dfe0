//! Knowledge that lives in two places is kept in agreement here: the change
//! types and the decision matrix, the classifier's phases and the plans', the
//! English and SQL forms of every example.

use schemashift::change::examples::EXAMPLES;
use schemashift::change::{ChangeInput, ChangeType};
use schemashift::classify::{classify_request, ClassifyRequest};
use schemashift::context::Context;
use schemashift::plan::{build_plan, PlanRequest};
use schemashift::references;
use std::collections::BTreeSet;

#[test]
fn decision_matrix_has_one_row_per_change_type_in_order() {
    let doc = references::get("change-type-decision-matrix").expect("matrix embedded");
    let ids: Vec<&str> = doc
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    let expected: Vec<&str> = ChangeType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(ids, expected);
}

#[test]
fn every_change_type_has_an_example() {
    let covered: BTreeSet<ChangeType> = EXAMPLES.iter().map(|e| e.change_type).collect();
    let all: BTreeSet<ChangeType> = ChangeType::ALL.into_iter().collect();
    assert_eq!(covered, all);
}

fn classify(input: ChangeInput) -> schemashift::classify::Classification {
    classify_request(&ClassifyRequest {
        input,
        context: Context::default(),
    })
    .unwrap()
}

#[test]
fn english_and_sql_forms_classify_alike() {
    for e in EXAMPLES {
        let words = classify(ChangeInput::from_request(e.request));
        assert_eq!(
            words.change_type,
            Some(e.change_type),
            "request `{}`",
            e.request
        );
        let sql = classify(ChangeInput::from_sql(e.sql));
        assert_eq!(sql.change_type, Some(e.change_type), "sql `{}`", e.sql);
        // The same SQL pasted after /migrate plan is read as SQL too.
        let pasted = classify(ChangeInput::from_request(e.sql));
        assert_eq!(pasted.change, sql.change, "pasted `{}`", e.sql);
    }
}

#[test]
fn plans_have_the_phases_the_classifier_announced() {
    for e in EXAMPLES {
        let announced = classify(ChangeInput::from_request(e.request)).phases;
        let req = PlanRequest {
            input: ChangeInput::from_request(e.request),
            ..PlanRequest::default()
        };
        match build_plan(&req) {
            Ok(plan) => {
                let kinds: Vec<_> = plan.phases.iter().map(|p| p.kind).collect();
                assert_eq!(kinds, announced, "{}", e.request);
                assert!(!plan.phases.is_empty());
                assert_eq!(plan.schema_version, 1);
            }
            Err(err) => panic!("{}: {err}", e.request),
        }
    }
}
