//! kubectl's columns for each kind, built from the Kubernetes-shaped JSON:
//! `wasmjob get` aligns them as text, and the API sends them as the
//! `meta.k8s.io` `Table` that kubectl prints.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::JobStatus;
use crate::resource::ResourceType;
use crate::time::{self, human_duration, parse_rfc3339};

/// A JSON string as text; anything else as nothing.
pub fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_default()
}

/// kubectl's AGE of a `creationTimestamp`.
pub fn age(created: &Value) -> String {
    created
        .as_str()
        .and_then(parse_rfc3339)
        .map(|t| human_duration(time::now() - t))
        .unwrap_or_else(|| "<unknown>".into())
}

/// A table's column names and its rows, one per item.
pub struct Columns {
    /// The names, as kubectl prints them.
    pub header: Vec<&'static str>,
    /// One row per item, a cell per column.
    pub rows: Vec<Vec<String>>,
}

/// The columns of `get` for `items` of one kind (`wide`: `-o wide`'s extra ones).
pub fn columns(resource: ResourceType, items: &[Value], wide: bool) -> Columns {
    match resource {
        ResourceType::Jobs => {
            let mut header = vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"];
            if wide {
                header.extend(["CONTAINERS", "IMAGES"]);
            }
            let rows = items.iter().map(|job| job_row(job, wide)).collect();
            Columns { header, rows }
        }
        ResourceType::Instances => {
            let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
            if wide {
                header.push("NODE");
            }
            let rows = items.iter().map(|i| instance_row(i, wide)).collect();
            Columns { header, rows }
        }
        ResourceType::Events => rows(EVENT_COLUMNS, items, event_row),
        ResourceType::Nodes => rows(NODE_COLUMNS, items, node_row),
        ResourceType::CronJobs => rows(CRONJOB_COLUMNS, items, cronjob_row),
        ResourceType::DaemonSets => rows(DAEMONSET_COLUMNS, items, daemonset_row),
        ResourceType::ConfigMaps => rows(&["NAME", "DATA", "AGE"], items, configmap_row),
        ResourceType::Secrets => rows(&["NAME", "TYPE", "DATA", "AGE"], items, secret_row),
        ResourceType::Namespaces => rows(&["NAME", "STATUS", "AGE"], items, namespace_row),
        ResourceType::PriorityClasses => rows(
            &["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
            items,
            priority_row,
        ),
        ResourceType::ControllerRevisions => rows(
            &["NAME", "CONTROLLER", "REVISION", "AGE"],
            items,
            revision_row,
        ),
        ResourceType::NetworkPolicies => rows(&["NAME", "POD-SELECTOR", "AGE"], items, policy_row),
        ResourceType::ServiceAccounts => rows(&["NAME", "SECRETS", "AGE"], items, |a| {
            let secrets = a["secrets"].as_array().map_or(0, Vec::len);
            vec![
                text(&a["metadata"]["name"]),
                secrets.to_string(),
                age(&a["metadata"]["creationTimestamp"]),
            ]
        }),
        ResourceType::Roles | ResourceType::ClusterRoles => {
            rows(&["NAME", "CREATED AT"], items, |r| {
                vec![
                    text(&r["metadata"]["name"]),
                    text(&r["metadata"]["creationTimestamp"]),
                ]
            })
        }
        ResourceType::ResourceQuotas => {
            rows(&["NAME", "AGE", "REQUEST", "LIMIT"], items, quota_row)
        }
        ResourceType::LimitRanges => rows(&["NAME", "CREATED AT"], items, |r| {
            vec![
                text(&r["metadata"]["name"]),
                text(&r["metadata"]["creationTimestamp"]),
            ]
        }),
        ResourceType::RoleBindings | ResourceType::ClusterRoleBindings => {
            rows(&["NAME", "ROLE", "AGE"], items, |b| {
                vec![
                    text(&b["metadata"]["name"]),
                    format!(
                        "{}/{}",
                        text(&b["roleRef"]["kind"]),
                        text(&b["roleRef"]["name"])
                    ),
                    age(&b["metadata"]["creationTimestamp"]),
                ]
            })
        }
    }
}

/// kubectl's ResourceQuota row: `used/hard` of each resource, the
/// `limits.*` ones under LIMIT and the rest under REQUEST.
fn quota_row(q: &Value) -> Vec<String> {
    let hard = q["status"]["hard"].as_object().cloned().unwrap_or_default();
    let used = &q["status"]["used"];
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for (name, value) in &hard {
        let now = used[name].as_str().unwrap_or("?");
        let entry = format!("{name}: {now}/{}", value.as_str().unwrap_or(""));
        match name.starts_with("limits.") {
            true => limit.push(entry),
            false => request.push(entry),
        }
    }
    vec![
        text(&q["metadata"]["name"]),
        age(&q["metadata"]["creationTimestamp"]),
        request.join(", "),
        limit.join(", "),
    ]
}

/// kubectl's NetworkPolicy row.
fn policy_row(p: &Value) -> Vec<String> {
    vec![
        text(&p["metadata"]["name"]),
        selector_text(&p["spec"]["podSelector"]),
        age(&p["metadata"]["creationTimestamp"]),
    ]
}

/// A `metav1.LabelSelector` as `-l` writes it; `<none>` when it selects
/// everything.
pub fn selector_text(selector: &Value) -> String {
    let mut terms: Vec<String> = (selector["matchLabels"].as_object().into_iter().flatten())
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = text(&e["key"]);
        let values: Vec<String> = (e["values"].as_array().into_iter().flatten())
            .map(text)
            .collect();
        terms.push(match text(&e["operator"]).as_str() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key,
        });
    }
    if terms.is_empty() {
        "<none>".to_owned()
    } else {
        terms.join(",")
    }
}

