//! One stream, client side: connect, send the request, read the response
//! head, then decode the body and parse the event stream in it.
//!
//! `drive` is called on every readiness event of the connection (spurious
//! ones included) and advances as far as the socket allows, draining reads
//! to `WouldBlock` since mio is edge-triggered. It returns a verdict: `None`
//! while the stream lives, or how it ended; only the loop removes it. Peer
//! bytes go through bounded parsers only (head `MAX_HEAD`, line and data
//! `sse::MAX_*`), so memory per connection is bounded.

use std::fmt;
use std::io::{self, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use sse_server::eventsource::LimitError;

use crate::chunked::{self, ChunkError};
use crate::net;
use crate::response::{self, Framing, HeadError, MAX_HEAD};
use crate::sse;
use crate::stats::Stats;

/// How a connection ended, when it ended before the run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It never became a stream (no `200` event-stream head).
    Failed(Cause),
    /// The server ended the stream: a close, or the end of a framed body.
    EarlyClose,
    /// The stream broke: a read error or a malformed body.
    Error(Cause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The OS error number when there is one: `ErrorKind` alone says
    /// "uncategorized" for some that matter here, such as EMFILE.
    Io(Option<i32>, io::ErrorKind),
    Head(HeadError),
    ClosedBeforeHead,
    Chunk(ChunkError),
    Sse(LimitError),
}

impl From<io::Error> for Cause {
    fn from(e: io::Error) -> Cause {
        Cause::Io(e.raw_os_error(), e.kind())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Io(Some(code), _) => io::Error::from_raw_os_error(*code).fmt(f),
            Cause::Io(None, kind) => kind.fmt(f),
            Cause::Head(e) => e.fmt(f),
            Cause::ClosedBeforeHead => f.write_str("closed before the response head"),
            Cause::Chunk(e) => e.fmt(f),
            Cause::Sse(e) => e.fmt(f),
        }
    }
}

/// What a connection needs from the loop for one call.
pub struct Ctx<'a> {
    pub now: Instant,
    /// `now` in microseconds since the run started.
    pub arrival_us: u64,
    /// The wall clock when the poll returned, in ns since the Unix epoch:
    /// the kernel stamps received bytes on that clock, so the loop delay
    /// is measured on it alone (a step of the clock moves both).
    pub poll_wall_ns: u128,
    pub interval_us: u64,
    pub request: &'a [u8],
    pub registry: &'a Registry,
    pub stats: &'a mut Stats,
}

enum State {
    /// connect() in progress; the outcome shows when the socket is writable.
    Connecting,
    Requesting {
        written: usize,
    },
    ReadingHead,
    Streaming(Body),
}

enum Body {
    UntilClose,
    Length(u64),
    Chunked(chunked::Decoder),
}

pub struct Conn {
    pub stream: TcpStream,
    token: Token,
    state: State,
    started: Instant,
    /// The response head so far; emptied (and freed) once it is complete.
    head: Vec<u8>,
    /// The body's events, once it is a stream.
    events: sse::Reader,
}

impl Conn {
    /// A connection whose connect() was called at `started`, registered for
    /// reading and writing under `token`; `events` reads its body.
    pub fn new(stream: TcpStream, token: Token, started: Instant, events: sse::Reader) -> Conn {
        Conn { stream, token, state: State::Connecting, started, head: Vec::new(), events }
    }

    /// Stamped events delivered to this stream (`--publish`).
    pub fn delivered(&self) -> u64 {
        self.events.delivered()
    }

    /// The number of the last event this stream received, if any.
    pub fn last_event(&self) -> Option<u64> {
        self.events.last_number()
    }

    pub fn is_streaming(&self) -> bool {
        matches!(self.state, State::Streaming(_))
    }

