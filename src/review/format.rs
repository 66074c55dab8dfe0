//! Review output for people and CI (text, JSON, GitHub annotations, SARIF),
//! and the rules' documentation as a list or a Markdown page.

use super::rules::{self, Rule};
use super::{Finding, Review, Severity};
use crate::context::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// An output format of `schemashift review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `file:line:col: severity[rule] message`, the fix indented, a summary.
    #[default]
    Text,
    /// The [`Review`] as JSON.
    Json,
    /// GitHub Actions workflow commands (`::error file=...::message`).
    Github,
    /// SARIF 2.1.0, for code scanning (github/codeql-action/upload-sarif).
    Sarif,
}

/// Where each statement ends, by file and start position, so SARIF can mark
/// the whole statement and say which text its fix replaces.
#[derive(Debug, Clone, Default)]
pub struct Extents(HashMap<(String, usize, usize), (usize, usize)>);

impl Extents {
    /// Records that the statement starting at `start` in `file` ends before `end`
    /// (1-based line and column, the column one past the last character).
    pub fn insert(&mut self, file: &str, start: (usize, usize), end: (usize, usize)) {
        self.0.insert((file.to_string(), start.0, start.1), end);
    }

    fn end_of(&self, f: &Finding) -> Option<(usize, usize)> {
        let file = f.file.clone().unwrap_or_default();
        self.0.get(&(file, f.line, f.column)).copied()
    }
}

/// Writes a review in a format to `out`, as [`render`] gives it. JSON is
/// written as it is serialized: a large review's findings are then not held
/// a second time as one string.
pub fn write(
    out: &mut impl std::io::Write,
    review: &Review,
    format: Format,
    extents: &Extents,
) -> std::io::Result<()> {
    match format {
        Format::Json => write_json(out, review),
        _ => out.write_all(render(review, format, extents).as_bytes()),
    }
}

/// What `serde_json::to_writer_pretty` writes for the review, and a newline,
/// with the findings serialized on the review threads a batch at a time: on
/// a large review that serializing, one thread's work, was the last part of
/// the review to leave the other cores idle.
fn write_json(out: &mut impl std::io::Write, review: &Review) -> std::io::Result<()> {
    // The review without its findings shows where they go: `"findings": []`
    // occurs once in it, as the key (in a string its quotes are escaped).
    let shell = Review {
        verdict: review.verdict,
        findings: Vec::new(),
        summary: review.summary.clone(),
        statements: review.statements,
        config: review.config.clone(),
        findings_omitted: review.findings_omitted,
        skipped: review.skipped.clone(),
    };
    let head = serde_json::to_vec_pretty(&shell)?;
    // Just after the `[`.
    let at = memchr::memmem::find(&head, b"\"findings\": []")
        .map(|i| i + b"\"findings\": [".len())
        .ok_or_else(|| std::io::Error::other("the review's JSON has no findings key"))?;
    out.write_all(&head[..at])?;
    // About a megabyte of JSON at a time, however many findings there are.
    for (k, batch) in review.findings.chunks(512).enumerate() {
        let parts = super::context::on_review_threads(batch, |f| {
            let mut part = Vec::with_capacity(2048);
            // Finding's fields are strings, numbers and enums: nothing fails.
            serde_json::to_writer_pretty(&mut part, f)?;
            // A finding is pretty-printed two levels deeper in the review.
            // Raw newlines in serde_json's output are its own: one in a
            // string is written as `\n`.
            let mut indented = Vec::with_capacity(part.len() + part.len() / 8);
            indented.extend_from_slice(b"    ");
            let mut from = 0;
            for nl in memchr::memchr_iter(b'\n', &part) {
                indented.extend_from_slice(&part[from..nl]);
                indented.extend_from_slice(b"\n    ");
                from = nl + 1;
            }
            indented.extend_from_slice(&part[from..]);
            Ok::<_, serde_json::Error>(indented)
        });
        for (i, part) in parts.into_iter().enumerate() {
            out.write_all(if k == 0 && i == 0 { b"\n" } else { b",\n" })?;
            out.write_all(&part?)?;
        }
    }
    if !review.findings.is_empty() {
        out.write_all(b"\n  ")?;
    }
    out.write_all(&head[at..])?;
    out.write_all(b"\n")
}

