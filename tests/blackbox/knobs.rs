//! The knobs every stream takes (README "Knobs on every stream"), on
//! `/events`: the exact bytes each one makes, the cuts and pauses of
//! `split` and `pause` (each piece a read of its own, the same cuts for the
//! same seed), the ends after N events, the head, and that a thousand
//! streams cut into 1-byte writes hold no one up.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::harness::{Client, Fill, GET, STREAM_HEAD, Server, event, expect_index, get_events, normalize_date};

/// A two-event stream with `knobs`: its head and its whole body.
fn two_events(s: &Server, knobs: &str) -> (String, Vec<u8>) {
    let mut c = s.connect();
    c.send(&get_events(&format!("/events?count=2&interval=5&{knobs}"), ""));
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).unwrap());
    (head, c.read_to_eof())
}

#[test]
fn each_knob_makes_exact_bytes() {
    let s = Server::start(&[]);
    let mut id = 0;
    let mut next = || {
        id += 1;
        (event(id, 1), event(id, 2))
    };
    type Shape = fn(&str, &str) -> String;
    let cases: [(&str, Shape); 7] = [
        ("eol=crlf", |a: &str, b: &str| format!("{a}{b}").replace('\n', "\r\n")),
        ("eol=cr", |a: &str, b: &str| format!("{a}{b}").replace('\n', "\r")),
        ("eol=lf", |a: &str, b: &str| format!("{a}{b}")),
        ("bom=1", |a: &str, b: &str| format!("\u{feff}{a}{b}")),
        ("retry=250", |a: &str, b: &str| format!("retry: 250\n\n{a}{b}")),
        ("bom=1&retry=0&eol=crlf", |a: &str, b: &str| format!("\u{feff}retry: 0\n\n{a}{b}").replace('\n', "\r\n")),
        ("close_after=1", |a: &str, _: &str| a.to_string()),
    ];
    for (knobs, shape) in cases {
        let (a, b) = next();
        let (head, body) = two_events(&s, knobs);
        assert_eq!(head, STREAM_HEAD, "{knobs}");
        assert_eq!(String::from_utf8(body).unwrap(), shape(&a, &b), "{knobs}");
    }
}

