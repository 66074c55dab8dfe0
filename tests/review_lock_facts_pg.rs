//! The lock and rewrite facts the review rules state, observed on a real
//! PostgreSQL: the locks a statement holds (pg_locks inside an open
//! transaction, or the lock a blocked statement waits for), whether it
//! rewrites the table (a new relfilenode), whether it checks every row (a
//! CHECK that counts its calls), and that the rules' fixes run. One
//! throwaway cluster for all of them; without PostgreSQL this fails.

use postgres::{Client, NoTls};
use schemashift::cluster::Cluster;
use schemashift::engine::postgres::{type_change, TypeChange};
use schemashift::review::{review_sql, Finding, ReviewOptions};
use std::time::{Duration, Instant};

fn connect(cluster: &Cluster) -> Client {
    Client::connect(&cluster.url(), NoTls).unwrap_or_else(|e| panic!("connecting: {e}"))
}

fn findings(rule: &str, sql: &str) -> Vec<Finding> {
    review_sql(sql, None, &ReviewOptions::default())
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

/// The table-level locks this session holds on `table`.
fn held(c: &mut Client, table: &str) -> Vec<String> {
    let mut modes: Vec<String> = c
        .query(
            "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = $1::text::regclass AND pid = pg_backend_pid()",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    modes.sort();
    modes
}

fn relfilenode(c: &mut Client, table: &str) -> u32 {
    let oid: postgres::types::Oid = c
        .query_one(
            "SELECT relfilenode FROM pg_class WHERE oid = $1::text::regclass",
            &[&table],
        )
        .unwrap()
        .get(0);
    oid
}

/// The lock `stmt`, run on its own connection, waits for on `table` while
/// another session holds `blocker` on it.
fn awaited_lock(cluster: &Cluster, table: &str, blocker: &str, stmt: &str) -> String {
    let mut holder = connect(cluster);
    holder.batch_execute("BEGIN").unwrap();
    holder
        .batch_execute(&format!("LOCK TABLE {table} IN {blocker} MODE"))
        .unwrap();
    let url = cluster.url();
    let stmt = stmt.to_string();
    let waiter = std::thread::spawn(move || {
        let mut c = Client::connect(&url, NoTls).unwrap();
        c.batch_execute(&stmt)
    });
    let mut watcher = connect(cluster);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mode = loop {
        let row = watcher
            .query_opt(
                "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = $1::text::regclass AND NOT granted",
                &[&table],
            )
            .unwrap();
        if let Some(r) = row {
            break r.get::<_, String>(0);
        }
        assert!(Instant::now() < deadline, "{table}: nothing waited");
        std::thread::sleep(Duration::from_millis(20));
    };
    holder.batch_execute("COMMIT").unwrap();
    waiter.join().unwrap().unwrap();
    mode
}

#[test]
fn lock_and_rewrite_facts_hold_on_postgres() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(&cluster);
    c.batch_execute(
        "CREATE TABLE parent (id bigint PRIMARY KEY);
         INSERT INTO parent SELECT g FROM generate_series(1, 1000) g;
         CREATE TABLE t (id bigint PRIMARY KEY, a int, room int, during tstzrange);
         INSERT INTO t SELECT g, g, g, tstzrange(now() + g * interval '1 hour', now() + (g + 1) * interval '1 hour') FROM generate_series(1, 1000) g;",
    )
    .unwrap();

    // VACUUM (FULL false) waits for SHARE UPDATE EXCLUSIVE, VACUUM FULL for
    // ACCESS EXCLUSIVE; the review says so (missing-lock-timeout only on FULL).
    let plain = awaited_lock(
        &cluster,
        "t",
        "SHARE UPDATE EXCLUSIVE",
        "VACUUM (FULL false) t",
    );
    assert_eq!(plain, "ShareUpdateExclusiveLock");
    let full = awaited_lock(
        &cluster,
        "t",
        "SHARE UPDATE EXCLUSIVE",
        "VACUUM (FULL true) t",
    );
    assert_eq!(full, "AccessExclusiveLock");
    assert!(findings("missing-lock-timeout", "VACUUM (FULL false) t;").is_empty());
    assert_eq!(
        findings("missing-lock-timeout", "VACUUM (FULL true) t;").len(),
        1
    );

    // REINDEX (CONCURRENTLY false) is plain REINDEX: SHARE on the table.
    c.batch_execute("BEGIN; REINDEX (CONCURRENTLY false) TABLE t")
        .unwrap();
    assert!(
        held(&mut c, "t").contains(&"ShareLock".to_string()),
        "{:?}",
        held(&mut c, "t")
    );
    c.batch_execute("ROLLBACK").unwrap();
    let f = findings(
        "missing-lock-timeout",
        "REINDEX (CONCURRENTLY false) TABLE t;",
    );
    assert!(
        f[0].message.contains("needs SHARE on t "),
        "{}",
        f[0].message
    );

    // CREATE TABLE ... REFERENCES parent holds SHARE ROW EXCLUSIVE on parent
    // until commit: writes to parent wait.
    c.batch_execute(
        "BEGIN; CREATE TABLE child (id bigint, parent_id bigint REFERENCES parent (id))",
    )
    .unwrap();
    let on_parent = held(&mut c, "parent");
    assert!(
        on_parent.contains(&"ShareRowExclusiveLock".to_string()),
        "{on_parent:?}"
    );
    assert!(
        !on_parent.contains(&"AccessExclusiveLock".to_string()),
        "{on_parent:?}"
    );
    c.batch_execute("ROLLBACK").unwrap();
    let f = findings(
        "missing-lock-timeout",
        "CREATE TABLE child (id bigint, parent_id bigint REFERENCES parent (id));",
    );
    assert!(
        f[0].message.contains("SHARE ROW EXCLUSIVE on parent"),
        "{}",
        f[0].message
    );

    // ADD CONSTRAINT ... EXCLUDE builds its index under ACCESS EXCLUSIVE.
    let exclude = "ALTER TABLE t ADD CONSTRAINT t_no_overlap EXCLUDE USING gist (during WITH &&)";
    c.batch_execute(&format!("BEGIN; {exclude}")).unwrap();
    assert!(held(&mut c, "t").contains(&"AccessExclusiveLock".to_string()));
    let built: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND NOT indisprimary",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(built, 1, "the index is built inside the statement");
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        findings("add-exclusion-constraint", &format!("{exclude};")).len(),
        1
    );

    // SET UNLOGGED / SET LOGGED: a new file under ACCESS EXCLUSIVE.
    for set in ["SET UNLOGGED", "SET LOGGED"] {
        let before = relfilenode(&mut c, "t");
        c.batch_execute(&format!("BEGIN; ALTER TABLE t {set}"))
            .unwrap();
        assert!(held(&mut c, "t").contains(&"AccessExclusiveLock".to_string()));
        c.batch_execute("COMMIT").unwrap();
        assert_ne!(relfilenode(&mut c, "t"), before, "{set} rewrites");
        assert_eq!(
            findings("set-logged-or-unlogged", &format!("ALTER TABLE t {set};")).len(),
            1
        );
    }

    // A SELECT after ALTER TABLE in the same transaction runs under the
    // ALTER's ACCESS EXCLUSIVE: another session's read waits.
    c.batch_execute("BEGIN; ALTER TABLE t ADD COLUMN note text")
        .unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    assert_eq!(n, 1000);
    let mut reader = connect(&cluster);
    reader.batch_execute("SET lock_timeout = '200ms'").unwrap();
    let err = reader
        .query_one("SELECT id FROM t LIMIT 1", &[])
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("55P03"), "{err}");
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        findings(
            "scan-after-ddl-in-transaction",
            "BEGIN;\nALTER TABLE t ADD COLUMN note text;\nSELECT count(*) FROM t;\nCOMMIT;"
        )
        .len(),
        1
    );
}

