//! The statements inside a PostgreSQL `DO` block, read out of its PL/pgSQL
//! body so that the rules check them as they check any other: where each
//! one is in the file, and whether it runs inside a loop that never
//! commits (every iteration then holds its locks until the block ends).
//!
//! The body is read as PL/pgSQL is written: `DECLARE` sections, nested
//! `BEGIN ... END` blocks, `IF/ELSIF/ELSE`, `CASE`, `LOOP`, `FOR/WHILE/FOREACH
//! ... LOOP`, `EXCEPTION WHEN ... THEN`, labels. `EXECUTE` of a string
//! constant (or of constants joined with `||`) is reviewed as the SQL it
//! runs; `EXECUTE` of anything else is dynamic SQL, marked so it is noted as
//! not checked. Anything this reader does not follow (another LANGUAGE, a
//! body that is not a string constant, unbalanced blocks) makes the whole
//! block unreadable, which is noted: it is never passed as checked.
//!
//! A PL/pgSQL function or procedure runs its body only when called: a
//! `CALL name()` (or `SELECT name()`) of one the same file creates is
//! reviewed as the statements of its body, at their lines in the definition.

use crate::change::ddl::split_statements;
use crate::context::Engine;

/// One statement of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    pub text: String,
    /// 1-based line and column in the `DO` statement's text.
    pub line: usize,
    pub column: usize,
    /// Inside a loop with no COMMIT in it.
    pub in_loop: bool,
    /// `EXECUTE` of an expression that is not a constant: not readable.
    pub dynamic: bool,
}

/// Reads the statements of a `DO` statement's text; `Err` says why it cannot.
pub fn do_block(text: &str) -> Result<Vec<Inner>, String> {
    let (body, at) = body(text)?;
    let (line0, col0) = position(text, at);
    let mut inner = read_body(body)?;
    for s in &mut inner {
        if s.line == 1 {
            s.column += col0 - 1;
        }
        s.line += line0 - 1;
    }
    Ok(inner)
}

/// A PL/pgSQL function or procedure a `CREATE [OR REPLACE] FUNCTION |
/// PROCEDURE` statement defines: its name (last part, lower-case unless
/// quoted) and the statements of its body, placed in the statement's text.
/// `None` for other statements and other languages.
pub fn routine(text: &str) -> Option<(String, Vec<Inner>)> {
    // Asked of every statement: most are not CREATE at all.
    if !text
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
    {
        return None;
    }
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '(')
        .filter(|w| !w.is_empty())
        .take(5)
        .map(str::to_string)
        .collect();
    let up: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = match up.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["CREATE", "FUNCTION" | "PROCEDURE", ..] => 2,
        ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE", ..] => 4,
        _ => return None,
    };
    let name = routine_name(words.get(at)?);
    let lang = find_keyword(text, 0, "LANGUAGE")?;
    let lang_name = word_at(&text[skip_space(text, lang + 8)..]);
    if !lang_name
        .trim_matches(['\'', '"'])
        .eq_ignore_ascii_case("plpgsql")
    {
        return None;
    }
    let as_kw = find_keyword(text, 0, "AS")?;
    let (body, start, _) = string_constant(text, skip_space(text, as_kw + 2))?;
    let (line0, col0) = position(text, start);
    let mut inner = read_body(body).ok()?;
    for s in &mut inner {
        if s.line == 1 {
            s.column += col0 - 1;
        }
        s.line += line0 - 1;
    }
    Some((name, inner))
}

/// A routine's name as calls are matched: the last part, lower-case unless quoted.
fn routine_name(word: &str) -> String {
    let last = word.rsplit('.').next().unwrap_or(word);
    if last.starts_with('"') {
        last.trim_matches('"').to_string()
    } else {
        last.to_lowercase()
    }
}

