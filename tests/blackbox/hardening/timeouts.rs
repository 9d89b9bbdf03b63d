//! PROTOCOL.md §2, `408`: a request head not complete 10 s after the
//! connection opened is answered once and the connection ends. The
//! slowloris test is the one black-box check of the head timer's length;
//! the timer of a later request on a kept-alive connection and content that
//! stops coming are fake-clock tests of the state machine
//! (`tests/state_machine.rs`), not 10 s waits here.
//!
//! And `--idle-timeout` (60 s by default, shortened here): an idle
//! connection is closed quietly; a client that takes a large answer slowly
//! but steadily is not idle; one that stops taking it is closed, logged once.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::harness::{Client, Fill, GET, Server, TempWww, expect_index, expect_refusal};

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

#[test]
fn an_idle_connection_is_closed_quietly_after_the_idle_timeout() {
    let mut s = Server::start(&["--idle-timeout", "300"]);
    let mut c = s.connect();
    let asked = Instant::now();
    c.send(GET);
    expect_index(&mut c);
    c.expect_eof();
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
    let log = s.stop().log;
    assert!(!log.iter().any(|l| l.contains("stalled")), "{log:#?}");
}

/// A client that takes a large file slowly but steadily: the kernel's
/// buffers drain for longer than the idle timeout without the socket
/// becoming writable, yet the client is not idle (the send queue shrinks),
/// so the download goes on. Then it stops taking anything: closed, and
/// logged once.
#[test]
fn a_slow_but_steady_download_is_not_cut() {
    let www = TempWww::new("slow");
    www.write("big.bin", &vec![b'z'; 64 << 20]);
    let mut s = Server::start(&["--www", &www.www_arg(), "--idle-timeout", "1000"]);
    let mut c = s.connect();
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_until(b"\r\n\r\n");
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let mut got = c.pending().len();
    let mut socket = c.writer();
    let mut chunk = vec![0u8; 16 * 1024];
    let started = Instant::now();
    // 4 s at 16 KiB every 50 ms: about 1.3 MB, far less than the socket
    // buffers on both sides hold once they have filled at loopback speed,
    // so the server's socket never becomes writable meanwhile. The pace is
    // the point of the test: it is not waiting for anything.
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(50));
        let n = socket.read(&mut chunk).expect("read");
        assert!(n > 0, "the download was cut after {got} bytes and {:?}", started.elapsed());
        got += n;
    }
    // Still open: the server did not take it for a stalled client.
    let early: Vec<&String> = s.logged().iter().filter(|l| l.contains("Client stalled")).collect();
    assert!(early.is_empty(), "closed while it was reading: {early:#?}");
    // Now it stops reading: closed within two idle periods, logged once.
    let stalled = s.wait_log("Client stalled: closing the connection");
    assert!(stalled.contains("WARN"), "{stalled}");
    let rest = c.read_to_eof();
    assert!(got + rest.len() < 64 << 20, "the whole file arrived: the stalled client was not closed");
    let log = s.stop().log;
    assert!(!log.iter().any(|l| l.contains("Client stalled")), "logged twice or early: {log:#?}");
}
