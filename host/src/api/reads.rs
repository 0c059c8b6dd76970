//! The API's reads: objects, instances and events of the store as
//! Kubernetes shapes, and this node (or the cluster's nodes).

use std::collections::HashMap;

use axum::Json;
use axum::extract::Query;
use serde_json::Value;

use super::error::{ApiError, internal};
use super::query::Filter;
use super::state::{NodeInfo, Shared, read};
use crate::manifest;
use crate::resource::{self, ResourceType};
use crate::selector::{Requirement, Selector};
use crate::store::{InstanceRecord, InstanceScope, NodeRecord, ObjectRecord, Store};

/// The objects of `resource` a filter and selector keep, in their
/// Kubernetes shapes (instances as wasmjob's `Instance`).
pub(super) async fn items(
    state: &Shared,
    resource: ResourceType,
    filter: Filter,
    selector: Selector,
) -> Result<Vec<Value>, ApiError> {
    let node = state.node.lock().expect("node info").clone();
    let grace = state.cluster.as_ref().map(|c| c.grace);
    let keyring = state.keyring.clone();
    read(state, move |store| match resource {
        ResourceType::Instances => {
            let away = away_nodes(store, grace);
            instances(store, &filter, &selector, &away)
        }
        ResourceType::Events => events(store, &filter),
        ResourceType::Nodes => match (store.control_plane(), grace) {
            (Some(control), Some(grace)) if !store.answered_alone() => match control.nodes(grace) {
                Ok(nodes) => Ok(nodes
                    .iter()
                    .filter(|n| filter.name.as_ref().is_none_or(|name| &n.name == name))
                    .filter(|n| selector.matches(&n.labels))
                    .map(cluster_node_json)
                    .collect()),
                // The database went away: this node is all it knows of.
                Err(e) if e.is_transient() => Ok(vec![node_json(&node)]),
                Err(e) => Err(internal(e)),
            },
            _ => Ok(vec![node_json(&node)]),
        },
        ResourceType::Namespaces => namespaces(store, &filter, &selector, &keyring),
        ResourceType::ConfigMaps
        | ResourceType::Secrets
        | ResourceType::PriorityClasses
        | ResourceType::ControllerRevisions
        | ResourceType::NetworkPolicies
        | ResourceType::ServiceAccounts
        | ResourceType::Roles
        | ResourceType::ClusterRoles
        | ResourceType::RoleBindings
        | ResourceType::ClusterRoleBindings
        | ResourceType::ResourceQuotas
        | ResourceType::LimitRanges => {
            let found = objects(store, resource, &filter, &selector)?;
            let mut shown: Vec<Value> = found
                .iter()
                .map(|o| resource::config_json(o, &keyring).map_err(internal))
                .collect::<Result<_, _>>()?;
            if resource == ResourceType::ResourceQuotas {
                for (shown, record) in shown.iter_mut().zip(&found) {
                    let hard: std::collections::BTreeMap<String, String> =
                        serde_json::from_value(shown["spec"]["hard"].clone()).unwrap_or_default();
                    let used = crate::access::quota::used_in(store, &record.namespace, &hard)
                        .map_err(internal)?;
                    shown["status"] = serde_json::json!({"hard": hard, "used": used});
                }
            }
            let defaults = match resource {
                ResourceType::ClusterRoles => crate::access::defaults::cluster_role_objects(),
                ResourceType::ClusterRoleBindings => {
                    crate::access::defaults::cluster_role_binding_objects()
                }
                _ => Vec::new(),
            };
            // The defaults every cluster has, unless a stored one of the
            // same name replaces it.
            for default in defaults {
                let name = &default["metadata"]["name"];
                let labels = serde_json::from_value(default["metadata"]["labels"].clone())
                    .unwrap_or_default();
                let wanted = filter.name.as_ref().is_none_or(|n| name == n.as_str());
                if wanted
                    && selector.matches(&labels)
                    && !shown.iter().any(|s| &s["metadata"]["name"] == name)
                {
                    shown.push(default);
                }
            }
            Ok(shown)
        }
        _ => {
            let mut found = objects(store, resource, &filter, &selector)?;
            if resource == ResourceType::DaemonSets
                && let (Some(_), Some(grace)) = (store.control_plane(), grace)
            {
                for ds in &mut found {
                    super::cluster::count_daemonset(store, ds, grace).map_err(internal)?;
                }
            }
            Ok(found.into_iter().map(resource::into_object_json).collect())
        }
    })
    .await
}

