//! The CronJob controller: which scheduled times start a Job now, which are
//! missed and why ([`reconcile`]), which wait or replace active runs
//! ([`overlap`]); the runs of a past range ([`backfill`]); which
//! finished Jobs the history limits prune and what the status says
//! ([`history`]); and the Job made from the template for a scheduled time
//! ([`template`]). Pure functions of (spec, schedule, observed runs, now);
//! the store's unique key on (CronJob, scheduled time) is what makes a
//! decision take effect exactly once.

pub mod backfill;
pub mod history;
pub mod overlap;
pub mod template;

pub use history::{FinishedRun, History, RunState, prune};
pub use template::{job_from_template, job_name};

use jiff::Timestamp;

use crate::manifest::CronJobSpec;
pub use crate::manifest::MissedRunPolicy;
use crate::schedule::Timetable;
use crate::time::Micros;

/// More missed times than this raise Kubernetes' `TooManyMissedTimes` warning.
pub const TOO_MANY_MISSED: usize = 100;

/// `missedRunPolicy: RunAll` starts at most this many runs at once; older
/// missed times beyond it are recorded as missed.
pub const RUN_ALL_CAP: usize = 50;

/// With `missedRunPolicy: Skip`, a time counts as on time (not missed) when it
/// is due by at most this much; more means the node was not running then.
pub const ON_TIME: Micros = 5_000_000;

/// Due times are searched at most this many steps back; with a seconds
/// schedule and days of downtime, older ones are simply missed.
const MAX_DUE_SCAN: usize = 100_000;

/// What the controller sees of a CronJob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// When the CronJob was created: nothing is due before.
    pub created: Micros,
    /// The last scheduled time decided (started or missed).
    pub last_schedule: Option<Micros>,
    /// Active runs: (Job uid, scheduled time), oldest first.
    pub active: Vec<(String, Micros)>,
    /// The runs still to start (`remainingRuns`), if limited.
    pub remaining: Option<i64>,
    /// A scheduled time to pass over (`cron trigger --skip-next`).
    pub skip: Option<Micros>,
    /// Scheduled times waiting for a run to end (`BufferOne`,
    /// `BufferAll`), oldest first.
    pub buffered: Vec<Micros>,
    /// The last backfill acted on, with its runs still to start.
    pub backfill: Option<Backfilling>,
}

/// A backfill acted on: its request, its overlap policy, and its runs
/// still to start (oldest first, each with the Job it replaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfilling {
    /// The request as the annotation gave it.
    pub request: String,
    /// `BufferAll` unless the request said otherwise.
    pub overlap: Option<crate::manifest::OverlapPolicy>,
    /// The runs still to start.
    pub waiting: Vec<backfill::Waiting>,
}

/// Why a scheduled time did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Later than `startingDeadlineSeconds`.
    TooLate,
    /// Passed over by the missed-run policy.
    Skipped,
    /// `maxConcurrentRuns` runs were active (`concurrencyPolicy: Forbid`,
    /// `overlapPolicy: Skip`, or `AllowAll` at its cap).
    Forbidden,
    /// `BufferOne` or `BufferAll` had no room left to wait in.
    BufferFull,
    /// Older than `catchupWindowSeconds`.
    OutsideCatchupWindow,
    /// Run ahead of its time by `wasmjob cron trigger --skip-next`.
    SkipNext,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Scheduled times to start a Job for, oldest first.
    pub start: Vec<Micros>,
    /// Scheduled times that will not run, and why.
    pub missed: Vec<(Micros, Missed)>,
    /// More than [`TOO_MANY_MISSED`] times were due at once.
    pub too_many_missed: bool,
    /// Active Jobs to stop first (`CancelOther`, `TerminateOther`).
    pub stop: Vec<String>,
    /// Stop them at once, without a grace period (`TerminateOther`).
    pub terminate: bool,
    /// The times waiting for a run to end, after this decision.
    pub buffered: Vec<Micros>,
    /// How many of the backfill's waiting runs start now (the first).
    pub backfill: usize,
    /// The new `lastScheduleTime`.
    pub last_schedule: Option<Micros>,
    /// When to look again at the latest.
    pub wake: Option<Micros>,
}

fn ts(micros: Micros) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Decides what a CronJob does at `now`. A scheduled time is due at its
/// time plus its jitter ([`Timetable::due_at`]); deadlines and lateness
/// count from then.
pub fn reconcile(
    spec: &CronJobSpec,
    timetable: &Timetable,
    observed: &Observed,
    now: Micros,
) -> Decision {
    let mut decision = Decision {
        last_schedule: observed.last_schedule,
        buffered: observed.buffered.clone(),
        wake: timetable.next_after(ts(now)).map(|t| t.as_microsecond()),
        ..Decision::default()
    };
    // Times pass unrun while suspended, or with no runs left; on resume
    // (or more runs) the missed-run policy and the deadline decide about
    // the latest of them.
    if spec.suspend == Some(true) || observed.remaining.is_some_and(|n| n <= 0) {
        return decision;
    }
    let (start, end) = spec.bounds();
    let (mut due, mut next) = due_times(timetable, observed, start, now);
    // `endTime`: nothing after it is due, or waited for.
    if let Some(end) = end {
        due.retain(|&t| t <= end);
        next = next.filter(|&t| t <= end);
    }
    decision.wake = next.map(|t| timetable.due_at(t));
    let start = match due.last() {
        Some(&latest) => {
            decision.last_schedule = Some(latest);
            runnable(spec, timetable, observed, due, now, &mut decision)
        }
        None => Vec::new(),
    };
    // Times buffered earlier come first, and start as runs end.
    let queue = std::mem::take(&mut decision.buffered)
        .into_iter()
        .chain(start);
    let queue = by_remaining_runs(observed, queue.collect(), &mut decision);
    decision.start = overlap::decide(spec, observed, queue, &mut decision);
    decision.missed.sort_by_key(|(time, _)| *time);
    // A backfill's runs take the room the schedule's leave.
    if let Some(backfilling) = &observed.backfill {
        let running = observed.active.len() + decision.start.len();
        let running = running.saturating_sub(decision.stop.len());
        let policy = backfilling
            .overlap
            .unwrap_or(crate::manifest::OverlapPolicy::BufferAll);
        decision.backfill = backfill::starts(spec, running, backfilling.waiting.len(), policy);
    }
    decision
}

