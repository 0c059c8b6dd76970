//! `wasmjob serve` and the kubectl-like client (issue 5): the seed documents'
//! sessions replayed against a real server on a free port.

use wasmjob_tests::{Server, Session, dist, job_yaml, program};

/// The seed's expansion pattern: one Job per item, grouped by a label.
fn item_job(item: &str) -> String {
    job_yaml(
        &format!("process-item-{item}"),
        &program("print-env"),
        &[],
        "",
        "",
    )
    .replacen(
        "metadata:\n",
        "metadata:\n  labels:\n    jobgroup: jobexample\n",
        1,
    )
    .replace(
        "    spec:\n      containers:",
        "    metadata:\n      labels:\n        jobgroup: jobexample\n    spec:\n      containers:",
    )
    .replace(
        "        args: []",
        &format!("        args: []\n        env:\n        - name: ITEM\n          value: {item}"),
    )
}

#[test]
fn the_seeds_expansion_session_works_with_wasmjob_in_place_of_kubectl() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    for item in ["apple", "banana", "cherry"] {
        s.write(&format!("jobs/job-{item}.yaml"), &item_job(item));
    }
    s.write(
        "other.yaml",
        &job_yaml("other", &program("say-hello"), &[], "", ""),
    );

    let created = s.client(&server, &["create", "-f", "./jobs"]);
    assert_eq!(created.code, 0, "{created:?}");
    assert_eq!(
        created.stdout,
        "job.batch/process-item-apple created\njob.batch/process-item-banana created\njob.batch/process-item-cherry created\n"
    );
    assert_eq!(s.client(&server, &["apply", "-f", "other.yaml"]).code, 0);
    for item in ["apple", "banana", "cherry"] {
        s.wait_finished(&server, &format!("process-item-{item}"));
    }
    s.wait_finished(&server, "other");

    let jobs = s.client(&server, &["get", "jobs", "-l", "jobgroup=jobexample"]);
    let lines: Vec<&str> = jobs.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(lines.len(), 4, "{}", jobs.stdout);
    assert!(
        lines[1].starts_with("process-item-apple    Complete   1/1"),
        "{}",
        jobs.stdout
    );

    let pods = s.client(&server, &["get", "pods", "-l", "jobgroup=jobexample"]);
    assert_eq!(pods.stdout.lines().count(), 4, "{}", pods.stdout);
    assert!(
        pods.stdout
            .lines()
            .nth(1)
            .unwrap()
            .contains("0/1     Completed   0"),
        "{}",
        pods.stdout
    );

    let logs = s.client(&server, &["logs", "-l", "jobgroup=jobexample"]);
    for item in ["apple", "banana", "cherry"] {
        let line = logs
            .stdout
            .lines()
            .find(|l| l.ends_with(&format!("env ITEM={item}")))
            .unwrap_or_else(|| panic!("{}", logs.stdout));
        assert!(
            line.starts_with(&format!("[process-item-{item}-")),
            "each line names its instance: {line}"
        );
    }

    let deleted = s.client(&server, &["delete", "job", "-l", "jobgroup=jobexample"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert_eq!(deleted.stdout.lines().count(), 3, "{}", deleted.stdout);
    assert!(
        deleted
            .stdout
            .contains("job.batch \"process-item-banana\" deleted"),
        "{}",
        deleted.stdout
    );
    let left = s.client(&server, &["get", "jobs", "-o", "name"]);
    assert_eq!(
        left.stdout, "job.batch/other\n",
        "exactly the selected Jobs are gone"
    );
    let pods = s.client(&server, &["get", "pods", "-o", "json"]).json();
    let names: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["labels"]["job-name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other"], "and so are their instances");
}

#[test]
fn describe_shows_counts_and_events_as_in_the_seed() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "job.yaml",
        &job_yaml(
            "job-wq-1",
            &program("say-hello"),
            &[],
            "  completions: 3\n  parallelism: 2",
            "",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    s.wait_finished(&server, "job-wq-1");
    let described = s.client(&server, &["describe", "jobs/job-wq-1"]);
    assert_eq!(described.code, 0, "{described:?}");
    let text = described.stdout;
    assert!(text.contains("Name:               job-wq-1"), "{text}");
    assert!(
        text.contains("Instances Statuses: 0 Running / 3 Succeeded / 0 Failed"),
        "{text}"
    );
    assert!(text.contains("SuccessfulCreate"), "{text}");
    assert!(text.contains("Completed"), "{text}");
    // `logs pods/NAME`, as the seed does.
    let pods = s.client(&server, &["get", "pods", "-o", "name"]);
    let first = pods
        .stdout
        .lines()
        .next()
        .unwrap()
        .replace("instance/", "pods/");
    let logs = s.client(&server, &["logs", &first]);
    assert_eq!(logs.stdout, "Hello from wasmjob\n");
}

