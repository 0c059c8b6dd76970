//! Admission: the one path every object's module takes before anything of
//! the object is stored or run. The module is looked up (the bytes that
//! came with the object, or the store's by digest), compiled and linked by
//! the runtime (imports the host provides, a command's entry point), and
//! checked against the object (its declared initial memory within the
//! instance's memory limit). `wasmjob run`, `apply` through a server, a
//! node resuming its stored objects at start and a cluster node taking one
//! over all call [`admit`], so the same input gets the same answer on every
//! path.

use std::sync::Arc;

use crate::manifest::{
    Container, CronJob, DaemonSet, FieldError, Job, Kind, Object, PodSpec, memory_quantity,
};
use crate::runtime::{DEFAULT_MEMORY_LIMIT, Prepared, Runtime};
use crate::store::{ObjectRecord, Store, StoreError};

/// A module an object needs stored.
#[derive(Debug, Clone)]
pub struct ModuleBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// The module bytes.
    pub bytes: Vec<u8>,
}

/// An object's module, admitted.
pub struct Admitted {
    /// Compiled and linked.
    pub prepared: Arc<Prepared>,
}

/// Why an object is not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The object or its module is wrong: the field and what is wrong.
    #[error("{}: {}", .0.path, .0.message)]
    Invalid(FieldError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The path of the image field of `object`.
pub fn image_path(kind: Kind) -> &'static str {
    match kind {
        Kind::CronJob => "spec.jobTemplate.spec.template.spec.containers[0].image",
        Kind::Job | Kind::DaemonSet => "spec.template.spec.containers[0].image",
        _ => "kind",
    }
}

/// The field path of each container of `pod` (init containers first), in
/// an object of `kind`.
pub fn container_paths(kind: Kind, pod: &PodSpec) -> Vec<String> {
    let base = match kind {
        Kind::CronJob => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    };
    let init = (0..pod.init_containers.len()).map(|i| format!("{base}.initContainers[{i}]"));
    let main = (0..pod.containers.len()).map(|i| format!("{base}.containers[{i}]"));
    init.chain(main).collect()
}

/// The pod template every instance of `object` is made from (a ConfigMap
/// or Secret has none).
pub fn pod_spec(object: &Object) -> Option<&PodSpec> {
    match object {
        Object::Job(o) => Some(&o.spec.template.spec),
        Object::CronJob(o) => Some(&o.spec.job_template.spec.template.spec),
        Object::DaemonSet(o) => Some(&o.spec.template.spec),
        Object::Config(_) => None,
    }
}

/// Admits `object`, whose images are digests: each container's module
/// (init containers' too) is among `modules` when its bytes came with the
/// object, the store's otherwise. Every module is compiled and linked here
/// (the runtime keeps them by digest for the instances' other containers);
/// the first container's is the one [`Admitted`] holds.
pub fn admit(
    object: &Object,
    modules: &[ModuleBlob],
    runtime: &Runtime,
    store: &Store,
) -> Result<Admitted, Refused> {
    let refuse_at = |at: &str, message: String| {
        Refused::Invalid(FieldError::new(format!("{at}.image"), message))
    };
    let Some(pod) = pod_spec(object) else {
        let message = "a ConfigMap or Secret runs no module".to_owned();
        return Err(Refused::Invalid(FieldError::new("kind", message)));
    };
    let paths = container_paths(object.kind(), pod);
    let mut main = None;
    for (container, at) in pod.all_containers().zip(&paths) {
        let digest = &container.image;
        let stored;
        let bytes = match modules.iter().find(|m| &m.digest == digest) {
            Some(blob) => &blob.bytes,
            None => {
                stored = store.module(digest)?.ok_or_else(|| {
                    let message =
                        format!("no stored module has digest {digest}: apply it from a file first");
                    refuse_at(at, message)
                })?;
                &stored
            }
        };
        let prepared = runtime
            .prepare(digest, bytes)
            .map_err(|e| refuse_at(at, e.to_string()))?;
        check_memory(container, &prepared).map_err(|e| refuse_at(at, e))?;
        if std::ptr::eq(container, &pod.containers[0]) {
            main = Some(prepared);
        }
    }
    let prepared = main.expect("a validated template has a container");
    Ok(Admitted { prepared })
}

/// A module whose declared initial memory is over the instance's limit
/// could never start: every instance would be OOMKilled before its first
/// instruction. Say so now rather than after a Job of failures. (A node
/// whose memories are bounded, `--memory-reservation`, refuses a module
/// declaring more than the bound when it compiles it: `Runtime::prepare`.)
fn check_memory(container: &Container, prepared: &Prepared) -> Result<(), String> {
    let limit = container.memory_limit().unwrap_or(DEFAULT_MEMORY_LIMIT);
    let declared = prepared.initial_memory();
    if declared <= limit {
        return Ok(());
    }
    Err(format!(
        "the module declares {} of initial memory, more than the instance's memory limit of {}: \
         raise resources.limits.memory or build the module with a smaller initial memory",
        memory_quantity(declared),
        memory_quantity(limit)
    ))
}

/// A stored object, read back from its record.
pub fn stored_object(record: &ObjectRecord) -> Result<Object, String> {
    let manifest = record.manifest.clone();
    let read = match record.kind {
        Kind::Job => serde_json::from_value::<Job>(manifest).map(Object::Job),
        Kind::CronJob => serde_json::from_value::<CronJob>(manifest).map(Object::CronJob),
        Kind::DaemonSet => serde_json::from_value::<DaemonSet>(manifest).map(Object::DaemonSet),
        _ => {
            return Err(format!(
                "stored {} {} runs nothing",
                record.kind.as_str(),
                record.name
            ));
        }
    };
    read.map_err(|e| {
        format!(
            "stored {} {} cannot be read: {e}",
            record.kind.as_str(),
            record.name
        )
    })
}

/// Admits a stored object (resumed at start, or taken over from a lost
/// node) by the same rules as a new one.
pub fn admit_stored(
    record: &ObjectRecord,
    runtime: &Runtime,
    store: &Store,
) -> Result<(Object, Admitted), Refused> {
    let object =
        stored_object(record).map_err(|message| Refused::Invalid(FieldError::new("", message)))?;
    let admitted = admit(&object, &[], runtime, store)?;
    Ok((object, admitted))
}
