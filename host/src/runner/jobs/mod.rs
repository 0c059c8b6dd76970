//! The Job driver: the Jobs this node runs. At each pass it connects their
//! queues, asks the Job controller what to do, and carries the decision out
//! — instances created and launched here (or offered to the cluster),
//! a Job finished, suspended or left to wait; when an instance ends it
//! records the end, counts it through the controller, and restarts it in
//! place when the controller says so.
//!
//! - `run`: one Job's state, new, resumed or taken over.
//! - `create`: new instances, their names, labels and launch.
//! - `end`: an instance's end, the Job's end, suspension, stops.
//! - `relay`: executor slots that start a Job's next instance themselves.
//! - `queue`: a Job's work queue.
//! - `offers`: the owner's side of instances spread over a cluster.

mod create;
mod end;
mod offers;
mod queue;
pub(super) mod relay;
mod run;

pub use queue::MAX_STDIN_ITEM;
pub(super) use queue::check_stdin_item;
pub(super) use run::Place;
pub use run::{EndedWith, JobRun, manifest_json};

use std::collections::BTreeMap;

use super::driver::{Driver, JobStates, Pass};
use super::journal::Deferred;
use super::staged::Staged;
use crate::controller::cronjob::RunState;
use crate::controller::job::{self, Decision, End, status};
use crate::executor::Finished;
use crate::manifest::{Job, QueueMode};
use crate::store::Write;
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

/// Whether a Job's instances may run on other nodes than its owner: all
/// but a lease-mode Job of the embedded queue, which lives in the owner's
/// own file.
pub(super) fn spreadable(job: &Job) -> bool {
    job.spec
        .queue
        .as_ref()
        .is_none_or(|q| q.mode == QueueMode::Stdin || q.url.is_some())
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
        self.runs.iter().map(|run| run.record.uid.as_str())
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
        self.runs.iter().position(|j| j.record.uid == uid)
    }

    /// Whether the Job at `index` has its instances spread over the cluster.
    fn spreads(&self, index: usize) -> bool {
        self.clustered && spreadable(&self.runs[index].job)
    }

    /// One controller decision for one Job; returns when to look again.
    fn step(&mut self, index: usize, pass: &mut Pass<'_>) -> Option<Micros> {
        let now = pass.now;
        let run = &self.runs[index];
        match job::reconcile(&run.job.spec, &run.observed, now) {
            Decision::Create(_) if !self.schedulable(index, pass) => None,
            Decision::Create(indexes) => {
                for completion_index in indexes {
                    self.create_instance(index, completion_index, pass);
                }
                // Only once all are created: a successor reserved in between
                // would not count the instances decided with it.
                self.reserve_successors(index, pass);
                self.count(index);
                // Look again at once: the Job has just started, and its
                // deadline (or more to create) decides when to wake next.
                Some(now)
            }
            Decision::Complete(reason) => {
                self.finish(index, End::Complete(reason), pass);
                None
            }
            Decision::Fail { reason, message } => {
                self.finish(index, End::Failed { reason, message }, pass);
                None
            }
            Decision::Suspend => {
                self.suspend(index, pass);
                None
            }
            Decision::Wait { until } => until,
        }
    }

    /// The status counts follow the observed counts; the status is written
    /// once per group commit (see [`Deferred`]), not once per instance.
    fn count(&mut self, index: usize) {
        let run = &mut self.runs[index];
        status::count(&mut run.status, &run.job.spec, &run.observed);
        run.status_dirty = true;
    }

    /// An update of a running Job takes effect at the next controller pass.
    pub(super) fn reconfigure(&mut self, uid: &str, job: Job, now: Micros) {
        let Some(index) = self.index_of(uid) else {
            return; // finished: the new manifest is stored, nothing runs
        };
        let run = &mut self.runs[index];
        if run.job.spec.suspended() && !job.spec.suspended() {
            status::resume(&mut run.status, &mut run.observed, now);
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
    pub(super) fn unplaceable_here(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        self.runs
            .iter()
            .filter(|run| {
                let admitted = run.job.spec.template.spec.placement().admits(labels);
                !spreadable(&run.job) && !admitted && run.live.is_empty() && !run.finished
            })
            .map(|run| run.record.uid.clone())
            .collect()
    }

    /// Drops a Job this node no longer runs (released to the cluster).
    pub(super) fn release(&mut self, uid: &str) {
        self.runs.retain(|run| run.record.uid != uid);
    }

    /// The Job `uid` and its placement, if this node runs it.
    pub(super) fn job(&self, uid: &str) -> Option<&Job> {
        self.index_of(uid).map(|index| &self.runs[index].job)
    }
}

impl Driver for JobDriver {
    fn tick(&mut self, pass: &mut Pass<'_>) -> Option<Micros> {
        self.relay_ahead = self.relay_depth();
        let mut wake = None;
        for index in 0..self.runs.len() {
            if self.runs[index].finished {
                continue;
            }
            let run = &mut self.runs[index];
            run.queue
                .observe(&run.job.spec, &mut run.observed, pass.launcher);
            wake = earliest(wake, self.step(index, pass));
        }
        wake
    }

    fn instance_ended(&mut self, done: &mut Finished, pass: &mut Pass<'_>) -> bool {
        let Some(index) = self
            .runs
            .iter()
            .position(|j| j.live.contains_key(&done.instance_uid))
        else {
            return false;
        };
        self.record(index, done, pass);
        true
    }

    fn delete(&mut self, uid: &str, reason: &'static str, pass: &mut Pass<'_>) -> bool {
        let Some(index) = self.index_of(uid) else {
            return false;
        };
        let message = "stopped: the Job was deleted";
        self.stop_where(index, (reason, message), false, |_| true, pass);
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
        for index in 0..self.runs.len() {
            // What runs on other nodes goes on there.
            let stop = (job::NODE_SHUTDOWN, message);
            self.stop_where(index, stop, false, Place::is_here, pass);
        }
    }

    fn running_here(&self) -> usize {
        let live = self.runs.iter().flat_map(|j| j.live.values());
        live.filter(|l| l.place.is_here()).count()
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
