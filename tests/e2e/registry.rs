//! Modules from OCI registries (issue 33), against a real registry
//! (Debian's `docker-registry`): `wasmjob push` and `pull`, a Job run by
//! tag, its digest pinned at apply so a moved tag changes nothing it runs
//! (and runs on after the registry goes away and the node restarts),
//! the pinned reference as the instance's `imageID`, a missing tag
//! refused by `run` with Kubernetes' reason, and a Job applied with a
//! missing tag waiting in `ErrImagePull`/`ImagePullBackOff` until it is
//! pushed.

use wasmjob_tests::{Registry, Server, Session, dist, job_yaml, program};

/// `wasmjob push` of hello.wasm to `reference`, which must succeed; what
/// it printed (the pinned reference).
pub(super) fn push_hello(s: &Session, reference: &str) -> String {
    let hello = dist("hello.wasm").display().to_string();
    let pushed = s.wasmjob(&["push", &hello, reference]);
    assert_eq!(pushed.code, 0, "{pushed:?}");
    pushed.stdout.trim().to_owned()
}

#[test]
fn a_job_runs_a_pushed_module_by_tag_pinned_to_its_digest() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    let reference = format!("{}/demo/hello:1.0", registry.address);
    let pinned = push_hello(&s, &reference);
    assert!(
        pinned.starts_with(&format!("{reference}@sha256:")),
        "{pinned}"
    );
    // Pulled back, the same bytes.
    let out = s.write("pulled.wasm", "");
    let pulled = s.wasmjob(&["pull", &reference, "-o", &out.display().to_string()]);
    assert_eq!(pulled.code, 0, "{pulled:?}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(dist("hello.wasm")).unwrap()
    );

    // `run` pulls by tag.
    let image = std::path::Path::new(&reference);
    s.write("job.yaml", &job_yaml("by-tag", image, &[], "", ""));
    let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("Hello from wasmjob"), "{}", ran.stdout);

    // Under serve: a CronJob applied by tag keeps running the digest it was
    // applied with after the tag moves to another module.
    let server = Server::start(&s, &[]);
    let cron = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick\nspec:\n  schedule: \
         \"* * * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          \
         containers:\n          - name: main\n            image: {reference}\n          \
         restartPolicy: Never\n"
    );
    s.write("cron.yaml", &cron);
    let applied = s.client(&server, &["apply", "-f", "cron.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let other = program("say-hello").display().to_string();
    let moved = s.wasmjob(&["push", &other, &reference]);
    assert_eq!(moved.code, 0, "{moved:?}");
    assert_ne!(
        moved.stdout.trim(),
        pinned,
        "the tag now names another module"
    );
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let instances = s.client(&server, &["get", "instances", "-o", "json"]);
    let items = instances.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(items.len() >= 2, "{instances:?}");
    for item in &items {
        assert_eq!(
            item["spec"]["containers"][0]["imageID"], pinned,
            "every run is the digest applied: {item}"
        );
    }
    let job = items[0]["metadata"]["labels"]["job-name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let job_logs = s.client(&server, &["logs", &format!("job/{job}")]);
    assert!(
        job_logs.stdout.contains("Hello from wasmjob"),
        "{job_logs:?}"
    );

    // The registry goes away and the node restarts offline: the CronJob
    // goes on running its pinned module, from the node's own store.
    drop(registry);
    let name = |i: &serde_json::Value| i["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let listed = s.client(&server, &["get", "instances", "-o", "json"]);
    let before: Vec<String> = (listed.json()["items"].as_array().into_iter().flatten())
        .map(name)
        .collect();
    assert_eq!(server.terminate(), 0);
    let server = Server::start(&s, &[]);
    let ran = instance_where(&s, &server, |i| {
        i["status"]["phase"] == "Succeeded" && !before.contains(&name(i))
    });
    assert_eq!(ran["spec"]["containers"][0]["imageID"], pinned, "{ran}");
}

#[test]
fn a_missing_image_or_a_bad_reference_is_refused_with_kubernetes_reason() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    let missing = format!("{}/demo/missing:1.0", registry.address);
    s.write(
        "job.yaml",
        &job_yaml("gone", std::path::Path::new(&missing), &[], "", ""),
    );
    let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
    assert_ne!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr.contains(&format!(
            "spec.template.spec.containers[0].image: ErrImagePull: {missing}:"
        )) && ran.stderr.contains("manifest unknown"),
        "{}",
        ran.stderr
    );
    let bad = s.wasmjob(&["pull", "Demo/Bad:Tag!"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("InvalidImageName: \"Demo/Bad:Tag!\""),
        "{}",
        bad.stderr
    );
    let not_wasm = s.write("text.txt", "plain text, not Wasm");
    let refused = s.wasmjob(&["push", &not_wasm.display().to_string(), &missing]);
    assert_eq!(refused.code, 2, "{refused:?}");
}

/// Polls `describe job NAME` until it says `text`; what it said.
fn describe_until(s: &Session, server: &Server, job: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let described = s.client(server, &["describe", "job", job]);
        if described.stdout.contains(text) {
            return described.stdout;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "describe job {job} never said {text:?}: {described:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_job_applied_with_a_missing_tag_backs_off_and_runs_once_it_is_pushed() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let reference = format!("{}/demo/later:1.0", registry.address);
    let image = std::path::Path::new(&reference);
    s.write("job.yaml", &job_yaml("later", image, &[], "", ""));
    let applied = s.client(&server, &["apply", "-f", "job.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(applied.stdout, "job.batch/later created\n");
    assert!(
        applied.stderr.contains(&format!(
            "Warning: job.yaml: document 1: spec.template.spec.containers[0].image: \
             ErrImagePull: {reference}: "
        )) && applied
            .stderr
            .contains("the node tries again with back-off"),
        "{}",
        applied.stderr
    );
    // The node's own pull fails too: Kubernetes' reasons, the registry's
    // message, the back-off's first 10 s.
    let described = describe_until(&s, &server, "later", "ImagePullBackOff");
    assert!(
        described.contains(&format!("Pulling image \"{reference}\""))
            && described.contains("ErrImagePull")
            && described.contains("manifest unknown")
            && described.contains(&format!(
                "Back-off pulling image \"{reference}\": next try in 10s"
            )),
        "{described}"
    );
    let listed = s.client(&server, &["get", "jobs"]);
    assert!(listed.stdout.contains("ErrImagePull"), "{listed:?}");
    // Re-applied unchanged while it waits: nothing changes.
    let again = s.client(&server, &["apply", "-f", "job.yaml"]);
    assert_eq!(again.stdout, "job.batch/later unchanged\n", "{again:?}");
    // A waiting Job deleted stops waiting.
    s.write("gone.yaml", &job_yaml("gone", image, &[], "", ""));
    assert_eq!(s.client(&server, &["apply", "-f", "gone.yaml"]).code, 0);
    let deleted = s.client(&server, &["delete", "job", "gone"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");

    // kubectl's apply is told the same, by a `Warning` header.
    let kubectl = wasmjob_tests::tool("kubectl", "WASMJOB_KUBECTL");
    if let Some(kubectl) = &kubectl {
        s.write("kube.yaml", &job_yaml("via-kubectl", image, &[], "", ""));
        let applied = s.kubectl(kubectl, &["apply", "-f", "kube.yaml"]);
        assert_eq!(applied.code, 0, "{applied:?}");
        assert!(
            applied.stderr.contains("Warning: ")
                && applied
                    .stderr
                    .contains(&format!("ErrImagePull: {reference}")),
            "{applied:?}"
        );
    }

    // The node restarts while the Jobs wait; then the tag is pushed: the
    // restarted node pulls at once, pins the digest and runs them.
    assert_eq!(server.terminate(), 0);
    let pinned = push_hello(&s, &reference);
    let server = Server::start(&s, &[]);
    let done = s.wait_finished(&server, "later");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    let described = describe_until(&s, &server, "later", "Successfully pulled");
    assert!(
        described.contains(&format!("Successfully pulled image \"{pinned}\"")),
        "{described}"
    );
    let instances = s.client(&server, &["get", "instances", "-o", "json"]);
    let items = instances.json()["items"].clone();
    assert_eq!(
        items[0]["spec"]["containers"][0]["imageID"], pinned,
        "{instances:?}"
    );
    let logs = s.client(&server, &["logs", "job/later"]);
    assert!(logs.stdout.contains("Hello from wasmjob"), "{logs:?}");
    if kubectl.is_some() {
        let done = s.wait_finished(&server, "via-kubectl");
        assert_eq!(done["status"]["succeeded"], 1, "{done}");
    }
    let gone = s.client(&server, &["get", "jobs", "gone"]);
    assert_ne!(gone.code, 0, "{gone:?}");
}

/// Polls `get instances -o json` until one is `wanted`; that instance.
fn instance_where(
    s: &Session,
    server: &Server,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let listed = s.client(server, &["get", "instances", "-o", "json"]);
        let items = listed.json()["items"].as_array().cloned();
        if let Some(found) = items.unwrap_or_default().into_iter().find(&wanted) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such instance: {listed:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The first instance that ran `image_id` and succeeded.
fn instance_of(s: &Session, server: &Server, image_id: &str) -> serde_json::Value {
    instance_where(s, server, |i| {
        i["spec"]["containers"][0]["imageID"] == image_id && i["status"]["phase"] == "Succeeded"
    })
}

#[test]
fn a_cron_job_pulled_always_resolves_its_tag_again_for_each_run() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    // `:latest` is pulled Always by default.
    let reference = format!("{}/demo/tick:latest", registry.address);
    let first = push_hello(&s, &reference);
    let server = Server::start(&s, &[]);
    let cron = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick\nspec:\n  schedule: \
         \"* * * * * *\"\n  concurrencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      \
         template:\n        spec:\n          containers:\n          - name: main\n            \
         image: {reference}\n          restartPolicy: Never\n"
    );
    s.write("cron.yaml", &cron);
    let applied = s.client(&server, &["apply", "-f", "cron.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    instance_of(&s, &server, &first);
    // The tag moves: a later run pulls it again and runs the new digest.
    let other = program("say-hello").display().to_string();
    let moved = s.wasmjob(&["push", &other, &reference]);
    assert_eq!(moved.code, 0, "{moved:?}");
    let second = moved.stdout.trim().to_owned();
    assert_ne!(second, first);
    let ran = instance_of(&s, &server, &second);
    let job = ran["metadata"]["labels"]["job-name"]
        .as_str()
        .unwrap_or_default();
    let described = describe_until(&s, &server, job, "Successfully pulled");
    assert!(
        described.contains(&format!("Successfully pulled image \"{second}\"")),
        "{described}"
    );
}

#[test]
fn if_not_present_asks_once_and_the_cache_runs_offline() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    let reference = format!("{}/demo/cached:1.0", registry.address);
    push_hello(&s, &reference);
    let image = std::path::Path::new(&reference);
    s.write("job.yaml", &job_yaml("cached", image, &[], "", ""));
    let before = registry.manifest_requests("demo/cached");
    assert_eq!(s.wasmjob(&["run", "-f", "job.yaml"]).code, 0);
    let first = registry.manifest_requests("demo/cached");
    assert!(first > before, "the first run asks the registry");
    s.write("again.yaml", &job_yaml("again", image, &[], "", ""));
    assert_eq!(s.wasmjob(&["run", "-f", "again.yaml"]).code, 0);
    assert_eq!(
        registry.manifest_requests("demo/cached"),
        first,
        "IfNotPresent (the default for a tag) asks nothing the second time"
    );
    let listed = s.wasmjob(&["images"]);
    assert!(
        listed.stdout.starts_with("REFERENCE") && listed.stdout.contains(&reference),
        "{listed:?}"
    );
    // A module pulled alone is used by no object: prune removes it only.
    let unused = format!("{}/demo/unused:1.0", registry.address);
    let other = program("say-hello").display().to_string();
    assert_eq!(s.wasmjob(&["push", &other, &unused]).code, 0);
    let out = s.write("unused.wasm", "");
    assert_eq!(
        s.wasmjob(&["pull", &unused, "-o", &out.display().to_string()])
            .code,
        0
    );

    // The registry goes away: what the cache has still runs; Always fails.
    drop(registry);
    s.write("offline.yaml", &job_yaml("offline", image, &[], "", ""));
    let offline = s.wasmjob(&["run", "-f", "offline.yaml"]);
    assert_eq!(offline.code, 0, "{offline:?}");
    assert!(
        offline.stdout.contains("Hello from wasmjob"),
        "{}",
        offline.stdout
    );
    let always = job_yaml("always", image, &[], "", "").replace(
        "        args: []\n",
        "        args: []\n        imagePullPolicy: Always\n",
    );
    s.write("always.yaml", &always);
    let refused = s.wasmjob(&["run", "-f", "always.yaml"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stderr.contains("ErrImagePull: "),
        "{}",
        refused.stderr
    );
    let never = job_yaml(
        "never",
        std::path::Path::new("127.0.0.1:1/demo/none:1.0"),
        &[],
        "",
        "",
    )
    .replace(
        "        args: []\n",
        "        args: []\n        imagePullPolicy: Never\n",
    );
    s.write("never.yaml", &never);
    let refused = s.wasmjob(&["run", "-f", "never.yaml"]);
    assert!(
        refused
            .stderr
            .contains("ErrImageNeverPull: 127.0.0.1:1/demo/none:1.0 is not on this machine"),
        "{}",
        refused.stderr
    );
    let pruned = s.wasmjob(&["images", "prune"]);
    assert_eq!(
        pruned.stdout,
        format!("deleted {unused}\n1 removed\n"),
        "{pruned:?}"
    );
    let listed = s.wasmjob(&["images"]);
    assert!(
        listed.stdout.contains(&reference) && !listed.stdout.contains(&unused),
        "{listed:?}"
    );
}

/// Writes the session's Docker config as `docker login` would.
fn login(s: &Session, registry: &str, user: &str, password: &str) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let dir = s.state.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

#[test]
fn a_registry_with_a_login_takes_the_docker_config_and_names_what_it_refused() {
    let Some(registry) = Registry::with_login("alice", "s3cret-pa55") else {
        return;
    };
    let s = Session::new();
    let reference = format!("{}/team/hello:2.0", registry.address);
    let hello = dist("hello.wasm").display().to_string();
    let anonymous = s.wasmjob(&["push", &hello, &reference]);
    assert_eq!(anonymous.code, 1, "{anonymous:?}");
    assert!(
        anonymous.stderr.contains(&format!(
            "{reference}: the registry refused access with no credentials (anonymous); \
             log in with `docker login {}`",
            registry.address
        )),
        "{}",
        anonymous.stderr
    );
    login(&s, &registry.address, "alice", "wrong-password");
    let wrong = s.wasmjob(&["pull", &reference]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong
            .stderr
            .contains("the credentials of user \"alice\" from ")
            && !wrong.stderr.contains("wrong-password"),
        "{}",
        wrong.stderr
    );
    login(&s, &registry.address, "alice", "s3cret-pa55");
    push_hello(&s, &reference);
    let image = std::path::Path::new(&reference);
    s.write("job.yaml", &job_yaml("private", image, &[], "", ""));
    let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(!ran.stdout.contains("s3cret") && !ran.stderr.contains("s3cret"));
}

#[test]
fn image_pull_secrets_of_the_namespace_pull_with_their_credentials() {
    let Some(registry) = Registry::with_login("bob", "pull-only-pw") else {
        return;
    };
    let s = Session::new();
    let reference = format!("{}/team/private:1.0", registry.address);
    login(&s, &registry.address, "bob", "pull-only-pw");
    push_hello(&s, &reference);
    // From now on the only credentials are the Secret's.
    std::fs::remove_file(s.state.path().join("docker/config.json")).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:pull-only-pw");
    let config = serde_json::json!({"auths": {&registry.address: {"auth": auth}}});
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: \
         kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{config}'\n"
    );
    let image = std::path::Path::new(&reference);
    let pod = "      imagePullSecrets:\n      - name: regcred\n";
    let job = |name: &str| job_yaml(name, image, &[], "", pod);
    // With `run`, the Secret comes in the same file.
    s.write("both.yaml", &format!("{secret}---\n{}", job("with-secret")));
    let ran = s.wasmjob(&["run", "-f", "both.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("Hello from wasmjob"), "{}", ran.stdout);
    // Without the Secret, the pull is anonymous and refused.
    // (Always: the cache has the module, which IfNotPresent would take.)
    let always = "        args: []\n        imagePullPolicy: Always\n";
    s.write(
        "alone.yaml",
        &job("alone").replace("        args: []\n", always),
    );
    let refused = s.wasmjob(&["run", "-f", "alone.yaml"]);
    assert!(
        refused.stderr.contains("no credentials (anonymous)"),
        "{refused:?}"
    );
    // Under serve, a Secret applied earlier is the node's: `apply` asks
    // the server for it.
    let server = Server::start(&s, &[]);
    s.write("secret.yaml", &secret);
    assert_eq!(s.client(&server, &["apply", "-f", "secret.yaml"]).code, 0);
    let applied = s.client(&server, &["apply", "-f", "alone.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let done = s.wait_finished(&server, "alone");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    // kubectl sends the Job alone: the node pulls, with its Secret.
    let Some(kubectl) = wasmjob_tests::tool("kubectl", "WASMJOB_KUBECTL") else {
        return;
    };
    s.write(
        "kube.yaml",
        &job("via-kubectl").replace("        args: []\n", always),
    );
    let applied = s.kubectl(&kubectl, &["apply", "-f", "kube.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let done = s.wait_finished(&server, "via-kubectl");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
}
