//! Scenarios: every shape of the wire on demand, for people testing SSE
//! clients and proxies (`GET /scenarios`). A scenario is data, not code:
//! for each connection of a session, an answer (a status, or a stream and
//! its script of steps), all in one table (`scenario/table.rs`).
//!
//! What always holds: what a scenario sends depends only on the request
//! (its Last-Event-ID, its knobs, and for the scenarios that keep state,
//! its `key`), never on the time or on how the client reads. `connect` is
//! the one place a connection's answer is made: the server streams it, and
//! `/expected` and `/raw` (`scenario/expect.rs`) run the very same answer
//! offline, so the bytes and what a client must make of them cannot drift
//! apart.

mod expect;
mod keys;
mod table;

use std::time::Instant;

pub use expect::{Expected, expected, raw};
pub use keys::Keys;
pub use table::SCENARIOS;

use crate::knobs::Knobs;
use crate::route;
use crate::stream::script::Script;
use crate::stream::{Client, StreamStart};

/// One step of a connection's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// These bytes, as one write.
    Write(&'static [u8]),
    /// These bytes this many times, in writes of at most `MAX_SCRIPT_WRITE`.
    Repeat(&'static [u8], u32),
    /// `data: ` and the request's `Last-Event-ID` (`(none)` without one).
    EchoLastEventId,
    /// Nothing for this many milliseconds.
    Wait(u32),
    /// The server closes the connection cleanly.
    Close,
    /// The server resets the connection (RST).
    Reset,
    /// Nothing more, and the connection stays open.
    Stall,
    /// Back to the first step: the script repeats for as long as the
    /// client stays (its steps dispatch no event).
    Again,
}

/// The answer to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `200` and an event stream: `content_type` in place of
    /// `text/event-stream` if given, then the steps.
    Stream { content_type: Option<&'static str>, steps: &'static [Step] },
    /// A status and no stream (`Location` for a redirect).
    Status { status: u16, location: Option<&'static str> },
}

/// How the server knows which connection of a session a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// From the request alone: no `Last-Event-ID` is the first connection,
    /// a decimal one is that number, any other the second. (The scenario's
    /// ids count its connections: stateless, as a browser can run it.)
    LastEventId,
    /// From the `key` query parameter: the server counts the requests it
    /// has seen with it (`Keys`). For clients that reconnect after an
    /// error status, which `EventSource` does not.
    Key,
}

#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// Where the case comes from: the section of the WHATWG HTML standard
    /// (or the RFC) that says what a client must do.
    pub spec: &'static str,
    /// The answer to connection k; past the end, the last one again.
    pub answers: &'static [Answer],
    pub index: Index,
    /// Knobs that apply unless the request sets the same knob itself.
    pub knobs: &'static str,
    /// How many connections the expectation follows, at most.
    pub session: usize,
}

impl Scenario {
    /// An `EventSource` can run it (no state kept between requests).
    pub fn for_browsers(&self) -> bool {
        self.index == Index::LastEventId
    }

    /// The request's knobs, with the scenario's own where the request has
    /// none of the kind.
    pub fn knobs(&self, query: &[u8]) -> Result<Knobs, &'static str> {
        let mut k = crate::knobs::parse(query)?;
        let own = crate::knobs::parse(self.knobs.as_bytes())?;
        k.eol = k.eol.or(own.eol);
        k.bom |= own.bom;
        k.retry = k.retry.or(own.retry);
        k.chunked |= own.chunked;
        k.split = k.split.or(own.split);
        if k.pause.is_zero() {
            k.pause = own.pause;
        }
        k.after = k.after.or(own.after);
        k.status = k.status.or(own.status);
        k.content_type = k.content_type.or(own.content_type);
        Ok(k)
    }

    /// The answer to connection `index`.
    pub fn answer(&self, index: usize) -> Option<Answer> {
        self.answers.get(index).or(self.answers.last()).copied()
    }
}

/// A scenario by its name.
pub fn find(name: &[u8]) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name.as_bytes() == name)
}

