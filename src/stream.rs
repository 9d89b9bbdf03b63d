//! One event stream: which client it is (its connection number), where its
//! bytes come from (a `Source`), and its heartbeats.
//!
//! A `Source` is one kind of stream. It says when its next bytes are due
//! and appends them when asked; it knows nothing of sockets, of the loop or
//! of the connection, and time is a parameter, so tests drive the clock.
//! The demo's timer events are one kind (`demo`). Adding a kind is adding
//! a file here with a type that implements `Source`, and a route that
//! starts it (`Body::Stream` in `response`); the loop and the connection
//! do not change.
//!
//! What always holds: `tick` appends at most one event or one heartbeat,
//! and the loop calls it at most once per turn for a stream, so a stream
//! that fell behind catches up one event at a time, never in a burst.

pub mod demo;

use std::fmt;
use std::time::{Duration, Instant};

use crate::sse::HEARTBEAT;

/// Where a stream's events come from.
pub trait Source: fmt::Debug {
    /// When the next bytes are due; `None` while nothing is scheduled.
    fn due(&self) -> Option<Instant>;
    /// Appends what is due at `now` (at most one event) for the stream of
    /// connection number `id`. Called only at or after `due()`.
    fn emit(&mut self, id: u64, now: Instant, out: &mut Vec<u8>) -> Emitted;
}

/// What one `Source::emit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Emitted {
    pub events: u64,
    /// The source has sent its last event: the stream ends once it is out.
    pub finished: bool,
}

/// Who the client of a new stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// A new client; the `Last-Event-ID` it sent, if any, for the log.
    New { last_event_id: Option<String> },
    /// A client resuming connection `id` after event `seen`.
    Resumed { id: u64, seen: u64 },
}

/// A stream the route has decided to start; `streams::Streams::start`
/// gives it its number and makes it a `Stream`.
#[derive(Debug)]
pub struct StreamStart {
    pub source: Box<dyn Source>,
    pub client: Client,
}

/// What one `Stream::tick` sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    pub events: u64,
    pub heartbeats: u64,
    pub finished: bool,
}

#[derive(Debug)]
pub struct Stream {
    /// The connection number C of the ids `C-N`.
    pub id: u64,
    source: Box<dyn Source>,
    last_sent: Instant,
}

impl Stream {
    pub fn new(id: u64, source: Box<dyn Source>, now: Instant) -> Stream {
        Stream { id, source, last_sent: now }
    }

    /// The next event, or the heartbeat (`--heartbeat`) if that comes first.
    pub fn deadline(&self, heartbeat: Option<Duration>) -> Option<Instant> {
        let beat = heartbeat.map(|h| self.last_sent + h);
        match (self.source.due(), beat) {
            (Some(d), Some(b)) => Some(d.min(b)),
            (d, b) => d.or(b),
        }
    }

    /// Appends to `out` what is due at `now`: the next event, or else a
    /// heartbeat, or nothing (an early or spurious wake-up).
    pub fn tick(&mut self, now: Instant, heartbeat: Option<Duration>, out: &mut Vec<u8>) -> Tick {
        if self.source.due().is_some_and(|d| now >= d) {
            let e = self.source.emit(self.id, now, out);
            if e.events > 0 {
                self.last_sent = now;
            }
            return Tick { events: e.events, heartbeats: 0, finished: e.finished };
        }
        if heartbeat.is_some_and(|h| now >= self.last_sent + h) {
            out.extend_from_slice(HEARTBEAT);
            self.last_sent = now;
            return Tick { heartbeats: 1, ..Tick::default() };
        }
        Tick::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::demo::{Demo, DemoParams};

    const MS: Duration = Duration::from_millis(1);

    fn demo(interval: u32, t0: Instant) -> Box<dyn Source> {
        Box::new(Demo::new(0, &DemoParams { interval: Some(interval * MS), count: None, size: 0 }, 2500 * MS, t0))
    }

    #[test]
    fn heartbeats_only_on_silent_streams() {
        let t0 = Instant::now();
        let hb = Some(1000 * MS);
        let mut s = Stream::new(1, demo(2500, t0), t0);
        let mut out = Vec::new();
        assert_eq!(s.deadline(hb), Some(t0 + 1000 * MS));
        assert_eq!(s.tick(t0 + 1000 * MS, hb, &mut out).heartbeats, 1);
        assert_eq!(out, HEARTBEAT);
        assert_eq!(s.deadline(hb), Some(t0 + 2000 * MS));
        out.clear();
        assert_eq!(s.tick(t0 + 2000 * MS, hb, &mut out).heartbeats, 1);
        assert_eq!(s.tick(t0 + 2500 * MS, hb, &mut out).events, 1);
        // An event resets the silence: the next heartbeat is 1 s after it.
        assert_eq!(s.deadline(hb), Some(t0 + 3500 * MS));
        // A stream with frequent events never gets a heartbeat.
        let mut fast = Stream::new(2, demo(100, t0), t0);
        for n in 1..=100u32 {
            assert_eq!(fast.deadline(hb), Some(t0 + 100 * MS * n));
            assert_eq!(fast.tick(t0 + 100 * MS * n, hb, &mut out), Tick { events: 1, ..Tick::default() });
        }
    }

    #[test]
    fn without_heartbeats_only_events_are_due() {
        let t0 = Instant::now();
        let hb = None;
        let mut s = Stream::new(1, demo(2500, t0), t0);
        assert_eq!(s.deadline(hb), Some(t0 + 2500 * MS));
        let mut out = Vec::new();
        // Woken early: nothing.
        assert_eq!(s.tick(t0 + 2000 * MS, hb, &mut out), Tick::default());
        assert!(out.is_empty());
    }
}
