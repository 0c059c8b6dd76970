//! A Job's new instances: whether this node (or some node of the cluster)
//! may run them, their names and labels, their rows and events, and their
//! launch here — or their offer to the cluster, where nodes claim them.

use std::sync::Arc;

use tokio::task::AbortHandle;

use super::live::{LiveInstance, Place, Slot};
use super::queue::StdinItem;
use super::run::JobRun;
use crate::controller::Event;
use crate::controller::job::{self, status};
use crate::executor::Relay;
use crate::ids;
use crate::manifest::{Kind, Phase, SYSTEM_PRIORITY_CLASSES};
use crate::runner::driver::Pass;
use crate::runner::launcher::Attempt;
use crate::runner::writes::{event, pod_refused};
use crate::store::{InstanceRecord, Write};
use crate::time::Micros;

/// A stored PriorityClass's value.
fn priority_of(manifest: &serde_json::Value) -> Option<i32> {
    manifest["value"]
        .as_i64()
        .and_then(|v| i32::try_from(v).ok())
}

impl JobRun {
    /// Whether this node may run the Job's instances (`nodeSelector`, node
    /// affinity), or in a cluster some Ready node. If not, the Job waits,
    /// as a Kubernetes pod stays Pending with no matching node, and says
    /// so once in an event.
    pub(super) fn schedulable(&mut self, pass: &mut Pass<'_>) -> bool {
        let spreads = self.spreads(pass.cluster);
        let placement = self.job.spec.template.spec.placement();
        let admitted = match pass.cluster {
            Some(cluster) if spreads => cluster.some_node_admits(&placement, &self.demand),
            _ => placement.admits(&pass.node.node_labels, &pass.node.node_taints),
        };
        if admitted {
            return true;
        }
        if !self.unschedulable_noted {
            self.unschedulable_noted = true;
            let message = if spreads {
                "no Ready node of the cluster matches the template's nodeSelector or node \
                 affinity, has no taint it does not tolerate and has the extended resources it \
                 asks for; the Job waits for a node that does"
                    .to_owned()
            } else if let Some(taint) = placement.repelled_by(&pass.node.node_taints) {
                // Kubernetes' words for it.
                format!(
                    "0/1 nodes are available: 1 node(s) had untolerated taint {{{}: {}}}; \
                     the Job waits for a node it tolerates",
                    taint.key, taint.value
                )
            } else {
                format!(
                    "node {} does not match the template's nodeSelector or node affinity; \
                     the Job waits for a node that does",
                    pass.node.node_name
                )
            };
            let warning = Event::warning("FailedScheduling", message);
            pass.writes.push(event(&self.record.uid, warning, pass.now));
        }
        false
    }

    /// Whether its namespace's Pod Security level refuses the Job's
    /// template (the namespace was labelled after the Job was applied):
    /// said once, as Kubernetes' Job controller says it, in a
    /// `FailedCreate` event.
    pub(super) fn pod_security_refuses(&mut self, pass: &mut Pass<'_>) -> bool {
        let pod = &self.job.spec.template.spec;
        let Some(refusal) = pass.pod_security_refusal(&self.record.namespace, pod) else {
            return false;
        };
        if !self.pod_security_noted {
            self.pod_security_noted = true;
            pass.writes
                .push(pod_refused(&self.record.uid, &refusal, pass.now));
        }
        true
    }

    /// How many of `wanted` new instances start now: those that run here
    /// take room from the node's budget (Jobs of higher priority asked
    /// first, see `JobDriver::tick`); one offered to the cluster takes the
    /// room of whichever node claims it. An instance asking for more of an
    /// extended resource than the node has waits, said once in a
    /// FailedScheduling event as Kubernetes says it. One its namespace's
    /// Pod Security level refuses (the namespace was labelled after the
    /// Job was applied) does not start, said once as FailedCreate.
    pub(super) fn room(&mut self, wanted: usize, pass: &mut Pass<'_>) -> usize {
        if self.pod_security_refuses(pass) {
            return 0;
        }
        let asking = (self.record.namespace.as_str(), self.memory_each);
        if self.spreads(pass.cluster) {
            // Offered: the claiming node's room takes it, this node's
            // share of the namespace's quotas counts it.
            let (started, why) = pass.budget.take_quota_for(asking, wanted);
            self.note_quota(why, pass);
            return started;
        }
        if let Some(missing) = pass.budget.never_fits(&self.demand) {
            if !self.unschedulable_noted {
                self.unschedulable_noted = true;
                let message = format!(
                    "0/1 nodes are available: 1 Insufficient {missing}; the Job waits for a \
                     node that has it (serve --resources)"
                );
                let warning = Event::warning("FailedScheduling", message);
                pass.writes.push(event(&self.record.uid, warning, pass.now));
            }
            return 0;
        }
        let (started, why) = pass.budget.take_in(asking, &self.demand, wanted);
        // What the node, not the namespace's quota, had no room for.
        if why.is_none() {
            self.lacking = wanted - started;
        }
        self.note_quota(why, pass);
        started
    }

