//! DaemonSets on one node (issue 6): placement by `nodeSelector`, the
//! kubelet's crash-loop back-off with every attempt's log kept, rolling
//! updates, deletion, and a node restart; Jobs honouring `nodeSelector`.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmjob_tests::{Server, Session, job_yaml, program};

/// A DaemonSet of the test program `program` with `args`; `pod_extra` lines
/// go into the pod spec (indented six spaces).
pub(crate) fn daemonset(name: &str, prog: &str, args: &[&str], pod_extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{pod_extra}      containers:
      - name: d
        image: {image}
        args: [{args}]
      restartPolicy: Always
",
        image = program(prog).display(),
        args = args.join(", "),
    )
}

pub(crate) fn apply(s: &Session, server: &Server, file: &str, yaml: &str) {
    let path = s.write(file, yaml);
    let ran = s.client(server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
}

pub(crate) fn get_json(s: &Session, server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    let ran = s.client(server, &all);
    assert_eq!(ran.code, 0, "{ran:?}");
    ran.json()
}

/// Polls until `check` holds for `get ARGS -o json`, or fails after 20 s.
pub(crate) fn eventually(
    s: &Session,
    server: &Server,
    args: &[&str],
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = get_json(s, server, args);
        if check(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: {value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn instances(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_daemonset_runs_one_instance_on_a_matching_node_and_survives_a_node_restart() {
    let s = Session::new();
    let server = Server::start(
        &s,
        &["--node-name", "edge-1", "--labels", "disk=nvme,zone=a"],
    );
    let yaml = daemonset(
        "monitor",
        "sleep-ms",
        &["600000"],
        "      nodeSelector:\n        disk: nvme\n",
    );
    apply(&s, &server, "ds.yaml", &yaml);
    let ds = eventually(
        &s,
        &server,
        &["daemonsets", "monitor"],
        "the instance becomes ready",
        |ds| ds["status"]["numberReady"] == 1,
    );
    let status = &ds["status"];
    assert_eq!(
        (
            &status["desiredNumberScheduled"],
            &status["currentNumberScheduled"],
            &status["updatedNumberScheduled"],
            &status["numberAvailable"],
        ),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        ),
        "{ds}"
    );
    let list = get_json(&s, &server, &["instances", "-l", "app=monitor"]);
    let found = instances(&list);
    assert_eq!(found.len(), 1, "{list}");
    assert_eq!(found[0]["status"]["phase"], "Running");
    assert_eq!(found[0]["spec"]["nodeName"], "edge-1");
    assert_eq!(
        found[0]["metadata"]["ownerReferences"][0]["kind"],
        "DaemonSet"
    );
    let table = s.client(&server, &["get", "ds"]);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE"
        ],
        "{table:?}"
    );
    assert!(lines[1].starts_with("monitor"), "{table:?}");
    assert!(lines[1].contains("disk=nvme"), "{table:?}");

    let described = s.client(&server, &["describe", "ds/monitor"]);
    assert!(
        described
            .stdout
            .contains("Desired Number of Nodes Scheduled: 1")
            && described.stdout.contains("Node-Selector:")
            && described.stdout.contains("SuccessfulCreate"),
        "{described:?}"
    );

    // The node restarts: its instance ended with the process; a fresh one runs.
    let before = found[0]["metadata"]["uid"].clone();
    assert_eq!(server.terminate(), 0);
    let server = Server::start(
        &s,
        &["--node-name", "edge-1", "--labels", "disk=nvme,zone=a"],
    );
    let list = eventually(
        &s,
        &server,
        &["instances", "-l", "app=monitor"],
        "a fresh instance",
        |l| {
            let found = instances(l);
            found.len() == 1 && found[0]["metadata"]["uid"] != before
        },
    );
    assert_eq!(instances(&list)[0]["status"]["phase"], "Running");
}

#[test]
fn a_node_without_the_label_runs_no_instance() {
    let s = Session::new();
    let server = Server::start(&s, &["--labels", "disk=hdd"]);
    let yaml = daemonset(
        "nvme-only",
        "sleep-ms",
        &["600000"],
        "      nodeSelector:\n        disk: nvme\n",
    );
    apply(&s, &server, "ds.yaml", &yaml);
    std::thread::sleep(Duration::from_millis(500));
    let list = get_json(&s, &server, &["instances"]);
    assert!(instances(&list).is_empty(), "{list}");
    let ds = get_json(&s, &server, &["ds", "nvme-only"]);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 0, "{ds}");
    // Node affinity with an operator the node's labels do not meet: none either;
    // one they meet: an instance.
    let affinity = "      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: disk, operator: In, values: [hdd, ssd]}
              - {key: gpu, operator: DoesNotExist}
";
    apply(
        &s,
        &server,
        "aff.yaml",
        &daemonset("by-affinity", "sleep-ms", &["600000"], affinity),
    );
    eventually(
        &s,
        &server,
        &["ds", "by-affinity"],
        "affinity admits the node",
        |ds| ds["status"]["numberReady"] == 1,
    );
}

#[test]
fn a_crash_looping_daemon_restarts_after_doubling_delays_keeping_every_log() {
    let s = Session::new();
    let server = Server::start(
        &s,
        &["--crash-loop-initial", "200ms", "--crash-loop-max", "800ms"],
    );
    apply(
        &s,
        &server,
        "ds.yaml",
        &daemonset("crashy", "exit-code", &["3"], ""),
    );
    let list = eventually(
        &s,
        &server,
        &["instances", "-l", "app=crashy"],
        "four restarts",
        |l| {
            instances(l)
                .first()
                .is_some_and(|i| i["status"]["restartCount"].as_u64() >= Some(4))
        },
    );
    let instance = &instances(&list)[0];
    assert_eq!(instance["status"]["phase"], "Running", "{instance}");
    let uid = instance["metadata"]["uid"].as_str().unwrap().to_owned();
    // The back-off events name each delay: 200 ms doubling, capped at 800 ms.
    let db = s.db();
    let mut stmt = db
        .prepare("SELECT message FROM events WHERE reason = 'BackOff' ORDER BY id")
        .unwrap();
    let delays: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|m| m.unwrap().split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    assert!(delays.len() >= 4, "{delays:?}");
    assert_eq!(delays[..4], ["200ms", "400ms", "800ms", "800ms"]);
    // Every attempt's log is kept.
    let logs: Vec<(u32, String)> = db
        .prepare(
            "SELECT attempt, CAST(data AS TEXT) FROM attempt_logs WHERE instance_uid = ?1 ORDER BY attempt",
        )
        .unwrap()
        .query_map([&uid], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(logs.len() >= 4, "{logs:?}");
    for (i, (attempt, text)) in logs.iter().enumerate() {
        assert_eq!(*attempt as usize, i);
        assert!(text.contains("exiting with 3"), "{text}");
    }
    // Between attempts kubectl's STATUS column says CrashLoopBackOff.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let table = s.client(&server, &["get", "instances"]);
        if table.stdout.contains("CrashLoopBackOff") {
            assert!(table.stdout.contains("0/1"), "{table:?}");
            break;
        }
        assert!(Instant::now() < deadline, "never shown as CrashLoopBackOff");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_template_update_replaces_the_instance_and_deleting_stops_it_within_a_second() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    apply(
        &s,
        &server,
        "v1.yaml",
        &daemonset("rolling", "sleep-ms", &["600000"], ""),
    );
    let first = eventually(
        &s,
        &server,
        &["instances", "-l", "app=rolling"],
        "v1 runs",
        |l| instances(l).len() == 1,
    );
    let first = instances(&first)[0].clone();
    let old_hash = first["metadata"]["labels"]["controller-revision-hash"].clone();
    assert!(old_hash.is_string(), "{first}");
    apply(
        &s,
        &server,
        "v2.yaml",
        &daemonset("rolling", "sleep-ms", &["500000"], ""),
    );
    let second = eventually(
        &s,
        &server,
        &["instances", "-l", "app=rolling"],
        "v2 replaces v1",
        |l| {
            let found = instances(l);
            found.len() == 1
                && found[0]["metadata"]["labels"]["controller-revision-hash"] != old_hash
        },
    );
    assert_eq!(instances(&second)[0]["status"]["phase"], "Running");
    eventually(
        &s,
        &server,
        &["ds", "rolling"],
        "status counts the update",
        |ds| ds["status"]["updatedNumberScheduled"] == 1 && ds["status"]["numberAvailable"] == 1,
    );
    // The replaced instance is history: ended, reason Deleted.
    let reason: String = s
        .db()
        .query_row(
            "SELECT reason FROM instances WHERE uid = ?1",
            [first["metadata"]["uid"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "Deleted");

    let started = Instant::now();
    let ran = s.client(&server, &["delete", "ds", "rolling"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let list = get_json(&s, &server, &["instances"]);
    assert!(instances(&list).is_empty(), "{list}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let running: i64 = s
        .db()
        .query_row(
            "SELECT count(*) FROM instances WHERE phase = 'Running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0);
}

#[test]
fn a_job_runs_only_on_a_node_its_node_selector_matches() {
    let s = Session::new();
    let pod = "      nodeSelector:\n        disk: nvme";
    let yaml = job_yaml(
        "picky",
        &program("say-hello"),
        &[],
        "  completions: 2\n",
        pod,
    );
    let hdd = Server::start(&s, &["--labels", "disk=hdd"]);
    apply(&s, &hdd, "job.yaml", &yaml);
    std::thread::sleep(Duration::from_millis(500));
    let job = get_json(&s, &hdd, &["jobs", "picky"]);
    assert_eq!(job["status"]["succeeded"].as_u64().unwrap_or(0), 0, "{job}");
    let events = s.client(&hdd, &["get", "events"]);
    assert!(events.stdout.contains("FailedScheduling"), "{events:?}");
    assert_eq!(hdd.terminate(), 0);
    // The same Job on a node with the label: it runs to completion.
    let nvme = Server::start(&s, &["--labels", "disk=nvme"]);
    let job = s.wait_finished(&nvme, "picky");
    assert_eq!(job["status"]["succeeded"], 2, "{job}");
}

#[test]
fn relabelling_the_node_adds_and_removes_its_instance() {
    let s = Session::new();
    let server = Server::start(&s, &["--node-name", "edge-3", "--labels", "disk=hdd"]);
    let yaml = daemonset(
        "follows-labels",
        "sleep-ms",
        &["600000"],
        "      nodeSelector:\n        disk: nvme\n",
    );
    apply(&s, &server, "ds.yaml", &yaml);
    // A changed value needs --overwrite, as kubectl says.
    let refused = s.client(&server, &["label", "node", "edge-3", "disk=nvme"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stderr.contains("already has a value (hdd)"),
        "{refused:?}"
    );
    let unknown = s.client(&server, &["label", "node", "elsewhere", "disk=nvme"]);
    assert!(
        unknown.stderr.contains("nodes \"elsewhere\" not found"),
        "{unknown:?}"
    );
    let bad = s.client(&server, &["label", "node", "edge-3", "disk"]);
    assert_eq!(bad.code, 2, "{bad:?}");

    let ran = s.client(
        &server,
        &["label", "node", "edge-3", "disk=nvme", "--overwrite"],
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.trim(), "node/edge-3 labeled");
    eventually(
        &s,
        &server,
        &["instances", "-l", "app=follows-labels"],
        "the relabelled node gains its instance",
        |l| instances(l).len() == 1,
    );
    let nodes = s.client(&server, &["get", "nodes"]);
    assert!(nodes.stdout.contains("disk=nvme"), "{nodes:?}");

    let ran = s.client(&server, &["label", "node", "edge-3", "disk-"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    eventually(
        &s,
        &server,
        &["instances", "-l", "app=follows-labels"],
        "and loses it",
        |l| instances(l).is_empty(),
    );
}
