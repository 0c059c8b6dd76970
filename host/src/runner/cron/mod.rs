//! The CronJob driver: the CronJobs this node runs. Each pass asks the
//! CronJob controller what is due, creates the Jobs (recording each decided
//! time under the store's unique key), has the Jobs a `Replace` replaces or
//! the history limits prune deleted, and records the status. A CronJob
//! whose next time is ahead and that has no active run is not looked at:
//! with ten thousand CronJobs a wake-up then costs a comparison per
//! CronJob instead of a schedule computation and a status write.

pub mod backfill;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::driver::{Driver, JobStates, Pass};
use super::jobs::JobRun;
use super::writes::event;
use crate::controller::Event;
use crate::controller::cronjob::{self, History, Observed, RunState, history};
use crate::executor::{Finished, Waiting};
use crate::ids;
use crate::manifest::{CronJob, CronJobStatus, Kind, ObjectReference};
use crate::runner::quotas::HELD_RETRY;
use crate::runtime::Prepared;
use crate::schedule::Timetable;
use crate::store::{ObjectRecord, Store, StoreError, Write};
use crate::time::{Micros, earliest, rfc3339};

/// One CronJob being run.
pub struct CronRun {
    record: ObjectRecord,
    cron: CronJob,
    timetable: Timetable,
    prepared: Arc<Prepared>,
    observed: Observed,
    history: History,
    /// The active Jobs, as the status lists them.
    refs: HashMap<String, ObjectReference>,
    /// Writes that put this CronJob into the store when it joins a run.
    pub(in crate::runner) joining: Vec<Write>,
    status: CronJobStatus,
    /// When this CronJob next needs the controller: its next fire time, as
    /// the last pass said. `None`: look at every pass.
    next_due: Option<Micros>,
    /// What a cluster does while this node is away (see
    /// [`crate::manifest::Disconnect`]).
    disconnect: crate::manifest::DisconnectPolicy,
    /// Scheduled times of runs that failed since the last step.
    failed: Vec<Micros>,
    /// The backfill's next run waits for room under the namespace's
    /// `count/jobs.batch` (said once, not at every pass it still waits).
    backfill_held: bool,
}

/// The stored manifest of a CronJob.
pub fn manifest_json(cron: &CronJob) -> serde_json::Value {
    json!({ "metadata": cron.metadata, "spec": cron.spec })
}

/// The CronJob's schedules, `H` picked for its name, jitter for its uid.
fn timetable_of(cron: &CronJob, uid: &str) -> Timetable {
    let owner = format!("{}/{}", cron.metadata.namespace, cron.metadata.name);
    cron.spec.timetable(&owner, uid)
}

/// The scheduled time `cron trigger --skip-next` asked to pass over.
fn skip_of(cron: &CronJob) -> Option<Micros> {
    let text = cron
        .metadata
        .annotations
        .get(crate::manifest::well_known::SKIP_NEXT)?;
    micros(text)
}

/// An RFC 3339 time as the status writes it, in microseconds.
pub(crate) fn micros(text: &str) -> Option<Micros> {
    Some(text.parse::<jiff::Timestamp>().ok()?.as_microsecond())
}

/// A Job as a CronJob's status lists it.
fn reference(job: &ObjectRecord) -> ObjectReference {
    ObjectReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.name.clone(),
        namespace: job.namespace.clone(),
        uid: job.uid.clone(),
    }
}

/// A stored Job's state, as a CronJob follows it; with its reference.
pub(super) fn stored_job(store: &Store, uid: &str) -> (RunState, Option<ObjectReference>) {
    let Some(job) = store.object(uid).ok().flatten() else {
        return (RunState::Gone, None);
    };
    if job.deleted_at.is_some() {
        return (RunState::Gone, None);
    }
    (RunState::of(&job.status), Some(reference(&job)))
}

impl crate::runner::driver::Joining for CronRun {
    fn joining(&mut self) -> &mut Vec<Write> {
        &mut self.joining
    }
}

