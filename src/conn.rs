//! One client connection: its state machine, its input and output buffers.
//!
//! `on_readable`, `on_writable` and `on_timer` do the work and return a
//! `Verdict`; only the server loop deregisters and removes a connection.
//! What always holds:
//! - the input buffer holds at most one read's worth beyond a partial head
//!   (bounded by `MAX_HEAD` plus `READ_CHUNK`), and none once streaming;
//! - pending output beyond `MAX_PENDING_OUTPUT` closes a stream, and makes
//!   a request connection stop reading until it drains;
//! - `deadline` is the one deadline the server keeps for this connection.
//!
//! Which response a request gets is decided in `route.rs`; writing what is
//! pending is in `conn/output.rs`.

mod output;

use std::io::{self, Read};
use std::net::Shutdown;
use std::time::Instant;

use mio::net::TcpStream;

use crate::body::Body;
use crate::config::{Config, HEAD_TIMEOUT, IDLE_TIMEOUT, LINGER_TIMEOUT, MAX_HEAD, MAX_PENDING_OUTPUT};
use crate::http::{self, HttpError, Status};
use crate::metrics::{Metrics, StreamEnd};
use crate::response::HttpDate;
use crate::route::{self, Next};
use crate::stream::Stream;
use crate::www::Www;

/// Bytes read from a socket at once.
pub const READ_CHUNK: usize = 16 * 1024;
/// Bytes read from one connection per readiness event before the others
/// get their turn; the rest is read on the next loop turn.
const READ_BUDGET: usize = 64 * 1024;

/// What the server owns and lends to a connection while it handles an event.
pub struct Ctx {
    pub now: Instant,
    pub date: HttpDate,
    pub config: Config,
    pub www: Www,
    pub metrics: Metrics,
    pub open_connections: u64,
    /// The next new stream's connection number.
    pub next_stream: u64,
    pub rng: u64,
    /// Scratch space for reads and for formatting events, kept across
    /// calls so the hot paths do not allocate.
    pub read_buf: Vec<u8>,
    pub scratch: Vec<u8>,
}

/// What the loop does with a connection after a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Input is left unread (the read budget ran out): call `on_readable`
    /// again on the next loop turn.
    Again,
    /// Close and remove; a stream's end is logged and counted by the loop.
    Close(Option<StreamEnd>),
}

/// The connection's state, in the order a connection goes through them.
#[derive(Debug)]
enum State {
    /// Waiting for a request head. `started`: the first byte has arrived
    /// (or the connection is new), so the head timeout runs from `since`;
    /// otherwise the connection is idle since `since`.
    ReadingHead {
        since: Instant,
        started: bool,
    },
    /// Reading and dropping request content, begun at `since`. The
    /// route's answer waits in `reply` until the content has ended (a
    /// fault in the content replaces it: one request, one response).
    ReadingContent {
        body: Body,
        since: Instant,
        reply: Vec<u8>,
        keep_alive: bool,
    },
    Streaming(Stream),
    /// Sending the last output; then the write side is shut down. `until`:
    /// the client has not taken any output for `IDLE_TIMEOUT`.
    Closing {
        until: Instant,
        end: Option<StreamEnd>,
    },
    /// Write side shut down; reading and dropping until EOF or `until`.
    Lingering {
        until: Instant,
    },
}

pub struct Conn {
    pub socket: TcpStream,
    /// Distinguishes this connection from earlier owners of its slab slot.
    pub serial: u32,
    /// Accepted past `--max-connections`, only to be turned away.
    pub full: bool,
    /// The socket may hold input that was not read (budget or back-pressure).
    read_pending: bool,
    state: State,
    input: Vec<u8>,
    /// Bytes at the start of `input` already parsed as a partial head.
    head_scanned: usize,
    output: Vec<u8>,
    /// The rest of a static file larger than the output limit.
    file: Option<(std::fs::File, u64)>,
}

impl Conn {
    pub fn new(socket: TcpStream, serial: u32, full: bool, now: Instant) -> Conn {
        Conn {
            socket,
            serial,
            full,
            read_pending: false,
            state: State::ReadingHead { since: now, started: true },
            input: Vec::new(),
            head_scanned: 0,
            output: Vec::new(),
            file: None,
        }
    }

