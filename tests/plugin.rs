//! The plugin's pieces agree: the skill may call every tool the server
//! lists (and only those), and names the modes the server's prompts offer.

use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use std::collections::BTreeSet;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");
const SKILL: &str = include_str!("../skill/SKILL.md");
const PREFIX: &str = "mcp__plugin_schemashift_schemashift__";

#[tokio::test]
async fn the_skill_allows_exactly_the_servers_tools() {
    let allowed: BTreeSet<String> = SKILL
        .lines()
        .find_map(|l| l.strip_prefix("allowed-tools:"))
        .expect("allowed-tools in the skill's front matter")
        .split(',')
        .filter_map(|t| t.trim().strip_prefix(PREFIX).map(str::to_string))
        .collect();
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    let c = ().serve(transport).await.expect("initialize");
    let listed: BTreeSet<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    c.cancel().await.unwrap();
    assert_eq!(
        allowed, listed,
        "skill/SKILL.md allowed-tools and the server's tools differ"
    );
    for tool in &listed {
        assert!(
            SKILL.contains(&format!("`{tool}`")),
            "the skill never says when to call {tool}"
        );
    }
}

/// Every field the skill names in braces after `context`, `options` or
/// `rehearsal` is a field of that object in some tool's input schema, and
/// every field the skill names for the structured change exists: the skill
/// never tells the agent to fill a field the tools do not take.
#[tokio::test]
async fn the_skill_names_only_fields_the_tools_take() {
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    let c = ().serve(transport).await.expect("initialize");
    let schemas: Vec<serde_json::Value> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| serde_json::to_value(&*t.input_schema).unwrap())
        .collect();
    c.cancel().await.unwrap();
    let fields_of = |object: &str| -> BTreeSet<String> {
        schemas
            .iter()
            .filter_map(|s| s["properties"][object]["properties"].as_object())
            .flat_map(|p| p.keys().cloned())
            .collect()
    };
    let text = SKILL.replace('\n', " ");
    let mut checked = 0;
    for object in ["context", "options", "rehearsal"] {
        let known = fields_of(object);
        assert!(!known.is_empty(), "no tool takes `{object}`");
        let marker = format!("`{object}` {{");
        for (at, _) in text.match_indices(&marker) {
            let list = &text[at + marker.len()..];
            let list = &list[..list.find('}').expect("closing brace")];
            for field in list.split(',') {
                let name = field.split(':').next().unwrap().trim();
                checked += 1;
                assert!(
                    known.contains(name),
                    "skill/SKILL.md names `{object}.{name}`, which no tool takes (it takes {known:?})"
                );
            }
        }
    }
    assert!(checked >= 15, "only {checked} fields found in the skill");
    // The change fields the skill's examples use.
    let change = schemas
        .iter()
        .find_map(|s| {
            s["$defs"]["Change"]["properties"]
                .as_object()
                .filter(|p| p.len() > 1)
        })
        .expect("a tool defines the structured change in full");
    for field in ["change_type", "fill"] {
        assert!(
            SKILL.contains(&format!("`{field}`")),
            "the skill does not name `{field}`"
        );
        assert!(change.contains_key(field), "Change has no `{field}`");
    }
    assert!(
        SKILL.contains("rename_column(table,column,new_name)")
            && change["change_type"]["description"]
                .as_str()
                .unwrap()
                .contains("rename_column(table,column,new_name)"),
        "the skill's example of the change-type line is the schema's"
    );
}
