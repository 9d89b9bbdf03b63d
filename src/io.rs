//! The socket side of a connection: the one place that reads from and
//! writes to a client socket, draining each until `WouldBlock` (mio is
//! edge-triggered: a partial drain means no further event).
//!
//! `pump` alternates between the two: write what the connection has
//! produced (refilling from a file being sent), hand what is read to the
//! connection, and stop when the socket is drained, when back-pressure
//! holds (wait for a writable event), or when the connection's budget for
//! this turn is spent (`Verdict::Again`). What always holds: a connection
//! that says `wants_read` is false is not read, so its input stays bounded.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr};

use mio::net::TcpStream;

use crate::config::{MAX_WRITES_PER_TURN, READ_CHUNK, WRITE_BUDGET};
use crate::conn::{Conn, Env, Verdict};
use crate::output::Refill;

/// A connection's socket and what the loop knows of it.
pub struct Link {
    pub socket: TcpStream,
    /// Tells this connection from earlier and later owners of its slot.
    pub serial: u32,
    /// The socket may hold input not read yet (no new event will say so).
    pub readable: bool,
    /// `WRITABLE` interest is registered.
    pub writable: bool,
    /// Accepted past `--max-connections`, only to be turned away.
    pub full: bool,
    /// The client is on a loopback address.
    pub loopback: bool,
    /// The client's address, for the log.
    pub peer: PeerAddr,
}

impl Link {
    pub fn new(socket: TcpStream, serial: u32, full: bool, peer: SocketAddr) -> Link {
        let loopback = match peer.ip() {
            IpAddr::V4(a) => a.is_loopback(),
            IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|a| a.is_loopback()),
        };
        Link { socket, serial, readable: false, writable: false, full, loopback, peer: PeerAddr::from(peer) }
    }
}

/// A client's address in 18 bytes rather than `SocketAddr`'s 32, kept for
/// every connection (an IPv4 address as an IPv4-mapped IPv6 one; the
/// scope and flow label of IPv6 are not kept, the log has no use for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr {
    ip: [u8; 16],
    port: u16,
}

impl From<SocketAddr> for PeerAddr {
    fn from(a: SocketAddr) -> PeerAddr {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        PeerAddr { ip: ip.octets(), port: a.port() }
    }
}

impl PeerAddr {
    pub fn get(self) -> SocketAddr {
        let v6 = Ipv6Addr::from(self.ip);
        let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
        SocketAddr::new(ip, self.port)
    }
}

/// An event published to the channel the connection listens to.
pub fn deliver(
    conn: &mut Conn,
    link: &mut Link,
    env: &mut Env,
    buf: &mut Vec<u8>,
    event: &std::rc::Rc<[u8]>,
) -> Verdict {
    match conn.deliver(event, env) {
        Verdict::Close(end) => Verdict::Close(end),
        Verdict::Continue | Verdict::Again | Verdict::Started => pump(conn, link, env, buf, false),
    }
}

/// A readiness event: `hup` when the peer closed or the socket failed (the
/// end is then read at once rather than on a later event).
pub fn on_ready(
    conn: &mut Conn,
    link: &mut Link,
    env: &mut Env,
    buf: &mut Vec<u8>,
    readable: bool,
    hup: bool,
) -> Verdict {
    link.readable |= readable || hup;
    pump(conn, link, env, buf, hup)
}

/// The connection's deadline has come.
pub fn on_timer(conn: &mut Conn, link: &mut Link, env: &mut Env, buf: &mut Vec<u8>) -> Verdict {
    let socket = &link.socket;
    match conn.on_timer(env, || crate::sys::unsent(socket).unwrap_or(0)) {
        Verdict::Close(end) => Verdict::Close(end),
        Verdict::Continue | Verdict::Again | Verdict::Started => pump(conn, link, env, buf, false),
    }
}

