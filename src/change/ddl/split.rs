//! Splitting a SQL script into statements on top-level semicolons.
//!
//! Two lexers feed one boundary state machine ([`Boundaries`]):
//! sqlparser's `Tokenizer` for ordinary inputs, so the split agrees with the
//! parser that reads each piece afterwards, and a byte scanner that follows
//! the same lexical rules for large scripts (the tokenizer allocates every
//! token and needs about 80-120 ms for 2 MB on a two-core machine) and for
//! text the tokenizer rejects, such as an unterminated string. A test checks
//! that both give the same split.

use super::text::Cursor;
use crate::context::Engine;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

/// One statement of a script, without its terminating semicolon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// From the statement's first token (leading comments excluded) to its
    /// last token before the semicolon.
    pub text: String,
    /// 1-based line of the first token.
    pub line: usize,
    /// 1-based column of the first token, counted in characters as sqlparser does.
    pub column: usize,
    /// Byte offset of the first token in the script.
    pub byte_offset: usize,
}

/// Above this size the byte scanner splits instead of the tokenizer, to stay fast.
const TOKENIZER_MAX_BYTES: usize = 256 * 1024;

/// Splits a script into statements on top-level semicolons. Semicolons in
/// strings, quoted identifiers, comments, dollar-quoted bodies (`DO $$ ... $$`,
/// function bodies) and `BEGIN ATOMIC ... END` bodies do not split.
/// Statements made only of comments or whitespace are left out. Never panics.
pub fn split_statements(sql: &str, engine: Engine) -> Vec<StatementText> {
    if sql.len() <= TOKENIZER_MAX_BYTES {
        if let Some(statements) = split_with_tokenizer(sql, engine) {
            return statements;
        }
    }
    split_with_scanner(sql, engine)
}

/// The split by sqlparser's tokenizer; `None` when the text does not tokenize.
pub(super) fn split_with_tokenizer(sql: &str, engine: Engine) -> Option<Vec<StatementText>> {
    let dialect = crate::sqltext::dialect(engine);
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .with_unescape(false)
        .tokenize_with_location()
        .ok()?;
    let mut b = Boundaries::new(sql);
    let mut cursor = Cursor::new(sql);
    for t in &tokens {
        let kind = match &t.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::SemiColon => Lexeme::Semicolon,
            Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                Keyword::BEGIN => Lexeme::Word(Word::Begin),
                Keyword::ATOMIC => Lexeme::Word(Word::Atomic),
                Keyword::CASE => Lexeme::Word(Word::Case),
                Keyword::END => Lexeme::Word(Word::End),
                Keyword::CREATE => Lexeme::Word(Word::Create),
                _ => Lexeme::Word(Word::Other),
            },
            _ => Lexeme::Other,
        };
        let start = cursor.byte_at(t.span.start);
        let end = cursor.byte_at(t.span.end).max(start);
        b.lexeme(kind, start, end);
    }
    Some(b.finish())
}

/// The split by the byte scanner. Unterminated strings, comments and
/// dollar-quoted bodies run to the end of the text.
pub(super) fn split_with_scanner(sql: &str, engine: Engine) -> Vec<StatementText> {
    let mut b = Boundaries::new(sql);
    scan(sql, engine, |kind, start, end| b.lexeme(kind, start, end));
    b.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Begin,
    Atomic,
    Case,
    End,
    Create,
    Other,
}

/// What the boundary state machine needs to know about a significant token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lexeme {
    Word(Word),
    Semicolon,
    Other,
}

/// Finds statement boundaries in a stream of significant lexemes.
struct Boundaries<'a> {
    sql: &'a str,
    out: Vec<StatementText>,
    /// Byte range of the open statement, from its first to its last lexeme.
    open: Option<(usize, usize)>,
    /// Whether the open statement starts with CREATE (only those have `BEGIN ATOMIC` bodies).
    creates: bool,
    previous: Option<Lexeme>,
    /// Nesting inside a `BEGIN ATOMIC` body: the body and each CASE close with END.
    atomic_depth: usize,
    lines: Cursor<'a>,
}

