//! Pure HTTP/1.x request parsing: bytes in, a `Request` or an `HttpError` out.
//!
//! No sockets and no clock. "Not enough bytes yet" is not an error: `parse`
//! returns `Status::Partial` for every strict prefix of a valid head, and an
//! error as soon as the bytes seen can no longer start a valid one, so
//! garbage (a TLS ClientHello, say) is refused at its first byte instead of
//! waiting for the head timeout.
//!
//! The request line is checked here by hand, because httparse accepts bytes
//! above 0x7F in the target and cannot tell a malformed version (`400`) from
//! an unsupported one (`505`); the fields are parsed by `httparse`. Then the
//! semantics that decide framing and routing are read from the fields
//! (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`, `Accept`,
//! `Last-Event-ID`). Every check the contract lists happens here, before any
//! route is looked at.

use crate::ascii::{after, split};
use crate::config::{MAX_CONTENT, MAX_FIELDS, MAX_HEAD, MAX_METHOD};
use crate::uri;

/// The result of feeding bytes to a parser: done, or waiting for more.
#[derive(Debug, PartialEq, Eq)]
pub enum Status<T> {
    Complete(T),
    Partial,
}

/// Why a request is refused. Each one becomes a response with this status,
/// a `text/plain` body of `why`, and `Connection: close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub why: &'static str,
}

const fn err(status: u16, why: &'static str) -> HttpError {
    HttpError { status, why }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.why)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
    Put,
    Delete,
    Connect,
    Trace,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }

    /// Methods are case-sensitive (RFC 9110 §9.1): `get` is not `GET`.
    fn from_token(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"OPTIONS" => Method::Options,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request's content is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head. Slices borrow from the input buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    pub version: Version,
    /// `None` for the `*` target of `OPTIONS *`.
    pub path: Option<&'a [u8]>,
    pub query: &'a [u8],
    pub framing: Framing,
    /// Whether the connection may stay open after this request.
    pub keep_alive: bool,
    /// `Accept` names `text/event-stream` (what every `EventSource` sends).
    pub accepts_event_stream: bool,
    /// `Accept` names `text/html` (a browser navigating to a page).
    pub accepts_html: bool,
    /// `Origin` (a page from another origin: CORS).
    pub origin: Option<&'a [u8]>,
    /// `Host` (checked: `host[:port]`).
    pub host: Option<&'a [u8]>,
    /// `Forwarded` or `X-Forwarded-For` is there: a proxy passed the
    /// request on, so the address it came from is the proxy's.
    pub forwarded: bool,
    /// `Access-Control-Request-Method` is there: an `OPTIONS` is a CORS
    /// preflight.
    pub preflight: bool,
    /// `Authorization` (a publisher's token).
    pub authorization: Option<&'a [u8]>,
    pub last_event_id: Option<&'a [u8]>,
    /// `Expect: 100-continue`: the client waits for an interim response
    /// before it sends the content.
    pub expect_continue: bool,
    /// Bytes of the head, the final empty line included.
    pub head_len: usize,
}

