//! `create`, `update`, `patch` and `delete`: each write checked against
//! the path (kind, namespace, name) and the object's `resourceVersion`,
//! validated as `wasmjob apply` validates a manifest, and carried out by
//! the runner's `Apply` and `Delete` commands. An `image:` that is a path
//! is read on the node, as a manifest's relative path would be by
//! `wasmjob apply`; `sha256:` names a module the node has.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::call::{Call, Target};
use super::listing::{Found, gather_in};
use super::patch;
use super::status::KubeError;
use crate::api::audit::Annotations;
use crate::api::state::{Shared, send};
use crate::manifest::{self, Source};
use crate::resource::ResourceType;
use crate::runner::{ApplyRequest, Command, Incoming};

/// `POST` to a collection.
pub(super) async fn create(
    state: &Shared,
    call: &Call,
    body: &[u8],
) -> Result<Response, KubeError> {
    let object = parse_body(&call.headers, body)?;
    let (object, headers, notes) = store(state, call, object, true).await?;
    Ok((StatusCode::CREATED, headers, Extension(notes), Json(object)).into_response())
}

/// `PUT` of one object: the whole object, refused if it changed since the
/// `resourceVersion` it carries.
pub(super) async fn update(
    state: &Shared,
    call: &Call,
    body: &[u8],
) -> Result<Response, KubeError> {
    let object = parse_body(&call.headers, body)?;
    let _one_at_a_time = state.kube_writes.lock().await;
    let current = current(state, &call.target).await?;
    check_revision(&call.target, &object, &current)?;
    let (object, headers, notes) = store(state, call, object, false).await?;
    Ok((headers, Extension(notes), Json(object)).into_response())
}

/// `PATCH` of one object, in any of the three patch forms or as a
/// server-side apply (`application/apply-patch+yaml`), which creates the
/// object when it does not exist and otherwise merges what is applied over
/// it (field ownership is not tracked: see docs/KUBERNETES-API.md).
pub(super) async fn patch(state: &Shared, call: &Call, body: &[u8]) -> Result<Response, KubeError> {
    let kind = content_type(&call.headers);
    if call.target.served.resource == ResourceType::Nodes {
        return super::writes_node::patch(state, call, body, &kind).await;
    }
    let _one_at_a_time = state.kube_writes.lock().await;
    let found = gather_in(state, &call.target, None, None).await?;
    let applying = kind.starts_with("application/apply-patch");
    let Some(current) = found.into_iter().next().map(|f| f.served) else {
        if applying {
            let object = parse_body(&call.headers, body)?;
            let (object, headers, notes) = store(state, call, object, true).await?;
            return Ok(
                (StatusCode::CREATED, headers, Extension(notes), Json(object)).into_response(),
            );
        }
        return Err(not_found(&call.target));
    };
    let mut patched = current.clone();
    let given: Value = if applying {
        parse_body(&call.headers, body)?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| KubeError::bad_request(format!("the patch is not JSON: {e}")))?
    };
    // A merge patch of anything but an object would replace the object
    // whole with what is no object.
    if kind != "application/json-patch+json" && !given.is_object() {
        return Err(KubeError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "a {kind} patch is a JSON object, not {}",
                match given {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
        ));
    }
    let outcome = match kind.as_str() {
        "application/json-patch+json" => patch::json_patch(&mut patched, &given),
        "application/merge-patch+json" => {
            patch::merge(&mut patched, &given);
            Ok(())
        }
        "application/strategic-merge-patch+json" => patch::strategic(&mut patched, &given),
        k if k.starts_with("application/apply-patch") => {
            patch::merge(&mut patched, &given);
            Ok(())
        }
        other => {
            return Err(KubeError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the body of a PATCH is application/json-patch+json, \
                     application/merge-patch+json, application/strategic-merge-patch+json or \
                     application/apply-patch+yaml, not {other:?}"
                ),
            ));
        }
    };
    outcome.map_err(|e| KubeError::new(StatusCode::UNPROCESSABLE_ENTITY, e.0))?;
    // A patch that names a resourceVersion asks for optimistic concurrency.
    let named = patched["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"];
    if named {
        return Err(conflict(&call.target));
    }
    let (object, headers, notes) = store(state, call, patched, false).await?;
    Ok((headers, Extension(notes), Json(object)).into_response())
}

