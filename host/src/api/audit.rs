//! The audit log: one `audit.k8s.io/v1` Event per request the policy
//! records (see [`crate::access::audit_policy`]), as JSON lines in
//! `<state dir>/audit/audit.log` (`serve --audit-log`), rotated when it
//! passes `--audit-log-maxsize` MiB into `audit-<time>.log`, the oldest
//! past `--audit-log-maxbackup` removed — what `kube-apiserver
//! --audit-log-path` writes, so the tools that read those read these.
//!
//! Each event names the user and groups, the verb, the object (resource,
//! namespace, name), the answer's code, the source address and user agent,
//! and RBAC's decision. A request body is recorded only at level
//! `Request` and above (JSON, or protobuf read into its JSON), the answer's
//! body only at `RequestResponse` when it is JSON; the answer only when it is whole (not a watch or a
//! followed log) and at most [`MAX_ANSWER`] bytes, and neither for a Secret
//! or a token request: a Secret's value never reaches the log.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::access::audit_policy::{Level, Policy};
use crate::access::{Attributes, Identity};
use crate::time::rfc3339;

/// The file name of the current log.
pub const FILE: &str = "audit.log";

/// The largest answer recorded as `responseObject`: a bigger one (a long
/// list) is recorded without it, as a log line should stay readable.
pub const MAX_ANSWER: usize = 1 << 20;

/// Where the events go, and how the file turns over.
pub struct AuditLog {
    /// The current file's path.
    path: PathBuf,
    /// Past this many bytes the file is rotated.
    max_bytes: u64,
    /// Rotated files kept.
    max_backups: usize,
    /// Which requests are recorded.
    policy: Policy,
    /// The open file and its size.
    file: Mutex<(std::fs::File, u64)>,
}

/// Annotations a handler gives its request's event, as a response
/// extension the log reads (Pod Security's `audit` level says a
/// violation this way, as kube-apiserver's admission does).
#[derive(Debug, Clone, Default)]
pub struct Annotations(pub Vec<(String, String)>);

/// The annotation of a Pod Security `audit` level's violation.
pub const POD_SECURITY_VIOLATIONS: &str = "pod-security.kubernetes.io/audit-violations";

/// What an apply said of its objects: the `warn` level's sentences as
/// `Warning` headers, the `audit` level's as the event's annotations.
pub fn said_of_apply(
    applied: &[crate::runner::Applied],
    headers: &mut axum::http::HeaderMap,
) -> Annotations {
    let mut notes = Vec::new();
    for one in applied {
        for warning in &one.warnings {
            super::error::warn(headers, warning);
        }
        if let Some(violation) = &one.audit {
            notes.push((POD_SECURITY_VIOLATIONS.to_owned(), violation.clone()));
        }
    }
    Annotations(notes)
}

/// One request as the log sees it.
pub struct Seen<'a> {
    /// Who asked.
    pub who: &'a Identity,
    /// What they asked.
    pub what: &'a Attributes,
    /// The path and query.
    pub uri: &'a str,
    /// The client's address, when known.
    pub source: Option<std::net::IpAddr>,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// The answer's code.
    pub code: u16,
    /// RBAC's decision and reason (`allow` for the admin).
    pub decision: (&'a str, &'a str),
    /// When it came, and when it was answered.
    pub times: (crate::time::Micros, crate::time::Micros),
    /// The body, when the level records it.
    pub body: Option<&'a [u8]>,
    /// The answer's body, when the level records it.
    pub answer: Option<&'a [u8]>,
    /// What the handler noted of the request.
    pub annotations: &'a [(String, String)],
}

