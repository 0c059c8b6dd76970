//! The namespaces' ResourceQuotas as the runner holds them between passes:
//! read from the store again only when an object was committed since (most
//! nodes have none) — and the output a namespace with a `wasmjob.dev/logs`
//! quota has stored, once a second — and handed to each pass: the limits
//! on instances at once, their memory and their stored output to the
//! [`Budget`](super::budget::Budget), the limit on Jobs to the CronJobs,
//! whose Jobs are created by the runner rather than by an apply and so are
//! counted here: a scheduled run that would take its namespace past
//! `count/jobs.batch` is not created, as the Kubernetes CronJob
//! controller's create is refused by the quota's admission. The
//! namespaces' Pod Security `enforce` levels are read with them: a
//! workload applied before its namespace was labelled starts no instance
//! the level refuses, as Kubernetes' admission refuses its pods.

use std::collections::BTreeMap;

use super::budget::InstanceQuota;
use crate::access::pod_security::Levels;
use crate::access::quota::{self, LOG_BYTES};
use crate::manifest::quota::Limits;
use crate::manifest::{Config, Kind};
use crate::store::Store;
use crate::time::Micros;

/// How soon work held by its namespace's quota or Pod Security level (a
/// backfilled run, a DaemonSet's instance) looks for room again when no
/// pass came meanwhile.
pub(in crate::runner) const HELD_RETRY: Micros = 1_000_000;

/// A quota's name and its limit.
type Limit = (String, i64);

/// The namespaces' quotas, as last read.
#[derive(Default)]
pub(super) struct Quotas {
    /// The count of object commits they were read at (`None`: never).
    read_at: Option<u64>,
    /// `pods`, `limits.memory` and `wasmjob.dev/logs`, per namespace that
    /// has any.
    instances: BTreeMap<String, InstanceQuota>,
    /// `count/jobs.batch`, per namespace that has it.
    jobs: BTreeMap<String, Limit>,
    /// When the stored output of namespaces with a `wasmjob.dev/logs`
    /// quota was last counted.
    logs_read_at: Micros,
    /// The Pod Security `enforce` level of each namespace that sets one
    /// (the others have the node's default): what a workload applied
    /// before its namespace was labelled meets when it starts an instance.
    enforced: BTreeMap<String, Levels>,
}

/// How often a namespace's stored output is counted again.
const LOGS_EVERY: Micros = 1_000_000;

/// Keeps `value` in `kept` when it is tighter than what is kept.
fn tighter(kept: &mut Option<Limit>, quota: &str, value: Option<i64>) {
    if let Some(value) = value
        && kept.as_ref().is_none_or(|(_, k)| value < *k)
    {
        *kept = Some((quota.to_owned(), value));
    }
}

