//! Templates -> text. Every human-readable output (CLI and MCP) is rendered
//! from the same JSON data with these embedded minijinja templates
//! (`templates/`; a file's stem is the template's name, files starting with
//! `_` hold shared macros). The catalogue below says which data each template
//! reads; `references/output-templates.md` documents the same list and a test
//! keeps the two in agreement.
//!
//! Names: a full report is named after what it shows (`plan`, `backfill`,
//! `review`, ...); its terminal receipt of at most 40 lines is the same name
//! with `-summary` (`plan-summary`). [`render`] picks between the two from the
//! [`Format`].

use crate::classify::Classification;
use crate::engine::Lock;
use crate::plan::Plan;
use crate::rehearse::Rehearsal;
use crate::review::Review;
use include_dir::{include_dir, Dir};
use minijinja::{Environment, ErrorKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::sync::LazyLock;

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// URI prefix of the templates served as MCP resources.
pub const URI_PREFIX: &str = "schemashift://templates/";
/// The resource template clients can fill in.
pub const URI_TEMPLATE: &str = "schemashift://templates/{name}";

/// Keys a caller may add to the data beside the ones of the result itself.
/// `report_path`: where the full report was written; summaries point to it.
pub const EXTRA_FIELDS: &[&str] = &["report_path"];

/// The widest line a summary writes (a terminal of 80 columns).
const SUMMARY_WIDTH: usize = 78;

/// Which rendering of a result to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The full report (Markdown).
    #[default]
    Markdown,
    /// The terminal receipt: at most 40 lines, pointing to the full report.
    Summary,
}

/// The result a template reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// A `build_plan` result ([`Plan`]).
    Plan,
    /// A `review_plan` result ([`Review`]).
    Review,
    /// A `classify_change` result ([`Classification`]).
    Classification,
    /// A `rehearse_plan` result ([`Rehearsal`]).
    Rehearsal,
}

impl DataKind {
    /// How the result is called in messages.
    pub fn describe(self) -> &'static str {
        match self {
            DataKind::Plan => "a build_plan result",
            DataKind::Review => "a review_plan result",
            DataKind::Classification => "a classify_change result",
            DataKind::Rehearsal => "a rehearse_plan result",
        }
    }

    /// The JSON Schema of the result (the data every template of this kind reads).
    pub fn schema(self) -> Json {
        let s = match self {
            DataKind::Plan => schemars::schema_for!(Plan),
            DataKind::Review => schemars::schema_for!(Review),
            DataKind::Classification => schemars::schema_for!(Classification),
            DataKind::Rehearsal => schemars::schema_for!(Rehearsal),
        };
        serde_json::to_value(s).unwrap_or(Json::Null)
    }

    /// Its required top-level keys, in declaration order.
    pub fn required_fields(self) -> Vec<String> {
        self.schema()["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One public template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The name (`plan`, `plan-summary`, ...); also the file stem in `templates/`.
    pub name: &'static str,
    pub data: DataKind,
    pub format: Format,
    /// The full report of a summary, or the summary of a full report.
    pub sibling: &'static str,
    /// What it shows, in a line.
    pub description: &'static str,
}

impl Template {
    /// The template's source text.
    pub fn source(&self) -> &'static str {
        source(self.name).unwrap_or_default()
    }

    pub fn uri(&self) -> String {
        format!("{URI_PREFIX}{}", self.name)
    }

    /// MIME type of what it renders.
    pub fn mime_type(&self) -> &'static str {
        match self.format {
            Format::Markdown => "text/markdown",
            Format::Summary => "text/plain",
        }
    }
}

const fn t(
    name: &'static str,
    data: DataKind,
    format: Format,
    sibling: &'static str,
    description: &'static str,
) -> Template {
    Template {
        name,
        data,
        format,
        sibling,
        description,
    }
}

