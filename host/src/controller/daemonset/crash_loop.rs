//! The kubelet's crash-loop back-off for a daemon instance that exits:
//! restarted in place after 10 s, doubling up to 5 minutes, forgotten after
//! 10 minutes of running; and what the instance shows while it waits
//! (`CrashLoopBackOff`, with the delay and how the last attempt ended).

use std::time::Duration;

use crate::manifest::Outcome;

/// The reason shown while an exited daemon instance waits to restart.
pub const CRASH_LOOP: &str = "CrashLoopBackOff";

/// The kubelet's restart back-off for an instance that exited: 10 s,
/// doubling up to 5 minutes, forgotten after 10 minutes of running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoop {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for CrashLoop {
    fn default() -> Self {
        CrashLoop {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// An attempt that ran this long resets the back-off.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

impl CrashLoop {
    /// The delay before the next attempt, given how many exits in a row
    /// came before this one (`streak`) and how long this attempt ran; and
    /// the streak to remember.
    pub fn delay(&self, streak: u32, ran_for: Duration) -> (Duration, u32) {
        let streak = if ran_for >= BACKOFF_RESET { 0 } else { streak };
        let factor = 1u32.checked_shl(streak.min(31)).unwrap_or(u32::MAX);
        let delay = self.initial.saturating_mul(factor).min(self.max);
        (delay, streak.saturating_add(1))
    }
}

/// The reason and message a daemon instance shows while it waits `delay`
/// to restart after its attempt ended with `outcome`.
pub fn waiting(outcome: &Outcome, delay: Duration) -> (&'static str, String) {
    let last = match (outcome.reason(), outcome.message()) {
        (Some(reason), Some(message)) => format!("{reason}: {message}"),
        (Some(reason), None) => reason.to_owned(),
        (None, _) => match outcome.exit_code() {
            Some(code) => format!("exited with code {code}"),
            None => "ended".to_owned(),
        },
    };
    let message = format!(
        "back-off {} restarting the instance; last attempt {last}",
        human(delay)
    );
    (CRASH_LOOP, message)
}

/// The `BackOff` event's message for instance `name`.
pub fn back_off_message(name: &str, delay: Duration) -> String {
    format!("Back-off {} restarting instance {name}", human(delay))
}

/// A delay as the kubelet writes it: `10s`, or milliseconds.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loop_back_off_doubles_to_five_minutes_and_resets_after_ten() {
        let c = CrashLoop::default();
        let short = Duration::from_secs(1);
        let mut streak = 0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let (delay, next) = c.delay(streak, short);
            delays.push(delay.as_secs());
            streak = next;
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        let (delay, streak) = c.delay(streak, Duration::from_secs(600));
        assert_eq!(
            (delay.as_secs(), streak),
            (10, 1),
            "10 minutes of running reset it"
        );
        assert_eq!(c.delay(1000, short).0.as_secs(), 300, "no overflow");
    }

    #[test]
    fn a_waiting_instance_says_how_long_and_how_its_last_attempt_ended() {
        let (reason, message) = waiting(&Outcome::Failed { exit_code: 3 }, Duration::from_secs(20));
        assert_eq!(reason, "CrashLoopBackOff");
        assert_eq!(
            message,
            "back-off 20s restarting the instance; last attempt Error: exited with code 3"
        );
        assert_eq!(
            back_off_message("mon-x", Duration::from_millis(1500)),
            "Back-off 1500ms restarting instance mon-x"
        );
    }
}
