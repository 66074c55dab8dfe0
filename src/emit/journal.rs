//! Appending entries to Drizzle Kit's `meta/_journal.json` without touching
//! what is there: the new entries are inserted as text after the last
//! existing one, copied from it (so key order, spacing and any other field
//! stay as the project writes them) with only `idx`, `when` and `tag`
//! changed. Every byte of the existing file is kept; the result is checked
//! to parse with the old entries unchanged and the new ones after them.

use std::ops::Range;

/// A journal entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewEntry {
    pub idx: u64,
    /// Milliseconds since the epoch; drizzle's migrator runs an entry only
    /// when it is newer than the newest one the database has applied.
    pub when: u64,
    pub tag: String,
}

/// The journal drizzle-kit writes for a new PostgreSQL project.
pub(crate) const EMPTY_JOURNAL: &str =
    "{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": []\n}";

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index just past the JSON value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            None
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = value_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The members of the object at `i`: key and value span.
fn members(text: &str, i: usize) -> Option<Vec<(String, Range<usize>)>> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Some(out);
    }
    loop {
        let key_end = value_end(b, j)?;
        let key: String = serde_json::from_str(&text[j..key_end]).ok()?;
        j = skip_ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, j + 1);
        let end = value_end(b, start)?;
        out.push((key, start..end));
        j = skip_ws(b, end);
        match b.get(j)? {
            b',' => j = skip_ws(b, j + 1),
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

/// The elements of the array at `i`, and the index of its `]`.
fn elements(b: &[u8], i: usize) -> Option<(Vec<Range<usize>>, usize)> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Some((out, j));
    }
    loop {
        let end = value_end(b, j)?;
        out.push(j..end);
        j = skip_ws(b, end);
        match b.get(j)? {
            b',' => j = skip_ws(b, j + 1),
            b']' => return Some((out, j)),
            _ => return None,
        }
    }
}

/// The whitespace that starts the line holding byte `i`.
fn line_indent(text: &str, i: usize) -> &str {
    let start = text[..i].rfind('\n').map_or(0, |n| n + 1);
    let line = &text[start..i];
    &line[..line.len() - line.trim_start().len()]
}

/// `entry` with the values of `idx`, `when` and `tag` replaced.
fn templated(text: &str, entry: Range<usize>, new: &NewEntry) -> Result<String, String> {
    let fields = members(text, entry.start).ok_or("an entry is not an object")?;
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for (key, value) in [
        ("idx", new.idx.to_string()),
        ("when", new.when.to_string()),
        (
            "tag",
            serde_json::to_string(&new.tag).map_err(|e| e.to_string())?,
        ),
    ] {
        let (_, span) = fields
            .iter()
            .find(|(k, _)| k == key)
            .ok_or_else(|| format!("its last entry has no \"{key}\""))?;
        edits.push((span.clone(), value));
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text[entry.clone()].to_string();
    for (span, value) in edits {
        out.replace_range(span.start - entry.start..span.end - entry.start, &value);
    }
    Ok(out)
}

/// An entry as drizzle-kit writes it, for a journal that has none yet.
fn fresh(new: &NewEntry, version: &str, indent: &str, inner: &str, nl: &str) -> String {
    let colon = if nl.is_empty() { ":" } else { ": " };
    let field = |k: &str, v: String| format!("{nl}{inner}\"{k}\"{colon}{v}");
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    [
        "{".to_string(),
        field("idx", new.idx.to_string()) + ",",
        field("version", q(version)) + ",",
        field("when", new.when.to_string()) + ",",
        field("tag", q(&new.tag)) + ",",
        field("breakpoints", "true".into()),
        format!("{nl}{indent}}}"),
    ]
    .concat()
}

/// `journal` with `new` appended to its `entries`. Fails, changing
/// nothing, when the text is not a journal this can extend exactly.
pub(crate) fn append(journal: &str, new: &[NewEntry]) -> Result<String, String> {
    let bad = |why: &str| format!("meta/_journal.json cannot be extended: {why}");
    let b = journal.as_bytes();
    let top = skip_ws(b, 0);
    let fields = members(journal, top).ok_or_else(|| bad("it is not a JSON object"))?;
    let entries = fields
        .iter()
        .find(|(k, _)| k == "entries")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| bad("it has no \"entries\""))?;
    let (items, close) =
        elements(b, entries.start).ok_or_else(|| bad("\"entries\" is not an array"))?;
    let (at, insert) = match items.last() {
        Some(last) => {
            // The separator the file uses between entries (comma included).
            let sep = if items.len() >= 2 {
                journal[items[items.len() - 2].end..last.start].to_string()
            } else {
                format!(",{}", &journal[entries.start + 1..last.start])
            };
            let mut s = String::new();
            for n in new {
                s.push_str(&sep);
                s.push_str(&templated(journal, last.clone(), n).map_err(|e| bad(&e))?);
            }
            (last.end..last.end, s)
        }
        None => {
            let version = fields
                .iter()
                .find(|(k, _)| k == "version")
                .and_then(|(_, v)| serde_json::from_str::<String>(&journal[v.clone()]).ok())
                .unwrap_or_else(|| "7".into());
            let pretty = journal.contains('\n');
            let (nl, key) = if pretty {
                // Entries one level deeper than the "entries" key, as JSON.stringify(_, null, 2) does.
                let key_at = journal[..entries.start].rfind("\"entries\"").unwrap_or(0);
                ("\n", line_indent(journal, key_at).to_string())
            } else {
                ("", String::new())
            };
            let step = if pretty {
                if key.is_empty() {
                    "  ".to_string()
                } else {
                    key.clone()
                }
            } else {
                String::new()
            };
            let (indent, inner) = (format!("{key}{step}"), format!("{key}{step}{step}"));
            let mut s = String::from("[");
            for (i, n) in new.iter().enumerate() {
                s.push_str(if i == 0 { "" } else { "," });
                s.push_str(nl);
                s.push_str(&indent);
                s.push_str(&fresh(n, &version, &indent, &inner, nl));
            }
            s.push_str(nl);
            s.push_str(&key);
            s.push(']');
            // Only whitespace was between the brackets.
            (entries.start..close + 1, s)
        }
    };
    let mut out = journal.to_string();
    out.replace_range(at, &insert);
    check(journal, &out, new).map_err(|e| bad(&e))?;
    Ok(out)
}

