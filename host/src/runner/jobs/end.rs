//! How a Job's instances end, and how the Job does: an attempt's end is
//! recorded and counted by the controller, which says whether it restarts
//! in place; a Job that completes, fails or is suspended stops what still
//! runs of it, and its status gets the conditions and events its controller
//! gives.

use super::live::{LiveInstance, Place};
use super::run::JobRun;
use crate::controller::instance;
use crate::controller::job::DELETION_BY_TAINT_MANAGER as EVICTED_BY_TAINT;
use crate::controller::job::{AttemptEnd, End, status};
use crate::executor::Finished;
use crate::manifest::{Phase, TaintEffect, taints};
use crate::runner::driver::Pass;
use crate::runner::writes::{attempt_logs, ended_writes, event, network_denials, stop};
use crate::store::{InstanceRecord, Write};
use crate::time::Micros;

impl JobRun {
    /// An attempt of a live instance ended here; relaying slots hold
    /// `ahead` successors at most.
    pub(super) fn instance_ended(
        &mut self,
        done: &mut Finished,
        pass: &mut Pass<'_>,
        ahead: usize,
    ) {
        // Taken out of the live instances (an instance restarted in place
        // goes back in): the ended record is the live one, not a copy.
        let live = self
            .live
            .remove(&done.instance_uid)
            .expect("found by the caller");
        let abort = match &live.place {
            Place::Here(abort) => Some(abort.clone()),
            _ => None,
        };
        let first_start = live.record.start_time;
        let mut ended = live.record;
        ended.start_time = Some(done.started);
        ended.terminate(done.finished, instance::of_run(&done.report.outcome));
        network_denials(&ended.owner_uid, &ended.name, done, pass.writes);
        let output = &done.report.output;
        let restart = self.count_attempt_end(&ended, (done.attempt, false), output, pass);
        if restart {
            self.restart_here(ended, first_start, done, pass);
        } else {
            self.observed.instance_gone(ended.completion_index);
            ended_writes(ended, done, pass.writes);
        }
        if let Some(slot) = live.slot {
            let relayed = (done.relayed.as_deref(), abort);
            self.relayed(slot, relayed, done.finished, pass, ahead);
        }
        let succeeded = done.report.outcome.succeeded();
        if !restart {
            let uid = &done.instance_uid;
            self.queue
                .settle(uid, succeeded, pass.writes, pass.launcher);
        }
        if !succeeded {
            self.queue.probe(&self.job.spec, pass.launcher);
        }
        self.count();
    }

    /// `OnFailure`: the instance runs again here from where it was; every
    /// attempt's log stays (the first's joins its row).
    fn restart_here(
        &mut self,
        mut again: InstanceRecord,
        first_start: Option<Micros>,
        done: &mut Finished,
        pass: &mut Pass<'_>,
    ) {
        again.phase = Phase::Running;
        again.start_time = first_start;
        again.finish_time = None;
        again.restart_count += 1;
        pass.writes.push(Write::Instance(again.clone()));
        attempt_logs(done, pass.writes);
        let abort = self.launch(&again, done.attempt + 1, None, pass);
        let live = LiveInstance {
            attempt: done.attempt + 1,
            place: Place::Here(abort),
            slot: None,
            unwritten: false,
            record: again,
        };
        self.live.insert(live.record.uid.clone(), live);
    }

    /// Counts one ended attempt of a live instance (`ended` is its final
    /// record) and decides whether it restarts in place (`OnFailure`): then
    /// the live record says so, and true is returned; otherwise the
    /// instance is no longer live, and its record is written. A disruption
    /// (its node went away) never restarts in place: it is replaced.
    pub(super) fn attempt_ended(
        &mut self,
        ended: InstanceRecord,
        (attempt, disruption): (u32, bool),
        pass: &mut Pass<'_>,
    ) -> bool {
        let restart = self.count_attempt_end(&ended, (attempt, disruption), &[], pass);
        if !restart {
            self.live.remove(&ended.uid);
            self.observed.instance_gone(ended.completion_index);
            pass.writes.push(Write::Instance(ended));
            return false;
        }
        // OnFailure: the same instance runs again; every attempt's log
        // stays. One that ran on another node is offered to it again.
        let live = self.live.get_mut(&ended.uid).expect("a live instance");
        live.record.restart_count += 1;
        live.record.reason = ended.reason;
        live.record.message = ended.message;
        live.record.exit_code = ended.exit_code;
        live.attempt = attempt + 1;
        if !live.place.is_here() {
            live.record.phase = Phase::Pending;
            live.record.node_name = ended.node_name;
            live.place = Place::Offered;
        }
        pass.writes.push(Write::Instance(live.record.clone()));
        true
    }

