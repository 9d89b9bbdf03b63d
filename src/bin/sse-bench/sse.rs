//! The event-stream parser of the WHATWG HTML standard ("Server-sent
//! events", "Interpreting an event stream"), fed with body bytes in pieces of
//! any size.
//!
//! It owns one stream's partial line and the event being built. What always
//! holds: the partial line never exceeds `MAX_LINE` bytes and the data buffer
//! never exceeds `MAX_DATA` bytes; a peer that sends more gets an error, so
//! memory per stream is bounded whatever the server sends. Pure: no socket,
//! no clock.

use std::fmt;

/// Longest line kept while waiting for its end: 64 KiB of payload plus room
/// for a field name. A real server's lines are far shorter.
pub const MAX_LINE: usize = 64 * 1024 + 1024;
/// Largest data buffer of one event (all its `data` lines together).
pub const MAX_DATA: usize = 64 * 1024 + 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    LineTooLong,
    DataTooLong,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SseError::LineTooLong => "event-stream line longer than the limit",
            SseError::DataTooLong => "event data longer than the limit",
        })
    }
}

/// One dispatched event, borrowed from the parser's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event` field; empty means the default type, `message`.
    pub event_type: &'a [u8],
    pub data: &'a [u8],
    /// The last event id string as `EventSource` would expose it: it persists
    /// from earlier events when this one has no `id` field.
    pub last_event_id: &'a [u8],
    /// Whether this event's own block had an `id` field. Id checks use only
    /// those, so a server that tags some events does not look like it repeats.
    pub has_id: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Event(Event<'a>),
    /// A line starting with `:` (heartbeats are these).
    Comment,
}

