//! Timestamps: microseconds since the Unix epoch inside, RFC 3339 UTC with
//! microseconds outside (`2026-11-22T10:00:00.123456Z`), because instances
//! last microseconds to milliseconds and whole seconds would hide what
//! happened. Durations and ages are shown the way kubectl shows them.

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The current time.
pub fn now() -> Micros {
    jiff::Timestamp::now().as_microsecond()
}

/// A monotonic clock, in microseconds since this process first read it:
/// for deadlines that wall-clock steps must not move (leases).
pub fn monotonic() -> Micros {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as Micros
}

/// RFC 3339 UTC with six fractional digits.
pub fn rfc3339(micros: Micros) -> String {
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!(
        "{}.{:06}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        micros.rem_euclid(1_000_000)
    )
}

/// Parses an RFC 3339 timestamp back into microseconds.
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}

/// A duration as kubectl prints ages and durations (`12ms`, `4s`, `3m20s`,
/// `5h`, `2d`), with milliseconds below a second because Wasm jobs are fast.
pub fn human_duration(micros: Micros) -> String {
    let micros = micros.max(0);
    let secs = micros / 1_000_000;
    match secs {
        0 if micros < 1_000 => format!("{micros}µs"),
        0 => format!("{}ms", micros / 1_000),
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Parses a duration as flags and manifests write it: a whole number and
/// a unit (`500ms`, `30s`, `2m`, `1h`; no unit means seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("invalid duration {text:?}: use 30s, 2m, 500ms");
    let n: u64 = number.parse().map_err(|_| bad())?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(bad()),
    })
}

/// The earlier of two wake-up times, either of which may be absent.
pub fn earliest(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_microseconds() {
        assert_eq!(
            rfc3339(1_795_000_000_123_456),
            "2026-11-18T11:06:40.123456Z"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.123456Z"),
            Some(1_795_000_000_123_456)
        );
    }

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(250), "250µs");
        assert_eq!(human_duration(12_000), "12ms");
        assert_eq!(human_duration(4_000_000), "4s");
        assert_eq!(human_duration(200_000_000), "3m20s");
        assert_eq!(human_duration(3_600_000_000 * 5), "5h");
        assert_eq!(human_duration(86_400_000_000 * 2), "2d");
    }
}
