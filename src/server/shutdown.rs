//! Graceful shutdown: on SIGTERM or SIGINT (read through the poll from a
//! `signalfd`, never in a handler), stop accepting, let the answers in
//! flight finish, and end the open streams spread evenly over `--drain`
//! (in a random order, one in each of as many equal slices, at a random
//! moment of it), each with a `retry:` drawn at random, so that clients do
//! not all come back at the same moment (Mercure's rolling update is the
//! model). A second signal exits at once.
//!
//! What always holds: once draining, no connection is accepted (the
//! listener is closed, so a sibling process or the next instance gets the
//! new ones; those already in its backlog are taken first and answered,
//! since closing a listener resets them); every stream is ended at its time in the plan (a stream that
//! an answer in flight starts is ended at once), and the loop ends when the
//! last connection has gone, or at the end of the drain period plus
//! `DRAIN_GRACE`, whatever is left being closed then. The closing log line
//! counts what happened, not what was planned: its figures add up to the
//! connections open at the start.

use std::collections::HashSet;
use std::time::Instant;

use mio::Token;

use super::{Server, token_of};
use crate::config::DRAIN_GRACE;
use crate::conn::Verdict;
use crate::metrics::StreamEnd;

/// How `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Drained: every connection ended as planned (exit code 0).
    Drained,
    /// A second signal: stopped at once (exit code 1).
    Now,
}

/// A shutdown under way.
pub(super) struct Drain {
    signal: &'static str,
    began: Instant,
    /// The end of the drain period.
    until: Instant,
    /// When each stream ends, earliest first; `next` is the first not done.
    plan: Vec<(Instant, Token)>,
    next: usize,
    /// Streams planned (started ones included), and other connections.
    streams: u64,
    others: u64,
    /// Streams ended (for any reason) before the drain, and those ended
    /// for a shutdown.
    ended_before: u64,
    shutdown_before: u64,
}

impl Server {
    /// A signal arrived: the first begins the drain, a second stops now.
    pub(super) fn on_signal(&mut self) -> Option<Stop> {
        let signals = self.signals.as_ref()?;
        let (name, count) = signals.take()?;
        if let Some(d) = &self.drain {
            log::warn!("{name} while draining (after {} ms): stopping at once", d.began.elapsed().as_millis());
            return Some(Stop::Now);
        }
        if count > 1 {
            log::warn!("{name} and a second signal at once: stopping at once");
            return Some(Stop::Now);
        }
        self.begin_drain(name);
        None
    }

    fn begin_drain(&mut self, signal: &'static str) {
        self.timers.cancel(super::ACCEPT_TIMER);
        let now = self.now;
        let drain = self.drain_period;
        let mut streams = Vec::new();
        let mut others = Vec::new();
        for (key, slot) in self.conns.iter() {
            if slot.conn.stream().is_some() {
                streams.push(token_of(key, slot.link.serial));
            } else {
                others.push(key);
            }
        }
        // A random order (Fisher-Yates), then stream i at a random moment
        // of slice i: evenly spread, and never two at the same moment.
        for i in (1..streams.len()).rev() {
            streams.swap(i, (self.site.random() % (i as u64 + 1)) as usize);
        }
        let n = streams.len().max(1) as f64;
        let plan: Vec<(Instant, Token)> = (0..streams.len())
            .zip(streams)
            .map(|(i, token)| {
                let u = (self.site.random() % 1_000_000) as f64 / 1_000_000.0;
                (now + drain.mul_f64((i as f64 + u) / n), token)
            })
            .collect();
        let planned = plan.len();
        self.drain = Some(Drain {
            signal,
            began: now,
            until: now + drain,
            plan,
            next: 0,
            streams: planned as u64,
            others: others.len() as u64,
            ended_before: self.metrics.streams_ended(),
            shutdown_before: self.metrics.ended(StreamEnd::Shutdown),
        });
        // The others first: an idle or silent one closes at once, which
        // makes room for the backlog.
        let mut n_others = others.len();
        self.last_answers(&others);
        // Connections waiting in the backlog would be reset when the
        // listener closes (a sibling does not get them): taken now (as far
        // as the cap allows), they are answered with the rest. A socket the
        // service manager passed keeps its backlog for the next instance,
        // so it is left alone.
        if !self.inherited {
            let known: HashSet<u32> = self.conns.iter().map(|(_, s)| s.link.serial).collect();
            self.accept_backlog();
            let taken: Vec<usize> =
                self.conns.iter().filter(|(_, s)| !known.contains(&s.link.serial)).map(|(k, _)| k).collect();
            if let Some(d) = &mut self.drain {
                d.others += taken.len() as u64;
            }
            n_others += taken.len();
            self.last_answers(&taken);
        }
        for mut listener in [self.listener.take(), self.metrics_listener.take()].into_iter().flatten() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        log::info!(
            "{signal}: shutting down; {planned} streams end over {} ms, {n_others} other connections finish their answers",
            drain.as_millis(),
        );
    }

