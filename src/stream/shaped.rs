//! Any stream with the knobs that change its bytes (`knobs::Knobs`): a
//! BOM and a `retry:` first, every line ending made the one asked for,
//! each write framed as a chunk, and an end after N events (a clean close,
//! a reset, or a stall). It wraps another `Source` and changes nothing of
//! what that source decides, only the bytes it writes; heartbeats pass
//! through it too (`write_extra`), so they are framed like the rest.
//!
//! What always holds: the bytes are a function of the inner source's bytes
//! and the knobs alone (not of timing or of how the client reads), so the
//! same request gives the same bytes every run; a CR at the end of one
//! write and an LF at the start of the next are one line ending.

use std::time::Instant;

use super::{Emitted, End, Source};
use crate::ascii::push_hex;
use crate::knobs::{After, Eol, Knobs};

#[derive(Debug)]
pub struct Shaped {
    inner: Box<dyn Source>,
    eol: Option<Eol>,
    chunked: bool,
    /// A BOM and a `retry:` line, sent right after the head.
    prefix: Option<Vec<u8>>,
    start: Instant,
    after: Option<(u64, After)>,
    events: u64,
    stalled: bool,
    /// The last byte written was a CR turned into `eol`: an LF right
    /// after it (in the same write or the next) belongs to it.
    after_cr: bool,
}

impl Shaped {
    /// `inner` with the byte-shaping knobs of `k`, starting at `now`.
    pub fn new(inner: Box<dyn Source>, k: &Knobs, now: Instant) -> Shaped {
        let mut prefix = Vec::new();
        if k.bom {
            prefix.extend_from_slice("\u{feff}".as_bytes());
        }
        if let Some(ms) = k.retry {
            prefix.extend_from_slice(b"retry: ");
            crate::ascii::push_u64(&mut prefix, ms);
            prefix.extend_from_slice(b"\n\n");
        }
        let starts = !prefix.is_empty() || k.after.is_some_and(|(n, _)| n == 0);
        Shaped {
            inner,
            eol: k.eol,
            chunked: k.chunked,
            prefix: starts.then_some(prefix),
            start: now,
            after: k.after,
            events: 0,
            stalled: false,
            after_cr: false,
        }
    }

    /// Appends `bytes` to `out` as this stream writes: line endings made
    /// `eol`'s, and framed as one chunk.
    fn write(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut shaped = Vec::with_capacity(bytes.len() + 8);
        match self.eol {
            None => shaped.extend_from_slice(bytes),
            Some(eol) => {
                for &b in bytes {
                    match b {
                        b'\n' if self.after_cr => self.after_cr = false,
                        b'\r' | b'\n' => {
                            shaped.extend_from_slice(eol.bytes());
                            self.after_cr = b == b'\r';
                        }
                        _ => {
                            shaped.push(b);
                            self.after_cr = false;
                        }
                    }
                }
            }
        }
        if shaped.is_empty() {
            // An empty chunk would end the body.
            return;
        }
        if self.chunked {
            push_hex(out, shaped.len() as u64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&shaped);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(&shaped);
        }
    }

    /// The end that `after` asks for once `events` have been sent.
    fn end_after(&mut self) -> Option<End> {
        let (n, what) = self.after?;
        if self.events < n {
            return None;
        }
        self.after = None;
        match what {
            After::Close => Some(End::Finish),
            After::Reset => Some(End::Reset),
            After::Stall => {
                self.stalled = true;
                None
            }
        }
    }

    fn finish(&mut self, end: Option<End>, out: &mut Vec<u8>) -> Option<End> {
        if end == Some(End::Finish) && self.chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        end
    }
}

impl Source for Shaped {
    fn due(&self) -> Option<Instant> {
        if self.prefix.is_some() {
            return Some(self.start);
        }
        if self.stalled { None } else { self.inner.due() }
    }

    fn emit(&mut self, id: u64, now: Instant, out: &mut Vec<u8>) -> Emitted {
        if let Some(prefix) = self.prefix.take() {
            self.write(&prefix, out);
            let end = self.end_after();
            return Emitted { events: 0, end: self.finish(end, out) };
        }
        if self.stalled {
            return Emitted::default();
        }
        let mut raw = Vec::new();
        let e = self.inner.emit(id, now, &mut raw);
        self.write(&raw, out);
        self.events += e.events;
        let end = e.end.or_else(|| self.end_after());
        Emitted { events: e.events, end: self.finish(end, out) }
    }

