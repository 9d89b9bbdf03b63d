//! The publisher: one keep-alive connection that POSTs stamped events, in
//! sequence, pipelined up to `MAX_IN_FLIGHT` unanswered requests.
//!
//! Each request is `POST PATH` with `Content-Type: text/plain`, a
//! `Content-Length` and the stamp (`stamp::format`) as its content; the
//! stamp's time is read just before the request is queued. Answers come in
//! order (HTTP/1.1 pipelining): a 2xx is a publish accepted, anything else
//! one refused. The answer's body is skipped (framed by `Content-Length` or
//! chunked; one that ends at the close cannot be pipelined and is an
//! error). The connection is not replaced: when it ends, or answers with
//! `Connection: close`, publishing stops and what was not answered counts
//! as errors, so a run never publishes the same number twice.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

use super::stamp;
use crate::chunked;
use crate::response::{self, Framing, MAX_HEAD};

/// Requests sent and not yet answered, at most.
pub const MAX_IN_FLIGHT: u64 = 32;

enum Body {
    /// Waiting for a response head.
    Head,
    Length(u64),
    Chunked(chunked::Decoder),
}

pub struct Publisher {
    pub stream: TcpStream,
    connected: bool,
    /// The request up to its `Content-Length` field.
    head: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    /// Bytes read and not yet used (a partial head, a partial body).
    input: Vec<u8>,
    body: Body,
    /// The next sequence number to send; 1 first.
    next: u64,
    in_flight: u64,
    pub accepted: u64,
    pub refused: u64,
    /// Why the connection ended, once it has.
    pub ended: Option<String>,
    /// The server said it closes after the current answer.
    closing: bool,
}

impl Publisher {
    /// A publisher on `stream` (a connect in progress) for `POST path` to
    /// `host`, with extra `headers` (`Name: value`).
    pub fn new(stream: TcpStream, path: &str, host: &str, headers: &[String]) -> Publisher {
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n");
        for field in headers {
            head.push_str(field);
            head.push_str("\r\n");
        }
        Publisher {
            stream,
            connected: false,
            head: head.into_bytes(),
            out: Vec::new(),
            written: 0,
            input: Vec::new(),
            body: Body::Head,
            next: 1,
            in_flight: 0,
            accepted: 0,
            refused: 0,
            ended: None,
            closing: false,
        }
    }

    /// Requests queued so far.
    pub fn sent(&self) -> u64 {
        self.next - 1
    }

    /// Requests not answered.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Queues and writes the publishes due up to number `due`, as far as
    /// the in-flight bound allows; stamps are microseconds since `start`.
    pub fn publish_due(&mut self, due: u64, start: Instant) {
        if self.ended.is_some() || self.closing {
            return;
        }
        let mut content = Vec::with_capacity(48);
        while self.next <= due && self.in_flight < MAX_IN_FLIGHT {
            content.clear();
            let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            stamp::format(self.next, us, &mut content);
            self.out.extend_from_slice(&self.head);
            let _ = write!(self.out, "Content-Length: {}\r\n\r\n", content.len());
            self.out.extend_from_slice(&content);
            self.next += 1;
            self.in_flight += 1;
        }
        if self.connected {
            self.flush();
        }
    }

    /// On a readiness event: completes the connect, writes what waits,
    /// reads the answers. `buf` is scratch space for reads.
    pub fn on_ready(&mut self, buf: &mut [u8]) {
        if self.ended.is_some() {
            return;
        }
        if !self.connected {
            match self.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.end(format!("connect: {e}")),
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.end(format!("connect: {e}")),
            }
        }
        self.flush();
        while self.ended.is_none() {
            match self.stream.read(buf) {
                Ok(0) => return self.end("the server closed the connection".into()),
                Ok(n) => {
                    self.input.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if let Err(e) = self.answers() {
                        return self.end(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.end(format!("read: {e}")),
            }
        }
    }

    fn flush(&mut self) {
        while self.written < self.out.len() && self.ended.is_none() {
            match self.stream.write(self.out.get(self.written..).unwrap_or_default()) {
                Ok(0) => self.end("write: wrote nothing".into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.end(format!("write: {e}")),
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
    }

    /// Takes the complete answers out of `input`.
    fn answers(&mut self) -> Result<(), String> {
        let mut used = 0;
        loop {
            let rest = self.input.get(used..).unwrap_or_default();
            match &mut self.body {
                Body::Head => {
                    let head = match response::head(rest) {
                        Ok(Some(head)) => head,
                        Ok(None) if rest.len() >= MAX_HEAD => return Err("answer head too large".into()),
                        Ok(None) => break,
                        Err(e) => return Err(format!("answer: {e}")),
                    };
                    if self.in_flight == 0 {
                        return Err("an answer to no request".into());
                    }
                    self.in_flight -= 1;
                    if (200..300).contains(&head.status) {
                        self.accepted += 1;
                    } else {
                        self.refused += 1;
                    }
                    self.closing = head.close;
                    self.body = match head.framing {
                        Ok(Framing::Length(n)) => Body::Length(n),
                        Ok(Framing::Chunked) => Body::Chunked(chunked::Decoder::new()),
                        Ok(Framing::UntilClose) => return Err("an answer without a length".into()),
                        Err(e) => return Err(format!("answer: {e}")),
                    };
                    used += head.len;
                }
                Body::Length(left) => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= take as u64;
                    used += take;
                    if *left > 0 {
                        break;
                    }
                    self.body = Body::Head;
                }
                Body::Chunked(decoder) => {
                    let mut input = rest;
                    while decoder.next(&mut input).map_err(|e| format!("answer: {e}"))?.is_some() {}
                    used += rest.len() - input.len();
                    if !decoder.is_done() {
                        break;
                    }
                    self.body = Body::Head;
                }
            }
            if matches!(self.body, Body::Head) && self.closing {
                return Err("the server closes the connection (Connection: close)".into());
            }
        }
        self.input.drain(..used);
        Ok(())
    }

    /// The connection is over: unanswered requests are lost.
    fn end(&mut self, why: String) {
        if self.ended.is_none() {
            self.ended = Some(why);
        }
    }
}