/// Parses one request head from the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Status<Request<'_>>, HttpError> {
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    let partial = || {
        if buf.len() >= MAX_HEAD { Err(err(431, "request head larger than 8 KiB")) } else { Ok(Status::Partial) }
    };
    let mut start = 0;
    while let Some(&b) = buf.get(start) {
        match b {
            b'\n' => start += 1,
            b'\r' => match buf.get(start + 1) {
                Some(b'\n') => start += 2,
                Some(_) => return Err(err(400, "bare CR before the request line")),
                None => return partial(),
            },
            _ => break,
        }
    }
    let line = match request_line(after(buf, start))? {
        Status::Complete(line) => line,
        // The method is at most `MAX_METHOD` bytes and the version is
        // short: a request line this long is long because of its target.
        Status::Partial if buf.len() >= MAX_HEAD => return Err(err(414, "request target longer than 8 KiB")),
        Status::Partial => return partial(),
    };
    let fields_at = start + line.len;
    if fields_at > MAX_HEAD {
        return Err(err(414, "request target longer than 8 KiB"));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let fields = after(buf, fields_at);
    let (fields_len, headers) = match httparse::parse_headers(fields, &mut headers) {
        Ok(httparse::Status::Complete((n, h))) => (n, h),
        Ok(httparse::Status::Partial) => return partial(),
        Err(httparse::Error::TooManyHeaders) => return Err(err(431, "more than 64 header fields")),
        Err(httparse::Error::NewLine) => return Err(err(400, "bare CR or malformed line ending in a header field")),
        Err(_) => {
            return Err(err(
                400,
                "malformed header field (whitespace before a colon, obs-fold, or a byte not allowed)",
            ));
        }
    };
    let head_len = fields_at + fields_len;
    if head_len > MAX_HEAD {
        return Err(err(431, "request head larger than 8 KiB"));
    }
    let get_or_head = matches!(line.method, b"GET" | b"HEAD");
    let fields = read_fields(headers, line.version, get_or_head)?;

    // The method is only looked up once the whole head is known to be
    // well-formed, so that a malformed request of any method is a 400.
    let method = Method::from_token(line.method).ok_or(err(501, "method not implemented"))?;
    if line.target == b"*" && method != Method::Options {
        return Err(err(400, "the target * is only allowed with OPTIONS"));
    }
    let (path, query) = if line.target == b"*" {
        (None, &b""[..])
    } else {
        let (p, q) = uri::path_and_query(line.target);
        (Some(p), q)
    };
    let framing = match fields.framing {
        Framing::Length(0) => Framing::None,
        f => f,
    };
    let keep_alive = match line.version {
        Version::Http11 => !fields.close,
        Version::Http10 => fields.keep_alive && !fields.close,
    };
    Ok(Status::Complete(Request {
        method,
        version: line.version,
        path,
        query,
        framing,
        keep_alive,
        accepts_event_stream: fields.accepts_event_stream,
        accepts_html: fields.accepts_html,
        origin: fields.origin,
        host: fields.host,
        forwarded: fields.forwarded,
        preflight: fields.preflight,
        authorization: fields.authorization,
        last_event_id: fields.last_event_id,
        expect_continue: fields.expect_continue && line.version == Version::Http11,
        head_len,
    }))
}

struct RequestLine<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: Version,
    /// Bytes of the line with its line ending.
    len: usize,
}

/// `method SP request-target SP HTTP-version CRLF`, one space between parts.
fn request_line(buf: &[u8]) -> Result<Status<RequestLine<'_>>, HttpError> {
    let method_len = buf.iter().position(|&b| !uri::is_tchar(b)).unwrap_or(buf.len());
    if method_len > MAX_METHOD {
        // Longer than any method HTTP knows: no need to wait for the rest.
        return Err(err(501, "method not implemented"));
    }
    match buf.get(method_len) {
        None => return Ok(Status::Partial),
        Some(b' ') if method_len > 0 => {}
        Some(_) => return Err(err(400, "malformed request line: the method is not a token")),
    }
    let (method, rest) = split(buf, method_len);
    let rest = after(rest, 1);
    let target_len = rest.iter().position(|&b| b == b' ' || !uri::is_target_byte(b)).unwrap_or(rest.len());
    match rest.get(target_len) {
        None => return Ok(Status::Partial),
        Some(b' ') if target_len > 0 => {}
        Some(b'#') => return Err(err(400, "malformed request line: the target has a fragment")),
        Some(_) => return Err(err(400, "malformed request line: a byte not allowed in the target")),
    }
    let (target, rest) = split(rest, target_len);
    let rest = after(rest, 1);
    // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF (or a lone LF,
    // which RFC 9112 §2.2 allows a recipient to accept).
    const SHAPE: &[u8] = b"HTTP/0.0";
    for (&b, &shape) in rest.iter().zip(SHAPE) {
        let ok = match shape {
            b'0' => b.is_ascii_digit(),
            s => b == s,
        };
        if !ok {
            return Err(err(400, "malformed request line: bad HTTP version"));
        }
    }
    let eol = match rest.get(SHAPE.len()..) {
        None | Some([]) | Some([b'\r']) => return Ok(Status::Partial),
        Some([b'\n', ..]) => 1,
        Some([b'\r', b'\n', ..]) => 2,
        Some(_) => return Err(err(400, "malformed request line: bad line ending")),
    };
    let version = match rest.get(..SHAPE.len()) {
        Some(v) => v,
        None => return Ok(Status::Partial),
    };
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ => return Err(err(505, "HTTP version not supported")),
    };
    uri::check_target(target).map_err(|why| err(400, why))?;
    let len = method_len + 1 + target_len + 1 + SHAPE.len() + eol;
    Ok(Status::Complete(RequestLine { method, target, version, len }))
}

/// What routing and framing need from the header fields.
struct Fields<'a> {
    framing: Framing,
    close: bool,
    keep_alive: bool,
    accepts_event_stream: bool,
    accepts_html: bool,
    origin: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
    forwarded: bool,
    preflight: bool,
    authorization: Option<&'a [u8]>,
    last_event_id: Option<&'a [u8]>,
    expect_continue: bool,
}

