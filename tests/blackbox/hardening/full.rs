//! PROTOCOL.md §2 "Full" and accept errors: while `--max-connections` are
//! open, 8 more are accepted only to be answered (an `EventSource` gets a
//! random `retry:`, anyone else `503`) and past them connections wait in
//! the backlog; running out of descriptors stops nothing, makes nothing
//! spin, and loses no connection; the default cap keeps descriptors in
//! reserve, and files being sent count against it.

use std::thread;
use std::time::Duration;

use crate::harness::{
    Client, Fill, GET, Launch, PAGE, Server, TempWww, check_why, cpu_time, event, expect_bytes, expect_stream_head,
    full_retry, get_events, metric, metrics_on, normalize_date,
};

#[test]
fn a_full_server_turns_connections_away_with_an_answer() {
    let mut s = Server::start(&["--max-connections", "3"]);
    let mut streams = Vec::new();
    for c in 1..=3u64 {
        let mut cl = s.connect();
        cl.send(&get_events("/events?interval=50", ""));
        expect_stream_head(&mut cl);
        s.wait_log(&format!("Client connected to event stream (connection #{c}, Last-Event-Id: none)"));
        streams.push(cl);
    }

    // EventSource: 200, a comment and a random retry, then EOF.
    let mut retries = Vec::new();
    let mut turned_away = Vec::new();
    for _ in 0..5 {
        let mut f = s.connect();
        f.send(&get_events("/events", ""));
        expect_stream_head(&mut f);
        let body = f.read_to_eof();
        let retry = full_retry(&body).unwrap_or_else(|| panic!("full body {:?}", String::from_utf8_lossy(&body)));
        assert!((1000..=5000).contains(&retry), "retry: {retry}");
        retries.push(retry);
        turned_away.push(f);
    }
    retries.dedup();
    assert!(retries.len() > 1, "five full answers, one retry value: not spread out");

    // Anyone else: 503 with Retry-After: 1.
    for req in [GET, b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n"] {
        let mut g = s.connect();
        g.send(req);
        let r = g.read_response();
        let len = r.header("Content-Length").unwrap_or("<none>");
        let expected = format!(
            "HTTP/1.1 503 Service Unavailable\r\nDate: <date>\r\nRetry-After: 1\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n\r\n"
        );
        assert_eq!(r.head, expected);
        check_why(&r.body, "503");
        g.expect_eof();
        turned_away.push(g);
    }

    // The turned-away connections close first, then a stream: once the
    // server has seen the stream go, it has seen them go too (epoll
    // reports readiness in the order it happened).
    drop(turned_away);
    drop(streams.remove(0));
    s.wait_log("Client disconnected from event stream (connection #1)");
    let mut n = s.connect();
    n.send(&get_events("/events?interval=50", ""));
    expect_stream_head(&mut n);
    expect_bytes(&mut n, &event(4, 1));
    s.wait_log("Client connected to event stream (connection #4, Last-Event-Id: none)");
    let log = s.stop().log;
    assert_eq!(log.iter().filter(|l| l.contains("turning new ones away")).count(), 1, "{log:#?}");
}

#[test]
fn past_the_reserve_connections_wait_in_the_backlog() {
    let s = Server::start(&["--max-connections", "1"]);
    let mut stream = s.connect();
    stream.send(&get_events("/events?interval=50", ""));
    expect_stream_head(&mut stream);
    // FULL_RESERVE (8) more are accepted; the kernel hands them over in
    // order, so the ninth stays in the backlog.
    let mut reserve: Vec<Client> = (0..8).map(|_| s.connect()).collect();
    let mut late = s.connect();
    late.send(&get_events("/events", ""));
    // An answer that must not come: watched for a while, it cannot be awaited.
    assert_eq!(late.fill(Some(Duration::from_millis(500))), Fill::Nothing, "answered past the reserve");

    let mut first = reserve.remove(0);
    first.send(&get_events("/events", ""));
    expect_stream_head(&mut first);
    assert!(full_retry(&first.read_to_eof()).is_some(), "a reserve connection gets the full answer");
    drop(first);

    // A slot is free: the waiting connection is accepted and answered.
    expect_stream_head(&mut late);
    let body = late.read_to_eof();
    assert!(full_retry(&body).is_some(), "{:?}", String::from_utf8_lossy(&body));
    expect_bytes(&mut stream, &event(1, 1));
}

/// What one of the descriptor-exhaustion clients was answered.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Stream(u64),
    Full,
}

fn read_count_1_answer(c: &mut Client) -> Answer {
    expect_stream_head(c);
    let body = c.read_to_eof();
    if full_retry(&body).is_some() {
        return Answer::Full;
    }
    let text = String::from_utf8_lossy(&body);
    let conn = text
        .strip_prefix("event: my-custom-event\nid: ")
        .and_then(|r| r.split_once('-'))
        .and_then(|(c, _)| c.parse().ok())
        .unwrap_or_else(|| panic!("not an event: {text:?}"));
    assert_eq!(text, event(conn, 1));
    Answer::Stream(conn)
}

/// 80 clients against a server limited to 64 descriptors: they connect,
/// wait 2.5 s (the server must sleep, not spin), then all ask for a
/// one-event stream and all get a complete answer.
fn eighty_clients_under_64_descriptors(args: &[&str], ready_log: &str) -> (Server, Vec<Answer>) {
    let mut s = Launch::new(args).under(&["prlimit", "--nofile=64:64"]).start();
    let mut clients: Vec<Client> = (0..80).map(|_| s.connect()).collect();
    s.wait_log(ready_log);
    let cpu_before = cpu_time(s.pid());
    // No event to wait for: this measures what the server does meanwhile.
    thread::sleep(Duration::from_millis(2500));
    let cpu = cpu_time(s.pid()) - cpu_before;
    assert!(cpu < Duration::from_millis(500), "{cpu:?} of CPU in 2.5 s at the descriptor limit: spinning");
    s.assert_alive();
    for c in &mut clients {
        c.send(&get_events("/events?count=1&interval=10", ""));
    }
    let answers = clients.iter_mut().map(read_count_1_answer).collect();
    s.assert_alive();
    (s, answers)
}