/// The routine a statement runs: `CALL name(...)`, or `SELECT name(...)`
/// with nothing else.
pub fn called(text: &str) -> Option<String> {
    let t = text.trim();
    let lead = word_at(t).to_ascii_uppercase();
    if lead != "CALL" && lead != "SELECT" {
        return None;
    }
    let rest = t[lead.len()..].trim_start();
    let open = rest.find('(')?;
    let name = rest[..open].trim();
    let simple = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '"'));
    // `SELECT f(x) FROM t` runs it per row, with more than the call to read.
    let whole = lead == "CALL" || rest.trim_end().ends_with(')') && !rest.contains(" FROM ");
    (simple && whole).then(|| routine_name(name))
}

/// 1-based line and column of byte `at` of `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The body of `DO [LANGUAGE l] body [LANGUAGE l]` and where it starts.
fn body(text: &str) -> Result<(String, usize), String> {
    let mut rest = skip_space(text, 2);
    let mut language = None;
    let mut found = None;
    while rest < text.len() {
        let tail = &text[rest..];
        if tail.trim_end() == ";" {
            break;
        }
        if tail.starts_with('$') || tail.starts_with('\'') {
            let (value, start, end) = string_constant(text, rest)
                .ok_or("its body is not a string constant the reviewer can read")?;
            found = Some((value, start));
            rest = skip_space(text, end);
        } else if word_at(tail).eq_ignore_ascii_case("LANGUAGE") {
            let after = skip_space(text, rest + "LANGUAGE".len());
            let lang = word_at(&text[after..]);
            language = Some(lang.trim_matches(['\'', '"']).to_ascii_lowercase());
            rest = skip_space(text, after + lang.len());
        } else {
            return Err("it is not `DO [LANGUAGE name] $$ body $$`".into());
        }
    }
    if let Some(lang) = language.filter(|l| l != "plpgsql") {
        return Err(format!(
            "it is written in LANGUAGE {lang}, which the reviewer does not read"
        ));
    }
    found.ok_or_else(|| "it has no body".to_string())
}

/// A string constant at byte `at`: `$tag$...$tag$` or `'...'` (with `''`).
/// Its value, where the value starts in `text`, and where the constant ends.
fn string_constant(text: &str, at: usize) -> Option<(String, usize, usize)> {
    let tail = &text[at..];
    if let Some(after) = tail.strip_prefix('$') {
        let close = after.find('$')? + 2;
        let tag = &tail[..close];
        if !tag[1..close - 1]
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_')
        {
            return None;
        }
        let end = tail[close..].find(tag)? + close;
        return Some((
            tail[close..end].to_string(),
            at + close,
            at + end + tag.len(),
        ));
    }
    if tail.starts_with('\'') {
        let mut value = String::new();
        let mut chars = tail.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                return Some((value, at + 1, at + i + 1));
            }
            value.push(c);
        }
    }
    None
}

fn skip_space(text: &str, from: usize) -> usize {
    let mut i = from.min(text.len());
    loop {
        let tail = &text[i..];
        let trimmed = tail.trim_start();
        i += tail.len() - trimmed.len();
        if let Some(r) = trimmed.strip_prefix("--") {
            i += 2 + r.find('\n').map_or(r.len(), |n| n + 1);
        } else if let Some(r) = trimmed.strip_prefix("/*") {
            i += 2 + r.find("*/").map_or(r.len(), |n| n + 2);
        } else {
            return i;
        }
    }
}

