//! The raw TCP client: connects with a read timeout, sends exact bytes,
//! and reads back exactly what it is told to (a count, up to a pattern, a
//! response, to EOF). Every read waits for bytes or EOF, never for a fixed
//! time, and fails the test after `WAIT` unless a shorter wait is asked for.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::expect::normalize_date;
use super::server::WAIT;

/// `GET /`, the request most tests send.
pub const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// A `GET` of `target` with `Host` and `Accept: text/event-stream`, then
/// the `extra` fields.
pub fn get_events(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{extra}\r\n").into_bytes()
}

/// A raw TCP client with a read timeout.
pub struct Client {
    stream: TcpStream,
    /// Bytes read but not yet consumed by a `read_*` call.
    buf: Vec<u8>,
}

/// What one `Client::fill` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Bytes,
    /// EOF, or a reset.
    Eof,
    /// Nothing within the time asked for.
    Nothing,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    /// The head with the `Date` value replaced by `<date>`.
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Client {
        self.stream.write_all(bytes).expect("send");
        self
    }

    /// Sends without panicking (the server may have closed already).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A second handle on the socket, for a thread that writes while this
    /// one reads.
    /// This client's port (the server logs the address it came from).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local address").port()
    }

    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone the socket")
    }

    /// Bytes received and not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads what arrives next into the buffer. With `None`, waits up to
    /// `WAIT` and fails the test if nothing came; with `Some(d)`, waits up
    /// to `d` and says `Nothing` if nothing came.
    pub fn fill(&mut self, within: Option<Duration>) -> Fill {
        self.stream.set_read_timeout(Some(within.unwrap_or(WAIT).max(Duration::from_millis(1)))).expect("timeout");
        let mut chunk = [0u8; 16384];
        let got = loop {
            break match self.stream.read(&mut chunk) {
                Ok(0) => Fill::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Fill::Bytes
                }
                // A signal to the test process (a child exiting) is no fault.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Fill::Eof,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    assert!(
                        within.is_some(),
                        "nothing within {WAIT:?}; buffered {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    Fill::Nothing
                }
                Err(e) => panic!("read failed with {:?} buffered: {e}", String::from_utf8_lossy(&self.buf)),
            };
        };
        if within.is_some() {
            self.stream.set_read_timeout(Some(WAIT)).expect("timeout");
        }
        got
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_n(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let f = self.fill(None);
            assert!(f == Fill::Bytes, "EOF after {:?}, wanted {n} bytes", String::from_utf8_lossy(&self.buf));
        }
        self.buf.drain(..n).collect()
    }

    /// Reads up to and including `pattern`.
    pub fn read_until(&mut self, pattern: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return self.buf.drain(..i + pattern.len()).collect();
            }
            assert!(
                self.fill(None) == Fill::Bytes,
                "EOF before {:?}; got {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Reads a response head and, by its `Content-Length`, its body.
    /// `head_only`: the request was HEAD, no body follows.
    pub fn read_response_to(&mut self, head_only: bool) -> Response {
        let raw = self.read_until(b"\r\n\r\n");
        let head = normalize_date(&String::from_utf8(raw).expect("utf-8 head"));
        let mut r = Response { head, body: Vec::new() };
        if let (false, Some(len)) = (head_only, r.header("Content-Length")) {
            let n = len.parse().expect("Content-Length");
            r.body = self.read_exact_n(n);
        }
        r
    }

    pub fn read_response(&mut self) -> Response {
        self.read_response_to(false)
    }

    /// Reads until EOF; returns everything not yet consumed.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill(None) == Fill::Bytes {}
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes the connection: EOF with nothing more.
    pub fn expect_eof(&mut self) {
        let had = self.buf.len();
        while self.fill(None) == Fill::Bytes {}
        assert_eq!(self.buf.len(), had, "unexpected bytes before EOF: {:?}", String::from_utf8_lossy(&self.buf[had..]));
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// `SO_LINGER` with a zero timeout: closing this socket sends a reset.
    pub fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: a valid `linger` of the length given, on our own socket.
        let rc = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt SO_LINGER: {}", std::io::Error::last_os_error());
    }
}
