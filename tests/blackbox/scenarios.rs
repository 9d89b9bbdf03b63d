//! Scenarios (README "Testing SSE clients and proxies"): the index, each
//! scenario's bytes against its `/raw`, what `/expected` says a conforming
//! client makes of them, the sessions that count connections, and the
//! answers to bad requests.

use crate::harness::{Client, Server, get_events, normalize_date};

/// `GET target` on a new connection; the whole response.
fn get(s: &Server, target: &str, extra: &str) -> crate::harness::Response {
    let mut c = s.connect();
    c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    c.read_response()
}

/// The value of every `"field":"value"` of the index, in order.
fn strings<'a>(json: &'a str, field: &str) -> Vec<&'a str> {
    let key = format!("\"{field}\":\"");
    json.split(&key).skip(1).filter_map(|rest| rest.split('"').next()).collect()
}

#[test]
fn the_index_lists_every_scenario_as_json_and_as_a_page() {
    let s = Server::start(&[]);
    let r = get(&s, "/scenarios", "");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let json = String::from_utf8(r.body).unwrap();
    assert!(json.starts_with("[\n{") && json.ends_with("}\n]\n"), "{json}");
    let names = strings(&json, "name");
    assert!(names.len() >= 40, "{names:?}");
    for (field, want) in [("url", ""), ("expected", "/expected"), ("raw", "/raw")] {
        let urls = strings(&json, field);
        let expect: Vec<String> = names.iter().map(|n| format!("/scenarios/{n}{want}")).collect();
        assert_eq!(urls, expect, "{field}");
    }
    assert_eq!(strings(&json, "description").len(), names.len());
    assert!(strings(&json, "spec").iter().all(|s| s.starts_with("WHATWG HTML §9.2")));
    // A browser gets a page that links each scenario, its bytes and its
    // expectation; ?format= says which whatever Accept says.
    for (extra, target) in [("Accept: text/html\r\n", "/scenarios"), ("", "/scenarios?format=html")] {
        let r = get(&s, target, extra);
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        let page = String::from_utf8(r.body).unwrap();
        for n in &names {
            for link in
                [format!("href=\"/scenarios/{n}\""), format!("/scenarios/{n}/raw"), format!("/scenarios/{n}/expected")]
            {
                assert!(page.contains(&link), "{link} missing");
            }
        }
    }
    let r = get(&s, "/scenarios?format=json", "Accept: text/html\r\n");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}

/// What a scenario's stream sends, after its head: to the end for one that
/// ends, `len` bytes for one that stays open.
fn stream_body(s: &Server, name: &str, len: usize, open: bool) -> (String, Vec<u8>) {
    let mut c = s.connect();
    c.send(&get_events(&format!("/scenarios/{name}"), ""));
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).unwrap());
    let body = if open { c.read_exact_n(len) } else { c.read_to_eof() };
    (head, body)
}

#[test]
fn every_stream_sends_exactly_its_raw_bytes() {
    let s = Server::start(&[]);
    let index = String::from_utf8(get(&s, "/scenarios", "").body).unwrap();
    let (mut streams, mut statuses) = (0, 0);
    for name in strings(&index, "name") {
        let expected = String::from_utf8(get(&s, &format!("/scenarios/{name}/expected"), "").body).unwrap();
        let raw = get(&s, &format!("/scenarios/{name}/raw"), "");
        assert_eq!(raw.header("Content-Type"), Some("application/octet-stream"), "{name}");
        if raw.body.is_empty() || raw.body == b"the answer of this scenario\n" {
            // A status and no stream: its short text (none for a 204).
            let live = get(&s, &format!("/scenarios/{name}"), "");
            assert!(live.status() != 200 && live.body == raw.body, "{name}: {} {:?}", live.head, raw.body);
            statuses += 1;
            continue;
        }
        streams += 1;
        let open = expected.contains("\"end\":\"open\"");
        let (head, body) = stream_body(&s, name, raw.body.len(), open);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {head}");
        assert!(body == raw.body, "{name}: the stream and /raw differ");
    }
    assert!(streams >= 30 && statuses >= 6, "{streams} streams, {statuses} statuses");
}