/// kubectl's ControllerRevision row: the controller as `kind.group/name`.
fn revision_row(r: &Value) -> Vec<String> {
    let controller = r["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|refs| refs.iter().find(|o| o["controller"] == true))
        .map_or("<none>".to_owned(), |o| {
            let kind = text(&o["kind"]).to_ascii_lowercase();
            let group = text(&o["apiVersion"]);
            let group = group.split_once('/').map_or("", |(g, _)| g);
            format!("{kind}.{group}/{}", text(&o["name"]))
        });
    vec![
        text(&r["metadata"]["name"]),
        controller,
        r["revision"].as_i64().unwrap_or(0).to_string(),
        age(&r["metadata"]["creationTimestamp"]),
    ]
}

/// kubectl's DATA: the number of keys (a ConfigMap's binary ones too).
fn data_count(c: &Value) -> String {
    let count = |field: &str| c[field].as_object().map_or(0, |m| m.len());
    (count("data") + count("binaryData")).to_string()
}

fn configmap_row(c: &Value) -> Vec<String> {
    vec![
        text(&c["metadata"]["name"]),
        data_count(c),
        age(&c["metadata"]["creationTimestamp"]),
    ]
}

fn priority_row(c: &Value) -> Vec<String> {
    vec![
        text(&c["metadata"]["name"]),
        c["value"].as_i64().unwrap_or(0).to_string(),
        (c["globalDefault"] == true).to_string(),
        age(&c["metadata"]["creationTimestamp"]),
        c["preemptionPolicy"]
            .as_str()
            .unwrap_or("PreemptLowerPriority")
            .to_owned(),
    ]
}

fn namespace_row(n: &Value) -> Vec<String> {
    vec![
        text(&n["metadata"]["name"]),
        n["status"]["phase"].as_str().unwrap_or("Active").to_owned(),
        age(&n["metadata"]["creationTimestamp"]),
    ]
}

fn secret_row(c: &Value) -> Vec<String> {
    vec![
        text(&c["metadata"]["name"]),
        text(&c["type"]),
        data_count(c),
        age(&c["metadata"]["creationTimestamp"]),
    ]
}

/// A table of `columns`, a row of `row` per item.
fn rows(columns: &[&'static str], items: &[Value], row: fn(&Value) -> Vec<String>) -> Columns {
    Columns {
        header: columns.to_vec(),
        rows: items.iter().map(row).collect(),
    }
}

const EVENT_COLUMNS: &[&str] = &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];

fn event_row(e: &Value) -> Vec<String> {
    let object = &e["involvedObject"];
    vec![
        age(&e["lastTimestamp"]),
        text(&e["type"]),
        text(&e["reason"]),
        format!(
            "{}/{}",
            text(&object["kind"]).to_ascii_lowercase(),
            text(&object["name"])
        ),
        text(&e["message"]),
    ]
}

const NODE_COLUMNS: &[&str] = &["NAME", "STATUS", "LABELS", "AGE", "VERSION"];

fn node_row(n: &Value) -> Vec<String> {
    let labels = n["metadata"]["labels"]
        .as_object()
        .map(|m| {
            let pairs = m.iter().map(|(k, v)| format!("{k}={}", text(v)));
            pairs.collect::<Vec<_>>().join(",")
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "<none>".into());
    // kubectl: Ready while the Ready condition is True.
    let ready = n["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    vec![
        text(&n["metadata"]["name"]),
        if ready { "Ready" } else { "NotReady" }.into(),
        labels,
        age(&n["metadata"]["creationTimestamp"]),
        text(&n["status"]["nodeInfo"]["kubeletVersion"]),
    ]
}

const CRONJOB_COLUMNS: &[&str] = &[
    "NAME",
    "SCHEDULE",
    "TIMEZONE",
    "SUSPEND",
    "ACTIVE",
    "LAST SCHEDULE",
    "AGE",
];

/// A CronJob's schedules as one line: `spec.schedule`, then the wasmjob
/// extension `spec.schedules`, each with its own time zone in brackets.
pub fn schedules_text(spec: &Value) -> String {
    let mut all = Vec::new();
    if let Some(s) = spec["schedule"].as_str().filter(|s| !s.is_empty()) {
        all.push(s.to_owned());
    }
    for entry in spec["schedules"].as_array().into_iter().flatten() {
        all.push(match (entry.as_str(), entry["timeZone"].as_str()) {
            (Some(text), _) => text.to_owned(),
            (None, Some(zone)) => format!("{} ({zone})", text(&entry["schedule"])),
            (None, None) => text(&entry["schedule"]),
        });
    }
    all.join(", ")
}

fn cronjob_row(c: &Value) -> Vec<String> {
    let spec = &c["spec"];
    let active = c["status"]["active"].as_array().map_or(0, Vec::len);
    let last = c["status"]["lastScheduleTime"]
        .as_str()
        .map(|_| age(&c["status"]["lastScheduleTime"]));
    let note = c["metadata"]["annotations"][crate::manifest::well_known::PAUSE_NOTE].as_str();
    let suspend = match (spec["suspend"] == true, note) {
        // wasmjob's pause note says why.
        (true, Some(note)) => format!("True ({note})"),
        (true, None) => "True".to_owned(),
        (false, _) => "False".to_owned(),
    };
    vec![
        text(&c["metadata"]["name"]),
        schedules_text(spec),
        spec["timeZone"].as_str().unwrap_or("<none>").to_owned(),
        suspend,
        active.to_string(),
        last.unwrap_or_else(|| "<none>".into()),
        age(&c["metadata"]["creationTimestamp"]),
    ]
}

const DAEMONSET_COLUMNS: &[&str] = &[
    "NAME",
    "DESIRED",
    "CURRENT",
    "READY",
    "UP-TO-DATE",
    "AVAILABLE",
    "NODE SELECTOR",
    "AGE",
];

fn daemonset_row(ds: &Value) -> Vec<String> {
    let status = &ds["status"];
    let count = |field: &str| status[field].as_u64().unwrap_or(0).to_string();
    let selector: BTreeMap<String, String> =
        serde::Deserialize::deserialize(&ds["spec"]["template"]["spec"]["nodeSelector"])
            .unwrap_or_default();
    vec![
        text(&ds["metadata"]["name"]),
        count("desiredNumberScheduled"),
        count("currentNumberScheduled"),
        count("numberReady"),
        count("updatedNumberScheduled"),
        count("numberAvailable"),
        crate::manifest::Placement::describe(&selector),
        age(&ds["metadata"]["creationTimestamp"]),
    ]
}

/// A Job's status, read from its JSON.
pub fn job_status(job: &Value) -> JobStatus {
    serde::Deserialize::deserialize(&job["status"]).unwrap_or_default()
}

/// Whether a Job's template still names a registry image: its node has
/// not pulled it yet.
fn names_registry_image(spec: &Value) -> bool {
    let pod = &spec["template"]["spec"];
    let containers = ["initContainers", "containers"]
        .iter()
        .filter_map(|list| pod[list].as_array())
        .flatten();
    containers
        .filter_map(|c| c["image"].as_str())
        .any(crate::oci::is_reference)
}

fn job_row(job: &Value, wide: bool) -> Vec<String> {
    let status = job_status(job);
    let spec = &job["spec"];
    let pulling = crate::controller::image_pull::waiting_reason(&status);
    let phase = match status.phase() {
        // Waiting for its registry image (see `runner::pulls`).
        "Running" if pulling.is_some() => pulling.unwrap_or_default(),
        "Running" if status.start_time.is_none() && names_registry_image(spec) => "Pulling",
        "Running" if spec["suspend"] == true => "Suspended",
        // wasmjob's `startAfter`: waiting for its time.
        "Running" if status.start_time.is_none() && spec["startAfter"].is_string() => "Scheduled",
        // wasmjob's `dependsOn`: waiting for other Jobs.
        "Running" if status.start_time.is_none() && spec["dependsOn"].is_array() => "Waiting",
        phase => phase,
    };
    let completions = match spec["completions"].as_u64() {
        Some(n) => format!("{}/{n}", status.succeeded),
        None => format!("{}/1 of {}", status.succeeded, spec["parallelism"]),
    };
    let start = status.start_time.as_deref().and_then(parse_rfc3339);
    let end = status
        .conditions
        .iter()
        .find(|c| c.kind == "Complete" || c.kind == "Failed")
        .and_then(|c| parse_rfc3339(&c.last_transition_time));
    let duration = match start {
        Some(s) => human_duration(end.unwrap_or_else(time::now) - s),
        None => String::new(),
    };
    let mut row = vec![
        text(&job["metadata"]["name"]),
        phase.into(),
        completions,
        duration,
        age(&job["metadata"]["creationTimestamp"]),
    ];
    if wide {
        let container = &spec["template"]["spec"]["containers"][0];
        row.push(text(&container["name"]));
        row.push(text(&container["image"]));
    }
    row
}

/// kubectl's STATUS column for a pod.
fn instance_status(status: &Value) -> String {
    match status["phase"].as_str().unwrap_or("") {
        "Succeeded" => "Completed".into(),
        "Failed" => status["reason"].as_str().unwrap_or("Error").into(),
        // A daemon instance waiting to restart, as kubectl shows it.
        "Running" if status["reason"] == crate::controller::daemonset::CRASH_LOOP => {
            crate::controller::daemonset::CRASH_LOOP.into()
        }
        other => other.into(),
    }
}

fn instance_row(instance: &Value, wide: bool) -> Vec<String> {
    let status = &instance["status"];
    let ready = if status["phase"] == "Running"
        && status["reason"] != crate::controller::daemonset::CRASH_LOOP
    {
        "1/1"
    } else {
        "0/1"
    };
    let mut row = vec![
        text(&instance["metadata"]["name"]),
        ready.into(),
        instance_status(status),
        status["restartCount"].as_u64().unwrap_or(0).to_string(),
        age(&instance["metadata"]["creationTimestamp"]),
    ];
    if wide {
        // An offered instance no node has claimed yet, as kubectl shows a
        // pod that is not scheduled.
        let node = text(&status["nodeName"]);
        row.push(if node.is_empty() {
            "<none>".into()
        } else {
            node
        });
    }
    row
}
