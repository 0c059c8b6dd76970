//! Commands from the API, carried out on the runner's thread so that every
//! write to the store has one author: apply (create or update objects, all
//! or nothing, every module admitted first), delete (cascading to
//! instances, and to a CronJob's Jobs), relabel this node, shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::cron::CronRun;
use super::daemon::DaemonRun;
use super::driver::Joining;
use super::jobs::JobRun;
use super::parts::Parts;
use crate::admission::{self, ModuleBlob, Refused};
use crate::apply::{self, ConfigPlan};
use crate::controller::node::{Relabel, relabeled};
use crate::controller::{daemonset, job};
use crate::manifest::{Config, DaemonSet, Job, Object, Source, Taint, TaintChange, taints};
use crate::runtime::{Prepared, is_component};
use crate::store::{ControlPlane, ObjectRecord, StoreError, Write};
use crate::time::{self, Micros};

/// One object to apply, validated by the server.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from.
    pub source: Source,
    /// A Job, CronJob or DaemonSet, its image a digest.
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
        change: Relabel,
        /// The node's labels afterwards, or why nothing changed.
        reply: oneshot::Sender<Result<BTreeMap<String, String>, String>>,
    },
    /// Change this node's taints (`wasmjob taint node`): placement looks
    /// again, and instances that do not tolerate a new `NoExecute` taint
    /// end.
    Retaint {
        /// What to change.
        change: Retaint,
        /// The node's taints afterwards, or why nothing changed.
        reply: oneshot::Sender<Result<Vec<Taint>, String>>,
    },
    /// Stop taking work, let running instances finish within `grace`.
    Shutdown {
        /// The grace period.
        grace: Duration,
    },
}

/// What `taint node` asks of this node.
#[derive(Debug, Clone)]
pub struct Retaint {
    /// What to add and remove, in order.
    pub changes: Vec<TaintChange>,
    /// Whether a taint may change value.
    pub overwrite: bool,
    /// Now, in RFC 3339: a `NoExecute` taint's `timeAdded`.
    pub now: String,
}

/// A new run of one of the kinds.
enum NewRun {
    Job(JobRun),
    Cron(CronRun),
    Daemon(DaemonRun),
}

impl NewRun {
    fn of(object: Object, prepared: Arc<Prepared>, now: Micros) -> NewRun {
        match object {
            Object::Job(job) => NewRun::Job(JobRun::new(job, prepared, now)),
            Object::CronJob(cron) => NewRun::Cron(CronRun::new(cron, prepared, now)),
            Object::DaemonSet(ds) => NewRun::Daemon(DaemonRun::new(ds, prepared, now)),
            Object::Config(_) => unreachable!("a ConfigMap or Secret is planned as a row"),
        }
    }
}

impl Joining for NewRun {
    fn joining(&mut self) -> &mut Vec<Write> {
        match self {
            NewRun::Job(run) => &mut run.joining,
            NewRun::Cron(run) => &mut run.joining,
            NewRun::Daemon(run) => &mut run.joining,
        }
    }
}

