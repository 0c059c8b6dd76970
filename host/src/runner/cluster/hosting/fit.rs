//! Whether this node should take or keep another node's work: its
//! `NoExecute` taints end what it hosts and does not tolerate, its
//! `PreferNoSchedule` taints leave work to other nodes, and its extended
//! resources bound what it claims.

use super::{Hosting, end_write};
use crate::controller::job;
use crate::manifest::{TaintEffect, taints};
use crate::runner::driver::Driver as _;
use crate::runner::nodes::ClusterNodes;
use crate::runner::parts::Parts;
use crate::runner::writes::stop;
use crate::store::Write;
use crate::time::Micros;

impl Hosting {
    /// What runs here for other nodes' Jobs (and links of this node's own
    /// chains) that this node's `NoExecute` taints do not let stay ends as
    /// its own Jobs' instances do (`DeletionByTaintManager`, which their
    /// owners count as a disruption); when to look again for those that
    /// may stay their `tolerationSeconds`.
    pub(super) fn evict_untolerated(
        &mut self,
        parts: &Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Option<Micros> {
        let taints = &parts.config.node_taints;
        if self.hosted.is_empty() || !taints.iter().any(|t| t.effect == TaintEffect::NoExecute) {
            return None;
        }
        let mut wake = None;
        let mut evicted = Vec::new();
        for (uid, hosted) in &self.hosted {
            let owner = &hosted.record.owner_uid;
            let foreign = self
                .foreign
                .get(owner)
                .and_then(Option::as_ref)
                .map(|f| &f.job);
            let Some(job) = parts.jobs.job(owner).or(foreign) else {
                continue;
            };
            let tolerations = &job.spec.template.spec.tolerations;
            match taints::evict_at(tolerations, taints, now) {
                Some((at, taint)) if at <= now => {
                    let message = format!(
                        "Taint manager: deleting due to NoExecute taint {}={}:NoExecute on node {}",
                        taint.key, taint.value, parts.config.node_name
                    );
                    evicted.push((uid.clone(), message));
                }
                Some((at, _)) => wake = crate::time::earliest(wake, Some(at)),
                None => {}
            }
        }
        for (uid, message) in evicted {
            let hosted = self.hosted.remove(&uid).expect("listed above");
            hosted.abort.abort();
            let mut ended = hosted.record;
            stop(&mut ended, now, job::DELETION_BY_TAINT_MANAGER, &message);
            writes.push(end_write(ended));
        }
        wake
    }

    /// What one instance of the Job `uid` takes of each extended resource.
    pub(super) fn demand_of(
        &self,
        parts: &Parts,
        uid: &str,
    ) -> std::collections::BTreeMap<String, i64> {
        let foreign = self
            .foreign
            .get(uid)
            .and_then(Option::as_ref)
            .map(|f| &f.job);
        let job = parts.jobs.job(uid).or(foreign);
        job.map(|j| j.spec.template.spec.extended_resources())
            .unwrap_or_default()
    }

    /// The extended resources this node has free: what it advertises less
    /// what its own instances and those it hosts hold.
    pub(super) fn free_resources(&self, parts: &Parts) -> std::collections::BTreeMap<String, i64> {
        let mut free = parts.config.resources.clone();
        if free.is_empty() {
            return free;
        }
        let mut take = |held: std::collections::BTreeMap<String, i64>| {
            for (name, n) in held {
                *free.entry(name).or_default() -= n;
            }
        };
        take(parts.jobs.extended_held());
        take(parts.daemons.extended_held());
        for hosted in self.hosted.values() {
            take(self.demand_of(parts, &hosted.record.owner_uid));
        }
        free
    }

    /// Whether this node's `PreferNoSchedule` taints, which the Job `uid`
    /// does not tolerate, leave its instances to another Ready node that
    /// admits them without such a taint (the preference Kubernetes'
    /// scheduler scores; here the tainted node just does not claim them).
    pub(super) fn prefers_elsewhere(&self, parts: &Parts, nodes: &ClusterNodes, uid: &str) -> bool {
        let foreign = self
            .foreign
            .get(uid)
            .and_then(Option::as_ref)
            .map(|f| &f.job);
        let Some(job) = parts.jobs.job(uid).or(foreign) else {
            return false;
        };
        let placement = job.spec.template.spec.placement();
        let tolerations = placement.tolerations();
        taints::prefers_not(tolerations, &parts.config.node_taints)
            && nodes.another_prefers(&placement, &parts.config.node_name)
    }
}
