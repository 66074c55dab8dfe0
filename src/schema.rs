//! The current schema as the user gives it (`CREATE TABLE` DDL, e.g. from
//! `pg_dump -s`), so a plan knows types, keys, NOT NULLs and indexes instead
//! of assuming them.

use crate::context::Engine;
use crate::ident::{fold_pg, fold_pg_outside_quotes, Ident, QualifiedName};
use regex::Regex;
use sqlparser::ast::{ColumnOption, DataType, Expr, ObjectName, Statement, TableConstraint};
use sqlparser::parser::Parser;
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: Ident,
    /// The type as written, lower-cased (`bigint`, `varchar(100)`).
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    /// Key parts as SQL: columns quoted as plans quote them (`email`,
    /// `"Email"`), expressions as written (`lower(email)`).
    pub columns: Vec<String>,
}

/// A foreign key held by a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    pub columns: Vec<Ident>,
    pub references: QualifiedName,
    /// Empty when the DDL names only the table (its primary key).
    pub referenced_columns: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: QualifiedName,
    pub columns: Vec<Column>,
    pub primary_key: Vec<Ident>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column(&self, name: &Ident) -> Option<&Column> {
        self.columns.iter().find(|c| &c.name == name)
    }
}

/// Every table found in the DDL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub tables: Vec<Table>,
}

static ADD_FK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?([\w."]+)\s+ADD\s+(?:CONSTRAINT\s+[\w"]+\s+)?FOREIGN\s+KEY\s*\(([^)]*)\)\s*REFERENCES\s+([\w."]+)\s*(?:\(([^)]*)\))?"#)
        .expect("static regex")
});

static ADD_PK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?([\w."]+)\s+ADD\s+(?:CONSTRAINT\s+[\w"]+\s+)?PRIMARY\s+KEY\s*\(([^)]*)\)"#)
        .expect("static regex")
});

