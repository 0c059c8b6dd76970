//! `hello`: prints the date and `Hello from wasmjob`, as the Kubernetes
//! CronJob example's busybox does with `date; echo Hello from the Kubernetes
//! cluster`. The date is formatted like `date` in UTC, from the WASI clock.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    println!("{}", format_date(secs));
    println!("Hello from wasmjob");
}

/// `Sun Nov 22 10:00:00 UTC 2026` for seconds since the epoch.
fn format_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (the well-known era-based conversion).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_date;

    #[test]
    fn dates_read_like_the_date_command() {
        assert_eq!(format_date(0), "Thu Jan  1 00:00:00 UTC 1970");
        assert_eq!(format_date(1_795_000_000), "Wed Nov 18 11:06:40 UTC 2026");
        assert_eq!(format_date(951_782_400), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
