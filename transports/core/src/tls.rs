//! TLS for every transport, set up once: certificate material (a throwaway CA and server
//! certificate per run, or PEM files for a server someone else runs), the server and client
//! configurations, and what a connection negotiated.
//!
//! rustls with the ring provider only: it needs nothing but the C compiler, where aws-lc or
//! openssl would need a system library or a build-time download. TLS sits *above* the counting
//! socket ([`crate::Conn`]), so [`crate::WireStats`] still counts what the network carries
//! (ciphertext, the TLS handshake among the handshake bytes), and a second [`WireStats`] counts
//! the plaintext the pattern wrote and read, so a report can split overhead into TLS and framing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};

use crate::WireStats;

/// How long a TLS handshake may take before the connection is dropped. A peer that opens a
/// socket and says nothing must not hold a server task forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up. Each variant names the file or the step, so a scenario error can
/// point at the field that caused it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// `cert`, `key` or `ca`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but holds no usable PEM of the kind expected.
    #[error("{what} {}: {detail}", path.display())]
    Pem {
        /// `cert`, `key` or `ca`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the material (for example a key that does not match the certificate).
    #[error("{stage}: {detail}")]
    Rustls {
        /// What was being built.
        stage: &'static str,
        /// rustls's reason.
        detail: String,
    },
    /// The throwaway certificate could not be generated.
    #[error("generate a throwaway certificate: {0}")]
    Generate(String),
}

/// A server's certificate chain and key, and the CA its clients trust, all as PEM text.
#[derive(Debug, Clone)]
pub struct Material {
    /// The server's certificate (chain), PEM.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
    /// The CA certificate(s) clients trust, PEM.
    pub ca_pem: String,
}

impl Material {
    /// A fresh CA and a server certificate it signed for `localhost`, `127.0.0.1` and `::1`:
    /// made per run, trusted only by that run's clients, thrown away with it.
    pub fn throwaway() -> Result<Material, TlsError> {
        let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let ca_key = rcgen::KeyPair::generate().map_err(generate)?;
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "transport-bench throwaway CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, &ca_key).map_err(generate)?;
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let server_key = rcgen::KeyPair::generate().map_err(generate)?;
        let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "transport-bench server");
        let cert = params.signed_by(&server_key, &ca).map_err(generate)?;
        Ok(Material {
            cert_pem: cert.pem(),
            key_pem: server_key.serialize_pem(),
            ca_pem: ca.pem(),
        })
    }

    /// The base64 SHA-256 of the server key's SubjectPublicKeyInfo: what Chromium's
    /// `--ignore-certificate-errors-spki-list` pins, trusting this one key and nothing else.
    pub fn spki_sha256(&self) -> Result<String, TlsError> {
        use base64::Engine;
        use rcgen::PublicKeyData;
        let key = rcgen::KeyPair::from_pem(&self.key_pem)
            .map_err(|e| TlsError::Generate(format!("read the server key: {e}")))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        Ok(base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
    }

    /// Writes the certificate and key as `server.crt` and `server.key` (and the CA as `ca.crt`)
    /// in `dir`, for a child `serve --tls-cert/--tls-key`; returns their paths.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<MaterialFiles> {
        let files = MaterialFiles {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
            ca: dir.join("ca.crt"),
        };
        std::fs::write(&files.cert, &self.cert_pem)?;
        std::fs::write(&files.key, &self.key_pem)?;
        std::fs::write(&files.ca, &self.ca_pem)?;
        Ok(files)
    }
}

/// Where [`Material::write_to`] put the PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialFiles {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA certificate.
    pub ca: PathBuf,
}

/// Reads a PEM file whole, naming it in the error.
pub fn read_pem(what: &'static str, path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certs(
    what: &'static str,
    pem: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |detail: String| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no `BEGIN CERTIFICATE` block".to_owned()));
    }
    Ok(certs)
}

/// The ring provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange; the
/// provider that has it (aws-lc-rs) needs the aws-lc C build this project keeps out.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn rustls_error(stage: &'static str) -> impl FnOnce(rustls::Error) -> TlsError {
    move |e| TlsError::Rustls {
        stage,
        detail: e.to_string(),
    }
}

/// What one connection negotiated, recorded in a run's environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// Protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// Cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The ALPN protocol agreed on, if any (`h2`, `http/1.1`).
    pub alpn: Option<String>,
}

