//! How a node runs: its name and labels, the output it keeps per instance,
//! its daemons' crash-loop back-off, the key its Secrets are sealed with,
//! and the registries it takes images from.

use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// This node's taints, which instances must tolerate.
    pub node_taints: Vec<crate::manifest::Taint>,
    /// Instances this node runs at once at most (`serve --max-instances`);
    /// more wait, and start in priority order; unlimited when `None`.
    pub capacity: Option<usize>,
    /// The extended resources this node advertises (`serve --resources`).
    pub resources: BTreeMap<String, i64>,
    /// The restart back-off of daemon instances that exit.
    pub crash_loop: CrashLoop,
    /// The key Secrets are sealed with (see [`crate::secrets`]).
    pub keyring: Arc<crate::secrets::Keyring>,
    /// Only registry images under these run here (`serve
    /// --allowed-registries`); anything when `None`.
    pub allowed_registries: Option<crate::oci::allowed::AllowedRegistries>,
    /// The Pod Security levels of a namespace that sets none of its own
    /// (none: `privileged`) and the namespaces no level holds (`serve
    /// --pod-security-defaults`, `--admission-control-config-file`).
    pub pod_security: crate::access::admission_config::PodSecurityAdmission,
}
