//! What a CronJob's due times do while runs are active: the overlap policy
//! (`spec.overlapPolicy`, Temporal's set, or what `concurrencyPolicy`
//! means) with `spec.maxConcurrentRuns`. A time "overlaps" when that many
//! runs are active. Buffered times wait in the status, oldest first, and
//! start as runs end.

use super::{Decision, Missed, Observed};
use crate::manifest::{CronJobSpec, OverlapPolicy};
use crate::time::Micros;

/// `BufferAll` keeps at most this many times waiting (Temporal's buffer
/// limit); later ones are missed (`BufferFull`), so a run that hangs for
/// days does not grow the status without end.
pub const BUFFER_ALL_CAP: usize = 1000;

/// Which of `queue` (times buffered before, then the times due now, oldest
/// first) start now; the rest wait in `decision.buffered` or are missed.
/// Active runs a `CancelOther` or `TerminateOther` replaces go to
/// `decision.stop`.
pub fn decide(
    spec: &CronJobSpec,
    observed: &Observed,
    mut queue: Vec<Micros>,
    decision: &mut Decision,
) -> Vec<Micros> {
    let running = observed.active.len();
    let room = spec
        .max_concurrent()
        .map_or(usize::MAX, |max| max.saturating_sub(running));
    let starts = room.min(queue.len());
    let policy = spec.overlap();
    let rest = queue.split_off(starts);
    let mut missed = |times: &[Micros], why: Missed| {
        decision.missed.extend(times.iter().map(|&t| (t, why)));
    };
    match policy {
        OverlapPolicy::AllowAll | OverlapPolicy::Skip => missed(&rest, Missed::Forbidden),
        OverlapPolicy::BufferOne | OverlapPolicy::BufferAll => {
            let cap = match policy {
                OverlapPolicy::BufferOne => 1,
                _ => BUFFER_ALL_CAP,
            };
            // The oldest wait: a time that finds the buffer full is missed.
            let kept = rest.len().min(cap);
            missed(&rest[kept..], Missed::BufferFull);
            decision.buffered = rest[..kept].to_vec();
        }
        OverlapPolicy::CancelOther | OverlapPolicy::TerminateOther => {
            let Some(&newest) = rest.last() else {
                return queue; // every time fits: nothing overlaps
            };
            // Only the newest replaces: older times would replace each
            // other. It makes room by stopping the oldest active runs.
            let older: Vec<Micros> = queue
                .iter()
                .chain(&rest[..rest.len() - 1])
                .copied()
                .collect();
            missed(&older, Missed::Skipped);
            let max = spec.max_concurrent().unwrap_or(usize::MAX);
            let over = (running + 1).saturating_sub(max);
            let stopped = observed.active.iter().take(over);
            decision.stop = stopped.map(|(uid, _)| uid.clone()).collect();
            decision.terminate = policy == OverlapPolicy::TerminateOther;
            return vec![newest];
        }
    }
    queue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ConcurrencyPolicy;

    const MIN: Micros = 60_000_000;

    fn spec(policy: OverlapPolicy, max: Option<i64>) -> CronJobSpec {
        CronJobSpec {
            overlap_policy: Some(policy),
            max_concurrent_runs: max,
            ..CronJobSpec::default()
        }
    }

    /// `active` runs (scheduled at minutes 1, 2, …) and `buffered` times;
    /// the times due now are `due`.
    fn run(spec: &CronJobSpec, active: usize, buffered: &[i64], due: &[i64]) -> Decision {
        let observed = Observed {
            active: (1..=active as i64)
                .map(|m| (format!("job-{m}"), m * MIN))
                .collect(),
            buffered: buffered.iter().map(|m| m * MIN).collect(),
            ..Observed::default()
        };
        let mut decision = Decision::default();
        let queue = observed.buffered.iter().copied();
        let queue = queue.chain(due.iter().map(|m| m * MIN)).collect();
        decision.start = decide(spec, &observed, queue, &mut decision);
        decision
    }

    fn minutes(times: &[Micros]) -> Vec<i64> {
        times.iter().map(|t| t / MIN).collect()
    }

    fn missed(decision: &Decision) -> Vec<(i64, Missed)> {
        let missed = decision.missed.iter();
        missed.map(|&(t, why)| (t / MIN, why)).collect()
    }

    #[test]
    fn concurrency_policy_maps_onto_the_overlap_policies() {
        let of = |policy| CronJobSpec {
            concurrency_policy: Some(policy),
            ..CronJobSpec::default()
        };
        assert_eq!(
            of(ConcurrencyPolicy::Allow).overlap(),
            OverlapPolicy::AllowAll
        );
        assert_eq!(of(ConcurrencyPolicy::Forbid).overlap(), OverlapPolicy::Skip);
        assert_eq!(
            of(ConcurrencyPolicy::Replace).overlap(),
            OverlapPolicy::CancelOther
        );
        assert_eq!(of(ConcurrencyPolicy::Allow).max_concurrent(), None);
        assert_eq!(of(ConcurrencyPolicy::Forbid).max_concurrent(), Some(1));
        // The overlap policy decides when both are given.
        let both = CronJobSpec {
            overlap_policy: Some(OverlapPolicy::BufferOne),
            ..of(ConcurrencyPolicy::Allow)
        };
        assert_eq!(both.overlap(), OverlapPolicy::BufferOne);
        assert_eq!(
            OverlapPolicy::BufferOne.concurrency(),
            ConcurrencyPolicy::Forbid
        );
        assert_eq!(
            OverlapPolicy::TerminateOther.concurrency(),
            ConcurrencyPolicy::Replace
        );
    }

    #[test]
    fn skip_misses_a_time_while_a_run_is_active() {
        let d = run(&spec(OverlapPolicy::Skip, None), 1, &[], &[5]);
        assert!(d.start.is_empty());
        assert_eq!(missed(&d), [(5, Missed::Forbidden)]);
        // Nothing active: the oldest of several due times starts, the rest
        // are recorded as missed (not silently dropped).
        let d = run(&spec(OverlapPolicy::Skip, None), 0, &[], &[5, 6]);
        assert_eq!(minutes(&d.start), [5]);
        assert_eq!(missed(&d), [(6, Missed::Forbidden)]);
    }

    #[test]
    fn buffer_one_holds_one_time_and_misses_the_next() {
        let s = spec(OverlapPolicy::BufferOne, None);
        let d = run(&s, 1, &[], &[5]);
        assert!(d.start.is_empty());
        assert_eq!(minutes(&d.buffered), [5]);
        assert!(d.missed.is_empty());
        // Another time while one waits: the waiting one stays, the new one
        // is missed.
        let d = run(&s, 1, &[5], &[6]);
        assert_eq!(minutes(&d.buffered), [5]);
        assert_eq!(missed(&d), [(6, Missed::BufferFull)]);
        // The run ends: the buffered time starts, with nothing new due.
        let d = run(&s, 0, &[5], &[]);
        assert_eq!(minutes(&d.start), [5]);
        assert!(d.buffered.is_empty());
    }

    #[test]
    fn buffer_all_keeps_every_time_in_order_up_to_its_cap() {
        let s = spec(OverlapPolicy::BufferAll, None);
        let d = run(&s, 1, &[5, 6], &[7]);
        assert_eq!(minutes(&d.buffered), [5, 6, 7]);
        // One run ends: the oldest starts, the others wait.
        let d = run(&s, 0, &[5, 6, 7], &[]);
        assert_eq!(minutes(&d.start), [5]);
        assert_eq!(minutes(&d.buffered), [6, 7]);
        let many: Vec<i64> = (10..10 + BUFFER_ALL_CAP as i64 + 2).collect();
        let d = run(&s, 1, &[], &many);
        assert_eq!(d.buffered.len(), BUFFER_ALL_CAP);
        assert_eq!(d.missed.len(), 2);
        assert!(d.missed.iter().all(|(_, why)| *why == Missed::BufferFull));
    }

    #[test]
    fn cancel_and_terminate_other_stop_the_oldest_runs_for_the_newest_time() {
        for policy in [OverlapPolicy::CancelOther, OverlapPolicy::TerminateOther] {
            let d = run(&spec(policy, None), 1, &[], &[4, 5]);
            assert_eq!(d.stop, ["job-1"]);
            assert_eq!(minutes(&d.start), [5]);
            assert_eq!(missed(&d), [(4, Missed::Skipped)]);
            assert_eq!(d.terminate, policy == OverlapPolicy::TerminateOther);
            // With room for two, the oldest of two active runs makes room.
            let d = run(&spec(policy, Some(2)), 2, &[], &[5]);
            assert_eq!(d.stop, ["job-1"]);
            assert_eq!(minutes(&d.start), [5]);
            // Room left: nothing is stopped.
            let d = run(&spec(policy, Some(2)), 1, &[], &[5]);
            assert!(d.stop.is_empty());
            assert_eq!(minutes(&d.start), [5]);
        }
    }

    #[test]
    fn allow_all_starts_everything_unless_capped() {
        let d = run(&spec(OverlapPolicy::AllowAll, None), 5, &[], &[6, 7]);
        assert_eq!(minutes(&d.start), [6, 7]);
        let d = run(&spec(OverlapPolicy::AllowAll, Some(3)), 2, &[], &[6, 7]);
        assert_eq!(minutes(&d.start), [6]);
        assert_eq!(missed(&d), [(7, Missed::Forbidden)]);
    }

    #[test]
    fn max_concurrent_runs_widens_every_policy() {
        let d = run(&spec(OverlapPolicy::Skip, Some(2)), 1, &[], &[5]);
        assert_eq!(minutes(&d.start), [5]);
        let d = run(&spec(OverlapPolicy::BufferOne, Some(3)), 1, &[], &[5, 6, 7]);
        assert_eq!(minutes(&d.start), [5, 6]);
        assert_eq!(minutes(&d.buffered), [7]);
    }
}
