//! The traffic part of a run's result (bytes on the wire, delivery units, the transport's
//! counters), and the derived wire figures (overhead per message, efficiency, pull cost) from
//! raw socket counts: one formula for a run and for a merge of runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use transport_core::WireSnapshot;
use transport_core::counters::DistributionSummary;

/// Raw counts a [`Wire`] is derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCounts {
    /// Bytes at the publishers' sockets.
    pub publisher: WireSnapshot,
    /// Bytes at the subscribers' sockets.
    pub subscriber: WireSnapshot,
    /// Server-side bytes; `None` when they could not be read.
    pub server: Option<WireSnapshot>,
    /// Whether `server` is the mirror of the clients' counts ([`mirror_of`]), not a count.
    pub server_mirrored: bool,
    /// Bytes per message payload.
    pub payload_bytes: u64,
    /// Messages published.
    pub published: u64,
    /// Unique messages delivered (each subscriber's copy).
    pub delivered: u64,
    /// Under TLS, the bytes above TLS at the publishers' and the subscribers' connections.
    pub plaintext: Option<(WireSnapshot, WireSnapshot)>,
}

/// The server side of the clients' connections, seen from the clients: what the publishers
/// and subscribers wrote the server read, what they read it wrote, one server connection per
/// client connection. Exact on loopback and through the link proxy, which relays every byte
/// (bytes a `blackhole` fault swallowed are counted as read, so there it is an upper bound).
pub fn mirror_of(publisher: WireSnapshot, subscriber: WireSnapshot) -> WireSnapshot {
    let c = plus(publisher, subscriber);
    WireSnapshot {
        read: c.written,
        written: c.read,
        handshake_read: c.handshake_written,
        handshake_written: c.handshake_read,
        connections: c.connections,
    }
}

/// A run's server-side bytes: as counted at the server's sockets when they could be read;
/// else, when `mirror` allows (a product server, our clients on every connection), the mirror
/// of the clients' `(publisher, subscriber)` counts, and `true` to mark it as such.
pub fn counted_or_mirrored(
    counted: Option<WireSnapshot>,
    mirror: bool,
    (publisher, subscriber): (WireSnapshot, WireSnapshot),
) -> (Option<WireSnapshot>, bool) {
    match counted {
        Some(c) => (Some(c), false),
        None if mirror => (Some(mirror_of(publisher, subscriber)), true),
        None => (None, false),
    }
}

fn plus(a: WireSnapshot, b: WireSnapshot) -> WireSnapshot {
    WireSnapshot {
        read: a.read + b.read,
        written: a.written + b.written,
        handshake_read: a.handshake_read + b.handshake_read,
        handshake_written: a.handshake_written + b.handshake_written,
        connections: a.connections + b.connections,
    }
}

impl WireCounts {
    /// Adds two sets of counts (disjoint clients, same payload size).
    pub fn combined(self, o: WireCounts) -> WireCounts {
        WireCounts {
            publisher: plus(self.publisher, o.publisher),
            subscriber: plus(self.subscriber, o.subscriber),
            // Unmeasured anywhere is unmeasured in the sum.
            server: self.server.zip(o.server).map(|(a, b)| plus(a, b)),
            // Partly mirrored is mirrored: the sum is no longer a count of the server's sockets.
            server_mirrored: self.server_mirrored || o.server_mirrored,
            payload_bytes: self.payload_bytes,
            published: self.published + o.published,
            delivered: self.delivered + o.delivered,
            plaintext: self
                .plaintext
                .zip(o.plaintext)
                .map(|((ap, asub), (bp, bsub))| (plus(ap, bp), plus(asub, bsub))),
        }
    }

    /// The [`Wire`] block these counts give.
    pub fn wire(self) -> Wire {
        let (pw, sw) = (self.publisher, self.subscriber);
        let c = plus(pw, sw);
        let payload_published = self.published * self.payload_bytes;
        let payload_delivered = self.delivered * self.payload_bytes;
        let payload = (payload_published + payload_delivered) as f64;
        let steady = c.read + c.written;
        let per = |bytes: f64, n: u64| if n == 0 { 0.0 } else { bytes / n as f64 };
        Wire {
            client_to_server_bytes: c.total_written(),
            server_to_client_bytes: c.total_read(),
            handshake_bytes: c.handshake_read + c.handshake_written,
            payload_bytes_published: payload_published,
            payload_bytes_delivered: payload_delivered,
            overhead_bytes_per_msg: per(steady as f64 - payload, self.delivered),
            overhead_c2s_bytes_per_published: per(
                pw.written as f64 - payload_published as f64,
                self.published,
            ),
            overhead_s2c_bytes_per_delivered: per(
                sw.read as f64 - payload_delivered as f64,
                self.delivered,
            ),
            subscriber_c2s_bytes_per_delivered: per(sw.written as f64, self.delivered),
            publisher_s2c_bytes_per_published: per(pw.read as f64, self.published),
            efficiency: if steady == 0 {
                0.0
            } else {
                payload / steady as f64
            },
            client: c,
            server: self.server,
            server_mirrored: self.server.is_some() && self.server_mirrored,
            publisher: pw,
            subscriber: sw,
            plaintext: self.plaintext.map(|(p, s)| self.plaintext_wire(p, s)),
        }
    }

