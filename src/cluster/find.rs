//! Finding the PostgreSQL server binaries and their version.

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