/// Each type change the engine calls free keeps the table's file, and each
/// it calls a rewrite gets a new one.
#[test]
fn type_changes_rewrite_as_the_engine_says() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(&cluster);
    for (from, to) in [
        ("cidr", "inet"),
        ("inet", "cidr"),
        ("xml", "text"),
        ("xml", "varchar"),
        ("xml", "varchar(10)"),
        ("time(3)", "time(6)"),
        ("time(3)", "time"),
        ("time", "time(3)"),
        ("timetz(2)", "timetz(5)"),
        ("timetz(5)", "timetz(2)"),
        ("time(2) with time zone", "timetz"),
        ("interval(2)", "interval(4)"),
        ("interval(4)", "interval(2)"),
        ("interval(3)", "interval"),
        ("interval", "interval(5)"),
        ("varchar(10)", "varchar(20)"),
        ("integer", "bigint"),
    ] {
        let value = match from {
            "cidr" | "inet" => "'10.1.0.0/16'",
            "xml" => "'<a/>'",
            f if f.starts_with("interval") => "'1 hour'",
            f if f.starts_with("time") => "'12:34:56.789'",
            f if f.starts_with("varchar") => "'abc'",
            _ => "7",
        };
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS tc; CREATE TABLE tc (c {from}); INSERT INTO tc SELECT {value} FROM generate_series(1, 10);"
        ))
        .unwrap();
        let before = relfilenode(&mut c, "tc");
        c.batch_execute(&format!("ALTER TABLE tc ALTER COLUMN c TYPE {to}"))
            .unwrap();
        let rewrote = relfilenode(&mut c, "tc") != before;
        let said = type_change(Some(from), to);
        assert_eq!(
            rewrote,
            said == TypeChange::Rewrite,
            "{from} -> {to}: {said:?}"
        );
        // The review agrees when the file shows the old type.
        let sql = format!(
            "ALTER TABLE hosts ADD COLUMN c {from};\nALTER TABLE hosts ALTER COLUMN c TYPE {to};"
        );
        let flagged = !findings("column-type-change-rewrite", &sql).is_empty();
        assert_eq!(flagged, rewrote, "{sql}");
    }
}

