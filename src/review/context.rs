//! Each statement with what the rules need to know about where it runs: its
//! parsed form (when sqlparser can parse it), its leading keywords (when it
//! cannot), the transaction it is in, whether lock_timeout is set, and which
//! tables were created earlier in the same file (new and empty, so indexes and
//! constraints on them are harmless).

use super::ReviewOptions;
use crate::change::ddl::split_statements;
use crate::context::Engine;
use sqlparser::ast::{
    AlterTable, CreateIndex, Delete, Insert, ObjectName, ObjectNamePart, Statement, Update,
};
use sqlparser::parser::Parser;
use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

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
    pub ast: Option<Ast>,
    /// The first words, upper-cased, quotes and punctuation kept apart,
    /// joined by spaces (one string rather than a vector of them: a fifth of
    /// the memory): how statements sqlparser cannot parse are recognised.
    /// See [`Stmt::words`].
    words: String,
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

/// A parsed statement, kept compactly. sqlparser's `Statement` takes 3.4 kB
/// whatever its kind (its largest variant is stored inline), and the vectors
/// the parser grows hold up to four times what they use: kept as parsed, the
/// statements of a 2 MB file held 120 MB. Each kind is boxed at its own size,
/// after a copy that sizes every vector and string to fit, and the kinds no
/// rule reads are kept only as parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    AlterTable(Box<AlterTable>),
    CreateIndex(Box<CreateIndex>),
    Update(Box<Update>),
    Insert(Box<Insert>),
    Delete(Box<Delete>),
    /// Another kind a rule reads ([`Ast::read_whole`]), whole.
    Other(Box<Statement>),
    /// A kind no rule reads (SET, COMMENT, BEGIN ...): only that it parsed.
    Unread,
}

impl Ast {
    pub fn new(parsed: Statement) -> Ast {
        // `clone` allocates every vector and string at its length: the copy
        // is the compact one, the parser's is dropped.
        match parsed {
            Statement::AlterTable(x) => Ast::AlterTable(Box::new(x.clone())),
            Statement::CreateIndex(x) => Ast::CreateIndex(Box::new(x.clone())),
            Statement::Update(x) => Ast::Update(Box::new(x.clone())),
            Statement::Insert(x) => Ast::Insert(Box::new(x.clone())),
            Statement::Delete(x) => Ast::Delete(Box::new(x.clone())),
            other if Ast::read_whole(&other) => Ast::Other(Box::new(other.clone())),
            _ => Ast::Unread,
        }
    }

    /// The other kinds some rule reads. A rule reading a kind not listed
    /// here would see it as [`Ast::Unread`]: add the kind here.
    fn read_whole(s: &Statement) -> bool {
        matches!(
            s,
            Statement::CreateTable(_)
                | Statement::Drop { .. }
                | Statement::Truncate(_)
                | Statement::Lock(_)
                | Statement::RenameTable(_)
                | Statement::Query(_)
                | Statement::CreateTrigger(_)
                | Statement::DropTrigger(_)
                | Statement::AlterType(_)
                | Statement::CreateType { .. }
                | Statement::CreateView(_)
                | Statement::Vacuum(_)
                | Statement::Copy { .. }
        )
    }

    /// The statement of a kind kept whole ([`Ast::Other`]).
    pub fn other(&self) -> Option<&Statement> {
        match self {
            Ast::Other(s) => Some(s),
            _ => None,
        }
    }

