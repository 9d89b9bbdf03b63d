//! Graceful shutdown: on SIGTERM or SIGINT (read through the poll from a
//! `signalfd`, never in a handler), stop accepting, let the answers in
//! flight finish, and end the open streams spread over `--drain`, each with
//! a `retry:` drawn at random, so that clients do not all come back at the
//! same moment (Mercure's rolling update is the model). A second signal
//! exits at once.
//!
//! What always holds: once draining, no connection is accepted (the
//! listener is closed, so a sibling process or the next instance gets the
//! new ones); every stream is ended at its time in the plan, and the loop
//! ends when the last connection has gone, or at the end of the drain
//! period plus `DRAIN_GRACE`, whatever is left being closed then.

use std::time::Instant;

use mio::Token;

use super::{Server, token_of};
use crate::config::{DRAIN_GRACE, FULL_RETRY_MS};
use crate::conn::Verdict;

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
    streams: usize,
    others: usize,
}

impl Server {
    /// A signal arrived: the first begins the drain, a second stops now.
    pub(super) fn on_signal(&mut self) -> Option<Stop> {
        let signals = self.signals.as_ref()?;
        let name = signals.take()?;
        if let Some(d) = &self.drain {
            log::warn!("{name} while draining (after {} ms): stopping at once", d.began.elapsed().as_millis());
            return Some(Stop::Now);
        }
        self.begin_drain(name);
        None
    }

    fn begin_drain(&mut self, signal: &'static str) {
        for mut listener in [self.listener.take(), self.metrics_listener.take()].into_iter().flatten() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.timers.cancel(super::ACCEPT_TIMER);
        let now = self.now;
        let drain = self.drain_period;
        let mut plan = Vec::new();
        let mut others = Vec::new();
        for (key, slot) in self.conns.iter() {
            let token = token_of(key, slot.link.serial);
            if slot.conn.stream().is_some() {
                // Spread evenly over the period, in a random order.
                let offset = drain.mul_f64((self.site.random() % 1_000_000) as f64 / 1_000_000.0);
                plan.push((now + offset, token));
            } else {
                others.push(key);
            }
        }
        plan.sort_by_key(|p| p.0);
        log::info!(
            "{signal}: shutting down; {} streams end over {} ms, {} other connections finish their answers",
            plan.len(),
            drain.as_millis(),
            others.len()
        );
        let (streams, n_others) = (plan.len(), others.len());
        self.drain = Some(Drain { signal, began: now, until: now + drain, plan, next: 0, streams, others: n_others });
        for key in others {
            let v = self.with_conn(key, |c, l, e, b| match c.last_answer(e.now) {
                Verdict::Close(end) => Verdict::Close(end),
                _ => crate::io::pump(c, l, e, b, false),
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
        let (lo, hi) = FULL_RETRY_MS;
        for token in due {
            if let Some(key) = self.current(token) {
                let retry = lo + self.site.random() % (hi - lo + 1);
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
        let cut = self.conns.len();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, None);
        }
        let d = self.drain.as_ref()?;
        log::info!(
            "{}: shut down after {} ms; {} streams ended with a retry, {} other connections finished, {} cut at the end",
            d.signal,
            d.began.elapsed().as_millis(),
            d.streams,
            d.others,
            cut
        );
        Some(Stop::Drained)
    }

    /// When the drain next needs the loop: a stream's time, or its end.
    pub(super) fn drain_deadline(&self) -> Option<Instant> {
        let d = self.drain.as_ref()?;
        Some(d.plan.get(d.next).map_or(d.until + DRAIN_GRACE, |p| p.0.min(d.until + DRAIN_GRACE)))
    }
}
