//! Which response a well-formed request gets: the routes of the contract,
//! as a value (`response::Response`).
//!
//! `respond` takes the request, whether the connection was accepted only
//! to be turned away, what the routes serve from (`Site`), the counters
//! (for `/metrics` and the download budget) and the time; it writes
//! nothing and counts nothing. Requests reach it only after every check of
//! `http::parse`, so a malformed request never gets here.
//!
//! | path               | GET, HEAD              | OPTIONS | others |
//! | ------------------ | ---------------------- | ------- | ------ |
//! | `/events`          | the stream             | 204     | 405    |
//! | `/metrics`         | Prometheus text        | 204     | 405    |
//! | `/scenarios[/...]` | scenarios (`scenario`) | 204     | 405    |
//! | `*`                | (400 in `http`)        | 204     | (400)  |
//! | `/`, anything else | a file of www, or 404  | 204     | 405    |

mod channels;
mod scenarios;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crate::channel::Channels;
use crate::config::FULL_RETRY_MS;
use crate::conn::Peer;
use crate::http::{HttpError, Method, Request, Version};
use crate::knobs::{self, Knobs};
use crate::metrics::Metrics;
use crate::output::Pace;
use crate::response::{ALLOW, Body, Response, Then};
use crate::scenario::Keys;
use crate::sse;
use crate::stream::demo::{self, Demo};
use crate::stream::shaped::Shaped;
use crate::stream::{Client, Source, StreamHead, StreamStart};
use crate::www::{self, Found, Www};

/// What the routes serve from.
pub struct Site {
    pub www: Www,
    /// `--interval`: a stream's interval unless its query sets one.
    pub interval: Duration,
    /// `--max-connections`: connections and files being sent together stay
    /// under it, so the reserve of descriptors is never spent on downloads.
    pub max_connections: usize,
    /// The requests of the scenarios that count them by `key`.
    pub keys: Keys,
    pub channels: Channels,
    /// `--publish-token`: publishers must send it (from any address).
    pub publish_token: Option<String>,
    /// `--cors-origin`: the origins whose pages may use this server.
    pub cors: Cors,
    /// `--access-log`: one log line per answer.
    pub access_log: bool,
    /// xorshift64* state, for the spread-out `retry:` of the full answer.
    rng: u64,
}

/// The origins allowed by `--cors-origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// `*`: any origin, without credentials.
    pub any: bool,
    pub origins: Vec<String>,
}

impl Site {
    pub fn new(www: Www, interval: Duration, max_connections: usize, channels: Channels, seed: u64) -> Site {
        Site {
            www,
            interval,
            max_connections,
            keys: Keys::default(),
            channels,
            publish_token: None,
            cors: Cors::default(),
            access_log: false,
            rng: seed | 1,
        }
    }

    /// xorshift64*: enough to spread reconnections, no dependency needed.
    pub fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A `retry:` for a client sent away now (full, or shutting down),
    /// drawn from `FULL_RETRY_MS`, so clients sent away together come back
    /// spread out.
    pub fn retry_ms(&mut self) -> u64 {
        let (lo, hi) = FULL_RETRY_MS;
        lo + self.random() % (hi - lo + 1)
    }
}

/// What the connection does after answering `req` as it asked.
fn then(req: &Request) -> Then {
    if req.keep_alive { Then::KeepAlive { say: req.version == Version::Http10 } } else { Then::Close { say: true } }
}

/// The answer to `req`, from a client `peer`, with the CORS fields its
/// `Origin` is allowed.
pub fn respond<'a>(
    req: &Request<'a>,
    peer: &Peer,
    site: &'a mut Site,
    metrics: &Metrics,
    now: Instant,
) -> Response<'a> {
    let cors = cors_fields(req, &site.cors);
    let mut r = route(req, peer, site, metrics, now);
    r.fields.extend(cors);
    r
}

