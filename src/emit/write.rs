//! Writing an emission into the project: only under its folder, never
//! through a symlink, never over a file, and never a second time for a
//! change already emitted.

use super::{record, Emission, EmittedFile, FileUpdate};
use std::path::{Component, Path, PathBuf};

/// `dir/path`, refusing paths that leave `dir`: `..`, absolute or empty
/// components.
fn target(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let leaves = path.starts_with('/')
        || path.split('/').any(|c| c == ".." || c.is_empty())
        || Path::new(path)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if leaves {
        return Err(format!(
            "refusing to write outside {}: {path}",
            dir.display()
        ));
    }
    Ok(dir.join(path))
}

/// Refuses a path under `dir` that passes through a symlink (or is one):
/// the folders the migrations go into must be the project's own, not links
/// to somewhere else.
fn no_symlink(dir: &Path, path: &str) -> Result<(), String> {
    let mut at = dir.to_path_buf();
    for part in Path::new(path).components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "refusing to write {path}: {} is a symlink, and schemashift writes only into real folders under {}; nothing was written",
                    at.display(),
                    dir.display()
                ))
            }
            Ok(_) => {}
            // Nothing there yet: nothing below it can be a link either.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Checks everything an emission would write under `dir` before anything is
/// written (the CLI) or the files are handed to a client to write (MCP):
/// every path stays under `dir` and passes through no symlink, and the
/// change was not emitted there before.
pub fn check_emission(dir: &Path, emission: &Emission) -> Result<(), String> {
    for path in emission
        .files
        .iter()
        .map(|f| &f.path)
        .chain(emission.updates.iter().map(|u| &u.path))
    {
        target(dir, path)?;
        no_symlink(dir, path)?;
    }
    record::refuse_repeat(dir, emission)
}

/// Writes files under `dir`, refusing (before writing anything) when any
/// already exists. Returns the paths written.
pub fn write_new(dir: &Path, files: &[EmittedFile]) -> Result<Vec<PathBuf>, String> {
    for f in files {
        no_symlink(dir, &f.path)?;
    }
    write(dir, files, &[])
}

/// Writes an emission under `dir`: creates its files and then replaces the
/// files it updates. Refuses, before writing anything, when a path leaves
/// `dir` or passes through a symlink, when the same change was emitted
/// there before, when a file to create exists, or when a file to update no
/// longer holds what it held when the emission was computed. Returns the
/// paths written.
pub fn write_emission(dir: &Path, emission: &Emission) -> Result<Vec<PathBuf>, String> {
    check_emission(dir, emission)?;
    write(dir, &emission.files, &emission.updates)
}

/// Creates `p` with `contents`, failing if it exists.
fn create(p: &Path, contents: &str) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    std::io::Write::write_all(&mut file, contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}

fn write(
    dir: &Path,
    files: &[EmittedFile],
    updates: &[FileUpdate],
) -> Result<Vec<PathBuf>, String> {
    let mut targets = Vec::new();
    for f in files {
        let p = target(dir, &f.path)?;
        // A dangling symlink counts as there: it is not followed either.
        if std::fs::symlink_metadata(&p).is_ok() {
            return Err(format!(
                "{} already exists; nothing was written (schemashift never overwrites files)",
                p.display()
            ));
        }
        targets.push(p);
    }
    let mut replaced = Vec::new();
    for u in updates {
        let p = target(dir, &u.path)?;
        match std::fs::read_to_string(&p) {
            Ok(now) if now == u.previous => replaced.push(p),
            Ok(_) => {
                return Err(format!(
                "{} changed since the migrations were computed; nothing was written (run again)",
                p.display()
            ))
            }
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {e}; nothing was written",
                    p.display()
                ))
            }
        }
    }
    let mut written = Vec::new();
    for (f, p) in files.iter().zip(targets) {
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        create(&p, &f.contents)?;
        written.push(p);
    }
    // Last, so that a failure never leaves the journal naming a missing file;
    // through a rename, so that the file is never half written.
    for (u, p) in updates.iter().zip(replaced) {
        let mut tmp = p.clone().into_os_string();
        tmp.push(".schemashift-new");
        let tmp = PathBuf::from(tmp);
        create(&tmp, &u.contents)?;
        std::fs::rename(&tmp, &p).map_err(|e| format!("cannot replace {}: {e}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let dir = Path::new("/project");
        for bad in ["../x.sql", "a/../../x.sql", "/etc/x.sql", "a//b.sql", ""] {
            let err = target(dir, bad).unwrap_err();
            assert!(err.contains("refusing to write outside"), "{bad}: {err}");
        }
        assert_eq!(
            target(dir, "db/migrations/1_x.sql").unwrap(),
            dir.join("db/migrations/1_x.sql")
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folders_and_files_are_refused() {
        let root =
            std::env::temp_dir().join(format!("schemashift-emit-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (project, outside) = (root.join("p"), root.join("outside"));
        std::fs::create_dir_all(project.join("db")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, project.join("db/migrations")).unwrap();
        std::os::unix::fs::symlink(&outside, project.join("schemashift")).unwrap();
        for path in ["db/migrations/1_x.sql", "schemashift/1_x.md"] {
            let err = no_symlink(&project, path).unwrap_err();
            assert!(err.contains("is a symlink"), "{err}");
            let files = [EmittedFile {
                path: path.into(),
                contents: "x".into(),
            }];
            assert!(write_new(&project, &files).is_err());
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // A real folder, and one not made yet, are fine.
        assert_eq!(no_symlink(&project, "db/1_x.sql"), Ok(()));
        assert_eq!(no_symlink(&project, "new/dir/1_x.sql"), Ok(()));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
