//! A connection's output: bytes the kernel has not taken yet, the rest of
//! a file too large to hold, and how a stream's bytes are cut into writes
//! and paced (the knobs `split` and `pause`).
//!
//! What always holds: the bytes waiting never exceed `OUTPUT_LIMIT`
//! (callers stop appending at `MAX_PENDING_OUTPUT`, and one append is at
//! most `MAX_APPEND`); a file is read into the buffer only when the buffer
//! is empty, `MAX_PENDING_OUTPUT` at a time; with a `Pace`, `pending` never
//! offers more than the current piece, nor anything before its time, and
//! the cuts fall at the same bytes whatever the timing. The bytes waiting
//! are `buf[sent..]`: `sent` is below `buf.len()`, or both are 0; taken
//! bytes are let go once they are half the buffer, so it holds at most
//! twice what waits (plus one append).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::config::{MAX_PENDING_OUTPUT, MAX_RANDOM_PIECE, OUTPUT_LIMIT};
use crate::knobs::Split;

#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    /// Bytes at the start of `buf` the kernel has taken: the output is
    /// `buf[sent..]`. Taken bytes are let go at the next append or when all
    /// are out, not at each write, so a stream cut into 1-byte pieces does
    /// not move its buffer once per byte.
    sent: u32,
    tail: Option<Tail>,
}

/// What comes after the buffer: a download's file, a document too large
/// for the buffer, or a stream's pace (one at a time: a connection sends
/// one of them at a time).
#[derive(Debug)]
enum Tail {
    /// The rest of a file and how many bytes of it are still to send.
    File(File, u64),
    /// A generated document (a scenario's expectation) and how much of it
    /// has gone into the buffer.
    Document(Box<(Vec<u8>, usize)>),
    Paced(Box<Pace>),
}

/// How a stream's bytes are cut into writes and paced: each write the
/// stream makes (the head, an event, a scripted write) is cut into pieces
/// of its own, so the cuts depend on the stream alone, never on how much
/// the client has taken meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    split: Option<Split>,
    /// xorshift64* state for `Split::Random`.
    rng: u64,
    pause: Duration,
    /// The writes in the buffer, oldest first: bytes left of each.
    writes: VecDeque<usize>,
    /// Bytes left of the current piece; 0: the next write starts one.
    left: usize,
    /// The next piece may not be written before this.
    from: Option<Instant>,
}

impl Pace {
    pub fn new(split: Option<Split>, pause: Duration) -> Pace {
        let rng = match split {
            Some(Split::Random(seed)) => seed ^ 0x9e37_79b9_7f4a_7c15 | 1,
            _ => 1,
        };
        Pace { split, rng, pause, writes: VecDeque::new(), left: 0, from: None }
    }

    /// The size of the next piece, when `available` bytes wait.
    fn next_piece(&mut self, available: usize) -> usize {
        match self.split {
            None => available,
            Some(Split::Every(n)) => n,
            Some(Split::Random(_)) => {
                let mut x = self.rng;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                self.rng = x;
                1 + (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % MAX_RANDOM_PIECE
            }
        }
    }
}

/// What `refill` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refill {
    /// Nothing to do, or more of the file is in the buffer.
    Ok,
    /// The last piece of the file is in the buffer; its descriptor is closed.
    FileDone,
    /// The last piece of a document of this many bytes is in the buffer.
    DocumentDone(usize),
    /// The file could not give what its `Content-Length` promised (it
    /// shrank, or a read failed); its descriptor is closed.
    FileFailed,
}

impl Output {
    /// Bytes waiting for the kernel (not counting the rest of a file).
    pub fn len(&self) -> usize {
        self.buf.len() - self.sent as usize
    }

    /// The buffer holds bytes the kernel has not taken.
    fn holds_bytes(&self) -> bool {
        self.buf.len() > self.sent as usize
    }

