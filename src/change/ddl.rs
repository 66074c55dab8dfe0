//! Naive DDL -> [`Change`], through sqlparser.
//!
//! The SQL a developer would have written is split into statements
//! ([`split_statements`]), each statement is parsed on its own (one that
//! sqlparser cannot parse fails only if it matters) and read into steps, and
//! the steps are folded into one change: `ADD COLUMN; UPDATE; SET NOT NULL`
//! is one `add_not_null_column`, `CREATE UNIQUE INDEX CONCURRENTLY; ADD
//! CONSTRAINT ... USING INDEX` one `add_unique_constraint`, and so on.
//! Anything that does not fold into a single change is an error that lists
//! the changes found.

mod combine;
mod read;
mod split;
#[cfg(test)]
mod tests;
mod text;

pub use split::{split_statements, StatementText};

use super::Parsed;
use crate::context::Engine;

/// Why the SQL could not be read as one change: what is wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DdlError(pub String);

/// Whether a request reads as SQL rather than English: it starts (after
/// comments) with a statement keyword such as ALTER, CREATE, DROP, UPDATE,
/// INSERT, BEGIN, SET, COMMENT or RENAME. Words that also begin English
/// requests ("rename users.username to handle", "set default of ...",
/// "drop column users.x") count only when followed by what SQL needs there
/// (RENAME TABLE, SET name = ..., DROP TABLE ...).
pub fn looks_like_sql(text: &str) -> bool {
    let words = leading_words(text, 6);
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    const ALTERABLE: &[&str] = &[
        "TABLE",
        "TYPE",
        "INDEX",
        "SEQUENCE",
        "VIEW",
        "MATERIALIZED",
        "DOMAIN",
        "SCHEMA",
        "DATABASE",
        "FUNCTION",
        "PROCEDURE",
        "EXTENSION",
        "ROLE",
        "USER",
        "TRIGGER",
        "POLICY",
    ];
    const CREATABLE: &[&str] = &["UNIQUE", "OR", "TEMP", "TEMPORARY", "UNLOGGED"];
    match w(0) {
        "ALTER" | "DROP" => ALTERABLE.contains(&w(1)),
        "CREATE" => ALTERABLE.contains(&w(1)) || CREATABLE.contains(&w(1)),
        "UPDATE" => words.iter().skip(2).take(3).any(|x| x == "SET"),
        "INSERT" | "REPLACE" => w(1) == "INTO",
        "DELETE" => w(1) == "FROM",
        "COMMENT" => w(1) == "ON",
        "RENAME" => w(1) == "TABLE",
        "DO" => w(1).starts_with('$') || w(1).starts_with('\''),
        "SET" => {
            let at = usize::from(matches!(w(1), "LOCAL" | "SESSION" | "GLOBAL" | "PERSIST"));
            let name = w(1 + at);
            matches!(
                name,
                "NAMES" | "ROLE" | "TIME" | "CONSTRAINTS" | "TRANSACTION" | "SEARCH_PATH"
            ) || name.starts_with('@')
                || (!name.is_empty() && !name.contains('.') && matches!(w(2 + at), "=" | "TO"))
        }
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RESET" | "TRUNCATE"
        | "GRANT" | "REVOKE" | "VACUUM" | "ANALYZE" | "REINDEX" | "LOCK" => true,
        _ => false,
    }
}

/// The first `n` words of a text (upper-cased), skipping whitespace and
/// comments; punctuation comes as one-character words.
fn leading_words(text: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while words.len() < n {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--").or_else(|| rest.strip_prefix('#')) {
            rest = r.find('\n').map_or("", |p| &r[p..]);
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |p| &r[p + 2..]);
            continue;
        }
        let Some(first) = rest.chars().next() else {
            break;
        };
        let is_word =
            |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '"' | '`' | '@' | '$');
        let len = if is_word(first) {
            rest.find(|c: char| !is_word(c)).unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        words.push(rest[..len].to_uppercase());
        rest = &rest[len..];
    }
    words
}

/// More statements than any one change needs; the bound keeps the combining
/// (quadratic in the number of steps) cheap on a pasted migration file.
const MAX_STATEMENTS: usize = 100;

/// Reads the SQL of one change. Transaction wrappers, SET statements and
/// comments are ignored; statements that together make one change are
/// combined; `notes` say which defaults were assumed and what was not kept.
pub fn parse(sql: &str, engine: Engine) -> Result<Parsed, DdlError> {
    let statements = split_statements(sql, engine);
    if statements.is_empty() {
        return Err(DdlError(
            "no SQL statement found (the text is empty or only comments): give the DDL of one change, e.g. `ALTER TABLE users RENAME COLUMN username TO handle;`".into(),
        ));
    }
    if statements.len() > MAX_STATEMENTS {
        return Err(DdlError(format!(
            "the SQL has {} statements; one change takes a few (e.g. ADD COLUMN, UPDATE, SET NOT NULL): give one change, not a whole migration (to check a migration file, review it instead)",
            statements.len()
        )));
    }
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    for s in &statements {
        read::statement(s, engine, &mut steps, &mut notes)?;
    }
    let change = combine::combine(steps, engine, &mut notes)?;
    change.validate(engine).map_err(|e| {
        DdlError(format!(
            "the SQL reads as \"{}\", but {e}",
            change.describe()
        ))
    })?;
    Ok(Parsed { change, notes })
}
