//! A Kafka-frame-aware relay for tests: it forwards whole request frames from clients to an
//! upstream broker that can be switched, and can be armed to tamper with the next ListOffsets
//! request (swallow it, or point it at another topic), so a reconnect's incarnation check
//! fails in a chosen way while the connection itself stays up; or to lose the response to the
//! next Produce request after the broker has handled it (the resend-after-reset case that an
//! idempotent producer must not turn into a duplicate).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Kafka's ListOffsets api key.
const LIST_OFFSETS: i16 = 2;
/// Kafka's Produce api key.
const PRODUCE: i16 = 0;
/// Kafka's InitProducerId api key.
const INIT_PRODUCER_ID: i16 = 22;
/// Largest response frame relayed (test data is small).
const MAX_RESPONSE: usize = 64 << 20;

/// What happens to the next ListOffsets request once armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never forwarded: the broker never answers it, the client's request times out with the
    /// connection still open and the answer's slot still due.
    Swallow,
    /// Forwarded with the first byte of `topic` changed, so the broker answers for another
    /// topic and the client finds no offset for its own (a non-retriable failure).
    Mangle { topic: &'static str },
    /// The next Produce request is forwarded; its response, once the broker sends it, is
    /// dropped and the connection cut: the batch is in the log but the client never hears so.
    LoseProduceResponse,
    /// The next InitProducerId (flexible, v2+) asks for an empty transactional id instead of
    /// null, which the broker refuses: the client's view of a broker without idempotence.
    RefuseInitProducerId,
}

#[derive(Default)]
struct State {
    upstream: String,
    armed: Option<Fault>,
    /// Correlation id of the Produce whose response is to be lost.
    lose: Option<i32>,
    /// Responses lost so far.
    lost: usize,
}

/// The relay; dropping it cuts every connection.
pub struct FaultProxy {
    addr: String,
    state: Arc<Mutex<State>>,
    conns: Arc<Mutex<JoinSet<()>>>,
    accept: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultProxy {
    /// Relays from a fresh loopback port to `upstream`.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.to_owned(),
            ..State::default()
        }));
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (st, tasks) = (state.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let st = st.clone();
                lock(&tasks).spawn(relay(down, st));
            }
        });
        FaultProxy {
            addr,
            state,
            conns,
            accept,
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// From now on relays to `upstream`, arms `fault` for the next ListOffsets, and cuts every
    /// current connection so clients reconnect (to the new upstream).
    pub fn switch(&self, upstream: &str, fault: Fault) {
        {
            let mut s = lock(&self.state);
            s.upstream = upstream.to_owned();
            s.armed = Some(fault);
        }
        lock(&self.conns).abort_all();
    }

    /// Arms `fault` for the next matching request, leaving connections up.
    pub fn arm(&self, fault: Fault) {
        lock(&self.state).armed = Some(fault);
    }

    /// How many Produce responses have been lost.
    pub fn lost(&self) -> usize {
        lock(&self.state).lost
    }

    /// Whether the armed fault has been applied.
    pub fn fired(&self) -> bool {
        lock(&self.state).armed.is_none()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        lock(&self.conns).abort_all();
    }
}

/// One client connection: responses are copied back as bytes, requests frame by frame.
async fn relay(down: TcpStream, state: Arc<Mutex<State>>) {
    let upstream = lock(&state).upstream.clone();
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (down.set_nodelay(true), up.set_nodelay(true));
    let (mut down_rd, mut down_wr) = down.into_split();
    let (mut up_rd, mut up_wr) = up.into_split();
    let responses = async {
        loop {
            let mut size = [0u8; 4];
            if up_rd.read_exact(&mut size).await.is_err() {
                return;
            }
            let Ok(len @ 4..=MAX_RESPONSE) = usize::try_from(i32::from_be_bytes(size)) else {
                return;
            };
            let mut body = vec![0u8; len];
            if up_rd.read_exact(&mut body).await.is_err() {
                return;
            }
            let cid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            {
                let mut s = lock(&state);
                if s.lose == Some(cid) {
                    // The broker has answered, so the batch is appended: cut instead of relaying.
                    s.lose = None;
                    s.lost += 1;
                    return;
                }
            }
            if down_wr.write_all(&size).await.is_err() || down_wr.write_all(&body).await.is_err() {
                return;
            }
        }
    };
    let requests = async {
        loop {
            let mut size = [0u8; 4];
            if down_rd.read_exact(&mut size).await.is_err() {
                return;
            }
            let len = i32::from_be_bytes(size);
            // Test clients send small requests; anything else ends the relay.
            let Ok(len @ 8..=1_048_576) = usize::try_from(len) else {
                return;
            };
            let mut body = vec![0u8; len];
            if down_rd.read_exact(&mut body).await.is_err() {
                return;
            }
            let api_key = i16::from_be_bytes([body[0], body[1]]);
            if api_key == PRODUCE {
                let mut s = lock(&state);
                if s.armed == Some(Fault::LoseProduceResponse) {
                    s.armed = None;
                    s.lose = Some(i32::from_be_bytes([body[4], body[5], body[6], body[7]]));
                }
            }
            if api_key == INIT_PRODUCER_ID {
                let mut s = lock(&state);
                if s.armed == Some(Fault::RefuseInitProducerId) {
                    s.armed = None;
                    // Header: key, version, correlation id (8), client id (i16 length + bytes),
                    // empty tag section (1); then the compact transactional id, 0 = null.
                    let client_id = i16::from_be_bytes([body[8], body[9]]).max(0) as usize;
                    let at = 10 + client_id + 1;
                    assert_eq!(body[at], 0, "a null transactional id");
                    body[at] = 1; // compact length 0 + 1: the empty string
                }
            }
            if api_key == LIST_OFFSETS {
                let fault = {
                    let mut s = lock(&state);
                    match s.armed {
                        Some(Fault::LoseProduceResponse | Fault::RefuseInitProducerId) => None,
                        _ => s.armed.take(),
                    }
                };
                match fault {
                    Some(Fault::Swallow) => continue,
                    Some(Fault::Mangle { topic }) => {
                        let at = body
                            .windows(topic.len())
                            .position(|w| w == topic.as_bytes())
                            .expect("the topic name is in its ListOffsets request");
                        body[at] ^= 0x01;
                    }
                    Some(Fault::LoseProduceResponse | Fault::RefuseInitProducerId) | None => {}
                }
            }
            if up_wr.write_all(&size).await.is_err() || up_wr.write_all(&body).await.is_err() {
                return;
            }
        }
    };
    // Either direction ending ends the connection (both sockets drop here).
    tokio::select! {
        () = responses => {}
        () = requests => {}
    }
}
