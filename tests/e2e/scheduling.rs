//! Who starts first on a full node (issue 30): `serve --max-instances`
//! caps what runs at once, waiting instances start in PriorityClass order
//! (`priorityClassName`), and extended resources (`serve --resources`)
//! are counted: an instance starts only while what it asks for is free,
//! and one asking for more than the node has waits with Kubernetes'
//! FailedScheduling message.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmjob_tests::{Server, Session, in_namespace, items, job_yaml, program};

fn apply(s: &Session, server: &Server, name: &str, yaml: &str) {
    let path = s.write(name, yaml);
    let ran = s.client(server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
}

/// The instances of `job`, as `get pods -o json` lists them.
fn instances(s: &Session, server: &Server, job: &str) -> Vec<Value> {
    let selector = format!("job-name={job}");
    let list = s
        .client(server, &["get", "pods", "-l", &selector, "-o", "json"])
        .json();
    items(&list, "Instance").into_iter().cloned().collect()
}

/// A time field of each instance: RFC 3339 UTC with microseconds, of one
/// width, so the text orders as the time does.
fn times(instances: &[Value], field: &str) -> Vec<String> {
    instances
        .iter()
        .filter_map(|i| i["status"][field].as_str())
        .map(str::to_owned)
        .collect()
}

#[test]
fn on_a_full_node_higher_priority_instances_start_first() {
    let s = Session::new();
    let server = Server::start(&s, &["--max-instances", "1"]);
    apply(
        &s,
        &server,
        "pc.yaml",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n\
         description: goes first\n",
    );
    let table = s.client(&server, &["get", "priorityclasses"]).stdout;
    assert!(
        table.contains("VALUE") && table.contains("high") && table.contains("1000"),
        "{table}"
    );
    let blocker = job_yaml("blocker", &program("sleep-ms"), &["1500"], "", "");
    apply(&s, &server, "blocker.yaml", &blocker);
    let deadline = Instant::now() + Duration::from_secs(20);
    while instances(&s, &server, "blocker").is_empty() {
        assert!(Instant::now() < deadline, "the blocker never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Low first, then high: both wait for the one slot.
    let low = job_yaml("low", &program("sleep-ms"), &["50"], "  completions: 2", "");
    let high = job_yaml(
        "high",
        &program("sleep-ms"),
        &["50"],
        "  completions: 2",
        "      priorityClassName: high\n",
    );
    apply(&s, &server, "low.yaml", &low);
    apply(&s, &server, "high.yaml", &high);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        instances(&s, &server, "low").is_empty(),
        "low started on a full node"
    );
    for job in ["blocker", "low", "high"] {
        let done = s.wait_finished(&server, job);
        assert_eq!(
            done["status"]["succeeded"].as_u64(),
            done["spec"]["completions"].as_u64(),
            "{done}"
        );
    }
    let high_started = times(&instances(&s, &server, "high"), "startTime");
    let low_started = times(&instances(&s, &server, "low"), "startTime");
    assert_eq!((high_started.len(), low_started.len()), (2, 2));
    assert!(
        high_started.iter().max() < low_started.iter().min(),
        "high {high_started:?} low {low_started:?}"
    );
}

/// A namespace whose Job holds every slot of a full node gives way to
/// another namespace's Job that waits: its relaying slots end after a few
/// instances and the room goes to the namespace running nothing, so the
/// small Job finishes long before the big one.
#[test]
fn on_a_full_node_a_busy_namespace_gives_way_to_one_that_runs_nothing() {
    let s = Session::new();
    let server = Server::start(&s, &["--max-instances", "2"]);
    // About three seconds of 2 ms instances, two at a time: more than
    // both slots hold reserved at once, so each keeps taking successors.
    let flood = job_yaml(
        "flood",
        &program("sleep-ms"),
        &["2"],
        "  completions: 3000\n  parallelism: 2",
        "",
    );
    apply(&s, &server, "flood.yaml", &in_namespace(&flood, "flood"));
    std::thread::sleep(Duration::from_millis(500));
    let small = job_yaml("small", &program("say-hello"), &[], "", "");
    apply(&s, &server, "small.yaml", &in_namespace(&small, "team"));
    let waited = Instant::now();
    s.wait_complete(&server, "small", "team");
    let took = waited.elapsed();
    let flood = s.client(
        &server,
        &["get", "job", "flood", "-n", "flood", "-o", "json"],
    );
    let succeeded = flood.json()["status"]["succeeded"].as_u64().unwrap_or(0);
    assert!(
        succeeded < 2500 && took < Duration::from_millis(1000),
        "the small Job took {took:?}, after {succeeded} of the flood's 3000"
    );
    // The flood goes on to its end, every completion counted once.
    s.wait_complete(&server, "flood", "flood");
    let flood = s.client(
        &server,
        &["get", "job", "flood", "-n", "flood", "-o", "json"],
    );
    let status = flood.json()["status"].clone();
    assert_eq!(status["succeeded"], 3000, "{status}");
    let listed = s.client(
        &server,
        &[
            "get",
            "pods",
            "-n",
            "flood",
            "-l",
            "job-name=flood",
            "-o",
            "json",
        ],
    );
    assert_eq!(items(&listed.json(), "Instance").len(), 3000);
    // A slot closed between two instances frees its room at once; never
    // did more than the node's two run at a time (each instance's start and
    // end as the executor took them).
    let most = most_at_once(&s);
    assert!(most <= 2, "{most} instances ran at once on a node of 2");
}

/// A slot asked to give way while its instance runs keeps its room until
/// that instance ends: the waiting namespace's instance starts then, and
/// the node never runs more than its cap.
#[test]
fn a_slot_giving_way_in_the_middle_of_an_instance_holds_its_room_until_it_ends() {
    let s = Session::new();
    let server = Server::start(&s, &["--max-instances", "2"]);
    let flood = job_yaml(
        "flood",
        &program("sleep-ms"),
        &["40"],
        "  completions: 40\n  parallelism: 2",
        "",
    );
    apply(&s, &server, "flood.yaml", &in_namespace(&flood, "flood"));
    std::thread::sleep(Duration::from_millis(300));
    let small = job_yaml("small", &program("say-hello"), &[], "", "");
    apply(&s, &server, "small.yaml", &in_namespace(&small, "team"));
    s.wait_complete(&server, "small", "team");
    s.wait_complete(&server, "flood", "flood");
    let most = most_at_once(&s);
    assert!(most <= 2, "{most} instances ran at once on a node of 2");
}

/// The most instances that ran at once, from the store's start and finish
/// times (an instance that starts as another ends does not overlap it).
fn most_at_once(s: &Session) -> usize {
    let db = rusqlite::Connection::open(s.state.path().join("wasmjob.db")).unwrap();
    let mut query = db
        .prepare("SELECT start_time, finish_time FROM instances WHERE start_time IS NOT NULL")
        .unwrap();
    let mut edges: Vec<(i64, i32)> = Vec::new();
    let rows = query
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    for row in rows {
        let (start, finish) = row.unwrap();
        edges.push((start, 1));
        edges.push((finish, -1));
    }
    // Ends before starts at the same time.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// What `serve`'s threads named `name` have used of the CPU (clock ticks,
/// user and system) and their niceness, from `/proc`.
fn threads_named(server: &Server, name: &str) -> Vec<(u64, i64)> {
    let tasks = format!("/proc/{}/task", server.pid());
    let mut found = Vec::new();
    for task in std::fs::read_dir(&tasks).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        // `tid (comm) state ppid …`: the name may hold spaces, the rest not.
        let (head, rest) = stat.rsplit_once(')').unwrap();
        let comm = head.split_once('(').unwrap().1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if comm == name {
            let ticks: u64 =
                fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
            found.push((ticks, fields[16].parse().unwrap()));
        }
    }
    found
}

/// A Job that asks for more instances at once than the node has cores
/// runs them on `serve`'s bulk workers, nicer than the node's other
/// threads, so another namespace's CronJob run or a narrower Job takes a
/// core from them at once (issue 37's fairness row); a narrower Job's run
/// on the node's own workers.
#[test]
fn a_job_wider_than_the_node_runs_on_the_nicer_bulk_workers() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let bulk_ticks = || {
        threads_named(&server, "wasmjob-bulk")
            .iter()
            .map(|t| t.0)
            .sum::<u64>()
    };
    let node_nice = threads_named(&server, "wasmjob-node")[0].1;
    let bulk = threads_named(&server, "wasmjob-bulk");
    assert_eq!(bulk.len(), cores, "{bulk:?}");
    assert!(
        bulk.iter()
            .all(|&(_, nice)| nice == (node_nice + 5).min(19)),
        "{bulk:?}, the node's workers at {node_nice}"
    );
    let hello = program("say-hello");
    let narrow = job_yaml(
        "narrow",
        &hello,
        &[],
        "  completions: 3000\n  parallelism: 1",
        "",
    );
    apply(&s, &server, "narrow.yaml", &narrow);
    s.wait_complete(&server, "narrow", "default");
    let after_narrow = bulk_ticks();
    assert!(
        after_narrow <= 1,
        "the bulk workers ran {after_narrow} ticks"
    );
    let spec = format!("  completions: 3000\n  parallelism: {}", cores + 1);
    let wide = job_yaml("wide", &hello, &[], &spec, "");
    apply(&s, &server, "wide.yaml", &wide);
    s.wait_complete(&server, "wide", "default");
    let after_wide = bulk_ticks();
    assert!(
        after_wide >= after_narrow + 5,
        "the bulk workers ran {} ticks for the wide Job",
        after_wide - after_narrow
    );
}

#[test]
fn a_job_naming_an_unknown_priority_class_waits_until_it_is_applied() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let job = job_yaml(
        "urgent",
        &program("say-hello"),
        &[],
        "",
        "      priorityClassName: urgent\n",
    );
    apply(&s, &server, "job.yaml", &job);
    std::thread::sleep(Duration::from_millis(400));
    let described = s.client(&server, &["describe", "job", "urgent"]).stdout;
    assert!(
        described.contains("FailedCreate")
            && described.contains("no PriorityClass with name urgent was found"),
        "{described}"
    );
    assert!(instances(&s, &server, "urgent").is_empty());
    apply(
        &s,
        &server,
        "pc.yaml",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: urgent}\nvalue: 10\n",
    );
    let done = s.wait_finished(&server, "urgent");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    // The system classes exist everywhere.
    let system = job_yaml(
        "critical",
        &program("say-hello"),
        &[],
        "",
        "      priorityClassName: system-node-critical\n",
    );
    apply(&s, &server, "system.yaml", &system);
    assert_eq!(
        s.wait_finished(&server, "critical")["status"]["succeeded"],
        1
    );
}

