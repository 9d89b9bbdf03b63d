//! Counters the server keeps about itself, and their rendering as the
//! Prometheus text exposition format (version 0.0.4) served at `/metrics`.
//!
//! Counting is a plain integer add on the paths that do the work; nothing
//! is computed until `/metrics` is requested.

use crate::response::STATUSES;
use crate::sse::push_u64;

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
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub open_streams: u64,
    pub streams_new: u64,
    pub streams_resumed: u64,
    ended: [u64; 4],
    pub events: u64,
    pub heartbeats: u64,
    pub bytes: u64,
    responses: [u64; STATUSES.len()],
    pub shed: u64,
    pub accept_errors: u64,
}

impl Metrics {
    pub fn stream_ended(&mut self, why: StreamEnd) {
        self.open_streams = self.open_streams.saturating_sub(1);
        self.ended[why as usize] += 1;
    }

    pub fn response(&mut self, status: u16) {
        if let Some(i) = STATUSES.iter().position(|s| s.0 == status) {
            self.responses[i] += 1;
        }
    }

    /// Takes back the count of a response that was prepared (`reply`, as
    /// bytes) but never sent.
    pub fn withdraw(&mut self, reply: &[u8]) {
        let status = reply.get(9..12).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse::<u16>().ok());
        if let Some(i) = status.and_then(|s| STATUSES.iter().position(|x| x.0 == s)) {
            self.responses[i] = self.responses[i].saturating_sub(1);
        }
    }

    /// The exposition text. `open_connections` and the process figures are
    /// read by the caller at the time of the request.
    pub fn render(&self, out: &mut Vec<u8>, open_connections: u64, rss_bytes: u64, open_fds: u64) {
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
        metric("sse_open_connections", "gauge", "Open client connections.", &[("", open_connections)]);
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
        metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", &[("", rss_bytes)]);
        metric("process_open_fds", "gauge", "Open file descriptors.", &[("", open_fds)]);
    }
}

/// The process's resident set size in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages = statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Open descriptors, counted in `/proc/self/fd` (minus the one reading it).
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count().saturating_sub(1) as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_well_formed() {
        let mut m = Metrics { streams_new: 3, events: 7, ..Metrics::default() };
        m.response(200);
        m.response(200);
        m.stream_ended(StreamEnd::Slow);
        let mut out = Vec::new();
        m.render(&mut out, 5, 1024, 9);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE sse_open_connections gauge\nsse_open_connections 5\n"));
        assert!(text.contains("sse_streams_started_total{kind=\"new\"} 3\n"));
        assert!(text.contains("sse_streams_ended_total{reason=\"slow\"} 1\n"));
        assert!(text.contains("sse_responses_total{code=\"200\"} 2\n"));
        assert!(text.contains("sse_events_sent_total 7\n"));
        assert!(text.contains("process_open_fds 9\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<u64>().is_ok(), "{line}");
            let name = name.split('{').next().unwrap();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{line}");
        }
    }
}
