//! `logs?follow=true`: the output of the instances picked, as it is
//! written — one JSON [`LogEntry`] a line, each with the lines of one
//! attempt that are new (a running attempt's whole lines; a kept one's
//! rest) — until there can be no more: every instance picked has ended,
//! and so has every Job they belong to (a Job's later instances are
//! followed as they start). A DaemonSet's instances never end: its stream
//! goes on until the client leaves.
//!
//! The stream looks again when a running attempt writes (on this node, or
//! on the cluster node that runs it: see `elsewhere`), when something is
//! committed, and at least once a second.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::super::elsewhere::Elsewhere;
use super::super::error::{ApiError, internal};
use super::super::output::{Attempt, View, attempts};
use super::super::query::Filter;
use super::super::reads::matching_instances;
use super::super::state::{Shared, read};
use super::super::wire::LogEntry;
use super::nothing_found;
use crate::manifest::{JobStatus, Kind};
use crate::selector::Selector;
use crate::store::InstanceRecord;

/// The longest a stream waits without a word from the store or a running
/// attempt.
const FALLBACK: Duration = Duration::from_secs(1);
/// How long a node running an attempt is asked to wait for more output.
const LONG_POLL: u64 = 20;
/// The shortest time between two looks.
const GAP: Duration = Duration::from_millis(50);

/// What one look found.
struct Look {
    instances: Vec<(InstanceRecord, Vec<Attempt>)>,
    /// Whether every Job of the instances (or named) has finished.
    jobs_finished: bool,
    /// Whether nothing matched and nothing could: the Job named is gone.
    nothing: bool,
    /// The cluster's other nodes, which run some of the instances.
    elsewhere: Option<Elsewhere>,
}

/// Reads the instances picked, and the output of those not `printed` in
/// full already (an instance that ended and was printed has nothing new).
async fn look(
    state: &Shared,
    (filter, selector): (&Filter, &Selector),
    printed: HashSet<String>,
) -> Result<Look, ApiError> {
    let filter = Filter {
        namespace: filter.namespace.clone(),
        label_selector: filter.label_selector.clone(),
        name: filter.name.clone(),
        job: filter.job.clone(),
        daemonset: filter.daemonset.clone(),
        ..Filter::default()
    };
    let selector = selector.clone();
    let shared = state.clone();
    read(state, move |store| {
        let elsewhere = Elsewhere::of(&shared, store);
        let matching = matching_instances(store, &filter, &selector)?;
        let mut jobs: HashSet<(String, String)> = matching
            .iter()
            .filter_map(|i| Some((i.namespace.clone(), i.labels.get("job-name")?.clone())))
            .collect();
        if let Some(job) = &filter.job {
            let namespace = filter.namespace.clone().unwrap_or_else(|| "default".into());
            jobs.insert((namespace, job.clone()));
        }
        let mut jobs_finished = true;
        let mut any_job = false;
        for (namespace, name) in &jobs {
            let job = store
                .live_object(Kind::Job, namespace, name)
                .map_err(internal)?;
            if let Some(job) = job {
                any_job = true;
                let status: JobStatus = serde_json::from_value(job.status).unwrap_or_default();
                // A Job that counts instances whose rows this read did not
                // find yet (committed after it) is not done for the stream.
                let counted = status.succeeded + status.failed > 0;
                let found = matching
                    .iter()
                    .any(|i| i.labels.get("job-name") == Some(name) && &i.namespace == namespace);
                jobs_finished &= status.is_finished() && (found || !counted);
            }
        }
        let nothing = matching.is_empty() && !any_job;
        let mut instances = Vec::with_capacity(matching.len());
        for instance in matching {
            let all = match printed.contains(&instance.uid) {
                true => Vec::new(),
                false => attempts(store, &instance, elsewhere.as_ref()).map_err(internal)?,
            };
            instances.push((instance, all));
        }
        Ok(Look {
            instances,
            jobs_finished,
            nothing,
            elsewhere,
        })
    })
    .await
}

/// The stream's response; a picked name, Job or DaemonSet that does not
/// exist is refused in the stream's first line.
pub(super) fn stream(state: Shared, filter: Filter, selector: Selector, view: View) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut follower = Follower {
            sender,
            view,
            sent: HashMap::new(),
            done: HashSet::new(),
            printed: HashSet::new(),
            asking: HashMap::new(),
            answered: mpsc::unbounded_channel(),
        };
        follower.run(&state, &filter, &selector).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

