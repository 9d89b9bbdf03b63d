//! One client connection's state machine, with no socket and no clock of
//! its own (smoltcp's model): bytes and the time come in, responses and
//! events go out into a bounded `Output`, and each handler returns a
//! `Verdict`. `io` moves bytes between the socket and this machine; only
//! the loop (`server`) deregisters and removes a connection.
//!
//! What always holds:
//! - the input buffer holds at most a partial head plus one read
//!   (`MAX_HEAD` + `READ_CHUNK`), and nothing once streaming;
//! - the output never holds more than `OUTPUT_LIMIT`: requests are not
//!   read or answered while `MAX_PENDING_OUTPUT` is waiting (back-pressure),
//!   and a stream with more than that waiting is a slow consumer;
//! - per loop turn, a connection answers at most `MAX_REQUESTS_PER_TURN`
//!   requests and reads at most `READ_BUDGET` bytes;
//! - `deadline()` is the one place a timeout rule is written: the loop
//!   arms the timer with it, and `on_timer` acts only once it has passed;
//! - `set_state` is the one place the state changes.
//!
//! Requests are read here; writing their answers (and refusals) is in
//! `conn/answer.rs`; the clock (timeouts, output taken, stalls) and the end
//! of a connection are in `conn/clock.rs`. Which answer
//! a request gets is `route`'s decision.

mod answer;
mod clock;
mod publish;

use std::time::{Duration, Instant};

use crate::access;
use crate::ascii::after;
use crate::config::{EARLY_PARSE, HEAD_TIMEOUT, MAX_HEAD, MAX_PENDING_OUTPUT, MAX_REQUESTS_PER_TURN, READ_BUDGET};
use crate::content::Content;
use crate::date::HttpDate;
use crate::http::{self, Status};
use crate::lateness::Stamp;
use crate::metrics::{Metrics, StreamEnd};
use crate::output::Output;
use crate::response::{Body, CONTINUE, Response};
use crate::route::{self, Site};
use crate::stream::Stream;
use crate::streams::Streams;

/// The timeouts that come from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `--idle-timeout`: no request, or no output taken, for this long.
    pub idle: Duration,
    /// `--heartbeat`: a stream silent this long gets a comment.
    pub heartbeat: Option<Duration>,
}

/// What a connection may use of the server while it handles an event.
pub struct Env<'a> {
    pub now: Instant,
    /// The loop turn; a connection's budget is per turn.
    pub turn: u64,
    pub date: &'a HttpDate,
    pub timeouts: Timeouts,
    pub peer: Peer,
    pub site: &'a mut Site,
    pub metrics: &'a mut Metrics,
    pub streams: &'a mut Streams,
    /// Writes left in this turn, all connections together (`TURN_WRITES`).
    pub writes_left: &'a mut usize,
}

/// What the loop knows of a connection's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// How the loop finds the connection again (channel subscriptions).
    pub token: mio::Token,
    /// Accepted past `--max-connections`, only to be turned away.
    pub full: bool,
    /// Connected from a loopback address (allowed to publish by default).
    pub loopback: bool,
    /// The client's address (for the log lines of streams).
    pub addr: std::net::SocketAddr,
}

/// What writing an answer uses of `Env`, apart from the site (which the
/// answer may borrow).
struct Ledger<'e> {
    now: Instant,
    peer: std::net::SocketAddr,
    date: &'e HttpDate,
    metrics: &'e mut Metrics,
    streams: &'e mut Streams,
}

impl<'a> Env<'a> {
    fn split(&mut self) -> (&mut Site, Ledger<'_>) {
        let ledger = Ledger {
            now: self.now,
            peer: self.peer.addr,
            date: self.date,
            metrics: self.metrics,
            streams: self.streams,
        };
        (self.site, ledger)
    }
}

/// What the loop does with a connection after a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Work is left that this turn's budget did not cover: call again on
    /// the next turn, after the other connections.
    Again,
    /// A stream has started (its head is in the output): the loop learns
    /// of it here, and calls again for the input that may follow.
    Started,
    /// Close and remove; a stream's end is passed to `Streams::end`.
    Close(Option<StreamEnd>),
}