fn read_fields<'a>(
    headers: &[httparse::Header<'a>],
    version: Version,
    get_or_head: bool,
) -> Result<Fields<'a>, HttpError> {
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_count = 0;
    let mut other_coding = false;
    let mut last_is_chunked = false;
    let mut f = Fields {
        framing: Framing::None,
        close: false,
        keep_alive: false,
        accepts_event_stream: false,
        accepts_html: false,
        origin: None,
        host: None,
        forwarded: false,
        preflight: false,
        authorization: None,
        last_event_id: None,
        expect_continue: false,
    };
    let mut last_event_ids = 0;
    for h in headers {
        let value = trim_ows(h.value);
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            uri::check_host(value).map_err(|why| err(400, why))?;
            f.host = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // RFC 9110 §8.6: a list of identical values may be accepted as
            // one; anything else is unrecoverable framing.
            for item in list(value) {
                let n = crate::ascii::parse_decimal(item).ok_or(err(400, "invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(err(400, "Content-Length repeated with different values"));
                }
                length = Some(n);
            }
            if length.is_none() {
                return Err(err(400, "invalid Content-Length"));
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            for coding in list(value) {
                last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                if last_is_chunked {
                    chunked_count += 1;
                } else if coding.is_empty() {
                    return Err(err(400, "empty transfer coding"));
                } else {
                    other_coding = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in list(value) {
                if option.eq_ignore_ascii_case(b"close") {
                    f.close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    f.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"accept") {
            for range in list(value) {
                let media = trim_ows(range.split(|&b| b == b';').next().unwrap_or_default());
                f.accepts_event_stream |= media.eq_ignore_ascii_case(b"text/event-stream");
                f.accepts_html |= media.eq_ignore_ascii_case(b"text/html");
            }
        } else if name.eq_ignore_ascii_case(b"forwarded") || name.eq_ignore_ascii_case(b"x-forwarded-for") {
            f.forwarded = true;
        } else if name.eq_ignore_ascii_case(b"origin") {
            f.origin = Some(value);
        } else if name.eq_ignore_ascii_case(b"access-control-request-method") {
            f.preflight = true;
        } else if name.eq_ignore_ascii_case(b"authorization") {
            // One credential: with two, which one is checked would be up
            // to the order of the fields.
            if f.authorization.replace(value).is_some() {
                return Err(err(400, "more than one Authorization field"));
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            f.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"last-event-id") {
            last_event_ids += 1;
            f.last_event_id = Some(value);
        }
    }
    if version == Version::Http11 && hosts == 0 {
        return Err(err(400, "HTTP/1.1 request without Host"));
    }
    if hosts > 1 {
        return Err(err(400, "more than one Host field"));
    }
    if last_event_ids > 1 {
        // Two ids cannot both be the last one: start a new stream.
        f.last_event_id = Some(b"");
    }
    // Content on GET or HEAD is refused before its size or its codings are
    // looked at (RFC 9110 §9.3.1: a known smuggling vector).
    if get_or_head && (transfer_encoding || length.is_some_and(|n| n > 0)) {
        return Err(err(400, "GET and HEAD requests must not have content"));
    }
    if transfer_encoding {
        if version == Version::Http10 {
            return Err(err(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if length.is_some() {
            return Err(err(400, "both Content-Length and Transfer-Encoding"));
        }
        // RFC 9112 §6.3: a final coding other than chunked leaves the
        // length unknowable, and the server MUST answer 400 and close.
        if !last_is_chunked {
            return Err(err(400, "Transfer-Encoding must end in chunked"));
        }
        if chunked_count != 1 {
            return Err(err(400, "Transfer-Encoding must name chunked exactly once"));
        }
        // A coding before chunked (gzip, chunked) is framed, but not
        // implemented here.
        if other_coding {
            return Err(err(501, "transfer coding not implemented (only chunked is)"));
        }
        f.framing = Framing::Chunked;
    } else if let Some(n) = length {
        if n > MAX_CONTENT {
            return Err(err(413, "content larger than 64 KiB"));
        }
        f.framing = Framing::Length(n);
    }
    Ok(f)
}

/// The elements of a comma-separated list, trimmed; empty elements are
/// kept (as empty slices) so callers can refuse them where that matters.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let empty = value.is_empty();
    value.split(|&b| b == b',').map(trim_ows).filter(move |_| !empty)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
