//! The tools' input schemas as an agent reads them.
//!
//! MCP clients put every tool's input schema into the model's context in
//! every session, before anything is asked, so each byte is paid for again
//! and again. The schemas derived from the request types are complete but
//! long: every doc comment, `null` in every optional type, integer `format`s
//! outside standard JSON Schema, and the whole plan layout under
//! rehearse_plan's `plan`. Here they are compacted from the derived ones, so
//! they cannot drift from what the server deserializes:
//! - descriptions are the short [`NOTES`] (the long prose lives in the
//!   reference documents, served as resources);
//! - the structured change is one `$defs/Change` object: its properties are
//!   the union of every change type's fields, and `change_type` says which
//!   fields each type takes (the server names a missing or stray field);
//! - only standard keywords remain: `minimum: 0` instead of `uint64` and
//!   friends, no `null` alternatives (omit a field instead);
//! - a definition used once is written in place, except the change and its
//!   parts, which stay in `$defs` for every field that holds a change.

use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Definitions kept in `$defs` even when used once: the structured change
/// and its parts.
const SHARED_DEFS: &[&str] = &["Change", "Fill", "EnumOp", "ColumnSpec"];

/// Tagged enums written as one object (see [`compact_tagged`]), by tag.
const TAGGED_DEFS: &[(&str, &str)] = &[
    ("Change", "change_type"),
    ("Fill", "kind"),
    ("EnumOp", "op"),
];

/// Definitions an agent passes through as another tool returned them: shown
/// as a plain object, not their whole layout.
const OPAQUE_DEFS: &[&str] = &["Plan"];

/// The descriptions an agent reads, by `Def.field` (`.field` for the
/// request's own fields, the same meaning in every tool that has them).
/// Fields whose name says it all have none.
pub const NOTES: &[(&str, &str)] = &[
    (".change", "The change, structured (preferred)"),
    (".request", "The user's words. Parsed only when neither `change` nor `sql` is given; with `change`, kept for the record"),
    (".sql", "The naive DDL of the change, e.g. `ALTER TABLE users RENAME COLUMN username TO handle`"),
    (".schema", "Current CREATE TABLE DDL of the tables involved"),
    (".as_is", "Migration SQL to rehearse exactly as written"),
    (".dir", "Project folder"),
    (".migrations_dir", "Migrations folder relative to `dir`, when there are several"),
    (".stage", "Stage to write: 1 (default), 2, ... or \"all\""),
    ("ReviewRequest.sql", "The migration file's text"),
    ("ReviewRequest.plan", "A rollout plan instead: build_plan's JSON, or Markdown"),
    ("RehearseRequest.plan", "A build_plan result (possibly edited) to rehearse instead of planning"),
    ("RehearseRequest.rehearsal", "`options` are the plan's"),
    (".file", "The migration's file name (selects the tool's conventions)"),
    (".template", "plan, plan-summary, backfill, cutover, deprecate, runbook, review, review-summary, classification, classification-summary, rehearsal, rehearsal-summary"),
    (".data", "The tool result's JSON, unchanged (optionally with `report_path`)"),
    (".format", "Default: as the template is named"),
    ("Change.change_type", "Fields by type (? optional; tables may be schema-qualified; types and expressions are SQL):"),
    ("Change.data_type", "SQL type, e.g. `bigint`"),
    ("Change.default", "SQL expression, e.g. `0`, `'new'`, `now()`"),
    ("Change.fill", "How existing rows get their value (default: `default`)"),
    ("Change.using", "Conversion over the old column, e.g. `amount::bigint`"),
    ("Change.columns", "Names or index expressions (`lower(email)`); create_table: column definitions"),
    ("Change.name", "Index or constraint name (default derived)"),
    ("Change.method", "btree (default), hash, gin, gist, brin, spgist"),
    ("Change.predicate", "SQL condition: partial index WHERE; rows to backfill"),
    ("Change.references_columns", "Default [\"id\"]"),
    ("Change.on_delete", "cascade, set null, set default, restrict, no action"),
    ("Change.expression", "Check condition (`amount >= 0`) or merged value (`a || ' ' || b`)"),
    ("Change.into", "split_column: the new columns; merge_columns: the new column"),
    ("Change.key", "Column of the other table referencing this one (default `<singular table>_id`)"),
    ("Change.other", "The table folded into `table`, then dropped"),
    ("Fill.expression", "SQL over the same row, e.g. `lower(email)`"),
    ("Fill.table", "Lookup: the table holding the value"),
    ("Fill.local_key", "Default `<singular table>_id`"),
    ("Fill.remote_key", "Default `id`"),
    ("ColumnSpec.expression", "split_column: this part from the old column"),
    ("Context.version", "Major version (default PostgreSQL 15, MySQL 8)"),
    ("Context.rows", "Approximate rows in the table"),
    ("Context.writes_per_second", "Approximate writes per second to the table"),
    ("Context.multiple_app_versions", "Old and new app versions run side by side (default true)"),
    ("PlanOptions.lock_timeout_ms", "Default 2000"),
    ("PlanOptions.lock_retries", "Default 10"),
    ("PlanOptions.batch_size", "Rows per backfill batch (default 5000)"),
    ("PlanOptions.batch_pause_ms", "Default 50"),
    ("PlanOptions.mode", "The slice of the plan (default plan)"),
    ("RehearseOptions.rows", "Rows generated per table (default 100000)"),
    ("RehearseOptions.database_url", "Rehearse on this server in a scratch database and role (needs CREATEDB, CREATEROLE); default: a throwaway local cluster"),
    ("RehearseOptions.max_app_wait_ms", "Longest app statement before it counts as stalled (default 200)"),
    ("RehearseOptions.rate", "Statements per second per app client (default 50)"),
    ("ReviewOptions.pg_version", "Default 15"),
    ("ReviewOptions.assume_in_transaction", "The tool wraps each file in a transaction"),
    ("ReviewOptions.exclude", "Rule ids to skip"),
];

