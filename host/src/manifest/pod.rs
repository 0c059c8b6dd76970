//! The pod template: what one instance runs (`containers[0]`), its volumes,
//! its restart policy and its limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::placement::{Affinity, Placement};
use super::validate::{self, Check};
use super::{FieldError, parse_memory_quantity};

/// `spec.template`: the metadata and spec every instance is made from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplateSpec {
    /// Labels copied onto every instance.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// The instance's module and sandbox.
    #[serde(default)]
    pub spec: PodSpec,
}

/// Template metadata: labels and annotations; a `name` is accepted and ignored,
/// since instance names are generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMeta {
    /// Ignored: instance names are generated from the owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Copied onto every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Copied onto every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.template.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// Exactly one: the module to run.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// What happens when an instance fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Host directories and scratch directories the module may see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Wall-clock limit of one instance, in seconds; past it the instance is
    /// stopped and fails with reason `DeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Labels a node must have to run the instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// `nodeAffinity` with required `nodeSelectorTerms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

/// `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// Restart whatever happens (DaemonSets).
    Always,
    /// Re-run the same instance in place when it fails.
    OnFailure,
    /// Never re-run an instance; a Job creates a new one instead.
    Never,
}

impl RestartPolicy {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// `containers[0]`: a Wasm module and how to call it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// A DNS-1123 label; also argv\[0\] when `command` is empty.
    #[serde(default)]
    pub name: String,
    /// The module: a path relative to the manifest, `file://…`, or
    /// `sha256:<hex>` of a stored module.
    #[serde(default)]
    pub image: String,
    /// argv, before `args`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// argv, after `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The only environment the module sees, besides the injected variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Memory limit (and accepted, unenforced, CPU figures).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Where volumes appear inside the sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
}

/// One environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Any name without `=`.
    pub name: String,
    /// The value; empty when absent.
    #[serde(default)]
    pub value: String,
}

/// `resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// `limits.memory` caps the instance's linear memory.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub limits: ResourceList,
    /// Accepted for compatibility; wasmjob does not reserve resources.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub requests: ResourceList,
}

impl Resources {
    fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty()
    }
}

/// Memory and CPU quantities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceList {
    /// A Kubernetes quantity such as `64Mi` (a bare number is bytes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub memory: Option<String>,
    /// Accepted and validated, not enforced: a Wasm instance is preempted every
    /// 10 ms instead, so one guest cannot starve the others. `1`, `0.5` and
    /// `500m` alike.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub cpu: Option<String>,
}

impl ResourceList {
    fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none()
    }
}

/// A named volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Referred to by `volumeMounts[].name`.
    pub name: String,
    /// A directory of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolume>,
    /// A fresh empty directory per instance, removed when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolume>,
}

/// `hostPath`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathVolume {
    /// An absolute path, or (a wasmjob extension) one relative to the manifest.
    pub path: String,
    /// `""`, `Directory` or `DirectoryOrCreate`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `emptyDir`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyDirVolume {
    /// Accepted: `""` or `Memory` (both are a directory on disk here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Accepted and validated as a quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

/// A volume made visible at a path inside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    /// The volume's name.
    pub name: String,
    /// The absolute path the guest sees.
    pub mount_path: String,
    /// The guest may read but not write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

impl PodTemplateSpec {
    /// Checks the template. `allowed` lists the restart policies of the owning
    /// kind and `default` fills a missing one.
    pub fn normalize(
        &mut self,
        path: &str,
        allowed: &[RestartPolicy],
        default: RestartPolicy,
        kind: &str,
    ) -> Result<(), FieldError> {
        validate::labels(&self.metadata.labels, &format!("{path}.metadata.labels"))?;
        self.spec
            .normalize(&format!("{path}.spec"), allowed, default, kind)
    }
}

impl PodSpec {
    fn normalize(
        &mut self,
        path: &str,
        allowed: &[RestartPolicy],
        default: RestartPolicy,
        kind: &str,
    ) -> Result<(), FieldError> {
        match self.containers.len() {
            0 => {
                return Err(FieldError::new(
                    format!("{path}.containers"),
                    "is required: one container whose image is the Wasm module to run",
                ));
            }
            1 => {}
            n => {
                return Err(FieldError::new(
                    format!("{path}.containers"),
                    format!(
                        "has {n} containers; a wasmjob instance runs exactly one module, \
                         so give each module its own object"
                    ),
                ));
            }
        }
        let policy = *self.restart_policy.get_or_insert(default);
        if !allowed.contains(&policy) {
            let names: Vec<_> = allowed.iter().map(|p| p.as_str()).collect();
            return Err(FieldError::new(
                format!("{path}.restartPolicy"),
                format!(
                    "unsupported value {:?}: a {kind} needs {}",
                    policy.as_str(),
                    names.join(" or ")
                ),
            ));
        }
        if let Some(secs) = self.active_deadline_seconds {
            validate::positive(secs).at(&format!("{path}.activeDeadlineSeconds"))?;
        }
        self.placement_at(path)?;
        let mut names = Vec::new();
        for (i, volume) in self.volumes.iter().enumerate() {
            volume.validate(&format!("{path}.volumes[{i}]"))?;
            if names.contains(&volume.name.as_str()) {
                return Err(FieldError::new(
                    format!("{path}.volumes[{i}].name"),
                    format!("duplicate volume name {:?}", volume.name),
                ));
            }
            names.push(&volume.name);
        }
        self.containers[0].validate(&format!("{path}.containers[0]"), &names)
    }
}