/// The new text parses, keeps every old entry as it was and adds `new` after them.
fn check(old: &str, new_text: &str, new: &[NewEntry]) -> Result<(), String> {
    let entries = |t: &str| -> Result<Vec<serde_json::Value>, String> {
        let v: serde_json::Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
        v.get("entries")
            .and_then(|e| e.as_array())
            .cloned()
            .ok_or_else(|| "no entries array".to_string())
    };
    let (before, after) = (entries(old)?, entries(new_text)?);
    if after.len() != before.len() + new.len() || after[..before.len()] != before[..] {
        return Err("the existing entries would change".into());
    }
    for (got, want) in after[before.len()..].iter().zip(new) {
        if got["idx"] != want.idx || got["when"] != want.when || got["tag"] != want.tag.as_str() {
            return Err(format!("the entry for {} came out as {got}", want.tag));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(idx: u64, tag: &str) -> NewEntry {
        NewEntry {
            idx,
            when: 1_767_225_600_000 + idx,
            tag: tag.into(),
        }
    }

    #[test]
    fn appends_after_the_last_entry_keeping_every_byte() {
        let old = "{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\n      \"idx\": 0,\n      \"version\": \"7\",\n      \"when\": 1704447000000,\n      \"tag\": \"0000_init\",\n      \"breakpoints\": true\n    }\n  ]\n}";
        let new = append(old, &[entry(1, "0001_a"), entry(2, "0002_b")]).unwrap();
        let cut = old.find("    }\n  ]").unwrap() + "    }".len();
        assert!(new.starts_with(&old[..cut]));
        assert!(new.ends_with(&old[cut..]));
        assert_eq!(
            &new[cut..new.len() - old[cut..].len()],
            ",\n    {\n      \"idx\": 1,\n      \"version\": \"7\",\n      \"when\": 1767225600001,\n      \"tag\": \"0001_a\",\n      \"breakpoints\": true\n    },\n    {\n      \"idx\": 2,\n      \"version\": \"7\",\n      \"when\": 1767225600002,\n      \"tag\": \"0002_b\",\n      \"breakpoints\": true\n    }"
        );
    }

    #[test]
    fn follows_the_files_own_layout() {
        // Minified, other key order, an extra field, tabs between entries.
        let old = "{\"entries\":[{\"tag\":\"0000_a\",\"when\":1,\"idx\":0,\"x\":[1,\"]\"]},\t{\"tag\":\"0001_b\",\"when\":2,\"idx\":1,\"x\":[1,\"]\"]}],\"dialect\":\"pg\"}\n";
        let new = append(old, &[entry(2, "0002_c")]).unwrap();
        assert_eq!(
            new,
            "{\"entries\":[{\"tag\":\"0000_a\",\"when\":1,\"idx\":0,\"x\":[1,\"]\"]},\t{\"tag\":\"0001_b\",\"when\":2,\"idx\":1,\"x\":[1,\"]\"]},\t{\"tag\":\"0002_c\",\"when\":1767225600002,\"idx\":2,\"x\":[1,\"]\"]}],\"dialect\":\"pg\"}\n"
        );
    }

    #[test]
    fn fills_an_empty_journal_as_drizzle_kit_does() {
        let new = append(EMPTY_JOURNAL, &[entry(0, "0000_a")]).unwrap();
        assert_eq!(
            new,
            "{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\n      \"idx\": 0,\n      \"version\": \"7\",\n      \"when\": 1767225600000,\n      \"tag\": \"0000_a\",\n      \"breakpoints\": true\n    }\n  ]\n}"
        );
        let min = append("{\"version\":\"5\",\"entries\":[ ]}", &[entry(0, "0000_a")]).unwrap();
        assert_eq!(
            min,
            "{\"version\":\"5\",\"entries\":[{\"idx\":0,\"version\":\"5\",\"when\":1767225600000,\"tag\":\"0000_a\",\"breakpoints\":true}]}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_extend_exactly() {
        for bad in [
            "[]",
            "{\"entries\": {}}",
            "{\"version\": \"7\"}",
            "{\"entries\": [{\"idx\": 0, \"tag\": \"0000_a\"}]}",
            "{\"entries\": [1]}",
            "{\"entries\": [",
        ] {
            assert!(append(bad, &[entry(1, "0001_b")]).is_err(), "{bad}");
        }
    }
}
