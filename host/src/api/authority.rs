//! Every request's identity and permission: the bearer token read as the
//! node's admin token or a ServiceAccount's (checked against the account
//! it is bound to), what the request asks in RBAC's terms, and the grants
//! read from the store — refusals answered as Kubernetes answers them
//! (401 `Unauthorized`, 403 `Forbidden` with its message), for kubectl and
//! for wasmjob's own CLI alike. The admin token skips the grants (it is
//! `system:masters`), so a node driven by its own token pays nothing.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};

use super::error::{ApiError, internal};
use super::state::{Shared, read};
use crate::access::tokens::TokenError;
use crate::access::{Attributes, Grants, Identity};
use crate::manifest::Kind;

/// The identity of a bearer token other than the admin's: a
/// ServiceAccount's token, made by this node (or another of its cluster)
/// and bound to an account that still exists.
pub(super) async fn identify(state: &Shared, token: &str) -> Result<Identity, Response> {
    account_of(state, token).await.map_err(|e| match e {
        Unaccepted::Token(why) => unauthorized(&why),
        Unaccepted::Store(code, message) => super::kube::status::refusal(code, message, None),
    })
}

/// Why a token is not accepted.
pub(super) enum Unaccepted {
    /// The token is no account's this node accepts: why, when it looked
    /// like one (empty otherwise).
    Token(String),
    /// The store could not be read to tell.
    Store(StatusCode, String),
}

/// The ServiceAccount a token is bound to, or why it is not accepted.
pub(super) async fn account_of(state: &Shared, token: &str) -> Result<Identity, Unaccepted> {
    let now = crate::time::now() / 1_000_000;
    let claims = state.signer.verify(token, now).map_err(|e| match e {
        TokenError::Malformed => Unaccepted::Token(String::new()),
        e => Unaccepted::Token(e.to_string()),
    })?;
    let bound = claims.kubernetes.clone();
    let uid = bound.serviceaccount.uid.clone();
    let record = read(state, move |store| store.object(&uid).map_err(internal))
        .await
        .map_err(|e| Unaccepted::Store(e.0, e.1))?;
    let alive = record.is_some_and(|r| {
        r.kind == Kind::ServiceAccount
            && r.deleted_at.is_none()
            && r.namespace == bound.namespace
            && r.name == bound.serviceaccount.name
    });
    if !alive {
        return Err(Unaccepted::Token(format!(
            "the token's ServiceAccount {}/{} no longer exists: its tokens were revoked with it",
            bound.namespace, bound.serviceaccount.name
        )));
    }
    Ok(Identity::service_account(
        &bound.namespace,
        &bound.serviceaccount.name,
        &bound.serviceaccount.uid,
    ))
}

/// 401: the token is not the admin's, and not an account's this node
/// accepts (`why`, when it looked like one).
pub(super) fn unauthorized(why: &str) -> Response {
    let mut message = "missing or wrong bearer token: the CLI reads it from <state dir>/token or \
                       WASMJOB_TOKEN"
        .to_owned();
    if !why.is_empty() {
        message = format!("missing or wrong bearer token: {why}");
    }
    ApiError(StatusCode::UNAUTHORIZED, message).into_response()
}

/// What a request to `path` asks, or `None` for `apply`, whose objects
/// are each checked by the handler (see [`may_write`]).
pub(super) fn attributes(
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
) -> Option<Attributes> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let namespace = || query.get("namespace").cloned().unwrap_or_default();
    Some(match parts.as_slice() {
        ["wasmjob", "v1", "apply"] => return None,
        ["wasmjob", "v1", "logs"] => Attributes::resource("get", "", "pods/log", &namespace(), ""),
        // A CronJob's next fire times are read from the CronJob.
        ["wasmjob", "v1", "schedule"] => {
            let name = query.get("name").map(String::as_str).unwrap_or_default();
            Attributes::resource("get", "batch", "cronjobs", &namespace(), name)
        }
        ["wasmjob", "v1", "nodes", name, _] => Attributes::resource("patch", "", "nodes", "", name),
        [
            "wasmjob",
            "v1",
            "namespaces",
            ns,
            "cronjobs",
            name,
            "backfill",
        ] => Attributes::resource("get", "batch", "cronjobs", ns, name),
        _ => {
            let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
            Attributes::of_request(method, path, watch)
        }
    })
}

/// Whether `who` may do `what`: RBAC's reason if so, 403 with
/// Kubernetes' message if not.
pub(super) async fn check(
    state: &Shared,
    who: &Identity,
    what: Attributes,
) -> Result<String, Response> {
    if who.is_master() {
        return Ok(String::new());
    }
    let namespace = what
        .resource
        .as_ref()
        .map(|r| r.namespace.clone())
        .unwrap_or_default();
    let grants = read(state, move |store| {
        Grants::read(store, &namespace).map_err(internal)
    })
    .await
    .map_err(|e| super::kube::status::refusal(e.0, e.1, None))?;
    let decision = grants.allows(who, &what);
    match decision.allowed {
        true => Ok(decision.reason),
        false => Err(forbidden(who, &what)),
    }
}

