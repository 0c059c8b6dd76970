//! Reaching the API: TLS and the kubeconfig, the Python client, one
//! kubeconfig for a cluster, and live logs of a running instance.

use super::*;

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
fn one_kubeconfig_reaches_every_node_of_a_cluster() {
    let Some(k) = kubectl() else { return };
    let Some(db) = wasmjob_tests::PgDatabase::create() else {
        return;
    };
    let (first, second) = (Session::new(), Session::new());
    let args = |name: &'static str| {
        [
            "--store",
            db.url.as_str(),
            "--node-name",
            name,
            "--heartbeat",
            "200ms",
            "--node-grace",
            "20s",
        ]
    };
    let _one = Server::start(&first, &args("n1"));
    let two = Server::start(&second, &args("n2"));
    apply_pi(&first, &k);
    // n1's kubeconfig (its CA, the cluster's token) with n2's address.
    let server = format!("--server=https://{}", two.address);
    let nodes = ok(first.kubectl(&k, &[&server, "get", "nodes", "-o", "name"]));
    assert_eq!(nodes.stdout, "node/n1\nnode/n2\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let jobs = ok(first.kubectl(&k, &[&server, "get", "jobs", "-o", "name"]));
        if jobs.stdout == "job.batch/pi\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{jobs:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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

    // Each line's time, and the lines since a time, as kubectl asks.
    let stamped = ok(s.kubectl(&k, &["logs", &pod, "--timestamps", "--tail=1"]));
    let (time, rest) = stamped.stdout.split_once(' ').expect("a time and a line");
    let time: jiff::Timestamp = time.parse().unwrap_or_else(|_| panic!("{stamped:?}"));
    assert!(rest.contains("msg=heartbeat"), "{stamped:?}");
    assert!(jiff::Timestamp::now().duration_since(time) < jiff::SignedDuration::from_secs(30));
    let recent = ok(s.kubectl(&k, &["logs", &pod, "--since=1h"]));
    assert!(recent.stdout.contains("beat=1"), "{recent:?}");
    let future = format!(
        "--since-time={}",
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)
    );
    let none = ok(s.kubectl(&k, &["logs", &pod, &future]));
    assert_eq!(none.stdout, "", "{none:?}");
}

fn apply_pi(s: &Session, k: &Path) {
    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    ok(s.kubectl(k, &["apply", "-f", "pi.yaml"]));
}
