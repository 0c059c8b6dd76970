//! The Kubernetes API (issue 31): real `kubectl` (and the Python
//! `kubernetes` client) against a real `wasmjob serve`, over TLS, with
//! nothing but the kubeconfig the node writes.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wasmjob_tests::{Ran, Server, Session, program, tool};

fn kubectl() -> Option<PathBuf> {
    tool("kubectl", "WASMJOB_KUBECTL")
}

fn ok(ran: Ran) -> Ran {
    assert_eq!(ran.code, 0, "{ran:?}");
    ran
}

/// The seed's CronJob, its image a test program, every two seconds.
fn hello_cronjob() -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: \"*/2 * * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: {}
          restartPolicy: OnFailure
",
        program("say-hello").display()
    )
}

fn job(name: &str, image: &Path, labels: &str, args: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {{{labels}}}
    spec:
      containers:
      - name: main
        image: {image}
        args: [{args}]
      restartPolicy: Never
",
        image = image.display()
    )
}

/// Lines of `kubectl get … --watch` until `until` says enough (or 30 s).
fn watch_until(
    s: &Session,
    kubectl: &Path,
    args: &[&str],
    until: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut child = Command::new(kubectl)
        .args(args)
        .env("KUBECONFIG", s.state.path().join("kubeconfig"))
        .env("HOME", s.work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut lines = Vec::new();
    while !until(&lines) && std::time::Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn kubectl_replays_the_seeds_cronjob_session() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    s.write("cronjob.yaml", &hello_cronjob());

    let created = ok(s.kubectl(&k, &["create", "-f", "cronjob.yaml"]));
    assert_eq!(created.stdout, "cronjob.batch/hello created\n");
    let cron = ok(s.kubectl(&k, &["get", "cronjob", "hello"]));
    let header: Vec<&str> = cron
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ]
    );
    assert!(
        cron.stdout.lines().nth(1).unwrap().starts_with("hello"),
        "{}",
        cron.stdout
    );

    // `get jobs --watch` prints the header, then each Job as it comes.
    let watched = watch_until(&s, &k, &["get", "jobs", "--watch"], |lines| {
        lines
            .iter()
            .any(|l| l.starts_with("hello-") && l.contains("Complete"))
    });
    assert!(watched[0].starts_with("NAME"), "{watched:?}");
    let done = watched
        .iter()
        .find(|l| l.starts_with("hello-") && l.contains("Complete"))
        .unwrap_or_else(|| panic!("no completed Job in {watched:?}"));
    let job = done.split_whitespace().next().unwrap();

    let selector = format!("--selector=job-name={job}");
    let pods = ok(s.kubectl(
        &k,
        &[
            "get",
            "pods",
            &selector,
            "--output=jsonpath={.items[*].metadata.name}",
        ],
    ));
    assert!(pods.stdout.starts_with(&format!("{job}-")), "{pods:?}");
    let logs = ok(s.kubectl(&k, &["logs", pods.stdout.trim()]));
    assert_eq!(logs.stdout, "Hello from wasmjob\n");

    let deleted = ok(s.kubectl(&k, &["delete", "cronjob", "hello"]));
    assert_eq!(deleted.stdout, "cronjob.batch \"hello\" deleted\n");
    let gone = s.kubectl(&k, &["get", "cronjob", "hello"]);
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.stderr.trim(),
        "Error from server (NotFound): cronjobs.batch \"hello\" not found"
    );
}

