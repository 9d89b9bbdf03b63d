//! What load testers use: the `size` knob, `--reuse-port`, and `/metrics`.

mod common;

use common::{Server, event, get_events};

fn value(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {sample} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn size_pads_each_event() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(&get_events("/events?size=64&count=2&interval=1", ""));
    c.read_until(b"\r\n\r\n");
    for n in 1..=2 {
        let text = format!("Server says hi! (event #{n} of connection #1)");
        let data = format!("{text} {}", ".".repeat(64 - text.len() - 1));
        let want = format!("event: my-custom-event\nid: 1-{n}\ndata: {data}\n\n");
        assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
    }
    // The largest size, whole, on a stream that keeps up.
    let mut c = server.connect();
    c.send(&get_events("/events?size=65536&count=3&interval=1", ""));
    c.read_until(b"\r\n\r\n");
    for n in 1..=3 {
        let head = format!("event: my-custom-event\nid: 2-{n}\ndata: ");
        assert_eq!(String::from_utf8(c.read_exact_n(head.len())).unwrap(), head);
        let data = c.read_until(b"\n\n");
        assert_eq!(data.len(), 65_536 + 2, "event {n}");
    }
    // Below the text's own length, no padding.
    let mut c = server.connect();
    c.send(&get_events("/events?size=10&count=1&interval=1", ""));
    c.read_until(b"\r\n\r\n");
    assert_eq!(String::from_utf8(c.read_to_eof()).unwrap(), event(3, 1));
}

#[test]
fn reuse_port_shares_the_port_and_any_process_resumes_any_stream() {
    let mut a = Server::start(&["--reuse-port", "--interval", "5", "--log-level", "debug"]);
    let port = a.port().to_string();
    // Without --reuse-port the port is taken.
    let taken = std::process::Command::new(common::BIN).args(["--port", &port]).output().unwrap();
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
    // /metrics on the shared port could reach either process: count each
    // process's own log lines instead.
    let count = |a: &mut Server, b: &mut Server, needle: &str, total: usize| {
        let deadline = std::time::Instant::now() + common::WAIT;
        loop {
            let n = |s: &mut Server| s.log_so_far().iter().filter(|l| l.contains(needle)).count();
            let (na, nb) = (n(a), n(b));
            if na + nb >= total || std::time::Instant::now() > deadline {
                return (na, nb);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    let (na, nb) = count(&mut a, &mut b, "Client connected to event stream", 64);
    assert_eq!(na + nb, 64);
    assert!(na > 0 && nb > 0, "one process got them all: {na} and {nb}");
    // Whichever process a reconnect reaches, it goes on where it was.
    for _ in 0..8 {
        let mut c = a.connect();
        c.send(&get_events("/events?count=6", "Last-Event-ID: 42-4\r\n"));
        let body = String::from_utf8(c.read_to_eof()).unwrap();
        let tail = format!("{}{}", event(42, 5), event(42, 6));
        assert!(body.ends_with(&tail), "{body}");
    }
    let (ra, rb) = count(&mut a, &mut b, "Client resumed event stream (connection #42, Last-Event-Id: 42-4)", 8);
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
    drop(new);
    server.wait_log("Client disconnected from event stream");
    // Refused connections linger (up to 2 s) until their client closes.
    drop((_held, c, shed, resumed));
    let deadline = std::time::Instant::now() + common::WAIT;
    let text = loop {
        let mut c = server.connect();
        c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_response();
        if r.status() == 200 {
            break String::from_utf8(r.body).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "still full");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
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
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "HELP {name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE {name}");
    }
    assert_eq!(value(&text, "sse_open_streams"), 0);
    assert_eq!(value(&text, "sse_streams_started_total{kind=\"new\"}"), 1);
    assert_eq!(value(&text, "sse_streams_started_total{kind=\"resumed\"}"), 1);
    assert_eq!(value(&text, "sse_streams_ended_total{reason=\"client\"}"), 1);
    assert_eq!(value(&text, "sse_streams_ended_total{reason=\"count\"}"), 1);
    assert_eq!(value(&text, "sse_events_sent_total"), 2);
    assert!(value(&text, "sse_heartbeats_sent_total") >= 1);
    assert_eq!(value(&text, "sse_responses_total{code=\"404\"}"), 1);
    assert_eq!(value(&text, "sse_responses_total{code=\"400\"}"), 1);
    assert!(value(&text, "sse_responses_total{code=\"503\"}") >= 1);
    assert!(value(&text, "sse_connections_shed_total") >= 1);
    assert!(value(&text, "sse_bytes_sent_total") > 500);
    assert!(value(&text, "process_resident_memory_bytes") > 100_000);
    assert!(value(&text, "process_open_fds") >= 3);
}
