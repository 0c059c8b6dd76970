//! Who may do what (issue 37): ServiceAccounts, tokens from the
//! TokenRequest API, and RBAC's Roles and bindings, driven by real
//! `kubectl` and wasmjob's own CLI against a real node.

use super::*;

/// `kubectl ARGS…` as the holder of `token` (the session's kubeconfig for
/// the server and CA, the token instead of its admin's).
fn kubectl_as(s: &Session, k: &Path, token: &str, args: &[&str]) -> Ran {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    s.kubectl(k, &all)
}

/// `wasmjob ARGS…` against `server` as the holder of `token`.
fn wasmjob_as(s: &Session, server: &Server, token: &str, args: &[&str]) -> Ran {
    let output = Command::new(wasmjob_tests::binary())
        .args(args)
        .env("WASMJOB_HOME", s.state.path())
        .env("WASMJOB_SERVER", &server.address)
        .env("WASMJOB_TOKEN", token)
        .env_remove("RUST_LOG")
        .current_dir(s.work.path())
        .output()
        .expect("running wasmjob");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn forbidden(ran: &Ran, wanted: &str) {
    assert_eq!(ran.code, 1, "{ran:?}");
    // kubectl puts `error when creating "FILE": ` between the two.
    assert!(
        ran.stderr.contains("Error from server (Forbidden): ") && ran.stderr.contains(wanted),
        "{ran:?}"
    );
}

#[test]
fn a_view_token_reads_its_namespace_only_an_edit_token_writes_and_deleting_the_account_revokes() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    for args in [
        &["create", "namespace", "team"][..],
        &["create", "serviceaccount", "viewer", "-n", "team"],
        &["create", "serviceaccount", "editor", "-n", "team"],
        &[
            "create",
            "rolebinding",
            "viewer",
            "--clusterrole=view",
            "--serviceaccount=team:viewer",
            "-n",
            "team",
        ],
        &[
            "create",
            "rolebinding",
            "editor",
            "--clusterrole=edit",
            "--serviceaccount=team:editor",
            "-n",
            "team",
        ],
        &[
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=hunter2",
            "-n",
            "team",
        ],
    ] {
        ok(s.kubectl(&k, args));
    }
    let hello = program("say-hello");
    s.write("pi.yaml", &job("pi", &hello, "app: pi", ""));
    ok(s.kubectl(&k, &["apply", "-f", "pi.yaml", "-n", "team"]));
    ok(s.kubectl(&k, &["apply", "-f", "pi.yaml", "-n", "other"]));
    let listed = ok(s.kubectl(&k, &["get", "rolebindings", "-n", "team"]));
    assert!(listed.stdout.contains("ClusterRole/view"), "{listed:?}");
    let roles = ok(s.kubectl(&k, &["get", "clusterroles", "-o", "name"]));
    for name in ["admin", "cluster-admin", "edit", "view"] {
        assert!(
            roles
                .stdout
                .contains(&format!("clusterrole.rbac.authorization.k8s.io/{name}\n"))
        );
    }

    // A token is at least ten minutes, as in Kubernetes.
    let short = s.kubectl(
        &k,
        &[
            "create",
            "token",
            "viewer",
            "-n",
            "team",
            "--duration",
            "5m",
        ],
    );
    assert!(
        short
            .stderr
            .contains("may not specify a duration less than 10 minutes"),
        "{short:?}"
    );
    let viewer = ok(s.kubectl(&k, &["create", "token", "viewer", "-n", "team"]))
        .stdout
        .trim()
        .to_owned();

    // view: reads Jobs and logs of its namespace…
    let jobs = ok(kubectl_as(
        &s,
        &k,
        &viewer,
        &["get", "jobs", "-n", "team", "-o", "name"],
    ));
    assert_eq!(jobs.stdout, "job.batch/pi\n");
    let whoami = ok(kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "whoami", "-o", "json"],
    ));
    assert_eq!(
        whoami.json()["status"]["userInfo"]["username"],
        "system:serviceaccount:team:viewer"
    );
    // …and nothing of another namespace, no Secret, no delete.
    forbidden(
        &kubectl_as(&s, &k, &viewer, &["get", "jobs", "-n", "other"]),
        "jobs.batch is forbidden: User \"system:serviceaccount:team:viewer\" cannot list \
         resource \"jobs\" in API group \"batch\" in the namespace \"other\"",
    );
    let secret = kubectl_as(
        &s,
        &k,
        &viewer,
        &["get", "secret", "db", "-n", "team", "-o", "yaml"],
    );
    forbidden(&secret, "secrets \"db\" is forbidden");
    assert!(!secret.stdout.contains("aHVudGVyMg"), "{secret:?}");
    forbidden(
        &kubectl_as(&s, &k, &viewer, &["delete", "job", "pi", "-n", "team"]),
        "jobs.batch \"pi\" is forbidden: User \"system:serviceaccount:team:viewer\" cannot \
         delete resource \"jobs\" in API group \"batch\" in the namespace \"team\"",
    );
    forbidden(
        &kubectl_as(&s, &k, &viewer, &["label", "node", "--all", "x=y"]),
        "nodes",
    );
    ok(s.kubectl(&k, &["get", "job", "pi", "-n", "team"]));

    // can-i answers from the same rules.
    let yes = kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "can-i", "list", "jobs", "-n", "team"],
    );
    assert_eq!((yes.code, yes.stdout.trim()), (0, "yes"), "{yes:?}");
    let no = kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "can-i", "delete", "jobs", "-n", "team"],
    );
    assert_eq!((no.code, no.stdout.trim()), (1, "no"), "{no:?}");
    let list = ok(kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "can-i", "--list", "-n", "team"],
    ));
    let jobs_line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("jobs.batch "))
        .unwrap_or_else(|| panic!("{list:?}"));
    assert!(jobs_line.contains("[get list watch]"), "{jobs_line}");
    assert!(!list.stdout.contains("secrets "), "{list:?}");
    let elsewhere = ok(kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "can-i", "--list", "-n", "other"],
    ));
    assert!(!elsewhere.stdout.contains("jobs.batch"), "{elsewhere:?}");

    // wasmjob's own CLI obeys the same rules.
    let own = wasmjob_as(&s, &server, &viewer, &["get", "jobs", "-n", "team"]);
    assert_eq!(own.code, 0, "{own:?}");
    assert!(own.stdout.contains("pi"), "{own:?}");
    forbidden(
        &wasmjob_as(&s, &server, &viewer, &["get", "jobs", "-n", "other"]),
        "jobs.batch is forbidden",
    );
    let in_team = job("pi2", &hello, "app: pi", "")
        .replace("  name: pi2\n", "  name: pi2\n  namespace: team\n");
    s.write("pi2.yaml", &in_team);
    let apply = wasmjob_as(&s, &server, &viewer, &["apply", "-f", "pi2.yaml"]);
    assert_ne!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stderr.contains("cannot create resource \"jobs\""),
        "{apply:?}"
    );

    // edit: a kubeconfig of its own (0600) with which kubectl creates a Job.
    let file = s.work.path().join("editor.kubeconfig");
    let made = s.client(
        &server,
        &[
            "create",
            "token",
            "editor",
            "-n",
            "team",
            "--write-kubeconfig",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(made.code, 0, "{made:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    s.write("edit.yaml", &job("edited", &hello, "app: e", ""));
    let created = ok(s.kubectl(
        &k,
        &[
            "--kubeconfig",
            file.to_str().unwrap(),
            "create",
            "-f",
            "edit.yaml",
        ],
    ));
    assert!(
        created.stdout.contains("job.batch/edited created"),
        "{created:?}"
    );
    let theirs = ok(s.kubectl(&k, &["get", "job", "edited", "-n", "team", "-o", "name"]));
    assert_eq!(theirs.stdout, "job.batch/edited\n");
    forbidden(
        &s.kubectl(
            &k,
            &[
                "--kubeconfig",
                file.to_str().unwrap(),
                "create",
                "-f",
                "edit.yaml",
                "-n",
                "other",
            ],
        ),
        "jobs.batch is forbidden",
    );

    // A namespace's admin grants what it holds there, and no more.
    ok(s.kubectl(&k, &["create", "serviceaccount", "boss", "-n", "team"]));
    ok(s.kubectl(
        &k,
        &[
            "create",
            "rolebinding",
            "boss",
            "--clusterrole=admin",
            "--serviceaccount=team:boss",
            "-n",
            "team",
        ],
    ));
    let boss = ok(s.kubectl(&k, &["create", "token", "boss", "-n", "team"]))
        .stdout
        .trim()
        .to_owned();
    let grant = |role: &str, name: &str| {
        kubectl_as(
            &s,
            &k,
            &boss,
            &[
                "create",
                "rolebinding",
                name,
                &format!("--clusterrole={role}"),
                "--serviceaccount=team:viewer",
                "-n",
                "team",
            ],
        )
    };
    let escalating = grant("cluster-admin", "all");
    assert_eq!(escalating.code, 1, "{escalating:?}");
    assert!(
        escalating
            .stderr
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{escalating:?}"
    );
    ok(grant("edit", "more"));
    let now = kubectl_as(
        &s,
        &k,
        &viewer,
        &["auth", "can-i", "delete", "jobs", "-n", "team"],
    );
    assert_eq!(now.stdout.trim(), "yes", "{now:?}");

    // Deleting the account revokes its tokens at once.
    ok(s.kubectl(&k, &["delete", "serviceaccount", "viewer", "-n", "team"]));
    let revoked = kubectl_as(&s, &k, &viewer, &["get", "jobs", "-n", "team"]);
    assert_eq!(revoked.code, 1, "{revoked:?}");
    assert!(
        revoked.stderr.contains("You must be logged in"),
        "{revoked:?}"
    );
    // wasmjob's CLI says why.
    let why = wasmjob_as(&s, &server, &viewer, &["get", "jobs", "-n", "team"]);
    assert_eq!(why.code, 1, "{why:?}");
    assert!(
        why.stderr
            .contains("ServiceAccount team/viewer no longer exists"),
        "{why:?}"
    );
    // A token nobody made is no one's.
    let forged = kubectl_as(&s, &k, "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", &["get", "jobs"]);
    assert_eq!(forged.code, 1, "{forged:?}");

    // The audit log has each change and each refusal, with its user, and
    // never the Secret's value.
    let log = std::fs::read_to_string(s.state.path().join("audit/audit.log")).unwrap();
    assert!(!log.contains("hunter2") && !log.contains("aHVudGVyMg"));
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |user: &str, verb: &str, code: u16, resource: &str| {
        events.iter().any(|e| {
            e["apiVersion"] == "audit.k8s.io/v1"
                && e["user"]["username"] == user
                && e["verb"] == verb
                && e["responseStatus"]["code"] == code
                && e["objectRef"]["resource"] == resource
        })
    };
    assert!(
        find("wasmjob-admin", "create", 201, "rolebindings"),
        "{log}"
    );
    assert!(find("wasmjob-admin", "create", 201, "secrets"), "{log}");
    let viewer_user = "system:serviceaccount:team:viewer";
    assert!(find(viewer_user, "delete", 403, "jobs"), "{log}");
    assert!(find(viewer_user, "list", 403, "jobs"), "{log}");
    assert!(
        find("system:serviceaccount:team:editor", "create", 201, "jobs"),
        "{log}"
    );
    assert!(find("system:anonymous", "list", 401, "jobs"), "{log}");
    // Reads that were allowed are not recorded by the default policy.
    assert!(!find(viewer_user, "list", 200, "jobs"), "{log}");
}

#[test]
fn access_objects_with_kubernetes_mistakes_are_refused_with_the_field() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    s.write(
        "binding.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Secret, name: view}
subjects: [{kind: ServiceAccount, name: viewer}]
",
    );
    let bad = s.kubectl(&k, &["apply", "-f", "binding.yaml"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("roleRef.kind"), "{bad:?}");
    s.write(
        "role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules: [{apiGroups: [batch], resources: [jobs]}]
",
    );
    let bad = s.kubectl(&k, &["apply", "-f", "role.yaml"]);
    assert!(bad.stderr.contains("rules[0].verbs"), "{bad:?}");
    let none = ok(s.kubectl(&k, &["get", "roles,rolebindings", "-A", "-o", "name"]));
    assert_eq!(none.stdout, "", "nothing stored: {none:?}");
    // A binding's role is its for life.
    ok(s.kubectl(
        &k,
        &[
            "create",
            "rolebinding",
            "v",
            "--clusterrole=view",
            "--user=ana",
        ],
    ));
    let changed = s.kubectl(
        &k,
        &[
            "patch",
            "rolebinding",
            "v",
            "--type=merge",
            "-p",
            r#"{"roleRef":{"name":"edit"}}"#,
        ],
    );
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(
        changed.stderr.contains("cannot change roleRef"),
        "{changed:?}"
    );
}

#[test]
fn an_audit_policy_sets_what_is_recorded_and_a_bad_one_stops_serve() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    s.write(
        "bad.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n",
    );
    let bad = s.wasmjob(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--audit-policy-file",
        "bad.yaml",
    ]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .contains("--audit-policy-file bad.yaml: rules[0].level: unknown variant `Loud`"),
        "{bad:?}"
    );
    let policy = s.write(
        "policy.yaml",
        "apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Request
  resources: [{group: batch, resources: [jobs]}]
- level: RequestResponse
  resources: [{group: '', resources: [secrets]}, {group: batch, resources: [cronjobs]}]
- level: None
",
    );
    let log = s.work.path().join("audit.jsonl");
    let _server = Server::start(
        &s,
        &[
            "--audit-policy-file",
            policy.to_str().unwrap(),
            "--audit-log-path",
            log.to_str().unwrap(),
        ],
    );
    s.write("pi.yaml", &job("pi", &program("say-hello"), "app: pi", ""));
    ok(s.kubectl(&k, &["create", "-f", "pi.yaml"]));
    ok(s.kubectl(
        &k,
        &[
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=hunter2",
        ],
    ));
    ok(s.kubectl(&k, &["get", "configmaps"]));
    let image = format!("--image={}", program("say-hello").display());
    ok(s.kubectl(
        &k,
        &["create", "cronjob", "tick", &image, "--schedule=0 0 1 1 *"],
    ));
    ok(s.kubectl(&k, &["get", "secret", "db", "-o", "json"]));
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The Job's body is recorded (kubectl sends JSON for it), a read of
    // another resource is not, the Secret's body never.
    let created = events
        .iter()
        .find(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "jobs")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(created["level"], "Request");
    assert_eq!(created["requestObject"]["metadata"]["name"], "pi");
    assert_eq!(created["sourceIPs"][0], "127.0.0.1");
    let secret = events
        .iter()
        .find(|e| e["objectRef"]["resource"] == "secrets")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(secret.get("requestObject").is_none());
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg"));
    // At RequestResponse the answer is recorded too: the CronJob as stored,
    // with the uid it was given; a Secret's answer never.
    let cron = events
        .iter()
        .find(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "cronjobs")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(cron["level"], "RequestResponse");
    // kubectl sent it as protobuf: recorded as the object it decodes to.
    assert_eq!(
        cron["requestObject"]["spec"]["schedule"], "0 0 1 1 *",
        "{cron}"
    );
    assert_eq!(cron["responseObject"]["metadata"]["name"], "tick");
    assert!(
        cron["responseObject"]["metadata"]["uid"].is_string(),
        "{cron}"
    );
    let read = events
        .iter()
        .find(|e| e["verb"] == "get" && e["objectRef"]["resource"] == "secrets")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(read["level"], "RequestResponse");
    assert!(read.get("responseObject").is_none());
    assert!(!text.contains("configmaps"), "{text}");
}