#[test]
fn kubectl_replays_the_seeds_expansion_session() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    for item in ["apple", "banana", "cherry"] {
        let yaml = job(
            &format!("process-item-{item}"),
            &program("print-env"),
            "jobgroup: jobexample",
            "",
        )
        .replace(
            "        args: []",
            &format!(
                "        args: []\n        env:\n        - name: ITEM\n          value: {item}"
            ),
        );
        s.write(&format!("jobs/job-{item}.yaml"), &yaml);
    }
    let created = ok(s.kubectl(&k, &["create", "-f", "./jobs"]));
    assert_eq!(
        created.stdout,
        "job.batch/process-item-apple created\njob.batch/process-item-banana created\njob.batch/process-item-cherry created\n"
    );
    for item in ["apple", "banana", "cherry"] {
        s.wait_finished(&server, &format!("process-item-{item}"));
    }
    let jobs = ok(s.kubectl(&k, &["get", "jobs", "-l", "jobgroup=jobexample"]));
    assert_eq!(jobs.stdout.lines().count(), 4, "{}", jobs.stdout);
    assert!(
        jobs.stdout.contains("process-item-banana   Complete   1/1"),
        "{}",
        jobs.stdout
    );

    let names = ok(s.kubectl(
        &k,
        &[
            "get",
            "pods",
            "-l",
            "jobgroup=jobexample",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ],
    ));
    let pods: Vec<&str> = names.stdout.lines().collect();
    assert_eq!(pods.len(), 3, "{names:?}");
    let mut seen = Vec::new();
    for pod in &pods {
        let log = ok(s.kubectl(&k, &["logs", pod]));
        let item = log
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("env ITEM="))
            .unwrap_or_else(|| panic!("no ITEM in {log:?}"))
            .to_owned();
        seen.push(item);
    }
    seen.sort();
    assert_eq!(seen, ["apple", "banana", "cherry"]);

    let deleted = ok(s.kubectl(&k, &["delete", "job", "-l", "jobgroup=jobexample"]));
    assert_eq!(deleted.stdout.lines().count(), 3, "{deleted:?}");
    let none = ok(s.kubectl(&k, &["get", "jobs"]));
    assert_eq!(
        none.stderr.trim(),
        "No resources found in default namespace."
    );
}

