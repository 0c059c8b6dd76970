//! Errors as the Kubernetes API answers them: a `v1` `Status` object with
//! the reason and code clients branch on (`NotFound`, `AlreadyExists`,
//! `Conflict`, `Invalid`, `Expired`, …).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::error::ApiError;

/// A refusal, answered as a `Status`.
#[derive(Debug)]
pub(super) struct KubeError {
    pub(super) code: StatusCode,
    pub(super) reason: &'static str,
    pub(super) message: String,
    /// `details`: what the refusal is about.
    pub(super) details: Option<Value>,
}

impl KubeError {
    pub(super) fn new(code: StatusCode, message: impl Into<String>) -> Self {
        KubeError {
            code,
            reason: reason_of(code),
            message: message.into(),
            details: None,
        }
    }

    pub(super) fn reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    /// `{qualified} "name" not found`.
    pub(super) fn not_found(qualified: &str, name: &str) -> Self {
        KubeError::new(
            StatusCode::NOT_FOUND,
            format!("{qualified} {name:?} not found"),
        )
        .about(qualified, name)
    }

    /// A verb the resource does not take, and what to do instead.
    pub(super) fn not_allowed(verb: &str, qualified: &str) -> Self {
        let instead = match qualified {
            "pods" => {
                "instances are made by their Job, CronJob or DaemonSet: change or delete that"
            }
            "controllerrevisions.apps" => {
                "a DaemonSet's controller keeps its revisions: change the DaemonSet, or go back \
                 to a revision with `kubectl rollout undo`"
            }
            "events" | "events.events.k8s.io" => "events are recorded by the nodes",
            q if q.ends_with("/status") => "the controllers own status: change the spec",
            _ => "see docs/KUBERNETES-API.md for what each resource takes",
        };
        KubeError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{verb} is not supported on {qualified} by wasmjob: {instead}"),
        )
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        KubeError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn about(mut self, qualified: &str, name: &str) -> Self {
        let (kind, group) = qualified.split_once('.').unwrap_or((qualified, ""));
        self.details = Some(json!({"name": name, "group": group, "kind": kind}));
        self
    }

    /// The `Status` object.
    pub(super) fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// A refusal in Kubernetes' `Status` shape (its reason from the code),
/// for the checks in front of every route (`api::authority`).
pub(in crate::api) fn refusal(
    code: StatusCode,
    message: String,
    details: Option<Value>,
) -> Response {
    let mut error = KubeError::new(code, message);
    error.details = details;
    error.into_response()
}

/// Kubernetes' reason for an HTTP status.
fn reason_of(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

impl From<ApiError> for KubeError {
    fn from(e: ApiError) -> Self {
        // The wasmjob API's messages start as `wasmjob get` prints them.
        let message =
            e.1.strip_prefix("Error from server (NotFound): ")
                .unwrap_or(&e.1)
                .to_owned();
        KubeError::new(e.0, message)
    }
}

impl IntoResponse for KubeError {
    fn into_response(self) -> Response {
        (self.code, Json(self.status())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_carries_kubernetes_reason_code_and_details() {
        let status = KubeError::not_found("jobs.batch", "pi").status();
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["code"], 404);
        assert_eq!(status["message"], "jobs.batch \"pi\" not found");
        assert_eq!(status["details"]["group"], "batch");
        assert_eq!(status["details"]["kind"], "jobs");
        let conflict = KubeError::new(StatusCode::CONFLICT, "x").reason("AlreadyExists");
        assert_eq!(conflict.status()["reason"], "AlreadyExists");
        let from: KubeError = ApiError(
            StatusCode::NOT_FOUND,
            "Error from server (NotFound): nodes \"x\" not found".into(),
        )
        .into();
        assert_eq!(from.message, "nodes \"x\" not found");
    }
}
