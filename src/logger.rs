//! The log backend: one line per record on stderr,
//! `2026-11-23T20:07:17.657Z INFO  [sse_server::route] message`.
//!
//! What always holds: logging never stops or stalls the server, which has
//! one thread for every client. A line stderr does not take at once is
//! dropped and counted, and the count is logged with the next line that
//! gets through:
//! - a pipe or terminal (a log collector that falls behind, a terminal
//!   paused with Ctrl-S) is written through a non-blocking descriptor of
//!   its own (reopened from /proc/self/fd/2, so the shell that shares the
//!   original is not affected);
//! - a socket (journald) is written with `MSG_DONTWAIT`;
//! - a regular file or /dev/null is written as it is;
//! - after a write error (the reader went away), nothing is written again.
//!
//! Lines are cut at `MAX_LINE` bytes, under `PIPE_BUF`, so a pipe takes a
//! line whole or not at all; a terminal or socket that takes part of one
//! gets its rest before any other line, so lines are never glued together.
//!   (simple_logger writes with `eprintln!`, which panics there: with a log
//!   collector that dies, every client would go. Hence this module.)

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

struct Logger {
    level: log::LevelFilter,
    /// Stderr is the journal (systemd's `JOURNAL_STREAM` names it), which
    /// stamps each line itself: no time of ours, and the line's syslog
    /// priority in front (`<4>` for a warning).
    journal: bool,
    out: Mutex<Output>,
}

/// The longest line written (then `...`): under `PIPE_BUF` (4096).
pub const MAX_LINE: usize = 2048;

struct Output {
    sink: Sink,
    /// Lines dropped since the last one written.
    dropped: u64,
    /// The rest of a line the sink took only part of: written before any
    /// other line (at most `MAX_LINE` bytes).
    rest: Vec<u8>,
}

enum Sink {
    /// Descriptor 2 as it is (a regular file, /dev/null).
    Plain,
    /// Our own non-blocking descriptor for the pipe or terminal on 2.
    NonBlocking(File),
    /// Descriptor 2 is a socket: sent with `MSG_DONTWAIT`.
    Socket,
    /// Writing failed for good.
    Broken,
}

/// Installs the logger for records at `level` and above.
pub fn init(level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    let out = Mutex::new(Output { sink: sink(), dropped: 0, rest: Vec::new() });
    let logger = Box::leak(Box::new(Logger { level, journal: stderr_is_journal(), out }));
    log::set_logger(logger)?;
    log::set_max_level(level);
    Ok(())
}

/// Whether stderr is the stream `JOURNAL_STREAM` names (`DEV:INODE`), as
/// systemd sets it for a service whose output goes to the journal.
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else { return false };
    // SAFETY: a zeroed stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on descriptor 2 with a valid buffer.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

fn sink() -> Sink {
    // SAFETY: a zeroed stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on descriptor 2 with a valid buffer.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return Sink::Broken;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Sink::Socket,
        libc::S_IFIFO | libc::S_IFCHR => {
            let path = c"/proc/self/fd/2";
            // SAFETY: open(2) with a NUL-terminated path; the result is checked.
            let fd = unsafe {
                libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
            };
            if fd < 0 {
                return Sink::Plain;
            }
            // SAFETY: a descriptor we just opened and now own.
            Sink::NonBlocking(unsafe { File::from_raw_fd(fd) })
        }
        _ => Sink::Plain,
    }
}

impl Output {
    /// Writes one whole line, or nothing; `false` if it was not taken. A
    /// line taken in part is finished first, at the next call.
    fn write_line(&mut self, line: &[u8]) -> bool {
        if !self.rest.is_empty() {
            let rest = std::mem::take(&mut self.rest);
            match self.write_some(&rest) {
                Some(n) if n == rest.len() => {}
                Some(n) => {
                    self.rest = rest.get(n..).unwrap_or_default().to_vec();
                    return false;
                }
                None => {
                    self.rest = rest;
                    return false;
                }
            }
        }
        match self.write_some(line) {
            Some(n) if n == line.len() => true,
            // Taken in part: the rest goes before anything else, and this
            // line counts as written.
            Some(n) if n > 0 => {
                self.rest = line.get(n..).unwrap_or_default().to_vec();
                true
            }
            Some(_) | None => false,
        }
    }

    /// One write of `bytes`: how many were taken (`None`: none could be).
    fn write_some(&mut self, bytes: &[u8]) -> Option<usize> {
        let result = match &mut self.sink {
            Sink::Plain => io::stderr().write_all(bytes).map(|()| bytes.len()),
            Sink::NonBlocking(f) => f.write(bytes),
            Sink::Socket => {
                // SAFETY: send(2) on descriptor 2 with a valid buffer.
                let n = unsafe {
                    libc::send(2, bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            }
            Sink::Broken => return None,
        };
        match result {
            Ok(n) => Some(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => None,
            Err(_) => {
                self.sink = Sink::Broken;
                None
            }
        }
    }
}

/// `line` cut to `MAX_LINE` bytes (at a character's start), ending in
/// `...` and a line feed when it was longer.
fn capped(mut line: String) -> String {
    if line.len() <= MAX_LINE {
        return line;
    }
    let mut end = MAX_LINE - 4;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push_str("...\n");
    line
}

fn format_line(journal: bool, level: log::Level, target: &str, args: &std::fmt::Arguments) -> String {
    if journal {
        // The syslog priority in front (sd-daemon(3)): journald files the
        // line under it, so `journalctl -p warning` finds warnings.
        let priority = match level {
            log::Level::Error => 3,
            log::Level::Warn => 4,
            log::Level::Info => 6,
            log::Level::Debug | log::Level::Trace => 7,
        };
        return format!("<{priority}>{level:<5} [{target}] {args}\n");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let time = crate::date::iso8601(now.as_secs(), now.subsec_millis());
    format!("{time} {level:<5} [{target}] {args}\n")
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut out) = self.out.lock() else { return };
        if matches!(out.sink, Sink::Broken) {
            return;
        }
        if out.dropped > 0 {
            let note = format!("{} log lines dropped: stderr was not taking them", out.dropped);
            let line = format_line(self.journal, log::Level::Warn, module_path!(), &format_args!("{note}"));
            if !out.write_line(line.as_bytes()) {
                out.dropped += 1;
                return;
            }
            out.dropped = 0;
        }
        let line = capped(format_line(self.journal, record.level(), record.target(), record.args()));
        if !out.write_line(line.as_bytes()) {
            out.dropped += 1;
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_under_pipe_buf() {
        let long = format!("{}\n", "a".repeat(5000));
        let wide = format!("{}\n", "€".repeat(3000));
        // (line, its length after the cut, whether it was cut)
        let table: [(String, usize, bool); 4] = [
            ("short\n".to_string(), 6, false),
            (format!("{}\n", "b".repeat(MAX_LINE - 1)), MAX_LINE, false),
            (long, MAX_LINE, true),
            (wide, MAX_LINE - 1, true),
        ];
        for (line, len, cut) in table {
            let out = capped(line.clone());
            assert_eq!(out.len(), len, "{:?}", &line[..20]);
            assert_eq!(out.ends_with("...\n"), cut);
            assert!(out.len() < 4096 && out.ends_with('\n'));
        }
    }
}
