//! Connection numbers: the C of the demo's ids `C-N`, one per new stream.
//!
//! A C is a decimal number, as resumption has always parsed it, laid out so
//! that no two processes hand out the same one, before or after a restart:
//!
//! ```text
//!   C = T · 10^7 + P · 10^3 + n        e.g. 59_012_345 · 2345 · 042
//! ```
//!
//! T is the time its block of numbers was taken, in seconds since
//! 2025-01-01 UTC; P the process id modulo 10,000; n counts 0 to 999 within
//! the block. C stays below 2^53 until 2053 (T < 900,719,925), so a
//! JavaScript `Number` holds it exactly: clients that parse ids as numbers
//! are not caught out. After 1,000 new streams a process takes a new block,
//! with T one second later than its last, or the time now if that is later.
//! So numbers from sibling processes differ in P (unless their process ids
//! differ by a multiple of 10,000), and a restarted process takes later T's
//! (unless the one before it took more than one block a second on average
//! over its whole life, and the new one has the same P). `--first-stream N`
//! counts from N instead: deterministic, for tests and reproducible runs,
//! and unique in neither sense.

/// Seconds from the Unix epoch to 2025-01-01T00:00:00Z.
const EPOCH_2025: u64 = 1_735_689_600;
const BLOCK: u64 = 1000;
/// Process ids are taken modulo this.
const PIDS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Numbers {
    /// 1, 2, 3, ... from a given start (`--first-stream`).
    Counter(u64),
    /// The scheme above.
    Unique { t: u64, p: u64, n: u64 },
}

impl Default for Numbers {
    fn default() -> Numbers {
        Numbers::Counter(1)
    }
}

impl Numbers {
    /// The scheme above, for process `pid`, at `unix_secs`.
    pub fn unique(pid: u32, unix_secs: u64) -> Numbers {
        Numbers::Unique { t: unix_secs.saturating_sub(EPOCH_2025), p: u64::from(pid) % PIDS, n: 0 }
    }

    /// This process, now.
    pub fn unique_now() -> Numbers {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Numbers::unique(std::process::id(), secs)
    }

    pub fn take(&mut self) -> u64 {
        self.next_at(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// The next number; `now` gives the Unix time in seconds when a new
    /// block is needed.
    pub fn next_at(&mut self, now: impl FnOnce() -> u64) -> u64 {
        match self {
            Numbers::Counter(next) => {
                let c = *next;
                *next = next.saturating_add(1);
                c
            }
            Numbers::Unique { t, p, n } => {
                if *n == BLOCK {
                    *t = (*t + 1).max(now().saturating_sub(EPOCH_2025));
                    *n = 0;
                }
                let c = t.saturating_mul(PIDS * BLOCK).saturating_add(*p * BLOCK + *n);
                *n += 1;
                c
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_and_the_blocks() {
        let start = EPOCH_2025 + 59_012_345;
        let mut a = Numbers::unique(4_212_345, start);
        assert_eq!(a.next_at(|| unreachable!()), 590_123_452_345_000);
        assert_eq!(a.next_at(|| unreachable!()), 590_123_452_345_001);
        for _ in 2..1000 {
            a.next_at(|| start);
        }
        // A new block: a second later than the last, the clock being behind.
        assert_eq!(a.next_at(|| start), 590_123_462_345_000);
        // Or the time now, when that is later.
        let mut b = Numbers::Unique { t: 59_012_345, p: 7, n: 1000 };
        assert_eq!(b.next_at(|| start + 100), 590_124_450_007_000);
    }

    #[test]
    fn numbers_stay_exact_in_javascript_until_2053() {
        // 2053-01-01T00:00:00Z, the last pid modulo 10,000, the last n.
        let mut late = Numbers::Unique { t: 2_556_057_600 - EPOCH_2025, p: PIDS - 1, n: BLOCK - 1 };
        assert!(late.next_at(|| unreachable!()) < 1 << 53);
    }

    #[test]
    fn siblings_and_restarts_never_share_a_number() {
        let start = EPOCH_2025 + 1000;
        let mut seen = std::collections::HashSet::new();
        // Two siblings started in the same second, 5,000 streams each.
        for pid in [100, 101] {
            let mut n = Numbers::unique(pid, start);
            for _ in 0..5000 {
                assert!(seen.insert(n.next_at(|| start)));
            }
        }
        // A restart a minute later, with the first sibling's pid.
        let mut r = Numbers::unique(100, start + 60);
        for _ in 0..5000 {
            assert!(seen.insert(r.next_at(|| start + 60)));
        }
        let mut c = Numbers::Counter(7);
        assert_eq!((c.next_at(|| 0), c.next_at(|| 0)), (7, 8));
    }
}