    /// Tells the observer that an attempt ended, and counts it through the
    /// controller; whether the instance restarts in place.
    pub(super) fn count_attempt_end(
        &mut self,
        ended: &InstanceRecord,
        (attempt, disruption): (u32, bool),
        output: &[u8],
        pass: &mut Pass<'_>,
    ) -> bool {
        let name = &self.job.metadata.name;
        pass.observer.instance_ended(name, ended, attempt, output);
        let end = AttemptEnd {
            instance: &ended.name,
            completion_index: ended.completion_index,
            succeeded: ended.phase == Phase::Succeeded,
            exit_code: ended.exit_code,
            disruption,
            finish_time: ended.finish_time,
        };
        self.observed.attempt_ended(&self.job.spec, &end)
    }

    /// The Job ended: what still runs is stopped, and its status gets its
    /// controller's conditions and events.
    pub(super) fn finish(&mut self, end: End, pass: &mut Pass<'_>) {
        let message = end.stop_message();
        let counted = end.stops_count_as_failures();
        self.stop_where((end.reason(), &message), counted, |_| true, pass);
        self.drop_chains();
        self.finished = true;
        let (uid, now) = (&self.record.uid, pass.now);
        let (created, last) = &self.created;
        if let Some(combined) = status::combined_creates(*created, last) {
            pass.writes.push(event(uid, combined, now));
        }
        let ending = status::conclude(&mut self.status, &self.job.spec, &end, now);
        pass.writes.push(event(uid, ending.event, now));
        if let Some(at) = ending.expires_at {
            let uid = uid.clone();
            pass.writes.push(Write::ObjectExpiry { uid, at });
        }
        self.count();
        pass.observer
            .job_ended(&self.job.metadata.name, &self.status);
    }

    /// Suspension stops every running instance; they do not count as failed.
    pub(super) fn suspend(&mut self, pass: &mut Pass<'_>) {
        self.stop_where(status::SUSPENDED, false, |_| true, pass);
        self.drop_chains();
        if let Some(suspended) = status::suspend(&mut self.status, pass.now) {
            pass.writes
                .push(event(&self.record.uid, suspended, pass.now));
        }
        self.count();
    }

    /// Ends the instances running here that this node's `NoExecute` taints
    /// do not let stay, as Kubernetes' taint manager does (a disruption:
    /// replaced, not counted against `backoffLimit`, as a node shutdown);
    /// when to look again for those that may stay `tolerationSeconds`.
    pub(super) fn evict_untolerated(&mut self, pass: &mut Pass<'_>) -> Option<Micros> {
        let taints = &pass.node.node_taints;
        if !taints.iter().any(|t| t.effect == TaintEffect::NoExecute) || self.live.is_empty() {
            return None;
        }
        let placement = self.job.spec.template.spec.placement();
        let (at, taint) = taints::evict_at(placement.tolerations(), taints, pass.now)?;
        if at > pass.now {
            return Some(at);
        }
        let message = format!(
            "Taint manager: deleting due to NoExecute taint {}={}:NoExecute on node {}",
            taint.key, taint.value, pass.node.node_name
        );
        let stop = (EVICTED_BY_TAINT, message.as_str());
        self.stop_where(stop, false, Place::is_here, pass);
        self.count();
        None
    }

    /// Stops the live instances whose place `which` picks, with `reason`
    /// and `message`; `counted` as failures when a failing Job stops them.
    /// One that runs on another node is stopped by its row, which that
    /// node follows.
    pub(super) fn stop_where(
        &mut self,
        (reason, message): (&str, &str),
        counted: bool,
        which: impl Fn(&Place) -> bool,
        pass: &mut Pass<'_>,
    ) {
        let stopped: Vec<String> = self
            .live
            .iter()
            .filter(|(_, live)| which(&live.place))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &stopped {
            self.queue.settle(uid, false, pass.writes, pass.launcher);
        }
        let grace = self.job.spec.template.spec.termination_grace();
        for uid in stopped {
            let live = self.live.remove(&uid).expect("listed above");
            match live.place {
                Place::Here(abort) => pass.launcher.stop_within(abort, grace),
                other => other.stop(),
            }
            let mut record = live.record;
            stop(&mut record, pass.now, reason, message);
            self.observed
                .instance_stopped(record.completion_index, counted);
            pass.writes.push(Write::Instance(record));
            self.stop_slot(live.slot, (reason, message), pass);
        }
    }
}