impl CronRun {
    /// A new CronJob.
    pub fn new(cron: CronJob, prepared: Arc<Prepared>, now: Micros) -> Self {
        let record = ObjectRecord {
            uid: ids::uid(),
            kind: Kind::CronJob,
            namespace: cron.metadata.namespace.clone(),
            name: cron.metadata.name.clone(),
            labels: cron.metadata.labels.clone(),
            manifest: manifest_json(&cron),
            status: json!({}),
            created_at: now,
            deleted_at: None,
        };
        let mut run = Self::with_record(record, cron, prepared);
        run.observed.created = now;
        run.joining.push(Write::ObjectCreated(run.record.clone()));
        run
    }

    fn with_record(record: ObjectRecord, cron: CronJob, prepared: Arc<Prepared>) -> Self {
        let timetable = timetable_of(&cron, &record.uid);
        let status: CronJobStatus =
            serde_json::from_value(record.status.clone()).unwrap_or_default();
        CronRun {
            disconnect: cron.disconnect(),
            failed: Vec::new(),
            backfill_held: false,
            observed: Observed {
                // Counted down in the status, which outlives the process.
                remaining: status.remaining_runs.or(cron.spec.remaining_runs),
                skip: skip_of(&cron),
                // Decided times come from the store, not the status.
                last_schedule: None,
                ..backfill::observed_of(&status, record.created_at)
            },
            status,
            next_due: None,
            record,
            cron,
            timetable,
            prepared,
            history: History::default(),
            refs: HashMap::new(),
            joining: Vec::new(),
        }
    }

    /// A CronJob recorded by an earlier process, from what `store` holds
    /// of it: its decided times and the state of their Jobs.
    pub fn resume_stored(
        store: &Store,
        record: ObjectRecord,
        cron: CronJob,
        prepared: Arc<Prepared>,
    ) -> Result<Self, StoreError> {
        let decided = store.cron_runs(&record.uid)?;
        let mut run = Self::with_record(record, cron, prepared);
        // Buffered times were decided too, though not recorded as run yet.
        let buffered = run.observed.buffered.last().copied();
        run.observed.last_schedule = decided.last().map(|(t, _)| *t).max(buffered);
        let mut states = HashMap::new();
        for (scheduled, job) in decided {
            let Some(uid) = job else { continue };
            let (state, reference) = stored_job(store, &uid);
            if let Some(reference) = reference {
                run.refs.insert(uid.clone(), reference);
            }
            states.insert(uid.clone(), state);
            run.observed.active.push((uid, scheduled));
        }
        let state = |uid: &str| states.get(uid).copied().unwrap_or(RunState::Gone);
        run.history.follow(&mut run.observed, state);
        run.refs
            .retain(|uid, _| run.observed.active.iter().any(|(a, _)| a == uid));
        Ok(run)
    }

    /// The stored object's uid.
    pub fn uid(&self) -> &str {
        &self.record.uid
    }

    /// Taken over from a node whose lease ran out at `fence`: no scheduled
    /// time at or before it is decided here (see
    /// [`crate::controller::lease::first_after_fence`]).
    pub(super) fn fence(&mut self, fence: Option<Micros>) {
        let last = self.observed.last_schedule;
        self.observed.last_schedule = crate::controller::lease::first_after_fence(last, fence);
    }

    /// The Jobs this CronJob owns that are still stored.
    fn job_uids(&self) -> Vec<String> {
        let active = self.observed.active.iter().map(|(uid, _)| uid.clone());
        active
            .chain(self.history.finished.iter().map(|f| f.uid.clone()))
            .collect()
    }

    /// An updated manifest takes effect at the next tick.
    pub(super) fn reconfigure(&mut self, cron: CronJob) {
        self.timetable = timetable_of(&cron, &self.record.uid);
        self.observed.skip = skip_of(&cron);
        // A new `remainingRuns` is a new count; otherwise it goes on.
        if cron.spec.remaining_runs != self.cron.spec.remaining_runs {
            self.observed.remaining = cron.spec.remaining_runs;
        }
        self.record.labels = cron.metadata.labels.clone();
        self.disconnect = cron.disconnect();
        self.cron = cron;
        // A new schedule, suspend or deadline: decide again at once.
        self.next_due = None;
    }

