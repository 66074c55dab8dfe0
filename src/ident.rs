//! Identifiers that reach generated SQL: validated once, quoted for their engine.
//!
//! PostgreSQL folds unquoted names to lower case and limits them to 63 bytes
//! (NAMEDATALEN - 1); anything else must be double-quoted with `"` doubled.
//! MySQL quotes with backticks and allows 64 characters.

use crate::context::Engine;
use std::fmt;

/// Longest identifier PostgreSQL keeps without truncating (bytes).
pub const PG_MAX_IDENT_BYTES: usize = 63;
/// Longest identifier MySQL accepts (characters).
pub const MYSQL_MAX_IDENT_CHARS: usize = 64;

/// Why a name cannot be used as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error(
        "{what} is empty: give a table, column, index or type name such as `users` or `email`"
    )]
    Empty { what: String },
    #[error("{what} `{name}` is longer than PostgreSQL's 63-byte limit and would be silently truncated: choose a shorter name")]
    TooLong { what: String, name: String },
    #[error("{what} `{name}` contains a control character or NUL byte, which no database accepts in a name")]
    BadCharacter { what: String, name: String },
    #[error("{what} `{name}` has more than one dot: write `table` or `schema.table`")]
    TooManyParts { what: String, name: String },
}

/// A single validated identifier, stored exactly as the database will know it.
///
/// Users write names unquoted (`users`) or quoted (`"Users"`); unquoted names are
/// folded to lower case as PostgreSQL does (ASCII letters only: `Üsername`
/// stays `Üsername`), quoted ones are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    name: String,
    /// Whether PostgreSQL reads the name bare, known once: plans quote the
    /// same names many times over.
    bare_pg: bool,
}