impl<'a> Boundaries<'a> {
    fn new(sql: &'a str) -> Self {
        Self {
            sql,
            out: Vec::new(),
            open: None,
            creates: false,
            previous: None,
            atomic_depth: 0,
            lines: Cursor::new(sql),
        }
    }

    fn lexeme(&mut self, kind: Lexeme, start: usize, end: usize) {
        if kind == Lexeme::Semicolon && self.atomic_depth == 0 {
            self.close();
            return;
        }
        match self.open.as_mut() {
            Some(range) => range.1 = end,
            None => {
                self.open = Some((start, end));
                self.creates = kind == Lexeme::Word(Word::Create);
            }
        }
        match kind {
            Lexeme::Word(Word::Atomic)
                if self.creates && self.previous == Some(Lexeme::Word(Word::Begin)) =>
            {
                self.atomic_depth += 1;
            }
            Lexeme::Word(Word::Case) if self.atomic_depth > 0 => self.atomic_depth += 1,
            Lexeme::Word(Word::End) if self.atomic_depth > 0 => self.atomic_depth -= 1,
            _ => {}
        }
        self.previous = Some(kind);
    }

    fn close(&mut self) {
        if let Some((start, end)) = self.open.take() {
            if let Some(text) = self.sql.get(start..end) {
                let (line, column) = self.lines.line_column(start);
                self.out.push(StatementText {
                    text: text.to_string(),
                    line,
                    column,
                    byte_offset: start,
                });
            }
        }
        self.creates = false;
        self.previous = None;
        self.atomic_depth = 0;
    }

    fn finish(mut self) -> Vec<StatementText> {
        self.close();
        self.out
    }
}

/// Walks the text with sqlparser's lexical rules for `engine` and reports
/// every significant lexeme (not whitespace, not comments) with its byte range.
fn scan(sql: &str, engine: Engine, mut emit: impl FnMut(Lexeme, usize, usize)) {
    let b = sql.as_bytes();
    let n = b.len();
    let pg = engine == Engine::Postgres;
    let word_start = |c: u8| {
        c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || (!pg && (c == b'$' || c == b'@'))
    };
    let word_part = |c: u8| word_start(c) || c.is_ascii_digit() || (pg && c == b'$');
    let mut i = 0;
    while i < n {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-')
                && (pg
                    || sql
                        .get(i + 2..)
                        .and_then(|r| r.chars().next())
                        .is_some_and(char::is_whitespace)) =>
            {
                i = line_end(b, i);
            }
            b'#' if !pg => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => i = block_comment_end(b, i + 2, pg),
            b';' => {
                i += 1;
                emit(Lexeme::Semicolon, start, i);
            }
            b'\'' => {
                i = quoted_end(b, i + 1, b'\'', !pg);
                emit(Lexeme::Other, start, i);
            }
            b'"' => {
                i = quoted_end(b, i + 1, b'"', !pg);
                emit(Lexeme::Other, start, i);
            }
            b'`' if !pg => {
                i = quoted_end(b, i + 1, b'`', false);
                emit(Lexeme::Other, start, i);
            }
            b'$' if pg => {
                i = dollar_end(sql, i);
                emit(Lexeme::Other, start, i);
            }
            c if word_start(c) => {
                while i < n && word_part(b[i]) {
                    i += 1;
                }
                // A one-letter prefix glued to a quote makes a string with its
                // own escaping, as sqlparser reads it: E'..' (PostgreSQL) and
                // X'..' take backslash escapes, B'..' and B".." do not.
                let quote = b.get(i).copied().filter(|_| i == start + 1);
                let prefixed = match (c.to_ascii_lowercase(), quote) {
                    (b'e', Some(b'\'')) if pg => Some((b'\'', true)),
                    (b'x', Some(b'\'')) => Some((b'\'', true)),
                    (b'b', Some(q @ (b'\'' | b'"'))) => Some((q, false)),
                    _ => None,
                };
                match prefixed {
                    Some((q, backslash)) => {
                        i = quoted_end(b, i + 1, q, backslash);
                        emit(Lexeme::Other, start, i);
                    }
                    None => emit(Lexeme::Word(word_kind(&b[start..i])), start, i),
                }
            }
            c if c.is_ascii_digit() => {
                // A number as sqlparser reads it: digits, `.`, `_` and an
                // exponent. After it PostgreSQL starts a new token (`1e'x'`
                // is `1` and an E'' string); MySQL runs on into a name (`1abc`).
                while i < n && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                    i += 1;
                }
                let mut exponent = false;
                if i < n && (b[i] == b'e' || b[i] == b'E') {
                    let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
                    if b.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
                        exponent = true;
                        i += 1 + sign;
                        while i < n && (b[i].is_ascii_digit() || b[i] == b'_') {
                            i += 1;
                        }
                    }
                }
                if !pg && !exponent {
                    while i < n && word_part(b[i]) {
                        i += 1;
                    }
                }
                emit(Lexeme::Other, start, i);
            }
            _ => {
                i += 1;
                emit(Lexeme::Other, start, i);
            }
        }
    }
}