    /// Whether the controller has nothing to decide for this CronJob now:
    /// no Job of it runs (whose end would change its state), no time waits
    /// in its buffer or a backfill, no finished Job is past the history
    /// limits (the last run's end is pruned at once, not at the next fire
    /// time), and its next fire time is still ahead.
    fn idle_until(&self, now: Micros) -> Option<Micros> {
        let due = self.next_due?;
        let observed = &self.observed;
        let backfilling = (observed.backfill.as_ref()).is_some_and(|b| !b.waiting.is_empty());
        let (successful, failed) = history::history_limits(&self.cron.spec);
        let finished = &self.history.finished;
        let ok = finished.iter().filter(|f| f.succeeded).count();
        let over_limits = ok > successful || finished.len() - ok > failed;
        let quiet = observed.active.is_empty()
            && observed.buffered.is_empty()
            && !backfilling
            && !over_limits;
        (quiet && due > now).then_some(due)
    }

    /// Active runs whose Jobs finished (or were deleted) move to the history.
    fn follow_jobs(&mut self, jobs: &dyn JobStates, pass: &Pass<'_>) {
        let state = |uid: &str| match jobs.state(uid) {
            Some(state) => state,
            // In a cluster the Job may run on another node now.
            None if pass.cluster.is_some() => stored_job(pass.store, uid).0,
            None => RunState::Gone,
        };
        let failed = self.history.follow(&mut self.observed, state);
        self.failed.extend(failed);
        let active = &self.observed.active;
        self.refs
            .retain(|uid, _| active.iter().any(|(a, _)| a == uid));
    }

    /// `pauseOnFailure`: a failed run suspends the CronJob, with a note
    /// (the change is its manifest's, as a `cron pause` would make it).
    fn pause_on_failure(&mut self, pass: &mut Pass<'_>) {
        let failed = std::mem::take(&mut self.failed);
        let spec = &self.cron.spec;
        let (Some(&first), Some(true), false) = (
            failed.first(),
            spec.pause_on_failure,
            spec.suspend == Some(true),
        ) else {
            return;
        };
        let note = format!(
            "paused: the run of {} failed (pauseOnFailure)",
            rfc3339(first)
        );
        let meta = &mut self.cron.metadata;
        meta.annotations
            .insert(crate::manifest::well_known::PAUSE_NOTE.into(), note.clone());
        meta.generation = Some(meta.generation.unwrap_or(1) + 1);
        self.cron.spec.suspend = Some(true);
        self.record.manifest = manifest_json(&self.cron);
        pass.writes.push(Write::ObjectManifest {
            uid: self.record.uid.clone(),
            manifest: self.record.manifest.clone(),
            labels: self.record.labels.clone(),
        });
        let paused = Event::warning("Paused", note);
        pass.writes.push(event(&self.record.uid, paused, pass.now));
    }

    /// One controller decision; returns when to look again.
    fn step(&mut self, pass: &mut Pass<'_>, asks: &mut Asks) -> Option<Micros> {
        self.pause_on_failure(pass);
        self.take_backfill(pass);
        let now = pass.now;
        let spec = &self.cron.spec;
        let decision = cronjob::reconcile(spec, &self.timetable, &self.observed, now);
        let uid = self.record.uid.clone();
        let reason = match decision.terminate {
            true => super::jobs::TERMINATED,
            false => "Replaced",
        };
        for job in &decision.stop {
            asks.delete_jobs.push((job.clone(), reason));
            let message = format!("Deleted job {job} to replace it ({reason})");
            let replaced = Event::normal("SuccessfulDelete", message);
            pass.writes.push(event(&uid, replaced, now));
        }
        for (scheduled, why) in &decision.missed {
            pass.writes.push(Write::CronRun {
                cronjob_uid: uid.clone(),
                scheduled: *scheduled,
                job_uid: None,
                replaces: None,
            });
            let message = format!("Missed scheduled time {} ({why:?})", rfc3339(*scheduled));
            let missed = Event::warning("MissedSchedule", message);
            pass.writes.push(event(&uid, missed, now));
        }
        if decision.too_many_missed {
            let message =
                "too many missed start times; check clock skew or raise startingDeadlineSeconds";
            let warning = Event::warning("TooManyMissedTimes", message);
            pass.writes.push(event(&uid, warning, now));
        }
        let mut started = 0;
        for scheduled in &decision.start {
            match pass.job_room.take(&self.record.namespace, pass.store) {
                Ok(()) => {
                    asks.create_jobs.push(self.start(*scheduled, None, pass));
                    started += 1;
                }
                Err(quota) => self.refused(*scheduled, &quota, pass),
            }
        }
        let backfilled = self.start_backfilled(decision.backfill, pass);
        let backfill_started = !backfilled.is_empty();
        asks.create_jobs.extend(backfilled);
        if let Some(left) = &mut self.observed.remaining {
            *left -= started;
        }
        self.observed.last_schedule = decision.last_schedule;
        self.observed.buffered = decision.buffered;
        // Jobs just created must be looked at now, not at the next fire time.
        match (started > 0 || backfill_started, self.backfill_held) {
            (true, _) => Some(now),
            // Room comes with a pass (a Job deleted, one pruned), or at
            // the latest a second later.
            (false, true) => earliest(decision.wake, Some(now + HELD_RETRY)),
            (false, false) => decision.wake,
        }
    }

