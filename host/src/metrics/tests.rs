//! The families pinned: kube-state-metrics' names and labels for each
//! object, and wasmjob's own after the events that move them.

use serde_json::json;

use super::*;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn rendered(objects: &Objects) -> String {
    render(objects)
}

#[test]
fn a_finished_jobs_state_has_kube_state_metrics_names_and_labels() {
    let job = json!({
        "metadata": {"name": "pi", "namespace": "default", "creationTimestamp": "2026-12-06T10:00:00Z"},
        "spec": {"completions": 3, "parallelism": 2},
        "status": {
            "succeeded": 3, "failed": 1,
            "startTime": "2026-12-06T10:00:01Z", "completionTime": "2026-12-06T10:00:09Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    });
    let objects = Objects {
        jobs: vec![job],
        now: at("2026-12-06T11:00:00Z"),
        ..Objects::default()
    };
    let text = rendered(&objects);
    let labels = r#"namespace="default",job_name="pi""#;
    for line in [
        format!("kube_job_status_succeeded{{{labels}}} 3"),
        format!("kube_job_status_failed{{{labels}}} 1"),
        format!("kube_job_status_active{{{labels}}} 0"),
        format!("kube_job_spec_completions{{{labels}}} 3"),
        format!("kube_job_complete{{{labels},condition=\"true\"}} 1"),
        format!("kube_job_complete{{{labels},condition=\"false\"}} 0"),
        format!("kube_job_status_start_time{{{labels}}} 1796551201"),
        format!("kube_job_status_completion_time{{{labels}}} 1796551209"),
        "# TYPE kube_job_status_succeeded gauge".to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    assert!(
        !text.contains("kube_job_failed{"),
        "no Failed condition:\n{text}"
    );
}

#[test]
fn a_failed_jobs_failures_carry_the_reason() {
    let job = json!({
        "metadata": {"name": "bad", "namespace": "ops"},
        "status": {"failed": 4, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"},
        ]},
    });
    let objects = Objects {
        jobs: vec![job],
        ..Objects::default()
    };
    let text = rendered(&objects);
    let labels = r#"namespace="ops",job_name="bad""#;
    assert!(text.contains(&format!(
        "kube_job_status_failed{{{labels},reason=\"BackoffLimitExceeded\"}} 4"
    )));
    assert!(text.contains(&format!("kube_job_failed{{{labels},condition=\"true\"}} 1")));
}

#[test]
fn a_cronjobs_next_schedule_time_follows_its_last_scheduled_time() {
    let cronjob = json!({
        "metadata": {"name": "backup", "namespace": "default", "creationTimestamp": "2026-12-06T09:00:00Z"},
        "spec": {"schedule": "*/15 * * * *", "concurrencyPolicy": "Forbid"},
        "status": {"lastScheduleTime": "2026-12-06T10:15:00Z", "lastSuccessfulTime": "2026-12-06T10:00:00Z"},
    });
    let suspended = json!({
        "metadata": {"name": "paused", "namespace": "default"},
        "spec": {"schedule": "* * * * *", "suspend": true},
        "status": {},
    });
    let objects = Objects {
        cronjobs: vec![cronjob, suspended],
        now: at("2026-12-06T10:20:00Z"),
        ..Objects::default()
    };
    let text = rendered(&objects);
    let labels = r#"namespace="default",cronjob="backup""#;
    let next = at("2026-12-06T10:30:00Z").as_second();
    for line in [
        format!("kube_cronjob_next_schedule_time{{{labels}}} {next}"),
        format!(
            "kube_cronjob_status_last_schedule_time{{{labels}}} {}",
            at("2026-12-06T10:15:00Z").as_second()
        ),
        format!(
            "kube_cronjob_status_last_successful_time{{{labels}}} {}",
            at("2026-12-06T10:00:00Z").as_second()
        ),
        format!(
            "kube_cronjob_info{{{labels},schedule=\"*/15 * * * *\",concurrency_policy=\"Forbid\"}} 1"
        ),
        r#"kube_cronjob_spec_suspend{namespace="default",cronjob="paused"} 1"#.to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    // A suspended CronJob is scheduled never.
    assert!(
        !text.contains(r#"kube_cronjob_next_schedule_time{namespace="default",cronjob="paused"}"#)
    );
}

#[test]
fn a_daemonsets_counts_and_a_nodes_taints_and_queues() {
    let daemonset = json!({
        "metadata": {"name": "node-monitor", "namespace": "default"},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "numberUnavailable": 1},
    });
    let node = json!({
        "metadata": {"name": "edge-1"},
        "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    });
    let objects = Objects {
        daemonsets: vec![daemonset],
        nodes: vec![node],
        queues: vec![QueueDepth {
            name: "work".into(),
            waiting: 7,
            leased: 2,
        }],
        ..Objects::default()
    };
    let text = rendered(&objects);
    let labels = r#"namespace="default",daemonset="node-monitor""#;
    for line in [
        format!("kube_daemonset_status_number_ready{{{labels}}} 1"),
        format!("kube_daemonset_status_desired_number_scheduled{{{labels}}} 2"),
        format!("kube_daemonset_status_number_unavailable{{{labels}}} 1"),
        r#"kube_node_spec_taint{node="edge-1",key="dedicated",value="gpu",effect="NoSchedule"} 1"#
            .to_owned(),
        r#"kube_node_status_condition{node="edge-1",condition="Ready",status="true"} 1"#.to_owned(),
        r#"wasmjob_queue_items{queue="work",state="waiting"} 7"#.to_owned(),
        r#"wasmjob_queue_items{queue="work",state="leased"} 2"#.to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn the_nodes_own_metrics_move_with_what_happens() {
    let count = |text: &str, prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    enable();
    let before = rendered(&Objects::default());
    instance_started(0, 1_000_000, 1_500_000);
    instance_ended(Some("OOMKilled"), 1_500_000, 3_500_000);
    cronjob_job_created(10_000_000, 10_250_000);
    let after = rendered(&Objects::default());
    for prefix in [
        "wasmjob_instances_started_total ",
        "wasmjob_instances_ended_total{reason=\"OOMKilled\"} ",
        "wasmjob_instance_duration_seconds_count ",
        "wasmjob_instance_start_latency_seconds_count ",
        "cronjob_controller_job_creation_skew_duration_seconds_count ",
    ] {
        assert!(
            count(&after, prefix) >= count(&before, prefix) + 1.0,
            "{prefix:?} did not grow:\n{after}"
        );
    }
    assert!(after.contains("# TYPE wasmjob_store_commit_duration_seconds histogram"));
    assert!(after.contains("# TYPE wasmjob_instance_memory_bytes gauge"));
}
