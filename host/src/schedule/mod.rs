//! Cron schedules as Kubernetes reads them (robfig/cron's standard parser):
//! five fields, `*`, lists, ranges, steps, names, `?`, the `@yearly`…`@hourly`
//! macros, and — when both day fields are restricted — a day matching
//! **either** fires, as in Vixie cron. Beyond Kubernetes: an optional leading
//! seconds field, and `@every <duration>`.
//!
//! Fire times are computed on the wall clock of a time zone (UTC unless the
//! CronJob says otherwise). Daylight saving, decided here once:
//! - a wall time skipped by spring-forward fires once, at the first instant
//!   after the gap (02:30 on a night that jumps from 02:00 to 03:00 fires at
//!   03:00);
//! - a wall time repeated by fall-back fires once, at its first occurrence
//!   (Kubernetes runs it twice).
//!
//! `@every` intervals are anchored at the Unix epoch, so every node and every
//! restart agrees on the fire times (`@every 1h` fires on the hour, UTC).
//!
//! `H` in a field (Jenkins' hash) is a value picked by the hash of the
//! schedule's owner (`namespace/name`), the same on every node and after
//! every restart. A CronJob's schedules, their time zones and its jitter
//! together are its [`Timetable`].

mod field;
mod timetable;

pub use timetable::{Timetable, jitter};

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan as _};

use self::field::{DAY_OF_MONTH, DAY_OF_WEEK, Field, HOUR, MINUTE, MONTH, SECOND};

/// The time zone a schedule's `timeZone` names: UTC without one, none for
/// a name the time zone database does not know.
pub fn time_zone(name: Option<&str>) -> Option<TimeZone> {
    match name {
        None => Some(TimeZone::UTC),
        Some(name) => jiff::tz::db().get(name).ok(),
    }
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Fields(Fields),
    /// Seconds between fires.
    Every(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    seconds: Option<Field>,
    minute: Field,
    hour: Field,
    day_of_month: Field,
    month: Field,
    day_of_week: Field,
}

/// A schedule that does not parse: which part, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {text:?}: {problem}")]
pub struct ScheduleError {
    /// The schedule as given.
    pub text: String,
    /// What is wrong, naming the field.
    pub problem: String,
}

/// How far ahead a schedule is searched before it is declared never to fire
/// (`0 0 30 2 *` — February 30th — never does).
const SEARCH_YEARS: i16 = 8;

impl Schedule {
    /// Parses a schedule whose `H` fields belong to no one in particular
    /// (for checking that it parses).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_for(text, "")
    }

    /// Parses the schedule of `owner` (`namespace/name`): its `H` fields
    /// pick by the owner's hash, one hash per field.
    pub fn parse_for(text: &str, owner: &str) -> Result<Schedule, ScheduleError> {
        let fail = |problem: String| ScheduleError {
            text: text.to_owned(),
            problem,
        };
        let trimmed = text.trim();
        if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
            return Err(fail(
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into(),
            ));
        }
        if let Some(rest) = trimmed.strip_prefix("@every") {
            let secs = parse_every(rest.trim()).map_err(fail)?;
            return Ok(Schedule {
                kind: Kind::Every(secs),
            });
        }
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            m if m.starts_with('@') => {
                return Err(fail(format!(
                    "unknown macro {trimmed:?}: use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"
                )));
            }
            _ => trimmed,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => (None, &parts[..]),
            6 => (Some(parts[0]), &parts[1..]),
            n => {
                return Err(fail(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), or 6 with a leading seconds field, got {n}"
                )));
            }
        };
        let field = |spec: &field::Spec, text: &str| {
            spec.parse(text, hash_of(&[owner, spec.name]))
                .map_err(|why| fail(format!("{} field {text:?}: {why}", spec.name)))
        };
        let fields = Fields {
            seconds: seconds.map(|s| field(&SECOND, s)).transpose()?,
            minute: field(&MINUTE, rest[0])?,
            hour: field(&HOUR, rest[1])?,
            day_of_month: field(&DAY_OF_MONTH, rest[2])?,
            month: field(&MONTH, rest[3])?,
            day_of_week: field(&DAY_OF_WEEK, rest[4])?,
        };
        Ok(Schedule {
            kind: Kind::Fields(fields),
        })
    }

    /// Whether the schedule has second granularity (a seconds field or
    /// `@every`): Jobs it creates are named by seconds rather than minutes.
    pub fn has_seconds(&self) -> bool {
        match &self.kind {
            Kind::Fields(f) => f.seconds.is_some(),
            Kind::Every(_) => true,
        }
    }

    /// The first fire time strictly after `after`, on the wall clock of `tz`.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(secs) => {
                let n = after.as_second().div_euclid(*secs) + 1;
                Timestamp::from_second(n * secs).ok()
            }
            Kind::Fields(fields) => fields.next_after(after, tz),
        }
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, after: Timestamp, tz: &TimeZone, n: usize) -> Vec<Timestamp> {
        let mut times = Vec::with_capacity(n);
        let mut at = after;
        while times.len() < n {
            match self.next_after(at, tz) {
                Some(t) => {
                    times.push(t);
                    at = t;
                }
                None => break,
            }
        }
        times
    }
}

