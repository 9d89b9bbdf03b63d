//! Channels (README "Channels: publish your own events"): publish and
//! subscribe, resumption without loss, the signal of lost events, every
//! bound, who may publish, CORS, fan-out to many subscribers and to a slow
//! one, standard input as a publisher, and what `/metrics` says.

use std::io::Write;

use crate::harness::{Client, Launch, STREAM_HEAD, Server, TempWww, get_events, metric, normalize_date};

/// `POST /channels/{channel}{query}` with `body`; the response.
fn publish(s: &Server, target: &str, body: &[u8], extra: &str) -> crate::harness::Response {
    let mut c = s.connect();
    let head = format!("POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n{extra}\r\n", body.len());
    c.send(head.as_bytes()).send(body);
    c.read_response()
}

/// The id a publish answered with.
fn id_of(r: &crate::harness::Response) -> String {
    assert_eq!((r.status(), r.header("Content-Type")), (200, Some("application/json")), "{}", r.head);
    let body = String::from_utf8(r.body.clone()).unwrap();
    body.strip_prefix("{\"id\":\"").and_then(|b| b.strip_suffix("\"}\n")).expect("an id").to_string()
}

/// A subscriber whose head has been read.
fn subscribe(s: &Server, target: &str, extra: &str) -> (Client, String) {
    s.stream_head(target, extra)
}

fn ev(id: &str, data: &str) -> String {
    format!("id: {id}\ndata: {data}\n\n")
}

#[test]
fn published_events_reach_subscribers_exactly() {
    let mut s = Server::start(&[]);
    let (mut a, head) = subscribe(&s, "/channels/news", "");
    assert_eq!(head, STREAM_HEAD);
    s.wait_log("Client connected to event stream");
    let id1 = id_of(&publish(&s, "/channels/news?event=alert", b"hello\nworld", ""));
    let id2 = id_of(&publish(&s, "/channels/news", b"second\r\n", ""));
    // Chunked content is taken as well.
    let mut c = s.connect();
    c.send(b"POST /channels/news HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nthi\r\n2\r\nrd\r\n0\r\n\r\n");
    let id3 = id_of(&c.read_response());
    let want =
        format!("event: alert\nid: {id1}\ndata: hello\ndata: world\n\n{}{}", ev(&id2, "second"), ev(&id3, "third"));
    assert_eq!(String::from_utf8(a.read_exact_n(want.len())).unwrap(), want);
    let (e, n) = id3.split_once('-').unwrap();
    assert!(e.parse::<u64>().is_ok() && n == "3", "{id3}");
}

#[test]
fn resuming_replays_what_was_missed_then_goes_live() {
    let s = Server::start(&["--history", "3"]);
    let ids: Vec<String> =
        (1..=5).map(|i| id_of(&publish(&s, "/channels/x", format!("n{i}").as_bytes(), ""))).collect();
    // From the 4th: the 5th, no gap, no repeat, then live.
    let (mut c, head) = subscribe(&s, "/channels/x", &format!("Last-Event-ID: {}\r\n", ids[3]));
    assert!(head.contains(&format!("\r\nReplay-After: {}\r\n", ids[3])), "{head}");
    assert_eq!(String::from_utf8(c.read_exact_n(ev(&ids[4], "n5").len())).unwrap(), ev(&ids[4], "n5"));
    let id6 = id_of(&publish(&s, "/channels/x", b"n6", ""));
    assert_eq!(String::from_utf8(c.read_exact_n(ev(&id6, "n6").len())).unwrap(), ev(&id6, "n6"));
    // ?last_event_id= does the same (a browser cannot set the header on a
    // first connection); from the 1st, 2 were lost (a history of 3).
    let (epoch, _) = ids[0].split_once('-').unwrap();
    let (mut c, head) = subscribe(&s, &format!("/channels/x?last_event_id={}", ids[0]), "");
    assert!(head.contains(&format!("\r\nReplay-After: {epoch}-3\r\n")), "{head}");
    let want = format!(
        "event: lost\ndata: {{\"lost\":2,\"after\":\"{epoch}-3\"}}\n\n{}{}{}",
        ev(&ids[3], "n4"),
        ev(&ids[4], "n5"),
        ev(&id6, "n6")
    );
    assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
    // From another run: the loss is unknown.
    let (mut c, _) = subscribe(&s, "/channels/x", "Last-Event-ID: 12-40\r\n");
    let lost = format!("event: lost\ndata: {{\"lost\":null,\"after\":\"{epoch}-3\"}}\n\n");
    assert_eq!(String::from_utf8(c.read_exact_n(lost.len())).unwrap(), lost);
    let m = s.metrics();
    assert_eq!(metric(&m, "sse_resumes_lost_total"), 2, "{m}");
    assert_eq!(metric(&m, "sse_events_replayed_total"), 1 + 3 + 3, "{m}");
    assert_eq!(metric(&m, "sse_events_published_total"), 6, "{m}");
    assert_eq!(metric(&m, "sse_channel_subscribers"), 3, "{m}");
    assert_eq!(metric(&m, "sse_channels"), 1, "{m}");
    assert!(metric(&m, "sse_history_bytes") > 0, "{m}");
}

