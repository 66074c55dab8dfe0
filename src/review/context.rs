//! Each statement with what the rules need to know about where it runs: its
//! parsed form (when sqlparser can parse it), its leading keywords (when it
//! cannot), the transaction it is in, whether lock_timeout is set, and which
//! tables were created earlier in the same file (new and empty, so indexes and
//! constraints on them are harmless).

use super::ReviewOptions;
use crate::change::ddl::split_statements;
use crate::context::Engine;
use sqlparser::ast::{ObjectName, Statement};
use sqlparser::parser::Parser;
use std::collections::HashMap;
use std::sync::Arc;

/// One statement in its context.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub index: usize,
    /// The statement text, without the terminating semicolon.
    pub text: String,
    /// 1-based position of its first token in the file.
    pub line: usize,
    pub column: usize,
    /// The parsed statement; `None` when sqlparser cannot parse it.
    pub ast: Option<Statement>,
    /// The first words, upper-cased, quotes and punctuation kept apart:
    /// how statements sqlparser cannot parse are recognised.
    pub words: Vec<String>,
    /// Inside an explicit BEGIN ... COMMIT, or in a file the migration tool
    /// wraps in a transaction.
    pub in_transaction: bool,
    /// Which transaction (statements in autocommit each get their own number).
    pub txn: usize,
    /// A non-zero lock_timeout is in force for this statement.
    pub lock_timeout_set: bool,
    /// Tables created earlier in the file (last name part, lower-case).
    pub new_tables: NewTables,
    /// Rule ids silenced for this statement by a `-- schemashift-ignore` comment.
    pub ignored: Vec<String>,
    /// `-- schemashift-ignore` with no ids: every rule.
    pub ignored_all: bool,
}

/// The tables created before one statement: a view into one map shared by
/// every statement of the file (a set per statement would make a file of n
/// statements cost n times the tables it creates, in time and memory).
#[derive(Debug, Clone, Default)]
pub struct NewTables {
    /// Each table created in the file, with the index of the first statement creating it.
    created: Arc<HashMap<String, usize>>,
    /// The statement this view belongs to: tables created before it count.
    before: usize,
}

impl NewTables {
    /// Whether a table (last name part, lower-case) was created earlier in the file.
    pub fn contains(&self, table: &str) -> bool {
        self.created.get(table).is_some_and(|&i| i < self.before)
    }

    /// The tables created earlier in the file, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.created
            .iter()
            .filter(|(_, &i)| i < self.before)
            .map(|(t, _)| t.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl Stmt {
    pub fn ignores(&self, rule: &str) -> bool {
        self.ignored.iter().any(|r| r == rule)
    }

    /// Whether the statement starts with these words (upper-case).
    pub fn starts_with(&self, words: &[&str]) -> bool {
        words.len() <= self.words.len() && words.iter().zip(&self.words).all(|(a, b)| a == b)
    }

    /// Whether a table (any qualification) was created earlier in this file.
    pub fn is_new_table(&self, name: &ObjectName) -> bool {
        self.new_tables.contains(&last_part(name))
    }

    pub fn is_new_table_named(&self, name: &str) -> bool {
        let part = name.rsplit('.').next().unwrap_or(name);
        // Matched the way `last_part` stores names: quoted keep their case.
        let n = if part.starts_with('"') {
            part.trim_matches('"').to_string()
        } else {
            part.to_lowercase()
        };
        self.new_tables.contains(&n)
    }

    /// The statement shortened for messages.
    pub fn snippet(&self) -> String {
        let one_line = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > 160 {
            format!("{}...", one_line.chars().take(157).collect::<String>())
        } else {
            one_line
        }
    }
}

/// The last part of a name, lower-cased unless quoted: how tables are matched.
pub fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .map(|p| {
            let s = p.to_string();
            if s.starts_with('"') {
                s.trim_matches('"').to_string()
            } else {
                s.to_lowercase()
            }
        })
        .unwrap_or_default()
}

/// The statements of one source, ready for the rules.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub engine: Engine,
    pub pg_version: u32,
    pub stmts: Vec<Stmt>,
}

