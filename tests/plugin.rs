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