#[test]
fn after_a_restart_ids_go_on_and_a_resume_says_what_it_lost() {
    let mut a = Server::start(&[]);
    let old = id_of(&publish(&a, "/channels/r", b"before", ""));
    let port = a.port().to_string();
    a.stop();
    let b = Server::start(&["--port", &port]);
    let new = id_of(&publish(&b, "/channels/r", b"after", ""));
    let epoch = |id: &str| id.split_once('-').unwrap().0.parse::<u64>().unwrap();
    assert!(epoch(&new) > epoch(&old), "{old} then {new}: ids must not be reused");
    let (mut c, _) = subscribe(&b, "/channels/r", &format!("Last-Event-ID: {old}\r\n"));
    let want = format!("event: lost\ndata: {{\"lost\":null,\"after\":\"{}-0\"}}\n\n{}", epoch(&new), ev(&new, "after"));
    assert_eq!(String::from_utf8(c.read_exact_n(want.len())).unwrap(), want);
}

#[test]
fn every_bound_has_its_answer() {
    let s = Server::start(&["--max-channels", "2", "--history", "0"]);
    for (target, body, status, why) in [
        ("/channels/a%2Fb", &b"x"[..], 400, "channel name"),
        ("/channels/x?event=a%0Ab", b"x", 400, "event"),
        ("/channels/x", b"caf\xe9", 400, "UTF-8"),
    ] {
        let r = publish(&s, target, body, "");
        assert_eq!(r.status(), status, "{target}");
        assert!(String::from_utf8_lossy(&r.body).contains(why), "{target}");
    }
    let big = publish(&s, "/channels/x", &vec![b'x'; 65_537], "");
    assert_eq!(big.status(), 413);
    // Two channels with subscribers; a third cannot be made.
    let (_a, _) = subscribe(&s, "/channels/one", "");
    let (_b, _) = subscribe(&s, "/channels/two", "");
    let r = publish(&s, "/channels/three", b"x", "");
    assert_eq!((r.status(), r.header("Retry-After")), (503, Some("1")));
    let mut c = s.connect();
    c.send(b"GET /channels/three HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().status(), 503);
    // An EventSource would stop for good on a 503: it is told to retry.
    let mut c = s.connect();
    c.send(&get_events("/channels/three", ""));
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).unwrap());
    assert_eq!(head, STREAM_HEAD);
    let body = String::from_utf8(c.read_to_eof()).unwrap();
    let retry = body.strip_prefix(": too many channels, retry later\nretry: ").and_then(|r| r.strip_suffix("\n\n"));
    assert!(retry.and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| (1000..=5000).contains(&r)), "{body:?}");
    // With no history, a channel nobody listens to is freed at once.
    assert_eq!(id_of(&publish(&s, "/channels/one", b"x", "")).split_once('-').unwrap().1, "1");
    drop((_a, _b));
    let mut s = s;
    s.wait_log("Client disconnected from event stream");
    s.wait_log("Client disconnected from event stream");
    assert_eq!(metric(&s.metrics(), "sse_channels"), 0);
}

#[test]
fn publishes_in_flight_are_bounded() {
    let s = Server::start(&[]);
    // 64 publishes of 64 KiB whose content has not come yet hold 4 MiB.
    let held: Vec<Client> = (0..64)
        .map(|_| {
            let mut c = s.connect();
            c.send(b"POST /channels/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\nExpect: 100-continue\r\n\r\n");
            c.read_until(b"100 Continue\r\n\r\n");
            c
        })
        .collect();
    let r = publish(&s, "/channels/x", b"one more", "");
    assert_eq!((r.status(), r.header("Retry-After")), (503, Some("1")));
    drop(held);
}

