//! A Job's work queue (`spec.queue`) as its instances use it: connected
//! when the Job first needs it (and again after the broker went away); in
//! stdin mode one item taken per instance, counted for the controller, and
//! settled when the instance ends (done on success, given back otherwise);
//! in lease mode the connection its instances share.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::launcher::{Binding, Launcher};
use crate::controller::job::Observed;
use crate::manifest::{JobSpec, QueueMode};
use crate::queue::{Item, Queue};
use crate::store::Write;

/// The largest queue item given to an instance on stdin.
pub const MAX_STDIN_ITEM: usize = 8 << 20;

/// How long a broker lease of a stdin item lasts when the template sets no
/// `activeDeadlineSeconds`: one hour.
const BROKER_STDIN_LEASE: u32 = 3600;

/// Refuses a stdin item larger than an instance may take.
pub(in crate::runner) fn check_stdin_item(len: usize) -> Result<(), String> {
    if len > MAX_STDIN_ITEM {
        return Err(format!(
            "the queue item is {len} bytes, more than the {} MiB an instance's stdin may take",
            MAX_STDIN_ITEM >> 20
        ));
    }
    Ok(())
}

/// What a stdin-mode Job's queue gave for a new instance.
pub(super) enum StdinItem {
    /// An item, leased for the instance.
    Leased(Item),
    /// The queue is empty: no instance.
    Empty,
    /// The queue cannot be reached: the instance starts and fails with why.
    Unreachable,
    /// The Job has no stdin queue.
    None,
}

/// One Job's queue.
#[derive(Default)]
pub(super) struct JobQueue {
    queue: Option<Arc<Queue>>,
    /// Why the queue could not be reached, last time it was tried.
    error: Option<String>,
    /// Stdin mode: the item each live instance holds.
    held: HashMap<String, Item>,
    /// Instances an earlier process left running; their embedded-queue
    /// items go back to the queue when it is connected.
    orphans: Vec<String>,
}

impl JobQueue {
    /// A queue whose instances `orphans` an earlier process left running.
    pub(super) fn with_orphans(orphans: Vec<String>) -> Self {
        JobQueue {
            orphans,
            ..JobQueue::default()
        }
    }

    /// Connects the Job's queue if it has one and is not connected; in
    /// stdin mode also counts what waits, for the controller. A broker that
    /// cannot be reached counts as one waiting item, so an instance is
    /// started and fails with the broker's error, retried per the Job's
    /// policy.
    pub(super) fn observe(&mut self, spec: &JobSpec, observed: &mut Observed, launcher: &Launcher) {
        let Some(source) = &spec.queue else {
            return;
        };
        if spec.suspended() {
            return;
        }
        if self.queue.is_none() && !self.connect(spec, launcher) {
            observed.queue_waiting = 1;
            return;
        }
        if source.mode != QueueMode::Stdin {
            return;
        }
        let queue = self.queue.clone().expect("connected above");
        // The controller starts at most `parallelism` instances at once.
        let enough = u64::from(spec.parallelism().max(1));
        match launcher.block_on(queue.waiting(enough)) {
            Ok(waiting) => observed.queue_waiting = waiting,
            Err(e) => {
                self.lost(e.to_string());
                observed.queue_waiting = 1;
            }
        }
    }