#[test]
fn kubectl_applies_waits_describes_patches_and_selects() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    s.write(
        "fails.yaml",
        &job("fails", &program("exit-code"), "app: fails", "\"3\""),
    );

    assert_eq!(
        ok(s.kubectl(&k, &["apply", "-f", "pi.yaml"])).stdout,
        "job.batch/pi created\n"
    );
    let again = ok(s.kubectl(&k, &["apply", "-f", "pi.yaml"]));
    assert!(
        again.stdout == "job.batch/pi unchanged\n" || again.stdout == "job.batch/pi configured\n",
        "{again:?}"
    );
    let waited = ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/pi",
            "--timeout=60s",
        ],
    ));
    assert_eq!(waited.stdout, "job.batch/pi condition met\n");
    let described = ok(s.kubectl(&k, &["describe", "job", "pi"]));
    for expected in [
        "Name:             pi",
        "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed",
        "Completed",
    ] {
        assert!(
            described.stdout.contains(expected),
            "{expected:?} in {}",
            described.stdout
        );
    }

    ok(s.kubectl(&k, &["apply", "-f", "fails.yaml"]));
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=failed",
            "job/fails",
            "--timeout=60s",
        ],
    ));
    let failed = ok(s.kubectl(
        &k,
        &[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Failed",
            "-o",
            "name",
        ],
    ));
    assert_eq!(failed.stdout.lines().count(), 1, "{failed:?}");
    assert!(failed.stdout.starts_with("pod/fails-"), "{failed:?}");
    let exit = ok(s.kubectl(
        &k,
        &[
            "get",
            "pods",
            "-l",
            "job-name=fails",
            "-o",
            "jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}",
        ],
    ));
    assert_eq!(exit.stdout, "3");

    let columns = ok(s.kubectl(
        &k,
        &[
            "get",
            "jobs",
            "--sort-by=.metadata.name",
            "-o",
            "custom-columns=NAME:.metadata.name,SUCCEEDED:.status.succeeded",
        ],
    ));
    let rows: Vec<Vec<&str>> = columns
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "SUCCEEDED"],
            vec!["fails", "0"],
            vec!["pi", "1"]
        ],
        "{columns:?}"
    );
    let labels = ok(s.kubectl(
        &k,
        &["get", "jobs", "--show-labels", "--sort-by=.metadata.name"],
    ));
    assert!(
        labels.stdout.lines().nth(2).unwrap().ends_with("app=pi"),
        "{labels:?}"
    );

    s.write("cronjob.yaml", &hello_cronjob());
    ok(s.kubectl(&k, &["create", "-f", "cronjob.yaml"]));
    let patched = ok(s.kubectl(
        &k,
        &[
            "patch",
            "cronjob",
            "hello",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ],
    ));
    assert_eq!(patched.stdout, "cronjob.batch/hello patched\n");
    let suspend = ok(s.kubectl(
        &k,
        &["get", "cronjob", "hello", "-o", "jsonpath={.spec.suspend}"],
    ));
    assert_eq!(suspend.stdout, "true");
    for (kind, patch) in [
        (
            "json",
            r#"[{"op":"replace","path":"/spec/suspend","value":false}]"#,
        ),
        ("merge", r#"{"spec":{"suspend":true}}"#),
    ] {
        ok(s.kubectl(
            &k,
            &["patch", "cronjob", "hello", "--type", kind, "-p", patch],
        ));
    }
    let suspend = ok(s.kubectl(
        &k,
        &["get", "cronjob", "hello", "-o", "jsonpath={.spec.suspend}"],
    ));
    assert_eq!(suspend.stdout, "true");

    // kubectl's typed commands send protobuf.
    let now = ok(s.kubectl(&k, &["create", "job", "now", "--from=cronjob/hello"]));
    assert_eq!(now.stdout, "job.batch/now created\n");
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/now",
            "--timeout=60s",
        ],
    ));
    let manual = ok(s.kubectl(
        &k,
        &[
            "get",
            "job",
            "now",
            "-o",
            "jsonpath={.metadata.annotations}",
        ],
    ));
    assert_eq!(
        manual.stdout,
        r#"{"cronjob.kubernetes.io/instantiate":"manual"}"#
    );
    let image = format!("--image={}", program("say-hello").display());
    ok(s.kubectl(&k, &["create", "job", "direct", &image]));
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/direct",
            "--timeout=60s",
        ],
    ));
    ok(s.kubectl(&k, &["create", "configmap", "cfg", "--from-literal=a=b"]));
    let data = ok(s.kubectl(&k, &["get", "cm", "cfg", "-o", "jsonpath={.data.a}"]));
    assert_eq!(data.stdout, "b");
    ok(s.kubectl(
        &k,
        &[
            "create",
            "secret",
            "generic",
            "sec",
            "--from-literal=pw=hunter2",
        ],
    ));
    let pw = ok(s.kubectl(&k, &["get", "secret", "sec", "-o", "jsonpath={.data.pw}"]));
    assert_eq!(pw.stdout, "aHVudGVyMg==");

    let deleted = ok(s.kubectl(&k, &["delete", "job", "-l", "app=pi"]));
    assert_eq!(deleted.stdout, "job.batch \"pi\" deleted\n");
}

