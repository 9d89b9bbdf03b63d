//! How late the server is: a histogram of how long after its due time each
//! event was handed to the kernel, served at `/metrics` as
//! `sse_event_lateness_seconds`, so that a load tester can tell the
//! server's lateness from the load generator's.
//!
//! An event is due at its stream's deadline (a channel's event: when its
//! publish was handled; one replayed, or waiting behind a replay: when the
//! subscription began). It is handed to the kernel when the write that
//! empties the connection's output returns; that moment is read from the
//! clock then, not from the loop turn's start. Events queued behind a
//! client's full socket are observed together when it drains, each with
//! the lateness of the oldest (an upper bound). Paced streams (the `split`
//! and `pause` knobs) are left out: their delay is the point.
//!
//! What always holds: a connection keeps the due time of its oldest unsent
//! event in eight bytes (a `Stamp`: microseconds since the server started,
//! never 0), so an event held for hours behind a client that reads a
//! trickle is counted as late as it was, never wrapped around. The buckets
//! are fixed and the counts saturate, so observing never allocates.

use std::num::NonZeroU64;
use std::time::Instant;

/// Upper bounds of the buckets in microseconds (`+Inf` follows): fine
/// around the 1 ms a load tester asks of p99, coarse past it.
pub const BUCKETS_US: [u32; 14] =
    [50, 100, 200, 300, 500, 750, 1_000, 2_000, 5_000, 10_000, 25_000, 100_000, 250_000, 1_000_000];

/// When an event was due, in eight bytes (see the module's invariants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(NonZeroU64);

#[derive(Debug)]
pub struct Lateness {
    epoch: Instant,
    /// Observations in each bucket (not cumulative), `+Inf` last.
    counts: [u64; BUCKETS_US.len() + 1],
    sum_us: u64,
}

impl Default for Lateness {
    fn default() -> Lateness {
        Lateness::new(Instant::now())
    }
}

impl Lateness {
    pub fn new(epoch: Instant) -> Lateness {
        Lateness { epoch, counts: [0; BUCKETS_US.len() + 1], sum_us: 0 }
    }

    fn micros(&self, t: Instant) -> u64 {
        // 2^64 µs is 584,000 years: the conversion never saturates.
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The stamp of an event due at `due`.
    pub fn stamp(&self, due: Instant) -> Stamp {
        Stamp(NonZeroU64::new(self.micros(due)).unwrap_or(NonZeroU64::MIN))
    }

    /// `events` events stamped `due` were handed to the kernel at `now`.
    pub fn observe(&mut self, due: Stamp, now: Instant, events: u64) {
        // A stamp from after `now` (the clock read before the turn's own)
        // is on time.
        let late = self.micros(now).saturating_sub(due.0.get());
        let i = BUCKETS_US.iter().position(|&b| late <= u64::from(b)).unwrap_or(BUCKETS_US.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(events);
        }
        self.sum_us = self.sum_us.saturating_add(late.saturating_mul(events));
    }

    /// The count of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Appends the histogram in the text exposition format.
    pub fn render(&self, out: &mut Vec<u8>) {
        const NAME: &str = "sse_event_lateness_seconds";
        out.extend_from_slice(
            format!(
                "# HELP {NAME} How long after its due time each event was handed to the kernel.\n\
                 # TYPE {NAME} histogram\n"
            )
            .as_bytes(),
        );
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative = cumulative.saturating_add(*c);
            let le = BUCKETS_US.get(i).map_or_else(|| "+Inf".to_string(), |&us| seconds(u64::from(us)));
            out.extend_from_slice(format!("{NAME}_bucket{{le=\"{le}\"}} {cumulative}\n").as_bytes());
        }
        out.extend_from_slice(format!("{NAME}_sum {}\n{NAME}_count {cumulative}\n", seconds(self.sum_us)).as_bytes());
    }
}

/// Microseconds as seconds, exactly: `0.00005`, `1`, `12.5`.
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn seconds_are_exact() {
        for (us, text) in [(0, "0"), (50, "0.00005"), (750, "0.00075"), (1_000_000, "1"), (12_500_000, "12.5")] {
            assert_eq!(seconds(us), text);
        }
    }

    #[test]
    fn each_lateness_lands_in_its_bucket() {
        let t0 = Instant::now();
        // (lateness, the bucket's upper bound; None: +Inf)
        let table: [(u64, Option<u32>); 7] = [
            (0, Some(50)),
            (50, Some(50)),
            (51, Some(100)),
            (999, Some(1_000)),
            (1_000, Some(1_000)),
            (1_000_001, None),
            (1_800_000_000, None),
        ];
        for (late, want) in table {
            let mut h = Lateness::new(t0);
            let due = t0 + 10 * US;
            h.observe(h.stamp(due), due + Duration::from_micros(late), 3);
            let i = want.map_or(BUCKETS_US.len(), |b| BUCKETS_US.iter().position(|&x| x == b).unwrap());
            assert_eq!(h.counts[i], 3, "{late} µs");
            assert_eq!(h.count(), 3);
        }
    }

    #[test]
    fn a_stamp_after_now_is_on_time_and_long_waits_do_not_wrap() {
        let t0 = Instant::now();
        let mut h = Lateness::new(t0);
        h.observe(h.stamp(t0 + 500 * US), t0 + 400 * US, 1);
        assert_eq!(h.counts[0], 1);
        // Past 2^32 µs (71 minutes) from the start, 200 µs is still 200 µs.
        let due = t0 + Duration::from_micros(u64::from(u32::MAX) - 100);
        h.observe(h.stamp(due), due + 200 * US, 1);
        assert_eq!(h.counts[2], 1);
        // An event held 72 minutes behind a trickling client is late by
        // that much (+Inf), not by 72 minutes modulo 71.
        let held = Duration::from_secs(72 * 60);
        h.observe(h.stamp(t0 + US), t0 + US + held, 1);
        assert_eq!(h.counts[BUCKETS_US.len()], 1);
        assert_eq!(h.sum_us, 200 + held.as_micros() as u64);
        // Due at the epoch itself: the stamp is never 0.
        assert_eq!(h.stamp(t0).0.get(), 1);
    }

    #[test]
    fn exposition_is_cumulative() {
        let t0 = Instant::now();
        let mut h = Lateness::new(t0);
        let due = t0 + 10 * US;
        h.observe(h.stamp(due), due + 80 * US, 1);
        h.observe(h.stamp(due), due + 2 * Duration::from_secs(1), 2);
        let mut out = Vec::new();
        h.render(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE sse_event_lateness_seconds histogram\n"), "{text}");
        assert!(text.contains("sse_event_lateness_seconds_bucket{le=\"0.00005\"} 0\n"), "{text}");
        assert!(text.contains("sse_event_lateness_seconds_bucket{le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("sse_event_lateness_seconds_bucket{le=\"1\"} 1\n"), "{text}");
        assert!(text.contains("sse_event_lateness_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(
            text.contains("sse_event_lateness_seconds_sum 4.00008\nsse_event_lateness_seconds_count 3\n"),
            "{text}"
        );
    }
}
