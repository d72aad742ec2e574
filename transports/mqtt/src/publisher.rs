//! `mqtt`'s publisher: `publish` queues the message (`transport_core::publish_queue`); one
//! task writes PUBLISH packets for whatever has queued with one flush, and at QoS 1 keeps up
//! to [`WINDOW`] of them unacknowledged, taking PUBACKs as they come. A flush is answered once
//! everything before it is written (QoS 0) or acknowledged (QoS 1).
//!
//! After a broken connection the task reconnects (backoff, same client id) and sends every
//! unacknowledged QoS 1 message again with DUP set: at-least-once, and a duplicate shows up in
//! the harness's audit. At QoS 0 nothing is kept, so nothing is sent again.

use std::collections::BTreeMap;

use bytes::Bytes;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Packet, Publish};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use transport_core::publish_queue::{Inbox, Outbox, Received, publish_queue};
use transport_core::{Backoff, ClientContext, Publisher, TransportError};

use crate::config::MqttConfig;
use crate::session::{Session, client_id};

/// Messages queued between `publish` and the sending task.
const QUEUE: usize = 4096;
/// Unacknowledged QoS 1 publishes in flight: rumqttc's default `inflight`.
pub const WINDOW: usize = 100;

/// An MQTT publisher.
#[derive(Debug)]
pub struct MqttPublisher {
    outbox: Outbox,
    task: JoinHandle<Result<(), TransportError>>,
}

/// The sending task's state.
struct Sender {
    ctx: ClientContext,
    addr: String,
    topic: String,
    client_id: String,
    config: MqttConfig,
    backoff: Backoff,
    session: Session,
    next_pkid: u16,
    /// QoS 1 publishes written but not acknowledged, by packet id.
    unacked: BTreeMap<u16, Bytes>,
    flushes: Vec<oneshot::Sender<()>>,
}

/// Connects a publisher for `topic` (CONNECT/CONNACK counted as handshake).
pub async fn connect(
    config: &MqttConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<MqttPublisher, TransportError> {
    let client_id = client_id("pub", &ctx);
    let session = Session::open(&ctx, addr, &client_id, config).await?;
    session.end_handshake();
    // Under the run's reconnect policy (full jitter, or the herd's no wait at all).
    let backoff = ctx.backoff(config.reconnect);
    let sender = Sender {
        backoff,
        ctx,
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        client_id,
        config: config.clone(),
        session,
        next_pkid: 0,
        unacked: BTreeMap::new(),
        flushes: Vec::new(),
    };
    let (outbox, inbox) = publish_queue(QUEUE);
    let task = tokio::spawn(sender.run(inbox));
    Ok(MqttPublisher { outbox, task })
}

impl Sender {
    /// Sends what queues and takes acknowledgements until the publisher is dropped.
    async fn run(mut self, mut inbox: Inbox) -> Result<(), TransportError> {
        loop {
            let room = self.unacked.len() < WINDOW;
            tokio::select! {
                item = inbox.recv(), if room => match item {
                    Some(item) => self.take(item, &mut inbox).await?,
                    // Every message was acknowledged (close flushed first): end cleanly.
                    None => return self.session.disconnect().await,
                },
                packet = self.session.next("publish") => match packet {
                    Ok(Packet::PubAck(ack)) => {
                        self.unacked.remove(&ack.pkid);
                    }
                    Ok(_) => {}
                    Err(e) => self.reconnect(e).await?,
                },
            }
            if self.unacked.is_empty() {
                for done in self.flushes.drain(..) {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued, while the window has room, with one flush.
    async fn take(&mut self, first: Received, inbox: &mut Inbox) -> Result<(), TransportError> {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Received::Msg(m) => self.write(m).await?,
                Received::Flush(done) => self.flushes.push(done),
            }
            if self.unacked.len() < WINDOW {
                next = inbox.try_recv();
            }
        }
        self.session.flush("publish").await
    }

    /// Buffers one PUBLISH; at QoS 1 with a fresh packet id, kept until acknowledged.
    async fn write(&mut self, payload: Bytes) -> Result<(), TransportError> {
        let qos = self.config.qos();
        let mut publish = Publish::from_bytes(self.topic.clone(), qos, payload.clone());
        if qos == QoS::AtLeastOnce {
            publish.pkid = self.pkid();
            self.unacked.insert(publish.pkid, payload);
        }
        self.session.feed(Packet::Publish(publish), "publish").await
    }

    /// The next packet id not in flight (1..=65535; the window is far smaller).
    fn pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            if !self.unacked.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }

    /// A new connection after `cause`, with every unacknowledged publish sent again, or
    /// `cause` once the backoff gives up.
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        loop {
            if !self.backoff.wait().await {
                return Err(cause);
            }
            self.ctx.counters.counter("publisher_reconnects").inc();
            let Ok(session) =
                Session::open(&self.ctx, &self.addr, &self.client_id, &self.config).await
            else {
                continue;
            };
            session.end_handshake();
            self.session = session;
            if self.resend().await.is_ok() {
                self.backoff.reset();
                return Ok(());
            }
        }
    }

    /// Sends the unacknowledged publishes again, in packet-id order, with DUP set.
    async fn resend(&mut self) -> Result<(), TransportError> {
        let pending: Vec<(u16, Bytes)> = self
            .unacked
            .iter()
            .map(|(&id, p)| (id, p.clone()))
            .collect();
        for (pkid, payload) in pending {
            let mut publish = Publish::from_bytes(self.topic.clone(), QoS::AtLeastOnce, payload);
            publish.pkid = pkid;
            publish.dup = true;
            self.session
                .feed(Packet::Publish(publish), "resend")
                .await?;
        }
        self.session.flush("resend").await
    }
}

impl MqttPublisher {
    /// The task's error once it has ended, or `Closed`.
    async fn failure(&mut self) -> TransportError {
        match (&mut self.task).await {
            Ok(Err(e)) => e,
            _ => TransportError::Closed { stage: "publish" },
        }
    }
}

impl Publisher for MqttPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        if self.outbox.send(msg).await {
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        if self.outbox.send_batch(msgs.to_vec()).await {
            *accepted += msgs.len();
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let (done, answered) = oneshot::channel();
        if self.outbox.flush(done) && answered.await.is_ok() {
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        drop(self.outbox);
        match self.task.await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Closed { stage: "close" }),
        }
    }
}
