//! Which response a well-formed request gets: the routes of the contract.
//!
//! `respond` appends the response to the connection's output and says what
//! the connection does next. Requests reach it only after every check of
//! `http::parse`, so a malformed request never gets here (it gets `error`).
//!
//! | path               | GET, HEAD              | OPTIONS | others |
//! | ------------------ | ---------------------- | ------- | ------ |
//! | `/events`          | the stream             | 204     | 405    |
//! | `/metrics`         | Prometheus text        | 204     | 405    |
//! | `*`                | (400 in `http`)        | 204     | (400)  |
//! | `/`, anything else | a file of www, or 404  | 204     | 405    |

use std::fs::File;

use crate::config::FULL_RETRY_MS;
use crate::conn::Ctx;
use crate::http::{HttpError, Method, Request, Version};
use crate::metrics::Metrics;
use crate::response::{self, ALLOW, HttpDate, Reply};
use crate::sse;
use crate::stream::Stream;
use crate::www::{self, Found};

/// What the connection does after a response.
#[derive(Debug)]
pub enum Next {
    KeepAlive,
    Close,
    Stream(Stream),
}

/// The stream head (contract §3): no length, the body ends at close.
const STREAM_FIELDS: &[u8] = b"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";

pub fn respond(req: &Request, full: bool, out: &mut Vec<u8>, file: &mut Option<(File, u64)>, cx: &mut Ctx) -> Next {
    let head_only = req.method == Method::Head;
    if full {
        return shed(req, out, cx);
    }
    let Some(path) = req.path else {
        return no_content(out, cx, req, ALLOW);
    };
    match (path, req.method) {
        (_, Method::Options) => return no_content(out, cx, req, ALLOW),
        (_, Method::Get | Method::Head) => {}
        _ => return plain(out, cx, req, 405, "method not allowed", ALLOW),
    }
    // Percent-encoded unreserved bytes mean the same (RFC 3986 §6.2.2.2):
    // `/%65vents` is `/events`. Only the choice of route uses the decoded
    // path; a file is looked up from the path as sent, decoded once there.
    let decoded = if path.contains(&b'%') { crate::uri::decode_path(path) } else { None };
    match decoded.as_deref().unwrap_or(path) {
        b"/events" => events(req, out, cx),
        b"/metrics" => {
            let mut body = Vec::new();
            let m = &cx.metrics;
            m.render(&mut body, cx.open_connections, crate::metrics::rss_bytes(), crate::metrics::open_fds());
            let ct = "text/plain; version=0.0.4; charset=utf-8";
            with_body(out, &mut cx.metrics, &cx.date, req, ct, &body)
        }
        _ => match cx.www.lookup(path) {
            Found::Builtin => with_body(out, &mut cx.metrics, &cx.date, req, www::HTML, www::BUILTIN_INDEX),
            Found::Cached { index, content_type } => {
                with_body(out, &mut cx.metrics, &cx.date, req, content_type, cx.www.cached(index))
            }
            Found::Bytes { bytes, content_type } => {
                with_body(out, &mut cx.metrics, &cx.date, req, content_type, &bytes)
            }
            Found::File { file: f, len, content_type } => {
                ok(out, &mut cx.metrics, &cx.date, req, content_type, len);
                if !head_only && len > 0 {
                    *file = Some((f, len));
                }
                next(req)
            }
            Found::NotFound => plain(out, cx, req, 404, "not found", b""),
        },
    }
}

/// A refused request (contract §2, "Bad requests"): always closes. It
/// follows the answers to earlier pipelined requests, in order.
pub fn error(e: &HttpError, out: &mut Vec<u8>, cx: &mut Ctx) {
    cx.metrics.response(e.status);
    let reply = Reply { keep_alive: false, version: Version::Http11, head_only: false };
    response::plain(out, &cx.date, reply, e.status, e.why, b"");
}

