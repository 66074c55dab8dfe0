//! One statement -> the steps it takes (add a column, fill it, drop one ...).
//! Steps are combined into one change afterwards (see `combine`).

use super::split::StatementText;
use super::text::{self, column_ref, data_type, ident, last_name, object_name, Source};
use super::DdlError;
use crate::change::{ColumnSpec, EnumOp, Fill};
use crate::context::Engine;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, AlterType, AlterTypeAddValuePosition,
    AlterTypeOperation, AssignmentTarget, BinaryOperator, ColumnOption, CreateIndex, CreateTable,
    Expr, ForeignKeyConstraint, IndexColumn, IndexType, Insert, JoinConstraint, JoinOperator,
    KeyOrIndexDisplay, ObjectName, ObjectType, Query, ReferentialAction, RenameTableNameKind,
    SelectItem, SetExpr, Statement, TableConstraint, TableFactor, TableObject, TableWithJoins,
    Update, UpdateTableFromKind,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// Where a step came from, to name it in messages.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct At {
    pub line: usize,
    pub snippet: String,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} `{}`", self.line, self.snippet)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Step {
    pub kind: Kind,
    pub at: At,
}

/// An index as written by CREATE INDEX or MySQL's ADD INDEX.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Index {
    pub table: String,
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub unique: bool,
    pub method: Option<String>,
    pub predicate: Option<String>,
    /// Every key part is a bare column (so the index can back a constraint).
    pub plain: bool,
}

/// What one statement (or one clause of an ALTER TABLE) does.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    AddColumn {
        table: String,
        spec: ColumnSpec,
    },
    DropColumn {
        table: String,
        column: String,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    RenameTable {
        table: String,
        to: String,
    },
    SetType {
        table: String,
        column: String,
        to_type: String,
        using: Option<String>,
    },
    SetNotNull {
        table: String,
        column: String,
    },
    DropNotNull {
        table: String,
        column: String,
    },
    SetDefault {
        table: String,
        column: String,
        default: Option<String>,
    },
    CreateIndex(Index),
    DropIndex {
        name: String,
        table: Option<String>,
    },
    Unique {
        table: String,
        name: Option<String>,
        columns: Vec<String>,
    },
    UniqueUsingIndex {
        table: String,
        name: Option<String>,
        index: String,
    },
    PrimaryKey {
        table: String,
        name: Option<String>,
        columns: Vec<String>,
    },
    PrimaryKeyUsingIndex {
        table: String,
        name: Option<String>,
        index: String,
    },
    ForeignKey {
        table: String,
        name: Option<String>,
        columns: Vec<String>,
        references_table: String,
        references_columns: Vec<String>,
        on_delete: Option<String>,
        not_valid: bool,
    },
    Check {
        table: String,
        name: Option<String>,
        expression: String,
        not_valid: bool,
        not_null_of: Option<String>,
    },
    Validate {
        table: String,
        name: String,
    },
    DropConstraint {
        table: String,
        name: String,
    },
    DropTable {
        table: String,
    },
    CreateTable {
        table: String,
        columns: Vec<ColumnSpec>,
    },
    Enum {
        type_name: String,
        operation: EnumOp,
    },
    /// One `SET column = value` of an UPDATE.
    Fill {
        table: String,
        column: String,
        fill: Fill,
        predicate: Option<String>,
    },
    /// `INSERT INTO into (targets) SELECT sources FROM from`: pairs of (target, source) columns.
    Copy {
        into: String,
        from: String,
        pairs: Vec<(String, String)>,
    },
}

/// Reads one statement into steps; statements that do not change the schema
/// (transactions, SET, comments) give none.
pub(super) fn statement(
    stmt: &StatementText,
    engine: Engine,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
) -> Result<(), DdlError> {
    // psql commands (`\set ON_ERROR_STOP on`) end at the line's end, not at a
    // semicolon, so they open the statement that follows them.
    let mut stmt = stmt.clone();
    while stmt.text.starts_with('\\') {
        let (command, rest) = stmt.text.split_once('\n').unwrap_or((&stmt.text, ""));
        notes.push(format!(
            "skipped the psql command `{}` (line {}): it is not SQL",
            command.trim(),
            stmt.line
        ));
        let skipped = stmt.text.len() - rest.len();
        let lead = rest.len() - rest.trim_start().len();
        let lines = stmt.text[..skipped + lead].matches('\n').count();
        stmt = StatementText {
            text: rest.trim_start().to_string(),
            line: stmt.line + lines,
            column: 1 + rest[..lead]
                .rsplit('\n')
                .next()
                .map_or(0, |l| l.chars().count()),
            byte_offset: stmt.byte_offset + skipped + lead,
        };
        if stmt.text.is_empty() {
            return Ok(());
        }
    }
    let at = At {
        line: stmt.line,
        snippet: text::snippet(&stmt.text),
    };
    if let Err(e) = crate::sqldepth::check_sql(&stmt.text, engine) {
        return Err(DdlError(format!(
            "the statement at line {}: {e}",
            stmt.line
        )));
    }
    let dialect = crate::sqltext::dialect(engine);
    let parsed = Parser::new(dialect.as_ref())
        .try_with_sql(&stmt.text)
        .and_then(|mut p| p.parse_statements());
    let statements = match parsed {
        Ok(s) => s,
        Err(e) => return unparsed(&stmt, engine, &at, steps, notes, &e.to_string()),
    };
    let src = Source::new(&stmt.text, engine);
    let mut r = Reader {
        src: &src,
        engine,
        at: &at,
        kinds: Vec::new(),
        notes,
    };
    for s in &statements {
        r.statement(s)?;
    }
    let kinds = std::mem::take(&mut r.kinds);
    steps.extend(kinds.into_iter().map(|kind| Step {
        kind,
        at: at.clone(),
    }));
    Ok(())
}

