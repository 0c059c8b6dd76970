//! Relaying: the executor slot that runs one of a Job's instances starts the
//! Job's next instance the moment this one succeeds, without a round trip
//! through the runner. With thousands of tiny instances that round trip —
//! the result handed to the runner's thread, the next instance handed back
//! to an executor thread — is most of each instance's life.
//!
//! The runner still takes every decision, only earlier: while an instance
//! runs it decides the slot's next instances (4 to 128, see [`ahead`]) as
//! it would decide a new instance after each success, and *reserves* them,
//! so that the instances running, succeeded and reserved never exceed
//! `completions` and the running never exceed `parallelism`. A successor is
//! recorded as created when the slot starts it. A slot that has run all it
//! was given waits for the runner to give it more; one the runner reserves
//! nothing more for (the Job has all the instances it needs) is closed, and
//! ends after its instance. A failure starts nothing (the runner decides
//! about retries, back-off and restarts as always, and the reservations
//! lapse); stopping the Job stops the slot, a successor it started
//! included; a node that drains or cannot write its store closes every
//! relay.
//!
//! Only Jobs whose next instance needs nothing from their last ones relay:
//! not Indexed (the next index depends on which succeeded), with
//! `completions` set, without a work queue, not spread over a cluster.

use std::time::Duration;

use tokio::task::AbortHandle;

use super::live::{LiveInstance, Place, Slot};
use super::run::JobRun;
use crate::executor::{Launch, Sandbox};
use crate::ids;
use crate::runner::driver::Pass;
use crate::runner::launcher::Binding;
use crate::runner::writes::stop;
use crate::store::{InstanceRecord, Write};
use crate::time::Micros;

/// Successors the relaying slots of a node hold ready at most, together:
/// enough that a slot does not run dry while the runner commits what ended
/// before. A group commit of several hundred tiny instances takes a few
/// milliseconds, in which a slot runs hundreds; with 4 per slot the
/// executors waited for the runner through most of each commit (10,000
/// instances of `hello`, two slots: 37,000 inst/s with 4 ahead, 46,000
/// with 64, 49,000 with 256; since slots wait for successors instead of
/// ending, 512 ahead ran that Job 10% faster than 128). The budget is
/// shared by every slot of every relaying Job, so that many Jobs, or one
/// of high parallelism, do not hold thousands of prepared successors
/// (under a KiB each when the Job's instances share their sandbox).
const AHEAD_PER_NODE: usize = 1024;

/// Successors a slot holds ready at most, however few slots relay.
const AHEAD_MAX: usize = 512;

/// Successors a slot may hold ready, however many slots relay.
const AHEAD_MIN: usize = 4;

/// How long the runner lets relayed instances' ends gather before it looks
/// at them, when every relaying slot has plenty to run meanwhile: woken at
/// each end instead, it cost each executor a wake-up call and the runner a
/// pass of its loop per instance (a thousand passes of a few instances in a
/// 10,000-instance Job).
const PAUSE: Duration = Duration::from_micros(500);

/// Whether a relaying Job has every instance it still needs running,
/// reserved or done: nothing more will be decided for it, and its last
/// instances are ending.
fn finishing(observed: &crate::controller::job::Observed, completions: u32) -> bool {
    observed.succeeded + observed.active + observed.reserved >= completions
}

/// Successors each slot holds ready at most when `slots` slots relay.
pub(super) fn ahead(slots: u32) -> usize {
    (AHEAD_PER_NODE / slots.max(1) as usize).clamp(AHEAD_MIN, AHEAD_MAX)
}

/// Successors one slot of a Job may hold: `ahead`, and no more than its
/// share of what the Job has still to run (reserved or not yet decided)
/// among `parallelism` slots. Without the share, the first slot topped up
/// reserved every remaining completion and the others, left with none,
/// ended: a 40-completion Job of parallelism 2 ran its last 38 instances
/// one after another in one slot, and a large Job its last few hundred.
fn slot_share(observed: &crate::controller::job::Observed, spec: Share, ahead: usize) -> usize {
    let to_run = (spec.completions).saturating_sub(observed.succeeded + observed.active);
    let share = to_run.div_ceil(spec.parallelism.max(1)) as usize;
    ahead.min(share)
}

