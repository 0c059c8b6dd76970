//! One instance's sandbox: exactly the declared argv, env, volumes and stdin,
//! the network egress its NetworkPolicies grant and nothing more (sockets
//! and `wasi:http` requests checked: see [`super::network`] and
//! [`super::http`]), capped memory and output, a wall-clock deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::http::Http;
use super::keyvalue::{KeyValue, KeyValueStore};
use super::limits::{MemoryCap, MemoryLimitExceeded, NodeMemoryBoundExceeded};
use super::network::Network;
use super::plugin::{self, LogRecord, PluginEnv, PluginState};
use super::{CapturedOutput, DEFAULT_OUTPUT_LIMIT, Prepared, RunReport, RuntimeError};
use crate::egress::Grant;
use crate::egress::limits::Limits;
use crate::manifest::Outcome;

/// Memory an instance may use when its manifest sets no limit. Kubernetes
/// would let it take the node; on small edge machines that is how one bad
/// module takes everything down, so wasmjob applies a default, as a
/// LimitRange would.
pub const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;

/// Open files, directories and streams one instance may hold at once.
/// wasmtime's own ceiling is a million; each open file is a host descriptor,
/// so a guest opening files in a loop would exhaust the node's descriptors
/// (20,000 here) and with them the API and the store. An instance that
/// reaches this traps ("resource table has no free keys").
pub const MAX_OPEN_HANDLES: usize = 1024;

/// A directory of the host visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The host directory.
    pub host: PathBuf,
    /// The absolute path the guest sees.
    pub guest: String,
    /// The guest may not write.
    pub read_only: bool,
}

/// Everything one instance may see and use.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// argv, argv\[0\] first.
    pub argv: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The variables of `env` (by position) whose value is the instance's
    /// name: a run given a name (see [`super::Runtime::run_named`]) uses it
    /// there, so that one spec serves every instance of a Job.
    pub instance_name_vars: Vec<usize>,
    /// Preopened directories.
    pub mounts: Vec<Mount>,
    /// stdin's bytes; empty when absent.
    pub stdin: Vec<u8>,
    /// The memory cap in bytes.
    pub memory_limit: u64,
    /// Wall-clock limit of the run.
    pub deadline: Option<Duration>,
    /// Output kept.
    pub output_limit: usize,
    /// What the `wasmjob:plugin` interfaces are bound to (components only).
    pub plugin: PluginEnv,
    /// Stops the run, its output kept, when it turns true: a native
    /// sidecar's, once its instance's containers have ended.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// What the instance may reach over the network (components only: a
    /// core module has no sockets). Nothing by default.
    pub egress: Arc<Grant>,
    /// How much of the network it may use.
    pub egress_limits: Limits,
}

