//! HTTP happy paths (contract §2): routes, files, keep-alive, pipelining,
//! requests split at every byte, HEAD, OPTIONS, absolute-form targets.

use std::fs;

use crate::harness::{Client, Launch, PAGE, Response, STREAM_HEAD, Server, TempWww, get_events};

fn get(c: &mut Client, target: &str) -> Response {
    c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    c.read_response()
}

#[test]
fn the_page_at_slash_and_index_html_exactly() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for target in ["/", "/index.html", "/?x=1", "http://127.0.0.1/", "http://t:8888/index.html?q"] {
        let r = get(&mut c, target);
        assert_eq!(
            r.head,
            format!(
                "HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\n\r\n",
                PAGE.len()
            ),
            "{target}"
        );
        assert_eq!(r.body, PAGE, "{target}");
    }
}

#[test]
fn files_are_read_at_request_time_with_types() {
    let t = TempWww::new("files");
    t.write("index.html", b"<p>one</p>");
    let www = t.www_arg();
    let server = Server::start(&["--www", &www]);
    let mut c = server.connect();
    assert_eq!(get(&mut c, "/").body, b"<p>one</p>");
    t.write("index.html", b"<p>two, longer</p>");
    assert_eq!(get(&mut c, "/").body, b"<p>two, longer</p>");
    // Same size, rewritten in place right after being served: the file as
    // it is on disk now, not as it was when it was cached.
    for text in [&b"<p>aaaaaaaaaaaa</p>"[..], b"<p>bbbbbbbbbbbb</p>", b"<p>cccccccccccc</p>"] {
        t.write("index.html", text);
        assert_eq!(get(&mut c, "/").body, text);
        assert_eq!(get(&mut c, "/index.html").body, text);
    }
    // Replaced by another file (a new inode), and removed.
    fs::write(t.root().join("new.html"), b"<p>renamed in</p>").unwrap();
    fs::rename(t.root().join("new.html"), t.www().join("index.html")).unwrap();
    assert_eq!(get(&mut c, "/").body, b"<p>renamed in</p>");
    fs::remove_file(t.www().join("index.html")).unwrap();
    assert_eq!(get(&mut c, "/").status(), 404);
    t.write("index.html", b"<p>back</p>");
    for (name, ty) in [
        ("a.html", "text/html; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.svg", "image/svg+xml"),
        ("a.png", "image/png"),
        ("a.ico", "image/x-icon"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("sub/b c.bin", "application/octet-stream"),
    ] {
        t.write(name, name.as_bytes());
        let r = get(&mut c, &format!("/{}", name.replace(' ', "%20")));
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.header("Content-Type"), Some(ty), "{name}");
        assert_eq!(r.body, name.as_bytes(), "{name}");
    }
    // A file larger than the output bound is sent whole, piece by piece.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    t.write("big.bin", &big);
    let r = get(&mut c, "/big.bin");
    assert_eq!(r.header("Content-Length"), Some("300000"));
    assert!(r.body == big, "big file differs");
    assert_eq!(get(&mut c, "/a.txt").body, b"a.txt", "the connection goes on after it");
}

#[test]
fn missing_files_and_paths_that_leave_www_are_404() {
    let t = TempWww::new("escape");
    t.write("index.html", b"home");
    fs::write(t.root().join("secret.txt"), b"SECRET").unwrap();
    std::os::unix::fs::symlink(t.root().join("secret.txt"), t.www().join("link.txt")).unwrap();
    std::os::unix::fs::symlink(t.root(), t.www().join("up")).unwrap();
    let www = t.www_arg();
    let server = Server::start(&["--www", &www]);
    let mut c = server.connect();
    for target in [
        "/nope.html",
        "/sub",
        "/sub/",
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/link.txt",
        "/up/secret.txt",
        "/index.html%00",
    ] {
        let r = get(&mut c, target);
        assert_eq!(
            r.head,
            "HTTP/1.1 404 Not Found\r\nDate: <date>\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 10\r\n\r\n",
            "{target}"
        );
        assert_eq!(r.body, b"not found\n", "{target}");
    }
}

#[test]
fn the_built_in_page_when_www_is_missing() {
    let t = TempWww::new("builtin");
    fs::remove_dir_all(t.www()).unwrap();
    // Started in a directory without `www`, with the default `--www`.
    let server = Launch::new(&[]).in_dir(t.root()).start();
    let mut c = server.connect();
    let r = get(&mut c, "/");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, PAGE);
    assert_eq!(get(&mut c, "/index.html").body, PAGE);
    // The channel page is built in too.
    let r = get(&mut c, "/channel.html");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, include_bytes!("../../www/channel.html"));
    assert_eq!(get(&mut c, "/other.js").status(), 404);
}

