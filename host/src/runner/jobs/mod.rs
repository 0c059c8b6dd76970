//! The Job driver: the Jobs this node runs. At each pass it connects their
//! queues, asks the Job controller what to do, and carries the decision out
//! — instances created and launched here (or offered to the cluster),
//! a Job finished, suspended or left to wait; when an instance ends it
//! records the end, counts it through the controller, and restarts it in
//! place when the controller says so.
//!
//! One Job's state is a [`JobRun`]; what is done to it is layered, each
//! file using only those below it:
//!
//! - `offers`: the owner's side of instances spread over a cluster;
//! - `end`: an instance's end, the Job's end, suspension, stops;
//! - `share`: a full node shared between namespaces;
//! - `relay`: executor slots that start a Job's next instance themselves;
//! - `create`: new instances, their names, labels and launch;
//! - `run`, `live`, `queue`: the Job's state, its live instances, its
//!   work queue.

mod chains;
mod create;
mod depends;
mod end;
mod live;
mod offers;
mod queue;
mod relay;
mod run;
mod share;

pub use queue::MAX_STDIN_ITEM;
pub(super) use queue::check_stdin_item;
pub(super) use run::spreadable;
pub use run::{EndedWith, JobRun, manifest_json, record_of};

/// The reason a Job is deleted with when a CronJob's `TerminateOther`
/// replaces it: its instances stop at once, whatever their grace period.
pub(super) const TERMINATED: &str = "Terminated";

use std::collections::{BTreeMap, HashSet};

use super::driver::{Driver, JobStates, Pass};
use super::journal::Deferred;
use super::staged::Staged;
use crate::controller::cronjob::RunState;
use crate::controller::job::{self, Decision, End};
use crate::executor::{Finished, Waiting};
use crate::manifest::{Job, Taint};
use crate::store::{InstanceRecord, Write};
use crate::time::{Micros, earliest};

/// The Jobs this node runs.
#[derive(Default)]
pub(super) struct JobDriver {
    runs: Vec<JobRun>,
    /// A node of a cluster: Jobs that may spread offer their instances.
    clustered: bool,
    /// Successors each relaying slot holds ready at most, for the Jobs
    /// relaying on this node now (see `relay`); set at every pass.
    relay_ahead: usize,
}

impl JobDriver {
    /// This node is one of a cluster's.
    pub(super) fn join_cluster(&mut self) {
        self.clustered = true;
    }

    /// Adds runs whose joining writes are committed.
    pub(super) fn extend(&mut self, runs: impl IntoIterator<Item = JobRun>) {
        self.runs.extend(runs);
    }

    /// The uids of the Jobs run, in order.
    pub(super) fn uids(&self) -> impl Iterator<Item = &str> {
        self.runs.iter().map(JobRun::uid)
    }

    /// Whether nothing more will happen to any Job without a change.
    pub(super) fn settled(&self) -> bool {
        self.runs.iter().all(JobRun::settled)
    }

    /// Whether a Job finished since the driver last forgot finished Jobs.
    pub(super) fn any_finished(&self) -> bool {
        self.runs.iter().any(|j| j.finished)
    }

    /// Finished Jobs stay in the store; the driver forgets them (once
    /// their last status is staged).
    pub(super) fn forget_finished(&mut self) {
        self.runs.retain(|j| !j.finished);
    }

    /// Whether no instance of these Jobs runs on this node.
    pub(super) fn nothing_here(&self) -> bool {
        self.runs
            .iter()
            .all(|j| j.live.values().all(|l| !l.place.is_here()))
    }

    fn index_of(&self, uid: &str) -> Option<usize> {
        self.runs.iter().position(|j| j.uid() == uid)
    }

    /// The Job `uid`, if this node runs it.
    pub(super) fn job(&self, uid: &str) -> Option<&Job> {
        self.index_of(uid).map(|index| &self.runs[index].job)
    }

    /// Whether the Job `uid`'s instances may run on a node with `labels`
    /// and `taints`; `None` when this node does not run it.
    pub(super) fn admits(
        &self,
        uid: &str,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
    ) -> Option<bool> {
        let job = self.job(uid)?;
        Some(job.spec.template.spec.placement().admits(labels, taints))
    }

