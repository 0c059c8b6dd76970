//! The crash soak (issue 10, "Crash safety"): `serve` running two Jobs of
//! 1,000 completions, a CronJob firing every second and a DaemonSet, killed
//! with SIGKILL at 20 random moments and restarted each time. Afterwards
//! nothing is lost or doubled: each Job has exactly its completions, each
//! scheduled second has exactly one decision (a Job while the node ran, a
//! recorded miss while it was down), the database is intact, and nothing is
//! left Running.
//!
//! `WASMJOB_SOAK_KILLS` changes the number of kills (default 20).

use std::time::{Duration, Instant};

use wasmjob_tests::{Server, Session, program};

const COMPLETIONS: u64 = 1000;

fn job(name: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  completions: {COMPLETIONS}
  parallelism: 4
  # A node killed under an instance is a disruption, not the program's
  # fault; any other failure fails the Job, and the test with it.
  backoffLimit: 0
  podFailurePolicy:
    rules:
    - action: Ignore
      onPodConditions:
      - type: DisruptionTarget
  template:
    spec:
      containers:
      - name: work
        image: {image}
        args: [\"120\"]
      restartPolicy: Never
",
        image = program("sleep-ms").display()
    )
}

fn others() -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: \"*/1 * * * * *\"
  successfulJobsHistoryLimit: 1000
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: {hello}
          restartPolicy: OnFailure
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: watcher
spec:
  selector:
    matchLabels:
      app: watcher
  template:
    metadata:
      labels:
        app: watcher
    spec:
      containers:
      - name: watch
        image: {sleep}
        args: [\"3600000\"]
",
        hello = program("say-hello").display(),
        sleep = program("sleep-ms").display(),
    )
}

/// A small deterministic generator, seeded from the clock and printed, so a
/// failing run can be replayed by reading the seed back.
struct Lcg(u64);

impl Lcg {
    fn next_millis(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

fn micros_now() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

#[test]
fn twenty_sigkills_lose_nothing_and_double_nothing() {
    let kills: usize = std::env::var("WASMJOB_SOAK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = micros_now() as u64;
    eprintln!("soak: {kills} kills, seed {seed}");
    let mut rng = Lcg(seed);
    let s = Session::new();
    let mut server = Server::start(&s, &[]);
    s.write("a.yaml", &job("soak-a"));
    s.write("b.yaml", &job("soak-b"));
    s.write("others.yaml", &others());
    for file in ["a.yaml", "b.yaml", "others.yaml"] {
        let ran = s.client(&server, &["apply", "-f", file]);
        assert_eq!(ran.code, 0, "{ran:?}");
    }
    // (up, down) in microseconds: the windows the node was running.
    let mut windows = Vec::new();
    let mut up = micros_now();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.next_millis(1500, 5000)));
        windows.push((up, micros_now()));
        server.crash();
        // Down for up to 2.5 s: long enough for scheduled seconds to pass
        // with no node, which the missed-run policy must record.
        std::thread::sleep(Duration::from_millis(rng.next_millis(0, 2500)));
        server = Server::start(&s, &[]);
        up = micros_now();
    }
    // Let the Jobs finish on the last run.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let ran = s.client(&server, &["get", "jobs", "-o", "json"]);
        let list = ran.json();
        let soak: Vec<&serde_json::Value> = list["items"]
            .as_array()
            .expect("a List")
            .iter()
            .filter(|j| j["metadata"]["name"].as_str().unwrap().starts_with("soak-"))
            .collect();
        let done = soak.len() == 2 && soak.iter().all(|j| j["status"]["succeeded"] == COMPLETIONS);
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the Jobs did not finish: {list}");
        std::thread::sleep(Duration::from_millis(500));
    }
    windows.push((up, micros_now()));
    assert_eq!(server.terminate(), 0);

    let db = s.db();
    // Every Job: exactly its completions, and every failure a disruption.
    for name in ["soak-a", "soak-b"] {
        let (succeeded, failed, other): (i64, i64, i64) = db
            .query_row(
                "SELECT count(*) FILTER (WHERE i.phase = 'Succeeded'),
                        count(*) FILTER (WHERE i.phase = 'Failed'),
                        count(*) FILTER (WHERE i.phase = 'Failed'
                                         AND i.reason NOT IN ('NodeRestart', 'NodeShutdown'))
                 FROM instances i JOIN objects o ON o.uid = i.owner_uid
                 WHERE o.kind = 'Job' AND o.name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(succeeded, COMPLETIONS as i64, "{name}: successes");
        if other > 0 {
            let mut stmt = db
                .prepare(
                    "SELECT i.name, i.reason, i.message FROM instances i
                     JOIN objects o ON o.uid = i.owner_uid
                     WHERE o.name = ?1 AND i.phase = 'Failed'
                       AND i.reason NOT IN ('NodeRestart', 'NodeShutdown')",
                )
                .unwrap();
            let rows: Vec<(String, String, Option<String>)> = stmt
                .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            panic!("{name}: failures other than the kills: {rows:?}");
        }
        eprintln!("soak: {name}: {succeeded} succeeded, {failed} lost to kills");
        let status: String = db
            .query_row(
                "SELECT status FROM objects WHERE kind = 'Job' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["succeeded"], COMPLETIONS, "{name}: {status}");
        assert!(
            status["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True"),
            "{name}: {status}"
        );
    }

    // The CronJob: one decision per scheduled second, from the first to the
    // last; never two Jobs for one time.
    let runs: Vec<(i64, Option<String>)> = {
        let mut stmt = db
            .prepare(
                "SELECT r.scheduled_time, r.job_uid FROM cron_runs r
                 JOIN objects o ON o.uid = r.cronjob_uid WHERE o.name = 'tick'
                 ORDER BY r.scheduled_time",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(runs.len() > 30, "{} runs", runs.len());
    let missed = runs.iter().filter(|(_, job)| job.is_none()).count();
    if kills >= 10 {
        assert!(missed > 0, "no time fell while the node was down");
    }
    for pair in runs.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            1_000_000,
            "every second between the first and the last run is decided once"
        );
    }
    let doubled: i64 = db
        .query_row(
            "SELECT count(*) FROM (
                 SELECT json_extract(manifest,
                     '$.metadata.annotations.\"batch.kubernetes.io/cronjob-scheduled-timestamp\"') AS t
                 FROM objects WHERE kind = 'Job' AND name LIKE 'tick-%'
                 GROUP BY t HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(doubled, 0, "a scheduled time got two Jobs");
    let jobs_made = runs.len() - missed;
    // Inside every window the node ran (a second after it started, to a
    // second before it was killed) each scheduled time got its Job.
    for (start, end) in &windows {
        for (time, job) in &runs {
            if *time > start + 1_500_000 && *time < end - 1_000_000 {
                assert!(job.is_some(), "{time}: missed while the node ran");
            }
        }
    }
    eprintln!(
        "soak: CronJob: {} scheduled seconds, {jobs_made} Jobs, {missed} recorded as missed",
        runs.len()
    );

    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let running: i64 = db
        .query_row(
            "SELECT count(*) FROM instances WHERE phase IN ('Running', 'Pending')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0, "instances left Running after the last shutdown");
}
