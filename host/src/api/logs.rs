//! `GET /wasmjob/v1/logs`: the output of the instances a name, a Job or a
//! selector picks — each one's last attempt, every attempt, or the one
//! before the last — or only the structured records at a level and with
//! fields.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::error::{ApiError, internal};
use super::query::{Filter, RecordFilter};
use super::reads::matching_instances;
use super::state::{Shared, read};
use super::wire::LogEntry;
use crate::store::{InstanceRecord, Store};

pub(super) async fn logs(
    State(state): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Json<Vec<LogEntry>>, ApiError> {
    let selector = filter.selector()?;
    let records = RecordFilter::parse(&filter)?;
    let entries = read(&state, move |store| {
        let matching = matching_instances(store, &filter, &selector)?;
        if matching.is_empty() {
            let what = filter
                .name
                .clone()
                .or(filter.job.clone().map(|j| format!("job/{j}")))
                .unwrap_or_else(|| "selector".into());
            let message = format!("no instances found for {what}");
            return Err(ApiError(StatusCode::NOT_FOUND, message));
        }
        let mut entries = Vec::new();
        for instance in matching {
            let mut kept = store.logs(&instance.uid).map_err(internal)?;
            // A running attempt's output so far is its last attempt's log
            // (not in `allAttempts`, which `logs -f` reads as each ends).
            if !filter.all_attempts
                && instance.finish_time.is_none()
                && let Some(live) = crate::runtime::live::output_so_far(&instance.uid)
            {
                let next = kept.last().map_or(0, |(a, _)| a + 1);
                kept.push((next, live));
            }
            let attempts = chosen(kept, &filter, &instance)?;
            match &records {
                Some(records) => structured(store, &instance, attempts, records, &mut entries)?,
                None => entries.extend(attempts.into_iter().map(|(attempt, data)| LogEntry {
                    instance: instance.name.clone(),
                    attempt,
                    text: String::from_utf8_lossy(&data).into_owned(),
                })),
            }
        }
        Ok(entries)
    })
    .await?;
    Ok(Json(entries))
}

/// The attempts asked for: every one (`allAttempts`), the one before the
/// last (`previous`), or the last.
fn chosen(
    attempts: Vec<(u32, Vec<u8>)>,
    filter: &Filter,
    instance: &InstanceRecord,
) -> Result<Vec<(u32, Vec<u8>)>, ApiError> {
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
    attempts: Vec<(u32, Vec<u8>)>,
    records: &RecordFilter,
    entries: &mut Vec<LogEntry>,
) -> Result<(), ApiError> {
    let kept = store.log_records(&instance.uid).map_err(internal)?;
    for (attempt, _) in attempts {
        let lines: Vec<String> = kept
            .iter()
            .filter(|(a, r)| *a == attempt && records.keeps(r))
            .map(|(_, r)| r.line())
            .collect();
        if !lines.is_empty() {
            entries.push(LogEntry {
                instance: instance.name.clone(),
                attempt,
                text: lines.join("\n") + "\n",
            });
        }
    }
    Ok(())
}
