//! One MQTT 3.1.1 connection of ours: a socket from the client's source, wrapped in its
//! `CountingIo` (bytes counted at the socket, a lagging consumer's read gate applied), framed
//! by rumqttc's packet codec, and opened with CONNECT/CONNACK (handshake bytes). It keeps the
//! keep-alive: a client that sent nothing for half the keep-alive sends PINGREQ.
//!
//! Why not rumqttc's own `EventLoop`: it dials its own socket, so it can neither hand us a
//! stream to count nor dial from the loopback source the runner gives each client (needed past
//! ~28K connections), nor pass a lagging consumer's reads through its gate. Its codec is the
//! part that knows MQTT; the state kept here is what QoS 0 and 1 need (packet ids, PUBACKs).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::Error as CodecError;
use rumqttc::mqttbytes::v4::{Codec, Connect, ConnectReturnCode, Packet};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use transport_core::{ClientContext, Counter, CountingIo, HandshakeFlag, TransportError};

use crate::config::MqttConfig;

/// Largest packet either side may send: a 16 MiB payload plus its header.
pub const MAX_PACKET: usize = 16 * 1024 * 1024 + 1024;
/// Bound on CONNACK and SUBACK.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open MQTT connection.
pub struct Session {
    framed: Framed<CountingIo<TcpStream>, Codec>,
    handshake: HandshakeFlag,
    /// Whether the broker still had this client's session (CONNACK's flag).
    pub session_present: bool,
    keep_alive: Duration,
    last_sent: Instant,
    /// PINGREQs sent: what staying connected costs when nothing flows.
    pings: Counter,
}

/// Maps a codec error at `stage`: IO is a broken connection, the rest the peer's protocol.
pub fn codec_error(stage: &'static str) -> impl Fn(CodecError) -> TransportError {
    move |e| match e {
        CodecError::Io(source) => TransportError::Io { stage, source },
        e => TransportError::protocol(stage, e.to_string()),
    }
}

impl Session {
    /// Connects to `addr` as `client_id` and waits for CONNACK. The handshake stays open
    /// (a subscriber ends it after SUBACK).
    pub async fn open(
        ctx: &ClientContext,
        addr: &str,
        client_id: &str,
        config: &MqttConfig,
    ) -> Result<Session, TransportError> {
        let io = ctx.counted(ctx.connect(addr).await?);
        let handshake = io.handshake_flag();
        let codec = Codec {
            max_incoming_size: MAX_PACKET,
            max_outgoing_size: MAX_PACKET,
        };
        let mut session = Session {
            framed: Framed::new(io, codec),
            handshake,
            session_present: false,
            keep_alive: config.keep_alive,
            last_sent: Instant::now(),
            pings: ctx.counters.counter("pings"),
        };
        let mut connect = Connect::new(client_id);
        connect.keep_alive = config.keep_alive.as_secs() as u16;
        connect.clean_session = config.clean_session;
        session.send(Packet::Connect(connect), "connect").await?;
        match session.next_bounded("connack").await? {
            Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => {
                session.session_present = ack.session_present;
                Ok(session)
            }
            Packet::ConnAck(ack) => Err(TransportError::Refused {
                stage: "connect",
                detail: format!("CONNACK {:?}", ack.code),
            }),
            other => Err(TransportError::protocol(
                "connect",
                format!("expected CONNACK, got {other:?}"),
            )),
        }
    }

    /// From now on, this connection's bytes are steady-state bytes.
    pub fn end_handshake(&self) {
        self.handshake.end();
    }

    /// Writes `packet` and flushes.
    pub async fn send(
        &mut self,
        packet: Packet,
        stage: &'static str,
    ) -> Result<(), TransportError> {
        self.last_sent = Instant::now();
        self.framed.send(packet).await.map_err(codec_error(stage))
    }

    /// Buffers `packet` (written by the next [`Session::flush`] or when the buffer fills).
    pub async fn feed(
        &mut self,
        packet: Packet,
        stage: &'static str,
    ) -> Result<(), TransportError> {
        self.last_sent = Instant::now();
        self.framed.feed(packet).await.map_err(codec_error(stage))
    }

    /// Writes what was fed.
    pub async fn flush(&mut self, stage: &'static str) -> Result<(), TransportError> {
        SinkExt::<Packet>::flush(&mut self.framed)
            .await
            .map_err(codec_error(stage))
    }

    /// The next packet from the broker, sending PINGREQ whenever half the keep-alive passes
    /// without our sending anything. A closed connection is `Closed`.
    pub async fn next(&mut self, stage: &'static str) -> Result<Packet, TransportError> {
        loop {
            let ping_at = self.last_sent + self.keep_alive / 2;
            match tokio::time::timeout_at(ping_at, self.framed.next()).await {
                Ok(Some(packet)) => return packet.map_err(codec_error(stage)),
                Ok(None) => return Err(TransportError::Closed { stage }),
                Err(_) => {
                    self.pings.inc();
                    self.send(Packet::PingReq, "ping").await?
                }
            }
        }
    }

    /// A packet already decoded or readable without waiting, if any.
    pub fn next_ready(&mut self, stage: &'static str) -> Option<Result<Packet, TransportError>> {
        use futures_util::FutureExt;
        match self.framed.next().now_or_never()? {
            Some(p) => Some(p.map_err(codec_error(stage))),
            None => Some(Err(TransportError::Closed { stage })),
        }
    }

    /// The next packet within [`REPLY_TIMEOUT`].
    pub async fn next_bounded(&mut self, stage: &'static str) -> Result<Packet, TransportError> {
        tokio::time::timeout(REPLY_TIMEOUT, self.next(stage))
            .await
            .map_err(|_| TransportError::Timeout {
                stage,
                after_ms: REPLY_TIMEOUT.as_millis() as u64,
            })?
    }

    /// Sends DISCONNECT (a clean end: the broker publishes no will) and closes.
    pub async fn disconnect(mut self) -> Result<(), TransportError> {
        self.send(Packet::Disconnect, "disconnect").await?;
        SinkExt::<Packet>::close(&mut self.framed)
            .await
            .map_err(codec_error("disconnect"))
    }
}

/// A client id unique to this client of this process: the broker keys sessions by it, so a
/// persistent session must survive our reconnects but never meet another run's.
pub fn client_id(kind: &str, ctx: &ClientContext) -> String {
    let nonce: u32 = rand::random();
    format!(
        "tb-{kind}-{}-{}-{nonce:08x}",
        std::process::id(),
        ctx.client_index
    )
}
