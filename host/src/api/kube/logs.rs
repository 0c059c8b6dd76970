//! `GET …/pods/NAME/log`: an instance's output as text, as `kubectl logs`
//! reads it — the running attempt's output so far (see `runtime::live`)
//! or the last kept, the one before (`previous`), one container's section
//! (`container`), the lines since a time (`sinceSeconds`, `sinceTime`),
//! the last lines (`tailLines`), each line's time (`timestamps`), and with
//! `follow` the output as it is written until the instance has ended.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::call::Call;
use super::status::KubeError;
use crate::api::elsewhere::Elsewhere;
use crate::api::error::internal;
use crate::api::output::{Attempt, View, attempts};
use crate::api::query::Filter;
use crate::api::reads::matching_instances;
use crate::api::state::{Shared, read};
use crate::store::InstanceRecord;

/// How long `follow` waits without a word from the store or the running
/// attempt before it looks anyway (an instance on another node of a
/// cluster, whose writes are not this process's).
const FOLLOW_FALLBACK: Duration = Duration::from_secs(1);
/// How long the node running an attempt is asked to wait for more output.
const LONG_POLL: u64 = 20;

/// An instance's attempts and whether it has ended.
struct Output {
    uid: String,
    attempts: Vec<Attempt>,
    ended: bool,
    /// The node that runs it, when another node of the cluster does.
    elsewhere: Option<(Elsewhere, InstanceRecord)>,
}

async fn output(
    state: &Shared,
    name: &str,
    namespace: Option<String>,
) -> Result<Output, KubeError> {
    let filter = Filter {
        namespace,
        name: Some(name.to_owned()),
        ..Filter::default()
    };
    let shared = state.clone();
    let found = read(state, move |store| {
        let mut matching = matching_instances(store, &filter, &Default::default())?;
        let Some(instance) = matching.pop() else {
            return Ok(None);
        };
        let elsewhere = Elsewhere::of(&shared, store);
        let attempts = attempts(store, &instance, elsewhere.as_ref()).map_err(internal)?;
        Ok(Some(Output {
            attempts,
            ended: instance.finish_time.is_some(),
            uid: instance.uid.clone(),
            elsewhere: elsewhere
                .filter(|e| e.runs(&instance))
                .map(|e| (e, instance)),
        }))
    })
    .await?;
    found.ok_or_else(|| KubeError::not_found("pods", name))
}

/// The view the query asks for.
fn view(call: &Call) -> Result<View, KubeError> {
    let number = |key: &str| -> Result<Option<u64>, KubeError> {
        call.param(key)
            .map(|t| {
                t.parse::<u64>()
                    .map_err(|_| KubeError::bad_request(format!("{key} {t:?} is not a number")))
            })
            .transpose()
    };
    let since = crate::api::output::since(number("sinceSeconds")?, call.param("sinceTime"))
        .map_err(KubeError::bad_request)?;
    Ok(View {
        container: call.param("container").map(str::to_owned),
        since,
        tail: number("tailLines")?.map(|t| t as usize),
        timestamps: call.flag("timestamps"),
    })
}

pub(super) async fn log(state: &Shared, call: &Call) -> Result<Response, KubeError> {
    let view = view(call)?;
    let name = call.target.name.clone().unwrap_or_default();
    let namespace = call.target.namespace.clone();
    let first = output(state, &name, namespace.clone()).await?;
    let text = |a: &Attempt| view.show(a, 0, false).0;
    if call.flag("previous") {
        // The one before the last, kept or running.
        let at = first.attempts.len().checked_sub(2);
        let Some(at) = at else {
            return Err(KubeError::bad_request(format!(
                "previous terminated container {:?} in pod {name:?} not found",
                view.container.as_deref().unwrap_or("main")
            )));
        };
        let body = text(&first.attempts[at]);
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    if !call.flag("follow") || first.ended {
        let body = first.attempts.last().map(text).unwrap_or_default();
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    // Follow: the current attempt as it is written, and every later one,
    // until the instance has ended.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let state = state.clone();
    tokio::spawn(async move {
        // Attempts printed whole, and where the next look at the current
        // one starts.
        let mut done = first.attempts.len().saturating_sub(1);
        let mut from = 0usize;
        let mut view = view;
        // Subscribed after the first read: what was written or committed
        // in between (the instance's end) is read at once.
        let mut commits = crate::store::commits::subscribe();
        commits.mark_changed();
        let mut written = crate::runtime::live::written(&first.uid);
        if let Some(w) = written.as_mut() {
            w.mark_changed();
        }
        let mut current = first;
        let mut asking: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            while let Some(attempt) = current.attempts.get(done) {
                // A kept attempt goes out whole; the running one, its
                // whole lines so far.
                let (chunk, next) = view.show(attempt, from, attempt.running);
                if !chunk.is_empty() {
                    // The last lines are of the output there was at first.
                    view.tail = None;
                    if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                        return;
                    }
                }
                if attempt.running {
                    from = next;
                    break;
                }
                done += 1;
                from = 0;
            }
            if current.ended {
                return;
            }
            // Wake when the attempt writes more (here, or on the node that
            // runs it), when something is committed (it ended, a new
            // attempt started), or after a while.
            if written.is_none()
                && let Some((elsewhere, instance)) = current.elsewhere.clone()
                && asking.as_ref().is_none_or(|a| a.is_finished())
            {
                let seen = current.attempts.last().map_or(0, |a| a.data.len());
                asking = Some(tokio::task::spawn_blocking(move || {
                    elsewhere.live(&instance, seen, LONG_POLL);
                }));
            }
            let more = async {
                match written.as_mut() {
                    Some(w) => w.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let answered = async {
                match asking.as_mut() {
                    Some(a) if !a.is_finished() => {
                        let _ = a.await;
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                still = more => if !still { written = None },
                () = answered => asking = None,
                _ = commits.changed() => {}
                () = tokio::time::sleep(FOLLOW_FALLBACK) => {}
                () = sender.closed() => return,
            }
            commits.borrow_and_update();
            if written.is_none() {
                written = crate::runtime::live::written(&current.uid);
            }
            if let Some(w) = written.as_mut() {
                w.borrow_and_update();
            }
            current = match output(&state, &name, namespace.clone()).await {
                Ok(o) => o,
                Err(e) if e.code == StatusCode::NOT_FOUND => return,
                Err(_) => continue,
            };
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response())
}
