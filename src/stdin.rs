//! Standard input as a publisher (`--stdin NAME`): each line is published
//! to channel NAME, read through the poll without blocking the loop, in the
//! websocketd model (`tail -F /var/log/syslog | sse-server --stdin syslog`).
//!
//! What always holds: at most `READ_BUDGET` bytes are read per loop turn,
//! so a fast writer cannot hold the loop; a line is
//! held until its end (LF, with a CR before it dropped) up to `MAX_CONTENT`
//! bytes: past that, the first `MAX_CONTENT` bytes are published and the
//! rest of the line is dropped, with one warning per such line. Bytes that
//! are not UTF-8 become U+FFFD. The end of input stops the reading, never
//! the server.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};

use crate::channel::Channels;
use crate::config::{MAX_CONTENT, READ_CHUNK};

pub struct Stdin {
    file: File,
    channel: String,
    line: Vec<u8>,
    /// The current line passed `MAX_CONTENT`: its rest is dropped.
    overlong: bool,
    /// Registered with the poll (a pipe, a terminal, a socket); a regular
    /// file is not pollable and is read a chunk per loop turn instead.
    pub polled: bool,
    pub ended: bool,
}

impl Stdin {
    /// Standard input, on a non-blocking descriptor of its own (reopened
    /// from `/proc/self/fd/0`, so the shell that shares the original is not
    /// affected), for channel `channel`.
    pub fn open(channel: String) -> io::Result<Stdin> {
        let path = c"/proc/self/fd/0";
        // SAFETY: open(2) with a NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        let file = if fd >= 0 {
            // SAFETY: a descriptor we just opened and now own.
            unsafe { File::from_raw_fd(fd) }
        } else {
            // No /proc, or a socket on fd 0 (which cannot be reopened):
            // our own duplicate, made non-blocking.
            // SAFETY: dup(2) of descriptor 0; the result is checked.
            let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fcntl on a descriptor we own; O_NONBLOCK on a socket's
            // duplicate is what reading it through the poll needs.
            unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
            // SAFETY: a descriptor we just made and now own.
            unsafe { File::from_raw_fd(fd) }
        };
        Ok(Stdin { file, channel, line: Vec::new(), overlong: false, polled: false, ended: false })
    }

    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// One read; each complete line is published. `true` if more may be
    /// there: read again until it says `WouldBlock` or the end (a short
    /// read does not prove the input drained: its end, seen with the same
    /// readiness event, raises no new one).
    pub fn read_once(&mut self, buf: &mut Vec<u8>, channels: &mut Channels) -> bool {
        buf.resize(READ_CHUNK, 0);
        let n = match self.file.read(buf) {
            Ok(0) => {
                if !self.line.is_empty() {
                    // The last line, without its end.
                    self.publish(channels);
                }
                log::info!("standard input ended: no more events for channel {}", self.channel);
                self.ended = true;
                return false;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(e) => {
                log::warn!("reading standard input failed: {e}; no more events for channel {}", self.channel);
                self.ended = true;
                return false;
            }
        };
        let data = crate::ascii::before(buf, n);
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let (body, ends) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = (MAX_CONTENT as usize).saturating_sub(self.line.len());
            if body.len() > room && !self.overlong {
                self.overlong = true;
                log::warn!("a line of standard input is longer than {MAX_CONTENT} bytes: only its start is published");
            }
            self.line.extend_from_slice(crate::ascii::before(body, body.len().min(room)));
            if ends {
                self.publish(channels);
            }
        }
        true
    }

    fn publish(&mut self, channels: &mut Channels) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let text = String::from_utf8_lossy(&self.line);
        if let Err(e) = channels.publish(self.channel.as_bytes(), None, &text) {
            log::warn!("a line of standard input was not published: {e:?}");
        }
        self.line.clear();
        self.overlong = false;
    }
}
