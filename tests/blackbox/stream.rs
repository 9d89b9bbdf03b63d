//! The event stream (contract §3): the head at once, exact events, ids,
//! the schedule, query parameters, resumption, heartbeats, clients leaving.

use std::time::{Duration, Instant};

use crate::harness::{
    Client, Fill, Launch, STREAM_HEAD, Server, event, get_events, metric, normalize_date, stream_body,
    voluntary_switches,
};

#[test]
fn the_head_comes_at_once_then_exact_events() {
    let mut server = Server::start(&["--interval", "300"]);
    let mut c = server.connect();
    let asked = Instant::now();
    c.send(&get_events("/events", ""));
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).unwrap());
    assert_eq!(head, STREAM_HEAD);
    // The head did not wait for the first event (due 300 ms after).
    assert!(asked.elapsed() < Duration::from_millis(300), "head took {:?}", asked.elapsed());
    server.wait_log("Client connected to event stream (connection #1, Last-Event-Id: none)");
    for n in 1..=3 {
        let want = event(1, n);
        assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
    }
    // A second client is connection #2.
    let mut d = server.stream("/events", "");
    assert_eq!(String::from_utf8(d.read_exact_n(event(2, 1).len())).unwrap(), event(2, 1));
}

#[test]
fn count_ends_the_stream_after_its_last_event() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    c.send(&get_events("/events?count=3&interval=20", ""));
    let body = stream_body(&c.read_to_eof());
    assert_eq!(body, format!("{}{}{}", event(1, 1), event(1, 2), event(1, 3)));
    server.wait_log("Event stream ended after its last event (connection #1)");
}

#[test]
fn events_follow_a_fixed_schedule_never_early() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let interval = Duration::from_millis(25);
    let start = Instant::now();
    c.send(&get_events("/events?interval=25&count=40", ""));
    c.read_until(b"\r\n\r\n");
    let mut last = Duration::ZERO;
    for n in 1..=40u32 {
        let want = event(1, n.into());
        assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
        last = start.elapsed();
        // The request was sent after `start`, so event n can never be seen
        // before start + n × interval.
        assert!(last >= interval * n, "event {n} early at {last:?}");
    }
    // No drift that accumulates: 40 × 25 ms is 1 s, not 1 s plus 40 delays.
    // (A generous bound: this is a correctness check, not a benchmark.)
    assert!(last < Duration::from_millis(1000 + 400), "40 events took {last:?}");
    c.expect_eof();
}

#[test]
fn last_event_id_resumes_the_same_connection() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    c.send(&get_events("/events?count=43&interval=10", "Last-Event-ID: 7-41\r\n"));
    let body = stream_body(&c.read_to_eof());
    assert_eq!(body, format!("{}{}", event(7, 42), event(7, 43)));
    server.wait_log("Client resumed event stream (connection #7, Last-Event-Id: 7-41)");
    // Resuming does not count as a new client: the next new one is #1.
    let mut d = server.connect();
    d.send(&get_events("/events?count=1&interval=10", ""));
    assert_eq!(stream_body(&d.read_to_eof()), event(1, 1));
}

#[test]
fn other_last_event_ids_start_a_new_stream() {
    let mut server = Server::start(&[]);
    for (i, id) in [
        "",
        "abc",
        "7",
        "7-",
        "-3",
        "+7-3",
        "7-+3",
        "7-3-1",
        "18446744073709551616-1",
        "1-18446744073709551616",
        "3041",
    ]
    .iter()
    .enumerate()
    {
        let mut c = server.connect();
        c.send(&get_events("/events?count=1&interval=1", &format!("Last-Event-ID: {id}\r\n")));
        let n = i as u64 + 1;
        assert_eq!(stream_body(&c.read_to_eof()), event(n, 1), "{id:?}");
        server.wait_log(&format!("Client connected to event stream (connection #{n}, Last-Event-Id: {id})"));
    }
}

#[test]
fn count_already_reached_is_204() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for id in ["5-3", "5-4"] {
        c.send(&get_events("/events?count=3", &format!("Last-Event-ID: {id}\r\n")));
        assert_eq!(c.read_response().head, "HTTP/1.1 204 No Content\r\nDate: <date>\r\n\r\n", "{id}");
    }
}

