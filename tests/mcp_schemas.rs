//! The tools' input schemas as an MCP client receives them (`tools/list`
//! through rmcp's client over stdio): small enough to load in every session,
//! standard JSON Schema, and complete enough that the structured changes an
//! agent writes validate against them and are accepted by the tools.

use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use schemashift::change::ChangeType;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

/// All input schemas together, in bytes of compact JSON.
const BUDGET: usize = 16 * 1024;

/// The tools that take a change.
const CHANGE_TOOLS: [&str; 4] = [
    "classify_change",
    "build_plan",
    "rehearse_plan",
    "emit_migrations",
];

/// Integer and float widths schemars writes as `format`, which are not
/// JSON Schema formats (validators warn on each).
const NON_STANDARD_FORMATS: &[&str] = &[
    "uint", "uint8", "uint16", "uint32", "uint64", "uint128", "int", "int8", "int16", "int32",
    "int64", "int128", "double", "float",
];

async fn client() -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = TokioChildProcess::new(tokio::process::Command::new(EXE).configure(|c| {
        c.arg("serve");
    }))
    .expect("spawn schemashift serve");
    ().serve(transport).await.expect("initialize")
}

async fn input_schemas(
    c: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
) -> BTreeMap<String, Value> {
    c.list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| {
            (
                t.name.to_string(),
                serde_json::to_value(&*t.input_schema).unwrap(),
            )
        })
        .collect()
}

/// Structured changes as an agent writes them from a user's words and the
/// schema it read: one or more per change type, with the words.
fn typical_changes() -> Vec<(&'static str, Value)> {
    vec![
        (
            "rename users.username to handle",
            json!({"change_type": "rename_column", "table": "users", "column": "username", "new_name": "handle"}),
        ),
        (
            "add a nickname to users",
            json!({"change_type": "add_column", "table": "users", "column": "nickname", "data_type": "text"}),
        ),
        (
            "add an active flag to users, default true",
            json!({"change_type": "add_column", "table": "users", "column": "active", "data_type": "boolean", "default": "true"}),
        ),
        (
            "invoices need an org_id, taken from their account",
            json!({"change_type": "add_not_null_column", "table": "invoices", "column": "org_id", "data_type": "bigint", "fill": {"kind": "lookup", "table": "accounts", "column": "organisation_id"}}),
        ),
        (
            "orders get a required status, 'new' for old rows",
            json!({"change_type": "add_not_null_column", "table": "orders", "column": "status", "data_type": "text", "default": "'new'", "fill": {"kind": "expression", "expression": "'new'"}}),
        ),
        (
            "drop users.legacy_token",
            json!({"change_type": "drop_column", "table": "users", "column": "legacy_token"}),
        ),
        (
            "amounts are in cents now, bigint",
            json!({"change_type": "change_column_type", "table": "orders", "column": "amount", "from_type": "integer", "to_type": "bigint", "using": "amount::bigint"}),
        ),
        (
            "email is required",
            json!({"change_type": "set_not_null", "table": "users", "column": "email"}),
        ),
        (
            "fax is optional now",
            json!({"change_type": "drop_not_null", "table": "customers", "column": "fax"}),
        ),
        (
            "new users are active by default",
            json!({"change_type": "set_default", "table": "users", "column": "active", "default": "true"}),
        ),
        (
            "no default for users.active",
            json!({"change_type": "set_default", "table": "users", "column": "active"}),
        ),
        (
            "look up orders by customer and date, live ones only",
            json!({"change_type": "add_index", "table": "orders", "columns": ["customer_id", "created_at"], "predicate": "deleted_at IS NULL"}),
        ),
        (
            "case-insensitive unique emails",
            json!({"change_type": "add_index", "table": "users", "columns": ["lower(email)"], "unique": true, "name": "users_email_lower_key"}),
        ),
        (
            "full-text index on docs.body",
            json!({"change_type": "add_index", "table": "docs", "columns": ["body"], "method": "gin"}),
        ),
        (
            "the legacy payments index is unused",
            json!({"change_type": "drop_index", "name": "idx_payments_legacy", "table": "payments"}),
        ),
        (
            "emails must be unique",
            json!({"change_type": "add_unique_constraint", "table": "users", "columns": ["email"]}),
        ),
        (
            "audit_rows needs a primary key on id",
            json!({"change_type": "add_primary_key", "table": "audit_rows", "columns": ["id"]}),
        ),
        (
            "orders.customer_id references customers(id), cascade",
            json!({"change_type": "add_foreign_key", "table": "orders", "columns": ["customer_id"], "references_table": "customers", "references_columns": ["id"], "on_delete": "cascade"}),
        ),
        (
            "payments.fee may never go below 0",
            json!({"change_type": "add_check_constraint", "table": "payments", "expression": "fee >= 0"}),
        ),
        (
            "split the address into street and city",
            json!({"change_type": "split_column", "table": "customers", "column": "address", "into": [{"name": "street", "data_type": "text", "expression": "split_part(address, ',', 1)"}, {"name": "city", "data_type": "text", "expression": "split_part(address, ',', 2)"}]}),
        ),
        (
            "one full_name instead of first and last",
            json!({"change_type": "merge_columns", "table": "users", "columns": ["first_name", "last_name"], "into": "full_name", "data_type": "text", "expression": "first_name || ' ' || last_name"}),
        ),
        (
            "preferences belong in user_settings",
            json!({"change_type": "move_column", "column": "preferences", "from_table": "users", "to_table": "user_settings", "data_type": "jsonb"}),
        ),
        (
            "card details out of users into user_billing",
            json!({"change_type": "split_table", "table": "users", "new_table": "user_billing", "columns": ["card_last4", "card_brand"]}),
        ),
        (
            "fold user_profiles into users",
            json!({"change_type": "merge_tables", "table": "users", "other": "user_profiles", "columns": ["bio", "avatar_url"]}),
        ),
        (
            "users are accounts now",
            json!({"change_type": "rename_table", "table": "users", "new_name": "accounts"}),
        ),
        (
            "get rid of old_carts",
            json!({"change_type": "drop_table", "table": "old_carts"}),
        ),
        (
            "an audit log table",
            json!({"change_type": "create_table", "table": "audit_log", "columns": [{"name": "id", "data_type": "bigint", "primary_key": true, "not_null": true}, {"name": "payload", "data_type": "jsonb", "not_null": true}, {"name": "created_at", "data_type": "timestamptz", "default": "now()"}]}),
        ),
        (
            "orders can be refunded",
            json!({"change_type": "enum_change", "type_name": "order_status", "operation": {"op": "add_value", "value": "refunded", "after": "paid"}}),
        ),
        (
            "pending is called awaiting now",
            json!({"change_type": "enum_change", "type_name": "order_status", "operation": {"op": "rename_value", "from": "pending", "to": "awaiting"}}),
        ),
        (
            "no more legacy status; those orders are closed",
            json!({"change_type": "enum_change", "type_name": "order_status", "operation": {"op": "remove_value", "value": "legacy", "replace_with": "closed"}}),
        ),
        (
            "backfill orders.total_cents from total",
            json!({"change_type": "backfill_only", "table": "orders", "column": "total_cents", "fill": {"kind": "expression", "expression": "(total * 100)::bigint"}, "predicate": "total_cents IS NULL"}),
        ),
    ]
}

