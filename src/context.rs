//! What the change runs against: engine, version, table size and traffic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The database engine a change targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL (the default).
    #[default]
    Postgres,
    /// MySQL 8 with InnoDB.
    Mysql,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }

    /// The major version assumed when none is given.
    pub fn default_version(self) -> u32 {
        match self {
            Engine::Postgres => 15,
            Engine::Mysql => 8,
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Ok(Engine::Postgres),
            "mysql" | "mariadb" => Ok(Engine::Mysql),
            other => Err(format!(
                "unknown engine `{other}`: use `postgres` or `mysql`"
            )),
        }
    }
}

/// Facts about the database and the deployment that change the plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Database engine: `postgres` (default) or `mysql`.
    #[serde(default)]
    pub engine: Engine,
    /// Major version of the engine, e.g. 15 for PostgreSQL 15 or 8 for MySQL 8.
    /// Defaults to PostgreSQL 15 / MySQL 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Approximate number of rows in the table being changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Approximate writes per second the application sends to that table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_per_second: Option<f64>,
    /// Whether old and new application versions run side by side during a deploy
    /// (rolling deploys, canaries, several services). Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_app_versions: Option<bool>,
}

/// The oldest and newest PostgreSQL major versions the engine knows. 19
/// adds `REPACK` (the PostgreSQL 19 release notes: it reclaims space and
/// reorganizes table contents, and `REPACK (CONCURRENTLY)` does so without
/// blocking reads and writes); every other fact of 18 holds for 19.
pub const PG_VERSIONS: std::ops::RangeInclusive<u32> = 10..=19;

impl Context {
    pub fn version(&self) -> u32 {
        self.version
            .unwrap_or_else(|| self.engine.default_version())
    }

    pub fn multiple_app_versions(&self) -> bool {
        self.multiple_app_versions.unwrap_or(true)
    }

    /// Rejects versions the engine facts do not cover.
    pub fn validate(&self) -> Result<(), String> {
        let v = self.version();
        match self.engine {
            Engine::Postgres if !PG_VERSIONS.contains(&v) => Err(format!(
                "PostgreSQL {v} is not supported: give a major version from {} to {} (for example `15`)",
                PG_VERSIONS.start(),
                PG_VERSIONS.end()
            )),
            Engine::Mysql if v != 8 => Err(format!(
                "MySQL {v} is not supported: only MySQL 8 (InnoDB online DDL) is covered"
            )),
            _ => Ok(()),
        }
        .and_then(|()| match self.writes_per_second {
            Some(w) if !(w.is_finite() && w >= 0.0) => {
                Err("writes_per_second must be a non-negative number".to_string())
            }
            _ => Ok(()),
        })
    }
}
