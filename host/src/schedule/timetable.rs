//! A CronJob's timetable: every schedule it has (`spec.schedule` and the
//! wasmjob extension `spec.schedules`, each in its own time zone), merged
//! — a time two schedules match is one scheduled time — and when each
//! scheduled time is due, later by its jitter (`spec.jitterSeconds`).
//!
//! A scheduled time stays what the exactly-once key, the Job's name and
//! its `cronjob-scheduled-timestamp` are made of; jitter only delays when
//! it starts. The delay is a hash of the CronJob's uid and the time, so
//! every node agrees on it and a restart does not move it.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Schedule, hash_of};
use crate::time::Micros;

/// Every schedule of one CronJob, and its jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timetable {
    entries: Vec<(Schedule, TimeZone)>,
    /// The largest delay, in microseconds (0: none).
    jitter: Micros,
    /// The CronJob's uid, which the delays are derived from.
    uid: String,
}

impl Timetable {
    /// The timetable of `entries`, delayed by up to `jitter_seconds`
    /// (derived from `uid`).
    pub fn new(entries: Vec<(Schedule, TimeZone)>, jitter_seconds: i64, uid: &str) -> Timetable {
        Timetable {
            entries,
            jitter: jitter_seconds.max(0) * 1_000_000,
            uid: uid.to_owned(),
        }
    }

    /// One schedule in one time zone, without jitter.
    pub fn single(schedule: Schedule, tz: TimeZone) -> Timetable {
        Timetable::new(vec![(schedule, tz)], 0, "")
    }

    /// Whether any schedule has second granularity (its Jobs are named by
    /// the second).
    pub fn has_seconds(&self) -> bool {
        self.entries.iter().any(|(s, _)| s.has_seconds())
    }

    /// The first scheduled time strictly after `after`, of any schedule.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter_map(|(schedule, tz)| schedule.next_after(after, tz))
            .min()
    }

    /// The next `n` scheduled times after `after`.
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut times = Vec::with_capacity(n);
        let mut at = after;
        while times.len() < n {
            let Some(t) = self.next_after(at) else { break };
            times.push(t);
            at = t;
        }
        times
    }

    /// When the scheduled time `scheduled` is due: with jitter, later by
    /// its own delay.
    pub fn due_at(&self, scheduled: Micros) -> Micros {
        scheduled + jitter(&self.uid, scheduled, self.jitter)
    }
}

/// The delay of the scheduled time `scheduled` of the CronJob `uid`, below
/// `most` microseconds (whole milliseconds, so a table of them reads well).
pub fn jitter(uid: &str, scheduled: Micros, most: Micros) -> Micros {
    let millis = most / 1_000;
    if millis <= 0 {
        return 0;
    }
    let hash = hash_of(&[uid, &scheduled.to_string()]);
    (hash % millis as u64) as Micros * 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn two_schedules_merge_and_a_time_both_match_is_one() {
        let table = Timetable::new(
            vec![
                (Schedule::parse("0 * * * *").unwrap(), TimeZone::UTC),
                (Schedule::parse("30 9 * * *").unwrap(), TimeZone::UTC),
                // 10:00 in Berlin (winter) is 09:00 UTC, which the first
                // schedule has too.
                (
                    Schedule::parse("0 10 * * *").unwrap(),
                    jiff::tz::db().get("Europe/Berlin").unwrap(),
                ),
            ],
            0,
            "uid",
        );
        let times: Vec<String> = table
            .upcoming(at("2026-12-06T08:45:00Z"), 4)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            times,
            [
                "2026-12-06T09:00:00Z",
                "2026-12-06T09:30:00Z",
                "2026-12-06T10:00:00Z",
                "2026-12-06T11:00:00Z"
            ]
        );
    }

    #[test]
    fn jitter_is_below_the_limit_the_same_everywhere_and_differs_by_time_and_cronjob() {
        let table = Timetable::new(
            vec![(Schedule::parse("* * * * *").unwrap(), TimeZone::UTC)],
            30,
            "uid-a",
        );
        let t = 1_800_000_000_000_000;
        let delay = table.due_at(t) - t;
        assert!((0..30_000_000).contains(&delay), "{delay}");
        // Another node (another Timetable of the same CronJob) agrees.
        let again = Timetable::new(Vec::new(), 30, "uid-a");
        assert_eq!(again.due_at(t), table.due_at(t));
        // Spread: over 1,000 times, delays cover the range evenly enough.
        let delays: Vec<Micros> = (0..1_000)
            .map(|i| jitter("uid-a", t + i * 60_000_000, 30_000_000))
            .collect();
        let early = delays.iter().filter(|d| **d < 15_000_000).count();
        assert!(
            (400..600).contains(&early),
            "{early} of 1000 in the first half"
        );
        assert_ne!(
            jitter("uid-b", t, 30_000_000),
            jitter("uid-a", t, 30_000_000)
        );
        assert_eq!(jitter("uid-a", t, 0), 0);
    }

    #[test]
    fn h_spreads_a_thousand_cronjobs_over_the_hour() {
        let mut per_minute = [0u32; 60];
        for i in 0..1_000 {
            let owner = format!("default/report-{i}");
            let schedule = Schedule::parse_for("H * * * *", &owner).unwrap();
            let next = schedule
                .next_after(at("2026-12-06T10:00:00Z"), &TimeZone::UTC)
                .unwrap();
            per_minute[(next.as_second() / 60 % 60) as usize] += 1;
            // The same owner always gets the same minute.
            let again = Schedule::parse_for("H * * * *", &owner).unwrap();
            assert_eq!(again, schedule);
        }
        // 1,000 over 60 minutes is 16.7 each; a fair hash stays near it.
        let (least, most) = (per_minute.iter().min(), per_minute.iter().max());
        assert!(
            *least.unwrap() >= 5 && *most.unwrap() <= 32,
            "{per_minute:?}"
        );
    }
}
