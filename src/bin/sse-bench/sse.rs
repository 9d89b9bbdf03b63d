//! How sse-bench reads one stream's body: with the project's event-stream
//! parser, `sse_server::eventsource` (what a browser's `EventSource` makes
//! of the bytes), under sse-bench's own bounds, and what each item counts.
//!
//! It owns one stream's parser and its checks: of ids (the load run), or
//! of stamps (`--publish`: `publish::stamp`). What always holds: the
//! parser keeps at most `MAX_LINE` bytes of an unfinished line and
//! `MAX_DATA` bytes of one event's data, and a server that sends more breaks
//! the stream with an error, so memory per stream is bounded whatever the
//! server sends (a line that arrives whole in one read is not copied, so it
//! is bounded by the read buffer instead). Pure: no socket, no clock.

use sse_server::eventsource::{Item, LimitError, Limits, Parser};

use crate::check::{self, StreamCheck};
use crate::publish::stamp::{Seen, StampCheck};
use crate::stats::Stats;

/// Longest line kept while waiting for its end: 64 KiB of payload plus room
/// for a field name. A real server's lines are far shorter.
pub const MAX_LINE: usize = 64 * 1024 + 1024;
/// Largest data buffer of one event (all its `data` lines together).
pub const MAX_DATA: usize = 64 * 1024 + 1024;

/// One stream's event-stream reader.
#[derive(Debug)]
pub struct Reader {
    parser: Parser,
    check: Check,
}

#[derive(Debug)]
enum Check {
    /// Numbered ids and lateness against the interval: the load run.
    Ids(StreamCheck),
    /// Stamped events of `--publish`.
    Stamps(StampCheck),
}

impl Reader {
    pub fn new() -> Reader {
        Reader::with(Check::Ids(StreamCheck::default()))
    }

    /// A subscriber's reader in `--publish` mode.
    pub fn stamped() -> Reader {
        Reader::with(Check::Stamps(StampCheck::default()))
    }

    fn with(check: Check) -> Reader {
        Reader { parser: Parser::new(Limits { line: MAX_LINE, data: MAX_DATA }), check }
    }

    /// The number of the last event this stream received, if any (load run).
    pub fn last_number(&self) -> Option<u64> {
        match &self.check {
            Check::Ids(check) => check.last_number(),
            Check::Stamps(_) => None,
        }
    }

    /// Stamped events delivered to this stream (`--publish`).
    pub fn delivered(&self) -> u64 {
        match &self.check {
            Check::Ids(_) => 0,
            Check::Stamps(check) => check.delivered(),
        }
    }

