//! Every PostgreSQL major from 11 to 18 runs the plans and keeps the
//! rehearsal isolated.
//!
//! For each major a real cluster starts through the harness
//! ([`Cluster::start_major`]): installed binaries of that major, else the
//! server build in the cache, else one fetched into the cache (about 24 MB
//! per major, once). On it:
//!
//! - a fixed slice of the plan cases of tests/plans_pg.rs, each built for
//!   that major, runs its forward steps, validations, every rollback and the
//!   prepared backfill (`SCHEMASHIFT_MAJORS_FULL=1`: every case);
//! - the rehearsal's isolation where its SQL differs between majors
//!   (dropping the scratch database without FORCE before 13, the public
//!   schema's owner before 15, CREATEROLE's rules since 16): rehearsals with
//!   `--database-url` as a superuser and as a CREATEDB CREATEROLE user, a
//!   hostile one, and a user without CREATEDB, after which the user's
//!   databases, roles and canary rows are exactly as before and no scratch
//!   database or role is left.
//!
//! Every failure names the major, the case and the SQL with PostgreSQL's
//! message.

mod plans_support;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use plans_support::{cases, pg_error, run_case, Case, Server};
use schemashift::change::ChangeType;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

/// The cases every major runs by default: one of each SQL shape whose
/// spelling depends on the major (NOT NULL through a CHECK, a type change
/// with trigger and keyset backfill, an enum value, a rename with a sync
/// trigger, a foreign key validated apart, a unique partial expression
/// index built concurrently).
const SLICE: [&str; 6] = [
    "set_not_null",
    "change_column_type_int_to_bigint",
    "enum_add_value",
    "rename_column_trigger",
    "add_foreign_key",
    "add_index_unique_expression_partial",
];

fn full() -> bool {
    std::env::var("SCHEMASHIFT_MAJORS_FULL").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn all_cases() -> Vec<Case> {
    ChangeType::ALL.into_iter().flat_map(cases).collect()
}

/// The slice's names all name cases, so a renamed case cannot shrink it.
#[test]
fn the_slice_names_existing_cases() {
    let all = all_cases();
    for name in SLICE {
        assert!(
            all.iter().any(|c| c.name == name),
            "the slice names {name}, which is no case of tests/plans_support"
        );
    }
}

/// Runs the plan cases and the isolation checks on `major`.
fn prove_major(major: u32) {
    let started = std::time::Instant::now();
    let srv = Server::start(Some(major))
        .unwrap_or_else(|e| panic!("PostgreSQL {major} could not be started:\n{e}"));
    assert_eq!(srv.version, major, "asked for PostgreSQL {major}");
    let mut report = String::new();
    let mut failed = Vec::new();

    let t = std::time::Instant::now();
    let isolated = isolation(&srv);
    let secs = t.elapsed().as_secs_f64();
    if let Err(e) = isolated {
        failed.push("isolation".to_string());
        let _ = writeln!(report, "FAIL isolation ({secs:.0} s):\n{e}\n");
    } else {
        let _ = writeln!(report, "PASS isolation ({secs:.0} s)");
    }

    let all = all_cases();
    let run: Vec<&Case> = all
        .iter()
        .filter(|c| full() || SLICE.contains(&c.name))
        .collect();
    for case in &run {
        let t = std::time::Instant::now();
        let (errors, exercised) = run_case(&srv, case, major);
        let secs = t.elapsed().as_secs_f64();
        if errors.is_empty() {
            let _ = writeln!(report, "PASS {} ({secs:.1} s): {exercised}", case.name);
        } else {
            failed.push(case.name.to_string());
            let _ = writeln!(report, "FAIL {} ({secs:.1} s): {exercised}", case.name);
            for e in &errors {
                let _ = writeln!(report, "    {}\n", e.replace('\n', "\n    "));
            }
        }
    }
    eprintln!(
        "== PostgreSQL {major}: {} case(s) + isolation, {} failed, {:.0} s\n{report}",
        run.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "PostgreSQL {major}: {} of {} fail ({})\n{report}",
        failed.len(),
        run.len() + 1,
        failed.join(", ")
    );
}

macro_rules! majors {
    ($($test:ident => $major:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                prove_major($major);
            }
        )*
    };
}

