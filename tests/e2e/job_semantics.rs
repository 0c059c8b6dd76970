//! Job semantics at batch/v1 parity (issue 3), end to end with real Wasm.
//! Every rule is also pinned at the controller; these prove the whole path.

use wasmjob_tests::{Session, fixture, items, job_yaml, program};

use crate::outcomes::seconds_between;

/// Retries at once, so tests do not wait Kubernetes' 10 s.
pub(crate) const NO_DELAY: &str =
    "  backoffPolicy:\n    initialDelaySeconds: 0\n    maxDelaySeconds: 0";

fn condition<'a>(job: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition: {job}"))
}

#[test]
fn backoff_limit_2_on_an_always_failing_module_makes_exactly_3_failed_instances() {
    let s = Session::new();
    let yaml = job_yaml(
        "flaky",
        &program("exit-code"),
        &["1"],
        &format!("  backoffLimit: 2\n{NO_DELAY}"),
        "",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let instances = items(&list, "Instance");
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| i["status"]["phase"] == "Failed"));
    let job = items(&list, "Job")[0];
    assert_eq!(job["status"]["failed"], 3);
    assert_eq!(condition(job, "Failed")["reason"], "BackoffLimitExceeded");
}

#[test]
fn replacements_wait_for_the_backoff_delay() {
    let s = Session::new();
    let spec = "  backoffLimit: 1\n  backoffPolicy:\n    initialDelaySeconds: 1";
    let (_, list) = s.run_json(&job_yaml(
        "slow-retry",
        &program("exit-code"),
        &["1"],
        spec,
        "",
    ));
    let instances = items(&list, "Instance");
    assert_eq!(instances.len(), 2);
    let gap = seconds_between(
        &instances[0]["status"]["finishTime"],
        &instances[1]["status"]["startTime"],
    );
    assert!(
        gap >= 1.0,
        "the replacement started {gap}s after the failure"
    );
}

#[test]
fn pod_failure_policy_fail_job_on_exit_42_fails_after_one_instance() {
    let s = Session::new();
    let spec = "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        operator: In\n        values: [42]";
    let (code, list) = s.run_json(&job_yaml(
        "answer",
        &program("exit-code"),
        &["42"],
        spec,
        "",
    ));
    assert_eq!(code, 1);
    assert_eq!(items(&list, "Instance").len(), 1);
    let failed = condition(items(&list, "Job")[0], "Failed");
    assert_eq!(failed["reason"], "PodFailurePolicy");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("failed with exit code 42 matching FailJob rule at index 0"),
        "{message}"
    );
}

#[test]
fn on_failure_restarts_in_place_and_keeps_every_attempts_log() {
    let s = Session::new();
    let yaml = job_yaml(
        "again",
        &program("exit-code"),
        &["1"],
        &format!("  backoffLimit: 2\n{NO_DELAY}"),
        "",
    )
    .replace("restartPolicy: Never", "restartPolicy: OnFailure");
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let instances = items(&list, "Instance");
    assert_eq!(instances.len(), 1, "one instance, restarted in place");
    assert_eq!(instances[0]["status"]["restartCount"], 2);
    let logs = s.logs("again");
    let attempts: Vec<u32> = logs.iter().map(|(_, attempt, _)| *attempt).collect();
    assert_eq!(attempts, [0, 1, 2], "all three attempts' logs");
    assert!(logs.iter().all(|(_, _, log)| log == "exiting with 1\n"));
}

