//! Plugins in Python and JavaScript (issue 38): for each language, the
//! first compile of its hello component, instances per second of a Job of
//! it, and the memory an instance adds — each beside the Rust hello
//! measured the same way in the same run. The components are built here
//! from `examples/` with the toolchains `./dev bench` installs
//! (`WASMJOB_COMPONENTIZE_PY`, `WASMJOB_COMPONENTIZE_JS`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::node::Node;
use crate::report::{Row, Verdict, thousands};
use crate::scenarios::{Bench, job_manifest};

/// What one language's hello measured.
struct Measured {
    /// `wasmjob run` of one instance on a fresh state directory (the
    /// compile, then the run).
    first: Duration,
    /// Instances per second of a Job with a warm compiled cache.
    per_second: f64,
    /// Peak memory of `wasmjob run` added per instance run at once (bytes).
    per_instance: f64,
}

/// The rows of every language against the Rust hello.
pub fn plugin_languages(b: &Bench) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let rust = measure(b, &b.guest("hello.wasm")?)?;
    let mut rows = Vec::new();
    for (lang, name) in [("python", "Python"), ("js", "JavaScript")] {
        let Some(component) = build(b, lang, dir.path())? else {
            continue;
        };
        let ours = measure(b, &component)?;
        let first = ours.first.as_secs_f64();
        rows.push(Row {
            scenario: format!(
                "{name} hello ({} MB component): first `wasmjob run` on a fresh node (compile + run) — vs Rust hello",
                std::fs::metadata(&component)?.len() >> 20
            ),
            wasmjob: format!("{first:.1} s"),
            baseline: format!("{:.0} ms", rust.first.as_secs_f64() * 1e3),
            ratio: format!("{:.0}×", first / rust.first.as_secs_f64()),
            target: "≤ 10 s (issue 38: 8–10 s)".into(),
            verdict: Verdict::of(first <= 10.0),
        });
        rows.push(Row {
            scenario: format!(
                "{name} hello: a Job of {} completions, parallelism {}, warm compiled cache — vs Rust hello",
                b.sizes.completions / 10,
                b.cores
            ),
            wasmjob: format!("{} inst/s", thousands(ours.per_second)),
            baseline: format!("{} inst/s", thousands(rust.per_second)),
            ratio: format!("{:.2}", ours.per_second / rust.per_second),
            target: "— (reported)".into(),
            verdict: Verdict::Met,
        });
        rows.push(Row {
            scenario: format!(
                "{name} hello: peak memory `wasmjob run` adds per instance running at once — vs Rust hello"
            ),
            wasmjob: format!("{:.1} MiB", ours.per_instance / f64::from(1 << 20)),
            baseline: format!("{:.1} MiB", rust.per_instance / f64::from(1 << 20)),
            ratio: format!("{:.0}×", ours.per_instance / rust.per_instance.max(1.0)),
            target: "— (reported)".into(),
            verdict: Verdict::Met,
        });
    }
    Ok(rows)
}

/// The hello component of `lang` built from `examples/`, or `None` when
/// its toolchain is missing outside CI (said on stderr).
fn build(b: &Bench, lang: &str, out: &Path) -> Result<Option<PathBuf>> {
    let (program, env) = match lang {
        "python" => ("componentize-py", "WASMJOB_COMPONENTIZE_PY"),
        _ => ("componentize-js", "WASMJOB_COMPONENTIZE_JS"),
    };
    let Some(tool) = std::env::var_os(env).map(PathBuf::from) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!("{program} is missing: ./dev bench installs it (set {env})");
        }
        eprintln!("wasmjob-bench: skipped {lang}: {program} is missing (set {env})");
        return Ok(None);
    };
    let wasm = out.join(format!("hello-{lang}.wasm"));
    let wit = b.root.join("wit");
    let mut command = Command::new(tool);
    match lang {
        "python" => command
            .arg("-d")
            .arg(&wit)
            .args(["-w", "job", "componentize", "-p"])
            .arg(b.root.join("sdk/python"))
            .arg("-p")
            .arg(b.root.join("examples/python/hello"))
            .args(["app", "-o"])
            .arg(&wasm),
        _ => command
            .arg(b.root.join("examples/js/hello/hello.js"))
            .arg("--wit")
            .arg(&wit)
            .args(["-n", "job", "-o"])
            .arg(&wasm),
    };
    let built = command
        .output()
        .with_context(|| format!("running {program}"))?;
    ensure!(
        built.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    Ok(Some(wasm))
}

/// First run, throughput and memory per instance of `image`.
fn measure(b: &Bench, image: &Path) -> Result<Measured> {
    let node = b.node()?;
    let one = node.write("one.yaml", &job_manifest("one", image, "", ""))?;
    let first = node.time(&["run", "-f", path(&one)?])?;
    let n = (b.sizes.completions / 10).max(4);
    let spec = format!("  completions: {n}\n  parallelism: {}\n", b.cores);
    let many = node.write("many.yaml", &job_manifest("many", image, &spec, ""))?;
    let took = node.time(&["run", "-f", path(&many)?])?;
    // Peak memory with one instance, then with several at once.
    let at_once = 8;
    let alone = peak_rss(&node, &one)?;
    let spec = format!("  completions: {at_once}\n  parallelism: {at_once}\n");
    let several = node.write("several.yaml", &job_manifest("several", image, &spec, ""))?;
    let together = peak_rss(&node, &several)?;
    Ok(Measured {
        first,
        per_second: n as f64 / took.as_secs_f64(),
        per_instance: together.saturating_sub(alone) as f64 / f64::from(at_once - 1),
    })
}

/// The peak resident memory of `wasmjob run -f manifest`: its `VmHWM`,
/// read from /proc every 2 ms while it runs.
fn peak_rss(node: &Node, manifest: &Path) -> Result<u64> {
    let mut child = node
        .command(&["run", "-f", path(manifest)?])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        let text = std::fs::read_to_string(&status_file).unwrap_or_default();
        let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:"));
        let kib = hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak = peak.max(kib.unwrap_or(0) * 1024);
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    ensure!(
        status.success(),
        "wasmjob run -f {} failed: {status}",
        manifest.display()
    );
    Ok(peak)
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("a path that is not UTF-8")
}