/// Leading words of statements that never change the schema's shape and
/// can be skipped even when sqlparser cannot parse them.
const SKIPPED: &[&str] = &[
    "SET",
    "RESET",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "VACUUM",
    "ANALYZE",
    "ANALYSE",
    "REINDEX",
    "CLUSTER",
    "CHECKPOINT",
    "DISCARD",
    "LOCK",
    "UNLOCK",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SELECT",
    "SHOW",
    "EXPLAIN",
    "USE",
    "NOTIFY",
    "LISTEN",
];

/// Transaction control and session settings: skipped without a note.
const SILENT: &[&str] = &[
    "SET",
    "RESET",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "USE",
];

/// A statement sqlparser could not parse: recognised by its leading words
/// when that is simple (`DROP INDEX CONCURRENTLY`), skipped when it cannot
/// matter, otherwise an error naming it.
fn unparsed(
    stmt: &StatementText,
    engine: Engine,
    at: &At,
    steps: &mut Vec<Step>,
    notes: &mut Vec<String>,
    error: &str,
) -> Result<(), DdlError> {
    let lexemes = text::lex(&stmt.text, engine).unwrap_or_default();
    let words: Vec<String> = lexemes
        .iter()
        .map_while(|l| match &l.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect();
    let first = words.first().map(String::as_str).unwrap_or("");
    if SKIPPED.contains(&first) {
        if !SILENT.contains(&first) {
            notes.push(format!("skipped {at}: it does not change the schema"));
        }
        return Ok(());
    }
    if words.len() >= 2 && words[0] == "DROP" && words[1] == "INDEX" {
        if let Some(names) = drop_index_names(&lexemes) {
            for name in names {
                steps.push(Step {
                    kind: Kind::DropIndex { name, table: None },
                    at: at.clone(),
                });
            }
            return Ok(());
        }
    }
    if first == "DO" {
        return Err(DdlError(format!(
            "the DO block at line {} cannot be read as a change: give the DDL itself, e.g. `ALTER TYPE mood ADD VALUE 'meh';`",
            stmt.line
        )));
    }
    Err(DdlError(format!(
        "could not read the statement at {at}: {error}. Give plain DDL such as `ALTER TABLE users ADD COLUMN email text;` or `CREATE INDEX CONCURRENTLY users_email_idx ON users (email);`"
    )))
}

/// `DROP INDEX [CONCURRENTLY] [IF EXISTS] a, schema.b [CASCADE | RESTRICT]`,
/// read from tokens because sqlparser 0.63 rejects CONCURRENTLY.
fn drop_index_names(lexemes: &[text::Lexeme]) -> Option<Vec<String>> {
    let word = |l: &text::Lexeme, kw: &str| matches!(&l.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    let mut i = 2;
    if lexemes.get(i).is_some_and(|l| word(l, "CONCURRENTLY")) {
        i += 1;
    }
    if lexemes.get(i).is_some_and(|l| word(l, "IF"))
        && lexemes.get(i + 1).is_some_and(|l| word(l, "EXISTS"))
    {
        i += 2;
    }
    let mut names = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for l in lexemes.get(i..)? {
        match &l.token {
            Token::Word(w)
                if current.is_empty()
                    && w.quote_style.is_none()
                    && (w.value.eq_ignore_ascii_case("CASCADE")
                        || w.value.eq_ignore_ascii_case("RESTRICT")) =>
            {
                break
            }
            Token::Word(w) => current.push(text::name_text(&w.value, w.quote_style.is_some())),
            Token::Period if !current.is_empty() => {}
            Token::Comma if !current.is_empty() => {
                names.push(std::mem::take(&mut current).join("."))
            }
            _ => return None,
        }
    }
    if !current.is_empty() {
        names.push(current.join("."));
    }
    (!names.is_empty()).then_some(names)
}

struct Reader<'a, 'n> {
    src: &'a Source<'a>,
    engine: Engine,
    at: &'a At,
    kinds: Vec<Kind>,
    notes: &'n mut Vec<String>,
}

/// The names a statement may qualify a table's columns with: its alias,
/// its full name and its name without schema.
fn names_for(table: &str, alias: &Option<String>) -> Vec<String> {
    let mut names: Vec<String> = alias.iter().cloned().collect();
    names.push(table.to_string());
    if let Some(last) = crate::ident::split_dotted(table).last() {
        if last != table {
            names.push(last.clone());
        }
    }
    names
}

fn refs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Splits `a AND b AND c` into its parts (parenthesised groups stay whole).
fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        other => out.push(other),
    }
}

