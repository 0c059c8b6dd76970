//! The families kube-state-metrics exports for what wasmjob has — Jobs,
//! CronJobs, DaemonSets and nodes — with its metric names and labels
//! (`namespace` and `job_name`, `cronjob`, `daemonset`, `node`), made at
//! each scrape from the objects in their Kubernetes shapes; and the depth
//! of the node's embedded work queues. A pure function of the objects and
//! the time: the unit tests pin each family.

use std::sync::atomic::AtomicI64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;

type Labels = Vec<(&'static str, String)>;
type Values = Family<Labels, Gauge<i64, AtomicI64>>;

/// What one scrape reports on, as the API reads it.
#[derive(Debug, Default)]
pub struct Objects {
    /// Jobs, as `/wasmjob/v1/jobs` lists them.
    pub jobs: Vec<Value>,
    /// CronJobs.
    pub cronjobs: Vec<Value>,
    /// DaemonSets (counted over a cluster's nodes).
    pub daemonsets: Vec<Value>,
    /// Nodes.
    pub nodes: Vec<Value>,
    /// The embedded queues with items.
    pub queues: Vec<QueueDepth>,
    /// When the scrape happens (next schedule times are after it).
    pub now: jiff::Timestamp,
}

/// One embedded queue's items.
#[derive(Debug, Clone)]
pub struct QueueDepth {
    /// Its name.
    pub name: String,
    /// Waiting to be leased.
    pub waiting: u64,
    /// Leased now.
    pub leased: u64,
}

/// Families by name, registered in the order first used.
struct Families {
    registry: Registry,
    made: Vec<(&'static str, Values)>,
}

impl Families {
    fn set(&mut self, name: &'static str, help: &'static str, labels: Labels, value: i64) {
        let family = match self.made.iter().find(|(n, _)| *n == name) {
            Some((_, family)) => family.clone(),
            None => {
                let family = Values::default();
                self.registry.register(name, help, family.clone());
                self.made.push((name, family.clone()));
                family
            }
        };
        family.get_or_create(&labels).set(value);
    }
}

/// The families of `objects`.
pub fn state_registry(objects: &Objects) -> Registry {
    let mut families = Families {
        registry: Registry::default(),
        made: Vec::new(),
    };
    for job in &objects.jobs {
        job_families(&mut families, job);
    }
    for cronjob in &objects.cronjobs {
        cronjob_families(&mut families, cronjob, objects.now);
    }
    for daemonset in &objects.daemonsets {
        daemonset_families(&mut families, daemonset);
    }
    for node in &objects.nodes {
        node_families(&mut families, node);
    }
    for queue in &objects.queues {
        for (state, n) in [("waiting", queue.waiting), ("leased", queue.leased)] {
            let labels = vec![("queue", queue.name.clone()), ("state", state.to_owned())];
            families.set(
                "wasmjob_queue_items",
                "Items of an embedded work queue, waiting or leased",
                labels,
                n as i64,
            );
        }
    }
    families.registry
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn number(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// An RFC 3339 time as Unix seconds.
fn time(v: &Value) -> Option<i64> {
    let t: jiff::Timestamp = v.as_str()?.parse().ok()?;
    Some(t.as_second())
}

fn created(object: &Value) -> Option<i64> {
    time(&object["metadata"]["creationTimestamp"])
}

/// The condition of `kind` in `status.conditions`.
fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// A condition as kube-state-metrics gives it: one series for each of
/// `true`, `false` and `unknown`, 1 for the condition's status.
fn condition_series(
    families: &mut Families,
    name: &'static str,
    help: &'static str,
    base: &Labels,
    status: &str,
) {
    for each in ["true", "false", "unknown"] {
        let mut labels = base.clone();
        labels.push(("condition", each.to_owned()));
        let value = i64::from(status.eq_ignore_ascii_case(each));
        families.set(name, help, labels, value);
    }
}

fn job_families(families: &mut Families, job: &Value) {
    let base = vec![
        ("namespace", text(&job["metadata"]["namespace"])),
        ("job_name", text(&job["metadata"]["name"])),
    ];
    let status = &job["status"];
    let spec = &job["spec"];
    families.set("kube_job_info", "Information about job.", base.clone(), 1);
    if let Some(t) = created(job) {
        families.set(
            "kube_job_created",
            "Unix creation timestamp",
            base.clone(),
            t,
        );
    }
    let completions = spec["completions"].as_i64().unwrap_or(1);
    families.set(
        "kube_job_spec_completions",
        "The desired number of successfully finished pods the job should be run with.",
        base.clone(),
        completions,
    );
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    families.set(
        "kube_job_spec_parallelism",
        "The maximum desired number of pods the job should run at any given time.",
        base.clone(),
        parallelism,
    );
    if let Some(seconds) = spec["activeDeadlineSeconds"].as_i64() {
        families.set("kube_job_spec_active_deadline_seconds", "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.", base.clone(), seconds);
    }
    families.set(
        "kube_job_status_succeeded",
        "The number of pods which reached Phase Succeeded.",
        base.clone(),
        number(&status["succeeded"]),
    );
    families.set(
        "kube_job_status_active",
        "The number of actively running pods.",
        base.clone(),
        number(&status["active"]),
    );
    let mut failed_labels = base.clone();
    if let Some(reason) = condition(job, "Failed").and_then(|c| c["reason"].as_str()) {
        failed_labels.push(("reason", reason.to_owned()));
    }
    families.set(
        "kube_job_status_failed",
        "The number of pods which reached Phase Failed and the reason for failure.",
        failed_labels,
        number(&status["failed"]),
    );
    if let Some(t) = time(&status["startTime"]) {
        families.set(
            "kube_job_status_start_time",
            "StartTime represents time when the job was acknowledged by the Job Manager.",
            base.clone(),
            t,
        );
    }
    if let Some(t) = time(&status["completionTime"]) {
        families.set(
            "kube_job_status_completion_time",
            "CompletionTime represents time when the job was completed.",
            base.clone(),
            t,
        );
    }
    if let Some(c) = condition(job, "Complete") {
        condition_series(
            families,
            "kube_job_complete",
            "The job has completed its execution.",
            &base,
            &text(&c["status"]),
        );
    }
    if let Some(c) = condition(job, "Failed") {
        condition_series(
            families,
            "kube_job_failed",
            "The job has failed its execution.",
            &base,
            &text(&c["status"]),
        );
    }
    if let Some(owners) = job["metadata"]["ownerReferences"].as_array() {
        for owner in owners {
            let mut labels = base.clone();
            labels.push(("owner_kind", text(&owner["kind"])));
            labels.push(("owner_name", text(&owner["name"])));
            labels.push((
                "owner_is_controller",
                owner["controller"].as_bool().unwrap_or(false).to_string(),
            ));
            families.set(
                "kube_job_owner",
                "Information about the Job's owner.",
                labels,
                1,
            );
        }
    }
}

fn cronjob_families(families: &mut Families, cronjob: &Value, now: jiff::Timestamp) {
    let base = vec![
        ("namespace", text(&cronjob["metadata"]["namespace"])),
        ("cronjob", text(&cronjob["metadata"]["name"])),
    ];
    let spec = &cronjob["spec"];
    let status = &cronjob["status"];
    let mut info = base.clone();
    info.push(("schedule", crate::columns::schedules_text(spec)));
    let policy = spec["concurrencyPolicy"].as_str().unwrap_or("Allow");
    info.push(("concurrency_policy", policy.to_owned()));
    families.set("kube_cronjob_info", "Info about cronjob.", info, 1);
    if let Some(t) = created(cronjob) {
        families.set(
            "kube_cronjob_created",
            "Unix creation timestamp",
            base.clone(),
            t,
        );
    }
    let suspended = spec["suspend"].as_bool().unwrap_or(false);
    families.set(
        "kube_cronjob_spec_suspend",
        "Suspend flag tells the controller to suspend subsequent executions.",
        base.clone(),
        i64::from(suspended),
    );
    let active = status["active"].as_array().map_or(0, Vec::len);
    families.set(
        "kube_cronjob_status_active",
        "Active holds pointers to currently running jobs.",
        base.clone(),
        active as i64,
    );
    if let Some(t) = time(&status["lastScheduleTime"]) {
        families.set("kube_cronjob_status_last_schedule_time", "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.", base.clone(), t);
    }
    if let Some(t) = time(&status["lastSuccessfulTime"]) {
        families.set("kube_cronjob_status_last_successful_time", "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.", base.clone(), t);
    }
    if let Some(seconds) = spec["startingDeadlineSeconds"].as_i64() {
        families.set(
            "kube_cronjob_spec_starting_deadline_seconds",
            "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
            base.clone(),
            seconds,
        );
    }
    // As kube-state-metrics: the next time after the last scheduled one
    // (or after creation), of any of its schedules.
    let from = [
        &status["lastScheduleTime"],
        &cronjob["metadata"]["creationTimestamp"],
    ]
    .into_iter()
    .find_map(|v| v.as_str()?.parse::<jiff::Timestamp>().ok())
    .unwrap_or(now);
    if !suspended
        && let Some(timetable) = crate::manifest::timetable_of(cronjob)
        && let Some(next) = timetable.next_after(from)
    {
        families.set("kube_cronjob_next_schedule_time", "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation time if it's never been scheduled. Use this to determine if the job is delayed.", base, next.as_second());
    }
}

fn daemonset_families(families: &mut Families, daemonset: &Value) {
    let base = vec![
        ("namespace", text(&daemonset["metadata"]["namespace"])),
        ("daemonset", text(&daemonset["metadata"]["name"])),
    ];
    if let Some(t) = created(daemonset) {
        families.set(
            "kube_daemonset_created",
            "Unix creation timestamp",
            base.clone(),
            t,
        );
    }
    let status = &daemonset["status"];
    let counts: [(&'static str, &str, &'static str); 7] = [
        (
            "kube_daemonset_status_current_number_scheduled",
            "currentNumberScheduled",
            "The number of nodes running at least one daemon pod and are supposed to.",
        ),
        (
            "kube_daemonset_status_desired_number_scheduled",
            "desiredNumberScheduled",
            "The number of nodes that should be running the daemon pod.",
        ),
        (
            "kube_daemonset_status_number_available",
            "numberAvailable",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available",
        ),
        (
            "kube_daemonset_status_number_misscheduled",
            "numberMisscheduled",
            "The number of nodes running a daemon pod but are not supposed to.",
        ),
        (
            "kube_daemonset_status_number_ready",
            "numberReady",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        (
            "kube_daemonset_status_number_unavailable",
            "numberUnavailable",
            "The number of nodes that should be running the daemon pod and have none of the daemon pod running and available",
        ),
        (
            "kube_daemonset_status_updated_number_scheduled",
            "updatedNumberScheduled",
            "The total number of nodes that are running updated daemon pod",
        ),
    ];
    for (name, field, help) in counts {
        families.set(name, help, base.clone(), number(&status[field]));
    }
}

fn node_families(families: &mut Families, node: &Value) {
    let name = text(&node["metadata"]["name"]);
    let base = vec![("node", name)];
    families.set(
        "kube_node_info",
        "Information about a cluster node.",
        base.clone(),
        1,
    );
    let unschedulable = node["spec"]["unschedulable"].as_bool().unwrap_or(false);
    families.set(
        "kube_node_spec_unschedulable",
        "Whether a node can schedule new pods.",
        base.clone(),
        i64::from(unschedulable),
    );
    for taint in node["spec"]["taints"].as_array().into_iter().flatten() {
        let mut labels = base.clone();
        labels.push(("key", text(&taint["key"])));
        labels.push(("value", text(&taint["value"])));
        labels.push(("effect", text(&taint["effect"])));
        families.set(
            "kube_node_spec_taint",
            "The taint of a cluster node.",
            labels,
            1,
        );
    }
    for c in node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let mut labels = base.clone();
        labels.push(("condition", text(&c["type"])));
        for status in ["true", "false", "unknown"] {
            let mut labels = labels.clone();
            labels.push(("status", status.to_owned()));
            let value = i64::from(text(&c["status"]).eq_ignore_ascii_case(status));
            families.set(
                "kube_node_status_condition",
                "The condition of a cluster node.",
                labels,
                value,
            );
        }
    }
}
