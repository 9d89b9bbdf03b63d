//! One connection of a session on the wire, as `EventSource` and Fetch
//! shape it: the request, what a response head means (follow a redirect,
//! fail the connection, read a stream, or a network error), and where the
//! body ends. Pure: bytes in, verdicts out; `session.rs` does the I/O.

use sse_server::eventsource::{Failure, check_response};

use crate::chunked::{self, ChunkError};
use crate::response::{Framing, Head, HeadError};

/// Redirects followed within one connection attempt, as Fetch does.
pub const MAX_REDIRECTS: usize = 20;

/// The request of one connection (WHATWG HTML §9.2.3): `Last-Event-ID`
/// only when the session's last event ID string is not empty. `host` is
/// what `Host` says (`127.0.0.1:8888`).
pub fn request(path: &str, host: &str, last_event_id: Option<&str>) -> Vec<u8> {
    let mut r =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n");
    if let Some(id) = last_event_id {
        // The id never holds CR, LF or NUL (they end lines, or void the
        // `id` field), so it cannot break the request.
        r.push_str("Last-Event-ID: ");
        r.push_str(id);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// What a complete response head means for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A redirect to this path, on a new connection.
    Follow(String),
    /// The client fails the connection and does not reconnect.
    Fail(String),
    /// A network error: the client reconnects, as when a body ends.
    NetworkError(HeadError),
    /// An event stream, with its body framed so.
    Stream(Framing),
}

/// Fetch's redirect statuses.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// What `head` means, after `redirects` redirects in this attempt.
pub fn judge(head: &Head<'_>, redirects: usize) -> Verdict {
    if is_redirect(head.status)
        && let Some(location) = head.location
    {
        return match redirect_path(location) {
            Some(_) if redirects >= MAX_REDIRECTS => Verdict::Fail(format!("more than {MAX_REDIRECTS} redirects")),
            Some(path) => Verdict::Follow(path.to_string()),
            None => Verdict::Fail(format!(
                "status {}: a Location that is not a path: {:?}",
                head.status,
                String::from_utf8_lossy(location)
            )),
        };
    }
    match check_response(head.status, &head.content_type) {
        Err(Failure::Status(code)) => Verdict::Fail(format!("status {code}")),
        Err(Failure::NotEventStream) => {
            let content_type = String::from_utf8_lossy(&head.content_type);
            Verdict::Fail(format!("200 with Content-Type {content_type:?}"))
        }
        Ok(()) => match head.framing {
            Ok(framing) => Verdict::Stream(framing),
            Err(e) => Verdict::NetworkError(e),
        },
    }
}

/// The path a `Location` names, without its fragment: it must start with
/// one `/` (not `//`, another host) and be visible ASCII.
fn redirect_path(location: &[u8]) -> Option<&str> {
    let location = std::str::from_utf8(location.trim_ascii()).ok()?;
    let path = location.split('#').next().unwrap_or_default();
    let plain = path.starts_with('/') && !path.starts_with("//") && path.bytes().all(|b| b.is_ascii_graphic());
    plain.then_some(path)
}

/// Where the body of a stream ends.
#[derive(Debug)]
pub enum Body {
    UntilClose,
    Length(u64),
    Chunked(chunked::Decoder),
}

impl Body {
    pub fn new(framing: Framing) -> Body {
        match framing {
            Framing::UntilClose => Body::UntilClose,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(chunked::Decoder::new()),
        }
    }

    /// The next piece of body data in `input`, a slice of it; `None` when
    /// `input` is used up or the body is over (bytes after it are left).
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, ChunkError> {
        match self {
            Body::UntilClose => Ok(Some(std::mem::take(input)).filter(|data| !data.is_empty())),
            Body::Length(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                let (data, rest) = input.split_at(take);
                *input = rest;
                *left -= take as u64;
                Ok(Some(data).filter(|data| !data.is_empty()))
            }
            Body::Chunked(decoder) => decoder.next(input),
        }
    }

    /// The framing says the body is over (a close ends any body too).
    pub fn is_done(&self) -> bool {
        match self {
            Body::UntilClose => false,
            Body::Length(left) => *left == 0,
            Body::Chunked(decoder) => decoder.is_done(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response;

    #[test]
    fn requests() {
        assert_eq!(
            request("/scenarios/basic?split=1", "127.0.0.1:9", None),
            b"GET /scenarios/basic?split=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: text/event-stream\r\n\
              Cache-Control: no-cache\r\n\r\n"
        );
        assert_eq!(
            request("/s", "[::1]:9", Some("42 \u{e9}")),
            "GET /s HTTP/1.1\r\nHost: [::1]:9\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\
             Last-Event-ID: 42 \u{e9}\r\n\r\n"
                .as_bytes()
        );
    }

    fn verdict(head: &str, redirects: usize) -> Verdict {
        let h = response::head(head.as_bytes()).unwrap().unwrap();
        judge(&h, redirects)
    }

    #[test]
    fn verdicts() {
        let ct = "Content-Type: text/event-stream\r\n";
        let fail = |why: &str| Verdict::Fail(why.to_string());
        let follow = |to: &str| Verdict::Follow(to.to_string());
        #[rustfmt::skip]
        let cases: Vec<(&str, String, Verdict)> = vec![
            ("stream", format!("HTTP/1.1 200 OK\r\n{ct}\r\n"), Verdict::Stream(Framing::UntilClose)),
            ("chunked", format!("HTTP/1.1 200 OK\r\n{ct}Transfer-Encoding: chunked\r\n\r\n"),
                Verdict::Stream(Framing::Chunked)),
            ("bad framing", format!("HTTP/1.1 200 OK\r\n{ct}Transfer-Encoding: gzip\r\n\r\n"),
                Verdict::NetworkError(HeadError::BadFraming)),
            ("text/plain", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".into(),
                fail("200 with Content-Type \"text/plain\"")),
            ("no type", "HTTP/1.1 200 OK\r\n\r\n".into(), fail("200 with Content-Type \"\"")),
            ("204", "HTTP/1.1 204 No Content\r\n\r\n".into(), fail("status 204")),
            ("503", format!("HTTP/1.1 503 Busy\r\n{ct}\r\n"), fail("status 503")),
            ("307", "HTTP/1.1 307 X\r\nLocation: /scenarios/basic\r\n\r\n".into(), follow("/scenarios/basic")),
            ("301 with a query", "HTTP/1.1 301 X\r\nLocation: /a?b=1\r\n\r\n".into(), follow("/a?b=1")),
            ("302", "HTTP/1.1 302 X\r\nLocation: /a\r\n\r\n".into(), follow("/a")),
            ("303", "HTTP/1.1 303 X\r\nLocation: /a\r\n\r\n".into(), follow("/a")),
            ("308, fragment dropped", "HTTP/1.1 308 X\r\nLocation: /a#f\r\n\r\n".into(), follow("/a")),
            ("300 is no redirect", "HTTP/1.1 300 X\r\nLocation: /a\r\n\r\n".into(), fail("status 300")),
            ("304 is no redirect", "HTTP/1.1 304 X\r\nLocation: /a\r\n\r\n".into(), fail("status 304")),
            ("redirect without Location", "HTTP/1.1 302 X\r\n\r\n".into(), fail("status 302")),
            ("two Locations", "HTTP/1.1 302 X\r\nLocation: /a\r\nLocation: /b\r\n\r\n".into(), fail("status 302")),
            ("absolute URL", "HTTP/1.1 302 X\r\nLocation: http://h/a\r\n\r\n".into(),
                fail("status 302: a Location that is not a path: \"http://h/a\"")),
            ("another host", "HTTP/1.1 302 X\r\nLocation: //h/a\r\n\r\n".into(),
                fail("status 302: a Location that is not a path: \"//h/a\"")),
        ];
        for (name, head, want) in cases {
            assert_eq!(verdict(&head, 0), want, "{name}");
        }
        let redirect = "HTTP/1.1 307 X\r\nLocation: /a\r\n\r\n";
        assert_eq!(verdict(redirect, MAX_REDIRECTS - 1), follow("/a"));
        assert_eq!(verdict(redirect, MAX_REDIRECTS), fail("more than 20 redirects"));
    }

    /// The body data of `pieces` in order, and whether the framing ended it.
    fn body(framing: Framing, pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut b = Body::new(framing);
        let mut data = Vec::new();
        for piece in pieces {
            let mut input = *piece;
            while let Some(d) = b.next(&mut input).unwrap() {
                data.extend_from_slice(d);
            }
        }
        (data, b.is_done())
    }

    #[test]
    fn bodies_in_every_split() {
        #[rustfmt::skip]
        let cases: &[(Framing, &str, &str, bool)] = &[
            (Framing::UntilClose, "data: a\n\n", "data: a\n\n", false),
            (Framing::Length(4), "data: a\n\n", "data", true),
            (Framing::Length(0), "data", "", true),
            (Framing::Length(20), "data: a\n\n", "data: a\n\n", false),
            (Framing::Chunked, "3\r\nabc\r\n0\r\n\r\nxyz", "abc", true),
            (Framing::Chunked, "3\r\nabc\r\n", "abc", false),
        ];
        for &(framing, input, want, done) in cases {
            let bytes = input.as_bytes();
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                assert_eq!(body(framing, &[a, b]), (want.as_bytes().to_vec(), done), "{framing:?} {input:?} at {at}");
            }
        }
    }
}
