//! What load testers use (contract §5): the `size` knob, `--reuse-port`,
//! and every sample of `/metrics`.

use std::process::Command;

use crate::harness::{BIN, Server, WAIT, event, get_events, metric, run};

#[test]
fn size_pads_each_event() {
    let server = Server::start(&[]);
    let mut c = server.stream("/events?size=64&count=2&interval=1", "");
    for n in 1..=2 {
        let text = format!("Server says hi! (event #{n} of connection #1)");
        let data = format!("{text} {}", ".".repeat(64 - text.len() - 1));
        let want = format!("event: my-custom-event\nid: 1-{n}\ndata: {data}\n\n");
        assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
    }
    // The largest size, whole, on a stream that keeps up.
    let mut c = server.stream("/events?size=65536&count=3&interval=1", "");
    for n in 1..=3 {
        let head = format!("event: my-custom-event\nid: 2-{n}\ndata: ");
        assert_eq!(String::from_utf8(c.read_exact_n(head.len())).unwrap(), head);
        let data = c.read_until(b"\n\n");
        assert_eq!(data.len(), 65_536 + 2, "event {n}");
    }
    // Below the text's own length, no padding.
    let mut c = server.stream("/events?size=10&count=1&interval=1", "");
    assert_eq!(String::from_utf8(c.read_to_eof()).unwrap(), event(3, 1));
}

#[test]
fn reuse_port_shares_the_port_and_any_process_resumes_any_stream() {
    let mut a = Server::start(&["--reuse-port", "--interval", "5", "--log-level", "debug"]);
    let port = a.port().to_string();
    // Without --reuse-port the port is taken.
    let taken = run(Command::new(BIN).args(["--port", &port]), WAIT);
    assert_eq!(taken.status.code(), Some(1));
    let mut b = Server::start(&["--reuse-port", "--port", &port, "--interval", "5", "--log-level", "debug"]);
    assert_eq!(a.port(), b.port());
    // The kernel spreads connections over both; each process numbers its
    // own streams from 1.
    for _ in 0..64 {
        let mut c = a.connect();
        c.send(&get_events("/events?count=1", ""));
        let body = String::from_utf8(c.read_to_eof()).unwrap();
        assert!(body.ends_with("\n\n") && body.contains("id: "), "{body}");
    }
    // Whichever process a reconnect reaches, it goes on where it was.
    for _ in 0..8 {
        let mut c = a.connect();
        c.send(&get_events("/events?count=6", "Last-Event-ID: 42-4\r\n"));
        let body = String::from_utf8(c.read_to_eof()).unwrap();
        let tail = format!("{}{}", event(42, 5), event(42, 6));
        assert!(body.ends_with(&tail), "{body}");
    }
    // /metrics on the shared port could reach either process: count each
    // process's own log lines instead, read to the end once both stopped.
    let (log_a, log_b) = (a.stop().log, b.stop().log);
    let count = |needle: &str| {
        let n = |log: &[String]| log.iter().filter(|l| l.contains(needle)).count();
        (n(&log_a), n(&log_b))
    };
    let (na, nb) = count("Client connected to event stream");
    assert_eq!(na + nb, 64);
    assert!(na > 0 && nb > 0, "one process got them all: {na} and {nb}");
    let (ra, rb) = count("Client resumed event stream (connection #42, Last-Event-Id: 42-4)");
    assert_eq!(ra + rb, 8);
}

