//! A connection's clock and its end: what happens when its deadline comes
//! (a tick of its stream, a `408`, an idle or stalled client), when the
//! kernel takes its output, and when it ends (shutdown, EOF, an error, the
//! loop removing it).
//!
//! What always holds: a client that the kernel is still delivering to is
//! not idle. Its progress is the output it takes (`sent`), or, when the
//! kernel holds all of it, the kernel's send queue shrinking between two
//! looks (`blocked`, then `stall_check`); a client that took nothing for
//! the idle timeout with output waiting is closed and logged once.

use std::io;
use std::time::{Duration, Instant};

use super::{Conn, Env, NO_BASELINE, State, Verdict};
use crate::channel::Channels;
use crate::config::{LINGER_TIMEOUT, MAX_PENDING_OUTPUT};
use crate::http::HttpError;
use crate::metrics::{Metrics, StreamEnd};
use crate::stream::{End, Pushed};
use crate::streams::Streams;

impl Conn {
    /// The deadline has come (or a spurious wake-up). `queued` reads the
    /// kernel's send queue, asked only when a client may have stalled.
    pub fn on_timer(&mut self, env: &mut Env, queued: impl FnOnce() -> usize) -> Verdict {
        let now = env.now;
        // Not the state's time (early, spurious, or a paced piece, which
        // `io` writes after this). A stream's own deadline is its next event
        // or heartbeat, which `tick` checks as it sends them.
        let streaming = matches!(self.state, State::Streaming(_));
        if !streaming && self.state_deadline(env.timeouts).is_none_or(|d| now < d) {
            return Verdict::Continue;
        }
        match &mut self.state {
            State::Idle { .. } => self.stall_check(queued(), now, env.timeouts.idle, None),
            State::Closing { .. } => self.stall_check(queued(), now, env.timeouts.idle, None),
            State::Ending { why, .. } => {
                let why = *why;
                self.stall_check(queued(), now, env.timeouts.idle, Some(why))
            }
            State::ReadingHead { .. } => {
                // The access log shows the request line, if it came whole.
                let head = std::mem::take(&mut self.input);
                self.refuse_head(env, HttpError { status: 408, why: "request head not received within 10 s" }, &head)
            }
            State::ReadingContent { .. } => {
                self.refuse(env, HttpError { status: 408, why: "request content not received within 10 s" })
            }
            State::Streaming(s) => {
                let tick = s.tick(now, env.timeouts.heartbeat, self.out.buf());
                self.out.appended();
                env.metrics.events += tick.events;
                env.metrics.heartbeats += tick.heartbeats;
                if let Some(due) = tick.due.filter(|_| tick.events > 0) {
                    self.note_due(env.metrics.lateness.stamp(due), tick.events);
                }
                if let Some(end) = tick.end
                    && let State::Streaming(stream) = self.replace_state(State::Lingering { until: now })
                {
                    // (Lingering only for the moment the stream is moved.)
                    let why = if end == End::Reset { StreamEnd::Reset } else { StreamEnd::Count };
                    self.set_state(State::Ending { stream, since: now, why });
                }
                Verdict::Continue
            }
            State::Lingering { .. } => Verdict::Close(None),
        }
    }

    /// No output taken and no request for the idle timeout: a client the
    /// kernel is still delivering to (its send queue shrank) is not idle;
    /// one that took nothing is closed, and logged once if output waits.
    fn stall_check(&mut self, queued: usize, now: Instant, idle: Duration, end: Option<StreamEnd>) -> Verdict {
        let q = u32::try_from(queued).unwrap_or(NO_BASELINE - 1);
        let progress = if self.queued == NO_BASELINE { q > 0 } else { q < self.queued };
        self.queued = q;
        if progress {
            self.progress(now);
            return Verdict::Continue;
        }
        let waiting = self.out.len() as u64 + u64::from(q);
        if waiting > 0 {
            log::warn!("Client stalled: closing the connection ({waiting} bytes not taken in {} ms)", idle.as_millis());
        }
        Verdict::Close(end)
    }

