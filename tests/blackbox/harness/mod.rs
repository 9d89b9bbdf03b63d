//! The harness of the black-box tests, one file per role: `server` (the
//! processes: spawning, the log, `/metrics`, `/proc`), `client` (raw TCP),
//! `expect` (the exact bytes of the contract and the checks on them), and
//! `www` (a temporary www directory). The tests import from here.

mod client;
mod expect;
mod server;
mod www;

pub use client::{Client, Fill, GET, Response, get_events};
pub use expect::{
    PAGE, STREAM_HEAD, check_why, event, event_sized, expect_405, expect_bytes, expect_index, expect_index_and_close,
    expect_refusal, expect_stream_head, full_retry, normalize_date, split_responses, stream_body,
};
pub use server::{
    ACTIVATED, BENCH, BIN, Launch, Log, Server, WAIT, cpu_time, metric, metrics_on, rss_kib, run, voluntary_switches,
};
pub use www::TempWww;