#[test]
fn kubectl_rolls_out_and_restarts_a_daemonset_and_watches_its_pods() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    s.write(
        "ds.yaml",
        &format!(
            "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: mon
spec:
  selector:
    matchLabels:
      app: mon
  template:
    metadata:
      labels:
        app: mon
    spec:
      containers:
      - name: mon
        image: {}
        args: [\"600000\"]
",
            program("sleep-ms").display()
        ),
    );
    ok(s.kubectl(&k, &["apply", "-f", "ds.yaml"]));
    let status = ok(s.kubectl(&k, &["rollout", "status", "ds/mon", "--timeout=60s"]));
    assert_eq!(
        status.stdout,
        "daemon set \"mon\" successfully rolled out\n"
    );
    let name = || {
        ok(s.kubectl(
            &k,
            &[
                "get",
                "pods",
                "-l",
                "app=mon",
                "--field-selector",
                "status.phase=Running",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
        ))
        .stdout
    };
    let before = name();
    assert!(before.starts_with("mon-"), "{before:?}");

    let restarted = ok(s.kubectl(&k, &["rollout", "restart", "ds/mon"]));
    assert_eq!(restarted.stdout, "daemonset.apps/mon restarted\n");
    ok(s.kubectl(&k, &["rollout", "status", "ds/mon", "--timeout=60s"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while name() == before || name().contains(' ') {
        assert!(
            std::time::Instant::now() < deadline,
            "the restart made no new instance"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let after = name();
    let template = ok(s.kubectl(
        &k,
        &[
            "get",
            "ds",
            "mon",
            "-o",
            "jsonpath={.spec.template.metadata.annotations}",
        ],
    ));
    assert!(
        template
            .stdout
            .contains("kubectl.kubernetes.io/restartedAt"),
        "{template:?}"
    );

    let watched = watch_until(&s, &k, &["get", "pods", "-w", "-l", "app=mon"], |lines| {
        lines
            .iter()
            .any(|l| l.starts_with(&after) && l.contains("Running"))
    });
    assert!(watched[0].starts_with("NAME"), "{watched:?}");
    assert!(watched.iter().any(|l| l.starts_with(&after)), "{watched:?}");
}

#[test]
fn refusals_are_kubernetes_status_errors() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    let missing = s.kubectl(&k, &["get", "job", "nope"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): jobs.batch \"nope\" not found"
    );

    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    ok(s.kubectl(&k, &["create", "-f", "pi.yaml"]));
    let twice = s.kubectl(&k, &["create", "-f", "pi.yaml"]);
    assert_eq!(twice.code, 1);
    assert!(
        twice.stderr.contains("Error from server (AlreadyExists)")
            && twice.stderr.contains("\"pi\" already exists"),
        "{twice:?}"
    );

    // A write made from an older read is refused: 409 Conflict.
    let old = ok(s.kubectl(&k, &["get", "job", "pi", "-o", "json"]));
    s.write("old.json", &old.stdout);
    ok(s.kubectl(&k, &["label", "job", "pi", "tier=gold"]));
    let stale = s.kubectl(&k, &["replace", "-f", "old.json"]);
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("Error from server (Conflict)")
            && stale.stderr.contains("the object has been modified"),
        "{stale:?}"
    );

    // A bad manifest names the field, as wasmjob apply does.
    s.write(
        "bad.yaml",
        &job("bad", &program("say-hello"), "app: bad", "")
            .replace("backoffLimit: 0", "backoffLimit: -1"),
    );
    let bad = s.kubectl(&k, &["create", "-f", "bad.yaml"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .starts_with("The Job \"bad\" is invalid: spec.backoffLimit: "),
        "{bad:?}"
    );

    // A verb the resource does not take.
    let pod = ok(s.kubectl(&k, &["get", "pods", "-o", "name"]));
    let refused = s.kubectl(&k, &["delete", pod.stdout.trim()]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("MethodNotAllowed")
            || refused.stderr.contains("cannot be deleted by itself"),
        "{refused:?}"
    );
}

#[test]
fn namespaces_hold_objects_and_deleting_one_deletes_them() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    ok(s.kubectl(&k, &["create", "-f", "pi.yaml", "-n", "team-a"]));
    ok(s.kubectl(&k, &["create", "-f", "pi.yaml"]));
    let all = ok(s.kubectl(
        &k,
        &[
            "get",
            "jobs",
            "-A",
            "-o",
            "custom-columns=NS:.metadata.namespace,NAME:.metadata.name",
            "--no-headers",
        ],
    ));
    let rows: Vec<Vec<&str>> = all
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, [vec!["default", "pi"], vec!["team-a", "pi"]]);
    let namespaces = ok(s.kubectl(&k, &["get", "ns", "-o", "name"]));
    assert_eq!(namespaces.stdout, "namespace/default\nnamespace/team-a\n");

    ok(s.kubectl(&k, &["delete", "namespace", "team-a", "--wait=false"]));
    let left = ok(s.kubectl(&k, &["get", "jobs", "-A", "-o", "name"]));
    assert_eq!(left.stdout, "job.batch/pi\n");
}

#[test]
fn the_node_serves_tls_its_kubeconfig_is_private_and_the_cli_follows() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let kubeconfig = s.state.path().join("kubeconfig");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.contains(&format!("server: \"https://{}\"", server.address)),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data: "), "{text}");
    let version = ok(s.kubectl(&k, &["version", "-o", "json"]));
    assert_eq!(version.json()["serverVersion"]["major"], "1");

    // Plain HTTP to a TLS listener is refused; so is a client that does
    // not trust the node's CA.
    let plain = s.kubectl(
        &k,
        &[
            "--server",
            &format!("http://{}", server.address),
            "get",
            "jobs",
        ],
    );
    assert_ne!(plain.code, 0);
    let untrusting = Command::new(&k)
        .args([
            "--server",
            &format!("https://{}", server.address),
            "--token",
            "x",
            "get",
            "jobs",
        ])
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", s.work.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&untrusting.stderr).contains("certificate"),
        "{untrusting:?}"
    );

    // wasmjob's own CLI reaches the same node over TLS.
    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    assert_eq!(s.client(&server, &["apply", "-f", "pi.yaml"]).code, 0);
    s.wait_finished(&server, "pi");
    let jobs = ok(s.kubectl(&k, &["get", "jobs", "-o", "name"]));
    assert_eq!(jobs.stdout, "job.batch/pi\n");
}

#[test]
fn the_python_kubernetes_client_lists_creates_watches_reads_logs_and_deletes() {
    let Some(python) = tool("python3", "WASMJOB_PYTHON") else {
        return;
    };
    let has_client = Command::new(&python)
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_client {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the Python kubernetes client is not installed for {python:?}, and CI=true \
                 requires it (./dev test installs it and sets WASMJOB_PYTHON)"
            );
        }
        eprintln!("skipped: the Python kubernetes client is not installed for {python:?}");
        return;
    }
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    let script = wasmjob_tests::repo().join("tests/python/client.py");
    let kubeconfig = s.state.path().join("kubeconfig");
    let ran = Command::new(&python)
        .arg(script)
        .arg(&kubeconfig)
        .arg(program("say-hello"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let steps: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        ["list", "create", "watch", "log", "missing", "delete"],
        "{stdout}"
    );
    assert!(stdout.contains("ok log Hello from wasmjob"), "{stdout}");
}

