//! The benchmark harness (`wasmjob-bench`, issue 9) at toy sizes: every
//! scenario runs against this build, so the harness cannot rot. Nothing is
//! timed here; `./dev bench` measures.

use wasmjob_tests::binary;

#[test]
fn every_benchmark_scenario_runs_at_tiny_sizes() {
    let dir = binary().parent().expect("target dir").to_path_buf();
    let bench = dir.join("wasmjob-bench");
    assert!(
        bench.is_file(),
        "{} is missing: ./dev test builds it",
        bench.display()
    );
    let out = std::process::Command::new(&bench)
        .arg("--tiny")
        .arg("--wasmjob")
        .arg(binary())
        .arg("--native-hello")
        .arg(dir.join("hello"))
        .output()
        .expect("running wasmjob-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wasmjob-bench --tiny failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scenario in [
        "Job of `hello`",
        "vs raw engine loop",
        "vs native processes",
        "`wasmjob run -f hello-job.yaml`",
        "CronJob firing lateness",
        "idle daemon instances",
        "`wasmjob serve` idle",
        "`get jobs`",
        "`logs job/X`",
        "`get instances -l job-name=X`",
        "embedded queue, lease mode",
        "API under load",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("| ") && l.contains(scenario)),
            "no table row for {scenario:?} in:\n{stdout}"
        );
    }
}
