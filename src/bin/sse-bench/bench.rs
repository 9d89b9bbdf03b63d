//! The run: one `Poll`, the `Slab` of streams, paced connects and the
//! progress line, kept as plain deadlines. `Run` is shared by the load run
//! (`run`, below) and by `--publish` (`publish::run`), which adds its
//! publisher and its phases around it.
//!
//! Each turn: poll until the earliest deadline or a readiness event, read
//! the clock once, drive the streams that have events, then act on the
//! deadlines that are due. New connections are only opened after the events
//! of a turn are handled, and a closed one is removed at once: so an event
//! left in the batch for a removed connection finds no entry (and is
//! skipped), never a newcomer in its slot, whose socket is registered later.

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::conn::{Cause, Conn, Ctx, End};
use crate::net;
use crate::opts::Options;
use crate::sse;
use crate::stats::Stats;

/// Readiness events taken per poll.
const EVENTS: usize = 1024;
/// One read buffer shared by all connections (they are served in turn).
const READ_BUF: usize = 64 * 1024;
/// Descriptors kept for the poll, stdio and the like, below the limit.
const FD_RESERVE: u64 = 16;
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Connection slots allocated up front; the slab grows past that if needed.
const PREALLOCATE: usize = 16 * 1024;

/// Runs the load run as `opts` says; the totals and the measured duration.
pub fn run(opts: &Options) -> io::Result<(Stats, Duration)> {
    let mut run = Run::new(opts, false)?;
    let end = run.start + opts.duration;
    let mut timeout = Some(Duration::ZERO);
    let now = loop {
        let now = run.turn(timeout, |_, _, _, _| {})?;
        if now >= end {
            break now;
        }
        run.connect_due(now);
        run.progress(now);
        timeout = Some(run.wake(now).min(end).saturating_duration_since(now));
    };
    Ok(run.finish(now))
}

/// What every run has: the poll, the streams and their totals.
pub struct Run<'a> {
    opts: &'a Options,
    pub poll: Poll,
    events: Events,
    conns: Slab<Conn>,
    pub stats: Stats,
    buf: Vec<u8>,
    request: Vec<u8>,
    pub start: Instant,
    /// Streams read stamps (`--publish`), not numbered ids.
    stamped: bool,
    /// Stamped events delivered to streams that have ended.
    gone_delivered: u64,
    next_progress: Instant,
    events_at_progress: u64,
}

impl<'a> Run<'a> {
    pub fn new(opts: &'a Options, stamped: bool) -> io::Result<Run<'a>> {
        match net::raise_nofile_limit() {
            Ok(limit) if limit < opts.connections as u64 + FD_RESERVE => eprintln!(
                "sse-bench: warning: the open-file limit is {limit}, fewer than {} connections need",
                opts.connections
            ),
            Ok(_) => {}
            Err(e) => eprintln!("sse-bench: warning: cannot read the open-file limit: {e}"),
        }
        let start = Instant::now();
        Ok(Run {
            opts,
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS),
            conns: Slab::with_capacity(opts.connections.min(PREALLOCATE)),
            stats: Stats::default(),
            buf: vec![0; READ_BUF],
            request: opts.request(),
            start,
            stamped,
            gone_delivered: 0,
            next_progress: start + PROGRESS_EVERY,
            events_at_progress: 0,
        })
    }

    /// Microseconds from the start to `now`.
    pub fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    /// One poll, and the streams it reports driven; a readiness event of a
    /// token that is no stream goes to `other` (token, read buffer, stats,
    /// the poll's registry). Returns the time the poll returned.
    pub fn turn(
        &mut self,
        timeout: Option<Duration>,
        mut other: impl FnMut(Token, &mut [u8], &mut Stats, &mio::Registry),
    ) -> io::Result<Instant> {
        if let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        let now = Instant::now();
        let poll_wall_ns =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let arrival_us = self.micros(now);
        let interval_us = self.opts.interval_ms.saturating_mul(1000);
        for event in self.events.iter() {
            let key = event.token().0;
            let Some(conn) = self.conns.get_mut(key) else {
                other(event.token(), &mut self.buf, &mut self.stats, self.poll.registry());
                continue;
            };
            let mut ctx = Ctx {
                now,
                arrival_us,
                poll_wall_ns,
                interval_us,
                request: &self.request,
                registry: self.poll.registry(),
                stats: &mut self.stats,
            };
            if let Some(end) = conn.drive(&mut self.buf, &mut ctx) {
                // A stream that ended after the `count=` it asked for is
                // complete, not closed early.
                let complete =
                    matches!(end, End::EarlyClose) && self.opts.count.is_some() && conn.last_event() == self.opts.count;
                self.gone_delivered += conn.delivered();
                // Dropping the stream closes it, which also removes it from
                // the poll's interest list.
                self.conns.remove(key);
                if complete {
                    self.stats.open = self.stats.open.saturating_sub(1);
                    self.stats.completed += 1;
                } else {
                    record_end(&mut self.stats, end);
                }
            }
        }
        Ok(now)
    }

    /// Opens the connects that are due: connect k (0-based) is due at
    /// start + k / rate, a timer, so the rate holds however busy the loop
    /// is, catching up after a slow turn.
    pub fn connect_due(&mut self, now: Instant) {
        let due = (now.duration_since(self.start).as_secs_f64() * self.opts.rate).floor() as u64 + 1;
        let due = due.min(self.opts.connections as u64);
        while self.stats.attempted < due {
            let index = self.stats.attempted as usize;
            self.stats.attempted += 1;
            self.open(self.opts.source(index), now);
        }
    }