/// Moves bytes until nothing more can move now.
pub fn pump(conn: &mut Conn, link: &mut Link, env: &mut Env, buf: &mut Vec<u8>, hup: bool) -> Verdict {
    loop {
        match flush(conn, link, env) {
            Err(v) => return v,
            // A client that takes output as fast as it comes (a file on
            // loopback) would never see `WouldBlock`: the rest waits for
            // the next turn, after the others.
            // The slow-consumer rule holds all the same: a paced stream
            // whose client takes every piece can still fall behind.
            Ok(Flushed::BudgetSpent) => {
                return match conn.after_write() {
                    v @ Verdict::Close(_) => v,
                    Verdict::Continue | Verdict::Again | Verdict::Started => Verdict::Again,
                };
            }
            Ok(Flushed::Done) => {}
        }
        if let v @ Verdict::Close(_) = conn.after_write() {
            return v;
        }
        if conn.wants_shutdown() {
            if conn.wants_reset() {
                // Closing with a zero linger sends RST instead of FIN.
                crate::sys::linger_zero(&link.socket);
                return conn.on_shutdown(false, env.now);
            }
            let ok = link.socket.shutdown(Shutdown::Write).is_ok();
            match conn.on_shutdown(ok, env.now) {
                v @ Verdict::Close(_) => return v,
                // Lingering: read and drop until EOF, which may be there.
                Verdict::Continue | Verdict::Again | Verdict::Started => link.readable = true,
            }
        }
        let verdict = if conn.can_resume(env.turn) {
            conn.on_input(&[], env)
        } else if !link.readable {
            break;
        } else if !conn.wants_read(env.turn) {
            if conn.budget_spent(env.turn) {
                return Verdict::Again;
            }
            // Back-pressure: the writable event that drains the output
            // brings the connection back here.
            break;
        } else {
            read(conn, link, env, buf, hup)
        };
        match verdict {
            Verdict::Continue => {}
            Verdict::Close(end) => return Verdict::Close(end),
            // Let the head out, then tell the loop; it calls again for
            // whatever input followed the stream's request.
            v @ (Verdict::Started | Verdict::Again) => {
                return match flush(conn, link, env) {
                    Ok(_) => v,
                    Err(v) => v,
                };
            }
        }
    }
    Verdict::Continue
}

/// One `read`, handed to the connection.
fn read(conn: &mut Conn, link: &mut Link, env: &mut Env, buf: &mut Vec<u8>, hup: bool) -> Verdict {
    buf.resize(READ_CHUNK, 0);
    match link.socket.read(buf) {
        Ok(0) => {
            link.readable = false;
            conn.on_eof(env.now)
        }
        Ok(n) => {
            // A read shorter than the buffer emptied the socket, and any
            // byte that arrives later raises a new event: the `read` that
            // would only say `WouldBlock` is skipped, except when the peer
            // has closed: then EOF is read to notice it now.
            if n < buf.len() && !hup {
                link.readable = false;
            }
            conn.on_input(crate::ascii::before(buf, n), env)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            link.readable = false;
            Verdict::Continue
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Verdict::Continue,
        Err(e) => conn.on_error(&e),
    }
}

/// How a `flush` ended.
enum Flushed {
    /// Nothing left, or the socket is full.
    Done,
    /// `WRITE_BUDGET` bytes were written and more could go.
    BudgetSpent,
}

/// Writes pending output, and the rest of a file, until done, the socket
/// is full, or `WRITE_BUDGET` bytes or `MAX_WRITES_PER_TURN` writes have
/// gone. A paced stream's pieces are each a write of their own.
fn flush(conn: &mut Conn, link: &mut Link, env: &mut Env) -> Result<Flushed, Verdict> {
    let (mut written, mut writes) = (0, 0);
    loop {
        if written >= WRITE_BUDGET {
            return Ok(Flushed::BudgetSpent);
        }
        match conn.output().refill() {
            Refill::Ok => {}
            Refill::FileDone => env.metrics.downloads = env.metrics.downloads.saturating_sub(1),
            Refill::DocumentDone(len) => env.metrics.documents = env.metrics.documents.saturating_sub(len as u64),
            Refill::FileFailed => {
                env.metrics.downloads = env.metrics.downloads.saturating_sub(1);
                return Err(Verdict::Close(None));
            }
        }
        if writes >= MAX_WRITES_PER_TURN || *env.writes_left == 0 {
            return Ok(Flushed::BudgetSpent);
        }
        let pending = conn.output().pending(env.now);
        if pending.is_empty() {
            return Ok(Flushed::Done);
        }
        writes += 1;
        *env.writes_left = env.writes_left.saturating_sub(1);
        match link.socket.write(pending) {
            Ok(n) => {
                written += n;
                env.metrics.bytes += n as u64;
                conn.sent(n, env.now);
                if let Some((due, events)) = conn.handed_over() {
                    // The clock now, not the turn's: the turn's own work
                    // is part of how late the events are.
                    env.metrics.lateness.observe(due, std::time::Instant::now(), events);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if conn.watches_stalls()
                    && let Some(q) = crate::sys::unsent(&link.socket)
                {
                    conn.blocked(q);
                }
                return Ok(Flushed::Done);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(conn.on_error(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_come_back_as_they_went_in() {
        for a in ["127.0.0.1:50412", "10.1.2.3:1", "[::1]:8888", "[2001:db8::7]:65535", "0.0.0.0:0"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(PeerAddr::from(a).get(), a, "{a}");
        }
        assert_eq!(size_of::<PeerAddr>(), 18);
    }
}
