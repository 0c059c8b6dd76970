//! The baselines every ratio divides by, measured in the same run on the same
//! guest program: the raw engine loop (the ceiling for this engine), native
//! processes (what a process-based runner pays) and naive Wasm (what `cron`
//! plus a Wasm CLI pays: a new engine and a fresh compile per run).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// Runs `_start` of one instance of `pre` with captured output; fails unless it
/// exits 0 and printed something.
fn run_once(engine: &Engine, pre: &wasmtime::InstancePre<WasiP1Ctx>) -> wasmtime::Result<()> {
    let output = MemoryOutputPipe::new(64 << 10);
    let wasi = WasiCtxBuilder::new()
        .arg("hello")
        .stdout(output.clone())
        .build_p1();
    let mut store = Store::new(engine, wasi);
    let instance = pre.instantiate(&mut store)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call(&mut store, ()) {
        Ok(()) => {}
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => {}
            _ => return Err(e),
        },
    }
    drop(store);
    if output.contents().is_empty() {
        wasmtime::bail!("the guest printed nothing");
    }
    Ok(())
}

fn linker(engine: &Engine) -> wasmtime::Result<Linker<WasiP1Ctx>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx: &mut WasiP1Ctx| cx)?;
    Ok(linker)
}

/// `runs` instances of the module, `parallelism` threads each instantiating
/// from one pre-linked module on a pooling engine: no controller, no store,
/// no history. Returns the wall time.
pub fn raw_engine_loop(wasm: &[u8], runs: usize, parallelism: usize) -> Result<Duration> {
    raw_loop(wasm, runs, parallelism).map_err(engine_error)
}

fn raw_loop(wasm: &[u8], runs: usize, parallelism: usize) -> wasmtime::Result<Duration> {
    let mut config = Config::new();
    config.memory_init_cow(true);
    // The pooling allocator tuned as wasmjob tunes it: the ceiling is this
    // engine at its best, not at its defaults.
    let pool = wasmjob::runtime::pooling_config(parallelism as u32);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, wasm)?;
    let pre = linker(&engine)?.instantiate_pre(&module)?;
    in_parallel(runs, parallelism, || run_once(&engine, &pre))
}

/// Calls `run` `runs` times from `parallelism` threads; returns the wall time.
fn in_parallel<E: Send>(
    runs: usize,
    parallelism: usize,
    run: impl Fn() -> Result<(), E> + Sync,
) -> Result<Duration, E> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parallelism)
            .map(|_| {
                scope.spawn(|| {
                    while next.fetch_add(1, Ordering::Relaxed) < runs {
                        run()?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a baseline worker panicked"))
    })?;
    Ok(started.elapsed())
}

/// `runs` processes of the natively compiled program, `parallelism` at a time,
/// output captured through a pipe as a runner would. Returns the wall time.
pub fn native_processes(program: &Path, runs: usize, parallelism: usize) -> Result<Duration> {
    in_parallel(runs, parallelism, || {
        let out = Command::new(program)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("spawning {}", program.display()))?;
        if !out.status.success() || out.stdout.is_empty() {
            bail!("{} failed: {}", program.display(), out.status);
        }
        Ok(())
    })
}

/// One run the naive way, as `cron` plus a Wasm CLI does it: a new process
/// (this harness, re-executed with `--naive-run`) that creates an engine,
/// compiles the module afresh, links and runs it. Returns the wall time of
/// the whole process, measured as wasmjob's own runs are.
pub fn naive_wasm_process(module: &Path) -> Result<Duration> {
    let me = std::env::current_exe().context("locating wasmjob-bench")?;
    let started = Instant::now();
    let out = Command::new(me)
        .arg("--naive-run")
        .arg(module)
        .stdin(Stdio::null())
        .output()
        .context("spawning the naive-Wasm run")?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "the naive-Wasm run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// One run the naive way, in this process: a new engine, a fresh compile,
/// link, run. Returns the wall time of that one run.
pub fn naive_wasm_run(wasm: &[u8]) -> Result<Duration> {
    naive_run(wasm).map_err(engine_error)
}

fn naive_run(wasm: &[u8]) -> wasmtime::Result<Duration> {
    let started = Instant::now();
    let engine = Engine::default();
    let module = Module::new(&engine, wasm)?;
    let pre = linker(&engine)?.instantiate_pre(&module)?;
    run_once(&engine, &pre)?;
    Ok(started.elapsed())
}

/// wasmtime's error as this program's, causes included.
fn engine_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}
