//! The Kubernetes REST API of `wasmjob serve`, so `kubectl`, its plugins
//! and client libraries drive a node as they drive a cluster: discovery,
//! get/list/watch with label and field selectors and paging, `Table`s,
//! create/update/patch/delete, Pod logs, and `Status` errors.
//!
//! It serves the same store and runner as wasmjob's own API (`/wasmjob/v1`):
//! reads go through `reads`, changes through the runner's `Apply` and
//! `Delete` commands, so an object made with kubectl is the object
//! `wasmjob get` shows. `docs/KUBERNETES-API.md` lists what each endpoint
//! takes.

mod call;
mod discovery;
mod listing;
pub use listing::OWN_LIST;
mod logs;
mod openapi;
mod patch;
mod protobuf;
mod reviews;
mod shape;
pub(super) mod status;
pub mod untrusted;
mod watch;
mod writes;
mod writes_node;

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use super::state::Shared;
use call::{Call, accept, parse_target};
use status::KubeError;

/// The Kubernetes API path of one object of `resource` (`namespace` is
/// ignored for a cluster-scoped one), as a client of this API writes it.
pub fn object_path(resource: crate::resource::ResourceType, namespace: &str, name: &str) -> String {
    // The first entry serving a type is its preferred group (v1 Events).
    let served = discovery::SERVED
        .iter()
        .find(|s| s.resource == resource)
        .expect("every resource type is served");
    path_of(served, Some(namespace), Some(name))
}

/// The path wasmjob's own CLI (and dashboard) reads `resource` at: a
/// collection (in `namespace`, or in all of them), or one object. The
/// same endpoints kubectl uses, with instances in wasmjob's own shape
/// (`wasmjob.dev/v1` Instances) rather than as Pods.
pub fn read_path(
    resource: crate::resource::ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
) -> String {
    let own = |s: &&discovery::Served| {
        s.resource == resource
            && (resource != crate::resource::ResourceType::Instances || s.group == "wasmjob.dev")
    };
    let served = discovery::SERVED
        .iter()
        .find(own)
        .expect("every resource type is served");
    path_of(served, namespace, name)
}

fn path_of(served: &discovery::Served, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut path = match served.group {
        "" => format!("/api/{}", served.version),
        group => format!("/apis/{group}/{}", served.version),
    };
    if let (true, Some(namespace)) = (served.namespaced, namespace) {
        path.push_str(&format!("/namespaces/{namespace}"));
    }
    path.push('/');
    path.push_str(served.plural);
    if let Some(name) = name {
        path.push('/');
        path.push_str(name);
    }
    path
}

/// The routes of the Kubernetes API.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        // The API server's health checks, which tools probe: the node
        // answers, so it is live and ready (`?verbose` lists the check).
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(health))
        .route("/api", get(core))
        .route("/apis", get(groups))
        .route(
            "/openapi/v3",
            get(|| async { Json(openapi::openapi_index()) }),
        )
        .route("/openapi/v3/{*part}", get(openapi_part))
        .route("/api/{*rest}", any(serve))
        .route("/apis/{*rest}", any(serve))
}

async fn health(Query(query): Query<HashMap<String, String>>) -> &'static str {
    match query.contains_key("verbose") {
        true => "[+]ping ok\ncheck passed\n",
        false => "ok",
    }
}

async fn core(headers: HeaderMap) -> Response {
    match discovery::wants_aggregated(accept(&headers)) {
        true => aggregated(discovery::aggregated(true)),
        false => Json(discovery::core_versions()).into_response(),
    }
}

async fn groups(headers: HeaderMap) -> Response {
    match discovery::wants_aggregated(accept(&headers)) {
        true => aggregated(discovery::aggregated(false)),
        false => Json(discovery::group_list()).into_response(),
    }
}

/// Aggregated discovery must say it is, or clients read it as legacy.
fn aggregated(body: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, discovery::AGGREGATED)],
        body.to_string(),
    )
        .into_response()
}

async fn openapi_part(axum::extract::Path(part): axum::extract::Path<String>) -> Response {
    match openapi::openapi_part(&part) {
        Some(doc) => Json(doc).into_response(),
        None => KubeError::new(
            StatusCode::NOT_FOUND,
            format!("no OpenAPI document {part:?}"),
        )
        .into_response(),
    }
}