    /// The statement as sqlparser's type again (none for a kind no rule
    /// reads), to be changed and printed.
    pub fn to_statement(&self) -> Option<Statement> {
        Some(match self {
            Ast::AlterTable(x) => Statement::AlterTable((**x).clone()),
            Ast::CreateIndex(x) => Statement::CreateIndex((**x).clone()),
            Ast::Update(x) => Statement::Update((**x).clone()),
            Ast::Insert(x) => Statement::Insert((**x).clone()),
            Ast::Delete(x) => Statement::Delete((**x).clone()),
            Ast::Other(s) => (**s).clone(),
            Ast::Unread => return None,
        })
    }
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
        let mut have = self.words();
        words.iter().all(|w| have.next() == Some(*w))
    }

    /// The first words, upper-cased, quotes and punctuation kept apart
    /// ([`leading_words`]; words never hold a space).
    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.words.split(' ').filter(|w| !w.is_empty())
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
    // Rules call this for every earlier statement they look back at, so the
    // common identifiers skip formatting; they give what formatting would.
    match name.0.last() {
        None => String::new(),
        Some(ObjectNamePart::Identifier(id)) if id.quote_style.is_none() => id.value.to_lowercase(),
        Some(ObjectNamePart::Identifier(id))
            if id.quote_style == Some('"') && !id.value.contains('"') =>
        {
            id.value.clone()
        }
        Some(p) => {
            let s = p.to_string();
            if s.starts_with('"') {
                s.trim_matches('"').to_string()
            } else {
                s.to_lowercase()
            }
        }
    }
}

/// Above this much SQL the statements are parsed on several threads.
const PARALLEL_PARSE_BYTES: usize = 64 * 1024;

