//! What a phase declares it changes, read from its own SQL: the objects each
//! statement creates, alters or drops (tables, columns, indexes,
//! constraints, triggers, functions, sequences, views, types) and the
//! columns it writes (UPDATE targets, the columns a trigger function it
//! creates assigns, the UPDATEs of a procedure it calls). Statements are
//! read token by token, so DO blocks, function bodies and `EXECUTE
//! format(...)` with literal arguments are read as well; anything else a
//! statement does is undeclared, and the rehearsal names it.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::{BTreeMap, BTreeSet};

/// A (table, column) pair, names as PostgreSQL stores them; table `*` for a
/// trigger function whose table is not known.
pub type Col = (String, String);

/// What one phase (or rollback) declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    /// Tables created, dropped or renamed: everything on them may change.
    pub tables: BTreeSet<String>,
    /// Columns added, dropped, altered or renamed.
    pub columns: BTreeSet<Col>,
    /// Indexes, constraints, triggers, functions, sequences, views and types
    /// named by a statement.
    pub names: BTreeSet<String>,
    /// Tables that get an unnamed constraint or index.
    pub unnamed_on: BTreeSet<String>,
    /// Columns whose stored values the statements may change.
    pub writes: BTreeSet<Col>,
}

impl Declared {
    pub fn table(&self, t: &str) -> bool {
        self.tables.contains(t)
    }

    pub fn column(&self, t: &str, c: &str) -> bool {
        self.tables.contains(t) || self.columns.contains(&(t.to_string(), c.to_string()))
    }

    pub fn name(&self, n: &str) -> bool {
        self.names.contains(n)
    }

    pub fn writes(&self, t: &str, c: &str) -> bool {
        self.writes.contains(&(t.to_string(), c.to_string()))
            || self.writes.contains(&("*".to_string(), c.to_string()))
    }
}

/// What the whole script's routines do when they run, so a phase that only
/// calls a procedure or fires a trigger declares what it writes.
#[derive(Debug, Clone, Default)]
pub struct Routines {
    /// Routine name -> the columns its body UPDATEs.
    pub updates: BTreeMap<String, BTreeSet<Col>>,
    /// Function name -> the NEW columns it assigns.
    pub assigns: BTreeMap<String, BTreeSet<String>>,
    /// Function name -> the tables of triggers that execute it.
    pub trigger_tables: BTreeMap<String, BTreeSet<String>>,
}

impl Routines {
    /// Reads every statement of the script once.
    pub fn of<'a>(statements: impl IntoIterator<Item = &'a str>) -> Routines {
        let mut r = Routines::default();
        for s in statements {
            let mut d = Declared::default();
            scan(&tokens(s), &mut d, &mut r, Mode::Run);
        }
        r
    }

    /// Columns that triggers of the script write on other tables (a split
    /// keeps a second table in step): app writes reach them in any phase
    /// while the trigger exists.
    pub fn cross_table_writes(&self) -> BTreeSet<Col> {
        let mut out = BTreeSet::new();
        for f in self.trigger_tables.keys() {
            if let Some(u) = self.updates.get(f) {
                out.extend(u.iter().cloned());
            }
        }
        out
    }
}

/// Reads the statements of one phase or rollback.
pub fn declared<'a>(statements: impl IntoIterator<Item = &'a str>, r: &Routines) -> Declared {
    let mut d = Declared::default();
    let mut scratch = r.clone();
    for s in statements {
        scan(&tokens(s), &mut d, &mut scratch, Mode::Run);
    }
    d
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A word: its upper-case form (empty when quoted, never a keyword) and
    /// the name PostgreSQL stores.
    Word {
        upper: String,
        name: String,
    },
    Str(String),
    /// A dollar-quoted body.
    Body(String),
    Punct(String),
}

impl Tok {
    fn is(&self, kw: &str) -> bool {
        matches!(self, Tok::Word { upper, .. } if upper == kw)
    }

