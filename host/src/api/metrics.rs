//! `GET /metrics`: the node's metrics for Prometheus (see `metrics`) —
//! behind the token like every route, or without it on the address
//! `serve --metrics-listen` names, as scrapers expect.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, internal};
use super::query::Filter;
use super::reads::items;
use super::state::{Shared, read};
use crate::metrics::{self, Objects, QueueDepth};
use crate::resource::ResourceType;

pub(super) async fn metrics(State(state): State<Shared>) -> Result<Response, ApiError> {
    let all = |resource| items(&state, resource, Filter::default(), Default::default());
    let jobs = all(ResourceType::Jobs).await?;
    let cronjobs = all(ResourceType::CronJobs).await?;
    let daemonsets = all(ResourceType::DaemonSets).await?;
    let nodes = all(ResourceType::Nodes).await?;
    let db = state.db.clone();
    let queues = read(&state, move |_| {
        let listed = crate::queue::EmbeddedQueue::list(&db).map_err(internal)?;
        Ok(listed
            .into_iter()
            .map(|(name, stats)| QueueDepth {
                name,
                waiting: stats.waiting,
                leased: stats.leased,
            })
            .collect())
    })
    .await?;
    let objects = Objects {
        jobs,
        cronjobs,
        daemonsets,
        nodes,
        queues,
        now: jiff::Timestamp::now(),
    };
    let text = metrics::render(&objects);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

/// The router of `--metrics-listen`: `/metrics` alone, without the token.
pub fn open_router(state: Shared) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}