/// What [`slot_share`] needs of a Job's spec.
#[derive(Clone, Copy)]
struct Share {
    completions: u32,
    parallelism: u32,
}

impl JobRun {
    /// Whether the Job relays and is finishing (see [`finishing`]): the
    /// journal then commits sooner.
    pub(super) fn relay_finishing(&self, clustered: bool) -> bool {
        !self.finished
            && self.relays(clustered)
            && self
                .job
                .spec
                .completions()
                .is_some_and(|completions| finishing(&self.observed, completions))
    }

    /// Reserves successors for the Job's relaying slots, as far as the
    /// Job's completions and parallelism allow; `ahead` per slot at most.
    pub(super) fn reserve_successors(&mut self, pass: &Pass<'_>, ahead: usize) {
        if !self.relays(pass.cluster.is_some()) {
            return;
        }
        let slots: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.slot.is_some())
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in slots {
            self.reserve_successor(&uid, pass, ahead);
        }
    }

    /// Decides and reserves successors of the instance `uid` (up to
    /// `ahead` of them, see [`ahead`]) while the controller would start one
    /// after each success: the Job is not done with its completions
    /// counting what runs and is reserved, and runs no more than its
    /// parallelism. A slot left with nothing reserved is closed: its
    /// instance is the last it runs (the controller starts new slots for
    /// what the Job needs later).
    pub(super) fn reserve_successor(&mut self, uid: &str, pass: &Pass<'_>, ahead: usize) {
        // A slot giving way to another namespace takes no more (see
        // `share`). Under a quota of stored output each instance is
        // started through the node's room (see `budget`): what a
        // successor will print is not known when it is reserved. A
        // namespace labelled while the Job runs with a Pod Security level
        // its template breaks takes no more.
        let closing = (self.live.get(uid))
            .and_then(|l| l.slot.as_ref())
            .is_some_and(|slot| slot.closing);
        let open = self.relays(pass.cluster.is_some())
            && pass.starts
            && !closing
            && !pass.budget.meters_logs(&self.record.namespace)
            && (pass.pod_security_refusal(&self.record.namespace, &self.job.spec.template.spec))
                .is_none();
        while open && self.wants_successor(uid, ahead) {
            let record = self.new_instance(ids::uid(), None, false, pass);
            let Some(launch) = self.successor_launch(&record, pass) else {
                break; // the usual path will meet the same error and record it
            };
            let slot = self
                .live
                .get_mut(uid)
                .and_then(|l| l.slot.as_mut())
                .expect("checked by wants_successor");
            slot.next.push(launch);
            slot.successors.push_back(record);
            self.observed.reserved += 1;
        }
        let slot = self.live.get(uid).and_then(|l| l.slot.as_ref());
        if let Some(slot) = slot.filter(|slot| slot.successors.is_empty()) {
            slot.next.close();
        }
    }

    /// What the executor needs to start the successor `record`: the Job's
    /// shared sandbox named for it when the Job has one, its own otherwise.
    fn successor_launch(&self, record: &InstanceRecord, pass: &Pass<'_>) -> Option<Launch> {
        let shared = self
            .shared_sandbox
            .get_or_init(|| pass.launcher.shared_sandbox(&self.job, &self.prepared));
        let Some(spec) = shared.clone() else {
            let attempt = self.attempt_of(record, 0);
            return pass.launcher.prepare(&attempt, Ok(Binding::default())).ok();
        };
        Some(Launch {
            instance_uid: record.uid.clone(),
            created: record.created_at,
            attempt: 0,
            prepared: self.prepared.clone(),
            sandbox: Sandbox::OfJob {
                spec,
                instance_name: record.name.clone(),
            },
            scratch: Vec::new(),
            pod: None,
        })
    }

    /// Whether the slot of the live instance `uid` should hold one more
    /// successor: it has room, and the Job wants one more instance counting
    /// those running and reserved.
    fn wants_successor(&self, uid: &str, ahead: usize) -> bool {
        let spec = &self.job.spec;
        let o = &self.observed;
        let completions = spec.completions().unwrap_or(0);
        let wanted = !self.finished
            && !spec.suspended()
            && o.fail_job.is_none()
            && o.succeeded + o.active + o.reserved < completions
            && o.active <= spec.parallelism();
        let share = Share {
            completions,
            parallelism: spec.parallelism(),
        };
        let most = slot_share(o, share, ahead);
        let room = self
            .live
            .get(uid)
            .and_then(|l| l.slot.as_ref())
            .is_some_and(|slot| slot.successors.len() < most);
        wanted && room
    }

    /// The slot of an instance that just ended, with whether it started its
    /// first successor (`relayed`, its uid): that successor is created now,
    /// at `at`, in the slot (`abort` stops it), and the slot is topped up.
    pub(super) fn relayed(
        &mut self,
        mut slot: Slot,
        (relayed, abort): (Option<&str>, Option<AbortHandle>),
        at: Micros,
        pass: &mut Pass<'_>,
        ahead: usize,
    ) {
        let (Some(uid), Some(abort)) = (relayed, abort) else {
            // Nothing started (a failure ends the slot): the reservations lapse.
            let lapsed = slot.successors.len() as u32;
            slot.take_back();
            self.observed.reserved -= lapsed;
            return;
        };
        let Some(mut record) = slot.successors.pop_front() else {
            return;
        };
        debug_assert_eq!(uid, record.uid);
        self.observed.reserved -= 1;
        record.created_at = at;
        record.start_time = Some(at);
        self.count_created(&record, (at, true), pass.writes);
        // Written with the next group commit at the latest.
        pass.deferred = true;
        let uid = record.uid.clone();
        let live = LiveInstance {
            record,
            attempt: 0,
            place: Place::Here(abort),
            slot: Some(slot),
            unwritten: true,
        };
        self.live.insert(uid.clone(), live);
        self.reserve_successor(&uid, pass, ahead);
    }

    /// Relaying slots that still take successors.
    pub(super) fn open_slots(&self) -> usize {
        let slots = self.live.values().filter_map(|l| l.slot.as_ref());
        slots.filter(|slot| !slot.closing).count()
    }

    /// Its namespace was labelled, while the Job relays, with a Pod
    /// Security level its template breaks: every slot gives way as to
    /// another namespace — its instance runs to its end, the successors
    /// reserved lapse, nothing more starts — and the Job says why once (see
    /// `pod_security_refuses`). Kubernetes too refuses each pod created
    /// after the label and leaves those running; without this a slot ran
    /// the successors reserved before the label, up to [`AHEAD_MAX`] of
    /// them. Whether a slot's room was freed at once.
    pub(super) fn refuse_relaying(&mut self, pass: &mut Pass<'_>) -> bool {
        // Every pass asks: the level first (a map lookup where no label
        // enforces one), the slots (a walk of the live instances) after.
        let pod = &self.job.spec.template.spec;
        let refused = pass.pod_security_refusal(&self.record.namespace, pod);
        if refused.is_none() || self.open_slots() == 0 {
            return false;
        }
        self.pod_security_refuses(pass);
        let (_, released) = self.close_slots(usize::MAX);
        released > 0
    }

    /// Makes up to `count` of its relaying slots give way (see `share`):
    /// each takes no more successors, gives back those it has not started
    /// (their reservations lapse) and ends after its instance; how many
    /// did, and how many of them were released at once (between two
    /// instances, see [`Slot::released`](super::live::Slot)).
    pub(super) fn close_slots(&mut self, count: usize) -> (usize, usize) {
        let slots = self.live.values_mut().filter_map(|l| l.slot.as_mut());
        let (mut closed, mut lapsed, mut released) = (0, 0, 0);
        for slot in slots.filter(|slot| !slot.closing).take(count) {
            lapsed += slot.give_way() as u32;
            released += usize::from(slot.released);
            closed += 1;
        }
        self.observed.reserved -= lapsed;
        (closed, released)
    }

    /// A live instance with a slot is stopped: its reservations go, and the
    /// successors the slot had already started are recorded as stopped
    /// with it.
    pub(super) fn stop_slot(
        &mut self,
        slot: Option<Slot>,
        (reason, message): (&str, &str),
        pass: &mut Pass<'_>,
    ) {
        let Some(mut slot) = slot else {
            return;
        };
        self.observed.reserved -= slot.successors.len() as u32;
        for mut started in slot.take_back() {
            started.created_at = pass.now;
            started.start_time = Some(pass.now);
            stop(&mut started, pass.now, reason, message);
            pass.writes.push(Write::Instance(started));
        }
    }
}

