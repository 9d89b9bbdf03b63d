//! What one `EventSource` session keeps and records: one parser for the
//! whole session (its last event ID and reconnection time carry over from
//! one connection to the next, as `sse_server::eventsource::Session` says),
//! every event dispatched, the connections made, and when the current
//! connection last showed life (for `--open-ms`). Pure: the time is a
//! parameter, so tests drive the clock.
//!
//! What always holds: memory is bounded. The parser keeps sse-bench's
//! named line and data limits (`sse::MAX_LINE`, `sse::MAX_DATA`), and the
//! events recorded take at most `MAX_RECORDED` bytes; a server that goes
//! past either gets a `Stop`, never more memory.

use std::fmt;
use std::time::{Duration, Instant};

use sse_server::eventsource::{Item, LimitError, Limits, Parser};
use sse_server::scenario::Expected;

use crate::sse::{MAX_DATA, MAX_LINE};

/// Bytes of recorded events at most: their type, data and id, plus
/// `PER_EVENT` each for the record itself. 10,000 small events take 1 MB.
pub const MAX_RECORDED: usize = 16 * 1024 * 1024;
const PER_EVENT: usize = 96;

/// Why a body cannot be read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The server went past the parser's limits: the connection ends, as
    /// on a read error.
    Limit(LimitError),
    /// `MAX_RECORDED` is reached: the session ends where it is.
    Full,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Limit(e) => e.fmt(f),
            Stop::Full => write!(f, "more than {MAX_RECORDED} bytes of events recorded"),
        }
    }
}

/// How the session ended, for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The last connection stays open.
    Open,
    /// The last body ended: the client would connect again.
    Reconnect,
    /// The client failed the connection.
    Fail,
}

#[derive(Debug)]
pub struct Recorder {
    parser: Parser,
    seen: Expected,
    recorded: usize,
    /// When the current connection started, or last dispatched an event.
    quiet_since: Instant,
}

impl Recorder {
    pub fn new(now: Instant) -> Recorder {
        Recorder {
            parser: Parser::new(Limits { line: MAX_LINE, data: MAX_DATA }),
            seen: Expected::recording(),
            recorded: 0,
            quiet_since: now,
        }
    }

