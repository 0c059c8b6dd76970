//! Plugins in Python and JavaScript (issue 38), built with the real
//! toolchains (`componentize-py` from PyPI, `componentize-js` from npm, as
//! `./dev test` installs them) from the examples under `examples/python`
//! and `examples/js`, against the repository's WIT: each runs as a Job and
//! as a CronJob's run, the resumable ones resume from their checkpoint, and
//! a JavaScript `fetch` is denied with the destination named.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wasmjob_tests::{Server, Session, job_yaml, repo, tool};

/// A component built once per test run: (language, example) → its file,
/// or `None` when the toolchain is missing (skipped outside CI).
fn built(lang: &str, example: &str) -> Option<PathBuf> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let key = format!("{lang}/{example}");
    // One build at a time: they are CPU-bound, and the lock keeps each
    // example built once however many tests want it.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return Some(path.clone());
    }
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a build directory"));
    let out = dir.path().join(format!("{lang}-{example}.wasm"));
    let source = repo().join("examples").join(lang).join(example);
    let wit = repo().join("wit");
    let ran = match lang {
        "python" => {
            let componentize = tool("componentize-py", "WASMJOB_COMPONENTIZE_PY")?;
            let mut command = Command::new(componentize);
            command
                .arg("-d")
                .arg(&wit)
                .args(["-w", "job", "componentize", "-p"]);
            command
                .arg(repo().join("sdk/python"))
                .arg("-p")
                .arg(&source);
            command.args(["app", "-o"]).arg(&out);
            command.output()
        }
        _ => {
            let componentize = tool("componentize-js", "WASMJOB_COMPONENTIZE_JS")?;
            let mut command = Command::new(componentize);
            command.arg(source.join(format!("{example}.js")));
            command
                .arg("--wit")
                .arg(&wit)
                .args(["-n", "job", "-o"])
                .arg(&out);
            command.output()
        }
    }
    .expect("running the plugin toolchain");
    assert!(
        ran.status.success() && out.exists(),
        "building {key}: {}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    built.push((key, out.clone()));
    Some(out)
}

/// The resumable example as a Job that fails once after 5 and retries
/// after 1 s.
fn resumable_job(image: &Path) -> String {
    job_yaml(
        "resumable",
        image,
        &["10", "--fail-at", "5"],
        "  backoffLimit: 2\n  backoffPolicy:\n    initialDelaySeconds: 1",
        "",
    )
}

