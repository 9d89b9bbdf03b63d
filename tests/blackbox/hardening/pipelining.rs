//! PROTOCOL.md §2 pipelining and §4 back-pressure: pipelined requests are
//! answered in order, a client that does not read holds the server back
//! instead of making it buffer, and a connection ends where it should
//! (half-closed, `Connection: close`, after a refusal).

use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::harness::{Fill, GET, Server, expect_index, rss_kib};

/// 2,000 pipelined requests from a client that reads nothing for a while:
/// the server stops reading at its output bound instead of buffering, then
/// answers every request in order.
#[test]
fn pipelined_requests_from_a_client_that_does_not_read_are_bounded() {
    let s = Server::start(&[]);
    let mut warm = s.connect();
    warm.send(GET);
    expect_index(&mut warm);
    let rss_before = rss_kib(s.pid());
    let mut c = s.connect();
    let batch = GET.repeat(2000);
    let mut w = c.writer();
    let writer = thread::spawn(move || w.write_all(&batch));
    assert_eq!(c.fill(None), Fill::Bytes);
    // Not reading for a while: the answers pile up in the kernel and the
    // server must hold back, not buffer ~2.8 MB of responses. Holding back
    // is the absence of reads and writes: no event says it has happened.
    thread::sleep(Duration::from_millis(500));
    let rss_held = rss_kib(s.pid());
    for _ in 0..2000 {
        expect_index(&mut c);
    }
    writer.join().expect("writer").expect("all requests sent");
    assert!(rss_held <= rss_before + 2048, "RSS {rss_before} KiB -> {rss_held} KiB holding pipelined answers");
}

#[test]
fn a_half_closed_client_still_gets_its_response() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(GET);
    c.shutdown_write();
    expect_index(&mut c);
    c.expect_eof();
}

#[test]
fn nothing_is_answered_after_connection_close() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("Connection"), Some("close"));
    c.expect_eof();
}

#[test]
fn a_refusal_follows_the_answers_to_earlier_pipelined_requests() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    // Two good requests and a bad one in one write: both answers come
    // first, in order, then the refusal, then the close.
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/9.9\r\n\r\n");
    assert_eq!(c.read_response().status(), 200);
    assert_eq!(c.read_response().status(), 404);
    let r = c.read_response();
    assert_eq!((r.status(), r.header("Connection")), (505, Some("close")));
    c.expect_eof();
}
