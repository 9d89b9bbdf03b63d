//! The response head of an event stream: is it one, and how is its body
//! framed (RFC 9112 §6.3)?
//!
//! Pure: bytes in, a verdict out. The caller keeps the head bytes, bounded
//! by `MAX_HEAD`; `httparse` does the grammar, with at most `MAX_FIELDS`;
//! whether the head opens a stream (status and `Content-Type`) is
//! `sse_server::eventsource::check_response`, the rule of `EventSource`.

use std::borrow::Cow;
use std::fmt;

use sse_server::eventsource::{self, Failure};

/// Largest response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields accepted.
pub const MAX_FIELDS: usize = 64;

/// How the body after the head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: at the close.
    UntilClose,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or too many fields.
    Malformed,
    TooLarge,
    /// A status other than 200.
    Status(u16),
    /// 200, but not `Content-Type: text/event-stream`.
    NotEventStream,
    /// A transfer coding other than `chunked` alone, or a bad length.
    BadFraming,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Malformed => f.write_str("malformed response head"),
            HeadError::TooLarge => f.write_str("response head too large"),
            HeadError::Status(code) => write!(f, "status {code}"),
            HeadError::NotEventStream => f.write_str("200 without Content-Type: text/event-stream"),
            HeadError::BadFraming => f.write_str("unsupported Transfer-Encoding or bad Content-Length"),
        }
    }
}

/// A complete response head, as a client needs it before it judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    /// Its length, blank line included: the body starts there.
    pub len: usize,
    pub status: u16,
    /// Every `Content-Type` value joined with `, `, as Fetch combines them;
    /// empty when there is none.
    pub content_type: Cow<'a, [u8]>,
    /// The `Location` value, when the head has exactly one.
    pub location: Option<&'a [u8]>,
    /// How the body ends, or why it cannot be read.
    pub framing: Result<Framing, HeadError>,
    /// A `Connection` field names `close`: the server closes after this
    /// response.
    pub close: bool,
}

/// `Ok(None)` while the head is incomplete; else its length and the body's
/// framing, when it opens an event stream as `EventSource` judges it.
pub fn parse(head: &[u8]) -> Result<Option<(usize, Framing)>, HeadError> {
    let Some(h) = self::head(head)? else { return Ok(None) };
    eventsource::check_response(h.status, &h.content_type).map_err(|failure| match failure {
        Failure::Status(code) => HeadError::Status(code),
        Failure::NotEventStream => HeadError::NotEventStream,
    })?;
    Ok(Some((h.len, h.framing?)))
}

