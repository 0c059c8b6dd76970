//! `wasmjob get` and `wasmjob describe`: kubectl's tables and shapes, built
//! from the server's Kubernetes-shaped JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::remote::connect;
use super::{CliError, GetFormat, table};
use crate::manifest::JobStatus;
use crate::resource::ResourceType;
use crate::time::{self, human_duration, parse_rfc3339};

/// What `get` was asked for.
pub struct GetRequest<'a> {
    /// The kind as typed.
    pub kind: &'a str,
    /// Names, if any.
    pub names: &'a [String],
    /// `-l`.
    pub selector: Option<&'a str>,
    /// `-o`.
    pub format: Option<GetFormat>,
    /// `-n`, or `None` for all namespaces.
    pub namespace: Option<&'a str>,
    /// `-w`.
    pub watch: bool,
}

fn resource(kind: &str) -> Result<ResourceType, CliError> {
    ResourceType::parse(kind).ok_or_else(|| {
        CliError::BadInput(format!(
            "the server doesn't have a resource type {kind:?}: use jobs, cronjobs, daemonsets, instances (pods), nodes or events"
        ))
    })
}

fn query(
    namespace: Option<&str>,
    selector: Option<&str>,
    name: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(ns) = namespace {
        q.push(("namespace", ns.to_owned()));
    }
    if let Some(s) = selector {
        q.push(("labelSelector", s.to_owned()));
    }
    if let Some(n) = name {
        q.push(("name", n.to_owned()));
    }
    q
}

