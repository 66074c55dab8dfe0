//! Server builds are used only when they are exactly what was pinned.
//!
//! A registry on 127.0.0.1 (through `SCHEMASHIFT_PG_REGISTRY` or the
//! registry argument) serves package tarballs made here: a tampered one (not
//! the pinned bytes) is refused before anything is unpacked and leaves the
//! cache empty; a missing one says what failed; a faithful one unpacks into
//! the cache with its library symlinks restored, and is not fetched again.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use schemashift::cluster::dist::{self, Build, DistError};

/// A one-file-at-a-time HTTP server: every GET gets `body` (or a 404 when
/// it is None). Returns the base URL and the paths requested so far.
fn serve(body: Option<Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            log.lock().unwrap().push(path);
            let _ = match &body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| stream.write_all(b)),
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                ),
            };
        }
    });
    (base, seen)
}

/// A package laid out as the registry's: programs in native/bin, a library
/// and the list of symlinks to restore.
fn package_tgz(marker: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, data).unwrap();
    };
    add(
        "package/package.json",
        0o644,
        b"{\"name\": \"@embedded-postgres/test\"}",
    );
    for program in ["initdb", "pg_ctl", "postgres"] {
        add(
            &format!("package/native/bin/{program}"),
            0o755,
            format!("#!/bin/sh\necho {marker}\n").as_bytes(),
        );
    }
    add("package/native/lib/libpq.so.5.18", 0o644, b"library");
    add(
        "package/native/pg-symlinks.json",
        0o644,
        br#"[{"source":"native/lib/libpq.so.5.18","target":"native/lib/libpq.so.5"},{"source":"native/lib/libpq.so.5.18","target":"native/lib/libpq.so"}]"#,
    );
    tar.into_inner().unwrap().finish().unwrap()
}

fn integrity_of(data: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA512, data);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// Every file and directory under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("schemashift-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pinned_18() -> &'static Build {
    dist::BUILDS
        .iter()
        .find(|b| b.major == 18 && Some(b.platform) == dist::platform())
        .expect("PostgreSQL 18 is pinned for this platform")
}

#[test]
fn a_tampered_download_is_refused_and_nothing_is_cached() {
    let pinned = pinned_18();
    let (registry, seen) = serve(Some(package_tgz("tampered")));
    let cache = fresh_dir("tampered");

    // Through the environment, as `rehearse` fetches.
    std::env::set_var(dist::REGISTRY_ENV, &registry);
    std::env::set_var(dist::CACHE_ENV, &cache);
    let result = dist::fetch(18);
    std::env::remove_var(dist::REGISTRY_ENV);
    std::env::remove_var(dist::CACHE_ENV);

    let err = result.expect_err("a tampered build must be refused");
    let msg = err.to_string();
    assert!(matches!(err, DistError::Integrity { .. }), "{msg}");
    assert!(
        msg.contains("does not match the pinned integrity hash"),
        "{msg}"
    );
    assert!(msg.contains("nothing was cached"), "{msg}");
    assert!(msg.contains(pinned.integrity), "{msg}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!(
            "/@embedded-postgres/{p}/-/{p}-{v}.tgz",
            p = pinned.platform,
            v = pinned.version
        )]
    );
    let left = tree(&cache);
    let _ = std::fs::remove_dir_all(&cache);
    assert!(left.is_empty(), "the cache holds {left:?}");
}

#[test]
fn a_missing_package_says_what_failed_and_caches_nothing() {
    let (registry, _) = serve(None);
    let cache = fresh_dir("missing");
    let err = dist::fetch_build(pinned_18(), &registry, &cache).unwrap_err();
    let msg = err.to_string();
    let left = tree(&cache);
    let _ = std::fs::remove_dir_all(&cache);
    assert!(matches!(err, DistError::Download { .. }), "{msg}");
    assert!(msg.contains(&registry) && msg.contains("404"), "{msg}");
    assert!(left.is_empty(), "the cache holds {left:?}");
}

#[test]
fn a_faithful_download_is_unpacked_once_with_its_symlinks() {
    let tgz = package_tgz("faithful");
    let integrity: &'static str = Box::leak(integrity_of(&tgz).into_boxed_str());
    let build = Build {
        integrity,
        ..*pinned_18()
    };
    let (registry, seen) = serve(Some(tgz));
    let cache = fresh_dir("faithful");

    let bin = dist::fetch_build(&build, &registry, &cache).expect("a faithful build unpacks");
    let again = dist::fetch_build(&build, &registry, &cache).expect("a cached build");
    let requests = seen.lock().unwrap().len();
    let entries = tree(&cache);
    let lib = bin.parent().unwrap().join("lib");
    let link = std::fs::read_link(lib.join("libpq.so.5"));
    let link2 = std::fs::read_link(lib.join("libpq.so"));
    let initdb = std::fs::read_to_string(bin.join("initdb"));
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(bin.join("postgres"))
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let _ = std::fs::remove_dir_all(&cache);

    assert_eq!(bin, build.dir(&cache).join("native").join("bin"));
    assert_eq!(again, bin);
    assert_eq!(requests, 1, "a cached build was downloaded again");
    assert_eq!(link.unwrap(), PathBuf::from("libpq.so.5.18"));
    assert_eq!(link2.unwrap(), PathBuf::from("libpq.so.5.18"));
    assert!(initdb.unwrap().contains("faithful"));
    #[cfg(unix)]
    assert_eq!(
        mode,
        Some(0o755),
        "programs must be runnable by the postgres user"
    );
    // Only the final directory: the temporary one was renamed into place.
    assert!(
        !entries
            .iter()
            .any(|p| p.to_string_lossy().contains(".tmp-")),
        "{entries:?}"
    );
}
