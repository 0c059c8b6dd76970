//! One test per CronJob rule, with an injected clock (microseconds).

use super::*;
use crate::manifest::ConcurrencyPolicy;
use crate::schedule::Schedule;
use crate::time::rfc3339;
use jiff::tz::TimeZone;

const MIN: Micros = 60_000_000;

fn spec(policy: ConcurrencyPolicy, deadline: Option<i64>) -> CronJobSpec {
    CronJobSpec {
        schedule: "* * * * *".into(),
        concurrency_policy: Some(policy),
        starting_deadline_seconds: deadline,
        ..CronJobSpec::default()
    }
}

fn every_minute() -> Schedule {
    Schedule::parse("* * * * *").unwrap()
}

fn decide(
    spec: &CronJobSpec,
    policy: MissedRunPolicy,
    observed: &Observed,
    now: Micros,
) -> Decision {
    let spec = CronJobSpec {
        missed_run_policy: Some(policy),
        ..spec.clone()
    };
    reconcile(
        &spec,
        &Timetable::single(every_minute(), TimeZone::UTC),
        observed,
        now,
    )
}

fn at_minute(created_min: i64, last: Option<i64>) -> Observed {
    Observed {
        created: created_min * MIN,
        last_schedule: last.map(|m| m * MIN),
        ..Observed::default()
    }
}

#[test]
fn a_due_time_starts_once_and_is_remembered() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let o = at_minute(10, None);
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN + 3_000);
    assert_eq!(d.start, [11 * MIN]);
    assert_eq!(d.last_schedule, Some(11 * MIN));
    assert_eq!(d.wake, Some(12 * MIN));
    // The same moment, seen again with the time recorded: nothing to do.
    let again = decide(
        &s,
        MissedRunPolicy::RunLatest,
        &at_minute(10, Some(11)),
        11 * MIN + 5_000,
    );
    assert!(again.start.is_empty());
}

#[test]
fn nothing_is_due_before_the_first_time() {
    let d = decide(
        &spec(ConcurrencyPolicy::Allow, None),
        MissedRunPolicy::RunLatest,
        &at_minute(10, None),
        10 * MIN + 30_000_000,
    );
    assert!(d.start.is_empty() && d.missed.is_empty());
    assert_eq!(d.wake, Some(11 * MIN));
}

#[test]
fn after_downtime_kubernetes_runs_only_the_latest_missed_time() {
    let d = decide(
        &spec(ConcurrencyPolicy::Allow, None),
        MissedRunPolicy::RunLatest,
        &at_minute(0, Some(10)),
        15 * MIN + 1,
    );
    assert_eq!(d.start, [15 * MIN]);
    assert_eq!(
        d.missed,
        (11..15)
            .map(|m| (m * MIN, Missed::Skipped))
            .collect::<Vec<_>>()
    );
    assert!(!d.too_many_missed);
}

#[test]
fn more_than_100_missed_times_warn() {
    let d = decide(
        &spec(ConcurrencyPolicy::Allow, None),
        MissedRunPolicy::RunLatest,
        &at_minute(0, Some(0)),
        102 * MIN,
    );
    assert!(d.too_many_missed);
    assert_eq!(d.start, [102 * MIN]);
}

#[test]
fn starting_deadline_misses_runs_that_are_too_late() {
    let s = spec(ConcurrencyPolicy::Allow, Some(90));
    let d = decide(
        &s,
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(10)),
        15 * MIN + 30_000_000,
    );
    assert_eq!(d.start, [14 * MIN, 15 * MIN], "within 90 s");
    assert_eq!(
        d.missed
            .iter()
            .filter(|(_, why)| *why == Missed::TooLate)
            .count(),
        3
    );
    let tight = spec(ConcurrencyPolicy::Allow, Some(30));
    let late = decide(
        &tight,
        MissedRunPolicy::RunLatest,
        &at_minute(0, Some(10)),
        11 * MIN + 45_000_000,
    );
    assert!(late.start.is_empty(), "45 s late with a 30 s deadline");
    assert_eq!(late.missed, [(11 * MIN, Missed::TooLate)]);
}

