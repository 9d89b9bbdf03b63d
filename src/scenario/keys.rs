//! The one piece of state scenarios keep: for the scenarios indexed by a
//! `key` query parameter, how many requests each key has made, so a
//! client that reconnects after an error status gets the next answer.
//!
//! What always holds: at most `MAX_KEYS` keys are remembered, each at most
//! `MAX_KEY_LEN` bytes; past that, the key used least recently is forgotten
//! (its next request starts over at the first answer). A lookup is a scan
//! of at most `MAX_KEYS` entries, whatever the clients do.

use crate::config::MAX_KEYS;

#[derive(Debug, Default)]
pub struct Keys {
    entries: Vec<Entry>,
    /// Counts requests, to find the least recently used entry.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    scenario: &'static str,
    key: Vec<u8>,
    /// Requests made so far with this key.
    count: usize,
    used: u64,
}

impl Keys {
    /// Counts one more request of `scenario` with `key`; returns how many
    /// came before it: the index of this connection in its session.
    pub fn next(&mut self, scenario: &'static str, key: &[u8]) -> usize {
        self.clock += 1;
        if let Some(e) = self.entries.iter_mut().find(|e| e.scenario == scenario && e.key == key) {
            e.used = self.clock;
            e.count = e.count.saturating_add(1);
            return e.count - 1;
        }
        if self.entries.len() >= MAX_KEYS
            && let Some(lru) = self.entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i)
        {
            self.entries.swap_remove(lru);
        }
        self.entries.push(Entry { scenario, key: key.to_vec(), count: 1, used: self.clock });
        0
    }

    /// Which connection the next request with `key` would be, counting
    /// nothing (for `HEAD`).
    pub fn peek(&self, scenario: &'static str, key: &[u8]) -> usize {
        self.entries.iter().find(|e| e.scenario == scenario && e.key == key).map_or(0, |e| e.count)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_scenario_and_key_and_forgets_the_oldest() {
        let mut k = Keys::default();
        assert_eq!((k.next("a", b"x"), k.next("a", b"x"), k.next("a", b"x")), (0, 1, 2));
        assert_eq!(k.next("b", b"x"), 0);
        assert_eq!(k.next("a", b"y"), 0);
        for i in 0..MAX_KEYS {
            k.next("c", format!("k{i}").as_bytes());
        }
        assert_eq!(k.len(), MAX_KEYS);
        // "a"/"x" was the least recently used: forgotten, it starts over.
        assert_eq!(k.next("a", b"x"), 0);
        assert_eq!(k.len(), MAX_KEYS);
    }
}
