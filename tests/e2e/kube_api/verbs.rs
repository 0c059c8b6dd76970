//! kubectl's everyday verbs against a node: apply, wait, describe, patch,
//! selectors, rollouts, node labels and taints, edit, server-side apply,
//! namespaces, and the `Status` refusals.

use super::*;

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
    s.write("ds.yaml", &sleeping_daemonset(""));
    ok(s.kubectl(&k, &["apply", "-f", "ds.yaml"]));
    let status = ok(s.kubectl(&k, &["rollout", "status", "ds/mon", "--timeout=60s"]));
    assert_eq!(
        status.stdout,
        "daemon set \"mon\" successfully rolled out\n"
    );
    let name = || running_mon(&s, &k, "{.items[*].metadata.name}");
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
    // Two writes made from the same read, at once: one wins, one is told.
    let read: serde_json::Value =
        serde_json::from_str(&ok(s.kubectl(&k, &["get", "job", "pi", "-o", "json"])).stdout)
            .unwrap();
    let racers: Vec<_> = ["one", "two"]
        .iter()
        .map(|who| {
            let mut mine = read.clone();
            mine["metadata"]["labels"]["writer"] = serde_json::json!(who);
            s.write(&format!("{who}.json"), &mine.to_string());
            Command::new(&k)
                .args(["replace", "-f", &format!("{who}.json")])
                .current_dir(s.work.path())
                .env("KUBECONFIG", s.state.path().join("kubeconfig"))
                .env("HOME", s.work.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    let won = racers.iter().filter(|r| r.status.success()).count();
    let told = racers
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.stderr).contains("(Conflict)"))
        .count();
    assert_eq!((won, told), (1, 1), "{racers:?}");

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
    let server = Server::start(&s, &[]);
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

    // Created explicitly, with kubectl or in a manifest before what lives in it.
    let created = ok(s.kubectl(&k, &["create", "namespace", "team-b"]));
    assert_eq!(created.stdout, "namespace/team-b created\n");
    let bad = s.kubectl(&k, &["create", "namespace", "Team_B"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("is invalid: metadata.name"), "{bad:?}");
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-c\n  labels: {{tier: gold}}\n---\n{}",
        job("pi", &program("say-hello"), "app: pi", "")
            .replace("  name: pi\n", "  name: pi\n  namespace: team-c\n")
    );
    s.write("team-c.yaml", &manifest);
    let applied = ok(s.kubectl(&k, &["apply", "-f", "team-c.yaml"]));
    assert_eq!(
        applied.stdout,
        "namespace/team-c created\njob.batch/pi created\n"
    );
    let gold = ok(s.kubectl(&k, &["get", "ns", "-l", "tier=gold", "-o", "name"]));
    assert_eq!(gold.stdout, "namespace/team-c\n");
    let ours = s.client(&server, &["get", "ns", "-o", "name"]);
    assert_eq!(
        ours.stdout, "namespace/default\nnamespace/team-b\nnamespace/team-c\n",
        "{ours:?}"
    );
    ok(s.kubectl(&k, &["delete", "namespace", "team-c"]));
    let left = ok(s.kubectl(&k, &["get", "ns", "-o", "name"]));
    assert_eq!(left.stdout, "namespace/default\nnamespace/team-b\n");
    let gone = s.kubectl(&k, &["get", "jobs", "-n", "team-c"]);
    assert_eq!(
        gone.stderr.trim(),
        "No resources found in team-c namespace."
    );
}
