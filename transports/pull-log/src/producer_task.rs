//! The producer's sending task: owns the connection, the open batch and the unacknowledged
//! batches, and recovers from a broken connection by reconnecting and resending them (see
//! [`crate::producer`] for the behaviour as the publisher sees it). The connection handshake
//! ([`open`]) is here because the task reconnects with it; the publisher calls it once first.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use tokio::sync::oneshot;
use tokio::time::Instant;
use transport_core::publish_queue::{Inbox, Received};
use transport_core::{ClientContext, Counter, Distribution, TransportError};

use crate::config::{Acks, PullLogConfig, max_response_bytes, wire_ms};
use crate::conn::{Conn, decode_response, retriable};
use crate::records::{BATCH_OVERHEAD, ProducerSeq, encode_batch, record_size};
use crate::{cluster, with_timeout};

/// Connects to `addr` and picks this publisher's partition: the handshake of every publisher
/// connection, first or after a reconnect. The caller ends the handshake (the first connection
/// also asks for a producer id before that).
pub(crate) async fn open(
    config: &PullLogConfig,
    addr: &str,
    topic: &str,
    ctx: &ClientContext,
) -> Result<(Conn, i32), TransportError> {
    with_timeout("connect publisher", config.request_timeout, async {
        let client_id = format!("pull-log-pub-{}", ctx.client_index);
        let mut conn = Conn::connect(addr, ctx, client_id, max_response_bytes(config)).await?;
        let parts = cluster::topic_meta(&mut conn, topic, config.request_timeout)
            .await?
            .partitions;
        Ok((conn, parts[ctx.client_index as usize % parts.len()]))
    })
    .await
}

/// The sending task.
pub(crate) struct Task {
    config: PullLogConfig,
    addr: String,
    topic_str: String,
    ctx: ClientContext,
    conn: Conn,
    rx: Inbox,
    topic: TopicName,
    partition: i32,
    /// Producer id, epoch and the sequence of the next batch (`ProducerSeq::NONE` when not
    /// idempotent). Kept across reconnects, so resent batches carry their original sequence.
    producer: ProducerSeq,
    batch: Vec<Bytes>,
    batch_bytes: usize,
    deadline: Option<Instant>,
    /// Sent but unacknowledged record batches, oldest first, with their send time. Every
    /// entry has a matching `conn.pending` entry once its write succeeded.
    unacked: VecDeque<(Instant, Bytes)>,
    waiters: Vec<oneshot::Sender<()>>,
    buf: BytesMut,
    produce_requests: Counter,
    reconnects: Counter,
    batch_bytes_dist: Distribution,
}

impl Task {
    /// A task for an already connected publisher.
    pub(crate) fn new(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
        (conn, partition): (Conn, i32),
        producer: ProducerSeq,
        rx: Inbox,
    ) -> Task {
        Task {
            config: config.clone(),
            addr: addr.to_owned(),
            topic_str: topic.to_owned(),
            conn,
            rx,
            topic: cluster::topic_name(topic),
            partition,
            producer,
            batch: Vec::new(),
            batch_bytes: BATCH_OVERHEAD,
            deadline: None,
            unacked: VecDeque::new(),
            waiters: Vec::new(),
            buf: BytesMut::new(),
            produce_requests: ctx.counters.counter("produce_requests"),
            reconnects: ctx.counters.counter("publisher_reconnects"),
            batch_bytes_dist: ctx.counters.distribution("batch_bytes"),
            ctx,
        }
    }

    /// Runs until the publisher is dropped or closed, or an unrecoverable error.
    pub(crate) async fn run(mut self) -> Result<(), TransportError> {
        let timeout = self.config.request_timeout;
        let mut closing = false;
        while !closing {
            let in_flight = self.unacked.len();
            let can_send = in_flight < self.config.max_in_flight_requests;
            let linger_at = self.deadline.unwrap_or_else(Instant::now);
            let ack_by = self
                .unacked
                .front()
                .map_or_else(Instant::now, |(t, _)| *t + timeout);
            let res = tokio::select! {
                biased;
                frame = self.conn.reader.next_frame(), if in_flight > 0 => match frame {
                    Ok(frame) => self.on_ack(frame),
                    Err(e) => Err(e),
                },
                () = tokio::time::sleep_until(ack_by), if in_flight > 0 => {
                    Err(TransportError::Timeout { stage: "produce", after_ms: timeout.as_millis() as u64 })
                }
                () = tokio::time::sleep_until(linger_at), if self.deadline.is_some() && can_send => {
                    self.send_batch().await
                }
                cmd = self.rx.recv(), if can_send => match cmd {
                    Some(Received::Msg(m)) => self.on_message(m).await,
                    Some(Received::Flush(w)) => {
                        self.waiters.push(w);
                        self.send_batch().await
                    }
                    None => {
                        closing = true;
                        self.send_batch().await
                    }
                },
            };
            if let Err(e) = res {
                self.recover(e).await?;
            }
        }
        while !self.unacked.is_empty() {
            let res = match tokio::time::timeout(timeout, self.conn.reader.next_frame()).await {
                Ok(Ok(frame)) => self.on_ack(frame),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(TransportError::Timeout {
                    stage: "produce",
                    after_ms: timeout.as_millis() as u64,
                }),
            };
            if let Err(e) = res {
                self.recover(e).await?;
            }
        }
        self.conn.shutdown().await;
        Ok(())
    }

