//! Commits, as a signal the readers of the store wait on: the Kubernetes
//! API's watches, `get --watch` and `logs -f` look again when something was
//! committed, not on a timer.
//!
//! The count covers every batch this process commits to a node's file, the
//! cluster's change notices that reach the process (see
//! `postgres::changes`), and the node's own labels and taints, which live
//! beside the store. A reader that saw one count and sees it again has
//! nothing new to read; many commits while a reader works wake it once.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

static COMMITS: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::Sender::new(0));

/// Says that something was committed.
pub fn committed() {
    COMMITS.send_modify(|count| *count += 1);
}

/// How many commits this process has seen.
pub fn count() -> u64 {
    *COMMITS.borrow()
}

/// Commits that created, changed or deleted an object's row.
static OBJECTS: AtomicU64 = AtomicU64::new(0);

/// Says that an object's row was created, changed or deleted: what keeps
/// objects read from the store (the NetworkPolicies an attempt's egress
/// comes from) reads them again.
pub fn objects_changed() {
    OBJECTS.fetch_add(1, Ordering::AcqRel);
}

/// How many commits of this process changed objects; a reader that saw
/// one count and sees it again may keep what it read.
pub fn objects_generation() -> u64 {
    OBJECTS.load(Ordering::Acquire)
}

/// A receiver that wakes at the next commit after this call.
pub fn subscribe() -> watch::Receiver<u64> {
    COMMITS.subscribe()
}

/// Waits until the count is past `after`, or `timeout` has passed; the
/// count then.
pub async fn past(after: u64, timeout: std::time::Duration) -> u64 {
    let mut receiver = subscribe();
    let _ = tokio::time::timeout(timeout, receiver.wait_for(|count| *count > after)).await;
    count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_reader_wakes_at_the_next_commit() {
        let before = count();
        let mut receiver = subscribe();
        let waiter = tokio::spawn(async move { receiver.changed().await.is_ok() });
        committed();
        assert!(waiter.await.unwrap());
        assert!(count() > before);
        // Past a count already reached, nothing waits.
        let started = std::time::Instant::now();
        let now = past(before, std::time::Duration::from_secs(5)).await;
        assert!(now > before && started.elapsed() < std::time::Duration::from_secs(1));
    }
}
