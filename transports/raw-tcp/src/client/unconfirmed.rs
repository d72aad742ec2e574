//! The publisher's unconfirmed messages, kept as the frames it queued for the socket: one
//! handle per `publish` or batch rather than one per message. A clone of every message cost an
//! atomic reference-count increment when kept and a decrement when confirmed: without them the
//! closed-loop floor went from ~8.0M to ~9.3M msg/s (1 -> 1, 100 B, pinned, 2026-12-05). The
//! frames are also exactly what a resend must write.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::Frames;
use crate::proto::FRAME_HEADER_LEN;

/// Bytes the encoding buffer asks for at once: runs are carved out of it, so most `publish`
/// calls allocate nothing.
const ARENA_BYTES: usize = 64 * 1024;

/// Encodes messages into frames and keeps the runs not yet confirmed, oldest first.
pub(super) struct Unconfirmed {
    runs: VecDeque<Frames>,
    /// Messages in `runs`.
    count: u64,
    /// Their bodies' bytes (what the resend window is counted in).
    body_bytes: usize,
    arena: BytesMut,
}

fn body_bytes(run: &Frames) -> usize {
    run.bytes().len() - FRAME_HEADER_LEN * run.count()
}

impl Unconfirmed {
    pub(super) fn new() -> Self {
        Unconfirmed {
            runs: VecDeque::new(),
            count: 0,
            body_bytes: 0,
            arena: BytesMut::new(),
        }
    }

    /// Messages held.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Body bytes held.
    pub(super) fn body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Encodes `msgs` as frames (`bytes` is their total length) and keeps them; returns the
    /// encoded frames, to be queued for the socket.
    pub(super) fn push(&mut self, msgs: &[Bytes], bytes: usize) -> Bytes {
        let len = bytes + FRAME_HEADER_LEN * msgs.len();
        if self.arena.capacity() < len {
            self.arena.reserve(len.max(ARENA_BYTES));
        }
        for m in msgs {
            // Bodies are at most `max_frame_bytes`, checked before they get here.
            self.arena.put_u32(m.len() as u32);
            self.arena.put_slice(m);
        }
        let encoded = self.arena.split().freeze();
        self.runs
            .push_back(Frames::from_encoded(encoded.clone(), msgs.len()));
        self.count += msgs.len() as u64;
        self.body_bytes += bytes;
        encoded
    }

    /// Forgets the oldest `n` messages (all of them if `n` is more).
    pub(super) fn confirm(&mut self, mut n: u64) {
        while n > 0 {
            let Some(front) = self.runs.front_mut() else {
                return;
            };
            let held = front.count() as u64;
            let before = body_bytes(front);
            if held <= n {
                self.runs.pop_front();
                self.forget(held, before);
                n -= held;
            } else {
                *front = front.skip(n as usize);
                let after = body_bytes(front);
                self.forget(n, before - after);
                n = 0;
            }
        }
    }

    fn forget(&mut self, messages: u64, bytes: usize) {
        self.count -= messages;
        self.body_bytes -= bytes;
    }

    /// The frames of every message held, oldest first, for a resend.
    pub(super) fn encoded(&self) -> impl Iterator<Item = &[u8]> {
        self.runs.iter().map(|r| &r.bytes()[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(range: std::ops::Range<u8>) -> Vec<Bytes> {
        range
            .map(|i| Bytes::from(vec![i; 1 + i as usize]))
            .collect()
    }

    fn push(u: &mut Unconfirmed, m: &[Bytes]) -> Bytes {
        u.push(m, m.iter().map(Bytes::len).sum())
    }

    /// The message bodies a resend would write.
    fn bodies(u: &Unconfirmed) -> Vec<Bytes> {
        let mut out = Vec::new();
        for r in &u.runs {
            r.push_bodies(&mut out);
        }
        out
    }

    #[test]
    fn confirming_inside_a_run_keeps_its_tail() {
        let mut u = Unconfirmed::new();
        push(&mut u, &msgs(0..3));
        push(&mut u, &msgs(3..5));
        assert_eq!((u.count(), u.body_bytes()), (5, 1 + 2 + 3 + 4 + 5));
        u.confirm(2);
        assert_eq!(bodies(&u), msgs(2..5));
        assert_eq!((u.count(), u.body_bytes()), (3, 3 + 4 + 5));
        u.confirm(1);
        assert_eq!(bodies(&u), msgs(3..5));
        u.confirm(10);
        assert!(u.is_empty());
        assert_eq!(u.body_bytes(), 0);
        assert_eq!(u.encoded().count(), 0);
    }

    #[test]
    fn what_is_queued_is_the_frames_held() {
        let mut u = Unconfirmed::new();
        let queued = push(&mut u, &msgs(7..9));
        let expect = Frames::encode(&[&[7u8; 8], &[8u8; 9]]);
        assert_eq!(queued, *expect.bytes());
        assert_eq!(u.encoded().collect::<Vec<_>>(), vec![&expect.bytes()[..]]);
    }

    #[test]
    fn runs_larger_than_the_arena_are_whole() {
        let mut u = Unconfirmed::new();
        let big = vec![Bytes::from(vec![1u8; ARENA_BYTES * 2])];
        let queued = push(&mut u, &big);
        assert_eq!(queued.len(), FRAME_HEADER_LEN + ARENA_BYTES * 2);
        push(&mut u, &msgs(0..2));
        assert_eq!(bodies(&u)[0].len(), ARENA_BYTES * 2);
        assert_eq!(u.count(), 3);
    }
}
