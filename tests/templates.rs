//! The output templates: a snapshot of every template on realistic data
//! (committed under tests/snapshots/; these are what users read), summaries
//! within 40 lines for every example change, the error messages, and the
//! agreement of references/output-templates.md with the templates and the
//! results' JSON Schemas.

use schemashift::change::examples::EXAMPLES;
use schemashift::change::ChangeInput;
use schemashift::classify::{classify_request, Classification, ClassifyRequest};
use schemashift::context::Context;
use schemashift::plan::{build_plan, Plan, PlanMode, PlanOptions, PlanRequest};
use schemashift::references;
use schemashift::render::{self, DataKind, Format};
use schemashift::review::Review;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn plan_with(request: &str, mode: PlanMode, context: Context, schema: Option<&str>) -> Plan {
    build_plan(&PlanRequest {
        input: ChangeInput::from_request(request),
        context,
        schema: schema.map(str::to_string),
        options: PlanOptions {
            mode: Some(mode),
            ..Default::default()
        },
    })
    .unwrap_or_else(|e| panic!("{request} ({mode:?}): {e}"))
}

fn plan(request: &str, mode: PlanMode) -> Plan {
    plan_with(request, mode, Context::default(), None)
}

fn rows(n: u64) -> Context {
    Context {
        rows: Some(n),
        ..Default::default()
    }
}

const USERS: &str =
    "CREATE TABLE users (id bigint PRIMARY KEY, username text NOT NULL, email text);";

fn rename() -> Plan {
    plan_with(
        "rename users.username to handle",
        PlanMode::Plan,
        rows(20_000_000),
        Some(USERS),
    )
}

fn classification(request: &str) -> Classification {
    classify_request(&ClassifyRequest {
        input: ChangeInput::from_request(request),
        context: Context::default(),
    })
    .unwrap_or_else(|e| panic!("{request}: {e}"))
}

/// A real review (of the example migration in references/output-templates.md),
/// kept as JSON so rule changes elsewhere don't move these snapshots.
fn review() -> Review {
    serde_json::from_str(include_str!("data/review-stop.json")).expect("review fixture")
}

fn clean_review() -> Review {
    Review::from_findings(Vec::new(), 3)
}

fn r<T: serde::Serialize + 'static>(template: &str, data: &T) -> String {
    render::render(template, data, None).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn plan_reports() {
    insta::assert_snapshot!("plan-rename_column", r("plan", &rename()));
    insta::assert_snapshot!(
        "plan-add_not_null_column",
        r(
            "plan",
            &plan(
                "add non-null org_id to invoices from accounts.organisation_id",
                PlanMode::Plan
            )
        )
    );
    insta::assert_snapshot!(
        "plan-add_index",
        r(
            "plan",
            &plan("add unique index on users.email", PlanMode::Plan)
        )
    );
    insta::assert_snapshot!(
        "plan-enum_change",
        r(
            "plan",
            &plan(
                "add 'refunded' to the order_status enum after 'paid'",
                PlanMode::Plan
            )
        )
    );
}

#[test]
fn plan_summaries() {
    insta::assert_snapshot!("plan-summary-rename_column", r("plan-summary", &rename()));
    insta::assert_snapshot!(
        "plan-summary-add_not_null_column",
        r(
            "plan-summary",
            &plan(
                "add non-null org_id to invoices from accounts.organisation_id",
                PlanMode::Plan
            )
        )
    );
    insta::assert_snapshot!(
        "plan-summary-add_index",
        r(
            "plan-summary",
            &render::with_report_path(
                &plan("add unique index on users.email", PlanMode::Plan),
                "docs/database-report/add-unique-index-on-users-email-plan.md"
            )
        )
    );
    insta::assert_snapshot!(
        "plan-summary-enum_change",
        r(
            "plan-summary",
            &plan(
                "add 'refunded' to the order_status enum after 'paid'",
                PlanMode::Plan
            )
        )
    );
}

