//! Small pure helpers on ASCII bytes: strict decimals, decimal formatting,
//! hexadecimal digits and percent-decoding.
//!
//! They sit below every other module (the parsers, the formatters, the
//! command line) and import nothing from the crate, so nothing imports in a
//! circle through them. What always holds: no function here panics or
//! allocates more than its output, whatever bytes it is given.

use std::borrow::Cow;

/// Decimal digits only: no sign, no spaces, not empty, within `u64`.
/// Leading zeros are allowed (`007` is 7).
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Appends the decimal digits of `n` (what `write!` would, without the
/// formatting machinery, on the path of every event and response).
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    // 20 digits hold u64::MAX: the loop ends by `n == 0` before the slots do.
    let mut digits = [0u8; 20];
    let mut first = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        first -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(after(&digits, first));
}

/// Appends the lowercase hexadecimal digits of `n` (a chunk size).
pub fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut shift = 60;
    while shift > 0 && n >> shift == 0 {
        shift -= 4;
    }
    loop {
        out.push(DIGITS[(n >> shift & 0xf) as usize]);
        if shift == 0 {
            break;
        }
        shift -= 4;
    }
}

/// The value of one hexadecimal digit, either case.
pub fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` once (`%41` is `A`). Borrowed when there is nothing
/// to decode; `None` when a `%` is not followed by two hexadecimal digits.
pub fn percent_decode(s: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !s.contains(&b'%') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hi = hex_digit(*s.get(i + 1)?)?;
            let lo = hex_digit(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(Cow::Owned(out))
}

/// `s` split at `i`, a position the caller found in `s` (`i <= s.len()`).
/// Checked all the same: a broken invariant stops a debug build (the tests
/// and the fuzzers) and never panics a release build, which gets `(s, [])`.
pub fn split(s: &[u8], i: usize) -> (&[u8], &[u8]) {
    debug_assert!(i <= s.len(), "split at {i} of {} bytes", s.len());
    s.split_at_checked(i).unwrap_or((s, &[]))
}

/// `&s[i..]`, where `i <= s.len()` is the caller's invariant (see `split`).
pub fn after(s: &[u8], i: usize) -> &[u8] {
    split(s, i).1
}

/// `&s[..i]`, where `i <= s.len()` is the caller's invariant (see `split`).
pub fn before(s: &[u8], i: usize) -> &[u8] {
    split(s, i).0
}

/// Whether `s[i..]` starts with a well-formed `%XX`.
pub fn is_pct_encoded_at(s: &[u8], i: usize) -> bool {
    s.get(i) == Some(&b'%')
        && s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_strict() {
        for (text, want) in [
            (&b"0"[..], Some(0)),
            (b"007", Some(7)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"", None),
            (b"+1", None),
            (b"-1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"0x5", None),
            (b"18446744073709551616", None),
            (b"1.0", None),
        ] {
            assert_eq!(parse_decimal(text), want, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn decimals_are_written() {
        for n in [0, 7, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX] {
            let mut out = b"x".to_vec();
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn hexadecimals_are_written() {
        for n in [0, 9, 10, 255, 4096, u64::MAX] {
            let mut out = Vec::new();
            push_hex(&mut out, n);
            assert_eq!(out, format!("{n:x}").into_bytes());
        }
    }

    #[test]
    fn percent_decoding() {
        for (text, want) in [
            (&b"/plain"[..], Some(&b"/plain"[..])),
            (b"/a%2e%2E/b%2Fc", Some(b"/a../b/c")),
            (b"%41%00", Some(b"A\0")),
            (b"%4", None),
            (b"%zz", None),
            (b"%", None),
        ] {
            assert_eq!(percent_decode(text).as_deref(), want, "{}", String::from_utf8_lossy(text));
        }
        assert!(matches!(percent_decode(b"/x"), Some(Cow::Borrowed(_))));
        assert_eq!(split(b"abc", 1), (&b"a"[..], &b"bc"[..]));
        assert_eq!((before(b"abc", 3), after(b"abc", 3)), (&b"abc"[..], &b""[..]));
        assert!(is_pct_encoded_at(b"a%2F", 1));
        assert!(!is_pct_encoded_at(b"a%2", 1));
        assert!(!is_pct_encoded_at(b"a%2F", 0));
    }
}
