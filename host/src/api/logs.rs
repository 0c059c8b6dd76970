//! `GET /wasmjob/v1/logs`: the output of the instances a name, a Job, a
//! DaemonSet or a selector picks — each one's last attempt (the running
//! one's output so far), every attempt, or the one before the last — shown
//! as asked (one container, since a time, the last lines, with times), or
//! only the structured records at a level and with fields. With `follow`,
//! a stream of it as it is written (see [`follow`]).

mod follow;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, internal};
use super::output::{Attempt, View, attempts};
use super::query::{Filter, RecordFilter};
use super::reads::matching_instances;
use super::state::{Shared, read};
use super::wire::LogEntry;
use crate::store::{InstanceRecord, Store};

pub(super) async fn logs(
    State(state): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let selector = filter.selector()?;
    let records = RecordFilter::parse(&filter)?;
    let view = filter.view()?;
    if filter.follow {
        return Ok(follow::stream(state, filter, selector, view));
    }
    let shared = state.clone();
    let entries = read(&state, move |store| {
        let elsewhere = super::elsewhere::Elsewhere::of(&shared, store);
        let matching = matching_instances(store, &filter, &selector)?;
        if matching.is_empty() {
            return Err(nothing_found(&filter));
        }
        let mut entries = Vec::new();
        for instance in matching {
            let all = attempts(store, &instance, elsewhere.as_ref()).map_err(internal)?;
            let chosen = chosen(all, &filter, &instance)?;
            match &records {
                Some(records) => structured(store, &instance, chosen, records, &mut entries)?,
                None => entries.extend(chosen.iter().map(|a| entry(&instance, a, &view))),
            }
        }
        Ok(entries)
    })
    .await?;
    Ok(Json(entries).into_response())
}

/// The refusal when nothing matches.
fn nothing_found(filter: &Filter) -> ApiError {
    let what = filter
        .name
        .clone()
        .or(filter.job.clone().map(|j| format!("job/{j}")))
        .or(filter.daemonset.clone().map(|d| format!("ds/{d}")))
        .unwrap_or_else(|| "selector".into());
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no instances found for {what}"),
    )
}

/// One attempt's output as `view` shows it.
fn entry(instance: &InstanceRecord, attempt: &Attempt, view: &View) -> LogEntry {
    LogEntry {
        instance: instance.name.clone(),
        attempt: attempt.attempt,
        text: String::from_utf8_lossy(&view.show(attempt, 0, false).0).into_owned(),
    }
}

/// The attempts asked for: every one (`allAttempts`), the one before the
/// last (`previous`), or the last (a running one's output so far).
fn chosen(
    attempts: Vec<Attempt>,
    filter: &Filter,
    instance: &InstanceRecord,
) -> Result<Vec<Attempt>, ApiError> {
    if filter.all_attempts {
        return Ok(attempts);
    }
    if !filter.previous {
        return Ok(attempts.into_iter().last().into_iter().collect());
    }
    let n = attempts.len();
    if n < 2 {
        let message = format!(
            "previous terminated attempt of instance {:?} not found",
            instance.name
        );
        return Err(ApiError(StatusCode::BAD_REQUEST, message));
    }
    Ok(attempts.into_iter().skip(n - 2).take(1).collect())
}

/// The structured records of the chosen attempts that `records` keeps, an
/// entry per attempt that has any.
fn structured(
    store: &Store,
    instance: &InstanceRecord,
    attempts: Vec<Attempt>,
    records: &RecordFilter,
    entries: &mut Vec<LogEntry>,
) -> Result<(), ApiError> {
    let kept = store.log_records(&instance.uid).map_err(internal)?;
    for attempt in attempts {
        let lines: Vec<String> = kept
            .iter()
            .filter(|(a, r)| *a == attempt.attempt && records.keeps(r))
            .map(|(_, r)| r.line())
            .collect();
        if !lines.is_empty() {
            entries.push(LogEntry {
                instance: instance.name.clone(),
                attempt: attempt.attempt,
                text: lines.join("\n") + "\n",
            });
        }
    }
    Ok(())
}
