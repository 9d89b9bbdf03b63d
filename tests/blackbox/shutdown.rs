//! Graceful shutdown (README "Running it as a service"): on SIGTERM or
//! SIGINT, no new connection, answers in flight finish, streams end spread
//! over `--drain` with a `retry:`, one log line at the start and one at the
//! end, exit 0; a second signal exits at once.

use std::time::{Duration, Instant};

use crate::harness::{Client, GET, Launch, Server, TempWww, get_events, split_responses};

/// The `retry:` value a drained stream ends with, and when it ended.
fn drained(c: &mut Client) -> (u64, Instant) {
    let body = String::from_utf8(c.read_to_eof()).unwrap();
    let ended = Instant::now();
    let retry = body
        .strip_suffix("\n\n")
        .and_then(|b| b.rsplit_once("retry: "))
        .and_then(|(_, r)| r.parse().ok())
        .unwrap_or_else(|| panic!("no retry at the end of {body:?}"));
    (retry, ended)
}

/// Milliseconds since midnight of a log line's timestamp
/// (`2026-12-02T13:05:11.061Z INFO ...`).
fn log_ms(line: &str) -> i64 {
    let t = line.get(11..23).unwrap_or_else(|| panic!("no timestamp in {line:?}"));
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|x| x.parse::<i64>().ok()).expect("a timestamp");
    ((num(0..2) * 60 + num(3..5)) * 60 + num(6..8)) * 1000 + num(9..12)
}

/// The number before `what` in the closing line.
fn figure(line: &str, what: &str) -> u64 {
    let before = line.split(what).next().unwrap_or_else(|| panic!("no {what:?} in {line}"));
    before.trim_end().rsplit([' ', ';']).next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn sigterm_drains_the_streams_then_exits_0() {
    let mut s = Server::start(&["--drain", "1000"]);
    let mut streams: Vec<Client> = (0..40).map(|_| s.stream("/events?interval=100", "")).collect();
    // A request whose head has not all come (cut at the end), and an idle
    // kept-alive connection (closed at once). The server reads the partial
    // head first: it was ready before the idle request was sent, and that
    // one's answer has come.
    let mut partial = s.connect();
    partial.send(b"GET / HTTP/1.1\r\n");
    let mut idle = s.connect();
    idle.send(GET);
    idle.read_response();
    let port = s.port();
    s.wait_log("Client connected to event stream (connection #40");
    let signalled = Instant::now();
    s.signal(libc::SIGTERM);
    let began = s.wait_log("SIGTERM: shutting down; 40 streams end over 1000 ms, 2 other connections finish");
    idle.expect_eof();
    // One client leaves before its turn (unless its turn came first).
    drop(streams.remove(0));
    // Each stream is read on a thread of its own, so each end is seen when
    // it happens.
    let readers: Vec<_> = streams.drain(..).map(|mut c| std::thread::spawn(move || drained(&mut c))).collect();
    for r in readers {
        let (retry, at) = r.join().expect("reader");
        assert!((1000..=5000).contains(&retry), "retry {retry}");
        assert!(at - signalled < Duration::from_millis(2500), "ended {:?} after the signal", at - signalled);
    }
    let end = s.wait_log("SIGTERM: shut down after");
    assert_eq!(s.wait_exit(), Some(0));
    // The closing line counts what happened, and adds up.
    let retried = figure(&end, "streams ended with a retry");
    let before = figure(&end, "ended before their turn");
    assert!(retried + before == 40 && before <= 1, "{end}");
    assert_eq!((figure(&end, "other connections finished"), figure(&end, "cut at the end")), (1, 1), "{end}");
    // Spread evenly over the drain, by the server's clock: one stream in
    // each 25 ms of it, so half of them in each half, and no long gap.
    let t0 = log_ms(&began);
    let mut ends: Vec<i64> =
        s.logged().iter().filter(|l| l.contains("Event stream ended for a shutdown")).map(|l| log_ms(l) - t0).collect();
    ends.sort_unstable();
    assert_eq!(ends.len() as u64, retried);
    let first_half = ends.iter().filter(|&&t| t < 500).count();
    assert!((18..=22).contains(&first_half), "{first_half} of {} in the first half: {ends:?}", ends.len());
    let gap = ends.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(gap < 90 && ends[0] < 90 && *ends.last().unwrap() < 1090, "not even: {ends:?}");
    // No one listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    drop(partial);
}

#[test]
fn answers_in_flight_finish_and_are_the_last() {
    let www = TempWww::new("inflight");
    www.write("big.bin", &vec![b'q'; 4 << 20]);
    let mut s = Server::start(&["--www", &www.www_arg(), "--drain", "500"]);
    let mut d = s.connect();
    d.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = String::from_utf8(d.read_until(b"\r\n\r\n")).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    // A request whose content has not all come yet.
    let mut p = s.connect();
    p.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    // An idle kept-alive connection: closed at once.
    let mut idle = s.connect();
    idle.send(GET);
    idle.read_response();
    s.signal(libc::SIGTERM);
    s.wait_log("SIGTERM: shutting down");
    idle.expect_eof();
    p.send(b"cd");
    let r = p.read_response();
    assert_eq!((r.status(), r.header("Connection")), (405, Some("close")));
    let rest = d.read_to_eof();
    assert_eq!(rest.len() + d.pending().len(), 4 << 20, "the download was cut");
    assert_eq!(s.wait_exit(), Some(0));
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut s = Server::start(&["--drain", "60000"]);
    let _c = s.stream("/events", "");
    s.wait_log("Client connected to event stream");
    s.signal(libc::SIGINT);
    s.wait_log("SIGINT: shutting down");
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(), Some(1));
}

