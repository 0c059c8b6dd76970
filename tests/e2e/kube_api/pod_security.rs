//! Pod Security (issue 37): a namespace labelled
//! `pod-security.kubernetes.io/enforce=baseline` takes no workload that
//! mounts a host path — refused at apply in Kubernetes' words, and a Job
//! applied before the label starts no instance — `warn` says so and lets
//! it in, `audit` notes it in the audit log, and a label that names no
//! level is refused.

use super::*;

/// A Job in `namespace` of `say-hello`, with a `hostPath` volume named
/// `data` when `host` (an `emptyDir` otherwise); `suspend` as given.
fn job_with_volume(s: &Session, name: &str, namespace: &str, host: bool, suspend: bool) -> String {
    let spec = format!("suspend: {suspend}");
    job_running(s, (name, namespace), host, &spec, ("say-hello", "[]"))
}

/// A Job `name` in `namespace` of the test program `program` with `args`
/// (YAML), `spec` its spec's fields besides the template (one per line),
/// and a volume `data` as [`job_with_volume`] says.
fn job_running(
    s: &Session,
    (name, namespace): (&str, &str),
    host: bool,
    spec: &str,
    (program_name, args): (&str, &str),
) -> String {
    let volume = match host {
        true => format!(
            "hostPath: {{path: {}, type: DirectoryOrCreate}}",
            s.work.path().join("data").display()
        ),
        false => "emptyDir: {}".to_owned(),
    };
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {namespace}
spec:
  {spec}
  template:
    spec:
      containers:
      - name: main
        image: {}
        args: {args}
        volumeMounts: [{{name: data, mountPath: /data}}]
      volumes:
      - name: data
        {volume}
      restartPolicy: Never
",
        program(program_name).display(),
        spec = spec.replace('\n', "\n  "),
    )
}

/// `ran` was refused for the `host` Job's host path, in Kubernetes' words
/// (exit 1: the server refused it).
fn host_path_refused(ran: &Ran) {
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains(
            "jobs.batch \"host\" is forbidden: violates PodSecurity \"baseline:latest\": \
             hostPath volumes (volume \"data\")"
        ),
        "{ran:?}"
    );
}

