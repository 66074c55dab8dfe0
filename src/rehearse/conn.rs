//! How the rehearsal connects: a [`tokio_postgres::Config`] with the TLS that
//! the URL's `sslmode` asks for, as libpq reads it.
//!
//! `disable` never uses TLS; `prefer` (the default) uses it when the server
//! offers it; `require` insists on it. None of these three checks the
//! server's certificate, exactly as in libpq: they keep passive listeners
//! out, not an impostor. `verify-ca` checks that the certificate is signed
//! by a trusted CA, `verify-full` also that it names the host. The trusted
//! CAs come from `sslrootcert` (a PEM file; `system` for the system's
//! store), else `~/.postgresql/root.crt`, as libpq looks for them.

use super::RehearseError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's sslmode values (`allow` is read as `prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub config: Config,
    tls: Option<MakeRustlsConnect>,
    pub mode: TlsMode,
}

impl Endpoint {
    /// Reads a `postgresql://` URL or a `key=value` connection string,
    /// `sslmode` and `sslrootcert` included.
    pub fn parse(url: &str) -> Result<Endpoint, RehearseError> {
        let (rest, sslmode, rootcert) = take_tls_params(url);
        let config: Config = rest.parse().map_err(|e| {
            RehearseError::Invalid(format!(
                "database_url is not a PostgreSQL connection URL ({e}); write it as postgresql://user@host:5432/dbname"
            ))
        })?;
        let mode = match sslmode.as_deref() {
            None | Some("prefer") | Some("allow") => TlsMode::Prefer,
            Some("disable") => TlsMode::Disable,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                return Err(RehearseError::Invalid(format!(
                    "sslmode={other} in database_url is not a sslmode: use disable, prefer, require, verify-ca or verify-full"
                )))
            }
        };
        Endpoint::with_mode(config, mode, rootcert.as_deref())
    }

    /// A Unix-socket endpoint (TLS does not apply).
    pub fn plain(config: Config) -> Endpoint {
        Endpoint {
            config,
            tls: None,
            mode: TlsMode::Disable,
        }
    }

    fn with_mode(
        mut config: Config,
        mode: TlsMode,
        rootcert: Option<&str>,
    ) -> Result<Endpoint, RehearseError> {
        config.ssl_mode(match mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        });
        let tls = match mode {
            TlsMode::Disable => None,
            TlsMode::Prefer | TlsMode::Require => Some(client_config(Arc::new(AnyCert))),
            TlsMode::VerifyCa | TlsMode::VerifyFull => {
                let roots = Arc::new(root_store(rootcert)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|e| RehearseError::Invalid(format!("TLS roots: {e}")))?;
                Some(client_config(Arc::new(Verify {
                    inner: webpki,
                    check_name: mode == TlsMode::VerifyFull,
                })))
            }
        };
        Ok(Endpoint { config, tls, mode })
    }

    /// The same server as another role and database, with the same TLS.
    pub fn as_role(&self, user: &str, password: &str, dbname: &str) -> Endpoint {
        let mut config = self.config.clone();
        config.user(user).password(password).dbname(dbname);
        Endpoint {
            config,
            tls: self.tls.clone(),
            mode: self.mode,
        }
    }

    /// Whether the server runs on this machine (a Unix socket or a loopback
    /// address), so a pid in a leftover's name is a local process's.
    pub fn is_local(&self) -> bool {
        let hosts = self.config.get_hosts();
        !hosts.is_empty()
            && hosts.iter().all(|h| match h {
                #[cfg(unix)]
                Host::Unix(_) => true,
                Host::Tcp(name) => {
                    let name = name.trim_start_matches('[').trim_end_matches(']');
                    name == "localhost"
                        || name
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                }
            })
    }

    /// What to check when a connection failed on TLS.
    pub fn tls_hint(&self, e: &tokio_postgres::Error) -> &'static str {
        let text = e.to_string();
        if !text.contains("TLS") && !text.contains("certificate") {
            return "";
        }
        match self.mode {
            TlsMode::VerifyFull => " (sslmode=verify-full: the server's certificate must be signed by a CA in sslrootcert and name the host of the URL; verify-ca skips the name)",
            TlsMode::VerifyCa => " (sslmode=verify-ca: the server's certificate must be signed by a CA in sslrootcert)",
            TlsMode::Require => " (sslmode=require: the server must accept TLS connections, ssl = on)",
            TlsMode::Prefer | TlsMode::Disable => "",
        }
    }

    /// Connects one client; the connection task runs until the client is
    /// dropped.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        match &self.tls {
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await?;
                // A connection error ends the task; the client then reports
                // it on use.
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
            None => {
                let (client, conn) = self.config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
        }
    }
}

