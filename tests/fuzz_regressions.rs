//! Replays, under `cargo test`, every input the fuzzers found
//! (`fuzz/regressions/<target>/`) and every seed they start from, through
//! the same checks the fuzz targets run (`fuzz/checks.rs`): what a fuzzer
//! once found cannot come back unnoticed.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// The inputs of one target: its regressions and its seeds.
fn inputs(target: &str, seeds: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for dir in [root.join("regressions").join(target), root.join(seeds)] {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                let name = path.display().to_string();
                found.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn replay(target: &str, seeds: &str, check: fn(&[u8])) {
    let all = inputs(target, seeds);
    assert!(!all.is_empty(), "no inputs for the {target} fuzz target");
    for (name, data) in &all {
        eprintln!("{target}: {name}");
        check(data);
    }
}

#[test]
fn english() {
    replay("english", "seeds-english", checks::english);
}

#[test]
fn ddl() {
    replay("ddl", "seeds-ddl", checks::ddl);
}

#[test]
fn plan() {
    replay("plan", "seeds-plan", checks::plan);
}

#[test]
fn review() {
    replay("review", "seeds", checks::review);
}

#[test]
fn mcp() {
    replay("mcp", "seeds-mcp", checks::mcp);
}
