//! Throwaway PostgreSQL clusters for tests and rehearsals.
//!
//! [`Cluster::start`] runs `initdb` into a fresh temporary directory and starts
//! a server on a free TCP port of 127.0.0.1 with durability switched off (the
//! data is disposable, so speed wins). Dropping the [`Cluster`] stops the
//! server and deletes the directory. Every cluster is independent, so any
//! number of tests, threads or processes can each start their own.
//!
//! Binaries are found through `SCHEMASHIFT_PG_BIN`, then the newest
//! `/usr/lib/postgresql/*/bin`, then Homebrew's keg-only
//! `postgresql@*` prefixes, then `pg_config --bindir`, then `initdb` on
//! `PATH`; see [`find_bin_dir`].
//!
//! PostgreSQL refuses to run as root, so when this process is root the server
//! programs run as the `postgres` system user via `runuser`.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
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

/// A port picked from the OS can be grabbed by someone else before the
/// server binds it; starting again on a new port is the cure.
const START_ATTEMPTS: u32 = 4;

/// Settings every cluster starts with. Durability is off because the data is
/// thrown away; these come before the caller's so the caller's win.
const DEFAULT_SETTINGS: [(&str, &str); 6] = [
    ("listen_addresses", "127.0.0.1"),
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

    /// `pg_ctl start` failed (after retrying on port clashes).
    #[error(
        "PostgreSQL did not start on port {port} after {attempts} attempt(s); end of the server log:\n{log_tail}"
    )]
    Start {
        /// The port of the last attempt.
        port: u16,
        /// How many ports were tried.
        attempts: u32,
        /// The last lines of the server log (and pg_ctl's output).
        log_tail: String,
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
    port: u16,
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
        let bin_dir = find_bin_dir()?;
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
            bin_dir,
            base_dir,
            port: 0,
            version_major,
            run_as,
            finished: false,
        };
        cluster.initdb()?;
        cluster.start_server(options)?;
        Ok(cluster)
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth, no
    /// password).
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Like [`Cluster::url`] but for another database on the same server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
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
        // Only a server that got as far as writing its pid file needs stopping.
        let stopped = if self.data_dir.join("postmaster.pid").exists() {
            self.pg_ctl_stop()
        } else {
            Ok(())
        };
        let removed = fs::remove_dir_all(&self.base_dir).map_err(|source| ClusterError::Io {
            context: format!("removing {}", self.base_dir.display()),
            source,
        });
        stopped.and(removed)
    }

    /// `pg_ctl stop -m immediate`: the data is disposable, so there is no
    /// point in a shutdown checkpoint.
    fn pg_ctl_stop(&self) -> Result<(), ClusterError> {
        let log = self.base_dir.join("pg_ctl-stop.log");
        let mut cmd = self.command("pg_ctl");
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

    fn initdb(&self) -> Result<(), ClusterError> {
        let log = self.base_dir.join("initdb.log");
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"]);
        if run_logged(cmd, &log, "initdb")? {
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
        let sock_dir = self.base_dir.join("sock");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = free_port()?;
            // Each attempt gets a fresh log so the error shows only its own
            // failure; a missing file is fine.
            let _ = fs::remove_file(&server_log);

            let mut cmd = self.command("pg_ctl");
            cmd.arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&server_log)
                .args(["-w", "-t", "60", "-o"])
                .arg(server_options(self.port, &sock_dir, options))
                .arg("start");
            let started = run_logged(cmd, &pg_ctl_log, "pg_ctl")?;
            if started {
                return Ok(());
            }

            let log_tail = format!(
                "{}\n--- pg_ctl ---\n{}",
                tail(&server_log, 30),
                tail(&pg_ctl_log, 10)
            );
            // pg_ctl may give up (timeout) while the server is still coming
            // up; make sure nothing is left running before retrying.
            if self.data_dir.join("postmaster.pid").exists() {
                let _ = self.pg_ctl_stop();
            }
            let port_clash = log_tail.contains("Address already in use")
                || log_tail.contains("could not create any TCP/IP sockets");
            if !port_clash || attempt >= START_ATTEMPTS {
                return Err(ClusterError::Start {
                    port: self.port,
                    attempts: attempt,
                    log_tail,
                });
            }
        }
    }

    /// A command for one of the PostgreSQL programs, run as the right user
    /// from inside the temp dir (the `postgres` user cannot stat our cwd when
    /// that is, say, /root).
    fn command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(exe(program));
        let mut cmd = match self.run_as {
            RunAs::Current => Command::new(path),
            RunAs::Postgres { .. } => {
                let mut c = Command::new(system_tool("runuser"));
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            }
        };
        cmd.current_dir(&self.base_dir).stdin(Stdio::null());
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Errors cannot be reported from Drop and panicking here could abort
        // a test that is already unwinding; `stop` is there for callers that
        // want to know.
        let _ = self.shutdown();
    }
}