fn route<'a>(req: &Request<'a>, peer: &Peer, site: &'a mut Site, metrics: &Metrics, now: Instant) -> Response<'a> {
    if peer.full {
        // Load testers need /metrics most when the server is full: it is
        // answered from the reserve, then the connection closes.
        let metrics_path = req.path.and_then(crate::ascii::percent_decode).is_some_and(|p| &*p == b"/metrics");
        if metrics_path && matches!(req.method, Method::Get | Method::Head) {
            let r = metrics_text(req, site, metrics);
            return Response { then: Then::Close { say: true }, head_only: req.method == Method::Head, ..r };
        }
        return Response { shed: true, ..shed(req, site) };
    }
    let Some(path) = req.path else {
        return Response::new(204, then(req), Body::Empty).field("Allow", ALLOW);
    };
    // Decoded once (RFC 3986 §6.2.2.2: `/%65vents` is `/events`), for the
    // route and for the file both. `http` checked the encoding already.
    let Some(path) = crate::ascii::percent_decode(path) else { return plain(req, 404, "not found") };
    if let Some(name) = path.strip_prefix(b"/channels/") {
        let r = channels::channel(req, name, peer, site, metrics, now);
        return Response { head_only: req.method == Method::Head, ..r };
    }
    match req.method {
        Method::Options => return Response::new(204, then(req), Body::Empty).field("Allow", ALLOW),
        Method::Get | Method::Head => {}
        _ => return plain(req, 405, "method not allowed").field("Allow", ALLOW),
    }
    let head_only = req.method == Method::Head;
    let r = match &*path {
        b"/events" => events(req, site, now),
        b"/metrics" => metrics_text(req, site, metrics),
        b"/scenarios" => scenarios::index(req),
        p if let Some(rest) = p.strip_prefix(b"/scenarios/") => scenarios::scenario(req, rest, site, metrics, now),
        _ => file(req, &path, site, metrics),
    };
    Response { head_only, ..r }
}

/// The value of parameter `name` in a query (its first, as sent).
pub(crate) fn query_value<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    crate::uri::query_pairs(query).find_map(|(key, value)| if key == name { value } else { None })
}

/// `/metrics`: the Prometheus text exposition.
fn metrics_text<'a>(req: &Request, site: &Site, metrics: &Metrics) -> Response<'a> {
    let mut text = Vec::new();
    metrics.render(&mut text, &site.channels.figures());
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    Response::new(200, then(req), Body::Bytes { content_type, bytes: Cow::Owned(text) })
}

/// The CORS fields for `req`'s `Origin`, if `--cors-origin` allows it: the
/// origin (or `*`), credentials for a named origin, and for a preflight the
/// methods and fields allowed. With named origins, every answer says
/// `Vary: Origin` (allowed or not, it depends on the `Origin`), so a cache
/// does not hand one origin's answer to another.
fn cors_fields<'a>(req: &Request<'a>, cors: &Cors) -> Vec<(&'static str, Cow<'a, str>)> {
    let mut fields = Vec::new();
    if !cors.origins.is_empty() {
        fields.push(("Vary", Cow::Borrowed("Origin")));
    }
    let Some(origin) = req.origin.and_then(|o| std::str::from_utf8(o).ok()) else { return fields };
    let named = cors.origins.iter().any(|o| o == origin);
    if named {
        fields.push(("Access-Control-Allow-Origin", Cow::Borrowed(origin)));
        fields.push(("Access-Control-Allow-Credentials", Cow::Borrowed("true")));
    } else if cors.any {
        fields.push(("Access-Control-Allow-Origin", Cow::Borrowed("*")));
    } else {
        return fields;
    }
    if req.method == Method::Options && req.preflight {
        fields.push(("Access-Control-Allow-Methods", Cow::Borrowed("GET, HEAD, POST, OPTIONS")));
        fields.push(("Access-Control-Allow-Headers", Cow::Borrowed("Last-Event-ID, Authorization, Content-Type")));
        fields.push(("Access-Control-Max-Age", Cow::Borrowed("600")));
    }
    fields
}

/// A refused request (contract §2, "Bad requests"): always closes.
pub fn refusal(e: &HttpError) -> Response<'static> {
    Response::new(e.status, Then::Close { say: true }, Body::Text(e.why))
}

