//! The Wasm runtime: one wasmtime [`Engine`] per process, compiled modules
//! cached on disk and pre-linked in memory, and one sandboxed store per
//! instance.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasmjob::runtime::RuntimeError> {
//! use wasmjob::runtime::{Runtime, RuntimeConfig, SandboxSpec};
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let bytes = std::fs::read("dist/pi.wasm").unwrap();
//! let prepared = runtime.prepare(&wasmjob::module::digest(&bytes), &bytes)?;
//! let report = runtime.run(&prepared, SandboxSpec::new(vec!["pi".into(), "10".into()])).await;
//! println!("{:?}: {}", report.outcome, String::from_utf8_lossy(&report.output));
//! # Ok(()) }
//! ```
//!
//! Why these choices: the pooling allocator and copy-on-write memory images
//! make instantiation a few microseconds, which is what lets a Job of ten
//! thousand tiny instances finish in seconds. Epoch interruption (a 10 ms
//! ticker) makes every guest yield to the async executor, so a spinning guest
//! neither starves others nor escapes its deadline.

mod cache;
mod engine;
mod http;
pub mod keyvalue;
mod limits;
pub mod line_times;
pub mod live;
pub mod network;
mod output;
pub mod plugin;
mod sandbox;
mod socket_bytes;

pub use engine::{PoolPlan, pool as pooling_config};
pub use limits::MemoryLimitExceeded;
pub use output::CapturedOutput;
pub use plugin::{CheckpointSink, LogLevel, LogRecord, PluginContext, PluginEnv};
pub use sandbox::{DEFAULT_MEMORY_LIMIT, MAX_OPEN_HANDLES, Mount, SandboxSpec};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module};
use wasmtime_wasi::p2::bindings::CommandPre;

use self::cache::CompiledCache;
use self::engine::EpochTicker;
use self::sandbox::{ComponentState, CoreState};
use crate::manifest::Outcome;

/// Output kept per instance when nothing else is configured: 1 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled modules are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may exist at once; sizes the pooling allocator.
    pub max_instances: u32,
    /// The address space the pool's linear memories may reserve in all
    /// (`--memory-reservation`); `None` is wasmtime's 4 GiB per memory.
    pub memory_reservation: Option<u64>,
}

impl RuntimeConfig {
    /// The pool layout this configuration asks for; an error names a
    /// reservation too small for the instances.
    pub fn pool_plan(&self) -> Result<PoolPlan, RuntimeError> {
        match self.memory_reservation {
            None => Ok(PoolPlan::unbounded(self.max_instances)),
            Some(bytes) => PoolPlan::within(self.max_instances, bytes),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 256,
            memory_reservation: None,
        }
    }
}

/// Why a module cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be created.
    #[error("cannot start the Wasm engine: {0}")]
    Engine(String),
    /// The bytes are neither a core module nor a component, or fail validation.
    #[error("not a valid WebAssembly module or component: {0}")]
    Invalid(String),
    /// A core module without `_start`.
    #[error(
        "the module has no `_start` export: wasmjob runs WASI command modules \
         (build with `cargo build --target wasm32-wasip1` from a `main`)"
    )]
    NotACommand,
    /// A component that does not export `wasi:cli/run`.
    #[error(
        "the component does not export wasi:cli/run: wasmjob runs WASI command components \
         (build with `cargo build --target wasm32-wasip2` from a `main`): {0}"
    )]
    NotACommandComponent(String),
    /// An import the host does not provide.
    #[error("the module imports something wasmjob does not provide: {0}")]
    UnknownImport(String),
    /// A module whose memory does not fit the node's bound.
    #[error(
        "the module's memory does not fit this node's bound of {0} (start the node with a \
         larger --memory-reservation or fewer --max-instances)"
    )]
    PastNodeBound(String),
    /// `--memory-reservation` too small for the pool's instances.
    #[error("--memory-reservation: {0}")]
    PoolTooSmall(String),
}

