//! An apply, all or nothing: every object's module admitted first, then
//! what applying each does (create it, configure the live object of its
//! kind and name, store a ConfigMap, Secret or PriorityClass, or nothing),
//! the writes committed together, and the new and changed runs carried out.

use std::sync::Arc;

use super::{Applied, ApplyFailure, ApplyRequest, Failure, Incoming, invalid_at};
use crate::admission::{self, ModuleBlob, Refused};
use crate::apply::{self, ConfigPlan};
use crate::controller::{daemonset, job};
use crate::manifest::{Config, DaemonSet, Job, Object};
use crate::runner::cron::CronRun;
use crate::runner::daemon::{DaemonRun, history};
use crate::runner::driver::Joining;
use crate::runner::jobs::JobRun;
use crate::runner::parts::Parts;
use crate::runtime::{Prepared, is_component};
use crate::store::{ControlPlane, ObjectRecord, StoreError, Write};
use crate::time::{self, Micros};

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
    /// A new Job whose registry image its node pulls (see `pulls`).
    Wait(Box<(ObjectRecord, Job)>),
    Configure {
        uid: String,
        object: Box<Object>,
        prepared: Arc<Prepared>,
        /// What else changes with it (a DaemonSet's history).
        also: Vec<Write>,
    },
    Unchanged,
}

impl Plan {
    /// Whether it makes a new object (what a quota counts).
    fn creates(&self) -> bool {
        matches!(
            self,
            Plan::Create(_) | Plan::Wait(_) | Plan::Stored(_, "created")
        )
    }
}

/// What an apply changes, once its writes are committed.
#[derive(Default)]
struct Changes {
    created: Vec<NewRun>,
    waiting: Vec<(ObjectRecord, Job)>,
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
            Plan::Wait(waiting) => {
                writes.push(Write::ObjectCreated(waiting.0.clone()));
                self.waiting.push(*waiting);
                "created"
            }
            Plan::Configure {
                uid,
                object,
                prepared,
                also,
            } => {
                writes.push(Write::ObjectManifest {
                    uid: uid.clone(),
                    manifest: object.stored_json(),
                    labels: object.metadata().labels.clone(),
                });
                writes.extend(also);
                self.configured.push((uid, *object, prepared));
                "configured"
            }
            Plan::Unchanged => "unchanged",
        }
    }
}