    /// Connects the queue; false, with why kept, when it cannot be.
    fn connect(&mut self, spec: &JobSpec, launcher: &Launcher) -> bool {
        let source = spec.queue.as_ref().expect("a queue");
        match launcher.connect_queue(source) {
            Ok(queue) => {
                if let Queue::Embedded(embedded) = &queue {
                    let orphans = std::mem::take(&mut self.orphans);
                    if let Err(e) = embedded.release_holders(&orphans) {
                        tracing::warn!("{e}");
                    }
                }
                self.queue = Some(Arc::new(queue));
                self.error = None;
                true
            }
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    /// The connection failed: reconnect next time.
    fn lost(&mut self, error: String) {
        self.queue = None;
        self.error = Some(error);
    }

    /// Stdin mode: takes one item for the instance `uid`.
    pub(super) fn take(&mut self, spec: &JobSpec, uid: &str, launcher: &Launcher) -> StdinItem {
        if spec.stdin_queue().is_none() {
            return StdinItem::None;
        }
        let Some(queue) = self.queue.clone() else {
            return StdinItem::Unreachable;
        };
        let taken = match queue.as_ref() {
            Queue::Embedded(embedded) => embedded.lease(0, Some(uid)),
            broker => {
                let deadline = spec.template.spec.active_deadline_seconds;
                let secs =
                    deadline.map_or(BROKER_STDIN_LEASE, |d| d.clamp(1, u32::MAX.into()) as u32);
                launcher.block_on(broker.lease(secs))
            }
        };
        match taken {
            Ok(Some(item)) => StdinItem::Leased(item),
            Ok(None) => StdinItem::Empty,
            Err(e) => {
                self.lost(e.to_string());
                StdinItem::Unreachable
            }
        }
    }

    /// Stdin mode: the instance `uid` holds `item` until it ends.
    pub(super) fn hold(&mut self, uid: String, item: Item) {
        self.held.insert(uid, item);
    }

    /// Stdin mode: the instance is done with its item; `done` removes it
    /// from the queue (an embedded queue's removal joins `writes`, the
    /// transaction that records the success), otherwise it goes back.
    pub(super) fn settle(
        &mut self,
        uid: &str,
        done: bool,
        writes: &mut Vec<Write>,
        launcher: &Launcher,
    ) {
        if self.held.is_empty() {
            return; // no queue item held (most Jobs have no queue)
        }
        let Some(item) = self.held.remove(uid) else {
            return;
        };
        let Some(queue) = self.queue.clone() else {
            // The connection was lost: the broker gives unacked items back.
            return;
        };
        let result = match (queue.as_ref(), done) {
            (Queue::Embedded(_), true) => {
                writes.push(Write::QueueDone { item_id: item.id });
                Ok(())
            }
            (Queue::Embedded(embedded), false) => embedded.release(&item.id),
            (broker, true) => launcher.block_on(broker.complete(&item.id)),
            (broker, false) => launcher.block_on(broker.release(&item.id)),
        };
        if let Err(e) = result {
            tracing::warn!("{}: {e}", queue.describe());
        }
    }

    /// Lease mode: an instance may have failed because the broker went
    /// away, and the connection the Job's instances share does not come back
    /// by itself. Probe it once; if it is dead, drop it, so the next pass
    /// reconnects (or the next instance fails with the broker's error and is
    /// retried per the Job's backoff).
    pub(super) fn probe(&mut self, spec: &JobSpec, launcher: &Launcher) {
        if spec.queue.as_ref().map(|q| q.mode) != Some(QueueMode::Lease) {
            return;
        }
        let Some(queue) = self.queue.clone() else {
            return;
        };
        if matches!(*queue, Queue::Embedded(_)) {
            return;
        }
        if let Err(e) = launcher.block_on(queue.waiting(1)) {
            tracing::warn!("{}: {e}; reconnecting", queue.describe());
            self.lost(e.to_string());
        }
    }

    /// What the queue gives the instance `uid`: its item on stdin (stdin
    /// mode) or the queue to lease from (lease mode).
    pub(super) fn bind(&self, spec: &JobSpec, uid: &str) -> Result<Binding, String> {
        let unreachable = || {
            self.error
                .clone()
                .unwrap_or_else(|| "the Job's queue is not connected".to_owned())
        };
        let mut binding = Binding::default();
        match spec.queue.as_ref().map(|q| q.mode) {
            Some(QueueMode::Stdin) => {
                let item = self.held.get(uid).ok_or_else(unreachable)?;
                check_stdin_item(item.body.len())?;
                binding.stdin = item.body.clone();
            }
            Some(QueueMode::Lease) => {
                binding.queue = Some(self.queue.clone().ok_or_else(unreachable)?)
            }
            None => {}
        }
        Ok(binding)
    }
}
