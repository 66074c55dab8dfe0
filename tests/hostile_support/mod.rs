//! Hostile names and a SQL lexer, for tests/hostile_names.rs.
//!
//! The names are built from pieces that break naive quoting: quotes of both
//! kinds, `;`, comment markers, backslashes, dollar-quote tags the planner
//! uses, `format()` placeholders, look-alike letters, upper case, spaces,
//! and payloads that name [`MARKER`]. A fixed-seed xorshift generator makes
//! every run the same.

#![allow(dead_code)]

/// The word every payload names: it may appear in generated SQL only inside
/// a quoted identifier or a string literal.
pub const MARKER: &str = "canary_drop_marker";

/// xorshift64*: tiny, deterministic, good enough to pick pieces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces of hostile names. Each payload is a complete statement that would
/// change a canary object if it ever ran.
const PIECES: &[&str] = &[
    "'",
    "''",
    "\"",
    "\"\"",
    "`",
    ";",
    "--",
    "/*",
    "*/",
    "\\",
    "\\'",
    "$$",
    "$migrate$",
    "$backfill$",
    "$sync$",
    "$push$",
    "$schemashift$",
    "$1",
    "%I",
    "%L",
    "%s",
    "%",
    "?",
    ":name",
    "${x}",
    " ",
    "  ",
    ".",
    ",",
    "(",
    ")",
    "Users",
    "ÜSER",
    "İ",
    "ß",
    "аdmin",
    "ｓｅｌｅｃｔ",
    "ǅ",
    "\u{200b}",
    "\u{2028}",
    "select",
    "user",
    "E'",
    "U&'",
    "'; DROP TABLE canary_drop_marker; --",
    "\"; DROP TABLE canary_drop_marker; --",
    "'); DROP TABLE canary_drop_marker; --",
    "$$; DROP TABLE canary_drop_marker; $$",
    "*/ DROP TABLE canary_drop_marker; /*",
    "\\'; DROP TABLE canary_drop_marker; --",
    "'||canary_drop_marker()||'",
    "$backfill$; DROP TABLE canary_drop_marker;",
    "%I'); DROP TABLE canary_drop_marker; --",
    "`; DROP TABLE canary_drop_marker; --",
    "' ; UPDATE canary_drop_marker SET v = 'x",
];

/// Letters for the plain part of a name (and to keep names apart).
const LETTERS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', 'Z', '_', '0', '7', 'é', 'Ж', '名',
];

/// PostgreSQL's limit on a name, in bytes.
pub const MAX_BYTES: usize = 63;

/// `s` cut to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Whole names that the generated SQL itself uses: PL/pgSQL variables and
/// parameters of the backfill procedure and the retry block, the trigger
/// records, and the aliases of the generated queries.
const OWN_WORDS: &[&str] = &[
    "batch_start",
    "batch_end",
    "batch_size",
    "pause_ms",
    "start_after",
    "attempt",
    "new",
    "old",
    "tg_op",
    "r",
    "k",
    "batch",
    "bounds",
    "work",
    "hi",
    "t",
    "s",
    "d",
    "b",
    "p",
    "c",
    "dup",
    "excluded",
];

/// One hostile name of 1..=63 bytes: pieces and letters, sometimes padded
/// to 60-63 bytes (with multi-byte characters at the cut).
pub fn name(rng: &mut Rng) -> String {
    if rng.below(8) == 0 {
        return rng.pick(OWN_WORDS).to_string();
    }
    let mut s = String::new();
    for _ in 0..1 + rng.below(4) {
        if rng.below(3) == 0 {
            s.push(*rng.pick(LETTERS));
        } else {
            let piece: &&str = rng.pick(PIECES);
            s.push_str(piece);
        }
    }
    if rng.below(4) == 0 {
        let target = 60 + rng.below(4);
        while s.len() < target {
            s.push(*rng.pick(LETTERS));
        }
    }
    let s = cut(&s, MAX_BYTES);
    if s.trim().is_empty() {
        format!("{s}x")
    } else {
        s
    }
}

/// `n` distinct hostile names (also distinct from `taken`).
pub fn names(rng: &mut Rng, n: usize, taken: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut candidate = name(rng);
        // A letter keeps names apart (and from the planner's own names).
        if taken.contains(&candidate)
            || (rng.below(2) == 0 && !OWN_WORDS.contains(&candidate.as_str()))
        {
            candidate = cut(&format!("{}{}", rng.pick(LETTERS), candidate), MAX_BYTES);
        }
        if !taken.contains(&candidate) {
            taken.push(candidate.clone());
            out.push(candidate);
        }
    }
    out
}

