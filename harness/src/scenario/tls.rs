//! `[tls]` of a scenario, validated: whether runs use TLS (a list sweeps both), and the PEM
//! files of a certificate someone else issued, or none for a throwaway CA per run.

use std::path::PathBuf;

use serde::Serialize;
use transport_core::tls::{Material, TlsClient, TlsError, TlsServer, read_pem};

/// `[tls]`, every path already checked to read and parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSettings {
    /// The values swept: `[true]`, `[false]`, or both (each run tagged `tls=on|off`).
    pub enabled: Vec<bool>,
    /// The server's certificate chain (PEM); `None` with `key` and `ca` for a throwaway CA and
    /// certificate made per run.
    pub cert: Option<PathBuf>,
    /// The server's private key (PEM).
    pub key: Option<PathBuf>,
    /// The CA certificate(s) clients trust (PEM).
    pub ca: Option<PathBuf>,
}

/// The TLS material one run uses: the server's side (absent when only `ca` was given, for a
/// server someone else runs) and the clients' side.
#[derive(Debug, Clone)]
pub struct RunTls {
    /// The server's configuration, and its PEM (for a child `serve --tls-cert/--tls-key`).
    pub server: Option<(TlsServer, Material)>,
    /// What clients trust.
    pub client: TlsClient,
}

impl TlsSettings {
    /// The run's material: a fresh throwaway CA and certificate, or the files as configured.
    pub fn material(&self) -> Result<RunTls, TlsError> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return self.throwaway_or_ca_only();
        };
        let ca = self.ca.as_ref().unwrap_or(cert);
        let material = Material {
            cert_pem: read_pem("cert", cert)?,
            key_pem: read_pem("key", key)?,
            ca_pem: read_pem("ca", ca)?,
        };
        let server = TlsServer::new(&material.cert_pem, cert, &material.key_pem, key, &[])?;
        let mut client = TlsClient::new(&material.ca_pem, ca, &[])?;
        // Only a browser needs the pin; a key rcgen cannot read (not PKCS#8) leaves it unknown.
        if let Ok(pin) = material.spki_sha256() {
            client = client.with_spki_pin(pin);
        }
        Ok(RunTls {
            server: Some((server, material)),
            client,
        })
    }

    fn throwaway_or_ca_only(&self) -> Result<RunTls, TlsError> {
        if let Some(ca) = &self.ca {
            let client = TlsClient::new(&read_pem("ca", ca)?, ca, &[])?;
            return Ok(RunTls {
                server: None,
                client,
            });
        }
        let material = Material::throwaway()?;
        Ok(RunTls {
            server: Some((TlsServer::from_material(&material, &[])?, material.clone())),
            client: TlsClient::from_material(&material, &[])?,
        })
    }
}
