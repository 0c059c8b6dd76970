//! The runner: a node's loop. It owns its parts — the journal, one driver
//! per workload kind, the launcher, and in a cluster the cluster part —
//! and at each pass hands each the time and what it needs: the drivers ask
//! their controllers and carry the decisions out, the journal commits.
//! Between passes it waits on its inbox for instance ends and commands.
//! `wasmjob run` drives it until every Job has settled; `wasmjob serve`
//! drives it until shutdown.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::cluster::{Cluster, ClusterConfig};
use super::config::RunnerConfig;
use super::configs::StoredConfigs;
use super::cron::{CronDriver, CronRun};
use super::daemon::{DaemonDriver, DaemonRun};
use super::driver::Driver;
use super::inbox::{Event, Inbox};
use super::jobs::{JobDriver, JobRun};
use super::journal::Journal;
use super::launcher::{Launcher, LauncherParts};
use super::observer::Observer;
use super::parts::{Parts, Silent};
use super::pulls::{Ended, Following, Pulled, Pulls};
use crate::executor::{Finished, Lanes, StartGate};
use crate::runtime::Runtime;
use crate::store::{Checkpoints, Store, StoreError, Write};
use crate::time::{self, Micros, earliest};

/// Runs Jobs, CronJobs and DaemonSets on this node.
pub struct Runner {
    parts: Parts,
    /// A node of a cluster (see `cluster`).
    cluster: Option<Cluster>,
    events: Receiver<Event>,
    inbox: Inbox,
    /// When running attempts' output is next kept (see
    /// [`Runner::keep_running_output`]).
    next_keep: Micros,
}

/// How often what running attempts printed is kept in the history.
const KEEP_OUTPUT_EVERY: Micros = 250_000;

