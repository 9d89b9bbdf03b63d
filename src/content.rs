//! Request content, read to its end and dropped (RFC 9112 §6 and §7.1).
//!
//! No route takes content, but it has to be read exactly so that the next
//! pipelined request starts at the right byte. `Content::feed` consumes what it
//! can of the bytes given and keeps only a few counters: content is never
//! held in memory. The chunked decoder is a byte-level state machine that
//! checks chunk sizes, extensions and trailer fields against the grammar,
//! and bounds every part that has no length of its own.

use crate::config::{MAX_CHUNK_LINE, MAX_CONTENT, MAX_TRAILERS};
use crate::http::{Framing, HttpError};
use crate::uri::is_tchar;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Bytes of content still to come.
    Length(u64),
    Chunked(Chunked),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: State,
    /// Content bytes announced so far by chunk sizes.
    total: u64,
    /// Bytes of the current chunk-size line, or of the trailer section.
    run: usize,
}

/// Where the decoder is in `chunked-body` (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In `chunk-size`; `digits` seen so far.
    Size {
        digits: u8,
        value: u64,
    },
    /// In `chunk-ext`, after the size of a chunk of `size` bytes.
    Ext {
        at: ExtAt,
        size: u64,
    },
    /// CR seen at the end of a chunk-size line.
    SizeLf {
        size: u64,
    },
    /// In `chunk-data`, this many bytes left.
    Data(u64),
    /// The CRLF after chunk data.
    DataCr,
    DataLf,
    /// At the start of a trailer field line or of the final CRLF.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
}

/// Positions inside `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtAt {
    /// After the size or a complete extension: `;`, whitespace or the end.
    Between,
    /// Whitespace seen there: only more of it or `;` may follow.
    BetweenWs,
    AfterSemi,
    Name,
    NameWs,
    AfterEq,
    Token,
    Quoted,
    QuotedEscape,
}

fn bad(why: &'static str) -> HttpError {
    HttpError { status: 400, why }
}

impl Content {
    /// The reader for a request's framing; `None` when it has no content.
    pub fn new(framing: Framing) -> Option<Content> {
        match framing {
            Framing::None | Framing::Length(0) => None,
            Framing::Length(n) => Some(Content::Length(n)),
            Framing::Chunked => {
                Some(Content::Chunked(Chunked { state: State::Size { digits: 0, value: 0 }, total: 0, run: 0 }))
            }
        }
    }

    /// Consumes content from the start of `data`. Returns the bytes used and
    /// whether the content has ended; when it has, what follows in `data`
    /// belongs to the next request.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, bool), HttpError> {
        self.feed_with(data, |_| {})
    }

    /// `feed`, handing each piece of the content itself (chunk data, not
    /// its framing) to `keep`, for a route that takes content.
    pub fn feed_with(&mut self, data: &[u8], mut keep: impl FnMut(&[u8])) -> Result<(usize, bool), HttpError> {
        match self {
            Content::Length(left) => {
                let n = (*left).min(data.len() as u64);
                *left -= n;
                keep(crate::ascii::before(data, n as usize));
                Ok((n as usize, *left == 0))
            }
            Content::Chunked(c) => c.feed(data, keep),
        }
    }
}

