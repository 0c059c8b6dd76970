//! The API server of `wasmjob serve`: axum handlers that read the store on
//! their own read-only connections and send every change to the runner's
//! thread as a [`Command`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::wire::{ApplyAnswer, ApplyBody, DeleteAnswer, ErrorBody, LabelRequest, LogEntry};
use crate::admission::ModuleBlob;
use crate::controller::node::relabeled;
use crate::manifest;
use crate::resource::{self, ResourceType};
use crate::runner::{ApplyRequest, Command, Inbox, Incoming};
use crate::runtime::{LogLevel, LogRecord};
use crate::selector::{Requirement, Selector};
use crate::store::{InstanceRecord, InstanceScope, NodeRecord, ObjectRecord, Store};

/// Modules travel in apply bodies; 64 MiB leaves room for big ones.
const MAX_BODY: usize = 64 << 20;

/// This node, as `get nodes` shows it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// `--node-name`.
    pub name: String,
    /// `--labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// When this process started.
    pub started: i64,
}

/// What every handler shares.
pub struct ServerState {
    /// The bearer token.
    pub token: String,
    /// The database file, for read connections.
    pub db: PathBuf,
    /// The runner's inbox.
    pub runner: Inbox,
    /// This node (its labels change with `wasmjob label node`).
    pub node: Mutex<NodeInfo>,
    /// In a cluster, the database every read goes to.
    pub cluster: Option<ClusterAccess>,
    /// Open read connections, reused between requests.
    pub readers: Mutex<Vec<Store>>,
}

/// Where a cluster node's API reads.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    /// The PostgreSQL URL.
    pub url: String,
    /// Heartbeats older than this make a node NotReady.
    pub grace: std::time::Duration,
}

/// Read connections kept open at most.
const MAX_READERS: usize = 8;

type Shared = std::sync::Arc<ServerState>;

/// The router with every route behind the token check.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/{resource}", get(list).delete(delete))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/nodes/{name}/labels", post(label_node))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// An error answer.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// A JSON request body. Unlike axum's `Json`, every refusal is answered in
/// the API's own error shape: malformed JSON and wrong fields with 400 and
/// serde's message (line and column included), a body over the limit with
/// 413 naming the limit.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match axum::body::Bytes::from_request(request, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over the {} MiB limit", MAX_BODY >> 20),
                ));
            }
            Err(rejection) => {
                return Err(ApiError(rejection.status(), rejection.body_text()));
            }
        };
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            bad_request(format!(
                "the request body is not valid JSON for this request: {e}"
            ))
        })
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare without an early exit, so timing says nothing about the token.
    let ok = given.is_some_and(|g| {
        g.len() == state.token.len()
            && g.bytes()
                .zip(state.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        next.run(request).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: the CLI reads it from <state dir>/token or WASMJOB_TOKEN".into(),
        )
        .into_response()
    }
}

async fn read<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let pooled = state.readers.lock().expect("reader pool").pop();
        let store = match pooled {
            Some(store) => store,
            None => {
                let node = state.node.lock().expect("node info").name.clone();
                match &state.cluster {
                    None => Store::open_readonly(&state.db),
                    Some(c) => Store::cluster_readonly(&c.url, &node, &state.db),
                }
                .map_err(internal)?
            }
        };
        let result = f(&store);
        let mut pool = state.readers.lock().expect("reader pool");
        if pool.len() < MAX_READERS {
            pool.push(store);
        }
        result
    })
    .await
    .map_err(internal)?
}

async fn apply(
    State(state): State<Shared>,
    Body(body): Body<ApplyBody>,
) -> Result<Json<ApplyAnswer>, ApiError> {
    let mut objects = Vec::new();
    for wire in body.objects {
        // The server validates again: a client is not trusted to have.
        let text = serde_json::to_string(&wire.object).map_err(internal)?;
        let mut docs = manifest::load_str(&text, &wire.source.file, std::path::Path::new("/"))
            .map_err(|mut e| {
                e.document = Some(wire.source.document);
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            })?;
        objects.push(Incoming {
            source: wire.source,
            object: docs.remove(0).object,
        });
    }
    let mut modules = Vec::new();
    for m in body.modules {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&m.bytes)
            .map_err(|e| bad_request(format!("module {}: bad base64: {e}", m.digest)))?;
        let digest = crate::module::digest(&bytes);
        if digest != m.digest {
            return Err(bad_request(format!(
                "module {} arrived with digest {digest}",
                m.digest
            )));
        }
        modules.push(ModuleBlob { digest, bytes });
    }
    let (reply, answer) = oneshot::channel();
    let request = ApplyRequest {
        objects,
        modules,
        create_only: body.create_only,
    };
    send(&state, Command::Apply { request, reply })?;
    match answer.await.map_err(|_| unavailable())? {
        Ok(applied) => Ok(Json(ApplyAnswer { applied })),
        Err(failure) => Err(ApiError(
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            failure.message,
        )),
    }
}

