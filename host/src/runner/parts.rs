//! The parts a runner owns, and what it does with several of them at once:
//! hand the drivers a [`Pass`], carry out what CronJobs ask of the Jobs,
//! add objects to their drivers, delete objects, commit. The loop
//! ([`super::node`]), the commands and the cluster part work through these.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::budget::Budget;
use super::config::RunnerConfig;
use super::cron::Asks;
use super::cron::{CronDriver, CronRun};
use super::daemon::{DaemonDriver, DaemonRun};
use super::driver::{Driver, Pass, take_joining};
use super::jobs::{JobDriver, JobRun};
use super::journal::Journal;
use super::launcher::Launcher;
use super::nodes::ClusterNodes;
use super::observer::Observer;
use super::pulls::Pulls;
use super::quotas::Quotas;
use crate::executor::StartGate;
use crate::runtime::Runtime;
use crate::store::{StoreError, Write};
use crate::time::Micros;

/// An observer for passes that end no instance or Job (a delete, a
/// shutdown): nothing is told.
pub(super) struct Silent;

impl Observer for Silent {
    fn instance_ended(&mut self, _: &str, _: &crate::store::InstanceRecord, _: u32, _: &[u8]) {}
    fn job_ended(&mut self, _: &str, _: &crate::manifest::JobStatus) {}
}

/// Everything a runner owns but its inbox and its cluster part.
pub(super) struct Parts {
    pub journal: Journal,
    pub launcher: Launcher,
    pub config: RunnerConfig,
    pub runtime: Arc<Runtime>,
    pub jobs: JobDriver,
    pub crons: CronDriver,
    pub daemons: DaemonDriver,
    /// Closed while the node drains or cannot write its store.
    pub gate: Arc<StartGate>,
    /// Set by a shutdown command: no new instances; stop at this time.
    pub draining: Option<Micros>,
    /// Jobs waiting for their registry images.
    pub pulls: super::pulls::Pulls,
    /// The namespaces' quotas, as last read.
    pub quotas: Quotas,
}

/// The three drivers, mutably, beside what a pass borrows, and the Jobs
/// waiting for their images.
pub(super) struct Drivers<'a> {
    pub jobs: &'a mut JobDriver,
    pub crons: &'a mut CronDriver,
    pub daemons: &'a mut DaemonDriver,
    pub pulls: &'a mut Pulls,
}

impl Parts {
    /// Whether the node starts new work.
    pub(super) fn starts(&self) -> bool {
        self.gate.is_open()
    }

    /// Runs `f` with the drivers and a pass at `now` whose writes go to
    /// `writes`, then carries out what the drivers asked of each other.
    pub(super) fn with_pass<R>(
        &mut self,
        (now, writes): (Micros, &mut Vec<Write>),
        observer: &mut dyn Observer,
        cluster: Option<&ClusterNodes>,
        f: impl FnOnce(&mut Drivers<'_>, &mut Pass<'_>) -> R,
    ) -> R {
        let starts = self.starts();
        let budget = self.budget();
        self.quotas.refresh(self.journal.store(), now);
        let instance_quotas = self.quotas.instances();
        let budget = match instance_quotas.is_empty() {
            false => {
                let held = self.quota_held(cluster.is_some());
                budget.with_quotas(instance_quotas, &held, self.quotas.shares())
            }
            true => budget,
        };
        let mut pass = Pass {
            now,
            writes,
            node: &self.config,
            launcher: &self.launcher,
            store: self.journal.store(),
            observer,
            cluster,
            starts,
            deferred: false,
            budget,
            job_room: self.quotas.job_room(),
            enforced: self.quotas.enforced(),
        };
        let mut drivers = Drivers {
            jobs: &mut self.jobs,
            crons: &mut self.crons,
            daemons: &mut self.daemons,
            pulls: &mut self.pulls,
        };
        let result = f(&mut drivers, &mut pass);
        let asks = drivers.crons.take_asks();
        carry_out(asks, (drivers.jobs, drivers.pulls), &mut pass);
        let deferred = pass.deferred;
        let waiting = pass.budget.waiting();
        self.quotas.note_waiting(waiting);
        if deferred {
            self.journal.defer();
        }
        result
    }

    /// What each namespace's instances hold of its quotas on instances and
    /// their memory: its Jobs' (in a cluster, those of its Jobs spread over
    /// the cluster wherever they run: this node's share counts them) and
    /// its DaemonSets' instances here.
    pub(super) fn quota_held(&self, clustered: bool) -> BTreeMap<String, (i64, i64)> {
        let mut held = self.jobs.held_for_quotas(clustered);
        for (namespace, (pods, memory)) in self.daemons.held_by_namespace() {
            let entry = held.entry(namespace).or_default();
            entry.0 += pods;
            entry.1 += memory;
        }
        held
    }