    fn punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(s) if s == p)
    }

    fn name(&self) -> Option<&str> {
        match self {
            Tok::Word { name, .. } => Some(name),
            _ => None,
        }
    }
}

fn tokens(sql: &str) -> Vec<Tok> {
    let Ok(toks) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Vec::new();
    };
    toks.into_iter()
        .filter_map(|t| match t {
            Token::Whitespace(_) | Token::EOF => None,
            Token::Word(w) => Some(match w.quote_style {
                Some(_) => Tok::Word {
                    upper: String::new(),
                    name: w.value,
                },
                None => Tok::Word {
                    upper: w.value.to_uppercase(),
                    name: w.value.to_lowercase(),
                },
            }),
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => Some(Tok::Str(s)),
            Token::DollarQuotedString(d) => Some(Tok::Body(d.value)),
            other => Some(Tok::Punct(other.to_string())),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Statements that run now.
    Run,
    /// A routine body: recorded for when it runs.
    Body,
}

/// A possibly qualified name at `i`: its last part and the index after it.
fn name_at(t: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut last = t.get(i)?.name()?.to_string();
    i += 1;
    while t.get(i).is_some_and(|x| x.punct(".")) {
        last = t.get(i + 1)?.name()?.to_string();
        i += 2;
    }
    Some((last, i))
}

/// Skips the given optional keywords (in order, each at most once).
fn skip(t: &[Tok], mut i: usize, words: &[&[&str]]) -> usize {
    for w in words {
        if w.iter()
            .enumerate()
            .all(|(k, kw)| t.get(i + k).is_some_and(|x| x.is(kw)))
        {
            i += w.len();
        }
    }
    i
}

fn is_seq(t: &[Tok], i: usize, words: &[&str]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| t.get(i + k).is_some_and(|x| x.is(w)))
}

