//! Counters the server keeps about itself, and their rendering as the
//! Prometheus text exposition format (version 0.0.4) served at `/metrics`.
//!
//! Counting is a plain integer add on the paths that do the work; nothing
//! is computed until `/metrics` is requested, and then at a cost that does
//! not grow with the number of open connections: the resident size is read
//! from `/proc/self/statm` through a descriptor opened at start (so it is
//! read even when descriptors have run out), and the open descriptors are
//! counted, not listed: those open at start, plus one per connection and
//! one per file being sent. A figure that cannot be read is left out of
//! the exposition, never reported as a made-up 0.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::ascii::push_u64;
use crate::channel::Figures;
use crate::lateness::Lateness;
use crate::response::STATUSES;

/// Why a stream ended, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The client went away (EOF, reset).
    Client,
    /// More output was pending than the slow-consumer limit.
    Slow,
    /// The `count` query parameter was reached.
    Count,
    /// A socket error other than the client leaving.
    Error,
    /// Reset on purpose: a knob (`reset_after`) or a scenario said so.
    Reset,
    /// Ended by a graceful shutdown, with a `retry:`.
    Shutdown,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub open_streams: u64,
    pub streams_new: u64,
    pub streams_resumed: u64,
    ended: [u64; 6],
    pub events: u64,
    pub heartbeats: u64,
    pub bytes: u64,
    responses: [u64; STATUSES.len()],
    pub shed: u64,
    pub accept_errors: u64,
    /// Open client connections (a gauge the loop keeps).
    pub connections: u64,
    /// Files being sent, each holding a descriptor until its last byte.
    pub downloads: u64,
    /// Bytes of generated documents being sent (bounded by `MAX_DOCUMENTS`).
    pub documents: u64,
    /// Content reserved for publishes being read (`MAX_PUBLISH_IN_FLIGHT`).
    pub publish_in_flight: u64,
    /// How late events were handed to the kernel.
    pub lateness: Lateness,
    process: Process,
}

/// What `/metrics` reads of the process itself.
#[derive(Debug, Default)]
struct Process {
    statm: Option<File>,
    /// Descriptors open when serving began (stdio, the listener, the poll,
    /// the timerfd, the log, the www directory, `statm` itself).
    base_fds: Option<u64>,
}

impl Metrics {
    pub fn stream_ended(&mut self, why: StreamEnd) {
        self.open_streams = self.open_streams.saturating_sub(1);
        self.ended[why as usize] += 1;
    }

    /// Streams ended for `why` since the start.
    pub fn ended(&self, why: StreamEnd) -> u64 {
        self.ended[why as usize]
    }

    /// Streams ended, for any reason, since the start.
    pub fn streams_ended(&self) -> u64 {
        self.ended.iter().sum()
    }

    pub fn response(&mut self, status: u16) {
        if let Some(i) = STATUSES.iter().position(|s| s.0 == status) {
            self.responses[i] += 1;
        }
    }

