//! Node taints and tolerations (issue 30): `serve --taints` and `taint
//! node` in kubectl's syntax; only tolerating work is placed on a tainted
//! node, a `NoExecute` taint ends what runs there and does not tolerate
//! it, and removing a taint lets waiting work run. And how long a stopped
//! instance runs on: `terminationGracePeriodSeconds`.

use std::time::{Duration, Instant};

use wasmjob_tests::{Server, Session, job_yaml, program};

fn waits_for(
    s: &Session,
    server: &Server,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
    args: &[&str],
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ran = s.client(server, args);
        if ran.code == 0 {
            let value = ran.json();
            if check(&value) {
                return value;
            }
        }
        assert!(Instant::now() < deadline, "{what}: {ran:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_tainted_node_takes_only_tolerating_work_until_the_taint_is_removed() {
    let s = Session::new();
    let server = Server::start(
        &s,
        &[
            "--node-name",
            "edge-1",
            "--taints",
            "dedicated=gpu:NoSchedule",
        ],
    );
    let node = s
        .client(&server, &["get", "node", "edge-1", "-o", "json"])
        .json();
    assert_eq!(node["spec"]["taints"][0]["key"], "dedicated", "{node}");
    let plain = job_yaml("plain", &program("say-hello"), &[], "", "");
    let tolerating = job_yaml(
        "tolerating",
        &program("say-hello"),
        &[],
        "",
        "      tolerations:\n      - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}\n",
    );
    let path = s.write("jobs.yaml", &format!("{plain}---\n{tolerating}"));
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let done = s.wait_finished(&server, "tolerating");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    // The other waits, saying why as Kubernetes does.
    let described = s.client(&server, &["describe", "job", "plain"]).stdout;
    assert!(
        described.contains("FailedScheduling")
            && described.contains("1 node(s) had untolerated taint {dedicated: gpu}"),
        "{described}"
    );
    let waiting = s
        .client(&server, &["get", "job", "plain", "-o", "json"])
        .json();
    assert_eq!(
        waiting["status"]["active"].as_u64().unwrap_or(0),
        0,
        "{waiting}"
    );

    let untainted = s.client(
        &server,
        &["taint", "node", "edge-1", "dedicated:NoSchedule-"],
    );
    assert_eq!(untainted.code, 0, "{untainted:?}");
    assert_eq!(untainted.stdout.trim(), "node/edge-1 untainted");
    let done = s.wait_finished(&server, "plain");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
}

#[test]
fn a_no_execute_taint_ends_what_does_not_tolerate_it_and_the_job_replaces_it_later() {
    let s = Session::new();
    let server = Server::start(&s, &["--node-name", "edge-2"]);
    let yaml = job_yaml("long", &program("sleep-ms"), &["2500"], "", "");
    let path = s.write("job.yaml", &yaml);
    assert_eq!(
        s.client(&server, &["apply", "-f", path.to_str().unwrap()])
            .code,
        0
    );
    let running = |v: &serde_json::Value| {
        v["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["status"]["phase"] == "Running"))
    };
    let pods = ["get", "pods", "-l", "job-name=long", "-o", "json"];
    waits_for(&s, &server, "the instance never ran", running, &pods);
    let tainted = s.client(
        &server,
        &["taint", "node", "edge-2", "maintenance=now:NoExecute"],
    );
    assert_eq!(tainted.code, 0, "{tainted:?}");
    assert_eq!(tainted.stdout.trim(), "node/edge-2 tainted");
    let evicted = |v: &serde_json::Value| {
        v["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["status"]["reason"] == "DeletionByTaintManager")
        })
    };
    let list = waits_for(&s, &server, "the instance was not evicted", evicted, &pods);
    let first = &list["items"][0]["status"];
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("NoExecute taint maintenance=now"),
        "{first}"
    );
    // Nothing new runs while the taint stays; a disruption is not a failure.
    std::thread::sleep(Duration::from_millis(600));
    let job = s
        .client(&server, &["get", "job", "long", "-o", "json"])
        .json();
    assert_eq!(job["status"]["active"].as_u64().unwrap_or(0), 0, "{job}");
    // A second taint of the same key and effect needs --overwrite.
    let again = s.client(
        &server,
        &["taint", "node", "edge-2", "maintenance=later:NoExecute"],
    );
    assert_ne!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("--overwrite is false"), "{again:?}");
    assert_eq!(
        s.client(&server, &["taint", "node", "edge-2", "maintenance-"])
            .code,
        0
    );
    let done = s.wait_finished(&server, "long");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
}

