//! The pod template: what one instance runs (its `initContainers` in order,
//! native sidecars beside the rest, then its `containers` together, each a
//! Wasm module in a sandbox of its own sharing the instance's volumes, which
//! `volume` defines), where its variables come from, its restart policy,
//! placement and limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::placement::{Affinity, Placement};
use super::taints::Toleration;
use super::validate::required;
use super::validate::{self, Check};
use super::{FieldError, parse_memory_quantity};
use super::{Volume, VolumeMount};

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
    /// Run in order before `containers`, each to its end (a failing one
    /// fails the attempt); one with `restartPolicy: Always` is a native
    /// sidecar: started in its turn, it runs beside what follows and is
    /// stopped when the `containers` have ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// At least one: the modules the instance runs, together; it succeeds
    /// when all succeed.
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
    /// The node taints the instance tolerates (see `taints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// The PriorityClass whose value orders this template's waiting
    /// instances on a node that has room for fewer than wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// How long a stopped instance (its Job deleted, suspended or ended,
    /// its node tainted) may run on before it is ended; at once when
    /// absent. A Wasm guest gets no SIGTERM: this is the time it has to
    /// finish on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
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

/// A container: a Wasm module and how to call it.
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
    /// Init containers only: `Always` makes a native sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// argv, before `args`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// argv, after `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The only environment the module sees, besides the injected variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Every key of a ConfigMap or Secret as a variable (before `env`,
    /// which overrides them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Memory limit (and accepted, unenforced, CPU figures).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Where volumes appear inside the sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// The instance's working directory, an absolute path. WASI has no
    /// initial working directory; the sandbox exports it as `PWD`, where
    /// Go's wasip1 runtime and many guests take it from (a Rust or C guest
    /// resolves relative paths from `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
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
    /// Where the value comes from instead: a ConfigMap's or Secret's key,
    /// the instance's own fields, or its limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// `env[].valueFrom`: exactly one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A field of the instance (`metadata.name`, `spec.nodeName`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldSelector>,
    /// A limit or request of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
}

/// One key of a named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySelector {
    /// The object's name, in the instance's namespace.
    #[serde(default)]
    pub name: String,
    /// The key.
    pub key: String,
    /// A missing object or key leaves the variable out instead of keeping
    /// the instance waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// `fieldRef`: a field of the instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSelector {
    /// `metadata.name`, `metadata.namespace`, `metadata.uid`,
    /// `metadata.labels['KEY']`, `metadata.annotations['KEY']`,
    /// `spec.nodeName`, `spec.serviceAccountName`, `status.hostIP`,
    /// `status.podIP` (and, in volumes, `metadata.labels` and
    /// `metadata.annotations` whole).
    pub field_path: String,
    /// Accepted: `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// `resourceFieldRef`: a limit or request of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFieldSelector {
    /// `limits.memory`, `limits.cpu`, `requests.memory`, `requests.cpu`.
    pub resource: String,
    /// Needed in volumes; in `env` the container itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// The unit of the value (`1Mi`, `1m`); 1 by default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub divisor: Option<String>,
}

/// `envFrom[]`: every key of one ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    /// Put before every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameSelector>,
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameSelector>,
}

/// A named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameSelector {
    /// The object's name, in the instance's namespace.
    #[serde(default)]
    pub name: String,
    /// A missing object is skipped instead of keeping the instance waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
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

/// Memory and CPU quantities, and extended resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Extended resources (`nvidia.com/gpu: 1`): whole numbers of what a
    /// node advertises (`serve --resources`); an instance starts only on a
    /// node with that many free. `ephemeral-storage` is accepted and
    /// validated, not enforced.
    #[serde(flatten)]
    pub extended: BTreeMap<String, serde_json::Value>,
}

impl ResourceList {
    fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none() && self.extended.is_empty()
    }

    /// The whole number of extended resource `name` asked for.
    pub fn extended_count(&self, name: &str) -> Option<i64> {
        extended_count(self.extended.get(name)?).ok()
    }
}

/// Whether a node advertising `have` could run an instance asking for
/// `demand` of its extended resources (however much is in use).
pub fn has_resources(demand: &BTreeMap<String, i64>, have: &BTreeMap<String, i64>) -> bool {
    demand
        .iter()
        .all(|(name, count)| have.get(name).copied().unwrap_or(0) >= *count)
}

