//! The publisher: a batching Kafka producer for one topic partition.
//!
//! `publish` hands a message to a background task through a bounded channel. The task appends
//! it to the open batch and sends the batch as one Produce request when `linger` expires or
//! the batch reaches `batch_max_bytes`; with `linger = 0` it sends whatever is queued as soon as
//! it may send. Up to `max_in_flight_requests` requests are pipelined on the connection (the
//! broker answers in order); at the limit the task stops taking messages, which queue in the
//! channel and go out together as the next batch; once the channel is full, `publish` waits:
//! that is the backpressure. `flush` waits until everything accepted is acknowledged (or, with
//! `acks = "none"`, written).
//!
//! Each publisher writes to one partition, `client_index % partitions`, so the order of its own
//! messages is the log order, which the harness audit checks per publisher.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use transport_core::{ClientContext, Counter, Distribution, Publisher, TransportError};

use crate::config::{Acks, PullLogConfig, max_response_bytes, wire_ms};
use crate::conn::{Conn, decode_response};
use crate::records::{BATCH_OVERHEAD, encode_batch, record_size};
use crate::{cluster, with_timeout};

/// Messages queued between `publish` and the sending task.
const QUEUE: usize = 4096;

enum Cmd {
    Msg(Bytes),
    Flush(oneshot::Sender<()>),
}

/// The pull-log publisher (see the module docs).
pub struct PullLogPublisher {
    tx: Option<mpsc::Sender<Cmd>>,
    task: Option<JoinHandle<Result<(), TransportError>>>,
}

impl PullLogPublisher {
    /// Connects, looks up the topic and starts the sending task.
    pub(crate) async fn connect(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let setup = async {
            let client_id = format!("pull-log-pub-{}", ctx.client_index);
            let mut conn = Conn::connect(addr, &ctx, client_id, max_response_bytes(config)).await?;
            let parts = cluster::topic_partitions(&mut conn, topic, config.request_timeout).await?;
            conn.end_handshake();
            let partition = parts[ctx.client_index as usize % parts.len()];
            Ok::<_, TransportError>((conn, partition))
        };
        let (conn, partition) =
            with_timeout("connect publisher", config.request_timeout, setup).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = Task {
            conn,
            rx,
            topic: cluster::topic_name(topic),
            partition,
            acks: config.acks,
            linger: config.linger,
            batch_max_bytes: config.batch_max_bytes,
            max_in_flight: config.max_in_flight_requests,
            timeout: config.request_timeout,
            batch: Vec::new(),
            batch_bytes: BATCH_OVERHEAD,
            deadline: None,
            sent_at: VecDeque::new(),
            waiters: Vec::new(),
            buf: BytesMut::new(),
            produce_requests: ctx.counters.counter("produce_requests"),
            batch_bytes_dist: ctx.counters.distribution("batch_bytes"),
        };
        Ok(PullLogPublisher {
            tx: Some(tx),
            task: Some(tokio::spawn(task.run())),
        })
    }

    /// The error the task ended with (it only ends early on an error).
    async fn task_error(&mut self) -> TransportError {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => TransportError::Closed { stage: "publish" },
                Err(e) => TransportError::protocol("publish", format!("producer task: {e}")),
            },
            None => TransportError::Closed { stage: "publish" },
        }
    }
}

impl Publisher for PullLogPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        let Some(tx) = &self.tx else {
            return Err(TransportError::Closed { stage: "publish" });
        };
        if tx.send(Cmd::Msg(msg)).await.is_err() {
            return Err(self.task_error().await);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let Some(tx) = &self.tx else {
            return Err(TransportError::Closed { stage: "flush" });
        };
        let (done, wait) = oneshot::channel();
        if tx.send(Cmd::Flush(done)).await.is_err() || wait.await.is_err() {
            return Err(self.task_error().await);
        }
        Ok(())
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        // Dropping the sender lets the task finish its (empty) queue and close the socket.
        self.tx = None;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| TransportError::protocol("close", format!("producer task: {e}")))?,
            None => Ok(()),
        }
    }
}

/// The sending task: owns the connection and the open batch.
struct Task {
    conn: Conn,
    rx: mpsc::Receiver<Cmd>,
    topic: TopicName,
    partition: i32,
    acks: Acks,
    linger: Duration,
    batch_max_bytes: usize,
    max_in_flight: usize,
    timeout: Duration,
    batch: Vec<Bytes>,
    batch_bytes: usize,
    deadline: Option<Instant>,
    /// Send time of each unacknowledged request, oldest first.
    sent_at: VecDeque<Instant>,
    waiters: Vec<oneshot::Sender<()>>,
    buf: BytesMut,
    produce_requests: Counter,
    batch_bytes_dist: Distribution,
}

