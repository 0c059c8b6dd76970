//! How a Job's instances end, and how the Job does: an attempt's end is
//! recorded and counted by the controller, which says whether it restarts
//! in place; a Job that completes, fails or is suspended stops what still
//! runs of it, and its status gets the conditions and events its controller
//! gives.

use super::JobDriver;
use super::run::{LiveInstance, Place};
use crate::controller::instance;
use crate::controller::job::{AttemptEnd, End, status};
use crate::executor::Finished;
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::writes::{attempt_logs, ended_writes, event, stop};
use crate::store::{InstanceRecord, Write};

impl JobDriver {
    /// An attempt of a live instance of the Job at `index` ended here.
    pub(super) fn record(&mut self, index: usize, done: &mut Finished, pass: &mut Pass<'_>) {
        // Taken out of the live instances (an instance restarted in place
        // goes back in): the ended record is the live one, not a copy.
        let live = self.runs[index]
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
        let output = &done.report.output;
        let restart = self.count_attempt_end(index, &ended, (done.attempt, false), output, pass);
        if restart {
            self.restart_here(index, ended, first_start, done, pass);
        } else {
            self.runs[index]
                .observed
                .instance_gone(ended.completion_index);
            ended_writes(ended, done, pass.writes);
        }
        if let Some(slot) = live.slot {
            let relayed = done.relayed.as_deref();
            self.relayed(index, slot, (relayed, abort), done.finished, pass);
        }
        let succeeded = done.report.outcome.succeeded();
        let run = &mut self.runs[index];
        if !restart {
            run.queue
                .settle(&done.instance_uid, succeeded, pass.writes, pass.launcher);
        }
        if !succeeded {
            run.queue.probe(&run.job.spec, pass.launcher);
        }
        self.count(index);
    }

    /// `OnFailure`: the instance runs again here from where it was; every
    /// attempt's log stays (the first's joins its row).
    fn restart_here(
        &mut self,
        index: usize,
        mut again: InstanceRecord,
        first_start: Option<crate::time::Micros>,
        done: &mut Finished,
        pass: &mut Pass<'_>,
    ) {
        again.phase = Phase::Running;
        again.start_time = first_start;
        again.finish_time = None;
        again.restart_count += 1;
        pass.writes.push(Write::Instance(again.clone()));
        attempt_logs(done, pass.writes);
        let abort = self.launch(index, &again, done.attempt + 1, pass);
        let live = LiveInstance {
            attempt: done.attempt + 1,
            place: Place::Here(abort),
            slot: None,
            unwritten: false,
            record: again,
        };
        self.runs[index].live.insert(live.record.uid.clone(), live);
    }

    /// Counts one ended attempt of a live instance (`ended` is its final
    /// record) and decides whether it restarts in place (`OnFailure`): then
    /// the live record says so, and true is returned; otherwise the
    /// instance is no longer live, and its record is written. A disruption
    /// (its node went away) never restarts in place: it is replaced.
    pub(super) fn attempt_ended(
        &mut self,
        index: usize,
        ended: InstanceRecord,
        (attempt, disruption): (u32, bool),
        pass: &mut Pass<'_>,
    ) -> bool {
        let restart = self.count_attempt_end(index, &ended, (attempt, disruption), &[], pass);
        let run = &mut self.runs[index];
        if restart {
            // OnFailure: the same instance runs again; every attempt's log
            // stays. One that ran on another node is offered to it again.
            let live = run.live.get_mut(&ended.uid).expect("a live instance");
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
        } else {
            run.live.remove(&ended.uid);
            run.observed.instance_gone(ended.completion_index);
            pass.writes.push(Write::Instance(ended));
        }
        restart
    }

    /// Tells the observer that an attempt of the Job at `index` ended, and
    /// counts it through the controller; whether the instance restarts in
    /// place.
    fn count_attempt_end(
        &mut self,
        index: usize,
        ended: &InstanceRecord,
        (attempt, disruption): (u32, bool),
        output: &[u8],
        pass: &mut Pass<'_>,
    ) -> bool {
        let run = &mut self.runs[index];
        let name = &run.job.metadata.name;
        pass.observer.instance_ended(name, ended, attempt, output);
        let end = AttemptEnd {
            instance: &ended.name,
            completion_index: ended.completion_index,
            succeeded: ended.phase == Phase::Succeeded,
            exit_code: ended.exit_code,
            disruption,
            finish_time: ended.finish_time,
        };
        run.observed.attempt_ended(&run.job.spec, &end)
    }

    /// The Job at `index` ended: what still runs is stopped, and its status
    /// gets its controller's conditions and events.
    pub(super) fn finish(&mut self, index: usize, end: End, pass: &mut Pass<'_>) {
        let message = end.stop_message();
        let counted = end.stops_count_as_failures();
        self.stop_where(index, (end.reason(), &message), counted, |_| true, pass);
        let run = &mut self.runs[index];
        run.finished = true;
        let (uid, now) = (&run.record.uid, pass.now);
        let (created, last) = &run.created;
        if let Some(combined) = status::combined_creates(*created, last) {
            pass.writes.push(event(uid, combined, now));
        }
        let ending = status::conclude(&mut run.status, &run.job.spec, &end, now);
        pass.writes.push(event(uid, ending.event, now));
        if let Some(at) = ending.expires_at {
            let uid = uid.clone();
            pass.writes.push(Write::ObjectExpiry { uid, at });
        }
        self.count(index);
        let run = &self.runs[index];
        pass.observer.job_ended(&run.job.metadata.name, &run.status);
    }

    /// Suspension stops every running instance; they do not count as failed.
    pub(super) fn suspend(&mut self, index: usize, pass: &mut Pass<'_>) {
        self.stop_where(index, status::SUSPENDED, false, |_| true, pass);
        let run = &mut self.runs[index];
        if let Some(suspended) = status::suspend(&mut run.status, pass.now) {
            pass.writes
                .push(event(&run.record.uid, suspended, pass.now));
        }
        self.count(index);
    }

    /// Stops the live instances whose place `which` picks, with `reason`
    /// and `message`; `counted` as failures when a failing Job stops them.
    /// One that runs on another node is stopped by its row, which that
    /// node follows.
    pub(super) fn stop_where(
        &mut self,
        index: usize,
        (reason, message): (&str, &str),
        counted: bool,
        which: impl Fn(&Place) -> bool,
        pass: &mut Pass<'_>,
    ) {
        let run = &mut self.runs[index];
        let stopped: Vec<String> = run
            .live
            .iter()
            .filter(|(_, live)| which(&live.place))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &stopped {
            run.queue.settle(uid, false, pass.writes, pass.launcher);
        }
        for uid in stopped {
            let run = &mut self.runs[index];
            let live = run.live.remove(&uid).expect("listed above");
            live.place.stop();
            let mut record = live.record;
            stop(&mut record, pass.now, reason, message);
            run.observed
                .instance_stopped(record.completion_index, counted);
            pass.writes.push(Write::Instance(record));
            self.stop_slot(index, live.slot, (reason, message), pass);
        }
    }
}