/// Parses each statement on its own into its `ast` (`None` when sqlparser
/// cannot, or when the text holds more than one statement). Large scripts
/// are cut into one run of statements per core, each parsed on its own
/// thread: parsing is most of a review's time and every statement parses
/// independently.
fn parse_into(stmts: &mut [Stmt], engine: Engine) {
    let total: usize = stmts.iter().map(|s| s.text.len()).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || total < PARALLEL_PARSE_BYTES {
        parse_run(stmts, engine);
        return;
    }
    let per_thread = total.div_ceil(threads);
    std::thread::scope(|scope| {
        let mut rest = stmts;
        let mut handles = Vec::new();
        while !rest.is_empty() {
            let len = run_len(rest, per_thread);
            let (run, tail) = rest.split_at_mut(len);
            rest = tail;
            let spawned = std::thread::Builder::new()
                // The main thread's stack size: deep expressions parse
                // recursively, and must not fail here when they would not on
                // the caller's thread.
                .stack_size(8 << 20)
                .spawn_scoped(scope, move || parse_run(run, engine));
            match spawned {
                Ok(h) => handles.push(h),
                // No thread to be had: parse the rest here.
                Err(_) => {
                    parse_run(rest, engine);
                    break;
                }
            }
        }
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// How many of the first statements make about `bytes` bytes (at least one).
fn run_len(stmts: &[Stmt], bytes: usize) -> usize {
    let mut size = 0;
    for (i, s) in stmts.iter().enumerate() {
        size += s.text.len();
        if size >= bytes {
            return i + 1;
        }
    }
    stmts.len()
}

fn parse_run(run: &mut [Stmt], engine: Engine) {
    let dialect = crate::sqltext::dialect(engine);
    for s in run {
        s.ast = Parser::parse_sql(dialect.as_ref(), &s.text)
            .ok()
            .and_then(|mut v| (v.len() == 1).then(|| Ast::new(v.remove(0))));
    }
}

/// The statements of one source, ready for the rules.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub engine: Engine,
    pub pg_version: u32,
    pub stmts: Vec<Stmt>,
    memo: Memo,
}

/// Facts about the whole file that rules work out on first use, keyed by
/// their type (see [`Ctx::memo`]).
#[derive(Default)]
struct Memo(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Memo {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Arc<dyn Any + Send + Sync>>> {
        // A rule that panicked while building a fact inserted nothing: the
        // map is still sound.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo(Mutex::new(self.map().clone()))
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({} facts)", self.map().len())
    }
}

impl Ctx {
    /// `line_offset` is added to line numbers (for sections cut out of a
    /// file); `wrapped` means the tool runs the whole text in one transaction.
    pub fn new(source: &str, line_offset: usize, opts: &ReviewOptions, wrapped: bool) -> Ctx {
        let wrapped = wrapped || opts.assume_in_transaction;
        let pieces = split_statements(source, opts.engine);
        let mut stmts = Vec::with_capacity(pieces.len());
        let mut explicit_txn = false;
        let mut txn = 0usize;
        let mut session_timeout = false;
        let mut local_timeout = false;
        let mut prev_end = 0usize;
        for (index, p) in pieces.into_iter().enumerate() {
            let gap = source.get(prev_end..p.byte_offset).unwrap_or("");
            prev_end = p.byte_offset + p.text.len();
            let (ignored, ignored_all) = ignore_comments(gap);
            let words = leading_words(&p.text, 8);
            let w0 = words.first().map(String::as_str).unwrap_or("");
            let begins =
                matches!(w0, "BEGIN" | "START") && words.get(1).is_none_or(|w| w != "ATOMIC");
            let ends = matches!(w0, "COMMIT" | "ROLLBACK" | "END")
                && words.get(1).is_none_or(|w| w != "TO");
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
                || p.text
                    .as_bytes()
                    .windows(12)
                    .any(|w| w.eq_ignore_ascii_case(b"lock_timeout"));
            stmts.push(Stmt {
                index,
                line: p.line + line_offset,
                column: p.column,
                text: p.text,
                ast: None,
                words: words.join(" "),
                in_transaction: in_transaction && !begins && !ends,
                txn,
                lock_timeout_set,
                new_tables: NewTables::default(),
                ignored,
                ignored_all,
            });
            if ends {
                explicit_txn = false;
                local_timeout = false;
                txn += 1;
            }
        }
        // Parsed in place: a second array of statements would double the
        // memory the parsed forms take (3.4 kB each before their contents).
        parse_into(&mut stmts, opts.engine);
        let mut created: HashMap<String, usize> = HashMap::new();
        for s in &stmts {
            if let Some(Statement::CreateTable(ct)) = s.ast.as_ref().and_then(Ast::other) {
                created.entry(last_part(&ct.name)).or_insert(s.index);
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
            memo: Memo::default(),
        }
    }

    /// The statements of this statement's transaction (none when it runs in
    /// autocommit). Transaction numbers only grow through the file, so they
    /// are one run of statements.
    fn txn_stmts(&self, stmt: &Stmt) -> &[Stmt] {
        if !stmt.in_transaction {
            return &[];
        }
        let start = self.stmts.partition_point(|s| s.txn < stmt.txn);
        let end = self.stmts.partition_point(|s| s.txn <= stmt.txn);
        &self.stmts[start..end]
    }

    /// Statements of the same transaction before this one.
    pub fn earlier_in_txn<'a>(&'a self, stmt: &Stmt) -> impl Iterator<Item = &'a Stmt> + 'a {
        let index = stmt.index;
        self.txn_stmts(stmt)
            .iter()
            .take_while(move |s| s.index < index)
    }

    /// Statements of the same transaction after this one.
    pub fn later_in_txn<'a>(&'a self, stmt: &Stmt) -> impl Iterator<Item = &'a Stmt> + 'a {
        let index = stmt.index;
        self.txn_stmts(stmt).iter().filter(move |s| s.index > index)
    }

    /// A fact about the whole file, built by `build` on first use and shared
    /// by every later call asking for the same type `T` (each fact has a type
    /// of its own). What a rule would otherwise find by looking back over
    /// every earlier statement, for every statement, it builds here once:
    /// an index of the names the file creates, the first statement that
    /// needs something.
    pub fn memo<T: Any + Send + Sync>(&self, build: impl FnOnce(&Ctx) -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        let known = self.memo.map().get(&key).cloned();
        // Built without the lock held, so that one fact may use another.
        let fact = known.unwrap_or_else(|| {
            let built: Arc<dyn Any + Send + Sync> = Arc::new(build(self));
            Arc::clone(self.memo.map().entry(key).or_insert(built))
        });
        match fact.downcast::<T>() {
            Ok(t) => t,
            Err(_) => unreachable!("facts are keyed by their own type"),
        }
    }
}

/// For each key, the first statement having it: what "was X created earlier
/// in the file" asks, answered once for the whole file.
#[derive(Debug)]
pub struct FirstByKey<K = String>(HashMap<K, usize>);

impl<K: Eq + Hash> FirstByKey<K> {
    /// The keys of each statement, as `keys` gives them.
    pub fn build<I: IntoIterator<Item = K>>(
        ctx: &Ctx,
        mut keys: impl FnMut(&Stmt) -> I,
    ) -> FirstByKey<K> {
        let mut first = HashMap::new();
        for s in &ctx.stmts {
            for k in keys(s) {
                first.entry(k).or_insert(s.index);
            }
        }
        FirstByKey(first)
    }

    /// Whether a statement before `stmt` has the key.
    pub fn before<Q: Eq + Hash + ?Sized>(&self, key: &Q, stmt: &Stmt) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.get(key).is_some_and(|&i| i < stmt.index)
    }
}

/// The statements having each key, in file order: what a rule looks back at
/// for one name, found without looking at the others.
#[derive(Debug)]
pub struct ByKey<K = String>(HashMap<K, Vec<usize>>);

impl<K: Eq + Hash> ByKey<K> {
    /// The keys of each statement, as `keys` gives them.
    pub fn build<I: IntoIterator<Item = K>>(
        ctx: &Ctx,
        mut keys: impl FnMut(&Stmt) -> I,
    ) -> ByKey<K> {
        let mut by: HashMap<K, Vec<usize>> = HashMap::new();
        for s in &ctx.stmts {
            for k in keys(s) {
                let v = by.entry(k).or_default();
                // One entry per statement, however often it has the key.
                if v.last() != Some(&s.index) {
                    v.push(s.index);
                }
            }
        }
        ByKey(by)
    }

    /// The statements before `stmt` having the key, in file order.
    pub fn before<'a, Q: Eq + Hash + ?Sized>(
        &'a self,
        ctx: &'a Ctx,
        key: &Q,
        stmt: &Stmt,
    ) -> impl Iterator<Item = &'a Stmt> + 'a
    where
        K: Borrow<Q>,
    {
        let all = self.0.get(key).map_or(&[][..], Vec::as_slice);
        all[..all.partition_point(|&i| i < stmt.index)]
            .iter()
            .map(|&i| &ctx.stmts[i])
    }
}

