//! The bytes of a channel's events, and the grammar of what names them:
//! pure, no state.
//!
//! What always holds: an event published is one block of the event-stream
//! format, whatever the text: each of its lines (ended by CRLF, LF or CR,
//! as the standard reads them; one ending at the very end is dropped) is
//! one `data:` line, so no text can add a field or end the block early.

use crate::config::{MAX_CHANNEL_NAME, MAX_EVENT_TYPE};

/// A channel name: 1 to `MAX_CHANNEL_NAME` bytes of letters, digits, `.`,
/// `_` and `-`.
pub fn check_name(name: &[u8]) -> bool {
    (1..=MAX_CHANNEL_NAME).contains(&name.len())
        && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// An `event=` value: 1 to `MAX_EVENT_TYPE` visible ASCII characters.
pub fn check_event_type(t: &[u8]) -> bool {
    (1..=MAX_EVENT_TYPE).contains(&t.len()) && t.iter().all(|&b| (0x21..=0x7e).contains(&b))
}

/// One event: `event:` (if a type is given), `id:`, one `data:` line per
/// line of `data`, and the blank line.
pub fn format_event(event_type: Option<&str>, id: &str, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + id.len() + 32);
    if let Some(t) = event_type {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(t.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.as_bytes());
    out.push(b'\n');
    let data = data.strip_suffix("\r\n").or_else(|| data.strip_suffix(['\n', '\r'])).unwrap_or(data);
    let mut rest = data;
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix("\r\n").or_else(|| after.strip_prefix(['\r', '\n'])).unwrap_or(after);
    }
    out.push(b'\n');
    out
}

/// The event that tells a resuming client events were lost, before the
/// replay: `lost` is how many (`null` when unknown), `after` the id the
/// replay starts after. It has no id, so it leaves the client's last event
/// id as it was; `EventSource` listeners see it only if they ask for
/// `addEventListener("lost", ...)`.
pub fn lost_event(lost: Option<u64>, epoch: u64, after_seq: u64) -> Vec<u8> {
    let lost = lost.map_or("null".to_string(), |n| n.to_string());
    format!("event: lost\ndata: {{\"lost\":{lost},\"after\":\"{epoch}-{after_seq}\"}}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_one_data_line() {
        for (data, want) in [
            ("hello", "data: hello\n"),
            ("hello\n", "data: hello\n"),
            ("", "data: \n"),
            ("\n", "data: \n"),
            ("a\nb", "data: a\ndata: b\n"),
            ("a\r\nb\rc\n\nd", "data: a\ndata: b\ndata: c\ndata: \ndata: d\n"),
            ("data: x\n\nid: evil", "data: data: x\ndata: \ndata: id: evil\n"),
        ] {
            let got = format_event(None, "7-1", data);
            assert_eq!(String::from_utf8(got).unwrap(), format!("id: 7-1\n{want}\n"), "{data:?}");
        }
        let typed = format_event(Some("alert"), "7-2", "x");
        assert_eq!(typed, b"event: alert\nid: 7-2\ndata: x\n\n");
    }

    #[test]
    fn names_and_types() {
        for ok in [&b"a"[..], b"sensor.kitchen-2", b"A_b", &[b'x'; MAX_CHANNEL_NAME]] {
            assert!(check_name(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [&b""[..], b"a/b", b"a b", b"caf\xc3\xa9", b"%41", &[b'x'; MAX_CHANNEL_NAME + 1]] {
            assert!(!check_name(bad), "{}", String::from_utf8_lossy(bad));
        }
        assert!(check_event_type(b"alert") && !check_event_type(b"") && !check_event_type(b"a b"));
        assert!(!check_event_type(b"a\nb") && !check_event_type(&[b'x'; MAX_EVENT_TYPE + 1]));
    }

    #[test]
    fn the_lost_event() {
        assert_eq!(lost_event(Some(3), 9, 4), b"event: lost\ndata: {\"lost\":3,\"after\":\"9-4\"}\n\n");
        assert_eq!(lost_event(None, 9, 0), b"event: lost\ndata: {\"lost\":null,\"after\":\"9-0\"}\n\n");
    }
}