/// Fetches a list of a resource type.
pub fn fetch(
    client: &crate::api::client::Client,
    resource: ResourceType,
    namespace: Option<&str>,
    selector: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<Value>, CliError> {
    let list: Value = client.get(
        &format!("/api/v1/{}", resource.plural()),
        &query(namespace, selector, name),
    )?;
    // Taken, not cloned: a list of thousands of objects is megabytes.
    Ok(match list {
        Value::Object(mut list) => match list.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

/// One named object, or kubectl's NotFound error.
pub fn fetch_one(
    client: &crate::api::client::Client,
    resource: ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Value, CliError> {
    fetch(client, resource, Some(namespace), None, Some(name))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CliError::Failed(format!(
                "Error from server (NotFound): {} {name:?} not found",
                qualified_plural(resource)
            ))
        })
}

/// `wasmjob get KIND [NAME…]`.
pub fn get(
    server: Option<&str>,
    state_dir: &Path,
    request: GetRequest<'_>,
) -> Result<(), CliError> {
    let resource = resource(request.kind)?;
    let client = connect(server, state_dir)?;
    let mut items = Vec::new();
    if request.names.is_empty() {
        items = fetch(&client, resource, request.namespace, request.selector, None)?;
    } else {
        for name in request.names {
            let found = fetch(
                &client,
                resource,
                request.namespace,
                request.selector,
                Some(name),
            )?;
            if found.is_empty() {
                return Err(CliError::Failed(format!(
                    "Error from server (NotFound): {} {name:?} not found",
                    qualified_plural(resource)
                )));
            }
            items.extend(found);
        }
    }
    let single = request.names.len() == 1 && items.len() == 1;
    // One named object prints as itself, anything else as a List.
    let structured = |items: Vec<Value>| {
        if single {
            items.into_iter().next().expect("one item")
        } else {
            crate::resource::list_json(items)
        }
    };
    match request.format {
        Some(GetFormat::Json) => {
            let value = structured(items);
            println!("{}", serde_json::to_string_pretty(&value).expect("JSON"));
        }
        Some(GetFormat::Yaml) => {
            let value = structured(items);
            print!("{}", serde_yaml_ng::to_string(&value).expect("YAML"));
        }
        Some(GetFormat::Name) => {
            for item in &items {
                println!(
                    "{}/{}",
                    name_prefix(resource),
                    item["metadata"]["name"].as_str().unwrap_or("")
                );
            }
        }
        format => {
            if items.is_empty() && request.watch {
                let wide = format == Some(GetFormat::Wide);
                return watch(&client, resource, &request, items, wide, false);
            }
            if items.is_empty() {
                match request.namespace {
                    Some(ns) => eprintln!("No resources found in {ns} namespace."),
                    None => eprintln!("No resources found"),
                }
                return Ok(());
            }
            let wide = format == Some(GetFormat::Wide);
            print!("{}", render(resource, &items, wide));
            if request.watch {
                return watch(&client, resource, &request, items, wide, true);
            }
        }
    }
    Ok(())
}

/// How often `--watch` looks for changes.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// `--watch`: after the table, one more row per change of an object, as
/// kubectl prints them, until interrupted.
fn watch(
    client: &crate::api::client::Client,
    resource: ResourceType,
    request: &GetRequest<'_>,
    mut seen: Vec<Value>,
    wide: bool,
    mut header_printed: bool,
) -> Result<(), CliError> {
    use std::io::Write as _;
    let name = (request.names.len() == 1).then(|| request.names[0].as_str());
    loop {
        std::thread::sleep(WATCH_INTERVAL);
        let now = fetch(client, resource, request.namespace, request.selector, name)?;
        for item in &now {
            let uid = &item["metadata"]["uid"];
            let before = seen
                .iter()
                .find(|s| &s["metadata"]["uid"] == uid && !uid.is_null());
            if before != Some(item) {
                let table = render(resource, std::slice::from_ref(item), wide);
                // The header is printed once; after it, only rows.
                let skip = usize::from(header_printed);
                header_printed = true;
                print!(
                    "{}",
                    table
                        .lines()
                        .skip(skip)
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                );
                let _ = std::io::stdout().flush();
            }
        }
        seen = now;
    }
}

fn qualified_plural(resource: ResourceType) -> String {
    match resource {
        ResourceType::Jobs | ResourceType::CronJobs => format!("{}.batch", resource.plural()),
        ResourceType::DaemonSets => "daemonsets.apps".into(),
        other => other.plural().into(),
    }
}

fn name_prefix(resource: ResourceType) -> &'static str {
    match resource {
        ResourceType::Jobs => "job.batch",
        ResourceType::CronJobs => "cronjob.batch",
        ResourceType::DaemonSets => "daemonset.apps",
        ResourceType::Instances => "instance",
        ResourceType::Nodes => "node",
        ResourceType::Events => "event",
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_default()
}

fn age(created: &Value) -> String {
    created
        .as_str()
        .and_then(parse_rfc3339)
        .map(|t| human_duration(time::now() - t))
        .unwrap_or_else(|| "<unknown>".into())
}

/// The table of `get`.
pub fn render(resource: ResourceType, items: &[Value], wide: bool) -> String {
    match resource {
        ResourceType::Jobs => {
            let mut header = vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"];
            if wide {
                header.extend(["CONTAINERS", "IMAGES"]);
            }
            let rows: Vec<Vec<String>> = items.iter().map(|job| job_row(job, wide)).collect();
            table::render(&header, &rows)
        }
        ResourceType::Instances => {
            let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
            if wide {
                header.push("NODE");
            }
            let rows: Vec<Vec<String>> = items.iter().map(|i| instance_row(i, wide)).collect();
            table::render(&header, &rows)
        }
        ResourceType::Events => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|e| {
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
                })
                .collect();
            table::render(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], &rows)
        }
        ResourceType::Nodes => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|n| {
                    let labels = n["metadata"]["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", text(v)))
                                .collect::<Vec<_>>()
                                .join(",")
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
                })
                .collect();
            table::render(&["NAME", "STATUS", "LABELS", "AGE", "VERSION"], &rows)
        }
        ResourceType::CronJobs => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    let spec = &c["spec"];
                    let active = c["status"]["active"].as_array().map_or(0, Vec::len);
                    let last = c["status"]["lastScheduleTime"]
                        .as_str()
                        .map(|_| age(&c["status"]["lastScheduleTime"]));
                    vec![
                        text(&c["metadata"]["name"]),
                        text(&spec["schedule"]),
                        spec["timeZone"].as_str().unwrap_or("<none>").to_owned(),
                        (spec["suspend"] == true)
                            .to_string()
                            .replace("false", "False")
                            .replace("true", "True"),
                        active.to_string(),
                        last.unwrap_or_else(|| "<none>".into()),
                        age(&c["metadata"]["creationTimestamp"]),
                    ]
                })
                .collect();
            table::render(
                &[
                    "NAME",
                    "SCHEDULE",
                    "TIMEZONE",
                    "SUSPEND",
                    "ACTIVE",
                    "LAST SCHEDULE",
                    "AGE",
                ],
                &rows,
            )
        }
        ResourceType::DaemonSets => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|ds| {
                    let status = &ds["status"];
                    let count = |field: &str| status[field].as_u64().unwrap_or(0).to_string();
                    let selector: BTreeMap<String, String> = serde::Deserialize::deserialize(
                        &ds["spec"]["template"]["spec"]["nodeSelector"],
                    )
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
                })
                .collect();
            table::render(
                &[
                    "NAME",
                    "DESIRED",
                    "CURRENT",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "NODE SELECTOR",
                    "AGE",
                ],
                &rows,
            )
        }
    }
}