#[test]
fn create_token_refuses_bad_input_with_exit_2_and_says_what_is_missing() {
    let s = Session::new();
    let no_name = s.wasmjob(&["create", "token"]);
    assert_eq!(no_name.code, 2, "{no_name:?}");
    assert!(
        no_name
            .stderr
            .contains("create token needs the ServiceAccount's NAME")
    );
    let bad = s.wasmjob(&["create", "token", "ci", "--duration", "soon"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("--duration: invalid duration \"soon\""),
        "{bad:?}"
    );
    // No server: says where it looked.
    let alone = s.wasmjob(&["--server", "127.0.0.1:9", "create", "token", "ci"]);
    assert_eq!(alone.code, 1, "{alone:?}");
    assert!(alone.stderr.contains("127.0.0.1:9"), "{alone:?}");
    let server = Server::start(&s, &[]);
    let missing = s.client(&server, &["create", "token", "nobody", "-n", "team"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("serviceaccounts \"nobody\" not found"),
        "{missing:?}"
    );
    let short = s.client(&server, &["create", "token", "nobody", "--duration", "5m"]);
    assert!(short.stderr.contains("less than 10 minutes"), "{short:?}");
    let file = s.work.path().join("none.kubeconfig");
    let written = s.client(
        &server,
        &[
            "create",
            "token",
            "nobody",
            "--write-kubeconfig",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(written.code, 1, "{written:?}");
    assert!(!file.exists(), "nothing written for a refused token");
}
