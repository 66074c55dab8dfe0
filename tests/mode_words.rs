//! A request that starts with a `/migrate` mode word (`cutover ...`,
//! `deprecate ...`) is read as that mode and the change after it, through the
//! command line and the library (the MCP tools' path) alike; `backfill` is
//! also a verb, and then it is the change's.

use schemashift::change::ChangeInput;
use schemashift::plan::{build_plan, PlanMode, PlanOptions, PlanRequest};
use serde_json::Value;
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

/// (request, change type, mode of the plan)
const CASES: &[(&str, &str, &str)] = &[
    // "backfill" is also the change's verb: the whole plan of that change,
    // as the classifier announces it (`--mode backfill` slices it).
    (
        "backfill orders.total_cents from total",
        "backfill_only",
        "plan",
    ),
    (
        "/migrate backfill orders.total_cents from total",
        "backfill_only",
        "plan",
    ),
    (
        "cutover switch reads from accounts.name to accounts.display_name",
        "rename_column",
        "cutover",
    ),
    (
        "/migrate cutover rename accounts.nickname to display_name",
        "rename_column",
        "cutover",
    ),
    (
        "deprecate drop users.legacy_token",
        "drop_column",
        "deprecate",
    ),
    (
        "deprecate: drop column legacy_token from users",
        "drop_column",
        "deprecate",
    ),
    (
        "plan rename users.username to handle",
        "rename_column",
        "plan",
    ),
    ("rehearse make users.email required", "set_not_null", "plan"),
    (
        "review ALTER TABLE users DROP COLUMN legacy",
        "drop_column",
        "plan",
    ),
];

fn cli_plan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(EXE)
        .args(args)
        .output()
        .expect("run schemashift");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_reads_a_leading_mode_word_as_the_mode() {
    for (request, change_type, mode) in CASES {
        let (ok, stdout, stderr) = cli_plan(&["plan", "--json", request]);
        assert!(ok, "{request}: {stderr}");
        let plan: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(plan["change_type"], *change_type, "{request}");
        assert_eq!(plan["mode"], *mode, "{request}");
    }
    // The words as typed after `schemashift plan`, unquoted.
    let (ok, stdout, stderr) = cli_plan(&[
        "plan",
        "--json",
        "cutover",
        "switch",
        "reads",
        "from",
        "accounts.name",
        "to",
        "display_name",
    ]);
    assert!(ok, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["mode"], "cutover");
    // --mode wins over the word.
    let (ok, stdout, _) = cli_plan(&[
        "plan",
        "--json",
        "--mode",
        "plan",
        "cutover rename accounts.nickname to display_name",
    ]);
    assert!(ok);
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["mode"], "plan");
}

#[test]
fn the_tools_read_a_leading_mode_word_as_the_mode() {
    for (request, change_type, mode) in CASES {
        let plan = build_plan(&PlanRequest {
            input: ChangeInput::from_request(*request),
            ..PlanRequest::default()
        })
        .unwrap_or_else(|e| panic!("{request}: {e}"));
        assert_eq!(plan.change_type.as_str(), *change_type, "{request}");
        assert_eq!(serde_json::to_value(plan.mode).unwrap(), *mode, "{request}");
    }
    let plan = build_plan(&PlanRequest {
        input: ChangeInput::from_request("cutover rename accounts.nickname to display_name"),
        options: PlanOptions {
            mode: Some(PlanMode::Deprecate),
            ..PlanOptions::default()
        },
        ..PlanRequest::default()
    })
    .unwrap();
    assert_eq!(plan.mode, PlanMode::Deprecate, "options.mode wins");
}

#[test]
fn switching_reads_without_the_old_column_asks_for_it() {
    let (ok, _, stderr) = cli_plan(&["plan", "cutover switch reads to accounts.display_name"]);
    assert!(!ok);
    // The mode word is not the complaint; the missing old column is.
    assert!(!stderr.contains("unknown verb `cutover`"), "{stderr}");
    assert!(
        stderr.contains("switch reads from <table>.<old column> to accounts.display_name")
            && stderr.contains("\"change_type\": \"rename_column\""),
        "{stderr}"
    );
    // A mode word that is no verb, before words that are no change: the
    // complaint is about the change.
    let (ok, _, stderr) = cli_plan(&["plan", "deprecate the old stuff"]);
    assert!(!ok);
    assert!(!stderr.contains("`deprecate`"), "{stderr}");
}
