//! One-off runs at a time (issue 35): a Job's `spec.startAfter` holds its
//! first instance until then, across a node restart, and an update moves
//! a time not reached yet, as `at` would.

use wasmjob_tests::{Server, Session, dist};

/// A Job of hello.wasm named `name` that starts after `at`.
fn later(name: &str, at: jiff::Timestamp) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  startAfter: \"{at}\"\n  \
         template:\n    spec:\n      containers:\n      - name: main\n        image: {}\n      \
         restartPolicy: Never\n",
        dist("hello.wasm").display()
    )
}

#[test]
fn a_job_with_start_after_waits_for_its_time_across_a_restart() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
    let at = at.round(jiff::Unit::Second).unwrap();
    s.write("later.yaml", &later("later", at));
    assert_eq!(s.client(&server, &["apply", "-f", "later.yaml"]).code, 0);
    let listed = s.client(&server, &["get", "jobs"]);
    assert!(
        listed
            .stdout
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("later   Scheduled   0/1"),
        "{}",
        listed.stdout
    );
    // The node goes away and comes back before the time: it still waits.
    server.crash();
    let server = Server::start(&s, &[]);
    let waited = s.client(
        &server,
        &[
            "wait",
            "--for=condition=complete",
            "job/later",
            "--timeout=30s",
        ],
    );
    assert_eq!(waited.code, 0, "{waited:?}");
    let pods = s.client(
        &server,
        &["get", "pods", "-l", "job-name=later", "-o", "json"],
    );
    let items = pods.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let started: jiff::Timestamp = items[0]["status"]["startTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(started >= at, "started {started}, before {at}");
}

#[test]
fn an_update_moves_a_start_time_not_reached_yet() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let far = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    s.write(
        "moved.yaml",
        &later("moved", far.round(jiff::Unit::Second).unwrap()),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "moved.yaml"]).code, 0);
    let soon = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
    s.write("moved.yaml", &later("moved", soon));
    let applied = s.client(&server, &["apply", "-f", "moved.yaml"]);
    assert_eq!(
        applied.stdout, "job.batch/moved configured\n",
        "{applied:?}"
    );
    let done = s.wait_finished(&server, "moved");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
}
