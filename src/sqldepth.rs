//! A bound on how deeply SQL nests, checked on its tokens before it is
//! parsed.
//!
//! sqlparser limits its own recursion (parentheses, subqueries) but builds
//! chains of operators in a loop: `a+a+...+a` with 12,000 operators parses
//! into a tree 12,000 levels deep, and printing, walking or merely dropping
//! that tree recurses once per level until the stack overflows and the
//! process aborts. Counting the operators a tree could chain, per level of
//! brackets, bounds its depth without building it.

use crate::context::Engine;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

/// How deeply one statement or expression may nest: brackets, plus the
/// operators chained inside them. Real migrations stay far below (a
/// hundred-way `OR` is already rare); at this depth printing and walking the
/// tree needs about a megabyte of stack in a debug build.
pub const MAX_DEPTH: usize = 256;

/// SQL that nests deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep;

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expression nests deeper than {MAX_DEPTH} levels (brackets, and operators such as + or AND chained without brackets); split it into smaller expressions or statements"
        )
    }
}

impl std::error::Error for TooDeep {}

/// Whether tokens nest deeper than [`MAX_DEPTH`]. Each open bracket is a
/// level, and so is each operator: a chain `a + b + c` becomes a tree two
/// levels deep. A comma or a `CASE` branch starts a sibling, not a child, so
/// it restarts the count of its bracket; `;` starts a new statement.
pub fn check_tokens<'a>(tokens: impl IntoIterator<Item = &'a Token>) -> Result<(), TooDeep> {
    // Operators counted in each open bracket, and their sum plus the brackets.
    let mut open: Vec<usize> = vec![0];
    let mut depth = 0usize;
    for t in tokens {
        match t {
            Token::LParen | Token::LBracket | Token::LBrace => {
                open.push(0);
                depth += 1;
            }
            // An unmatched closing bracket closes nothing.
            Token::RParen | Token::RBracket | Token::RBrace if open.len() > 1 => {
                depth -= open.pop().unwrap_or(0) + 1;
            }
            Token::Comma => {
                if let Some(top) = open.last_mut() {
                    depth -= *top;
                    *top = 0;
                }
            }
            Token::SemiColon => {
                open.clear();
                open.push(0);
                depth = 0;
            }
            Token::Word(w) if is_sibling_keyword(w.keyword) => {
                if let Some(top) = open.last_mut() {
                    depth -= *top;
                    *top = 0;
                }
            }
            t if chains(t) => {
                if let Some(top) = open.last_mut() {
                    *top += 1;
                    depth += 1;
                }
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(TooDeep);
        }
    }
    Ok(())
}

/// [`check_tokens`] of SQL text. Text the tokenizer rejects passes: the
/// parser that follows reports it better.
pub fn check_sql(text: &str, engine: Engine) -> Result<(), TooDeep> {
    let dialect = crate::sqltext::dialect(engine);
    match Tokenizer::new(dialect.as_ref(), text).tokenize() {
        Ok(tokens) => check_tokens(&tokens),
        Err(_) => Ok(()),
    }
}

/// Keywords after which a `CASE` goes on with a sibling expression.
fn is_sibling_keyword(k: Keyword) -> bool {
    matches!(k, Keyword::WHEN | Keyword::THEN | Keyword::ELSE)
}

/// Whether a token may join two expressions (or wrap one) into a deeper
/// tree: every operator sign, and the keywords that act as operators.
fn chains(t: &Token) -> bool {
    match t {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::REGEXP
                | Keyword::RLIKE
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::DIV
                | Keyword::MOD
                | Keyword::OVERLAPS
                | Keyword::OPERATOR
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::MINUS
        ),
        // Values, names and punctuation that lists or qualifies.
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Whitespace(_)
        | Token::Period
        | Token::Colon
        | Token::Placeholder(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Result<(), TooDeep> {
        check_sql(sql, Engine::Postgres)
    }

    #[test]
    fn chained_operators_count_as_depth() {
        let ok = format!("SELECT {}a", "a+".repeat(MAX_DEPTH - 1));
        assert_eq!(check(&ok), Ok(()));
        let deep = format!("SELECT {}a", "a+".repeat(MAX_DEPTH + 1));
        assert_eq!(check(&deep), Err(TooDeep));
        let and = format!("SELECT 1 WHERE {}true", "true AND ".repeat(MAX_DEPTH + 1));
        assert_eq!(check(&and), Err(TooDeep));
        let unions = "SELECT 1 UNION ".repeat(MAX_DEPTH + 1) + "SELECT 1";
        assert_eq!(check(&unions), Err(TooDeep));
    }

    #[test]
    fn brackets_and_the_operators_inside_them_add_up() {
        let half = MAX_DEPTH / 2 + 1;
        let nested = format!("SELECT {}1{}", "(1+".repeat(half), ")".repeat(half));
        assert_eq!(check(&nested), Err(TooDeep));
        let parens = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(check(&parens), Err(TooDeep));
        let arrays = format!("SELECT a{}", "[1]".repeat(MAX_DEPTH + 1));
        assert_eq!(check(&arrays), Ok(()), "subscripts close each bracket");
    }

    #[test]
    fn siblings_restart_the_count() {
        // Long lists, CASE branches and statements are wide, not deep.
        let list = format!("SELECT {}1", "1+1, ".repeat(10 * MAX_DEPTH));
        assert_eq!(check(&list), Ok(()));
        let case = format!(
            "SELECT CASE {} END",
            "WHEN a = 1 AND b = 2 THEN x + 1 ".repeat(10 * MAX_DEPTH)
        );
        assert_eq!(check(&case), Ok(()));
        let statements = "SELECT 1 + 1 + 1;".repeat(10 * MAX_DEPTH);
        assert_eq!(check(&statements), Ok(()));
        let inlist = format!("SELECT 1 WHERE a IN ({}1)", "1, ".repeat(10 * MAX_DEPTH));
        assert_eq!(check(&inlist), Ok(()));
    }

    #[test]
    fn the_message_names_the_limit_and_the_way_out() {
        let msg = TooDeep.to_string();
        assert!(msg.contains(&MAX_DEPTH.to_string()), "{msg}");
        assert!(msg.contains("split it"), "{msg}");
    }
}
