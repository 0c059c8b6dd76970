//! The API's changes: apply, delete and `label node`, each carried out on
//! the runner's thread as a command (`label node` for another node of a
//! cluster goes to the control plane, which that node follows).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde_json::Value;
use tokio::sync::oneshot;

use super::error::{ApiError, Body, bad_request, internal, unavailable};
use super::reads::{cluster_node_json, node_json};
use super::state::{Shared, read, send};
use super::wire::{ApplyAnswer, ApplyBody, LabelRequest, TaintRequest};
use crate::admission::ModuleBlob;
use crate::controller::node::relabeled;
use crate::manifest::{self, taints};
use crate::runner::{ApplyRequest, Command, Incoming};
use crate::store::{ControlPlane, NodeRecord};

pub(super) async fn apply(
    State(state): State<Shared>,
    axum::Extension(who): axum::Extension<crate::access::Identity>,
    Body(body): Body<ApplyBody>,
) -> Result<
    (
        HeaderMap,
        axum::Extension<super::audit::Annotations>,
        Json<ApplyAnswer>,
    ),
    ApiError,
> {
    let mut objects = Vec::new();
    let mut headers = HeaderMap::new();
    for wire in body.objects {
        // The server validates again: a client is not trusted to have.
        let text = serde_json::to_string(&wire.object).map_err(internal)?;
        let mut docs = manifest::load_str(&text, &wire.source.file, std::path::Path::new("/"))
            .map_err(|mut e| {
                e.document = Some(wire.source.document);
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            })?;
        let doc = docs.remove(0);
        if !who.is_master() {
            let meta = doc.object.metadata();
            let kind = doc.object.kind();
            super::authority::may_write(&state, &who, kind, &meta.namespace, &meta.name).await?;
            super::authority::no_escalation(&state, &who, &doc.object).await?;
        }
        // What the server itself took out (a client that does not strip
        // the fields a sandbox ignores) is said in `Warning` headers, as
        // the API server says it; what the client took out it said itself.
        let all = wire.warnings.iter().chain(&doc.warnings);
        if state.strict
            && let Some(warning) = all.clone().next()
        {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "{}: document {}: {warning} (refused: this node runs with --strict)",
                    wire.source.file, wire.source.document
                ),
            ));
        }
        for warning in &doc.warnings {
            super::error::warn(&mut headers, warning);
        }
        objects.push(Incoming {
            source: wire.source,
            object: doc.object,
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
    super::precompile::before_apply(&state, &objects, &modules).await;
    let (reply, answer) = oneshot::channel();
    let request = ApplyRequest {
        objects,
        modules,
        create_only: body.create_only,
    };
    send(&state, Command::Apply { request, reply })?;
    match answer.await.map_err(|_| unavailable())? {
        Ok(applied) => {
            let notes = super::audit::said_of_apply(&applied, &mut headers);
            Ok((
                headers,
                axum::Extension(notes),
                Json(ApplyAnswer { applied }),
            ))
        }
        Err(failure) => Err(ApiError(
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            failure.message,
        )),
    }
}

pub(super) async fn label_node(
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
    // Held beside the store: watches of nodes look again.
    crate::store::commits::committed();
    Ok(Json(node_json(&node)))
}

pub(super) async fn taint_node(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Body(request): Body<TaintRequest>,
) -> Result<Json<Value>, ApiError> {
    let this = state.node.lock().expect("node info").name.clone();
    let now = crate::time::rfc3339(crate::time::now());
    if name != this && state.cluster.is_some() {
        return change_other_node(&state, name, move |control, node| {
            let taints = taints::retainted(&node.taints, &request.changes, request.overwrite, &now)
                .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
            control
                .set_node_taints(&node.name, &taints)
                .map_err(internal)?;
            Ok(NodeRecord { taints, ..node })
        })
        .await;
    }
    if name != this {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "Error from server (NotFound): nodes {name:?} not found (this node is {this:?})"
            ),
        ));
    }
    let (reply, answer) = oneshot::channel();
    let change = crate::runner::Retaint {
        changes: request.changes,
        overwrite: request.overwrite,
        now,
    };
    send(&state, Command::Retaint { change, reply })?;
    let taints = answer
        .await
        .map_err(|_| unavailable())?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    let mut node = state.node.lock().expect("node info");
    node.taints = taints;
    // Held beside the store: watches of nodes look again.
    crate::store::commits::committed();
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
    change_other_node(state, name, move |control, node| {
        let labels = relabeled(&node.labels, request.into())
            .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
        control
            .set_node_labels(&node.name, &labels)
            .map_err(internal)?;
        Ok(NodeRecord { labels, ..node })
    })
    .await
}

/// Changes another node of the cluster (`label node`, `taint node`): its
/// row as `change` makes it, which that node takes at its next heartbeat;
/// the node as `get nodes` then shows it.
async fn change_other_node(
    state: &Shared,
    name: String,
    change: impl FnOnce(&dyn ControlPlane, NodeRecord) -> Result<NodeRecord, ApiError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
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
        let changed = change(&*control, node)?;
        Ok(Json(cluster_node_json(&changed)))
    })
    .await
}
