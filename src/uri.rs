//! The URI grammar of RFC 3986 as RFC 9112 uses it for request targets and
//! `Host`: pure byte checks, no allocation. (Decoding is `ascii`'s.)
//!
//! A target is accepted in origin form (`/path?query`), absolute form
//! (`http://host:port/path?query`) or as `*`; authority form (`CONNECT`)
//! is refused. No byte above 0x7F and no fragment is ever accepted.

use crate::ascii::{after, is_pct_encoded_at, split};

/// `tchar` of RFC 9110 §5.6.2: the bytes of a method or a field name.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// `pchar` without `pct-encoded` (checked apart, since it spans 3 bytes).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
}

/// Bytes that may appear anywhere in a request target of any form. Bytes
/// outside this set end the target at once, so the request line parser can
/// refuse garbage before the line is complete.
pub fn is_target_byte(b: u8) -> bool {
    is_pchar(b) || b"/?%[]".contains(&b)
}

/// Checks a whole request target; the error says what is wrong with it.
pub fn check_target(target: &[u8]) -> Result<(), &'static str> {
    if target == b"*" {
        return Ok(());
    }
    if target.first() == Some(&b'/') {
        return check_path_query(target);
    }
    let (_, rest) = split_scheme(target).ok_or("target is neither origin form, absolute form nor *")?;
    let (authority, path) = split(rest, rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len()));
    check_host(authority)?;
    check_path_query(path)
}

/// `http://` or `https://`, any case; returns the scheme and what follows `//`.
fn split_scheme(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = target.iter().position(|&b| b == b':')?;
    let (scheme, rest) = target.split_at(colon);
    let http = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
    let rest = rest.strip_prefix(b"://")?;
    http.then_some((scheme, rest))
}

/// `path-abempty [ "?" query ]`: pchars, `/`, and `?` in the query.
fn check_path_query(s: &[u8]) -> Result<(), &'static str> {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'%' => {
                if !is_pct_encoded_at(s, i) {
                    return Err("malformed percent-encoding in the target");
                }
                i += 2;
            }
            b'?' | b'/' => {}
            _ if is_pchar(b) => {}
            _ => return Err("a byte not allowed in the target"),
        }
        i += 1;
    }
    Ok(())
}

/// `Host` (and the authority of an absolute-form target): `host [ ":" port ]`
/// where host is an IP literal in brackets, an IPv4 address or a reg-name.
/// Not empty, no userinfo, no path.
pub fn check_host(value: &[u8]) -> Result<(), &'static str> {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']').ok_or("invalid Host: unclosed [")?;
        let (literal, port) = split(rest, close);
        let ok = !literal.is_empty() && literal.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok {
            return Err("invalid Host: bad IP literal");
        }
        (&b"x"[..], after(port, 1))
    } else {
        split(value, value.iter().position(|&b| b == b':').unwrap_or(value.len()))
    };
    if host.is_empty() {
        return Err("invalid Host: empty");
    }
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            if !is_pct_encoded_at(host, i) {
                return Err("invalid Host: malformed percent-encoding");
            }
            i += 2;
        } else if !(is_unreserved(b) || is_sub_delim(b)) {
            return Err("invalid Host: userinfo, path or a byte not allowed");
        }
        i += 1;
    }
    match port {
        [] => Ok(()),
        [b':', digits @ ..] if digits.iter().all(u8::is_ascii_digit) => Ok(()),
        _ => Err("invalid Host: bad port"),
    }
}

/// Splits a checked target (not `*`) into its path and query. An
/// absolute-form target with no path has the path `/`.
pub fn path_and_query(target: &[u8]) -> (&[u8], &[u8]) {
    let rest = match split_scheme(target) {
        Some((_, rest)) if target.first() != Some(&b'/') => {
            after(rest, rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len()))
        }
        _ => target,
    };
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => {
            let (path, query) = split(rest, q);
            (path, after(query, 1))
        }
        None => (rest, &b""[..]),
    };
    if path.is_empty() { (b"/", query) } else { (path, query) }
}

/// The `key=value` pairs of a query, split at `&` (a pair without `=` has
/// no value); nothing is decoded.
pub fn query_pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    query.split(|&b| b == b'&').map(|pair| match pair.iter().position(|&b| b == b'=') {
        Some(eq) => {
            let (key, value) = split(pair, eq);
            (key, Some(after(value, 1)))
        }
        None => (pair, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_split_at_ampersands_and_the_first_equals() {
        type Pairs<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;
        let table: [(&[u8], Pairs); 5] = [
            (b"", vec![(b"", None)]),
            (b"a=1", vec![(b"a", Some(b"1"))]),
            (b"a=1&b", vec![(b"a", Some(b"1")), (b"b", None)]),
            (b"a==2&&c=", vec![(b"a", Some(b"=2")), (b"", None), (b"c", Some(b""))]),
            (b"x=%26", vec![(b"x", Some(b"%26"))]),
        ];
        for (query, want) in table {
            assert_eq!(query_pairs(query).collect::<Pairs>(), want, "{:?}", String::from_utf8_lossy(query));
        }
    }

    #[test]
    fn targets() {
        for ok in [
            &b"/"[..],
            b"*",
            b"/events?interval=10&count=2",
            b"/a/b%20c",
            b"/~x/@:!$&'()*+,;=",
            b"http://h/",
            b"HTTP://h:8888/events?x",
            b"https://[::1]:1/",
            b"http://h",
            b"http://h?q",
            b"/?a?b/",
        ] {
            assert_eq!(check_target(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"/a%2"[..],
            b"/a%zz",
            b"/a\\b",
            b"/a|b",
            b"/a{",
            b"/[",
            b"h:80",
            b"ftp://h/",
            b"http://u@h/",
            b"http:///",
            b"http://h/a b",
            b"example.com",
            b"/\x80",
        ] {
            assert!(check_target(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn hosts() {
        for ok in [&b"h"[..], b"h:1", b"h:", b"127.0.0.1:8888", b"[::1]", b"[::1]:80", b"a-b.c_d~e", b"%41"] {
            assert_eq!(check_host(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [&b""[..], b":80", b"u@h", b"h/p", b"h:8x", b"[::1", b"[]", b"[g::1]", b"h h", b"h:1:2", b"%4"] {
            assert!(check_host(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn split_path_and_query() {
        assert_eq!(path_and_query(b"/events?count=2"), (&b"/events"[..], &b"count=2"[..]));
        assert_eq!(path_and_query(b"/"), (&b"/"[..], &b""[..]));
        assert_eq!(path_and_query(b"http://h:1/x?y"), (&b"/x"[..], &b"y"[..]));
        assert_eq!(path_and_query(b"http://h"), (&b"/"[..], &b""[..]));
        assert_eq!(path_and_query(b"http://h?q"), (&b"/"[..], &b"q"[..]));
    }
}
