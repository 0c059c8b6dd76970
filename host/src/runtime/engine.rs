//! Engine configuration and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(max_instances)));
    Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// The pooling allocator's configuration for `max_instances` instances at
/// once; public so the benchmark's raw engine loop uses the same.
pub fn pool(max_instances: u32) -> PoolingAllocationConfig {
    // A WASI p2 component is several core instances (the program, the p1
    // adapter, shims) with up to a couple of memories; size the pool so that
    // `max_instances` components fit.
    //
    // Freed slots wait in a decommit queue (batches of DECOMMIT_BATCH) before
    // they can be reused; wasmtime flushes the queue when the pool runs dry,
    // but a thread that finds it being flushed by another sees "limit
    // reached". Slots for one more batch keep a full pool from failing so.
    // A pool of a few instances (a `wasmjob run` of one) batches as many as
    // it holds: its slots are set up at every start of the process, and
    // twenty of them for one instance took a tenth of a millisecond.
    let max_instances = max_instances.max(1);
    let batch = DECOMMIT_BATCH.min(max_instances as usize);
    let slots = max_instances + batch as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots);
    pool.total_core_instances(slots * 8);
    pool.total_memories(slots * 2);
    pool.total_tables(slots * 4);
    pool.total_stacks(slots);
    pool.max_core_instances_per_component(32);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    // Slots of finished instances keep their pages warm for the next one.
    pool.max_unused_warm_slots(max_instances.min(64));
    // Resetting a finished instance's memory with `madvise` drops its pages,
    // so the next instance faults them in again, and every drop flushes the
    // TLB of every core running this process: with tiny instances that was a
    // third of an executor thread's time. Instead, the pages an instance
    // dirtied (found by the PAGEMAP_SCAN ioctl on Linux 6.7+) in the first
    // few MiB are reset in place with memset and stay resident; the rest is
    // decommitted in batches.
    pool.pagemap_scan(Enabled::Auto);
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(64 << 10);
    pool.decommit_batch_size(batch);
    pool
}

/// Freed slots decommitted together.
const DECOMMIT_BATCH: usize = 16;

/// Bytes of each linear memory (and each table) kept resident between
/// instances: a small Rust guest's stack, data and heap.
const KEEP_RESIDENT: usize = 2 << 20;

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
