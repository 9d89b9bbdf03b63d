//! The table of scenarios: each case of the WHATWG event-stream format and
//! of `EventSource`'s connection rules that the WPT `eventsource/` tests,
//! LaunchDarkly's sse-contract-tests and the `eventsource-parser` tests
//! exercise, as data. What a conforming client must make of each is not
//! written here: `expect.rs` computes it from the bytes.

use super::Answer::{Status, Stream};
use super::Index::{Key, LastEventId};
use super::Step::{Again, Close, EchoLastEventId, Repeat, Reset, Stall, Wait, Write};
use super::{Answer, Scenario};

const PARSING: &str = "WHATWG HTML §9.2.5 Parsing an event stream";
const INTERPRETING: &str = "WHATWG HTML §9.2.6 Interpreting an event stream";
const PROCESSING: &str = "WHATWG HTML §9.2.3 Processing model";
const LAST_EVENT_ID: &str = "WHATWG HTML §9.2.4 The Last-Event-ID header";

/// One connection: a stream of these steps, then a clean close.
macro_rules! one {
    ($($step:expr),* $(,)?) => {
        &[Stream { content_type: None, steps: &[$($step,)* Close] }]
    };
}

/// A scenario with the defaults most have: one connection, indexed by its
/// Last-Event-ID, no knobs of its own.
const fn case(
    name: &'static str,
    description: &'static str,
    spec: &'static str,
    answers: &'static [Answer],
) -> Scenario {
    Scenario { name, description, spec, answers, index: LastEventId, knobs: "", session: 1 }
}

