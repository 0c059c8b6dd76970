//! One DaemonSet as this node runs it ([`DaemonRun`]): its instance on this
//! node, started, restarted in place after the crash-loop back-off, removed
//! when the controller says so; and in a cluster, the steps of a rolling
//! update that spend the cluster's budget, withheld for the cluster to
//! approve.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use tokio::task::AbortHandle;

use crate::controller::Event;
use crate::controller::daemonset::{self, Daemon, DaemonSetStatus, NodeView, Plan, Strategy};
use crate::controller::job::NODE_RESTART;
use crate::ids;
use crate::manifest::{DaemonSet, IntOrPercent, Kind, Phase, Placement, PodTemplateSpec};
use crate::runner::driver::Pass;
use crate::runner::launcher::Launcher;
use crate::runner::quotas::HELD_RETRY;
use crate::runner::writes::{RESTART_MESSAGE, event, pod_refused, stop};
use crate::runtime::Prepared;
use crate::store::{InstanceRecord, ObjectRecord, Write};
use crate::time::{Micros, earliest};

/// One DaemonSet being run on this node.
pub struct DaemonRun {
    pub(super) record: ObjectRecord,
    ds: DaemonSet,
    prepared: Arc<Prepared>,
    revision: String,
    placement: Placement,
    pub(super) live: HashMap<String, LiveDaemon>,
    status: DaemonSetStatus,
    /// Writes that put this DaemonSet into the store when it joins a run.
    pub(in crate::runner) joining: Vec<Write>,
    /// In a cluster: a rolling update step the cluster did not take is
    /// asked for again from this time on.
    pub(super) rolling_retry_at: Micros,
    /// Its instance here is held by its namespace's quota or Pod Security
    /// level: the FailedCreate event is recorded once until it starts.
    held_noted: bool,
}

pub(super) struct LiveDaemon {
    pub(super) record: InstanceRecord,
    revision: String,
    /// The template and module it was created from (an update replaces the
    /// instance; it never changes under it).
    template: Arc<PodTemplateSpec>,
    prepared: Arc<Prepared>,
    attempt: u32,
    pub(super) abort: Option<AbortHandle>,
    pub(super) running_since: Option<Micros>,
    pub(super) restart_at: Option<Micros>,
    /// Exits in a row, for the back-off.
    pub(super) streak: u32,
}

impl LiveDaemon {
    /// The attempt running (0 first).
    pub(super) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The template it was created from.
    pub(super) fn template(&self) -> &PodTemplateSpec {
        &self.template
    }
}

/// The stored manifest of a DaemonSet.
pub fn manifest_json(ds: &DaemonSet) -> serde_json::Value {
    json!({ "metadata": ds.metadata, "spec": ds.spec })
}

/// The steps of a rolling update that spend the cluster's budget, withheld
/// from this node's plan until the cluster approves them.
pub(in crate::runner) struct RollingAsk {
    /// The DaemonSet.
    pub uid: String,
    /// This node's available instances of an old template to remove.
    pub replacing: Vec<String>,
    /// Whether a new instance starts beside the old one here (a surge).
    pub surging: bool,
}

impl crate::runner::driver::Joining for DaemonRun {
    fn joining(&mut self) -> &mut Vec<Write> {
        &mut self.joining
    }
}

impl DaemonRun {
    /// A new DaemonSet.
    pub fn new(ds: DaemonSet, prepared: Arc<Prepared>, now: Micros) -> Self {
        let record = ObjectRecord {
            uid: ids::uid(),
            kind: Kind::DaemonSet,
            namespace: ds.metadata.namespace.clone(),
            name: ds.metadata.name.clone(),
            labels: ds.metadata.labels.clone(),
            manifest: manifest_json(&ds),
            status: json!(DaemonSetStatus::default()),
            created_at: now,
            deleted_at: None,
        };
        let mut run = Self::with_record(record, ds, prepared);
        run.joining.push(Write::ObjectCreated(run.record.clone()));
        // Its first revision: a new DaemonSet has no history yet.
        let first = super::history::writes(&run.ds, &run.record.uid, &[], now);
        run.joining.extend(first);
        run
    }

