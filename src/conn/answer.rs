//! Answering: writing a response into the output and moving to what
//! follows it (the next request, a file or document still to send, a
//! stream, a close), and refusing a bad request.
//!
//! What always holds: every answer goes through `answer`, which counts it
//! in `/metrics`, writes its access log line (when `--access-log` is on),
//! and, once the server is shutting down, makes it the connection's last.

use super::{Conn, Env, Held, Ledger, State, Verdict};
use crate::access;
use crate::http::HttpError;
use crate::metrics::Metrics;
use crate::response::{self, Response, Rest, Then};
use crate::route;

impl Conn {
    /// The content has ended: the answer held, or the publish made.
    pub(super) fn content_done(&mut self, held: Held, env: &mut Env) -> Option<Verdict> {
        let (reply, note) = match held {
            Held::Answer(held) => *held,
            Held::Publish(p) => p.publish(env.site, env.metrics),
        };
        let (_, mut ledger) = env.split();
        self.answer(reply, &mut ledger, note.as_ref())
    }

    /// Gives back what a publish being read holds, if one is.
    pub(super) fn drop_held(&mut self, metrics: &mut Metrics) {
        if let State::ReadingContent { held: Held::Publish(p), .. } = &self.state {
            p.release(metrics);
        }
    }

    /// Writes a response and moves to what follows it; `Some` when the
    /// caller must return at once (a stream started).
    pub(super) fn answer(&mut self, mut r: Response, l: &mut Ledger, note: Option<&access::Note>) -> Option<Verdict> {
        if let Some(note) = note {
            let bytes = if r.head_only { Some(0) } else { r.body.content_len() };
            access::log(l.peer, note, r.status, bytes, l.now);
        }
        if self.last && matches!(r.then, Then::KeepAlive { .. }) {
            r.then = Then::Close { say: true };
        }
        let (now, date, metrics, streams) = (l.now, l.date, &mut *l.metrics, &mut *l.streams);
        metrics.response(r.status);
        if r.shed {
            metrics.shed += 1;
        }
        let then = r.then;
        let rest = response::write(self.out.buf(), date, r);
        self.out.appended();
        match rest {
            Rest::Nothing => {}
            Rest::File(file, len) => {
                metrics.downloads += 1;
                self.out.send_file(file, len);
            }
            Rest::Document(doc) => {
                metrics.documents += doc.len() as u64;
                self.out.send_document(doc);
            }
            Rest::Stream(mut start) => {
                if let Some(pace) = start.pace.take() {
                    self.out.pace(pace);
                }
                let stream = streams.start(start, now, l.peer, metrics);
                self.set_state(State::Streaming(stream));
                return Some(Verdict::Started);
            }
        }
        match then {
            Then::KeepAlive { .. } => self.set_state(State::Idle { since: now }),
            Then::Close { .. } => self.set_state(State::Closing { since: now }),
        }
        None
    }

    /// Answers a bad request: the response, `Connection: close`, then a
    /// lingering close.
    pub(super) fn refuse(&mut self, env: &mut Env, e: HttpError) -> Verdict {
        self.refuse_head(env, e, &[])
    }

    /// `refuse`, for a head whose request line the access log shows if it
    /// can be read.
    pub(super) fn refuse_head(&mut self, env: &mut Env, e: HttpError, head: &[u8]) -> Verdict {
        log::debug!("refused a request: {e}");
        let note = env.site.access_log.then(|| match &self.state {
            // Refusing the content of a request whose head was read: the
            // log shows that request's line.
            State::ReadingContent { held, since, .. } => {
                let read = match held {
                    Held::Answer(answer) => answer.1.as_ref(),
                    Held::Publish(p) => p.note(),
                };
                read.cloned().unwrap_or_else(|| access::Note::refused(head, *since))
            }
            State::ReadingHead { since } => access::Note::refused(head, *since),
            State::Idle { .. }
            | State::Streaming(_)
            | State::Ending { .. }
            | State::Closing { .. }
            | State::Lingering { .. } => access::Note::refused(head, env.now),
        });
        self.input = Vec::new();
        self.head_scanned = 0;
        self.drop_held(env.metrics);
        if !self.out.tail_is_empty() {
            // A file is half sent: nothing can follow it on this connection.
            return Verdict::Close(None);
        }
        let (_, mut ledger) = env.split();
        self.answer(route::refusal(&e), &mut ledger, note.as_ref());
        Verdict::Continue
    }
}