impl Schema {
    /// Parses the DDL statement by statement; statements that are not about
    /// tables, keys or indexes (functions, grants, SET...) are skipped.
    pub fn parse(ddl: &str, engine: Engine) -> Result<Schema, String> {
        let limit = crate::limits::SCHEMA_BYTES;
        if ddl.len() > limit {
            return Err(format!(
                "the schema is {} bytes, over the {} limit; give the CREATE TABLE statements of the tables the change touches",
                ddl.len(),
                crate::limits::describe(limit)
            ));
        }
        let dialect = crate::sqltext::dialect(engine);
        let mut schema = Schema::default();
        for stmt in crate::change::ddl::split_statements(ddl, engine) {
            let text = stmt.text.trim();
            if let Some(c) = ADD_PK.captures(text) {
                let table = QualifiedName::parse("table", &c[1]).map_err(|e| e.to_string())?;
                if let Some(t) = schema.find_mut(&table) {
                    t.primary_key = c[2]
                        .split(',')
                        .filter_map(|p| Ident::parse("column", p).ok())
                        .collect();
                }
                continue;
            }
            if let Some(c) = ADD_FK.captures(text) {
                let table = QualifiedName::parse("table", &c[1]).map_err(|e| e.to_string())?;
                let list = |m: Option<regex::Match>| -> Vec<Ident> {
                    m.map(|m| {
                        m.as_str()
                            .split(',')
                            .filter_map(|p| Ident::parse("column", p).ok())
                            .collect()
                    })
                    .unwrap_or_default()
                };
                let fk = ForeignKey {
                    columns: list(c.get(2)),
                    references: QualifiedName::parse("table", &c[3]).map_err(|e| e.to_string())?,
                    referenced_columns: list(c.get(4)),
                };
                if let Some(t) = schema.find_mut(&table) {
                    t.foreign_keys.push(fk);
                }
                continue;
            }
            let upper = text.get(..16).unwrap_or(text).to_ascii_uppercase();
            if !(upper.starts_with("CREATE")) {
                continue;
            }
            if let Err(e) = crate::sqldepth::check_sql(text, engine) {
                if upper.starts_with("CREATE TABLE") {
                    return Err(format!("schema: the statement on line {}: {e}", stmt.line));
                }
                continue;
            }
            let Ok(parsed) = Parser::parse_sql(dialect.as_ref(), text) else {
                if upper.starts_with("CREATE TABLE") {
                    return Err(format!(
                        "schema: cannot parse the statement on line {}: {}",
                        stmt.line,
                        text.lines().next().unwrap_or("")
                    ));
                }
                continue;
            };
            for s in parsed {
                match s {
                    Statement::CreateTable(ct) => schema.tables.push(table_from(&ct)?),
                    Statement::CreateIndex(ci) => {
                        let table = qualified(&ci.table_name)?;
                        if let Some(t) = schema.find_mut(&table) {
                            t.indexes.push(Index {
                                name: ci
                                    .name
                                    .as_ref()
                                    .and_then(|n| n.0.last())
                                    .and_then(|p| p.as_ident())
                                    .map(|i| ident(i).map(|i| i.as_str().to_string()))
                                    .transpose()?
                                    .unwrap_or_default(),
                                unique: ci.unique,
                                columns: ci
                                    .columns
                                    .iter()
                                    .map(|c| key_part(&c.column.expr))
                                    .collect(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        // A file given as the schema that holds no table is the wrong file
        // (or an empty one): planning without it would silently guess.
        if schema.tables.is_empty() {
            return Err(
                "the schema has no CREATE TABLE statement: give the CREATE TABLE DDL of the tables the change touches (pg_dump --schema-only -t TABLE), or leave the schema out"
                    .into(),
            );
        }
        Ok(schema)
    }

    /// Finds a table; an unqualified name matches any schema.
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.iter().find(|t| same_table(&t.name, name))
    }

    fn find_mut(&mut self, name: &QualifiedName) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| same_table(&t.name, name))
    }
}

fn same_table(a: &QualifiedName, b: &QualifiedName) -> bool {
    a.name == b.name
        && match (&a.schema, &b.schema) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// A name as the parser read it: its value unescaped, folded unless quoted.
/// (Going through the parser's printed form would lose a `"` in a name.)
fn ident(i: &sqlparser::ast::Ident) -> Result<Ident, String> {
    let name = if i.quote_style.is_some() {
        i.value.clone()
    } else {
        fold_pg(&i.value)
    };
    Ident::new("name", name).map_err(|e| e.to_string())
}

fn qualified(n: &ObjectName) -> Result<QualifiedName, String> {
    let parts =
        n.0.iter()
            .map(|p| {
                p.as_ident()
                    .ok_or_else(|| format!("schema: `{n}` is not a plain name"))
                    .and_then(ident)
            })
            .collect::<Result<Vec<_>, _>>()?;
    match parts.as_slice() {
        [name] => Ok(QualifiedName {
            schema: None,
            name: name.clone(),
        }),
        [schema, name] => Ok(QualifiedName {
            schema: Some(schema.clone()),
            name: name.clone(),
        }),
        _ => Err(format!(
            "schema: `{n}` has more than one dot: write `table` or `schema.table`"
        )),
    }
}

/// An index key part as SQL: a column quoted as the plan quotes it, an
/// expression as the parser prints it.
fn key_part(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident(i).map_or_else(|_| e.to_string(), |i| i.pg()),
        _ => e.to_string(),
    }
}

/// A column's type as SQL: a named type (an enum) quoted from its parts,
/// since the parser's printed form does not double a `"` inside a name;
/// others as printed, ASCII-folded outside quotes.
fn type_text(t: &DataType) -> String {
    match t {
        DataType::Custom(name, modifiers) if modifiers.is_empty() => qualified(name)
            .map(|q| q.pg())
            .unwrap_or_else(|_| fold_pg_outside_quotes(&t.to_string())),
        _ => fold_pg_outside_quotes(&t.to_string()),
    }
}

fn table_from(ct: &sqlparser::ast::CreateTable) -> Result<Table, String> {
    let name = qualified(&ct.name)?;
    let mut table = Table {
        name,
        columns: Vec::new(),
        primary_key: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
    };
    for c in &ct.columns {
        let col = ident(&c.name)?;
        let mut column = Column {
            name: col.clone(),
            data_type: type_text(&c.data_type),
            not_null: false,
            default: None,
        };
        for o in &c.options {
            match &o.option {
                ColumnOption::NotNull => column.not_null = true,
                ColumnOption::Default(e) => column.default = Some(e.to_string()),
                ColumnOption::PrimaryKey(_) => {
                    column.not_null = true;
                    table.primary_key = vec![col.clone()];
                }
                ColumnOption::Generated { .. } => column.not_null = true,
                ColumnOption::ForeignKey(fk) => table.foreign_keys.push(ForeignKey {
                    columns: vec![col.clone()],
                    references: qualified(&fk.foreign_table)?,
                    referenced_columns: fk
                        .referred_columns
                        .iter()
                        .map(ident)
                        .collect::<Result<_, _>>()?,
                }),
                _ => {}
            }
        }
        if matches!(
            column.data_type.as_str(),
            "serial" | "bigserial" | "smallserial"
        ) {
            column.not_null = true;
        }
        table.columns.push(column);
    }
    for tc in &ct.constraints {
        if let TableConstraint::ForeignKey(fk) = tc {
            table.foreign_keys.push(ForeignKey {
                columns: fk.columns.iter().map(ident).collect::<Result<_, _>>()?,
                references: qualified(&fk.foreign_table)?,
                referenced_columns: fk
                    .referred_columns
                    .iter()
                    .map(ident)
                    .collect::<Result<_, _>>()?,
            });
        }
        if let TableConstraint::PrimaryKey(pk) = tc {
            table.primary_key = pk
                .columns
                .iter()
                .filter_map(|c| match &c.column.expr {
                    Expr::Identifier(i) => ident(i).ok(),
                    _ => None,
                })
                .collect();
        }
    }
    for pk in table.primary_key.clone() {
        if let Some(c) = table.columns.iter_mut().find(|c| c.name == pk) {
            c.not_null = true;
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pg_dump_style_ddl() {
        let ddl = r#"
            SET statement_timeout = 0;
            CREATE TABLE public.users (
                id bigint NOT NULL,
                username character varying(100) NOT NULL,
                email text,
                active boolean DEFAULT true NOT NULL
            );
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
            ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
            CREATE UNIQUE INDEX users_username_key ON public.users USING btree (username);
            CREATE TABLE orders (id bigint PRIMARY KEY, user_id integer REFERENCES users, buyer integer);
            ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_buyer_fkey FOREIGN KEY (buyer) REFERENCES public.users(id);
        "#;
        let s = Schema::parse(ddl, Engine::Postgres).unwrap();
        let t = s
            .table(&QualifiedName::parse("table", "users").unwrap())
            .unwrap();
        assert_eq!(t.primary_key, vec![Ident::new("c", "id").unwrap()]);
        let u = t.column(&Ident::new("c", "username").unwrap()).unwrap();
        let o = s
            .table(&QualifiedName::parse("table", "orders").unwrap())
            .unwrap();
        assert_eq!(o.foreign_keys.len(), 2, "{:?}", o.foreign_keys);
        assert_eq!(
            o.foreign_keys[0].columns,
            vec![Ident::new("c", "user_id").unwrap()]
        );
        assert_eq!(
            o.foreign_keys[1].columns,
            vec![Ident::new("c", "buyer").unwrap()]
        );
        assert_eq!(o.foreign_keys[1].references.name.as_str(), "users");
        assert!(u.not_null);
        assert_eq!(u.data_type, "character varying(100)");
        assert_eq!(
            t.column(&Ident::new("c", "active").unwrap())
                .unwrap()
                .default
                .as_deref(),
            Some("true")
        );
        assert_eq!(t.indexes[0].columns, vec!["username"]);
        assert!(t.indexes[0].unique);
    }

    #[test]
    fn inline_primary_key() {
        let s = Schema::parse(
            "CREATE TABLE t (id uuid PRIMARY KEY, n int)",
            Engine::Postgres,
        )
        .unwrap();
        assert_eq!(s.tables[0].primary_key[0].as_str(), "id");
    }
}
