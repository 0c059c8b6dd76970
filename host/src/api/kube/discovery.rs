//! What the Kubernetes API of a node serves, and how clients find it out:
//! the table of resources (group, version, kind, plural, short names,
//! verbs), and from it the legacy discovery documents (`/api`, `/apis`,
//! `/api/v1`, `/apis/{group}/{version}`), the aggregated ones kubectl 1.30+
//! asks for first, and `/version` (the OpenAPI documents built from the
//! same table are `openapi`'s).

use serde_json::{Value, json};

use crate::resource::ResourceType;

/// One resource of the API.
#[derive(Debug)]
pub(super) struct Served {
    /// `""` for the core group.
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) kind: &'static str,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
    pub(super) short: &'static [&'static str],
    pub(super) namespaced: bool,
    pub(super) verbs: &'static [&'static str],
    /// What wasmjob keeps it as.
    pub(super) resource: ResourceType,
    /// Subresources: `status`, `log`.
    pub(super) subresources: &'static [&'static str],
}

const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const READ_DELETE: &[&str] = &["delete", "deletecollection", "get", "list", "watch"];
const READ: &[&str] = &["get", "list", "watch"];
const NODE_VERBS: &[&str] = &["get", "list", "patch", "update", "watch"];
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Every resource served, in discovery order.
pub(super) const SERVED: &[Served] = &[
    Served {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        short: &["po"],
        namespaced: true,
        verbs: READ_DELETE,
        resource: ResourceType::Instances,
        subresources: &["log", "status"],
    },
    Served {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        short: &["no"],
        namespaced: false,
        verbs: NODE_VERBS,
        resource: ResourceType::Nodes,
        subresources: &["status"],
    },
    Served {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        short: &["ev"],
        namespaced: true,
        verbs: READ,
        resource: ResourceType::Events,
        subresources: &[],
    },
    Served {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        short: &["ns"],
        namespaced: false,
        verbs: NAMESPACE_VERBS,
        resource: ResourceType::Namespaces,
        subresources: &[],
    },
    Served {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        short: &["cm"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::ConfigMaps,
        subresources: &[],
    },
    Served {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        short: &[],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::Secrets,
        subresources: &[],
    },
    Served {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        singular: "job",
        short: &[],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::Jobs,
        subresources: &["status"],
    },
    Served {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        singular: "cronjob",
        short: &["cj"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::CronJobs,
        subresources: &["status"],
    },
    Served {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        plural: "daemonsets",
        singular: "daemonset",
        short: &["ds"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::DaemonSets,
        subresources: &["status"],
    },
    Served {
        group: "apps",
        version: "v1",
        kind: "ControllerRevision",
        plural: "controllerrevisions",
        singular: "controllerrevision",
        short: &[],
        namespaced: true,
        verbs: READ_DELETE,
        resource: ResourceType::ControllerRevisions,
        subresources: &[],
    },
    Served {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        short: &["ev"],
        namespaced: true,
        verbs: READ,
        resource: ResourceType::Events,
        subresources: &[],
    },
    Served {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        short: &["netpol"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::NetworkPolicies,
        subresources: &[],
    },
    Served {
        group: "scheduling.k8s.io",
        version: "v1",
        kind: "PriorityClass",
        plural: "priorityclasses",
        singular: "priorityclass",
        short: &["pc"],
        namespaced: false,
        verbs: ALL,
        resource: ResourceType::PriorityClasses,
        subresources: &[],
    },
    Served {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        short: &["sa"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::ServiceAccounts,
        // `token` is the TokenRequest API (`kubectl create token`).
        subresources: &["token"],
    },
    Served {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        singular: "role",
        short: &[],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::Roles,
        subresources: &[],
    },
    Served {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        singular: "clusterrole",
        short: &[],
        namespaced: false,
        verbs: ALL,
        resource: ResourceType::ClusterRoles,
        subresources: &[],
    },
    Served {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        singular: "rolebinding",
        short: &[],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::RoleBindings,
        subresources: &[],
    },
    Served {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        short: &[],
        namespaced: false,
        verbs: ALL,
        resource: ResourceType::ClusterRoleBindings,
        subresources: &[],
    },
    Served {
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        singular: "resourcequota",
        short: &["quota"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::ResourceQuotas,
        subresources: &["status"],
    },
    Served {
        group: "",
        version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        singular: "limitrange",
        short: &["limits"],
        namespaced: true,
        verbs: ALL,
        resource: ResourceType::LimitRanges,
        subresources: &[],
    },
    // wasmjob's own shape of an instance (what `wasmjob get instances`
    // reads, and `kubectl get instances` too): the attempt's exit code,
    // reason and times in `status`, where a Pod has container statuses.
    Served {
        group: "wasmjob.dev",
        version: "v1",
        kind: "Instance",
        plural: "instances",
        singular: "instance",
        short: &["inst"],
        namespaced: true,
        verbs: READ_DELETE,
        resource: ResourceType::Instances,
        subresources: &[],
    },
];

impl Served {
    /// `batch/v1`, or `v1` for the core group.
    pub(super) fn group_version(&self) -> String {
        match self.group {
            "" => self.version.to_owned(),
            group => format!("{group}/{}", self.version),
        }
    }

    /// `jobs.batch`, or `pods` for the core group: how messages name it.
    pub(super) fn qualified(&self) -> String {
        match self.group {
            "" => self.plural.to_owned(),
            group => format!("{}.{group}", self.plural),
        }
    }

    /// Whether `verb` may be used on it.
    pub(super) fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

/// The resource `plural` of `group`/`version`, if served.
pub(super) fn find(group: &str, version: &str, plural: &str) -> Option<&'static Served> {
    SERVED
        .iter()
        .find(|s| s.group == group && s.version == version && s.plural == plural)
}

/// The groups other than core, each once, in order.
pub(super) fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for s in SERVED.iter().filter(|s| !s.group.is_empty()) {
        if !groups.contains(&s.group) {
            groups.push(s.group);
        }
    }
    groups
}

/// `GET /version`: the Kubernetes version whose API this serves.
pub(super) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": format!("v1.32.0+wasmjob-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// `GET /api`.
pub(super) fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

/// `GET /apis`.
pub(super) fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|group| {
            let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
            json!({"name": group, "versions": [version], "preferredVersion": version})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`; none for a version not served.
pub(super) fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for s in SERVED
        .iter()
        .filter(|s| s.group == group && s.version == version)
    {
        resources.push(json!({
            "name": s.plural,
            "singularName": s.singular,
            "namespaced": s.namespaced,
            "kind": s.kind,
            "verbs": s.verbs,
            "shortNames": s.short,
            "categories": categories(s),
        }));
        for sub in s.subresources {
            let verbs = sub_verbs(sub);
            resources.push(json!({
                "name": format!("{}/{sub}", s.plural),
                "singularName": "",
                "namespaced": s.namespaced,
                "kind": match *sub {
                    "log" => "Pod",
                    "token" => "TokenRequest",
                    _ => s.kind,
                },
                "verbs": verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = match group {
        "" => version.to_owned(),
        g => format!("{g}/{version}"),
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The verbs of a subresource: a Pod's `log` is read, a ServiceAccount's
/// `token` made, a `status` read (and written by the controllers).
fn sub_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "log" => &["get"],
        "token" => &["create"],
        _ => &["get", "patch", "update"],
    }
}

/// `kubectl get all` shows the kinds in category `all`.
fn categories(s: &Served) -> Vec<&'static str> {
    match s.kind {
        "Pod" | "Job" | "CronJob" | "DaemonSet" => vec!["all"],
        _ => Vec::new(),
    }
}

/// The media type of aggregated discovery, as clients ask for it and as
/// the answer must be labelled for them to read it.
pub(super) const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery (v2).
pub(super) fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|t| {
        t.contains("as=APIGroupDiscoveryList") && t.contains("v=v2") && !t.contains("v=v2beta1")
    })
}

/// Aggregated discovery: `GET /api` (`core`) or `GET /apis` (the rest), the
/// whole of a part of the API in one answer.
pub(super) fn aggregated(core: bool) -> Value {
    let mut items = Vec::new();
    let group_names: Vec<&str> = if core { vec![""] } else { groups() };
    for group in group_names {
        let mut resources = Vec::new();
        for s in SERVED.iter().filter(|s| s.group == group) {
            let response_kind = json!({"group": s.group, "version": s.version, "kind": s.kind});
            let subresources: Vec<Value> = s
                .subresources
                .iter()
                .map(|sub| {
                    let verbs = sub_verbs(sub);
                    json!({"subresource": sub, "responseKind": response_kind, "verbs": verbs})
                })
                .collect();
            resources.push(json!({
                "resource": s.plural,
                "responseKind": response_kind,
                "scope": if s.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": s.singular,
                "verbs": s.verbs,
                "shortNames": s.short,
                "categories": categories(s),
                "subresources": subresources,
            }));
        }
        let mut metadata = json!({"creationTimestamp": null});
        if !group.is_empty() {
            metadata["name"] = json!(group);
        }
        items.push(json!({
            "metadata": metadata,
            "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
        }));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_is_listed_once_and_resolves() {
        let list = group_list();
        let names: Vec<&str> = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "batch",
                "apps",
                "events.k8s.io",
                "networking.k8s.io",
                "scheduling.k8s.io",
                "rbac.authorization.k8s.io",
                "wasmjob.dev"
            ]
        );
        for name in names {
            let resources = resource_list(name, "v1").expect("served");
            assert_eq!(resources["groupVersion"], format!("{name}/v1"));
        }
        assert!(resource_list("batch", "v2").is_none());
        assert_eq!(find("batch", "v1", "jobs").unwrap().kind, "Job");
        assert!(find("", "v1", "jobs").is_none());
    }

    #[test]
    fn the_core_list_names_subresources_as_kubectl_expects() {
        let list = resource_list("", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods/log"));
        assert!(names.contains(&"serviceaccounts/token"));
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"namespaces"));
    }

    #[test]
    fn aggregated_discovery_is_chosen_only_for_v2() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json"));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
        let core = aggregated(true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
        let rest = aggregated(false);
        assert_eq!(rest["items"][0]["metadata"]["name"], "batch");
    }
}
