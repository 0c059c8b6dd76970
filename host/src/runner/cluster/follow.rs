//! What other nodes changed, followed at every cluster pass: this node's
//! daemon instances ended elsewhere while it was away, its objects updated,
//! deleted or taken over through other nodes, the Jobs its CronJobs follow
//! that run elsewhere, and the cluster's DaemonSets. What comes from the
//! cluster is copied into the node's own file (`mirror`), so the node has
//! it when it next starts without the database; nothing copied is sent
//! back.

use super::Cluster;
use crate::admission;
use crate::manifest::{Kind, Object};
use crate::runner::daemon::DaemonRun;
use crate::runner::parts::{Parts, Silent};
use crate::store::{ObjectRecord, StoreError, Write};
use crate::time::Micros;

impl Cluster {
    /// This node's daemon instances that another node ended while this one
    /// was away or silent past the grace period (as Kubernetes removes a
    /// lost node's DaemonSet pods). By their DaemonSet's
    /// `spec.disconnect.reconcile`: `keepReplacement` (the default) — they
    /// stop here too, their end is written again after whatever this node
    /// still had staged for them, and the DaemonSet controller starts a new
    /// instance in the same pass, as the kubelet of a returning node gets a
    /// new pod; `keepOriginal` — they keep running, and their rows take
    /// this node's state again.
    pub(super) fn follow_daemons_ended_elsewhere(
        &mut self,
        parts: &mut Parts,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<(), StoreError> {
        let uids = parts.daemons.live_uids();
        if uids.is_empty() {
            return Ok(());
        }
        // A live instance's row never has a finish time of this node's
        // writing; a row not sent yet is simply not found.
        let ended: Vec<_> = self
            .control
            .instance_states(&uids)?
            .into_iter()
            .filter(|i| i.finish_time.is_some())
            .collect();
        if ended.is_empty() {
            return Ok(());
        }
        let mut kept = Vec::new();
        let nodes = Some(&self.nodes);
        parts.with_pass((now, writes), &mut Silent, nodes, |d, pass| {
            for instance in &ended {
                if d.daemons.keep_original(instance, pass) {
                    kept.push(instance.uid.clone());
                    continue;
                }
                tracing::warn!(
                    instance = %instance.name,
                    reason = instance.reason.as_deref().unwrap_or(""),
                    "cluster: another node ended this node's daemon instance while this node \
                     was away; it stops here and a new one starts"
                );
                d.daemons.ended_elsewhere(instance, pass);
            }
        });
        if !kept.is_empty() {
            let revived = self.control.revive(&kept)?;
            tracing::info!(
                "cluster: {revived} daemon instance(s) ended elsewhere while this node was away \
                 keep running here (keepOriginal)"
            );
        }
        Ok(())
    }

    /// Updates and deletes of this node's objects made through other nodes;
    /// objects another node took (this node's lease ran out while it was
    /// away) are dropped without a word written, and kept in the node's
    /// file as copies, not resumed at its next start.
    pub(super) fn follow_owned(
        &mut self,
        parts: &mut Parts,
        now: Micros,
    ) -> Result<(), StoreError> {
        use crate::runner::driver::Driver as _;
        let uids: Vec<String> = parts
            .jobs
            .uids()
            .chain(parts.crons.uids())
            .map(str::to_owned)
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let me = parts.config.node_name.clone();
        let mut deleted = Vec::new();
        for o in self.control.ownership(&uids)? {
            if o.deleted {
                deleted.push(o.uid);
                continue;
            }
            if o.owner.as_deref() != Some(me.as_str()) {
                tracing::warn!(uid = %o.uid, owner = ?o.owner, "cluster: another node took this object over while this node was away; stopping it here");
                parts.jobs.forget(&o.uid);
                parts.crons.forget(&o.uid);
                if let Some(record) = self.control.object(&o.uid)? {
                    parts.journal.store_mut().mirror_object(&record, false)?;
                }
                continue;
            }
            let known = self.generations.insert(o.uid.clone(), o.generation);
            if known.is_some_and(|g| g < o.generation) {
                self.reload(parts, &o.uid, now)?;
            }
        }
        if !deleted.is_empty() {
            tracing::info!(
                "cluster: {} object(s) this node runs were deleted through another node",
                deleted.len()
            );
            parts.delete(&deleted, now)?;
        }
        Ok(())
    }

    /// An object's manifest changed in the cluster: the node's file takes
    /// it, and its run takes it at the next pass.
    fn reload(&mut self, parts: &mut Parts, uid: &str, now: Micros) -> Result<(), StoreError> {
        let Some(record) = self.control.object(uid)? else {
            return Ok(());
        };
        parts.journal.store_mut().mirror_object(&record, true)?;
        match admission::stored_object(&record) {
            Ok(Object::Job(job)) => parts.jobs.reconfigure(uid, job, now),
            Ok(Object::CronJob(cron)) => parts.crons.reconfigure(uid, cron),
            _ => {}
        }
        Ok(())
    }

    /// The Jobs this node's CronJobs follow that run on another node (taken
    /// over while this node was away): their rows as the cluster has them.
    pub(super) fn follow_cron_jobs(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        let elsewhere: Vec<String> = parts
            .crons
            .active_jobs()
            .filter(|uid| parts.jobs.job(uid).is_none())
            .map(str::to_owned)
            .collect();
        for uid in elsewhere {
            if let Some(record) = self.control.object(&uid)? {
                parts.journal.store_mut().mirror_object(&record, false)?;
            }
        }
        Ok(())
    }

    /// ConfigMaps, Secrets, PriorityClasses, Namespaces, ControllerRevisions,
    /// NetworkPolicies and the access objects (ServiceAccounts, roles and
    /// their bindings) applied, changed or deleted through any node:
    /// this node's file keeps the cluster's copies
    /// (Secrets sealed as they are there), so its instances read them, and
    /// its Jobs find their priority class, and go on reading the last it
    /// saw while the database does not answer.
    pub(super) fn follow_configs(
        &mut self,
        parts: &mut Parts,
        now: Micros,
    ) -> Result<(), StoreError> {
        for kind in [
            Kind::ConfigMap,
            Kind::Secret,
            Kind::PriorityClass,
            Kind::Namespace,
            Kind::ControllerRevision,
            Kind::NetworkPolicy,
            Kind::ServiceAccount,
            Kind::Role,
            Kind::ClusterRole,
            Kind::RoleBinding,
            Kind::ClusterRoleBinding,
            Kind::ResourceQuota,
            Kind::LimitRange,
        ] {
            let stored = self.control.live_objects(kind)?;
            let local = parts.journal.store().live_objects(kind, None)?;
            let store = parts.journal.store_mut();
            for record in &stored {
                let same = |l: &&ObjectRecord| {
                    l.uid == record.uid
                        && l.manifest == record.manifest
                        && l.labels == record.labels
                };
                if !local.iter().any(|l| same(&l)) {
                    store.mirror_object(record, false)?;
                }
            }
            for gone in local
                .iter()
                .filter(|l| !stored.iter().any(|s| s.uid == l.uid))
            {
                let deleted = ObjectRecord {
                    deleted_at: Some(now),
                    ..gone.clone()
                };
                store.mirror_object(&deleted, false)?;
            }
        }
        Ok(())
    }

    /// DaemonSets applied, changed or deleted through any node.
    pub(super) fn follow_daemonsets(
        &mut self,
        parts: &mut Parts,
        now: Micros,
    ) -> Result<(), StoreError> {
        let stored = self.control.live_objects(Kind::DaemonSet)?;
        // Deleted elsewhere: stop this node's instances.
        let gone: Vec<String> = parts
            .daemons
            .runs()
            .iter()
            .filter(|d| !stored.iter().any(|s| s.uid == d.uid()))
            .map(|d| d.uid().to_owned())
            .collect();
        if !gone.is_empty() {
            parts.delete(&gone, now)?;
        }
        let mut joining = Vec::new();
        for record in stored {
            let known = parts.daemons.runs().iter().find(|d| d.uid() == record.uid);
            if known.is_some_and(|d| *d.manifest() == record.manifest) {
                continue;
            }
            let known = known.is_some();
            let Ok(object) = admission::stored_object(&record) else {
                continue;
            };
            let Some(prepared) = self.refusals.admit(parts, &record, &object)? else {
                continue;
            };
            let Object::DaemonSet(ds) = object else {
                continue;
            };
            parts.journal.store_mut().mirror_object(&record, false)?;
            if known {
                parts.daemons.reconfigure(&record.uid, ds, prepared);
                continue;
            }
            let instances = parts.journal.store().instances_of(&record.uid)?;
            let node = parts.config.node_name.clone();
            joining.push(DaemonRun::resume(
                record, ds, prepared, instances, &node, now,
            ));
        }
        if !joining.is_empty() {
            parts.add_daemons(joining)?;
        }
        Ok(())
    }
}
