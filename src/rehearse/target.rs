//! Where a rehearsal runs: a scratch database and a role of its own (see
//! `scratch`), either on a throwaway cluster started for it (the default) or
//! on the server the user names. Every rehearsal connection is that role's,
//! to that database; PostgreSQL, not name checks, keeps the rehearsal's SQL
//! off everything else.

use super::conn::Endpoint;
use super::live::{self, Leftover};
use super::scratch;
use super::{RehearseError, Settings};
use crate::cluster::{reap_stale_dirs, Cluster, ClusterError, ClusterOptions};
use tokio_postgres::Config;

pub struct Target {
    /// How every connection of the rehearsal connects: the rehearsal role,
    /// in the scratch database.
    pub config: Endpoint,
    pub version_major: u32,
    /// The server and where, for the report.
    pub description: String,
    cluster: Option<Cluster>,
    /// The registry entry undoing this target.
    leftover: u64,
}

impl Target {
    pub async fn open(s: &Settings) -> Result<Target, RehearseError> {
        match &s.database_url {
            Some(url) => Self::on_server(url, s).await,
            None => Self::own_cluster(s).await,
        }
    }

    async fn own_cluster(s: &Settings) -> Result<Target, RehearseError> {
        // Twelve app clients, a blocker, a monitor and the migration itself
        // per segment fit in 100 connections with room to spare. Leftovers
        // of killed runs go first.
        let (major, offline) = (s.major, s.offline);
        let started = tokio::task::spawn_blocking(move || {
            let reaped = reap_stale_dirs();
            if !reaped.is_empty() {
                tracing::info!("removed {} leftover cluster(s)", reaped.len());
            }
            let options = ClusterOptions::new()
                .setting("max_connections", "100")
                .offline(offline);
            // The production major when it is known, so the rehearsal runs
            // on the server the plan is for.
            Cluster::start_with(&match major {
                Some(m) => options.major(m),
                None => options,
            })
        })
        .await
        .map_err(|e| RehearseError::Database(format!("starting PostgreSQL: {e}")))?;
        let cluster = match started {
            Ok(c) => c,
            Err(
                e @ (ClusterError::NotInstalled { .. }
                | ClusterError::Offline { .. }
                | ClusterError::Fetch { .. }),
            ) => return Err(RehearseError::NoServer(e)),
            Err(e) => return Err(RehearseError::Database(format!("starting PostgreSQL: {e}"))),
        };
        let leftover = live::register(Leftover::Cluster(cluster.teardown()));
        let mut admin = Config::new();
        admin
            .host_path(cluster.socket_dir())
            .port(cluster.port())
            .user("postgres")
            .password(cluster.password())
            .dbname("postgres");
        // The cluster goes as a whole, so its scratch database needs no
        // registry entry of its own.
        let made = scratch::create(&Endpoint::plain(admin), s.statement_timeout_ms, false).await;
        let (scratch, role, _) = match made {
            Ok(m) => m,
            Err(e) => {
                if let Some(l) = live::take(leftover) {
                    live::undo(l).await;
                }
                std::mem::forget(cluster);
                return Err(e);
            }
        };
        Ok(Target {
            description: format!(
                "PostgreSQL {}, a throwaway cluster started for this rehearsal and removed after it (as role {} in database {}; server binaries in {})",
                scratch.version,
                scratch.role,
                scratch.database,
                cluster.bin_dir().display()
            ),
            config: role,
            version_major: scratch.version_major,
            cluster: Some(cluster),
            leftover,
        })
    }

    async fn on_server(url: &str, s: &Settings) -> Result<Target, RehearseError> {
        let admin = Endpoint::parse(url)?;
        let (scratch, role, entry) = scratch::create(&admin, s.statement_timeout_ms, true).await?;
        let description = format!(
            "PostgreSQL {} at the given database_url, in scratch database {} as role {} (both dropped afterwards)",
            scratch.version, scratch.database, scratch.role
        );
        Ok(Target {
            description,
            config: role,
            version_major: scratch.version_major,
            cluster: None,
            // Registered by create as soon as the role existed.
            leftover: entry.unwrap_or(0),
        })
    }

    /// Drops the scratch database and role, or stops the cluster.
    pub async fn close(self) {
        if let Some(l) = live::take(self.leftover) {
            live::undo(l).await;
        }
        // The teardown above removed it; its Drop has nothing left to do.
        if let Some(cluster) = self.cluster {
            std::mem::forget(cluster);
        }
    }
}
