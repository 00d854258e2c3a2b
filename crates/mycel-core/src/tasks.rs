//! [`TaskGroup`]: the tasks one service started, stopped together.
//!
//! Every long-lived part of mycel (the switch, the DHT, pubsub) spawns tasks that must
//! end when it closes, and a `close` that returns only once they have. A group is a
//! cancellation token and a task tracker in one value.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::task::JoinHandle;
use tokio_util::{
    sync::{
        CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
    },
    task::TaskTracker,
};

/// Tasks spawned together and stopped together. Cheap to clone; clones are one group.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use mycel_core::tasks::TaskGroup;
///
/// let group = TaskGroup::new();
/// let forever = group.spawn(std::future::pending::<()>());
/// group.stop().await; // cancels it and waits for it
/// assert_eq!(forever.await.unwrap(), None);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TaskGroup {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl TaskGroup {
    /// An empty, running group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `fut` in a task of the group: it yields `Some(output)` if it finishes, and
    /// `None` if the group stops first (the future is then dropped).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(UntilStopped {
            stopped: self.token.clone().cancelled_owned(),
            fut,
        })
    }

    /// Runs `fut` in a task of the group that stopping does not cancel (a short goodbye
    /// that must finish): [`TaskGroup::stop`] waits for it.
    pub fn spawn_to_completion<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(fut)
    }

    /// Tells every task to stop, without waiting.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether the group was told to stop.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the group is told to stop.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// A token cancelled when the group stops, that can also be cancelled alone (one
    /// listener among many).
    pub fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// Tells every task to stop and waits until all have ended.
    pub async fn stop(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// A guard that tells the group to stop when dropped (for the handles users hold).
    pub fn drop_guard(&self) -> DropGuard {
        self.token.clone().drop_guard()
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

pin_project_lite::pin_project! {
    /// `fut`'s output, or `None` once the group stops. A plain struct rather than an
    /// async block, which would hold `fut` twice (once captured, once being polled) in
    /// every task.
    struct UntilStopped<F> {
        #[pin]
        stopped: WaitForCancellationFutureOwned,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for UntilStopped<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.stopped.poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.fut.poll(cx).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stop_cancels_spawned_tasks_and_waits_for_completing_ones() {
        let group = TaskGroup::new();
        let cancelled = group.spawn(std::future::pending::<()>());
        let finished = group.spawn(async { 7 });
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let completing = group.spawn_to_completion(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = done_tx.send(());
            3
        });
        assert_eq!(finished.await.unwrap(), Some(7));
        group.stop().await;
        assert!(group.is_cancelled());
        assert!(group.is_empty());
        assert_eq!(cancelled.await.unwrap(), None);
        // stop returned only after the completing task had sent.
        assert!(done_rx.await.is_ok());
        assert_eq!(completing.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_drop_guard_and_child_tokens_follow_the_group() {
        let group = TaskGroup::new();
        let child = group.child_token();
        let task = group.spawn(std::future::pending::<()>());
        drop(group.drop_guard());
        assert!(child.is_cancelled());
        assert_eq!(task.await.unwrap(), None);
        // A child cancelled alone leaves the group running.
        let group = TaskGroup::new();
        group.child_token().cancel();
        assert!(!group.is_cancelled());
    }
}
