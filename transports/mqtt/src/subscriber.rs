//! `mqtt`'s subscriber: one connection, `SUBSCRIBE topic` at the configured QoS, and PUBLISH
//! packets pushed by the broker; at QoS 1 each is acknowledged (PUBACK), and the broker keeps
//! at most `max_inflight_messages` unacknowledged per client, queueing the rest per client
//! up to `max_queued_messages`: the per-consumer state a push broker holds.
//!
//! After a broken connection the subscriber reconnects with the same client id. With QoS 1
//! and `clean_session = false` the broker kept its session: the subscription stands and what
//! was queued (and what was in flight, marked DUP) arrives, so it resumes. Otherwise the
//! session is new, the subscriber subscribes again, and what was published in between is
//! lost, which the harness's audit counts.

use bytes::Bytes;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Packet, PubAck, Subscribe, SubscribeReasonCode};
use transport_core::{Backoff, ClientContext, Subscriber, TransportError};

use crate::config::MqttConfig;
use crate::session::{Session, client_id};

/// Most messages handed over per `recv`: those already readable when the first arrives.
const MAX_UNIT: usize = 1024;

/// An MQTT subscriber.
pub struct MqttSubscriber {
    session: Session,
    config: MqttConfig,
    addr: String,
    topic: String,
    client_id: String,
    ctx: ClientContext,
    backoff: Backoff,
}

/// Connects and subscribes; returns once the broker acknowledged the subscription (SUBACK),
/// so every message published afterwards reaches it.
pub async fn connect(
    config: &MqttConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<MqttSubscriber, TransportError> {
    let client_id = client_id("sub", &ctx);
    let session = open(&ctx, addr, topic, &client_id, config).await?;
    // Under the run's reconnect policy (full jitter, or the herd's no wait at all).
    let backoff = ctx.backoff(config.reconnect);
    Ok(MqttSubscriber {
        session,
        config: config.clone(),
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        client_id,
        backoff,
        ctx,
    })
}

/// One connection with the subscription in place: kept by the broker (a persistent session it
/// still had) or made now. The handshake ends there.
async fn open(
    ctx: &ClientContext,
    addr: &str,
    topic: &str,
    client_id: &str,
    config: &MqttConfig,
) -> Result<Session, TransportError> {
    let mut session = Session::open(ctx, addr, client_id, config).await?;
    if !session.session_present {
        let mut subscribe = Subscribe::new(topic, config.qos());
        subscribe.pkid = 1;
        session
            .send(Packet::Subscribe(subscribe), "subscribe")
            .await?;
        match session.next_bounded("suback").await? {
            Packet::SubAck(ack)
                if ack
                    .return_codes
                    .iter()
                    .all(|c| *c != SubscribeReasonCode::Failure) => {}
            Packet::SubAck(ack) => {
                return Err(TransportError::Refused {
                    stage: "subscribe",
                    detail: format!("SUBACK {:?}", ack.return_codes),
                });
            }
            other => {
                return Err(TransportError::protocol(
                    "subscribe",
                    format!("expected SUBACK, got {other:?}"),
                ));
            }
        }
    }
    session.end_handshake();
    Ok(session)
}

impl MqttSubscriber {
    /// A new connection after `cause`, or `cause` once the backoff gives up.
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        loop {
            if !self.backoff.wait().await {
                return Err(cause);
            }
            self.ctx.counters.counter("subscriber_reconnects").inc();
            let opened = open(
                &self.ctx,
                &self.addr,
                &self.topic,
                &self.client_id,
                &self.config,
            );
            if let Ok(session) = opened.await {
                self.session = session;
                return Ok(());
            }
        }
    }

    /// Takes one packet: a PUBLISH's payload goes to `out` (acknowledged at QoS 1, the PUBACK
    /// buffered until the unit is flushed); anything else is ignored.
    async fn take(&mut self, packet: Packet, out: &mut Vec<Bytes>) -> Result<bool, TransportError> {
        let Packet::Publish(publish) = packet else {
            return Ok(false);
        };
        if publish.qos == QoS::AtLeastOnce {
            let ack = Packet::PubAck(PubAck::new(publish.pkid));
            self.session.feed(ack, "puback").await?;
        }
        out.push(publish.payload);
        Ok(true)
    }

    /// One delivery unit: the first PUBLISH and every packet readable without waiting.
    async fn unit(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let mut n = 0;
        while n == 0 {
            let packet = self.session.next("recv").await?;
            n += usize::from(self.take(packet, out).await?);
        }
        while n < MAX_UNIT {
            match self.session.next_ready("recv") {
                Some(packet) => n += usize::from(self.take(packet?, out).await?),
                None => break,
            }
        }
        if self.config.qos() == QoS::AtLeastOnce {
            self.session.flush("puback").await?;
        }
        Ok(n)
    }
}

impl Subscriber for MqttSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            let before = out.len();
            match self.unit(out).await {
                Ok(n) => {
                    self.backoff.reset();
                    return Ok(n);
                }
                // Messages of a unit cut short arrived: hand them over (the next call meets
                // the broken connection again). Whether their PUBACKs got out is unknown, so
                // a kept session may send them again: a duplicate the audit counts, never a
                // silent loss.
                Err(_) if out.len() > before => return Ok(out.len() - before),
                Err(e @ (TransportError::Io { .. } | TransportError::Closed { .. })) => {
                    self.reconnect(e).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn close(self) -> Result<(), TransportError> {
        self.session.disconnect().await
    }
}