impl Runner {
    /// A runner that records into `store` and runs instances on `lanes`
    /// (the node's other tasks on its prompt one).
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        lanes: Lanes,
        config: RunnerConfig,
    ) -> Result<Self, StoreError> {
        let (inbox, events) = Inbox::new();
        let checkpoints = Arc::new(Checkpoints::open(store.path())?);
        match store.release_unrecorded_queue_items() {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} queue items held by unrecorded instances went back"),
            Err(e) => tracing::warn!("{e}"),
        }
        let gate = Arc::new(StartGate::default());
        let to_inbox = inbox.clone();
        let tell = Arc::new(move |pulled| {
            to_inbox.send(Event::Pulled(Box::new(pulled)));
        });
        let pulls = Pulls::new(tell, lanes.prompt.clone(), runtime.clone());
        let launcher = Launcher::new(
            LauncherParts {
                runtime: runtime.clone(),
                lanes,
                reports: Arc::new(inbox.clone()),
                checkpoints,
                db_path: store.path().to_path_buf(),
                gate: gate.clone(),
                configs: Arc::new(StoredConfigs::new(store.path(), config.keyring.clone())),
            },
            config.node_name.clone(),
            config.output_limit,
        );
        let parts = Parts {
            quotas: Default::default(),
            journal: Journal::new(store, gate.clone()),
            launcher,
            config,
            runtime,
            jobs: JobDriver::default(),
            crons: CronDriver::default(),
            daemons: DaemonDriver::default(),
            gate,
            draining: None,
            pulls,
        };
        Ok(Runner {
            parts,
            cluster: None,
            events,
            inbox,
            next_keep: 0,
        })
    }

    /// Where commands (and instance ends) are sent.
    pub fn sender(&self) -> Inbox {
        self.inbox.clone()
    }

    /// The store, for reading results afterwards (everything staged is
    /// committed when [`Runner::run`] or [`Runner::serve`] returns).
    pub fn store(&self) -> &Store {
        self.parts.journal.store()
    }

    /// Ends the runner, all it holds dropped as usual (an embedded queue's
    /// items leased ahead given back), and returns its store.
    pub fn into_store(self) -> Store {
        self.parts.journal.into_store()
    }

    /// Makes this runner a node of the cluster its store shares. Nothing
    /// here waits for the cluster's database: the node registers at its
    /// first cluster pass, whenever the database answers.
    pub fn join_cluster(&mut self, config: ClusterConfig) {
        let store = self.store();
        let control = store
            .control_plane()
            .expect("a cluster runner's store is shared by a cluster");
        let link = store.link().expect("a cluster store has a link");
        let inbox = self.inbox.clone();
        let wake = Box::new(move || inbox.send(Event::ClusterChanged));
        self.cluster = Some(Cluster::join(control, link, config, wake));
        self.parts.jobs.join_cluster();
        // A share this node's file kept is still counted by the others.
        let kept = self.store().quota_shares().unwrap_or_default();
        self.parts.quotas.share_across_cluster(kept);
    }

    /// Records the Jobs in the store (one transaction) and adds them to the run.
    pub fn add(&mut self, jobs: Vec<JobRun>) -> Result<(), StoreError> {
        self.parts.add_jobs(jobs)
    }

    /// Records resumed or new CronJobs and adds them to the loop.
    pub fn add_crons(&mut self, crons: Vec<CronRun>) -> Result<(), StoreError> {
        self.parts.add_crons(crons)
    }

    /// Records new or resumed DaemonSets and adds them to the loop.
    pub fn add_daemons(&mut self, daemons: Vec<DaemonRun>) -> Result<(), StoreError> {
        self.parts.add_daemons(daemons)
    }

    /// Resumes what the store holds that an earlier process left
    /// unfinished (see `resume`); how many objects.
    pub fn resume(&mut self) -> Result<usize, StoreError> {
        self.parts.resume(self.cluster.is_some())
    }

    /// Runs until every Job has finished; returns their uids in order.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<Vec<String>, StoreError> {
        loop {
            let wake = self.tick(observer)?;
            if self.parts.jobs.settled() {
                self.parts.flush()?;
                return Ok(self.parts.jobs.uids().map(str::to_owned).collect());
            }
            self.wait(wake, observer)?;
        }
    }

    /// Runs objects as they are applied, until a shutdown command has
    /// drained (or its grace period ran out).
    pub fn serve(&mut self, observer: &mut dyn Observer) -> Result<(), StoreError> {
        self.parts.journal.hold_on_errors();
        loop {
            let wake = match self.parts.draining {
                None => self.tick(observer)?,
                Some(until) => {
                    if self.nothing_runs_here() || time::now() >= until {
                        self.parts.flush()?;
                        return self.interrupt_all();
                    }
                    Some(until)
                }
            };
            // Finished Jobs stay in the store; the loop forgets them, once
            // their last status is staged.
            if self.parts.jobs.any_finished() {
                self.parts.journal.stage_deferred(&mut self.parts.jobs);
                self.parts.jobs.forget_finished();
            }
            self.wait(wake, observer)?;
        }
    }

    /// One pass over every object; returns when to look again at the latest.
    fn tick(&mut self, observer: &mut dyn Observer) -> Result<Option<Micros>, StoreError> {
        if let Some(retry_at) = self.parts.journal.retry(&mut self.parts.jobs)? {
            // Nothing new starts until what is held is written.
            let left = retry_at.saturating_duration_since(Instant::now());
            return Ok(Some(time::now() + left.as_micros() as Micros));
        }
        let now = time::now();
        let mut writes = self.parts.journal.scratch();
        let mut wake = None;
        if let Some(cluster) = &mut self.cluster {
            wake = cluster.sync(&mut self.parts, now, &mut writes)?;
            // Instances other nodes ended are counted before the Jobs decide.
            let spread = cluster.spread_pass(&mut self.parts, (now, &mut writes), observer);
            wake = earliest(wake, spread);
        }
        let nodes = self.cluster.as_ref().map(Cluster::nodes);
        let passed = self
            .parts
            .with_pass((now, &mut writes), observer, nodes, |d, pass| {
                let mut wake = d.jobs.tick(pass);
                // After the Jobs, so a CronJob sees the Jobs that finished just now.
                d.crons.follow_jobs(&Following(d.jobs, d.pulls), pass);
                wake = earliest(wake, d.crons.tick(pass));
                earliest(wake, d.daemons.tick(pass))
            });
        wake = earliest(wake, passed);
        if let Some(cluster) = &mut self.cluster {
            wake = earliest(wake, cluster.roll(&mut self.parts, now, &mut writes));
            // Instances the pass held back for want of this node's share
            // of their quota: ask again soon.
            wake = earliest(wake, cluster.share_wake(&self.parts, now));
        }
        wake = earliest(wake, self.keep_running_output(now, &mut writes));
        wake = earliest(wake, self.parts.start_pulls(now, &mut writes));
        self.parts.stage(writes)?;
        Ok(wake)
    }

    /// What running attempts printed since it was last kept goes to the
    /// history four times a second (see `runtime::live`): a node killed loses
    /// at most that, and an attempt's end writes its whole output over it.
    fn keep_running_output(&mut self, now: Micros, writes: &mut Vec<Write>) -> Option<Micros> {
        if !crate::runtime::live::any_running() {
            return None;
        }
        if now >= self.next_keep {
            for grown in crate::runtime::live::grown_since_kept() {
                writes.push(Write::Log {
                    instance_uid: grown.instance_uid,
                    attempt: grown.attempt,
                    data: grown.data,
                    truncated: false,
                    times: grown.times,
                });
            }
            self.next_keep = now + KEEP_OUTPUT_EVERY;
        }
        Some(self.next_keep)
    }

    /// Shutdown: what still runs after the grace period is recorded as
    /// interrupted (`NodeShutdown`, a disruption); the objects stay
    /// unfinished and resume at the next start.
    fn interrupt_all(&mut self) -> Result<(), StoreError> {
        let now = time::now();
        let mut writes = Vec::new();
        let nodes = self.cluster.as_ref().map(Cluster::nodes);
        self.parts
            .with_pass((now, &mut writes), &mut Silent, nodes, |d, pass| {
                d.jobs.interrupt(pass);
                d.daemons.interrupt(pass);
            });
        if let Some(cluster) = &mut self.cluster {
            cluster.interrupt_hosted(now, &mut writes);
        }
        self.parts.commit_now(writes)
    }

    /// Whether no instance runs on this node (daemons aside): a drain is over.
    fn nothing_runs_here(&self) -> bool {
        self.parts.jobs.nothing_here() && self.cluster.as_ref().is_none_or(Cluster::hosts_nothing)
    }

    fn wait(
        &mut self,
        wake: Option<Micros>,
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        // Wake for the group commit too, if it comes first.
        let wake = earliest(wake, self.parts.journal.flush_at());
        observer.caught_up();
        self.parts.jobs.pause_for_relays(wake);
        let first = match wake {
            None => self.events.recv().ok(),
            Some(at) => {
                let timeout = Duration::from_micros((at - time::now()).max(0) as u64);
                match self.events.recv_timeout(timeout) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => return self.parts.stage(Vec::new()),
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(first) = first else {
            return self.parts.stage(Vec::new());
        };
        let mut writes = self.parts.journal.scratch();
        self.handle(first, &mut writes, observer)?;
        // Everything else that arrived meanwhile is recorded together —
        // until the next pass is due: under a flood of ends the queue is
        // never empty, and a CronJob's time must not wait for it to be.
        while wake.is_none_or(|at| time::now() < at)
            && let Ok(more) = self.events.try_recv()
        {
            self.handle(more, &mut writes, observer)?;
        }
        // Committed by the pass that follows, which gives the room these
        // ends freed before that commit rather than after it; what must
        // be durable first commits now.
        match writes.iter().any(Write::is_urgent) {
            true => self.parts.stage(writes),
            false => {
                self.parts.journal.append_kept(writes);
                Ok(())
            }
        }
    }

    fn handle(
        &mut self,
        event: Event,
        writes: &mut Vec<Write>,
        observer: &mut dyn Observer,
    ) -> Result<(), StoreError> {
        match event {
            Event::Finished(done) => {
                self.record(done, writes, observer);
                Ok(())
            }
            Event::Waiting(waiting) => {
                let nodes = self.cluster.as_ref().map(Cluster::nodes);
                let now = crate::time::now();
                let recorded = self
                    .parts
                    .with_pass((now, writes), observer, nodes, |d, pass| {
                        d.jobs.instance_waiting(&waiting, pass)
                            || d.daemons.instance_waiting(&waiting, pass)
                    });
                if !recorded && let Some(cluster) = &mut self.cluster {
                    cluster.hosted_waiting(&waiting, now, writes);
                }
                Ok(())
            }
            // What changed is read at the next pass, which follows now.
            Event::ClusterChanged => Ok(()),
            Event::Pulled(pulled) => {
                // A Job that starts commits its pinned manifest first, after
                // what was recorded before.
                self.parts.journal.append(writes);
                self.parts.flush()?;
                self.pulled(*pulled)
            }
            Event::Command(command) => {
                // A command commits its own writes (an apply is all or
                // nothing), after what was recorded before it, which is
                // kept even if the store cannot take it now.
                self.parts.journal.append(writes);
                self.parts.flush()?;
                let control = self.cluster.as_ref().map(Cluster::control);
                self.parts.command(command, control.as_deref())
            }
        }
    }

    /// A pull or compile ended: its Job waits again or runs from now on.
    fn pulled(&mut self, pulled: Pulled) -> Result<(), StoreError> {
        let parts = &mut self.parts;
        match parts
            .pulls
            .finish(pulled, parts.journal.store(), time::now())?
        {
            Ended::Gone => Ok(()),
            Ended::Waits(writes) => parts.commit_now(writes),
            Ended::Runs(writes, run) => {
                parts.commit_now(writes)?;
                parts.jobs.extend([*run]);
                Ok(())
            }
        }
    }

    /// An instance run ended: its driver records it (or, in a cluster, the
    /// part that hosts it for another node); one stopped meanwhile is
    /// already recorded.
    fn record(&mut self, mut done: Finished, writes: &mut Vec<Write>, observer: &mut dyn Observer) {
        let nodes = self.cluster.as_ref().map(Cluster::nodes);
        let now = done.finished;
        let recorded = self
            .parts
            .with_pass((now, writes), observer, nodes, |d, pass| {
                d.jobs.instance_ended(&mut done, pass) || d.daemons.instance_ended(&mut done, pass)
            });
        if !recorded && let Some(cluster) = &mut self.cluster {
            cluster.record_hosted(&mut self.parts, &mut done, writes);
        }
    }
}