/// Every path under `/api/` and `/apis/`.
async fn serve(
    State(state): State<Shared>,
    axum::Extension(who): axum::Extension<crate::access::Identity>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        ["apis", group] if discovery::resource_list(group, "v1").is_some() => {
            let v = serde_json::json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
            return Json(serde_json::json!({
                "kind": "APIGroup", "apiVersion": "v1", "name": group,
                "versions": [v], "preferredVersion": v,
            }))
            .into_response();
        }
        _ => return not_served(&path),
    };
    if reviews::GROUPS.contains(&group) {
        let answer = reviews::review(
            &state,
            &who,
            group,
            version,
            rest,
            &method,
            (&headers, &body),
        )
        .await;
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    if rest.is_empty() {
        return match discovery::resource_list(group, version) {
            Some(list) => Json(list).into_response(),
            None => not_served(&path),
        };
    }
    let target = match parse_target(group, version, rest) {
        Some(target) => target,
        None => return not_served(&path),
    };
    let call = Call {
        target,
        who: who.clone(),
        query,
        headers,
    };
    if call.target.sub.as_deref() == Some("token") && method == Method::POST {
        let answer = reviews::token_request(&state, &call, &body).await;
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    let answer = dispatch(&state, &method, call, body).await;
    answer.unwrap_or_else(IntoResponse::into_response)
}

fn not_served(path: &str) -> Response {
    KubeError::new(
        StatusCode::NOT_FOUND,
        format!("the server could not find the requested resource ({path})"),
    )
    .into_response()
}

async fn dispatch(
    state: &Shared,
    method: &Method,
    call: Call,
    body: Bytes,
) -> Result<Response, KubeError> {
    let served = call.target.served;
    let one = call.target.name.is_some();
    let verb = match (method.as_str(), one) {
        ("GET", false) if call.flag("watch") => "watch",
        ("GET", false) => "list",
        ("GET", true) if call.flag("watch") => "watch",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => {
            return Err(KubeError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{other} is not allowed on this path"),
            ));
        }
    };
    let sub = call.target.sub.as_deref();
    if sub == Some("log") {
        return logs::log(state, &call).await;
    }
    // A status subresource is read as the object; its writes are the
    // controllers' (see docs/KUBERNETES-API.md).
    if sub == Some("status") && verb != "get" {
        return Err(KubeError::not_allowed(
            verb,
            &format!("{}/status", served.qualified()),
        ));
    }
    if !served.allows(verb) {
        return Err(KubeError::not_allowed(verb, &served.qualified()));
    }
    match verb {
        "watch" => watch::watch(state, call).await,
        "list" => listing::list(state, &call).await,
        "get" => listing::get(state, &call).await,
        "create" => writes::create(state, &call, &body).await,
        "update" => writes::update(state, &call, &body).await,
        "patch" => writes::patch(state, &call, &body).await,
        _ => writes::delete(state, &call, &body).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::ResourceType;

    #[test]
    fn an_objects_path_is_the_one_its_resource_is_served_at() {
        assert_eq!(
            object_path(ResourceType::Jobs, "team", "pi"),
            "/apis/batch/v1/namespaces/team/jobs/pi"
        );
        assert_eq!(
            object_path(ResourceType::Instances, "default", "pi-x"),
            "/api/v1/namespaces/default/pods/pi-x"
        );
        assert_eq!(
            object_path(ResourceType::Nodes, "default", "n1"),
            "/api/v1/nodes/n1"
        );
        assert_eq!(
            object_path(ResourceType::Events, "default", "e"),
            "/api/v1/namespaces/default/events/e"
        );
        assert_eq!(
            read_path(ResourceType::Instances, None, None),
            "/apis/wasmjob.dev/v1/instances"
        );
        assert_eq!(
            read_path(ResourceType::Instances, Some("team"), Some("pi-x")),
            "/apis/wasmjob.dev/v1/namespaces/team/instances/pi-x"
        );
        assert_eq!(
            read_path(ResourceType::Nodes, Some("team"), None),
            "/api/v1/nodes"
        );
        let target = parse_target(
            "apps",
            "v1",
            &["namespaces", "x", "daemonsets", "mon", "status"],
        )
        .expect("served");
        assert_eq!(target.served.kind, "DaemonSet");
        assert_eq!(target.namespace.as_deref(), Some("x"));
        assert_eq!(target.sub.as_deref(), Some("status"));
        assert!(parse_target("", "v1", &["namespaces", "x", "nodes"]).is_none());
        assert!(parse_target("batch", "v1", &["jobs", "pi", "log"]).is_none());
        assert!(parse_target("", "v1", &["namespaces", "team"]).is_some());
    }
}
