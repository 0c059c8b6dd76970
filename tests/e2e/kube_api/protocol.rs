//! The Kubernetes API at the wire, as a client library meets it: the
//! `Status` of every refusal (reason and code), paging, watch from a
//! `resourceVersion` and a too old one, and the aggregated discovery media
//! type. Plain HTTP, so the test speaks HTTP itself.

use super::*;
use crate::api::{request, request_text, token};

fn status(body: &str) -> (String, u64) {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    assert_eq!(value["kind"], "Status", "{body}");
    (
        value["reason"].as_str().unwrap_or("").to_owned(),
        value["code"].as_u64().unwrap_or(0),
    )
}

#[test]
fn refusals_paging_and_watches_follow_the_kubernetes_wire_protocol() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let t = token(&s);
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    let refused = [
        ("POST", jobs, "{", "BadRequest", 400),
        (
            "POST",
            jobs,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            "BadRequest",
            400,
        ),
        (
            "POST",
            jobs,
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x","namespace":"other"},"spec":{}}"#,
            "BadRequest",
            400,
        ),
        (
            "POST",
            jobs,
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"},"spec":{}}"#,
            "Invalid",
            422,
        ),
        (
            "GET",
            "/apis/batch/v1/namespaces/default/widgets",
            "",
            "NotFound",
            404,
        ),
        ("GET", "/apis/nope/v1/jobs", "", "NotFound", 404),
        ("GET", &format!("{jobs}/missing"), "", "NotFound", 404),
        (
            "PUT",
            "/api/v1/namespaces/default/pods/x",
            "{}",
            "MethodNotAllowed",
            405,
        ),
        (
            "PUT",
            &format!("{jobs}/x/status"),
            "{}",
            "MethodNotAllowed",
            405,
        ),
        (
            "GET",
            &format!("{jobs}?watch=true&resourceVersion=5"),
            "",
            "Expired",
            410,
        ),
        (
            "GET",
            &format!("{jobs}?limit=1&continue=nonsense"),
            "",
            "Expired",
            410,
        ),
        (
            "GET",
            &format!("{jobs}?labelSelector=a%20in"),
            "",
            "BadRequest",
            400,
        ),
        (
            "GET",
            &format!("{jobs}?fieldSelector=status.phase"),
            "",
            "BadRequest",
            400,
        ),
    ];
    for (method, path, body, reason, code) in refused {
        let (got, answer) = request(&server, Some(&t), method, path, body.as_bytes());
        assert_eq!(got, code, "{method} {path}: {answer}");
        assert_eq!(
            status(&answer),
            (reason.to_owned(), u64::from(code)),
            "{method} {path}: {answer}"
        );
    }

    // Paging: three Jobs (sent as YAML), one per page, in name order.
    for name in ["c", "a", "b"] {
        let job = job(name, &program("say-hello"), "app: paged", "");
        let text = request_text_with(&server, &t, "POST", jobs, "application/yaml", &job);
        assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    }
    let mut names = Vec::new();
    let mut next = String::new();
    loop {
        let path = format!("{jobs}?limit=1&continue={next}");
        let (code, answer) = request(&server, Some(&t), "GET", &path, b"");
        assert_eq!(code, 200, "{answer}");
        let list: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(list["kind"], "JobList");
        names.push(
            list["items"][0]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        match list["metadata"]["continue"].as_str() {
            Some(token) => next = token.to_owned(),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c"]);

    // wasmjob's own list (what its CLI asks for) is the same objects,
    // written from the stored text, without resourceVersions — read once
    // the Jobs are done, so that both lists see the same state (a Job that
    // completed between the two reads differed once in CI).
    for name in ["a", "b", "c"] {
        s.wait_finished(&server, name);
    }
    let path = format!("{jobs}?labelSelector=app%3Dpaged");
    let (_, kube) = request(&server, Some(&t), "GET", &path, b"");
    let accept = "application/json;as=List;g=wasmjob.dev;v=v1";
    let own = request_text_with(&server, &t, "GET", &path, accept, "");
    let own = own.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let items = |text: &str| {
        let mut list: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut items = list["items"].take();
        for item in items.as_array_mut().unwrap() {
            let meta = item["metadata"].as_object_mut().unwrap();
            meta.remove("resourceVersion");
        }
        items
    };
    let own_items = items(own);
    assert_eq!(own_items.as_array().map(Vec::len), Some(3), "{own}");
    assert_eq!(own_items, items(&kube));

    // A watch from the list's resourceVersion sends only what changed after.
    let (_, answer) = request(&server, Some(&t), "GET", jobs, b"");
    let rv =
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned();
    let patch = r#"{"metadata":{"labels":{"touched":"yes"}}}"#;
    let path = format!("{jobs}/b");
    let text = request_text_with(
        &server,
        &t,
        "PATCH",
        &path,
        "application/merge-patch+json",
        patch,
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let watch = format!("{jobs}?watch=true&resourceVersion={rv}&timeoutSeconds=1");
    let stream = request_text(&server, Some(&t), "GET", &watch, b"");
    let events: Vec<serde_json::Value> = stream
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or("")
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    let about: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| {
            e["object"]["metadata"]["labels"]["touched"] == "yes" || e["type"] != "MODIFIED"
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap_or(""),
                e["object"]["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(about.contains(&("MODIFIED", "b")), "{stream}");
    assert!(!about.iter().any(|(kind, _)| *kind == "ADDED"), "{stream}");

    // The health checks tools probe.
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(
            request(&server, Some(&t), "GET", path, b""),
            (200, "ok".to_owned())
        );
    }

    // Aggregated discovery says so in its media type.
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let text = request_text_with(&server, &t, "GET", "/apis", accept, "");
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("content-type: {accept}").to_ascii_lowercase()),
        "{text}"
    );
}

/// One request with a content type (or, for a GET, an `Accept`).
fn request_text_with(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    media: &str,
    body: &str,
) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let header = if method == "GET" {
        "Accept"
    } else {
        "Content-Type"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{header}: {media}\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        server.address,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
