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

pub(super) mod history;
mod run;

pub use run::DaemonRun;
pub(super) use run::RollingAsk;

use std::sync::Arc;
use std::time::Duration;

use super::driver::{Driver, Pass};
use super::writes::{attempt_logs, event, network_denials};
use crate::controller::Event;
use crate::controller::daemonset::{self, Daemon, NodeView, back_off_message, waiting};
use std::collections::BTreeMap;

use crate::executor::{Finished, Waiting};
use crate::manifest::well_known::REVISION_LABEL;
use crate::manifest::{DaemonSet, Phase};
use crate::runtime::Prepared;
use crate::store::{InstanceRecord, NodeRecord, Write};
use crate::time::{Micros, earliest};

/// The DaemonSets this node runs its instances of.
#[derive(Default)]
pub(super) struct DaemonDriver {
    runs: Vec<DaemonRun>,
    /// Rolling update steps withheld at the last pass, for the cluster.
    rolling: Vec<RollingAsk>,
}

impl DaemonDriver {
    /// Each namespace's DaemonSet instances here — running or waiting to
    /// restart, as a crash-looping pod still counts — and their memory
    /// limits summed (what `pods` and `limits.memory` quotas count).
    pub(in crate::runner) fn held_by_namespace(&self) -> BTreeMap<String, (i64, i64)> {
        let mut held: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for run in &self.runs {
            for daemon in run.live.values() {
                let entry = held.entry(run.record.namespace.clone()).or_default();
                entry.0 += 1;
                entry.1 += daemon.template().spec.memory_limits().unwrap_or(0);
            }
        }
        held
    }

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
            run.drop_instance(uid, Some(pass.launcher));
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

    /// A live instance another node ended while this node was away, under
    /// a DaemonSet whose `spec.disconnect.reconcile` is `keepOriginal`: it
    /// keeps running here, and its row is written again as it is (the
    /// cluster has let this node's state back in). `false` when the
    /// DaemonSet keeps the replacement instead (or the instance is gone).
    pub(super) fn keep_original(&mut self, instance: &InstanceRecord, pass: &mut Pass<'_>) -> bool {
        let Some(run) = self
            .runs
            .iter()
            .find(|d| d.live.contains_key(&instance.uid))
        else {
            return false;
        };
        if run.disconnect().reconcile != crate::manifest::Reconcile::KeepOriginal {
            return false;
        }
        let record = run.live[&instance.uid].record.clone();
        pass.writes.push(Write::Instance(record));
        true
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

    fn instance_waiting(&mut self, waiting: &Waiting, pass: &mut Pass<'_>) -> bool {
        let uid = &waiting.instance_uid;
        let Some(run) = self.runs.iter_mut().find(|d| d.live.contains_key(uid)) else {
            return false;
        };
        let owner = run.uid().to_owned();
        let live = run.live.get_mut(uid).expect("found above");
        if live.attempt() == waiting.attempt && live.abort.is_some() {
            let writes = super::driver::record_waiting(&mut live.record, &owner, waiting, pass.now);
            pass.writes.extend(writes);
        }
        true
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
        network_denials(&live.record.owner_uid, &live.record.name, done, pass.writes);
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
                run.drop_instance(&uid, None);
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

    fn extended_held(&self) -> BTreeMap<String, i64> {
        let mut held = BTreeMap::new();
        let live = self.runs.iter().flat_map(|d| d.live.values());
        for daemon in live.filter(|d| d.abort.is_some()) {
            for (name, count) in daemon.template().spec.extended_resources() {
                *held.entry(name).or_default() += count;
            }
        }
        held
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
            taints: n.taints.clone(),
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