/// The namespaces: those created (Namespace objects), and those objects
/// live in, and `default`; every one `Active`.
fn namespaces(
    store: &Store,
    filter: &Filter,
    selector: &Selector,
    keyring: &crate::secrets::Keyring,
) -> Result<Vec<Value>, ApiError> {
    use crate::manifest::Kind;
    let mut all = std::collections::BTreeMap::new();
    let mut used = vec!["default".to_owned()];
    for kind in Kind::NAMESPACED {
        let objects = store.live_objects(kind, None).map_err(internal)?;
        used.extend(objects.into_iter().map(|o| o.namespace));
    }
    for name in used {
        let labels = serde_json::json!({"kubernetes.io/metadata.name": name});
        let object = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        });
        all.insert(name, object);
    }
    for stored in store
        .live_objects(Kind::Namespace, None)
        .map_err(internal)?
    {
        let mut object = resource::config_json(&stored, keyring).map_err(internal)?;
        object["metadata"]["labels"]["kubernetes.io/metadata.name"] = stored.name.clone().into();
        all.insert(stored.name.clone(), object);
    }
    Ok(all
        .into_values()
        .map(|mut ns| {
            ns["spec"] = serde_json::json!({"finalizers": ["kubernetes"]});
            ns["status"] = serde_json::json!({"phase": "Active"});
            ns
        })
        .filter(|ns| {
            let labels =
                serde_json::from_value(ns["metadata"]["labels"].clone()).unwrap_or_default();
            filter
                .name
                .as_ref()
                .is_none_or(|n| ns["metadata"]["name"] == n.as_str())
                && selector.matches(&labels)
        })
        .collect())
}

pub(super) fn objects(
    store: &Store,
    resource: ResourceType,
    filter: &Filter,
    selector: &Selector,
) -> Result<Vec<ObjectRecord>, ApiError> {
    let kind = resource.kind().expect("object kinds");
    // A cluster-scoped object belongs to no namespace.
    let namespace = filter
        .namespace
        .as_deref()
        .filter(|_| !kind.cluster_scoped());
    let found = store.live_objects(kind, namespace).map_err(internal)?;
    Ok(found
        .into_iter()
        .filter(|o| {
            filter.name.as_ref().is_none_or(|n| &o.name == n) && selector.matches(&o.labels)
        })
        .collect())
}

/// The live instances a filter and selector keep. A name, a Job, or a
/// `job-name=` requirement narrows the read to an index lookup first; every
/// condition is still checked on what is read.
pub(super) fn matching_instances(
    store: &Store,
    filter: &Filter,
    selector: &Selector,
) -> Result<Vec<InstanceRecord>, ApiError> {
    let job = filter.job.as_deref().or_else(|| {
        selector.0.iter().find_map(|r| match r {
            Requirement::Equals(k, v) if k == "job-name" || k == "batch.kubernetes.io/job-name" => {
                Some(v.as_str())
            }
            _ => None,
        })
    });
    let scope = match (&filter.name, job) {
        (Some(name), _) => InstanceScope::Named(name),
        (None, Some(job)) => InstanceScope::OfJob(job),
        (None, None) => InstanceScope::All,
    };
    let found = store
        .live_instances_in(filter.namespace.as_deref(), scope)
        .map_err(internal)?;
    // A DaemonSet's instances are those it owns.
    let owner = match &filter.daemonset {
        None => None,
        Some(name) => {
            let namespace = filter.namespace.as_deref().unwrap_or("default");
            let ds = store
                .live_object(manifest::Kind::DaemonSet, namespace, name)
                .map_err(internal)?
                .ok_or_else(|| {
                    ApiError(
                        axum::http::StatusCode::NOT_FOUND,
                        format!("daemonsets.apps {name:?} not found"),
                    )
                })?;
            Some(ds.uid)
        }
    };
    Ok(found
        .into_iter()
        .filter(|i| owner.as_ref().is_none_or(|o| &i.owner_uid == o))
        .filter(|i| filter.name.as_ref().is_none_or(|n| &i.name == n))
        .filter(|i| {
            filter
                .job
                .as_ref()
                .is_none_or(|j| i.labels.get("job-name") == Some(j))
        })
        .filter(|i| selector.matches(&i.labels))
        .collect())
}

