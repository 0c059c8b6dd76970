//! Resuming at start: every object the store holds that an earlier process
//! left unfinished is run again — Jobs where they were (instances that were
//! running ended as `NodeRestart`), CronJobs after their last decided time,
//! DaemonSets with fresh instances. In a cluster a node resumes what its
//! own file says it held — without waiting for the cluster's database, so
//! a node that restarts while the database is away runs its pinned work
//! at once; what another node took meanwhile is dropped at the first
//! cluster pass (see `cluster::follow`), and what it ran for other nodes'
//! Jobs ended with the restart.
//!
//! Each object's module is admitted again by the same rules as when it was
//! applied (see [`crate::admission`]). One that is refused — its module
//! missing, or not acceptable under today's rules — does not run: the node
//! says why once at start, and the object gets a `FailedCreate` event, as a
//! Kubernetes controller reports a pod it cannot create; the node carries
//! on with the rest.

use super::cron::CronRun;
use super::daemon::DaemonRun;
use super::jobs::JobRun;
use super::parts::Parts;
use super::writes::{RESTART_MESSAGE, event};
use crate::admission::{self, Refused};
use crate::controller::{Event, job};
use crate::manifest::{JobStatus, Kind, Object};
use crate::runtime::Prepared;
use crate::store::{ObjectRecord, StoreError, Write};
use crate::time::{self, Micros};

impl Parts {
    /// Resumes what the store holds; how many objects. `clustered`: the
    /// node is one of a cluster's.
    pub(super) fn resume(&mut self, clustered: bool) -> Result<usize, StoreError> {
        let now = time::now();
        let node = self.config.node_name.clone();
        if clustered {
            let why = (job::NODE_RESTART, RESTART_MESSAGE);
            let ended = self.journal.store().end_hosted(&node, now, why)?;
            if ended > 0 {
                tracing::info!(
                    "{ended} instance(s) run here for other nodes ended with the restart"
                );
            }
        }
        let mut refused = Vec::new();
        let jobs = self.admitted(Kind::Job, &mut refused, now)?;
        let crons = self.admitted(Kind::CronJob, &mut refused, now)?;
        let daemons = self.admitted(Kind::DaemonSet, &mut refused, now)?;
        let waiting = self.waiting_for_pulls(now)?;
        let count = jobs.len() + crons.len() + daemons.len() + waiting;
        let here = clustered.then_some(node.as_str());
        let jobs = self.job_runs(jobs, here, now)?;
        let crons = self.cron_runs(crons)?;
        let daemons = self.daemon_runs(daemons, &node, now)?;
        self.commit_now(refused)?;
        self.add_jobs(jobs)?;
        self.add_crons(crons)?;
        self.add_daemons(daemons)?;
        Ok(count)
    }

    /// Jobs resumed where they were; in a cluster (`here` this node) only
    /// the instances that ran here ended with the restart.
    fn job_runs(
        &self,
        admitted: Vec<Admitted>,
        here: Option<&str>,
        now: Micros,
    ) -> Result<Vec<JobRun>, StoreError> {
        let mut runs = Vec::new();
        for (record, object, prepared) in admitted {
            let Object::Job(job) = object else { continue };
            let instances = self.journal.store().instances_of(&record.uid)?;
            runs.push(JobRun::resume(record, job, prepared, instances, now, here));
        }
        Ok(runs)
    }

    /// CronJobs resumed after their last decided time.
    fn cron_runs(&self, admitted: Vec<Admitted>) -> Result<Vec<CronRun>, StoreError> {
        let mut runs = Vec::new();
        for (record, object, prepared) in admitted {
            let Object::CronJob(cron) = object else {
                continue;
            };
            let store = self.journal.store();
            runs.push(CronRun::resume_stored(store, record, cron, prepared)?);
        }
        Ok(runs)
    }

    /// DaemonSets resumed with fresh instances on this node.
    fn daemon_runs(
        &self,
        admitted: Vec<Admitted>,
        node: &str,
        now: Micros,
    ) -> Result<Vec<DaemonRun>, StoreError> {
        let mut runs = Vec::new();
        for (record, object, prepared) in admitted {
            let Object::DaemonSet(ds) = object else {
                continue;
            };
            let instances = self.journal.store().instances_of(&record.uid)?;
            runs.push(DaemonRun::resume(
                record, ds, prepared, instances, node, now,
            ));
        }
        Ok(runs)
    }

    /// The live objects of `kind` this node resumes (every DaemonSet it
    /// has, the Jobs and CronJobs it holds, a Job not finished), each with
    /// its module admitted; the events of those refused go to `refused`.
    fn admitted(
        &self,
        kind: Kind,
        refused: &mut Vec<Write>,
        now: Micros,
    ) -> Result<Vec<Admitted>, StoreError> {
        let store = self.journal.store();
        let mut admitted = Vec::new();
        let records = match kind {
            Kind::DaemonSet => store.live_objects(kind, None)?,
            Kind::Job | Kind::CronJob => store.held_objects(kind)?,
            // Nothing of theirs runs.
            _ => Vec::new(),
        };
        for record in records {
            if kind == Kind::Job && (finished(&record) || waits_for_pull(&record)) {
                continue;
            }
            match admission::admit_stored(&record, &self.runtime, store) {
                Ok((object, a)) => admitted.push((record, object, a.prepared)),
                Err(Refused::Store(e)) => return Err(e),
                Err(Refused::Invalid(e)) => {
                    let message = match e.path.is_empty() {
                        true => e.message,
                        false => format!("{}: {}", e.path, e.message),
                    };
                    eprintln!(
                        "wasmjob serve: {}/{} is not resumed: {message}",
                        kind.qualified(),
                        record.name
                    );
                    let why = Event::warning("FailedCreate", format!("Error creating: {message}"));
                    refused.push(event(&record.uid, why, now));
                }
            }
        }
        Ok(admitted)
    }
}

impl Parts {
    /// The Jobs this node holds that still wait for their registry images
    /// or their compile wait again, from the next pass; how many.
    fn waiting_for_pulls(&mut self, now: Micros) -> Result<usize, StoreError> {
        let records = self.journal.store().held_objects(Kind::Job)?;
        let mut count = 0;
        for record in records.into_iter().filter(waits_for_pull) {
            if let Ok(Object::Job(job)) = admission::stored_object(&record) {
                self.pulls.add(record, job, now);
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Whether a stored Job still waits on this node (see `pulls`): for its
/// registry image, or for the compile of its module.
fn waits_for_pull(record: &ObjectRecord) -> bool {
    let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
    let object = admission::stored_object(record);
    crate::controller::image_pull::waiting_reason(&status).is_some()
        || object.is_ok_and(|o| crate::apply::waits_for_pull(&o))
}

/// A stored object admitted again, with its module.
type Admitted = (ObjectRecord, Object, std::sync::Arc<Prepared>);

/// Whether a stored Job has finished.
fn finished(record: &ObjectRecord) -> bool {
    let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
    status.is_finished()
}