#[test]
fn expectations_are_what_the_standard_says() {
    let s = Server::start(&[]);
    let ev = |t: &str, d: &str, id: &str| format!("\n{{\"type\":\"{t}\",\"data\":\"{d}\",\"id\":\"{id}\"}}");
    let doc = |events: &[String], retry: &str, end: &str, conns: u32| {
        format!("{{\"events\":[{}],\n\"retry\":{retry},\"end\":\"{end}\",\"connections\":{conns}}}\n", events.join(","))
    };
    for (name, want) in [
        ("basic", doc(&[ev("message", "one", ""), ev("message", "two", "")], "null", "reconnect", 1)),
        ("crlf-split", doc(&[ev("message", "one", ""), ev("message", "two", "")], "null", "reconnect", 1)),
        ("bom-twice", doc(&[ev("message", "two", "")], "null", "reconnect", 1)),
        (
            "data-spaces",
            doc(&[ev("message", "x", ""), ev("message", "x", ""), ev("message", " x", "")], "null", "reconnect", 1),
        ),
        (
            "event-types",
            doc(&[ev("add", "1", ""), ev("remove", "2", ""), ev("message", "3", "")], "null", "reconnect", 1),
        ),
        ("id-empty", doc(&[ev("message", "a", "1"), ev("message", "b", "")], "null", "reconnect", 1)),
        ("retry-leading-zeros", doc(&[ev("message", "one", "")], "2000", "reconnect", 1)),
        ("nul-in-data", doc(&[ev("message", "a\\u0000b", "")], "null", "reconnect", 1)),
        ("utf8-split", doc(&[ev("message", "café €", "")], "null", "reconnect", 1)),
        ("unterminated", doc(&[ev("message", "one", "")], "null", "reconnect", 1)),
        ("stall-mid-event", doc(&[ev("message", "one", "")], "null", "open", 1)),
        ("wrong-content-type", doc(&[], "null", "fail", 1)),
        ("charset-windows-1252", doc(&[ev("message", "café", "")], "null", "reconnect", 1)),
        ("status-204", doc(&[], "null", "fail", 1)),
        ("redirect-301", doc(&[ev("message", "one", ""), ev("message", "two", "")], "null", "reconnect", 1)),
        ("echo-last-event-id", doc(&[ev("message", "first", "42"), ev("message", "42", "42")], "200", "reconnect", 2)),
        (
            "no-content-after-3",
            doc(&[ev("message", "1", "1"), ev("message", "2", "2"), ev("message", "3", "3")], "100", "fail", 4),
        ),
    ] {
        let r = get(&s, &format!("/scenarios/{name}/expected"), "");
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{name}");
        assert_eq!(String::from_utf8(r.body).unwrap(), want, "{name}");
    }
    // Knobs change the bytes, and so what is expected: the same code path.
    let r = get(&s, "/scenarios/basic/expected?retry=300&close_after=1", "");
    assert_eq!(String::from_utf8(r.body).unwrap(), doc(&[ev("message", "one", "")], "300", "reconnect", 1));
    let r = get(&s, "/scenarios/basic/expected?status=503", "");
    assert_eq!(String::from_utf8(r.body).unwrap(), doc(&[], "null", "fail", 1));
    let big = String::from_utf8(get(&s, "/scenarios/many-events/expected", "").body).unwrap();
    assert_eq!(big.matches("{\"type\":\"message\",\"data\":\"x\",\"id\":\"\"}").count(), 10_000);
}

#[test]
fn sessions_follow_the_last_event_id_or_the_key() {
    let s = Server::start(&[]);
    // Stateless: the Last-Event-ID says which connection this is.
    let mut c = s.stream("/scenarios/echo-last-event-id", "Last-Event-ID: 42\r\n");
    assert_eq!(c.read_to_eof(), b"data: 42\n\n");
    let r = get(&s, "/scenarios/no-content-after-3", "Last-Event-ID: 3\r\n");
    assert_eq!((r.status(), r.body.len()), (204, 0));
    // Counted by key: three 503s, then the stream; another key starts over.
    for _ in 0..3 {
        let r = get(&s, "/scenarios/fail-then-recover?key=k1", "");
        assert_eq!(r.status(), 503);
    }
    let mut c = s.connect();
    c.send(&get_events("/scenarios/fail-then-recover?key=k1", ""));
    assert!(c.read_until(b"\r\n\r\n").starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(c.read_to_eof(), b"data: recovered\n\n");
    assert_eq!(get(&s, "/scenarios/fail-then-recover?key=k2", "").status(), 503);
    let long = format!("/scenarios/fail-then-recover?key={}", "k".repeat(65));
    let r = get(&s, &long, "");
    assert_eq!(r.status(), 400);
    assert!(String::from_utf8(r.body).unwrap().contains("key"));
}

#[test]
fn unknown_scenarios_are_404_and_bad_knobs_400_on_a_kept_connection() {
    let s = Server::start(&[]);
    let mut c: Client = s.connect();
    for (target, status, why) in [
        ("/scenarios/nope", 404, "no such scenario"),
        ("/scenarios/basic/nope", 404, "not found"),
        ("/scenarios/basic?split=0", 400, "split"),
        ("/scenarios/basic/expected?eol=x", 400, "eol"),
        ("/scenarios/basic/raw?pause=99999", 400, "pause"),
    ] {
        c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.read_response();
        assert_eq!(r.status(), status, "{target}");
        assert_eq!(r.header("Connection"), None, "{target}: the connection stays");
        assert!(String::from_utf8(r.body).unwrap().contains(why), "{target}");
    }
}
