//! The routes of scenarios (`/scenarios`, `/scenarios/NAME`, its
//! `/expected` and `/raw`): the index, a connection of a scenario, and the
//! documents computed from it (`scenario`).

use std::borrow::Cow;
use std::time::Instant;

use super::{Site, plain, query_value, then};
use crate::ascii::split;
use crate::config::{MAX_DOCUMENTS, MAX_KEY_LEN};
use crate::http::{Method, Request};
use crate::metrics::Metrics;
use crate::response::{Body, Response, Then};
use crate::scenario::{self, Outcome, Scenario};
use crate::www;

/// `/scenarios`: JSON, or a page for a browser (`Accept: text/html`);
/// `?format=json` or `?format=html` says which.
pub(super) fn index<'a>(req: &Request) -> Response<'a> {
    let html = match req.query {
        b"format=html" => true,
        b"format=json" => false,
        _ => req.accepts_html,
    };
    let mut body = Vec::new();
    let content_type = if html {
        scenario::index_html(&mut body);
        www::HTML
    } else {
        scenario::index_json(&mut body);
        "application/json"
    };
    Response::new(200, then(req), Body::Bytes { content_type, bytes: Cow::Owned(body) })
}

/// `/scenarios/NAME`, its `/expected` and its `/raw`.
pub(super) fn scenario<'a>(
    req: &Request,
    rest: &[u8],
    site: &mut Site,
    metrics: &Metrics,
    now: Instant,
) -> Response<'a> {
    let (name, what) = match rest.iter().position(|&b| b == b'/') {
        Some(slash) => split(rest, slash),
        None => (rest, &b""[..]),
    };
    let Some(s) = scenario::find(name) else { return plain(req, 404, "no such scenario") };
    let document = |content_type, made: Result<Vec<u8>, &'static str>| match made {
        Err(why) => plain(req, 400, why),
        Ok(doc) if metrics.documents + doc.len() as u64 > MAX_DOCUMENTS => {
            plain(req, 503, "too many documents being sent, retry later").field("Retry-After", "1")
        }
        Ok(doc) => Response::new(200, then(req), Body::Bytes { content_type, bytes: Cow::Owned(doc) }),
    };
    match what {
        b"/expected" => document(
            "application/json",
            scenario::expected(s, req.query).map(|e| {
                let mut out = Vec::new();
                e.to_json(&mut out);
                out
            }),
        ),
        b"/raw" => document("application/octet-stream", scenario::raw(s, req.query, req.last_event_id)),
        b"" => stream(req, s, site, now),
        _ => plain(req, 404, "not found"),
    }
}

/// A connection of scenario `s`.
fn stream<'a>(req: &Request, s: &Scenario, site: &mut Site, now: Instant) -> Response<'a> {
    let http11 = req.version == crate::http::Version::Http11;
    let knobs = match s.knobs(req.query).and_then(|k| crate::knobs::for_client(k, http11)) {
        Ok(k) => k,
        Err(why) => return plain(req, 400, why),
    };
    let index = match s.index {
        scenario::Index::LastEventId => scenario::index_of(req.last_event_id),
        scenario::Index::Key => match query_value(req.query, b"key") {
            None => 0,
            Some(key) if key.is_empty() || key.len() > MAX_KEY_LEN => {
                return plain(req, 400, "bad value for query parameter key: expected 1 to 64 bytes");
            }
            Some(key) if req.method == Method::Head => site.keys.peek(s.name, key),
            Some(key) => site.keys.next(s.name, key),
        },
    };
    let Some(answer) = s.answer(index) else { return plain(req, 404, "no such scenario") };
    match scenario::connect(answer, req.last_event_id, &knobs, now) {
        Outcome::Stream { status, start } => Response::new(status, Then::Close { say: false }, Body::Stream(start)),
        Outcome::Status { status: 204, .. } => Response::new(204, then(req), Body::Empty),
        Outcome::Status { status, location } => {
            let r = Response::new(status, then(req), Body::Text(scenario::STATUS_TEXT));
            match location {
                Some(to) => r.field("Location", to),
                None => r,
            }
        }
    }
}
