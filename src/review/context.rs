//! Each statement with what the rules need to know about where it runs: its
//! parsed form (when sqlparser can parse it), its leading keywords (when it
//! cannot), the transaction it is in, whether lock_timeout is set, and which
//! tables were created earlier in the same file (new and empty, so indexes and
//! constraints on them are harmless).

use super::sources::ToolWrap;
use super::ReviewOptions;
use crate::change::ddl::{split_statements, StatementText};
use crate::context::Engine;
use rayon::prelude::*;
use sqlparser::ast::{
    AlterTable, AlterTableOperation, CreateIndex, Delete, Insert, ObjectName, ObjectNamePart,
    RenameTableNameKind, Statement, Update,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

mod facts;
pub use facts::*;
use facts::{Facts, Slot};

/// One statement in its context.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub index: usize,
    /// The statement text, without the terminating semicolon.
    pub text: String,
    /// 1-based position of its first token in the file.
    pub line: usize,
    pub column: usize,
    /// The parsed statement; `None` when sqlparser cannot parse it, and
    /// while it is not held (see [`Ctx::ast_of`]).
    pub ast: Option<Ast>,
    state: AstState,
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
    /// Whether the table this statement alters is new, once asked: a dozen
    /// rules ask it of every ALTER TABLE.
    alters_new: OnceLock<bool>,
    /// Rule ids silenced for this statement by a `-- schemashift-ignore` comment.
    pub ignored: Vec<String>,
    /// `-- schemashift-ignore` with no ids: every rule.
    pub ignored_all: bool,
    /// Read out of a `DO` block, inside a loop that never commits: every
    /// iteration holds its locks until the block ends.
    pub in_loop: bool,
    /// `EXECUTE` of an expression in a `DO` block: SQL built at run time,
    /// which cannot be checked.
    pub dynamic: bool,
}

/// A parsed statement, kept compactly: sqlparser's `Statement` takes 3.4 kB
/// whatever its kind (its largest variant is stored inline), so each kind a
/// rule reads is boxed at its own size, and the kinds no rule reads are kept
/// only as parsed.
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
        // Each kind boxed at its own size. The parser's vectors keep their
        // spare capacity: a review holds a few chunks' statements at a time.
        match parsed {
            Statement::AlterTable(x) => Ast::AlterTable(Box::new(x)),
            Statement::CreateIndex(x) => Ast::CreateIndex(Box::new(x)),
            Statement::Update(x) => Ast::Update(Box::new(x)),
            Statement::Insert(x) => Ast::Insert(Box::new(x)),
            Statement::Delete(x) => Ast::Delete(Box::new(x)),
            other if Ast::read_whole(&other) => Ast::Other(Box::new(other)),
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
                | Statement::AlterSchema(_)
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

/// Whether a statement's parsed form is held ([`Ctx::stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AstState {
    /// Not parsed yet.
    Pending,
    Parsed,
    /// Dropped once checked.
    Released,
}

/// The tables created before one statement: a view into one map shared by
/// every statement of the file (a set per statement would make a file of n
/// statements cost n times the tables it creates, in time and memory).
#[derive(Debug, Clone)]
pub struct NewTables {
    /// Each table created in the file, with the index of the first
    /// statement creating it; filled in as statements are parsed.
    created: Arc<RwLock<HashMap<String, usize>>>,
    /// The statement this view belongs to: tables created before it count.
    before: usize,
}

