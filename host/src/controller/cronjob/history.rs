//! A CronJob's runs after they start: an active run's Job that finishes
//! moves to the history (and a success becomes `lastSuccessfulTime`), the
//! history limits prune the oldest finished Jobs
//! (`successfulJobsHistoryLimit` 3 and `failedJobsHistoryLimit` 1 by
//! default), and the status lists what is active.

use super::Observed;
use crate::manifest::{
    BackfillRun, BackfillStatus, CronJobSpec, CronJobStatus, JobStatus, ObjectReference,
};
use crate::time::{Micros, rfc3339};

/// A finished Job of a CronJob, for pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    /// The Job.
    pub uid: String,
    /// Its scheduled time.
    pub scheduled: Micros,
    /// Complete (true) or Failed.
    pub succeeded: bool,
}

/// The finished Jobs beyond `successfulJobsHistoryLimit` and
/// `failedJobsHistoryLimit`, oldest first: these are deleted (their history
/// rows stay).
pub fn prune(
    finished: &[FinishedRun],
    successful_limit: usize,
    failed_limit: usize,
) -> Vec<String> {
    let mut doomed = Vec::new();
    for (succeeded, limit) in [(true, successful_limit), (false, failed_limit)] {
        let mut runs: Vec<&FinishedRun> = finished
            .iter()
            .filter(|r| r.succeeded == succeeded)
            .collect();
        runs.sort_by_key(|r| r.scheduled);
        let excess = runs.len().saturating_sub(limit);
        doomed.extend(runs[..excess].iter().map(|r| (r.scheduled, r.uid.clone())));
    }
    doomed.sort();
    doomed.into_iter().map(|(_, uid)| uid).collect()
}

/// Where one of a CronJob's Jobs is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// It still runs.
    Running,
    /// It finished; `true` when Complete.
    Finished(bool),
    /// It was deleted.
    Gone,
}

impl RunState {
    /// Where a Job with the stored `status` is (`Gone` is the caller's to
    /// say: a deleted or missing Job).
    pub fn of(status: &serde_json::Value) -> RunState {
        let status: JobStatus = serde::Deserialize::deserialize(status).unwrap_or_default();
        match status.is_finished() {
            false => RunState::Running,
            true => RunState::Finished(status.phase() == "Complete"),
        }
    }
}

/// A CronJob's finished runs still kept, and its latest successful time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Finished Jobs not pruned yet.
    pub finished: Vec<FinishedRun>,
    /// The scheduled time of the latest run that succeeded.
    pub last_successful: Option<Micros>,
}

impl History {
    /// The active runs whose Jobs finished move to the history; those whose
    /// Jobs were deleted are forgotten. The scheduled times of the runs
    /// that just failed.
    pub fn follow(
        &mut self,
        observed: &mut Observed,
        state: impl Fn(&str) -> RunState,
    ) -> Vec<Micros> {
        let mut failed = Vec::new();
        let mut still = Vec::new();
        for (uid, scheduled) in std::mem::take(&mut observed.active) {
            match state(&uid) {
                RunState::Running => still.push((uid, scheduled)),
                RunState::Finished(succeeded) => {
                    match succeeded {
                        true => self.last_successful = Some(scheduled),
                        false => failed.push(scheduled),
                    }
                    self.finished.push(FinishedRun {
                        uid,
                        scheduled,
                        succeeded,
                    });
                }
                RunState::Gone => {}
            }
        }
        observed.active = still;
        failed
    }

    /// The finished Jobs the spec's history limits no longer keep, oldest
    /// first; they leave the history.
    pub fn prune(&mut self, spec: &CronJobSpec) -> Vec<String> {
        let (successful, failed) = history_limits(spec);
        let doomed = prune(&self.finished, successful, failed);
        self.finished.retain(|f| !doomed.contains(&f.uid));
        doomed
    }
}

/// `successfulJobsHistoryLimit` and `failedJobsHistoryLimit`, with
/// Kubernetes' defaults (3 and 1).
pub fn history_limits(spec: &CronJobSpec) -> (usize, usize) {
    let successful = spec.successful_jobs_history_limit.unwrap_or(3).max(0);
    let failed = spec.failed_jobs_history_limit.unwrap_or(1).max(0);
    (successful as usize, failed as usize)
}

/// The status: the active Jobs (those `reference` knows), the last
/// scheduled time decided, and the last that succeeded.
pub fn status(
    observed: &Observed,
    history: &History,
    reference: impl Fn(&str) -> Option<ObjectReference>,
) -> CronJobStatus {
    CronJobStatus {
        active: observed
            .active
            .iter()
            .filter_map(|(uid, _)| reference(uid))
            .collect(),
        last_schedule_time: observed.last_schedule.map(rfc3339),
        last_successful_time: history.last_successful.map(rfc3339),
        remaining_runs: observed.remaining,
        buffered_times: observed.buffered.iter().map(|&t| rfc3339(t)).collect(),
        backfill: observed.backfill.as_ref().map(|b| BackfillStatus {
            request: b.request.clone(),
            overlap: b.overlap,
            waiting: (b.waiting.iter())
                .map(|(t, replaces)| BackfillRun {
                    time: rfc3339(*t),
                    replaces: replaces.clone(),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_moves_to_the_history_and_a_deleted_one_is_forgotten() {
        let mut observed = Observed {
            active: vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)],
            ..Observed::default()
        };
        let mut history = History::default();
        history.follow(&mut observed, |uid| match uid {
            "a" => RunState::Finished(true),
            "b" => RunState::Gone,
            _ => RunState::Running,
        });
        assert_eq!(observed.active, [("c".to_owned(), 3)]);
        assert_eq!(history.last_successful, Some(1));
        assert_eq!(history.finished.len(), 1);
    }

    #[test]
    fn history_limits_default_to_three_and_one() {
        let spec = CronJobSpec::default();
        assert_eq!(history_limits(&spec), (3, 1));
        let none = CronJobSpec {
            successful_jobs_history_limit: Some(0),
            failed_jobs_history_limit: Some(-1),
            ..CronJobSpec::default()
        };
        assert_eq!(history_limits(&none), (0, 0));
        let mut history = History {
            finished: (0..5)
                .map(|i| FinishedRun {
                    uid: format!("j{i}"),
                    scheduled: i,
                    succeeded: true,
                })
                .collect(),
            last_successful: None,
        };
        assert_eq!(history.prune(&spec), ["j0", "j1"]);
        assert_eq!(history.finished.len(), 3);
    }
}
