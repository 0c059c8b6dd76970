//! Commands from the API, carried out on the runner's thread so that every
//! write to the store has one author: apply (create or update Jobs, all or
//! nothing), delete (cascading to instances), shutdown.

use std::time::Duration;

use tokio::sync::oneshot;

use super::{CronRun, DaemonRun, JobRun, Runner, cron, daemon, manifest_json};
use crate::apply::ModuleBlob;
use crate::manifest::{CronJob, DaemonSet, Job, JobSpec, Kind, Object};
use crate::runtime::is_component;
use crate::store::{StoreError, Write};
use crate::time::{self, Micros};

/// Where an object came from, so the server's errors name the user's file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The file as the user named it.
    pub file: String,
    /// 1-based document index.
    pub document: usize,
}

/// One object to apply, already validated by the client.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from.
    pub source: Source,
    /// A Job or a CronJob, its image a digest.
    pub object: Object,
}

/// An apply: objects and the modules they need that the store may lack.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The objects, in file order.
    pub objects: Vec<Incoming>,
    /// Module bytes by digest.
    pub modules: Vec<ModuleBlob>,
    /// `create`: an existing object is an error rather than an update.
    pub create_only: bool,
}

/// What happened to one applied object, as kubectl reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// `job.batch`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub result: String,
}

/// Why an apply was refused; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    /// 422 for invalid input, 409 for a conflict with what exists.
    pub status: u16,
    /// One line naming the file, document and field.
    pub message: String,
}

/// What a client asked for.
pub enum Command {
    /// Create or update objects.
    Apply {
        /// The objects.
        request: ApplyRequest,
        /// The answer.
        reply: oneshot::Sender<Result<Vec<Applied>, ApplyFailure>>,
    },
    /// Delete objects (by uid) and their instances.
    Delete {
        /// The objects.
        uids: Vec<String>,
        /// The answer: how many were deleted.
        reply: oneshot::Sender<Result<usize, String>>,
    },
    /// Change this node's labels (`wasmjob label node`): DaemonSets and
    /// waiting Jobs see the new labels at the next pass.
    Relabel {
        /// What to change.
        request: crate::api::wire::LabelRequest,
        /// The node's labels afterwards, or why nothing changed.
        reply: oneshot::Sender<Result<std::collections::BTreeMap<String, String>, String>>,
    },
    /// Stop taking work, let running instances finish within `grace`.
    Shutdown {
        /// The grace period.
        grace: Duration,
    },
}

/// Job fields Kubernetes lets an update change; any other change is refused.
fn mutable_fields_reset(new: &JobSpec, old: &JobSpec) -> JobSpec {
    let mut spec = new.clone();
    spec.parallelism = old.parallelism;
    spec.suspend = old.suspend;
    spec.active_deadline_seconds = old.active_deadline_seconds;
    spec.ttl_seconds_after_finished = old.ttl_seconds_after_finished;
    spec.backoff_limit = old.backoff_limit;
    spec.backoff_policy = old.backoff_policy.clone();
    spec.max_failed_indexes = old.max_failed_indexes;
    spec
}

/// The first immutable field that differs, for the error message.
fn immutable_difference(new: &JobSpec, old: &JobSpec) -> &'static str {
    if new.template != old.template {
        "spec.template"
    } else if new.completions != old.completions {
        "spec.completions"
    } else if new.completion_mode != old.completion_mode {
        "spec.completionMode"
    } else if new.pod_failure_policy != old.pod_failure_policy {
        "spec.podFailurePolicy"
    } else if new.success_policy != old.success_policy {
        "spec.successPolicy"
    } else {
        "spec.backoffLimitPerIndex"
    }
}

enum Plan {
    Create(Box<JobRun>),
    Configure {
        uid: String,
        job: Box<Job>,
    },
    CreateCron(Box<CronRun>),
    ConfigureCron {
        uid: String,
        cron: Box<CronJob>,
    },
    CreateDaemon(Box<DaemonRun>),
    ConfigureDaemon {
        uid: String,
        ds: Box<DaemonSet>,
        prepared: std::sync::Arc<crate::runtime::Prepared>,
    },
    Unchanged,
}

