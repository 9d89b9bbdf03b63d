//! A connection's output: bytes the kernel has not taken yet, and the rest
//! of a file too large to hold.
//!
//! What always holds: the buffer never holds more than `OUTPUT_LIMIT`
//! (callers stop appending at `MAX_PENDING_OUTPUT`, and one append is at
//! most `MAX_APPEND`); a file is read into the buffer only when the buffer
//! is empty, `MAX_PENDING_OUTPUT` at a time.

use std::fs::File;
use std::io::Read;

use crate::config::{MAX_PENDING_OUTPUT, OUTPUT_LIMIT};

#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// The rest of a file and how many bytes of it are still to send.
    file: Option<(File, u64)>,
}

/// What `refill` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refill {
    /// Nothing to do, or more of the file is in the buffer.
    Ok,
    /// The last piece of the file is in the buffer; its descriptor is closed.
    FileDone,
    /// The file could not give what its `Content-Length` promised (it
    /// shrank, or a read failed); its descriptor is closed.
    FileFailed,
}

impl Output {
    /// Bytes waiting for the kernel (not counting the rest of a file).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing at all left to send.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.file.is_none()
    }

    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// The buffer, to format into; callers append at most `MAX_APPEND`
    /// past `MAX_PENDING_OUTPUT` before the bound is checked again.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Checks the bound after an append (a no-op in release builds: the
    /// callers' own checks keep it).
    pub fn appended(&self) {
        debug_assert!(self.buf.len() <= OUTPUT_LIMIT, "output {} over OUTPUT_LIMIT", self.buf.len());
    }

    pub fn send_file(&mut self, file: File, len: u64) {
        debug_assert!(self.file.is_none());
        self.file = Some((file, len));
    }

    /// What to write next.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The kernel took `n` bytes of `pending()`.
    pub fn consumed(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        if self.buf.is_empty() && self.buf.capacity() > MAX_PENDING_OUTPUT {
            // Give back what a burst of output took.
            self.buf = Vec::new();
        }
    }

    /// Moves the next piece of the file into an empty buffer.
    pub fn refill(&mut self) -> Refill {
        if !self.buf.is_empty() {
            return Refill::Ok;
        }
        let Some((file, left)) = &mut self.file else { return Refill::Ok };
        let want = (*left).min(MAX_PENDING_OUTPUT as u64) as usize;
        self.buf.resize(want, 0);
        let got = file.read(&mut self.buf).unwrap_or(0);
        self.buf.truncate(got);
        if got == 0 {
            self.file = None;
            return Refill::FileFailed;
        }
        *left -= got as u64;
        if *left == 0 {
            self.file = None;
            return Refill::FileDone;
        }
        Refill::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_a_bounded_piece_at_a_time() {
        let path = std::env::temp_dir().join(format!("sse-output-{}", std::process::id()));
        std::fs::write(&path, vec![b'f'; MAX_PENDING_OUTPUT + 10]).unwrap();
        let mut o = Output::default();
        o.send_file(File::open(&path).unwrap(), MAX_PENDING_OUTPUT as u64 + 10);
        assert!(!o.is_empty() && o.has_file());
        assert_eq!(o.refill(), Refill::Ok);
        assert_eq!(o.len(), MAX_PENDING_OUTPUT);
        // Not empty yet: nothing more is read.
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(MAX_PENDING_OUTPUT);
        assert_eq!(o.refill(), Refill::FileDone);
        assert_eq!(o.pending(), b"ffffffffff");
        o.consumed(10);
        assert!(o.is_empty());
        // A file that shrank after its length was promised.
        o.send_file(File::open(&path).unwrap(), MAX_PENDING_OUTPUT as u64 + 20);
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(MAX_PENDING_OUTPUT);
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(10);
        assert_eq!(o.refill(), Refill::FileFailed);
        assert!(o.is_empty());
        let _ = std::fs::remove_file(&path);
    }
}
