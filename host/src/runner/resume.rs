//! Resuming at start: every object the store holds that an earlier process
//! left unfinished is run again — Jobs where they were (instances that were
//! running ended as `NodeRestart`), CronJobs after their last decided time,
//! DaemonSets with fresh instances. In a cluster a node resumes what it
//! owned; the rest is other nodes' or is claimed at the first cluster pass.
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
use super::writes::event;
use crate::admission::{self, Refused};
use crate::controller::Event;
use crate::manifest::{JobStatus, Kind, Object};
use crate::runtime::Prepared;
use crate::store::{ControlPlane, ObjectRecord, StoreError, Write};
use crate::time::{self, Micros};

impl Parts {
    /// Resumes what the store holds; how many objects.
    pub(super) fn resume(
        &mut self,
        control: Option<&dyn ControlPlane>,
    ) -> Result<usize, StoreError> {
        let now = time::now();
        let node = self.config.node_name.clone();
        // In a cluster, a node resumes what it owned.
        let mine = |uid: &str| match control {
            Some(control) => control
                .ownership(&[uid.to_owned()])
                .ok()
                .and_then(|o| o.into_iter().next())
                .is_some_and(|o| o.owner.as_deref() == Some(node.as_str())),
            None => true,
        };
        let mut refused = Vec::new();
        let jobs = self.admitted(Kind::Job, &mine, &mut refused, now)?;
        let crons = self.admitted(Kind::CronJob, &mine, &mut refused, now)?;
        let daemons = self.admitted(Kind::DaemonSet, &|_| true, &mut refused, now)?;
        let count = jobs.len() + crons.len() + daemons.len();
        let here = control.is_some().then_some(node.as_str());
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

    /// The live objects of `kind` this node resumes (`mine`, and a Job not
    /// finished), each with its module admitted; the events of those
    /// refused go to `refused`.
    fn admitted(
        &self,
        kind: Kind,
        mine: &dyn Fn(&str) -> bool,
        refused: &mut Vec<Write>,
        now: Micros,
    ) -> Result<Vec<Admitted>, StoreError> {
        let store = self.journal.store();
        let mut admitted = Vec::new();
        for record in store.live_objects(kind, None)? {
            if !mine(&record.uid) || (kind == Kind::Job && finished(&record)) {
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

/// A stored object admitted again, with its module.
type Admitted = (ObjectRecord, Object, std::sync::Arc<Prepared>);

/// Whether a stored Job has finished.
fn finished(record: &ObjectRecord) -> bool {
    let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
    status.is_finished()
}
