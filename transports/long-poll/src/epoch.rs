//! The server's *epoch*: a random number each server picks when it starts, so a subscriber can
//! tell a restarted server from the one its cursor came from.
//!
//! A server with memory storage begins every topic again at cursor 0 when it restarts. A cursor
//! is only meaningful to the server incarnation that handed it out: once a restarted server has
//! published past an old cursor, that cursor points into the middle of an unrelated log, and a
//! client resuming from it would silently skip the new log's first messages.
//!
//! The protocol:
//! - every `GET /topics/{topic}/head` reply carries the epoch in the [`HEADER`] response header
//!   (the subscriber's handshake, so no steady-state bytes);
//! - a poll may carry it back as `epoch=E`. When `E` is not the server's, the cursor belongs to
//!   an earlier incarnation: the reply is `410 Gone` at once, with `earliest_cursor` (the oldest
//!   message the new server retains) in the body and the new epoch in [`HEADER`];
//! - a poll without `epoch=` is checked against cursors only, as before (curl, older clients).
//!
//! A restart always breaks the TCP connection, so our subscriber sends `epoch=` only on the
//! first poll of each new connection by default (`epoch_check = "per-connection"`): zero bytes
//! on a kept-alive connection. Behind an HTTP proxy that pools its upstream connections, one
//! client connection can reach a restarted server; `epoch_check = "per-poll"` sends it on every
//! poll for that case.

/// Response header carrying the server's epoch (decimal), on head replies and on the 410 that
/// refuses a cursor from another epoch.
pub const HEADER: &str = "server-epoch";

/// A fresh epoch: random, non-zero, and below 2^53 so a JavaScript client holds it exactly
/// even if it parses it as a number.
pub fn generate() -> u64 {
    loop {
        let e = rand::random::<u64>() >> 11;
        if e != 0 {
            return e;
        }
    }
}

/// Parses an epoch header value.
pub fn parse(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_non_zero_53_bit_and_differ() {
        let a = generate();
        let b = generate();
        assert!(a != 0 && a < 1 << 53);
        assert_ne!(a, b, "two servers get different epochs");
        assert_eq!(parse(a.to_string().as_bytes()), Some(a));
        assert_eq!(parse(b"x"), None);
    }
}
