//! The virtual network: a clock, an event queue in time order, per-link latency.

use std::{cmp::Reverse, collections::BinaryHeap, time::Duration};

/// Events ordered by delivery time, ties broken by insertion order (so a run is
/// deterministic).
#[derive(Debug)]
pub struct EventQueue<E> {
    now: Duration,
    seq: u64,
    heap: BinaryHeap<Reverse<(Duration, u64)>>,
    events: std::collections::HashMap<u64, E>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            now: Duration::ZERO,
            seq: 0,
            heap: BinaryHeap::new(),
            events: std::collections::HashMap::new(),
        }
    }
}

impl<E> EventQueue<E> {
    /// The virtual time of the event being handled.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Delivers `event` after `delay`.
    pub fn schedule(&mut self, delay: Duration, event: E) {
        let at = self.now + delay;
        self.heap.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, event);
        self.seq += 1;
    }

    /// The next event, advancing the clock to it.
    pub fn pop(&mut self) -> Option<E> {
        let Reverse((at, seq)) = self.heap.pop()?;
        self.now = at;
        self.events.remove(&seq)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// One-way latency of each link, fixed per pair of nodes and drawn from the seed.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    seed: u64,
    /// Smallest one-way latency.
    pub min: Duration,
    /// Largest one-way latency.
    pub max: Duration,
}

impl Latency {
    /// Latencies uniform in `[min, max]`.
    pub fn uniform(seed: u64, min: Duration, max: Duration) -> Self {
        Latency { seed, min, max }
    }

    /// The latency between nodes `a` and `b` (symmetric).
    pub fn between(&self, a: usize, b: usize) -> Duration {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = splitmix(self.seed ^ splitmix(((lo as u64) << 32) | hi as u64));
        let span = (self.max - self.min).as_micros() as u64 + 1;
        self.min + Duration::from_micros(h % span)
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Distribution of one measure over many samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
}

impl Spread {
    pub(crate) fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            p50: at(0.5),
            p99: at(0.99),
            mean: values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1}, p99 {:.1}, mean {:.1}",
            self.p50, self.p99, self.mean
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.schedule(Duration::from_millis(5), "b");
        q.schedule(Duration::from_millis(1), "a");
        q.schedule(Duration::from_millis(5), "c");
        assert_eq!(q.pop(), Some("a"));
        assert_eq!(q.now(), Duration::from_millis(1));
        assert_eq!(q.pop(), Some("b"));
        assert_eq!(q.pop(), Some("c"));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn latency_is_symmetric_bounded_and_seeded() {
        let l = Latency::uniform(1, Duration::from_millis(10), Duration::from_millis(100));
        for (a, b) in [(0, 1), (5, 9000), (77, 78)] {
            let d = l.between(a, b);
            assert_eq!(d, l.between(b, a));
            assert!(d >= l.min && d <= l.max);
        }
        let other = Latency::uniform(2, l.min, l.max);
        assert!((0..50).any(|i| l.between(i, i + 1) != other.between(i, i + 1)));
    }
}