/// A type change that keeps the table still re-checks a validated CHECK on
/// the column against every row; the rule's fix does not, and runs.
#[test]
fn a_kept_type_rechecks_its_checks_and_the_fix_does_not() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(&cluster);
    // An IMMUTABLE CHECK that counts its calls in a sequence.
    c.batch_execute(
        "CREATE SEQUENCE calls;
         CREATE FUNCTION counted(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
           AS $$ BEGIN PERFORM nextval('calls'); RETURN v <> ''; END $$;
         CREATE TABLE users (id bigint PRIMARY KEY, name varchar(10));
         INSERT INTO users SELECT g, 'n' || g FROM generate_series(1, 500) g;",
    )
    .unwrap();
    let calls = |c: &mut Client| -> i64 {
        c.query_one(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM calls",
            &[],
        )
        .unwrap()
        .get(0)
    };
    let add = "ALTER TABLE users ADD CONSTRAINT users_name_check CHECK (counted(name))";
    c.batch_execute(add).unwrap();
    assert_eq!(calls(&mut c), 500);
    let before = relfilenode(&mut c, "users");
    let change = "ALTER TABLE users ALTER COLUMN name TYPE varchar(20)";
    c.batch_execute(change).unwrap();
    assert_eq!(relfilenode(&mut c, "users"), before, "no rewrite");
    assert_eq!(calls(&mut c), 1000, "every row checked again");

    let sql = format!("{add};\nALTER TABLE users ALTER COLUMN name TYPE varchar(40);");
    let f = findings("column-type-change-recheck", &sql);
    assert_eq!(f.len(), 1, "{f:?}");
    let fix = f[0].fix.clone().unwrap();
    // The fix, statement by statement: the first checks nothing, the
    // VALIDATE checks every row under SHARE UPDATE EXCLUSIVE.
    let mut parts = fix.split(";\n");
    let first = parts.next().unwrap();
    c.batch_execute(first).unwrap();
    assert_eq!(calls(&mut c), 1000, "no row checked: {first}");
    let validate = parts.next().unwrap();
    c.batch_execute(&format!("BEGIN; {validate}")).unwrap();
    assert_eq!(
        held(&mut c, "users"),
        ["ShareUpdateExclusiveLock"],
        "{validate}"
    );
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(calls(&mut c), 1500);
    let kind: String = c
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'name'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kind, "character varying(40)");
}

/// The fixes of truncate-cascade and rename-schema are queries that print
/// the statements to run; they run, and what they print is right.
#[test]
fn printed_fixes_run_and_print_what_is_needed() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(&cluster);
    c.batch_execute(
        "CREATE TABLE carts (id int PRIMARY KEY);
         CREATE TABLE items (id int PRIMARY KEY, cart_id int REFERENCES carts);
         CREATE TABLE notes (id int, item_id int REFERENCES items);
         CREATE TABLE sessions (id int);
         CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (id int);",
    )
    .unwrap();
    let f = findings("truncate-cascade", "TRUNCATE carts, sessions CASCADE;");
    let fix = f[0].fix.clone().unwrap();
    let printed: String = c
        .query_one(
            fix.rsplit_once("\n-- ")
                .map_or(fix.as_str(), |(_, q)| q)
                .split_once('\n')
                .unwrap()
                .1,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(printed, "TRUNCATE carts, sessions, items, notes;");
    c.batch_execute(&printed).unwrap();

    let f = findings("rename-schema", "ALTER SCHEMA billing RENAME TO invoicing;");
    let fix = f[0].fix.clone().unwrap();
    let create = fix
        .lines()
        .find(|l| l.starts_with("CREATE SCHEMA"))
        .unwrap();
    c.batch_execute(create).unwrap();
    let query = fix.lines().last().unwrap();
    let moves: Vec<String> = c
        .query(query, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        moves,
        ["ALTER TABLE billing.invoices SET SCHEMA invoicing;"]
    );
    c.batch_execute(&moves[0]).unwrap();
}

/// What a tool that sends a file as one query string gets: one statement
/// runs alone (outside a transaction), several run in one implicit
/// transaction (Prisma, golang-migrate; `ToolWrap::SeveralStatements`).
#[test]
fn one_query_string_is_a_transaction_only_with_several_statements() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let mut c = connect(&cluster);
    c.batch_execute("CREATE TABLE t (a int); CREATE INDEX t_a ON t (a); CREATE INDEX t_b ON t (a)")
        .unwrap();
    c.batch_execute("DROP INDEX CONCURRENTLY t_a").unwrap();
    let err = c
        .batch_execute("SELECT 1; DROP INDEX CONCURRENTLY t_b")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot run inside a transaction block")
            || err.as_db_error().is_some_and(|e| e
                .message()
                .contains("cannot run inside a transaction block")),
        "{err}"
    );
}