#[test]
fn apply_twice_is_unchanged_and_json_round_trips() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "pi.yaml",
        &job_yaml("pi", &dist("pi.wasm"), &["10"], "", ""),
    );
    assert_eq!(
        s.client(&server, &["apply", "-f", "pi.yaml"]).stdout,
        "job.batch/pi created\n"
    );
    assert_eq!(
        s.client(&server, &["apply", "-f", "pi.yaml"]).stdout,
        "job.batch/pi unchanged\n"
    );
    let exported = s.client(&server, &["get", "jobs", "pi", "-o", "json"]);
    s.write("exported.json", &exported.stdout);
    let again = s.client(&server, &["apply", "-f", "exported.json"]);
    assert_eq!(again.stdout, "job.batch/pi unchanged\n", "{again:?}");
    // A mutable field changes in place; an immutable one is refused.
    s.write(
        "pi.yaml",
        &job_yaml(
            "pi",
            &dist("pi.wasm"),
            &["10"],
            "  completions: 1\n  parallelism: 3",
            "",
        ),
    );
    assert_eq!(
        s.client(&server, &["apply", "-f", "pi.yaml"]).stdout,
        "job.batch/pi configured\n"
    );
    s.write(
        "pi.yaml",
        &job_yaml(
            "pi",
            &dist("pi.wasm"),
            &["20"],
            "  completions: 1\n  parallelism: 3",
            "",
        ),
    );
    let refused = s.client(&server, &["apply", "-f", "pi.yaml"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .contains("pi.yaml: document 1: spec.template: field is immutable"),
        "{}",
        refused.stderr
    );
    let exists = s.client(&server, &["create", "-f", "exported.json"]);
    assert_eq!(exists.code, 1);
    assert!(
        exists.stderr.contains("already exists"),
        "{}",
        exists.stderr
    );
}

#[test]
fn requests_without_the_token_are_refused_with_401() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let token = std::fs::read_to_string(s.state.path().join("token")).unwrap();
    assert_eq!(token.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.state.path().join("token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let ran = std::process::Command::new(wasmjob_tests::binary())
        .args(["get", "jobs"])
        .env("WASMJOB_SERVER", &server.address)
        .env("WASMJOB_TOKEN", "not-the-token")
        .env("WASMJOB_HOME", s.work.path())
        .env("WASMJOB_CA", s.state.path().join("tls/ca.crt"))
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ran.stderr).contains("missing or wrong bearer token"));
    // Without the node's CA, the client says where to find it.
    let untrusting = std::process::Command::new(wasmjob_tests::binary())
        .args(["get", "jobs"])
        .env("WASMJOB_SERVER", &server.address)
        .env("WASMJOB_HOME", s.work.path())
        .output()
        .unwrap();
    assert_eq!(untrusting.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&untrusting.stderr);
    assert!(
        stderr.contains("<state dir>/tls/ca.crt or the file WASMJOB_CA names"),
        "{stderr}"
    );
}

#[test]
fn bad_input_to_a_running_server_exits_2_and_changes_nothing() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "good.yaml",
        &job_yaml("good", &program("say-hello"), &[], "", ""),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "good.yaml"]).code, 0);
    s.wait_finished(&server, "good");
    let before = s.store_counts();
    let bad_manifest = job_yaml("bad", &program("say-hello"), &[], "  parallelism: -1", "");
    let bad_module = job_yaml(
        "broken",
        &wasmjob_tests::fixture("unknown-import.wat"),
        &[],
        "",
        "",
    );
    for (yaml, expected) in [
        (
            bad_manifest,
            "job.yaml: document 1: spec.parallelism: must be >= 0, got -1",
        ),
        (
            bad_module,
            "job.yaml: document 1: spec.template.spec.containers[0].image",
        ),
    ] {
        s.write("job.yaml", &yaml);
        let ran = s.client(&server, &["apply", "-f", "job.yaml"]);
        assert_eq!(ran.code, 2, "{ran:?}");
        assert!(ran.stderr.contains(expected), "{}", ran.stderr);
        assert_eq!(s.store_counts(), before, "the store changed");
    }
}

#[test]
fn a_server_that_is_not_running_is_one_line_and_exit_1() {
    let s = Session::new();
    let ran = std::process::Command::new(wasmjob_tests::binary())
        .args(["get", "jobs"])
        .env("WASMJOB_SERVER", "127.0.0.1:9")
        .env("WASMJOB_HOME", s.state.path())
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the wasmjob server at https://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("wasmjob serve"), "{stderr}");
}

