//! Work queues (issue 7): the seed's coarse-parallel (one item per instance,
//! on stdin) and fine-parallel (workers lease until empty) patterns on the
//! embedded queue, Redis and RabbitMQ, with failures and crashed workers.

use std::collections::BTreeMap;

use wasmjob_tests::{
    AMQP_URL, Proxy, REDIS_URL, Server, Session, amqp_count, amqp_delete, amqp_publish, dist,
    items, redis_int, redis_rpush, repo, service, unique,
};

pub(crate) const EIGHT: [&str; 8] = [
    "apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon",
];
pub(crate) const NINE: [&str; 9] = [
    "apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon", "orange",
];

/// A Job of `plugin` consuming `queue` (a `queue:` block, indented).
pub(crate) fn queue_job(
    name: &str,
    plugin: &str,
    args: &[&str],
    spec: &str,
    queue: &str,
) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  backoffPolicy:
    initialDelaySeconds: 0
  queue:
{queue}
  template:
    spec:
      containers:
      - name: c
        image: {image}
        args: [{args}]
      restartPolicy: Never
",
        image = dist(plugin).display(),
        args = args.join(", "),
    )
}

/// How many times each line `<prefix><item>` appears in the Job's logs.
pub(crate) fn processed(s: &Session, job: &str, prefix: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for (_, _, text) in s.logs(job) {
        for line in text.lines() {
            if let Some(item) = line.strip_prefix(prefix) {
                *seen.entry(item.to_owned()).or_default() += 1;
            }
        }
    }
    seen
}

pub(crate) fn once_each(items: &[&str]) -> BTreeMap<String, usize> {
    items.iter().map(|i| (i.to_string(), 1)).collect()
}

/// `wasmjob queue push QUEUE ITEMS…`, which must succeed.
pub(crate) fn push(s: &Session, queue: &str, items: &[&str]) {
    let mut args = vec!["queue", "push", queue];
    args.extend(items);
    let ran = s.wasmjob(&args);
    assert_eq!(ran.code, 0, "{ran:?}");
}