/// A hash of `parts` that every node and release computes alike.
fn hash_of(parts: &[&str]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// `@every` durations: `90s`, `5m`, `1h30m`, `2h`; at least one second.
fn parse_every(text: &str) -> Result<i64, String> {
    let bad = || format!("@every {text:?}: expected a duration such as 90s, 5m or 1h30m");
    let mut total = 0i64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !number.is_empty() || total < 1 {
        return Err(bad());
    }
    Ok(total)
}

impl Fields {
    fn day_matches(&self, dt: DateTime) -> bool {
        let dom = self.day_of_month.contains(dt.day() as u32);
        let dow = self
            .day_of_week
            .contains(dt.weekday().to_sunday_zero_offset() as u32);
        // Vixie cron and Kubernetes: if either field is a bare `*`, both must
        // match (one trivially does); if both are restricted, either may.
        if self.day_of_month.star || self.day_of_week.star {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let step = if self.seconds.is_some() {
            1.second()
        } else {
            1.minute()
        };
        let start = tz.to_datetime(after);
        let start = start.with().subsec_nanosecond(0).build().ok()?;
        let mut dt = if self.seconds.is_some() {
            start
        } else {
            start.with().second(0).build().ok()?
        };
        dt = dt.checked_add(step).ok()?;
        let limit = start.year() + SEARCH_YEARS;
        while dt.year() <= limit {
            if let Some(next) = self.skip(dt)? {
                dt = next;
                continue;
            }
            let instant = resolve(tz, dt);
            if instant > after {
                return Some(instant);
            }
            // A wall time that maps to an instant already past: the rest of a
            // DST gap (all fired at its end) or the repeat of a folded hour.
            dt = dt.checked_add(step).ok()?;
        }
        None
    }

    /// Where the search goes from `dt`: `Some(None)` when every field
    /// matches it; otherwise the first wall time after the unit that does
    /// not match (the next month, day, hour, minute or second); `None` past
    /// the calendar's end.
    fn skip(&self, dt: DateTime) -> Option<Option<DateTime>> {
        let midnight = jiff::civil::Time::midnight();
        if !self.month.contains(dt.month() as u32) {
            let month = dt.date().first_of_month().checked_add(1.month()).ok()?;
            return Some(Some(month.to_datetime(midnight)));
        }
        if !self.day_matches(dt) {
            let day = dt.date().checked_add(1.day()).ok()?;
            return Some(Some(day.to_datetime(midnight)));
        }
        if !self.hour.contains(dt.hour() as u32) {
            let hour = dt.with().minute(0).second(0).build().ok()?;
            return Some(Some(hour.checked_add(1.hour()).ok()?));
        }
        if !self.minute.contains(dt.minute() as u32) {
            let minute = dt.with().second(0).build().ok()?;
            return Some(Some(minute.checked_add(1.minute()).ok()?));
        }
        if let Some(seconds) = &self.seconds
            && !seconds.contains(dt.second() as u32)
        {
            return Some(Some(dt.checked_add(1.second()).ok()?));
        }
        Some(None)
    }
}

/// The instant a matching wall time fires at, by the rules in the module doc.
fn resolve(tz: &TimeZone, dt: DateTime) -> Timestamp {
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).expect("in range"),
        // Both offsets of a fold are valid; the earlier instant is the first
        // occurrence.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).expect("in range"),
        // Read with the later offset, the wall time lands before the gap; the
        // first transition after that is where the gap ends.
        AmbiguousOffset::Gap { after, .. } => {
            let early = after.to_timestamp(dt).expect("in range");
            tz.following(early)
                .next()
                .map(|t| t.timestamp())
                .unwrap_or(early)
        }
    }
}

#[cfg(test)]
mod tests;