fn unnest(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unnest(inner),
        other => other,
    }
}

fn index_method(t: &IndexType) -> String {
    match t {
        IndexType::BTree => "btree".into(),
        IndexType::Hash => "hash".into(),
        IndexType::GIN => "gin".into(),
        IndexType::GiST => "gist".into(),
        IndexType::SPGiST => "spgist".into(),
        IndexType::BRIN => "brin".into(),
        IndexType::Bloom => "bloom".into(),
        IndexType::Custom(i) => i.value.to_ascii_lowercase(),
    }
}

fn action(a: &ReferentialAction) -> String {
    match a {
        ReferentialAction::Restrict => "restrict",
        ReferentialAction::Cascade => "cascade",
        ReferentialAction::SetNull => "set null",
        ReferentialAction::NoAction => "no action",
        ReferentialAction::SetDefault => "set default",
    }
    .to_string()
}

/// The serial type with the same effect as an integer identity column.
fn serial_for(data_type: &str) -> Option<&'static str> {
    match data_type {
        "smallint" | "int2" => Some("smallserial"),
        "int" | "integer" | "int4" => Some("serial"),
        "bigint" | "int8" => Some("bigserial"),
        _ => None,
    }
}

impl Reader<'_, '_> {
    fn err<T>(&self, what: impl std::fmt::Display) -> Result<T, DdlError> {
        Err(DdlError(format!("{what} (at {})", self.at)))
    }

