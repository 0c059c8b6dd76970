//! `wasmjob cron next` and schedule validation (issue 4, schedules).

use wasmjob_tests::{Server, Session, dist, program};

#[test]
fn cron_next_prints_fire_times_in_utc_strictly_after() {
    let s = Session::new();
    let ran = s.wasmjob(&[
        "cron",
        "next",
        "30 2 * * *",
        "--time-zone",
        "America/New_York",
        "--after",
        "2026-03-07T00:00:00Z",
        "-n",
        "3",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // The 8th is spring-forward: 02:30 does not exist and fires at 03:00 EDT.
    assert_eq!(
        ran.stdout,
        "2026-03-07T07:30:00Z\n2026-03-08T07:00:00Z\n2026-03-09T06:30:00Z\n"
    );
    let default_count = s.wasmjob(&["cron", "next", "@hourly"]);
    assert_eq!(default_count.stdout.lines().count(), 5);
}

#[test]
fn an_invalid_schedule_exits_2_naming_the_field() {
    let s = Session::new();
    let ran = s.wasmjob(&["cron", "next", "0 25 * * *"]);
    assert_eq!(ran.code, 2);
    assert_eq!(
        ran.stderr,
        "error: invalid schedule \"0 25 * * *\": hour field \"25\": 25 is out of range 0-23\n"
    );
    let tz = s.wasmjob(&["cron", "next", "@daily", "--time-zone", "Mars/Olympus"]);
    assert_eq!(tz.code, 2);
    assert!(
        tz.stderr.contains("unknown time zone \"Mars/Olympus\""),
        "{}",
        tz.stderr
    );
}

#[test]
fn cronjob_manifests_are_checked_with_the_same_parser() {
    let s = Session::new();
    let manifest = |schedule: &str, zone: &str| {
        format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: hello\nspec:\n  schedule: \"{schedule}\"\n{zone}  \
             jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: hello\n            \
             image: {}\n          restartPolicy: OnFailure\n",
            dist("pi.wasm").display()
        )
    };
    s.write("cron.yaml", &manifest("*/1 * * * * * *", ""));
    let ran = s.wasmjob(&["run", "-f", "cron.yaml"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains("cron.yaml: document 1: spec.schedule: expected 5 fields"),
        "{}",
        ran.stderr
    );
    s.write(
        "cron.yaml",
        &manifest("@daily", "  timeZone: Nowhere/Land\n"),
    );
    let ran = s.wasmjob(&["run", "-f", "cron.yaml"]);
    assert!(
        ran.stderr
            .contains("spec.timeZone: unknown time zone \"Nowhere/Land\""),
        "{}",
        ran.stderr
    );
}

fn cronjob(
    name: &str,
    schedule: &str,
    image: &std::path::Path,
    args: &[&str],
    extra: &str,
) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: \"{schedule}\"\n{extra}  \
         jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            \
         image: {}\n            args: [{}]\n          restartPolicy: Never\n",
        image.display(),
        args.join(", ")
    )
}

/// (Job name, scheduled unix second) of every Job the CronJob ever made,
/// deleted ones included (the store keeps their history).
fn cron_jobs(s: &Session, cronjob: &str) -> Vec<(String, i64)> {
    let db = s.db();
    let mut stmt = db
        .prepare(
            "SELECT o.name, r.scheduled_time FROM cron_runs r JOIN objects o ON o.uid = r.job_uid
             JOIN objects c ON c.uid = r.cronjob_uid WHERE c.name = ?1 ORDER BY r.scheduled_time",
        )
        .unwrap();
    stmt.query_map([cronjob], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? / 1_000_000))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn a_two_second_cronjob_runs_every_two_seconds_and_keeps_its_history_limit() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "cron.yaml",
        &cronjob(
            "tick",
            "*/2 * * * * *",
            &dist("hello.wasm"),
            &[],
            "  successfulJobsHistoryLimit: 2\n",
        ),
    );
    assert_eq!(
        s.client(&server, &["apply", "-f", "cron.yaml"]).stdout,
        "cronjob.batch/tick created\n"
    );
    std::thread::sleep(std::time::Duration::from_millis(7_500));
    let made = cron_jobs(&s, "tick");
    assert!(made.len() >= 3, "{made:?}");
    for pair in made.windows(2) {
        assert_eq!(
            pair[1].1 - pair[0].1,
            2,
            "one run per scheduled time: {made:?}"
        );
    }
    for (name, secs) in &made {
        assert_eq!(name, &format!("tick-{secs}"), "named by scheduled second");
    }
    let live = s.client(&server, &["get", "jobs", "-o", "name"]);
    assert!(
        live.stdout.lines().count() <= 3,
        "history limit 2 (+1 running): {}",
        live.stdout
    );
    let cron = s.client(&server, &["get", "cronjobs"]);
    assert!(
        cron.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("tick   */2 * * * * *   <none>     False"),
        "{}",
        cron.stdout
    );
    let logs = s.client(
        &server,
        &["logs", &format!("job/{}", made.last().unwrap().0)],
    );
    assert!(logs.stdout.contains("Hello from wasmjob"), "{logs:?}");
}