/// Sleeps [`PAUSE`] (or until `wake`, if sooner) when nothing is waiting to
/// be recorded and every relaying slot of `runs` holds at least a quarter
/// of its `ahead` successors: the executors have enough to run, and the
/// ends that arrive meanwhile are recorded together.
pub(super) fn pause(runs: &[JobRun], ahead: usize, wake: Option<Micros>) {
    let slots = runs.iter().flat_map(|run| run.live.values());
    let mut depths = slots
        .filter_map(|live| live.slot.as_ref())
        .map(|slot| slot.successors.len());
    let deep = ahead / 4;
    let Some(first) = depths.next() else {
        return;
    };
    if first < deep || depths.any(|depth| depth < deep) {
        return;
    }
    let until = wake.map_or(PAUSE, |at| {
        Duration::from_micros((at - crate::time::now()).max(0) as u64)
    });
    std::thread::sleep(PAUSE.min(until));
}

#[cfg(test)]
mod tests {
    use crate::controller::job::Observed;

    #[test]
    fn a_job_is_finishing_once_every_completion_is_running_reserved_or_done() {
        let mut o = Observed {
            succeeded: 9_000,
            active: 2,
            reserved: 997,
            ..Observed::default()
        };
        assert!(!super::finishing(&o, 10_000), "one completion undecided");
        o.reserved = 998;
        assert!(super::finishing(&o, 10_000));
        // A failure lapses the reservations: more will be decided again.
        o.active = 1;
        o.reserved = 0;
        assert!(!super::finishing(&o, 10_000));
        o.succeeded = 10_000;
        assert!(super::finishing(&o, 10_000));
    }

