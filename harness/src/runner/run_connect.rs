//! The run's connect phase: the link emulator in front of the server when the scenario needs
//! one, each client's context (its loopback source, gate, reconnect policy and TLS), and
//! subscribers then publishers connected under a bound that grows with their count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use transport_core::tls::TlsClient;
use transport_core::{ClientContext, SharedConns, Transport, WireStats};

use super::super::topic::topic_of;
use super::{Link, Run, SETUP_TIMEOUT, bounded};
use crate::link::{LinkProxy, Side};

/// Subscribers connecting at once: enough to set up 10,000 in seconds, few enough not to
/// overflow the server's accept backlog (`somaxconn` is 4096 here).
const CONNECTING: usize = 256;
/// Extra set-up time per subscriber, so the bound grows with the count.
const SETUP_PER_CLIENT: Duration = Duration::from_millis(5);

impl<T: Transport> Run<'_, T> {
    /// With a link or faults, every client connects through the emulator (publishers and
    /// subscribers on separate ports, so a fault can target one side).
    pub(super) async fn start_link(&self, addr: &str) -> anyhow::Result<Link> {
        let scenario = self.scenario;
        if scenario.link.is_none() && !scenario.faults.iter().any(|f| f.kind.needs_proxy()) {
            return Ok(Link {
                proxy: None,
                publishers: addr.to_owned(),
                subscribers: addr.to_owned(),
            });
        }
        let upstream = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("server address {addr} does not resolve"))?;
        let link = scenario.link.unwrap_or_default();
        let proxy = Arc::new(LinkProxy::start(upstream, link).await?);
        Ok(Link {
            publishers: proxy.addr(Side::Publishers).to_string(),
            subscribers: proxy.addr(Side::Subscribers).to_string(),
            proxy: Some(proxy),
        })
    }

    /// The context of client `i` of its kind; `ordinal` numbers all of the run's clients
    /// (subscribers first), which picks its loopback source when one source lacks the ports.
    fn client_ctx(
        &self,
        i: u32,
        ordinal: u32,
        (wire, tls): (&Arc<WireStats>, &Option<TlsClient>),
        addr: &str,
    ) -> ClientContext {
        let total = self.spec.subscribers + self.scenario.publishers;
        ClientContext {
            wire: wire.clone(),
            counters: self.counters.clone(),
            socket: self.scenario.socket,
            client_index: i,
            source: addr
                .starts_with("127.")
                .then(|| crate::limits::loopback_source(ordinal, total))
                .flatten(),
            gate: None,
            reconnect: self.spec.reconnect,
            tls: tls.clone(),
            // Publishers keep a connection each; subscribers are given the run's table below.
            shared: SharedConns::default(),
        }
    }

    /// Connects subscribers, then publishers. Subscribers come first: each resolves only once
    /// live, so nothing published later is missed. Up to [`CONNECTING`] connect at once, so
    /// thousands of clients are set up in seconds; the bound grows with the count. `connected`
    /// counts live subscribers for the progress line.
    pub(super) async fn connect(
        &self,
        link: &Link,
        nonce: &str,
        connected: &AtomicU64,
    ) -> anyhow::Result<(Vec<T::Subscriber>, Vec<T::Publisher>)> {
        use futures_util::{StreamExt, TryStreamExt};
        let topics: Vec<String> = (0..self.scenario.topics)
            .map(|t| format!("tb-{nonce}-{t}"))
            .collect();
        let topic = |client: u32| topics[topic_of(client, self.scenario.topics) as usize].as_str();
        let subs = self.spec.subscribers;
        let bound = SETUP_TIMEOUT + SETUP_PER_CLIENT * subs;
        let subscribers = futures_util::stream::iter(0..subs)
            .map(|i| async move {
                let ctx = ClientContext {
                    gate: self.classes.gate(i),
                    shared: self.subscriber_conns.clone(),
                    ..self.client_ctx(
                        i,
                        i,
                        (&self.subscriber_wire, &self.subscriber_tls),
                        &link.subscribers,
                    )
                };
                let sub = T::subscriber(&self.config, &link.subscribers, topic(i), ctx)
                    .await
                    .map_err(|e| anyhow::anyhow!("subscriber {i} never became ready: {e}"))?;
                connected.fetch_add(1, Ordering::Relaxed);
                anyhow::Ok(sub)
            })
            .buffered(CONNECTING)
            .try_collect::<Vec<_>>();
        let subscribers = bounded("connecting subscribers", bound, subscribers).await??;
        let publishers = bounded("connecting publishers", SETUP_TIMEOUT, async {
            let mut pubs = Vec::with_capacity(self.scenario.publishers as usize);
            for p in 0..self.scenario.publishers {
                let side = (&self.publisher_wire, &self.publisher_tls);
                let ctx = ClientContext {
                    gate: self.classes.publisher_gate(p),
                    ..self.client_ctx(p, subs + p, side, &link.publishers)
                };
                pubs.push(
                    T::publisher(&self.config, &link.publishers, topic(p), ctx)
                        .await
                        .map_err(|e| anyhow::anyhow!("publisher {p} could not connect: {e}"))?,
                );
            }
            anyhow::Ok(pubs)
        })
        .await??;
        Ok((subscribers, publishers))
    }
}
