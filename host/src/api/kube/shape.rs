//! wasmjob's objects in the shapes Kubernetes clients decode: an instance
//! as a `v1` Pod (with `containerStatuses` whose `state` says running,
//! waiting or terminated with the exit code), events as `v1` and
//! `events.k8s.io/v1` Events, and any list as the `meta.k8s.io/v1` `Table`
//! kubectl prints.

use serde_json::{Value, json};

use super::discovery::Served;
use crate::resource::ResourceType;

/// Whether `served` shows objects in another shape than wasmjob's own.
pub(super) fn reshaped(served: &Served) -> bool {
    match (served.resource, served.group) {
        (ResourceType::Instances, "wasmjob.dev") => false,
        (ResourceType::Instances | ResourceType::Events, _) => true,
        _ => false,
    }
}

/// The object as `served` shows it.
pub(super) fn shaped(served: &Served, object: Value) -> Value {
    match (served.resource, served.group) {
        (ResourceType::Instances, "wasmjob.dev") => object,
        (ResourceType::Instances, _) => pod(object),
        (ResourceType::Events, "events.k8s.io") => new_event(event(object)),
        (ResourceType::Events, _) => event(object),
        _ => object,
    }
}

/// An instance as a `v1` Pod.
fn pod(instance: Value) -> Value {
    let status = &instance["status"];
    let phase = status["phase"].as_str().unwrap_or("Pending").to_owned();
    let started = status["startTime"].clone();
    let state = match phase.as_str() {
        "Succeeded" | "Failed" => {
            let exit = status["exitCode"]
                .as_i64()
                .unwrap_or(i64::from(phase == "Failed"));
            let reason = match (status["reason"].as_str(), exit) {
                (Some(r), _) if r != "BackoffLimitExceeded" => r.to_owned(),
                (_, 0) => "Completed".to_owned(),
                _ => "Error".to_owned(),
            };
            let mut terminated = json!({"exitCode": exit, "reason": reason});
            if !started.is_null() {
                terminated["startedAt"] = started.clone();
            }
            if !status["finishTime"].is_null() {
                terminated["finishedAt"] = status["finishTime"].clone();
            }
            if let Some(message) = status["message"].as_str() {
                terminated["message"] = json!(message);
            }
            json!({"terminated": terminated})
        }
        "Running" => json!({"running": {"startedAt": started}}),
        _ => json!({"waiting": {
            "reason": status["reason"].as_str().unwrap_or("ContainerCreating"),
            "message": status["message"],
        }}),
    };
    let ready = phase == "Running";
    let containers = instance["spec"]["containers"]
        .as_array()
        .cloned()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| vec![json!({"name": "main", "image": ""})]);
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            // From a registry: the reference as pulled, and pinned.
            let (image, image_id) = match c["imageID"].as_str() {
                Some(pinned) => (json!(pinned.split('@').next()), json!(pinned)),
                None => (c["image"].clone(), c["image"].clone()),
            };
            json!({
                "name": c["name"],
                "image": image,
                "imageID": image_id,
                "ready": ready,
                "started": ready,
                "restartCount": status["restartCount"].as_u64().unwrap_or(0),
                "state": state,
            })
        })
        .collect();
    let condition =
        |kind: &str, on: bool| json!({"type": kind, "status": if on { "True" } else { "False" }});
    let scheduled = !status["nodeName"].as_str().unwrap_or("").is_empty();
    let mut pod_status = json!({
        "phase": phase,
        "conditions": [
            condition("PodScheduled", scheduled),
            condition("Initialized", scheduled),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ],
        "containerStatuses": statuses,
    });
    if !started.is_null() {
        pod_status["startTime"] = started;
    }
    if phase == "Unknown" || status["reason"] == "NodeUnreachable" {
        pod_status["reason"] = status["reason"].clone();
        pod_status["message"] = status["message"].clone();
    }
    let mut spec = json!({
        "containers": containers,
        "restartPolicy": "Never",
    });
    if let Some(node) = status["nodeName"].as_str().filter(|n| !n.is_empty()) {
        spec["nodeName"] = json!(node);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": instance["metadata"],
        "spec": spec,
        "status": pod_status,
    })
}

/// A `v1` Event, named (events are objects with names in Kubernetes) by
/// what it is about and when.
fn event(mut event: Value) -> Value {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    event.to_string().hash(&mut hasher);
    let about = event["involvedObject"]["name"].as_str().unwrap_or("event");
    let name = format!("{about}.{:016x}", hasher.finish());
    event["metadata"]["name"] = json!(name);
    event["metadata"]["uid"] = json!(format!("event-{:016x}", hasher.finish()));
    event["metadata"]["creationTimestamp"] = event["lastTimestamp"].clone();
    event["firstTimestamp"] = event["lastTimestamp"].clone();
    event["count"] = json!(1);
    event["source"] = json!({"component": "wasmjob"});
    event
}

