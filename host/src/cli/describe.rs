//! `wasmjob describe`: an object as kubectl describes it — its fields, its
//! instances' statuses and its events — built from the server's
//! Kubernetes-shaped JSON.

use std::path::Path;

use serde_json::Value;

use super::get::{fetch, fetch_one, kind_and_name, resource};
use super::remote::connect;
use super::{CliError, table};
use crate::columns::{age, job_status, text};
use crate::resource::ResourceType;

/// `wasmjob describe KIND/NAME` (or `KIND NAME`).
pub fn describe(
    server: Option<&str>,
    state_dir: &Path,
    target: &str,
    name: Option<&str>,
    namespace: &str,
) -> Result<(), CliError> {
    let (kind, name) = kind_and_name(target, name).ok_or_else(|| {
        CliError::BadInput("describe takes KIND/NAME or KIND NAME, as in describe jobs/pi".into())
    })?;
    let resource = resource(kind)?;
    if !matches!(
        resource,
        ResourceType::Jobs
            | ResourceType::CronJobs
            | ResourceType::DaemonSets
            | ResourceType::ConfigMaps
            | ResourceType::Secrets
            | ResourceType::NetworkPolicies
    ) {
        return Err(CliError::BadInput(format!(
            "describe supports jobs, cronjobs, daemonsets, configmaps, secrets and \
             networkpolicies, not {}",
            resource.plural()
        )));
    }
    let client = connect(server, state_dir)?;
    let object = &fetch_one(&client, resource, namespace, name)?;
    if matches!(resource, ResourceType::ConfigMaps | ResourceType::Secrets) {
        out!("{}", describe_config(object));
        return Ok(());
    }
    if resource == ResourceType::NetworkPolicies {
        out!("{}", describe_policy(object));
        return Ok(());
    }
    let events = fetch(
        &client,
        ResourceType::Events,
        Some(namespace),
        None,
        Some(name),
    )?;
    if resource == ResourceType::CronJobs {
        out!("{}", describe_cronjob(object, &events));
        return Ok(());
    }
    // A Job or DaemonSet: the object, the instances it controls, its events.
    let controlled = format!("controller-uid={}", text(&object["metadata"]["uid"]));
    let namespace = Some(namespace);
    let instances = fetch(
        &client,
        ResourceType::Instances,
        namespace,
        Some(&controlled),
        None,
    )?;
    match resource {
        ResourceType::DaemonSets => out!("{}", describe_daemonset(object, &instances, &events)),
        _ => out!("{}", describe_job(object, &instances, &events)),
    }
    Ok(())
}

/// A ConfigMap as kubectl describes it (every value), or a Secret (only
/// each value's size: describe never prints a Secret's values).
fn describe_config(object: &Value) -> String {
    let meta = &object["metadata"];
    let mut out = String::new();
    out += &format!("Name:         {}\n", text(&meta["name"]));
    out += &format!("Namespace:    {}\n", text(&meta["namespace"]));
    out += &format!("Labels:       {}\n", labels_text(&meta["labels"], 14));
    out += &format!("Annotations:  {}\n", labels_text(&meta["annotations"], 14));
    let entries = |field: &str| object[field].as_object().cloned().unwrap_or_default();
    if object["kind"] == "Secret" {
        out += &format!("\nType:  {}\n\nData\n====\n", text(&object["type"]));
        for (key, value) in entries("data") {
            let size = crate::manifest::config_decode(&text(&value)).map_or(0, |b| b.len());
            out += &format!("{key}:  {size} bytes\n");
        }
        return out;
    }
    out += "\nData\n====\n";
    for (key, value) in entries("data") {
        out += &format!("{key}:\n----\n{}\n\n", text(&value));
    }
    out += "\nBinaryData\n====\n";
    for (key, value) in entries("binaryData") {
        let size = crate::manifest::config_decode(&text(&value)).map_or(0, |b| b.len());
        out += &format!("{key}: {size} bytes\n");
    }
    out
}

