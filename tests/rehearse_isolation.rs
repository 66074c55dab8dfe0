//! Hostile input never reaches a database the rehearsal does not own.
//!
//! One throwaway cluster plays the user's server: canary tables with rows,
//! an index, an enum type and a function in schemas `public` and `other` of
//! `appdb`, and a table in a second database. The CLI then rehearses with
//! `--database-url` every input that used to reach those objects: SQL as
//! written that names `public.…` or changes the search_path, `COPY … TO
//! PROGRAM`, a schema file with extra statements, an edited plan, planned
//! changes on `other.…`, an expression calling set_config, and runs
//! interrupted by SIGINT and SIGTERM. Afterwards every canary database dumps
//! exactly as before, no scratch database or role is left, and no command
//! ran. The throwaway cluster (no --database-url) refuses COPY TO PROGRAM
//! too, and a user without CREATEDB is stopped before anything runs.

use schemashift::cluster::Cluster;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

const USERS: &str = "CREATE TABLE users (id bigint PRIMARY KEY, username text, email text);\n";

const CANARIES: &str = "
CREATE TABLE public.users (id bigint PRIMARY KEY, username text, email text);
INSERT INTO public.users SELECT g, 'user' || g, 'u' || g || '@example.com' FROM generate_series(1, 50) g;
CREATE TABLE public.canary (id int PRIMARY KEY, note text);
INSERT INTO public.canary VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE FUNCTION public.canary_fn() RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE SCHEMA other;
CREATE TYPE other.status AS ENUM ('new', 'paid', 'legacy');
CREATE TABLE other.t (id bigint PRIMARY KEY, v text, s other.status);
CREATE INDEX t_v_idx ON other.t (v);
INSERT INTO other.t SELECT g, 'v' || g, 'paid' FROM generate_series(1, 20) g;
CREATE TABLE other.canary (id int PRIMARY KEY, note text);
INSERT INTO other.canary VALUES (1, 'other one');
";

/// A scratch directory for files, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "schemashift-isolation-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    cluster: Cluster,
}

impl Server {
    fn start() -> Server {
        let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        let server = Server { cluster };
        let mut admin = server.client("postgres");
        for db in ["appdb", "otherdb"] {
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .unwrap();
        }
        server.client("appdb").batch_execute(CANARIES).unwrap();
        server
            .client("otherdb")
            .batch_execute(
                "CREATE TABLE public.canary (id int PRIMARY KEY, note text);
                 INSERT INTO public.canary VALUES (1, 'second database');",
            )
            .unwrap();
        server
    }

    fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.cluster.url_for(db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {db}: {e}"))
    }