/// A PostgreSQL identifier in double quotes, written independently of the
/// crate's own quoting.
pub fn qi(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal, written independently of the crate.
pub fn ql(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

// ---------------------------------------------------------------------------
// The lexer
// ---------------------------------------------------------------------------

/// Which engine's lexical rules apply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Postgres,
    Mysql,
}

/// Where `MARKER` appears outside quoted identifiers and string literals in
/// `sql`, or where the text's quoting is broken (an unterminated string,
/// identifier, dollar quote or comment). Dollar-quoted bodies are lexed
/// again as SQL: the plans' bodies are PL/pgSQL, and a name that escaped a
/// literal inside one is as bad as one that escaped at the top.
pub fn violations(sql: &str, dialect: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    lex(sql, dialect, 0, &mut out);
    out
}

/// Like [`violations`], for whole migration files, whose comments quote
/// the plan's summary and titles (names included): the marker may be in a
/// comment, but a comment must not end early and let it become code.
pub fn code_violations(sql: &str) -> Vec<String> {
    violations(sql, Dialect::Postgres)
        .into_iter()
        .filter(|v| !v.contains("(comment,"))
        .collect()
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || (c as u32) >= 0x80
}

fn ident_char(c: char, dialect: Dialect) -> bool {
    c.is_alphanumeric()
        || c == '_'
        || (c as u32) >= 0x80
        || (c == '$' && dialect == Dialect::Postgres)
}

fn lex(sql: &str, dialect: Dialect, depth: usize, out: &mut Vec<String>) {
    let chars: Vec<char> = sql.chars().collect();
    let text = |a: usize, b: usize| chars[a..b.min(chars.len())].iter().collect::<String>();
    let mut i = 0;
    let flag = |what: &str, s: &str, out: &mut Vec<String>| {
        if s.to_lowercase().contains(MARKER) {
            out.push(format!(
                "{MARKER} outside quotes ({what}, depth {depth}): {s}"
            ));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        // Comments: the text in them is outside any quote.
        if c == '-' && next == Some('-') || (c == '#' && dialect == Dialect::Mysql) {
            let start = i;
            while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
            }
            flag("comment", &text(start, i), out);
            continue;
        }
        if c == '/' && next == Some('*') {
            let start = i;
            let mut level = 0;
            loop {
                if i + 1 >= chars.len() {
                    out.push(format!(
                        "unterminated /* comment at depth {depth}: {}",
                        text(start, i + 1)
                    ));
                    return;
                }
                if chars[i] == '/' && chars[i + 1] == '*' {
                    level += 1;
                    i += 2;
                } else if chars[i] == '*' && chars[i + 1] == '/' {
                    level -= 1;
                    i += 2;
                    // PostgreSQL nests block comments; MySQL does not.
                    if level == 0 || dialect == Dialect::Mysql {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            flag("comment", &text(start, i), out);
            continue;
        }
        // String literals and quoted names.
        let quote = match (c, dialect) {
            ('\'', _) | ('"', _) => Some(c),
            ('`', Dialect::Mysql) => Some(c),
            _ => None,
        };
        if let Some(q) = quote {
            let escapes = match dialect {
                Dialect::Mysql => q != '`',
                Dialect::Postgres => {
                    q == '\''
                        && i > 0
                        && matches!(chars[i - 1], 'e' | 'E')
                        && (i < 2 || !ident_char(chars[i - 2], dialect))
                }
            };
            let start = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        out.push(format!(
                            "unterminated {q} at depth {depth}: {}",
                            text(start, i)
                        ));
                        return;
                    }
                    Some('\\') if escapes => i += 2,
                    Some(&x) if x == q => {
                        if chars.get(i + 1) == Some(&q) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            continue;
        }
        // Dollar quotes: the body is SQL (PL/pgSQL) again.
        if c == '$'
            && dialect == Dialect::Postgres
            && (i == 0 || !ident_char(chars[i - 1], dialect))
        {
            let mut j = i + 1;
            if j < chars.len() && ident_start(chars[j]) && !chars[j].is_ascii_digit() {
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || chars[j] == '_' || (chars[j] as u32) >= 0x80)
                {
                    j += 1;
                }
            }
            if chars.get(j) == Some(&'$') {
                let tag = text(i, j + 1);
                let rest = text(j + 1, chars.len());
                match rest.find(&tag) {
                    Some(p) => {
                        lex(&rest[..p], dialect, depth + 1, out);
                        let consumed = rest[..p].chars().count() + tag.chars().count();
                        i = j + 1 + consumed;
                        continue;
                    }
                    None => {
                        out.push(format!("unterminated dollar quote {tag} at depth {depth}"));
                        return;
                    }
                }
            }
            // `$1`: a parameter.
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i], dialect) {
                i += 1;
            }
            // A made-up name such as `t_canary_drop_marker_idx` is one
            // harmless word; an escaped payload names the canary itself.
            let word = text(start, i);
            if word.eq_ignore_ascii_case(MARKER) {
                flag("bare word", &word, out);
            }
            continue;
        }
        i += 1;
    }
}

#[test]
fn the_lexer_finds_escaped_names() {
    let p = Dialect::Postgres;
    assert!(violations("SELECT 1 FROM \"canary_drop_marker\"", p).is_empty());
    assert!(violations("SELECT 'a''; DROP TABLE canary_drop_marker; --'", p).is_empty());
    assert!(!violations("SELECT 'a'; DROP TABLE canary_drop_marker; --'", p).is_empty());
    assert!(!violations(
        "DO $x$ BEGIN RAISE NOTICE 'a'; DROP TABLE canary_drop_marker; RAISE NOTICE ''; END $x$",
        p
    )
    .is_empty());
    assert!(violations(
        "DO $x$ BEGIN RAISE NOTICE '%', 'a''; DROP TABLE canary_drop_marker'; END $x$",
        p
    )
    .is_empty());
    assert!(!violations("SELECT 1 -- canary_drop_marker", p).is_empty());
    assert!(!violations("SELECT E'\\''; DROP TABLE canary_drop_marker; --'", p).is_empty());
    assert!(!violations("SELECT 'unterminated", p).is_empty());
    let m = Dialect::Mysql;
    assert!(violations(
        "ALTER TABLE `a``; DROP TABLE canary_drop_marker` ADD x int",
        m
    )
    .is_empty());
    assert!(!violations(
        "ALTER TABLE `a`; DROP TABLE canary_drop_marker` ADD x int",
        m
    )
    .is_empty());
    assert!(violations("SELECT 'a\\'; DROP TABLE canary_drop_marker; #'", m).is_empty());
}
