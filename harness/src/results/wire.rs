//! The derived wire figures (overhead per message, efficiency, pull cost) from raw socket
//! counts: one formula for a run and for a merge of runs.

use transport_core::WireSnapshot;

use super::summary::Wire;

/// Raw counts a [`Wire`] is derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCounts {
    /// Bytes at the publishers' sockets.
    pub publisher: WireSnapshot,
    /// Bytes at the subscribers' sockets.
    pub subscriber: WireSnapshot,
    /// Server-side bytes; `None` when they could not be read.
    pub server: Option<WireSnapshot>,
    /// Bytes per message payload.
    pub payload_bytes: u64,
    /// Messages published.
    pub published: u64,
    /// Unique messages delivered (each subscriber's copy).
    pub delivered: u64,
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
            payload_bytes: self.payload_bytes,
            published: self.published + o.published,
            delivered: self.delivered + o.delivered,
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
            publisher: pw,
            subscriber: sw,
        }
    }
}
