//! The memory cap of one instance: `resources.limits.memory` over all its
//! linear memories together.

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

/// A [`ResourceLimiter`] that tracks the total of all memories.
pub struct MemoryCap {
    limit: u64,
    used: u64,
    denied: Arc<AtomicBool>,
}

impl MemoryCap {
    /// A cap of `limit` bytes; `denied` is set if the cap is ever hit.
    pub fn new(limit: u64, denied: Arc<AtomicBool>) -> Self {
        MemoryCap {
            limit,
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