#[test]
fn forbid_never_overlaps_a_run_longer_than_the_period() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let yaml = cronjob(
        "slow",
        "* * * * * *",
        &program("sleep-ms"),
        &["2500"],
        "  concurrencyPolicy: Forbid\n",
    );
    s.write("cron.yaml", &yaml);
    assert_eq!(s.client(&server, &["apply", "-f", "cron.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(6_500));
    let pods = s.client(&server, &["get", "pods", "-o", "json"]).json();
    let mut spans: Vec<(String, String)> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let st = &p["status"];
            (
                st["startTime"].as_str().unwrap().to_owned(),
                st["finishTime"].as_str().unwrap_or("9999").to_owned(),
            )
        })
        .collect();
    spans.sort();
    assert!(spans.len() >= 2, "{spans:?}");
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlap: {spans:?}");
    }
}

#[test]
fn a_server_killed_across_a_scheduled_time_runs_it_exactly_once_after_restart() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "cron.yaml",
        &cronjob(
            "once",
            "*/3 * * * * *",
            &dist("hello.wasm"),
            &[],
            "  successfulJobsHistoryLimit: 100\n",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "cron.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    server.crash();
    let before = cron_jobs(&s, "once");
    let last_before = before.last().expect("ran before the crash").1;
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let server = Server::start(&s, &[]);
    let restarted_at = jiff::Timestamp::now().as_second();
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    drop(server);
    let made = cron_jobs(&s, "once");
    let mut names: Vec<&str> = made.iter().map(|(n, _)| n.as_str()).collect();
    let total = names.len();
    names.dedup();
    assert_eq!(names.len(), total, "no scheduled time ran twice: {made:?}");
    // Times that passed while the node was down: each decided exactly once,
    // and (Kubernetes' RunLatest) the latest of them ran after the restart.
    let decided: Vec<(i64, Option<String>)> = {
        let db = s.db();
        let mut stmt = db
            .prepare("SELECT scheduled_time / 1000000, job_uid FROM cron_runs ORDER BY 1")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let gap: Vec<i64> = (last_before + 1..=restarted_at)
        .filter(|t| t % 3 == 0)
        .collect();
    assert!(!gap.is_empty(), "the node was down across a scheduled time");
    for t in &gap {
        assert_eq!(
            decided.iter().filter(|(secs, _)| secs == t).count(),
            1,
            "{t} decided once: {decided:?}"
        );
    }
    // The first run after the restart is the latest time due when the node
    // came back: one missed while down, or the one just due.
    let first_after = made
        .iter()
        .find(|(_, secs)| *secs > last_before)
        .expect("a run after the restart");
    assert!(
        first_after.1 <= restarted_at + 3,
        "{first_after:?} restarted at {restarted_at}: {made:?}"
    );
}

#[test]
fn the_seeds_cronjob_session_works_with_wasmjob_in_place_of_kubectl() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "cronjob.yaml",
        &cronjob("hello", "*/1 * * * *", &dist("hello.wasm"), &[], ""),
    );
    assert_eq!(
        s.client(&server, &["create", "-f", "cronjob.yaml"]).stdout,
        "cronjob.batch/hello created\n"
    );
    let got = s.client(&server, &["get", "cronjob", "hello"]);
    assert!(
        got.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("hello   */1 * * * *"),
        "{}",
        got.stdout
    );

    let described = s.client(&server, &["describe", "cronjob/hello"]);
    assert_eq!(described.code, 0, "{described:?}");
    let fires: Vec<&str> = described
        .stdout
        .lines()
        .skip_while(|l| *l != "Next Fire Times:")
        .skip(1)
        .take(5)
        .collect();
    assert_eq!(fires.len(), 5, "{}", described.stdout);
    assert!(
        fires.iter().all(|f| f.trim().ends_with(":00Z")),
        "every minute on the minute: {fires:?}"
    );

    let manual = s.client(
        &server,
        &["create", "job", "hello-manual", "--from=cronjob/hello"],
    );
    assert_eq!(
        manual.stdout, "job.batch/hello-manual created\n",
        "{manual:?}"
    );
    s.wait_finished(&server, "hello-manual");
    let pods = s.client(
        &server,
        &[
            "get",
            "pods",
            "--selector=job-name=hello-manual",
            "-o",
            "name",
        ],
    );
    let pod = pods.stdout.trim().replace("instance/", "");
    let logs = s.client(&server, &["logs", &pod]);
    assert!(logs.stdout.ends_with("Hello from wasmjob\n"), "{logs:?}");

    assert_eq!(
        s.client(&server, &["delete", "cronjob", "hello"]).stdout,
        "cronjob.batch \"hello\" deleted\n"
    );
    let left = s.client(&server, &["get", "cronjobs"]);
    assert!(left.stdout.is_empty(), "{left:?}");
}

/// A reader that goes away (`wasmjob cron next … | head -1`) ends the
/// command quietly with success, as kubectl does, not with a panic.
#[test]
fn output_to_a_reader_that_went_away_ends_quietly() {
    let mut child = std::process::Command::new(wasmjob_tests::binary())
        .args(["cron", "next", "* * * * * *", "--count", "5000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting wasmjob");
    // The read end closes before anything is read: the first write fails.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wasmjob ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