/// The word (letters, digits, `_`, quotes) at the start of `s`.
fn word_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\'' || c == '"'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Where the next keyword `kw` (upper-case) outside brackets, strings and
/// `CASE ... END` starts in `s`, from byte `from`.
pub(crate) fn find_keyword(s: &str, from: usize, kw: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (mut i, mut depth, mut cases) = (from, 0i32, 0i32);
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let close = s[i + 1..].find(c as char)?;
            i += close + 2;
            continue;
        }
        if c == b'$' {
            if let Some((_, _, end)) = string_constant(s, i) {
                i = end;
                continue;
            }
        }
        if s[i..].starts_with("--") || s[i..].starts_with("/*") {
            i = skip_space(s, i);
            continue;
        }
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            _ => {}
        }
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if c.is_ascii_alphabetic() && boundary {
            let w = word_at(&s[i..]);
            let up = w.to_ascii_uppercase();
            if depth == 0 && cases == 0 && up == kw {
                return Some(i);
            }
            match up.as_str() {
                "CASE" => cases += 1,
                "END" if cases > 0 => cases -= 1,
                _ => {}
            }
            i += w.len().max(1);
            continue;
        }
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// A loop being read: the statements in it, and whether it commits.
struct Loop {
    members: Vec<usize>,
    commits: bool,
}

/// The statements of a PL/pgSQL body, positions relative to the body.
fn read_body(body: String) -> Result<Vec<Inner>, String> {
    let mut out: Vec<Inner> = Vec::new();
    let mut loops: Vec<Loop> = Vec::new();
    let mut declaring = false;
    let mut blocks = 0usize;
    for piece in split_statements(&body, Engine::Postgres) {
        let t = piece.text.as_str();
        let mut at = 0;
        loop {
            at = skip_space(t, at);
            if t[at..].starts_with("<<") {
                at = t[at..]
                    .find(">>")
                    .map(|e| at + e + 2)
                    .ok_or("a label is not closed")?;
                continue;
            }
            let word = word_at(&t[at..]).to_ascii_uppercase();
            let after = at + word.len();
            if declaring && word != "BEGIN" {
                break; // a declaration
            }
            match word.as_str() {
                "" if at >= t.len() => break,
                "DECLARE" => {
                    declaring = true;
                    at = after;
                }
                "BEGIN" => {
                    declaring = false;
                    blocks += 1;
                    at = after;
                }
                "IF" | "ELSIF" | "ELSEIF" | "WHEN" => {
                    let then = find_keyword(t, after, "THEN")
                        .ok_or_else(|| format!("its {word} has no THEN"))?;
                    at = then + 4;
                }
                "ELSE" | "EXCEPTION" => at = after,
                "CASE" => {
                    at = find_keyword(t, after, "WHEN").ok_or("its CASE has no WHEN")?;
                }
                "LOOP" | "FOR" | "WHILE" | "FOREACH" => {
                    at = if word == "LOOP" {
                        after
                    } else {
                        find_keyword(t, after, "LOOP")
                            .ok_or_else(|| format!("its {word} has no LOOP"))?
                            + 4
                    };
                    loops.push(Loop {
                        members: Vec::new(),
                        commits: false,
                    });
                }
                "END" => {
                    let next = word_at(&t[skip_space(t, after)..]).to_ascii_uppercase();
                    match next.as_str() {
                        "LOOP" => {
                            let done = loops.pop().ok_or("an END LOOP closes no loop")?;
                            match loops.last_mut() {
                                Some(outer) if done.commits => outer.commits = true,
                                Some(outer) => outer.members.extend(done.members),
                                None if !done.commits => {
                                    for i in done.members {
                                        out[i].in_loop = true;
                                    }
                                }
                                None => {}
                            }
                        }
                        "IF" | "CASE" => {}
                        _ => {
                            blocks = blocks.checked_sub(1).ok_or("an END closes no block")?;
                        }
                    }
                    break;
                }
                _ => {
                    statement(&piece, at, &mut out, &mut loops)?;
                    break;
                }
            }
        }
    }
    if !loops.is_empty() || blocks != 0 {
        return Err("its blocks or loops do not close".into());
    }
    Ok(out)
}

/// PL/pgSQL statements that run no SQL a rule reads.
const PROCEDURAL: &[&str] = &[
    "NULL", "RAISE", "RETURN", "EXIT", "CONTINUE", "PERFORM", "GET", "ASSERT", "OPEN", "FETCH",
    "CLOSE", "MOVE",
];

