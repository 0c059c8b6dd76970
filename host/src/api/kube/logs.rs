//! `GET …/pods/NAME/log`: an instance's output as text, as `kubectl logs`
//! reads it — the last attempt or the one before (`previous`), one
//! container's section (`container`), the last lines (`tailLines`), and
//! with `follow` each attempt as it ends until the instance has ended.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::Call;
use super::status::KubeError;
use crate::api::error::internal;
use crate::api::query::Filter;
use crate::api::reads::matching_instances;
use crate::api::state::{Shared, read};
use crate::executor::pod::container_lines;

/// How often `follow` looks for a new attempt.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// An instance's attempts and whether it has ended.
struct Output {
    attempts: Vec<(u32, Vec<u8>)>,
    ended: bool,
}

async fn output(state: &Shared, call: &Call) -> Result<Output, KubeError> {
    let name = call.target.name.clone().unwrap_or_default();
    let filter = Filter {
        namespace: call.target.namespace.clone(),
        name: Some(name.clone()),
        ..Filter::default()
    };
    let found = read(state, move |store| {
        let mut matching = matching_instances(store, &filter, &Default::default())?;
        let Some(instance) = matching.pop() else {
            return Ok(None);
        };
        let attempts = store.logs(&instance.uid).map_err(internal)?;
        let ended = instance.finish_time.is_some();
        Ok(Some(Output { attempts, ended }))
    })
    .await?;
    found.ok_or_else(|| KubeError::not_found("pods", &name))
}

pub(super) async fn log(state: &Shared, call: &Call) -> Result<Response, KubeError> {
    for unsupported in ["timestamps", "sinceSeconds", "sinceTime"] {
        if call.param(unsupported).is_some_and(|v| v != "false") {
            return Err(KubeError::bad_request(format!(
                "{unsupported} is not served yet: wasmjob keeps an attempt's output without the \
                 time of each line"
            )));
        }
    }
    let tail = match call.param("tailLines") {
        None => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| KubeError::bad_request(format!("tailLines {t:?} is not a number")))?,
        ),
    };
    let container = call.param("container").map(str::to_owned);
    let name = call.target.name.clone().unwrap_or_default();
    let first = output(state, call).await?;
    let wanted = container.clone();
    let text = move |data: &[u8]| {
        let whole = String::from_utf8_lossy(data);
        let lines = container_lines(&whole, wanted.as_deref());
        let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
        let mut out = String::new();
        for line in &lines[skip..] {
            out.push_str(line);
            out.push('\n');
        }
        out
    };
    if call.flag("previous") {
        let n = first.attempts.len();
        if n < 2 {
            return Err(KubeError::bad_request(format!(
                "previous terminated container {:?} in pod {name:?} not found",
                container.as_deref().unwrap_or("main")
            )));
        }
        let body = text(&first.attempts[n - 2].1);
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    if !call.flag("follow") || first.ended {
        let body = first
            .attempts
            .last()
            .map(|(_, d)| text(d))
            .unwrap_or_default();
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    // Follow: every attempt as it is kept, until the instance has ended.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let state = state.clone();
    let call = Call {
        target: super::Target {
            served: call.target.served,
            namespace: call.target.namespace.clone(),
            name: call.target.name.clone(),
            sub: None,
        },
        query: call.query.clone(),
        headers: call.headers.clone(),
    };
    tokio::spawn(async move {
        let mut printed = 0usize;
        let mut current = first;
        loop {
            for (_, data) in current.attempts.iter().skip(printed) {
                let chunk = Bytes::from(text(data));
                if sender.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            printed = current.attempts.len();
            if current.ended {
                return;
            }
            tokio::time::sleep(FOLLOW_INTERVAL).await;
            if sender.is_closed() {
                return;
            }
            current = match output(&state, &call).await {
                Ok(o) => o,
                Err(e) if e.code == StatusCode::NOT_FOUND => return,
                Err(_) => continue,
            };
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response())
}
