//! wasmjob: Kubernetes-style Jobs, CronJobs and DaemonSets that run as
//! sandboxed WebAssembly instances instead of containers.
//!
//! Data flows one way: a [`manifest`] is loaded and validated, [`apply`]
//! resolves its module into the [`store`], a [`controller`] decides what should
//! run, the [`executor`] runs instances in the [`runtime`]'s sandbox, and the
//! results and logs go back into the store. [`runner`] drives that loop for
//! `wasmjob run`; [`cli`] is the command line on top.

pub mod api;
pub mod apply;
pub mod cli;
pub mod controller;
pub mod executor;
pub mod ids;
pub mod logging;
pub mod manifest;
pub mod module;
pub mod queue;
pub mod resource;
pub mod runner;
pub mod runtime;
pub mod schedule;
pub mod selector;
pub mod store;
pub mod time;

#[cfg(test)]
mod fuzz_corpus;
