//! The knobs every stream takes in its query (`/events` and every
//! scenario), for people testing SSE clients and proxies: the shape of the
//! bytes (line endings, a BOM, a `retry:` first, chunked framing), how they
//! are cut into writes and paced, how the stream ends, and what its head
//! says. Parsing is pure; `stream::shaped` applies them.
//!
//! What always holds: every knob has a documented range, a value outside
//! it (or a knob given twice) is an error that names the knob, and a query
//! with no knob parses to `Knobs::default()`, which costs nothing: the
//! stream is then exactly as it would be without this module.

use std::time::Duration;

use crate::ascii::{parse_decimal, percent_decode};
use crate::config::{MAX_INTERVAL_MS, MAX_PAUSE_MS, MAX_SPLIT};

/// How lines end (`eol=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    Lf,
    CrLf,
    Cr,
}

impl Eol {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Eol::Lf => b"\n",
            Eol::CrLf => b"\r\n",
            Eol::Cr => b"\r",
        }
    }
}

/// How writes are cut (`split=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Pieces of this many bytes (the last of a write may be shorter).
    Every(usize),
    /// Pieces of 1 to `MAX_RANDOM_PIECE` bytes, drawn from a generator
    /// seeded with this (`seed=`): the same seed cuts the same bytes at the
    /// same points every run.
    Random(u64),
}

/// What happens after N events (`close_after=`, `reset_after=`, `stall_after=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// The server closes the connection cleanly.
    Close,
    /// The server resets the connection (RST).
    Reset,
    /// The server sends nothing more, heartbeats included, and keeps the
    /// connection open.
    Stall,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Knobs {
    /// Every line ending (CRLF, LF or a lone CR) becomes this one.
    pub eol: Option<Eol>,
    /// A byte order mark (EF BB BF) before the first byte of the body.
    pub bom: bool,
    /// `retry: MS` and a blank line first (after the BOM).
    pub retry: Option<u64>,
    /// `Transfer-Encoding: chunked`: each write is one chunk.
    pub chunked: bool,
    pub split: Option<Split>,
    /// A pause between two pieces (with `split`) or two writes.
    pub pause: Duration,
    /// The first of `close_after`, `reset_after`, `stall_after` given.
    pub after: Option<(u64, After)>,
    /// In place of the stream's status.
    pub status: Option<u16>,
    /// In place of `text/event-stream`.
    pub content_type: Option<String>,
}

/// Statuses the `status` knob may set: those sse-server knows a reason
/// phrase for and that may have a body.
pub const KNOB_STATUSES: &[u16] = &[200, 400, 401, 403, 404, 500, 502, 503];

/// The longest `content_type` value taken.
pub const MAX_CONTENT_TYPE: usize = 128;

impl Knobs {
    /// Whether any knob is set (else the stream is left as it is).
    pub fn any(&self) -> bool {
        *self != Knobs::default()
    }

    /// Whether the bytes themselves change (else only the head, the cuts
    /// or the pace do).
    pub fn shapes_bytes(&self) -> bool {
        self.eol.is_some() || self.bom || self.retry.is_some() || self.chunked || self.after.is_some()
    }
}

/// The knobs `k`, for a client speaking HTTP/1.1 (`http11`) or 1.0: chunked
/// framing is for HTTP/1.1 clients only (RFC 9112 §6.1: a server MUST NOT
/// send Transfer-Encoding to a 1.0 client).
pub fn for_client(k: Knobs, http11: bool) -> Result<Knobs, &'static str> {
    if k.chunked && !http11 {
        return Err("bad value for query parameter te: chunked needs an HTTP/1.1 request");
    }
    Ok(k)
}

/// Reads the knobs of a query; other parameters are ignored. The error
/// names the knob and what it takes.
pub fn parse(query: &[u8]) -> Result<Knobs, &'static str> {
    let mut k = Knobs::default();
    let mut seen: u16 = 0;
    let mut seed = None;
    let mut random = false;
    for (key, value) in crate::uri::query_pairs(query) {
        let Some(bit) = KNOWN.iter().position(|&(name, _)| name.as_bytes() == key) else { continue };
        let why = KNOWN.get(bit).map_or("bad knob", |k| k.1);
        if seen & 1 << bit != 0 {
            return Err(why);
        }
        seen |= 1 << bit;
        let value = value.ok_or(why)?;
        let number = |max: u64| parse_decimal(value).filter(|&n| n <= max).ok_or(why);
        match key {
            b"eol" => {
                k.eol = Some(match value {
                    b"lf" => Eol::Lf,
                    b"crlf" => Eol::CrLf,
                    b"cr" => Eol::Cr,
                    _ => return Err(why),
                })
            }
            b"bom" => k.bom = number(1)? == 1,
            b"retry" => k.retry = Some(number(MAX_INTERVAL_MS)?),
            b"te" if value == b"chunked" => k.chunked = true,
            b"split" if value == b"random" => random = true,
            b"split" => {
                k.split = Some(Split::Every(number(MAX_SPLIT as u64).ok().filter(|&n| n > 0).ok_or(why)? as usize))
            }
            b"seed" => seed = Some(parse_decimal(value).ok_or(why)?),
            b"pause" => k.pause = Duration::from_millis(number(MAX_PAUSE_MS)?),
            b"close_after" | b"reset_after" | b"stall_after" => {
                let n = parse_decimal(value).ok_or(why)?;
                let what = match key {
                    b"close_after" => After::Close,
                    b"reset_after" => After::Reset,
                    _ => After::Stall,
                };
                if k.after.is_none_or(|(m, _)| n < m) {
                    k.after = Some((n, what));
                }
            }
            b"status" => {
                let n = number(999)?;
                k.status = Some(KNOB_STATUSES.iter().copied().find(|&s| u64::from(s) == n).ok_or(why)?);
            }
            b"content_type" => {
                let v = percent_decode(value).ok_or(why)?;
                // A field value: visible characters, spaces and tabs only
                // between them (RFC 9110 §5.5).
                let visible = |b: Option<&u8>| b.is_some_and(|b| (0x21..=0x7e).contains(b));
                let ok = visible(v.first())
                    && visible(v.last())
                    && v.len() <= MAX_CONTENT_TYPE
                    && v.iter().all(|&b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b));
                k.content_type = Some(String::from_utf8(v.into_owned()).ok().filter(|_| ok).ok_or(why)?);
            }
            _ => return Err(why),
        }
    }
    match (random, seed) {
        (true, s) => k.split = Some(Split::Random(s.unwrap_or(1))),
        (false, Some(_)) => return Err("bad query parameter seed: it goes with split=random"),
        (false, None) => {}
    }
    Ok(k)
}

