//! Pure response formatting: status lines, the fields every response has,
//! and the `Date` value (IMF-fixdate, RFC 9110 §5.6.7).
//!
//! Every head sse-server writes starts `HTTP/1.1 <status> <reason>` and
//! then `Date`; the order of the fields after that is fixed per response
//! and documented in the README, so raw-socket tests can expect exact bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::Version;
use crate::sse::push_u64;

pub const ALLOW: &[u8] = b"Allow: GET, HEAD, OPTIONS\r\n";

/// Every status sse-server sends, with its reason phrase (RFC 9110 §15).
/// `/metrics` counts responses by these.
pub const STATUSES: [(u16, &str); 11] = [
    (200, "OK"),
    (204, "No Content"),
    (400, "Bad Request"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (408, "Request Timeout"),
    (413, "Content Too Large"),
    (431, "Request Header Fields Too Large"),
    (501, "Not Implemented"),
    (503, "Service Unavailable"),
    (505, "HTTP Version Not Supported"),
];

pub fn reason(status: u16) -> &'static str {
    STATUSES.iter().find(|s| s.0 == status).map_or("Unknown", |s| s.1)
}

/// `HTTP/1.1 <status> <reason>` and `Date`.
pub fn start(out: &mut Vec<u8>, status: u16, date: &HttpDate) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `Connection` field where one is needed: `close` when the connection
/// ends after this response, `keep-alive` for an HTTP/1.0 client that asked
/// for it, nothing for HTTP/1.1's default.
pub fn connection(out: &mut Vec<u8>, keep_alive: bool, version: Version) {
    match (keep_alive, version) {
        (false, _) => out.extend_from_slice(b"Connection: close\r\n"),
        (true, Version::Http10) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        (true, Version::Http11) => {}
    }
}

/// `Content-Type`, `Content-Length` and the end of the head.
pub fn content(out: &mut Vec<u8>, content_type: &str, len: u64) {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_u64(out, len);
    out.extend_from_slice(b"\r\n\r\n");
}

/// How a response fits the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub keep_alive: bool,
    pub version: Version,
    /// `HEAD`: the same head as `GET`, no body.
    pub head_only: bool,
}

/// A short `text/plain` response: `status`, `why` and a newline as its
/// body; `extra` are fields that go before `Connection`.
pub fn plain(out: &mut Vec<u8>, date: &HttpDate, reply: Reply, status: u16, why: &str, extra: &[u8]) {
    start(out, status, date);
    out.extend_from_slice(extra);
    connection(out, reply.keep_alive, reply.version);
    content(out, "text/plain; charset=utf-8", why.len() as u64 + 1);
    if !reply.head_only {
        out.extend_from_slice(why.as_bytes());
        out.push(b'\n');
    }
}

/// The current `Date` value, formatted once per second.
#[derive(Debug, Clone)]
pub struct HttpDate {
    secs: u64,
    text: [u8; 29],
}

impl Default for HttpDate {
    fn default() -> HttpDate {
        HttpDate::at(0)
    }
}

impl HttpDate {
    pub fn now() -> HttpDate {
        HttpDate::at(unix_now())
    }

    /// Brings the value up to `SystemTime::now()`; cheap when the second
    /// has not changed.
    pub fn update(&mut self) {
        let now = unix_now();
        if now != self.secs {
            *self = HttpDate::at(now);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for `secs` after the Unix epoch.
    pub fn at(secs: u64) -> HttpDate {
        const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8; 3]; 12] =
            [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days as i64);
        let mut t = [0u8; 29];
        t[..3].copy_from_slice(DAYS[(days % 7) as usize]);
        t[3..5].copy_from_slice(b", ");
        two(&mut t[5..7], day as u64);
        t[7] = b' ';
        t[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
        t[11] = b' ';
        let y = year.clamp(0, 9999) as u64;
        two(&mut t[12..14], y / 100);
        two(&mut t[14..16], y % 100);
        t[16] = b' ';
        two(&mut t[17..19], rem / 3600);
        t[19] = b':';
        two(&mut t[20..22], rem / 60 % 60);
        t[22] = b':';
        two(&mut t[23..25], rem % 60);
        t[25..].copy_from_slice(b" GMT");
        HttpDate { secs, text: t }
    }
}

/// `2026-11-23T20:07:17.657Z`: the time of a log line.
pub fn iso8601(secs: u64, millis: u32) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn two(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let s = |secs| String::from_utf8(HttpDate::at(secs).as_bytes().to_vec()).unwrap();
        assert_eq!(s(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(s(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(s(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(s(1_795_478_399), "Mon, 23 Nov 2026 23:59:59 GMT");
    }

    #[test]
    fn log_times() {
        assert_eq!(iso8601(1_795_478_399, 7), "2026-11-23T23:59:59.007Z");
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn plain_responses_are_exact() {
        let mut out = Vec::new();
        let reply = Reply { keep_alive: true, version: Version::Http11, head_only: false };
        plain(&mut out, &HttpDate::at(0), reply, 404, "not found", b"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\nnot found\n"
        );
        let mut out = Vec::new();
        let reply = Reply { keep_alive: false, version: Version::Http10, head_only: true };
        plain(&mut out, &HttpDate::at(0), reply, 405, "method not allowed", ALLOW);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Allow: GET, HEAD, OPTIONS\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n"
        );
    }
}