#[test]
fn chunked_frames_each_event_and_ends_with_the_last_chunk() {
    let s = Server::start(&[]);
    let (head, body) = two_events(&s, "te=chunked");
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (a, b) = (event(1, 1), event(1, 2));
    let want = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
    assert_eq!(String::from_utf8(body).unwrap(), want);
    // An HTTP/1.0 client cannot read chunks (RFC 9112 §6.1): 400 naming it.
    for target in ["/events?te=chunked&count=2", "/scenarios/basic?te=chunked"] {
        let mut c = s.connect();
        c.send(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
        let r = c.read_response();
        assert_eq!(r.status(), 400, "{target}: {}", r.head);
        assert_eq!(r.body, b"bad value for query parameter te: chunked needs an HTTP/1.1 request\n");
    }
}

#[test]
fn status_and_content_type_replace_the_streams() {
    let s = Server::start(&[]);
    let (head, body) = two_events(&s, "status=503&content_type=text/plain%3B%20charset%3Dutf-8");
    assert_eq!(
        head,
        "HTTP/1.1 503 Service Unavailable\r\nDate: <date>\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
    );
    assert_eq!(String::from_utf8(body).unwrap(), event(1, 1) + &event(1, 2));
}

#[test]
fn a_reset_after_n_events_is_a_reset_and_a_stall_keeps_the_connection() {
    let mut s = Server::start(&[]);
    let c = s.stream("/events?interval=5&reset_after=2", "");
    let mut got = Vec::new();
    let mut socket = c.writer();
    let mut buf = [0u8; 4096];
    let err = loop {
        match socket.read(&mut buf) {
            Ok(0) => panic!("a FIN, not a reset, after {:?}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(String::from_utf8(got).unwrap(), event(1, 1) + &event(1, 2));
    s.wait_log("Event stream reset as asked (connection #1)");
    // A stall: the events, then nothing (not even a heartbeat), and the
    // connection stays open until the client goes.
    let mut s = Server::start(&["--heartbeat", "50"]);
    let mut c = s.stream("/events?interval=5&stall_after=1", "");
    assert_eq!(String::from_utf8(c.read_exact_n(event(1, 1).len())).unwrap(), event(1, 1));
    // Ten heartbeat periods of silence: an absence, so it is watched.
    assert_eq!(c.fill(Some(Duration::from_millis(500))), Fill::Nothing);
    drop(c);
    s.wait_log("Client disconnected from event stream (connection #1)");
}

/// The sizes of the reads of a stream whose pieces are 40 ms apart, up to
/// the first event's end: each piece arrives as a read of its own.
fn piece_sizes(s: &Server, knobs: &str) -> Vec<usize> {
    let mut c = s.connect();
    c.send(&get_events(&format!("/events?interval=1&count=1&pause=40&{knobs}"), ""));
    let mut socket = c.writer();
    let mut sizes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return sizes,
            Ok(n) => sizes.push(n),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn split_cuts_each_write_into_pieces_the_same_every_time() {
    let s = Server::start(&[]);
    // The head as sent: its `Date` value is 29 bytes, not `<date>`.
    let head = STREAM_HEAD.len() - "<date>".len() + 29;
    let ev = event(1, 1).len();
    let every = piece_sizes(&s, "split=32");
    let cut = |len: usize| (0..len.div_ceil(32)).map(move |i| 32.min(len - 32 * i));
    let want: Vec<usize> = cut(head).chain(cut(ev)).collect();
    assert_eq!(every, want);
    let a = piece_sizes(&s, "split=random&seed=7");
    let b = piece_sizes(&s, "split=random&seed=7");
    let c = piece_sizes(&s, "split=random&seed=8");
    assert_eq!(a, b, "the same seed cut differently");
    assert_ne!(a, c);
    assert!(a.iter().all(|&n| (1..=16).contains(&n)), "{a:?}");
    assert_eq!(a.iter().sum::<usize>(), head + ev);
}

/// A thousand streams cut into 1-byte writes, each with a long write to
/// make (the 1 MiB event of `big-event`: pieces never run out): the others
/// are still served (a page, and a plain stream's events keep coming),
/// since a turn makes at most `TURN_WRITES` writes in all.
#[test]
fn a_thousand_streams_at_split_1_hold_no_one_up() {
    let s = Server::start(&["--log-level", "warn"]);
    let mut plain = s.stream("/events?interval=50", "");
    let split: Vec<Client> = (0..1000)
        .map(|_| {
            let mut c = s.connect();
            c.send(&get_events("/scenarios/big-event?split=1", ""));
            c
        })
        .collect();
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut page = s.connect();
    while started.elapsed() < Duration::from_secs(2) {
        let asked = Instant::now();
        page.send(GET);
        expect_index(&mut page);
        plain.read_until(b"\n\n");
        worst = worst.max(asked.elapsed());
    }
    assert!(worst < Duration::from_secs(1), "a page and an event took {worst:?} beside 1,000 split streams");
    drop(split);
}

/// A stream cut into 1-byte pieces that makes bytes faster than the pieces
/// leave is a slow consumer, even though its client takes every piece: it
/// is closed at the 64 KiB bound, and no one else waits meanwhile.
#[test]
fn a_split_stream_that_falls_behind_is_a_slow_consumer() {
    let mut s = Server::start(&[]);
    let mut plain = s.stream("/events?interval=20", "");
    // 64 KiB events every millisecond, 64 one-byte writes a turn.
    let mut fast = s.connect();
    fast.send(&get_events("/events?interval=1&size=65536&split=1", ""));
    let mut socket = fast.writer();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut got = 0usize;
        while let Ok(n @ 1..) = socket.read(&mut buf) {
            got += n;
        }
        got
    });
    s.wait_log("Slow consumer: closing event stream (connection #2");
    let got = reader.join().expect("reader");
    assert!(got < 200_000, "{got} bytes before the close");
    for n in 1..=3 {
        let line = plain.read_until(b"\n\n");
        assert!(String::from_utf8_lossy(&line).contains("data: Server says hi!"), "event {n}");
    }
}

/// A scripted stream writes only once its output is empty, so a write
/// longer than 64 KiB going out in pieces is not a slow consumer: the
/// 1 MiB event of `big-event` comes whole, cut into 16-byte pieces.
#[test]
fn a_long_scripted_write_in_pieces_is_not_a_slow_consumer() {
    let s = Server::start(&["--log-level", "warn"]);
    let raw = {
        let mut c = s.connect();
        c.send(b"GET /scenarios/big-event/raw HTTP/1.1\r\nHost: t\r\n\r\n");
        c.read_response().body
    };
    for knobs in ["split=16", "split=random&seed=3"] {
        let mut c = s.stream(&format!("/scenarios/big-event?{knobs}"), "");
        assert!(c.read_to_eof() == raw, "{knobs}: not the whole event");
    }
}
