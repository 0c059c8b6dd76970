//! What the runner's loop asks of each workload kind. Every kind — Jobs,
//! CronJobs, DaemonSets — has one driver: it keeps the objects of its kind
//! that this node runs, asks their controller what to do at each pass, and
//! carries the decision out through the [`Pass`] it is handed. The loop
//! treats the drivers alike through [`Driver`].
//!
//! Kinds that own Jobs (a CronJob's runs) do not reach into the Job driver:
//! they read Jobs' states through [`JobStates`] and keep the Jobs they want
//! created or deleted for the loop to carry out (`cron::Asks`), as a
//! Kubernetes controller reads an informer's cache and writes through the
//! API.

use super::budget::Budget;
use super::config::RunnerConfig;
use super::launcher::Launcher;
use super::nodes::ClusterNodes;
use super::observer::Observer;
use crate::controller::cronjob::RunState;
use crate::executor::{Finished, Waiting};
use crate::store::{Store, Write};
use crate::time::Micros;

/// What a driver is handed for one pass of the loop, or one event.
pub(super) struct Pass<'a> {
    /// The time of the pass.
    pub now: Micros,
    /// Where the pass's writes go (the journal stages them after the pass).
    pub writes: &'a mut Vec<Write>,
    /// This node: its name, labels and settings.
    pub node: &'a RunnerConfig,
    /// Starts instances here.
    pub launcher: &'a Launcher,
    /// The store, to read.
    pub store: &'a Store,
    /// Told of instances and Jobs as they end.
    pub observer: &'a mut dyn Observer,
    /// In a cluster: the nodes as the last heartbeat saw them.
    pub cluster: Option<&'a ClusterNodes>,
    /// Whether the node starts new work (it is not draining, and its store
    /// can be written).
    pub starts: bool,
    /// Rows were kept back for the next commit (see
    /// [`super::journal::Deferred`]), which must come within the window.
    pub deferred: bool,
    /// The node's room for new instances at this pass.
    pub budget: Budget,
    /// The namespaces' room for Jobs their CronJobs create at this pass.
    pub job_room: super::quotas::JobRoom<'a>,
    /// The namespaces that set a Pod Security `enforce` level of their
    /// own (the others have the node's default).
    pub enforced: &'a std::collections::BTreeMap<String, crate::access::pod_security::Levels>,
}

impl Pass<'_> {
    /// Why an instance of `pod` may not start in `namespace`: its Pod
    /// Security `enforce` level, in Kubernetes' words (`violates
    /// PodSecurity "baseline:latest": hostPath volumes (volume "data")`).
    pub fn pod_security_refusal(
        &self,
        namespace: &str,
        pod: &crate::manifest::PodSpec,
    ) -> Option<String> {
        let admission = &self.node.pod_security;
        if admission.is_exempt(namespace) {
            return None;
        }
        let own = self.enforced.get(namespace);
        own.unwrap_or(&admission.defaults).refusal(pod)
    }

    /// Whether this node may start work on an object it runs now: always
    /// alone; in a cluster while its lease holds — its last heartbeat is
    /// younger than the object's `disconnect` `lost_after` — or the object
    /// is pinned here (see [`crate::controller::lease`]).
    pub fn may_act(&self, disconnect: &crate::manifest::DisconnectPolicy) -> bool {
        self.cluster
            .is_none_or(|c| c.may_act(disconnect.pinned, disconnect.lost_after))
    }
}

/// The Jobs of this node, as an owner of Jobs sees them.
pub(super) trait JobStates {
    /// Where the Job `uid` is, if this node runs it.
    fn state(&self, uid: &str) -> Option<RunState>;
}

/// One kind of workload on this node.
pub(super) trait Driver {
    /// A controller pass over every object; returns when to look again at
    /// the latest.
    fn tick(&mut self, pass: &mut Pass<'_>) -> Option<Micros>;

    /// An attempt of one of this driver's instances ended; `false` when
    /// `done` is none of its.
    fn instance_ended(&mut self, done: &mut Finished, pass: &mut Pass<'_>) -> bool;

    /// An attempt of one of this driver's instances waits for its
    /// references, or stopped waiting: its row and an event say so as the
    /// kubelet's would; `false` when it is none of its.
    fn instance_waiting(&mut self, waiting: &Waiting, pass: &mut Pass<'_>) -> bool;

    /// Deletes the object `uid` if it is one of this driver's, stopping
    /// what runs of it (its rows stay as history); whether it was.
    fn delete(&mut self, uid: &str, reason: &'static str, pass: &mut Pass<'_>) -> bool;

    /// Drops the object `uid` without recording anything (another node
    /// took it over); its instances here are aborted.
    fn forget(&mut self, uid: &str);

    /// Shutdown: what still runs here is recorded as interrupted
    /// (`NodeShutdown`, a disruption); the objects resume at the next start.
    fn interrupt(&mut self, pass: &mut Pass<'_>);

    /// Instances running on this node.
    fn running_here(&self) -> usize;

    /// The extended resources this driver's instances running here hold.
    fn extended_held(&self) -> std::collections::BTreeMap<String, i64> {
        Default::default()
    }

    /// The node's labels, or the cluster's nodes, changed: what could not
    /// be placed is looked at again.
    fn placement_changed(&mut self) {}
}

/// A run that is new to this node carries the writes that record it (its
/// object, resumed instances, an event); they are committed before it runs.
pub(super) trait Joining {
    /// The writes still to commit; taken once they are staged.
    fn joining(&mut self) -> &mut Vec<Write>;
}

/// What a waiting attempt changes in its instance's `record`: Pending with
/// the kubelet's reason while it waits, Running again when it starts; the
/// writes of the row and, when it starts waiting or waits for something
/// else, of a Warning event on `owner_uid`.
pub(super) fn record_waiting(
    record: &mut crate::store::InstanceRecord,
    owner_uid: &str,
    waiting: &Waiting,
    now: Micros,
) -> Vec<Write> {
    use crate::manifest::Phase;
    let mut writes = Vec::new();
    match &waiting.missing {
        Some(missing) => {
            let same = record.reason.as_deref() == Some(missing.reason)
                && record.message.as_deref() == Some(&missing.message);
            if same {
                return writes;
            }
            record.phase = Phase::Pending;
            record.reason = Some(missing.reason.to_owned());
            record.message = Some(missing.message.clone());
            writes.push(Write::Event(crate::store::EventRecord {
                object_uid: owner_uid.to_owned(),
                kind: "Warning".into(),
                reason: missing.event.into(),
                message: match missing.event {
                    "Failed" => format!("Error: {} (instance {})", missing.message, record.name),
                    _ => format!("{} (instance {})", missing.message, record.name),
                },
                time: now,
            }));
        }
        None => {
            record.phase = Phase::Running;
            record.reason = None;
            record.message = None;
            record.start_time = Some(now);
        }
    }
    writes.insert(0, Write::Instance(record.clone()));
    writes
}

/// Takes the joining writes of every run in `runs`.
pub(super) fn take_joining<R: Joining>(runs: &mut [R]) -> Vec<Write> {
    runs.iter_mut()
        .flat_map(|r| std::mem::take(r.joining()))
        .collect()
}