/// Every public template. A full report's summary sibling is the receipt
/// printed when the report goes to a file.
pub const CATALOGUE: &[Template] = &[
    t("plan", DataKind::Plan, Format::Markdown, "plan-summary",
      "the whole rollout: change summary, compatibility, timeline, SQL per phase with rollback, validation, lock impact, backfill, estimates, runbook, invariants, rollback points, risks"),
    t("plan-summary", DataKind::Plan, Format::Summary, "plan",
      "terminal receipt of a plan: type, verdict, steps, top risks, where the report is"),
    t("backfill", DataKind::Plan, Format::Markdown, "plan-summary",
      "the backfill in depth: scope, chunk key, the procedure and the prepared batch with its loop, restart, throttle and abort, progress and completion, reconciliation, rules"),
    t("cutover", DataKind::Plan, Format::Markdown, "plan-summary",
      "the switch-over in depth: read/write shape per app version, switch mechanism, advance and abort criteria, rollback, checklist"),
    t("deprecate", DataKind::Plan, Format::Markdown, "plan-summary",
      "the removal in depth: what is removed, evidence that nothing uses it, removal order, undo, the final drop"),
    t("runbook", DataKind::Plan, Format::Markdown, "plan-summary",
      "the checklist people follow, and nothing else"),
    t("review", DataKind::Review, Format::Markdown, "review-summary",
      "a migration review: verdict, findings table, each finding with its statement and fix"),
    t("review-summary", DataKind::Review, Format::Summary, "review",
      "terminal receipt of a review: verdict, counts, top findings, where the report is"),
    t("classification", DataKind::Classification, Format::Markdown, "classification-summary",
      "a classification: type, risk, pattern, phases, lock facts of the naive DDL, red flags, invariants, questions"),
    t("classification-summary", DataKind::Classification, Format::Summary, "classification",
      "terminal receipt of a classification: type, verdict on the naive DDL, phases, red flags, questions"),
    t("rehearsal", DataKind::Rehearsal, Format::Markdown, "rehearsal-summary",
      "a rehearsal on a real PostgreSQL: verdict, app model, per phase and rollback each statement's lock, duration and app latency, errors, invariant checks, backfill figures"),
    t("rehearsal-summary", DataKind::Rehearsal, Format::Summary, "rehearsal",
      "terminal receipt of a rehearsal: verdict, phases with their worst app latency, first failures, where the report is"),
];

/// Names of the public templates, in catalogue order.
pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|t| t.name).collect()
}

/// Looks a template up by name (`plan`), file name (`plan.md`) or URI.
pub fn get(name_or_uri: &str) -> Option<&'static Template> {
    let name = name_or_uri.strip_prefix(URI_PREFIX).unwrap_or(name_or_uri);
    let name = name
        .strip_suffix(".md")
        .or_else(|| name.strip_suffix(".txt"))
        .unwrap_or(name);
    CATALOGUE.iter().find(|t| t.name == name)
}

/// The source text of an embedded template file, by name (stem).
pub fn source(name: &str) -> Option<&'static str> {
    TEMPLATES.files().find_map(|f| {
        (f.path().file_stem()?.to_str()? == name)
            .then(|| f.contents_utf8())
            .flatten()
    })
}

/// Stems of every embedded template file, macros included.
pub fn embedded_files() -> Vec<&'static str> {
    let mut n: Vec<&str> = TEMPLATES
        .files()
        .filter_map(|f| f.path().file_stem()?.to_str())
        .collect();
    n.sort_unstable();
    n
}

/// The top-level keys of its data a template reads, sorted (from its source:
/// the variables it uses and does not define, less the functions).
pub fn keys_read(name: &str) -> Vec<String> {
    const FUNCTIONS: &[&str] = &["box", "range", "namespace", "dict", "debug"];
    let Ok(t) = ENV.get_template(name) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|k| !FUNCTIONS.contains(&k.as_str()))
        .collect();
    keys.sort();
    keys
}

/// Picks the template: as named when `format` is `None`; otherwise the full
/// report or the summary of the same family.
pub fn resolve(template: &str, format: Option<Format>) -> Result<&'static Template, RenderError> {
    let t = get(template).ok_or_else(|| RenderError::UnknownTemplate(template.to_string()))?;
    Ok(match format {
        Some(f) if f != t.format => get(t.sibling).unwrap_or(t),
        _ => t,
    })
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("no template named `{0}`: the templates are {list}", list = names().join(", "))]
    UnknownTemplate(String),
    /// The data is not the result the template reads.
    #[error("the data does not fit template `{template}`: {detail} (expected {what}: {fields})")]
    DataMismatch {
        template: &'static str,
        detail: String,
        what: &'static str,
        fields: String,
    },
    /// A defect of an embedded template (tests keep this from shipping).
    #[error("template `{template}` failed: {detail}")]
    Template {
        template: &'static str,
        detail: String,
    },
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("static syntax config is valid"),
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("code", code);
    env.add_filter("cell", cell);
    env.add_filter("sentence", sentence);
    env.add_filter("secs", secs);
    env.add_filter("wrap", wrap);
    env.add_filter("trunc", trunc);
    env.add_filter("pad", pad);
    env.add_filter("strongest_lock", strongest_lock);
    env.add_filter("thousands", thousands);
    env.add_function("box", boxed);
    for f in TEMPLATES.files() {
        if let (Some(name), Some(text)) = (
            f.path().file_stem().and_then(|s| s.to_str()),
            f.contents_utf8(),
        ) {
            // Templates are part of the binary and tested; a broken one is a build defect.
            env.add_template(name, text)
                .expect("embedded template parses");
        }
    }
    env
});

