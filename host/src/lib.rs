//! wasmjob: Kubernetes-style Jobs, CronJobs and DaemonSets that run as
//! sandboxed WebAssembly instances instead of containers.
//!
//! Data flows one way: a [`manifest`] is loaded and validated, [`apply`]
//! reads its module where the manifest is and [`admission`] admits it, the
//! [`store`] records it, a [`controller`] decides what should run, the
//! [`executor`] runs instances in the [`runtime`]'s sandbox, and the results
//! and logs go back into the store. [`runner`] is a node's loop that carries
//! the controllers' decisions out, for `wasmjob run` and `wasmjob serve`;
//! [`api`] serves a node over HTTP; [`cli`] is the command line on top.

pub mod access;
pub mod admission;
pub mod api;
pub mod apply;
pub mod cli;
pub mod columns;
pub mod controller;
pub mod egress;
pub mod executor;
pub mod ids;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod module;
pub mod oci;
pub mod priority;
pub mod queue;
pub mod resource;
pub mod runner;
pub mod runtime;
pub mod schedule;
pub mod secrets;
pub mod selector;
pub mod store;
pub mod time;

#[cfg(test)]
mod fuzz_corpus;

/// The binaries link GCC's unwinder statically (`build.rs`): panics still
/// unwind, are caught where wasmjob catches them (tokio tasks: an
/// executor's run), and carry a backtrace.
#[cfg(test)]
mod unwinding {
    #[test]
    fn a_panic_unwinds_and_is_caught_with_its_backtrace() {
        let caught = std::panic::catch_unwind(|| {
            let trace = std::backtrace::Backtrace::force_capture();
            std::panic::panic_any(trace.to_string());
        });
        let payload = caught.expect_err("the panic was caught");
        let trace = payload.downcast_ref::<String>().expect("the payload");
        assert!(
            trace.contains("a_panic_unwinds_and_is_caught_with_its_backtrace"),
            "{trace}"
        );
    }

    #[test]
    fn a_panicking_task_ends_as_a_panic_and_the_runtime_goes_on() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a runtime");
        let ended = runtime.block_on(runtime.spawn(async { panic!("in a task") }));
        assert!(ended.expect_err("the task panicked").is_panic());
        assert_eq!(runtime.block_on(runtime.spawn(async { 7 })).unwrap(), 7);
    }
}