/// The connection's state, in the order a connection goes through them.
#[derive(Debug)]
enum State {
    /// Between requests on a persistent connection, since the last answer
    /// or the last output the client took.
    Idle {
        since: Instant,
    },
    /// A request head has begun (or the connection is new) at `since`.
    ReadingHead {
        since: Instant,
    },
    /// Reading request content, begun at `since`; what answers it waits
    /// until the content has ended (a fault in the content replaces it: one
    /// request, one response).
    ReadingContent {
        content: Content,
        since: Instant,
        held: Held,
    },
    Streaming(Stream),
    /// The stream is over (`why`: its last event, a reset asked for, a
    /// shutdown); its last bytes are going out, the client last took some
    /// at `since`. Then the write side is shut down, or for a reset, the
    /// connection is reset.
    Ending {
        stream: Stream,
        since: Instant,
        why: StreamEnd,
    },
    /// The last answer is going out; then the write side is shut down.
    Closing {
        since: Instant,
    },
    /// Write side shut down; reading and dropping until EOF or `until`.
    Lingering {
        until: Instant,
    },
}

/// What waits for the end of a request's content.
#[derive(Debug)]
enum Held {
    /// The route's answer, and its access log note.
    Answer(Box<(Response<'static>, Option<access::Note>)>),
    /// A publish: the content is kept (up to `MAX_CONTENT`), then published.
    Publish(Box<publish::Publishing>),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Idle { .. } => "Idle",
            State::ReadingHead { .. } => "ReadingHead",
            State::ReadingContent { .. } => "ReadingContent",
            State::Streaming(_) => "Streaming",
            State::Ending { .. } => "Ending",
            State::Closing { .. } => "Closing",
            State::Lingering { .. } => "Lingering",
        }
    }

    fn reads_requests(&self) -> bool {
        match self {
            State::Idle { .. } | State::ReadingHead { .. } | State::ReadingContent { .. } => true,
            State::Streaming(_) | State::Ending { .. } | State::Closing { .. } | State::Lingering { .. } => false,
        }
    }
}

/// The work done in the current loop turn.
#[derive(Debug, Default, Clone, Copy)]
struct Budget {
    turn: u32,
    requests: u16,
    read: u32,
}

/// No kernel send queue observed since the last write.
const NO_BASELINE: u32 = u32::MAX;

#[derive(Debug)]
pub struct Conn {
    state: State,
    /// Buffered input not yet handled: a partial head, or requests held
    /// back by back-pressure or the budget.
    input: Vec<u8>,
    /// Bytes at the start of `input` already parsed as a partial head
    /// (under `MAX_HEAD`; four bytes, so `due` fits where it was).
    head_scanned: u32,
    /// Input was left unhandled for back-pressure or the budget, not for
    /// want of bytes.
    stopped: bool,
    out: Output,
    budget: Budget,
    /// The kernel's send queue when it last stopped taking output, to tell
    /// a client that is still taking bytes from one that has stalled.
    queued: u32,
    /// The server is shutting down: the next answer is the last.
    last: bool,
    /// When the oldest event not yet handed to the kernel was due, and how
    /// many events wait behind it (`lateness`).
    due: Option<Stamp>,
    due_events: u16,
}

impl Conn {
    pub fn new(now: Instant) -> Conn {
        Conn {
            state: State::ReadingHead { since: now },
            input: Vec::new(),
            head_scanned: 0,
            stopped: false,
            out: Output::default(),
            budget: Budget::default(),
            queued: NO_BASELINE,
            last: false,
            due: None,
            due_events: 0,
        }
    }

    /// The one place the state changes (traced); `replace_state` is the
    /// same, handing back the state left, to move what it held.
    fn set_state(&mut self, next: State) {
        self.replace_state(next);
    }

    fn replace_state(&mut self, next: State) -> State {
        log::trace!("connection state {} -> {}", self.state.name(), next.name());
        std::mem::replace(&mut self.state, next)
    }

    /// The stream this connection carries, if any.
    pub fn stream(&self) -> Option<&Stream> {
        match &self.state {
            State::Streaming(s) | State::Ending { stream: s, .. } => Some(s),
            State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => None,
        }
    }

    pub fn output(&mut self) -> &mut Output {
        &mut self.out
    }

    /// `events` events due at `due` are in the output (paced output is
    /// left out of the lateness: its delay is the point).
    fn note_due(&mut self, due: Stamp, events: u64) {
        if self.out.is_paced() {
            return;
        }
        self.due.get_or_insert(due);
        self.due_events = self.due_events.saturating_add(u16::try_from(events).unwrap_or(u16::MAX));
    }

    /// The output is empty: the events noted since it last was, and when
    /// the oldest of them was due.
    pub fn handed_over(&mut self) -> Option<(Stamp, u64)> {
        if !self.out.is_empty() {
            return None;
        }
        let due = self.due.take()?;
        Some((due, u64::from(std::mem::take(&mut self.due_events))))
    }

    /// Bytes held in the input and output buffers (for the bounds tests).
    pub fn buffered(&self) -> (usize, usize) {
        (self.input.len(), self.out.len())
    }

