//! The stream kind of a scenario: one connection's script of steps
//! (`scenario::Step`), played in order. Each write is a write of its own:
//! the script waits until the output is empty before the next step, so a
//! CR at the end of one write and an LF at the start of the next really are
//! apart on the wire. Its bytes are exact: no heartbeats.
//!
//! What always holds: one `emit` writes at most `MAX_SCRIPT_WRITE` bytes
//! (a longer repeat goes on at the next step), so the output stays within
//! its bound; the bytes depend on the script and the request alone.

use std::time::{Duration, Instant};

use super::{Emitted, End, Source};
use crate::config::MAX_SCRIPT_WRITE;
use crate::scenario::Step;

#[derive(Debug)]
pub struct Script {
    steps: &'static [Step],
    /// The next step.
    at: usize,
    /// Units of the current `Repeat` already written.
    done: u32,
    /// When the next step is due; `None` once stalled or ended.
    next: Option<Instant>,
    /// The `Last-Event-ID` of the request, for `EchoLastEventId`.
    last_event_id: Option<Vec<u8>>,
    /// How many times the script went back to its start (`Again`).
    loops: u32,
    /// Where its bytes stand in the format (for a shutdown's `retry:`).
    place: crate::sse::Place,
}

impl Script {
    pub fn new(steps: &'static [Step], last_event_id: Option<&[u8]>, now: Instant) -> Script {
        let last_event_id = last_event_id.map(<[u8]>::to_vec);
        Script { steps, at: 0, done: 0, next: Some(now), last_event_id, loops: 0, place: Default::default() }
    }
}

impl Source for Script {
    fn due(&self) -> Option<Instant> {
        self.next
    }

    fn emit(&mut self, id: u64, now: Instant, out: &mut Vec<u8>) -> Emitted {
        let before = out.len();
        let e = self.step(id, now, out);
        self.place.feed(crate::ascii::after(out, before));
        e
    }

    fn place(&self) -> crate::sse::Place {
        self.place
    }

    fn heartbeats(&self) -> bool {
        false
    }

    fn paced_by_output(&self) -> bool {
        true
    }

    fn looped(&self) -> bool {
        self.loops > 0
    }
}

impl Script {
    /// Plays the next step.
    fn step(&mut self, _id: u64, now: Instant, out: &mut Vec<u8>) -> Emitted {
        let Some(step) = self.steps.get(self.at) else {
            self.next = None;
            return Emitted { events: 0, end: Some(End::Finish) };
        };
        self.at += 1;
        self.next = Some(now);
        let wrote = |n: usize| Emitted { events: u64::from(n > 0), end: None };
        match *step {
            Step::Write(bytes) => {
                out.extend_from_slice(bytes);
                wrote(bytes.len())
            }
            Step::Repeat(unit, times) => {
                let fit = (MAX_SCRIPT_WRITE / unit.len().max(1)).max(1) as u32;
                let n = fit.min(times - self.done.min(times));
                for _ in 0..n {
                    out.extend_from_slice(unit);
                }
                self.done += n;
                if self.done < times {
                    // The same step again, for the next units.
                    self.at -= 1;
                } else {
                    self.done = 0;
                }
                wrote(unit.len() * n as usize)
            }
            Step::EchoLastEventId => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(self.last_event_id.as_deref().unwrap_or(b"(none)"));
                out.extend_from_slice(b"\n\n");
                wrote(1)
            }
            Step::Wait(ms) => {
                self.next = Some(now + Duration::from_millis(u64::from(ms)));
                Emitted::default()
            }
            Step::Close => {
                self.next = None;
                Emitted { events: 0, end: Some(End::Finish) }
            }
            Step::Reset => {
                self.next = None;
                Emitted { events: 0, end: Some(End::Reset) }
            }
            Step::Stall => {
                self.next = None;
                Emitted::default()
            }
            Step::Again => {
                self.at = 0;
                self.loops = self.loops.saturating_add(1);
                Emitted::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static STEPS: &[Step] = &[
        Step::Write(b"data: a\r"),
        Step::Wait(10),
        Step::Repeat(b"xy", (MAX_SCRIPT_WRITE / 2 + 1) as u32),
        Step::EchoLastEventId,
        Step::Close,
    ];

    #[test]
    fn steps_play_in_order_one_write_each() {
        let t0 = Instant::now();
        let mut s = Script::new(STEPS, Some(b"7"), t0);
        let mut writes = Vec::new();
        let mut at = t0;
        let end = loop {
            let due = s.due().expect("due");
            assert!(due >= at);
            at = due;
            let mut out = Vec::new();
            let e = s.emit(0, at, &mut out);
            assert!(out.len() <= MAX_SCRIPT_WRITE);
            if !out.is_empty() {
                writes.push(out);
            }
            if e.end.is_some() {
                break e.end;
            }
        };
        assert_eq!(end, Some(End::Finish));
        assert_eq!(at, t0 + Duration::from_millis(10));
        let lens: Vec<usize> = writes.iter().map(Vec::len).collect();
        assert_eq!(lens, [8, MAX_SCRIPT_WRITE, 2, 9]);
        assert_eq!(writes[3], b"data: 7\n\n");
        assert_eq!(s.due(), None);
    }
}