    /// The figures above TLS, and what TLS adds to them.
    fn plaintext_wire(self, publisher: WireSnapshot, subscriber: WireSnapshot) -> PlaintextWire {
        let tls = WireCounts {
            plaintext: None,
            ..self
        }
        .wire();
        let plain = WireCounts {
            publisher,
            subscriber,
            server: None,
            plaintext: None,
            ..self
        }
        .wire();
        PlaintextWire {
            handshake_bytes: plain.handshake_bytes,
            overhead_bytes_per_msg: plain.overhead_bytes_per_msg,
            tls_overhead_bytes_per_msg: tls.overhead_bytes_per_msg - plain.overhead_bytes_per_msg,
            tls_handshake_bytes: tls.handshake_bytes.saturating_sub(plain.handshake_bytes),
            client: plain.client,
            publisher,
            subscriber,
        }
    }
}

/// Under TLS, the bytes the pattern wrote and read above TLS at the client connections, so the
/// overhead per message splits into the pattern's framing and what TLS adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaintextWire {
    /// Bytes of connection setup above TLS (the pattern's own handshake), both directions.
    pub handshake_bytes: u64,
    /// Steady-state bytes above TLS that are not payload, per delivered message: the
    /// pattern's framing.
    pub overhead_bytes_per_msg: f64,
    /// `wire.overhead_bytes_per_msg` minus the above: what TLS records add per message.
    pub tls_overhead_bytes_per_msg: f64,
    /// `wire.handshake_bytes` minus the pattern's: the TLS handshakes.
    pub tls_handshake_bytes: u64,
    /// Raw counts above TLS, publishers and subscribers together.
    pub client: WireSnapshot,
    /// Raw counts above TLS at the publishers.
    pub publisher: WireSnapshot,
    /// Raw counts above TLS at the subscribers.
    pub subscriber: WireSnapshot,
}

/// Bytes on the wire, counted at the sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    /// All bytes clients wrote (handshake included), measured at the client sockets.
    pub client_to_server_bytes: u64,
    /// All bytes clients read (handshake included), measured at the client sockets.
    pub server_to_client_bytes: u64,
    /// Of the above, bytes of connection setup in both directions.
    pub handshake_bytes: u64,
    /// Payload bytes published (each message once).
    pub payload_bytes_published: u64,
    /// Payload bytes delivered (each subscriber's copy).
    pub payload_bytes_delivered: u64,
    /// Steady-state bytes that are not payload, per delivered message, both hops together.
    pub overhead_bytes_per_msg: f64,
    /// Steady-state client→server bytes that are not payload, per published message.
    pub overhead_c2s_bytes_per_published: f64,
    /// Steady-state server→client bytes that are not payload, per delivered message.
    pub overhead_s2c_bytes_per_delivered: f64,
    /// Payload bytes (published + delivered) divided by all steady-state bytes.
    pub efficiency: f64,
    /// Steady-state bytes subscribers sent (poll and fetch requests, acks), per delivered
    /// message: the cost of pulling, zero for pure push.
    #[serde(default)]
    pub subscriber_c2s_bytes_per_delivered: f64,
    /// Steady-state bytes publishers received (acknowledgements, produce responses), per
    /// published message.
    #[serde(default)]
    pub publisher_s2c_bytes_per_published: f64,
    /// Raw client-side counts (publishers and subscribers together).
    pub client: WireSnapshot,
    /// Raw server-side counts; null when they could not be read (a remote server without
    /// `--server-metrics`, an external broker: `resources.server.unavailable_reason` says
    /// which), never zero. For a product server (nats-server, redis-server, mosquitto, nginx)
    /// they are the mirror of the clients' counts, and `server_mirrored` says so.
    pub server: Option<WireSnapshot>,
    /// True when `server` is not counted at the server's sockets but mirrored from the
    /// clients' (what every client wrote the server read, and the reverse): a server we did
    /// not write, whose sockets we cannot wrap. Absent (false) for a counted server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_mirrored: bool,
    /// Raw counts at the publishers' sockets.
    #[serde(default)]
    pub publisher: WireSnapshot,
    /// Raw counts at the subscribers' sockets.
    #[serde(default)]
    pub subscriber: WireSnapshot,
    /// Under TLS, the counts above TLS and the split of overhead into framing and TLS; absent
    /// in a run over plaintext (where the socket counts are the pattern's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<PlaintextWire>,
}

