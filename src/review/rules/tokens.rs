//! Statements read token by token, for what sqlparser 0.63 cannot parse
//! (`DROP INDEX CONCURRENTLY`, `REINDEX`, `CLUSTER`, `VACUUM (...)`,
//! `REFRESH MATERIALIZED VIEW`): unlike `Stmt::words`, names keep their
//! spelling and quotes, so fixes can repeat them exactly. Also the names
//! PostgreSQL gives unnamed constraints, so rewritten fixes keep them.

use crate::review::context::{last_part, Fact, FirstByKey};
use crate::review::{Ast, Ctx, Stmt};
use sqlparser::ast::{AlterTable, AlterTableOperation, ColumnOption, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// One significant token (whitespace and comments dropped).
#[derive(Debug, Clone)]
pub(crate) struct Tok {
    /// Upper-cased keyword form; empty for quoted identifiers (never keywords).
    pub upper: String,
    /// As written, quotes included.
    pub raw: String,
}

impl Tok {
    pub fn is(&self, word: &str) -> bool {
        self.upper == word
    }
}

/// Whether `text` may hold `word` (lower-case ASCII), in any case: false
/// only when it surely does not, so that a rule can skip tokenizing the many
/// statements that cannot be the one it looks for. Text beyond ASCII always
/// may, since a few other letters change case into ASCII ones.
pub(crate) fn may_contain(text: &str, word: &str) -> bool {
    let (hay, word) = (text.as_bytes(), word.as_bytes());
    let Some(&first) = word.first() else {
        return true;
    };
    // One pass over the text, comparing only where the first letter is.
    hay.iter().enumerate().any(|(i, &b)| {
        !b.is_ascii()
            || (b.to_ascii_lowercase() == first
                && hay
                    .get(i..i + word.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(word)))
    })
}

/// The tokens of a statement; empty when it does not tokenize.
pub(crate) fn tokens(text: &str) -> Vec<Tok> {
    let Ok(toks) = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize() else {
        return Vec::new();
    };
    toks.into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .map(|t| match &t {
            Token::Word(w) if w.quote_style.is_some() => Tok {
                upper: String::new(),
                raw: t.to_string(),
            },
            Token::Word(w) => Tok {
                upper: w.value.to_uppercase(),
                raw: w.value.clone(),
            },
            other => {
                let raw = other.to_string();
                Tok {
                    upper: raw.clone(),
                    raw,
                }
            }
        })
        .collect()
}

/// The (possibly qualified) name starting at `i`, as written, and the index
/// after it.
pub(crate) fn name_at(toks: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    loop {
        let t = toks.get(i)?;
        let is_word = !t.raw.is_empty()
            && (t.upper.is_empty() || t.raw.chars().next().is_some_and(is_ident_start));
        if !is_word {
            return None;
        }
        name.push_str(&t.raw);
        i += 1;
        if toks.get(i).is_some_and(|t| t.is(".")) {
            name.push('.');
            i += 1;
        } else {
            return Some((name, i));
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Skips a parenthesised option list at `i` (`(VERBOSE, CONCURRENTLY)`),
/// returning the options as (upper-cased name, enabled) and the index after it.
pub(crate) fn options_at(toks: &[Tok], i: usize) -> (Vec<(String, bool)>, usize) {
    if !toks.get(i).is_some_and(|t| t.is("(")) {
        return (Vec::new(), i);
    }
    let mut opts = Vec::new();
    let mut j = i + 1;
    while let Some(t) = toks.get(j) {
        if t.is(")") {
            return (opts, j + 1);
        }
        if t.is(",") {
            j += 1;
            continue;
        }
        let name = t.upper.clone();
        j += 1;
        // An option may carry a value: `FULL false`, `CONCURRENTLY off`, `TABLESPACE x`.
        let mut on = true;
        if let Some(v) = toks.get(j).filter(|v| !v.is(",") && !v.is(")")) {
            on = !matches!(
                v.upper.trim_matches('\'').to_uppercase().as_str(),
                "FALSE" | "OFF" | "0" | "NO"
            );
            j += 1;
        }
        opts.push((name, on));
    }
    (opts, j)
}

/// The last part of a name as PostgreSQL folds it: lower-case unless quoted.
pub(crate) fn fold(name: &str) -> String {
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.starts_with('"') {
        last.trim_matches('"').to_string()
    } else {
        last.to_lowercase()
    }
}

/// Whether an index of this name was created earlier in the file.
pub(crate) fn index_created_earlier(ctx: &Ctx, stmt: &Stmt, name: &str) -> bool {
    ctx.fact::<CreatedIndexes>().0.before(&fold(name), stmt)
}

/// The indexes the file creates, by name as [`fold`] gives it.
#[derive(Default)]
pub(crate) struct CreatedIndexes(FirstByKey);

impl Fact for CreatedIndexes {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let name = match &s.ast {
            Some(Ast::CreateIndex(ci)) => ci.name.as_ref().map(last_part),
            _ => created_name(s, &["INDEX"]).map(|n| fold(&n)),
        };
        if let Some(name) = name {
            self.0.insert(name, s);
        }
    }
}

/// The name a `CREATE [UNIQUE] <kind...> [CONCURRENTLY] [IF NOT EXISTS] name`
/// statement creates, read from its tokens.
pub(crate) fn created_name(s: &Stmt, kind: &[&str]) -> Option<String> {
    // Most statements are none of these: skip tokenizing them.
    if !s.may_start_with(&["CREATE"])
        || !kind
            .iter()
            .all(|w| may_contain(&s.text, &w.to_ascii_lowercase()))
    {
        return None;
    }
    let toks = tokens(&s.text);
    let mut i = 0;
    if !toks.get(i)?.is("CREATE") {
        return None;
    }
    i += 1;
    if toks.get(i)?.is("UNIQUE") {
        i += 1;
    }
    for k in kind {
        if !toks.get(i)?.is(k) {
            return None;
        }
        i += 1;
    }
    if toks.get(i)?.is("CONCURRENTLY") {
        i += 1;
    }
    if toks.get(i)?.is("IF") {
        i += 3;
    }
    name_at(&toks, i).map(|(n, _)| n)
}

/// Whether a table or materialized view of this name was created earlier in
/// the file (`CREATE TABLE`, `CREATE MATERIALIZED VIEW`).
pub(crate) fn relation_created_earlier(ctx: &Ctx, stmt: &Stmt, name: &str) -> bool {
    let want = fold(name);
    if stmt.new_tables.contains(&want) {
        return true;
    }
    ctx.fact::<CreatedMatviews>().0.before(&want, stmt)
}

/// The materialized views the file creates, by name as [`fold`] gives it.
#[derive(Default)]
pub(crate) struct CreatedMatviews(FirstByKey);

impl Fact for CreatedMatviews {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        let name = match s.ast.as_ref().and_then(Ast::other) {
            Some(Statement::CreateView(cv)) => cv.materialized.then(|| last_part(&cv.name)),
            _ => created_name(s, &["MATERIALIZED", "VIEW"]).map(|n| fold(&n)),
        };
        if let Some(name) = name {
            self.0.insert(name, s);
        }
    }
}

/// What becomes of one operation when a rule takes its constraints out of an
/// `ALTER TABLE` (see [`take_ops`]).
pub(crate) enum Kept {
    /// Kept as it is.
    Whole,
    /// Taken out entirely.
    Dropped,
    /// Kept with the constraints taken out of it (an inline one of ADD COLUMN).
    Changed(Box<AlterTableOperation>),
}

/// Takes the constraints a rule is about out of an `ALTER TABLE`: `take`
/// pushes what it finds in one operation and says what is left of it. Gives
/// what was found and the statement without it, or None when nothing was.
/// The rest is built only when something was found: cloning every ALTER
/// TABLE of a file to find the few adding such a constraint cost more than
/// the rules themselves.
pub(crate) fn take_ops<T>(
    at: &AlterTable,
    mut take: impl FnMut(&AlterTableOperation, &mut Vec<T>) -> Kept,
) -> Option<(Vec<T>, AlterTable)> {
    let mut found = Vec::new();
    let kept: Vec<Kept> = at
        .operations
        .iter()
        .map(|op| take(op, &mut found))
        .collect();
    if found.is_empty() {
        return None;
    }
    let operations = at
        .operations
        .iter()
        .zip(kept)
        .filter_map(|(op, k)| match k {
            Kept::Whole => Some(op.clone()),
            Kept::Dropped => None,
            Kept::Changed(changed) => Some(*changed),
        })
        .collect();
    let rest = AlterTable {
        operations,
        ..at.clone()
    };
    Some((found, rest))
}

/// An ADD COLUMN operation without the column options `taken` matches.
pub(crate) fn without_options(
    op: &AlterTableOperation,
    taken: impl Fn(&ColumnOption) -> bool,
) -> Kept {
    match op {
        AlterTableOperation::AddColumn { column_def, .. }
            if column_def.options.iter().any(|o| taken(&o.option)) =>
        {
            let mut kept = op.clone();
            if let AlterTableOperation::AddColumn { column_def: cd, .. } = &mut kept {
                cd.options.retain(|o| !taken(&o.option));
            }
            Kept::Changed(Box::new(kept))
        }
        _ => Kept::Whole,
    }
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name` of a parsed statement.
pub(crate) fn alter_head(at: &AlterTable) -> String {
    format!(
        "ALTER TABLE {}{}{}",
        if at.if_exists { "IF EXISTS " } else { "" },
        if at.only { "ONLY " } else { "" },
        at.name
    )
}

/// A name as SQL: bare when PostgreSQL would not fold it, quoted otherwise.
pub(crate) fn ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The name PostgreSQL gives an unnamed constraint or index
/// (`orders_user_id_fkey`, `orders_code_key`, `orders_pkey`, `orders_check`):
/// table, columns and label joined by `_`, the longer of table and columns
/// cut first to fit 63 bytes, as `makeObjectName` does.
pub(crate) fn default_name(table: &str, columns: &[String], label: &str) -> String {
    let addition = columns.join("_");
    let overhead = label.len() + 1 + usize::from(!addition.is_empty());
    let avail = 63usize.saturating_sub(overhead);
    let (mut n1, mut n2) = (table.len(), addition.len());
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let cut = |s: &str, n: usize| {
        let mut n = n.min(s.len());
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    let mut out = cut(table, n1);
    if !addition.is_empty() {
        out.push('_');
        out.push_str(&cut(&addition, n2));
    }
    out.push('_');
    out.push_str(label);
    out
}

/// The distinct columns a CHECK expression reads (folded), as PostgreSQL
/// counts them to name the constraint: `t_col_check` for one, `t_check` else.
pub(crate) fn check_columns(expr: &str) -> Vec<String> {
    const NOT_COLUMNS: &[&str] = &[
        "AND",
        "OR",
        "NOT",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "IN",
        "BETWEEN",
        "SYMMETRIC",
        "LIKE",
        "ILIKE",
        "SIMILAR",
        "TO",
        "ESCAPE",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "CAST",
        "AS",
        "ANY",
        "ALL",
        "SOME",
        "ARRAY",
        "DISTINCT",
        "FROM",
        "INTERVAL",
        "COLLATE",
        "AT",
        "TIME",
        "ZONE",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "UNKNOWN",
        "ISNULL",
        "NOTNULL",
        "VALUE",
    ];
    let toks = tokens(expr);
    let mut cols: Vec<String> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let quoted = t.upper.is_empty() && t.raw.starts_with('"');
        let word = quoted || t.raw.chars().next().is_some_and(is_ident_start);
        if !word || NOT_COLUMNS.contains(&t.upper.as_str()) {
            continue;
        }
        let next = toks.get(i + 1).map(|n| n.raw.as_str());
        let prev = i
            .checked_sub(1)
            .and_then(|p| toks.get(p))
            .map(|p| p.raw.as_str());
        // Function names, qualifiers (`t.col`) and type names are not columns.
        if matches!(next, Some("(") | Some(".")) || matches!(prev, Some("::")) {
            continue;
        }
        if prev.is_some_and(|p| p.eq_ignore_ascii_case("AS")) {
            continue;
        }
        let name = fold(&t.raw);
        if !cols.contains(&name) {
            cols.push(name);
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_contain_says_no_only_when_the_word_is_surely_absent() {
        for (text, word, may) in [
            ("VACUUM FULL t", "vacuum", true),
            ("analyze t; Vacuum", "vacuum", true),
            ("vacuu", "vacuum", false),
            ("ALTER TABLE vac_uum", "vacuum", false),
            ("", "vacuum", false),
            ("CLUſTER t", "cluster", true),
            ("SELECT 'é'", "vacuum", true),
        ] {
            assert_eq!(may_contain(text, word), may, "{text} / {word}");
        }
    }

    #[test]
    fn names_keep_their_spelling() {
        let t = tokens("REINDEX INDEX CONCURRENTLY \"Sales\".Orders_Idx;");
        assert_eq!(t[0].upper, "REINDEX");
        let (n, next) = name_at(&t, 3).unwrap();
        assert_eq!(n, "\"Sales\".Orders_Idx");
        assert!(t[next].is(";"));
        assert_eq!(fold(&n), "orders_idx");
        assert_eq!(fold("\"Mixed\""), "Mixed");
    }

    #[test]
    fn option_lists_with_values() {
        let t = tokens("VACUUM (FULL false, ANALYZE) t");
        let (opts, next) = options_at(&t, 1);
        assert_eq!(
            opts,
            vec![("FULL".to_string(), false), ("ANALYZE".to_string(), true)]
        );
        assert_eq!(t[next].raw, "t");
    }

    #[test]
    fn default_names_follow_postgres() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            default_name("orders", &c(&["user_id"]), "fkey"),
            "orders_user_id_fkey"
        );
        assert_eq!(default_name("nm", &c(&["a", "b"]), "key"), "nm_a_b_key");
        assert_eq!(default_name("orders", &[], "pkey"), "orders_pkey");
        let long = "a".repeat(40);
        let n = default_name(&long, &c(&[&"b".repeat(40)]), "fkey");
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("_fkey"));
        assert_eq!(check_columns("a > 0 AND a < 10"), vec!["a"]);
        assert_eq!(check_columns("a > 0 AND b > 0").len(), 2);
        assert_eq!(check_columns("lower(a::text) <> 'x'"), vec!["a"]);
        assert_eq!(check_columns("nm.a > 1"), vec!["a"]);
        assert_eq!(
            check_columns("status IN ('new', 'done') OR \"Kind\" IS NULL"),
            vec!["status", "Kind"]
        );
        assert_eq!(ident("orders_pkey"), "orders_pkey");
        assert_eq!(ident("Orders_pkey"), "\"Orders_pkey\"");
    }
}
