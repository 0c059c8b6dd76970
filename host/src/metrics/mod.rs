//! The node's metrics, served at `/metrics` in Prometheus' text format
//! (version 0.0.4, as kube-state-metrics serves it) through the
//! `prometheus-client` crate:
//!
//! - `own`: wasmjob's own counters, gauges and histograms, which the
//!   executor, the runtime, the store and the CronJob runner update as
//!   things happen (instances started and ended, durations, start latency,
//!   CronJob creation skew, store commit latency, instance memory);
//! - `state`: the families kube-state-metrics exports for Jobs, CronJobs,
//!   DaemonSets and nodes, with its names and labels, made at each scrape
//!   from the objects as the API reads them, so the dashboards and alerts
//!   written for it work unchanged.

mod own;
mod state;

pub use own::{
    commit_took, cronjob_job_created, enable, instance_ended, instance_started, memory_grew,
    memory_released, watch_read,
};
pub use state::{Objects, QueueDepth, state_registry};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use prometheus_client::encoding::prometheus_text::encode;

/// The whole exposition: wasmjob's own metrics, then the objects' state.
pub fn render(objects: &Objects) -> String {
    let mut text = String::new();
    // Writing to a String fails only if a metric's own encoding does,
    // which these never do; a failed part is left out rather than the page.
    let _ = encode(&mut text, &own::registry());
    let _ = encode(&mut text, &state_registry(objects));
    text
}

#[cfg(test)]
mod tests;
