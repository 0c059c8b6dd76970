//! A namespace's LimitRanges and ResourceQuotas applied to an apply, on
//! the runner's thread so that two applies never both take the last room:
//! each workload's containers get the namespace's default memory and are
//! held to its bounds before anything is admitted, and the objects an
//! apply creates are counted against the quotas before anything is
//! written — a refused apply stores nothing. The arithmetic and the words
//! are `manifest::quota` and `access::quota`.

use std::collections::BTreeMap;

use super::{ApplyFailure, ApplyRequest, Failure};
use crate::access::quota;
use crate::manifest::quota::{Limits, limit};
use crate::manifest::{Config, Kind, Object, PodSpec};
use crate::store::{ControlPlane, ObjectRecord, Store, StoreError};

/// A ResourceQuota's name and `spec.hard`.
type Quota = (String, BTreeMap<String, String>);

/// The live objects of `kind` in `namespace`: the cluster's, in a cluster.
pub(super) fn live(
    kind: Kind,
    namespace: &str,
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<Vec<ObjectRecord>, StoreError> {
    match control {
        Some(control) => Ok(control
            .live_objects(kind)?
            .into_iter()
            .filter(|r| r.namespace == namespace)
            .collect()),
        None => store.live_objects(kind, Some(namespace)),
    }
}

/// The quota or limit range a stored record holds, if it reads.
fn limits_of(record: &ObjectRecord) -> Option<Limits> {
    Config::from_stored(record.kind, &record.manifest)
        .ok()
        .and_then(|c| c.limits)
}

fn pod_spec_mut(object: &mut Object) -> Option<&mut PodSpec> {
    match object {
        Object::Job(o) => Some(&mut o.spec.template.spec),
        Object::CronJob(o) => Some(&mut o.spec.job_template.spec.template.spec),
        Object::DaemonSet(o) => Some(&mut o.spec.template.spec),
        Object::Config(_) => None,
    }
}

pub(super) fn forbidden(object: &Object, message: String) -> Failure {
    let meta = object.metadata();
    Failure::Refused(ApplyFailure {
        status: 403,
        message: format!(
            "{} {:?} is forbidden: {message}",
            object.kind().resource(),
            meta.name
        ),
    })
}

/// Gives each workload's containers the memory defaults of its
/// namespace's LimitRanges and holds them to their bounds.
pub(super) fn limit_ranges(
    request: &mut ApplyRequest,
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<(), Failure> {
    let mut ranges: BTreeMap<String, Vec<ObjectRecord>> = BTreeMap::new();
    for incoming in &mut request.objects {
        let namespace = incoming.object.metadata().namespace.clone();
        if pod_spec_mut(&mut incoming.object).is_none() {
            continue;
        }
        if !ranges.contains_key(&namespace) {
            let found = live(Kind::LimitRange, &namespace, control, store)?;
            ranges.insert(namespace.clone(), found);
        }
        for record in &ranges[&namespace] {
            let Some(Limits::Range(items)) = limits_of(record) else {
                continue;
            };
            let pod = pod_spec_mut(&mut incoming.object).expect("a workload");
            if let Err(message) = limit(pod, &items) {
                let message = format!(
                    "{message} (LimitRange {} of namespace {namespace})",
                    record.name
                );
                return Err(forbidden(&incoming.object, message));
            }
        }
    }
    Ok(())
}

/// Counts the objects `request` creates (those `creates` marks) against
/// the ResourceQuotas of their namespaces; the first that would pass one
/// is refused with Kubernetes' `exceeded quota` sentence.
pub(super) fn check_quotas(
    request: &ApplyRequest,
    creates: &[bool],
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<(), Failure> {
    let mut quotas: BTreeMap<String, Vec<Quota>> = BTreeMap::new();
    let mut used: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut requested: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (incoming, _) in request.objects.iter().zip(creates).filter(|(_, c)| **c) {
        let object = &incoming.object;
        let namespace = object.metadata().namespace.clone();
        if object.kind().cluster_scoped() {
            continue;
        }
        if !quotas.contains_key(&namespace) {
            let found = live(Kind::ResourceQuota, &namespace, control, store)?
                .iter()
                .filter_map(|r| match limits_of(r) {
                    Some(Limits::Quota(hard)) => Some((r.name.clone(), hard)),
                    _ => None,
                })
                .collect();
            quotas.insert(namespace.clone(), found);
        }
        let names = quota::names_of(object.kind());
        let asked = requested.entry(namespace.clone()).or_default();
        for name in &names {
            *asked.entry(name.clone()).or_default() += 1;
        }
        for (quota_name, hard) in &quotas[&namespace] {
            let mut now = BTreeMap::new();
            for name in names.iter().filter(|n| hard.contains_key(*n)) {
                let key = (namespace.clone(), name.clone());
                if !used.contains_key(&key) {
                    let kind = quota::counted_kind(name).unwrap_or(object.kind());
                    let count = live(kind, &namespace, control, store)?.len() as i64;
                    used.insert(key.clone(), count);
                }
                now.insert(name.clone(), used[&key]);
            }
            if let Some(message) = quota::exceeded(quota_name, hard, &now, asked) {
                return Err(forbidden(object, message));
            }
        }
    }
    Ok(())
}
