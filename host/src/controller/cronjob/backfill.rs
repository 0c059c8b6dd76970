//! Backfill (wasmjob extension, as Temporal's and Argo's): the runs of a
//! CronJob's scheduled times in a past range. A request names the range,
//! which times run again (`rerun`) and how the runs overlap; [`plan`] says
//! what each time does, and the node that holds the CronJob keeps the runs
//! still to start in its status and starts them as [`starts`] allows. Each
//! run is recorded under the same exactly-once key as a scheduled one.

use serde::{Deserialize, Serialize};

use super::{RUN_ALL_CAP, RunState};
use crate::manifest::{CronJobSpec, OverlapPolicy};
use crate::schedule::Timetable;
use crate::time::Micros;

/// A backfill covers at most this many scheduled times.
pub const MAX_BACKFILL: usize = 10_000;

/// A backfill as asked for: through the API, or as the CronJob's
/// annotation `wasmjob.dev/backfill` (JSON) that the node holding it acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// Tells two requests of the same range apart.
    #[serde(default)]
    pub id: String,
    /// The first time, RFC 3339 (inclusive).
    pub from: String,
    /// The last time, RFC 3339 (inclusive).
    pub to: String,
    /// How the runs overlap: `BufferAll` (the default: every time runs,
    /// at most `maxConcurrentRuns` at once), `Skip` (only the times there
    /// is room for when the backfill starts) or `AllowAll` (all at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<OverlapPolicy>,
    /// Which times that ran already run again.
    #[serde(default)]
    pub rerun: Rerun,
}

/// Which times that ran already run again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rerun {
    /// None: a time runs once.
    #[default]
    None,
    /// Those whose run failed.
    Failed,
    /// All of them.
    All,
}

/// What a backfill does with one scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It never ran (or was missed): it runs.
    Run,
    /// It ran as this Job, which a new run replaces (`rerun`).
    Rerun(String),
    /// It ran already and is not run again.
    AlreadyRun,
    /// Its run is still going on, or it waits to start (buffered, or in
    /// an earlier backfill): left alone.
    Pending,
}

impl Action {
    /// How the API and the CLI say it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Run => "Run",
            Action::Rerun(_) => "Rerun",
            Action::AlreadyRun => "AlreadyRun",
            Action::Pending => "Pending",
        }
    }
}

/// A run a backfill still has to start: its time, and the Job it replaces.
pub type Waiting = (Micros, Option<String>);

/// What a CronJob has decided so far, as a backfill sees it.
pub struct Decided<'a> {
    /// Every decided time: the Job it ran as (`None`: missed).
    pub runs: &'a [(Micros, Option<String>)],
    /// Times that wait to start: buffered, or in a backfill.
    pub pending: &'a [Micros],
    /// The last time the schedule decided (or the CronJob's creation):
    /// later times are the schedule's, not a backfill's.
    pub horizon: Micros,
}

/// Why a request cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request's field.
    pub field: &'static str,
    /// What is wrong, and what to do.
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
    }
}

impl Request {
    /// `from` and `to` in microseconds, checked.
    pub fn range(&self, now: Micros) -> Result<(Micros, Micros), Refusal> {
        let time = |text: &str, field| {
            let at = text.parse::<jiff::Timestamp>().map_err(|_| {
                refuse(
                    field,
                    format!("{text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"),
                )
            })?;
            Ok(at.as_microsecond())
        };
        let (from, to) = (time(&self.from, "from")?, time(&self.to, "to")?);
        if to < from {
            return Err(refuse("to", "is before from: give the earlier time first"));
        }
        if to > now {
            return Err(refuse(
                "to",
                "is in the future: a backfill runs past times; the schedule runs the rest",
            ));
        }
        match self.overlap {
            None
            | Some(OverlapPolicy::BufferAll)
            | Some(OverlapPolicy::Skip)
            | Some(OverlapPolicy::AllowAll) => Ok((from, to)),
            Some(other) => Err(refuse(
                "overlap",
                format!("{other:?} is not for a backfill: use BufferAll, Skip or AllowAll"),
            )),
        }
    }

    /// The overlap policy in effect.
    pub fn overlap(&self) -> OverlapPolicy {
        self.overlap.unwrap_or(OverlapPolicy::BufferAll)
    }
}

/// What a backfill of `from..=to` does with each scheduled time in it,
/// oldest first; `state` says where a Job stands (a deleted one by its
/// last status).
pub fn plan(
    timetable: &Timetable,
    (from, to): (Micros, Micros),
    decided: &Decided<'_>,
    rerun: Rerun,
    state: impl Fn(&str) -> RunState,
) -> Result<Vec<(Micros, Action)>, Refusal> {
    let mut planned = Vec::new();
    let mut at = jiff::Timestamp::from_microsecond(from - 1).unwrap_or_default();
    while let Some(t) = timetable.next_after(at) {
        let time = t.as_microsecond();
        if time > to {
            break;
        }
        if planned.len() == MAX_BACKFILL {
            return Err(refuse(
                "to",
                format!("the range holds more than {MAX_BACKFILL} scheduled times: narrow it"),
            ));
        }
        planned.push((time, action(time, decided, rerun, &state)));
        at = t;
    }
    Ok(planned)
}

fn action(
    time: Micros,
    decided: &Decided<'_>,
    rerun: Rerun,
    state: &impl Fn(&str) -> RunState,
) -> Action {
    if time > decided.horizon || decided.pending.contains(&time) {
        return Action::Pending;
    }
    let run = decided.runs.iter().find(|(t, _)| *t == time);
    let Some((_, Some(job))) = run else {
        return Action::Run; // never decided, or missed
    };
    match (state(job), rerun) {
        (RunState::Running, _) => Action::Pending,
        (RunState::Finished(_), Rerun::All) | (RunState::Finished(false), Rerun::Failed) => {
            Action::Rerun(job.clone())
        }
        _ => Action::AlreadyRun,
    }
}

/// How many of the backfill's waiting runs start now, with `running`
/// runs of the CronJob active (and those just started): as many as
/// `maxConcurrentRuns` leaves room for, or, with `AllowAll`, all — at
/// most [`RUN_ALL_CAP`] a pass either way.
pub fn starts(spec: &CronJobSpec, running: usize, waiting: usize, overlap: OverlapPolicy) -> usize {
    let room = match overlap {
        OverlapPolicy::AllowAll => usize::MAX,
        // With no cap on the CronJob, a backfill still runs one at a time
        // unless it asks for AllowAll: catching up is not a flood.
        _ => spec.max_concurrent().unwrap_or(1).saturating_sub(running),
    };
    room.min(waiting).min(RUN_ALL_CAP)
}

#[cfg(test)]
mod tests;