impl SandboxSpec {
    /// A sandbox with only argv and the defaults.
    pub fn new(argv: Vec<String>) -> Self {
        SandboxSpec {
            argv,
            env: Vec::new(),
            instance_name_vars: Vec::new(),
            mounts: Vec::new(),
            stdin: Vec::new(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            deadline: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            plugin: PluginEnv::default(),
            stop: None,
            egress: Arc::default(),
            egress_limits: Limits::default(),
        }
    }
}

/// Store data of a WASI p1 core module.
pub struct CoreState {
    wasi: WasiP1Ctx,
    cap: MemoryCap,
}

/// Store data of a WASI p2 component.
pub struct ComponentState {
    wasi: WasiCtx,
    table: ResourceTable,
    cap: MemoryCap,
    plugin: PluginState,
    http: Http,
    /// `wasi:config/store`: the instance's environment.
    config: WasiConfigVariables,
    /// `wasi:keyvalue`'s buckets.
    keyvalue: Option<Arc<dyn KeyValueStore>>,
    /// What the instance may reach, and what it used.
    network: Network,
}

impl super::socket_bytes::CountsSockets for ComponentState {
    fn network(&self) -> &Network {
        &self.network
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker for core modules: WASI preview 1.
pub fn core_linker(engine: &Engine) -> Result<wasmtime::Linker<CoreState>, RuntimeError> {
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut CoreState| &mut s.wasi)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok(linker)
}

/// The linker for components: WASI preview 2, the `wasmjob:plugin`
/// interfaces, `wasi:http`, `wasi:config` and `wasi:keyvalue`.
pub fn component_linker(
    engine: &Engine,
) -> Result<wasmtime::component::Linker<ComponentState>, RuntimeError> {
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    super::socket_bytes::add_to_linker(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    plugin::add_to_linker(&mut linker, |s: &mut ComponentState| &mut s.plugin)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut ComponentState| {
        WasiConfig::from(&s.config)
    })
    .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    super::keyvalue::add_to_linker(&mut linker, |s: &mut ComponentState| {
        KeyValue::new(&mut s.table, s.keyvalue.as_ref())
    })
    .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok(linker)
}

/// What `wasi:config/store` holds for an instance: its environment, as
/// `wasi:cli/environment` gives it (a ConfigMap's or Secret's keys reach
/// it through `env[].valueFrom` and `envFrom`, as they reach a container).
fn config_of(spec: &SandboxSpec, instance_name: Option<&str>) -> WasiConfigVariables {
    (spec.env.iter().enumerate())
        .map(|(at, (key, value))| match instance_name {
            Some(name) if spec.instance_name_vars.contains(&at) => (key.as_str(), name),
            _ => (key.as_str(), value.as_str()),
        })
        .collect()
}

fn wasi_builder(
    spec: &SandboxSpec,
    instance_name: Option<&str>,
    output: &CapturedOutput,
    network: &Network,
) -> Result<WasiCtxBuilder, String> {
    let mut builder = WasiCtxBuilder::new();
    for (at, (key, value)) in spec.env.iter().enumerate() {
        let value = match instance_name {
            Some(name) if spec.instance_name_vars.contains(&at) => name,
            _ => value,
        };
        builder.env(key, value);
    }
    builder
        .args(&spec.argv)
        .stdout(output.clone())
        .stderr(output.clone())
        .stdin(MemoryInputPipe::new(spec.stdin.clone()));
    // No grant, no network: no sockets, no name lookups. With one, each
    // address a socket uses is checked against it.
    let open = !network.is_closed();
    builder
        .allow_tcp(open)
        .allow_udp(open)
        .allow_ip_name_lookup(open);
    if open {
        let check = network.socket_check();
        builder.socket_addr_check(move |addr, usage| check(addr, usage));
    }
    for mount in &spec.mounts {
        let perms = if mount.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(&mount.host, &mount.guest, perms)
            .map_err(|e| {
                format!(
                    "cannot mount {} at {}: {e:#}",
                    mount.host.display(),
                    mount.guest
                )
            })?;
    }
    Ok(builder)
}

fn new_store<T>(engine: &Engine, data: T) -> Store<T> {
    let mut store = Store::new(engine, data);
    // Yield to the executor at every epoch tick: fairness between guests, and
    // the point where a deadline or a stop takes effect.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    store
}

/// Runs one instance to its end; `instance_name`, when given, is the value
/// of the spec's `instance_name_vars`; `memory_bound` is the node's bound on
/// one linear memory, if any.
pub async fn run(
    engine: &Engine,
    memory_bound: Option<u64>,
    prepared: &Prepared,
    spec: &SandboxSpec,
    instance_name: Option<&str>,
) -> RunReport {
    let output = CapturedOutput::new(spec.output_limit);
    let _live = super::live::register(&output);
    let denied = Arc::new(AtomicBool::new(false));
    let network = Network::new(spec.egress.clone(), spec.egress_limits, output.clone());
    let mut records = Vec::new();
    let result = match wasi_builder(spec, instance_name, &output, &network) {
        Err(message) => Err(Ended::Start(message)),
        Ok(mut builder) => {
            let cap = MemoryCap::new(spec.memory_limit, memory_bound, denied.clone());
            let run = async {
                match prepared {
                    Prepared::Core(pre) => {
                        let mut wasi = builder.build_p1();
                        wasi.ctx().table.set_max_capacity(MAX_OPEN_HANDLES);
                        let state = CoreState { wasi, cap };
                        run_core(engine, pre, state).await
                    }
                    Prepared::Component(pre) => {
                        let mut table = ResourceTable::new();
                        table.set_max_capacity(MAX_OPEN_HANDLES);
                        let state = ComponentState {
                            wasi: builder.build(),
                            table,
                            cap,
                            plugin: PluginState::new(spec.plugin.clone(), output.clone()),
                            http: Http::new(network.clone()),
                            config: config_of(spec, instance_name),
                            keyvalue: spec.plugin.keyvalue.clone(),
                            network: network.clone(),
                        };
                        run_component(engine, pre, state, &mut records).await
                    }
                }
            };
            let run = async {
                match spec.deadline {
                    None => run.await,
                    Some(deadline) => tokio::time::timeout(deadline, run)
                        .await
                        .unwrap_or(Err(Ended::Deadline(deadline))),
                }
            };
            // Past a network limit, the run ends there.
            let run = async {
                tokio::select! {
                    ended = run => ended,
                    what = network.exceeded() => Err(Ended::NetworkLimit(what)),
                }
            };
            match spec.stop.clone() {
                None => run.await,
                Some(mut stop) => tokio::select! {
                    ended = run => ended,
                    _ = stop.wait_for(|stopped| *stopped) => Err(Ended::Stopped),
                },
            }
        }
    };
    // A guest told "no" by a limit may end on its own before the stop
    // lands: past a limit, that is how the attempt ended either way.
    let result = match network.exceeded_now() {
        Some(what) if !matches!(result, Err(Ended::Start(_))) => Err(Ended::NetworkLimit(what)),
        _ => result,
    };
    let outcome = classify(result, denied.load(Ordering::SeqCst));
    let (output, truncated, times) = output.finish();
    RunReport {
        outcome,
        output,
        truncated,
        times,
        records,
        network_denied: network.denied(),
    }
}

/// How a run ended before it is put in Kubernetes' terms.
enum Ended {
    /// Instantiation failed.
    Start(String),
    /// The guest returned or exited with this code.
    Exit(i32),
    /// The guest trapped, or a host call failed fatally.
    Error(wasmtime::Error),
    /// The deadline passed.
    Deadline(Duration),
    /// It was stopped (see [`SandboxSpec::stop`]).
    Stopped,
    /// It went past a network limit (which one).
    NetworkLimit(String),
}

async fn run_core(
    engine: &Engine,
    pre: &wasmtime::InstancePre<CoreState>,
    state: CoreState,
) -> Result<(), Ended> {
    let mut store = new_store(engine, state);
    store.limiter(|s| &mut s.cap);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(instantiation)?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| Ended::Start(format!("{e:#}")))?;
    start.call_async(&mut store, ()).await.map_err(Ended::Error)
}

/// Runs a component; the structured log records it wrote go to `records`,
/// however it ends (a deadline drops the whole future, and them with it).
async fn run_component(
    engine: &Engine,
    pre: &wasmtime_wasi::p2::bindings::CommandPre<ComponentState>,
    state: ComponentState,
    records: &mut Vec<LogRecord>,
) -> Result<(), Ended> {
    let mut store = new_store(engine, state);
    store.limiter(|s| &mut s.cap);
    let result = async {
        let command = pre
            .instantiate_async(&mut store)
            .await
            .map_err(instantiation)?;
        match command.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => Ok(()),
            // `exit(1)` and a `main` returning an error both arrive here.
            Ok(Err(())) => Err(Ended::Exit(1)),
            Err(e) => Err(Ended::Error(e)),
        }
    }
    .await;
    let (kept, _dropped) = store.into_data().plugin.into_records();
    *records = kept;
    result
}