    pub fn wants_write(&self) -> bool {
        !self.output.is_empty() || self.file.is_some()
    }

    pub fn stream(&self) -> Option<&Stream> {
        match &self.state {
            State::Streaming(s) => Some(s),
            _ => None,
        }
    }

    /// Bytes this connection holds in its buffers (for the bounds tests).
    pub fn buffered(&self) -> (usize, usize) {
        (self.input.len(), self.output.len())
    }

    /// The one deadline of this connection.
    pub fn deadline(&self, config: &Config) -> Option<Instant> {
        Some(match &self.state {
            State::ReadingHead { since, started: true } => *since + HEAD_TIMEOUT,
            State::ReadingHead { since, started: false } => *since + IDLE_TIMEOUT,
            State::ReadingContent { since, .. } => *since + HEAD_TIMEOUT,
            State::Streaming(s) => s.deadline(config.heartbeat),
            State::Closing { until, .. } | State::Lingering { until } => *until,
        })
    }

    pub fn on_readable(&mut self, cx: &mut Ctx, hup: bool) -> Verdict {
        self.read_pending = true;
        self.pump(cx, hup)
    }

    pub fn on_writable(&mut self, cx: &mut Ctx) -> Verdict {
        if self.wants_write() {
            if let Err(v) = self.flush(cx) {
                return v;
            }
            if !self.wants_write() && (self.read_pending || !self.input.is_empty()) {
                // Output drained: go on with input held back by back-pressure.
                return self.pump(cx, false);
            }
        }
        self.settle(cx)
    }

    /// Writes what is pending; once the last output of a closing
    /// connection is out, shuts it down.
    fn settle(&mut self, cx: &mut Ctx) -> Verdict {
        if let Err(v) = self.flush(cx) {
            return v;
        }
        match self.state {
            State::Closing { end, .. } if !self.wants_write() => self.shut_down(cx.now, end),
            _ => Verdict::Continue,
        }
    }

    pub fn on_timer(&mut self, cx: &mut Ctx) -> Verdict {
        let now = cx.now;
        match &mut self.state {
            State::ReadingHead { since, started } => {
                if !*started {
                    if now >= *since + IDLE_TIMEOUT {
                        return Verdict::Close(None);
                    }
                } else if now >= *since + HEAD_TIMEOUT {
                    let e = HttpError { status: 408, why: "request head not received within 10 s" };
                    return self.refuse(cx, e);
                }
            }
            State::ReadingContent { since, .. } => {
                if now >= *since + HEAD_TIMEOUT {
                    let e = HttpError { status: 408, why: "request content not received within 10 s" };
                    return self.refuse(cx, e);
                }
            }
            State::Streaming(s) => {
                cx.scratch.clear();
                let sent = s.tick(now, cx.config.heartbeat, &mut cx.scratch, &mut cx.metrics);
                let scratch = std::mem::take(&mut cx.scratch);
                let result = self.send(&scratch, cx);
                cx.scratch = scratch;
                if let Err(v) = result {
                    return v;
                }
                if self.output.len() > MAX_PENDING_OUTPUT {
                    if let State::Streaming(s) = &self.state {
                        log::warn!(
                            "Slow consumer: closing event stream (connection #{}, {} bytes not taken by the kernel)",
                            s.conn,
                            self.output.len()
                        );
                    }
                    return Verdict::Close(Some(StreamEnd::Slow));
                }
                if sent.finished {
                    self.state = State::Closing { until: now + IDLE_TIMEOUT, end: Some(StreamEnd::Count) };
                    return self.settle(cx);
                }
            }
            State::Closing { until, end } => {
                if now >= *until {
                    return Verdict::Close(*end);
                }
            }
            State::Lingering { until } => {
                if now >= *until {
                    return Verdict::Close(None);
                }
            }
        }
        Verdict::Continue
    }

