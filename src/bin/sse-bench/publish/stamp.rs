//! The stamp each published event carries, and what a subscriber checks
//! with it.
//!
//! A stamp is the event's whole content, as text: `seq=S us=T`, S the
//! publish's sequence number (1, 2, 3, ... in the order they are sent) and
//! T the microseconds since the bench started when it was sent. Publisher
//! and subscribers are one process with one clock, so receive time minus T
//! is the publish-to-delivery latency.
//!
//! Per subscriber, events must come exactly once and in order. The stamped
//! sequence says so for any server, whatever its ids look like: a number
//! not above the last one is a repeat. Ids are checked too, without
//! assuming a format: an event whose own id is the same as the last one's
//! is a repeat, and so is one whose id number (the part after the last `-`,
//! as in sse-server's `E-S`, when it is all digits) is not above the last
//! one's. Missing numbers are counted by the run as a whole (every
//! subscriber must get every accepted publish). Pure: no socket, no clock.

use crate::check;

/// `seq=S us=T`, appended to `out`.
pub fn format(seq: u64, us: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "seq={seq} us={us}");
}

/// The sequence number and send time of a stamp, if `data` is exactly one.
pub fn parse(data: &str) -> Option<(u64, u64)> {
    let (seq, us) = data.strip_prefix("seq=")?.split_once(" us=")?;
    Some((number(seq)?, number(us)?))
}

fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What one event was to its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not a stamp of this run (another publisher, a server's own event).
    Foreign,
    /// A stamped event: `new` when its number is above the last one (it
    /// counts as delivered, with its latency), `repeat` when its number or
    /// its id says it is not new.
    Stamped { new: bool, repeat: bool, latency_us: u64 },
}

/// One subscriber's checks.
#[derive(Debug, Default)]
pub struct StampCheck {
    /// The last stamped number delivered; 0 before the first.
    last_seq: u64,
    /// The last own id seen, as a hash (ids are not kept).
    last_id: Option<u64>,
    /// Its number, when it had one.
    last_id_number: Option<u64>,
    /// Events delivered: stamped, and new.
    delivered: u64,
}

impl StampCheck {
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// An event with `data`, its own id (`None` when its block had none),
    /// received at `arrival_us`.
    pub fn on_event(&mut self, data: &str, own_id: Option<&str>, arrival_us: u64) -> Seen {
        let mut id_repeat = false;
        if let Some(id) = own_id {
            let hash = fnv1a(id.as_bytes());
            let number = check::id_number(id.as_bytes());
            id_repeat = self.last_id == Some(hash)
                || matches!((self.last_id_number, number), (Some(last), Some(n)) if n <= last);
            self.last_id = Some(hash);
            if number.is_some() {
                self.last_id_number = number;
            }
        }
        let Some((seq, sent_us)) = parse(data) else { return Seen::Foreign };
        let new = seq > self.last_seq;
        if new {
            self.last_seq = seq;
            self.delivered += 1;
        }
        Seen::Stamped { new, repeat: !new || id_repeat, latency_us: arrival_us.saturating_sub(sent_us) }
    }
}

/// FNV-1a, 64 bits: enough to tell one id from the next.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        for (seq, us) in [(1, 0), (42, 1_234_567), (u64::MAX, u64::MAX)] {
            let mut out = Vec::new();
            format(seq, us, &mut out);
            assert_eq!(parse(std::str::from_utf8(&out).unwrap()), Some((seq, us)));
        }
        assert_eq!(parse("seq=7 us=9"), Some((7, 9)));
        for bad in ["", "seq=7", "seq= us=1", "seq=7 us=", "seq=+7 us=1", "seq=7 us=1 ", "x seq=7 us=1", "seq=7  us=1"]
        {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse("seq=18446744073709551616 us=1"), None);
    }

    fn stamp(seq: u64, us: u64) -> String {
        format!("seq={seq} us={us}")
    }

    #[test]
    fn in_order_once_by_the_stamps() {
        let mut c = StampCheck::default();
        let seen = |new, repeat, latency_us| Seen::Stamped { new, repeat, latency_us };
        // (seq, id, arrival, what it was)
        #[rustfmt::skip]
        let cases: &[(u64, Option<&str>, u64, Seen)] = &[
            (1, Some("17-1"), 150, seen(true, false, 50)),
            (2, Some("17-2"), 300, seen(true, false, 100)),
            (4, Some("17-4"), 500, seen(true, false, 100)),   // a gap: counted by the run
            (4, Some("17-4"), 600, seen(false, true, 200)),   // the same event again
            (3, Some("17-3"), 700, seen(false, true, 400)),   // a step back
            (5, None, 800, seen(true, false, 300)),           // no id: the stamp decides
            (6, Some("17-2"), 900, seen(true, true, 300)),    // a new event under an older id
            (7, Some("17-2"), 950, seen(true, true, 50)),     // and under the same id
        ];
        for (i, &(seq, id, at, want)) in cases.iter().enumerate() {
            assert_eq!(c.on_event(&stamp(seq, at - want_latency(want)), id, at), want, "event {i}");
        }
        assert_eq!(c.delivered(), 6);
    }

    fn want_latency(seen: Seen) -> u64 {
        match seen {
            Seen::Stamped { latency_us, .. } => latency_us,
            Seen::Foreign => 0,
        }
    }

    #[test]
    fn ids_of_any_format() {
        // nchan's ids (`TIME:TAG`) have no number: only equality is checked.
        let mut c = StampCheck::default();
        assert_eq!(
            c.on_event(&stamp(1, 0), Some("1796215409:0"), 5),
            Seen::Stamped { new: true, repeat: false, latency_us: 5 }
        );
        assert_eq!(
            c.on_event(&stamp(2, 0), Some("1796215409:1"), 5),
            Seen::Stamped { new: true, repeat: false, latency_us: 5 }
        );
        assert_eq!(
            c.on_event(&stamp(3, 0), Some("1796215409:1"), 5),
            Seen::Stamped { new: true, repeat: true, latency_us: 5 }
        );
        // Foreign events are not counted, but their ids are the last ones.
        assert_eq!(c.on_event("hello", Some("x"), 5), Seen::Foreign);
        assert_eq!(c.on_event(&stamp(4, 9), Some("x"), 5), Seen::Stamped { new: true, repeat: true, latency_us: 0 });
        assert_eq!(c.delivered(), 4);
    }
}