/// The tool whose input schema defines the structured change in full; the
/// other tools' `$defs/Change` points there. Every tool's schema is in the
/// agent's context at once, and the full definition four times over would
/// cost more than all the rest together.
pub const CHANGE_HOME: &str = "classify_change";

/// How a schema carries `$defs/Change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDef {
    /// Every field, and which change type takes which.
    Full,
    /// An object with its `change_type`, "as in [`CHANGE_HOME`]".
    AsInHome,
}

/// The compact input schema of a request type (see the module docs).
pub fn input<T: JsonSchema>(change: ChangeDef) -> Arc<JsonObject> {
    Arc::new(compact(
        SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value(),
        change,
    ))
}

/// Compacts a derived root schema.
pub fn compact(root: Value, change: ChangeDef) -> JsonObject {
    let Value::Object(mut root) = root else {
        return JsonObject::new();
    };
    let mut defs = match root.remove("$defs") {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    let request_type = match root.get("title") {
        Some(Value::String(t)) => t.clone(),
        _ => String::new(),
    };
    for key in ["$schema", "title", "description"] {
        root.remove(key);
    }
    for name in OPAQUE_DEFS {
        defs.remove(*name);
    }
    let mut root = Value::Object(root);
    clean(&mut root);
    for def in defs.values_mut() {
        clean(def);
    }
    for (name, tag) in TAGGED_DEFS {
        if let Some(def) = defs.get_mut(*name) {
            *def = compact_tagged(def, tag);
        }
    }
    annotate(&mut root, &request_type, "");
    for (name, def) in defs.iter_mut() {
        annotate(def, name, name);
    }
    if change == ChangeDef::AsInHome && defs.contains_key("Change") {
        defs.insert(
            "Change".into(),
            json!({
                "type": "object",
                "required": ["change_type"],
                "description": format!("A structured change, as in {CHANGE_HOME}'s `change`"),
            }),
        );
    }
    inline_single_use(&mut root, &mut defs);
    let Value::Object(mut root) = root else {
        unreachable!("the root stays an object")
    };
    if !defs.is_empty() {
        root.insert("$defs".into(), Value::Object(defs));
    }
    root
}

/// Strips what an agent does not need and what is not standard, in place.
fn clean(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    for key in ["description", "title", "default", "examples"] {
        map.remove(key);
    }
    // A reference to an opaque definition becomes a plain object.
    if let Some(Value::String(r)) = map.get("$ref") {
        if OPAQUE_DEFS
            .iter()
            .any(|d| r.strip_prefix("#/$defs/") == Some(d))
        {
            map.remove("$ref");
            map.insert("type".into(), json!("object"));
        }
    }
    if let Some(Value::String(f)) = map.remove("format") {
        // Integer widths are not JSON Schema formats; unsigned ones keep
        // their meaning as a minimum.
        if f.starts_with('u') {
            map.insert("minimum".into(), json!(0));
        } else if !f.starts_with("int") && f != "double" && f != "float" {
            map.insert("format".into(), Value::String(f));
        }
    }
    // `["string", "null"]` -> `"string"`: an agent omits the field instead.
    if let Some(Value::Array(types)) = map.get("type") {
        let mut kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let kept = match kept.len() {
            1 => kept.remove(0),
            _ => Value::Array(kept),
        };
        map.insert("type".into(), kept);
    }
    // Subschemas only: the keys of `properties` are field names, which may
    // well be `default` or `description`.
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "$defs" | "patternProperties", Value::Object(children)) => {
                children.values_mut().for_each(clean)
            }
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(children)) => {
                children.iter_mut().for_each(clean)
            }
            ("items" | "additionalProperties" | "not" | "contains", child) => clean(child),
            _ => {}
        }
    }
    // `anyOf: [X, {type: null}]` -> X.
    if let Some(Value::Array(any)) = map.remove("anyOf") {
        let mut kept: Vec<Value> = any
            .into_iter()
            .filter(|s| s.get("type") != Some(&json!("null")))
            .collect();
        match kept.pop() {
            Some(Value::Object(only)) if kept.is_empty() => map.extend(only),
            Some(last) => {
                kept.push(last);
                map.insert("anyOf".into(), Value::Array(kept));
            }
            None => {}
        }
    }
    // A choice of string constants is an enum.
    if let Some(Value::Array(one)) = map.get("oneOf") {
        let consts: Option<Vec<Value>> = one
            .iter()
            .map(|s| match s.as_object() {
                Some(o) if o.keys().all(|k| k == "const" || k == "type") => {
                    o.get("const").filter(|c| c.is_string()).cloned()
                }
                _ => None,
            })
            .collect();
        if let Some(consts) = consts {
            map.remove("oneOf");
            map.insert("type".into(), json!("string"));
            map.insert("enum".into(), Value::Array(consts));
        }
    }
}

