//! Jobs that wait for other Jobs (`spec.dependsOn`, issue 35): a chain of
//! three where the middle one fails, and a cycle refused at apply.

use wasmjob_tests::{Server, Session, job_yaml, program};

fn condition(job: &serde_json::Value) -> (String, String) {
    let conditions = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = conditions.last().cloned().unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    (text(&last["type"]), text(&last["reason"]))
}

#[test]
fn a_chain_of_three_stops_where_the_middle_one_fails() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let depends = |on: &str, condition: &str| {
        format!("  backoffLimit: 0\n  dependsOn:\n  - name: {on}\n    condition: {condition}\n")
    };
    // extract (1 s) → transform (fails) → load (needs transform Complete);
    // alert needs transform Failed.
    let chain = [
        job_yaml("extract", &program("sleep-ms"), &["1000"], "", ""),
        job_yaml(
            "transform",
            &program("exit-code"),
            &["3"],
            &depends("extract", "Complete"),
            "",
        ),
        job_yaml(
            "load",
            &program("sleep-ms"),
            &["1"],
            &depends("transform", "Complete"),
            "",
        ),
        job_yaml(
            "alert",
            &program("sleep-ms"),
            &["1"],
            &depends("transform", "Failed"),
            "",
        ),
    ];
    s.write("chain.yaml", &chain.join("---\n"));
    let applied = s.client(&server, &["apply", "-f", "chain.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    // While extract runs, the others wait.
    let listed = s.client(&server, &["get", "jobs", "load"]);
    assert!(listed.stdout.contains("Waiting"), "{}", listed.stdout);
    let described = s.client(&server, &["describe", "job", "load"]);
    assert!(
        described.stdout.contains("Depends On:")
            && described.stdout.contains("transform (Complete)"),
        "{}",
        described.stdout
    );
    let extract = s.wait_finished(&server, "extract");
    let transform = s.wait_finished(&server, "transform");
    let load = s.wait_finished(&server, "load");
    let alert = s.wait_finished(&server, "alert");
    assert_eq!(condition(&extract).0, "Complete");
    assert_eq!(
        condition(&transform),
        ("Failed".into(), "BackoffLimitExceeded".into())
    );
    assert_eq!(
        condition(&load),
        ("Failed".into(), "DependencyFailed".into())
    );
    assert_eq!(condition(&alert).0, "Complete", "alert ran on the failure");
    let message = load["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        message, "job transform failed, and this Job depends on it being Complete",
        "{load}"
    );
    assert!(
        load["status"]["startTime"].is_null(),
        "load never started: {load}"
    );
    // transform started only after extract had ended.
    let time = |job: &serde_json::Value, field: &str| {
        let text = job["status"][field].as_str().unwrap_or_default().to_owned();
        text.parse::<jiff::Timestamp>()
            .unwrap_or_else(|_| panic!("{field}: {job}"))
    };
    assert!(
        time(&transform, "startTime") >= time(&extract, "completionTime"),
        "{transform}\n{extract}"
    );
    let instances = s.client(&server, &["get", "instances", "-l", "job-name=load"]);
    assert!(
        instances.stdout.is_empty() && instances.stderr.starts_with("No resources found"),
        "{instances:?}"
    );
}

#[test]
fn a_cycle_of_dependencies_is_refused_and_nothing_is_stored() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let depends = |on: &str| format!("  dependsOn:\n  - name: {on}\n");
    let hello = wasmjob_tests::dist("hello.wasm");
    // a waits for c, which is stored already and waits for b; b waits for a.
    s.write("c.yaml", &job_yaml("c", &hello, &[], &depends("b"), ""));
    assert_eq!(s.client(&server, &["apply", "-f", "c.yaml"]).code, 0);
    let cycle = [
        job_yaml("a", &hello, &[], &depends("c"), ""),
        job_yaml("b", &hello, &[], &depends("a"), ""),
    ];
    s.write("cycle.yaml", &cycle.join("---\n"));
    let refused = s.client(&server, &["apply", "-f", "cycle.yaml"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "cycle.yaml: document 1: spec.dependsOn[0].name: job a depends on c, c on b, b on a: \
             a cycle never starts"
        ),
        "{}",
        refused.stderr
    );
    let listed = s.client(&server, &["get", "jobs", "-o", "name"]);
    assert_eq!(
        listed.stdout, "job.batch/c\n",
        "nothing of the refused apply was stored"
    );
    // Waiting on itself, and a name listed twice.
    s.write(
        "self.yaml",
        &job_yaml("me", &hello, &[], &depends("me"), ""),
    );
    let refused = s.client(&server, &["apply", "-f", "self.yaml"]);
    assert!(
        refused.stderr.contains("job me depends on me: a cycle"),
        "{refused:?}"
    );
    // `wasmjob run` would wait forever for a Job it neither runs nor has.
    s.write(
        "orphan.yaml",
        &job_yaml("orphan", &hello, &[], &depends("nowhere"), ""),
    );
    let refused = s.wasmjob(&["run", "-f", "orphan.yaml"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "orphan.yaml: document 1: spec.dependsOn[0].name: job \"nowhere\" is neither in \
             this run nor a finished stored Job"
        ),
        "{}",
        refused.stderr
    );
    let refused = s.wasmjob(&["run", "-f", "cycle.yaml"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("a cycle never starts"),
        "{}",
        refused.stderr
    );
    let twice = "  dependsOn:\n  - name: x\n  - name: x\n    condition: Failed\n";
    s.write("twice.yaml", &job_yaml("twice", &hello, &[], twice, ""));
    let refused = s.wasmjob(&["run", "-f", "twice.yaml"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("spec.dependsOn[1].name: job \"x\" is listed twice"),
        "{}",
        refused.stderr
    );
}
