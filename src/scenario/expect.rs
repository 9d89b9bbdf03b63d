//! What a conforming client must make of a scenario, computed, never
//! written by hand: each connection of the session is answered by the same
//! `connect` the server uses, its source is run offline to its end, and the
//! bytes are read by `eventsource` (the WHATWG algorithm) with the
//! `EventSource` rules for responses, redirects and reconnections.
//!
//! What always holds: `raw` and `expected` see exactly the bytes the server
//! would send for the same request (chunk framing aside: they are the body
//! as a client's parser reads it); a session follows at most
//! `Scenario::session` connections and `MAX_REDIRECTS` redirects each.

use std::time::Instant;

use super::{Index, Outcome, Scenario, connect, find, index_of};
use crate::eventsource::{Event, Item, Limits, Parser, check_response};
use crate::knobs::Knobs;
use crate::stream::{End, Source};

/// Redirects followed for one connection, as Fetch does (20).
const MAX_REDIRECTS: usize = 20;

/// Steps of one source run offline before it counts as never ending (a
/// script that starts over, or a stall, ends it sooner).
const MAX_OFFLINE_STEPS: usize = 100_000;

/// How a session ends, for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The last connection stays open.
    Open,
    /// The last connection ended; the client connects again.
    Reconnect,
    /// The client failed the connection and does not reconnect.
    Fail,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Open => "open",
            Ending::Reconnect => "reconnect",
            Ending::Fail => "fail",
        }
    }
}

/// One dispatched event: its type, data, and the last event ID then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenEvent {
    pub event_type: String,
    pub data: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub events: Vec<SeenEvent>,
    /// The reconnection time the stream left set, in ms.
    pub retry: Option<u64>,
    pub end: Ending,
    /// Connections the session made.
    pub connections: usize,
}

/// How one connection's source ended, run offline.
enum Ran {
    /// Closed or reset by the server: the client reconnects.
    Ended,
    /// Stalled, or repeating for ever: the connection stays open.
    Open,
}

/// Runs `source` to its end from `now`, appending its bytes to `out`.
fn run(mut source: Box<dyn Source>, now: Instant, out: &mut Vec<u8>) -> Ran {
    let mut t = now;
    for _ in 0..MAX_OFFLINE_STEPS {
        let Some(due) = source.due() else { return Ran::Open };
        t = t.max(due);
        let e = source.emit(0, t, out);
        match e.end {
            Some(End::Finish | End::Reset) => return Ran::Ended,
            None if source.looped() => return Ran::Open,
            None => {}
        }
    }
    Ran::Open
}

/// The knobs as the offline run uses them: chunk framing off, since the
/// body is read as a client's parser reads it.
fn unframed(knobs: &Knobs) -> Knobs {
    Knobs { chunked: false, ..knobs.clone() }
}

/// One connection: the body its answer sends after following redirects,
/// and whether it opened a stream (`None`: the connection failed).
fn one_connection(
    s: &Scenario,
    index: usize,
    last_event_id: Option<&[u8]>,
    knobs: &Knobs,
    out: &mut Vec<u8>,
) -> Option<Ran> {
    let now = Instant::now();
    let mut answer = s.answer(index)?;
    let mut knobs = unframed(knobs);
    for _ in 0..=MAX_REDIRECTS {
        match connect(answer, last_event_id, &knobs, now) {
            Outcome::Status { status, location: Some(to) } if (300..400).contains(&status) => {
                // The target is fetched as the client asks for it: its own
                // knobs only (the Location has no query).
                let target = to.strip_prefix("/scenarios/").and_then(|n| find(n.as_bytes()))?;
                answer = target.answer(index_of(last_event_id))?;
                knobs = unframed(&target.knobs(b"").ok()?);
            }
            Outcome::Status { .. } => return None,
            Outcome::Stream { status, start } => {
                let content_type = start.head.content_type.as_deref().unwrap_or("text/event-stream");
                check_response(status, content_type.as_bytes()).ok()?;
                return Some(run(start.source, now, out));
            }
        }
    }
    None
}