fn job_status(job: &Value) -> JobStatus {
    serde::Deserialize::deserialize(&job["status"]).unwrap_or_default()
}

fn job_row(job: &Value, wide: bool) -> Vec<String> {
    let status = job_status(job);
    let spec = &job["spec"];
    let phase = if status.phase() == "Running" && spec["suspend"] == true {
        "Suspended"
    } else {
        status.phase()
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

/// `wasmjob describe KIND/NAME` (or `KIND NAME`).
pub fn describe(
    server: Option<&str>,
    state_dir: &Path,
    target: &str,
    name: Option<&str>,
    namespace: &str,
) -> Result<(), CliError> {
    let (kind, name) = match (target.split_once('/'), name) {
        (Some((kind, name)), None) => (kind, name),
        (None, Some(name)) => (target, name),
        _ => {
            return Err(CliError::BadInput(
                "describe takes KIND/NAME or KIND NAME, as in describe jobs/pi".into(),
            ));
        }
    };
    let resource = resource(kind)?;
    let client = connect(server, state_dir)?;
    if resource == ResourceType::CronJobs {
        let cron = &fetch_one(&client, resource, namespace, name)?;
        let events = fetch(
            &client,
            ResourceType::Events,
            Some(namespace),
            None,
            Some(name),
        )?;
        print!("{}", describe_cronjob(cron, &events));
        return Ok(());
    }
    if resource != ResourceType::Jobs && resource != ResourceType::DaemonSets {
        return Err(CliError::BadInput(format!(
            "describe supports jobs, cronjobs and daemonsets, not {}",
            resource.plural()
        )));
    }
    // A Job or DaemonSet: the object, the instances it controls, its events.
    let object = &fetch_one(&client, resource, namespace, name)?;
    let instances = fetch(
        &client,
        ResourceType::Instances,
        Some(namespace),
        Some(&format!(
            "controller-uid={}",
            text(&object["metadata"]["uid"])
        )),
        None,
    )?;
    let events = fetch(
        &client,
        ResourceType::Events,
        Some(namespace),
        None,
        Some(name),
    )?;
    if resource == ResourceType::DaemonSets {
        print!("{}", describe_daemonset(object, &instances, &events));
    } else {
        print!("{}", describe_job(object, &instances, &events));
    }
    Ok(())
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

/// The text of `describe jobs/NAME`.
pub fn describe_job(job: &Value, instances: &[Value], events: &[Value]) -> String {
    let meta = &job["metadata"];
    let spec = &job["spec"];
    let status = job_status(job);
    let count = |phase: &str| {
        instances
            .iter()
            .filter(|i| i["status"]["phase"] == phase)
            .count()
    };
    let mut out = String::new();
    let mut line =
        |key: &str, value: String| out.push_str(&format!("{:<20}{value}\n", format!("{key}:")));
    line("Name", text(&meta["name"]));
    line("Namespace", text(&meta["namespace"]));
    line(
        "Selector",
        format!("batch.kubernetes.io/controller-uid={}", text(&meta["uid"])),
    );
    line("Labels", labels_text(&meta["labels"], 18));
    line("Annotations", labels_text(&meta["annotations"], 18));
    line("Parallelism", spec["parallelism"].to_string());
    line(
        "Completions",
        spec["completions"]
            .as_u64()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "<unset>".into()),
    );
    line("Completion Mode", text(&spec["completionMode"]));
    line("Suspend", (spec["suspend"] == true).to_string());
    line("Backoff Limit", spec["backoffLimit"].to_string());
    if let Some(start) = &status.start_time {
        line("Start Time", start.clone());
    }
    if let Some(done) = &status.completion_time {
        line("Completed At", done.clone());
    }
    line(
        "Instances Statuses",
        format!(
            "{} Running / {} Succeeded / {} Failed",
            count("Running"),
            count("Succeeded"),
            count("Failed")
        ),
    );
    if let Some(indexes) = &status.completed_indexes {
        line("Completed Indexes", indexes.clone());
    }
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
    let mut out = String::new();
    let mut line =
        |key: &str, value: String| out.push_str(&format!("{:<32}{value}\n", format!("{key}: ")));
    line("Name", text(&meta["name"]));
    line(
        "Selector",
        labels_text(&spec["selector"]["matchLabels"], 32).replace('\n', ","),
    );
    line(
        "Node-Selector",
        labels_text(&spec["template"]["spec"]["nodeSelector"], 32),
    );
    line("Labels", labels_text(&meta["labels"], 32));
    line(
        "Desired Number of Nodes Scheduled",
        count("desiredNumberScheduled"),
    );
    line(
        "Current Number of Nodes Scheduled",
        count("currentNumberScheduled"),
    );
    line(
        "Number of Nodes Scheduled with Up-to-date Instances",
        count("updatedNumberScheduled"),
    );
    line(
        "Number of Nodes Scheduled with Available Instances",
        count("numberAvailable"),
    );
    line("Number of Nodes Misscheduled", count("numberMisscheduled"));
    line("Update Strategy", text(&spec["updateStrategy"]["type"]));
    line(
        "Instances Status",
        format!(
            "{} Running / {waiting} Waiting (CrashLoopBackOff)",
            instances.len() - waiting
        ),
    );
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
    let mut out = String::new();
    let mut line =
        |key: &str, value: String| out.push_str(&format!("{:<30}{value}\n", format!("{key}:")));
    line("Name", text(&meta["name"]));
    line("Namespace", text(&meta["namespace"]));
    line("Labels", labels_text(&meta["labels"], 30));
    line("Schedule", text(&spec["schedule"]));
    line(
        "Time Zone",
        spec["timeZone"]
            .as_str()
            .unwrap_or("<unset> (UTC)")
            .to_owned(),
    );
    line("Concurrency Policy", text(&spec["concurrencyPolicy"]));
    line("Suspend", (spec["suspend"] == true).to_string());
    line(
        "Successful Job History Limit",
        spec["successfulJobsHistoryLimit"].to_string(),
    );
    line(
        "Failed Job History Limit",
        spec["failedJobsHistoryLimit"].to_string(),
    );
    let deadline = spec["startingDeadlineSeconds"]
        .as_i64()
        .map(|s| format!("{s}s"));
    line(
        "Starting Deadline Seconds",
        deadline.unwrap_or_else(|| "<unset>".into()),
    );
    line(
        "Last Schedule Time",
        status["lastScheduleTime"]
            .as_str()
            .unwrap_or("<unset>")
            .to_owned(),
    );
    line(
        "Last Successful Time",
        status["lastSuccessfulTime"]
            .as_str()
            .unwrap_or("<unset>")
            .to_owned(),
    );
    let active: Vec<String> = status["active"]
        .as_array()
        .map(|a| a.iter().map(|j| text(&j["name"])).collect())
        .unwrap_or_default();
    line(
        "Active Jobs",
        if active.is_empty() {
            "<none>".into()
        } else {
            active.join(", ")
        },
    );
    let tz = spec["timeZone"]
        .as_str()
        .and_then(|z| jiff::tz::db().get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    out.push_str("Next Fire Times:\n");
    if let Ok(schedule) = crate::schedule::Schedule::parse(&text(&spec["schedule"])) {
        for t in schedule.upcoming(jiff::Timestamp::now(), &tz, 5) {
            out.push_str(&format!("  {}\n", t.strftime("%Y-%m-%dT%H:%M:%SZ")));
        }
    }
    out.push_str(&events_text(events, "cronjob-controller"));
    out
}