/// A module ready to instantiate: compiled, linked, checked.
pub enum Prepared {
    /// A WASI preview 1 command module.
    Core(InstancePre<CoreState>),
    /// A WASI preview 2 command component.
    Component(CommandPre<ComponentState>),
}

impl Prepared {
    /// The largest initial linear memory the module (or any module inside the
    /// component) declares, in bytes: what instantiating it costs before it
    /// runs a single instruction.
    pub fn initial_memory(&self) -> u64 {
        let required = match self {
            Prepared::Core(pre) => Some(pre.module().resources_required()),
            Prepared::Component(pre) => pre.instance_pre().component().resources_required(),
        };
        required
            .and_then(|r| r.max_initial_memory_size)
            .unwrap_or(0)
            .saturating_mul(WASM_PAGE)
    }
}

/// The size of a WebAssembly page.
const WASM_PAGE: u64 = 64 << 10;

/// The engine, its linkers and the module caches of this process.
pub struct Runtime {
    engine: Engine,
    // Each linker is built when the first module of its kind is prepared:
    // a `wasmjob run` of one core module never pays for WASI p2's (nor the
    // other way round), and linking WASI was a tenth of such a run.
    core_linker: OnceLock<wasmtime::Linker<CoreState>>,
    component_linker: OnceLock<wasmtime::component::Linker<ComponentState>>,
    compiled: CompiledCache,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
    plan: PoolPlan,
    _ticker: EpochTicker,
}

/// The size past which a module not yet compiled is compiled off a node's
/// loop (see [`Runtime::compiles_long`]): Rust plugins are well under it,
/// Python and JavaScript components well over.
pub const LONG_COMPILE_BYTES: usize = 4 << 20;

