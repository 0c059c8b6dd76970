//! The DaemonSet driver: the DaemonSets this node runs its instance of.
//! Each pass asks the DaemonSet controller which instances this node should
//! run, starts and removes them, restarts the ones that exited after the
//! crash-loop back-off, and records the status.
//!
//! A daemon instance is restarted in place (`restartCount` grows, every
//! attempt's log is kept); while it waits it shows as `CrashLoopBackOff`.
//! Instances a rolling update or a label change removes are marked deleted:
//! gone from `get instances`, kept in the history. In a cluster the steps of
//! a rolling update that spend the cluster's budget are withheld here and
//! taken only when the cluster approves them (see `cluster::rolling`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::AbortHandle;

use super::driver::{Driver, Pass};
use super::writes::{RESTART_MESSAGE, attempt_logs, event, stop};
use crate::controller::Event;
use crate::controller::daemonset::{
    self, Daemon, DaemonSetStatus, NodeView, Plan, Strategy, back_off_message, waiting,
};
use crate::controller::job::NODE_RESTART;
use crate::executor::Finished;
use crate::ids;
use crate::manifest::well_known::REVISION_LABEL;
use crate::manifest::{DaemonSet, Kind, Phase, Placement, PodTemplateSpec};
use crate::runtime::Prepared;
use crate::store::{InstanceRecord, NodeRecord, ObjectRecord, Write};
use crate::time::{Micros, earliest};

/// One DaemonSet being run on this node.
pub struct DaemonRun {
    record: ObjectRecord,
    ds: DaemonSet,
    prepared: Arc<Prepared>,
    revision: String,
    placement: Placement,
    live: HashMap<String, LiveDaemon>,
    status: DaemonSetStatus,
    /// Writes that put this DaemonSet into the store when it joins a run.
    pub(super) joining: Vec<Write>,
    /// In a cluster: a rolling update step the cluster did not take is
    /// asked for again from this time on.
    rolling_retry_at: Micros,
}

struct LiveDaemon {
    record: InstanceRecord,
    revision: String,
    /// The template and module it was created from (an update replaces the
    /// instance; it never changes under it).
    template: Arc<PodTemplateSpec>,
    prepared: Arc<Prepared>,
    attempt: u32,
    abort: Option<AbortHandle>,
    running_since: Option<Micros>,
    restart_at: Option<Micros>,
    /// Exits in a row, for the back-off.
    streak: u32,
}

/// The stored manifest of a DaemonSet.
pub fn manifest_json(ds: &DaemonSet) -> serde_json::Value {
    json!({ "metadata": ds.metadata, "spec": ds.spec })
}

