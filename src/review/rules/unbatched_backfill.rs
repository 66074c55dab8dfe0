//! # unbatched-backfill
//!
//! Finds an `UPDATE` or `DELETE` on a table that existed before the
//! migration whose `WHERE` is missing or is not a narrow key range: one
//! statement over the whole table (or a large part of it), such as `WHERE
//! col IS NULL`, a date range or `WHERE status = 'closed'`. Row lookups
//! (`WHERE id = 5`, `WHERE email = 'a@b.c'`, `WHERE key IN ('a', 'b')`; not
//! category-like columns such as status, type or booleans), key ranges
//! (`WHERE id BETWEEN 1 AND 1000`), batches
//! (`WHERE id IN (SELECT id ... LIMIT 1000)`), tables created earlier in the
//! file and the migration tool's own bookkeeping tables are left alone.
//!
//! **Why it hurts:** every row the statement touches stays locked until it
//! commits (about 3 s per million rows measured on 2 cores; 16 s for 5
//! million): application UPDATEs of those rows wait for all of it, app
//! throughput fell to a fifth when measured. The table doubles in size until
//! vacuum catches up, and replicas replay the statement as one long event,
//! lagging behind for as long again.
//!
//! **Instead:** a keyset-batched loop: a few thousand rows per batch by
//! primary key, each batch its own transaction, a short pause between
//! batches, touching only rows still to do so it can be stopped and resumed.
//! Never `UPDATE ... LIMIT` and never all batches in one transaction.
//! `schemashift plan "UPDATE ..."` writes a throttled, resumable procedure.
//!
//! An UPDATE or DELETE inside a PL/pgSQL loop with no COMMIT in the loop (in
//! a `DO` block, or in a function or procedure the file creates and calls)
//! is reported whatever its WHERE: all iterations are one transaction.
//!
//! Batches written out one after another (`WHERE id BETWEEN 1 AND 10000`,
//! then `10001 AND 20000`, ...) inside one transaction are reported too: their
//! row locks add up until COMMIT, as one statement's would.

use super::missing_lock_timeout::norm_table;
use super::{planned_fix, Rule};
use crate::change::{Change, Fill};
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::context::{ByKey, Fact};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    BinaryOperator, Delete, Expr, FromTable, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, Query, SetExpr, Statement, TableFactor, Update, UpdateTableFromKind, Value,
};

