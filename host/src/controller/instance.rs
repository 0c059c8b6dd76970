//! How an instance's record ends, as a kubelet reports a pod's end: one run
//! that ended by itself (exit code 0 is `Succeeded`; any other exit, a trap,
//! the memory limit or the deadline is `Failed` with Kubernetes' reason),
//! or an instance the system stopped (`Failed`, with why).

use crate::manifest::{Outcome, Phase, Termination};

/// The end of an instance whose run ended with `outcome`.
pub fn of_run(outcome: &Outcome) -> Termination {
    let phase = if outcome.succeeded() {
        Phase::Succeeded
    } else {
        Phase::Failed
    };
    Termination {
        phase,
        exit_code: outcome.exit_code(),
        reason: outcome.reason().map(str::to_owned),
        message: outcome.message(),
    }
}

/// The end of an instance stopped without finishing on its own (its Job
/// ended or was suspended or deleted, its node went away): `Failed`, with
/// why. An instance restarted in place keeps its last attempt's exit code
/// (`last_exit_code`), as a pod keeps its container's last state.
pub fn stopped(reason: &str, message: &str, last_exit_code: Option<i32>) -> Termination {
    Termination {
        phase: Phase::Failed,
        exit_code: last_exit_code,
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_zero_succeeds_and_everything_else_fails_with_its_reason() {
        assert_eq!(of_run(&Outcome::Succeeded).phase, Phase::Succeeded);
        assert_eq!(of_run(&Outcome::Succeeded).exit_code, Some(0));
        let failed = of_run(&Outcome::Failed { exit_code: 3 });
        assert_eq!(
            (failed.phase, failed.exit_code, failed.reason.as_deref()),
            (Phase::Failed, Some(3), Some("Error"))
        );
        let oom = of_run(&Outcome::OomKilled {
            message: "64Mi".into(),
        });
        assert_eq!(
            (oom.phase, oom.exit_code, oom.reason.as_deref()),
            (Phase::Failed, None, Some("OOMKilled"))
        );
        let stopped = stopped("Deleted", "stopped: the Job was deleted", Some(2));
        assert_eq!((stopped.phase, stopped.exit_code), (Phase::Failed, Some(2)));
    }
}
