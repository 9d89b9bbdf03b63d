//! The parser's table: valid heads (and every strict prefix of each),
//! then one line per way a head can be refused.

use super::*;

const VALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /events?interval=10&count=2 HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nAccept: text/event-stream\r\nLast-Event-ID: 3-4\r\n\r\n",
    b"HEAD /index.html HTTP/1.0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: [::1]:8888\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET http://h:1/x?y HTTP/1.1\r\nHost: h:1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: h\n\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n",
];

#[test]
fn valid_heads_and_every_strict_prefix() {
    for &head in VALID {
        let shown = String::from_utf8_lossy(head);
        match parse(head) {
            Ok(Status::Complete(req)) => assert_eq!(req.head_len, head.len(), "{shown}"),
            other => panic!("{shown}: {other:?}"),
        }
        for cut in 0..head.len() {
            assert_eq!(parse(&head[..cut]), Ok(Status::Partial), "{shown} cut at {cut}");
        }
        // What follows the head is not part of it.
        let mut more = head.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(matches!(parse(&more), Ok(Status::Complete(r)) if r.head_len == head.len()), "{shown}");
    }
}

fn complete(head: &[u8]) -> Request<'_> {
    match parse(head) {
        Ok(Status::Complete(r)) => r,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(head)),
    }
}

#[test]
fn what_a_request_says() {
    let r = complete(VALID[1]);
    assert_eq!((r.method, r.version), (Method::Get, Version::Http11));
    assert_eq!((r.path, r.query), (Some(&b"/events"[..]), &b"interval=10&count=2"[..]));
    assert!(r.keep_alive && r.accepts_event_stream);
    assert_eq!(r.last_event_id, Some(&b"3-4"[..]));
    assert_eq!(r.framing, Framing::None);

    let r = complete(VALID[2]);
    assert_eq!((r.method, r.version, r.keep_alive), (Method::Head, Version::Http10, false));
    let r = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(r.keep_alive);
    let r = complete(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n");
    assert!(!r.keep_alive);
    assert_eq!(complete(VALID[3]).path, None);
    assert_eq!(complete(VALID[4]).framing, Framing::Length(5));
    assert_eq!(complete(VALID[5]).framing, Framing::Chunked);
    assert_eq!(complete(VALID[6]).path, Some(&b"/x"[..]));
    let r = complete(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html, Text/Event-Stream;q=0.9\r\n\r\n");
    assert!(r.accepts_event_stream);
    let r = complete(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.framing, Framing::None);
    let r = complete(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n");
    assert_eq!(r.framing, Framing::Length(7));
    let r = complete(b"GET / HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 1-1\r\nLast-Event-ID: 1-2\r\n\r\n");
    assert_eq!(r.last_event_id, Some(&b""[..]));
}

/// One line per refusal: the bytes (complete or not) and the status.
const REFUSED: &[(&[u8], u16)] = &[
    // Request line.
    (b"GET  / HTTP/1.1\r\n", 400),
    (b"GET / HTTP/1.1 \r\n", 400),
    (b" GET / HTTP/1.1\r\n", 400),
    (b"GET /\tHTTP/1.1\r\n", 400),
    (b"GET / HTTP/1.1\rX", 400),
    (b"\rGET / HTTP/1.1\r\n", 400),
    (b"GET /a#b HTTP/1.1\r\n", 400),
    (b"GET /\x80 HTTP/1.1\r\n", 400),
    (b"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTP/1.1\r\n", 400),
    (b"GET / HTTP/1.x\r\n", 400),
    (b"GET / HTTP/1.1.1\r\n", 400),
    (b"GET / http/1.1\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    (b"\x00\x00\x00\x00", 400),
    (b"G\xffT / HTTP/1.1\r\n", 400),
    // Versions.
    (b"GET / HTTP/2.0\r\n", 505),
    (b"GET / HTTP/1.2\r\n", 505),
    (b"GET / HTTP/0.9\r\n", 505),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    // Methods.
    (b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
    (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
    // Fields.
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX(: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", 400),
    (b"FOO / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    // Host.
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h/p\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h:x\r\n\r\n", 400),
    (b"GET / HTTP/1.0\r\nHost: h h\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\n\r\n", 400),
    // Framing.
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", 400),
    (b"HEAD / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    // RFC 9112 §6.3: a last coding other than chunked is 400 (MUST).
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    // Chunked last, another coding before it: framed, not implemented.
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    // Content on GET or HEAD is 400 before its size or codings count.
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"HEAD / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    // A method longer than any HTTP knows: 501 as soon as that is clear.
    (b"UPDATEREDIRECTREFS", 501),
    (b"UPDATEREDIRECTREF / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
];

#[test]
fn refused_heads() {
    for &(head, status) in REFUSED {
        let got = parse(head).map_err(|e| e.status);
        assert_eq!(got.err(), Some(status), "{}", String::from_utf8_lossy(head));
    }
}

#[test]
fn limits_of_the_head() {
    let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..64 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    assert_eq!(parse(&head).map_err(|e| e.status), Err(431), "65 fields, not yet complete");
    let mut ok = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..63 {
        ok.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    ok.extend_from_slice(b"\r\n");
    assert!(matches!(parse(&ok), Ok(Status::Complete(_))), "64 fields");

    let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
    long.resize(MAX_HEAD - 4, b'a');
    long.extend_from_slice(b"\r\n\r\n");
    assert_eq!(long.len(), MAX_HEAD);
    assert!(matches!(parse(&long), Ok(Status::Complete(_))), "exactly 8 KiB");
    let mut over = long.clone();
    over.insert(30, b'a');
    assert_eq!(parse(&over).map_err(|e| e.status), Err(431), "8 KiB + 1");
    assert_eq!(parse(&over[..MAX_HEAD]).map_err(|e| e.status), Err(431), "8 KiB and not complete");
    // A request line over 8 KiB because of its target: 414.
    let mut target = b"GET /".to_vec();
    target.resize(MAX_HEAD, b'a');
    assert_eq!(parse(&target).map_err(|e| e.status), Err(414));
    assert_eq!(parse(&target[..MAX_HEAD - 1]), Ok(Status::Partial));
    assert_eq!(parse(&[b'G'; crate::config::MAX_METHOD]), Ok(Status::Partial));
    assert_eq!(parse(&[b'G'; crate::config::MAX_METHOD + 1]).map_err(|e| e.status), Err(501));
}
