//! Network egress by NetworkPolicy, on loopback only: a plugin fetches
//! from a local HTTP server when a policy grants its address and port (or
//! its host name), and is refused — `NetworkDenied` in its log and events
//! — when the policy is deleted, names another port, or another name; raw
//! TCP from a component follows the same policies, a core module has no
//! sockets whatever they say. Malformed policies are golden cases of
//! `bad_input` (`tests/fixtures/bad-manifests/network-policy-*`). The
//! plugin also reads its settings from a ConfigMap through `wasi:config`.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use wasmjob_tests::{Server, Session, dist, http_server, job_yaml, program};

/// What the local server answers to every GET.
const REPORT: &str = "day,total\n1,42\n";

/// A local HTTP server answering every request with [`REPORT`].
fn report_server() -> (u16, Arc<AtomicUsize>) {
    http_server(REPORT.to_owned())
}

/// A NetworkPolicy `name` selecting the instances of the Job `job`,
/// granting `to` (YAML of one `to` entry) on `ports` (YAML of one
/// `ports` entry, or empty for every port).
fn policy(name: &str, job: &str, to: &str, ports: &str) -> String {
    let ports = if ports.is_empty() {
        String::new()
    } else {
        format!("\n    ports:\n    - {ports}")
    };
    format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  podSelector:
    matchLabels:
      job-name: {job}
  policyTypes: [Egress]
  egress:
  - to:
    - {to}{ports}
"
    )
}

/// The Job `name` of fetch-report, fetching `url` into a host directory.
fn fetch_job(s: &Session, name: &str, url: &str) -> (String, std::path::PathBuf) {
    let out = s.work.path().join(format!("out-{name}"));
    std::fs::create_dir_all(&out).unwrap();
    let volume = format!(
        "        volumeMounts:\n        - {{name: out, mountPath: /out}}\n      volumes:\n      \
         - name: out\n        hostPath: {{path: {}}}",
        out.display()
    );
    let yaml = job_yaml(
        name,
        &dist("fetch-report.wasm"),
        &[url, "/out/report.csv"],
        "  backoffLimit: 0",
        &volume,
    );
    (yaml, out.join("report.csv"))
}

#[test]
fn a_policy_grants_a_fetch_and_once_deleted_the_fetch_is_denied() {
    let (port, served) = report_server();
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let url = format!("http://127.0.0.1:{port}/report.csv");
    let granted = policy(
        "reports",
        "granted",
        "ipBlock: {cidr: 127.0.0.1/32}",
        &format!("port: {port}"),
    );
    let (job, report) = fetch_job(&s, "granted", &url);
    let path = s.write("granted.yaml", &format!("{granted}---\n{job}"));
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied
            .stdout
            .contains("networkpolicy.networking.k8s.io/reports created"),
        "{applied:?}"
    );
    let done = s.wait_finished(&server, "granted");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), REPORT);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let listed = s.client(&server, &["get", "networkpolicies"]);
    assert!(
        listed
            .stdout
            .starts_with("NAME      POD-SELECTOR       AGE"),
        "{listed:?}"
    );
    assert!(
        listed.stdout.contains("reports   job-name=granted"),
        "{listed:?}"
    );

    // The policy goes: the same fetch is refused, and says why.
    let deleted = s.client(&server, &["delete", "networkpolicy", "reports"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    let (job, _) = fetch_job(&s, "granted", &url);
    s.client(&server, &["delete", "job", "granted"]);
    let path = s.write("again.yaml", &job);
    s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    let done = s.wait_finished(&server, "granted");
    assert_eq!(done["status"]["failed"], 1, "{done}");
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let logs = s.client(&server, &["logs", "job/granted"]);
    assert!(
        logs.stdout.contains(&format!(
            "wasmjob: HTTP request to {url} denied: no NetworkPolicy grants this instance \
             egress there (NetworkDenied)"
        )),
        "{logs:?}"
    );
    assert!(logs.stdout.contains("HttpRequestDenied"), "{logs:?}");
    let events = s.client(&server, &["get", "events"]);
    let denied: Vec<&str> = (events.stdout.lines())
        .filter(|l| l.contains("NetworkDenied"))
        .collect();
    assert_eq!(denied.len(), 1, "{events:?}");
    assert!(
        denied[0].contains(&format!("egress to 127.0.0.1:{port} (HTTP) denied")),
        "{events:?}"
    );
}

/// Runs fetch-report once through `wasmjob run` with `policy`; its
/// output and exit code, and what it wrote.
fn run_fetch(policy: &str, url: &str) -> (i32, String, Option<String>) {
    let s = Session::new();
    let (job, report) = fetch_job(&s, "fetch", url);
    let path = s.write("fetch.yaml", &format!("{policy}---\n{job}"));
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    let written = std::fs::read_to_string(report).ok();
    (ran.code, ran.stdout + &ran.stderr, written)
}

#[test]
fn a_policy_for_another_port_or_other_labels_grants_nothing() {
    let (port, served) = report_server();
    let url = format!("http://127.0.0.1:{port}/report.csv");
    let to = "ipBlock: {cidr: 127.0.0.0/8}";
    let other_port = policy("p", "fetch", to, &format!("port: {}", port ^ 1));
    let (code, out, written) = run_fetch(&other_port, &url);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("(NetworkDenied)"), "{out}");
    assert_eq!(written, None);
    let other_job = policy("p", "another-job", to, "");
    let (code, out, _) = run_fetch(&other_job, &url);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("(NetworkDenied)"), "{out}");
    // UDP on the port grants no TCP.
    let udp = policy(
        "p",
        "fetch",
        to,
        &format!("{{port: {port}, protocol: UDP}}"),
    );
    let (code, out, _) = run_fetch(&udp, &url);
    assert_ne!(code, 0, "{out}");
    assert_eq!(served.load(Ordering::SeqCst), 0);
}

