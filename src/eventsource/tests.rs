//! Tables of the standard's own examples (WHATWG HTML §9.2) and of the
//! details it spells out, each fed whole, cut in two at every byte and byte
//! by byte, and the helpers the other test files share. The WPT cases are
//! in `wpt_tests.rs`, the properties in `prop_tests.rs`.

use super::*;

/// An item, owned, so runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Got {
    /// Type, data, last event ID.
    Event(String, String, String),
    Comment(String),
}

/// A `message` event with no last event ID.
pub(super) fn m(data: &str) -> Got {
    Got::Event("message".into(), data.into(), String::new())
}

/// A `message` event with this last event ID.
pub(super) fn mi(data: &str, id: &str) -> Got {
    Got::Event("message".into(), data.into(), id.into())
}

pub(super) fn ev(event_type: &str, data: &str, id: &str) -> Got {
    Got::Event(event_type.into(), data.into(), id.into())
}

pub(super) fn c(text: &str) -> Got {
    Got::Comment(text.into())
}

fn own(item: Item<'_>) -> Got {
    match item {
        Item::Event(e) => ev(e.event_type, e.data, e.last_event_id),
        Item::Comment(text) => c(text),
    }
}

/// One connection's body, fed in these pieces, then ended.
pub(super) fn connection(parser: &mut Parser, pieces: &[&[u8]]) -> Vec<Got> {
    let mut got = Vec::new();
    for piece in pieces {
        let fed = parser.feed(piece, &mut |item| got.push(own(item)));
        assert_eq!(fed, Ok(()), "no limits, no error");
    }
    parser.finish();
    got
}

/// A new `EventSource`'s first connection, fed in these pieces.
pub(super) fn run(pieces: &[&[u8]]) -> (Vec<Got>, Session) {
    let mut parser = Parser::new(Limits::NONE);
    let got = connection(&mut parser, pieces);
    (got, parser.session().clone())
}

