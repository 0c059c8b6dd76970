//! Relaying: the executor slot that runs one of a Job's instances starts the
//! Job's next instance the moment this one succeeds, without a round trip
//! through the runner. With thousands of tiny instances that round trip —
//! the result handed to the runner's thread, the next instance handed back
//! to an executor thread — is most of each instance's life.
//!
//! The runner still takes every decision, only earlier: while an instance
//! runs it decides the instance's successor as it would decide a new
//! instance after a success, and *reserves* it, so that the instances
//! running, succeeded and reserved never exceed `completions` and the
//! running never exceed `parallelism`. The successor is recorded as created
//! when the slot starts it. A failure starts nothing (the runner decides
//! about retries, back-off and restarts as always); stopping the Job stops
//! the slot, successor included; a node that drains or cannot write its
//! store closes every relay.
//!
//! Only Jobs whose next instance needs nothing from their last ones relay:
//! not Indexed (the next index depends on which succeeded), with
//! `completions` set, without a work queue, not spread over a cluster.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

use super::{LiveInstance, Runner, Write, spread};
use crate::executor::{Launch, Relay};
use crate::ids;
use crate::store::InstanceRecord;
use crate::time::Micros;

/// The relay of one executor slot.
#[derive(Default)]
pub(super) struct Slot {
    /// Where the successor waits for the executor.
    next: Arc<Mutex<Option<Launch>>>,
    /// The successor's record, while one is reserved.
    successor: Option<InstanceRecord>,
}

impl Slot {
    /// Takes the reserved successor back. `Some` when the slot had already
    /// started it (and is being stopped with it), so it must be recorded.
    fn take_back(&mut self) -> Option<InstanceRecord> {
        let reserved = self.successor.take()?;
        let not_started = self.next.lock().expect("relay slot").take();
        not_started.is_none().then_some(reserved)
    }
}

impl Runner {
    /// Whether the Job at `index` runs its instances in relaying slots.
    pub(super) fn relays(&self, index: usize) -> bool {
        let spec = &self.jobs[index].job.spec;
        !self.spreads(index)
            && spec.queue.is_none()
            && !spec.indexed()
            && spec.completions().is_some()
    }

    /// What the executor needs to relay `slot`'s successors.
    pub(super) fn relay(&self, _index: usize, slot: &Slot) -> Relay {
        Relay {
            open: self.relay_open.clone(),
            next: slot.next.clone(),
        }
    }

    /// Reserves successors for the Job's relaying slots that have none, as
    /// far as the Job's completions and parallelism allow.
    pub(super) fn reserve_successors(&mut self, index: usize, now: Micros) {
        if !self.relays(index) {
            return;
        }
        let free: Vec<String> = self.jobs[index]
            .live
            .iter()
            .filter(|(_, l)| l.slot.as_ref().is_some_and(|s| s.successor.is_none()))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in free {
            self.reserve_successor(index, &uid, now);
        }
    }

    /// Decides and reserves the successor of the instance `uid` when the
    /// controller would start one after its success: the Job is not done
    /// with its completions counting what runs and is reserved, and runs no
    /// more than its parallelism.
    pub(super) fn reserve_successor(&mut self, index: usize, uid: &str, now: Micros) {
        if !self.relays(index) || self.draining.is_some() || self.unwritable.is_some() {
            return;
        }
        let run = &self.jobs[index];
        let spec = &run.job.spec;
        let o = &run.observed;
        let completions = spec.completions().unwrap_or(0);
        let wanted = !run.finished
            && !spec.suspended()
            && o.fail_job.is_none()
            && o.succeeded + o.active + o.reserved < completions
            && o.active <= spec.parallelism();
        let free = run
            .live
            .get(uid)
            .and_then(|l| l.slot.as_ref())
            .is_some_and(|slot| slot.successor.is_none());
        if !wanted || !free {
            return;
        }
        let record = self.new_instance(index, ids::uid(), None, false, now);
        let attempt = self.attempt_of(index, &record, 0);
        let Ok(launch) = self.prepare_launch(&attempt, Ok(super::Binding::default())) else {
            return; // the usual path will meet the same error and record it
        };
        let run = &mut self.jobs[index];
        let slot = run
            .live
            .get_mut(uid)
            .and_then(|l| l.slot.as_mut())
            .expect("checked above");
        *slot.next.lock().expect("relay slot") = Some(launch);
        slot.successor = Some(record);
        run.observed.reserved += 1;
    }

    /// The slot of an instance that just ended, with whether it started the
    /// reserved successor (`relayed`, its uid): the successor is created now,
    /// in the slot (`abort` stops it), and reserves its own successor.
    pub(super) fn relayed(
        &mut self,
        index: usize,
        mut slot: Slot,
        relayed: Option<&str>,
        abort: Option<AbortHandle>,
        at: Micros,
        writes: &mut Vec<Write>,
    ) {
        let Some(mut record) = slot.successor.take() else {
            return;
        };
        self.jobs[index].observed.reserved -= 1;
        let (Some(uid), Some(abort)) = (relayed, abort) else {
            // Not started (a failure ends the slot): the reservation lapses.
            slot.next.lock().expect("relay slot").take();
            return;
        };
        debug_assert_eq!(uid, record.uid);
        record.created_at = at;
        record.start_time = Some(at);
        self.count_created(index, &record, at, writes);
        let uid = record.uid.clone();
        let live = LiveInstance {
            record,
            attempt: 0,
            place: spread::Place::Here(abort),
            slot: Some(slot),
        };
        self.jobs[index].live.insert(uid.clone(), live);
        self.reserve_successor(index, &uid, at);
    }

    /// A live instance with a slot is stopped: its reservation goes, and a
    /// successor the slot had already started is recorded as stopped with it.
    pub(super) fn stop_slot(
        &mut self,
        index: usize,
        slot: Option<Slot>,
        now: Micros,
        reason: &str,
        message: &str,
        writes: &mut Vec<Write>,
    ) {
        let Some(mut slot) = slot else {
            return;
        };
        let had = slot.successor.is_some();
        if let Some(mut started) = slot.take_back() {
            started.created_at = now;
            started.start_time = Some(now);
            started.stopped(now, reason, message);
            writes.push(Write::Instance(started));
        }
        if had {
            self.jobs[index].observed.reserved -= 1;
        }
    }

    /// Opens or closes every relay of this node: closed while it drains or
    /// cannot write its store, since it must start nothing new then.
    pub(super) fn set_relays_open(&self, open: bool) {
        self.relay_open.store(open, Ordering::Release);
    }
}