#[test]
fn a_host_granted_by_name_is_reached_through_the_nodes_resolver_and_no_other() {
    let (port, served) = report_server();
    let by_name = policy("p", "fetch", &format!("hosts: ['localhost:{port}']"), "");
    let (code, out, written) = run_fetch(&by_name, &format!("http://localhost:{port}/r"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(written.as_deref(), Some(REPORT));
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // Another name, or the address itself, is not the name granted.
    for url in [
        format!("http://wasmjob-test.invalid:{port}/r"),
        format!("http://127.0.0.1:{port}/r"),
    ] {
        let (code, out, _) = run_fetch(&by_name, &url);
        assert_ne!(code, 0, "{out}");
        assert!(
            out.contains(&format!("HTTP request to {url} denied")),
            "{out}"
        );
    }
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

/// Runs the network probe `image` against `address` under `policy`; its
/// output.
fn probe(image: &std::path::Path, address: &str, policy: &str) -> String {
    let s = Session::new();
    let job = job_yaml("fetch", image, &[address], "  backoffLimit: 0", "");
    let path = s.write("probe.yaml", &format!("{policy}---\n{job}"));
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    ran.stdout + &ran.stderr
}

#[test]
fn raw_tcp_from_a_component_follows_the_policy_and_a_core_module_has_no_sockets() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let component = dist("test-programs/connect.component.wasm");
    let granted = policy(
        "p",
        "fetch",
        "ipBlock: {cidr: 127.0.0.1/32}",
        &format!("port: {port}"),
    );
    let out = probe(&component, &address, &granted);
    assert!(
        out.contains(&format!("tcp connect {address}: CONNECTED")),
        "{out}"
    );
    // TCP only: the datagram is refused, and says so.
    assert!(
        out.contains(&format!("udp send {address}: refused")),
        "{out}"
    );
    assert!(
        out.contains(&format!("wasmjob: UDP datagram to {address} denied")),
        "{out}"
    );
    let elsewhere = policy("p", "fetch", "ipBlock: {cidr: 10.0.0.0/8}", "");
    let out = probe(&component, &address, &elsewhere);
    assert!(
        out.contains(&format!("tcp connect {address}: refused")),
        "{out}"
    );
    assert!(
        out.contains(&format!("wasmjob: TCP connection to {address} denied")),
        "{out}"
    );
    // WASI preview 1 has no way to open a socket: granted or not.
    let out = probe(&program("connect"), &address, &granted);
    assert!(
        out.contains(&format!("tcp connect {address}: refused")),
        "{out}"
    );
}

#[test]
fn kubectl_applies_lists_and_deletes_network_policies() {
    use crate::kube_api::{kubectl, ok};
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let _server = Server::start(&s, &[]);
    let yaml = policy(
        "reports",
        "fetch",
        "ipBlock: {cidr: 10.0.0.0/8}",
        "port: 443",
    );
    s.write("policy.yaml", &yaml);
    let applied = ok(s.kubectl(&k, &["apply", "-f", "policy.yaml"]));
    assert_eq!(
        applied.stdout,
        "networkpolicy.networking.k8s.io/reports created\n"
    );
    let listed = ok(s.kubectl(&k, &["get", "netpol"]));
    assert!(listed.stdout.contains("reports"), "{listed:?}");
    let port = ok(s.kubectl(
        &k,
        &[
            "get",
            "networkpolicy",
            "reports",
            "-o",
            "jsonpath={.spec.egress[0].ports[0].port}",
        ],
    ));
    assert_eq!(port.stdout, "443");
    let deleted = ok(s.kubectl(&k, &["delete", "networkpolicy", "reports"]));
    assert_eq!(
        deleted.stdout,
        "networkpolicy.networking.k8s.io \"reports\" deleted\n"
    );
}

#[test]
fn wasi_config_reads_the_url_from_a_config_map() {
    let (port, served) = report_server();
    let s = Session::new();
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let settings = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: report-settings}}\ndata:\n  \
         REPORT_URL: http://127.0.0.1:{port}/today.csv\n  REPORT_PATH: /out/today.csv\n"
    );
    let granted = policy("p", "fetch", "ipBlock: {cidr: 127.0.0.1/32}", "");
    // No arguments: the plugin reads both settings through wasi:config.
    let pod = format!(
        "        envFrom:\n        - configMapRef: {{name: report-settings}}\n        \
         volumeMounts:\n        - {{name: out, mountPath: /out}}\n      volumes:\n      \
         - name: out\n        hostPath: {{path: {}}}",
        out.display()
    );
    let job = job_yaml(
        "fetch",
        &dist("fetch-report.wasm"),
        &[],
        "  backoffLimit: 0",
        &pod,
    );
    let path = s.write("job.yaml", &format!("{settings}---\n{granted}---\n{job}"));
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("today.csv")).unwrap(),
        REPORT
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

