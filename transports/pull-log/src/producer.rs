//! The publisher: a batching Kafka producer for one topic partition.
//!
//! `publish` hands a message (`publish_batch` a whole batch) to a background task through a
//! queue bounded in messages ([`transport_core::publish_queue`]). The task appends
//! it to the open batch and sends the batch as one Produce request when `linger` expires or
//! the batch reaches `batch_max_bytes`; with `linger = 0` it sends whatever is queued as soon as
//! it may send. Up to `max_in_flight_requests` requests are pipelined on the connection (the
//! broker answers in order); at the limit the task stops taking messages, which wait in the
//! queue and go out together as the next batch; once the queue is full, `publish` waits:
//! that is the backpressure. `flush` waits until everything accepted is acknowledged (or, with
//! `acks = "none"`, written).
//!
//! If the connection breaks (or an acknowledgement times out), the task reconnects within
//! `request_timeout` and resends every unacknowledged batch in order, byte for byte. With
//! `idempotent` (the default) the publisher first asks for a producer id (InitProducerId) and
//! numbers its records per partition (KIP-98), so the broker answers a resent batch it had
//! already appended with the original offset instead of appending it again: exactly once into
//! the log. Without it (or against a broker without InitProducerId) that batch arrives twice
//! (the harness counts duplicates). With `acks = "none"` nothing is tracked, so a batch lost
//! in the break stays lost.
//!
//! Each publisher writes to one partition, `client_index % partitions`, so the order of its own
//! messages is the log order, which the harness audit checks per publisher.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use transport_core::publish_queue::{Outbox, publish_queue};
use transport_core::{ClientContext, Publisher, TransportError};

use crate::config::{Acks, PullLogConfig, wire_ms};
use crate::conn::Conn;
use crate::producer_task::{Task, open};
use crate::records::ProducerSeq;
use crate::with_timeout;

/// Messages queued between `publish` and the sending task.
const QUEUE: usize = 4096;

/// Asks the broker for a producer id when `idempotent` is on; `ProducerSeq::NONE` (counted as
/// `idempotence_fallbacks`) when the broker has no InitProducerId or refuses it, so the
/// publisher still works against brokers without idempotence, as the Kafka clients do.
pub(crate) async fn init_producer(
    config: &PullLogConfig,
    conn: &mut Conn,
    ctx: &ClientContext,
) -> Result<ProducerSeq, TransportError> {
    if !config.idempotent || config.acks == Acks::None {
        return Ok(ProducerSeq::NONE);
    }
    let fallback = || {
        ctx.counters.counter("idempotence_fallbacks").inc();
        Ok(ProducerSeq::NONE)
    };
    if conn
        .versions
        .get(ApiKey::InitProducerId, "init producer id")
        .is_err()
    {
        return fallback();
    }
    let mut req = InitProducerIdRequest::default();
    // Null, not the default empty string: idempotence without transactions.
    req.transactional_id = None;
    req.transaction_timeout_ms = wire_ms(config.request_timeout);
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    let resp = with_timeout(
        "init producer id",
        config.request_timeout,
        conn.call(&req, "init producer id"),
    )
    .await?;
    if resp.error_code != 0 || resp.producer_id.0 < 0 || resp.producer_epoch < 0 {
        return fallback();
    }
    Ok(ProducerSeq {
        producer_id: resp.producer_id.0,
        epoch: resp.producer_epoch,
        base_sequence: 0,
    })
}

/// The pull-log publisher (see the module docs).
pub struct PullLogPublisher {
    tx: Option<Outbox>,
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
        let (mut conn, partition) = open(config, addr, topic, &ctx).await?;
        let producer = init_producer(config, &mut conn, &ctx).await?;
        conn.end_handshake();
        let (tx, rx) = publish_queue(QUEUE);
        let task = Task::new(config, addr, topic, ctx, (conn, partition), producer, rx);
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
        if !tx.send(msg).await {
            return Err(self.task_error().await);
        }
        Ok(())
    }

    /// The batch goes to the task as one queue entry.
    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        let Some(tx) = &self.tx else {
            return Err(TransportError::Closed { stage: "publish" });
        };
        if !tx.send_batch(msgs.to_vec()).await {
            return Err(self.task_error().await);
        }
        *accepted += msgs.len();
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let Some(tx) = &self.tx else {
            return Err(TransportError::Closed { stage: "flush" });
        };
        let (done, wait) = oneshot::channel();
        if !tx.flush(done) || wait.await.is_err() {
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
