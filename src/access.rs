//! The access log (`--access-log`): one line per answer, at info, for the
//! target `sse_server::access`:
//!
//! ```text
//! 127.0.0.1:51234 "GET /events?count=2 HTTP/1.1" 200 - 0.04 ms
//! ```
//!
//! the client's address, the request line (as received when refused: its
//! first `MAX_LOGGED_LINE` bytes, or `-` when there is no whole line of
//! plain ASCII), the status, the length of the body (`-` for an event
//! stream, whose length is its life; 0 for `HEAD`), and the time from the
//! request's first byte to its answer. Nothing is built unless the log is on.

use std::net::SocketAddr;
use std::time::Instant;

use crate::http::{Request, Version};

/// The longest request line the log shows whole (one over 8 KiB is a `414`).
pub const MAX_LOGGED_LINE: usize = 512;

/// What the line of one request says before it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    line: String,
    started: Instant,
}

impl Note {
    /// The request line of `req`, whose first byte came at `started`.
    pub fn of(req: &Request, started: Instant) -> Note {
        let mut line = Vec::with_capacity(64);
        line.extend_from_slice(req.method.as_str().as_bytes());
        line.push(b' ');
        match req.path {
            None => line.push(b'*'),
            Some(p) => line.extend_from_slice(p),
        }
        if !req.query.is_empty() {
            line.push(b'?');
            line.extend_from_slice(req.query);
        }
        line.extend_from_slice(match req.version {
            Version::Http10 => b" HTTP/1.0",
            Version::Http11 => b" HTTP/1.1",
        });
        Note { line: shown(&line), started }
    }

    /// A refused request whose head starts `head`: its request line (up to
    /// its line feed, or the first `MAX_LOGGED_LINE` bytes when there are
    /// that many without one; the empty lines a request may start with, RFC
    /// 9112 §2.2, skipped), or `-` when there is none.
    pub fn refused(head: &[u8], started: Instant) -> Note {
        let start = head.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(head.len());
        let head = crate::ascii::after(head, start);
        let line = match head.iter().position(|&b| b == b'\n') {
            Some(end) => head.get(..end).map(|l| l.strip_suffix(b"\r").unwrap_or(l)),
            None if head.len() > MAX_LOGGED_LINE => Some(head),
            None => None,
        };
        let line = line.filter(|l| !l.is_empty()).map_or_else(|| "-".to_string(), shown);
        Note { line, started }
    }
}

/// A request line as the log shows it: its first `MAX_LOGGED_LINE` bytes
/// (then `...`), visible ASCII and spaces as they are, `"`, `\` and any
/// other byte as `\xHH`, so a line is always one line and its quotes are
/// the log's own.
fn shown(line: &[u8]) -> String {
    shown_within(line, MAX_LOGGED_LINE)
}

/// Bytes a client sent, as a log line shows them: the first `max` (then
/// `...`), escaped as `shown` does.
pub fn shown_within(line: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(line.len().min(max) + 3);
    for &b in line.iter().take(max) {
        if (b == b' ' || b.is_ascii_graphic()) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if line.len() > max {
        out.push_str("...");
    }
    out
}

/// Logs the answer to `note`: `status`, and `bytes` of body (`None`: a stream).
pub fn log(peer: SocketAddr, note: &Note, status: u16, bytes: Option<u64>, now: Instant) {
    let took = now.saturating_duration_since(note.started).as_secs_f64() * 1000.0;
    let bytes = bytes.map_or("-".to_string(), |b| b.to_string());
    log::info!(target: "sse_server::access", "{peer} \"{}\" {status} {bytes} {took:.2} ms", note.line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_heads_show_their_line() {
        let t = Instant::now();
        let long = format!("GET /{} HTTP/1.1", "a".repeat(9000));
        let table: [(&[u8], String); 10] = [
            (b"", "-".into()),
            (b"GET / HTTP/1.1", "-".into()),
            (b"\r\n", "-".into()),
            (b"\r\n\nBAD\x01 / HTTP/1.1\r\n", "BAD\\x01 / HTTP/1.1".into()),
            (b"\r\n\r\nGET / HTTP/1.1", "-".into()),
            (b"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1".into()),
            (b"GET / HTTP/1.1\nHost: t\n\n", "GET / HTTP/1.1".into()),
            (b"GET /\"\\ HTTP/1.1\r\n", "GET /\\x22\\x5c HTTP/1.1".into()),
            (b"\x16\x03\x01\x02\x00\n", "\\x16\\x03\\x01\\x02\\x00".into()),
            (long.as_bytes(), format!("GET /{}...", "a".repeat(MAX_LOGGED_LINE - 5))),
        ];
        for (head, want) in table {
            assert_eq!(Note::refused(head, t).line, want, "{:?}", String::from_utf8_lossy(head));
        }
    }
}