#[test]
fn every_metric_is_exposed_and_counts() {
    let mut server = Server::start(&["--max-connections", "2", "--heartbeat", "50", "--interval", "10"]);
    // A new stream, a resumed one, a finished one, a 404 and a 400.
    let mut new = server.connect();
    new.send(&get_events("/events?interval=3600000", ""));
    new.read_until(b": heartbeat\n\n");
    let mut resumed = server.connect();
    resumed.send(&get_events("/events?count=3", "Last-Event-ID: 9-1\r\n"));
    resumed.read_to_eof();
    let mut c = server.connect();
    c.send(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status(), 404);
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_response().status(), 400);
    // Two connections open (the stream and a keep-alive one): the next is shed.
    let _held = server.connect();
    let mut shed = server.connect();
    shed.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = shed.read_response();
    assert_eq!((r.status(), r.header("Retry-After")), (503, Some("1")));
    // Refused connections linger (up to 2 s) until their client closes:
    // they close first, then the stream. Once the server has logged the
    // stream's end it has seen them go too (epoll reports readiness in the
    // order it happened), so it is no longer full.
    drop((_held, c, shed, resumed));
    drop(new);
    server.wait_log("Client disconnected from event stream");
    let text = server.metrics();
    for name in [
        "sse_open_connections",
        "sse_open_streams",
        "sse_streams_started_total",
        "sse_streams_ended_total",
        "sse_events_sent_total",
        "sse_heartbeats_sent_total",
        "sse_bytes_sent_total",
        "sse_responses_total",
        "sse_connections_shed_total",
        "sse_accept_errors_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "sse_event_lateness_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "HELP {name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE {name}");
    }
    assert_eq!(metric(&text, "sse_open_streams"), 0);
    assert_eq!(metric(&text, "sse_streams_started_total{kind=\"new\"}"), 1);
    assert_eq!(metric(&text, "sse_streams_started_total{kind=\"resumed\"}"), 1);
    assert_eq!(metric(&text, "sse_streams_ended_total{reason=\"client\"}"), 1);
    assert_eq!(metric(&text, "sse_streams_ended_total{reason=\"count\"}"), 1);
    assert_eq!(metric(&text, "sse_events_sent_total"), 2);
    assert!(metric(&text, "sse_heartbeats_sent_total") >= 1);
    assert_eq!(metric(&text, "sse_responses_total{code=\"404\"}"), 1);
    assert_eq!(metric(&text, "sse_responses_total{code=\"400\"}"), 1);
    assert!(metric(&text, "sse_responses_total{code=\"503\"}") >= 1);
    assert!(metric(&text, "sse_connections_shed_total") >= 1);
    assert!(metric(&text, "sse_bytes_sent_total") > 500);
    assert!(metric(&text, "process_resident_memory_bytes") > 100_000);
    assert!(metric(&text, "process_open_fds") >= 3);
    assert_eq!(metric(&text, "sse_event_lateness_seconds_count"), 2);
}

/// `sse_event_lateness_seconds` observes every event handed to the kernel
/// and leaves paced streams (`split`) out; its buckets are cumulative.
#[test]
fn lateness_observes_each_event_but_paced_ones() {
    let server = Server::start(&[]);
    let mut plain = server.connect();
    plain.send(&get_events("/events?count=5&interval=10", ""));
    plain.read_to_eof();
    let mut paced = server.connect();
    paced.send(&get_events("/events?count=2&interval=10&split=7", ""));
    paced.read_to_eof();
    let text = server.metrics();
    assert!(text.contains("# TYPE sse_event_lateness_seconds histogram\n"), "{text}");
    assert_eq!(metric(&text, "sse_events_sent_total"), 7);
    assert_eq!(metric(&text, "sse_event_lateness_seconds_count"), 5);
    let buckets: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("sse_event_lateness_seconds_bucket{le=\""))
        .map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()).expect("a count"))
        .collect();
    assert_eq!(buckets.len(), 15, "{text}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "not cumulative: {buckets:?}");
    assert_eq!(buckets.last(), Some(&5));
}

/// With `--reuse-port`, `/metrics` on the shared port lands on any process;
/// `--metrics-port` reaches one process alone.
#[test]
fn each_reuse_port_process_can_be_scraped_alone() {
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (m1, m2) = (free(), free());
    let mut a = Server::start(&["--reuse-port", "--metrics-port", &m1]);
    let port = a.port().to_string();
    let b = Server::start(&["--reuse-port", "--port", &port, "--metrics-port", &m2]);
    a.wait_log(&format!("this process alone, for /metrics: http://127.0.0.1:{m1}/metrics"));
    // A stream on process a only: its metrics say so, b's do not.
    let mut c = crate::harness::Client::connect(format!("127.0.0.1:{m1}").parse().unwrap());
    c.send(&get_events("/events?interval=60000", ""));
    c.read_until(b"\r\n\r\n");
    let scrape = |p: &str| {
        crate::harness::metrics_on(&mut crate::harness::Client::connect(format!("127.0.0.1:{p}").parse().unwrap()))
    };
    assert_eq!(metric(&scrape(&m1), "sse_open_streams"), 1);
    assert_eq!(metric(&scrape(&m2), "sse_open_streams"), 0);
    drop(b);
}