/// 403 `Forbidden`, worded as the API server words it.
pub(super) fn forbidden(who: &Identity, what: &Attributes) -> Response {
    let details = what
        .resource
        .as_ref()
        .map(|r| serde_json::json!({"name": r.name, "group": r.group, "kind": r.resource}));
    super::kube::status::refusal(StatusCode::FORBIDDEN, what.forbidden(&who.user), details)
}

/// Whether `who` may apply an object of `kind` named `name` in
/// `namespace`: `apply` creates or changes it, so both are asked.
pub(super) async fn may_write(
    state: &Shared,
    who: &Identity,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let (plural, group) = kind
        .resource()
        .split_once('.')
        .unwrap_or((kind.resource(), ""));
    let namespace = match kind.cluster_scoped() {
        true => "",
        false => namespace,
    };
    for verb in ["create", "patch"] {
        let what = Attributes::resource(verb, group, plural, namespace, name);
        if check(state, who, what.clone()).await.is_err() {
            return Err(ApiError(StatusCode::FORBIDDEN, what.forbidden(&who.user)));
        }
    }
    Ok(())
}

/// Kubernetes' guard against escalation, for a Role, ClusterRole or
/// binding `who` writes: a role may hold only permissions its writer
/// holds, and a binding may grant only a role whose every permission its
/// writer holds where it applies (or the writer has the `escalate` /
/// `bind` verb on it). Other objects pass.
pub(super) async fn no_escalation(
    state: &Shared,
    who: &Identity,
    object: &crate::manifest::Object,
) -> Result<(), ApiError> {
    use crate::manifest::Object;
    use crate::manifest::rbac::Access;
    let Object::Config(config) = object else {
        return Ok(());
    };
    let Some(access) = &config.access else {
        return Ok(());
    };
    if who.is_master() {
        return Ok(());
    }
    let namespace = match config.kind.cluster_scoped() {
        true => String::new(),
        false => config.metadata.namespace.clone(),
    };
    let reading = namespace.clone();
    let grants = read(state, move |store| {
        Grants::read(store, &reading).map_err(internal)
    })
    .await?;
    let (verb, resource, name, rules) = match access {
        Access::ServiceAccount { .. } => return Ok(()),
        Access::Rules(rules) => {
            let resource = match config.kind {
                Kind::Role => "roles",
                _ => "clusterroles",
            };
            (
                "escalate",
                resource,
                config.metadata.name.as_str(),
                rules.clone(),
            )
        }
        Access::Binding { role_ref, .. } => {
            let resource = match role_ref.kind.as_str() {
                "Role" => "roles",
                _ => "clusterroles",
            };
            let rules = grants.rules_of_role(&namespace, role_ref);
            ("bind", resource, role_ref.name.as_str(), rules)
        }
    };
    let verb_held = Attributes::resource(
        verb,
        crate::manifest::rbac::RBAC_GROUP,
        resource,
        &namespace,
        name,
    );
    if grants.allows(who, &verb_held).allowed {
        return Ok(());
    }
    match grants.missing(who, &namespace, &rules) {
        None => Ok(()),
        Some(missing) => Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} {:?} is forbidden: user {:?} is attempting to grant RBAC permissions not \
                 currently held: {}",
                config.kind.resource(),
                config.metadata.name,
                who.user,
                missing
                    .forbidden(&who.user)
                    .split_once(": ")
                    .map_or("", |(_, m)| m)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmjob_routes_ask_what_their_kubernetes_counterparts_ask() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>()
        };
        assert!(attributes("POST", "/wasmjob/v1/apply", &q(&[])).is_none());
        let logs = attributes("GET", "/wasmjob/v1/logs", &q(&[("namespace", "t")])).unwrap();
        assert_eq!(logs, Attributes::resource("get", "", "pods/log", "t", ""));
        let label = attributes("POST", "/wasmjob/v1/nodes/n1/labels", &q(&[])).unwrap();
        assert_eq!(label, Attributes::resource("patch", "", "nodes", "", "n1"));
        let backfill = attributes(
            "GET",
            "/wasmjob/v1/namespaces/t/cronjobs/c/backfill",
            &q(&[]),
        )
        .unwrap();
        assert_eq!(backfill.verb, "get");
        let next = q(&[("namespace", "t"), ("name", "c")]);
        let next = attributes("GET", "/wasmjob/v1/schedule", &next).unwrap();
        assert_eq!(
            next,
            Attributes::resource("get", "batch", "cronjobs", "t", "c")
        );
        let watch = attributes("GET", "/apis/batch/v1/jobs", &q(&[("watch", "1")])).unwrap();
        assert_eq!(watch.verb, "watch");
        let metrics = attributes("GET", "/metrics", &q(&[])).unwrap();
        assert_eq!(metrics, Attributes::non_resource("get", "/metrics"));
    }
}
