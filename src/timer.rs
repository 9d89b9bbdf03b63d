//! Deadlines, earliest first: an indexed binary min-heap with at most one
//! deadline per key.
//!
//! Keys are small dense integers (the server uses 0 for the listener and
//! slab slot + 1 for connections). Because a key has one entry at most and
//! `cancel` removes it, there are no stale entries: the heap never holds
//! more entries than there are keys, and a slot that is freed and reused
//! can never receive a deadline meant for its previous owner. `set`,
//! `cancel` and `pop_due` are O(log n), so the work of a tick is
//! proportional to the deadlines that are due, not to all that exist.

use std::time::Instant;

const NONE: usize = usize::MAX;

#[derive(Debug, Default)]
pub struct Timers {
    /// A binary min-heap on the deadline.
    heap: Vec<(Instant, usize)>,
    /// `pos[key]`: the index of the key's entry in `heap`, or `NONE`.
    pos: Vec<usize>,
}

impl Timers {
    pub fn new() -> Timers {
        Timers::default()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The deadline of `key`, if it has one.
    pub fn get(&self, key: usize) -> Option<Instant> {
        let i = *self.pos.get(key)?;
        self.heap.get(i).map(|e| e.0)
    }

    /// Sets (or moves) the deadline of `key`.
    pub fn set(&mut self, key: usize, deadline: Instant) {
        if key >= self.pos.len() {
            self.pos.resize(key + 1, NONE);
        }
        let i = self.pos[key];
        if i == NONE {
            self.heap.push((deadline, key));
            let last = self.heap.len() - 1;
            self.pos[key] = last;
            self.sift_up(last);
        } else {
            let old = self.heap[i].0;
            self.heap[i].0 = deadline;
            if deadline < old {
                self.sift_up(i);
            } else {
                self.sift_down(i);
            }
        }
    }

    /// Removes the deadline of `key`, if any.
    pub fn cancel(&mut self, key: usize) {
        let Some(&i) = self.pos.get(key) else { return };
        if i == NONE {
            return;
        }
        self.remove_at(i);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|e| e.0)
    }

    /// Removes and returns the key with the earliest deadline, if that
    /// deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let &(deadline, key) = self.heap.first()?;
        if deadline > now {
            return None;
        }
        self.remove_at(0);
        Some(key)
    }

    fn remove_at(&mut self, i: usize) {
        let key = self.heap[i].1;
        self.pos[key] = NONE;
        let last = self.heap.len() - 1;
        if i != last {
            self.heap.swap(i, last);
            self.pos[self.heap[i].1] = i;
        }
        self.heap.pop();
        if i < self.heap.len() {
            self.sift_down(i);
            self.sift_up(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].0 <= self.heap[i].0 {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.heap.len() && self.heap[l].0 < self.heap[min].0 {
                min = l;
            }
            if r < self.heap.len() && self.heap[r].0 < self.heap[min].0 {
                min = r;
            }
            if min == i {
                break;
            }
            self.swap(i, min);
            i = min;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1] = a;
        self.pos[self.heap[b].1] = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_only_when_due() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::new();
        t.set(3, ms(30));
        t.set(1, ms(10));
        t.set(2, ms(20));
        assert_eq!(t.next_deadline(), Some(ms(10)));
        assert_eq!(t.pop_due(ms(5)), None);
        assert_eq!(t.pop_due(ms(20)), Some(1));
        assert_eq!(t.pop_due(ms(20)), Some(2));
        assert_eq!(t.pop_due(ms(20)), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_cancelled_key_never_fires() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.set(7, t0);
        t.cancel(7);
        t.cancel(7);
        t.cancel(99);
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
        assert!(t.is_empty());
        // The key reused: only its new deadline exists.
        t.set(7, t0 + Duration::from_secs(5));
        assert_eq!(t.pop_due(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.get(7), Some(t0 + Duration::from_secs(5)));
    }

    proptest! {
        /// Against a model: any mix of set, cancel and pop keeps one
        /// deadline per key and pops in deadline order.
        #[test]
        fn matches_a_model(ops in prop::collection::vec((0u8..3, 0usize..40, 0u64..1000), 0..400)) {
            let t0 = Instant::now();
            let mut t = Timers::new();
            let mut model: BTreeMap<usize, Instant> = BTreeMap::new();
            for (op, key, at) in ops {
                let at = t0 + Duration::from_millis(at);
                match op {
                    0 => { t.set(key, at); model.insert(key, at); }
                    1 => { t.cancel(key); model.remove(&key); }
                    _ => {
                        let got = t.pop_due(at);
                        let want = model.iter().filter(|e| *e.1 <= at).min_by_key(|e| *e.1).map(|e| (*e.0, *e.1));
                        match (got, want) {
                            (None, None) => {}
                            (Some(k), Some((_, d))) => {
                                prop_assert_eq!(model.remove(&k), Some(d));
                            }
                            other => prop_assert!(false, "{:?}", other),
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.next_deadline(), model.values().min().copied());
            }
        }
    }
}