    /// One controller decision for the Job at `index`; when to look again.
    fn step(&mut self, index: usize, pass: &mut Pass<'_>) -> Option<Micros> {
        let (ahead, now) = (self.relay_ahead, pass.now);
        let run = &mut self.runs[index];
        match job::reconcile(&run.job.spec, &run.observed, now) {
            Decision::Create(_) if !run.schedulable(pass) => None,
            Decision::Create(_) if !run.priority_known(pass) => None,
            // In a cluster, only while this node holds the Job (see
            // `controller::lease`); the next heartbeat looks again.
            Decision::Create(_) if !run.may_start(pass) => None,
            Decision::Create(mut indexes) => {
                let room = run.room(indexes.len(), pass);
                if room == 0 {
                    // Room comes free when an instance here ends.
                    return None;
                }
                indexes.truncate(room);
                // Chains started together share what is uncovered now.
                let share = run.chain_share(indexes.len() as u32);
                for completion_index in indexes {
                    run.create_instance(completion_index, share, pass);
                }
                // Only once all are created: a successor reserved in between
                // would not count the instances decided with it.
                run.reserve_successors(pass, ahead);
                run.count();
                // Look again at once: the Job has just started, and its
                // deadline (or more to create) decides when to wake next.
                Some(now)
            }
            Decision::Complete(reason) => {
                run.finish(End::Complete(reason), pass);
                None
            }
            Decision::Fail { reason, message } => {
                run.finish(End::Failed { reason, message }, pass);
                None
            }
            Decision::Suspend => {
                run.suspend(pass);
                None
            }
            Decision::Wait { until } => until,
        }
    }

    /// An update of a running Job takes effect at the next controller pass.
    pub(super) fn reconfigure(&mut self, uid: &str, job: Job, now: Micros) {
        let Some(index) = self.index_of(uid) else {
            return; // finished: the new manifest is stored, nothing runs
        };
        let run = &mut self.runs[index];
        if run.job.spec.suspended() && !job.spec.suspended() {
            job::status::resume(&mut run.status, &mut run.observed, now);
        }
        run.record.labels = job.metadata.labels.clone();
        run.job = job;
        // The next instance's labels and sandbox come from the new template.
        run.instance_labels = Default::default();
        run.shared_sandbox = Default::default();
    }

    /// Jobs whose instances stay on their owner (a work queue's) that this
    /// node cannot run and that have nothing running here: their uids, for
    /// the cluster to take back.
    pub(super) fn unplaceable_here(
        &self,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
        resources: &BTreeMap<String, i64>,
    ) -> Vec<String> {
        let unplaceable = |run: &&JobRun| {
            let pod = &run.job.spec.template.spec;
            let admitted = pod.placement().admits(labels, taints)
                && crate::manifest::has_resources(&run.demand, resources);
            !spreadable(&run.job) && !admitted && run.live.is_empty() && !run.finished
        };
        let runs = self.runs.iter().filter(unplaceable);
        runs.map(|run| run.uid().to_owned()).collect()
    }

    /// Drops a Job this node no longer runs (released to the cluster).
    pub(super) fn release(&mut self, uid: &str) {
        self.runs.retain(|run| run.uid() != uid);
    }

    /// Whether a relaying Job is finishing: the journal then commits sooner.
    pub(super) fn finishing(&self) -> bool {
        self.runs
            .iter()
            .any(|run| run.relay_finishing(self.clustered))
    }

    /// How many successors each relaying slot holds ready, from the slots
    /// the unfinished relaying Jobs may run at once.
    fn relay_depth(&self) -> usize {
        let relaying = self
            .runs
            .iter()
            .filter(|r| !r.finished && r.relays(self.clustered));
        relay::ahead(relaying.map(|r| r.job.spec.parallelism()).sum())
    }

    /// Pauses briefly when every relaying slot has plenty to run (see
    /// `relay::pause`).
    pub(super) fn pause_for_relays(&self, wake: Option<Micros>) {
        relay::pause(&self.runs, self.relay_ahead, wake);
    }

