//! The run's totals, and the two ways they are reported: a human summary
//! for stderr and one JSON line for stdout (written by hand: no serde).
//!
//! Counts only grow, except `open`; the tally of fault causes holds at most
//! `MAX_CAUSES` distinct causes, so a server failing in new ways each time
//! cannot make it grow without bound.

use std::fmt::{self, Display, Write as _};

use crate::hist::Histogram;

/// Distinct fault causes kept by name; the rest are counted as "other".
pub const MAX_CAUSES: usize = 32;

/// The publishing side of a `--publish` run, filled in at its end.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Publish {
    /// Publishes the server accepted (a 2xx answer).
    pub published: u64,
    /// Publishes refused (not 2xx), unanswered at the end, or lost with
    /// the publisher's connection.
    pub errors: u64,
    /// Seconds from the first publish to the end of publishing or to the
    /// last delivery, whichever is later: what `deliveries_per_sec` is over.
    pub span_s: f64,
}

#[derive(Default)]
pub struct Stats {
    /// Connects started.
    pub attempted: u64,
    /// Streams that got a `200` event-stream head.
    pub connected: u64,
    /// Connects that never became a stream.
    pub failed: u64,
    /// Streams open now.
    pub open: u64,
    pub events: u64,
    /// Comment lines (heartbeats).
    pub comments: u64,
    /// Bytes read, heads included.
    pub bytes: u64,
    pub gaps: u64,
    pub repeats: u64,
    /// Streams the server ended before the run did.
    pub early_closes: u64,
    /// Streams that ended after the `count=` of the path, as asked.
    pub completed: u64,
    /// Streams broken by a read error or a malformed body.
    pub errors: u64,
    /// From the connect call to the complete response head, in µs.
    pub connect_us: Histogram,
    /// Of every event but a stream's first, in µs.
    pub lateness_us: Histogram,
    /// The bench's own delay: from the kernel's receipt of a stream's bytes
    /// to the return of the poll that reported them, in µs, one sample per
    /// read. Lateness includes it.
    pub loop_delay_us: Histogram,
    /// `--publish`: what was published and delivered (`None` otherwise).
    pub publish: Option<Publish>,
    /// `--publish`: stamped events delivered (new to their subscriber).
    pub delivered: u64,
    /// `--publish`: events without a stamp of this run.
    pub unstamped: u64,
    /// `--publish`: publish-to-delivery time of each delivery, in µs.
    pub publish_latency_us: Histogram,
    /// `--publish`: arrival of the last delivery, µs since the start.
    pub last_delivery_us: u64,
    causes: Vec<(String, u64)>,
    other_causes: u64,
}

impl Stats {
    /// Counts one more fault of this cause (a failure or an error).
    pub fn note(&mut self, cause: impl Display) {
        let cause = cause.to_string();
        if let Some(entry) = self.causes.iter_mut().find(|(c, _)| *c == cause) {
            entry.1 += 1;
        } else if self.causes.len() < MAX_CAUSES {
            self.causes.push((cause, 1));
        } else {
            self.other_causes += 1;
        }
    }

    /// The human summary, several lines.
    pub fn summary(&self, duration_s: f64) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} streams of {} connects in {duration_s:.1} s ({} failed, {} still open at the end)",
            self.connected, self.attempted, self.failed, self.open
        );
        let _ = write!(
            s,
            "events: {} ({:.1}/s), {:.1} KiB/s, {} comments",
            self.events,
            per_sec(self.events, duration_s),
            per_sec(self.bytes, duration_s) / 1024.0,
            self.comments,
        );
        // In a publish run, gaps and repeats are on its own line.
        if self.publish.is_none() {
            let _ = write!(s, "; ids: {} gaps, {} repeats", self.gaps, self.repeats);
        }
        s.push('\n');
        let _ = writeln!(
            s,
            "connect ms: p50 {:.1} p99 {:.1} max {:.1}; lateness ms: p50 {:.3} p99 {:.3} max {:.3}; \
             own loop delay ms: p50 {:.3} p99 {:.3} max {:.3}",
            ms(self.connect_us.percentile(50.0)),
            ms(self.connect_us.percentile(99.0)),
            ms(self.connect_us.max()),
            ms(self.lateness_us.percentile(50.0)),
            ms(self.lateness_us.percentile(99.0)),
            ms(self.lateness_us.max()),
            ms(self.loop_delay_us.percentile(50.0)),
            ms(self.loop_delay_us.percentile(99.0)),
            ms(self.loop_delay_us.max()),
        );
        let _ = write!(
            s,
            "completed (count= reached): {}; early closes: {}; stream errors: {}; lateness samples: {}",
            self.completed,
            self.early_closes,
            self.errors,
            self.lateness_us.count()
        );
        if let Some(p) = &self.publish {
            let _ = write!(
                s,
                "\npublished: {} ({} errors); delivered: {} of {} ({:.1}/s over {:.1} s), {} unstamped events; \
                 gaps (deliveries missed): {}, repeats: {}\npublish-to-delivery ms: p50 {:.3} p99 {:.3} max {:.3}",
                p.published,
                p.errors,
                self.delivered,
                p.published * self.connected,
                per_sec(self.delivered, p.span_s),
                p.span_s,
                self.unstamped,
                self.gaps,
                self.repeats,
                ms(self.publish_latency_us.percentile(50.0)),
                ms(self.publish_latency_us.percentile(99.0)),
                ms(self.publish_latency_us.max()),
            );
        }
        for (cause, count) in &self.causes {
            let _ = write!(s, "\n  {count} x {cause}");
        }
        if self.other_causes > 0 {
            let _ = write!(s, "\n  {} x other causes", self.other_causes);
        }
        s
    }

    /// The JSON line (without its newline).
    pub fn json(&self, duration_s: f64) -> String {
        let mut line = self.load_json(duration_s);
        if let Some(p) = &self.publish {
            line.pop(); // the closing brace
            let h = &self.publish_latency_us;
            let _ = write!(
                line,
                ",\"published\":{},\"publish_errors\":{},\"delivered\":{},\"deliveries_per_sec\":{:.3},\
                 \"publish_latency_p50_ms\":{},\"publish_latency_p99_ms\":{},\"publish_latency_max_ms\":{}}}",
                p.published,
                p.errors,
                self.delivered,
                per_sec(self.delivered, p.span_s),
                Ms(h.percentile(50.0)),
                Ms(h.percentile(99.0)),
                Ms(h.max()),
            );
        }
        line
    }

    /// The fields of every run.
    fn load_json(&self, duration_s: f64) -> String {
        let ms = |us: u64| Ms(us);
        format!(
            "{{\"connected\":{},\"failed\":{},\"events\":{},\"events_per_sec\":{:.3},\
             \"bytes_per_sec\":{:.3},\"connect_p50_ms\":{},\"connect_p99_ms\":{},\
             \"lateness_p50_ms\":{},\"lateness_p99_ms\":{},\"lateness_max_ms\":{},\"lateness_samples\":{},\
             \"loop_delay_p50_ms\":{},\"loop_delay_p99_ms\":{},\"loop_delay_max_ms\":{},\"loop_delay_samples\":{},\
             \"gaps\":{},\"repeats\":{},\"completed\":{},\"early_closes\":{},\"errors\":{},\"duration_s\":{:.3}}}",
            self.connected,
            self.failed,
            self.events,
            per_sec(self.events, duration_s),
            per_sec(self.bytes, duration_s),
            ms(self.connect_us.percentile(50.0)),
            ms(self.connect_us.percentile(99.0)),
            ms(self.lateness_us.percentile(50.0)),
            ms(self.lateness_us.percentile(99.0)),
            ms(self.lateness_us.max()),
            self.lateness_us.count(),
            ms(self.loop_delay_us.percentile(50.0)),
            ms(self.loop_delay_us.percentile(99.0)),
            ms(self.loop_delay_us.max()),
            self.loop_delay_us.count(),
            self.gaps,
            self.repeats,
            self.completed,
            self.early_closes,
            self.errors,
            duration_s
        )
    }
}