/// Every knob, and the error that names it and what it takes.
const KNOWN: &[(&str, &str)] = &[
    ("eol", "bad value for query parameter eol: expected lf, crlf or cr, once"),
    ("bom", "bad value for query parameter bom: expected 0 or 1, once"),
    ("retry", "bad value for query parameter retry: expected one whole number from 0 to 3600000"),
    ("te", "bad value for query parameter te: expected chunked, once"),
    ("split", "bad value for query parameter split: expected one whole number from 1 to 65536, or random"),
    ("seed", "bad value for query parameter seed: expected one whole number, with split=random"),
    ("pause", "bad value for query parameter pause: expected one whole number from 0 to 10000"),
    ("close_after", "bad value for query parameter close_after: expected one whole number"),
    ("reset_after", "bad value for query parameter reset_after: expected one whole number"),
    ("stall_after", "bad value for query parameter stall_after: expected one whole number"),
    ("status", "bad value for query parameter status: expected one of 200, 400, 401, 403, 404, 500, 502, 503"),
    (
        "content_type",
        "bad value for query parameter content_type: expected 1 to 128 visible characters, spaces only between them",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_knob_is_the_default() {
        for q in [&b""[..], b"interval=10&count=2", b"x=y&flag", b"key=abc"] {
            assert_eq!(parse(q), Ok(Knobs::default()), "{}", String::from_utf8_lossy(q));
        }
        assert!(!Knobs::default().any());
    }

    #[test]
    fn every_knob_is_read() {
        let k = parse(
            b"eol=crlf&bom=1&retry=200&te=chunked&split=random&seed=7&pause=5&stall_after=3&close_after=9\
              &status=503&content_type=text/plain%3B%20charset=windows-1252",
        )
        .unwrap();
        assert_eq!(k.eol, Some(Eol::CrLf));
        assert!(k.bom && k.chunked && k.any() && k.shapes_bytes());
        assert_eq!(k.retry, Some(200));
        assert_eq!(k.split, Some(Split::Random(7)));
        assert_eq!(k.pause, Duration::from_millis(5));
        // The first reached of the three acts.
        assert_eq!(k.after, Some((3, After::Stall)));
        assert_eq!(k.status, Some(503));
        assert_eq!(k.content_type.as_deref(), Some("text/plain; charset=windows-1252"));
        assert_eq!(parse(b"split=1").unwrap().split, Some(Split::Every(1)));
        assert_eq!(parse(b"split=random").unwrap().split, Some(Split::Random(1)));
        assert_eq!(parse(b"reset_after=0").unwrap().after, Some((0, After::Reset)));
        assert!(!parse(b"split=3&pause=10").unwrap().shapes_bytes());
    }

    #[test]
    fn bad_values_name_the_knob() {
        for (bad, name) in [
            (&b"eol=lf&eol=cr"[..], "eol"),
            (b"eol=crcr", "eol"),
            (b"eol", "eol"),
            (b"bom=2", "bom"),
            (b"retry=-1", "retry"),
            (b"retry=3600001", "retry"),
            (b"te=gzip", "te"),
            (b"split=0", "split"),
            (b"split=65537", "split"),
            (b"split=x", "split"),
            (b"seed=1", "seed"),
            (b"split=random&seed=x", "seed"),
            (b"pause=10001", "pause"),
            (b"close_after=", "close_after"),
            (b"reset_after=1x", "reset_after"),
            (b"status=204", "status"),
            (b"status=999", "status"),
            (b"content_type=", "content_type"),
            (b"content_type=a%0Ab", "content_type"),
            (b"content_type=%20%20", "content_type"),
            (b"content_type=%20text/plain", "content_type"),
            (b"content_type=text/plain%09", "content_type"),
            (b"content_type=a%zz", "content_type"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(name), "{}: {e}", String::from_utf8_lossy(bad));
        }
        let long = format!("content_type={}", "a".repeat(MAX_CONTENT_TYPE + 1));
        assert!(parse(long.as_bytes()).unwrap_err().contains("content_type"));
        assert!(KNOWN.len() <= 16, "`seen` is a u16");
    }
}
