//! `sse-bench` (README "sse-bench, the load generator") against the real
//! `sse-server`: the server on `--port 0`, the bench against its port, and
//! the bench's JSON line and exit code checked. Both binaries are run as a
//! user would run them, through the harness's one spawn path.
//!
//! `sse-bench --session` is one `EventSource`: for each scenario, its
//! stdout must be, byte for byte, what the server's `/expected` says a
//! conforming client makes of the same session.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{BENCH, Server, WAIT, run};

/// How long one sse-bench run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// `sse-bench` aimed at `server`.
fn bench(server: &Server) -> Command {
    let mut c = Command::new(BENCH);
    c.args(["--host", &server.addr.ip().to_string(), "--port", &server.port().to_string()]);
    c
}

/// The number after `"key":` in a flat JSON object.
fn json_number(json: &str, key: &str) -> f64 {
    let pattern = format!("\"{key}\":");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no {key} in {json}")) + pattern.len();
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|e| panic!("{key} in {json}: {e}"))
}

#[test]
fn fifty_streams_at_20_ms_see_every_event() {
    let server = Server::start(&["--log-level", "warn"]);
    let out = run(bench(&server).args(["-c", "50", "--path", "/events?interval=20", "--duration", "2"]), LIMIT);
    let (stdout, stderr) = (out.stdout, out.stderr);
    assert!(out.status.success(), "sse-bench failed:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let [json] = lines.as_slice() else {
        panic!("want one line on stdout, got {stdout:?}\nstderr:\n{stderr}");
    };
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    let n = |key| json_number(json, key);
    let context = format!("{json}\n{stderr}");
    assert_eq!(n("connected"), 50.0, "{context}");
    assert_eq!(n("failed"), 0.0, "{context}");
    assert_eq!(n("gaps"), 0.0, "{context}");
    assert_eq!(n("repeats"), 0.0, "{context}");
    assert_eq!(n("early_closes"), 0.0, "{context}");
    // 50 streams × 2 s / 20 ms is 5,000 events; half leaves room for a
    // slow test machine, and still shows the intervals are honoured.
    assert!(n("events") >= 50.0 * 50.0, "{context}");
}

#[test]
fn streams_that_reach_their_count_are_complete_and_failures_exit_1() {
    let server = Server::start(&["--log-level", "warn"]);
    let ten = ["-c", "10", "--duration", "1"];
    let out = run(bench(&server).args(ten).args(["--path", "/events?interval=10&count=4"]), LIMIT);
    assert!(out.status.success(), "sse-bench failed: {}", out.stderr);
    assert_eq!(json_number(&out.stdout, "completed"), 10.0, "{}", out.stdout);
    assert_eq!(json_number(&out.stdout, "early_closes"), 0.0, "{}", out.stdout);
    assert_eq!(json_number(&out.stdout, "lateness_samples"), 30.0, "{}", out.stdout);
    // Every stream refused: the JSON line still, and exit code 1.
    let out = run(bench(&server).args(ten).args(["--path", "/nope"]), LIMIT);
    assert!(!out.status.success());
    assert_eq!(json_number(&out.stdout, "failed"), 10.0, "{}", out.stdout);
}