/// The message of the first instance recorded.
fn first_message(s: &Session) -> String {
    s.db()
        .query_row(
            "SELECT message FROM instances ORDER BY created_at LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn run(s: &Session, yaml: &str) -> (i32, serde_json::Value) {
    let (code, list) = s.run_json(yaml);
    let job = items(&list, "Job")[0].clone();
    (code, job)
}

#[test]
fn the_coarse_example_processes_each_of_eight_items_once_on_the_embedded_queue() {
    let s = Session::new();
    push(&s, "job1", &EIGHT);
    let manifest = repo().join("examples/wq-coarse-job.yaml");
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(processed(&s, "job-wq-1", "Processing "), once_each(&EIGHT));
    let stats = s.wasmjob(&["queue", "stats", "job1", "-o", "json"]).json();
    assert_eq!(
        (stats["waiting"].as_u64(), stats["leased"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn the_fine_example_drains_nine_items_with_two_workers_on_the_embedded_queue() {
    let s = Session::new();
    push(&s, "job2", &NINE);
    let manifest = repo().join("examples/wq-fine-job.yaml");
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let job = items(&ran.json(), "Job")[0].clone();
    assert_eq!(job["status"]["succeeded"], 2, "both workers succeed: {job}");
    assert_eq!(processed(&s, "job-wq-2", "Working on "), once_each(&NINE));
    let logs = s.logs("job-wq-2");
    assert!(
        logs.iter()
            .all(|(_, _, t)| t.contains("Queue empty, exiting")),
        "{logs:?}"
    );
}

#[test]
fn an_item_whose_instance_fails_goes_back_and_is_processed_by_the_retry() {
    let s = Session::new();
    let queue = unique("fail");
    push(&s, &queue, &EIGHT);
    let yaml = queue_job(
        "fails-once",
        "wq-coarse.wasm",
        &["--fail-once-on", "cherry"],
        "  completions: 8\n  parallelism: 2",
        &format!("    name: {queue}"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"]["failed"], 1, "{job}");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    assert_eq!(
        processed(&s, "fails-once", "Processing "),
        once_each(&EIGHT)
    );
    let stats = s.wasmjob(&["queue", "stats", &queue, "-o", "json"]).json();
    assert_eq!(stats["waiting"], 0, "{stats}");
}

#[test]
fn without_completions_a_stdin_queue_job_runs_until_the_queue_is_empty() {
    let s = Session::new();
    let queue = unique("drain");
    push(&s, &queue, &NINE);
    let yaml = queue_job(
        "drain",
        "wq-coarse.wasm",
        &[],
        "  parallelism: 3",
        &format!("    name: {queue}"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"]["succeeded"], 9, "{job}");
    assert_eq!(processed(&s, "drain", "Processing "), once_each(&NINE));
}

#[test]
fn a_worker_that_crashes_holding_a_lease_loses_nothing() {
    let s = Session::new();
    let queue = unique("crash");
    push(&s, &queue, &NINE);
    let yaml = queue_job(
        "crashy",
        "wq-fine.wasm",
        &["--lease", "1", "--die-holding", "cherry", "--work-ms", "50"],
        "  parallelism: 2",
        &format!("    name: {queue}\n    mode: lease"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert!(job["status"]["failed"].as_u64() >= Some(1), "{job}");
    assert_eq!(processed(&s, "crashy", "Working on "), once_each(&NINE));
    let crashed = s
        .logs("crashy")
        .iter()
        .any(|(_, _, t)| t.contains("Crashing while holding cherry"));
    assert!(crashed, "the first attempt crashed holding cherry");
}

#[test]
fn the_seeds_nine_fruits_through_redis_with_two_fine_workers() {
    if !service("Redis", "127.0.0.1:6379") {
        return;
    }
    let s = Session::new();
    let list = unique("job2");
    redis_rpush(&list, &NINE);
    let yaml = queue_job(
        "redis-fine",
        "wq-fine.wasm",
        &["--lease", "10"],
        "  parallelism: 2",
        &format!("    url: {REDIS_URL}\n    name: {list}\n    mode: lease"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"]["conditions"][1]["type"], "Complete", "{job}");
    assert_eq!(processed(&s, "redis-fine", "Working on "), once_each(&NINE));
    assert_eq!(redis_int(&["LLEN", &list]), 0);
    assert_eq!(redis_int(&["LLEN", &format!("{list}:processing")]), 0);
}

#[test]
fn a_redis_worker_that_crashes_holding_a_lease_loses_nothing() {
    if !service("Redis", "127.0.0.1:6379") {
        return;
    }
    let s = Session::new();
    let list = unique("crash");
    redis_rpush(&list, &NINE);
    let yaml = queue_job(
        "redis-crash",
        "wq-fine.wasm",
        &["--lease", "1", "--die-holding", "date", "--work-ms", "50"],
        "  parallelism: 2",
        &format!("    url: {REDIS_URL}\n    name: {list}\n    mode: lease"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert_eq!(
        processed(&s, "redis-crash", "Working on "),
        once_each(&NINE)
    );
    assert_eq!(redis_int(&["LLEN", &list]), 0);
}

#[test]
fn a_broker_that_goes_away_mid_job_fails_instances_which_retry_and_lose_nothing() {
    if !service("Redis", "127.0.0.1:6379") {
        return;
    }
    let s = Session::new();
    let list = unique("outage");
    let fruits: Vec<String> = (0..60).map(|i| format!("fruit-{i:02}")).collect();
    let fruit_refs: Vec<&str> = fruits.iter().map(String::as_str).collect();
    redis_rpush(&list, &fruit_refs);
    let proxy = Proxy::start("127.0.0.1:6379");
    let url = format!("redis://{}", proxy.address);
    // Retries a second or two apart, so the Job outlives a 2 s outage.
    let yaml = queue_job(
        "outage",
        "wq-fine.wasm",
        &["--lease", "2", "--work-ms", "50"],
        "  parallelism: 2\n  backoffLimit: 10",
        &format!("    url: {url}\n    name: {list}\n    mode: lease"),
    )
    .replace(
        "initialDelaySeconds: 0",
        "initialDelaySeconds: 1\n    maxDelaySeconds: 2",
    );
    let outage = std::thread::scope(|scope| {
        let cutter = scope.spawn(|| {
            // Cut once the workers are well into the list.
            let start = std::time::Instant::now();
            while redis_int(&["LLEN", &list]) > 45 {
                assert!(start.elapsed().as_secs() < 60, "the workers never started");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            proxy.cut();
            std::thread::sleep(std::time::Duration::from_secs(2));
            proxy.restore();
        });
        let ran = run(&s, &yaml);
        cutter.join().expect("the outage thread");
        ran
    });
    let (code, job) = outage;
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"]["conditions"][1]["type"], "Complete", "{job}");
    assert!(
        job["status"]["failed"].as_u64() >= Some(1),
        "the outage failed instances: {job}"
    );
    // At least once: an item whose completion the outage cut off is worked
    // on again after its lease expires; none is lost.
    let seen = processed(&s, "outage", "Working on ");
    let expected: std::collections::BTreeSet<String> = fruits.iter().cloned().collect();
    assert_eq!(
        seen.keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    assert_eq!(redis_int(&["LLEN", &list]), 0);
    assert_eq!(redis_int(&["LLEN", &format!("{list}:processing")]), 0);
    let named = s
        .logs("outage")
        .iter()
        .any(|(_, _, text)| text.contains(&proxy.address));
    assert!(named, "a failed attempt's log names the broker it lost");
}

#[test]
fn the_seeds_eight_fruits_through_rabbitmq_one_per_instance() {
    if !service("RabbitMQ", "127.0.0.1:5672") {
        return;
    }
    let s = Session::new();
    let queue = unique("job1");
    assert_eq!(amqp_publish(&queue, &EIGHT), 8);
    let yaml = queue_job(
        "amqp-coarse",
        "wq-coarse.wasm",
        &["--fail-once-on", "grape"],
        "  completions: 8\n  parallelism: 2",
        &format!("    url: {AMQP_URL}\n    name: {queue}"),
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 0, "{job}");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    assert_eq!(
        job["status"]["failed"], 1,
        "grape failed once and was requeued: {job}"
    );
    assert_eq!(
        processed(&s, "amqp-coarse", "Processing "),
        once_each(&EIGHT)
    );
    assert_eq!(amqp_count(&queue), 0, "every message acked");
    amqp_delete(&queue);
}

#[test]
fn a_missing_rabbitmq_queue_fails_the_instances_with_its_name() {
    if !service("RabbitMQ", "127.0.0.1:5672") {
        return;
    }
    let s = Session::new();
    let queue = unique("never-declared");
    let yaml = queue_job(
        "amqp-missing",
        "wq-coarse.wasm",
        &[],
        "  completions: 1\n  backoffLimit: 0",
        &format!("    url: {AMQP_URL}\n    name: {queue}"),
    );
    let (code, _) = run(&s, &yaml);
    assert_eq!(code, 1);
    let message = first_message(&s);
    assert!(
        message.contains(&queue) && message.contains("does not exist"),
        "{message}"
    );
    assert!(
        !message.contains("guest:guest"),
        "the password is hidden: {message}"
    );
}

#[test]
fn an_unreachable_broker_fails_the_job_naming_the_url() {
    let s = Session::new();
    let yaml = queue_job(
        "no-broker",
        "wq-fine.wasm",
        &[],
        "  completions: 1\n  backoffLimit: 1",
        "    url: redis://127.0.0.1:1\n    name: jobs\n    mode: lease",
    );
    let (code, job) = run(&s, &yaml);
    assert_eq!(code, 1, "{job}");
    assert_eq!(
        job["status"]["failed"], 2,
        "each attempt fails, then the Job: {job}"
    );
    let message = first_message(&s);
    assert!(
        message.contains("cannot reach the queue broker at redis://127.0.0.1:1"),
        "{message}"
    );
}

#[test]
fn a_bad_queue_url_is_refused_at_apply() {
    let s = Session::new();
    let yaml = queue_job(
        "bad-url",
        "wq-fine.wasm",
        &[],
        "  completions: 1",
        "    url: kafka://127.0.0.1\n    name: jobs",
    );
    let path = s.write("bad.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("spec.queue.url"), "{}", ran.stderr);
    assert_eq!(s.store_counts(), (0, 0));
}

#[test]
fn queue_commands_push_list_count_and_purge() {
    let s = Session::new();
    let file = s.write("items.txt", "kiwi\n\nlime\nmango\n");
    let pushed = s.wasmjob(&["queue", "push", "fruit", "-f", file.to_str().unwrap()]);
    assert_eq!(
        pushed.stdout, "pushed 3 items to queue fruit\n",
        "{pushed:?}"
    );
    let ls = s.wasmjob(&["queue", "ls"]);
    assert!(ls.stdout.contains("fruit   3         0"), "{}", ls.stdout);
    let purged = s.wasmjob(&["queue", "purge", "fruit"]);
    assert_eq!(purged.stdout, "purged 3 items from queue fruit\n");
    let empty = s.wasmjob(&["queue", "push", "fruit"]);
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(empty.stderr.contains("nothing to push"), "{}", empty.stderr);
}

#[test]
fn a_node_killed_mid_queue_loses_no_item_and_doubles_no_success() {
    let s = Session::new();
    let queue = unique("crash-node");
    let fruits: Vec<String> = (1..=16).map(|i| format!("fruit-{i}")).collect();
    let names: Vec<&str> = fruits.iter().map(String::as_str).collect();
    push(&s, &queue, &names);
    let yaml = queue_job(
        "survivor",
        "wq-coarse.wasm",
        &["--work-ms", "150"],
        "  parallelism: 2",
        &format!("    name: {queue}"),
    );
    let manifest = s.write("survivor.yaml", &yaml);

    let server = Server::start(&s, &[]);
    let applied = s.client(&server, &["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let succeeded = || -> i64 {
        s.db()
            .query_row(
                "SELECT count(*) FROM instances WHERE phase = 'Succeeded'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while succeeded() < 4 {
        assert!(
            started.elapsed().as_secs() < 30,
            "no progress before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.crash();

    let server = Server::start(&s, &[]);
    let job = s.wait_finished(&server, "survivor");
    assert_eq!(job["status"]["succeeded"], 16, "{job}");
    assert_eq!(processed(&s, "survivor", "Processing "), once_each(&names));
    let stats = s.wasmjob(&["queue", "stats", &queue, "-o", "json"]).json();
    assert_eq!(
        (stats["waiting"].as_u64(), stats["leased"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn an_item_too_large_for_stdin_fails_its_instance_saying_so() {
    let s = Session::new();
    let queue = unique("big");
    let big = s.write("big.txt", &format!("{}\n", "x".repeat(9 << 20)));
    assert_eq!(
        s.wasmjob(&["queue", "push", &queue, "-f", big.to_str().unwrap()])
            .code,
        0
    );
    let yaml = queue_job(
        "too-big",
        "wq-coarse.wasm",
        &[],
        "  completions: 1\n  backoffLimit: 0",
        &format!("    name: {queue}"),
    );
    let (code, _) = run(&s, &yaml);
    assert_eq!(code, 1);
    let message = first_message(&s);
    assert!(
        message.contains("the queue item is 9437184 bytes, more than the 8 MiB"),
        "{message}"
    );
    let stats = s.wasmjob(&["queue", "stats", &queue, "-o", "json"]).json();
    assert_eq!(
        stats["waiting"], 1,
        "the item is back in the queue: {stats}"
    );
}
