//! `--database-url` honours `sslmode` as libpq does, against a throwaway
//! cluster listening on 127.0.0.1 with `ssl = on` and a certificate made
//! here with `openssl` (signed by a test CA, naming only `localhost`).

use schemashift::cluster::{Cluster, ClusterOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate it signs for `localhost`, and an unrelated CA.
fn make_certs() -> Certs {
    let dir = std::env::temp_dir().join(format!("schemashift-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let certs = Certs { dir: dir.clone() };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for (name, cn) in [("ca", "schemashift test CA"), ("wrong", "some other CA")] {
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(ec);
        let (key, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN={cn}"),
        );
        args.extend([
            "-keyout",
            &key,
            "-out",
            &crt,
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&dir, &args);
    }
    let mut args = vec!["req", "-nodes"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&dir, &args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    // The server reads its key as the user it runs as, and wants it private.
    let key = dir.join("server.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let root = std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false);
        if root {
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(&key)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown postgres {}", key.display());
        }
    }
    certs
}

/// A cluster on 127.0.0.1 (a free port) with TLS and connection logging.
fn tls_cluster(certs: &Certs) -> Cluster {
    let mut last = None;
    for _ in 0..3 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = ClusterOptions::new()
            .setting("listen_addresses", "127.0.0.1")
            .setting("port", port.to_string())
            .setting("ssl", "on")
            .setting("ssl_cert_file", certs.path("server.crt"))
            .setting("ssl_key_file", certs.path("server.key"))
            .setting("log_connections", "on");
        match Cluster::start_with(&options) {
            Ok(c) => return c,
            // Someone may have taken the port meanwhile.
            Err(e) => last = Some(e),
        }
    }
    panic!("{}", last.unwrap());
}

fn rehearse(url: &str) -> Output {
    Command::new(EXE)
        .args([
            "rehearse",
            "--database-url",
            url,
            "--rows",
            "100",
            "--no-long-transaction",
            "rename users.username to handle",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run schemashift")
}

fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The server log's connection lines of rehearsal roles.
fn role_connections(cluster: &Cluster) -> Vec<String> {
    std::fs::read_to_string(cluster.log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("connection authorized") && l.contains("user=schemashift_rehearsal_")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn sslmode_is_honoured() {
    let certs = make_certs();
    let cluster = tls_cluster(&certs);
    let base = |host: &str, query: &str| {
        format!(
            "postgresql://postgres:{}@{host}:{}/postgres?{query}",
            cluster.password(),
            cluster.port()
        )
    };

    // require: encrypted, the certificate not checked (as libpq).
    let o = rehearse(&base("127.0.0.1", "sslmode=require"));
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let seen = role_connections(&cluster);
    assert!(
        !seen.is_empty() && seen.iter().all(|l| l.contains("SSL enabled")),
        "every rehearsal connection uses TLS: {seen:#?}"
    );

    // verify-full with the CA that signed it, by the name it carries.
    let ca = certs.path("ca.crt");
    let o = rehearse(&base(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));

    // verify-full with a CA that did not sign it: refused, and said why.
    let wrong = certs.path("wrong.crt");
    let o = rehearse(&base(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={wrong}"),
    ));
    let log = shown(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("certificate") && log.contains("sslrootcert"),
        "{log}"
    );

    // The certificate names localhost, not 127.0.0.1: verify-full refuses
    // the address, verify-ca does not look at names.
    let o = rehearse(&base(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert_eq!(o.status.code(), Some(2), "{}", shown(&o));
    let o = rehearse(&base(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));

    // disable: plain connections.
    let before = role_connections(&cluster).len();
    let o = rehearse(&base("127.0.0.1", "sslmode=disable"));
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    let plain: Vec<String> = role_connections(&cluster).split_off(before);
    assert!(
        !plain.is_empty() && plain.iter().all(|l| !l.contains("SSL enabled")),
        "{plain:#?}"
    );
    cluster.stop().unwrap();
}
