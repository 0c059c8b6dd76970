//! The Kubernetes shapes wasmjob shows: Job status with conditions, Instances
//! like Pods, and `List`s, as `-o json` / `-o yaml` print them.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{InstanceRecord, ObjectRecord, ObjectText};
use crate::time::rfc3339;

/// What `get`, `describe` and `delete` name, with kubectl's aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `jobs`, `job`.
    Jobs,
    /// `cronjobs`, `cronjob`, `cj`.
    CronJobs,
    /// `daemonsets`, `daemonset`, `ds`.
    DaemonSets,
    /// `instances`, `instance`, `inst`, `pods`, `pod`, `po`.
    Instances,
    /// `nodes`, `node`, `no`.
    Nodes,
    /// `events`, `event`, `ev`.
    Events,
    /// `configmaps`, `configmap`, `cm`.
    ConfigMaps,
    /// `secrets`, `secret`.
    Secrets,
    /// `priorityclasses`, `priorityclass`, `pc`.
    PriorityClasses,
    /// `namespaces`, `namespace`, `ns`.
    Namespaces,
    /// `controllerrevisions`, `controllerrevision`: a DaemonSet's history.
    ControllerRevisions,
    /// `networkpolicies`, `networkpolicy`, `netpol`.
    NetworkPolicies,
    /// `serviceaccounts`, `serviceaccount`, `sa`.
    ServiceAccounts,
    /// `roles`, `role`.
    Roles,
    /// `clusterroles`, `clusterrole`.
    ClusterRoles,
    /// `rolebindings`, `rolebinding`.
    RoleBindings,
    /// `clusterrolebindings`, `clusterrolebinding`.
    ClusterRoleBindings,
    /// `resourcequotas`, `resourcequota`, `quota`.
    ResourceQuotas,
    /// `limitranges`, `limitrange`, `limits`.
    LimitRanges,
}

impl ResourceType {
    /// Parses a kind as kubectl users type it (`jobs`, `job.batch`, `po`, …).
    pub fn parse(text: &str) -> Option<Self> {
        let base = text.split('.').next().unwrap_or(text).to_ascii_lowercase();
        Some(match base.as_str() {
            "jobs" | "job" => ResourceType::Jobs,
            "cronjobs" | "cronjob" | "cj" => ResourceType::CronJobs,
            "daemonsets" | "daemonset" | "ds" => ResourceType::DaemonSets,
            "instances" | "instance" | "inst" | "pods" | "pod" | "po" => ResourceType::Instances,
            "nodes" | "node" | "no" => ResourceType::Nodes,
            "events" | "event" | "ev" => ResourceType::Events,
            "configmaps" | "configmap" | "cm" => ResourceType::ConfigMaps,
            "secrets" | "secret" => ResourceType::Secrets,
            "priorityclasses" | "priorityclass" | "pc" => ResourceType::PriorityClasses,
            "namespaces" | "namespace" | "ns" => ResourceType::Namespaces,
            "controllerrevisions" | "controllerrevision" => ResourceType::ControllerRevisions,
            "networkpolicies" | "networkpolicy" | "netpol" => ResourceType::NetworkPolicies,
            "serviceaccounts" | "serviceaccount" | "sa" => ResourceType::ServiceAccounts,
            "roles" | "role" => ResourceType::Roles,
            "clusterroles" | "clusterrole" => ResourceType::ClusterRoles,
            "rolebindings" | "rolebinding" => ResourceType::RoleBindings,
            "clusterrolebindings" | "clusterrolebinding" => ResourceType::ClusterRoleBindings,
            "resourcequotas" | "resourcequota" | "quota" => ResourceType::ResourceQuotas,
            "limitranges" | "limitrange" | "limits" => ResourceType::LimitRanges,
            _ => return None,
        })
    }

