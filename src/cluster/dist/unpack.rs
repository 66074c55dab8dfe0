//! Turning a server package's tarball into a tree the `postgres` user can
//! run: its `package/` files unpacked, its library symlinks restored.

use super::{io_err, DistError};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Unpacks the package's `package/` tree into `dest` (created here). Only
/// plain files and directories with relative, `..`-free paths are taken.
pub(super) fn unpack(tarball: &[u8], dest: &Path, package: &str) -> Result<(), DistError> {
    let bad = |detail: String| DistError::Unpack {
        package: package.to_string(),
        detail,
    };
    fs::create_dir(dest).map_err(io_err(format!("creating {}", dest.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let Some(rel) = package_relative(&path) else {
            return Err(bad(format!("unexpected path {}", path.display())));
        };
        let out = dest.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&out).map_err(io_err(format!("creating {}", out.display())))?
            }
            tar::EntryType::Regular => {
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent)
                        .map_err(io_err(format!("creating {}", parent.display())))?;
                }
                entry
                    .unpack(&out)
                    .map_err(io_err(format!("writing {}", out.display())))?;
            }
            other => {
                return Err(bad(format!(
                    "{} is a {other:?} entry; only files and directories are expected",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// `package/native/bin/initdb` -> `native/bin/initdb`; None for anything
/// outside `package/` or not a plain relative path.
fn package_relative(path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix("package").ok()?;
    let plain =
        rel.components().count() > 0 && rel.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| rel.to_path_buf())
}

/// The package ships its libraries' symlinks as a list
/// (`native/pg-symlinks.json`: `{source, target}` paths relative to the
/// package) that its `scripts/hydrate-symlinks.js` turns back into links.
/// This does the same: a link at `target` to `source`'s file name, both in
/// one directory. Existing files are left alone, as the script does.
pub(super) fn hydrate_symlinks(root: &Path, package: &str) -> Result<(), DistError> {
    #[derive(serde::Deserialize)]
    struct Link {
        source: String,
        target: String,
    }
    let list = root.join("native").join("pg-symlinks.json");
    let text = match fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("reading {}", list.display()))(e)),
    };
    let bad = |detail: String| DistError::Unpack {
        package: package.to_string(),
        detail: format!("native/pg-symlinks.json: {detail}"),
    };
    let links: Vec<Link> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    for link in links {
        let (source, target) = (Path::new(&link.source), Path::new(&link.target));
        let plain = |p: &Path| p.components().all(|c| matches!(c, Component::Normal(_)));
        let (Some(name), Some(dir)) = (source.file_name(), source.parent()) else {
            return Err(bad(format!("bad source {:?}", link.source)));
        };
        if !plain(source) || !plain(target) || target.parent() != Some(dir) {
            return Err(bad(format!(
                "{:?} -> {:?} is not a link within one directory of the package",
                link.target, link.source
            )));
        }
        let at = root.join(target);
        if fs::symlink_metadata(&at).is_ok() {
            continue;
        }
        make_link(Path::new(name), &at, &root.join(source))
            .map_err(io_err(format!("linking {}", at.display())))?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_link(relative: &Path, at: &Path, _source: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(relative, at)
}

/// Symlinks need privileges on Windows; a copy serves the same purpose.
#[cfg(not(unix))]
fn make_link(_relative: &Path, at: &Path, source: &Path) -> io::Result<()> {
    fs::copy(source, at).map(|_| ())
}

/// Directories 0755, files readable by all and programs executable by all,
/// so the `postgres` user can run a build root unpacked.
#[cfg(unix)]
pub(super) fn readable_by_all(dir: &Path) -> Result<(), DistError> {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &Path, mode: u32| {
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("setting the mode of {}", p.display())))
    };
    chmod(dir, 0o755)?;
    for entry in fs::read_dir(dir).map_err(io_err(format!("reading {}", dir.display())))? {
        let entry = entry.map_err(io_err(format!("reading {}", dir.display())))?;
        let path = entry.path();
        let meta =
            fs::symlink_metadata(&path).map_err(io_err(format!("reading {}", path.display())))?;
        if meta.is_dir() {
            readable_by_all(&path)?;
        } else if meta.is_file() {
            let mode = meta.permissions().mode() & 0o777;
            let exec = if mode & 0o100 != 0 { 0o111 } else { 0 };
            chmod(&path, mode | 0o444 | exec)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn readable_by_all(_dir: &Path) -> Result<(), DistError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_package_paths_unpack() {
        assert_eq!(
            package_relative(Path::new("package/native/bin/initdb")),
            Some(PathBuf::from("native/bin/initdb"))
        );
        assert_eq!(package_relative(Path::new("package/../etc/passwd")), None);
        assert_eq!(package_relative(Path::new("/package/x")), None);
        assert_eq!(package_relative(Path::new("other/x")), None);
        assert_eq!(package_relative(Path::new("package")), None);
    }
}