majors! {
    postgres_11 => 11,
    postgres_12 => 12,
    postgres_13 => 13,
    postgres_14 => 14,
    postgres_15 => 15,
    postgres_16 => 16,
    postgres_17 => 17,
    postgres_18 => 18,
}

// ---------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------

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
";

/// What the user's server holds, read from the catalogs (pg_dump of one
/// version cannot dump every major): the databases, the roles with their
/// powers, and in appdb every object of `public` and `other` with its
/// owner, the public schema's owner and privileges, and every canary row.
fn fingerprint(srv: &Server) -> Result<String, String> {
    let mut out = String::new();
    let mut admin = srv.connect("postgres")?;
    let mut app = srv.connect("appdb")?;
    let queries: [(&mut postgres::Client, &str); 2] = [
        (
            &mut admin,
            "SELECT (SELECT string_agg(datname::text || ':' || pg_get_userbyid(datdba), ',' ORDER BY datname) FROM pg_database)
                 || ' | ' ||
                 (SELECT string_agg(rolname::text || ':' || rolsuper || rolcreatedb || rolcreaterole || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles)",
        ),
        (
            &mut app,
            "SELECT (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || pg_get_userbyid(c.relowner), ',' ORDER BY 1)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'other'))
                 || ' | ' || (SELECT string_agg(n.nspname || ':' || pg_get_userbyid(n.nspowner) || ':' || coalesce(n.nspacl::text, '-'), ',' ORDER BY 1)
                       FROM pg_namespace n WHERE n.nspname IN ('public', 'other'))
                 || ' | ' || (SELECT string_agg(p.proname || ':' || pg_get_userbyid(p.proowner), ',' ORDER BY 1)
                       FROM pg_proc p WHERE p.pronamespace IN ('public'::regnamespace, 'other'::regnamespace))
                 || ' | ' || (SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'other.status'::regtype)
                 || ' | ' || (SELECT string_agg(id || '=' || note, ',' ORDER BY id) FROM public.canary)
                 || ' | ' || (SELECT md5(string_agg(id || username || email, ',' ORDER BY id)) FROM public.users)
                 || ' | ' || (SELECT md5(string_agg(id || v || s::text, ',' ORDER BY id)) FROM other.t)
                 || ' | ' || (SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users')",
        ),
    ];
    for (client, sql) in queries {
        let row = client
            .query_one(sql, &[])
            .map_err(|e| format!("fingerprint: {}", pg_error(&e)))?;
        let v: Option<String> = row.get(0);
        out.push_str(&v.unwrap_or_else(|| "NULL".into()));
        out.push('\n');
    }
    Ok(out)
}

fn scratch_left(srv: &Server) -> Result<Vec<String>, String> {
    Ok(srv
        .connect("postgres")?
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'schemashift\\_rehearsal\\_%'
             UNION ALL SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'schemashift\\_rehearsal\\_%'",
            &[],
        )
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A directory for the rehearsals' input files, removed afterwards.
struct Files(PathBuf);

impl Files {
    fn new(major: u32) -> Files {
        let dir =
            std::env::temp_dir().join(format!("schemashift-majors-{major}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temp dir");
        Files(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("writing a temp file");
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\n      stdout: {}\n      stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout)
            .trim_end()
            .replace('\n', "\n      "),
        String::from_utf8_lossy(&o.stderr)
            .trim_end()
            .replace('\n', "\n      ")
    )
}

/// `schemashift rehearse --database-url URL --rows 100 ...` on the major's
/// server, as `who` (`user:password`, or the superuser).
fn rehearse(srv: &Server, who: Option<&str>, extra: &[&str]) -> Output {
    let mut url = srv.url_for("appdb");
    if let Some(who) = who {
        // postgresql://postgres:PASSWORD@/... -> postgresql://WHO@/...
        let at = url.find('@').expect("a URL with credentials");
        url = format!("postgresql://{who}{}", &url[at..]);
    }
    Command::new(EXE)
        .args([
            "rehearse",
            "--database-url",
            &url,
            "--rows",
            "100",
            "--no-long-transaction",
            "--summary",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("running schemashift")
}

/// The isolation checks on one major; Err lists every problem.
fn isolation(srv: &Server) -> Result<(), String> {
    let major = srv.version;
    let mut admin = srv.connect("postgres")?;
    for sql in [
        "CREATE DATABASE appdb",
        "CREATE ROLE migrator LOGIN CREATEDB CREATEROLE PASSWORD 'migrator-pw'",
        "CREATE ROLE limited LOGIN PASSWORD 'limited-pw'",
        "GRANT CONNECT ON DATABASE appdb TO migrator, limited",
    ] {
        admin
            .batch_execute(sql)
            .map_err(|e| format!("setting up the user's server: {sql}: {}", pg_error(&e)))?;
    }
    srv.connect("appdb")?
        .batch_execute(CANARIES)
        .map_err(|e| format!("loading the canaries: {}", pg_error(&e)))?;
    let before = fingerprint(srv)?;
    let files = Files::new(major);
    let users = files.file("users.sql", USERS);
    let hostile = files.file(
        "hostile.sql",
        "SET search_path TO public; DELETE FROM canary WHERE id = 2; ALTER SCHEMA public OWNER TO CURRENT_USER;\n",
    );
    let rename = "rename users.username to handle";

    let mut problems = Vec::new();
    let mut expect = |what: &str, o: Output, codes: &[i32], needle: &str| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if !o.status.code().is_some_and(|c| codes.contains(&c)) || !text.contains(needle) {
            problems.push(format!(
                "  {what}: expected exit {codes:?} and {needle:?}, got {}",
                shown(&o)
            ));
        }
    };
    let on = format!("PostgreSQL {major}.");
    expect(
        "a planned rehearsal as the superuser",
        rehearse(srv, None, &["--schema", &users, rename]),
        &[0],
        &on,
    );
    expect(
        "a planned rehearsal as a CREATEDB CREATEROLE user",
        rehearse(
            srv,
            Some("migrator:migrator-pw"),
            &["--schema", &users, rename],
        ),
        &[0],
        &on,
    );
    if full() {
        expect(
            "SQL as written that reaches for public.canary, as the CREATEDB CREATEROLE user",
            rehearse(
                srv,
                Some("migrator:migrator-pw"),
                &["--as-is", "--schema", &users, &hostile],
            ),
            &[0, 1],
            &on,
        );
    }
    expect(
        "SQL as written that reaches for public.canary, as the superuser",
        rehearse(srv, None, &["--as-is", "--schema", &users, &hostile]),
        &[0, 1],
        &on,
    );
    expect(
        "a user without CREATEDB",
        rehearse(
            srv,
            Some("limited:limited-pw"),
            &["--as-is", "--schema", &users, &hostile],
        ),
        &[2],
        "nothing was run",
    );

    let left = scratch_left(srv)?;
    if !left.is_empty() {
        problems.push(format!("  left behind: {left:?}"));
    }
    let after = fingerprint(srv)?;
    if before != after {
        problems.push(format!(
            "  the user's server changed:\n    before: {}\n    after:  {}",
            before.trim_end().replace('\n', "\n            "),
            after.trim_end().replace('\n', "\n            ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

// ---------------------------------------------------------------------------
// Finding and fetching
// ---------------------------------------------------------------------------

/// A major that is neither installed nor cached, with downloads off, is
/// refused with both ways to get it; `rehearse --offline` says the same.
#[test]
fn offline_without_the_major_names_both_ways_to_get_it() {
    let empty =
        std::env::temp_dir().join(format!("schemashift-empty-cache-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let o = Command::new(EXE)
        .args([
            "rehearse",
            "--offline",
            "--pg-version",
            "12",
            "--rows",
            "100",
            "rename users.username to handle",
        ])
        .env("SCHEMASHIFT_CACHE_DIR", &empty)
        .env_remove("SCHEMASHIFT_PG_BIN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
    assert!(o.stdout.is_empty(), "{}", shown(&o));
    for needle in [
        "PostgreSQL 12 server binaries",
        "apt-get install -y postgresql-12",
        "run without --offline",
        "SCHEMASHIFT_OFFLINE",
    ] {
        assert!(err.contains(needle), "missing {needle:?}: {err}");
    }
}