impl NewTables {
    /// Whether a table (last name part, lower-case) was created earlier in the file.
    pub fn contains(&self, table: &str) -> bool {
        let created = self.created.read().unwrap_or_else(PoisonError::into_inner);
        created.get(table).is_some_and(|&i| i < self.before)
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

    /// Whether the first word may be one of `words` (upper-case): a test to
    /// run before tokenizing. A word here runs to the next space or bracket,
    /// so it can carry a quote or comment written against it: prefixes count.
    pub fn may_start_with(&self, words: &[&str]) -> bool {
        self.words()
            .next()
            .is_some_and(|first| words.iter().any(|w| first.starts_with(w)))
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

    /// [`Stmt::is_new_table`] of the table `at`, this statement's own
    /// ALTER TABLE, alters.
    pub fn alters_new_table(&self, at: &AlterTable) -> bool {
        *self.alters_new.get_or_init(|| self.is_new_table(&at.name))
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
pub(crate) const PARALLEL_PARSE_BYTES: usize = 64 * 1024;

/// The parsed form of each statement, in order (`None` when sqlparser
/// cannot parse it, or when the text holds more than one statement). Large
/// scripts are parsed on the review threads ([`threads`]): parsing is most of
/// a review's time and every statement parses independently.
fn parse_stmts(stmts: &[Stmt], engine: Engine) -> Vec<Option<Ast>> {
    let total: usize = stmts.iter().map(|s| s.text.len()).sum();
    match threads().filter(|_| total >= PARALLEL_PARSE_BYTES) {
        Some(pool) => pool.install(|| parse_all(stmts, engine)),
        None => {
            let mut parser = StmtParser::new(engine);
            stmts.iter().map(|s| parser.parse(&s.text)).collect()
        }
    }
}

/// The parsed forms of statements, in order, parsed on the current rayon
/// pool's threads (each task with its own [`StmtParser`]).
fn parse_all(stmts: &[Stmt], engine: Engine) -> Vec<Option<Ast>> {
    stmts
        .par_iter()
        .with_min_len(32)
        .map_init(|| StmtParser::new(engine), |p, s| p.parse(&s.text))
        .collect()
}

/// The threads reviews run on, one per core, built once; `None` on one core
/// or when no thread can be had (then a review runs on the caller's thread).
/// Work stealing keeps every core busy: the threads checking a chunk take
/// over parsing the next one when they are done, and the other way round.
fn threads() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores.min(8))
            .thread_name(|i| format!("schemashift-review-{i}"))
            // The main thread's stack size: deep expressions are parsed and
            // walked recursively, and must not fail here when they would not
            // on the caller's thread.
            .stack_size(8 << 20)
            .build()
            .ok()
    })
    .as_ref()
}

/// `f` of each item, in order, on the review threads when there are any.
pub(crate) fn on_review_threads<T: Sync, U: Send>(
    items: &[T],
    f: impl Fn(&T) -> U + Sync,
) -> Vec<U> {
    match threads() {
        Some(pool) => pool.install(|| items.par_iter().map(&f).collect()),
        None => items.iter().map(f).collect(),
    }
}

/// What a statement's own text says, whatever comes before it: its first
/// words, the ignore comments just before it, and whether it names
/// `lock_timeout`. Worked out on the review threads for large sources (a
/// third of splitting one); the rest of the split follows the statements in
/// order.
struct OwnFacts {
    joined: String,
    ignored: Vec<String>,
    ignored_all: bool,
    names_timeout: bool,
}

impl OwnFacts {
    /// Only the ignore comments: what statements read out of a body keep.
    fn ignores(&self) -> OwnFacts {
        OwnFacts {
            joined: String::new(),
            ignored: self.ignored.clone(),
            ignored_all: self.ignored_all,
            names_timeout: false,
        }
    }

    fn of_all(source: &str, pieces: &[StatementText]) -> Vec<OwnFacts> {
        let of = |i: &usize| {
            let p = &pieces[*i];
            let prev_end = i
                .checked_sub(1)
                .map_or(0, |j| pieces[j].byte_offset + pieces[j].text.len());
            let (ignored, ignored_all) =
                ignore_comments(source.get(prev_end..p.byte_offset).unwrap_or(""));
            OwnFacts {
                joined: joined_words(&p.text, 8),
                ignored,
                ignored_all,
                names_timeout: contains_ignoring_case(&p.text, "lock_timeout"),
            }
        };
        let all: Vec<usize> = (0..pieces.len()).collect();
        if source.len() >= PARALLEL_PARSE_BYTES {
            on_review_threads(&all, of)
        } else {
            all.iter().map(of).collect()
        }
    }
}

/// Where a statement read out of a `DO` block stands in it.
#[derive(Debug, Clone, Copy)]
struct InDo {
    first: bool,
    in_loop: bool,
    dynamic: bool,
}

