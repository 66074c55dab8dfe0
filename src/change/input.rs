//! The three ways a change comes in, resolved to one typed [`Change`].

use super::mode::{self, ModeWord};
use super::{ddl, english, Change};
use crate::context::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A change given in exactly one of three forms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    /// The change as structured data; `change_type` picks the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The change in a few English words, as typed after `/migrate plan`,
    /// e.g. "rename users.username to handle" or
    /// "change orders.amount from integer to bigint". Beside `change` it is
    /// not parsed: it records the words the structured change was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The naive DDL a developer would have written, e.g.
    /// `ALTER TABLE users RENAME COLUMN username TO handle;` (several
    /// statements allowed when together they make one change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// Which of the three forms a change came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputForm {
    Structured,
    Request,
    Sql,
}

/// A change after parsing and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedChange {
    pub change: Change,
    pub form: InputForm,
    /// Defaults the parser filled in, said out loud.
    pub notes: Vec<String>,
    /// The user's words, when given beside a structured change.
    pub request: Option<String>,
    /// The mode word the request started with (`cutover switch reads ...`),
    /// unless it was the change's verb (`backfill ...`).
    pub mode: Option<ModeWord>,
}

/// Why an input could not become a change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("no change given: pass one of `change` (structured), `request` (English, e.g. \"rename users.username to handle\") or `sql` (DDL, e.g. \"ALTER TABLE users RENAME COLUMN username TO handle\")")]
    Missing,
    #[error("give the change in one form only: {0} were all set; keep one of `change`, `request` or `sql`")]
    Several(String),
    #[error("{0}")]
    Request(#[from] english::RequestError),
    #[error("{0}")]
    Sql(#[from] ddl::DdlError),
    #[error("{0}")]
    Invalid(String),
}

/// Largest request or SQL text accepted. Real changes are a few hundred bytes;
/// the bound keeps a pasted dump from tying up the parser.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

impl ChangeInput {
    pub fn from_request(text: impl Into<String>) -> Self {
        Self {
            request: Some(text.into()),
            ..Self::default()
        }
    }

    pub fn from_sql(text: impl Into<String>) -> Self {
        Self {
            sql: Some(text.into()),
            ..Self::default()
        }
    }

    /// Parses and validates whichever form was given.
    ///
    /// A `request` that reads as SQL (it starts with ALTER, CREATE, DROP, ...)
    /// is parsed as SQL, because users paste DDL after `/migrate plan` too.
    pub fn resolve(&self, engine: Engine) -> Result<ResolvedChange, InputError> {
        // Beside a structured change the words are the record of what was
        // asked, not a second form of the change.
        let words_for_record = self.change.is_some() && self.sql.is_none();
        let given: Vec<&str> = [
            self.change.as_ref().map(|_| "`change`"),
            self.request
                .as_ref()
                .filter(|_| !words_for_record)
                .map(|_| "`request`"),
            self.sql.as_ref().map(|_| "`sql`"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            return Err(InputError::Several(given.join(", ")));
        }
        for text in [&self.request, &self.sql].into_iter().flatten() {
            if text.len() > MAX_INPUT_BYTES {
                return Err(InputError::Invalid(format!(
                    "the change text is {} bytes; the limit is {} bytes. Give one change (a request or the DDL of one change), not a whole schema dump",
                    text.len(),
                    MAX_INPUT_BYTES
                )));
            }
        }
        let mut mode = None;
        let (change, form, notes) = match (&self.change, &self.request, &self.sql) {
            (Some(c), _, _) => (c.clone(), InputForm::Structured, Vec::new()),
            (_, Some(r), _) => {
                let (p, form, word) = read_request(r, engine)?;
                mode = word;
                (p.change, form, p.notes)
            }
            (_, _, Some(s)) => {
                let p = ddl::parse(s, engine)?;
                (p.change, InputForm::Sql, p.notes)
            }
            _ => return Err(InputError::Missing),
        };
        change.validate(engine).map_err(InputError::Invalid)?;
        Ok(ResolvedChange {
            change,
            form,
            notes,
            request: self.request.clone().filter(|_| words_for_record),
            mode,
        })
    }
}

/// A request in words or SQL, with the mode word it may start with: read
/// whole first when the word is also a verb ("backfill orders.x from y",
/// then the word is the change's verb and no mode), then without the word. Its error is the one of the reading that fits: the
/// whole sentence's for a verb, the rest's otherwise ("cutover" is no verb).
fn read_request(
    r: &str,
    engine: Engine,
) -> Result<(Parsed, InputForm, Option<ModeWord>), InputError> {
    let Some((word, rest)) = mode::split(r) else {
        let (p, form) = read_text(r, engine)?;
        return Ok((p, form, None));
    };
    let whole = word.is_verb().then(|| read_text(r, engine));
    match whole {
        // The word was the change's verb, not a mode.
        Some(Ok((p, form))) => Ok((p, form, None)),
        Some(Err(whole_err)) => match read_text(rest, engine) {
            Ok((p, form)) => Ok((p, form, Some(word))),
            Err(_) => Err(whole_err),
        },
        None => {
            let (p, form) = read_text(rest, engine)?;
            Ok((p, form, Some(word)))
        }
    }
}

/// A request in words or SQL. A request that reads as SQL (it starts with
/// ALTER, CREATE, DROP, ...) is parsed as SQL, because users paste DDL after
/// `/migrate plan` too.
fn read_text(r: &str, engine: Engine) -> Result<(Parsed, InputForm), InputError> {
    if ddl::looks_like_sql(r) {
        return match ddl::parse(r, engine) {
            Ok(p) => Ok((p, InputForm::Sql)),
            // "alter type of orders.amount to bigint" starts like SQL but is English.
            Err(sql_err) => match english::parse(r) {
                Ok(p) => Ok((p, InputForm::Request)),
                Err(_) => Err(sql_err.into()),
            },
        };
    }
    if let Some(switch) = mode::reads_switch(r) {
        return switch.map(|p| (p, InputForm::Request)).map_err(|reason| {
            InputError::Request(english::RequestError {
                request: r.trim().to_string(),
                reason,
            })
        });
    }
    Ok((english::parse(r)?, InputForm::Request))
}

/// What a text parser returns: the change and the defaults it filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub change: Change,
    pub notes: Vec<String>,
}

impl From<Change> for Parsed {
    fn from(change: Change) -> Self {
        Parsed {
            change,
            notes: Vec::new(),
        }
    }
}
