//! Starts real throwaway PostgreSQL clusters. These tests need PostgreSQL
//! installed; without it they fail with the install instructions rather than
//! skip, so a missing server can never pass as green.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;

use schemashift::cluster::{Cluster, ClusterError, ClusterOptions};

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
            "postgresql://postgres@127.0.0.1:{}/postgres",
            cluster.port()
        )
    );
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

#[test]
fn concurrent_clusters_are_independent() {
    let handles: Vec<_> = (0..2).map(|_| thread::spawn(start)).collect();
    let clusters: Vec<Cluster> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (a, b) = (&clusters[0], &clusters[1]);
    assert_ne!(a.port(), b.port());
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

/// After the cluster is gone its port must not answer, unless a parallel test
/// happened to get the same port, in which case it must be another server.
fn assert_gone(port: u16, base: &Path, data: &Path) {
    assert!(!base.exists(), "{} still exists", base.display());
    if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
        let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
        if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
            let dir: String = client.query_one("SHOW data_directory", &[]).unwrap().get(0);
            assert_ne!(PathBuf::from(dir), data, "old server still running");
        }
    }
}

#[test]
fn drop_stops_the_server_and_removes_files() {
    let cluster = start();
    let (port, base, data) = (
        cluster.port(),
        cluster.base_dir().to_path_buf(),
        cluster.data_dir().to_path_buf(),
    );
    assert!(data.join("PG_VERSION").is_file());
    connect(&cluster).batch_execute("SELECT 1").unwrap();
    drop(cluster);
    assert_gone(port, &base, &data);
}

#[test]
fn stop_reports_success_and_removes_files() {
    let cluster = start();
    let (port, base, data) = (
        cluster.port(),
        cluster.base_dir().to_path_buf(),
        cluster.data_dir().to_path_buf(),
    );
    cluster.stop().unwrap();
    assert_gone(port, &base, &data);
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