    /// A DaemonSet recorded by an earlier process. Its instances that were
    /// running on this node are gone with that process: they are recorded
    /// as ended (`NodeRestart`) and removed, and fresh ones start.
    pub fn resume(
        record: ObjectRecord,
        ds: DaemonSet,
        prepared: Arc<Prepared>,
        instances: Vec<InstanceRecord>,
        node: &str,
        now: Micros,
    ) -> Self {
        let mut run = Self::with_record(record, ds, prepared);
        for mut instance in instances {
            if instance.node_name != node || instance.phase.is_finished() {
                continue;
            }
            stop(&mut instance, now, NODE_RESTART, RESTART_MESSAGE);
            let uid = instance.uid.clone();
            run.joining.push(Write::Instance(instance));
            run.joining.push(Write::InstanceDeleted { uid, at: now });
        }
        run
    }

    fn with_record(record: ObjectRecord, ds: DaemonSet, prepared: Arc<Prepared>) -> Self {
        let status = serde_json::from_value(record.status.clone()).unwrap_or_default();
        DaemonRun {
            revision: daemonset::revision_of(&ds.spec.template),
            placement: ds.spec.template.spec.placement(),
            record,
            ds,
            prepared,
            live: HashMap::new(),
            status,
            joining: Vec::new(),
            rolling_retry_at: 0,
            held_noted: false,
        }
    }

    /// The stored object's uid.
    pub fn uid(&self) -> &str {
        &self.record.uid
    }

    /// What the cluster does with this node's instances while it is away.
    pub(in crate::runner) fn disconnect(&self) -> crate::manifest::DisconnectPolicy {
        self.ds.disconnect()
    }

    /// The stored manifest.
    pub(in crate::runner) fn manifest(&self) -> &serde_json::Value {
        &self.record.manifest
    }

    /// An updated manifest: the next pass replaces instances per the
    /// update strategy.
    pub(super) fn reconfigure(&mut self, ds: DaemonSet, prepared: Arc<Prepared>) {
        self.revision = daemonset::revision_of(&ds.spec.template);
        self.placement = ds.spec.template.spec.placement();
        self.record.labels = ds.metadata.labels.clone();
        self.record.manifest = manifest_json(&ds);
        self.ds = ds;
        self.prepared = prepared;
    }

    pub(super) fn strategy(&self) -> Strategy {
        let strategy = self.ds.spec.update_strategy.clone().unwrap_or_default();
        if strategy.kind.as_deref() == Some("OnDelete") {
            return Strategy::OnDelete;
        }
        let rolling = strategy.rolling_update.unwrap_or_default();
        Strategy::RollingUpdate {
            max_unavailable: rolling.max_unavailable.unwrap_or(IntOrPercent::Int(1)),
            max_surge: rolling.max_surge.unwrap_or(IntOrPercent::Int(0)),
        }
    }

    /// This node's instances of an old template that are available, and
    /// whether one of the current template is.
    pub(super) fn revisions_available(&self, now: Micros) -> (Vec<String>, bool) {
        let min_ready = i64::from(self.ds.spec.min_ready_seconds.unwrap_or(0)).max(0) * 1_000_000;
        let available = |d: &LiveDaemon| d.running_since.is_some_and(|s| now - s >= min_ready);
        let old = self
            .live
            .iter()
            .filter(|(_, d)| d.revision != self.revision && available(d))
            .map(|(uid, _)| uid.clone())
            .collect();
        let fresh = self
            .live
            .values()
            .any(|d| d.revision == self.revision && available(d));
        (old, fresh)
    }

