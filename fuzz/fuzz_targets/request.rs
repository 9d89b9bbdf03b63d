//! The request path of one connection, as `conn::Conn::handle` walks it:
//! `http::parse` a head, then `content::Content::feed` its content, then the
//! next pipelined head, until the bytes run out or one is refused.
//!
//! Input: byte 0 is the largest piece content is fed in (0: all at once),
//! byte 1 seeds the piece sizes; the rest is what the client sent.
//!
//! Checked, besides "no panic":
//! - a complete head: `0 < head_len <= input.len()`, `head_len <= MAX_HEAD`;
//!   the head alone parses to the same request, and a strict prefix of it
//!   is `Partial`; the request's fields agree with each other;
//! - `Partial` only below `MAX_HEAD` bytes, and a prefix of a partial head
//!   is partial too; errors carry one of the statuses the contract names;
//! - `feed` never consumes more than it is given, consumes all of it unless
//!   the content has ended (else `handle` would spin), and gives the
//!   same outcome (bytes used, end, or the same error) whether the content
//!   comes in pieces or at once; a `Content-Length` body ends at its length.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_server::content::Content;
use sse_server::config::{MAX_CONTENT, MAX_HEAD};
use sse_server::http::{self, Framing, HttpError, Method, Status, Version};
use sse_server::stream::demo;
use sse_server::{ascii, sse, uri};

/// Piece sizes for feeding content: 1..=max, from a small xorshift.
struct Pieces {
    max: usize,
    state: u32,
}

impl Pieces {
    fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        if self.max == 0 { usize::MAX } else { 1 + self.state as usize % self.max }
    }
}

fn check_error(e: &HttpError) {
    assert!(matches!(e.status, 400 | 413 | 414 | 431 | 501 | 505), "unexpected status {e}");
    assert!(!e.why.is_empty());
}

fn is_ows(b: &u8) -> bool {
    *b == b' ' || *b == b'\t'
}

fuzz_target!(|data: &[u8]| {
    let [max, seed, input @ ..] = data else { return };
    let mut pieces = Pieces { max: usize::from(*max), state: u32::from(*seed) << 8 | 0x5a };
    let mut at = 0;
    while at < input.len() {
        let buf = &input[at..];
        let req = match http::parse(buf) {
            Ok(Status::Complete(req)) => req,
            Ok(Status::Partial) => {
                assert!(buf.len() < MAX_HEAD, "Partial at {} bytes", buf.len());
                let cut = pieces.next() % (buf.len() + 1);
                assert_eq!(http::parse(&buf[..cut]), Ok(Status::Partial), "prefix {cut} of a partial head");
                return;
            }
            Err(e) => {
                check_error(&e);
                return;
            }
        };

        // The head.
        let h = req.head_len;
        assert!(h > 0 && h <= buf.len() && h <= MAX_HEAD, "head_len {h} of {} bytes", buf.len());
        match http::parse(&buf[..h]) {
            Ok(Status::Complete(again)) => assert_eq!(again, req, "the head alone parses differently"),
            other => panic!("the head alone ({h} bytes) gives {other:?}"),
        }
        for cut in [h - 1, pieces.next() % h] {
            assert_eq!(http::parse(&buf[..cut]), Ok(Status::Partial), "prefix {cut} of a {h}-byte head");
        }

        // Its fields agree with each other.
        match req.framing {
            Framing::None => {}
            Framing::Length(n) => assert!((1..=MAX_CONTENT).contains(&n), "Length({n})"),
            Framing::Chunked => assert_eq!(req.version, Version::Http11),
        }
        if matches!(req.method, Method::Get | Method::Head) {
            assert_eq!(req.framing, Framing::None);
        }
        match req.path {
            None => assert_eq!(req.method, Method::Options),
            Some(p) => {
                assert!(p.first() == Some(&b'/'), "path {p:?}");
                assert!(p.iter().chain(req.query).all(|&b| uri::is_target_byte(b)));
                let _ = ascii::percent_decode(p);
            }
        }
        if let Some(id) = req.last_event_id {
            assert!(!id.first().is_some_and(is_ows) && !id.last().is_some_and(is_ows), "id {id:?}");
            let _ = sse::parse_last_event_id(id);
        }
        let _ = demo::parse_query(req.query);
        at += h;

        // Its content, in pieces and at once.
        let Some(mut body) = Content::new(req.framing) else { continue };
        let rest = &input[at..];
        let whole = body.clone().feed(rest);
        if let Framing::Length(n) = req.framing {
            let n = usize::try_from(n).unwrap();
            assert_eq!(whole, Ok((n.min(rest.len()), rest.len() >= n)));
        }
        let mut used = 0;
        let pieced = loop {
            let len = pieces.next().min(rest.len() - used);
            let piece = &rest[used..used + len];
            match body.feed(piece) {
                Ok((n, done)) => {
                    assert!(n <= piece.len(), "feed used {n} of {} bytes", piece.len());
                    used += n;
                    if done {
                        break Ok((used, true));
                    }
                    assert_eq!(n, piece.len(), "feed stopped before the end of its input, not at the content's end");
                    if used == rest.len() {
                        break Ok((used, false));
                    }
                }
                Err(e) => {
                    check_error(&e);
                    break Err(e);
                }
            }
        };
        assert_eq!(pieced, whole, "content in pieces of at most {max} (seed {seed}) and at once differ");
        match pieced {
            Ok((n, true)) => at += n,
            _ => return,
        }
    }
});
