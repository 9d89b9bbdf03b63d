//! The event loop: one `mio::Poll`, the listener, the slab of connections
//! and the timer queue, all owned here.
//!
//! A turn of the loop: poll, with the earliest deadline as the timeout (so
//! an idle server sleeps until something is due, or forever); read the
//! clock once; hand each readiness event to its connection; then the
//! connections whose deadline has come. Handlers return a `Verdict`, and
//! only `apply` here deregisters, removes, re-arms interest and timers.
//!
//! What always holds:
//! - a token carries the slot and a serial number, and an event whose
//!   serial is not the slot's current owner's is dropped, so a reused slot
//!   never gets readiness meant for a closed connection; its timer was
//!   cancelled when it closed;
//! - `WRITABLE` interest is registered only while output is pending;
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

use crate::config::{ACCEPT_RETRY, BACKLOG, Config, FULL_RESERVE, RESERVED_FDS};
use crate::conn::{Conn, Ctx, Verdict};
use crate::metrics::{Metrics, StreamEnd};
use crate::response::HttpDate;
use crate::timer::Timers;
use crate::www::Www;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("sse-server packs a slot and a serial into a 64-bit mio Token");

const LISTENER: Token = Token(usize::MAX);
const WAKE: Token = Token(usize::MAX - 1);
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
    listener: TcpListener,
    conns: Slab<Slot>,
    timers: Timers,
    cx: Ctx,
    max_connections: usize,
    serial: u32,
    /// Accepting stopped: full past the reserve, or out of descriptors.
    accept_paused: bool,
    /// Connections with input left unread, served on the next turn (as
    /// tokens, so a slot reused meanwhile is not mistaken for its owner).
    again: Vec<Token>,
    due: Vec<usize>,
    full_warned: bool,
}

/// A connection and what the loop registered for it.
struct Slot {
    conn: Conn,
    writable: bool,
    /// The stream's connection number, for the log line at its end.
    stream: Option<u64>,
}

