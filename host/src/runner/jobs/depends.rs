//! `dependsOn` at each pass: before a Job that waits for other Jobs starts,
//! where each of them stands — from the Jobs this node runs, else from the
//! store (a finished Job is forgotten by the driver but stays stored; in a
//! cluster, another node's Job is found there too). Once met, never looked
//! at again: a dependency deleted later changes nothing.

use super::JobDriver;
use crate::controller::cronjob::RunState;
use crate::controller::job::depends::{self, Dependencies};
use crate::manifest::Kind;
use crate::store::Store;
use crate::time::Micros;

impl JobDriver {
    /// Looks at the dependencies of the Job at `index` if it waits for
    /// any and has not started, at most every [`depends::DEPENDENCY_POLL`].
    pub(super) fn observe_dependencies(&mut self, index: usize, store: &Store, now: Micros) {
        let run = &self.runs[index];
        let waits = !run.job.spec.depends_on.is_empty()
            && run.observed.start_time.is_none()
            && !matches!(run.observed.dependencies, Some(Dependencies::Met));
        if !waits || now < run.dependencies_checked + depends::DEPENDENCY_POLL {
            return;
        }
        let namespace = &run.record.namespace;
        let state = |name: &str| {
            let mine =
                |r: &&super::JobRun| r.record.name == name && &r.record.namespace == namespace;
            match self.runs.iter().find(mine) {
                Some(other) if other.finished => {
                    RunState::Finished(other.status.phase() == "Complete")
                }
                Some(_) => RunState::Running,
                None => stored(store, namespace, name),
            }
        };
        let found = depends::check(&run.job.spec.depends_on, state);
        let run = &mut self.runs[index];
        run.dependencies_checked = now;
        run.observed.dependencies = Some(found);
    }
}

/// Where the stored Job `namespace/name` stands.
fn stored(store: &Store, namespace: &str, name: &str) -> RunState {
    let Ok(Some(job)) = store.live_object(Kind::Job, namespace, name) else {
        return RunState::Gone;
    };
    RunState::of(&job.status)
}
