//! wasmjob's own CLI scripting as kubectl users do: jsonpath, custom
//! columns, sorting, field selectors, patch, wait.

use super::*;

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
    // (The CronJob may have run once before it was suspended: its Job is
    // left out by the selector.)
    let names = run(&[
        "get",
        "jobs",
        "-l",
        "app in (pi,fails)",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        "--sort-by=.metadata.name",
    ]);
    assert_eq!(names, "fails\npi\n");
    let columns = run(&[
        "get",
        "jobs",
        "-l",
        "app in (pi,fails)",
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
