//! ConfigMaps and Secrets (issue 30): stored with kubectl's verbs and
//! shapes, read by instances through `env[].valueFrom`, `envFrom` and
//! volumes at each attempt, Secrets sealed at rest; a missing reference
//! keeps an instance pending as Kubernetes does until it is applied.

use std::time::{Duration, Instant};

use wasmjob_tests::{Server, Session, items, program};

const SECRET: &str = "tops3cret-7c1d";

/// A ConfigMap, a Secret, and a Job that writes what its environment and
/// its Secret volume say into `out` (without printing them).
fn manifests(out: &std::path::Path) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, labels: {{app: demo}}}}
data: {{mode: fast}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db}}
stringData: {{password: {SECRET}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: env-user}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {{name: out, hostPath: {{path: {out}}}}}
      containers:
      - name: main
        image: {writer}
        args: [/out/env.txt, '$(PASSWORD)|$(CFG_mode)']
        envFrom:
        - {{prefix: CFG_, configMapRef: {{name: settings}}}}
        env:
        - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}
        volumeMounts:
        - {{name: out, mountPath: /out}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: file-user}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      volumes:
      - {{name: out, hostPath: {{path: {out}}}}}
      - {{name: creds, secret: {{secretName: db, items: [{{key: password, path: db/pw}}]}}}}
      containers:
      - name: main
        image: {copier}
        args: [/creds/db/pw, /out/file.txt]
        volumeMounts:
        - {{name: out, mountPath: /out}}
        - {{name: creds, mountPath: /creds}}
",
        out = out.display(),
        writer = program("write-file").display(),
        copier = program("copy-file").display(),
    )
}

/// Every byte of the state directory's files.
fn state_bytes(s: &Session) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(s.state.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_secret_reaches_the_guest_by_env_and_file_and_is_sealed_everywhere_else() {
    let s = Session::new();
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(&s, &[]);
    let path = s.write("app.yaml", &manifests(&out));
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    for line in [
        "configmap/settings created",
        "secret/db created",
        "job.batch/env-user created",
    ] {
        assert!(applied.stdout.contains(line), "{}", applied.stdout);
    }
    for job in ["env-user", "file-user"] {
        let status = s.wait_finished(&server, job);
        assert_eq!(status["status"]["succeeded"], 1, "{status}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("env.txt")).unwrap(),
        format!("{SECRET}|fast")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("file.txt")).unwrap(),
        SECRET
    );

    // kubectl's shapes: base64 data, the DATA column, sizes in describe.
    let secret = s
        .client(&server, &["get", "secret", "db", "-o", "json"])
        .json();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"]["password"], "dG9wczNjcmV0LTdjMWQ=");
    let table = s.client(&server, &["get", "configmaps"]).stdout;
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("DATA") && table.contains("settings"),
        "{table}"
    );
    let table = s.client(&server, &["get", "secrets"]).stdout;
    assert!(
        table.contains("TYPE") && table.contains("Opaque"),
        "{table}"
    );
    let described = s.client(&server, &["describe", "secret", "db"]).stdout;
    assert!(described.contains("password:  14 bytes"), "{described}");
    assert!(!described.contains(SECRET), "{described}");
    let cm = s
        .client(&server, &["get", "cm", "-l", "app=demo", "-o", "json"])
        .json();
    assert_eq!(items(&cm, "ConfigMap")[0]["data"]["mode"], "fast");

    // Never in the clear at rest, in events or in the node's log.
    let events = s.client(&server, &["get", "events", "-o", "json"]).stdout;
    assert!(!events.contains(SECRET), "{events}");
    server.terminate();
    let bytes = state_bytes(&s);
    assert!(
        !contains(&bytes, SECRET),
        "the store holds the Secret in the clear"
    );
    assert!(
        !contains(&bytes, "dG9wczNjcmV0LTdjMWQ="),
        "the store holds it in base64"
    );
    assert!(!s.serve_log().contains(SECRET), "{}", s.serve_log());
    use std::os::unix::fs::PermissionsExt as _;
    let key = std::fs::metadata(s.state.path().join("secret.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

/// The first instance of `job` as `get pods` shows it.
fn instance(s: &Session, server: &Server, job: &str) -> Option<serde_json::Value> {
    let selector = format!("job-name={job}");
    let ran = s.client(server, &["get", "pods", "-l", &selector, "-o", "json"]);
    let list = ran.json();
    list["items"].as_array()?.first().cloned()
}

#[test]
fn a_missing_config_map_keeps_the_instance_pending_until_it_is_applied() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let job = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: late}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {}
        env:
        - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: late-settings, key: mode}}}}}}
