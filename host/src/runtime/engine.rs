//! Engine configuration and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeError;

/// How often every running guest is interrupted to yield.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's engine: pooling allocator sized for `max_instances`, epoch
/// interruption, copy-on-write memory images.
pub fn build(max_instances: u32) -> Result<Engine, RuntimeError> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.memory_init_cow(true);
    config.parallel_compilation(true);

    // A WASI p2 component is several core instances (the program, the p1
    // adapter, shims) with up to a couple of memories; size the pool so that
    // `max_instances` components fit.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances);
    pool.total_core_instances(max_instances * 8);
    pool.total_memories(max_instances * 2);
    pool.total_tables(max_instances * 4);
    pool.total_stacks(max_instances);
    pool.max_core_instances_per_component(32);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    // Slots of finished instances keep their pages warm for the next one.
    pool.max_unused_warm_slots(max_instances.min(64));
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts the ticker thread.
    pub fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("wasmjob-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