async fn label_node(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Body(request): Body<LabelRequest>,
) -> Result<Json<Value>, ApiError> {
    let this = state.node.lock().expect("node info").name.clone();
    if name != this && state.cluster.is_some() {
        return label_other_node(&state, name, request).await;
    }
    if name != this {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "Error from server (NotFound): nodes {name:?} not found (this node is {this:?})"
            ),
        ));
    }
    validate_labels(&request)?;
    let (reply, answer) = oneshot::channel();
    let change = request.into();
    send(&state, Command::Relabel { change, reply })?;
    let labels = answer
        .await
        .map_err(|_| unavailable())?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    let mut node = state.node.lock().expect("node info");
    node.labels = labels;
    Ok(Json(node_json(&node)))
}

/// The keys and values `label node` sets, by Kubernetes' rules.
fn validate_labels(request: &LabelRequest) -> Result<(), ApiError> {
    for (key, value) in &request.set {
        let valid = manifest::validate::qualified_name(key)
            .and_then(|()| manifest::validate::label_value(value));
        valid.map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    }
    Ok(())
}

/// `label node` for another node of the cluster: its row changes, and
/// that node takes the labels at its next heartbeat.
async fn label_other_node(
    state: &Shared,
    name: String,
    request: LabelRequest,
) -> Result<Json<Value>, ApiError> {
    validate_labels(&request)?;
    let grace = state.cluster.as_ref().map(|c| c.grace).unwrap_or_default();
    read(state, move |store| {
        let control = store
            .control_plane()
            .expect("a cluster node reads the cluster");
        let nodes = control.nodes(grace).map_err(internal)?;
        let Some(node) = nodes.into_iter().find(|n| n.name == name) else {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("Error from server (NotFound): nodes {name:?} not found"),
            ));
        };
        let labels = relabeled(&node.labels, request.into())
            .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
        control.set_node_labels(&name, &labels).map_err(internal)?;
        Ok(Json(cluster_node_json(&NodeRecord { labels, ..node })))
    })
    .await
}

fn unavailable() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the node is shutting down".into(),
    )
}

fn send(state: &Shared, command: Command) -> Result<(), ApiError> {
    match state.runner.command(command) {
        true => Ok(()),
        false => Err(unavailable()),
    }
}

/// `?namespace=…&labelSelector=…&name=…`; no namespace means all of them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    namespace: Option<String>,
    label_selector: Option<String>,
    name: Option<String>,
    /// Instances: those of this Job.
    job: Option<String>,
    /// Logs: every attempt rather than the last.
    #[serde(default)]
    all_attempts: bool,
    /// Logs: the attempt before the last.
    #[serde(default)]
    previous: bool,
    /// Logs: only structured records at this level or above.
    level: Option<String>,
    /// Logs: only structured records with these fields, `k=v,k2=v2`.
    fields: Option<String>,
}

impl Filter {
    fn selector(&self) -> Result<Selector, ApiError> {
        Selector::parse(self.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| bad_request(e.to_string()))
    }
}

fn resource_type(text: &str) -> Result<ResourceType, ApiError> {
    ResourceType::parse(text).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("the server doesn't have a resource type {text:?}"),
        )
    })
}

async fn list(
    State(state): State<Shared>,
    Path(kind): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let resource = resource_type(&kind)?;
    let selector = filter.selector()?;
    let node = state.node.lock().expect("node info").clone();
    let grace = state.cluster.as_ref().map(|c| c.grace);
    // A cluster's DaemonSets are counted over every node when read; every
    // other object goes out as stored.
    let counted = resource == ResourceType::DaemonSets && grace.is_some();
    if let Some(kind) = resource.kind().filter(|_| !counted) {
        let body = read(&state, move |store| {
            stored_list(store, kind, &filter, &selector)
        })
        .await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let items = read(&state, move |store| match resource {
        ResourceType::Instances => instances(store, &filter, &selector),
        ResourceType::Events => events(store, &filter),
        ResourceType::Nodes => match (store.control_plane(), grace) {
            (Some(control), Some(grace)) => Ok(control
                .nodes(grace)
                .map_err(internal)?
                .iter()
                .filter(|n| filter.name.as_ref().is_none_or(|name| &n.name == name))
                .filter(|n| selector.matches(&n.labels))
                .map(cluster_node_json)
                .collect()),
            _ => Ok(vec![node_json(&node)]),
        },
        _ => {
            let mut found = objects(store, resource, &filter, &selector)?;
            if resource == ResourceType::DaemonSets
                && let (Some(_), Some(grace)) = (store.control_plane(), grace)
            {
                for ds in &mut found {
                    super::cluster::count_daemonset(store, ds, grace).map_err(internal)?;
                }
            }
            Ok(found.iter().map(resource::object_json).collect())
        }
    })
    .await?;
    Ok(Json(resource::list_json(items)).into_response())
}

/// The `List` of stored objects of a kind, written from their stored text:
/// a thousand Jobs are a megabyte that need not be parsed and rebuilt.
fn stored_list(
    store: &Store,
    kind: manifest::Kind,
    filter: &Filter,
    selector: &Selector,
) -> Result<String, ApiError> {
    let found = store
        .live_objects_text(kind, filter.namespace.as_deref())
        .map_err(internal)?;
    let mut items = Vec::new();
    for object in found.iter().filter(|o| {
        filter.name.as_ref().is_none_or(|n| &o.name == n) && selector.matches(&o.labels)
    }) {
        items.push(resource::object_json_text(object).map_err(internal)?);
    }
    Ok(format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
        items.join(",")
    ))
}

