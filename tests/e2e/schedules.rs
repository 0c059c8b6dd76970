//! Schedules beyond Kubernetes (issue 35): several schedules on one
//! CronJob, each in its own time zone, merged so a time two match runs
//! once; jitter that delays each run by a delay every node derives alike;
//! and Jenkins' `H`. Six-field (seconds) schedules, so they run in seconds.

use wasmjob_tests::{Server, Session, dist};

pub(crate) fn cronjob(name: &str, schedule_lines: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n{schedule_lines}  \
         successfulJobsHistoryLimit: 100\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          \
         containers:\n          - name: main\n            image: {}\n          restartPolicy: Never\n",
        dist("hello.wasm").display()
    )
}

/// [`cronjob`] running the test program `program` with one argument, and
/// `job_lines` added to the Job spec.
fn cronjob_running(
    (name, schedule_lines): (&str, &str),
    (program, arg): (&str, &str),
    job_lines: &str,
) -> String {
    cronjob(name, schedule_lines)
        .replace(
            &dist("hello.wasm").display().to_string(),
            &wasmjob_tests::program(program).display().to_string(),
        )
        .replace(
            "          restartPolicy: Never\n",
            &format!("            args: [\"{arg}\"]\n          restartPolicy: Never\n{job_lines}"),
        )
}

