//! The executor: runs instances on this node. It turns an instance of a
//! template into a sandbox (argv, env, volumes, limits), runs it on the async
//! runtime, and reports how it ended through [`Reports`]. It decides
//! nothing; controllers do, and the runner carries their decisions out.
//!
//! - `sandbox`: an instance's sandbox, built from its template;
//! - `references`: what a template takes from ConfigMaps, Secrets and the
//!   instance itself, resolved for each attempt;
//! - `relay`: slots that start a Job's next instance themselves;
//! - `arrivals`: new slots start before relaying slots go on;
//! - `lanes`: bulk work on nicer workers, the rest beside the node's API;
//! - `pod`: instances of several modules (init containers, sidecars,
//!   several containers).

mod arrivals;
mod lanes;
pub mod pod;
pub mod references;
mod relay;
mod sandbox;

pub use lanes::{Lane, Lanes, bulk_runtime};
pub use relay::{GivenWay, Relay, RelayQueue, StartGate};
pub use sandbox::{AttemptDir, HostFiles, Identity, Sandbox, Scratch, sandbox, sandbox_of};

use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::manifest::Outcome;
use crate::runtime::{Prepared, RunReport, Runtime};
use crate::time::{self, Micros};

/// One instance to run.
pub struct Launch {
    /// Returned with the result.
    pub instance_uid: String,
    /// 0 for the first run, +1 per in-place restart.
    pub attempt: u32,
    /// When the instance was created (its start latency is measured from it).
    pub created: Micros,
    /// The compiled, linked module.
    pub prepared: Arc<Prepared>,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// Directories the attempt made (`emptyDir`s, volume files, `hostPath`
    /// files), removed when the run ends.
    pub scratch: Vec<AttemptDir>,
    /// The instance's other containers, when it has any (see [`pod`]).
    pub pod: Option<Box<pod::PodPlan>>,
}

/// Where the executor reports how each run ended: the runner's inbox,
/// which implements this. The executor knows nothing else of the runner.
pub trait Reports: Send + Sync + 'static {
    /// A run ended.
    fn finished(&self, done: Finished);

    /// An attempt waits for what its template refers to (or, `missing`
    /// `None`, has stopped waiting and starts).
    fn waiting(&self, waiting: Waiting);
}

/// An attempt that waits for a ConfigMap, Secret or key (see
/// [`references`]), or no longer does.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The instance.
    pub instance_uid: String,
    /// Which attempt.
    pub attempt: u32,
    /// What it waits for; `None` once it starts.
    pub missing: Option<references::Missing>,
}

/// How one run ended.
#[derive(Debug)]
pub struct Finished {
    /// The instance.
    pub instance_uid: String,
    /// Which attempt.
    pub attempt: u32,
    /// When the run started.
    pub started: Micros,
    /// When it ended.
    pub finished: Micros,
    /// Outcome and output.
    pub report: RunReport,
    /// The successor the slot started as this run ended (see [`Relay`]).
    pub relayed: Option<String>,
}

/// Runs instances on a tokio runtime and reports each [`Finished`].
pub struct Executor {
    runtime: Arc<Runtime>,
    lanes: Lanes,
    reports: Arc<dyn Reports>,
    /// Slots launched and not started yet, of each lane's workers (see
    /// `arrivals`).
    arrivals: [Arc<arrivals::Arrivals>; 2],
}

impl Executor {
    /// An executor that runs slots on `lanes` and whose results go to
    /// `reports`.
    pub fn new(runtime: Arc<Runtime>, lanes: Lanes, reports: Arc<dyn Reports>) -> Self {
        Executor {
            runtime,
            lanes,
            reports,
            arrivals: Default::default(),
        }
    }

    /// Starts a run on the prompt lane; the handle stops it (and no result
    /// is sent).
    pub fn launch(&self, launch: Launch) -> AbortHandle {
        self.launch_relayed(launch, None, Lane::Prompt)
    }