#[test]
fn bad_taints_and_tolerations_are_refused_with_exit_2() {
    let s = Session::new();
    let server = Server::start(&s, &["--node-name", "edge-3"]);
    for bad in ["dedicated", "a=b:Sometimes", "=x:NoSchedule"] {
        let ran = s.client(&server, &["taint", "node", "edge-3", bad]);
        assert_eq!(ran.code, 2, "{bad}: {ran:?}");
        assert!(
            ran.stderr.contains("expected KEY=VALUE:EFFECT") || ran.stderr.contains("invalid key"),
            "{bad}: {}",
            ran.stderr
        );
    }
    let missing = s.client(&server, &["taint", "node", "edge-3", "absent-"]);
    assert_ne!(missing.code, 0, "{missing:?}");
    assert!(
        missing.stderr.contains("taint \"absent\" not found"),
        "{missing:?}"
    );
    let other = s.client(&server, &["taint", "node", "elsewhere", "a=b:NoSchedule"]);
    assert_ne!(other.code, 0, "{other:?}");
    let yaml = job_yaml(
        "bad",
        &program("say-hello"),
        &[],
        "",
        "      tolerations:\n      - {key: dedicated, operator: Exists, value: gpu}\n",
    );
    let path = s.write("bad.yaml", &yaml);
    let ran = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("spec.template.spec.tolerations[0].operator: value must be empty"),
        "{}",
        ran.stderr
    );
    let serve = s.wasmjob(&["serve", "--taints", "oops"]);
    assert_eq!(serve.code, 2, "{serve:?}");
    assert!(serve.stderr.contains("--taints"), "{}", serve.stderr);
}

#[test]
fn a_stopped_instance_runs_on_for_its_termination_grace_period_and_no_longer() {
    let s = Session::new();
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(&s, &["--node-name", "edge-4"]);
    let volume = format!(
        "        volumeMounts:\n        - {{name: out, mountPath: /out}}\n      \
         volumes:\n      - {{name: out, hostPath: {{path: {}}}}}\n",
        out.display()
    );
    let graceful = job_yaml(
        "graceful",
        &program("sleep-ms"),
        &["1200", "/out/graceful.txt"],
        "",
        &format!("{volume}      terminationGracePeriodSeconds: 10\n"),
    );
    let abrupt = job_yaml(
        "abrupt",
        &program("sleep-ms"),
        &["1200", "/out/abrupt.txt"],
        "",
        &format!("{volume}      terminationGracePeriodSeconds: 0\n"),
    );
    let path = s.write("jobs.yaml", &format!("{graceful}---\n{abrupt}"));
    assert_eq!(
        s.client(&server, &["apply", "-f", path.to_str().unwrap()])
            .code,
        0
    );
    let running = |v: &serde_json::Value| {
        v["items"].as_array().is_some_and(|items| {
            items.len() == 2 && items.iter().all(|i| i["status"]["phase"] == "Running")
        })
    };
    waits_for(
        &s,
        &server,
        "the instances never ran",
        running,
        &["get", "pods", "-o", "json"],
    );
    for job in ["graceful", "abrupt"] {
        let deleted = s.client(&server, &["delete", "job", job]);
        assert_eq!(deleted.code, 0, "{deleted:?}");
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        out.join("graceful.txt").exists(),
        "the graceful instance was cut short"
    );
    assert!(
        !out.join("abrupt.txt").exists(),
        "the abrupt instance ran on"
    );
}