fn instances(
    store: &Store,
    filter: &Filter,
    selector: &Selector,
    away: &HashMap<String, i64>,
) -> Result<Vec<Value>, ApiError> {
    let mut owners: HashMap<String, ObjectRecord> = HashMap::new();
    let mut items = Vec::new();
    for instance in matching_instances(store, filter, selector)? {
        if !owners.contains_key(&instance.owner_uid) {
            let Some(owner) = store.object(&instance.owner_uid).map_err(internal)? else {
                continue;
            };
            owners.insert(instance.owner_uid.clone(), owner);
        }
        let mut json = resource::instance_json(&instance, &owners[&instance.owner_uid]);
        if let Some(&heard) = away.get(&instance.node_name)
            && instance.finish_time.is_none()
        {
            mark_unreachable(&mut json, &instance.node_name, heard);
        }
        items.push(json);
    }
    Ok(items)
}

/// In a cluster, the nodes that stopped heartbeating, with their last
/// heartbeat; none when the cluster's database does not answer (this
/// node then answers from its own records, and knows only itself).
fn away_nodes(store: &Store, grace: Option<std::time::Duration>) -> HashMap<String, i64> {
    let (Some(control), Some(grace)) = (store.control_plane(), grace) else {
        return HashMap::new();
    };
    let nodes = control.nodes(grace).unwrap_or_default();
    nodes
        .into_iter()
        .filter(|n| !n.ready)
        .map(|n| (n.name, n.heartbeat_at))
        .collect()
}

/// An unfinished instance on a node that is away shows its last known
/// state as Kubernetes shows a pod on an unreachable node: phase
/// `Unknown`, with what was last heard.
fn mark_unreachable(json: &mut Value, node: &str, heard: i64) {
    let status = &mut json["status"];
    let last = status["phase"].as_str().unwrap_or("Unknown").to_owned();
    status["phase"] = "Unknown".into();
    status["reason"] = "NodeUnreachable".into();
    status["message"] = format!(
        "node {node} has not been heard from since {}; the instance was {last} then, \
         and its node's own records will say what happened",
        crate::time::rfc3339(heard)
    )
    .into();
}

fn events(store: &Store, filter: &Filter) -> Result<Vec<Value>, ApiError> {
    let mut owners: HashMap<String, Option<ObjectRecord>> = HashMap::new();
    let mut items = Vec::new();
    for event in store
        .live_events(filter.namespace.as_deref())
        .map_err(internal)?
    {
        let owner = match owners.get(&event.object_uid) {
            Some(o) => o.clone(),
            None => {
                let o = store.object(&event.object_uid).map_err(internal)?;
                owners.insert(event.object_uid.clone(), o.clone());
                o
            }
        };
        if let Some(owner) = owner
            && filter.name.as_ref().is_none_or(|n| &owner.name == n)
        {
            items.push(resource::event_json(&event, &owner));
        }
    }
    Ok(items)
}

/// A node of the cluster as `get nodes` shows it: Ready while it heartbeats.
pub(super) fn cluster_node_json(node: &NodeRecord) -> Value {
    let (status, reason) = if node.ready {
        ("True", "NodeReady")
    } else {
        ("Unknown", "NodeStatusUnknown")
    };
    let ready = serde_json::json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "lastHeartbeatTime": crate::time::rfc3339(node.heartbeat_at),
    });
    let mut object = node_object(
        &node.name,
        &node.labels,
        node.joined_at,
        ready,
        &node.version,
    );
    if !node.taints.is_empty() {
        object["spec"] = serde_json::json!({ "taints": node.taints });
    }
    object["status"]["capacity"] = serde_json::json!({"instances": node.capacity.to_string()});
    object["status"]["addresses"] =
        serde_json::json!([{"type": "InternalIP", "address": node.address}]);
    object
}

