//! Kernel memory held for a server's connections: the bytes waiting in the send queues of its
//! sockets, which a push server's RSS does not include (a slow reader's backlog sits there
//! first, before the server's own queues fill).
//!
//! Read from `/proc/net/tcp` and `/proc/net/tcp6` of the network namespace the reader runs in:
//! the `tx_queue` column of every connection socket whose *local* port is the server's (the
//! clients' sockets have the server's port as their remote port, so an in-process server's
//! figure excludes them). For a connection socket the kernel prints `write_seq − snd_una` there,
//! which is exactly what `ioctl(SIOCOUTQ)` returns: bytes written by the server and not yet
//! acknowledged by the peer. Every state but LISTEN is counted: a socket the server closed
//! (`FIN_WAIT1`) still holds what its reader never took. Reading the tables instead of calling
//! `SIOCOUTQ` on each descriptor needs no access to the server's descriptors, so the same code
//! serves an in-process server, a child and the `serve --metrics` endpoint.

use std::io;

/// `st` of a listening socket in `/proc/net/tcp`.
const LISTEN: u8 = 0x0A;

/// Bytes in the send queues of every connection whose local port is `port`, summed over
/// IPv4 and IPv6. An error if neither table can be read (not Linux, or no `/proc`).
pub fn send_queue_bytes(port: u16) -> io::Result<u64> {
    let v4 = std::fs::read_to_string("/proc/net/tcp");
    let v6 = std::fs::read_to_string("/proc/net/tcp6");
    if let (Err(e), Err(_)) = (&v4, &v6) {
        return Err(io::Error::new(e.kind(), format!("/proc/net/tcp: {e}")));
    }
    let sum = |t: io::Result<String>| t.map(|t| sum_tx_queue(&t, port)).unwrap_or(0);
    Ok(sum(v4) + sum(v6))
}

/// The sum of `tx_queue` over the table's non-listening sockets with local port `port`.
fn sum_tx_queue(table: &str, port: u16) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = u8::from_str_radix(fields.nth(1)?, 16).ok()?;
            let queues = fields.next()?;
            let local_port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            if local_port != port || state == LISTEN {
                return None;
            }
            u64::from_str_radix(queues.split_once(':')?.0, 16).ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_server_side_of_its_connections_only() {
        let table = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 1 1
   1: 0100007F:1F90 0100007F:C350 01 00001000:00000000 01:00000014 00000000     0        0 2 1
   2: 0100007F:C350 0100007F:1F90 01 00000700:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:1F90 0100007F:C351 04 00000010:00000000 01:00000014 00000000     0        0 0 1
   4: 0100007F:1F91 0100007F:C352 01 00000100:00000000 00:00000000 00000000     0        0 4 1
";
        // Port 0x1F90: the listener is skipped, the client's socket (local port 0xC350) and
        // another server's (0x1F91) are not ours; established and FIN_WAIT1 count.
        assert_eq!(sum_tx_queue(table, 0x1F90), 0x1000 + 0x10);
        assert_eq!(sum_tx_queue("garbage\nnot a line\n", 0x1F90), 0);
    }

    #[test]
    fn a_reader_that_stops_leaves_bytes_in_the_send_queue() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        // Write until the kernel takes no more: the client never reads.
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0u64;
        for _ in 0..10_000 {
            match server.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let queued = send_queue_bytes(port).unwrap();
        // What the client's receive buffer took left the send queue (acknowledged); the rest
        // waits there.
        assert!(queued > 0 && queued <= written, "{queued} of {written}");
        drop(client);
    }
}
