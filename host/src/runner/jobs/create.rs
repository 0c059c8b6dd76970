//! A Job's new instances: whether this node (or some node of the cluster)
//! may run them, their names and labels, their rows and events, and their
//! launch here — or their offer to the cluster, where nodes claim them.

use std::sync::Arc;

use tokio::task::AbortHandle;

use super::JobDriver;
use super::queue::StdinItem;
use super::relay::Slot;
use super::run::{LiveInstance, Place};
use crate::controller::Event;
use crate::controller::job::{self, status};
use crate::executor::Relay;
use crate::ids;
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::launcher::Attempt;
use crate::runner::writes::event;
use crate::store::{InstanceRecord, Write};
use crate::time::Micros;

impl JobDriver {
    /// Whether this node may run the Job's instances (`nodeSelector`, node
    /// affinity). If not, the Job waits, as a Kubernetes pod stays Pending
    /// with no matching node, and says so once in an event.
    pub(super) fn schedulable(&mut self, index: usize, pass: &mut Pass<'_>) -> bool {
        let spreads = self.spreads(index);
        let placement = self.runs[index].job.spec.template.spec.placement();
        let admitted = match pass.cluster {
            Some(cluster) if spreads => cluster.some_node_admits(&placement),
            _ => placement.admits(&pass.node.node_labels),
        };
        if admitted {
            return true;
        }
        let run = &mut self.runs[index];
        if !run.unschedulable_noted {
            run.unschedulable_noted = true;
            let message = if spreads {
                "no Ready node of the cluster matches the template's nodeSelector or node \
                 affinity; the Job waits for a node that does"
                    .to_owned()
            } else {
                format!(
                    "node {} does not match the template's nodeSelector or node affinity; \
                     the Job waits for a node that does",
                    pass.node.node_name
                )
            };
            let warning = Event::warning("FailedScheduling", message);
            pass.writes.push(event(&run.record.uid, warning, pass.now));
        }
        false
    }

    /// Creates one instance of the Job at `index`: launched here, or
    /// offered to the cluster. A stdin-mode Job whose queue is empty
    /// creates none.
    pub(super) fn create_instance(
        &mut self,
        index: usize,
        completion_index: Option<u32>,
        pass: &mut Pass<'_>,
    ) {
        let uid = ids::uid();
        let run = &mut self.runs[index];
        let item = match run.queue.take(&run.job.spec, &uid, pass.launcher) {
            StdinItem::Leased(item) => Some(item),
            StdinItem::Empty => return,
            StdinItem::Unreachable | StdinItem::None => None,
        };
        // In a cluster the instance is offered to every node (this one
        // too) rather than started here; see `offers`.
        let offered = self.spreads(index);
        let record = self.new_instance(index, uid, completion_index, offered, pass);
        self.count_created(index, &record, (pass.now, false), pass.writes);
        if let Some(item) = item {
            if offered {
                // The node that claims an offered instance reads its item
                // from the row.
                pass.writes.push(Write::InstanceInput {
                    uid: record.uid.clone(),
                    stdin: item.body.clone(),
                });
            }
            self.runs[index].queue.hold(record.uid.clone(), item);
        }
        let (place, slot) = if offered {
            (Place::Offered, None)
        } else {
            let slot = self.relays(index).then(Slot::default);
            let relay = slot.as_ref().map(|slot| slot.relay(pass.launcher));
            let abort = self.launch_relayed(index, &record, 0, relay, pass);
            (Place::Here(abort), slot)
        };
        let live = LiveInstance {
            record,
            attempt: 0,
            place,
            slot,
            unwritten: false,
        };
        let uid = live.record.uid.clone();
        self.runs[index].live.insert(uid, live);
    }

    /// A new instance of the Job at `index`: Running here from `now`, or
    /// offered to the cluster.
    pub(super) fn new_instance(
        &self,
        index: usize,
        uid: String,
        completion_index: Option<u32>,
        offered: bool,
        pass: &Pass<'_>,
    ) -> InstanceRecord {
        let run = &self.runs[index];
        let job_name = &run.job.metadata.name;
        let suffix = run.suffixes.next_suffix();
        let suffix = std::str::from_utf8(&suffix).expect("an ASCII suffix");
        let template = &run.job.spec.template.metadata.labels;
        let job_uid = &run.record.uid;
        // A Job's instances share their labels; an Indexed Job's differ by
        // their index.
        let labels = match completion_index {
            None => run
                .instance_labels
                .get_or_init(|| Arc::new(job::instance_labels(template, job_name, job_uid, None)))
                .clone(),
            Some(_) => Arc::new(job::instance_labels(
                template,
                job_name,
                job_uid,
                completion_index,
            )),
        };
        let now = pass.now;
        InstanceRecord {
            uid,
            name: job::instance_name(job_name, completion_index, suffix),
            namespace: run.record.namespace.clone(),
            owner_uid: run.record.uid.clone(),
            completion_index,
            labels,
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
        }
    }

    /// The Job at `index` has one more instance, `record`, from `now`.
    /// Its row is written now, or with `deferred` at the next group commit
    /// if it still runs then (the caller marks it `unwritten`, see
    /// [`crate::runner::journal::Deferred`]): most relayed instances have
    /// ended by then, and are written once, as they ended.
    pub(super) fn count_created(
        &mut self,
        index: usize,
        record: &InstanceRecord,
        (now, deferred): (Micros, bool),
        writes: &mut Vec<Write>,
    ) {
        let run = &mut self.runs[index];
        if run.observed.instance_started(record.completion_index, now) {
            status::started(&mut run.status, now);
        }
        if !deferred {
            writes.push(Write::Instance(record.clone()));
        }
        run.created.0 += 1;
        if let Some(created) = status::create_event(run.created.0, &record.name) {
            writes.push(event(&run.record.uid, created, now));
        }
        run.created.1.clone_from(&record.name);
    }

    /// Starts an attempt of one of this node's Jobs' instances here.
    pub(super) fn launch(
        &self,
        index: usize,
        record: &InstanceRecord,
        attempt: u32,
        pass: &Pass<'_>,
    ) -> AbortHandle {
        self.launch_relayed(index, record, attempt, None, pass)
    }

    /// As [`JobDriver::launch`], in a slot that relays successors (see
    /// `relay`).
    pub(super) fn launch_relayed(
        &self,
        index: usize,
        record: &InstanceRecord,
        attempt: u32,
        relay: Option<Relay>,
        pass: &Pass<'_>,
    ) -> AbortHandle {
        let run = &self.runs[index];
        let binding = run.queue.bind(&run.job.spec, &record.uid);
        let attempt = self.attempt_of(index, record, attempt);
        pass.launcher.start(&attempt, binding, relay)
    }

    /// An attempt of one of this node's Jobs' instances.
    pub(super) fn attempt_of<'a>(
        &'a self,
        index: usize,
        record: &'a InstanceRecord,
        attempt: u32,
    ) -> Attempt<'a> {
        let run = &self.runs[index];
        Attempt {
            job: &run.job,
            job_uid: &run.record.uid,
            prepared: &run.prepared,
            record,
            attempt,
            failed_before: run.observed.failures_before(record.completion_index),
        }
    }

    /// Whether the Job `uid`'s instances may run on a node with `labels`.
    pub(in crate::runner) fn admits(
        &self,
        uid: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Option<bool> {
        let job = self.job(uid)?;
        Some(job.spec.template.spec.placement().admits(labels))
    }
}