/// `DELETE` of one object or of a collection (`deletecollection`, with
/// selectors): the objects and what they own go, as `wasmjob delete`.
pub(super) async fn delete(
    state: &Shared,
    call: &Call,
    body: &[u8],
) -> Result<Response, KubeError> {
    let target = &call.target;
    let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let policy = call
        .param("propagationPolicy")
        .or(options["propagationPolicy"].as_str())
        .unwrap_or("Background");
    if policy == "Orphan" {
        return Err(KubeError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "propagationPolicy Orphan is not supported: an object's instances are deleted \
             with it (Background and Foreground are both served as Foreground)",
        ));
    }
    if target.served.resource == ResourceType::Instances {
        return Err(KubeError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "an instance cannot be deleted by itself: delete its Job, CronJob or DaemonSet",
        ));
    }
    let labels = call.param("labelSelector");
    let mut found = gather_in(state, target, labels, call.param("fieldSelector")).await?;
    if found.is_empty()
        && let Some(name) = &target.name
    {
        return Err(KubeError::not_found(&target.served.qualified(), name));
    }
    if target.served.resource == ResourceType::Namespaces {
        // A namespace goes with everything in it. One made by being used
        // has no uid of its own: its objects go.
        let mut inside = Vec::new();
        for namespace in &found {
            let name = namespace.served["metadata"]["name"].as_str().unwrap_or("");
            inside.extend(namespace_objects(state, name).await?);
        }
        found.extend(inside);
    }
    let dry_run = call.param("dryRun").is_some() || options["dryRun"].is_array();
    let uids: Vec<String> = found
        .iter()
        .filter_map(|f| f.served["metadata"]["uid"].as_str().map(str::to_owned))
        .collect();
    if !dry_run && !uids.is_empty() {
        let (reply, answer) = oneshot::channel();
        send(
            state,
            Command::Delete {
                uids: uids.clone(),
                reply,
            },
        )?;
        answer
            .await
            .map_err(|_| KubeError::from(crate::api::error::unavailable()))?
            .map_err(|e| KubeError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        for uid in &uids {
            state.revisions.forget(uid);
        }
    }
    let (kind, group) = (target.served.plural, target.served.group);
    let mut details = json!({"group": group, "kind": kind});
    if let Some(name) = &target.name {
        details["name"] = json!(name);
    }
    if let [one] = found.as_slice() {
        details["uid"] = one.served["metadata"]["uid"].clone();
    }
    Ok(Json(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }))
    .into_response())
}

/// Every object in namespace `name`.
async fn namespace_objects(state: &Shared, name: &str) -> Result<Vec<Found>, KubeError> {
    let mut all = Vec::new();
    for kind in crate::manifest::Kind::NAMESPACED {
        let served = super::discovery::SERVED
            .iter()
            .find(|s| s.resource.kind() == Some(kind))
            .expect("every namespaced kind is served");
        let inside = Target {
            served,
            namespace: Some(name.to_owned()),
            name: None,
            sub: None,
        };
        all.extend(gather_in(state, &inside, None, None).await?);
    }
    Ok(all)
}

/// The object as it is now, for an update.
async fn current(state: &Shared, target: &Target) -> Result<Value, KubeError> {
    let found = gather_in(state, target, None, None).await?;
    found
        .into_iter()
        .next()
        .map(|f| f.served)
        .ok_or_else(|| not_found(target))
}

fn not_found(target: &Target) -> KubeError {
    KubeError::not_found(
        &target.served.qualified(),
        target.name.as_deref().unwrap_or(""),
    )
}

fn conflict(target: &Target) -> KubeError {
    KubeError::new(
        StatusCode::CONFLICT,
        format!(
            "Operation cannot be fulfilled on {} {:?}: the object has been modified; please \
             apply your changes to the latest version and try again",
            target.served.qualified(),
            target.name.as_deref().unwrap_or("")
        ),
    )
    .about(
        &target.served.qualified(),
        target.name.as_deref().unwrap_or(""),
    )
}

