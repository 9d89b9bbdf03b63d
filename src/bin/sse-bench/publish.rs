//! `--publish CHANNEL`: fan-out measured end to end. N subscribers open
//! the channel's stream (paced, as the load run opens streams); once every
//! one has its response head (or `SUBSCRIBE_WAIT` after the last connect),
//! one publisher connection is opened, and `SETTLE` later it POSTs `rate` stamped events
//! per second for `--duration`; then the run waits up to `--drain` for the
//! last answers and for every open subscriber to have every event.
//!
//! Phases, one loop (`bench::Run` drives the subscribers):
//! subscribing -> settling -> publishing -> draining -> the end.
//!
//! What it reports besides the load run's fields: `published` (publishes
//! the server accepted), `publish_errors`, `delivered` (stamped events new
//! to their subscriber), `deliveries_per_sec` (over `Publish::span_s`),
//! the publish-to-delivery latency, and, in this mode, `gaps` as the
//! deliveries missed: accepted publishes × subscribers connected −
//! delivered. The arrival time of an event is when the poll that reported
//! its subscriber readable returned.

pub mod opts;
pub mod publisher;
pub mod stamp;

use std::io;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use crate::bench::Run;
use crate::net;
use crate::opts::Options;
use crate::stats::{self, Stats};
use publisher::Publisher;

/// The publisher's token: no slab key reaches it.
const PUBLISHER: Token = Token(usize::MAX);
/// After every subscriber has its head, before the first publish: time for
/// a server to finish subscribing what it has answered.
const SETTLE: Duration = Duration::from_millis(100);
/// After the last connect, how long to wait for the heads of the rest.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);

enum Phase {
    Subscribing { until: Instant },
    Settling { until: Instant },
    Publishing { from: Instant, until: Instant },
    Draining { until: Instant },
}

/// Runs `--publish` as `opts` and `p` say; the totals and the duration.
pub fn run(opts: &Options, p: &opts::Publish) -> io::Result<(Stats, Duration)> {
    let mut run = Run::new(opts, true)?;
    // Connected once the subscribers are in: an idle connection opened at
    // the start would meet the server's head timeout (10 s) while
    // thousands subscribe.
    let mut publisher: Option<Publisher> = None;
    let connects = Duration::from_secs_f64(opts.connections as f64 / opts.rate);
    let mut phase = Phase::Subscribing { until: run.start + connects + SUBSCRIBE_WAIT };
    // Publishes in the window: number k (from 0) is due at from + k / rate.
    let total = (opts.duration.as_secs_f64() * p.rate).ceil().max(1.0) as u64;
    let mut window = None;
    let mut timeout = Some(Duration::ZERO);
    let now = loop {
        let now = run.turn(timeout, |token, buf, _, _| {
            if token == PUBLISHER
                && let Some(publisher) = publisher.as_mut()
            {
                publisher.on_ready(buf);
            }
        })?;
        run.connect_due(now);
        let mut wake = run.wake(now);
        match phase {
            Phase::Subscribing { until } => {
                if run.all_connected() || now >= until {
                    let mut stream = net::connect(opts.dest(), None)?;
                    run.poll.registry().register(&mut stream, PUBLISHER, Interest::READABLE | Interest::WRITABLE)?;
                    publisher = Some(Publisher::new(stream, &p.path, &opts.dest().to_string(), &p.headers));
                    phase = Phase::Settling { until: now + SETTLE };
                    wake = now;
                } else {
                    wake = wake.min(until);
                }
            }
            Phase::Settling { until } if now >= until => {
                phase = Phase::Publishing { from: now, until: now + opts.duration };
                wake = now;
            }
            Phase::Settling { until } => wake = wake.min(until),
            Phase::Publishing { from, until } => {
                let Some(publisher) = publisher.as_mut() else { break now };
                let due = (now.duration_since(from).as_secs_f64() * p.rate).floor() as u64 + 1;
                publisher.publish_due(due.min(total), run.start);
                if now >= until || publisher.ended.is_some() {
                    window = Some((from, now));
                    phase = Phase::Draining { until: now + p.drain };
                    wake = now;
                } else if publisher.in_flight() < publisher::MAX_IN_FLIGHT {
                    // The next publish (all due ones are out: it is ahead).
                    let next = from + Duration::from_secs_f64(publisher.sent() as f64 / p.rate);
                    wake = wake.min(until).min(next);
                } else {
                    // Held by the in-flight bound: an answer wakes the poll.
                    wake = wake.min(until);
                }
            }
            Phase::Draining { until } => {
                let Some(publisher) = publisher.as_ref() else { break now };
                let answered = publisher.in_flight() == 0 || publisher.ended.is_some();
                let caught_up = run.open_delivered() >= publisher.accepted * run.stats.open;
                if (answered && caught_up) || now >= until {
                    break now;
                }
                wake = wake.min(until);
            }
        }
        run.progress(now);
        timeout = Some(wake.saturating_duration_since(now));
    };
    let Some(publisher) = publisher else {
        return Err(io::Error::other("the run ended before the publisher connected"));
    };
    let unanswered = publisher.in_flight();
    if let Some(why) = &publisher.ended {
        run.stats.note(format_args!("publisher: {why}"));
    } else if unanswered > 0 {
        run.stats.note(format_args!("publisher: {unanswered} publishes unanswered at the end"));
    }
    if publisher.refused > 0 {
        run.stats.note(format_args!("publisher: {} publishes refused", publisher.refused));
    }
    let (from, until) = window.unwrap_or((now, now));
    let first = run.micros(from);
    let span_end = run.micros(until).max(run.stats.last_delivery_us);
    let published = publisher.accepted;
    let (mut stats, duration) = run.finish(now);
    stats.gaps = (published * stats.connected).saturating_sub(stats.delivered);
    stats.publish = Some(stats::Publish {
        published,
        errors: publisher.refused + unanswered,
        span_s: span_end.saturating_sub(first) as f64 / 1e6,
    });
    Ok((stats, duration))
}

/// Why a publish run did not measure what it was asked: `None` when every
/// subscriber connected and got every accepted publish once, in order, and
/// every publish was accepted.
pub fn fault(stats: &Stats) -> Option<String> {
    let p = stats.publish.unwrap_or_default();
    let faults = [
        (stats.connected == 0 || stats.failed > 0, format!("{} subscribers failed to connect", stats.failed)),
        (p.published == 0, "nothing was published".to_string()),
        (p.errors > 0, format!("{} publishes failed", p.errors)),
        (stats.gaps > 0, format!("{} deliveries missed", stats.gaps)),
        (stats.repeats > 0, format!("{} repeated events", stats.repeats)),
    ];
    crate::stats::faults(faults, ", ")
}
