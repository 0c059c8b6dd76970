//! Helpers for wasmjob's end-to-end tests: the real `wasmjob` binary run in a
//! temporary state directory, the guests built by `./dev setup`, and readers
//! for what ended up in the SQLite history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod browser;
mod services;
pub use services::*;

/// The repository root: from the `CARGO_MANIFEST_DIR` that `cargo test`
/// sets when it runs the tests, rather than the one this crate was compiled
/// in — two checkouts sharing one target directory (CI's cache) may share
/// this crate's build, and must each read their own files.
pub fn repo() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

/// The `wasmjob` binary next to this test binary (`target/<profile>/wasmjob`),
/// or `$WASMJOB_BIN`.
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("WASMJOB_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .join("wasmjob");
    assert!(
        bin.exists(),
        "{} is missing: run `./dev test`, or `cargo build -p wasmjob` before `cargo test`",
        bin.display()
    );
    bin
}

/// A guest built by `./dev setup` (`dist/<name>`).
pub fn dist(name: &str) -> PathBuf {
    let path = repo().join("dist").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `./dev setup` to build the guests",
        path.display()
    );
    path
}

/// A test program from tests/programs (`dist/test-programs/<name>.wasm`).
pub fn program(name: &str) -> PathBuf {
    dist(&format!("test-programs/{name}.wasm"))
}

/// A fixture from tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Ran {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    fn from(output: Output) -> Self {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A user's session: its own state directory and a scratch directory for
/// manifests and volumes.
pub struct Session {
    /// The state directory (`WASMJOB_HOME`).
    pub state: tempfile::TempDir,
    /// Manifests and host directories the test creates.
    pub work: tempfile::TempDir,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A new empty session.
    pub fn new() -> Self {
        Session {
            state: tempfile::tempdir().expect("state dir"),
            work: tempfile::tempdir().expect("work dir"),
        }
    }

    /// `wasmjob ARGS…` in this session, run to its end.
    pub fn wasmjob(&self, args: &[&str]) -> Ran {
        let output = Command::new(binary())
            .args(args)
            .env("WASMJOB_HOME", self.state.path())
            // Registry credentials are the session's, never the user's.
            .env("DOCKER_CONFIG", self.state.path().join("docker"))
            .env_remove("RUST_LOG")
            .current_dir(self.work.path())
            .output()
            .expect("running wasmjob");
        Ran::from(output)
    }

    /// `kubectl ARGS…` (the program at `kubectl`) with this session's
    /// kubeconfig, run to its end. Its cache lives in the work directory.
    pub fn kubectl(&self, kubectl: &Path, args: &[&str]) -> Ran {
        let output = Command::new(kubectl)
            .args(args)
            .env("KUBECONFIG", self.state.path().join("kubeconfig"))
            .env("HOME", self.work.path())
            .current_dir(self.work.path())
            .output()
            .expect("running kubectl");
        Ran::from(output)
    }

    /// `wasmjob ARGS…` in this session, started in the background.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(binary())
            .args(args)
            .env("WASMJOB_HOME", self.state.path())
            // Registry credentials are the session's, never the user's.
            .env("DOCKER_CONFIG", self.state.path().join("docker"))
            .env_remove("RUST_LOG")
            .current_dir(self.work.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting wasmjob")
    }

    /// Writes `yaml` as job.yaml and runs it with `-o json`: the exit code and
    /// the printed `List`.
    pub fn run_json(&self, yaml: &str) -> (i32, Value) {
        let path = self.write("job.yaml", yaml);
        let ran = self.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
        (ran.code, ran.json())
    }

