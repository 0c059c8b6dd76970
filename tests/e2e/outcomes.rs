//! How an instance ends, recorded exactly (issue 2, "Outcomes"): exit codes,
//! traps, the memory limit, the deadline.

use wasmjob_tests::{Session, fixture, items, job_yaml, program};

/// The status of the one instance in a `List`.
pub(crate) fn only_instance(list: &serde_json::Value) -> serde_json::Value {
    let instances = items(list, "Instance");
    assert_eq!(instances.len(), 1, "{list}");
    instances[0]["status"].clone()
}

#[test]
fn exit_code_3_fails_the_instance_with_the_code_recorded() {
    let s = Session::new();
    let yaml = job_yaml(
        "three",
        &program("exit-code"),
        &["3"],
        "  backoffLimit: 0",
        "",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1, "a failed Job exits 1");
    let status = only_instance(&list);
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["exitCode"], 3);
    assert_eq!(status["reason"], "Error");
    let job = items(&list, "Job")[0];
    assert_eq!(job["status"]["failed"], 1);
    assert_eq!(job["status"]["conditions"][1]["type"], "Failed");
    assert_eq!(
        job["status"]["conditions"][1]["reason"],
        "BackoffLimitExceeded"
    );
    // A failed run keeps its log.
    assert_eq!(s.logs("three")[0].2, "exiting with 3\n");
}

#[test]
fn proc_exit_from_a_wat_module_is_an_exit_code() {
    let s = Session::new();
    let yaml = job_yaml(
        "seven",
        &fixture("exit-7.wat"),
        &[],
        "  backoffLimit: 0",
        "",
    );
    let (_, list) = s.run_json(&yaml);
    let status = only_instance(&list);
    assert_eq!(status["exitCode"], 7);
    assert_eq!(status["reason"], "Error");
}

#[test]
fn a_trap_is_trapped_with_its_message_and_no_exit_code() {
    let s = Session::new();
    let yaml = job_yaml(
        "trap",
        &fixture("unreachable.wat"),
        &[],
        "  backoffLimit: 0",
        "",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let status = only_instance(&list);
    assert_eq!(status["reason"], "Trapped");
    assert!(status["exitCode"].is_null());
    assert!(
        status["message"].as_str().unwrap().contains("unreachable"),
        "{status}"
    );
}

#[test]
fn an_infinite_loop_with_a_1s_deadline_ends_as_deadline_exceeded_within_2s() {
    let s = Session::new();
    let yaml = job_yaml(
        "spin",
        &fixture("spin.wat"),
        &[],
        "  backoffLimit: 0",
        "      activeDeadlineSeconds: 1",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let status = only_instance(&list);
    assert_eq!(status["reason"], "DeadlineExceeded");
    let took = seconds_between(&status["startTime"], &status["finishTime"]);
    assert!((1.0..2.0).contains(&took), "stopped after {took}s");
}

#[test]
fn growing_memory_past_the_limit_is_oom_killed() {
    let s = Session::new();
    let limit = "        resources:\n          limits:\n            memory: 16Mi";
    let yaml = job_yaml(
        "bomb",
        &fixture("grow-memory.wat"),
        &[],
        "  backoffLimit: 0",
        limit,
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let status = only_instance(&list);
    assert_eq!(status["reason"], "OOMKilled", "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("16777216"),
        "{status}"
    );
}

pub(crate) fn seconds_between(start: &serde_json::Value, end: &serde_json::Value) -> f64 {
    let parse = |v: &serde_json::Value| -> f64 {
        // 2026-11-22T10:00:00.123456Z → seconds within the day is enough here.
        let t = v.as_str().unwrap();
        let hms = &t[11..t.len() - 1];
        let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    parse(end) - parse(start)
}
