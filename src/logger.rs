//! The log backend: one line per record on stderr,
//! `2026-11-23T20:07:17.657Z INFO  [sse_server::route] message`.
//!
//! What always holds: logging never stops the server. A line that stderr
//! does not take (the reader of a pipe went away, say) is dropped, and
//! after the first failure stderr is pointed at /dev/null so no later line
//! tries again. (simple_logger writes with `eprintln!`, which panics on a
//! broken pipe: with a log collector that dies, every client would go.)

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

struct Logger {
    level: log::LevelFilter,
    broken: AtomicBool,
}

/// Installs the logger for records at `level` and above.
pub fn init(level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    let logger = Box::leak(Box::new(Logger { level, broken: AtomicBool::new(false) }));
    log::set_logger(logger)?;
    log::set_max_level(level);
    Ok(())
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) || self.broken.load(Ordering::Relaxed) {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let line = format!(
            "{} {:<5} [{}] {}\n",
            crate::response::iso8601(now.as_secs(), now.subsec_millis()),
            record.level(),
            record.target(),
            record.args()
        );
        if std::io::stderr().write_all(line.as_bytes()).is_err() {
            self.broken.store(true, Ordering::Relaxed);
            silence_stderr();
        }
    }

    fn flush(&self) {}
}

/// Points descriptor 2 at /dev/null, so that nothing else that writes to
/// stderr can fail (or panic) either.
fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto stderr with a descriptor we own for this call.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2) };
    }
}