impl Runner {
    pub(super) fn command(&mut self, command: Command) -> Result<(), StoreError> {
        match command {
            Command::Apply { request, reply } => {
                let result = self.apply(request);
                if let Err(Failure::Store(e)) = &result {
                    // The client gets a 500; the node's log says why.
                    tracing::error!(error = %e, "apply failed in the store");
                }
                let _ = reply.send(result.map_err(Failure::into_apply_failure));
                Ok(())
            }
            Command::Delete { uids, reply } => {
                let result = self.delete(&uids);
                let answer = match &result {
                    Ok(n) => Ok(*n),
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(answer);
                match result {
                    // Held, and written when the store can take it.
                    Err(e) if e.is_transient() => Ok(()),
                    other => other.map(drop),
                }
            }
            Command::Relabel { request, reply } => {
                let _ = reply.send(self.relabel(request));
                Ok(())
            }
            Command::Shutdown { grace } => {
                let until = time::now() + grace.as_micros() as Micros;
                self.draining = Some(until);
                self.set_relays_open(false);
                Ok(())
            }
        }
    }

    fn apply(&mut self, request: ApplyRequest) -> Result<Vec<Applied>, Failure> {
        if self.draining.is_some() {
            return Err(Failure::Refused(ApplyFailure {
                status: 503,
                message: "the node is shutting down and takes no new work".into(),
            }));
        }
        let now = time::now();
        // Every module is compiled and linked before anything is written.
        let mut writes = Vec::new();
        let mut plans = Vec::new();
        for incoming in &request.objects {
            let digest = &image_of(&incoming.object);
            let bytes = match request.modules.iter().find(|m| &m.digest == digest) {
                Some(blob) => {
                    writes.push(Write::Module {
                        digest: blob.digest.clone(),
                        component: is_component(&blob.bytes),
                        bytes: blob.bytes.clone(),
                        at: now,
                    });
                    blob.bytes.clone()
                }
                None => self.store.module(digest)?.ok_or_else(|| {
                    invalid(
                        incoming,
                        format!("no stored module has digest {digest}: apply it from a file first"),
                    )
                })?,
            };
            let prepared = self
                .runtime
                .prepare(digest, &bytes)
                .map_err(|e| invalid(incoming, e.to_string()))?;
            plans.push(match &incoming.object {
                Object::Job(job) => self.plan(incoming, job, prepared, request.create_only, now)?,
                Object::CronJob(cron) => {
                    self.plan_cron(cron, prepared, request.create_only, now)?
                }
                Object::DaemonSet(ds) => {
                    self.plan_daemon(incoming, ds, prepared, request.create_only, now)?
                }
            });
        }
        let mut applied = Vec::new();
        let mut joining = Vec::new();
        let mut crons = Vec::new();
        let mut daemons = Vec::new();
        for (incoming, plan) in request.objects.iter().zip(plans) {
            let result = match plan {
                Plan::Create(mut run) => {
                    writes.append(&mut run.joining);
                    joining.push(run);
                    "created"
                }
                Plan::Configure { uid, job } => {
                    writes.push(Write::ObjectManifest {
                        uid: uid.clone(),
                        manifest: manifest_json(&job),
                        labels: job.metadata.labels.clone(),
                    });
                    self.reconfigure(&uid, *job, now);
                    "configured"
                }
                Plan::CreateCron(mut run) => {
                    writes.append(&mut run.joining);
                    crons.push(*run);
                    "created"
                }
                Plan::ConfigureCron { uid, cron } => {
                    writes.push(Write::ObjectManifest {
                        uid: uid.clone(),
                        manifest: cron::manifest_json(&cron),
                        labels: cron.metadata.labels.clone(),
                    });
                    if let Some(run) = self.crons.iter_mut().find(|c| c.record.uid == uid) {
                        run.reconfigure(*cron);
                    }
                    "configured"
                }
                Plan::CreateDaemon(mut run) => {
                    writes.append(&mut run.joining);
                    daemons.push(*run);
                    "created"
                }
                Plan::ConfigureDaemon { uid, ds, prepared } => {
                    writes.push(Write::ObjectManifest {
                        uid: uid.clone(),
                        manifest: daemon::manifest_json(&ds),
                        labels: ds.metadata.labels.clone(),
                    });
                    if let Some(run) = self.daemons.iter_mut().find(|d| d.record.uid == uid) {
                        run.reconfigure(*ds, prepared);
                    }
                    "configured"
                }
                Plan::Unchanged => "unchanged",
            };
            let meta = incoming.object.metadata();
            applied.push(Applied {
                kind: incoming.object.kind().qualified().to_owned(),
                name: meta.name.clone(),
                result: result.to_owned(),
            });
        }
        // Nothing of a new object exists outside these writes yet, so an
        // apply the store cannot take leaves no trace.
        self.commit_or_discard(writes)?;
        self.jobs.extend(joining.into_iter().map(|run| *run));
        self.crons.extend(crons);
        self.daemons.extend(daemons);
        Ok(applied)
    }

    fn plan(
        &self,
        incoming: &Incoming,
        job: &Job,
        prepared: std::sync::Arc<crate::runtime::Prepared>,
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        let meta = &job.metadata;
        let Some(existing) = self
            .store
            .live_object(Kind::Job, &meta.namespace, &meta.name)?
        else {
            return Ok(Plan::Create(Box::new(JobRun::new(
                job.clone(),
                prepared,
                now,
            ))));
        };
        if create_only {
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!("jobs.batch {:?} already exists", meta.name),
            }));
        }
        if existing.manifest == manifest_json(job) {
            return Ok(Plan::Unchanged);
        }
        let old: Job = serde_json::from_value(existing.manifest.clone())
            .map_err(|e| invalid(incoming, format!("the stored Job cannot be read back: {e}")))?;
        if mutable_fields_reset(&job.spec, &old.spec) != old.spec {
            let field = immutable_difference(&job.spec, &old.spec);
            return Err(invalid_at(
                incoming,
                field,
                "field is immutable once the Job exists: delete the Job and apply it again",
            ));
        }
        Ok(Plan::Configure {
            uid: existing.uid,
            job: Box::new(job.clone()),
        })
    }

    /// CronJobs: every field may change, as in Kubernetes; the Jobs already
    /// created keep the template they were made from.
    fn plan_cron(
        &self,
        cron: &CronJob,
        prepared: std::sync::Arc<crate::runtime::Prepared>,
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        let meta = &cron.metadata;
        let Some(existing) = self
            .store
            .live_object(Kind::CronJob, &meta.namespace, &meta.name)?
        else {
            return Ok(Plan::CreateCron(Box::new(CronRun::new(
                cron.clone(),
                prepared,
                now,
            ))));
        };
        if create_only {
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!("cronjobs.batch {:?} already exists", meta.name),
            }));
        }
        if existing.manifest == cron::manifest_json(cron) {
            return Ok(Plan::Unchanged);
        }
        Ok(Plan::ConfigureCron {
            uid: existing.uid,
            cron: Box::new(cron.clone()),
        })
    }

    /// DaemonSets: everything but `spec.selector` may change; a new template
    /// replaces the instances per `updateStrategy`.
    fn plan_daemon(
        &self,
        incoming: &Incoming,
        ds: &DaemonSet,
        prepared: std::sync::Arc<crate::runtime::Prepared>,
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        let meta = &ds.metadata;
        let Some(existing) =
            self.store
                .live_object(Kind::DaemonSet, &meta.namespace, &meta.name)?
        else {
            return Ok(Plan::CreateDaemon(Box::new(DaemonRun::new(
                ds.clone(),
                prepared,
                now,
            ))));
        };
        if create_only {
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!("daemonsets.apps {:?} already exists", meta.name),
            }));
        }
        if existing.manifest == daemon::manifest_json(ds) {
            return Ok(Plan::Unchanged);
        }
        let old: DaemonSet = serde_json::from_value(existing.manifest.clone()).map_err(|e| {
            invalid(
                incoming,
                format!("the stored DaemonSet cannot be read back: {e}"),
            )
        })?;
        if old.spec.selector != ds.spec.selector {
            return Err(invalid_at(
                incoming,
                "spec.selector",
                "field is immutable once the DaemonSet exists: delete it and apply it again",
            ));
        }
        Ok(Plan::ConfigureDaemon {
            uid: existing.uid,
            ds: Box::new(ds.clone()),
            prepared,
        })
    }

    /// An update of a running Job takes effect at the next controller pass.
    pub(super) fn reconfigure(&mut self, uid: &str, job: Job, now: Micros) {
        let Some(run) = self.jobs.iter_mut().find(|j| j.record.uid == uid) else {
            return; // finished: the new manifest is stored, nothing runs
        };
        if run.job.spec.suspended() && !job.spec.suspended() {
            run.observed.resumed(now);
            run.status.conditions.retain(|c| c.kind != "Suspended");
        }
        run.record.labels = job.metadata.labels.clone();
        run.job = job;
        // The next instance's labels and sandbox come from the new template.
        run.instance_labels = Default::default();
        run.shared_sandbox = Default::default();
    }

    /// kubectl's rules: changing a label's value needs `overwrite`.
    fn relabel(
        &mut self,
        request: crate::api::wire::LabelRequest,
    ) -> Result<std::collections::BTreeMap<String, String>, String> {
        let labels = relabeled(&self.config.node_labels, request)?;
        if let Some(db) = self.store.cluster_db() {
            // The cluster sees them too (`get nodes`, DaemonSets on other nodes).
            db.set_node_labels(&self.config.node_name, &labels)
                .map_err(|e| e.to_string())?;
        }
        self.config.node_labels = labels;
        // A Job that could not run here is looked at again.
        for run in &mut self.jobs {
            run.unschedulable_noted = false;
        }
        Ok(self.config.node_labels.clone())
    }

    pub(super) fn delete(&mut self, uids: &[String]) -> Result<usize, StoreError> {
        let now = time::now();
        let mut writes = Vec::new();
        for uid in uids {
            if let Some(index) = self.crons.iter().position(|c| &c.record.uid == uid) {
                // A CronJob's Jobs go with it.
                let cron = self.crons.remove(index);
                for job in cron.job_uids() {
                    self.delete_job(&job, now, "Deleted", &mut writes);
                }
            }
            if let Some(index) = self.daemons.iter().position(|d| &d.record.uid == uid) {
                let message = "stopped: the DaemonSet was deleted";
                self.stop_daemons(index, now, "Deleted", message, &mut writes);
                self.daemons.remove(index);
            }
            if let Some(index) = self.jobs.iter().position(|j| &j.record.uid == uid) {
                self.stop_all(
                    index,
                    now,
                    "Deleted",
                    "stopped: the Job was deleted",
                    false,
                    &mut writes,
                );
                self.jobs.remove(index);
            }
            writes.push(Write::ObjectDeleted {
                uid: uid.clone(),
                at: now,
            });
        }
        self.commit_now(writes)?;
        Ok(uids.len())
    }
}