/// The statements, with each readable PostgreSQL `DO` block replaced by the
/// statements of its body (see [`super::plpgsql`]), placed where they are in
/// the file and silenced by the ignore comments above the block, and each
/// call of a PL/pgSQL routine the file created followed by the statements of
/// its body. A block that cannot be read stays as it is, to be noted as not
/// checked.
fn with_do_bodies(
    pieces: Vec<StatementText>,
    own: Vec<OwnFacts>,
    engine: Engine,
) -> Vec<(StatementText, OwnFacts, Option<InDo>)> {
    let mut out = Vec::with_capacity(pieces.len());
    // PL/pgSQL routines the file creates, with where their text starts.
    let mut routines: HashMap<String, (Vec<super::plpgsql::Inner>, usize, usize)> = HashMap::new();
    for (p, own) in pieces.into_iter().zip(own) {
        if engine != Engine::Postgres {
            out.push((p, own, None));
            continue;
        }
        if let Some((name, inner)) = super::plpgsql::routine(&p.text) {
            routines.insert(name, (inner, p.line, p.column));
        }
        // A call runs the body of a routine created earlier: its statements
        // follow the call, at their lines in the routine.
        let call = super::plpgsql::called(&p.text)
            .and_then(|name| routines.get(&name))
            .map(|(inner, line, column)| (inner.clone(), *line, *column));
        let (inner, line, column) = match call {
            Some((inner, line, column)) => {
                let (byte_offset, facts) = (p.byte_offset, own.ignores());
                out.push((p, own, None));
                push_inner(&mut out, inner, line, column, byte_offset, &facts);
                continue;
            }
            None if is_do_block(&p.text) => match super::plpgsql::do_block(&p.text) {
                Ok(inner) => (inner, p.line, p.column),
                Err(_) => {
                    out.push((p, own, None));
                    continue;
                }
            },
            None => {
                out.push((p, own, None));
                continue;
            }
        };
        push_inner(&mut out, inner, line, column, p.byte_offset, &own);
    }
    out
}