/// Renders a review in a format. `extents` may be empty; SARIF uses it.
pub fn render(review: &Review, format: Format, extents: &Extents) -> String {
    match format {
        Format::Text => text(review),
        Format::Json => json(review),
        Format::Github => github(review),
        Format::Sarif => sarif(review, extents),
    }
}

fn location(f: &Finding) -> String {
    match &f.file {
        Some(file) => format!("{file}:{}:{}", f.line, f.column),
        None => format!("{}:{}", f.line, f.column),
    }
}

/// For people: one block per finding, then the summary and the verdict.
pub fn text(review: &Review) -> String {
    let mut out = String::new();
    for f in &review.findings {
        let _ = writeln!(
            out,
            "{}: {}[{}] {}",
            location(f),
            f.severity.as_str(),
            f.rule,
            f.message
        );
        if let Some(fix) = &f.fix {
            out.push_str("  fix:\n");
            for line in fix.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out.push('\n');
    }
    let verdict = serde_json::to_value(review.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if let Some(c) = &review.config {
        let _ = writeln!(out, "{}", c.describe());
    }
    // Every file left out, so that a clean verdict is not read as covering them.
    for s in &review.skipped {
        let _ = writeln!(out, "skipped: {} ({})", s.path, s.reason);
    }
    let _ = writeln!(out, "{}; verdict: {verdict}", review.summary);
    out
}

/// The [`Review`] itself: `verdict`, `findings`, `summary`, `statements`.
pub fn json(review: &Review) -> String {
    let mut out = Vec::new();
    match write_json(&mut out, review) {
        // serde_json writes UTF-8 only.
        Ok(()) => String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        // Only non-string map keys can fail here, and a Review has none.
        Err(e) => json!({ "error": e.to_string() }).to_string(),
    }
}

/// GitHub's escaping of workflow command data (the message).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of workflow command properties (`file=`, `title=`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions annotations: one workflow command per finding (shown on the
/// pull request's diff), then the summary as a plain log line.
pub fn github(review: &Review) -> String {
    let mut out = String::new();
    for f in &review.findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = &f.file {
            props.push(format!("file={}", escape_property(file)));
        }
        props.push(format!("line={}", f.line));
        props.push(format!("col={}", f.column));
        props.push(format!("title={}", escape_property(&f.rule)));
        let mut message = f.message.clone();
        if let Some(fix) = &f.fix {
            message.push_str("\n\nFix:\n");
            message.push_str(fix);
        }
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            escape_data(&message)
        );
    }
    for s in &review.skipped {
        let _ = writeln!(out, "schemashift: skipped {} ({})", s.path, s.reason);
    }
    let _ = writeln!(out, "schemashift: {}", review.summary);
    out
}

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Where a rule is documented online: its section of docs/rules.md.
fn help_uri(rule: &Rule) -> String {
    format!(
        "{}/blob/main/docs/rules.md#{}",
        env!("CARGO_PKG_REPOSITORY"),
        rule.id
    )
}