#[test]
fn wasmjob_replays_the_seeds_cronjob_session_and_kubectls_scripting_verbs() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let run = |args: &[&str]| {
        let ran = s.client(&server, args);
        assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
        ran.stdout
    };
    s.write("cronjob.yaml", &hello_cronjob());
    run(&["create", "-f", "cronjob.yaml"]);
    assert_eq!(
        run(&[
            "patch",
            "cronjob",
            "hello",
            "-p",
            r#"{"spec":{"suspend":true}}"#
        ]),
        "cronjob.batch/hello patched\n"
    );
    assert_eq!(
        run(&["get", "cj", "hello", "-o", "jsonpath={.spec.suspend}"]),
        "true"
    );

    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    s.write(
        "fails.yaml",
        &job("fails", &program("exit-code"), "app: fails", "\"3\""),
    );
    run(&["apply", "-f", "pi.yaml"]);
    run(&["apply", "-f", "fails.yaml"]);
    assert_eq!(
        run(&[
            "wait",
            "--for=condition=complete",
            "job/pi",
            "--timeout=60s"
        ]),
        "job.batch/pi condition met\n"
    );
    run(&[
        "wait",
        "--for=condition=Failed",
        "job/fails",
        "--timeout=60s",
    ]);
    // The seed's line, with wasmjob in place of kubectl.
    let pods = run(&[
        "get",
        "pods",
        "--selector=job-name=pi",
        "--output=jsonpath={.items[*].metadata.name}",
    ]);
    assert!(pods.starts_with("pi-") && !pods.contains(' '), "{pods:?}");
    assert_eq!(run(&["logs", &pods]), "Hello from wasmjob\n");
    let names = run(&[
        "get",
        "jobs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        "--sort-by=.metadata.name",
    ]);
    assert_eq!(names, "fails\npi\n");
    let columns = run(&[
        "get",
        "jobs",
        "--sort-by={.metadata.name}",
        "-o",
        "custom-columns=NAME:.metadata.name,OK:.status.succeeded,LABEL:.metadata.labels.app",
    ]);
    let rows: Vec<Vec<&str>> = columns
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "OK", "LABEL"],
            vec!["fails", "0", "fails"],
            vec!["pi", "1", "pi"]
        ]
    );
    let failed = run(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Failed",
        "-o",
        "name",
    ]);
    assert_eq!(failed.lines().count(), 1, "{failed:?}");
    let labels = run(&["get", "jobs", "pi", "--show-labels"]);
    assert!(
        labels.lines().next().unwrap().ends_with("LABELS") && labels.contains("app=pi"),
        "{labels}"
    );

    // Refusals: bad input exits 2, a timeout 1, a missing object 1.
    let bad = s.client(&server, &["get", "jobs", "-o", "jsonpath={.items[*"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("unclosed action"), "{bad:?}");
    let bad = s.client(
        &server,
        &["get", "jobs", "--field-selector", "status.phase"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    let bad = s.client(
        &server,
        &["patch", "job", "pi", "-p", "{", "--type", "merge"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    let late = s.client(
        &server,
        &["wait", "--for=condition=failed", "job/pi", "--timeout=1s"],
    );
    assert_eq!(late.code, 1);
    assert_eq!(
        late.stderr.trim(),
        "error: timed out waiting for the condition on jobs/pi"
    );
    let missing = s.client(&server, &["patch", "job", "nope", "-p", "{}"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "error: Error from server (NotFound): jobs.batch \"nope\" not found"
    );
    run(&["delete", "job", "pi"]);
    assert_eq!(
        run(&["wait", "--for=delete", "job/pi"]),
        "job.batch/pi deleted\n"
    );
}

#[test]
fn kubectl_labels_and_taints_the_node_edits_applies_server_side_and_describes_pods() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &["--node-name", "edge-1"]);
    assert_eq!(
        ok(s.kubectl(&k, &["label", "node", "edge-1", "disk=ssd"])).stdout,
        "node/edge-1 labeled\n"
    );
    assert_eq!(
        ok(s.kubectl(&k, &["taint", "node", "edge-1", "dedicated=gpu:NoSchedule"])).stdout,
        "node/edge-1 tainted\n"
    );
    let node = ok(s.client(&server, &["get", "nodes", "edge-1", "-o", "json"])).json();
    assert_eq!(node["metadata"]["labels"]["disk"], "ssd");
    assert_eq!(node["spec"]["taints"][0]["key"], "dedicated");
    ok(s.kubectl(
        &k,
        &["taint", "node", "edge-1", "dedicated=gpu:NoSchedule-"],
    ));
    let shown = ok(s.kubectl(&k, &["get", "nodes", "--show-labels"]));
    assert_eq!(
        shown
            .stdout
            .lines()
            .next()
            .unwrap()
            .matches("LABELS")
            .count(),
        1,
        "{shown:?}"
    );
    assert!(shown.stdout.contains("disk=ssd"), "{shown:?}");

    s.write("cronjob.yaml", &hello_cronjob());
    ok(s.kubectl(&k, &["create", "-f", "cronjob.yaml"]));
    let edited = Command::new(&k)
        .args(["edit", "cronjob", "hello"])
        .env("KUBECONFIG", s.state.path().join("kubeconfig"))
        .env("HOME", s.work.path())
        .env("EDITOR", "sed -i s/suspend:\\ false/suspend:\\ true/")
        .output()
        .unwrap();
    assert!(edited.status.success(), "{edited:?}");
    let suspend = ok(s.kubectl(
        &k,
        &["get", "cronjob", "hello", "-o", "jsonpath={.spec.suspend}"],
    ));
    assert_eq!(suspend.stdout, "true");

    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    let applied = ok(s.kubectl(&k, &["apply", "--server-side", "-f", "pi.yaml"]));
    assert_eq!(applied.stdout, "job.batch/pi serverside-applied\n");
    ok(s.kubectl(&k, &["apply", "--server-side", "-f", "pi.yaml"]));
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/pi",
            "--timeout=60s",
        ],
    ));
    let pod = ok(s.kubectl(&k, &["get", "pods", "-l", "job-name=pi", "-o", "name"]));
    let described = ok(s.kubectl(&k, &["describe", pod.stdout.trim()]));
    for expected in [
        "Controlled By:  Job/pi",
        "State:          Terminated",
        "Exit Code:    0",
    ] {
        assert!(
            described.stdout.contains(expected),
            "{expected:?} in {}",
            described.stdout
        );
    }
    let events = ok(s.kubectl(&k, &["get", "events"]));
    assert!(events.stdout.contains("Job completed"), "{events:?}");
    let new_events = ok(s.kubectl(
        &k,
        &[
            "get",
            "events.events.k8s.io",
            "-o",
            "jsonpath={.items[*].note}",
        ],
    ));
    assert!(
        new_events.stdout.contains("Job completed"),
        "{new_events:?}"
    );
}