impl PodSpec {
    /// Where the instance may run (the template was validated at load).
    pub fn placement(&self) -> Placement {
        self.placement_at("spec").unwrap_or_default()
    }

    /// The one node this template's placement admits by name — a
    /// `nodeSelector` on `kubernetes.io/hostname`, or a required node
    /// affinity whose only term asks for one hostname — if it names one.
    pub fn pinned_node(&self) -> Option<&str> {
        use super::disconnect::HOSTNAME_LABEL;
        if let Some(node) = self.node_selector.get(HOSTNAME_LABEL) {
            return Some(node);
        }
        let required = self
            .affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()?;
        let [term] = required.node_selector_terms.as_slice() else {
            return None;
        };
        term.match_expressions
            .iter()
            .find(|e| e.key == HOSTNAME_LABEL && e.operator == "In" && e.values.len() == 1)
            .map(|e| e.values[0].as_str())
    }

    fn placement_at(&self, path: &str) -> Result<Placement, FieldError> {
        Placement::new(&self.node_selector, self.affinity.as_ref(), path)
    }
}

impl Container {
    fn validate(&self, path: &str, volumes: &[&str]) -> Result<(), FieldError> {
        validate::dns_label(&self.name).at(&format!("{path}.name"))?;
        if self.image.trim().is_empty() {
            return Err(FieldError::new(
                format!("{path}.image"),
                "is required: a .wasm or .wat path relative to the manifest, file://PATH, \
                 or sha256:DIGEST of a stored module",
            ));
        }
        for (i, var) in self.env.iter().enumerate() {
            if var.name.is_empty() || var.name.contains('=') {
                return Err(FieldError::new(
                    format!("{path}.env[{i}].name"),
                    format!(
                        "invalid name {:?}: must be non-empty and contain no '='",
                        var.name
                    ),
                ));
            }
        }
        for (list, name) in [
            (&self.resources.limits, "limits"),
            (&self.resources.requests, "requests"),
        ] {
            if let Some(memory) = &list.memory {
                parse_memory_quantity(memory).at(&format!("{path}.resources.{name}.memory"))?;
            }
            if let Some(cpu) = &list.cpu {
                validate_cpu(cpu).at(&format!("{path}.resources.{name}.cpu"))?;
            }
        }
        let mut paths = Vec::new();
        for (i, mount) in self.volume_mounts.iter().enumerate() {
            let at = format!("{path}.volumeMounts[{i}]");
            if !volumes.contains(&mount.name.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!("no volume named {:?} in spec.volumes", mount.name),
                ));
            }
            if !mount.mount_path.starts_with('/') {
                return Err(FieldError::new(
                    format!("{at}.mountPath"),
                    format!("must be an absolute path, got {:?}", mount.mount_path),
                ));
            }
            if paths.contains(&mount.mount_path.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.mountPath"),
                    format!("{:?} is mounted twice", mount.mount_path),
                ));
            }
            paths.push(&mount.mount_path);
        }
        Ok(())
    }

    /// The memory limit in bytes, if one is set.
    pub fn memory_limit(&self) -> Option<u64> {
        let text = self.resources.limits.memory.as_deref()?;
        parse_memory_quantity(text).ok()
    }
}

fn validate_cpu(text: &str) -> Result<(), String> {
    let number = text.strip_suffix('m').unwrap_or(text);
    match number.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(()),
        _ => Err(format!(
            "invalid CPU quantity {text:?}: expected cores such as 0.5 or 500m"
        )),
    }
}

impl Volume {
    fn validate(&self, path: &str) -> Result<(), FieldError> {
        validate::dns_label(&self.name).at(&format!("{path}.name"))?;
        match (&self.host_path, &self.empty_dir) {
            (Some(host), None) => {
                if host.path.is_empty() {
                    return Err(FieldError::new(
                        format!("{path}.hostPath.path"),
                        "is required",
                    ));
                }
                match host.kind.as_deref() {
                    None | Some("") | Some("Directory") | Some("DirectoryOrCreate") => Ok(()),
                    Some(other) => Err(FieldError::new(
                        format!("{path}.hostPath.type"),
                        format!(
                            "unsupported value {other:?}: wasmjob mounts directories only \
                             (use Directory, DirectoryOrCreate or leave it empty)"
                        ),
                    )),
                }
            }
            (None, Some(empty)) => {
                if let Some(limit) = &empty.size_limit {
                    parse_memory_quantity(limit).at(&format!("{path}.emptyDir.sizeLimit"))?;
                }
                match empty.medium.as_deref() {
                    None | Some("") | Some("Memory") => Ok(()),
                    Some(other) => Err(FieldError::new(
                        format!("{path}.emptyDir.medium"),
                        format!("unsupported value {other:?}: use \"\" or Memory"),
                    )),
                }
            }
            (Some(_), Some(_)) => Err(FieldError::new(
                path,
                "has both hostPath and emptyDir; a volume has exactly one source",
            )),
            (None, None) => Err(FieldError::new(
                path,
                "needs a source: hostPath or emptyDir (the volume types wasmjob supports)",
            )),
        }
    }
}