    /// Reconnects (within `request_timeout`) and resends every unacknowledged batch, or
    /// returns `e` if it is not a connection problem or the broker stays unreachable.
    async fn recover(&mut self, e: TransportError) -> Result<(), TransportError> {
        if !retriable(&e) {
            return Err(e);
        }
        let deadline = Instant::now() + self.config.request_timeout;
        let mut backoff = crate::config::backoff(&self.config, &self.ctx);
        while Instant::now() < deadline {
            // Give a restarting broker time to listen again.
            backoff.wait().await;
            let Ok((conn, partition)) =
                open(&self.config, &self.addr, &self.topic_str, &self.ctx).await
            else {
                continue;
            };
            conn.end_handshake();
            self.conn = conn;
            self.partition = partition;
            self.reconnects.inc();
            let mut resent = true;
            for i in 0..self.unacked.len() {
                let records = self.unacked[i].1.clone();
                self.unacked[i].0 = Instant::now();
                if self.write(records).await.is_err() {
                    resent = false;
                    break;
                }
            }
            if resent {
                return Ok(());
            }
        }
        Err(e)
    }

    fn add(&mut self, m: Bytes) {
        self.batch_bytes += record_size(self.batch.len(), m.len());
        self.batch.push(m);
    }

    async fn on_message(&mut self, m: Bytes) -> Result<(), TransportError> {
        self.add(m);
        if self.config.linger.is_zero() {
            // Take whatever else is already queued: batching without added delay.
            while self.batch_bytes < self.config.batch_max_bytes {
                match self.rx.try_recv() {
                    Some(Received::Msg(m)) => self.add(m),
                    Some(Received::Flush(w)) => {
                        self.waiters.push(w);
                        break;
                    }
                    None => break,
                }
            }
            return self.send_batch().await;
        }
        if self.batch_bytes >= self.config.batch_max_bytes {
            return self.send_batch().await;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.config.linger);
        }
        Ok(())
    }

    /// Sends the open batch (if any) as one Produce request, then answers flushes if idle.
    async fn send_batch(&mut self) -> Result<(), TransportError> {
        self.deadline = None;
        if !self.batch.is_empty() {
            self.buf.clear();
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let size = encode_batch(&mut self.buf, &self.batch, now_ms, self.producer);
            if self.producer.producer_id >= 0 {
                // Sequences wrap to 0 after i32::MAX, as Kafka's do.
                let next = i64::from(self.producer.base_sequence) + self.batch.len() as i64;
                self.producer.base_sequence = (next % (i64::from(i32::MAX) + 1)) as i32;
            }
            self.batch.clear();
            self.batch_bytes = BATCH_OVERHEAD;
            self.batch_bytes_dist.record(size as u64);
            let records = self.buf.split().freeze();
            // Tracked before the write, so a failed write is resent after reconnecting.
            if self.config.acks != Acks::None {
                self.unacked.push_back((Instant::now(), records.clone()));
            }
            self.write(records).await?;
        }
        self.answer_flushes();
        Ok(())
    }

    /// Writes one Produce request carrying `records`.
    async fn write(&mut self, records: Bytes) -> Result<(), TransportError> {
        let mut part = PartitionProduceData::default();
        part.index = self.partition;
        part.records = Some(records);
        let mut topic = TopicProduceData::default();
        topic.name = self.topic.clone();
        topic.partition_data = vec![part];
        let mut req = ProduceRequest::default();
        req.acks = self.config.acks.wire();
        req.timeout_ms = wire_ms(self.config.request_timeout);
        req.topic_data = vec![topic];
        let version = self.conn.versions.get(ApiKey::Produce, "produce")?;
        let correlation = self.conn.writer.send(&req, version).await?;
        self.produce_requests.inc();
        // acks=0 gets no response at all, so nothing is pending.
        if self.config.acks != Acks::None {
            self.conn.pending.push_back((correlation, version));
        }
        Ok(())
    }

    fn on_ack(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let (correlation, version) =
            self.conn.pending.pop_front().ok_or_else(|| {
                TransportError::protocol("produce", "a response nobody asked for")
            })?;
        let resp: ProduceResponse = decode_response::<ProduceRequest>(frame, correlation, version)?;
        for t in &resp.responses {
            for p in &t.partition_responses {
                // A broker stopping gracefully hands its partitions off: reconnect (to the
                // next broker on the address) and resend, as Kafka producers retry it.
                if p.error_code == cluster::code::NOT_LEADER_OR_FOLLOWER {
                    return Err(TransportError::Closed {
                        stage: "produce (the broker no longer leads the partition)",
                    });
                }
                if p.error_code != 0 {
                    return Err(cluster::refused("produce", p.error_code, "partition"));
                }
            }
        }
        self.unacked.pop_front();
        self.answer_flushes();
        Ok(())
    }

    fn answer_flushes(&mut self) {
        if self.batch.is_empty() && self.unacked.is_empty() {
            for w in self.waiters.drain(..) {
                // The flusher may have given up waiting; nothing to do then.
                let _ = w.send(());
            }
        }
    }
}