/// Streams not even opened before the run ended (`-c` too many for `--rate`
/// and `--duration`) are a failure too (gaps and repeats: `bench::fault`).
#[test]
fn streams_never_opened_exit_1() {
    let server = Server::start(&["--log-level", "warn"]);
    let out = run(
        bench(&server).args(["-c", "50", "--rate", "10", "--duration", "1", "--path", "/events?interval=10"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("streams connected (0 failed, "), "{}", out.stderr);
    assert!(out.stderr.contains(" not opened before the run ended)"), "{}", out.stderr);
}

/// Streams a full server sheds (its `retry:` and close) are early closes,
/// and a failure for the exit code: the run did not measure what it asked.
#[test]
fn streams_shed_by_a_full_server_exit_1() {
    let server = Server::start(&["--log-level", "warn", "--max-connections", "4"]);
    let out = run(bench(&server).args(["-c", "10", "--duration", "1", "--path", "/events?interval=10"]), LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!((json_number(&out.stdout, "connected"), json_number(&out.stdout, "failed")), (10.0, 0.0));
    assert_eq!(json_number(&out.stdout, "early_closes"), 6.0, "{}", out.stdout);
    assert!(
        out.stderr.contains("sse-bench: 6 streams ended early (6 closed by the server, 0 broken)"),
        "{}",
        out.stderr
    );
    // Its own loop delay is measured on the streams it kept.
    assert!(json_number(&out.stdout, "loop_delay_samples") > 0.0, "{}", out.stdout);
}

/// `/expected` of the scenario at `path` (`/scenarios/NAME?knobs`).
fn expected(server: &Server, path: &str) -> String {
    let target = match path.split_once('?') {
        Some((name, knobs)) => format!("{name}/expected?{knobs}"),
        None => format!("{path}/expected"),
    };
    let mut c = server.connect();
    c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    let r = c.read_response();
    assert_eq!(r.status(), 200, "{target}: {}", r.head);
    String::from_utf8(r.body).expect("utf-8 JSON")
}

/// The number after `"connections":` in an `/expected` document.
fn connections(doc: &str) -> String {
    let rest = doc.split("\"connections\":").nth(1).unwrap_or_else(|| panic!("no connections in {doc}"));
    rest.trim_end_matches(['}', '\n']).to_string()
}

#[test]
fn a_session_prints_what_expected_says() {
    let server = Server::start(&["--log-level", "warn"]);
    // (path, --connections: None takes /expected's, extra arguments)
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        ("/scenarios/basic", None, &[]),
        ("/scenarios/basic?te=chunked&split=random&seed=7&eol=crlf&bom=1&retry=30", None, &[]),
        ("/scenarios/crlf-split", None, &[]),
        ("/scenarios/byte-by-byte", None, &[]),
        ("/scenarios/echo-last-event-id", Some("2"), &[]),
        ("/scenarios/echo-last-event-id?te=chunked", Some("2"), &[]),
        ("/scenarios/no-content-after-3", Some("5"), &[]),
        ("/scenarios/stall-mid-event", None, &["--open-ms", "300"]),
        ("/scenarios/redirect-307", None, &[]),
        ("/scenarios/redirect-301?te=chunked", None, &[]),
        ("/scenarios/wrong-content-type", None, &[]),
        ("/scenarios/status-503", None, &[]),
        ("/scenarios/reset-mid-event", None, &[]),
        ("/scenarios/comments-only", None, &["--open-ms", "300"]),
        ("/scenarios/id-nul", None, &[]),
        ("/scenarios/utf8-invalid", None, &[]),
        ("/scenarios/many-events", None, &[]),
    ];
    let mut ends = Vec::new();
    for &(path, conns, extra) in cases {
        let want = expected(&server, path);
        let conns = conns.map_or_else(|| connections(&want), str::to_string);
        let out = run(bench(&server).args(["--session", "--path", path, "-c", &conns]).args(extra), LIMIT);
        assert!(out.status.success(), "{path}: exit {:?}\n{}", out.status, out.stderr);
        assert!(out.stdout == want, "{path}:\n got: {}\nwant: {want}\nstderr: {}", out.stdout, out.stderr);
        ends.extend(["open", "reconnect", "fail"].into_iter().filter(|e| want.contains(&format!("\"end\":\"{e}\""))));
    }
    // Every kind of end was seen, so the table covers them all.
    for end in ["open", "reconnect", "fail"] {
        assert!(ends.contains(&end), "no session ended {end}");
    }
}

#[test]
fn a_session_ends_at_its_timeout_or_at_its_connections() {
    let server = Server::start(&["--log-level", "warn"]);
    // Comments only, and --open-ms longer than --timeout: the connection
    // is still open when the time is up.
    let args = ["--session", "--path", "/scenarios/comments-only", "--open-ms", "60000", "--timeout", "0.3"];
    let out = run(bench(&server).args(args), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "{\"events\":[],\n\"retry\":null,\"end\":\"open\",\"connections\":1}\n");
    // Three connections of basic: six events, and the end is reconnect.
    let out = run(bench(&server).args(["--session", "--path", "/scenarios/basic", "-c", "3"]), LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.matches("\"data\":\"one\"").count(), 3, "{}", out.stdout);
    assert!(out.stdout.ends_with("\"retry\":null,\"end\":\"reconnect\",\"connections\":3}\n"), "{}", out.stdout);
}

/// Answers each connection on `listener` with the next of `answers`, and
/// returns the requests, in order; gives up waiting for a connection after
/// `WAIT`, so a client that makes fewer cannot hang the test.
fn serve(listener: TcpListener, answers: &'static [&'static str]) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut requests = Vec::new();
        listener.set_nonblocking(true).expect("non-blocking");
        let deadline = Instant::now() + WAIT;
        for answer in answers {
            let mut c = loop {
                match listener.accept() {
                    Ok((c, _)) => break c,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => return requests,
                }
            };
            c.set_nonblocking(false).expect("blocking");
            c.set_read_timeout(Some(WAIT)).expect("timeout");
            let mut request = Vec::new();
            let mut byte = [0];
            while !request.ends_with(b"\r\n\r\n") && c.read(&mut byte).expect("read the request") == 1 {
                request.push(byte[0]);
            }
            requests.push(String::from_utf8(request).expect("utf-8 request"));
            c.write_all(answer.as_bytes()).expect("answer");
        }
        requests
    })
}