/// A tagged enum's variants (one object per tag value) as one object: the
/// union of their fields, and per tag value the fields it takes, as a
/// signature line (`rename_column(table,column,new_name)`, `?` marking an
/// optional field) in the tag's description. A fraction of the size of one
/// object per variant, and what an agent needs to fill it; a missing or
/// stray field is named by the server.
fn compact_tagged(schema: &Value, tag: &str) -> Value {
    let Some(variants) = schema.get("oneOf").and_then(Value::as_array) else {
        return schema.clone();
    };
    let mut fields: Map<String, Value> = Map::new();
    let mut tags = Vec::new();
    let mut signatures = Vec::new();
    for v in variants {
        let Some(props) = v.get("properties").and_then(Value::as_object) else {
            return schema.clone();
        };
        let Some(value) = props
            .get(tag)
            .and_then(|t| t.get("const"))
            .and_then(Value::as_str)
        else {
            return schema.clone();
        };
        let required: Vec<&str> = v
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Required fields first, in the declared order; then the optional.
        let mut sig: Vec<String> = required
            .iter()
            .filter(|f| **f != tag)
            .map(|f| f.to_string())
            .collect();
        for (name, field) in props {
            if name == tag {
                continue;
            }
            if !required.contains(&name.as_str()) {
                sig.push(format!("{name}?"));
            }
            match fields.get_mut(name) {
                None => {
                    fields.insert(name.clone(), field.clone());
                }
                Some(seen) if seen == field => {}
                Some(seen) => {
                    // The same name with another shape (`columns`: names, or
                    // column definitions for create_table): either.
                    let mut any = match seen.get("anyOf").and_then(Value::as_array) {
                        Some(a) => a.clone(),
                        None => vec![seen.clone()],
                    };
                    if !any.contains(field) {
                        any.push(field.clone());
                    }
                    *seen = json!({ "anyOf": any });
                }
            }
        }
        tags.push(json!(value));
        signatures.push(format!("{value}({})", sig.join(",")));
    }
    let mut properties = Map::new();
    properties.insert(
        tag.into(),
        json!({"enum": tags, "description": signatures.join("; ")}),
    );
    properties.extend(fields);
    json!({
        "type": "object",
        "properties": properties,
        "required": [tag],
        "additionalProperties": false,
    })
}

/// Sets the [`NOTES`] of a definition's fields: `Def.field`, and for the
/// request's own fields `Request.field` or else `.field` (`def` "").
fn annotate(schema: &mut Value, name: &str, def: &str) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        // Tagged enums (Fill, EnumOp): the notes go to each variant's fields.
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(vs)) = schema.get_mut(key) {
                vs.iter_mut().for_each(|v| annotate(v, name, def));
            }
        }
        return;
    };
    for (field_name, field) in props.iter_mut() {
        let Some(note) = note(name, field_name, def) else {
            continue;
        };
        if let Value::Object(f) = field {
            let text = match f.get("description").and_then(Value::as_str) {
                Some(existing) => format!("{note} {existing}"),
                None => (*note).to_string(),
            };
            f.insert("description".into(), Value::String(text));
        }
    }
}