    /// What the DaemonSet controller needs of the spec.
    pub(super) fn spec(&self) -> daemonset::Spec<'_> {
        daemonset::Spec {
            placement: &self.placement,
            revision: &self.revision,
            strategy: self.strategy(),
            min_ready_seconds: self.ds.spec.min_ready_seconds.unwrap_or(0).into(),
            generation: self.ds.metadata.generation.unwrap_or(1),
        }
    }

    pub(super) fn observed(&self) -> Vec<Daemon> {
        self.live
            .values()
            .map(|d| Daemon {
                uid: d.record.uid.clone(),
                node: d.record.node_name.clone(),
                revision: d.revision.clone(),
                created: d.record.created_at,
                running_since: d.running_since,
            })
            .collect()
    }

    /// A new instance of this DaemonSet on node `node`.
    pub(super) fn new_instance(&self, node: &str, now: Micros) -> InstanceRecord {
        let template = &self.ds.spec.template;
        let labels = daemonset::instance_labels(template, &self.revision, &self.record.uid);
        InstanceRecord {
            uid: ids::uid(),
            name: format!("{}-{}", self.ds.metadata.name, ids::name_suffix()),
            namespace: self.record.namespace.clone(),
            owner_uid: self.record.uid.clone(),
            completion_index: None,
            labels: labels.into(),
            phase: Phase::Running,
            exit_code: None,
            reason: None,
            message: None,
            node_name: node.to_owned(),
            restart_count: 0,
            created_at: now,
            start_time: Some(now),
            finish_time: None,
            chain: None,
        }
    }

    /// The writes that record a new instance.
    pub(super) fn creation_writes(&self, record: &InstanceRecord, now: Micros) -> Vec<Write> {
        let message = format!("Created instance: {}", record.name);
        let created = Event::normal("SuccessfulCreate", message);
        vec![
            Write::Instance(record.clone()),
            event(&self.record.uid, created, now),
        ]
    }

    /// The writes that record an instance stopped and removed.
    pub(super) fn removal_writes(
        &self,
        mut record: InstanceRecord,
        now: Micros,
        (reason, message): (&str, &str),
    ) -> Vec<Write> {
        let (uid, name) = (record.uid.clone(), record.name.clone());
        stop(&mut record, now, reason, message);
        let deleted = Event::normal("SuccessfulDelete", format!("Deleted instance: {name}"));
        vec![
            Write::Instance(record),
            Write::InstanceDeleted { uid, at: now },
            event(&self.record.uid, deleted, now),
        ]
    }

    /// Runs a new instance (its record written already, or with the
    /// caller's writes).
    pub(super) fn start(&mut self, record: InstanceRecord, now: Micros, pass: &Pass<'_>) {
        let uid = record.uid.clone();
        let mut live = LiveDaemon {
            record,
            revision: self.revision.clone(),
            template: Arc::new(self.ds.spec.template.clone()),
            prepared: self.prepared.clone(),
            attempt: 0,
            abort: None,
            running_since: Some(now),
            restart_at: None,
            streak: 0,
        };
        live.abort = Some(self.launch(&live, pass));
        self.live.insert(uid, live);
    }

    fn launch(&self, live: &LiveDaemon, pass: &Pass<'_>) -> AbortHandle {
        let name = &self.ds.metadata.name;
        let launcher = pass.launcher;
        launcher.start_daemon(
            name,
            &live.template,
            &live.prepared,
            &live.record,
            live.attempt,
        )
    }

    /// Restarts the instance `uid` in place after its back-off.
    fn restart(&mut self, uid: &str, pass: &mut Pass<'_>) {
        let live = self.live.get_mut(uid).expect("live daemon");
        live.restart_at = None;
        live.running_since = Some(pass.now);
        live.attempt += 1;
        live.record.start_time = Some(pass.now);
        live.record.reason = None;
        live.record.message = None;
        pass.writes.push(Write::Instance(live.record.clone()));
        let abort = self.launch(&self.live[uid], pass);
        self.live.get_mut(uid).expect("live daemon").abort = Some(abort);
    }

    /// Stops an instance and removes it.
    pub(super) fn remove(&mut self, uid: &str, why: (&str, &str), pass: &mut Pass<'_>) {
        if let Some(record) = self.drop_instance(uid, Some(pass.launcher)) {
            let writes = self.removal_writes(record, pass.now, why);
            pass.writes.extend(writes);
        }
    }

    /// Stops an instance here and forgets it; its record, for the writes
    /// that say so. With the `launcher`, the run has its template's
    /// `terminationGracePeriodSeconds` to end on its own; without, it ends
    /// at once (another node took the DaemonSet over).
    pub(super) fn drop_instance(
        &mut self,
        uid: &str,
        launcher: Option<&Launcher>,
    ) -> Option<InstanceRecord> {
        let live = self.live.remove(uid)?;
        match (live.abort, launcher) {
            (Some(abort), Some(launcher)) => {
                launcher.stop_within(abort, live.template.spec.termination_grace());
            }
            (Some(abort), None) => abort.abort(),
            (None, _) => {}
        }
        Some(live.record)
    }

    /// One controller pass; returns when to look again.
    pub(super) fn tick(
        &mut self,
        pass: &mut Pass<'_>,
        rolling: &mut Vec<RollingAsk>,
    ) -> Option<Micros> {
        let now = pass.now;
        // Restarts that are due.
        let due: Vec<String> = self
            .live
            .iter()
            .filter(|(_, d)| d.restart_at.is_some_and(|at| at <= now))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in due {
            self.restart(&uid, pass);
        }
        let nodes = [node_view(pass)];
        let mut plan = daemonset::reconcile(&self.spec(), &nodes, &self.observed(), now);
        if pass.cluster.is_some() {
            // In a cluster, a rolling update's step is the cluster's decision.
            rolling.extend(self.withhold_rolling(&mut plan, pass));
        }
        let held = self.carry_out(&plan, pass);
        // In a cluster this node sees only its own instance; the status
        // of the whole DaemonSet is counted when it is read.
        if plan.status != self.status && pass.cluster.is_none() {
            self.status = plan.status.clone();
            pass.writes.push(Write::ObjectStatus {
                uid: self.record.uid.clone(),
                status: json!(self.status),
            });
        }
        let mut wake = match held {
            // Room comes when the namespace's instances end or its quota
            // changes; looked for again each second rather than each pass.
            true => Some(now + HELD_RETRY),
            false => (!plan.create.is_empty() || !plan.delete.is_empty()).then_some(now),
        };
        for at in self
            .live
            .values()
            .filter_map(|d| d.restart_at)
            .chain(plan.wake)
        {
            wake = earliest(wake, Some(at));
        }
        wake
    }

    /// Removes and creates what the plan says for this node; whether its
    /// namespace's quota or Pod Security level held back the instance it
    /// was to create.
    fn carry_out(&mut self, plan: &Plan, pass: &mut Pass<'_>) -> bool {
        let replaced = ("Deleted", "replaced or no longer scheduled on this node");
        for uid in &plan.delete {
            self.remove(uid, replaced, pass);
        }
        for node in &plan.create {
            if *node != pass.node.node_name {
                continue;
            }
            let namespace = &self.record.namespace;
            let pod = &self.ds.spec.template.spec;
            let refused = match pass.pod_security_refusal(namespace, pod) {
                Some(refusal) => Err(refusal),
                None => pass.budget.take_quota(namespace, pod.memory_limits()),
            };
            if let Err(why) = refused {
                // As Kubernetes' DaemonSet controller records the refusal
                // of the pod it could not create (by the quota, or the
                // namespace's Pod Security level), and tries again.
                if !self.held_noted {
                    self.held_noted = true;
                    pass.writes
                        .push(pod_refused(&self.record.uid, &why, pass.now));
                }
                return true;
            }
            self.held_noted = false;
            let record = self.new_instance(node, pass.now);
            pass.writes.extend(self.creation_writes(&record, pass.now));
            self.start(record, pass.now, pass);
        }
        false
    }

    /// In a cluster, `maxUnavailable` and `maxSurge` count the whole
    /// cluster: the steps of `plan` that spend that budget — removing this
    /// node's available old instance, or starting a new one beside it —
    /// are taken out of it and asked of the cluster. Everything else (a
    /// first instance, one on a node that no longer matches, an old one
    /// that is not available anyway) stays the node's own.
    fn withhold_rolling(&mut self, plan: &mut Plan, pass: &Pass<'_>) -> Option<RollingAsk> {
        if self.strategy() == Strategy::OnDelete
            || !self
                .placement
                .admits(&pass.node.node_labels, &pass.node.node_taints)
        {
            return None;
        }
        let (old, fresh) = self.revisions_available(pass.now);
        // An available current instance here makes removing the old free.
        let replacing: Vec<String> = match fresh {
            true => Vec::new(),
            false => plan
                .delete
                .iter()
                .filter(|u| old.contains(*u))
                .cloned()
                .collect(),
        };
        let me = &pass.node.node_name;
        let surging = !old.is_empty() && plan.create.contains(me);
        if replacing.is_empty() && !surging {
            return None;
        }
        plan.delete.retain(|u| !replacing.contains(u));
        plan.create.retain(|n| !surging || n != me);
        if pass.now < self.rolling_retry_at {
            plan.wake = earliest(plan.wake, Some(self.rolling_retry_at));
            return None;
        }
        Some(RollingAsk {
            uid: self.record.uid.clone(),
            replacing,
            surging,
        })
    }
}

/// This node, as the DaemonSet controller sees it.
fn node_view(pass: &Pass<'_>) -> NodeView {
    NodeView {
        name: pass.node.node_name.clone(),
        labels: pass.node.node_labels.clone(),
        taints: pass.node.node_taints.clone(),
        ready: true,
    }
}