    /// Writes a file under the work directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.work.path().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("manifest dir");
        }
        std::fs::write(&path, text).expect("writing a test file");
        path
    }

    /// The state database.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state.path().join("wasmjob.db"))
            .expect("opening the state db")
    }

    /// Number of objects and instances in the store (0, 0 when none exists yet).
    pub fn store_counts(&self) -> (i64, i64) {
        if !self.state.path().join("wasmjob.db").exists() {
            return (0, 0);
        }
        let db = self.db();
        let count = |table: &str| {
            db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap_or(0)
        };
        (count("objects"), count("instances"))
    }

    /// Every attempt's log of the instances of the Job named `job`, by instance name.
    pub fn logs(&self, job: &str) -> Vec<(String, u32, String)> {
        let db = self.db();
        let mut stmt = db
            .prepare(
                "SELECT i.name, l.attempt, l.data FROM attempt_logs l JOIN instances i ON i.uid = l.instance_uid
                 JOIN objects o ON o.uid = i.owner_uid WHERE o.name = ?1 ORDER BY i.created_at, l.attempt",
            )
            .unwrap();
        stmt.query_map([job], |r| {
            let data: Vec<u8> = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                String::from_utf8_lossy(&data).into_owned(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }
}

/// A running `wasmjob serve` on a free loopback port, with the session's
/// state directory; killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl Server {
    /// Starts a server for `session` and waits until it accepts connections.
    pub fn start(session: &Session, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", address.as_str()];
        args.extend_from_slice(extra);
        // Every server of a session appends what it says to one file.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(session.serve_log_path())
            .expect("the serve log");
        let child = Command::new(binary())
            .args(&args)
            .env("WASMJOB_HOME", session.state.path())
            .env("DOCKER_CONFIG", session.state.path().join("docker"))
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting wasmjob serve");
        let mut server = Server { child, address };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // Listening, and this session's server: another test's server may
        // have taken the same free port first (its own then exits), and
        // the token is written before the socket is bound.
        let token = session.state.path().join("token");
        let has_token = || std::fs::read_to_string(&token).is_ok_and(|t| !t.trim().is_empty());
        while std::net::TcpStream::connect(&server.address).is_err() || !has_token() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(session.serve_log_path()).unwrap_or_default();
                panic!("wasmjob serve exited ({status}) before listening:\n{log}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "wasmjob serve did not start listening"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server
    }

    /// Sends SIGTERM and waits for the process to exit; its exit code.
    pub fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let code = self
            .child
            .wait()
            .expect("waiting for serve")
            .code()
            .unwrap_or(-1);
        std::mem::forget(self);
        code
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Session {
    fn serve_log_path(&self) -> PathBuf {
        self.work.path().join("serve-stderr.log")
    }

    /// What this session's `wasmjob serve` processes wrote to stderr.
    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.serve_log_path()).unwrap_or_default()
    }

    /// `wasmjob ARGS…` against `server`.
    pub fn client(&self, server: &Server, args: &[&str]) -> Ran {
        let output = Command::new(binary())
            .args(args)
            .env("WASMJOB_HOME", self.state.path())
            // Registry credentials are the session's, never the user's.
            .env("DOCKER_CONFIG", self.state.path().join("docker"))
            .env("WASMJOB_SERVER", &server.address)
            .env_remove("WASMJOB_TOKEN")
            .env_remove("RUST_LOG")
            .current_dir(self.work.path())
            .output()
            .expect("running wasmjob");
        Ran::from(output)
    }

    /// `wasmjob wait --for=condition=complete job/JOB -n NAMESPACE` (up to
    /// 60 s); fails the test unless the Job completed.
    pub fn wait_complete(&self, server: &Server, job: &str, namespace: &str) {
        let done = self.client(
            server,
            &[
                "wait",
                "--for=condition=complete",
                &format!("job/{job}"),
                "-n",
                namespace,
                "--timeout=60s",
            ],
        );
        assert_eq!(done.code, 0, "{done:?}");
    }

    /// Polls `get jobs NAME -o json` until the Job is Complete or Failed.
    pub fn wait_finished(&self, server: &Server, job: &str) -> Value {
        self.wait_finished_within(server, job, 30)
    }

    /// As [`Session::wait_finished`], for up to `seconds` (a Job whose
    /// large module compiles first, on a loaded machine).
    pub fn wait_finished_within(&self, server: &Server, job: &str, seconds: u64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let ran = self.client(server, &["get", "jobs", job, "-o", "json"]);
            if ran.code == 0 {
                let value = ran.json();
                let done = value["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Complete" || c["type"] == "Failed")
                });
                if done {
                    return value;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Job {job} did not finish: {ran:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A Job manifest running `image` with `args`; `spec_extra` and `pod_extra`
/// are YAML lines added (already indented) to the Job spec and the pod spec.
pub fn job_yaml(
    name: &str,
    image: &Path,
    args: &[&str],
    spec_extra: &str,
    pod_extra: &str,
) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec_extra}
  template:
    spec:
      containers:
      - name: main
        image: {image}
        args: [{args}]
{pod_extra}
      restartPolicy: Never
",
        image = image.display(),
        args = args.join(", "),
    )
}

/// A CronJob `name` in `namespace` of `program` every second, keeping
/// `history` succeeded Jobs.
pub fn per_second_cronjob(name: &str, namespace: &str, program_name: &str, history: u32) -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
  namespace: {namespace}
spec:
  schedule: \"*/1 * * * * *\"
  successfulJobsHistoryLimit: {history}
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: main
            image: {}
          restartPolicy: Never
",
        program(program_name).display()
    )
}

/// A manifest made by [`job_yaml`] (or any whose first `metadata` holds
/// only `name`), placed in `namespace`.
pub fn in_namespace(yaml: &str, namespace: &str) -> String {
    let Some((head, rest)) = yaml.split_once("metadata:\n  name: ") else {
        return yaml.to_owned();
    };
    let (name, rest) = rest.split_once('\n').unwrap_or((rest, ""));
    format!("{head}metadata:\n  name: {name}\n  namespace: {namespace}\n{rest}")
}

/// Waits up to `seconds` for `done`, looking every 50 ms; fails naming
/// `what` when it never comes.
pub fn wait_until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Items of a `List` whose `kind` is `kind`.
pub fn items<'a>(list: &'a Value, kind: &str) -> Vec<&'a Value> {
    list["items"]
        .as_array()
        .expect("a List")
        .iter()
        .filter(|i| i["kind"] == kind)
        .collect()
}

/// Fails when two of `instances` (Instance objects) ran at the same time:
/// their `startTime`s and `finishTime`s, RFC 3339 UTC of one width, order
/// as the times do.
pub fn assert_one_at_a_time(instances: &[Value]) {
    let mut spans: Vec<(String, String)> = instances
        .iter()
        .map(|i| {
            let at = |f: &str| i["status"][f].as_str().unwrap_or_default().to_owned();
            (at("startTime"), at("finishTime"))
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlapping runs: {spans:?}");
    }
}

/// A local HTTP server on loopback answering every request with `body`
/// (status 200, then the connection closes); its port, and how many
/// requests it has answered.
pub fn http_server(body: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let Ok(read) = stream.try_clone() else {
                continue;
            };
            // The request line and headers, up to the blank line.
            let mut reader = BufReader::new(read);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, served)
}