/// This node, outside a cluster: always Ready while it answers.
pub(super) fn node_json(node: &NodeInfo) -> Value {
    let ready = serde_json::json!({"type": "Ready", "status": "True"});
    let mut object = node_object(
        &node.name,
        &node.labels,
        node.started,
        ready,
        env!("CARGO_PKG_VERSION"),
    );
    if !node.taints.is_empty() {
        object["spec"] = serde_json::json!({ "taints": node.taints });
    }
    object
}

/// The `v1` Node object both shapes share.
fn node_object(
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    created: i64,
    ready: Value,
    version: &str,
) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "creationTimestamp": crate::time::rfc3339(created),
        },
        "status": {
            "conditions": [ready],
            "nodeInfo": {"kubeletVersion": version},
        },
    })
}

/// `GET /wasmjob/v1/commits?after=N&timeoutSeconds=S`: answers
/// `{"commits": count}` as soon as this node has seen a commit past `N`
/// (at the latest after `S` seconds, 30 by default): `get --watch` reads
/// again then, instead of on a timer. A count this process never reached
/// (the client saw an earlier server) is answered at once.
pub(super) async fn commits(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let number = |key: &str| query.get(key).and_then(|v| v.parse::<u64>().ok());
    let after = number("after").unwrap_or(0);
    let seconds = number("timeoutSeconds").unwrap_or(30).min(300);
    let count = match after > crate::store::commits::count() {
        true => crate::store::commits::count(),
        false => {
            let timeout = std::time::Duration::from_secs(seconds);
            crate::store::commits::past(after, timeout).await
        }
    };
    Json(serde_json::json!({ "commits": count }))
}

/// `GET /wasmjob/v1/schedule?schedule=…&timeZone=…&count=N`: the next `N`
/// times (5 by default, at most 100) the schedule fires after now, in UTC
/// — by the parser CronJobs use; or with `namespace` and `name` instead,
/// the next times of that CronJob's schedules (the dashboard's).
pub(super) async fn schedule(
    axum::extract::State(state): axum::extract::State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let timetable = match (query.get("namespace"), query.get("name")) {
        (Some(namespace), Some(name)) => {
            let (namespace, name) = (namespace.clone(), name.clone());
            let found = read(&state, move |store| {
                let found = store.live_object(manifest::Kind::CronJob, &namespace, &name);
                found.map_err(internal)
            })
            .await?
            .ok_or_else(|| {
                let name = query.get("name").cloned().unwrap_or_default();
                ApiError(
                    axum::http::StatusCode::NOT_FOUND,
                    format!("cronjobs.batch {name:?} not found"),
                )
            })?;
            manifest::timetable_of(&resource::object_json(&found))
                .ok_or_else(|| internal("the stored CronJob cannot be read back"))?
        }
        _ => {
            let text = query.get("schedule").ok_or_else(|| {
                super::error::bad_request("schedule (or namespace and name) is required")
            })?;
            let parsed = crate::schedule::Schedule::parse(text)
                .map_err(|e| super::error::bad_request(format!("schedule {text:?}: {e}")))?;
            let name = query.get("timeZone").map(String::as_str);
            let zone = crate::schedule::time_zone(name).ok_or_else(|| {
                super::error::bad_request(format!(
                    "timeZone {:?} is not a known time zone",
                    name.unwrap_or_default()
                ))
            })?;
            crate::schedule::Timetable::single(parsed, zone)
        }
    };
    let count = query
        .get("count")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(5)
        .min(100);
    let times: Vec<String> = timetable
        .upcoming(jiff::Timestamp::now(), count)
        .iter()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    Ok(Json(serde_json::json!({ "times": times })))
}