#[test]
fn bad_query_values_are_400_naming_them() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for (query, name) in [
        ("interval=0", "interval"),
        ("interval=3600001", "interval"),
        ("interval=abc", "interval"),
        ("count=0", "count"),
        ("count=-1", "count"),
        ("size=65537", "size"),
    ] {
        c.send(&get_events(&format!("/events?{query}"), ""));
        let r = c.read_response();
        assert_eq!(r.status(), 400, "{query}");
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.contains(name), "{query}: {body}");
    }
    // Unknown parameters are ignored.
    c.send(&get_events("/events?count=1&interval=1&foo=bar", ""));
    c.read_until(b"\r\n\r\n");
    assert_eq!(String::from_utf8(c.read_exact_n(event(1, 1).len())).unwrap(), event(1, 1));
}

#[test]
fn heartbeats_only_on_silent_streams() {
    let server = Server::start(&["--heartbeat", "100"]);
    let mut silent = server.stream("/events?interval=600000", "");
    for _ in 0..3 {
        assert_eq!(silent.read_exact_n(13), b": heartbeat\n\n");
    }
    // A stream with an event every 40 ms is never silent for 100 ms.
    let mut busy = server.connect();
    busy.send(&get_events("/events?interval=40&count=15", ""));
    let body = stream_body(&busy.read_to_eof());
    let want: String = (1..=15).map(|n| event(2, n)).collect();
    assert_eq!(body, want);
}

#[test]
fn heartbeat_zero_disables_them() {
    let server = Server::start(&["--heartbeat", "0", "--interval", "300"]);
    let mut c = server.connect();
    c.send(&get_events("/events?count=1", ""));
    // Only the event, no comment before it.
    assert_eq!(stream_body(&c.read_to_eof()), event(1, 1));
}

#[test]
fn a_client_leaving_is_noticed_at_once() {
    let mut server = Server::start(&["--interval", "3600000"]);
    let c = server.stream("/events", "");
    server.wait_log("Client connected to event stream (connection #1");
    drop(c);
    // The next event would be an hour away: the close itself is noticed.
    server.wait_log("Client disconnected from event stream (connection #1)");
    let text = server.metrics();
    assert_eq!(metric(&text, "sse_open_streams"), 0);
    assert_eq!(metric(&text, "sse_streams_ended_total{reason=\"client\"}"), 1);
}

#[test]
fn bytes_sent_on_a_stream_are_discarded() {
    let server = Server::start(&["--interval", "20"]);
    let mut c = server.stream("/events?count=5", "");
    // Requests and garbage after the stream request change nothing.
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&[0xffu8; 100_000]);
    let want: String = (1..=5).map(|n| event(1, n)).collect();
    assert_eq!(String::from_utf8(c.read_to_eof()).unwrap(), want);
}

#[test]
fn head_of_events_starts_no_stream() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    c.send(b"HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response_to(true).head, STREAM_HEAD);
    c.send(&get_events("/events?count=1&interval=1", ""));
    assert_eq!(stream_body(&c.read_to_eof()), event(1, 1));
    server.wait_log("(connection #1, Last-Event-Id: none)");
}

#[test]
fn a_thousand_streams_each_get_consecutive_ids() {
    let server = Server::start(&["--log-level", "warn"]);
    let mut clients: Vec<Client> = (0..1000)
        .map(|_| {
            let mut c = server.connect();
            c.send(&get_events("/events?interval=50&count=8", ""));
            c
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in &mut clients {
        let body = stream_body(&c.read_to_eof());
        let conn: u64 = body
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .and_then(|id| id.split('-').next())
            .and_then(|c| c.parse().ok())
            .expect("an id");
        let want: String = (1..=8).map(|n| event(conn, n)).collect();
        assert_eq!(body, want);
        assert!(seen.insert(conn), "connection #{conn} twice");
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(seen.iter().max(), Some(&1000));
}

#[test]
fn the_largest_ids_resume_or_end_as_documented() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let max = u64::MAX;
    // count reached, even at the largest N: 204.
    c.send(&get_events(&format!("/events?count={max}"), &format!("Last-Event-ID: 1-{max}\r\n")));
    assert_eq!(c.read_response().status(), 204);
    // N = u64::MAX has no next event: without a count, a new stream.
    c.send(&get_events("/events?interval=1", &format!("Last-Event-ID: 1-{max}\r\n")));
    c.read_until(b"\r\n\r\n");
    assert_eq!(String::from_utf8(c.read_exact_n(event(1, 1).len())).unwrap(), event(1, 1));
    // The largest C resumes.
    let mut c = server.connect();
    c.send(&get_events("/events?count=2&interval=1", &format!("Last-Event-ID: {max}-1\r\n")));
    assert_eq!(stream_body(&c.read_to_eof()), event(max, 2));
}

#[test]
fn the_last_possible_event_ends_the_stream() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let max = u64::MAX;
    // Resuming one before the end: event 2^64-1 comes once, then the end
    // (it has no successor to schedule).
    c.send(&get_events("/events?interval=1", &format!("Last-Event-ID: 5-{}\r\n", max - 1)));
    c.read_until(b"\r\n\r\n");
    assert_eq!(String::from_utf8(c.read_exact_n(event(5, max).len())).unwrap(), event(5, max));
    // Then EOF, not the same event again (bounded: one read, not to EOF).
    let end = c.fill(None);
    assert!(end == Fill::Eof && c.pending().is_empty(), "more after the last event: {end:?}, {:?}", c.pending());
}

#[test]
fn head_of_events_over_http_1_0_is_the_head_of_get() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(b"HEAD /events HTTP/1.0\r\n\r\n");
    assert_eq!(normalize_date(&String::from_utf8(c.read_to_eof()).unwrap()), STREAM_HEAD);
}