#[test]
fn stage_reports() {
    insta::assert_snapshot!(
        "backfill-add_not_null_column",
        r(
            "backfill",
            &plan_with(
                "add non-null org_id to invoices from accounts.organisation_id",
                PlanMode::Backfill,
                rows(20_000_000),
                None
            )
        )
    );
    insta::assert_snapshot!(
        "cutover-rename_column",
        r(
            "cutover",
            &plan_with(
                "rename users.username to handle",
                PlanMode::Cutover,
                rows(20_000_000),
                Some(USERS)
            )
        )
    );
    insta::assert_snapshot!(
        "cutover-change_column_type",
        r(
            "cutover",
            &plan(
                "change orders.amount from integer to bigint",
                PlanMode::Cutover
            )
        )
    );
    insta::assert_snapshot!(
        "deprecate-drop_column",
        r(
            "deprecate",
            &plan("drop column users.legacy_flag", PlanMode::Deprecate)
        )
    );
    insta::assert_snapshot!("runbook-rename_column", r("runbook", &rename()));
    insta::assert_snapshot!(
        "plan-summary-backfill-mode",
        r(
            "plan-summary",
            &plan(
                "add non-null org_id to invoices from accounts.organisation_id",
                PlanMode::Backfill
            )
        )
    );
}

#[test]
fn backfill_report_of_a_plan_without_one_says_so() {
    let text = r(
        "backfill",
        &plan("add unique index on users.email", PlanMode::Plan),
    );
    assert!(
        text.contains("No backfill: this plan fills no existing rows"),
        "{text}"
    );
    assert!(text.contains("CREATE UNIQUE INDEX CONCURRENTLY"), "{text}");
}

#[test]
fn review_reports() {
    insta::assert_snapshot!("review-stop", r("review", &review()));
    insta::assert_snapshot!("review-summary-stop", r("review-summary", &review()));
    insta::assert_snapshot!("review-proceed", r("review", &clean_review()));
    insta::assert_snapshot!(
        "review-summary-proceed",
        r(
            "review-summary",
            &render::with_report_path(&clean_review(), "docs/database-report/stdin-review.md")
        )
    );
}

#[test]
fn classification_reports() {
    let rename = classification("rename users.username to handle");
    insta::assert_snapshot!("classification-rename_column", r("classification", &rename));
    insta::assert_snapshot!(
        "classification-summary-rename_column",
        r("classification-summary", &rename)
    );
    let nn = classification("add non-null org_id to invoices from accounts.organisation_id");
    insta::assert_snapshot!(
        "classification-add_not_null_column",
        r("classification", &nn)
    );
    insta::assert_snapshot!(
        "classification-summary-add_not_null_column",
        r("classification-summary", &nn)
    );
    let widen = classification("widen users.display_name from varchar(100) to varchar(255)");
    insta::assert_snapshot!(
        "classification-summary-change_column_type",
        r("classification-summary", &widen)
    );
}

fn check_receipt(what: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() <= 40,
        "{what}: {} lines (at most 40):\n{text}",
        lines.len()
    );
    // The report path is printed whole, to be copied; every other line fits 80 columns.
    for l in lines
        .iter()
        .filter(|l| !l.starts_with("Full report: docs/"))
    {
        assert!(
            l.chars().count() <= 80,
            "{what}: a line of {} characters (at most 80): {l}",
            l.chars().count()
        );
    }
    assert!(
        lines[0].starts_with('┌') && lines[0].ends_with('┐'),
        "{what}:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Verdict: ")),
        "{what}: no verdict\n{text}"
    );
    assert!(
        text.contains("Full report: "),
        "{what}: no report line\n{text}"
    );
}

#[test]
fn every_summary_fits_a_screen() {
    let modes = [
        PlanMode::Plan,
        PlanMode::Backfill,
        PlanMode::Cutover,
        PlanMode::Deprecate,
    ];
    for e in EXAMPLES {
        for mode in modes {
            // Not every change has every stage; those that do must fit.
            let Ok(p) = build_plan(&PlanRequest {
                input: ChangeInput::from_request(e.request),
                options: PlanOptions {
                    mode: Some(mode),
                    ..Default::default()
                },
                ..Default::default()
            }) else {
                assert_ne!(mode, PlanMode::Plan, "{}", e.request);
                continue;
            };
            for path in [
                None,
                Some(
                    "docs/database-report/a-very-long-slug-of-a-change-that-goes-on-and-on-plan.md",
                ),
            ] {
                let data = match path {
                    Some(p2) => render::with_report_path(&p, p2),
                    None => serde_json::to_value(&p).unwrap(),
                };
                let text = render::render_json("plan", &data, Some(Format::Summary)).unwrap();
                check_receipt(&format!("{} ({mode:?})", e.request), &text);
            }
            // Every plan-shaped report renders too.
            for t in ["plan", "backfill", "cutover", "deprecate", "runbook"] {
                r(t, &p);
            }
        }
        for input in [
            ChangeInput::from_request(e.request),
            ChangeInput::from_sql(e.sql),
        ] {
            let c = classify_request(&ClassifyRequest {
                input,
                context: Context::default(),
            })
            .unwrap();
            check_receipt(e.request, &r("classification-summary", &c));
            r("classification", &c);
        }
    }
    check_receipt("review", &r("review-summary", &review()));
    // A review with many findings still fits: the top five are shown.
    let mut many = review();
    let f = many.findings[0].clone();
    many.findings = std::iter::repeat_n(f, 60).collect();
    let text = r("review-summary", &many);
    check_receipt("60 findings", &text);
    assert!(text.contains("(60, 5 shown)"), "{text}");
}

