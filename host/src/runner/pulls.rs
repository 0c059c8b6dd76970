//! Jobs that wait for their registry images. A Job applied while its
//! image could not be pulled (see [`crate::apply::localize_for_node`]) is
//! recorded with its template naming the image as written, and waits
//! here, as a Kubernetes Pod waits in `ErrImagePull`/`ImagePullBackOff`:
//! the node pulls on a blocking thread (the loop never waits on a
//! registry), compiles what it pulled there too, and is told through its
//! inbox. A pull that fails is tried again after the back-off of
//! [`crate::controller::image_pull`], the Job's status and events saying
//! why; one that succeeds pins the Job's images to their digests, as an
//! apply does, and the Job runs from then on like any other.
//!
//! A Job whose module is large and not yet compiled on this node (see
//! [`crate::runtime::Runtime::compiles_long`]) waits here the same way, as
//! `Compiling`: its module is compiled on the blocking thread, so an apply
//! of a Python or JavaScript plugin never holds the loop for seconds.

use std::sync::Arc;

use super::driver::JobStates;
use super::jobs::{JobDriver, JobRun};
use super::writes::event;
use crate::admission::{self, ModuleBlob, Refused};
use crate::apply::{self, PullFailed};
use crate::controller::cronjob::RunState;
use crate::controller::{Event, image_pull};
use crate::manifest::{Job, JobStatus, Object};
use crate::runtime::{Runtime, is_component};
use crate::store::{ObjectRecord, Store, StoreError, Write};
use crate::time::{self, Micros};

/// The Jobs of this node that wait for their images.
pub(super) struct Pulls {
    waiting: Vec<Waiting>,
    tell: Tell,
    handle: tokio::runtime::Handle,
    runtime: Arc<Runtime>,
}

/// What a pull or compile on a blocking thread found for the waiting Job
/// `uid` (see `pulls`).
pub struct Pulled {
    pub(super) uid: String,
    /// The Job with its images pinned and the modules pulled, or why not.
    pub(super) outcome: Result<(Object, Vec<ModuleBlob>), PullFailed>,
    /// The modules compiled there, with how long each took (ms).
    pub(super) compiled: Vec<(String, u128)>,
}

/// Where a blocking thread's finding goes: the runner's inbox.
pub(super) type Tell = Arc<dyn Fn(Pulled) + Send + Sync>;

/// One Job waiting for its image.
struct Waiting {
    record: ObjectRecord,
    job: Job,
    /// Failed pulls in a row.
    failures: u32,
    /// When the next pull starts.
    next_try: Micros,
    /// A pull is under way.
    pulling: bool,
}

impl Pulls {
    pub(super) fn new(tell: Tell, handle: tokio::runtime::Handle, runtime: Arc<Runtime>) -> Self {
        Pulls {
            waiting: Vec::new(),
            tell,
            handle,
            runtime,
        }
    }

    /// A Job, recorded as `record`, waits from `now` (its first pull
    /// starts at the next pass).
    pub(super) fn add(&mut self, record: ObjectRecord, job: Job, now: Micros) {
        self.waiting.push(Waiting {
            record,
            job,
            failures: 0,
            next_try: now,
            pulling: false,
        });
    }

    /// Forgets the Job `uid` (deleted); a pull under way is ignored when
    /// it ends.
    pub(super) fn remove(&mut self, uid: &str) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|w| w.record.uid != uid);
        self.waiting.len() != before
    }

    /// Starts the pulls due at `now`, each on a blocking thread with the
    /// Job's `imagePullSecrets` as the node's store has them; returns when
    /// the next one is due. Kubelet's `Pulling` event goes to `writes`.
    pub(super) fn start_due(
        &mut self,
        now: Micros,
        store: &Store,
        keyring: &crate::secrets::Keyring,
        writes: &mut Vec<Write>,
    ) -> Option<Micros> {
        let mut next = None;
        for waiting in self.waiting.iter_mut().filter(|w| !w.pulling) {
            if waiting.next_try > now {
                next = time::earliest(next, Some(waiting.next_try));
                continue;
            }
            waiting.pulling = true;
            let template = &waiting.job.spec.template.spec;
            let names: Vec<String> = (template.image_pull_secrets.iter())
                .map(|s| s.name.clone())
                .collect();
            let namespace = &waiting.record.namespace;
            let secrets = apply::stored_pull_secrets(store, keyring, namespace, &names);
            let pulling = Event::normal(
                "Pulling",
                format!("Pulling image {:?}", image(&waiting.job)),
            );
            writes.push(event(&waiting.record.uid, pulling, now));
            let uid = waiting.record.uid.clone();
            let object = Object::Job(waiting.job.clone());
            let stored = stored_unprepared(&waiting.job, store, &self.runtime);
            let (tell, runtime) = (self.tell.clone(), self.runtime.clone());
            self.handle.spawn_blocking(move || {
                let mut compiled = Vec::new();
                let outcome = apply::pull_left(object, &secrets).and_then(|(object, pulled)| {
                    // Compiled here, off the loop: admission then finds
                    // them ready.
                    for module in pulled.iter().chain(&stored) {
                        let started = std::time::Instant::now();
                        runtime
                            .prepare(&module.digest, &module.bytes)
                            .map_err(|e| PullFailed {
                                image: module.digest.clone(),
                                reason: image_pull::CREATE_CONTAINER_ERROR,
                                message: e.to_string(),
                            })?;
                        compiled.push((module.digest.clone(), started.elapsed().as_millis()));
                    }
                    Ok((object, pulled))
                });
                let pulled = Pulled {
                    uid,
                    outcome,
                    compiled,
                };
                tell(pulled);
            });
        }
        next
    }

    /// The `failures`-th failure of the waiting Job `uid`: its next try,
    /// its status and events, as writes.
    fn failed(&mut self, uid: &str, failure: &PullFailed, now: Micros) -> Vec<Write> {
        let Some(waiting) = self.waiting.iter_mut().find(|w| w.record.uid == uid) else {
            return Vec::new();
        };
        waiting.failures += 1;
        waiting.pulling = false;
        let why = (failure.reason, failure.message.as_str());
        let decided = image_pull::failed(&failure.image, why, waiting.failures, now);
        waiting.next_try = decided.next_try;
        let status = serde_json::json!(decided.status);
        waiting.record.status = status.clone();
        let mut writes: Vec<Write> = (decided.events.into_iter())
            .map(|e| event(uid, e, now))
            .collect();
        writes.push(Write::ObjectStatus {
            uid: uid.to_owned(),
            status,
        });
        writes
    }
}

