//! The memory cap of one instance: `resources.limits.memory` over all its
//! linear memories together, and the node's bound on each one
//! (`--memory-reservation`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::ResourceLimiter;

/// The error a guest is stopped with when it asks for more memory than its
/// limit. Growing past the limit ends the instance, as the kernel's OOM
/// killer ends a container, rather than returning -1 from `memory.grow`.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded: the instance asked for {requested} bytes")]
pub struct MemoryLimitExceeded {
    /// The limit in bytes.
    pub limit: u64,
    /// The total the instance would have had.
    pub requested: u64,
}

/// The error a guest is stopped with when one of its memories would grow
/// past the node's bound: the same OOM kill, with the node's setting named
/// (the instance's own limit may be well above it).
#[derive(Debug, thiserror::Error)]
#[error(
    "memory of {requested} bytes asked for, past this node's bound of {bound} bytes per linear \
     memory (serve --memory-reservation): run it on a node with a larger reservation"
)]
pub struct NodeMemoryBoundExceeded {
    /// The node's bound in bytes.
    pub bound: u64,
    /// The size the memory would have had.
    pub requested: u64,
}

/// A [`ResourceLimiter`] that tracks the total of all memories.
pub struct MemoryCap {
    limit: u64,
    bound: Option<u64>,
    used: u64,
    denied: Arc<AtomicBool>,
}

impl MemoryCap {
    /// A cap of `limit` bytes in all and `bound` bytes for one memory;
    /// `denied` is set if either is ever hit.
    pub fn new(limit: u64, bound: Option<u64>, denied: Arc<AtomicBool>) -> Self {
        MemoryCap {
            limit,
            bound,
            used: 0,
            denied,
        }
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        // The instance's memories go with it (see `metrics`).
        crate::metrics::memory_released(self.used);
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(bound) = self.bound
            && desired as u64 > bound
        {
            self.denied.store(true, Ordering::SeqCst);
            return Err(wasmtime::Error::new(NodeMemoryBoundExceeded {
                bound,
                requested: desired as u64,
            }));
        }
        let requested = self.used.saturating_sub(current as u64) + desired as u64;
        if requested > self.limit {
            self.denied.store(true, Ordering::SeqCst);
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                requested,
            }));
        }
        crate::metrics::memory_grew(requested.saturating_sub(self.used));
        self.used = requested;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Table elements are host memory too; a million is far beyond what
        // real programs use and keeps a hostile module from exhausting the host.
        Ok(desired <= 1_000_000)
    }
}
