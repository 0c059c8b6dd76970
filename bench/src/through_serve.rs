//! The throughput Job through `wasmjob serve` against `wasmjob run` in the
//! same run (issue 36), and the CPU the node's runner thread spends per
//! instance: the serial part of every instance, which bounds what a machine
//! with more cores can gain.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use wasmjob::manifest::Kind;
use wasmjob::store::Store;

use crate::report::{Row, Verdict, median, thousands};
use crate::scenarios::{Bench, job_manifest, job_run, per_second};

/// The rows: serve against run, and the runner thread's CPU per instance.
pub fn serve_throughput(b: &Bench) -> Result<Vec<Row>> {
    let hello = b.guest("hello.wasm")?;
    let n = b.sizes.completions;
    let par = b.cores;
    // In turn, as job-throughput measures, medians kept.
    let (mut served, mut ran, mut runner) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..b.sizes.throughput_reps {
        let (took, cpu) = serve_job(b, &hello, n, par)?;
        served.push(per_second(n, took));
        runner.push(cpu.as_secs_f64() * 1e6 / n as f64);
        ran.push(per_second(n, job_run(b, &hello, n, par)?));
    }
    let (served, ran, runner) = (median(&mut served), median(&mut ran), median(&mut runner));
    let scenario = format!(
        "{}-completion Job of `hello`, parallelism {par}",
        thousands(n as f64)
    );
    Ok(vec![
        Row {
            scenario: format!("{scenario}, through `wasmjob serve` (apply to Complete)"),
            wasmjob: format!("{} inst/s", thousands(served)),
            baseline: format!("{} inst/s `wasmjob run`", thousands(ran)),
            ratio: format!("{:.2}", served / ran),
            target: "≥ 0.80 (within 20%)".into(),
            verdict: Verdict::of(served / ran >= 0.8),
        },
        Row {
            scenario: format!(
                "{scenario}, through `wasmjob serve`: the runner thread's CPU per instance"
            ),
            wasmjob: format!("{runner:.2} µs"),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 1 µs".into(),
            verdict: Verdict::of(runner <= 1.0),
        },
    ])
}

/// One `n`-completion Job applied to a `serve` node whose module cache is
/// warm (a one-completion Job of the module ran first): the time from the
/// apply to the Job's completion as its SQLite file records it, and the CPU
/// time of the node's runner (the process's main thread) over that time.
fn serve_job(b: &Bench, hello: &Path, n: usize, par: usize) -> Result<(Duration, Duration)> {
    let node = b.node()?;
    let server = node.serve(&[])?;
    let warm = node.write("warm.yaml", &job_manifest("warm", hello, "", ""))?;
    node.client(&server, &["apply", "-f", path(&warm)?])?;
    wait_succeeded(&node.db(), "warm", 1)?;
    let spec = format!("  completions: {n}\n  parallelism: {par}\n");
    let manifest = node.write("many.yaml", &job_manifest("many", hello, &spec, ""))?;
    let cpu0 = server.main_thread_cpu()?;
    let started = Instant::now();
    node.client(&server, &["apply", "-f", path(&manifest)?])?;
    wait_succeeded(&node.db(), "many", n)?;
    let took = started.elapsed();
    let cpu = server.main_thread_cpu()? - cpu0;
    server.stop()?;
    Ok((took, cpu))
}

/// Waits until the node's file records the Job `name` with `n` successes,
/// reading it every millisecond (a read of a WAL file: no CPU to speak of
/// beside the node's).
fn wait_succeeded(db: &Path, name: &str, n: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut store = None;
    loop {
        if store.is_none() && db.exists() {
            store = Some(Store::open_readonly(db)?);
        }
        if let Some(store) = &store
            && let Some(job) = store.live_object(Kind::Job, "default", name)?
        {
            if job.status["succeeded"].as_u64() == Some(n as u64) {
                return Ok(());
            }
            ensure!(
                job.status["failed"].as_u64().unwrap_or(0) == 0,
                "the Job {name} failed: {}",
                job.status
            );
        }
        ensure!(
            Instant::now() < deadline,
            "the Job {name} did not succeed {n} times in 600 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("paths of the benchmark are UTF-8")
}
