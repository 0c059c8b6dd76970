//! Every route against tokens that must not pass (issue 37), in raw HTTP:
//! an expired ServiceAccount token (signed with the node's real key), a
//! token of another namespace, and what a permitted token sends wrong — an
//! oversized body, a malformed patch. Each refusal has its status and
//! message, and nothing is stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use wasmjob_tests::{Server, Session};

use crate::api::token;

/// One request with its content type; the status and the body.
fn send(
    server: &Server,
    token: &str,
    (method, path, content_type): (&str, &str, &str),
    body: &[u8],
) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let headers = [("Content-Type", content_type), ("Authorization", &auth)];
    let (status, _, body) = raw(server, (method, path), &headers, body);
    (status, body)
}

/// One request with `headers`; the status, the head and the body.
fn raw(
    server: &Server,
    (method, path): (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(&server.address).expect("connecting to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.address,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

fn json(server: &Server, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    send(
        server,
        token,
        (method, path, "application/json"),
        body.as_bytes(),
    )
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A token for `team/viewer` (uid `uid`) that expired an hour ago, signed
/// as the node signs: with a key derived from its admin token.
fn expired_token(admin: &str, uid: &str) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let key = hmac(admin.as_bytes(), b"wasmjob serviceaccount tokens v1");
    let now = jiff::Timestamp::now().as_second();
    let claims = serde_json::json!({
        "iss": "wasmjob", "sub": "system:serviceaccount:team:viewer",
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": now - 3600, "iat": now - 7200, "nbf": now - 7200, "jti": "x",
        "kubernetes.io": {"namespace": "team", "serviceaccount": {"name": "viewer", "uid": uid}},
    });
    let signed = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let signature = hmac(&key, signed.as_bytes());
    format!("{signed}.{}", b64(&signature))
}

/// A ServiceAccount in `namespace` bound to ClusterRole `role` there, and
/// a token for it; its uid.
fn account(server: &Server, admin: &str, namespace: &str, role: &str) -> (String, String) {
    let (status, made) = json(
        server,
        admin,
        "POST",
        &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
        r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"viewer"}}"#,
    );
    assert_eq!(status, 201, "{made}");
    let uid = serde_json::from_str::<serde_json::Value>(&made).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let binding = format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
            "metadata":{{"name":"viewer"}},
            "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{role}"}},
            "subjects":[{{"kind":"ServiceAccount","name":"viewer"}}]}}"#
    );
    let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings");
    let (status, answer) = json(server, admin, "POST", &path, &binding);
    assert_eq!(status, 201, "{answer}");
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/viewer/token");
    let (status, answer) = json(server, admin, "POST", &path, r#"{"spec":{}}"#);
    assert_eq!(status, 201, "{answer}");
    let token = serde_json::from_str::<serde_json::Value>(&answer).unwrap()["status"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (uid, token)
}

#[test]
fn every_route_refuses_an_expired_token_and_a_token_of_another_namespace() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let admin = token(&s);
    let (uid, _) = account(&server, &admin, "team", "view");
    let (_, outsider) = account(&server, &admin, "other", "edit");
    let expired = expired_token(&admin, &uid);
    let routes = [
        ("GET", "/apis/batch/v1/namespaces/team/jobs"),
        ("GET", "/apis/batch/v1/jobs"),
        ("GET", "/apis/batch/v1/namespaces/team/jobs?watch=true"),
        ("POST", "/apis/batch/v1/namespaces/team/jobs"),
        ("PATCH", "/apis/apps/v1/namespaces/team/daemonsets/x"),
        ("DELETE", "/apis/batch/v1/namespaces/team/jobs/x"),
        ("DELETE", "/apis/batch/v1/namespaces/team/jobs"),
        ("GET", "/api/v1/namespaces/team/pods/x/log"),
        ("GET", "/api/v1/namespaces/team/secrets"),
        (
            "POST",
            "/api/v1/namespaces/team/serviceaccounts/viewer/token",
        ),
        ("GET", "/apis/wasmjob.dev/v1/namespaces/team/instances"),
        ("GET", "/api/v1/nodes"),
        ("DELETE", "/api/v1/namespaces/team"),
        ("POST", "/wasmjob/v1/apply"),
        ("GET", "/wasmjob/v1/logs?namespace=team&job=x"),
        ("POST", "/wasmjob/v1/nodes/x/labels"),
        ("GET", "/wasmjob/v1/namespaces/team/cronjobs/x/backfill"),
        ("GET", "/wasmjob/v1/live?uid=x"),
        ("GET", "/metrics"),
    ];
    for (method, path) in routes {
        let (status, body) = json(&server, &expired, method, path, "{}");
        assert_eq!(status, 401, "{method} {path} expired: {body}");
        assert!(body.contains("expired"), "{method} {path}: {body}");
        if path == "/wasmjob/v1/apply" {
            // Checked per object: an empty apply asks for nothing.
            continue;
        }
        let (status, body) = json(&server, &outsider, method, path, "{}");
        assert_eq!(status, 403, "{method} {path} as other/viewer: {body}");
        assert!(
            body.contains("User \\\"system:serviceaccount:other:viewer\\\" cannot"),
            "{method} {path}: {body}"
        );
    }
    // Discovery is every token holder's; an expired token's is not.
    assert_eq!(json(&server, &outsider, "GET", "/apis", "").0, 200);
    assert_eq!(json(&server, &expired, "GET", "/apis", "").0, 401);
}