pub static RULE: Rule = Rule {
    id: "unbatched-backfill",
    severity: Severity::Warning,
    summary: "one UPDATE or DELETE over a whole existing table locks its rows until commit",
    source: include_str!("unbatched_backfill.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

/// Tables migration tools keep their own state in: one-row updates there are
/// bookkeeping, not backfills.
const BOOKKEEPING: &[&str] = &[
    "schema_migrations",
    "ar_internal_metadata",
    "alembic_version",
    "django_migrations",
    "flyway_schema_history",
    "schema_version",
    "goose_db_version",
    "knex_migrations",
    "knex_migrations_lock",
    "__diesel_schema_migrations",
    "_prisma_migrations",
    "_sqlx_migrations",
    "gorp_migrations",
    "seaql_migrations",
    "databasechangelog",
    "databasechangeloglock",
    "__efmigrationshistory",
];

pub(crate) fn is_bookkeeping(table: &str) -> bool {
    let t = norm_table(table).to_lowercase();
    BOOKKEEPING.contains(&t.as_str())
}

/// A data-changing statement over existing rows.
pub(crate) enum Dml<'a> {
    Update(&'a Update, Option<&'a Query>),
    Delete(&'a Delete, Option<&'a Query>),
}

impl<'a> Dml<'a> {
    pub(crate) fn of(ast: &'a Ast) -> Option<Dml<'a>> {
        match ast {
            Ast::Update(u) => Some(Dml::Update(u, None)),
            Ast::Delete(d) => Some(Dml::Delete(d, None)),
            Ast::Other(s) => match &**s {
                Statement::Query(q) => match q.body.as_ref() {
                    SetExpr::Update(Statement::Update(u)) => Some(Dml::Update(u, Some(q))),
                    SetExpr::Delete(Statement::Delete(d)) => Some(Dml::Delete(d, Some(q))),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// The table whose rows change, and the alias it goes by.
    pub(crate) fn table(&self) -> Option<(&'a ObjectName, Option<String>)> {
        let relation = match self {
            Dml::Update(u, _) => &u.table.relation,
            Dml::Delete(d, _) => {
                let from = match &d.from {
                    FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
                };
                &from.first()?.relation
            }
        };
        match relation {
            TableFactor::Table { name, alias, .. } => {
                Some((name, alias.as_ref().map(|a| a.name.to_string())))
            }
            _ => None,
        }
    }

    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Dml::Update(..) => "UPDATE",
            Dml::Delete(..) => "DELETE",
        }
    }

    /// Whether the statement touches only a few rows: a key lookup, a
    /// bounded key range, a list of keys, or one batch of a loop.
    pub(crate) fn is_narrow(&self) -> bool {
        self.scope() != Scope::Broad
    }

    /// How many rows the statement reaches.
    pub(crate) fn scope(&self) -> Scope {
        let (selection, limit, with, from_values) = match self {
            Dml::Update(u, q) => {
                let from = match &u.from {
                    Some(UpdateTableFromKind::AfterSet(v) | UpdateTableFromKind::BeforeSet(v)) => {
                        v.as_slice()
                    }
                    None => &[],
                };
                // UPDATE ... FROM (VALUES ...) v: a list of rows given by hand.
                let values = from.iter().any(|t| match &t.relation {
                    TableFactor::Derived { subquery, .. } => {
                        matches!(subquery.body.as_ref(), SetExpr::Values(_))
                    }
                    _ => false,
                });
                (u.selection.as_ref(), u.limit.is_some(), *q, values)
            }
            Dml::Delete(d, q) => (d.selection.as_ref(), d.limit.is_some(), *q, false),
        };
        if from_values {
            return Scope::Lookup;
        }
        // A LIMIT on the statement (MySQL) or a CTE with one is one batch.
        let cte_batch = with.and_then(|q| q.with.as_ref()).is_some_and(|w| {
            w.cte_tables
                .iter()
                .any(|c| c.query.limit_clause.is_some() || c.query.fetch.is_some())
        });
        let by_where = selection.map_or(Scope::Broad, scope);
        if by_where == Scope::Lookup {
            Scope::Lookup
        } else if limit || cte_batch {
            Scope::Batch
        } else {
            by_where
        }
    }
}

/// How many rows a statement or a condition reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    /// The whole table or a large part of it.
    Broad,
    /// One batch of a loop: a bounded key range, `LIMIT n`.
    Batch,
    /// Rows picked out by key: `id = 5`, `email IN ('a', 'b')`.
    Lookup,
}

/// Column names that identify a row or a handful of rows.
fn is_key_column(e: &Expr) -> bool {
    let name = match e {
        Expr::Identifier(i) => i.value.to_lowercase(),
        Expr::CompoundIdentifier(v) => v.last().map(|i| i.value.to_lowercase()).unwrap_or_default(),
        Expr::Nested(inner) => return is_key_column(inner),
        _ => return false,
    };
    matches!(
        name.as_str(),
        "id" | "uuid"
            | "pk"
            | "key"
            | "ctid"
            | "email"
            | "slug"
            | "code"
            | "handle"
            | "username"
            | "login"
            | "name"
            | "sku"
            | "token"
            | "version"
            | "version_num"
    ) || name.ends_with("_id")
        || name.ends_with("_uuid")
        || name.ends_with("_key")
}

fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::CompoundIdentifier(v) => v.last().map(|i| i.value.to_lowercase()),
        Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

/// Columns with few distinct values, where one value can cover much of the
/// table: `status = 'closed'` is not a row lookup.
fn is_category_column(name: &str) -> bool {
    matches!(
        name,
        "status"
            | "state"
            | "type"
            | "kind"
            | "role"
            | "category"
            | "plan"
            | "tier"
            | "level"
            | "country"
            | "country_code"
            | "currency"
            | "locale"
            | "language"
            | "lang"
            | "region"
            | "source"
            | "channel"
            | "provider"
            | "gender"
            | "active"
            | "enabled"
            | "deleted"
            | "archived"
            | "visible"
            | "visibility"
            | "priority"
            | "stage"
            | "phase"
            | "format"
            | "mode"
            | "method"
            | "flag"
            | "tenant_id"
            | "org_id"
            | "organization_id"
            | "account_id"
            | "company_id"
            | "workspace_id"
    ) || name.starts_with("is_")
        || name.starts_with("has_")
        || [
            "_type", "_status", "_state", "_kind", "_at", "_on", "_date", "_flag", "_enabled",
            "_count",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// `col = value` that picks out one row or a few: any column but a
/// category-like one, compared with a constant that is not a boolean or NULL.
fn is_lookup(col: &Expr, value: &Expr) -> bool {
    let Some(name) = column_name(col) else {
        return false;
    };
    let boolean = matches!(
        value,
        Expr::Value(v) if matches!(v.value, Value::Boolean(_) | Value::Null)
    );
    !boolean && !is_category_column(&name) && is_constant(value)
}

/// A value fixed for the statement: literals, parameters, casts and
/// functions of those, scalar subqueries.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) | Expr::TypedString(_) | Expr::Interval(_) | Expr::Subquery(_) => true,
        Expr::Nested(inner)
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::Cast { expr: inner, .. } => is_constant(inner),
        Expr::BinaryOp { left, right, .. } => is_constant(left) && is_constant(right),
        Expr::Array(a) => a.elem.iter().all(is_constant),
        Expr::Function(f) => match &f.args {
            FunctionArguments::None => true,
            FunctionArguments::Subquery(_) => true,
            FunctionArguments::List(l) => l.args.iter().all(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => is_constant(e),
                _ => false,
            }),
        },
        _ => false,
    }
}

fn int_value(e: &Expr) -> Option<i128> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::Nested(inner) => int_value(inner),
        _ => None,
    }
}