const ENUM_SCHEMA: &str =
    "CREATE TYPE order_status AS ENUM ('new', 'pending', 'paid', 'legacy', 'closed');\n\
     CREATE TABLE orders (id bigint PRIMARY KEY, status order_status NOT NULL DEFAULT 'new');";

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema).unwrap_or_else(|e| panic!("not a valid schema: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn input_schemas_fit_the_budget_and_are_standard() {
    let c = client().await;
    let schemas = input_schemas(&c).await;
    c.cancel().await.unwrap();
    let sizes: BTreeMap<&str, usize> = schemas
        .iter()
        .map(|(n, s)| (n.as_str(), serde_json::to_string(s).unwrap().len()))
        .collect();
    let total: usize = sizes.values().sum();
    println!("input schema bytes: {sizes:?}, total {total}");
    assert!(
        total < BUDGET,
        "the input schemas take {total} bytes together, over {BUDGET}: {sizes:?}"
    );
    fn formats(v: &Value, path: &str, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(f)) = m.get("format") {
                    if NON_STANDARD_FORMATS.contains(&f.as_str()) {
                        found.push(format!("{path}: {f}"));
                    }
                }
                for (k, c) in m {
                    formats(c, &format!("{path}/{k}"), found);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    formats(c, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    for (name, schema) in &schemas {
        let mut found = Vec::new();
        formats(schema, name, &mut found);
        assert!(found.is_empty(), "non-standard formats: {found:?}");
        // Every schema is itself valid JSON Schema 2020-12.
        validator(schema);
        assert_eq!(schema["type"], "object", "{name}");
    }
    // The change is one definition, referenced from each tool that takes one.
    for tool in CHANGE_TOOLS {
        let s = &schemas[tool];
        assert_eq!(
            s["properties"]["change"]["$ref"], "#/$defs/Change",
            "{tool}"
        );
        assert!(s["$defs"]["Change"].is_object(), "{tool}");
    }
    // Unsigned integers keep their meaning as a standard minimum.
    assert_eq!(
        schemas["build_plan"]["properties"]["options"]["properties"]["batch_size"]["minimum"],
        0
    );
}

#[tokio::test]
async fn typical_structured_changes_validate_and_are_accepted() {
    let c = client().await;
    let schemas = input_schemas(&c).await;
    let changes = typical_changes();
    let covered: std::collections::BTreeSet<&str> = changes
        .iter()
        .map(|(_, ch)| ch["change_type"].as_str().unwrap())
        .collect();
    for t in ChangeType::ALL {
        assert!(
            covered.contains(t.as_str()),
            "no typical change of type {t}"
        );
    }
    let validators: BTreeMap<&str, jsonschema::Validator> = CHANGE_TOOLS
        .iter()
        .map(|t| (*t, validator(&schemas[*t])))
        .collect();
    for (words, change) in &changes {
        // The agent's call: the structured change, the user's words for the record.
        let call = json!({"change": change, "request": words});
        for (tool, v) in &validators {
            let mut args = call.clone();
            if *tool == "emit_migrations" {
                args["dir"] = json!(".");
            }
            let errs = errors(v, &args);
            assert!(errs.is_empty(), "{tool} schema rejects {call}: {errs:?}");
        }
        for tool in ["classify_change", "build_plan"] {
            let mut args = call.clone();
            // Moving rows off an enum value needs the tables that use it,
            // as an agent would pass them.
            if change["change_type"] == "enum_change" {
                args["schema"] = json!(ENUM_SCHEMA);
            }
            let res = c
                .call_tool(
                    CallToolRequestParams::new(tool)
                        .with_arguments(args.as_object().unwrap().clone()),
                )
                .await
                .unwrap();
            assert_ne!(res.is_error, Some(true), "{tool} refuses {call}: {res:?}");
            let out = res.structured_content.expect("structured content");
            let classification = if tool == "build_plan" {
                &out["classification"]
            } else {
                &out
            };
            assert_eq!(
                classification["change_type"], change["change_type"],
                "{call}"
            );
            assert_eq!(classification["input_form"], "structured", "{call}");
            assert_eq!(classification["request"], *words, "{call}");
        }
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn the_change_schema_rejects_what_the_server_rejects() {
    let c = client().await;
    let schemas = input_schemas(&c).await;
    let v = validator(&schemas["classify_change"]);
    let wrong = [
        // No such change type.
        json!({"change_type": "rename_columns", "table": "users", "column": "a", "new_name": "b"}),
        // A field no change type has.
        json!({"change_type": "rename_column", "table": "users", "column": "a", "new_name": "b", "to": "c"}),
        // Index columns are a list.
        json!({"change_type": "add_index", "table": "users", "columns": "email"}),
        // A fill names its kind.
        json!({"change_type": "backfill_only", "table": "t", "column": "c", "fill": {"expression": "1"}}),
        // No such enum operation.
        json!({"change_type": "enum_change", "type_name": "mood", "operation": {"op": "drop_value", "value": "meh"}}),
        // Column definitions have names.
        json!({"change_type": "create_table", "table": "t", "columns": [{"data_type": "bigint"}]}),
    ];
    for change in wrong {
        let call = json!({"change": change});
        assert!(
            !errors(&v, &call).is_empty(),
            "the schema accepts {call}, which the server refuses"
        );
        let res = c
            .call_tool(
                CallToolRequestParams::new("classify_change")
                    .with_arguments(call.as_object().unwrap().clone()),
            )
            .await;
        let refused = match res {
            Err(_) => true,
            Ok(r) => r.is_error == Some(true),
        };
        assert!(refused, "the server accepts {call}");
    }
    // The change-type line tells which fields each type takes.
    let line = schemas["classify_change"]["$defs"]["Change"]["properties"]["change_type"]
        ["description"]
        .as_str()
        .unwrap()
        .to_string();
    for sig in [
        "rename_column(table,column,new_name)",
        "change_column_type(table,column,to_type,from_type?,using?)",
        "add_foreign_key(table,columns,references_table,",
        "backfill_only(table,column,fill,predicate?)",
    ] {
        assert!(line.contains(sig), "`{sig}` missing from {line}");
    }
    c.cancel().await.unwrap();
}