/// A shell that starts a program in the background sets SIGINT to ignored:
/// both signals work all the same.
#[test]
fn sigint_works_when_started_with_it_ignored() {
    let bin = crate::harness::BIN;
    let mut s = Launch::new(&[]).under(&["sh", "-c", "trap '' INT; exec \"$0\" \"$@\""]).start();
    let _ = bin;
    s.signal(libc::SIGINT);
    s.wait_log("SIGINT: shut down after");
    assert_eq!(s.wait_exit(), Some(0));
}

/// Connections still in the listener's backlog when the signal comes would
/// be reset when it closes: they are taken and answered, those that have
/// not sent their request yet included (until the drain ends).
#[test]
fn connections_waiting_in_the_backlog_are_answered() {
    let mut s = Server::start(&["--drain", "300"]);
    // A connection open and silent since before the signal (a browser's
    // preconnect): closed at once, as a kept-alive one is.
    let mut preconnect = s.connect();
    let mut kept = s.connect();
    kept.send(GET);
    kept.read_response();
    // Stopped, the server takes the signal first and the connections after
    // it, as they came.
    s.signal(libc::SIGSTOP);
    s.signal(libc::SIGTERM);
    let mut sent: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = s.connect();
            c.send(GET);
            c
        })
        .collect();
    let silent: Vec<Client> = (0..2).map(|_| s.connect()).collect();
    s.signal(libc::SIGCONT);
    s.wait_log("SIGTERM: shutting down; 0 streams end over 300 ms, 7 other connections finish their answers");
    preconnect.expect_eof();
    kept.expect_eof();
    for mut c in silent {
        c.send(GET);
        sent.push(c);
    }
    for c in &mut sent {
        let r = c.read_response();
        assert_eq!((r.status(), r.header("Connection")), (200, Some("close")), "{}", r.head);
        c.expect_eof();
    }
    let end = s.wait_log("SIGTERM: shut down after");
    assert_eq!((figure(&end, "other connections finished"), figure(&end, "cut at the end")), (7, 0), "{end}");
    assert_eq!(s.wait_exit(), Some(0));
}

/// Pipelined requests held back (behind a download the client has not
/// taken yet) when the signal comes: the next is answered, and its answer
/// is the last.
#[test]
fn a_request_held_back_gets_the_last_answer() {
    let www = TempWww::new("held");
    www.write("big.bin", &vec![b'q'; 4 << 20]);
    let mut s = Server::start(&["--www", &www.www_arg(), "--drain", "300", "--access-log"]);
    let mut c = s.connect();
    c.send(&b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3));
    s.wait_log("\"GET /big.bin HTTP/1.1\" 200 4194304 ");
    s.signal(libc::SIGTERM);
    s.wait_log("SIGTERM: shutting down");
    let answers = split_responses(&c.read_to_eof());
    let heads: Vec<&str> = answers.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(heads.len(), 2, "{heads:#?}");
    assert!(!heads[0].contains("\r\nConnection: close\r\n"), "{}", heads[0]);
    assert!(
        heads[1].starts_with("HTTP/1.1 200 OK\r\n") && heads[1].contains("\r\nConnection: close\r\n"),
        "{}",
        heads[1]
    );
    assert!(answers.iter().all(|(_, body)| body.len() == 4 << 20));
    assert_eq!(s.wait_exit(), Some(0));
}

