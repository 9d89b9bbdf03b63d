//! Pure pieces of the event-stream format that every stream kind shares:
//! the heartbeat, the full server's answer, and the `Last-Event-ID` that
//! resumes a stream.
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
    let mut out = b": sse-server is full, retry later\nretry: ".to_vec();
    push_u64(&mut out, retry_ms);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
