//! How much a namespace may hold (issue 37): a ResourceQuota stops the
//! object past it with Kubernetes' message and stores nothing; a
//! LimitRange gives containers their default memory and bounds it.

use super::*;
use wasmjob_tests::{in_namespace, job_yaml, wait_until as within};

/// A Job of the `say-hello` program in `namespace`; `memory` its limit.
fn job_in(name: &str, namespace: &str, memory: Option<&str>) -> String {
    sleeping_job(name, namespace, memory, (1, 1, None))
}

/// A Job in `namespace` of `completions` at `parallelism`, each sleeping
/// `ms` (none: `say-hello`); `memory` its limit.
fn sleeping_job(
    name: &str,
    namespace: &str,
    memory: Option<&str>,
    (completions, parallelism, ms): (u32, u32, Option<u32>),
) -> String {
    let resources = memory
        .map(|m| format!("        resources: {{limits: {{memory: {m}}}}}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {namespace}
spec:
  completions: {completions}
  parallelism: {parallelism}
  template:
    spec:
      containers:
      - name: main
        image: {}
        args: [{args}]
{resources}      restartPolicy: Never
",
        program(if ms.is_some() {
            "sleep-ms"
        } else {
            "say-hello"
        })
        .display(),
        args = ms.map(|m| format!("\"{m}\"")).unwrap_or_default(),
    )
}

#[test]
fn a_quota_stops_the_eleventh_job_with_kubernetes_message_and_stores_nothing() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let made = ok(s.kubectl(
        &k,
        &[
            "create",
            "quota",
            "jobs",
            "--hard=count/jobs.batch=10,requests.cpu=2",
            "-n",
            "team",
        ],
    ));
    assert!(
        made.stderr
            .contains("Warning: spec.hard[requests.cpu]: not metered by wasmjob"),
        "{made:?}"
    );
    let ten: Vec<String> = (1..=10)
        .map(|i| job_in(&format!("pi-{i}"), "team", None))
        .collect();
    s.write("ten.yaml", &ten.join("---\n"));
    let applied = s.client(&server, &["apply", "-f", "ten.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");

    s.write("eleventh.yaml", &job_in("pi-11", "team", None));
    let refused = s.kubectl(&k, &["create", "-f", "eleventh.yaml"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "Error from server (Forbidden): error when creating \"eleventh.yaml\": \
             jobs.batch \"pi-11\" is forbidden: exceeded quota: jobs, requested: \
             count/jobs.batch=1, used: count/jobs.batch=10, limited: count/jobs.batch=10"
        ),
        "{refused:?}"
    );
    let none = s.kubectl(&k, &["get", "job", "pi-11", "-n", "team"]);
    assert!(none.stderr.contains("NotFound"), "{none:?}");
    let shown = ok(s.kubectl(&k, &["get", "quota", "-n", "team"]));
    assert!(
        shown.stdout.contains("count/jobs.batch: 10/10"),
        "{shown:?}"
    );
    // wasmjob's own apply is held to it too, all or nothing: room for one
    // of two leaves both out.
    ok(s.kubectl(&k, &["delete", "job", "pi-1", "-n", "team"]));
    let two = [job_in("a", "team", None), job_in("b", "team", None)];
    s.write("two.yaml", &two.join("---\n"));
    let both = s.client(&server, &["apply", "-f", "two.yaml"]);
    assert_eq!(both.code, 1, "{both:?}");
    assert!(
        both.stderr
            .contains("requested: count/jobs.batch=2, used: count/jobs.batch=9"),
        "{both:?}"
    );
    let names = ok(s.kubectl(&k, &["get", "jobs", "-n", "team", "-o", "name"]));
    assert!(!names.stdout.contains("job.batch/a\n"), "{names:?}");
    assert_eq!(names.stdout.lines().count(), 9, "{names:?}");
    // Another namespace is not this one's quota's.
    s.write("elsewhere.yaml", &job_in("pi-11", "other", None));
    ok(s.kubectl(&k, &["create", "-f", "elsewhere.yaml"]));
}

#[test]
fn a_limit_range_gives_a_default_memory_limit_and_refuses_more_than_its_max() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "limits.yaml",
        "apiVersion: v1
kind: LimitRange
metadata: {name: memory, namespace: small}
spec:
  limits:
  - type: Container
    default: {memory: 64Mi}
    max: {memory: 128Mi}
",
    );
    ok(s.kubectl(&k, &["apply", "-f", "limits.yaml"]));
    s.write("plain.yaml", &job_in("plain", "small", None));
    ok(s.kubectl(&k, &["create", "-f", "plain.yaml"]));
    let limit = ok(s.kubectl(
        &k,
        &[
            "get",
            "job",
            "plain",
            "-n",
            "small",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].resources.limits.memory}",
        ],
    ));
    assert_eq!(limit.stdout, "64Mi");
    // It runs within the limit it was given.
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/plain",
            "-n",
            "small",
            "--timeout=30s",
        ],
    ));
    s.write("big.yaml", &job_in("big", "small", Some("256Mi")));
    let big = s.client(&server, &["apply", "-f", "big.yaml"]);
    assert_eq!(big.code, 1, "{big:?}");
    assert!(
        big.stderr.contains(
            "jobs.batch \"big\" is forbidden: maximum memory usage per Container is 128Mi, but \
             limit is 256Mi (LimitRange memory of namespace small)"
        ),
        "{big:?}"
    );
    let none = s.kubectl(&k, &["get", "job", "big", "-n", "small"]);
    assert!(none.stderr.contains("NotFound"), "{none:?}");
}

