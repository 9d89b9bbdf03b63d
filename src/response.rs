//! Responses as values, and the one place they become bytes.
//!
//! `route` decides a `Response` (a status, extra fields, what the
//! connection does next, and a body); `write` formats it. Every head
//! sse-server writes is, in this order: `HTTP/1.1 <status> <reason>`,
//! `Date`, the extra fields, `Connection` (when one is said), then what the
//! body needs (`Content-Type` and `Content-Length`, or the three fields of
//! an event stream), then the empty line. The order is fixed and documented
//! in the README, so raw-socket tests can expect exact bytes.

use std::borrow::Cow;
use std::fs::File;

use crate::ascii::push_u64;
use crate::config::MAX_APPEND;
use crate::date::HttpDate;
use crate::stream::StreamStart;

/// The value of `Allow` on every route.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// The fields of an event stream's head (contract §3): no length, the body
/// ends when the connection closes.
const STREAM_FIELDS: &[u8] = b"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
/// Where the fields after `Content-Type` start in `STREAM_FIELDS`.
const STREAM_FIELDS_AFTER_TYPE: usize = "Content-Type: text/event-stream\r\n".len();

const TEXT: &str = "text/plain; charset=utf-8";

/// Every status sse-server sends, with its reason phrase (RFC 9110 §15).
/// `/metrics` counts responses by these.
pub const STATUSES: [(u16, &str); 18] = [
    (200, "OK"),
    (204, "No Content"),
    (301, "Moved Permanently"),
    (307, "Temporary Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (408, "Request Timeout"),
    (413, "Content Too Large"),
    (414, "URI Too Long"),
    (431, "Request Header Fields Too Large"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (505, "HTTP Version Not Supported"),
];

pub fn reason(status: u16) -> &'static str {
    STATUSES.iter().find(|s| s.0 == status).map_or("Unknown", |s| s.1)
}

/// What the connection does once the response is out, and whether the
/// head says so with a `Connection` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Read the next request; `say`: `Connection: keep-alive` (an HTTP/1.0
    /// client that asked for it).
    KeepAlive { say: bool },
    /// Close; `say`: `Connection: close` (an event stream's end is its close
    /// and says nothing).
    Close { say: bool },
}

#[derive(Debug)]
pub enum Body<'a> {
    /// No content and no `Content-Length` (`204`).
    Empty,
    /// `text/plain` content: the text and a newline.
    Text(&'a str),
    Bytes {
        content_type: &'static str,
        bytes: Cow<'a, [u8]>,
    },
    /// A file too large to hold, read as it is sent.
    File {
        content_type: &'static str,
        file: File,
        len: u64,
    },
    /// An event stream's head; the stream follows (`GET`).
    Stream(StreamStart),
    /// An event stream's head and these bytes; the connection then goes
    /// on or closes as `then` says (`HEAD /events`, the full answer).
    Events(Cow<'a, [u8]>),
    /// No answer yet: the request's content is an event to publish, and
    /// the answer (its id) comes once it is read. The connection holds it;
    /// `write` never sees it.
    Publish(crate::channel::PublishTo),
}

#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    /// Extra fields, written in this order after `Date`.
    pub fields: Vec<(&'static str, Cow<'a, str>)>,
    pub then: Then,
    /// `HEAD`: the head of `GET`, no body.
    pub head_only: bool,
    /// The answer of a full server, counted in `sse_connections_shed_total`.
    pub shed: bool,
    pub body: Body<'a>,
}

impl Body<'_> {
    /// The length of the content, for the access log (`None`: a stream).
    pub fn content_len(&self) -> Option<u64> {
        match self {
            Body::Empty | Body::Publish(_) => Some(0),
            Body::Text(t) => Some(t.len() as u64 + 1),
            Body::Bytes { bytes, .. } => Some(bytes.len() as u64),
            Body::File { len, .. } => Some(*len),
            Body::Stream(_) | Body::Events(_) => None,
        }
    }
}

/// What of a response is left once its head (and any bytes) are written.
#[derive(Debug)]
pub enum Rest {
    Nothing,
    File(File, u64),
    /// A body too large to append at once (past `MAX_APPEND`).
    Document(Vec<u8>),
    Stream(StreamStart),
}

impl<'a> Response<'a> {
    pub fn new(status: u16, then: Then, body: Body<'a>) -> Response<'a> {
        Response { status, fields: Vec::new(), then, head_only: false, shed: false, body }
    }

    pub fn field(mut self, name: &'static str, value: impl Into<Cow<'a, str>>) -> Response<'a> {
        self.fields.push((name, value.into()));
        self
    }

    /// The same response with nothing borrowed, to be held until request
    /// content has been read. Files and streams never wait for content
    /// (`GET` and `HEAD` have none), so they become `Empty`.
    pub fn into_owned(self) -> Response<'static> {
        let body = match self.body {
            Body::Text(t) => Body::Bytes { content_type: TEXT, bytes: Cow::Owned(text_bytes(t)) },
            Body::Bytes { content_type, bytes } => Body::Bytes { content_type, bytes: Cow::Owned(bytes.into_owned()) },
            Body::Events(b) => Body::Events(Cow::Owned(b.into_owned())),
            Body::Publish(to) => Body::Publish(to),
            Body::Empty | Body::File { .. } | Body::Stream(_) => {
                debug_assert!(matches!(self.body, Body::Empty), "a file or stream answer held for content");
                Body::Empty
            }
        };
        let fields = self.fields.into_iter().map(|(n, v)| (n, Cow::Owned(v.into_owned()))).collect();
        Response { status: self.status, fields, then: self.then, head_only: self.head_only, shed: self.shed, body }
    }
}