#[test]
fn extended_resources_are_counted_and_too_large_a_request_waits() {
    let s = Session::new();
    let server = Server::start(&s, &["--resources", "example.com/gpu=1"]);
    let gpu = |name: &str, count: u32, extra: &str| {
        job_yaml(
            name,
            &program("sleep-ms"),
            &["300"],
            extra,
            &format!(
                "        resources:\n          limits:\n            example.com/gpu: {count}\n"
            ),
        )
    };
    apply(
        &s,
        &server,
        "gpu.yaml",
        &gpu("one-gpu", 1, "  completions: 3\n  parallelism: 3"),
    );
    let done = s.wait_finished(&server, "one-gpu");
    assert_eq!(done["status"]["succeeded"], 3, "{done}");
    // One GPU: never two at once.
    let runs = instances(&s, &server, "one-gpu");
    wasmjob_tests::assert_one_at_a_time(&runs);
    apply(&s, &server, "two.yaml", &gpu("two-gpus", 2, ""));
    std::thread::sleep(Duration::from_millis(400));
    let described = s.client(&server, &["describe", "job", "two-gpus"]).stdout;
    assert!(
        described.contains("FailedScheduling")
            && described.contains("0/1 nodes are available: 1 Insufficient example.com/gpu"),
        "{described}"
    );
    assert!(instances(&s, &server, "two-gpus").is_empty());
}