/// Runs fetch-report through a node with `annotations` on its template
/// (YAML lines under `annotations:`) fetching `urls` under `policy`; the
/// Job's instance as the node lists it, and the Job's log.
fn fetch_limited(policy: &str, annotations: &str, urls: &[String]) -> (Value, String) {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let mut args = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        args.push(url.clone());
        args.push(format!("/out/{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let scratch = "        volumeMounts:\n        - {name: out, mountPath: /out}\n      volumes:\n      \
                   - {name: out, emptyDir: {}}";
    let job = job_yaml(
        "fetch",
        &dist("fetch-report.wasm"),
        &args,
        "  backoffLimit: 0",
        scratch,
    )
    .replace(
        "  template:\n    spec:",
        &format!("  template:\n    metadata:\n      annotations:\n{annotations}\n    spec:"),
    );
    let path = s.write("job.yaml", &format!("{policy}---\n{job}"));
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    s.wait_finished(&server, "fetch");
    let listed = s.client(
        &server,
        &["get", "instances", "-l", "job-name=fetch", "-o", "json"],
    );
    let instance = listed.json()["items"][0].clone();
    let logs = s.client(&server, &["logs", "job/fetch"]).stdout;
    (instance, logs)
}

#[test]
fn an_instance_past_a_network_limit_ends_with_network_limit_exceeded() {
    let (port, served) = report_server();
    let granted = policy("p", "fetch", "ipBlock: {cidr: 127.0.0.1/32}", "");
    let url = format!("http://127.0.0.1:{port}/r");
    // Two requests, one connection allowed: the second ends the instance.
    let one = "        wasmjob.dev/max-connections: \"1\"";
    let (instance, logs) = fetch_limited(&granted, one, &[url.clone(), url.clone()]);
    let status = &instance["status"];
    assert_eq!(status["reason"], "NetworkLimitExceeded", "{instance}");
    assert_eq!(
        status["message"], "opened more than 1 connections (wasmjob.dev/max-connections)",
        "{instance}"
    );
    assert!(
        logs.contains("wasmjob: network limit exceeded: opened more than 1"),
        "{logs}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);

    // A server that never answers: the request's time runs out.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/r", silent.local_addr().unwrap());
    let quick = "        wasmjob.dev/max-request-seconds: \"1\"";
    let (instance, _) = fetch_limited(&granted, quick, &[url]);
    assert_eq!(
        instance["status"]["reason"], "NetworkLimitExceeded",
        "{instance}"
    );
    let message = instance["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("took longer than 1 s (wasmjob.dev/max-request-seconds)"),
        "{instance}"
    );
    drop(silent);
}

/// Runs `openssl ARGS…` in `dir`; panics with its output unless it works.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ran = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(ran.status.success(), "openssl {args:?}: {ran:?}");
}

/// A CA and a certificate for `localhost` it signed, in `dir`
/// (`ca.pem`, `server.pem`, `server.key`).
fn test_ca(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [&ec[..], &["-x509", "-keyout", "ca.key", "-out", "ca.pem"]].concat();
    openssl(
        dir,
        &[
            &["req"],
            &ca[..],
            &["-days", "2", "-subj", "/CN=wasmjob test CA"],
        ]
        .concat(),
    );
    let csr = [&ec[..], &["-keyout", "server.key", "-out", "server.csr"]].concat();
    openssl(
        dir,
        &[&["req"], &csr[..], &["-subj", "/CN=localhost"]].concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[test]
fn https_is_verified_against_the_platforms_roots() {
    let s = Session::new();
    let dir = s.work.path();
    test_ca(dir);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-cert",
            "server.pem",
            "-key",
            "server.key",
        ])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s_server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("https://localhost:{port}/");
    let granted = policy("p", "fetch", &format!("hosts: ['localhost:{port}']"), "");
    let (job, report) = fetch_job(&s, "fetch", &url);
    let path = s.write("fetch.yaml", &format!("{granted}---\n{job}"));
    // The machine's roots, as rustls-native-certs reads them: the test CA
    // through SSL_CERT_FILE, or the system's alone.
    let fetch = |roots: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(wasmjob_tests::binary());
        command
            .args(["run", "-f", path.to_str().unwrap()])
            .env(
                "WASMJOB_HOME",
                s.state.path().join(if roots.is_some() { "a" } else { "b" }),
            )
            .current_dir(dir);
        if let Some(ca) = roots {
            command.env("SSL_CERT_FILE", ca);
        }
        command.output().expect("running wasmjob")
    };
    let trusted = fetch(Some(&dir.join("ca.pem")));
    let body = std::fs::read_to_string(&report).unwrap_or_default();
    let untrusted = fetch(None);
    let _ = server.kill();
    let _ = server.wait();
    assert!(trusted.status.success(), "{trusted:?}");
    assert!(body.contains("s_server"), "{body}");
    // Not in the platform's roots: the TLS handshake refuses the server.
    assert!(!untrusted.status.success(), "{untrusted:?}");
    let said =
        String::from_utf8_lossy(&untrusted.stdout) + String::from_utf8_lossy(&untrusted.stderr);
    assert!(!said.contains("NetworkDenied"), "{said}");
}

#[test]
fn bytes_sent_on_raw_sockets_count_against_the_limit() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = tcp.local_addr().unwrap().to_string();
    let port = tcp.local_addr().unwrap().port();
    let image = dist("test-programs/connect.component.wasm");
    let job = job_yaml("fetch", &image, &[&address], "  backoffLimit: 0", "").replace(
        "  template:\n    spec:",
        "  template:\n    metadata:\n      annotations:\n        \
         wasmjob.dev/max-egress-bytes: \"4\"\n    spec:",
    );
    // `hello` is five bytes: on the TCP connection's stream, or (TCP not
    // granted) in the UDP datagram, it stops the attempt.
    for protocol in ["TCP", "UDP"] {
        let granted = policy(
            "p",
            "fetch",
            "ipBlock: {cidr: 127.0.0.1/32}",
            &format!("{{port: {port}, protocol: {protocol}}}"),
        );
        let s = Session::new();
        let path = s.write("job.yaml", &format!("{granted}---\n{job}"));
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
        let limit = "sent more than 4 bytes (wasmjob.dev/max-egress-bytes)";
        assert!(
            ran.stderr.contains("Failed (NetworkLimitExceeded)") && ran.stderr.contains(limit),
            "{protocol}: {ran:?}"
        );
    }
}
