//! `wasi:keyvalue` through the real binary: a CronJob's runs share one
//! bucket, each run counts once, and what they keep survives a restart of
//! the node; with a Redis named, two nodes share the Job's buckets.

use wasmjob_tests::{REDIS_URL, Server, Session, dist, job_yaml, redis_int, repo, service, unique};

/// Every line the `cursor` runs printed, Job by Job.
fn lines(s: &Session, server: &Server) -> Vec<String> {
    let jobs = s.client(server, &["get", "jobs", "-o", "name"]);
    let mut lines = Vec::new();
    for job in jobs.stdout.lines() {
        let name = job.trim_start_matches("job.batch/");
        let logs = s.client(server, &["logs", &format!("job/{name}")]);
        lines.extend(logs.stdout.lines().map(str::to_owned));
    }
    lines
}

/// The numbers the runs printed (`run N: …`), in order.
fn runs(s: &Session, server: &Server) -> Vec<u64> {
    let mut runs: Vec<u64> = (lines(s, server).iter())
        .filter_map(|l| l.strip_prefix("run ")?.split(':').next()?.parse().ok())
        .collect();
    runs.sort_unstable();
    runs
}

/// Waits until the runs printed number at least `count`.
fn wait_for_runs(s: &Session, server: &Server, count: usize) -> Vec<u64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let seen = runs(s, server);
        if seen.len() >= count {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs so far: {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_cronjobs_runs_keep_a_counter_that_survives_a_restart() {
    let s = Session::new();
    let yaml = std::fs::read_to_string(repo().join("examples/cursor-cronjob.yaml"))
        .unwrap()
        .replace(
            "\"* * * * *\"",
            "\"*/2 * * * * *\"\n  successfulJobsHistoryLimit: 100",
        )
        .replace(
            "../dist/cursor.wasm",
            &dist("cursor.wasm").display().to_string(),
        );
    let path = s.write("cursor.yaml", &yaml);
    let server = Server::start(&s, &[]);
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let before = wait_for_runs(&s, &server, 2);
    let printed = lines(&s, &server);
    assert!(
        printed.contains(&"run 1: the first run".to_owned()),
        "{printed:?}"
    );
    // The second run read the first one's scheduled time.
    assert!(
        printed
            .iter()
            .any(|l| l.starts_with("run 2: the last run stopped at 20")),
        "{printed:?}"
    );
    assert_eq!(server.terminate(), 0);

    // The node comes back: the count goes on from where it was.
    let server = Server::start(&s, &[]);
    let after = wait_for_runs(&s, &server, before.len() + 2);
    s.client(&server, &["delete", "cronjob", "cursor"]);
    // Each run counted once: 1, 2, 3, … with no number twice or missing.
    let expected: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, expected);
}

#[test]
fn with_a_redis_named_two_nodes_count_in_the_same_bucket() {
    if !service("Redis", "127.0.0.1:6379") {
        return;
    }
    let name = unique("kv");
    let annotated = |yaml: String| {
        yaml.replace(
            "  template:\n    spec:",
            &format!(
                "  template:\n    metadata:\n      annotations:\n        \
                 wasmjob.dev/keyvalue-url: {REDIS_URL}\n    spec:"
            ),
        )
    };
    let job = annotated(job_yaml(&name, &dist("cursor.wasm"), &[], "", ""));
    // Two nodes of their own (two state directories), one run each.
    let mut printed = Vec::new();
    for _ in 0..2 {
        let s = Session::new();
        let path = s.write("job.yaml", &job);
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 0, "{ran:?}");
        printed.push(ran.stdout);
    }
    assert!(printed[0].contains("run 1: the first run"), "{printed:?}");
    assert!(
        printed[1].contains("run 2: the last run stopped at run 1"),
        "{printed:?}"
    );
    let runs = format!("wasmjob:kv:Job/default/{name}:default:runs");
    assert_eq!(redis_int(&["GET", &runs]), 2);
    redis_int(&[
        "DEL",
        &runs,
        &format!("wasmjob:kv:Job/default/{name}:default:cursor"),
    ]);
    redis_int(&[
        "DEL",
        &format!("wasmjob:kv-keys:Job/default/{name}:default"),
    ]);
}