impl AuditLog {
    /// Opens (appending) the log at `path` (0600; its directory made).
    pub fn open(
        path: &Path,
        max_bytes: u64,
        max_backups: usize,
        policy: Policy,
    ) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_private(path)?;
        let size = file.metadata()?.len();
        Ok(AuditLog {
            path: path.to_owned(),
            max_bytes,
            max_backups,
            policy,
            file: Mutex::new((file, size)),
        })
    }

    /// The level the policy gives a request of `who` asking `what`; a
    /// refusal (`denied`) is recorded at least at `Metadata`.
    pub fn level(&self, who: &Identity, what: &Attributes, denied: bool) -> Level {
        let level = self.policy.level(&who.user, &who.groups, what);
        match denied {
            true => level.max(Level::Metadata),
            false => level,
        }
    }

    /// Records one request at `level`.
    pub fn record(&self, level: Level, seen: &Seen<'_>) {
        if level == Level::None {
            return;
        }
        let mut line = event(level, seen).to_string();
        line.push('\n');
        let mut file = self.file.lock().expect("the audit log");
        if let Err(e) = self.append(&mut file, line.as_bytes()) {
            // The request was answered; losing its record is said, once
            // per failure, where the operator looks.
            tracing::warn!(error = %e, path = %self.path.display(), "the audit log could not be written");
        }
    }

    fn append(&self, file: &mut (std::fs::File, u64), line: &[u8]) -> std::io::Result<()> {
        if file.1 > 0 && file.1 + line.len() as u64 > self.max_bytes {
            self.rotate(file)?;
        }
        file.0.write_all(line)?;
        file.1 += line.len() as u64;
        Ok(())
    }

    /// Renames the current file `audit-<time>.log`, opens a new one, and
    /// removes the oldest rotated files past the number kept.
    fn rotate(&self, file: &mut (std::fs::File, u64)) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let stamp = rfc3339(crate::time::now()).replace(':', "-");
        std::fs::rename(&self.path, dir.join(format!("audit-{stamp}.log")))?;
        *file = (open_private(&self.path)?, 0);
        let mut old: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
            })
            .collect();
        old.sort();
        while old.len() > self.max_backups {
            std::fs::remove_file(old.remove(0))?;
        }
        Ok(())
    }
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Whether a request's body may be recorded: never a Secret's, a
/// token's, or anything not JSON.
fn body_recordable(what: &Attributes) -> bool {
    what.resource.as_ref().is_none_or(|r| {
        r.resource != "secrets" && r.subresource != "token" && r.resource != "tokenreviews"
    })
}

/// Whether the answer to `what` may be recorded: not a Secret's or a
/// token's (a token request's answer is the token), only JSON, and only a
/// whole body of known size up to [`MAX_ANSWER`] — a watch or a followed
/// log streams for as long as it is open.
pub fn answer_recordable(what: &Attributes, answer: &axum::response::Response) -> bool {
    use axum::body::HttpBody as _;
    let json = answer
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let whole = answer
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_ANSWER as u64);
    what.resource.is_some() && body_recordable(what) && json && whole
}