    /// Parses the next body bytes, which arrived at `arrival_us`, and counts
    /// and checks what they carry into `stats`.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        arrival_us: u64,
        interval_us: u64,
        stats: &mut Stats,
    ) -> Result<(), LimitError> {
        let check = &mut self.check;
        let mut on_item = |item: Item<'_>| match item {
            Item::Comment(_) => stats.comments += 1,
            Item::Event(event) => {
                stats.events += 1;
                // Only an event's own id is checked: an event that inherits
                // the last one is not a repeat of it.
                let own_id = event.has_id.then_some(event.last_event_id);
                match check {
                    Check::Ids(check) => {
                        let id = own_id.and_then(|id| check::id_number(id.as_bytes()));
                        let seen = check.on_event(id, arrival_us, interval_us);
                        stats.gaps += u64::from(seen.gap);
                        stats.repeats += u64::from(seen.repeat);
                        if let Some(late) = seen.lateness_us {
                            stats.lateness_us.record(late);
                        }
                    }
                    Check::Stamps(check) => match check.on_event(event.data, own_id, arrival_us) {
                        Seen::Foreign => stats.unstamped += 1,
                        Seen::Stamped { new, repeat, latency_us } => {
                            if new {
                                stats.delivered += 1;
                                stats.publish_latency_us.record(latency_us);
                                stats.last_delivery_us = stats.last_delivery_us.max(arrival_us);
                            }
                            stats.repeats += u64::from(repeat);
                        }
                    },
                }
            }
        };
        self.parser.feed(bytes, &mut on_item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (events, comments, gaps, repeats, last number) after feeding `pieces`.
    type Counted = (u64, u64, u64, u64, Option<u64>);

    fn read(pieces: &[&[u8]]) -> Result<Counted, LimitError> {
        let mut reader = Reader::new();
        let mut stats = Stats::default();
        for piece in pieces {
            reader.feed(piece, 0, 1, &mut stats)?;
        }
        Ok((stats.events, stats.comments, stats.gaps, stats.repeats, reader.last_number()))
    }

    #[test]
    fn table_in_every_split() {
        let sse_server = "event: my-custom-event\nid: 3-7\ndata: Server says hi! (event #7 of connection #3)\n\n";
        let node = "event: my-custom-event\nid: 1001\ndata: Server says hi! (event #1 of connection #1)\n\n";
        #[rustfmt::skip]
        let cases: &[(&str, String, Counted)] = &[
            ("sse-server event", sse_server.into(), (1, 0, 0, 0, Some(7))),
            ("node demo event", node.into(), (1, 0, 0, 0, Some(1001))),
            ("crlf", "id: 3-7\r\ndata: a\r\n\r\n".into(), (1, 0, 0, 0, Some(7))),
            ("cr", "id: 3-7\rdata: a\r\r".into(), (1, 0, 0, 0, Some(7))),
            ("bom", "\u{FEFF}id: 3-7\ndata: a\n\n".into(), (1, 0, 0, 0, Some(7))),
            ("in order", format!("{sse_server}{}", sse_server.replace("3-7", "3-8")), (2, 0, 0, 0, Some(8))),
            ("gap", format!("{sse_server}{}", sse_server.replace("3-7", "3-9")), (2, 0, 1, 0, Some(9))),
            ("repeat", format!("{sse_server}{sse_server}"), (2, 0, 0, 1, Some(7))),
            // An event without its own id is taken as the next one, and the
            // id it inherits is not checked: no repeat.
            ("id persists", "id: 1\ndata: a\n\ndata: b\n\n".into(), (2, 0, 0, 0, Some(2))),
            ("lone id block", "id: 9\n\ndata: b\n\n".into(), (1, 0, 0, 0, Some(1))),
            ("empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n".into(), (2, 0, 0, 0, Some(2))),
            ("id with NUL ignored", "id: 5\0\ndata: a\n\n".into(), (1, 0, 0, 0, Some(1))),
            ("heartbeat", ": heartbeat\n\n".into(), (0, 1, 0, 0, None)),
            ("comments", ":\n: hi\ndata: a\n\n".into(), (1, 2, 0, 0, Some(1))),
            ("no blank line, no event", "id: 1\ndata: x\n".into(), (0, 0, 0, 0, None)),
            ("a block without data is no event", "id: 1\nretry: 100\n\n".into(), (0, 0, 0, 0, None)),
        ];
        for (name, input, want) in cases {
            let bytes = input.as_bytes();
            assert_eq!(read(&[bytes]), Ok(*want), "{name}: whole");
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                assert_eq!(read(&[a, b]), Ok(*want), "{name}: split at {at}");
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(read(&bytewise), Ok(*want), "{name}: byte by byte");
        }
    }

    #[test]
    fn lateness_is_recorded_after_the_first_event() {
        let mut reader = Reader::new();
        let mut stats = Stats::default();
        let event = |n: u64| format!("id: 1-{n}\ndata: x\n\n");
        for (n, at) in [(1, 1_000), (2, 2_500), (3, 3_000)] {
            assert_eq!(reader.feed(event(n).as_bytes(), at, 1_000, &mut stats), Ok(()));
        }
        assert_eq!((stats.lateness_us.count(), stats.lateness_us.max()), (2, 500));
    }

    #[test]
    fn stamped_events_count_as_deliveries() {
        let mut reader = Reader::stamped();
        let mut stats = Stats::default();
        let body = "id: 5-1\ndata: seq=1 us=100\n\n: hi\n\nid: 5-2\ndata: seq=2 us=200\n\n\
                    data: not a stamp\n\nid: 5-2\ndata: seq=2 us=200\n\n";
        for piece in body.as_bytes().chunks(7) {
            assert_eq!(reader.feed(piece, 1_000, 0, &mut stats), Ok(()));
        }
        assert_eq!((stats.events, stats.comments, stats.delivered, stats.unstamped), (4, 1, 2, 1));
        assert_eq!((stats.repeats, stats.gaps, reader.delivered(), reader.last_number()), (1, 0, 2, None));
        assert_eq!((stats.publish_latency_us.count(), stats.publish_latency_us.max()), (2, 900));
        assert_eq!((stats.lateness_us.count(), stats.last_delivery_us), (0, 1_000));
    }

    #[test]
    fn line_limit_is_reached_exactly() {
        let mut ok = vec![b'x'; MAX_LINE];
        ok.push(b'\n');
        for pieces in [vec![&ok[..]], ok.chunks(1000).collect()] {
            assert_eq!(read(&pieces), Ok((0, 0, 0, 0, None)));
        }
        let too_long = vec![b'x'; MAX_LINE + 1];
        for pieces in [vec![&too_long[..]], too_long.chunks(1000).collect()] {
            assert_eq!(read(&pieces), Err(LimitError::LineTooLong));
        }
    }

    #[test]
    fn data_limit_is_reached_exactly() {
        // Lines of 1000 data bytes; each adds 1001 to the buffer.
        let line = format!("data: {}\n", "x".repeat(1000));
        let fits = MAX_DATA / 1001;
        let ok = line.repeat(fits) + "\n";
        assert_eq!(read(&[ok.as_bytes()]).map(|counted| counted.0), Ok(1));
        let over = line.repeat(fits + 1);
        assert_eq!(read(&[over.as_bytes()]), Err(LimitError::DataTooLong));
    }
}
