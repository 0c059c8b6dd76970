//! The edge-sized build (issue 36): the binaries `./dev dist` builds (this
//! machine's, a static musl one, an aarch64 one), their sizes against the
//! release build stripped in this run, each running `examples/pi-job.yaml`
//! (the aarch64 one under qemu-user), and an idle `serve`'s resident memory
//! and address space with the default pool and with `--memory-reservation`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::report::{Row, Verdict, median_ms};
use crate::scenarios::Bench;

/// Where `./dev dist` leaves each build, under the target directory.
const HOST: &str = "dist/wasmjob";
const MUSL: &str = "x86_64-unknown-linux-musl/dist/wasmjob";
const AARCH64: &str = "aarch64-unknown-linux-gnu/dist/wasmjob";

/// Debian's aarch64 C library, which qemu-user loads the binary with.
const AARCH64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The reservation the bounded idle node is given: a sixteenth of what a
/// 39-bit arm64 kernel gives a process.
const RESERVATION: &str = "16Gi";

/// What a process may map on a 39-bit arm64 kernel (Raspberry Pi OS's).
const SMALL_ADDRESS_SPACE: u64 = 256 << 30;

/// The rows: sizes, the three builds running the pi Job, idle memory.
pub fn edge_build(b: &Bench) -> Result<Vec<Row>> {
    // The installed (or built) binary sits one directory below the target
    // directory: `target/bench-installed/wasmjob` or `target/debug/wasmjob`.
    let target = b
        .wasmjob
        .parent()
        .and_then(Path::parent)
        .context("the wasmjob binary has no target directory")?
        .to_path_buf();
    let manifest = b.root.join("examples/pi-job.yaml");
    let runs = b.sizes.throughput_reps;
    let mut rows = Vec::new();
    let host = target.join(HOST);
    let host_run = match host.is_file() {
        true => Some(pi_job(&[], &host, &manifest, runs)?),
        false => None,
    };
    rows.push(size_row(&target, &host)?);
    rows.push(musl_row(&target, &manifest, host_run.as_ref(), runs)?);
    rows.push(aarch64_row(&target, &manifest, host_run.as_ref(), runs)?);
    rows.push(idle_row(b)?);
    Ok(rows)
}