    /// Advances as far as the socket allows; `buf` is scratch space for reads.
    pub fn drive(&mut self, buf: &mut [u8], ctx: &mut Ctx<'_>) -> Option<End> {
        loop {
            match self.state {
                State::Connecting => {
                    match self.stream.take_error() {
                        Ok(None) => {}
                        Ok(Some(e)) | Err(e) => return Some(End::Failed(e.into())),
                    }
                    match self.stream.peer_addr() {
                        Ok(_) => self.state = State::Requesting { written: 0 },
                        // Not connected yet: a spurious wake-up.
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                        Err(e) => return Some(End::Failed(e.into())),
                    }
                }
                State::Requesting { written } => {
                    let rest = ctx.request.get(written..).unwrap_or_default();
                    if rest.is_empty() {
                        // Writable interest only while there is output.
                        if let Err(e) = ctx.registry.reregister(&mut self.stream, self.token, Interest::READABLE) {
                            return Some(End::Failed(e.into()));
                        }
                        self.state = State::ReadingHead;
                        continue;
                    }
                    match self.stream.write(rest) {
                        Ok(0) => {
                            return Some(End::Failed(Cause::Io(None, io::ErrorKind::WriteZero)));
                        }
                        Ok(n) => self.state = State::Requesting { written: written + n },
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Some(End::Failed(e.into())),
                    }
                }
                State::ReadingHead | State::Streaming(_) => return self.read_all(buf, ctx),
            }
        }
    }

    fn read_all(&mut self, buf: &mut [u8], ctx: &mut Ctx<'_>) -> Option<End> {
        loop {
            match net::recv_stamped(&self.stream, buf) {
                Ok((0, _)) if self.is_streaming() => return Some(End::EarlyClose),
                Ok((0, _)) => return Some(End::Failed(Cause::ClosedBeforeHead)),
                Ok((n, stamp)) => {
                    ctx.stats.bytes += n as u64;
                    if let Some(wall) = stamp.filter(|_| self.is_streaming()) {
                        // From the kernel's receipt to the poll's return.
                        let delay_us = (ctx.poll_wall_ns.saturating_sub(wall) / 1000) as u64;
                        ctx.stats.loop_delay_us.record(delay_us);
                    }
                    let end = self.on_bytes(buf.get(..n).unwrap_or_default(), ctx);
                    if end.is_some() {
                        return end;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.is_streaming() => return Some(End::Error(e.into())),
                Err(e) => return Some(End::Failed(e.into())),
            }
        }
    }

    fn on_bytes(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) -> Option<End> {
        if !matches!(self.state, State::ReadingHead) {
            return self.on_body(bytes, ctx);
        }
        // Take no more than the head may hold: what follows the head in
        // `bytes` is body, handed on below without being copied.
        let room = MAX_HEAD.saturating_sub(self.head.len());
        let (taken, after) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(taken);
        let (len, framing) = match response::parse(&self.head) {
            Ok(Some(done)) => done,
            Ok(None) => return None,
            Err(e) => return Some(End::Failed(Cause::Head(e))),
        };
        ctx.stats.connected += 1;
        ctx.stats.open += 1;
        let connect_us = ctx.now.saturating_duration_since(self.started).as_micros();
        ctx.stats.connect_us.record(u64::try_from(connect_us).unwrap_or(u64::MAX));
        self.state = State::Streaming(match framing {
            Framing::UntilClose => Body::UntilClose,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(chunked::Decoder::new()),
        });
        let head = std::mem::take(&mut self.head);
        let end = self.on_body(head.get(len..).unwrap_or_default(), ctx);
        if end.is_some() {
            return end;
        }
        self.on_body(after, ctx)
    }

    fn on_body(&mut self, bytes: &[u8], ctx: &mut Ctx<'_>) -> Option<End> {
        let State::Streaming(body) = &mut self.state else {
            return None;
        };
        let events = &mut self.events;
        let result = match body {
            Body::UntilClose => feed_events(events, bytes, ctx),
            Body::Length(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                *left -= take as u64;
                let result = feed_events(events, bytes.get(..take).unwrap_or_default(), ctx);
                if result.is_ok() && *left == 0 {
                    return Some(End::EarlyClose);
                }
                result
            }
            Body::Chunked(decoder) => {
                let mut input = bytes;
                loop {
                    match decoder.next(&mut input) {
                        Ok(Some(data)) => {
                            if let Err(e) = feed_events(events, data, ctx) {
                                break Err(e);
                            }
                        }
                        Ok(None) if decoder.is_done() => return Some(End::EarlyClose),
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(Cause::Chunk(e)),
                    }
                }
            }
        };
        result.err().map(End::Error)
    }
}

/// Parses event-stream bytes and checks and counts what they carry.
fn feed_events(events: &mut sse::Reader, bytes: &[u8], ctx: &mut Ctx<'_>) -> Result<(), Cause> {
    events.feed(bytes, ctx.arrival_us, ctx.interval_us, ctx.stats).map_err(Cause::Sse)
}
