//! Checks every name, type and expression of a change before it reaches SQL.

use super::{Change, ColumnSpec, EnumOp, Fill};
use crate::context::Engine;
use crate::ident::{Ident, QualifiedName};
use crate::sqltext::{parse_expr, parse_type};

impl Change {
    /// Validates identifiers, types and expressions; the error names the field
    /// and says what to write instead.
    pub fn validate(&self, engine: Engine) -> Result<(), String> {
        let v = Checker { engine };
        match self {
            Change::AddColumn {
                table,
                column,
                data_type,
                default,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                v.ty("data_type", data_type)?;
                v.opt_expr("default", default)
            }
            Change::AddNotNullColumn {
                table,
                column,
                data_type,
                default,
                fill,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                v.ty("data_type", data_type)?;
                v.opt_expr("default", default)?;
                if let Some(f) = fill {
                    v.fill(f)?;
                }
                Ok(())
            }
            Change::DropColumn { table, column }
            | Change::SetNotNull { table, column }
            | Change::DropNotNull { table, column } => {
                v.table("table", table)?;
                v.column("column", column).map(|_| ())
            }
            Change::RenameColumn {
                table,
                column,
                new_name,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                v.column("new_name", new_name)?;
                if Ident::parse("", column).ok() == Ident::parse("", new_name).ok() {
                    return Err(format!(
                        "new_name `{new_name}` is the column's current name: nothing to rename"
                    ));
                }
                Ok(())
            }
            Change::ChangeColumnType {
                table,
                column,
                from_type,
                to_type,
                using,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                if let Some(f) = from_type {
                    v.ty("from_type", f)?;
                }
                v.ty("to_type", to_type)?;
                v.opt_expr("using", using)
            }
            Change::SetDefault {
                table,
                column,
                default,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                v.opt_expr("default", default)
            }
            Change::AddIndex {
                table,
                columns,
                name,
                method,
                predicate,
                ..
            } => {
                v.table("table", table)?;
                v.key_parts(columns)?;
                v.opt_ident("name", name)?;
                if let Some(m) = method {
                    const METHODS: &[&str] = &["btree", "hash", "gin", "gist", "brin", "spgist"];
                    if !METHODS.contains(&m.to_ascii_lowercase().as_str()) {
                        return Err(format!(
                            "method `{m}` is not an index access method: use one of {}",
                            METHODS.join(", ")
                        ));
                    }
                }
                v.opt_expr("predicate", predicate)
            }
            Change::DropIndex { name, table } => {
                v.table("name", name)?;
                if let Some(t) = table {
                    v.table("table", t)?;
                }
                Ok(())
            }
            Change::AddUniqueConstraint {
                table,
                columns,
                name,
            }
            | Change::AddPrimaryKey {
                table,
                columns,
                name,
            } => {
                v.table("table", table)?;
                v.columns("columns", columns)?;
                v.opt_ident("name", name)
            }
            Change::AddForeignKey {
                table,
                columns,
                references_table,
                references_columns,
                name,
                on_delete,
            } => {
                v.table("table", table)?;
                v.columns("columns", columns)?;
                v.table("references_table", references_table)?;
                if !references_columns.is_empty() {
                    v.columns("references_columns", references_columns)?;
                    if references_columns.len() != columns.len() {
                        return Err(format!(
                            "columns has {} entries but references_columns has {}: list one referenced column per column",
                            columns.len(),
                            references_columns.len()
                        ));
                    }
                } else if columns.len() != 1 {
                    return Err("a multi-column foreign key needs references_columns".into());
                }
                v.opt_ident("name", name)?;
                if let Some(a) = on_delete {
                    const ACTIONS: &[&str] = &[
                        "cascade",
                        "set null",
                        "set default",
                        "restrict",
                        "no action",
                    ];
                    let norm = a
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .to_ascii_lowercase();
                    if !ACTIONS.contains(&norm.as_str()) {
                        return Err(format!(
                            "on_delete `{a}` is not an action: use one of {}",
                            ACTIONS.join(", ")
                        ));
                    }
                }
                Ok(())
            }
            Change::AddCheckConstraint {
                table,
                expression,
                name,
            } => {
                v.table("table", table)?;
                v.expr("expression", expression)?;
                v.opt_ident("name", name)
            }
            Change::SplitColumn {
                table,
                column,
                into,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                if into.len() < 2 {
                    return Err("into needs at least two new columns for a split; to rename, use rename_column".into());
                }
                v.specs("into", into)
            }
            Change::MergeColumns {
                table,
                columns,
                into,
                data_type,
                expression,
            } => {
                v.table("table", table)?;
                v.columns("columns", columns)?;
                if columns.len() < 2 {
                    return Err("columns needs at least two columns to merge; to rename one, use rename_column".into());
                }
                v.column("into", into)?;
                if let Some(t) = data_type {
                    v.ty("data_type", t)?;
                }
                v.opt_expr("expression", expression)
            }
            Change::MoveColumn {
                column,
                from_table,
                to_table,
                data_type,
                key,
            } => {
                v.column("column", column)?;
                v.table("from_table", from_table)?;
                v.table("to_table", to_table)?;
                if let Some(t) = data_type {
                    v.ty("data_type", t)?;
                }
                v.opt_ident("key", key)
            }
            Change::SplitTable {
                table,
                new_table,
                columns,
                key,
            } => {
                v.table("table", table)?;
                v.table("new_table", new_table)?;
                v.columns("columns", columns)?;
                v.opt_ident("key", key)
            }
            Change::MergeTables {
                table,
                other,
                columns,
                key,
            } => {
                v.table("table", table)?;
                v.table("other", other)?;
                v.columns("columns", columns)?;
                v.opt_ident("key", key)
            }
            Change::RenameTable { table, new_name } => {
                v.table("table", table)?;
                v.table("new_name", new_name)?;
                Ok(())
            }
            Change::DropTable { table } => v.table("table", table).map(|_| ()),
            Change::CreateTable { table, columns } => {
                v.table("table", table)?;
                if columns.is_empty() {
                    return Err("columns is empty: a new table needs at least one column".into());
                }
                v.specs("columns", columns)
            }
            Change::EnumChange {
                type_name,
                operation,
            } => {
                v.table("type_name", type_name)?;
                let label = |what: &str, s: &str| -> Result<(), String> {
                    if s.is_empty() || s.len() > 63 {
                        Err(format!("{what} `{s}` must be 1 to 63 bytes long (PostgreSQL's enum label limit)"))
                    } else {
                        Ok(())
                    }
                };
                match operation {
                    EnumOp::AddValue {
                        value,
                        before,
                        after,
                    } => {
                        label("value", value)?;
                        if before.is_some() && after.is_some() {
                            return Err("give `before` or `after`, not both".into());
                        }
                        for p in [before, after].into_iter().flatten() {
                            label("position", p)?;
                        }
                        Ok(())
                    }
                    EnumOp::RenameValue { from, to } => {
                        label("from", from)?;
                        label("to", to)
                    }
                    EnumOp::RemoveValue {
                        value,
                        replace_with,
                    } => {
                        label("value", value)?;
                        if let Some(r) = replace_with {
                            label("replace_with", r)?;
                        }
                        Ok(())
                    }
                }
            }
            Change::BackfillOnly {
                table,
                column,
                fill,
                predicate,
            } => {
                v.table("table", table)?;
                v.column("column", column)?;
                v.fill(fill)?;
                v.opt_expr("predicate", predicate)
            }
        }
    }
}