/// `Ok(None)` while the head is incomplete; an error only when it is not
/// HTTP/1.x or is too large. Whether it opens a stream is not judged.
pub fn head(head: &[u8]) -> Result<Option<Head<'_>>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if head.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Malformed),
    };
    let status = response.code.ok_or(HeadError::Malformed)?;
    let fields: &[httparse::Header<'_>] = response.headers;
    let values = |name: &'static str| fields.iter().filter(move |f| f.name.eq_ignore_ascii_case(name)).map(|f| f.value);
    // Several fields are one value, as Fetch joins them (a copy only then,
    // once per stream).
    let mut types = values("content-type");
    let content_type = match (types.next(), types.next()) {
        (only, None) => Cow::Borrowed(only.unwrap_or_default()),
        _ => Cow::Owned(values("content-type").collect::<Vec<_>>().join(&b", "[..])),
    };
    let mut locations = values("location");
    let location = match (locations.next(), locations.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    };
    let close = values("connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
    Ok(Some(Head { len, status, content_type, location, framing: framing(values), close }))
}

/// The body's framing from the head's fields (RFC 9112 §6.3).
fn framing<'a, I>(values: impl Fn(&'static str) -> I) -> Result<Framing, HeadError>
where
    I: Iterator<Item = &'a [u8]>,
{
    // Transfer-Encoding wins over Content-Length.
    let codings: Vec<&[u8]> = values("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty())
        .collect();
    if !codings.is_empty() {
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
            _ => Err(HeadError::BadFraming),
        };
    }
    let mut length = None;
    for value in values("content-length") {
        let n = parse_decimal(value.trim_ascii()).ok_or(HeadError::BadFraming)?;
        if length.is_some_and(|l| l != n) {
            return Err(HeadError::BadFraming);
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE_SERVER: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
        Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nDate: Sun, 23 Nov 2025 20:00:00 GMT\r\n\r\n";
    const NODE: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
        Cache-Control: no-cache\r\nDate: Sun, 23 Nov 2025 20:00:00 GMT\r\nConnection: keep-alive\r\n\
        Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn every_prefix_is_incomplete() {
        for head in [SSE_SERVER, NODE] {
            for end in 0..head.len() {
                assert_eq!(parse(&head.as_bytes()[..end]), Ok(None), "{:?}", &head[..end]);
            }
        }
    }

    type Want = Result<Option<Framing>, HeadError>;

    #[test]
    fn table() {
        let ct = "Content-Type: text/event-stream\r\n";
        #[rustfmt::skip]
        let cases: Vec<(&str, String, Want)> = vec![
            ("sse-server", SSE_SERVER.into(), Ok(Some(Framing::UntilClose))),
            ("node", NODE.into(), Ok(Some(Framing::Chunked))),
            ("http/1.0", format!("HTTP/1.0 200 OK\r\n{ct}\r\n"), Ok(Some(Framing::UntilClose))),
            ("media type params", "HTTP/1.1 200 OK\r\ncontent-type:  Text/Event-Stream ; charset=utf-8\r\n\r\n".into(),
                Ok(Some(Framing::UntilClose))),
            ("length", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: 12\r\n\r\n"), Ok(Some(Framing::Length(12)))),
            ("same length twice", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: 3\r\nContent-Length: 3\r\n\r\n"),
                Ok(Some(Framing::Length(3)))),
            ("te wins", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: 3\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
                Ok(Some(Framing::Chunked))),
            ("404", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(), Err(HeadError::Status(404))),
            ("503", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n".into(), Err(HeadError::Status(503))),
            ("html", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n".into(), Err(HeadError::NotEventStream)),
            ("two types, the last wins", format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{ct}\r\n"),
                Ok(Some(Framing::UntilClose))),
            ("two types, the last loses", format!("HTTP/1.1 200 OK\r\n{ct}Content-Type: text/html\r\n\r\n"),
                Err(HeadError::NotEventStream)),
            ("204", "HTTP/1.1 204 No Content\r\n\r\n".into(), Err(HeadError::Status(204))),
            ("no type", "HTTP/1.1 200 OK\r\n\r\n".into(), Err(HeadError::NotEventStream)),
            ("type prefix only", "HTTP/1.1 200 OK\r\nContent-Type: text/event-streamx\r\n\r\n".into(),
                Err(HeadError::NotEventStream)),
            ("gzip", format!("HTTP/1.1 200 OK\r\n{ct}Transfer-Encoding: gzip, chunked\r\n\r\n"), Err(HeadError::BadFraming)),
            ("bad length", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: -1\r\n\r\n"), Err(HeadError::BadFraming)),
            ("two lengths", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                Err(HeadError::BadFraming)),
            ("huge length", format!("HTTP/1.1 200 OK\r\n{ct}Content-Length: 99999999999999999999\r\n\r\n"),
                Err(HeadError::BadFraming)),
            ("not http", "SSH-2.0-OpenSSH\r\n\r\n".into(), Err(HeadError::Malformed)),
            ("http/2 line", format!("HTTP/2 200\r\n{ct}\r\n"), Err(HeadError::Malformed)),
        ];
        for (name, head, want) in cases {
            let got = parse(head.as_bytes()).map(|o| {
                o.map(|(len, framing)| {
                    assert_eq!(len, head.len(), "{name}: head length");
                    framing
                })
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn heads_before_judgement() {
        let redirect =
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: /scenarios/basic\r\nTransfer-Encoding: gzip\r\n\r\n";
        let h = head(redirect.as_bytes()).unwrap().unwrap();
        assert_eq!((h.len, h.status, h.location), (redirect.len(), 307, Some(&b"/scenarios/basic"[..])));
        assert_eq!((&*h.content_type, h.framing), (&b""[..], Err(HeadError::BadFraming)));
        let two = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nLocation: /a\r\nContent-Type: text/event-stream\r\n\
                   Location: /b\r\nContent-Length: 5\r\n\r\n";
        let h = head(two.as_bytes()).unwrap().unwrap();
        assert_eq!((&*h.content_type, h.location), (&b"text/html, text/event-stream"[..], None));
        assert_eq!((h.framing, h.close), (Ok(Framing::Length(5)), false));
        let closing =
            "HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive\r\nconnection: Upgrade, CLOSE\r\n\r\n";
        assert!(head(closing.as_bytes()).unwrap().unwrap().close);
        assert_eq!(head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert_eq!(head(b"SSH-2.0\r\n\r\n"), Err(HeadError::Malformed));
    }

    #[test]
    fn body_bytes_are_not_part_of_the_head() {
        let bytes = format!("{SSE_SERVER}data: x\n\n");
        assert_eq!(parse(bytes.as_bytes()), Ok(Some((SSE_SERVER.len(), Framing::UntilClose))));
    }

    #[test]
    fn limits() {
        let mut head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n".to_string();
        for i in 0..MAX_FIELDS {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        head.push_str("\r\n");
        assert_eq!(parse(head.as_bytes()), Err(HeadError::Malformed), "65 fields");
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "v".repeat(MAX_HEAD));
        assert_eq!(parse(&long.as_bytes()[..MAX_HEAD]), Err(HeadError::TooLarge));
        assert_eq!(parse(&long.as_bytes()[..MAX_HEAD - 1]), Ok(None));
    }
}