#[test]
fn session_requests_are_those_of_event_source() {
    // A server of our own, to see the requests as sent: a stream that sets
    // an id and a retry, a redirect, then 204.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = serve(
        listener,
        &[
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 7\nretry: 10\ndata: a\n\nid: 8\ndata: cut",
            "HTTP/1.1 302 Found\r\nLocation: /next?x=1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ],
    );
    let mut c = Command::new(BENCH);
    c.args(["--session", "--port", &port.to_string(), "--path", "/s?k=v", "-c", "5", "--default-retry", "5000"]);
    let started = Instant::now();
    let out = run(&mut c, LIMIT);
    // The stream's retry (10 ms), not --default-retry, timed the reconnection.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let requests = server.join().expect("the test server");
    assert!(out.status.success(), "{}", out.stderr);
    let head = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
        )
    };
    assert_eq!(
        requests,
        [
            format!("{}\r\n", head("/s?k=v")),
            format!("{}Last-Event-ID: 7\r\n\r\n", head("/s?k=v")),
            format!("{}Last-Event-ID: 7\r\n\r\n", head("/next?x=1")),
        ]
    );
    // The half event and its id 8 were dropped; the 204 fails the session.
    let want = "{\"events\":[\n{\"type\":\"message\",\"data\":\"a\",\"id\":\"7\"}],\n\"retry\":10,\"end\":\"fail\",\"connections\":2}\n";
    assert_eq!(out.stdout, want, "{}", out.stderr);
}

#[test]
fn session_exit_codes() {
    // Nothing listens on a port just freed: 1, and nothing on stdout.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = run(Command::new(BENCH).args(["--session", "--port", &port.to_string(), "--path", "/s"]), LIMIT);
    assert_eq!((out.status.code(), out.stdout.as_str()), (Some(1), ""), "{}", out.stderr);
    assert!(out.stderr.starts_with("sse-bench: cannot connect to 127.0.0.1:"), "{}", out.stderr);
    // Bad usage: 2, one line naming the fault, then the usage.
    for (args, why) in [
        (&["--session"][..], "--session needs --path"),
        (&["--session", "--path", "/s", "--rate", "5"], "--rate is an option of the load run"),
        (&["--session", "--path", "/s", "--open-ms", "0"], "--open-ms must be"),
        (&["--open-ms", "5"], "--open-ms"),
    ] {
        let out = run(Command::new(BENCH).args(args), LIMIT);
        assert_eq!((out.status.code(), out.stdout.as_str()), (Some(2), ""), "{args:?}");
        assert!(out.stderr.starts_with("sse-bench: ") && out.stderr.contains(why), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("Usage: sse-bench"), "{args:?}");
    }
}

#[test]
fn publish_mode_delivers_every_event_to_every_subscriber() {
    let server = Server::start(&["--log-level", "warn"]);
    let publish = |args: &[&str]| run(bench(&server).arg("--publish").args(args), LIMIT);
    let out = publish(&["news", "-c", "20", "--rate", "50", "--duration", "1"]);
    assert!(out.status.success(), "sse-bench failed:\n{}", out.stderr);
    let json = out.stdout.trim_end();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let n = |key| json_number(json, key);
    let context = format!("{json}\n{}", out.stderr);
    // 50 publishes/s for 1 s: 50, each to all 20 subscribers, once.
    assert_eq!((n("connected"), n("failed"), n("published"), n("publish_errors")), (20.0, 0.0, 50.0, 0.0), "{context}");
    assert_eq!((n("delivered"), n("events"), n("gaps"), n("repeats")), (1000.0, 1000.0, 0.0, 0.0), "{context}");
    assert!(n("deliveries_per_sec") > 500.0, "{context}");
    let (p50, p99, max) = (n("publish_latency_p50_ms"), n("publish_latency_p99_ms"), n("publish_latency_max_ms"));
    assert!(0.0 < max && p50 <= p99 && p99 <= max && max < 5000.0, "{context}");
    // The load run's fields are there, with their meaning.
    assert_eq!((n("early_closes"), n("errors"), n("lateness_samples")), (0.0, 0.0, 0.0), "{context}");
    assert!(json.ends_with(&format!("\"publish_latency_max_ms\":{max:.3}}}")), "{json}");
    assert!(out.stderr.contains("published: 50 (0 errors); delivered: 1000 of 1000"), "{}", out.stderr);
}