/// A NetworkPolicy as kubectl describes it: whom it selects, and each
/// egress rule's ports and destinations.
pub fn describe_policy(object: &Value) -> String {
    let meta = &object["metadata"];
    let spec = &object["spec"];
    let mut out = String::new();
    out += &format!("Name:         {}\n", text(&meta["name"]));
    out += &format!("Namespace:    {}\n", text(&meta["namespace"]));
    out += &format!("Created on:   {}\n", text(&meta["creationTimestamp"]));
    out += &format!("Labels:       {}\n", labels_text(&meta["labels"], 14));
    out += &format!("Annotations:  {}\n", labels_text(&meta["annotations"], 14));
    out += "Spec:\n";
    let selector = crate::columns::selector_text(&spec["podSelector"]);
    let selector = if selector == "<none>" {
        "<none> (Allowing the specific traffic to all pods in this namespace)".to_owned()
    } else {
        selector
    };
    out += &format!("  PodSelector:     {selector}\n");
    out += "  Not affecting ingress traffic (instances accept no connections)\n";
    let types: Vec<String> = (spec["policyTypes"].as_array().into_iter().flatten())
        .map(text)
        .collect();
    let rules = spec["egress"].as_array().cloned().unwrap_or_default();
    if !types.iter().any(|t| t == "Egress") {
        out += "  Not affecting egress traffic\n";
    } else if rules.is_empty() {
        out += "  Allowing egress traffic:\n    <none> (Selected pods are isolated for egress connectivity)\n";
    } else {
        out += "  Allowing egress traffic:\n";
        for (i, rule) in rules.iter().enumerate() {
            if i > 0 {
                out += "    ----------\n";
            }
            out += &policy_rule(rule);
        }
    }
    out += &format!("  Policy Types: {}\n", types.join(", "));
    out
}

/// One egress rule: its ports, then its destinations.
fn policy_rule(rule: &Value) -> String {
    let mut out = String::new();
    let ports = rule["ports"].as_array().cloned().unwrap_or_default();
    if ports.is_empty() {
        out += "    To Port: <any> (traffic allowed to all ports)\n";
    }
    for port in &ports {
        let protocol = port["protocol"].as_str().unwrap_or("TCP");
        let number = match (&port["port"], &port["endPort"]) {
            (Value::Null, _) => "<any>".to_owned(),
            (p, Value::Null) => text(p),
            (p, end) => format!("{}-{}", text(p), text(end)),
        };
        out += &format!("    To Port: {number}/{protocol}\n");
    }
    let peers = rule["to"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        out += "    To: <any> (traffic not restricted by destination)\n";
        return out;
    }
    out += "    To:\n";
    for peer in &peers {
        if let Some(block) = peer.get("ipBlock") {
            let except: Vec<String> = (block["except"].as_array().into_iter().flatten())
                .map(text)
                .collect();
            out += &format!(
                "      IPBlock:\n        CIDR: {}\n        Except: {}\n",
                text(&block["cidr"]),
                except.join(", ")
            );
        }
        if let Some(hosts) = peer["hosts"].as_array() {
            let hosts: Vec<String> = hosts.iter().map(text).collect();
            out += &format!("      Hosts: {}\n", hosts.join(", "));
        }
        for key in ["podSelector", "namespaceSelector"] {
            if let Some(selector) = peer.get(key) {
                let shown = crate::columns::selector_text(selector);
                out += &format!(
                    "      {key}: {shown} (grants nothing: instances have no addresses)\n"
                );
            }
        }
    }
    out
}