/// An update carrying a `resourceVersion` other than the current one was
/// made from an older read: 409, as Kubernetes answers.
fn check_revision(target: &Target, given: &Value, current: &Value) -> Result<(), KubeError> {
    match given["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() && current["metadata"]["resourceVersion"] != rv => {
            Err(conflict(target))
        }
        _ => Ok(()),
    }
}

/// `Content-Type` without parameters.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A request body, JSON or YAML.
pub(super) fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, KubeError> {
    let kind = content_type(headers);
    // kubectl's typed commands send protobuf.
    if kind == "application/vnd.kubernetes.protobuf" {
        return super::protobuf::decode(body).map_err(|e| {
            KubeError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("the protobuf body: {e}"),
            )
        });
    }
    if kind.contains("protobuf") || kind.contains("cbor") {
        return Err(unsupported_media(&kind));
    }
    let parsed = if kind.contains("yaml") {
        serde_yaml_ng::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| KubeError::bad_request(format!("the request body is not an object: {e}")))
}

/// A manifest refused: `422 Invalid` with the field as a cause, which
/// kubectl prints as `The Job "x" is invalid: FIELD: MESSAGE`.
fn invalid(
    served: &super::discovery::Served,
    name: &str,
    e: &manifest::ManifestError,
) -> KubeError {
    let cause = json!({
        "reason": "FieldValueInvalid",
        "message": e.error.message,
        "field": e.error.path,
    });
    let mut error = KubeError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{} {name:?} is invalid: {}", served.kind, e),
    );
    error.details = Some(json!({
        "name": name,
        "group": served.group,
        "kind": served.kind,
        "causes": [cause],
    }));
    error
}

fn unsupported_media(kind: &str) -> KubeError {
    KubeError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("the body of a request is JSON or YAML, not {kind}"),
    )
}