/// Wider key ranges than this are not one batch.
const MAX_RANGE: i128 = 1_000_000;

fn bounded(low: &Expr, high: &Expr) -> bool {
    match (int_value(low), int_value(high)) {
        (Some(l), Some(h)) => h - l <= MAX_RANGE,
        _ => true,
    }
}

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
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// Whether a WHERE condition selects only a few rows.
pub(crate) fn narrow(e: &Expr) -> bool {
    scope(e) != Scope::Broad
}

/// How many rows a WHERE condition selects: the narrowest of its ANDed parts.
pub(crate) fn scope(e: &Expr) -> Scope {
    let mut parts = Vec::new();
    conjuncts(e, &mut parts);
    let best = parts
        .iter()
        .map(|p| part_scope(p))
        .max()
        .unwrap_or(Scope::Broad);
    if best != Scope::Broad {
        return best;
    }
    // key >= a AND key < b: a bounded key range.
    let mut lows: Vec<(String, &Expr)> = Vec::new();
    let mut highs: Vec<(String, &Expr)> = Vec::new();
    for p in &parts {
        let Expr::BinaryOp { left, op, right } = p else {
            continue;
        };
        let (col, val, op) = if is_key_column(left) && is_constant(right) {
            (left, right, op.clone())
        } else if is_key_column(right) && is_constant(left) {
            let flipped = match op {
                BinaryOperator::Gt => BinaryOperator::Lt,
                BinaryOperator::GtEq => BinaryOperator::LtEq,
                BinaryOperator::Lt => BinaryOperator::Gt,
                BinaryOperator::LtEq => BinaryOperator::GtEq,
                other => other.clone(),
            };
            (right, left, flipped)
        } else {
            continue;
        };
        let name = col.to_string().to_lowercase();
        match op {
            BinaryOperator::Gt | BinaryOperator::GtEq => lows.push((name, val.as_ref())),
            BinaryOperator::Lt | BinaryOperator::LtEq => highs.push((name, val.as_ref())),
            _ => {}
        }
    }
    let ranged = lows
        .iter()
        .any(|(c, lo)| highs.iter().any(|(c2, hi)| c == c2 && bounded(lo, hi)));
    if ranged {
        Scope::Batch
    } else {
        Scope::Broad
    }
}