/// The most instances of `instances` that ran at once.
fn most_at_once(instances: &serde_json::Value) -> usize {
    let mut edges = Vec::new();
    for i in instances["items"].as_array().unwrap() {
        let at = |key: &str| {
            i["status"][key]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        };
        if let (Some(start), Some(finish)) = (at("startTime"), at("finishTime")) {
            edges.push((start, 1i32));
            edges.push((finish, -1));
        }
    }
    // A finish and a start at the same instant: the finish first.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn a_pods_and_memory_quota_hold_a_namespaces_instances_at_once_and_say_so() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    ok(s.kubectl(
        &k,
        &["create", "quota", "run", "--hard=pods=2", "-n", "team"],
    ));
    ok(s.kubectl(
        &k,
        &[
            "create",
            "quota",
            "mem",
            "--hard=limits.memory=100Mi",
            "-n",
            "small",
        ],
    ));
    s.write(
        "wide.yaml",
        &sleeping_job("wide", "team", None, (6, 6, Some(300))),
    );
    s.write(
        "heavy.yaml",
        &sleeping_job("heavy", "small", Some("40Mi"), (4, 4, Some(300))),
    );
    s.write(
        "bare.yaml",
        &sleeping_job("bare", "small", None, (1, 1, Some(1))),
    );
    for file in ["wide.yaml", "heavy.yaml", "bare.yaml"] {
        let applied = s.client(&server, &["apply", "-f", file]);
        assert_eq!(applied.code, 0, "{applied:?}");
    }
    for (job, namespace) in [("wide", "team"), ("heavy", "small")] {
        ok(s.kubectl(
            &k,
            &[
                "wait",
                "--for=condition=complete",
                &format!("job/{job}"),
                "-n",
                namespace,
                "--timeout=60s",
            ],
        ));
    }
    let instances = |job: &str, namespace: &str| {
        let ran = s.client(
            &server,
            &[
                "get",
                "instances",
                "-n",
                namespace,
                "-l",
                &format!("job-name={job}"),
                "-o",
                "json",
            ],
        );
        assert_eq!(ran.code, 0, "{ran:?}");
        ran.json()
    };
    assert_eq!(most_at_once(&instances("wide", "team")), 2);
    // 40Mi each under 100Mi: two at once.
    assert_eq!(most_at_once(&instances("heavy", "small")), 2);
    let events = ok(s.kubectl(&k, &["get", "events", "-A"])).stdout;
    assert!(
        events.contains("exceeded quota: run, requested: pods=1, used: pods=2, limited: pods=2"),
        "{events}"
    );
    assert!(
        events.contains(
            "exceeded quota: mem, requested: limits.memory=40Mi, used: limits.memory=80Mi, \
             limited: limits.memory=100Mi"
        ),
        "{events}"
    );
    // A template naming no memory limit cannot start under a memory quota.
    assert!(events.contains("must specify limits.memory"), "{events}");
    let bare = instances("bare", "small");
    assert_eq!(bare["items"].as_array().unwrap().len(), 0, "{bare}");
}