/// The statement at byte `at` of a piece, if it is SQL.
fn statement(
    piece: &crate::change::ddl::StatementText,
    at: usize,
    out: &mut Vec<Inner>,
    loops: &mut [Loop],
) -> Result<(), String> {
    let t = &piece.text[at..];
    let word = word_at(t).to_ascii_uppercase();
    if PROCEDURAL.contains(&word.as_str()) || is_assignment(t) {
        return Ok(());
    }
    let (line, column) = {
        let (l, c) = position(&piece.text, at);
        (
            piece.line + l - 1,
            if l == 1 { piece.column + c - 1 } else { c },
        )
    };
    if matches!(word.as_str(), "COMMIT" | "ROLLBACK") {
        for l in loops.iter_mut() {
            l.commits = true;
        }
    }
    let (text, line, column, dynamic) = if word == "EXECUTE" {
        match constant_sql(t, "EXECUTE".len()) {
            Some((sql, offset)) => {
                let (l, c) = position(t, offset);
                (
                    sql,
                    line + l - 1,
                    if l == 1 { column + c - 1 } else { c },
                    false,
                )
            }
            None => (t.to_string(), line, column, true),
        }
    } else {
        (t.to_string(), line, column, false)
    };
    if let Some(l) = loops.last_mut() {
        l.members.push(out.len());
    }
    out.push(Inner {
        text,
        line,
        column,
        in_loop: false,
        dynamic,
    });
    Ok(())
}

/// `name := ...` or `name = ...` (a variable, field or element).
fn is_assignment(t: &str) -> bool {
    let end = t
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '"' | '[' | ']')))
        .unwrap_or(t.len());
    let rest = t[end..].trim_start();
    end > 0 && (rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("==")))
}

