//! What the runner tells its caller as it goes: `wasmjob run` prints
//! instances and Jobs as they end; `wasmjob serve` logs them.

use crate::manifest::JobStatus;
use crate::store::InstanceRecord;

/// What the runner tells its caller as it goes.
pub trait Observer {
    /// An instance run ended (an attempt, when restarted in place).
    fn instance_ended(&mut self, job: &str, instance: &InstanceRecord, attempt: u32, output: &[u8]);
    /// A Job finished.
    fn job_ended(&mut self, job: &str, status: &JobStatus);
    /// The runner has nothing to do until the next event: a time to write
    /// out what was buffered.
    fn caught_up(&mut self) {}
}
