//! CronJobs in the runner: each tick asks the CronJob controller what is due,
//! creates the Jobs (recording each decided time under the store's unique
//! key), stops what `Replace` replaces, and prunes finished Jobs beyond the
//! history limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde_json::json;

use super::{JobRun, Runner, event};
use crate::controller::cronjob::{self, FinishedRun, Observed};
use crate::ids;
use crate::manifest::{CronJob, Job, Kind, ObjectMeta, OwnerReference};
use crate::runtime::Prepared;
use crate::schedule::Schedule;
use crate::store::{ObjectRecord, Write};
use crate::time::{Micros, rfc3339};

/// The annotation Kubernetes puts on a CronJob's Jobs.
pub const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// One CronJob being run.
pub struct CronRun {
    pub(super) record: ObjectRecord,
    cron: CronJob,
    schedule: Schedule,
    tz: TimeZone,
    prepared: Arc<Prepared>,
    observed: Observed,
    finished: Vec<FinishedRun>,
    last_successful: Option<Micros>,
    pub(super) joining: Vec<Write>,
    status: serde_json::Value,
    /// When this CronJob next needs the controller: its next fire time, as
    /// the last pass said. `None`: look at every pass.
    next_due: Option<Micros>,
}

/// The stored manifest of a CronJob.
pub fn manifest_json(cron: &CronJob) -> serde_json::Value {
    json!({ "metadata": cron.metadata, "spec": cron.spec })
}

fn schedule_of(cron: &CronJob) -> (Schedule, TimeZone) {
    // Both were validated when the manifest was loaded.
    let schedule = Schedule::parse(&cron.spec.schedule).expect("validated schedule");
    let tz = match &cron.spec.time_zone {
        Some(zone) => jiff::tz::db().get(zone).unwrap_or(TimeZone::UTC),
        None => TimeZone::UTC,
    };
    (schedule, tz)
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
        let (schedule, tz) = schedule_of(&cron);
        CronRun {
            observed: Observed {
                created: record.created_at,
                ..Observed::default()
            },
            status: record.status.clone(),
            next_due: None,
            record,
            cron,
            schedule,
            tz,
            prepared,
            finished: Vec::new(),
            last_successful: None,
            joining: Vec::new(),
        }
    }

    /// A CronJob recorded by an earlier process: its decided times and the
    /// state of their Jobs (`Some(succeeded)` when finished, `None` when
    /// still running; absent when deleted).
    pub fn resume(
        record: ObjectRecord,
        cron: CronJob,
        prepared: Arc<Prepared>,
        runs: &[(Micros, Option<String>)],
        job_state: impl Fn(&str) -> Option<Option<bool>>,
    ) -> Self {
        let mut run = Self::with_record(record, cron, prepared);
        run.observed.last_schedule = runs.last().map(|(t, _)| *t);
        for (scheduled, job) in runs {
            let Some(uid) = job else { continue };
            match job_state(uid) {
                Some(None) => run.observed.active.push((uid.clone(), *scheduled)),
                Some(Some(succeeded)) => {
                    if succeeded {
                        run.last_successful = Some(*scheduled);
                    }
                    run.finished.push(FinishedRun {
                        uid: uid.clone(),
                        scheduled: *scheduled,
                        succeeded,
                    });
                }
                None => {}
            }
        }
        run
    }

    /// [`CronRun::resume`] from what `store` holds of the CronJob: its
    /// decided times and the state of their Jobs.
    pub fn resume_stored(
        store: &crate::store::Store,
        record: ObjectRecord,
        cron: CronJob,
        prepared: Arc<Prepared>,
    ) -> Result<Self, crate::store::StoreError> {
        let decided = store.cron_runs(&record.uid)?;
        let job_state = |uid: &str| super::cluster::stored_job_state(store, uid);
        Ok(Self::resume(record, cron, prepared, &decided, job_state))
    }

    /// The Jobs this CronJob owns that are still stored.
    pub(super) fn job_uids(&self) -> Vec<String> {
        let active = self.observed.active.iter().map(|(uid, _)| uid.clone());
        active
            .chain(self.finished.iter().map(|f| f.uid.clone()))
            .collect()
    }

    /// An updated manifest takes effect at the next tick.
    pub(super) fn reconfigure(&mut self, cron: CronJob) {
        let (schedule, tz) = schedule_of(&cron);
        self.schedule = schedule;
        self.tz = tz;
        self.record.labels = cron.metadata.labels.clone();
        self.cron = cron;
        // A new schedule, suspend or deadline: decide again at once.
        self.next_due = None;
    }

    /// Whether the controller has nothing to decide for this CronJob now:
    /// no Job of it runs (whose end would change its state) and its next
    /// fire time is still ahead. With ten thousand CronJobs, a wake-up then
    /// costs a comparison per CronJob instead of a schedule computation and
    /// a status write.
    fn idle_until(&self, now: Micros) -> Option<Micros> {
        let due = self.next_due?;
        (self.observed.active.is_empty() && due > now).then_some(due)
    }

    fn job_for(&self, scheduled: Micros) -> Job {
        let template = &self.cron.spec.job_template;
        let mut annotations: BTreeMap<String, String> = template.metadata.annotations.clone();
        let secs =
            jiff::Timestamp::from_microsecond(scheduled).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        annotations.insert(
            SCHEDULED_ANNOTATION.to_owned(),
            secs.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let metadata = ObjectMeta {
            name: cronjob::job_name(
                &self.cron.metadata.name,
                scheduled,
                self.schedule.has_seconds(),
            ),
            namespace: self.cron.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations,
            owner_references: vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: self.cron.metadata.name.clone(),
                uid: self.record.uid.clone(),
                controller: Some(true),
            }],
            ..ObjectMeta::default()
        };
        Job {
            metadata,
            spec: template.spec.clone(),
        }
    }
}

