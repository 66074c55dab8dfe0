//! The rehearsal's own database and role on a server: everything the
//! rehearsal runs, runs there and as that role, so PostgreSQL itself keeps
//! it away from every other database and object of the server.
//!
//! The user's connection (the admin) only creates and drops them. The role
//! is `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`
//! with a random password (sent to the server as a SCRAM verifier only), it
//! owns the scratch database (so its `public` schema on PostgreSQL 15+), and
//! CONNECT on that database is revoked from PUBLIC. It can still connect to
//! other databases that grant CONNECT to PUBLIC, as any role can, but owns
//! nothing there; the rehearsal's connections only ever name the scratch
//! database, and SQL cannot switch databases (short of dblink, which a
//! non-superuser cannot install).
//!
//! Names are `schemashift_rehearsal_<pid>_<unix seconds>_<random>` so a
//! later run can tell leftovers of a killed one: see [`reap`].

use super::conn::Endpoint;
use super::live::{self, Leftover};
use super::traffic::message;
use super::RehearseError;
use crate::cluster::{process_alive, random_hex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_postgres::Client;

const PREFIX: &str = "schemashift_rehearsal_";

/// Leftovers of a server that is not on this machine are removed only after
/// this long: their pid says nothing here.
const REMOTE_LEFTOVER_SECS: u64 = 24 * 3600;

/// A scratch database and its role, to drop afterwards.
#[derive(Clone)]
pub struct Scratch {
    pub admin: Endpoint,
    pub database: String,
    pub role: String,
    pub version_major: u32,
    /// `11.22`: the server's version, for the report.
    pub version: String,
}

/// What the admin may do, read before anything is created.
struct Admin {
    user: String,
    superuser: bool,
    createdb: bool,
    createrole: bool,
    version_major: u32,
    version: String,
}

fn grants_needed(user: &str) -> String {
    format!(
        "a rehearsal with database_url creates a scratch database and a role of its own, so the user {user} needs CREATEDB and CREATEROLE (as a superuser: ALTER ROLE {user} CREATEDB CREATEROLE), or must be a superuser; nothing was run"
    )
}

async fn admin_facts(db: &Client) -> Result<Admin, RehearseError> {
    let row = db
        .query_one(
            "SELECT current_user::text, current_setting('server_version_num')::int, r.rolsuper, r.rolcreatedb, r.rolcreaterole FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| RehearseError::Database(format!("reading the user's grants: {}", message(&e))))?;
    let num: i32 = row.get(1);
    Ok(Admin {
        user: row.get(0),
        version_major: (num / 10_000) as u32,
        // Since 10 the number is major * 10000 + minor.
        version: format!("{}.{}", num / 10_000, num % 10_000),
        superuser: row.get(2),
        createdb: row.get(3),
        createrole: row.get(4),
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `(pid, created)` of a name this module made; `None` for any other name.
fn parse_name(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.split('_');
    let pid = parts.next()?.parse().ok()?;
    let secs = parts.next()?.parse().ok()?;
    let random = parts.next()?;
    let valid = !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && parts.next().is_none();
    valid.then_some((pid, secs))
}

/// Creates the scratch database and role; returns them, how the role
/// connects (every session with `statement_timeout_ms`) and, with
/// `register`, their entry in the registry of what a signal must undo (made
/// as soon as the role exists, so no moment is left uncovered).
pub async fn create(
    admin: &Endpoint,
    statement_timeout_ms: u64,
    register: bool,
) -> Result<(Scratch, Endpoint, Option<u64>), RehearseError> {
    let db = admin.connect().await.map_err(|e| {
        RehearseError::Database(format!(
            "connecting to database_url: {}{}",
            message(&e),
            admin.tls_hint(&e)
        ))
    })?;
    let facts = admin_facts(&db).await?;
    let may_create = facts.superuser || (facts.createdb && facts.createrole);
    if !may_create {
        let missing: Vec<&str> = [
            ("CREATEDB", facts.createdb),
            ("CREATEROLE", facts.createrole),
        ]
        .into_iter()
        .filter(|(_, has)| !has)
        .map(|(g, _)| g)
        .collect();
        return Err(RehearseError::Database(format!(
            "the user {} lacks {}: {}",
            facts.user,
            missing.join(" and "),
            grants_needed(&facts.user)
        )));
    }
    reap(&db, admin).await;

    let random = |n| {
        random_hex(n).map_err(|e| RehearseError::Database(format!("reading random bytes: {e}")))
    };
    let name = format!(
        "{PREFIX}{}_{}_{}",
        std::process::id(),
        now_secs(),
        random(4)?
    );
    let password = random(24)?;
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    let scratch = Scratch {
        admin: admin.clone(),
        database: name.clone(),
        role: name.clone(),
        version_major: facts.version_major,
        version: facts.version.clone(),
    };
    let refused = |what: &str, e: &tokio_postgres::Error| {
        RehearseError::Database(format!(
            "the server refused to {what}: {}; {}",
            message(e),
            grants_needed(&facts.user)
        ))
    };
    db.batch_execute(&format!(
        "CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '{verifier}'"
    ))
    .await
    .map_err(|e| refused(&format!("create the rehearsal role {name}"), &e))?;
    let entry = register.then(|| live::register(Leftover::Scratch(Box::new(scratch.clone()))));
    let made = async {
        // Creating a database owned by the role, and dropping it later,
        // needs membership in the role (the role gains nothing by it).
        if !facts.superuser {
            db.batch_execute(&format!("GRANT {name} TO CURRENT_USER"))
                .await
                .map_err(|e| refused(&format!("let {} act for {name}", facts.user), &e))?;
        }
        // template0: nothing the user added to template1 comes along.
        db.batch_execute(&format!(
            "CREATE DATABASE {name} OWNER {name} TEMPLATE template0"
        ))
        .await
        .map_err(|e| refused(&format!("create the scratch database {name}"), &e))?;
        db.batch_execute(&format!(
            "REVOKE ALL ON DATABASE {name} FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE {name} TO {name}"
        ))
        .await
        .map_err(|e| refused(&format!("limit who connects to {name}"), &e))?;
        Ok::<(), RehearseError>(())
    }
    .await;
    if let Err(e) = made {
        undo(&scratch, entry).await;
        return Err(e);
    }
    // Before 15, public belongs to the bootstrap superuser; only a
    // superuser can hand it over (the role can create in it either way).
    if facts.version_major < 15 && facts.superuser {
        let in_scratch = admin.as_role(
            admin.config.get_user().unwrap_or("postgres"),
            &String::from_utf8_lossy(admin.config.get_password().unwrap_or_default()),
            &name,
        );
        if let Ok(c) = in_scratch.connect().await {
            let _ = c
                .batch_execute(&format!("ALTER SCHEMA public OWNER TO {name}"))
                .await;
        }
    }
    let mut role = admin.as_role(&name, &password, &name);
    let options = format!(
        "{} -c statement_timeout={statement_timeout_ms}",
        role.config.get_options().unwrap_or("")
    );
    role.config
        .options(options.trim())
        .application_name("schemashift rehearsal");
    if let Err(e) = role.connect().await {
        undo(&scratch, entry).await;
        return Err(RehearseError::Database(format!(
            "the rehearsal role {name} could not log in to its scratch database: {}; the server's pg_hba.conf must let a new role log in with a password (scram-sha-256 or md5) on this connection, e.g. `host all all 127.0.0.1/32 scram-sha-256` (peer, ident and cert rules refuse it); nothing was run",
            message(&e)
        )));
    }
    Ok((scratch, role, entry))
}

/// Drops what a failed [`create`] made, unless a signal handler took it.
async fn undo(scratch: &Scratch, entry: Option<u64>) {
    match entry {
        Some(id) => {
            if let Some(l) = live::take(id) {
                live::undo(l).await;
            }
        }
        None => {
            let _ = scratch.drop_all().await;
        }
    }
}

impl Scratch {
    /// Drops the database (ending its sessions) and the role.
    pub async fn drop_all(&self) -> Result<(), String> {
        let db = self
            .admin
            .connect()
            .await
            .map_err(|e| format!("connecting to drop {}: {}", self.database, message(&e)))?;
        let name = &self.database;
        // Before 16 a role may revoke its own membership from others, so the
        // rehearsal's SQL could have taken it from the admin, who needs it to
        // drop the database; CREATEROLE grants it back (an error when it is
        // still held, or for a superuser, changes nothing).
        let _ = db
            .batch_execute(&format!("GRANT {} TO CURRENT_USER", self.role))
            .await;
        let dropped = if self.version_major >= 13 {
            db.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
        } else {
            // No FORCE before 13: shut the door, end the sessions, drop.
            let _ = db
                .batch_execute(&format!(
                    "REVOKE CONNECT ON DATABASE {name} FROM {}",
                    self.role
                ))
                .await;
            let _ = db
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[name],
                )
                .await;
            db.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
        };
        let role = db
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", self.role))
            .await;
        match (dropped, role) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) => Err(format!(
                "could not drop the scratch database {name}: {} (drop it with DROP DATABASE {name} WITH (FORCE); DROP ROLE {})",
                message(&e),
                self.role
            )),
            (_, Err(e)) => Err(format!(
                "could not drop the rehearsal role {}: {} (drop it with DROP ROLE {})",
                self.role,
                message(&e),
                self.role
            )),
        }
    }
}

/// Drops scratch databases and roles that earlier runs left (killed before
/// they could). Conservative: only names this module makes; a database only
/// when no session is connected to it; and only when the run that made it
/// is surely over: on a server of this machine when its pid is not a live
/// process, on any other server when it is more than a day old. Whatever
/// the admin may not drop stays, silently.
pub async fn reap(db: &Client, admin: &Endpoint) {
    let local = admin.is_local();
    let now = now_secs();
    let stale = |name: &str| {
        parse_name(name).is_some_and(|(pid, created)| {
            let dead = local && pid != std::process::id() && process_alive(pid) == Some(false);
            dead || now.saturating_sub(created) > REMOTE_LEFTOVER_SECS
        })
    };
    let like = format!("{}%", PREFIX.replace('_', "\\_"));
    if let Ok(rows) = db
        .query(
            "SELECT d.datname::text, (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) FROM pg_database d WHERE d.datname LIKE $1",
            &[&like],
        )
        .await
    {
        for row in rows {
            let (name, sessions): (String, i64) = (row.get(0), row.get(1));
            if sessions == 0 && stale(&name) {
                if let Err(e) = db
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await
                {
                    tracing::debug!("leftover {name} stays: {}", message(&e));
                }
            }
        }
    }
    if let Ok(rows) = db
        .query(
            "SELECT r.rolname::text FROM pg_roles r WHERE r.rolname LIKE $1 AND NOT EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = r.rolname)",
            &[&like],
        )
        .await
    {
        for row in rows {
            let name: String = row.get(0);
            if stale(&name) {
                if let Err(e) = db.batch_execute(&format!("DROP ROLE IF EXISTS {name}")).await {
                    tracing::debug!("leftover role {name} stays: {}", message(&e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_read() {
        assert_eq!(
            parse_name("schemashift_rehearsal_123_1700000000_ab12cd34"),
            Some((123, 1_700_000_000))
        );
        assert_eq!(parse_name("schemashift_rehearsal_123_1700000000"), None);
        assert_eq!(parse_name("schemashift_rehearsal_x_1_ab"), None);
        assert_eq!(
            parse_name("schemashift_rehearsal_1_2_ab\"; DROP TABLE t; --"),
            None
        );
        assert_eq!(parse_name("other_1_2_ab"), None);
    }
}