impl Runtime {
    /// Creates the engine (pooling allocator, epoch interruption); WASI is
    /// linked into it when the first module needs it.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let plan = config.pool_plan()?;
        let engine = engine::build(&plan)?;
        let compiled = CompiledCache::new(&engine, config.cache_dir);
        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime {
            engine,
            core_linker: OnceLock::new(),
            component_linker: OnceLock::new(),
            compiled,
            prepared: Mutex::new(HashMap::new()),
            plan,
            _ticker: ticker,
        })
    }

    /// A module wasmtime refuses to compile for this pool: with bounded
    /// memories, one whose declared memory is past the bound; the message
    /// names the node's setting.
    fn past_bound(&self, error: RuntimeError) -> RuntimeError {
        match (error, self.plan.memory_bound) {
            (RuntimeError::Invalid(message), Some(bound))
                if message.contains("pooling allocator") =>
            {
                RuntimeError::PastNodeBound(format!(
                    "{} per linear memory: {message}",
                    crate::manifest::memory_quantity(bound)
                ))
            }
            (error, _) => error,
        }
    }

    /// The instance pool's layout.
    pub fn pool_plan(&self) -> PoolPlan {
        self.plan
    }

    /// Compiles (or loads from the disk cache) and links the module with this
    /// content digest. Everything that can be wrong with a module is found here,
    /// so `apply` calls it to refuse bad modules before storing anything.
    pub fn prepare(&self, digest: &str, bytes: &[u8]) -> Result<Arc<Prepared>, RuntimeError> {
        if let Some(prepared) = self.prepared.lock().expect("prepared cache").get(digest) {
            return Ok(prepared.clone());
        }
        let prepared = if is_component(bytes) {
            let component: Component =
                (self.compiled.component(digest, bytes)).map_err(|e| self.past_bound(e))?;
            let pre = self
                .component_linker()?
                .instantiate_pre(&component)
                .map_err(|e| RuntimeError::UnknownImport(one_line(&e)))?;
            let command = CommandPre::new(pre)
                .map_err(|e| RuntimeError::NotACommandComponent(one_line(&e)))?;
            Prepared::Component(command)
        } else {
            let module: Module =
                (self.compiled.module(digest, bytes)).map_err(|e| self.past_bound(e))?;
            if module.get_export("_start").is_none() {
                return Err(RuntimeError::NotACommand);
            }
            let pre = self
                .core_linker()?
                .instantiate_pre(&module)
                .map_err(|e| RuntimeError::UnknownImport(one_line(&e)))?;
            Prepared::Core(pre)
        };
        let prepared = Arc::new(prepared);
        self.prepared
            .lock()
            .expect("prepared cache")
            .insert(digest.to_owned(), prepared.clone());
        Ok(prepared)
    }

    /// Whether preparing `bytes` means a long compile: a module over
    /// [`LONG_COMPILE_BYTES`] neither prepared nor in the disk cache (the
    /// interpreters Python and JavaScript plugins carry take 6–8 s on two
    /// cores). A node compiles those off its loop (see `runner::pulls`).
    pub fn compiles_long(&self, digest: &str, bytes: &[u8]) -> bool {
        bytes.len() > LONG_COMPILE_BYTES
            && self.prepared(digest).is_none()
            && !self.compiled.has(digest, is_component(bytes))
    }

    /// The module of this digest, if it was prepared (admission prepares
    /// every container's module of an object).
    pub fn prepared(&self, digest: &str) -> Option<Arc<Prepared>> {
        let cache = self.prepared.lock().expect("prepared cache");
        cache.get(digest).cloned()
    }

    fn core_linker(&self) -> Result<&wasmtime::Linker<CoreState>, RuntimeError> {
        built_once(&self.core_linker, || sandbox::core_linker(&self.engine))
    }

    fn component_linker(
        &self,
    ) -> Result<&wasmtime::component::Linker<ComponentState>, RuntimeError> {
        built_once(&self.component_linker, || {
            sandbox::component_linker(&self.engine)
        })
    }

    /// Runs one instance to its end in a fresh sandbox.
    pub async fn run(&self, prepared: &Prepared, spec: SandboxSpec) -> RunReport {
        sandbox::run(&self.engine, self.plan.memory_bound, prepared, &spec, None).await
    }

    /// Runs one instance in a fresh sandbox as `spec` describes it, which
    /// the caller keeps.
    pub async fn run_shared(&self, prepared: &Prepared, spec: &SandboxSpec) -> RunReport {
        sandbox::run(&self.engine, self.plan.memory_bound, prepared, spec, None).await
    }

    /// Runs one instance of a spec that several share, named
    /// `instance_name` (the value of the spec's `instance_name_vars`).
    pub async fn run_named(
        &self,
        prepared: &Prepared,
        spec: &SandboxSpec,
        instance_name: &str,
    ) -> RunReport {
        let bound = self.plan.memory_bound;
        sandbox::run(&self.engine, bound, prepared, spec, Some(instance_name)).await
    }
}

/// The value in `cell`, built by `build` the first time; a failed build is
/// not kept, so the next call tries again.
fn built_once<T>(
    cell: &OnceLock<T>,
    build: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<&T, RuntimeError> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = build()?;
    Ok(cell.get_or_init(|| value))
}

/// An engine error as one line: causes joined with `: `, blank lines and
/// frame dumps folded, so a user-facing message stays one line.
pub(crate) fn one_line(error: &wasmtime::Error) -> String {
    format!("{error:#}")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the bytes are a component (preamble layer 1) rather than a core
/// module (layer 0).
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"\0asm") && bytes[6..8] == [0x01, 0x00]
}

/// What one run of an instance produced.
#[derive(Debug)]
pub struct RunReport {
    /// How it ended.
    pub outcome: Outcome,
    /// stdout and stderr interleaved as written, capped, with a truncation
    /// marker at the end when output was dropped.
    pub output: Vec<u8>,
    /// Whether output was dropped.
    pub truncated: bool,
    /// When each line of `output` began.
    pub times: line_times::LineTimes,
    /// Structured records logged through `wasmjob:plugin/log`, in order.
    pub records: Vec<LogRecord>,
    /// Destinations its network egress was refused (see [`network`]).
    pub network_denied: Vec<String>,
}