/// The URL without `sslmode` and `sslrootcert` (tokio-postgres knows neither
/// verify mode nor root files), and their values.
fn take_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let mut sslmode = None;
    let mut rootcert = None;
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if is_url {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(decode(v)),
                Some(("sslrootcert", v)) => rootcert = Some(decode(v)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, sslmode, rootcert)
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(v.trim_matches('\'').to_string()),
                Some(("sslrootcert", v)) => rootcert = Some(v.trim_matches('\'').to_string()),
                _ => kept.push(word),
            }
        }
        (kept.join(" "), sslmode, rootcert)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ring, not aws-lc-rs (which needs cmake to build). rustls deprecates it
/// for lacking post-quantum key exchange, which PostgreSQL's TLS does not
/// need.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> MakeRustlsConnect {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

/// The CAs verify-ca and verify-full trust.
fn root_store(rootcert: Option<&str>) -> Result<RootCertStore, RehearseError> {
    let mut store = RootCertStore::empty();
    if rootcert == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            return Err(RehearseError::Invalid(
                "sslrootcert=system: no CA certificates found in the system's store".into(),
            ));
        }
        return Ok(store);
    }
    let path = match rootcert {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            match home.map(|h| h.join(".postgresql/root.crt")) {
                Some(p) if p.is_file() => p,
                _ => {
                    return Err(RehearseError::Invalid(
                        "sslmode=verify-ca/verify-full needs the CA that signed the server's certificate: add sslrootcert=/path/to/ca.pem to database_url (or sslrootcert=system for the system's CAs), or put it in ~/.postgresql/root.crt".into(),
                    ))
                }
            }
        }
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            RehearseError::Invalid(format!(
                "sslrootcert {}: cannot read PEM certificates ({e})",
                path.display()
            ))
        })?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(RehearseError::Invalid(format!(
            "sslrootcert {} holds no usable CA certificate",
            path.display()
        )));
    }
    Ok(store)
}

/// prefer/require: any certificate, as libpq (encryption without
/// authentication); the handshake signature is still checked.
#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// verify-ca / verify-full: the chain must lead to a trusted CA; the host
/// name must match only for verify-full.
#[derive(Debug)]
struct Verify {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verify {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_are_taken_out_of_urls_and_strings() {
        let (rest, mode, root) = take_tls_params(
            "postgresql://u@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fca.pem",
        );
        assert_eq!(rest, "postgresql://u@h:5432/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
        let (rest, mode, root) = take_tls_params("host=h dbname=db sslmode=require");
        assert_eq!(rest, "host=h dbname=db");
        assert_eq!(mode.as_deref(), Some("require"));
        assert_eq!(root, None);
        let (rest, mode, _) = take_tls_params("postgresql://u@h/db");
        assert_eq!((rest.as_str(), mode), ("postgresql://u@h/db", None));
    }

    #[test]
    fn sslmodes_are_read_like_libpq() {
        let e = Endpoint::parse("postgresql://u@h/db?sslmode=disable").unwrap();
        assert_eq!(e.mode, TlsMode::Disable);
        assert_eq!(e.config.get_ssl_mode(), SslMode::Disable);
        let e = Endpoint::parse("postgresql://u@h/db").unwrap();
        assert_eq!(e.mode, TlsMode::Prefer);
        let e = Endpoint::parse("postgresql://u@h/db?sslmode=require").unwrap();
        assert_eq!(e.config.get_ssl_mode(), SslMode::Require);
        let err = Endpoint::parse("postgresql://u@h/db?sslmode=sometimes")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("sslmode=sometimes") && err.contains("verify-full"),
            "{err}"
        );
        let err = Endpoint::parse(
            "postgresql://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn local_servers_are_told_apart() {
        let local = |u: &str| Endpoint::parse(u).unwrap().is_local();
        assert!(local("postgresql://u@localhost/db"));
        assert!(local("postgresql://u@127.0.0.1/db"));
        assert!(local("postgresql://u@[::1]/db"));
        assert!(local("postgresql://u@/db?host=/var/run/postgresql"));
        assert!(!local("postgresql://u@db.example.com/db"));
        assert!(!local("postgresql://u@10.0.0.5/db"));
    }
}