    /// Nothing at all left to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.tail_is_empty()
    }

    pub fn has_file(&self) -> bool {
        matches!(self.tail, Some(Tail::File(..)))
    }

    /// Nothing of a file or a document is left to send.
    pub fn tail_is_empty(&self) -> bool {
        !matches!(self.tail, Some(Tail::File(..) | Tail::Document(..)))
    }

    /// The size of a document being sent, if one is.
    pub fn document(&self) -> Option<usize> {
        match &self.tail {
            Some(Tail::Document(d)) => Some(d.0.len()),
            _ => None,
        }
    }

    /// Sends `doc` after what the buffer holds, `MAX_PENDING_OUTPUT` at a time.
    pub fn send_document(&mut self, doc: Vec<u8>) {
        debug_assert!(self.tail.is_none());
        self.tail = Some(Tail::Document(Box::new((doc, 0))));
    }

    /// Cuts and paces the output from now on, what the buffer holds (the
    /// stream's head) being its first write.
    pub fn pace(&mut self, pace: Pace) {
        debug_assert!(self.tail.is_none());
        self.tail = Some(Tail::Paced(Box::new(pace)));
        self.appended();
    }

    /// A stream's bytes are cut and paced (the `split` and `pause` knobs).
    pub fn is_paced(&self) -> bool {
        matches!(self.tail, Some(Tail::Paced(_)))
    }

    /// When the next piece may be written, if output waits for that.
    pub fn paced_until(&self) -> Option<Instant> {
        match &self.tail {
            Some(Tail::Paced(p)) if self.holds_bytes() => p.from,
            _ => None,
        }
    }

    /// The buffer, to format into; callers append at most `MAX_APPEND`
    /// past `MAX_PENDING_OUTPUT` before the bound is checked again.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        // Taken bytes are let go once they are half the buffer: a buffer
        // is moved at most once for as many bytes as it moves, and holds
        // at most twice what waits.
        if self.sent > 0 && self.sent as usize * 2 >= self.buf.len() {
            self.buf.drain(..self.sent as usize);
            self.sent = 0;
        }
        &mut self.buf
    }

    /// What was appended since the last call is one write (for a pace to
    /// cut on its own); checks the bound (the callers' own checks keep it:
    /// this is a no-op in release builds).
    pub fn appended(&mut self) {
        let len = self.len();
        debug_assert!(len <= OUTPUT_LIMIT, "output {len} over OUTPUT_LIMIT");
        if let Some(Tail::Paced(p)) = &mut self.tail {
            let queued: usize = p.writes.iter().sum();
            let new = len.saturating_sub(queued);
            if new > 0 {
                p.writes.push_back(new);
            }
        }
    }

    pub fn send_file(&mut self, file: File, len: u64) {
        debug_assert!(self.tail.is_none());
        self.tail = Some(Tail::File(file, len));
    }

    /// What to write next, with one `write`: all that waits, or with a
    /// pace, what is left of the current piece once its time has come.
    pub fn pending(&mut self, now: Instant) -> &[u8] {
        let waiting = crate::ascii::after(&self.buf, self.sent as usize);
        let Some(Tail::Paced(p)) = &mut self.tail else { return waiting };
        if waiting.is_empty() || p.from.is_some_and(|t| now < t) {
            return &[];
        }
        let write = p.writes.front().copied().unwrap_or(waiting.len());
        if p.left == 0 {
            p.left = p.next_piece(write);
        }
        crate::ascii::before(waiting, p.left.min(write).min(waiting.len()))
    }

    /// The kernel took `n` bytes of `pending()` at `now`.
    pub fn consumed(&mut self, n: usize, now: Instant) {
        if let Some(Tail::Paced(p)) = &mut self.tail {
            p.left = p.left.saturating_sub(n);
            if let Some(w) = p.writes.front_mut() {
                *w = w.saturating_sub(n);
                if *w == 0 {
                    // The write is out: the next one starts a piece.
                    p.writes.pop_front();
                    p.left = 0;
                }
            }
            if p.left == 0 {
                p.from = (!p.pause.is_zero()).then(|| now + p.pause);
            }
        }
        // Under OUTPUT_LIMIT, so four bytes hold it.
        let sent = (self.sent as usize + n).min(self.buf.len());
        self.sent = u32::try_from(sent).unwrap_or(u32::MAX);
        if sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            if self.buf.capacity() > MAX_PENDING_OUTPUT {
                // Give back what a burst of output took.
                self.buf = Vec::new();
            }
        }
    }

    /// Moves the next piece of the file into an empty buffer.
    pub fn refill(&mut self) -> Refill {
        if self.holds_bytes() {
            return Refill::Ok;
        }
        if let Some(Tail::Document(d)) = &mut self.tail {
            let (doc, at) = &mut **d;
            let piece = crate::ascii::after(doc, *at);
            let piece = crate::ascii::before(piece, piece.len().min(MAX_PENDING_OUTPUT));
            self.buf.extend_from_slice(piece);
            *at += piece.len();
            if *at >= doc.len() {
                let len = doc.len();
                self.tail = None;
                return Refill::DocumentDone(len);
            }
            return Refill::Ok;
        }
        let Some(Tail::File(file, left)) = &mut self.tail else { return Refill::Ok };
        let want = (*left).min(MAX_PENDING_OUTPUT as u64) as usize;
        self.buf.resize(want, 0);
        let got = file.read(&mut self.buf).unwrap_or(0);
        self.buf.truncate(got);
        if got == 0 {
            self.tail = None;
            return Refill::FileFailed;
        }
        *left -= got as u64;
        if *left == 0 {
            self.tail = None;
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
        let now = Instant::now();
        assert_eq!(o.refill(), Refill::Ok);
        assert_eq!(o.len(), MAX_PENDING_OUTPUT);
        // Not empty yet: nothing more is read.
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(MAX_PENDING_OUTPUT, now);
        assert_eq!(o.refill(), Refill::FileDone);
        assert_eq!(o.pending(now), b"ffffffffff");
        o.consumed(10, now);
        assert!(o.is_empty());
        // A file that shrank after its length was promised.
        o.send_file(File::open(&path).unwrap(), MAX_PENDING_OUTPUT as u64 + 20);
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(MAX_PENDING_OUTPUT, now);
        assert_eq!(o.refill(), Refill::Ok);
        o.consumed(10, now);
        assert_eq!(o.refill(), Refill::FileFailed);
        assert!(o.is_empty());
        let _ = std::fs::remove_file(&path);
    }

    /// Writes everything `o` offers, as a client that reads at once would
    /// see the writes; the clock moves by `step` between tries.
    fn writes(o: &mut Output, mut now: Instant, step: Duration) -> (Vec<Vec<u8>>, Instant) {
        let mut seen = Vec::new();
        while !o.is_empty() {
            let piece = o.pending(now).to_vec();
            if piece.is_empty() {
                now += step;
                continue;
            }
            o.consumed(piece.len(), now);
            seen.push(piece);
        }
        (seen, now)
    }

    #[test]
    fn a_pace_cuts_at_the_same_bytes_whatever_the_timing() {
        let t0 = Instant::now();
        let mut o = Output::default();
        o.pace(Pace::new(Some(Split::Every(3)), Duration::ZERO));
        // Two writes in the buffer before any is taken: each is cut alone.
        o.buf().extend_from_slice(b"abcdefgh");
        o.appended();
        o.buf().extend_from_slice(b"0123");
        o.appended();
        assert_eq!(writes(&mut o, t0, Duration::ZERO).0, [&b"abc"[..], b"def", b"gh", b"012", b"3"]);
        // The kernel taking less than a piece leaves the rest of it.
        o.buf().extend_from_slice(b"0123456");
        o.appended();
        assert_eq!(o.pending(t0), b"012");
        o.consumed(1, t0);
        assert_eq!(o.pending(t0), b"12");
        // Random sizes: the same seed, the same cuts.
        let cuts = |seed| {
            let mut o = Output::default();
            o.pace(Pace::new(Some(Split::Random(seed)), Duration::ZERO));
            o.buf().extend_from_slice(&[b'x'; 200]);
            o.appended();
            writes(&mut o, t0, Duration::ZERO).0.iter().map(Vec::len).collect::<Vec<_>>()
        };
        assert_eq!(cuts(7), cuts(7));
        assert_ne!(cuts(7), cuts(8));
        assert!(cuts(7).iter().all(|&n| (1..=MAX_RANDOM_PIECE).contains(&n)));
    }

    #[test]
    fn a_pause_holds_the_next_piece_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut o = Output::default();
        o.pace(Pace::new(Some(Split::Every(2)), 10 * ms));
        o.buf().extend_from_slice(b"abcd");
        o.appended();
        assert_eq!(o.pending(t0), b"ab");
        o.consumed(2, t0);
        assert_eq!(o.paced_until(), Some(t0 + 10 * ms));
        assert_eq!(o.pending(t0 + 9 * ms), b"");
        assert_eq!(o.pending(t0 + 10 * ms), b"cd");
        // Without a split, each write waits for the pause.
        let mut o = Output::default();
        o.pace(Pace::new(None, 10 * ms));
        o.buf().extend_from_slice(b"abcd");
        o.appended();
        assert_eq!(o.pending(t0), b"abcd");
        let (seen, end) = writes(&mut o, t0, ms);
        assert_eq!((seen.len(), end), (1, t0));
    }
}
