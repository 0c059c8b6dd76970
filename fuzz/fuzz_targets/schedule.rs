//! Any text as a CronJob schedule: parsing must return a schedule or a
//! message, and a parsed schedule must find its next times (or say there
//! are none) without panicking or looping for ever.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmjob::schedule::Schedule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schedule) = Schedule::parse(text) {
        let start: jiff::Timestamp = "2026-02-28T23:59:59Z".parse().unwrap();
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let _ = schedule.upcoming(start, &tz, 3);
        let _ = schedule.next_after(start, &jiff::tz::TimeZone::UTC);
    }
});
