//! A backfill on the node that holds the CronJob: a new value of the
//! annotation `wasmjob.dev/backfill` is planned against what the store
//! has decided ([`plan_stored`], which the API's dry run shares), its runs
//! wait in `status.backfill`, and they start as the controller allows —
//! a rerun first deleting the Job it replaces, whose name it takes.

use super::{CronRun, micros};
use crate::controller::Event;
use crate::controller::cronjob::backfill::{self, Action, Decided, Refusal, Request, Waiting};
use crate::controller::cronjob::{Backfilling, Observed, RunState};
use crate::manifest::well_known::BACKFILL;
use crate::manifest::{CronJobStatus, OverlapPolicy};
use crate::runner::driver::Pass;
use crate::runner::writes::event;
use crate::schedule::Timetable;
use crate::store::{Store, StoreError, Write};
use crate::time::{Micros, rfc3339};

/// Why a backfill cannot be planned.
#[derive(Debug)]
pub enum PlanError {
    /// The request is wrong.
    Refused(Refusal),
    /// The store did not answer.
    Store(StoreError),
}

impl From<StoreError> for PlanError {
    fn from(e: StoreError) -> Self {
        PlanError::Store(e)
    }
}

/// What a CronJob's status says a backfill must leave alone, with its
/// creation time: the controller's view of it.
pub fn observed_of(status: &CronJobStatus, created: Micros) -> Observed {
    Observed {
        created,
        last_schedule: status.last_schedule_time.as_deref().and_then(micros),
        buffered: status
            .buffered_times
            .iter()
            .filter_map(|t| micros(t))
            .collect(),
        backfill: status.backfill.as_ref().map(|b| Backfilling {
            request: b.request.clone(),
            overlap: b.overlap,
            waiting: (b.waiting.iter())
                .filter_map(|w| Some((micros(&w.time)?, w.replaces.clone())))
                .collect(),
        }),
        ..Observed::default()
    }
}

/// Where a CronJob's Job stands, for a rerun: by its last status, a
/// deleted one's too (one deleted before it finished did not succeed).
fn job_state(store: &Store, uid: &str) -> RunState {
    let Ok(Some(job)) = store.object(uid) else {
        return RunState::Gone;
    };
    match (RunState::of(&job.status), job.deleted_at) {
        (RunState::Running, Some(_)) => RunState::Finished(false),
        (state, _) => state,
    }
}

/// What a backfill of the CronJob `uid` does with each time of the range,
/// against the times the store has decided and those `observed` keeps
/// waiting.
pub fn plan_stored(
    store: &Store,
    (uid, timetable): (&str, &Timetable),
    observed: &Observed,
    request: &Request,
    now: Micros,
) -> Result<Vec<(Micros, Action)>, PlanError> {
    let range = request.range(now).map_err(PlanError::Refused)?;
    let runs = store.cron_runs(uid)?;
    let mut pending = observed.buffered.clone();
    if let Some(backfilling) = &observed.backfill {
        pending.extend(backfilling.waiting.iter().map(|(t, _)| *t));
    }
    let decided = Decided {
        runs: &runs,
        pending: &pending,
        horizon: observed.last_schedule.unwrap_or(observed.created),
    };
    let state = |job: &str| job_state(store, job);
    backfill::plan(timetable, range, &decided, request.rerun, state).map_err(PlanError::Refused)
}

impl CronRun {
    /// The backfill annotation, if it asks for one not acted on yet.
    pub(super) fn backfill_asked(&self) -> Option<&String> {
        let asked = self.cron.metadata.annotations.get(BACKFILL)?;
        let done = self.observed.backfill.as_ref().map(|b| &b.request);
        (Some(asked) != done).then_some(asked)
    }

