//! Does a response open the event stream, or fail the connection?
//! (WHATWG HTML §9.2.3 "Processing model".)
//!
//! `EventSource` fetches with redirects followed, so this judges the final
//! response; a caller that speaks HTTP itself follows redirects first. Only
//! `200` with the MIME type `text/event-stream` opens the stream, whatever
//! its parameters (`charset=windows-1252` changes nothing: the stream is
//! always UTF-8). Any other status fails the connection, for good: `204` is
//! how a server says "do not reconnect", and `404`, `500` or `503` are
//! failures too, not reasons to retry. (A reconnection happens only when an
//! opened stream ends, or when no response came at all.)
//!
//! The MIME type is Fetch's "extract a MIME type" of the `Content-Type`
//! values: split at commas outside quoted strings, each part parsed as a
//! MIME type (mimesniff), the last one that parses and is not `*/*` wins,
//! and only its essence (type and subtype, case-insensitive) is compared.
//! Pure, and no function here panics or allocates.

use std::fmt;

/// Why a response fails the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A status other than 200.
    Status(u16),
    /// 200, but no `Content-Type` whose MIME type is `text/event-stream`.
    NotEventStream,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "status {code}"),
            Failure::NotEventStream => f.write_str("200 without Content-Type: text/event-stream"),
        }
    }
}

/// `Ok` when the response opens the stream. `content_type` is the value of
/// every `Content-Type` field, joined with `, ` as Fetch combines them, and
/// empty when there is none.
pub fn check_response(status: u16, content_type: &[u8]) -> Result<(), Failure> {
    if status != 200 {
        return Err(Failure::Status(status));
    }
    let mut last = None;
    let mut rest = Some(content_type);
    while let Some(values) = rest {
        let (value, after) = split_value(values);
        rest = after;
        if let Some(essence) = parse_essence(value).filter(|&(t, s)| (t, s) != (&b"*"[..], &b"*"[..])) {
            last = Some(essence);
        }
    }
    match last {
        Some((t, s)) if t.eq_ignore_ascii_case(b"text") && s.eq_ignore_ascii_case(b"event-stream") => Ok(()),
        _ => Err(Failure::NotEventStream),
    }
}

/// The first value of a comma-separated list, and the rest after its comma
/// (Fetch's "get, decode, and split": a comma inside a quoted string, where
/// a backslash escapes the next byte, does not split).
fn split_value(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in s.iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            return (s.get(..i).unwrap_or_default(), Some(s.get(i + 1..).unwrap_or_default()));
        }
    }
    (s, None)
}

/// Type and subtype of a MIME type, as "parse a MIME type" finds them (its
/// parameters never make it fail, so they are not looked at).
fn parse_essence(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let value = trim_http_whitespace(value);
    let slash = value.iter().position(|&b| b == b'/')?;
    let kind = value.get(..slash)?;
    let after = value.get(slash + 1..)?;
    let subtype = after.split(|&b| b == b';').next().unwrap_or_default();
    let subtype = trim_http_whitespace(subtype);
    (is_token(kind) && is_token(subtype)).then_some((kind, subtype))
}

/// The subtype may carry whitespace before its `;`; the type, after
/// trimming the whole value, cannot start with any, so trimming both ends
/// of each is the standard's trimming.
fn trim_http_whitespace(s: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b'\t' | b'\n' | b'\r' | b' ');
    let start = s.iter().position(|b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// RFC 9110 `token`: one or more tchar.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, status, Content-Type, verdict). WPT cases name their file
    /// under `eventsource/`.
    #[test]
    fn table() {
        use Failure::{NotEventStream as Not, Status};
        #[rustfmt::skip]
        let cases: &[(&str, u16, &str, Result<(), Failure>)] = &[
            ("plain", 200, "text/event-stream", Ok(())),
            ("case-insensitive essence", 200, "Text/Event-Stream", Ok(())),
            ("format-utf-8: charset is ignored", 200, "text/event-stream;charset=windows-1252", Ok(())),
            ("format-mime-trailing-semicolon", 200, "text/event-stream;", Ok(())),
            ("whitespace around", 200, " \ttext/event-stream \t; charset=utf-8 ", Ok(())),
            ("quoted comma in a parameter", 200, "text/event-stream; x=\"a,b\"", Ok(())),
            ("escaped quote in a parameter", 200, "text/event-stream; x=\"a\\\",text/html\"", Ok(())),
            ("last valid type wins", 200, "text/html, text/event-stream", Ok(())),
            ("*/* is skipped", 200, "text/event-stream, */*", Ok(())),
            ("invalid later value is skipped", 200, "text/event-stream, bogus", Ok(())),
            ("last valid type wins, the other way", 200, "text/event-stream, text/html", Err(Not)),
            ("format-mime-valid-bogus", 200, "text/x-bogus", Err(Not)),
            ("format-mime-bogus", 200, "x bogus", Err(Not)),
            ("no Content-Type", 200, "", Err(Not)),
            ("prefix only", 200, "text/event-streamx", Err(Not)),
            ("space before slash", 200, "text /event-stream", Err(Not)),
            ("no subtype", 200, "text/", Err(Not)),
            ("only */*", 200, "*/*", Err(Not)),
            ("request-status-error 204", 204, "text/event-stream", Err(Status(204))),
            ("request-status-error 205", 205, "text/event-stream", Err(Status(205))),
            ("request-status-error 210", 210, "text/event-stream", Err(Status(210))),
            ("request-status-error 299", 299, "text/event-stream", Err(Status(299))),
            ("request-status-error 404", 404, "text/event-stream", Err(Status(404))),
            ("request-status-error 410", 410, "text/event-stream", Err(Status(410))),
            ("request-status-error 503", 503, "text/event-stream", Err(Status(503))),
            ("500", 500, "text/event-stream", Err(Status(500))),
            ("an unfollowed redirect", 302, "text/event-stream", Err(Status(302))),
        ];
        for &(name, status, content_type, want) in cases {
            assert_eq!(check_response(status, content_type.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn splitting_values() {
        #[rustfmt::skip]
        let cases: &[(&str, &[&str])] = &[
            ("", &[""]),
            ("a,b", &["a", "b"]),
            ("a,", &["a", ""]),
            ("a\"b,c\",d", &["a\"b,c\"", "d"]),
            ("\"\\", &["\"\\"]),
            ("\"unterminated, still quoted", &["\"unterminated, still quoted"]),
        ];
        for (input, want) in cases {
            let mut got = Vec::new();
            let mut rest = Some(input.as_bytes());
            while let Some(values) = rest {
                let (value, after) = split_value(values);
                got.push(String::from_utf8_lossy(value).into_owned());
                rest = after;
            }
            assert_eq!(&got, want, "{input:?}");
        }
    }
}
