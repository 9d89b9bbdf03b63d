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
pub mod script;
pub mod shaped;
pub mod subscription;

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::channel::Membership;

use crate::sse::{HEARTBEAT, Place};

/// Where a stream's events come from.
pub trait Source: fmt::Debug {
    /// When the next bytes are due; `None` while nothing is scheduled.
    fn due(&self) -> Option<Instant>;
    /// Appends what is due at `now` (at most one event, or one scripted
    /// write) for the stream of connection number `id`. Called only at or
    /// after `due()`.
    fn emit(&mut self, id: u64, now: Instant, out: &mut Vec<u8>) -> Emitted;
    /// Whether silence is filled with heartbeats (a scripted stream's bytes
    /// are exact, so it says no).
    fn heartbeats(&self) -> bool {
        true
    }
    /// Whether `emit` waits until the output is empty, so each of its
    /// writes leaves as a write of its own (scripted streams), rather than
    /// running on its clock whatever the client takes (the slow-consumer
    /// rule then applies).
    fn paced_by_output(&self) -> bool {
        false
    }
    /// Whether it has started over and only repeats what it sent (a
    /// scripted loop): its bytes from here on are known, and never end.
    fn looped(&self) -> bool {
        false
    }
    /// An event published to the stream's channel: appended to `out`, or
    /// kept until what came before it is out (then `emit` writes and
    /// counts it), or refused when the client is too far behind.
    fn push(&mut self, event: &Rc<[u8]>, out: &mut Vec<u8>) -> Pushed {
        out.extend_from_slice(event);
        Pushed::Written
    }
    /// The channel the stream listens to, if it does.
    fn membership(&self) -> Option<Membership> {
        None
    }
    /// Appends bytes the stream sends of its own accord (a heartbeat),
    /// framed as this source frames its own writes.
    fn write_extra(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
    }
    /// Where its bytes stand in the format (a source that writes only whole
    /// events is always between two).
    fn place(&self) -> Place {
        Place::default()
    }
    /// The server ends the stream cleanly: appends what closes the framing
    /// (the last chunk of a chunked body).
    fn close_framing(&mut self, _out: &mut Vec<u8>) {}
}

/// What became of an event pushed to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// In the output now: sent, as far as the stream is concerned.
    Written,
    /// Behind a replay still going out; `emit` writes it in its turn.
    Queued,
    /// The client is too far behind: a slow consumer.
    Slow,
}

/// What one `Source::emit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Emitted {
    pub events: u64,
    /// How the stream ends, once what was emitted is out.
    pub end: Option<End>,
}

/// How a source ends its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Its last event is sent: the server closes the connection cleanly.
    Finish,
    /// The connection is reset (RST) once what was emitted is out.
    Reset,
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
    /// What its response head says (`text/event-stream` and a body that
    /// ends at the close, unless knobs say otherwise).
    pub head: StreamHead,
    /// How its writes are cut and paced (knobs `split` and `pause`).
    pub pace: Option<crate::output::Pace>,
}

/// What a stream's response head says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHead {
    /// In place of `text/event-stream` (knob `content_type`).
    pub content_type: Option<String>,
    /// `Transfer-Encoding: chunked` (knob `te=chunked`).
    pub chunked: bool,
}

/// What one `Stream::tick` sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    pub events: u64,
    /// When the events sent were due (for `sse_event_lateness_seconds`).
    pub due: Option<Instant>,
    pub heartbeats: u64,
    pub end: Option<End>,
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

    /// The next event, or the heartbeat (`--heartbeat`) if that comes
    /// first. `drained`: the output is empty (a source paced by the output
    /// waits for that, and the loop asks again once it is).
    pub fn deadline(&self, heartbeat: Option<Duration>, drained: bool) -> Option<Instant> {
        let heartbeat = heartbeat.filter(|_| self.source.heartbeats());
        let beat = heartbeat.map(|h| self.last_sent + h);
        let due = self.source.due().filter(|_| drained || !self.source.paced_by_output());
        match (due, beat) {
            (Some(d), Some(b)) => Some(d.min(b)),
            (d, b) => d.or(b),
        }
    }

    /// An event published to its channel, at `now`.
    pub fn push(&mut self, event: &Rc<[u8]>, now: Instant, out: &mut Vec<u8>) -> Pushed {
        self.last_sent = now;
        self.source.push(event, out)
    }

    /// Ends the stream with `retry: ms` (a shutdown), wherever its bytes
    /// stopped, framed as the stream frames its writes, and closes the
    /// framing.
    pub fn end_with_retry(&mut self, ms: u64, out: &mut Vec<u8>) {
        let ending = self.source.place().retry_ending(ms);
        self.source.write_extra(&ending, out);
        self.source.close_framing(out);
    }

    /// The channel it listens to, if it does.
    pub fn membership(&self) -> Option<Membership> {
        self.source.membership()
    }

    /// Whether it writes only once its output is empty, and nothing is
    /// pushed into it (a scripted stream): it cannot fall behind, so a
    /// long write still going out is not a slow consumer.
    pub fn writes_only_when_drained(&self) -> bool {
        self.source.paced_by_output() && self.source.membership().is_none()
    }

    /// Appends to `out` what is due at `now`: the next event, or else a
    /// heartbeat, or nothing (an early or spurious wake-up).
    pub fn tick(&mut self, now: Instant, heartbeat: Option<Duration>, out: &mut Vec<u8>) -> Tick {
        let drained = out.is_empty();
        let due = self.source.due();
        if due.is_some_and(|d| now >= d) && (drained || !self.source.paced_by_output()) {
            let e = self.source.emit(self.id, now, out);
            if e.events > 0 || e.end.is_some() {
                self.last_sent = now;
            }
            return Tick { events: e.events, due, heartbeats: 0, end: e.end };
        }
        let heartbeat = heartbeat.filter(|_| self.source.heartbeats());
        if heartbeat.is_some_and(|h| now >= self.last_sent + h) {
            self.source.write_extra(HEARTBEAT, out);
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
        assert_eq!(s.deadline(hb, true), Some(t0 + 1000 * MS));
        assert_eq!(s.tick(t0 + 1000 * MS, hb, &mut out).heartbeats, 1);
        assert_eq!(out, HEARTBEAT);
        assert_eq!(s.deadline(hb, true), Some(t0 + 2000 * MS));
        out.clear();
        assert_eq!(s.tick(t0 + 2000 * MS, hb, &mut out).heartbeats, 1);
        assert_eq!(s.tick(t0 + 2500 * MS, hb, &mut out).events, 1);
        // An event resets the silence: the next heartbeat is 1 s after it.
        assert_eq!(s.deadline(hb, true), Some(t0 + 3500 * MS));
        // A stream with frequent events never gets a heartbeat.
        let mut fast = Stream::new(2, demo(100, t0), t0);
        for n in 1..=100u32 {
            assert_eq!(fast.deadline(hb, true), Some(t0 + 100 * MS * n));
            let due = Some(t0 + 100 * MS * n);
            assert_eq!(fast.tick(t0 + 100 * MS * n, hb, &mut out), Tick { events: 1, due, ..Tick::default() });
        }
    }

    #[test]
    fn without_heartbeats_only_events_are_due() {
        let t0 = Instant::now();
        let hb = None;
        let mut s = Stream::new(1, demo(2500, t0), t0);
        assert_eq!(s.deadline(hb, true), Some(t0 + 2500 * MS));
        let mut out = Vec::new();
        // Woken early: nothing.
        assert_eq!(s.tick(t0 + 2000 * MS, hb, &mut out), Tick::default());
        assert!(out.is_empty());
    }
}