/// A memory limit hit while creating memories is an OOM kill like any other;
/// anything else stopping instantiation is a start error.
fn instantiation(e: wasmtime::Error) -> Ended {
    if e.downcast_ref::<MemoryLimitExceeded>().is_some()
        || e.downcast_ref::<NodeMemoryBoundExceeded>().is_some()
    {
        Ended::Error(e)
    } else {
        Ended::Start(format!("cannot instantiate the module: {e:#}"))
    }
}

fn classify(result: Result<(), Ended>, memory_denied: bool) -> Outcome {
    let error = match result {
        Ok(()) | Err(Ended::Exit(0)) => return Outcome::Succeeded,
        Err(Ended::Exit(code)) => return Outcome::Failed { exit_code: code },
        Err(Ended::Start(message)) => return Outcome::StartError { message },
        // As a container ended with SIGTERM.
        Err(Ended::Stopped) => return Outcome::Failed { exit_code: 143 },
        Err(Ended::Deadline(d)) => {
            return Outcome::DeadlineExceeded {
                message: format!("stopped after the deadline of {}", humanize(d)),
            };
        }
        Err(Ended::NetworkLimit(message)) => return Outcome::NetworkLimitExceeded { message },
        Err(Ended::Error(e)) => e,
    };
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => Outcome::Succeeded,
            code => Outcome::Failed { exit_code: code },
        };
    }
    if let Some(oom) = error.downcast_ref::<MemoryLimitExceeded>() {
        return Outcome::OomKilled {
            message: oom.to_string(),
        };
    }
    if let Some(oom) = error.downcast_ref::<NodeMemoryBoundExceeded>() {
        return Outcome::OomKilled {
            message: oom.to_string(),
        };
    }
    if memory_denied {
        // The limiter refused a growth and the guest died of it some other
        // way (a host call that allocates guest memory, say).
        return Outcome::OomKilled {
            message: format!("memory limit exceeded: {error:#}"),
        };
    }
    Outcome::Trapped {
        message: trap_message(&error),
    }
}

/// The trap text first, then the innermost function it happened in:
/// ``wasm trap: wasm `unreachable` instruction executed (in main)``.
/// Other fatal errors (a host call failing) keep their whole chain.
fn trap_message(error: &wasmtime::Error) -> String {
    let Some(trap) = error.downcast_ref::<wasmtime::Trap>() else {
        return super::one_line(error);
    };
    let place = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|bt| bt.frames().first())
        .map(|frame| match frame.func_name() {
            Some(name) => format!(" (in {name})"),
            None => format!(" (in wasm function {})", frame.func_index()),
        })
        .unwrap_or_default();
    format!("{trap}{place}")
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