/// The SQL an `EXECUTE` runs when it is string constants joined by `||`
/// (up to INTO or USING), and where the first one's value starts in `t`.
fn constant_sql(t: &str, from: usize) -> Option<(String, usize)> {
    let mut at = skip_space(t, from);
    let mut sql = String::new();
    let mut first = None;
    loop {
        let (value, start, end) = string_constant(t, at)?;
        first.get_or_insert(start);
        sql.push_str(&value);
        at = skip_space(t, end);
        if t[at..].starts_with("||") {
            at = skip_space(t, at + 2);
            continue;
        }
        let next = word_at(&t[at..]).to_ascii_uppercase();
        if at >= t.len() || next == "INTO" || next == "USING" {
            return Some((sql, first?));
        }
        return None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> Vec<(String, usize, usize, bool, bool)> {
        do_block(sql)
            .unwrap()
            .into_iter()
            .map(|s| (s.text, s.line, s.column, s.in_loop, s.dynamic))
            .collect()
    }

    #[test]
    fn reads_statements_inside_ifs_and_exception_blocks() {
        let sql = "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'x' AND CASE WHEN true THEN true END) THEN\n    ALTER TABLE users ALTER COLUMN data TYPE jsonb USING data::jsonb;\n  ELSE\n    RAISE NOTICE 'done';\n  END IF;\nEXCEPTION WHEN undefined_column THEN\n  ALTER TABLE users DROP COLUMN legacy;\nEND\n$$;";
        assert_eq!(
            read(sql),
            [
                (
                    "ALTER TABLE users ALTER COLUMN data TYPE jsonb USING data::jsonb".into(),
                    4,
                    5,
                    false,
                    false
                ),
                (
                    "ALTER TABLE users DROP COLUMN legacy".into(),
                    9,
                    3,
                    false,
                    false
                ),
            ]
        );
    }

    #[test]
    fn loops_that_never_commit_mark_their_statements() {
        let sql = "DO $$\nDECLARE\n  r record;\n  n int := 0;\nBEGIN\n  FOR r IN SELECT id FROM users LOOP\n    UPDATE users SET flag = true WHERE id = r.id;\n    n := n + 1;\n  END LOOP;\n  LOOP\n    DELETE FROM events WHERE id IN (SELECT id FROM events LIMIT 1000);\n    EXIT WHEN NOT FOUND;\n    COMMIT;\n  END LOOP;\nEND $$;";
        let got = read(sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!((got[0].1, got[0].3), (7, true));
        assert_eq!((got[1].1, got[1].3), (11, false), "it commits");
        assert_eq!(got[2].0, "COMMIT");
    }

    #[test]
    fn execute_of_a_constant_is_read_and_of_an_expression_is_dynamic() {
        let sql = "DO $do$ BEGIN EXECUTE 'ALTER TABLE t ' || 'DROP COLUMN ''x'''; EXECUTE format('DROP TABLE %I', 't'); END $do$";
        let got = read(sql);
        assert_eq!(got[0].0, "ALTER TABLE t DROP COLUMN 'x'");
        assert_eq!((got[0].1, got[0].2, got[0].4), (1, 24, false));
        assert!(got[1].4, "format() is dynamic");
        let got = read("DO 'BEGIN UPDATE t SET a = ''b''; END'");
        assert_eq!(got[0].0, "UPDATE t SET a = 'b'");
    }

    #[test]
    fn routines_are_read_and_calls_named() {
        let sql = "CREATE OR REPLACE PROCEDURE public.\"Backfill\"()\nLANGUAGE plpgsql AS $$\nBEGIN\n  LOOP\n    UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t WHERE a IS NULL LIMIT 100);\n    EXIT WHEN NOT FOUND;\n  END LOOP;\nEND $$";
        let (name, inner) = routine(sql).unwrap();
        assert_eq!(name, "Backfill");
        assert_eq!(
            (inner[0].line, inner[0].column, inner[0].in_loop),
            (5, 5, true)
        );
        assert!(
            routine("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$").is_none()
        );
        assert!(routine("CREATE TABLE f (id int)").is_none());
        assert_eq!(
            called("CALL public.\"Backfill\"()").as_deref(),
            Some("Backfill")
        );
        assert_eq!(
            called("SELECT fill_totals()").as_deref(),
            Some("fill_totals")
        );
        assert_eq!(called("SELECT fill(id) FROM t"), None);
        assert_eq!(called("SELECT 1"), None);
    }

    #[test]
    fn a_called_routine_is_reviewed_and_one_never_called_is_not() {
        let sql = "CREATE PROCEDURE fill() LANGUAGE plpgsql AS $$\nBEGIN\n  LOOP\n    UPDATE orders SET total = subtotal WHERE id IN (SELECT id FROM orders WHERE total IS NULL LIMIT 1000);\n    EXIT WHEN NOT FOUND;\n  END LOOP;\nEND $$;\nCREATE FUNCTION later() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE users; END $$;\nCALL fill();\n";
        let f: Vec<(String, usize)> =
            crate::review::review_sql(sql, None, &crate::review::ReviewOptions::default())
                .into_iter()
                .filter(|f| f.severity >= crate::review::Severity::Warning)
                .map(|f| (f.rule, f.line))
                .collect();
        assert_eq!(f, [("unbatched-backfill".to_string(), 4)]);
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let e = do_block("DO LANGUAGE plpython3u $$ plpy.execute('DROP TABLE t') $$").unwrap_err();
        assert!(e.contains("LANGUAGE plpython3u"), "{e}");
        assert!(do_block("DO $$ BEGIN LOOP UPDATE t SET a = 1; END $$")
            .unwrap_err()
            .contains("do not close"));
        assert!(
            do_block("DO $$ BEGIN IF x UPDATE t SET a = 1; END IF; END $$")
                .unwrap_err()
                .contains("no THEN")
        );
        assert!(do_block("DO ").is_err());
        assert_eq!(read("DO LANGUAGE plpgsql $$ BEGIN NULL; END $$").len(), 0);
    }
}
