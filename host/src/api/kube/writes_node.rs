//! `PATCH` of a Node, as `kubectl label node` and `kubectl taint node` send
//! it: the labels and taints the patched object has are set, those it lost
//! removed, through the same changes as `wasmjob label node` and `wasmjob
//! taint node` (which another node of a cluster takes at its next
//! heartbeat).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::call::Call;
use super::listing::gather_in;
use super::patch;
use super::status::KubeError;
use crate::api::error::Body;
use crate::api::state::Shared;
use crate::api::wire::{LabelRequest, TaintRequest};
use crate::manifest::{Taint, TaintChange};

pub(super) async fn patch(
    state: &Shared,
    call: &Call,
    body: &[u8],
    kind: &str,
) -> Result<Response, KubeError> {
    let name = call.target.name.clone().unwrap_or_default();
    let found = gather_in(state, &call.target, None, None).await?;
    let Some(current) = found.into_iter().next().map(|f| f.served) else {
        return Err(KubeError::not_found("nodes", &name));
    };
    let given: Value = serde_json::from_slice(body)
        .map_err(|e| KubeError::bad_request(format!("the patch is not JSON: {e}")))?;
    let mut patched = current.clone();
    match kind {
        "application/json-patch+json" => patch::json_patch(&mut patched, &given)
            .map_err(|e| KubeError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, e.0))?,
        "application/strategic-merge-patch+json" => patch::strategic(&mut patched, &given)
            .map_err(|e| KubeError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, e.0))?,
        _ => patch::merge(&mut patched, &given),
    }
    let taints = |v: &Value| -> Result<Vec<Taint>, KubeError> {
        match &v["spec"]["taints"] {
            Value::Null => Ok(Vec::new()),
            t => serde_json::from_value(t.clone()).map_err(|e| {
                KubeError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    format!("spec.taints: {e}"),
                )
            }),
        }
    };
    let mut spec_rest = patched["spec"].clone();
    let mut current_rest = current["spec"].clone();
    for spec in [&mut spec_rest, &mut current_rest] {
        if spec.is_null() {
            *spec = Value::Object(Default::default());
        }
        if let Some(map) = spec.as_object_mut() {
            map.remove("taints");
        }
    }
    if spec_rest != current_rest {
        return Err(KubeError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "only a node's labels and taints change through the Kubernetes API",
        ));
    }
    let (had, has) = (taints(&current)?, taints(&patched)?);
    // The node as the last change left it; unchanged, as it is.
    let mut node = None;
    if had != has {
        let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
        let mut changes: Vec<TaintChange> = had
            .iter()
            .filter(|old| !has.iter().any(|new| same(old, new)))
            .map(|old| TaintChange::Remove {
                key: old.key.clone(),
                effect: Some(old.effect),
            })
            .collect();
        changes.extend(
            has.iter()
                .filter(|new| !had.contains(new))
                .map(|new| TaintChange::Add(new.clone())),
        );
        let request = TaintRequest {
            changes,
            overwrite: true,
        };
        let answer = crate::api::commands::taint_node(
            State(state.clone()),
            Path(name.clone()),
            Body(request),
        )
        .await
        .map_err(KubeError::from)?;
        node = Some(answer.0);
    }
    let labels = |v: &Value| -> std::collections::BTreeMap<String, String> {
        serde_json::from_value(v["metadata"]["labels"].clone()).unwrap_or_default()
    };
    let (before, after) = (labels(&current), labels(&patched));
    let request = LabelRequest {
        set: after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        remove: before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect(),
        overwrite: true,
    };
    if !request.set.is_empty() || !request.remove.is_empty() {
        let answer =
            crate::api::commands::label_node(State(state.clone()), Path(name), Body(request))
                .await
                .map_err(KubeError::from)?;
        node = Some(answer.0);
    }
    let Some(mut node) = node else {
        return Ok(axum::Json(current).into_response());
    };
    state.revisions.stamp(&mut node);
    Ok(axum::Json(node).into_response())
}