#[test]
fn run_all_is_capped() {
    let d = decide(
        &spec(ConcurrencyPolicy::Allow, None),
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(0)),
        80 * MIN,
    );
    assert_eq!(d.start.len(), RUN_ALL_CAP);
    assert_eq!(d.start.last(), Some(&(80 * MIN)));
    assert_eq!(d.missed.len(), 80 - RUN_ALL_CAP);
}

#[test]
fn skip_runs_only_what_is_due_now() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let d = decide(
        &s,
        MissedRunPolicy::Skip,
        &at_minute(0, Some(10)),
        15 * MIN + 1_000_000,
    );
    assert_eq!(d.start, [15 * MIN]);
    let stale = decide(
        &s,
        MissedRunPolicy::Skip,
        &at_minute(0, Some(10)),
        15 * MIN + 30_000_000,
    );
    assert!(stale.start.is_empty());
    assert_eq!(stale.missed.len(), 5);
}

#[test]
fn forbid_skips_while_a_run_is_active() {
    let s = spec(ConcurrencyPolicy::Forbid, None);
    let mut o = at_minute(0, Some(10));
    o.active = vec![("job-a".into(), 10 * MIN)];
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN);
    assert!(d.start.is_empty());
    assert_eq!(d.missed, [(11 * MIN, Missed::Forbidden)]);
    assert_eq!(
        d.last_schedule,
        Some(11 * MIN),
        "not run late when the active one ends"
    );
}

#[test]
fn replace_stops_the_active_runs_and_starts_the_new_one() {
    let s = spec(ConcurrencyPolicy::Replace, None);
    let mut o = at_minute(0, Some(10));
    o.active = vec![("job-a".into(), 10 * MIN)];
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN);
    assert_eq!(d.stop, ["job-a"]);
    assert_eq!(d.start, [11 * MIN]);
}

#[test]
fn suspended_cronjobs_start_nothing_and_keep_their_last_time() {
    let mut s = spec(ConcurrencyPolicy::Allow, None);
    s.suspend = Some(true);
    let d = decide(
        &s,
        MissedRunPolicy::RunLatest,
        &at_minute(0, Some(10)),
        15 * MIN,
    );
    assert!(d.start.is_empty());
    assert_eq!(d.last_schedule, Some(10 * MIN));
}

#[test]
fn history_limits_prune_the_oldest() {
    let run = |uid: &str, minute: i64, ok: bool| FinishedRun {
        uid: uid.into(),
        scheduled: minute * MIN,
        succeeded: ok,
    };
    let finished = [
        run("a", 1, true),
        run("b", 2, false),
        run("c", 3, true),
        run("d", 4, true),
        run("e", 5, false),
        run("f", 6, true),
    ];
    assert_eq!(prune(&finished, 3, 1), ["a", "b"]);
    assert_eq!(prune(&finished, 0, 0).len(), 6);
}

#[test]
fn job_names_use_unix_minutes_or_seconds() {
    let t = 1_795_000_020 * 1_000_000;
    assert_eq!(job_name("hello", t, false), "hello-29916667");
    assert_eq!(job_name("hello", t, true), "hello-1795000020");
}

#[test]
fn a_jittered_time_starts_at_its_delay_and_keeps_its_scheduled_time() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let table = Timetable::new(vec![(every_minute(), TimeZone::UTC)], 30, "cron-uid");
    let delay = table.due_at(11 * MIN) - 11 * MIN;
    assert!(delay > 0 && delay < 30_000_000, "{delay}");
    let o = at_minute(10, None);
    // Before its delay: not yet, and the controller wakes at the delay.
    let early = reconcile(&s, &table, &o, 11 * MIN + delay - 1);
    assert!(early.start.is_empty() && early.missed.is_empty());
    assert_eq!(early.wake, Some(11 * MIN + delay));
    assert_eq!(early.last_schedule, None);
    // At it: the scheduled time (the exactly-once key) starts.
    let due = reconcile(&s, &table, &o, 11 * MIN + delay);
    assert_eq!(due.start, [11 * MIN]);
    assert_eq!(due.wake, Some(table.due_at(12 * MIN)));
}