    /// The `Last-Event-ID` of the next request, if any.
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.session().last_event_id_header()
    }

    pub fn connections(&self) -> usize {
        self.seen.connections
    }

    /// A connection attempt starts at `now` (redirects are within it).
    pub fn connecting(&mut self, now: Instant) {
        self.seen.connections += 1;
        self.quiet_since = now;
    }

    /// When the current connection counts as staying open, if no event
    /// comes before.
    pub fn open_at(&self, open: Duration) -> Option<Instant> {
        self.quiet_since.checked_add(open)
    }

    /// Body bytes that arrived at `now`; how many events they dispatched.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<usize, Stop> {
        let (seen, recorded) = (&mut self.seen, &mut self.recorded);
        let mut dispatched = 0;
        let mut full = false;
        self.parser
            .feed(bytes, &mut |item| {
                let Item::Event(e) = item else { return };
                dispatched += 1;
                let size = PER_EVENT + e.event_type.len() + e.data.len() + e.last_event_id.len();
                if full || *recorded + size > MAX_RECORDED {
                    full = true;
                    return;
                }
                *recorded += size;
                seen.record(&e);
            })
            .map_err(Stop::Limit)?;
        if dispatched > 0 {
            self.quiet_since = now;
        }
        if full { Err(Stop::Full) } else { Ok(dispatched) }
    }

    /// The body ended (closed, reset, broken or given up): what was not
    /// dispatched is dropped, the session stays.
    pub fn body_ended(&mut self) {
        self.parser.finish();
    }

    /// How long to wait before the next connection: the stream's
    /// reconnection time, else `default`.
    pub fn reconnection_time(&self, default: Duration) -> Duration {
        self.parser.session().reconnection_time_ms().map_or(default, Duration::from_millis)
    }

    /// What the session made of it all, as `/expected` says it.
    pub fn finish(mut self, end: End) -> Expected {
        self.seen.retry = self.parser.session().reconnection_time_ms();
        match end {
            End::Open => self.seen.stays_open(),
            End::Fail => self.seen.fails(),
            End::Reconnect => {}
        }
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: &Expected) -> String {
        let mut out = Vec::new();
        e.to_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_session_across_connections() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Recorder::new(t0);
        assert_eq!(
            json(&Recorder::new(t0).finish(End::Reconnect)),
            "{\"events\":[],\n\"retry\":null,\"end\":\"reconnect\",\"connections\":0}\n"
        );
        r.connecting(t0);
        assert_eq!((r.last_event_id(), r.reconnection_time(ms(100))), (None, ms(100)));
        assert_eq!(r.feed(b"retry: 200\nid: 42\ndata: fir", t0 + ms(5)), Ok(0));
        assert_eq!(r.open_at(ms(50)), Some(t0 + ms(50)), "no event yet: the connection's start counts");
        assert_eq!(r.feed(b"st\n\n: comment\n\nid: 43\ndata: half", t0 + ms(10)), Ok(1));
        assert_eq!(r.open_at(ms(50)), Some(t0 + ms(60)), "an event counts, a comment does not");
        r.body_ended();
        // The half event and its id are dropped; the session keeps 42 and 200.
        assert_eq!((r.last_event_id(), r.reconnection_time(ms(100))), (Some("42"), ms(200)));
        r.connecting(t0 + ms(300));
        assert_eq!(r.open_at(ms(50)), Some(t0 + ms(350)));
        assert_eq!(r.feed(b"\xef\xbb\xbfdata: 42\n\n", t0 + ms(301)), Ok(1), "each body may start with a BOM");
        r.body_ended();
        assert_eq!(r.connections(), 2);
        let want = "{\"events\":[\n{\"type\":\"message\",\"data\":\"first\",\"id\":\"42\"},\n\
                    {\"type\":\"message\",\"data\":\"42\",\"id\":\"42\"}],\n\"retry\":200,\"end\":\"reconnect\",\"connections\":2}\n";
        assert_eq!(json(&r.finish(End::Reconnect)), want);
    }

    #[test]
    fn ends() {
        let t0 = Instant::now();
        for (end, word) in [(End::Open, "open"), (End::Reconnect, "reconnect"), (End::Fail, "fail")] {
            let mut r = Recorder::new(t0);
            r.connecting(t0);
            assert!(json(&r.finish(end)).ends_with(&format!("\"end\":\"{word}\",\"connections\":1}}\n")));
        }
    }

    #[test]
    fn parser_limits_stop_the_body() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0);
        assert_eq!(r.feed(&vec![b'x'; MAX_LINE + 1], t0), Err(Stop::Limit(LimitError::LineTooLong)));
        r.body_ended();
        let data = format!("data: {}\n", "x".repeat(MAX_DATA));
        assert_eq!(r.feed(data.as_bytes(), t0), Err(Stop::Limit(LimitError::DataTooLong)));
        r.body_ended();
        assert_eq!(r.feed(b"data: after\n\n", t0), Ok(1));
    }

    #[test]
    fn recording_is_bounded_exactly() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0);
        // Events of 60,000 data bytes: PER_EVENT + 60,000 + 7 ("message") each.
        let event = format!("data: {}\n\n", "x".repeat(60_000));
        let each = PER_EVENT + 60_000 + 7;
        let fits = MAX_RECORDED / each;
        assert_eq!(r.feed(event.repeat(fits).as_bytes(), t0), Ok(fits));
        assert_eq!(r.feed(event.as_bytes(), t0), Err(Stop::Full));
        assert_eq!(r.finish(End::Open).events.len(), fits);
    }
}
