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
        .env("WASMJOB_REPO", wasmjob_tests::repo())
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
        "through `wasmjob serve` (apply to Complete)",
        "the runner thread's CPU per instance",
        "`wasmjob run -f hello-job.yaml`",
        "CronJob firing lateness",
        "idle daemon instances",
        "`wasmjob serve` idle",
        "`get jobs`",
        "`logs job/X`",
        "`get instances -l job-name=X`",
        "embedded queue, lease mode",
        "API under load",
        "over 3 nodes on one PostgreSQL",
        "CronJob firing lateness over 3 nodes",
        "a pinned `*/2 * * * * *` CronJob on the cut node",
        "first runs on another node after",
        "succeeded twice",
        "dist binary, x86-64 glibc",
        "dist binary, x86-64 static musl",
        "dist binary, aarch64 glibc under qemu-user",
        "idle `wasmjob serve --memory-reservation 16Gi`",
        "Fairness:",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("| ") && l.contains(scenario)),
            "no table row for {scenario:?} in:\n{stdout}"
        );
    }
}

/// `wasmjob` and the harness are linked with packed relative relocations
/// (`host/build/relr.rs`) wherever the toolchain can write them (GNU ld
/// 2.38) and glibc can load them (2.36): the loader then reads 13 KB of
/// relocations at each start instead of 1.2 MB.
#[test]
fn the_binaries_pack_their_relative_relocations_where_the_toolchain_can() {
    let version = |program: &str, arg: &str| -> Option<(u32, u32)> {
        let out = std::process::Command::new(program).arg(arg).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().next()?.split_whitespace().last()?;
        let mut parts = last.split('.').map(|p| p.parse::<u32>().ok());
        Some((parts.next()??, parts.next()??))
    };
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        println!("skipped: packed relocations are a Linux glibc matter");
        return;
    }
    let (Some(glibc), Some(ld)) = (version("ldd", "--version"), version("ld", "--version")) else {
        println!("skipped: ldd or GNU ld not found to tell the toolchain's versions");
        return;
    };
    if glibc < (2, 36) || ld < (2, 38) {
        println!("skipped: glibc {glibc:?} and GNU ld {ld:?} cannot pack relocations");
        return;
    }
    let dir = binary().parent().expect("target dir").to_path_buf();
    for program in [binary(), dir.join("wasmjob-bench")] {
        let out = std::process::Command::new("readelf")
            .arg("--dynamic")
            .arg(&program)
            .output()
            .expect("readelf comes with GNU ld");
        let dynamic = String::from_utf8_lossy(&out.stdout);
        assert!(
            dynamic.contains("(RELR)"),
            "{} has no packed relative relocations (DT_RELR) although glibc {glibc:?} \
             and GNU ld {ld:?} support them:\n{dynamic}",
            program.display()
        );
    }
}
