//! The demo's stream kind: "Server says hi!" on a timer, numbered so that
//! a client resumes with no gap and no repeat (`GET /events`).
//!
//! Event N of a stream is due at `start + (N - seen) × interval`: each due
//! time is the last one plus the interval, never the time it was actually
//! sent, so lateness never accumulates (fixed rate).
//! The knobs a client sets in the query (`interval`, `count`, `size`) are
//! read here too.

use std::time::{Duration, Instant};

use super::{Emitted, End, Source};
use crate::ascii::{parse_decimal, push_u64};
use crate::config::{MAX_EVENT_SIZE, MAX_INTERVAL_MS};

/// The knobs a client may set on its own stream with the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoParams {
    /// `interval=MS`, 1 to 3,600,000: this stream's interval.
    pub interval: Option<Duration>,
    /// `count=N`, 1 or more: the stream ends after event N.
    pub count: Option<u64>,
    /// `size=BYTES`, 0 to 65,536: each event's data is padded to this size.
    pub size: usize,
}

/// Reads the known parameters of a `/events` query; unknown ones are
/// ignored. The error names the parameter and what it takes.
pub fn parse_query(query: &[u8]) -> Result<DemoParams, &'static str> {
    let mut p = DemoParams::default();
    let (mut seen_interval, mut seen_count, mut seen_size) = (false, false, false);
    for (key, value) in crate::uri::query_pairs(query) {
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

/// A demo stream: 40 bytes, held by every open `/events` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demo {
    /// The number N of the next event.
    next: u64,
    /// The last event: `count`, or 2^64-1 (the last there can be).
    last: u64,
    interval_ms: u32,
    size: u32,
    /// When event `next` is due; `None` once the last event is sent. Each
    /// event's time is the one before plus the interval, in exact integer
    /// nanoseconds: `start + N × interval`, with no drift (fixed rate).
    next_due: Option<Instant>,
}

impl Demo {
    /// A stream whose client has seen events up to `seen` (0 for a new
    /// client), started at `now`.
    pub fn new(seen: u64, params: &DemoParams, default_interval: Duration, now: Instant) -> Demo {
        let interval = params.interval.unwrap_or(default_interval);
        let interval_ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
        let next_due = if seen == u64::MAX { None } else { now.checked_add(interval) };
        Demo {
            next: seen.saturating_add(1),
            last: params.count.unwrap_or(u64::MAX),
            interval_ms,
            size: params.size as u32,
            next_due,
        }
    }
}

impl Source for Demo {
    fn due(&self) -> Option<Instant> {
        self.next_due
    }

    fn emit(&mut self, id: u64, _now: Instant, out: &mut Vec<u8>) -> Emitted {
        let Some(due) = self.next_due else { return Emitted::default() };
        write_event(out, id, self.next, self.size as usize);
        // Event 2^64-1 is the last there can be: the stream ends there as
        // if its count were reached (else `next` could not move on).
        if self.next >= self.last {
            self.next_due = None;
            return Emitted { events: 1, end: Some(End::Finish) };
        }
        self.next += 1;
        // Past what an `Instant` holds, the next event never comes.
        self.next_due = due.checked_add(Duration::from_millis(u64::from(self.interval_ms)));
        Emitted { events: 1, end: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn params(interval: u32, count: Option<u64>) -> DemoParams {
        DemoParams { interval: Some(interval * MS), count, size: 0 }
    }

    fn event(c: u64, n: u64, size: usize) -> String {
        let mut out = Vec::new();
        write_event(&mut out, c, n, size);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fixed_rate_without_drift() {
        let t0 = Instant::now();
        let mut s = Demo::new(0, &params(100, None), 2500 * MS, t0);
        let mut out = Vec::new();
        // Woken 30 ms late every time: the schedule stays on the grid.
        for n in 1..=50u32 {
            assert_eq!(s.due(), Some(t0 + 100 * MS * n));
            let late = t0 + 100 * MS * n + 30 * MS;
            assert_eq!(s.emit(4, late, &mut out), Emitted { events: 1, end: None });
        }
        assert_eq!(s.due(), Some(t0 + 100 * MS * 51));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("id: 4-50\ndata: Server says hi! (event #50 of connection #4)\n\n")
        );
    }

    #[test]
    fn overdue_streams_send_one_event_per_emit() {
        let t0 = Instant::now();
        let mut s = Demo::new(0, &params(10, None), 2500 * MS, t0);
        let mut out = Vec::new();
        s.emit(1, t0 + 1000 * MS, &mut out);
        assert_eq!(out, event(1, 1, 0).into_bytes());
        assert_eq!(s.next, 2);
        assert!(s.due().unwrap() < t0 + 1000 * MS);
    }

    #[test]
    fn resumed_streams_continue_after_the_last_id() {
        let t0 = Instant::now();
        let s = Demo::new(41, &params(100, Some(43)), 2500 * MS, t0);
        assert_eq!((s.next, s.last), (42, 43));
        assert_eq!(s.due(), Some(t0 + 100 * MS));
    }

    #[test]
    fn count_finishes_the_stream() {
        let t0 = Instant::now();
        let mut s = Demo::new(0, &params(10, Some(2)), 2500 * MS, t0);
        let mut out = Vec::new();
        assert_eq!(s.emit(1, t0 + 10 * MS, &mut out).end, None);
        assert_eq!(s.emit(1, t0 + 20 * MS, &mut out).end, Some(End::Finish));
        assert_eq!(s.due(), None);
    }

    #[test]
    fn huge_schedules_do_not_overflow() {
        let t0 = Instant::now();
        let s = Demo::new(u64::MAX - 1, &params(3_600_000, None), 2500 * MS, t0);
        assert_eq!(s.due(), Some(t0 + 3_600_000 * MS));
        // The last possible event ends the stream; after it, nothing is due.
        let mut s = s;
        let mut out = Vec::new();
        assert_eq!(s.emit(1, t0, &mut out), Emitted { events: 1, end: Some(End::Finish) });
        assert_eq!(s.due(), None);
        assert_eq!(s.emit(1, t0, &mut out), Emitted::default());
        // A client that saw that last event has nothing to come.
        assert_eq!(Demo::new(u64::MAX, &params(10, None), 2500 * MS, t0).due(), None);
        assert_eq!(std::mem::size_of::<Demo>(), 40);
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
    fn queries() {
        let p = parse_query(b"interval=10&count=2&size=100&x=y&flag").unwrap();
        assert_eq!(p.interval, Some(Duration::from_millis(10)));
        assert_eq!(p.count, Some(2));
        assert_eq!(p.size, 100);
        assert_eq!(parse_query(b""), Ok(DemoParams::default()));
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
}
