//! The black-box tests: the real `sse-server` and `sse-bench` binaries on
//! `--port 0`, spoken to over raw TCP on 127.0.0.1 with exact expected
//! bytes (README "Tests"; the contract is PROTOCOL.md).
//!
//! They are one test binary (Cargo finds `tests/blackbox/main.rs` on its
//! own), so the harness is compiled once and used as a whole. One module
//! per part of the contract; `soak` is `#[ignore]`d and run apart:
//!
//! ```text
//! SOAK_SECS=30 cargo test --release --test blackbox soak -- --ignored --nocapture
//! ```

mod harness;

mod activation;
mod bench;
mod channels;
mod cli;
mod hardening;
mod http;
mod knobs;
mod load;
mod scenarios;
mod shutdown;
mod soak;
mod stream;