    /// What the rows of watched instances say happened to them; `lost`
    /// names the nodes that stopped heartbeating.
    pub(super) fn follow_rows(
        &mut self,
        rows: Vec<InstanceRecord>,
        lost: &HashSet<String>,
        pass: &mut Pass<'_>,
    ) {
        for row in rows {
            let Some(index) = self.index_of(&row.owner_uid) else {
                continue;
            };
            let run = &mut self.runs[index];
            if run.live.contains_key(&row.uid) {
                run.follow_row(row, lost, pass);
            } else {
                run.follow_link(row, lost, pass);
            }
        }
        // A lost node's instances write no more rows: they are found by
        // their node, not by a change.
        for run in &mut self.runs {
            run.lose_on(lost, pass);
            run.lose_waiting_chains(lost);
        }
    }

    /// The Jobs this node follows the rows of in the cluster — those with
    /// instances offered or running elsewhere, or chains — with the last
    /// change of their rows it read.
    pub(super) fn followed(&self) -> Vec<(String, i64)> {
        let runs = self.runs.iter().filter(|r| {
            !r.finished && (!r.chains.is_empty() || r.live.values().any(|l| !l.place.is_here()))
        });
        runs.map(|r| (r.uid().to_owned(), r.seen_change)).collect()
    }

    /// Notes that change `change` of a row of the Job `uid` was read;
    /// whether it is news (not read before).
    pub(super) fn saw_change(&mut self, uid: &str, change: i64) -> bool {
        let Some(index) = self.index_of(uid) else {
            return false;
        };
        let run = &mut self.runs[index];
        if change <= run.seen_change {
            return false;
        }
        run.seen_change = change;
        true
    }

    /// The job and module of this node's Job `uid`, if it runs it.
    pub(super) fn job_and_module(
        &self,
        uid: &str,
    ) -> Option<(Job, std::sync::Arc<crate::runtime::Prepared>)> {
        let run = &self.runs[self.index_of(uid)?];
        Some((run.job.clone(), run.prepared.clone()))
    }

    /// Runs an instance this node just claimed, if it is one of its own
    /// Jobs'; the record back when it is another node's.
    pub(super) fn start_claimed(
        &mut self,
        record: InstanceRecord,
        pass: &Pass<'_>,
    ) -> Option<InstanceRecord> {
        let Some(index) = self.index_of(&record.owner_uid) else {
            return Some(record);
        };
        self.runs[index].start_claimed(record, pass);
        None
    }
}

impl Driver for JobDriver {
    fn tick(&mut self, pass: &mut Pass<'_>) -> Option<Micros> {
        self.relay_ahead = self.relay_depth();
        let mut wake = None;
        // Higher priority first, then the namespace running fewest here,
        // then in the order the Jobs came: when the node has room for fewer
        // instances than wait, theirs start first (see `share`).
        let mut order: Vec<usize> = (0..self.runs.len()).collect();
        let limited = pass.budget.limited();
        let mut running = None;
        if limited
            || self
                .runs
                .iter()
                .any(|r| r.job.spec.template.spec.priority_class_name.is_some())
        {
            for run in &mut self.runs {
                run.resolve_priority(pass.store);
            }
            let here = share::running_here(&self.runs);
            order = share::order(&self.runs, &here);
            running = Some(here);
        }
        for index in order {
            let run = &mut self.runs[index];
            run.lacking = 0;
            if run.finished {
                continue;
            }
            run.queue
                .observe(&run.job.spec, &mut run.observed, pass.launcher);
            if run.refuse_relaying(pass) {
                wake = Some(pass.now); // its room goes to others at once
            }
            wake = earliest(wake, run.evict_untolerated(pass));
            self.observe_dependencies(index, pass.store, pass.now);
            wake = earliest(wake, self.step(index, pass));
        }
        if let Some(running) = running.filter(|_| limited)
            && share::make_room(&mut self.runs, &running)
        {
            // Room freed at once goes to the waiting Jobs at the next pass,
            // which need not wait for an instance to end.
            wake = Some(pass.now);
        }
        wake
    }

    fn instance_waiting(&mut self, waiting: &Waiting, pass: &mut Pass<'_>) -> bool {
        let uid = &waiting.instance_uid;
        let here = |j: &&mut JobRun| j.live.get(uid).is_some_and(|l| l.place.is_here());
        let Some(run) = self.runs.iter_mut().find(here) else {
            return false;
        };
        let owner = run.record.uid.clone();
        let live = run.live.get_mut(uid).expect("found above");
        if live.attempt == waiting.attempt {
            let writes = super::driver::record_waiting(&mut live.record, &owner, waiting, pass.now);
            pass.writes.extend(writes);
        }
        true
    }