    /// The plural used in URLs and messages.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceType::Jobs => "jobs",
            ResourceType::CronJobs => "cronjobs",
            ResourceType::DaemonSets => "daemonsets",
            ResourceType::Instances => "instances",
            ResourceType::Nodes => "nodes",
            ResourceType::Events => "events",
            ResourceType::ConfigMaps => "configmaps",
            ResourceType::Secrets => "secrets",
            ResourceType::PriorityClasses => "priorityclasses",
            ResourceType::Namespaces => "namespaces",
            ResourceType::ControllerRevisions => "controllerrevisions",
            ResourceType::NetworkPolicies => "networkpolicies",
            ResourceType::ServiceAccounts => "serviceaccounts",
            ResourceType::Roles => "roles",
            ResourceType::ClusterRoles => "clusterroles",
            ResourceType::RoleBindings => "rolebindings",
            ResourceType::ClusterRoleBindings => "clusterrolebindings",
            ResourceType::ResourceQuotas => "resourcequotas",
            ResourceType::LimitRanges => "limitranges",
        }
    }

    /// The resource objects of `kind` are read and deleted as.
    pub fn of_kind(kind: crate::manifest::Kind) -> Self {
        use crate::manifest::Kind;
        match kind {
            Kind::Job => ResourceType::Jobs,
            Kind::CronJob => ResourceType::CronJobs,
            Kind::DaemonSet => ResourceType::DaemonSets,
            Kind::ConfigMap => ResourceType::ConfigMaps,
            Kind::Secret => ResourceType::Secrets,
            Kind::PriorityClass => ResourceType::PriorityClasses,
            Kind::Namespace => ResourceType::Namespaces,
            Kind::ControllerRevision => ResourceType::ControllerRevisions,
            Kind::NetworkPolicy => ResourceType::NetworkPolicies,
            Kind::ServiceAccount => ResourceType::ServiceAccounts,
            Kind::Role => ResourceType::Roles,
            Kind::ClusterRole => ResourceType::ClusterRoles,
            Kind::RoleBinding => ResourceType::RoleBindings,
            Kind::ClusterRoleBinding => ResourceType::ClusterRoleBindings,
            Kind::ResourceQuota => ResourceType::ResourceQuotas,
            Kind::LimitRange => ResourceType::LimitRanges,
        }
    }

    /// Whether its objects belong to no namespace.
    pub fn cluster_scoped(self) -> bool {
        self == ResourceType::Nodes || self.kind().is_some_and(|k| k.cluster_scoped())
    }

    /// The stored kind, for object types.
    pub fn kind(self) -> Option<crate::manifest::Kind> {
        match self {
            ResourceType::Jobs => Some(crate::manifest::Kind::Job),
            ResourceType::CronJobs => Some(crate::manifest::Kind::CronJob),
            ResourceType::DaemonSets => Some(crate::manifest::Kind::DaemonSet),
            ResourceType::ConfigMaps => Some(crate::manifest::Kind::ConfigMap),
            ResourceType::Secrets => Some(crate::manifest::Kind::Secret),
            ResourceType::PriorityClasses => Some(crate::manifest::Kind::PriorityClass),
            ResourceType::Namespaces => Some(crate::manifest::Kind::Namespace),
            ResourceType::ControllerRevisions => Some(crate::manifest::Kind::ControllerRevision),
            ResourceType::NetworkPolicies => Some(crate::manifest::Kind::NetworkPolicy),
            ResourceType::ServiceAccounts => Some(crate::manifest::Kind::ServiceAccount),
            ResourceType::Roles => Some(crate::manifest::Kind::Role),
            ResourceType::ClusterRoles => Some(crate::manifest::Kind::ClusterRole),
            ResourceType::RoleBindings => Some(crate::manifest::Kind::RoleBinding),
            ResourceType::ClusterRoleBindings => Some(crate::manifest::Kind::ClusterRoleBinding),
            ResourceType::ResourceQuotas => Some(crate::manifest::Kind::ResourceQuota),
            ResourceType::LimitRanges => Some(crate::manifest::Kind::LimitRange),
            _ => None,
        }
    }
}

/// The API version of Instances (wasmjob's Pods).
pub const INSTANCE_API_VERSION: &str = "wasmjob.dev/v1";