fn word_kind(w: &[u8]) -> Word {
    if w.eq_ignore_ascii_case(b"begin") {
        Word::Begin
    } else if w.eq_ignore_ascii_case(b"atomic") {
        Word::Atomic
    } else if w.eq_ignore_ascii_case(b"case") {
        Word::Case
    } else if w.eq_ignore_ascii_case(b"end") {
        Word::End
    } else if w.eq_ignore_ascii_case(b"create") {
        Word::Create
    } else {
        Word::Other
    }
}

/// Index of the newline ending a `--` or `#` comment (or the end of text).
fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| from + p)
}

/// Index after the `*/` closing a block comment whose body starts at `from`;
/// PostgreSQL nests block comments, MySQL does not.
fn block_comment_end(b: &[u8], from: usize, nested: bool) -> usize {
    let mut depth = 1usize;
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if nested && b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Index after the closing quote of a quoted string or identifier whose body
/// starts at `from`. A doubled quote is part of the body; with
/// `backslash`, so is any character after a backslash.
fn quoted_end(b: &[u8], from: usize, quote: u8, backslash: bool) -> usize {
    let mut i = from;
    while i < b.len() {
        let c = b[i];
        if backslash && c == b'\\' {
            i += 2;
        } else if c == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Index after a `$...` lexeme starting at `at`: a `$$ ... $$` or
/// `$tag$ ... $tag$` body, or a `$1` / `$name` placeholder.
fn dollar_end(sql: &str, at: usize) -> usize {
    let b = sql.as_bytes();
    let body_from = |open_len: usize, close: &str| -> usize {
        let from = at + open_len;
        sql.get(from..)
            .and_then(|rest| rest.find(close))
            .map_or(sql.len(), |p| from + p + close.len())
    };
    if b.get(at + 1) == Some(&b'$') {
        return body_from(2, "$$");
    }
    // The tag: what sqlparser takes as a placeholder name (alphanumeric or `_`).
    let tag_len = sql.get(at + 1..).map_or(0, |rest| {
        rest.char_indices()
            .find(|&(_, ch)| !(ch.is_alphanumeric() || ch == '_'))
            .map_or(rest.len(), |(p, _)| p)
    });
    let after_tag = at + 1 + tag_len;
    if b.get(after_tag) == Some(&b'$') {
        match sql.get(at..=after_tag) {
            Some(delimiter) => body_from(delimiter.len(), delimiter),
            None => sql.len(),
        }
    } else {
        after_tag
    }
}
