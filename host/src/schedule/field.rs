//! One field of a cron expression: `*`, `?`, lists, ranges, steps and names,
//! parsed into the set of values it allows; and Jenkins' hash `H` — a value
//! of the field's range picked by the schedule's owner's hash, so many
//! CronJobs written `H * * * *` fire at different minutes (`H/15`,
//! `H(0-29)` and `H(0-29)/10` as in Jenkins).

/// The allowed values of a field, as a bit set, and whether it was written as
/// a bare `*`/`?` (which matters for the day-of-month/day-of-week rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Bit `n` set: value `n` matches.
    pub bits: u64,
    /// The field was `*` or `?` (no step).
    pub star: bool,
}

impl Field {
    /// Whether `value` matches.
    pub fn contains(&self, value: u32) -> bool {
        self.bits & (1 << value) != 0
    }
}

/// The rules of one field position.
pub struct Spec {
    /// The field's name in messages.
    pub name: &'static str,
    /// Smallest value.
    pub min: u32,
    /// Largest value.
    pub max: u32,
    /// Accepted names, lowercase, for `min`, `min + 1`, …
    pub names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Seconds (the optional sixth field).
pub const SECOND: Spec = Spec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
/// Minutes.
pub const MINUTE: Spec = Spec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
/// Hours.
pub const HOUR: Spec = Spec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
/// Day of month.
pub const DAY_OF_MONTH: Spec = Spec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
/// Month, 1–12 or JAN–DEC.
pub const MONTH: Spec = Spec {
    name: "month",
    min: 1,
    max: 12,
    names: MONTHS,
};
/// Day of week, 0–6 from Sunday (7 is Sunday too) or SUN–SAT.
pub const DAY_OF_WEEK: Spec = Spec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: DAYS,
};

