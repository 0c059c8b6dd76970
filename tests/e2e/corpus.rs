//! Real-world manifests (issue 30): every file of
//! `tests/fixtures/real-manifests/` is created on a node with each
//! `image:` replaced by a Wasm module and nothing else changed. The table
//! pins which are accepted, with which `Warning:` lines (by field), and
//! why the others are refused; at least 95% must be accepted.

use wasmjob_tests::{Server, Session, program, repo};

/// File, the refusal (or `None`: accepted), the fields warned about.
const EXPECTED: &[(&str, Option<&str>, &[&str])] = &[
    (
        "aws-node-termination-handler-daemonset.yaml",
        None,
        &[
            "dnsPolicy",
            "hostNetwork",
            "securityContext",
            "securityContext",
            "serviceAccountName",
        ],
    ),
    (
        "cert-manager-startupapicheck-job.yaml",
        None,
        &[
            "enableServiceLinks",
            "securityContext",
            "securityContext",
            "serviceAccountName",
        ],
    ),
    ("certbot-renew-cronjob.yaml", None, &[]),
    (
        "cluster-cleanup-cronjob.yaml",
        None,
        &["automountServiceAccountToken", "serviceAccountName"],
    ),
    (
        "datadog-agent-daemonset.yaml",
        None,
        &[
            "livenessProbe",
            "mountPropagation",
            "mountPropagation",
            "ports",
            "securityContext",
            "serviceAccountName",
        ],
    ),
    (
        "descheduler-cronjob.yaml",
        None,
        &["livenessProbe", "securityContext", "serviceAccountName"],
    ),
    ("elasticsearch-curator-cronjob.yaml", None, &[]),
    ("etcd-backup-cronjob.yaml", None, &["hostNetwork"]),
    (
        "fluent-bit-daemonset.yaml",
        None,
        &["ports", "serviceAccountName"],
    ),
    ("image-prepull-daemonset.yaml", None, &[]),
    (
        "ingress-nginx-admission-create.yaml",
        None,
        &["securityContext", "serviceAccountName"],
    ),
    (
        "ingress-nginx-admission-patch.yaml",
        None,
        &["securityContext", "serviceAccountName"],
    ),
    ("k8s-docs-cronjob-hello.yaml", None, &[]),
    ("k8s-docs-cronjob-timezone.yaml", None, &[]),
    ("k8s-docs-daemonset-fluentd.yaml", None, &[]),
    ("k8s-docs-daemonset-update.yaml", None, &[]),
    ("k8s-docs-job-backoff-per-index.yaml", None, &[]),
    ("k8s-docs-job-indexed-downward.yaml", None, &[]),
    ("k8s-docs-job-indexed.yaml", None, &[]),
    ("k8s-docs-job-pi.yaml", None, &[]),
    ("k8s-docs-job-pod-failure-policy.yaml", None, &[]),
    ("k8s-docs-job-sidecar.yaml", None, &[]),
    ("k8s-docs-job-success-policy.yaml", None, &[]),
    ("k8s-docs-job-template-expansion.yaml", None, &[]),
    ("k8s-docs-job-timeout.yaml", None, &[]),
    ("k8s-docs-job-ttl.yaml", None, &[]),
    ("k8s-docs-job-wq-rabbitmq.yaml", None, &[]),
    ("k8s-docs-job-wq-redis.yaml", None, &[]),
    ("kube-bench-job.yaml", None, &["hostPID"]),
    (
        "kube-proxy-daemonset.yaml",
        None,
        &["hostNetwork", "securityContext", "serviceAccountName"],
    ),
    ("kueue-sample-job.yaml", None, &[]),
    (
        "kured-daemonset.yaml",
        None,
        &["hostPID", "ports", "securityContext", "serviceAccountName"],
    ),
    ("logrotate-daemonset.yaml", None, &[]),
    (
        "longhorn-uninstall-job.yaml",
        None,
        &["securityContext", "serviceAccountName"],
    ),
    ("mysql-backup-cronjob.yaml", None, &[]),
    (
        "node-exporter-daemonset.yaml",
        None,
        &[
            "automountServiceAccountToken",
            "hostNetwork",
            "hostPID",
            "mountPropagation",
            "mountPropagation",
            "securityContext",
            "securityContext",
            "serviceAccountName",
        ],
    ),
    (
        "node-problem-detector-daemonset.yaml",
        None,
        &["securityContext", "serviceAccountName"],
    ),
    ("nvidia-cuda-vectoradd-job.yaml", None, &[]),
    (
        "nvidia-device-plugin-daemonset.yaml",
        None,
        &["securityContext"],
    ),
    (
        "postgres-backup-cronjob-v1beta1.yaml",
        None,
        &["deprecated"],
    ),
    ("postgres-backup-pvc-cronjob.yaml", None, &[]),
    (
        "promtail-daemonset.yaml",
        None,
        &[
            "enableServiceLinks",
            "ports",
            "readinessProbe",
            "securityContext",
            "securityContext",
            "serviceAccountName",
        ],
    ),
    ("rook-ceph-direct-mount-job.yaml", None, &[]),
];

/// The manifest with every `image:` a Wasm module.
fn wasm_images(text: &str, module: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            match trimmed.strip_prefix("image:") {
                Some(_) => {
                    let at = line.len() - trimmed.len();
                    format!("{}image: {module}", &line[..at])
                }
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The field a `Warning:` line is about (the last part of its path), or
/// `deprecated` for a retired API version.
fn warned_field(line: &str) -> String {
    if line.contains(" is deprecated in ") {
        return "deprecated".into();
    }
    // `Warning: PATH: ignored: WHY`, as kubectl prints the API server's.
    let path = line.split(": ").nth(1).unwrap_or(line);
    path.rsplit('.').next().unwrap_or(path).to_owned()
}

#[test]
fn real_manifests_are_accepted_with_warnings_and_every_refusal_says_why() {
    let dir = repo().join("tests/fixtures/real-manifests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(f, _, _)| *f).collect();
    assert_eq!(
        files, listed,
        "every file of the corpus has a row, and every row a file"
    );
    assert!(
        files.len() >= 40,
        "the corpus holds {} manifests",
        files.len()
    );

    let s = Session::new();
    let server = Server::start(&s, &[]);
    let module = program("say-hello").display().to_string();
    let mut accepted = 0;
    let mut wrong = Vec::new();
    for (file, refusal, warnings) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.starts_with("# Modelled on: "),
            "{file} names its source"
        );
        let path = s.write(&format!("corpus/{file}"), &wasm_images(&text, &module));
        let ran = s.client(&server, &["create", "-f", path.to_str().unwrap()]);
        let mut warned: Vec<String> = ran
            .stderr
            .lines()
            .filter(|l| l.starts_with("Warning: "))
            .map(warned_field)
            .collect();
        warned.sort();
        match refusal {
            None if ran.code == 0 => {
                accepted += 1;
                if warned != *warnings {
                    wrong.push(format!(
                        "{file}: warned about {warned:?}, expected {warnings:?}"
                    ));
                }
            }
            Some(why) if ran.code == 2 && ran.stderr.contains(why) => {}
            _ => wrong.push(format!("{file}: {ran:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let share = accepted as f64 / EXPECTED.len() as f64;
    println!(
        "{accepted} of {} real manifests accepted ({:.1}%)",
        EXPECTED.len(),
        share * 100.0
    );
    assert!(share >= 0.95, "{accepted} of {} accepted", EXPECTED.len());
}
