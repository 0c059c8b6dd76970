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

use super::authority;
use super::commands::{apply, label_node, taint_node};
use super::error::ApiError;
use super::logs::logs;
use super::reads::{commits, schedule};
use super::state::Shared;
pub use super::state::{ClusterAccess, NodeInfo, ServerState};
use super::wire::MAX_BODY;
use crate::access::Identity;

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
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
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
/// the handlers as a request extension.
async fn authenticate(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let admin = given
        .as_deref()
        .is_some_and(|g| super::dashboard::same(g, &state.token));
    // The dashboard's page reads with its session cookie; a change made
    // with the cookie alone, which another site could make the browser
    // send, is refused.
    let cookie = !admin && super::dashboard::session_ok(request.headers(), &state.token);
    let reading = matches!(request.method().as_str(), "GET" | "HEAD");
    if cookie
        && !reading
        && !request
            .headers()
            .contains_key(super::dashboard::CHANGE_HEADER)
    {
        return ApiError(
            StatusCode::FORBIDDEN,
            "a change made with the dashboard's cookie must come from the dashboard's page".into(),
        )
        .into_response();
    }
    let who = match (admin || cookie, given) {
        (true, _) => Identity::admin(),
        (false, Some(token)) => match authority::identify(&state, &token).await {
            Ok(who) => who,
            Err(refusal) => return refusal,
        },
        (false, None) => return authority::unauthorized(""),
    };
    if !who.is_master() {
        let query: std::collections::HashMap<String, String> = request
            .uri()
            .query()
            .map(|q| {
                url_pairs(q)
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>()
            })
            .unwrap_or_default();
        let method = request.method().as_str().to_owned();
        if let Some(what) = authority::attributes(&method, request.uri().path(), &query)
            && let Err(refusal) = authority::check(&state, &who, what).await
        {
            return refusal;
        }
    }
    request.extensions_mut().insert(who);
    next.run(request).await
}

/// The `key=value` pairs of a query string, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().expect("a path and query"),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}