/// The note of `field` of the type `name`, or of any request (`def` "").
fn note(name: &str, field: &str, def: &str) -> Option<&'static str> {
    let find = |owner: &str| {
        NOTES
            .iter()
            .find(|(k, _)| k.split_once('.') == Some((owner, field)))
            .map(|(_, n)| *n)
    };
    find(name).or_else(|| if def.is_empty() { find("") } else { None })
}

/// Writes each definition used once (and not shared) in place of its
/// reference, and drops definitions nothing refers to.
fn inline_single_use(root: &mut Value, defs: &mut Map<String, Value>) {
    loop {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        count_refs(root, &mut counts);
        for d in defs.values() {
            count_refs(d, &mut counts);
        }
        defs.retain(|name, _| counts.contains_key(name));
        let Some(name) = defs
            .keys()
            .find(|n| counts.get(*n) == Some(&1) && !SHARED_DEFS.contains(&n.as_str()))
            .cloned()
        else {
            return;
        };
        let body = defs.remove(&name).unwrap_or(Value::Null);
        let target = format!("#/$defs/{name}");
        replace_ref(root, &target, &body);
        for d in defs.values_mut() {
            replace_ref(d, &target, &body);
        }
    }
}

fn count_refs(schema: &Value, counts: &mut BTreeMap<String, usize>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                *counts.entry(name.to_string()).or_default() += 1;
            }
            map.values().for_each(|v| count_refs(v, counts));
        }
        Value::Array(items) => items.iter().for_each(|v| count_refs(v, counts)),
        _ => {}
    }
}

fn replace_ref(schema: &mut Value, target: &str, body: &Value) {
    match schema {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some(target) {
                map.remove("$ref");
                if let Value::Object(b) = body {
                    for (k, v) in b {
                        // The field's own description wins over the type's.
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                return;
            }
            map.values_mut().for_each(|v| replace_ref(v, target, body));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_ref(v, target, body)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ClassifyRequest;
    use crate::mcp::{DetectRequest, EmitRequest, RenderRequest, ReviewRequest};
    use crate::plan::PlanRequest;
    use crate::rehearse::RehearseRequest;

    /// (type name, field) of every field of every request, before compaction.
    fn fields() -> Vec<(String, String)> {
        fn walk(owner: &str, schema: &Value, out: &mut Vec<(String, String)>) {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                out.extend(props.keys().map(|k| (owner.to_string(), k.clone())));
            }
            for key in ["oneOf", "anyOf"] {
                for v in schema
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    walk(owner, v, out);
                }
            }
        }
        let roots = [
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<ClassifyRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<PlanRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<RehearseRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<EmitRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<ReviewRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<RenderRequest>(),
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<DetectRequest>(),
        ];
        let mut out = Vec::new();
        for root in roots {
            let root = root.to_value();
            let title = root["title"].as_str().unwrap_or_default().to_string();
            walk(&title, &root, &mut out);
            walk("", &root, &mut out);
            for (name, def) in root["$defs"].as_object().into_iter().flatten() {
                walk(name, def, &mut out);
            }
        }
        out
    }

    #[test]
    fn every_note_describes_a_field_that_exists() {
        let fields = fields();
        for (key, _) in NOTES {
            let (owner, field) = key.split_once('.').unwrap();
            assert!(
                fields.iter().any(|(o, f)| o == owner && f == field),
                "the note `{key}` names no field of the requests"
            );
        }
    }

    #[test]
    fn standard_keywords_only() {
        let s = compact(
            json!({
                "title": "R",
                "type": "object",
                "properties": {
                    "n": {"type": ["integer", "null"], "format": "uint64", "minimum": 0, "description": "long prose"},
                    "i": {"type": "integer", "format": "int32"},
                    "o": {"anyOf": [{"$ref": "#/$defs/Once"}, {"type": "null"}], "default": null},
                    "default": {"type": "string"}
                },
                "$defs": {"Once": {"oneOf": [{"const": "a", "type": "string"}, {"const": "b", "type": "string"}]}}
            }),
            ChangeDef::Full,
        );
        assert_eq!(
            Value::Object(s),
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 0},
                    "i": {"type": "integer"},
                    "o": {"type": "string", "enum": ["a", "b"]},
                    "default": {"type": "string"}
                }
            })
        );
    }
}
