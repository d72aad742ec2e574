//! The publishing client: one connection to `/topics/{topic}/publish`, one binary frame per
//! message, written and flushed at once (no client-side batching, so latency is the pattern's).
//!
//! A background task reads the connection so server pings are answered and a server close
//! (1009 for an oversized message, 1001 on shutdown) is seen; the next `publish` then fails with
//! the close code instead of writing into a dead socket.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{ClientContext, Counter, Publisher, TransportError};

use crate::WebSocketConfig;
use crate::proto;
use crate::ws::{self, Ws, control_len, describe_close};

/// The server's close, once seen.
type Closed = Arc<Mutex<Option<String>>>;

/// A publisher on one topic.
pub struct WebSocketPublisher {
    sink: SplitSink<Ws, Message>,
    reader: JoinHandle<()>,
    closed: Closed,
    config: WebSocketConfig,
}

impl WebSocketPublisher {
    /// Connects and upgrades; the publisher is ready when this returns.
    pub async fn connect(
        config: &WebSocketConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        if !proto::valid_topic(topic) {
            return Err(TransportError::Config(format!(
                "invalid topic name {topic:?}"
            )));
        }
        let path = format!("/topics/{topic}/publish");
        let (ws, flag) = ws::connect(&ctx, addr, &path, 1024, config.dead_after()).await?;
        flag.end();
        let (sink, stream) = ws.split();
        let closed = Closed::default();
        let counters = (
            ctx.counters.counter("publisher_pings"),
            ctx.counters.counter("control_bytes"),
        );
        let reader = tokio::spawn(read_control(stream, closed.clone(), counters));
        Ok(WebSocketPublisher {
            sink,
            reader,
            closed,
            config: config.clone(),
        })
    }

    fn closed_error(&self, stage: &'static str) -> Option<TransportError> {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        closed.as_ref().map(|detail| TransportError::Refused {
            stage,
            detail: format!("server sent {detail}"),
        })
    }

    fn map_err(
        &self,
        stage: &'static str,
    ) -> impl FnOnce(tokio_tungstenite::tungstenite::Error) -> TransportError + '_ {
        move |e| {
            self.closed_error(stage)
                .unwrap_or_else(|| ws::ws_error(stage)(e))
        }
    }
}

/// Reads what the server sends a publisher: pings (answered by tungstenite) and its close.
async fn read_control(
    mut stream: SplitStream<Ws>,
    closed: Closed,
    (pings, bytes): (Counter, Counter),
) {
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Ping(p)) => {
                pings.inc();
                let n = control_len(p.len(), false) + control_len(p.len(), true);
                bytes.add(n as u64);
            }
            Ok(Message::Close(frame)) => {
                let mut c = closed.lock().unwrap_or_else(PoisonError::into_inner);
                *c = Some(describe_close(frame.as_ref()));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

impl Publisher for WebSocketPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        if let Some(e) = self.closed_error("publish") {
            return Err(e);
        }
        let res = self.sink.send(Message::Binary(msg)).await;
        res.map_err(self.map_err("publish"))
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let res = self.sink.flush().await;
        res.map_err(self.map_err("flush"))?;
        match self.closed_error("flush") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        // Sends our close frame; the reader task sees the server's reply and ends.
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let sent = self.sink.send(Message::Close(Some(bye))).await;
        let bound = self.config.close_timeout;
        if tokio::time::timeout(bound, &mut self.reader).await.is_err() {
            self.reader.abort();
        }
        match (sent, self.closed_error("close")) {
            // The server closed first (shutdown, or a 1009 already reported by publish).
            (Err(_), Some(_)) | (Ok(()), _) => Ok(()),
            (Err(e), None) => Err(ws::ws_error("close")(e)),
        }
    }
}

impl Drop for WebSocketPublisher {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