/// As [`object_json`], written straight from the stored text: only the
/// small `metadata` is parsed (to add `uid` and `creationTimestamp`); the
/// spec and status go out as stored, with their keys in stored order.
pub fn object_json_text(object: &ObjectText) -> Result<String, serde_json::Error> {
    use serde_json::value::RawValue;
    #[derive(Deserialize)]
    struct Parts<'a> {
        #[serde(borrow)]
        metadata: &'a RawValue,
        #[serde(borrow)]
        spec: Option<&'a RawValue>,
    }
    let parts: Parts<'_> = serde_json::from_str(&object.manifest)?;
    let mut metadata: serde_json::Map<String, Value> = serde_json::from_str(parts.metadata.get())?;
    metadata.insert("uid".into(), json!(object.uid));
    metadata.insert(
        "creationTimestamp".into(),
        json!(rfc3339(object.created_at)),
    );
    metadata.entry("generation").or_insert(json!(1));
    // What is stored is always JSON; anything else shows as null, as the
    // parsed path shows it.
    let status = serde_json::from_str::<&RawValue>(&object.status).map_or("null", |s| s.get());
    Ok(format!(
        r#"{{"apiVersion":{},"kind":{},"metadata":{},"spec":{},"status":{status}}}"#,
        json!(object.kind.api_version()),
        json!(object.kind.as_str()),
        Value::Object(metadata),
        parts.spec.map_or("null", |s| s.get()),
    ))
}

/// A stored object in its Kubernetes shape.
pub fn object_json(record: &ObjectRecord) -> Value {
    into_object_json(record.clone())
}

/// As [`object_json`], taking the record: its manifest and status move
/// into the object rather than being copied (lists of thousands).
pub fn into_object_json(record: ObjectRecord) -> Value {
    let mut manifest = match record.manifest {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let mut metadata = match manifest.remove("metadata") {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    metadata.insert("uid".into(), json!(record.uid));
    metadata.insert(
        "creationTimestamp".into(),
        json!(rfc3339(record.created_at)),
    );
    // Objects stored before generations were kept, and a CronJob's Jobs,
    // are at their first.
    metadata.entry("generation").or_insert(json!(1));
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), json!(record.kind.api_version()));
    object.insert("kind".into(), json!(record.kind.as_str()));
    object.insert("metadata".into(), Value::Object(metadata));
    object.insert(
        "spec".into(),
        manifest.remove("spec").unwrap_or(Value::Null),
    );
    object.insert("status".into(), record.status);
    Value::Object(object)
}

/// A stored ConfigMap or Secret in its Kubernetes shape (no `spec` or
/// `status`; a Secret's `data` base64, as kubectl shows it), opened with
/// `keyring`.
pub fn config_json(
    record: &ObjectRecord,
    keyring: &crate::secrets::Keyring,
) -> Result<Value, String> {
    let manifest = keyring.open(record.kind, record.manifest.clone())?;
    let mut metadata = manifest["metadata"].clone();
    metadata["uid"] = json!(record.uid);
    metadata["creationTimestamp"] = json!(rfc3339(record.created_at));
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), json!(record.kind.api_version()));
    object.insert("kind".into(), json!(record.kind.as_str()));
    object.insert("metadata".into(), metadata);
    let fields = [
        "data",
        "binaryData",
        "type",
        "immutable",
        "value",
        "globalDefault",
        "description",
        "preemptionPolicy",
        "revision",
        "spec",
        "automountServiceAccountToken",
        "rules",
        "roleRef",
        "subjects",
    ];
    for key in fields {
        if let Some(value) = manifest.get(key) {
            object.insert(key.into(), value.clone());
        }
    }
    Ok(Value::Object(object))
}

