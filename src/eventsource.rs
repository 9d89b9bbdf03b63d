//! What a conforming `EventSource` makes of an event stream, as the WHATWG
//! HTML standard says in §9.2 "Server-sent events": the decoding and line
//! splitting of §9.2.5 "Parsing an event stream", the fields and "dispatch
//! the event" of §9.2.6 "Interpreting an event stream", and, in `response`,
//! which responses open a stream (§9.2.3 "Processing model"). Pure: bytes in,
//! items out, no socket and no clock. sse-bench reads streams with it, and
//! tests use it to see the server's output the way a browser does.
//!
//! It owns two kinds of state. A [`Session`] is what one `EventSource` keeps
//! across its connections: the last event ID string (sent back as
//! `Last-Event-ID` when it reconnects) and the reconnection time. The rest
//! (the unfinished line, the data, event type and last event ID buffers,
//! whether a byte-order mark may still come) belongs to one connection's
//! body, and [`Parser::finish`] drops it when that body ends.
//!
//! What always holds:
//! - the items are the same however the bytes are split across `feed` calls:
//!   one byte at a time, a CRLF across two calls, a UTF-8 character across
//!   two;
//! - every `&str` handed out is what a browser would show: UTF-8 decoded with
//!   U+FFFD for each bad sequence, one leading BOM of the body removed; only
//!   CR, LF and CRLF end lines (not U+0085, U+2028 or U+2029);
//! - nothing panics, whatever the bytes;
//! - memory: the parser holds one unfinished line, one event's data and event
//!   type, two ids, and the decoded copy of a line with bad UTF-8 (at most
//!   three bytes per byte). A client that trusts its server passes
//!   [`Limits::NONE`]; one that must not grow without bound passes its own
//!   limits, and `feed` fails when a server reaches them;
//! - no allocation per event once the buffers have grown: items borrow from
//!   the parser, for the time of the callback.

#[cfg(test)]
mod prop_tests;
mod response;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wpt_tests;

use std::fmt;

pub use response::{Failure, check_response};

/// What one `EventSource` keeps from one connection to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Set at every dispatch, from the last event ID buffer. Never holds NUL
    /// (an `id` with one is ignored), CR or LF (they end lines).
    last_event_id: String,
    /// The last valid `retry` value, in milliseconds.
    reconnection_time_ms: Option<u64>,
}

impl Session {
    /// What `EventSource.lastEventId` says.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The `Last-Event-ID` value of the next request: the standard sends the
    /// field only when the last event ID string is not empty.
    pub fn last_event_id_header(&self) -> Option<&str> {
        Some(self.last_event_id.as_str()).filter(|id| !id.is_empty())
    }

    /// How long to wait before reconnecting, as the server last set it with
    /// `retry`; `None` while it has not, and the client's own default (the
    /// standard suggests a few seconds) applies. Values beyond `u64` are
    /// `u64::MAX`.
    pub fn reconnection_time_ms(&self) -> Option<u64> {
        self.reconnection_time_ms
    }
}

/// Bounds a caller puts on what the parser holds for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of an unfinished line kept from one `feed` to the next. A
    /// line that arrives whole in one `feed` is read where it lies and not
    /// counted, so every line held is within `max(line, largest feed)`.
    pub line: usize,
    /// Most bytes of one event's data buffer (its `data` values, each with
    /// its LF), decoded.
    pub data: usize,
}

impl Limits {
    /// No bounds: a browser's behaviour, for a server one trusts.
    pub const NONE: Limits = Limits { line: usize::MAX, data: usize::MAX };
}

/// A server reached the caller's [`Limits`]. The connection's state is then
/// unusable: end it, and call [`Parser::finish`] before feeding another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitError {
    LineTooLong,
    DataTooLong,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitError::LineTooLong => "event-stream line longer than the limit",
            LimitError::DataTooLong => "event data longer than the limit",
        })
    }
}