fn objects(
    store: &Store,
    resource: ResourceType,
    filter: &Filter,
    selector: &Selector,
) -> Result<Vec<ObjectRecord>, ApiError> {
    let kind = resource.kind().expect("object kinds");
    let found = store
        .live_objects(kind, filter.namespace.as_deref())
        .map_err(internal)?;
    Ok(found
        .into_iter()
        .filter(|o| {
            filter.name.as_ref().is_none_or(|n| &o.name == n) && selector.matches(&o.labels)
        })
        .collect())
}

/// The live instances a filter and selector keep. A name, a Job, or a
/// `job-name=` requirement narrows the read to an index lookup first; every
/// condition is still checked on what is read.
fn matching_instances(
    store: &Store,
    filter: &Filter,
    selector: &Selector,
) -> Result<Vec<InstanceRecord>, ApiError> {
    let job = filter.job.as_deref().or_else(|| {
        selector.0.iter().find_map(|r| match r {
            Requirement::Equals(k, v) if k == "job-name" || k == "batch.kubernetes.io/job-name" => {
                Some(v.as_str())
            }
            _ => None,
        })
    });
    let scope = match (&filter.name, job) {
        (Some(name), _) => InstanceScope::Named(name),
        (None, Some(job)) => InstanceScope::OfJob(job),
        (None, None) => InstanceScope::All,
    };
    let found = store
        .live_instances_in(filter.namespace.as_deref(), scope)
        .map_err(internal)?;
    Ok(found
        .into_iter()
        .filter(|i| filter.name.as_ref().is_none_or(|n| &i.name == n))
        .filter(|i| {
            filter
                .job
                .as_ref()
                .is_none_or(|j| i.labels.get("job-name") == Some(j))
        })
        .filter(|i| selector.matches(&i.labels))
        .collect())
}

fn instances(store: &Store, filter: &Filter, selector: &Selector) -> Result<Vec<Value>, ApiError> {
    let mut owners: HashMap<String, ObjectRecord> = HashMap::new();
    let mut items = Vec::new();
    for instance in matching_instances(store, filter, selector)? {
        if !owners.contains_key(&instance.owner_uid) {
            let Some(owner) = store.object(&instance.owner_uid).map_err(internal)? else {
                continue;
            };
            owners.insert(instance.owner_uid.clone(), owner);
        }
        items.push(resource::instance_json(
            &instance,
            &owners[&instance.owner_uid],
        ));
    }
    Ok(items)
}

fn events(store: &Store, filter: &Filter) -> Result<Vec<Value>, ApiError> {
    let mut owners: HashMap<String, Option<ObjectRecord>> = HashMap::new();
    let mut items = Vec::new();
    for event in store
        .live_events(filter.namespace.as_deref())
        .map_err(internal)?
    {
        let owner = match owners.get(&event.object_uid) {
            Some(o) => o.clone(),
            None => {
                let o = store.object(&event.object_uid).map_err(internal)?;
                owners.insert(event.object_uid.clone(), o.clone());
                o
            }
        };
        if let Some(owner) = owner
            && filter.name.as_ref().is_none_or(|n| &owner.name == n)
        {
            items.push(resource::event_json(&event, &owner));
        }
    }
    Ok(items)
}

/// A node of the cluster as `get nodes` shows it: Ready while it heartbeats.
fn cluster_node_json(node: &NodeRecord) -> Value {
    let (status, reason) = if node.ready {
        ("True", "NodeReady")
    } else {
        ("Unknown", "NodeStatusUnknown")
    };
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": node.labels,
            "creationTimestamp": crate::time::rfc3339(node.joined_at),
        },
        "status": {
            "conditions": [{
                "type": "Ready",
                "status": status,
                "reason": reason,
                "lastHeartbeatTime": crate::time::rfc3339(node.heartbeat_at),
            }],
            "capacity": {"instances": node.capacity.to_string()},
            "addresses": [{"type": "InternalIP", "address": node.address}],
            "nodeInfo": {"kubeletVersion": node.version},
        },
    })
}

