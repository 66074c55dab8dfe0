//! The record an emission leaves in its runbook note, so that emitting the
//! same change again is recognised and refused instead of writing a second,
//! duplicate set of migrations that would apply the change twice.
//!
//! The note ends with one HTML comment (invisible when the Markdown is
//! rendered): `<!-- schemashift-emission {...} -->`, whose JSON names the
//! change, fingerprints of the change and of the plan, the stages written
//! and the files.

use super::{Emission, EmittedFile};
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::path::Path;

const PREFIX: &str = "<!-- schemashift-emission ";
const SUFFIX: &str = " -->";

/// The folder under the project where runbook notes go.
pub(crate) const NOTES_DIR: &str = "schemashift";

/// Most notes read, and the largest read, when looking for earlier ones.
const MAX_NOTES: usize = 2_000;
const MAX_NOTE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// The change in words.
    change: String,
    /// Fingerprint of the structured change: equal for the same change.
    change_id: String,
    /// Fingerprint of the whole plan: equal when nothing else differs either.
    plan: String,
    stages: Vec<u32>,
    /// The files written with the note (the note itself not included).
    files: Vec<String>,
}

/// The comment line that ends the runbook note of an emission.
pub(crate) fn marker(plan: &Plan, stages: &[u32], files: &[EmittedFile]) -> String {
    let change = plan
        .summary
        .split(" in ")
        .next()
        .unwrap_or(&plan.summary)
        .to_string();
    let record = Record {
        change,
        change_id: fingerprint(&serde_json::to_string(&plan.change).unwrap_or_default()),
        plan: fingerprint(&serde_json::to_string(plan).unwrap_or_default()),
        stages: stages.to_vec(),
        files: files.iter().map(|f| f.path.clone()).collect(),
    };
    let json = serde_json::to_string(&record).unwrap_or_default();
    // `--` may not appear inside an HTML comment; outside strings JSON has none.
    format!("{PREFIX}{}{SUFFIX}\n", json.replace("--", "-\\u002d"))
}

/// FNV-1a, 64 bits: stable across runs and builds, unlike std's hashers.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn parse(line: &str) -> Option<Record> {
    let json = line.trim().strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    serde_json::from_str(json).ok()
}

/// The record in an emission's own runbook note.
fn own(emission: &Emission) -> Option<Record> {
    emission
        .files
        .iter()
        .filter(|f| f.path.starts_with(&format!("{NOTES_DIR}/")))
        .flat_map(|f| f.contents.lines())
        .find_map(parse)
}

/// Refuses an emission of a change whose stages were emitted into `dir`
/// before, naming the earlier note and files.
pub(crate) fn refuse_repeat(dir: &Path, emission: &Emission) -> Result<(), String> {
    let Some(new) = own(emission) else {
        return Ok(());
    };
    let notes = dir.join(NOTES_DIR);
    // Only a real folder: a symlinked one is refused when writing.
    let is_dir = std::fs::symlink_metadata(&notes).is_ok_and(|m| m.is_dir());
    let Some(entries) = is_dir.then(|| std::fs::read_dir(&notes).ok()).flatten() else {
        return Ok(());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".md"))
        .take(MAX_NOTES)
        .collect();
    names.sort();
    for name in names {
        let path = notes.join(&name);
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_NOTE_BYTES);
        let Some(text) = small.then(|| std::fs::read_to_string(&path).ok()).flatten() else {
            continue;
        };
        let Some(old) = text.lines().rev().find_map(parse) else {
            continue;
        };
        let again: Vec<u32> = new
            .stages
            .iter()
            .copied()
            .filter(|s| old.stages.contains(s))
            .collect();
        if old.change_id != new.change_id || again.is_empty() {
            continue;
        }
        let same = if old.plan == new.plan {
            "the same plan"
        } else {
            "a plan of the same change with other options"
        };
        let stages = again
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!(
            "`{}` was already emitted here ({same}, stage {stages}): {NOTES_DIR}/{name} and {}; nothing was written. Deploy those, or delete them all to emit the change again; ask for a later stage with --stage",
            crate::report::echo(&new.change),
            old.files.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn a_record_survives_html_comment_rules() {
        let r = Record {
            change: "x --> y -- z".into(),
            change_id: "1".into(),
            plan: "2".into(),
            stages: vec![1, 2],
            files: vec!["db/1.sql".into()],
        };
        let json = serde_json::to_string(&r).unwrap().replace("--", "-\\u002d");
        let line = format!("{PREFIX}{json}{SUFFIX}");
        assert!(!line[4..line.len() - 3].contains("--"), "{line}");
        assert_eq!(parse(&line), Some(r));
    }
}