    /// Whether every connect has been made and has an outcome (a stream,
    /// or a failure).
    pub fn all_connected(&self) -> bool {
        let n = self.opts.connections as u64;
        self.stats.attempted == n && self.stats.connected + self.stats.failed >= n
    }

    /// Stamped events delivered to the streams still open.
    pub fn open_delivered(&self) -> u64 {
        self.stats.delivered - self.gone_delivered
    }

    /// The progress line, once a second.
    pub fn progress(&mut self, now: Instant) {
        if now < self.next_progress {
            return;
        }
        let s = &self.stats;
        let delivered = if self.stamped { format!("  delivered {}", s.delivered) } else { String::new() };
        eprintln!(
            "{:6.1}s  open {:6}  events/s {:8}  failed {}  errors {}  early closes {}  completed {}{delivered}",
            now.duration_since(self.start).as_secs_f64(),
            s.open,
            s.events - self.events_at_progress,
            s.failed,
            s.errors,
            s.early_closes,
            s.completed
        );
        self.events_at_progress = s.events;
        // From the schedule, not from now, so the lines do not drift.
        while self.next_progress <= now {
            self.next_progress += PROGRESS_EVERY;
        }
    }

    /// The earliest of the next progress line and the next connect.
    pub fn wake(&self, now: Instant) -> Instant {
        let mut wake = self.next_progress.max(now);
        if self.stats.attempted < self.opts.connections as u64 {
            let next = self.start + Duration::from_secs_f64(self.stats.attempted as f64 / self.opts.rate);
            wake = wake.min(next);
        }
        wake
    }

    /// Ends the run at `now`: connections that are not streams by now never
    /// got their head. The totals, and the run's duration.
    pub fn finish(mut self, now: Instant) -> (Stats, Duration) {
        for (_, conn) in self.conns.iter() {
            if !conn.is_streaming() {
                self.stats.failed += 1;
                self.stats.note("no response head before the end");
            }
        }
        drop(self.conns);
        (self.stats, now.duration_since(self.start))
    }

    /// Starts connect number `stats.attempted` and registers it.
    fn open(&mut self, source: Option<std::net::Ipv4Addr>, now: Instant) {
        let stats = &mut self.stats;
        let mut stream = match net::connect(self.opts.dest(), source) {
            Ok(stream) => stream,
            Err(e) => {
                stats.failed += 1;
                stats.note(format_args!("connect: {}", Cause::from(e)));
                return;
            }
        };
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            stats.failed += 1;
            stats.note(format_args!("register: {}", Cause::from(e)));
            return;
        }
        let reader = if self.stamped { sse::Reader::stamped() } else { sse::Reader::new() };
        entry.insert(Conn::new(stream, token, now, reader));
    }
}

fn record_end(stats: &mut Stats, end: End) {
    match end {
        End::Failed(cause) => {
            stats.failed += 1;
            stats.note(cause);
        }
        End::EarlyClose => {
            stats.open = stats.open.saturating_sub(1);
            stats.early_closes += 1;
        }
        End::Error(cause) => {
            stats.open = stats.open.saturating_sub(1);
            stats.errors += 1;
            stats.note(cause);
        }
    }
}

/// Why a load run did not measure what was asked, if it did not: streams
/// that did not connect (refused, or not even opened before `--duration`
/// ended), ended early or broke, or ids with a gap or a repeat. Any of
/// these makes the exit code 1.
pub fn fault(stats: &Stats, connections: u64) -> Option<String> {
    let never = connections.saturating_sub(stats.attempted);
    let faults = [
        (
            stats.connected < connections,
            format!(
                "{} of {connections} streams connected ({} failed, {never} not opened before the run ended)",
                stats.connected, stats.failed
            ),
        ),
        (
            stats.early_closes > 0 || stats.errors > 0,
            format!(
                "{} streams ended early ({} closed by the server, {} broken)",
                stats.early_closes + stats.errors,
                stats.early_closes,
                stats.errors
            ),
        ),
        (stats.gaps > 0, format!("{} id gaps", stats.gaps)),
        (stats.repeats > 0, format!("{} repeated ids", stats.repeats)),
    ];
    crate::stats::faults(faults, "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_fails_for_what_it_did_not_measure() {
        let run = |change: fn(&mut Stats)| {
            let mut s = Stats::default();
            (s.attempted, s.connected) = (10, 10);
            change(&mut s);
            s
        };
        assert_eq!(fault(&run(|_| {}), 10), None);
        // (what went wrong, the start of the reason)
        type Case = (fn(&mut Stats), &'static str);
        let table: [Case; 6] = [
            (|s| (s.connected, s.failed) = (8, 2), "8 of 10 streams connected (2 failed, 0 not"),
            (|s| (s.attempted, s.connected) = (4, 4), "4 of 10 streams connected (0 failed, 6 not opened"),
            (|s| s.early_closes = 3, "3 streams ended early (3 closed by the server, 0 broken)"),
            (|s| s.errors = 1, "1 streams ended early (0 closed by the server, 1 broken)"),
            (|s| s.gaps = 2, "2 id gaps"),
            (|s| s.repeats = 5, "5 repeated ids"),
        ];
        for (change, want) in table {
            let why = fault(&run(change), 10).unwrap_or_default();
            assert!(why.starts_with(want), "{why:?}, want {want:?}");
        }
    }
}
