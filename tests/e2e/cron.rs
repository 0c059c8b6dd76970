//! `wasmjob cron next` and schedule validation (issue 4, schedules).

use wasmjob_tests::{Session, dist};

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
