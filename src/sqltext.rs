//! SQL fragments that users hand us (types, defaults, conditions), checked
//! with a real parser before they are spliced into generated SQL.
//!
//! Each fragment must parse as exactly one expression or one data type; a
//! trailing `; DROP TABLE ...` fails the check instead of reaching a plan.

use crate::context::Engine;
use sqlparser::ast::{DataType, Expr};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

pub fn dialect(engine: Engine) -> Box<dyn Dialect> {
    match engine {
        Engine::Postgres => Box::new(PostgreSqlDialect {}),
        Engine::Mysql => Box::new(MySqlDialect {}),
    }
}

/// Parses one SQL expression, rejecting anything left over.
pub fn parse_expr(what: &str, text: &str, engine: Engine) -> Result<Expr, String> {
    crate::sqldepth::check_sql(text, engine).map_err(|e| format!("{what}: {e}"))?;
    let d = dialect(engine);
    let mut p = Parser::new(d.as_ref())
        .try_with_sql(text)
        .map_err(|e| format!("{what} `{text}` is not valid SQL: {e}"))?;
    let expr = p
        .parse_expr()
        .map_err(|e| format!("{what} `{text}` is not a SQL expression: {e}"))?;
    if p.peek_token().token != Token::EOF {
        return Err(format!(
            "{what} `{text}` has text after the expression (`{}`): give a single SQL expression such as `lower(email)` or `0`",
            p.peek_token().token
        ));
    }
    Ok(expr)
}

/// Parses one SQL data type, rejecting anything left over.
pub fn parse_type(what: &str, text: &str, engine: Engine) -> Result<DataType, String> {
    crate::sqldepth::check_sql(text, engine).map_err(|e| format!("{what}: {e}"))?;
    let d = dialect(engine);
    let mut p = Parser::new(d.as_ref())
        .try_with_sql(text)
        .map_err(|e| format!("{what} `{text}` is not valid SQL: {e}"))?;
    let ty = p.parse_data_type().map_err(|e| {
        format!("{what} `{text}` is not a data type: {e}; write one such as `text`, `bigint`, `varchar(255)` or `timestamptz`")
    })?;
    if p.peek_token().token != Token::EOF {
        return Err(format!(
            "{what} `{text}` has text after the type (`{}`): give only the type, e.g. `varchar(255)`",
            p.peek_token().token
        ));
    }
    Ok(ty)
}

/// Normalises a type for comparison and for emitting: the parser's canonical
/// spelling, lower-cased (`INTEGER` -> `integer`, `VARCHAR(100)` -> `varchar(100)`).
pub fn canonical_type(text: &str, engine: Engine) -> Result<String, String> {
    parse_type("type", text, engine).map(|t| t.to_string().to_lowercase())
}

/// Whether an expression is a constant that PostgreSQL 11+ stores as a
/// "missing value" instead of rewriting the table: literals, casts of
/// literals, and STABLE functions such as `now()` evaluated once at ALTER time.
/// Volatile functions (`random()`, `gen_random_uuid()`, `clock_timestamp()`,
/// `nextval()`, `uuid_generate_v4()`) force a rewrite.
pub fn is_volatile_default(expr: &str) -> bool {
    let lower = expr.to_ascii_lowercase();
    VOLATILE_FUNCTIONS.iter().any(|f| {
        lower.match_indices(f).any(|(i, _)| {
            // A whole function name: `my_random(` is not `random(`.
            let before = lower[..i].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                && lower[i + f.len()..].trim_start().starts_with('(')
        })
    })
}

/// Functions PostgreSQL marks VOLATILE (pg_proc.provolatile = 'v') that people
/// put in column defaults; now(), statement_timestamp() and txid_current() are
/// STABLE and do not force a rewrite.
pub const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "random_normal",
    "setseed",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_must_be_one_expression() {
        assert!(parse_expr("default", "lower(email)", Engine::Postgres).is_ok());
        assert!(parse_expr("default", "'it''s'", Engine::Postgres).is_ok());
        let err = parse_expr("default", "0; DROP TABLE users", Engine::Postgres).unwrap_err();
        assert!(err.contains("text after the expression"), "{err}");
    }

    #[test]
    fn types_are_canonicalised() {
        assert_eq!(
            canonical_type("INTEGER", Engine::Postgres).unwrap(),
            "integer"
        );
        assert_eq!(
            canonical_type("VARCHAR(100)", Engine::Postgres).unwrap(),
            "varchar(100)"
        );
        assert!(parse_type("type", "bigint primary key", Engine::Postgres).is_err());
    }

    #[test]
    fn volatility() {
        assert!(is_volatile_default("gen_random_uuid()"));
        assert!(is_volatile_default("(random() * 10)::int"));
        assert!(is_volatile_default("nextval('s')"));
        assert!(!is_volatile_default("now()"));
        assert!(!is_volatile_default("0"));
        assert!(!is_volatile_default("'random'"));
        assert!(!is_volatile_default("my_random()"));
        assert!(!is_volatile_default("statement_timestamp()"));
    }
}