/// What applying one object does.
enum Plan {
    /// A ConfigMap or Secret: its row, and kubectl's word for it.
    Stored(Box<Write>, &'static str),
    Create(Box<NewRun>),
    Configure {
        uid: String,
        object: Box<Object>,
        prepared: Arc<Prepared>,
    },
    Unchanged,
}

/// What an apply changes, once its writes are committed.
#[derive(Default)]
struct Changes {
    created: Vec<NewRun>,
    configured: Vec<(String, Object, Arc<Prepared>)>,
}

impl Changes {
    /// Takes a plan: its writes join `writes`; kubectl's word for it.
    fn take(&mut self, plan: Plan, writes: &mut Vec<Write>) -> &'static str {
        match plan {
            Plan::Stored(write, word) => {
                writes.push(*write);
                word
            }
            Plan::Create(mut run) => {
                writes.append(run.joining());
                self.created.push(*run);
                "created"
            }
            Plan::Configure {
                uid,
                object,
                prepared,
            } => {
                writes.push(Write::ObjectManifest {
                    uid: uid.clone(),
                    manifest: object.stored_json(),
                    labels: object.metadata().labels.clone(),
                });
                self.configured.push((uid, *object, prepared));
                "configured"
            }
            Plan::Unchanged => "unchanged",
        }
    }
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

impl Parts {
    /// Carries out a command. One that arrives while the store cannot be
    /// written is answered with the reason, except a shutdown, which goes
    /// ahead.
    pub(super) fn command(
        &mut self,
        command: Command,
        control: Option<&dyn ControlPlane>,
    ) -> Result<(), StoreError> {
        if let Some(error) = self.journal.unwritable() {
            let message = format!("{error}; this node takes no new work until then");
            return self.refuse(command, message);
        }
        match command {
            Command::Apply { request, reply } => {
                let result = self.apply(request, control);
                if let Err(Failure::Store(e)) = &result {
                    // The client gets a 500; the node's log says why.
                    tracing::error!(error = %e, "apply failed in the store");
                }
                let _ = reply.send(result.map_err(Failure::into_apply_failure));
                Ok(())
            }
            Command::Delete { uids, reply } => {
                let result = self.delete_published(&uids, time::now());
                let _ = reply.send(result.as_ref().map(|n| *n).map_err(|e| e.to_string()));
                match result {
                    // Held, and written when the store can take it.
                    Err(e) if e.is_transient() => Ok(()),
                    other => other.map(drop),
                }
            }
            Command::Relabel { change, reply } => {
                let _ = reply.send(self.relabel(change, control));
                Ok(())
            }
            Command::Retaint { change, reply } => {
                let _ = reply.send(self.retaint(change, control));
                Ok(())
            }
            Command::Shutdown { grace } => {
                self.draining = Some(time::now() + grace.as_micros() as Micros);
                self.gate.set_draining();
                Ok(())
            }
        }
    }

    /// A delete through this node's API: the cluster's database records
    /// the deletions first (the objects' owners follow them), then this
    /// node stops what it runs of them.
    fn delete_published(&mut self, uids: &[String], now: Micros) -> Result<usize, StoreError> {
        let deleted = uids
            .iter()
            .map(|uid| Write::ObjectDeleted {
                uid: uid.clone(),
                at: now,
            })
            .collect();
        self.journal.publish(deleted, &mut self.jobs)?;
        self.delete(uids, now)
    }