fn runs_hello_and_resumes(lang: &str) {
    let (Some(hello), Some(resumable)) = (built(lang, "hello"), built(lang, "resumable")) else {
        return;
    };
    let s = Session::new();
    s.write("hello.yaml", &job_yaml("hello", &hello, &[], "", ""));
    let ran = s.wasmjob(&["run", "-f", "hello.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let greeting = match lang {
        "python" => "Hello from Python, instance ",
        _ => "Hello from JavaScript, instance ",
    };
    let greeted = format!("{greeting}hello-");
    assert!(ran.stdout.contains(&greeted), "{}", ran.stdout);
    let record = format!(
        "level=info msg=greeted lang={}",
        &lang[..2].replace("ja", "js")
    );
    assert!(ran.stdout.contains(&record), "{}", ran.stdout);

    s.write("resumable.yaml", &resumable_job(&resumable));
    let ran = s.wasmjob(&["run", "-f", "resumable.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for line in [
        "attempt 0: starting at 1",
        "level=error msg=\"failing on purpose\" at=5",
        "attempt 1: resuming after 5 from the checkpoint",
        "level=info msg=done counted=10",
    ] {
        assert!(ran.stdout.contains(line), "{line:?} in {}", ran.stdout);
    }
    assert_eq!(ran.stdout.matches("count 5\n").count(), 1, "{}", ran.stdout);

    // As a CronJob's run, under serve.
    let server = Server::start(&s, &[]);
    let cron = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: greet\nspec:\n  schedule: \
         \"* * * * * *\"\n  concurrencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      \
         template:\n        spec:\n          containers:\n          - name: main\n            \
         image: {}\n          restartPolicy: Never\n",
        hello.display()
    );
    s.write("cron.yaml", &cron);
    let applied = s.client(&server, &["apply", "-f", "cron.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let jobs = s.client(&server, &["get", "jobs", "-o", "json"]);
        let items = jobs.json()["items"].as_array().cloned().unwrap_or_default();
        let done = items.iter().find(|j| {
            let conditions = j["status"]["conditions"].as_array().cloned();
            conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c["type"] == "Complete")
        });
        if let Some(job) = done {
            let name = job["metadata"]["name"].as_str().unwrap_or_default();
            let logs = s.client(&server, &["logs", &format!("job/{name}")]);
            let greeted = format!("{greeting}{name}-");
            assert!(logs.stdout.contains(&greeted), "{logs:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run of the CronJob completed: {jobs:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn a_python_plugin_runs_as_a_job_and_a_cron_run_and_resumes_from_its_checkpoint() {
    runs_hello_and_resumes("python");
}

#[test]
fn a_javascript_plugin_runs_as_a_job_and_a_cron_run_and_resumes_from_its_checkpoint() {
    runs_hello_and_resumes("js");
}

/// The fine work-queue worker of `lang`: two drain nine items, each once.
fn drains_a_queue(lang: &str) {
    let Some(worker) = built(lang, "wq-fine") else {
        return;
    };
    let s = Session::new();
    let queue = wasmjob_tests::unique("fine");
    super::queues::push(&s, &queue, &super::queues::NINE);
    let yaml = job_yaml("drain", &worker, &[], "  parallelism: 2", "").replace(
        "  template:",
        &format!("  queue:\n    name: {queue}\n    mode: lease\n  template:"),
    );
    s.write("drain.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", "drain.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let worked = super::queues::processed(&s, "drain", "Working on ");
    assert_eq!(worked, super::queues::once_each(&super::queues::NINE));
    assert_eq!(
        ran.stdout.matches("Queue empty, exiting").count(),
        2,
        "{}",
        ran.stdout
    );
}

#[test]
fn a_python_fine_worker_drains_the_jobs_queue_with_another() {
    drains_a_queue("python");
}

#[test]
fn a_javascript_fine_worker_drains_the_jobs_queue_with_another() {
    drains_a_queue("js");
}

#[test]
fn a_javascript_fetch_is_denied_and_the_log_names_the_destination() {
    let Some(fetch) = built("js", "fetch") else {
        return;
    };
    let s = Session::new();
    let url = "http://127.0.0.1:9/report";
    s.write(
        "fetch.yaml",
        &job_yaml("fetch", &fetch, &[url], "  backoffLimit: 0", ""),
    );
    let ran = s.wasmjob(&["run", "-f", "fetch.yaml"]);
    assert_ne!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!(
            "wasmjob: HTTP request to {url} denied: no NetworkPolicy grants this instance \
             egress there (NetworkDenied)"
        )),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("GET http"), "{}", ran.stdout);
}

/// Runs `command` (a README's build line) in `dir` through the shell,
/// with `tools` first on PATH; panics with its output unless it succeeds.
fn build_in(dir: &Path, command: &str, tools: Option<&Path>) {
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(tools) = tools {
        let mut paths = vec![tools.to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        path = std::env::join_paths(paths).expect("a PATH");
    }
    let ran = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        // The plugin's own target directory, as its README says.
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("running the build");
    assert!(
        ran.status.success(),
        "{command}: {}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// `wasmjob new plugin NAME --lang LANG`, built with the README's first
/// command and run with its second.
fn a_new_plugin_builds_and_runs(lang: &str) {
    let tools = match lang {
        "python" => tool("componentize-py", "WASMJOB_COMPONENTIZE_PY"),
        "js" => tool("componentize-js", "WASMJOB_COMPONENTIZE_JS"),
        _ => tool("cargo", "CARGO"),
    };
    let Some(tools) = tools else {
        return;
    };
    let s = Session::new();
    let name = format!("greet-{lang}");
    let made = s.wasmjob(&["new", "plugin", &name, "--lang", lang]);
    assert_eq!(made.code, 0, "{made:?}");
    let dir = s.work.path().join(&name);
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let block = readme.split("```\n").nth(1).expect("the README's commands");
    let commands: Vec<&str> = block.lines().collect();
    assert_eq!(commands.len(), 2, "{readme}");
    assert_eq!(commands[1], "wasmjob run -f job.yaml");
    let build = match lang {
        // npm install brings the toolchain ./dev test installed already.
        "js" => {
            let package = std::fs::read_to_string(dir.join("package.json")).unwrap();
            let package: serde_json::Value = serde_json::from_str(&package).unwrap();
            assert_eq!(commands[0], "npm install && npm run build");
            package["scripts"]["build"].as_str().unwrap().to_owned()
        }
        _ => commands[0].to_owned(),
    };
    build_in(&dir, &build, tools.parent());
    let ran = Command::new(wasmjob_tests::binary())
        .args(["run", "-f", "job.yaml"])
        .current_dir(&dir)
        .env("WASMJOB_HOME", s.state.path())
        .output()
        .expect("running wasmjob");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("Hello from {name}, instance {name}-")),
        "{stdout}"
    );
    // Its cronjob.yaml, under serve: a run made from its template now.
    let server = Server::start(&s, &[]);
    let cronjob = dir.join("cronjob.yaml");
    let applied = s.client(&server, &["apply", "-f", cronjob.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let from = format!("--from=cronjob/{name}");
    let created = s.client(&server, &["create", "job", "now", &from]);
    assert_eq!(created.code, 0, "{created:?}");
    let done = s.wait_finished_within(&server, "now", 120);
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    let logs = s.client(&server, &["logs", "job/now"]);
    assert!(
        logs.stdout.contains(&format!("Hello from {name}")),
        "{logs:?}"
    );
}

#[test]
fn a_new_python_plugin_builds_and_runs_with_its_readmes_two_commands() {
    a_new_plugin_builds_and_runs("python");
}

#[test]
fn a_new_javascript_plugin_builds_and_runs_with_its_readmes_two_commands() {
    a_new_plugin_builds_and_runs("js");
}

#[test]
fn a_new_rust_plugin_builds_and_runs_with_its_readmes_two_commands() {
    a_new_plugin_builds_and_runs("rust");
}

#[test]
fn new_refuses_a_bad_name_or_a_directory_that_exists() {
    let s = Session::new();
    let bad = s.wasmjob(&["new", "plugin", "Bad_Name"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .contains("invalid name \"Bad_Name\": must be a DNS-1123 label"),
        "{}",
        bad.stderr
    );
    s.write("taken/keep.txt", "mine");
    let taken = s.wasmjob(&["new", "plugin", "taken", "--lang", "js"]);
    assert_eq!(taken.code, 2, "{taken:?}");
    assert!(
        taken
            .stderr
            .contains("taken already exists: choose another name or --dir"),
        "{}",
        taken.stderr
    );
    let kept = std::fs::read_to_string(s.work.path().join("taken/keep.txt")).unwrap();
    assert_eq!(kept, "mine");
}

#[test]
fn a_large_component_compiles_off_the_nodes_loop_while_its_job_says_compiling() {
    let Some(hello) = built("python", "hello") else {
        return;
    };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    s.write("hello.yaml", &job_yaml("big", &hello, &[], "", ""));
    let applied = s.client(&server, &["apply", "-f", "hello.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    // The apply is answered before the compile ends: the Job says so.
    let listed = s.client(&server, &["get", "jobs", "big"]);
    assert!(listed.stdout.contains(" Compiling "), "{listed:?}");
    // Meanwhile the node answers and runs other work.
    let other = job_yaml("small", &wasmjob_tests::dist("hello.wasm"), &[], "", "");
    s.write("small.yaml", &other);
    assert_eq!(s.client(&server, &["apply", "-f", "small.yaml"]).code, 0);
    let small = s.wait_finished(&server, "small");
    assert_eq!(small["status"]["succeeded"], 1, "{small}");
    let done = s.wait_finished_within(&server, "big", 180);
    assert_eq!(done["status"]["succeeded"], 1, "{done}");
    let described = s.client(&server, &["describe", "job", "big"]);
    assert!(
        described.stdout.contains("Compiled module sha256:"),
        "{described:?}"
    );
    let logs = s.client(&server, &["logs", "job/big"]);
    assert!(logs.stdout.contains("Hello from Python"), "{logs:?}");
}

/// Runs `program` with `args`; (success, what it printed).
fn run_tool(program: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String) {
    let ran = Command::new(program)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("running a toolchain program");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    (ran.status.success(), printed)
}

#[test]
fn a_typescript_plugin_type_checks_against_the_declarations_and_runs() {
    let (Some(tsc), Some(componentize)) = (
        tool("tsc", "WASMJOB_TSC"),
        tool("componentize-js", "WASMJOB_COMPONENTIZE_JS"),
    ) else {
        return;
    };
    let s = Session::new();
    let build = s.work.path().join("build");
    let project = repo().join("examples/js/hello-ts");
    let (ok, printed) = run_tool(&tsc, &[&"-p", &project, &"--outDir", &build]);
    assert!(ok, "{printed}");
    let wasm = build.join("hello-ts.wasm");
    let script = build.join("hello.js");
    let wit = repo().join("wit");
    let args: [&dyn AsRef<std::ffi::OsStr>; 7] =
        [&script, &"--wit", &wit, &"-n", &"job", &"-o", &wasm];
    let (ok, printed) = run_tool(&componentize, &args);
    assert!(ok, "{printed}");
    s.write("ts.yaml", &job_yaml("ts", &wasm, &[], "", ""));
    let ran = s.wasmjob(&["run", "-f", "ts.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains("Hello from TypeScript, instance ts-")
            && ran.stdout.contains("level=info msg=greeted lang=ts"),
        "{}",
        ran.stdout
    );

    // Every JavaScript example type-checks against them.
    let examples: Vec<PathBuf> = ["hello/hello.js", "resumable/resumable.js"]
        .iter()
        .chain(&["wq-fine/wq-fine.js", "fetch/fetch.js", "cursor/cursor.js"])
        .map(|e| repo().join("examples/js").join(e))
        .collect();
    let declarations = repo().join("sdk/js/wasmjob-plugin.d.ts");
    let mut check: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"--noEmit",
        &"--strict",
        &"--allowJs",
        &"--checkJs",
        &"--target",
        &"es2022",
        &"--lib",
        &"es2022,dom",
        &"--module",
        &"es2022",
        &"--moduleResolution",
        &"bundler",
        &declarations,
    ];
    check.extend(examples.iter().map(|e| e as &dyn AsRef<std::ffi::OsStr>));
    let (ok, printed) = run_tool(&tsc, &check);
    assert!(ok, "{printed}");

    // The declarations refuse what the WIT does not have.
    let bad = s.write(
        "bad.ts",
        "import { log } from 'wasmjob:plugin/log@0.1.0';\n\
         import { lease } from 'wasmjob:plugin/queue@0.1.0';\n\
         log('loud', 'x', []);\n\
         const item: string = lease(10);\n\
         export const run: WasmjobRun = { run() {} };\n",
    );
    let args: [&dyn AsRef<std::ffi::OsStr>; 10] = [
        &"--noEmit",
        &"--strict",
        &"--target",
        &"es2022",
        &"--module",
        &"es2022",
        &"--moduleResolution",
        &"bundler",
        &bad,
        &declarations,
    ];
    let (ok, printed) = run_tool(&tsc, &args);
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("'\"loud\"'") && printed.contains("Item | undefined"),
        "{printed}"
    );
}

#[test]
fn a_cronjobs_large_component_compiles_before_the_runner_sees_the_apply() {
    let Some(hello) = built("python", "hello") else {
        return;
    };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let cron = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: big\nspec:\n  schedule: \
         \"0 0 1 1 *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          \
         containers:\n          - name: main\n            image: {}\n          \
         restartPolicy: Never\n",
        hello.display()
    );
    s.write("cron.yaml", &cron);
    // The CronJob's apply waits for its compile...
    let mut applying = Command::new(wasmjob_tests::binary())
        .args(["apply", "-f", "cron.yaml"])
        .current_dir(s.work.path())
        .env("WASMJOB_HOME", s.state.path())
        .env("WASMJOB_SERVER", &server.address)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("applying");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ...while the node applies and runs other work.
    let other = job_yaml("small", &wasmjob_tests::dist("hello.wasm"), &[], "", "");
    s.write("small.yaml", &other);
    assert_eq!(s.client(&server, &["apply", "-f", "small.yaml"]).code, 0);
    let small = s.wait_finished(&server, "small");
    assert_eq!(small["status"]["succeeded"], 1, "{small}");
    assert!(
        applying.try_wait().expect("the apply").is_none(),
        "the CronJob's compile ended before a small Job ran: it was not measured"
    );
    let applied = applying.wait_with_output().expect("the apply");
    assert!(applied.status.success());
    assert_eq!(
        String::from_utf8_lossy(&applied.stdout),
        "cronjob.batch/big created\n"
    );
}

/// The `cursor` example of `lang`, run twice on one node: the second run
/// counts 2 and reads the mark the first left, from its configuration.
fn counts_its_runs_in_keyvalue(lang: &str) {
    let Some(cursor) = built(lang, "cursor") else {
        return;
    };
    let s = Session::new();
    let env = "        env:\n        - {name: CURSOR_MARK, value: marked}";
    s.write("cursor.yaml", &job_yaml("cursor", &cursor, &[], "", env));
    let first = s.wasmjob(&["run", "-f", "cursor.yaml"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.contains("run 1: the first run"),
        "{}",
        first.stdout
    );
    let second = s.wasmjob(&["run", "-f", "cursor.yaml"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second
            .stdout
            .contains("run 2: the last run stopped at marked"),
        "{}",
        second.stdout
    );
}

#[test]
fn a_python_plugin_counts_its_runs_in_keyvalue_and_reads_its_config() {
    counts_its_runs_in_keyvalue("python");
}

#[test]
fn a_javascript_plugin_counts_its_runs_in_keyvalue_and_reads_its_config() {
    counts_its_runs_in_keyvalue("js");
}

#[test]
fn a_python_fetch_reaches_what_a_policy_grants_and_no_more() {
    let Some(fetch) = built("python", "fetch") else {
        return;
    };
    let (port, _) = wasmjob_tests::http_server("day,total\n".to_owned());
    let url = format!("http://127.0.0.1:{port}/r");
    let job = job_yaml("fetch", &fetch, &[&url], "  backoffLimit: 0", "");
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n\
                  spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  \
                  - to: [{ipBlock: {cidr: 127.0.0.1/32}}]\n";
    let s = Session::new();
    s.write("granted.yaml", &format!("{policy}---\n{job}"));
    let ran = s.wasmjob(&["run", "-f", "granted.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("GET {url}: 200, 10 bytes")),
        "{}",
        ran.stdout
    );
    let s = Session::new();
    s.write("job.yaml", &job);
    let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
    assert_ne!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("HttpRequestDenied"), "{}", ran.stdout);
}
