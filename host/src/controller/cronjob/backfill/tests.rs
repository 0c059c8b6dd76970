//! The backfill rules, with an injected clock (microseconds).

use super::*;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;

const MIN: Micros = 60_000_000;

fn every_minute() -> Timetable {
    Timetable::single(Schedule::parse("* * * * *").unwrap(), TimeZone::UTC)
}

fn request(from: i64, to: i64) -> Request {
    let at = |m: i64| crate::time::rfc3339(m * MIN);
    Request {
        id: String::new(),
        from: at(from),
        to: at(to),
        overlap: None,
        rerun: Rerun::None,
    }
}

fn actions(
    runs: &[(i64, Option<&str>)],
    pending: &[i64],
    horizon: i64,
    rerun: Rerun,
) -> Vec<(i64, Action)> {
    let runs: Vec<(Micros, Option<String>)> = (runs.iter())
        .map(|(m, job)| (m * MIN, job.map(str::to_owned)))
        .collect();
    let pending: Vec<Micros> = pending.iter().map(|m| m * MIN).collect();
    let decided = Decided {
        runs: &runs,
        pending: &pending,
        horizon: horizon * MIN,
    };
    let state = |job: &str| match job {
        "ok" => RunState::Finished(true),
        "bad" => RunState::Finished(false),
        _ => RunState::Running,
    };
    let range = request(10, 16).range(100 * MIN).unwrap();
    let planned = plan(&every_minute(), range, &decided, rerun, state).unwrap();
    planned.into_iter().map(|(t, a)| (t / MIN, a)).collect()
}

#[test]
fn every_time_in_the_range_runs_once_and_what_ran_is_left() {
    let runs = [
        (11, Some("ok")),
        (12, None),
        (13, Some("bad")),
        (14, Some("live")),
    ];
    assert_eq!(
        actions(&runs, &[15], 15, Rerun::None),
        [
            (10, Action::Run),
            (11, Action::AlreadyRun),
            (12, Action::Run),
            (13, Action::AlreadyRun),
            (14, Action::Pending),
            (15, Action::Pending),
            (16, Action::Pending),
        ],
        "missed times run; buffered, running and the schedule's own times are left"
    );
}

#[test]
fn rerun_failed_or_all_replaces_the_jobs_that_ran() {
    let runs = [(11, Some("ok")), (13, Some("bad")), (14, Some("live"))];
    let failed = actions(&runs, &[], 16, Rerun::Failed);
    assert_eq!(failed[1], (11, Action::AlreadyRun));
    assert_eq!(failed[3], (13, Action::Rerun("bad".into())));
    let all = actions(&runs, &[], 16, Rerun::All);
    assert_eq!(all[1], (11, Action::Rerun("ok".into())));
    assert_eq!(all[3], (13, Action::Rerun("bad".into())));
    assert_eq!(all[4], (14, Action::Pending), "a running one never");
}

#[test]
fn a_request_names_what_is_wrong_with_it() {
    let now = 100 * MIN;
    let field = |r: Request| r.range(now).unwrap_err().field;
    assert_eq!(field(request(20, 10)), "to");
    assert_eq!(field(request(10, 200)), "to");
    let mut bad = request(10, 20);
    bad.from = "yesterday".into();
    assert_eq!(field(bad), "from");
    let mut overlap = request(10, 20);
    overlap.overlap = Some(OverlapPolicy::CancelOther);
    assert_eq!(field(overlap), "overlap");
    // More than MAX_BACKFILL times: refused, not cut short.
    let seconds = Timetable::single(Schedule::parse("* * * * * *").unwrap(), TimeZone::UTC);
    let decided = Decided {
        runs: &[],
        pending: &[],
        horizon: now,
    };
    let range = request(0, 1000).range(now * 20).unwrap();
    let refused = plan(&seconds, range, &decided, Rerun::None, |_| RunState::Gone);
    assert_eq!(refused.unwrap_err().field, "to");
}

#[test]
fn backfilled_runs_start_within_max_concurrent_runs_or_all_at_once() {
    let capped = CronJobSpec {
        max_concurrent_runs: Some(3),
        ..CronJobSpec::default()
    };
    assert_eq!(starts(&capped, 1, 10, OverlapPolicy::BufferAll), 2);
    assert_eq!(starts(&capped, 3, 10, OverlapPolicy::BufferAll), 0);
    assert_eq!(starts(&capped, 3, 10, OverlapPolicy::AllowAll), 10);
    // An uncapped CronJob backfills one at a time unless asked otherwise.
    let uncapped = CronJobSpec::default();
    assert_eq!(starts(&uncapped, 0, 10, OverlapPolicy::BufferAll), 1);
    assert_eq!(
        starts(&uncapped, 0, 500, OverlapPolicy::AllowAll),
        RUN_ALL_CAP
    );
}
