//! The web dashboard `serve` answers at `/`: one page of plain HTML, CSS
//! and JavaScript built into the binary (no CDN, no build step), which
//! reads the Kubernetes API and wasmjob's own and updates from their watch
//! and log streams.
//!
//! Access is the API's: the login page (the only thing served without a
//! session) takes a token once and sets a session cookie — `HttpOnly`,
//! `SameSite=Strict`, and `Secure` over TLS — which the API then accepts
//! as it accepts the token (see `server::authenticate`). For the node's
//! admin token the cookie is a digest of it (a cookie read off a screen
//! does not give the CLI's token); for a ServiceAccount's token (`wasmjob
//! create token`) it is that token, which expires and is revoked as the
//! token is, and the page then shows and offers only what the account's
//! RBAC grants allow. A change made with the cookie must also carry the
//! header [`CHANGE_HEADER`], which only the page's own scripts send:
//! another site cannot make the browser send it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::Digest;

use super::authority::{self, Unaccepted};
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

/// Who a session cookie signs in.
#[derive(Debug, PartialEq, Eq)]
pub enum Session {
    /// The node's admin token.
    Admin,
    /// A ServiceAccount's token, as given at sign-in.
    Account(String),
}

/// The cookie value of a ServiceAccount's session starts with this.
const ACCOUNT_PREFIX: &str = "sa.";

/// The session the request's cookie holds, if any: the admin's when it is
/// the digest of `token`, an account's when it holds an account's token
/// (checked, as every bearer token is, where it is used).
pub fn session(headers: &HeaderMap, token: &str) -> Option<Session> {
    let wanted = session_value(token);
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)?;
    if same(value, &wanted) {
        return Some(Session::Admin);
    }
    let account = value.strip_prefix(ACCOUNT_PREFIX)?;
    (!account.is_empty()).then(|| Session::Account(account.to_owned()))
}

/// Who the request's session signs in — `system:admin` or the account's
/// user name — or the login page to answer with (a session whose account
/// token expired or was revoked is ended, saying why).
async fn signed_in(
    state: &Shared,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<String, Response> {
    match session(headers, &state.token) {
        None => Err(login_page(status, "")),
        Some(Session::Admin) => Ok("the node's admin token".to_owned()),
        Some(Session::Account(token)) => match authority::account_of(state, &token).await {
            Ok(who) => Ok(who.user),
            Err(Unaccepted::Token(why)) => {
                let why = match why.is_empty() {
                    true => "the token is not one this node accepts".to_owned(),
                    false => why,
                };
                let message = format!("Signed out: {}. Sign in again.", escape(&why));
                let mut page = login_page(StatusCode::UNAUTHORIZED, &message);
                page.headers_mut()
                    .insert(header::SET_COOKIE, clear_cookie());
                Err(page)
            }
            Err(Unaccepted::Store(code, message)) => Err((code, message).into_response()),
        },
    }
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
    let user = match signed_in(&state, &headers, StatusCode::OK).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    let node = state.node.lock().expect("node info").name.clone();
    let page = INDEX.replace("{{node}}", &escape(&node));
    html(StatusCode::OK, page.replace("{{user}}", &escape(&user)))
}

async fn asset(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if let Err(page) = signed_in(&state, &headers, StatusCode::UNAUTHORIZED).await {
        return page;
    }
    let (content_type, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `POST /login` with the form's `token` — the node's admin token or a
/// ServiceAccount's — the session cookie and the dashboard, or the login
/// page again saying why the token is not accepted.
async fn login(State(state): State<Shared>, body: Bytes) -> Response {
    let given = form_value(&body, "token").unwrap_or_default();
    let given = given.trim();
    let value = match same(given, &state.token) {
        true => session_value(&state.token),
        false => match authority::account_of(&state, given).await {
            Ok(_) => format!("{ACCOUNT_PREFIX}{given}"),
            Err(Unaccepted::Token(why)) => {
                let why = match why.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", escape(&why)),
                };
                let message = format!(
                    "That is neither this node's token (in the state directory's \
                     <code>token</code> file) nor a ServiceAccount token it accepts \
                     (<code>wasmjob create token NAME</code>){why}."
                );
                return login_page(StatusCode::UNAUTHORIZED, &message);
            }
            Err(Unaccepted::Store(code, message)) => return (code, message).into_response(),
        },
    };
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}");
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

/// A `Set-Cookie` that ends the session.
fn clear_cookie() -> header::HeaderValue {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    header::HeaderValue::from_str(&cookie).expect("a plain cookie")
}

async fn logout() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clear_cookie()),
            (header::LOCATION, header::HeaderValue::from_static("/")),
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
        assert_eq!(session(&headers, "secret"), Some(Session::Admin));
        assert_eq!(session(&headers, "secreT"), None);
        assert!(!session_value("secret").contains("secret"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("{COOKIE}=abc").parse().unwrap());
        assert_eq!(session(&headers, "secret"), None);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("{COOKIE}=sa.a.b.c").parse().unwrap(),
        );
        assert_eq!(
            session(&headers, "secret"),
            Some(Session::Account("a.b.c".into()))
        );
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
