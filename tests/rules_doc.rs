//! docs/rules.md is generated from the rules' own documentation; this test
//! fails when the two differ, so the page cannot drift from the code.

use std::path::Path;

#[test]
fn docs_rules_md_is_generated_from_the_rules() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
    let generated = schemashift::review::format::rules_markdown();
    if std::env::var_os("SCHEMASHIFT_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/rules.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != generated {
        let first_difference = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "docs/rules.md is out of date ({first_difference}). Regenerate it:\n\n    \
             cargo run -- rules --markdown > docs/rules.md\n\n\
             or: SCHEMASHIFT_BLESS=1 cargo test --test rules_doc"
        );
    }
}
