//! [`Conn`]: one connection as a transport sees it, plaintext or TLS, always counted.
//!
//! The layers, from the network up: the TCP socket; a [`CountingIo`] into the run's
//! [`WireStats`] (what the network carries: ciphertext under TLS, with the TLS handshake among
//! the handshake bytes); then, under TLS only, the TLS session and a second [`CountingIo`] into
//! the plaintext stats, which share the first one's handshake flag. So a transport that ends its
//! own handshake (an HTTP upgrade, a subscribe frame) ends it in both counts at once.
//!
//! Plaintext connections take the first branch of every `match` and nothing else: no extra
//! buffer or copy, so a plaintext run costs what it did before TLS existed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsStream;

use crate::tls::{HANDSHAKE_TIMEOUT, Negotiated, TlsClient, TlsServer, server_name};
use crate::{CountingIo, HandshakeFlag, TransportError};

/// A TLS session over the counted socket, counted again above TLS.
type Secured = CountingIo<TlsStream<CountingIo<TcpStream>>>;

/// A counted connection, with TLS on top when the run asks for it.
#[derive(Debug)]
pub struct Conn {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(CountingIo<TcpStream>),
    Tls(Box<Secured>),
}

impl Conn {
    /// A plaintext connection over `io`.
    pub fn plain(io: CountingIo<TcpStream>) -> Conn {
        Conn {
            inner: Inner::Plain(io),
        }
    }

    /// Runs the client side of a TLS handshake over `io` (its bytes count as handshake) and
    /// checks the server's certificate against the host of `addr`.
    pub async fn connect_tls(
        io: CountingIo<TcpStream>,
        tls: &TlsClient,
        addr: &str,
    ) -> Result<Conn, TransportError> {
        let name = server_name(addr).ok_or_else(|| {
            TransportError::Config(format!("`{addr}` has no host a certificate could name"))
        })?;
        let flag = io.handshake_flag();
        flag.start();
        let handshake = tls.connector.connect(name, io);
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(TransportError::protocol("tls handshake", e.to_string())),
            Err(_) => {
                return Err(TransportError::Timeout {
                    stage: "tls handshake",
                    after_ms: HANDSHAKE_TIMEOUT.as_millis() as u64,
                });
            }
        };
        tls.record(|| Negotiated::of(stream.get_ref().1));
        let counted = CountingIo::sharing(TlsStream::Client(stream), tls.plaintext.clone(), flag);
        Ok(Conn {
            inner: Inner::Tls(Box::new(counted)),
        })
    }

    /// Runs the server side of a TLS handshake over `io` (its bytes count as handshake). For a
    /// pattern with no handshake of its own (`own_handshake` false) the handshake ends with the
    /// TLS handshake, exactly at the client's Finished record.
    pub async fn accept_tls(
        mut io: CountingIo<TcpStream>,
        tls: &TlsServer,
        own_handshake: bool,
    ) -> Result<Conn, TransportError> {
        let flag = io.handshake_flag();
        flag.start();
        // So the client's first application data, sent right behind its Finished, is not read
        // (and counted as handshake) together with it.
        io.align_records(!own_handshake);
        let handshake = tls.acceptor.accept(io);
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(mut stream)) => {
                stream.get_mut().0.align_records(false);
                if !own_handshake {
                    flag.end();
                }
                stream
            }
            Ok(Err(e)) => return Err(TransportError::protocol("tls accept", e.to_string())),
            Err(_) => {
                return Err(TransportError::Timeout {
                    stage: "tls accept",
                    after_ms: HANDSHAKE_TIMEOUT.as_millis() as u64,
                });
            }
        };
        let counted = CountingIo::sharing(TlsStream::Server(stream), tls.plaintext.clone(), flag);
        Ok(Conn {
            inner: Inner::Tls(Box::new(counted)),
        })
    }

    /// Whether TLS runs on this connection.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// What TLS negotiated on this connection (`None` for plaintext).
    pub fn negotiated(&self) -> Option<Negotiated> {
        match &self.inner {
            Inner::Plain(_) => None,
            Inner::Tls(s) => Some(match s.get_ref() {
                TlsStream::Client(c) => Negotiated::of(c.get_ref().1),
                TlsStream::Server(c) => Negotiated::of(c.get_ref().1),
            }),
        }
    }

    /// The TCP socket underneath (for its addresses and options).
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(io) => io.get_ref(),
            Inner::Tls(s) => s.get_ref().get_ref().0.get_ref(),
        }
    }

    /// A handle that can end the handshake from elsewhere (in both counts under TLS).
    pub fn handshake_flag(&self) -> HandshakeFlag {
        match &self.inner {
            Inner::Plain(io) => io.handshake_flag(),
            Inner::Tls(s) => s.handshake_flag(),
        }
    }

    /// Ends the handshake: bytes from now on count as steady state.
    pub fn end_handshake(&self) {
        self.handshake_flag().end();
    }

    /// Splits into read and write halves that keep counting. Plaintext splits the socket
    /// itself (lock-free); a TLS session is one state machine, so its halves share a lock.
    pub fn into_split(self) -> (ConnRead, ConnWrite) {
        match self.inner {
            Inner::Plain(io) => {
                let (r, w) = io.into_split();
                (ConnRead::Plain(r), ConnWrite::Plain(w))
            }
            Inner::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (ConnRead::Tls(r), ConnWrite::Tls(w))
            }
        }
    }
}

/// The read half of a [`Conn`].
#[derive(Debug)]
pub enum ConnRead {
    /// Of a plaintext connection.
    Plain(CountingIo<OwnedReadHalf>),
    /// Of a TLS connection.
    Tls(ReadHalf<Secured>),
}

/// The write half of a [`Conn`].
#[derive(Debug)]
pub enum ConnWrite {
    /// Of a plaintext connection.
    Plain(CountingIo<OwnedWriteHalf>),
    /// Of a TLS connection.
    Tls(WriteHalf<Secured>),
}

/// Forwards the IO traits to whichever variant is there.
macro_rules! forward_read {
    ($ty:ty, $($variant:ident),+) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(io) => Pin::new(io).poll_read(cx, buf),)+
                }
            }
        }
    };
}

macro_rules! forward_write {
    ($ty:ty, $($variant:ident),+) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(io) => Pin::new(io).poll_write(cx, buf),)+
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(io) => Pin::new(io).poll_write_vectored(cx, bufs),)+
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $(Self::$variant(io) => io.is_write_vectored(),)+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(io) => Pin::new(io).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(io) => Pin::new(io).poll_shutdown(cx),)+
                }
            }
        }
    };
}

forward_read!(Inner, Plain, Tls);
forward_write!(Inner, Plain, Tls);
forward_read!(ConnRead, Plain, Tls);
forward_write!(ConnWrite, Plain, Tls);

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