struct Checker {
    engine: Engine,
}

impl Checker {
    fn table(&self, what: &str, name: &str) -> Result<QualifiedName, String> {
        QualifiedName::parse(what, name).map_err(|e| e.to_string())
    }

    fn column(&self, what: &str, name: &str) -> Result<Ident, String> {
        Ident::parse(what, name).map_err(|e| e.to_string())
    }

    fn opt_ident(&self, what: &str, name: &Option<String>) -> Result<(), String> {
        name.as_deref()
            .map_or(Ok(()), |n| self.column(what, n).map(|_| ()))
    }

    fn columns(&self, what: &str, names: &[String]) -> Result<(), String> {
        if names.is_empty() {
            return Err(format!("{what} is empty: name at least one column"));
        }
        for n in names {
            self.column(what, n)?;
        }
        Ok(())
    }

    /// Index key parts: a column name, or an expression such as `lower(email)`.
    fn key_parts(&self, parts: &[String]) -> Result<(), String> {
        if parts.is_empty() {
            return Err("columns is empty: name at least one column or expression to index".into());
        }
        for p in parts {
            if !is_plain_identifier(p) {
                self.expr("columns", p)?;
            } else {
                self.column("columns", p)?;
            }
        }
        Ok(())
    }

    fn ty(&self, what: &str, t: &str) -> Result<(), String> {
        parse_type(what, t, self.engine).map(|_| ())
    }

    fn expr(&self, what: &str, e: &str) -> Result<(), String> {
        parse_expr(what, e, self.engine).map(|_| ())
    }

    fn opt_expr(&self, what: &str, e: &Option<String>) -> Result<(), String> {
        e.as_deref().map_or(Ok(()), |e| self.expr(what, e))
    }

    fn fill(&self, f: &Fill) -> Result<(), String> {
        match f {
            Fill::Expression { expression } => self.expr("fill.expression", expression),
            Fill::Lookup {
                table,
                column,
                local_key,
                remote_key,
            } => {
                self.table("fill.table", table)?;
                self.column("fill.column", column)?;
                self.opt_ident("fill.local_key", local_key)?;
                self.opt_ident("fill.remote_key", remote_key)
            }
        }
    }

    fn specs(&self, what: &str, specs: &[ColumnSpec]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for s in specs {
            let id = self.column(&format!("{what}.name"), &s.name)?;
            if !seen.insert(id.clone()) {
                return Err(format!("{what} names column `{id}` twice"));
            }
            if let Some(t) = &s.data_type {
                self.ty(&format!("{what}.data_type"), t)?;
            }
            self.opt_expr(&format!("{what}.default"), &s.default)?;
            self.opt_expr(&format!("{what}.expression"), &s.expression)?;
        }
        Ok(())
    }
}

/// `email`, `"Email"`, `user_id`: a name rather than an expression.
pub fn is_plain_identifier(s: &str) -> bool {
    let s = s.trim();
    (s.starts_with('"') && s.ends_with('"') && s.len() >= 2)
        || (!s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$'))
}