#[test]
fn the_default_cap_keeps_descriptors_in_reserve() {
    let (mut s, answers) = eighty_clients_under_64_descriptors(&[], "connections open: turning new ones away");
    let mut streams: Vec<u64> =
        answers.iter().filter_map(|a| if let Answer::Stream(c) = a { Some(*c) } else { None }).collect();
    assert!(streams.len() >= 40, "only {} of 80 got a stream: {answers:?}", streams.len());
    streams.sort_unstable();
    streams.dedup();
    assert_eq!(streams.len(), answers.iter().filter(|a| matches!(a, Answer::Stream(_))).count(), "repeated ids");
    let log = s.stop().log;
    assert!(log.iter().any(|l| l.contains("max connections: 40 (open-file limit 64)")), "{log:#?}");
    assert_eq!(log.iter().filter(|l| l.contains("accept failed")).count(), 0, "{log:#?}");
}

#[test]
fn running_out_of_descriptors_stops_nothing_and_loses_no_connection() {
    let (mut s, answers) =
        eighty_clients_under_64_descriptors(&["--max-connections", "200"], "accept failed: Too many open files");
    let mut streams: Vec<u64> = answers
        .iter()
        .map(|a| match a {
            Answer::Stream(c) => *c,
            Answer::Full => panic!("turned away below --max-connections: {answers:?}"),
        })
        .collect();
    streams.sort_unstable();
    assert_eq!(streams, (1..=80).collect::<Vec<u64>>());
    // `wait_log` took the first one.
    let log = s.stop().log;
    let again = log.iter().filter(|l| l.contains("accept failed")).count();
    assert_eq!(again, 0, "`accept failed` logged {} times, not once: {log:#?}", again + 1);
}

/// Slow downloads under 64 descriptors: each holds a second descriptor,
/// counted against the cap, so a file that exists is never `404`, the page
/// and `/metrics` (with real figures) are still served, and new clients get
/// the documented full answer.
#[test]
fn downloads_count_against_the_descriptor_budget() {
    let www = TempWww::new("fds");
    www.write("index.html", PAGE);
    www.write("big.bin", &vec![b'z'; 16 << 20]);
    let www_arg = www.www_arg();
    let mut s = Launch::new(&["--www", &www_arg]).under(&["prlimit", "--nofile=64:64"]).start();
    s.wait_log("max connections: 40 (open-file limit 64)");
    let mut keep = s.connect();
    keep.send(GET);
    assert_eq!(keep.read_response().status(), 200);
    // Slow downloads (they read only the head) until one must wait.
    let mut downloads = Vec::new();
    let mut busy = None;
    for _ in 0..40 {
        let mut d = s.connect();
        d.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        let head = normalize_date(&String::from_utf8(d.read_until(b"\r\n\r\n")).expect("utf-8 head"));
        assert!(!head.starts_with("HTTP/1.1 404"), "an existing file was 404: {head}");
        downloads.push(d);
        if head.starts_with("HTTP/1.1 503 ") {
            busy = Some(head);
            break;
        }
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    }
    // 1 + 19 connections and 19 files: a 20th file would pass 40.
    assert_eq!(downloads.len(), 20);
    let busy = busy.expect("a download asked to wait once the downloads held the budget");
    assert!(busy.contains("\r\nRetry-After: 1\r\n") && !busy.contains("Connection: close"), "{busy}");
    // A client already connected: the page (cached) is served; another
    // download must wait (503, never 404); /metrics has real figures.
    keep.send(GET);
    assert_eq!(keep.read_response().status(), 200);
    keep.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = keep.read_response();
    assert_eq!((r.status(), r.header("Retry-After")), (503, Some("1")), "{}", r.head);
    let m = metrics_on(&mut keep);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.pid())).expect("/proc").count() as u64;
    assert_eq!(metric(&m, "process_open_fds"), fds, "{m}");
    assert!(metric(&m, "process_resident_memory_bytes") > 0, "{m}");
    // New clients: full. An EventSource is told to come back later, and
    // anyone else gets 503.
    let mut es = s.connect();
    es.send(&get_events("/events", ""));
    expect_stream_head(&mut es);
    assert!(full_retry(&es.read_to_eof()).is_some());
    let mut other = s.connect();
    other.send(GET);
    let r = other.read_response();
    assert_eq!((r.status(), r.header("Connection")), (503, Some("close")), "{}", r.head);
    s.assert_alive();
}

/// `/metrics` is answered from the reserve while the server is full (load
/// testers need it most then), and the connection closes after it.
#[test]
fn metrics_are_answered_when_full() {
    let s = Server::start(&["--max-connections", "2"]);
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut c = s.connect();
        c.send(&get_events("/events?interval=60000", ""));
        expect_stream_head(&mut c);
        streams.push(c);
    }
    let mut m = s.connect();
    m.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = m.read_response();
    assert_eq!((r.status(), r.header("Connection")), (200, Some("close")), "{}", r.head);
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(metric(&text, "sse_open_streams"), 2);
    assert_eq!(metric(&text, "sse_connections_shed_total"), 0, "answered, not turned away");
    m.expect_eof();
    // Anything else is still turned away.
    let mut o = s.connect();
    o.send(GET);
    assert_eq!(o.read_response().status(), 503);
    drop(streams);
}
