//! What the server must send: the exact bytes of the contract (the stream
//! head, events, the page, the full answer) and the checks that read an
//! answer off a `Client` and fail the test, with the difference, unless it
//! is exact.

use super::client::Client;

/// The head of `GET /events` once `normalize_date` has seen it.
pub const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Type: text/event-stream\r\n\
    Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n";

/// The page at `/` of this project's `www`, which the tests serve.
pub const PAGE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/index.html"));

/// Replaces the value of `Date` with `<date>`, after checking its form.
pub fn normalize_date(head: &str) -> String {
    head.trim_end_matches("\r\n")
        .lines()
        .map(|l| match l.strip_prefix("Date: ") {
            Some(v) => {
                assert_eq!(v.len(), 29, "Date {v:?}");
                assert!(v.ends_with(" GMT") && v.as_bytes()[3] == b',', "Date {v:?}");
                "Date: <date>".to_string()
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n\r\n"
}

/// The exact bytes of event `n` of connection `c`.
pub fn event(c: u64, n: u64) -> String {
    format!("event: my-custom-event\nid: {c}-{n}\ndata: Server says hi! (event #{n} of connection #{c})\n\n")
}

/// The exact bytes of event `n` of connection `c` with `size=BYTES`: the
/// data is padded with one space and dots to `size` bytes.
pub fn event_sized(c: u64, n: u64, size: usize) -> String {
    let mut data = format!("Server says hi! (event #{n} of connection #{c})");
    if size > data.len() {
        data.push(' ');
        while data.len() < size {
            data.push('.');
        }
    }
    format!("event: my-custom-event\nid: {c}-{n}\ndata: {data}\n\n")
}

/// The body a full server sends an `EventSource`: `Some(retry)` if `body`
/// is exactly that.
pub fn full_retry(body: &[u8]) -> Option<u64> {
    let rest = std::str::from_utf8(body).ok()?.strip_prefix(": sse-server is full, retry later\nretry: ")?;
    let digits = rest.strip_suffix("\n\n")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads the stream head; fails unless it is exact.
pub fn expect_stream_head(c: &mut Client) {
    let head = normalize_date(&String::from_utf8(c.read_until(b"\r\n\r\n")).expect("utf-8 head"));
    assert_eq!(head, STREAM_HEAD);
}

/// Reads `want.len()` bytes; fails unless they are `want`.
pub fn expect_bytes(c: &mut Client, want: &str) {
    let got = c.read_exact_n(want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
}

/// What a stream connection received, as text: checks the exact stream
/// head at its start and returns what follows it.
pub fn stream_body(raw: &[u8]) -> String {
    let text = std::str::from_utf8(raw).unwrap_or_else(|_| panic!("not UTF-8: {:?}", String::from_utf8_lossy(raw)));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no stream head in {text:?}"));
    assert_eq!(normalize_date(&format!("{head}\r\n\r\n")), STREAM_HEAD);
    body.to_string()
}

/// `200` for `GET /` on a kept-alive connection: the page exactly.
pub fn expect_index(c: &mut Client) {
    expect_page(c, "");
}

/// `200` for `GET /` with `Connection: close`: the page, then EOF.
pub fn expect_index_and_close(c: &mut Client) {
    expect_page(c, "Connection: close\r\n");
    c.expect_eof();
}

fn expect_page(c: &mut Client, connection: &str) {
    let r = c.read_response();
    let expected = format!(
        "HTTP/1.1 200 OK\r\nDate: <date>\r\n{connection}Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n",
        PAGE.len()
    );
    assert_eq!(r.head, expected);
    assert!(r.body == PAGE, "GET / body differs from www/index.html");
}

/// `405` for `POST /`; the connection stays open.
pub fn expect_405(c: &mut Client) {
    let r = c.read_response();
    let len = r.header("Content-Length").unwrap_or("<none>");
    let expected = format!(
        "HTTP/1.1 405 Method Not Allowed\r\nDate: <date>\r\nAllow: GET, HEAD, OPTIONS\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n\r\n"
    );
    assert_eq!(r.head, expected);
    check_why(&r.body, "405");
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => panic!("no reason phrase for {status} in these tests"),
    }
}

/// Reads a refusal: the exact head, a short body, then the end of the
/// connection with nothing after the response.
pub fn expect_refusal(c: &mut Client, status: u16) {
    let r = c.read_response();
    let len = r.header("Content-Length").unwrap_or("<none>");
    let expected = format!(
        "HTTP/1.1 {status} {}\r\nDate: <date>\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n\r\n",
        reason(status)
    );
    assert_eq!(r.head, expected);
    check_why(&r.body, &r.head);
    c.expect_eof();
}

/// The body of a refusal: short text that says why, ending in a newline.
pub fn check_why(body: &[u8], what: &str) {
    let text = std::str::from_utf8(body).unwrap_or_else(|_| panic!("{what}: body not UTF-8: {body:?}"));
    assert!(text.len() > 1 && text.len() < 200, "{what}: body {text:?}");
    assert!(text.ends_with('\n') && !text[..text.len() - 1].contains(['\n', '\r']), "{what}: body {text:?}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{what}: body {text:?}");
}

/// Splits what a connection received into responses (head, body) by their
/// `Content-Length`; whatever cannot be parsed is a failure.
pub fn split_responses(mut raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("not a response: {:?}", String::from_utf8_lossy(raw)))
            + 4;
        let head = normalize_date(&String::from_utf8_lossy(&raw[..end]));
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
        let body = raw.get(end..end + len).unwrap_or_else(|| panic!("short body after {head:?}"));
        out.push((head, body.to_vec()));
        raw = &raw[end + len..];
    }
    out
}
