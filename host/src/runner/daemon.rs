//! DaemonSets in the runner: each pass asks the DaemonSet controller which
//! instances this node should run, starts and removes them, restarts the
//! ones that exited after the crash-loop back-off, and records the status.
//!
//! A daemon instance is restarted in place (`restartCount` grows, every
//! attempt's log is kept); while it waits it shows as `CrashLoopBackOff`.
//! Instances a rolling update or a label change removes are marked deleted:
//! gone from `get instances`, kept in the history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::task::AbortHandle;

use super::{RESTART_MESSAGE, Runner, attempt_logs, event};
use crate::controller::daemonset::{self, Daemon, DaemonSetStatus, NodeView, Strategy};
use crate::controller::job::{NODE_LOST, NODE_RESTART};
use crate::executor::{self, Finished, Identity, Launch};
use crate::ids;
use crate::manifest::{DaemonSet, Kind, Placement, PodTemplateSpec};
use crate::runtime::{Outcome, PluginContext, PluginEnv, Prepared};
use crate::store::postgres::NodeRecord;
use crate::store::{InstanceRecord, ObjectRecord, Phase, Write};
use crate::time::Micros;

/// The label carrying the template revision an instance runs, as Kubernetes.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The reason shown while an exited daemon instance waits to restart.
pub const CRASH_LOOP: &str = "CrashLoopBackOff";

/// One DaemonSet being run on this node.
pub struct DaemonRun {
    pub(super) record: ObjectRecord,
    ds: DaemonSet,
    prepared: Arc<Prepared>,
    revision: String,
    placement: Placement,
    live: HashMap<String, LiveDaemon>,
    status: DaemonSetStatus,
    pub(super) joining: Vec<Write>,
    /// In a cluster: a rolling update step the cluster did not take is
    /// asked for again from this time on.
    pub(super) rolling_retry_at: Micros,
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

/// A short hash of the template: instances of another revision are replaced
/// by the update strategy.
pub fn revision_of(template: &PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).expect("templates serialize");
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..5])
}