/// Which connection of its session a request is, by its `Last-Event-ID`.
pub fn index_of(last_event_id: Option<&[u8]>) -> usize {
    match last_event_id {
        None => 0,
        Some(id) => crate::ascii::parse_decimal(id).map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

/// The text of a scenario's answer that is only a status (a `404`, a
/// redirect: not `204`, which has no body); its body is this and a LF.
pub const STATUS_TEXT: &str = "the answer of this scenario";

/// What a connection gets.
#[derive(Debug)]
pub enum Outcome {
    Stream { status: u16, start: StreamStart },
    Status { status: u16, location: Option<&'static str> },
}

/// The one place a scenario's connection is answered: for the server, and
/// for `expect` to run offline.
pub fn connect(answer: Answer, last_event_id: Option<&[u8]>, knobs: &Knobs, now: Instant) -> Outcome {
    match answer {
        Answer::Status { status, location } => Outcome::Status { status, location },
        Answer::Stream { content_type, steps } => {
            let source = Box::new(Script::new(steps, last_event_id, now));
            let client = Client::New { last_event_id: last_event_id.map(|v| String::from_utf8_lossy(v).into_owned()) };
            let mut start = route::shaped(source, client, knobs, now);
            if start.head.content_type.is_none() {
                start.head.content_type = content_type.map(str::to_string);
            }
            Outcome::Stream { status: knobs.status.unwrap_or(200), start }
        }
    }
}

/// The index as JSON: one object per scenario.
pub fn index_json(out: &mut Vec<u8>) {
    use crate::escape::push_json;
    out.push(b'[');
    for (i, s) in SCENARIOS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\n{\"name\":");
        push_json(out, s.name);
        out.extend_from_slice(b",\"description\":");
        push_json(out, s.description);
        out.extend_from_slice(b",\"spec\":");
        push_json(out, s.spec);
        for (field, suffix) in [("url", ""), ("expected", "/expected"), ("raw", "/raw")] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(field.as_bytes());
            out.extend_from_slice(b"\":");
            push_json(out, &format!("/scenarios/{}{suffix}", s.name));
        }
        out.extend_from_slice(b",\"knobs\":");
        push_json(out, s.knobs);
        out.extend_from_slice(b",\"browser\":");
        out.extend_from_slice(if s.for_browsers() { b"true" } else { b"false" });
        out.push(b'}');
    }
    out.extend_from_slice(b"\n]\n");
}

/// The index as a page a person can read.
pub fn index_html(out: &mut Vec<u8>) {
    use crate::escape::push_html;
    out.extend_from_slice(
        b"<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>sse-server scenarios</title>\
          <style>body{font-family:sans-serif;margin:2em}td{padding:.2em .6em;vertical-align:top}\
          code{white-space:nowrap}</style></head>\n<body>\n<h1>sse-server scenarios</h1>\n\
          <p>Every shape of the event stream, on demand. Point the client under test at a scenario's stream, \
          then compare what it made of it with <em>expected</em>: the events a conforming client dispatches \
          (type, data, last event id), the reconnection time it is left with, and how the session ends. \
          <em>raw</em> is the exact body of one connection. Every stream takes the knobs of the README \
          (<code>eol</code>, <code>bom</code>, <code>retry</code>, <code>te</code>, <code>split</code>, \
          <code>pause</code>, <code>close_after</code>, <code>status</code>, ...). The same list as JSON: \
          <a href=\"/scenarios?format=json\">/scenarios?format=json</a>.</p>\n<table>\n\
          <tr><th>scenario</th><th>what it sends</th><th>spec</th><th>bytes</th><th>expectation</th></tr>\n",
    );
    for s in SCENARIOS {
        out.extend_from_slice(b"<tr><td><a href=\"/scenarios/");
        push_html(out, s.name);
        out.extend_from_slice(b"\"><code>");
        push_html(out, s.name);
        out.extend_from_slice(b"</code></a>");
        if !s.knobs.is_empty() {
            out.extend_from_slice(b" <small>(");
            push_html(out, s.knobs);
            out.extend_from_slice(b")</small>");
        }
        if !s.for_browsers() {
            out.extend_from_slice(b" <small>(not for EventSource)</small>");
        }
        out.extend_from_slice(b"</td><td>");
        push_html(out, s.description);
        out.extend_from_slice(b"</td><td>");
        push_html(out, s.spec);
        out.extend_from_slice(b"</td><td><a href=\"/scenarios/");
        push_html(out, s.name);
        out.extend_from_slice(b"/raw\">raw</a></td><td><a href=\"/scenarios/");
        push_html(out, s.name);
        out.extend_from_slice(b"/expected\">expected</a></td></tr>\n");
    }
    out.extend_from_slice(b"</table>\n</body>\n</html>\n");
}
