//! New slots start before relaying slots go on.
//!
//! A relaying slot (see `relay`) runs its Job's next instance in the task
//! that ran the last, so a flood of instances is a few hundred tasks that
//! go on and on. A slot launched for another Job — a CronJob's run, the
//! Job of a namespace that was given room (`runner::jobs::share`) — is a
//! new task, queued behind every relaying slot the runtime's workers have
//! yet to poll: under a flood of 256 slots on two cores its first instance
//! started 40-60 ms after it was launched. Here a relaying slot about to
//! go on yields once while any launched slot has not started, so the
//! workers reach the new one after a round of cheap polls rather than a
//! round of instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many launched slots have not started.
#[derive(Default)]
pub(super) struct Arrivals {
    waiting: AtomicUsize,
}

/// One launched slot until it starts (or is dropped unstarted).
pub(super) struct Arrival(Arc<Arrivals>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Arrivals {
    /// A slot is launched; it has started when the arrival is dropped.
    pub(super) fn arrive(self: &Arc<Self>) -> Arrival {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Arrival(self.clone())
    }

    /// Whether a launched slot waits to start.
    fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Before a relaying slot goes on with its next instance: yields to the
    /// runtime while a launched slot waits to start.
    pub(super) async fn let_go_first(&self) {
        if self.waiting() {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arrival_counts_until_it_starts_or_is_dropped() {
        let arrivals = Arc::new(Arrivals::default());
        assert!(!arrivals.waiting());
        let first = arrivals.arrive();
        let second = arrivals.arrive();
        drop(first);
        assert!(arrivals.waiting());
        drop(second);
        assert!(!arrivals.waiting());
    }

    /// On a runtime of one worker busy with a slot that goes on and on, a
    /// task spawned from outside runs after the slot's next yield, not
    /// after the slot is done.
    #[test]
    fn a_relaying_slot_lets_a_launched_one_start_first() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let arrivals = Arc::new(Arrivals::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (slot_order, slot_arrivals) = (order.clone(), arrivals.clone());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let slot = runtime.spawn(async move {
            started_tx.send(()).unwrap();
            // Busy instances, one after another, without awaiting anything
            // else: only `let_go_first` gives the worker away.
            for i in 0..200 {
                std::thread::sleep(std::time::Duration::from_millis(1));
                slot_order.lock().unwrap().push(format!("slot {i}"));
                slot_arrivals.let_go_first().await;
            }
        });
        started_rx.recv().unwrap();
        let arrival = arrivals.arrive();
        let new_order = order.clone();
        let new = runtime.spawn(async move {
            drop(arrival);
            new_order.lock().unwrap().push("new".to_owned());
        });
        runtime.block_on(async {
            new.await.unwrap();
            slot.await.unwrap();
        });
        let order = order.lock().unwrap();
        let at = order.iter().position(|o| o == "new").unwrap();
        assert!(
            at < 20,
            "the new slot started after {at} instances: {order:?}"
        );
    }
}