    /// Reads and handles input until the socket is drained, the budget is
    /// spent, or output back-pressure stops it; then writes the responses,
    /// all of them with one `write` where the socket takes it.
    fn pump(&mut self, cx: &mut Ctx, hup: bool) -> Verdict {
        let mut budget = READ_BUDGET;
        loop {
            if !self.input.is_empty() {
                let input = std::mem::take(&mut self.input);
                let used = match self.handle_input(&input, cx) {
                    Ok(used) => used,
                    Err(v) => return v,
                };
                self.keep_input(input, used);
            }
            if self.held_back() {
                // Write what is pending; if that releases the back-pressure,
                // go on with the requests already buffered (no event would
                // come to say so: the socket stays writable).
                if let Err(v) = self.flush(cx) {
                    return v;
                }
                if self.held_back() {
                    break;
                }
                continue;
            }
            if !self.read_pending {
                break;
            }
            if budget == 0 {
                return match self.settle(cx) {
                    Verdict::Continue => Verdict::Again,
                    v => v,
                };
            }
            let mut buf = std::mem::take(&mut cx.read_buf);
            buf.resize(READ_CHUNK, 0);
            let result = self.read_once(&mut buf, cx, hup);
            cx.read_buf = buf;
            match result {
                Ok(n) => budget = budget.saturating_sub(n.max(1)),
                // Reading stopped but the connection goes on (EOF with an
                // answer still to send, or a refusal still being written):
                // write what is pending.
                Err(Verdict::Continue) => break,
                Err(v) => return v,
            }
        }
        self.settle(cx)
    }

    /// Back-pressure: a request connection answers no more requests until
    /// the client has read what it asked for.
    fn held_back(&self) -> bool {
        let requests = matches!(self.state, State::ReadingHead { .. } | State::ReadingContent { .. });
        requests && (self.output.len() >= MAX_PENDING_OUTPUT || self.file.is_some())
    }