#[test]
fn job_active_deadline_stops_a_looping_module_within_2s() {
    let s = Session::new();
    let yaml = job_yaml(
        "loop",
        &fixture("spin.wat"),
        &[],
        "  activeDeadlineSeconds: 1",
        "",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let job = items(&list, "Job")[0];
    let failed = condition(job, "Failed");
    assert_eq!(failed["reason"], "DeadlineExceeded");
    let took = seconds_between(&job["status"]["startTime"], &failed["lastTransitionTime"]);
    assert!((1.0..2.0).contains(&took), "failed after {took}s");
    let instance = &items(&list, "Instance")[0]["status"];
    assert_eq!(instance["phase"], "Failed");
    assert_eq!(instance["reason"], "DeadlineExceeded");
}

#[test]
fn backoff_limit_per_index_fails_only_that_index() {
    let s = Session::new();
    let spec = format!(
        "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n  backoffLimitPerIndex: 1\n{NO_DELAY}"
    );
    let (code, list) = s.run_json(&job_yaml(
        "per-index",
        &program("by-index"),
        &["1=exit:1"],
        &spec,
        "",
    ));
    assert_eq!(code, 1);
    let job = items(&list, "Job")[0];
    assert_eq!(job["status"]["completedIndexes"], "0,2");
    assert_eq!(job["status"]["failedIndexes"], "1");
    assert_eq!(condition(job, "Failed")["reason"], "FailedIndexes");
    let index_1 = items(&list, "Instance")
        .into_iter()
        .filter(|i| i["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1")
        .count();
    assert_eq!(index_1, 2, "index 1 ran once and was retried once");
}

#[test]
fn a_success_policy_completes_the_job_and_stops_the_rest() {
    let s = Session::new();
    let spec = "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n  successPolicy:\n    rules:\n    - succeededIndexes: \"0\"";
    let (code, list) = s.run_json(&job_yaml(
        "leader",
        &program("by-index"),
        &["1=spin", "2=spin"],
        spec,
        "",
    ));
    assert_eq!(code, 0);
    let job = items(&list, "Job")[0];
    assert_eq!(condition(job, "Complete")["reason"], "SuccessPolicy");
    assert_eq!(
        job["status"]["failed"], 0,
        "stopped instances are not failures"
    );
    let stopped = items(&list, "Instance")
        .into_iter()
        .filter(|i| i["status"]["reason"] == "SuccessPolicy")
        .count();
    assert_eq!(stopped, 2);
}

#[test]
fn ttl_seconds_after_finished_0_deletes_the_job_but_keeps_its_history() {
    let s = Session::new();
    let yaml = job_yaml(
        "brief",
        &program("say-hello"),
        &[],
        "  ttlSecondsAfterFinished: 0",
        "",
    );
    let (code, _) = s.run_json(&yaml);
    assert_eq!(code, 0);
    let db = s.db();
    let deleted: Option<i64> = db
        .query_row(
            "SELECT deleted_at FROM objects WHERE name = 'brief'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(deleted.is_some(), "the Job was deleted");
    assert_eq!(
        s.logs("brief")[0].2,
        "Hello from wasmjob\n",
        "its history stays"
    );
}

#[test]
fn events_record_creations_and_completion() {
    let s = Session::new();
    let (code, _) = s.run_json(&job_yaml(
        "evented",
        &program("say-hello"),
        &[],
        "  completions: 2",
        "",
    ));
    assert_eq!(code, 0);
    let db = s.db();
    let mut stmt = db.prepare("SELECT reason FROM events ORDER BY id").unwrap();
    let reasons: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "SuccessfulCreate").count(),
        2,
        "{reasons:?}"
    );
    assert_eq!(reasons.last().map(String::as_str), Some("Completed"));
}

#[test]
fn a_suspended_job_is_refused_by_run_instead_of_waiting_for_ever() {
    let s = Session::new();
    s.write(
        "job.yaml",
        &job_yaml("paused", &program("say-hello"), &[], "  suspend: true", ""),
    );
    let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains("job.yaml: document 1: spec.suspend: Job \"paused\" is suspended"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_run_killed_mid_job_and_started_again_ends_with_exactly_200_successes() {
    let s = Session::new();
    let yaml = job_yaml(
        "two-hundred",
        &program("sleep-ms"),
        &["20"],
        "  completions: 200\n  parallelism: 2",
        "",
    );
    s.write("job.yaml", &yaml);
    let mut first = s.spawn(&["run", "-f", "job.yaml", "--quiet"]);
    // Kill it with SIGKILL once some, but not all, completions are recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let done = succeeded_instances(&s);
        if done >= 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run made no progress"
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = succeeded_instances(&s);
    assert!(before < 200, "killed too late: {before} already succeeded");

    let again = s.wasmjob(&["run", "-f", "job.yaml", "--quiet", "-o", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("job.batch/two-hundred resumed"),
        "{}",
        again.stderr
    );
    let list = again.json();
    let job = items(&list, "Job")[0];
    assert_eq!(job["status"]["succeeded"], 200);
    assert_eq!(condition(job, "Complete")["reason"], "CompletionsReached");
    let instances = items(&list, "Instance");
    let succeeded = instances
        .iter()
        .filter(|i| i["status"]["phase"] == "Succeeded")
        .count();
    assert_eq!(
        succeeded, 200,
        "exactly 200 successes: none lost, none doubled"
    );
    assert!(
        instances.iter().all(|i| i["status"]["phase"] != "Running"),
        "no instance is left running"
    );
    assert_eq!(succeeded_instances(&s), 200);
}

fn succeeded_instances(s: &Session) -> i64 {
    let db = s.db();
    db.query_row(
        "SELECT count(*) FROM instances WHERE phase = 'Succeeded'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// Many tiny instances go through relaying executor slots (the next one
/// starts the moment one succeeds): still exactly `completions` succeed,
/// and never more than `parallelism` run at any moment, by the recorded
/// start and finish of every instance.
#[test]
fn many_tiny_instances_never_overlap_past_parallelism_and_succeed_exactly() {
    let s = Session::new();
    let (code, list) = s.run_json(&job_yaml(
        "tiny",
        &program("say-hello"),
        &[],
        "  completions: 300\n  parallelism: 3",
        "",
    ));
    assert_eq!(code, 0, "{list}");
    let job = &items(&list, "Job")[0];
    assert_eq!(job["status"]["succeeded"], 300, "{job}");
    let instances = items(&list, "Instance");
    assert_eq!(instances.len(), 300);
    let mut edges = Vec::new();
    for i in &instances {
        assert_eq!(i["status"]["phase"], "Succeeded", "{i}");
        let time = |key: &str| {
            let text = i["status"][key].as_str().unwrap();
            text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
        };
        // An end counts before a start at the same microsecond: the slot
        // starts the next instance as the last one ends.
        edges.push((time("startTime"), 1));
        edges.push((time("finishTime"), -1));
    }
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, step) in edges {
        running += step;
        most = most.max(running);
    }
    assert!(most <= 3, "{most} ran at once");
}