fn node_json(node: &NodeInfo) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": node.labels,
            "creationTimestamp": crate::time::rfc3339(node.started),
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": env!("CARGO_PKG_VERSION")},
        },
    })
}

/// Which structured records `logs --level/--field` keeps.
struct RecordFilter {
    level: LogLevel,
    fields: Vec<(String, String)>,
}

impl RecordFilter {
    fn parse(filter: &Filter) -> Result<Option<RecordFilter>, ApiError> {
        if filter.level.is_none() && filter.fields.is_none() {
            return Ok(None);
        }
        let level = match &filter.level {
            None => LogLevel::Trace,
            Some(text) => LogLevel::parse(text).ok_or_else(|| {
                bad_request(format!(
                    "unknown log level {text:?}: use trace, debug, info, warn or error"
                ))
            })?,
        };
        let mut fields = Vec::new();
        for pair in filter.fields.iter().flat_map(|f| f.split(',')) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad_request(format!("field filter {pair:?} is not KEY=VALUE")))?;
            fields.push((key.to_owned(), value.to_owned()));
        }
        Ok(Some(RecordFilter { level, fields }))
    }

    fn keeps(&self, record: &LogRecord) -> bool {
        record.level >= self.level
            && self
                .fields
                .iter()
                .all(|wanted| record.fields.iter().any(|have| have == wanted))
    }
}

async fn logs(
    State(state): State<Shared>,
    Query(filter): Query<Filter>,
) -> Result<Json<Vec<LogEntry>>, ApiError> {
    let selector = filter.selector()?;
    let records = RecordFilter::parse(&filter)?;
    let entries = read(&state, move |store| {
        let mut entries = Vec::new();
        let matching = matching_instances(store, &filter, &selector)?;
        if matching.is_empty() {
            let what = filter
                .name
                .clone()
                .or(filter.job.clone().map(|j| format!("job/{j}")))
                .unwrap_or_else(|| "selector".into());
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no instances found for {what}"),
            ));
        }
        for instance in matching {
            let attempts = store.logs(&instance.uid).map_err(internal)?;
            let chosen: Vec<_> = if filter.all_attempts {
                attempts
            } else if filter.previous {
                let n = attempts.len();
                if n < 2 {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "previous terminated attempt of instance {:?} not found",
                            instance.name
                        ),
                    ));
                }
                attempts.into_iter().skip(n - 2).take(1).collect()
            } else {
                attempts.into_iter().last().into_iter().collect()
            };
            if let Some(records) = &records {
                let kept = store.log_records(&instance.uid).map_err(internal)?;
                for (attempt, _) in chosen {
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
                continue;
            }
            for (attempt, data) in chosen {
                entries.push(LogEntry {
                    instance: instance.name.clone(),
                    attempt,
                    text: String::from_utf8_lossy(&data).into_owned(),
                });
            }
        }
        Ok(entries)
    })
    .await?;
    Ok(Json(entries))
}

async fn delete(
    State(state): State<Shared>,
    Path(kind): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Json<DeleteAnswer>, ApiError> {
    let resource = resource_type(&kind)?;
    if resource.kind().is_none() {
        return Err(bad_request(format!(
            "{} cannot be deleted directly: delete their owner",
            resource.plural()
        )));
    }
    if filter.name.is_none() && filter.label_selector.is_none() {
        return Err(bad_request("name a resource or give a label selector (-l)"));
    }
    let selector = filter.selector()?;
    let name = filter.name.clone();
    let found = read(&state, move |store| {
        objects(store, resource, &filter, &selector)
    })
    .await?;
    if found.is_empty()
        && let Some(name) = name
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "Error from server (NotFound): {}.{} {name:?} not found",
                resource.plural(),
                qualified_group(resource)
            ),
        ));
    }
    let (reply, answer) = oneshot::channel();
    let uids = found.iter().map(|o| o.uid.clone()).collect();
    send(&state, Command::Delete { uids, reply })?;
    answer.await.map_err(|_| unavailable())?.map_err(internal)?;
    Ok(Json(DeleteAnswer {
        deleted: found
            .iter()
            .map(|o| (o.kind.qualified().to_owned(), o.name.clone()))
            .collect(),
    }))
}

fn qualified_group(resource: ResourceType) -> &'static str {
    match resource {
        ResourceType::DaemonSets => "apps",
        _ => "batch",
    }
}
