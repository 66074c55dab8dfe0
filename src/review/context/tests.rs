use super::*;

fn ctx(sql: &str) -> Ctx {
    Ctx::new(sql, 0, &ReviewOptions::default(), false)
}

#[test]
fn lock_timeout_set_without_spaces_guards_what_follows() {
    for set in [
        "SET lock_timeout='2s'",
        "set local lock_timeout='2s'",
        "SET lock_timeout TO '2s'",
        "SET lock_timeout= 2000",
    ] {
        let c = ctx(&format!(
            "BEGIN;\n{set};\nALTER TABLE a ADD x int;\nCOMMIT;"
        ));
        assert!(c.stmts[2].lock_timeout_set, "{set}");
    }
    let c = ctx("SET lock_timeout='0';\nALTER TABLE a ADD x int;");
    assert!(!c.stmts[1].lock_timeout_set);
    let c = ctx("SET lock_timeouts='2s';\nALTER TABLE a ADD x int;");
    assert!(!c.stmts[1].lock_timeout_set);
}

#[test]
fn new_tables_are_those_created_before_each_statement() {
    let c = ctx("ALTER TABLE a ADD x int;\nCREATE TABLE a (id int);\nCREATE TABLE \"B\" (id int);\nALTER TABLE a ADD y int;");
    let seen: Vec<[bool; 2]> = c
        .stmts
        .iter()
        .map(|s| [s.new_tables.contains("a"), s.new_tables.contains("B")])
        .collect();
    assert_eq!(
        seen,
        [[false, false], [false, false], [true, false], [true, true]],
        "each counts from the statement after its CREATE"
    );
    assert!(
        !c.stmts[3].new_tables.contains("b"),
        "quoted keeps its case"
    );
}

#[test]
fn a_table_renamed_from_a_new_one_is_new() {
    let c = ctx("CREATE TABLE t_new (a int);\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;\nCREATE INDEX ON t (a);\nALTER TABLE live RENAME TO live_old;\nCREATE INDEX ON live_old (a);");
    let new_t: Vec<bool> = c.stmts.iter().map(|s| s.new_tables.contains("t")).collect();
    assert_eq!(new_t, [false, false, false, true, true, true]);
    assert!(
        !c.stmts[5].new_tables.contains("live_old"),
        "renaming an existing table makes nothing new"
    );
    let mysql = Ctx::new(
        "CREATE TABLE t_new (a int);\nRENAME TABLE t TO t_old, t_new TO t;\nALTER TABLE t ADD INDEX i (a);",
        0,
        &ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        },
        false,
    );
    assert!(mysql.stmts[2].new_tables.contains("t"));
    assert!(!mysql.stmts[2].new_tables.contains("t_old"));
}

#[test]
fn parsing_on_threads_gives_what_parsing_in_order_gives() {
    let mut sql = String::new();
    for i in 0..4000 {
        sql.push_str(&format!(
            "ALTER TABLE t{} ADD COLUMN c{i} int;\nDO $$ BEGIN PERFORM {i}; UPDATE t SET b = {i}; END $$;\nUPDATE t SET a = 'x;y' WHERE id = {i};\n",
            i % 7
        ));
    }
    assert!(sql.len() > PARALLEL_PARSE_BYTES);
    let threaded = ctx(&sql);
    let in_order: Vec<Option<Ast>> = threaded
        .stmts
        .iter()
        .map(|s| parse_one(&s.text, Engine::Postgres))
        .collect();
    assert_eq!(threaded.stmts.len(), 12000);
    assert!(threaded
        .stmts
        .iter()
        .zip(&in_order)
        .all(|(a, b)| &a.ast == b));
    assert!(threaded.stmts[0].ast.is_some());
    assert_eq!(run_len(&threaded.stmts, 1), 1);
    assert_eq!(run_len(&threaded.stmts[..3], usize::MAX), 3);
}

