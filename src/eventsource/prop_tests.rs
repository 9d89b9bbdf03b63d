//! Properties, on streams made of every feature and bad UTF-8: any cut of
//! any input gives what feeding it whole gives, which is what a plain
//! reading of the standard gives; no bytes make the parser panic; the
//! word-at-a-time line-end search finds what a byte loop finds.

use proptest::prelude::*;

use super::tests::{Got, c, ev, run};
use super::*;

/// The UTF-8 byte-order mark, which UTF-8 decode removes once, at the start.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A plain reading of §9.2.5 and §9.2.6: decode the whole stream, cut it
/// into lines, process each; items and the final session.
fn reference(input: &[u8]) -> (Vec<Got>, String, Option<u64>) {
    let text = String::from_utf8_lossy(input.strip_prefix(BOM).unwrap_or(input));
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\r' | '\n' => {
                if ch == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            _ => line.push(ch),
        }
    }
    let (mut items, mut data, mut event_type, mut id_buffer, mut id, mut retry) =
        (Vec::new(), String::new(), String::new(), String::new(), String::new(), None);
    for line in lines {
        if line.is_empty() {
            id = id_buffer.clone();
            if !data.is_empty() {
                data.pop();
                let t = if event_type.is_empty() { "message" } else { event_type.as_str() };
                items.push(ev(t, &data, &id));
            }
            data.clear();
            event_type.clear();
        } else if let Some(comment) = line.strip_prefix(':') {
            items.push(c(comment));
        } else {
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event_type = value.to_owned(),
                "data" => data = format!("{data}{value}\n"),
                "id" if !value.contains('\0') => id_buffer = value.to_owned(),
                "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                    retry = Some(value.parse::<u64>().unwrap_or(u64::MAX));
                }
                _ => {}
            }
        }
    }
    (items, id, retry)
}

/// Pieces that make streams with every feature, and bad UTF-8.
const TOKENS: &[&[u8]] = &[
    b"data",
    b"id",
    b"event",
    b"retry",
    b":",
    b": ",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"x",
    b"7",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xC3\xA9",
    b"\xE2\x82\xAC",
    b"\xF0\x9F\x98\x80",
    b"\xFF",
    b"\xC3",
    b"\xE2\x82",
    "\u{2028}".as_bytes(),
];

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|tokens| tokens.concat())
}

fn cut<'a>(input: &'a [u8], at: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = at.iter().map(|i| i.index(input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in cuts {
        pieces.push(input.get(start..end).unwrap_or_default());
        start = end;
    }
    pieces.push(input.get(start..).unwrap_or_default());
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_cut_gives_what_whole_gives(input in stream(), at in prop::collection::vec(any::<prop::sample::Index>(), 0..10)) {
        prop_assert_eq!(run(&cut(&input, &at)), run(&[&input]));
    }

    #[test]
    fn the_parser_reads_as_the_standard_does(input in stream(), at in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let (items, session) = run(&cut(&input, &at));
        let (want_items, want_id, want_retry) = reference(&input);
        prop_assert_eq!(items, want_items);
        prop_assert_eq!(session.last_event_id(), want_id.as_str());
        prop_assert_eq!(session.reconnection_time_ms(), want_retry);
    }

    #[test]
    fn no_panic_on_any_bytes(input in prop::collection::vec(any::<u8>(), 0..300), at in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        for limits in [Limits::NONE, Limits { line: 8, data: 8 }] {
            let mut parser = Parser::new(limits);
            for piece in cut(&input, &at) {
                if parser.feed(piece, &mut |_| {}).is_err() {
                    break;
                }
            }
            parser.finish();
        }
    }
}

proptest! {
    #[test]
    fn line_ends_are_found_as_a_byte_loop_finds_them(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r')], 0..40),
    ) {
        prop_assert_eq!(find_line_end(&bytes), bytes.iter().position(|&b| b == b'\n' || b == b'\r'));
    }
}

#[test]
fn line_ends_at_every_offset() {
    for len in 0..24 {
        for at in 0..len {
            for end in [b'\n', b'\r'] {
                // Bytes one off CR and LF, and high bytes, around the end.
                let mut bytes: Vec<u8> = (0..len).map(|i| [0x0B, 0x0C, 0x8A, 0x8D, 0xFF, 0x09, 0x00][i % 7]).collect();
                if let Some(b) = bytes.get_mut(at) {
                    *b = end;
                }
                assert_eq!(find_line_end(&bytes), Some(at), "len {len}, end at {at}");
            }
        }
        let none: Vec<u8> = (0..len).map(|i| [0x0B, 0x0C, 0x8A, 0x8D][i % 4]).collect();
        assert_eq!(find_line_end(&none), None, "len {len}");
    }
}