/// A node's labels after `wasmjob label node`, by kubectl's rules: changing
/// a label's value needs `overwrite`.
pub fn relabeled(
    labels: &std::collections::BTreeMap<String, String>,
    request: crate::api::wire::LabelRequest,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    for (key, value) in &request.set {
        if let Some(old) = labels.get(key)
            && old != value
            && !request.overwrite
        {
            return Err(format!(
                "{key:?} already has a value ({old}), and --overwrite is false"
            ));
        }
    }
    let mut labels = labels.clone();
    for key in &request.remove {
        labels.remove(key);
    }
    labels.extend(request.set);
    Ok(labels)
}

enum Failure {
    Refused(ApplyFailure),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    fn into_apply_failure(self) -> ApplyFailure {
        match self {
            Failure::Refused(f) => f,
            Failure::Store(e) => ApplyFailure {
                status: if e.is_transient() { 503 } else { 500 },
                message: e.to_string(),
            },
        }
    }
}

fn image_of(object: &Object) -> String {
    match object {
        Object::Job(job) => job.spec.template.spec.containers[0].image.clone(),
        Object::CronJob(cron) => cron.spec.job_template.spec.template.spec.containers[0]
            .image
            .clone(),
        Object::DaemonSet(ds) => ds.spec.template.spec.containers[0].image.clone(),
    }
}

fn invalid(incoming: &Incoming, message: String) -> Failure {
    let field = match incoming.object {
        Object::CronJob(_) => "spec.jobTemplate.spec.template.spec.containers[0].image",
        _ => "spec.template.spec.containers[0].image",
    };
    invalid_at(incoming, field, &message)
}

fn invalid_at(incoming: &Incoming, field: &str, message: &str) -> Failure {
    Failure::Refused(ApplyFailure {
        status: 422,
        message: format!(
            "{}: document {}: {field}: {message}",
            incoming.source.file, incoming.source.document
        ),
    })
}