#[test]
fn deadlines_and_on_time_count_from_the_jittered_time() {
    let table = Timetable::new(vec![(every_minute(), TimeZone::UTC)], 50, "cron-uid");
    let delay = table.due_at(11 * MIN) - 11 * MIN;
    // A 5 s deadline, met 3 s after the delayed start however long the
    // delay.
    let s = spec(ConcurrencyPolicy::Allow, Some(5));
    let now = 11 * MIN + delay + 3_000_000;
    let d = reconcile(&s, &table, &at_minute(10, None), now);
    assert_eq!(d.start, [11 * MIN], "delay {delay}");
    let skip = CronJobSpec {
        missed_run_policy: Some(MissedRunPolicy::Skip),
        ..spec(ConcurrencyPolicy::Allow, None)
    };
    let d = reconcile(&skip, &table, &at_minute(10, None), now);
    assert_eq!(d.start, [11 * MIN]);
}

#[test]
fn two_schedules_matching_one_time_start_it_once() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let table = Timetable::new(
        vec![
            (Schedule::parse("*/2 * * * *").unwrap(), TimeZone::UTC),
            (Schedule::parse("*/3 * * * *").unwrap(), TimeZone::UTC),
        ],
        0,
        "",
    );
    let all = CronJobSpec {
        missed_run_policy: Some(MissedRunPolicy::RunAll),
        ..s
    };
    let d = reconcile(&all, &table, &at_minute(0, None), 6 * MIN);
    assert_eq!(d.start, [2 * MIN, 3 * MIN, 4 * MIN, 6 * MIN]);
    assert_eq!(d.wake, Some(8 * MIN));
}

#[test]
fn a_catchup_window_misses_what_is_older_and_runs_the_rest_by_policy() {
    let all = CronJobSpec {
        catchup_window_seconds: Some(3 * 60),
        ..spec(ConcurrencyPolicy::Allow, None)
    };
    // Down from minute 10 to just after minute 500: 490 times passed,
    // the last three within the window.
    let d = decide(
        &all,
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(10)),
        500 * MIN + 1,
    );
    assert_eq!(d.start, [498 * MIN, 499 * MIN, 500 * MIN]);
    let outside = d
        .missed
        .iter()
        .filter(|(_, why)| *why == Missed::OutsideCatchupWindow)
        .count();
    assert_eq!(outside, 487);
    // No cliff: the times outside the window are not "too many".
    assert!(!d.too_many_missed);
    // The edge: a time exactly as old as the window still runs.
    let d = decide(
        &all,
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(10)),
        14 * MIN,
    );
    assert_eq!(d.start, [11 * MIN, 12 * MIN, 13 * MIN, 14 * MIN]);
    let d = decide(
        &all,
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(10)),
        14 * MIN + 1,
    );
    assert_eq!(d.start, [12 * MIN, 13 * MIN, 14 * MIN]);
    assert_eq!(d.missed, [(11 * MIN, Missed::OutsideCatchupWindow)]);
    // Without the window, Kubernetes' count applies.
    let plain = decide(
        &spec(ConcurrencyPolicy::Allow, None),
        MissedRunPolicy::RunLatest,
        &at_minute(0, Some(10)),
        500 * MIN + 1,
    );
    assert!(plain.too_many_missed);
}

