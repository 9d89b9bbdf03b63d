//! One event stream's schedule: which event is next, when it is due, and
//! when a heartbeat is.
//!
//! Event N of a stream is due at `origin + (N - base) × interval`, computed
//! from the origin each time, so lateness never accumulates (fixed rate).
//! `tick` sends at most one thing per call, and the loop calls it at most
//! once per turn for a stream, so an overdue stream catches up one event
//! at a time, never in a burst. Time is a parameter: tests drive the clock.

use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::sse::{self, StreamParams};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The connection number C of the ids `C-N`.
    pub conn: u64,
    /// The number N of the next event.
    pub next: u64,
    /// The last event the client had seen when this stream started.
    base: u64,
    count: Option<u64>,
    interval: Duration,
    origin: Instant,
    size: u32,
    last_sent: Instant,
    /// `due()` of `next`, computed once per event rather than on every
    /// tick and every re-arm of the timer.
    next_due: Instant,
}

/// What one `tick` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The event numbered `count` was sent: the stream ends once it is out.
    pub finished: bool,
}

/// Past this, a due time is as good as never (and adding it to an
/// `Instant` cannot overflow).
const FAR: Duration = Duration::from_secs(1 << 40);

impl Stream {
    /// A stream for connection `conn` whose client has seen events up to
    /// `seen` (0 for a new client), started at `now`.
    pub fn new(conn: u64, seen: u64, params: &StreamParams, default_interval: Duration, now: Instant) -> Stream {
        let mut s = Stream {
            conn,
            next: seen.saturating_add(1),
            base: seen,
            count: params.count,
            interval: params.interval.unwrap_or(default_interval),
            origin: now,
            size: params.size as u32,
            last_sent: now,
            next_due: now,
        };
        s.next_due = s.due();
        s
    }

    /// When event `next` is due, from the origin (fixed rate).
    pub fn due(&self) -> Instant {
        let k = u128::from(self.next - self.base);
        let nanos = self.interval.as_nanos().saturating_mul(k);
        let offset = if nanos >= FAR.as_nanos() {
            FAR
        } else {
            Duration::new((nanos / 1_000_000_000) as u64, (nanos % 1_000_000_000) as u32)
        };
        self.origin + offset
    }

    /// The next event, or the heartbeat if that comes first.
    pub fn deadline(&self, heartbeat: Option<Duration>) -> Instant {
        let due = self.next_due;
        match heartbeat {
            Some(h) => due.min(self.last_sent + h),
            None => due,
        }
    }

    /// Appends to `out` what is due at `now`: the next event, or else a
    /// heartbeat, or nothing (an early or spurious wake-up).
    pub fn tick(
        &mut self,
        now: Instant,
        heartbeat: Option<Duration>,
        out: &mut Vec<u8>,
        metrics: &mut Metrics,
    ) -> Tick {
        if now >= self.next_due {
            sse::write_event(out, self.conn, self.next, self.size as usize);
            metrics.events += 1;
            self.last_sent = now;
            // Event 2^64-1 is the last there can be: the stream ends there
            // as if its count were reached (else `next` could not move on).
            let finished = self.count == Some(self.next) || self.next == u64::MAX;
            self.next = self.next.saturating_add(1);
            self.next_due = self.due();
            return Tick { finished };
        }
        if heartbeat.is_some_and(|h| now >= self.last_sent + h) {
            out.extend_from_slice(sse::HEARTBEAT);
            metrics.heartbeats += 1;
            self.last_sent = now;
        }
        Tick { finished: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn params(interval: u32, count: Option<u64>) -> StreamParams {
        StreamParams { interval: Some(interval * MS), count, size: 0 }
    }

    #[test]
    fn fixed_rate_without_drift() {
        let t0 = Instant::now();
        let mut s = Stream::new(4, 0, &params(100, None), 2500 * MS, t0);
        let mut m = Metrics::default();
        let mut out = Vec::new();
        // Woken 30 ms late every time: the schedule stays on the grid.
        for n in 1..=50u32 {
            assert_eq!(s.due(), t0 + 100 * MS * n);
            let late = s.due() + 30 * MS;
            s.tick(late, None, &mut out, &mut m);
        }
        assert_eq!(s.due(), t0 + 100 * MS * 51);
        assert_eq!(m.events, 50);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("id: 4-50\ndata: Server says hi! (event #50 of connection #4)\n\n")
        );
    }

    #[test]
    fn overdue_streams_send_one_event_per_tick() {
        let t0 = Instant::now();
        let mut s = Stream::new(1, 0, &params(10, None), 2500 * MS, t0);
        let mut m = Metrics::default();
        let mut out = Vec::new();
        s.tick(t0 + 1000 * MS, None, &mut out, &mut m);
        assert_eq!(m.events, 1);
        assert_eq!(s.next, 2);
        assert!(s.due() < t0 + 1000 * MS);
    }

    #[test]
    fn resumed_streams_continue_after_the_last_id() {
        let t0 = Instant::now();
        let s = Stream::new(7, 41, &params(100, Some(43)), 2500 * MS, t0);
        assert_eq!(s.next, 42);
        assert_eq!(s.due(), t0 + 100 * MS);
    }

    #[test]
    fn count_finishes_the_stream() {
        let t0 = Instant::now();
        let mut s = Stream::new(1, 0, &params(10, Some(2)), 2500 * MS, t0);
        let mut m = Metrics::default();
        let mut out = Vec::new();
        assert!(!s.tick(t0 + 10 * MS, None, &mut out, &mut m).finished);
        assert!(s.tick(t0 + 20 * MS, None, &mut out, &mut m).finished);
    }

    #[test]
    fn heartbeats_only_on_silent_streams() {
        let t0 = Instant::now();
        let hb = Some(1000 * MS);
        let mut s = Stream::new(1, 0, &params(2500, None), 2500 * MS, t0);
        let mut m = Metrics::default();
        let mut out = Vec::new();
        assert_eq!(s.deadline(hb), t0 + 1000 * MS);
        s.tick(t0 + 1000 * MS, hb, &mut out, &mut m);
        assert_eq!(out, sse::HEARTBEAT);
        assert_eq!(s.deadline(hb), t0 + 2000 * MS);
        out.clear();
        s.tick(t0 + 2000 * MS, hb, &mut out, &mut m);
        s.tick(t0 + 2500 * MS, hb, &mut out, &mut m);
        assert_eq!(m.heartbeats, 2);
        assert_eq!(m.events, 1);
        // An event resets the silence: the next heartbeat is 1 s after it.
        assert_eq!(s.deadline(hb), t0 + 3500 * MS);
        // A stream with frequent events never gets a heartbeat.
        let mut fast = Stream::new(2, 0, &params(100, None), 2500 * MS, t0);
        let mut m = Metrics::default();
        for n in 1..=100u32 {
            assert_eq!(fast.deadline(hb), t0 + 100 * MS * n);
            fast.tick(t0 + 100 * MS * n, hb, &mut out, &mut m);
        }
        assert_eq!(m.heartbeats, 0);
    }

    #[test]
    fn huge_schedules_do_not_overflow() {
        let t0 = Instant::now();
        let s = Stream::new(1, u64::MAX - 1, &params(3_600_000, None), 2500 * MS, t0);
        assert_eq!(s.due(), t0 + 3_600_000 * MS);
        let mut s = Stream::new(1, 0, &params(3_600_000, None), 2500 * MS, t0);
        s.next = u64::MAX;
        assert_eq!(s.due(), t0 + FAR);
    }
}