#[test]
fn out_of_scope_classifications_render() {
    let c = classification("my slow query needs explain analyze");
    assert!(!c.in_scope);
    let text = r("classification-summary", &c);
    check_receipt("out of scope", &text);
    insta::assert_snapshot!("classification-summary-out-of-scope", text);
    insta::assert_snapshot!("classification-out-of-scope", r("classification", &c));
}

#[test]
fn an_unknown_template_is_refused_with_the_list() {
    let err = render::render_json("plans", &json!({}), None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("no template named `plans`"), "{err}");
    for name in render::names() {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
}

#[test]
fn data_that_does_not_fit_names_the_field() {
    let mut p = serde_json::to_value(rename()).unwrap();
    p.as_object_mut().unwrap().remove("phases");
    let err = render::render_json("plan", &p, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the data does not fit template `plan`: missing field `phases`"),
        "{err}"
    );
    assert!(
        err.contains("(expected a build_plan result: schema_version, summary,"),
        "{err}"
    );
    // Deeper: the path to the field.
    let mut p = serde_json::to_value(rename()).unwrap();
    p["phases"][0]["forward"][1]
        .as_object_mut()
        .unwrap()
        .remove("sql");
    let err = render::render_json("plan-summary", &p, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at `phases[0].forward[1]`: missing field `sql`"),
        "{err}"
    );
    // A review given to a plan template, a wrong type, not an object at all.
    let err = render::render("plan", &review(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `schema_version`"), "{err}");
    let err = render::render_json(
        "review",
        &json!({"verdict": "maybe", "findings": [], "summary": "", "statements": 0}),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("at `verdict`: unknown variant `maybe`")
            && err.contains("a review_plan result"),
        "{err}"
    );
    let err = render::render_json("classification", &json!([1]), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("it is an array, not an object"), "{err}");
    let mut p = serde_json::to_value(rename()).unwrap();
    p["report_path"] = json!(7);
    let err = render::render_json("plan-summary", &p, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`report_path` must be a string"), "{err}");
}

#[test]
fn format_picks_the_family_member() {
    let p = rename();
    assert_eq!(
        render::render("plan", &p, Some(Format::Summary)).unwrap(),
        r("plan-summary", &p)
    );
    assert_eq!(
        render::render("plan-summary", &p, Some(Format::Markdown)).unwrap(),
        r("plan", &p)
    );
    assert_eq!(
        render::render("runbook", &p, Some(Format::Markdown)).unwrap(),
        r("runbook", &p)
    );
    let c = classification("rename users.username to handle");
    assert_eq!(
        render::render("classification", &c, Some(Format::Summary)).unwrap(),
        r("classification-summary", &c)
    );
}

/// Rows of the table under `## Templates` in the output-templates reference:
/// (template, data, format, keys).
fn doc_templates() -> Vec<(String, String, String, Vec<String>)> {
    let doc = references::get("output-templates").expect("embedded").text;
    let section = doc
        .split("\n## Templates\n")
        .nth(1)
        .expect("a `## Templates` section");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    section
        .lines()
        .skip_while(|l| !l.starts_with("| Template"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "row: {l}");
            (
                ticked(cells[0]).concat(),
                cells[1].to_string(),
                cells[2].to_string(),
                ticked(cells[3]),
            )
        })
        .collect()
}

fn schema_keys(kind: DataKind) -> BTreeSet<String> {
    kind.schema()["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_reference_lists_every_template_and_the_keys_it_reads() {
    let rows = doc_templates();
    let listed: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        listed,
        render::names(),
        "the templates table of references/output-templates.md and render::CATALOGUE differ"
    );
    for (name, data, format, keys) in &rows {
        let t = render::get(name).unwrap_or_else(|| panic!("{name} is listed but not embedded"));
        assert_eq!(data, t.data.describe(), "{name}: data");
        let f = serde_json::to_value(t.format).unwrap();
        assert_eq!(format, f.as_str().unwrap(), "{name}: format");
        let allowed = schema_keys(t.data);
        for k in keys {
            assert!(
                allowed.contains(k) || render::EXTRA_FIELDS.contains(&k.as_str()),
                "{name}: `{k}` is not a key of {}",
                t.data.describe()
            );
        }
        assert_eq!(
            keys,
            &render::keys_read(name),
            "{name}: the keys listed in the reference are not the keys the template reads"
        );
    }
}

/// The backticked keys in the first column of the table that follows `anchor`.
fn table_keys(doc: &str, anchor: &str) -> BTreeSet<String> {
    let at = doc
        .find(anchor)
        .unwrap_or_else(|| panic!("`{anchor}` not in the reference"));
    doc[at..]
        .lines()
        .skip_while(|l| !l.starts_with("| Key"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.trim_start_matches("| `").split('`').next())
        .map(str::to_string)
        .collect()
}

fn def_keys(kind: DataKind, def: &str) -> BTreeSet<String> {
    kind.schema()["$defs"][def]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no $defs.{def}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_reference_json_tables_match_the_results() {
    let doc = references::get("output-templates").unwrap().text;
    assert_eq!(
        table_keys(doc, "Top-level keys (the contract)"),
        schema_keys(DataKind::Plan),
        "plan keys"
    );
    assert_eq!(
        table_keys(doc, "**Phase:**"),
        def_keys(DataKind::Plan, "Phase"),
        "phase keys"
    );
    assert_eq!(
        table_keys(doc, "**Statement**"),
        def_keys(DataKind::Plan, "Step"),
        "statement keys"
    );
    assert_eq!(
        table_keys(doc, "**Backfill** (the `backfill` object)"),
        def_keys(DataKind::Plan, "Backfill"),
        "backfill keys"
    );
    assert_eq!(
        table_keys(doc, "## 2. Classification"),
        schema_keys(DataKind::Classification),
        "classification keys"
    );
    let review: BTreeSet<String> = table_keys(doc, "## 3. Review")
        .into_iter()
        .map(|k| {
            k.strip_prefix("findings[].")
                .map_or(k.clone(), |f| format!("finding.{f}"))
        })
        .collect();
    let mut expected = schema_keys(DataKind::Review);
    expected.extend(
        def_keys(DataKind::Review, "Finding")
            .into_iter()
            .map(|k| format!("finding.{k}")),
    );
    assert_eq!(review, expected, "review keys");
}

#[test]
fn the_reference_examples_are_real_results() {
    let doc = references::get("output-templates").unwrap().text;
    let blocks: Vec<&str> = doc
        .split("```json\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3, "a phase, a classification and a review");
    for b in blocks {
        let v: Value = serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}"));
        if v.get("verdict").is_some() {
            serde_json::from_value::<Review>(v).expect("the review example is a Review");
        } else if v.get("in_scope").is_some() {
            serde_json::from_value::<Classification>(v)
                .expect("the classification example is a Classification");
        } else {
            serde_json::from_value::<schemashift::plan::Phase>(v)
                .expect("the phase example is a Phase");
        }
    }
}

/// Rehearsals recorded from real runs (a proven plan and a migration as
/// written that breaks the app), rendered by both rehearsal templates.
fn rehearsal(name: &str) -> schemashift::rehearse::Rehearsal {
    let path = format!(
        "{}/tests/fixtures/rehearsals/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn rehearsal_reports() {
    for name in ["rename-proven", "rename-as-is-failed"] {
        let r = rehearsal(name);
        let report = render::render("rehearsal", &r, None).unwrap();
        assert!(report.contains(&r.verdict_text), "{report}");
        insta::assert_snapshot!(format!("rehearsal-{name}"), report);
        let summary = render::render("rehearsal-summary", &r, None).unwrap();
        check_receipt(name, &summary);
        insta::assert_snapshot!(format!("rehearsal-summary-{name}"), summary);
    }
}
