//! Record-aligned reads for the server side of a TLS handshake, so the handshake/steady split
//! of the wire counts falls exactly between TLS records.
//!
//! A TLS 1.3 client sends application data right behind its Finished message, without waiting
//! for anything. A server reading its socket in big chunks would take that data in the same
//! read as the Finished, while the connection still counts as "in handshake", and report
//! kilobytes of a publisher's first messages as handshake bytes. Reading record by record
//! (a 5-byte header, then exactly the body it announces) stops each read at a record boundary,
//! and the handshake ends with the record that follows the client's ChangeCipherSpec: its
//! Finished (a handshake record in TLS 1.2, the first encrypted record in TLS 1.3). rustls
//! clients, browsers and curl all send that ChangeCipherSpec (TLS 1.3's middlebox compatibility
//! mode); for a client that does not, the handshake ends when the server's handshake completes,
//! one record late at most. It costs two reads per record, during the handshake only.

/// Where the reader is in the TLS record stream.
#[derive(Debug, Default)]
pub(super) struct Align {
    header: [u8; 5],
    header_got: usize,
    body_left: usize,
    /// The type of the record being read.
    kind: u8,
    /// The client's ChangeCipherSpec has been read.
    seen_ccs: bool,
    /// Where a read limited below the caller's buffer lands first.
    pub(super) scratch: Vec<u8>,
}

/// The length of a TLS record header: type, version (2), length (2).
const HEADER: usize = 5;
/// The record type of ChangeCipherSpec.
const CHANGE_CIPHER_SPEC: u8 = 20;

impl Align {
    /// How many bytes the next read may take without crossing a record boundary.
    pub(super) fn want(&self) -> usize {
        if self.body_left > 0 {
            self.body_left
        } else {
            HEADER - self.header_got
        }
    }

    /// Accounts for `bytes` just read (never more than [`Align::want`]); true when they end
    /// the client's Finished record, and so the handshake.
    pub(super) fn consumed(&mut self, bytes: &[u8]) -> bool {
        if self.body_left > 0 {
            self.body_left -= bytes.len().min(self.body_left);
            return self.body_left == 0 && self.record_ended();
        }
        let n = bytes.len().min(HEADER - self.header_got);
        self.header[self.header_got..self.header_got + n].copy_from_slice(&bytes[..n]);
        self.header_got += n;
        if self.header_got < HEADER {
            return false;
        }
        self.header_got = 0;
        self.kind = self.header[0];
        self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
        self.body_left == 0 && self.record_ended()
    }

    /// A whole record has been read: true if it was the one after the ChangeCipherSpec.
    fn record_ended(&mut self) -> bool {
        if self.kind == CHANGE_CIPHER_SPEC {
            self.seen_ccs = true;
            return false;
        }
        self.seen_ccs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_record_boundaries_and_the_finished_ends_the_handshake() {
        let mut a = Align::default();
        assert_eq!(a.want(), 5);
        assert!(!a.consumed(&[22, 3]));
        assert_eq!(a.want(), 3);
        assert!(!a.consumed(&[1, 0, 7]));
        assert_eq!(a.want(), 7, "the body the header announced");
        assert!(!a.consumed(&[0; 4]));
        assert_eq!(a.want(), 3);
        assert!(
            !a.consumed(&[0; 3]),
            "a ClientHello does not end the handshake"
        );
        assert_eq!(a.want(), 5, "the next header");
        assert!(!a.consumed(&[20, 3, 3, 0, 1]));
        assert!(!a.consumed(&[1]), "the ChangeCipherSpec does not either");
        assert!(!a.consumed(&[23, 3, 3, 0, 2]));
        assert!(
            a.consumed(&[0, 0]),
            "the record after it (the Finished) does"
        );
    }
}
