//! Watches pushed by the store: nothing is read while nothing is
//! committed, and a Job's transitions arrive as they are committed.

use std::time::Duration;

use wasmjob_tests::{Server, Session, job_yaml, program};

use super::{http_get, sample, stream_lines, token};

fn watch_reads(s: &Session, server: &Server) -> f64 {
    let (_, page) = http_get(&server.address, "/metrics", Some(&token(s)));
    sample(&page, "wasmjob_watch_reads_total").expect("the watch reads counter")
}

#[test]
fn a_watch_reads_nothing_while_nothing_changes_and_sees_a_jobs_transitions() {
    let s = Session::new();
    let server = Server::start(&s, &["--plain-http"]);
    let events = stream_lines(
        &server.address,
        "/apis/batch/v1/namespaces/default/jobs?watch=true",
        &token(&s),
    );
    // Idle: the watch waits for a commit; it does not look on a timer.
    std::thread::sleep(Duration::from_millis(500));
    let before = watch_reads(&s, &server);
    std::thread::sleep(Duration::from_secs(2));
    let idle = watch_reads(&s, &server);
    assert_eq!(
        idle, before,
        "the watch read the store while nothing changed"
    );

    s.write(
        "job.yaml",
        &job_yaml("watched", &program("sleep-ms"), &["300"], "", ""),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Ok((_, line)) = events.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(&line).expect(&line);
        let complete = event["object"]["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Complete"));
        let active = event["object"]["status"]["active"].as_u64().unwrap_or(0);
        seen.push((
            event["type"].as_str().unwrap_or("").to_owned(),
            active,
            complete,
        ));
        if complete {
            break;
        }
    }
    assert_eq!(
        seen.first().map(|e| e.0.as_str()),
        Some("ADDED"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| e.1 == 1),
        "never seen running: {seen:?}"
    );
    assert!(
        seen.last().is_some_and(|e| e.2),
        "never seen complete: {seen:?}"
    );
    // A handful of reads for a handful of commits.
    let after = watch_reads(&s, &server);
    assert!(after > idle && after - idle < 40.0, "{idle} then {after}");
}
