//! The web dashboard `serve` answers at `/`: one page of plain HTML, CSS
//! and JavaScript built into the binary (no CDN, no build step), which
//! reads the Kubernetes API and wasmjob's own and updates from their watch
//! and log streams.
//!
//! Access is the API's token: the login page (the only thing served
//! without it) takes it once and sets a session cookie derived from it —
//! `HttpOnly`, `SameSite=Strict`, and `Secure` over TLS — which the API
//! then accepts as it accepts the token (see `server::authenticate`). A
//! change made with the cookie must also carry the header
//! [`CHANGE_HEADER`], which only the page's own scripts send: another site
//! cannot make the browser send it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::Digest;

use super::state::Shared;

/// The session cookie's name.
const COOKIE: &str = "wasmjob_session";

/// The header a change made with the session cookie must carry.
pub const CHANGE_HEADER: &str = "x-wasmjob-dashboard";

const LOGIN: &str = include_str!("assets/login.html");
const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The dashboard's routes; none of them behind the token check.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{asset}", get(asset))
        .route("/login", post(login))
        .route("/logout", post(logout))
}

/// The cookie's value for `token`: a digest, so the cookie is not the
/// token itself (a cookie read off a screen does not give the CLI's token).
fn session_value(token: &str) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(b"wasmjob dashboard session\n");
    digest.update(token.as_bytes());
    hex::encode(digest.finalize())
}

/// Whether a request carries the session cookie for `token`.
pub fn session_ok(headers: &HeaderMap, token: &str) -> bool {
    let wanted = session_value(token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, &wanted))
}

/// Compares without an early exit, so timing says nothing of the secret.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn html(status: StatusCode, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, body).into_response()
}

fn login_page(status: StatusCode, message: &str) -> Response {
    html(status, LOGIN.replace("{{message}}", message))
}

async fn index(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if !session_ok(&headers, &state.token) {
        return login_page(StatusCode::OK, "");
    }
    let node = state.node.lock().expect("node info").name.clone();
    html(StatusCode::OK, INDEX.replace("{{node}}", &escape(&node)))
}

async fn asset(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if !session_ok(&headers, &state.token) {
        return login_page(StatusCode::UNAUTHORIZED, "");
    }
    let (content_type, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `POST /login` with the form's `token`: the session cookie and the
/// dashboard, or the login page again saying the token is wrong.
async fn login(State(state): State<Shared>, body: Bytes) -> Response {
    let given = form_value(&body, "token").unwrap_or_default();
    if !same(given.trim(), &state.token) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            "That is not this node's token: it is in the state directory's <code>token</code> file.",
        );
    }
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        session_value(&state.token)
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

/// The value of `key` in a form-encoded body.
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_derived_from_the_token_and_checked_whole() {
        let mut headers = HeaderMap::new();
        let value = format!("other=1; {COOKIE}={}", session_value("secret"));
        headers.insert(header::COOKIE, value.parse().unwrap());
        assert!(session_ok(&headers, "secret"));
        assert!(!session_ok(&headers, "secreT"));
        assert!(!session_value("secret").contains("secret"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("{COOKIE}=abc").parse().unwrap());
        assert!(!session_ok(&headers, "secret"));
    }

    #[test]
    fn a_form_token_is_decoded() {
        assert_eq!(
            form_value(b"token=a%2Bb+c&x=1", "token").as_deref(),
            Some("a+b c")
        );
        assert_eq!(form_value(b"x=1", "token"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