/// What a conforming client makes of scenario `s` with the knobs of
/// `query`, over its whole session.
pub fn expected(s: &Scenario, query: &[u8]) -> Result<Expected, &'static str> {
    let knobs = s.knobs(query)?;
    let mut parser = Parser::new(Limits::NONE);
    let mut events = Vec::new();
    let mut end = Ending::Reconnect;
    let mut connections = 0;
    for k in 0..s.session {
        connections += 1;
        let last_event_id = parser.session().last_event_id_header().map(|id| id.as_bytes().to_vec());
        let index = match s.index {
            Index::LastEventId => index_of(last_event_id.as_deref()),
            Index::Key => k,
        };
        let mut body = Vec::new();
        let ran = one_connection(s, index, last_event_id.as_deref(), &knobs, &mut body);
        let Some(ran) = ran else {
            end = Ending::Fail;
            break;
        };
        let _ = parser.feed(&body, &mut |item| {
            if let Item::Event(e) = item {
                events.push(SeenEvent {
                    event_type: e.event_type.to_string(),
                    data: e.data.to_string(),
                    id: e.last_event_id.to_string(),
                });
            }
        });
        parser.finish();
        if let Ran::Open = ran {
            end = Ending::Open;
            break;
        }
    }
    Ok(Expected { events, retry: parser.session().reconnection_time_ms(), end, connections })
}

/// The body of one connection of `s` (the one `last_event_id` selects), as
/// a client's parser reads it; for an answer that is only a status, its
/// short text (none for a `204`).
pub fn raw(s: &Scenario, query: &[u8], last_event_id: Option<&[u8]>) -> Result<Vec<u8>, &'static str> {
    let knobs = s.knobs(query)?;
    let mut body = Vec::new();
    if let Some(answer) = s.answer(index_of(last_event_id)) {
        match connect(answer, last_event_id, &unframed(&knobs), Instant::now()) {
            Outcome::Stream { start, .. } => {
                run(start.source, Instant::now(), &mut body);
            }
            Outcome::Status { status: 204, .. } => {}
            Outcome::Status { .. } => {
                body.extend_from_slice(super::STATUS_TEXT.as_bytes());
                body.push(b'\n');
            }
        }
    }
    Ok(body)
}

/// For a client that records a session itself and prints the same JSON
/// (`sse-bench --session`), so the two compare byte for byte. `Ending` and
/// `SeenEvent` are not reachable from outside the crate; these are.
impl Expected {
    /// A session before its first connection: no event, no reconnection
    /// time, no connection, and `reconnect` until `stays_open` or `fails`.
    pub fn recording() -> Expected {
        Expected { events: Vec::new(), retry: None, end: Ending::Reconnect, connections: 0 }
    }

    /// Records one dispatched event as `expected` does: its type, its data,
    /// and the last event ID string when it was dispatched.
    pub fn record(&mut self, e: &Event<'_>) {
        self.events.push(SeenEvent {
            event_type: e.event_type.to_string(),
            data: e.data.to_string(),
            id: e.last_event_id.to_string(),
        });
    }

    /// The last connection stays open.
    pub fn stays_open(&mut self) {
        self.end = Ending::Open;
    }

    /// The client failed the connection and does not reconnect.
    pub fn fails(&mut self) {
        self.end = Ending::Fail;
    }
}

impl Expected {
    /// The JSON of `/scenarios/NAME/expected`.
    pub fn to_json(&self, out: &mut Vec<u8>) {
        use crate::escape::push_json;
        out.extend_from_slice(b"{\"events\":[");
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"\n{\"type\":");
            push_json(out, &e.event_type);
            out.extend_from_slice(b",\"data\":");
            push_json(out, &e.data);
            out.extend_from_slice(b",\"id\":");
            push_json(out, &e.id);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\n\"retry\":");
        match self.retry {
            Some(ms) => crate::ascii::push_u64(out, ms),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"end\":\"");
        out.extend_from_slice(self.end.as_str().as_bytes());
        out.extend_from_slice(b"\",\"connections\":");
        crate::ascii::push_u64(out, self.connections as u64);
        out.extend_from_slice(b"}\n");
    }
}
