//! sse-server: a small, exact and fast Server-Sent Events server.
//!
//! One thread runs one `mio::Poll` (`server`). Connections live in a slab;
//! each is a state machine with no socket of its own (`conn`): bytes and
//! the time go in, responses and events come out into a bounded buffer
//! (`output`), and `io` is the one place that reads and writes sockets.
//! Requests are parsed strictly by pure functions (`http`, `uri`,
//! `content`, on the helpers of `ascii`), answered as values by `route`
//! (files from `www`, counters from `metrics`) and formatted in one place
//! (`response`). A response can start a stream: `streams` is the one home
//! of a stream's start and end (its number, log lines and counts), and
//! `stream` holds it, with a `stream::Source` that says when its next
//! bytes are due and writes them. The demo's timer events are one such
//! source (`stream::demo`); another kind of stream is another file under
//! `stream/` and a route that starts it, with no change to the loop or the
//! connection. Deadlines live in one timer queue (`timer`): the poll sleeps
//! until the earliest, so an idle server makes no wake-ups at all, and a
//! tick touches only the connections that are due. Every limit is a named
//! constant in `config`.

pub mod access;
pub mod ascii;
pub mod channel;
pub mod config;
pub mod conn;
pub mod content;
pub mod date;
pub mod escape;
pub mod eventsource;
pub mod http;
pub mod io;
pub mod knobs;
pub mod lateness;
pub mod logger;
pub mod metrics;
pub mod output;
pub mod response;
pub mod route;
pub mod scenario;
pub mod server;
pub mod sse;
pub mod stdin;
pub mod stream;
pub mod streams;
pub mod sys;
pub mod timer;
pub mod uri;
pub mod www;