#[derive(Debug, Default)]
pub struct Parser {
    /// The line read so far, without its end.
    line: Vec<u8>,
    /// The previous piece ended with CR: an LF starting the next piece
    /// belongs to that CRLF and is not a second (blank) line.
    after_cr: bool,
    /// A byte-order mark is skipped only at the very start of the stream.
    seen_first_line: bool,
    event_type: Vec<u8>,
    data: Vec<u8>,
    last_event_id: Vec<u8>,
    has_id: bool,
    /// The last valid `retry` value: parsed as the standard says, unused.
    pub retry_ms: Option<u64>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses the next piece of the stream, calling `on_item` for every
    /// event dispatched and every comment line.
    pub fn feed(&mut self, mut input: &[u8], on_item: &mut impl FnMut(Item<'_>)) -> Result<(), SseError> {
        while !input.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some((b'\n', rest)) = input.split_first() {
                    input = rest;
                    continue;
                }
            }
            let Some(end) = input.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.append_to_line(input)?;
                return Ok(());
            };
            let (piece, rest) = input.split_at(end);
            let Some((&terminator, rest)) = rest.split_first() else {
                return Ok(()); // unreachable: `end` indexes a terminator
            };
            self.after_cr = terminator == b'\r';
            input = rest;
            if self.line.is_empty() {
                self.process_line(piece, on_item)?;
            } else {
                self.append_to_line(piece)?;
                // Taken out so `process_line` can borrow `self`; put back
                // so its capacity is reused by the next partial line.
                let line = std::mem::take(&mut self.line);
                let result = self.process_line(&line, on_item);
                self.line = line;
                self.line.clear();
                result?;
            }
        }
        Ok(())
    }

    fn append_to_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(SseError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, mut line: &[u8], on_item: &mut impl FnMut(Item<'_>)) -> Result<(), SseError> {
        if !self.seen_first_line {
            self.seen_first_line = true;
            line = line.strip_prefix("\u{FEFF}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(on_item);
            return Ok(());
        }
        if line.first() == Some(&b':') {
            on_item(Item::Comment);
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (field, value) = line.split_at(colon);
                let value = value.get(1..).unwrap_or_default();
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"data" => {
                if self.data.len() + value.len() + 1 > MAX_DATA {
                    return Err(SseError::DataTooLong);
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            // The standard ignores an id containing NUL.
            b"id" if !value.contains(&0) => {
                self.last_event_id.clear();
                self.last_event_id.extend_from_slice(value);
                self.has_id = true;
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |ms, &d| ms.saturating_mul(10).saturating_add(u64::from(d - b'0')));
                self.retry_ms = Some(ms);
            }
            _ => {} // unknown fields are ignored, as the standard says
        }
        Ok(())
    }

    fn dispatch(&mut self, on_item: &mut impl FnMut(Item<'_>)) {
        let has_id = std::mem::replace(&mut self.has_id, false);
        // A block without data (a heartbeat, a lone `id`) dispatches nothing.
        if let Some(data) = self.data.strip_suffix(b"\n") {
            on_item(Item::Event(Event {
                event_type: &self.event_type,
                data,
                last_event_id: &self.last_event_id,
                has_id,
            }));
        }
        self.data.clear();
        self.event_type.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (event type, data, last event id, has own id), or "#" for a comment.
    type Got = Vec<(String, String, String, bool)>;

    fn item_to_row(item: Item<'_>) -> (String, String, String, bool) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match item {
            Item::Comment => ("#".into(), String::new(), String::new(), false),
            Item::Event(e) => (s(e.event_type), s(e.data), s(e.last_event_id), e.has_id),
        }
    }

    fn parse_in_pieces(pieces: &[&[u8]]) -> Result<Got, SseError> {
        let mut parser = Parser::new();
        let mut got = Vec::new();
        for piece in pieces {
            parser.feed(piece, &mut |item| got.push(item_to_row(item)))?;
        }
        Ok(got)
    }

    fn row(t: &str, d: &str, id: &str, has: bool) -> (String, String, String, bool) {
        (t.into(), d.into(), id.into(), has)
    }

    #[test]
    fn table_in_every_split() {
        let sse_server = "event: my-custom-event\nid: 3-7\ndata: Server says hi! (event #7 of connection #3)\n\n";
        #[rustfmt::skip]
        let cases: &[(&str, &str, Got)] = &[
            ("lf", "data: a\n\n", vec![row("", "a", "", false)]),
            ("crlf", "data: a\r\n\r\n", vec![row("", "a", "", false)]),
            ("cr", "data: a\r\r", vec![row("", "a", "", false)]),
            ("mixed ends", "data: a\rdata: b\r\ndata: c\n\r\n", vec![row("", "a\nb\nc", "", false)]),
            ("sse-server event", sse_server,
                vec![row("my-custom-event", "Server says hi! (event #7 of connection #3)", "3-7", true)]),
            ("no space after colon", "data:x\n\n", vec![row("", "x", "", false)]),
            ("only one space stripped", "data:  x\n\n", vec![row("", " x", "", false)]),
            ("field without colon", "data\n\n", vec![row("", "", "", false)]),
            ("comment", ": hi\n\n", vec![row("#", "", "", false)]),
            ("heartbeat", ":\n\n", vec![row("#", "", "", false)]),
            ("no blank line, no event", "data: x\n", vec![]),
            ("eof discards", "data: x", vec![]),
            ("leading blank lines", "\r\n\n\rdata: x\n\n", vec![row("", "x", "", false)]),
            ("id persists", "id: 1\ndata: a\n\ndata: b\n\n",
                vec![row("", "a", "1", true), row("", "b", "1", false)]),
            ("lone id block", "id: 9\n\ndata: b\n\n", vec![row("", "b", "9", false)]),
            ("empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n",
                vec![row("", "a", "1", true), row("", "b", "", true)]),
            ("id with NUL ignored", "id: 1\0\ndata: a\n\n", vec![row("", "a", "", false)]),
            ("event type resets", "event: t\ndata: a\n\ndata: b\n\n",
                vec![row("t", "a", "", false), row("", "b", "", false)]),
            ("unknown field", "foo: bar\ndata: a\n\n", vec![row("", "a", "", false)]),
            ("bom", "\u{FEFF}data: a\n\n", vec![row("", "a", "", false)]),
            ("second bom is data", "data: \u{FEFF}a\n\n", vec![row("", "\u{FEFF}a", "", false)]),
            ("retry only", "retry: 100\n\n", vec![]),
            ("node demo", "event: my-custom-event\nid: 1001\ndata: Server says hi! (event #1 of connection #1)\n\n",
                vec![row("my-custom-event", "Server says hi! (event #1 of connection #1)", "1001", true)]),
        ];
        for (name, input, want) in cases {
            let bytes = input.as_bytes();
            assert_eq!(&parse_in_pieces(&[bytes]).unwrap(), want, "{name}: whole");
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                assert_eq!(&parse_in_pieces(&[a, b]).unwrap(), want, "{name}: split at {at}");
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(&parse_in_pieces(&bytewise).unwrap(), want, "{name}: byte by byte");
        }
    }

    #[test]
    fn retry_is_parsed() {
        let mut parser = Parser::new();
        parser.feed(b"retry: 1500\nretry: x\nretry:\n", &mut |_| {}).unwrap();
        assert_eq!(parser.retry_ms, Some(1500));
    }

    #[test]
    fn line_limit_is_reached_exactly() {
        let mut ok = vec![b'x'; MAX_LINE];
        ok.push(b'\n');
        for pieces in [vec![&ok[..]], ok.chunks(1000).collect()] {
            assert_eq!(parse_in_pieces(&pieces), Ok(vec![]));
        }
        let too_long = vec![b'x'; MAX_LINE + 1];
        for pieces in [vec![&too_long[..]], too_long.chunks(1000).collect()] {
            assert_eq!(parse_in_pieces(&pieces), Err(SseError::LineTooLong));
        }
    }

    #[test]
    fn data_limit_is_reached_exactly() {
        // Lines of 1000 data bytes; each adds 1001 to the buffer.
        let line = format!("data: {}\n", "x".repeat(1000));
        let fits = MAX_DATA / 1001;
        let ok = line.repeat(fits) + "\n";
        assert_eq!(parse_in_pieces(&[ok.as_bytes()]).unwrap().len(), 1);
        let over = line.repeat(fits + 1);
        assert_eq!(parse_in_pieces(&[over.as_bytes()]), Err(SseError::DataTooLong));
    }
}