#[test]
fn only_loopback_publishes_unless_a_token_is_set() {
    let www = TempWww::new("token");
    www.write("token", b"s3cret\n");
    let file = www.root().join("www/token");
    for launch in [
        Launch::new(&["--publish-token-file", file.to_str().unwrap()]).start(),
        Launch::new(&[]).env("SSE_SERVER_PUBLISH_TOKEN", "s3cret").start(),
    ] {
        let r = publish(&launch, "/channels/x", b"x", "");
        assert_eq!(r.status(), 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer realm=\"sse-server\""));
        assert_eq!(publish(&launch, "/channels/x", b"x", "Authorization: Bearer wrong!\r\n").status(), 401);
        id_of(&publish(&launch, "/channels/x", b"x", "Authorization: Bearer s3cret\r\n"));
    }
    // Without a token, a loopback client may (the tests run on loopback;
    // the 403 for others is a fake-client test of the state machine).
    let s = Server::start(&["--cors-origin", "https://app.test"]);
    id_of(&publish(&s, "/channels/x", b"x", ""));
    // But not a page of another origin, through a browser on this host:
    // its own pages and the origins --cors-origin allows may.
    let r = publish(&s, "/channels/x", b"x", "Origin: https://evil.test\r\nContent-Type: text/plain\r\n");
    assert_eq!(r.status(), 403);
    assert_eq!(r.body, b"a publish from a page of another origin (allow it with --cors-origin)\n");
    id_of(&publish(&s, "/channels/x", b"x", "Origin: http://localhost\r\n"));
    // Nor a page whose name was made to point here (DNS rebinding): its
    // Origin is its own Host, which is not this machine's loopback.
    let mut c = s.connect();
    c.send(
        b"POST /channels/x HTTP/1.1\r\nHost: evil.test:80\r\nOrigin: http://evil.test:80\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(c.read_response().status(), 403);
    // --cors-origin '*' lets any page read, not publish.
    let any = Server::start(&["--cors-origin", "*"]);
    assert_eq!(publish(&any, "/channels/x", b"x", "Origin: https://evil.test\r\n").status(), 403);
    // Nor a client a proxy on this host passed on (nginx, with the README's
    // X-Forwarded-For): it came from anywhere.
    for field in ["X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9"] {
        let r = publish(&s, "/channels/x", b"x", &format!("{field}\r\n"));
        assert_eq!(r.status(), 403, "{field}");
    }
    id_of(&publish(&s, "/channels/x", b"x", "Origin: https://app.test\r\n"));
}

#[test]
fn cors_answers_allowed_origins_only() {
    let s = Server::start(&["--cors-origin", "http://app.test", "--cors-origin", "http://b.test"]);
    let mut c = s.connect();
    c.send(b"GET /events?count=1&interval=1 HTTP/1.1\r\nHost: t\r\nOrigin: http://app.test\r\n\r\n");
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).unwrap());
    assert!(
        head.contains(
            "\r\nVary: Origin\r\nAccess-Control-Allow-Origin: http://app.test\r\nAccess-Control-Allow-Credentials: true\r\n"
        ),
        "{head}"
    );
    let mut c = s.connect();
    c.send(
        b"OPTIONS /channels/x HTTP/1.1\r\nHost: t\r\nOrigin: http://b.test\r\nAccess-Control-Request-Method: POST\r\n\
          Access-Control-Request-Headers: authorization\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status(), 204);
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD, POST, OPTIONS"));
    assert_eq!(r.header("Access-Control-Allow-Headers"), Some("Last-Event-ID, Authorization, Content-Type"));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://b.test"));
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nOrigin: http://evil.test\r\n\r\n");
    let r = c.read_response();
    assert!(!r.head.contains("Access-Control"), "{}", r.head);
    // It depends on the Origin all the same: a cache must not reuse it.
    assert_eq!(r.header("Vary"), Some("Origin"));
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().header("Vary"), Some("Origin"));
    let any = Server::start(&["--cors-origin", "*"]);
    let mut c = any.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nOrigin: http://x.test\r\n\r\n");
    let r = c.read_response();
    assert_eq!(
        (r.header("Access-Control-Allow-Origin"), r.header("Access-Control-Allow-Credentials"), r.header("Vary")),
        (Some("*"), None, None)
    );
}

#[test]
fn every_subscriber_gets_every_event_and_a_slow_one_resumes_without_loss() {
    let mut s = Server::start(&["--log-level", "warn", "--history", "1000", "--history-bytes", "100000000"]);
    let mut subs: Vec<Client> = (0..20).map(|_| subscribe(&s, "/channels/fan", "").0).collect();
    // One that never reads, until it is a slow consumer.
    let (mut slow, _) = subscribe(&s, "/channels/fan", "");
    // 12 MB in all: more than the socket buffers of the one that does not
    // read can hold.
    let big = "y".repeat(60_000);
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(id_of(&publish(&s, "/channels/fan", format!("{i}{big}").as_bytes(), "")));
        // Everyone else keeps up.
        for c in &mut subs {
            let want = ev(&ids[i], &format!("{i}{big}"));
            assert_eq!(c.read_exact_n(want.len()), want.as_bytes());
        }
    }
    s.wait_log("Slow consumer: closing event stream");
    // The slow one has whole events, then at most the start of the next;
    // it resumes from the last it has whole: nothing lost.
    let got = slow.read_to_eof();
    let mut rest = &got[..];
    let mut have = 0;
    for (i, id) in ids.iter().enumerate() {
        let want = ev(id, &format!("{i}{big}"));
        match rest.strip_prefix(want.as_bytes()) {
            Some(r) => {
                rest = r;
                have += 1;
            }
            None => {
                assert!(want.as_bytes().starts_with(rest), "event {i} is not what was published");
                break;
            }
        }
    }
    assert!(have > 0 && have < ids.len(), "{have} events before the slow-consumer close");
    let (mut again, _) = subscribe(&s, "/channels/fan", &format!("Last-Event-ID: {}\r\n", ids[have - 1]));
    for (i, id) in ids.iter().enumerate().skip(have) {
        let want = ev(id, &format!("{i}{big}"));
        assert_eq!(again.read_exact_n(want.len()), want.as_bytes(), "event {i}");
    }
}