/// Statements read out of a body whose text starts at `line`, `column`,
/// silenced by the ignore comments above it (in `own`).
fn push_inner(
    out: &mut Vec<(StatementText, OwnFacts, Option<InDo>)>,
    inner: Vec<super::plpgsql::Inner>,
    line: usize,
    column: usize,
    byte_offset: usize,
    own: &OwnFacts,
) {
    for (k, s) in inner.into_iter().enumerate() {
        let facts = OwnFacts {
            joined: joined_words(&s.text, 8),
            ignored: own.ignored.clone(),
            ignored_all: own.ignored_all,
            names_timeout: contains_ignoring_case(&s.text, "lock_timeout"),
        };
        let at = InDo {
            first: k == 0,
            in_loop: s.in_loop,
            dynamic: s.dynamic,
        };
        let text = StatementText {
            line: line + s.line - 1,
            column: if s.line == 1 {
                column + s.column - 1
            } else {
                s.column
            },
            text: s.text,
            byte_offset,
        };
        out.push((text, facts, Some(at)));
    }
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

/// One statement parsed on its own (see [`parse_stmts`]).
fn parse_one(text: &str, engine: Engine) -> Option<Ast> {
    StmtParser::new(engine).parse(text)
}

/// Parses statements one at a time into their [`Ast`], as
/// [`Parser::parse_sql`] would when it gives exactly one (`None` when it
/// fails or gives more). One token buffer serves every statement, and no
/// vector collects the statement: a parsed statement takes 3.4 kB, and
/// allocating that, or growing a token buffer, for every statement made the
/// allocator most of the cost.
pub(crate) struct StmtParser {
    dialect: Box<dyn sqlparser::dialect::Dialect>,
    tokens: Vec<TokenWithSpan>,
    engine: Engine,
}

impl StmtParser {
    pub(crate) fn new(engine: Engine) -> StmtParser {
        StmtParser {
            dialect: crate::sqltext::dialect(engine),
            tokens: Vec::new(),
            engine,
        }
    }

    pub(crate) fn parse(&mut self, text: &str) -> Option<Ast> {
        if is_do_block(text) {
            // sqlparser has no DO statement: tokenizing the body only to
            // fail took a twentieth of a review of DO-heavy migrations.
            return None;
        }
        let mut tokens = std::mem::take(&mut self.tokens);
        tokens.clear();
        // What `Parser::try_with_sql` does, into the kept buffer.
        let tokenized = Tokenizer::new(self.dialect.as_ref(), text)
            .tokenize_with_location_into_buf(&mut tokens);
        // Too deep to build a tree of safely: read by its words, as unparsed.
        if tokenized.is_err()
            || crate::sqldepth::check_tokens(tokens.iter().map(|t| &t.token)).is_err()
        {
            self.tokens = tokens;
            return None;
        }
        let mut parser = Parser::new(self.dialect.as_ref()).with_tokens_with_locations(tokens);
        let parsed = one_statement(&mut parser);
        self.tokens = parser.into_tokens();
        if parsed.is_none() {
            // Forms sqlparser misses that a rewrite of the text reads alike.
            if let Some(text) = super::subscripts::without_set_subscripts(text) {
                return self.parse(&text);
            }
        }
        parsed
            .filter(|p| self.engine != Engine::Postgres || !mysql_only(p))
            .map(Ast::new)
    }
}

/// MySQL syntax sqlparser accepts in any dialect but PostgreSQL rejects
/// (`UPDATE ... LIMIT`, `DELETE ... LIMIT`): unparsed, so it is noted as
/// not checked rather than reviewed as a statement that would run.
fn mysql_only(parsed: &Statement) -> bool {
    match parsed {
        Statement::Update(u) => u.limit.is_some() || !u.order_by.is_empty(),
        Statement::Delete(d) => d.limit.is_some() || !d.order_by.is_empty(),
        _ => false,
    }
}

/// Whether a statement (text from its first token) is a `DO` block.
fn is_do_block(text: &str) -> bool {
    let b = text.as_bytes();
    // `$` continues an identifier in PostgreSQL: `DO$$` is one word.
    let word_part = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$') || *c >= 0x80;
    b.get(..2).is_some_and(|w| w.eq_ignore_ascii_case(b"DO")) && !b.get(2).is_some_and(word_part)
}

/// `Parser::parse_statements` with the default options, stopping at a
/// second statement: the one statement, or `None`.
fn one_statement(parser: &mut Parser) -> Option<Statement> {
    let mut first = None;
    let mut expecting_delimiter = false;
    loop {
        while parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        match &parser.peek_token_ref().token {
            Token::EOF => break,
            Token::Word(w) if expecting_delimiter && w.keyword == Keyword::END => break,
            _ => {}
        }
        if expecting_delimiter || first.is_some() {
            // Where parse_statements expects the end of the statement, or a
            // second statement (which it would give as well).
            return None;
        }
        first = Some(parser.parse_statement().ok()?);
        expecting_delimiter = true;
    }
    first
}

/// The statements of one source, ready for the rules.
#[derive(Debug)]
pub struct Ctx {
    pub engine: Engine,
    pub pg_version: u32,
    pub stmts: Vec<Stmt>,
    /// The tables the file creates (see [`NewTables`]), filled in as
    /// statements are parsed.
    created: Arc<RwLock<HashMap<String, usize>>>,
    facts: Facts,
}

/// A statement's parsed form is held only while its chunk is checked (and
/// while the next chunk is parsed): a review holds two chunks' worth of
/// parsed statements, never every one of a large file.
const CHUNK_BYTES: usize = 32 * 1024;

impl Ctx {
    /// The statements of a source, parsed, with every fact taken in: the
    /// whole file at once, for looking at it as a whole (tests,
    /// measurements). A review goes through [`Ctx::split`] and
    /// [`Ctx::stream`] instead, holding the parsed forms of one chunk at a
    /// time. `line_offset` is added to line numbers (for sections cut out
    /// of a file); `wrapped` means the tool runs the whole text in one
    /// transaction.
    pub fn new(source: &str, line_offset: usize, opts: &ReviewOptions, wrapped: bool) -> Ctx {
        let mut ctx = Ctx::split(source, line_offset, opts, wrapped);
        let all = 0..ctx.stmts.len();
        ctx.parse(all.clone());
        for i in all {
            ctx.take_in(i);
        }
        ctx
    }

    /// The statements of a source, not parsed yet (see [`Ctx::stream`]).
    pub fn split(source: &str, line_offset: usize, opts: &ReviewOptions, wrapped: bool) -> Ctx {
        Ctx::split_wrapped_by(source, line_offset, opts, wrapped, ToolWrap::EveryFile)
    }

    /// [`Ctx::split`] of a file whose tool wraps it as `tool_wrap` says when
    /// `--assume-in-transaction` is given.
    pub fn split_wrapped_by(
        source: &str,
        line_offset: usize,
        opts: &ReviewOptions,
        wrapped: bool,
        tool_wrap: ToolWrap,
    ) -> Ctx {
        let pieces = split_statements(source, opts.engine);
        let mut stmts = Vec::with_capacity(pieces.len());
        let mut explicit_txn = false;
        let mut txn = 0usize;
        let mut session_timeout = false;
        let mut local_timeout = false;
        let created = Arc::new(RwLock::new(HashMap::new()));
        let own = OwnFacts::of_all(source, &pieces);
        let wrapped = wrapped
            || (opts.assume_in_transaction
                && tool_wrap.wraps(own.iter().map(|o| o.joined.as_str()), opts.pg_version));
        let items = with_do_bodies(pieces, own, opts.engine);
        for (index, (p, own, inside)) in items.into_iter().enumerate() {
            // A DO block runs as one statement: what it holds shares one
            // transaction (a COMMIT inside ends it).
            if inside.is_some_and(|d| d.first) && !explicit_txn && !wrapped {
                txn += 1;
            }
            let OwnFacts {
                joined,
                ignored,
                ignored_all,
                names_timeout,
            } = own;
            let words: Vec<&str> = joined.split(' ').filter(|w| !w.is_empty()).collect();
            let w0 = words.first().copied().unwrap_or("");
            let begins = matches!(w0, "BEGIN" | "START") && words.get(1) != Some(&"ATOMIC");
            let ends = matches!(w0, "COMMIT" | "ROLLBACK" | "END") && words.get(1) != Some(&"TO");
            if begins {
                explicit_txn = true;
                txn += 1;
            }
            let in_transaction = explicit_txn || wrapped || inside.is_some();
            if !in_transaction && !begins && !ends {
                txn += 1;
            }
            if w0 == "SET" || w0 == "RESET" {
                let local = words.get(1) == Some(&"LOCAL");
                // `lock_timeout='2s'` is one word: `=` needs no spaces.
                let names = |w: &&str| {
                    w.strip_prefix("LOCK_TIMEOUT")
                        .is_some_and(|r| r.is_empty() || r.starts_with('='))
                };
                if words.iter().any(names) {
                    let zero = w0 == "RESET" || is_zero_timeout(&p.text);
                    if local {
                        local_timeout = !zero;
                    } else {
                        session_timeout = !zero;
                    }
                }
            }
            let lock_timeout_set =
                session_timeout || (local_timeout && in_transaction) || names_timeout;
            stmts.push(Stmt {
                index,
                line: p.line + line_offset,
                column: p.column,
                text: p.text,
                ast: None,
                state: AstState::Pending,
                words: joined,
                in_transaction: in_transaction && !begins && !ends,
                txn,
                lock_timeout_set,
                new_tables: NewTables {
                    created: Arc::clone(&created),
                    before: index,
                },
                alters_new: OnceLock::new(),
                ignored,
                ignored_all,
                in_loop: inside.is_some_and(|d| d.in_loop),
                dynamic: inside.is_some_and(|d| d.dynamic),
            });
            if ends {
                explicit_txn = false;
                local_timeout = false;
                txn += 1;
            }
        }
        Ctx {
            engine: opts.engine,
            pg_version: opts.pg_version,
            stmts,
            created,
            facts: Facts::for_engine(opts.engine),
        }
    }

    /// Calls `check` on every statement, parsed, and gives what it pushed,
    /// in file order. Statements are parsed a chunk at a time and each parsed
    /// form is dropped once its chunk is checked: the memory they take is a
    /// few chunks', whatever the size of the file. The facts take in a
    /// chunk's statements before it is checked (they answer only for the
    /// statements before the one asked about), so its statements are checked
    /// on several threads at once.
    pub fn stream<T: Send>(self, check: impl Fn(&Ctx, &Stmt, &mut Vec<T>) + Sync) -> Vec<T> {
        self.stream_by(CHUNK_BYTES, check)
    }

    /// [`Ctx::stream`] in chunks of about `chunk_bytes` of SQL.
    pub(crate) fn stream_by<T: Send>(
        mut self,
        chunk_bytes: usize,
        check: impl Fn(&Ctx, &Stmt, &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < self.stmts.len() {
            let end = start + run_len(&self.stmts[start..], chunk_bytes);
            chunks.push(start..end);
            start = end;
        }
        let total: usize = self.stmts.iter().map(|s| s.text.len()).sum();
        let mut out = Vec::new();
        let Some(pool) = threads().filter(|_| total >= PARALLEL_PARSE_BYTES) else {
            for run in chunks {
                self.parse(run.clone());
                for i in run.clone() {
                    self.take_in(i);
                }
                for i in run.clone() {
                    check(&self, &self.stmts[i], &mut out);
                }
                self.release(run);
            }
            return out;
        };
        crate::memory::release_freed();
        let engine = self.engine;
        pool.install(|| {
            let mut next = chunks
                .first()
                .map(|run| parse_all(&self.stmts[run.clone()], engine));
            // The syntax trees of the chunk checked last, freed on the pool
            // while the next chunk is parsed.
            let mut checked = Vec::new();
            for (k, run) in chunks.iter().enumerate() {
                if let Some(asts) = next.take() {
                    self.install(run.clone(), asts);
                }
                // The facts take in the chunk (one statement after another)
                // and the rules then check it, while the next chunk is parsed
                // on the other threads, which join the rules when done. The
                // facts take in on the first arm, the thread calling join:
                // what they keep lives as long as the review, and spread
                // over the threads among the parsers' short-lived trees it
                // fragmented their memory (45 MB peak instead of 38).
                let this = &self;
                let garbage = std::mem::take(&mut checked);
                let (found, parsed) = rayon::join(
                    || {
                        for i in run.clone() {
                            this.take_in(i);
                        }
                        this.check_all(run.clone(), &check)
                    },
                    || {
                        drop(garbage);
                        chunks
                            .get(k + 1)
                            .map(|r| parse_all(&this.stmts[r.clone()], engine))
                    },
                );
                out.extend(found.into_iter().flatten());
                next = parsed;
                checked = self.release(run.clone());
            }
        });
        out
    }

    /// What `check` pushes for each statement of a run, in order, checked
    /// on the current rayon pool's threads.
    fn check_all<T: Send>(
        &self,
        run: std::ops::Range<usize>,
        check: &(impl Fn(&Ctx, &Stmt, &mut Vec<T>) + Sync),
    ) -> Vec<Vec<T>> {
        run.into_par_iter()
            .with_min_len(8)
            .map(|i| {
                let mut found = Vec::new();
                check(self, &self.stmts[i], &mut found);
                found
            })
            .collect()
    }

    /// Takes the parsed forms of a run of checked statements away from them,
    /// for the caller to drop.
    fn release(&mut self, run: std::ops::Range<usize>) -> Vec<Option<Ast>> {
        self.stmts[run]
            .iter_mut()
            .map(|s| {
                s.state = AstState::Released;
                s.ast.take()
            })
            .collect()
    }

    /// Parses a run of statements, and records the tables they create.
    fn parse(&mut self, run: std::ops::Range<usize>) {
        let asts = parse_stmts(&self.stmts[run.clone()], self.engine);
        self.install(run, asts);
    }

    /// Takes the parsed forms of a run of statements, parsed elsewhere.
    fn install(&mut self, run: std::ops::Range<usize>, asts: Vec<Option<Ast>>) {
        for (s, ast) in self.stmts[run.clone()].iter_mut().zip(asts) {
            s.ast = ast;
            s.state = AstState::Parsed;
        }
        self.record_creates(run);
    }

    /// Records the tables a run of statements creates: by `CREATE TABLE`,
    /// and by renaming a table the file created (the table swap
    /// `CREATE TABLE t_new ...; DROP TABLE t; ALTER TABLE t_new RENAME TO t`
    /// leaves a new, empty `t`).
    fn record_creates(&self, run: std::ops::Range<usize>) {
        let mut created = self.created.write().unwrap_or_else(PoisonError::into_inner);
        for s in &self.stmts[run] {
            let renames: Vec<(&ObjectName, &ObjectName)> = match &s.ast {
                Some(Ast::AlterTable(at)) => at
                    .operations
                    .iter()
                    .filter_map(|op| match op {
                        AlterTableOperation::RenameTable {
                            table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
                        } => Some((&at.name, to)),
                        _ => None,
                    })
                    .collect(),
                Some(Ast::Other(o)) => match &**o {
                    Statement::CreateTable(ct) => {
                        created.entry(last_part(&ct.name)).or_insert(s.index);
                        Vec::new()
                    }
                    Statement::RenameTable(rs) => {
                        rs.iter().map(|r| (&r.old_name, &r.new_name)).collect()
                    }
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            for (from, to) in renames {
                let was_new = created.get(&last_part(from)).is_some_and(|&i| i < s.index);
                if was_new {
                    created.entry(last_part(to)).or_insert(s.index);
                }
            }
        }
    }

    /// Lets every fact take in statement `i`.
    fn take_in(&self, i: usize) {
        for slot in &self.facts.0 {
            slot.write().add(self, &self.stmts[i]);
        }
    }

    /// A statement's parsed form, also when it is not held (a later chunk's
    /// statement, or an earlier one already checked): then it is parsed
    /// again, so this is for the rare look at a statement other than the one
    /// being checked.
    pub fn ast_of<'a>(&self, s: &'a Stmt) -> Cow<'a, Option<Ast>> {
        match s.state {
            AstState::Parsed => Cow::Borrowed(&s.ast),
            AstState::Pending | AstState::Released => Cow::Owned(parse_one(&s.text, self.engine)),
        }
    }

    /// The fact of type `T` (see [`Fact`]), as it stands. Panics when no
    /// entry of `rules::FACTS` keeps `T` for this engine: a rule asking for
    /// a fact must have it registered there.
    pub fn fact<T: Fact>(&self) -> FactRef<'_, T> {
        FactRef {
            guard: self.slot::<T>().read(),
            of: PhantomData,
        }
    }

    /// [`Ctx::fact`], to change it (a fact that caches answers).
    pub fn fact_mut<T: Fact>(&self) -> FactMut<'_, T> {
        FactMut {
            guard: self.slot::<T>().write(),
            of: PhantomData,
        }
    }

    fn slot<T: Fact>(&self) -> &Slot {
        let id = TypeId::of::<T>();
        self.facts.0.iter().find(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "{} is not kept for {:?}: register it in rules::FACTS",
                std::any::type_name::<T>(),
                self.engine
            )
        })
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

    /// Statements of the same transaction after this one. They may not be
    /// parsed yet: see [`Ctx::ast_of`].
    pub fn later_in_txn<'a>(&'a self, stmt: &Stmt) -> impl Iterator<Item = &'a Stmt> + 'a {
        let index = stmt.index;
        self.txn_stmts(stmt).iter().filter(move |s| s.index > index)
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

/// Whether `text` holds `word` (lower-case ASCII), in any ASCII case.
fn contains_ignoring_case(text: &str, word: &str) -> bool {
    let (hay, word) = (text.as_bytes(), word.as_bytes());
    let Some(&first) = word.first() else {
        return true;
    };
    // Compared only where the first letter is: most statements have few.
    hay.iter().enumerate().any(|(i, &b)| {
        b.to_ascii_lowercase() == first
            && hay
                .get(i..i + word.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(word))
    })
}

/// `-- schemashift-ignore rule-a, rule-b` in the comments before a statement.
fn ignore_comments(gap: &str) -> (Vec<String>, bool) {
    // Nearly every gap has none: looked for at once, not line by line.
    if !gap.contains("schemashift-ignore") {
        return (Vec::new(), false);
    }
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
    joined_words(text, n)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// [`leading_words`] joined by spaces (words hold none), built as one
/// string: what a statement keeps, made without a string per word.
fn joined_words(text: &str, n: usize) -> String {
    let mut out = String::with_capacity(64);
    let mut count = 0;
    let mut rest = text;
    while count < n {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, b)| b);
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, b)| b);
            continue;
        }
        let Some(c) = rest.chars().next() else {
            break;
        };
        let end = word_end(rest);
        if count > 0 {
            out.push(' ');
        }
        count += 1;
        if end == 0 {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..end];
        if word.is_ascii() {
            let at = out.len();
            out.push_str(word);
            out[at..].make_ascii_uppercase();
        } else {
            out.push_str(&word.to_uppercase());
        }
        rest = &rest[end..];
    }
    out
}

/// Where the word at the start of `s` ends: at whitespace, a bracket, a comma
/// or a semicolon. Bytes first; characters only once a non-ASCII one comes.
fn word_end(s: &str) -> usize {
    let ends = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';');
    for (i, b) in s.bytes().enumerate() {
        if !b.is_ascii() {
            // Every byte before was ASCII: `i` is a character boundary.
            return i + s[i..].find(ends).unwrap_or(s.len() - i);
        }
        if ends(char::from(b)) {
            return i;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests;