    /// The node's room at a pass (see [`Budget`]): its capacity less the
    /// instances running here, its extended resources less what they hold.
    fn budget(&self) -> Budget {
        let config = &self.config;
        if config.capacity.is_none() && config.resources.is_empty() {
            return Budget::new(None, &config.resources, 0, &Default::default());
        }
        let running = self.jobs.running_here() + self.daemons.running_here();
        // What instances hold counts only where the node has something to
        // hold (most nodes advertise no extended resources).
        let mut held = std::collections::BTreeMap::new();
        if !config.resources.is_empty() {
            held = self.jobs.extended_held();
            for (name, count) in self.daemons.extended_held() {
                *held.entry(name).or_default() += count;
            }
        }
        Budget::new(config.capacity, &config.resources, running, &held)
    }

    /// Stages writes for the next group commit (see [`Journal::stage`]).
    pub(super) fn stage(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.journal.set_finishing(self.jobs.finishing());
        self.journal.stage(writes, &mut self.jobs)
    }

    /// Commits everything staged.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        self.journal.flush(&mut self.jobs)
    }

    /// Stages `writes` and commits now (see [`Journal::commit_now`]).
    pub(super) fn commit_now(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.journal.commit_now(writes, &mut self.jobs)
    }

    /// Records the Jobs in the store (one transaction) and runs them.
    pub(super) fn add_jobs(&mut self, mut runs: Vec<JobRun>) -> Result<(), StoreError> {
        self.commit_now(take_joining(&mut runs))?;
        self.jobs.extend(runs);
        Ok(())
    }

    /// Records resumed or new CronJobs and runs them.
    pub(super) fn add_crons(&mut self, mut runs: Vec<CronRun>) -> Result<(), StoreError> {
        self.commit_now(take_joining(&mut runs))?;
        self.crons.extend(runs);
        Ok(())
    }

    /// Records resumed or new DaemonSets and runs them.
    pub(super) fn add_daemons(&mut self, mut runs: Vec<DaemonRun>) -> Result<(), StoreError> {
        self.commit_now(take_joining(&mut runs))?;
        self.daemons.extend(runs);
        Ok(())
    }

    /// Deletes objects by uid, whatever their kind: what runs of them is
    /// stopped (a CronJob's Jobs go with it), their rows stay as history.
    pub(super) fn delete(&mut self, uids: &[String], now: Micros) -> Result<usize, StoreError> {
        let mut writes = Vec::new();
        self.with_pass((now, &mut writes), &mut Silent, None, |drivers, pass| {
            for uid in uids {
                let _ = drivers.pulls.remove(uid)
                    || drivers.crons.delete(uid, "Deleted", pass)
                    || drivers.daemons.delete(uid, "Deleted", pass)
                    || drivers.jobs.delete(uid, "Deleted", pass);
                let at = pass.now;
                pass.writes.push(Write::ObjectDeleted {
                    uid: uid.clone(),
                    at,
                });
            }
        });
        self.commit_now(writes)?;
        Ok(uids.len())
    }
}

impl Parts {
    /// Starts the pulls and compiles due now (see [`Pulls::start_due`]).
    pub(super) fn start_pulls(&mut self, now: Micros, writes: &mut Vec<Write>) -> Option<Micros> {
        let (store, keyring) = (self.journal.store(), &self.config.keyring);
        self.pulls.start_due(now, store, keyring, writes)
    }
}

/// Carries out what the CronJobs asked of the Job driver: Jobs created run
/// from now on (or first wait for their images), Jobs deleted are stopped
/// and marked deleted (their rows stay as history).
fn carry_out(asks: Asks, (jobs, pulls): (&mut JobDriver, &mut Pulls), pass: &mut Pass<'_>) {
    let (waiting, ready): (Vec<JobRun>, Vec<JobRun>) =
        (asks.create_jobs.into_iter()).partition(JobRun::waits_for_pull);
    jobs.extend(ready);
    for run in waiting {
        let (record, job) = run.into_waiting();
        pulls.add(record, job, pass.now);
    }
    for (uid, reason) in asks.delete_jobs {
        pulls.remove(&uid);
        jobs.delete(&uid, reason, pass);
        let at = pass.now;
        pass.writes.push(Write::ObjectDeleted { uid, at });
    }
}
