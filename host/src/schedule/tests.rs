//! Fire times pinned with a fixed clock: the OR rule, names, macros, leap
//! days, and daylight saving in America/New_York and Europe/Berlin.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn next(schedule: &str, after: &str, tz: &str, n: usize) -> Vec<String> {
    let tz = if tz == "UTC" {
        TimeZone::UTC
    } else {
        jiff::tz::db().get(tz).unwrap()
    };
    Schedule::parse(schedule)
        .unwrap()
        .upcoming(at(after), &tz, n)
        .into_iter()
        .map(|t| t.to_string())
        .collect()
}

#[test]
fn every_minute_is_strictly_after() {
    assert_eq!(
        next("*/1 * * * *", "2026-11-22T10:00:00Z", "UTC", 2),
        ["2026-11-22T10:01:00Z", "2026-11-22T10:02:00Z"]
    );
    assert_eq!(
        next("*/15 * * * *", "2026-11-22T10:07:30Z", "UTC", 1),
        ["2026-11-22T10:15:00Z"]
    );
}

#[test]
fn both_day_fields_restricted_fire_on_either() {
    // The 13th, or any Friday: 2026-11-13 is a Friday; the 20th and 27th are
    // Fridays; 2026-12-04 is a Friday.
    assert_eq!(
        next("0 0 13 * 5", "2026-11-01T00:00:00Z", "UTC", 4),
        [
            "2026-11-06T00:00:00Z",
            "2026-11-13T00:00:00Z",
            "2026-11-20T00:00:00Z",
            "2026-11-27T00:00:00Z"
        ]
    );
    // With a bare `*` in one of them, the other alone decides.
    assert_eq!(
        next("0 0 13 * *", "2026-11-01T00:00:00Z", "UTC", 1),
        ["2026-11-13T00:00:00Z"]
    );
    // `*/2` is not a bare star: OR applies.
    assert_eq!(
        next("0 0 */10 * MON", "2026-11-01T00:00:00Z", "UTC", 2),
        ["2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z"]
    );
}

#[test]
fn names_sunday_and_macros() {
    assert_eq!(
        next("0 9 * * sun", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2026-11-29T09:00:00Z"]
    );
    assert_eq!(
        next("0 9 * * 7", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2026-11-29T09:00:00Z"]
    );
    assert_eq!(
        next("@weekly", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2026-11-29T00:00:00Z"]
    );
    assert_eq!(
        next("@yearly", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2027-01-01T00:00:00Z"]
    );
    assert_eq!(
        next("@hourly", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2026-11-22T11:00:00Z"]
    );
    assert_eq!(
        next("0 0 1 JUN ?", "2026-11-22T10:00:00Z", "UTC", 1),
        ["2027-06-01T00:00:00Z"]
    );
}

#[test]
fn leap_days_fire_only_in_leap_years() {
    assert_eq!(
        next("0 0 29 2 *", "2026-01-01T00:00:00Z", "UTC", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
}

#[test]
fn impossible_dates_never_fire() {
    assert!(next("0 0 30 2 *", "2026-01-01T00:00:00Z", "UTC", 1).is_empty());
}

#[test]
fn six_fields_have_seconds_and_every_is_epoch_anchored() {
    assert_eq!(
        next("*/2 * * * * *", "2026-11-22T10:00:00.500Z", "UTC", 3),
        [
            "2026-11-22T10:00:02Z",
            "2026-11-22T10:00:04Z",
            "2026-11-22T10:00:06Z"
        ]
    );
    assert!(Schedule::parse("*/2 * * * * *").unwrap().has_seconds());
    assert!(!Schedule::parse("* * * * *").unwrap().has_seconds());
    assert_eq!(
        next("@every 90s", "2026-11-22T10:00:00Z", "UTC", 2),
        ["2026-11-22T10:01:30Z", "2026-11-22T10:03:00Z"]
    );
    assert_eq!(
        next("@every 1h", "2026-11-22T10:20:00Z", "UTC", 1),
        ["2026-11-22T11:00:00Z"]
    );
}

#[test]
fn time_zones_move_the_wall_clock() {
    // 09:00 in New York in November is 14:00 UTC (EST, -5).
    assert_eq!(
        next("0 9 * * *", "2026-11-22T00:00:00Z", "America/New_York", 1),
        ["2026-11-22T14:00:00Z"]
    );
    assert_eq!(
        next("0 9 * * *", "2026-11-22T00:00:00Z", "Europe/Berlin", 1),
        ["2026-11-22T08:00:00Z"]
    );
}

#[test]
fn a_wall_time_skipped_at_spring_forward_fires_once_when_the_gap_ends() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert_eq!(
        next("30 2 * * *", "2026-03-07T12:00:00Z", "America/New_York", 2),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
    );
    // Every minute of the missing hour maps to the same instant: one fire.
    let fires = next("* 2 * * *", "2026-03-08T06:58:00Z", "America/New_York", 2);
    assert_eq!(fires[0], "2026-03-08T07:00:00Z");
    assert_eq!(
        fires[1], "2026-03-09T06:00:00Z",
        "then 02:00 EDT (-4) the next day"
    );
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    assert_eq!(
        next("15 2 * * *", "2026-03-28T12:00:00Z", "Europe/Berlin", 1),
        ["2026-03-29T01:00:00Z"]
    );
}

#[test]
fn a_wall_time_repeated_at_fall_back_fires_once_at_its_first_occurrence() {
    // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens
    // at 05:30 UTC and again at 06:30 UTC. Only the first fires.
    assert_eq!(
        next("30 1 * * *", "2026-10-31T12:00:00Z", "America/New_York", 2),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
    // An every-15-minutes schedule through the repeated hour: no repeats.
    let fires = next(
        "*/15 1 * * *",
        "2026-11-01T05:00:00Z",
        "America/New_York",
        4,
    );
    assert_eq!(
        fires,
        [
            "2026-11-01T05:15:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T05:45:00Z",
            "2026-11-02T06:00:00Z"
        ]
    );
    // Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 first at 00:30 UTC.
    assert_eq!(
        next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin", 2),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
}

#[test]
fn bad_schedules_name_the_field_and_why() {
    let err = |s: &str| Schedule::parse(s).unwrap_err().to_string();
    assert_eq!(
        err("61 * * * *"),
        "invalid schedule \"61 * * * *\": minute field \"61\": 61 is out of range 0-59"
    );
    assert!(
        err("* * * *").contains("expected 5 fields"),
        "{}",
        err("* * * *")
    );
    assert!(err("* * * * funday").contains("day-of-week field \"funday\""));
    assert!(err("@often").contains("unknown macro"));
    assert!(err("@every 0s").contains("@every"));
    assert!(err("TZ=UTC * * * * *").contains("use timeZone field instead"));
    assert!(err("* 24 * * *").contains("hour field \"24\": 24 is out of range 0-23"));
}