    /// Kubernetes' Job controller records the quota's refusal of each pod
    /// it could not create; once per Job is enough here.
    fn note_quota(&mut self, why: Option<String>, pass: &mut Pass<'_>) {
        if let Some(why) = why
            && !self.quota_noted
        {
            self.quota_noted = true;
            pass.writes
                .push(pod_refused(&self.record.uid, &why, pass.now));
        }
    }

    /// Reads the Job's PriorityClass's value the first time it is asked
    /// (the system classes are always there; no class: the class marked
    /// `globalDefault`, or 0).
    pub(super) fn resolve_priority(&mut self, store: &crate::store::Store) {
        if self.priority.is_some() {
            return;
        }
        let class = self.job.spec.template.spec.priority_class_name.clone();
        let read = |name: &str| -> Result<Option<i32>, String> {
            if let Some((_, value)) = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
                return Ok(Some(*value));
            }
            let found =
                (store.live_object(Kind::PriorityClass, "", name)).map_err(|e| e.to_string())?;
            Ok(found.and_then(|record| priority_of(&record.manifest)))
        };
        let resolved = match class {
            Some(name) => match read(&name) {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(format!(
                    "pods \"{}-\" is forbidden: no PriorityClass with name {name} was found",
                    self.job.metadata.name
                )),
                // The store did not answer: look again at the next pass.
                Err(_) => return,
            },
            None => match store.live_objects(Kind::PriorityClass, None) {
                Ok(classes) => Ok(classes
                    .iter()
                    .filter(|c| c.manifest["globalDefault"] == true)
                    .find_map(|c| priority_of(&c.manifest))
                    .unwrap_or(0)),
                Err(_) => return,
            },
        };
        self.priority = Some(resolved);
    }

    /// The Job's priority (0 until it is known).
    pub(super) fn priority_value(&self) -> i32 {
        match &self.priority {
            Some(Ok(value)) => *value,
            _ => 0,
        }
    }

    /// Whether the Job's PriorityClass exists; if not, it creates no
    /// instance and says so once (FailedCreate, Kubernetes' message), and
    /// looks again at each pass (the class may be applied later).
    pub(super) fn priority_known(&mut self, pass: &mut Pass<'_>) -> bool {
        self.resolve_priority(pass.store);
        match &self.priority {
            Some(Ok(_)) => true,
            None => false,
            Some(Err(message)) => {
                if !self.priority_noted {
                    self.priority_noted = true;
                    let warning = Event::warning("FailedCreate", message.clone());
                    pass.writes.push(event(&self.record.uid, warning, pass.now));
                }
                // Read again next time: the class may have been applied.
                self.priority = None;
                false
            }
        }
    }

    /// Creates one instance: launched here, or offered to the cluster (as
    /// the first of a chain with a budget of at most `share`, when the Job
    /// chains). A stdin-mode Job whose queue is empty creates none.
    pub(super) fn create_instance(
        &mut self,
        completion_index: Option<u32>,
        share: u32,
        pass: &mut Pass<'_>,
    ) {
        let uid = ids::uid();
        let item = match self.queue.take(&self.job.spec, &uid, pass.launcher) {
            StdinItem::Leased(item) => Some(item),
            StdinItem::Empty => return,
            StdinItem::Unreachable | StdinItem::None => None,
        };
        // In a cluster the instance is offered to every node (this one
        // too) rather than started here; see `offers`.
        let clustered = pass.cluster.is_some();
        let offered = self.spreads(pass.cluster);
        let mut record = self.new_instance(uid, completion_index, offered, pass);
        let chain = offered && self.chains();
        if chain {
            // Its budget is reserved before it counts itself.
            self.start_chain(&mut record, share);
        }
        self.count_created(&record, (pass.now, false), pass.writes);
        if let Some(item) = item {
            if offered {
                // The node that claims an offered instance reads its item
                // from the row.
                pass.writes.push(Write::InstanceInput {
                    uid: record.uid.clone(),
                    stdin: item.body.clone(),
                });
            }
            self.queue.hold(record.uid.clone(), item);
        }
        let (place, slot) = if offered {
            (Place::Offered, None)
        } else {
            let slot = self.relays(clustered).then(Slot::default);
            let relay = slot.as_ref().map(|slot| slot.relay(pass.launcher));
            let abort = self.launch(&record, 0, relay, pass);
            (Place::Here(abort), slot)
        };
        let live = LiveInstance {
            record,
            attempt: 0,
            place,
            slot,
            unwritten: false,
        };
        self.live.insert(live.record.uid.clone(), live);
    }

    /// A new instance: Running here from the pass's time, or offered to
    /// the cluster.
    pub(super) fn new_instance(
        &self,
        uid: String,
        completion_index: Option<u32>,
        offered: bool,
        pass: &Pass<'_>,
    ) -> InstanceRecord {
        let job_name = &self.job.metadata.name;
        let suffix = self.suffixes.next_suffix();
        let suffix = std::str::from_utf8(&suffix).expect("an ASCII suffix");
        let now = pass.now;
        InstanceRecord {
            uid,
            name: job::instance_name(job_name, completion_index, suffix),
            namespace: self.record.namespace.clone(),
            owner_uid: self.record.uid.clone(),
            completion_index,
            labels: self.labels_of(completion_index),
            phase: if offered {
                Phase::Pending
            } else {
                Phase::Running
            },
            exit_code: None,
            reason: None,
            message: None,
            node_name: if offered {
                String::new()
            } else {
                pass.node.node_name.clone()
            },
            restart_count: 0,
            created_at: now,
            start_time: (!offered).then_some(now),
            finish_time: None,
            chain: None,
        }
    }

    /// The labels of a new instance. A Job's instances share theirs, built
    /// at the first; an Indexed Job's differ by their index.
    fn labels_of(
        &self,
        completion_index: Option<u32>,
    ) -> Arc<std::collections::BTreeMap<String, String>> {
        let template = &self.job.spec.template.metadata.labels;
        let (name, uid) = (&self.job.metadata.name, &self.record.uid);
        if completion_index.is_some() {
            return Arc::new(job::instance_labels(template, name, uid, completion_index));
        }
        let shared = || Arc::new(job::instance_labels(template, name, uid, None));
        self.instance_labels.get_or_init(shared).clone()
    }

    /// The Job has one more instance, `record`, from `now`. Its row is
    /// written now, or when `deferred` at the next group commit if it
    /// still runs then (the caller marks it `unwritten`, see
    /// [`crate::runner::journal::Deferred`]): most relayed instances have
    /// ended by then, and are written once, as they ended.
    pub(super) fn count_created(
        &mut self,
        record: &InstanceRecord,
        (now, deferred): (Micros, bool),
        writes: &mut Vec<Write>,
    ) {
        if self.observed.instance_started(record.completion_index, now) {
            status::started(&mut self.status, now);
        }
        if !deferred {
            writes.push(Write::Instance(record.clone()));
        }
        self.created.0 += 1;
        if let Some(created) = status::create_event(self.created.0, &record.name) {
            writes.push(event(&self.record.uid, created, now));
        }
        self.created.1.clone_from(&record.name);
    }

    /// Starts an attempt of one of the Job's instances here, in a slot that
    /// relays successors when there is a `relay` (see `relay`).
    pub(super) fn launch(
        &self,
        record: &InstanceRecord,
        attempt: u32,
        relay: Option<Relay>,
        pass: &Pass<'_>,
    ) -> AbortHandle {
        let binding = self.queue.bind(&self.job.spec, &record.uid);
        let attempt = self.attempt_of(record, attempt);
        pass.launcher.start(&attempt, binding, relay)
    }

    /// An attempt of one of the Job's instances.
    pub(super) fn attempt_of<'a>(
        &'a self,
        record: &'a InstanceRecord,
        attempt: u32,
    ) -> Attempt<'a> {
        Attempt {
            job: &self.job,
            job_uid: &self.record.uid,
            prepared: &self.prepared,
            record,
            attempt,
            failed_before: self.observed.failures_before(record.completion_index),
        }
    }
}
