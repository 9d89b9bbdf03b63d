//! Pure event-stream pieces: the bytes of an event and of a heartbeat, the
//! `/events` query parameters, and the `Last-Event-ID` that resumes a stream.
//!
//! Ids are `C-N`: C is the stream's connection number, N the event number in
//! that stream. A client that reconnects with `Last-Event-ID: C-N` resumes
//! connection C at event N+1, whichever sse-server process it reaches.

use std::time::Duration;

use crate::config::{MAX_EVENT_SIZE, MAX_INTERVAL_MS};

/// The event name of the original demo.
pub const EVENT_NAME: &str = "my-custom-event";
/// Sent on a stream that has been silent for `--heartbeat`: a comment line
/// and a blank line, which `EventSource` ignores and proxies see as traffic.
pub const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// Decimal digits only: no sign, no spaces, not empty, within `u64`.
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// `C-N` from a `Last-Event-ID` value; anything else starts a new stream.
pub fn parse_last_event_id(value: &[u8]) -> Option<(u64, u64)> {
    let dash = value.iter().position(|&b| b == b'-')?;
    let c = parse_decimal(&value[..dash])?;
    let n = parse_decimal(&value[dash + 1..])?;
    Some((c, n))
}

/// The knobs a client may set on its own stream with the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamParams {
    /// `interval=MS`, 1 to 3,600,000: this stream's interval.
    pub interval: Option<Duration>,
    /// `count=N`, 1 or more: the stream ends after event N.
    pub count: Option<u64>,
    /// `size=BYTES`, 0 to 65,536: each event's data is padded to this size.
    pub size: usize,
}

/// Reads the known parameters of a `/events` query; unknown ones are
/// ignored. The error names the parameter and what it takes.
pub fn parse_query(query: &[u8]) -> Result<StreamParams, &'static str> {
    let mut p = StreamParams::default();
    let (mut seen_interval, mut seen_count, mut seen_size) = (false, false, false);
    for pair in query.split(|&b| b == b'&') {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
            None => (pair, None),
        };
        let number = |min: u64, max: u64| value.and_then(parse_decimal).filter(|n| (min..=max).contains(n));
        match key {
            b"interval" => {
                let ms = number(1, MAX_INTERVAL_MS).filter(|_| !seen_interval);
                let ms =
                    ms.ok_or("bad value for query parameter interval: expected one whole number from 1 to 3600000")?;
                p.interval = Some(Duration::from_millis(ms));
                seen_interval = true;
            }
            b"count" => {
                let n = number(1, u64::MAX).filter(|_| !seen_count);
                p.count =
                    Some(n.ok_or("bad value for query parameter count: expected one whole number of at least 1")?);
                seen_count = true;
            }
            b"size" => {
                let n = number(0, MAX_EVENT_SIZE as u64).filter(|_| !seen_size);
                p.size =
                    n.ok_or("bad value for query parameter size: expected one whole number from 0 to 65536")? as usize;
                seen_size = true;
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Appends event `n` of connection `c` to `out`, exactly:
///
/// ```text
/// event: my-custom-event
/// id: C-N
/// data: Server says hi! (event #N of connection #C)
///
/// ```
///
/// With `size` larger than the data, the data is followed by one space and
/// as many `.` as make it `size` bytes long.
pub fn write_event(out: &mut Vec<u8>, c: u64, n: u64, size: usize) {
    out.extend_from_slice(b"event: my-custom-event\nid: ");
    push_u64(out, c);
    out.push(b'-');
    push_u64(out, n);
    out.extend_from_slice(b"\ndata: ");
    let data_start = out.len();
    out.extend_from_slice(b"Server says hi! (event #");
    push_u64(out, n);
    out.extend_from_slice(b" of connection #");
    push_u64(out, c);
    out.push(b')');
    let len = out.len() - data_start;
    if size > len {
        out.push(b' ');
        out.resize(data_start + size, b'.');
    }
    out.extend_from_slice(b"\n\n");
}

/// What a full server sends to an `EventSource` before it closes: a comment
/// that says why, and a `retry:` that spreads the reconnections out.
pub fn write_full(out: &mut Vec<u8>, retry_ms: u64) {
    out.extend_from_slice(b": sse-server is full, retry later\nretry: ");
    push_u64(out, retry_ms);
    out.extend_from_slice(b"\n\n");
}

/// Appends the decimal digits of `n` (what `write!` would, without the
/// formatting machinery, on the path of every event).
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(c: u64, n: u64, size: usize) -> String {
        let mut out = Vec::new();
        write_event(&mut out, c, n, size);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn event_bytes_are_exact() {
        assert_eq!(
            event(1, 1, 0),
            "event: my-custom-event\nid: 1-1\ndata: Server says hi! (event #1 of connection #1)\n\n"
        );
        assert_eq!(
            event(18446744073709551615, 1000, 0),
            "event: my-custom-event\nid: 18446744073709551615-1000\n\
             data: Server says hi! (event #1000 of connection #18446744073709551615)\n\n"
        );
    }

    #[test]
    fn padding_reaches_the_size() {
        let plain = "Server says hi! (event #1 of connection #1)";
        assert_eq!(event(1, 1, 10), event(1, 1, 0));
        assert_eq!(event(1, 1, plain.len()), event(1, 1, 0));
        let padded = event(1, 1, 100);
        let data = padded.lines().nth(2).unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(data.len(), 100);
        assert_eq!(data, format!("{plain} {}", ".".repeat(100 - plain.len() - 1)));
        let data = event(1, 1, plain.len() + 1);
        assert!(data.contains(&format!("{plain} \n\n")));
        let big = event(7, 9, MAX_EVENT_SIZE);
        assert_eq!(big.lines().nth(2).unwrap().len(), "data: ".len() + MAX_EVENT_SIZE);
    }

    #[test]
    fn decimals_are_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"+1", b"-1", b" 1", b"1 ", b"0x5", b"18446744073709551616", b"1.0"] {
            assert_eq!(parse_decimal(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn last_event_ids() {
        assert_eq!(parse_last_event_id(b"3-41"), Some((3, 41)));
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
    fn queries() {
        let p = parse_query(b"interval=10&count=2&size=100&x=y&flag").unwrap();
        assert_eq!(p.interval, Some(Duration::from_millis(10)));
        assert_eq!(p.count, Some(2));
        assert_eq!(p.size, 100);
        assert_eq!(parse_query(b""), Ok(StreamParams::default()));
        for (bad, name) in [
            (&b"interval=0"[..], "interval"),
            (b"interval=3600001", "interval"),
            (b"interval=", "interval"),
            (b"interval", "interval"),
            (b"interval=1&interval=2", "interval"),
            (b"count=0", "count"),
            (b"count=-1", "count"),
            (b"count=%31", "count"),
            (b"size=65537", "size"),
            (b"size=x", "size"),
        ] {
            let e = parse_query(bad).unwrap_err();
            assert!(e.contains(name), "{}: {e}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn full_message() {
        let mut out = Vec::new();
        write_full(&mut out, 1234);
        assert_eq!(out, b": sse-server is full, retry later\nretry: 1234\n\n");
    }
}