#[test]
fn sigterm_during_a_job_and_a_restart_finish_it_with_the_right_counts() {
    let s = Session::new();
    let server = Server::start(&s, &["--shutdown-grace", "0s"]);
    s.write(
        "job.yaml",
        &job_yaml(
            "long",
            &program("sleep-ms"),
            &["30"],
            "  completions: 60\n  parallelism: 2",
            "",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(server.terminate(), 0, "SIGTERM exits 0");
    let server = Server::start(&s, &[]);
    let job = s.wait_finished(&server, "long");
    assert_eq!(job["status"]["succeeded"], 60);
    let pods = s.client(&server, &["get", "pods", "-o", "json"]).json();
    let succeeded = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"]["phase"] == "Succeeded")
        .count();
    assert_eq!(succeeded, 60, "no success lost or doubled");
    assert!(
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"]["phase"] != "Running")
    );
}

/// A SIGTERM sent the moment the port answers — as a supervisor's stop
/// right after a start — drains the node like any other: exit 0, not the
/// signal's default death before the node caught it.
#[test]
fn sigterm_as_soon_as_the_port_answers_is_a_drain() {
    let s = Session::new();
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut child = std::process::Command::new(wasmjob_tests::binary())
            .args(["serve", "--listen", &address])
            .env("WASMJOB_HOME", s.state.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "serve exited early");
            assert!(std::time::Instant::now() < deadline, "serve did not listen");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{:?}: {stderr}", out.status);
        assert!(stderr.contains("wasmjob serve: stopped"), "{stderr}");
    }
}

/// The seed's advanced template, with only the image changed.
fn seed_template(image: &std::path::Path) -> String {
    format!(
        r#"{{% set params = [{{ "name": "apple", "url": "http://dbpedia.org/resource/Apple", }},
                  {{ "name": "banana", "url": "http://dbpedia.org/resource/Banana", }},
                  {{ "name": "cherry", "url": "http://dbpedia.org/resource/Cherry" }}]
%}}
{{% for p in params %}}
{{% set name = p["name"] %}}
{{% set url = p["url"] %}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: jobexample-{{{{ name }}}}
  labels:
    jobgroup: jobexample
spec:
  template:
    metadata:
      name: jobexample
      labels:
        jobgroup: jobexample
    spec:
      containers:
      - name: c
        image: {image}
        command: ["c", "Processing URL {{{{ url }}}}"]
      restartPolicy: Never
{{% endfor %}}
"#,
        image = image.display()
    )
}

#[test]
fn the_seeds_jinja2_template_applies_directly() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("job.yaml.jinja2", &seed_template(&program("print-env")));
    let ran = s.client(&server, &["apply", "-f", "job.yaml.jinja2"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.stdout,
        "job.batch/jobexample-apple created\njob.batch/jobexample-banana created\njob.batch/jobexample-cherry created\n"
    );
    s.wait_finished(&server, "jobexample-cherry");
    let logs = s.client(&server, &["logs", "job/jobexample-banana"]);
    assert!(
        logs.stdout
            .contains("arg Processing URL http://dbpedia.org/resource/Banana"),
        "{}",
        logs.stdout
    );
    // A template error names the template line.
    s.write(
        "broken.j2",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ missing }}\n",
    );
    let broken = s.client(&server, &["apply", "-f", "broken.j2"]);
    assert_eq!(broken.code, 2);
    assert!(
        broken
            .stderr
            .contains("broken.j2: template line 4: undefined value"),
        "{}",
        broken.stderr
    );
    let set = s.client(&server, &["apply", "-f", "broken.j2", "--set", "missing=x"]);
    assert!(
        set.stderr
            .contains("spec.template.spec.containers: is required"),
        "rendered, then validated: {}",
        set.stderr
    );
}

#[test]
fn expand_creates_one_job_per_value_without_sed() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let template = job_yaml(
        "process-item-$ITEM",
        &program("print-env"),
        &["Processing item $ITEM"],
        "",
        "",
    );
    s.write("job-tmpl.yaml", &template);
    let ran = s.client(
        &server,
        &[
            "apply",
            "-f",
            "job-tmpl.yaml",
            "--expand",
            "ITEM=apple,banana,cherry",
        ],
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.lines().count(), 3, "{}", ran.stdout);
    s.wait_finished(&server, "process-item-cherry");
    let logs = s.client(&server, &["logs", "job/process-item-cherry"]);
    assert!(
        logs.stdout.contains("arg Processing item cherry"),
        "{}",
        logs.stdout
    );
}

#[test]
fn watch_prints_the_transitions_of_a_running_job() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let mut watcher = std::process::Command::new(wasmjob_tests::binary())
        .args(["get", "jobs", "--watch"])
        .env("WASMJOB_HOME", s.state.path())
        .env("WASMJOB_SERVER", &server.address)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.write(
        "job.yaml",
        &job_yaml("watched", &program("sleep-ms"), &["600"], "", ""),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    s.wait_finished(&server, "watched");
    std::thread::sleep(std::time::Duration::from_millis(500));
    watcher.kill().unwrap();
    let output = watcher.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("watched")).collect();
    assert!(rows.iter().any(|r| r.contains("Running")), "{text}");
    assert!(
        rows.last()
            .is_some_and(|r| r.contains("Complete") && r.contains("1/1")),
        "{text}"
    );
}

#[test]
fn logs_follow_prints_every_instance_until_the_jobs_finish() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "job.yaml",
        &job_yaml(
            "followed",
            &program("sleep-ms"),
            &["200"],
            "  completions: 3",
            "",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    let followed = s.client(&server, &["logs", "-f", "job/followed"]);
    assert_eq!(followed.code, 0, "{followed:?}");
    let lines: Vec<&str> = followed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", followed.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("[followed-") && l.ends_with("slept 200 ms")),
        "{lines:?}"
    );
}

mod surface;
