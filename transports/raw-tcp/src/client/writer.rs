//! The publisher's write path: `publish` appends its frames to a shared buffer and returns, and
//! one task per connection writes everything queued since its last write in a single write. At low
//! rates that is one frame per write, as before (the task runs as soon as the publisher's task
//! yields, on the same worker); under load the frames that queued while a write was in the
//! kernel go out together, which is what lets the floor reach the loopback ceiling.
//!
//! The buffer needs no bound of its own: every frame in it is also among the publisher's
//! unconfirmed messages, which `resend_buffer_bytes` bounds.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use transport_core::ConnWrite;

/// How long a dropped writer keeps trying to write what was queued before it gives up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// Encoded frames not yet handed to the writing task.
    queued: BytesMut,
    /// The task is waiting for frames (so the next frame must wake it).
    idle: bool,
    /// No more frames will come: write what is queued and stop.
    closing: bool,
    /// Why the last write failed; the connection is unusable from then on.
    failed: Option<(io::ErrorKind, String)>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Queues frames for one connection's writing task.
pub(super) struct Writer {
    shared: Arc<Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Writer {
    /// Starts the writing task on `io`.
    pub(super) fn spawn(io: ConnWrite) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(write_queued(shared.clone(), io));
        Writer {
            shared,
            task: Some(task),
        }
    }

    /// Queues a sync (an empty frame), or returns the error that broke the connection.
    pub(super) fn queue_sync(&self) -> io::Result<()> {
        self.queue_encoded([], true)
    }

    /// Queues frames already encoded (length and body, back to back), then a sync if `sync`,
    /// or returns the error that broke the connection.
    pub(super) fn queue_encoded<'a>(
        &self,
        runs: impl IntoIterator<Item = &'a [u8]>,
        sync: bool,
    ) -> io::Result<()> {
        let wake = {
            let mut st = self.shared.lock();
            if let Some((kind, what)) = &st.failed {
                return Err(io::Error::new(*kind, what.clone()));
            }
            for run in runs {
                st.queued.extend_from_slice(run);
            }
            if sync {
                st.queued.put_u32(0);
            }
            std::mem::take(&mut st.idle)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// The error that broke the connection, if a write failed.
    pub(super) fn failed(&self) -> io::Result<()> {
        match &self.shared.lock().failed {
            Some((kind, what)) => Err(io::Error::new(*kind, what.clone())),
            None => Ok(()),
        }
    }

    /// Stops the task at once, discarding what it had not written: for a broken connection,
    /// whose unconfirmed messages go out again on the next one.
    pub(super) fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Writes everything queued, shuts the write side down and waits for the task.
    pub(super) async fn close(mut self) -> io::Result<()> {
        self.begin_close();
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    fn begin_close(&self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for Writer {
    /// A dropped publisher still delivers what `publish` accepted (the task drains, bounded by
    /// [`DRAIN_TIMEOUT`]), as dropping a socket whose writes had returned would.
    fn drop(&mut self) {
        if self.task.is_some() {
            self.begin_close();
        }
    }
}

/// The writing task: swaps the queue for an empty buffer under the lock, writes it outside.
async fn write_queued(shared: Arc<Shared>, mut io: ConnWrite) -> io::Result<()> {
    let mut out = BytesMut::new();
    loop {
        let closing = {
            let mut st = shared.lock();
            std::mem::swap(&mut st.queued, &mut out);
            st.idle = out.is_empty() && !st.closing;
            st.closing
        };
        if out.is_empty() && !closing {
            shared.wake.notified().await;
            continue;
        }
        let written = if closing {
            let drain = async {
                io.write_all(&out).await?;
                io.shutdown().await
            };
            tokio::time::timeout(DRAIN_TIMEOUT, drain)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
        } else {
            // The flush is a no-op over plain TCP; under TLS it sends what the session still
            // holds when the socket could not take the whole write.
            crate::server::write_flushed(&mut io, &out).await
        };
        out.clear();
        if let Err(e) = written {
            shared.lock().failed = Some((e.kind(), e.to_string()));
            return Err(e);
        }
        if closing {
            return Ok(());
        }
    }
}