#[test]
fn a_baseline_namespace_refuses_host_paths_and_warn_and_audit_say_so() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let log = s.work.path().join("audit.jsonl");
    let policy = s.write(
        "policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: [create]\n",
    );
    let server = Server::start(
        &s,
        &[
            "--audit-log-path",
            log.to_str().unwrap(),
            "--audit-policy-file",
            policy.to_str().unwrap(),
        ],
    );
    for namespace in ["team", "warned", "later"] {
        ok(s.kubectl(&k, &["create", "namespace", namespace]));
    }
    let label = |namespace: &str, label: &str| {
        s.kubectl(&k, &["label", "namespace", namespace, label, "--overwrite"])
    };
    ok(label("team", "pod-security.kubernetes.io/enforce=baseline"));

    // Enforced: refused whole, nothing stored; the same Job without the
    // host path is created.
    s.write(
        "host.yaml",
        &job_with_volume(&s, "host", "team", true, false),
    );
    let refused = s.kubectl(&k, &["apply", "-f", "host.yaml"]);
    host_path_refused(&refused);
    let none = s.kubectl(&k, &["get", "job", "host", "-n", "team"]);
    assert!(none.stderr.contains("NotFound"), "{none:?}");
    // wasmjob's own apply meets the same rule.
    let ours = s.client(&server, &["apply", "-f", "host.yaml"]);
    assert_eq!(ours.code, 1, "{ours:?}");
    assert!(ours.stderr.contains("violates PodSecurity"), "{ours:?}");
    s.write(
        "scratch.yaml",
        &job_with_volume(&s, "scratch", "team", false, false),
    );
    ok(s.kubectl(&k, &["apply", "-f", "scratch.yaml"]));

    // Warned: let in, and said as kubectl prints the API server's warning.
    ok(label(
        "warned",
        "pod-security.kubernetes.io/warn=restricted",
    ));
    ok(label("warned", "pod-security.kubernetes.io/audit=baseline"));
    s.write(
        "warned.yaml",
        &job_with_volume(&s, "host", "warned", true, false),
    );
    let warned = ok(s.kubectl(&k, &["apply", "-f", "warned.yaml"]));
    assert!(
        warned.stderr.contains(
            "Warning: would violate PodSecurity \"restricted:latest\": hostPath volumes \
             (volume \"data\"), restricted volume types (volume \"data\" uses non-allowed \
             volume type \"hostPath\")"
        ),
        "{warned:?}"
    );
    ok(s.kubectl(
        &k,
        &[
            "wait",
            "--for=condition=complete",
            "job/host",
            "-n",
            "warned",
            "--timeout=60s",
        ],
    ));
    // Audited: the create's event carries the violation as an annotation.
    let text = std::fs::read_to_string(&log).unwrap();
    let audited = (text.lines())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["verb"] == "create" && e["objectRef"]["namespace"] == "warned")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        audited["annotations"]["pod-security.kubernetes.io/audit-violations"],
        "would violate PodSecurity \"baseline:latest\": hostPath volumes (volume \"data\")",
        "{audited}"
    );

    // A Job applied before its namespace was labelled starts nothing the
    // label refuses, and says why as Kubernetes' Job controller does.
    s.write(
        "later.yaml",
        &job_with_volume(&s, "held", "later", true, true),
    );
    ok(s.kubectl(&k, &["apply", "-f", "later.yaml"]));
    ok(label(
        "later",
        "pod-security.kubernetes.io/enforce=baseline",
    ));
    ok(s.kubectl(
        &k,
        &[
            "patch",
            "job",
            "held",
            "-n",
            "later",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
    ));
    let events = || ok(s.kubectl(&k, &["get", "events", "-n", "later"])).stdout;
    wasmjob_tests::wait_until("the held Job's FailedCreate", 30, || {
        events().contains("FailedCreate")
    });
    let events = events();
    assert!(
        events.contains(
            "Error creating: pods is forbidden: violates PodSecurity \"baseline:latest\": \
             hostPath volumes (volume \"data\")"
        ),
        "{events}"
    );
    let pods = ok(s.kubectl(&k, &["get", "pods", "-n", "later", "-o", "name"]));
    assert_eq!(pods.stdout, "", "{pods:?}");

    // A label that names no level is refused, and the old one kept.
    let bad = label("team", "pod-security.kubernetes.io/enforce=strict");
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr.contains(
            "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": \
             must be one of privileged, baseline, restricted"
        ),
        "{bad:?}"
    );
    let kept = ok(s.kubectl(
        &k,
        &[
            "get",
            "namespace",
            "team",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    ));
    assert!(
        kept.stdout
            .contains("\"pod-security.kubernetes.io/enforce\":\"baseline\""),
        "{kept:?}"
    );
    // And in a manifest, for wasmjob's CLI: bad input, exit 2, the field named.
    s.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: odd\n  labels:\n    pod-security.kubernetes.io/warn-version: \"1.32\"\n",
    );
    let odd = s.client(&server, &["apply", "-f", "ns.yaml"]);
    assert_eq!(odd.code, 2, "{odd:?}");
    assert!(
        odd.stderr
            .contains("metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value"),
        "{odd:?}"
    );
}

/// `serve --pod-security-defaults` sets the level of every namespace that
/// sets none of its own, as kube-apiserver's `PodSecurityConfiguration`
/// defaults do; a namespace's own label wins; a bad default is bad input.
#[test]
fn a_node_default_level_holds_namespaces_that_set_none() {
    let s = Session::new();
    let bad = s.wasmjob(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--pod-security-defaults",
        "enforce=strict",
    ]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains(
            "--pod-security-defaults: Invalid value: \"strict\": must be one of privileged, \
             baseline, restricted"
        ),
        "{bad:?}"
    );
    let server = Server::start(&s, &["--pod-security-defaults", "enforce=baseline"]);
    s.write(
        "host.yaml",
        &job_with_volume(&s, "host", "default", true, false),
    );
    let refused = s.client(&server, &["apply", "-f", "host.yaml"]);
    host_path_refused(&refused);
    // A namespace that says it is privileged takes it, and runs it.
    host_path_runs_in(&s, &server, "open", "privileged");
}