impl Runner {
    /// One controller pass over every CronJob; returns the earliest wake-up.
    pub(super) fn tick_crons(&mut self, now: Micros, writes: &mut Vec<Write>) -> Option<Micros> {
        let mut wake: Option<Micros> = None;
        for index in 0..self.crons.len() {
            if let Some(due) = self.crons[index].idle_until(now) {
                wake = Some(wake.map_or(due, |w| w.min(due)));
                continue;
            }
            self.collect_finished(index);
            let next = self.step_cron(index, now, writes);
            self.crons[index].next_due = next;
            if let Some(at) = next {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
            self.prune(index, now, writes);
            self.write_cron_status(index, writes);
        }
        wake
    }

    /// Active runs whose Jobs finished (or were deleted) move to the history.
    fn collect_finished(&mut self, index: usize) {
        let cron = &mut self.crons[index];
        let mut still = Vec::new();
        for (uid, scheduled) in std::mem::take(&mut cron.observed.active) {
            let state = match self.jobs.iter().find(|j| j.record.uid == uid) {
                Some(job) => Some(job.finished.then(|| job.status.phase() == "Complete")),
                // In a cluster the Job may run on another node now.
                None if self.cluster.is_some() => {
                    super::cluster::stored_job_state(&self.store, &uid)
                }
                None => None,
            };
            match state {
                Some(None) => still.push((uid, scheduled)),
                Some(Some(succeeded)) => {
                    if succeeded {
                        cron.last_successful = Some(scheduled);
                    }
                    cron.finished.push(FinishedRun {
                        uid,
                        scheduled,
                        succeeded,
                    });
                }
                None => {}
            }
        }
        cron.observed.active = still;
    }

    fn step_cron(&mut self, index: usize, now: Micros, writes: &mut Vec<Write>) -> Option<Micros> {
        let cron = &self.crons[index];
        let decision = cronjob::reconcile(
            &cron.cron.spec,
            &cron.schedule,
            &cron.tz,
            &cron.observed,
            now,
        );
        let cron_uid = cron.record.uid.clone();
        for uid in &decision.stop {
            self.delete_job(uid, now, "Replaced", writes);
            let message = format!("Deleted job {uid} to replace it");
            writes.push(event(&cron_uid, "Normal", "SuccessfulDelete", message, now));
        }
        for (scheduled, why) in &decision.missed {
            writes.push(Write::CronRun {
                cronjob_uid: cron_uid.clone(),
                scheduled: *scheduled,
                job_uid: None,
            });
            let message = format!("Missed scheduled time {} ({why:?})", rfc3339(*scheduled));
            writes.push(event(&cron_uid, "Warning", "MissedSchedule", message, now));
        }
        if decision.too_many_missed {
            let message =
                "too many missed start times; check clock skew or raise startingDeadlineSeconds";
            writes.push(event(
                &cron_uid,
                "Warning",
                "TooManyMissedTimes",
                message.into(),
                now,
            ));
        }
        for scheduled in &decision.start {
            let cron = &self.crons[index];
            let job = cron.job_for(*scheduled);
            let name = job.metadata.name.clone();
            let mut run = JobRun::new(job, cron.prepared.clone(), now);
            writes.append(&mut run.joining);
            writes.push(Write::CronRun {
                cronjob_uid: cron_uid.clone(),
                scheduled: *scheduled,
                job_uid: Some(run.record.uid.clone()),
            });
            writes.push(event(
                &cron_uid,
                "Normal",
                "SuccessfulCreate",
                format!("Created job {name}"),
                now,
            ));
            self.crons[index]
                .observed
                .active
                .push((run.record.uid.clone(), *scheduled));
            self.jobs.push(run);
        }
        self.crons[index].observed.last_schedule = decision.last_schedule;
        // Jobs just created must be looked at now, not at the next fire time.
        if decision.start.is_empty() {
            decision.wake
        } else {
            Some(now)
        }
    }

    /// successfulJobsHistoryLimit and failedJobsHistoryLimit.
    fn prune(&mut self, index: usize, now: Micros, writes: &mut Vec<Write>) {
        let cron = &self.crons[index];
        let spec = &cron.cron.spec;
        let ok = spec.successful_jobs_history_limit.unwrap_or(3).max(0) as usize;
        let failed = spec.failed_jobs_history_limit.unwrap_or(1).max(0) as usize;
        let doomed = cronjob::prune(&cron.finished, ok, failed);
        let cron_uid = cron.record.uid.clone();
        for uid in &doomed {
            self.delete_job(uid, now, "Deleted", writes);
            writes.push(event(
                &cron_uid,
                "Normal",
                "SuccessfulDelete",
                format!("Deleted job {uid}"),
                now,
            ));
        }
        self.crons[index]
            .finished
            .retain(|f| !doomed.contains(&f.uid));
    }

    /// Deletes a Job (stopping what runs); its rows stay as history.
    pub(super) fn delete_job(
        &mut self,
        uid: &str,
        now: Micros,
        reason: &str,
        writes: &mut Vec<Write>,
    ) {
        if let Some(index) = self.jobs.iter().position(|j| j.record.uid == uid) {
            self.stop_all(
                index,
                now,
                reason,
                "stopped: the Job was deleted",
                false,
                writes,
            );
            self.jobs.remove(index);
        }
        writes.push(Write::ObjectDeleted {
            uid: uid.to_owned(),
            at: now,
        });
    }

    fn write_cron_status(&mut self, index: usize, writes: &mut Vec<Write>) {
        let cron = &mut self.crons[index];
        let active: Vec<serde_json::Value> = cron
            .observed
            .active
            .iter()
            .filter_map(|(uid, _)| self.jobs.iter().find(|j| &j.record.uid == uid))
            .map(|j| json!({"apiVersion": "batch/v1", "kind": "Job", "name": j.record.name, "namespace": j.record.namespace, "uid": j.record.uid}))
            .collect();
        let mut status = json!({});
        if !active.is_empty() {
            status["active"] = json!(active);
        }
        if let Some(t) = cron.observed.last_schedule {
            status["lastScheduleTime"] = json!(rfc3339(t));
        }
        if let Some(t) = cron.last_successful {
            status["lastSuccessfulTime"] = json!(rfc3339(t));
        }
        if status != cron.status {
            cron.status = status.clone();
            writes.push(Write::ObjectStatus {
                uid: cron.record.uid.clone(),
                status,
            });
        }
    }
}