/// Renders serialisable data (a [`Plan`], [`Review`] or [`Classification`],
/// or their JSON) with a template; `format` picks the full report or the
/// summary of the template's family (`None`: the template as named). The
/// result the template reads is rendered as it is; anything else goes
/// through [`render_json`] and its checks.
pub fn render<T: Serialize + 'static>(
    template: &str,
    data: &T,
    format: Option<Format>,
) -> Result<String, RenderError> {
    let t = resolve(template, format)?;
    let any = data as &dyn std::any::Any;
    let typed = match t.data {
        DataKind::Plan => any.is::<Plan>(),
        DataKind::Review => any.is::<Review>(),
        DataKind::Classification => any.is::<Classification>(),
        DataKind::Rehearsal => any.is::<Rehearsal>(),
    };
    if typed {
        // Already the result, with every key: no JSON round trip.
        let ctx = minijinja::context! {
            report_path => (),
            ..minijinja::Value::from(minijinja::value::Serde(data))
        };
        return render_context(t, ctx);
    }
    let value = serde_json::to_value(data).map_err(|e| mismatch(t, e.to_string()))?;
    render_json(t.name, &value, None)
}

/// Renders JSON data, first checking it is the result the template reads
/// (the error names the missing or wrong field).
pub fn render_json(
    template: &str,
    data: &Json,
    format: Option<Format>,
) -> Result<String, RenderError> {
    let t = resolve(template, format)?;
    let context = checked(t, data)?;
    render_context(t, minijinja::Value::from(minijinja::value::Serde(&context)))
}

fn render_context(t: &'static Template, ctx: minijinja::Value) -> Result<String, RenderError> {
    let tpl = ENV
        .get_template(t.name)
        .map_err(|e| RenderError::Template {
            template: t.name,
            detail: e.to_string(),
        })?;
    let text = tpl.render(ctx).map_err(|e| {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(&format!(": {s}"));
            source = s.source();
        }
        RenderError::Template {
            template: t.name,
            detail,
        }
    })?;
    Ok(tidy(&text))
}

/// Whitespace only: no run of blank lines longer than one and no blank line
/// at the start or end, outside fenced code blocks (whose text is left as it
/// is); one final newline. Templates can then space their blocks generously.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    let mut blank_pending = false;
    for line in text.lines() {
        if !fenced && line.trim().is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if blank_pending {
            out.push('\n');
            blank_pending = false;
        }
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `data` with `report_path` set, for summaries that point to a written report.
pub fn with_report_path<T: Serialize + ?Sized>(data: &T, report_path: &str) -> Json {
    let mut v = serde_json::to_value(data).unwrap_or(Json::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("report_path".into(), Json::from(report_path));
    }
    v
}

fn mismatch(t: &'static Template, detail: String) -> RenderError {
    let fields = t.data.required_fields();
    let shown: Vec<&str> = fields.iter().take(6).map(String::as_str).collect();
    RenderError::DataMismatch {
        template: t.name,
        detail,
        what: t.data.describe(),
        fields: if fields.len() > shown.len() {
            format!("{}, ...", shown.join(", "))
        } else {
            shown.join(", ")
        },
    }
}

/// Deserialises the data into the template's result type (so a missing or
/// mistyped field is named with its path), then serialises it back with every
/// key present, plus the extra fields the caller gave.
fn checked(t: &'static Template, data: &Json) -> Result<Json, RenderError> {
    fn typed<T: for<'de> Deserialize<'de> + Serialize>(
        t: &'static Template,
        data: &Json,
    ) -> Result<Json, RenderError> {
        let v: T = serde_path_to_error::deserialize(data).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            mismatch(
                t,
                if path == "." {
                    inner
                } else {
                    format!("at `{path}`: {inner}")
                },
            )
        })?;
        serde_json::to_value(&v).map_err(|e| mismatch(t, e.to_string()))
    }
    if !data.is_object() {
        return Err(mismatch(
            t,
            format!("it is {}, not an object", json_kind(data)),
        ));
    }
    let mut v = match t.data {
        DataKind::Plan => typed::<Plan>(t, data)?,
        DataKind::Review => typed::<Review>(t, data)?,
        DataKind::Classification => typed::<Classification>(t, data)?,
        DataKind::Rehearsal => typed::<Rehearsal>(t, data)?,
    };
    if let (Some(out), Some(given)) = (v.as_object_mut(), data.as_object()) {
        for k in EXTRA_FIELDS {
            let x = given.get(*k).cloned().unwrap_or(Json::Null);
            if !(x.is_null() || x.is_string()) {
                return Err(mismatch(t, format!("`{k}` must be a string")));
            }
            out.insert((*k).to_string(), x);
        }
    }
    Ok(v)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

