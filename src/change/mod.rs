//! The change model: one typed change, whichever way it came in.
//!
//! A change arrives as structured JSON ([`Change`]), as a short English request
//! ([`english`]) or as the naive DDL a developer would have written ([`ddl`]);
//! all three land here. Names stay as strings in the model (that is the JSON
//! contract); [`Change::validate`] checks every identifier, type and expression
//! before anything reaches generated SQL.

pub mod ddl;
pub mod english;
pub mod examples;
mod input;
pub mod mode;
mod validate;
pub use validate::is_plain_identifier;

pub use input::{ChangeInput, InputError, InputForm, Parsed, ResolvedChange, MAX_INPUT_BYTES};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every kind of change the engine plans. The ids are a contract: CI
/// configurations and other tools match on them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    AddColumn,
    AddNotNullColumn,
    DropColumn,
    RenameColumn,
    ChangeColumnType,
    SetNotNull,
    DropNotNull,
    SetDefault,
    AddIndex,
    DropIndex,
    AddUniqueConstraint,
    AddPrimaryKey,
    AddForeignKey,
    AddCheckConstraint,
    SplitColumn,
    MergeColumns,
    MoveColumn,
    SplitTable,
    MergeTables,
    RenameTable,
    DropTable,
    CreateTable,
    EnumChange,
    BackfillOnly,
}

impl ChangeType {
    pub const ALL: [ChangeType; 24] = [
        ChangeType::AddColumn,
        ChangeType::AddNotNullColumn,
        ChangeType::DropColumn,
        ChangeType::RenameColumn,
        ChangeType::ChangeColumnType,
        ChangeType::SetNotNull,
        ChangeType::DropNotNull,
        ChangeType::SetDefault,
        ChangeType::AddIndex,
        ChangeType::DropIndex,
        ChangeType::AddUniqueConstraint,
        ChangeType::AddPrimaryKey,
        ChangeType::AddForeignKey,
        ChangeType::AddCheckConstraint,
        ChangeType::SplitColumn,
        ChangeType::MergeColumns,
        ChangeType::MoveColumn,
        ChangeType::SplitTable,
        ChangeType::MergeTables,
        ChangeType::RenameTable,
        ChangeType::DropTable,
        ChangeType::CreateTable,
        ChangeType::EnumChange,
        ChangeType::BackfillOnly,
    ];

    /// The stable id, e.g. `rename_column`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::AddColumn => "add_column",
            ChangeType::AddNotNullColumn => "add_not_null_column",
            ChangeType::DropColumn => "drop_column",
            ChangeType::RenameColumn => "rename_column",
            ChangeType::ChangeColumnType => "change_column_type",
            ChangeType::SetNotNull => "set_not_null",
            ChangeType::DropNotNull => "drop_not_null",
            ChangeType::SetDefault => "set_default",
            ChangeType::AddIndex => "add_index",
            ChangeType::DropIndex => "drop_index",
            ChangeType::AddUniqueConstraint => "add_unique_constraint",
            ChangeType::AddPrimaryKey => "add_primary_key",
            ChangeType::AddForeignKey => "add_foreign_key",
            ChangeType::AddCheckConstraint => "add_check_constraint",
            ChangeType::SplitColumn => "split_column",
            ChangeType::MergeColumns => "merge_columns",
            ChangeType::MoveColumn => "move_column",
            ChangeType::SplitTable => "split_table",
            ChangeType::MergeTables => "merge_tables",
            ChangeType::RenameTable => "rename_table",
            ChangeType::DropTable => "drop_table",
            ChangeType::CreateTable => "create_table",
            ChangeType::EnumChange => "enum_change",
            ChangeType::BackfillOnly => "backfill_only",
        }
    }
}

impl std::fmt::Display for ChangeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the values of a new or backfilled column come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fill {
    /// A SQL expression over the same row, e.g. `lower(email)` or `0`.
    Expression {
        /// The SQL expression; it may name other columns of the same table.
        expression: String,
    },
    /// Copy a column of a related table, joined by a key.
    /// "add org_id to invoices from accounts.organisation_id" is
    /// `{kind: lookup, table: accounts, column: organisation_id}`: each invoice
    /// gets the value of its account (`invoices.account_id = accounts.id`).
    Lookup {
        /// The table that holds the value, optionally schema-qualified.
        table: String,
        /// The column of that table to copy.
        column: String,
        /// Column of the changed table that points at the source row.
        /// Default: `<singular source table>_id`, e.g. `account_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local_key: Option<String>,
        /// Column of the source table it matches. Default: `id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote_key: Option<String>,
    },
}

