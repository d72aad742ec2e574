//! How the kit's servers and clients are made: plaintext, or TLS with a throwaway CA that only
//! the check's own clients trust. Every check runs either way through [`Setup`]; the TLS-only
//! checks (ciphertext outweighs plaintext; a plaintext client is refused and the server goes on
//! serving) live here too.

use std::sync::Arc;

use super::{DeliveryReport, STEP_TIMEOUT, bounded, message, receive_seqs, start};
use crate::tls::{Material, TlsClient, TlsServer};
use crate::{ClientContext, Publisher, ServerContext, ServerHandle, SharedConns, Transport};

/// The contexts a check runs with.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    tls: Option<Arc<(TlsServer, TlsClient)>>,
    /// One table for every client of the setup, as a run's subscribers share one.
    shared: SharedConns,
}

impl Setup {
    /// Plaintext sockets.
    pub fn plain() -> Setup {
        Setup::default()
    }

    /// TLS on every socket, with a fresh throwaway CA; servers and clients offer `alpn`.
    pub fn tls_with_alpn(server_alpn: &[&[u8]], client_alpn: &[&[u8]]) -> Setup {
        let material = Material::throwaway().expect("generate a throwaway certificate");
        let server = TlsServer::from_material(&material, server_alpn).expect("server TLS config");
        let client = TlsClient::from_material(&material, client_alpn).expect("client TLS config");
        Setup {
            tls: Some(Arc::new((server, client))),
            shared: SharedConns::default(),
        }
    }

    /// TLS on every socket, with a fresh throwaway CA and no ALPN.
    pub fn tls() -> Setup {
        Setup::tls_with_alpn(&[], &[])
    }

    /// Whether the sockets carry TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A fresh server context (fresh plaintext counts under TLS).
    pub fn server(&self) -> ServerContext {
        ServerContext {
            tls: self.tls.as_ref().map(|t| t.0.fresh()),
            ..ServerContext::fresh()
        }
    }

    /// A fresh client context (fresh plaintext counts under TLS).
    pub fn client(&self, client_index: u32) -> ClientContext {
        ClientContext {
            tls: self.tls.as_ref().map(|t| t.1.fresh()),
            shared: self.shared.clone(),
            ..ClientContext::fresh(client_index)
        }
    }
}

/// Under TLS: every layer's steady bytes are at least the pattern's (a record adds a header and
/// a tag), the TLS handshake is handshake bytes on the wire, and the plaintext counts did see
/// the pattern's traffic.
pub(super) fn assert_tls_adds_bytes(report: &DeliveryReport) {
    let (Some(plain), wire) = (report.client_plaintext, report.client) else {
        return;
    };
    assert!(
        wire.written > plain.written && wire.read > plain.read,
        "ciphertext must outweigh the plaintext under it: wire {wire:?}, plaintext {plain:?}"
    );
    assert!(
        wire.handshake_written > plain.handshake_written + 100,
        "the TLS handshake must count as handshake bytes: wire {wire:?}, plaintext {plain:?}"
    );
    assert!(
        plain.read > 0 && plain.written > 0,
        "the plaintext count must see the pattern's traffic: {plain:?}"
    );
    if let Some(server_plain) = report.server_plaintext {
        assert!(
            report.server.total_read() > server_plain.total_read(),
            "server ciphertext must outweigh its plaintext: {:?} vs {server_plain:?}",
            report.server
        );
    }
}

/// Under TLS: a client that speaks plaintext to the TLS server fails with an error (it does not
/// hang), the server counts the failed handshake, and a TLS client is served afterwards.
pub async fn plaintext_client_is_refused<T: Transport>(setup: &Setup, config: T::Config) {
    assert!(setup.is_tls(), "the check needs a TLS setup");
    let server_ctx = setup.server();
    let server = start::<T>(&config, server_ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let plain = ClientContext::fresh(0);
    let refused = tokio::time::timeout(
        STEP_TIMEOUT,
        T::subscriber(&config, &addr, "plaintext", plain),
    )
    .await;
    match refused {
        Ok(Ok(_)) => panic!("a plaintext subscriber must not be served by a TLS server"),
        Ok(Err(_)) => {}
        Err(_) => panic!("a plaintext subscriber must fail within {STEP_TIMEOUT:?}, not hang"),
    }
    // The client may give up before the server's handshake task has counted: poll, bounded.
    let failures = server_ctx.counters.counter("server_tls_handshake_failures");
    bounded("the failed handshake is counted", async {
        while failures.get() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let ctx = setup.client(1);
    let mut sub = bounded(
        "subscribe over TLS",
        T::subscriber(&config, &addr, "after-plaintext", ctx.clone()),
    )
    .await
    .expect("a TLS subscriber is served after a plaintext one was refused");
    let mut publisher = bounded(
        "publisher over TLS",
        T::publisher(&config, &addr, "after-plaintext", ctx),
    )
    .await
    .expect("publisher over TLS");
    bounded("publish", publisher.publish(message(0, 64)))
        .await
        .expect("publish");
    bounded("flush", publisher.flush()).await.expect("flush");
    let (seqs, _) = receive_seqs(&mut sub, 1).await;
    assert_eq!(seqs, vec![0], "the TLS server keeps serving");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
