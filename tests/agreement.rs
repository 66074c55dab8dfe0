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

#[test]
fn every_version_from_11_to_18_gets_a_plan_with_its_own_safe_forms() {
    for v in 11..=18 {
        for e in EXAMPLES {
            let req = PlanRequest {
                input: ChangeInput::from_request(e.request),
                context: Context {
                    version: Some(v),
                    ..Context::default()
                },
                ..PlanRequest::default()
            };
            let plan = build_plan(&req).unwrap_or_else(|err| panic!("PG {v} {}: {err}", e.request));
            let sql: String = plan
                .phases
                .iter()
                .flat_map(|p| &p.forward)
                .map(|s| s.sql.as_str())
                .collect();
            if e.request == "make users.email required" {
                match v {
                    11 => assert!(!sql.contains("CHECK"), "PG 11 has no CHECK shortcut"),
                    12..=17 => assert!(
                        sql.contains("CHECK (email IS NOT NULL) NOT VALID"),
                        "PG {v}: {sql}"
                    ),
                    _ => assert!(
                        sql.contains("NOT NULL email NOT VALID"),
                        "PG 18 uses NOT NULL NOT VALID: {sql}"
                    ),
                }
            }
            if e.change_type == ChangeType::EnumChange {
                let add = plan.phases[0]
                    .forward
                    .iter()
                    .find(|s| s.sql.contains("ADD VALUE"))
                    .unwrap();
                assert_eq!(
                    add.transactional,
                    v >= 12,
                    "PG {v}: ADD VALUE runs outside a transaction before 12"
                );
            }
        }
    }
    let req = PlanRequest {
        input: ChangeInput::from_request("rename users.username to handle"),
        context: Context {
            version: Some(10),
            ..Context::default()
        },
        ..PlanRequest::default()
    };
    let err = build_plan(&req).unwrap_err().to_string();
    assert!(err.contains("PostgreSQL 11 to 18"), "{err}");
}
