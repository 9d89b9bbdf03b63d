//! PROTOCOL.md §2, request content: framed exactly (`Content-Length`, or
//! chunked with extensions and trailers), read to its end and dropped, in
//! any number of pieces, so the next pipelined request starts at the right
//! byte; and one answer per request even when the content turns out bad.

use std::thread;
use std::time::Duration;

use super::{chunked, post_with_length};
use crate::harness::{Client, GET, Server, expect_405, expect_index, split_responses};

#[test]
fn content_length_content_is_read_and_dropped() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_405(&mut c);
    expect_index(&mut c);
    // Still open, and in step.
    c.send(GET);
    expect_index(&mut c);
}

#[test]
fn chunked_content_with_extensions_and_trailers_is_read_and_dropped() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(&chunked(
        b"5;a=b;c=\"q\\\"x\" ; d\r\nhello\r\nA\r\n0123456789\r\n0;last\r\nX-T: v\r\nX-U: \r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    ));
    expect_405(&mut c);
    expect_index(&mut c);
    c.send(GET);
    expect_index(&mut c);
}

/// Sends `bytes` in pieces of `step` bytes, each its own TCP segment.
fn send_in_pieces(c: &mut Client, bytes: &[u8], step: usize) {
    for piece in bytes.chunks(step) {
        c.send(piece);
        // Let each piece leave as its own segment and be read on its own
        // (no reply is due yet, so there is no event to wait for).
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn content_split_across_many_writes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut body = post_with_length(300);
    body.extend_from_slice(GET);
    send_in_pieces(&mut c, &body, 7);
    expect_405(&mut c);
    expect_index(&mut c);

    let mut c = s.connect();
    let mut req = chunked(b"3;x=y\r\nabc\r\n0a\r\n0123456789\r\n0\r\nX-T: v\r\n\r\n");
    req.extend_from_slice(GET);
    send_in_pieces(&mut c, &req, 1);
    expect_405(&mut c);
    expect_index(&mut c);
}

/// One request, one response: content that turns out malformed after the
/// head is in is answered `400` (contract §2: content is read to its end,
/// "then" the request is answered as its route says), never with a route's
/// answer followed by a second response to the same request.
#[test]
fn a_bad_chunk_after_the_head_gets_one_response() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    // The chunk comes in a later segment, as it does over a real network.
    // Nothing is due before it (no answer, no log line), so no event tells
    // that the server has read the head alone: give it the time to.
    thread::sleep(Duration::from_millis(300));
    let _ = c.try_send(b"zz\r\n");
    let responses = split_responses(&c.read_to_eof());
    let heads: Vec<&str> = responses.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(heads.len(), 1, "one request, {} responses: {heads:#?}", heads.len());
    assert!(heads[0].starts_with("HTTP/1.1 400 Bad Request\r\n"), "{heads:#?}");
}
