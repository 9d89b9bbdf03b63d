//! The event loop: one `mio::Poll`, the listener, the slab of connections
//! and the timer queue, all owned here.
//!
//! A turn of the loop: poll, with the earliest deadline as the timeout (so
//! an idle server sleeps until something is due, or forever); read the
//! clock once; hand each readiness event to its connection (`io` moves the
//! bytes, `conn` decides); then the connections the last turn left work
//! for; then the connections whose deadline has come. Handlers return a
//! `Verdict`, and only `apply` here deregisters, removes, re-arms interest
//! and timers, and ends a closed connection's stream (`Streams::end`).
//!
//! What always holds:
//! - a token carries the slot and a serial number, and an event whose
//!   serial is not the slot's current owner's is dropped, so a reused slot
//!   never gets readiness meant for a closed connection; its timer was
//!   cancelled when it closed;
//! - `WRITABLE` interest is registered only while output is pending;
//! - connections and files being sent together count against
//!   `--max-connections`, so the descriptors of the reserve are there for
//!   the full answer;
//! - the listener is not read while accepting cannot succeed (the server
//!   is full past its reserve, or out of descriptors); accepting resumes
//!   when a connection closes or after `ACCEPT_RETRY`, so connections in
//!   the backlog are never stranded by edge-triggered readiness.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::channel::{Channels, Limits};
use crate::config::{BACKLOG, Config, FULL_RESERVE, READ_BUDGET, READ_CHUNK, RESERVED_FDS, TURN_WRITES};
use crate::conn::{Conn, Env, Peer, Timeouts, Verdict};
use crate::date::HttpDate;
use crate::io::{self as conn_io, Link};
use crate::metrics::{Metrics, StreamEnd};
use crate::route::Site;
use crate::stdin::Stdin;
use crate::streams::{Numbers, Streams};
use crate::sys::Signals;
use crate::timer::Timers;
use crate::www::Www;

mod accept;
mod shutdown;

use shutdown::Drain;
pub use shutdown::Stop;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("sse-server packs a slot and a serial into a 64-bit mio Token");

const LISTENER: Token = Token(usize::MAX);
const WAKE: Token = Token(usize::MAX - 1);
const STDIN: Token = Token(usize::MAX - 2);
const SIGNAL: Token = Token(usize::MAX - 3);
/// The listener's key in the timer queue; connections use slot + 1.
const ACCEPT_TIMER: usize = 0;

/// A failure to start: the address and the cause (exit code 1).
#[derive(Debug)]
pub struct StartError(pub String);

pub struct Server {
    poll: Poll,
    /// Wakes the poll exactly at the earliest deadline (`armed`).
    wake: crate::sys::TimerFd,
    armed: Option<Instant>,
    /// `None` once draining: new connections go elsewhere.
    listener: Option<TcpListener>,
    /// The listener was passed by the service manager (which keeps it).
    inherited: bool,
    /// `--metrics-port`: this process alone, for scraping it among siblings.
    metrics_listener: Option<TcpListener>,
    conns: Slab<Slot>,
    timers: Timers,
    now: Instant,
    date: HttpDate,
    /// Counts loop turns: a connection's budget is per turn.
    turn: u64,
    timeouts: Timeouts,
    site: Site,
    metrics: Metrics,
    streams: Streams,
    max_connections: usize,
    serial: u32,
    /// Accepting stopped: full past the reserve, or out of descriptors.
    accept_paused: bool,
    /// Out of descriptors since the backlog was last emptied: the warning
    /// is logged once per shortage, not at every retry.
    starved: bool,
    /// Connections with work left for the next turn (as tokens, so a slot
    /// reused meanwhile is not mistaken for its owner).
    again: Vec<Token>,
    /// Writes left in this turn, all connections together.
    writes_left: usize,
    due: Vec<usize>,
    full_warned: bool,
    /// Scratch space for reads, kept across calls so reads do not allocate.
    read_buf: Vec<u8>,
    /// Scratch space for the subscribers of an event being fanned out.
    tokens: Vec<Token>,
    /// `--stdin`: standard input, publishing to a channel, until it ends.
    stdin: Option<Stdin>,
    /// Standard input may hold more than this turn's share: read on.
    stdin_again: bool,
    /// SIGTERM and SIGINT, through the poll.
    signals: Option<Signals>,
    /// `--drain`: the period over which streams end on a signal.
    drain_period: Duration,
    /// A shutdown under way.
    drain: Option<Drain>,
}

