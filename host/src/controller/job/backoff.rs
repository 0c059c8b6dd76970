//! The delay before a failed instance is replaced: Kubernetes' 10 s doubling
//! to 10 minutes, or the Job's `backoffPolicy`.

use crate::time::Micros;

/// The delay after `failures` consecutive failures (1 → initial).
pub fn delay(failures: u32, initial_secs: i64, max_secs: i64) -> Micros {
    if failures == 0 {
        return 0;
    }
    let initial = initial_secs.max(0).saturating_mul(1_000_000);
    let max = max_secs.max(0).saturating_mul(1_000_000);
    let doublings = (failures - 1).min(40);
    initial.saturating_mul(1i64 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::delay;

    #[test]
    fn kubernetes_default_doubles_from_10s_and_caps_at_10m() {
        let secs = |n| delay(n, 10, 600) / 1_000_000;
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(3), secs(4)],
            [0, 10, 20, 40, 80]
        );
        assert_eq!(secs(6), 320);
        assert_eq!(secs(7), 600, "640 s is capped");
        assert_eq!(secs(100), 600);
    }

    #[test]
    fn a_zero_policy_retries_at_once() {
        assert_eq!(delay(5, 0, 0), 0);
        assert_eq!(delay(3, 1, 0), 0, "max 0 caps everything");
    }
}
