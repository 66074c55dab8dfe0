//! English requests ("rename users.username to handle") -> [`Change`].

use super::{Change, Parsed};

/// A request the parser could not read, with the forms it does read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("could not understand the request `{request}`: {reason}\n\naccepted forms:\n{}", ACCEPTED_FORMS.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
pub struct RequestError {
    pub request: String,
    pub reason: String,
}

/// One example per accepted shape of request.
pub const ACCEPTED_FORMS: &[&str] = &["rename users.username to handle"];

pub fn parse(text: &str) -> Result<Parsed, RequestError> {
    let _ = Change::DropTable { table: String::new() };
    Err(RequestError { request: text.to_string(), reason: "the English parser is being written".into() })
}