    /// Answers a command with why it cannot be carried out now.
    fn refuse(&mut self, command: Command, message: String) -> Result<(), StoreError> {
        match command {
            Command::Apply { reply, .. } => {
                let status = 503;
                let _ = reply.send(Err(ApplyFailure { status, message }));
            }
            Command::Delete { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Command::Relabel { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Command::Retaint { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            shutdown @ Command::Shutdown { .. } => return self.command(shutdown, None),
        }
        Ok(())
    }

    fn apply(
        &mut self,
        request: ApplyRequest,
        control: Option<&dyn ControlPlane>,
    ) -> Result<Vec<Applied>, Failure> {
        if self.draining.is_some() {
            return Err(Failure::Refused(ApplyFailure {
                status: 503,
                message: "the node is shutting down and takes no new work".into(),
            }));
        }
        let now = time::now();
        // Every module is admitted before anything is written.
        let (mut writes, plans) = self.plan_all(&request, control, now)?;
        let mut changes = Changes::default();
        let mut applied = Vec::new();
        for (incoming, plan) in request.objects.iter().zip(plans) {
            let result = changes.take(plan, &mut writes);
            applied.push(Applied {
                kind: incoming.object.kind().qualified().to_owned(),
                name: incoming.object.metadata().name.clone(),
                result: result.to_owned(),
            });
        }
        // Nothing of a new object exists outside these writes yet, so an
        // apply the store cannot take leaves no trace. In a cluster the
        // cluster's database has them before the client is told.
        self.journal.publish(writes, &mut self.jobs)?;
        self.carry_out(changes, now);
        Ok(applied)
    }

    /// Admits every object's module and plans what applying it does; the
    /// writes of the modules that came with the request.
    fn plan_all(
        &self,
        request: &ApplyRequest,
        control: Option<&dyn ControlPlane>,
        now: Micros,
    ) -> Result<(Vec<Write>, Vec<Plan>), Failure> {
        let mut writes = Vec::new();
        let mut plans = Vec::new();
        for incoming in &request.objects {
            if let Object::Config(config) = &incoming.object {
                let store = self.journal.store();
                let existing = existing(incoming, control, store)?;
                plans.push(self.plan_config(
                    incoming,
                    config,
                    existing,
                    request.create_only,
                    now,
                )?);
                continue;
            }
            let pod = admission::pod_spec(&incoming.object);
            let images: Vec<&String> = (pod.iter())
                .flat_map(|p| p.all_containers())
                .map(|c| &c.image)
                .collect();
            let modules: Vec<ModuleBlob> = (request.modules.iter())
                .filter(|m| images.contains(&&m.digest))
                .cloned()
                .collect();
            let store = self.journal.store();
            let admitted = admission::admit(&incoming.object, &modules, &self.runtime, store)
                .map_err(|e| refused(incoming, e))?;
            for blob in modules {
                let known =
                    |w: &Write| matches!(w, Write::Module { digest, .. } if *digest == blob.digest);
                if writes.iter().any(known) {
                    continue;
                }
                writes.push(Write::Module {
                    component: is_component(&blob.bytes),
                    digest: blob.digest,
                    bytes: blob.bytes,
                    at: now,
                });
            }
            let existing = existing(incoming, control, store)?;
            plans.push(self.plan(
                incoming,
                admitted.prepared,
                existing,
                request.create_only,
                now,
            )?);
        }
        Ok((writes, plans))
    }

    /// What applying a ConfigMap or Secret writes (see
    /// [`apply::plan_config`]); a `create` of one that exists is a conflict.
    fn plan_config(
        &self,
        incoming: &Incoming,
        config: &Config,
        existing: Option<ObjectRecord>,
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        if create_only && existing.is_some() {
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!(
                    "{} {:?} already exists",
                    config.kind.resource(),
                    config.metadata.name
                ),
            }));
        }
        let keyring = &self.config.keyring;
        let plan = apply::plan_config(config, existing.as_ref(), keyring, now)
            .map_err(|(field, message)| Failure::Refused(invalid_at(incoming, field, &message)))?;
        Ok(match plan {
            ConfigPlan::Create(write) => Plan::Stored(Box::new(write), "created"),
            ConfigPlan::Configure(write) => Plan::Stored(Box::new(write), "configured"),
            ConfigPlan::Unchanged => Plan::Unchanged,
        })
    }

    /// The applied objects committed: new ones run, changed ones take
    /// their new manifests.
    fn carry_out(&mut self, changes: Changes, now: Micros) {
        for (uid, object, prepared) in changes.configured {
            self.reconfigure(&uid, object, prepared, now);
        }
        for run in changes.created {
            match run {
                NewRun::Job(run) => self.jobs.extend([run]),
                NewRun::Cron(run) => self.crons.extend([run]),
                NewRun::Daemon(run) => self.daemons.extend([run]),
            }
        }
    }

    /// What applying `incoming` does: create it, configure the live object
    /// of its kind and name (the fields an update may change), or nothing.
    fn plan(
        &self,
        incoming: &Incoming,
        prepared: Arc<Prepared>,
        existing: Option<ObjectRecord>,
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        let object = &incoming.object;
        let (kind, meta) = (object.kind(), object.metadata());
        let Some(existing) = existing else {
            let run = NewRun::of(object.clone(), prepared, now);
            return Ok(Plan::Create(Box::new(run)));
        };
        if create_only {
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!("{} {:?} already exists", kind.resource(), meta.name),
            }));
        }
        if existing.manifest == object.stored_json() {
            return Ok(Plan::Unchanged);
        }
        check_update(object, &existing)
            .map_err(|(field, message)| Failure::Refused(invalid_at(incoming, field, &message)))?;
        Ok(Plan::Configure {
            uid: existing.uid,
            object: Box::new(object.clone()),
            prepared,
        })
    }

    /// An update of a running object takes effect at its next pass.
    pub(super) fn reconfigure(
        &mut self,
        uid: &str,
        object: Object,
        prepared: Arc<Prepared>,
        now: Micros,
    ) {
        match object {
            Object::Job(job) => self.jobs.reconfigure(uid, job, now),
            Object::CronJob(cron) => self.crons.reconfigure(uid, cron),
            Object::DaemonSet(ds) => self.daemons.reconfigure(uid, ds, prepared),
            // Its instances read it at their next attempt.
            Object::Config(_) => {}
        }
    }

    /// kubectl's rules: changing a label's value needs `overwrite`. In a
    /// cluster, the other nodes see the new labels too.
    fn relabel(
        &mut self,
        change: Relabel,
        control: Option<&dyn ControlPlane>,
    ) -> Result<BTreeMap<String, String>, String> {
        let labels = relabeled(&self.config.node_labels, change)?;
        if let Some(control) = control {
            control
                .set_node_labels(&self.config.node_name, &labels)
                .map_err(|e| e.to_string())?;
        }
        self.config.node_labels = labels;
        // A Job that could not run here is looked at again.
        use super::driver::Driver as _;
        self.jobs.placement_changed();
        Ok(self.config.node_labels.clone())
    }
}

