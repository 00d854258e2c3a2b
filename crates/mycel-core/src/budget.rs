//! [`BufferBudget`]: one cap on the bytes all muxers of a node hold for their readers.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

/// A shared cap on buffered inbound bytes: every muxer connection given the same budget
/// charges the data it holds for streams that have not read them yet, and stops reading
/// from its socket while the total is over the cap (the remote is slowed by TCP, nothing
/// is dropped). Reading streams releases it.
///
/// A reader that stays stopped asks for relief ([`BufferBudget::relieve`]): the
/// connection whose unread data has waited longest for its reader (the stalest
/// stream, [`Relief::stalest`]) resets that stream, so one application that never reads
/// cannot stall every connection, and a reader that is busy draining its stream is never
/// the one cut off, however much it holds for a moment.
///
/// The total can pass the cap by at most one frame per connection (a frame is charged
/// before the reader stops). Cheap to clone; clones share one count.
#[derive(Debug, Clone)]
pub struct BufferBudget {
    inner: Arc<Inner>,
}

/// What a budget asks of a connection holding too much: drop some unread data (by
/// resetting a stream). Muxers implement it on their shared session state.
pub trait Relief: Send + Sync {
    /// Since when the connection's stalest stream holding unread data has gone unread:
    /// the last time its application read from it, or when it opened if never.
    /// `None` when it holds nothing.
    fn stalest(&self) -> Option<std::time::Instant>;

    /// Frees what the stalest stream holds (by resetting it).
    fn relieve(&self);
}

struct Holding {
    /// Shared with the share, which updates it without the registry's lock.
    bytes: Arc<AtomicUsize>,
    relief: Weak<dyn Relief>,
}

struct Inner {
    used: AtomicUsize,
    max: usize,
    freed: Notify,
    holders: Mutex<HashMap<u64, Holding>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferBudget")
            .field("used", &self.used)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl BufferBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                used: AtomicUsize::new(0),
                max,
                freed: Notify::new(),
                holders: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.inner.max
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }

    /// Whether readers should stop reading.
    pub fn is_over(&self) -> bool {
        self.used() >= self.inner.max
    }

    /// A share of the budget for one connection; `relief` is asked to free some of it
    /// when the budget stays spent. What the share still holds is released when it is
    /// dropped.
    pub fn holder(&self, relief: Weak<dyn Relief>) -> BudgetShare {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = Arc::new(AtomicUsize::new(0));
        self.holders().insert(
            id,
            Holding {
                bytes: bytes.clone(),
                relief,
            },
        );
        BudgetShare {
            budget: self.clone(),
            id,
            held: 0,
            bytes,
        }
    }

    fn holders(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Holding>> {
        self.inner.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the connection holding the stalest unread data to drop it, if that data has
    /// gone unread for at least `unread_for`. A stream read more recently is being
    /// drained: cutting it off would punish the reader that is making room, so then
    /// nothing is dropped and the caller waits on.
    pub fn relieve(&self, unread_for: std::time::Duration) {
        let reliefs: Vec<Arc<dyn Relief>> = {
            let holders = self.holders();
            holders
                .values()
                .filter(|h| h.bytes.load(Ordering::Relaxed) > 0)
                .filter_map(|h| h.relief.upgrade())
                .collect()
        };
        // Asked without the holders' lock: relief charges and releases.
        let stalest = reliefs
            .into_iter()
            .filter_map(|r| r.stalest().map(|since| (since, r)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, relief)) = stalest.filter(|(since, _)| since.elapsed() >= unread_for) {
            relief.relieve();
        }
    }

    /// Returns once the total is under the cap.
    pub async fn wait_below(&self) {
        loop {
            let freed = self.inner.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if !self.is_over() {
                return;
            }
            freed.await;
        }
    }

    fn charge(&self, n: usize) {
        self.inner.used.fetch_add(n, Ordering::AcqRel);
    }

    fn release(&self, n: usize) {
        let before = self.inner.used.fetch_sub(n, Ordering::AcqRel);
        if before >= self.inner.max && before - n < self.inner.max {
            self.inner.freed.notify_waiters();
        }
    }
}

/// One connection's share of a [`BufferBudget`]. It never releases more than it
/// charged, and gives back what it still holds when dropped.
#[derive(Debug)]
pub struct BudgetShare {
    budget: BufferBudget,
    id: u64,
    held: usize,
    /// `held`, readable by the budget for relief.
    bytes: Arc<AtomicUsize>,
}

impl BudgetShare {
    /// The budget this share belongs to.
    pub fn budget(&self) -> &BufferBudget {
        &self.budget
    }

    /// Bytes this share holds.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Charges `n` bytes.
    pub fn charge(&mut self, n: usize) {
        if n > 0 {
            self.held += n;
            self.bytes.store(self.held, Ordering::Relaxed);
            self.budget.charge(n);
        }
    }

    /// Releases up to `n` bytes (never more than held).
    pub fn release(&mut self, n: usize) {
        let n = n.min(self.held);
        if n > 0 {
            self.held -= n;
            self.bytes.store(self.held, Ordering::Relaxed);
            self.budget.release(n);
        }
    }

    /// Releases everything held.
    pub fn release_all(&mut self) {
        self.release(self.held);
    }
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.release_all();
        self.budget.holders().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::AtomicUsize, time::Duration};

    use super::*;

    struct Counter(AtomicUsize, std::time::Instant);

    impl Relief for Counter {
        fn stalest(&self) -> Option<std::time::Instant> {
            Some(self.1)
        }

        fn relieve(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn no_relief() -> Weak<dyn Relief> {
        Weak::<Counter>::new()
    }

    #[tokio::test]
    async fn waiters_resume_when_the_total_drops_under_the_cap() {
        let budget = BufferBudget::new(100);
        let mut share = budget.holder(no_relief());
        share.charge(60);
        assert!(!budget.is_over());
        budget.wait_below().await;
        share.charge(60);
        assert!(budget.is_over());
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.wait_below().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        share.release(30);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(budget.used(), 90);
        // Never more than held; the rest goes back on drop.
        share.release(1000);
        assert_eq!(budget.used(), 0);
        share.charge(10);
        drop(share);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn relief_goes_to_the_stalest_holder_not_the_largest() {
        let budget = BufferBudget::new(100);
        let now = std::time::Instant::now();
        let stale = Arc::new(Counter(AtomicUsize::new(0), now - Duration::from_secs(5)));
        let busy = Arc::new(Counter(AtomicUsize::new(0), now));
        let empty = Arc::new(Counter(AtomicUsize::new(0), now - Duration::from_secs(60)));
        let stale_dyn: Arc<dyn Relief> = stale.clone();
        let busy_dyn: Arc<dyn Relief> = busy.clone();
        let empty_dyn: Arc<dyn Relief> = empty.clone();
        let mut a = budget.holder(Arc::downgrade(&stale_dyn));
        let mut b = budget.holder(Arc::downgrade(&busy_dyn));
        let _c = budget.holder(Arc::downgrade(&empty_dyn));
        a.charge(10);
        b.charge(90);
        budget.relieve(Duration::from_secs(1));
        assert_eq!(stale.0.load(Ordering::Relaxed), 1);
        assert_eq!(busy.0.load(Ordering::Relaxed), 0);
        // A holder with nothing held is never asked.
        assert_eq!(empty.0.load(Ordering::Relaxed), 0);
        // Data read more recently than asked is being drained: nobody is asked.
        budget.relieve(Duration::from_secs(10));
        assert_eq!(stale.0.load(Ordering::Relaxed), 1);
        assert_eq!(busy.0.load(Ordering::Relaxed), 0);
    }
}
