//! The identity APIs kubectl asks: the TokenRequest subresource of a
//! ServiceAccount (`kubectl create token`), SelfSubjectAccessReview
//! (`kubectl auth can-i VERB RESOURCE`), SelfSubjectRulesReview
//! (`kubectl auth can-i --list`) and SelfSubjectReview (`kubectl auth
//! whoami`). Each answers for the identity the request came with; the
//! check in front of every route has already allowed the request itself.

use axum::Json;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::call::Call;
use super::listing::gather_in;
use super::status::KubeError;
use super::writes::parse_body;
use crate::access::tokens::{DEFAULT_SECONDS, MAX_SECONDS, MIN_SECONDS};
use crate::access::{Attributes, Grants, Identity};
use crate::api::error::internal;
use crate::api::state::{Shared, read};
use crate::time::rfc3339;

/// The groups of the review APIs.
pub(super) const GROUPS: [&str; 2] = ["authorization.k8s.io", "authentication.k8s.io"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TokenSpec {
    audiences: Option<Vec<String>>,
    expiration_seconds: Option<i64>,
    bound_object_ref: Option<Value>,
}

#[derive(Deserialize, Default)]
struct TokenRequest {
    #[serde(default)]
    spec: TokenSpec,
}

/// `POST …/serviceaccounts/NAME/token`: a token for the account, bound to
/// its uid.
pub(super) async fn token_request(
    state: &Shared,
    call: &Call,
    body: &[u8],
) -> Result<Response, KubeError> {
    let request: TokenRequest = match body.is_empty() {
        true => TokenRequest::default(),
        false => serde_json::from_value(parse_body(&call.headers, body)?)
            .map_err(|e| KubeError::bad_request(format!("the body is not a TokenRequest: {e}")))?,
    };
    let spec = request.spec;
    let seconds = spec.expiration_seconds.unwrap_or(DEFAULT_SECONDS);
    let invalid = |message: String| KubeError::new(StatusCode::UNPROCESSABLE_ENTITY, message);
    if seconds < MIN_SECONDS {
        return Err(invalid(format!(
            "TokenRequest.authentication.k8s.io is invalid: spec.expirationSeconds: Invalid \
             value: {seconds}: may not specify a duration less than 10 minutes"
        )));
    }
    if seconds > MAX_SECONDS {
        return Err(invalid(format!(
            "TokenRequest.authentication.k8s.io is invalid: spec.expirationSeconds: Invalid \
             value: {seconds}: may not specify a duration longer than a year (8760h)"
        )));
    }
    if spec.bound_object_ref.as_ref().is_some_and(|b| !b.is_null()) {
        return Err(invalid(
            "TokenRequest.authentication.k8s.io is invalid: spec.boundObjectRef: Forbidden: \
             wasmjob binds tokens to their ServiceAccount only: delete the account to revoke \
             them"
                .to_owned(),
        ));
    }
    let target = &call.target;
    let name = target.name.clone().unwrap_or_default();
    let namespace = target.namespace.clone().unwrap_or_else(|| "default".into());
    let found = gather_in(state, target, None, None).await?;
    let Some(account) = found.first() else {
        return Err(KubeError::not_found("serviceaccounts", &name));
    };
    let uid = account.served["metadata"]["uid"]
        .as_str()
        .unwrap_or_default();
    let now = crate::time::now() / 1_000_000;
    let (token, claims) = state.signer.issue(
        &namespace,
        &name,
        uid,
        &spec.audiences.unwrap_or_default(),
        now,
        seconds,
    );
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let answer = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": rfc3339(now * 1_000_000),
        },
        "spec": {
            "audiences": claims.aud,
            "expirationSeconds": seconds,
            "boundObjectRef": null,
        },
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /apis/authorization.k8s.io/v1/selfsubject{access,rules}reviews`
/// and `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`.
pub(super) async fn review(
    state: &Shared,
    who: &Identity,
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    (headers, body): (&HeaderMap, &[u8]),
) -> Result<Response, KubeError> {
    let kind = match (group, rest) {
        ("authorization.k8s.io", ["selfsubjectaccessreviews"]) => "SelfSubjectAccessReview",
        ("authorization.k8s.io", ["selfsubjectrulesreviews"]) => "SelfSubjectRulesReview",
        ("authentication.k8s.io", ["selfsubjectreviews"]) => "SelfSubjectReview",
        _ => {
            return Err(KubeError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "the server could not find the requested resource (/apis/{group}/{version}/{})",
                    rest.join("/")
                ),
            ));
        }
    };
    if version != "v1" || method != Method::POST {
        return Err(KubeError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{kind} is created (POST) at {group}/v1, and only that"),
        ));
    }
    // A SelfSubjectReview asks nothing; the others are read as sent.
    let given = match kind {
        "SelfSubjectReview" => json!({}),
        _ => parse_body(headers, body)?,
    };
    let spec = &given["spec"];
    let status = match kind {
        "SelfSubjectReview" => json!({"userInfo": {
            "username": who.user,
            "uid": who.uid,
            "groups": who.groups,
        }}),
        "SelfSubjectRulesReview" => {
            let namespace = spec["namespace"].as_str().unwrap_or("default").to_owned();
            let grants = grants_in(state, &namespace).await?;
            let rules = grants.rules_of(who, &namespace);
            let resource: Vec<Value> = rules
                .iter()
                .filter(|r| r.non_resource_urls.is_empty())
                .map(|r| {
                    json!({
                        "verbs": r.verbs, "apiGroups": r.api_groups,
                        "resources": r.resources, "resourceNames": r.resource_names,
                    })
                })
                .collect();
            let urls: Vec<Value> = rules
                .iter()
                .filter(|r| !r.non_resource_urls.is_empty())
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            json!({"resourceRules": resource, "nonResourceRules": urls, "incomplete": false})
        }
        _ => {
            let what = asked(spec)?;
            let namespace = what
                .resource
                .as_ref()
                .map(|r| r.namespace.clone())
                .unwrap_or_default();
            let decision = grants_in(state, &namespace).await?.allows(who, &what);
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = decision.reason.into();
            }
            status
        }
    };
    let mut answer = json!({
        "kind": kind,
        "apiVersion": format!("{group}/v1"),
        "metadata": {"creationTimestamp": null},
        "status": status,
    });
    if !spec.is_null() {
        answer["spec"] = spec.clone();
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// What a SelfSubjectAccessReview asks about.
fn asked(spec: &Value) -> Result<Attributes, KubeError> {
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or("").to_owned();
    if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        let resource = match text(r, "subresource").as_str() {
            "" => text(r, "resource"),
            sub => format!("{}/{sub}", text(r, "resource")),
        };
        return Ok(Attributes::resource(
            &text(r, "verb"),
            &text(r, "group"),
            &resource,
            &text(r, "namespace"),
            &text(r, "name"),
        ));
    }
    if let Some(n) = spec.get("nonResourceAttributes").filter(|n| n.is_object()) {
        return Ok(Attributes::non_resource(&text(n, "verb"), &text(n, "path")));
    }
    Err(KubeError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid value: exactly \
         one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

async fn grants_in(state: &Shared, namespace: &str) -> Result<Grants, KubeError> {
    let namespace = namespace.to_owned();
    read(state, move |store| {
        Grants::read(store, &namespace).map_err(internal)
    })
    .await
    .map_err(KubeError::from)
}