    fn heartbeats(&self) -> bool {
        !self.stalled && self.inner.heartbeats()
    }

    fn paced_by_output(&self) -> bool {
        self.inner.paced_by_output()
    }

    fn looped(&self) -> bool {
        self.inner.looped()
    }

    fn push(&mut self, event: &std::rc::Rc<[u8]>, out: &mut Vec<u8>) -> super::Pushed {
        let mut raw = Vec::new();
        let pushed = self.inner.push(event, &mut raw);
        self.write(&raw, out);
        pushed
    }

    fn membership(&self) -> Option<crate::channel::Membership> {
        self.inner.membership()
    }

    fn write_extra(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.write(bytes, out);
    }

    fn place(&self) -> crate::sse::Place {
        self.inner.place()
    }

    fn close_framing(&mut self, out: &mut Vec<u8>) {
        self.finish(Some(End::Finish), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs;
    use crate::stream::demo::{Demo, DemoParams};
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    /// Every byte a shaped demo stream of `count` events writes.
    fn run(query: &str, count: u64) -> (Vec<u8>, Option<End>) {
        let t0 = Instant::now();
        let params = DemoParams { interval: Some(10 * MS), count: Some(count), size: 0 };
        let k = knobs::parse(query.as_bytes()).unwrap();
        let mut s = Shaped::new(Box::new(Demo::new(0, &params, MS, t0)), &k, t0);
        let mut out = Vec::new();
        while let Some(due) = s.due() {
            let e = s.emit(1, due, &mut out);
            if e.end.is_some() {
                return (out, e.end);
            }
        }
        (out, None)
    }

    fn ev(n: u64) -> String {
        format!("event: my-custom-event\nid: 1-{n}\ndata: Server says hi! (event #{n} of connection #1)\n\n")
    }

    #[test]
    fn each_knob_shapes_the_bytes() {
        let two = ev(1) + &ev(2);
        for (query, want, end) in [
            ("", two.clone(), Some(End::Finish)),
            ("bom=1", format!("\u{feff}{two}"), Some(End::Finish)),
            ("retry=200&bom=1", format!("\u{feff}retry: 200\n\n{two}"), Some(End::Finish)),
            ("eol=crlf", two.replace('\n', "\r\n"), Some(End::Finish)),
            ("eol=cr", two.replace('\n', "\r"), Some(End::Finish)),
            ("close_after=1", ev(1), Some(End::Finish)),
            ("reset_after=1", ev(1), Some(End::Reset)),
            ("close_after=0&retry=5", "retry: 5\n\n".to_string(), Some(End::Finish)),
            ("stall_after=1", ev(1), None),
        ] {
            let (out, e) = run(query, 2);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{query}");
            assert_eq!(e, end, "{query}");
        }
    }

    #[test]
    fn chunked_frames_each_write_and_ends_with_the_last_chunk() {
        let (out, end) = run("te=chunked&eol=crlf", 2);
        let e1 = ev(1).replace('\n', "\r\n");
        let e2 = ev(2).replace('\n', "\r\n");
        let want = format!("{:x}\r\n{e1}\r\n{:x}\r\n{e2}\r\n0\r\n\r\n", e1.len(), e2.len());
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!(end, Some(End::Finish));
        // A reset ends without the last chunk.
        let (out, _) = run("te=chunked&reset_after=1", 2);
        assert!(!out.ends_with(b"0\r\n\r\n"));
    }

    #[test]
    fn line_endings_split_across_writes_are_one() {
        let k = knobs::parse(b"eol=lf").unwrap();
        let t0 = Instant::now();
        let mut s = Shaped::new(Box::new(Demo::new(0, &DemoParams::default(), MS, t0)), &k, t0);
        let mut out = Vec::new();
        for piece in [&b"data: a\r"[..], b"\ndata: b\r\r\n", b"\n"] {
            s.write_extra(piece, &mut out);
        }
        assert_eq!(out, b"data: a\ndata: b\n\n\n");
    }
}