/// A Job that relays its instances (one slot runs the next the moment
/// one succeeds, from successors decided ahead) in a namespace labelled
/// while it runs starts none after the label: the successors its slots
/// held, up to 512 each, lapse as the pods Kubernetes would create after
/// the label are refused, and it says so.
#[test]
fn a_namespace_labelled_while_a_job_relays_starts_no_more_of_its_instances() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    ok(s.kubectl(&k, &["create", "namespace", "relayed"]));
    s.write(
        "relaying.yaml",
        &job_running(
            &s,
            ("relaying", "relayed"),
            true,
            "completions: 3000\nparallelism: 2",
            ("sleep-ms", "[\"100\"]"),
        ),
    );
    ok(s.kubectl(&k, &["apply", "-f", "relaying.yaml"]));
    let succeeded = || {
        let path = "jsonpath={.status.succeeded}";
        let got = ok(s.kubectl(&k, &["get", "job", "relaying", "-n", "relayed", "-o", path]));
        got.stdout.trim().parse::<u32>().unwrap_or(0)
    };
    wasmjob_tests::wait_until("the Job's first 20 instances", 60, || succeeded() >= 20);
    let before = succeeded();
    ok(s.kubectl(
        &k,
        &[
            "label",
            "namespace",
            "relayed",
            "pod-security.kubernetes.io/enforce=baseline",
        ],
    ));
    let events = || ok(s.kubectl(&k, &["get", "events", "-n", "relayed"])).stdout;
    wasmjob_tests::wait_until("the relaying Job's FailedCreate", 30, || {
        events().contains("FailedCreate")
    });
    let active = || {
        let path = "jsonpath={.status.active}";
        let got = ok(s.kubectl(&k, &["get", "job", "relaying", "-n", "relayed", "-o", path]));
        got.stdout.trim().parse::<u32>().unwrap_or(0)
    };
    wasmjob_tests::wait_until("the Job's last instances", 30, || active() == 0);
    // What ran when the node saw the label runs to its end (one instance
    // a slot, and those that started while kubectl stored the label, 20
    // a second); the successors reserved ahead (over a thousand) never
    // start.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = succeeded() - before;
    assert!(after <= 30, "{after} instances succeeded after the label");
    assert!(
        events().contains(
            "Error creating: pods is forbidden: violates PodSecurity \"baseline:latest\": \
             hostPath volumes (volume \"data\")"
        ),
        "{}",
        events()
    );
}

/// A Namespace `namespace` labelled `enforce: level`, applied with the
/// `host` Job mounting a host path in it, is taken and the Job completes.
fn host_path_runs_in(s: &Session, server: &Server, namespace: &str, level: &str) {
    let both = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n  labels:\n    \
         pod-security.kubernetes.io/enforce: {level}\n---\n{}",
        job_with_volume(s, "host", namespace, true, false)
    );
    let file = format!("{namespace}.yaml");
    s.write(&file, &both);
    let applied = s.client(server, &["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{applied:?}");
    s.wait_complete(server, "host", namespace);
}

/// kube-apiserver's AdmissionConfiguration with the PodSecurity plugin's
/// defaults and exemptions, `extra` added to the exemptions.
fn admission_configuration(enforce: &str, extra: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: {enforce}
      enforce-version: latest
    exemptions:
      namespaces: [ops]
{extra}"
    )
}

#[test]
fn an_admission_configuration_file_sets_defaults_and_exempts_namespaces() {
    let s = Session::new();
    let serve = |file: &str| {
        s.wasmjob(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admission-control-config-file",
            file,
        ])
    };
    // A bad file, a missing one, and the two ways of giving defaults at
    // once: exit 2, naming what is wrong.
    s.write("strict.yaml", &admission_configuration("strict", ""));
    let bad = serve("strict.yaml");
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains(
            "--admission-control-config-file strict.yaml: plugins[0].configuration.defaults: \
             Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        ),
        "{bad:?}"
    );
    let missing = serve("absent.yaml");
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("--admission-control-config-file absent.yaml:"),
        "{missing:?}"
    );
    let both = s.wasmjob(&[
        "serve",
        "--pod-security-defaults",
        "enforce=baseline",
        "--admission-control-config-file",
        "strict.yaml",
    ]);
    assert_eq!(both.code, 2, "{both:?}");

    let file = s.work.path().join("admission.yaml");
    let usernames = "      usernames: [ci-bot]\n";
    std::fs::write(&file, admission_configuration("baseline", usernames)).unwrap();
    let server = Server::start(
        &s,
        &["--admission-control-config-file", file.to_str().unwrap()],
    );
    // What means nothing here is said as the node starts.
    let log = s.serve_log();
    assert!(
        log.contains("exemptions.usernames (ci-bot): exempts nothing here"),
        "{log}"
    );
    // An unlabelled namespace has the file's default.
    s.write(
        "host.yaml",
        &job_with_volume(&s, "host", "default", true, false),
    );
    host_path_refused(&s.client(&server, &["apply", "-f", "host.yaml"]));
    // An exempt namespace takes a host path whatever its own label says,
    // and its instance starts.
    host_path_runs_in(&s, &server, "ops", "restricted");
}