",
        program("print-env").display()
    );
    let path = s.write("job.yaml", &job);
    assert_eq!(
        s.client(&server, &["apply", "-f", path.to_str().unwrap()])
            .code,
        0
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let pending = loop {
        if let Some(i) = instance(&s, &server, "late")
            && i["status"]["reason"] == "CreateContainerConfigError"
        {
            break i;
        }
        assert!(Instant::now() < deadline, "the instance never waited");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pending["status"]["phase"], "Pending", "{pending}");
    assert_eq!(
        pending["status"]["message"],
        "configmap \"late-settings\" not found"
    );
    let described = s.client(&server, &["describe", "job", "late"]).stdout;
    assert!(
        described.contains("Error: configmap \"late-settings\" not found"),
        "{described}"
    );
    // Still waiting, not failed, a while later.
    std::thread::sleep(Duration::from_millis(1200));
    let job_status = s
        .client(&server, &["get", "job", "late", "-o", "json"])
        .json();
    assert_eq!(job_status["status"]["failed"].as_u64().unwrap_or(0), 0);

    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late-settings}\ndata: {mode: slow}\n";
    let path = s.write("cm.yaml", cm);
    assert_eq!(
        s.client(&server, &["apply", "-f", path.to_str().unwrap()])
            .code,
        0
    );
    let done = s.wait_finished(&server, "late");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    let logs = s.client(&server, &["logs", "job/late"]).stdout;
    assert!(logs.contains("env MODE=slow"), "{logs}");
}

#[test]
fn wasmjob_run_stores_the_configs_of_its_file_before_its_jobs_read_them_with_the_downward_api() {
    let s = Session::new();
    let yaml = format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: greeting}}
data: {{who: world}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: hello}}
spec:
  template:
    metadata: {{labels: {{team: a}}}}
    spec:
      restartPolicy: Never
      volumes:
      - name: info
        downwardAPI:
          items:
          - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
          - {{path: mem, resourceFieldRef: {{containerName: main, resource: limits.memory, divisor: 1Mi}}}}
      containers:
      - name: main
        image: {}
        resources: {{limits: {{memory: 32Mi}}}}
        workingDir: /info
        env:
        - {{name: WHO, valueFrom: {{configMapKeyRef: {{name: greeting, key: who}}}}}}
        - {{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}
        - {{name: CPU, valueFrom: {{resourceFieldRef: {{resource: limits.cpu}}}}}}
        args: [/info/mem]
        volumeMounts:
        - {{name: info, mountPath: /info}}
",
        program("read-file").display()
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "--node-name", "edge-7"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // read-file prints /info/mem: 32 (MiB).
    assert!(ran.stdout.contains("32"), "{}", ran.stdout);
    let env = s.write(
        "env.yaml",
        &yaml
            .replace("read-file", "print-env")
            .replace("name: hello", "name: hello-env"),
    );
    let ran = s.wasmjob(&["run", "-f", env.to_str().unwrap(), "--node-name", "edge-7"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for line in [
        "env WHO=world",
        "env NODE=edge-7",
        "env CPU=",
        "env PWD=/info",
    ] {
        assert!(ran.stdout.contains(line), "{line}: {}", ran.stdout);
    }
}

#[test]
fn bad_configs_are_refused_with_their_field_and_nothing_is_stored() {
    let s = Session::new();
    let cases = [
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: 'not base64!'}\n",
            "document 1: data[k]: is not valid base64",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {'a/b': x}\n",
            "data[a/b]: invalid key",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nspec: {}\n",
            "spec: unknown field",
        ),
    ];
    let server = Server::start(&s, &[]);
    for (yaml, expected) in cases {
        let path = s.write("bad.yaml", yaml);
        let ran = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 2, "{ran:?}");
        assert!(ran.stderr.contains(expected), "{expected}: {}", ran.stderr);
    }
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j}}\nspec:\n  template:\n    spec:\n      \
         restartPolicy: Never\n      containers:\n      - name: main\n        image: {}\n        \
         env:\n        - {{name: A, value: b, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}\n",
        program("print-env").display()
    );
    let path = s.write("bad.yaml", &job);
    let ran = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("env[0].valueFrom: may not be given with value"),
        "{}",
        ran.stderr
    );
    let none = s
        .client(&server, &["get", "configmaps", "-o", "json"])
        .json();
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");

    // An immutable ConfigMap keeps its values; a mutable one is configured.
    let path = s.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fixed}\nimmutable: true\ndata: {a: '1'}\n",
    );
    assert_eq!(
        s.client(&server, &["apply", "-f", path.to_str().unwrap()])
            .code,
        0
    );
    let again = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert!(
        again.stdout.contains("configmap/fixed unchanged"),
        "{again:?}"
    );
    let path = s.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fixed}\nimmutable: true\ndata: {a: '2'}\n",
    );
    let changed = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(changed.code, 2, "{changed:?}");
    assert!(
        changed
            .stderr
            .contains("field is immutable when `immutable` is set"),
        "{}",
        changed.stderr
    );
    let deleted = s.client(&server, &["delete", "configmap", "fixed"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(
        deleted.stdout.contains("configmap \"fixed\" deleted"),
        "{deleted:?}"
    );
    let gone = s.client(&server, &["get", "configmap", "fixed"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(
        gone.stderr.contains("configmaps \"fixed\" not found"),
        "{gone:?}"
    );
}
