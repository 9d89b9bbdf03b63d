//! sse-server: a small, exact and fast Server-Sent Events server.
//!
//! One thread runs one `mio::Poll` (`server`). Connections live in a slab
//! and each is a state machine (`conn`) that reads request heads, parses
//! them strictly (`http`, `uri`, `body`), answers them (`route`, `www`,
//! `response`) or turns into an event stream (`stream`, `sse`). Streams are
//! driven by one timer queue (`timer`): the poll sleeps until the earliest
//! deadline, so an idle server makes no wake-ups at all, and a tick touches
//! only the streams that are due. Parsing and formatting are pure functions
//! with no sockets and no clock, so they are tested on their own; every
//! limit is a named constant in `config`.

pub mod body;
pub mod config;
pub mod conn;
pub mod http;
pub mod logger;
pub mod metrics;
pub mod response;
pub mod route;
pub mod server;
pub mod sse;
pub mod stream;
pub mod sys;
pub mod timer;
pub mod uri;
pub mod www;
