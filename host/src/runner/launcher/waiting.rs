//! Attempts that wait for their references: a task of their own looks
//! again every [`RECHECK`] and starts the attempt once everything it
//! refers to is there, telling the runner as it goes (see `Reports::waiting`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use super::{Attempt, Core};
use crate::executor::references::Missing;
use crate::executor::{Lane, Launch, Relay, Waiting};
use crate::manifest::Job;
use crate::runtime::Prepared;
use crate::store::InstanceRecord;

/// How often a waiting attempt looks again for what it refers to.
pub(super) const RECHECK: Duration = Duration::from_millis(500);

/// What a waiting attempt's next look found.
pub(super) enum Retry {
    /// Everything is there: the attempt, ready to run.
    Ready(Launch),
    /// It cannot start at all.
    Failed(String),
    /// Something is still missing.
    Waiting(Missing),
}

/// An attempt of a Job's instance, owned by the task that waits for it.
pub(super) struct OwnedAttempt {
    pub(super) job: Job,
    pub(super) job_uid: String,
    pub(super) prepared: Arc<Prepared>,
    pub(super) record: InstanceRecord,
    pub(super) attempt: u32,
    pub(super) failed_before: u32,
}

impl OwnedAttempt {
    pub(super) fn of(attempt: &Attempt<'_>) -> Self {
        OwnedAttempt {
            job: attempt.job.clone(),
            job_uid: attempt.job_uid.to_owned(),
            prepared: attempt.prepared.clone(),
            record: attempt.record.clone(),
            attempt: attempt.attempt,
            failed_before: attempt.failed_before,
        }
    }

    pub(super) fn view(&self) -> Attempt<'_> {
        Attempt {
            job: &self.job,
            job_uid: &self.job_uid,
            prepared: &self.prepared,
            record: &self.record,
            attempt: self.attempt,
            failed_before: self.failed_before,
        }
    }
}

impl Core {
    /// An attempt that waits for its references: told to the runner, then
    /// looked at again every [`RECHECK`] in a task of its own, which runs
    /// the attempt once `retry` has it ready (so the one handle stops the
    /// wait or the run).
    pub(super) fn wait(
        self: &Arc<Self>,
        uid: String,
        attempt: u32,
        missing: Missing,
        mut retry: Box<dyn FnMut() -> Retry + Send>,
        relay: Option<Relay>,
    ) -> AbortHandle {
        let core = self.clone();
        let reports = self.executor.reports();
        let failed_uid = uid.clone();
        let tell = move |missing: Option<Missing>| {
            reports.waiting(Waiting {
                instance_uid: uid.clone(),
                attempt,
                missing,
            })
        };
        let task = self.executor.handle().spawn(async move {
            let mut shown = missing;
            tell(Some(shown.clone()));
            loop {
                tokio::time::sleep(RECHECK).await;
                match retry() {
                    Retry::Waiting(missing) => {
                        if missing != shown {
                            tell(Some(missing.clone()));
                            shown = missing;
                        }
                    }
                    Retry::Ready(launch) => {
                        tell(None);
                        // Where it waited: on the prompt workers.
                        core.executor.run_slot(launch, relay, Lane::Prompt).await;
                        return;
                    }
                    Retry::Failed(message) => {
                        tell(None);
                        core.unstarted(&failed_uid, attempt, message);
                        return;
                    }
                }
            }
        });
        task.abort_handle()
    }
}