/// The index of the matching close parenthesis, or the end.
fn after_parens(t: &[Tok], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(x) = t.get(i) {
        if x.punct("(") {
            depth += 1;
        } else if x.punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    i
}

/// The end of the statement (or clause list) at depth 0 from `i`.
fn statement_end(t: &[Tok], mut i: usize) -> usize {
    let mut depth = 0isize;
    while let Some(x) = t.get(i) {
        if x.punct("(") {
            depth += 1;
        } else if x.punct(")") {
            depth -= 1;
            if depth < 0 {
                return i;
            }
        } else if x.punct(";") && depth == 0 {
            return i;
        }
        i += 1;
    }
    i
}

fn scan(t: &[Tok], d: &mut Declared, r: &mut Routines, mode: Mode) {
    let mut i = 0;
    while i < t.len() {
        i = step(t, i, d, r, mode).max(i + 1);
    }
}

/// Reads what starts at `i` (if anything) and returns where to go on.
fn step(t: &[Tok], i: usize, d: &mut Declared, r: &mut Routines, mode: Mode) -> usize {
    let x = &t[i];
    if let Tok::Body(body) = x {
        // A DO block runs now; a routine body is recorded by its CREATE.
        if i > 0 && t[i - 1].is("DO") {
            scan(&tokens(body), d, r, mode);
        }
        return i + 1;
    }
    if is_seq(t, i, &["EXECUTE", "FORMAT"]) && t.get(i + 2).is_some_and(|x| x.punct("(")) {
        return execute_format(t, i + 3, d, r, mode);
    }
    let Tok::Word { upper, .. } = x else {
        return i + 1;
    };
    match upper.as_str() {
        "ALTER" => alter(t, i + 1, d, mode),
        "CREATE" => create(t, i + 1, d, r, mode),
        "DROP" => drop(t, i + 1, d, mode),
        "UPDATE" => update(t, i + 1, d, r, mode),
        "CALL" => {
            if let Some((n, j)) = name_at(t, i + 1) {
                if let Some(u) = r.updates.get(&n).cloned() {
                    d.writes.extend(u);
                }
                return j;
            }
            i + 1
        }
        "REINDEX" => {
            let j = skip(t, i + 1, &[&["INDEX"], &["TABLE"], &["CONCURRENTLY"]]);
            if let Some((n, j)) = name_at(t, j) {
                d.names.insert(n);
                return j;
            }
            i + 1
        }
        _ => i + 1,
    }
}

/// `EXECUTE format('template', args)`: the template with its literal
/// arguments put in, read as the statement it runs.
fn execute_format(t: &[Tok], i: usize, d: &mut Declared, r: &mut Routines, mode: Mode) -> usize {
    let end = after_parens(t, i - 1);
    // The arguments inside the parentheses, split at commas of depth 0.
    let mut parts: Vec<&[Tok]> = Vec::new();
    let (mut from, mut depth) = (i, 0isize);
    for k in i..end.saturating_sub(1) {
        if t[k].punct("(") {
            depth += 1;
        } else if t[k].punct(")") {
            depth -= 1;
        } else if t[k].punct(",") && depth == 0 {
            parts.push(&t[from..k]);
            from = k + 1;
        }
    }
    parts.push(&t[from..end.saturating_sub(1).max(from)]);
    let Some([Tok::Str(template)]) = parts.first().copied() else {
        return end;
    };
    let args = parts[1..].iter().map(|p| match p {
        [Tok::Str(s)] => s.clone(),
        _ => "x".to_string(),
    });
    let mut out = String::new();
    let mut args = args;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                Some('I') => {
                    out.push_str(&crate::ident::quote_pg(&args.next().unwrap_or_default()))
                }
                Some(_) => out.push_str(&args.next().unwrap_or_default()),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    scan(&tokens(&out), d, r, mode);
    end
}

fn depth0(t: &[Tok], from: usize, to: usize) -> bool {
    let mut depth = 0isize;
    for x in &t[from..to] {
        if x.punct("(") {
            depth += 1;
        } else if x.punct(")") {
            depth -= 1;
        }
    }
    depth == 0
}

fn alter(t: &[Tok], i: usize, d: &mut Declared, mode: Mode) -> usize {
    if mode == Mode::Body {
        return i;
    }
    let kinds: &[(&[&str], bool)] = &[
        (&["TABLE"], true),
        (&["INDEX"], false),
        (&["SEQUENCE"], false),
        (&["VIEW"], false),
        (&["MATERIALIZED", "VIEW"], false),
        (&["TYPE"], false),
        (&["FUNCTION"], false),
        (&["PROCEDURE"], false),
        (&["TRIGGER"], false),
    ];
    for (kw, table) in kinds {
        if !is_seq(t, i, kw) {
            continue;
        }
        let j = skip(t, i + kw.len(), &[&["IF", "EXISTS"], &["ONLY"]]);
        let Some((name, j)) = name_at(t, j) else {
            return j;
        };
        if !table {
            d.names.insert(name);
            // ... RENAME TO new (ALTER TRIGGER t ON tbl RENAME TO n too).
            let end = statement_end(t, j);
            if let Some(k) = (j..end).find(|&k| is_seq(t, k, &["RENAME", "TO"])) {
                if let Some((n, _)) = name_at(t, k + 2) {
                    d.names.insert(n);
                }
            }
            return end;
        }
        return alter_table(t, j, &name, d);
    }
    i
}

/// The actions of `ALTER TABLE name`, from `i`.
fn alter_table(t: &[Tok], mut i: usize, table: &str, d: &mut Declared) -> usize {
    let end = statement_end(t, i);
    let col = |d: &mut Declared, c: String| {
        d.columns.insert((table.to_string(), c));
    };
    while i < end {
        let action_end = (i..end)
            .find(|&k| t[k].punct(",") && depth0(t, i, k))
            .unwrap_or(end);
        let a = &t[i..action_end];
        let first = a.first();
        if first.is_some_and(|x| x.is("ADD")) {
            let j = skip(a, 1, &[&["COLUMN"], &["IF", "NOT", "EXISTS"]]);
            match a.get(j) {
                Some(x) if x.is("CONSTRAINT") => {
                    if let Some((n, _)) = name_at(a, j + 1) {
                        d.names.insert(n);
                    }
                    if let Some(k) = (0..a.len()).find(|&k| is_seq(a, k, &["USING", "INDEX"])) {
                        if let Some((n, _)) = name_at(a, k + 2) {
                            d.names.insert(n);
                        }
                    }
                }
                Some(x)
                    if ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE"]
                        .iter()
                        .any(|k| x.is(k)) =>
                {
                    d.unnamed_on.insert(table.to_string());
                }
                Some(x) => {
                    // Its inline constraints are built on it: declared with it.
                    if let Some(n) = x.name() {
                        col(d, n.to_string());
                    }
                }
                None => {}
            }
        } else if first.is_some_and(|x| x.is("DROP")) {
            let j = skip(a, 1, &[&["COLUMN"]]);
            if a.get(j).is_some_and(|x| x.is("CONSTRAINT")) {
                let k = skip(a, j + 1, &[&["IF", "EXISTS"]]);
                if let Some((n, _)) = name_at(a, k) {
                    d.names.insert(n);
                }
            } else {
                let k = skip(a, j, &[&["IF", "EXISTS"]]);
                if let Some(n) = a.get(k).and_then(Tok::name) {
                    col(d, n.to_string());
                }
            }
        } else if first.is_some_and(|x| x.is("ALTER")) {
            let j = skip(a, 1, &[&["COLUMN"]]);
            if a.get(j).is_some_and(|x| x.is("CONSTRAINT")) {
                if let Some((n, _)) = name_at(a, j + 1) {
                    d.names.insert(n);
                }
            } else if let Some(n) = a.get(j).and_then(Tok::name) {
                col(d, n.to_string());
                // A new type (USING ...) changes what the column holds.
                if a.iter().skip(j + 1).any(|x| x.is("TYPE")) {
                    d.writes.insert((table.to_string(), n.to_string()));
                }
            }
        } else if first.is_some_and(|x| x.is("RENAME")) {
            if a.get(1).is_some_and(|x| x.is("TO")) {
                d.tables.insert(table.to_string());
                if let Some((n, _)) = name_at(a, 2) {
                    d.tables.insert(n);
                }
            } else if a.get(1).is_some_and(|x| x.is("CONSTRAINT")) {
                for k in [2, 4] {
                    if let Some((n, _)) = name_at(a, k) {
                        d.names.insert(n);
                    }
                }
            } else {
                let j = skip(a, 1, &[&["COLUMN"]]);
                for k in [j, j + 2] {
                    if let Some(n) = a.get(k).and_then(Tok::name) {
                        col(d, n.to_string());
                    }
                }
            }
        } else if first.is_some_and(|x| x.is("VALIDATE")) {
            if let Some((n, _)) = name_at(a, 2) {
                d.names.insert(n);
            }
        } else if first.is_some_and(|x| x.is("ENABLE") || x.is("DISABLE")) {
            let j = skip(a, 1, &[&["ALWAYS"], &["REPLICA"]]);
            if a.get(j).is_some_and(|x| x.is("TRIGGER")) {
                if let Some((n, _)) = name_at(a, j + 1) {
                    d.names.insert(n);
                }
            }
        } else if first.is_some_and(|x| x.is("SET") || x.is("RESET")) {
            // SET SCHEMA moves the table and all on it.
            if a.get(1).is_some_and(|x| x.is("SCHEMA")) {
                d.tables.insert(table.to_string());
            }
        }
        i = action_end + 1;
    }
    end
}

fn create(t: &[Tok], i: usize, d: &mut Declared, r: &mut Routines, mode: Mode) -> usize {
    if mode == Mode::Body {
        return i;
    }
    let j = skip(t, i, &[&["OR", "REPLACE"], &["UNIQUE"], &["CONSTRAINT"]]);
    let j = skip(
        t,
        j,
        &[&["TEMPORARY"], &["TEMP"], &["UNLOGGED"], &["MATERIALIZED"]],
    );
    let Some(Tok::Word { upper, .. }) = t.get(j) else {
        return j;
    };
    match upper.as_str() {
        "TABLE" => {
            let k = skip(t, j + 1, &[&["IF", "NOT", "EXISTS"]]);
            if let Some((n, k)) = name_at(t, k) {
                d.tables.insert(n);
                return k;
            }
            k
        }
        "INDEX" => {
            let k = skip(t, j + 1, &[&["CONCURRENTLY"], &["IF", "NOT", "EXISTS"]]);
            if t.get(k).is_some_and(|x| x.is("ON")) {
                if let Some((tbl, k)) = name_at(t, skip(t, k + 1, &[&["ONLY"]])) {
                    d.unnamed_on.insert(tbl);
                    return k;
                }
                return k;
            }
            if let Some((n, k)) = name_at(t, k) {
                d.names.insert(n);
                return k;
            }
            k
        }
        "VIEW" | "SEQUENCE" | "TYPE" => {
            let k = skip(t, j + 1, &[&["IF", "NOT", "EXISTS"]]);
            if let Some((n, k)) = name_at(t, k) {
                d.names.insert(n);
                return k;
            }
            k
        }
        "TRIGGER" => {
            let Some((n, k)) = name_at(t, j + 1) else {
                return j + 1;
            };
            d.names.insert(n);
            let end = statement_end(t, k);
            let on = (k..end)
                .find(|&m| t[m].is("ON"))
                .and_then(|m| name_at(t, m + 1));
            let func = (k..end)
                .find(|&m| t[m].is("EXECUTE"))
                .and_then(|m| name_at(t, skip(t, m + 1, &[&["FUNCTION"], &["PROCEDURE"]])));
            if let (Some((table, _)), Some((f, _))) = (on, func) {
                if let Some(cols) = r.assigns.get(&f) {
                    for c in cols {
                        d.writes.insert((table.clone(), c.clone()));
                    }
                }
                r.trigger_tables.entry(f).or_default().insert(table);
            }
            end
        }
        "FUNCTION" | "PROCEDURE" => {
            let Some((n, k)) = name_at(t, j + 1) else {
                return j + 1;
            };
            d.names.insert(n.clone());
            let end = statement_end(t, k);
            for x in &t[k..end] {
                if let Tok::Body(body) = x {
                    let (updates, assigns) = routine_body(body);
                    // Its trigger's table, when a trigger of the script runs it.
                    let tables = r.trigger_tables.get(&n).cloned().unwrap_or_default();
                    for c in &assigns {
                        if tables.is_empty() {
                            d.writes.insert(("*".into(), c.clone()));
                        }
                        for tbl in &tables {
                            d.writes.insert((tbl.clone(), c.clone()));
                        }
                    }
                    r.updates.entry(n.clone()).or_default().extend(updates);
                    r.assigns.entry(n.clone()).or_default().extend(assigns);
                }
            }
            end
        }
        _ => j,
    }
}

/// The columns a routine body UPDATEs, and the NEW columns it assigns
/// (`NEW.c := ...`, `NEW.c = ...`, `SELECT ... INTO NEW.c`).
fn routine_body(body: &str) -> (BTreeSet<Col>, BTreeSet<String>) {
    let t = tokens(body);
    let mut d = Declared::default();
    let mut r = Routines::default();
    for i in 0..t.len() {
        if t[i].is("UPDATE") {
            update(&t, i + 1, &mut d, &mut r, Mode::Body);
        }
    }
    let mut assigns = BTreeSet::new();
    for i in 0..t.len() {
        let new_at = |k: usize| {
            t.get(k).is_some_and(|x| x.is("NEW")) && t.get(k + 1).is_some_and(|x| x.punct("."))
        };
        if new_at(i) {
            let Some(c) = t.get(i + 2).and_then(Tok::name) else {
                continue;
            };
            let assigned = t.get(i + 3).is_some_and(|x| x.punct(":=") || x.punct("="))
                && !(i > 0
                    && (t[i - 1].punct("(")
                        || t[i - 1].is("IF")
                        || t[i - 1].is("AND")
                        || t[i - 1].is("OR")
                        || t[i - 1].is("WHEN")
                        || t[i - 1].is("ELSIF")));
            let into = i > 0 && t[i - 1].is("INTO");
            if assigned || into {
                assigns.insert(c.to_string());
            }
        }
    }
    (d.writes, assigns)
}

fn drop(t: &[Tok], i: usize, d: &mut Declared, mode: Mode) -> usize {
    if mode == Mode::Body {
        return i;
    }
    let j = skip(t, i, &[&["MATERIALIZED"]]);
    let Some(Tok::Word { upper, .. }) = t.get(j) else {
        return j;
    };
    let table = upper == "TABLE";
    if ![
        "TABLE",
        "INDEX",
        "VIEW",
        "SEQUENCE",
        "TYPE",
        "FUNCTION",
        "PROCEDURE",
        "TRIGGER",
    ]
    .contains(&upper.as_str())
    {
        return j;
    }
    let mut k = skip(t, j + 1, &[&["CONCURRENTLY"], &["IF", "EXISTS"]]);
    let end = statement_end(t, k);
    // A list of names, each maybe with an argument list; DROP TRIGGER n ON t.
    while k < end {
        let Some((n, next)) = name_at(t, k) else {
            break;
        };
        if table {
            d.tables.insert(n);
        } else {
            d.names.insert(n);
        }
        k = next;
        if t.get(k).is_some_and(|x| x.punct("(")) {
            k = after_parens(t, k);
        }
        if t.get(k).is_some_and(|x| x.punct(",")) {
            k += 1;
        } else {
            break;
        }
    }
    end
}

fn update(t: &[Tok], i: usize, d: &mut Declared, _r: &mut Routines, _mode: Mode) -> usize {
    let j = skip(t, i, &[&["ONLY"]]);
    let Some((table, mut k)) = name_at(t, j) else {
        return j;
    };
    // An alias: [AS] name before SET.
    if t.get(k).is_some_and(|x| x.is("AS")) {
        k += 1;
    }
    if !t.get(k).is_some_and(|x| x.is("SET")) {
        k += 1;
    }
    if !t.get(k).is_some_and(|x| x.is("SET")) {
        return k;
    }
    k += 1;
    let end = statement_end(t, k);
    let stop = (k..end)
        .find(|&m| ["WHERE", "FROM", "RETURNING"].iter().any(|w| t[m].is(w)) && depth0(t, k, m))
        .unwrap_or(end);
    // Targets: `c = ...` or `(a, b) = ...`, separated by commas at depth 0.
    let mut expect_target = true;
    let mut m = k;
    while m < stop {
        if expect_target {
            if t[m].punct("(") {
                let close = after_parens(t, m);
                for x in &t[m + 1..close.saturating_sub(1)] {
                    if let Some(n) = x.name() {
                        d.writes.insert((table.clone(), n.to_string()));
                    }
                }
                m = close;
            } else if let Some(n) = t[m].name() {
                d.writes.insert((table.clone(), n.to_string()));
                m += 1;
            }
            expect_target = false;
            continue;
        }
        if t[m].punct("(") {
            m = after_parens(t, m);
            continue;
        }
        if t[m].punct(",") {
            expect_target = true;
        }
        m += 1;
    }
    stop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, c: &str) -> Col {
        (t.to_string(), c.to_string())
    }

    #[test]
    fn guarded_ddl_declares_what_it_names() {
        let sql = "DO $migrate$\nBEGIN\n  FOR attempt IN 1..10 LOOP\n    BEGIN\n      SET LOCAL lock_timeout = '200ms';\n      DROP TRIGGER IF EXISTS users_handle_sync ON users;\n      DROP FUNCTION IF EXISTS schemashift_sync_users_handle();\n      ALTER TABLE users DROP COLUMN username, ADD CONSTRAINT users_pkey2 PRIMARY KEY USING INDEX users_id2_key;\n      RETURN;\n    EXCEPTION WHEN lock_not_available THEN\n      PERFORM pg_sleep(1);\n    END;\n  END LOOP;\nEND\n$migrate$;";
        let d = declared([sql], &Routines::default());
        assert!(d.name("users_handle_sync") && d.name("schemashift_sync_users_handle"));
        assert!(d.name("users_pkey2") && d.name("users_id2_key"));
        assert!(d.column("users", "username"));
        assert!(!d.column("users", "email"));
        assert!(d.writes.is_empty(), "{d:?}");
    }

    #[test]
    fn statements_declare_their_objects() {
        let d = declared(
            [
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"Idx\" ON public.users (handle);",
                "DROP INDEX CONCURRENTLY IF EXISTS a_idx, b_idx;",
                "ALTER TABLE ONLY users RENAME COLUMN username TO handle;",
                "ALTER TABLE customers RENAME TO clients;",
                "ALTER TYPE shipment_status ADD VALUE IF NOT EXISTS 'returned';",
                "CREATE VIEW customers AS SELECT * FROM clients;",
                "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint USING quantity::bigint;",
                "ALTER TABLE orders ADD PRIMARY KEY (id);",
            ],
            &Routines::default(),
        );
        assert!(d.name("Idx") && d.name("a_idx") && d.name("b_idx") && !d.name("idx"));
        assert!(d.column("users", "username") && d.column("users", "handle"));
        assert!(d.table("customers") && d.table("clients"));
        assert!(d.name("shipment_status") && d.name("customers"));
        assert!(d.writes("orders", "quantity"));
        assert!(d.unnamed_on.contains("orders"));
    }

    #[test]
    fn updates_and_routines_declare_their_writes() {
        let proc = "CREATE PROCEDURE fill(batch_size integer DEFAULT 5000) LANGUAGE plpgsql AS $backfill$\nBEGIN\n  UPDATE users SET handle = \"username\", (a, b) = (1, 2) WHERE id >= 1 AND ROW(handle) IS DISTINCT FROM ROW(\"username\");\n  COMMIT;\nEND\n$backfill$;";
        let func = "CREATE FUNCTION sync() RETURNS trigger LANGUAGE plpgsql AS $sync$\nBEGIN\n  IF NEW.\"handle\" IS NULL THEN\n    SELECT \"username\" INTO NEW.\"handle\" FROM (SELECT NEW.*) AS r;\n  ELSIF NEW.x = 1 THEN NEW.y := 2;\n  END IF;\n  UPDATE prefs p SET phone = NEW.phone WHERE p.user_id = NEW.id;\n  RETURN NEW;\nEND\n$sync$;";
        let trig = "CREATE TRIGGER t_sync BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync();";
        let r = Routines::of([proc, func, trig]);
        let d = declared(["CALL fill();"], &r);
        assert_eq!(
            d.writes,
            [col("users", "a"), col("users", "b"), col("users", "handle")].into()
        );
        let d = declared([func, trig], &r);
        assert!(d.writes("users", "handle") && d.writes("users", "y"));
        assert!(!d.writes("users", "x") && !d.writes("users", "username"));
        assert_eq!(r.cross_table_writes(), [col("prefs", "phone")].into());
        // Not run: the routine's UPDATE is not the phase's.
        assert!(!declared([proc], &r).writes("users", "handle"));
        let d = declared(
            ["UPDATE ONLY users AS u SET email = lower(email) WHERE id < 5;"],
            &r,
        );
        assert_eq!(d.writes, [col("users", "email")].into());
    }

    #[test]
    fn execute_format_is_read_with_its_literals() {
        let sql = "DO $m$ BEGIN EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', 'users', 'Handle', (SELECT format_type(1, 2))); END $m$;";
        let d = declared([sql], &Routines::default());
        assert!(d.column("users", "Handle"), "{d:?}");
    }
}
