//! Taking a Job or CronJob over: an unowned one, or one whose owner's
//! lease ran out (never a pinned one). What the cluster has of it — the
//! object, its instances, a CronJob's decided times and their Jobs — is
//! copied into this node's file first, so the node runs it from there
//! like anything it owns, and resumes it there after a restart.

use super::Cluster;
use crate::admission;
use crate::manifest::Object;
use crate::runner::cron::CronRun;
use crate::runner::jobs::{EndedWith, JobRun, spreadable};
use crate::runner::parts::Parts;
use crate::store::{Claimable, StoreError, Write};
use crate::time::Micros;

/// A CronJob taken over brings along the Jobs of its latest decided
/// times, at most this many (older ones have long finished).
const CRON_JOBS_KEPT: usize = 50;

impl Cluster {
    /// Takes the Jobs and CronJobs that nobody runs, or whose owner's lease
    /// ran out.
    pub(super) fn claim(&mut self, parts: &mut Parts, now: Micros) -> Result<(), StoreError> {
        if parts.draining.is_some() {
            return Ok(());
        }
        for candidate in self.control.claimable(self.config.grace)? {
            self.take_over(parts, candidate, now)?;
        }
        Ok(())
    }

    /// Takes one claimable object over, if this node can run it and its
    /// module is admitted.
    fn take_over(
        &mut self,
        parts: &mut Parts,
        candidate: Claimable,
        now: Micros,
    ) -> Result<(), StoreError> {
        let Claimable { record, owner } = candidate;
        let lost = owner.as_deref();
        let Ok(object) = admission::stored_object(&record) else {
            return Ok(());
        };
        if let Object::Job(job) = &object {
            // Any node may own a Job whose instances spread; one whose
            // instances stay with it must match it.
            let placement = job.spec.template.spec.placement();
            let node = &parts.config;
            let demand = job.spec.template.spec.extended_resources();
            let fits = crate::manifest::has_resources(&demand, &node.resources);
            let here = placement.admits(&node.node_labels, &node.node_taints) && fits;
            if !spreadable(job) && !here {
                return Ok(());
            }
        }
        let Some(prepared) = self.refusals.admit(parts, &record, &object)? else {
            return Ok(());
        };
        let Some(claimed) = self.control.claim(&record.uid, lost, self.config.grace)? else {
            return Ok(());
        };
        parts.journal.store_mut().mirror_object(&record, true)?;
        match object {
            Object::Job(job) => {
                let instances = self.control.instances_of(&record.uid)?;
                let copies: Vec<Write> = instances.iter().cloned().map(Write::Instance).collect();
                parts.journal.store_mut().mirror(&copies)?;
                tracing::info!(job = %record.name, from = ?lost, "cluster: took a Job over");
                let ended = match lost {
                    Some(node) => EndedWith::Lost(node),
                    None => EndedWith::Restart { node: None },
                };
                let run = JobRun::take_over(record, job, prepared, instances, now, ended);
                parts.add_jobs(vec![run])
            }
            Object::CronJob(cron) => {
                self.copy_cron_runs(parts, &record.uid)?;
                tracing::info!(cronjob = %record.name, from = ?lost, fence = ?claimed.fence, "cluster: took a CronJob over");
                let store = parts.journal.store();
                let mut run = CronRun::resume_stored(store, record, cron, prepared)?;
                run.fence(claimed.fence);
                parts.add_crons(vec![run])
            }
            Object::DaemonSet(_) | Object::Config(_) => Ok(()),
        }
    }

    /// A CronJob's decided times, and the Jobs of the latest, as the
    /// cluster has them, into this node's file.
    fn copy_cron_runs(&mut self, parts: &mut Parts, uid: &str) -> Result<(), StoreError> {
        let runs = self.control.cron_runs(uid)?;
        let skip = runs.len().saturating_sub(CRON_JOBS_KEPT);
        for job in runs.iter().skip(skip).filter_map(|(_, job)| job.as_deref()) {
            if let Some(record) = self.control.object(job)? {
                parts.journal.store_mut().mirror_object(&record, false)?;
            }
        }
        let copies: Vec<Write> = runs
            .into_iter()
            .map(|(scheduled, job_uid)| Write::CronRun {
                cronjob_uid: uid.to_owned(),
                scheduled,
                job_uid,
                replaces: None,
            })
            .collect();
        parts.journal.store_mut().mirror(&copies)
    }
}
