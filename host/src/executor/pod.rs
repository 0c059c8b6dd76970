//! Instances of several modules, as a pod of several containers runs: the
//! init containers one after the other, each to its end (the first that
//! fails ends the attempt with its outcome); a native sidecar (an init
//! container with `restartPolicy: Always`) started in its turn and left
//! running beside what follows; then every container together. The
//! attempt succeeds when every container does; the sidecars are stopped
//! (their output kept) once the containers have ended. Every container is
//! a sandbox of its own; they share the instance's volumes, an `emptyDir`
//! included.
//!
//! The attempt's log holds each container's output in turn, under a
//! `==> container NAME <==` line.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::runtime::{Prepared, RunReport, Runtime, SandboxSpec};

/// One container of a multi-container instance, ready to run.
pub struct Step {
    /// The container's name.
    pub name: String,
    /// Its module, compiled and linked.
    pub prepared: Arc<Prepared>,
    /// Its sandbox.
    pub spec: SandboxSpec,
    /// An init container with `restartPolicy: Always`.
    pub sidecar: bool,
}

/// The containers of an instance besides its first container (which the
/// [`super::Launch`] carries as usual).
pub struct PodPlan {
    /// The first container's name.
    pub main: String,
    /// The init containers, in order.
    pub init: Vec<Step>,
    /// The containers after the first, run beside it.
    pub others: Vec<Step>,
}

/// Tasks of one attempt, aborted if the attempt is (its task dropped).
struct Running(Vec<(String, JoinHandle<RunReport>)>);

impl Drop for Running {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

impl Running {
    fn spawn(
        &mut self,
        runtime: &Arc<Runtime>,
        name: &str,
        prepared: Arc<Prepared>,
        spec: SandboxSpec,
    ) {
        let runtime = runtime.clone();
        let task = tokio::spawn(async move { runtime.run_shared(&prepared, &spec).await });
        self.0.push((name.to_owned(), task));
    }

    /// Every task's report, in order (a task that panicked reports a
    /// start error).
    async fn join(&mut self) -> Vec<(String, RunReport)> {
        let mut reports = Vec::new();
        for (name, task) in self.0.drain(..) {
            let report = task
                .await
                .unwrap_or_else(|e| failed(format!("the container's task failed: {e}")));
            reports.push((name, report));
        }
        reports
    }
}

fn failed(message: String) -> RunReport {
    RunReport {
        outcome: crate::manifest::Outcome::StartError { message },
        output: Vec::new(),
        truncated: false,
        times: Default::default(),
        records: Vec::new(),
        network_denied: Vec::new(),
    }
}

/// Runs the attempt: `main` is the first container's module and sandbox.
pub async fn run(
    runtime: &Arc<Runtime>,
    main: (&Arc<Prepared>, &SandboxSpec),
    plan: &PodPlan,
) -> RunReport {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut sidecars = Running(Vec::new());
    let mut log = Log::default();
    for step in &plan.init {
        if step.sidecar {
            let mut spec = step.spec.clone();
            spec.stop = Some(stopped.clone());
            sidecars.spawn(runtime, &step.name, step.prepared.clone(), spec);
            continue;
        }
        let report = runtime.run_shared(&step.prepared, &step.spec).await;
        let ok = report.outcome.succeeded();
        let outcome = report.outcome.clone();
        log.add(&step.name, report);
        if !ok {
            let _ = stop.send(true);
            for (name, report) in sidecars.join().await {
                log.add(&name, report);
            }
            return log.report(outcome);
        }
    }
    let mut containers = Running(Vec::new());
    containers.spawn(runtime, &plan.main, main.0.clone(), main.1.clone());
    for step in &plan.others {
        containers.spawn(
            runtime,
            &step.name,
            step.prepared.clone(),
            step.spec.clone(),
        );
    }
    let reports = containers.join().await;
    let _ = stop.send(true);
    let outcome = reports
        .iter()
        .map(|(_, r)| &r.outcome)
        .find(|o| !o.succeeded())
        .cloned()
        .unwrap_or(crate::manifest::Outcome::Succeeded);
    for (name, report) in reports {
        log.add(&name, report);
    }
    for (name, report) in sidecars.join().await {
        log.add(&name, report);
    }
    log.report(outcome)
}

/// The attempt's log: each container's output in turn.
#[derive(Default)]
struct Log {
    output: Vec<u8>,
    truncated: bool,
    times: crate::runtime::line_times::LineTimes,
    records: Vec<crate::runtime::LogRecord>,
    network_denied: Vec<String>,
}

impl Log {
    fn add(&mut self, name: &str, report: RunReport) {
        // The section's header is as old as the section's first line.
        let first = report.times.first().unwrap_or_else(crate::time::now);
        let header = format!("==> container {name} <==\n");
        let offset = self.output.len();
        self.times.note(offset, header.as_bytes(), true, first);
        self.output.extend_from_slice(header.as_bytes());
        self.times.extend_at(self.output.len(), &report.times);
        self.output.extend(report.output);
        if !self.output.ends_with(b"\n") {
            self.output.push(b'\n');
        }
        self.truncated |= report.truncated;
        self.records.extend(report.records);
        for d in report.network_denied {
            if !self.network_denied.contains(&d) {
                self.network_denied.push(d);
            }
        }
    }

    fn report(self, outcome: crate::manifest::Outcome) -> RunReport {
        RunReport {
            outcome,
            output: self.output,
            truncated: self.truncated,
            times: self.times,
            records: self.records,
            network_denied: self.network_denied,
        }
    }
}