/// An instance in the shape of a Pod.
pub fn instance_json(instance: &InstanceRecord, owner: &ObjectRecord) -> Value {
    let mut status = json!({
        "phase": instance.phase.as_str(),
        "nodeName": instance.node_name,
        "restartCount": instance.restart_count,
    });
    let set = |status: &mut Value, key: &str, value: Value| {
        if !value.is_null() {
            status[key] = value;
        }
    };
    set(&mut status, "exitCode", json!(instance.exit_code));
    set(&mut status, "reason", json!(instance.reason));
    set(&mut status, "message", json!(instance.message));
    set(
        &mut status,
        "startTime",
        json!(instance.start_time.map(rfc3339)),
    );
    set(
        &mut status,
        "finishTime",
        json!(instance.finish_time.map(rfc3339)),
    );
    // The containers it runs, as its owner's template names them; one
    // pulled from a registry with the pinned reference (a Pod's imageID).
    let template = &owner.manifest["spec"]["template"];
    let pinned = |name: &Value| {
        let key = format!(
            "{}{}",
            crate::apply::IMAGE_ID_PREFIX,
            name.as_str().unwrap_or("")
        );
        template["metadata"]["annotations"][key].clone()
    };
    let containers: Vec<Value> = template["spec"]["containers"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    let mut container = json!({"name": c["name"], "image": c["image"]});
                    let image_id = pinned(&c["name"]);
                    if !image_id.is_null() {
                        container["imageID"] = image_id;
                    }
                    container
                })
                .collect()
        })
        .unwrap_or_default();
    let mut spec = json!({ "nodeName": instance.node_name, "containers": containers });
    if let Some(index) = instance.completion_index {
        spec["completionIndex"] = json!(index);
    }
    json!({
        "apiVersion": INSTANCE_API_VERSION,
        "kind": "Instance",
        "metadata": {
            "name": instance.name,
            "namespace": instance.namespace,
            "uid": instance.uid,
            "creationTimestamp": rfc3339(instance.created_at),
            "labels": *instance.labels,
            "ownerReferences": [{
                "apiVersion": owner.kind.api_version(),
                "kind": owner.kind.as_str(),
                "name": owner.name,
                "uid": owner.uid,
                "controller": true,
            }],
        },
        "spec": spec,
        "status": status,
    })
}

/// An event in the shape of a core/v1 Event.
pub fn event_json(event: &crate::store::EventRecord, object: &ObjectRecord) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "namespace": object.namespace },
        "type": event.kind,
        "reason": event.reason,
        "message": event.message,
        "lastTimestamp": rfc3339(event.time),
        "involvedObject": {
            "apiVersion": object.kind.api_version(),
            "kind": object.kind.as_str(),
            "name": object.name,
            "namespace": object.namespace,
            "uid": object.uid,
        },
    })
}

/// A Kubernetes `List` of items.
pub fn list_json(items: Vec<Value>) -> Value {
    // The items are moved in: `json!` serializes them into a copy, which
    // was two fifths of the server's CPU for a list of 1,000 instances.
    let mut list = serde_json::Map::new();
    list.insert("apiVersion".into(), "v1".into());
    list.insert("kind".into(), "List".into());
    list.insert("items".into(), Value::Array(items));
    Value::Object(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Kind;

    #[test]
    fn a_list_is_kubectls_list_of_the_items_in_order() {
        let items = vec![
            json!({"metadata": {"name": "b"}}),
            json!({"metadata": {"name": "a"}}),
        ];
        assert_eq!(
            list_json(items.clone()),
            json!({"apiVersion": "v1", "kind": "List", "items": items})
        );
        assert_eq!(
            list_json(Vec::new()).to_string(),
            r#"{"apiVersion":"v1","items":[],"kind":"List"}"#
        );
    }

    #[test]
    fn an_object_written_from_its_stored_text_is_the_object_parsed() {
        let manifest = json!({
            "metadata": {"name": "pi", "namespace": "default", "labels": {"app": "pi"}},
            "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "c", "image": "sha256:00"}]}}},
        });
        let status =
            json!({"succeeded": 3, "conditions": [{"type": "Complete", "status": "True"}]});
        let record = ObjectRecord {
            uid: "u-1".into(),
            kind: Kind::Job,
            namespace: "default".into(),
            name: "pi".into(),
            labels: [("app".to_owned(), "pi".to_owned())].into(),
            manifest: manifest.clone(),
            status: status.clone(),
            created_at: 1_700_000_000_000_000,
            deleted_at: None,
        };
        let text = ObjectText {
            uid: record.uid.clone(),
            kind: record.kind,
            namespace: record.namespace.clone(),
            name: record.name.clone(),
            labels: record.labels.clone(),
            manifest: manifest.to_string(),
            status: status.to_string(),
            created_at: record.created_at,
        };
        let written: Value = serde_json::from_str(&object_json_text(&text).unwrap()).unwrap();
        assert_eq!(written, object_json(&record));
        let broken = ObjectText {
            status: "not json".into(),
            ..text
        };
        let written: Value = serde_json::from_str(&object_json_text(&broken).unwrap()).unwrap();
        assert_eq!(written["status"], Value::Null);
    }
}
