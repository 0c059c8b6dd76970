//! Instances of several modules (issue 30): init containers in order,
//! sharing the instance's `emptyDir` with the containers after them; a
//! failing init container fails the attempt; a native sidecar runs beside
//! the containers and is stopped when they end; several containers run
//! together and the instance succeeds when all do.

use wasmjob_tests::{Session, program};

fn image(name: &str) -> String {
    program(name).display().to_string()
}

#[test]
fn an_init_containers_file_is_read_by_the_main_container_through_an_empty_dir() {
    let s = Session::new();
    let yaml = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: staged}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {{name: work, emptyDir: {{}}}}
      initContainers:
      - name: fetch
        image: {writer}
        args: [/work/input.txt, \"fetched by init\\n\"]
        volumeMounts: [{{name: work, mountPath: /work}}]
      - name: check
        image: {reader}
        args: [/work/input.txt]
        volumeMounts: [{{name: work, mountPath: /work}}]
      containers:
      - name: main
        image: {reader}
        args: [/work/input.txt]
        volumeMounts: [{{name: work, mountPath: /work}}]
",
        writer = image("write-file"),
        reader = image("read-file"),
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let logs = s.logs("staged");
    let log = &logs[0].2;
    let fetch = log.find("==> container fetch <==").expect(log);
    let check = log.find("==> container check <==").expect(log);
    let main = log.find("==> container main <==").expect(log);
    assert!(fetch < check && check < main, "{log}");
    assert_eq!(log.matches("fetched by init").count(), 2, "{log}");
    // `logs -c` picks one container's section, as kubectl logs -c does.
    let server = wasmjob_tests::Server::start(&s, &[]);
    let check = s.client(&server, &["logs", "job/staged", "-c", "check"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(check.stdout, "fetched by init\n");
    let fetch = s.client(&server, &["logs", "job/staged", "-c", "fetch"]);
    assert_eq!(fetch.stdout, "wrote /work/input.txt\n");
}

#[test]
fn a_failing_init_container_fails_the_attempt_and_the_main_container_never_runs() {
    let s = Session::new();
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let yaml = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: gated}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {{name: out, hostPath: {{path: {out}}}}}
      initContainers:
      - {{name: gate, image: {exit}, args: ['7']}}
      containers:
      - name: main
        image: {writer}
        args: [/out/ran.txt, yes]
        volumeMounts: [{{name: out, mountPath: /out}}]
",
        out = out.display(),
        exit = image("exit-code"),
        writer = image("write-file"),
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let list = ran.json();
    let instances = wasmjob_tests::items(&list, "Instance");
    assert_eq!(instances.len(), 1, "{list}");
    for i in instances {
        assert_eq!(i["status"]["exitCode"], 7, "{i}");
    }
    assert!(!out.join("ran.txt").exists(), "the main container ran");
}

#[test]
fn a_sidecar_runs_beside_the_containers_and_is_stopped_when_they_end() {
    let s = Session::new();
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let yaml = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: with-sidecar}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {{name: out, hostPath: {{path: {out}}}}}
      initContainers:
      - name: agent
        image: {sleeper}
        args: ['30000', /out/agent-finished.txt]
        restartPolicy: Always
        volumeMounts: [{{name: out, mountPath: /out}}]
      containers:
      - name: one
        image: {sleeper}
        args: ['200', /out/one.txt]
        volumeMounts: [{{name: out, mountPath: /out}}]
      - name: two
        image: {sleeper}
        args: ['300', /out/two.txt]
        volumeMounts: [{{name: out, mountPath: /out}}]
",
        out = out.display(),
        sleeper = image("sleep-ms"),
    );
    let path = s.write("job.yaml", &yaml);
    let started = std::time::Instant::now();
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // Both containers ran together; the sidecar did not hold the Job up.
    assert!(out.join("one.txt").exists() && out.join("two.txt").exists());
    assert!(
        !out.join("agent-finished.txt").exists(),
        "the sidecar ran to its end"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let log = &s.logs("with-sidecar")[0].2;
    assert!(log.contains("==> container agent <=="), "{log}");
}

#[test]
fn one_failing_container_of_several_fails_the_instance() {
    let s = Session::new();
    let yaml = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: pair}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - {{name: good, image: {hello}}}
      - {{name: bad, image: {exit}, args: ['3']}}
",
        hello = image("say-hello"),
        exit = image("exit-code"),
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let list = ran.json();
    let instance = wasmjob_tests::items(&list, "Instance")[0];
    assert_eq!(instance["status"]["exitCode"], 3, "{instance}");
}

#[test]
fn bad_multi_container_templates_are_refused_with_their_field() {
    let s = Session::new();
    let hello = image("say-hello");
    let cases = [
        (
            format!("      initContainers:\n      - {{name: c, image: {hello}}}\n      containers:\n      - {{name: c, image: {hello}}}\n"),
            "spec.template.spec.containers[0].name: duplicate container name \"c\"",
        ),
        (
            format!("      initContainers:\n      - {{name: i, image: {hello}, restartPolicy: OnFailure}}\n      containers:\n      - {{name: c, image: {hello}}}\n"),
            "spec.template.spec.initContainers[0].restartPolicy: unsupported value \"OnFailure\"",
        ),
        (
            format!("      containers:\n      - {{name: c, image: {hello}, restartPolicy: Always}}\n"),
            "spec.template.spec.containers[0].restartPolicy: may only be set on init containers",
        ),
        (
            "      initContainers:\n      - {name: i, image: missing.wasm}\n      containers:\n      - {name: c, image: x.wasm}\n".to_owned(),
            "spec.template.spec.initContainers[0].image",
        ),
    ];
    for (pod, expected) in cases {
        let yaml = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: bad}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n{pod}"
        );
        let path = s.write("bad.yaml", &yaml);
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 2, "{ran:?}");
        assert!(ran.stderr.contains(expected), "{expected}: {}", ran.stderr);
    }
    assert_eq!(s.store_counts(), (0, 0));
}