/// A row for a build `./dev dist` has not made.
fn not_built(scenario: String, path: &Path) -> Row {
    Row {
        scenario,
        wasmjob: format!("not built ({} is missing: run ./dev dist)", path.display()),
        baseline: "—".into(),
        ratio: "—".into(),
        target: "built".into(),
        verdict: Verdict::Missed,
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn size_of(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// The dist binary's size against the release binary stripped now.
fn size_row(target: &Path, host: &Path) -> Result<Row> {
    let scenario = "dist binary, x86-64 glibc (`--profile dist`: stripped, fat LTO)".to_owned();
    if !host.is_file() {
        return Ok(not_built(scenario, host));
    }
    let dist = size_of(host)?;
    let release = target.join("release/wasmjob");
    if !release.is_file() {
        return Ok(Row {
            wasmjob: megabytes(dist),
            ..not_built(scenario, &release)
        });
    }
    let stripped = tempfile::NamedTempFile::new()?;
    let status = Command::new("strip")
        .arg("-o")
        .arg(stripped.path())
        .arg(&release)
        .status()
        .context("running strip (binutils)")?;
    if !status.success() {
        bail!("strip {} failed: {status}", release.display());
    }
    let baseline = size_of(stripped.path())?;
    let ratio = dist as f64 / baseline as f64;
    Ok(Row {
        scenario,
        wasmjob: megabytes(dist),
        baseline: format!(
            "{} release build stripped ({} as built)",
            megabytes(baseline),
            megabytes(size_of(&release)?)
        ),
        ratio: format!("{ratio:.2}×"),
        target: "smaller than the stripped release build".into(),
        verdict: Verdict::of(ratio < 1.0),
    })
}

/// The static musl build: no ELF interpreter, and it runs the pi Job.
fn musl_row(target: &Path, manifest: &Path, host_run: Option<&PiRun>, runs: usize) -> Result<Row> {
    let musl = target.join(MUSL);
    let scenario = "dist binary, x86-64 static musl: `run -f examples/pi-job.yaml`".to_owned();
    if !musl.is_file() {
        return Ok(not_built(scenario, &musl));
    }
    let run = pi_job(&[], &musl, manifest, runs)?;
    let linked = match interpreter(&musl)? {
        None => "static".to_owned(),
        Some(interp) => format!("dynamic ({interp})"),
    };
    let figure = format!(
        "{}, {linked}, {:.0} ms",
        megabytes(size_of(&musl)?),
        run.median_ms
    );
    let target = "static, prints π as the glibc build does";
    let ok = linked == "static" && same_output(&run, host_run);
    Ok(pi_row(scenario, figure, &run, host_run, target, ok))
}

/// The aarch64 build under qemu-user: it runs the pi Job with the output
/// the x86-64 build prints.
fn aarch64_row(
    target: &Path,
    manifest: &Path,
    host_run: Option<&PiRun>,
    runs: usize,
) -> Result<Row> {
    let arm = target.join(AARCH64);
    let scenario =
        "dist binary, aarch64 glibc under qemu-user: `run -f examples/pi-job.yaml`".to_owned();
    if !arm.is_file() {
        return Ok(not_built(scenario, &arm));
    }
    let qemu = ["qemu-aarch64", "-L", AARCH64_SYSROOT];
    let run = pi_job(&qemu, &arm, manifest, runs)?;
    let figure = format!(
        "{}, {:.0} ms emulated",
        megabytes(size_of(&arm)?),
        run.median_ms
    );
    let ok = same_output(&run, host_run);
    Ok(pi_row(
        scenario,
        figure,
        &run,
        host_run,
        "prints π as the x86-64 build does",
        ok,
    ))
}

/// A row of a build running the pi Job, against the x86-64 dist build's run.
fn pi_row(
    scenario: String,
    figure: String,
    run: &PiRun,
    host_run: Option<&PiRun>,
    target: &str,
    ok: bool,
) -> Row {
    let (baseline, ratio) = match host_run {
        Some(host) => (
            format!("{:.0} ms x86-64 glibc dist build", host.median_ms),
            format!("{:.1}× the time", run.median_ms / host.median_ms),
        ),
        None => ("— (no x86-64 dist build)".into(), "—".into()),
    };
    Row {
        scenario,
        wasmjob: figure,
        baseline,
        ratio,
        target: target.into(),
        verdict: Verdict::of(ok),
    }
}

fn same_output(run: &PiRun, host_run: Option<&PiRun>) -> bool {
    run.output.starts_with("3.14159") && host_run.is_none_or(|host| host.output == run.output)
}

/// What the pi Job's instance printed (`wasmjob run -f
/// examples/pi-job.yaml` shows it before its summary), and its median wall
/// time over fresh state directories (the module compiled each time).
struct PiRun {
    output: String,
    median_ms: f64,
}

fn pi_job(wrapper: &[&str], binary: &Path, manifest: &Path, runs: usize) -> Result<PiRun> {
    let mut times: Vec<Duration> = Vec::new();
    let mut output = String::new();
    for _ in 0..runs {
        let home = tempfile::Builder::new()
            .prefix("wasmjob-bench-")
            .tempdir()?;
        let mut command = wrapped(wrapper, binary);
        command
            .args(["run", "-f"])
            .arg(manifest)
            .env("WASMJOB_HOME", home.path())
            .env_remove("WASMJOB_SERVER")
            .stdin(Stdio::null());
        let started = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        times.push(started.elapsed());
        if !out.status.success() {
            bail!(
                "{} run -f {} failed ({}): {}",
                binary.display(),
                manifest.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // What the instance printed comes first; the summary table after
        // it has durations, which differ.
        let stdout = String::from_utf8_lossy(&out.stdout);
        output = stdout
            .lines()
            .take_while(|l| !l.starts_with("NAME "))
            .collect::<Vec<_>>()
            .join("\n");
    }
    Ok(PiRun {
        output,
        median_ms: median_ms(&times),
    })
}

/// `binary`, run through `wrapper` (qemu-user) when one is given.
fn wrapped(wrapper: &[&str], binary: &Path) -> Command {
    match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// The ELF program interpreter a binary names (`PT_INTERP`), if any: a
/// static binary has none.
fn interpreter(path: &Path) -> Result<Option<String>> {
    let bytes = std::fs::read(path)?;
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u64_at = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word) as usize
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        bail!("{} is not a 64-bit little-endian ELF file", path.display());
    }
    let (table, entry, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for header in (0..count).map(|i| table + i * entry) {
        let kind = u32::from_le_bytes(bytes[header..header + 4].try_into()?);
        if kind == 3 {
            let (offset, size) = (u64_at(header + 8), u64_at(header + 32));
            let name = &bytes[offset..offset + size];
            let name = name.strip_suffix(b"\0").unwrap_or(name);
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

/// An idle `serve` with `--memory-reservation` against one with the
/// default pool: resident memory and address space (`VmSize`).
fn idle_row(b: &Bench) -> Result<Row> {
    let measure = |extra: &[&str]| -> Result<(u64, u64)> {
        let node = b.node()?;
        let server = node.serve(extra)?;
        // Settled: the startup's allocations done, nothing running.
        std::thread::sleep(b.sizes.idle_window.min(Duration::from_secs(2)));
        let memory = (server.rss()?, server.virtual_size()?);
        server.stop()?;
        Ok(memory)
    };
    let (rss, size) = measure(&["--memory-reservation", RESERVATION])?;
    let (default_rss, default_size) = measure(&[])?;
    let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    let mib = |bytes: u64| bytes as f64 / (1u64 << 20) as f64;
    Ok(Row {
        scenario: format!(
            "idle `wasmjob serve --memory-reservation {RESERVATION}` (256 instances): \
             resident memory, address space"
        ),
        wasmjob: format!("{:.1} MiB, {:.1} GiB", mib(rss), gib(size)),
        baseline: format!(
            "{:.1} MiB, {:.0} GiB with the default pool",
            mib(default_rss),
            gib(default_size)
        ),
        ratio: format!(
            "{:.3}× the address space",
            size as f64 / default_size as f64
        ),
        target: "fits a 39-bit arm64 process (< 256 GiB)".into(),
        verdict: Verdict::of(size < SMALL_ADDRESS_SPACE),
    })
}