    /// Opens what the process figures are read from and counts the
    /// descriptors open now; call it once every descriptor that lives as
    /// long as the server is open.
    pub fn start(&mut self) {
        self.process.statm = File::open("/proc/self/statm").ok();
        // `read_dir` holds one descriptor of its own while it lists.
        self.process.base_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count().saturating_sub(1) as u64);
    }

    /// The resident set size in bytes, if it can be read.
    pub fn rss_bytes(&self) -> Option<u64> {
        let statm = self.process.statm.as_ref()?;
        let mut buf = [0u8; 128];
        let n = statm.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(buf.get(..n)?).ok()?;
        let pages = text.split_whitespace().nth(1)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * u64::try_from(page).ok()?)
    }

    /// Open descriptors: those open at start, one per connection, one per
    /// file being sent.
    pub fn open_fds(&self) -> Option<u64> {
        Some(self.process.base_fds? + self.connections + self.downloads)
    }

    /// The exposition text, with the figures of the channels.
    pub fn render(&self, out: &mut Vec<u8>, channels: &Figures) {
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            for (prefix, text) in [("# HELP ", help), ("# TYPE ", kind)] {
                out.extend_from_slice(prefix.as_bytes());
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
            for (labels, value) in samples {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(labels.as_bytes());
                out.push(b' ');
                push_u64(out, *value);
                out.push(b'\n');
            }
        };
        metric("sse_open_connections", "gauge", "Open client connections.", &[("", self.connections)]);
        metric("sse_open_streams", "gauge", "Open event streams.", &[("", self.open_streams)]);
        metric(
            "sse_streams_started_total",
            "counter",
            "Event streams started, new clients apart from clients resuming with Last-Event-ID.",
            &[("{kind=\"new\"}", self.streams_new), ("{kind=\"resumed\"}", self.streams_resumed)],
        );
        metric(
            "sse_streams_ended_total",
            "counter",
            "Event streams ended, by reason.",
            &[
                ("{reason=\"client\"}", self.ended[StreamEnd::Client as usize]),
                ("{reason=\"slow\"}", self.ended[StreamEnd::Slow as usize]),
                ("{reason=\"count\"}", self.ended[StreamEnd::Count as usize]),
                ("{reason=\"error\"}", self.ended[StreamEnd::Error as usize]),
                ("{reason=\"reset\"}", self.ended[StreamEnd::Reset as usize]),
                ("{reason=\"shutdown\"}", self.ended[StreamEnd::Shutdown as usize]),
            ],
        );
        metric("sse_events_sent_total", "counter", "Events sent on all streams.", &[("", self.events)]);
        metric("sse_heartbeats_sent_total", "counter", "Heartbeat comments sent.", &[("", self.heartbeats)]);
        metric(
            "sse_bytes_sent_total",
            "counter",
            "Bytes handed to the kernel on all connections.",
            &[("", self.bytes)],
        );
        let codes: Vec<(String, u64)> =
            STATUSES.iter().zip(self.responses).map(|(s, n)| (format!("{{code=\"{}\"}}", s.0), n)).collect();
        let codes: Vec<(&str, u64)> = codes.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric("sse_responses_total", "counter", "Responses sent, by status code.", &codes);
        metric(
            "sse_connections_shed_total",
            "counter",
            "Connections turned away because --max-connections were open.",
            &[("", self.shed)],
        );
        metric("sse_accept_errors_total", "counter", "Errors returned by accept.", &[("", self.accept_errors)]);
        metric("sse_channels", "gauge", "Channels that exist.", &[("", channels.channels)]);
        metric("sse_channel_subscribers", "gauge", "Streams subscribed to a channel.", &[("", channels.subscribers)]);
        metric("sse_events_published_total", "counter", "Events published to channels.", &[("", channels.published)]);
        metric(
            "sse_events_replayed_total",
            "counter",
            "Events replayed from a channel's history to resuming clients.",
            &[("", channels.replayed)],
        );
        metric(
            "sse_resumes_lost_total",
            "counter",
            "Resumptions from an id the history no longer held: events were lost.",
            &[("", channels.lossy_resumes)],
        );
        metric(
            "sse_history_bytes",
            "gauge",
            "Bytes of events held in the histories of all channels.",
            &[("", channels.history_bytes)],
        );
        if let Some(rss) = self.rss_bytes() {
            metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", &[("", rss)]);
        }
        if let Some(fds) = self.open_fds() {
            metric("process_open_fds", "gauge", "Open file descriptors.", &[("", fds)]);
        }
        self.lateness.render(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_well_formed() {
        let mut m = Metrics { streams_new: 3, events: 7, connections: 5, downloads: 1, ..Metrics::default() };
        m.response(200);
        m.response(200);
        m.stream_ended(StreamEnd::Slow);
        let mut out = Vec::new();
        m.render(&mut out, &Figures::default());
        let text = String::from_utf8(out).unwrap();
        // Not started: the process figures are left out, not made up.
        assert!(!text.contains("process_"), "{text}");
        m.start();
        assert!(m.rss_bytes().is_some_and(|b| b > 0));
        let base = m.open_fds().unwrap() - 6;
        let mut out = Vec::new();
        m.render(&mut out, &Figures::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE sse_open_connections gauge\nsse_open_connections 5\n"));
        assert!(text.contains("sse_streams_started_total{kind=\"new\"} 3\n"));
        assert!(text.contains("sse_streams_ended_total{reason=\"slow\"} 1\n"));
        assert!(text.contains("sse_responses_total{code=\"200\"} 2\n"));
        assert!(text.contains("sse_events_sent_total 7\n"));
        assert!(text.contains(&format!("process_open_fds {}\n", base + 6)));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            // Only a histogram's sum is not a whole number.
            assert!(value.parse::<u64>().is_ok() || name.ends_with("_sum") && value.parse::<f64>().is_ok(), "{line}");
            let name = name.split('{').next().unwrap();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{line}");
        }
    }
}
