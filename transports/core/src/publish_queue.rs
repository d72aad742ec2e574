//! The queue between a publisher's `publish` and the task that sends for it, for transports
//! whose publisher hands messages to a background task (long-poll, pull-log).
//!
//! It is bounded in *messages*, like a bounded channel of single messages, but a batch from
//! [`crate::Publisher::publish_batch`] travels as one entry: one wake-up and one hand-over for
//! the batch instead of one per message. The sending task still takes messages one at a time
//! ([`Inbox::recv`], [`Inbox::try_recv`]), so how it groups them into requests is unchanged.
//! When the task ends (its [`Inbox`] is dropped), every waiting or later send fails at once.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// What the sending task takes from the queue, in the order it was sent.
#[derive(Debug)]
pub enum Received {
    /// The next message.
    Msg(Bytes),
    /// A flush: answer once everything before it is sent (and acknowledged, where the pattern
    /// acknowledges).
    Flush(oneshot::Sender<()>),
}

enum Entry {
    One(Bytes),
    Many(Vec<Bytes>),
    Flush(oneshot::Sender<()>),
}

/// Makes a queue that holds at most `capacity` messages waiting for the task (plus, on the
/// task's side, the rest of the batch it is taking messages from).
pub fn publish_queue(capacity: usize) -> (Outbox, Inbox) {
    // Room is taken in u32 permits (`acquire_many`), so the capacity must fit one.
    let capacity = capacity.clamp(1, (u32::MAX as usize).min(Semaphore::MAX_PERMITS));
    let room = Arc::new(Semaphore::new(capacity));
    let (tx, rx) = mpsc::unbounded_channel();
    let outbox = Outbox {
        tx,
        room: room.clone(),
        capacity,
    };
    let inbox = Inbox {
        rx,
        room,
        capacity,
        current: Vec::new().into_iter(),
    };
    (outbox, inbox)
}

/// The publisher's end.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Entry>,
    room: Arc<Semaphore>,
    capacity: usize,
}

/// The room a batch of `n` messages takes: a batch larger than the whole queue waits for an
/// empty queue instead of forever.
fn room_for(n: usize, capacity: usize) -> u32 {
    // `capacity` fits a u32 (see `publish_queue`).
    n.min(capacity) as u32
}

impl Outbox {
    /// Queues one message once there is room; false if the task has ended.
    pub async fn send(&self, msg: Bytes) -> bool {
        self.send_entry(1, Entry::One(msg)).await
    }

    /// Queues `msgs` as one entry once there is room for all of them; false if the task has
    /// ended (then none of them was queued).
    pub async fn send_batch(&self, msgs: Vec<Bytes>) -> bool {
        match msgs.len() {
            0 => !self.tx.is_closed(),
            n => self.send_entry(n, Entry::Many(msgs)).await,
        }
    }

    /// Queues a flush behind everything sent so far; false if the task has ended.
    pub fn flush(&self, done: oneshot::Sender<()>) -> bool {
        self.tx.send(Entry::Flush(done)).is_ok()
    }

    async fn send_entry(&self, n: usize, entry: Entry) -> bool {
        match self.room.acquire_many(room_for(n, self.capacity)).await {
            // The task gives the room back when it takes the entry.
            Ok(permit) => permit.forget(),
            Err(_) => return false,
        }
        self.tx.send(entry).is_ok()
    }
}

/// The sending task's end.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Entry>,
    room: Arc<Semaphore>,
    capacity: usize,
    /// The rest of the batch being taken apart.
    current: std::vec::IntoIter<Bytes>,
}

impl Inbox {
    /// The next message or flush, waiting for one; `None` once every [`Outbox`] is gone and
    /// everything sent was taken. Cancel-safe: nothing is taken unless it is returned.
    pub async fn recv(&mut self) -> Option<Received> {
        loop {
            if let Some(m) = self.current.next() {
                return Some(Received::Msg(m));
            }
            let entry = self.rx.recv().await?;
            if let Some(item) = self.take(entry) {
                return Some(item);
            }
        }
    }

    /// The next message or flush if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            if let Some(m) = self.current.next() {
                return Some(Received::Msg(m));
            }
            let entry = self.rx.try_recv().ok()?;
            if let Some(item) = self.take(entry) {
                return Some(item);
            }
        }
    }

    /// Gives the entry's room back and returns its first item (`None` for an empty batch,
    /// which `send_batch` never queues).
    fn take(&mut self, entry: Entry) -> Option<Received> {
        match entry {
            Entry::One(m) => {
                self.room.add_permits(1);
                Some(Received::Msg(m))
            }
            Entry::Many(msgs) => {
                self.room
                    .add_permits(room_for(msgs.len(), self.capacity) as usize);
                self.current = msgs.into_iter();
                self.current.next().map(Received::Msg)
            }
            Entry::Flush(done) => Some(Received::Flush(done)),
        }
    }
}

impl Drop for Inbox {
    /// A publisher waiting for room must learn at once that nobody will take its messages.
    fn drop(&mut self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(i: u8) -> Bytes {
        Bytes::from(vec![i])
    }

    fn take_msg(inbox: &mut Inbox) -> u8 {
        match inbox.try_recv() {
            Some(Received::Msg(m)) => m[0],
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn messages_batches_and_flushes_come_out_in_order() {
        let (out, mut inbox) = publish_queue(8);
        assert!(out.send(msg(0)).await);
        assert!(out.send_batch(vec![msg(1), msg(2), msg(3)]).await);
        let (done, _wait) = oneshot::channel();
        assert!(out.flush(done));
        assert!(out.send(msg(4)).await);
        for i in 0..4 {
            assert_eq!(take_msg(&mut inbox), i);
        }
        assert!(matches!(inbox.try_recv(), Some(Received::Flush(_))));
        assert_eq!(take_msg(&mut inbox), 4);
        assert!(inbox.try_recv().is_none());
        drop(out);
        assert!(inbox.recv().await.is_none(), "ends once the outbox is gone");
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_sender_until_the_task_takes_an_entry() {
        let (out, mut inbox) = publish_queue(4);
        assert!(out.send_batch(vec![msg(0), msg(1), msg(2)]).await);
        // Two more do not fit beside three; they go once the batch is taken.
        let next = out.send_batch(vec![msg(3), msg(4)]);
        tokio::pin!(next);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut next)
                .await
                .is_err(),
            "five messages in a queue of four"
        );
        assert_eq!(take_msg(&mut inbox), 0);
        assert!(next.await);
        // A batch larger than the whole queue goes once the queue is empty.
        let (out, mut inbox) = publish_queue(2);
        assert!(out.send_batch((0..5).map(msg).collect()).await);
        assert_eq!(take_msg(&mut inbox), 0);
    }

    #[tokio::test]
    async fn a_sender_waiting_for_room_fails_when_the_task_ends() {
        let (out, inbox) = publish_queue(1);
        assert!(out.send(msg(0)).await);
        let waiting = tokio::spawn(async move { out.send(msg(1)).await });
        drop(inbox);
        let sent = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("not left waiting")
            .expect("task");
        assert!(!sent);
    }
}