fn part_scope(e: &Expr) -> Scope {
    let lookup = |yes: bool| if yes { Scope::Lookup } else { Scope::Broad };
    match e {
        Expr::Nested(inner) => scope(inner),
        // Each side must be narrow; together they reach the wider of the two.
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => scope(left).min(scope(right)),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => lookup(is_lookup(left, right) || is_lookup(right, left)),
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } if is_key_column(expr) && is_constant(low) && is_constant(high) && bounded(low, high) => {
            Scope::Batch
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => lookup(!list.is_empty() && list.iter().all(|v| is_lookup(expr, v))),
        Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        } if is_key_column(expr) => {
            if batch_query(subquery) {
                Scope::Batch
            } else {
                query_scope(subquery)
            }
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => lookup(is_lookup(left, right)),
        _ => Scope::Broad,
    }
}

/// A subquery that returns one batch: `... LIMIT n`.
fn batch_query(q: &Query) -> bool {
    q.limit_clause.is_some() || q.fetch.is_some()
}

fn query_scope(q: &Query) -> Scope {
    match q.body.as_ref() {
        SetExpr::Select(s) => s.selection.as_ref().map_or(Scope::Broad, scope),
        SetExpr::Query(inner) if batch_query(inner) => Scope::Batch,
        SetExpr::Query(inner) => query_scope(inner),
        _ => Scope::Broad,
    }
}

/// Batch size of the loops written in fixes.
const BATCH: u32 = 1000;

/// The statement with `extra AND (its own WHERE)` as its condition; `None`
/// when it cannot be rewritten.
fn with_condition(ast: &Ast, extra: &str, engine: Engine) -> Option<String> {
    let add = |sel: &Option<Expr>| -> Option<Expr> {
        let text = match sel {
            Some(w) => format!("{extra} AND ({w})"),
            None => extra.to_string(),
        };
        crate::sqltext::parse_expr("condition", &text, engine).ok()
    };
    let mut ast = ast.to_statement()?;
    match &mut ast {
        Statement::Update(u) => {
            u.selection = add(&u.selection);
            u.returning = None;
            u.selection.as_ref()?;
        }
        Statement::Delete(d) => {
            d.selection = add(&d.selection);
            d.returning = None;
            d.selection.as_ref()?;
        }
        Statement::Query(q) => match q.body.as_mut() {
            SetExpr::Update(Statement::Update(u)) => {
                u.selection = add(&u.selection);
                u.returning = None;
                u.selection.as_ref()?;
            }
            SetExpr::Delete(Statement::Delete(d)) => {
                d.selection = add(&d.selection);
                d.returning = None;
                d.selection.as_ref()?;
            }
            _ => return None,
        },
        _ => return None,
    }
    Some(ast.to_string())
}

