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
//!
//! In a cluster the quotas on instances hold for every node together: the
//! runner keeps this node's share of each (see
//! [`crate::access::quota_share`]), what its namespaces' instances waited
//! for beyond it since it last asked, and the output the cluster's
//! database has stored for each namespace with a `wasmjob.dev/logs`
//! quota (this node's own file holds only what ran here), and the live
//! Jobs it holds for each namespace with a `count/jobs.batch` quota.

use std::collections::BTreeMap;

use super::budget::InstanceQuota;
use crate::access::pod_security::Levels;
use crate::access::quota::{self, LOG_BYTES};
use crate::access::quota_share::{Amount, Ask, Hard, Share};
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
    /// In a cluster: this node's share of each namespace's quotas on
    /// instances, as it last set it (`None`: a node of its own).
    shares: Option<BTreeMap<String, Share>>,
    /// In a cluster: what each namespace's instances waited for beyond
    /// this node's share since it last asked (the most at any pass).
    waiting: BTreeMap<String, Amount>,
    /// In a cluster: the output each namespace with a `wasmjob.dev/logs`
    /// quota has stored, as the cluster's database last said.
    cluster_logs: BTreeMap<String, u64>,
    /// In a cluster: the live Jobs of each namespace with a
    /// `count/jobs.batch` quota, as the cluster's database last said.
    cluster_jobs: BTreeMap<String, i64>,
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
    /// quota — in a cluster, the more of what this node's file and the
    /// cluster's database hold. One that cannot be counted keeps its last
    /// count.
    fn count_logs(&mut self, store: &Store, now: Micros) {
        self.logs_read_at = now;
        for (namespace, quota) in &mut self.instances {
            if let Some((_, _, stored)) = &mut quota.logs
                && let Ok(bytes) = store.log_bytes(namespace)
            {
                let cluster = self.cluster_logs.get(namespace).copied().unwrap_or(0);
                *stored = bytes.max(cluster) as i64;
            }
        }
    }

    /// The node is part of a cluster: its namespaces' instances are held
    /// by its shares of their quotas, starting from `kept` (what it last
    /// set before it restarted: the cluster still counts them).
    pub(super) fn share_across_cluster(&mut self, kept: BTreeMap<String, Share>) {
        self.shares = Some(kept);
    }

    /// This node's shares, in a cluster.
    pub(super) fn shares(&self) -> Option<&BTreeMap<String, Share>> {
        self.shares.as_ref()
    }

    /// What a pass's namespaces waited for beyond their room.
    pub(super) fn note_waiting(&mut self, waiting: BTreeMap<String, Amount>) {
        if self.shares.is_none() {
            return;
        }
        for (namespace, amount) in waiting {
            let kept = self.waiting.entry(namespace).or_default();
            *kept = kept.max(amount);
        }
    }

    /// Whether instances wait for a larger share than this node has.
    pub(super) fn waiting_for_share(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// What to ask the cluster for: for each namespace with a quota on
    /// its instances or their memory, what this node's hold now (`held`)
    /// and what waited since the last ask.
    pub(super) fn asks(&self, held: &BTreeMap<String, (i64, i64)>) -> Vec<Ask> {
        (self.instances.iter())
            .filter(|(_, q)| q.pods.is_some() || q.memory.is_some())
            .map(|(namespace, quota)| {
                let (pods, memory) = held.get(namespace).copied().unwrap_or((0, 0));
                Ask {
                    namespace: namespace.clone(),
                    hard: Hard {
                        pods: quota.pods.as_ref().map(|(_, limit)| *limit),
                        memory: quota.memory.as_ref().map(|(_, limit)| *limit),
                    },
                    held: Amount { pods, memory },
                    waiting: self.waiting.get(namespace).copied().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The shares the cluster gave; what waited is asked for afresh.
    /// Whether they changed.
    pub(super) fn took_shares(&mut self, shares: Vec<(String, Share)>) -> bool {
        let shares: BTreeMap<String, Share> = shares.into_iter().collect();
        self.waiting.clear();
        let changed = self.shares.as_ref() != Some(&shares);
        self.shares = Some(shares);
        changed
    }

    /// The namespaces whose stored output the cluster counts.
    pub(super) fn logs_metered(&self) -> Vec<String> {
        (self.instances.iter())
            .filter(|(_, q)| q.logs.is_some())
            .map(|(namespace, _)| namespace.clone())
            .collect()
    }

    /// The output the cluster's database holds for `namespace`.
    pub(super) fn cluster_stored(&mut self, namespace: String, bytes: u64) {
        self.cluster_logs.insert(namespace, bytes);
    }

    /// The namespaces whose live Jobs the cluster counts for the Jobs
    /// their CronJobs create.
    pub(super) fn jobs_metered(&self) -> Vec<String> {
        self.jobs.keys().cloned().collect()
    }

    /// The live Jobs the cluster's database holds for `namespace`.
    pub(super) fn cluster_jobs(&mut self, namespace: String, jobs: u64) {
        self.cluster_jobs.insert(namespace, jobs as i64);
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
            cluster: &self.cluster_jobs,
            used: BTreeMap::new(),
        }
    }
}

/// What a pass's CronJobs may still create under their namespaces'
/// `count/jobs.batch`: the live Jobs a namespace has, read when one of its
/// CronJobs first fires in the pass, and those created since. In a
/// cluster, the more of this node's file's count and the cluster's (read
/// at each heartbeat: Jobs other nodes created since are not counted).
pub(in crate::runner) struct JobRoom<'a> {
    limits: &'a BTreeMap<String, Limit>,
    cluster: &'a BTreeMap<String, i64>,
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
            let cluster = self.cluster.get(namespace).copied().unwrap_or(0);
            self.used.insert(namespace.to_owned(), count.max(cluster));
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
