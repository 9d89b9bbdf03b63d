//! Per-stream checks of what arrives: id numbering (gaps, repeats) and
//! delivery lateness against a fixed-rate schedule.
//!
//! Ids are numbered: sse-server sends `C-N` (connection C, event N), the
//! Node demo an integer that grows by one per event. The number checked is
//! the part after the last `-`, or the whole id. Lateness: the first event of
//! a stream sets the schedule (arrival t0, number n0); event n is due at
//! t0 + (n - n0) × interval, and lateness is how far after that it arrives.
//! Pure: times are parameters, in microseconds since the bench started.

/// The number in an event id, if it has one: `7` for `3-7` or for `7`.
pub fn id_number(id: &[u8]) -> Option<u64> {
    let digits = match id.iter().rposition(|&b| b == b'-') {
        Some(dash) => id.get(dash + 1..)?,
        None => id,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// What one event showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Its number is more than one above the previous one.
    pub gap: bool,
    /// Its number is not above the previous one.
    pub repeat: bool,
    /// Microseconds after its due time; `None` for the first event, which
    /// sets the schedule and so is on time by definition.
    pub lateness_us: Option<u64>,
}

#[derive(Debug, Default)]
pub struct StreamCheck {
    /// Arrival and number of the first event.
    first: Option<(u64, u64)>,
    /// Number of the last event that had a numeric id of its own.
    prev_id: Option<u64>,
    /// Number used for the schedule of the last event.
    last_n: u64,
}

impl StreamCheck {
    /// The number of the last event received, if any was.
    pub fn last_number(&self) -> Option<u64> {
        self.first.map(|_| self.last_n)
    }

    /// `id` is the number of the event's own id, when it has one; an event
    /// without one is taken to be the one after the last.
    pub fn on_event(&mut self, id: Option<u64>, arrival_us: u64, interval_us: u64) -> Seen {
        let (gap, repeat) = match (self.prev_id, id) {
            (Some(prev), Some(n)) => (n > prev.saturating_add(1), n <= prev),
            _ => (false, false),
        };
        if id.is_some() {
            // After a repeat the count restarts from the repeated number, so
            // one step back is one repeat, not a repeat per later event.
            self.prev_id = id;
        }
        let n = id.unwrap_or(self.last_n.saturating_add(1));
        self.last_n = n;
        let Some((t0, n0)) = self.first else {
            self.first = Some((arrival_us, n));
            return Seen { gap, repeat, lateness_us: None };
        };
        // i128: numbers and times are u64 and the difference may be negative.
        let steps = i128::from(n) - i128::from(n0);
        let due = i128::from(t0).saturating_add(steps.saturating_mul(i128::from(interval_us)));
        let late = i128::from(arrival_us).saturating_sub(due).max(0);
        Seen { gap, repeat, lateness_us: Some(u64::try_from(late).unwrap_or(u64::MAX)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<u64>)] = &[
            ("3-7", Some(7)), ("7", Some(7)), ("1001", Some(1001)), ("0", Some(0)),
            ("a-b-12", Some(12)), ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None), ("", None), ("3-", None), ("-", None),
            ("x", None), ("3-+7", None), ("3- 7", None), ("7 ", None), ("١", None),
        ];
        for (id, want) in cases {
            assert_eq!(id_number(id.as_bytes()), *want, "{id:?}");
        }
    }

    #[test]
    fn gaps_and_repeats() {
        // (id, gap, repeat)
        #[rustfmt::skip]
        let cases: &[(Option<u64>, bool, bool)] = &[
            (Some(5), false, false), (Some(6), false, false), (Some(8), true, false),
            (None, false, false), (Some(8), false, true), (Some(7), false, true),
            (Some(8), false, false), (Some(u64::MAX), true, false), (Some(u64::MAX), false, true),
        ];
        let mut check = StreamCheck::default();
        for (i, &(id, gap, repeat)) in cases.iter().enumerate() {
            let seen = check.on_event(id, 0, 1);
            assert_eq!((seen.gap, seen.repeat), (gap, repeat), "event {i}: {id:?}");
        }
    }

    #[test]
    fn lateness() {
        // interval 1000 µs; (id, arrival, lateness)
        #[rustfmt::skip]
        let cases: &[(Option<u64>, u64, Option<u64>)] = &[
            (Some(3), 10_000, None),        // sets t0 = 10 000, n0 = 3
            (Some(4), 11_000, Some(0)),     // on time
            (Some(5), 12_250, Some(250)),   // 250 µs late
            (Some(6), 12_900, Some(0)),     // early counts as on time
            (None, 14_100, Some(100)),      // taken as 7
            (Some(9), 16_000, Some(0)),     // a gap keeps the schedule
            (Some(2), 16_000, Some(7_000)), // a step back is far late
        ];
        let mut check = StreamCheck::default();
        for (i, &(id, at, want)) in cases.iter().enumerate() {
            assert_eq!(check.on_event(id, at, 1_000).lateness_us, want, "event {i}");
        }
    }

    #[test]
    fn without_ids_events_count_from_the_first() {
        let mut check = StreamCheck::default();
        let late: Vec<_> = [0, 100, 260, 300].iter().map(|&at| check.on_event(None, at, 100).lateness_us).collect();
        assert_eq!(late, [None, Some(0), Some(60), Some(0)]);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut check = StreamCheck::default();
        check.on_event(Some(u64::MAX), u64::MAX, u64::MAX);
        let seen = check.on_event(Some(0), u64::MAX, u64::MAX);
        assert!(seen.repeat);
        assert_eq!(seen.lateness_us, Some(u64::MAX));
    }
}
