//! `sse-bench --session`: ONE `EventSource`, as the WHATWG HTML standard's
//! processing model (§9.2.3) runs it, against one stream, reconnections
//! included; what it made of the session comes out as the JSON of
//! `/scenarios/NAME/expected`, so a caller compares the two byte for byte.
//!
//! It owns the I/O of the session, one connection at a time, on blocking
//! sockets whose read timeout is the nearest deadline: one stream needs no
//! poll. The rest is pure and lives beside it: `wire` (the request, what a
//! head means, where a body ends), `record` (the session's parser, the
//! events, the open timer), `opts`.
//!
//! How each connection ends, and what the session does then:
//! - the body ends (a close, a reset or read error, the end of a framed
//!   body, a broken chunk, a line or data over sse-bench's limits), or no
//!   stream came (closed or broken before a head, a bad head): a network
//!   error for `EventSource`, which reconnects after its reconnection time
//!   (`retry`, else `--default-retry`), unless `--connections` are made:
//!   then the end is `reconnect`;
//! - a redirect (301, 302, 303, 307, 308 to a path) is followed on a new
//!   connection, within the same attempt, 20 at most; the final head is
//!   judged by `check_response`, and a failure is the end `fail`;
//! - no event dispatched for `--open-ms` (comments do not count), or
//!   `--timeout` reached while connected: the end is `open`;
//! - `--timeout` reached while waiting to reconnect: `reconnect`.
//!
//! The server is unreachable (exit 1) only when the very first connect
//! fails; a later one that fails is a network error like any other.

pub mod opts;
mod record;
mod wire;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use sse_server::scenario::Expected;

pub use opts::Options;
use record::{End, Recorder, Stop};
use wire::{Body, Verdict};

use crate::response::{self, Framing};

/// One read at most; the bodies' own bounds are the parser's.
const READ_BUF: usize = 64 * 1024;

/// How one connection attempt ended.
#[derive(Debug)]
enum Outcome {
    /// Its body ended, or no stream came: the client reconnects.
    Ended(String),
    /// No event for `--open-ms`.
    Open,
    /// `--timeout` reached while connected.
    TimeUp,
    /// `record::MAX_RECORDED` reached.
    Full,
    /// The client fails the connection.
    Failed(String),
}

/// Runs the session; `Err` only when the server could not be reached.
pub fn run(o: &Options) -> Result<Expected, String> {
    let start = Instant::now();
    // It fits: --timeout is at most `opts::MAX_DURATION_SECS`.
    let deadline = start.checked_add(o.timeout).unwrap_or(start);
    let mut rec = Recorder::new(start);
    let mut buf = vec![0; READ_BUF];
    let end = loop {
        rec.connecting(Instant::now());
        let n = rec.connections();
        let outcome = match attempt(o, &mut rec, &mut buf, deadline) {
            Ok(outcome) => outcome,
            Err(e) if n == 1 => return Err(format!("cannot connect to {}: {e}", o.dest())),
            Err(e) => Outcome::Ended(format!("cannot connect: {e}")),
        };
        eprintln!("sse-bench: connection {n}: {}", describe(&outcome, o));
        match outcome {
            Outcome::Ended(_) => rec.body_ended(),
            Outcome::Open | Outcome::TimeUp | Outcome::Full => break End::Open,
            Outcome::Failed(_) => break End::Fail,
        }
        if n >= o.connections {
            break End::Reconnect;
        }
        let now = Instant::now();
        match now.checked_add(rec.reconnection_time(o.default_retry)).filter(|&at| at < deadline) {
            Some(at) => std::thread::sleep(at - now),
            None => {
                eprintln!("sse-bench: the next connection would start after --timeout: the session ends");
                break End::Reconnect;
            }
        }
    };
    Ok(rec.finish(end))
}

/// One line for stderr on how a connection ended.
fn describe(outcome: &Outcome, o: &Options) -> String {
    match outcome {
        Outcome::Ended(why) => format!("ended ({why})"),
        Outcome::Open => format!("no event for {} ms: it stays open", o.open.as_millis()),
        Outcome::TimeUp => "still open when --timeout was reached".into(),
        Outcome::Full => format!("the session stops: {}", Stop::Full),
        Outcome::Failed(why) => format!("failed ({why})"),
    }
}