impl Chunked {
    fn feed(&mut self, data: &[u8], mut keep: impl FnMut(&[u8])) -> Result<(usize, bool), HttpError> {
        let mut i = 0;
        while let Some(&b) = data.get(i) {
            if let State::Data(left) = self.state {
                let n = left.min((data.len() - i) as u64);
                keep(crate::ascii::before(crate::ascii::after(data, i), n as usize));
                i += n as usize;
                self.state = if left == n { State::DataCr } else { State::Data(left - n) };
                continue;
            }
            i += 1;
            if self.step(b)? {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }

    /// One byte outside chunk data; `true` once the body has ended.
    fn step(&mut self, b: u8) -> Result<bool, HttpError> {
        use State::*;
        let in_size_line = matches!(self.state, Size { .. } | Ext { .. } | SizeLf { .. });
        let in_trailers = matches!(self.state, TrailerStart | TrailerName | TrailerValue | TrailerLf | FinalLf);
        if in_size_line {
            self.run += 1;
            if self.run > MAX_CHUNK_LINE {
                return Err(bad("chunk size line too long"));
            }
        } else if in_trailers {
            self.run += 1;
            if self.run > MAX_TRAILERS {
                return Err(HttpError { status: 431, why: "trailer section larger than 8 KiB" });
            }
        }
        self.state = match self.state {
            Size { digits, value } => match (b as char).to_digit(16) {
                Some(d) => {
                    if digits >= 16 {
                        return Err(bad("chunk size too large"));
                    }
                    Size { digits: digits + 1, value: value << 4 | u64::from(d) }
                }
                None if digits == 0 => return Err(bad("malformed chunk size")),
                None => return self.ext(ExtAt::Between, value, b),
            },
            Ext { at, size } => return self.ext(at, size, b),
            SizeLf { size } if b == b'\n' => self.start_chunk(size)?,
            SizeLf { .. } => return Err(bad("bare CR in a chunk size line")),
            // `feed` consumes chunk data in bulk and never passes it here.
            Data(_) => return Err(bad("chunk data outside the data state")),
            DataCr if b == b'\r' => DataLf,
            DataCr if b == b'\n' => Size { digits: 0, value: 0 },
            DataLf if b == b'\n' => Size { digits: 0, value: 0 },
            DataCr | DataLf => return Err(bad("chunk data not followed by CRLF")),
            TrailerStart => match b {
                b'\r' => FinalLf,
                b'\n' => return Ok(true),
                _ if is_tchar(b) => TrailerName,
                _ => return Err(bad("malformed trailer field")),
            },
            TrailerName => match b {
                b':' => TrailerValue,
                _ if is_tchar(b) => TrailerName,
                _ => return Err(bad("malformed trailer field name")),
            },
            TrailerValue => match b {
                b'\r' => TrailerLf,
                b'\n' => TrailerStart,
                b'\t' | b' '..=0x7e | 0x80..=0xff => TrailerValue,
                _ => return Err(bad("control byte in a trailer field")),
            },
            TrailerLf if b == b'\n' => TrailerStart,
            FinalLf if b == b'\n' => return Ok(true),
            TrailerLf | FinalLf => return Err(bad("bare CR in the trailer section")),
        };
        Ok(false)
    }

    fn ext(&mut self, at: ExtAt, size: u64, b: u8) -> Result<bool, HttpError> {
        use ExtAt::*;
        let ws = b == b' ' || b == b'\t';
        let next = match at {
            Between | Name | Token if b == b'\r' => {
                self.state = State::SizeLf { size };
                return Ok(false);
            }
            Between | Name | Token if b == b'\n' => {
                self.state = self.start_chunk(size)?;
                return Ok(false);
            }
            Between | BetweenWs | Name | NameWs | Token if b == b';' => AfterSemi,
            Between | BetweenWs | Token if ws => BetweenWs,
            Name | NameWs if ws => NameWs,
            Name | NameWs if b == b'=' => AfterEq,
            AfterSemi | AfterEq if ws => at,
            AfterSemi | Name if is_tchar(b) => Name,
            AfterEq | Token if is_tchar(b) => Token,
            AfterEq if b == b'"' => Quoted,
            Quoted => match b {
                b'"' => Between,
                b'\\' => QuotedEscape,
                b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => Quoted,
                _ => return Err(bad("malformed chunk extension")),
            },
            QuotedEscape if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 => Quoted,
            _ => return Err(bad("malformed chunk extension")),
        };
        self.state = State::Ext { at: next, size };
        Ok(false)
    }

    /// A complete chunk-size line: data follows, or the trailer section.
    fn start_chunk(&mut self, size: u64) -> Result<State, HttpError> {
        self.run = 0;
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        self.total = self.total.saturating_add(size);
        if self.total > MAX_CONTENT {
            return Err(HttpError { status: 413, why: "content larger than 64 KiB" });
        }
        Ok(State::Data(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &[u8]) -> Result<(usize, bool), HttpError> {
        let mut b = Content::new(Framing::Chunked).unwrap();
        b.feed(body)
    }

    fn run_bytewise(body: &[u8]) -> Result<(usize, bool), HttpError> {
        let mut b = Content::new(Framing::Chunked).unwrap();
        for (i, byte) in body.iter().enumerate() {
            let (n, done) = b.feed(std::slice::from_ref(byte))?;
            assert_eq!(n, 1);
            if done {
                return Ok((i + 1, true));
            }
        }
        Ok((body.len(), false))
    }

    #[test]
    fn valid_chunked_bodies_end_at_the_right_byte() {
        for body in [
            &b"0\r\n\r\n"[..],
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5;a=b\r\nhello\r\n0\r\n\r\n",
            b"5 ; a = \"q\\\"x\" ; c\r\nhello\r\n0\r\n\r\n",
            b"000A\r\n0123456789\r\n0\r\nX-T: v\r\nY: \r\n\r\n",
            b"a\nhelloworld\n0\n\n",
            b"3\r\nabc\r\n2\r\nde\r\n0;last\r\n\r\n",
        ] {
            let mut with_next = body.to_vec();
            with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(run(&with_next), Ok((body.len(), true)), "{}", String::from_utf8_lossy(body));
            assert_eq!(run_bytewise(&with_next), Ok((body.len(), true)));
            for cut in 0..body.len() {
                assert_eq!(run(&body[..cut]), Ok((cut, false)), "prefix {cut}");
            }
        }
    }

    #[test]
    fn malformed_chunked_bodies() {
        for (body, status) in [
            (&b"\r\n"[..], 400),
            (b"x\r\n", 400),
            (b"-1\r\n", 400),
            (b"0x5\r\n", 400),
            (b"5\rx", 400),
            (b"5 \r\n", 400),
            (b"5;\r\n", 400),
            (b"5;a=\r\n", 400),
            (b"5;a b\r\n", 400),
            (b"5;a=\"\x01\"\r\n", 400),
            (b"5\r\nhelloX", 400),
            (b"0\r\nX : y\r\n\r\n", 400),
            (b"0\r\nX: \x01\r\n\r\n", 400),
            (b"0\r\n\rX", 400),
            (b"11111111111111111\r\n", 400),
            (b"10001\r\n", 413),
        ] {
            assert_eq!(run(body).map_err(|e| e.status), Err(status), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn chunked_totals_over_the_limit_are_413() {
        let mut b = Content::new(Framing::Chunked).unwrap();
        let chunk = [b'x'; 0x8000];
        let mut feed = |d: &[u8]| b.feed(d).map_err(|e| e.status);
        assert_eq!(feed(b"8000\r\n"), Ok((6, false)));
        assert_eq!(feed(&chunk), Ok((0x8000, false)));
        assert_eq!(feed(b"\r\n8000\r\n"), Ok((8, false)));
        assert_eq!(feed(&chunk), Ok((0x8000, false)));
        assert_eq!(feed(b"\r\n1\r\n"), Err(413));
    }

    #[test]
    fn bounded_lines() {
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_CHUNK_LINE));
        assert_eq!(run(&long).map_err(|e| e.status), Err(400));
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..1000 {
            trailers.extend_from_slice(b"X-Trailer: 0123456789\r\n");
        }
        assert_eq!(run(&trailers).map_err(|e| e.status), Err(431));
    }

    #[test]
    fn the_content_itself_is_handed_over_without_its_framing() {
        let body = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n";
        let mut whole = Vec::new();
        let mut c = Content::new(Framing::Chunked).unwrap();
        assert_eq!(c.feed_with(body, |d| whole.extend_from_slice(d)), Ok((body.len(), true)));
        assert_eq!(whole, b"hello world");
        let mut bytewise = Vec::new();
        let mut c = Content::new(Framing::Chunked).unwrap();
        for b in body {
            c.feed_with(std::slice::from_ref(b), |d| bytewise.extend_from_slice(d)).unwrap();
        }
        assert_eq!(bytewise, b"hello world");
        let mut kept = Vec::new();
        let mut c = Content::new(Framing::Length(5)).unwrap();
        assert_eq!(c.feed_with(b"helloGET", |d| kept.extend_from_slice(d)), Ok((5, true)));
        assert_eq!(kept, b"hello");
    }

    #[test]
    fn content_length_bodies() {
        let mut b = Content::new(Framing::Length(5)).unwrap();
        assert_eq!(b.feed(b"he"), Ok((2, false)));
        assert_eq!(b.feed(b"lloGET"), Ok((3, true)));
        assert_eq!(Content::new(Framing::Length(0)), None);
        assert_eq!(Content::new(Framing::None), None);
    }
}