/// A stream whose end could not get out in the drain is cut, and logged
/// as ended for the shutdown, not as a socket error.
#[test]
fn a_stream_cut_at_the_end_ends_for_the_shutdown() {
    let mut s = Server::start(&["--drain", "100"]);
    let mut c = s.connect();
    // Paced: one 5-byte piece every 5 s, so its retry: cannot get out.
    c.send(&get_events("/events?interval=100&split=5&pause=5000", ""));
    s.wait_log("Client connected to event stream (connection #1");
    // One that reached its count, its last event still going out: it ends
    // for that, not for the shutdown.
    let mut counted = s.connect();
    counted.send(&get_events("/events?interval=1&count=1&split=5&pause=5000", ""));
    s.wait_log("Client connected to event stream (connection #2");
    // Its one event is made (counted in /metrics) 1 ms after it starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while crate::harness::metric(&s.metrics(), "sse_events_sent_total") < 1 {
        assert!(Instant::now() < deadline, "the event was never made");
    }
    s.signal(libc::SIGTERM);
    let end = s.wait_log("SIGTERM: shut down after");
    assert_eq!((figure(&end, "streams ended with a retry"), figure(&end, "cut at the end")), (0, 2), "{end}");
    s.wait_log("Event stream ended for a shutdown (connection #1)");
    s.wait_log("Event stream ended after its last event (connection #2)");
    assert_eq!(s.wait_exit(), Some(0));
    assert!(!s.logged().iter().any(|l| l.contains("socket error")), "{:#?}", s.logged());
}

/// Two signals read at once are a second signal: stop at once.
#[test]
fn two_signals_at_once_stop_at_once() {
    let mut s = Server::start(&["--drain", "60000"]);
    let _c = s.stream("/events", "");
    s.wait_log("Client connected to event stream");
    s.signal(libc::SIGSTOP);
    s.signal(libc::SIGTERM);
    s.signal(libc::SIGINT);
    s.signal(libc::SIGCONT);
    s.wait_log("and a second signal at once: stopping at once");
    assert_eq!(s.wait_exit(), Some(1));
}

/// A shutdown's `retry:` closes what the stream left open: the last chunk
/// of a chunked body, and a line or an event cut short (no blank line that
/// would make a client dispatch half an event).
#[test]
fn a_drained_stream_ends_cleanly_wherever_it_stopped() {
    let mut s = Server::start(&["--drain", "0"]);
    let mut chunked = s.stream("/events?te=chunked&interval=50&count=1000", "");
    chunked.read_until(b"\n\n\r\n");
    let mut half = s.stream("/scenarios/stall-mid-event", "");
    assert_eq!(half.read_exact_n(19), b"data: one\n\ndata: tw");
    s.signal(libc::SIGTERM);
    let body = String::from_utf8(chunked.read_to_eof()).unwrap();
    // (A 4-digit retry: 13 bytes, a chunk of size d.)
    let (_, last) = body.rsplit_once("d\r\nretry: ").unwrap_or_else(|| panic!("{body:?}"));
    assert!(last.ends_with("\n\n\r\n0\r\n\r\n") && last.len() == "4000\n\n\r\n0\r\n\r\n".len(), "{body:?}");
    let rest = String::from_utf8(half.read_to_eof()).unwrap();
    let retry = rest.strip_prefix("\nretry: ").and_then(|r| r.strip_suffix('\n')).unwrap_or_else(|| panic!("{rest:?}"));
    assert!((1000..=5000).contains(&retry.parse::<u64>().unwrap()), "{rest:?}");
    assert_eq!(s.wait_exit(), Some(0));
}

/// At its cap, the server makes room before it takes the backlog: the
/// silent connections close first, then those waiting get their answers
/// (a 503 if they were taken before the signal, while it was full; never
/// a reset).
#[test]
fn the_backlog_is_answered_even_at_the_cap() {
    let mut s = Server::start(&["--drain", "300", "--max-connections", "4"]);
    // 4 + 8 (the reserve) at most: 11 silent ones, then a probe, turned
    // away (503) once all before it are in (it may still linger later).
    let silent: Vec<Client> = (0..11).map(|_| s.connect()).collect();
    let mut probe = s.connect();
    probe.send(GET);
    assert_eq!(probe.read_response().status(), 503);
    drop(probe);
    s.signal(libc::SIGSTOP);
    s.signal(libc::SIGTERM);
    let mut waiting: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = s.connect();
            c.send(GET);
            c
        })
        .collect();
    s.signal(libc::SIGCONT);
    s.wait_log("SIGTERM: shutting down; 0 streams end over 300 ms");
    for c in &mut waiting {
        let r = c.read_response();
        assert!([200, 503].contains(&r.status()) && r.header("Connection") == Some("close"), "{}", r.head);
    }
    assert_eq!(s.wait_exit(), Some(0));
    drop(silent);
}