impl Quotas {
    /// Reads the quotas again if an object was committed since they were.
    /// A quota that cannot be read holds nothing: the apply that stored it
    /// had read it.
    pub(super) fn refresh(&mut self, store: &Store, now: Micros) {
        let generation = crate::store::commits::objects_generation();
        if self.read_at == Some(generation) {
            if now >= self.logs_read_at + LOGS_EVERY {
                self.count_logs(store, now);
            }
            return;
        }
        let mut instances: BTreeMap<String, InstanceQuota> = BTreeMap::new();
        let mut jobs: BTreeMap<String, Option<Limit>> = BTreeMap::new();
        let job_names = quota::names_of(Kind::Job);
        let read = store.live_objects(Kind::ResourceQuota, None);
        for record in read.unwrap_or_default() {
            let Ok(config) = Config::from_stored(Kind::ResourceQuota, &record.manifest) else {
                continue;
            };
            let Some(Limits::Quota(hard)) = config.limits else {
                continue;
            };
            let (namespace, name) = (&record.namespace, &record.name);
            let of = instances.entry(namespace.clone()).or_default();
            let pods = hard.get("pods").or(hard.get("count/pods"));
            tighter(&mut of.pods, name, pods.and_then(|p| p.parse().ok()));
            let memory = hard
                .get("limits.memory")
                .and_then(|m| crate::manifest::parse_memory_quantity(m).ok());
            tighter(&mut of.memory, name, memory.map(|m| m as i64));
            let logs =
                (hard.get(LOG_BYTES)).and_then(|l| crate::manifest::parse_memory_quantity(l).ok());
            if let Some(limit) = logs.map(|l| l as i64)
                && of.logs.as_ref().is_none_or(|(_, kept, _)| limit < *kept)
            {
                of.logs = Some((name.clone(), limit, 0));
            }
            let count = job_names.iter().find_map(|n| hard.get(n));
            let kept = jobs.entry(namespace.clone()).or_default();
            tighter(kept, name, count.and_then(|c| c.parse().ok()));
        }
        instances.retain(|_, q| q.pods.is_some() || q.memory.is_some() || q.logs.is_some());
        let namespaces = store.live_objects(Kind::Namespace, None);
        self.enforced = (namespaces.unwrap_or_default().into_iter())
            .filter_map(|record| {
                // Only enforcement holds a start; `warn` and `audit` were
                // said at apply.
                let enforce = Levels::of(&record.labels).enforce?;
                let levels = Levels {
                    enforce: Some(enforce),
                    ..Levels::default()
                };
                Some((record.name, levels))
            })
            .collect();
        self.instances = instances;
        self.jobs = (jobs.into_iter())
            .filter_map(|(namespace, limit)| Some((namespace, limit?)))
            .collect();
        self.read_at = Some(generation);
        self.count_logs(store, now);
    }

    /// Counts the output stored by each namespace with a `wasmjob.dev/logs`
    /// quota. One that cannot be counted keeps its last count.
    fn count_logs(&mut self, store: &Store, now: Micros) {
        self.logs_read_at = now;
        for (namespace, quota) in &mut self.instances {
            if let Some((_, _, stored)) = &mut quota.logs
                && let Ok(bytes) = store.log_bytes(namespace)
            {
                *stored = bytes as i64;
            }
        }
    }

    /// The quotas on instances at once, their memory and their output.
    pub(super) fn instances(&self) -> &BTreeMap<String, InstanceQuota> {
        &self.instances
    }

    /// The namespaces that set a Pod Security `enforce` level of their
    /// own, and their levels.
    pub(super) fn enforced(&self) -> &BTreeMap<String, Levels> {
        &self.enforced
    }

    /// Room for the Jobs CronJobs create in one pass.
    pub(super) fn job_room(&self) -> JobRoom<'_> {
        JobRoom {
            limits: &self.jobs,
            used: BTreeMap::new(),
        }
    }
}

/// What a pass's CronJobs may still create under their namespaces'
/// `count/jobs.batch`: the live Jobs a namespace has, read when one of its
/// CronJobs first fires in the pass, and those created since.
pub(in crate::runner) struct JobRoom<'a> {
    limits: &'a BTreeMap<String, Limit>,
    used: BTreeMap<String, i64>,
}

impl JobRoom<'_> {
    /// Takes room for one more Job in `namespace`, or says in Kubernetes'
    /// words which quota it would pass. A namespace whose Jobs cannot be
    /// read is not held back (its apply-time check still holds).
    pub(in crate::runner) fn take(&mut self, namespace: &str, store: &Store) -> Result<(), String> {
        let Some((name, limit)) = self.limits.get(namespace) else {
            return Ok(());
        };
        if !self.used.contains_key(namespace) {
            let live = store.live_objects(Kind::Job, Some(namespace));
            let count = live.map_or(0, |jobs| jobs.len() as i64);
            self.used.insert(namespace.to_owned(), count);
        }
        let used = self.used.get_mut(namespace).expect("counted above");
        let resource = quota::names_of(Kind::Job).swap_remove(0);
        let hard = BTreeMap::from([(resource.clone(), limit.to_string())]);
        let now = BTreeMap::from([(resource.clone(), *used)]);
        let asked = BTreeMap::from([(resource, 1)]);
        match quota::exceeded(name, &hard, &now, &asked) {
            Some(message) => Err(message),
            None => {
                *used += 1;
                Ok(())
            }
        }
    }
}