/// An extended resource's amount: a whole number, as a number or text.
fn extended_count(value: &serde_json::Value) -> Result<i64, String> {
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(format!(
            "must be a whole number of the resource, got {value}: extended resources are counted"
        )),
    }
}

impl Container {
    /// What one instance of this container takes of each extended
    /// resource: its limit, or else its request.
    pub fn extended_resources(&self) -> BTreeMap<String, i64> {
        let mut asked = BTreeMap::new();
        let resources = &self.resources;
        let names = resources
            .limits
            .extended
            .keys()
            .chain(resources.requests.extended.keys());
        for name in names {
            if name == "ephemeral-storage" {
                continue;
            }
            let count = (resources.limits.extended_count(name))
                .or_else(|| resources.requests.extended_count(name))
                .unwrap_or(0);
            asked.insert(name.clone(), count);
        }
        asked
    }
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
        if self.containers.is_empty() {
            return Err(FieldError::new(
                format!("{path}.containers"),
                "is required: at least one container, whose image is the Wasm module to run",
            ));
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
        if let Some(class) = &self.priority_class_name {
            validate::object_name(class, 253).at(&format!("{path}.priorityClassName"))?;
        }
        if let Some(secs) = self.termination_grace_period_seconds {
            validate::non_negative(secs).at(&format!("{path}.terminationGracePeriodSeconds"))?;
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
        let mut seen: Vec<&str> = Vec::new();
        let all = (self.init_containers.iter().enumerate())
            .map(|(i, c)| (format!("{path}.initContainers[{i}]"), c, true))
            .chain(
                (self.containers.iter().enumerate())
                    .map(|(i, c)| (format!("{path}.containers[{i}]"), c, false)),
            );
        for (at, container, init) in all {
            container.validate(&at, &names)?;
            if seen.contains(&container.name.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!("duplicate container name {:?}", container.name),
                ));
            }
            seen.push(&container.name);
            match (container.restart_policy.as_deref(), init) {
                (None, _) | (Some("Always"), true) => {}
                (Some(other), true) => {
                    return Err(FieldError::new(
                        format!("{at}.restartPolicy"),
                        format!(
                            "unsupported value {other:?}: an init container's restartPolicy is \
                             Always (a native sidecar) or absent"
                        ),
                    ));
                }
                (Some(_), false) => {
                    return Err(FieldError::new(
                        format!("{at}.restartPolicy"),
                        "may only be set on init containers (restartPolicy: Always makes a \
                         native sidecar)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether an instance runs more than one module (init containers,
    /// sidecars, several containers).
    pub fn is_multi(&self) -> bool {
        !self.init_containers.is_empty() || self.containers.len() > 1
    }

    /// What one instance takes of each extended resource: its containers'
    /// together (an init container runs alone, before them: the larger of
    /// its and theirs).
    pub fn extended_resources(&self) -> BTreeMap<String, i64> {
        let mut total: BTreeMap<String, i64> = BTreeMap::new();
        for container in &self.containers {
            for (name, count) in container.extended_resources() {
                *total.entry(name).or_default() += count;
            }
        }
        for container in &self.init_containers {
            for (name, count) in container.extended_resources() {
                let entry = total.entry(name).or_default();
                *entry = (*entry).max(count);
            }
        }
        total.retain(|_, count| *count > 0);
        total
    }

    /// Every container, init containers first.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// Every container, init containers first, to change.
    pub fn all_containers_mut(&mut self) -> impl Iterator<Item = &mut Container> {
        self.init_containers.iter_mut().chain(&mut self.containers)
    }
}

impl PodSpec {
    /// Where the instance may run (the template was validated at load).
    pub fn placement(&self) -> Placement {
        self.placement_at("spec").unwrap_or_default()
    }

    /// `terminationGracePeriodSeconds`, when it gives a grace.
    pub fn termination_grace(&self) -> Option<std::time::Duration> {
        let secs = self.termination_grace_period_seconds?;
        Some(std::time::Duration::from_secs(secs.max(0) as u64))
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
        for (i, toleration) in self.tolerations.iter().enumerate() {
            toleration.validate(&format!("{path}.tolerations[{i}]"))?;
        }
        let placement = Placement::new(&self.node_selector, self.affinity.as_ref(), path)?;
        Ok(placement.tolerating(&self.tolerations))
    }
}

impl EnvVarSource {
    fn validate(&self, path: &str, has_value: bool) -> Result<(), FieldError> {
        if has_value {
            return Err(FieldError::new(
                path,
                "may not be given with value: a variable has a value or a valueFrom",
            ));
        }
        let count = [
            self.config_map_key_ref.is_some(),
            self.secret_key_ref.is_some(),
            self.field_ref.is_some(),
            self.resource_field_ref.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if count != 1 {
            return Err(FieldError::new(
                path,
                "needs exactly one of configMapKeyRef, secretKeyRef, fieldRef or resourceFieldRef",
            ));
        }
        for (selector, field) in [
            (&self.config_map_key_ref, "configMapKeyRef"),
            (&self.secret_key_ref, "secretKeyRef"),
        ] {
            if let Some(selector) = selector {
                required(&selector.name, &format!("{path}.{field}.name"))?;
                if selector.key.is_empty() {
                    return Err(FieldError::new(
                        format!("{path}.{field}.key"),
                        "is required",
                    ));
                }
            }
        }
        if let Some(field) = &self.field_ref {
            super::downward::check_field(&field.field_path, false)
                .at(&format!("{path}.fieldRef.fieldPath"))?;
        }
        if let Some(resource) = &self.resource_field_ref {
            resource.validate(&format!("{path}.resourceFieldRef"))?;
        }
        Ok(())
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
            let at = format!("{path}.env[{i}]");
            if var.name.is_empty() || var.name.contains('=') {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!(
                        "invalid name {:?}: must be non-empty and contain no '='",
                        var.name
                    ),
                ));
            }
            if let Some(from) = &var.value_from {
                from.validate(&format!("{at}.valueFrom"), !var.value.is_empty())?;
            }
        }
        if let Some(dir) = &self.working_dir
            && !dir.starts_with('/')
        {
            return Err(FieldError::new(
                format!("{path}.workingDir"),
                format!("must be an absolute path, got {dir:?}"),
            ));
        }
        for (i, from) in self.env_from.iter().enumerate() {
            let at = format!("{path}.envFrom[{i}]");
            match (&from.config_map_ref, &from.secret_ref) {
                (Some(c), None) => required(&c.name, &format!("{at}.configMapRef.name"))?,
                (None, Some(s)) => required(&s.name, &format!("{at}.secretRef.name"))?,
                _ => {
                    return Err(FieldError::new(
                        at,
                        "needs exactly one of configMapRef or secretRef",
                    ));
                }
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
            for (resource, value) in &list.extended {
                let at = format!("{path}.resources.{name}[{resource}]");
                validate_extended(resource, value).map_err(|m| FieldError::new(&at, m))?;
            }
        }
        let (limits, requests) = (&self.resources.limits, &self.resources.requests);
        for (resource, request) in &requests.extended {
            let limit = limits.extended.get(resource);
            if resource != "ephemeral-storage" && limit.is_some_and(|l| l != request) {
                return Err(FieldError::new(
                    format!("{path}.resources.requests[{resource}]"),
                    "must be equal to the limit: an extended resource cannot be overcommitted",
                ));
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

/// An extended resource of `resources`: a domain-qualified name and a whole
/// number (or `ephemeral-storage` and a quantity).
fn validate_extended(name: &str, value: &serde_json::Value) -> Result<(), String> {
    if name == "ephemeral-storage" {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return parse_memory_quantity(&text).map(drop);
    }
    if name.starts_with("hugepages-") {
        return Err("a Wasm instance has no huge pages: remove it".into());
    }
    let qualified = validate::qualified_name(name).is_ok();
    let domain = name.split_once('/').map(|(d, _)| d);
    if !qualified || domain.is_none() || domain.is_some_and(|d| d.ends_with("kubernetes.io")) {
        return Err(format!(
            "unknown resource {name:?}: use memory, cpu, ephemeral-storage, or an extended \
             resource with its own domain such as nvidia.com/gpu"
        ));
    }
    extended_count(value).map(drop)
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

impl ResourceFieldSelector {
    /// Checks the selector at `path`.
    pub(super) fn validate(&self, path: &str) -> Result<(), FieldError> {
        super::downward::check_resource(&self.resource).at(&format!("{path}.resource"))?;
        if let Some(divisor) = &self.divisor {
            super::downward::divisor(&self.resource, divisor)
                .map(drop)
                .at(&format!("{path}.divisor"))?;
        }
        Ok(())
    }
}