fn file<'a>(req: &Request, path: &[u8], site: &'a mut Site, metrics: &Metrics) -> Response<'a> {
    let busy = metrics.connections + metrics.downloads >= site.max_connections as u64;
    match site.www.lookup(path) {
        Found::Builtin(page) => bytes(req, www::HTML, Cow::Borrowed(page)),
        Found::Cached { index, content_type } => bytes(req, content_type, Cow::Borrowed(site.www.cached(index))),
        Found::Bytes { bytes: b, content_type } => bytes(req, content_type, Cow::Owned(b)),
        // Each download holds a descriptor until its last byte; past the
        // budget, it waits (and `HEAD` needs none).
        Found::File { .. } if busy && req.method != Method::Head => unavailable(req),
        Found::File { file, len, content_type } => {
            Response::new(200, then(req), Body::File { content_type, file, len })
        }
        Found::Unavailable => unavailable(req),
        Found::NotFound => plain(req, 404, "not found"),
    }
}

fn bytes<'a>(req: &Request, content_type: &'static str, bytes: Cow<'a, [u8]>) -> Response<'a> {
    Response::new(200, then(req), Body::Bytes { content_type, bytes })
}

/// A file that exists but cannot be sent now, for want of descriptors.
fn unavailable(req: &Request) -> Response<'static> {
    plain(req, 503, "too many files being sent, retry later").field("Retry-After", "1")
}

fn plain(req: &Request, status: u16, why: &'static str) -> Response<'static> {
    Response::new(status, then(req), Body::Text(why))
}

fn events<'a>(req: &Request, site: &mut Site, now: Instant) -> Response<'a> {
    let http11 = req.version == Version::Http11;
    let knobs = |q| knobs::parse(q).and_then(|k| knobs::for_client(k, http11));
    let (params, knobs) = match demo::parse_query(req.query).and_then(|p| Ok((p, knobs(req.query)?))) {
        Ok(pk) => pk,
        Err(why) => return plain(req, 400, why),
    };
    let last = req.last_event_id.and_then(sse::parse_last_event_id);
    if let (Some((_, n)), Some(count)) = (last, params.count)
        && n >= count
    {
        // Tells EventSource the stream is over: it does not reconnect.
        return Response::new(204, then(req), Body::Empty);
    }
    let status = knobs.status.unwrap_or(200);
    if req.method == Method::Head && !knobs.any() {
        // The very head of GET; the connection then goes on, or closes, as
        // asked (saying so only to an HTTP/1.0 client that keeps it).
        let then = match then(req) {
            Then::Close { .. } => Then::Close { say: false },
            keep => keep,
        };
        return Response::new(200, then, Body::Events(Cow::Borrowed(b"")));
    }
    // N = u64::MAX has no next event: such an id starts a new stream.
    let client = match last.filter(|&(_, n)| n < u64::MAX) {
        Some((id, seen)) => Client::Resumed { id, seen },
        None => Client::New { last_event_id: req.last_event_id.map(|v| String::from_utf8_lossy(v).into_owned()) },
    };
    let seen = match client {
        Client::Resumed { seen, .. } => seen,
        Client::New { .. } => 0,
    };
    let source: Box<dyn Source> = Box::new(Demo::new(seen, &params, site.interval, now));
    let start = shaped(source, client, &knobs, now);
    Response::new(status, Then::Close { say: false }, Body::Stream(start))
}

/// A stream of `source` with the knobs of its query applied (none: as it is).
pub fn shaped(source: Box<dyn Source>, client: Client, k: &Knobs, now: Instant) -> StreamStart {
    let head = StreamHead { content_type: k.content_type.clone(), chunked: k.chunked };
    let pace = (k.split.is_some() || !k.pause.is_zero()).then(|| Pace::new(k.split, k.pause));
    let source = if k.shapes_bytes() { Box::new(Shaped::new(source, k, now)) } else { source };
    StreamStart { source, client, head, pace }
}

/// The answer of a full server (contract §2, "Full"): an `EventSource` is
/// told to come back after a random 1 to 5 s, anyone else gets `503`.
fn shed(req: &Request, site: &mut Site) -> Response<'static> {
    let head_only = req.method == Method::Head;
    if !req.accepts_event_stream {
        let r = Response::new(503, Then::Close { say: true }, Body::Text("sse-server is full, retry later"));
        return Response { head_only, ..r }.field("Retry-After", "1");
    }
    let body = if head_only { Vec::new() } else { sse::full_message(site.retry_ms()) };
    Response { head_only, ..Response::new(200, Then::Close { say: false }, Body::Events(Cow::Owned(body))) }
}