#[test]
fn standard_input_lines_are_events_and_its_end_stops_nothing() {
    let mut s = Launch::new(&["--stdin", "logs"]).piped_stdin().start();
    let (mut c, _) = subscribe(&s, "/channels/logs", "");
    s.wait_log("Client connected to event stream");
    let mut input = s.stdin();
    input.write_all(b"first line\r\nsecond").unwrap();
    input.flush().unwrap();
    let got = String::from_utf8(c.read_until(b"\n\n")).unwrap();
    assert!(got.ends_with("\ndata: first line\n\n"), "{got:?}");
    // A line over 64 KiB: its start is published, the rest dropped.
    input.write_all(b" half\n").unwrap();
    input.write_all(&vec![b'z'; 70_000]).unwrap();
    input.write_all(b"\nlast\n").unwrap();
    drop(input);
    let second = String::from_utf8(c.read_until(b"\n\n")).unwrap();
    assert!(second.ends_with("\ndata: second half\n\n"), "{second:?}");
    let long = String::from_utf8(c.read_until(b"\n\n")).unwrap();
    assert_eq!(long.matches('z').count(), 65_536, "the start of a long line, 64 KiB of it");
    let last = String::from_utf8(c.read_until(b"\n\n")).unwrap();
    assert!(last.ends_with("\ndata: last\n\n"), "{last:?}");
    s.wait_log("only its start is published");
    s.wait_log("standard input ended");
    // Still serving.
    let (mut d, _) = subscribe(&s, "/channels/logs?last_event_id=x", "");
    id_of(&publish(&s, "/channels/logs", b"by http", ""));
    assert!(String::from_utf8(d.read_until(b"\n\n")).unwrap().ends_with("data: by http\n\n"));
}

/// The answer to a publish carries the CORS fields too (a page on another
/// origin reads the id it was given).
#[test]
fn a_publish_answer_carries_the_cors_fields() {
    let s = Server::start(&["--cors-origin", "http://app.test"]);
    let r = publish(&s, "/channels/x", b"hi", "Origin: http://app.test\r\n");
    id_of(&r);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://app.test"), "{}", r.head);
    let r = publish(&s, "/channels/x", b"\xff", "Origin: http://app.test\r\n");
    assert_eq!((r.status(), r.header("Access-Control-Allow-Origin")), (400, Some("http://app.test")));
}

#[test]
fn live_events_behind_a_replay_are_counted_once() {
    let s = Server::start(&["--log-level", "warn", "--history", "1000", "--history-bytes", "100000000"]);
    // 12 MB of history: more than a client that does not read and the
    // server's socket buffer hold, so the replay is still going out when
    // the live events come, and they wait behind it.
    let big = "z".repeat(60_000);
    let ids: Vec<String> =
        (0..200).map(|i| id_of(&publish(&s, "/channels/r", format!("{i}{big}").as_bytes(), ""))).collect();
    let (mut c, _) = subscribe(&s, "/channels/r", &format!("Last-Event-ID: {}\r\n", ids[0]));
    let live: Vec<String> =
        (0..3).map(|i| id_of(&publish(&s, "/channels/r", format!("live{i}").as_bytes(), ""))).collect();
    for (i, id) in ids.iter().enumerate().skip(1) {
        let want = ev(id, &format!("{i}{big}"));
        assert_eq!(c.read_exact_n(want.len()), want.as_bytes(), "replayed event {i}");
    }
    for (i, id) in live.iter().enumerate() {
        let want = ev(id, &format!("live{i}"));
        assert_eq!(c.read_exact_n(want.len()), want.as_bytes(), "live event {i}");
    }
    // 199 replayed and 3 live: each counted once, sent and observed.
    let m = s.metrics();
    assert_eq!(metric(&m, "sse_events_replayed_total"), 199, "{m}");
    assert_eq!(metric(&m, "sse_events_sent_total"), 202, "{m}");
    assert_eq!(metric(&m, "sse_event_lateness_seconds_count"), 202, "{m}");
}