#[test]
fn publish_mode_exits_1_when_events_are_lost_or_refused() {
    let server = Server::start(&["--log-level", "warn"]);
    let publish = |args: &[&str]| run(bench(&server).arg("--publish").args(args), LIMIT);
    // 5 subscribers, 10 publishes.
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let common = ["-c", "5", "--rate", "20", "--duration", "0.5", "--drain", "0.5"];
        extra.iter().chain(&common).copied().collect()
    };
    // Streams the server closes after one event of its own: every publish
    // is missed by every subscriber.
    let out = publish(&with(&["lost", "--subscribe-path", "/events?count=1&interval=10"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let n = |key| json_number(&out.stdout, key);
    assert_eq!((n("connected"), n("early_closes"), n("published")), (5.0, 5.0, 10.0), "{}", out.stdout);
    assert_eq!((n("delivered"), n("gaps")), (0.0, 50.0), "{}", out.stdout);
    assert!(out.stderr.contains("sse-bench: 50 deliveries missed"), "{}", out.stderr);
    // Subscribed to another channel: nothing comes, and nothing closes.
    let out = publish(&with(&["one", "--subscribe-path", "/channels/other"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!((json_number(&out.stdout, "gaps"), json_number(&out.stdout, "early_closes")), (50.0, 0.0));
    // Publishes refused (a POST of a file is 405): none published.
    let out = publish(&with(&["x", "--publish-path", "/index.html"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!((json_number(&out.stdout, "published"), json_number(&out.stdout, "publish_errors")), (0.0, 10.0));
    assert!(out.stderr.contains("publishes refused"), "{}", out.stderr);
}

/// A pub/sub server of our own in nchan's manner, for one subscriber:
/// ids `TIME:N` (no number sse-bench could order by), publishes answered
/// `201` with a chunked body; publish number `twice`, if any, is sent to the
/// subscriber twice. It serves `publishes` publishes, then waits for the
/// bench to close.
fn nchan_like(listener: TcpListener, publishes: usize, twice: Option<usize>) -> std::thread::JoinHandle<()> {
    use std::io::BufRead;
    std::thread::spawn(move || {
        let mut conns: Vec<_> = (0..2).map(|_| listener.accept().expect("accept").0).collect();
        // The subscriber has sent its request; the publisher waits for it.
        let mut first = [0; 4];
        let sub = (0..200)
            .map(|i| i % 2)
            .find(|&i| {
                conns[i].set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
                conns[i].peek(&mut first).is_ok_and(|n| n > 0)
            })
            .expect("a request");
        let mut subscriber = conns.remove(sub);
        let publisher = conns.remove(0);
        subscriber
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n: hi\n\n")
            .unwrap();
        publisher.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut answers = publisher.try_clone().expect("clone");
        let mut requests = std::io::BufReader::new(publisher);
        for i in 1..=publishes {
            let mut length = 0;
            loop {
                let mut line = String::new();
                requests.read_line(&mut line).expect("a request line");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("a length");
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            requests.read_exact(&mut body).expect("the content");
            let event = format!("id: 1796215409:{i}\ndata: {}\n\n", String::from_utf8(body).unwrap());
            let times = if twice == Some(i) { 2 } else { 1 };
            subscriber.write_all(event.repeat(times).as_bytes()).unwrap();
            let answer =
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n13\r\nqueued messages: 1\n\r\n0\r\n\r\n";
            answers.write_all(answer.as_bytes()).unwrap();
        }
        let _ = requests.read_to_end(&mut Vec::new());
    })
}

#[test]
fn publish_mode_orders_by_its_stamps_whatever_the_ids() {
    for twice in [None, Some(3)] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        let server = nchan_like(listener, 10, twice);
        let mut c = Command::new(BENCH);
        c.args(["--publish", "ch", "--publish-path", "/pub/ch", "--subscribe-path", "/sub/ch", "--port", &port]);
        let out = run(c.args(["-c", "1", "--rate", "20", "--duration", "0.5"]), LIMIT);
        server.join().expect("the test server");
        let n = |key| json_number(&out.stdout, key);
        assert_eq!((n("published"), n("delivered"), n("gaps")), (10.0, 10.0, 0.0), "{}", out.stderr);
        assert_eq!(n("repeats"), if twice.is_some() { 1.0 } else { 0.0 }, "{}", out.stdout);
        assert_eq!(out.status.code(), Some(if twice.is_some() { 1 } else { 0 }), "{}", out.stderr);
    }
}
