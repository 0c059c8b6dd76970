//! The API refuses what it must (issue 10, "Bad input"): requests without
//! the token, oversized bodies, malformed JSON — each with a status and a
//! JSON message, and nothing stored. Raw HTTP, so nothing on the client's
//! side smooths the request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wasmjob_tests::{Server, Session};

/// One HTTP/1.1 request; the status and the body of the answer.
pub(crate) fn request(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let text = request_text(server, token, method, path, body);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// One HTTP/1.1 request; the whole answer, status line and headers too.
pub(crate) fn request_text(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let mut stream = TcpStream::connect(&server.address).expect("connecting to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        server.address,
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before reading a refused body to
    // its end; what matters is its answer.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

pub(crate) fn token(s: &Session) -> String {
    std::fs::read_to_string(s.state.path().join("token"))
        .unwrap()
        .trim()
        .to_owned()
}

fn error_of(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    value["error"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

#[test]
fn every_route_refuses_a_request_without_the_right_token() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    for (method, path) in [
        ("GET", "/wasmjob/v1/logs?job=x"),
        ("POST", "/wasmjob/v1/apply"),
        ("GET", "/wasmjob/v1/commits"),
        ("POST", "/wasmjob/v1/nodes/x/labels"),
        // The Kubernetes API's, discovery included.
        ("GET", "/version"),
        ("GET", "/healthz"),
        ("GET", "/api"),
        ("GET", "/apis"),
        ("GET", "/openapi/v3"),
        ("GET", "/api/v1/namespaces/default/pods"),
        ("GET", "/apis/wasmjob.dev/v1/instances"),
        ("DELETE", "/apis/batch/v1/namespaces/default/jobs/x"),
        ("GET", "/api/v1/namespaces/default/pods/x/log"),
        ("GET", "/apis/batch/v1/jobs?watch=true"),
        ("POST", "/apis/batch/v1/namespaces/default/jobs"),
        ("PATCH", "/apis/apps/v1/namespaces/default/daemonsets/x"),
        ("DELETE", "/api/v1/namespaces/x"),
    ] {
        for token in [None, Some("0".repeat(64).as_str()), Some("short")] {
            let (status, body) = request(&server, token, method, path, b"{}");
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert!(error_of(&body).contains("missing or wrong bearer token"));
        }
    }
}

#[test]
fn malformed_json_is_a_400_with_a_message_and_an_oversized_body_a_413() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let token = token(&s);
    for (body, expected) in [
        (&b"{\"objects\": ["[..], "EOF while parsing"),
        (&b"not json at all"[..], "expected ident at line 1 column 2"),
        (&b"{\"objects\": 7}"[..], "invalid type: integer `7`"),
        (&b"\xff\xfe"[..], "expected value at line 1 column 1"),
    ] {
        let (status, answer) = request(&server, Some(&token), "POST", "/wasmjob/v1/apply", body);
        assert_eq!(status, 400, "{answer}");
        let message = error_of(&answer);
        assert!(
            message.starts_with("the request body is not valid JSON for this request")
                && message.contains(expected),
            "{message}"
        );
    }
    let (status, answer) = request(
        &server,
        Some(&token),
        "POST",
        "/wasmjob/v1/nodes/x/labels",
        b"{\"set\": 1}",
    );
    assert_eq!(status, 400, "{answer}");

    let huge = vec![b' '; (64 << 20) + 1];
    let (status, answer) = request(&server, Some(&token), "POST", "/wasmjob/v1/apply", &huge);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        error_of(&answer),
        "the request body is over the 64 MiB limit"
    );

    // Nothing was stored, and the server still answers.
    let ran = s.client(&server, &["get", "jobs", "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json()["items"].as_array().unwrap().len(), 0);
}