#[test]
fn a_running_daemonset_instances_output_is_readable_and_followed_live() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write(
        "monitor.yaml",
        &format!(
            "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-monitor
spec:
  selector:
    matchLabels:
      app: node-monitor
  template:
    metadata:
      labels:
        app: node-monitor
    spec:
      containers:
      - name: node-monitor
        image: {}
        args: [\"--dir\", \"/tmp\", \"--interval\", \"1\"]
",
            wasmjob_tests::dist("node-monitor.wasm").display()
        ),
    );
    ok(s.kubectl(&k, &["apply", "-f", "monitor.yaml"]));
    ok(s.kubectl(
        &k,
        &["rollout", "status", "ds/node-monitor", "--timeout=60s"],
    ));
    let pod = ok(s.kubectl(
        &k,
        &["get", "pods", "-o", "jsonpath={.items[0].metadata.name}"],
    ))
    .stdout;

    // `logs -f` prints each heartbeat as it is written, while the
    // instance keeps running.
    let lines = watch_until(&s, &k, &["logs", "-f", &pod], |lines| {
        lines.iter().filter(|l| l.contains("msg=heartbeat")).count() >= 3
    });
    let beats: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("msg=heartbeat"))
        .collect();
    assert!(beats.len() >= 3, "{lines:?}");
    assert!(beats[0].contains("beat=1"), "{lines:?}");
    let phase = ok(s.kubectl(&k, &["get", "pod", &pod, "-o", "jsonpath={.status.phase}"]));
    assert_eq!(phase.stdout, "Running");

    // So far, from kubectl and from wasmjob, without following.
    let so_far = ok(s.kubectl(&k, &["logs", &pod, "--tail=1"]));
    assert_eq!(so_far.stdout.lines().count(), 1, "{so_far:?}");
    assert!(so_far.stdout.contains("msg=heartbeat"), "{so_far:?}");
    let ours = s.client(&server, &["logs", &pod]);
    assert_eq!(ours.code, 0, "{ours:?}");
    assert!(ours.stdout.contains("beat=1"), "{ours:?}");
}