    fn instance_ended(&mut self, done: &mut Finished, pass: &mut Pass<'_>) -> bool {
        let uid = &done.instance_uid;
        // One of its Jobs' instances that runs here as a chain link is the
        // cluster part's (see `cluster::hosting`): its Job follows its row.
        let here = |j: &&mut JobRun| j.live.get(uid).is_some_and(|l| l.place.is_here());
        let Some(run) = self.runs.iter_mut().find(here) else {
            return false;
        };
        run.instance_ended(done, pass, self.relay_ahead);
        true
    }

    fn delete(&mut self, uid: &str, reason: &'static str, pass: &mut Pass<'_>) -> bool {
        let Some(index) = self.index_of(uid) else {
            return false;
        };
        if reason == TERMINATED {
            // `overlapPolicy: TerminateOther`: no grace period.
            let template = &mut self.runs[index].job.spec.template.spec;
            template.termination_grace_period_seconds = None;
        }
        let stop = (reason, "stopped: the Job was deleted");
        self.runs[index].stop_where(stop, false, |_| true, pass);
        self.runs[index].drop_chains();
        self.runs.remove(index);
        true
    }

    fn forget(&mut self, uid: &str) {
        if let Some(index) = self.index_of(uid) {
            let run = self.runs.remove(index);
            for live in run.live.values() {
                live.place.stop();
            }
        }
    }

    fn interrupt(&mut self, pass: &mut Pass<'_>) {
        let message = "the node shut down while the instance was running";
        for run in &mut self.runs {
            // What runs on other nodes goes on there.
            let stop = (job::NODE_SHUTDOWN, message);
            run.stop_where(stop, false, live::Place::is_here, pass);
        }
    }

    fn running_here(&self) -> usize {
        let live = self.runs.iter().flat_map(|j| j.live.values());
        live.filter(|l| l.holds_room()).count()
    }

    fn extended_held(&self) -> BTreeMap<String, i64> {
        let mut held = BTreeMap::new();
        for run in &self.runs {
            let here = run.live.values().filter(|l| l.holds_room()).count() as i64;
            if here == 0 {
                continue;
            }
            for (name, count) in &run.demand {
                *held.entry(name.clone()).or_default() += count * here;
            }
        }
        held
    }

    fn placement_changed(&mut self) {
        for run in &mut self.runs {
            run.unschedulable_noted = false;
        }
    }
}

impl Deferred for JobDriver {
    /// The rows of instances created with their write deferred that still
    /// run (the store shows every running instance after a group commit),
    /// and the statuses changed since they were last staged.
    fn stage_deferred(&mut self, staged: &mut Staged) {
        for run in &mut self.runs {
            for live in run.live.values_mut().filter(|live| live.unwritten) {
                live.unwritten = false;
                staged.push(Write::Instance(live.record.clone()));
            }
        }
        for run in &mut self.runs {
            if std::mem::take(&mut run.status_dirty) {
                staged.push(Write::ObjectStatus {
                    uid: run.record.uid.clone(),
                    status: serde_json::json!(run.status),
                });
            }
        }
    }
}

impl JobStates for JobDriver {
    fn state(&self, uid: &str) -> Option<RunState> {
        let run = &self.runs[self.index_of(uid)?];
        Some(match run.finished {
            false => RunState::Running,
            true => RunState::Finished(run.status.phase() == "Complete"),
        })
    }
}

impl JobDriver {
    /// What each namespace's instances of these Jobs hold of its quotas
    /// (`pods`, and `limits.memory` with their memory limits summed):
    /// those here and, in a cluster, every live instance of a Job spread
    /// over it, wherever it runs or waits to be claimed (its `active`, a
    /// chain's slot included), which this node's share of the quota counts
    /// as the Job's owner.
    pub(in crate::runner) fn held_for_quotas(
        &self,
        clustered: bool,
    ) -> BTreeMap<String, (i64, i64)> {
        match clustered {
            false => share::held_here(&self.runs),
            true => share::held_by_owner(&self.runs),
        }
    }
}