fn labels_text(labels: &Value, indent: usize) -> String {
    match labels.as_object().filter(|m| !m.is_empty()) {
        None => "<none>".into(),
        Some(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(&format!("\n{}", " ".repeat(indent))),
    }
}

/// `key: value` lines, the values in a column `width` wide, as kubectl
/// aligns them.
fn fields(width: usize, key_end: &str, fields: Vec<(&str, String)>) -> String {
    let mut out = String::new();
    for (key, value) in fields {
        out.push_str(&format!("{:<width$}{value}\n", format!("{key}{key_end}")));
    }
    out
}

/// The text of `describe jobs/NAME`.
pub fn describe_job(job: &Value, instances: &[Value], events: &[Value]) -> String {
    let meta = &job["metadata"];
    let spec = &job["spec"];
    let status = job_status(job);
    let count = |phase: &str| {
        let phases = instances.iter().filter(|i| i["status"]["phase"] == phase);
        phases.count()
    };
    let completions = spec["completions"].as_u64().map(|c| c.to_string());
    let statuses = format!(
        "{} Running / {} Succeeded / {} Failed",
        count("Running"),
        count("Succeeded"),
        count("Failed")
    );
    let mut lines = vec![
        ("Name", text(&meta["name"])),
        ("Namespace", text(&meta["namespace"])),
        (
            "Selector",
            format!("batch.kubernetes.io/controller-uid={}", text(&meta["uid"])),
        ),
        ("Labels", labels_text(&meta["labels"], 18)),
        ("Annotations", labels_text(&meta["annotations"], 18)),
        ("Parallelism", spec["parallelism"].to_string()),
        (
            "Completions",
            completions.unwrap_or_else(|| "<unset>".into()),
        ),
        ("Completion Mode", text(&spec["completionMode"])),
        ("Suspend", (spec["suspend"] == true).to_string()),
        ("Backoff Limit", spec["backoffLimit"].to_string()),
    ];
    // wasmjob's `startAfter` and `dependsOn`, where set.
    lines.extend(
        spec["startAfter"]
            .as_str()
            .map(|at| ("Start After", at.to_owned())),
    );
    if let Some(depends) = spec["dependsOn"].as_array() {
        let on = depends.iter().map(|d| {
            let condition = d["condition"].as_str().unwrap_or("Complete");
            format!("{} ({condition})", text(&d["name"]))
        });
        lines.push(("Depends On", on.collect::<Vec<_>>().join(", ")));
    }
    lines.extend(status.start_time.map(|start| ("Start Time", start)));
    lines.extend(status.completion_time.map(|done| ("Completed At", done)));
    lines.push(("Instances Statuses", statuses));
    lines.extend(
        status
            .completed_indexes
            .map(|indexes| ("Completed Indexes", indexes)),
    );
    let mut out = fields(20, ":", lines);
    out.push_str(&template_text(&spec["template"]));
    out.push_str(&events_text(events, "job-controller"));
    out
}

/// The pod template part of `describe`.
fn template_text(template: &Value) -> String {
    let container = &template["spec"]["containers"][0];
    let mut out = String::from("Instance Template:\n");
    out.push_str(&format!(
        "  Labels:  {}\n",
        labels_text(&template["metadata"]["labels"], 11)
    ));
    out.push_str(&format!("  Container {}:\n", text(&container["name"])));
    out.push_str(&format!(
        "    Image:        {}\n",
        text(&container["image"])
    ));
    for (key, label) in [("command", "Command"), ("args", "Args")] {
        if let Some(values) = container[key].as_array() {
            out.push_str(&format!("    {label}:\n"));
            for v in values {
                out.push_str(&format!("      {}\n", text(v)));
            }
        }
    }
    if let Some(memory) = container["resources"]["limits"]["memory"].as_str() {
        out.push_str(&format!("    Limits:\n      memory:  {memory}\n"));
    }
    if let Some(env) = container["env"].as_array() {
        out.push_str("    Environment:\n");
        for var in env {
            out.push_str(&format!(
                "      {}:  {}\n",
                text(&var["name"]),
                text(&var["value"])
            ));
        }
    }
    out
}

/// `describe daemonsets/NAME`, in kubectl's layout.
pub fn describe_daemonset(ds: &Value, instances: &[Value], events: &[Value]) -> String {
    let meta = &ds["metadata"];
    let spec = &ds["spec"];
    let status = &ds["status"];
    let count = |field: &str| status[field].as_u64().unwrap_or(0).to_string();
    let waiting = instances
        .iter()
        .filter(|i| i["status"]["reason"] == crate::controller::daemonset::CRASH_LOOP)
        .count();
    let selector = labels_text(&spec["selector"]["matchLabels"], 32).replace('\n', ",");
    let running = instances.len() - waiting;
    let lines = vec![
        ("Name", text(&meta["name"])),
        ("Selector", selector),
        (
            "Node-Selector",
            labels_text(&spec["template"]["spec"]["nodeSelector"], 32),
        ),
        ("Labels", labels_text(&meta["labels"], 32)),
        (
            "Desired Number of Nodes Scheduled",
            count("desiredNumberScheduled"),
        ),
        (
            "Current Number of Nodes Scheduled",
            count("currentNumberScheduled"),
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Instances",
            count("updatedNumberScheduled"),
        ),
        (
            "Number of Nodes Scheduled with Available Instances",
            count("numberAvailable"),
        ),
        ("Number of Nodes Misscheduled", count("numberMisscheduled")),
        ("Update Strategy", text(&spec["updateStrategy"]["type"])),
        (
            "Instances Status",
            format!("{running} Running / {waiting} Waiting (CrashLoopBackOff)"),
        ),
    ];
    let mut out = fields(32, ": ", lines);
    out.push_str(&template_text(&spec["template"]));
    out.push_str(&events_text(events, "daemonset-controller"));
    out
}

/// The Events section; `from` names the controller, as kubectl shows it.
fn events_text(events: &[Value], from: &str) -> String {
    let mut out = String::new();
    out.push_str("Events:\n");
    if events.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let header = ["Type", "Reason", "Age", "From", "Message"];
        // kubectl underlines the header with dashes, as a first row.
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| "-".repeat(h.len())).collect()];
        rows.extend(events.iter().map(|e| {
            vec![
                text(&e["type"]),
                text(&e["reason"]),
                age(&e["lastTimestamp"]),
                from.to_owned(),
                text(&e["message"]),
            ]
        }));
        let rendered: Vec<String> = table::render(&header, &rows)
            .lines()
            .map(|l| format!("  {l}"))
            .collect();
        let rendered = rendered.join("\n");
        out.push_str(&rendered);
        out.push('\n');
    }
    out
}