#[test]
fn bad_priority_classes_and_resources_are_refused_with_exit_2() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let cases = [
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: huge}\nvalue: 2000000000\n",
            "value: must be at most 1000000000",
        ),
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: system-mine}\nvalue: 1\n",
            "the system- prefix is reserved",
        ),
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: novalue}\n",
            "missing field `value`",
        ),
    ];
    for (yaml, expected) in cases {
        let path = s.write("bad.yaml", yaml);
        let ran = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 2, "{ran:?}");
        assert!(ran.stderr.contains(expected), "{expected}: {}", ran.stderr);
    }
    let fractional = job_yaml(
        "frac",
        &program("say-hello"),
        &[],
        "",
        "        resources:\n          limits:\n            example.com/gpu: 0.5\n",
    );
    let path = s.write("frac.yaml", &fractional);
    let ran = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("resources.limits[example.com/gpu]: must be a whole number"),
        "{}",
        ran.stderr
    );
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let gpu = job_yaml(
        "gpu",
        &program("say-hello"),
        &[],
        "",
        "        resources:\n          limits:\n            example.com/gpu: 1\n",
    );
    let path = s.write("gpu.yaml", &gpu);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("serve --resources"), "{}", ran.stderr);
    let serve = s.wasmjob(&["serve", "--resources", "gpu=1"]);
    assert_eq!(serve.code, 2, "{serve:?}");
    assert!(
        serve.stderr.contains("--resources \"gpu=1\""),
        "{}",
        serve.stderr
    );
}