    fn note(&mut self, what: impl std::fmt::Display) {
        let n = what.to_string();
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn name(&self, n: &ObjectName) -> Result<String, DdlError> {
        match object_name(n) {
            Some(s) => Ok(s),
            None => self.err(format_args!(
                "`{n}` is not a plain name: write `table` or `schema.table`"
            )),
        }
    }

    fn expr(&self, e: &Expr) -> String {
        self.src.expr(e)
    }

    fn statement(&mut self, s: &Statement) -> Result<(), DdlError> {
        match s {
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(_)
            | Statement::Reset(_)
            | Statement::Use(_) => Ok(()),
            Statement::Comment { .. }
            | Statement::Analyze(_)
            | Statement::Vacuum(_)
            | Statement::Query(_)
            | Statement::CreateExtension(_)
            | Statement::Lock(_)
            | Statement::LockTables { .. }
            | Statement::UnlockTables
            | Statement::Grant(_)
            | Statement::Revoke(_)
            | Statement::ShowVariable { .. }
            | Statement::Explain { .. } => {
                self.note(format!("skipped {}: it does not change the schema", self.at));
                Ok(())
            }
            Statement::AlterTable(a) => {
                let table = self.name(&a.name)?;
                for op in &a.operations {
                    self.alter_table(&table, op)?;
                }
                Ok(())
            }
            Statement::CreateIndex(ci) => self.create_index(ci),
            Statement::CreateTable(ct) => self.create_table(ct),
            Statement::AlterType(at) => self.alter_type(at),
            Statement::Drop { object_type, names, table, cascade, .. } => {
                if *cascade {
                    self.note(format!(
                        "CASCADE (line {}) is not kept: the plan drops only the named object",
                        self.at.line
                    ));
                }
                let table = table.as_ref().map(|t| self.name(t)).transpose()?;
                for n in names {
                    let name = self.name(n)?;
                    let kind = match object_type {
                        ObjectType::Table => Kind::DropTable { table: name },
                        ObjectType::Index => Kind::DropIndex { name, table: table.clone() },
                        other => {
                            return self.err(format_args!(
                                "DROP {other} is not a change schemashift plans; it plans DROP TABLE, DROP INDEX and ALTER TABLE ... DROP COLUMN"
                            ))
                        }
                    };
                    self.kinds.push(kind);
                }
                Ok(())
            }
            Statement::RenameTable(renames) => {
                for r in renames {
                    let table = self.name(&r.old_name)?;
                    let to = self.name(&r.new_name)?;
                    self.kinds.push(Kind::RenameTable { table, to });
                }
                Ok(())
            }
            Statement::Update(u) => self.update(u),
            Statement::Insert(i) => self.insert(i),
            Statement::CreateType { name, .. } => self.err(format_args!(
                "CREATE TYPE {name} is not a change schemashift plans; changes to an existing enum are, e.g. `ALTER TYPE mood ADD VALUE 'meh'`"
            )),
            other => {
                let shown = other.to_string();
                let kind = shown.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                self.err(format_args!(
                    "`{kind} ...` is not a change schemashift plans; give DDL such as ALTER TABLE, CREATE INDEX, CREATE TABLE, DROP TABLE, ALTER TYPE ... ADD VALUE, or an UPDATE that backfills a column"
                ))
            }
        }
    }

    fn alter_table(&mut self, table: &str, op: &AlterTableOperation) -> Result<(), DdlError> {
        let t = || table.to_string();
        let kind = match op {
            AlterTableOperation::AddColumn { column_def, column_position, .. } => {
                if column_position.is_some() {
                    self.note(format!("the FIRST / AFTER position (line {}) is not kept", self.at.line));
                }
                let (spec, inline) = self.column(table, column_def, false)?;
                self.kinds.push(Kind::AddColumn { table: t(), spec });
                self.kinds.extend(inline);
                return Ok(());
            }
            AlterTableOperation::DropColumn { column_names, drop_behavior, .. } => {
                if matches!(drop_behavior, Some(sqlparser::ast::DropBehavior::Cascade)) {
                    self.note(format!("CASCADE (line {}) is not kept", self.at.line));
                }
                for c in column_names {
                    self.kinds.push(Kind::DropColumn { table: t(), column: ident(c) });
                }
                return Ok(());
            }
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                Kind::RenameColumn { table: t(), from: ident(old_column_name), to: ident(new_column_name) }
            }
            AlterTableOperation::RenameTable { table_name } => {
                let to = match table_name {
                    RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => self.name(n)?,
                };
                Kind::RenameTable { table: t(), to }
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column = ident(column_name);
                match op {
                    AlterColumnOperation::SetNotNull => Kind::SetNotNull { table: t(), column },
                    AlterColumnOperation::DropNotNull => Kind::DropNotNull { table: t(), column },
                    AlterColumnOperation::SetDefault { value } => {
                        Kind::SetDefault { table: t(), column, default: Some(self.expr(value)) }
                    }
                    AlterColumnOperation::DropDefault => Kind::SetDefault { table: t(), column, default: None },
                    AlterColumnOperation::SetDataType { data_type: dt, using, .. } => Kind::SetType {
                        table: t(),
                        column,
                        to_type: data_type(dt),
                        using: using.as_ref().map(|u| self.expr(u)),
                    },
                    AlterColumnOperation::AddGenerated { .. } => {
                        return self.err("ADD GENERATED ... AS IDENTITY is not a change schemashift plans")
                    }
                }
            }
            AlterTableOperation::ModifyColumn { col_name, data_type: dt, .. } => {
                self.note(format!(
                    "MODIFY COLUMN (line {}) restates the whole column: read as a change of type to {}; to change only nullability or the default, give that change instead",
                    self.at.line,
                    data_type(dt)
                ));
                Kind::SetType { table: t(), column: ident(col_name), to_type: data_type(dt), using: None }
            }
            AlterTableOperation::ChangeColumn { old_name, new_name, data_type: dt, .. } => {
                let (from, to) = (ident(old_name), ident(new_name));
                if from == to {
                    self.note(format!(
                        "CHANGE COLUMN (line {}) restates the whole column: read as a change of type to {}",
                        self.at.line,
                        data_type(dt)
                    ));
                    Kind::SetType { table: t(), column: from, to_type: data_type(dt), using: None }
                } else {
                    self.note(format!(
                        "CHANGE COLUMN (line {}) read as a rename of {from} to {to}; the type it restates ({}) is taken to be the current one: change a type as its own change",
                        self.at.line,
                        data_type(dt)
                    ));
                    Kind::RenameColumn { table: t(), from, to }
                }
            }
            AlterTableOperation::AddConstraint { constraint, not_valid } => {
                return self.constraint(table, constraint, *not_valid)
            }
            AlterTableOperation::ValidateConstraint { name } => Kind::Validate { table: t(), name: ident(name) },
            AlterTableOperation::DropConstraint { name, .. } => Kind::DropConstraint { table: t(), name: ident(name) },
            AlterTableOperation::DropIndex { name } => Kind::DropIndex { name: ident(name), table: Some(t()) },
            AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. } => {
                self.note("ALGORITHM / LOCK clauses are ignored: the plan chooses them for each step");
                return Ok(());
            }
            other => {
                return self.err(format_args!(
                    "ALTER TABLE ... {other} is not a change schemashift plans; it plans ADD / DROP / RENAME COLUMN, ALTER COLUMN ... TYPE / SET NOT NULL / SET DEFAULT, ADD CONSTRAINT and RENAME TO"
                ))
            }
        };
        self.kinds.push(kind);
        Ok(())
    }

    /// A column definition; constraints written on an added column become
    /// steps of their own (they are separate changes), those of a new
    /// table's column are said to be left out.
    fn column(
        &mut self,
        table: &str,
        def: &sqlparser::ast::ColumnDef,
        in_new_table: bool,
    ) -> Result<(ColumnSpec, Vec<Kind>), DdlError> {
        let name = ident(&def.name);
        let mut spec = ColumnSpec {
            name: name.clone(),
            data_type: Some(data_type(&def.data_type)),
            not_null: false,
            default: None,
            primary_key: false,
            expression: None,
        };
        let mut inline = Vec::new();
        for o in &def.options {
            let constraint_name = o.name.as_ref().map(ident);
            match &o.option {
                ColumnOption::Null => spec.not_null = false,
                ColumnOption::NotNull => spec.not_null = true,
                ColumnOption::Default(e) => spec.default = Some(self.expr(e)),
                ColumnOption::PrimaryKey(_) if in_new_table => spec.primary_key = true,
                ColumnOption::PrimaryKey(_) => inline.push(Kind::PrimaryKey {
                    table: table.into(),
                    name: constraint_name,
                    columns: vec![name.clone()],
                }),
                ColumnOption::Unique(_) => inline.push(Kind::Unique {
                    table: table.into(),
                    name: constraint_name,
                    columns: vec![name.clone()],
                }),
                ColumnOption::ForeignKey(fk) => {
                    inline.push(self.foreign_key(table, fk, constraint_name, vec![name.clone()], false)?)
                }
                ColumnOption::Check(c) => {
                    let cname = constraint_name.or_else(|| c.name.as_ref().map(ident));
                    inline.push(self.check(table, &c.expr, cname, false))
                }
                ColumnOption::Generated { generation_expr: Some(_), .. } => {
                    return self.err(format_args!(
                        "generated column {name} is not a change schemashift plans; add a plain column and backfill it"
                    ))
                }
                ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                    let current = spec.data_type.clone().unwrap_or_default();
                    match serial_for(&current) {
                        Some(serial) if self.engine == Engine::Postgres => {
                            self.note(format!(
                                "identity column {name} read as {serial} (a sequence default, the same effect)"
                            ));
                            spec.data_type = Some(serial.to_string());
                        }
                        _ => self.note(format!("the identity of column {name} is not kept")),
                    }
                }
                ColumnOption::DialectSpecific(tokens)
                    if tokens.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
                {
                    self.note(format!("AUTO_INCREMENT on column {name} is not kept"))
                }
                other => self.note(format!("`{other}` on column {name} is not kept")),
            }
        }
        if in_new_table && !inline.is_empty() {
            self.note(format!(
                "constraints on column {name} other than NOT NULL, DEFAULT and PRIMARY KEY are not kept: add them as their own changes once the table exists"
            ));
            inline.clear();
        }
        Ok((spec, inline))
    }

    fn constraint(
        &mut self,
        table: &str,
        c: &TableConstraint,
        not_valid: bool,
    ) -> Result<(), DdlError> {
        let t = table.to_string();
        let kind = match c {
            TableConstraint::Unique(u) => {
                let (columns, plain) = self.index_columns(&u.columns);
                if matches!(u.index_type_display, KeyOrIndexDisplay::Index | KeyOrIndexDisplay::Key) {
                    Kind::CreateIndex(Index {
                        table: t,
                        name: u.index_name.as_ref().or(u.name.as_ref()).map(ident),
                        columns,
                        unique: true,
                        method: u.index_type.as_ref().map(index_method),
                        predicate: None,
                        plain,
                    })
                } else {
                    if !plain {
                        return self.err("a UNIQUE constraint lists plain columns; for expressions create a unique index");
                    }
                    Kind::Unique { table: t, name: u.name.as_ref().or(u.index_name.as_ref()).map(ident), columns }
                }
            }
            TableConstraint::PrimaryKey(p) => {
                let (columns, plain) = self.index_columns(&p.columns);
                if !plain {
                    return self.err("a PRIMARY KEY lists plain columns");
                }
                Kind::PrimaryKey { table: t, name: p.name.as_ref().or(p.index_name.as_ref()).map(ident), columns }
            }
            TableConstraint::ForeignKey(fk) => {
                self.foreign_key(table, fk, fk.name.as_ref().map(ident), Vec::new(), not_valid)?
            }
            TableConstraint::Check(ck) => self.check(table, &ck.expr, ck.name.as_ref().map(ident), not_valid),
            TableConstraint::Index(ix) => {
                let (columns, plain) = self.index_columns(&ix.columns);
                Kind::CreateIndex(Index {
                    table: t,
                    name: ix.name.as_ref().map(ident),
                    columns,
                    unique: false,
                    method: ix.index_type.as_ref().map(index_method),
                    predicate: None,
                    plain,
                })
            }
            TableConstraint::UniqueUsingIndex(u) => Kind::UniqueUsingIndex {
                table: t,
                name: u.name.as_ref().map(ident),
                index: ident(&u.index_name),
            },
            TableConstraint::PrimaryKeyUsingIndex(u) => Kind::PrimaryKeyUsingIndex {
                table: t,
                name: u.name.as_ref().map(ident),
                index: ident(&u.index_name),
            },
            other => {
                return self.err(format_args!(
                    "`{other}` is not a change schemashift plans; it plans UNIQUE, PRIMARY KEY, FOREIGN KEY and CHECK constraints and indexes"
                ))
            }
        };
        self.kinds.push(kind);
        Ok(())
    }

    fn foreign_key(
        &mut self,
        table: &str,
        fk: &ForeignKeyConstraint,
        name: Option<String>,
        columns: Vec<String>,
        not_valid: bool,
    ) -> Result<Kind, DdlError> {
        if let Some(a) = &fk.on_update {
            self.note(format!("ON UPDATE {a} (line {}) is not kept", self.at.line));
        }
        if fk.match_kind.is_some() || fk.characteristics.is_some() {
            self.note(format!(
                "MATCH / DEFERRABLE options (line {}) are not kept",
                self.at.line
            ));
        }
        Ok(Kind::ForeignKey {
            table: table.into(),
            name: name.or_else(|| fk.name.as_ref().map(ident)),
            columns: if fk.columns.is_empty() {
                columns
            } else {
                fk.columns.iter().map(ident).collect()
            },
            references_table: self.name(&fk.foreign_table)?,
            references_columns: fk.referred_columns.iter().map(ident).collect(),
            on_delete: fk.on_delete.as_ref().map(action),
            not_valid,
        })
    }

    fn check(&self, table: &str, e: &Expr, name: Option<String>, not_valid: bool) -> Kind {
        let not_null_of = match unnest(e) {
            Expr::IsNotNull(inner) => column_ref(inner).and_then(|(q, c)| q.is_none().then_some(c)),
            _ => None,
        };
        Kind::Check {
            table: table.into(),
            name,
            expression: self.expr(e),
            not_valid,
            not_null_of,
        }
    }

    /// Index key parts as names or expressions; `plain` when all are bare columns.
    fn index_columns(&mut self, cols: &[IndexColumn]) -> (Vec<String>, bool) {
        let mut plain = true;
        let mut out = Vec::with_capacity(cols.len());
        for c in cols {
            if let Some(opclass) = &c.operator_class {
                self.note(format!(
                    "operator class {opclass} (line {}) is not kept",
                    self.at.line
                ));
            }
            if c.column.options.sort.is_some() || c.column.options.nulls_first.is_some() {
                self.note(format!(
                    "ASC / DESC / NULLS ordering (line {}) is not kept",
                    self.at.line
                ));
            }
            match &c.column.expr {
                Expr::Identifier(i) => out.push(ident(i)),
                e => {
                    plain = false;
                    out.push(self.expr(e));
                }
            }
        }
        (out, plain)
    }

    fn create_index(&mut self, ci: &CreateIndex) -> Result<(), DdlError> {
        let table = self.name(&ci.table_name)?;
        let (columns, plain) = self.index_columns(&ci.columns);
        let mut method = ci.using.as_ref().map(index_method);
        for o in &ci.index_options {
            if let sqlparser::ast::IndexOption::Using(t) = o {
                method = Some(index_method(t));
            }
        }
        if !ci.include.is_empty() {
            self.note(format!(
                "INCLUDE columns (line {}) are not kept",
                self.at.line
            ));
        }
        if !ci.with.is_empty() {
            self.note(format!(
                "WITH storage parameters (line {}) are not kept",
                self.at.line
            ));
        }
        if ci.nulls_distinct.is_some() {
            self.note(format!(
                "NULLS [NOT] DISTINCT (line {}) is not kept",
                self.at.line
            ));
        }
        if !ci.alter_options.is_empty() {
            self.note("ALGORITHM / LOCK clauses are ignored: the plan chooses them for each step");
        }
        self.kinds.push(Kind::CreateIndex(Index {
            table,
            name: ci.name.as_ref().and_then(last_name),
            columns,
            unique: ci.unique,
            method,
            predicate: ci.predicate.as_ref().map(|p| self.expr(p)),
            plain,
        }));
        Ok(())
    }

    fn create_table(&mut self, ct: &CreateTable) -> Result<(), DdlError> {
        let table = self.name(&ct.name)?;
        if ct.query.is_some() || ct.like.is_some() || ct.clone.is_some() {
            return self.err("CREATE TABLE ... AS / LIKE / CLONE is not a change schemashift plans; list the columns");
        }
        let mut columns = Vec::with_capacity(ct.columns.len());
        for def in &ct.columns {
            columns.push(self.column(&table, def, true)?.0);
        }
        for c in &ct.constraints {
            match c {
                TableConstraint::PrimaryKey(p) => {
                    let (keys, _) = self.index_columns(&p.columns);
                    for spec in columns.iter_mut().filter(|s| keys.contains(&s.name)) {
                        spec.primary_key = true;
                    }
                }
                other => self.note(format!(
                    "table constraint `{other}` is not kept: add it as its own change once the table exists"
                )),
            }
        }
        self.kinds.push(Kind::CreateTable { table, columns });
        Ok(())
    }

    fn alter_type(&mut self, at: &AlterType) -> Result<(), DdlError> {
        let type_name = self.name(&at.name)?;
        let operation = match &at.operation {
            AlterTypeOperation::AddValue(av) => {
                let (mut before, mut after) = (None, None);
                match &av.position {
                    Some(AlterTypeAddValuePosition::Before(v)) => before = Some(v.value.clone()),
                    Some(AlterTypeAddValuePosition::After(v)) => after = Some(v.value.clone()),
                    None => {}
                }
                EnumOp::AddValue { value: av.value.value.clone(), before, after }
            }
            AlterTypeOperation::RenameValue(rv) => {
                EnumOp::RenameValue { from: rv.from.value.clone(), to: rv.to.value.clone() }
            }
            AlterTypeOperation::Rename(_) => {
                return self.err("renaming a type is not a change schemashift plans; it plans ALTER TYPE ... ADD VALUE and RENAME VALUE")
            }
        };
        self.kinds.push(Kind::Enum {
            type_name,
            operation,
        });
        Ok(())
    }

    /// `(name, alias)` of a plain table reference.
    fn table_ref(&self, tf: &TableFactor) -> Result<(String, Option<String>), DdlError> {
        match tf {
            TableFactor::Table { name, alias, .. } => {
                Ok((self.name(name)?, alias.as_ref().map(|a| ident(&a.name))))
            }
            other => self.err(format_args!("`{other}` is not a table name")),
        }
    }

    fn update(&mut self, u: &Update) -> Result<(), DdlError> {
        let (table, alias) = self.table_ref(&u.table.relation)?;
        let target = names_for(&table, &alias);
        let from: &[TableWithJoins] = match &u.from {
            Some(UpdateTableFromKind::AfterSet(v) | UpdateTableFromKind::BeforeSet(v)) => v,
            None => &[],
        };
        let mut join_on = None;
        let source = match (from, u.table.joins.as_slice()) {
            ([], []) => None,
            ([f], []) if f.joins.is_empty() => Some(self.table_ref(&f.relation)?),
            ([], [j]) => {
                join_on = match &j.join_operator {
                    JoinOperator::Join(JoinConstraint::On(e)) | JoinOperator::Inner(JoinConstraint::On(e)) => Some(e),
                    _ => return self.err("an UPDATE ... JOIN needs `JOIN other ON table.key = other.key`"),
                };
                Some(self.table_ref(&j.relation)?)
            }
            _ => {
                return self.err(
                    "an UPDATE that reads several other tables cannot be planned as a backfill; copy from one table joined by a key, e.g. `UPDATE invoices SET org_id = a.organisation_id FROM accounts a WHERE invoices.account_id = a.id`",
                )
            }
        };
        if u.limit.is_some() || !u.order_by.is_empty() {
            self.note("the UPDATE's LIMIT / ORDER BY are not kept: the plan backfills in batches of its own");
        }
        let mut parts = Vec::new();
        if let Some(on) = join_on {
            conjuncts(on, &mut parts);
        }
        if let Some(w) = &u.selection {
            conjuncts(w, &mut parts);
        }
        let strip = |s: String| text::strip_qualifiers(&s, &refs(&target), self.engine);

        let mut lookup_keys = None;
        let mut source_names = Vec::new();
        if let Some((stable, salias)) = &source {
            source_names = names_for(stable, salias);
            let found = parts
                .iter()
                .enumerate()
                .find_map(|(i, c)| join_keys(c, &target, &source_names).map(|k| (i, k)));
            let Some((i, keys)) = found else {
                return self.err(format_args!(
                    "the UPDATE reads {stable} but does not join it by a key: write `WHERE {table}.<key> = {}.<key>`",
                    salias.as_deref().unwrap_or(stable)
                ));
            };
            parts.remove(i);
            lookup_keys = Some((stable.clone(), keys));
        }
        let mut predicate_parts = Vec::new();
        for p in &parts {
            let s = self.expr(p);
            if text::mentions_qualifier(&s, &refs(&source_names), self.engine) {
                return self.err(format_args!(
                    "the condition `{s}` reads the other table; only the join key can, so the backfill stays a per-row copy"
                ));
            }
            predicate_parts.push(strip(s));
        }
        let predicate = (!predicate_parts.is_empty()).then(|| predicate_parts.join(" AND "));

        for a in &u.assignments {
            let column = match &a.target {
                AssignmentTarget::ColumnName(n) => {
                    let (col, qualifier) = match n.0.split_last() {
                        Some((c, q)) => (c.as_ident().map(ident), q),
                        None => (None, &[][..]),
                    };
                    let qualifier: Option<Vec<String>> = qualifier.iter().map(|p| p.as_ident().map(ident)).collect();
                    match (col, qualifier) {
                        (Some(c), Some(q)) if q.is_empty() || target.contains(&q.join(".")) => c,
                        _ => return self.err(format_args!("`{n}` is not a column of {table}")),
                    }
                }
                AssignmentTarget::Tuple(_) => {
                    return self.err("`SET (a, b) = (...)` is not supported: set each column on its own, `SET a = ..., b = ...`")
                }
            };
            let fill = match (&lookup_keys, column_ref(&a.value)) {
                (Some((stable, (local, remote))), Some((Some(q), col)))
                    if source_names.contains(&q) =>
                {
                    Fill::Lookup {
                        table: stable.clone(),
                        column: col,
                        local_key: Some(local.clone()),
                        remote_key: Some(remote.clone()),
                    }
                }
                _ => {
                    let correlated = match unnest(&a.value) {
                        Expr::Subquery(q) if lookup_keys.is_none() => {
                            correlated_lookup(q, &target, &table)
                        }
                        _ => None,
                    };
                    match correlated {
                        Some(f) => f,
                        None => {
                            let s = self.expr(&a.value);
                            if text::mentions_qualifier(&s, &refs(&source_names), self.engine) {
                                return self.err(format_args!(
                                    "`{column} = {s}` computes from the other table; only a plain copy such as `{column} = other.col` can be planned as a lookup"
                                ));
                            }
                            Fill::Expression {
                                expression: strip(s),
                            }
                        }
                    }
                }
            };
            self.kinds.push(Kind::Fill {
                table: table.clone(),
                column,
                fill,
                predicate: predicate.clone(),
            });
        }
        Ok(())
    }

    fn insert(&mut self, i: &Insert) -> Result<(), DdlError> {
        let TableObject::TableName(n) = &i.table else {
            return self.err("INSERT INTO a table function is not a change schemashift plans");
        };
        let into = self.name(n)?;
        let shape = "an INSERT is read only as the copy of a table split, e.g. `INSERT INTO user_billing (user_id, plan) SELECT id, plan FROM users`";
        let Some(select) = i.source.as_deref().and_then(|q| match q.body.as_ref() {
            SetExpr::Select(s) => Some(s),
            _ => None,
        }) else {
            return self.err(shape);
        };
        let [from] = select.from.as_slice() else {
            return self.err(shape);
        };
        if !from.joins.is_empty() {
            return self.err(shape);
        }
        let (from_table, alias) = self.table_ref(&from.relation)?;
        let from_names = names_for(&from_table, &alias);
        let targets: Vec<String> = i.columns.iter().filter_map(last_name).collect();
        if targets.is_empty()
            || targets.len() != i.columns.len()
            || targets.len() != select.projection.len()
        {
            return self.err(format_args!(
                "{shape}: list the target columns, one per selected column"
            ));
        }
        let mut pairs = Vec::with_capacity(targets.len());
        for (target, item) in targets.into_iter().zip(&select.projection) {
            let e = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return self.err(shape),
            };
            match column_ref(e) {
                Some((q, col)) if q.as_ref().is_none_or(|q| from_names.contains(q)) => {
                    pairs.push((target, col))
                }
                _ => {
                    return self.err(format_args!(
                        "{shape}: select plain columns of {from_table}"
                    ))
                }
            }
        }
        if select.selection.is_some() {
            self.note("the INSERT's WHERE is not kept: a table split copies every row");
        }
        self.kinds.push(Kind::Copy {
            into,
            from: from_table,
            pairs,
        });
        Ok(())
    }
}