/// A path as a SARIF URI reference: relative paths stay relative (code
/// scanning resolves them against the checkout), absolute ones become file://.
fn uri_of(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.trim_start_matches("./");
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The SARIF 2.1.0 log as JSON text.
pub fn sarif(review: &Review, extents: &Extents) -> String {
    let mut s = serde_json::to_string_pretty(&sarif_value(review, extents))
        .unwrap_or_else(|e| json!({ "error": e.to_string() }).to_string());
    s.push('\n');
    s
}

/// The SARIF 2.1.0 log: one run, every rule in `tool.driver.rules`, one
/// result per finding with its fix.
pub fn sarif_value(review: &Review, extents: &Extents) -> Value {
    let rules: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            let doc = r.doc();
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": doc },
                "help": { "text": doc, "markdown": doc },
                "helpUri": help_uri(r),
                "defaultConfiguration": { "level": sarif_level(r.severity) },
                "properties": { "tags": ["migration", "database"] },
            })
        })
        .collect();
    let results: Vec<Value> = review
        .findings
        .iter()
        .map(|f| sarif_result(f, extents))
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "schemashift",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            // Columns are counted in characters, as the SQL parser counts them.
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn sarif_result(f: &Finding, extents: &Extents) -> Value {
    let mut region = json!({ "startLine": f.line, "startColumn": f.column });
    let end = extents.end_of(f);
    if let Some((end_line, end_column)) = end {
        region["endLine"] = json!(end_line);
        region["endColumn"] = json!(end_column);
    }
    let mut physical = json!({ "region": region });
    if let Some(file) = &f.file {
        physical["artifactLocation"] = json!({ "uri": uri_of(file) });
    }
    let mut result = json!({
        "ruleId": f.rule,
        "level": sarif_level(f.severity),
        "message": { "text": f.message },
        "locations": [{ "physicalLocation": physical }],
    });
    if let Some(i) = rules::ALL.iter().position(|r| r.id == f.rule) {
        result["ruleIndex"] = json!(i);
    }
    let mut properties = json!({ "statement": f.statement });
    if let Some(table) = &f.table {
        properties["table"] = json!(table);
    }
    if let Some(lock) = f.lock {
        properties["lock"] = json!(lock);
    }
    if let Some(fix) = &f.fix {
        // A SARIF fix must say which text it replaces: the whole statement,
        // known when the statement's end is. Otherwise the fix is still
        // reported, as a property.
        match (&f.file, end) {
            (Some(file), Some(_)) => {
                result["fixes"] = json!([{
                    "description": { "text": fix },
                    "artifactChanges": [{
                        "artifactLocation": { "uri": uri_of(file) },
                        "replacements": [{
                            "deletedRegion": region,
                            "insertedContent": { "text": fix },
                        }],
                    }],
                }]);
            }
            _ => properties["fix"] = json!(fix),
        }
    }
    result["properties"] = properties;
    result
}