/// A setting as the file changes it: each statement that sets it, with the
/// value, in file order.
#[derive(Debug)]
pub struct Settings<V>(Vec<(usize, V)>);

impl<V> Settings<V> {
    /// `value` gives what a statement sets the setting to, if it does.
    pub fn build(ctx: &Ctx, mut value: impl FnMut(&Stmt) -> Option<V>) -> Settings<V> {
        Settings(
            ctx.stmts
                .iter()
                .filter_map(|s| Some((s.index, value(s)?)))
                .collect(),
        )
    }

    /// What the last statement before `stmt` that sets it set it to.
    pub fn before(&self, stmt: &Stmt) -> Option<&V> {
        let n = self.0.partition_point(|&(i, _)| i < stmt.index);
        n.checked_sub(1).map(|last| &self.0[last].1)
    }
}

fn is_zero_timeout(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let value = lower
        .split(['=', ' '])
        .rfind(|w| !w.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(sql: &str) -> Ctx {
        Ctx::new(sql, 0, &ReviewOptions::default(), false)
    }

    #[test]
    fn new_tables_are_those_created_before_each_statement() {
        let c = ctx("ALTER TABLE a ADD x int;\nCREATE TABLE a (id int);\nCREATE TABLE \"B\" (id int);\nALTER TABLE a ADD y int;");
        let seen: Vec<Vec<&str>> = c
            .stmts
            .iter()
            .map(|s| {
                let mut v: Vec<&str> = s.new_tables.iter().collect();
                v.sort_unstable();
                v
            })
            .collect();
        assert_eq!(seen, [vec![], vec![], vec!["a"], vec!["B", "a"]]);
        assert!(
            !c.stmts[1].new_tables.contains("a"),
            "not before its own CREATE"
        );
        assert!(c.stmts[3].new_tables.contains("a") && c.stmts[3].new_tables.contains("B"));
        assert!(c.stmts[0].new_tables.is_empty());
    }

    #[test]
    fn parsing_on_threads_gives_what_parsing_in_order_gives() {
        let mut sql = String::new();
        for i in 0..4000 {
            sql.push_str(&format!(
                "ALTER TABLE t{} ADD COLUMN c{i} int;\nDO $$ BEGIN PERFORM {i}; END $$;\nUPDATE t SET a = 'x;y' WHERE id = {i};\n",
                i % 7
            ));
        }
        assert!(sql.len() > PARALLEL_PARSE_BYTES);
        let threaded = ctx(&sql);
        let mut in_order = threaded.stmts.clone();
        parse_run(&mut in_order, Engine::Postgres);
        assert_eq!(threaded.stmts.len(), 12000);
        assert!(threaded
            .stmts
            .iter()
            .zip(&in_order)
            .all(|(a, b)| a.ast == b.ast));
        assert!(threaded.stmts[0].ast.is_some());
        assert_eq!(run_len(&threaded.stmts, 1), 1);
        assert_eq!(run_len(&threaded.stmts[..3], usize::MAX), 3);
    }

    #[test]
    fn last_part_matches_the_formatted_name() {
        let dialect = crate::sqltext::dialect(Engine::Postgres);
        for name in [
            "Users",
            "public.Orders",
            "\"Mixed Case\"",
            "s.\"quoted\"\"inner\"",
            "\"\"",
        ] {
            let stmt = Parser::parse_sql(dialect.as_ref(), &format!("DROP TABLE {name}")).unwrap();
            let Statement::Drop { names, .. } = &stmt[0] else {
                panic!("{stmt:?}")
            };
            let formatted = {
                let s = names[0].0.last().unwrap().to_string();
                if s.starts_with('"') {
                    s.trim_matches('"').to_string()
                } else {
                    s.to_lowercase()
                }
            };
            assert_eq!(last_part(&names[0]), formatted, "{name}");
        }
    }

    #[test]
    fn transactions_are_runs_of_statements() {
        let c = ctx("ALTER TABLE a ADD x int;\nBEGIN;\nALTER TABLE a ADD y int;\nUPDATE a SET y = 1;\nCOMMIT;\nALTER TABLE a ADD z int;\nBEGIN;\nUPDATE a SET z = 1;\nALTER TABLE a ADD w int;\nCOMMIT;");
        let earlier =
            |i: usize| -> Vec<usize> { c.earlier_in_txn(&c.stmts[i]).map(|s| s.index).collect() };
        let later =
            |i: usize| -> Vec<usize> { c.later_in_txn(&c.stmts[i]).map(|s| s.index).collect() };
        assert_eq!(
            earlier(3),
            [1, 2],
            "BEGIN counts among the transaction's statements"
        );
        assert_eq!(later(2), [3, 4]);
        assert_eq!(earlier(8), [6, 7]);
        assert!(earlier(5).is_empty() && later(5).is_empty(), "autocommit");
        assert!(earlier(0).is_empty() && later(0).is_empty());
        let wrapped = Ctx::new(
            "ALTER TABLE a ADD x int;\nALTER TABLE a ADD y int;\nALTER TABLE a ADD z int;",
            0,
            &ReviewOptions::default(),
            true,
        );
        let all: Vec<usize> = wrapped
            .later_in_txn(&wrapped.stmts[0])
            .map(|s| s.index)
            .collect();
        assert_eq!(all, [1, 2]);
    }

    #[test]
    fn a_fact_is_built_once_per_file() {
        struct Count(usize);
        let c = ctx("ALTER TABLE a ADD x int;\nALTER TABLE b ADD y int;");
        let built = std::cell::Cell::new(0);
        for _ in 0..3 {
            let n = c.memo(|c| {
                built.set(built.get() + 1);
                Count(c.stmts.len())
            });
            assert_eq!(n.0, 2);
        }
        assert_eq!(built.get(), 1);
        let first = c.memo(|c| FirstByKey::build(c, |s| s.words().nth(2).map(str::to_string)));
        assert!(first.before("A", &c.stmts[1]) && !first.before("A", &c.stmts[0]));
        assert!(!first.before("B", &c.stmts[1]));
    }
}
