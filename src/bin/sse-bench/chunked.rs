//! Decoder for `Transfer-Encoding: chunked` response bodies (RFC 9112 §7.1),
//! fed with bytes in pieces of any size.
//!
//! It owns only a small state (no buffer): chunk data is handed back as
//! slices of the caller's input, extensions and trailers are skipped with a
//! length bound. A bare LF is accepted as a line end (RFC 9112 §2.2 allows
//! it); a CR not followed by LF is an error. Pure: no socket, no clock.

use std::fmt;

/// Hex digits of a chunk size at most: 16 fill a `u64`.
pub const MAX_SIZE_DIGITS: u8 = 16;
/// Longest chunk extension or trailer line skipped.
pub const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    BadSize,
    SizeTooLarge,
    BadLineEnd,
    LineTooLong,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadSize => "malformed chunk size",
            ChunkError::SizeTooLarge => "chunk size too large",
            ChunkError::BadLineEnd => "chunk line not ended by CRLF",
            ChunkError::LineTooLong => "chunk extension or trailer too long",
        })
    }
}

/// Where the decoder is in the grammar; names follow RFC 9112 §7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading `chunk-size` hex digits.
    Size {
        value: u64,
        digits: u8,
    },
    /// Skipping `chunk-ext` up to the end of the size line.
    Ext {
        value: u64,
        len: usize,
    },
    /// CR seen at the end of the size line.
    SizeCr {
        value: u64,
    },
    /// Inside `chunk-data`, this many bytes to go.
    Data {
        left: u64,
    },
    /// Expecting the CRLF after `chunk-data`.
    DataEnd,
    DataCr,
    /// At the start of a `trailer-section` line (or the final CRLF).
    TrailerStart,
    Trailer {
        len: usize,
    },
    TrailerCr,
    FinalCr,
    /// The last chunk and trailer section have been read: the body is over.
    Done,
}

#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder { state: State::Size { value: 0, digits: 0 } }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advances through `input` and returns the next piece of chunk data, a
    /// slice of `input`; `None` when `input` is used up or the body is done
    /// (bytes after the end are left in `input`).
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, ChunkError> {
        loop {
            if let State::Data { left } = self.state {
                if input.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let (data, rest) = input.split_at(take);
                *input = rest;
                let left = left - take as u64;
                self.state = if left == 0 { State::DataEnd } else { State::Data { left } };
                return Ok(Some(data));
            }
            if self.state == State::Done {
                return Ok(None);
            }
            let Some((&b, rest)) = input.split_first() else {
                return Ok(None);
            };
            *input = rest;
            self.state = self.step(b)?;
        }
    }

    /// One byte outside chunk data.
    fn step(&self, b: u8) -> Result<State, ChunkError> {
        use State::*;
        Ok(match self.state {
            Size { value, digits } => match (b as char).to_digit(16) {
                Some(d) => {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(ChunkError::SizeTooLarge);
                    }
                    let value = value
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(u64::from(d)))
                        .ok_or(ChunkError::SizeTooLarge)?;
                    Size { value, digits: digits + 1 }
                }
                None if digits == 0 => return Err(ChunkError::BadSize),
                None => match b {
                    b'\r' => SizeCr { value },
                    b'\n' => after_size_line(value),
                    // `;` starts an extension; BWS may come before it.
                    b';' | b' ' | b'\t' => Ext { value, len: 1 },
                    _ => return Err(ChunkError::BadSize),
                },
            },
            Ext { value, len } => match b {
                b'\r' => SizeCr { value },
                b'\n' => after_size_line(value),
                _ if len >= MAX_LINE => return Err(ChunkError::LineTooLong),
                _ => Ext { value, len: len + 1 },
            },
            SizeCr { value } if b == b'\n' => after_size_line(value),
            TrailerCr if b == b'\n' => TrailerStart,
            DataCr if b == b'\n' => Size { value: 0, digits: 0 },
            FinalCr if b == b'\n' => Done,
            SizeCr { .. } | TrailerCr | DataCr | FinalCr => return Err(ChunkError::BadLineEnd),
            DataEnd => match b {
                b'\r' => DataCr,
                b'\n' => Size { value: 0, digits: 0 },
                _ => return Err(ChunkError::BadLineEnd),
            },
            TrailerStart => match b {
                b'\r' => FinalCr,
                b'\n' => Done,
                _ => Trailer { len: 1 },
            },
            Trailer { len } => match b {
                b'\r' => TrailerCr,
                b'\n' => TrailerStart,
                _ if len >= MAX_LINE => return Err(ChunkError::LineTooLong),
                _ => Trailer { len: len + 1 },
            },
            // Handled in `next` before a byte is taken.
            Data { .. } | Done => self.state,
        })
    }
}

