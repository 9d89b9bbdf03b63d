//! A connection's output: what the kernel has not taken yet, and the rest
//! of a large file. Events and responses are written at once where the
//! socket takes them (one `write` per event); only the remainder is kept.

use std::io::{self, Read, Write};

use super::{Conn, Ctx, State, Verdict};
use crate::config::{IDLE_TIMEOUT, MAX_PENDING_OUTPUT};

impl Conn {
    /// Sends `bytes` after what is already pending, writing at once when
    /// nothing is: one `write` per event where the socket takes it.
    pub(super) fn send(&mut self, bytes: &[u8], cx: &mut Ctx) -> Result<(), Verdict> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.output.is_empty() {
            self.output.extend_from_slice(bytes);
            return Ok(());
        }
        loop {
            match self.socket.write(bytes) {
                Ok(n) => {
                    cx.metrics.bytes += n as u64;
                    self.output.extend_from_slice(bytes.get(n..).unwrap_or_default());
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.output.extend_from_slice(bytes);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.on_error(&e)),
            }
        }
    }

    /// Writes pending output (and the rest of a file) until done or the
    /// socket is full.
    pub(super) fn flush(&mut self, cx: &mut Ctx) -> Result<(), Verdict> {
        let mut wrote = false;
        loop {
            if self.output.is_empty() {
                if !self.refill_from_file() {
                    self.file = None;
                    return Err(Verdict::Close(None));
                }
                if self.output.is_empty() {
                    break;
                }
            }
            match self.socket.write(&self.output) {
                Ok(n) => {
                    cx.metrics.bytes += n as u64;
                    self.output.drain(..n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.on_error(&e)),
            }
        }
        if self.output.is_empty() && self.output.capacity() > MAX_PENDING_OUTPUT {
            // Give back what a burst of output took.
            self.output = Vec::new();
        }
        // A connection whose client is taking output is not idle: a long
        // download or a closing answer gets its time from the last progress.
        match (wrote, &mut self.state) {
            (true, State::Closing { until, .. }) => *until = cx.now + IDLE_TIMEOUT,
            (true, State::ReadingHead { since, started: false }) => *since = cx.now,
            _ => {}
        }
        Ok(())
    }

    /// Moves the next piece of a large file into the output. `false` when
    /// the file can no longer give what its `Content-Length` promised.
    fn refill_from_file(&mut self) -> bool {
        let Some((file, left)) = &mut self.file else { return true };
        let want = (*left).min(MAX_PENDING_OUTPUT as u64) as usize;
        self.output.resize(want, 0);
        let got = file.read(&mut self.output).unwrap_or(0);
        self.output.truncate(got);
        if got == 0 {
            return false;
        }
        *left -= got as u64;
        if *left == 0 {
            self.file = None;
        }
        true
    }
}
