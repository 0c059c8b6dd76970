//! `GET /wasmjob/v1/namespaces/{namespace}/cronjobs/{name}/backfill`: what a
//! backfill of a range would do with each scheduled time (`from`, `to`,
//! `rerun`, `overlap` as query parameters), read from the store. It
//! changes nothing: a backfill is asked for by setting the CronJob's
//! annotation `wasmjob.dev/backfill`, which `wasmjob cronjob backfill`
//! does after showing this plan.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::{ApiError, internal};
use super::state::{Shared, read};
use crate::controller::cronjob::backfill::{Request, Rerun};
use crate::manifest::{CronJobStatus, Kind, OverlapPolicy};
use crate::runner::cron::backfill::{PlanError, observed_of, plan_stored};
use crate::time::rfc3339;

fn unprocessable(message: String) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The query parameter `name` as one of a word enum's values, if given.
fn word<T: serde::de::DeserializeOwned>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, serde_json::Error> {
    query
        .get(name)
        .map(|w| serde_json::from_value(json!(w)))
        .transpose()
}

/// The request the query asks about.
fn request_of(query: &HashMap<String, String>) -> Result<Request, ApiError> {
    let field = |name: &str| {
        query
            .get(name)
            .cloned()
            .ok_or_else(|| unprocessable(format!("{name}: is required (an RFC 3339 time)")))
    };
    let rerun: Option<Rerun> = word(query, "rerun")
        .map_err(|_| unprocessable("rerun: give none, failed or all".into()))?;
    let overlap: Option<OverlapPolicy> = word(query, "overlap")
        .map_err(|_| unprocessable("overlap: give BufferAll, Skip or AllowAll".into()))?;
    Ok(Request {
        id: String::new(),
        from: field("from")?,
        to: field("to")?,
        overlap,
        rerun: rerun.unwrap_or_default(),
    })
}

pub(super) async fn backfill_plan(
    State(state): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let request = request_of(&query)?;
    let now = crate::time::now();
    let planned = read(&state, move |store| {
        let found = store.live_object(Kind::CronJob, &namespace, &name);
        let Some(cron) = found.map_err(internal)? else {
            let message = format!("cronjobs.batch {name:?} not found");
            return Err(ApiError(StatusCode::NOT_FOUND, message));
        };
        let json = crate::resource::object_json(&cron);
        let timetable = crate::manifest::timetable_of(&json)
            .ok_or_else(|| internal("the stored CronJob cannot be read back"))?;
        let status: CronJobStatus = serde_json::from_value(cron.status.clone()).unwrap_or_default();
        let observed = observed_of(&status, cron.created_at);
        let scope = (cron.uid.as_str(), &timetable);
        plan_stored(store, scope, &observed, &request, now).map_err(|e| match e {
            PlanError::Refused(r) => unprocessable(format!("{}: {}", r.field, r.message)),
            PlanError::Store(e) => internal(e),
        })
    })
    .await?;
    let times: Vec<Value> = (planned.iter())
        .map(|(t, action)| json!({"time": rfc3339(*t), "action": action.as_str()}))
        .collect();
    Ok(Json(json!({ "times": times })))
}
