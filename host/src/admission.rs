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

use crate::manifest::{CronJob, DaemonSet, FieldError, Job, Kind, Object, PodSpec};
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
        Kind::ConfigMap | Kind::Secret => "kind",
    }
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

/// Admits `object`, whose image is a digest: its module is `module` when
/// the bytes came with it, the store's otherwise.
pub fn admit(
    object: &Object,
    module: Option<&ModuleBlob>,
    runtime: &Runtime,
    store: &Store,
) -> Result<Admitted, Refused> {
    let at = image_path(object.kind());
    let refuse = |message: String| Refused::Invalid(FieldError::new(at, message));
    let pod =
        pod_spec(object).ok_or_else(|| refuse("a ConfigMap or Secret runs no module".into()))?;
    let digest = &pod.containers[0].image;
    let stored;
    let bytes = match module.filter(|m| &m.digest == digest) {
        Some(blob) => &blob.bytes,
        None => {
            stored = store.module(digest)?.ok_or_else(|| {
                refuse(format!(
                    "no stored module has digest {digest}: apply it from a file first"
                ))
            })?;
            &stored
        }
    };
    let prepared = runtime
        .prepare(digest, bytes)
        .map_err(|e| refuse(e.to_string()))?;
    check_memory(pod, &prepared).map_err(refuse)?;
    Ok(Admitted { prepared })
}

/// A module whose declared initial memory is over the instance's limit
/// could never start: every instance would be OOMKilled before its first
/// instruction. Say so now rather than after a Job of failures.
fn check_memory(pod: &PodSpec, prepared: &Prepared) -> Result<(), String> {
    let limit = pod.containers[0]
        .memory_limit()
        .unwrap_or(DEFAULT_MEMORY_LIMIT);
    let declared = prepared.initial_memory();
    if declared <= limit {
        return Ok(());
    }
    Err(format!(
        "the module declares {} of initial memory, more than the instance's memory limit of {}: \
         raise resources.limits.memory or build the module with a smaller initial memory",
        mebibytes(declared),
        mebibytes(limit)
    ))
}

/// Bytes as Kubernetes writes memory quantities, in whole MiB where exact.
fn mebibytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}Mi", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// A stored object, read back from its record.
pub fn stored_object(record: &ObjectRecord) -> Result<Object, String> {
    let manifest = record.manifest.clone();
    let read = match record.kind {
        Kind::Job => serde_json::from_value::<Job>(manifest).map(Object::Job),
        Kind::CronJob => serde_json::from_value::<CronJob>(manifest).map(Object::CronJob),
        Kind::DaemonSet => serde_json::from_value::<DaemonSet>(manifest).map(Object::DaemonSet),
        Kind::ConfigMap | Kind::Secret => {
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
    let admitted = admit(&object, None, runtime, store)?;
    Ok((object, admitted))
}