/// `input` fed whole, then cut in two at every byte, then byte by byte: all
/// must agree. Returns what it gave.
pub(super) fn run_every_way(name: &str, input: &[u8]) -> (Vec<Got>, Session) {
    let whole = run(&[input]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(run(&[a, b]), whole, "{name}: cut at {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "{name}: byte by byte");
    whole
}

#[test]
fn standard_examples() {
    #[rustfmt::skip]
    let cases: &[(&str, &[u8], &[Got])] = &[
        ("9.2.1: three messages",
            b"data: This is the first message.\n\ndata: This is the second message, it\ndata: has two lines.\n\n\
              data: This is the third message.\n\n",
            &[m("This is the first message."), m("This is the second message, it\nhas two lines."),
              m("This is the third message.")]),
        ("9.2.1: two event types",
            b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
            &[ev("add", "73857293", ""), ev("remove", "2153", ""), ev("add", "113411", "")]),
        ("9.2.6: stock ticker, one event", b"data: YHOO\ndata: +2\ndata: 10\n\n", &[m("YHOO\n+2\n10")]),
        // The id of a block is the event's own (it is set before dispatch);
        // a bare `id` resets it; only one leading space is removed.
        ("9.2.6: four blocks",
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
            &[c(" test stream"), mi("first event", "1"), m("second event"), m(" third event")]),
        ("9.2.6: empty data, a newline, and a block the end discards",
            b"data\n\ndata\ndata\n\ndata:", &[m(""), m("\n")]),
        ("9.2.6: the space after the colon is optional", b"data:test\n\ndata: test\n\n", &[m("test"), m("test")]),
    ];
    for (name, input, want) in cases {
        assert_eq!(run_every_way(name, input).0, *want, "{name}");
    }
}

#[test]
fn details_the_standard_spells_out() {
    #[rustfmt::skip]
    let cases: &[(&str, &[u8], &[Got])] = &[
        ("lf", b"data: a\n\n", &[m("a")]),
        ("crlf", b"data: a\r\n\r\n", &[m("a")]),
        ("cr", b"data: a\r\r", &[m("a")]),
        ("mixed ends", b"data: a\rdata: b\r\ndata: c\n\r\n", &[m("a\nb\nc")]),
        ("lf cr is two ends", b"data: a\n\rdata: b\n\n", &[m("a"), m("b")]),
        ("blank lines first", b"\r\n\n\rdata: x\n\n", &[m("x")]),
        ("no blank line, no event", b"data: x\n", &[]),
        ("unfinished line discarded", b"data: x", &[]),
        ("one bom removed", b"\xEF\xBB\xBFdata: a\n\n", &[m("a")]),
        ("bom alone, then a blank line", b"\xEF\xBB\xBF\ndata: a\n\n", &[m("a")]),
        ("second bom kept: the field is \u{FEFF}data", b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", &[m("b")]),
        ("bom not at the start is text", b"data: \xEF\xBB\xBFa\n\n", &[m("\u{FEFF}a")]),
        ("half a bom is bad utf-8", b"\xEF\xBBdata: a\n\n", &[]),
        ("bad utf-8 replaced", b"data: a\xFFb\xC3\n\n", &[m("a\u{FFFD}b\u{FFFD}")]),
        ("a truncated sequence is one U+FFFD", b"data: \xE2\x82\n\n", &[m("\u{FFFD}")]),
        ("multibyte text", "data: é€😀\n\n".as_bytes(), &[m("é€😀")]),
        ("U+2028, U+2029, U+0085 are not line ends",
            "data: a\u{2028}b\u{2029}c\u{85}d\n\n".as_bytes(), &[m("a\u{2028}b\u{2029}c\u{85}d")]),
        ("vertical tab and form feed are not line ends", b"data: a\x0Bb\x0Cc\n\n", &[m("a\x0Bb\x0Cc")]),
        ("nul kept in data", b"data: a\0b\n\n", &[m("a\0b")]),
        ("no space after colon", b"data:x\n\n", &[m("x")]),
        ("only one space removed", b"data:  x\n\n", &[m(" x")]),
        ("a tab is not removed", b"data:\tx\n\n", &[m("\tx")]),
        ("trailing spaces kept", b"data: x  \n\n", &[m("x  ")]),
        ("the first colon splits", b"data: a:b: c\n\n", &[m("a:b: c")]),
        ("no colon: empty value", b"data\n\n", &[m("")]),
        ("field names are case-sensitive", b"Data: x\nDATA: y\n\n", &[]),
        ("space before colon is another field", b"data : x\n\n", &[]),
        ("data alone dispatches empty", b"data:\n\n", &[m("")]),
        ("two empty data lines: one LF", b"data:\ndata:\n\n", &[m("\n")]),
        ("only the last LF of data removed", b"data: a\ndata:\n\n", &[m("a\n")]),
        ("comment", b": hi\n\n", &[c(" hi")]),
        ("empty comment", b":\n", &[c("")]),
        ("comment inside an event", b"data: a\n:x\ndata: b\n\n", &[c("x"), m("a\nb")]),
        ("unknown field", b"foo: bar\ndata: a\n\n", &[m("a")]),
        ("event type", b"event: t\ndata: a\n\n", &[ev("t", "a", "")]),
        ("last event type wins", b"event: t\nevent: u\ndata: a\n\n", &[ev("u", "a", "")]),
        ("event type reset by dispatch", b"event: t\ndata: a\n\ndata: b\n\n", &[ev("t", "a", ""), m("b")]),
        ("event type reset by an empty block", b"event: t\n\ndata: b\n\n", &[m("b")]),
        ("empty event type is message", b"event:\ndata: a\n\n", &[m("a")]),
        ("explicit message type", b"event: message\ndata: a\n\n", &[m("a")]),
        ("id persists", b"id: 1\ndata: a\n\ndata: b\n\n", &[mi("a", "1"), mi("b", "1")]),
        ("id after data in the block", b"data: a\nid: 1\n\n", &[mi("a", "1")]),
        ("last id of the block wins", b"id: 1\nid: 2\ndata: a\n\n", &[mi("a", "2")]),
        ("a lone id block sets the id", b"id: 9\n\ndata: b\n\n", &[mi("b", "9")]),
        ("empty id resets", b"id: 1\ndata: a\n\nid\ndata: b\n\n", &[mi("a", "1"), m("b")]),
        ("id with nul ignored", b"id: 1\0\ndata: a\n\n", &[m("a")]),
        ("id with nul keeps the previous", b"id: 1\n\nid: \x002\ndata: a\n\n", &[mi("a", "1")]),
        ("id keeps spaces after the first", b"id:  1 \ndata: a\n\n", &[mi("a", " 1 ")]),
        ("id is decoded too", b"id: \xFF\ndata: a\n\n", &[mi("a", "\u{FFFD}")]),
        ("retry dispatches nothing", b"retry: 100\n\n", &[]),
        ("sse-server's event",
            b"event: my-custom-event\nid: 3-7\ndata: Server says hi! (event #7 of connection #3)\n\n",
            &[ev("my-custom-event", "Server says hi! (event #7 of connection #3)", "3-7")]),
        ("sse-server's heartbeat", b": heartbeat\n\n", &[c(" heartbeat")]),
        ("sse-server full", b": sse-server is full, retry later\nretry: 1000\n\n", &[c(" sse-server is full, retry later")]),
    ];
    for (name, input, want) in cases {
        assert_eq!(run_every_way(name, input).0, *want, "{name}");
    }
}

/// What a stream leaves in the session: (last event ID string, reconnection
/// time).
#[test]
fn session_state() {
    #[rustfmt::skip]
    let cases: &[(&str, &[u8], &str, Option<u64>)] = &[
        ("nothing", b"", "", None),
        ("retry", b"retry: 1500\n", "", Some(1500)),
        ("retry needs no dispatch", b"retry: 1500\ndata: x\n", "", Some(1500)),
        ("retry unfinished line discarded", b"retry: 1500", "", None),
        ("retry leading zero is decimal", b"retry: 02000\n", "", Some(2000)),
        ("retry 0", b"retry: 0\n", "", Some(0)),
        ("retry without the space", b"retry:7\n", "", Some(7)),
        ("retry with a letter ignored", b"retry: 1000x\n", "", None),
        ("retry negative ignored", b"retry: -1\n", "", None),
        ("retry two spaces ignored", b"retry:  1000\n", "", None),
        ("retry trailing space ignored", b"retry: 1000 \n", "", None),
        ("retry empty ignored", b"retry:\n", "", None),
        ("retry without colon ignored", b"retry\n", "", None),
        ("retry plus sign ignored", b"retry: +5\n", "", None),
        ("retry non-ascii digit ignored", "retry: ١\n".as_bytes(), "", None),
        ("retry huge saturates", b"retry: 99999999999999999999999\n", "", Some(u64::MAX)),
        ("bad retry keeps the last good one", b"retry: 1500\nretry: x\nretry:\n", "", Some(1500)),
        ("id set at dispatch", b"id: 5\ndata: x\n\n", "5", None),
        ("id set by a block without data", b"id: 5\n\n", "5", None),
        ("id not dispatched is lost", b"id: 5\n", "", None),
        ("id of an unfinished event is lost", b"id: 5\ndata: x\n", "", None),
        ("id reset by empty id", b"id: 5\n\nid:\n\n", "", None),
        ("id with nul ignored", b"id: 5\n\nid: 6\0\n\n", "5", None),
    ];
    for (name, input, id, retry) in cases {
        let session = run_every_way(name, input).1;
        assert_eq!((session.last_event_id(), session.reconnection_time_ms()), (*id, *retry), "{name}");
        let header = Some(*id).filter(|id| !id.is_empty());
        assert_eq!(session.last_event_id_header(), header, "{name}: Last-Event-ID");
    }
}

#[test]
fn has_id_marks_events_with_their_own_id() {
    let input = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\nid: \0\ndata: e\n\n";
    let mut parser = Parser::new(Limits::NONE);
    let mut got = Vec::new();
    let fed = parser.feed(input, &mut |item| {
        if let Item::Event(e) = item {
            got.push((e.data.to_owned(), e.last_event_id.to_owned(), e.has_id));
        }
    });
    assert_eq!(fed, Ok(()));
    let row = |d: &str, id: &str, has: bool| (d.to_owned(), id.to_owned(), has);
    #[rustfmt::skip]
    let want = [row("a", "1", true), row("b", "1", false), row("c", "2", false), row("d", "", true), row("e", "", false)];
    assert_eq!(got, want);
}

#[test]
fn reconnection_keeps_the_session_only() {
    let mut parser = Parser::new(Limits::NONE);
    let first = connection(&mut parser, &[b"retry: 300\nid: 1\ndata: a\n\nid: 2\nevent: t\ndata: lost\n\xEF\xBB"]);
    assert_eq!(first, [mi("a", "1")]);
    assert_eq!(parser.session().last_event_id_header(), Some("1"));
    assert_eq!(parser.session().reconnection_time_ms(), Some(300));
    // A new body: its BOM is removed again, the unfinished event and line
    // are gone, the id is inherited, and a CR that ended the first body
    // does not swallow an LF starting this one.
    let second = connection(&mut parser, &[b"\xEF\xBB\xBFdata: b\n\ndata: c\r"]);
    assert_eq!(second, [mi("b", "1")]);
    let third = connection(&mut parser, &[b"\ndata: d\n\n"]);
    assert_eq!(third, [mi("d", "1")]);
}

/// Events dispatched, or the error.
type Fed = Result<usize, LimitError>;

#[test]
fn limits_are_reached_exactly() {
    let limits = Limits { line: 10, data: 8 };
    let feed = |pieces: &[&[u8]]| -> Fed {
        let mut parser = Parser::new(limits);
        let mut events = 0;
        for piece in pieces {
            parser.feed(piece, &mut |_| events += 1)?;
        }
        Ok(events)
    };
    #[rustfmt::skip]
    let cases: &[(&str, &[&[u8]], Fed)] = &[
        ("held line at the limit", &[b"data: 1234", b"\n\n"], Ok(1)),
        ("held line over the limit", &[b"data: 12345"], Err(LimitError::LineTooLong)),
        ("held line completed over the limit", &[b"data: 1234", b"5\n\n"], Err(LimitError::LineTooLong)),
        ("a whole line is not held", &[b"data: 1234567\n"], Ok(0)),
        ("data at the limit (7 bytes and LF)", &[b"data: 1234567\n\n"], Ok(1)),
        ("data over the limit", &[b"data: 12345678\n\n"], Err(LimitError::DataTooLong)),
        ("data over the limit in two lines", &[b"data: 1234\ndata: 123\n\n"], Err(LimitError::DataTooLong)),
        ("dispatch empties the data", &[b"data: 1234567\n\ndata: 1234567\n\n"], Ok(2)),
    ];
    for (name, pieces, want) in cases {
        assert_eq!(feed(pieces), *want, "{name}");
    }
}