/// The `-o` string pg_ctl hands to postgres. pg_ctl runs it through
/// `/bin/sh`, so every word is single-quoted.
fn server_options(port: u16, sock_dir: &Path, options: &ClusterOptions) -> String {
    // sun_path holds ~104 bytes; a long temp dir (macOS's $TMPDIR) would make
    // the socket unbindable, so fall back to TCP only.
    let socket_path_len = sock_dir.as_os_str().len() + "/.s.PGSQL.65535".len();
    let sock = if socket_path_len < 100 {
        sock_dir.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let mut words = vec!["-p".to_string(), port.to_string(), "-k".to_string(), sock];
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

/// A port that was free a moment ago. Another process may take it before the
/// server binds it, which `start_server` handles by retrying.
fn free_port() -> Result<u16, ClusterError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| ClusterError::Io {
            context: "binding 127.0.0.1:0 to find a free port".to_string(),
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| ClusterError::Io {
            context: "reading the free port".to_string(),
            source,
        })?
        .port();
    Ok(port)
}

/// Creates `<tmp>/schemashift-pg-<pid>-<n>-<nanos>/{data,sock}`, private to
/// the user that will run the server.
fn create_base_dir(run_as: RunAs) -> Result<PathBuf, ClusterError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{n}-{nanos}", std::process::id()));
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
            // initdb insists on 0700 for the data dir; the rest holds
            // nothing anyone else needs.
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

/// The programs from [`REQUIRED`] that `dir` lacks.
fn missing_in(dir: &Path) -> Vec<&'static str> {
    REQUIRED
        .into_iter()
        .filter(|p| !dir.join(exe(p)).is_file())
        .collect()
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`.
///
/// Order: `SCHEMASHIFT_PG_BIN` (an error if it is set but incomplete), the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian/Ubuntu), the newest
/// Homebrew `postgresql@<version>/bin` (keg-only, so not on `PATH`),
/// `pg_config --bindir`, then the directory of `initdb` on `PATH`.
pub fn find_bin_dir() -> Result<PathBuf, ClusterError> {
    find_bin_dir_from(
        std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()),
        std::env::var_os("PATH"),
    )
}

fn find_bin_dir_from(
    env_dir: Option<std::ffi::OsString>,
    path_var: Option<std::ffi::OsString>,
) -> Result<PathBuf, ClusterError> {
    if let Some(dir) = env_dir {
        let dir = PathBuf::from(dir);
        let missing = missing_in(&dir);
        return if missing.is_empty() {
            Ok(dir)
        } else {
            Err(ClusterError::BadPgBin { dir, missing })
        };
    }
    let mut searched = vec![format!("${PG_BIN_ENV} (unset)")];

    let versioned = [
        ("/usr/lib/postgresql", "", "bin"),
        ("/opt/homebrew/opt", "postgresql@", "bin"),
        ("/usr/local/opt", "postgresql@", "bin"),
    ];
    for (root, prefix, sub) in versioned {
        searched.push(format!("{root}/{prefix}*/{sub}"));
        if let Some(dir) = newest_versioned(Path::new(root), prefix, sub) {
            return Ok(dir);
        }
    }

    searched.push("pg_config --bindir".to_string());
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && !dir.as_os_str().is_empty() && missing_in(&dir).is_empty() {
            return Ok(dir);
        }
    }

    searched.push("initdb on PATH".to_string());
    if let Some(dir) = path_var.and_then(|p| find_on_path(&p)) {
        return Ok(dir);
    }
    Err(ClusterError::NotInstalled { searched })
}

/// The first `PATH` directory with `initdb` whose bin dir is complete.
fn find_on_path(path_var: &OsStr) -> Option<PathBuf> {
    for dir in std::env::split_paths(path_var) {
        let initdb = dir.join(exe("initdb"));
        if !initdb.is_file() {
            continue;
        }
        if missing_in(&dir).is_empty() {
            return Some(dir);
        }
        // A lone symlink on PATH (e.g. /usr/local/bin/initdb) points at the
        // real bin dir, where its siblings live.
        if let Some(real) = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| missing_in(d).is_empty())
        {
            return Some(real);
        }
    }
    None
}

/// The complete `<root>/<prefix><version>/<sub>` with the highest version,
/// comparing versions numerically (so 10 beats 9.6).
fn newest_versioned(root: &Path, prefix: &str, sub: &str) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let version = parse_version(name.strip_prefix(prefix)?)?;
            let dir = entry.path().join(sub);
            missing_in(&dir).is_empty().then_some((version, dir))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir)
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version.
fn parse_version(s: &str) -> Option<Vec<u32>> {
    s.split('.').map(|part| part.parse().ok()).collect()
}

/// Major version from `postgres --version` (allowed as root, unlike
/// starting the server).
fn read_version_major(bin_dir: &Path) -> Result<u32, ClusterError> {
    let program = bin_dir.join(exe("postgres"));
    let out = Command::new(&program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    parse_version_major(&text).ok_or_else(|| ClusterError::Version {
        program: program.display().to_string(),
        output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    })
}

/// "postgres (PostgreSQL) 15.4 (Debian ...)" -> 15; "... 16beta1" -> 16.
fn parse_version_major(text: &str) -> Option<u32> {
    let rest = text.split("(PostgreSQL)").nth(1)?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
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
        assert!(
            s.starts_with("'-p' '5432' '-k' '/tmp/x y/sock' '-c' 'listen_addresses=127.0.0.1'"),
            "{s}"
        );
        assert!(s.ends_with(r"'-c' 'cluster_name=it'\''s'"), "{s}");
    }

    #[test]
    fn long_socket_dirs_fall_back_to_tcp_only() {
        let long = PathBuf::from(format!("/tmp/{}/sock", "x".repeat(100)));
        let s = server_options(5432, &long, &ClusterOptions::new());
        assert!(s.starts_with("'-p' '5432' '-k' '' "), "{s}");
    }
}