impl Ident {
    /// Parses one identifier as a user wrote it, folding unquoted names.
    pub fn parse(what: &str, raw: &str) -> Result<Self, IdentError> {
        let raw = raw.trim();
        let name = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
            raw[1..raw.len() - 1].replace("\"\"", "\"")
        } else if raw.len() >= 2 && raw.starts_with('`') && raw.ends_with('`') {
            raw[1..raw.len() - 1].replace("``", "`")
        } else {
            fold_pg(raw)
        };
        Self::new(what, name)
    }

    /// Validates a name that is already in its stored (case-exact) form.
    pub fn new(what: &str, name: impl Into<String>) -> Result<Self, IdentError> {
        let name = name.into();
        if name.is_empty() {
            return Err(IdentError::Empty { what: what.into() });
        }
        if name.len() > PG_MAX_IDENT_BYTES {
            return Err(IdentError::TooLong {
                what: what.into(),
                name,
            });
        }
        if name.chars().any(|c| c.is_control()) {
            return Err(IdentError::BadCharacter {
                what: what.into(),
                name,
            });
        }
        Ok(Self {
            bare_pg: bare_pg(&name),
            name,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The identifier quoted for PostgreSQL: bare when that means the same name.
    pub fn pg(&self) -> String {
        if self.bare_pg {
            self.name.clone()
        } else {
            quoted_pg(&self.name)
        }
    }

    /// The identifier always in double quotes: inside PL/pgSQL, whose own
    /// keywords (`by`, `loop`...) break a bare name after `NEW.`.
    pub fn pg_quoted(&self) -> String {
        quoted_pg(&self.name)
    }

    /// The identifier quoted for the given engine.
    pub fn quoted(&self, engine: Engine) -> String {
        match engine {
            Engine::Postgres => self.pg(),
            Engine::Mysql => quote_mysql(&self.name),
        }
    }
}

/// Folds the unquoted parts of a type or name as PostgreSQL does (ASCII
/// only), keeping `"Quoted"` names, `'labels'` and backticked parts exactly.
pub fn fold_pg_outside_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    for ch in s.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if matches!(ch, '\'' | '"' | '`') => quote = Some(ch),
            None => {}
        }
        if quote.is_none() && !matches!(ch, '\'' | '"' | '`') {
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// How PostgreSQL folds an unquoted name: ASCII `A`-`Z` only. Rust's
/// `to_lowercase` would also fold `Ü`, naming a column that does not exist.
pub fn fold_pg(raw: &str) -> String {
    raw.to_ascii_lowercase()
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A table (or type) name with an optional schema: `users`, `billing.invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub schema: Option<Ident>,
    pub name: Ident,
}

impl QualifiedName {
    /// Parses `name` or `schema.name`, honouring double quotes around either part.
    pub fn parse(what: &str, raw: &str) -> Result<Self, IdentError> {
        let parts = split_dotted(raw.trim());
        match parts.as_slice() {
            [name] => Ok(Self {
                schema: None,
                name: Ident::parse(what, name)?,
            }),
            [schema, name] => Ok(Self {
                schema: Some(Ident::parse(&format!("schema of {what}"), schema)?),
                name: Ident::parse(what, name)?,
            }),
            _ => Err(IdentError::TooManyParts {
                what: what.into(),
                name: raw.trim().into(),
            }),
        }
    }

    /// Quoted for PostgreSQL, schema first when given.
    pub fn pg(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", s.pg(), self.name.pg()),
            None => self.name.pg(),
        }
    }

    /// The schema to look the table up in (`public` when none was given).
    pub fn schema_or_public(&self) -> &str {
        self.schema.as_ref().map_or("public", |s| s.as_str())
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Splits on dots that are outside double quotes (or MySQL backticks).
pub fn split_dotted(raw: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    for c in raw.chars() {
        match c {
            '"' | '`' if quote.is_none() => {
                quote = Some(c);
                parts.last_mut().expect("never empty").push(c);
            }
            c if Some(c) == quote => {
                quote = None;
                parts.last_mut().expect("never empty").push(c);
            }
            '.' if quote.is_none() => parts.push(String::new()),
            _ => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

/// A name from user input quoted for `engine`, for statements shown to the
/// user: PostgreSQL folds unquoted names, MySQL keeps them as written.
/// Input that is not a valid name (validation refuses it before any plan)
/// is still quoted as one identifier, never pasted raw.
pub fn display_name(raw: &str, engine: Engine) -> String {
    split_dotted(raw.trim())
        .iter()
        .map(|part| {
            let part = part.trim();
            let quoted = part.len() >= 2
                && ((part.starts_with('"') && part.ends_with('"'))
                    || (part.starts_with('`') && part.ends_with('`')));
            let id = match engine {
                Engine::Mysql if !quoted => Ident::new("name", part),
                _ => Ident::parse("name", part),
            };
            match id {
                Ok(id) => id.quoted(engine),
                Err(_) => match engine {
                    Engine::Postgres => quoted_pg(part),
                    Engine::Mysql => quote_mysql(part),
                },
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Quotes a PostgreSQL identifier unless it is a plain lower-case name that is
/// not a reserved word (quoting those would be correct too, but noisy).
pub fn quote_pg(name: &str) -> String {
    if bare_pg(name) {
        name.to_string()
    } else {
        quoted_pg(name)
    }
}

/// Whether PostgreSQL reads `name` bare as the same name: lower case, digits
/// and underscores, not starting with a digit, not a reserved word.
fn bare_pg(name: &str) -> bool {
    let b = name.as_bytes();
    b.first()
        .is_some_and(|&c| c.is_ascii_lowercase() || c == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !is_pg_reserved(name)
}

/// `name` in double quotes, inner quotes doubled.
fn quoted_pg(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for PostgreSQL. A value without a backslash is
/// written `'...'` with `'` doubled. A value with one is written as an
/// escape string, `E'...'` with `\` and `'` doubled: a plain literal would
/// read the backslash as an escape wherever standard_conforming_strings is
/// off, and let a name ending in `\` close the string early. An escape
/// string means the same under either setting.
pub fn literal_pg(value: &str) -> String {
    let escape = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if escape {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || (escape && c == '\\') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A MySQL identifier in backticks, inner backticks doubled.
pub fn quote_mysql(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A MySQL string literal: `'` doubled and `\` escaped (the default
/// sql_mode reads backslash escapes; doubling the quote also holds under
/// NO_BACKSLASH_ESCAPES, so the literal never ends early), NUL, CR, LF and
/// Ctrl-Z written as escapes so the literal stays on one line.
pub fn literal_mysql(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A string literal for the given engine.
pub fn literal(engine: Engine, value: &str) -> String {
    match engine {
        Engine::Postgres => literal_pg(value),
        Engine::Mysql => literal_mysql(value),
    }
}

/// Words PostgreSQL reserves (appendix C, "reserved" and "reserved (can be
/// function or type)"): as bare column or table names they fail to parse.
const PG_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// The length of the longest reserved word: longer names skip the search.
const PG_RESERVED_MAX_LEN: usize = {
    let (mut i, mut max) = (0, 0);
    while i < PG_RESERVED.len() {
        if PG_RESERVED[i].len() > max {
            max = PG_RESERVED[i].len();
        }
        i += 1;
    }
    max
};

pub fn is_pg_reserved(name: &str) -> bool {
    name.len() <= PG_RESERVED_MAX_LEN && PG_RESERVED.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_list_is_sorted_for_binary_search() {
        let mut sorted = PG_RESERVED.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, PG_RESERVED);
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_pg("users"), "users");
        assert_eq!(quote_pg("user"), "\"user\"");
        assert_eq!(quote_pg("Users"), "\"Users\"");
        assert_eq!(quote_pg("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_pg("1abc"), "\"1abc\"");
        assert_eq!(quote_pg("order_items"), "order_items");
    }

    #[test]
    fn folds_unquoted_and_keeps_quoted() {
        assert_eq!(
            Ident::parse("column", "UserName").unwrap().as_str(),
            "username"
        );
        assert_eq!(
            Ident::parse("column", "\"UserName\"").unwrap().as_str(),
            "UserName"
        );
        let q = QualifiedName::parse("table", "Billing.\"Invoices.v2\"").unwrap();
        assert_eq!(q.pg(), "billing.\"Invoices.v2\"");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(
            Ident::parse("column", ""),
            Err(IdentError::Empty { .. })
        ));
        assert!(matches!(
            Ident::parse("column", &"x".repeat(64)),
            Err(IdentError::TooLong { .. })
        ));
        assert!(matches!(
            Ident::parse("column", "a\0b"),
            Err(IdentError::BadCharacter { .. })
        ));
        assert!(matches!(
            QualifiedName::parse("table", "a.b.c"),
            Err(IdentError::TooManyParts { .. })
        ));
    }

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(literal_pg("it's"), "'it''s'");
        assert_eq!(literal_pg("a\\'b"), "E'a\\\\''b'");
        assert_eq!(literal_pg("plain"), "'plain'");
        assert_eq!(literal_mysql("a\\'b"), "'a\\\\''b'");
    }

    #[test]
    fn unquoted_names_fold_ascii_only() {
        assert_eq!(Ident::parse("c", "ÜserName").unwrap().as_str(), "Üsername");
        assert_eq!(Ident::parse("c", "ΣΑΣ").unwrap().as_str(), "ΣΑΣ");
        assert_eq!(Ident::parse("c", "ÜserName").unwrap().pg(), "\"Üsername\"");
    }

    #[test]
    fn display_names_are_quoted_per_engine() {
        assert_eq!(
            display_name("users; drop table canary; --", Engine::Postgres),
            "\"users; drop table canary; --\""
        );
        assert_eq!(
            display_name("Billing.\"Users\"", Engine::Postgres),
            "billing.\"Users\""
        );
        assert_eq!(display_name("\"a`b\"", Engine::Mysql), "`a``b`");
        assert_eq!(display_name("`x.y`.Users", Engine::Mysql), "`x.y`.`Users`");
        assert_eq!(display_name("a\0b", Engine::Postgres), "\"a\0b\"");
    }
}