// ---- filters -------------------------------------------------------------

/// Inline code for a Markdown table cell: one line, pipes escaped, a fence
/// longer than any backtick run inside.
fn code(s: &str) -> String {
    let one = one_line(s).replace('|', "\\|");
    let longest = one.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {one} {fence}")
    } else {
        format!("{fence}{one}{fence}")
    }
}

/// Text for a Markdown table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Capital first letter and a full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?', ':', ';']) {
        out.push('.');
    }
    out
}

/// Seconds for people: `5 ms`, `0.75 s`, `15 s`, `2 min 5 s`, `1 h 3 min`.
fn secs(v: minijinja::Value) -> String {
    let Ok(s) = f64::try_from(v.clone()) else {
        return v.to_string();
    };
    if s <= 0.0 {
        "0 s".into()
    } else if s < 1.0 {
        format!("{} ms", ((s * 1000.0).round() as u64).max(1))
    } else if s < 10.0 {
        let r = (s * 100.0).round() / 100.0;
        format!("{r} s")
    } else if s < 60.0 {
        format!("{} s", s.round() as u64)
    } else if s < 3600.0 {
        let t = s.round() as u64;
        match t % 60 {
            0 => format!("{} min", t / 60),
            r => format!("{} min {r} s", t / 60),
        }
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// 20000000 -> 20,000,000.
fn thousands(v: minijinja::Value) -> String {
    let Ok(n) = u64::try_from(v.clone()) else {
        return v.to_string();
    };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Word-wraps text that starts at the column `indent` is wide (after a
/// prefix of that width, like `  ! `) so no line passes `width` columns; lines
/// after the first start with `indent`; at most `max_lines` lines, the last
/// ending in `…` when cut.
fn wrap(s: &str, width: Option<usize>, indent: Option<&str>, max_lines: Option<usize>) -> String {
    let indent = indent.unwrap_or("");
    let avail = width
        .unwrap_or(SUMMARY_WIDTH)
        .saturating_sub(indent.chars().count())
        .max(10);
    let lines = wrap_lines(s, avail);
    let max = max_lines.unwrap_or(usize::MAX).max(1);
    let mut out: Vec<String> = lines.iter().take(max).cloned().collect();
    if lines.len() > max {
        if let Some(last) = out.last_mut() {
            *last = ellipsis(&format!("{last} …"), avail);
        }
    }
    out.join(&format!("\n{indent}"))
}

/// Greedy word wrap to lines of at most `width` characters; a word longer
/// than a line is cut, never left to overflow.
fn wrap_lines(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.chars().count() > width {
            lines.push(cur.chars().take(width).collect());
            cur = cur.chars().skip(width).collect();
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out = out.trim_end().to_string();
    out.push('…');
    out
}

/// One line of at most `n` characters, `…` when cut.
fn trunc(s: &str, n: Option<usize>) -> String {
    ellipsis(&one_line(s), n.unwrap_or(SUMMARY_WIDTH))
}

/// Left-aligned in `n` columns (right-aligned with `"right"`).
fn pad(s: &str, n: usize, align: Option<&str>) -> String {
    let fill = " ".repeat(n.saturating_sub(s.chars().count()));
    if align == Some("right") {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// The strongest lock among steps (`[{lock: ...}]`), `none` when there are none.
fn strongest_lock(steps: minijinja::Value) -> String {
    let mut best = Lock::None;
    if let Ok(iter) = steps.try_iter() {
        for s in iter {
            let name = s.get_attr("lock").ok().map(|l| l.to_string());
            if let Some(l) = name.and_then(|n| serde_json::from_value::<Lock>(Json::String(n)).ok())
            {
                best = best.max(l);
            }
        }
    }
    serde_json::to_value(best)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "none".into())
}

/// A box-drawing header around lines, each wrapped to the summary width
/// (at most four lines each).
fn boxed(lines: Vec<String>) -> Result<String, minijinja::Error> {
    if lines.is_empty() {
        return Err(minijinja::Error::new(
            ErrorKind::MissingArgument,
            "box() needs at least one line",
        ));
    }
    let inner = SUMMARY_WIDTH - 4;
    // Each entry gets at most four lines, so the header stays a header.
    let wrapped: Vec<String> = lines
        .iter()
        .flat_map(|l| {
            let w = wrap(l, Some(inner), None, Some(4));
            w.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    let w = wrapped.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = format!("┌{}┐\n", "─".repeat(w + 2));
    for l in &wrapped {
        out.push_str(&format!("│ {} │\n", pad(l, w, None)));
    }
    out.push_str(&format!("└{}┘", "─".repeat(w + 2)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_is_catalogued_or_a_macro_file() {
        for f in embedded_files() {
            assert!(
                f.starts_with('_') || get(f).is_some(),
                "templates/{f} is not in render::CATALOGUE"
            );
        }
        for t in CATALOGUE {
            assert!(source(t.name).is_some(), "{} has no file", t.name);
            let s = get(t.sibling).expect("sibling exists");
            assert_eq!(
                s.data, t.data,
                "{} and {} read different data",
                t.name, s.name
            );
            assert_ne!(s.format, t.format, "{} sibling", t.name);
        }
    }

    #[test]
    fn tidy_collapses_blank_lines_outside_code() {
        assert_eq!(
            tidy("\n\n# a\n\n\n\nb\n```sql\nx\n\n\ny\n```\n\n\n"),
            "# a\n\nb\n```sql\nx\n\n\ny\n```\n"
        );
    }

    #[test]
    fn resolve_picks_the_family_member() {
        let r = |n, f| resolve(n, f).unwrap().name;
        assert_eq!(r("plan", None), "plan");
        assert_eq!(r("plan", Some(Format::Summary)), "plan-summary");
        assert_eq!(r("plan-summary", Some(Format::Markdown)), "plan");
        assert_eq!(r("backfill", Some(Format::Summary)), "plan-summary");
        assert_eq!(r("backfill", Some(Format::Markdown)), "backfill");
        assert_eq!(r("review", Some(Format::Summary)), "review-summary");
        assert_eq!(r("schemashift://templates/review.md", None), "review");
    }

    #[test]
    fn filters_format_for_people() {
        assert_eq!(code("a || b\n c"), "`a \\|\\| b c`");
        assert_eq!(code("x `y` z"), "`` x `y` z ``");
        assert_eq!(sentence("fill rows"), "Fill rows.");
        assert_eq!(sentence("done."), "Done.");
        let s = |x: f64| secs(minijinja::Value::from(x));
        assert_eq!(s(0.005), "5 ms");
        assert_eq!(s(0.75), "750 ms");
        assert_eq!(s(2.005), "2.01 s");
        assert_eq!(s(15.0), "15 s");
        assert_eq!(s(125.0), "2 min 5 s");
        assert_eq!(s(300.0), "5 min");
        assert_eq!(s(7260.0), "2 h 1 min");
        assert_eq!(
            thousands(minijinja::Value::from(20_000_000u64)),
            "20,000,000"
        );
        assert_eq!(
            wrap("aaa bbb ccc ddd", Some(20), Some("  "), None),
            "aaa bbb ccc ddd"
        );
        let w = wrap(&"word ".repeat(40), Some(30), Some("    "), Some(2));
        assert_eq!(w.lines().count(), 2);
        assert!(w.ends_with('…'), "{w}");
        // After a prefix as wide as the indent, no line passes the width.
        let prefixed = format!("  ! {w}");
        assert!(
            prefixed.lines().all(|l| l.chars().count() <= 30),
            "{prefixed}"
        );
        assert_eq!(trunc("abcdef", Some(4)), "abc…");
        let b = boxed(vec!["one".into(), "two three".into()]).unwrap();
        assert_eq!(
            b,
            "┌───────────┐\n│ one       │\n│ two three │\n└───────────┘"
        );
    }

    #[test]
    fn strongest_lock_orders_by_conflict() {
        let v = minijinja::Value::from(minijinja::value::Serde(serde_json::json!([
            {"lock": "none"}, {"lock": "SHARE UPDATE EXCLUSIVE"}, {"lock": "ROW EXCLUSIVE"}
        ])));
        assert_eq!(strongest_lock(v), "SHARE UPDATE EXCLUSIVE");
        assert_eq!(
            strongest_lock(minijinja::Value::from(minijinja::value::Serde(
                serde_json::json!([])
            ))),
            "none"
        );
    }
}
