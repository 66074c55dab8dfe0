//! A fallback reader for `UPDATE t SET a[1] = ...`, which sqlparser 0.63
//! cannot parse: the same statement with the subscripts of its SET targets
//! left out parses, and says all a rule asks of it (the table, the columns
//! set, the WHERE), so an array element update is reviewed like any other.

use super::plpgsql::find_keyword;

/// `text` with the subscripts of its SET targets removed, if it is an
/// UPDATE that has any.
pub(crate) fn without_set_subscripts(text: &str) -> Option<String> {
    let lead = text.trim_start();
    if !lead
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("UPDATE"))
    {
        return None;
    }
    let set = find_keyword(text, 0, "SET")? + 3;
    let end = ["WHERE", "FROM", "RETURNING"]
        .iter()
        .filter_map(|k| find_keyword(text, set, k))
        .min()
        .unwrap_or(text.len());
    let clause = &text[set..end];
    let b = clause.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut depth, mut changed) = (0, 0i32, false);
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let close = clause[i + 1..].find(c as char)? + i + 2;
            out.push_str(&clause[i..close]);
            i = close;
            continue;
        }
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'[' if depth == 0 && i > 0 && !b[i - 1].is_ascii_whitespace() => {
                let close = clause[i..].find(']')? + i + 1;
                let after = clause[close..].trim_start();
                // A target's subscript: `=` (or another subscript) follows;
                // a value's is followed by `,` or the end.
                if (after.starts_with('=') && !after.starts_with("==")) || after.starts_with('[') {
                    i = close;
                    changed = true;
                    continue;
                }
            }
            _ => {}
        }
        let ch = clause[i..].chars().next()?;
        out.push(ch);
        i += ch.len_utf8();
    }
    changed.then(|| format!("{}{out}{}", &text[..set], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_target_subscripts_only() {
        assert_eq!(
            without_set_subscripts("UPDATE t SET a[1] = b[2], c[1][2] = 'x[1] = y' WHERE d[1] = 3")
                .as_deref(),
            Some("UPDATE t SET a = b[2], c = 'x[1] = y' WHERE d[1] = 3")
        );
        assert_eq!(without_set_subscripts("UPDATE t SET a = b[1]"), None);
        assert_eq!(without_set_subscripts("DELETE FROM t WHERE a[1] = 2"), None);
    }

    #[test]
    fn the_update_is_then_reviewed_as_a_backfill() {
        let f: Vec<_> = crate::review::review_sql(
            "UPDATE users SET tags[1] = 'x';",
            None,
            &crate::review::ReviewOptions::default(),
        )
        .into_iter()
        .map(|f| f.rule)
        .collect();
        assert!(f.contains(&"unbatched-backfill".to_string()), "{f:?}");
        assert!(!f.contains(&"unparsed-statement".to_string()), "{f:?}");
        let all = crate::review::review_sql(
            "UPDATE users SET tags[1] = 'x';",
            None,
            &crate::review::ReviewOptions::default(),
        );
        assert!(all
            .iter()
            .all(|f| f.fix.as_deref().is_none_or(|x| !x.contains("SET tags ="))));
    }
}
