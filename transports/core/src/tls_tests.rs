//! TLS set-up over real loopback sockets: a throwaway certificate is trusted by its own clients
//! only, bad material is refused with the file named, and both counts add up.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::{ClientContext, Conn, CountingIo, TransportError};

/// A TLS echo of one message over loopback; returns the client's connection after it read the
/// echo back.
async fn echo_once(server: &TlsServer, client: &ClientContext) -> Result<Conn, TransportError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = server.clone();
    let stats = WireStats::new();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = Conn::accept_tls(CountingIo::new(tcp, stats), &server, true).await?;
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf)
            .await
            .map_err(TransportError::io("read"))?;
        conn.write_all(&buf)
            .await
            .map_err(TransportError::io("write"))?;
        conn.flush().await.map_err(TransportError::io("flush"))?;
        Ok::<_, TransportError>(conn)
    });
    let mut conn = client.open(&addr).await?;
    conn.end_handshake();
    conn.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    task.await.unwrap()?;
    Ok(conn)
}

#[tokio::test]
async fn a_throwaway_certificate_serves_its_own_clients_and_counts_both_layers() {
    let material = Material::throwaway().unwrap();
    let server = TlsServer::from_material(&material, &[]).unwrap();
    let mut client = ClientContext::fresh(0);
    client.tls = Some(TlsClient::from_material(&material, &[]).unwrap());
    let conn = tokio::time::timeout(Duration::from_secs(10), echo_once(&server, &client))
        .await
        .unwrap()
        .unwrap();
    assert!(conn.is_tls());
    let tls = client.tls.as_ref().unwrap();
    let negotiated = tls.negotiated().unwrap();
    assert_eq!(negotiated.version, "TLSv1_3");
    assert!(
        negotiated.cipher_suite.starts_with("TLS13_"),
        "{negotiated:?}"
    );
    let plain = tls.plaintext.snapshot();
    assert_eq!(
        (plain.written, plain.read),
        (5, 5),
        "the plaintext above TLS"
    );
    assert_eq!(plain.handshake_written + plain.handshake_read, 0);
    let wire = client.wire.snapshot();
    assert!(
        wire.handshake_written > 200,
        "the ClientHello is handshake: {wire:?}"
    );
    // Each 5-byte record carries a 5-byte header, a 1-byte content type and a 16-byte tag.
    assert!(wire.written >= 5 + 22, "ciphertext is larger: {wire:?}");
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_refuses_the_server() {
    let server = TlsServer::from_material(&Material::throwaway().unwrap(), &[]).unwrap();
    let mut client = ClientContext::fresh(0);
    let other = Material::throwaway().unwrap();
    client.tls = Some(TlsClient::from_material(&other, &[]).unwrap());
    let err = tokio::time::timeout(Duration::from_secs(10), echo_once(&server, &client))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("tls handshake"), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let a = Material::throwaway().unwrap();
    let b = Material::throwaway().unwrap();
    let err = TlsServer::new(
        &a.cert_pem,
        Path::new("a.crt"),
        &b.key_pem,
        Path::new("b.key"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("certificate and key"), "{err}");
}

#[test]
fn files_without_pem_name_the_file_and_what_is_missing() {
    let err =
        TlsServer::new("nothing", Path::new("x.crt"), "", Path::new("x.key"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cert x.crt: holds no `BEGIN CERTIFICATE` block"
    );
    let a = Material::throwaway().unwrap();
    let err = TlsServer::new(
        &a.cert_pem,
        Path::new("x.crt"),
        "junk",
        Path::new("x.key"),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("key x.key: no usable private key"),
        "{err}"
    );
    let err = read_pem("ca", Path::new("/nonexistent/ca.crt")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read ca /nonexistent/ca.crt"),
        "{err}"
    );
}

#[test]
fn server_names_come_from_the_address_host() {
    assert!(matches!(
        server_name("127.0.0.1:80"),
        Some(ServerName::IpAddress(_))
    ));
    assert!(matches!(
        server_name("[::1]:80"),
        Some(ServerName::IpAddress(_))
    ));
    assert!(matches!(
        server_name("localhost:80"),
        Some(ServerName::DnsName(_))
    ));
}

#[test]
fn the_spki_pin_is_the_servers_key_and_survives_alpn_and_fresh_copies() {
    let a = Material::throwaway().unwrap();
    let b = Material::throwaway().unwrap();
    let pin = a.spki_sha256().unwrap();
    // Base64 of a 32-byte SHA-256.
    assert_eq!(pin.len(), 44, "{pin}");
    assert_ne!(pin, b.spki_sha256().unwrap(), "each key has its own pin");
    let client = TlsClient::from_material(&a, &[]).unwrap();
    assert_eq!(client.spki_pin(), Some(pin.as_str()));
    assert_eq!(client.with_alpn(&[b"h2"]).spki_pin(), Some(pin.as_str()));
    assert_eq!(client.fresh().spki_pin(), Some(pin.as_str()));
}