    /// One `read`; what it brings is handled at once.
    fn read_once(&mut self, buf: &mut [u8], cx: &mut Ctx, hup: bool) -> Result<usize, Verdict> {
        let n = match self.socket.read(buf) {
            Ok(0) => return Err(self.on_eof(cx)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.read_pending = false;
                return Ok(0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(self.on_error(&e)),
        };
        // Epoll is edge-triggered: a read shorter than the buffer emptied the
        // socket, and any byte that arrives later raises a new event. So the
        // extra `read` that would only say `WouldBlock` is skipped, except
        // when the peer has closed: then EOF is read to notice it now.
        if n < buf.len() && !hup {
            self.read_pending = false;
        }
        let data = buf.get(..n).unwrap_or_default();
        if self.input.is_empty() {
            // Fresh bytes are handled where they were read; only what is
            // left (a partial head) is copied.
            let used = self.handle_input(data, cx)?;
            self.keep_input(data.get(used..).unwrap_or_default().to_vec(), 0);
        } else {
            self.input.extend_from_slice(data);
        }
        Ok(n)
    }

    /// Keeps what `handle_input` left of `input` (after `used` bytes) for
    /// the next read, in the same allocation; an idle connection, or one
    /// that no longer reads requests, holds no buffer.
    fn keep_input(&mut self, mut input: Vec<u8>, used: usize) {
        let reading = matches!(self.state, State::ReadingHead { .. } | State::ReadingContent { .. });
        input.drain(..used.min(input.len()));
        self.input = if reading && !input.is_empty() { input } else { Vec::new() };
    }

    /// Handles requests and content at the start of `data`; returns how
    /// many bytes were used. Stops at a partial head, or when the output is
    /// large enough that the client should read it first.
    fn handle_input(&mut self, data: &[u8], cx: &mut Ctx) -> Result<usize, Verdict> {
        let mut used = 0;
        while used < data.len() {
            let rest = data.get(used..).unwrap_or_default();
            let held_back = self.held_back();
            match &mut self.state {
                State::ReadingHead { since, started } => {
                    // While the client has not read earlier answers, the
                    // next request is not read either, nor timed.
                    if held_back {
                        return Ok(used);
                    }
                    if !*started {
                        *since = cx.now;
                        *started = true;
                    }
                    // A head can only end at a line feed: new bytes without
                    // one are not worth parsing the whole head again (a head
                    // trickled in byte by byte would cost its square).
                    let fresh = rest.get(self.head_scanned..).unwrap_or_default();
                    if self.head_scanned > 0 && rest.len() < MAX_HEAD && !fresh.contains(&b'\n') {
                        self.head_scanned = rest.len();
                        return Ok(used);
                    }
                    let req = match http::parse(rest) {
                        Ok(Status::Complete(req)) => req,
                        Ok(Status::Partial) => {
                            self.head_scanned = rest.len();
                            return Ok(used);
                        }
                        Err(e) => return Err(self.refuse(cx, e)),
                    };
                    self.head_scanned = 0;
                    used += req.head_len;
                    self.state = match Body::new(req.framing) {
                        Some(body) => {
                            if req.expect_continue {
                                // The answer comes once the content is read:
                                // tell the client to send it now.
                                self.output.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                            }
                            let mut reply = Vec::new();
                            let next = route::respond(&req, self.full, &mut reply, &mut self.file, cx);
                            let keep_alive = matches!(next, Next::KeepAlive);
                            State::ReadingContent { body, since: cx.now, reply, keep_alive }
                        }
                        None => match route::respond(&req, self.full, &mut self.output, &mut self.file, cx) {
                            Next::KeepAlive => State::ReadingHead { since: cx.now, started: false },
                            Next::Close => State::Closing { until: cx.now + IDLE_TIMEOUT, end: None },
                            Next::Stream(s) => State::Streaming(s),
                        },
                    };
                }
                State::ReadingContent { body, reply, keep_alive, .. } => match body.feed(rest) {
                    Ok((n, done)) => {
                        used += n;
                        if done {
                            self.output.append(reply);
                            self.state = if *keep_alive {
                                State::ReadingHead { since: cx.now, started: false }
                            } else {
                                State::Closing { until: cx.now + IDLE_TIMEOUT, end: None }
                            };
                        }
                    }
                    Err(e) => return Err(self.refuse(cx, e)),
                },
                // Bytes a client sends on a stream, or after its last
                // request, are read and dropped.
                State::Streaming(_) | State::Closing { .. } | State::Lingering { .. } => return Ok(data.len()),
            }
        }
        Ok(used)
    }

    /// Answers a bad request: the response, `Connection: close`, then a
    /// lingering close.
    fn refuse(&mut self, cx: &mut Ctx, e: HttpError) -> Verdict {
        log::debug!("refused a request: {e}");
        self.input = Vec::new();
        if let State::ReadingContent { reply, .. } = &self.state {
            // The answer held for the content's end is never sent.
            cx.metrics.withdraw(reply);
        }
        if self.file.is_some() {
            // A file is half sent: nothing can follow it on this connection.
            return Verdict::Close(None);
        }
        route::error(&e, &mut self.output, cx);
        self.state = State::Closing { until: cx.now + IDLE_TIMEOUT, end: None };
        self.settle(cx)
    }

    /// Shuts the write side down so the client sees the end of the
    /// response, then lingers: closing at once with unread input would make
    /// the kernel send a reset that can destroy the response in flight.
    fn shut_down(&mut self, now: Instant, end: Option<StreamEnd>) -> Verdict {
        if self.socket.shutdown(Shutdown::Write).is_err() {
            return Verdict::Close(end);
        }
        if let Some(end) = end {
            // The stream's end is final once its output is out; lingering
            // only protects it.
            return Verdict::Close(Some(end));
        }
        self.state = State::Lingering { until: now + LINGER_TIMEOUT };
        self.read_pending = true;
        Verdict::Continue
    }

    fn on_eof(&mut self, cx: &mut Ctx) -> Verdict {
        self.read_pending = false;
        match &self.state {
            State::Streaming(_) => Verdict::Close(Some(StreamEnd::Client)),
            State::Closing { end, .. } => {
                // The client half-closed: it may still read the response.
                if self.wants_write() { Verdict::Continue } else { Verdict::Close(*end) }
            }
            State::ReadingHead { .. } | State::ReadingContent { .. } if self.wants_write() => {
                self.state = State::Closing { until: cx.now + IDLE_TIMEOUT, end: None };
                Verdict::Continue
            }
            State::ReadingHead { .. } | State::ReadingContent { .. } | State::Lingering { .. } => Verdict::Close(None),
        }
    }

    fn on_error(&mut self, e: &io::Error) -> Verdict {
        match &self.state {
            State::Streaming(_) => {
                let gone = matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe);
                Verdict::Close(Some(if gone { StreamEnd::Client } else { StreamEnd::Error }))
            }
            State::Closing { end, .. } => Verdict::Close(*end),
            _ => Verdict::Close(None),
        }
    }
}