/// `(local, remote)` key columns of a join condition `target.k = source.k2`
/// (either order; an unqualified side belongs to the other table than the qualified one).
fn join_keys(c: &Expr, target: &[String], source: &[String]) -> Option<(String, String)> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = unnest(c)
    else {
        return None;
    };
    let (lq, lc) = column_ref(left)?;
    let (rq, rc) = column_ref(right)?;
    let side = |q: &Option<String>| match q {
        Some(q) if source.contains(q) => Some(true),
        Some(q) if target.contains(q) => Some(false),
        Some(_) => None,
        None => Some(false),
    };
    match (side(&lq)?, side(&rq)?) {
        (false, true) if lq.is_some() || rq.is_some() => Some((lc, rc)),
        (true, false) => Some((rc, lc)),
        _ => None,
    }
}

/// `(SELECT col FROM other [o] WHERE o.key = target.k)` as a lookup of
/// `other.col` by `target.k = other.key`; `None` for any other subquery.
fn correlated_lookup(q: &Query, target: &[String], table: &str) -> Option<Fill> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let [item] = s.projection.as_slice() else {
        return None;
    };
    let e = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let [from] = s.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() || s.having.is_some() || s.distinct.is_some() {
        return None;
    }
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return None;
    };
    let inner_table = object_name(name)?;
    if inner_table == table {
        return None;
    }
    let inner = names_for(&inner_table, &alias.as_ref().map(|a| ident(&a.name)));
    let (pq, column) = column_ref(e)?;
    if pq.as_ref().is_some_and(|q| !inner.contains(q)) {
        return None;
    }
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = unnest(s.selection.as_ref()?)
    else {
        return None;
    };
    let (lq, lc) = column_ref(left)?;
    let (rq, rc) = column_ref(right)?;
    let is_inner = |q: &Option<String>| q.as_ref().is_none_or(|q| inner.contains(q));
    let is_outer = |q: &Option<String>| q.as_ref().is_some_and(|q| target.contains(q));
    let (local, remote) = if is_outer(&lq) && is_inner(&rq) {
        (lc, rc)
    } else if is_inner(&lq) && is_outer(&rq) {
        (rc, lc)
    } else {
        return None;
    };
    Some(Fill::Lookup {
        table: inner_table,
        column,
        local_key: Some(local),
        remote_key: Some(remote),
    })
}