/// A `v1` Event as `events.k8s.io/v1` has it.
fn new_event(old: Value) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": old["metadata"],
        "eventTime": null,
        "reportingController": "wasmjob",
        "reportingInstance": "wasmjob",
        "action": old["reason"],
        "reason": old["reason"],
        "regarding": old["involvedObject"],
        "note": old["message"],
        "type": old["type"],
        "deprecatedFirstTimestamp": old["firstTimestamp"],
        "deprecatedLastTimestamp": old["lastTimestamp"],
        "deprecatedCount": 1,
        "deprecatedSource": old["source"],
    })
}

/// Whether an `Accept` header asks for a `Table`.
pub(super) fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|t| t.contains("as=Table"))
}

/// What a `Table` row carries of its object (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub(super) fn parse(text: Option<&str>) -> Include {
        match text {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// The `Table` of `native` (the objects as wasmjob's own columns read them)
/// whose rows carry `shaped` (the same objects as served). `-o wide`'s
/// extra columns have priority 1, as kubectl expects.
pub(super) fn table(
    resource: ResourceType,
    native: &[Value],
    shaped: &[Value],
    include: Include,
    revision: u64,
) -> Value {
    let narrow = crate::columns::columns(resource, &[], false).header;
    let mut wide = crate::columns::columns(resource, native, true);
    // kubectl adds LABELS itself (`--show-labels`); wasmjob's own `get
    // nodes` shows them always.
    if let Some(at) = wide.header.iter().position(|h| *h == "LABELS") {
        wide.header.remove(at);
        for row in &mut wide.rows {
            row.remove(at);
        }
    }
    let definitions: Vec<Value> = wide
        .header
        .iter()
        .map(|name| {
            json!({
                "name": title(name),
                "type": "string",
                "format": if *name == "NAME" { "name" } else { "" },
                "description": "",
                "priority": i32::from(!narrow.contains(name)),
            })
        })
        .collect();
    let rows: Vec<Value> = wide
        .rows
        .into_iter()
        .zip(shaped)
        .map(|(cells, object)| {
            let object = match include {
                Include::None => Value::Null,
                Include::Object => object.clone(),
                Include::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object["metadata"],
                }),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision.to_string()},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// `LAST SEEN` → `Last Seen`: kubectl prints column names upper-cased.
fn title(name: &str) -> String {
    name.split(' ')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::kube::discovery::find;

    fn instance(phase: &str, exit: Option<i64>) -> Value {
        json!({
            "apiVersion": "wasmjob.dev/v1", "kind": "Instance",
            "metadata": {"name": "pi-abc", "namespace": "default", "uid": "u", "labels": {"job-name": "pi"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "pi", "image": "sha256:aa"}]},
            "status": {"phase": phase, "nodeName": "n1", "restartCount": 2, "exitCode": exit,
                       "startTime": "2026-01-01T00:00:00Z", "finishTime": "2026-01-01T00:00:01Z"},
        })
    }

    #[test]
    fn an_instance_is_a_pod_whose_container_state_says_how_it_ended() {
        let pods = find("", "v1", "pods").unwrap();
        let done = shaped(pods, instance("Succeeded", Some(0)));
        assert_eq!(done["apiVersion"], "v1");
        assert_eq!(done["kind"], "Pod");
        let status = &done["status"]["containerStatuses"][0];
        assert_eq!(status["name"], "pi");
        assert_eq!(status["restartCount"], 2);
        assert_eq!(status["state"]["terminated"]["exitCode"], 0);
        assert_eq!(status["state"]["terminated"]["reason"], "Completed");
        let failed = shaped(pods, instance("Failed", Some(3)));
        assert_eq!(
            failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            3
        );
        assert_eq!(
            failed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
        let running = shaped(pods, instance("Running", None));
        assert!(running["status"]["containerStatuses"][0]["state"]["running"].is_object());
        assert_eq!(running["spec"]["nodeName"], "n1");
        let pending = shaped(pods, instance("Pending", None));
        assert_eq!(
            pending["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
    }

    #[test]
    fn field_selectors_compare_the_served_shape() {
        use crate::selector::FieldSelector;
        let pods = find("", "v1", "pods").unwrap();
        let pod = shaped(pods, instance("Failed", Some(1)));
        assert!(
            FieldSelector::parse("status.phase=Failed")
                .unwrap()
                .matches(&pod)
        );
        let not = FieldSelector::parse("status.phase!=Failed,metadata.name==pi-abc").unwrap();
        assert!(!not.matches(&pod));
        assert!(
            FieldSelector::parse("spec.nodeName=n1")
                .unwrap()
                .matches(&pod)
        );
    }

    #[test]
    fn a_table_has_kubectls_columns_with_wide_ones_at_priority_one() {
        let items = vec![instance("Succeeded", Some(0))];
        let table = table(
            ResourceType::Instances,
            &items,
            &items,
            Include::Metadata,
            7,
        );
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["Name", "Ready", "Status", "Restarts", "Age", "Node"]
        );
        assert_eq!(table["columnDefinitions"][5]["priority"], 1);
        assert_eq!(table["rows"][0]["cells"][2], "Completed");
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(table["metadata"]["resourceVersion"], "7");
        assert_eq!(title("LAST SEEN"), "Last Seen");
    }
}
