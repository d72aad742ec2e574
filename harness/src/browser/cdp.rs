//! A minimal Chrome DevTools Protocol client on the WebSocket stack already in the tree
//! (tokio-tungstenite): JSON commands with ids, their replies, and a stream of events.
//!
//! A run needs a dozen methods (target attach, Fetch interception, a Runtime binding, evaluate);
//! a generated client of the whole protocol would be tens of thousands of lines to build for
//! that. Sessions use the "flat" mode: a command for a page carries its `sessionId`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Bound on any one command's reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A protocol event: its method and parameters.
#[derive(Debug)]
pub struct Event {
    /// `Domain.event`.
    pub method: String,
    /// Its parameters.
    pub params: Value,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A connected DevTools client; dropping it closes the connection.
#[derive(Debug)]
pub struct Cdp {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Cdp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Cdp {
    /// Connects to the browser-level endpoint `url` (`ws://127.0.0.1:PORT/devtools/browser/ID`);
    /// events arrive on the returned receiver.
    pub async fn connect(url: &str) -> anyhow::Result<(Cdp, mpsc::UnboundedReceiver<Event>)> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| anyhow::anyhow!("DevTools URL {url} is not ws://"))?;
        let host = rest.split('/').next().unwrap_or(rest);
        let tcp = tokio::net::TcpStream::connect(host).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (events, events_rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let replies = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(text) = msg {
                    dispatch(&text, &replies, &events);
                }
            }
            // The browser is gone: every waiting call fails now rather than at its timeout.
            replies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        });
        let cdp = Cdp {
            out,
            pending,
            next_id: AtomicU64::new(1),
            tasks: [writer, reader],
        };
        Ok((cdp, events_rx))
    }

    /// Sends `method` (to page `session`, or the browser) and waits for its result.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::from(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        self.out
            .send(Message::text(msg.to_string()))
            .map_err(|_| anyhow::anyhow!("DevTools connection closed before {method}"))?;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(anyhow::anyhow!("{method}: {e}")),
            Ok(Err(_)) => Err(anyhow::anyhow!(
                "DevTools connection closed during {method}"
            )),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                Err(anyhow::anyhow!(
                    "{method}: no reply within {CALL_TIMEOUT:?}"
                ))
            }
        }
    }
}

/// Routes one incoming message: a reply to its caller, an event to the event channel.
fn dispatch(text: &str, pending: &Pending, events: &mpsc::UnboundedSender<Event>) {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(id) = v.get("id").and_then(Value::as_u64) {
        let waiter = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(w) = waiter {
            let result = match v.get("error") {
                Some(e) => Err(e.to_string()),
                None => Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
            };
            let _ = w.send(result);
        }
        return;
    }
    if let Some(method) = v.get("method").and_then(Value::as_str) {
        let _ = events.send(Event {
            method: method.to_owned(),
            params: v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_go_to_their_caller_and_events_to_the_channel() {
        let pending: Pending = Arc::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (wtx, mut wrx) = oneshot::channel();
        pending.lock().unwrap().insert(7, wtx);
        dispatch(r#"{"id":7,"result":{"x":1}}"#, &pending, &tx);
        assert_eq!(wrx.try_recv().unwrap().unwrap(), json!({"x":1}));
        dispatch(
            r#"{"method":"Runtime.bindingCalled","params":{"name":"b"},"sessionId":"S"}"#,
            &pending,
            &tx,
        );
        let e = rx.try_recv().unwrap();
        assert_eq!(e.method, "Runtime.bindingCalled");
        let (etx, mut erx) = oneshot::channel();
        pending.lock().unwrap().insert(8, etx);
        dispatch(r#"{"id":8,"error":{"code":-32000}}"#, &pending, &tx);
        assert!(erx.try_recv().unwrap().is_err());
    }
}