/// `HEAD /events` from an HTTP/1.0 client that asks to keep the connection
/// says so, as `HEAD /` does, and the connection goes on.
#[test]
fn head_of_events_keeps_an_http_1_0_connection_and_says_so() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"HEAD /events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).expect("utf-8 head"));
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nConnection: keep-alive\r\nContent-Type: text/event-stream\r\n\
         Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
    );
    c.send(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response_to(true);
    assert_eq!((r.status(), r.header("Connection")), (200, Some("keep-alive")));
}

#[test]
fn an_idle_server_with_an_open_stream_does_not_wake_up() {
    let mut server = Server::start(&["--heartbeat", "0", "--log-level", "info"]);
    let _c = server.stream("/events?interval=3600000", "");
    server.wait_log("Client connected to event stream (connection #1");
    // A switch is counted when the thread goes to sleep: let it finish
    // answering and block in the poll before the window opens (no byte or
    // log line marks the server going to sleep, so this cannot be awaited).
    std::thread::sleep(Duration::from_millis(200));
    let before = voluntary_switches(server.pid());
    // The next deadline is an hour away: the poll sleeps through this
    // second (the absence of an event cannot be awaited, only watched).
    std::thread::sleep(Duration::from_secs(1));
    let after = voluntary_switches(server.pid());
    assert_eq!(after - before, 0, "wake-ups while idle");
    // And it is still there, answering.
    let mut m = server.connect();
    m.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(m.read_response().status(), 200);
}

/// By default, connection numbers are unique across restarts and sibling
/// processes: `T·10^7 + P·10^3 + n` (README "The event stream").
#[test]
fn connection_numbers_are_unique_across_restarts() {
    let first_c = |s: &Server| {
        let mut c = s.connect();
        c.send(&get_events("/events?count=1&interval=1", ""));
        let body = stream_body(&c.read_to_eof());
        let id = body.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_string();
        let (c, n) = id.split_once('-').unwrap();
        assert_eq!(n, "1");
        c.parse::<u64>().unwrap()
    };
    let mut a = Launch::new(&[]).unique_numbers().start();
    let (c1, c2) = (first_c(&a), first_c(&a));
    assert_eq!(c2, c1 + 1);
    assert_eq!(c1 / 1000 % 10_000, u64::from(a.pid()) % 10_000, "{c1}: P is the pid");
    assert!(c1 < 1 << 53, "{c1}: exact as a JavaScript Number");
    assert_eq!(c1 % 1000, 0, "{c1}: the first of its block");
    let port = a.port().to_string();
    a.stop();
    let b = Launch::new(&["--port", &port]).unique_numbers().start();
    let c3 = first_c(&b);
    assert_ne!(c3 / 1000, c1 / 1000, "a restart hands out other numbers");
    // An old id still resumes as it always has.
    let mut c = b.connect();
    c.send(&get_events("/events?count=3&interval=1", &format!("Last-Event-ID: {c1}-1\r\n")));
    let body = stream_body(&c.read_to_eof());
    assert_eq!(body, format!("{}{}", event(c1, 2), event(c1, 3)));
}