    /// Creates the Job of the scheduled time `scheduled`, recording the
    /// decided time with it (replacing the Job `replaces` of a rerun); the
    /// Job, to run.
    fn start(
        &mut self,
        scheduled: Micros,
        replaces: Option<String>,
        pass: &mut Pass<'_>,
    ) -> JobRun {
        let seconds = self.timetable.has_seconds();
        let mut job = cronjob::job_from_template(&self.cron, &self.record.uid, scheduled, seconds);
        // A run whose image is pulled Always waits for its node to pull it
        // (the Job driver's caller hands it to the pulls).
        crate::controller::image_pull::resolve_per_run(&mut job);
        let name = job.metadata.name.clone();
        let mut run = JobRun::new(job, self.prepared.clone(), pass.now);
        pass.writes.append(&mut run.joining);
        let job_uid = run.uid().to_owned();
        // Lateness counts from when the time was due: its jitter is meant.
        crate::metrics::cronjob_job_created(self.timetable.due_at(scheduled), pass.now);
        pass.writes.push(Write::CronRun {
            cronjob_uid: self.record.uid.clone(),
            scheduled,
            job_uid: Some(job_uid.clone()),
            replaces,
        });
        let created = Event::normal("SuccessfulCreate", format!("Created job {name}"));
        pass.writes.push(event(&self.record.uid, created, pass.now));
        self.refs.insert(job_uid.clone(), reference(run.record()));
        self.observed.active.push((job_uid, scheduled));
        run
    }

    /// The Job of the scheduled time `scheduled` would pass its
    /// namespace's `quota`: it is not created, as the quota's admission
    /// refuses the Kubernetes CronJob controller's create. The time is
    /// recorded without a Job — a run is decided once, and the next
    /// scheduled time tries again — with the controller's `FailedCreate`.
    fn refused(&mut self, scheduled: Micros, quota: &str, pass: &mut Pass<'_>) {
        pass.writes.push(Write::CronRun {
            cronjob_uid: self.record.uid.clone(),
            scheduled,
            job_uid: None,
            replaces: None,
        });
        let failed = self.failed_create(scheduled, quota, "");
        pass.writes.push(event(&self.record.uid, failed, pass.now));
    }

    /// Kubernetes' `FailedCreate` for the Job of `scheduled`, which `quota`
    /// refused.
    fn failed_create(&self, scheduled: Micros, quota: &str, then: &str) -> Event {
        let seconds = self.timetable.has_seconds();
        let job = cronjob::job_from_template(&self.cron, &self.record.uid, scheduled, seconds);
        let message = format!(
            "Error creating job: jobs.batch {:?} is forbidden: {quota}{then}",
            job.metadata.name
        );
        Event::warning("FailedCreate", message)
    }

    /// `successfulJobsHistoryLimit` and `failedJobsHistoryLimit`: the
    /// oldest finished Jobs beyond them are deleted.
    fn prune(&mut self, pass: &mut Pass<'_>, asks: &mut Asks) {
        for job in self.history.prune(&self.cron.spec) {
            let message = format!("Deleted job {job}");
            let deleted = Event::normal("SuccessfulDelete", message);
            pass.writes.push(event(&self.record.uid, deleted, pass.now));
            asks.delete_jobs.push((job, "Deleted"));
        }
    }

