//! The pure parsers a request's target and fields go through after
//! `http::parse`: `demo::parse_query`, `sse::parse_last_event_id` (and
//! `ascii::parse_decimal`), `uri::check_target`, `uri::path_and_query`,
//! `uri::check_host` and `ascii::percent_decode`. The whole input goes to
//! each.
//!
//! Checked, besides "no panic":
//! - `parse_decimal` agrees with `u64::from_str` on inputs without a sign;
//! - `parse_last_event_id` gives back the numbers of `C-N` it was given;
//! - `parse_query` values are within the contract's ranges;
//! - a target `check_target` accepts holds only target bytes, splits into
//!   a path that starts with `/`, and that path decodes to one byte per
//!   `%XX` or plain byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_server::config::{MAX_EVENT_SIZE, MAX_INTERVAL_MS};
use sse_server::ascii::{parse_decimal, percent_decode};
use sse_server::stream::demo;
use sse_server::{sse, uri};

fuzz_target!(|data: &[u8]| {
    // Numbers.
    let std =
        if data.iter().all(u8::is_ascii_digit) { std::str::from_utf8(data).unwrap().parse::<u64>().ok() } else { None };
    assert_eq!(parse_decimal(data), std);

    // Last-Event-ID.
    if let Some((c, n)) = sse::parse_last_event_id(data) {
        let dash = data.iter().position(|&b| b == b'-').unwrap();
        assert_eq!(parse_decimal(&data[..dash]), Some(c));
        assert_eq!(parse_decimal(&data[dash + 1..]), Some(n));
        assert_eq!(sse::parse_last_event_id(format!("{c}-{n}").as_bytes()), Some((c, n)));
    }

    // The /events query.
    if let Ok(p) = demo::parse_query(data) {
        if let Some(i) = p.interval {
            assert!((1..=u128::from(MAX_INTERVAL_MS)).contains(&i.as_millis()), "{i:?}");
        }
        assert!(p.count.is_none_or(|c| c >= 1));
        assert!(p.size <= MAX_EVENT_SIZE);
    }

    // Host.
    let _ = uri::check_host(data);

    // The target, its path and query.
    if uri::check_target(data).is_ok() {
        assert!(data.iter().all(|&b| uri::is_target_byte(b)), "{data:?}");
        if data != b"*" {
            let (path, query) = uri::path_and_query(data);
            assert!(path.first() == Some(&b'/'), "path {path:?}");
            assert!(path.len() + query.len() <= data.len());
            let escapes = path.iter().filter(|&&b| b == b'%').count();
            match percent_decode(path) {
                Some(d) => assert_eq!(d.len(), path.len() - 2 * escapes),
                None => panic!("checked path {path:?} does not decode"),
            }
        }
    }
    let _ = percent_decode(data);
});