/// The safe batched form of a whole-table UPDATE or DELETE: the planner's
/// own plan for a one-column backfill, otherwise a keyset loop over this
/// very statement.
pub(crate) fn batched_fix(ctx: &Ctx, stmt: &Stmt) -> Option<String> {
    // Parsed without its SET subscripts: SQL written from that parse would
    // set whole arrays, not their elements.
    if crate::review::subscripts::without_set_subscripts(&stmt.text).is_some() {
        return None;
    }
    let ast = stmt.ast.as_ref()?;
    let dml = Dml::of(ast)?;
    let (name, alias) = dml.table()?;
    if ctx.engine == Engine::Postgres {
        if let Dml::Update(u, None) = &dml {
            if u.assignments.len() == 1 && u.from.is_none() {
                if let Ok(parsed) = crate::change::ddl::parse(&stmt.text, Engine::Postgres) {
                    if let Change::BackfillOnly {
                        fill: Fill::Expression { .. },
                        ..
                    } = &parsed.change
                    {
                        if let Some(fix) = planned_fix(ctx, parsed.change) {
                            return Some(fix);
                        }
                    }
                }
            }
        }
    }
    let table = name.to_string();
    let q = alias.unwrap_or_else(|| table.clone());
    if ctx.engine == Engine::Postgres && ctx.pg_version >= 11 {
        let body = with_condition(
            ast,
            &format!("{q}.id >= batch_start AND {q}.id <= batch_end"),
            ctx.engine,
        )?;
        return Some(format!(
            "-- outside any transaction block: batches of {BATCH} rows by the primary key (id assumed), each committed on its own, resumable\n\
DO $batch$\n\
DECLARE\n  batch_start bigint;\n  batch_end bigint;\n\
BEGIN\n  SELECT min(id) INTO batch_start FROM {table};\n  WHILE batch_start IS NOT NULL LOOP\n    \
SELECT max(id) INTO batch_end FROM (SELECT id FROM {table} WHERE id >= batch_start ORDER BY id LIMIT {BATCH}) AS batch;\n    \
{body};\n    COMMIT;\n    \
SELECT min(id) INTO batch_start FROM {table} WHERE id > batch_end;\n    PERFORM pg_sleep(0.05);\n  END LOOP;\n\
END\n$batch$;"
        ));
    }
    let first = with_condition(
        ast,
        &format!("{q}.id >= 1 AND {q}.id <= {BATCH}"),
        ctx.engine,
    )?;
    let second = with_condition(
        ast,
        &format!("{q}.id >= {} AND {q}.id <= {}", BATCH + 1, 2 * BATCH),
        ctx.engine,
    )?;
    Some(format!(
        "-- from a script, each batch in its own transaction (autocommit), a short pause between them;\n\
-- advance the id range by {BATCH} until it passes SELECT max(id) FROM {table}:\n\
{first};\n{second};"
    ))
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(ast) = &stmt.ast else {
        return;
    };
    let Some(dml) = Dml::of(ast) else {
        return;
    };
    let Some((name, _)) = dml.table() else {
        return;
    };
    let table = name.to_string();
    if stmt.is_new_table(name) || is_bookkeeping(&table) {
        return;
    }
    if stmt.in_loop {
        return in_a_loop(stmt, &dml, table, out);
    }
    match dml.scope() {
        Scope::Broad => {}
        Scope::Batch => return batches_in_one_transaction(ctx, stmt, &dml, &table, out),
        Scope::Lookup => return,
    }
    let verb = dml.verb();
    let scope = match &dml {
        Dml::Update(u, _) if u.selection.is_none() => "every row".to_string(),
        Dml::Delete(d, _) if d.selection.is_none() => "every row".to_string(),
        _ => "every matching row (the WHERE is not a narrow key range)".to_string(),
    };
    let what = if verb == "UPDATE" {
        "changes"
    } else {
        "deletes"
    };
    let f = RULE
        .finding(
            stmt,
            format!(
                "{verb} on {table} {what} {scope} in one statement: each row stays locked until it commits (about 3 s per million rows), so app UPDATEs of those rows wait; the table bloats and replicas lag"
            ),
        )
        .on_table(table, Lock::RowExclusive);
    out.push(match batched_fix(ctx, stmt) {
        Some(fix) => f.with_fix(fix),
        None => f,
    });
}

/// DML in a PL/pgSQL loop that never commits: however narrow each
/// iteration, every row it touches stays locked until the block ends.
fn in_a_loop(stmt: &Stmt, dml: &Dml, table: String, out: &mut Vec<Finding>) {
    let verb = dml.verb();
    out.push(
        RULE.finding(
            stmt,
            format!(
                "{verb} on {table} in a PL/pgSQL loop (a DO block, or a routine this file calls) with no COMMIT in it: every iteration runs in one transaction, so each row it touches stays locked until the whole loop ends (about 3 s per million rows), app UPDATEs of those rows wait, the table bloats and replicas lag"
            ),
        )
        .on_table(table, Lock::RowExclusive)
        .with_fix("-- COMMIT after each batch: put COMMIT inside the loop and run the DO block in autocommit (PostgreSQL 11+),\n-- or move the loop into a procedure that commits after each batch and CALL it outside any transaction\n"),
    );
}

/// The batches of DML (see [`Scope::Batch`]) of each transaction, by
/// transaction and table.
#[derive(Default)]
pub(crate) struct Batches(ByKey<(usize, String)>);

