//! Starts real throwaway PostgreSQL clusters. These tests need PostgreSQL
//! installed; without it they fail with the install instructions rather than
//! skip, so a missing server can never pass as green.

use std::path::Path;
use std::thread;

use schemashift::cluster::{reap_stale_dirs, Cluster, ClusterError, ClusterOptions};

fn start() -> Cluster {
    Cluster::start().unwrap_or_else(|e| panic!("{e}"))
}

fn connect(cluster: &Cluster) -> postgres::Client {
    postgres::Client::connect(&cluster.url(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", cluster.url()))
}

#[test]
fn starts_and_answers_queries() {
    let cluster = start();
    assert_eq!(
        cluster.url(),
        format!(
            "postgresql://postgres:{}@/postgres?host={}&port={}",
            cluster.password(),
            cluster.socket_dir().display(),
            cluster.port()
        )
    );
    assert!(cluster.password().len() >= 32, "{}", cluster.password());
    assert!(cluster.bin_dir().join("initdb").is_file());

    let mut client = connect(&cluster);
    let version: String = client.query_one("SELECT version()", &[]).unwrap().get(0);
    assert!(version.starts_with("PostgreSQL "), "{version}");

    let num: String = client
        .query_one("SHOW server_version_num", &[])
        .unwrap()
        .get(0);
    let num: u32 = num.parse().unwrap();
    assert_eq!(num / 10000, cluster.version_major(), "{num}");

    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO t VALUES (1, 'one'), (2, 'two');",
        )
        .unwrap();
    let rows = client
        .query("SELECT id, name FROM t ORDER BY id", &[])
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, "one".to_string()), (2, "two".to_string())]);

    // The durability shortcuts are in force.
    let fsync: String = client.query_one("SHOW fsync", &[]).unwrap().get(0);
    assert_eq!(fsync, "off");
}

/// No TCP, a socket directory no one else can enter, and a password.
#[test]
fn only_a_private_socket_with_a_password_reaches_it() {
    let cluster = start();
    let mut client = connect(&cluster);
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .unwrap()
        .get(0);
    assert_eq!(listen, "");
    let hba: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method NOT IN ('scram-sha-256')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hba, 0, "every pg_hba rule asks for a scram password");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cluster.socket_dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    let wrong = cluster
        .url()
        .replace(cluster.password(), "not-the-password");
    let err = postgres::Client::connect(&wrong, postgres::NoTls)
        .err()
        .expect("a wrong password is refused");
    let msg = err
        .as_db_error()
        .map_or_else(|| err.to_string(), |e| e.message().to_string());
    assert!(msg.contains("password authentication failed"), "{msg}");
}

/// Directories of processes that are gone are removed; those of live ones
/// stay.
#[test]
fn leftovers_of_dead_processes_are_reaped() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let tmp = std::env::temp_dir();
    let stale = tmp.join(format!("schemashift-pg-{dead}-0-1"));
    let ours = tmp.join(format!("schemashift-pg-{}-999-1", std::process::id()));
    for d in [&stale, &ours] {
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::write(d.join("data/PG_VERSION"), "15\n").unwrap();
    }
    let reaped = reap_stale_dirs();
    let ours_kept = ours.exists();
    let _ = std::fs::remove_dir_all(&ours);
    assert!(reaped.contains(&stale), "{reaped:?}");
    assert!(!stale.exists());
    assert!(ours_kept, "a live process's directory was removed");
}

#[test]
fn concurrent_clusters_are_independent() {
    let handles: Vec<_> = (0..2).map(|_| thread::spawn(start)).collect();
    let clusters: Vec<Cluster> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (a, b) = (&clusters[0], &clusters[1]);
    assert_ne!(a.socket_dir(), b.socket_dir());
    assert_ne!(a.data_dir(), b.data_dir());

    connect(a)
        .batch_execute("CREATE TABLE only_in_a ()")
        .unwrap();
    let found: i64 = connect(b)
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(found, 0);
}

/// After the cluster is gone its files are, and its URL does not answer.
fn assert_gone(url: &str, base: &Path, sock: &Path) {
    assert!(!base.exists(), "{} still exists", base.display());
    assert!(!sock.exists(), "{} still exists", sock.display());
    assert!(
        postgres::Client::connect(url, postgres::NoTls).is_err(),
        "old server still answers"
    );
}

#[test]
fn drop_stops_the_server_and_removes_files() {
    let cluster = start();
    let (url, base, sock) = (
        cluster.url(),
        cluster.base_dir().to_path_buf(),
        cluster.socket_dir().to_path_buf(),
    );
    assert!(cluster.data_dir().join("PG_VERSION").is_file());
    connect(&cluster).batch_execute("SELECT 1").unwrap();
    drop(cluster);
    assert_gone(&url, &base, &sock);
}

#[test]
fn stop_reports_success_and_removes_files() {
    let cluster = start();
    let (url, base, sock) = (
        cluster.url(),
        cluster.base_dir().to_path_buf(),
        cluster.socket_dir().to_path_buf(),
    );
    cluster.stop().unwrap();
    assert_gone(&url, &base, &sock);
}

#[test]
fn extra_settings_reach_the_server() {
    let options = ClusterOptions::new()
        .setting("work_mem", "7MB")
        // Quotes and spaces must survive pg_ctl's trip through the shell.
        .setting("cluster_name", "it's a test");
    let cluster = Cluster::start_with(&options).unwrap_or_else(|e| panic!("{e}"));
    let mut client = connect(&cluster);
    let work_mem: String = client.query_one("SHOW work_mem", &[]).unwrap().get(0);
    assert_eq!(work_mem, "7MB");
    let name: String = client.query_one("SHOW cluster_name", &[]).unwrap().get(0);
    assert_eq!(name, "it's a test");
}

#[test]
fn bad_setting_names_are_rejected() {
    let options = ClusterOptions::new().setting("work_mem=1MB -c x", "1");
    match Cluster::start_with(&options) {
        Err(ClusterError::InvalidSetting { name }) => assert_eq!(name, "work_mem=1MB -c x"),
        other => panic!("expected InvalidSetting, got {other:?}"),
    }
}

#[test]
fn failed_start_reports_the_server_log_and_cleans_up() {
    let options = ClusterOptions::new().setting("no_such_setting", "1");
    let err = Cluster::start_with(&options).unwrap_err();
    let msg = err.to_string();
    // A missing PostgreSQL is a failure of this test too, not a pass.
    assert!(matches!(err, ClusterError::Start { .. }), "{msg}");
    assert!(msg.contains("no_such_setting"), "{msg}");
}
