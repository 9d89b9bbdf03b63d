//! A publish being read (`POST /channels/NAME`): its content kept within
//! `MAX_CONTENT`, then published as one event, and the answer that tells
//! the event's id.
//!
//! What always holds: while a publish is being read it holds a reservation
//! of `MAX_CONTENT` in `Metrics::publish_in_flight` (the route refuses a
//! publish that would pass `MAX_PUBLISH_IN_FLIGHT`), given back exactly
//! once: when it is published, refused, or its connection goes.

use std::borrow::Cow;

use crate::access::Note;
use crate::channel::PublishTo;
use crate::config::MAX_CONTENT;
use crate::metrics::Metrics;
use crate::response::{Body, Response, Then};
use crate::route::Site;

/// The fields the route gave the answer (CORS), kept for the answer made
/// once the content is in.
type Fields = Vec<(&'static str, Cow<'static, str>)>;

#[derive(Debug)]
pub struct Publishing {
    to: PublishTo,
    then: Then,
    fields: Fields,
    data: Vec<u8>,
    note: Option<Note>,
}

impl Publishing {
    /// A publish the route accepted, with the answer's `then` and fields.
    pub fn start(
        to: PublishTo,
        then: Then,
        fields: Vec<(&'static str, Cow<'_, str>)>,
        note: Option<Note>,
        metrics: &mut Metrics,
    ) -> Box<Publishing> {
        metrics.publish_in_flight += MAX_CONTENT;
        let fields = fields.into_iter().map(|(n, v)| (n, Cow::Owned(v.into_owned()))).collect();
        Box::new(Publishing { to, then, fields, data: Vec::new(), note })
    }

    /// A piece of the content (framing already removed).
    pub fn keep(&mut self, piece: &[u8]) {
        // The framing refuses content past MAX_CONTENT before it gets here.
        let room = (MAX_CONTENT as usize).saturating_sub(self.data.len());
        self.data.extend_from_slice(crate::ascii::before(piece, piece.len().min(room)));
    }

    /// The access log's note of the request, if the log is on.
    pub fn note(&self) -> Option<&Note> {
        self.note.as_ref()
    }

    pub fn release(&self, metrics: &mut Metrics) {
        metrics.publish_in_flight = metrics.publish_in_flight.saturating_sub(MAX_CONTENT);
    }

    /// Publishes the content; the answer tells the id, with the fields the
    /// route gave it.
    pub fn publish(mut self, site: &mut Site, metrics: &mut Metrics) -> (Response<'static>, Option<Note>) {
        let fields = std::mem::take(&mut self.fields);
        let note = self.note.take();
        let mut r = self.answer(site, metrics);
        r.fields.extend(fields);
        (r, note)
    }

    fn answer(self, site: &mut Site, metrics: &mut Metrics) -> Response<'static> {
        self.release(metrics);
        let Ok(text) = std::str::from_utf8(&self.data) else {
            return Response::new(400, self.then, Body::Text("content is not UTF-8 text"));
        };
        match site.channels.publish(&self.to.channel, self.to.event_type.as_deref(), text) {
            Ok(id) => {
                let json = format!("{{\"id\":\"{id}\"}}\n").into_bytes();
                let body = Body::Bytes { content_type: "application/json", bytes: Cow::Owned(json) };
                Response::new(200, self.then, body)
            }
            Err(_) => {
                Response::new(503, self.then, Body::Text("too many channels, retry later")).field("Retry-After", "1")
            }
        }
    }
}