#[test]
fn one_statement_is_parsed_as_parse_sql_parses_it() {
    for engine in [Engine::Postgres, Engine::Mysql] {
        let dialect = crate::sqltext::dialect(engine);
        // One parser for all: its token buffer is reused, also after a
        // statement that fails to tokenize or to parse.
        let mut parser = StmtParser::new(engine);
        for text in [
            "ALTER TABLE t ADD COLUMN c int",
            "ALTER TABLE t ADD COLUMN c int;",
            ";; SELECT 1 ;;",
            "SELECT 1; SELECT 2",
            "SELECT 1 SELECT 2",
            "SELECT 1 END",
            "BEGIN",
            "END",
            "",
            ";",
            "SELECT 'unterminated",
            "ALTER TABLE",
            "CREATE TABLE t (a int) PARTITION BY RANGE (a)",
            "DO $$ BEGIN PERFORM 1; END $$",
            "SELECT 'unterminated",
            "ALTER TABLE t ADD COLUMN c int",
        ] {
            let whole = Parser::parse_sql(dialect.as_ref(), text)
                .ok()
                .and_then(|mut v| (v.len() == 1).then(|| Ast::new(v.remove(0))));
            assert_eq!(parser.parse(text), whole, "{engine:?}: {text}");
        }
    }
}

#[test]
fn may_start_with_tests_the_first_word_by_prefix() {
    let ctx = Ctx::split(
        "/* c */ vacuum full t;\ntruncate\"t\";\nselect 'vacuum';\n",
        0,
        &ReviewOptions::default(),
        false,
    );
    let firsts: Vec<bool> = ctx
        .stmts
        .iter()
        .map(|s| s.may_start_with(&["VACUUM", "TRUNCATE"]))
        .collect();
    assert_eq!(firsts, [true, true, false]);
}

#[test]
fn leading_words_are_upper_cased_and_split_at_punctuation() {
    let cases: [(&str, &[&str]); 8] = [
        (
            "alter table \"Users\"(id)",
            &["ALTER", "TABLE", "\"USERS\"", "(", "ID", ")"],
        ),
        (
            "-- note\n/* c */ set local lock_timeout = 0",
            &["SET", "LOCAL", "LOCK_TIMEOUT", "=", "0"],
        ),
        ("  ", &[]),
        (
            "vacuüm (full, verbose) t",
            &["VACUÜM", "(", "FULL", ",", "VERBOSE", ")", "T"],
        ),
        (
            "a b c d e f g h i j",
            &["A", "B", "C", "D", "E", "F", "G", "H"],
        ),
        ("begin;", &["BEGIN", ";"]),
        ("drop\u{a0}table\u{2003}x", &["DROP", "TABLE", "X"]),
        ("é(x),ü;", &["É", "(", "X", ")", ",", "Ü", ";"]),
    ];
    for (text, words) in cases {
        assert_eq!(leading_words(text, 8), words, "{text}");
        assert_eq!(joined_words(text, 8), words.join(" "), "{text}");
    }
    assert!(contains_ignoring_case(
        "SET Lock_Timeout = 0",
        "lock_timeout"
    ));
    assert!(!contains_ignoring_case("SET lock_timeou", "lock_timeout"));
}

