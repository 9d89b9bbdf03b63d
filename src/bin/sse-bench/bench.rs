//! The run: one `Poll`, the `Slab` of connections, and three timers kept as
//! plain deadlines (the next connect, the next progress line, the end).
//!
//! Each turn: poll until the earliest deadline or a readiness event, read
//! the clock once, drive the connections that have events, then act on the
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

/// Runs the bench as `opts` says; the totals and the measured duration.
pub fn run(opts: &Options) -> io::Result<(Stats, Duration)> {
    match net::raise_nofile_limit() {
        Ok(limit) if limit < opts.connections as u64 + FD_RESERVE => eprintln!(
            "sse-bench: warning: the open-file limit is {limit}, fewer than {} connections need",
            opts.connections
        ),
        Ok(_) => {}
        Err(e) => eprintln!("sse-bench: warning: cannot read the open-file limit: {e}"),
    }
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(EVENTS);
    let mut conns: Slab<Conn> = Slab::with_capacity(opts.connections.min(PREALLOCATE));
    let mut stats = Stats::default();
    let mut buf = vec![0; READ_BUF];
    let request = opts.request();
    let dest = opts.dest();
    let interval_us = opts.interval_ms.saturating_mul(1000);

    let start = Instant::now();
    let end = start + opts.duration;
    let mut next_progress = start + PROGRESS_EVERY;
    let mut events_at_progress = 0;
    let mut timeout = Some(Duration::ZERO);
    let now = loop {
        if let Err(e) = poll.poll(&mut events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        let now = Instant::now();
        let arrival_us = u64::try_from(now.duration_since(start).as_micros()).unwrap_or(u64::MAX);
        for event in events.iter() {
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let mut ctx =
                Ctx { now, arrival_us, interval_us, request: &request, registry: poll.registry(), stats: &mut stats };
            if let Some(end) = conn.drive(&mut buf, &mut ctx) {
                // A stream that ended after the `count=` it asked for is
                // complete, not closed early.
                let complete =
                    matches!(end, End::EarlyClose) && opts.count.is_some() && conn.last_event() == opts.count;
                // Dropping the stream closes it, which also removes it from
                // the poll's interest list.
                conns.remove(key);
                if complete {
                    stats.open = stats.open.saturating_sub(1);
                    stats.completed += 1;
                } else {
                    record_end(&mut stats, end);
                }
            }
        }
        if now >= end {
            break now;
        }

        // Connect k (0-based) is due at start + k / rate: a timer, so the
        // rate holds however busy the loop is, catching up after a slow turn.
        let due = (now.duration_since(start).as_secs_f64() * opts.rate).floor() as u64 + 1;
        let due = due.min(opts.connections as u64);
        while stats.attempted < due {
            let index = stats.attempted as usize;
            stats.attempted += 1;
            open(&mut poll, &mut conns, &mut stats, dest, opts.source(index), now);
        }

        if now >= next_progress {
            eprintln!(
                "{:6.1}s  open {:6}  events/s {:8}  failed {}  errors {}  early closes {}  completed {}",
                now.duration_since(start).as_secs_f64(),
                stats.open,
                stats.events - events_at_progress,
                stats.failed,
                stats.errors,
                stats.early_closes,
                stats.completed
            );
            events_at_progress = stats.events;
            // From the schedule, not from now, so the lines do not drift.
            while next_progress <= now {
                next_progress += PROGRESS_EVERY;
            }
        }

        let mut wake = end.min(next_progress);
        if stats.attempted < opts.connections as u64 {
            wake = wake.min(start + Duration::from_secs_f64(stats.attempted as f64 / opts.rate));
        }
        timeout = Some(wake.saturating_duration_since(now));
    };

    // Connections that are not streams by now never got their head.
    for (_, conn) in conns.iter() {
        if !conn.is_streaming() {
            stats.failed += 1;
            stats.note("no response head before the end");
        }
    }
    drop(conns);
    Ok((stats, now.duration_since(start)))
}

/// Starts connect number `stats.attempted` and registers it.
fn open(
    poll: &mut Poll,
    conns: &mut Slab<Conn>,
    stats: &mut Stats,
    dest: std::net::SocketAddr,
    source: Option<std::net::Ipv4Addr>,
    now: Instant,
) {
    let mut stream = match net::connect(dest, source) {
        Ok(stream) => stream,
        Err(e) => {
            stats.failed += 1;
            stats.note(format_args!("connect: {}", Cause::from(e)));
            return;
        }
    };
    let entry = conns.vacant_entry();
    let token = Token(entry.key());
    let interest = Interest::READABLE | Interest::WRITABLE;
    if let Err(e) = poll.registry().register(&mut stream, token, interest) {
        stats.failed += 1;
        stats.note(format_args!("register: {}", Cause::from(e)));
        return;
    }
    entry.insert(Conn::new(stream, token, now));
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