impl Ctx {
    /// `line_offset` is added to line numbers (for sections cut out of a
    /// file); `wrapped` means the tool runs the whole text in one transaction.
    pub fn new(source: &str, line_offset: usize, opts: &ReviewOptions, wrapped: bool) -> Ctx {
        let dialect = crate::sqltext::dialect(opts.engine);
        let wrapped = wrapped || opts.assume_in_transaction;
        let pieces = split_statements(source, opts.engine);
        let mut stmts = Vec::with_capacity(pieces.len());
        let mut explicit_txn = false;
        let mut txn = 0usize;
        let mut session_timeout = false;
        let mut local_timeout = false;
        let mut created: HashMap<String, usize> = HashMap::new();
        let mut prev_end = 0usize;
        for (index, p) in pieces.into_iter().enumerate() {
            let gap = source.get(prev_end..p.byte_offset).unwrap_or("");
            prev_end = p.byte_offset + p.text.len();
            let (ignored, ignored_all) = ignore_comments(gap);
            let words = leading_words(&p.text, 8);
            let ast = Parser::parse_sql(dialect.as_ref(), &p.text)
                .ok()
                .and_then(|mut v| (v.len() == 1).then(|| v.remove(0)));
            let w0 = words.first().map(String::as_str).unwrap_or("");
            let begins =
                matches!(w0, "BEGIN" | "START") && !words.get(1).is_some_and(|w| w == "ATOMIC");
            let ends = matches!(w0, "COMMIT" | "ROLLBACK" | "END")
                && !words.get(1).is_some_and(|w| w == "TO");
            if begins {
                explicit_txn = true;
                txn += 1;
            }
            let in_transaction = explicit_txn || wrapped;
            if !in_transaction && !begins && !ends {
                txn += 1;
            }
            if w0 == "SET" || w0 == "RESET" {
                let local = words.get(1).is_some_and(|w| w == "LOCAL");
                if words.iter().any(|w| w == "LOCK_TIMEOUT") {
                    let zero = w0 == "RESET" || is_zero_timeout(&p.text);
                    if local {
                        local_timeout = !zero;
                    } else {
                        session_timeout = !zero;
                    }
                }
            }
            let lock_timeout_set = session_timeout
                || (local_timeout && in_transaction)
                || p.text.to_ascii_lowercase().contains("lock_timeout");
            stmts.push(Stmt {
                index,
                line: p.line + line_offset,
                column: p.column,
                text: p.text,
                ast,
                words,
                in_transaction: in_transaction && !begins && !ends,
                txn,
                lock_timeout_set,
                new_tables: NewTables::default(),
                ignored,
                ignored_all,
            });
            if let Some(Statement::CreateTable(ct)) = &stmts.last().and_then(|s| s.ast.as_ref()) {
                created.entry(last_part(&ct.name)).or_insert(index);
            }
            if ends {
                explicit_txn = false;
                local_timeout = false;
                txn += 1;
            }
        }
        let created = Arc::new(created);
        for s in &mut stmts {
            s.new_tables = NewTables {
                created: Arc::clone(&created),
                before: s.index,
            };
        }
        Ctx {
            engine: opts.engine,
            pg_version: opts.pg_version,
            stmts,
        }
    }

    /// Statements of the same transaction before this one.
    pub fn earlier_in_txn<'a>(&'a self, stmt: &'a Stmt) -> impl Iterator<Item = &'a Stmt> + 'a {
        self.stmts[..stmt.index]
            .iter()
            .filter(move |s| s.txn == stmt.txn && stmt.in_transaction)
    }

    /// Statements of the same transaction after this one.
    pub fn later_in_txn<'a>(&'a self, stmt: &'a Stmt) -> impl Iterator<Item = &'a Stmt> + 'a {
        self.stmts[stmt.index + 1..]
            .iter()
            .filter(move |s| s.txn == stmt.txn && stmt.in_transaction)
    }

    /// Every statement before this one in the file.
    pub fn earlier<'a>(&'a self, stmt: &'a Stmt) -> &'a [Stmt] {
        &self.stmts[..stmt.index]
    }
}

fn is_zero_timeout(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let value = lower
        .split(['=', ' '])
        .filter(|w| !w.is_empty())
        .last()
        .unwrap_or("");
    let value = value.trim_matches(|c| c == '\'' || c == '"' || c == ';');
    value == "0" || value == "default" || value.starts_with("0ms") || value == "0s"
}

/// `-- schemashift-ignore rule-a, rule-b` in the comments before a statement.
fn ignore_comments(gap: &str) -> (Vec<String>, bool) {
    let mut ids = Vec::new();
    let mut all = false;
    for line in gap.lines() {
        let Some(rest) = line.trim().strip_prefix("--").map(str::trim) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("schemashift-ignore") else {
            continue;
        };
        if rest.starts_with("-file") {
            continue;
        }
        let list: Vec<String> = rest
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if list.is_empty() {
            all = true;
        }
        ids.extend(list);
    }
    (ids, all)
}

/// The first `n` words of a statement, upper-cased; comments skipped.
pub fn leading_words(text: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while words.len() < n {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, b)| b);
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, b)| b);
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';')
            .unwrap_or(rest.len());
        if end == 0 {
            if rest.is_empty() {
                break;
            }
            let c = rest.chars().next().unwrap_or(' ');
            words.push(c.to_string());
            rest = &rest[c.len_utf8()..];
            continue;
        }
        words.push(rest[..end].to_uppercase());
        rest = &rest[end..];
    }
    words
}