fn engines_of(rule: &Rule) -> String {
    rule.engines
        .iter()
        .map(|e| match e {
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every rule, one a line: id, severity, summary.
pub fn rules_list() -> String {
    let width = rules::ALL.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rules::ALL {
        let _ = writeln!(
            out,
            "{:<width$}  {:<7}  {}",
            r.id,
            r.severity.as_str(),
            r.summary
        );
    }
    out
}

/// The Markdown page of every rule's documentation (docs/rules.md).
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# Review rules\n\n\
         <!-- Generated by `schemashift rules --markdown > docs/rules.md`; do not edit by hand. -->\n\n\
         `schemashift review` checks every statement of a migration against these rules \
         (the MCP tool `review_plan` runs the same ones). Each rule knows the lock a statement \
         takes and the PostgreSQL versions where the statement is safe, and stays silent on \
         tables created earlier in the same file. Silence a rule for one statement with \
         `-- schemashift-ignore rule-id` on the line before it, for a whole file with \
         `-- schemashift-ignore-file`, or everywhere with `exclude = [\"rule-id\"]` in \
         `schemashift.toml`. `schemashift rules ID` prints one rule's documentation.\n\n\
         | rule | severity | engines | what it finds |\n|---|---|---|---|\n",
    );
    for r in rules::ALL {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            r.id,
            r.id,
            r.severity.as_str(),
            engines_of(r),
            r.summary.replace('|', "\\|")
        );
    }
    for r in rules::ALL {
        out.push('\n');
        let doc = r.doc();
        let mut lines = doc.lines().peekable();
        // The doc opens with `# id`; the page gives it a level-2 heading and
        // the rule's severity and engines under it.
        match lines.peek() {
            Some(l) if l.starts_with("# ") => {
                let _ = writeln!(out, "#{}", l);
                lines.next();
            }
            _ => {
                let _ = writeln!(out, "## {}", r.id);
            }
        }
        let _ = writeln!(
            out,
            "\nSeverity: **{}**. Engines: {}.",
            r.severity.as_str(),
            engines_of(r)
        );
        let mut fenced = false;
        for l in lines {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            // Headings inside a rule's doc sit one level below the rule's own.
            if !fenced && l.starts_with('#') {
                let _ = writeln!(out, "#{l}");
            } else {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Lock;
    use crate::review::Finding;

    fn finding(rule: &str, severity: Severity, file: Option<&str>) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: "renaming users.a to b: 100% breaks, a:b".into(),
            file: file.map(str::to_string),
            line: 3,
            column: 5,
            statement: "ALTER TABLE users RENAME COLUMN a TO b".into(),
            fix: Some("ALTER TABLE users ADD COLUMN b text;\nCREATE TRIGGER t ...;".into()),
            table: Some("users".into()),
            lock: Some(Lock::AccessExclusive),
        }
    }

    fn review() -> Review {
        Review::from_findings(
            vec![
                finding("rename-column", Severity::Error, Some("db/a, b:c.sql")),
                finding(
                    "create-index-non-concurrent",
                    Severity::Warning,
                    Some("db/x.sql"),
                ),
            ],
            2,
        )
    }

    #[test]
    fn json_is_what_serde_json_pretty_prints() {
        let mut tricky = finding("rename-column", Severity::Info, None);
        tricky.message = "a \"findings\": [] inside,\n\ta string \u{2028} é".into();
        tricky.fix = None;
        tricky.lock = None;
        for n in [0, 1, 2, 511, 512, 513, 1300] {
            let findings: Vec<Finding> = (0..n)
                .map(|i| {
                    let mut f = if i % 3 == 0 {
                        tricky.clone()
                    } else {
                        finding("drop-column", Severity::Error, Some("db/a.sql"))
                    };
                    f.line = i + 1;
                    f
                })
                .collect();
            let r = Review::from_findings(findings, n);
            let want = serde_json::to_string_pretty(&r).unwrap() + "\n";
            assert_eq!(json(&r), want, "{n} findings");
            let mut written = Vec::new();
            write(&mut written, &r, Format::Json, &Extents::default()).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), want, "{n} findings");
        }
    }

    #[test]
    fn text_has_location_severity_rule_fix_and_summary() {
        let t = text(&review());
        assert!(
            t.contains("db/a, b:c.sql:3:5: error[rename-column] renaming users.a to b"),
            "{t}"
        );
        assert!(t.contains("  fix:\n    ALTER TABLE users ADD COLUMN b text;\n"));
        assert!(t.trim_end().ends_with("verdict: stop"), "{t}");
    }

    #[test]
    fn github_commands_escape_properties_and_data() {
        let g = github(&review());
        let first = g.lines().next().unwrap();
        assert_eq!(
            first,
            "::error file=db/a%2C b%3Ac.sql,line=3,col=5,title=rename-column::renaming users.a to b: 100%25 breaks, a:b%0A%0AFix:%0AALTER TABLE users ADD COLUMN b text;%0ACREATE TRIGGER t ...;"
        );
        assert!(g
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("::warning file=db/x.sql,"));
        assert_eq!(g.lines().count(), 3);
    }

    #[test]
    fn json_is_the_review() {
        let r = review();
        let back: Review = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn sarif_has_rules_results_regions_and_fixes() {
        let r = review();
        let mut ext = Extents::default();
        ext.insert("db/a, b:c.sql", (3, 5), (4, 10));
        let v = sarif_value(&r, &ext);
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "schemashift");
        let ids: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"rename-column"));
        let res = &run["results"][0];
        assert_eq!(res["ruleId"], "rename-column");
        assert_eq!(res["level"], "error");
        assert_eq!(
            ids[res["ruleIndex"].as_u64().unwrap() as usize],
            "rename-column"
        );
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "db/a%2C%20b%3Ac.sql");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["endColumn"], 10);
        let fix = &res["fixes"][0];
        assert!(fix["description"]["text"]
            .as_str()
            .unwrap()
            .starts_with("ALTER TABLE users ADD COLUMN b"));
        assert_eq!(
            fix["artifactChanges"][0]["replacements"][0]["deletedRegion"]["endLine"],
            4
        );
        // No extent known: the fix travels as a property, never as an edit
        // of unknown text.
        let other = &run["results"][1];
        assert!(other.get("fixes").is_none());
        assert!(other["properties"]["fix"].is_string());
        assert_eq!(other["level"], "warning");
    }

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(
            uri_of("./db/migrate/001 add.sql"),
            "db/migrate/001%20add.sql"
        );
        assert_eq!(uri_of("/abs/x.sql"), "file:///abs/x.sql");
        assert_eq!(uri_of("stdin"), "stdin");
    }

    #[test]
    fn the_rules_page_documents_every_rule() {
        let md = rules_markdown();
        for r in rules::ALL {
            assert!(md.contains(&format!("\n## {}\n", r.id)), "{} missing", r.id);
            assert!(md.contains(&format!("[`{}`](#{})", r.id, r.id)));
        }
        assert!(!md.contains("\n# rename-column"));
        let list = rules_list();
        assert_eq!(list.lines().count(), rules::ALL.len());
    }
}
