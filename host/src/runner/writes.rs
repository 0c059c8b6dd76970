//! The writes every part of the runner records the same way: an event
//! about an object, and the output of an attempt that ended.

use crate::controller::Event;
use crate::executor::Finished;
use crate::store::{EventRecord, InstanceRecord, Write};
use crate::time::Micros;

/// An event about the object `object_uid`.
pub(super) fn event(object_uid: &str, event: Event, time: Micros) -> Write {
    Write::Event(EventRecord {
        object_uid: object_uid.to_owned(),
        kind: event.kind.to_owned(),
        reason: event.reason,
        message: event.message,
        time,
    })
}

/// The `FailedCreate` warning a Job or DaemonSet records when `why` (its
/// namespace's quota or Pod Security level) refuses the instance it would
/// create, as Kubernetes' controllers word the refusal of a pod.
pub(super) fn pod_refused(object_uid: &str, why: &str, time: Micros) -> Write {
    let message = format!("Error creating: pods is forbidden: {why}");
    event(object_uid, Event::warning("FailedCreate", message), time)
}

/// One `NetworkDenied` warning about `owner_uid` for each destination the
/// attempt `done` of its instance `instance` was refused (see
/// [`crate::runtime::network`]).
pub(super) fn network_denials(
    owner_uid: &str,
    instance: &str,
    done: &Finished,
    writes: &mut Vec<Write>,
) {
    for destination in &done.report.network_denied {
        let message = format!(
            "instance {instance}: egress to {destination} denied: no NetworkPolicy of its \
             namespace grants it (apply one whose podSelector matches the instance's labels)"
        );
        let denied = Event::warning("NetworkDenied", message);
        writes.push(event(owner_uid, denied, done.finished));
    }
}

/// The writes that keep one ended attempt's output and structured records,
/// taken from `done`.
pub(super) fn attempt_logs(done: &mut Finished, writes: &mut Vec<Write>) {
    writes.push(Write::Log {
        instance_uid: done.instance_uid.clone(),
        attempt: done.attempt,
        data: std::mem::take(&mut done.report.output),
        truncated: done.report.truncated,
        times: std::mem::take(&mut done.report.times),
    });
    if !done.report.records.is_empty() {
        writes.push(Write::LogRecords {
            instance_uid: done.instance_uid.clone(),
            attempt: done.attempt,
            records: std::mem::take(&mut done.report.records),
        });
    }
}

/// The writes of an instance that ended for good: its record and, taken
/// from `done`, its attempt's output (a first attempt's in the same row,
/// see [`Write::InstanceLogged`]) and structured records.
pub(super) fn ended_writes(ended: InstanceRecord, done: &mut Finished, writes: &mut Vec<Write>) {
    if done.attempt > 0 {
        writes.push(Write::Instance(ended));
        return attempt_logs(done, writes);
    }
    let records = std::mem::take(&mut done.report.records);
    let uid = (!records.is_empty()).then(|| ended.uid.clone());
    writes.push(Write::InstanceLogged {
        instance: ended,
        log: std::mem::take(&mut done.report.output),
        truncated: done.report.truncated,
        times: std::mem::take(&mut done.report.times),
    });
    if let Some(instance_uid) = uid {
        writes.push(Write::LogRecords {
            instance_uid,
            attempt: 0,
            records,
        });
    }
}

/// Why an instance an earlier process left running is recorded as ended.
pub(super) const RESTART_MESSAGE: &str = "the node restarted while the instance was running";

/// The instance `record` was stopped at `now` without finishing on its
/// own (see [`crate::controller::instance::stopped`]).
pub(super) fn stop(record: &mut InstanceRecord, now: Micros, reason: &str, message: &str) {
    let end = crate::controller::instance::stopped(reason, message, record.exit_code);
    record.terminate(now, end);
}
