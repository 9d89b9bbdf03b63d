//! Hardening: the real binary against hostile and careless clients, one
//! file per section of the contract it pins (PROTOCOL.md §2 and §4):
//!
//! | file | pins |
//! | --- | --- |
//! | `refusals` | §2 "Bad requests": every row of the table, and the edges that are still accepted |
//! | `content` | §2 request content: framed exactly, read to its end and dropped, in any pieces |
//! | `timeouts` | §2 `408`, and `--idle-timeout`: idle connections, stalled and slow clients |
//! | `streams` | §3 and §4 streams under attack: a flooding client, a slow consumer, resets |
//! | `full` | §2 "Full" and accept errors: the reserve, the backlog, running out of descriptors |
//! | `pipelining` | §2 pipelining and §4 back-pressure: answers in order, bounded, the connection's end |
//! | `fairness` | §4 the share of a loop turn one client gets, whatever it asks |

mod content;
mod fairness;
mod full;
mod pipelining;
mod refusals;
mod streams;
mod timeouts;

/// `POST /` with `n` bytes of content by `Content-Length`.
pub fn post_with_length(n: usize) -> Vec<u8> {
    let mut r = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    r.resize(r.len() + n, b'x');
    r
}

/// `POST /` with `body` as its chunked content (chunks, last chunk, trailers).
pub fn chunked(body: &[u8]) -> Vec<u8> {
    [&b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"[..], body].concat()
}
