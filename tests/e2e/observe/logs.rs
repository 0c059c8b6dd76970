//! Live logs: a running daemon's lines reach `logs -f` within a second of
//! being written, with the time each line was written; `--since`,
//! `--tail` and `--timestamps` work on lines; what a guest printed before
//! its node was killed is in the history.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmjob_tests::{PgDatabase, Server, Session, binary, dist};

/// A DaemonSet (or, with `kind: Job`, a Job) of the node-monitor plugin
/// logging a heartbeat every `interval` seconds, `beats` times (0: forever).
pub(super) fn monitor(kind: &str, name: &str, interval: u32, beats: u32) -> String {
    let (api, selector, restart) = match kind {
        "DaemonSet" => (
            "apps/v1",
            format!("  selector:\n    matchLabels:\n      app: {name}\n"),
            "",
        ),
        _ => ("batch/v1", String::new(), "      restartPolicy: Never\n"),
    };
    format!(
        "apiVersion: {api}
kind: {kind}
metadata:
  name: {name}
spec:
{selector}  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: monitor
        image: {}
        args: [\"--dir\", \"/tmp\", \"--interval\", \"{interval}\", \"--beats\", \"{beats}\"]
{restart}",
        dist("node-monitor.wasm").display()
    )
}

/// The time a `--timestamps` line begins with.
fn stamp_of(line: &str) -> Option<jiff::Timestamp> {
    let text = match line.starts_with('[') {
        true => line.split_once("] ")?.1,
        false => line,
    };
    text.split_whitespace().next()?.parse().ok()
}

/// The first two heartbeat lines `logs -f TARGET --timestamps` prints,
/// each with the time it arrived.
fn heartbeats_followed(
    s: &Session,
    server: &Server,
    target: &str,
) -> Vec<(jiff::Timestamp, String)> {
    let mut follow = Command::new(binary())
        .args(["logs", "-f", target, "--timestamps"])
        .env("WASMJOB_HOME", s.state.path())
        .env("WASMJOB_SERVER", &server.address)
        .env_remove("WASMJOB_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wasmjob logs -f");
    let stdout = follow.stdout.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send((jiff::Timestamp::now(), line)).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut beats = Vec::new();
    while beats.len() < 2 && Instant::now() < deadline {
        if let Ok((arrived, line)) = lines.recv_timeout(Duration::from_millis(200))
            && line.contains("msg=heartbeat")
        {
            beats.push((arrived, line));
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    beats
}

/// Two heartbeats, in order, each printed within a second of being
/// written (by the time the line itself carries).
fn assert_live(beats: &[(jiff::Timestamp, String)], prefix: &str) {
    assert_eq!(beats.len(), 2, "{beats:?}");
    assert!(
        beats[0].1.contains("beat=1") && beats[1].1.contains("beat=2"),
        "{beats:?}"
    );
    for (arrived, line) in beats {
        // `[instance] TIME level=info msg=heartbeat …`.
        assert!(line.starts_with(prefix), "{line}");
        let written = stamp_of(line).unwrap_or_else(|| panic!("no time in {line:?}"));
        let late = arrived.duration_since(written);
        eprintln!("{late:?} late: {line}");
        assert!(
            late < jiff::SignedDuration::from_secs(1),
            "{line:?} arrived {late:?} after it was written"
        );
    }
}

#[test]
fn a_running_daemons_heartbeats_reach_logs_follow_within_a_second() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("monitor.yaml", &monitor("DaemonSet", "beating", 2, 0));
    assert_eq!(s.client(&server, &["apply", "-f", "monitor.yaml"]).code, 0);

    let beats = heartbeats_followed(&s, &server, "ds/beating");
    assert_live(&beats, "[beating-");
    // Still running: the lines came live, not at the end.
    let phase = s.client(
        &server,
        &[
            "get",
            "instances",
            "-l",
            "app=beating",
            "-o",
            "jsonpath={.items[0].status.phase}",
        ],
    );
    assert_eq!(phase.stdout, "Running", "{phase:?}");
}

#[test]
fn since_tail_and_timestamps_pick_lines_of_a_finished_job() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("beats.yaml", &monitor("Job", "three-beats", 1, 3));
    assert_eq!(s.client(&server, &["apply", "-f", "beats.yaml"]).code, 0);
    s.wait_finished(&server, "three-beats");

    let stamped = s.client(&server, &["logs", "job/three-beats", "--timestamps"]);
    assert_eq!(stamped.code, 0, "{stamped:?}");
    let lines: Vec<&str> = stamped.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", stamped.stdout);
    let times: Vec<jiff::Timestamp> = lines.iter().map(|l| stamp_of(l).expect(l)).collect();
    // A second apart, as written.
    let gap = times[2].duration_since(times[0]);
    assert!(gap >= jiff::SignedDuration::from_millis(1800), "{lines:?}");

    let since = times[1].to_string();
    let later = s.client(
        &server,
        &["logs", "job/three-beats", "--since-time", &since],
    );
    assert_eq!(later.stdout.lines().count(), 2, "{later:?}");
    assert!(later.stdout.contains("beat=2") && later.stdout.contains("beat=3"));
    let last = s.client(&server, &["logs", "job/three-beats", "--tail", "1"]);
    assert_eq!(last.stdout.lines().collect::<Vec<_>>().len(), 1, "{last:?}");
    assert!(last.stdout.contains("beat=3"), "{last:?}");
    let recent = s.client(&server, &["logs", "job/three-beats", "--since", "1h"]);
    assert_eq!(recent.stdout.lines().count(), 3, "{recent:?}");

    let bad = s.client(&server, &["logs", "job/three-beats", "--since", "soon"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--since \"soon\""), "{bad:?}");
    let bad = s.client(
        &server,
        &["logs", "job/three-beats", "--since-time", "yesterday"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("RFC 3339"), "{bad:?}");
}

#[test]
fn what_a_guest_printed_before_its_node_was_killed_is_in_the_history() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    // One beat, then a long wait: the instance is still running when the
    // node dies.
    s.write("monitor.yaml", &monitor("Job", "killed-midway", 60, 0));
    assert_eq!(s.client(&server, &["apply", "-f", "monitor.yaml"]).code, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let so_far = s.client(&server, &["logs", "job/killed-midway"]);
        if so_far.stdout.contains("beat=1") {
            break;
        }
        assert!(Instant::now() < deadline, "never printed: {so_far:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Kept four times a second: well within a second, even on a loaded
    // machine.
    std::thread::sleep(Duration::from_millis(1000));
    server.crash();
    let kept = s.logs("killed-midway");
    assert!(
        kept.iter()
            .any(|(_, _, text)| text.contains("msg=heartbeat") && text.contains("beat=1")),
        "{kept:?}"
    );
}

#[test]
fn a_daemon_on_another_cluster_node_is_followed_live_from_this_one() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let start = |name: &str, labels: &str| {
        let session = Session::new();
        let args = [
            "--store",
            db.url.as_str(),
            "--node-name",
            name,
            "--labels",
            labels,
        ];
        let server = Server::start(&session, &args);
        (session, server)
    };
    let (front, front_server) = start("front", "role=front");
    let (_monitor, _monitor_server) = start("watcher", "role=monitor");
    // Only the other node runs it.
    let manifest = monitor("DaemonSet", "elsewhere", 1, 0).replace(
        "      containers:",
        "      nodeSelector:\n        role: monitor\n      containers:",
    );
    front.write("ds.yaml", &manifest);
    assert_eq!(
        front
            .client(&front_server, &["apply", "-f", "ds.yaml"])
            .code,
        0
    );
    let beats = heartbeats_followed(&front, &front_server, "ds/elsewhere");
    assert_live(&beats, "[elsewhere-");
    let node = front.client(
        &front_server,
        &[
            "get",
            "instances",
            "-l",
            "app=elsewhere",
            "-o",
            "jsonpath={.items[0].status.nodeName}",
        ],
    );
    assert_eq!(node.stdout, "watcher", "{node:?}");
}

#[test]
fn logs_follow_with_all_attempts_follows_restarts_in_place() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let yaml = wasmjob_tests::job_yaml(
        "again",
        &wasmjob_tests::program("exit-code"),
        &["1"],
        &format!("  backoffLimit: 2\n{}", crate::job_semantics::NO_DELAY),
        "",
    )
    .replace("restartPolicy: Never", "restartPolicy: OnFailure");
    s.write("again.yaml", &yaml);
    assert_eq!(s.client(&server, &["apply", "-f", "again.yaml"]).code, 0);
    let followed = s.client(&server, &["logs", "-f", "job/again", "--all-attempts"]);
    assert_eq!(followed.code, 0, "{followed:?}");
    let lines: Vec<&str> = followed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", followed.stdout);
    for (n, line) in lines.iter().enumerate() {
        assert!(line.starts_with("[again-"), "{line}");
        assert!(
            line.ends_with(&format!(" attempt {}] exiting with 1", n + 1)),
            "{line}"
        );
    }
}