/// Fields the server sets, taken out of what a client sends back.
const SERVER_FIELDS: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Validates `object` for the call's path and applies it; the object as
/// stored, the `Warning` headers of what the sandbox ignores (and of its
/// namespace's Pod Security `warn` level), and the audit event's notes.
async fn store(
    state: &Shared,
    call: &Call,
    mut object: Value,
    create_only: bool,
) -> Result<(Value, HeaderMap, Annotations), KubeError> {
    let target = &call.target;
    let served = target.served;
    let resource = served.resource;
    if resource.kind().is_none() {
        return Err(KubeError::not_allowed("create", &served.qualified()));
    }
    if !object.is_object() {
        return Err(KubeError::bad_request("the request body is not an object"));
    }
    let given_kind = object["kind"].as_str().unwrap_or(served.kind);
    let given_version = object["apiVersion"].as_str().map(str::to_owned);
    if given_kind != served.kind
        || given_version
            .as_deref()
            .is_some_and(|v| v != served.group_version())
    {
        return Err(KubeError::bad_request(format!(
            "the API version in the data ({}) and kind ({given_kind}) do not match the path's \
             {} {}",
            given_version.unwrap_or_default(),
            served.group_version(),
            served.kind
        )));
    }
    object["kind"] = json!(served.kind);
    object["apiVersion"] = json!(served.group_version());
    let meta = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            KubeError::new(StatusCode::UNPROCESSABLE_ENTITY, "metadata: Required value")
        })?;
    for field in SERVER_FIELDS {
        meta.remove(*field);
    }
    if let Some(ns) = &target.namespace {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(given) if given != ns => {
                return Err(KubeError::bad_request(format!(
                    "the namespace of the provided object ({given}) does not match the \
                     namespace sent on the request ({ns})"
                )));
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    }
    if let Some(name) = &target.name
        && meta.get("name").and_then(Value::as_str) != Some(name)
    {
        return Err(KubeError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta.get("name").and_then(Value::as_str).unwrap_or("")
        )));
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let file = format!("{}/{name}", served.qualified());
    let text = object.to_string();
    let invalid = |e: manifest::ManifestError| invalid(served, &name, &e);
    let mut docs = manifest::load_str(&text, &file, std::path::Path::new("/")).map_err(invalid)?;
    if docs.len() != 1 {
        return Err(KubeError::bad_request("the request body is one object"));
    }
    let doc = docs.remove(0);
    crate::api::authority::no_escalation(state, &call.who, &doc.object).await?;
    if state.strict
        && let Some(warning) = doc.warnings.first()
    {
        return Err(KubeError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{file}: {warning} (refused: this node runs with --strict)"),
        ));
    }
    let mut headers = HeaderMap::new();
    for warning in &doc.warnings {
        crate::api::error::warn(&mut headers, warning);
    }
    let source = Source {
        file: doc.file.clone(),
        document: doc.index,
    };
    let secrets = pull_secrets(state, &doc).await;
    // Reading module files and pulling images is blocking work.
    let ((doc, modules), left) = tokio::task::spawn_blocking(move || {
        let lookup =
            |namespace: &str, name: &str| crate::apply::pull_secret_in(&secrets, namespace, name);
        crate::apply::localize_for_node(doc, &lookup)
    })
    .await
    .map_err(|e| KubeError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(invalid)?;
    // A Job whose image cannot be pulled now is created, as in Kubernetes;
    // the node keeps pulling, and kubectl prints why.
    for failed in &left {
        let warning = format!("{failed}: the node tries again with back-off");
        crate::api::error::warn(&mut headers, &warning);
    }
    if call.param("dryRun").is_some() {
        let mut echoed = doc.object.stored_json();
        echoed["apiVersion"] = json!(served.group_version());
        echoed["kind"] = json!(served.kind);
        return Ok((echoed, headers, Annotations::default()));
    }
    let objects = vec![Incoming {
        source,
        object: doc.object,
    }];
    crate::api::precompile::before_apply(state, &objects, &modules).await;
    let (reply, answer) = oneshot::channel();
    let request = ApplyRequest {
        objects,
        modules,
        create_only,
    };
    send(state, Command::Apply { request, reply })?;
    let applied = answer
        .await
        .map_err(|_| KubeError::from(crate::api::error::unavailable()))?
        .map_err(|failure| {
            let code =
                StatusCode::from_u16(failure.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut error =
                KubeError::new(code, failure.message.clone()).about(&served.qualified(), &name);
            // kubectl prints an Invalid refusal's causes, not its message.
            if code == StatusCode::UNPROCESSABLE_ENTITY
                && let Some(details) = &mut error.details
            {
                details["causes"] =
                    json!([{"reason": "FieldValueInvalid", "message": failure.message}]);
            }
            match (code, create_only) {
                (StatusCode::CONFLICT, true) => error.reason("AlreadyExists"),
                _ => error,
            }
        })?;
    let notes = crate::api::audit::said_of_apply(&applied, &mut headers);
    let stored_name = applied.first().map_or(name, |a| a.name.clone());
    let written = Target {
        served,
        namespace: target.namespace.clone(),
        name: Some(stored_name),
        sub: None,
    };
    let object = current(state, &written).await?;
    Ok((object, headers, notes))
}

/// The `.dockerconfigjson` of the node's Secrets that `doc`'s template
/// names in `imagePullSecrets`, by (namespace, name); those missing or
/// unreadable are left out (a pull then says which credentials it tried).
async fn pull_secrets(
    state: &crate::api::state::Shared,
    doc: &manifest::Document,
) -> Vec<(String, String, Vec<u8>)> {
    let namespace = doc.object.metadata().namespace.clone();
    let Some(template) = doc.object.template() else {
        return Vec::new();
    };
    let names: Vec<String> = (template.spec.image_pull_secrets.iter())
        .map(|s| s.name.clone())
        .collect();
    let keyring = state.keyring.clone();
    let ns = namespace.clone();
    let read = crate::api::state::read(state, move |store| {
        Ok(crate::apply::stored_pull_secrets(
            store, &keyring, &ns, &names,
        ))
    });
    let found = read.await.unwrap_or_default();
    let with_namespace = found.into_iter();
    with_namespace
        .map(|(name, json)| (namespace.clone(), name, json))
        .collect()
}