/// The steps of a rolling update that spend the cluster's budget, withheld
/// from this node's plan until the cluster approves them.
pub(super) struct RollingAsk {
    /// The DaemonSet.
    pub uid: String,
    /// This node's available instances of an old template to remove.
    pub replacing: Vec<String>,
    /// Whether a new instance starts beside the old one here (a surge).
    pub surging: bool,
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
        }
    }

    /// The stored object's uid.
    pub fn uid(&self) -> &str {
        &self.record.uid
    }

    /// The stored manifest.
    pub(super) fn manifest(&self) -> &serde_json::Value {
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

    fn strategy(&self) -> Strategy {
        let strategy = self.ds.spec.update_strategy.clone().unwrap_or_default();
        if strategy.kind.as_deref() == Some("OnDelete") {
            return Strategy::OnDelete;
        }
        let rolling = strategy.rolling_update.unwrap_or_default();
        Strategy::RollingUpdate {
            max_unavailable: rolling.max_unavailable.unwrap_or(1).max(0) as u32,
            max_surge: rolling.max_surge.unwrap_or(0).max(0) as u32,
        }
    }

    /// This node's instances of an old template that are available, and
    /// whether one of the current template is.
    fn revisions_available(&self, now: Micros) -> (Vec<String>, bool) {
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
        }
    }

    fn observed(&self) -> Vec<Daemon> {
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
    fn new_instance(&self, node: &str, now: Micros) -> InstanceRecord {
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
        }
    }

    /// The writes that record a new instance.
    fn creation_writes(&self, record: &InstanceRecord, now: Micros) -> Vec<Write> {
        let message = format!("Created instance: {}", record.name);
        let created = Event::normal("SuccessfulCreate", message);
        vec![
            Write::Instance(record.clone()),
            event(&self.record.uid, created, now),
        ]
    }

    /// The writes that record an instance stopped and removed.
    fn removal_writes(
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
    fn start(&mut self, record: InstanceRecord, now: Micros, pass: &Pass<'_>) {
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
        let template = &live.template.spec;
        let launcher = pass.launcher;
        launcher.start_daemon(name, template, &live.prepared, &live.record, live.attempt)
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
    fn remove(&mut self, uid: &str, why: (&str, &str), pass: &mut Pass<'_>) {
        if let Some(record) = self.drop_instance(uid) {
            let writes = self.removal_writes(record, pass.now, why);
            pass.writes.extend(writes);
        }
    }

    /// Stops an instance here and forgets it; its record, for the writes
    /// that say so.
    fn drop_instance(&mut self, uid: &str) -> Option<InstanceRecord> {
        let live = self.live.remove(uid)?;
        if let Some(abort) = live.abort {
            abort.abort();
        }
        Some(live.record)
    }

    /// One controller pass; returns when to look again.
    fn tick(&mut self, pass: &mut Pass<'_>, rolling: &mut Vec<RollingAsk>) -> Option<Micros> {
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
        self.carry_out(&plan, pass);
        // In a cluster this node sees only its own instance; the status
        // of the whole DaemonSet is counted when it is read.
        if plan.status != self.status && pass.cluster.is_none() {
            self.status = plan.status.clone();
            pass.writes.push(Write::ObjectStatus {
                uid: self.record.uid.clone(),
                status: json!(self.status),
            });
        }
        let mut wake = (!plan.create.is_empty() || !plan.delete.is_empty()).then_some(now);
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

    /// Removes and creates what the plan says for this node.
    fn carry_out(&mut self, plan: &Plan, pass: &mut Pass<'_>) {
        let replaced = ("Deleted", "replaced or no longer scheduled on this node");
        for uid in &plan.delete {
            self.remove(uid, replaced, pass);
        }
        for node in &plan.create {
            if *node == pass.node.node_name {
                let record = self.new_instance(node, pass.now);
                pass.writes.extend(self.creation_writes(&record, pass.now));
                self.start(record, pass.now, pass);
            }
        }
    }

    /// In a cluster, `maxUnavailable` and `maxSurge` count the whole
    /// cluster: the steps of `plan` that spend that budget — removing this
    /// node's available old instance, or starting a new one beside it —
    /// are taken out of it and asked of the cluster. Everything else (a
    /// first instance, one on a node that no longer matches, an old one
    /// that is not available anyway) stays the node's own.
    fn withhold_rolling(&mut self, plan: &mut Plan, pass: &Pass<'_>) -> Option<RollingAsk> {
        if self.strategy() == Strategy::OnDelete || !self.placement.admits(&pass.node.node_labels) {
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
        ready: true,
    }
}

/// The DaemonSets this node runs its instances of.
#[derive(Default)]
pub(super) struct DaemonDriver {
    runs: Vec<DaemonRun>,
    /// Rolling update steps withheld at the last pass, for the cluster.
    rolling: Vec<RollingAsk>,
}

impl DaemonDriver {
    /// Adds runs whose joining writes are committed.
    pub(super) fn extend(&mut self, runs: impl IntoIterator<Item = DaemonRun>) {
        self.runs.extend(runs);
    }

    /// The DaemonSets run.
    pub(super) fn runs(&self) -> &[DaemonRun] {
        &self.runs
    }

    fn index_of(&self, uid: &str) -> Option<usize> {
        self.runs.iter().position(|d| d.record.uid == uid)
    }

    /// An updated manifest of the DaemonSet `uid`, if this node runs it.
    pub(super) fn reconfigure(&mut self, uid: &str, ds: DaemonSet, prepared: Arc<Prepared>) {
        if let Some(index) = self.index_of(uid) {
            self.runs[index].reconfigure(ds, prepared);
        }
    }

    /// The rolling update steps withheld at the last pass.
    pub(super) fn take_rolling(&mut self) -> Vec<RollingAsk> {
        std::mem::take(&mut self.rolling)
    }

    /// The writes of a rolling step: the replaced instances removed and
    /// the new one created (returned, to start once the step is taken).
    pub(super) fn rolling_writes(
        &self,
        ask: &RollingAsk,
        (now, node): (Micros, &str),
    ) -> (Vec<Write>, Option<InstanceRecord>) {
        let Some(run) = self.index_of(&ask.uid).map(|i| &self.runs[i]) else {
            return (Vec::new(), None);
        };
        let replaced = ("Deleted", "replaced or no longer scheduled on this node");
        let mut writes = Vec::new();
        for uid in &ask.replacing {
            let record = run.live[uid].record.clone();
            writes.extend(run.removal_writes(record, now, replaced));
        }
        let fresh = ask.surging.then(|| run.new_instance(node, now));
        if let Some(record) = &fresh {
            writes.extend(run.creation_writes(record, now));
        }
        (writes, fresh)
    }

    /// Whether the cluster, as `nodes` and every node's unfinished
    /// `instances` of the DaemonSet show it, takes the step too: the same
    /// controller over the whole cluster removes what `ask` replaces and
    /// creates what it surges.
    pub(super) fn approves(
        &self,
        ask: &RollingAsk,
        (nodes, instances): (&[NodeRecord], &[InstanceRecord]),
        me: &str,
        now: Micros,
    ) -> bool {
        let Some(run) = self.index_of(&ask.uid).map(|i| &self.runs[i]) else {
            return false;
        };
        let (nodes, daemons) = cluster_view(nodes, instances);
        let cluster = daemonset::reconcile(&run.spec(), &nodes, &daemons, now);
        ask.replacing.iter().all(|u| cluster.delete.contains(u))
            && (!ask.surging || cluster.create.iter().any(|n| n == me))
    }

    /// The cluster took the step: it is carried out here.
    pub(super) fn rolled(
        &mut self,
        ask: &RollingAsk,
        fresh: Option<InstanceRecord>,
        pass: &Pass<'_>,
    ) {
        let Some(index) = self.index_of(&ask.uid) else {
            return;
        };
        let run = &mut self.runs[index];
        for uid in &ask.replacing {
            run.drop_instance(uid);
        }
        if let Some(record) = fresh {
            run.start(record, pass.now, pass);
        }
    }

    /// The cluster did not take the step: asked again from `at`.
    pub(super) fn retry_rolling(&mut self, uid: &str, at: Micros) {
        if let Some(index) = self.index_of(uid) {
            self.runs[index].rolling_retry_at = at;
        }
    }

    /// The uids of this node's live daemon instances.
    pub(super) fn live_uids(&self) -> Vec<String> {
        self.runs
            .iter()
            .flat_map(|d| d.live.keys().cloned())
            .collect()
    }

    /// A live instance another node ended (this node was silent past the
    /// grace period): it stops here too, and its end is written again.
    pub(super) fn ended_elsewhere(&mut self, instance: &InstanceRecord, pass: &mut Pass<'_>) {
        let Some(index) = self
            .runs
            .iter()
            .position(|d| d.live.contains_key(&instance.uid))
        else {
            return;
        };
        let message = instance
            .message
            .clone()
            .unwrap_or_else(|| "ended by another node".to_owned());
        let reason = instance
            .reason
            .clone()
            .unwrap_or_else(|| crate::controller::job::NODE_LOST.into());
        self.runs[index].remove(&instance.uid, (&reason, &message), pass);
    }
}

impl Driver for DaemonDriver {
    fn tick(&mut self, pass: &mut Pass<'_>) -> Option<Micros> {
        let mut wake = None;
        for run in &mut self.runs {
            wake = earliest(wake, run.tick(pass, &mut self.rolling));
        }
        wake
    }

    fn instance_ended(&mut self, done: &mut Finished, pass: &mut Pass<'_>) -> bool {
        let Some(run) = self
            .runs
            .iter_mut()
            .find(|d| d.live.contains_key(&done.instance_uid))
        else {
            return false;
        };
        let crash_loop = pass.node.crash_loop;
        let live = run.live.get_mut(&done.instance_uid).expect("found above");
        attempt_logs(done, pass.writes);
        let ran_for = Duration::from_micros((done.finished - done.started).max(0) as u64);
        let (delay, streak) = crash_loop.delay(live.streak, ran_for);
        live.streak = streak;
        live.abort = None;
        live.running_since = None;
        live.restart_at = Some(done.finished + delay.as_micros() as Micros);
        let (reason, message) = waiting(&done.report.outcome, delay);
        let record = &mut live.record;
        record.restart_count += 1;
        record.exit_code = done.report.outcome.exit_code();
        record.reason = Some(reason.into());
        record.message = Some(message);
        pass.writes.push(Write::Instance(record.clone()));
        let back_off = Event::warning("BackOff", back_off_message(&record.name, delay));
        pass.writes
            .push(event(&run.record.uid, back_off, done.finished));
        true
    }

    fn delete(&mut self, uid: &str, reason: &'static str, pass: &mut Pass<'_>) -> bool {
        let Some(index) = self.index_of(uid) else {
            return false;
        };
        let message = "stopped: the DaemonSet was deleted";
        let run = &mut self.runs[index];
        for uid in run.live.keys().cloned().collect::<Vec<_>>() {
            run.remove(&uid, (reason, message), pass);
        }
        self.runs.remove(index);
        true
    }

    fn forget(&mut self, uid: &str) {
        if let Some(index) = self.index_of(uid) {
            let mut run = self.runs.remove(index);
            for uid in run.live.keys().cloned().collect::<Vec<_>>() {
                run.drop_instance(&uid);
            }
        }
    }

    fn interrupt(&mut self, pass: &mut Pass<'_>) {
        let stop = (
            crate::controller::job::NODE_SHUTDOWN,
            "the node shut down while the instance was running",
        );
        for run in &mut self.runs {
            for uid in run.live.keys().cloned().collect::<Vec<_>>() {
                run.remove(&uid, stop, pass);
            }
        }
    }

    fn running_here(&self) -> usize {
        let live = self.runs.iter().flat_map(|d| d.live.values());
        live.filter(|d| d.abort.is_some()).count()
    }
}

/// The cluster as the DaemonSet controller sees it, from the `nodes` table
/// and a DaemonSet's unfinished instances (all nodes').
pub fn cluster_view(
    nodes: &[NodeRecord],
    instances: &[InstanceRecord],
) -> (Vec<NodeView>, Vec<Daemon>) {
    let nodes = nodes
        .iter()
        .map(|n| NodeView {
            name: n.name.clone(),
            labels: n.labels.clone(),
            ready: n.ready,
        })
        .collect();
    let daemons = instances
        .iter()
        .filter(|i| i.phase == Phase::Running && i.finish_time.is_none())
        .map(|i| Daemon {
            // One waiting out its back-off runs nothing.
            running_since: (i.reason.as_deref() != Some(daemonset::CRASH_LOOP))
                .then_some(i.start_time)
                .flatten(),
            revision: i.labels.get(REVISION_LABEL).cloned().unwrap_or_default(),
            uid: i.uid.clone(),
            node: i.node_name.clone(),
            created: i.created_at,
        })
        .collect();
    (nodes, daemons)
}