    /// Starts a run in a slot of `lane` that, with a `relay`, goes on with
    /// the successors the runner gives it as long as each run succeeds;
    /// the handle stops whichever runs.
    pub fn launch_relayed(&self, launch: Launch, relay: Option<Relay>, lane: Lane) -> AbortHandle {
        let arrival = self.arrivals_of(lane).arrive();
        let slot = self.run_slot(launch, relay, lane);
        let task = self.lanes.handle(lane).spawn(async move {
            drop(arrival);
            slot.await
        });
        task.abort_handle()
    }

    /// The slots launched and not started yet on the workers of `lane`
    /// (the prompt ones when the node has no others).
    fn arrivals_of(&self, lane: Lane) -> &Arc<arrivals::Arrivals> {
        match (lane, &self.lanes.bulk) {
            (Lane::Bulk, Some(_)) => &self.arrivals[1],
            _ => &self.arrivals[0],
        }
    }

    /// Runs a slot (as [`Executor::launch_relayed`] does) in the task that
    /// awaits it, a task on `lane`'s workers: an attempt that waited for
    /// its references starts in the task that waited, so one handle stops
    /// either.
    pub fn run_slot(
        &self,
        launch: Launch,
        relay: Option<Relay>,
        lane: Lane,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let runtime = self.runtime.clone();
        let reports = self.reports.clone();
        let arrivals = self.arrivals_of(lane).clone();
        async move {
            let mut launch = launch;
            loop {
                let started = time::now();
                crate::metrics::instance_started(launch.attempt, launch.created, started);
                let run = async {
                    match (&launch.sandbox, &launch.pod) {
                        (Sandbox::Own(spec), Some(plan)) => {
                            pod::run(&runtime, (&launch.prepared, spec), plan).await
                        }
                        (Sandbox::Own(spec), None) => {
                            runtime.run_shared(&launch.prepared, spec).await
                        }
                        (
                            Sandbox::OfJob {
                                spec,
                                instance_name,
                            },
                            _,
                        ) => {
                            let prepared = &launch.prepared;
                            runtime.run_named(prepared, spec, instance_name).await
                        }
                    }
                };
                let report =
                    crate::runtime::live::attempt_of(&launch.instance_uid, launch.attempt, run)
                        .await;
                let finished = time::now();
                crate::metrics::instance_ended(report.outcome.reason(), started, finished);
                drop(launch.scratch);
                let next = match &relay {
                    Some(relay) if report.outcome.succeeded() => relay.successor().await,
                    _ => None,
                };
                reports.finished(Finished {
                    instance_uid: launch.instance_uid,
                    attempt: launch.attempt,
                    started,
                    finished,
                    report,
                    relayed: next.as_ref().map(|n| n.instance_uid.clone()),
                });
                match next {
                    Some(next) => launch = next,
                    None => break,
                }
                arrivals.let_go_first().await;
            }
        }
    }

    /// The runtime its instances run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Where this executor reports.
    pub fn reports(&self) -> Arc<dyn Reports> {
        self.reports.clone()
    }

    /// The node's runtime, where its prompt slots run.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.lanes.prompt
    }

    /// Reports an attempt that could not even start, through the same channel
    /// as every other end, so the runner treats it uniformly.
    pub fn report_unstarted(
        &self,
        instance_uid: String,
        attempt: u32,
        outcome: Outcome,
    ) -> AbortHandle {
        let reports = self.reports.clone();
        let task = self.lanes.prompt.spawn(async move {
            let now = time::now();
            reports.finished(Finished {
                instance_uid,
                attempt,
                started: now,
                finished: now,
                report: RunReport {
                    outcome,
                    output: Vec::new(),
                    truncated: false,
                    times: Default::default(),
                    records: Vec::new(),
                    network_denied: Vec::new(),
                },
                relayed: None,
            });
        });
        task.abort_handle()
    }
}
