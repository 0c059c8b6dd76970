//! The example plugins and the host interfaces they use (issue 8): every
//! plugin runs through the binary with its example manifest; checkpoints
//! make a retry resume; structured log fields are queryable with `logs`; a
//! component importing what the host lacks is refused at apply.

use wasmjob_tests::{Server, Session, dist, fixture, items, repo};

#[test]
fn the_resumable_plugin_resumes_from_its_checkpoint_after_failing_on_purpose() {
    let s = Session::new();
    let manifest = repo().join("examples/resumable-job.yaml");
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let job = items(&ran.json(), "Job")[0].clone();
    assert_eq!(
        (
            job["status"]["failed"].as_u64(),
            job["status"]["succeeded"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let logs = s.logs("resumable");
    assert_eq!(logs.len(), 2, "{logs:?}");
    let (first, second) = (&logs[0].2, &logs[1].2);
    assert!(
        first.starts_with("attempt 0: starting at 1\ncount 1\n"),
        "{first}"
    );
    assert!(
        first.contains("count 5\nlevel=error msg=\"failing on purpose\" at=5\n"),
        "{first}"
    );
    assert!(
        second.starts_with("attempt 1: resuming after 5 from the checkpoint\ncount 6\n"),
        "{second}"
    );
    assert!(
        !second.contains("count 1\n"),
        "the retry did not start over: {second}"
    );
    assert!(second.contains("count 10\n"), "{second}");
}

#[test]
fn node_monitor_logs_heartbeats_with_its_node_and_what_the_host_directory_holds() {
    let s = Session::new();
    let host = s.work.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("status"), "disk ok\nsecond line\n").unwrap();
    std::fs::write(host.join("other"), "").unwrap();
    let manifest = s.write(
        "monitor.yaml",
        &format!(
            "apiVersion: batch/v1
kind: Job
metadata:
  name: monitor
spec:
  template:
    spec:
      containers:
      - name: m
        image: {image}
        args: [--dir, /host, --interval, \"1\", --beats, \"2\"]
        volumeMounts:
        - name: host
          mountPath: /host
          readOnly: true
      volumes:
      - name: host
        hostPath:
          path: {host}
      restartPolicy: Never
",
            image = dist("node-monitor.wasm").display(),
            host = host.display()
        ),
    );
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let log = &s.logs("monitor")[0].2;
    assert_eq!(log.lines().count(), 2, "{log}");
    for (beat, line) in log.lines().enumerate() {
        assert!(line.starts_with("level=info msg=heartbeat node="), "{line}");
        assert!(
            line.contains(&format!(
                " beat={} dir=/host entries=2 status=\"disk ok\"",
                beat + 1
            )),
            "{line}"
        );
    }
}

#[test]
fn the_node_monitor_example_job_logs_two_heartbeats() {
    let s = Session::new();
    let manifest = repo().join("examples/node-monitor-job.yaml");
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let log = &s.logs("node-monitor")[0].2;
    let beats: Vec<&str> = log.lines().collect();
    assert_eq!(beats.len(), 2, "{log}");
    assert!(
        beats[1].contains(" beat=2 dir=/host entries=2 status=-"),
        "{log}"
    );
}

#[test]
fn the_daemonset_example_runs_a_monitor_on_a_labelled_node() {
    let s = Session::new();
    let manifest = repo().join("examples/node-monitor-daemonset.yaml");
    // `run` is for Jobs; the message says where DaemonSets go.
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("need a long-running node"),
        "{}",
        ran.stderr
    );
    let server = Server::start(&s, &["--node-name", "edge", "--labels", "disk=ssd"]);
    let applied = s.client(&server, &["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied
            .stdout
            .contains("daemonset.apps/node-monitor created"),
        "{applied:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let table = s.client(&server, &["get", "instances", "-o", "wide"]);
        if table.stdout.contains("Running") {
            assert!(table.stdout.contains("edge"), "{table:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{table:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let table = s.client(&server, &["get", "daemonsets"]);
    let row: Vec<&str> = table
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..7],
        ["node-monitor", "1", "1", "1", "1", "1", "disk=ssd"],
        "{table:?}"
    );
}

#[test]
fn convert_turns_the_csv_files_of_one_volume_into_json_lines_in_another() {
    let s = Session::new();
    let manifest = repo().join("examples/convert-job.yaml");
    let out = repo().join("examples/data/converted");
    let _ = std::fs::remove_dir_all(&out);
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout
            .contains("converted fruit.csv -> fruit.jsonl (3 rows)"),
        "{}",
        ran.stdout
    );
    let converted = std::fs::read_to_string(out.join("fruit.jsonl")).unwrap();
    assert_eq!(
        converted.lines().next(),
        Some(r#"{"name":"apple","color":"red","price":"0.50"}"#)
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn structured_log_fields_are_queryable_through_logs() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let manifest = repo().join("examples/resumable-job.yaml");
    let applied = s.client(&server, &["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    s.wait_finished(&server, "resumable");

    let errors = s.client(
        &server,
        &[
            "logs",
            "job/resumable",
            "--all-attempts",
            "--level",
            "error",
        ],
    );
    assert_eq!(errors.code, 0, "{errors:?}");
    let lines: Vec<&str> = errors.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", errors.stdout);
    assert!(
        lines[0].ends_with("level=error msg=\"failing on purpose\" at=5"),
        "{}",
        lines[0]
    );

    let done = s.client(&server, &["logs", "job/resumable", "--field", "counted=10"]);
    assert_eq!(done.stdout, "level=info msg=done counted=10\n", "{done:?}");
    let none = s.client(&server, &["logs", "job/resumable", "--field", "counted=3"]);
    assert_eq!(none.stdout, "", "{none:?}");
    let bad = s.client(&server, &["logs", "job/resumable", "--level", "loud"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("unknown log level \"loud\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_component_importing_an_interface_the_host_lacks_is_refused_at_apply() {
    let s = Session::new();
    let manifest = s.write(
        "unknown.yaml",
        &wasmjob_tests::job_yaml("billing", &fixture("unknown-interface.wat"), &[], "", ""),
    );
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("acme:billing/charge@1.0.0"),
        "{}",
        ran.stderr
    );
    assert_eq!(s.store_counts(), (0, 0));
}

#[test]
fn the_hello_cronjob_example_runs_its_template_on_demand() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let manifest = repo().join("examples/hello-cronjob.yaml");
    let applied = s.client(&server, &["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(
        applied.stdout, "cronjob.batch/hello created\n",
        "{applied:?}"
    );
    let created = s.client(
        &server,
        &["create", "job", "hello-now", "--from=cronjob/hello"],
    );
    assert_eq!(created.code, 0, "{created:?}");
    s.wait_finished(&server, "hello-now");
    let logs = s.client(&server, &["logs", "job/hello-now"]);
    let lines: Vec<&str> = logs.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{logs:?}");
    assert!(lines[0].contains(" UTC "), "a date first: {logs:?}");
    assert_eq!(lines[1], "Hello from wasmjob");
}