impl Parts {
    /// kubectl's rules (see [`taints::retainted`]). In a cluster, the
    /// other nodes see the new taints too. What is placed next follows
    /// them; instances running here that a new `NoExecute` taint does not
    /// let stay end at the next pass.
    fn retaint(
        &mut self,
        change: Retaint,
        control: Option<&dyn ControlPlane>,
    ) -> Result<Vec<Taint>, String> {
        let taints = taints::retainted(
            &self.config.node_taints,
            &change.changes,
            change.overwrite,
            &change.now,
        )?;
        if let Some(control) = control {
            control
                .set_node_taints(&self.config.node_name, &taints)
                .map_err(|e| e.to_string())?;
        }
        self.config.node_taints = taints;
        use super::driver::Driver as _;
        self.jobs.placement_changed();
        Ok(self.config.node_taints.clone())
    }
}

/// The live object `incoming` would update, if any: in a cluster, the
/// cluster's (whichever node runs it).
fn existing(
    incoming: &Incoming,
    control: Option<&dyn ControlPlane>,
    store: &crate::store::Store,
) -> Result<Option<ObjectRecord>, StoreError> {
    let (kind, meta) = (incoming.object.kind(), incoming.object.metadata());
    match control {
        Some(control) => control.live_object(kind, &meta.namespace, &meta.name),
        None => store.live_object(kind, &meta.namespace, &meta.name),
    }
}

/// Whether the stored `existing` object may be updated to `object`: the
/// path of the immutable field that differs, and what to do, if not.
/// CronJobs: every field may change, as in Kubernetes; the Jobs already
/// created keep the template they were made from.
fn check_update(object: &Object, existing: &ObjectRecord) -> Result<(), (&'static str, String)> {
    let image = admission::image_path(object.kind());
    let unreadable = |what: &str, e: serde_json::Error| {
        (image, format!("the stored {what} cannot be read back: {e}"))
    };
    match object {
        Object::Job(job) => {
            let old: Job = serde_json::from_value(existing.manifest.clone())
                .map_err(|e| unreadable("Job", e))?;
            job::check_update(&job.spec, &old.spec).map_err(|field| {
                let message =
                    "field is immutable once the Job exists: delete the Job and apply it again";
                (field, message.to_owned())
            })
        }
        Object::DaemonSet(ds) => {
            let old: DaemonSet = serde_json::from_value(existing.manifest.clone())
                .map_err(|e| unreadable("DaemonSet", e))?;
            daemonset::check_update(&ds.spec, &old.spec).map_err(|field| {
                let message =
                    "field is immutable once the DaemonSet exists: delete it and apply it again";
                (field, message.to_owned())
            })
        }
        Object::CronJob(_) | Object::Config(_) => Ok(()),
    }
}

/// An admission refusal, as the API answers it.
fn refused(incoming: &Incoming, refused: Refused) -> Failure {
    match refused {
        Refused::Invalid(e) => Failure::Refused(invalid_at(incoming, &e.path, &e.message)),
        Refused::Store(e) => Failure::Store(e),
    }
}

fn invalid_at(incoming: &Incoming, field: &str, message: &str) -> ApplyFailure {
    ApplyFailure {
        status: 422,
        message: format!(
            "{}: document {}: {field}: {message}",
            incoming.source.file, incoming.source.document
        ),
    }
}