impl Spec {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(self.min + i as u32);
        }
        let n: u32 = text.parse().map_err(|_| {
            if self.names.is_empty() {
                format!("{text:?} is not a number")
            } else {
                format!(
                    "{text:?} is neither a number nor a name such as {}",
                    self.names[0].to_ascii_uppercase()
                )
            }
        })?;
        if n < self.min || n > self.max {
            return Err(format!("{n} is out of range {}-{}", self.min, self.max));
        }
        Ok(n)
    }

    /// The range `H` picks from: a day of the month only up to the 28th
    /// (every month has it), a day of the week 0–6.
    fn hash_range(&self) -> (u32, u32) {
        match self.name {
            "day-of-month" => (1, 28),
            "day-of-week" => (0, 6),
            _ => (self.min, self.max),
        }
    }

    /// `H` or `H(a-b)`, with its step if any: the first value and the last
    /// the field then takes, `hash` picking within the range (or within
    /// the first step).
    fn hashed(&self, range: &str, step: Option<u32>, hash: u64) -> Result<(u32, u32), String> {
        let (low, high) = match range.strip_prefix('H') {
            Some("") => self.hash_range(),
            Some(inner) => {
                let bounds = inner
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|r| r.split_once('-'))
                    .ok_or_else(|| format!("{range:?}: write H, H(a-b), H/n or H(a-b)/n"))?;
                let (a, b) = (self.value(bounds.0)?, self.value(bounds.1)?);
                if a > b {
                    return Err(format!("range {range:?} runs backwards"));
                }
                (a, b)
            }
            None => unreachable!("called for H only"),
        };
        let span = u64::from(high - low + 1);
        Ok(match step {
            Some(step) => (low + (hash % u64::from(step).min(span)) as u32, high),
            None => {
                let v = low + (hash % span) as u32;
                (v, v)
            }
        })
    }

    /// Parses the field text; `hash` is what `H` picks by.
    pub fn parse(&self, text: &str, hash: u64) -> Result<Field, String> {
        let mut field = Field {
            bits: 0,
            star: false,
        };
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step
                        .parse()
                        .map_err(|_| format!("step {step:?} is not a number"))?;
                    if step == 0 {
                        return Err("a step must be at least 1".into());
                    }
                    (range, Some(step))
                }
                None => (part, None),
            };
            let (start, end) = match range {
                "*" | "?" => {
                    field.star |= step.is_none();
                    (self.min, self.max)
                }
                "" => return Err("an empty list item".into()),
                _ if range.starts_with('H') => self.hashed(range, step, hash)?,
                _ => match range.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (self.value(a)?, self.value(b)?);
                        if a > b {
                            return Err(format!("range {range:?} runs backwards"));
                        }
                        (a, b)
                    }
                    // `5/10` is Vixie's "from 5 to the end, every 10".
                    None if step.is_some() => (self.value(range)?, self.max),
                    None => {
                        let v = self.value(range)?;
                        (v, v)
                    }
                },
            };
            let step = step.unwrap_or(1);
            let mut v = start;
            while v <= end {
                field.bits |= 1 << v;
                v += step;
            }
        }
        if self.max == 7 && field.contains(7) {
            // Day-of-week 7 is Sunday, as 0 is.
            field.bits = (field.bits | 1) & !(1 << 7);
        }
        Ok(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(spec: &Spec, text: &str) -> Vec<u32> {
        let f = spec.parse(text, 0).unwrap();
        (spec.min..=spec.max).filter(|v| f.contains(*v)).collect()
    }

    #[test]
    fn lists_ranges_and_steps() {
        assert_eq!(values(&MINUTE, "*/15"), [0, 15, 30, 45]);
        assert_eq!(values(&HOUR, "0-23/6"), [0, 6, 12, 18]);
        assert_eq!(values(&MINUTE, "5/20"), [5, 25, 45]);
        assert_eq!(values(&MINUTE, "1,3,10-12"), [1, 3, 10, 11, 12]);
    }

    #[test]
    fn names_in_any_case_and_sunday_as_7() {
        assert_eq!(values(&MONTH, "jan,Mar,DEC"), [1, 3, 12]);
        assert_eq!(values(&DAY_OF_WEEK, "MON-fri"), [1, 2, 3, 4, 5]);
        assert_eq!(values(&DAY_OF_WEEK, "7"), [0]);
        assert_eq!(values(&DAY_OF_WEEK, "5-7"), [0, 5, 6]);
    }

    #[test]
    fn star_is_remembered_only_without_a_step() {
        assert!(DAY_OF_MONTH.parse("*", 0).unwrap().star);
        assert!(DAY_OF_MONTH.parse("?", 0).unwrap().star);
        assert!(!DAY_OF_MONTH.parse("*/2", 0).unwrap().star);
    }

    #[test]
    fn h_picks_by_the_hash_within_the_range_and_the_first_step() {
        assert_eq!(values(&MINUTE, "H"), [0]);
        assert_eq!(MINUTE.parse("H", 61).unwrap().bits, 1 << 1);
        let every_quarter = MINUTE.parse("H/15", 7).unwrap();
        let picked: Vec<u32> = (0..60).filter(|v| every_quarter.contains(*v)).collect();
        assert_eq!(picked, [7, 22, 37, 52]);
        assert_eq!(HOUR.parse("H(9-17)", 10).unwrap().bits, 1 << 10);
        let stepped = MINUTE.parse("H(0-29)/10", 13).unwrap();
        let picked: Vec<u32> = (0..60).filter(|v| stepped.contains(*v)).collect();
        assert_eq!(picked, [3, 13, 23]);
        // Days every month has; Sunday as 0.
        assert!((1..=28).any(|d| DAY_OF_MONTH.parse("H", 1234).unwrap().contains(d)));
        assert_eq!(DAY_OF_WEEK.parse("H", 13).unwrap().bits, 1 << 6);
        assert!(
            MINUTE
                .parse("H(5)", 0)
                .unwrap_err()
                .contains("write H, H(a-b)")
        );
        assert!(
            MINUTE
                .parse("H(9-3)", 0)
                .unwrap_err()
                .contains("runs backwards")
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            MINUTE.parse("61", 0).unwrap_err(),
            "61 is out of range 0-59"
        );
        assert_eq!(
            HOUR.parse("5-2", 0).unwrap_err(),
            "range \"5-2\" runs backwards"
        );
        assert_eq!(
            MINUTE.parse("*/0", 0).unwrap_err(),
            "a step must be at least 1"
        );
        assert!(
            MONTH
                .parse("smarch", 0)
                .unwrap_err()
                .contains("nor a name such as JAN")
        );
    }
}