/// The text of `describe cronjob/NAME`, with the next five fire times.
pub fn describe_cronjob(cron: &Value, events: &[Value]) -> String {
    let meta = &cron["metadata"];
    let spec = &cron["spec"];
    let status = &cron["status"];
    let or = |value: &Value, unset: &str| value.as_str().unwrap_or(unset).to_owned();
    let active: Vec<String> = status["active"]
        .as_array()
        .map(|a| a.iter().map(|j| text(&j["name"])).collect())
        .unwrap_or_default();
    let deadline = spec["startingDeadlineSeconds"]
        .as_i64()
        .map(|s| format!("{s}s"));
    let lines = vec![
        ("Name", text(&meta["name"])),
        ("Namespace", text(&meta["namespace"])),
        ("Labels", labels_text(&meta["labels"], 30)),
        ("Schedule", crate::columns::schedules_text(spec)),
        ("Time Zone", or(&spec["timeZone"], "<unset> (UTC)")),
        ("Concurrency Policy", text(&spec["concurrencyPolicy"])),
        ("Suspend", (spec["suspend"] == true).to_string()),
        (
            "Successful Job History Limit",
            spec["successfulJobsHistoryLimit"].to_string(),
        ),
        (
            "Failed Job History Limit",
            spec["failedJobsHistoryLimit"].to_string(),
        ),
        (
            "Starting Deadline Seconds",
            deadline.unwrap_or_else(|| "<unset>".into()),
        ),
        (
            "Last Schedule Time",
            or(&status["lastScheduleTime"], "<unset>"),
        ),
        (
            "Last Successful Time",
            or(&status["lastSuccessfulTime"], "<unset>"),
        ),
        (
            "Active Jobs",
            if active.is_empty() {
                "<none>".into()
            } else {
                active.join(", ")
            },
        ),
    ];
    let mut lines = lines;
    // wasmjob's bounds, where set.
    let note = crate::manifest::well_known::PAUSE_NOTE;
    for (label, value) in [
        ("Pause Note", &meta["annotations"][note]),
        ("Start Time", &spec["startTime"]),
        ("End Time", &spec["endTime"]),
        ("Remaining Runs", &status["remainingRuns"]),
        ("Overlap Policy", &spec["overlapPolicy"]),
        ("Max Concurrent Runs", &spec["maxConcurrentRuns"]),
    ] {
        if !value.is_null() {
            lines.push((
                label,
                value.as_str().map_or(value.to_string(), str::to_owned),
            ));
        }
    }
    if let Some(waiting) = status["bufferedTimes"].as_array() {
        let times: Vec<String> = waiting.iter().map(text).collect();
        lines.push(("Buffered Times", times.join(", ")));
    }
    if let Some(waiting) = status["backfill"]["waiting"].as_array() {
        let first = waiting
            .first()
            .map(|w| text(&w["time"]))
            .unwrap_or_default();
        let runs = format!("{} runs, the next of {first}", waiting.len());
        lines.push(("Backfill Waiting", runs));
    }
    let mut out = fields(30, ":", lines);
    out.push_str(&next_fire_times(cron));
    out.push_str(&events_text(events, "cronjob-controller"));
    out
}

/// The next five times a CronJob's schedules fire (each run starts up to
/// `jitterSeconds` later).
fn next_fire_times(cronjob: &Value) -> String {
    let mut out = "Next Fire Times:\n".to_owned();
    if let Some(timetable) = crate::manifest::timetable_of(cronjob) {
        for t in timetable.upcoming(jiff::Timestamp::now(), 5) {
            out.push_str(&format!("  {}\n", t.strftime("%Y-%m-%dT%H:%M:%SZ")));
        }
    }
    if let Some(jitter) = cronjob["spec"]["jitterSeconds"].as_i64().filter(|j| *j > 0) {
        out.push_str(&format!(
            "  (each run starts up to {jitter}s later: jitterSeconds)\n"
        ));
    }
    out
}