    /// An event published to the channel this connection's stream listens
    /// to: appended to its output and counted, or queued behind a replay
    /// (counted when `tick` writes it); a client too far behind is a slow
    /// consumer.
    pub fn deliver(&mut self, event: &std::rc::Rc<[u8]>, env: &mut Env) -> Verdict {
        let State::Streaming(s) = &mut self.state else { return Verdict::Continue };
        let pushed = s.push(event, env.now, self.out.buf());
        self.out.appended();
        match pushed {
            Pushed::Written => {
                env.metrics.events += 1;
                self.note_due(env.metrics.lateness.stamp(env.now), 1);
                Verdict::Continue
            }
            Pushed::Queued => Verdict::Continue,
            Pushed::Slow => Verdict::Close(Some(StreamEnd::Slow)),
        }
    }

    /// The server is shutting down: the next answer is the last.
    pub fn mark_last(&mut self) {
        self.last = true;
    }

    /// The server is shutting down: an answer under way is finished and is
    /// the last; so is the answer to a request held back in the input, or
    /// to one on its way on a connection accepted in this very turn (taken
    /// from the backlog as the drain began: until the drain ends); a
    /// connection with nothing under way closes now (kept alive after an
    /// answer, or open and silent since an earlier turn: a browser's
    /// preconnect, a proxy's spare connection).
    pub fn last_answer(&mut self, now: Instant) -> Verdict {
        self.last = true;
        match self.state {
            State::Idle { .. } if self.input.is_empty() && self.out.is_empty() => Verdict::Close(None),
            State::ReadingHead { since } if self.input.is_empty() && self.out.is_empty() && since < now => {
                Verdict::Close(None)
            }
            State::Idle { .. } if self.input.is_empty() => {
                self.set_state(State::Closing { since: now });
                Verdict::Continue
            }
            State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Streaming(_)
            | State::Ending { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => Verdict::Continue,
        }
    }

    /// The server is shutting down: the stream ends now, with a `retry:`
    /// that tells its client when to come back.
    pub fn end_stream(&mut self, retry_ms: u64, env: &mut Env) -> Verdict {
        let now = env.now;
        if let State::Streaming(s) = &mut self.state {
            s.end_with_retry(retry_ms, self.out.buf());
            self.out.appended();
            if let State::Streaming(stream) = self.replace_state(State::Lingering { until: now }) {
                self.set_state(State::Ending { stream, since: now, why: StreamEnd::Shutdown });
            }
        }
        Verdict::Continue
    }

    /// Why its stream ends when the drain is over and it is still open:
    /// the end it was already on its way to (its count, a reset, a slow
    /// consumer, the shutdown's `retry:`), else the shutdown.
    pub fn cut_reason(&self) -> Option<StreamEnd> {
        match &self.state {
            State::Ending { why, .. } => Some(*why),
            State::Streaming(_) => Some(StreamEnd::Shutdown),
            State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => None,
        }
    }

    /// The kernel took `n` bytes of the output: progress.
    pub fn sent(&mut self, n: usize, now: Instant) {
        self.out.consumed(n, now);
        self.queued = NO_BASELINE;
        self.progress(now);
    }

    /// The client took output at `now`: where the deadline is "no output
    /// taken", it starts again.
    fn progress(&mut self, now: Instant) {
        match &mut self.state {
            State::Idle { since } | State::Closing { since } | State::Ending { since, .. } => *since = now,
            // A head or content keeps its own timer; a stream has the
            // slow-consumer rule; lingering ends at its time regardless.
            State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Streaming(_)
            | State::Lingering { .. } => {}
        }
    }

    /// Whether `io` should note the kernel's send queue when it stops
    /// taking output (streams have the slow-consumer rule instead).
    pub fn watches_stalls(&self) -> bool {
        !matches!(self.state, State::Streaming(_))
    }

    /// The kernel stopped taking output with `queued` bytes in its queue.
    pub fn blocked(&mut self, queued: usize) {
        self.queued = u32::try_from(queued).unwrap_or(NO_BASELINE - 1);
    }

    /// After output was written: a stream with more than
    /// `MAX_PENDING_OUTPUT` left is a slow consumer (unless it writes only
    /// when its output is empty: a scripted write of up to
    /// `MAX_SCRIPT_WRITE` going out a piece at a time).
    pub fn after_write(&self) -> Verdict {
        match &self.state {
            State::Streaming(s) if self.out.len() > MAX_PENDING_OUTPUT && !s.writes_only_when_drained() => {
                Verdict::Close(Some(StreamEnd::Slow))
            }
            State::Streaming(_)
            | State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Ending { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => Verdict::Continue,
        }
    }

    /// Whether the last output is out and the write side should be shut
    /// down (so the client sees the end of the answer or the stream).
    pub fn wants_shutdown(&self) -> bool {
        matches!(self.state, State::Closing { .. } | State::Ending { .. }) && self.out.is_empty()
    }

    /// Whether the connection ends with a reset (RST) once its output is
    /// out, rather than a shutdown (knob `reset_after`, a scripted reset).
    pub fn wants_reset(&self) -> bool {
        matches!(self.state, State::Ending { why: StreamEnd::Reset, .. })
    }

    /// The write side was shut down (`ok`) or could not be.
    pub fn on_shutdown(&mut self, ok: bool, now: Instant) -> Verdict {
        match self.state {
            // The stream's end is final once its output is out.
            State::Ending { why, .. } => Verdict::Close(Some(why)),
            // Closing at once with unread input would make the kernel
            // send a reset that can destroy the answer in flight: linger.
            State::Closing { .. } if ok => {
                self.set_state(State::Lingering { until: now + LINGER_TIMEOUT });
                Verdict::Continue
            }
            State::Closing { .. }
            | State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Streaming(_)
            | State::Lingering { .. } => Verdict::Close(None),
        }
    }

    /// Whether `io` must go on reading after a shutdown: lingering reads
    /// and drops until EOF.
    pub fn lingering(&self) -> bool {
        matches!(self.state, State::Lingering { .. })
    }

    pub fn on_eof(&mut self, now: Instant) -> Verdict {
        match &self.state {
            State::Streaming(_) | State::Ending { .. } => Verdict::Close(Some(StreamEnd::Client)),
            // The client half-closed: it may still read the answer.
            State::Closing { .. } if !self.out.is_empty() => Verdict::Continue,
            State::Idle { .. } | State::ReadingHead { .. } | State::ReadingContent { .. } if !self.out.is_empty() => {
                self.set_state(State::Closing { since: now });
                Verdict::Continue
            }
            State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => Verdict::Close(None),
        }
    }

    pub fn on_error(&mut self, e: &io::Error) -> Verdict {
        let gone = matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe);
        match self.state {
            State::Streaming(_) | State::Ending { .. } => {
                Verdict::Close(Some(if gone { StreamEnd::Client } else { StreamEnd::Error }))
            }
            State::Idle { .. }
            | State::ReadingHead { .. }
            | State::ReadingContent { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => Verdict::Close(None),
        }
    }

    /// The connection is being removed: a stream it carries ends for `why`
    /// (an error when none is given), and a file it was sending is closed.
    pub fn finish(
        mut self,
        why: Option<StreamEnd>,
        peer: std::net::SocketAddr,
        metrics: &mut Metrics,
        streams: &mut Streams,
        channels: &mut Channels,
    ) {
        self.drop_held(metrics);
        if self.out.has_file() {
            metrics.downloads = metrics.downloads.saturating_sub(1);
        }
        if let Some(len) = self.out.document() {
            metrics.documents = metrics.documents.saturating_sub(len as u64);
        }
        if let Some(s) = self.stream() {
            if let Some(m) = s.membership() {
                channels.unsubscribe(m);
            }
            streams.end(s, why.unwrap_or(StreamEnd::Error), self.out.len(), peer, metrics);
        }
    }
}
