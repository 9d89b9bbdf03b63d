//! The web-platform-tests of `EventSource` parsing, one line per
//! `eventsource/format-*` test, named after its file. The bodies are what
//! their resources send: `resources/message.py` answers its `message`, then
//! `\n\n` (unless `newline=none`), then `\n`; `resources/last-event-id.py`
//! answers `data: <Last-Event-ID>\n\n` when the request has one, else
//! `id: <idvalue, default …>\nretry: 200\ndata: hello\n\n`;
//! `resources/last-event-id2.py` answers one of three fixed bodies. The
//! `format-mime-*` and `request-status-error` cases are in `response.rs`.

use super::tests::{Got, c, connection, ev, m, mi, run_every_way};
use super::*;

/// `resources/message.py?message=...`, with or without `newline=none`.
fn message_py(message: &str, newline_none: bool) -> Vec<u8> {
    let newline = if newline_none { "" } else { "\n\n" };
    format!("{message}{newline}\n").into_bytes()
}

/// `resources/last-event-id.py` for a request without `Last-Event-ID`.
fn last_event_id_py(idvalue: &str) -> Vec<u8> {
    format!("id: {idvalue}\nretry: 200\ndata: hello\n\n").into_bytes()
}

#[test]
fn format_tests() {
    let x = "x".repeat(2 * 1024);
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Vec<Got>)> = vec![
        ("format-bom.any.js", message_py("\u{FEFF}data:1\n\n\u{FEFF}data:2\n\ndata:3", false), vec![m("1"), m("3")]),
        ("format-bom-2.any.js", message_py("\u{FEFF}\u{FEFF}data:1\n\ndata:2\n\ndata:3", false), vec![m("2"), m("3")]),
        ("format-comments.any.js",
            message_py(&format!("data:1\r:\0\n:\r\ndata:2\n:{x}\rdata:3\n:data:fail\r:{x}\ndata:4\n"), true),
            vec![c("\0"), c(""), c(&x), c("data:fail"), c(&x), m("1\n2\n3\n4")]),
        ("format-data-before-final-empty-line.any.js",
            message_py("retry:1000\ndata:test1\n\nid:test\ndata:test2", true), vec![m("test1")]),
        ("format-field-data.any.js", message_py("data:\n\ndata\ndata\n\ndata:test", false), vec![m(""), m("\n"), m("test")]),
        ("format-field-event.any.js", message_py("event:test\ndata:x\n\ndata:x", false), vec![ev("test", "x", ""), m("x")]),
        ("format-field-event-empty.any.js", message_py("event: \ndata:data", false), vec![m("data")]),
        ("format-field-id.any.js (first connection)", last_event_id_py("…"), vec![mi("hello", "…")]),
        ("format-field-id-3.window.js persists",
            b"id: 1\ndata: 1\n\ndata: 2\n\nid: 2\ndata:3\n\ndata:4\n\n".to_vec(),
            vec![mi("1", "1"), mi("2", "1"), mi("3", "2"), mi("4", "2")]),
        ("format-field-id-3.window.js resets", b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n".to_vec(),
            vec![mi("1", "1"), m("2"), m("3")]),
        ("format-field-id-3.window.js resets (id without colon)", b"id: 1\ndata: 1\n\nid\ndata:2\n\ndata:3\n\n".to_vec(),
            vec![mi("1", "1"), m("2"), m("3")]),
        ("format-field-id-null.window.js \\0\\0", last_event_id_py("\0\0"), vec![m("hello")]),
        ("format-field-id-null.window.js x\\0", last_event_id_py("x\0"), vec![m("hello")]),
        ("format-field-id-null.window.js \\0x", last_event_id_py("\0x"), vec![m("hello")]),
        ("format-field-id-null.window.js x\\0x", last_event_id_py("x\0x"), vec![m("hello")]),
        ("format-field-id-null.window.js ' \\0'", last_event_id_py(" \0"), vec![m("hello")]),
        ("format-field-parsing.any.js",
            message_py("data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n", true),
            vec![m("\0\n 2\n1\n3\n\n4")]),
        ("format-field-retry.any.js", message_py("retry:02000\ndata:x", false), vec![m("x")]),
        ("format-field-retry-bogus.any.js", message_py("retry:2000\nretry:1000x\ndata:x", false), vec![m("x")]),
        ("format-field-retry-empty.any.js", message_py("retry\ndata:test", false), vec![m("test")]),
        ("format-field-unknown.any.js",
            message_py("data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test", false),
            vec![c("thisisacommentyay"), m("test\n\ntest")]),
        ("format-leading-space.any.js", message_py("data:\ttest\rdata: \ndata:test", false), vec![m("\ttest\n\ntest")]),
        ("format-newlines.any.js", message_py("data:test\r\ndata\ndata:test\r\n\r", true), vec![m("test\n\ntest")]),
        ("format-null-character.html", message_py("data:\0\n\n", false), vec![m("\0")]),
        ("format-utf-8.any.js (charset=windows-1252 ignored)", message_py("data:ok…", false), vec![m("ok…")]),
    ];
    for (name, body, want) in &cases {
        assert_eq!(&run_every_way(name, body).0, want, "{name}");
    }
}

/// The cases that reconnect: the session (last event ID string,
/// reconnection time) goes on to the next connection, the rest does not.
#[test]
fn format_tests_across_reconnections() {
    // format-field-retry(-bogus): the time an EventSource waits.
    for (name, message, want) in [
        ("format-field-retry.any.js", "retry:02000\ndata:x", Some(2000)),
        ("format-field-retry-bogus.any.js", "retry:2000\nretry:1000x\ndata:x", Some(2000)),
        ("format-field-retry-empty.any.js", "retry\ndata:test", None),
    ] {
        let session = run_every_way(name, &message_py(message, false)).1;
        assert_eq!(session.reconnection_time_ms(), want, "{name}");
    }

    // format-field-id and -2: the id is sent back, and the events of the
    // next connections, which carry no id, inherit it.
    let mut parser = Parser::new(Limits::NONE);
    assert_eq!(connection(&mut parser, &[&last_event_id_py("…")]), [mi("hello", "…")]);
    assert_eq!(parser.session().reconnection_time_ms(), Some(200));
    for _ in 0..2 {
        let header = parser.session().last_event_id_header().map(str::to_owned);
        assert_eq!(header.as_deref(), Some("…"), "format-field-id: Last-Event-ID");
        let body = format!("data: {}\n\n", header.unwrap_or_default());
        assert_eq!(connection(&mut parser, &[body.as_bytes()]), [mi("…", "…")], "format-field-id-2");
    }

    // format-field-id-null: an id with NUL is never taken, so no
    // Last-Event-ID is sent and the server says hello again.
    for idvalue in ["\0\0", "x\0", "\0x", "x\0x", " \0"] {
        let mut parser = Parser::new(Limits::NONE);
        for _ in 0..2 {
            assert_eq!(connection(&mut parser, &[&last_event_id_py(idvalue)]), [m("hello")], "{idvalue:?}");
            assert_eq!(parser.session().last_event_id_header(), None, "{idvalue:?}");
        }
    }

    // format-data-before-final-empty-line: the id of the event the end of
    // the body cut off never becomes the last event ID string.
    let body = message_py("retry:1000\ndata:test1\n\nid:test\ndata:test2", true);
    let mut parser = Parser::new(Limits::NONE);
    for _ in 0..2 {
        assert_eq!(connection(&mut parser, &[&body]), [m("test1")]);
        assert_eq!(parser.session().last_event_id_header(), None);
        assert_eq!(parser.session().reconnection_time_ms(), Some(1000));
    }
}