    /// The connections `keys`: each answer under way is the last. What has
    /// come and not been read yet is read first (with the next answer the
    /// last), so a request that was on its way is not taken for silence.
    fn last_answers(&mut self, keys: &[usize]) {
        for &key in keys {
            let v = self.with_conn(key, |c, l, e, b| {
                c.mark_last();
                l.readable = true;
                if let v @ Verdict::Close(_) = crate::io::pump(c, l, e, b, false) {
                    return v;
                }
                match c.last_answer(e.now) {
                    Verdict::Close(end) => Verdict::Close(end),
                    _ => crate::io::pump(c, l, e, b, false),
                }
            });
            self.apply(key, v);
        }
    }

    /// Ends the streams whose time has come; `Some` once the drain is over.
    pub(super) fn drain_step(&mut self) -> Option<Stop> {
        let d = self.drain.as_mut()?;
        let now = self.now;
        let mut due = Vec::new();
        while let Some(&(at, token)) = d.plan.get(d.next) {
            if at > now {
                break;
            }
            d.next += 1;
            due.push(token);
        }
        for token in due {
            if let Some(key) = self.current(token) {
                let retry = self.site.retry_ms();
                let v = self.with_conn(key, |c, l, e, b| match c.end_stream(retry, e) {
                    Verdict::Close(end) => Verdict::Close(end),
                    _ => crate::io::pump(c, l, e, b, false),
                });
                self.apply(key, v);
            }
        }
        let d = self.drain.as_ref()?;
        let late = now >= d.until + DRAIN_GRACE;
        if !self.conns.is_empty() && !late {
            return None;
        }
        let cut_streams = self.conns.iter().filter(|(_, s)| s.conn.stream().is_some()).count() as u64;
        // A connection lingering for its client's EOF has its answer out:
        // finished, not cut.
        let lingering = self.conns.iter().filter(|(_, s)| s.conn.lingering()).count() as u64;
        let cut_others = self.conns.len() as u64 - cut_streams - lingering;
        let retried = self.metrics.ended(StreamEnd::Shutdown) - d.shutdown_before;
        let ended = self.metrics.streams_ended() - d.ended_before;
        log::info!(
            "{}: shut down after {} ms; {retried} streams ended with a retry, {} ended before their turn \
             (client gone, or count reached), {} other connections finished, {} cut at the end",
            d.signal,
            d.began.elapsed().as_millis(),
            ended - retried,
            d.others.saturating_sub(cut_others),
            cut_streams + cut_others,
        );
        let keys: Vec<(usize, Option<StreamEnd>)> = self.conns.iter().map(|(k, s)| (k, s.conn.cut_reason())).collect();
        for (key, why) in keys {
            // A stream cut here ends for what it was ending for, or for the
            // shutdown: not on an error.
            self.close(key, why);
        }
        Some(Stop::Drained)
    }

    /// A stream started while draining (an answer in flight): it ends at
    /// once, with its `retry:`, and is counted with the others.
    pub(super) fn started_while_draining(&mut self, token: Token) {
        if let Some(d) = &mut self.drain {
            d.plan.insert(d.next, (self.now, token));
            d.streams += 1;
            d.others = d.others.saturating_sub(1);
        }
    }

    /// When the drain next needs the loop: a stream's time, or its end.
    pub(super) fn drain_deadline(&self) -> Option<Instant> {
        let d = self.drain.as_ref()?;
        Some(d.plan.get(d.next).map_or(d.until + DRAIN_GRACE, |p| p.0.min(d.until + DRAIN_GRACE)))
    }
}