/// The Jobs of this node as its CronJobs follow them: those the Job
/// driver runs, and those waiting for their images (running, for a
/// CronJob: the run was created and has not ended).
pub(super) struct Following<'a>(pub &'a JobDriver, pub &'a Pulls);

impl JobStates for Following<'_> {
    fn state(&self, uid: &str) -> Option<RunState> {
        let Following(jobs, pulls) = self;
        let waits = || pulls.waiting.iter().any(|w| w.record.uid == uid);
        jobs.state(uid)
            .or_else(|| waits().then_some(RunState::Running))
    }
}

/// The stored modules of `job`'s containers (named by digest) that
/// this node has not prepared: what a waiting Job compiles.
fn stored_unprepared(job: &Job, store: &Store, runtime: &Runtime) -> Vec<ModuleBlob> {
    let mut modules: Vec<ModuleBlob> = Vec::new();
    for container in job.spec.template.spec.all_containers() {
        let digest = &container.image;
        let known = modules.iter().any(|m| &m.digest == digest);
        if known || crate::oci::is_reference(digest) || runtime.prepared(digest).is_some() {
            continue;
        }
        // A module the store lacks is said by admission.
        if let Ok(Some(bytes)) = store.module(digest) {
            let digest = digest.clone();
            modules.push(ModuleBlob { digest, bytes });
        }
    }
    modules
}

/// The first registry image `job` waits for, as written.
fn image(job: &Job) -> String {
    let spec = &job.spec.template.spec;
    let waiting = spec
        .all_containers()
        .find(|c| crate::oci::is_reference(&c.image));
    waiting.map(|c| c.image.clone()).unwrap_or_default()
}

/// What an ended pull decided for its Job.
pub(super) enum Ended {
    /// Nothing: the Job was deleted meanwhile.
    Gone,
    /// It waits for its next try: its status and events.
    Waits(Vec<Write>),
    /// It runs: its modules, pinned manifest, status and events first.
    Runs(Vec<Write>, Box<JobRun>),
}

impl Pulls {
    /// A pull ended at `now`: the Job runs with the modules pulled
    /// (admitted as at apply, the store read for the others), or waits
    /// for its next try.
    pub(super) fn finish(
        &mut self,
        pulled: Pulled,
        store: &Store,
        now: Micros,
    ) -> Result<Ended, StoreError> {
        let Pulled {
            uid,
            outcome,
            compiled,
        } = pulled;
        let Some(at) = self.waiting.iter().position(|w| w.record.uid == uid) else {
            return Ok(Ended::Gone);
        };
        let (object, modules) = match outcome {
            Ok(found) => found,
            Err(failure) => return Ok(Ended::Waits(self.failed(&uid, &failure, now))),
        };
        let admitted = match admission::admit(&object, &modules, &self.runtime, store) {
            Ok(admitted) => admitted,
            Err(Refused::Store(e)) => return Err(e),
            Err(Refused::Invalid(e)) => {
                // The image is there but cannot run as it is (not a
                // command, too much memory): tried again like a failed
                // pull, as a Pod waits in CreateContainerError.
                let failure = PullFailed {
                    image: image(&self.waiting[at].job),
                    reason: image_pull::CREATE_CONTAINER_ERROR,
                    message: format!("{}: {}", e.path, e.message),
                };
                return Ok(Ended::Waits(self.failed(&uid, &failure, now)));
            }
        };
        let mut writes: Vec<Write> = (modules.into_iter())
            .map(|m| Write::Module {
                component: is_component(&m.bytes),
                pulled_from: apply::pinned_reference(&object, &m.digest),
                digest: m.digest,
                bytes: m.bytes,
                at: now,
            })
            .collect();
        let Object::Job(job) = object else {
            unreachable!("only Jobs wait for their images")
        };
        let mut waiting = self.waiting.remove(at);
        let manifest = super::jobs::manifest_json(&job);
        let status = serde_json::json!(JobStatus::default());
        writes.push(Write::ObjectManifest {
            uid: uid.clone(),
            manifest: manifest.clone(),
            labels: job.metadata.labels.clone(),
        });
        writes.push(Write::ObjectStatus {
            uid: uid.clone(),
            status: status.clone(),
        });
        let before = &waiting.job.spec.template.metadata.annotations;
        let annotations = &job.spec.template.metadata.annotations;
        for (key, pinned) in annotations {
            if key.starts_with(apply::IMAGE_ID_PREFIX) && !before.contains_key(key) {
                writes.push(event(&uid, image_pull::pulled(pinned), now));
            }
        }
        for (digest, millis) in compiled {
            writes.push(event(&uid, image_pull::compiled(&digest, millis), now));
        }
        waiting.record.manifest = manifest;
        waiting.record.status = status;
        let run = JobRun::pulled(waiting.record, job, admitted.prepared);
        Ok(Ended::Runs(writes, Box::new(run)))
    }
}