/// A connection: its state machine and its socket.
struct Slot {
    conn: Conn,
    link: Link,
}

impl Server {
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let nofile = crate::sys::raise_nofile_limit();
        let addr = SocketAddr::new(config.bind, config.port);
        let fail = |e: io::Error| StartError(format!("cannot listen on {addr}: {e}"));
        let inherited = crate::sys::inherited_listener();
        let passed = matches!(inherited, Ok(Some(_)));
        let mut listener = match inherited {
            Ok(Some(l)) => {
                // Socket activation: the service manager holds the socket,
                // so connections wait in its backlog while this process
                // restarts. --bind, --port and --reuse-port do not apply.
                let at = l.local_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
                log::info!("listening on the socket passed by the service manager ({at})");
                l
            }
            Ok(None) => crate::sys::listen(addr, config.reuse_port, BACKLOG).map_err(fail)?,
            Err(e) => return Err(StartError(format!("cannot use the socket passed in LISTEN_FDS: {e}"))),
        };
        let poll = Poll::new().map_err(|e| StartError(format!("cannot create the poll instance: {e}")))?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(fail)?;
        let metrics_listener = match config.metrics_port {
            None => None,
            Some(port) => {
                let at = SocketAddr::new(config.bind, port);
                let fail = |e: io::Error| StartError(format!("cannot listen on {at} (--metrics-port): {e}"));
                let mut l = crate::sys::listen(at, false, BACKLOG).map_err(fail)?;
                poll.registry().register(&mut l, LISTENER, Interest::READABLE).map_err(fail)?;
                let at = l.local_addr().map_or_else(|_| at.to_string(), |a| a.to_string());
                log::info!("this process alone, for /metrics: http://{at}/metrics");
                Some(l)
            }
        };
        let signals = Signals::new().map_err(|e| StartError(format!("cannot read signals: {e}")))?;
        let sfd = std::os::fd::AsRawFd::as_raw_fd(&signals);
        poll.registry()
            .register(&mut mio::unix::SourceFd(&sfd), SIGNAL, Interest::READABLE)
            .map_err(|e| StartError(format!("cannot register the signalfd: {e}")))?;
        let wake = crate::sys::TimerFd::new().map_err(|e| StartError(format!("cannot create a timerfd: {e}")))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&wake);
        poll.registry()
            .register(&mut mio::unix::SourceFd(&fd), WAKE, Interest::READABLE)
            .map_err(|e| StartError(format!("cannot register the timerfd: {e}")))?;
        let fitting = (nofile as usize).saturating_sub(RESERVED_FDS + FULL_RESERVE).max(1);
        let max_connections = config.max_connections.unwrap_or(fitting);
        if max_connections > fitting {
            log::warn!(
                "--max-connections {max_connections} is more than the open-file limit {nofile} allows ({fitting}): \
                 accept will fail for want of descriptors before that many are open"
            );
        }
        let www = Www::new(&config.www);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id()) << 32;
        log::info!("max connections: {max_connections} (open-file limit {nofile})");
        let limits =
            Limits { max_channels: config.max_channels, history: config.history, history_bytes: config.history_bytes };
        let mut site = Site::new(www, config.interval, max_connections, Channels::new(limits), seed);
        site.publish_token = config.publish_token.clone();
        site.access_log = config.access_log;
        site.cors = crate::route::Cors {
            any: config.cors_origins.iter().any(|o| o == "*"),
            origins: config.cors_origins.iter().filter(|o| *o != "*").cloned().collect(),
        };
        let stdin = match config.stdin_channel.clone() {
            None => None,
            Some(channel) => {
                let mut s = Stdin::open(channel).map_err(|e| StartError(format!("cannot read standard input: {e}")))?;
                let fd = s.raw_fd();
                // A regular file (or /dev/null) cannot be polled: it is read
                // a chunk per loop turn instead, which never blocks either.
                s.polled = poll.registry().register(&mut mio::unix::SourceFd(&fd), STDIN, Interest::READABLE).is_ok();
                Some(s)
            }
        };
        let mut metrics = Metrics::default();
        // Every descriptor that lives as long as the server is open now.
        metrics.start();
        Ok(Server {
            poll,
            wake,
            armed: None,
            listener: Some(listener),
            inherited: passed,
            metrics_listener,
            conns: Slab::new(),
            timers: Timers::new(),
            now: Instant::now(),
            date: HttpDate::now(),
            turn: 0,
            timeouts: Timeouts { idle: config.idle_timeout, heartbeat: config.heartbeat },
            site,
            metrics,
            streams: Streams::new(match config.first_stream {
                Some(n) => Numbers::Counter(n),
                None => Numbers::unique_now(),
            }),
            max_connections,
            serial: 0,
            accept_paused: false,
            starved: false,
            again: Vec::new(),
            writes_left: TURN_WRITES,
            due: Vec::new(),
            full_warned: false,
            read_buf: Vec::new(),
            tokens: Vec::new(),
            // Not polled: read from the first turn on.
            stdin_again: stdin.as_ref().is_some_and(|s| !s.polled),
            stdin,
            signals: Some(signals),
            drain_period: config.drain,
            drain: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Runs the loop until a signal has ended it (`Stop`), or polling
    /// itself fails.
    pub fn run(&mut self) -> io::Result<Stop> {
        let mut events = Events::with_capacity(1024);
        loop {
            let next = match (self.timers.next_deadline(), self.drain_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let now = Instant::now();
            let timeout = if self.again.is_empty() && !self.stdin_again {
                next.map(|d| d.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            // The poll's own timeout is in whole milliseconds, rounded up;
            // the timerfd wakes it on time. It is re-armed only when the
            // earliest deadline comes before the armed one, or the armed one
            // has passed: a later deadline just costs one early wake-up, and
            // with no deadline left the one-shot timer stays spent (no wakes).
            let rearm = match (next, self.armed) {
                (Some(n), Some(a)) => n < a || a <= now,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if rearm && timeout != Some(Duration::ZERO) && self.wake.set(timeout).is_ok() {
                self.armed = next;
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.now = Instant::now();
            self.date.update();
            self.turn += 1;
            self.writes_left = TURN_WRITES;
            // What the last turn left over is served after this turn's
            // events: every connection gets its share first.
            let again = std::mem::take(&mut self.again);
            for event in events.iter() {
                if event.token() == LISTENER {
                    self.accept();
                    continue;
                }
                if event.token() == WAKE {
                    // Only wakes the poll: what is due is handled below.
                    continue;
                }
                if event.token() == STDIN {
                    self.stdin_again = true;
                    continue;
                }
                if event.token() == SIGNAL {
                    if let Some(stop) = self.on_signal() {
                        return Ok(stop);
                    }
                    continue;
                }
                let Some(key) = self.current(event.token()) else { continue };
                let hup = event.is_read_closed() || event.is_error();
                let readable = event.is_readable();
                let v = self.with_conn(key, |c, l, e, b| conn_io::on_ready(c, l, e, b, readable, hup));
                self.apply(key, v);
            }
            if std::mem::take(&mut self.stdin_again) {
                self.read_stdin();
            }
            // Those the turn's writes did not reach go first next turn.
            let mut waiting = Vec::new();
            for token in again {
                if self.writes_left == 0 {
                    waiting.push(token);
                } else if let Some(key) = self.current(token) {
                    let v = self.with_conn(key, |c, l, e, b| conn_io::pump(c, l, e, b, false));
                    self.apply(key, v);
                }
            }
            if !waiting.is_empty() {
                waiting.append(&mut self.again);
                self.again = waiting;
            }
            // Collect what is due first, so a stream re-armed for an
            // overdue event waits for the next turn: one event per turn.
            let mut due = std::mem::take(&mut self.due);
            while let Some(key) = self.timers.pop_due(self.now) {
                due.push(key);
            }
            for &key in &due {
                if key == ACCEPT_TIMER {
                    // Still paused: a failure again is not logged again.
                    self.accept();
                } else if self.conns.contains(key - 1) {
                    let v = self.with_conn(key - 1, conn_io::on_timer);
                    self.apply(key - 1, v);
                }
            }
            due.clear();
            self.due = due;
            if let Some(stop) = self.drain_step() {
                return Ok(stop);
            }
        }
    }

    /// This turn's share of standard input (`--stdin`): each line read is
    /// published, and written to the channel's subscribers.
    fn read_stdin(&mut self) {
        let Some(stdin) = &mut self.stdin else { return };
        let mut more = false;
        for _ in 0..READ_BUDGET / READ_CHUNK {
            more = stdin.read_once(&mut self.read_buf, &mut self.site.channels);
            if !more {
                break;
            }
        }
        self.stdin_again = more && !stdin.ended;
        if stdin.ended {
            if stdin.polled {
                let fd = stdin.raw_fd();
                let _ = self.poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
            }
            self.stdin = None;
        }
        if self.site.channels.has_outbox() {
            self.fan_out();
        }
    }

    /// Runs `f` on connection `key` with what a connection may use.
    fn with_conn(
        &mut self,
        key: usize,
        f: impl FnOnce(&mut Conn, &mut Link, &mut Env, &mut Vec<u8>) -> Verdict,
    ) -> Verdict {
        let Some(slot) = self.conns.get_mut(key) else { return Verdict::Continue };
        let link = &slot.link;
        let peer =
            Peer { token: token_of(key, link.serial), full: link.full, loopback: link.loopback, addr: link.peer.get() };
        let mut env = Env {
            now: self.now,
            turn: self.turn,
            date: &self.date,
            timeouts: self.timeouts,
            peer,
            site: &mut self.site,
            metrics: &mut self.metrics,
            streams: &mut self.streams,
            writes_left: &mut self.writes_left,
        };
        f(&mut slot.conn, &mut slot.link, &mut env, &mut self.read_buf)
    }

    /// The slot of a token, if the connection it was made for still owns it.
    fn current(&self, token: Token) -> Option<usize> {
        let key = token.0 & 0xffff_ffff;
        let serial = (token.0 >> 32) as u32;
        self.conns.get(key).filter(|s| s.link.serial == serial).map(|_| key)
    }

    /// Carries out a verdict; then writes what was published meanwhile.
    fn apply(&mut self, key: usize, verdict: Verdict) {
        self.carry_out(key, verdict);
        if self.site.channels.has_outbox() {
            self.fan_out();
        }
    }

    /// Writes each published event to every subscriber of its channel: the
    /// same bytes, one write each where the socket takes them. A subscriber
    /// too far behind is closed as a slow consumer (it resumes from the
    /// history).
    fn fan_out(&mut self) {
        let mut tokens = std::mem::take(&mut self.tokens);
        while let Some(event) = self.site.channels.take_outbox(&mut tokens) {
            for &token in &tokens {
                if let Some(key) = self.current(token) {
                    let v = self.with_conn(key, |c, l, e, b| conn_io::deliver(c, l, e, b, &event));
                    self.carry_out(key, v);
                }
            }
        }
        self.tokens = tokens;
    }

    fn carry_out(&mut self, key: usize, verdict: Verdict) {
        match verdict {
            Verdict::Close(end) => self.close(key, end),
            // A stream started: its input (if any) and its first bytes are
            // served on the next turn, like work the budget left over.
            Verdict::Again | Verdict::Started => {
                if verdict == Verdict::Started
                    && let Some(slot) = self.conns.get(key)
                {
                    self.started_while_draining(token_of(key, slot.link.serial));
                }
                if let Some(slot) = self.conns.get(key) {
                    self.again.push(token_of(key, slot.link.serial));
                }
                self.sync(key);
            }
            Verdict::Continue => self.sync(key),
        }
    }

    /// Brings the registered interest and the timer in line with the
    /// connection's state.
    fn sync(&mut self, key: usize) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        let want = !slot.conn.output().is_empty();
        if want != slot.link.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let token = token_of(key, slot.link.serial);
            if self.poll.registry().reregister(&mut slot.link.socket, token, interest).is_err() {
                self.close(key, Some(StreamEnd::Error));
                return;
            }
            slot.link.writable = want;
        }
        let deadline = slot.conn.deadline(self.timeouts);
        if self.timers.get(key + 1) != deadline {
            match deadline {
                Some(d) => self.timers.set(key + 1, d),
                None => self.timers.cancel(key + 1),
            }
        }
    }

    fn close(&mut self, key: usize, end: Option<StreamEnd>) {
        let Some(mut slot) = self.conns.try_remove(key) else { return };
        let _ = self.poll.registry().deregister(&mut slot.link.socket);
        self.timers.cancel(key + 1);
        self.metrics.connections = self.conns.len() as u64;
        slot.conn.finish(end, slot.link.peer.get(), &mut self.metrics, &mut self.streams, &mut self.site.channels);
        if self.accept_paused {
            // A descriptor and a slot are free again.
            self.accept();
        }
    }
}

/// A connection's token: its slab slot, and the serial that tells it from
/// the slot's earlier and later owners.
fn token_of(key: usize, serial: u32) -> Token {
    Token(key | (serial as usize) << 32)
}
