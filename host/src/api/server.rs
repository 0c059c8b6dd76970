//! The API server of `wasmjob serve`: the routes, every one behind the
//! token check. Handlers read the store on their own read-only connections
//! (`reads`, `logs`) and send every change to the runner's thread as a
//! command (`commands`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::audit::Seen;
use super::authority;
use super::commands::{apply, label_node, taint_node};
use super::error::ApiError;
use super::logs::logs;
use super::reads::{commits, schedule};
use super::state::Shared;
pub use super::state::{ClusterAccess, NodeInfo, ServerState};
use super::wire::MAX_BODY;
use crate::access::Identity;
use crate::access::audit_policy::Level;

/// Serves `app` over TLS on `listener` until `stop` resolves. A client
/// that fails the handshake (a plain-HTTP client, an untrusted CA) is
/// dropped alone.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    config: std::sync::Arc<rustls::ServerConfig>,
    stop: impl std::future::Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(stop);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "the API could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        no_delay(&tcp);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let peer = tcp.peer_addr().ok();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            // The client's address goes with each request, as axum's
            // `ConnectInfo` (the audit log's `sourceIPs`).
            let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
                if let Some(peer) = peer {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                }
                let mut app = app.clone();
                async move {
                    tower_service::Service::<hyper::Request<hyper::body::Incoming>>::call(
                        &mut app, request,
                    )
                    .await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sends what is written at once. With Nagle's algorithm on, the last
/// small piece of a long answer waited for the client's acknowledgement of
/// the one before, which the client delays by 40 ms: `logs job/X` of a
/// thousand instances took 58 ms where 16 ms was its own work.
pub fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
}

/// The router: every route behind the token check but the dashboard's
/// login page.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/wasmjob/v1/apply", post(apply))
        .route("/wasmjob/v1/logs", get(logs))
        .route("/wasmjob/v1/commits", get(commits))
        .route("/metrics", get(super::metrics::metrics))
        .route("/wasmjob/v1/nodes/{name}/labels", post(label_node))
        .route("/wasmjob/v1/nodes/{name}/taints", post(taint_node))
        .route("/wasmjob/v1/schedule", get(schedule))
        .route(
            "/wasmjob/v1/namespaces/{namespace}/cronjobs/{name}/backfill",
            get(super::backfill::backfill_plan),
        )
        .route("/wasmjob/v1/live", get(super::elsewhere::live))
        .merge(super::kube::routes())
        .layer(middleware::from_fn_with_state(state.clone(), warn_alone))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // The dashboard's page asks for the token itself.
        .merge(super::dashboard::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// An answer made from this node's own records while the cluster's
/// database does not answer says so, in the `Warning` header kubectl
/// prints (and `wasmjob` too).
async fn warn_alone(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if state.alone.load(std::sync::atomic::Ordering::Relaxed) {
        let node = state.node.lock().expect("node info").name.clone();
        let text = format!(
            "299 - \"the cluster database does not answer: this is what node {node} itself \
             knows, which may be behind the rest of the cluster\""
        );
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            response.headers_mut().insert(header::WARNING, value);
        }
    }
    response
}

