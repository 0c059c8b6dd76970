//! What the client's surface says and refuses: each verb's help, shell
//! completions, the fields Kubernetes has and a sandbox ignores (warnings,
//! `--strict`), `generateName`, and the `Warning` headers other clients see.

use super::*;

#[test]
fn each_verb_s_help_is_its_own_text_and_arguments() {
    // The verbs' arguments are defined only when the verb is used; the
    // help of each must still be the verb's text, with its arguments.
    let s = Session::new();
    for (verb, text, argument) in [
        (
            &["run"][..],
            "Run the Jobs of manifest files",
            "--max-log-size",
        ),
        (&["get"][..], "KIND: jobs, cronjobs (cj)", "--selector"),
        (
            &["apply"][..],
            "Create or update objects from files",
            "--set",
        ),
        (&["cron", "next"][..], "next fire times", "--count"),
        (
            &["queue", "push"][..],
            "Append items to queue NAME",
            "--file",
        ),
    ] {
        let mut args = verb.to_vec();
        args.push("--help");
        let ran = s.wasmjob(&args);
        assert_eq!(ran.code, 0, "{verb:?}: {ran:?}");
        assert!(ran.stdout.contains(text), "{verb:?}: {}", ran.stdout);
        assert!(ran.stdout.contains(argument), "{verb:?}: {}", ran.stdout);
        assert!(
            ran.stdout.contains("--state-dir"),
            "{verb:?}: {}",
            ran.stdout
        );
    }
}

#[test]
fn shell_completions_are_generated() {
    let s = Session::new();
    for shell in ["bash", "zsh", "fish"] {
        let ran = s.wasmjob(&["completions", shell]);
        assert_eq!(ran.code, 0, "{shell}");
        assert!(ran.stdout.contains("describe"), "{shell}");
    }
}

/// A manifest written for Kubernetes, with fields a Wasm sandbox ignores
/// (image pull policy, ports, a privileged security context, a service
/// account): applied with one `Warning:` line each and run without them;
/// with `--strict`, refused with exit 2 and nothing stored.
#[test]
fn kubernetes_only_fields_are_warnings_and_strict_makes_them_refusals() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let pod = "      serviceAccountName: backup\n";
    let yaml = job_yaml("k8s", &program("say-hello"), &[], "", pod).replace(
        "        image:",
        "        imagePullPolicy: Always\n        ports: [{containerPort: 8080}]\n        \
         securityContext: {privileged: true}\n        image:",
    );
    s.write("job.yaml", &yaml);
    let before = s.store_counts();
    let strict = s.client(&server, &["apply", "--strict", "-f", "job.yaml"]);
    assert_eq!(strict.code, 2, "{strict:?}");
    assert!(
        strict.stderr.contains(
            "job.yaml: document 1: spec.template.spec.serviceAccountName: ignored: a Wasm \
             instance gets no Kubernetes API credentials (refused: --strict)"
        ),
        "{}",
        strict.stderr
    );
    assert_eq!(s.store_counts(), before, "the store changed");

    let ran = s.client(&server, &["apply", "-f", "job.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let warnings: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("Warning: "))
        .collect();
    // imagePullPolicy is a field wasmjob keeps (for registry images).
    assert_eq!(warnings.len(), 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "Warning: spec.template.spec.containers[0].securityContext: ignored: asks for more \
             than the Wasm sandbox grants: the instance runs without it"
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.contains("job.batch/k8s created"), "{ran:?}");
    let job = s.wait_finished(&server, "k8s");
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
}

/// `metadata.generateName`: `create -f` makes a new Job each time, named
/// from the prefix; `apply -f` refuses it (exit 2, nothing stored), as
/// kubectl does.
#[test]
fn generate_name_makes_a_new_job_with_create_and_is_refused_by_apply() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let yaml = job_yaml("x", &program("say-hello"), &[], "", "")
        .replace("  name: x", "  generateName: hello-");
    s.write("job.yaml", &yaml);
    let before = s.store_counts();
    let applied = s.client(&server, &["apply", "-f", "job.yaml"]);
    assert_eq!(applied.code, 2, "{applied:?}");
    assert!(
        applied
            .stderr
            .contains("job.yaml: document 1: metadata.generateName: cannot be used with apply"),
        "{}",
        applied.stderr
    );
    assert_eq!(s.store_counts(), before, "the store changed");
    let mut names = Vec::new();
    for _ in 0..2 {
        let created = s.client(&server, &["create", "-f", "job.yaml"]);
        assert_eq!(created.code, 0, "{created:?}");
        let line = created.stdout.trim();
        let name = line
            .strip_prefix("job.batch/")
            .and_then(|rest| rest.strip_suffix(" created"))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(name.starts_with("hello-") && name.len() == 11, "{name}");
        names.push(name.to_owned());
    }
    assert_ne!(names[0], names[1]);
    for name in &names {
        let job = s.wait_finished(&server, name);
        assert_eq!(job["status"]["succeeded"], 1, "{job}");
    }
}

/// A client that sends a Kubernetes manifest as it is (not `wasmjob`,
/// which takes the ignored fields out and warns itself) gets the warnings
/// in `Warning` headers, as the API server sends them; a node started with
/// `--strict` refuses such manifests, whoever sends them.
#[test]
fn the_node_warns_other_clients_in_headers_and_refuses_ignored_fields_when_strict() {
    use sha2::Digest as _;
    let s = Session::new();
    // Plain HTTP: the test speaks to the API itself.
    let server = Server::start(&s, &["--plain-http"]);
    let bytes = std::fs::read(program("say-hello")).unwrap();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
    let body = serde_json::json!({
        "objects": [{
            "source": {"file": "raw.json", "document": 1},
            "object": {
                "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "raw"},
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": digest,
                                    "securityContext": {"runAsUser": 1000}}]
                }}}
            }
        }],
        "modules": [{"digest": digest, "bytes": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)}]
    });
    let token = crate::api::token(&s);
    let text = crate::api::request_text(
        &server,
        Some(&token),
        "POST",
        "/wasmjob/v1/apply",
        body.to_string().as_bytes(),
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains(
            "warning: 299 - \"spec.template.spec.containers[0].securitycontext: ignored: the wasm sandbox is the security context"
        ),
        "{text}"
    );
    drop(server);

    let strict = Session::new();
    let server = Server::start(&strict, &["--strict"]);
    let yaml = job_yaml(
        "k8s",
        &program("say-hello"),
        &[],
        "",
        "      serviceAccountName: backup\n",
    );
    strict.write("job.yaml", &yaml);
    let ran = strict.client(&server, &["apply", "-f", "job.yaml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains(
            "job.yaml: document 1: spec.template.spec.serviceAccountName: ignored: a Wasm \
             instance gets no Kubernetes API credentials (refused: this node runs with --strict)"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(strict.store_counts().0, 0);
}
