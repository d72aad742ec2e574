//! The kernel's own byte counters of one TCP connection (`tcp_info`'s `bytes_acked` and
//! `bytes_received`), read through `sock_diag` netlink by the connection's addresses.
//!
//! For client libraries that open their sockets themselves and take no stream from us
//! (async-nats; likely the Redis and MQTT clients too), [`CountingIo`] cannot sit under the
//! socket, but the kernel counts the same bytes: `bytes_acked` is every payload byte this end
//! sent that the peer acknowledged, `bytes_received` every payload byte that arrived in order.
//! Neither counts TCP/IP headers, SYN or FIN, so on loopback (where everything sent is
//! acknowledged within microseconds) they equal what a `CountingIo` would have counted and
//! the sum of `tcp.len` in a packet capture. Netlink needs no `unsafe` here and no file
//! descriptor of the socket: a connection is read by its four-tuple, and
//! [`TcpInfoReader::connections_to`] lists the connections to a server, and [`owned_by_us`]
//! tells which are this process's (socket inodes among our open descriptors).
//!
//! [`CountingIo`]: transport_core::CountingIo

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

/// One reading of a connection's counters, in payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpBytes {
    /// The socket's inode: a new connection on the same four-tuple has a new one.
    pub inode: u32,
    /// Payload bytes sent and acknowledged by the peer.
    pub acked: u64,
    /// Payload bytes received in order.
    pub received: u64,
}

/// TCP states (`include/net/tcp_states.h`) in which our FIN has been acknowledged.
const OUR_FIN_ACKED: [u8; 3] = [
    5, /* FIN_WAIT2 */
    6, /* TIME_WAIT */
    7, /* CLOSE */
];
/// TCP states in which the peer's FIN has arrived.
const PEER_FIN_IN: [u8; 5] = [
    6,  /* TIME_WAIT */
    7,  /* CLOSE */
    8,  /* CLOSE_WAIT */
    9,  /* LAST_ACK */
    11, /* CLOSING */
];

impl TcpBytes {
    /// From the kernel's sequence-space counters of a connection *we* opened: `bytes_acked`
    /// includes our SYN (acknowledged by the SYN-ACK) and, once acknowledged, our FIN;
    /// `bytes_received` includes the peer's FIN once it arrived. Neither is payload.
    fn from_sequence_space(inode: u32, state: u8, acked: u64, received: u64) -> TcpBytes {
        let fin_out = u64::from(OUR_FIN_ACKED.contains(&state));
        let fin_in = u64::from(PEER_FIN_IN.contains(&state));
        TcpBytes {
            inode,
            acked: acked.saturating_sub(1 + fin_out),
            received: received.saturating_sub(fin_in),
        }
    }
}

/// A netlink socket for `sock_diag` queries; one per reader, reused for every query.
#[derive(Debug)]
pub struct TcpInfoReader {
    socket: Socket,
    buf: Vec<u8>,
}

impl TcpInfoReader {
    /// Opens the netlink socket.
    pub fn new() -> io::Result<TcpInfoReader> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&NetlinkAddr::new(0, 0))?;
        Ok(TcpInfoReader {
            socket,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Sends one request for `id` (a dump of every TCP socket of its family when `dump`).
    fn send(&mut self, id: SocketId, dump: bool) -> io::Result<()> {
        let family = if id.source_address.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        };
        let mut header = NetlinkHeader::default();
        header.flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST
        };
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: if dump {
                    ExtensionFlags::empty()
                } else {
                    ExtensionFlags::INFO
                },
                states: StateFlags::all(),
                socket_id: id,
            })
            .into(),
        );
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0).map(drop)
    }

    /// Every TCP connection on this host to `peer` (local address and socket inode), whoever
    /// owns it; [`owned_by_us`] tells which are this process's.
    pub fn connections_to(&mut self, peer: SocketAddr) -> io::Result<Vec<(SocketAddr, u32)>> {
        let mut id = if peer.is_ipv4() {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        // The kernel skips sockets of other destination ports itself (inet_diag_dump_icsk).
        id.destination_port = peer.port();
        self.send(id, true)?;
        let mut found = Vec::new();
        'datagrams: loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&self.buf[at..n])
                    .map_err(|e| io::Error::other(format!("sock_diag dump: {e}")))?;
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        let id = &r.header.socket_id;
                        let remote = SocketAddr::new(id.destination_address, id.destination_port);
                        if remote == peer {
                            let local = SocketAddr::new(id.source_address, id.source_port);
                            found.push((local, r.header.inode));
                        }
                    }
                    NetlinkPayload::Done(_) => break 'datagrams,
                    NetlinkPayload::Error(e) => return Err(e.to_io()),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                at += len;
            }
        }
        Ok(found)
    }

    /// The payload counters of the TCP connection *we opened* from `local` to `peer`, or
    /// `None` when the kernel has no such connection (closed, or in TIME_WAIT, which keeps no
    /// counters).
    pub fn read(&mut self, local: SocketAddr, peer: SocketAddr) -> io::Result<Option<TcpBytes>> {
        let mut id = if local.is_ipv4() {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        id.source_port = local.port();
        id.source_address = local.ip();
        id.destination_port = peer.port();
        id.destination_address = peer.ip();
        // No cookie: INET_DIAG_NOCOOKIE (all ones) matches by addresses alone.
        id.cookie = [0xff; 8];
        self.send(id, false)?;
        let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
        parse(&self.buf[..n], local.ip())
    }
}

