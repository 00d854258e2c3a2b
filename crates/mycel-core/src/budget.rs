//! [`BufferBudget`]: one cap on the bytes all muxers of a node hold for their readers.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Notify;

/// A shared cap on buffered inbound bytes: every muxer connection given the same budget
/// charges the data it holds for streams that have not read it yet, and stops reading
/// from its socket while the total is over the cap (the remote is slowed by TCP, nothing
/// is dropped). Reading streams releases it.
///
/// The total can pass the cap by at most one frame per connection (a frame is charged
/// before the reader stops). Cheap to clone; clones share one count.
#[derive(Debug, Clone)]
pub struct BufferBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    used: AtomicUsize,
    max: usize,
    freed: Notify,
}

impl BufferBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                used: AtomicUsize::new(0),
                max,
                freed: Notify::new(),
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

    /// Charges `n` bytes.
    pub fn charge(&self, n: usize) {
        if n > 0 {
            self.inner.used.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Releases `n` bytes charged before.
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.inner.used.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "released more than was charged");
        if before >= self.inner.max && before - n < self.inner.max {
            self.inner.freed.notify_waiters();
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiters_resume_when_the_total_drops_under_the_cap() {
        let budget = BufferBudget::new(100);
        budget.charge(60);
        assert!(!budget.is_over());
        budget.wait_below().await;
        budget.charge(60);
        assert!(budget.is_over());
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.wait_below().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        budget.release(30);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(budget.used(), 90);
    }
}