/// One dispatched event: what a `MessageEvent` of `EventSource` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event's type: the `event` field, or `message` when that is empty.
    pub event_type: &'a str,
    /// The `data` values joined by LF.
    pub data: &'a str,
    /// The last event ID string: it persists from earlier events, and from
    /// earlier connections, when this event has no `id` of its own.
    pub last_event_id: &'a str,
    /// Whether this event's own block had an `id` field that was taken.
    /// `EventSource` does not expose this; a checker of ids needs it, so an
    /// event that merely inherits an id does not look like a repeat.
    pub has_id: bool,
}

/// What the parser reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Event(Event<'a>),
    /// A comment line: what follows its leading colon, as it is (heartbeats
    /// are these). `EventSource` ignores them; load testers count them.
    Comment(&'a str),
}

/// One `EventSource`'s parser: its [`Session`], and the state of the
/// connection whose body is being fed.
#[derive(Debug)]
pub struct Parser {
    session: Session,
    limits: Limits,
    /// The unfinished line, raw, without its end.
    line: Vec<u8>,
    /// The last byte fed was a CR: an LF first in the next `feed` ends the
    /// same line (a CRLF), not a second, blank one.
    after_cr: bool,
    /// No line of this body has ended yet, so the first may start with the
    /// BOM (it is all bytes above 0x7F, so it is always in the first line).
    at_start: bool,
    data: String,
    event_type: String,
    /// The standard's "last event ID buffer": set by `id`, copied to the
    /// session's string at each dispatch, never reset by one.
    last_event_id_buffer: String,
    /// An `id` was taken since the last dispatch.
    has_id: bool,
    /// Room for a line with bad UTF-8, decoded with replacements.
    scratch: String,
}

