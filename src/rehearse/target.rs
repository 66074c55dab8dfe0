//! Where a rehearsal runs: a throwaway cluster of its own (the default), or a
//! database the user names, where it works only inside a scratch schema it
//! creates and drops, touching nothing else.

use super::data::StartSchema;
use super::traffic::{connect, message};
use super::{RehearseError, Settings};
use crate::cluster::{Cluster, ClusterError, ClusterOptions};
use tokio_postgres::Config;

pub struct Target {
    /// How every connection of the rehearsal connects (search_path included).
    pub config: Config,
    pub version_major: u32,
    /// The server and where, for the report.
    pub description: String,
    cluster: Option<Cluster>,
    scratch: Option<String>,
}

impl Target {
    pub async fn open(s: &Settings) -> Result<Target, RehearseError> {
        match &s.database_url {
            Some(url) => Self::scratch_in(url).await,
            None => Self::own_cluster().await,
        }
    }

    async fn own_cluster() -> Result<Target, RehearseError> {
        // Twelve app clients, a blocker, a monitor and the migration itself
        // per segment fit in 100 connections with room to spare.
        let started = tokio::task::spawn_blocking(|| {
            Cluster::start_with(&ClusterOptions::new().setting("max_connections", "100"))
        })
        .await
        .map_err(|e| RehearseError::Database(format!("starting PostgreSQL: {e}")))?;
        let cluster = match started {
            Ok(c) => c,
            Err(e @ ClusterError::NotInstalled { .. }) => return Err(RehearseError::NoServer(e)),
            Err(e) => return Err(RehearseError::Database(format!("starting PostgreSQL: {e}"))),
        };
        let config: Config = cluster
            .url()
            .parse()
            .map_err(|e| RehearseError::Database(format!("cluster URL: {e}")))?;
        let version_major = server_version(&config).await?;
        Ok(Target {
            description: format!(
                "PostgreSQL {version_major}, a throwaway cluster started for this rehearsal and removed after it"
            ),
            config,
            version_major,
            cluster: Some(cluster),
            scratch: None,
        })
    }

    async fn scratch_in(url: &str) -> Result<Target, RehearseError> {
        let mut config: Config = url.parse().map_err(|e| {
            RehearseError::Invalid(format!(
                "database_url is not a PostgreSQL connection URL ({e}); write it as postgresql://user@host:5432/dbname"
            ))
        })?;
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!("schemashift_rehearsal_{pid}_{nanos}");
        let admin = connect(&config).await.map_err(|e| {
            RehearseError::Database(format!("connecting to database_url: {}", message(&e)))
        })?;
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .map_err(|e| {
                RehearseError::Database(format!(
                    "creating the scratch schema {schema}: {} (the user needs CREATE on the database)",
                    message(&e)
                ))
            })?;
        // Every connection resolves unqualified names in the scratch schema
        // first, so the plan's tables, functions and procedures land there.
        let mut options = config.get_options().unwrap_or("").to_string();
        options.push_str(&format!(" -c search_path={schema}"));
        config.options(options.trim());
        let version_major = server_version(&config).await?;
        Ok(Target {
            description: format!(
                "PostgreSQL {version_major} at the given database_url, inside scratch schema {schema} (dropped afterwards)"
            ),
            config,
            version_major,
            cluster: None,
            scratch: Some(schema),
        })
    }

    /// In a user's database, everything must stay in the scratch schema:
    /// schema-qualified names would reach outside it.
    pub fn check_contained(&self, schema: &StartSchema) -> Result<(), RehearseError> {
        if self.scratch.is_some() && !schema.qualified.is_empty() {
            return Err(RehearseError::Invalid(format!(
                "with database_url the rehearsal works only inside a scratch schema, but the schema or change names {} with a schema; remove the schema qualification (pg_dump writes public.<table>), or rehearse on a throwaway cluster (leave out database_url)",
                schema.qualified.join(", ")
            )));
        }
        Ok(())
    }

    /// Drops the scratch schema or stops the cluster.
    pub async fn close(self) {
        if let Some(schema) = &self.scratch {
            if let Ok(admin) = connect(&self.config).await {
                if let Err(e) = admin
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                {
                    tracing::warn!("could not drop scratch schema {schema}: {}", message(&e));
                }
            }
        }
        if let Some(cluster) = self.cluster {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }
}

async fn server_version(config: &Config) -> Result<u32, RehearseError> {
    let db = connect(config)
        .await
        .map_err(|e| RehearseError::Database(format!("connecting: {}", message(&e))))?;
    let row = db
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| RehearseError::Database(message(&e)))?;
    let num: i32 = row.get(0);
    Ok((num / 10_000) as u32)
}
