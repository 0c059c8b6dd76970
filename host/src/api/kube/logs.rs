//! `GET …/pods/NAME/log`: an instance's output as text, as `kubectl logs`
//! reads it — the running attempt's output so far (see
//! `runtime::live`) or the last kept, the one before (`previous`), one
//! container's section (`container`), the last lines (`tailLines`), and
//! with `follow` the output as it is written until the instance has ended.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::call::Call;
use super::status::KubeError;
use crate::api::error::internal;
use crate::api::query::Filter;
use crate::api::reads::matching_instances;
use crate::api::state::{Shared, read};
use crate::executor::pod::container_lines;

/// How often `follow` looks for a new attempt.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// An instance's kept attempts, what its running attempt has printed so
/// far, and whether it has ended.
struct Output {
    attempts: Vec<(u32, Vec<u8>)>,
    live: Option<Vec<u8>>,
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
        let live = crate::runtime::live::output_so_far(&instance.uid).filter(|_| !ended);
        Ok(Some(Output {
            attempts,
            live,
            ended,
        }))
    })
    .await?;
    found.ok_or_else(|| KubeError::not_found("pods", &name))
}

/// An attempt's output as asked: one container's lines, the last lines.
/// Without either it goes out byte for byte, a line still being written
/// included.
fn shown(data: &[u8], container: Option<&str>, tail: Option<usize>) -> String {
    let whole = String::from_utf8_lossy(data);
    if container.is_none() && tail.is_none() {
        return whole.into_owned();
    }
    let lines = container_lines(&whole, container);
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    let mut out = String::new();
    for line in &lines[skip..] {
        out.push_str(line);
        out.push('\n');
    }
    out
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
    let text = |data: &[u8]| shown(data, container.as_deref(), tail);
    if call.flag("previous") {
        let n = first.attempts.len();
        if n == 0 || (n < 2 && first.live.is_none()) {
            return Err(KubeError::bad_request(format!(
                "previous terminated container {:?} in pod {name:?} not found",
                container.as_deref().unwrap_or("main")
            )));
        }
        // While an attempt runs, the previous one is the last kept.
        let at = if first.live.is_some() { n - 1 } else { n - 2 };
        let body = text(&first.attempts[at].1);
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    if !call.flag("follow") || first.ended {
        let current = first
            .live
            .as_deref()
            .or(first.attempts.last().map(|(_, d)| d.as_slice()));
        let body = current.map(text).unwrap_or_default();
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    // Follow: the current attempt as it is written, and every later one,
    // until the instance has ended.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let state = state.clone();
    let call = Call {
        target: super::call::Target {
            served: call.target.served,
            namespace: call.target.namespace.clone(),
            name: call.target.name.clone(),
            sub: None,
        },
        query: call.query.clone(),
        headers: call.headers.clone(),
    };
    tokio::spawn(async move {
        // Attempts kept and printed whole, and bytes of the next printed.
        let mut done = match first.live {
            Some(_) => first.attempts.len(),
            None => first.attempts.len().saturating_sub(1),
        };
        let mut partial = 0usize;
        let mut tail = tail;
        let mut current = first;
        let mut send = |bytes: &[u8], sender: &mpsc::Sender<_>| {
            let chunk = shown(bytes, container.as_deref(), tail.take());
            let sender = sender.clone();
            async move { chunk.is_empty() || sender.send(Ok(Bytes::from(chunk))).await.is_ok() }
        };
        loop {
            while done < current.attempts.len() {
                let data = &current.attempts[done].1;
                if !send(data.get(partial..).unwrap_or_default(), &sender).await {
                    return;
                }
                done += 1;
                partial = 0;
            }
            if current.ended {
                return;
            }
            if let Some(live) = &current.live
                && live.len() > partial
            {
                if !send(&live[partial..], &sender).await {
                    return;
                }
                partial = live.len();
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
