//! Leftovers of processes that died without stopping their clusters:
//! directory names carry the pid that made them, so a later run can tell
//! which belong to no live process.

use super::{find_bin_dir, is_root, postgres_user, RunAs, Teardown, DIR_PREFIX};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Removes the clusters of processes that are gone: every
/// `schemashift-pg-<pid>-*` directory in the temp dir (and /tmp, where
/// short socket directories go) whose pid names no live process and that
/// belongs to this user (or, as root, to `postgres`). A server still running
/// there is stopped first. Directories of live processes, of other users, or
/// whose pid cannot be checked are left alone. Returns the directories
/// removed.
pub fn reap_stale_dirs() -> Vec<PathBuf> {
    reap_dirs(|pid| pid != std::process::id() && process_alive(pid) == Some(false))
}

/// Stops and removes every cluster this process started, also one still
/// starting (not yet handed to its caller): for a process about to exit on a
/// signal.
pub fn remove_own_dirs() -> Vec<PathBuf> {
    reap_dirs(|pid| pid == std::process::id())
}

/// Whether a directory of this process's clusters exists.
pub fn own_dirs_exist() -> bool {
    let prefix = format!("{DIR_PREFIX}{}-", std::process::id());
    roots().iter().any(|root| {
        fs::read_dir(root).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        })
    })
}

/// Where cluster directories are made: the temp dir, and /tmp for short
/// socket directories.
fn roots() -> Vec<PathBuf> {
    let mut roots = vec![std::env::temp_dir()];
    if Path::new("/tmp") != roots[0] && Path::new("/tmp").is_dir() {
        roots.push(PathBuf::from("/tmp"));
    }
    roots
}

fn reap_dirs(reap: impl Fn(u32) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let run_as = if is_root() {
        postgres_user().ok()
    } else {
        Some(RunAs::Current)
    };
    let Some(run_as) = run_as else {
        return removed;
    };
    for root in roots() {
        let Ok(entries) = fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(DIR_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            if !reap(pid) {
                continue;
            }
            if !owned_by_us(&dir, run_as) {
                continue;
            }
            let data_dir = dir.join("data");
            let running = fs::read_to_string(data_dir.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
                .is_some_and(|p| process_alive(p) != Some(false));
            if running {
                let Ok(bin_dir) = find_bin_dir() else {
                    continue;
                };
                let teardown = Teardown {
                    bin_dir,
                    base_dir: dir.clone(),
                    data_dir,
                    sock_dir: dir.join("sock"),
                    run_as,
                };
                if teardown.pg_ctl_stop().is_err() {
                    // A server that would not stop keeps its files.
                    continue;
                }
            }
            if fs::remove_dir_all(&dir).is_ok() {
                removed.push(dir);
            }
        }
    }
    removed
}

/// Whether a process with this pid exists: `None` when that cannot be told.
pub fn process_alive(pid: u32) -> Option<bool> {
    #[cfg(unix)]
    {
        let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
        // Signal 0 checks without sending anything; EPERM means it exists
        // but belongs to someone else.
        // SAFETY: kill with signal 0 has no effect beyond the check.
        if unsafe { libc::kill(pid, 0) } == 0 {
            return Some(true);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => Some(false),
            Some(libc::EPERM) => Some(true),
            _ => None,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}

#[cfg(unix)]
fn owned_by_us(dir: &Path, run_as: RunAs) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    match run_as {
        RunAs::Postgres { uid, .. } => meta.uid() == uid || meta.uid() == 0,
        // SAFETY: geteuid has no preconditions.
        RunAs::Current => meta.uid() == unsafe { libc::geteuid() },
    }
}

#[cfg(not(unix))]
fn owned_by_us(_dir: &Path, _run_as: RunAs) -> bool {
    false
}