/// DO blocks are not given to sqlparser, which has no DO statement: if
/// an upgrade adds one, this fails, and the shortcut should go.
#[test]
fn do_blocks_are_what_sqlparser_cannot_parse() {
    let dialect = crate::sqltext::dialect(Engine::Postgres);
    for text in [
        "DO $$ BEGIN PERFORM 1; END $$",
        "do $x$BEGIN NULL; END$x$",
        "DO LANGUAGE plpgsql $$ BEGIN NULL; END $$",
        "DO\n$$BEGIN NULL; END$$",
        "DO 'BEGIN NULL; END'",
    ] {
        assert!(is_do_block(text), "{text}");
        assert!(Parser::parse_sql(dialect.as_ref(), text).is_err(), "{text}");
        assert_eq!(parse_one(text, Engine::Postgres), None, "{text}");
    }
    for text in [
        "DOMAIN",
        "do_things()",
        "DO$$",
        "D",
        "DROP TABLE t",
        "do1",
        "dö",
    ] {
        assert!(!is_do_block(text), "{text}");
    }
    let created = "CREATE TABLE do_log (id int)";
    assert!(!is_do_block(created));
    assert!(parse_one(created, Engine::Postgres).is_some());
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
    let later = |i: usize| -> Vec<usize> { c.later_in_txn(&c.stmts[i]).map(|s| s.index).collect() };
    assert_eq!(later(2), [3, 4], "COMMIT counts among its statements");
    assert_eq!(later(7), [8, 9]);
    assert!(later(0).is_empty() && later(5).is_empty(), "autocommit");
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

/// The statements a fact took in, and whether each was parsed then.
#[derive(Default)]
struct Seen(Vec<(usize, bool)>);

impl Fact for Seen {
    fn add(&mut self, _: &Ctx, stmt: &Stmt) {
        self.0.push((stmt.index, stmt.ast.is_some()));
    }
}

fn with_seen(mut c: Ctx) -> Ctx {
    c.facts = Facts::of(&[FactKind {
        engines: &[Engine::Postgres],
        new: new_fact::<Seen>,
    }]);
    c
}

#[test]
fn a_stream_holds_a_few_chunks_parsed_and_facts_take_in_each_chunk_before_its_check() {
    const N: usize = 10_000;
    let mut sql = String::new();
    for i in 0..N {
        sql.push_str(&format!("ALTER TABLE t ADD COLUMN c{i} int;\n"));
    }
    assert!(sql.len() > 8 * CHUNK_BYTES, "several chunks");
    let c = with_seen(Ctx::split(&sql, 0, &ReviewOptions::default(), false));
    let expected = |i: usize| {
        parse_one(
            &format!("ALTER TABLE t ADD COLUMN c{i} int"),
            Engine::Postgres,
        )
    };
    /// What one check saw: its statement, how many statements the fact
    /// had taken in, whether the first and last statements were held.
    struct Saw {
        index: usize,
        taken_in: usize,
        first_held: bool,
        last_held: bool,
    }
    let saw = c.stream(|ctx, stmt, out| {
        assert!(stmt.ast.is_some());
        let seen = ctx.fact::<Seen>();
        assert!(
            seen.0
                .iter()
                .enumerate()
                .all(|(k, &(i, parsed))| k == i && parsed),
            "in file order, parsed"
        );
        let taken_in = seen.0.len();
        drop(seen);
        let (first, last) = (&ctx.stmts[0], &ctx.stmts[N - 1]);
        if stmt.index % 97 == 0 {
            assert_eq!(stmt.ast, expected(stmt.index));
            assert_eq!(*ctx.ast_of(first), expected(0), "parsed again when asked");
            assert_eq!(*ctx.ast_of(last), expected(N - 1), "parsed when asked");
        }
        out.push(Saw {
            index: stmt.index,
            taken_in,
            first_held: first.ast.is_some(),
            last_held: last.ast.is_some(),
        });
    });
    assert!(
        saw.iter().map(|s| s.index).eq(0..N),
        "every statement, in file order"
    );
    assert!(
        saw.iter().all(|s| s.taken_in > s.index),
        "every statement up to this one"
    );
    assert!(
        saw.iter().any(|s| s.taken_in < N),
        "not the whole file at once"
    );
    assert!(
        saw.iter().any(|s| !s.first_held),
        "earlier chunks are dropped"
    );
    assert!(
        saw.iter().any(|s| !s.last_held),
        "later chunks are parsed when reached"
    );
    let whole = with_seen(Ctx::new(&sql, 0, &ReviewOptions::default(), false));
    assert!(whole.stmts.iter().all(|s| s.ast.is_some()), "all held");
    whole.take_in(0);
    assert_eq!(whole.fact::<Seen>().0, [(0, true)]);
}

#[test]
fn keyed_facts_answer_for_the_statements_before_one() {
    let c = ctx("ALTER TABLE a ADD x int;\nALTER TABLE b ADD y int;\nALTER TABLE a ADD z int;");
    let (s0, s1, s2) = (&c.stmts[0], &c.stmts[1], &c.stmts[2]);
    let mut first = FirstByKey::default();
    let mut by = ByKey::default();
    let mut set = Settings::default();
    for s in &c.stmts {
        let table = s.words().nth(2).unwrap_or("").to_string();
        first.insert(table.clone(), s);
        by.insert(table.clone(), s);
        by.insert(table, s);
        set.set(s.index * 10, s);
    }
    assert!(!first.before("A", s0) && first.before("A", s1) && !first.before("B", s1));
    let on_a = |s: &Stmt| by.before("A", s).to_vec();
    assert_eq!(on_a(s2), [0], "once per statement, this one left out");
    assert!(on_a(s0).is_empty());
    assert_eq!(set.before(s0), None);
    assert_eq!(set.before(s2), Some(&10));
}
