//! The one home of a stream's life: its start (a connection number, the
//! `connected`/`resumed` log line, the counts) and its end (the reason, its
//! log line, the counts).
//!
//! What always holds: every stream that `start` made is passed to `end`
//! exactly once, by the loop when it closes the connection that holds it,
//! so `sse_open_streams` is `start`s minus `end`s and every stream that was
//! logged as connected or resumed is logged as ended. Connection numbers
//! come from `numbers`: unique across restarts and sibling processes.

mod numbers;

use std::net::SocketAddr;
use std::time::Instant;

pub use numbers::Numbers;

use crate::metrics::{Metrics, StreamEnd};
use crate::stream::{Client, Stream, StreamStart};

/// The most of a client's `Last-Event-ID` a log line shows (ids this
/// server hands out are under 40 bytes; a made-up one may be 8 KiB).
pub const MAX_LOGGED_ID: usize = 128;

#[derive(Debug, Default)]
pub struct Streams {
    /// Where new streams' connection numbers come from.
    numbers: Numbers,
}

impl Streams {
    pub fn new(numbers: Numbers) -> Streams {
        Streams { numbers }
    }

    /// A stream the route decided on begins at `now`.
    /// (`peer` is the client's address, for the log.)
    pub fn start(&mut self, start: StreamStart, now: Instant, peer: SocketAddr, metrics: &mut Metrics) -> Stream {
        let id = match start.client {
            Client::Resumed { id, seen } => {
                metrics.streams_resumed += 1;
                log::info!("Client resumed event stream (connection #{id}, Last-Event-Id: {id}-{seen}) from {peer}");
                id
            }
            Client::New { last_event_id } => {
                let id = self.numbers.take();
                metrics.streams_new += 1;
                // The client's id (one it made up, maybe 8 KiB of it) is
                // shown escaped and cut at `MAX_LOGGED_ID`.
                let seen = last_event_id
                    .as_deref()
                    .map_or_else(|| "none".to_string(), |v| crate::access::shown_within(v.as_bytes(), MAX_LOGGED_ID));
                log::info!("Client connected to event stream (connection #{id}, Last-Event-Id: {seen}) from {peer}");
                id
            }
        };
        metrics.open_streams += 1;
        Stream::new(id, start.source, now)
    }

    /// The stream has ended for `why`; `unsent` bytes of it were still
    /// waiting for the kernel.
    pub fn end(&mut self, stream: &Stream, why: StreamEnd, unsent: usize, peer: SocketAddr, metrics: &mut Metrics) {
        metrics.stream_ended(why);
        let c = stream.id;
        match why {
            StreamEnd::Client => log::info!("Client disconnected from event stream (connection #{c}) from {peer}"),
            StreamEnd::Count => log::info!("Event stream ended after its last event (connection #{c}) to {peer}"),
            StreamEnd::Slow => {
                log::warn!(
                    "Slow consumer: closing event stream (connection #{c}, {unsent} bytes not taken by the kernel) to {peer}"
                )
            }
            StreamEnd::Error => log::warn!("Event stream closed on a socket error (connection #{c}) to {peer}"),
            StreamEnd::Reset => log::info!("Event stream reset as asked (connection #{c}) to {peer}"),
            // One line for all of them says the shutdown began and ended.
            StreamEnd::Shutdown => log::info!("Event stream ended for a shutdown (connection #{c}) to {peer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::demo::{Demo, DemoParams};
    use std::time::Duration;

    const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9);

    fn start(client: Client) -> StreamStart {
        let source = Demo::new(0, &DemoParams::default(), Duration::from_secs(1), Instant::now());
        StreamStart { source: Box::new(source), client, head: Default::default(), pace: None }
    }

    #[test]
    fn numbers_counts_and_ends() {
        let mut streams = Streams::default();
        let mut m = Metrics::default();
        let now = Instant::now();
        let a = streams.start(start(Client::New { last_event_id: None }), now, PEER, &mut m);
        let b = streams.start(start(Client::Resumed { id: 77, seen: 3 }), now, PEER, &mut m);
        let c = streams.start(start(Client::New { last_event_id: Some("x".into()) }), now, PEER, &mut m);
        assert_eq!((a.id, b.id, c.id), (1, 77, 2));
        assert_eq!((m.streams_new, m.streams_resumed, m.open_streams), (2, 1, 3));
        for (s, why) in [(&a, StreamEnd::Client), (&b, StreamEnd::Slow), (&c, StreamEnd::Count)] {
            streams.end(s, why, 0, PEER, &mut m);
        }
        assert_eq!(m.open_streams, 0);
    }
}