struct Follower {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    view: View,
    /// Where the next look at a running attempt starts, by (uid, attempt).
    sent: HashMap<(String, u32), usize>,
    /// Attempts sent whole.
    done: HashSet<(String, u32)>,
    /// Instances that ended, all of whose output was sent.
    printed: HashSet<String>,
    /// Questions to the nodes that run instances, by instance uid.
    asking: HashMap<String, tokio::task::JoinHandle<()>>,
    /// Their answers.
    answered: (mpsc::UnboundedSender<()>, mpsc::UnboundedReceiver<()>),
}

impl Follower {
    async fn run(&mut self, state: &Shared, filter: &Filter, selector: &Selector) {
        let mut commits = crate::store::commits::subscribe();
        let mut first = true;
        loop {
            commits.borrow_and_update();
            let looked = tokio::time::Instant::now();
            let found = match look(state, (filter, selector), self.printed.clone()).await {
                Ok(found) => found,
                Err(e) => {
                    // Gone (a DaemonSet deleted), or refused at once.
                    let _ = self.line(&serde_json::json!({"error": e.1})).await;
                    return;
                }
            };
            if first && found.nothing && filter.daemonset.is_none() {
                let e = nothing_found(filter);
                let _ = self.line(&serde_json::json!({"error": e.1})).await;
                return;
            }
            let mut writers = tokio::task::JoinSet::new();
            let mut running = false;
            let mut running_uids = HashSet::new();
            for (instance, attempts) in &found.instances {
                for attempt in attempts {
                    if !self.send(instance, attempt).await {
                        return;
                    }
                    if attempt.running {
                        running = true;
                        running_uids.insert(instance.uid.clone());
                        if let Some(mut w) = crate::runtime::live::written(&instance.uid) {
                            // Whatever it wrote since it was read wakes us.
                            w.mark_changed();
                            writers.spawn(async move {
                                let _ = w.changed().await;
                            });
                        } else if let Some(elsewhere) = &found.elsewhere {
                            self.ask_elsewhere(elsewhere, instance, attempt.data.len());
                        }
                    }
                }
            }
            if first {
                // `tailLines` is of the output there was at first.
                self.view.tail = None;
                first = false;
            }
            for (instance, _) in &found.instances {
                if instance.finish_time.is_some() && !running_uids.contains(&instance.uid) {
                    self.printed.insert(instance.uid.clone());
                }
            }
            let ended = found.instances.iter().all(|(i, _)| i.finish_time.is_some());
            let finished = match (&filter.name, &filter.daemonset) {
                (Some(_), _) => ended && !running && !found.instances.is_empty(),
                (None, Some(_)) => false,
                (None, None) => ended && !running && found.jobs_finished,
            };
            if finished {
                return;
            }
            tokio::select! {
                _ = writers.join_next(), if !writers.is_empty() => {}
                _ = self.answered.1.recv() => {}
                _ = commits.changed() => {}
                () = tokio::time::sleep(FALLBACK) => {}
                () = self.sender.closed() => return,
            }
            // The commits of a burst (a Job's instances ending) are read
            // together: one look at most every GAP.
            tokio::time::sleep_until(looked + GAP).await;
        }
    }

    /// Asks the node that runs `instance` to answer once its output is
    /// longer than `seen` bytes (one question at a time for each instance;
    /// the answer wakes the stream, which then reads the output).
    fn ask_elsewhere(&mut self, elsewhere: &Elsewhere, instance: &InstanceRecord, seen: usize) {
        if self
            .asking
            .get(&instance.uid)
            .is_some_and(|asked| !asked.is_finished())
        {
            return;
        }
        let (elsewhere, asked) = (elsewhere.clone(), instance.clone());
        let answered = self.answered.0.clone();
        let task = tokio::task::spawn_blocking(move || {
            elsewhere.live(&asked, seen, LONG_POLL);
            let _ = answered.send(());
        });
        self.asking.insert(instance.uid.clone(), task);
    }

    /// Sends what is new of `attempt`; false once the client has gone.
    async fn send(&mut self, instance: &InstanceRecord, attempt: &Attempt) -> bool {
        let key = (instance.uid.clone(), attempt.attempt);
        if self.done.contains(&key) {
            return true;
        }
        let from = self.sent.get(&key).copied().unwrap_or(0);
        let (bytes, next) = self.view.show(attempt, from, attempt.running);
        match attempt.running {
            true => self.sent.insert(key, next),
            false => {
                self.sent.remove(&key);
                self.done.insert(key);
                None
            }
        };
        if bytes.is_empty() {
            return true;
        }
        let entry = LogEntry {
            instance: instance.name.clone(),
            attempt: attempt.attempt,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        };
        self.line(&serde_json::to_value(entry).unwrap_or_default())
            .await
    }

    async fn line(&self, value: &serde_json::Value) -> bool {
        let mut text = value.to_string();
        text.push('\n');
        self.sender.send(Ok(Bytes::from(text))).await.is_ok()
    }
}
