//! SQL fragments that users hand us (types, defaults, conditions), checked
//! with a real parser before they are spliced into generated SQL.
//!
//! Each fragment must parse as exactly one expression or one data type; a
//! trailing `; DROP TABLE ...` fails the check instead of reaching a plan.
//! A fragment may not hold a comment either: spliced into a generated line,
//! `0 --` would swallow the `)`, `NOT VALID` or `;` that follows it.

use crate::context::Engine;
use sqlparser::ast::{DataType, Expr};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

pub fn dialect(engine: Engine) -> Box<dyn Dialect> {
    match engine {
        Engine::Postgres => Box::new(PostgreSqlDialect {}),
        Engine::Mysql => Box::new(MySqlDialect {}),
    }
}

/// Parses one SQL expression, rejecting anything left over and comments.
pub fn parse_expr(what: &str, text: &str, engine: Engine) -> Result<Expr, String> {
    crate::sqldepth::check_sql(text, engine).map_err(|e| format!("{what}: {e}"))?;
    refuse_comments(what, text, engine)?;
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

/// Parses one SQL data type, rejecting anything left over and comments.
pub fn parse_type(what: &str, text: &str, engine: Engine) -> Result<DataType, String> {
    crate::sqldepth::check_sql(text, engine).map_err(|e| format!("{what}: {e}"))?;
    refuse_comments(what, text, engine)?;
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

/// Refuses a fragment holding a comment outside its string literals and
/// quoted names, as either the engine's lexer or sqlparser's reads it.
fn refuse_comments(what: &str, text: &str, engine: Engine) -> Result<(), String> {
    let d = dialect(engine);
    let parser_sees_one = Tokenizer::new(d.as_ref(), text)
        .tokenize()
        .map(|tokens| {
            tokens.iter().any(|t| {
                matches!(
                    t,
                    Token::Whitespace(
                        Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)
                    )
                )
            })
        })
        .unwrap_or(false);
    if parser_sees_one || has_comment(text, engine) {
        return Err(format!(
            "{what} `{text}` contains a SQL comment (`--`, `/* */`{}): spliced into the generated SQL it would hide the rest of the line; remove the comment and give the bare expression",
            if engine == Engine::Mysql { " or `#`" } else { "" }
        ));
    }
    Ok(())
}

/// Whether `text` holds `--` or `/*` (MySQL: also `#`) outside string
/// literals, quoted names and dollar-quoted strings, read the way the
/// engine's lexer reads them (E'' strings take backslash escapes; MySQL
/// strings always do).
pub fn has_comment(text: &str, engine: Engine) -> bool {
    let b = text.as_bytes();
    let mysql = engine == Engine::Mysql;
    let ident_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => return true,
            b'/' if b.get(i + 1) == Some(&b'*') => return true,
            b'#' if mysql => return true,
            b'\'' | b'"' | b'`' => {
                let backslash = mysql
                    || (c == b'\''
                        && i > 0
                        && matches!(b[i - 1], b'e' | b'E')
                        && (i < 2 || !ident_byte(b[i - 2])));
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        // Unterminated: the parser refuses it anyway.
                        None => return false,
                        Some(&x) if backslash && x == b'\\' && c != b'`' => j += 2,
                        Some(&x) if x == c => {
                            if b.get(j + 1) == Some(&c) {
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
                continue;
            }
            b'$' if !mysql && (i == 0 || !ident_byte(b[i - 1])) => {
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_' || x >= 0x80))
                    .map(|p| i + 1 + p);
                if let Some(e) = tag_end.filter(|&e| {
                    b[e] == b'$' && !b[i + 1..e].first().is_some_and(u8::is_ascii_digit)
                }) {
                    let tag = &b[i..=e];
                    match memchr::memmem::find(&b[e + 1..], tag) {
                        Some(p) => {
                            i = e + 1 + p + tag.len();
                            continue;
                        }
                        None => return false,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
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
    fn comments_are_refused_outside_literals() {
        for e in [
            "'new' --",
            "amount >= 0 --",
            "lower(email) /* x */",
            "a /* nested /* */ */ + 1",
        ] {
            let err = parse_expr("default", e, Engine::Postgres).unwrap_err();
            assert!(err.contains("comment"), "{e}: {err}");
        }
        for e in [
            "'a -- b'",
            "'it''s /* not */ a comment'",
            "E'\\' --'",
            "$x$ -- $x$",
            "\"a--b\" + 1",
            "a - -1",
        ] {
            assert!(parse_expr("default", e, Engine::Postgres).is_ok(), "{e}");
            assert!(!has_comment(e, Engine::Postgres), "{e}");
        }
        assert!(has_comment("E'\\'' -- x", Engine::Postgres));
        assert!(has_comment("1 # x", Engine::Mysql));
        assert!(!has_comment("'a\\' # x'", Engine::Mysql));
        assert!(parse_type("data_type", "text --", Engine::Postgres).is_err());
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