impl Parser {
    /// The parser of a new `EventSource`, before its first connection.
    pub fn new(limits: Limits) -> Parser {
        Parser {
            session: Session::default(),
            limits,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            event_type: String::new(),
            last_event_id_buffer: String::new(),
            has_id: false,
            scratch: String::new(),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Reads the next bytes of the body, in pieces of any size, and calls
    /// `on_item` for each event dispatched and each comment, in order.
    pub fn feed(&mut self, input: &[u8], on_item: &mut impl FnMut(Item<'_>)) -> Result<(), LimitError> {
        // One UTF-8 check for the whole piece, not one per line: the lines
        // in its valid prefix (usually all of them) are text as they lie.
        let text = match std::str::from_utf8(input) {
            Ok(text) => text,
            Err(e) => input.get(..e.valid_up_to()).and_then(|valid| std::str::from_utf8(valid).ok()).unwrap_or(""),
        };
        let mut start = 0;
        while let Some(rest) = input.get(start..).filter(|rest| !rest.is_empty()) {
            if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
                start += 1;
                continue;
            }
            let Some(len) = find_line_end(rest) else {
                return self.hold(rest);
            };
            let end = start + len;
            let piece = rest.get(..len).unwrap_or_default();
            self.after_cr = rest.get(len) == Some(&b'\r');
            if self.line.is_empty() {
                // The common case: the whole line is in this piece, and is
                // read where it lies.
                self.line_ended(piece, text.get(start..end), on_item)?;
            } else {
                self.hold(piece)?;
                // Taken out so `line_ended` can borrow `self`, and put back
                // so the next unfinished line reuses its capacity.
                let line = std::mem::take(&mut self.line);
                let result = self.line_ended(&line, None, on_item);
                self.line = line;
                self.line.clear();
                result?;
            }
            start = end + 1;
        }
        Ok(())
    }

    /// The body ended (closed, broken, or given up). As the standard says,
    /// the unfinished line and the event not yet dispatched are discarded:
    /// an `id` in them never reaches the last event ID string. The session
    /// is kept, and the next `feed` is the body of the next connection (a
    /// reconnection): its own BOM is removed, and its last event ID buffer
    /// starts from the session's string, so its events inherit that id as a
    /// browser's do.
    pub fn finish(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.at_start = true;
        self.data.clear();
        self.event_type.clear();
        self.last_event_id_buffer.clone_from(&self.session.last_event_id);
        self.has_id = false;
    }

    fn hold(&mut self, bytes: &[u8]) -> Result<(), LimitError> {
        if self.line.len().saturating_add(bytes.len()) > self.limits.line {
            return Err(LimitError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// One line without its end: `raw`, and `text` when it is known to be
    /// valid UTF-8.
    fn line_ended(
        &mut self,
        raw: &[u8],
        text: Option<&str>,
        on_item: &mut impl FnMut(Item<'_>),
    ) -> Result<(), LimitError> {
        // Decoding line by line is decoding the stream: CR and LF are ASCII,
        // so they never belong to a multibyte sequence, good or bad.
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut line = text.unwrap_or_else(|| decode(raw, &mut scratch));
        if std::mem::take(&mut self.at_start) {
            line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        }
        let result = if line.is_empty() {
            self.dispatch(on_item);
            Ok(())
        } else {
            self.process_line(line, on_item)
        };
        self.scratch = scratch;
        result
    }

    fn process_line(&mut self, line: &str, on_item: &mut impl FnMut(Item<'_>)) -> Result<(), LimitError> {
        // The colon is ASCII, so cutting at it is cutting at a character
        // boundary; searching bytes, not chars, keeps this cheap.
        let colon = line.as_bytes().iter().position(|&b| b == b':');
        if colon == Some(0) {
            on_item(Item::Comment(line.get(1..).unwrap_or_default()));
            return Ok(());
        }
        let (field, value) = match colon {
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                (line.get(..colon).unwrap_or_default(), value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match field.as_bytes() {
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(value);
            }
            b"data" => {
                if self.data.len().saturating_add(value.len()).saturating_add(1) > self.limits.data {
                    return Err(LimitError::DataTooLong);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            b"id" if !value.as_bytes().contains(&0) => {
                self.last_event_id_buffer.clear();
                self.last_event_id_buffer.push_str(value);
                self.has_id = true;
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.session.reconnection_time_ms = Some(ms);
                }
            }
            _ => {} // other fields, and an `id` with NUL, are ignored
        }
        Ok(())
    }

    /// "Dispatch the event", in the standard's order: the last event ID
    /// string is set first, so a block with an `id` and no data (or a lone
    /// blank line) still sets it, though nothing is dispatched.
    fn dispatch(&mut self, on_item: &mut impl FnMut(Item<'_>)) {
        self.session.last_event_id.clone_from(&self.last_event_id_buffer);
        let has_id = std::mem::take(&mut self.has_id);
        if !self.data.is_empty() {
            let data = self.data.strip_suffix('\n').unwrap_or(&self.data);
            let event_type = if self.event_type.is_empty() { "message" } else { &self.event_type };
            on_item(Item::Event(Event { event_type, data, last_event_id: &self.session.last_event_id, has_id }));
        }
        self.data.clear();
        self.event_type.clear();
    }
}

/// Where the first CR or LF is, eight bytes at a time: finding line ends is
/// most of a parser's work, and a byte-by-byte loop made it twice as slow.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // A byte of `x` is zero where the high bit of (x - ONES) & !x is set;
    // a borrow may also set bits above the first zero byte, never below, so
    // the lowest bit set marks the first CR or LF exactly.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let found = zero_bytes(w ^ (ONES * u64::from(b'\n'))) | zero_bytes(w ^ (ONES * u64::from(b'\r')));
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words.remainder().iter().position(|&b| b == b'\n' || b == b'\r').map(|i| offset + i)
}

/// `raw` (a line held across feeds, or one with bad UTF-8) as text: borrowed
/// when it is valid, else decoded into `scratch` with one U+FFFD per maximal
/// bad sequence, as the Encoding standard's UTF-8 decode does.
fn decode<'a>(raw: &'a [u8], scratch: &'a mut String) -> &'a str {
    if let Ok(text) = std::str::from_utf8(raw) {
        return text;
    }
    scratch.clear();
    for chunk in raw.utf8_chunks() {
        scratch.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            scratch.push(char::REPLACEMENT_CHARACTER);
        }
    }
    scratch
}

/// A `retry` value: ASCII digits only, at least one (`02000` is 2000; an
/// empty value has no integer to interpret). Too large for `u64` saturates:
/// the value is valid, only beyond what can be waited for.
fn parse_retry(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.bytes().fold(0u64, |ms, d| ms.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}