/// The `audit.k8s.io/v1` Event of one request.
fn event(level: Level, seen: &Seen<'_>) -> Value {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).expect("the system's random source");
    let id = hex::encode(id);
    let audit_id = format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    );
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level.as_str(),
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": seen.uri,
        "verb": seen.what.verb,
        "user": {
            "username": seen.who.user,
            "groups": seen.who.groups,
        },
        "sourceIPs": seen.source.map(|ip| vec![ip.to_string()]).unwrap_or_default(),
        "userAgent": seen.user_agent,
        "responseStatus": {"metadata": {}, "code": seen.code},
        "requestReceivedTimestamp": rfc3339(seen.times.0),
        "stageTimestamp": rfc3339(seen.times.1),
        "annotations": {
            "authorization.k8s.io/decision": seen.decision.0,
            "authorization.k8s.io/reason": seen.decision.1,
        },
    });
    for (key, value) in seen.annotations {
        event["annotations"][key] = value.clone().into();
    }
    if !seen.who.uid.is_empty() {
        event["user"]["uid"] = seen.who.uid.clone().into();
    }
    if let Some(r) = &seen.what.resource {
        let mut object = json!({"resource": r.resource, "apiGroup": r.group});
        for (key, value) in [
            ("subresource", &r.subresource),
            ("namespace", &r.namespace),
            ("name", &r.name),
        ] {
            if !value.is_empty() {
                object[key] = value.clone().into();
            }
        }
        event["objectRef"] = object;
    }
    if level >= Level::Request
        && body_recordable(seen.what)
        && let Some(body) = seen.body
        && let Some(object) = serde_json::from_slice::<Value>(body)
            .ok()
            // kubectl's typed commands send protobuf: recorded as the
            // object it decodes to, as kube-apiserver records it.
            .or_else(|| super::kube::untrusted::protobuf_body(body).ok())
    {
        event["requestObject"] = object;
    }
    if level >= Level::RequestResponse
        && body_recordable(seen.what)
        && let Some(answer) = seen.answer
        && let Ok(object) = serde_json::from_slice::<Value>(answer)
    {
        event["responseObject"] = object;
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(who: &'a Identity, what: &'a Attributes, body: Option<&'a [u8]>) -> Seen<'a> {
        Seen {
            who,
            what,
            uri: "/apis/batch/v1/namespaces/t/jobs",
            source: Some([127, 0, 0, 1].into()),
            user_agent: "kubectl/v1.32.0",
            code: 201,
            decision: ("allow", "RBAC: allowed"),
            times: (1_000_000, 1_002_000),
            body,
            answer: Some(br#"{"kind":"Job","metadata":{"uid":"u-1"}}"#),
            annotations: &[],
        }
    }

    #[test]
    fn an_event_is_kubernetes_shape_and_never_holds_a_secret() {
        let who = Identity::service_account("t", "ci", "uid-1");
        let jobs = Attributes::resource("create", "batch", "jobs", "t", "");
        let e = event(
            Level::Request,
            &seen(&who, &jobs, Some(br#"{"kind":"Job"}"#)),
        );
        assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(e["user"]["username"], "system:serviceaccount:t:ci");
        assert_eq!(e["user"]["uid"], "uid-1");
        assert_eq!(e["objectRef"]["resource"], "jobs");
        assert_eq!(e["objectRef"]["namespace"], "t");
        assert_eq!(e["responseStatus"]["code"], 201);
        assert_eq!(e["requestObject"]["kind"], "Job");
        assert!(
            e.get("responseObject").is_none(),
            "the answer is RequestResponse's"
        );
        assert_eq!(e["auditID"].as_str().unwrap().len(), 36);
        let e = event(
            Level::RequestResponse,
            &seen(&who, &jobs, Some(br#"{"kind":"Job"}"#)),
        );
        assert_eq!(e["responseObject"]["metadata"]["uid"], "u-1");
        let secret = Attributes::resource("create", "", "secrets", "t", "");
        let body = br#"{"stringData":{"password":"hunter2"}}"#;
        let mut s = seen(&who, &secret, Some(body));
        s.answer = Some(br#"{"data":{"password":"aHVudGVyMg=="}}"#);
        let e = event(Level::RequestResponse, &s);
        assert!(e.get("requestObject").is_none());
        assert!(e.get("responseObject").is_none());
        assert!(!e.to_string().contains("aHVudGVyMg"));
        assert!(!e.to_string().contains("hunter2"));
        let e = event(
            Level::Metadata,
            &seen(&who, &jobs, Some(br#"{"kind":"Job"}"#)),
        );
        assert!(e.get("requestObject").is_none());
    }

    #[test]
    fn only_a_whole_json_answer_of_a_resource_is_recordable() {
        use axum::response::IntoResponse as _;
        let jobs = Attributes::resource("get", "batch", "jobs", "t", "pi");
        let whole = axum::Json(json!({"kind": "Job"})).into_response();
        assert!(answer_recordable(&jobs, &whole));
        let secret = Attributes::resource("get", "", "secrets", "t", "db");
        assert!(!answer_recordable(&secret, &whole));
        let token = Attributes::resource("create", "", "serviceaccounts/token", "t", "ci");
        assert!(!answer_recordable(&token, &whole));
        let text = "plain words".into_response();
        assert!(!answer_recordable(&jobs, &text));
        // A watch streams for as long as it is open: never waited for.
        let stream = tokio_stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from_static(
            b"{}",
        ))]);
        let mut watch = axum::response::Response::new(axum::body::Body::from_stream(stream));
        watch.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        assert!(!answer_recordable(&jobs, &watch));
        let big = axum::Json(json!({"items": "x".repeat(MAX_ANSWER)})).into_response();
        assert!(!answer_recordable(&jobs, &big));
    }

    #[test]
    fn the_log_turns_over_past_its_size_and_keeps_its_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join(FILE);
        let log = AuditLog::open(&path, 2_000, 2, Policy::default()).unwrap();
        let who = Identity::admin();
        let jobs = Attributes::resource("create", "batch", "jobs", "t", "");
        for _ in 0..40 {
            log.record(Level::Metadata, &seen(&who, &jobs, None));
            // Rotated names are stamped to the microsecond.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let files: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 3, "{files:?}");
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 2_000);
        for line in current.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            assert_eq!(e["kind"], "Event");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(log.level(&who, &jobs, false), Level::Metadata);
        let read = Attributes::resource("list", "batch", "jobs", "t", "");
        assert_eq!(log.level(&who, &read, false), Level::None);
        assert_eq!(log.level(&who, &read, true), Level::Metadata);
    }
}
