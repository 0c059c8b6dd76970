//! Engine configuration (the instance pool and the address space it
//! reserves) and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeError;
use crate::manifest::memory_quantity;

/// How often every running guest is interrupted to yield.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's engine: pooling allocator laid out by `plan`, epoch
/// interruption, copy-on-write memory images.
pub fn build(plan: &PoolPlan) -> Result<Engine, RuntimeError> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.memory_init_cow(true);
    config.parallel_compilation(true);
    let mut pool = pool(plan.max_instances);
    if let Some(bytes) = plan.memory_bound {
        // Each linear memory gets `bytes` of address space and a one-page
        // guard instead of 4 GiB and 32 MiB: guests' loads and stores are
        // then bounds-checked in code instead of by the guard region.
        config.memory_reservation(bytes);
        config.memory_guard_size(BOUNDED_GUARD);
        pool.max_memory_size(bytes as usize);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
}

/// How the instance pool is laid out: how many instances, and whether its
/// linear memories are bounded to fit a total address-space reservation
/// (`--memory-reservation`, for devices whose address space is small: a
/// 39-bit arm64 kernel gives a process 256 GiB, and the default pool of 256
/// instances reserves over 2 TiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPlan {
    /// Instances that may exist at once.
    pub max_instances: u32,
    /// Largest size of one linear memory, when bounded; `None` is
    /// wasmtime's default of 4 GiB reserved (plus guards) per memory.
    pub memory_bound: Option<u64>,
}

/// The guard after each memory of a bounded pool: one Wasm page.
const BOUNDED_GUARD: u64 = 64 << 10;

/// The smallest bound a memory may get: a Rust guest's 1 MiB stack, its data
/// and a little heap.
const SMALLEST_MEMORY_BOUND: u64 = 16 << 20;

/// What an unbounded memory reserves: 4 GiB and wasmtime's 32 MiB guard.
const UNBOUNDED_MEMORY_SLOT: u64 = (4 << 30) + (32 << 20);

impl PoolPlan {
    /// The default layout for `max_instances`.
    pub fn unbounded(max_instances: u32) -> Self {
        PoolPlan {
            max_instances,
            memory_bound: None,
        }
    }

    /// The layout whose linear memories fit in `reservation` bytes of
    /// address space; unbounded when the default already fits.
    pub fn within(max_instances: u32, reservation: u64) -> Result<Self, RuntimeError> {
        let memories = u64::from(memory_slots(max_instances));
        if reservation >= memories * UNBOUNDED_MEMORY_SLOT {
            return Ok(PoolPlan::unbounded(max_instances));
        }
        let per_memory = reservation / memories;
        // Whole Wasm pages, each memory followed by its guard.
        let bound = (per_memory.saturating_sub(BOUNDED_GUARD)) & !((64 << 10) - 1);
        if bound < SMALLEST_MEMORY_BOUND {
            let needed = memories * (SMALLEST_MEMORY_BOUND + BOUNDED_GUARD);
            return Err(RuntimeError::PoolTooSmall(format!(
                "{} of address space leaves each of the pool's {memories} linear memories \
                 ({max_instances} instances) {:.1} MiB, under the smallest of {}: give at \
                 least {} or fewer instances (--max-instances)",
                memory_quantity(reservation),
                bound as f64 / f64::from(1 << 20),
                memory_quantity(SMALLEST_MEMORY_BOUND),
                memory_quantity(needed.next_multiple_of(1 << 30)),
            )));
        }
        Ok(PoolPlan {
            max_instances,
            memory_bound: Some(bound),
        })
    }

    /// The address space the pool's linear memories reserve, guards included.
    pub fn memory_reservation(&self) -> u64 {
        let memories = u64::from(memory_slots(self.max_instances));
        match self.memory_bound {
            None => memories * UNBOUNDED_MEMORY_SLOT,
            Some(bound) => memories * (bound + BOUNDED_GUARD),
        }
    }
}

/// Instance slots: `max_instances` plus one decommit batch (see [`pool`]).
fn instance_slots(max_instances: u32) -> u32 {
    let max_instances = max_instances.max(1);
    max_instances + DECOMMIT_BATCH.min(max_instances as usize) as u32
}

/// Linear memories the pool holds: two per instance slot.
fn memory_slots(max_instances: u32) -> u32 {
    instance_slots(max_instances) * 2
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
    let slots = instance_slots(max_instances);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots);
    pool.total_core_instances(slots * 8);
    pool.total_memories(memory_slots(max_instances));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pool_reserves_four_gibibytes_and_a_guard_per_memory() {
        let plan = PoolPlan::unbounded(256);
        // 256 instances and a decommit batch of 16, two memories each.
        assert_eq!(plan.memory_reservation(), 544 * ((4 << 30) + (32 << 20)));
    }

    #[test]
    fn a_reservation_bounds_each_memory_to_its_share_in_whole_pages() {
        let plan = PoolPlan::within(256, 64 << 30).expect("64Gi fits 256 instances");
        let bound = plan.memory_bound.expect("bounded");
        assert_eq!(bound % (64 << 10), 0, "whole Wasm pages");
        assert!(plan.memory_reservation() <= 64 << 30);
        // The share is used, less a page's guard and the rounding.
        assert!(bound > (64 << 30) / 544 - (128 << 10), "{bound}");
        let small = PoolPlan::within(4, 1 << 30).expect("1Gi fits 4 instances");
        assert!(small.memory_reservation() <= 1 << 30);
        assert_eq!(
            small.memory_bound,
            Some(((1 << 30) / 16 - (64 << 10)) & !0xffff)
        );
    }

    #[test]
    fn a_reservation_the_default_fits_in_leaves_memories_unbounded() {
        let plan = PoolPlan::within(1, 1 << 50).expect("a petabyte fits");
        assert_eq!(plan, PoolPlan::unbounded(1));
    }

    #[test]
    fn a_reservation_too_small_says_how_much_is_needed() {
        let err = PoolPlan::within(256, 1 << 30).expect_err("1Gi for 256 instances");
        let text = err.to_string();
        assert!(
            text.starts_with("--memory-reservation: 1Gi of address space"),
            "{text}"
        );
        assert!(
            text.contains("544 linear memories (256 instances)"),
            "{text}"
        );
        assert!(text.contains("give at least 9Gi"), "{text}");
        // What it names is enough.
        assert!(PoolPlan::within(256, 9 << 30).is_ok());
    }

    #[test]
    fn a_bounded_engine_is_built_and_an_unbounded_one_too() {
        for plan in [
            PoolPlan::unbounded(2),
            PoolPlan::within(2, 1 << 30).unwrap(),
        ] {
            build(&plan).expect("the engine");
        }
    }
}