impl Server {
    pub fn bind(config: Config) -> Result<Server, StartError> {
        let nofile = crate::sys::raise_nofile_limit();
        let addr = SocketAddr::new(config.bind, config.port);
        let fail = |e: io::Error| StartError(format!("cannot listen on {addr}: {e}"));
        let mut listener = crate::sys::listen(addr, config.reuse_port, BACKLOG).map_err(fail)?;
        let poll = Poll::new().map_err(|e| StartError(format!("cannot create the poll instance: {e}")))?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(fail)?;
        let wake = crate::sys::TimerFd::new().map_err(|e| StartError(format!("cannot create a timerfd: {e}")))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&wake);
        poll.registry()
            .register(&mut mio::unix::SourceFd(&fd), WAKE, Interest::READABLE)
            .map_err(|e| StartError(format!("cannot register the timerfd: {e}")))?;
        let max_connections = config
            .max_connections
            .unwrap_or_else(|| (nofile as usize).saturating_sub(RESERVED_FDS + FULL_RESERVE).max(1));
        let www = Www::new(&config.www);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id()) << 32;
        log::info!("max connections: {max_connections} (open-file limit {nofile})");
        Ok(Server {
            poll,
            wake,
            armed: None,
            listener,
            conns: Slab::new(),
            timers: Timers::new(),
            cx: Ctx {
                now: Instant::now(),
                date: HttpDate::now(),
                config,
                www,
                metrics: Metrics::default(),
                open_connections: 0,
                next_stream: 1,
                rng: seed | 1,
                read_buf: Vec::new(),
                scratch: Vec::new(),
            },
            max_connections,
            serial: 0,
            accept_paused: false,
            again: Vec::new(),
            due: Vec::new(),
            full_warned: false,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs the loop; returns only if polling itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let next = self.timers.next_deadline();
            let now = Instant::now();
            let timeout = if self.again.is_empty() {
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
            self.cx.now = Instant::now();
            self.cx.date.update();
            for event in events.iter() {
                if event.token() == LISTENER {
                    self.accept();
                    continue;
                }
                if event.token() == WAKE {
                    // Only wakes the poll: what is due is handled below.
                    continue;
                }
                let Some(key) = self.current(event.token()) else { continue };
                let hup = event.is_read_closed() || event.is_error();
                if event.is_readable() || hup {
                    let v = self.conns[key].conn.on_readable(&mut self.cx, hup);
                    if !self.apply(key, v) {
                        continue;
                    }
                }
                if event.is_writable() {
                    let v = self.conns[key].conn.on_writable(&mut self.cx);
                    self.apply(key, v);
                }
            }
            for token in std::mem::take(&mut self.again) {
                if let Some(key) = self.current(token) {
                    let v = self.conns[key].conn.on_readable(&mut self.cx, false);
                    self.apply(key, v);
                }
            }
            // Collect what is due first, so a stream re-armed for an
            // overdue event waits for the next turn: one event per turn.
            let mut due = std::mem::take(&mut self.due);
            while let Some(key) = self.timers.pop_due(self.cx.now) {
                due.push(key);
            }
            for &key in &due {
                if key == ACCEPT_TIMER {
                    // Still paused: a failure again is not logged again.
                    self.accept();
                } else if self.conns.contains(key - 1) {
                    let v = self.conns[key - 1].conn.on_timer(&mut self.cx);
                    self.apply(key - 1, v);
                }
            }
            due.clear();
            self.due = due;
        }
    }

    /// The slot of a token, if the connection it was made for still owns it.
    fn current(&self, token: Token) -> Option<usize> {
        let key = token.0 & 0xffff_ffff;
        let serial = (token.0 >> 32) as u32;
        self.conns.get(key).filter(|s| s.conn.serial == serial).map(|_| key)
    }

    /// Carries out a verdict; `false` when the connection is gone.
    fn apply(&mut self, key: usize, verdict: Verdict) -> bool {
        let end = match verdict {
            Verdict::Close(end) => end,
            Verdict::Again => {
                self.again.push(token_of(key, self.conns[key].conn.serial));
                return self.sync(key);
            }
            Verdict::Continue => return self.sync(key),
        };
        self.close(key, end);
        false
    }

    /// Brings the registered interest and the timer in line with the
    /// connection's state.
    fn sync(&mut self, key: usize) -> bool {
        let slot = &mut self.conns[key];
        if slot.stream.is_none() {
            slot.stream = slot.conn.stream().map(|s| s.conn);
        }
        let want = slot.conn.wants_write();
        if want != slot.writable {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let token = token_of(key, slot.conn.serial);
            if self.poll.registry().reregister(&mut slot.conn.socket, token, interest).is_err() {
                let end = slot.stream.map(|_| StreamEnd::Error);
                self.close(key, end);
                return false;
            }
            self.conns[key].writable = want;
        }
        let deadline = self.conns[key].conn.deadline(&self.cx.config);
        if self.timers.get(key + 1) != deadline {
            match deadline {
                Some(d) => self.timers.set(key + 1, d),
                None => self.timers.cancel(key + 1),
            }
        }
        true
    }

    fn close(&mut self, key: usize, end: Option<StreamEnd>) {
        let mut slot = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut slot.conn.socket);
        self.timers.cancel(key + 1);
        self.cx.open_connections = self.conns.len() as u64;
        if let Some(c) = slot.stream {
            let end = end.unwrap_or(StreamEnd::Error);
            self.cx.metrics.stream_ended(end);
            match end {
                StreamEnd::Client => log::info!("Client disconnected from event stream (connection #{c})"),
                StreamEnd::Count => log::info!("Event stream ended after its last event (connection #{c})"),
                StreamEnd::Slow => {}
                StreamEnd::Error => log::warn!("Event stream closed on a socket error (connection #{c})"),
            }
        }
        if self.accept_paused {
            // A descriptor and a slot are free again.
            self.accept();
        }
    }

    /// Accepts until the backlog is empty, the server is full past its
    /// reserve, or descriptors run out.
    fn accept(&mut self) {
        loop {
            if self.conns.len() >= self.max_connections + FULL_RESERVE {
                self.accept_paused = true;
                return;
            }
            let (mut socket, _) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_paused = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.cx.metrics.accept_errors += 1;
                    if is_resource_error(&e) {
                        if !self.accept_paused {
                            log::warn!("accept failed: {e}; retrying when a connection closes or in {ACCEPT_RETRY:?}");
                        }
                        self.accept_paused = true;
                        self.timers.set(ACCEPT_TIMER, self.cx.now + ACCEPT_RETRY);
                        return;
                    }
                    // ECONNABORTED and the like concern one connection.
                    log::debug!("accept failed: {e}");
                    continue;
                }
            };
            let full = self.conns.len() >= self.max_connections;
            if full && !self.full_warned {
                log::warn!("{} connections open: turning new ones away", self.max_connections);
            }
            self.full_warned = full;
            // Events are small writes that must leave at once.
            let _ = socket.set_nodelay(true);
            self.serial = self.serial.wrapping_add(1);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let token = token_of(key, self.serial);
            if self.poll.registry().register(&mut socket, token, Interest::READABLE).is_err() {
                continue;
            }
            entry.insert(Slot {
                conn: Conn::new(socket, self.serial, full, self.cx.now),
                writable: false,
                stream: None,
            });
            self.cx.open_connections = self.conns.len() as u64;
            self.sync(key);
        }
    }
}

/// A connection's token: its slab slot, and the serial that tells it from
/// the slot's earlier and later owners.
fn token_of(key: usize, serial: u32) -> Token {
    Token(key | (serial as usize) << 32)
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
