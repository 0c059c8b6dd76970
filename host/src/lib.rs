//! wasmjob: Kubernetes-style Jobs, CronJobs and DaemonSets that run as
//! sandboxed WebAssembly instances.
pub mod controller;
pub mod manifest;
pub mod runtime;
pub mod module;
pub mod store;
pub mod time;