/// A column of a new table, or a new column made by a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// SQL data type, e.g. `text`, `bigint`, `varchar(255)`. When absent the
    /// source column's type (or `text`) is assumed and said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// Whether the column rejects NULLs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub not_null: bool,
    /// Default value as a SQL expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether this column is (part of) the primary key.
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    /// For a split: how this part is computed from the old column, as a SQL
    /// expression, e.g. `split_part(address, ',', 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What happens to an enum type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum EnumOp {
    /// Add a value, optionally placed before or after an existing one.
    AddValue {
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Rename a value (PostgreSQL 10+). Old app versions writing the old label fail.
    RenameValue { from: String, to: String },
    /// Remove a value: needs a new type and a column swap, after no row uses it.
    RemoveValue {
        value: String,
        /// The value rows that hold the removed one are moved to, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_with: Option<String>,
    },
}

/// One schema change. `change_type` selects the variant; table names may be
/// schema-qualified (`billing.invoices`); types and expressions are SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "change_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// Add a nullable column (or one with a default).
    AddColumn {
        table: String,
        column: String,
        data_type: String,
        /// Default as a SQL expression (`0`, `'new'`, `now()`, `gen_random_uuid()`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
    },
    /// Add a column that must never be NULL, filled for existing rows.
    AddNotNullColumn {
        table: String,
        column: String,
        data_type: String,
        /// Default for new rows as a SQL expression, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
        /// How existing rows get their value. Without it the default is used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<Fill>,
    },
    /// Remove a column.
    DropColumn { table: String, column: String },
    /// Rename a column.
    RenameColumn {
        table: String,
        column: String,
        new_name: String,
    },
    /// Change a column's type.
    ChangeColumnType {
        table: String,
        column: String,
        /// The current type, when known (`integer`); the schema can supply it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_type: Option<String>,
        /// The new type (`bigint`).
        to_type: String,
        /// Conversion expression over the old column, e.g. `amount::bigint`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        using: Option<String>,
    },
    /// Make a column reject NULLs.
    SetNotNull { table: String, column: String },
    /// Let a column accept NULLs.
    DropNotNull { table: String, column: String },
    /// Set (or, with no `default`, drop) a column default.
    SetDefault {
        table: String,
        column: String,
        /// The new default as a SQL expression; absent means DROP DEFAULT.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
    },
    /// Create an index.
    AddIndex {
        table: String,
        /// Column names, or expressions such as `lower(email)`.
        columns: Vec<String>,
        /// Index name. Default: `<table>_<columns>_idx` (`_key` when unique).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        unique: bool,
        /// Access method: `btree` (default), `hash`, `gin`, `gist`, `brin`, `spgist`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// Partial index predicate (the WHERE clause), as a SQL expression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predicate: Option<String>,
    },
    /// Drop an index.
    DropIndex {
        /// Index name, optionally schema-qualified.
        name: String,
        /// The table it belongs to, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
    },
    /// Add a UNIQUE constraint.
    AddUniqueConstraint {
        table: String,
        columns: Vec<String>,
        /// Constraint name. Default: `<table>_<columns>_key`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Add a PRIMARY KEY.
    AddPrimaryKey {
        table: String,
        columns: Vec<String>,
        /// Constraint name. Default: `<table>_pkey`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Add a FOREIGN KEY.
    AddForeignKey {
        table: String,
        columns: Vec<String>,
        /// The referenced table.
        references_table: String,
        /// The referenced columns. Default: `id`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references_columns: Vec<String>,
        /// Constraint name. Default: `<table>_<columns>_fkey`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// ON DELETE action: `cascade`, `set null`, `set default`, `restrict`, `no action`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_delete: Option<String>,
    },
    /// Add a CHECK constraint.
    AddCheckConstraint {
        table: String,
        /// The boolean SQL expression, e.g. `amount >= 0`.
        expression: String,
        /// Constraint name. Default: `<table>_<first column>_check`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Replace one column by several (address -> street, city, zip).
    SplitColumn {
        table: String,
        column: String,
        /// The new columns, each optionally with its type and how it is computed.
        into: Vec<ColumnSpec>,
    },
    /// Replace several columns by one (first_name + last_name -> full_name).
    MergeColumns {
        table: String,
        columns: Vec<String>,
        into: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_type: Option<String>,
        /// How the merged value is computed, e.g. `first_name || ' ' || last_name`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// Move a column to another table that has one row per source row.
    MoveColumn {
        column: String,
        from_table: String,
        to_table: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_type: Option<String>,
        /// Column of `to_table` that references `from_table`'s key.
        /// Default: `<singular from_table>_id`, e.g. `user_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Move some columns of a table out into a new table (one row per source row).
    SplitTable {
        table: String,
        new_table: String,
        columns: Vec<String>,
        /// Column of the new table that references the old table's key.
        /// Default: `<singular table>_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Fold a table's columns into another table and drop it.
    MergeTables {
        /// The table that stays.
        table: String,
        /// The table whose columns move into `table` and which is then dropped.
        other: String,
        /// The columns of `other` to keep.
        columns: Vec<String>,
        /// Column of `other` that references `table`'s key. Default: `<singular table>_id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Rename a table.
    RenameTable { table: String, new_name: String },
    /// Drop a table.
    DropTable { table: String },
    /// Create a new table.
    CreateTable {
        table: String,
        columns: Vec<ColumnSpec>,
    },
    /// Change an enum type's values.
    EnumChange {
        /// The enum type, optionally schema-qualified.
        type_name: String,
        operation: EnumOp,
    },
    /// Fill or recompute a column's values in existing rows, with no DDL.
    BackfillOnly {
        table: String,
        column: String,
        fill: Fill,
        /// Only rows matching this SQL condition; the plan adds "still to do".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predicate: Option<String>,
    },
}

impl Change {
    pub fn change_type(&self) -> ChangeType {
        match self {
            Change::AddColumn { .. } => ChangeType::AddColumn,
            Change::AddNotNullColumn { .. } => ChangeType::AddNotNullColumn,
            Change::DropColumn { .. } => ChangeType::DropColumn,
            Change::RenameColumn { .. } => ChangeType::RenameColumn,
            Change::ChangeColumnType { .. } => ChangeType::ChangeColumnType,
            Change::SetNotNull { .. } => ChangeType::SetNotNull,
            Change::DropNotNull { .. } => ChangeType::DropNotNull,
            Change::SetDefault { .. } => ChangeType::SetDefault,
            Change::AddIndex { .. } => ChangeType::AddIndex,
            Change::DropIndex { .. } => ChangeType::DropIndex,
            Change::AddUniqueConstraint { .. } => ChangeType::AddUniqueConstraint,
            Change::AddPrimaryKey { .. } => ChangeType::AddPrimaryKey,
            Change::AddForeignKey { .. } => ChangeType::AddForeignKey,
            Change::AddCheckConstraint { .. } => ChangeType::AddCheckConstraint,
            Change::SplitColumn { .. } => ChangeType::SplitColumn,
            Change::MergeColumns { .. } => ChangeType::MergeColumns,
            Change::MoveColumn { .. } => ChangeType::MoveColumn,
            Change::SplitTable { .. } => ChangeType::SplitTable,
            Change::MergeTables { .. } => ChangeType::MergeTables,
            Change::RenameTable { .. } => ChangeType::RenameTable,
            Change::DropTable { .. } => ChangeType::DropTable,
            Change::CreateTable { .. } => ChangeType::CreateTable,
            Change::EnumChange { .. } => ChangeType::EnumChange,
            Change::BackfillOnly { .. } => ChangeType::BackfillOnly,
        }
    }

    /// The table the change is mainly about (the enum type for enum changes).
    pub fn primary_table(&self) -> &str {
        match self {
            Change::AddColumn { table, .. }
            | Change::AddNotNullColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::RenameColumn { table, .. }
            | Change::ChangeColumnType { table, .. }
            | Change::SetNotNull { table, .. }
            | Change::DropNotNull { table, .. }
            | Change::SetDefault { table, .. }
            | Change::AddIndex { table, .. }
            | Change::AddUniqueConstraint { table, .. }
            | Change::AddPrimaryKey { table, .. }
            | Change::AddForeignKey { table, .. }
            | Change::AddCheckConstraint { table, .. }
            | Change::SplitColumn { table, .. }
            | Change::MergeColumns { table, .. }
            | Change::SplitTable { table, .. }
            | Change::MergeTables { table, .. }
            | Change::RenameTable { table, .. }
            | Change::DropTable { table }
            | Change::CreateTable { table, .. }
            | Change::BackfillOnly { table, .. } => table,
            Change::MoveColumn { from_table, .. } => from_table,
            Change::DropIndex { table, name } => table.as_deref().unwrap_or(name),
            Change::EnumChange { type_name, .. } => type_name,
        }
    }

    /// One line in words, e.g. "rename users.username to handle".
    pub fn describe(&self) -> String {
        match self {
            Change::AddColumn {
                table,
                column,
                data_type,
                default,
            } => match default {
                Some(d) => format!("add column {table}.{column} {data_type} default {d}"),
                None => format!("add nullable column {table}.{column} {data_type}"),
            },
            Change::AddNotNullColumn {
                table,
                column,
                data_type,
                fill,
                default,
            } => {
                let from = match fill {
                    Some(Fill::Expression { expression }) => format!(" filled with {expression}"),
                    Some(Fill::Lookup {
                        table: t,
                        column: c,
                        ..
                    }) => format!(" filled from {t}.{c}"),
                    None => default
                        .as_ref()
                        .map(|d| format!(" default {d}"))
                        .unwrap_or_default(),
                };
                format!("add required column {table}.{column} {data_type}{from}")
            }
            Change::DropColumn { table, column } => format!("drop column {table}.{column}"),
            Change::RenameColumn {
                table,
                column,
                new_name,
            } => {
                format!("rename {table}.{column} to {new_name}")
            }
            Change::ChangeColumnType {
                table,
                column,
                from_type,
                to_type,
                ..
            } => match from_type {
                Some(f) => format!("change {table}.{column} from {f} to {to_type}"),
                None => format!("change {table}.{column} to {to_type}"),
            },
            Change::SetNotNull { table, column } => format!("make {table}.{column} NOT NULL"),
            Change::DropNotNull { table, column } => format!("make {table}.{column} nullable"),
            Change::SetDefault {
                table,
                column,
                default,
            } => match default {
                Some(d) => format!("set default of {table}.{column} to {d}"),
                None => format!("drop default of {table}.{column}"),
            },
            Change::AddIndex {
                table,
                columns,
                unique,
                ..
            } => format!(
                "add {}index on {table} ({})",
                if *unique { "unique " } else { "" },
                columns.join(", ")
            ),
            Change::DropIndex { name, .. } => format!("drop index {name}"),
            Change::AddUniqueConstraint { table, columns, .. } => {
                format!("add unique constraint on {table} ({})", columns.join(", "))
            }
            Change::AddPrimaryKey { table, columns, .. } => {
                format!("add primary key on {table} ({})", columns.join(", "))
            }
            Change::AddForeignKey {
                table,
                columns,
                references_table,
                ..
            } => format!(
                "add foreign key {table} ({}) -> {references_table}",
                columns.join(", ")
            ),
            Change::AddCheckConstraint {
                table, expression, ..
            } => {
                format!("add check constraint on {table}: {expression}")
            }
            Change::SplitColumn {
                table,
                column,
                into,
            } => format!(
                "split {table}.{column} into {}",
                into.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Change::MergeColumns {
                table,
                columns,
                into,
                ..
            } => {
                format!("merge {table}.{} into {into}", columns.join(" + "))
            }
            Change::MoveColumn {
                column,
                from_table,
                to_table,
                ..
            } => {
                format!("move {column} from {from_table} to {to_table}")
            }
            Change::SplitTable {
                table,
                new_table,
                columns,
                ..
            } => format!(
                "split {} out of {table} into {new_table}",
                columns.join(", ")
            ),
            Change::MergeTables { table, other, .. } => format!("merge {other} into {table}"),
            Change::RenameTable { table, new_name } => {
                format!("rename table {table} to {new_name}")
            }
            Change::DropTable { table } => format!("drop table {table}"),
            Change::CreateTable { table, .. } => format!("create table {table}"),
            Change::EnumChange {
                type_name,
                operation,
            } => match operation {
                EnumOp::AddValue { value, .. } => format!("add '{value}' to enum {type_name}"),
                EnumOp::RenameValue { from, to } => {
                    format!("rename enum value '{from}' to '{to}' in {type_name}")
                }
                EnumOp::RemoveValue { value, .. } => {
                    format!("remove '{value}' from enum {type_name}")
                }
            },
            Change::BackfillOnly { table, column, .. } => format!("backfill {table}.{column}"),
        }
    }
}

/// `accounts` -> `account`, `categories` -> `category`, `addresses` -> `address`:
/// enough English to guess the conventional foreign-key column name.
pub fn singular(table: &str) -> String {
    let t = table.rsplit('.').next().unwrap_or(table);
    if let Some(stem) = t.strip_suffix("ies") {
        format!("{stem}y")
    } else if t.ends_with("sses")
        || t.ends_with("xes")
        || t.ends_with("ches")
        || t.ends_with("shes")
    {
        t[..t.len() - 2].to_string()
    } else if let Some(stem) = t
        .strip_suffix('s')
        .filter(|_| !t.ends_with("ss") && !t.ends_with("us"))
    {
        stem.to_string()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_serde() {
        for t in ChangeType::ALL {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
            let back: ChangeType = serde_json::from_value(json).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn structured_change_uses_change_type_tag() {
        let c: Change = serde_json::from_value(serde_json::json!({
            "change_type": "rename_column", "table": "users", "column": "username", "new_name": "handle"
        }))
        .unwrap();
        assert_eq!(c.change_type(), ChangeType::RenameColumn);
        assert_eq!(c.describe(), "rename users.username to handle");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_value::<Change>(serde_json::json!({
            "change_type": "drop_column", "table": "users", "column": "x", "colour": "red"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn singular_forms() {
        assert_eq!(singular("accounts"), "account");
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("billing.boxes"), "box");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("access"), "access");
    }
}