impl Negotiated {
    /// Reads what `conn` negotiated (after its handshake).
    pub fn of(conn: &rustls::CommonState) -> Negotiated {
        Negotiated {
            version: conn
                .protocol_version()
                .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}")),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite())),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }
}

/// The server side of TLS for one server: its configuration, and the plaintext counts above it.
#[derive(Clone)]
pub struct TlsServer {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// Bytes the server's pattern read and wrote above TLS (the wire stats count ciphertext).
    pub plaintext: Arc<WireStats>,
}

impl TlsServer {
    /// A server presenting `cert_pem` with `key_pem` (read from `cert_path`/`key_path`, which
    /// only name them in errors), offering `alpn` protocols in order of preference.
    pub fn new(
        cert_pem: &str,
        cert_path: &Path,
        key_pem: &str,
        key_path: &Path,
        alpn: &[&[u8]],
    ) -> Result<TlsServer, TlsError> {
        let chain = certs("cert", cert_pem, cert_path)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Pem {
            what: "key",
            path: key_path.to_path_buf(),
            detail: format!("no usable private key: {e}"),
        })?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error("TLS versions"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(rustls_error("the certificate and key"))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // No session tickets: they would go out after the handshake and count as steady bytes,
        // and every connection here pays a full handshake (the worst case a reconnect storm
        // meets), so there is nothing for a ticket to resume.
        config.send_tls13_tickets = 0;
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            plaintext: WireStats::new(),
        })
    }

    /// A server from [`Material`] (the throwaway kind, whose PEM has no file to name).
    pub fn from_material(material: &Material, alpn: &[&[u8]]) -> Result<TlsServer, TlsError> {
        let here = Path::new("<generated>");
        TlsServer::new(&material.cert_pem, here, &material.key_pem, here, alpn)
    }

    /// The same certificate offering `alpn` instead (an HTTP server offers `h2` and
    /// `http/1.1`), keeping the plaintext counts.
    pub fn with_alpn(&self, alpn: &[&[u8]]) -> TlsServer {
        let mut config = ServerConfig::clone(self.acceptor.config());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            plaintext: self.plaintext.clone(),
        }
    }

    /// The same configuration with fresh plaintext counts (one per run).
    pub fn fresh(&self) -> TlsServer {
        TlsServer {
            acceptor: self.acceptor.clone(),
            plaintext: WireStats::new(),
        }
    }
}

/// The client side of TLS for a run's clients: the CA they trust, what they offer, and the
/// plaintext counts above TLS.
#[derive(Clone)]
pub struct TlsClient {
    pub(crate) connector: tokio_rustls::TlsConnector,
    /// Bytes the clients' pattern wrote and read above TLS.
    pub plaintext: Arc<WireStats>,
    /// What the first connection negotiated.
    negotiated: Arc<OnceLock<Negotiated>>,
    /// The server key's SPKI hash ([`Material::spki_sha256`]), when the run knows its key.
    spki_pin: Option<Arc<str>>,
}

impl TlsClient {
    /// Clients trusting the CA certificates in `ca_pem` (read from `ca_path`, named in errors),
    /// offering `alpn` protocols in order of preference.
    pub fn new(ca_pem: &str, ca_path: &Path, alpn: &[&[u8]]) -> Result<TlsClient, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in certs("ca", ca_pem, ca_path)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                what: "ca",
                path: ca_path.to_path_buf(),
                detail: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls_error("TLS versions"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            plaintext: WireStats::new(),
            negotiated: Arc::new(OnceLock::new()),
            spki_pin: None,
        })
    }

    /// Clients trusting the CA of [`Material`], knowing its key's SPKI hash.
    pub fn from_material(material: &Material, alpn: &[&[u8]]) -> Result<TlsClient, TlsError> {
        let mut client = TlsClient::new(&material.ca_pem, Path::new("<generated>"), alpn)?;
        // A key rcgen cannot read (not PKCS#8) only leaves the pin unknown.
        client.spki_pin = material.spki_sha256().ok().map(Into::into);
        Ok(client)
    }

    /// The same clients knowing the server key's SPKI hash (a browser pins it).
    pub fn with_spki_pin(mut self, pin: String) -> TlsClient {
        self.spki_pin = Some(pin.into());
        self
    }

    /// The server key's SPKI hash, base64, when known.
    pub fn spki_pin(&self) -> Option<&str> {
        self.spki_pin.as_deref()
    }

    /// The same configuration with fresh plaintext counts and nothing negotiated yet.
    pub fn fresh(&self) -> TlsClient {
        TlsClient {
            connector: self.connector.clone(),
            plaintext: WireStats::new(),
            negotiated: Arc::new(OnceLock::new()),
            spki_pin: self.spki_pin.clone(),
        }
    }

    /// The same trust offering `alpn` instead (an HTTP/2 client offers `h2`), keeping the
    /// plaintext counts and what was negotiated.
    pub fn with_alpn(&self, alpn: &[&[u8]]) -> TlsClient {
        let mut config = ClientConfig::clone(self.connector.config());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            plaintext: self.plaintext.clone(),
            negotiated: self.negotiated.clone(),
            spki_pin: self.spki_pin.clone(),
        }
    }

    /// What the first connection negotiated (`None` before one completed its handshake).
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated.get().cloned()
    }

    pub(crate) fn record(&self, negotiated: impl FnOnce() -> Negotiated) {
        if self.negotiated.get().is_none() {
            let _ = self.negotiated.set(negotiated());
        }
    }
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("negotiated", &self.negotiated())
            .finish_non_exhaustive()
    }
}

/// The name a client checks the server's certificate against: the host of `addr`
/// (`host:port`, an IPv6 host in brackets), as an IP address when it is one.
pub fn server_name(addr: &str) -> Option<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).ok()
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