    /// The one deadline of this connection: the state's (every timeout
    /// rule is in `state_deadline`), or the next paced piece of output.
    pub fn deadline(&self, t: Timeouts) -> Option<Instant> {
        match (self.state_deadline(t), self.out.paced_until()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the state's timeout rule, or its stream, needs the connection.
    fn state_deadline(&self, t: Timeouts) -> Option<Instant> {
        match &self.state {
            State::Idle { since } | State::Closing { since } | State::Ending { since, .. } => Some(*since + t.idle),
            State::ReadingHead { since } | State::ReadingContent { since, .. } => Some(*since + HEAD_TIMEOUT),
            State::Streaming(s) => s.deadline(t.heartbeat, self.out.is_empty()),
            State::Lingering { until } => Some(*until),
        }
    }

    /// Back-pressure: a request connection answers no more requests until
    /// the client has read what it asked for.
    fn held_back(&self) -> bool {
        self.state.reads_requests() && (self.out.len() >= MAX_PENDING_OUTPUT || !self.out.tail_is_empty())
    }

    fn budget(&mut self, turn: u64) -> &mut Budget {
        let turn = turn as u32;
        if self.budget.turn != turn {
            self.budget = Budget { turn, ..Budget::default() };
        }
        &mut self.budget
    }

    /// This turn's requests are answered: the rest waits for the next.
    fn requests_spent(&mut self, turn: u64) -> bool {
        usize::from(self.budget(turn).requests) >= MAX_REQUESTS_PER_TURN
    }

    /// This turn's work is done: come back on the next turn.
    pub fn budget_spent(&mut self, turn: u64) -> bool {
        self.budget(turn).read as usize >= READ_BUDGET || self.requests_spent(turn)
    }

    /// Whether `io` may read from the socket now. `false` means the budget
    /// is spent (`budget_spent`: come back next turn) or back-pressure holds
    /// (wait until the client has read: the output drains).
    pub fn wants_read(&mut self, turn: u64) -> bool {
        !self.budget_spent(turn) && !self.held_back() && !self.stopped
    }

    /// Whether input is buffered that can now be handled (`on_input` with
    /// no new bytes): back-pressure was released, or a new turn began.
    pub fn can_resume(&mut self, turn: u64) -> bool {
        self.stopped && !self.held_back() && !self.requests_spent(turn)
    }

    /// Bytes from the client (none: go on with what is buffered).
    pub fn on_input(&mut self, data: &[u8], env: &mut Env) -> Verdict {
        self.budget(env.turn).read += data.len() as u32;
        if !self.state.reads_requests() {
            // Bytes a client sends on a stream, or after its last request,
            // are read and dropped.
            return Verdict::Continue;
        }
        self.stopped = false;
        if self.input.is_empty() {
            // Fresh bytes are handled where they were read; only what is
            // left (a partial head, requests held back) is copied.
            let (used, v) = self.handle(data, env);
            self.keep(after(data, used));
            return v;
        }
        let mut input = std::mem::take(&mut self.input);
        input.extend_from_slice(data);
        let (used, v) = self.handle(&input, env);
        input.drain(..used.min(input.len()));
        self.input = input;
        self.keep(&[]);
        v
    }

    /// Keeps `rest` for later, in requests states only.
    fn keep(&mut self, rest: &[u8]) {
        if !self.state.reads_requests() {
            self.input = Vec::new();
            self.head_scanned = 0;
            return;
        }
        self.input.extend_from_slice(rest);
        if self.input.is_empty() && self.input.capacity() > 0 {
            self.input = Vec::new();
        }
    }

    /// Handles requests and content at the start of `data`; returns how
    /// many bytes were used and the verdict.
    fn handle(&mut self, data: &[u8], env: &mut Env) -> (usize, Verdict) {
        let mut used = 0;
        while used < data.len() {
            let rest = after(data, used);
            let at_head = matches!(self.state, State::Idle { .. } | State::ReadingHead { .. });
            if at_head && (self.held_back() || self.requests_spent(env.turn)) {
                // Not read, nor timed, until the client has read the
                // earlier answers or the next turn comes.
                self.stopped = true;
                let v = if self.requests_spent(env.turn) { Verdict::Again } else { Verdict::Continue };
                return (used, v);
            }
            match &mut self.state {
                State::Idle { .. } => self.set_state(State::ReadingHead { since: env.now }),
                State::ReadingHead { since } => {
                    let started = *since;
                    // Empty lines before a request line are ignored (RFC
                    // 9112 §2.2): dropped as they come, so a stream of them
                    // is never parsed again and again.
                    let blank = empty_lines(rest);
                    if blank > 0 {
                        used += blank;
                        self.head_scanned = 0;
                        continue;
                    }
                    // A head can only end at a line feed, and past its first
                    // `EARLY_PARSE` bytes be refused only at a CR or LF, or
                    // the byte after a CR: new bytes without one (or a CR
                    // just before them) are not worth parsing it all again.
                    let scanned_to = self.head_scanned as usize;
                    let after_cr = scanned_to > 0 && rest.get(scanned_to - 1) == Some(&b'\r');
                    let fresh = after(rest, scanned_to - usize::from(after_cr));
                    if self.head_scanned > 0
                        && rest.len() > EARLY_PARSE
                        && rest.len() < MAX_HEAD
                        && !fresh.iter().any(|&b| b == b'\n' || b == b'\r')
                    {
                        self.head_scanned = scanned(rest);
                        return (used, Verdict::Continue);
                    }
                    let req = match http::parse(rest) {
                        Ok(Status::Complete(req)) => req,
                        Ok(Status::Partial) => {
                            self.head_scanned = scanned(rest);
                            return (used, Verdict::Continue);
                        }
                        Err(e) => return (data.len(), self.refuse_head(env, e, rest)),
                    };
                    self.head_scanned = 0;
                    used += req.head_len;
                    self.budget(env.turn).requests += 1;
                    let content = Content::new(req.framing);
                    if content.is_some() && req.expect_continue {
                        // The answer comes once the content is read: tell
                        // the client to send it now.
                        self.out.buf().extend_from_slice(CONTINUE);
                    }
                    let peer = env.peer;
                    let note = env.site.access_log.then(|| access::Note::of(&req, started));
                    let (site, mut ledger) = env.split();
                    let reply = route::respond(&req, &peer, site, ledger.metrics, ledger.now);
                    let held = match reply.body {
                        Body::Publish(to) => Held::Publish(publish::Publishing::start(
                            to,
                            reply.then,
                            reply.fields,
                            note,
                            ledger.metrics,
                        )),
                        _ if content.is_some() => Held::Answer(Box::new((reply.into_owned(), note))),
                        _ => match self.answer(reply, &mut ledger, note.as_ref()) {
                            Some(v) => return (used, v),
                            None => continue,
                        },
                    };
                    match content {
                        Some(content) => self.set_state(State::ReadingContent { content, since: env.now, held }),
                        None => {
                            if let Some(v) = self.content_done(held, env) {
                                return (used, v);
                            }
                        }
                    }
                }
                State::ReadingContent { content, held, .. } => {
                    let fed = match held {
                        Held::Publish(p) => content.feed_with(rest, |d| p.keep(d)),
                        Held::Answer(..) => content.feed(rest),
                    };
                    match fed {
                        Ok((n, done)) => {
                            used += n;
                            let idle = State::Idle { since: env.now };
                            if done
                                && let State::ReadingContent { held, .. } = self.replace_state(idle)
                                && let Some(v) = self.content_done(held, env)
                            {
                                return (used, v);
                            }
                        }
                        Err(e) => return (data.len(), self.refuse(env, e)),
                    }
                }
                State::Streaming(_) | State::Ending { .. } | State::Closing { .. } | State::Lingering { .. } => {
                    return (data.len(), Verdict::Continue);
                }
            }
        }
        (used, Verdict::Continue)
    }
}

/// The length of the complete empty lines (`\r\n` or `\n`) at the start of
/// `b` (a CR alone at the end may start one: it is left for later).
fn empty_lines(b: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match (b.get(i), b.get(i + 1)) {
            (Some(b'\n'), _) => i += 1,
            (Some(b'\r'), Some(b'\n')) => i += 2,
            _ => return i,
        }
    }
}

/// How much of a partial head was scanned, in the four bytes `Conn` keeps
/// for it (a head is refused past `MAX_HEAD`, far below `u32::MAX`).
fn scanned(rest: &[u8]) -> u32 {
    u32::try_from(rest.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod empty_lines {
    #[test]
    fn complete_empty_lines_at_the_start() {
        for (bytes, n) in [
            (&b""[..], 0),
            (b"GET", 0),
            (b"\n", 1),
            (b"\r\n", 2),
            (b"\r", 0),
            (b"\r\n\n\r\nGET", 5),
            (b"\n\r", 1),
            (b"\rGET", 0),
        ] {
            assert_eq!(super::empty_lines(bytes), n, "{:?}", String::from_utf8_lossy(bytes));
        }
    }
}

#[cfg(test)]
mod size {
    /// Every connection holds one: a field that grows it grows the memory
    /// of each of 100,000 streams (the README's per-stream figure).
    #[test]
    fn a_connection_stays_at_176_bytes() {
        assert_eq!(std::mem::size_of::<super::Conn>(), 176);
    }
}