/// Every decided time of the CronJob, in order: (scheduled, when its Job
/// was created — none for a time recorded as missed), in microseconds.
pub(crate) fn decided_times(s: &Session, cronjob: &str) -> Vec<(i64, Option<i64>)> {
    let db = s.db();
    let mut stmt = db
        .prepare(
            "SELECT r.scheduled_time, o.created_at FROM cron_runs r
             LEFT JOIN objects o ON o.uid = r.job_uid
             JOIN objects c ON c.uid = r.cronjob_uid WHERE c.name = ?1 ORDER BY r.scheduled_time",
        )
        .unwrap();
    stmt.query_map([cronjob], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// (scheduled, created) in microseconds of every Job the CronJob made.
fn runs(s: &Session, cronjob: &str) -> Vec<(i64, i64)> {
    let made = decided_times(s, cronjob).into_iter();
    made.filter_map(|(t, created)| Some((t, created?)))
        .collect()
}

#[test]
fn two_schedules_fire_and_a_time_both_match_runs_once() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    // Every 4th and every 6th second: 0, 4, 6, 8, 12, … — 0, 12, 24, 36
    // and 48 are both's.
    let lines = "  schedules:\n  - \"*/4 * * * * *\"\n  - schedule: \"*/6 * * * * *\"\n    \
                 timeZone: Asia/Tokyo\n";
    s.write("two.yaml", &cronjob("two", lines));
    assert_eq!(s.client(&server, &["apply", "-f", "two.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(13_000));
    let seconds: Vec<i64> = runs(&s, "two").iter().map(|r| r.0 / 1_000_000).collect();
    assert!(seconds.len() >= 4, "{seconds:?}");
    let scheduled = |t: i64| (t % 60) % 4 == 0 || (t % 60) % 6 == 0;
    let (first, last) = (seconds[0], *seconds.last().unwrap());
    let expected: Vec<i64> = (first..=last).filter(|t| scheduled(*t)).collect();
    assert_eq!(seconds, expected, "each scheduled time once, none missing");
    assert!(
        seconds.iter().any(|t| t % 4 != 0) && seconds.iter().any(|t| t % 6 != 0),
        "both schedules fired: {seconds:?}"
    );
    let listed = s.client(&server, &["get", "cronjobs"]);
    assert!(
        listed
            .stdout
            .contains("*/4 * * * * *, */6 * * * * * (Asia/Tokyo)"),
        "{}",
        listed.stdout
    );
}

#[test]
fn jitter_delays_each_run_but_not_its_scheduled_time() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let lines = "  schedule: \"*/2 * * * * *\"\n  jitterSeconds: 1\n";
    s.write("jittery.yaml", &cronjob("jittery", lines));
    assert_eq!(s.client(&server, &["apply", "-f", "jittery.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(11_000));
    let made = runs(&s, "jittery");
    assert!(made.len() >= 3, "{made:?}");
    let delays: Vec<i64> = made.iter().map(|(t, created)| created - t).collect();
    for ((scheduled, _), delay) in made.iter().zip(&delays) {
        assert_eq!(
            scheduled % 2_000_000,
            0,
            "scheduled on the schedule: {made:?}"
        );
        // Up to the second of jitter, and the node's reaction on top.
        assert!((0..1_500_000).contains(delay), "{delays:?}");
    }
    // Without jitter a run starts within milliseconds; a uniform delay
    // below a second is rarely that short every time.
    assert!(delays.iter().any(|d| *d > 150_000), "{delays:?}");
    let described = s.client(&server, &["describe", "cronjob", "jittery"]);
    assert!(
        described.stdout.contains("each run starts up to 1s later"),
        "{}",
        described.stdout
    );
}

#[test]
fn h_picks_one_second_for_a_cronjob_and_describe_agrees() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "hashed.yaml",
        &cronjob("hashed", "  schedule: \"H/3 * * * * *\"\n"),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "hashed.yaml"]).code, 0);
    let described = s.client(&server, &["describe", "cronjob", "hashed"]);
    let next: Vec<i64> = described
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Next Fire Times:"))
        .skip(1)
        .take(5)
        .map(|l| l.trim().parse::<jiff::Timestamp>().unwrap().as_second())
        .collect();
    assert_eq!(next.len(), 5, "{}", described.stdout);
    let offset = next[0] % 60 % 3;
    std::thread::sleep(std::time::Duration::from_millis(7_000));
    let seconds: Vec<i64> = runs(&s, "hashed").iter().map(|r| r.0 / 1_000_000).collect();
    assert!(seconds.len() >= 2, "{seconds:?}");
    for t in seconds.iter().chain(&next) {
        assert_eq!(
            t % 60 % 3,
            offset,
            "every time at the same offset: {seconds:?} {next:?}"
        );
    }
}

/// Every decided time of the CronJob: (scheduled second, whether it ran).
fn decided(s: &Session, cronjob: &str) -> Vec<(i64, bool)> {
    let all = decided_times(s, cronjob).into_iter();
    all.map(|(t, created)| (t / 1_000_000, created.is_some()))
        .collect()
}

#[test]
fn after_an_outage_only_the_catchup_window_runs() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let lines = "  schedule: \"* * * * * *\"\n  catchupWindowSeconds: 3\n  \
                 missedRunPolicy: RunAll\n";
    s.write("catchup.yaml", &cronjob("catchup", lines));
    assert_eq!(s.client(&server, &["apply", "-f", "catchup.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    server.crash();
    let down = decided(&s, "catchup")
        .last()
        .map(|d| d.0)
        .expect("ran before");
    std::thread::sleep(std::time::Duration::from_millis(9_000));
    let server = Server::start(&s, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    drop(server);
    let after: Vec<(i64, bool)> = decided(&s, "catchup")
        .into_iter()
        .filter(|d| d.0 > down)
        .collect();
    // Every second of the outage is decided once: the older ones missed,
    // the last (at most the window's 3, and at least one) run.
    let seconds: Vec<i64> = after.iter().map(|d| d.0).collect();
    let expected: Vec<i64> = (down + 1..=*seconds.last().unwrap()).collect();
    assert_eq!(seconds, expected, "{after:?}");
    let restart = after.iter().position(|d| d.1).expect("some ran");
    assert!(restart >= 5, "the outage's old times are missed: {after:?}");
    assert!(after[restart..].iter().all(|d| d.1), "{after:?}");
    assert!(after[..restart].iter().all(|d| !d.1), "{after:?}");
}

#[test]
fn remaining_runs_count_down_and_start_time_holds_the_first() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let start = start.round(jiff::Unit::Second).unwrap();
    let lines =
        format!("  schedule: \"* * * * * *\"\n  startTime: \"{start}\"\n  remainingRuns: 2\n");
    s.write("counted.yaml", &cronjob("counted", &lines));
    assert_eq!(s.client(&server, &["apply", "-f", "counted.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(7_000));
    let seconds: Vec<i64> = runs(&s, "counted")
        .iter()
        .map(|r| r.0 / 1_000_000)
        .collect();
    assert_eq!(seconds.len(), 2, "{seconds:?}");
    assert!(
        seconds[0] >= start.as_second(),
        "{seconds:?} before {start}"
    );
    let left = s.client(
        &server,
        &[
            "get",
            "cj",
            "counted",
            "-o",
            "jsonpath={.status.remainingRuns}",
        ],
    );
    assert_eq!(left.stdout, "0");
    let described = s.client(&server, &["describe", "cronjob", "counted"]);
    assert!(
        described.stdout.contains("Remaining Runs:"),
        "{}",
        described.stdout
    );
    // A new count: one more run, then none, across a restart.
    let patched = s.client(
        &server,
        &[
            "patch",
            "cj",
            "counted",
            "-p",
            r#"{"spec":{"remainingRuns":1}}"#,
        ],
    );
    assert_eq!(patched.code, 0, "{patched:?}");
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    drop(server);
    let server = Server::start(&s, &[]);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    assert_eq!(runs(&s, "counted").len(), 3, "{:?}", runs(&s, "counted"));
    drop(server);
}

#[test]
fn a_failed_run_pauses_with_a_note_and_pause_and_resume_say_why() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let failing = cronjob_running(
        (
            "flaky",
            "  schedule: \"* * * * * *\"\n  pauseOnFailure: true\n",
        ),
        ("exit-code", "3"),
        "      backoffLimit: 0\n",
    );
    s.write("flaky.yaml", &failing);
    let applied = s.client(&server, &["apply", "-f", "flaky.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let suspend = |name: &str| {
        let listed = s.client(&server, &["get", "cronjob", name]);
        let row = listed.stdout.lines().nth(1).unwrap_or_default().to_owned();
        row.split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .nth(3)
            .unwrap_or_default()
            .to_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !suspend("flaky").starts_with("True (paused: the run of ") {
        assert!(
            std::time::Instant::now() < deadline,
            "never paused: {}",
            suspend("flaky")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        suspend("flaky").ends_with("failed (pauseOnFailure))"),
        "{}",
        suspend("flaky")
    );
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    let ran = runs(&s, "flaky").len();
    assert!(
        (1..=2).contains(&ran),
        "paused after the first failure: {ran}"
    );
    let events = s.client(&server, &["describe", "cronjob", "flaky"]);
    assert!(
        events.stdout.contains("Pause Note:") && events.stdout.contains("Paused"),
        "{}",
        events.stdout
    );
    // Resumed, it runs again (and, failing, pauses again).
    let resumed = s.client(&server, &["cron", "resume", "flaky"]);
    assert_eq!(
        resumed.stdout, "cronjob.batch/flaky resumed\n",
        "{resumed:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while runs(&s, "flaky").len() == ran {
        assert!(std::time::Instant::now() < deadline, "never ran again");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Paused by hand, with a note, it runs nothing until resumed.
    s.write(
        "tick.yaml",
        &cronjob("tick", "  schedule: \"* * * * * *\"\n"),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "tick.yaml"]).code, 0);
    let paused = s.client(
        &server,
        &["cronjob", "pause", "tick", "--note", "moving the disk"],
    );
    assert_eq!(paused.stdout, "cronjob.batch/tick paused\n", "{paused:?}");
    assert_eq!(suspend("tick"), "True (moving the disk)");
    let before = runs(&s, "tick").len();
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    assert_eq!(runs(&s, "tick").len(), before, "no run while paused");
    let described = s.client(&server, &["describe", "cronjob", "tick"]);
    assert!(
        described.stdout.contains("moving the disk"),
        "{}",
        described.stdout
    );
    s.client(&server, &["cron", "resume", "tick"]);
    assert_eq!(suspend("tick"), "False");
    let refused = s.client(&server, &["cron", "resume", "tick", "--note", "x"]);
    assert_eq!(refused.code, 2, "{refused:?}");
}

#[test]
fn trigger_runs_now_and_skip_next_passes_over_the_next_time() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "every4.yaml",
        &cronjob("every4", "  schedule: \"*/4 * * * * *\"\n"),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "every4.yaml"]).code, 0);
    // Right after a run, so the next time is seconds away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while runs(&s, "every4").is_empty() {
        assert!(std::time::Instant::now() < deadline, "never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let triggered = s.client(&server, &["cronjob", "trigger", "every4", "--skip-next"]);
    assert_eq!(triggered.code, 0, "{triggered:?}");
    let lines: Vec<&str> = triggered.stdout.lines().collect();
    assert!(
        lines[0].starts_with("job.batch/every4-manual-") && lines[0].ends_with(" created"),
        "{lines:?}"
    );
    let skipped: jiff::Timestamp = lines[1]
        .strip_prefix("cronjob.batch/every4 skips ")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .parse()
        .unwrap();
    let skipped = skipped.as_microsecond();
    let manual = lines[0]
        .trim_start_matches("job.batch/")
        .trim_end_matches(" created");
    let waited = s.client(
        &server,
        &[
            "wait",
            "--for=condition=complete",
            &format!("job/{manual}"),
            "--timeout=30s",
        ],
    );
    assert_eq!(waited.code, 0, "{waited:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !runs(&s, "every4").iter().any(|r| r.0 > skipped) {
        assert!(
            std::time::Instant::now() < deadline,
            "no run after the skipped time"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let decided = decided_times(&s, "every4");
    let at = decided
        .iter()
        .find(|d| d.0 == skipped)
        .unwrap_or_else(|| panic!("{decided:?}"));
    assert_eq!(
        at.1, None,
        "the skipped time is recorded as missed: {decided:?}"
    );
}

#[test]
fn buffer_one_holds_one_run_while_a_long_run_goes_on() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    // A run every 2 s that takes 4.5 s: the next time waits for it, the
    // one after finds the buffer full.
    let long = cronjob_running(
        (
            "long",
            "  schedule: \"*/2 * * * * *\"\n  overlapPolicy: BufferOne\n",
        ),
        ("sleep-ms", "4500"),
        "",
    );
    s.write("long.yaml", &long);
    assert_eq!(s.client(&server, &["apply", "-f", "long.yaml"]).code, 0);
    let buffered = || {
        let got = s.client(&server, &["get", "cronjob", "long", "-o", "json"]);
        let cron: serde_json::Value = serde_json::from_str(&got.stdout).unwrap_or_default();
        cron["status"]["bufferedTimes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut most = 0;
    while runs(&s, "long").len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            decided_times(&s, "long")
        );
        most = most.max(buffered().len());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(most, 1, "one time waits in status.bufferedTimes");
    let made = runs(&s, "long");
    assert_eq!(
        made[1].0 - made[0].0,
        2_000_000,
        "the time due during the first run is the one that waited: {made:?}"
    );
    for pair in made.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            (4_400_000..5_500_000).contains(&gap),
            "a buffered run starts as the one before ends, never beside it: {made:?}"
        );
    }
    let decided = decided_times(&s, "long");
    assert!(
        decided.iter().any(|(_, job)| job.is_none()),
        "a time that found the buffer full is recorded as missed: {decided:?}"
    );
    let described = s.client(&server, &["describe", "cronjob", "long"]);
    assert!(
        described.stdout.contains("(BufferFull)"),
        "{}",
        described.stdout
    );
}

#[test]
fn bad_schedules_and_jitter_name_their_field() {
    let s = Session::new();
    for (lines, expected) in [
        (
            "  schedules:\n  - \"*/5 * * * *\"\n  - \"61 * * * *\"\n",
            "spec.schedules[1].schedule: minute field \"61\": 61 is out of range 0-59",
        ),
        (
            "  schedules:\n  - schedule: \"@daily\"\n    timeZone: Mars/Olympus\n",
            "spec.schedules[0].timeZone: unknown time zone \"Mars/Olympus\"",
        ),
        (
            "  schedules:\n  - schedule: \"@daily\"\n    tz: UTC\n",
            "spec.schedules[0].tz: unknown field, expected `schedule` or `timeZone`",
        ),
        (
            "  schedules:\n  - 5\n",
            "spec.schedules[0]: invalid type: integer `5`, expected a schedule such as",
        ),
        (
            "  schedule: \"@hourly\"\n  jitterSeconds: -1\n",
            "spec.jitterSeconds",
        ),
        (
            "  schedule: \"H(30-10) * * * *\"\n",
            "spec.schedule: minute field \"H(30-10)\": range \"H(30-10)\" runs backwards",
        ),
        ("  timeZone: UTC\n", "spec.schedule: is required"),
        (
            "  schedule: \"@hourly\"\n  catchupWindowSeconds: -5\n",
            "spec.catchupWindowSeconds: must be >= 0, got -5",
        ),
        (
            "  schedule: \"@hourly\"\n  remainingRuns: -1\n",
            "spec.remainingRuns: must be >= 0, got -1",
        ),
        (
            "  schedule: \"@hourly\"\n  startTime: soon\n",
            "spec.startTime: \"soon\" is not an RFC 3339 time",
        ),
        (
            "  schedule: \"@hourly\"\n  startTime: \"2027-01-02T00:00:00Z\"\n  endTime: \"2027-01-01T00:00:00Z\"\n",
            "spec.endTime: is before spec.startTime",
        ),
        (
            "  schedule: \"@hourly\"\n  maxConcurrentRuns: 0\n",
            "spec.maxConcurrentRuns: is 0: give 1 or more",
        ),
        (
            "  schedule: \"@hourly\"\n  overlapPolicy: Queue\n",
            "spec.overlapPolicy: unknown variant `Queue`, expected one of `Skip`, `BufferOne`",
        ),
    ] {
        s.write("bad.yaml", &cronjob("bad", lines));
        let ran = s.wasmjob(&["run", "-f", "bad.yaml"]);
        assert_eq!(ran.code, 2, "{lines}: {ran:?}");
        assert!(
            ran.stderr.contains(expected) && ran.stderr.contains("bad.yaml: document 1"),
            "{lines}: {}",
            ran.stderr
        );
    }
    // startAfter: an RFC 3339 time, on a Job only.
    let cron = cronjob("bad", "  schedule: \"@hourly\"\n").replace(
        "    spec:\n      template:",
        "    spec:\n      startAfter: \"2027-01-01T00:00:00Z\"\n      template:",
    );
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\nspec:\n  startAfter: tomorrow\n  \
         template:\n    spec:\n      containers:\n      - name: main\n        image: {}\n",
        dist("hello.wasm").display()
    );
    let chained = cronjob("bad", "  schedule: \"@hourly\"\n").replace(
        "    spec:\n      template:",
        "    spec:\n      dependsOn:\n      - name: other\n      template:",
    );
    for (yaml, expected) in [
        (cron, "spec.jobTemplate.spec.startAfter: is for Jobs"),
        (
            chained,
            "spec.jobTemplate.spec.dependsOn: is for Jobs: a CronJob's runs depend only on their schedule",
        ),
        (
            job,
            "spec.startAfter: \"tomorrow\" is not an RFC 3339 time such as 2026-12-24T18:00:00Z",
        ),
    ] {
        s.write("bad.yaml", &yaml);
        let ran = s.wasmjob(&["run", "-f", "bad.yaml"]);
        assert_eq!(ran.code, 2, "{ran:?}");
        assert!(ran.stderr.contains(expected), "{}", ran.stderr);
    }
}
