//! Channels: events that people publish, kept in a bounded history and
//! fanned out to every subscriber, so a client that was away gets exactly
//! what it missed (`POST` and `GET /channels/NAME`).
//!
//! An event's id is `E-S`: E is the channel's epoch (when it was created,
//! in µs since the Unix epoch, and later than every epoch before it in
//! this run) and S counts the channel's events from 1. So ids are ordered
//! within a channel and never reused, across restarts included (as long as
//! the clock does not go back: E runs ahead of the clock only if channels
//! are made more often than once a microsecond, which a request each cannot
//! do), and across a channel freed and made again.
//! A client that resumes from an id of this channel gets the events after
//! it that the history still holds; from an id the history no longer holds,
//! or from another run, it gets everything the history holds, after an
//! event of type `lost` that says how many were lost when that is known.
//!
//! What always holds:
//! - at most `max_channels` channels, of which subscribers can make three
//!   quarters; one with no subscriber and no history is freed at once;
//! - a channel holds at most `history` events and `history_bytes` bytes of
//!   them, oldest dropped first; the events it holds follow each other with
//!   no hole (an event too big to keep empties it), so a resume from an id
//!   before the first it holds is told of a loss;
//! - a subscriber gets, live, only events published after it subscribed
//!   (earlier ones are in its replay, or before its time), each once.
//! - an event is formatted once, when it is published; every subscriber and
//!   every replay gets the same bytes (shared, not copied until written).

mod format;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::rc::Rc;

use mio::Token;
use slab::Slab;

pub use format::{check_event_type, check_name, format_event};

/// The bounds of channels, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_channels: usize,
    /// Events kept per channel (`--history`).
    pub history: usize,
    /// Bytes of events kept per channel (`--history-bytes`).
    pub history_bytes: usize,
}

/// What a publish being read goes to: the route's decision, carried out
/// once the content is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishTo {
    pub channel: Vec<u8>,
    pub event_type: Option<String>,
}

/// Where a subscriber is: its channel and its place among the subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    channel: usize,
    member: usize,
}

#[derive(Debug)]
struct Channel {
    name: Box<[u8]>,
    /// E of its ids.
    epoch: u64,
    /// S of the next event published.
    next: u64,
    /// Oldest first.
    history: VecDeque<(u64, Rc<[u8]>)>,
    bytes: usize,
    /// Each subscriber, and the S of the last event published before it
    /// came (it gets later ones live).
    subscribers: Slab<(Token, u64)>,
}

/// What a new subscriber gets.
#[derive(Debug)]
pub struct Subscribed {
    pub membership: Membership,
    /// The events to replay, oldest first, a `lost` event first if events
    /// were lost.
    pub backlog: Vec<Rc<[u8]>>,
    /// The id the replay starts after, when the client resumed.
    pub after: Option<String>,
}

/// What `/metrics` says of channels (no figure per channel name: names
/// are chosen by clients, so their number is not bounded for a scraper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub channels: u64,
    pub subscribers: u64,
    pub published: u64,
    pub replayed: u64,
    pub lossy_resumes: u64,
    pub history_bytes: u64,
}

/// Why a channel could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `max_channels` exist and this one is not among them.
    Channels,
}

#[derive(Debug)]
pub struct Channels {
    channels: Slab<Channel>,
    names: HashMap<Box<[u8]>, usize>,
    /// The epoch of the channel made last: the next is later.
    last_epoch: u64,
    limits: Limits,
    /// Events published and not yet written to their subscribers; the loop
    /// takes them after each handler.
    /// (The channel's key and epoch, the event's S, its bytes.)
    outbox: VecDeque<(usize, u64, u64, Rc<[u8]>)>,
    /// For `/metrics`.
    pub published: u64,
    pub replayed: u64,
    pub lossy_resumes: u64,
    history_bytes: usize,
    subscribers: usize,
}