pub static SCENARIOS: &[Scenario] = &[
    case(
        "basic",
        "Two events, then the server closes: the client reconnects.",
        INTERPRETING,
        one![Write(b"data: one\n\n"), Write(b"data: two\n\n"),],
    ),
    // Line endings.
    case("eol-lf", "Lines end in LF.", PARSING, one![Write(b"data: one\nid: 1\n\ndata: two\n\n")]),
    case("eol-crlf", "Lines end in CRLF.", PARSING, one![Write(b"data: one\r\nid: 1\r\n\r\ndata: two\r\n\r\n")]),
    case("eol-cr", "Lines end in a lone CR.", PARSING, one![Write(b"data: one\rid: 1\r\rdata: two\r\r")]),
    case("eol-mixed", "CRLF, LF and CR in one stream.", PARSING, one![Write(b"data: a\r\ndata: b\n\rdata: c\r\r\n")]),
    case(
        "crlf-split",
        "A CRLF split across two writes (CR at the end of one, LF at the start of the next): one line ending.",
        PARSING,
        one![Write(b"data: one\r"), Write(b"\n\r"), Write(b"\ndata: two\r"), Write(b"\n\r\n")],
    ),
    // Byte order marks.
    case("bom", "One BOM at the start: stripped.", PARSING, one![Write(b"\xef\xbb\xbfdata: one\n\n")]),
    case(
        "bom-twice",
        "Two BOMs: the second is part of the first field name, so the first event is lost.",
        PARSING,
        one![Write(b"\xef\xbb\xbf\xef\xbb\xbfdata: lost\n\ndata: two\n\n")],
    ),
    // Comments and fields.
    case(
        "comments",
        "Comment lines before, between and inside events.",
        PARSING,
        one![Write(b": hello\n\ndata: one\n: in between\ndata: two\n\n:\n")],
    ),
    case(
        "comment-2k",
        "A 2 KiB comment, then an event.",
        PARSING,
        one![Write(b": "), Repeat(b"x", 2048), Write(b"\n\ndata: after\n\n")],
    ),
    case("comment-nul", "A comment with a NUL byte.", PARSING, one![Write(b": a\0b\n\ndata: one\n\n")]),
    case(
        "field-no-colon",
        "Fields without a colon: the whole line is the name, the value is empty.",
        INTERPRETING,
        one![Write(b"data\n\ndata\ndata\n\ndata:\n\n")],
    ),
    case(
        "data-spaces",
        "data:x, data: x and data:  x: only one space is removed.",
        INTERPRETING,
        one![Write(b"data:x\n\ndata: x\n\ndata:  x\n\n")],
    ),
    case("multiline", "Three data lines: one event.", INTERPRETING, one![Write(b"data: YHOO\ndata: +2\ndata: 10\n\n")]),
    case(
        "data-empty",
        "data: alone dispatches an empty string; a blank line with no data dispatches nothing.",
        INTERPRETING,
        one![Write(b"data:\n\n\n\ndata: after\n\n")],
    ),
    case(
        "unknown-fields",
        "Fields the standard does not know are ignored.",
        INTERPRETING,
        one![Write(b"foo: bar\ndata: one\nbar\nDATA: upper\n\n")],
    ),
    case(
        "event-types",
        "Custom event types, and an empty event: (type message).",
        INTERPRETING,
        one![Write(b"event: add\ndata: 1\n\nevent: remove\ndata: 2\n\nevent:\ndata: 3\n\n")],
    ),
    // Ids.
    case(
        "id-persists",
        "An id stays the last event id of the events after it.",
        INTERPRETING,
        one![Write(b"id: 1\ndata: a\n\ndata: b\n\n")],
    ),
    case(
        "id-empty",
        "An empty id: resets the last event id.",
        INTERPRETING,
        one![Write(b"id: 1\ndata: a\n\nid:\ndata: b\n\n")],
    ),
    case(
        "id-nul",
        "An id with NUL is ignored: the last event id stays.",
        INTERPRETING,
        one![Write(b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n")],
    ),
    // Reconnection time.
    case("retry", "retry: 1500 sets the reconnection time.", INTERPRETING, one![Write(b"retry: 1500\ndata: one\n\n")]),
    case("retry-leading-zeros", "retry: 02000 is 2000 ms.", INTERPRETING, one![Write(b"retry: 02000\ndata: one\n\n")]),
    case(
        "retry-invalid",
        "retry: 1000x, -1 and ' 1000' (after the one space removed) are ignored.",
        INTERPRETING,
        one![Write(b"retry: 1000x\nretry: -1\nretry:  1000\nretry:\ndata: one\n\n")],
    ),
    case("retry-zero", "retry: 0 sets 0.", INTERPRETING, one![Write(b"retry: 0\ndata: one\n\n")]),
    // Bytes.
    case("nul-in-data", "NUL inside data is kept.", INTERPRETING, one![Write(b"data: a\0b\n\n")]),
    case(
        "unterminated",
        "The last event has no blank line before the close: it is discarded.",
        INTERPRETING,
        one![Write(b"data: one\n\ndata: two")],
    ),
    case(
        "utf8-split",
        "Multibyte UTF-8 characters split across writes.",
        PARSING,
        one![Write(b"data: caf\xc3"), Write(b"\xa9 \xe2\x82"), Write(b"\xac\n\n")],
    ),
    case(
        "utf8-invalid",
        "Invalid UTF-8: each bad sequence is U+FFFD.",
        PARSING,
        one![Write(b"data: a\xffb\xc3(c\xe2\x82\n\n")],
    ),
    case(
        "unicode-breaks",
        "U+2028, U+2029 and U+0085 are not line breaks.",
        PARSING,
        one![Write("data: a\u{2028}b\u{2029}c\u{85}d\n\n".as_bytes())],
    ),
    case(
        "big-event",
        "One event of 1 MiB of data.",
        INTERPRETING,
        one![Write(b"data: "), Repeat(b"x", 1 << 20), Write(b"\n\n"),],
    ),
    case("many-events", "10,000 small events in one write.", INTERPRETING, one![Repeat(b"data: x\n\n", 10_000)]),
    // Time and faults.
    Scenario {
        name: "comments-only",
        description: "A comment every second and never an event: for read timeouts.",
        spec: PARSING,
        answers: &[Stream { content_type: None, steps: &[Write(b": keep-alive\n\n"), Wait(1000), Again] }],
        index: LastEventId,
        knobs: "",
        session: 1,
    },
    Scenario {
        name: "stall-mid-event",
        description: "An event, half of the next, then nothing more on an open connection.",
        spec: INTERPRETING,
        answers: &[Stream { content_type: None, steps: &[Write(b"data: one\n\n"), Write(b"data: tw"), Stall] }],
        index: LastEventId,
        knobs: "",
        session: 1,
    },
    Scenario {
        name: "byte-by-byte",
        description: "Two events, one byte per write.",
        spec: PARSING,
        answers: one![Write(b"data: one\n\nevent: two\ndata: 2\n\n")],
        index: LastEventId,
        knobs: "split=1",
        session: 1,
    },
    Scenario {
        name: "reset-mid-event",
        description: "An event, half of the next, then a reset (RST): the half is discarded, the client reconnects.",
        spec: PROCESSING,
        answers: &[Stream { content_type: None, steps: &[Write(b"data: one\n\n"), Write(b"data: tw"), Reset] }],
        index: LastEventId,
        knobs: "",
        session: 1,
    },
    // Responses that fail the connection, or lead to a stream.
    case(
        "wrong-content-type",
        "200 with Content-Type text/plain: the client fails the connection and does not reconnect.",
        PROCESSING,
        &[Stream { content_type: Some("text/plain"), steps: &[Write(b"data: never\n\n"), Close] }],
    ),
    case(
        "charset-windows-1252",
        "text/event-stream; charset=windows-1252: the stream is UTF-8 all the same.",
        PARSING,
        &[Stream {
            content_type: Some("text/event-stream; charset=windows-1252"),
            steps: &[Write(b"data: caf\xc3\xa9\n\n"), Close],
        }],
    ),
    case(
        "status-204",
        "204 No Content: the client stops, no reconnection.",
        PROCESSING,
        &[Status { status: 204, location: None }],
    ),
    case("status-404", "404: the client fails the connection.", PROCESSING, &[Status { status: 404, location: None }]),
    case("status-500", "500: the client fails the connection.", PROCESSING, &[Status { status: 500, location: None }]),
    case("status-503", "503: the client fails the connection.", PROCESSING, &[Status { status: 503, location: None }]),
    case(
        "redirect-301",
        "301 to the basic stream: followed.",
        PROCESSING,
        &[Status { status: 301, location: Some("/scenarios/basic") }],
    ),
    case(
        "redirect-307",
        "307 to the basic stream: followed.",
        PROCESSING,
        &[Status { status: 307, location: Some("/scenarios/basic") }],
    ),
    // Sessions.
    Scenario {
        name: "echo-last-event-id",
        description: "retry: 200, an id, a close; on reconnection, the Last-Event-ID the server received, as data.",
        spec: LAST_EVENT_ID,
        answers: &[
            Stream { content_type: None, steps: &[Write(b"retry: 200\nid: 42\ndata: first\n\n"), Close] },
            Stream { content_type: None, steps: &[EchoLastEventId, Close] },
        ],
        index: LastEventId,
        knobs: "",
        session: 2,
    },
    Scenario {
        name: "no-content-after-3",
        description: "Three connections of one event each (ids 1, 2, 3), then 204: the client stops.",
        spec: PROCESSING,
        answers: &[
            Stream { content_type: None, steps: &[Write(b"retry: 100\nid: 1\ndata: 1\n\n"), Close] },
            Stream { content_type: None, steps: &[Write(b"id: 2\ndata: 2\n\n"), Close] },
            Stream { content_type: None, steps: &[Write(b"id: 3\ndata: 3\n\n"), Close] },
            Status { status: 204, location: None },
        ],
        index: LastEventId,
        knobs: "",
        session: 5,
    },
    Scenario {
        name: "fail-then-recover",
        description: "503 three times, then a stream, counted by the key query parameter: \
                      for clients that retry after an error status (EventSource does not).",
        spec: PROCESSING,
        answers: &[
            Status { status: 503, location: None },
            Status { status: 503, location: None },
            Status { status: 503, location: None },
            Stream { content_type: None, steps: &[Write(b"data: recovered\n\n"), Close] },
        ],
        index: Key,
        knobs: "",
        session: 1,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Step;

    #[test]
    fn names_are_unique_and_plain() {
        for (i, s) in SCENARIOS.iter().enumerate() {
            assert!(s.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{}", s.name);
            assert!(SCENARIOS.iter().skip(i + 1).all(|t| t.name != s.name), "{} twice", s.name);
            assert!(!s.answers.is_empty() && s.session >= 1, "{}", s.name);
            assert!(crate::knobs::parse(s.knobs.as_bytes()).is_ok(), "{}", s.name);
        }
    }

    #[test]
    fn writes_fit_and_loops_dispatch_nothing() {
        for s in SCENARIOS {
            for a in s.answers {
                let Answer::Stream { steps, .. } = a else { continue };
                for step in *steps {
                    if let Step::Write(b) | Step::Repeat(b, _) = step {
                        assert!(b.len() <= crate::config::MAX_SCRIPT_WRITE && !b.is_empty(), "{}", s.name);
                    }
                }
                if steps.contains(&Step::Again) {
                    // A script that starts over sends comments only: the
                    // events a client sees are finite.
                    for step in *steps {
                        if let Step::Write(b) = step {
                            assert!(
                                b.split(|&c| c == b'\n').all(|l| l.is_empty() || l.starts_with(b":")),
                                "{}",
                                s.name
                            );
                        }
                    }
                }
            }
        }
    }
}
