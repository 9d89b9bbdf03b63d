//! Accepting: on the listener and the metrics listener, until the backlog
//! is empty, the server is full past its reserve, or descriptors run out.
//!
//! What always holds: a connection accepted past `--max-connections` (up
//! to `FULL_RESERVE` more) is marked `full`, only to be answered and
//! closed; past that, or when `accept` fails for want of descriptors or
//! memory, the listener is left alone (`accept_paused`) until a connection
//! closes or `ACCEPT_RETRY` passes, and the failure is logged once per
//! shortage, not at every retry.

use std::io;

use mio::Interest;

use super::{ACCEPT_TIMER, Server, Slot, token_of};
use crate::config::{ACCEPT_RETRY, FULL_RESERVE};
use crate::conn::Conn;
use crate::io::Link;

impl Server {
    /// Connections and files being sent: what counts against the cap.
    pub(super) fn in_use(&self) -> usize {
        self.conns.len() + self.metrics.downloads as usize
    }

    /// Accepts until the backlog is empty, the server is full past its
    /// reserve, or descriptors run out.
    pub(super) fn accept(&mut self) {
        // The listener and the metrics listener both, each to its end.
        self.accept_paused = false;
        for which in 0..2 {
            if !self.accept_from(which) {
                return;
            }
        }
    }

    /// A shutdown begins: the connections waiting in the listener's
    /// backlog are taken, as far as the cap allows.
    pub(super) fn accept_backlog(&mut self) {
        self.accept_from(0);
    }

    /// Accepts on listener `which` (0: the listener, 1: `--metrics-port`)
    /// until its backlog is empty (`true`), or until accepting cannot
    /// succeed (`false`: full past the reserve, or out of descriptors).
    fn accept_from(&mut self, which: usize) -> bool {
        loop {
            if self.in_use() >= self.max_connections + FULL_RESERVE {
                self.accept_paused = true;
                return false;
            }
            let listener = if which == 0 { &self.listener } else { &self.metrics_listener };
            let Some(listener) = listener else { return true };
            let (mut socket, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The backlog is empty: the shortage, if any, is over.
                    self.starved = false;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.metrics.accept_errors += 1;
                    if is_resource_error(&e) {
                        if !self.starved {
                            self.starved = true;
                            log::warn!("accept failed: {e}; retrying when a connection closes or in {ACCEPT_RETRY:?}");
                        }
                        self.accept_paused = true;
                        self.timers.set(ACCEPT_TIMER, self.now + ACCEPT_RETRY);
                        return false;
                    }
                    // ECONNABORTED and the like concern one connection.
                    log::debug!("accept failed: {e}");
                    continue;
                }
            };
            let full = self.in_use() >= self.max_connections;
            if full && !self.full_warned {
                log::warn!("{} connections open: turning new ones away", self.max_connections);
            }
            self.full_warned = full;
            // Events are small writes that must leave at once.
            let _ = socket.set_nodelay(true);
            self.serial = self.serial.wrapping_add(1);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let token = token_of(key, self.serial);
            if self.poll.registry().register(&mut socket, token, Interest::READABLE).is_err() {
                continue;
            }
            entry.insert(Slot { conn: Conn::new(self.now), link: Link::new(socket, self.serial, full, peer) });
            self.metrics.connections = self.conns.len() as u64;
            self.sync(key);
        }
    }
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