impl Fact for Batches {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        // Only statements in a transaction have earlier ones in theirs.
        if !s.in_transaction {
            return;
        }
        let Some(d) = s.ast.as_ref().and_then(Dml::of) else {
            return;
        };
        if d.scope() != Scope::Batch {
            return;
        }
        if let Some((n, _)) = d.table() {
            self.0.insert((s.txn, norm_table(&n.to_string())), s);
        }
    }
}

/// A second batch of the same loop in the same transaction: the row locks
/// of every batch last until COMMIT, as if it were one statement.
fn batches_in_one_transaction(
    ctx: &Ctx,
    stmt: &Stmt,
    dml: &Dml,
    table: &str,
    out: &mut Vec<Finding>,
) {
    if !stmt.in_transaction {
        return;
    }
    let key = (stmt.txn, norm_table(table));
    let batches: Vec<&Stmt> = {
        let all = ctx.fact::<Batches>();
        let before = all.0.before(&key, stmt);
        before.iter().take(2).map(|&i| &ctx.stmts[i]).collect()
    };
    // Reported once, at the second batch.
    let [first] = batches.as_slice() else {
        return;
    };
    let verb = dml.verb();
    out.push(
        RULE.finding(
            stmt,
            format!(
                "{verb} on {table} is another batch in the same transaction as the one on line {}: the row locks of every batch are held until COMMIT, so together they lock as many rows, for as long, as one statement over all of them",
                first.line
            ),
        )
        .on_table(table.to_string(), Lock::RowExclusive)
        .with_fix(format!(
            "-- commit each batch on its own, outside the migration's transaction (Rails disable_ddl_transaction!, Django atomic = False, dbmate transaction:false):\nBEGIN;\n{};\nCOMMIT;\nBEGIN;\n{};\nCOMMIT;",
            first.text.trim(),
            stmt.text.trim()
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, ReviewOptions};

    const ID: &str = "unbatched-backfill";

    #[test]
    fn flags_whole_table_update_and_asks_the_planner() {
        let f = run(ID, "UPDATE users SET email_lower = lower(email);", 15);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("every row"), "{}", f[0].message);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("schemashift plan"), "{fix}");
        assert!(fix.contains("COMMIT"), "{fix}");
    }

    #[test]
    fn flags_broad_conditions() {
        for sql in [
            "UPDATE users SET email_lower = lower(email) WHERE email_lower IS NULL;",
            "UPDATE orders SET status = 'archived' WHERE created_at < '2020-01-01';",
            "UPDATE orders SET status = 'archived' WHERE status = 'closed';",
            "DELETE FROM sessions WHERE expires_at < now();",
            "DELETE FROM audit_log;",
            "UPDATE orders SET total = 0 WHERE id > 100;",
            "UPDATE users SET admin = false WHERE is_staff = true;",
            "UPDATE orders SET priority = 1 WHERE order_type = 'express';",
            "UPDATE users SET plan = 'free' WHERE plan IN ('trial', 'beta');",
            "UPDATE orders SET archived = true WHERE deleted_at IS NOT NULL;",
            "UPDATE orders SET total = 0 WHERE id BETWEEN 1 AND 50000000;",
            "UPDATE invoices SET org_id = a.org_id FROM accounts a WHERE invoices.account_id = a.id;",
        ] {
            assert_eq!(run(ID, sql, 15).len(), 1, "{sql}");
        }
    }

    #[test]
    fn silent_on_narrow_statements() {
        for sql in [
            "UPDATE users SET role = 'admin' WHERE id = 5;",
            "UPDATE users SET role = 'admin' WHERE email = 'boss@example.com';",
            "UPDATE users SET a = 1 WHERE id BETWEEN 1 AND 1000;",
            "UPDATE users SET a = 1 WHERE id >= 1 AND id < 1001 AND a IS NULL;",
            "UPDATE users SET a = 1 WHERE id IN (SELECT id FROM users WHERE a IS NULL ORDER BY id LIMIT 1000);",
            "UPDATE users SET a = 1 WHERE id IN (1, 2, 3);",
            "UPDATE feature_flags SET enabled = true WHERE name = 'new_checkout';",
            "UPDATE settings SET value = '30' WHERE key IN ('session_days', 'token_days');",
            "UPDATE countries SET name = 'Czechia' WHERE iso2 = 'CZ';",
            "UPDATE users SET a = 1 WHERE id = ANY($1);",
            "UPDATE users SET a = 1 WHERE id > $1 AND id <= $2;",
            "DELETE FROM users WHERE id = 42;",
            "WITH batch AS (SELECT id FROM users WHERE a IS NULL LIMIT 1000) UPDATE users SET a = 0 FROM batch WHERE users.id = batch.id;",
            "UPDATE plans SET price = v.price FROM (VALUES ('pro', 20), ('team', 50)) AS v(name, price) WHERE plans.name = v.name;",
            "UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';",
            "UPDATE schema_migrations SET dirty = false;",
        ] {
            assert!(run(ID, sql, 15).is_empty(), "{sql}");
        }
    }

    #[test]
    fn batches_in_one_transaction_are_one_statement() {
        let sql = "BEGIN;\nUPDATE users SET a = 1 WHERE id BETWEEN 1 AND 10000;\nUPDATE users SET a = 1 WHERE id BETWEEN 10001 AND 20000;\nUPDATE users SET a = 1 WHERE id BETWEEN 20001 AND 30000;\nCOMMIT;";
        let f = run(ID, sql, 15);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        assert!(f[0].message.contains("line 2"), "{}", f[0].message);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains(
                "COMMIT;\nBEGIN;\nUPDATE users SET a = 1 WHERE id BETWEEN 10001 AND 20000;"
            ),
            "{fix}"
        );
        // Each batch committed on its own, or separate lookups: fine.
        let sql = "BEGIN;\nUPDATE users SET a = 1 WHERE id BETWEEN 1 AND 10000;\nCOMMIT;\nBEGIN;\nUPDATE users SET a = 1 WHERE id BETWEEN 10001 AND 20000;\nCOMMIT;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "BEGIN;\nUPDATE users SET a = 1 WHERE id = 1;\nUPDATE users SET a = 2 WHERE id = 2;\nCOMMIT;";
        assert!(run(ID, sql, 15).is_empty());
        let sql = "UPDATE users SET a = 1 WHERE id BETWEEN 1 AND 10000;\nUPDATE users SET a = 1 WHERE id BETWEEN 10001 AND 20000;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn silent_on_tables_created_in_the_file() {
        let sql = "CREATE TABLE t (id bigint, a int);\nINSERT INTO t (id) VALUES (1), (2);\nUPDATE t SET a = 0;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn other_updates_get_a_keyset_loop_of_the_statement() {
        let f = run(
            ID,
            "UPDATE orders SET status = 'archived', archived_at = now() WHERE created_at < '2020-01-01';",
            15,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("DO $batch$"), "{fix}");
        assert!(fix.contains("orders.id >= batch_start AND orders.id <= batch_end AND (created_at < '2020-01-01')"), "{fix}");
        assert!(fix.contains("COMMIT;"));
        assert!(!fix.contains("LIMIT 1000;"), "{fix}");
        assert!(!fix.to_uppercase().contains("UPDATE ORDERS SET STATUS = 'ARCHIVED', ARCHIVED_AT = NOW() WHERE CREATED_AT < '2020-01-01' LIMIT"));
    }

    #[test]
    fn postgres_10_gets_script_batches() {
        let f = run(
            ID,
            "DELETE FROM audit_log WHERE created_at < '2019-01-01';",
            10,
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(!fix.contains("DO $batch$"), "{fix}");
        assert!(
            fix.contains(
                "audit_log.id >= 1 AND audit_log.id <= 1000 AND (created_at < '2019-01-01')"
            ),
            "{fix}"
        );
    }

    #[test]
    fn mysql_gets_script_batches_and_its_limit_batches_pass() {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        let f: Vec<_> = review_sql("UPDATE users SET score = 0;", None, &opts)
            .into_iter()
            .filter(|f| f.rule == ID)
            .collect();
        assert_eq!(f.len(), 1);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("users.id >= 1001 AND users.id <= 2000"),
            "{fix}"
        );
        let batch = "DELETE FROM events WHERE created_at < '2020-01-01' ORDER BY id LIMIT 1000;";
        assert!(review_sql(batch, None, &opts).iter().all(|f| f.rule != ID));
    }
}
