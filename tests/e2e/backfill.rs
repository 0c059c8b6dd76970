//! Backfill (issue 35): the runs of a CronJob's scheduled times in a past
//! range — a dry run first, then each time run once, a second backfill of
//! the same range running nothing, `--rerun all` replacing a time's Job,
//! and bad requests refused with the field named.

use wasmjob_tests::{Server, Session};

use super::schedules::{cronjob, decided_times};

fn at(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn a_backfill_runs_each_past_time_once_after_a_dry_run() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let now = jiff::Timestamp::now().as_microsecond() / 1_000_000 * 1_000_000;
    // Every 2 s; the range is before the CronJob existed: 6 times.
    let first = now - 30_000_000 - now % 2_000_000;
    let (from, to) = (at(first), at(first + 10_000_000));
    s.write(
        "tick.yaml",
        &cronjob("tick", "  schedule: \"*/2 * * * * *\"\n"),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "tick.yaml"]).code, 0);
    let backfill = |extra: &[&str]| {
        let mut args = vec!["cronjob", "backfill", "tick", "--from", &from, "--to", &to];
        args.extend(extra);
        s.client(&server, &args)
    };
    let dry = backfill(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let header = dry.stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("TIME ") && header.ends_with(" ACTION"),
        "{header}"
    );
    assert_eq!(dry.stdout.matches(" Run\n").count(), 6, "{}", dry.stdout);
    assert!(
        dry.stdout.ends_with("6 of 6 times would run (dry run)\n"),
        "{}",
        dry.stdout
    );
    let backfilled = |s: &Session| {
        let decided = decided_times(s, "tick");
        let past = decided
            .into_iter()
            .filter(|(t, _)| *t <= first + 10_000_000);
        past.collect::<Vec<_>>()
    };
    assert!(backfilled(&s).is_empty(), "a dry run runs nothing");

    let ran = backfill(&[]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout
            .ends_with("cronjob.batch/tick backfilling 6 times\n"),
        "{}",
        ran.stdout
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while backfilled(&s)
        .iter()
        .filter(|(_, job)| job.is_some())
        .count()
        < 6
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", backfilled(&s));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let times: Vec<i64> = backfilled(&s).iter().map(|(t, _)| *t).collect();
    let expected: Vec<i64> = (0..6).map(|i| first + i * 2_000_000).collect();
    assert_eq!(times, expected, "each time of the range once");
    // One at a time, in order (the CronJob has no cap).
    let created: Vec<i64> = backfilled(&s).iter().filter_map(|(_, c)| *c).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");

    // Again: everything ran already.
    let again = backfill(&[]);
    assert_eq!(
        again.stdout.matches(" AlreadyRun\n").count(),
        6,
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .ends_with("cronjob.batch/tick: nothing to backfill\n"),
        "{}",
        again.stdout
    );

    // --rerun all over one time: a new Job of the same name replaces it.
    let job_of = |s: &Session| {
        let db = s.db();
        let sql = "SELECT r.job_uid FROM cron_runs r JOIN objects c ON c.uid = r.cronjob_uid
                   WHERE c.name = 'tick' AND r.scheduled_time = ?1";
        db.query_row(sql, [first], |r| r.get::<_, String>(0))
            .unwrap()
    };
    let old = job_of(&s);
    let one = at(first);
    let rerun = s.client(
        &server,
        &[
            "cron", "backfill", "tick", "--from", &one, "--to", &one, "--rerun", "all",
        ],
    );
    assert!(rerun.stdout.contains(" Rerun\n"), "{rerun:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while job_of(&s) == old {
        assert!(std::time::Instant::now() < deadline, "never rerun");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let name = format!("tick-{}", first / 1_000_000);
    let finished = s.wait_finished(&server, &name);
    assert_eq!(finished["metadata"]["uid"], job_of(&s), "{finished}");
    let described = s.client(&server, &["describe", "cronjob", "tick"]);
    assert!(
        described.stdout.contains("Backfill") && described.stdout.contains("Rerun"),
        "{}",
        described.stdout
    );
}

#[test]
fn bad_backfills_name_what_is_wrong() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("tick.yaml", &cronjob("tick", "  schedule: \"@hourly\"\n"));
    assert_eq!(s.client(&server, &["apply", "-f", "tick.yaml"]).code, 0);
    let past = "2026-01-01T00:00:00Z";
    for (args, expected) in [
        (
            vec!["--from", past, "--to", "2999-01-01T00:00:00Z"],
            "to: is in the future",
        ),
        (
            vec!["--from", "2026-02-01T00:00:00Z", "--to", past],
            "to: is before from",
        ),
        (
            vec!["--from", "soon", "--to", past],
            "from: \"soon\" is not an RFC 3339 time",
        ),
        (
            vec!["--from", past, "--to", past, "--overlap", "CancelOther"],
            "overlap: CancelOther is not for a backfill: use BufferAll, Skip or AllowAll",
        ),
        (
            vec!["--from", past, "--to", past, "--rerun", "some"],
            "rerun: give none, failed or all",
        ),
        (
            vec![
                "--from",
                "2020-01-01T00:00:00Z",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "to: the range holds more than 10000 scheduled times: narrow it",
        ),
    ] {
        let mut all = vec!["cron", "backfill", "tick"];
        all.extend(args);
        let ran = s.client(&server, &all);
        assert_eq!(ran.code, 2, "{all:?}: {ran:?}");
        assert!(ran.stderr.contains(expected), "{all:?}: {}", ran.stderr);
    }
    let missing = s.client(
        &server,
        &["cron", "backfill", "nope", "--from", past, "--to", past],
    );
    assert!(
        missing.stderr.contains("cronjobs.batch \"nope\" not found"),
        "{missing:?}"
    );
}

#[test]
fn the_history_limits_prune_a_backfill_as_soon_as_it_ends() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let daily = cronjob("daily", "  schedule: \"@daily\"\n").replace(
        "successfulJobsHistoryLimit: 100",
        "successfulJobsHistoryLimit: 2",
    );
    s.write("daily.yaml", &daily);
    assert_eq!(s.client(&server, &["apply", "-f", "daily.yaml"]).code, 0);
    let day = 86_400_000_000;
    let today = jiff::Timestamp::now().as_microsecond() / day * day;
    let (from, to) = (at(today - 4 * day), at(today - 1));
    let ran = s.client(
        &server,
        &["cron", "backfill", "daily", "--from", &from, "--to", &to],
    );
    assert!(ran.stdout.ends_with("backfilling 4 times\n"), "{ran:?}");
    // Four run, one after another; the two oldest are pruned when the last
    // ends, not at tomorrow's run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let decided = decided_times(&s, "daily");
        let listed = s.client(&server, &["get", "jobs", "-o", "name"]);
        if decided.len() == 4 && listed.stdout.lines().count() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{decided:?}\n{}",
            listed.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