#[test]
fn start_and_end_time_bound_the_scheduled_times() {
    let at = |minute: i64| rfc3339(minute * MIN);
    let bounded = CronJobSpec {
        start_time: Some(at(20)),
        end_time: Some(at(22)),
        ..spec(ConcurrencyPolicy::Allow, None)
    };
    // Before startTime: nothing due, nothing missed; wake at the first.
    let d = decide(
        &bounded,
        MissedRunPolicy::RunAll,
        &at_minute(0, None),
        15 * MIN,
    );
    assert!(d.start.is_empty() && d.missed.is_empty(), "{d:?}");
    assert_eq!(d.wake, Some(20 * MIN));
    let d = decide(
        &bounded,
        MissedRunPolicy::RunAll,
        &at_minute(0, None),
        21 * MIN,
    );
    assert_eq!(d.start, [20 * MIN, 21 * MIN]);
    // After endTime: the last time runs, then nothing is waited for.
    let d = decide(
        &bounded,
        MissedRunPolicy::RunAll,
        &at_minute(0, Some(21)),
        30 * MIN,
    );
    assert_eq!(d.start, [22 * MIN]);
    assert_eq!(d.wake, None);
}

#[test]
fn remaining_runs_start_the_newest_and_then_none() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let mut o = at_minute(0, Some(10));
    o.remaining = Some(2);
    let d = decide(&s, MissedRunPolicy::RunAll, &o, 15 * MIN);
    assert_eq!(d.start, [14 * MIN, 15 * MIN]);
    assert_eq!(
        d.missed,
        (11..14)
            .map(|m| (m * MIN, Missed::Skipped))
            .collect::<Vec<_>>()
    );
    o.remaining = Some(0);
    let d = decide(&s, MissedRunPolicy::RunAll, &o, 15 * MIN);
    assert!(d.start.is_empty() && d.missed.is_empty());
    assert_eq!(d.last_schedule, Some(10 * MIN));
}

#[test]
fn a_time_to_skip_is_missed_and_the_rest_run() {
    let s = spec(ConcurrencyPolicy::Allow, None);
    let mut o = at_minute(10, None);
    o.skip = Some(11 * MIN);
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN + 1);
    assert!(d.start.is_empty());
    assert_eq!(d.missed, [(11 * MIN, Missed::SkipNext)]);
    assert_eq!(d.last_schedule, Some(11 * MIN));
    let mut later = at_minute(10, Some(11));
    later.skip = Some(11 * MIN);
    let d = decide(&s, MissedRunPolicy::RunLatest, &later, 12 * MIN + 1);
    assert_eq!(d.start, [12 * MIN]);
}

#[test]
fn a_buffered_time_starts_when_the_run_ends_with_nothing_due() {
    let s = CronJobSpec {
        overlap_policy: Some(crate::manifest::OverlapPolicy::BufferOne),
        ..spec(ConcurrencyPolicy::Allow, None)
    };
    // Minute 11 is due while minute 10's run is active: it waits.
    let mut o = at_minute(0, Some(10));
    o.active = vec![("job-a".into(), 10 * MIN)];
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN + 1);
    assert!(d.start.is_empty() && d.missed.is_empty());
    assert_eq!(d.buffered, [11 * MIN]);
    assert_eq!(d.last_schedule, Some(11 * MIN));
    // The run ends before minute 12: the waiting time starts at once.
    o.active.clear();
    o.last_schedule = Some(11 * MIN);
    o.buffered = d.buffered;
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 11 * MIN + 30_000_000);
    assert_eq!(d.start, [11 * MIN]);
    assert!(d.buffered.is_empty());
    // Suspended, a waiting time keeps waiting.
    let suspended = CronJobSpec {
        suspend: Some(true),
        ..s.clone()
    };
    let d = decide(&suspended, MissedRunPolicy::RunLatest, &o, 11 * MIN + 1);
    assert_eq!(d.buffered, [11 * MIN]);
    // Runs left bound what waits and what starts together.
    o.remaining = Some(1);
    o.active = vec![("job-b".into(), 11 * MIN)];
    let d = decide(&s, MissedRunPolicy::RunLatest, &o, 12 * MIN + 1);
    assert_eq!(d.buffered, [12 * MIN], "the newest of the two");
    assert_eq!(d.missed, [(11 * MIN, Missed::Skipped)]);
}