impl Channels {
    pub fn new(limits: Limits) -> Channels {
        Channels {
            channels: Slab::new(),
            names: HashMap::new(),
            last_epoch: 0,
            limits,
            outbox: VecDeque::new(),
            published: 0,
            replayed: 0,
            lossy_resumes: 0,
            history_bytes: 0,
            subscribers: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers
    }

    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    pub fn figures(&self) -> Figures {
        Figures {
            channels: self.channels.len() as u64,
            subscribers: self.subscribers as u64,
            published: self.published,
            replayed: self.replayed,
            lossy_resumes: self.lossy_resumes,
            history_bytes: self.history_bytes as u64,
        }
    }

    /// The channel named `name`, created if there is room: a subscriber
    /// (anyone may subscribe) may make channels only up to three quarters
    /// of `max_channels`, so the last quarter stays for publishers (who
    /// are trusted) whatever strangers subscribe to.
    fn open(&mut self, name: &[u8], by_publisher: bool) -> Result<usize, Full> {
        if let Some(&key) = self.names.get(name) {
            return Ok(key);
        }
        let max = self.limits.max_channels;
        let room = if by_publisher { max } else { max - max / 4 };
        if self.channels.len() >= room {
            return Err(Full::Channels);
        }
        let name: Box<[u8]> = name.into();
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.last_epoch = now_us.max(self.last_epoch + 1);
        let key = self.channels.insert(Channel {
            name: name.clone(),
            epoch: self.last_epoch,
            next: 1,
            history: VecDeque::new(),
            bytes: 0,
            subscribers: Slab::new(),
        });
        self.names.insert(name, key);
        Ok(key)
    }

    /// Frees channel `key` if nothing is left in it.
    fn free_if_empty(&mut self, key: usize) {
        let empty = self.channels.get(key).is_some_and(|c| c.subscribers.is_empty() && c.history.is_empty());
        if empty && let Some(c) = self.channels.try_remove(key) {
            self.names.remove(&c.name);
        }
    }

    /// Publishes one event of `event_type` with `data` to channel `name`:
    /// it takes the next id, goes into the history, and waits in the outbox
    /// for the loop to write it to every subscriber. Returns the id.
    pub fn publish(&mut self, name: &[u8], event_type: Option<&str>, data: &str) -> Result<String, Full> {
        let key = self.open(name, true)?;
        let limits = self.limits;
        let Some(c) = self.channels.get_mut(key) else { return Err(Full::Channels) };
        let seq = c.next;
        c.next += 1;
        let id = format!("{}-{seq}", c.epoch);
        let bytes: Rc<[u8]> = format_event(event_type, &id, data).into();
        if limits.history > 0 && bytes.len() <= limits.history_bytes {
            c.bytes += bytes.len();
            self.history_bytes += bytes.len();
            c.history.push_back((seq, bytes.clone()));
        } else {
            // Not kept (too big, or no history): what is kept would have a
            // hole before the next event, so it goes too, and a resume
            // from before it is told of the loss.
            c.history.clear();
            self.history_bytes -= c.bytes;
            c.bytes = 0;
        }
        while c.history.len() > limits.history || c.bytes > limits.history_bytes {
            let Some((_, old)) = c.history.pop_front() else { break };
            c.bytes -= old.len();
            self.history_bytes -= old.len();
        }
        if !c.subscribers.is_empty() {
            self.outbox.push_back((key, c.epoch, seq, bytes));
        }
        self.published += 1;
        self.free_if_empty(key);
        Ok(id)
    }

    /// Takes the oldest event waiting to be written, and who it goes to:
    /// the subscribers that were there when it was published (one that
    /// came since has it in its replay, or came after it).
    pub fn take_outbox(&mut self, tokens: &mut Vec<Token>) -> Option<Rc<[u8]>> {
        let (key, epoch, seq, bytes) = self.outbox.pop_front()?;
        tokens.clear();
        if let Some(c) = self.channels.get(key).filter(|c| c.epoch == epoch) {
            tokens.extend(c.subscribers.iter().filter(|(_, (_, after))| *after < seq).map(|(_, &(t, _))| t));
        }
        Some(bytes)
    }

    /// Whether events wait to be written.
    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Subscribes connection `token` to channel `name`, resuming after
    /// `last` (a `Last-Event-ID`) if it is an id.
    pub fn subscribe(&mut self, name: &[u8], last: Option<&[u8]>, token: Token) -> Result<Subscribed, Full> {
        let key = self.open(name, false)?;
        let Some(c) = self.channels.get_mut(key) else { return Err(Full::Channels) };
        let epoch = c.epoch;
        let member = c.subscribers.insert((token, c.next - 1));
        self.subscribers += 1;
        let membership = Membership { channel: key, member };
        let Some((e, s)) = last.and_then(crate::sse::parse_last_event_id) else {
            return Ok(Subscribed { membership, backlog: Vec::new(), after: None });
        };
        let first = c.history.front().map_or(c.next, |&(seq, _)| seq);
        // Events after the client's, up to the first the history holds,
        // that it will not get; `None`: unknown (another run, another
        // making of the channel, or an id it never gave).
        let lost = if e == epoch && s < c.next { Some(first.saturating_sub(s + 1)) } else { None };
        let mut backlog = Vec::new();
        if lost != Some(0) {
            self.lossy_resumes += 1;
            backlog.push(format::lost_event(lost, epoch, first - 1).into());
        }
        let from = if lost == Some(0) { s } else { first - 1 };
        backlog.extend(c.history.iter().filter(|&&(seq, _)| seq > from).map(|(_, b)| b.clone()));
        self.replayed += backlog.len() as u64 - u64::from(lost != Some(0));
        Ok(Subscribed { membership, backlog, after: Some(format!("{epoch}-{from}")) })
    }

    /// The subscriber at `m` has gone.
    pub fn unsubscribe(&mut self, m: Membership) {
        if let Some(c) = self.channels.get_mut(m.channel)
            && c.subscribers.try_remove(m.member).is_some()
        {
            self.subscribers -= 1;
        }
        self.free_if_empty(m.channel);
    }
}

#[cfg(test)]
mod tests;