/// Applies a ResourceQuota `name` in `namespace` of one `resource`.
fn apply_quota(
    s: &Session,
    server: &Server,
    (name, namespace): (&str, &str),
    (resource, hard): (&str, &str),
) {
    let yaml = format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  hard:\n    {resource}: \"{hard}\"\n"
    );
    s.write("quota.yaml", &yaml);
    let applied = s.client(server, &["apply", "-f", "quota.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
}

/// The Jobs a CronJob creates count under `count/jobs.batch` like those
/// an apply creates: past the quota a scheduled run is not created, and
/// the CronJob says why in the Kubernetes controller's words.
#[test]
fn a_quota_holds_the_jobs_a_cronjob_creates() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    apply_quota(&s, &server, ("two-jobs", "team"), ("count/jobs.batch", "2"));
    s.write(
        "tick.yaml",
        &wasmjob_tests::per_second_cronjob("tick", "team", "say-hello", 10),
    );
    let applied = s.client(&server, &["apply", "-f", "tick.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let events = loop {
        let events = s.client(&server, &["get", "events", "-n", "team"]).stdout;
        let refusals = events.matches("FailedCreate").count();
        if refusals >= 2 || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        events.contains(
            "is forbidden: exceeded quota: two-jobs, requested: count/jobs.batch=1, used: \
             count/jobs.batch=2, limited: count/jobs.batch=2"
        ),
        "{events}"
    );
    let jobs = s.client(&server, &["get", "jobs", "-n", "team", "-o", "json"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");
    let jobs = jobs.json();
    assert_eq!(jobs["items"].as_array().unwrap().len(), 2, "{jobs}");
    // Deleting one makes room for the next scheduled run.
    let name = jobs["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = s.client(&server, &["delete", "job", &name, "-n", "team"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = s
            .client(&server, &["get", "jobs", "-n", "team", "-o", "json"])
            .json();
        let names: Vec<&str> = (now["items"].as_array().unwrap().iter())
            .filter_map(|j| j["metadata"]["name"].as_str())
            .collect();
        if names.len() == 2 && !names.contains(&name.as_str()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `wasmjob.dev/logs` holds what a namespace's instances store: once
/// their output reaches it no more start, the Job says why in
/// Kubernetes' words, `status.used` shows the bytes, and deleting the Job
/// frees the room for the next.
#[test]
fn a_quota_of_stored_output_stops_new_instances_once_reached() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    apply_quota(&s, &server, ("logs", "chatty"), ("wasmjob.dev/logs", "3Mi"));
    // Each instance prints a MiB (the default output limit keeps it all).
    let loud = |name: &str| {
        let each = "  completions: 30\n  parallelism: 1";
        in_namespace(
            &job_yaml(name, &program("print-lots"), &["1"], each, ""),
            "chatty",
        )
    };
    s.write("loud.yaml", &loud("loud"));
    let applied = s.client(&server, &["apply", "-f", "loud.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let succeeded = || {
        let job = s.client(
            &server,
            &["get", "job", "loud", "-n", "chatty", "-o", "json"],
        );
        job.json()["status"]["succeeded"].as_u64().unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let events = loop {
        let events = s.client(&server, &["get", "events", "-n", "chatty"]).stdout;
        if events.contains("exceeded quota: logs") {
            break events;
        }
        assert!(std::time::Instant::now() < deadline, "{events}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        events.contains("requested: wasmjob.dev/logs>0, used: wasmjob.dev/logs="),
        "{events}"
    );
    let held = succeeded();
    assert!(
        (3..30).contains(&held),
        "{held} instances ran under a 3Mi quota"
    );
    // Held: nothing more starts.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let later = succeeded();
    assert!(later <= held + 1, "{held} then {later}");
    let used = s.client(
        &server,
        &["get", "quota", "logs", "-n", "chatty", "-o", "json"],
    );
    let used = used.json()["status"]["used"]["wasmjob.dev/logs"].clone();
    let bytes = used.as_str().and_then(|u| match u.strip_suffix("Mi") {
        Some(mib) => mib.parse::<u64>().ok().map(|m| m << 20),
        None => match u.strip_suffix("Ki") {
            Some(kib) => kib.parse::<u64>().ok().map(|k| k << 10),
            None => u.parse().ok(),
        },
    });
    assert!(bytes.is_some_and(|b| b >= 3 << 20), "{used}");

    // Deleting the Job frees its stored output for the next.
    let deleted = s.client(&server, &["delete", "job", "loud", "-n", "chatty"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    s.write(
        "next.yaml",
        &loud("next").replace("completions: 30", "completions: 2"),
    );
    let applied = s.client(&server, &["apply", "-f", "next.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let done = s.client(
        &server,
        &[
            "wait",
            "--for=condition=complete",
            "job/next",
            "-n",
            "chatty",
            "--timeout=60s",
        ],
    );
    assert_eq!(done.code, 0, "{done:?}");
}

/// A backfill's runs are held by `count/jobs.batch` as scheduled ones
/// are, but wait rather than being dropped: a backfill was asked for. The
/// CronJob says once why its next run waits, and each Job deleted lets
/// the next backfilled time run, until every time of the range has.
#[test]
fn a_backfill_waits_for_room_under_a_quota_of_jobs() {
    use crate::schedules::{cronjob, decided_times};
    let s = Session::new();
    let server = Server::start(&s, &[]);
    apply_quota(&s, &server, ("two-jobs", "team"), ("count/jobs.batch", "2"));
    // Yearly: nothing is scheduled while the test runs; four past times.
    let yearly = cronjob("tick", "  schedule: \"0 0 1 1 *\"\n");
    s.write("tick.yaml", &in_namespace(&yearly, "team"));
    let applied = s.client(&server, &["apply", "-f", "tick.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let (from, to) = ("2020-01-01T00:00:00Z", "2023-01-01T00:00:00Z");
    let args = ["cronjob", "backfill", "tick", "-n", "team", "--from", from];
    let backfill = s.client(&server, &[&args[..], &["--to", to]].concat());
    assert_eq!(backfill.code, 0, "{backfill:?}");
    let ran = |s: &Session| decided_times(s, "tick").len();
    let live_jobs = || {
        let jobs = s.client(&server, &["get", "jobs", "-n", "team", "-o", "json"]);
        assert_eq!(jobs.code, 0, "{jobs:?}");
        let list = jobs.json();
        let names = list["items"].as_array().unwrap().iter();
        let names = names.map(|j| j["metadata"]["name"].as_str().unwrap().to_owned());
        names.collect::<Vec<_>>()
    };
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let events = || s.client(&server, &["get", "events", "-n", "team"]).stdout;
    wait_until("the third run to wait", &|| {
        events().contains("the backfilled run waits for room")
    });
    let said = events();
    assert!(
        said.contains(
            "is forbidden: exceeded quota: two-jobs, requested: count/jobs.batch=1, used: \
             count/jobs.batch=2, limited: count/jobs.batch=2; the backfilled run waits for room"
        ),
        "{said}"
    );
    // Two ran, two wait; a second later still (nothing is dropped, nothing
    // passes the quota), and the hold was said once.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!((ran(&s), live_jobs().len()), (2, 2));
    assert_eq!(
        events().matches("waits for room").count(),
        1,
        "{}",
        events()
    );
    let status = s.client(
        &server,
        &["get", "cronjob", "tick", "-n", "team", "-o", "json"],
    );
    let waiting = &status.json()["status"]["backfill"]["waiting"];
    assert_eq!(waiting.as_array().map(Vec::len), Some(2), "{waiting}");
    // Each Job deleted makes room for the next backfilled time.
    for expected in [3, 4] {
        let oldest = live_jobs().remove(0);
        let deleted = s.client(&server, &["delete", "job", &oldest, "-n", "team"]);
        assert_eq!(deleted.code, 0, "{deleted:?}");
        wait_until("the next backfilled run", &|| ran(&s) == expected);
    }
    let times: Vec<i64> = decided_times(&s, "tick").iter().map(|(t, _)| *t).collect();
    let year = |y: i16| jiff::civil::date(y, 1, 1).to_zoned(jiff::tz::TimeZone::UTC);
    let expected: Vec<i64> = (2020..=2023)
        .map(|y| year(y).unwrap().timestamp().as_microsecond())
        .collect();
    assert_eq!(times, expected, "every time of the range, once, in order");
    assert_eq!(live_jobs().len(), 2);
}

/// A DaemonSet's instance counts under its namespace's `pods` quota as a
/// Job's instances do: while it runs the namespace's Jobs wait for the
/// room it holds, and past the quota it waits itself — with the DaemonSet
/// controller's `FailedCreate` — until a Job's instance ends.
#[test]
fn a_pods_quota_counts_and_holds_a_daemonsets_instance() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    apply_quota(&s, &server, ("run", "team"), ("pods", "1"));
    let running = |label: &str| -> usize {
        let got = s.client(
            &server,
            &["get", "instances", "-n", "team", "-l", label, "-o", "json"],
        );
        assert_eq!(got.code, 0, "{got:?}");
        let items = got.json()["items"].as_array().unwrap().clone();
        items
            .iter()
            .filter(|i| i["status"]["phase"] == "Running")
            .count()
    };
    let events_of = |name: &str| -> Vec<String> {
        let got = s.client(&server, &["get", "events", "-n", "team", "-o", "json"]);
        let events = got.json()["items"].as_array().unwrap().clone();
        (events.iter())
            .filter(|e| e["involvedObject"]["name"] == name && e["reason"] == "FailedCreate")
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let daemonset = |name: &str| {
        let yaml = crate::daemonsets::daemonset(name, "sleep-ms", &["600000"], "");
        crate::daemonsets::apply(
            &s,
            &server,
            &format!("{name}.yaml"),
            &in_namespace(&yaml, "team"),
        );
    };
    let held = "Error creating: pods is forbidden: exceeded quota: run, requested: pods=1, \
                used: pods=1, limited: pods=1";

    daemonset("watch");
    within("the DaemonSet's instance runs", 30, || {
        running("app=watch") == 1
    });
    let quota = s.client(
        &server,
        &["get", "quota", "run", "-n", "team", "-o", "json"],
    );
    assert_eq!(quota.json()["status"]["used"]["pods"], "1", "{quota:?}");
    // Its namespace's Job waits for the room the DaemonSet holds.
    s.write("after.yaml", &job_in("after", "team", None));
    let applied = s.client(&server, &["apply", "-f", "after.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    within("the Job says it is held", 30, || {
        !events_of("after").is_empty()
    });
    assert_eq!(events_of("after"), [held]);
    let succeeded = |job: &str| {
        let got = s.client(&server, &["get", "job", job, "-n", "team", "-o", "json"]);
        got.json()["status"]["succeeded"].as_u64().unwrap_or(0)
    };
    assert_eq!(succeeded("after"), 0);
    let deleted = s.client(&server, &["delete", "daemonset", "watch", "-n", "team"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    within("the Job runs once the DaemonSet is gone", 30, || {
        succeeded("after") == 1
    });

    // The other way: a Job's instance holds the room, the DaemonSet waits.
    s.write(
        "long.yaml",
        &sleeping_job("long", "team", None, (1, 1, Some(5_000))),
    );
    let applied = s.client(&server, &["apply", "-f", "long.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    within("the Job's instance runs", 30, || {
        running("job-name=long") == 1
    });
    daemonset("late");
    within("the DaemonSet says it is held", 30, || {
        !events_of("late").is_empty()
    });
    assert_eq!(events_of("late"), [held]);
    assert_eq!(running("app=late"), 0, "started past the quota");
    within(
        "the DaemonSet's instance starts once the Job's ends",
        30,
        || running("app=late") == 1,
    );
    assert_eq!(succeeded("long"), 1);
    // Said once for the whole wait.
    assert_eq!(events_of("late").len(), 1);
}
