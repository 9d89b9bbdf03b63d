//! PROTOCOL.md §2, `408`: a request head not complete 10 s after the
//! connection opened, or content not complete 10 s after its head, is
//! answered once and the connection ends. The slowloris test is the one
//! black-box check of the head timer's length; the timer of a later
//! request on a kept-alive connection is a fake-clock test of the state
//! machine, not a 10 s wait here. The idle keep-alive timeout (60 s) is
//! too slow to test here.

use std::time::{Duration, Instant};

use crate::harness::{Client, Fill, Server, expect_refusal, split_responses};

/// Sends `head` one byte a second until the server answers; returns when
/// the first byte of the answer arrived. The second between bytes is the
/// attack's pace, not a poll: each wait ends at the answer's first byte.
fn dribble(c: &mut Client, head: &[u8]) -> Instant {
    for &b in head {
        // After a refusal the server reads and drops for a while; a failed
        // write only means it has closed, which the read below tells.
        let _ = c.try_send(&[b]);
        match c.fill(Some(Duration::from_secs(1))) {
            Fill::Bytes => return Instant::now(),
            Fill::Eof => panic!("closed without an answer"),
            Fill::Nothing => {}
        }
    }
    panic!("the whole head was sent a byte a second and no 408 came");
}

#[test]
fn slowloris_gets_408_ten_seconds_after_the_connection_opened() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let opened = Instant::now();
    let answered = dribble(&mut c, b"GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n");
    let took = answered - opened;
    assert!(took >= Duration::from_millis(9_500) && took <= Duration::from_millis(11_500), "408 after {took:?}");
    expect_refusal(&mut c, 408);
}

/// Content that never completes: the connection is answered once at most.
#[test]
fn content_that_stops_coming_gets_one_response() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhe");
    let responses = split_responses(&c.read_to_eof());
    let heads: Vec<&str> = responses.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(heads.len(), 1, "one request, {} responses: {heads:#?}", heads.len());
}