impl Parts {
    pub(super) fn apply(
        &mut self,
        mut request: ApplyRequest,
        control: Option<&dyn ControlPlane>,
    ) -> Result<Vec<Applied>, Failure> {
        if self.draining.is_some() {
            return Err(Failure::Refused(ApplyFailure {
                status: 503,
                message: "the node is shutting down and takes no new work".into(),
            }));
        }
        let now = time::now();
        super::dependencies::check_cycles(&request, control, self.journal.store())?;
        super::quota::limit_ranges(&mut request, control, self.journal.store())?;
        let admission = &self.config.pod_security;
        let said = super::pod_security::check(&request, admission, control, self.journal.store())?;
        // Every module is admitted before anything is written.
        let (mut writes, plans) = self.plan_all(&request, control, now)?;
        let creates: Vec<bool> = plans.iter().map(Plan::creates).collect();
        super::quota::check_quotas(&request, &creates, control, self.journal.store())?;
        let mut changes = Changes::default();
        let mut applied = Vec::new();
        for ((incoming, plan), said) in request.objects.iter().zip(plans).zip(said) {
            let result = changes.take(plan, &mut writes);
            applied.push(Applied {
                kind: incoming.object.kind().qualified().to_owned(),
                name: incoming.object.metadata().name.clone(),
                result: result.to_owned(),
                warnings: said.warning.into_iter().collect(),
                audit: said.audit,
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
            let plan = self.plan_workload(incoming, request, control, (now, &mut writes))?;
            plans.push(plan);
        }
        Ok((writes, plans))
    }

    /// What applying a Job, CronJob or DaemonSet does, its module admitted
    /// (or, for a Job, left for its node to pull or compile: see `pulls`);
    /// the modules that came with it join `writes`.
    fn plan_workload(
        &self,
        incoming: &Incoming,
        request: &ApplyRequest,
        control: Option<&dyn ControlPlane>,
        (now, writes): (Micros, &mut Vec<Write>),
    ) -> Result<Plan, Failure> {
        let allowed = self.config.allowed_registries.as_ref();
        let keyring = &self.config.keyring;
        let store = self.journal.store();
        let object = &incoming.object;
        let wait = |status| -> Result<Plan, Failure> {
            let Object::Job(job) = object else {
                unreachable!("only Jobs wait on their node")
            };
            let existing = existing(incoming, control, store)?;
            plan_wait(incoming, (job, status), existing, request.create_only, now)
        };
        let is_job = matches!(object, Object::Job(_));
        if is_job && apply::waits_for_pull(object) {
            if allowed.is_some() {
                apply::pull_pinned(object, store, keyring, allowed)
                    .map_err(|e| refused(incoming, e))?;
            }
            return wait(None);
        }
        let modules: Vec<ModuleBlob> = match allowed {
            None => {
                let pod = admission::pod_spec(object);
                let images: Vec<&String> = (pod.iter())
                    .flat_map(|p| p.all_containers())
                    .map(|c| &c.image)
                    .collect();
                (request.modules.iter())
                    .filter(|m| images.contains(&&m.digest))
                    .cloned()
                    .collect()
            }
            // What runs is what the registry holds, whatever was sent.
            Some(_) => apply::pull_pinned(object, store, keyring, allowed)
                .map_err(|e| refused(incoming, e))?,
        };
        if is_job && self.compiles_long(object, &modules)? {
            // Admitted once compiled, off the loop (see `pulls`).
            module_writes(incoming, modules, writes, now);
            return wait(Some(crate::controller::image_pull::compiling(now)));
        }
        let admitted = admission::admit(object, &modules, &self.runtime, store)
            .map_err(|e| refused(incoming, e))?;
        module_writes(incoming, modules, writes, now);
        let existing = existing(incoming, control, store)?;
        let create_only = request.create_only;
        self.plan(
            incoming,
            admitted.prepared,
            (existing, control),
            create_only,
            now,
        )
    }

    /// Whether a container's module of `object` (among `modules`, or
    /// stored) means a long compile (see [`Runtime::compiles_long`]).
    ///
    /// [`Runtime::compiles_long`]: crate::runtime::Runtime::compiles_long
    fn compiles_long(&self, object: &Object, modules: &[ModuleBlob]) -> Result<bool, StoreError> {
        let Some(pod) = admission::pod_spec(object) else {
            return Ok(false);
        };
        for container in pod.all_containers() {
            let digest = &container.image;
            let stored;
            let bytes = match modules.iter().find(|m| &m.digest == digest) {
                Some(module) => &module.bytes,
                None => match self.journal.store().module(digest)? {
                    Some(bytes) => {
                        stored = bytes;
                        &stored
                    }
                    // Admission says what is missing.
                    None => continue,
                },
            };
            if self.runtime.compiles_long(digest, bytes) {
                return Ok(true);
            }
        }
        Ok(false)
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
        for (record, job) in changes.waiting {
            self.pulls.add(record, job, now);
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
        (existing, control): (Option<ObjectRecord>, Option<&dyn ControlPlane>),
        create_only: bool,
        now: Micros,
    ) -> Result<Plan, Failure> {
        let mut object = incoming.object.clone();
        let Some(existing) = existing else {
            object.metadata_mut().generation = Some(1);
            let run = NewRun::of(object, prepared, now);
            return Ok(Plan::Create(Box::new(run)));
        };
        if create_only {
            let (kind, name) = (object.kind(), &object.metadata().name);
            return Err(Failure::Refused(ApplyFailure {
                status: 409,
                message: format!("{} {name:?} already exists", kind.resource()),
            }));
        }
        let stored = existing.manifest["metadata"]["generation"].as_i64();
        object.metadata_mut().generation = stored;
        let manifest = object.stored_json();
        if existing.manifest == manifest {
            return Ok(Plan::Unchanged);
        }
        check_update(&object, &existing)
            .map_err(|(field, message)| Failure::Refused(invalid_at(incoming, field, &message)))?;
        object.metadata_mut().generation = Some(next_generation(&existing.manifest, &manifest));
        let also = match &object {
            Object::DaemonSet(ds) => {
                let revisions = history::revisions(control, self.journal.store())?;
                history::writes(ds, &existing.uid, &revisions, now)
            }
            _ => Vec::new(),
        };
        Ok(Plan::Configure {
            uid: existing.uid,
            object: Box::new(object),
            prepared,
            also,
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
}

/// The writes of the modules that came with an apply (each once).
fn module_writes(
    incoming: &Incoming,
    modules: Vec<ModuleBlob>,
    writes: &mut Vec<Write>,
    now: Micros,
) {
    for blob in modules {
        let known = |w: &Write| matches!(w, Write::Module { digest, .. } if *digest == blob.digest);
        if writes.iter().any(known) {
            continue;
        }
        let pulled_from = apply::pinned_reference(&incoming.object, &blob.digest);
        writes.push(Write::Module {
            component: is_component(&blob.bytes),
            digest: blob.digest,
            bytes: blob.bytes,
            at: now,
            pulled_from,
        });
    }
}

/// What applying a Job that waits on its node does (for its registry image
/// or the compile of its module, see `pulls`; `status` its first status if
/// not the default): create it, waiting, or nothing if the live Job is this
/// one; a live Job that differs keeps its template, as any Job's.
fn plan_wait(
    incoming: &Incoming,
    (job, status): (&Job, Option<crate::manifest::JobStatus>),
    existing: Option<ObjectRecord>,
    create_only: bool,
    now: Micros,
) -> Result<Plan, Failure> {
    let mut job = job.clone();
    let Some(existing) = existing else {
        job.metadata.generation = Some(1);
        let mut record = crate::runner::jobs::record_of(&job, now);
        if let Some(status) = status {
            record.status = serde_json::json!(status);
        }
        return Ok(Plan::Wait(Box::new((record, job))));
    };
    if create_only {
        return Err(Failure::Refused(ApplyFailure {
            status: 409,
            message: format!("jobs {:?} already exists", job.metadata.name),
        }));
    }
    job.metadata.generation = existing.manifest["metadata"]["generation"].as_i64();
    if existing.manifest == crate::runner::jobs::manifest_json(&job) {
        return Ok(Plan::Unchanged);
    }
    let message = "field is immutable once the Job exists: delete the Job and apply it again";
    let field = admission::image_path(crate::manifest::Kind::Job);
    Err(Failure::Refused(invalid_at(incoming, field, message)))
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

/// `metadata.generation` after an update from the stored manifest `old` to
/// `new`: one more when the spec changed, as the API server counts it (a
/// change of labels or annotations alone keeps it). Objects stored before
/// generations were kept count from 1.
fn next_generation(old: &serde_json::Value, new: &serde_json::Value) -> i64 {
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    generation + i64::from(old["spec"] != new["spec"])
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

#[cfg(test)]
mod tests {
    use super::next_generation;
    use serde_json::json;

    #[test]
    fn a_spec_change_is_the_next_generation_and_a_label_change_is_not() {
        let old = json!({"metadata": {"generation": 4}, "spec": {"a": 1}});
        let relabeled = json!({"metadata": {"labels": {"x": "y"}}, "spec": {"a": 1}});
        assert_eq!(next_generation(&old, &relabeled), 4);
        assert_eq!(next_generation(&old, &json!({"spec": {"a": 2}})), 5);
        // Stored before generations were kept: the first.
        assert_eq!(
            next_generation(&json!({"spec": {}}), &json!({"spec": {"a": 2}})),
            2
        );
    }
}