/// Of the due times (`latest` last), those that may run by the skip, the
/// catch-up window, the starting deadline and the missed-run policy.
fn runnable(
    spec: &CronJobSpec,
    timetable: &Timetable,
    observed: &Observed,
    mut due: Vec<Micros>,
    now: Micros,
    decision: &mut Decision,
) -> Vec<Micros> {
    if let Some(at) = due.iter().position(|&t| Some(t) == observed.skip) {
        decision.missed.push((due.remove(at), Missed::SkipNext));
    }
    let before = |secs: Option<i64>| secs.map(|s| now - s * 1_000_000);
    // wasmjob's `catchupWindowSeconds`: times due longer ago are missed, and
    // not counted towards `TooManyMissedTimes` — a long outage is no cliff,
    // only what is within the window is caught up.
    let window = before(spec.catchup_window_seconds);
    let why = Missed::OutsideCatchupWindow;
    let due = due_since(window, why, timetable, due, decision);
    decision.too_many_missed = due.len() > TOO_MANY_MISSED;
    // `startingDeadlineSeconds`: so are times due before the deadline.
    let deadline = before(spec.starting_deadline_seconds);
    let runnable = due_since(deadline, Missed::TooLate, timetable, due, decision);
    by_missed_run_policy(spec, timetable, runnable, now, decision)
}

/// The due times that were due at `oldest` or later; the others are
/// missed, for `why`.
fn due_since(
    oldest: Option<Micros>,
    why: Missed,
    timetable: &Timetable,
    due: Vec<Micros>,
    decision: &mut Decision,
) -> Vec<Micros> {
    let Some(oldest) = oldest else {
        return due;
    };
    let (old, recent): (Vec<Micros>, Vec<Micros>) =
        due.into_iter().partition(|&t| timetable.due_at(t) < oldest);
    decision.missed.extend(old.into_iter().map(|t| (t, why)));
    recent
}

/// wasmjob's `missedRunPolicy`: which of the runnable times run —
/// Kubernetes' latest only, all (capped), or only what is due now.
fn by_missed_run_policy(
    spec: &CronJobSpec,
    timetable: &Timetable,
    runnable: Vec<Micros>,
    now: Micros,
    decision: &mut Decision,
) -> Vec<Micros> {
    let on_time = |t: Micros| now - timetable.due_at(t) <= ON_TIME;
    let keep = match spec.missed_run_policy.unwrap_or_default() {
        MissedRunPolicy::RunLatest => runnable.len().min(1),
        MissedRunPolicy::RunAll => runnable.len().min(RUN_ALL_CAP),
        MissedRunPolicy::Skip => usize::from(runnable.last().is_some_and(|&t| on_time(t))),
    };
    let split = runnable.len() - keep;
    decision
        .missed
        .extend(runnable[..split].iter().map(|&t| (t, Missed::Skipped)));
    runnable[split..].to_vec()
}

/// `remainingRuns`: at most that many start, the newest; the others are
/// passed over.
fn by_remaining_runs(
    observed: &Observed,
    mut start: Vec<Micros>,
    decision: &mut Decision,
) -> Vec<Micros> {
    let Some(left) = observed.remaining else {
        return start;
    };
    let over = start.len().saturating_sub(left.max(0) as usize);
    let passed = start.drain(..over).map(|t| (t, Missed::Skipped));
    decision.missed.extend(passed);
    start
}

/// Scheduled times after the last decided one (or creation) that are due
/// by `now`, in order; and the first that is not due yet. A time waits for
/// the one before it: with jitter longer than the interval between two
/// times, the later is not decided before the earlier.
fn due_times(
    timetable: &Timetable,
    observed: &Observed,
    start: Option<Micros>,
    now: Micros,
) -> (Vec<Micros>, Option<Micros>) {
    let mut times = Vec::new();
    let from = observed.last_schedule.unwrap_or(observed.created);
    // `startTime`: the times before it are not the CronJob's.
    let from = start.map_or(from, |s| from.max(s - 1));
    let mut at = ts(from);
    while times.len() < MAX_DUE_SCAN {
        let Some(t) = timetable.next_after(at) else {
            return (times, None);
        };
        let scheduled = t.as_microsecond();
        if timetable.due_at(scheduled) > now {
            return (times, Some(scheduled));
        }
        times.push(scheduled);
        at = t;
    }
    let next = timetable.next_after(at).map(|t| t.as_microsecond());
    (times, next)
}

#[cfg(test)]
mod tests;
