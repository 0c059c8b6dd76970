//! `?watch=true`: a stream of `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
//! "object": …}` lines, one per change, as Kubernetes streams them.
//!
//! The stream looks at the store when something was committed (see
//! `store::commits`; in a cluster, when any node's records reach the
//! database) and sends what changed since it last looked; a burst of
//! commits is read at most once every 50 ms. Without a `resourceVersion` (or with `0`) every object is first
//! sent as ADDED; with one, what changed after it. A `resourceVersion`
//! given by an earlier server (below this one's start) is answered
//! `410 Expired`, and the client lists again.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::call::{Call, accept};
use super::listing::{Found, gather};
use super::shape::{self, Include};
use super::status::KubeError;
use crate::api::revisions::identity;
use crate::api::state::Shared;

/// The shortest time between two looks of a watch.
const GAP: Duration = Duration::from_millis(50);
/// How often a watch of a cluster's nodes looks, for their heartbeats.
const NODE_BEAT: Duration = Duration::from_secs(1);
/// How often a watch that allows them gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// A watch without `timeoutSeconds` ends after this, as the API server's
/// default (the client watches again).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub(super) async fn watch(state: &Shared, call: Call) -> Result<Response, KubeError> {
    let since = match call.param("resourceVersion").filter(|v| !v.is_empty()) {
        None | Some("0") => None,
        Some(text) => {
            let revision: u64 = text.parse().map_err(|_| {
                KubeError::bad_request(format!("resourceVersion {text:?} is not a number"))
            })?;
            if !state.revisions.still_known(revision) {
                return Err(KubeError::new(
                    StatusCode::GONE,
                    format!(
                        "too old resource version: {revision} ({})",
                        state.revisions.current()
                    ),
                ));
            }
            Some(revision)
        }
    };
    // A watch of one object by name is a watch with a field selector.
    let mut call = call;
    if let Some(name) = call.target.name.take() {
        let mut fields = format!("metadata.name={name}");
        if let Some(more) = call.param("fieldSelector").filter(|f| !f.is_empty()) {
            fields = format!("{fields},{more}");
        }
        call.query.insert("fieldSelector".into(), fields);
    }
    // Subscribed before the first read: a commit that lands between that
    // read and the stream's first wait is looked at, not lost (a Job that
    // completed just as its watch began was never seen Complete).
    let commits = crate::store::commits::subscribe();
    let first = gather(state, &call).await?;
    let timeout = call
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let state = state.clone();
    tokio::spawn(async move {
        let mut stream = Stream {
            call,
            sender,
            seen: HashMap::new(),
        };
        stream.run(&state, (first, commits), since, timeout).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

struct Stream {
    call: Call,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    /// What the client has, by key: revision and the objects.
    seen: HashMap<String, (String, Found)>,
}

impl Stream {
    async fn run(
        &mut self,
        state: &Shared,
        (first, mut commits): (Vec<Found>, tokio::sync::watch::Receiver<u64>),
        since: Option<u64>,
        timeout: Duration,
    ) {
        let end = tokio::time::Instant::now() + timeout;
        for found in first {
            let revision = revision_of(&found);
            let newer = since.is_none_or(|s| revision.parse::<u64>().unwrap_or(0) > s);
            let kind = if since.is_none() { "ADDED" } else { "MODIFIED" };
            if newer && !self.send(kind, &found).await {
                return;
            }
            self.seen.insert(identity(&found.served), (revision, found));
        }
        let bookmarks = self.call.flag("allowWatchBookmarks");
        let mut last_bookmark = tokio::time::Instant::now();
        // A cluster's nodes change with their heartbeats, which are not
        // commits of this process: a watch of them also looks once a beat.
        let beats = state.cluster.is_some()
            && self.call.target.served.resource == crate::resource::ResourceType::Nodes;
        let mut last_look = tokio::time::Instant::now();
        loop {
            let mut wake = end;
            if bookmarks {
                wake = wake.min(last_bookmark + BOOKMARK_EVERY);
            }
            if beats {
                wake = wake.min(last_look + NODE_BEAT);
            }
            let committed = tokio::select! {
                changed = commits.changed() => match changed {
                    Ok(()) => true,
                    Err(_) => return,
                },
                () = tokio::time::sleep_until(wake) => false,
                () = self.sender.closed() => return,
            };
            if tokio::time::Instant::now() >= end {
                return;
            }
            if !self.bookmark(state, bookmarks, &mut last_bookmark).await {
                return;
            }
            let beat_due = beats && last_look.elapsed() >= NODE_BEAT;
            if !(committed || beat_due) {
                continue;
            }
            // The commits of a burst (a Job's instances ending) are read
            // together: one look at most every GAP.
            let since_look = last_look.elapsed();
            if since_look < GAP {
                tokio::time::sleep(GAP - since_look).await;
            }
            commits.borrow_and_update();
            last_look = tokio::time::Instant::now();
            crate::metrics::watch_read();
            let now = match gather(state, &self.call).await {
                Ok(now) => now,
                // A read that fails now may not in a moment (the cluster's
                // database reconnecting); the client keeps its stream.
                Err(_) => continue,
            };
            let mut present = std::collections::HashSet::new();
            for found in now {
                let k = identity(&found.served);
                present.insert(k.clone());
                let revision = revision_of(&found);
                let kind = match self.seen.get(&k) {
                    None => "ADDED",
                    Some((seen, _)) if *seen != revision => "MODIFIED",
                    Some(_) => continue,
                };
                if !self.send(kind, &found).await {
                    return;
                }
                self.seen.insert(k, (revision, found));
            }
            let gone: Vec<String> = self
                .seen
                .keys()
                .filter(|k| !present.contains(*k))
                .cloned()
                .collect();
            for k in gone {
                let (_, mut found) = self.seen.remove(&k).expect("seen");
                found.served["metadata"]["resourceVersion"] =
                    json!(state.revisions.next().to_string());
                if !self.send("DELETED", &found).await {
                    return;
                }
            }
        }
    }

    /// A BOOKMARK, when the client allows them and one is due; false once
    /// the client has gone.
    async fn bookmark(
        &self,
        state: &Shared,
        allowed: bool,
        last: &mut tokio::time::Instant,
    ) -> bool {
        if !allowed || last.elapsed() < BOOKMARK_EVERY {
            return true;
        }
        *last = tokio::time::Instant::now();
        let served = self.call.target.served;
        let object = json!({
            "kind": served.kind,
            "apiVersion": served.group_version(),
            "metadata": {"resourceVersion": state.revisions.current().to_string()},
        });
        self.line(json!({"type": "BOOKMARK", "object": object}))
            .await
    }

    /// Sends one event; false once the client has gone.
    async fn send(&self, kind: &str, found: &Found) -> bool {
        let object = if shape::wants_table(accept(&self.call.headers)) {
            let include = Include::parse(self.call.param("includeObject"));
            let revision = revision_of(found).parse().unwrap_or(0);
            shape::table(
                self.call.target.served.resource,
                std::slice::from_ref(found.native()),
                std::slice::from_ref(&found.served),
                include,
                revision,
            )
        } else {
            found.served.clone()
        };
        self.line(json!({"type": kind, "object": object})).await
    }

    async fn line(&self, event: Value) -> bool {
        let mut text = event.to_string();
        text.push('\n');
        self.sender.send(Ok(Bytes::from(text))).await.is_ok()
    }
}

fn revision_of(found: &Found) -> String {
    found.served["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}
