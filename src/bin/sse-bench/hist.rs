//! A log-linear histogram of durations in microseconds, in fixed memory.
//!
//! Values below 256 have a bucket each; above, every power of two is split
//! into 128 equal buckets, so a bucket is never wider than 1/128 (under 1 %)
//! of its values, and the whole `u64` range fits in `BUCKETS` counters
//! (58 KiB, one histogram per measure, not per connection).
//! A percentile is the highest value of the bucket it falls in, but never
//! above the largest value recorded, so the 100th percentile is exact.

/// log2 of the number of buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Index of the bucket holding `u64::MAX`, plus one.
pub const BUCKETS: usize = ((63 - SUB_BITS as usize) << SUB_BITS) + 2 * SUB as usize;

pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram { counts: Box::new([0; BUCKETS]), total: 0, max: 0 }
    }

    pub fn record(&mut self, value: u64) {
        if let Some(count) = self.counts.get_mut(bucket_of(value)) {
            *count += 1;
        }
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value below or at which `pct` percent of the values lie; 0 when
    /// nothing was recorded.
    pub fn percentile(&self, pct: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // The rank of the wanted value, 1-based: ceil(pct% of total).
        let rank = ((pct / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_high(bucket).min(self.max);
            }
        }
        self.max
    }
}

fn bucket_of(value: u64) -> usize {
    if value < 2 * SUB {
        return value as usize;
    }
    // value = mantissa << shift with mantissa in [SUB, 2 * SUB).
    let shift = 63 - value.leading_zeros() - SUB_BITS;
    ((shift as usize) << SUB_BITS) + (value >> shift) as usize
}

/// The highest value that falls in `bucket`.
fn bucket_high(bucket: usize) -> u64 {
    if bucket < 2 * SUB as usize {
        return bucket as u64;
    }
    let shift = (bucket >> SUB_BITS) - 1;
    let mantissa = (bucket as u128 & (SUB as u128 - 1)) + SUB as u128;
    let high = ((mantissa + 1) << shift) - 1;
    u64::try_from(high).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_high(BUCKETS - 1), u64::MAX);
        for bucket in 0..BUCKETS - 1 {
            let high = bucket_high(bucket);
            assert_eq!(bucket_of(high), bucket, "high end of {bucket}");
            assert_eq!(bucket_of(high + 1), bucket + 1, "low end of {}", bucket + 1);
        }
    }

    #[test]
    fn buckets_are_narrow() {
        for bucket in 2 * SUB as usize..BUCKETS {
            let low = bucket_high(bucket - 1) + 1;
            let width = bucket_high(bucket) - low + 1;
            assert!(width <= low / SUB, "bucket {bucket}: {low} + {width}");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        assert_eq!((h.percentile(50.0), h.percentile(99.0), h.max()), (0, 0, 0));
        for v in 1..=100 {
            h.record(v);
        }
        #[rustfmt::skip]
        let cases = [(0.0, 1), (1.0, 1), (50.0, 50), (99.0, 99), (99.5, 100), (100.0, 100)];
        for (pct, want) in cases {
            assert_eq!(h.percentile(pct), want, "p{pct}");
        }
        assert_eq!(h.total, 100);
    }

    #[test]
    fn large_values_within_a_bucket_width() {
        let mut h = Histogram::new();
        for v in [1_000_000u64, 2_000_000, 2_500_000, 9_000_000] {
            h.record(v);
        }
        let p50 = h.percentile(50.0);
        assert!((2_000_000..=2_000_000 + 2_000_000 / 128).contains(&p50), "{p50}");
        assert_eq!(h.percentile(100.0), 9_000_000);
        assert_eq!(h.max(), 9_000_000);
        h.record(u64::MAX);
        assert_eq!(h.percentile(100.0), u64::MAX);
    }
}
