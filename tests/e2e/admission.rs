//! One admission path (issue 28): a module that declares 512Mi of initial
//! memory, in a Job whose instances are limited to 64Mi, gets the same
//! refusal on every path — `wasmjob run` (exit 2), `apply` through a server
//! (exit 2 from the CLI, 422 with the message from the API), a node
//! resuming a stored Job at start, and a cluster node that would take the
//! Job over from a lost node — and nothing of it runs. Before, `run`
//! refused it but a server accepted it, and every instance ended
//! `OOMKilled`.
//!
//! A stored object that today's admission refuses can only be one an
//! earlier wasmjob stored; the tests make one by storing an admissible Job
//! and lowering its memory limit in the database, as an older version
//! would have let through.

use base64::Engine as _;
use wasmjob_tests::{PgDatabase, Server, Session, fixture, job_yaml};

/// The refusal every path gives, the field path and the message.
const REFUSAL: &str = "spec.template.spec.containers[0].image: the module declares 512Mi of \
    initial memory, more than the instance's memory limit of 64Mi: raise \
    resources.limits.memory or build the module with a smaller initial memory";

/// The Job `big` of the half-gig module, limited to `memory`.
fn big_job(memory: &str, suspended: bool) -> String {
    let pod = format!("        resources:\n          limits:\n            memory: {memory}");
    let spec = if suspended { "  suspend: true" } else { "" };
    job_yaml("big", &fixture("half-gig-memory.wat"), &[], spec, &pod)
}

#[test]
fn run_refuses_the_module_with_exit_2_and_stores_nothing() {
    let s = Session::new();
    let path = s.write("big.yaml", &big_job("64Mi", false));
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    eprintln!("wasmjob run: exit {}: {}", ran.code, ran.stderr.trim());
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains(&format!("big.yaml: document 1: {REFUSAL}")),
        "{}",
        ran.stderr
    );
    assert_eq!(s.store_counts(), (0, 0));
}

#[test]
fn apply_through_a_server_refuses_it_as_run_does_from_the_cli_and_the_api() {
    let s = Session::new();
    // Plain HTTP: the test speaks to the API itself.
    let server = Server::start(&s, &["--plain-http"]);
    s.write("big.yaml", &big_job("64Mi", false));
    let applied = s.client(&server, &["apply", "-f", "big.yaml"]);
    eprintln!(
        "wasmjob apply: exit {}: {}",
        applied.code,
        applied.stderr.trim()
    );
    assert_eq!(applied.code, 2, "{applied:?}");
    assert!(
        applied
            .stderr
            .contains(&format!("big.yaml: document 1: {REFUSAL}")),
        "{}",
        applied.stderr
    );
    // The API itself, as any client sends it: the object and its module.
    let bytes = wat::parse_file(fixture("half-gig-memory.wat")).unwrap();
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    let container = serde_json::json!({
        "name": "main",
        "image": digest,
        "resources": {"limits": {"memory": "64Mi"}},
    });
    let object = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "big"},
        "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
    });
    let body = serde_json::json!({
        "objects": [{"source": {"file": "big.yaml", "document": 1}, "object": object}],
        "modules": [{"digest": digest, "bytes": base64::engine::general_purpose::STANDARD.encode(&bytes)}],
    });
    let token = crate::api::token(&s);
    let body = body.to_string();
    let (status, answer) = crate::api::request(
        &server,
        Some(&token),
        "POST",
        "/wasmjob/v1/apply",
        body.as_bytes(),
    );
    eprintln!("POST /wasmjob/v1/apply: {status}: {answer}");
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer.contains(&format!("big.yaml: document 1: {REFUSAL}")),
        "{answer}"
    );
    let jobs = s.client(&server, &["get", "jobs", "-o", "json"]).json();
    assert_eq!(jobs["items"], serde_json::json!([]), "nothing stored");
    assert_eq!(s.store_counts(), (0, 0));
}

#[test]
fn a_node_resuming_a_stored_job_its_admission_refuses_says_why_and_runs_nothing() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("big.yaml", &big_job("1Gi", true));
    let applied = s.client(&server, &["apply", "-f", "big.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(server.terminate(), 0);
    // What an earlier wasmjob could have stored: the limit below the
    // module's memory, and the Job no longer suspended.
    let lowered = s
        .db()
        .execute(
            "UPDATE objects SET manifest = json_set(manifest, '$.spec.suspend', json('false'),
               '$.spec.template.spec.containers[0].resources.limits.memory', '64Mi')
             WHERE name = 'big'",
            [],
        )
        .unwrap();
    assert_eq!(lowered, 1);
    let server = Server::start(&s, &[]);
    let said = eventually(|| s.serve_log().contains("is not resumed"));
    let log = s.serve_log();
    eprintln!(
        "wasmjob serve (resume): {}",
        log.lines()
            .find(|l| l.contains("not resumed"))
            .unwrap_or("")
    );
    assert!(said, "{log}");
    assert!(
        log.contains(&format!(
            "wasmjob serve: job.batch/big is not resumed: {REFUSAL}"
        )),
        "{log}"
    );
    let described = s.client(&server, &["describe", "job/big"]);
    assert!(
        described.stdout.contains("FailedCreate"),
        "{}",
        described.stdout
    );
    assert!(
        described.stdout.contains("the module declares 512Mi"),
        "{}",
        described.stdout
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        s.store_counts(),
        (1, 0),
        "the Job stays, and no instance of it ran"
    );
}

#[test]
fn a_cluster_node_refuses_to_take_over_a_job_its_admission_refuses() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let grace = ["--heartbeat", "200ms", "--node-grace", "2s"];
    let first = Session::new();
    let mut args = vec!["--store", db.url.as_str(), "--node-name", "first"];
    args.extend(grace);
    let server = Server::start(&first, &args);
    first.write("big.yaml", &big_job("1Gi", true));
    let applied = first.client(&server, &["apply", "-f", "big.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    server.crash();
    let lowered = db
        .client()
        .execute(
            "UPDATE objects SET manifest = jsonb_set(jsonb_set(manifest::jsonb,
               '{spec,suspend}', 'false'),
               '{spec,template,spec,containers,0,resources,limits,memory}', '\"64Mi\"')::text
             WHERE name = 'big'",
            &[],
        )
        .unwrap();
    assert_eq!(lowered, 1);
    // The first node is lost after its grace: the second would take its
    // Job over, and admits it first.
    let second = Session::new();
    let mut args = vec!["--store", db.url.as_str(), "--node-name", "second"];
    args.extend(grace);
    let _server = Server::start(&second, &args);
    let said = eventually(|| second.serve_log().contains("is not run on this node"));
    let log = second.serve_log();
    eprintln!(
        "wasmjob serve (takeover): {}",
        log.lines().find(|l| l.contains("not run on")).unwrap_or("")
    );
    assert!(said, "{log}");
    assert!(
        log.contains(&format!(
            "cluster: job.batch/big is not run on this node: {REFUSAL}"
        )),
        "{log}"
    );
    let mut client = db.client();
    let instances: i64 = client
        .query_one("SELECT count(*) FROM instances", &[])
        .unwrap()
        .get(0);
    assert_eq!(instances, 0, "no instance of it ran");
    let owner: Option<String> = client
        .query_one("SELECT owner_node FROM objects WHERE name = 'big'", &[])
        .unwrap()
        .get(0);
    assert_eq!(owner.as_deref(), Some("first"), "not taken over");
}

/// Whether `condition` holds within 20 s.
fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
