//! A namespace's Pod Security levels applied to an apply (the rules are
//! [`crate::access::pod_security`]): a workload whose template breaks its
//! namespace's `enforce` level is refused before anything is admitted or
//! stored — where Kubernetes admits the Job and refuses each of its pods,
//! wasmjob refuses the Job that could never start, as it does for a
//! LimitRange; an update that leaves the template as stored is not
//! checked — and what breaks the `warn` and `audit` levels is handed
//! back with the object, for the `Warning` and the audit log's event. The
//! Namespace's labels are read from the apply itself when it carries the
//! Namespace, from the store (the cluster's, in a cluster) otherwise.

use std::collections::BTreeMap;

use super::ApplyRequest;
use super::Failure;
use super::quota::{forbidden, live};
use crate::access::admission_config::PodSecurityAdmission;
use crate::access::pod_security::{Levels, Verdict};
use crate::manifest::Kind;
use crate::store::{ControlPlane, Store};

/// What each object of `request` breaks of its namespace's `warn` and
/// `audit` levels (a mode its namespace sets no label for: the node's
/// default; an exempt namespace: none), in request order; the first that
/// breaks the `enforce` level refuses the whole apply.
pub(super) fn check(
    request: &ApplyRequest,
    admission: &PodSecurityAdmission,
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<Vec<Verdict>, Failure> {
    // The Namespaces the apply itself carries, as they will be.
    let mut levels: BTreeMap<String, Levels> = (request.objects.iter())
        .filter(|i| i.object.kind() == Kind::Namespace)
        .map(|i| {
            let meta = i.object.metadata();
            (
                meta.name.clone(),
                admission.levels_of(&meta.name, &meta.labels),
            )
        })
        .collect();
    let mut stored: Option<Vec<crate::store::ObjectRecord>> = None;
    let mut verdicts = Vec::with_capacity(request.objects.len());
    for incoming in &request.objects {
        let object = &incoming.object;
        let Some(pod) = crate::admission::pod_spec(object) else {
            verdicts.push(Verdict::default());
            continue;
        };
        let namespace = &object.metadata().namespace;
        if !levels.contains_key(namespace) {
            // Read once per apply, and only for an apply of a workload.
            if stored.is_none() {
                stored = Some(live(Kind::Namespace, "", control, store)?);
            }
            let namespaces = stored.as_deref().unwrap_or_default();
            let found = (namespaces.iter()).find(|r| &r.name == namespace);
            let of = found.map_or_else(
                || admission.levels_of(namespace, &Default::default()),
                |r| admission.levels_of(namespace, &r.labels),
            );
            levels.insert(namespace.clone(), of);
        }
        let verdict = match levels[namespace].check(pod) {
            Ok(verdict) => verdict,
            Err(_) if unchanged(object, pod, control, store)? => Verdict::default(),
            Err(refusal) => return Err(forbidden(object, refusal)),
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Whether `object` updates a stored workload and leaves its template as
/// it was. Kubernetes checks a pod's update only when it changes the pod's
/// spec; wasmjob checks a workload's the same way, so one applied before
/// its namespace was labelled may still be suspended, resumed, relabelled
/// or scaled (its instances meet the level when they start).
fn unchanged(
    object: &crate::manifest::Object,
    pod: &crate::manifest::PodSpec,
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<bool, crate::store::StoreError> {
    let meta = object.metadata();
    let found = (live(object.kind(), &meta.namespace, control, store)?.into_iter())
        .find(|record| record.name == meta.name);
    let stored = found.and_then(|record| crate::admission::stored_object(&record).ok());
    Ok(stored.is_some_and(|old| crate::admission::pod_spec(&old) == Some(pod)))
}
