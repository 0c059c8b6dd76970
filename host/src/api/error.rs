//! How the API answers what it refuses: one error shape (`{"error": …}`
//! with a meaningful HTTP status), and a JSON body extractor that answers
//! in it too.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::wire::{ErrorBody, MAX_BODY};

/// An error answer.
pub struct ApiError(pub StatusCode, pub String);

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

/// Appends `text` as a `Warning` header (`299 - "text"`), which kubectl
/// and `wasmjob` print on stderr.
pub(super) fn warn(headers: &mut axum::http::HeaderMap, text: &str) {
    let value = format!("299 - {}", serde_json::Value::from(text));
    if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
        headers.append(axum::http::header::WARNING, value);
    }
}

pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub(super) fn unavailable() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the node is shutting down".into(),
    )
}