/// A rate that is 0, not NaN or infinity, for a zero duration: JSON has no
/// NaN.
fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Microseconds shown as milliseconds with three decimals, exactly (no
/// float rounding).
struct Ms(u64);

impl Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// The reasons of the faults that hold, joined by `sep`; `None` if none
/// holds (a run measured what it was asked).
pub fn faults<const N: usize>(faults: [(bool, String); N], sep: &str) -> Option<String> {
    let found: Vec<String> = faults.into_iter().filter(|(bad, _)| *bad).map(|(_, why)| why).collect();
    (!found.is_empty()).then(|| found.join(sep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line() {
        let mut s = Stats { connected: 2, events: 10, bytes: 1000, gaps: 1, ..Stats::default() };
        s.connect_us.record(1_500);
        s.lateness_us.record(42);
        s.loop_delay_us.record(7);
        assert_eq!(
            s.json(2.0),
            "{\"connected\":2,\"failed\":0,\"events\":10,\"events_per_sec\":5.000,\
             \"bytes_per_sec\":500.000,\"connect_p50_ms\":1.500,\"connect_p99_ms\":1.500,\
             \"lateness_p50_ms\":0.042,\"lateness_p99_ms\":0.042,\"lateness_max_ms\":0.042,\
             \"lateness_samples\":1,\"loop_delay_p50_ms\":0.007,\"loop_delay_p99_ms\":0.007,\
             \"loop_delay_max_ms\":0.007,\"loop_delay_samples\":1,\"gaps\":1,\"repeats\":0,\"completed\":0,\"early_closes\":0,\
             \"errors\":0,\"duration_s\":2.000}"
        );
        assert!(Stats::default().json(0.0).contains("\"events_per_sec\":0.000,"));
    }

    #[test]
    fn publish_fields_follow() {
        let mut s = Stats { connected: 3, delivered: 30, gaps: 0, ..Stats::default() };
        s.publish = Some(Publish { published: 10, errors: 1, span_s: 2.0 });
        s.publish_latency_us.record(2_250);
        let line = s.json(5.0);
        assert!(line.starts_with("{\"connected\":3,"), "{line}");
        assert!(
            line.ends_with(
                "\"duration_s\":5.000,\"published\":10,\"publish_errors\":1,\"delivered\":30,\
                 \"deliveries_per_sec\":15.000,\"publish_latency_p50_ms\":2.250,\"publish_latency_p99_ms\":2.250,\
                 \"publish_latency_max_ms\":2.250}"
            ),
            "{line}"
        );
        assert!(s.summary(5.0).contains("delivered: 30 of 30 (15.0/s over 2.0 s)"), "{}", s.summary(5.0));
    }

    #[test]
    fn causes_are_bounded() {
        let mut s = Stats::default();
        for i in 0..MAX_CAUSES + 5 {
            s.note(format_args!("cause {i}"));
            s.note(format_args!("cause {i}"));
        }
        assert_eq!(s.causes.len(), MAX_CAUSES);
        assert_eq!(s.other_causes, 10);
        let summary = s.summary(1.0);
        assert!(summary.contains("2 x cause 0"), "{summary}");
        assert!(summary.contains("10 x other causes"), "{summary}");
    }
}
