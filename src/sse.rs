//! Pure pieces of the event-stream format that every stream kind shares:
//! the heartbeat, the full server's answer, the `Last-Event-ID` that
//! resumes a stream, and the last `retry:` of a stream the server ends,
//! wherever in a line or an event its bytes stopped (`Place`).
//!
//! Ids are `C-N`: C is the stream's connection number, N the event number in
//! that stream. A client that reconnects with `Last-Event-ID: C-N` resumes
//! connection C at event N+1, whichever sse-server process it reaches.

use crate::ascii::{parse_decimal, push_u64};

/// Sent on a stream that has been silent for `--heartbeat`: a comment line
/// and a blank line, which `EventSource` ignores and proxies see as traffic.
pub const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// `C-N` from a `Last-Event-ID` value; anything else starts a new stream.
pub fn parse_last_event_id(value: &[u8]) -> Option<(u64, u64)> {
    let dash = value.iter().position(|&b| b == b'-')?;
    let c = parse_decimal(value.get(..dash)?)?;
    let n = parse_decimal(value.get(dash + 1..)?)?;
    Some((c, n))
}

/// What a full server sends to an `EventSource` before it closes: a comment
/// that says why, and a `retry:` that spreads the reconnections out.
pub fn full_message(retry_ms: u64) -> Vec<u8> {
    retry_later("sse-server is full", retry_ms)
}

/// A stream that is only a comment saying `why`, then `retry:`: what an
/// `EventSource` is told when it cannot be served now (any answer but a
/// `200` stream would make it stop for good).
pub fn retry_later(why: &str, retry_ms: u64) -> Vec<u8> {
    let mut out = format!(": {why}, retry later\nretry: ").into_bytes();
    push_u64(&mut out, retry_ms);
    out.extend_from_slice(b"\n\n");
    out
}

/// Where a stream's bytes stand in the format: inside a line, inside an
/// event (lines since the last blank one), or between events. A CR and the
/// LF right after it, in the same write or the next, are one line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    in_line: bool,
    in_event: bool,
    after_cr: bool,
}

impl Place {
    /// The place after `bytes` more.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.in_event = self.in_line;
                    self.in_line = false;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.in_line = true;
                    self.after_cr = false;
                }
            }
        }
    }

    /// The bytes that end the stream here with `retry: ms`, so a client
    /// takes the retry and dispatches no event the stream did not finish:
    /// a line cut short is ended first, and inside an event no blank line
    /// follows (the unfinished event is dropped at the close).
    pub fn retry_ending(&self, ms: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        if self.in_line {
            out.push(b'\n');
        }
        out.extend_from_slice(b"retry: ");
        push_u64(&mut out, ms);
        out.push(b'\n');
        if !self.in_line && !self.in_event {
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_ends_a_stream_wherever_it_stopped() {
        // (bytes so far, in pieces; the ending)
        let table: [(&[&[u8]], &str); 8] = [
            (&[], "retry: 9\n\n"),
            (&[b"data: a\n\n"], "retry: 9\n\n"),
            (&[b"data: a\r\n\r\n"], "retry: 9\n\n"),
            (&[b"data: a\r", b"\n\r", b"\n"], "retry: 9\n\n"),
            (&[b"data: a\r\r"], "retry: 9\n\n"),
            (&[b"data: one\n\ndata: tw"], "\nretry: 9\n"),
            (&[b"data: one\n"], "retry: 9\n"),
            (&[b"data: one\r", b"\n"], "retry: 9\n"),
        ];
        for (pieces, want) in table {
            let mut p = Place::default();
            for piece in pieces {
                p.feed(piece);
            }
            assert_eq!(String::from_utf8(p.retry_ending(9)).unwrap(), want, "{pieces:?}");
        }
    }

    #[test]
    fn last_event_ids() {
        assert_eq!(parse_last_event_id(b"3-41"), Some((3, 41)));
        assert_eq!(parse_last_event_id(b"07-41"), Some((7, 41)));
        assert_eq!(parse_last_event_id(b"18446744073709551615-0"), Some((u64::MAX, 0)));
        for bad in [
            &b""[..],
            b"3",
            b"3-",
            b"-4",
            b"3-4-5",
            b"+3-4",
            b"3-+4",
            b"3--4",
            b"a-1",
            b"3041",
            b"18446744073709551616-1",
            b"1-18446744073709551616",
            b" 3-4",
        ] {
            assert_eq!(parse_last_event_id(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn full_message() {
        assert_eq!(super::full_message(1234), b": sse-server is full, retry later\nretry: 1234\n\n");
    }
}
