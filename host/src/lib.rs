//! wasmjob: Kubernetes-style Jobs, CronJobs and DaemonSets that run as
//! sandboxed WebAssembly instances.
pub mod manifest;
