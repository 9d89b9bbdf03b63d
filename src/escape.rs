//! Text made safe to put inside JSON strings and HTML, for the answers
//! that are documents (`/scenarios`, `/scenarios/NAME/expected`).
//!
//! What always holds: any `&str` comes out as a valid JSON string (quotes,
//! backslashes and control characters escaped; U+2028 and U+2029 too, so
//! the text is also safe inside a script) or as HTML text with `<`, `>`,
//! `&` and quotes escaped.

/// Appends `s` as a JSON string, quotes included.
pub fn push_json(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let n = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[(n >> shift & 0xf) as usize]);
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Appends `s` as HTML text.
pub fn push_html(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&#39;"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings() {
        for (text, want) in [
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("l1\nl2\r\t", r#""l1\nl2\r\t""#),
            ("nul\0x\u{1f}", r#""nul\u0000x\u001f""#),
            ("caf\u{e9} \u{2028}\u{2029}\u{fffd}", "\"caf\u{e9} \\u2028\\u2029\u{fffd}\""),
        ] {
            let mut out = Vec::new();
            push_json(&mut out, text);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn html_text() {
        let mut out = Vec::new();
        push_html(&mut out, "<a href=\"x\">O'Neil & co</a>");
        assert_eq!(out, b"&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;");
    }
}