/// The first answer in `bytes`: a socket with its `tcp_info`, "no such socket", or an error.
fn parse(bytes: &[u8], local: IpAddr) -> io::Result<Option<TcpBytes>> {
    let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(bytes)
        .map_err(|e| io::Error::other(format!("sock_diag answer: {e}")))?;
    match msg.payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
            debug_assert_eq!(r.header.socket_id.source_address, local);
            let info = r.nlas.iter().find_map(|n| match n {
                Nla::TcpInfo(info) => Some((info.bytes_acked, info.bytes_received)),
                _ => None,
            });
            let (inode, state) = (r.header.inode, r.header.state);
            Ok(info.map(|(a, r)| TcpBytes::from_sequence_space(inode, state, a, r)))
        }
        NetlinkPayload::Error(e) => {
            let err = e.to_io();
            if err.kind() == io::ErrorKind::NotFound {
                Ok(None)
            } else {
                Err(err)
            }
        }
        other => Err(io::Error::other(format!(
            "sock_diag: unexpected answer {other:?}"
        ))),
    }
}

/// Which of `inodes` are sockets among this process's open descriptors (`/proc/self/fd`).
pub fn owned_by_us(inodes: &[u32]) -> io::Result<Vec<u32>> {
    let ours = own_socket_inodes()?;
    Ok(inodes
        .iter()
        .copied()
        .filter(|i| ours.contains(i))
        .collect())
}

/// The inodes of the sockets among this process's open descriptors.
fn own_socket_inodes() -> io::Result<std::collections::HashSet<u32>> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(link) = std::fs::read_link(entry?.path()) else {
            continue; // closed while we listed
        };
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn counts_what_a_connection_moved() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(peer).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[7; 1000]).unwrap();
        let mut got = [0; 1000];
        server.read_exact(&mut got).unwrap();
        server.write_all(&[9; 300]).unwrap();
        let mut back = [0; 300];
        client.read_exact(&mut back).unwrap();
        let local = client.local_addr().unwrap();
        let mut reader = TcpInfoReader::new().unwrap();
        // Loopback acks are immediate, but a reading can race the ACK: bounded retries.
        let mut last = None;
        for _ in 0..1000 {
            last = reader.read(local, peer).unwrap();
            if last.is_some_and(|b| b.acked == 1000) {
                break;
            }
            std::thread::yield_now();
        }
        let bytes = last.expect("the connection is found");
        assert_eq!(
            (bytes.acked, bytes.received),
            (1000, 300),
            "SYN not counted"
        );
        // The server closes first: our socket has its FIN, which is not payload.
        drop(server);
        let mut one = [0; 1];
        assert_eq!(client.read(&mut one).unwrap(), 0);
        let bytes = reader
            .read(local, peer)
            .unwrap()
            .expect("CLOSE_WAIT is found");
        assert_eq!(
            (bytes.acked, bytes.received),
            (1000, 300),
            "FIN not counted"
        );
        drop(client);
        let gone = SocketAddr::from(([127, 0, 0, 1], 1));
        assert_eq!(reader.read(local, gone).unwrap(), None);
    }

    #[test]
    fn finds_our_own_connections_to_a_peer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let a = std::net::TcpStream::connect(peer).unwrap();
        let b = std::net::TcpStream::connect(peer).unwrap();
        let mut reader = TcpInfoReader::new().unwrap();
        let conns = reader.connections_to(peer).unwrap();
        let inodes: Vec<u32> = conns.iter().map(|c| c.1).collect();
        assert_eq!(owned_by_us(&inodes).unwrap().len(), 2);
        let mut found: Vec<SocketAddr> = conns.into_iter().map(|(local, _)| local).collect();
        found.sort();
        let mut want = vec![a.local_addr().unwrap(), b.local_addr().unwrap()];
        want.sort();
        assert_eq!(
            found, want,
            "the accepted ends have the peer as source, not destination"
        );
    }
}
