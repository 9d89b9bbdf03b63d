//! The stream kind of a channel's subscriber: the replay of the history
//! it resumed into, then every event published to the channel, pushed by
//! the loop as it is published (`channel`, `Source::push`).
//!
//! What always holds: events go out in the order they were published, each
//! once: live events that come while the replay is still going out wait
//! behind it. The replay goes out a bounded write at a time, when the
//! output is empty; live events waiting behind it are bounded by
//! `MAX_PENDING_OUTPUT` (past it the client is a slow consumer and resumes
//! from the history).

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::{Emitted, Pushed, Source};
use crate::channel::Membership;
use crate::config::{MAX_PENDING_OUTPUT, MAX_SCRIPT_WRITE};

#[derive(Debug)]
pub struct Subscription {
    membership: Membership,
    /// Events not yet written, oldest first: the replay, then live events
    /// that came during it.
    backlog: VecDeque<Rc<[u8]>>,
    /// Bytes of live events in `backlog`.
    live: usize,
    start: Instant,
}

impl Subscription {
    pub fn new(membership: Membership, replay: Vec<Rc<[u8]>>, now: Instant) -> Subscription {
        Subscription { membership, backlog: replay.into(), live: 0, start: now }
    }
}

impl Source for Subscription {
    fn due(&self) -> Option<Instant> {
        (!self.backlog.is_empty()).then_some(self.start)
    }

    fn emit(&mut self, _id: u64, _now: Instant, out: &mut Vec<u8>) -> Emitted {
        let mut events = 0;
        while let Some(event) = self.backlog.front() {
            if events > 0 && out.len() + event.len() > MAX_SCRIPT_WRITE {
                break;
            }
            out.extend_from_slice(event);
            events += 1;
            self.backlog.pop_front();
        }
        if self.backlog.is_empty() {
            self.live = 0;
        }
        Emitted { events, end: None }
    }

    fn paced_by_output(&self) -> bool {
        true
    }

    fn push(&mut self, event: &Rc<[u8]>, out: &mut Vec<u8>) -> Pushed {
        if self.backlog.is_empty() {
            out.extend_from_slice(event);
            return Pushed::Written;
        }
        self.live += event.len();
        self.backlog.push_back(event.clone());
        if self.live <= MAX_PENDING_OUTPUT { Pushed::Queued } else { Pushed::Slow }
    }

    fn membership(&self) -> Option<Membership> {
        Some(self.membership)
    }
}