/// What the transport put on the wire and how it packed deliveries. Flattened into the run's
/// entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Bytes on the wire.
    pub wire: Wire,
    /// Messages per delivery unit (HTTP response, WebSocket frame, fetch, socket read).
    pub messages_per_delivery_unit: DistributionSummary,
    /// Delivery units that carried no message (empty polls, empty fetches).
    pub empty_delivery_units: u64,
    /// Transport counters and harness error counts.
    pub counters: BTreeMap<String, u64>,
    /// Transport distributions.
    pub distributions: BTreeMap<String, DistributionSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(read: u64, written: u64, handshake: u64) -> WireSnapshot {
        WireSnapshot {
            read,
            written,
            handshake_read: handshake,
            handshake_written: handshake,
            connections: 1,
        }
    }

    #[test]
    fn a_product_server_side_is_the_clients_mirror_and_says_so() {
        let publisher = snap(30, 1_000, 50);
        let subscriber = WireSnapshot {
            read: 900,
            written: 40,
            handshake_read: 70,
            handshake_written: 60,
            connections: 2,
        };
        let (server, mirrored) = counted_or_mirrored(None, true, (publisher, subscriber));
        let server = server.unwrap();
        assert!(mirrored);
        // What the clients wrote the server read, and the reverse; a connection each.
        assert_eq!((server.read, server.written), (1_040, 930));
        assert_eq!(
            (server.handshake_read, server.handshake_written),
            (110, 120)
        );
        assert_eq!(server.connections, 3);
        // A count at the server wins; without one and without a mirror: unavailable.
        let counted = snap(1, 2, 3);
        assert_eq!(
            counted_or_mirrored(Some(counted), true, (publisher, subscriber)),
            (Some(counted), false)
        );
        assert_eq!(
            counted_or_mirrored(None, false, (publisher, subscriber)),
            (None, false)
        );
        // The mark survives into the wire block and a merge with a counted run.
        let counts = WireCounts {
            publisher,
            subscriber,
            server: Some(server),
            server_mirrored: true,
            payload_bytes: 100,
            published: 1,
            delivered: 1,
            plaintext: None,
        };
        assert!(counts.wire().server_mirrored);
        let other = WireCounts {
            server_mirrored: false,
            ..counts
        };
        assert!(other.combined(counts).wire().server_mirrored);
        assert!(!other.wire().server_mirrored);
    }

    #[test]
    fn under_tls_the_overhead_splits_into_framing_and_what_tls_adds() {
        // 10 messages of 100 B, one subscriber. Above TLS: 4 B framing per message per hop and
        // 20 B of the pattern's handshake per direction per side. At the socket: 22 B more per
        // message per hop (a record each) and 2,000 B of TLS handshake per direction per side.
        let counts = WireCounts {
            publisher: snap(0, 10 * (104 + 22), 2_020),
            subscriber: snap(10 * (104 + 22), 0, 2_020),
            server: None,
            server_mirrored: false,
            payload_bytes: 100,
            published: 10,
            delivered: 10,
            plaintext: Some((snap(0, 10 * 104, 20), snap(10 * 104, 0, 20))),
        };
        let wire = counts.wire();
        assert_eq!(wire.overhead_bytes_per_msg, 2.0 * (4.0 + 22.0));
        let plain = wire.plaintext.unwrap();
        assert_eq!(plain.overhead_bytes_per_msg, 8.0);
        assert_eq!(plain.tls_overhead_bytes_per_msg, 44.0);
        assert_eq!(plain.handshake_bytes, 80);
        assert_eq!(plain.tls_handshake_bytes, 8_000);
        // Combining runs adds the counts above TLS too; a plaintext run leaves it absent.
        let both = counts.combined(counts).wire();
        assert_eq!(both.plaintext.unwrap().client.written, 2 * 10 * 104);
        let plaintext_run = WireCounts {
            plaintext: None,
            ..counts
        };
        assert!(counts.combined(plaintext_run).wire().plaintext.is_none());
        assert!(plaintext_run.wire().plaintext.is_none());
    }
}