    /// Acts on a new backfill request: its runs join those still waiting
    /// from an earlier one. A request that cannot be carried out is said
    /// in a `BackfillRefused` event, and not tried again.
    pub(super) fn take_backfill(&mut self, pass: &mut Pass<'_>) {
        let Some(text) = self.backfill_asked().cloned() else {
            return;
        };
        let mut backfilling = self.observed.backfill.take().unwrap_or_default();
        backfilling.request = text.clone();
        let planned = serde_json::from_str::<Request>(&text)
            .map_err(|e| {
                let message = format!("the annotation {BACKFILL} is not a backfill request: {e}");
                PlanError::Refused(Refusal {
                    field: "metadata.annotations",
                    message,
                })
            })
            .and_then(|request| {
                let scope = (self.record.uid.as_str(), &self.timetable);
                let planned = plan_stored(pass.store, scope, &self.observed, &request, pass.now)?;
                Ok((request, planned))
            });
        let uid = self.record.uid.clone();
        match planned {
            Ok((request, planned)) => {
                let overlap = request.overlap();
                let mut runs: Vec<Waiting> = (planned.iter())
                    .filter_map(|(t, action)| match action {
                        Action::Run => Some((*t, None)),
                        Action::Rerun(job) => Some((*t, Some(job.clone()))),
                        _ => None,
                    })
                    .collect();
                let asked = runs.len();
                if overlap == OverlapPolicy::Skip {
                    // Only what there is room for now; the rest stay unrun
                    // (a later backfill may run them).
                    let running = self.observed.active.len() + backfilling.waiting.len();
                    let spec = &self.cron.spec;
                    runs.truncate(backfill::starts(spec, running, asked, overlap));
                }
                let message = format!(
                    "backfilling {} of {} scheduled times from {} to {} ({} skipped by the \
                     overlap policy, {} already run or pending)",
                    runs.len(),
                    planned.len(),
                    request.from,
                    request.to,
                    asked - runs.len(),
                    planned.len() - asked
                );
                backfilling.overlap = Some(overlap);
                backfilling.waiting.extend(runs);
                pass.writes
                    .push(event(&uid, Event::normal("Backfill", message), pass.now));
            }
            Err(PlanError::Refused(refusal)) => {
                let message = format!("{}: {}", refusal.field, refusal.message);
                let refused = Event::warning("BackfillRefused", message);
                pass.writes.push(event(&uid, refused, pass.now));
            }
            Err(PlanError::Store(e)) => {
                // Not acted on: tried again at the next pass.
                tracing::warn!(error = %e, "a backfill could not read the store");
                backfilling.request = String::new();
            }
        }
        self.observed.backfill = Some(backfilling);
    }

    /// Starts the first `count` of the backfill's waiting runs, as many as
    /// the namespace's `count/jobs.batch` has room for: the others wait,
    /// in order, and start at a later pass once there is room (a backfill
    /// was asked for, so its runs are not dropped as a scheduled time the
    /// quota refuses is; see `refused`).
    pub(super) fn start_backfilled(
        &mut self,
        count: usize,
        pass: &mut Pass<'_>,
    ) -> Vec<crate::runner::jobs::JobRun> {
        let Some(backfilling) = &self.observed.backfill else {
            return Vec::new();
        };
        let mut starting: Vec<Waiting> = Vec::new();
        for (scheduled, replaces) in backfilling.waiting.iter().take(count) {
            // A rerun deletes the live Job it replaces: no more Jobs.
            let live = |old: &String| pass.store.object(old).ok().flatten();
            let replacing = replaces.as_ref().and_then(live);
            if replacing.is_none_or(|job| job.deleted_at.is_some())
                && let Err(quota) = pass.job_room.take(&self.record.namespace, pass.store)
            {
                if !std::mem::replace(&mut self.backfill_held, true) {
                    let then = "; the backfilled run waits for room";
                    let held = self.failed_create(*scheduled, &quota, then);
                    pass.writes.push(event(&self.record.uid, held, pass.now));
                }
                break;
            }
            self.backfill_held = false;
            starting.push((*scheduled, replaces.clone()));
        }
        if let Some(backfilling) = &mut self.observed.backfill {
            backfilling.waiting.drain(..starting.len());
        }
        let mut jobs = Vec::new();
        for (scheduled, replaces) in starting {
            if let Some(old) = &replaces {
                // The rerun takes the name of the Job it replaces, which
                // stays as history.
                let live = pass.store.object(old).ok().flatten();
                if live.is_some_and(|job| job.deleted_at.is_none()) {
                    let at = pass.now;
                    let uid = old.clone();
                    pass.writes.push(Write::ObjectDeleted { uid, at });
                }
                self.history.finished.retain(|f| &f.uid != old);
                let message = format!("Rerunning the scheduled time {}", rfc3339(scheduled));
                pass.writes.push(event(
                    &self.record.uid,
                    Event::normal("Rerun", message),
                    pass.now,
                ));
            }
            jobs.push(self.start(scheduled, replaces, pass));
        }
        jobs
    }
}
