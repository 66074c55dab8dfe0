//! Names, types and expressions as the model stores them, taken from the
//! parsed statement (and, where possible, from the text the user wrote).

use crate::context::Engine;
use sqlparser::ast::{DataType, Expr, Ident, ObjectName, Spanned};
use sqlparser::tokenizer::{Location, Token, Tokenizer};

/// Walks a text forwards converting sqlparser locations (1-based line and
/// character column; only `\n` ends a line) to byte offsets and back. Calls
/// with increasing positions cost O(text) in total; going back restarts.
pub(super) struct Cursor<'a> {
    text: &'a str,
    byte: usize,
    line: u64,
    column: u64,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            byte: 0,
            line: 1,
            column: 1,
        }
    }

    fn step(&mut self) -> bool {
        match self
            .text
            .get(self.byte..)
            .and_then(|rest| rest.chars().next())
        {
            Some(ch) => {
                self.byte += ch.len_utf8();
                if ch == '\n' {
                    self.line += 1;
                    self.column = 1;
                } else {
                    self.column += 1;
                }
                true
            }
            None => false,
        }
    }

    /// Byte offset of a location (the end of the text when it lies beyond).
    pub(super) fn byte_at(&mut self, at: Location) -> usize {
        if (at.line, at.column) < (self.line, self.column) {
            *self = Self::new(self.text);
        }
        while (self.line, self.column) < (at.line, at.column) {
            if !self.step() {
                break;
            }
        }
        self.byte
    }

    /// 1-based line and character column of a byte offset.
    pub(super) fn line_column(&mut self, byte: usize) -> (usize, usize) {
        if byte < self.byte {
            *self = Self::new(self.text);
        }
        // Count whole stretches at once: a file of statements is walked once
        // for their positions.
        if let Some(seg) = self.text.get(self.byte..byte) {
            match seg.rfind('\n') {
                Some(nl) => {
                    self.line += seg.bytes().filter(|&b| b == b'\n').count() as u64;
                    self.column = 1 + seg[nl + 1..].chars().count() as u64;
                }
                None => self.column += seg.chars().count() as u64,
            }
            self.byte = byte;
        }
        while self.byte < byte {
            if !self.step() {
                break;
            }
        }
        (
            usize::try_from(self.line).unwrap_or(usize::MAX),
            usize::try_from(self.column).unwrap_or(usize::MAX),
        )
    }
}

/// A significant token of a text (whitespace and comments left out) with its byte range.
#[derive(Debug, Clone)]
pub(super) struct Lexeme {
    pub token: Token,
    pub start: Location,
    pub end: Location,
    pub from: usize,
    pub to: usize,
}

/// The significant tokens of a text, or `None` when it does not tokenize.
pub(super) fn lex(text: &str, engine: Engine) -> Option<Vec<Lexeme>> {
    let dialect = crate::sqltext::dialect(engine);
    let tokens = Tokenizer::new(dialect.as_ref(), text)
        .tokenize_with_location()
        .ok()?;
    let mut cursor = Cursor::new(text);
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        let from = cursor.byte_at(t.span.start);
        let to = cursor.byte_at(t.span.end).max(from);
        out.push(Lexeme {
            token: t.token,
            start: t.span.start,
            end: t.span.end,
            from,
            to,
        });
    }
    Some(out)
}

/// A name as the model stores it: unquoted names folded to lower case (as
/// PostgreSQL does and as `Ident::parse` will), quoted names kept exactly and
/// written with double quotes unless they are plain lower-case names.
pub(super) fn ident(i: &Ident) -> String {
    name_text(&i.value, i.quote_style.is_some())
}

pub(super) fn name_text(value: &str, quoted: bool) -> String {
    if !quoted {
        return crate::ident::fold_pg(value);
    }
    let plain = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('"', "\"\""))
    }
}

/// `schema.table` as the model stores it; `None` for names that are not plain identifiers.
pub(super) fn object_name(n: &ObjectName) -> Option<String> {
    let parts: Option<Vec<String>> = n.0.iter().map(|p| p.as_ident().map(ident)).collect();
    parts.filter(|p| !p.is_empty()).map(|p| p.join("."))
}

/// The last part of a name: the column of `t.col`, the index of `schema.idx`.
pub(super) fn last_name(n: &ObjectName) -> Option<String> {
    n.0.last().and_then(|p| p.as_ident()).map(ident)
}

/// A type in canonical spelling: the parser's, ASCII lower-cased outside
/// quotes (as `sqltext::canonical_type` does, but keeping quoted names and
/// enum labels).
pub(super) fn data_type(t: &DataType) -> String {
    lower_outside_quotes(&t.to_string())
}

pub(super) fn lower_outside_quotes(s: &str) -> String {
    crate::ident::fold_pg_outside_quotes(s)
}

/// Statements longer than this are rendered from the tree instead of their
/// source text, to keep expression lookup cheap on pathological input.
const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// How many tokens past a span's end an expression's true end is searched for.
const MAX_EXTENSION_TOKENS: usize = 48;
/// How many tokens before a span's start its true start is searched for
/// (`(a * 100)::bigint` spans from `a`, `CAST(x AS int)` from `x`).
const MAX_EARLIER_TOKENS: usize = 3;
/// Bytes one statement may reparse while looking for source text, in total.
const PARSE_BUDGET: usize = 1 << 20;

