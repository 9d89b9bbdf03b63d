//! The routes of channels (`/channels/NAME`): subscribe with `GET`,
//! publish with `POST`, and who may publish.
//!
//! What always holds: a publish is accepted only from a loopback address
//! when no token is configured, and only with `Authorization: Bearer TOKEN`
//! (compared in constant time) when one is; subscribing is open to all.

use std::time::Instant;

use super::{Site, plain, query_value, then};
use crate::channel::{PublishTo, check_event_type, check_name};
use crate::config::{MAX_CONTENT, MAX_PUBLISH_IN_FLIGHT};
use crate::conn::Peer;
use crate::http::{Method, Request};
use crate::metrics::Metrics;
use crate::response::{Body, Response, Then};
use crate::stream::subscription::Subscription;
use crate::stream::{Client, StreamHead, StreamStart};

/// The methods of a channel.
pub const ALLOW_CHANNEL: &str = "GET, HEAD, POST, OPTIONS";

pub(super) fn channel<'a>(
    req: &Request,
    name: &[u8],
    peer: &Peer,
    site: &mut Site,
    metrics: &Metrics,
    now: Instant,
) -> Response<'a> {
    if !check_name(name) {
        return plain(req, 400, "bad channel name: 1 to 64 letters, digits, '.', '_' or '-'");
    }
    match req.method {
        Method::Options => Response::new(204, then(req), Body::Empty).field("Allow", ALLOW_CHANNEL),
        Method::Get | Method::Head => subscribe(req, name, peer, site, now),
        Method::Post => publish(req, name, peer, site, metrics),
        _ => plain(req, 405, "method not allowed").field("Allow", ALLOW_CHANNEL),
    }
}

/// `GET`: the stream of the channel, resumed after `Last-Event-ID` (or
/// `?last_event_id=`, which a browser can set on a first connection).
fn subscribe<'a>(req: &Request, name: &[u8], peer: &Peer, site: &mut Site, now: Instant) -> Response<'a> {
    if req.method == Method::Head {
        let then = match then(req) {
            Then::Close { .. } => Then::Close { say: false },
            keep => keep,
        };
        return Response::new(200, then, Body::Events(b"".into()));
    }
    let last = req.last_event_id.or_else(|| query_value(req.query, b"last_event_id"));
    let sub = match site.channels.subscribe(name, last, peer.token) {
        Ok(sub) => sub,
        Err(_) => return plain(req, 503, "too many channels, retry later").field("Retry-After", "1"),
    };
    let source = Box::new(Subscription::new(sub.membership, sub.backlog, now));
    let client = Client::New { last_event_id: last.map(|v| String::from_utf8_lossy(v).into_owned()) };
    let start = StreamStart { source, client, head: StreamHead::default(), pace: None };
    let r = Response::new(200, Then::Close { say: false }, Body::Stream(start));
    match sub.after {
        Some(after) => r.field("Replay-After", after),
        None => r,
    }
}

/// `POST`: the content is one event; its answer comes once it is read.
fn publish<'a>(req: &Request, name: &[u8], peer: &Peer, site: &Site, metrics: &Metrics) -> Response<'a> {
    match (&site.publish_token, req.authorization) {
        (Some(token), Some(auth)) if bearer_matches(auth, token.as_bytes()) => {}
        (Some(_), _) => {
            return plain(req, 401, "a publish needs Authorization: Bearer TOKEN")
                .field("WWW-Authenticate", "Bearer realm=\"sse-server\"");
        }
        (None, _) if peer.loopback => {}
        (None, _) => return plain(req, 403, "only loopback clients may publish (see --publish-token)"),
    }
    let event_type = match query_value(req.query, b"event").map(crate::ascii::percent_decode) {
        None => None,
        Some(Some(t)) if check_event_type(&t) => Some(String::from_utf8_lossy(&t).into_owned()),
        Some(_) => return plain(req, 400, "bad value for query parameter event: expected 1 to 64 visible characters"),
    };
    if metrics.publish_in_flight + MAX_CONTENT > MAX_PUBLISH_IN_FLIGHT {
        return plain(req, 503, "too many publishes being read, retry later").field("Retry-After", "1");
    }
    Response::new(200, then(req), Body::Publish(PublishTo { channel: name.to_vec(), event_type }))
}

/// `Bearer TOKEN` (the scheme in any case) holds `token`, compared in
/// constant time (what takes time is the length, which is not secret).
fn bearer_matches(auth: &[u8], token: &[u8]) -> bool {
    let Some((scheme, given)) = auth.split_at_checked(7) else { return false };
    if !scheme.eq_ignore_ascii_case(b"bearer ") || given.len() != token.len() {
        return false;
    }
    given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert!(bearer_matches(b"Bearer s3cret", b"s3cret"));
        assert!(bearer_matches(b"bearer s3cret", b"s3cret"));
        for bad in [&b"Bearer s3cre"[..], b"Bearer s3cret!", b"Basic s3cret", b"Bearers3cret", b"", b"Bearer "] {
            assert!(!bearer_matches(bad, b"s3cret"), "{}", String::from_utf8_lossy(bad));
        }
    }
}