impl DaemonRun {
    /// How many of its instances run on this node now.
    pub(super) fn running(&self) -> usize {
        self.live.values().filter(|d| d.abort.is_some()).count()
    }

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
            instance.stopped(now, NODE_RESTART, RESTART_MESSAGE);
            let uid = instance.uid.clone();
            run.joining.push(Write::Instance(instance));
            run.joining.push(Write::InstanceDeleted { uid, at: now });
        }
        run
    }

    fn with_record(record: ObjectRecord, ds: DaemonSet, prepared: Arc<Prepared>) -> Self {
        let status = serde_json::from_value(record.status.clone()).unwrap_or_default();
        DaemonRun {
            revision: revision_of(&ds.spec.template),
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

    /// An updated manifest: the next pass replaces instances per the
    /// update strategy.
    pub(super) fn reconfigure(&mut self, ds: DaemonSet, prepared: Arc<Prepared>) {
        self.revision = revision_of(&ds.spec.template);
        self.placement = ds.spec.template.spec.placement();
        self.record.labels = ds.metadata.labels.clone();
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
            max_unavailable: rolling.max_unavailable.unwrap_or(1).max(0) as u32,
            max_surge: rolling.max_surge.unwrap_or(0).max(0) as u32,
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

    /// The record of a live instance.
    pub(super) fn live_record(&self, uid: &str) -> Option<crate::store::InstanceRecord> {
        self.live.get(uid).map(|d| d.record.clone())
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
}

impl Runner {
    /// Records new or resumed DaemonSets and adds them to the loop.
    pub fn add_daemons(
        &mut self,
        mut daemons: Vec<DaemonRun>,
    ) -> Result<(), crate::store::StoreError> {
        let writes: Vec<Write> = daemons
            .iter_mut()
            .flat_map(|d| std::mem::take(&mut d.joining))
            .collect();
        self.commit_now(writes)?;
        self.daemons.extend(daemons);
        Ok(())
    }

    /// This node, as the DaemonSet controller sees it.
    fn node_view(&self) -> NodeView {
        NodeView {
            name: self.config.node_name.clone(),
            labels: self.config.node_labels.clone(),
            ready: true,
        }
    }

    /// One pass over every DaemonSet; returns when to look again.
    pub(super) fn tick_daemons(&mut self, now: Micros, writes: &mut Vec<Write>) -> Option<Micros> {
        let nodes = [self.node_view()];
        let mut wake: Option<Micros> = None;
        for index in 0..self.daemons.len() {
            // Restarts that are due.
            let due: Vec<String> = self.daemons[index]
                .live
                .iter()
                .filter(|(_, d)| d.restart_at.is_some_and(|at| at <= now))
                .map(|(uid, _)| uid.clone())
                .collect();
            for uid in due {
                self.restart_daemon(index, &uid, now, writes);
            }
            let run = &self.daemons[index];
            let plan = daemonset::reconcile(&run.spec(), &nodes, &run.observed(), now);
            // In a cluster, a rolling update's step is the cluster's decision.
            let plan = self.rolling_step(index, now, plan, writes);
            for uid in &plan.delete {
                self.remove_daemon(
                    index,
                    uid,
                    now,
                    "Deleted",
                    "replaced or no longer scheduled on this node",
                    writes,
                );
            }
            for node in &plan.create {
                if *node == self.config.node_name {
                    self.create_daemon(index, now, writes);
                }
            }
            if !plan.create.is_empty() || !plan.delete.is_empty() {
                wake = Some(now); // look again: counts changed
            }
            let clustered = self.clustered();
            let run = &mut self.daemons[index];
            // In a cluster this node sees only its own instance; the status
            // of the whole DaemonSet is counted when it is read.
            if plan.status != run.status && !clustered {
                run.status = plan.status;
                writes.push(Write::ObjectStatus {
                    uid: run.record.uid.clone(),
                    status: json!(run.status),
                });
            }
            let restarts = run.live.values().filter_map(|d| d.restart_at);
            for at in restarts.chain(plan.wake) {
                wake = Some(wake.map_or(at, |w: Micros| w.min(at)));
            }
        }
        wake
    }

    fn create_daemon(&mut self, index: usize, now: Micros, writes: &mut Vec<Write>) {
        let record = self.daemon_record(index, now);
        writes.extend(creation_writes(&self.daemons[index], &record, now));
        self.start_daemon(index, record, now);
    }

    /// A new instance of the DaemonSet at `index` on this node.
    pub(super) fn daemon_record(&self, index: usize, now: Micros) -> InstanceRecord {
        let run = &self.daemons[index];
        let name = format!("{}-{}", run.ds.metadata.name, ids::name_suffix());
        let mut labels: BTreeMap<String, String> = run.ds.spec.template.metadata.labels.clone();
        labels.insert(REVISION_LABEL.into(), run.revision.clone());
        labels.insert("controller-uid".into(), run.record.uid.clone());
        InstanceRecord {
            uid: ids::uid(),
            name,
            namespace: run.record.namespace.clone(),
            owner_uid: run.record.uid.clone(),
            completion_index: None,
            labels: labels.into(),
            phase: Phase::Running,
            exit_code: None,
            reason: None,
            message: None,
            node_name: self.config.node_name.clone(),
            restart_count: 0,
            created_at: now,
            start_time: Some(now),
            finish_time: None,
        }
    }

    /// Runs a new instance (its record written already, or with the caller's writes).
    pub(super) fn start_daemon(&mut self, index: usize, record: InstanceRecord, now: Micros) {
        let run = &mut self.daemons[index];
        let uid = record.uid.clone();
        let live = LiveDaemon {
            record,
            revision: run.revision.clone(),
            template: Arc::new(run.ds.spec.template.clone()),
            prepared: run.prepared.clone(),
            attempt: 0,
            abort: None,
            running_since: Some(now),
            restart_at: None,
            streak: 0,
        };
        run.live.insert(uid.clone(), live);
        let abort = self.launch_daemon(index, &uid);
        self.daemons[index]
            .live
            .get_mut(&uid)
            .expect("just added")
            .abort = Some(abort);
    }

    fn launch_daemon(&self, index: usize, uid: &str) -> AbortHandle {
        let run = &self.daemons[index];
        let live = &run.live[uid];
        let who = Identity {
            job_name: &run.ds.metadata.name,
            instance_name: &live.record.name,
            completion_index: None,
            node_name: &self.config.node_name,
            scheduled_time: None,
        };
        let built = executor::sandbox(&live.template.spec, &who, self.config.output_limit);
        let (mut sandbox, scratch) = match built {
            Ok(built) => built,
            Err(message) => {
                let outcome = Outcome::StartError { message };
                return self
                    .executor
                    .report_unstarted(uid.to_owned(), live.attempt, outcome);
            }
        };
        sandbox.plugin = PluginEnv {
            context: PluginContext {
                job_name: run.ds.metadata.name.clone(),
                instance_name: live.record.name.clone(),
                completion_index: None,
                attempt: live.attempt,
                node_name: self.config.node_name.clone(),
                scheduled_time: None,
            },
            ..PluginEnv::default()
        };
        self.executor.launch(Launch {
            instance_uid: uid.to_owned(),
            attempt: live.attempt,
            prepared: live.prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
        })
    }

    fn restart_daemon(&mut self, index: usize, uid: &str, now: Micros, writes: &mut Vec<Write>) {
        let live = self.daemons[index].live.get_mut(uid).expect("live daemon");
        live.restart_at = None;
        live.running_since = Some(now);
        live.attempt += 1;
        live.record.start_time = Some(now);
        live.record.reason = None;
        live.record.message = None;
        writes.push(Write::Instance(live.record.clone()));
        let abort = self.launch_daemon(index, uid);
        self.daemons[index]
            .live
            .get_mut(uid)
            .expect("live daemon")
            .abort = Some(abort);
    }

    /// An attempt of a daemon instance ended; `false` if `done` is not one.
    pub(super) fn record_daemon(&mut self, done: &mut Finished, writes: &mut Vec<Write>) -> bool {
        let Some(index) = self
            .daemons
            .iter()
            .position(|d| d.live.contains_key(&done.instance_uid))
        else {
            return false;
        };
        let crash_loop = self.config.crash_loop;
        let run = &mut self.daemons[index];
        let live = run.live.get_mut(&done.instance_uid).expect("found above");
        attempt_logs(done, writes);
        let outcome = &done.report.outcome;
        let ran_for = Duration::from_micros((done.finished - done.started).max(0) as u64);
        let (delay, streak) = crash_loop.delay(live.streak, ran_for);
        live.streak = streak;
        live.abort = None;
        live.running_since = None;
        live.restart_at = Some(done.finished + delay.as_micros() as Micros);
        let last = match (outcome.reason(), outcome.message()) {
            (Some(reason), Some(message)) => format!("{reason}: {message}"),
            (Some(reason), None) => reason.to_owned(),
            (None, _) => match outcome.exit_code() {
                Some(code) => format!("exited with code {code}"),
                None => "ended".to_owned(),
            },
        };
        let record = &mut live.record;
        record.restart_count += 1;
        record.exit_code = outcome.exit_code();
        record.reason = Some(CRASH_LOOP.into());
        record.message = Some(format!(
            "back-off {} restarting the instance; last attempt {last}",
            human(delay)
        ));
        writes.push(Write::Instance(record.clone()));
        let name = record.name.clone();
        writes.push(event(
            &run.record.uid,
            "Warning",
            "BackOff",
            format!("Back-off {} restarting instance {name}", human(delay)),
            done.finished,
        ));
        true
    }

    /// Stops a daemon instance and removes it.
    fn remove_daemon(
        &mut self,
        index: usize,
        uid: &str,
        now: Micros,
        reason: &str,
        message: &str,
        writes: &mut Vec<Write>,
    ) {
        if let Some(record) = self.drop_daemon(index, uid) {
            let run = &self.daemons[index];
            writes.extend(removal_writes(run, record, now, reason, message));
        }
    }

    /// Stops a daemon instance here and forgets it; its record, for the
    /// writes that say so.
    pub(super) fn drop_daemon(&mut self, index: usize, uid: &str) -> Option<InstanceRecord> {
        let live = self.daemons[index].live.remove(uid)?;
        if let Some(abort) = live.abort {
            abort.abort();
        }
        Some(live.record)
    }

    /// In a cluster: this node's daemon instances that another node ended
    /// while this one was silent past the grace period (a stall, a paused
    /// process, a slow disk), as Kubernetes removes a lost node's DaemonSet
    /// pods. They stop here too and their end is written again after
    /// whatever this node still had staged for them (an upsert staged
    /// before would bring the row back to Running); the DaemonSet
    /// controller then starts a new instance here in the same pass, as the
    /// kubelet of a returning node gets a new pod.
    pub(super) fn stop_daemons_ended_elsewhere(
        &mut self,
        now: Micros,
        writes: &mut Vec<Write>,
    ) -> Result<(), crate::store::StoreError> {
        let uids: Vec<String> = self
            .daemons
            .iter()
            .flat_map(|d| d.live.keys().cloned())
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        let db = self.store.cluster_db().expect("a cluster store");
        // A live instance's row never has a finish time of this node's
        // writing; a row not committed yet is simply not found.
        let ended: Vec<InstanceRecord> = db
            .instance_states(&uids)?
            .into_iter()
            .filter(|i| i.finish_time.is_some())
            .collect();
        for instance in &ended {
            let Some(index) = self
                .daemons
                .iter()
                .position(|d| d.live.contains_key(&instance.uid))
            else {
                continue;
            };
            tracing::warn!(
                instance = %instance.name,
                reason = instance.reason.as_deref().unwrap_or(""),
                "cluster: another node ended this node's daemon instance while this node \
                 was silent past the grace period; it stops here and a new one starts"
            );
            let message = instance
                .message
                .clone()
                .unwrap_or_else(|| "ended by another node".to_owned());
            let reason = instance.reason.clone().unwrap_or_else(|| NODE_LOST.into());
            self.remove_daemon(index, &instance.uid, now, &reason, &message, writes);
        }
        Ok(())
    }

    /// Stops every instance of the DaemonSet at `index`.
    pub(super) fn stop_daemons(
        &mut self,
        index: usize,
        now: Micros,
        reason: &str,
        message: &str,
        writes: &mut Vec<Write>,
    ) {
        let uids: Vec<String> = self.daemons[index].live.keys().cloned().collect();
        for uid in uids {
            self.remove_daemon(index, &uid, now, reason, message, writes);
        }
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
            running_since: (i.reason.as_deref() != Some(CRASH_LOOP))
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

/// The writes that record a new instance of `run`.
pub(super) fn creation_writes(run: &DaemonRun, record: &InstanceRecord, now: Micros) -> Vec<Write> {
    vec![
        Write::Instance(record.clone()),
        event(
            &run.record.uid,
            "Normal",
            "SuccessfulCreate",
            format!("Created instance: {}", record.name),
            now,
        ),
    ]
}

/// The writes that record an instance of `run` stopped and removed.
pub(super) fn removal_writes(
    run: &DaemonRun,
    mut record: InstanceRecord,
    now: Micros,
    reason: &str,
    message: &str,
) -> Vec<Write> {
    let (uid, name) = (record.uid.clone(), record.name.clone());
    record.stopped(now, reason, message);
    vec![
        Write::Instance(record),
        Write::InstanceDeleted { uid, at: now },
        event(
            &run.record.uid,
            "Normal",
            "SuccessfulDelete",
            format!("Deleted instance: {name}"),
            now,
        ),
    ]
}

fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