#[test]
fn a_permitted_token_still_gets_413_for_an_oversized_body_and_400_for_a_malformed_patch() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let admin = token(&s);
    let (_, editor) = account(&server, &admin, "team", "edit");
    let job = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#;
    let (status, answer) = json(
        &server,
        &editor,
        "POST",
        "/api/v1/namespaces/team/configmaps",
        job,
    );
    assert_eq!(status, 201, "{answer}");
    let huge = vec![b' '; (64 << 20) + 1];
    let path = "/api/v1/namespaces/team/configmaps";
    let (status, answer) = send(&server, &editor, ("POST", path, "application/json"), &huge);
    assert_eq!(status, 413, "{answer}");
    let one = "/api/v1/namespaces/team/configmaps/c";
    for (content_type, body, wanted) in [
        (
            "application/json-patch+json",
            &b"[{\"op\": \"jump\"}]"[..],
            422,
        ),
        ("application/json-patch+json", &b"not json"[..], 400),
        ("application/merge-patch+json", &b"{\"data\": "[..], 400),
        (
            "application/strategic-merge-patch+json",
            &b"[1, 2]"[..],
            422,
        ),
    ] {
        let (status, answer) = send(&server, &editor, ("PATCH", one, content_type), body);
        assert_eq!(status, wanted, "{content_type} {body:?}: {answer}");
        assert!(answer.contains("\"kind\":\"Status\""), "{answer}");
    }
    // The ConfigMap is as it was.
    let (status, answer) = json(&server, &editor, "GET", one, "");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"a\":\"1\""), "{answer}");
}

/// The dashboard signs in a ServiceAccount's token too: its session reads
/// what the account may read and nothing else, a change needs the page's
/// header and the account's grant, and a revoked account's session ends
/// at once, saying why.
#[test]
fn the_dashboard_signs_in_an_account_token_with_its_grants_only() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let admin = token(&s);
    let (_, viewer) = account(&server, &admin, "team", "view");
    let form = ("Content-Type", "application/x-www-form-urlencoded");

    let (status, _, page) = raw(&server, ("POST", "/login"), &[form], b"token=not.a.token");
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("nor a ServiceAccount token it accepts"),
        "{page}"
    );

    let body = format!("token={viewer}");
    let (status, head, _) = raw(&server, ("POST", "/login"), &[form], body.as_bytes());
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.starts_with("wasmjob_session=sa."), "{cookie}");
    assert!(head.contains("HttpOnly; SameSite=Strict"), "{head}");
    let with_cookie = [("Cookie", cookie.as_str())];
    let (status, _, page) = raw(&server, ("GET", "/"), &with_cookie, b"");
    assert_eq!(status, 200);
    assert!(page.contains("system:serviceaccount:team:viewer"), "{page}");

    let get = |path: &str| raw(&server, ("GET", path), &with_cookie, b"");
    assert_eq!(get("/apis/batch/v1/namespaces/team/jobs").0, 200);
    let (status, _, refused) = get("/apis/batch/v1/namespaces/other/jobs");
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("cannot list resource"), "{refused}");
    assert_eq!(get("/api/v1/namespaces/team/secrets").0, 403);
    assert_eq!(get("/api/v1/nodes").0, 403);

    // A change: the page's header is needed, and then the grant.
    let delete = ("DELETE", "/apis/batch/v1/namespaces/team/jobs/x");
    let (status, _, refused) = raw(&server, delete, &with_cookie, b"");
    assert_eq!(status, 403);
    assert!(
        refused.contains("must come from the dashboard's page"),
        "{refused}"
    );
    let from_page = [("Cookie", cookie.as_str()), ("X-Wasmjob-Dashboard", "1")];
    let (status, _, refused) = raw(&server, delete, &from_page, b"");
    assert_eq!(status, 403);
    assert!(refused.contains("cannot delete resource"), "{refused}");
    // The page asks what it may do before drawing its buttons.
    let review = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",
        "spec":{"resourceAttributes":{"verb":"delete","group":"batch","resource":"jobs","namespace":"team"}}}"#;
    let ask = (
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    );
    let with_type = [
        ("Cookie", cookie.as_str()),
        ("X-Wasmjob-Dashboard", "1"),
        ("Content-Type", "application/json"),
    ];
    let (status, _, answer) = raw(&server, ask, &with_type, review);
    assert_eq!(status, 201, "{answer}");
    assert!(answer.contains(r#""allowed":false"#), "{answer}");

    // Deleting the account revokes its session with its tokens.
    let gone = json(
        &server,
        &admin,
        "DELETE",
        "/api/v1/namespaces/team/serviceaccounts/viewer",
        "",
    );
    assert_eq!(gone.0, 200, "{}", gone.1);
    assert_eq!(get("/apis/batch/v1/namespaces/team/jobs").0, 401);
    let (status, head, page) = get("/");
    assert_eq!(status, 401);
    assert!(
        page.contains("Signed out: the token's ServiceAccount team/viewer no longer exists"),
        "{page}"
    );
    assert!(head.contains("Max-Age=0"), "{head}");
}
