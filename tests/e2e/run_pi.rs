//! The README's demo: the seed's pi Job with the `pi` plugin, both WASI
//! flavours, the JSON shapes, and the compiled-module cache (issue 2).

use wasmjob_tests::{Session, dist, items, job_yaml, repo};

const PI_TAIL: &str = "59958133904780275901";

#[test]
fn the_pi_example_succeeds_and_its_log_holds_the_digits() {
    let s = Session::new();
    let manifest = repo().join("examples/pi-job.yaml");
    let ran = s.wasmjob(&["run", "-f", manifest.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains(PI_TAIL), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("pi     Complete   1/1"),
        "{}",
        ran.stdout
    );

    let logs = s.logs("pi");
    assert_eq!(logs.len(), 1, "one instance, one attempt: {logs:?}");
    let digits = logs[0].2.trim_end();
    assert_eq!(digits.len(), 2001, "3. and 1999 decimals");
    assert!(digits.starts_with("3.14159265358979323846"));
    assert!(digits.ends_with(PI_TAIL));
}

#[test]
fn a_p1_module_and_a_p2_component_both_run() {
    let s = Session::new();
    for (name, module) in [("pi-p1", "pi.wasm"), ("pi-p2", "pi.component.wasm")] {
        let path = s.write(
            &format!("{name}.yaml"),
            &job_yaml(name, &dist(module), &["10"], "", ""),
        );
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 0, "{module}: {ran:?}");
        assert!(
            ran.stdout.starts_with("3.141592654\n"),
            "{module}: {}",
            ran.stdout
        );
    }
}

#[test]
fn run_o_json_prints_jobs_then_instances_in_kubernetes_shapes() {
    let s = Session::new();
    let path = s.write("pi.yaml", &job_yaml("pi", &dist("pi.wasm"), &["5"], "", ""));
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let list = ran.json();
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "Job", "Jobs first");

    let job = items(&list, "Job")[0];
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["metadata"]["namespace"], "default");
    let status = &job["status"];
    assert_eq!(status["succeeded"], 1);
    assert_eq!(status["active"], 0);
    assert_eq!(status["failed"], 0);
    let conditions: Vec<&str> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(conditions, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(status["conditions"][1]["reason"], "CompletionsReached");
    // RFC 3339 UTC with microseconds.
    let start = status["startTime"].as_str().unwrap();
    assert_eq!(start.len(), "2026-11-22T10:00:00.123456Z".len(), "{start}");
    assert!(start.ends_with('Z'));

    let instance = items(&list, "Instance")[0];
    let labels = &instance["metadata"]["labels"];
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(labels["controller-uid"], job["metadata"]["uid"]);
    let status = &instance["status"];
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(status["exitCode"], 0);
    assert_eq!(status["restartCount"], 0);
    for key in ["startTime", "finishTime", "nodeName"] {
        assert!(status[key].is_string(), "{key} in {status}");
    }
}

#[test]
fn a_second_run_loads_the_compiled_module_instead_of_recompiling() {
    let s = Session::new();
    let (path, cached) = pi_run_once(&s);
    let before = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    assert_eq!(s.wasmjob(&["run", "-f", &path]).code, 0);
    assert_eq!(cached_files(&s), cached);
    let after = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    assert_eq!(before, after, "the cached artifact was not rewritten");
}

#[test]
fn a_damaged_compiled_module_is_compiled_again_with_a_warning() {
    let s = Session::new();
    let (path, cached) = pi_run_once(&s);
    std::fs::write(&cached[0], b"not a compiled module").unwrap();
    let ran = s.wasmjob(&["run", "-f", &path]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // The warning reaches stderr without RUST_LOG, in tracing's format.
    let warning = ran
        .stderr
        .lines()
        .find(|l| l.contains("recompiling: cached module unusable"))
        .unwrap_or_else(|| panic!("no warning: {}", ran.stderr));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains(&cached[0].display().to_string()),
        "{warning}"
    );
    assert!(
        std::fs::read(&cached[0]).unwrap().len() > 1000,
        "compiled again"
    );
}

#[test]
fn a_bad_rust_log_is_named_once_and_warnings_still_show() {
    let s = Session::new();
    let out = std::process::Command::new(wasmjob_tests::binary())
        .args(["cron", "next", "@daily", "-n", "1"])
        .env("WASMJOB_HOME", s.state.path())
        .env("RUST_LOG", "wasmjob=[")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("RUST_LOG ignored").count(), 1, "{stderr}");
    assert!(stderr.contains("showing warnings and errors"), "{stderr}");
}

/// One `wasmjob run` of a pi Job: its manifest's path, and the one
/// compiled module it cached.
fn pi_run_once(s: &Session) -> (String, Vec<std::path::PathBuf>) {
    let path = s.write("pi.yaml", &job_yaml("pi", &dist("pi.wasm"), &["5"], "", ""));
    let path = path.to_str().unwrap().to_owned();
    assert_eq!(s.wasmjob(&["run", "-f", &path]).code, 0);
    let cached = cached_files(s);
    assert_eq!(cached.len(), 1, "one compiled module cached: {cached:?}");
    (path, cached)
}

fn cached_files(s: &Session) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for engine in std::fs::read_dir(s.state.path().join("cache")).unwrap() {
        for file in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files
}
