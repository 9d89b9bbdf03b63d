//! The routes of channels (`/channels/NAME`): subscribe with `GET`,
//! publish with `POST`, and who may publish.
//!
//! What always holds: a publish is accepted only from a loopback address
//! (and not passed on by a proxy: `Forwarded`, `X-Forwarded-For`) when no
//! token is configured, and only with `Authorization: Bearer TOKEN`
//! (compared in constant time) when one is; a publish that a web page of
//! another origin makes a browser send (its `Origin` neither this server's
//! nor allowed by `--cors-origin`) is refused either way; subscribing is
//! open to all.

use std::time::Instant;

use super::{Cors, Site, plain, query_value, then};
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
        // An EventSource stops for good on a 503: it is told to come back.
        Err(_) if req.accepts_event_stream => {
            let body = crate::sse::retry_later("too many channels", site.retry_ms());
            return Response::new(200, Then::Close { say: false }, Body::Events(body.into()));
        }
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
    // A page of another origin can make a browser POST here without asking
    // first (a "simple" request): on this host, that is a loopback client.
    if let Some(origin) = req.origin
        && !may_publish_from(origin, req.host, &site.cors)
    {
        return plain(req, 403, "a publish from a page of another origin (allow it with --cors-origin)");
    }
    match (&site.publish_token, req.authorization) {
        (Some(token), Some(auth)) if bearer_matches(auth, token.as_bytes()) => {}
        (Some(_), _) => {
            return plain(req, 401, "a publish needs Authorization: Bearer TOKEN")
                .field("WWW-Authenticate", "Bearer realm=\"sse-server\"");
        }
        // Through a proxy on this host, anyone who reaches the proxy
        // would be a loopback client: a proxied request is not one; nor is
        // one that names another host (a page of another origin whose name
        // was made to point here: DNS rebinding).
        (None, _) if peer.loopback && !req.forwarded && req.host.is_none_or(loopback_host) => {}
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

/// Whether a page of `origin` may publish: one of this server's own pages
/// (the origin's host is the request's `Host`), or an origin that
/// `--cors-origin` names (`*` lets any page read, not publish).
fn may_publish_from(origin: &[u8], host: Option<&[u8]>, cors: &Cors) -> bool {
    let own = [&b"http://"[..], b"https://"]
        .iter()
        .filter_map(|scheme| origin.strip_prefix(*scheme))
        .any(|h| host.is_some_and(|host| h.eq_ignore_ascii_case(host)));
    own || cors.origins.iter().any(|o| o.as_bytes() == origin)
}

/// Whether a `Host` value names this machine's loopback: `localhost`, an
/// address of 127.0.0.0/8 or `[::1]`, with or without a port.
fn loopback_host(host: &[u8]) -> bool {
    if let Some(v6) = host.strip_prefix(b"[") {
        return v6.split(|&b| b == b']').next() == Some(b"::1");
    }
    // The host part of `host[:port]`.
    let name = host.iter().rposition(|&b| b == b':').map_or(host, |i| crate::ascii::before(host, i));
    let v4 = std::str::from_utf8(name).ok().and_then(|n| n.parse::<std::net::Ipv4Addr>().ok());
    name.eq_ignore_ascii_case(b"localhost") || v4.is_some_and(|a| a.is_loopback())
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
    fn pages_that_may_publish() {
        let cors = Cors { any: false, origins: vec!["https://app.test".into()] };
        // (Origin, Host, allowed)
        type Case = (&'static [u8], Option<&'static [u8]>, bool);
        let table: [Case; 7] = [
            (b"http://127.0.0.1:8888", Some(b"127.0.0.1:8888"), true),
            (b"https://Example.org", Some(b"example.org"), true),
            (b"https://app.test", Some(b"127.0.0.1:8888"), true),
            (b"https://evil.test", Some(b"127.0.0.1:8888"), false),
            (b"http://127.0.0.1:9999", Some(b"127.0.0.1:8888"), false),
            (b"null", Some(b"127.0.0.1:8888"), false),
            (b"http://127.0.0.1:8888", None, false),
        ];
        for (origin, host, allowed) in table {
            assert_eq!(may_publish_from(origin, host, &cors), allowed, "{}", String::from_utf8_lossy(origin));
        }
        // `*` lets any page read, not publish.
        assert!(!may_publish_from(b"https://evil.test", None, &Cors { any: true, origins: Vec::new() }));
    }

    #[test]
    fn loopback_hosts() {
        for (host, loopback) in [
            (&b"127.0.0.1:8888"[..], true),
            (b"127.0.0.1", true),
            (b"127.8.9.10:1", true),
            (b"localhost:8888", true),
            (b"LocalHost", true),
            (b"[::1]:8888", true),
            (b"[::1]", true),
            (b"evil.test:8888", false),
            (b"10.0.0.1:8888", false),
            (b"[::2]:8888", false),
            (b"localhost.evil.test", false),
            (b"", false),
        ] {
            assert_eq!(loopback_host(host), loopback, "{}", String::from_utf8_lossy(host));
        }
    }

    #[test]
    fn bearer_tokens() {
        assert!(bearer_matches(b"Bearer s3cret", b"s3cret"));
        assert!(bearer_matches(b"bearer s3cret", b"s3cret"));
        for bad in [&b"Bearer s3cre"[..], b"Bearer s3cret!", b"Basic s3cret", b"Bearers3cret", b"", b"Bearer "] {
            assert!(!bearer_matches(bad, b"s3cret"), "{}", String::from_utf8_lossy(bad));
        }
    }
}
