//! PROTOCOL.md §2 "Bad requests": every row of the table, and every MUST
//! of RFC 9112 that a server can be caught breaking, is one line of
//! `refused()`, sent on a fresh connection and answered with an exact head,
//! a short text body and the end of the connection. Next to it, the edges
//! that are still allowed (64 fields, a head of exactly 8 KiB, ...) are
//! answered as their route says and the connection goes on.

use std::thread;
use std::time::Duration;

use super::{chunked, post_with_length};
use crate::harness::{Client, Fill, GET, Server, expect_index, expect_index_and_close, expect_refusal};

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A head with `n` fields in all (`Host` included).
fn head_with_fields(n: usize) -> Vec<u8> {
    let mut h = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 1..n {
        h.extend_from_slice(format!("X-F{i}: v\r\n").as_bytes());
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// A complete `GET /` head of exactly `len` bytes.
fn head_of_len(len: usize) -> Vec<u8> {
    let mut h = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ".to_vec();
    h.resize(len - 4, b'a');
    h.extend_from_slice(b"\r\n\r\n");
    assert_eq!(h.len(), len);
    h
}

/// A name, the bytes sent on a fresh connection, the status of the answer.
type Case = (&'static str, Vec<u8>, u16);

/// One line per bad request: a name, the bytes sent on a fresh connection,
/// the status of the answer.
fn refused() -> Vec<Case> {
    let v = |b: &[u8]| b.to_vec();
    let post = |fields: &str| format!("POST / HTTP/1.1\r\nHost: t\r\n{fields}\r\n\r\n").into_bytes();
    let mut long_value = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
    long_value.resize(9000, b'a');
    long_value.extend_from_slice(b"\r\n\r\n");
    let mut many_long = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..40 {
        many_long.extend_from_slice(format!("X-{i}: {}\r\n", "b".repeat(200)).as_bytes());
    }
    many_long.extend_from_slice(b"\r\n");
    let mut big_chunks = b"8000\r\n".to_vec();
    big_chunks.resize(6 + 0x8000, b'x');
    big_chunks.extend_from_slice(b"\r\n8000\r\n");
    big_chunks.resize(big_chunks.len() + 0x8000, b'x');
    big_chunks.extend_from_slice(b"\r\n1\r\nx\r\n0\r\n\r\n");
    let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f\x00\x42\x13\x37\x99\xde\xad\xbe\xef\
        \x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x00\x3e\x13\x02";
    let mut garbage = Vec::new();
    let mut x: u32 = 0x2545_f491;
    for _ in 0..512 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push((x >> 24) as u8);
    }
    garbage[0] = 0xfe;
    vec![
        // The request line.
        ("two spaces after the method", v(b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("space before the line end", v(b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n"), 400),
        ("space before the method", v(b" GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("tab as a separator", v(b"GET\t/ HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("no version", v(b"GET /\r\nHost: t\r\n\r\n"), 400),
        ("lowercase version", v(b"GET / http/1.1\r\nHost: t\r\n\r\n"), 400),
        ("malformed version", v(b"GET / HTTP/1.x\r\nHost: t\r\n\r\n"), 400),
        ("fragment in the target", v(b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("byte above 0x7F in the target", v(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("NUL in the target", v(b"GET /a\x00b HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("malformed percent-encoding", v(b"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("authority form", v(b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n"), 400),
        ("* without OPTIONS", v(b"GET * HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        ("bare CR ending the request line", v(b"GET / HTTP/1.1\rHost: t\r\n\r\n"), 400),
        ("bare CR before the request line", v(b"\rGET / HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
        // Host.
        ("no Host", v(b"GET / HTTP/1.1\r\n\r\n"), 400),
        ("two Host fields", v(b"GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n"), 400),
        ("two different Host fields", v(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400),
        (
            "two Authorization fields",
            v(b"POST /channels/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\n\r\n"),
            400,
        ),
        ("empty Host", v(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400),
        ("Host with userinfo", v(b"GET / HTTP/1.1\r\nHost: user@t\r\n\r\n"), 400),
        ("Host with a path", v(b"GET / HTTP/1.1\r\nHost: t/x\r\n\r\n"), 400),
        ("Host with a bad port", v(b"GET / HTTP/1.1\r\nHost: t:80x\r\n\r\n"), 400),
        ("Host with a space", v(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400),
        ("Host with an unclosed IP literal", v(b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400),
        ("invalid Host in HTTP/1.0", v(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n"), 400),
        // Fields.
        ("whitespace before a colon", v(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n"), 400),
        ("tab before a colon", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n"), 400),
        ("obs-fold", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n"), 400),
        ("obs-fold with a tab", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n"), 400),
        ("bare CR in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"), 400),
        ("bare CR ending a field", v(b"GET / HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n"), 400),
        ("NUL in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n"), 400),
        ("0x01 in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n"), 400),
        ("ESC in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x1bb\r\n\r\n"), 400),
        ("DEL in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n"), 400),
        ("control byte in a name", v(b"GET / HTTP/1.1\r\nHost: t\r\nX\x01A: b\r\n\r\n"), 400),
        ("separator in a name", v(b"GET / HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n"), 400),
        ("empty name", v(b"GET / HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n"), 400),
        ("field line without a colon", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A b\r\n\r\n"), 400),
        // Content-Length.
        ("Content-Length +5", post("Content-Length: +5"), 400),
        ("Content-Length -1", post("Content-Length: -1"), 400),
        ("Content-Length 0x5", post("Content-Length: 0x5"), 400),
        ("Content-Length 5.0", post("Content-Length: 5.0"), 400),
        ("Content-Length 1 5", post("Content-Length: 1 5"), 400),
        ("Content-Length empty", post("Content-Length:"), 400),
        ("Content-Length 5, 6", post("Content-Length: 5, 6"), 400),
        ("Content-Length 5,", post("Content-Length: 5,"), 400),
        ("Content-Length of 20 digits (overflow)", post("Content-Length: 99999999999999999999"), 400),
        ("Content-Length repeated, different", post("Content-Length: 5\r\nContent-Length: 6"), 400),
        // Transfer-Encoding.
        ("Transfer-Encoding and Content-Length", post("Content-Length: 5\r\nTransfer-Encoding: chunked"), 400),
        ("Content-Length and Transfer-Encoding", post("Transfer-Encoding: chunked\r\nContent-Length: 5"), 400),
        // RFC 9112 §6.3: a last coding other than chunked is 400 (MUST).
        ("Transfer-Encoding gzip", post("Transfer-Encoding: gzip"), 400),
        ("Transfer-Encoding chunked, gzip", post("Transfer-Encoding: chunked, gzip"), 400),
        ("Transfer-Encoding gzip, chunked", post("Transfer-Encoding: gzip, chunked"), 501),
        (
            "Transfer-Encoding chunked then identity",
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"),
            400,
        ),
        ("Transfer-Encoding chunked twice", post("Transfer-Encoding: chunked, chunked"), 400),
        ("Transfer-Encoding empty", post("Transfer-Encoding:"), 400),
        ("Transfer-Encoding in HTTP/1.0", v(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400),
        // Chunked content.
        ("chunk size not hex", chunked(b"zz\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size 0x5", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size -5", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size of 17 hex digits", chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk extension without a name", chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk extension without a value", chunked(b"5;a=\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk extension with a space in a name", chunked(b"5;a b\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk extension with a control byte", chunked(b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), 400),
        ("bare CR in a chunk size line", chunked(b"5\rhello\r\n0\r\n\r\n"), 400),
        ("chunk data not followed by CRLF", chunked(b"5\r\nhelloX\r\n0\r\n\r\n"), 400),
        ("chunk data longer than its size", chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400),
        ("trailer with whitespace before the colon", chunked(b"0\r\nX-T : v\r\n\r\n"), 400),
        ("trailer with a control byte", chunked(b"0\r\nX-T: a\x01b\r\n\r\n"), 400),
        ("trailer without a colon", chunked(b"0\r\nX-T v\r\n\r\n"), 400),
        ("bare CR in the trailer section", chunked(b"0\r\n\rX"), 400),
        ("a chunk extension of 5,000 bytes", chunked(&cat(&[b"1;a=", &[b'b'; 5000], b"\r\nx\r\n0\r\n\r\n"])), 400),
        (
            "a trailer section of 100 KiB",
            chunked(&cat(&[b"0\r\n", &b"X-Trailer: 0123456789\r\n".repeat(4400), b"\r\n"])),
            431,
        ),
        // GET and HEAD with content.
        ("GET with Content-Length 5", v(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"), 400),
        ("HEAD with Content-Length 1", v(b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"), 400),
        (
            "GET with chunked content",
            v(b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            "HEAD with chunked content",
            v(b"HEAD / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            "GET with Content-Length 100,000 (400, not 413)",
            v(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"),
            400,
        ),
        (
            "GET with Transfer-Encoding gzip (400, not 501)",
            v(b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"),
            400,
        ),
        (
            "GET /events with content",
            v(b"GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\nContent-Length: 2\r\n\r\nhi"),
            400,
        ),
        // Sizes.
        ("content of 64 KiB + 1", post_with_length(65_537), 413),
        ("Content-Length 10^19", post("Content-Length: 10000000000000000000"), 413),
        ("one chunk of 64 KiB + 1", chunked(b"10001\r\n"), 413),
        ("chunks adding up to 64 KiB + 1", chunked(&big_chunks), 413),
        ("a 9,000-byte field", long_value, 431),
        ("a 9,000-byte request line", cat(&[b"GET /", &[b'a'; 9000], b" HTTP/1.1\r\nHost: t\r\n\r\n"]), 414),
        ("a head of 40 fields of 200 bytes", many_long, 431),
        ("a head of 8 KiB + 1", head_of_len(8193), 431),
        ("65 fields", head_with_fields(65), 431),
        // Methods and versions.
        ("method FOO", v(b"FOO / HTTP/1.1\r\nHost: t\r\n\r\n"), 501),
        ("method get", v(b"get / HTTP/1.1\r\nHost: t\r\n\r\n"), 501),
        ("method Get", v(b"Get / HTTP/1.1\r\nHost: t\r\n\r\n"), 501),
        ("a method of 18 letters, not yet ended", v(b"UPDATEREDIRECTREFS"), 501),
        ("a method of 9,000 letters", v(&[b'G'; 9000]), 501),
        ("HTTP/2.0", v(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n"), 505),
        ("HTTP/1.2", v(b"GET / HTTP/1.2\r\nHost: t\r\n\r\n"), 505),
        ("HTTP/0.9", v(b"GET / HTTP/0.9\r\nHost: t\r\n\r\n"), 505),
        ("HTTP/3.0", v(b"GET / HTTP/3.0\r\nHost: t\r\n\r\n"), 505),
        ("the HTTP/2 preface", v(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505),
        // Not HTTP at all.
        ("binary garbage", garbage, 400),
        ("NUL bytes", v(&[0u8; 64]), 400),
        ("a TLS ClientHello", v(client_hello), 400),
        // Its first word is a token longer than any method: 501 at once.
        ("an SSH banner", v(b"SSH-2.0-OpenSSH_9.6\r\n"), 501),
        // Malformed first, then routed: 400, not 405.
        ("POST without Host", v(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 400),
        ("POST with a malformed field", v(b"POST / HTTP/1.1\r\nHost: t\r\nX-A : b\r\n\r\n"), 400),
        ("POST with a bad Content-Length", post("Content-Length: five"), 400),
        ("PUT /events with obs-fold", v(b"PUT /events HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n"), 400),
    ]
}

/// Runs `f` for each case on its own thread; returns a line per failure.
fn run_cases<T: Send + 'static>(cases: Vec<(&'static str, T)>, f: fn(T)) -> Vec<String> {
    let handles: Vec<_> = cases.into_iter().map(|(name, case)| (name, thread::spawn(move || f(case)))).collect();
    let mut failures = Vec::new();
    for (name, h) in handles {
        if let Err(e) = h.join() {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    failures
}

#[test]
fn bad_requests_get_exact_refusals_and_the_connection_closes() {
    let mut s = Server::start(&[]);
    let cases = refused().into_iter().map(|(name, bytes, status)| (name, (s.addr, bytes, status))).collect();
    let failures = run_cases(cases, |(addr, bytes, status)| {
        let mut c = Client::connect(addr);
        // The server may refuse before the last byte and stop reading:
        // what counts is the response, read below.
        let _ = c.try_send(&bytes);
        expect_refusal(&mut c, status);
    });
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), refused().len(), failures.join("\n"));
    // The same server still serves good requests.
    let mut c = s.connect();
    c.send(GET);
    expect_index(&mut c);
    s.assert_alive();
}

/// Requests at the edge of what is allowed: answered as the route says,
/// then the connection goes on with a pipelined `GET /`.
#[test]
fn requests_at_the_limits_are_accepted() {
    let s = Server::start(&[]);
    let v = |b: &[u8]| b.to_vec();
    let post = |fields: &str, body: &str| format!("POST / HTTP/1.1\r\nHost: t\r\n{fields}\r\n\r\n{body}").into_bytes();
    let cases: Vec<Case> = vec![
        ("empty lines before the request line", v(b"\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"), 200),
        ("bare LF line ends", v(b"GET / HTTP/1.1\nHost: t\n\n"), 200),
        ("GET with Content-Length 0", v(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"), 200),
        ("Host with an IPv6 literal and port", v(b"GET / HTTP/1.1\r\nHost: [::1]:8888\r\n\r\n"), 200),
        ("absolute-form target", v(b"GET http://t/ HTTP/1.1\r\nHost: t\r\n\r\n"), 200),
        ("tab and obs-text in a value", v(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\tcaf\xc3\xa9\r\n\r\n"), 200),
        ("64 fields", head_with_fields(64), 200),
        ("a head of exactly 8 KiB", head_of_len(8192), 200),
        ("OPTIONS *", v(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"), 204),
        ("Content-Length 5, 5", post("Content-Length: 5, 5", "hello"), 405),
        ("Content-Length repeated, equal", post("Content-Length: 5\r\nContent-Length: 5", "hello"), 405),
        ("content of exactly 64 KiB", post_with_length(65_536), 405),
        ("Transfer-Encoding Chunked", post("Transfer-Encoding: Chunked", "0\r\n\r\n"), 405),
    ];
    let cases = cases.into_iter().map(|(name, bytes, status)| (name, (s.addr, bytes, status))).collect();
    let failures = run_cases(cases, |(addr, bytes, status)| {
        let mut c = Client::connect(addr);
        c.send(&bytes).send(GET);
        let r = c.read_response();
        assert_eq!(r.status(), status, "{}", r.head);
        assert_eq!(r.header("Connection"), None, "{}", r.head);
        expect_index(&mut c);
    });
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn http_1_0_without_host_is_served_and_closed() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    expect_index_and_close(&mut c);
}

#[test]
fn a_head_crossing_8_kib_in_two_writes_gets_431() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut first = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
    first.resize(7000, b'a');
    c.send(&first);
    // 7,000 bytes are a valid start of a head: no answer yet (an absence,
    // so it can only be watched for a while, not awaited).
    assert_eq!(c.fill(Some(Duration::from_millis(300))), Fill::Nothing, "{:?}", String::from_utf8_lossy(c.pending()));
    let _ = c.try_send(&[b'a'; 5000]);
    expect_refusal(&mut c, 431);
}
