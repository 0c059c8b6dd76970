//! `wasmjob-sdk`: what a Rust plugin author depends on to write a wasmjob job.
//!
//! Any WASI command is already a valid job: build a `main` with
//! `cargo build --target wasm32-wasip1` (or `wasm32-wasip2`) and point a Job's
//! `containers[0].image` at the `.wasm`. This crate adds typed access to what
//! the host tells an instance about itself.
//!
//! ```no_run
//! // A whole plugin: prints who it is, then does its share of the work.
//! fn main() {
//!     let ctx = wasmjob_sdk::Context::from_env();
//!     match ctx.completion_index {
//!         Some(index) => println!("{} instance {} handles index {index}", ctx.job_name, ctx.instance_name),
//!         None => println!("{} running on {}", ctx.instance_name, ctx.node_name),
//!     }
//! }
//! ```
//!
//! The host interfaces beyond WASI (structured log, work queue, checkpoint)
//! are not offered by the host yet; this crate will expose them when it does.

// The crate example is a whole plugin, so its `main` is the point.
#![allow(clippy::needless_doctest_main)]

use std::env;

/// What the host injects into every instance's environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The owning Job's name (`JOB_NAME`).
    pub job_name: String,
    /// This instance's name (`INSTANCE_NAME`, also `HOSTNAME`).
    pub instance_name: String,
    /// The node running it (`NODE_NAME`).
    pub node_name: String,
    /// Indexed Jobs only: this instance's index (`JOB_COMPLETION_INDEX`).
    pub completion_index: Option<u32>,
}

impl Context {
    /// Reads the context from the environment the host gave this instance.
    /// Missing variables (running outside wasmjob) read as empty.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| env::var(key).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        Context {
            job_name: get("JOB_NAME").unwrap_or_default(),
            instance_name: get("INSTANCE_NAME")
                .or_else(|| get("HOSTNAME"))
                .unwrap_or_default(),
            node_name: get("NODE_NAME").unwrap_or_default(),
            completion_index: get("JOB_COMPLETION_INDEX").and_then(|v| v.parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Context;

    #[test]
    fn reads_the_injected_variables() {
        let vars = [
            ("JOB_NAME", "pi"),
            ("INSTANCE_NAME", "pi-2-x7k2q"),
            ("NODE_NAME", "edge-1"),
            ("JOB_COMPLETION_INDEX", "2"),
        ];
        let ctx = Context::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(
            ctx,
            Context {
                job_name: "pi".into(),
                instance_name: "pi-2-x7k2q".into(),
                node_name: "edge-1".into(),
                completion_index: Some(2),
            }
        );
    }

    #[test]
    fn outside_wasmjob_everything_is_empty() {
        assert_eq!(Context::from_lookup(|_| None), Context::default());
    }
}