/// One statement's text, to recover the user's own spelling of expressions.
pub(super) struct Source<'a> {
    text: &'a str,
    engine: Engine,
    lexemes: Vec<Lexeme>,
    budget: std::cell::Cell<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(text: &'a str, engine: Engine) -> Self {
        let lexemes = if text.len() <= MAX_SOURCE_BYTES {
            lex(text, engine).unwrap_or_default()
        } else {
            Vec::new()
        };
        Self {
            text,
            engine,
            lexemes,
            budget: std::cell::Cell::new(PARSE_BUDGET),
        }
    }

    /// The expression as the user wrote it, when that text parses back to the
    /// same tree; otherwise the parser's rendering (always valid SQL).
    /// sqlparser's spans are not exact for every expression, so the bounds
    /// are searched for token by token around the span.
    pub(super) fn expr(&self, e: &Expr) -> String {
        self.original(e).unwrap_or_else(|| e.to_string())
    }

    fn same(&self, e: &Expr, from: usize, to: usize) -> Option<String> {
        let slice = self.text.get(from..to)?.trim();
        let left = self.budget.get();
        if left < slice.len() {
            return None;
        }
        self.budget.set(left - slice.len());
        let parsed = crate::sqltext::parse_expr("expression", slice, self.engine).ok()?;
        (parsed == *e).then(|| slice.to_string())
    }

    fn original(&self, e: &Expr) -> Option<String> {
        let span = e.span();
        if span.start.line == 0 {
            return None;
        }
        let first = self.lexemes.iter().position(|l| l.start == span.start)?;
        let spanned_end = self.lexemes[first..]
            .iter()
            .position(|l| l.end == span.end)
            .map(|p| first + p);
        if let Some(last) = spanned_end {
            if let Some(s) = self.same(e, self.lexemes[first].from, self.lexemes[last].to) {
                return Some(s);
            }
        }
        let search_from = spanned_end.unwrap_or(first);
        (0..=MAX_EARLIER_TOKENS.min(first)).find_map(|back| {
            let from = self.lexemes[first - back].from;
            self.lexemes
                .iter()
                .skip(search_from)
                .take(MAX_EXTENSION_TOKENS)
                .find_map(|l| self.same(e, from, l.to))
        })
    }
}

/// The column an expression names, with its qualifier: `email` is
/// `(None, "email")`, `u.email` is `(Some("u"), "email")`.
pub(super) fn column_ref(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, ident(i))),
        Expr::CompoundIdentifier(parts) => {
            let (col, qualifier) = parts.split_last()?;
            if qualifier.is_empty() {
                return Some((None, ident(col)));
            }
            let q: Vec<String> = qualifier.iter().map(ident).collect();
            Some((Some(q.join(".")), ident(col)))
        }
        Expr::Nested(inner) => column_ref(inner),
        _ => None,
    }
}

/// Whether a word token names `name` (compared as the model stores names).
fn word_is(t: &Token, names: &[&str]) -> bool {
    match t {
        Token::Word(w) => {
            let n = name_text(&w.value, w.quote_style.is_some());
            names.iter().any(|x| *x == n)
        }
        _ => false,
    }
}

/// Positions of `q.` qualifiers naming one of `names` in front of a column
/// (not part of a longer dotted name, not a function call `q.f(...)`).
fn qualifier_positions(lexemes: &[Lexeme], names: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for i in 0..lexemes.len() {
        let after_dot = i > 0 && lexemes[i - 1].token == Token::Period;
        let dotted = lexemes.get(i + 1).is_some_and(|l| l.token == Token::Period);
        let column = lexemes
            .get(i + 2)
            .is_some_and(|l| matches!(l.token, Token::Word(_)));
        let call = lexemes.get(i + 3).is_some_and(|l| l.token == Token::LParen);
        if !after_dot && dotted && column && !call && word_is(&lexemes[i].token, names) {
            out.push(i);
        }
    }
    out
}

/// The expression with `table.` / `alias.` qualifiers of the updated table
/// removed: fills and predicates are expressions over the row itself, and
/// the plan's statements do not know the user's alias.
pub(super) fn strip_qualifiers(expr: &str, names: &[&str], engine: Engine) -> String {
    let Some(lexemes) = lex(expr, engine) else {
        return expr.to_string();
    };
    let mut out = String::with_capacity(expr.len());
    let mut copied = 0;
    for i in qualifier_positions(&lexemes, names) {
        let (Some(q), Some(col)) = (lexemes.get(i), lexemes.get(i + 2)) else {
            continue;
        };
        if let Some(part) = expr.get(copied..q.from) {
            out.push_str(part);
            copied = col.from;
        }
    }
    out.push_str(expr.get(copied..).unwrap_or(""));
    out
}

/// Whether the expression qualifies a column with one of `names` (`a.col`).
pub(super) fn mentions_qualifier(expr: &str, names: &[&str], engine: Engine) -> bool {
    lex(expr, engine).is_some_and(|l| !qualifier_positions(&l, names).is_empty())
}

/// Whether the expression names the column `column` (bare or qualified).
pub(super) fn mentions_column(expr: &str, column: &str, engine: Engine) -> bool {
    let Some(lexemes) = lex(expr, engine) else {
        return false;
    };
    lexemes.iter().enumerate().any(|(i, l)| {
        let call = lexemes.get(i + 1).is_some_and(|n| n.token == Token::LParen);
        !call && word_is(&l.token, &[column])
    })
}

/// The first line of a statement, shortened, to name it in messages.
pub(super) fn snippet(statement: &str) -> String {
    let line = statement.lines().next().unwrap_or("").trim();
    const MAX: usize = 80;
    if line.chars().count() > MAX || statement.trim().lines().nth(1).is_some() {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut} ...")
    } else {
        line.to_string()
    }
}
