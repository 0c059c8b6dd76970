//! How a node runs: its name and labels, the output it keeps per instance,
//! and its daemons' crash-loop back-off.

use std::collections::BTreeMap;

use crate::controller::daemonset::CrashLoop;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This node's name.
    pub node_name: String,
    /// Output kept per instance.
    pub output_limit: usize,
    /// This node's labels, which `nodeSelector` and node affinity match.
    pub node_labels: BTreeMap<String, String>,
    /// The restart back-off of daemon instances that exit.
    pub crash_loop: CrashLoop,
}
