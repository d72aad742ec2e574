//! The raw-TCP subscriber: counts the frames it receives, so after a break it asks the server for
//! exactly the next position and gets the retained backlog before live messages.

use bytes::Bytes;
use futures_util::SinkExt;
use transport_core::{ClientContext, Counter, Subscriber, TransportError};

use super::conn::{Conn, Redial, read_frame};
use crate::RawTcpConfig;
use crate::log::Frames;
use crate::proto::{self, Hello};

/// Receives frames; one delivery unit is whatever a single socket read made available.
pub struct RawTcpSubscriber {
    conn: Conn,
    redial: Redial,
    epoch: u64,
    /// Position of the next message.
    position: u64,
    max_frame_bytes: usize,
    skipped: Counter,
    epoch_resets: Counter,
}

impl RawTcpSubscriber {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let counters = ctx.counters.clone();
        let redial = Redial::new(config, addr, topic, "", ctx);
        let (conn, accepted) = redial
            .first(Hello::Subscriber { epoch: 0, from: 0 })
            .await?;
        Ok(RawTcpSubscriber {
            conn,
            redial,
            epoch: accepted.epoch,
            position: accepted.position,
            max_frame_bytes: config.max_frame_bytes,
            skipped: counters.counter("resume_skipped"),
            epoch_resets: counters.counter("epoch_resets"),
        })
    }

    #[cold]
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        let hello = Hello::Subscriber {
            epoch: self.epoch,
            from: self.position,
        };
        let (conn, accepted) = self.redial.again(hello, cause).await?;
        self.redial.settled();
        if accepted.epoch != self.epoch {
            // A restarted server: its positions start again and it sends what it retained;
            // anything it already dropped is gone for this subscriber too.
            self.epoch_resets.inc();
            self.skipped.add(accepted.position);
        } else if accepted.position > self.position {
            // The server's log no longer held them; the audit reports them lost.
            self.skipped.add(accepted.position - self.position);
        }
        self.conn = conn;
        self.epoch = accepted.epoch;
        self.position = accepted.position;
        Ok(())
    }

    /// Appends the complete frames already in the read buffer, which came with the same read:
    /// cut out as one run and sliced, not decoded one by one. An incomplete or malformed
    /// frame stays for the codec, which reads or rejects it on the next `recv`.
    fn take_buffered(&mut self, out: &mut Vec<Bytes>) -> usize {
        let buf = self.conn.read_buffer_mut();
        match proto::scan_frames(buf, self.max_frame_bytes, usize::MAX) {
            Ok(scan) if scan.count > 0 => {
                Frames::from_encoded(buf.split_to(scan.len).freeze(), scan.count).push_bodies(out);
                scan.count
            }
            _ => 0,
        }
    }
}

impl Subscriber for RawTcpSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let first = loop {
            match read_frame(&mut self.conn, "recv").await {
                Ok(m) => break m,
                Err(cause) => self.reconnect(cause).await?,
            }
        };
        out.push(first.freeze());
        let n = 1 + self.take_buffered(out);
        self.position = self.position.checked_add(n as u64).ok_or_else(|| {
            TransportError::protocol("recv", "position overflows: the server's start was bogus")
        })?;
        Ok(n)
    }

    async fn close(mut self) -> Result<(), TransportError> {
        SinkExt::<Bytes>::close(&mut self.conn)
            .await
            .map_err(TransportError::io("close"))
    }
}
