//! `redis-streams`' subscriber: a pull log with a held request. Each `recv` is one
//! `XREAD COUNT n BLOCK ms STREAMS topic last-id`: the server answers at once with what is
//! past the subscriber's last id, or holds the read until an entry arrives or `block` passes
//! (an empty unit): long polling on a log. The subscriber keeps its last id, so after a
//! broken connection it reconnects and reads on from there without loss, as long as the
//! stream (capped at `maxlen`) still holds those entries.

use bytes::Bytes;
use redis::Value;
use redis::aio::MultiplexedConnection;
use transport_core::{Backoff, ClientContext, Counter, Subscriber, TransportError};

use crate::config::StreamsConfig;
use crate::conn;

/// The one field of every entry this transport writes: the harness envelope.
pub const FIELD: &str = "m";
/// Slack on top of `block` before a held read counts as lost.
const READ_SLACK: std::time::Duration = std::time::Duration::from_secs(10);
/// The id before every entry.
const START: &str = "0-0";

/// A Streams subscriber.
pub struct StreamsSubscriber {
    conn: MultiplexedConnection,
    config: StreamsConfig,
    addr: String,
    topic: String,
    last_id: String,
    ctx: ClientContext,
    backoff: Backoff,
    /// `XREAD`s sent: requests made to stay current, as the pull log's fetches.
    fetches: Counter,
    /// `XREAD`s that `block` ran out on with nothing new.
    empty_fetches: Counter,
}

/// Connects and fixes where reading starts: after the stream's newest entry now (or at its
/// start if it has none), so nothing added after this returns is missed.
pub async fn connect(
    config: &StreamsConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<StreamsSubscriber, TransportError> {
    let counted = conn::multiplexed(&ctx, addr, None).await?;
    let mut conn = counted.conn.clone();
    let last: Value = redis::cmd("XREVRANGE")
        .arg(topic)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await
        .map_err(conn::error("subscribe"))?;
    counted.end_handshake();
    let last_id = newest_id(&last)?.unwrap_or_else(|| START.to_owned());
    // Under the run's reconnect policy (full jitter, or the herd's no wait at all).
    let backoff = ctx.backoff(config.reconnect);
    Ok(StreamsSubscriber {
        conn,
        config: config.clone(),
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        last_id,
        fetches: ctx.counters.counter("fetches"),
        empty_fetches: ctx.counters.counter("empty_fetches"),
        ctx,
        backoff,
    })
}

/// The id of the one entry an `XREVRANGE … COUNT 1` returned, if any.
fn newest_id(reply: &Value) -> Result<Option<String>, TransportError> {
    let bad = || TransportError::protocol("subscribe", format!("XREVRANGE reply {reply:?}"));
    match reply {
        Value::Array(entries) => match entries.first() {
            None => Ok(None),
            Some(Value::Array(entry)) => entry
                .first()
                .map(text)
                .transpose()?
                .ok_or_else(bad)
                .map(Some),
            Some(_) => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// A bulk or simple string as text.
fn text(v: &Value) -> Result<String, TransportError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone())
            .map_err(|_| TransportError::protocol("read", "entry id is not UTF-8")),
        Value::SimpleString(s) => Ok(s.clone()),
        other => Err(TransportError::protocol(
            "read",
            format!("expected an id, got {other:?}"),
        )),
    }
}

/// Appends the payloads of an `XREAD` reply for one stream to `out` and returns the last id:
/// `[[key, [[id, [field, value, …]], …]]]`, or nil when the read timed out empty.
fn take_entries(reply: Value, out: &mut Vec<Bytes>) -> Result<Option<String>, TransportError> {
    let bad = |what: &str| TransportError::protocol("read", format!("XREAD reply: {what}"));
    let streams = match reply {
        Value::Nil => return Ok(None),
        Value::Array(s) => s,
        _ => return Err(bad("not an array")),
    };
    let mut last = None;
    for stream in streams {
        let Value::Array(mut key_entries) = stream else {
            return Err(bad("stream is not [key, entries]"));
        };
        let Some(Value::Array(entries)) = key_entries.pop() else {
            return Err(bad("no entries array"));
        };
        for entry in entries {
            let Value::Array(mut id_fields) = entry else {
                return Err(bad("entry is not [id, fields]"));
            };
            let (Some(Value::Array(mut fields)), Some(id)) = (id_fields.pop(), id_fields.pop())
            else {
                return Err(bad("entry is not [id, fields]"));
            };
            match (fields.pop(), fields.len()) {
                (Some(Value::BulkString(payload)), 1) => out.push(Bytes::from(payload)),
                _ => return Err(bad("entry has other fields than the envelope")),
            }
            last = Some(text(&id)?);
        }
    }
    Ok(last)
}

impl StreamsSubscriber {
    /// One held read: its reply, or the error that broke the connection.
    async fn read(&mut self) -> Result<Value, TransportError> {
        let cmd = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(self.config.count)
            .arg("BLOCK")
            .arg(self.config.block_ms())
            .arg("STREAMS")
            .arg(&self.topic)
            .arg(&self.last_id)
            .to_owned();
        let bound = self.config.block + READ_SLACK;
        self.fetches.inc();
        match tokio::time::timeout(bound, cmd.query_async(&mut self.conn)).await {
            Ok(reply) => reply.map_err(conn::error("read")),
            Err(_) => Err(TransportError::Timeout {
                stage: "read",
                after_ms: bound.as_millis() as u64,
            }),
        }
    }

    /// A new connection after `cause`, or `cause` once the backoff gives up.
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        loop {
            if !self.backoff.wait().await {
                return Err(cause);
            }
            self.ctx.counters.counter("subscriber_reconnects").inc();
            if let Ok(c) = conn::multiplexed(&self.ctx, &self.addr, None).await {
                c.end_handshake();
                self.conn = c.conn;
                return Ok(());
            }
        }
    }
}

impl Subscriber for StreamsSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let reply = loop {
            match self.read().await {
                Ok(reply) => break reply,
                Err(e) if conn::broken(&e) => self.reconnect(e).await?,
                Err(e) => return Err(e),
            }
        };
        self.backoff.reset();
        let before = out.len();
        if let Some(id) = take_entries(reply, out)? {
            self.last_id = id;
        }
        let n = out.len() - before;
        if n == 0 {
            self.empty_fetches.inc();
        }
        Ok(n)
    }

    async fn close(self) -> Result<(), TransportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn xread_replies_yield_payloads_in_order_and_the_last_id() {
        let entry = |id: &[u8], p: &[u8]| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk(b"m"), bulk(p)])])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk(b"topic"),
            Value::Array(vec![entry(b"1-0", b"a"), entry(b"1-1", b"b")]),
        ])]);
        let mut out = Vec::new();
        assert_eq!(
            take_entries(reply, &mut out).unwrap(),
            Some("1-1".to_owned())
        );
        assert_eq!(
            out,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        assert_eq!(take_entries(Value::Nil, &mut out).unwrap(), None);
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        let mut out = Vec::new();
        assert!(take_entries(Value::Int(3), &mut out).is_err());
        let two_fields = Value::Array(vec![Value::Array(vec![
            bulk(b"t"),
            Value::Array(vec![Value::Array(vec![
                bulk(b"1-0"),
                Value::Array(vec![bulk(b"m"), bulk(b"a"), bulk(b"x"), bulk(b"y")]),
            ])]),
        ])]);
        assert!(take_entries(two_fields, &mut out).is_err());
        assert_eq!(newest_id(&Value::Array(vec![])).unwrap(), None);
    }
}