/// One connection attempt, redirects included; `Err` when its first
/// connect fails.
fn attempt(o: &Options, rec: &mut Recorder, buf: &mut [u8], deadline: Instant) -> io::Result<Outcome> {
    let host = o.dest().to_string();
    let mut path = o.path.clone();
    let until = |rec: &Recorder| rec.open_at(o.open).map_or(deadline, |at| at.min(deadline));
    let mut redirects = 0;
    // Ends: `judge` fails the attempt past `MAX_REDIRECTS`.
    loop {
        let left = until(rec).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(quiet(deadline));
        }
        let mut stream = match TcpStream::connect_timeout(&o.dest(), left) {
            Ok(stream) => stream,
            Err(e) if redirects == 0 => return Err(e),
            Err(e) => return Ok(Outcome::Ended(format!("cannot connect: {e}"))),
        };
        let request = wire::request(&path, &host, rec.last_event_id());
        if let Err(e) = stream.set_write_timeout(Some(left)).and_then(|()| stream.write_all(&request)) {
            return Ok(Outcome::Ended(format!("cannot send the request: {e}")));
        }
        // The head, bounded by `response::MAX_HEAD` (plus one read).
        let mut head = Vec::new();
        let (len, verdict) = loop {
            match response::head(&head) {
                Ok(Some(h)) => break (h.len, wire::judge(&h, redirects)),
                Ok(None) => {}
                Err(e) => return Ok(Outcome::Ended(e.to_string())),
            }
            match read(&mut stream, buf, until(rec)) {
                Got::Data(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Got::Eof => return Ok(Outcome::Ended("closed before the response head".into())),
                Got::Error(e) => return Ok(Outcome::Ended(format!("{e}, before the response head"))),
                Got::Deadline => return Ok(quiet(deadline)),
            }
        };
        match verdict {
            Verdict::Follow(to) => path = to,
            Verdict::Fail(why) => return Ok(Outcome::Failed(why)),
            Verdict::NetworkError(e) => return Ok(Outcome::Ended(e.to_string())),
            Verdict::Stream(framing) => {
                let first = head.get(len..).unwrap_or_default();
                return Ok(body(&mut stream, framing, first, rec, buf, &until, deadline));
            }
        }
        redirects += 1;
    }
}

/// Reads a stream's body to its end, or until a deadline.
fn body(
    stream: &mut TcpStream,
    framing: Framing,
    first: &[u8],
    rec: &mut Recorder,
    buf: &mut [u8],
    until: &impl Fn(&Recorder) -> Instant,
    deadline: Instant,
) -> Outcome {
    let mut body = Body::new(framing);
    if let Some(end) = take(&mut body, rec, first, Instant::now()) {
        return end;
    }
    loop {
        match read(stream, buf, until(rec)) {
            Got::Data(n) => {
                if let Some(end) = take(&mut body, rec, buf.get(..n).unwrap_or_default(), Instant::now()) {
                    return end;
                }
            }
            Got::Eof => return Outcome::Ended("the server closed the connection".into()),
            Got::Error(e) => return Outcome::Ended(e.to_string()),
            Got::Deadline => return quiet(deadline),
        }
    }
}

/// Hands `bytes`, which arrived at `now`, to the session; `Some` when the
/// body cannot go on.
fn take(body: &mut Body, rec: &mut Recorder, mut bytes: &[u8], now: Instant) -> Option<Outcome> {
    loop {
        match body.next(&mut bytes) {
            Ok(Some(data)) => match rec.feed(data, now) {
                Ok(_) => {}
                Err(Stop::Full) => return Some(Outcome::Full),
                Err(Stop::Limit(e)) => return Some(Outcome::Ended(e.to_string())),
            },
            Ok(None) => break,
            Err(e) => return Some(Outcome::Ended(e.to_string())),
        }
    }
    body.is_done().then(|| Outcome::Ended("the body's framing ended it".into()))
}

/// A connection that went quiet: until `--open-ms`, or the session's end.
fn quiet(deadline: Instant) -> Outcome {
    if Instant::now() >= deadline { Outcome::TimeUp } else { Outcome::Open }
}

/// What one read got.
enum Got {
    Data(usize),
    Eof,
    Error(io::Error),
    Deadline,
}

/// One read that returns by `until` at the latest.
fn read(stream: &mut TcpStream, buf: &mut [u8], until: Instant) -> Got {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Got::Deadline;
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            return Got::Error(e);
        }
        match stream.read(buf) {
            Ok(0) => return Got::Eof,
            Ok(n) => return Got::Data(n),
            // A timeout, or a signal: the loop looks at the clock again.
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Got::Error(e),
        }
    }
}