    /// The status, written when it changed.
    fn write_status(&mut self, writes: &mut Vec<Write>) {
        let refs = &self.refs;
        let status = history::status(&self.observed, &self.history, |uid| refs.get(uid).cloned());
        if status != self.status {
            writes.push(Write::ObjectStatus {
                uid: self.record.uid.clone(),
                status: json!(status),
            });
            self.status = status;
        }
    }
}

/// What the CronJobs ask of the Job driver, carried out by the loop right
/// after their pass.
#[derive(Default)]
pub(super) struct Asks {
    /// Jobs to run (scheduled runs), already recorded in the pass's writes.
    pub create_jobs: Vec<JobRun>,
    /// Jobs to delete, and why (replaced, pruned, or their CronJob deleted).
    pub delete_jobs: Vec<(String, &'static str)>,
}

/// The CronJobs this node runs.
#[derive(Default)]
pub(super) struct CronDriver {
    runs: Vec<CronRun>,
    /// What the last pass asked of the Job driver.
    asks: Asks,
}

impl CronDriver {
    /// Adds runs whose joining writes are committed.
    pub(super) fn extend(&mut self, runs: impl IntoIterator<Item = CronRun>) {
        self.runs.extend(runs);
    }

    /// The uids of the CronJobs run.
    pub(super) fn uids(&self) -> impl Iterator<Item = &str> {
        self.runs.iter().map(CronRun::uid)
    }

    /// The Jobs the CronJobs run now.
    pub(super) fn active_jobs(&self) -> impl Iterator<Item = &str> {
        let active = self.runs.iter().flat_map(|r| r.observed.active.iter());
        active.map(|(uid, _)| uid.as_str())
    }

    /// Active runs whose Jobs finished (or were deleted) move to the
    /// history, for the CronJobs the next pass looks at.
    pub(super) fn follow_jobs(&mut self, jobs: &dyn JobStates, pass: &Pass<'_>) {
        for run in &mut self.runs {
            if run.idle_until(pass.now).is_none() {
                run.follow_jobs(jobs, pass);
            }
        }
    }

    /// What the CronJobs asked of the Job driver since the last time.
    pub(super) fn take_asks(&mut self) -> Asks {
        std::mem::take(&mut self.asks)
    }

    /// An updated manifest of the CronJob `uid`, if this node runs it.
    pub(super) fn reconfigure(&mut self, uid: &str, cron: CronJob) {
        if let Some(run) = self.runs.iter_mut().find(|c| c.record.uid == uid) {
            run.reconfigure(cron);
        }
    }
}

impl Driver for CronDriver {
    fn tick(&mut self, pass: &mut Pass<'_>) -> Option<Micros> {
        let mut wake: Option<Micros> = None;
        for run in &mut self.runs {
            if let Some(due) = run.idle_until(pass.now) {
                wake = earliest(wake, Some(due));
                continue;
            }
            if !pass.may_act(&run.disconnect) {
                // In a cluster, this node decides nothing of a CronJob it
                // does not hold now; the next heartbeat looks again.
                run.next_due = None;
                continue;
            }
            let next = run.step(pass, &mut self.asks);
            run.next_due = next;
            wake = earliest(wake, next);
            run.prune(pass, &mut self.asks);
            run.write_status(pass.writes);
        }
        wake
    }

    fn instance_waiting(&mut self, _waiting: &Waiting, _pass: &mut Pass<'_>) -> bool {
        false
    }

    fn instance_ended(&mut self, _done: &mut Finished, _pass: &mut Pass<'_>) -> bool {
        false // a CronJob's instances are its Jobs'
    }

    fn delete(&mut self, uid: &str, reason: &'static str, _pass: &mut Pass<'_>) -> bool {
        let Some(index) = self.runs.iter().position(|c| c.record.uid == uid) else {
            return false;
        };
        // A CronJob's Jobs go with it.
        let cron = self.runs.remove(index);
        let jobs = cron.job_uids().into_iter().map(|job| (job, reason));
        self.asks.delete_jobs.extend(jobs);
        true
    }

    fn forget(&mut self, uid: &str) {
        self.runs.retain(|c| c.record.uid != uid);
    }

    fn interrupt(&mut self, _pass: &mut Pass<'_>) {}

    fn running_here(&self) -> usize {
        0
    }
}