fn after_size_line(value: u64) -> State {
    if value == 0 { State::TrailerStart } else { State::Data { left: value } }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `pieces` in order; the data, whether the body ended, and the
    /// bytes left after its end.
    fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkError> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        let mut after = Vec::new();
        for piece in pieces {
            let mut input = *piece;
            while let Some(data) = decoder.next(&mut input)? {
                out.extend_from_slice(data);
            }
            after.extend_from_slice(input);
        }
        Ok((out, decoder.is_done(), after))
    }

    /// Data, done, bytes after the end; or the error.
    type Want = Result<(&'static str, bool, &'static str), ChunkError>;

    #[test]
    fn table_in_every_split() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Want)] = &[
            ("one chunk", "5\r\nhello\r\n", Ok(("hello", false, ""))),
            ("two chunks", "5\r\nhello\r\n1\r\n!\r\n", Ok(("hello!", false, ""))),
            ("last chunk", "3\r\nabc\r\n0\r\n\r\n", Ok(("abc", true, ""))),
            ("bytes after end", "0\r\n\r\nXY", Ok(("", true, "XY"))),
            ("hex sizes", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n",
                Ok(("0123456789abcdefghij", false, ""))),
            ("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", Ok(("hello", true, ""))),
            ("extension", "5;name=\"v\"\r\nhello\r\n0;x\r\n\r\n", Ok(("hello", true, ""))),
            ("bws before extension", "5 ;x\r\nhello\r\n", Ok(("hello", false, ""))),
            ("trailers", "1\r\na\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", Ok(("a", true, ""))),
            ("bare lf", "5\nhello\n0\n\n", Ok(("hello", true, ""))),
            ("data holds crlf", "4\r\n\r\n\r\n\r\n", Ok(("\r\n\r\n", false, ""))),
            ("node event lines", "17\r\nevent: my-custom-event\n\r\n", Ok(("event: my-custom-event\n", false, ""))),
            ("empty size", "\r\nhello", Err(ChunkError::BadSize)),
            ("not hex", "g\r\n", Err(ChunkError::BadSize)),
            ("junk after size", "5x\r\n", Err(ChunkError::BadSize)),
            ("17 digits", "10000000000000000\r\n", Err(ChunkError::SizeTooLarge)),
            ("no crlf after data", "1\r\naX", Err(ChunkError::BadLineEnd)),
            ("cr without lf", "1\ra", Err(ChunkError::BadLineEnd)),
            ("bad final cr", "0\r\n\rX", Err(ChunkError::BadLineEnd)),
        ];
        for (name, input, want) in cases {
            let want = want.map(|(d, done, after)| (d.as_bytes().to_vec(), done, after.as_bytes().to_vec()));
            let bytes = input.as_bytes();
            assert_eq!(decode(&[bytes]), want, "{name}: whole");
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                assert_eq!(decode(&[a, b]), want, "{name}: split at {at}");
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(decode(&bytewise), want, "{name}: byte by byte");
        }
    }

    #[test]
    fn largest_size_is_accepted() {
        let mut decoder = Decoder::new();
        let mut input = &b"ffffffffffffffff\r\nab"[..];
        assert_eq!(decoder.next(&mut input), Ok(Some(&b"ab"[..])));
    }

    #[test]
    fn line_limits_are_reached_exactly() {
        let ext_ok = format!("1;{}\r\na\r\n", "x".repeat(MAX_LINE - 1));
        assert_eq!(decode(&[ext_ok.as_bytes()]), Ok((b"a".to_vec(), false, vec![])));
        let ext_long = format!("1;{}\r\n", "x".repeat(MAX_LINE));
        assert_eq!(decode(&[ext_long.as_bytes()]), Err(ChunkError::LineTooLong));
        let trailer_ok = format!("0\r\n{}\r\n\r\n", "x".repeat(MAX_LINE));
        assert_eq!(decode(&[trailer_ok.as_bytes()]), Ok((vec![], true, vec![])));
        let trailer_long = format!("0\r\n{}\r\n", "x".repeat(MAX_LINE + 1));
        assert_eq!(decode(&[trailer_long.as_bytes()]), Err(ChunkError::LineTooLong));
    }
}
