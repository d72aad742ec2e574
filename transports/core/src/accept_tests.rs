//! The shared accept loop against a scripted source: out of descriptors it backs off (doubling,
//! capped) instead of spinning or dying, then serves again; shutdown ends it even mid-backoff.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

const STEP: Duration = Duration::from_secs(5);

/// Fails with the scripted errors first, then accepts from a real listener; records when each
/// accept was attempted.
struct Scripted {
    errors: VecDeque<io::Error>,
    listener: TcpListener,
    attempts: Vec<Instant>,
}

impl Source for Scripted {
    async fn accept(&mut self) -> io::Result<TcpStream> {
        self.attempts.push(Instant::now());
        match self.errors.pop_front() {
            Some(e) => Err(e),
            None => self.listener.accept().await.map(|(s, _)| s),
        }
    }
}

fn emfile() -> io::Error {
    io::Error::from_raw_os_error(24) // EMFILE: too many open files
}

async fn scripted(errors: Vec<io::Error>) -> Scripted {
    Scripted {
        errors: errors.into(),
        listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        attempts: Vec::new(),
    }
}

fn wrap(wire: &Arc<WireStats>, handshake: bool) -> Wrap {
    Wrap {
        socket: SocketOptions { nodelay: true },
        wire: wire.clone(),
        handshake,
        tls: None,
    }
}

#[tokio::test(start_paused = true)]
async fn out_of_descriptors_backs_off_then_serves_again() {
    let mut errors: Vec<io::Error> = (0..9).map(|_| emfile()).collect();
    // A peer that reset before it was accepted costs no wait.
    errors.insert(2, io::Error::from(io::ErrorKind::ConnectionAborted));
    let mut source = scripted(errors).await;
    // Connected before the loop starts (the kernel completes it into the backlog), so the test
    // never waits on real IO while the paused clock could jump ahead.
    let _client = TcpStream::connect(source.listener.local_addr().unwrap())
        .await
        .unwrap();
    let wire = WireStats::new();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |io: Conn| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((io.tcp().nodelay().unwrap(), io.handshake_flag().active()));
        }
    };
    let looped = serve(
        &mut source,
        wrap(&wire, true),
        stop.clone().cancelled_owned(),
        &tracker,
        handler,
    );
    let client = async {
        let got = tokio::time::timeout(STEP, rx.recv()).await.unwrap();
        stop.cancel();
        got
    };
    let ((), got) = tokio::join!(looped, client);
    assert_eq!(
        got,
        Some((true, true)),
        "served with TCP_NODELAY, as handshake"
    );
    assert_eq!(wire.snapshot().connections, 1);

    let gaps: Vec<u128> = source
        .attempts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // After EMFILE: 10, 20 ms; the aborted connection retries at once (the count of failures
    // is not reset by it); then 40 ... capped at 1 s. The eleventh attempt accepts; the next
    // one waits (at once) until shutdown.
    assert_eq!(gaps[..10], [10, 20, 0, 40, 80, 160, 320, 640, 1000, 1000]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_loop_during_a_backoff() {
    let mut source = scripted((0..30).map(|_| emfile()).collect()).await;
    let wire = WireStats::new();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cancel.cancel();
    });
    let handler = |_io: Conn| async {};
    tokio::time::timeout(
        STEP,
        serve(
            &mut source,
            wrap(&wire, false),
            stop.cancelled_owned(),
            &tracker,
            handler,
        ),
    )
    .await
    .unwrap();
    assert_eq!(started.elapsed().as_millis(), 1500);
    assert_eq!(wire.snapshot().connections, 0);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let ms: Vec<u128> = (0..10).map(|n| backoff(n).as_millis()).collect();
    assert_eq!(ms, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    assert_eq!(backoff(u32::MAX), ACCEPT_BACKOFF_CAP);
}