    #[test]
    fn each_slot_holds_no_more_than_its_share_of_what_is_left_to_run() {
        let share = |completions, parallelism, succeeded, active, ahead| {
            let o = Observed {
                succeeded,
                active,
                ..Observed::default()
            };
            let spec = super::Share {
                completions,
                parallelism,
            };
            super::slot_share(&o, spec, ahead)
        };
        // Forty of parallelism 2, both slots running their first: 19 each,
        // not 38 in the first slot topped up.
        assert_eq!(share(40, 2, 0, 2, 512), 19);
        // A large Job: the node's budget binds, until its tail.
        assert_eq!(share(100_000, 256, 0, 256, 4), 4);
        assert_eq!(share(10_000, 2, 9_000, 2, 512), 499);
        // The last one to run: one slot may hold it; nothing left: none.
        assert_eq!(share(10, 2, 8, 1, 512), 1);
        assert_eq!(share(10, 2, 8, 2, 512), 0);
        assert_eq!(share(10, 0, 0, 0, 512), 10, "parallelism 0 counts as 1");
    }

    #[test]
    fn a_nodes_relaying_slots_share_a_budget_of_successors() {
        assert_eq!(super::ahead(1), super::AHEAD_MAX);
        assert_eq!(super::ahead(2), 512);
        assert_eq!(super::ahead(8), 128);
        // Three hundred Jobs of parallelism 1, or one of 1,000: a few each.
        assert_eq!(super::ahead(300), super::AHEAD_MIN);
        assert_eq!(super::ahead(1000), super::AHEAD_MIN);
        // No slot relays: never a division by zero.
        assert_eq!(super::ahead(0), super::AHEAD_MAX);
    }
}