fn text_bytes(t: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(t.len() + 1);
    v.extend_from_slice(t.as_bytes());
    v.push(b'\n');
    v
}

/// Appends the response to `out`: its head and, unless `head_only`, the
/// bytes of its body. A file or a stream is handed back to be sent.
pub fn write(out: &mut Vec<u8>, date: &HttpDate, r: Response) -> Rest {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(r.status));
    out.push(b' ');
    out.extend_from_slice(reason(r.status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &r.fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match r.then {
        Then::KeepAlive { say: true } => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Then::Close { say: true } => out.extend_from_slice(b"Connection: close\r\n"),
        Then::KeepAlive { say: false } | Then::Close { say: false } => {}
    }
    let body = |out: &mut Vec<u8>, bytes: &[u8]| {
        if !r.head_only {
            out.extend_from_slice(bytes);
        }
    };
    match r.body {
        Body::Empty => out.extend_from_slice(b"\r\n"),
        Body::Text(t) => {
            content(out, TEXT, t.len() as u64 + 1);
            body(out, t.as_bytes());
            body(out, b"\n");
        }
        Body::Bytes { content_type, bytes } => {
            content(out, content_type, bytes.len() as u64);
            if r.head_only {
                return Rest::Nothing;
            }
            if bytes.len() > MAX_APPEND / 2 {
                // Sent from where it is, a piece at a time: the output
                // buffer stays within its bound.
                return Rest::Document(bytes.into_owned());
            }
            body(out, &bytes);
        }
        Body::File { content_type, file, len } => {
            content(out, content_type, len);
            if !r.head_only && len > 0 {
                return Rest::File(file, len);
            }
        }
        Body::Stream(start) => {
            match &start.head.content_type {
                None => out.extend_from_slice(STREAM_FIELDS),
                Some(t) => {
                    out.extend_from_slice(b"Content-Type: ");
                    out.extend_from_slice(t.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(STREAM_FIELDS.get(STREAM_FIELDS_AFTER_TYPE..).unwrap_or_default());
                }
            }
            if start.head.chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
            out.extend_from_slice(b"\r\n");
            if !r.head_only {
                return Rest::Stream(start);
            }
        }
        Body::Events(bytes) => {
            out.extend_from_slice(STREAM_FIELDS);
            out.extend_from_slice(b"\r\n");
            body(out, &bytes);
        }
        Body::Publish(_) => {
            debug_assert!(false, "a publish is answered once its content is read");
            out.extend_from_slice(b"\r\n");
        }
    }
    Rest::Nothing
}

/// `Content-Type`, `Content-Length` and the end of the head.
fn content(out: &mut Vec<u8>, content_type: &str, len: u64) {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_u64(out, len);
    out.extend_from_slice(b"\r\n\r\n");
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Response) -> String {
        let mut out = Vec::new();
        assert!(matches!(write(&mut out, &HttpDate::at(0), r), Rest::Nothing));
        String::from_utf8(out).unwrap()
    }

    const DATE: &str = "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

    #[test]
    fn every_kind_of_head_is_exact() {
        let keep = Then::KeepAlive { say: false };
        for (r, want) in [
            (
                Response::new(404, keep, Body::Text("not found")),
                "HTTP/1.1 404 Not Found\r\n{DATE}Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 10\r\n\r\nnot found\n",
            ),
            (
                Response {
                    head_only: true,
                    ..Response::new(405, Then::Close { say: true }, Body::Text("method not allowed"))
                }
                .field("Allow", ALLOW),
                "HTTP/1.1 405 Method Not Allowed\r\n{DATE}Allow: GET, HEAD, OPTIONS\r\nConnection: close\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n",
            ),
            (
                Response::new(204, Then::KeepAlive { say: true }, Body::Empty).field("Allow", ALLOW),
                "HTTP/1.1 204 No Content\r\n{DATE}Allow: GET, HEAD, OPTIONS\r\nConnection: keep-alive\r\n\r\n",
            ),
            (
                Response::new(200, keep, Body::Bytes { content_type: "image/png", bytes: Cow::Borrowed(b"PNG") }),
                "HTTP/1.1 200 OK\r\n{DATE}Content-Type: image/png\r\nContent-Length: 3\r\n\r\nPNG",
            ),
            (
                Response::new(200, Then::Close { say: false }, Body::Events(Cow::Borrowed(b": full\n\n"))),
                "HTTP/1.1 200 OK\r\n{DATE}Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                 X-Accel-Buffering: no\r\n\r\n: full\n\n",
            ),
        ] {
            assert_eq!(text(r), want.replace("{DATE}", DATE));
        }
    }

    #[test]
    fn owned_copies_write_the_same_bytes() {
        let make = || Response::new(405, Then::KeepAlive { say: false }, Body::Text("no")).field("Allow", ALLOW);
        assert_eq!(text(make().into_owned()), text(make()));
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(299), "Unknown");
    }
}
