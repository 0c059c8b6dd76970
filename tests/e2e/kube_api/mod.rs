//! The Kubernetes API (issue 31): real `kubectl` (and the Python
//! `kubernetes` client) against a real `wasmjob serve`, over TLS, with
//! nothing but the kubeconfig the node writes.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wasmjob_tests::{Ran, Server, Session, program, tool};

pub(crate) fn kubectl() -> Option<PathBuf> {
    tool("kubectl", "WASMJOB_KUBECTL")
}

pub(crate) fn ok(ran: Ran) -> Ran {
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

/// The DaemonSet `mon`: one long-sleeping instance per node; `extra` adds
/// lines to its spec.
fn sleeping_daemonset(extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: mon
spec:
{extra}  selector:
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
    )
}

/// `jsonpath` of the running instances of the DaemonSet `mon`.
fn running_mon(s: &Session, kubectl: &Path, jsonpath: &str) -> String {
    let ran = s.kubectl(
        kubectl,
        &[
            "get",
            "pods",
            "-l",
            "app=mon",
            "--field-selector",
            "status.phase=Running",
            "-o",
            &format!("jsonpath={jsonpath}"),
        ],
    );
    ok(ran).stdout
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

mod access;
mod cli;
mod pod_security;
mod protocol;
mod quota;
mod rbac;
mod rollouts;
mod seeds;
mod verbs;