#[test]
fn other_methods_are_405_and_options_204() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        for target in ["/", "/events", "/nope"] {
            c.send(format!("{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            let r = c.read_response();
            assert_eq!(
                r.head,
                "HTTP/1.1 405 Method Not Allowed\r\nDate: <date>\r\nAllow: GET, HEAD, OPTIONS\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n",
                "{method} {target}"
            );
            assert_eq!(r.body, b"method not allowed\n");
        }
    }
    for target in ["*", "/", "/events", "/index.html"] {
        c.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.read_response();
        assert_eq!(r.head, "HTTP/1.1 204 No Content\r\nDate: <date>\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n", "{target}");
    }
    // Still the same connection, still answering.
    assert_eq!(get(&mut c, "/").status(), 200);
}

#[test]
fn head_has_the_head_of_get_and_no_body() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    for target in ["/", "/nope", "/events"] {
        c.send(format!("GET {target}?count=1&interval=1 HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let get_head = if target == "/events" {
            c.read_until(b"\r\n\r\n");
            c.read_to_eof();
            c = server.connect();
            STREAM_HEAD.to_string()
        } else {
            c.read_response().head
        };
        c.send(format!("HEAD {target}?count=1&interval=1 HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let head = c.read_response_to(true);
        assert_eq!(head.head, get_head, "{target}");
    }
    // Nothing followed the last head: the next response starts right away.
    assert_eq!(get(&mut c, "/").status(), 200);
}

#[test]
fn keep_alive_rules_of_1_0_and_1_1() {
    let server = Server::start(&[]);
    // HTTP/1.0 without keep-alive: Connection: close, then EOF.
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.header("Connection"), Some("close"));
    c.expect_eof();
    // HTTP/1.0 with keep-alive: kept, and said so.
    let mut c = server.connect();
    for _ in 0..3 {
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(c.read_response().header("Connection"), Some("keep-alive"));
    }
    // HTTP/1.1: kept by default, closed on request.
    let mut c = server.connect();
    let r = get(&mut c, "/");
    assert_eq!(r.header("Connection"), None);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response().header("Connection"), Some("close"));
    c.expect_eof();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    let targets = ["/", "/nope", "/index.html", "/metrics", "/x"];
    for _ in 0..40 {
        for t in targets {
            burst.extend_from_slice(format!("GET {t} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
    }
    burst.extend_from_slice(b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    c.send(&burst);
    for _ in 0..40 {
        for t in targets {
            let want = if t == "/nope" || t == "/x" { 404 } else { 200 };
            assert_eq!(c.read_response().status(), want, "{t}");
        }
    }
    assert_eq!(c.read_response().status(), 204);
    c.expect_eof();
}

#[test]
fn a_request_split_at_every_byte() {
    let server = Server::start(&[]);
    let request: &[u8] = b"GET /index.html?x=1 HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n";
    for cut in 1..request.len() {
        let mut c = server.connect();
        c.send(&request[..cut]);
        // Let the first piece arrive alone before the rest.
        std::thread::yield_now();
        c.send(&request[cut..]);
        let r = c.read_response();
        assert_eq!(r.status(), 200, "cut at {cut}");
        assert_eq!(r.body, PAGE);
    }
    // And one byte per write.
    let mut c = server.connect();
    for b in request {
        c.send(std::slice::from_ref(b));
    }
    assert_eq!(c.read_response().body, PAGE);
}

#[test]
fn metrics_are_prometheus_text() {
    let server = Server::start(&["--interval", "5"]);
    let mut s = server.connect();
    s.send(&get_events("/events?count=2", ""));
    s.read_to_eof();
    let mut c = server.connect();
    let r = get(&mut c, "/metrics");
    assert_eq!(r.header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "sse_open_connections 1",
        "sse_streams_started_total{kind=\"new\"} 1",
        "sse_streams_ended_total{reason=\"count\"} 1",
        "sse_events_sent_total 2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[test]
fn the_refusal_shown_in_the_readme_is_exact() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    let r = c.read_response();
    assert_eq!(
        r.head,
        "HTTP/1.1 400 Bad Request\r\nDate: <date>\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 30\r\n\r\n"
    );
    assert_eq!(r.body, b"HTTP/1.1 request without Host\n");
    c.expect_eof();
}

#[test]
fn percent_encoded_unreserved_bytes_route_the_same() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    assert_eq!(get(&mut c, "/%69ndex.html").body, PAGE);
    c.send(b"HEAD /%65vents HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response_to(true).head, STREAM_HEAD);
    assert_eq!(get(&mut c, "/%6detrics").header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
}

#[test]
fn expect_100_continue_gets_the_interim_answer_first() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    // Before the content is sent, the client is told to send it.
    assert_eq!(c.read_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello");
    let r = c.read_response();
    assert_eq!(r.status(), 405);
    assert_eq!(get(&mut c, "/").status(), 200, "the connection goes on");
}
