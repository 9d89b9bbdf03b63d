//! The access log (`--access-log`): one line per answer, at info, for the
//! target `sse_server::access`:
//!
//! ```text
//! 127.0.0.1:51234 "GET /events?count=2 HTTP/1.1" 200 - 0.04 ms
//! ```
//!
//! the client's address, the request line (`-` for a request refused
//! before it could be read), the status, the length of the body (`-` for an
//! event stream, whose length is its life), and the time from the request's
//! first byte to its answer. Nothing is built unless the log is on.

use std::net::SocketAddr;
use std::time::Instant;

use crate::http::{Request, Version};

/// What the line of one request says before it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    line: String,
    started: Instant,
}

impl Note {
    /// The request line of `req`, whose first byte came at `started`.
    pub fn of(req: &Request, started: Instant) -> Note {
        let target = match req.path {
            None => "*".to_string(),
            Some(p) if req.query.is_empty() => String::from_utf8_lossy(p).into_owned(),
            Some(p) => format!("{}?{}", String::from_utf8_lossy(p), String::from_utf8_lossy(req.query)),
        };
        let version = match req.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        Note { line: format!("{} {target} {version}", req.method.as_str()), started }
    }

    /// A request refused before its line could be read.
    pub fn refused(started: Instant) -> Note {
        Note { line: "-".to_string(), started }
    }
}

/// Logs the answer to `note`: `status`, and `bytes` of body (`None`: a stream).
pub fn log(peer: SocketAddr, note: &Note, status: u16, bytes: Option<u64>, now: Instant) {
    let took = now.saturating_duration_since(note.started).as_secs_f64() * 1000.0;
    let bytes = bytes.map_or("-".to_string(), |b| b.to_string());
    log::info!(target: "sse_server::access", "{peer} \"{}\" {status} {bytes} {took:.2} ms", note.line);
}