impl Task {
    async fn run(mut self) -> Result<(), TransportError> {
        loop {
            let can_send = self.sent_at.len() < self.max_in_flight;
            let linger_at = self.deadline.unwrap_or_else(Instant::now);
            let ack_by = self
                .sent_at
                .front()
                .map_or_else(Instant::now, |t| *t + self.timeout);
            tokio::select! {
                biased;
                frame = self.conn.reader.next_frame(), if !self.sent_at.is_empty() => {
                    self.on_ack(frame?)?;
                }
                () = tokio::time::sleep_until(ack_by), if !self.sent_at.is_empty() => {
                    return Err(TransportError::Timeout {
                        stage: "produce",
                        after_ms: self.timeout.as_millis() as u64,
                    });
                }
                () = tokio::time::sleep_until(linger_at), if self.deadline.is_some() && can_send => {
                    self.send_batch().await?;
                }
                cmd = self.rx.recv(), if can_send => match cmd {
                    Some(Cmd::Msg(m)) => self.on_message(m).await?,
                    Some(Cmd::Flush(w)) => {
                        self.waiters.push(w);
                        self.send_batch().await?;
                    }
                    None => break,
                },
            }
        }
        self.send_batch().await?;
        while !self.sent_at.is_empty() {
            let frame =
                with_timeout("produce", self.timeout, self.conn.reader.next_frame()).await?;
            self.on_ack(frame)?;
        }
        self.conn.shutdown().await;
        Ok(())
    }

    fn add(&mut self, m: Bytes) {
        self.batch_bytes += record_size(self.batch.len(), m.len());
        self.batch.push(m);
    }

    async fn on_message(&mut self, m: Bytes) -> Result<(), TransportError> {
        self.add(m);
        if self.linger.is_zero() {
            // Take whatever else is already queued: batching without added delay.
            while self.batch_bytes < self.batch_max_bytes {
                match self.rx.try_recv() {
                    Ok(Cmd::Msg(m)) => self.add(m),
                    Ok(Cmd::Flush(w)) => {
                        self.waiters.push(w);
                        break;
                    }
                    Err(_) => break,
                }
            }
            return self.send_batch().await;
        }
        if self.batch_bytes >= self.batch_max_bytes {
            return self.send_batch().await;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.linger);
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
            let size = encode_batch(&mut self.buf, &self.batch, now_ms);
            self.batch.clear();
            self.batch_bytes = BATCH_OVERHEAD;
            let mut part = PartitionProduceData::default();
            part.index = self.partition;
            part.records = Some(self.buf.split().freeze());
            let mut topic = TopicProduceData::default();
            topic.name = self.topic.clone();
            topic.partition_data = vec![part];
            let mut req = ProduceRequest::default();
            req.acks = self.acks.wire();
            req.timeout_ms = wire_ms(self.timeout);
            req.topic_data = vec![topic];
            let version = self
                .conn
                .versions
                .get(kafka_protocol::messages::ApiKey::Produce, "produce")?;
            let correlation = self.conn.writer.send(&req, version).await?;
            self.produce_requests.inc();
            self.batch_bytes_dist.record(size as u64);
            // acks=0 gets no response at all, so nothing is pending.
            if self.acks != Acks::None {
                self.conn.pending.push_back((correlation, version));
                self.sent_at.push_back(Instant::now());
            }
        }
        self.answer_flushes();
        Ok(())
    }

    fn on_ack(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.sent_at.pop_front();
        let (correlation, version) =
            self.conn.pending.pop_front().ok_or_else(|| {
                TransportError::protocol("produce", "a response nobody asked for")
            })?;
        let resp: ProduceResponse = decode_response::<ProduceRequest>(frame, correlation, version)?;
        for t in &resp.responses {
            for p in &t.partition_responses {
                if p.error_code != 0 {
                    return Err(cluster::refused("produce", p.error_code, "partition"));
                }
            }
        }
        self.answer_flushes();
        Ok(())
    }

    fn answer_flushes(&mut self) {
        if self.batch.is_empty() && self.sent_at.is_empty() {
            for w in self.waiters.drain(..) {
                // The flusher may have given up waiting; nothing to do then.
                let _ = w.send(());
            }
        }
    }
}
