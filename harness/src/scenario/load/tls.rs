//! Meaning of `[tls]`: `enabled` (a bool, or a list that sweeps both), and the `cert`, `key`
//! and `ca` PEM files, each read and parsed here so a missing, unreadable or mismatching file is
//! an error at its own line, before any run starts.

use std::path::{Path, PathBuf};

use toml::Spanned;
use transport_core::tls::{TlsClient, TlsServer, read_pem};

use super::located::{Located, distinct};
use super::raw::RawTls;
use crate::registry::TransportKind;
use crate::scenario::tls::TlsSettings;

/// What each path key takes, for error messages.
const PEM_EXPECTED: &str = "allowed: a path (relative to the scenario file) to a PEM file; \
     leave cert, key and ca out for a throwaway CA and certificate per run";

/// `[tls]`, or `None` without the table. `dir` is the scenario file's folder, which relative
/// paths start from.
pub(super) fn tls(
    raw: Option<Spanned<RawTls>>,
    dir: &Path,
    transports: &[TransportKind],
    browser: bool,
) -> Result<Option<TlsSettings>, Located> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let table = raw.span();
    let raw = raw.into_inner();
    let enabled = match &raw.enabled {
        Some(list) => distinct(list, "enabled", |&b, _| Ok(b))?,
        None => vec![true],
    };
    if enabled.contains(&true) {
        check_transports(transports, table.clone())?;
        if browser && raw.key.is_none() && raw.ca.is_some() {
            return Err(Located::at(
                table,
                "[browser] over TLS has Chromium trust the server's key by its SPKI hash, so it \
                 needs that key: allowed: cert, key and ca together, or none of them (a \
                 throwaway certificate per run)",
            ));
        }
    }
    let cert = raw.cert.as_ref().map(|c| path_of(c, dir));
    let key = raw.key.as_ref().map(|k| path_of(k, dir));
    let ca = raw.ca.as_ref().map(|c| path_of(c, dir));
    match (&raw.cert, &raw.key) {
        (Some(c), None) => return Err(at(c, "`cert` needs `key` (the certificate's private key)")),
        (None, Some(k)) => return Err(at(k, "`key` needs `cert` (the certificate it belongs to)")),
        (Some(c), Some(_)) if raw.ca.is_none() => {
            return Err(at(
                c,
                "`cert` and `key` need `ca`: the CA certificate the clients trust (the \
                 certificate itself, if it is self-signed)",
            ));
        }
        _ => {}
    }
    if let (Some(c), Some(k)) = (&raw.cert, &raw.key) {
        check_pair(c, cert.as_deref(), k, key.as_deref())?;
    }
    if let (Some(span), Some(path)) = (&raw.ca, &ca) {
        let pem = read_pem("ca", path).map_err(|e| at(span, format!("{e}; {PEM_EXPECTED}")))?;
        TlsClient::new(&pem, path, &[]).map_err(|e| at(span, format!("{e}; {PEM_EXPECTED}")))?;
    }
    Ok(Some(TlsSettings {
        enabled,
        cert,
        key,
        ca,
    }))
}

/// Every transport must have TLS: ours do; nginx's Nchan is not wired for it (yet).
fn check_transports(
    transports: &[TransportKind],
    table: std::ops::Range<usize>,
) -> Result<(), Located> {
    if let Some(t) = transports.iter().find(|t| !t.has_tls()) {
        let allowed: Vec<&str> = TransportKind::ALL
            .iter()
            .filter(|t| t.has_tls())
            .map(|t| t.name())
            .collect();
        return Err(Located::at(
            table,
            format!(
                "[tls] enabled = true does not apply to transport `{}`; transports with TLS: {}",
                t.name(),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The certificate and key read, parse, and belong together.
fn check_pair(
    cert_span: &Spanned<String>,
    cert: Option<&Path>,
    key_span: &Spanned<String>,
    key: Option<&Path>,
) -> Result<(), Located> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(());
    };
    let cert_pem =
        read_pem("cert", cert).map_err(|e| at(cert_span, format!("{e}; {PEM_EXPECTED}")))?;
    let key_pem = read_pem("key", key).map_err(|e| at(key_span, format!("{e}; {PEM_EXPECTED}")))?;
    TlsServer::new(&cert_pem, cert, &key_pem, key, &[]).map_err(|e| {
        let span = match &e {
            transport_core::tls::TlsError::Pem { what: "cert", .. } => cert_span,
            _ => key_span,
        };
        at(span, format!("{e}; {PEM_EXPECTED}"))
    })?;
    Ok(())
}

fn path_of(value: &Spanned<String>, dir: &Path) -> PathBuf {
    let p = Path::new(value.get_ref());
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located::at(value.span(), message)
}