/// Who is asking (the admin token, the dashboard's session, or a
/// ServiceAccount's token) and whether they may: the identity goes on to
/// the handlers as a request extension, and the audit log records the
/// request as its policy says (every refusal at least).
async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let received = crate::time::now();
    let method = request.method().as_str().to_owned();
    let query: std::collections::HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| url_pairs(q).into_iter().collect())
        .unwrap_or_default();
    let checked = authority::attributes(&method, request.uri().path(), &query);
    // `apply` is checked object by object in its handler; the log sees it
    // as the path it is.
    let what = checked.clone().unwrap_or_else(|| {
        crate::access::Attributes::non_resource(&method.to_ascii_lowercase(), request.uri().path())
    });
    let reading = matches!(method.as_str(), "GET" | "HEAD");
    let (who, outcome) = admit(&state, request.headers(), (checked, reading)).await;
    let (request, body) = match &state.audit {
        Some(log) if log.level(&who, &what, false) >= Level::Request => {
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    return ApiError(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the request body is over the {} MiB limit", MAX_BODY >> 20),
                    )
                    .into_response();
                }
            };
            let request = Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
            (request, Some(bytes))
        }
        _ => (request, None),
    };
    let uri = request.uri().to_string();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let (mut response, reason) = match outcome {
        Ok(reason) => {
            let mut request = request;
            request.extensions_mut().insert(who.clone());
            (next.run(request).await, reason)
        }
        Err(refusal) => (refusal, String::new()),
    };
    if let Some(log) = &state.audit {
        let code = response.status().as_u16();
        let denied = code == 401 || code == 403;
        let decision = match denied {
            true => ("forbid", reason.as_str()),
            false => ("allow", reason.as_str()),
        };
        let level = log.level(&who, &what, denied);
        let annotations = (response.extensions().get::<super::audit::Annotations>())
            .map(|a| a.0.clone())
            .unwrap_or_default();
        let mut answer = None;
        if level == Level::RequestResponse && super::audit::answer_recordable(&what, &response) {
            let (parts, body) = std::mem::take(&mut response).into_parts();
            // A whole body of known size (checked above): reading it
            // cannot wait on a stream.
            response = match axum::body::to_bytes(body, super::audit::MAX_ANSWER).await {
                Ok(bytes) => {
                    answer = Some(bytes.clone());
                    Response::from_parts(parts, axum::body::Body::from(bytes))
                }
                Err(e) => ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the answer could not be read: {e}"),
                )
                .into_response(),
            };
        }
        let seen = Seen {
            who: &who,
            what: &what,
            uri: &uri,
            source,
            user_agent: &user_agent,
            code,
            decision,
            times: (received, crate::time::now()),
            body: body.as_deref(),
            answer: answer.as_deref(),
            annotations: &annotations,
        };
        log.record(level, &seen);
    }
    response
}

/// Who `request` comes from, and whether they may ask `checked`: RBAC's
/// reason, or the refusal to answer with (an unknown token's identity is
/// `system:anonymous`).
async fn admit(
    state: &Shared,
    headers: &axum::http::HeaderMap,
    (checked, checked_reading): (Option<crate::access::Attributes>, bool),
) -> (Identity, Result<String, Response>) {
    let anonymous = || Identity {
        user: "system:anonymous".to_owned(),
        groups: vec!["system:unauthenticated".to_owned()],
        uid: String::new(),
    };
    let mut given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let admin = given
        .as_deref()
        .is_some_and(|g| super::dashboard::same(g, &state.token));
    // The dashboard's page reads with its session cookie (the admin's, or
    // an account's token); a change made with the cookie alone, which
    // another site could make the browser send, is refused.
    let session = match (admin, &given) {
        (false, None) => super::dashboard::session(headers, &state.token),
        _ => None,
    };
    let reading = checked_reading;
    if session.is_some() && !reading && !headers.contains_key(super::dashboard::CHANGE_HEADER) {
        let refusal = ApiError(
            StatusCode::FORBIDDEN,
            "a change made with the dashboard's cookie must come from the dashboard's page".into(),
        );
        return (Identity::admin(), Err(refusal.into_response()));
    }
    let cookie = match session {
        Some(super::dashboard::Session::Admin) => true,
        Some(super::dashboard::Session::Account(token)) => {
            given = Some(token);
            false
        }
        None => false,
    };
    let who = match (admin || cookie, given) {
        (true, _) => Identity::admin(),
        (false, Some(token)) => match authority::identify(state, &token).await {
            Ok(who) => who,
            Err(refusal) => return (anonymous(), Err(refusal)),
        },
        (false, None) => return (anonymous(), Err(authority::unauthorized(""))),
    };
    let outcome = match checked {
        Some(what) if !who.is_master() => authority::check(state, &who, what).await,
        _ => Ok(String::new()),
    };
    (who, outcome)
}

/// The `key=value` pairs of a query string, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().expect("a path and query"),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_accepted_connection_sends_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let _client = tokio::net::TcpStream::connect(address).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            assert!(
                !accepted.nodelay().unwrap(),
                "Nagle's algorithm is the default"
            );
            super::no_delay(&accepted);
            assert!(accepted.nodelay().unwrap());
        });
    }
}
