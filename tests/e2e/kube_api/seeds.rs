//! The seeds' kubectl sessions, replayed verbatim (the image aside) with the
//! real `kubectl` against a real node.

use super::*;

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