    /// Schema and data of every canary database, the databases and the
    /// roles of the server.
    fn fingerprint(&self) -> String {
        let mut out = String::new();
        for db in ["appdb", "otherdb", "postgres"] {
            let dump = Command::new(self.cluster.bin_dir().join("pg_dump"))
                .arg("--dbname")
                .arg(self.cluster.url_for(db))
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "pg_dump {db}: {}",
                String::from_utf8_lossy(&dump.stderr)
            );
            // \restrict carries a random key per dump.
            for line in String::from_utf8_lossy(&dump.stdout).lines() {
                if !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict") {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let mut admin = self.client("postgres");
        for q in [
            "SELECT string_agg(datname::text, ',' ORDER BY datname) FROM pg_database",
            "SELECT string_agg(rolname::text || ':' || rolsuper || rolcreatedb, ',' ORDER BY rolname) FROM pg_roles",
        ] {
            let v: String = admin.query_one(q, &[]).unwrap().get(0);
            out.push_str(&v);
            out.push('\n');
        }
        out
    }

    fn scratch_left(&self) -> Vec<String> {
        self.client("postgres")
            .query(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'schemashift\\_rehearsal\\_%'
                 UNION ALL SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'schemashift\\_rehearsal\\_%'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    fn url(&self) -> String {
        self.cluster.url_for("appdb")
    }
}

fn schemashift(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run schemashift")
}

fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A small, quick rehearsal on the user's server.
fn rehearse_on(server: &Server, extra: &[&str]) -> Output {
    let url = server.url();
    let mut args = vec![
        "rehearse",
        "--database-url",
        &url,
        "--rows",
        "100",
        "--no-long-transaction",
    ];
    args.extend_from_slice(extra);
    schemashift(&args)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn hostile_rehearsals_touch_nothing_but_their_own_database() {
    let server = Server::start();
    let files = Scratch::new("hostile");
    let before = server.fingerprint();
    let users = files.file("users.sql", USERS);
    let touched = files.0.join("touched-by-copy");

    // Leftovers of a killed run (its pid is gone) are removed by the next
    // run; those of a live process (this one) stay.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale = format!("schemashift_rehearsal_{dead}_{now}_abcd");
    let alive = format!("schemashift_rehearsal_{}_{now}_abcd", std::process::id());
    {
        let mut admin = server.client("postgres");
        for name in [&stale, &alive] {
            admin.batch_execute(&format!("CREATE ROLE {name}")).unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name} OWNER {name}"))
                .unwrap();
        }
    }

    let mut runs: Vec<(&str, Output)> = Vec::new();
    let as_is = |name: &str, sql: &str| {
        let f = files.file(name, sql);
        rehearse_on(&server, &["--as-is", "--schema", path(&users), path(&f)])
    };
    runs.push((
        "as-is DROP COLUMN on public.users",
        as_is("drop.sql", "ALTER TABLE public.users DROP COLUMN email;\n"),
    ));
    runs.push((
        "as-is search_path to public, then DELETE",
        as_is(
            "delete.sql",
            "SET search_path TO public; DELETE FROM canary WHERE id = 2;\n",
        ),
    ));
    runs.push((
        "as-is COPY TO PROGRAM",
        as_is(
            "copy.sql",
            &format!(
                "COPY (SELECT 1) TO PROGRAM 'touch {}';\n",
                touched.display()
            ),
        ),
    ));
    let evil_schema = files.file(
        "evil_schema.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, username text, email text);\nINSERT INTO public.canary VALUES (99, 'x');\nCREATE TYPE public.leaked_type AS ENUM ('a', 'b');\n",
    );
    runs.push((
        "schema file writing public.canary",
        rehearse_on(
            &server,
            &[
                "--schema",
                path(&evil_schema),
                "rename users.username to handle",
            ],
        ),
    ));

    // A plan built by `plan --json`, its first forward step edited.
    let planned = schemashift(&[
        "plan",
        "--json",
        "--schema",
        path(&users),
        "rename users.username to handle",
    ]);
    assert!(planned.status.success(), "{}", shown(&planned));
    let mut plan: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    plan["phases"][0]["forward"][0]["sql"] = "DELETE FROM public.canary WHERE id = 3;".into();
    let plan_file = files.file("plan.json", &plan.to_string());
    runs.push((
        "edited plan JSON",
        rehearse_on(&server, &["--schema", path(&users), path(&plan_file)]),
    ));

    let t = files.file("t.sql", "CREATE TABLE t (id bigint PRIMARY KEY, v text);\n");
    runs.push((
        "drop index other.t_v_idx",
        rehearse_on(&server, &["--schema", path(&t), "drop index other.t_v_idx"]),
    ));
    let se = files.file(
        "se.sql",
        "CREATE TYPE status AS ENUM ('new', 'paid', 'legacy');\nCREATE TABLE t (id bigint PRIMARY KEY, v text, s status);\n",
    );
    runs.push((
        "enum relabel in other.status",
        rehearse_on(
            &server,
            &[
                "--schema",
                path(&se),
                "rename enum value 'paid' to 'settled' in other.status",
            ],
        ),
    ));
    runs.push((
        "set_config expression",
        rehearse_on(
            &server,
            &[
                "--schema",
                path(&users),
                "UPDATE users SET username = set_config('search_path', 'public', false)",
            ],
        ),
    ));

    // None of them may have got a shell, changed a canary, or left its
    // scratch database behind.
    let mut left = server.scratch_left();
    let live_kept = left.iter().filter(|n| **n == alive).count();
    {
        let mut admin = server.client("postgres");
        admin
            .batch_execute(&format!("DROP DATABASE {alive}"))
            .unwrap();
        admin.batch_execute(&format!("DROP ROLE {alive}")).unwrap();
    }
    left.retain(|n| *n != alive);
    let after = server.fingerprint();
    let log: String = runs
        .iter()
        .map(|(name, o)| format!("=== {name}\n{}\n", shown(o)))
        .collect();
    assert!(!touched.exists(), "COPY TO PROGRAM ran a command\n{log}");
    assert!(left.is_empty(), "left behind: {left:?}\n{log}");
    assert_eq!(
        live_kept, 2,
        "a live process's scratch database and role were removed"
    );
    assert_same(&before, &after, &log);
    // No run died on a panic or abort.
    for (name, o) in &runs {
        assert!(
            matches!(o.status.code(), Some(0..=2)),
            "{name}: {}",
            shown(o)
        );
    }
    // Schema-qualified SQL as written now simply rehearses in the scratch
    // database: public.users there is the rehearsal's own, so dropping its
    // column breaks the rehearsal's app, not the user's table.
    let (_, dropped) = &runs[0];
    let dropped_log = shown(dropped);
    assert_eq!(dropped.status.code(), Some(1), "{dropped_log}");
    assert!(
        dropped_log.contains("users lost columns the change does not touch: email"),
        "{dropped_log}"
    );
    // A change on another schema's object, which the starting schema does
    // not create, is refused with what to give instead.
    let (_, index) = &runs[5];
    let index_log = shown(index);
    assert_eq!(index.status.code(), Some(2), "{index_log}");
    assert!(
        index_log.contains("the starting schema has no schema other"),
        "{index_log}"
    );
    // COPY TO PROGRAM is refused by the server: the role is no superuser.
    let (_, copy) = &runs[2];
    let copy_log = shown(copy);
    assert!(copy_log.contains("must be superuser"), "{copy_log}");
}

/// The fingerprints match; otherwise the lines only one of them has.
fn assert_same(before: &str, after: &str, log: &str) {
    if before == after {
        return;
    }
    let gone: Vec<&str> = before.lines().filter(|l| !after.contains(l)).collect();
    let new: Vec<&str> = after.lines().filter(|l| !before.contains(l)).collect();
    panic!("a canary changed\nlines gone: {gone:#?}\nlines new: {new:#?}\n{log}");
}

/// Waits for `done` for up to `secs` seconds.
fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemashift did not exit within {secs} s of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn interrupted_rehearsals_leave_nothing_behind() {
    let server = Server::start();
    let files = Scratch::new("signals");
    let users = files.file("users.sql", USERS);
    let before = server.fingerprint();
    let url = server.url();
    for (sig, code) in [("-INT", 130), ("-TERM", 143)] {
        let mut child = Command::new(EXE)
            .args([
                "rehearse",
                "--database-url",
                &url,
                "--rows",
                "20000",
                "--schema",
                path(&users),
                "rename users.username to handle",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = wait_for(120, || !server.scratch_left().is_empty());
        assert!(started, "the rehearsal never created its scratch database");
        // Well into the run: rows loading or the phases running.
        std::thread::sleep(Duration::from_millis(1500));
        signal(&child, sig);
        let got = wait_exit(&mut child, 60);
        assert_eq!(got, Some(code), "exit status after {sig}");
        let left = server.scratch_left();
        assert!(left.is_empty(), "after {sig}, left behind: {left:?}");
    }
    assert_same(&before, &server.fingerprint(), "");

    // The throwaway cluster of a default rehearsal goes too.
    let mut child = Command::new(EXE)
        .args([
            "rehearse",
            "--rows",
            "20000",
            "--schema",
            path(&users),
            "rename users.username to handle",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("schemashift-pg-{}-", child.id());
    let dirs = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    };
    let running = wait_for(120, || {
        dirs()
            .iter()
            .any(|d| d.join("data/postmaster.pid").exists())
    });
    assert!(running, "the rehearsal never started its cluster");
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child, 60), Some(143));
    assert!(dirs().is_empty(), "cluster left behind: {:?}", dirs());
}

#[test]
fn the_throwaway_cluster_refuses_copy_to_program() {
    let files = Scratch::new("copy");
    let touched = files.0.join("touched-by-copy");
    let schema = files.file(
        "t.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, name text);\n",
    );
    let copy = files.file(
        "copy.sql",
        &format!(
            "COPY (SELECT 1) TO PROGRAM 'touch {}';\n",
            touched.display()
        ),
    );
    let o = schemashift(&[
        "rehearse",
        "--as-is",
        "--rows",
        "10",
        "--no-long-transaction",
        "--schema",
        path(&schema),
        path(&copy),
    ]);
    let log = shown(&o);
    assert!(!touched.exists(), "COPY TO PROGRAM ran a command\n{log}");
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains("must be superuser"), "{log}");
    // The same through the schema file: refused before the rehearsal.
    let evil = files.file(
        "evil.sql",
        &format!(
            "CREATE TABLE t (id bigint PRIMARY KEY, name text);\nCOPY (SELECT 1) TO PROGRAM 'touch {}';\n",
            touched.display()
        ),
    );
    let o = schemashift(&[
        "rehearse",
        "--rows",
        "10",
        "--no-long-transaction",
        "--schema",
        path(&evil),
        "rename t.name to title",
    ]);
    assert!(!touched.exists(), "COPY TO PROGRAM ran\n{}", shown(&o));
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
}

#[test]
fn a_user_without_createdb_is_stopped_before_anything_runs() {
    let server = Server::start();
    server
        .client("postgres")
        .batch_execute(
            "CREATE ROLE limited LOGIN PASSWORD 'limited-pw';
             GRANT CONNECT ON DATABASE appdb TO limited;",
        )
        .unwrap();
    server
        .client("appdb")
        .batch_execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO limited; GRANT CREATE ON SCHEMA public TO limited;")
        .unwrap();
    let before = server.fingerprint();
    let files = Scratch::new("grants");
    let users = files.file("users.sql", USERS);
    let drop = files.file("drop.sql", "DROP TABLE public.canary;\n");
    let url = server.url().replacen(
        &format!("postgres:{}@", server.cluster.password()),
        "limited:limited-pw@",
        1,
    );
    assert!(url.contains("limited:limited-pw@"), "{url}");
    let o = schemashift(&[
        "rehearse",
        "--database-url",
        &url,
        "--rows",
        "100",
        "--no-long-transaction",
        "--as-is",
        "--schema",
        path(&users),
        path(&drop),
    ]);
    let log = shown(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("CREATEDB") && log.contains("CREATEROLE") && log.contains("nothing was run"),
        "{log}"
    );
    assert!(server.scratch_left().is_empty());
    assert_same(&before, &server.fingerprint(), &log);
}

/// A statement that would run forever is stopped: by the session's
/// statement_timeout, and, when the SQL lifts that, by cancelling it.
#[test]
fn statements_cannot_hang_a_rehearsal() {
    let files = Scratch::new("timeout");
    let schema = files.file(
        "t.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, name text);\n",
    );
    for (sql, reason) in [
        (
            "SELECT pg_sleep(600);\n",
            "canceling statement due to statement timeout",
        ),
        (
            "SET statement_timeout = 0;\nSELECT pg_sleep(600);\n",
            "canceling statement due to user request",
        ),
    ] {
        let sleep = files.file("sleep.sql", sql);
        let began = Instant::now();
        let o = schemashift(&[
            "rehearse",
            "--as-is",
            "--rows",
            "10",
            "--no-long-transaction",
            "--statement-timeout-ms",
            "1000",
            "--schema",
            path(&schema),
            path(&sleep),
        ]);
        let log = shown(&o);
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "took {:?}\n{log}",
            began.elapsed()
        );
        assert_eq!(o.status.code(), Some(1), "{log}");
        assert!(log.contains(reason), "{log}");
    }
}

/// The MCP server removes a running rehearsal's scratch database when it is
/// sent SIGTERM, and when its client closes stdin.
#[test]
fn the_mcp_server_cleans_up_on_sigterm_and_closed_stdin() {
    use std::io::Write;
    let server = Server::start();
    let before = server.fingerprint();
    for how in ["SIGTERM", "stdin closed"] {
        let mut child = Command::new(EXE)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let call = serde_json::json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "rehearse_plan", "arguments": {
                "request": "rename users.username to handle",
                "schema": USERS,
                "rehearsal": {"database_url": server.url(), "rows": 20000}
            }}
        });
        let mut stdin = child.stdin.take().unwrap();
        for msg in [
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-03-26", "capabilities": {},
                "clientInfo": {"name": "isolation-test", "version": "1"}}}),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            call,
        ] {
            writeln!(stdin, "{msg}").unwrap();
        }
        stdin.flush().unwrap();
        let started = wait_for(120, || !server.scratch_left().is_empty());
        assert!(
            started,
            "{how}: the rehearsal never created its scratch database"
        );
        std::thread::sleep(Duration::from_millis(1500));
        if how == "SIGTERM" {
            signal(&child, "-TERM");
            assert_eq!(wait_exit(&mut child, 60), Some(143), "{how}");
            drop(stdin);
        } else {
            drop(stdin);
            wait_exit(&mut child, 120);
        }
        let left = server.scratch_left();
        assert!(left.is_empty(), "{how}: left behind: {left:?}");
    }
    assert_same(&before, &server.fingerprint(), "");
}