fn events(req: &Request, out: &mut Vec<u8>, cx: &mut Ctx) -> Next {
    let params = match sse::parse_query(req.query) {
        Ok(p) => p,
        Err(why) => return plain(out, cx, req, 400, why, b""),
    };
    let last = req.last_event_id.and_then(sse::parse_last_event_id);
    if let (Some((_, n)), Some(count)) = (last, params.count)
        && n >= count
    {
        // Tells EventSource the stream is over: it does not reconnect.
        return no_content(out, cx, req, b"");
    }
    // N = u64::MAX has no next event: such an id starts a new stream.
    let resume = last.filter(|&(_, n)| n < u64::MAX);
    cx.metrics.response(200);
    response::start(out, 200, &cx.date);
    out.extend_from_slice(STREAM_FIELDS);
    out.extend_from_slice(b"\r\n");
    if req.method == Method::Head {
        // The very head of GET (no Connection field: a stream's end is its
        // close); the connection then goes on, or closes, as asked.
        return next(req);
    }
    let (conn, seen) = match resume {
        Some((c, n)) => {
            cx.metrics.streams_resumed += 1;
            log::info!("Client resumed event stream (connection #{c}, Last-Event-Id: {c}-{n})");
            (c, n)
        }
        None => {
            let c = cx.next_stream;
            cx.next_stream += 1;
            cx.metrics.streams_new += 1;
            let id = req.last_event_id.map(String::from_utf8_lossy);
            log::info!(
                "Client connected to event stream (connection #{c}, Last-Event-Id: {})",
                id.as_deref().unwrap_or("none")
            );
            (c, 0)
        }
    };
    cx.metrics.open_streams += 1;
    Next::Stream(Stream::new(conn, seen, &params, cx.config.interval, cx.now))
}

/// The answer of a full server (contract §2, "Full"): an `EventSource` is
/// told to come back after a random 1 to 5 s, anyone else gets `503`.
fn shed(req: &Request, out: &mut Vec<u8>, cx: &mut Ctx) -> Next {
    cx.metrics.shed += 1;
    if !req.accepts_event_stream {
        plain(
            out,
            cx,
            &Request { keep_alive: false, ..*req },
            503,
            "sse-server is full, retry later",
            b"Retry-After: 1\r\n",
        );
        return Next::Close;
    }
    cx.metrics.response(200);
    response::start(out, 200, &cx.date);
    out.extend_from_slice(STREAM_FIELDS);
    out.extend_from_slice(b"\r\n");
    if req.method != Method::Head {
        let (lo, hi) = FULL_RETRY_MS;
        sse::write_full(out, lo + next_random(&mut cx.rng) % (hi - lo + 1));
    }
    Next::Close
}

fn next(req: &Request) -> Next {
    if req.keep_alive { Next::KeepAlive } else { Next::Close }
}

/// A `200` head of `len` bytes of `content_type`. (Metrics and the date
/// are passed apart from the rest of `Ctx`, so that a body borrowed from
/// the www cache can be written with them.)
fn ok(out: &mut Vec<u8>, metrics: &mut Metrics, date: &HttpDate, req: &Request, content_type: &str, len: u64) {
    metrics.response(200);
    response::start(out, 200, date);
    response::connection(out, req.keep_alive, req.version);
    response::content(out, content_type, len);
}

/// A `200` with `body` (its head only, for `HEAD`).
fn with_body(
    out: &mut Vec<u8>,
    metrics: &mut Metrics,
    date: &HttpDate,
    req: &Request,
    content_type: &str,
    body: &[u8],
) -> Next {
    ok(out, metrics, date, req, content_type, body.len() as u64);
    if req.method != Method::Head {
        out.extend_from_slice(body);
    }
    next(req)
}

fn no_content(out: &mut Vec<u8>, cx: &mut Ctx, req: &Request, fields: &[u8]) -> Next {
    cx.metrics.response(204);
    response::start(out, 204, &cx.date);
    out.extend_from_slice(fields);
    response::connection(out, req.keep_alive, req.version);
    out.extend_from_slice(b"\r\n");
    next(req)
}

fn plain(out: &mut Vec<u8>, cx: &mut Ctx, req: &Request, status: u16, why: &str, fields: &[u8]) -> Next {
    cx.metrics.response(status);
    let reply = Reply { keep_alive: req.keep_alive, version: req.version, head_only: req.method == Method::Head };
    response::plain(out, &cx.date, reply, status, why, fields);
    next(req)
}

/// xorshift64*: enough to spread reconnections, no dependency needed.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
